//! The NSID subscriber: namespace ids being assigned (`RTM_NEWNSID`) and released
//! (`RTM_DELNSID`), from the `RTNLGRP_NSID` multicast group, plus namespace-id queries.
//!
//! Namespace ids are how one network namespace names another; they are relative to the
//! namespace that observes them, so a subscriber or query can be opened as seen from another
//! namespace (entered by a short-lived helper thread, never by the caller's thread).
//!
//! When events fire: a named namespace gets no id until one is assigned ([`assign_nsid`], `ip
//! netns set NAME auto`) or the kernel needs one (a veth or vxlan peer in another namespace,
//! a `NETLINK_LISTEN_ALL_NSID` listener). `NewNsid` fires on assignment; `DelNsid` when the
//! namespace with that id is destroyed (after its last reference, socket or mount, goes), which
//! deleting the name alone does not do while something still holds it.

mod query;

use std::collections::VecDeque;
use std::os::fd::AsRawFd;

use mio::{Registry, Token};

use crate::error::Result;
use crate::handle::{handle_api, register_readable, Core, Pump};
use crate::netlink::consts::*;
use crate::netlink::message::messages;
use crate::netlink::nsid_message::parse_nsid;
use crate::netlink::socket::{group_mask, Purpose, Received, Socket, EVENT_BUFFER};
use crate::netns::NetnsRef;
pub use query::{assign_nsid, assign_nsid_in, names_of_nsid, nsid, nsid_in, nsids_in, NsidRequest};

/// What an [`NsidSubscriber`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NsidEvent {
    /// A namespace was given id `nsid` in the observing namespace.
    NewNsid {
        /// The id.
        nsid: u32,
        /// `NETNSA_PID`, when the kernel includes it.
        pid: Option<u32>,
        /// `NETNSA_FD`, when the kernel includes it.
        fd: Option<u32>,
    },
    /// The namespace with id `nsid` was destroyed; the id is free again.
    DelNsid {
        /// The id.
        nsid: u32,
    },
    /// The kernel dropped NSID messages because the receive buffer was full. Reported after the
    /// messages queued before the loss. The subscriber goes on; use the queries to learn the ids
    /// of the namespaces you care about.
    Overrun {
        /// How many messages were lost (the socket's drop counter); `None` where the kernel does
        /// not say (before Linux 4.12).
        lost: Option<u64>,
    },
    /// An NSID message nsmon could not read (a bad length or value), or the part of a datagram
    /// that could not be split into messages. The subscriber goes on.
    Unparsed {
        /// Why.
        reason: String,
        /// The bytes: the message with its header, or the rest of the datagram.
        raw: Box<[u8]>,
    },
}

/// How to open an [`NsidSubscriber`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NsidOptions {
    receive_buffer: Option<usize>,
}

impl NsidOptions {
    /// Default options: the kernel's default receive buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The socket's receive buffer in bytes (`SO_RCVBUFFORCE` when permitted, else `SO_RCVBUF`).
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.receive_buffer = Some(bytes);
        self
    }
}

const SOCKET: Token = Token(0);

struct NsidState {
    socket: Socket,
    buffer: Box<[u8]>,
    /// An overrun was reported by the kernel and its episode (until the queue is empty) is on.
    overrun_pending: bool,
    /// The socket's drop counter at the last overrun reported.
    drops: Option<u32>,
    /// The socket was left with data to read (the read budget ran out).
    backlog: bool,
}

impl std::fmt::Debug for NsidState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsidState")
            .field("socket", &self.socket.as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// Datagrams one pump reads at most: a flood of id changes cannot keep one call busy for ever.
const READ_BUDGET: usize = 64;

impl NsidState {
    /// Turns one datagram of `len` bytes (`truncated` if it did not fit) into events.
    fn datagram(&self, len: usize, truncated: bool, out: &mut VecDeque<NsidEvent>) {
        let data = &self.buffer[..len.min(self.buffer.len())];
        let mut walk = messages(data);
        while let Some(msg) = walk.next() {
            let msg = match msg {
                Ok(msg) => msg,
                Err(m) => {
                    out.push_back(NsidEvent::Unparsed {
                        reason: format!("a datagram that cannot be split into messages: {}", m.0),
                        raw: walk.remaining().into(),
                    });
                    return;
                }
            };
            let (RTM_NEWNSID | RTM_DELNSID) = msg.kind else {
                continue;
            };
            let parsed = match parse_nsid(msg.payload) {
                Ok(parsed) => parsed,
                Err(m) => {
                    out.push_back(NsidEvent::Unparsed {
                        reason: m.0,
                        raw: msg.bytes.into(),
                    });
                    continue;
                }
            };
            let Some(nsid) = parsed.nsid.and_then(|id| u32::try_from(id).ok()) else {
                continue; // no id, or "not assigned": nothing to report
            };
            out.push_back(if msg.kind == RTM_NEWNSID {
                NsidEvent::NewNsid {
                    nsid,
                    pid: parsed.pid,
                    fd: parsed.fd,
                }
            } else {
                NsidEvent::DelNsid { nsid }
            });
        }
        if truncated {
            out.push_back(NsidEvent::Unparsed {
                reason: format!(
                    "a {len}-byte datagram exceeds the {}-byte receive buffer: the rest is lost",
                    data.len()
                ),
                raw: Box::default(),
            });
        }
    }
}

impl Pump for NsidState {
    type Event = NsidEvent;

    fn pump(&mut self, _ready: &[Token], out: &mut VecDeque<NsidEvent>) -> Result<()> {
        self.backlog = true;
        for _ in 0..READ_BUDGET {
            match self.socket.receive(&mut self.buffer)? {
                Received::Nothing => {
                    self.backlog = false;
                    if std::mem::take(&mut self.overrun_pending) {
                        // The episode is over (the queue is empty): count what it lost.
                        let now = self.socket.drops();
                        let lost = match (self.drops, now) {
                            (Some(before), Some(now)) => Some(u64::from(now.wrapping_sub(before))),
                            _ => None,
                        };
                        self.drops = now;
                        out.push_back(NsidEvent::Overrun { lost });
                    }
                    return Ok(());
                }
                Received::Overrun => self.overrun_pending = true,
                Received::Data(len, _) => self.datagram(len, false, out),
                Received::Truncated(len, _) => self.datagram(len, true, out),
            }
        }
        Ok(())
    }

    fn has_backlog(&self) -> bool {
        self.backlog
    }
}

/// Reports namespace ids being assigned and released, through one pollable fd.
///
/// Same contract as every nsmon handle: [`fd`](Self::fd), a non-blocking [`next`](Self::next),
/// [`dispatch`](Self::dispatch), [`wait`](Self::wait), `mio::event::Source`; `Send`, not `Sync`.
#[derive(Debug)]
pub struct NsidSubscriber {
    core: Core<NsidState>,
}

impl NsidSubscriber {
    /// Subscribes in the caller's namespace.
    pub fn new(options: NsidOptions) -> Result<NsidSubscriber> {
        NsidSubscriber::open_in(NetnsRef::Current, options)
    }

    /// Subscribes as seen from `observer`'s namespace: the ids reported are the ones `observer`
    /// uses. The socket is created there by a short-lived helper thread.
    pub fn open_in(observer: NetnsRef<'_>, options: NsidOptions) -> Result<NsidSubscriber> {
        let socket = observer.open_socket(Purpose::Events(group_mask([RTNLGRP_NSID])))?;
        if let Some(bytes) = options.receive_buffer {
            socket.set_receive_buffer(bytes)?;
        }
        let core = Core::new(|registry: &Registry, _queue| {
            register_readable(registry, socket.as_raw_fd(), SOCKET, "netlink")?;
            Ok(NsidState {
                drops: socket.drops(),
                socket,
                buffer: vec![0; EVENT_BUFFER].into_boxed_slice(),
                overrun_pending: false,
                backlog: false,
            })
        })?;
        Ok(NsidSubscriber { core })
    }
}

handle_api!(NsidSubscriber, NsidEvent);
