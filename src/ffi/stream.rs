//! `nsmon_stream_*`: the multi-namespace event stream for C.

use std::ffi::{c_char, c_int, c_void};
use std::net::IpAddr;

use super::handle_cell::{
    handle_dispatch_kept, handle_fd, handle_free, handle_next_kept, handle_wait, CHandle,
    HandleCell, Kept, KeptEvents, Scratch,
};
use super::netns::{netns_ref, nsmon_netns_ref};
use super::options::{options_free, options_new, options_update, wraps_options};
use super::{boxed, c_str, guard, Failure};
use crate::rtnl::{Change, Rtnl};
use crate::{Groups, Name, NetnsRef, Stream, StreamEvent, StreamOptions};

/// The receive buffer stream sockets ask for unless told otherwise (bytes).
pub const NSMON_DEFAULT_RECEIVE_BUFFER: usize = 1048576;
// A literal for cbindgen, kept equal to the library's.
const _: () = assert!(NSMON_DEFAULT_RECEIVE_BUFFER == crate::stream::DEFAULT_RECEIVE_BUFFER);

/// `nsmon_stream_options_set_groups` bit: links.
pub const NSMON_GROUP_LINK: u32 = 1;
/// Group bit: IPv4 addresses.
pub const NSMON_GROUP_IPV4_ADDR: u32 = 1 << 1;
/// Group bit: IPv6 addresses.
pub const NSMON_GROUP_IPV6_ADDR: u32 = 1 << 2;
/// Group bit: IPv4 routes.
pub const NSMON_GROUP_IPV4_ROUTE: u32 = 1 << 3;
/// Group bit: IPv6 routes.
pub const NSMON_GROUP_IPV6_ROUTE: u32 = 1 << 4;
/// Group bit: neighbours.
pub const NSMON_GROUP_NEIGH: u32 = 1 << 5;
/// Group bit: qdiscs, classes and filters.
pub const NSMON_GROUP_TC: u32 = 1 << 6;
/// All group bits.
pub const NSMON_GROUP_ALL: u32 = (1 << 7) - 1;

/// What a stream event reports; the matching member of `nsmon_stream_event` is filled.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsmon_stream_event_kind {
    /// A link appeared or changed (`link`).
    NewLink = 1,
    /// A link went away (`link`).
    DelLink = 2,
    /// An address was added (`addr`).
    NewAddr = 3,
    /// An address was removed (`addr`).
    DelAddr = 4,
    /// A route was added or changed (`route`).
    NewRoute = 5,
    /// A route was removed (`route`).
    DelRoute = 6,
    /// A neighbour entry appeared or changed (`neigh`).
    NewNeigh = 7,
    /// A neighbour entry went away (`neigh`).
    DelNeigh = 8,
    /// A qdisc was added or changed (`tc`).
    NewQdisc = 9,
    /// A qdisc was removed (`tc`).
    DelQdisc = 10,
    /// A class was added or changed (`tc`).
    NewClass = 11,
    /// A class was removed (`tc`).
    DelClass = 12,
    /// A filter was added or changed (`tc`).
    NewFilter = 13,
    /// A filter was removed (`tc`).
    DelFilter = 14,
    /// The namespace's dump (or resync) is complete.
    Synced = 15,
    /// The kernel dropped notifications for the namespace; `lost` says how many (-1: the kernel
    /// does not say). Reported after the messages queued before the loss. A resync follows if
    /// asked for, and whenever a dump was running.
    Overrun = 16,
    /// The namespace's socket failed and it was removed; `reason` says why.
    Error = 17,
    /// A message nsmon could not type (malformed, of a type nsmon does not type, or the part of
    /// a datagram that could not be split or read whole): `raw` has its bytes, `reason` why.
    /// The namespace goes on.
    Unparsed = 18,
    /// The dump (or resync) ended without a complete, consistent snapshot (a dump failed, or
    /// its table kept changing while it was dumped); `reason` says which. Live events go on.
    SyncFailed = 19,
}

/// A byte string that nsmon owns: `len` bytes at `bytes`, not NUL-terminated, not necessarily
/// UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nsmon_bytes {
    /// The first byte.
    pub bytes: *const u8,
    /// How many.
    pub len: usize,
}

/// An IP address: `family` is `AF_INET` (4 bytes used) or `AF_INET6` (16), 0 when absent.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_ip {
    /// `AF_INET`, `AF_INET6`, or 0 when the address is absent.
    pub family: u8,
    /// The address in network byte order.
    pub bytes: [u8; 16],
}

/// A link event's fields. Absent numbers are 0, absent strings empty. Names are the kernel's
/// bytes, not necessarily UTF-8 (the kernel allows any but `/`, `:` and white space), with their
/// length beside them; the kernel keeps them under 16 bytes, so they always fit.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nsmon_link {
    /// Interface index.
    pub index: u32,
    /// `IFF_*` flags.
    pub flags: u32,
    /// MTU (0 when absent).
    pub mtu: u32,
    /// Index of the master device (0 when none).
    pub master: u32,
    /// `AF_UNSPEC` (0) for the link itself, `AF_BRIDGE` for a bridge's notice about a port.
    pub family: u8,
    /// RFC 2863 operational state.
    pub operstate: u8,
    /// Bytes used in `mac`.
    pub mac_len: u8,
    /// Link-layer address.
    pub mac: [u8; 32],
    /// Length of `name` in bytes.
    pub name_len: u8,
    /// Length of `kind` in bytes.
    pub kind_len: u8,
    /// Interface name, NUL-terminated.
    pub name: [c_char; 16],
    /// Link kind (`"bridge"`, `"veth"`, ...), NUL-terminated.
    pub kind: [c_char; 32],
    /// The alternative names (`ip link property add ... altname`), `alt_names_count` of them;
    /// they point into the stream, valid as long as `key`.
    pub alt_names: *const nsmon_bytes,
    /// How many alternative names.
    pub alt_names_count: usize,
}

/// An address event's fields.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_addr {
    /// Interface index.
    pub index: u32,
    /// The address (its family is the address family).
    pub addr: nsmon_ip,
    /// Prefix length.
    pub prefix_len: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// Length of `label` in bytes.
    pub label_len: u8,
    /// Label (IPv4): bytes like a link name, NUL-terminated.
    pub label: [c_char; 16],
}

/// A route event's fields.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_route {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Destination prefix length (0 with no `dst`: the default route).
    pub dst_len: u8,
    /// `RTPROT_*`.
    pub protocol: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `RTN_*`.
    pub route_type: u8,
    /// Routing table.
    pub table: u32,
    /// Output interface index (0 when absent).
    pub oif: u32,
    /// Destination (family 0 when absent).
    pub dst: nsmon_ip,
    /// Gateway (family 0 when absent).
    pub gateway: nsmon_ip,
}

/// A neighbour event's fields.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_neigh {
    /// `AF_INET`, `AF_INET6` or `AF_BRIDGE`.
    pub family: u8,
    /// Bytes used in `lladdr`.
    pub lladdr_len: u8,
    /// `NUD_*` state bits.
    pub state: u16,
    /// Interface index.
    pub index: u32,
    /// The neighbour's address (family 0 when absent).
    pub dst: nsmon_ip,
    /// Its link-layer address.
    pub lladdr: [u8; 32],
}

/// A qdisc, class or filter event's fields.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_tc {
    /// Interface index.
    pub index: u32,
    /// Handle, `major << 16 | minor`.
    pub handle: u32,
    /// Parent handle (`0xffffffff`: root).
    pub parent: u32,
    /// Length of `kind` in bytes.
    pub kind_len: u8,
    /// Kind (`"htb"`, `"u32"`, ...), NUL-terminated.
    pub kind: [c_char; 32],
}

/// One stream event, filled in by nsmon into memory the caller owns.
///
/// # Memory and lifetimes
/// The typed members are plain data but for `link.alt_names`. `key`, `raw`, `reason` and
/// `link.alt_names` point into the stream and stay valid until the next call on the same stream
/// (or, in a callback, until it returns).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nsmon_stream_event {
    /// What happened; says which member below is filled.
    pub kind: nsmon_stream_event_kind,
    /// The namespace's key (not NUL-terminated; `key_len` bytes).
    pub key: *const c_char,
    /// Length of `key`.
    pub key_len: usize,
    /// The netlink message as the kernel sent it; for UNPARSED, the bytes that could not be
    /// typed (NULL for SYNCED, SYNC_FAILED, OVERRUN, ERROR).
    pub raw: *const u8,
    /// Length of `raw`.
    pub raw_len: usize,
    /// From an all-nsid target: the source namespace's id in the observer's namespace; -1
    /// otherwise (the observer's own events, every other target, and non-message events).
    pub nsid: i32,
    /// For OVERRUN: how many notifications were lost, or -1 when the kernel does not say
    /// (before Linux 4.12). 0 for other events.
    pub lost: i64,
    /// For ERROR, UNPARSED and SYNC_FAILED: why, NUL-terminated; NULL otherwise.
    pub reason: *const c_char,
    /// For LINK events.
    pub link: nsmon_link,
    /// For ADDR events.
    pub addr: nsmon_addr,
    /// For ROUTE events.
    pub route: nsmon_route,
    /// For NEIGH events.
    pub neigh: nsmon_neigh,
    /// For QDISC, CLASS and FILTER events.
    pub tc: nsmon_tc,
}

/// Called by `nsmon_stream_dispatch` for each event. Return 0 to go on, non-zero to stop. The
/// same rules as `nsmon_watcher_callback`.
pub type nsmon_stream_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const nsmon_stream_event) -> c_int>;

/// Options for `nsmon_stream_add`: all groups, no dump, no resync, a 1 MiB receive buffer.
pub struct nsmon_stream_options {
    inner: StreamOptions,
}

wraps_options!(nsmon_stream_options, StreamOptions);

/// A stream. Not thread-safe: use it from one thread at a time.
pub struct nsmon_stream {
    cell: HandleCell<Kept<Stream>>,
    fd: c_int,
}

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

impl KeptEvents for nsmon_stream {
    type Handle = Stream;
    type CEvent = nsmon_stream_event;

    /// Filled in place: the struct is a few hundred bytes, and building it aside to copy it
    /// over showed as a third of the per-event copying. Text is made only for the events that
    /// have some (no allocation per message event).
    unsafe fn fill(event: &StreamEvent, scratch: &mut Scratch, out: *mut nsmon_stream_event) {
        use nsmon_stream_event_kind as K;
        // SAFETY: per the contract; written whole before the reference is made.
        let out = unsafe {
            out.write(EMPTY_EVENT);
            &mut *out
        };
        let pick = |c: &Change, new: K, del: K| if *c == Change::New { new } else { del };
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
                match message {
                    Rtnl::Link(c, l) => {
                        out.kind = pick(c, K::NewLink, K::DelLink);
                        out.link.family = l.family;
                        out.link.index = l.index;
                        out.link.flags = l.flags;
                        out.link.mtu = l.mtu.unwrap_or(0);
                        out.link.master = l.master.unwrap_or(0);
                        out.link.operstate = l.operstate.unwrap_or(0);
                        out.link.mac_len = copy_bytes(&mut out.link.mac, l.mac.as_deref());
                        out.link.name_len = copy_name(&mut out.link.name, l.name.as_ref());
                        out.link.kind_len = copy_name(&mut out.link.kind, l.kind.as_ref());
                        if !l.alt_names.is_empty() {
                            scratch.names.clear();
                            scratch
                                .names
                                .extend(l.alt_names.iter().map(|n| nsmon_bytes {
                                    bytes: n.as_bytes().as_ptr(),
                                    len: n.len(),
                                }));
                            out.link.alt_names = scratch.names.as_ptr();
                            out.link.alt_names_count = scratch.names.len();
                        }
                    }
                    Rtnl::Address(c, a) => {
                        out.kind = pick(c, K::NewAddr, K::DelAddr);
                        out.addr.index = a.index;
                        out.addr.addr = ip(a.address);
                        out.addr.prefix_len = a.prefix_len;
                        out.addr.scope = a.scope;
                        out.addr.label_len = copy_name(&mut out.addr.label, a.label.as_ref());
                    }
                    Rtnl::Route(c, r) => {
                        out.kind = pick(c, K::NewRoute, K::DelRoute);
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
                    }
                    Rtnl::Neighbour(c, n) => {
                        out.kind = pick(c, K::NewNeigh, K::DelNeigh);
                        out.neigh.family = n.family;
                        out.neigh.state = n.state;
                        out.neigh.index = n.index;
                        out.neigh.dst = ip(n.address);
                        out.neigh.lladdr_len =
                            copy_bytes(&mut out.neigh.lladdr, n.lladdr.as_deref());
                    }
                    Rtnl::Qdisc(c, t) | Rtnl::Class(c, t) | Rtnl::Filter(c, t) => {
                        out.kind = match message {
                            Rtnl::Qdisc(..) => pick(c, K::NewQdisc, K::DelQdisc),
                            Rtnl::Class(..) => pick(c, K::NewClass, K::DelClass),
                            _ => pick(c, K::NewFilter, K::DelFilter),
                        };
                        out.tc.index = t.index;
                        out.tc.handle = t.handle;
                        out.tc.parent = t.parent;
                        out.tc.kind_len = copy_name(&mut out.tc.kind, t.kind.as_ref());
                    }
                }
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

/// Text for C: NUL-terminated (an inner NUL, which no message should hold, becomes a space).
pub(crate) fn c_text(text: String) -> std::ffi::CString {
    std::ffi::CString::new(text.replace('\0', " ")).unwrap_or_default()
}

impl CHandle for nsmon_stream {
    type Inner = Kept<Stream>;
    const NAME: &'static str = "stream";
    fn cell(&self) -> &HandleCell<Kept<Stream>> {
        &self.cell
    }
    fn raw_fd(&self) -> c_int {
        self.fd
    }
}

/// Creates stream options: all groups, no dump, no resync, a 1 MiB receive buffer
/// (`NSMON_DEFAULT_RECEIVE_BUFFER`).
/// Returns 0 and sets `*out`, or `NSMON_ERR_NULL`.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_new(out: *mut *mut nsmon_stream_options) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { options_new(out, StreamOptions::new()) }
}

/// Frees stream options. NULL is accepted.
///
/// # Safety
/// `options` is NULL or came from `nsmon_stream_options_new` and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_free(options: *mut nsmon_stream_options) {
    // SAFETY: forwarded contract.
    unsafe { options_free(options) }
}

/// Sets which kinds to follow: a mask of `NSMON_GROUP_*` bits (default `NSMON_GROUP_ALL`).
/// Returns 0, `NSMON_ERR_NULL`, or `-EINVAL` for unknown bits (options unchanged).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_groups(
    options: *mut nsmon_stream_options,
    groups: u32,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        options_update(options, |o| {
            if groups & !NSMON_GROUP_ALL != 0 {
                return Err(crate::Error::InvalidArgument(format!(
                    "unknown group bits {:#x}",
                    groups & !NSMON_GROUP_ALL
                ))
                .into());
            }
            let mut g = Groups::NONE;
            for (bit, group) in [
                (NSMON_GROUP_LINK, Groups::LINK),
                (NSMON_GROUP_IPV4_ADDR, Groups::IPV4_ADDR),
                (NSMON_GROUP_IPV6_ADDR, Groups::IPV6_ADDR),
                (NSMON_GROUP_IPV4_ROUTE, Groups::IPV4_ROUTE),
                (NSMON_GROUP_IPV6_ROUTE, Groups::IPV6_ROUTE),
                (NSMON_GROUP_NEIGH, Groups::NEIGH),
                (NSMON_GROUP_TC, Groups::TC),
            ] {
                if groups & bit != 0 {
                    g = g | group;
                }
            }
            Ok(o.groups(g))
        })
    }
}

/// Whether to dump the namespace's current objects after subscribing, then report SYNCED.
/// Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_dump(
    options: *mut nsmon_stream_options,
    on: bool,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { options_update(options, |o| Ok(o.dump(on))) }
}

/// Whether an OVERRUN is followed by a fresh dump and SYNCED. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_resync_on_overrun(
    options: *mut nsmon_stream_options,
    on: bool,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { options_update(options, |o| Ok(o.resync_on_overrun(on))) }
}

/// The receive buffer of each namespace's socket, in bytes (default
/// `NSMON_DEFAULT_RECEIVE_BUFFER`, 1 MiB; 0: the kernel's default, about 208 KiB).
/// `SO_RCVBUFFORCE` when permitted, else `SO_RCVBUF` (capped at `net.core.rmem_max`).
/// Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_receive_buffer(
    options: *mut nsmon_stream_options,
    bytes: usize,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { options_update(options, |o| Ok(o.receive_buffer(bytes))) }
}

/// Creates an empty stream. Returns 0 and sets `*out`, or a negative code.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_new(out: *mut *mut nsmon_stream) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(Failure::Null("out"));
        }
        let stream = Stream::new()?;
        let fd = stream.fd();
        let handle = boxed(nsmon_stream {
            cell: HandleCell::new(Kept::new(stream)),
            fd,
        });
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { out.write(handle) };
        Ok(0)
    })
}

/// Starts monitoring `target` (NULL: the caller's namespace) under `key` (UTF-8, copied), with
/// `options` (NULL: defaults). Returns 0, or a negative code with nothing changed:
/// `NSMON_ERR_NULL`, `NSMON_ERR_UTF8`, `-EINVAL` (key in use, bad name, not a network
/// namespace), `-ENOENT`, `-ESRCH`, `-EMFILE` (fd limit).
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated; `target` is NULL or readable;
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add(
    stream: *mut nsmon_stream,
    key: *const c_char,
    target: *const nsmon_netns_ref,
    options: *const nsmon_stream_options,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { add_with(stream, key, target, "target", options, Stream::add) }
}

/// Checks the arguments shared by the add functions and runs `add` with them.
///
/// # Safety
/// As `nsmon_stream_add`.
unsafe fn add_with(
    stream: *mut nsmon_stream,
    key: *const c_char,
    ns: *const nsmon_netns_ref,
    ns_param: &'static str,
    options: *const nsmon_stream_options,
    add: impl FnOnce(&mut Stream, &str, NetnsRef<'_>, StreamOptions) -> crate::Result<()>,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or(Failure::Null("stream"))?;
        // SAFETY: per the contract.
        let key = unsafe { c_str(key, "key") }?;
        // SAFETY: per the contract.
        let ns = unsafe { netns_ref(ns, ns_param) }?;
        // SAFETY: per the contract.
        let options = unsafe { options.as_ref() }.map_or(StreamOptions::new(), |o| o.inner);
        handle.cell.enter(|s| {
            add(&mut s.handle, key, ns, options)?;
            Ok(0)
        })
    })
}

/// Adds `count` namespaces at once: `targets[i]` under `keys[i]`, all with `options` (NULL:
/// defaults), as `nsmon_stream_add` would, but with one helper thread for the whole batch
/// (adding 1,000 namespaces takes tens of milliseconds instead of over a hundred). Each entry
/// succeeds or fails on its own: `results[i]` is set to 0 or to that entry's negative code
/// (`NSMON_ERR_NULL` for a NULL key, `NSMON_ERR_UTF8`, `-EINVAL` for a key in use or given
/// twice, ...); `nsmon_last_error` then describes the first failure. Returns how many were
/// added, or a negative code (NULL `stream`, or NULL arrays with `count` > 0) with nothing
/// changed.
///
/// # Safety
/// `stream` is NULL or live; `keys`, `targets` and `results` are NULL or valid for `count`
/// elements; each key is NULL or NUL-terminated; `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add_many(
    stream: *mut nsmon_stream,
    keys: *const *const c_char,
    targets: *const nsmon_netns_ref,
    count: usize,
    options: *const nsmon_stream_options,
    results: *mut c_int,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or(Failure::Null("stream"))?;
        if count > 0 {
            for (ptr, name) in [
                (keys.cast::<u8>(), "keys"),
                (targets.cast(), "targets"),
                (results.cast_const().cast(), "results"),
            ] {
                if ptr.is_null() {
                    return Err(Failure::Null(name));
                }
            }
        }
        // SAFETY: per the contract.
        let options = unsafe { options.as_ref() }.map_or(StreamOptions::new(), |o| o.inner);
        let mut codes = vec![0; count];
        let mut first_failure: Option<Failure> = None;
        let mut valid = Vec::with_capacity(count);
        for (i, code) in codes.iter_mut().enumerate() {
            // SAFETY: `keys` and `targets` hold `count` elements per the contract.
            let entry = unsafe {
                c_str(*keys.add(i), "keys[i]")
                    .and_then(|key| Ok((i, key, netns_ref(targets.add(i), "targets[i]")?)))
            };
            match entry {
                Ok(entry) => valid.push(entry),
                Err(failure) => {
                    *code = failure.code();
                    first_failure.get_or_insert(failure);
                }
            }
        }
        let added = handle.cell.enter(|s| {
            let batch: Vec<(&str, NetnsRef<'_>)> = valid.iter().map(|(_, k, t)| (*k, *t)).collect();
            let outcomes = s.handle.add_many(&batch, options);
            let mut added = 0;
            for ((i, _, _), outcome) in valid.iter().zip(outcomes) {
                match outcome {
                    Ok(()) => added += 1,
                    Err(e) => {
                        let failure = Failure::Lib(e);
                        codes[*i] = failure.code();
                        first_failure.get_or_insert(failure);
                    }
                }
            }
            Ok(added)
        })?;
        if count > 0 {
            // SAFETY: `results` is non-NULL (checked) and holds `count` elements per the
            // contract. (With count 0 it may be NULL: nothing to write.)
            unsafe { std::ptr::copy_nonoverlapping(codes.as_ptr(), results, count) };
        }
        if let Some(failure) = first_failure {
            super::error::set_last_error(failure.message());
        }
        Ok(added)
    })
}

/// Starts an all-nsid target under `key`: one socket in `observer`'s namespace (NULL: the
/// caller's) hearing the chosen groups there and in every namespace that has an id in it. Events
/// from another namespace carry its id in `nsid`, and in `key` the key the caller added that
/// namespace under, if any (else this target's key). Those namespaces share one receive buffer,
/// so an OVERRUN of this key may have lost events of any of them; a dump lists the observer's
/// namespace only. Returns 0 or a negative code (as `nsmon_stream_add`), nothing changed.
///
/// # Safety
/// As `nsmon_stream_add`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add_all_nsid(
    stream: *mut nsmon_stream,
    key: *const c_char,
    observer: *const nsmon_netns_ref,
    options: *const nsmon_stream_options,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        add_with(
            stream,
            key,
            observer,
            "observer",
            options,
            Stream::add_all_nsid,
        )
    }
}

/// Runs `f` on the stream with a checked key (the shared part of remove and contains).
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
unsafe fn with_key(
    stream: *mut nsmon_stream,
    key: *const c_char,
    f: impl FnOnce(&mut Stream, &str) -> c_int,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or(Failure::Null("stream"))?;
        // SAFETY: per the contract.
        let key = unsafe { c_str(key, "key") }?;
        handle.cell.enter(|s| Ok(f(&mut s.handle, key)))
    })
}

/// Stops monitoring `key`, closing its socket. Returns 1 (removed), 0 (not there) or a
/// negative code.
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_remove(
    stream: *mut nsmon_stream,
    key: *const c_char,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { with_key(stream, key, |s, key| c_int::from(s.remove(key))) }
}

/// Whether `key` is monitored: 1, 0, or a negative code.
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_contains(
    stream: *mut nsmon_stream,
    key: *const c_char,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or(Failure::Null("stream"))?;
        // SAFETY: per the contract.
        let key = unsafe { c_str(key, "key") }?;
        handle
            .cell
            .enter(|s| Ok(c_int::from(s.handle.contains(key))))
    })
}

/// The identity of the namespace behind `key`: 1 and `*out` filled, 0 when `key` is not
/// monitored, or a negative code (`*out` untouched but for 1).
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_identity(
    stream: *mut nsmon_stream,
    key: *const c_char,
    out: *mut super::netns::nsmon_netns_id,
) -> c_int {
    if out.is_null() {
        return guard(|| Err(Failure::Null("out")));
    }
    // SAFETY: forwarded contract; `out` checked non-NULL and writable per the contract.
    unsafe {
        with_key(stream, key, |s, key| match s.identity(key) {
            Some(id) => {
                out.write(id.into());
                1
            }
            None => 0,
        })
    }
}

/// How many namespaces are monitored, or a negative code.
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_len(stream: *mut nsmon_stream) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or(Failure::Null("stream"))?;
        handle
            .cell
            .enter(|s| Ok(c_int::try_from(s.handle.len()).unwrap_or(c_int::MAX)))
    })
}

/// The stream's pollable fd (readable whenever `nsmon_stream_next` has an event), or
/// `NSMON_ERR_NULL`. Borrowed: closed by `nsmon_stream_free`.
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_fd(stream: *const nsmon_stream) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { handle_fd(stream) }
}

/// Takes the next event without blocking: 1 (filled `*event`), 0 (none now), or a negative code.
/// `event->key`, `raw`, `reason` and `link.alt_names` stay valid until the next call on this
/// stream.
///
/// # Safety
/// `stream` is NULL or live; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_next(
    stream: *mut nsmon_stream,
    event: *mut nsmon_stream_event,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { handle_next_kept(stream, event) }
}

/// Calls `callback(userdata, event)` for each event ready now, until none is left or it returns
/// non-zero. Returns the number delivered or a negative code. Same rules as
/// `nsmon_watcher_dispatch`; the event's pointers are valid during the callback only.
///
/// # Safety
/// `stream` is NULL or live; `callback` is NULL or safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_dispatch(
    stream: *mut nsmon_stream,
    callback: nsmon_stream_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { handle_dispatch_kept(stream, callback, userdata) }
}

/// Blocks until an event is ready (1), `timeout_ms` passes (0; negative: no limit), or a signal
/// arrives (`-EINTR`).
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_wait(stream: *mut nsmon_stream, timeout_ms: c_int) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { handle_wait(stream, timeout_ms) }
}

/// Frees the stream, closing every namespace's socket. NULL is accepted; from inside its own
/// callback, the free happens when the dispatch returns.
///
/// # Safety
/// `stream` is NULL or live, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_free(stream: *mut nsmon_stream) {
    // SAFETY: forwarded contract.
    unsafe { handle_free(stream) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty batch may pass NULL arrays (the contract says so): nothing is read or written.
    #[test]
    fn an_empty_batch_takes_null_arrays() {
        let mut stream = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the stream is freed below.
        unsafe {
            assert_eq!(nsmon_stream_new(&mut stream), 0);
            let added = nsmon_stream_add_many(
                stream,
                std::ptr::null(),
                std::ptr::null(),
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            );
            assert_eq!(added, 0);
            assert_eq!(nsmon_stream_len(stream), 0);
            nsmon_stream_free(stream);
        }
    }
}
