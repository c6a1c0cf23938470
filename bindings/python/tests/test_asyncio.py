"""asyncio: async for over each handle, draining per wake-up, cancellation, close."""

from __future__ import annotations

import asyncio

import pytest

import nsmon
from nsmon import StreamKind, WatchKind

from conftest import ip

DEADLINE = 10  # keeps a broken test from hanging; nothing is timed


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


def test_stream_and_watcher_in_one_loop(make_netns):
    async def main():
        with nsmon.Watcher() as w, nsmon.Stream() as s:
            name = make_netns()
            async for ev in w:
                if ev.kind == WatchKind.CREATED and ev.name == name.encode():
                    break
            s.add(name, nsmon.named(name), groups=nsmon.Group.LINK)
            # From a thread: the loop must be waiting, not busy, while it happens.
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, lambda: [ip("-n", name, "link", "add", f"nsmon-b{i}", "type", "bridge") for i in range(5)])
            names = []
            async for ev in s.events():
                if ev.link and ev.kind == StreamKind.NEW_LINK and ev.link.name.startswith(b"nsmon-b"):
                    names.append(ev.link.name)
                    if len(names) == 5:
                        break
            assert names == [f"nsmon-b{i}".encode() for i in range(5)]
            assert not loop.remove_reader(s.fileno())  # no reader left behind
    run(main())


def test_cancellation_removes_the_reader(root):
    async def main():
        loop = asyncio.get_running_loop()
        with nsmon.Stream() as s:
            started = asyncio.Event()

            async def consume():
                started.set()
                async for _ in s:
                    pass

            task = asyncio.create_task(consume())
            await started.wait()
            await asyncio.sleep(0)  # the iterator is now waiting on the fd
            assert loop._selector.get_key(s.fileno()) is not None  # the reader is there
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not loop.remove_reader(s.fileno())  # and it is gone
    run(main())


def test_close_ends_an_iteration_in_progress(root):
    async def main():
        loop = asyncio.get_running_loop()
        s = nsmon.Stream()
        fd = s.fileno()

        async def consume():
            return [ev async for ev in s]

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        s.close()
        assert await task == []
        assert not loop.remove_reader(fd)
        with pytest.raises(nsmon.HandleClosedError):
            async for _ in s:
                pass
    run(main())


def test_close_from_another_thread_ends_it(root):
    async def main():
        s = nsmon.Stream()
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(s.events().__anext__())
        await asyncio.sleep(0)
        await loop.run_in_executor(None, s.close)
        with pytest.raises(StopAsyncIteration):
            await task
    run(main())


def test_every_handle_iterates_in_asyncio(netns):
    async def first(handle):
        async for ev in handle:
            return ev

    async def main():
        with nsmon.Inventory() as inv, nsmon.Watcher(list_existing=True) as w:
            assert (await first(inv)).kind in (nsmon.InventoryKind.APPEARED, nsmon.InventoryKind.DEGRADED)
            assert (await first(w)).kind == WatchKind.CREATED
        with nsmon.NsidSubscriber() as sub:
            nsid = nsmon.set_nsid(nsmon.named(netns))
            ev = await first(sub)
            assert ev.kind == nsmon.NsidKind.NEW_NSID and ev.nsid == nsid
    run(main())
