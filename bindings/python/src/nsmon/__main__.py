"""``python -m nsmon``: every network namespace of the host (named or not), then what happens
in each, on one ``selectors`` loop over an :class:`Inventory` and a :class:`Stream`.

    python -m nsmon                  # as root; Ctrl-C to stop
    python -m nsmon --list           # the namespaces only
    python -m nsmon --groups 9       # links and IPv4 routes only (nsmon.Group bits)

Each namespace is followed under the key ``netns:ID`` (its ``NS_GET_ID`` id, ``inode:INO`` on
kernels without one), opened through one of its holders and checked to be the same namespace
before it is added; its socket is let go at ``unheld``, so that following never keeps a
namespace alive.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import sys
from typing import Dict, Optional

import nsmon


def key_of(netns_id: nsmon.NetnsId) -> str:
    """The stream key of a namespace."""
    return f"netns:{netns_id.id}" if netns_id.id is not None else f"inode:{netns_id.ino}"


def holders(ev: nsmon.InventoryEvent):
    """Paths that open the namespace ``ev`` describes, best first (mounts do not go away with
    a process)."""
    yield from ev.names
    for p in ev.pids + ev.threads:
        yield f"/proc/{p}/ns/net".encode()
    for h in ev.fds:
        yield f"/proc/{h.pid}/fd/{h.fd}".encode()


def follow(stream: nsmon.Stream, ev: nsmon.InventoryEvent, groups: int) -> Optional[str]:
    """Adds the namespace of an APPEARED event to the stream; None, or why it could not be.
    Each holder is opened and identified first: a process may have moved, a mount gone."""
    why = "no holder to open"
    for p in holders(ev):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            why = str(e)
            continue
        try:
            if nsmon.identify(nsmon.fd(fd)) != ev.netns_id:
                why = "its holders moved on"
                continue
            stream.add(key_of(ev.netns_id), nsmon.fd(fd), groups=groups)
            return None
        except OSError as e:
            why = str(e)
        finally:
            os.close(fd)
    return why


def text(b: bytes) -> str:
    """Bytes for display: as they are when printable UTF-8, else quoted."""
    s = b.decode("utf-8", "replace")
    return s if s.isprintable() and "\ufffd" not in s else repr(b)


def describe_namespace(ev: nsmon.InventoryEvent) -> str:
    parts = [key_of(ev.netns_id)] if ev.netns_id else []
    if ev.names:
        parts.append("names=" + ",".join(text(n) for n in ev.names))
    if ev.pids:
        parts.append(f"pids={len(ev.pids)}")
    if ev.threads:
        parts.append(f"threads={len(ev.threads)}")
    if ev.fds:
        parts.append(f"fds={len(ev.fds)}")
    return " ".join(parts)


def describe(ev: nsmon.StreamEvent) -> str:
    """One stream event as a line's tail."""
    kind = ev.kind.name.lower() if isinstance(ev.kind, nsmon.StreamKind) else str(ev.kind)
    if ev.link:
        return f"{kind} link {ev.link.index} {text(ev.link.name)} kind={text(ev.link.kind)} mtu={ev.link.mtu}"
    if ev.addr:
        return f"{kind} addr {ev.addr.address}/{ev.addr.prefix_len} dev {ev.addr.index}"
    if ev.route:
        dst = f"{ev.route.dst}/{ev.route.dst_len}" if ev.route.dst else "default"
        return f"{kind} route {dst} table {ev.route.table} oif {ev.route.oif}"
    if ev.neigh:
        return f"{kind} neigh {ev.neigh.dst} lladdr {ev.neigh.lladdr.hex(':')} dev {ev.neigh.index}"
    if ev.tc:
        return f"{kind} tc {ev.tc.handle >> 16:x}:{ev.tc.handle & 0xffff:x} kind {text(ev.tc.kind)} dev {ev.tc.index}"
    if ev.kind == nsmon.StreamKind.OVERRUN:
        return f"{kind} lost {ev.lost if ev.lost is not None else 'an unknown number'}"
    return f"{kind} {ev.reason}" if ev.reason else kind


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nsmon", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the namespaces and exit")
    parser.add_argument("--groups", type=int, default=int(nsmon.Group.ALL), help="nsmon.Group bits to follow")
    args = parser.parse_args(argv)
    # SIGTERM ends the loop as Ctrl-C does: the handles are closed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out = lambda line: print(line, flush=True)  # noqa: E731 (each line as it happens)
    with nsmon.Inventory() as inventory, nsmon.Stream() as stream:
        present = inventory.ready()  # every namespace there at start comes first, as APPEARED
        for ev in present:
            if ev.kind == nsmon.InventoryKind.APPEARED:
                out(f"namespace {describe_namespace(ev)}")
            elif ev.kind == nsmon.InventoryKind.DEGRADED:
                out(f"degraded: {ev.reason}")
        if args.list:
            return 0
        followed: Dict[str, bool] = {}

        def apply(ev: nsmon.InventoryEvent) -> None:
            if ev.kind == nsmon.InventoryKind.APPEARED:
                why = follow(stream, ev, args.groups)
                if why is None:
                    followed[key_of(ev.netns_id)] = True
                    out(f"+ {describe_namespace(ev)}")
                else:
                    out(f"! {key_of(ev.netns_id)} not followed: {why}")
            elif ev.kind in (nsmon.InventoryKind.UNHELD, nsmon.InventoryKind.GONE):
                key = key_of(ev.netns_id)
                if followed.pop(key, False):
                    stream.remove(key)
                    out(f"- {key}")
            elif ev.kind in (nsmon.InventoryKind.NAME_ADDED, nsmon.InventoryKind.NAME_REMOVED):
                sign = "+" if ev.kind == nsmon.InventoryKind.NAME_ADDED else "-"
                out(f"{sign} {key_of(ev.netns_id)} name {text(ev.path or b'')}")
            elif ev.kind == nsmon.InventoryKind.DEGRADED:
                out(f"degraded: {ev.reason}")

        for ev in present:
            apply(ev)
        out("ready")
        with selectors.DefaultSelector() as sel:
            sel.register(inventory, selectors.EVENT_READ)
            sel.register(stream, selectors.EVENT_READ)
            try:
                while True:
                    for _ in sel.select():
                        for ev in inventory:
                            apply(ev)
                        for sev in stream:
                            if sev.kind == nsmon.StreamKind.ERROR:
                                followed.pop(sev.key, None)
                            out(f"[{sev.key}] {describe(sev)}")
            except KeyboardInterrupt:
                return 0
            except BrokenPipeError:  # the reader went (| head): not an error
                sys.stderr.close()
                return 0


if __name__ == "__main__":
    sys.exit(main())
