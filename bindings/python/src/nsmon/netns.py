"""Naming a network namespace, and telling who it is.

A :class:`Netns` is what the library calls ``nsmon_netns_ref``: the caller's own namespace, a
name in ``/var/run/netns``, a path to any nsfs file, a process or an open fd. Build one with
:func:`current`, :func:`named`, :func:`path`, :func:`pid` or :func:`fd`. Nothing is opened
until it is passed to a call; the calling thread's namespace is never changed (the library
enters other namespaces on a short-lived helper thread of its own).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, NamedTuple, Optional, Tuple, Union

from . import _abi
from ._errors import check
from ._lib import lib

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class NetnsId(NamedTuple):
    """Who a network namespace is. ``id`` is the kernel's 64-bit namespace id (``NS_GET_ID``,
    Linux 6.18+), never reused while the system runs, or None on kernels without it; ``dev``
    and ``ino`` are the device and inode of its nsfs file (``ino`` is the number in
    ``net:[INODE]``), which the kernel reuses once a namespace is freed. Two equal values are
    the same namespace."""

    id: Optional[int]
    dev: int
    ino: int


def _netns_id(c: _abi.NetnsId) -> NetnsId:
    return NetnsId(c.id if c.has_id else None, c.dev, c.ino)


def _cstr(value: Any, what: str, *, path: bool = False) -> bytes:
    """``value`` as the bytes C is given: a str is UTF-8 (a path's str is the file system's
    encoding, so that names read back from os.listdir round-trip), bytes are kept. A NUL byte
    would cut the string short in C, so it is refused."""
    if path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        try:
            data = os.fsencode(value) if path else value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"nsmon: {what} {value!r} cannot be encoded: {e.reason}") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        kinds = "str, bytes or os.PathLike" if path else "str or bytes"
        raise TypeError(f"nsmon: {what} must be {kinds}, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"nsmon: {what} contains a NUL byte")
    return data


def _cint(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"nsmon: {what} must be an int, not {type(value).__name__}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(f"nsmon: {what} {value} is out of range")
    return value


class Netns:
    """A network namespace as nsmon names it. Immutable; compare with ``==``."""

    __slots__ = ("_kind", "_str", "_num")
    _kind: int
    _str: Optional[bytes]
    _num: int

    def __init__(self, kind: int, string: Optional[bytes] = None, num: int = 0) -> None:
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_str", string)
        object.__setattr__(self, "_num", num)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("nsmon.Netns is immutable")

    def _key(self) -> Tuple[int, Optional[bytes], int]:
        return (self._kind, self._str, self._num)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Netns) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self._kind == _abi.NETNS_NAME:
            return f"nsmon.named({os.fsdecode(self._str or b'')!r})"
        if self._kind == _abi.NETNS_PATH:
            return f"nsmon.path({self._str!r})"
        if self._kind == _abi.NETNS_PID:
            return f"nsmon.pid({self._num})"
        if self._kind == _abi.NETNS_FD:
            return f"nsmon.fd({self._num})"
        return "nsmon.current()"

    def _to_c(self) -> _abi.NetnsRef:
        # ctypes keeps the bytes object alive as long as the struct (its _objects).
        return _abi.NetnsRef(self._kind, self._str, self._num)


def current() -> Netns:
    """The calling thread's own namespace."""
    return Netns(_abi.NETNS_CURRENT)


def named(name: Union[str, bytes]) -> Netns:
    """``/var/run/netns/NAME``. The library checks the name (UTF-8, not empty, not ``.`` or
    ``..``, no ``/``) when it is used; for a name that is not UTF-8 use :func:`path`."""
    return Netns(_abi.NETNS_NAME, _cstr(name, "namespace name"))


def path(p: PathArg) -> Netns:
    """Any nsfs file of a network namespace (a bind mount, ``/proc/PID/ns/net``). Paths are
    bytes: a str is encoded as ``os.fsencode`` does."""
    return Netns(_abi.NETNS_PATH, _cstr(p, "path", path=True))


def pid(process: int) -> Netns:
    """The namespace of process ``process``."""
    return Netns(_abi.NETNS_PID, None, _cint(process, "pid"))


def fd(descriptor: Any) -> Netns:
    """An open namespace fd (an int, or an object with ``fileno()``); borrowed for each call
    it is passed to, never closed by nsmon."""
    if hasattr(descriptor, "fileno") and not isinstance(descriptor, int):
        descriptor = descriptor.fileno()
    return Netns(_abi.NETNS_FD, None, _cint(descriptor, "fd"))


def _ref(target: Optional[Netns], what: str) -> Optional[_abi.NetnsRef]:
    """The C form of ``target`` (None: the caller's namespace, as a NULL pointer)."""
    if target is None:
        return None
    if not isinstance(target, Netns):
        raise TypeError(
            f"nsmon: {what} must be an nsmon.Netns (nsmon.named(...), nsmon.path(...), ...), "
            f"not {type(target).__name__}"
        )
    return target._to_c()


def _byref(ref: Optional[_abi.NetnsRef]):
    return None if ref is None else ctypes.byref(ref)


def identify(target: Optional[Netns] = None) -> NetnsId:
    """Who the namespace ``target`` names is now (None: the caller's own)."""
    ref = _ref(target, "target")
    out = _abi.NetnsId()
    check(lib.nsmon_netns_identify(_byref(ref), ctypes.byref(out)), "identify")
    return _netns_id(out)


def validate_name(name: Union[str, bytes]) -> None:
    """Raises an error with errno EINVAL unless ``name`` can name a namespace: UTF-8, not
    empty, not ``.`` or ``..``, without ``/``, at most 255 bytes (the rule of every call that
    takes a name)."""
    check(lib.nsmon_validate_name(_cstr(name, "namespace name")), "validate name")


def version() -> str:
    """The version of the libnsmon in use, ``"MAJOR.MINOR.PATCH"``."""
    return (lib.nsmon_version() or b"").decode("ascii", "replace")
