"""The inventory: every network namespace of the host, named or not, as it appears and goes,
with what holds it (processes, threads, mounts, open fds, optionally sockets)."""

from __future__ import annotations

import ctypes
from typing import List, Optional, Tuple

from . import _abi
from ._errors import check
from ._handle import Handle
from ._lib import lib
from .events import InventoryEvent, InventoryKind, NetnsFd
from .netns import _netns_id

_KINDS = {k.value: k for k in InventoryKind}
_NO_ID = frozenset((InventoryKind.OVERRUN, InventoryKind.RESCANNED, InventoryKind.DEGRADED))


def _u32s(ptr, n: int) -> Tuple[int, ...]:
    return tuple(ptr[:n]) if n and ptr else ()


def _pairs(ptr, n: int) -> Tuple[NetnsFd, ...]:
    flat = _u32s(ptr, 2 * n)
    return tuple(NetnsFd(flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def _event(c: _abi.InventoryEvent) -> InventoryEvent:
    """A copy of ``c`` (its arrays and strings point into the inventory until the next call)."""
    kind = _KINDS.get(c.kind, c.kind)
    names: Tuple[bytes, ...] = ()
    if c.names_len and c.names:
        names = tuple(ctypes.string_at(b.bytes, b.len) if b.bytes else b"" for b in c.names[: c.names_len])
    return InventoryEvent(
        kind,
        None if kind in _NO_ID else _netns_id(c.netns_id),
        names,
        _u32s(c.pids, c.pids_len),
        _u32s(c.threads, c.threads_len),
        _pairs(c.fds, c.fds_len),
        _pairs(c.sockets, c.sockets_len),
        ctypes.string_at(c.path.bytes, c.path.len) if c.path.bytes else None,
        ctypes.string_at(c.reason).decode("utf-8", "replace") if c.reason else None,
    )


class Inventory(Handle[InventoryEvent]):
    """Every network namespace of the host, behind one fd. Every namespace present at start
    comes first as APPEARED (after DEGRADED if a source is unavailable).

    ``rescan_interval``: how often everything is read again, in seconds (default 5; at least
    0.01): the worst delay for what no event announces. ``fds``: open namespace fds count as
    holders (default True). ``sockets``: sockets count as holders (costly; default False).
    ``proc_events``: use the proc connector (default True; False: the rescans only).
    """

    _name = "inventory"

    def __init__(
        self,
        *,
        rescan_interval: Optional[float] = None,
        fds: bool = True,
        sockets: bool = False,
        proc_events: bool = True,
    ) -> None:
        ms = None
        if rescan_interval is not None:
            if isinstance(rescan_interval, bool) or not isinstance(rescan_interval, (int, float)):
                raise TypeError(f"nsmon: rescan_interval must be seconds, not {type(rescan_interval).__name__}")
            if not 0.01 <= rescan_interval < 2**32 / 1000:
                raise ValueError(f"nsmon: a rescan interval of {rescan_interval} s is out of range (0.01 s and up)")
            ms = round(rescan_interval * 1000)
        opts = ctypes.c_void_p()
        check(lib.nsmon_inventory_options_new(ctypes.byref(opts)), "inventory options")
        try:
            if ms is not None:
                check(lib.nsmon_inventory_options_set_rescan_interval_ms(opts, ms), "inventory rescan interval")
            lib.nsmon_inventory_options_set_fds(opts, bool(fds))
            lib.nsmon_inventory_options_set_sockets(opts, bool(sockets))
            lib.nsmon_inventory_options_set_proc_events(opts, bool(proc_events))
            ptr = ctypes.c_void_p()
            check(lib.nsmon_inventory_new(opts, ctypes.byref(ptr)), "inventory new")
        finally:
            lib.nsmon_inventory_options_free(opts)
        super().__init__(ptr.value, lib.nsmon_inventory_free, lib.nsmon_inventory_fd(ptr))
        self._event = _abi.InventoryEvent()

    def _take(self, ptr: int) -> Optional[InventoryEvent]:
        c = self._event
        if check(lib.nsmon_inventory_next(ptr, ctypes.byref(c)), "inventory next") == 0:
            return None
        return _event(c)

    def snapshot(self) -> List[InventoryEvent]:
        """Every namespace known now (as of the events taken so far), each as an APPEARED
        event with its holders."""
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            n = check(lib.nsmon_inventory_snapshot(ptr), "inventory snapshot")
            c = _abi.InventoryEvent()
            out = []
            for i in range(n):
                # Each entry's pointers are valid until the next get: copied at once.
                if check(lib.nsmon_inventory_snapshot_get(ptr, i, ctypes.byref(c)), "inventory snapshot get") == 1:
                    out.append(_event(c))
            return out
