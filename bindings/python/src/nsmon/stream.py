"""The multi-namespace event stream: links, addresses, routes, neighbours and tc objects of
many namespaces behind one fd, each event tagged with the caller's key.

Events are read with ``nsmon_stream_next_batch``: one native call takes up to 64 events into a
buffer this stream owns, and one ``struct`` unpack per event and member copies each out (the
pointers in the buffer are valid only until the next call). Events taken and not handed out yet
wait in the stream, ahead of the library: after the fd is readable, take events until ``next()``
returns None (iteration, :meth:`Stream.next_batch` and :meth:`Stream.events` do).
"""

from __future__ import annotations

import collections
import ctypes
import enum
import ipaddress
import socket
import struct
from typing import Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import _abi
from ._errors import NsmonError, check, error, strerror
from ._handle import Handle
from ._lib import lib
from .events import Addr, Link, Neigh, Route, StreamEvent, StreamKind, Tc
from .netns import Netns, NetnsId, _byref, _cint, _netns_id, _ref

#: How many events one native call takes at most.
BATCH = 64

#: The receive buffer a stream's sockets ask for unless told otherwise: four times the C
#: library's default (``_abi.DEFAULT_RECEIVE_BUFFER``), since Python takes each event a few
#: times slower than C, and a burst that a C reader rides out at 1 MiB overruns it (the peers
#: harness's 20 namespaces: up to 8% lost at 1 MiB, none at 4 MiB; BENCHMARKS.md, "Python").
#: The kernel fills it only as far as the reader falls behind.
RECEIVE_BUFFER = 4 << 20


class Group(enum.IntFlag):
    """What a namespace's socket follows (``NSMON_GROUP_*``)."""

    LINK = 1
    IPV4_ADDR = 1 << 1
    IPV6_ADDR = 1 << 2
    IPV4_ROUTE = 1 << 3
    IPV6_ROUTE = 1 << 4
    NEIGH = 1 << 5
    #: qdiscs, classes and filters
    TC = 1 << 6
    ALL = (1 << 7) - 1


# ---- the buffer's layout, as struct formats built from ctypes' offsets (so that the offsets
# are the ones the ABI test checks against the header)

_PTR = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"
_SIZE = "Q" if ctypes.sizeof(ctypes.c_size_t) == 8 else "I"
_IP = "17s"  # nsmon_ip: family, then 16 bytes, read whole (the key of the address cache)


def _layout(cls, fields: Sequence[Tuple[str, str]], base: int = 0) -> struct.Struct:
    """A struct.Struct reading ``fields`` (name, format) of ctypes struct ``cls`` placed at
    ``base`` in the event, with the padding between them taken from ctypes."""
    fmt, pos = "=", 0
    for name, code in fields:
        field = getattr(cls, name)
        offset = base + field.offset
        if offset < pos or struct.calcsize("=" + code) > field.size:
            raise ImportError(f"nsmon: layout of {cls.__name__}.{name} does not match")
        fmt += "x" * (offset - pos) + code
        pos = offset + struct.calcsize("=" + code)
    return struct.Struct(fmt)


_EV = _abi.StreamEvent
_EVSIZE = ctypes.sizeof(_EV)
_COMMON = _layout(
    _EV,
    [("kind", "I"), ("key", _PTR), ("key_len", _SIZE), ("raw", _PTR), ("raw_len", _SIZE),
     ("nsid", "i"), ("lost", "q"), ("reason", _PTR)],
)
_ROUTE_FIELDS = [("family", "B"), ("dst_len", "B"), ("protocol", "B"), ("scope", "B"), ("route_type", "B"),
                 ("table", "I"), ("oif", "I"), ("dst", _IP), ("gateway", _IP)]
_LINK = _layout(
    _abi.Link,
    [("index", "I"), ("flags", "I"), ("mtu", "I"), ("master", "I"), ("family", "B"),
     ("operstate", "B"), ("mac_len", "B"), ("mac", "32s"), ("name_len", "B"), ("kind_len", "B"),
     ("name", "16s"), ("kind", "32s"), ("alt_names", _PTR), ("alt_names_count", _SIZE)],
    _EV.link.offset,
)
_ADDR = _layout(
    _abi.Addr,
    [("index", "I"), ("addr", _IP), ("prefix_len", "B"), ("scope", "B"), ("label_len", "B"),
     ("label", "16s")],
    _EV.addr.offset,
)
_ROUTE = _layout(_abi.Route, _ROUTE_FIELDS, _EV.route.offset)
# The common fields, then the route's: one unpack for the commonest event of a busy stream.
_COMMON_ROUTE = struct.Struct(
    _COMMON.format + "x" * (_EV.route.offset - _COMMON.size) + _ROUTE.format[1 + _EV.route.offset:]
)
_NEIGH = _layout(
    _abi.Neigh,
    [("family", "B"), ("lladdr_len", "B"), ("state", "H"), ("index", "I"), ("dst", _IP),
     ("lladdr", "32s")],
    _EV.neigh.offset,
)
_TC = _layout(
    _abi.Tc,
    [("index", "I"), ("handle", "I"), ("parent", "I"), ("kind_len", "B"), ("kind", "32s")],
    _EV.tc.offset,
)
# ctypes.string_at is a Python function around this one: called per event, the frame counts.
_string_at = getattr(ctypes, "_string_at", ctypes.string_at)
_BYTES = struct.Struct("=" + _PTR + _SIZE)
assert _BYTES.size == ctypes.sizeof(_abi.Bytes)

_KINDS = {k.value: k for k in StreamKind}
_LINKS = frozenset((StreamKind.NEW_LINK, StreamKind.DEL_LINK))
_ADDRS = frozenset((StreamKind.NEW_ADDR, StreamKind.DEL_ADDR))
_ROUTES = frozenset((StreamKind.NEW_ROUTE, StreamKind.DEL_ROUTE))
_NEIGHS = frozenset((StreamKind.NEW_NEIGH, StreamKind.DEL_NEIGH))
_TCS = frozenset(range(StreamKind.NEW_QDISC, StreamKind.DEL_FILTER + 1))
_UNPARSED = StreamKind.UNPARSED
_ERROR = StreamKind.ERROR

_V4, _V6 = ipaddress.IPv4Address, ipaddress.IPv6Address
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6


class _Addresses(dict):
    """``nsmon_ip`` bytes (family, then 16 bytes) -> an ``ipaddress`` object or None. Made once
    per address seen: a gateway repeats in every route, a deleted route's destination is the
    added one's, and an ``ipaddress`` object costs more to make than the rest of the event."""

    LIMIT = 1 << 16

    def __missing__(self, raw: bytes):
        family = raw[0]
        if family == _AF_INET:
            value = _V4(raw[1:5])
        elif family == _AF_INET6:
            value = _V6(raw[1:17])
        else:
            value = None
        if len(self) >= self.LIMIT:  # bounded: a long-lived stream sees many addresses
            self.clear()
        self[raw] = value
        return value


def _alt_names(ptr: int, count: int) -> Tuple[bytes, ...]:
    if not ptr or not count:
        return ()
    table = ctypes.string_at(ptr, count * _BYTES.size)
    return tuple(_string_at(p, n) for p, n in _BYTES.iter_unpack(table))


def _opts(groups, dump, resync_on_overrun, receive_buffer) -> ctypes.c_void_p:
    """A new options object (the caller frees it)."""
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"nsmon: groups must be nsmon.Group bits, not {type(groups).__name__}")
    if receive_buffer is not None and _cint(receive_buffer, "receive_buffer") < 0:
        raise ValueError("nsmon: receive_buffer must not be negative")
    if not 0 <= groups < 2**32:
        raise ValueError(f"nsmon: groups {groups:#x} is out of range")
    opts = ctypes.c_void_p()
    check(lib.nsmon_stream_options_new(ctypes.byref(opts)), "stream options")
    try:
        check(lib.nsmon_stream_options_set_groups(opts, int(groups)), "stream groups")
        lib.nsmon_stream_options_set_dump(opts, bool(dump))
        lib.nsmon_stream_options_set_resync_on_overrun(opts, bool(resync_on_overrun))
        lib.nsmon_stream_options_set_receive_buffer(
            opts, RECEIVE_BUFFER if receive_buffer is None else receive_buffer
        )
    except BaseException:
        lib.nsmon_stream_options_free(opts)
        raise
    return opts


def _key(key) -> bytes:
    if isinstance(key, str):
        try:
            data = key.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"nsmon: key {key!r} is not valid Unicode text: {e.reason}") from None
    elif isinstance(key, bytes):
        data = key  # the library checks that it is UTF-8
    else:
        raise TypeError(f"nsmon: key must be str, not {type(key).__name__}")
    if b"\0" in data:
        raise ValueError("nsmon: key contains a NUL byte")
    return data


class Stream(Handle[StreamEvent]):
    """rtnetlink events from many network namespaces through one fd.

    ``coalescing``: a latency window in seconds (None: off): once everything ready was taken,
    what arrives within the window waits for its end, and one wake-up brings all of it (the
    first event after a quiet window comes at once). ``keep_raw``: whether message events
    carry the message's bytes (``raw``; default True; False saves a copy per event, and
    UNPARSED events always carry theirs).
    """

    _name = "stream"

    def __init__(self, *, coalescing: Optional[float] = None, keep_raw: bool = True) -> None:
        ptr = ctypes.c_void_p()
        if coalescing is None:
            check(lib.nsmon_stream_new(ctypes.byref(ptr)), "stream new")
        else:
            if isinstance(coalescing, bool) or not isinstance(coalescing, (int, float)):
                raise TypeError(f"nsmon: coalescing must be seconds or None, not {type(coalescing).__name__}")
            us = round(coalescing * 1e6) if coalescing == coalescing else -1  # NaN: refused
            if not 1 <= us < 2**32:
                raise ValueError(f"nsmon: a coalescing window of {coalescing} s is not between 1 us and 4294 s")
            check(lib.nsmon_stream_new_coalescing(us, ctypes.byref(ptr)), "stream new")
        super().__init__(ptr.value, lib.nsmon_stream_free, lib.nsmon_stream_fd(ptr))
        self._buf = (_EV * BATCH)()
        self._mem = memoryview(self._buf).cast("B")
        self._addr = ctypes.addressof(self._buf)
        self._pending: Deque[StreamEvent] = collections.deque()
        # Each key's str once: an event's key is not decoded anew.
        self._keys: Dict[bytes, str] = {}
        self._addresses = _Addresses()
        self._keep_raw = bool(keep_raw)
        # Each followed key's identity, asked once when it is added (events carry none), and
        # the keys of all-nsid targets (whose events from other namespaces are not theirs).
        self._ids: Dict[str, NetnsId] = {}
        self._all_nsid: Set[str] = set()

    # ---- reading

    def _has_pending(self) -> bool:
        return bool(self._pending)

    def _fill(self, ptr: int, capacity: int) -> List[StreamEvent]:
        """One native call: up to ``capacity`` events, copied out (under the lock)."""
        n = lib.nsmon_stream_next_batch(ptr, self._addr, capacity)
        if n <= 0:
            if n < 0:
                raise error(n, "stream next")
            return []
        return self._convert(n)

    def _convert(self, n: int) -> List[StreamEvent]:
        # The hot loop of the binding: locals only, one unpack for a route (the common fields
        # and the route's together, tried first: under churn most events are routes), the
        # named tuples made by tuple.__new__ (their own __new__ is a Python function).
        mem, string_at, keys, keep_raw = self._mem, _string_at, self._keys, self._keep_raw
        ids, all_nsid = self._ids, self._all_nsid
        ip, new = self._addresses, tuple.__new__
        with_route, kinds = _COMMON_ROUTE.unpack_from, _KINDS
        out = []
        append = out.append
        for base in range(0, n * _EVSIZE, _EVSIZE):
            fields = with_route(mem, base)
            kind, key_p, key_len, raw_p, raw_len, nsid, lost, reason_p = fields[:8]
            kb = string_at(key_p, key_len)
            key = keys.get(kb)
            if key is None:
                key = keys[kb] = kb.decode("utf-8", "replace")
            kind = kinds.get(kind, kind)
            if nsid < 0:
                nsid, netns_id = None, ids.get(key)
            else:
                netns_id = None if key in all_nsid else ids.get(key)
            raw = string_at(raw_p, raw_len) if raw_p and keep_raw else None
            if kind in _ROUTES:
                fam, dst_len, proto, scope, rtype, table, oif, dst, gw = fields[8:]
                append(new(StreamEvent, (kind, key, nsid, netns_id, raw, lost, None, None, None,
                                         new(Route, (fam, dst_len, proto, scope, rtype, table, oif, ip[dst], ip[gw])),
                                         None, None)))
                continue
            if kind == _UNPARSED:
                raw = string_at(raw_p, raw_len) if raw_p else b""
            reason = string_at(reason_p, -1).decode("utf-8", "replace") if reason_p else None
            link = addr = neigh = tc = None
            if kind in _LINKS:
                (index, flags, mtu, master, fam, oper, mac_len, mac, name_len, kind_len, name, lkind,
                 alt_p, alt_n) = _LINK.unpack_from(mem, base)
                link = Link(index, flags, mtu, master, fam, oper, mac[:mac_len], name[:name_len],
                            lkind[:kind_len], _alt_names(alt_p, alt_n))
            elif kind in _ADDRS:
                index, a, plen, scope, label_len, label = _ADDR.unpack_from(mem, base)
                addr = Addr(index, a[0], ip[a], plen, scope, label[:label_len])
            elif kind in _NEIGHS:
                fam, ll_len, state, index, dst, lladdr = _NEIGH.unpack_from(mem, base)
                neigh = Neigh(fam, state, index, ip[dst], lladdr[:ll_len])
            elif kind in _TCS:
                index, handle, parent, kind_len, tkind = _TC.unpack_from(mem, base)
                tc = Tc(index, handle, parent, tkind[:kind_len])
            elif kind == _ERROR:  # the library removed the key
                ids.pop(key, None)
                all_nsid.discard(key)
            append(new(StreamEvent, (kind, key, nsid, netns_id, raw, None if lost < 0 else lost,
                                     reason, link, addr, None, neigh, tc)))
        return out

    def _take(self, ptr: int) -> Optional[StreamEvent]:
        pending = self._pending
        if not pending:
            pending.extend(self._fill(ptr, BATCH))
            if not pending:
                return None
        return pending.popleft()

    def next_batch(self, max_events: int = BATCH) -> List[StreamEvent]:
        """Up to ``max_events`` events ready now, in order, from one native call (or from those
        already taken); an empty list when none is ready. Never blocks."""
        if isinstance(max_events, bool) or not isinstance(max_events, int):
            raise TypeError(f"nsmon: max_events must be an int, not {type(max_events).__name__}")
        if max_events < 1:
            raise ValueError("nsmon: max_events must be at least 1")
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            pending = self._pending
            if pending:
                return [pending.popleft() for _ in range(min(max_events, len(pending)))]
            events = self._fill(ptr, min(max_events, BATCH))
            if len(events) > max_events:  # never: the call was asked for no more
                pending.extend(events[max_events:])
                del events[max_events:]
            return events

    def _batch(self) -> List[StreamEvent]:
        return self.next_batch(BATCH)

    def __iter__(self) -> Iterator[StreamEvent]:
        """The events ready now, without blocking (taken a batch at a time)."""
        while True:
            batch = self.next_batch(BATCH)
            if not batch:
                return
            yield from batch

    # ---- namespaces

    def _call(self, op: str, fn, *args) -> int:
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            return check(fn(ptr, *args), op)

    def _added(self, ptr: int, key: bytes, all_nsid: bool = False) -> None:
        """Records the identity of a key just added (under the lock)."""
        out = _abi.NetnsId()
        text = key.decode("utf-8", "replace")
        if lib.nsmon_stream_identity(ptr, key, ctypes.byref(out)) == 1:
            self._ids[text] = _netns_id(out)
        if all_nsid:
            self._all_nsid.add(text)

    def _add(self, op: str, fn, key: bytes, ref, opts, all_nsid: bool) -> None:
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            check(fn(ptr, key, _byref(ref), opts), op)
            self._added(ptr, key, all_nsid)

    def add(
        self,
        key: str,
        target: Optional[Netns] = None,
        *,
        groups: int = Group.ALL,
        dump: bool = False,
        resync_on_overrun: bool = False,
        receive_buffer: Optional[int] = None,
    ) -> None:
        """Starts following ``target`` (None: the caller's namespace) under ``key``.
        ``groups``: what to follow (:class:`Group` bits). ``dump``: list the current objects
        first, then SYNCED. ``resync_on_overrun``: dump again after an OVERRUN.
        ``receive_buffer``: the socket's, in bytes (default :data:`RECEIVE_BUFFER`, 4 MiB;
        0: the kernel's).
        Raises (changing nothing) when the key is in use (EINVAL) or the namespace cannot be
        opened (FileNotFoundError, ProcessLookupError, ...)."""
        k = _key(key)
        ref = _ref(target, "target")
        opts = _opts(groups, dump, resync_on_overrun, receive_buffer)
        try:
            self._add("stream add", lib.nsmon_stream_add, k, ref, opts, False)
        finally:
            lib.nsmon_stream_options_free(opts)

    def add_all_nsid(
        self,
        key: str,
        observer: Optional[Netns] = None,
        *,
        groups: int = Group.ALL,
        dump: bool = False,
        resync_on_overrun: bool = False,
        receive_buffer: Optional[int] = None,
    ) -> None:
        """Adds an all-nsid target under ``key``: one socket in ``observer``'s namespace (None:
        the caller's) hearing it and every namespace that has an id in it. Their events carry
        ``nsid``, and the key the caller added that namespace under if it did (else this key).
        They share one receive buffer: an OVERRUN of this key may have lost events of any of
        them. A dump lists the observer's namespace only; a namespace without an id there is
        not heard."""
        k = _key(key)
        ref = _ref(observer, "observer")
        opts = _opts(groups, dump, resync_on_overrun, receive_buffer)
        try:
            self._add("stream add all-nsid", lib.nsmon_stream_add_all_nsid, k, ref, opts, True)
        finally:
            lib.nsmon_stream_options_free(opts)

    def add_many(
        self,
        targets: Union[Mapping[str, Netns], Iterable[Tuple[str, Netns]]],
        *,
        groups: int = Group.ALL,
        dump: bool = False,
        resync_on_overrun: bool = False,
        receive_buffer: Optional[int] = None,
    ) -> List[Optional[NsmonError]]:
        """Adds many namespaces at once (``{key: target}`` or ``(key, target)`` pairs), all
        with the same options, from one helper thread of the library: much faster than one
        :meth:`add` each. Each entry succeeds or fails on its own: the result has one item per
        entry, None for those added, the error for the others. Wrong types or NUL bytes raise
        before anything is added."""
        items = list(targets.items() if isinstance(targets, Mapping) else targets)
        keys, refs = [], []
        for item in items:
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError("nsmon: add_many takes (key, target) pairs or a mapping")
            keys.append(_key(item[0]))
            ref = _ref(item[1], "target")
            refs.append(_abi.NetnsRef() if ref is None else ref)  # zeroed: the caller's
        n = len(items)
        c_keys = (ctypes.c_char_p * max(n, 1))(*keys)
        c_refs = (_abi.NetnsRef * max(n, 1))(*refs)
        results = (ctypes.c_int * max(n, 1))()
        opts = _opts(groups, dump, resync_on_overrun, receive_buffer)
        try:
            with self._lock:
                ptr = self._ptr
                if ptr is None:
                    raise self._closed_error()
                rc = lib.nsmon_stream_add_many(ptr, c_keys, c_refs, n, opts, results)
                if rc < 0:
                    raise error(rc, "stream add many")
                detail = (lib.nsmon_last_error() or b"").decode("utf-8", "replace") if rc < n else ""
                for i in range(n):
                    if results[i] == 0:
                        self._added(ptr, keys[i])
        finally:
            lib.nsmon_stream_options_free(opts)
        failed = [i for i in range(n) if results[i] < 0]
        out: List[Optional[NsmonError]] = [None] * n
        for i in failed:
            # The library describes its first failure only: that text goes to the entry when it
            # is the only one that failed; the others get their code's general text.
            message = detail if len(failed) == 1 else strerror(results[i])
            out[i] = error(results[i], f"stream add {keys[i].decode('utf-8', 'replace')}", message)
        return out

    def remove(self, key: str) -> bool:
        """Stops following ``key``, closing its socket (which releases the namespace); whether
        it was followed. Events of it already queued are still delivered."""
        k = _key(key)
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise self._closed_error()
            removed = check(lib.nsmon_stream_remove(ptr, k), "stream remove") == 1
            text = k.decode("utf-8", "replace")
            self._ids.pop(text, None)
            self._all_nsid.discard(text)
            self._keys.pop(k, None)  # keys come and go: the cache keeps those that may still come
            return removed

    def contains(self, key: str) -> bool:
        """Whether ``key`` is followed (also ``key in stream``)."""
        return self._call("stream contains", lib.nsmon_stream_contains, _key(key)) == 1

    def __contains__(self, key: object) -> bool:
        return self.contains(key)  # type: ignore[arg-type]

    def identity(self, key: str) -> Optional[NetnsId]:
        """Who the namespace behind ``key`` is, or None when ``key`` is not followed."""
        out = _abi.NetnsId()
        found = self._call("stream identity", lib.nsmon_stream_identity, _key(key), ctypes.byref(out))
        return _netns_id(out) if found == 1 else None

    def __len__(self) -> int:
        """How many namespaces are followed."""
        return self._call("stream len", lib.nsmon_stream_len)

    def __bool__(self) -> bool:
        # A stream is a handle, true while open, whatever len() says.
        return not self.closed
