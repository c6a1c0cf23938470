"""The inventory: named and unnamed namespaces, their holders, the snapshot."""

from __future__ import annotations

import os

import nsmon
from nsmon import InventoryKind

from conftest import ip, take_until


def _mount_of(name: str):
    return lambda p: p.endswith(f"/netns/{name}".encode())


def test_the_hosts_namespaces_come_first(root):
    with nsmon.Inventory(rescan_interval=0.5) as inv:
        present = inv.ready()
        appeared = [e for e in present if e.kind == InventoryKind.APPEARED]
        me = nsmon.identify()
        mine = [e for e in appeared if e.netns_id == me]
        assert len(mine) == 1
        assert os.getpid() in mine[0].pids
        # What the events taken so far say is there (other namespaces of the host may come and
        # go meanwhile) is what the snapshot says.
        known = set()
        for e in present:
            if e.kind == InventoryKind.APPEARED:
                known.add(e.netns_id)
            elif e.kind == InventoryKind.GONE:
                known.discard(e.netns_id)
        assert {e.netns_id for e in inv.snapshot()} == known
        for e in inv.snapshot():
            assert e.kind == InventoryKind.APPEARED and e.netns_id is not None


def test_a_named_namespace_comes_and_goes(make_netns):
    with nsmon.Inventory(rescan_interval=0.2) as inv:
        inv.ready()
        name = make_netns()
        ident = nsmon.identify(nsmon.named(name))
        ev = take_until(inv, lambda e: e.netns_id == ident and e.kind in (InventoryKind.APPEARED, InventoryKind.NAME_ADDED))[-1]
        mounts = ev.names if ev.kind == InventoryKind.APPEARED else (ev.path,)
        assert any(_mount_of(name)(p) for p in mounts)
        entry = [e for e in inv.snapshot() if e.netns_id == ident]
        assert len(entry) == 1 and any(_mount_of(name)(p) for p in entry[0].names)
        assert any(s.endswith(f"/netns/{name}") for s in entry[0].names_str)
        ip("netns", "del", name)
        take_until(inv, lambda e: e.netns_id == ident and e.kind == InventoryKind.GONE)
        assert ident not in {e.netns_id for e in inv.snapshot()}


def test_an_unnamed_namespace_held_by_a_process(unnamed_process):
    with nsmon.Inventory(rescan_interval=0.2) as inv:
        inv.ready()
        proc = unnamed_process()
        ev = take_until(inv, lambda e: e.kind == InventoryKind.APPEARED and e.netns_id.ino == proc.netns_ino)[-1]
        assert proc.pid in ev.pids and ev.names == ()
        assert ev.netns_id == nsmon.identify(nsmon.pid(proc.pid))
        proc.kill()
        proc.wait()
        take_until(inv, lambda e: e.netns_id == ev.netns_id and e.kind == InventoryKind.GONE)


def test_a_namespace_held_by_an_open_fd(unnamed_process):
    proc = unnamed_process()
    fd = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        proc.kill()
        proc.wait()
        with nsmon.Inventory(rescan_interval=0.2) as inv:
            held = [e for e in inv.ready() if e.kind == InventoryKind.APPEARED and e.netns_id.ino == proc.netns_ino]
            assert len(held) == 1
            assert nsmon.NetnsFd(os.getpid(), fd) in held[0].fds and proc.pid not in held[0].pids
    finally:
        os.close(fd)


def test_options(root):
    with nsmon.Inventory(rescan_interval=1, fds=False, sockets=True, proc_events=False) as inv:
        assert any(e.kind == InventoryKind.APPEARED for e in inv.ready())
