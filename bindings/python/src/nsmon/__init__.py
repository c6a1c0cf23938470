"""nsmon: watch Linux network namespaces from any event loop.

Python bindings over libnsmon's C ABI (through ctypes). Four handles, each one pollable fd:

- :class:`Watcher`: named namespaces appearing and disappearing (``/var/run/netns``, any
  folder, every container runtime's);
- :class:`NsidSubscriber`: namespace ids assigned and released; :func:`get_nsid` and
  :func:`set_nsid` query and assign them;
- :class:`Stream`: link, address, route, neighbour and tc events of many namespaces at once;
- :class:`Inventory`: every namespace of the host, named or not, with what holds it.

Each handle has ``fileno()`` (for ``selectors``, ``select.poll``), a non-blocking ``next()``
(None when nothing is ready), iteration over what is ready, ``wait(timeout)``, ``async for``
(asyncio, through ``loop.add_reader``), an idempotent ``close()`` and ``with``. Names are
bytes; failures are :class:`NsmonError`, an OSError with the errno (FileNotFoundError,
PermissionError, ... match too). The calling thread's network namespace is never changed.
"""

from ._errors import SUBCLASSES as _SUBCLASSES
from ._errors import HandleClosedError, NsmonError
from .events import (
    Addr,
    Event,
    InventoryEvent,
    InventoryKind,
    Link,
    Neigh,
    NetnsFd,
    NsidEvent,
    NsidKind,
    Route,
    StreamEvent,
    StreamKind,
    Tc,
    WatchEvent,
    WatchKind,
)
from .inventory import Inventory
from .netns import Netns, NetnsId, current, fd, identify, named, path, pid, validate_name, version
from .nsid import AUTO, NsidSubscriber, get_nsid, set_nsid
from .stream import BATCH, Group, Stream
from .watcher import Watcher

globals().update(_SUBCLASSES)  # NsmonFileNotFoundError, NsmonPermissionError, ...

__version__ = "0.1.0"

__all__ = [
    "AUTO",
    "BATCH",
    "Addr",
    "Event",
    "Group",
    "HandleClosedError",
    "Inventory",
    "InventoryEvent",
    "InventoryKind",
    "Link",
    "Neigh",
    "Netns",
    "NetnsFd",
    "NetnsId",
    "NsidEvent",
    "NsidKind",
    "NsidSubscriber",
    "NsmonError",
    "Route",
    "Stream",
    "StreamEvent",
    "StreamKind",
    "Tc",
    "WatchEvent",
    "WatchKind",
    "Watcher",
    "current",
    "fd",
    "get_nsid",
    "identify",
    "named",
    "path",
    "pid",
    "set_nsid",
    "validate_name",
    "version",
] + sorted(_SUBCLASSES)
