//! Which kinds of objects a namespace is followed for: multicast groups to join, dumps to run,
//! and the filter that keeps other kinds out (a dump or group may carry more than was asked).

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
            (Groups::LINK, 1),
            (Groups::NEIGH, 3),
            (Groups::TC, 4),
            (Groups::IPV4_ADDR, 5),
            (Groups::IPV4_ROUTE, 7),
            (Groups::IPV6_ADDR, 9),
            (Groups::IPV6_ROUTE, 11),
        ];
        MAP.into_iter()
            .filter(move |(g, _)| self.contains(*g))
            .map(|(_, n)| n)
    }

    /// Whether a parsed message is of a kind in the set.
    pub(crate) fn wants(self, message: &Rtnl) -> bool {
        let family_group = |family: u8, v4: Groups, v6: Groups| match i32::from(family) {
            libc::AF_INET => self.contains(v4),
            libc::AF_INET6 => self.contains(v6),
            _ => false,
        };
        match message {
            Rtnl::Link(..) => self.contains(Groups::LINK),
            Rtnl::Address(_, a) => family_group(a.family, Groups::IPV4_ADDR, Groups::IPV6_ADDR),
            Rtnl::Route(_, r) => family_group(r.family, Groups::IPV4_ROUTE, Groups::IPV6_ROUTE),
            Rtnl::Neighbour(..) => self.contains(Groups::NEIGH),
            Rtnl::Qdisc(..) | Rtnl::Class(..) | Rtnl::Filter(..) => self.contains(Groups::TC),
        }
    }

    /// The dumps that list the current objects of these kinds: (request type, family).
    /// Classes and filters have no namespace-wide dump (the kernel wants an interface), so a
    /// dump lists qdiscs; later class and filter changes are reported as they happen.
    pub(crate) fn dumps(self) -> Vec<(u16, u8)> {
        const RTM_GETLINK: u16 = 18;
        const RTM_GETADDR: u16 = 22;
        const RTM_GETROUTE: u16 = 26;
        const RTM_GETNEIGH: u16 = 30;
        const RTM_GETQDISC: u16 = 38;
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
            .map(|(_, kind, family)| (kind, family))
            .collect()
    }
}

/// The fixed header of a dump request: all zero but the family (its first byte).
pub(crate) fn dump_header(kind: u16, family: u8) -> Vec<u8> {
    let len = match kind {
        18 => 16, // ifinfomsg
        22 => 8,  // ifaddrmsg
        26 => 12, // rtmsg
        30 => 12, // ndmsg
        _ => 20,  // tcmsg
    };
    let mut header = vec![0u8; len];
    header[0] = family;
    header
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

    #[test]
    fn maps_kinds_to_groups_and_dumps() {
        let g = Groups::LINK | Groups::IPV6_ROUTE;
        assert_eq!(g.multicast_groups().collect::<Vec<_>>(), vec![1, 11]);
        assert_eq!(g.dumps(), vec![(18, 0), (26, libc::AF_INET6 as u8)]);
        assert_eq!(Groups::ALL.multicast_groups().count(), 7);
        assert!(Groups::ALL.contains(Groups::ROUTE | Groups::ADDR | Groups::TC));
        assert!(!Groups::LINK.contains(Groups::ALL));
        assert!(Groups::NONE.dumps().is_empty());
        assert_eq!(dump_header(22, 10), vec![10, 0, 0, 0, 0, 0, 0, 0]);
    }
}
