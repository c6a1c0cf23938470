"""Namespace ids: the subscriber and the queries, from the caller's namespace and another."""

from __future__ import annotations

import errno

import pytest

import nsmon
from nsmon import NsidKind

from conftest import ip, take_until, thread_netns


def test_assign_query_and_follow(make_netns):
    before = thread_netns()
    with nsmon.NsidSubscriber() as sub:
        name = make_netns()
        ns = nsmon.named(name)
        assert nsmon.get_nsid(ns) is None  # not assigned: an answer
        nsid = nsmon.set_nsid(ns)  # AUTO
        assert nsid >= 0
        assert nsmon.get_nsid(ns) == nsid
        assert nsmon.set_nsid(ns, nsmon.AUTO) == nsid  # keeps the id it has
        new = take_until(sub, lambda e: e.kind == NsidKind.NEW_NSID and e.nsid == nsid)[-1]
        assert new.lost == 0 and new.raw is None and new.reason is None
        ip("netns", "del", name)
        take_until(sub, lambda e: e.kind == NsidKind.DEL_NSID and e.nsid == nsid)
    assert thread_netns() == before


def test_a_chosen_id_and_a_conflict(make_netns):
    a, b = nsmon.named(make_netns()), nsmon.named(make_netns())
    free = 1000
    while True:  # an id no namespace has here yet
        try:
            assert nsmon.set_nsid(a, free) == free
            break
        except FileExistsError:
            free += 1
    with pytest.raises(FileExistsError) as info:
        nsmon.set_nsid(b, free)  # taken
    assert info.value.errno == errno.EEXIST and isinstance(info.value, nsmon.NsmonError)
    with pytest.raises(FileExistsError):
        nsmon.set_nsid(a, free + 1)  # it has another


def test_ids_seen_from_another_namespace(make_netns):
    before = thread_netns()
    inner_name, other_name = make_netns(), make_netns()
    observer, other = nsmon.named(inner_name), nsmon.named(other_name)
    with nsmon.NsidSubscriber(observer, receive_buffer=1 << 16) as sub:
        nsid = nsmon.set_nsid(other, observer=observer)
        assert nsmon.get_nsid(other, observer=observer) == nsid
        assert nsmon.get_nsid(other) is None  # the caller's namespace gave it none
        take_until(sub, lambda e: e.kind == NsidKind.NEW_NSID and e.nsid == nsid)
        # The caller's own namespace, as seen from inside.
        mine = nsmon.set_nsid(nsmon.current(), observer=observer)
        assert nsmon.get_nsid(nsmon.current(), observer=observer) == mine != nsid
    assert thread_netns() == before


def test_subscriber_handle(root):
    with nsmon.NsidSubscriber() as sub:
        assert sub.fileno() >= 0
        assert isinstance(repr(sub), str)
        assert not sub.closed
    assert sub.closed
