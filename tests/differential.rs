//! Differential test: every kernel message in the seed corpus (real messages captured from a
//! namespace with links, addresses, routes, neighbours and tc objects) is parsed by nsmon and
//! by the well-kept netlink-packet-route crate, used here as an oracle only, and the two must
//! agree on every field both expose.

use std::net::IpAddr;
use std::path::Path;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkInfo};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use netlink_packet_route::tc::{TcAttribute, TcMessage};
use netlink_packet_route::RouteNetlinkMessage as M;
use nsmon::rtnl::{self, Change, Rtnl, Tc};

/// Every message of the corpus: the single messages, and each message of each datagram.
fn kernel_messages() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut out = Vec::new();
    for target in ["rtnetlink_message", "netlink_datagram"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(target))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(file).unwrap();
            for msg in rtnl::messages(&bytes) {
                out.push(msg.unwrap().to_vec());
            }
        }
    }
    out
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A name as the oracle gives it (text: it parses UTF-8 names only, which the corpus holds).
fn text(name: &nsmon::Name) -> String {
    name.to_str()
        .expect("the corpus's names are UTF-8")
        .to_string()
}

/// (index, handle, parent, kind) of a tc message, by each parser.
type TcFields = (u32, u32, u32, Option<String>);

fn tc_ours(t: &Tc) -> TcFields {
    (t.index, t.handle, t.parent, t.kind.as_ref().map(text))
}

fn tc_oracle(m: &TcMessage) -> TcFields {
    let handle =
        |h: &netlink_packet_route::tc::TcHandle| u32::from(h.major) << 16 | u32::from(h.minor);
    let kind = m.attributes.iter().find_map(|a| match a {
        TcAttribute::Kind(k) => Some(k.clone()),
        _ => None,
    });
    (
        m.header.index as u32,
        handle(&m.header.handle),
        handle(&m.header.parent),
        kind,
    )
}

#[test]
fn nsmon_and_netlink_packet_route_agree_on_every_kernel_message() {
    let mut compared = [0usize; 5];
    for bytes in kernel_messages() {
        let ours = rtnl::parse(&bytes).unwrap_or_else(|e| panic!("nsmon refused {bytes:?}: {e}"));
        let oracle = NetlinkMessage::<M>::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("the oracle refused {bytes:?}: {e}"));
        let NetlinkPayload::InnerMessage(theirs) = oracle.payload else {
            assert!(ours.is_none(), "nsmon typed a control message: {ours:?}");
            continue;
        };
        let Some(ours) = ours else {
            assert!(
                !matches!(
                    theirs,
                    M::NewLink(_)
                        | M::DelLink(_)
                        | M::NewAddress(_)
                        | M::DelAddress(_)
                        | M::NewRoute(_)
                        | M::DelRoute(_)
                        | M::NewNeighbour(_)
                        | M::DelNeighbour(_)
                ),
                "nsmon did not type {theirs:?}"
            );
            continue;
        };
        match (&ours, &theirs) {
            (Rtnl::Link(c, l), M::NewLink(m) | M::DelLink(m)) => {
                assert_eq!(*c == Change::New, matches!(theirs, M::NewLink(_)));
                assert_eq!(l.index, m.header.index);
                assert_eq!(l.flags, m.header.flags.bits());
                let find =
                    |f: fn(&LinkAttribute) -> Option<String>| m.attributes.iter().find_map(f);
                assert_eq!(
                    l.name.as_ref().map(text),
                    find(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })
                );
                let mtu = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Mtu(v) => Some(*v),
                    _ => None,
                });
                assert_eq!(l.mtu, mtu);
                let master = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Controller(v) => Some(*v),
                    _ => None,
                });
                assert_eq!(l.master, master);
                let operstate = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::OperState(s) => Some(u8::from(*s)),
                    _ => None,
                });
                assert_eq!(l.operstate, operstate);
                let mac = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Address(v) => Some(v.clone()),
                    _ => None,
                });
                assert_eq!(l.mac, mac);
                let kind = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                        LinkInfo::Kind(k) => Some(k.to_string()),
                        _ => None,
                    }),
                    _ => None,
                });
                assert_eq!(l.kind.as_ref().map(text), kind, "{bytes:?}");
                compared[0] += 1;
            }
            (Rtnl::Address(c, a), M::NewAddress(m) | M::DelAddress(m)) => {
                assert_eq!(*c == Change::New, matches!(theirs, M::NewAddress(_)));
                assert_eq!(a.family, u8::from(m.header.family));
                assert_eq!(a.index, m.header.index);
                assert_eq!(a.prefix_len, m.header.prefix_len);
                assert_eq!(a.scope, u8::from(m.header.scope));
                let local = m.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let address = m.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                });
                assert_eq!(a.address, local.or(address));
                let label = m.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Label(l) => Some(l.clone()),
                    _ => None,
                });
                assert_eq!(a.label.as_ref().map(text), label);
                compared[1] += 1;
            }
            (Rtnl::Route(c, r), M::NewRoute(m) | M::DelRoute(m)) => {
                assert_eq!(*c == Change::New, matches!(theirs, M::NewRoute(_)));
                assert_eq!(r.family, u8::from(m.header.address_family));
                assert_eq!(r.dst_len, m.header.destination_prefix_length);
                assert_eq!(r.protocol, u8::from(m.header.protocol));
                assert_eq!(r.scope, u8::from(m.header.scope));
                assert_eq!(r.kind, u8::from(m.header.kind));
                let table = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                });
                assert_eq!(r.table, table.unwrap_or(u32::from(m.header.table)));
                let dst = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(d) => route_ip(d),
                    _ => None,
                });
                assert_eq!(r.dst, dst);
                let gateway = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Gateway(g) => route_ip(g),
                    _ => None,
                });
                assert_eq!(r.gateway, gateway);
                let oif = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(o) => Some(*o),
                    _ => None,
                });
                assert_eq!(r.oif, oif);
                compared[2] += 1;
            }
            (Rtnl::Neighbour(c, n), M::NewNeighbour(m) | M::DelNeighbour(m)) => {
                assert_eq!(*c == Change::New, matches!(theirs, M::NewNeighbour(_)));
                assert_eq!(n.family, u8::from(m.header.family));
                assert_eq!(n.index, m.header.ifindex);
                assert_eq!(n.state, u16::from(m.header.state));
                let dst = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                        Some(IpAddr::V4(*v4))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                        Some(IpAddr::V6(*v6))
                    }
                    _ => None,
                });
                assert_eq!(n.address, dst);
                let lladdr = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(v) => Some(v.clone()),
                    _ => None,
                });
                assert_eq!(n.lladdr, lladdr);
                compared[3] += 1;
            }
            (Rtnl::Qdisc(_, t), M::NewQueueDiscipline(m) | M::DelQueueDiscipline(m))
            | (Rtnl::Class(_, t), M::NewTrafficClass(m) | M::DelTrafficClass(m))
            | (Rtnl::Filter(_, t), M::NewTrafficFilter(m) | M::DelTrafficFilter(m)) => {
                assert_eq!(tc_ours(t), tc_oracle(m));
                compared[4] += 1;
            }
            _ => panic!("nsmon says {ours:?}, the oracle {theirs:?}"),
        }
    }
    // The corpus covers every kind both parse.
    for (kind, n) in ["link", "address", "route", "neighbour", "tc"]
        .iter()
        .zip(compared)
    {
        assert!(n > 0, "no {kind} message compared");
    }
}
