//! The proc connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): the kernel's fork, exec and exit
//! events, the only notice a process gives of a namespace it may have made or left. It needs
//! `CAP_NET_ADMIN` (to listen) and `CONFIG_PROC_EVENTS`.
//!
//! Layout of what the kernel sends, after the netlink header (linux/connector.h,
//! linux/cn_proc.h): `struct cn_msg` (20 bytes: id.idx, id.val, seq, ack, len, flags) and its
//! `len` data bytes, a `struct proc_event`: what (u32), cpu (u32), timestamp (u64), then the
//! event's fields from offset 16.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::bytes::{u16_at, u32_at};
use crate::netlink::message::{begin, finish, push_padded, Malformed};
use crate::sys;

/// `CN_IDX_PROC` and `CN_VAL_PROC`: the proc connector's id, and its multicast group.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `NLMSG_DONE`: the type connector messages are sent with.
const NLMSG_DONE: u16 = 3;
/// `PROC_CN_MCAST_LISTEN`.
const MCAST_LISTEN: u32 = 1;

/// `enum what` values of the events nsmon asks for.
const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// Byte offsets: `struct cn_msg` in the netlink payload, and its data (the proc_event).
const CN_MSG_LEN: usize = 20;
const CN_LEN_AT: usize = 16;
const EVENT_DATA_AT: usize = 16;

/// What one proc connector message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcEvent {
    /// A task was created: `child_pid` (its thread id) in process `child_tgid`.
    Fork { child_pid: u32, child_tgid: u32 },
    /// Task `pid` of process `tgid` ran `execve`.
    Exec { pid: u32, tgid: u32 },
    /// Task `pid` of process `tgid` exited.
    Exit { pid: u32, tgid: u32 },
    /// The answer to the listen request (`err` 0 when listening).
    Ack { err: u32 },
    /// Another event (uid, comm, ...), which nsmon did not ask for.
    Other,
}

/// The `u32` at `at` of a proc event, or how short the event is.
fn field_at(bytes: &[u8], at: usize) -> Result<u32, Malformed> {
    u32_at(bytes, at).ok_or_else(|| Malformed(format!("proc event shorter than {} bytes", at + 4)))
}

/// Parses the payload of one netlink message from the proc connector.
pub(crate) fn parse(payload: &[u8]) -> Result<ProcEvent, Malformed> {
    let short = || {
        Malformed(format!(
            "connector message of {} bytes, shorter than its header",
            payload.len()
        ))
    };
    let header = payload.get(..CN_MSG_LEN).ok_or_else(short)?;
    let (idx, val) = (field_at(header, 0)?, field_at(header, 4)?);
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC) {
        return Err(Malformed(format!("connector message for {idx}.{val}")));
    }
    let len = usize::from(u16_at(header, CN_LEN_AT).ok_or_else(short)?);
    let data = payload
        .get(CN_MSG_LEN..CN_MSG_LEN + len)
        .ok_or_else(|| Malformed(format!("connector data of {len} bytes past its message")))?;
    let field = |n: usize| field_at(data, EVENT_DATA_AT + 4 * n);
    Ok(match field_at(data, 0)? {
        PROC_EVENT_FORK => ProcEvent::Fork {
            child_pid: field(2)?,
            child_tgid: field(3)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: field(0)?,
            tgid: field(1)?,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: field(0)?,
            tgid: field(1)?,
        },
        // The ack's `err` is the event data's first field.
        PROC_EVENT_NONE => ProcEvent::Ack { err: field(0)? },
        _ => ProcEvent::Other,
    })
}

/// The listen request. From Linux 6.6 it may carry a filter (`struct proc_input`: the op and
/// the events wanted), so that the uid, comm, ptrace and other events never reach nsmon's
/// socket; an older kernel ignores a request of that size, so it gets the plain op.
fn listen_request(filtered: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    let start = begin(&mut out, NLMSG_DONE, 0, 1);
    let mut data = MCAST_LISTEN.to_ne_bytes().to_vec();
    if filtered {
        data.extend((PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT).to_ne_bytes());
    }
    let mut cn = Vec::with_capacity(CN_MSG_LEN + data.len());
    cn.extend(CN_IDX_PROC.to_ne_bytes());
    cn.extend(CN_VAL_PROC.to_ne_bytes());
    cn.extend(1u32.to_ne_bytes()); // seq
    cn.extend(0u32.to_ne_bytes()); // ack
    cn.extend((data.len() as u16).to_ne_bytes());
    cn.extend(0u16.to_ne_bytes()); // flags
    cn.extend(data);
    push_padded(&mut out, &cn);
    finish(&mut out, start);
    out
}

/// Whether the running kernel takes the filtered listen request (Linux 6.6+).
fn kernel_filters() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 6)
}

/// Opens a non-blocking socket on the proc connector and asks for fork, exec and exit events.
/// `EPERM` without `CAP_NET_ADMIN`; `EPROTONOSUPPORT` or `ENOENT`-like errors where the kernel
/// has no proc connector.
pub(crate) fn listen() -> io::Result<OwnedFd> {
    let fd = sys::netlink::socket_of(libc::NETLINK_CONNECTOR, sys::netlink::Mode::NonBlocking)?;
    sys::netlink::bind(fd.as_fd(), CN_IDX_PROC)?;
    sys::netlink::send_to_kernel(fd.as_fd(), &listen_request(kernel_filters()))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connector message as the kernel sends it: cn_msg, then a proc_event.
    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut event = what.to_ne_bytes().to_vec();
        event.extend(0u32.to_ne_bytes()); // cpu
        event.extend(0u64.to_ne_bytes()); // timestamp
        for f in fields {
            event.extend(f.to_ne_bytes());
        }
        let mut out = Vec::new();
        out.extend(CN_IDX_PROC.to_ne_bytes());
        out.extend(CN_VAL_PROC.to_ne_bytes());
        out.extend([0; 8]);
        out.extend((event.len() as u16).to_ne_bytes());
        out.extend([0; 2]);
        out.extend(event);
        out
    }

    #[test]
    fn fork_exec_exit_and_ack_are_read_from_their_fields() {
        assert_eq!(
            parse(&message(PROC_EVENT_FORK, &[1, 1, 20, 10])).unwrap(),
            ProcEvent::Fork {
                child_pid: 20,
                child_tgid: 10
            }
        );
        assert_eq!(
            parse(&message(PROC_EVENT_EXEC, &[7, 7])).unwrap(),
            ProcEvent::Exec { pid: 7, tgid: 7 }
        );
        assert_eq!(
            parse(&message(PROC_EVENT_EXIT, &[8, 7, 0, 17, 1, 1])).unwrap(),
            ProcEvent::Exit { pid: 8, tgid: 7 }
        );
        assert_eq!(
            parse(&message(PROC_EVENT_NONE, &[0, 0])).unwrap(),
            ProcEvent::Ack { err: 0 }
        );
        assert_eq!(parse(&message(0x200, &[1, 1])).unwrap(), ProcEvent::Other);
    }

    #[test]
    fn short_or_foreign_messages_are_refused() {
        let fork = message(PROC_EVENT_FORK, &[1, 1, 20, 10]);
        for cut in 0..fork.len() {
            assert!(parse(&fork[..cut]).is_err(), "{cut} bytes accepted");
        }
        let mut other = fork.clone();
        other[0] = 9;
        assert!(parse(&other).is_err());
    }

    #[test]
    fn the_listen_request_is_a_connector_message_with_or_without_a_filter() {
        for (filtered, data_len) in [(false, 4), (true, 8)] {
            let request = listen_request(filtered);
            let msg = crate::netlink::message::messages(&request)
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(msg.kind, NLMSG_DONE);
            assert_eq!(u32_at(msg.payload, 0), Some(CN_IDX_PROC));
            let len = u16_at(msg.payload, CN_LEN_AT).unwrap();
            assert_eq!(usize::from(len), data_len);
            assert_eq!(u32_at(msg.payload, CN_MSG_LEN), Some(MCAST_LISTEN));
        }
    }
}
