//! Netlink and rtnetlink numbers nsmon uses, from the kernel's uapi headers
//! (linux/netlink.h, linux/rtnetlink.h, linux/net_namespace.h). Stable ABI. The fixed headers'
//! lengths and offsets are in [`layout`](super::layout).

/// Attribute type bits; the top two are the nested and byte-order flags.
pub(crate) const NLA_TYPE_MASK: u16 = 0x3fff;

pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
/// A part of a multi-part reply (only the tests build such replies).
#[cfg(test)]
pub(crate) const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
/// In a dump reply: the table changed while it was dumped, so the dump may be inconsistent.
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
/// In an NLMSG_ERROR: the original request is not echoed (we ask for that: NETLINK_CAP_ACK).
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extended-ack attributes follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended-ack attribute: the kernel's message text.
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;

pub(crate) use crate::sys::control::{NETLINK_LISTEN_ALL_NSID, SOL_NETLINK};
pub(crate) const NETLINK_CAP_ACK: libc::c_int = 10;
pub(crate) const NETLINK_EXT_ACK: libc::c_int = 11;

pub(crate) const RTM_NEWNSID: u16 = 88;
pub(crate) const RTM_DELNSID: u16 = 89;
pub(crate) const RTM_GETNSID: u16 = 90;

pub(crate) const NETNSA_NSID: u16 = 1;
pub(crate) const NETNSA_PID: u16 = 2;
pub(crate) const NETNSA_FD: u16 = 3;
pub(crate) const NETNSA_TARGET_NSID: u16 = 4;
pub(crate) const NETNSA_CURRENT_NSID: u16 = 5;
/// NETNSA_NSID's value for "no id assigned"; in a request, "allocate one".
pub(crate) const NETNSA_NSID_NOT_ASSIGNED: i32 = -1;

// The rtnetlink multicast groups (`enum rtnetlink_groups`): a socket joins them by number.
pub(crate) const RTNLGRP_LINK: u32 = 1;
pub(crate) const RTNLGRP_NEIGH: u32 = 3;
pub(crate) const RTNLGRP_TC: u32 = 4;
pub(crate) const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub(crate) const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub(crate) const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub(crate) const RTNLGRP_IPV6_ROUTE: u32 = 11;
pub(crate) const RTNLGRP_NSID: u32 = 28;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_NEWNEIGH: u16 = 28;
pub(crate) const RTM_DELNEIGH: u16 = 29;
pub(crate) const RTM_NEWQDISC: u16 = 36;
pub(crate) const RTM_DELQDISC: u16 = 37;
pub(crate) const RTM_NEWTCLASS: u16 = 40;
pub(crate) const RTM_DELTCLASS: u16 = 41;
pub(crate) const RTM_NEWTFILTER: u16 = 44;
pub(crate) const RTM_DELTFILTER: u16 = 45;
// The dump requests the stream sends.
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_GETNEIGH: u16 = 30;
pub(crate) const RTM_GETQDISC: u16 = 38;
pub(crate) const RTM_GETTCLASS: u16 = 42;
pub(crate) const RTM_GETTFILTER: u16 = 46;

pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_OPERSTATE: u16 = 16;
pub(crate) const IFLA_LINKINFO: u16 = 18;
/// In a link dump request: which extras to include; any non-zero mask also makes the kernel
/// size its dump buffers for the largest link (without it, a link too big for the default
/// buffer ends the dump silently).
pub(crate) const IFLA_EXT_MASK: u16 = 29;
pub(crate) const IFLA_PROP_LIST: u16 = 52;
pub(crate) const IFLA_ALT_IFNAME: u16 = 53;
/// `RTEXT_FILTER_VF`: what iproute2 asks for (VF information, present only on SR-IOV devices).
pub(crate) const RTEXT_FILTER_VF: u32 = 1;
pub(crate) const IFLA_INFO_KIND: u16 = 1;

pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
pub(crate) const IFA_LABEL: u16 = 3;

pub(crate) const RTA_DST: u16 = 1;
pub(crate) const RTA_OIF: u16 = 4;
pub(crate) const RTA_GATEWAY: u16 = 5;
pub(crate) const RTA_TABLE: u16 = 15;

pub(crate) const NDA_DST: u16 = 1;
pub(crate) const NDA_LLADDR: u16 = 2;

pub(crate) const TCA_KIND: u16 = 1;
