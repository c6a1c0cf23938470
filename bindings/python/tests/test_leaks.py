"""No fd leaks over 1,000 open/close cycles of each handle, handles garbage-collected open
freed, and the calling thread's namespace unchanged by every call that looks into another."""

from __future__ import annotations

import gc
import threading

import pytest

import nsmon

from conftest import fd_count, ip, take_until, thread_netns

CYCLES = 1000


def _makers(netns):
    def stream():
        s = nsmon.Stream()
        s.add("ns", nsmon.named(netns))
        s.add_all_nsid("all")
        return s

    return {
        "watcher": lambda: nsmon.Watcher(list_existing=True),
        "nsid": lambda: nsmon.NsidSubscriber(nsmon.named(netns)),
        "stream": stream,
        "inventory": lambda: nsmon.Inventory(proc_events=False),
    }


@pytest.mark.parametrize("kind", ["watcher", "nsid", "stream", "inventory"])
def test_no_fd_leak_over_open_close_cycles(netns, kind):
    make = _makers(netns)[kind]
    make().close()  # the first opens what stays open for the process (proc, caches)
    gc.collect()  # what earlier tests left to the collector (pipes of subprocesses) goes first
    before = fd_count()
    for i in range(CYCLES):
        h = make()
        if i % 100 == 0:
            h.ready()  # with events taken, too
        h.close()
    assert fd_count() == before


@pytest.mark.parametrize("kind", ["watcher", "nsid", "stream", "inventory"])
def test_a_handle_collected_open_is_freed(netns, kind):
    make = _makers(netns)[kind]
    make().close()
    gc.collect()
    before = fd_count()
    h = make()
    assert h.fileno() >= 0 and fd_count() > before
    del h
    gc.collect()
    assert fd_count() == before


def test_a_cycle_through_the_handle_is_collected(root):
    gc.collect()
    before = fd_count()
    s = nsmon.Stream()
    s.me = s  # a reference cycle: only the cyclic collector frees it
    del s
    gc.collect()
    assert fd_count() == before


def test_the_calling_threads_namespace_never_changes(make_netns):
    a, b = make_netns(), make_netns()
    before = thread_netns()
    na, nb = nsmon.named(a), nsmon.named(b)
    nsmon.identify(na)
    nsmon.set_nsid(nb, observer=na)
    nsmon.get_nsid(nb, observer=na)
    with nsmon.NsidSubscriber(na), nsmon.Inventory() as inv:
        inv.ready()
        with nsmon.Stream() as s:
            s.add("a", na)
            s.add_all_nsid("all", nb)
            s.add_many([(f"m{i}", nb) for i in range(10)])
            ip("-n", a, "link", "add", "nsmon-br", "type", "bridge")
            take_until(s, lambda e: e.link and e.link.name == b"nsmon-br")
            assert thread_netns() == before
    assert thread_netns() == before


def test_threads_share_a_handle_safely(netns):
    # Calls are serialised by the handle's lock: the library's handles are not thread-safe.
    with nsmon.Stream() as s:
        errors = []

        def churn(t):
            try:
                for i in range(100):
                    key = f"t{t}-{i}"
                    s.add(key, nsmon.named(netns), groups=nsmon.Group.LINK)
                    assert key in s
                    s.next_batch()
                    assert s.remove(key)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)

        threads = [threading.Thread(target=churn, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(s) == 0
