//! Control messages (`cmsg`) that come with a received datagram: the source namespace id that a
//! socket listening to all namespaces gets. Parsed from the bytes the kernel filled, with every
//! length checked, so that no malformed buffer can make it read out of bounds.

/// `SOL_NETLINK` (linux/socket.h): the level of netlink socket options and control messages.
pub(crate) const SOL_NETLINK: libc::c_int = 270;
/// `NETLINK_LISTEN_ALL_NSID` (linux/netlink.h): hear every namespace with an id; the control
/// message that says which one a datagram came from.
pub(crate) const NETLINK_LISTEN_ALL_NSID: libc::c_int = 8;

use crate::bytes::{i32_at, usize_at};

const WORD: usize = std::mem::size_of::<usize>();

/// `CMSG_ALIGN`: control messages are aligned to the size of `size_t`.
fn align(n: usize) -> usize {
    (n + WORD - 1) & !(WORD - 1)
}

/// `struct cmsghdr`: `size_t cmsg_len; int cmsg_level; int cmsg_type;`, data after it, aligned.
const HEADER: usize = (WORD + 8 + WORD - 1) & !(WORD - 1);
const LEVEL_AT: usize = WORD;
const TYPE_AT: usize = WORD + 4;

/// The source namespace id in `control` (the `msg_controllen` bytes `recvmsg` filled), if a
/// `NETLINK_LISTEN_ALL_NSID` control message carries one. A malformed buffer gives `None`.
pub(crate) fn nsid_from_control(control: &[u8]) -> Option<i32> {
    let mut rest = control;
    while rest.len() >= HEADER {
        let len = usize_at(rest, 0)?;
        let level = i32_at(rest, LEVEL_AT)?;
        let kind = i32_at(rest, TYPE_AT)?;
        if len < HEADER || len > rest.len() {
            return None;
        }
        if level == SOL_NETLINK && kind == NETLINK_LISTEN_ALL_NSID && len >= HEADER + 4 {
            return i32_at(rest, HEADER);
        }
        rest = rest.get(align(len)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control buffer laid out by libc's own CMSG macros.
    fn control(messages: &[(i32, i32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (level, kind, data) in messages {
            // SAFETY: CMSG_LEN and CMSG_SPACE only compute sizes.
            let (len, space) = unsafe {
                (
                    libc::CMSG_LEN(data.len() as u32) as usize,
                    libc::CMSG_SPACE(data.len() as u32) as usize,
                )
            };
            let start = out.len();
            out.extend_from_slice(&len.to_ne_bytes());
            out.extend_from_slice(&level.to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.resize(start + HEADER, 0);
            out.extend_from_slice(data);
            out.resize(start + space, 0);
        }
        out
    }

    #[test]
    fn finds_the_nsid_where_libc_puts_it() {
        let id = 42i32.to_ne_bytes();
        let other = control(&[(libc::SOL_SOCKET, 1, &[1, 2, 3])]);
        let ours = control(&[(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &id)]);
        assert_eq!(nsid_from_control(&ours), Some(42));
        assert_eq!(nsid_from_control(&[other.clone(), ours].concat()), Some(42));
        assert_eq!(nsid_from_control(&other), None);
        assert_eq!(nsid_from_control(&[]), None);
    }

    #[test]
    fn refuses_lengths_that_do_not_fit() {
        let id = 7i32.to_ne_bytes();
        let good = control(&[(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &id)]);
        for cut in 0..good.len() {
            // Cut short: the claimed length no longer fits (or the header is incomplete).
            let got = nsid_from_control(&good[..cut]);
            assert!(got.is_none() || cut >= HEADER + 4, "cut {cut}: {got:?}");
        }
        let mut huge = good.clone();
        huge[..WORD].copy_from_slice(&usize::MAX.to_ne_bytes());
        assert_eq!(nsid_from_control(&huge), None);
        let mut tiny = good;
        tiny[..WORD].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(nsid_from_control(&tiny), None);
    }
}
