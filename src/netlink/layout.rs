//! The fixed headers of netlink and rtnetlink messages, as the kernel lays them out
//! (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h, linux/neighbour.h): each one's length,
//! the offsets of its fields, and a small typed view of the fields nsmon reads. The message
//! walker and the typed parsers read through these views, and what nsmon sends (message and
//! attribute headers, the dump requests' headers) is written with the same lengths and offsets,
//! so that each layout is stated once. Fields nsmon neither reads nor writes are left out of the
//! views; their offsets are in the kernel's headers.
//!
//! Interface indexes are `int` in the kernel and `u32` here, as in the typed messages.

use crate::bytes::{i32_at, u16_at, u32_at};

/// A fixed header at the start of a payload.
pub(crate) trait Header: Sized {
    /// Its length as sent, padding included: what follows it is 4-byte aligned.
    const LEN: usize;

    /// The header at the start of `bytes`; `None` if `bytes` is shorter than [`Header::LEN`].
    fn parse(bytes: &[u8]) -> Option<Self>;

    /// The header and the bytes after it (a message's attributes).
    #[inline]
    fn split(bytes: &[u8]) -> Option<(Self, &[u8])> {
        Some((Self::parse(bytes)?, bytes.get(Self::LEN..)?))
    }
}

/// Where every rtnetlink header keeps its address family: its first byte. The stream's filter
/// reads it before parsing, and a dump request sets it.
pub(crate) const FAMILY_AT: usize = 0;

/// A request header of type `H`, all zero but its family: what a dump of every object of a
/// family sends.
pub(crate) fn family_only<H: Header>(family: u8) -> Vec<u8> {
    let mut header = vec![0; H::LEN];
    header[FAMILY_AT] = family;
    header
}

/// Writes `value` at `at` in a header being built (always inside it: the offsets are this
/// module's own).
fn put<const N: usize>(out: &mut [u8], at: usize, value: [u8; N]) {
    out[at..at + N].copy_from_slice(&value);
}

/// `struct nlmsghdr` (16 bytes, `NLMSG_HDRLEN`): what every netlink message starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlMsgHdr {
    /// `nlmsg_len`: the whole message's length, this header included.
    pub(crate) len: u32,
    /// `nlmsg_type`.
    pub(crate) kind: u16,
    /// `nlmsg_flags` (`NLM_F_*`).
    pub(crate) flags: u16,
    /// `nlmsg_seq`.
    pub(crate) seq: u32,
    /// `nlmsg_pid`: the sender's port id (0: the kernel).
    pub(crate) port: u32,
}

impl NlMsgHdr {
    /// Where `nlmsg_len` is: a message's length is written last, once its body is known.
    pub(crate) const LEN_AT: usize = 0;
    const TYPE_AT: usize = 4;
    const FLAGS_AT: usize = 6;
    const SEQ_AT: usize = 8;
    const PID_AT: usize = 12;

    /// The header's bytes, as sent.
    pub(crate) fn to_bytes(self) -> [u8; NlMsgHdr::LEN] {
        let mut out = [0; NlMsgHdr::LEN];
        put(&mut out, Self::LEN_AT, self.len.to_ne_bytes());
        put(&mut out, Self::TYPE_AT, self.kind.to_ne_bytes());
        put(&mut out, Self::FLAGS_AT, self.flags.to_ne_bytes());
        put(&mut out, Self::SEQ_AT, self.seq.to_ne_bytes());
        put(&mut out, Self::PID_AT, self.port.to_ne_bytes());
        out
    }
}

impl Header for NlMsgHdr {
    const LEN: usize = 16;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(NlMsgHdr {
            len: u32_at(b, Self::LEN_AT)?,
            kind: u16_at(b, Self::TYPE_AT)?,
            flags: u16_at(b, Self::FLAGS_AT)?,
            seq: u32_at(b, Self::SEQ_AT)?,
            port: u32_at(b, Self::PID_AT)?,
        })
    }
}

/// `struct nlattr` (4 bytes, `NLA_HDRLEN`): what every attribute starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlAttr {
    /// `nla_len`: the attribute's length, this header included, padding not.
    pub(crate) len: u16,
    /// `nla_type`, flag bits included (`NLA_TYPE_MASK` takes them off).
    pub(crate) kind: u16,
}

impl NlAttr {
    const LEN_AT: usize = 0;
    const TYPE_AT: usize = 2;

    /// The header's bytes, as sent.
    pub(crate) fn to_bytes(self) -> [u8; NlAttr::LEN] {
        let mut out = [0; NlAttr::LEN];
        put(&mut out, Self::LEN_AT, self.len.to_ne_bytes());
        put(&mut out, Self::TYPE_AT, self.kind.to_ne_bytes());
        out
    }
}

impl Header for NlAttr {
    const LEN: usize = 4;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        Some(NlAttr {
            len: u16_at(bytes, Self::LEN_AT)?,
            kind: u16_at(bytes, Self::TYPE_AT)?,
        })
    }
}

/// `struct nlmsgerr`, an `NLMSG_ERROR`'s payload: the error code, then the header of the request
/// it answers (the whole request unless `NLM_F_CAPPED`), then extended-ack attributes if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlMsgErr {
    /// `error`: 0 for an ack, else a negative errno.
    pub(crate) error: i32,
    /// The echoed request's header.
    pub(crate) echoed: NlMsgHdr,
}

impl NlMsgErr {
    /// Where the echoed request starts.
    pub(crate) const ECHOED_AT: usize = 4;
}

impl Header for NlMsgErr {
    const LEN: usize = Self::ECHOED_AT + NlMsgHdr::LEN;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        Some(NlMsgErr {
            error: i32_at(bytes, 0)?,
            echoed: NlMsgHdr::parse(bytes.get(Self::ECHOED_AT..)?)?,
        })
    }
}

/// `struct rtgenmsg`: one family byte, padded to 4 as sent; the NSID messages' header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtGenMsg {
    /// `rtgen_family`.
    pub(crate) family: u8,
}

impl RtGenMsg {
    /// The header's bytes, as sent.
    pub(crate) fn to_bytes(self) -> [u8; RtGenMsg::LEN] {
        let mut out = [0; RtGenMsg::LEN];
        out[FAMILY_AT] = self.family;
        out
    }
}

impl Header for RtGenMsg {
    const LEN: usize = 4;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(RtGenMsg {
            family: b[FAMILY_AT],
        })
    }
}

/// `struct ifinfomsg` (16 bytes): family u8, pad u8, type u16, index i32, flags u32, change u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfInfoMsg {
    /// `ifi_family`.
    pub(crate) family: u8,
    /// `ifi_index`.
    pub(crate) index: u32,
    /// `ifi_flags` (`IFF_*`).
    pub(crate) flags: u32,
}

impl Header for IfInfoMsg {
    const LEN: usize = 16;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(IfInfoMsg {
            family: b[FAMILY_AT],
            index: u32_at(b, 4)?,
            flags: u32_at(b, 8)?,
        })
    }
}

/// `struct ifaddrmsg` (8 bytes): family, prefix length, flags, scope (u8 each), index u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfAddrMsg {
    /// `ifa_family`.
    pub(crate) family: u8,
    /// `ifa_prefixlen`.
    pub(crate) prefix_len: u8,
    /// `ifa_scope` (`RT_SCOPE_*`).
    pub(crate) scope: u8,
    /// `ifa_index`.
    pub(crate) index: u32,
}

impl Header for IfAddrMsg {
    const LEN: usize = 8;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(IfAddrMsg {
            family: b[FAMILY_AT],
            prefix_len: b[1],
            scope: b[3],
            index: u32_at(b, 4)?,
        })
    }
}

/// `struct rtmsg` (12 bytes): family, dst_len, src_len, tos, table, protocol, scope, type (u8
/// each), flags u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtMsg {
    /// `rtm_family`.
    pub(crate) family: u8,
    /// `rtm_dst_len`.
    pub(crate) dst_len: u8,
    /// `rtm_table`: the table's low 8 bits (`RTA_TABLE` has it whole).
    pub(crate) table: u8,
    /// `rtm_protocol` (`RTPROT_*`).
    pub(crate) protocol: u8,
    /// `rtm_scope` (`RT_SCOPE_*`).
    pub(crate) scope: u8,
    /// `rtm_type` (`RTN_*`).
    pub(crate) kind: u8,
}

impl Header for RtMsg {
    const LEN: usize = 12;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(RtMsg {
            family: b[FAMILY_AT],
            dst_len: b[1],
            table: b[4],
            protocol: b[5],
            scope: b[6],
            kind: b[7],
        })
    }
}

/// `struct ndmsg` (12 bytes): family u8, pad u8, pad u16, ifindex i32, state u16, flags u8,
/// type u8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NdMsg {
    /// `ndm_family`.
    pub(crate) family: u8,
    /// `ndm_ifindex`.
    pub(crate) index: u32,
    /// `ndm_state` (`NUD_*`).
    pub(crate) state: u16,
}

impl Header for NdMsg {
    const LEN: usize = 12;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(NdMsg {
            family: b[FAMILY_AT],
            index: u32_at(b, 4)?,
            state: u16_at(b, 8)?,
        })
    }
}

/// `struct tcmsg` (20 bytes): family u8, pad u8, pad u16, ifindex i32, handle u32, parent u32,
/// info u32. Read from qdisc, class and filter messages; written in their dump requests, which
/// name an interface and, for filters, a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcMsg {
    /// `tcm_family`.
    pub(crate) family: u8,
    /// `tcm_ifindex`.
    pub(crate) index: u32,
    /// `tcm_handle`.
    pub(crate) handle: u32,
    /// `tcm_parent`.
    pub(crate) parent: u32,
}

impl TcMsg {
    const INDEX_AT: usize = 4;
    const HANDLE_AT: usize = 8;
    const PARENT_AT: usize = 12;

    /// The header's bytes, as sent (`tcm_info` 0).
    pub(crate) fn to_bytes(self) -> [u8; TcMsg::LEN] {
        let mut out = [0; TcMsg::LEN];
        out[FAMILY_AT] = self.family;
        put(&mut out, Self::INDEX_AT, self.index.to_ne_bytes());
        put(&mut out, Self::HANDLE_AT, self.handle.to_ne_bytes());
        put(&mut out, Self::PARENT_AT, self.parent.to_ne_bytes());
        out
    }
}

impl Header for TcMsg {
    const LEN: usize = 20;

    #[inline]
    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..Self::LEN)?;
        Some(TcMsg {
            family: b[FAMILY_AT],
            index: u32_at(b, Self::INDEX_AT)?,
            handle: u32_at(b, Self::HANDLE_AT)?,
            parent: u32_at(b, Self::PARENT_AT)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_headers_read_back_and_short_ones_are_refused() {
        let h = NlMsgHdr {
            len: 40,
            kind: 18,
            flags: 0x301,
            seq: 7,
            port: 9,
        };
        assert_eq!(NlMsgHdr::parse(&h.to_bytes()), Some(h));
        assert_eq!(NlMsgHdr::parse(&h.to_bytes()[..15]), None);
        let a = NlAttr { len: 8, kind: 3 };
        assert_eq!(
            NlAttr::split(&[&a.to_bytes()[..], &[1, 2]].concat()),
            Some((a, &[1, 2][..]))
        );
        let tc = TcMsg {
            family: 0,
            index: 3,
            handle: 0x1_0000,
            parent: u32::MAX,
        };
        assert_eq!(TcMsg::parse(&tc.to_bytes()), Some(tc));
        assert_eq!(TcMsg::parse(&tc.to_bytes()[..19]), None);
        assert_eq!(
            family_only::<RtMsg>(10),
            [10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let g = RtGenMsg { family: 0 };
        assert_eq!(RtGenMsg::split(&g.to_bytes()), Some((g, &[][..])));
    }
}
