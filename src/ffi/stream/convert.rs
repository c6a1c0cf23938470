//! Filling the C stream event in the caller's memory from what the stream queued: a message
//! read straight from the stream's arena (its key and bytes pointed to, not copied), or an
//! event that was whole already; pointing into what the handle keeps until the next call.

use std::ffi::c_char;
use std::net::IpAddr;

use super::types::*;
use crate::ffi::handle_cell::Scratch;
use crate::rtnl::{Change, Link, Rtnl};
use crate::stream::{typed, StreamEventRef};
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

// SAFETY (the five below): these members are plain data (integers, byte arrays), for which
// all-zero is the documented "absent" value.
// (`nsmon_link.alt_names` is a pointer: all-zero is NULL, with a count of 0.)
const ZERO_LINK: nsmon_link = unsafe { std::mem::zeroed() };
const ZERO_ADDR: nsmon_addr = unsafe { std::mem::zeroed() };
const ZERO_ROUTE: nsmon_route = unsafe { std::mem::zeroed() };
const ZERO_NEIGH: nsmon_neigh = unsafe { std::mem::zeroed() };
const ZERO_TC: nsmon_tc = unsafe { std::mem::zeroed() };

/// An event with every member absent: what `fill` starts from.
const EMPTY_EVENT: nsmon_stream_event = nsmon_stream_event {
    kind: nsmon_stream_event_kind::Synced,
    key: std::ptr::null(),
    key_len: 0,
    raw: std::ptr::null(),
    raw_len: 0,
    nsid: -1,
    lost: 0,
    reason: std::ptr::null(),
    link: ZERO_LINK,
    addr: ZERO_ADDR,
    route: ZERO_ROUTE,
    neigh: ZERO_NEIGH,
    tc: ZERO_TC,
};

/// Fills `*out` from `view`. Filled in place: the struct is a few hundred bytes, and building
/// it aside to copy it over showed as a third of the per-event copying. Text is made only for
/// the events that have some (no allocation per message event).
///
/// # Safety
/// `out` is writable for one event.
pub(super) unsafe fn fill(
    view: StreamEventRef<'_>,
    scratch: &mut Scratch,
    out: *mut nsmon_stream_event,
) {
    // SAFETY: `out` is writable for one event (this function's contract); it is written
    // whole before the reference is made.
    let out = unsafe {
        out.write(EMPTY_EVENT);
        &mut *out
    };
    match view {
        StreamEventRef::Message(m) => {
            let (key, raw) = (m.key(), m.raw());
            out.nsid = m.nsid().unwrap_or(-1);
            out.raw = raw.as_ptr();
            out.raw_len = raw.len();
            out.kind = match typed(raw) {
                // The C event points into a link's alternative names: kept until the next call.
                Ok(link @ Rtnl::Link(..)) => {
                    let link = scratch.message.insert(link);
                    fill_message(out, link, &mut scratch.names)
                }
                Ok(message) => fill_message(out, &message, &mut scratch.names),
                Err(why) => {
                    scratch.text = Some(c_text(why));
                    out.reason = scratch.text_ptr();
                    nsmon_stream_event_kind::Unparsed
                }
            };
            out.key = key.as_ptr().cast();
            out.key_len = key.len();
        }
        StreamEventRef::Other(event) => fill_whole(event, scratch, out),
    }
}

/// Fills `out` (all members absent) from an event that was whole already.
fn fill_whole(event: &StreamEvent, scratch: &mut Scratch, out: &mut nsmon_stream_event) {
    {
        use nsmon_stream_event_kind as K;
        let mut reason = |text: String| {
            scratch.text = Some(c_text(text));
            scratch.text_ptr()
        };
        let key = match event {
            StreamEvent::Message {
                key,
                nsid,
                message,
                raw,
            } => {
                out.nsid = nsid.unwrap_or(-1);
                out.raw = raw.as_ptr();
                out.raw_len = raw.len();
                out.kind = fill_message(out, message, &mut scratch.names);
                key
            }
            StreamEvent::Unparsed {
                key,
                nsid,
                reason: why,
                raw,
            } => {
                out.kind = K::Unparsed;
                out.nsid = nsid.unwrap_or(-1);
                out.raw = raw.as_ptr();
                out.raw_len = raw.len();
                out.reason = reason(why.clone());
                key
            }
            StreamEvent::Synced { key } => key,
            StreamEvent::SyncFailed { key, reason: why } => {
                out.kind = K::SyncFailed;
                out.reason = reason(why.clone());
                key
            }
            StreamEvent::Overrun { key, lost } => {
                out.kind = K::Overrun;
                out.lost = lost.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
                key
            }
            StreamEvent::Error { key, error } => {
                out.kind = K::Error;
                out.reason = reason(error.to_string());
                key
            }
        };
        out.key = key.as_ptr().cast();
        out.key_len = key.len();
    }
}

/// Fills the member of `out` that `message` is about and returns the event's kind; a link's
/// alternative names are laid out in `names`, which `out` then points into.
fn fill_message(
    out: &mut nsmon_stream_event,
    message: &Rtnl,
    names: &mut Vec<nsmon_bytes>,
) -> nsmon_stream_event_kind {
    use nsmon_stream_event_kind as K;
    let pick = |c: &Change, new: K, del: K| if *c == Change::New { new } else { del };
    match message {
        Rtnl::Link(c, l) => {
            fill_link(&mut out.link, l, names);
            pick(c, K::NewLink, K::DelLink)
        }
        Rtnl::Address(c, a) => {
            let o = &mut out.addr;
            o.index = a.index;
            o.addr = ip(a.address);
            o.prefix_len = a.prefix_len;
            o.scope = a.scope;
            o.label_len = copy_name(&mut o.label, a.label.as_ref());
            pick(c, K::NewAddr, K::DelAddr)
        }
        Rtnl::Route(c, r) => {
            out.route = nsmon_route {
                family: r.family,
                dst_len: r.dst_len,
                protocol: r.protocol,
                scope: r.scope,
                route_type: r.kind,
                table: r.table,
                oif: r.oif.unwrap_or(0),
                dst: ip(r.dst),
                gateway: ip(r.gateway),
            };
            pick(c, K::NewRoute, K::DelRoute)
        }
        Rtnl::Neighbour(c, n) => {
            let o = &mut out.neigh;
            o.family = n.family;
            o.state = n.state;
            o.index = n.index;
            o.dst = ip(n.address);
            o.lladdr_len = copy_bytes(&mut o.lladdr, n.lladdr.as_deref());
            pick(c, K::NewNeigh, K::DelNeigh)
        }
        Rtnl::Qdisc(c, t) | Rtnl::Class(c, t) | Rtnl::Filter(c, t) => {
            let o = &mut out.tc;
            o.index = t.index;
            o.handle = t.handle;
            o.parent = t.parent;
            o.kind_len = copy_name(&mut o.kind, t.kind.as_ref());
            match message {
                Rtnl::Qdisc(..) => pick(c, K::NewQdisc, K::DelQdisc),
                Rtnl::Class(..) => pick(c, K::NewClass, K::DelClass),
                _ => pick(c, K::NewFilter, K::DelFilter),
            }
        }
    }
}

fn fill_link(out: &mut nsmon_link, l: &Link, names: &mut Vec<nsmon_bytes>) {
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
}

/// Text for C: NUL-terminated (an inner NUL, which no message should hold, becomes a space).
pub(crate) fn c_text(text: String) -> std::ffi::CString {
    std::ffi::CString::new(text.replace('\0', " ")).unwrap_or_default()
}
