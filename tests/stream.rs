//! The multi-namespace stream on real namespaces, links, addresses, routes, neighbours and tc.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use nsmon::nsid::assign_nsid;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{
    Error, Groups, NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber, Stream,
    StreamEvent, StreamOptions,
};

const T: Duration = Duration::from_secs(10);

/// Events until `done` or timeout.
fn collect(s: &mut Stream, done: impl FnMut(&[StreamEvent]) -> bool) -> Vec<StreamEvent> {
    collect_until(s, T, done)
}

/// The typed messages of `key`.
fn messages_of<'a>(events: &'a [StreamEvent], key: &str) -> Vec<&'a Rtnl> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Message {
                key: k, message, ..
            } if &**k == key => Some(message),
            _ => None,
        })
        .collect()
}

fn has(events: &[StreamEvent], key: &str, pred: impl Fn(&Rtnl) -> bool) -> bool {
    messages_of(events, key).into_iter().any(pred)
}

fn ip_n(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

fn tc_n(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("tc", &all);
}

fn addr(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn every_group_gives_typed_events_with_the_right_key() {
    require_root!();
    let ns = Netns::add("groups");
    let n = ns.name.as_str();
    let mut stream = Stream::new().unwrap();
    stream
        .add("k1", NetnsRef::Name(n), StreamOptions::new())
        .unwrap();

    ip_n(n, "link add nsmon-br0 type bridge");
    ip_n(
        n,
        "link set nsmon-br0 address 02:00:00:00:00:01 mtu 1400 up",
    );
    let ev = collect(&mut stream, |e| {
        has(
            e,
            "k1",
            |m| matches!(m, Rtnl::Link(Change::New, l) if l.mtu == Some(1400)),
        )
    });
    let Some(Rtnl::Link(_, br)) = messages_of(&ev, "k1").into_iter().find(
        |m| matches!(m, Rtnl::Link(_, l) if l.name.as_ref().is_some_and(|n| *n == "nsmon-br0")),
    ) else {
        panic!("no link event: {ev:?}")
    };
    assert_eq!(br.kind, Some("bridge".into()));
    let index = br.index;

    ip_n(n, "addr add 198.51.100.1/24 dev nsmon-br0");
    ip_n(n, "addr add 2001:db8::1/64 dev nsmon-br0 nodad");
    ip_n(n, "route add 203.0.113.0/24 via 198.51.100.254");
    ip_n(
        n,
        "neigh add 198.51.100.7 lladdr 02:00:00:00:00:07 dev nsmon-br0 nud permanent",
    );
    tc_n(n, "qdisc add dev nsmon-br0 root handle 1: htb");
    tc_n(
        n,
        "class add dev nsmon-br0 parent 1: classid 1:10 htb rate 1mbit",
    );
    tc_n(n, "filter add dev nsmon-br0 parent 1: protocol ip prio 1 u32 match ip dst 203.0.113.0/24 flowid 1:10");
    type Check = Box<dyn Fn(&Rtnl) -> bool>;
    let wanted: [(&str, Check); 7] = [
        (
            "ipv4 address",
            Box::new(move |m| {
                matches!(m, Rtnl::Address(Change::New, a)
            if a.index == index && a.address == addr("198.51.100.1") && a.prefix_len == 24)
            }),
        ),
        (
            "ipv6 address",
            Box::new(|m| {
                matches!(m, Rtnl::Address(Change::New, a)
            if a.address == addr("2001:db8::1") && a.prefix_len == 64)
            }),
        ),
        (
            "route",
            Box::new(move |m| {
                matches!(m, Rtnl::Route(Change::New, r)
            if r.dst == addr("203.0.113.0") && r.dst_len == 24
                && r.gateway == addr("198.51.100.254") && r.oif == Some(index))
            }),
        ),
        (
            "neighbour",
            Box::new(move |m| {
                matches!(m, Rtnl::Neighbour(Change::New, x)
            if x.address == addr("198.51.100.7") && x.state == 0x80 && x.index == index)
            }),
        ),
        (
            "qdisc",
            Box::new(move |m| {
                matches!(m, Rtnl::Qdisc(Change::New, q)
            if q.index == index && q.handle == 0x10000 && q.kind.as_ref().is_some_and(|n| *n == "htb"))
            }),
        ),
        (
            "class",
            Box::new(|m| matches!(m, Rtnl::Class(Change::New, c) if c.handle == 0x10010)),
        ),
        (
            "filter",
            Box::new(|m| {
                matches!(m, Rtnl::Filter(Change::New, f)
            if f.kind.as_ref().is_some_and(|n| *n == "u32"))
            }),
        ),
    ];
    let ev = collect(&mut stream, |e| wanted.iter().all(|(_, w)| has(e, "k1", w)));
    for (what, w) in &wanted {
        assert!(has(&ev, "k1", w), "no {what} event: {ev:?}");
    }
    // The raw bytes are the message the typed event came from.
    for e in &ev {
        if let StreamEvent::Message { message, raw, .. } = e {
            assert_eq!(&nsmon::rtnl::parse(raw).unwrap().unwrap(), message);
        }
    }

    ip_n(n, "route del 203.0.113.0/24");
    ip_n(n, "link del nsmon-br0");
    let ev = collect(&mut stream, |e| {
        has(
            e,
            "k1",
            |m| matches!(m, Rtnl::Link(Change::Deleted, l) if l.index == index),
        )
    });
    assert!(
        has(&ev, "k1", |m| matches!(m, Rtnl::Route(Change::Deleted, r)
        if r.dst == addr("203.0.113.0"))),
        "{ev:?}"
    );
}

#[test]
fn twenty_namespaces_each_tag_their_own_events() {
    require_root!();
    let set = NetnsSet::add("twenty", 20);
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    for (i, name) in set.names.iter().enumerate() {
        stream
            .add(&format!("ns{i}"), NetnsRef::Name(name), options)
            .unwrap();
        ip_n(name, "link set lo up");
    }
    assert_eq!(stream.len(), 20);
    routes_come_tagged_with_their_own_key(&mut stream, &set.names, "ns");
}

/// Namespace `i` of `names` gets route 203.0.113.i/32; waits for every one and checks that each
/// came tagged with key `{prefix}{i}`.
fn routes_come_tagged_with_their_own_key(stream: &mut Stream, names: &[String], prefix: &str) {
    for (i, name) in names.iter().enumerate() {
        ip_n(name, &format!("route add 203.0.113.{i}/32 dev lo"));
    }
    // (key, last octet) of each new 203.0.113.x/32 route.
    let ours = |e: &StreamEvent| match e {
        StreamEvent::Message {
            key,
            message: Rtnl::Route(Change::New, r),
            ..
        } if r.dst_len == 32 => match r.dst {
            Some(IpAddr::V4(a)) if a.octets()[..3] == [203, 0, 113] => {
                Some((key.to_string(), a.octets()[3]))
            }
            _ => None,
        },
        _ => None,
    };
    let ev = collect(stream, |e| e.iter().filter_map(ours).count() >= names.len());
    let seen: Vec<(String, u8)> = ev.iter().filter_map(ours).collect();
    assert_eq!(seen.len(), names.len(), "{seen:?}");
    for (key, octet) in seen {
        assert_eq!(
            key,
            format!("{prefix}{octet}"),
            "event tagged with another namespace"
        );
    }
}

#[test]
fn add_remove_and_lookups_between_polls() {
    require_root!();
    let a = Netns::add("ara");
    let mut stream = Stream::new().unwrap();
    assert!(stream.is_empty());
    assert!(!stream.wait(Some(Duration::from_millis(20))).unwrap());
    stream
        .add("a", NetnsRef::Name(&a.name), StreamOptions::new())
        .unwrap();
    stream
        .add(
            "here",
            NetnsRef::Current,
            StreamOptions::new().groups(Groups::LINK),
        )
        .unwrap();
    assert!(stream.contains("a") && stream.contains("here"));
    let mut keys: Vec<&str> = stream.keys().collect();
    keys.sort();
    assert_eq!(keys, ["a", "here"]);
    // Bad input changes nothing.
    let err = stream
        .add("a", NetnsRef::Current, StreamOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(
        stream
            .add("x", NetnsRef::Name("a/b"), StreamOptions::new())
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
    let err = stream
        .add(
            "x",
            NetnsRef::Path(Path::new("/etc/hostname")),
            StreamOptions::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not a network namespace"), "{err}");
    assert_eq!(stream.len(), 2);
    // Identity: the namespace itself, not its name.
    let first = stream.identity("a").unwrap();
    assert!(stream.remove("a"));
    assert!(!stream.remove("a"));
    assert!(!stream.contains("a"));
    let name = a.name.clone();
    a.delete();
    let again = Netns::adopt(name.clone());
    run("ip", &["netns", "add", &name]);
    stream
        .add("a", NetnsRef::Name(&again.name), StreamOptions::new())
        .unwrap();
    assert_ne!(
        stream.identity("a").unwrap(),
        first,
        "a recreated name must be a new namespace"
    );
    ip_n(&again.name, "link add nsmon-br9 type bridge");
    let ev = collect(&mut stream, |e| {
        has(
            e,
            "a",
            |m| matches!(m, Rtnl::Link(_, l) if l.name.as_ref().is_some_and(|n| *n == "nsmon-br9")),
        )
    });
    assert!(has(&ev, "a", |m| matches!(m, Rtnl::Link(..))));
}

#[test]
fn a_removed_namespace_is_released() {
    require_root!();
    let ns = Netns::add("release");
    let id = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap();
    let mut nsid = NsidSubscriber::new(NsidOptions::new()).unwrap();
    let mut stream = Stream::new().unwrap();
    stream
        .add("r", NetnsRef::Name(&ns.name), StreamOptions::new())
        .unwrap();
    ns.delete();
    // The stream's socket keeps the namespace alive: no DelNsid while it is monitored.
    let gone = |events: &[NsidEvent]| events.contains(&NsidEvent::DelNsid { nsid: id });
    let events = collect_for(&mut nsid, Duration::from_millis(300));
    assert!(!gone(&events), "destroyed while still monitored");
    assert!(stream.remove("r"));
    let events = collect_until(&mut nsid, T, gone);
    assert!(gone(&events), "not destroyed after remove: {events:?}");
}

#[test]
fn a_dump_lists_existing_objects_then_synced() {
    require_root!();
    let ns = Netns::add("dump");
    let n = ns.name.as_str();
    ip_n(n, "link add nsmon-br0 type bridge");
    ip_n(n, "link set nsmon-br0 up");
    ip_n(n, "addr add 198.51.100.1/24 dev nsmon-br0");
    ip_n(n, "route add 203.0.113.0/24 via 198.51.100.254");
    tc_n(n, "qdisc add dev nsmon-br0 root handle 1: htb");
    tc_n(
        n,
        "class add dev nsmon-br0 parent 1: classid 1:10 htb rate 1mbit",
    );
    tc_n(
        n,
        "filter add dev nsmon-br0 parent 1: protocol ip prio 1 u32 match ip dst 203.0.113.0/24 flowid 1:10",
    );
    tc_n(
        n,
        "filter add dev nsmon-br0 parent 1:10 protocol ip prio 2 u32 match ip dst 203.0.113.5/32 flowid 1:10",
    );
    tc_n(n, "qdisc add dev nsmon-br0 clsact");
    for hook in ["ingress", "egress"] {
        tc_n(
            n,
            &format!("filter add dev nsmon-br0 {hook} protocol ip prio 3 u32 match ip src 198.51.100.0/24 classid 1:1"),
        );
    }
    let mut stream = Stream::new().unwrap();
    stream
        .add("d", NetnsRef::Name(n), StreamOptions::new().dump(true))
        .unwrap();
    let ev = collect(&mut stream, |e| {
        e.iter().any(|e| matches!(e, StreamEvent::Synced { .. }))
    });
    let synced_at = ev
        .iter()
        .position(|e| matches!(e, StreamEvent::Synced { key } if &**key == "d"))
        .expect("no Synced");
    let before = &ev[..synced_at];
    // Classes and filters have no namespace-wide dump; the stream lists them per interface and
    // parent: on the qdisc, on a class, and on both clsact hooks.
    type Check = (&'static str, Box<dyn Fn(&Rtnl) -> bool>);
    let listed: [Check; 6] = [
        (
            "lo",
            Box::new(
                |m| matches!(m, Rtnl::Link(_, l) if l.name.as_ref().is_some_and(|n| *n == "lo")),
            ),
        ),
        (
            "the bridge",
            Box::new(
                |m| matches!(m, Rtnl::Link(_, l) if l.name.as_ref().is_some_and(|n| *n == "nsmon-br0")),
            ),
        ),
        (
            "the address",
            Box::new(|m| matches!(m, Rtnl::Address(_, a) if a.address == addr("198.51.100.1"))),
        ),
        (
            "the route",
            Box::new(|m| matches!(m, Rtnl::Route(_, r) if r.dst == addr("203.0.113.0"))),
        ),
        (
            "the qdisc",
            Box::new(
                |m| matches!(m, Rtnl::Qdisc(_, q) if q.kind.as_ref().is_some_and(|n| *n == "htb")),
            ),
        ),
        (
            "the class",
            Box::new(
                |m| matches!(m, Rtnl::Class(_, c) if c.handle == 0x1_0010 && c.kind.as_ref().is_some_and(|n| *n == "htb")),
            ),
        ),
    ];
    for (what, check) in &listed {
        assert!(has(before, "d", check), "the dump lacks {what}: {before:?}");
    }
    for parent in [0x1_0000, 0x1_0010, 0xffff_fff2, 0xffff_fff3] {
        assert!(
            has(before, "d", |m| matches!(m, Rtnl::Filter(_, f)
                if f.parent == parent && f.kind.as_ref().is_some_and(|n| *n == "u32"))),
            "no filter under {parent:#x}: {before:?}"
        );
    }
    // Only the groups asked for.
    let mut links_only = Stream::new().unwrap();
    links_only
        .add(
            "l",
            NetnsRef::Name(n),
            StreamOptions::new().dump(true).groups(Groups::LINK),
        )
        .unwrap();
    let ev = collect(&mut links_only, |e| {
        e.iter().any(|e| matches!(e, StreamEvent::Synced { .. }))
    });
    assert!(
        messages_of(&ev, "l")
            .iter()
            .all(|m| matches!(m, Rtnl::Link(..))),
        "{ev:?}"
    );
    assert!(messages_of(&ev, "l").len() >= 2);
}

#[test]
fn an_overrun_is_reported_then_a_resync_and_the_stream_goes_on() {
    require_root!();
    let ns = Netns::add("overrun");
    let n = ns.name.as_str();
    ip_n(n, "link set lo up");
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new()
        .groups(Groups::IPV4_ROUTE)
        .receive_buffer(1)
        .resync_on_overrun(true);
    stream.add("o", NetnsRef::Name(n), options).unwrap();
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("route add 198.51.{}.{}/32 dev lo", 100 + i / 250, i % 250))
        .collect();
    let mut child = std::process::Command::new("ip")
        .args(["-n", n, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for line in &lines {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    let ev = collect(&mut stream, |e| {
        let overrun = e
            .iter()
            .position(|e| matches!(e, StreamEvent::Overrun { .. }));
        overrun.is_some_and(|at| {
            e[at..]
                .iter()
                .any(|e| matches!(e, StreamEvent::Synced { .. }))
        })
    });
    let at = ev
        .iter()
        .position(|e| matches!(e, StreamEvent::Overrun { key, .. } if &**key == "o"))
        .expect("no Overrun");
    assert!(
        ev[at..]
            .iter()
            .any(|e| matches!(e, StreamEvent::Synced { key } if &**key == "o")),
        "no resync"
    );
    // No lasting loss: after the last overrun, the resync lists every route the burst made
    // (read on until its Synced, then check the routes dumped since the last Overrun).
    let mut ev = ev;
    let settled = |ev: &[StreamEvent]| {
        let last = ev
            .iter()
            .rposition(|e| matches!(e, StreamEvent::Overrun { .. }))
            .unwrap_or(0);
        ev[last..]
            .iter()
            .any(|e| matches!(e, StreamEvent::Synced { .. }))
    };
    while !settled(&ev) {
        ev.extend(collect(&mut stream, |e| {
            e.iter().any(|e| matches!(e, StreamEvent::Synced { .. }))
        }));
    }
    ev.extend(collect_for(&mut stream, Duration::from_millis(300)));
    let last = ev
        .iter()
        .rposition(|e| matches!(e, StreamEvent::Overrun { .. }))
        .unwrap();
    let listed: std::collections::HashSet<IpAddr> = messages_of(&ev[last..], "o")
        .into_iter()
        .filter_map(|m| match m {
            Rtnl::Route(Change::New, r) if r.dst_len == 32 && r.table == 254 => r.dst,
            _ => None,
        })
        .collect();
    let made: Vec<IpAddr> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .map(|a| a.trim_end_matches("/32").parse().unwrap())
        .collect();
    let missing = made.iter().filter(|a| !listed.contains(a)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} routes not in the resync",
        made.len()
    );
    ip_n(n, "route add 203.0.113.77/32 dev lo");
    let ev = collect(&mut stream, |e| {
        has(
            e,
            "o",
            |m| matches!(m, Rtnl::Route(_, r) if r.dst == addr("203.0.113.77")),
        )
    });
    assert!(has(&ev, "o", |m| matches!(m, Rtnl::Route(..))));
}

#[test]
fn a_forged_message_unicast_to_a_stream_socket_is_ignored() {
    require_root!();
    let mut stream = Stream::new().unwrap();
    stream
        .add(
            "here",
            NetnsRef::Current,
            StreamOptions::new().groups(Groups::LINK),
        )
        .unwrap();
    // This process's rtnetlink sockets in RTNLGRP_LINK (group 1 = bit 0): ours, and maybe
    // another test's, which must ignore the forgery too. Unicast only: no other program hears.
    let ports = our_netlink_ports(1);
    assert!(
        !ports.is_empty(),
        "the stream's socket is not in /proc/net/netlink"
    );
    let mut forged = Vec::new();
    forged.extend_from_slice(&48u32.to_ne_bytes()); // 16 header + 16 ifinfomsg + 16 attr
    forged.extend_from_slice(&16u16.to_ne_bytes()); // RTM_NEWLINK
    forged.extend_from_slice(&[0; 10]);
    let mut ifinfo = [0u8; 16];
    ifinfo[4..8].copy_from_slice(&4242u32.to_ne_bytes());
    forged.extend_from_slice(&ifinfo);
    forged.extend_from_slice(&16u16.to_ne_bytes());
    forged.extend_from_slice(&3u16.to_ne_bytes()); // IFLA_IFNAME
    forged.extend_from_slice(b"nsmon-forged\0\0\0\0");
    for port in ports {
        send_from_userspace(&forged, port);
    }
    let mut pfd = libc::pollfd {
        fd: stream.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 5000) },
        1,
        "the forged message never arrived"
    );
    let events = collect_for(&mut stream, Duration::from_millis(200));
    assert!(
        !has(
            &events,
            "here",
            |m| matches!(m, Rtnl::Link(_, l) if l.index == 4242)
        ),
        "forged message accepted: {events:?}"
    );
}

/// This process's sockets that live in namespace `ns` (socket inodes are global; the kernel's
/// per-namespace socket list is read by a process inside `ns`).
fn our_sockets_in(ns: &str) -> Vec<i32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/netlink"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let inodes: Vec<&str> = listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9))
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            let link = link.to_string_lossy().to_string();
            let inode = link
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_string();
            inodes
                .contains(&inode.as_str())
                .then(|| e.file_name().to_str()?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Makes the kernel cut every datagram for `fd` to 12 bytes (a classic BPF socket filter
/// returning 12): less than a netlink header.
fn cut_datagrams(fd: i32) {
    let mut program = [libc::sock_filter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: 12,
    }];
    let fprog = libc::sock_fprog {
        len: 1,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at a live one-instruction program for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            std::mem::size_of_val(&fprog) as u32,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

fn uncut_datagrams(fd: i32) {
    let zero = 0i32;
    // SAFETY: SO_DETACH_FILTER reads an int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DETACH_FILTER,
            (&raw const zero).cast(),
            4,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

fn new_link_named(events: &[StreamEvent], key: &str, name: &str) -> bool {
    has(
        events,
        key,
        |m| matches!(m, Rtnl::Link(Change::New, l) if l.name.as_ref().is_some_and(|n| *n == name)),
    )
}

#[test]
fn a_datagram_cut_short_is_reported_and_the_namespace_goes_on() {
    require_root!();
    let ns = Netns::add("cut");
    let n = ns.name.as_str();
    let mut stream = Stream::new().unwrap();
    let links = StreamOptions::new().groups(Groups::LINK);
    stream.add("cut", NetnsRef::Name(n), links).unwrap();
    let sockets = our_sockets_in(n);
    assert_eq!(sockets.len(), 1, "one stream socket in {n}: {sockets:?}");
    cut_datagrams(sockets[0]);

    ip_n(n, "link add nsmon-cut type bridge");
    let ev = collect(&mut stream, |e| {
        e.iter()
            .any(|e| matches!(e, StreamEvent::Unparsed { key, .. } if &**key == "cut"))
    });
    let (reason, raw) = ev
        .iter()
        .find_map(|e| match e {
            StreamEvent::Unparsed {
                key, reason, raw, ..
            } if &**key == "cut" => Some((reason.clone(), raw.clone())),
            _ => None,
        })
        .expect("no Unparsed for the cut datagram");
    assert!(reason.contains("12 bytes left"), "unclear reason: {reason}");
    assert_eq!(raw.len(), 12, "the bytes received are given");
    assert!(
        !ev.iter().any(|e| matches!(e, StreamEvent::Error { .. })),
        "{ev:?}"
    );
    assert!(
        stream.contains("cut"),
        "one bad datagram ended the namespace"
    );

    uncut_datagrams(sockets[0]);
    ip_n(n, "link add nsmon-whole type bridge");
    let ev = collect(&mut stream, |e| new_link_named(e, "cut", "nsmon-whole"));
    assert!(new_link_named(&ev, "cut", "nsmon-whole"), "{ev:?}");
}

#[test]
fn one_namespace_failing_leaves_the_others_running() {
    require_root!();
    let broken = Netns::add("broken");
    let healthy = Netns::add("healthy");
    let (b, h) = (broken.name.as_str(), healthy.name.as_str());
    let mut stream = Stream::new().unwrap();
    let links = StreamOptions::new().groups(Groups::LINK);
    stream.add("broken", NetnsRef::Name(b), links).unwrap();
    stream.add("healthy", NetnsRef::Name(h), links).unwrap();
    let sockets = our_sockets_in(b);
    assert_eq!(sockets.len(), 1, "one stream socket in {b}: {sockets:?}");
    // The socket itself fails: its fd number now names a pipe (receives fail with ENOTSOCK),
    // while a duplicate keeps the netlink socket, and so its readiness, alive.
    let fd = sockets[0];
    let mut pipe = [0; 2];
    // SAFETY: plain fd calls on fds this test owns or deliberately takes over.
    let kept = unsafe {
        assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
        let kept = libc::dup(fd);
        assert!(kept >= 0);
        assert_eq!(libc::dup2(pipe[0], fd), fd);
        libc::close(pipe[0]);
        kept
    };

    ip_n(b, "link add nsmon-cut type bridge");
    let ev = collect(&mut stream, |e| {
        e.iter()
            .any(|e| matches!(e, StreamEvent::Error { key, .. } if &**key == "broken"))
    });
    // SAFETY: closing the fds this test made.
    unsafe {
        libc::close(kept);
        libc::close(pipe[1]);
    }
    let error = ev
        .iter()
        .find_map(|e| match e {
            StreamEvent::Error { key, error } if &**key == "broken" => Some(error.to_string()),
            _ => None,
        })
        .expect("no Error for the broken namespace");
    assert!(error.contains("recvmsg"), "unclear error: {error}");
    assert!(!stream.contains("broken"), "a failed namespace stays in");
    assert!(stream.contains("healthy"));
    assert_eq!(stream.len(), 1);
    // SAFETY: F_GETFD only asks whether the fd is open.
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_GETFD) },
        -1,
        "the failed namespace's fd was not closed"
    );

    ip_n(h, "link add nsmon-ok type bridge");
    let ev = collect(&mut stream, |e| new_link_named(e, "healthy", "nsmon-ok"));
    assert!(new_link_named(&ev, "healthy", "nsmon-ok"), "{ev:?}");
    assert!(
        !ev.iter().any(|e| matches!(e, StreamEvent::Error { .. })),
        "{ev:?}"
    );
}

/// The all-nsid event carrying a new link `name`, if any: (key, nsid).
fn all_nsid_link(events: &[StreamEvent], name: &str) -> Option<(String, Option<i32>)> {
    events.iter().find_map(|e| match e {
        StreamEvent::Message {
            key,
            nsid,
            message: Rtnl::Link(Change::New, l),
            ..
        } if l.name.as_ref().is_some_and(|n| *n == name) => Some((key.to_string(), *nsid)),
        _ => None,
    })
}

#[test]
fn an_all_nsid_target_hears_every_namespace_with_an_id() {
    require_root!();
    let added = Netns::add("alla");
    let stranger = Netns::add("alls");
    let unnumbered = Netns::add("allu");
    let later = Netns::add("alll");
    let id_added = assign_nsid(NetnsRef::Name(&added.name), NsidRequest::Auto).unwrap() as i32;
    let id_stranger =
        assign_nsid(NetnsRef::Name(&stranger.name), NsidRequest::Auto).unwrap() as i32;
    let mut stream = Stream::new().unwrap();
    // Only to map keys: these targets join no group themselves.
    let quiet = StreamOptions::new().groups(Groups::NONE);
    stream
        .add("added", NetnsRef::Name(&added.name), quiet)
        .unwrap();
    let links = StreamOptions::new().groups(Groups::LINK);
    stream
        .add_all_nsid("all", NetnsRef::Current, links)
        .unwrap();
    stream
        .add("later", NetnsRef::Name(&later.name), quiet)
        .unwrap();
    assert_eq!(stream.len(), 3);
    assert!(stream
        .add_all_nsid("all", NetnsRef::Current, links)
        .is_err());

    // A namespace the caller added: its key, and its id.
    ip_n(&added.name, "link add nsmon-alla type bridge");
    // One it did not: the all-nsid key, and its id.
    ip_n(&stranger.name, "link add nsmon-alls type bridge");
    // One without an id: not heard. Changed before the marker, so it would arrive before it.
    ip_n(&unnumbered.name, "link add nsmon-allu type bridge");
    ip_n(&stranger.name, "link add nsmon-mark type bridge");
    let ev = collect(&mut stream, |e| all_nsid_link(e, "nsmon-mark").is_some());
    assert_eq!(
        all_nsid_link(&ev, "nsmon-alla"),
        Some(("added".into(), Some(id_added)))
    );
    assert_eq!(
        all_nsid_link(&ev, "nsmon-alls"),
        Some(("all".into(), Some(id_stranger)))
    );
    assert_eq!(all_nsid_link(&ev, "nsmon-allu"), None, "{ev:?}");

    // An id assigned after the target was added still maps to the caller's key.
    let id_later = assign_nsid(NetnsRef::Name(&later.name), NsidRequest::Auto).unwrap() as i32;
    ip_n(&later.name, "link add nsmon-alll type bridge");
    let ev = collect(&mut stream, |e| all_nsid_link(e, "nsmon-alll").is_some());
    assert_eq!(
        all_nsid_link(&ev, "nsmon-alll"),
        Some(("later".into(), Some(id_later)))
    );

    // After remove, that namespace's events keep its id but no longer its key.
    assert!(stream.remove("added"));
    ip_n(&added.name, "link add nsmon-allb type bridge");
    let ev = collect(&mut stream, |e| all_nsid_link(e, "nsmon-allb").is_some());
    assert_eq!(
        all_nsid_link(&ev, "nsmon-allb"),
        Some(("all".into(), Some(id_added)))
    );
}

fn thread_namespace() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

#[test]
fn add_many_adds_each_entry_on_its_own_and_tags_every_event() {
    require_root!();
    let set = NetnsSet::add("many", 40);
    let mut stream = Stream::new().unwrap();
    stream
        .add(
            "taken",
            NetnsRef::Current,
            StreamOptions::new().groups(Groups::NONE),
        )
        .unwrap();
    let keys: Vec<String> = (0..set.names.len()).map(|i| format!("m{i}")).collect();
    let mut batch: Vec<(&str, NetnsRef<'_>)> = keys
        .iter()
        .zip(&set.names)
        .map(|(k, n)| (k.as_str(), NetnsRef::Name(n)))
        .collect();
    // Entries that must fail, each alone, between good ones.
    batch.insert(3, ("taken", NetnsRef::Name(&set.names[0])));
    batch.insert(7, ("m1", NetnsRef::Name(&set.names[2])));
    batch.insert(11, ("bad", NetnsRef::Name("a/b")));
    batch.insert(13, ("gone", NetnsRef::Name("nsmon-t-no-such-namespace")));
    batch.insert(17, ("here", NetnsRef::Current));
    let before = thread_namespace();
    let results = stream.add_many(&batch, StreamOptions::new().groups(Groups::IPV4_ROUTE));
    assert_eq!(
        thread_namespace(),
        before,
        "the caller's thread changed namespace"
    );
    assert_eq!(results.len(), batch.len());
    for (i, result) in results.iter().enumerate() {
        match i {
            3 | 7 | 11 => assert_eq!(result.as_ref().unwrap_err().errno(), libc::EINVAL),
            13 => assert_eq!(result.as_ref().unwrap_err().errno(), libc::ENOENT),
            _ => assert!(result.is_ok(), "entry {i}: {result:?}"),
        }
    }
    assert_eq!(stream.len(), 1 + set.names.len() + 1);
    assert!(stream.contains("here") && !stream.contains("bad"));
    assert_ne!(stream.identity("m0"), stream.identity("m1"));

    for name in &set.names {
        ip_n(name, "link set lo up");
    }
    routes_come_tagged_with_their_own_key(&mut stream, &set.names, "m");
    assert!(stream.add_many(&[], StreamOptions::new()).is_empty());
}

fn receive_buffer_of(fd: i32) -> usize {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    value as usize
}

#[test]
fn sockets_get_the_default_receive_buffer_unless_told_otherwise() {
    require_root!();
    for (options, check) in [
        (
            StreamOptions::new(),
            (|b| b >= nsmon::DEFAULT_RECEIVE_BUFFER) as fn(usize) -> bool,
        ),
        (StreamOptions::new().receive_buffer(0), |b| {
            b < nsmon::DEFAULT_RECEIVE_BUFFER
        }),
        (StreamOptions::new().receive_buffer(4 << 20), |b| {
            b >= 4 << 20
        }),
    ] {
        let ns = Netns::add("rcvbuf");
        let mut stream = Stream::new().unwrap();
        stream.add("r", NetnsRef::Name(&ns.name), options).unwrap();
        let sockets = our_sockets_in(&ns.name);
        assert_eq!(sockets.len(), 1);
        let granted = receive_buffer_of(sockets[0]);
        assert!(check(granted), "{options:?}: SO_RCVBUF {granted}");
    }
}

#[test]
fn next_batch_takes_up_to_its_limit_in_order_and_loses_nothing() {
    require_root!();
    let ns = Netns::add("batch");
    ip_n(&ns.name, "link set lo up");
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    stream.add("b", NetnsRef::Name(&ns.name), options).unwrap();
    let lines: Vec<String> = (1..=30)
        .map(|i| format!("route add 198.51.100.{i}/32 dev lo"))
        .collect();
    ip_batch_in(&ns.name, &lines);
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    let deadline = std::time::Instant::now() + T;
    let host_routes = |events: &[StreamEvent]| -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Message {
                    message: Rtnl::Route(Change::New, r),
                    ..
                } if r.dst_len == 32 && r.table == 254 => match r.dst {
                    Some(IpAddr::V4(a)) => Some(a.octets()[3]),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    while host_routes(&out).len() < 30 && std::time::Instant::now() < deadline {
        let before = out.len();
        let got = stream.next_batch(&mut out, 7).unwrap();
        assert_eq!(
            out.len() - before,
            got,
            "the count is not what was appended"
        );
        assert!(got <= 7, "a batch of {got} exceeds its limit");
        if got == 0 {
            stream.wait(Some(T)).unwrap();
        } else {
            sizes.push(got);
        }
    }
    assert_eq!(host_routes(&out), (1..=30).collect::<Vec<u8>>());
    assert!(sizes.contains(&7), "no batch was full: {sizes:?}");
    assert_eq!(stream.next_batch(&mut out, 0).unwrap(), 0);
    ns.delete();
}

#[test]
fn messages_queued_before_a_remove_are_still_delivered_with_their_key() {
    require_root!();
    let ns = Netns::add("rmqueued");
    ip_n(&ns.name, "link set lo up");
    // A dump's reply datagram holds many messages: taking one leaves the others queued.
    let lines: Vec<String> = (1..=40)
        .map(|i| format!("route add 198.51.100.{i}/32 dev lo"))
        .collect();
    ip_batch_in(&ns.name, &lines);
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE).dump(true);
    stream
        .add("gone", NetnsRef::Name(&ns.name), options)
        .unwrap();
    stream.wait(Some(T)).unwrap();
    let first = stream.next().unwrap().expect("a dumped route");
    assert!(matches!(&first, StreamEvent::Message { key, .. } if &**key == "gone"));
    assert!(stream.remove("gone"));
    let rest = collect_for(&mut stream, std::time::Duration::from_millis(200));
    let keyed = rest
        .iter()
        .filter(|e| matches!(e, StreamEvent::Message { key, .. } if &**key == "gone"))
        .count();
    assert!(keyed > 0, "the queued messages went with the key: {rest:?}");
    assert!(
        rest.iter()
            .all(|e| matches!(e, StreamEvent::Message { .. })),
        "{rest:?}"
    );
    ns.delete();
}
