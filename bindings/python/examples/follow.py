"""Follows every network namespace of the host, named or not, with asyncio: links, addresses,
routes, neighbours and tc objects, in the namespaces present at start and in those that
appear later, until they go.

An Inventory says which namespaces there are; each one that appears is opened through one of
its holders (a mount, a process, an open fd), checked to be the same namespace, and added to
one Stream under the key ``netns:ID``; it is removed when the inventory says nothing else holds
it (so following never keeps a namespace alive). Two ``async for`` loops share one event loop.

    sudo python3 examples/follow.py            # Ctrl-C (or SIGTERM) to stop
    sudo python3 examples/follow.py --groups 9 # links and IPv4 routes only (nsmon.Group bits)
"""

import argparse
import asyncio
import os
import signal

import nsmon


def key_of(netns_id: nsmon.NetnsId) -> str:
    return f"netns:{netns_id.id}" if netns_id.id is not None else f"inode:{netns_id.ino}"


def text(b: bytes) -> str:
    """Names are bytes: printed as they are when printable UTF-8, else quoted."""
    s = b.decode("utf-8", "replace")
    return s if s.isprintable() and "\ufffd" not in s else repr(b)


def open_holder(ev: nsmon.InventoryEvent):
    """An fd of the namespace ``ev`` describes, through the first holder that still holds it,
    or None."""
    paths = list(ev.names)
    paths += [f"/proc/{p}/ns/net".encode() for p in ev.pids + ev.threads]
    paths += [f"/proc/{h.pid}/fd/{h.fd}".encode() for h in ev.fds]
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if nsmon.identify(nsmon.fd(fd)) == ev.netns_id:
                return fd
        except OSError:
            pass
        os.close(fd)
    return None


def describe(ev: nsmon.StreamEvent) -> str:
    kind = ev.kind.name.lower()
    if ev.link:
        return f"{kind} {text(ev.link.name)} kind={text(ev.link.kind)} index={ev.link.index}"
    if ev.addr:
        return f"{kind} {ev.addr.address}/{ev.addr.prefix_len} dev {ev.addr.index}"
    if ev.route:
        dst = f"{ev.route.dst}/{ev.route.dst_len}" if ev.route.dst else "default"
        return f"{kind} {dst} via {ev.route.gateway or '-'} table {ev.route.table}"
    if ev.neigh:
        return f"{kind} {ev.neigh.dst} lladdr {ev.neigh.lladdr.hex(':')}"
    if ev.tc:
        return f"{kind} {text(ev.tc.kind)} handle {ev.tc.handle:#x} dev {ev.tc.index}"
    if ev.kind == nsmon.StreamKind.OVERRUN:
        return f"{kind}: lost {ev.lost if ev.lost is not None else 'an unknown number'}"
    return f"{kind} {ev.reason or ''}".rstrip()


async def follow_inventory(inventory: nsmon.Inventory, stream: nsmon.Stream, groups: int) -> None:
    followed = set()
    async for ev in inventory:
        if ev.kind == nsmon.InventoryKind.APPEARED:
            key = key_of(ev.netns_id)
            fd = open_holder(ev)
            if fd is None:
                print(f"! {key}: gone before it could be followed", flush=True)
                continue
            try:
                stream.add(key, nsmon.fd(fd), groups=groups)
            except OSError as e:
                print(f"! {key}: {e}", flush=True)
                continue
            finally:
                os.close(fd)  # the stream's socket holds the namespace now
            followed.add(key)
            names = " ".join(text(n) for n in ev.names) or f"(unnamed, {len(ev.pids)} processes)"
            print(f"+ {key} {names}", flush=True)
        elif ev.kind in (nsmon.InventoryKind.UNHELD, nsmon.InventoryKind.GONE):
            key = key_of(ev.netns_id)
            if key in followed:
                followed.discard(key)
                stream.remove(key)
                print(f"- {key}", flush=True)
        elif ev.kind == nsmon.InventoryKind.DEGRADED:
            print(f"! inventory degraded: {ev.reason}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description="Follow every network namespace of the host.")
    parser.add_argument("--groups", type=int, default=int(nsmon.Group.ALL), help="nsmon.Group bits")
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    with nsmon.Inventory() as inventory, nsmon.Stream() as stream:
        inventory_task = asyncio.create_task(follow_inventory(inventory, stream, args.groups))
        stream_task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stream_task.cancel)
        try:
            async for ev in stream:
                print(f"[{ev.key}] {describe(ev)}", flush=True)
        except asyncio.CancelledError:
            pass  # a signal: stop
        finally:
            inventory_task.cancel()
            await asyncio.gather(inventory_task, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
