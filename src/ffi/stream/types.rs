//! The stream's C types: event kinds, the event and its parts, the group bits, the callback.

use std::ffi::{c_char, c_int, c_void};

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
    /// What happened; says which member below is filled (the others are all zero: absent).
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
