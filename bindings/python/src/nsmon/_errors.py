"""Failures as Python exceptions.

A failed libnsmon call is an :class:`NsmonError`, an :class:`OSError` with the errno the
library returned and its detailed message (``nsmon_last_error``). For each of Python's own
``OSError`` subclasses there is one that is both, so ``except FileNotFoundError`` and
``except nsmon.NsmonError`` both catch a missing namespace. The library's own codes (not
UTF-8, a caught panic) have an errno too (``EINVAL``, ``EIO``) and keep the code in ``code``.
"""

from __future__ import annotations

import errno as _errno
from typing import Dict, Optional, Type

from . import _abi
from ._lib import lib


class NsmonError(OSError):
    """A failure reported by libnsmon.

    ``errno`` is the OS error (``errno.ENOENT``, ...), ``strerror`` the library's detailed
    message, ``code`` the library's return code (``-errno`` or an ``NSMON_ERR_*`` code) and
    ``op`` the call that failed (``"stream add"``).
    """

    code: int
    op: str

    def __init__(self, err: int, message: str, code: Optional[int] = None, op: str = "") -> None:
        super().__init__(err, message)
        self.code = -err if code is None else code
        self.op = op

    def __reduce__(self):  # pickling keeps the class and every field
        return (type(self), (self.errno, self.strerror, self.code, self.op))


class HandleClosedError(ValueError):
    """A handle was used after ``close()`` (a ValueError, as for a closed Python file)."""


# Shown as the package's own (nsmon.NsmonError), where users import them from.
NsmonError.__module__ = HandleClosedError.__module__ = "nsmon"


# The library's own codes, as the errno closest to each.
_LIBRARY_ERRNO = {_abi.ERR_NULL: _errno.EINVAL, _abi.ERR_UTF8: _errno.EINVAL, _abi.ERR_PANIC: _errno.EIO}


def _subclasses() -> Dict[int, Type[NsmonError]]:
    """One NsmonError subclass per builtin OSError subclass, keyed by every errno that maps to
    it (OSError itself picks the builtin class from the errno: asked once per errno here)."""
    by_builtin: Dict[type, Type[NsmonError]] = {}
    by_errno: Dict[int, Type[NsmonError]] = {}
    for number in _errno.errorcode:
        builtin = type(OSError(number, ""))
        if builtin is OSError:
            continue
        cls = by_builtin.get(builtin)
        if cls is None:
            cls = type(
                "Nsmon" + builtin.__name__,
                (NsmonError, builtin),
                {"__doc__": f"An NsmonError that is also a {builtin.__name__}.", "__module__": "nsmon"},
            )
            by_builtin[builtin] = cls
        by_errno[number] = cls
    return by_errno


_BY_ERRNO = _subclasses()
# Exported by name (NsmonFileNotFoundError, NsmonPermissionError, ...).
SUBCLASSES = {cls.__name__: cls for cls in set(_BY_ERRNO.values())}


def error(code: int, op: str, message: Optional[str] = None) -> NsmonError:
    """The exception for ``code`` returned by the library, with this thread's last message
    (read at once: the next failing call on this thread replaces it)."""
    if message is None:
        raw = lib.nsmon_last_error() or b""
        message = raw.decode("utf-8", "replace") or strerror(code)
    err = _LIBRARY_ERRNO.get(code, -code)
    cls = _BY_ERRNO.get(err, NsmonError)
    return cls(err, f"{op}: {message}" if op else message, code, op)


def strerror(code: int) -> str:
    """The library's short, static description of a return code."""
    return (lib.nsmon_strerror(code) or b"").decode("utf-8", "replace")


def check(code: int, op: str) -> int:
    """``code`` when it is a success (>= 0); raises its error otherwise."""
    if code < 0:
        raise error(code, op)
    return code
