"""The C ABI of libnsmon as ctypes sees it: the constants and structs of ``include/nsmon.h``.

Every struct here mirrors one in the header, field for field and in order; ``tests/test_abi.py``
compiles a C program against the header and checks each size and offset, so a change to the
header that this file does not follow fails there rather than misreading memory. Pointers are
``c_void_p`` (plain integers in Python): the readers copy what they point to with
``ctypes.string_at`` at once, while it is valid.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

ERR_NULL = -10001
ERR_UTF8 = -10002
ERR_PANIC = -10003

NETNS_CURRENT = 0
NETNS_NAME = 1
NETNS_PATH = 2
NETNS_PID = 3
NETNS_FD = 4

NSID_NOT_ASSIGNED = -10100
NSID_AUTO = -1

DEFAULT_RECEIVE_BUFFER = 1048576
GROUP_ALL = (1 << 7) - 1
NAME_SIZE = 256


class NetnsId(ctypes.Structure):
    """``nsmon_netns_id``."""

    _fields_ = [("has_id", c_bool), ("id", c_uint64), ("dev", c_uint64), ("ino", c_uint64)]


class Bytes(ctypes.Structure):
    """``nsmon_bytes``: ``len`` bytes at ``bytes``."""

    _fields_ = [("bytes", c_void_p), ("len", c_size_t)]


class InventoryEvent(ctypes.Structure):
    """``nsmon_inventory_event``."""

    _fields_ = [
        ("kind", c_uint32),
        ("netns_id", NetnsId),
        ("names", ctypes.POINTER(Bytes)),
        ("names_len", c_size_t),
        ("pids", ctypes.POINTER(c_uint32)),
        ("pids_len", c_size_t),
        ("threads", ctypes.POINTER(c_uint32)),
        ("threads_len", c_size_t),
        ("fds", ctypes.POINTER(c_uint32)),
        ("fds_len", c_size_t),
        ("sockets", ctypes.POINTER(c_uint32)),
        ("sockets_len", c_size_t),
        ("path", Bytes),
        ("reason", c_void_p),
    ]


class NetnsRef(ctypes.Structure):
    """``nsmon_netns_ref``: a namespace by kind and string or number."""

    _fields_ = [("kind", c_uint32), ("str", c_char_p), ("num", c_int)]


class NsidEvent(ctypes.Structure):
    """``nsmon_nsid_event``."""

    _fields_ = [
        ("kind", c_uint32),
        ("nsid", c_int32),
        ("pid", c_int32),
        ("fd", c_int32),
        ("lost", c_int64),
        ("raw", c_void_p),
        ("raw_len", c_size_t),
        ("reason", c_void_p),
    ]


class Link(ctypes.Structure):
    """``nsmon_link``."""

    _fields_ = [
        ("index", c_uint32),
        ("flags", c_uint32),
        ("mtu", c_uint32),
        ("master", c_uint32),
        ("family", c_uint8),
        ("operstate", c_uint8),
        ("mac_len", c_uint8),
        ("mac", c_uint8 * 32),
        ("name_len", c_uint8),
        ("kind_len", c_uint8),
        ("name", c_uint8 * 16),
        ("kind", c_uint8 * 32),
        ("alt_names", c_void_p),
        ("alt_names_count", c_size_t),
    ]


class Ip(ctypes.Structure):
    """``nsmon_ip``: family 0 when absent."""

    _fields_ = [("family", c_uint8), ("bytes", c_uint8 * 16)]


class Addr(ctypes.Structure):
    """``nsmon_addr``."""

    _fields_ = [
        ("index", c_uint32),
        ("addr", Ip),
        ("prefix_len", c_uint8),
        ("scope", c_uint8),
        ("label_len", c_uint8),
        ("label", c_uint8 * 16),
    ]


class Route(ctypes.Structure):
    """``nsmon_route``."""

    _fields_ = [
        ("family", c_uint8),
        ("dst_len", c_uint8),
        ("protocol", c_uint8),
        ("scope", c_uint8),
        ("route_type", c_uint8),
        ("table", c_uint32),
        ("oif", c_uint32),
        ("dst", Ip),
        ("gateway", Ip),
    ]


class Neigh(ctypes.Structure):
    """``nsmon_neigh``."""

    _fields_ = [
        ("family", c_uint8),
        ("lladdr_len", c_uint8),
        ("state", c_uint16),
        ("index", c_uint32),
        ("dst", Ip),
        ("lladdr", c_uint8 * 32),
    ]


class Tc(ctypes.Structure):
    """``nsmon_tc``."""

    _fields_ = [
        ("index", c_uint32),
        ("handle", c_uint32),
        ("parent", c_uint32),
        ("kind_len", c_uint8),
        ("kind", c_uint8 * 32),
    ]


class StreamEvent(ctypes.Structure):
    """``nsmon_stream_event``: every member is there; ``kind`` says which one is filled."""

    _fields_ = [
        ("kind", c_uint32),
        ("key", c_void_p),
        ("key_len", c_size_t),
        ("raw", c_void_p),
        ("raw_len", c_size_t),
        ("nsid", c_int32),
        ("lost", c_int64),
        ("reason", c_void_p),
        ("link", Link),
        ("addr", Addr),
        ("route", Route),
        ("neigh", Neigh),
        ("tc", Tc),
    ]


class WatcherEvent(ctypes.Structure):
    """``nsmon_watcher_event``."""

    _fields_ = [
        ("kind", c_uint32),
        ("name_len", c_uint32),
        ("name", c_uint8 * NAME_SIZE),
        ("reason", c_void_p),
        ("dir", c_void_p),
        ("dir_len", c_size_t),
        ("has_netns_id", c_bool),
        ("netns_id", NetnsId),
    ]


# The structs the ABI test checks against the header, by their C names.
C_NAMES = {
    "nsmon_netns_id": NetnsId,
    "nsmon_bytes": Bytes,
    "nsmon_inventory_event": InventoryEvent,
    "nsmon_netns_ref": NetnsRef,
    "nsmon_nsid_event": NsidEvent,
    "nsmon_link": Link,
    "nsmon_ip": Ip,
    "nsmon_addr": Addr,
    "nsmon_route": Route,
    "nsmon_neigh": Neigh,
    "nsmon_tc": Tc,
    "nsmon_stream_event": StreamEvent,
    "nsmon_watcher_event": WatcherEvent,
}

# Opaque handles and options: pointers the library owns.
HANDLE = c_void_p
