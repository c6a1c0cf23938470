"""asyncio: a handle's events as an async iterator, over ``loop.add_reader``.

The reader is registered only while the iterator waits, and removed as soon as the fd is
readable, when the task is cancelled, and when the handle is closed: a level-triggered fd
left registered while its events wait to be taken would wake the loop at every turn.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from ._errors import HandleClosedError


async def events(handle) -> AsyncIterator:
    """Yields every event of ``handle`` as it comes (see ``Handle.events``)."""
    loop = asyncio.get_running_loop()
    fd = handle.fileno()  # raises at once if the handle is already closed
    while True:
        # Drain: everything ready now, before waiting again (a batch at a time where the
        # handle has batches: one lock and one native call for many events).
        try:
            batch = handle._batch()
        except HandleClosedError:
            return
        if batch:
            for event in batch:
                yield event
            continue
        fut = loop.create_future()

        def ready(fut=fut) -> None:
            if not fut.done():
                fut.set_result(None)

        def wake(ready=ready) -> None:
            # From close(): in the loop's own thread the reader goes now, before the fd is
            # closed; from another thread, the loop is asked to finish the wait.
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.remove_reader(fd)
                ready()
            else:
                loop.call_soon_threadsafe(ready)

        with handle._lock:
            if handle._ptr is None:
                return
            handle._waiters.add(wake)
        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)
            handle._waiters.discard(wake)
        if handle.closed:
            return
