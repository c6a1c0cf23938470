//! RTM_NEWNSID / RTM_DELNSID payloads: a `struct rtgenmsg` (one byte, padded to 4) followed by
//! NETNSA_* attributes.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, Result};
use crate::netlink::consts::*;
use crate::netlink::layout::{Header, RtGenMsg};
use crate::netlink::message::{attr_u32, attrs, push_attr, Malformed};
use crate::netlink::socket::Socket;

/// The fields of one NSID message that nsmon reads. Absent attributes are `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct NsidMessage {
    /// NETNSA_NSID: the id, `NETNSA_NSID_NOT_ASSIGNED` (-1) when there is none.
    pub(crate) nsid: Option<i32>,
    pub(crate) pid: Option<u32>,
    pub(crate) fd: Option<u32>,
    pub(crate) target_nsid: Option<i32>,
    pub(crate) current_nsid: Option<i32>,
}

/// The fields of an NSID message's payload (after the netlink header).
pub(crate) fn parse_nsid(payload: &[u8]) -> Result<NsidMessage, Malformed> {
    let Some((_, rest)) = RtGenMsg::split(payload) else {
        return Err(Malformed(format!(
            "NSID message has {} bytes, its rtgenmsg header needs {}",
            payload.len(),
            RtGenMsg::LEN
        )));
    };
    let mut out = NsidMessage::default();
    for attr in attrs(rest) {
        let (kind, value) = attr?;
        match kind {
            NETNSA_NSID => out.nsid = Some(attr_u32(value, "NETNSA_NSID")? as i32),
            NETNSA_PID => out.pid = Some(attr_u32(value, "NETNSA_PID")?),
            NETNSA_FD => out.fd = Some(attr_u32(value, "NETNSA_FD")?),
            NETNSA_TARGET_NSID => {
                out.target_nsid = Some(attr_u32(value, "NETNSA_TARGET_NSID")? as i32)
            }
            NETNSA_CURRENT_NSID => {
                out.current_nsid = Some(attr_u32(value, "NETNSA_CURRENT_NSID")? as i32)
            }
            _ => {} // newer kernels may add attributes
        }
    }
    Ok(out)
}

/// The `struct rtgenmsg` every NSID request starts with.
pub(crate) fn rtgenmsg(out: &mut Vec<u8>) {
    let header = RtGenMsg {
        family: libc::AF_UNSPEC as u8,
    };
    out.extend_from_slice(&header.to_bytes());
}

/// The id of the namespace open as `target_fd` as `socket`'s namespace sees it (`None`: none
/// assigned); `what` names it in errors.
pub(crate) fn get_with(socket: &mut Socket, target_fd: i32, what: &str) -> Result<Option<u32>> {
    let mut nsid = None;
    socket.request(
        &format!("RTM_GETNSID {what}"),
        RTM_GETNSID,
        0,
        |out| {
            rtgenmsg(out);
            push_attr(out, NETNSA_FD, &(target_fd as u32).to_ne_bytes());
        },
        |reply| {
            if reply.kind == RTM_NEWNSID {
                let parsed = parse_nsid(reply.payload).map_err(|m| Error::Protocol(m.0))?;
                nsid = parsed.nsid;
            }
            Ok(())
        },
    )?;
    match nsid {
        None => Err(Error::Protocol(format!(
            "RTM_GETNSID {what}: the reply carried no NETNSA_NSID"
        ))),
        Some(id) if id < 0 => Ok(None),
        Some(id) => Ok(Some(id as u32)),
    }
}

/// The id of the namespace behind `ns` as seen from `socket`'s namespace (`None`: not assigned).
pub(crate) fn nsid_with(
    socket: &mut Socket,
    ns: BorrowedFd<'_>,
    what: &str,
) -> Result<Option<u32>> {
    get_with(socket, ns.as_raw_fd(), what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::message::push_attr;

    fn body(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
        for (kind, value) in attrs {
            push_attr(&mut out, *kind, value);
        }
        out
    }

    #[test]
    fn parses_the_attributes_present() {
        let msg = parse_nsid(&body(&[
            (NETNSA_NSID, &3i32.to_ne_bytes()),
            (NETNSA_PID, &77u32.to_ne_bytes()),
            (99, &[1, 2, 3]),
        ]))
        .unwrap();
        assert_eq!(msg.nsid, Some(3));
        assert_eq!(msg.pid, Some(77));
        assert_eq!(msg.fd, None);
        let unassigned = parse_nsid(&body(&[(NETNSA_NSID, &(-1i32).to_ne_bytes())])).unwrap();
        assert_eq!(unassigned.nsid, Some(NETNSA_NSID_NOT_ASSIGNED));
    }

    #[test]
    fn rejects_short_headers_and_bad_values() {
        assert!(parse_nsid(&[0, 0]).is_err());
        assert!(parse_nsid(&body(&[(NETNSA_NSID, &[1, 2])])).is_err());
        let mut truncated = body(&[(NETNSA_NSID, &3i32.to_ne_bytes())]);
        truncated.truncate(truncated.len() - 2);
        assert!(parse_nsid(&truncated).is_err());
        assert_eq!(parse_nsid(&[0; 4]).unwrap(), NsidMessage::default());
    }
}
