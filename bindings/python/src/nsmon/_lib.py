"""Finding and loading libnsmon, and declaring the prototype of every function used.

The library is looked for, in order: the file named by ``NSMON_LIBRARY`` (an explicit choice
wins), the copy shipped inside this package (``pip install`` built it from the checkout), the
directory pkg-config named when the package was built against an installed libnsmon, then the
dynamic loader's own search (``ctypes.util.find_library``, ``libnsmon.so.0``). ctypes releases
the GIL around every call, so a blocked or slow call (adding a thousand namespaces) never
stops other Python threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_bool, c_char_p, c_int, c_size_t, c_uint32, c_void_p
from pathlib import Path
from typing import List, Optional

from . import _abi

_HERE = Path(__file__).resolve().parent
# The soname the library is built with (ABI 0); the file shipped in the package.
SONAME = "libnsmon.so.0"
BUNDLED = "libnsmon.so"


def _candidates() -> List[str]:
    """Where to look for libnsmon, best first (see the module's docstring)."""
    found: List[str] = []
    explicit = os.environ.get("NSMON_LIBRARY")
    if explicit:
        return [explicit]
    bundled = _HERE / BUNDLED
    if bundled.exists():
        found.append(str(bundled))
    try:
        from . import _build_config  # written by the build step; absent in a source tree
    except ImportError:
        _build_config = None  # type: ignore[assignment]
    libdir = getattr(_build_config, "LIBDIR", None)
    if libdir:
        found.append(os.path.join(libdir, SONAME))
    name = ctypes.util.find_library("nsmon")
    if name:
        found.append(name)
    found.append(SONAME)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            errors.append(f"{candidate}: {e}")
    raise ImportError(
        "nsmon: libnsmon not found (set NSMON_LIBRARY to its path, install it with "
        "scripts/install.sh, or pip install the package from a checkout to bundle it): "
        + "; ".join(errors)
    )


lib = _load()
PATH: Optional[str] = getattr(lib, "_name", None)

_H = c_void_p  # every handle and options object is an opaque pointer
_OUT = POINTER(c_void_p)


def _proto(name: str, restype, *argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_REF = POINTER(_abi.NetnsRef)
_ID = POINTER(_abi.NetnsId)

for _name, _res, _args in [
    ("nsmon_last_error", c_char_p, ()),
    ("nsmon_strerror", c_char_p, (c_int,)),
    ("nsmon_version", c_char_p, ()),
    ("nsmon_validate_name", c_int, (c_char_p,)),
    ("nsmon_netns_identify", c_int, (_REF, _ID)),
    # watcher
    ("nsmon_watcher_options_new", c_int, (_OUT,)),
    ("nsmon_watcher_options_free", None, (_H,)),
    ("nsmon_watcher_options_add_dir", c_int, (_H, c_char_p)),
    ("nsmon_watcher_options_set_runtimes", c_int, (_H, c_bool)),
    ("nsmon_watcher_options_set_list_existing", c_int, (_H, c_bool)),
    ("nsmon_watcher_options_set_any_file", c_int, (_H, c_bool)),
    ("nsmon_watcher_options_set_dir_events", c_int, (_H, c_bool)),
    ("nsmon_watcher_new", c_int, (_H, _OUT)),
    ("nsmon_watcher_fd", c_int, (_H,)),
    ("nsmon_watcher_next", c_int, (_H, POINTER(_abi.WatcherEvent))),
    ("nsmon_watcher_free", None, (_H,)),
    # nsid
    ("nsmon_nsid_options_new", c_int, (_OUT,)),
    ("nsmon_nsid_options_free", None, (_H,)),
    ("nsmon_nsid_options_set_observer", c_int, (_H, _REF)),
    ("nsmon_nsid_options_set_receive_buffer", c_int, (_H, c_size_t)),
    ("nsmon_nsid_new", c_int, (_H, _OUT)),
    ("nsmon_nsid_fd", c_int, (_H,)),
    ("nsmon_nsid_next", c_int, (_H, POINTER(_abi.NsidEvent))),
    ("nsmon_nsid_free", None, (_H,)),
    ("nsmon_nsid_get", c_int, (_REF, _REF)),
    ("nsmon_nsid_set", c_int, (_REF, _REF, c_int)),
    # stream
    ("nsmon_stream_options_new", c_int, (_OUT,)),
    ("nsmon_stream_options_free", None, (_H,)),
    ("nsmon_stream_options_set_groups", c_int, (_H, c_uint32)),
    ("nsmon_stream_options_set_dump", c_int, (_H, c_bool)),
    ("nsmon_stream_options_set_resync_on_overrun", c_int, (_H, c_bool)),
    ("nsmon_stream_options_set_receive_buffer", c_int, (_H, c_size_t)),
    ("nsmon_stream_new", c_int, (_OUT,)),
    ("nsmon_stream_new_coalescing", c_int, (c_uint32, _OUT)),
    ("nsmon_stream_add", c_int, (_H, c_char_p, _REF, _H)),
    ("nsmon_stream_add_many", c_int, (_H, POINTER(c_char_p), _REF, c_size_t, _H, POINTER(c_int))),
    ("nsmon_stream_add_all_nsid", c_int, (_H, c_char_p, _REF, _H)),
    ("nsmon_stream_remove", c_int, (_H, c_char_p)),
    ("nsmon_stream_contains", c_int, (_H, c_char_p)),
    ("nsmon_stream_identity", c_int, (_H, c_char_p, _ID)),
    ("nsmon_stream_len", c_int, (_H,)),
    ("nsmon_stream_fd", c_int, (_H,)),
    ("nsmon_stream_next_batch", c_int, (_H, c_void_p, c_size_t)),
    ("nsmon_stream_free", None, (_H,)),
    # inventory
    ("nsmon_inventory_options_new", c_int, (_OUT,)),
    ("nsmon_inventory_options_free", None, (_H,)),
    ("nsmon_inventory_options_set_rescan_interval_ms", c_int, (_H, c_uint32)),
    ("nsmon_inventory_options_set_fds", c_int, (_H, c_bool)),
    ("nsmon_inventory_options_set_sockets", c_int, (_H, c_bool)),
    ("nsmon_inventory_options_set_proc_events", c_int, (_H, c_bool)),
    ("nsmon_inventory_new", c_int, (_H, _OUT)),
    ("nsmon_inventory_fd", c_int, (_H,)),
    ("nsmon_inventory_next", c_int, (_H, POINTER(_abi.InventoryEvent))),
    ("nsmon_inventory_snapshot", c_int, (_H,)),
    ("nsmon_inventory_snapshot_get", c_int, (_H, c_size_t, POINTER(_abi.InventoryEvent))),
    ("nsmon_inventory_free", None, (_H,)),
]:
    _proto(_name, _res, *_args)
