//! A `NETLINK_ROUTE` socket with the rules nsmon keeps on every netlink socket: only the
//! kernel (sender port id 0) is heard, every datagram is length-checked, an overrun (`ENOBUFS`)
//! is reported rather than swallowed, and requests are matched to their replies by sequence
//! number and port id.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::consts::*;
use super::message::{self, messages, parse_ack, Message};
use crate::error::{Error, Result};
use crate::sys::netlink as sys;

/// The receive buffer of a handle's event sockets: room for any datagram the kernel sends.
/// Most are a few hundred bytes and dumps are cut at 32 KiB, but one object can be larger (a
/// link with hundreds of alternative names is over 64 KiB, and a dump then sizes its datagrams
/// for it). The buffer is address space, not memory: its pages are committed only as far as
/// datagrams reach. A peek at each datagram's size (`MSG_PEEK | MSG_TRUNC`) before reading it
/// would cost a second system call per event; instead the read itself reports the real length
/// (`MSG_TRUNC`), so a datagram larger still is never mistaken for a whole one.
pub(crate) const EVENT_BUFFER: usize = 1 << 20;

/// The buffer of a query's replies (a few hundred bytes each); a larger one is an error.
const QUERY_BUFFER: usize = 64 * 1024;

/// How long a query waits for the kernel before giving up (it answers in microseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The bind-time mask of multicast groups `RTNLGRP_*` 1 to 32 (all that nsmon uses).
pub(crate) fn group_mask(groups: impl IntoIterator<Item = u32>) -> u32 {
    groups
        .into_iter()
        .filter(|g| (1..=32).contains(g))
        .fold(0, |mask, g| mask | 1 << (g - 1))
}

/// What one receive produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// A datagram from the kernel of this many bytes is in the buffer; with it, the id of the
    /// namespace it came from when the socket listens to all namespaces and the kernel said.
    Data(usize, Option<i32>),
    /// A datagram of this many bytes did not fit the buffer: only its start is there, the rest
    /// is lost.
    Truncated(usize, Option<i32>),
    /// Nothing queued (non-blocking socket).
    Nothing,
    /// The kernel dropped messages for lack of receive-buffer space.
    Overrun,
}

#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    port: u32,
    seq: u32,
    /// Listens to all namespaces: receives need the control message with the source nsid.
    all_nsid: bool,
}

/// What a socket is for, which decides how it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Notifications of the multicast groups in the mask (see [`group_mask`]), read without
    /// blocking from an event loop.
    Events(u32),
    /// Requests and their replies: receives wait, with a timeout, so that a silent kernel
    /// cannot hang the caller; no group is joined.
    Requests,
}

impl Purpose {
    fn mode(self) -> sys::Mode {
        match self {
            Purpose::Events(_) => sys::Mode::NonBlocking,
            Purpose::Requests => sys::Mode::Blocking,
        }
    }

    fn groups(self) -> u32 {
        match self {
            Purpose::Events(groups) => groups,
            Purpose::Requests => 0,
        }
    }
}

impl Socket {
    /// Opens a socket for `purpose` in the caller's namespace.
    pub(crate) fn open(purpose: Purpose) -> Result<Socket> {
        let fd = sys::socket(purpose.mode()).map_err(|e| Error::os("socket(AF_NETLINK)", e))?;
        Socket::adopt(fd, purpose)
    }

    /// Opens a socket in the namespace `ns` (`described` names it in messages): a short-lived
    /// helper thread enters it and creates the socket there; the calling thread never changes
    /// namespace. (For the caller's own namespace, [`open`](Self::open) needs no thread.)
    pub(crate) fn open_in(ns: BorrowedFd<'_>, described: &str, purpose: Purpose) -> Result<Socket> {
        let fd = crate::sys::netns::in_namespace(ns, || sys::socket(purpose.mode()))
            .map_err(|e| Error::os(format!("socket in namespace {described}"), e))?;
        Socket::adopt(fd, purpose)
    }

    /// Finishes setting up a socket opened elsewhere (e.g. inside another namespace) for
    /// `purpose`, in the mode `purpose` opened it in.
    pub(crate) fn adopt(fd: OwnedFd, purpose: Purpose) -> Result<Socket> {
        let groups = purpose.groups();
        // Joining through bind costs one pass over the kernel's netlink table lock; one
        // NETLINK_ADD_MEMBERSHIP per group costs one each, and dominated adding namespaces.
        let port = sys::bind(fd.as_fd(), groups).map_err(|e| Error::os("bind(AF_NETLINK)", e))?;
        // Ignored: kernels before 4.12 (EXT_ACK) and 4.3 (CAP_ACK) lack these; errors are then
        // reported without the kernel's text, and acks echo the request, which parse_ack skips.
        let _ = sys::set_int_option(fd.as_fd(), SOL_NETLINK, NETLINK_EXT_ACK, 1);
        let _ = sys::set_int_option(fd.as_fd(), SOL_NETLINK, NETLINK_CAP_ACK, 1);
        if purpose == Purpose::Requests {
            set_receive_timeout(fd.as_fd(), REPLY_TIMEOUT)?;
        }
        Ok(Socket {
            fd,
            port,
            seq: 0,
            all_nsid: false,
        })
    }

    /// This socket's port id (the `nlmsg_pid` of the kernel's replies to it).
    pub(crate) fn port(&self) -> u32 {
        self.port
    }

    /// Sends one request datagram to the kernel without waiting for the reply (which arrives
    /// through [`receive`](Self::receive)).
    pub(crate) fn send(&self, request: &[u8]) -> io::Result<()> {
        sys::send_to_kernel(self.fd.as_fd(), request)
    }

    /// Also hears the groups it joined in every namespace that has an id in this socket's
    /// namespace; each such message comes with that id (see [`Received::Data`]).
    pub(crate) fn listen_all_nsid(&mut self) -> Result<()> {
        sys::set_int_option(self.fd.as_fd(), SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)
            .map_err(|e| Error::os("NETLINK_LISTEN_ALL_NSID", e))?;
        self.all_nsid = true;
        Ok(())
    }

    /// Sets the receive buffer: `SO_RCVBUFFORCE` when permitted (CAP_NET_ADMIN), else
    /// `SO_RCVBUF` (capped by net.core.rmem_max). Returns the size the kernel granted (which it
    /// doubles for bookkeeping).
    pub(crate) fn set_receive_buffer(&self, bytes: usize) -> Result<usize> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX / 2);
        let fd = self.fd.as_fd();
        if let Err(e) = sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value) {
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(Error::os("SO_RCVBUFFORCE", e));
            }
            sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value)
                .map_err(|e| Error::os("SO_RCVBUF", e))?;
        }
        let granted = sys::int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map_err(|e| Error::os("getsockopt SO_RCVBUF", e))?;
        Ok(granted.max(0) as usize)
    }

    /// Receives one datagram from the kernel, dropping any sent by another socket.
    // Inlined: once per datagram, and its result, moved out of a call, cost as much as what
    // it does.
    #[inline]
    pub(crate) fn receive(&self, buf: &mut [u8]) -> Result<Received> {
        loop {
            let datagram = if self.all_nsid {
                sys::recv_with_nsid(self.fd.as_fd(), buf)
            } else {
                sys::recv(self.fd.as_fd(), buf)
            };
            let datagram = match datagram {
                Ok(d) => d,
                Err(e) => return receive_failed(e),
            };
            if datagram.sender != 0 {
                // Unicast from a userspace socket: not the kernel, so not trusted.
                continue;
            }
            if datagram.truncated {
                return Ok(Received::Truncated(datagram.len, datagram.nsid));
            }
            return Ok(Received::Data(datagram.len, datagram.nsid));
        }
    }

    /// How many notifications the kernel has dropped for this socket so far (its cumulative
    /// drop counter), or `None` where the kernel does not say.
    pub(crate) fn drops(&self) -> Option<u32> {
        sys::drops(self.fd.as_fd()).ok()
    }

    /// Sends a request (with `NLM_F_ACK`, plus `extra_flags` such as `NLM_F_DUMP`) whose body is
    /// built by `body`, then reads until the kernel's ack, error or end of dump, passing each
    /// reply to `on_reply`. Only for blocking sockets that no multicast group is joined on.
    pub(crate) fn request(
        &mut self,
        op: &str,
        kind: u16,
        extra_flags: u16,
        body: impl FnOnce(&mut Vec<u8>),
        mut on_reply: impl FnMut(&Message<'_>) -> Result<()>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut out = Vec::with_capacity(64);
        let start = message::begin(&mut out, kind, NLM_F_REQUEST | NLM_F_ACK | extra_flags, seq);
        body(&mut out);
        message::finish(&mut out, start);
        sys::send_to_kernel(self.fd.as_fd(), &out).map_err(|e| Error::os(op, e))?;

        let mut buf = vec![0u8; QUERY_BUFFER];
        loop {
            let len = match self.receive(&mut buf)? {
                Received::Data(len, _) => len,
                Received::Truncated(len, _) => {
                    return Err(Error::Protocol(format!(
                        "{op}: a {len}-byte reply exceeds the {QUERY_BUFFER}-byte buffer"
                    )))
                }
                Received::Nothing => {
                    return Err(Error::os(
                        op,
                        io::Error::new(io::ErrorKind::TimedOut, "no answer from the kernel"),
                    ))
                }
                Received::Overrun => {
                    return Err(Error::os(op, io::Error::from_raw_os_error(libc::ENOBUFS)))
                }
            };
            for msg in messages(&buf[..len]) {
                let msg = msg.map_err(|m| Error::Protocol(format!("{op}: {}", m.0)))?;
                if msg.seq != seq || msg.port != self.port {
                    continue; // a late reply to an earlier request
                }
                match msg.kind {
                    NLMSG_ERROR => {
                        let ack = parse_ack(msg.payload, msg.flags)
                            .map_err(|m| Error::Protocol(format!("{op}: {}", m.0)))?;
                        if ack.errno == 0 {
                            return Ok(());
                        }
                        let context = match ack.text {
                            Some(text) => format!("{op} ({text})"),
                            None => op.to_string(),
                        };
                        return Err(Error::os(context, io::Error::from_raw_os_error(ack.errno)));
                    }
                    NLMSG_DONE => return Ok(()),
                    NLMSG_NOOP => {}
                    _ => on_reply(&msg)?,
                }
            }
        }
    }
}

fn set_receive_timeout(fd: BorrowedFd<'_>, timeout: Duration) -> Result<()> {
    crate::sys::set_receive_timeout(fd, timeout).map_err(|e| Error::os("SO_RCVTIMEO", e))
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What a receive that failed means: nothing to read, an overrun, or a failure of the socket.
#[cold]
fn receive_failed(e: io::Error) -> Result<Received> {
    match e {
        e if e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Nothing),
        e if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
        e => Err(Error::os("recvmsg(AF_NETLINK)", e)),
    }
}
