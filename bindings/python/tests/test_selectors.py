"""The handles in selectors and select.poll loops: readable exactly while events wait."""

from __future__ import annotations

import select
import selectors

import nsmon
from nsmon import Group

from conftest import ip


def test_selectors_loop_over_two_handles(make_netns):
    with nsmon.Watcher() as w, nsmon.Stream() as s, selectors.DefaultSelector() as sel:
        sel.register(w, selectors.EVENT_READ, "watcher")
        sel.register(s, selectors.EVENT_READ, "stream")
        name = make_netns()
        links = []
        while not links:
            ready = sel.select(10)
            assert ready, "nothing within the deadline"
            for key, _ in ready:
                if key.data == "watcher":
                    for ev in key.fileobj:
                        if ev.kind == nsmon.WatchKind.CREATED and ev.name == name.encode():
                            s.add(name, nsmon.named(name), groups=Group.LINK)
                            ip("-n", name, "link", "add", "nsmon-br", "type", "bridge")
                else:
                    links += [e for e in key.fileobj if e.link and e.link.name == b"nsmon-br"]
        assert links[0].key == name


def test_poll_readiness_follows_the_events(netns):
    with nsmon.Stream() as s:
        s.add("ns", nsmon.named(netns), groups=Group.LINK)
        p = select.poll()
        p.register(s, select.POLLIN)
        assert p.poll(0) == []
        ip("-n", netns, "link", "add", "nsmon-br", "type", "bridge")
        assert p.poll(10_000) == [(s.fileno(), select.POLLIN)]
        assert s.wait(0) is True
        got = s.ready()
        assert got and any(e.link and e.link.name == b"nsmon-br" for e in got)
        assert p.poll(0) == []  # drained: not readable (no spin for a level-triggered loop)
        assert s.wait(0) is False and s.wait(0.01) is False


def test_events_taken_in_a_batch_keep_wait_true(netns):
    with nsmon.Stream() as s:
        s.add("ns", nsmon.named(netns), groups=Group.LINK)
        for i in range(3):
            ip("-n", netns, "link", "add", f"nsmon-b{i}", "type", "bridge")
        assert s.wait(10)
        first = s.next()  # takes a batch; the rest wait in the stream
        assert first is not None
        rest = []
        while s.wait(0):
            ev = s.next()
            if ev is None:
                break
            rest.append(ev)
        names = [e.link.name for e in [first] + rest if e.link and e.kind == nsmon.StreamKind.NEW_LINK]
        assert list(dict.fromkeys(names)) == [b"nsmon-b0", b"nsmon-b1", b"nsmon-b2"]


def test_wait_from_two_threads_at_once(netns):
    import threading

    with nsmon.Stream() as s:
        s.add("ns", nsmon.named(netns), groups=Group.LINK)
        results = []
        threads = [threading.Thread(target=lambda: results.append(s.wait(10))) for _ in range(2)]
        for t in threads:
            t.start()
        ip("-n", netns, "link", "add", "nsmon-br", "type", "bridge")
        for t in threads:
            t.join()
        assert results == [True, True]
