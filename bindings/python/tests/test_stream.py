"""The stream on real namespaces: every kind of object, bytes names, the raw message, keys,
identity, add_many, all-nsid, batches."""

from __future__ import annotations

import errno
import ipaddress
import os
import struct
import subprocess

import pytest

import nsmon
from nsmon import Group, StreamKind

from conftest import ip, take_until, thread_netns

RTM_NEWLINK, RTM_NEWROUTE = 16, 24


def nlmsg(raw: bytes):
    """(length, type) of the netlink header at the start of ``raw``."""
    return struct.unpack_from("=IH", raw)


def test_every_kind_of_object(netns):
    before = thread_netns()
    with nsmon.Stream() as s:
        s.add("ns", nsmon.named(netns), dump=True)
        synced = take_until(s, lambda e: e.kind == StreamKind.SYNCED)
        assert any(e.link and e.link.name == b"lo" for e in synced)  # the dump
        assert all(e.key == "ns" and e.nsid is None for e in synced)
        ident = nsmon.identify(nsmon.named(netns))
        assert all(e.netns_id == ident for e in synced)  # who the key's namespace is

        ip("-n", netns, "link", "add", "nsmon-br", "type", "bridge")
        ev = take_until(s, lambda e: e.link and e.link.name == b"nsmon-br")[-1]
        assert ev.kind == StreamKind.NEW_LINK and ev.link.kind == b"bridge"
        assert ev.link.name_str == "nsmon-br" and ev.link.kind_str == "bridge"
        assert len(ev.link.mac) == 6 and ev.link.index > 1
        length, msg_type = nlmsg(ev.raw)
        assert length == len(ev.raw) and msg_type == RTM_NEWLINK
        index = ev.link.index

        # An alternative name changes no state the kernel announces; the next change shows it.
        ip("-n", netns, "link", "property", "add", "dev", "nsmon-br", "altname", "nsmon-alt")
        ip("-n", netns, "link", "set", "nsmon-br", "up")
        ev = take_until(s, lambda e: e.link and b"nsmon-alt" in e.link.alt_names)[-1]
        assert ev.link.alt_names_str == ("nsmon-alt",)
        ip("-n", netns, "addr", "add", "198.51.100.1/24", "dev", "nsmon-br")
        ev = take_until(s, lambda e: e.addr and e.addr.address == ipaddress.ip_address("198.51.100.1"))[-1]
        assert ev.kind == StreamKind.NEW_ADDR and ev.addr.prefix_len == 24 and ev.addr.index == index
        assert ev.addr.label == b"nsmon-br"

        ip("-n", netns, "addr", "add", "2001:db8::1/64", "dev", "nsmon-br", "nodad")
        ev = take_until(s, lambda e: e.addr and e.addr.address == ipaddress.ip_address("2001:db8::1"))[-1]
        assert ev.addr.family == 10 and ev.addr.prefix_len == 64

        ip("-n", netns, "route", "add", "203.0.113.0/24", "via", "198.51.100.2")
        ev = take_until(s, lambda e: e.route and e.route.dst == ipaddress.ip_address("203.0.113.0"))[-1]
        assert ev.kind == StreamKind.NEW_ROUTE and ev.route.dst_len == 24
        assert ev.route.gateway == ipaddress.ip_address("198.51.100.2") and ev.route.oif == index
        assert ev.route.table == 254 and nlmsg(ev.raw)[1] == RTM_NEWROUTE

        ip("-n", netns, "neigh", "add", "198.51.100.7", "lladdr", "02:00:00:00:00:07", "dev", "nsmon-br")
        ev = take_until(s, lambda e: e.neigh and e.neigh.dst == ipaddress.ip_address("198.51.100.7"))[-1]
        assert ev.kind == StreamKind.NEW_NEIGH and ev.neigh.lladdr == bytes.fromhex("020000000007")

        subprocess.run(["tc", "-n", netns, "qdisc", "add", "dev", "nsmon-br", "root", "handle", "1:", "htb"], check=True)
        ev = take_until(s, lambda e: e.tc and e.tc.kind == b"htb")[-1]
        assert ev.kind == StreamKind.NEW_QDISC and ev.tc.handle == 0x10000 and ev.tc.parent == 0xFFFFFFFF
        assert ev.tc.index == index and ev.tc.kind_str == "htb"

        # A tc chain is a message nsmon does not type: UNPARSED, with its bytes and the reason.
        subprocess.run(["tc", "-n", netns, "qdisc", "add", "dev", "nsmon-br", "clsact"], check=True)
        subprocess.run(["tc", "-n", netns, "chain", "add", "dev", "nsmon-br", "ingress", "chain", "7"], check=True)
        ev = take_until(s, lambda e: e.kind == StreamKind.UNPARSED)[-1]
        assert ev.reason and isinstance(ev.reason, str) and ev.key == "ns"
        assert nlmsg(ev.raw)[0] == len(ev.raw)

        ip("-n", netns, "route", "del", "203.0.113.0/24")
        take_until(s, lambda e: e.kind == StreamKind.DEL_ROUTE and e.route.dst == ipaddress.ip_address("203.0.113.0"))
        ip("-n", netns, "link", "del", "nsmon-br")
        take_until(s, lambda e: e.kind == StreamKind.DEL_LINK and e.link.name == b"nsmon-br")
        assert f"raw=<{len(ev.raw)} bytes>" in repr(ev)  # events print without their raw bytes
    assert thread_netns() == before


def test_link_names_are_bytes(netns):
    raw_name = b"nsmon-\xff"
    with nsmon.Stream() as s:
        s.add("ns", nsmon.named(netns), groups=Group.LINK)
        subprocess.run([b"ip", b"-n", netns.encode(), b"link", b"add", raw_name, b"type", b"bridge"], check=True)
        ev = take_until(s, lambda e: e.link and e.link.name.startswith(b"nsmon-"))[-1]
        assert ev.link.name == raw_name
        assert ev.link.name_str == "nsmon-\ufffd"


def test_keys_contains_len_identity_remove(make_netns):
    a, b = make_netns(), make_netns()
    with nsmon.Stream() as s:
        assert len(s) == 0 and "a" not in s
        s.add("a", nsmon.named(a))
        s.add("b", nsmon.path(f"/var/run/netns/{b}"), groups=Group.LINK | Group.IPV4_ROUTE)
        s.add("é-me")  # the caller's namespace; keys are any UTF-8
        assert len(s) == 3 and "a" in s and s.contains("é-me")
        assert s.identity("a") == nsmon.identify(nsmon.named(a))
        assert s.identity("é-me") == nsmon.identify()
        assert s.identity("nope") is None
        with pytest.raises(nsmon.NsmonError) as info:
            s.add("a", nsmon.named(b))  # key in use
        assert info.value.errno == errno.EINVAL
        assert s.remove("a") is True and s.remove("a") is False
        assert len(s) == 2 and "a" not in s
        ip("-n", b, "link", "add", "nsmon-br", "type", "bridge")
        ev = take_until(s, lambda e: e.link and e.link.name == b"nsmon-br")[-1]
        assert ev.key == "b"


def test_add_many_each_entry_on_its_own(make_netns):
    names = [make_netns() for _ in range(3)]
    with nsmon.Stream() as s:
        results = s.add_many(
            [(n, nsmon.named(n)) for n in names]
            + [("missing", nsmon.named("nsmon-t-missing")), (names[0], nsmon.current())],
            groups=Group.LINK,
        )
        assert results[:3] == [None, None, None]
        assert isinstance(results[3], FileNotFoundError) and isinstance(results[3], nsmon.NsmonError)
        assert results[4].errno == errno.EINVAL  # the key given twice
        assert len(s) == 3 and all(n in s for n in names)
        assert s.add_many({}) == []
        assert s.add_many({"host": None}) == [None]  # a mapping; None: the caller's namespace
        for n in names:
            ip("-n", n, "link", "add", "nsmon-br", "type", "bridge")
        seen = set()
        take_until(s, lambda e: (seen.add(e.key) if e.link and e.link.name == b"nsmon-br" else None) or seen == set(names))


def test_all_nsid_tags_events_with_the_source(make_netns):
    named, keyed = make_netns(), make_netns()
    with nsmon.Stream() as s:
        s.add_all_nsid("all", groups=Group.LINK)
        nsid = nsmon.set_nsid(nsmon.named(named))
        nsid2 = nsmon.set_nsid(nsmon.named(keyed))
        s.add("mine", nsmon.named(keyed), groups=Group.IPV4_ROUTE)  # another group: its own socket is silent
        ip("-n", named, "link", "add", "nsmon-br", "type", "bridge")
        ev = take_until(s, lambda e: e.link and e.link.name == b"nsmon-br" and e.nsid == nsid)[-1]
        assert ev.key == "all" and ev.netns_id is None  # a namespace the caller did not add
        ip("-n", keyed, "link", "add", "nsmon-br2", "type", "bridge")
        ev = take_until(s, lambda e: e.link and e.link.name == b"nsmon-br2")[-1]
        assert ev.nsid == nsid2 and ev.key == "mine"  # the key the caller added it under
        assert ev.netns_id == nsmon.identify(nsmon.named(keyed))


def test_keep_raw_off_and_batches(netns):
    with nsmon.Stream(keep_raw=False) as s:
        s.add("ns", nsmon.named(netns), groups=Group.IPV4_ROUTE)
        ip("-n", netns, "link", "add", "nsmon-br", "type", "bridge")
        ip("-n", netns, "link", "set", "nsmon-br", "up")
        ip("-n", netns, "addr", "add", "198.51.100.1/24", "dev", "nsmon-br")
        batch_file = f"/tmp/{netns}.batch"
        try:
            with open(batch_file, "w") as f:
                for i in range(200):
                    f.write(f"route add 203.0.113.{i}/32 via 198.51.100.2\n")
            ip("-n", netns, "-batch", batch_file)
        finally:
            os.unlink(batch_file)
        got = []
        while len([e for e in got if e.route and e.route.dst_len == 32 and e.route.gateway]) < 200:
            assert s.wait(10), f"only {len(got)} events"
            while True:
                batch = s.next_batch(50)
                assert len(batch) <= 50
                if not batch:
                    break
                got.extend(batch)
        assert all(e.raw is None for e in got)
        dsts = [e.route.dst for e in got if e.route and e.route.gateway]
        assert dsts == [ipaddress.ip_address(f"203.0.113.{i}") for i in range(200)]  # in order
        assert s.next() is None and s.next_batch() == []


def test_coalescing_stream_delivers(netns):
    with nsmon.Stream(coalescing=0.002) as s:
        s.add("ns", nsmon.named(netns), groups=Group.LINK)
        ip("-n", netns, "link", "add", "nsmon-br", "type", "bridge")
        take_until(s, lambda e: e.link and e.link.name == b"nsmon-br")


def test_a_removed_namespace_is_released(make_netns):
    # The stream's socket holds the namespace until the key is removed: once removed (and
    # the name deleted) the namespace goes, which the NSID subscriber sees.
    name = make_netns()
    nsid = nsmon.set_nsid(nsmon.named(name))
    with nsmon.NsidSubscriber() as sub, nsmon.Stream() as s:
        s.add("x", nsmon.named(name))
        ip("netns", "del", name)
        assert s.remove("x")
        take_until(sub, lambda e: e.kind == nsmon.NsidKind.DEL_NSID and e.nsid == nsid)


def _rtnl_rcvbufs(netns: str, pid: int):
    """The receive buffers (``ss``'s rb, what the kernel allows: twice what was asked for) of
    this process's rtnetlink sockets in ``netns``."""
    out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-f", "netlink", "-m", "-p"],
                         check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.split()[2:3] and line.split()[2].startswith("rtnl:") and f"/{pid}" in line:
            mem = line if "skmem:" in line else (lines[i + 1] if i + 1 < len(lines) else "")
            rb = mem.split("rb", 1)[1].split(",", 1)[0]
            found.append(int(rb))
    return found


def test_a_stream_asks_for_four_mib_unless_told(make_netns):
    default, small = make_netns("rb4"), make_netns("rb1")
    with nsmon.Stream() as s:
        s.add("default", nsmon.named(default), groups=Group.IPV4_ROUTE)
        s.add("small", nsmon.named(small), groups=Group.IPV4_ROUTE, receive_buffer=1 << 20)
        assert nsmon.stream.RECEIVE_BUFFER == 4 << 20
        # Each of the namespace's sockets (events, and the one dumps are asked on).
        assert set(_rtnl_rcvbufs(default, os.getpid())) == {8 << 20}
        assert set(_rtnl_rcvbufs(small, os.getpid())) == {2 << 20}
