"""What every handle shares: the pointer and its one free, the lock, the fd, ``next()``,
iteration, ``wait()``, ``close()`` and the context manager.

The library's handles are not thread-safe, so every call into one is made under the handle's
lock. The pointer is freed exactly once: by ``close()``, or by a finalizer if the handle is
garbage-collected open (``weakref.finalize`` holds the pointer, not the handle, so the handle
can be collected). A closed handle has no pointer: every call raises
:class:`HandleClosedError` instead of reaching freed memory.
"""

from __future__ import annotations

import math
import select
import threading
import weakref
from typing import Callable, Generic, Iterator, List, Optional, Set, TypeVar

from ._errors import HandleClosedError

E = TypeVar("E")


def _free(free: Callable[[int], None], ptr: int) -> None:
    free(ptr)


class Handle(Generic[E]):
    """A libnsmon handle: one pollable fd, events taken without blocking.

    ``fileno()`` is readable whenever ``next()`` has an event, so the handle can be given to
    ``selectors``, ``select.poll`` or ``asyncio`` as it is. After each wake-up, call
    ``next()`` until it returns None (or iterate): that is what keeps the fd's readiness
    exact (the stream takes events in batches, and what it took is not the fd's to announce).
    """

    _name = "handle"

    def __init__(self, ptr: int, free: Callable[[int], None], fd: int) -> None:
        self._lock = threading.Lock()
        self._ptr: Optional[int] = ptr
        self._fd = fd
        # Callbacks of async iterators waiting for this fd, woken by close().
        self._waiters: Set[Callable[[], None]] = set()
        self._poller: Optional["select.poll"] = None
        self._finalizer = weakref.finalize(self, _free, free, ptr)

    # -- what each handle provides

    def _take(self, ptr: int) -> Optional[E]:
        """One event or None; called under the lock with a live pointer."""
        raise NotImplementedError

    def _has_pending(self) -> bool:
        """Whether events already taken from the library wait in Python."""
        return False

    def _batch(self) -> List[E]:
        """Some of the events ready now (none: nothing is ready); the stream's is a batch."""
        event = self.next()
        return [] if event is None else [event]

    # -- shared

    def _closed_error(self) -> HandleClosedError:
        return HandleClosedError(f"nsmon: this {self._name} is closed")

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._ptr is None

    def fileno(self) -> int:
        """The handle's pollable fd (readable whenever ``next()`` has an event). It belongs to
        the handle: do not close it."""
        if self._ptr is None:
            raise self._closed_error()
        return self._fd

    def next(self) -> Optional[E]:
        """The next event, or None when none is ready now. Never blocks."""
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            return self._take(ptr)

    def __iter__(self) -> Iterator[E]:
        """The events ready now, without blocking: ends when ``next()`` returns None."""
        while True:
            event = self.next()
            if event is None:
                return
            yield event

    def ready(self) -> List[E]:
        """Every event ready now, in order (``list(handle)``)."""
        return list(self)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until an event is ready (True) or ``timeout`` seconds pass (False; None: no
        limit). A signal handler that raises (KeyboardInterrupt) ends the wait; one that
        returns lets it go on, as for any Python wait. It waits in ``poll(2)`` on
        ``fileno()``, holding no lock: a ``close()`` from another thread is not seen by a
        wait already under way, which returns at its timeout or when the fd is readable."""
        fd = self.fileno()
        if self._has_pending():
            return True
        if timeout is None:
            ms = -1
        else:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"nsmon: timeout must be a number of seconds or None, not {type(timeout).__name__}")
            if math.isnan(timeout):
                raise ValueError("nsmon: timeout is NaN")
            ms = -1 if timeout == math.inf else max(0, math.ceil(timeout * 1000))
        # One poll object for the handle's life (its fd never changes): a wake-up's cost
        # matters when each brings a few events. Another thread waiting on it at the same time
        # gets one of its own (a poll object refuses concurrent use).
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(fd, select.POLLIN)
        try:
            return bool(poller.poll(ms))
        except RuntimeError:
            own = select.poll()
            own.register(fd, select.POLLIN)
            return bool(own.poll(ms))

    def events(self):
        """An async iterator over the events, for ``async for`` in asyncio: waits for the fd
        with ``loop.add_reader`` and, at each wake-up, yields everything that is ready before
        waiting again. Cancelling the task that iterates removes the reader. It ends when the
        handle is closed while it waits."""
        from ._aio import events

        return events(self)

    def __aiter__(self):
        """``async for event in handle`` (see :meth:`events`)."""
        return self.events()

    def close(self) -> None:
        """Frees the handle and closes its fd. Idempotent; afterwards every call but
        ``close()`` and ``closed`` raises :class:`HandleClosedError`."""
        with self._lock:
            if self._ptr is None:
                return
            self._ptr = None
            self._poller = None
            waiters = list(self._waiters)
            self._waiters.clear()
        # Async iterators waiting on the fd stop watching it before it is closed.
        for wake in waiters:
            wake()
        with self._lock:
            self._finalizer()

    def __enter__(self):
        if self._ptr is None:
            raise self._closed_error()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else f"fd={self._fd}"
        return f"<nsmon.{type(self).__name__} {state}>"
