"""The watcher on real namespaces and on a folder of its own."""

from __future__ import annotations

import os
import subprocess

import nsmon
from nsmon import WatchKind

from conftest import ip, take_until


def test_created_and_deleted_with_identity(make_netns):
    with nsmon.Watcher() as w:
        name = make_netns()
        created = take_until(w, lambda e: e.kind == WatchKind.CREATED and e.name == name.encode())[-1]
        assert created.dir == b"/var/run/netns" and created.dir_str == "/var/run/netns"
        assert created.name_str == name
        assert created.path == f"/var/run/netns/{name}".encode()
        ident = nsmon.identify(nsmon.named(name))
        assert created.netns_id == ident and created.reason is None
        ip("netns", "del", name)
        deleted = take_until(w, lambda e: e.kind == WatchKind.DELETED and e.name == name.encode())[-1]
        assert deleted.netns_id == ident  # the identity it was created with


def test_list_existing_reports_what_is_there(netns):
    with nsmon.Watcher(list_existing=True) as w:
        take_until(w, lambda e: e.kind == WatchKind.CREATED and e.name == netns.encode())


def test_a_folder_of_its_own_with_names_that_are_not_utf8(tmpdir_nsmon):
    folder = tmpdir_nsmon / "netns"
    with nsmon.Watcher(folder, any_file=True, dir_events=True) as w:
        folder.mkdir()
        take_until(w, lambda e: e.kind == WatchKind.DIR_CREATED)
        raw = b"nsmon-\xff\xfe"
        with open(os.fsencode(folder) + b"/" + raw, "wb"):
            pass
        ev = take_until(w, lambda e: e.kind == WatchKind.CREATED)[-1]
        assert ev.name == raw  # exactly the bytes
        assert ev.name_str == "nsmon-\ufffd\ufffd"
        assert ev.dir == os.fsencode(folder)
        assert ev.netns_id is None  # any_file: a plain file has no namespace
        os.unlink(os.fsencode(folder) + b"/" + raw)
        assert take_until(w, lambda e: e.kind == WatchKind.DELETED)[-1].name == raw


def test_a_mounted_namespace_in_a_folder_given_as_bytes(tmpdir_nsmon):
    # What ip netns add does: an empty file, then the namespace bind-mounted on it.
    entry = tmpdir_nsmon / "nsmon-bound"
    with nsmon.Watcher(os.fsencode(tmpdir_nsmon)) as w:
        entry.touch()
        subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(entry)], check=True)
        ev = take_until(w, lambda e: e.kind == WatchKind.CREATED)[-1]
        assert ev.name == b"nsmon-bound" and ev.netns_id == nsmon.identify()
        subprocess.run(["umount", str(entry)], check=True)
        take_until(w, lambda e: e.kind == WatchKind.DELETED and e.name == b"nsmon-bound")


def test_several_folders(tmpdir_nsmon):
    a, b = tmpdir_nsmon / "a", tmpdir_nsmon / "b"
    a.mkdir()
    b.mkdir()
    with nsmon.Watcher([a, str(b)], any_file=True) as w:
        (b / "nsmon-x").touch()
        ev = take_until(w, lambda e: e.kind == WatchKind.CREATED)[-1]
        assert ev.dir == os.fsencode(b)
