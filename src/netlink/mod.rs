//! Netlink, the kernel's side of the NSID subscriber, the NSID queries and the event stream.
//!
//! - [`layout`]: the fixed headers (netlink, attribute, error, and the rtnetlink ones) as
//!   typed views with their lengths and offsets, for the parsers and the requests alike.
//! - [`message`]: pure parsing of netlink buffers: the message walker, attributes, error acks.
//! - [`nsid_message`]: `RTM_NEWNSID`/`RTM_DELNSID` payloads, and the `RTM_GETNSID` query every
//!   component that needs a namespace's id asks through.
//! - [`socket`]: a `NETLINK_ROUTE` socket: membership, requests with sequence numbers and acks,
//!   dumps, receive-buffer sizing, and the rule that only the kernel (port id 0) is heard.

pub(crate) mod consts;
pub(crate) mod layout;
pub(crate) mod message;
pub(crate) mod nsid_message;
pub(crate) mod socket;
