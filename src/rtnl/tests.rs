//! Unit tests of the module above.

use super::*;
use crate::netlink::message::{built as msg, push_attr};

fn ifinfo(index: u32, flags: u32) -> Vec<u8> {
    let mut h = vec![0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h
}

#[test]
fn parses_a_link_with_every_field() {
    let mut linkinfo = Vec::new();
    push_attr(&mut linkinfo, IFLA_INFO_KIND, b"bridge\0");
    let m = msg(
        RTM_NEWLINK,
        &ifinfo(7, 1),
        &[
            (IFLA_IFNAME, b"br0\0"),
            (IFLA_MTU, &1400u32.to_ne_bytes()),
            (IFLA_OPERSTATE, &[6]),
            (IFLA_ADDRESS, &[2, 0, 0, 0, 0, 7]),
            (IFLA_MASTER, &3u32.to_ne_bytes()),
            (IFLA_LINKINFO, &linkinfo),
            (999, b"ignored"),
        ],
    );
    let Some(Rtnl::Link(Change::New, link)) = parse(&m).unwrap() else {
        panic!("not a new link")
    };
    assert_eq!(link.index, 7);
    assert_eq!(link.flags, 1);
    assert_eq!(link.name, Some("br0".into()));
    assert_eq!(link.mtu, Some(1400));
    assert_eq!(link.operstate, Some(6));
    assert_eq!(link.mac, Some(vec![2, 0, 0, 0, 0, 7]));
    assert_eq!(link.master, Some(3));
    assert_eq!(link.kind, Some("bridge".into()));
    let deleted = msg(RTM_DELLINK, &ifinfo(7, 0), &[]);
    assert!(matches!(
        parse(&deleted).unwrap(),
        Some(Rtnl::Link(Change::Deleted, _))
    ));
}

#[test]
fn parses_an_address_with_its_local_end_and_label() {
    let inet = libc::AF_INET as u8;
    let mut ifa = vec![inet, 24, 0, 0];
    ifa.extend(4u32.to_ne_bytes());
    let m = msg(
        RTM_NEWADDR,
        &ifa,
        &[
            (IFA_ADDRESS, &[198, 51, 100, 9]),
            (IFA_LOCAL, &[198, 51, 100, 1]),
            (IFA_LABEL, b"br0\0"),
        ],
    );
    let Some(Rtnl::Address(Change::New, a)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(
        a.address,
        Some("198.51.100.1".parse().unwrap()),
        "IFA_LOCAL wins"
    );
    assert_eq!(
        (a.index, a.prefix_len, a.label.clone()),
        (4, 24, Some("br0".into()))
    );
}

#[test]
fn parses_routes_with_their_table_and_the_default_route() {
    let inet = libc::AF_INET as u8;
    let rt = [libc::AF_INET6 as u8, 32, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0];
    let dst: [u8; 16] = "2001:db8::".parse::<Ipv6Addr>().unwrap().octets();
    let m = msg(
        RTM_DELROUTE,
        &rt,
        &[
            (RTA_DST, &dst),
            (RTA_OIF, &4u32.to_ne_bytes()),
            (RTA_TABLE, &1000u32.to_ne_bytes()),
        ],
    );
    let Some(Rtnl::Route(Change::Deleted, r)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(r.dst, Some("2001:db8::".parse().unwrap()));
    assert_eq!(
        (r.dst_len, r.table, r.oif, r.protocol, r.kind),
        (32, 1000, Some(4), 4, 1)
    );
    // A default route: no RTA_DST, the 8-bit table from the header.
    let m = msg(
        RTM_NEWROUTE,
        &[inet, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0],
        &[(RTA_GATEWAY, &[203, 0, 113, 1])],
    );
    let Some(Rtnl::Route(_, r)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!((r.dst, r.dst_len, r.table), (None, 0, 254));
    assert_eq!(r.gateway, Some("203.0.113.1".parse().unwrap()));
}

#[test]
fn parses_a_neighbour() {
    let inet = libc::AF_INET as u8;
    let mut nd = vec![inet, 0, 0, 0];
    nd.extend(4u32.to_ne_bytes());
    nd.extend(0x80u16.to_ne_bytes());
    nd.extend([0, 1]);
    let m = msg(
        RTM_NEWNEIGH,
        &nd,
        &[
            (NDA_DST, &[198, 51, 100, 7]),
            (NDA_LLADDR, &[2, 0, 0, 0, 0, 7]),
        ],
    );
    let Some(Rtnl::Neighbour(_, n)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!((n.index, n.state), (4, 0x80));
    assert_eq!(n.address, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(n.lladdr, Some(vec![2, 0, 0, 0, 0, 7]));
}

#[test]
fn parses_qdiscs_classes_and_filters() {
    let mut tcm = vec![0u8, 0, 0, 0];
    for v in [4u32, 0x0001_0000, 0xffff_ffff, 0] {
        tcm.extend(v.to_ne_bytes());
    }
    for (kind, want) in [
        (RTM_NEWQDISC, "qdisc"),
        (RTM_DELTCLASS, "class"),
        (RTM_NEWTFILTER, "filter"),
    ] {
        let m = msg(kind, &tcm, &[(TCA_KIND, b"htb\0")]);
        let (got, tc) = match parse(&m).unwrap() {
            Some(Rtnl::Qdisc(_, t)) => ("qdisc", t),
            Some(Rtnl::Class(_, t)) => ("class", t),
            Some(Rtnl::Filter(_, t)) => ("filter", t),
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
        assert_eq!(
            (tc.index, tc.handle, tc.parent, tc.kind.clone()),
            (4, 0x10000, u32::MAX, Some("htb".into()))
        );
    }
}

#[test]
fn malformed_messages_are_errors_and_unknown_types_are_none() {
    // Short fixed headers.
    assert!(parse(&msg(RTM_NEWLINK, &[0; 8], &[])).is_err());
    assert!(parse(&msg(RTM_NEWADDR, &[0; 4], &[])).is_err());
    assert!(parse(&msg(RTM_NEWROUTE, &[0; 8], &[])).is_err());
    assert!(parse(&msg(RTM_NEWTFILTER, &[0; 16], &[])).is_err());
    // Bad attribute values.
    assert!(parse(&msg(RTM_NEWLINK, &ifinfo(1, 0), &[(IFLA_MTU, &[1, 2])])).is_err());
    assert!(parse(&msg(RTM_NEWLINK, &ifinfo(1, 0), &[(IFLA_OPERSTATE, &[])])).is_err());
    let v4_route = [libc::AF_INET as u8, 24, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0];
    assert!(parse(&msg(RTM_NEWROUTE, &v4_route, &[(RTA_DST, &[1, 2, 3])])).is_err());
    // A truncated message, and an attribute whose length runs past the message.
    let good = msg(RTM_NEWLINK, &ifinfo(1, 0), &[(IFLA_IFNAME, b"x\0")]);
    assert!(parse(&good[..10]).is_err());
    let mut bad = good.clone();
    bad[32..34].copy_from_slice(&200u16.to_ne_bytes());
    assert!(parse(&bad).is_err());
    // Types nsmon does not type.
    assert_eq!(parse(&msg(NLMSG_DONE, &[0; 4], &[])).unwrap(), None);
    assert!(parse(&[]).is_err());
    // Every truncation of a valid message is an error or a value, never a panic.
    for cut in 0..good.len() {
        let mut m = good[..cut].to_vec();
        if cut >= 4 {
            m[0..4].copy_from_slice(&(cut as u32).to_ne_bytes());
        }
        let _ = parse(&m);
    }
}

#[test]
fn names_are_bytes_and_unknown_families_are_carried() {
    // Any bytes but '/', ':' and white space may name a link: kept exactly.
    let mut props = Vec::new();
    push_attr(&mut props, IFLA_ALT_IFNAME, b"nsmon-\xfe\x01alt\0");
    push_attr(&mut props, IFLA_ALT_IFNAME, b"second\0");
    push_attr(&mut props, 99, b"ignored");
    let m = msg(
        RTM_NEWLINK,
        &ifinfo(1, 0),
        &[(IFLA_IFNAME, b"nsmon-\xff\"q\0"), (IFLA_PROP_LIST, &props)],
    );
    let Some(Rtnl::Link(_, l)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(l.name.unwrap().as_bytes(), b"nsmon-\xff\"q");
    let alt: Vec<&[u8]> = l.alt_names.iter().map(Name::as_bytes).collect();
    assert_eq!(alt, vec![&b"nsmon-\xfe\x01alt"[..], b"second"]);
    let inet = libc::AF_INET as u8;
    let mut ifa = vec![inet, 24, 0, 0];
    ifa.extend(4u32.to_ne_bytes());
    let m = msg(RTM_NEWADDR, &ifa, &[(IFA_LABEL, b"\xc3\x28\0")]);
    let Some(Rtnl::Address(_, a)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(a.label.unwrap().as_bytes(), b"\xc3\x28");
    // A neighbour of another family (AF_MPLS, 28): carried, its address left in the bytes.
    let mut nd = vec![28u8, 0, 0, 0];
    nd.extend(4u32.to_ne_bytes());
    nd.extend(0x80u16.to_ne_bytes());
    nd.extend([0, 1]);
    let m = msg(RTM_NEWNEIGH, &nd, &[(NDA_DST, &[0, 1, 0x41])]);
    let Some(Rtnl::Neighbour(_, n)) = parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!((n.family, n.index, n.address), (28, 4, None));
    // But an IPv4 address of the wrong length is malformed.
    let mut nd4 = nd.clone();
    nd4[0] = inet;
    assert!(parse(&msg(RTM_NEWNEIGH, &nd4, &[(NDA_DST, &[1, 2, 3])])).is_err());
}

#[test]
fn splits_a_datagram_into_messages() {
    let mut datagram = msg(RTM_NEWLINK, &ifinfo(1, 0), &[(IFLA_IFNAME, b"a\0")]);
    let second = msg(RTM_DELLINK, &ifinfo(2, 0), &[]);
    datagram.extend(&second);
    let all: Vec<&[u8]> = messages(&datagram).collect::<Result<_>>().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], &second[..]);
    assert!(matches!(parse(all[0]).unwrap(), Some(Rtnl::Link(Change::New, l)) if l.index == 1));
}
