//! Which kinds of objects a namespace is followed for: multicast groups to join, dumps to run,
//! and the filter that keeps other kinds out (a dump or group may carry more than was asked).

use crate::netlink::consts::*;
use crate::netlink::layout::{self, IfAddrMsg, IfInfoMsg, NdMsg, RtMsg, TcMsg, FAMILY_AT};
use crate::netlink::message::{self, push_attr, push_padded};
use crate::rtnl::Rtnl;

/// A set of object kinds to follow; combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Groups(u32);

impl Groups {
    /// Links (`RTNLGRP_LINK`).
    pub const LINK: Groups = Groups(1);
    /// IPv4 addresses (`RTNLGRP_IPV4_IFADDR`).
    pub const IPV4_ADDR: Groups = Groups(1 << 1);
    /// IPv6 addresses (`RTNLGRP_IPV6_IFADDR`).
    pub const IPV6_ADDR: Groups = Groups(1 << 2);
    /// IPv4 routes (`RTNLGRP_IPV4_ROUTE`).
    pub const IPV4_ROUTE: Groups = Groups(1 << 3);
    /// IPv6 routes (`RTNLGRP_IPV6_ROUTE`).
    pub const IPV6_ROUTE: Groups = Groups(1 << 4);
    /// Neighbours (`RTNLGRP_NEIGH`).
    pub const NEIGH: Groups = Groups(1 << 5);
    /// Qdiscs, classes and filters (`RTNLGRP_TC`).
    pub const TC: Groups = Groups(1 << 6);
    /// Both address families.
    pub const ADDR: Groups = Groups(Self::IPV4_ADDR.0 | Self::IPV6_ADDR.0);
    /// Both route families.
    pub const ROUTE: Groups = Groups(Self::IPV4_ROUTE.0 | Self::IPV6_ROUTE.0);
    /// Everything above.
    pub const ALL: Groups = Groups((1 << 7) - 1);
    /// Nothing.
    pub const NONE: Groups = Groups(0);

    /// Whether every kind in `other` is in `self`.
    pub fn contains(self, other: Groups) -> bool {
        self.0 & other.0 == other.0
    }

    /// The `RTNLGRP_*` multicast groups to join.
    pub(crate) fn multicast_groups(self) -> impl Iterator<Item = u32> {
        const MAP: [(Groups, u32); 7] = [
            (Groups::LINK, RTNLGRP_LINK),
            (Groups::NEIGH, RTNLGRP_NEIGH),
            (Groups::TC, RTNLGRP_TC),
            (Groups::IPV4_ADDR, RTNLGRP_IPV4_IFADDR),
            (Groups::IPV4_ROUTE, RTNLGRP_IPV4_ROUTE),
            (Groups::IPV6_ADDR, RTNLGRP_IPV6_IFADDR),
            (Groups::IPV6_ROUTE, RTNLGRP_IPV6_ROUTE),
        ];
        MAP.into_iter()
            .filter(move |(g, _)| self.contains(*g))
            .map(|(_, n)| n)
    }

    /// Whether a message of netlink type `kind` with payload `payload` is of a kind in the set
    /// (a dump or group may carry more than was asked). Decided before parsing, from the type
    /// and the family byte that starts address and route payloads. Types nsmon does not type
    /// (tc chains and actions, newer kernels' additions) are carried: wanted.
    pub(crate) fn wants(self, kind: u16, payload: &[u8]) -> bool {
        let by_family = |v4: Groups, v6: Groups| match payload.get(FAMILY_AT).map(|f| i32::from(*f))
        {
            Some(libc::AF_INET) => self.contains(v4),
            Some(libc::AF_INET6) => self.contains(v6),
            // Another family, or too short to say: carried if either family is followed.
            _ => self.contains(v4) || self.contains(v6),
        };
        match kind {
            RTM_NEWLINK | RTM_DELLINK => self.contains(Groups::LINK),
            RTM_NEWADDR | RTM_DELADDR => by_family(Groups::IPV4_ADDR, Groups::IPV6_ADDR),
            RTM_NEWROUTE | RTM_DELROUTE => by_family(Groups::IPV4_ROUTE, Groups::IPV6_ROUTE),
            RTM_NEWNEIGH | RTM_DELNEIGH => self.contains(Groups::NEIGH),
            RTM_NEWQDISC..=RTM_DELTFILTER => self.contains(Groups::TC),
            _ => true,
        }
    }

    /// The dumps that list the current objects of these kinds. Classes and filters have no
    /// namespace-wide dump (the kernel wants an interface, and for filters a parent), so the
    /// qdisc dump comes last and its replies plan the rest: see [`Dump::follow_ups`].
    pub(crate) fn dumps(self) -> Vec<Dump> {
        let (inet, inet6) = (libc::AF_INET as u8, libc::AF_INET6 as u8);
        let all = [
            (Groups::LINK, RTM_GETLINK, 0),
            (Groups::IPV4_ADDR, RTM_GETADDR, inet),
            (Groups::IPV6_ADDR, RTM_GETADDR, inet6),
            (Groups::IPV4_ROUTE, RTM_GETROUTE, inet),
            (Groups::IPV6_ROUTE, RTM_GETROUTE, inet6),
            (Groups::NEIGH, RTM_GETNEIGH, 0),
            (Groups::TC, RTM_GETQDISC, 0),
        ];
        all.into_iter()
            .filter(|(g, _, _)| self.contains(*g))
            .map(|(_, kind, family)| Dump {
                kind,
                family,
                ifindex: 0,
                parent: 0,
            })
            .collect()
    }
}

/// The ingress hook of `ingress` and `clsact` qdiscs (`TC_H_MAKE(TC_H_CLSACT,
/// TC_H_MIN_INGRESS)`), and the egress hook of `clsact`.
const CLSACT_INGRESS: u32 = 0xffff_fff2;
const CLSACT_EGRESS: u32 = 0xffff_fff3;

/// One dump request: its type and family, and for tc the interface and parent it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dump {
    pub(crate) kind: u16,
    pub(crate) family: u8,
    pub(crate) ifindex: u32,
    pub(crate) parent: u32,
}

impl Dump {
    /// The whole dump request, with sequence number `seq`. A link dump asks for
    /// `RTEXT_FILTER_VF`, as iproute2 does: any extension mask makes the kernel size the dump's
    /// datagrams for the largest link, where without one a link too big for the default size
    /// (hundreds of alternative names) ends the dump early without a word.
    pub(crate) fn request(&self, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        let start = message::begin(&mut out, self.kind, NLM_F_REQUEST | NLM_F_DUMP, seq);
        push_padded(&mut out, &self.header());
        if self.kind == RTM_GETLINK {
            push_attr(&mut out, IFLA_EXT_MASK, &RTEXT_FILTER_VF.to_ne_bytes());
        }
        message::finish(&mut out, start);
        out
    }

    /// What the dump lists, for messages: "link dump", "IPv6 route dump", "class dump of
    /// interface 3", ...
    pub(crate) fn describe(&self) -> String {
        let family = match i32::from(self.family) {
            libc::AF_INET => "IPv4 ",
            libc::AF_INET6 => "IPv6 ",
            _ => "",
        };
        let what = match self.kind {
            RTM_GETLINK => "link",
            RTM_GETADDR => "address",
            RTM_GETROUTE => "route",
            RTM_GETNEIGH => "neighbour",
            RTM_GETQDISC => "qdisc",
            RTM_GETTCLASS => "class",
            _ => "filter",
        };
        match self.kind {
            RTM_GETTCLASS => format!("class dump of interface {}", self.ifindex),
            RTM_GETTFILTER => format!(
                "filter dump of interface {} parent {:x}:{:x}",
                self.ifindex,
                self.parent >> 16,
                self.parent & 0xffff
            ),
            _ => format!("{family}{what} dump"),
        }
    }

    /// The request's fixed header: all zero but the family and, for tc, the interface index
    /// and parent.
    pub(crate) fn header(&self) -> Vec<u8> {
        match self.kind {
            RTM_GETLINK => layout::family_only::<IfInfoMsg>(self.family),
            RTM_GETADDR => layout::family_only::<IfAddrMsg>(self.family),
            RTM_GETROUTE => layout::family_only::<RtMsg>(self.family),
            RTM_GETNEIGH => layout::family_only::<NdMsg>(self.family),
            _ => TcMsg {
                family: self.family,
                index: self.ifindex,
                handle: 0,
                parent: self.parent,
            }
            .to_bytes()
            .to_vec(),
        }
    }

    /// The dumps that a reply to this dump calls for: for each interface with a qdisc that can
    /// have classes (a non-zero handle), its classes (once: `class_dumped` remembers); for
    /// each such qdisc and each class, the filters attached to it; for `ingress` and `clsact`,
    /// the filters of their hooks.
    pub(crate) fn follow_ups(&self, reply: &Rtnl, class_dumped: &mut Vec<u32>) -> Vec<Dump> {
        let tc = |kind, ifindex, parent| Dump {
            kind,
            family: 0,
            ifindex,
            parent,
        };
        let mut out = Vec::new();
        match reply {
            Rtnl::Qdisc(_, q) if self.kind == RTM_GETQDISC && q.handle != 0 => {
                match q.kind.as_ref().map(|k| k.as_bytes()) {
                    Some(b"ingress") => out.push(tc(RTM_GETTFILTER, q.index, CLSACT_INGRESS)),
                    Some(b"clsact") => {
                        out.push(tc(RTM_GETTFILTER, q.index, CLSACT_INGRESS));
                        out.push(tc(RTM_GETTFILTER, q.index, CLSACT_EGRESS));
                    }
                    _ => {
                        if !class_dumped.contains(&q.index) {
                            class_dumped.push(q.index);
                            out.push(tc(RTM_GETTCLASS, q.index, 0));
                        }
                        out.push(tc(RTM_GETTFILTER, q.index, q.handle));
                    }
                }
            }
            Rtnl::Class(_, c) if self.kind == RTM_GETTCLASS => {
                out.push(tc(RTM_GETTFILTER, c.index, c.handle));
            }
            _ => {}
        }
        out
    }
}

impl std::ops::BitOr for Groups {
    type Output = Groups;
    fn bitor(self, rhs: Groups) -> Groups {
        Groups(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::layout::Header;

    #[test]
    fn maps_kinds_to_groups_and_dumps() {
        let g = Groups::LINK | Groups::IPV6_ROUTE;
        assert_eq!(g.multicast_groups().collect::<Vec<_>>(), vec![1, 11]);
        let kinds: Vec<(u16, u8)> = g.dumps().iter().map(|d| (d.kind, d.family)).collect();
        assert_eq!(kinds, vec![(18, 0), (26, libc::AF_INET6 as u8)]);
        assert_eq!(Groups::ALL.multicast_groups().count(), 7);
        assert!(Groups::ALL.contains(Groups::ROUTE | Groups::ADDR | Groups::TC));
        assert!(!Groups::LINK.contains(Groups::ALL));
        assert!(Groups::NONE.dumps().is_empty());
        assert_eq!(
            g.dumps()[1].header(),
            vec![10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(g.dumps()[1].describe(), "IPv6 route dump");
    }

    #[test]
    fn a_link_dump_asks_for_an_extension_mask() {
        let link = Groups::LINK.dumps()[0].request(7);
        let msg = message::messages(&link).next().unwrap().unwrap();
        assert_eq!((msg.kind, msg.seq), (RTM_GETLINK, 7));
        assert_eq!(msg.flags, NLM_F_REQUEST | NLM_F_DUMP);
        let attrs: Vec<_> = message::attrs(&msg.payload[IfInfoMsg::LEN..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            attrs,
            vec![(IFLA_EXT_MASK, &RTEXT_FILTER_VF.to_ne_bytes()[..])]
        );
        let route = Groups::IPV4_ROUTE.dumps()[0].request(8);
        assert_eq!(route.len(), 16 + 12, "no attributes on other dumps");
    }

    #[test]
    fn message_types_are_wanted_by_their_group_and_family() {
        let v4 = [libc::AF_INET as u8, 0, 0, 0];
        let v6 = [libc::AF_INET6 as u8, 0, 0, 0];
        let g = Groups::LINK | Groups::IPV6_ROUTE;
        assert!(g.wants(RTM_NEWLINK, &[]));
        assert!(g.wants(RTM_DELROUTE, &v6));
        assert!(!g.wants(RTM_NEWROUTE, &v4));
        assert!(!g.wants(RTM_NEWADDR, &v6));
        assert!(!g.wants(RTM_NEWQDISC, &[]));
        assert!(g.wants(RTM_NEWROUTE, &[28]), "another family is carried");
        assert!(g.wants(100, &[]), "an untyped message type is carried");
        assert!(Groups::TC.wants(RTM_DELTFILTER, &[]));
    }

    #[test]
    fn tc_replies_plan_class_and_filter_dumps() {
        use crate::rtnl::{Change, Tc};
        let qdisc_dump = Groups::TC.dumps()[0];
        let tc = |index, handle, kind: &str| Tc {
            index,
            handle,
            parent: 0xffff_ffff,
            kind: Some(kind.into()),
        };
        let mut dumped = Vec::new();
        let htb = Rtnl::Qdisc(Change::New, tc(2, 0x1_0000, "htb"));
        let plan = qdisc_dump.follow_ups(&htb, &mut dumped);
        assert_eq!(
            plan.iter()
                .map(|d| (d.kind, d.ifindex, d.parent))
                .collect::<Vec<_>>(),
            vec![(RTM_GETTCLASS, 2, 0), (RTM_GETTFILTER, 2, 0x1_0000)]
        );
        assert_eq!(plan[1].header()[4..8], 2u32.to_ne_bytes());
        assert_eq!(plan[1].header()[12..16], 0x1_0000u32.to_ne_bytes());
        // A second qdisc on the same interface: no second class dump.
        let child = Rtnl::Qdisc(Change::New, tc(2, 0x2_0000, "fq_codel"));
        assert_eq!(qdisc_dump.follow_ups(&child, &mut dumped).len(), 1);
        let clsact = Rtnl::Qdisc(Change::New, tc(3, 0xffff_0000, "clsact"));
        let parents: Vec<u32> = qdisc_dump
            .follow_ups(&clsact, &mut dumped)
            .iter()
            .map(|d| d.parent)
            .collect();
        assert_eq!(parents, vec![CLSACT_INGRESS, CLSACT_EGRESS]);
        let noqueue = Rtnl::Qdisc(Change::New, tc(1, 0, "noqueue"));
        assert!(qdisc_dump.follow_ups(&noqueue, &mut dumped).is_empty());
        let class_dump = plan[0];
        let class = Rtnl::Class(Change::New, tc(2, 0x1_0001, "htb"));
        assert_eq!(
            class_dump.follow_ups(&class, &mut dumped)[0].parent,
            0x1_0001
        );
        // A notification outside a dump plans nothing.
        assert!(Groups::LINK.dumps()[0]
            .follow_ups(&htb, &mut dumped)
            .is_empty());
    }
}
