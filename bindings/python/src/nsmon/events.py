"""The events every handle gives, as immutable, typed values (named tuples: cheap to make,
which matters at hundreds of thousands of events a second).

Names the kernel or the file system gave (link names, kinds, labels, namespace names, folders,
mount points) are ``bytes``, exactly as they came: Linux does not promise UTF-8. Each has a
``..._str`` property that decodes it for display, lossily (U+FFFD for each invalid sequence).
Stream keys are ``str``: the caller chose them.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import NamedTuple, Optional, Tuple, Union

from .netns import NetnsId

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _text(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "replace")


class WatchKind(enum.IntEnum):
    """What a :class:`WatchEvent` reports (``nsmon_watcher_event_kind``)."""

    #: A named namespace appeared (and is mounted).
    CREATED = 1
    #: A reported namespace went (its file went, it was unmounted, or another one is mounted
    #: there now: a CREATED follows).
    DELETED = 2
    #: The folder appeared (with ``dir_events``).
    DIR_CREATED = 3
    #: The folder was deleted or moved away (with ``dir_events``).
    DIR_DELETED = 4
    #: The inotify queue overflowed; the CREATED and DELETED events that follow are exactly
    #: the difference.
    OVERFLOW = 5
    #: The folder cannot be watched now; ``reason`` says why. It is taken up again once it can.
    DIR_UNAVAILABLE = 6


class NsidKind(enum.IntEnum):
    """What an :class:`NsidEvent` reports (``nsmon_nsid_event_kind``)."""

    #: A namespace was given id ``nsid``.
    NEW_NSID = 1
    #: The namespace with id ``nsid`` was destroyed.
    DEL_NSID = 2
    #: The kernel dropped messages; ``lost`` says how many (None: it does not say).
    OVERRUN = 3
    #: A message nsmon could not read: ``raw`` and ``reason``.
    UNPARSED = 4


class StreamKind(enum.IntEnum):
    """What a :class:`StreamEvent` reports (``nsmon_stream_event_kind``)."""

    NEW_LINK = 1
    DEL_LINK = 2
    NEW_ADDR = 3
    DEL_ADDR = 4
    NEW_ROUTE = 5
    DEL_ROUTE = 6
    NEW_NEIGH = 7
    DEL_NEIGH = 8
    NEW_QDISC = 9
    DEL_QDISC = 10
    NEW_CLASS = 11
    DEL_CLASS = 12
    NEW_FILTER = 13
    DEL_FILTER = 14
    #: The namespace's dump (or resync) is complete.
    SYNCED = 15
    #: Notifications were lost; ``lost`` says how many (None: the kernel does not say).
    OVERRUN = 16
    #: The namespace's socket failed and its key was removed; ``reason`` says why.
    ERROR = 17
    #: A message nsmon could not type: ``raw`` has its bytes, ``reason`` why.
    UNPARSED = 18
    #: The dump ended without a complete, consistent snapshot; ``reason`` says why.
    SYNC_FAILED = 19


class InventoryKind(enum.IntEnum):
    """What an :class:`InventoryEvent` reports (``nsmon_inventory_event_kind``)."""

    #: A namespace is there that was not, with what holds it now.
    APPEARED = 1
    #: The namespace was mounted at ``path``.
    NAME_ADDED = 2
    #: The namespace's mount at ``path`` went.
    NAME_REMOVED = 3
    #: It lost its last visible holder but is still there: let go of sockets held in it.
    UNHELD = 4
    #: The namespace is gone.
    GONE = 5
    #: The proc connector dropped events; RESCANNED follows the difference.
    OVERRUN = 6
    #: After OVERRUN: the events since are exactly the difference.
    RESCANNED = 7
    #: A source is unavailable (``reason``); the rescans find what it would have told.
    DEGRADED = 8


class WatchEvent(NamedTuple):
    """A named namespace (or its folder) came or went."""

    kind: WatchKind
    #: The namespace's file name (b"" for folder events and OVERFLOW).
    name: bytes
    #: The folder, absolute, as the watcher watches it; None for OVERFLOW (every folder).
    dir: Optional[bytes]
    #: CREATED and DELETED: the namespace's identity (DELETED: the one it was created with);
    #: None otherwise, and with ``any_file``.
    netns_id: Optional[NetnsId]
    #: DIR_UNAVAILABLE: why.
    reason: Optional[str]

    @property
    def name_str(self) -> str:
        """``name`` decoded for display (lossy)."""
        return self.name.decode("utf-8", "replace")

    @property
    def dir_str(self) -> Optional[str]:
        """``dir`` decoded for display (lossy)."""
        return _text(self.dir)

    @property
    def path(self) -> Optional[bytes]:
        """``dir/name`` (None without a folder or a name): what :func:`nsmon.path` takes."""
        if self.dir is None or not self.name:
            return None
        return self.dir.rstrip(b"/") + b"/" + self.name


class NsidEvent(NamedTuple):
    """A namespace id assigned or released (ids are relative to the observer's namespace)."""

    kind: NsidKind
    #: The id; None for OVERRUN and UNPARSED.
    nsid: Optional[int]
    #: NETNSA_PID, when the kernel sent it.
    pid: Optional[int]
    #: NETNSA_FD, when the kernel sent it.
    fd: Optional[int]
    #: OVERRUN: how many messages were lost (None: the kernel does not say); 0 otherwise.
    lost: Optional[int]
    #: UNPARSED: the bytes that could not be read.
    raw: Optional[bytes]
    #: UNPARSED: why.
    reason: Optional[str]


class Link(NamedTuple):
    """A link's fields (absent numbers are 0, absent names empty)."""

    index: int
    flags: int
    mtu: int
    master: int
    #: AF_UNSPEC (0) for the link itself, AF_BRIDGE for a bridge's notice about a port.
    family: int
    operstate: int
    mac: bytes
    name: bytes
    #: "bridge", "veth", ... (b"" when the kernel sent none).
    kind: bytes
    alt_names: Tuple[bytes, ...]

    @property
    def name_str(self) -> str:
        """``name`` decoded for display (lossy)."""
        return self.name.decode("utf-8", "replace")

    @property
    def kind_str(self) -> str:
        """``kind`` decoded for display (lossy)."""
        return self.kind.decode("utf-8", "replace")

    @property
    def alt_names_str(self) -> Tuple[str, ...]:
        """``alt_names`` decoded for display (lossy)."""
        return tuple(n.decode("utf-8", "replace") for n in self.alt_names)


class Addr(NamedTuple):
    """An address's fields."""

    index: int
    #: AF_INET or AF_INET6 (0: absent).
    family: int
    #: The address (None when absent or of another family).
    address: Optional[IPAddress]
    prefix_len: int
    scope: int
    #: IPv4 label (bytes like a link name).
    label: bytes

    @property
    def label_str(self) -> str:
        """``label`` decoded for display (lossy)."""
        return self.label.decode("utf-8", "replace")


class Route(NamedTuple):
    """A route's fields."""

    family: int
    dst_len: int
    protocol: int
    scope: int
    #: RTN_*.
    type: int
    table: int
    #: Output interface (0 when absent).
    oif: int
    #: Destination (None: the default route).
    dst: Optional[IPAddress]
    gateway: Optional[IPAddress]


class Neigh(NamedTuple):
    """A neighbour entry's fields."""

    family: int
    #: NUD_* bits.
    state: int
    index: int
    dst: Optional[IPAddress]
    lladdr: bytes


class Tc(NamedTuple):
    """A qdisc's, class's or filter's fields (handles are ``major << 16 | minor``)."""

    index: int
    handle: int
    #: 0xffffffff: root.
    parent: int
    #: "htb", "u32", ...
    kind: bytes

    @property
    def kind_str(self) -> str:
        """``kind`` decoded for display (lossy)."""
        return self.kind.decode("utf-8", "replace")


class StreamEvent(NamedTuple):
    """One rtnetlink event from one namespace of a stream: the field matching ``kind`` is
    set (``link`` for NEW_LINK and DEL_LINK, ...), the others are None."""

    kind: StreamKind
    #: The key the namespace was added under (for an all-nsid target, see
    #: :meth:`Stream.add_all_nsid`).
    key: str
    #: From an all-nsid target: the source namespace's id in the observer's namespace; None
    #: otherwise.
    nsid: Optional[int]
    #: Who the namespace is: the identity of the one ``key`` was added for (the C event does
    #: not carry it: the stream asks the library once per key, when it is added). None for an
    #: all-nsid target's events from a namespace the caller did not add, and for events of a
    #: key no longer followed.
    netns_id: Optional[NetnsId]
    #: The netlink message as the kernel sent it (with ``keep_raw``, the default); for
    #: UNPARSED, always, the bytes that could not be typed. None for SYNCED, SYNC_FAILED,
    #: OVERRUN and ERROR.
    raw: Optional[bytes]
    #: OVERRUN: how many notifications were lost (None: the kernel does not say); 0 otherwise.
    lost: Optional[int]
    #: ERROR, UNPARSED and SYNC_FAILED: why.
    reason: Optional[str]
    link: Optional[Link] = None
    addr: Optional[Addr] = None
    route: Optional[Route] = None
    neigh: Optional[Neigh] = None
    tc: Optional[Tc] = None

    def __repr__(self) -> str:
        # The message's bytes are summarised (a link's are over a kilobyte); the members that
        # are None are left out.
        parts = [f"kind={self.kind!r}", f"key={self.key!r}"]
        if self.nsid is not None:
            parts.append(f"nsid={self.nsid}")
        if self.netns_id is not None:
            parts.append(f"netns_id={self.netns_id!r}")
        if self.raw is not None:
            parts.append(f"raw=<{len(self.raw)} bytes>")
        if self.kind == StreamKind.OVERRUN:
            parts.append(f"lost={self.lost!r}")
        if self.reason is not None:
            parts.append(f"reason={self.reason!r}")
        for name in ("link", "addr", "route", "neigh", "tc"):
            member = getattr(self, name)
            if member is not None:
                parts.append(f"{name}={member!r}")
        return f"StreamEvent({', '.join(parts)})"


class NetnsFd(NamedTuple):
    """Fd ``fd`` of process ``pid``."""

    pid: int
    fd: int


class InventoryEvent(NamedTuple):
    """A namespace of the host (named or not) came, changed holders, or went. The holder
    lists are filled for APPEARED (and for :meth:`Inventory.snapshot`'s entries)."""

    kind: InventoryKind
    #: The namespace; None for OVERRUN, RESCANNED and DEGRADED.
    netns_id: Optional[NetnsId]
    #: Its mount points.
    names: Tuple[bytes, ...]
    #: Processes whose main thread is in it.
    pids: Tuple[int, ...]
    #: Other threads in it, of processes whose main thread is elsewhere.
    threads: Tuple[int, ...]
    #: Open fds of it.
    fds: Tuple[NetnsFd, ...]
    #: Sockets living in it (with ``sockets=True``).
    sockets: Tuple[NetnsFd, ...]
    #: NAME_ADDED and NAME_REMOVED: the mount point.
    path: Optional[bytes]
    #: DEGRADED: why.
    reason: Optional[str]

    @property
    def names_str(self) -> Tuple[str, ...]:
        """``names`` decoded for display (lossy)."""
        return tuple(n.decode("utf-8", "replace") for n in self.names)

    @property
    def path_str(self) -> Optional[str]:
        """``path`` decoded for display (lossy)."""
        return _text(self.path)


Event = Union[WatchEvent, NsidEvent, StreamEvent, InventoryEvent]
