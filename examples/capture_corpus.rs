//! Captures real kernel messages into the fuzzers' seed corpus (`fuzz/corpus/TARGET/`), as
//! root: `cargo run --example capture_corpus [-- DIR]`.
//!
//! It makes a namespace with links, addresses, routes, neighbours and tc objects, then records
//! what the kernel sends about them: every message a stream dump and live changes deliver
//! (rtnetlink_message), whole dump datagrams with their NLMSG_DONE and an NLMSG_ERROR with its
//! extended-ack text (netlink_datagram), RTM_NEWNSID payloads (nsid_payload), and the control
//! data of a datagram received with NETLINK_LISTEN_ALL_NSID (listen_all_nsid_control). The
//! inotify and name seeds are written from real inotify masks and names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

fn ip(args: &str) {
    let ok = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("ip")
        .success();
    assert!(ok, "ip {args}");
}

fn tc(ns: &str, args: &str) {
    let ok = Command::new("tc")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .status()
        .expect("tc")
        .success();
    assert!(ok, "tc {args}");
}

struct Corpus(PathBuf);

impl Corpus {
    fn save(&self, target: &str, bytes: &[u8]) {
        let dir = self.0.join(target);
        fs::create_dir_all(&dir).unwrap();
        // Named by content, so that a second capture adds only what is new.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        fs::write(dir.join(format!("{hash:016x}")), bytes).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("inside") {
        return inside(&Corpus(PathBuf::from(&args[1])));
    }
    let dir = PathBuf::from(args.first().map_or("fuzz/corpus", String::as_str));
    let corpus = Corpus(dir.clone());
    let ns = format!("nsmon-cap-{}", std::process::id());
    let peer = format!("{ns}-peer");
    ip(&format!("netns add {ns}"));
    ip(&format!("netns add {peer}"));
    let result = std::panic::catch_unwind(|| capture(&corpus, &ns, &peer, &dir));
    ip(&format!("netns del {ns}"));
    ip(&format!("netns del {peer}"));
    result.unwrap();
}

fn capture(corpus: &Corpus, ns: &str, peer: &str, dir: &Path) {
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().dump(true).groups(Groups::ALL);
    stream.add("cap", NetnsRef::Name(ns), options).unwrap();
    let n = |args: &str| ip(&format!("-n {ns} {args}"));
    n("link set lo up");
    n("link add nsmon-br0 type bridge");
    n("link set nsmon-br0 up");
    n("link add nsmon-v0 type veth peer name nsmon-v1");
    n("link set nsmon-v0 master nsmon-br0");
    n("link set nsmon-v0 up");
    n("link set nsmon-v1 up");
    n("link add nsmon-vx0 type vxlan id 42 dstport 4789 local 198.51.100.1");
    n("addr add 198.51.100.1/24 dev nsmon-br0 label nsmon-br0:a");
    n("addr add 2001:db8::1/64 dev nsmon-br0");
    n("route add 203.0.113.0/24 via 198.51.100.254");
    n("route add 2001:db8:1::/48 via 2001:db8::fe");
    n("route add blackhole 203.0.113.128/25 table 100");
    n("neigh add 198.51.100.7 lladdr 02:00:00:00:00:07 dev nsmon-br0");
    n("neigh add 2001:db8::7 lladdr 02:00:00:00:00:08 dev nsmon-br0");
    tc(ns, "qdisc add dev nsmon-br0 root handle 1: htb");
    tc(
        ns,
        "class add dev nsmon-br0 parent 1: classid 1:10 htb rate 1mbit",
    );
    tc(ns, "filter add dev nsmon-br0 parent 1: protocol ip prio 1 u32 match ip dst 203.0.113.0/24 flowid 1:10");
    tc(ns, "qdisc add dev nsmon-v0 clsact");
    tc(ns, "filter add dev nsmon-v0 ingress protocol ip prio 3 u32 match ip src 198.51.100.0/24 classid 1:1");
    n("route del 203.0.113.0/24");
    n("addr del 198.51.100.1/24 dev nsmon-br0");
    tc(ns, "qdisc del dev nsmon-br0 root");
    n("link del nsmon-vx0");
    // Let every change arrive, then save each message.
    let mut saved = 0;
    loop {
        if !stream.wait(Some(Duration::from_millis(500))).unwrap() {
            break;
        }
        while let Some(event) = stream.next().unwrap() {
            if let StreamEvent::Message { raw, .. } = event {
                corpus.save("rtnetlink_message", &raw);
                saved += 1;
            }
        }
    }
    eprintln!("rtnetlink_message: {saved} messages");

    // Datagrams, NSID payloads and control data, from raw sockets inside the namespace.
    ip(&format!("-n {ns} netns set {peer} auto"));
    let ok = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(std::env::current_exe().unwrap())
        .arg("inside")
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "capture inside the namespace failed");

    // inotify: [op, mask, name length, name] steps with the kernel's real masks.
    const CREATE: u32 = 0x100;
    const DELETE: u32 = 0x200;
    const MOVED_FROM: u32 = 0x40;
    const MOVED_TO: u32 = 0x80;
    const ISDIR: u32 = 0x4000_0000;
    let step = |op: u8, mask: u32, name: &str| {
        let mut s = vec![op];
        s.extend_from_slice(&mask.to_ne_bytes());
        s.push(name.len() as u8);
        s.extend_from_slice(name.as_bytes());
        s
    };
    let sequences: Vec<Vec<Vec<u8>>> = vec![
        vec![step(0, CREATE, "blue"), step(0, DELETE, "blue")],
        vec![
            step(0, CREATE, "red"),
            step(1, 0, ""),
            step(0, MOVED_FROM, "red"),
        ],
        vec![
            step(0, MOVED_TO, "abc"),
            step(2, 1, "abc def"),
            step(3, 0, ""),
        ],
        vec![
            step(0, CREATE | ISDIR, "sub"),
            step(0, CREATE, ".."),
            step(0, DELETE, "ok"),
        ],
    ];
    for seq in sequences {
        corpus.save("inotify_events", &seq.concat());
    }
    for name in [
        "blue",
        "nsmon-t-1",
        "..",
        ".",
        "a/b",
        "",
        "x\0y",
        &"n".repeat(256),
    ] {
        corpus.save("name", name.as_bytes());
    }
}

/// Runs inside the namespace (under `ip netns exec`): raw sockets, so that whole datagrams and
/// control data are seen as the kernel sends them.
fn inside(corpus: &Corpus) {
    // SAFETY: plain socket calls on sockets this function owns; buffers outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let one: libc::c_int = 1;
        libc::setsockopt(fd, 270, 11, (&raw const one).cast(), 4); // NETLINK_EXT_ACK
        let request = |kind: u16, flags: u16, body: &[u8]| {
            let mut m = Vec::new();
            m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&(flags | 1).to_ne_bytes()); // NLM_F_REQUEST
            m.extend_from_slice(&[0; 8]);
            m.extend_from_slice(body);
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            let sent = libc::sendto(
                fd,
                m.as_ptr().cast(),
                m.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            );
            assert_eq!(sent as usize, m.len());
        };
        let mut buf = vec![0u8; 65536];
        let mut receive_until_done = |what: &str| {
            let mut datagrams = 0;
            loop {
                let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                assert!(n > 0, "{what}");
                let d = &buf[..n as usize];
                corpus.save("netlink_datagram", d);
                datagrams += 1;
                // Done at NLMSG_DONE or NLMSG_ERROR (the type of the last message).
                let mut at = 0;
                let mut last = 0;
                while at + 16 <= d.len() {
                    let len = u32::from_ne_bytes(d[at..at + 4].try_into().unwrap()) as usize;
                    last = u16::from_ne_bytes(d[at + 4..at + 6].try_into().unwrap());
                    if last == 88 {
                        corpus.save("nsid_payload", &d[at + 16..at + len]);
                    }
                    at += (len + 3) & !3;
                    if len < 16 {
                        break;
                    }
                }
                if last == 2 || last == 3 {
                    eprintln!("{what}: {datagrams} datagrams");
                    return;
                }
            }
        };
        const DUMP: u16 = 0x300;
        let family = |f: u8, len: usize| {
            let mut h = vec![0u8; len];
            h[0] = f;
            h
        };
        for (kind, body, what) in [
            (18u16, family(0, 16), "links"),
            (22, family(2, 8), "ipv4 addresses"),
            (22, family(10, 8), "ipv6 addresses"),
            (26, family(2, 12), "ipv4 routes"),
            (26, family(10, 12), "ipv6 routes"),
            (30, family(0, 12), "neighbours"),
            (38, family(0, 20), "qdiscs"),
            (90, family(0, 4), "nsids"),
        ] {
            request(kind, DUMP, &body);
            receive_until_done(what);
        }
        // An error with the kernel's text: a link of a kind that does not exist.
        let mut body = family(0, 16);
        let linkinfo_kind = b"nsmon-no-such-kind\0";
        let inner_len = 4 + linkinfo_kind.len();
        body.extend_from_slice(&((4 + ((inner_len + 3) & !3)) as u16).to_ne_bytes());
        body.extend_from_slice(&18u16.to_ne_bytes()); // IFLA_LINKINFO
        body.extend_from_slice(&(inner_len as u16).to_ne_bytes());
        body.extend_from_slice(&1u16.to_ne_bytes()); // IFLA_INFO_KIND
        body.extend_from_slice(linkinfo_kind);
        body.resize((body.len() + 3) & !3, 0);
        request(16, 0x4 | 0x400, &body); // RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE
        receive_until_done("an error");
        libc::close(fd);

        // Control data: a socket listening to all namespaces hears the peer (which has an id
        // here) and gets its nsid with each message.
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = 1; // RTNLGRP_LINK
        libc::bind(fd, (&raw const addr).cast(), 12);
        libc::setsockopt(fd, 270, 8, (&raw const one).cast(), 4); // NETLINK_LISTEN_ALL_NSID
        let peer = std::env::var("NSMON_CAPTURE_PEER").ok();
        let names = std::fs::read_dir("/var/run/netns").unwrap();
        let peer = peer.or_else(|| {
            names
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .find(|n| n.starts_with("nsmon-cap-") && n.ends_with("-peer"))
        });
        let peer = peer.expect("the peer namespace");
        let ok = Command::new("ip")
            .args(["-n", &peer, "link", "add", "nsmon-cap", "type", "bridge"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(fd, &mut msg, 0);
        assert!(n > 0 && msg.msg_controllen > 0, "no control data");
        let bytes = std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), msg.msg_controllen);
        corpus.save("listen_all_nsid_control", bytes);
        corpus.save("netlink_datagram", &buf[..n as usize]);
        eprintln!("listen_all_nsid_control: {} bytes", bytes.len());
        libc::close(fd);
    }
}
