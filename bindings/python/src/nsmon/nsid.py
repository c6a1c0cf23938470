"""Namespace ids: the subscriber to their assignment and release, and the queries.

Ids are relative: a namespace's id is what it is called inside an observer namespace (None:
the caller's). Queries about another observer are answered by a short-lived helper thread of
the library inside it; the calling thread never changes namespace.
"""

from __future__ import annotations

import ctypes
from typing import Optional

from . import _abi
from ._errors import check, error
from ._handle import Handle
from ._lib import lib
from .events import NsidEvent, NsidKind
from .netns import Netns, _byref, _cint, _ref

_KINDS = {k.value: k for k in NsidKind}

#: Passed to :func:`set_nsid`: let the kernel choose the id.
AUTO = _abi.NSID_AUTO


def _opt(v: int) -> Optional[int]:
    return None if v < 0 else v


class NsidSubscriber(Handle[NsidEvent]):
    """Namespace ids assigned (NEW_NSID) and released (DEL_NSID) as seen from ``observer``
    (None: the caller's namespace), behind one fd. ``receive_buffer``: the socket's receive
    buffer in bytes (None: the kernel's default)."""

    _name = "NSID subscriber"

    def __init__(self, observer: Optional[Netns] = None, *, receive_buffer: Optional[int] = None) -> None:
        ref = _ref(observer, "observer")
        if receive_buffer is not None and (_cint(receive_buffer, "receive_buffer") < 0):
            raise ValueError("nsmon: receive_buffer must not be negative")
        opts = ctypes.c_void_p()
        check(lib.nsmon_nsid_options_new(ctypes.byref(opts)), "nsid options")
        try:
            check(lib.nsmon_nsid_options_set_observer(opts, _byref(ref)), "nsid observer")
            if receive_buffer:
                lib.nsmon_nsid_options_set_receive_buffer(opts, receive_buffer)
            ptr = ctypes.c_void_p()
            check(lib.nsmon_nsid_new(opts, ctypes.byref(ptr)), "nsid new")
        finally:
            lib.nsmon_nsid_options_free(opts)
        super().__init__(ptr.value, lib.nsmon_nsid_free, lib.nsmon_nsid_fd(ptr))
        self._event = _abi.NsidEvent()

    def _take(self, ptr: int) -> Optional[NsidEvent]:
        c = self._event
        if check(lib.nsmon_nsid_next(ptr, ctypes.byref(c)), "nsid next") == 0:
            return None
        kind = _KINDS.get(c.kind, c.kind)
        unparsed = kind == NsidKind.UNPARSED
        return NsidEvent(
            kind,
            _opt(c.nsid),
            _opt(c.pid),
            _opt(c.fd),
            None if c.lost < 0 else c.lost,
            ctypes.string_at(c.raw, c.raw_len) if unparsed and c.raw else (b"" if unparsed else None),
            ctypes.string_at(c.reason).decode("utf-8", "replace") if c.reason else None,
        )


def get_nsid(target: Netns, observer: Optional[Netns] = None) -> Optional[int]:
    """The id of ``target`` as seen from ``observer`` (None: the caller's namespace), or None
    when it has none there (an answer, not an error)."""
    t = _ref(target, "target")
    if t is None:
        raise TypeError("nsmon: target must be an nsmon.Netns, not None")
    o = _ref(observer, "observer")
    rc = lib.nsmon_nsid_get(_byref(o), ctypes.byref(t))
    if rc == _abi.NSID_NOT_ASSIGNED:
        return None
    if rc < 0:
        raise error(rc, "nsid get")
    return rc


def set_nsid(target: Netns, nsid: int = AUTO, observer: Optional[Netns] = None) -> int:
    """Assigns ``nsid`` (or :data:`AUTO`) to ``target`` as seen from ``observer``, as
    ``ip netns set NAME auto|N`` does, and returns the id it has afterwards (one that already
    has the id, or any id with AUTO, keeps it). FileExistsError (EEXIST) when it has another id
    or the id is taken."""
    t = _ref(target, "target")
    if t is None:
        raise TypeError("nsmon: target must be an nsmon.Netns, not None")
    o = _ref(observer, "observer")
    if _cint(nsid, "nsid") < AUTO:
        raise ValueError(f"nsmon: nsid must be nsmon.AUTO or 0 to {2**31 - 1}, not {nsid}")
    return check(lib.nsmon_nsid_set(_byref(o), ctypes.byref(t), nsid), "nsid set")
