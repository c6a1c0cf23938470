//! Typed rtnetlink messages: links, addresses, routes, neighbours and traffic-control objects.
//!
//! [`parse`] turns one netlink message (header included), as the kernel sends it, into a typed
//! [`Rtnl`] value; [`messages`] splits a datagram into messages. Lengths are checked before
//! every read; a malformed message is an error, never a panic. Fields the kernel did not send
//! are `None`. Names are [`Name`]s: the kernel's bytes, not necessarily UTF-8. What nsmon does
//! not type is carried, not refused: unknown attributes are skipped, and an address of a family
//! other than IPv4 and IPv6 (e.g. an MPLS neighbour) is `None`, its bytes still in the raw
//! message. The multi-namespace stream reports these types; callers that receive raw bytes
//! elsewhere can use the parser directly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::netlink::consts::*;
use crate::netlink::layout::{Header, IfAddrMsg, IfInfoMsg, NdMsg, RtMsg, TcMsg};
use crate::netlink::message::{self, attr_u32, attrs, Malformed};
use crate::Name;

/// Whether an object appeared (or changed) or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// `RTM_NEW*`: created or changed.
    New,
    /// `RTM_DEL*`: removed.
    Deleted,
}

/// A network interface (`RTM_NEWLINK` / `RTM_DELLINK`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Link {
    /// `AF_UNSPEC` (0) for the link itself; `AF_BRIDGE` for a bridge's notice about a port or
    /// itself (fewer attributes: no alternative names, for one).
    pub family: u8,
    /// Interface index.
    pub index: u32,
    /// `IFF_*` flags (`IFF_UP` = 1, ...).
    pub flags: u32,
    /// Interface name (`IFLA_IFNAME`): any bytes but `/`, `:` and white space.
    pub name: Option<Name>,
    /// Alternative names (`IFLA_PROP_LIST`/`IFLA_ALT_IFNAME`), in the kernel's order.
    pub alt_names: Vec<Name>,
    /// MTU (`IFLA_MTU`).
    pub mtu: Option<u32>,
    /// RFC 2863 operational state (`IFLA_OPERSTATE`: 0 unknown ... 6 up).
    pub operstate: Option<u8>,
    /// Link-layer address (`IFLA_ADDRESS`).
    pub mac: Option<Vec<u8>>,
    /// Index of the master device, e.g. a bridge (`IFLA_MASTER`).
    pub master: Option<u32>,
    /// Link kind, e.g. `"bridge"`, `"veth"` (`IFLA_LINKINFO`/`IFLA_INFO_KIND`).
    pub kind: Option<Name>,
}

/// An interface address (`RTM_NEWADDR` / `RTM_DELADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Interface index.
    pub index: u32,
    /// The address: `IFA_LOCAL` when present (the local end), else `IFA_ADDRESS`. `None` for a
    /// family other than IPv4 and IPv6.
    pub address: Option<IpAddr>,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope (`RT_SCOPE_*`: 0 universe, 253 link, 254 host).
    pub scope: u8,
    /// Label (`IFA_LABEL`, IPv4 only): bytes, like a link name.
    pub label: Option<Name>,
}

/// A route (`RTM_NEWROUTE` / `RTM_DELROUTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Routing table (`RTA_TABLE` when present, else the header's 8-bit table).
    pub table: u32,
    /// Destination (`RTA_DST`); `None` with `dst_len` 0 is the default route.
    pub dst: Option<IpAddr>,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Gateway (`RTA_GATEWAY`).
    pub gateway: Option<IpAddr>,
    /// Output interface index (`RTA_OIF`).
    pub oif: Option<u32>,
    /// Who installed it (`RTPROT_*`: 2 kernel, 3 boot, 4 static, ...).
    pub protocol: u8,
    /// Scope (`RT_SCOPE_*`).
    pub scope: u8,
    /// Route type (`RTN_*`: 1 unicast, 2 local, ...).
    pub kind: u8,
}

/// A neighbour (ARP/NDP) entry (`RTM_NEWNEIGH` / `RTM_DELNEIGH`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Neighbour {
    /// `AF_INET`, `AF_INET6`, `AF_BRIDGE`, or another family the kernel keeps neighbours of.
    pub family: u8,
    /// Interface index.
    pub index: u32,
    /// The neighbour's address (`NDA_DST`); `None` for a family other than IPv4 and IPv6
    /// (a bridge FDB entry, an MPLS neighbour: the bytes are in the raw message).
    pub address: Option<IpAddr>,
    /// Its link-layer address (`NDA_LLADDR`).
    pub lladdr: Option<Vec<u8>>,
    /// `NUD_*` state bits (0x02 reachable, 0x04 stale, 0x80 permanent, ...).
    pub state: u16,
}

/// A qdisc, class or filter (`RTM_*QDISC`, `RTM_*TCLASS`, `RTM_*TFILTER`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tc {
    /// Interface index.
    pub index: u32,
    /// Handle (`major:minor` as `major << 16 | minor`).
    pub handle: u32,
    /// Parent handle (`0xffffffff` is root).
    pub parent: u32,
    /// Kind, e.g. `"htb"`, `"fq_codel"`, `"u32"` (`TCA_KIND`).
    pub kind: Option<Name>,
}

/// One typed rtnetlink message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rtnl {
    /// A link appeared, changed or went away.
    Link(Change, Link),
    /// An address.
    Address(Change, Address),
    /// A route.
    Route(Change, Route),
    /// A neighbour entry.
    Neighbour(Change, Neighbour),
    /// A qdisc.
    Qdisc(Change, Tc),
    /// A traffic class.
    Class(Change, Tc),
    /// A filter.
    Filter(Change, Tc),
}

/// Splits one datagram into its messages (each with its header), stopping with an error at the
/// first bad length.
pub fn messages(datagram: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    message::messages(datagram).map(|m| m.map(|m| m.bytes).map_err(protocol))
}

fn protocol(m: Malformed) -> Error {
    Error::from(m)
}

/// Parses one netlink message (header included). `Ok(None)` for message types nsmon does not
/// type (e.g. `NLMSG_DONE`); an error for a malformed one.
pub fn parse(msg: &[u8]) -> Result<Option<Rtnl>> {
    match message::messages(msg).next() {
        Some(m) => parse_message(&m.map_err(protocol)?),
        None => Err(Error::Protocol("empty message".into())),
    }
}

/// [`parse`] for a message already walked (its header checked): the stream's per-event path,
/// which would otherwise check every header twice.
pub(crate) fn parse_message(m: &message::Message<'_>) -> Result<Option<Rtnl>> {
    let change = |new: u16| {
        if m.kind == new {
            Change::New
        } else {
            Change::Deleted
        }
    };
    let p = m.payload;
    Ok(Some(match m.kind {
        RTM_NEWLINK | RTM_DELLINK => Rtnl::Link(change(RTM_NEWLINK), link(p)?),
        RTM_NEWADDR | RTM_DELADDR => Rtnl::Address(change(RTM_NEWADDR), address(p)?),
        RTM_NEWROUTE | RTM_DELROUTE => Rtnl::Route(change(RTM_NEWROUTE), route(p)?),
        RTM_NEWNEIGH | RTM_DELNEIGH => Rtnl::Neighbour(change(RTM_NEWNEIGH), neighbour(p)?),
        RTM_NEWQDISC | RTM_DELQDISC => Rtnl::Qdisc(change(RTM_NEWQDISC), tc(p)?),
        RTM_NEWTCLASS | RTM_DELTCLASS => Rtnl::Class(change(RTM_NEWTCLASS), tc(p)?),
        RTM_NEWTFILTER | RTM_DELTFILTER => Rtnl::Filter(change(RTM_NEWTFILTER), tc(p)?),
        _ => return Ok(None),
    }))
}

/// Whether `m` is a route message, and which change (`None` for any other message).
pub(crate) fn route_change(m: &message::Message<'_>) -> Option<Change> {
    match m.kind {
        RTM_NEWROUTE => Some(Change::New),
        RTM_DELROUTE => Some(Change::Deleted),
        _ => None,
    }
}

/// Where the route parser puts what it reads, field by field: a [`Route`] is one place, the C
/// ABI's event (written in place, with no `Route` between) another. Fields the message does
/// not carry are not set.
pub(crate) trait RouteFields {
    /// The fixed header's fields (the table as its low 8 bits: `table` follows when the
    /// message has `RTA_TABLE`).
    fn header(&mut self, h: &RtMsg);
    /// `RTA_DST`: 4 or 16 bytes, as the header's family says.
    fn dst(&mut self, address: &[u8]);
    /// `RTA_GATEWAY`: as `dst`.
    fn gateway(&mut self, address: &[u8]);
    /// `RTA_OIF`.
    fn oif(&mut self, index: u32);
    /// `RTA_TABLE`.
    fn table(&mut self, table: u32);
}

/// Reads the payload `p` of a route message into `out`; an error (and what was set so far)
/// for a header or attribute the parser refuses.
#[inline]
pub(crate) fn read_route(p: &[u8], out: &mut impl RouteFields) -> Result<()> {
    let (h, attrs) = typed::<RtMsg>(p, "route")?;
    out.header(&h);
    for a in attrs {
        let (kind, v) = a?;
        match kind {
            RTA_DST => {
                if let Some(v) = ip_bytes(h.family, v, "RTA_DST")? {
                    out.dst(v)
                }
            }
            RTA_GATEWAY => {
                if let Some(v) = ip_bytes(h.family, v, "RTA_GATEWAY")? {
                    out.gateway(v)
                }
            }
            RTA_OIF => out.oif(u32_attr(v, "RTA_OIF")?),
            RTA_TABLE => out.table(u32_attr(v, "RTA_TABLE")?),
            _ => {}
        }
    }
    Ok(())
}

impl RouteFields for Route {
    fn header(&mut self, h: &RtMsg) {
        self.family = h.family;
        self.table = u32::from(h.table);
        self.dst_len = h.dst_len;
        self.protocol = h.protocol;
        self.scope = h.scope;
        self.kind = h.kind;
    }
    fn dst(&mut self, address: &[u8]) {
        self.dst = ip_addr(address);
    }
    fn gateway(&mut self, address: &[u8]) {
        self.gateway = ip_addr(address);
    }
    fn oif(&mut self, index: u32) {
        self.oif = Some(index);
    }
    fn table(&mut self, table: u32) {
        self.table = table;
    }
}

/// The step every typed parser shares: the fixed header `H` of a `what` message (an error if
/// the payload is shorter), and the attributes after it (their errors become the parsers' at
/// `?`, so that the walk's items stay small). An iterator rather than a callback per
/// attribute: the route parser, the stream's commonest, ran half again as long through a
/// closure.
#[inline]
fn typed<'a, H: Header>(p: &'a [u8], what: &str) -> Result<(H, message::Attrs<'a>)> {
    let Some((header, rest)) = H::split(p) else {
        return Err(short_header(what, p.len(), H::LEN));
    };
    Ok((header, attrs(rest)))
}

/// Why a `what` message of `len` bytes has no room for its `needed`-byte header: out of line,
/// as for `attr_u32`.
#[cold]
#[inline(never)]
fn short_header(what: &str, len: usize, needed: usize) -> Error {
    Error::Protocol(format!(
        "{what} message has {len} bytes, its header needs {needed}"
    ))
}

/// Hands `each` the value of every attribute of type `kind` nested in `value`.
fn nested<'a>(value: &'a [u8], kind: u16, mut each: impl FnMut(&'a [u8])) -> Result<()> {
    for a in attrs(value) {
        let (k, v) = a.map_err(protocol)?;
        if k == kind {
            each(v);
        }
    }
    Ok(())
}

/// A string attribute's bytes up to its NUL (the kernel terminates them), whatever they are.
fn name(value: &[u8]) -> Name {
    Name::from(value.split(|b| *b == 0).next().unwrap_or_default())
}

/// An address attribute: `None` for a family nsmon does not type (carried in the raw bytes), an
/// error for an IPv4 or IPv6 address of the wrong length.
fn ip(family: u8, value: &[u8], name: &str) -> Result<Option<IpAddr>> {
    Ok(ip_bytes(family, value, name)?.and_then(ip_addr))
}

/// `value` if it is an address of `family` (4 bytes for IPv4, 16 for IPv6), an error if its
/// length is not, `None` for any other family.
#[inline]
fn ip_bytes<'a>(family: u8, value: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    match (family as i32, value.len()) {
        (libc::AF_INET, 4) | (libc::AF_INET6, 16) => Ok(Some(value)),
        (libc::AF_INET | libc::AF_INET6, n) => Err(not_an_address(name, n, family)),
        _ => Ok(None),
    }
}

/// Why `name`'s `len` bytes are not an address of `family`: out of line, as for `attr_u32`.
#[cold]
#[inline(never)]
fn not_an_address(name: &str, len: usize, family: u8) -> Error {
    Error::Protocol(format!(
        "{name}: {len} bytes is not an address of family {family}"
    ))
}

/// The address in 4 or 16 bytes ([`ip_bytes`] checked which).
fn ip_addr(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

fn u32_attr(value: &[u8], name: &str) -> Result<u32> {
    attr_u32(value, name).map_err(protocol)
}

fn link(p: &[u8]) -> Result<Link> {
    let (h, attrs) = typed::<IfInfoMsg>(p, "link")?;
    let mut link = Link {
        family: h.family,
        index: h.index,
        flags: h.flags,
        ..Link::default()
    };
    for a in attrs {
        let (kind, v) = a?;
        match kind {
            IFLA_IFNAME => link.name = Some(name(v)),
            IFLA_PROP_LIST => nested(v, IFLA_ALT_IFNAME, |n| link.alt_names.push(name(n)))?,
            IFLA_MTU => link.mtu = Some(u32_attr(v, "IFLA_MTU")?),
            IFLA_OPERSTATE => {
                link.operstate = Some(
                    *v.first()
                        .ok_or_else(|| Error::Protocol("IFLA_OPERSTATE is empty".into()))?,
                )
            }
            IFLA_ADDRESS => link.mac = Some(v.to_vec()),
            IFLA_MASTER => link.master = Some(u32_attr(v, "IFLA_MASTER")?),
            IFLA_LINKINFO => nested(v, IFLA_INFO_KIND, |k| link.kind = Some(name(k)))?,
            _ => {}
        }
    }
    Ok(link)
}

fn address(p: &[u8]) -> Result<Address> {
    let (h, attrs) = typed::<IfAddrMsg>(p, "address")?;
    let mut out = Address {
        family: h.family,
        index: h.index,
        address: None,
        prefix_len: h.prefix_len,
        scope: h.scope,
        label: None,
    };
    let mut peer = None;
    for a in attrs {
        let (kind, v) = a?;
        match kind {
            IFA_LOCAL => out.address = ip(h.family, v, "IFA_LOCAL")?,
            IFA_ADDRESS => peer = ip(h.family, v, "IFA_ADDRESS")?,
            IFA_LABEL => out.label = Some(name(v)),
            _ => {}
        }
    }
    out.address = out.address.or(peer);
    Ok(out)
}

fn route(p: &[u8]) -> Result<Route> {
    let mut out = Route {
        family: 0,
        table: 0,
        dst: None,
        dst_len: 0,
        gateway: None,
        oif: None,
        protocol: 0,
        scope: 0,
        kind: 0,
    };
    read_route(p, &mut out)?;
    Ok(out)
}

fn neighbour(p: &[u8]) -> Result<Neighbour> {
    let (h, attrs) = typed::<NdMsg>(p, "neighbour")?;
    let mut out = Neighbour {
        family: h.family,
        index: h.index,
        address: None,
        lladdr: None,
        state: h.state,
    };
    for a in attrs {
        let (kind, v) = a?;
        match kind {
            NDA_DST => out.address = ip(h.family, v, "NDA_DST")?,
            NDA_LLADDR => out.lladdr = Some(v.to_vec()),
            _ => {}
        }
    }
    Ok(out)
}

fn tc(p: &[u8]) -> Result<Tc> {
    let (h, attrs) = typed::<TcMsg>(p, "tc")?;
    let mut out = Tc {
        index: h.index,
        handle: h.handle,
        parent: h.parent,
        kind: None,
    };
    for a in attrs {
        let (kind, v) = a?;
        if kind == TCA_KIND {
            out.kind = Some(name(v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
