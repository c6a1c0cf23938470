//! The rtnetlink parsers on real kernel bytes: objects made with `ip` and `tc` in a fresh
//! namespace are dumped over a plain netlink socket (the test's own, not nsmon's) and every
//! message must parse, with the fields iproute2 was told to set.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;

use common::*;
use nsmon::rtnl::{self, Change, Rtnl};

const RTM_GETLINK: u16 = 18;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const RTM_GETNEIGH: u16 = 30;
const RTM_GETQDISC: u16 = 38;
const RTM_GETTCLASS: u16 = 42;
const RTM_GETTFILTER: u16 = 46;

/// Dumps `kind` inside namespace `ns` and returns every parsed message.
fn dump(ns: &str, kind: u16, body: &[u8]) -> Vec<Rtnl> {
    let nsfile = File::open(format!("/var/run/netns/{ns}")).unwrap();
    let raw_ns = nsfile.as_raw_fd();
    let mut request = Vec::new();
    request.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    request.extend_from_slice(&kind.to_ne_bytes());
    request.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(body);
    let datagrams = std::thread::spawn(move || {
        // SAFETY: setns on this helper thread only; plain socket calls on a socket it owns.
        unsafe {
            assert_eq!(libc::setns(raw_ns, libc::CLONE_NEWNET), 0);
            let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            assert_eq!(
                libc::send(fd, request.as_ptr().cast(), request.len(), 0),
                request.len() as isize
            );
            let mut out = Vec::new();
            'recv: loop {
                let mut buf = vec![0u8; 65536];
                let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                assert!(n > 0, "{}", std::io::Error::last_os_error());
                buf.truncate(n as usize);
                // The dump ends with NLMSG_DONE (type 3) or an NLMSG_ERROR (type 2).
                let mut at = 0;
                while at + 16 <= buf.len() {
                    let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                    let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
                    if kind == 3 || kind == 2 || len < 16 {
                        out.push(buf);
                        break 'recv;
                    }
                    at += (len + 3) & !3;
                }
                out.push(buf);
            }
            libc::close(fd);
            out
        }
    })
    .join()
    .unwrap();
    let mut parsed = Vec::new();
    for datagram in &datagrams {
        for message in rtnl::messages(datagram) {
            if let Some(object) = rtnl::parse(message.unwrap()).unwrap() {
                parsed.push(object);
            }
        }
    }
    parsed
}

fn ip_n(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

#[test]
fn real_kernel_messages_parse_with_the_right_fields() {
    require_root!();
    let ns = Netns::add("rtnl");
    let n = ns.name.as_str();
    ip_n(n, "link add nsmon-br0 type bridge");
    ip_n(n, "link add nsmon-port0 type veth peer name nsmon-port1");
    ip_n(n, "link set nsmon-port0 master nsmon-br0");
    // After the port: a bridge takes its ports' MTU when one joins.
    ip_n(
        n,
        "link set nsmon-br0 address 02:00:00:00:00:01 mtu 1400 up",
    );
    ip_n(
        n,
        "addr add 198.51.100.1/24 dev nsmon-br0 label nsmon-br0:a",
    );
    ip_n(n, "addr add 2001:db8::1/64 dev nsmon-br0 nodad");
    ip_n(
        n,
        "route add 203.0.113.0/24 via 198.51.100.254 table 1000 proto static",
    );
    ip_n(
        n,
        "neigh add 198.51.100.7 lladdr 02:00:00:00:00:07 dev nsmon-br0 nud permanent",
    );
    run(
        "tc",
        &[
            "-n",
            n,
            "qdisc",
            "add",
            "dev",
            "nsmon-br0",
            "root",
            "handle",
            "1:",
            "htb",
        ],
    );
    run(
        "tc",
        &[
            "-n",
            n,
            "class",
            "add",
            "dev",
            "nsmon-br0",
            "parent",
            "1:",
            "classid",
            "1:10",
            "htb",
            "rate",
            "1mbit",
        ],
    );
    run(
        "tc",
        &[
            "-n",
            n,
            "filter",
            "add",
            "dev",
            "nsmon-br0",
            "parent",
            "1:",
            "protocol",
            "ip",
            "prio",
            "1",
            "u32",
            "match",
            "ip",
            "dst",
            "203.0.113.0/24",
            "flowid",
            "1:10",
        ],
    );

    let links = dump(n, RTM_GETLINK, &[0; 16]);
    let link = |name: &str| {
        links
            .iter()
            .find_map(|l| match l {
                Rtnl::Link(Change::New, l) if l.name.as_ref().is_some_and(|n| *n == name) => {
                    Some(l.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no link {name} in {links:?}"))
    };
    let br = link("nsmon-br0");
    assert_eq!(br.mtu, Some(1400));
    assert_eq!(br.kind, Some("bridge".into()));
    assert_eq!(br.mac, Some(vec![2, 0, 0, 0, 0, 1]));
    assert!(br.flags & libc::IFF_UP as u32 != 0);
    let port = link("nsmon-port0");
    assert_eq!(port.master, Some(br.index));
    assert_eq!(port.kind, Some("veth".into()));
    assert_eq!(link("lo").index, 1);

    let addrs = dump(n, RTM_GETADDR, &[0; 8]);
    assert!(
        addrs
            .iter()
            .any(|a| matches!(a, Rtnl::Address(Change::New, a)
        if a.index == br.index && a.prefix_len == 24
            && a.address == Some("198.51.100.1".parse().unwrap())
            && a.label.as_ref().is_some_and(|n| *n == "nsmon-br0:a"))),
        "{addrs:?}"
    );
    assert!(
        addrs.iter().any(|a| matches!(a, Rtnl::Address(_, a)
        if a.address == Some("2001:db8::1".parse().unwrap()) && a.prefix_len == 64)),
        "{addrs:?}"
    );

    let routes = dump(n, RTM_GETROUTE, &[0; 12]);
    assert!(
        routes
            .iter()
            .any(|r| matches!(r, Rtnl::Route(Change::New, r)
        if r.table == 1000 && r.dst == Some("203.0.113.0".parse().unwrap()) && r.dst_len == 24
            && r.gateway == Some("198.51.100.254".parse().unwrap())
            && r.oif == Some(br.index) && r.protocol == 4 && r.kind == 1)),
        "{routes:?}"
    );

    let neighbours = dump(n, RTM_GETNEIGH, &[0; 12]);
    assert!(
        neighbours.iter().any(|x| matches!(x, Rtnl::Neighbour(_, x)
        if x.address == Some("198.51.100.7".parse().unwrap())
            && x.lladdr == Some(vec![2, 0, 0, 0, 0, 7]) && x.state == 0x80
            && x.index == br.index)),
        "{neighbours:?}"
    );

    let mut tcm = vec![0u8; 20];
    tcm[4..8].copy_from_slice(&br.index.to_ne_bytes());
    let qdiscs = dump(n, RTM_GETQDISC, &tcm);
    assert!(
        qdiscs.iter().any(|q| matches!(q, Rtnl::Qdisc(_, q)
        if q.index == br.index && q.handle == 0x0001_0000 && q.parent == u32::MAX
            && q.kind.as_ref().is_some_and(|n| *n == "htb"))),
        "{qdiscs:?}"
    );
    let classes = dump(n, RTM_GETTCLASS, &tcm);
    assert!(
        classes.iter().any(|c| matches!(c, Rtnl::Class(_, c)
        if c.handle == 0x0001_0010 && c.kind.as_ref().is_some_and(|n| *n == "htb"))),
        "{classes:?}"
    );
    let mut filter_tcm = tcm.clone();
    filter_tcm[12..16].copy_from_slice(&0x0001_0000u32.to_ne_bytes());
    let filters = dump(n, RTM_GETTFILTER, &filter_tcm);
    assert!(
        filters.iter().any(|f| matches!(f, Rtnl::Filter(_, f)
        if f.index == br.index && f.kind.as_ref().is_some_and(|n| *n == "u32"))),
        "{filters:?}"
    );
}
