//! Filling the C stream event in the caller's memory from what the stream queued: a message
//! read straight from the stream's arena (its key and bytes pointed to, not copied), or an
//! event that was whole already; pointing into what the handle keeps until the next call.

use std::ffi::c_char;
use std::net::IpAddr;

use super::types::*;
use crate::ffi::handle_cell::Scratch;
use crate::netlink::layout::RtMsg;
use crate::rtnl::{read_route, route_change, Change, Link, Route, RouteFields, Rtnl};
use crate::stream::{typed_message, StreamEventRef};
use crate::{Name, StreamEvent};

/// Copies a name's bytes into a NUL-terminated array (cut to fit, which the kernel's limits
/// make moot) and returns how many were copied.
fn copy_name<const N: usize>(dst: &mut [c_char; N], name: Option<&Name>) -> u8 {
    let bytes = name.map_or(&[][..], |n| n.as_bytes());
    let n = bytes.len().min(N - 1).min(usize::from(u8::MAX));
    for (d, b) in dst.iter_mut().zip(&bytes[..n]) {
        *d = *b as c_char;
    }
    n as u8
}

fn copy_bytes(dst: &mut [u8; 32], src: Option<&[u8]>) -> u8 {
    let src = src.unwrap_or_default();
    let n = src.len().min(32);
    dst[..n].copy_from_slice(&src[..n]);
    n as u8
}

fn ip(a: Option<IpAddr>) -> nsmon_ip {
    let mut out = nsmon_ip::default();
    match a {
        Some(IpAddr::V4(v4)) => {
            out.family = libc::AF_INET as u8;
            out.bytes[..4].copy_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            out.family = libc::AF_INET6 as u8;
            out.bytes = v6.octets();
        }
        None => {}
    }
    out
}

// SAFETY (the six below): these members are plain data (integers, byte arrays), for which
// all-zero is the documented "absent" value.
// (`nsmon_link.alt_names` is a pointer: all-zero is NULL, with a count of 0.)
const ZERO_LINK: nsmon_link = unsafe { std::mem::zeroed() };
const ZERO_ADDR: nsmon_addr = unsafe { std::mem::zeroed() };
const ZERO_NEIGH: nsmon_neigh = unsafe { std::mem::zeroed() };
const ZERO_TC: nsmon_tc = unsafe { std::mem::zeroed() };
const ZERO_ROUTE: nsmon_route = unsafe { std::mem::zeroed() };

/// The members of a C event before its typed ones, each absent until set.
struct Head<'a> {
    kind: nsmon_stream_event_kind,
    key: &'a str,
    raw: *const u8,
    raw_len: usize,
    nsid: i32,
    lost: i64,
    reason: *const c_char,
}

/// A head with `key` and every other member absent.
fn head(kind: nsmon_stream_event_kind, key: &str) -> Head<'_> {
    Head {
        kind,
        key,
        raw: std::ptr::null(),
        raw_len: 0,
        nsid: -1,
        lost: 0,
        reason: std::ptr::null(),
    }
}

/// The head of a message event (unparsed until its member is written): its key, the source's
/// nsid and the message's bytes.
fn message_head<'a>(key: &'a str, nsid: Option<i32>, raw: &[u8]) -> Head<'a> {
    let mut h = head(nsmon_stream_event_kind::Unparsed, key);
    h.nsid = nsid.unwrap_or(-1);
    h.raw = raw.as_ptr();
    h.raw_len = raw.len();
    h
}

/// Where an event's typed member (the one its kind names) is written: in place, through the
/// event's pointer (built aside and moved, the largest member cost every event its copy).
#[derive(Clone, Copy)]
struct Members(*mut nsmon_stream_event);

impl Members {
    /// Writes `value` into the member `field` picks.
    ///
    /// # Safety
    /// The event's pointer is writable for one event (as [`fill`]'s `out`).
    unsafe fn put<T>(self, field: impl FnOnce(*mut nsmon_stream_event) -> *mut T, value: T) {
        // SAFETY: `field` gives a member of the event, which is writable (this contract).
        unsafe { field(self.0).write(value) }
    }
}

/// Fills `*out` from `view`: the members every event has, the typed members zeroed (absent),
/// and the one its kind names. Written in place, field by field: copying a whole struct over
/// (a few hundred bytes, from a constant or built aside) cost a tenth of an event. Text is made
/// only for the events that have some (no allocation per message event).
///
/// # Safety
/// `out` is writable for one event.
pub(super) unsafe fn fill(
    view: StreamEventRef<'_>,
    scratch: &mut Scratch,
    out: *mut nsmon_stream_event,
) {
    let members = Members(out);
    // SAFETY: `out` is writable for one event (this function's contract), as the functions
    // below need; the typed members, from `link` to the end, are plain data for which all
    // zero is "absent" (and NULL for `link.alt_names`).
    unsafe {
        let typed_at = std::mem::offset_of!(nsmon_stream_event, link);
        out.cast::<u8>()
            .add(typed_at)
            .write_bytes(0, std::mem::size_of::<nsmon_stream_event>() - typed_at);
        let head = match view {
            StreamEventRef::Message(m) => arena_head(m.key(), m.nsid(), m.raw(), scratch, members),
            StreamEventRef::Other(event) => whole_head(event, scratch, members),
        };
        write_head(out, head);
    }
}

/// Writes `head` into `*out`, field by field: the struct may be uninitialised (a Rust
/// reference to it would claim it is not).
///
/// # Safety
/// `out` is writable for one event.
unsafe fn write_head(out: *mut nsmon_stream_event, head: Head<'_>) {
    use std::ptr::addr_of_mut;
    // SAFETY: each field of `*out` is writable (this function's contract).
    unsafe {
        addr_of_mut!((*out).kind).write(head.kind);
        addr_of_mut!((*out).key).write(head.key.as_ptr().cast());
        addr_of_mut!((*out).key_len).write(head.key.len());
        addr_of_mut!((*out).raw).write(head.raw);
        addr_of_mut!((*out).raw_len).write(head.raw_len);
        addr_of_mut!((*out).nsid).write(head.nsid);
        addr_of_mut!((*out).lost).write(head.lost);
        addr_of_mut!((*out).reason).write(head.reason);
    }
}

/// The head of a message event read from the stream's arena, typed now (its member written)
/// or unparsed.
///
/// # Safety
/// `members`' event is writable, its typed members zeroed.
unsafe fn arena_head<'a>(
    key: &'a str,
    nsid: Option<i32>,
    raw: &[u8],
    scratch: &mut Scratch,
    members: Members,
) -> Head<'a> {
    let mut h = message_head(key, nsid, raw);
    // A route, the commonest, read by the route parser straight into the C member (a `Route`
    // between, then an `Rtnl` around it, moved and matched on, each cost a tenth of the
    // event); any other message through `typed`. The header is read again once for both.
    let msg = crate::netlink::message::whole(raw);
    if let Some((change, msg)) = msg.as_ref().and_then(|m| Some((route_change(m)?, m))) {
        // SAFETY: the member is writable and zeroed, so initialised (this function's
        // contract); nothing else refers to it meanwhile.
        let route = unsafe { &mut *std::ptr::addr_of_mut!((*members.0).route) };
        match read_route(msg.payload, route) {
            Ok(()) => h.kind = route_kind(change),
            Err(why) => {
                *route = ZERO_ROUTE; // what a refused route set is not kept
                scratch.text = Some(c_text(why.to_string()));
                h.reason = scratch.text_ptr();
            }
        }
        return h;
    }
    match typed_message(msg.as_ref()) {
        // The C event points into a link's alternative names: kept until the next call.
        Ok(link @ Rtnl::Link(..)) => {
            let link = scratch.message.insert(link);
            // SAFETY: `members`' event is writable (this function's contract).
            h.kind = unsafe { write_typed(link, &mut scratch.names, members) };
        }
        // SAFETY: as above.
        Ok(message) => h.kind = unsafe { write_typed(&message, &mut scratch.names, members) },
        Err(why) => {
            scratch.text = Some(c_text(why));
            h.reason = scratch.text_ptr();
        }
    }
    h
}

/// The head of an event that was whole already (a message's member written).
///
/// # Safety
/// `members`' event is writable.
unsafe fn whole_head<'a>(
    event: &'a StreamEvent,
    scratch: &mut Scratch,
    members: Members,
) -> Head<'a> {
    use nsmon_stream_event_kind as K;
    let mut reason = |text: String| {
        scratch.text = Some(c_text(text));
        scratch.text_ptr()
    };
    match event {
        StreamEvent::Message {
            key,
            nsid,
            message,
            raw,
        } => {
            let mut h = message_head(key, *nsid, raw);
            // SAFETY: `members`' event is writable (this function's contract).
            h.kind = unsafe { write_typed(message, &mut scratch.names, members) };
            h
        }
        StreamEvent::Unparsed {
            key,
            nsid,
            reason: why,
            raw,
        } => {
            let mut h = message_head(key, *nsid, raw);
            h.reason = reason(why.clone());
            h
        }
        StreamEvent::Synced { key } => head(K::Synced, key),
        StreamEvent::SyncFailed { key, reason: why } => {
            let mut h = head(K::SyncFailed, key);
            h.reason = reason(why.clone());
            h
        }
        StreamEvent::Overrun { key, lost } => {
            let mut h = head(K::Overrun, key);
            h.lost = lost.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
            h
        }
        StreamEvent::Error { key, error } => {
            let mut h = head(K::Error, key);
            h.reason = reason(error.to_string());
            h
        }
    }
}

/// Writes the typed member for `message` and returns the event's kind; a link's alternative
/// names are laid out in `names`, which the member then points into.
///
/// # Safety
/// `members`' event is writable.
unsafe fn write_typed(
    message: &Rtnl,
    names: &mut Vec<nsmon_bytes>,
    members: Members,
) -> nsmon_stream_event_kind {
    use nsmon_stream_event_kind as K;
    use std::ptr::addr_of_mut;
    let pick = |c: &Change, new: K, del: K| if *c == Change::New { new } else { del };
    // SAFETY (each `put`): `members`' event is writable (this function's contract).
    match message {
        Rtnl::Link(c, l) => {
            unsafe { members.put(|e| addr_of_mut!((*e).link), link(l, names)) };
            pick(c, K::NewLink, K::DelLink)
        }
        Rtnl::Address(c, a) => {
            let mut o = ZERO_ADDR;
            o.index = a.index;
            o.addr = ip(a.address);
            o.prefix_len = a.prefix_len;
            o.scope = a.scope;
            o.label_len = copy_name(&mut o.label, a.label.as_ref());
            unsafe { members.put(|e| addr_of_mut!((*e).addr), o) };
            pick(c, K::NewAddr, K::DelAddr)
        }
        Rtnl::Route(c, r) => {
            unsafe { members.put(|e| addr_of_mut!((*e).route), c_route(r)) };
            route_kind(*c)
        }
        Rtnl::Neighbour(c, n) => {
            let mut o = ZERO_NEIGH;
            o.family = n.family;
            o.state = n.state;
            o.index = n.index;
            o.dst = ip(n.address);
            o.lladdr_len = copy_bytes(&mut o.lladdr, n.lladdr.as_deref());
            unsafe { members.put(|e| addr_of_mut!((*e).neigh), o) };
            pick(c, K::NewNeigh, K::DelNeigh)
        }
        Rtnl::Qdisc(c, t) | Rtnl::Class(c, t) | Rtnl::Filter(c, t) => {
            let mut o = ZERO_TC;
            o.index = t.index;
            o.handle = t.handle;
            o.parent = t.parent;
            o.kind_len = copy_name(&mut o.kind, t.kind.as_ref());
            unsafe { members.put(|e| addr_of_mut!((*e).tc), o) };
            match message {
                Rtnl::Qdisc(..) => pick(c, K::NewQdisc, K::DelQdisc),
                Rtnl::Class(..) => pick(c, K::NewClass, K::DelClass),
                _ => pick(c, K::NewFilter, K::DelFilter),
            }
        }
    }
}

/// A route as C reads it.
fn c_route(r: &Route) -> nsmon_route {
    nsmon_route {
        family: r.family,
        dst_len: r.dst_len,
        protocol: r.protocol,
        scope: r.scope,
        route_type: r.kind,
        table: r.table,
        oif: r.oif.unwrap_or(0),
        dst: ip(r.dst),
        gateway: ip(r.gateway),
    }
}

/// The route parser writes a route event's member in place: the member starts zeroed (every
/// field absent), and only the fields the message carries are set.
impl RouteFields for nsmon_route {
    fn header(&mut self, h: &RtMsg) {
        self.family = h.family;
        self.dst_len = h.dst_len;
        self.protocol = h.protocol;
        self.scope = h.scope;
        self.route_type = h.kind;
        self.table = u32::from(h.table);
    }
    fn dst(&mut self, address: &[u8]) {
        self.dst = ip_from_bytes(address);
    }
    fn gateway(&mut self, address: &[u8]) {
        self.gateway = ip_from_bytes(address);
    }
    fn oif(&mut self, index: u32) {
        self.oif = index;
    }
    fn table(&mut self, table: u32) {
        self.table = table;
    }
}

/// An address of 4 bytes (IPv4) or 16 (IPv6), as the route parser checked it is.
fn ip_from_bytes(bytes: &[u8]) -> nsmon_ip {
    let mut out = nsmon_ip::default();
    // Copies of a known length: moves, not a call to `memcpy`.
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        out.family = libc::AF_INET as u8;
        out.bytes[..4].copy_from_slice(&v4);
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        out.family = libc::AF_INET6 as u8;
        out.bytes = v6;
    }
    out
}

/// A route event's kind.
fn route_kind(change: Change) -> nsmon_stream_event_kind {
    match change {
        Change::New => nsmon_stream_event_kind::NewRoute,
        Change::Deleted => nsmon_stream_event_kind::DelRoute,
    }
}

fn link(l: &Link, names: &mut Vec<nsmon_bytes>) -> nsmon_link {
    let mut out = ZERO_LINK;
    out.family = l.family;
    out.index = l.index;
    out.flags = l.flags;
    out.mtu = l.mtu.unwrap_or(0);
    out.master = l.master.unwrap_or(0);
    out.operstate = l.operstate.unwrap_or(0);
    out.mac_len = copy_bytes(&mut out.mac, l.mac.as_deref());
    out.name_len = copy_name(&mut out.name, l.name.as_ref());
    out.kind_len = copy_name(&mut out.kind, l.kind.as_ref());
    if !l.alt_names.is_empty() {
        names.clear();
        names.extend(l.alt_names.iter().map(|n| nsmon_bytes {
            bytes: n.as_bytes().as_ptr(),
            len: n.len(),
        }));
        out.alt_names = names.as_ptr();
        out.alt_names_count = names.len();
    }
    out
}

/// Text for C: NUL-terminated (an inner NUL, which no message should hold, becomes a space).
pub(crate) fn c_text(text: String) -> std::ffi::CString {
    std::ffi::CString::new(text.replace('\0', " ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::consts::*;
    use crate::netlink::message::built as msg;

    /// A route read straight into the C member is the route the generic parser gives, as C
    /// reads it, with the same error text when it is refused (and then nothing set); other
    /// messages are not routes.
    #[test]
    fn a_route_written_in_place_is_the_route_the_parser_gives() {
        let v4 = [libc::AF_INET as u8, 24, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0];
        let v6 = [libc::AF_INET6 as u8, 64, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        let v6_dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let messages = [
            msg(
                RTM_NEWROUTE,
                &v4,
                &[
                    (RTA_DST, &[198, 51, 100, 0]),
                    (RTA_OIF, &2u32.to_ne_bytes()),
                    (RTA_TABLE, &1000u32.to_ne_bytes()),
                ],
            ),
            msg(RTM_DELROUTE, &v4, &[(RTA_GATEWAY, &[203, 0, 113, 1])]),
            msg(
                RTM_NEWROUTE,
                &v6,
                &[(RTA_DST, &v6_dst), (RTA_GATEWAY, &v6_dst)],
            ),
            // Set, then refused: a good address before a bad one.
            msg(
                RTM_NEWROUTE,
                &v4,
                &[(RTA_OIF, &2u32.to_ne_bytes()), (RTA_DST, &[1, 2, 3])],
            ),
            msg(RTM_NEWROUTE, &[0; 8], &[]), // a short header
            msg(RTM_NEWLINK, &[0; 16], &[(IFLA_IFNAME, b"x\0")]),
        ];
        for raw in &messages {
            let mut scratch = Scratch::default();
            // Zeroed, as `fill` leaves the typed members before `arena_head`.
            let mut event = std::mem::MaybeUninit::<nsmon_stream_event>::zeroed();
            let out = event.as_mut_ptr();
            // SAFETY: `out` is writable and its typed members zeroed; `write_head` then sets
            // the members before them, so the event is whole.
            let (head, event) = unsafe {
                let head = arena_head("k", None, raw, &mut scratch, Members(out));
                let kind = head.kind;
                write_head(out, head);
                (kind, event.assume_init())
            };
            let generic = crate::rtnl::parse(raw);
            let route = format!("{:?}", event.route);
            match generic {
                Ok(Some(Rtnl::Route(change, r))) => {
                    assert_eq!(head, route_kind(change));
                    assert_eq!(route, format!("{:?}", c_route(&r)));
                }
                Err(e) => {
                    assert_eq!(head, nsmon_stream_event_kind::Unparsed);
                    let reason = scratch.text.as_ref().expect("a reason");
                    assert_eq!(reason.to_str().unwrap(), e.to_string());
                    assert_eq!(route, format!("{ZERO_ROUTE:?}"));
                }
                Ok(other) => {
                    assert!(!matches!(other, Some(Rtnl::Route(..))), "{other:?}");
                    let kinds = [
                        nsmon_stream_event_kind::NewRoute,
                        nsmon_stream_event_kind::DelRoute,
                    ];
                    assert!(!kinds.contains(&head));
                }
            }
        }
    }
}
