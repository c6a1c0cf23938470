//! Netlink, the kernel's side of the NSID subscriber and (later) the event stream.
//!
//! - [`message`]: pure parsing of netlink buffers: the message walker, attributes, error acks.
//! - [`socket`]: a `NETLINK_ROUTE` socket: membership, requests with sequence numbers and acks,
//!   dumps, receive-buffer sizing, and the rule that only the kernel (port id 0) is heard.

pub(crate) mod consts;
pub(crate) mod control;
pub(crate) mod message;
pub(crate) mod socket;
