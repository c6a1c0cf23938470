"""The namespace watcher: named namespaces appearing and disappearing in folders."""

from __future__ import annotations

import ctypes
from typing import Iterable, Optional, Union

from . import _abi
from ._errors import check
from ._handle import Handle
from ._lib import lib
from .events import WatchEvent, WatchKind
from .netns import PathArg, _cstr, _netns_id

_KINDS = {k.value: k for k in WatchKind}


class Watcher(Handle[WatchEvent]):
    """Named network namespaces appearing and disappearing in ``/var/run/netns`` or the
    folders given, behind one fd.

    ``dirs``: the folders to watch (default ``/var/run/netns``; str, bytes or path-like, and
    need not exist yet; a component ``*`` stands for every subdirectory there).
    ``runtimes``: every container runtime's folder too. ``list_existing``: report the
    namespaces present at start as CREATED first. ``any_file``: report every file, not only
    mounted namespaces. ``dir_events``: report the folders' own creation and deletion.
    The watch is in place when the constructor returns.
    """

    _name = "watcher"

    def __init__(
        self,
        dirs: Optional[Union[PathArg, Iterable[PathArg]]] = None,
        *,
        runtimes: bool = False,
        list_existing: bool = False,
        any_file: bool = False,
        dir_events: bool = False,
    ) -> None:
        if dirs is None:
            folders = []
        elif isinstance(dirs, (str, bytes)) or hasattr(dirs, "__fspath__"):
            folders = [_cstr(dirs, "dir", path=True)]
        else:
            folders = [_cstr(d, "dir", path=True) for d in dirs]
        opts = ctypes.c_void_p()
        check(lib.nsmon_watcher_options_new(ctypes.byref(opts)), "watcher options")
        try:
            for folder in folders:
                check(lib.nsmon_watcher_options_add_dir(opts, folder), "watcher dir")
            lib.nsmon_watcher_options_set_runtimes(opts, bool(runtimes))
            lib.nsmon_watcher_options_set_list_existing(opts, bool(list_existing))
            lib.nsmon_watcher_options_set_any_file(opts, bool(any_file))
            lib.nsmon_watcher_options_set_dir_events(opts, bool(dir_events))
            ptr = ctypes.c_void_p()
            check(lib.nsmon_watcher_new(opts, ctypes.byref(ptr)), "watcher new")
        finally:
            lib.nsmon_watcher_options_free(opts)
        super().__init__(ptr.value, lib.nsmon_watcher_free, lib.nsmon_watcher_fd(ptr))
        self._event = _abi.WatcherEvent()

    def _take(self, ptr: int) -> Optional[WatchEvent]:
        c = self._event
        if check(lib.nsmon_watcher_next(ptr, ctypes.byref(c)), "watcher next") == 0:
            return None
        # dir and reason point into the watcher until the next call: copied now.
        return WatchEvent(
            _KINDS.get(c.kind, c.kind),
            bytes(c.name[: c.name_len]),
            ctypes.string_at(c.dir, c.dir_len) if c.dir else None,
            _netns_id(c.netns_id) if c.has_netns_id else None,
            ctypes.string_at(c.reason).decode("utf-8", "replace") if c.reason else None,
        )
