//! Raw netlink socket calls.

use std::io;
use std::mem::{size_of, size_of_val, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::control::nsid_from_control;

/// Whether a socket's calls wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Receives wait for data (with a timeout set by the caller): for requests and replies.
    Blocking,
    /// Receives return `WouldBlock` at once: for an event loop.
    NonBlocking,
}

/// Opens a `NETLINK_ROUTE` socket, close-on-exec, in `mode`.
pub(crate) fn socket(mode: Mode) -> io::Result<OwnedFd> {
    socket_of(libc::NETLINK_ROUTE, mode)
}

/// Opens a netlink socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_CONNECTOR`), close-on-exec,
/// in `mode`.
pub(crate) fn socket_of(protocol: libc::c_int, mode: Mode) -> io::Result<OwnedFd> {
    let mut kind = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
    if mode == Mode::NonBlocking {
        kind |= libc::SOCK_NONBLOCK;
    }
    let fd = syscall!(socket(libc::AF_NETLINK, kind, protocol))?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds to a kernel-chosen port id, joining the multicast groups in `groups` (bit N-1 for
/// group N, groups 1 to 32), and returns the port id.
pub(crate) fn bind(fd: BorrowedFd<'_>, groups: u32) -> io::Result<u32> {
    // SAFETY: all-zero is a valid sockaddr_nl (AF_UNSPEC until set below).
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    let len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_nl of `len` bytes.
    syscall!(bind(fd.as_raw_fd(), (&raw const addr).cast(), len))?;
    let mut out_len = len;
    // SAFETY: `addr` is writable for `out_len` bytes.
    syscall!(getsockname(
        fd.as_raw_fd(),
        (&raw mut addr).cast(),
        &mut out_len
    ))?;
    Ok(addr.nl_pid)
}

/// `setsockopt` with an int value.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a c_int that outlives the call; its size is passed.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&raw const value).cast(),
        size_of::<libc::c_int>() as libc::socklen_t
    ))?;
    Ok(())
}

/// `getsockopt` of an int value.
pub(crate) fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes.
    syscall!(getsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&raw mut value).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// Sends one datagram to the kernel (port id 0).
pub(crate) fn send_to_kernel(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<()> {
    // SAFETY: all-zero sockaddr_nl with the family set addresses the kernel.
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    loop {
        // SAFETY: `data` is readable for its length; `addr` is a valid sockaddr_nl.
        let sent = syscall!(sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            0,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t
        ));
        match sent {
            Ok(n) if n as usize == data.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("short netlink send")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One received datagram: its real length (more than the buffer when `truncated`), the
/// sender's port id, and (on a socket with `NETLINK_LISTEN_ALL_NSID`) the id of the namespace
/// it came from.
pub(crate) struct Datagram {
    pub(crate) len: usize,
    pub(crate) sender: u32,
    pub(crate) truncated: bool,
    pub(crate) nsid: Option<i32>,
}

/// Room for one int control message, aligned for `struct cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 32]);

/// Receives one datagram into `buf`, with its source namespace id (for a socket listening to
/// all namespaces). `WouldBlock` when none is queued, `ENOBUFS` after the kernel dropped
/// messages for lack of buffer space.
pub(crate) fn recv_with_nsid(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: all-zero is a valid sockaddr_nl to be filled in.
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr; the fields that matter are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let mut control = Control([0; 32]);
    loop {
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        // SAFETY: `msg` points at `addr` and `iov`, which point at live, writable memory.
        // MSG_TRUNC: the datagram's real length is returned, even when it did not fit. A raw
        // system call, as in `recv`.
        match syscall!(syscall(
            libc::SYS_recvmsg,
            libc::c_long::from(fd.as_raw_fd()),
            &raw mut msg,
            libc::c_long::from(libc::MSG_TRUNC)
        )) {
            Ok(n) => {
                return Ok(Datagram {
                    len: n as usize,
                    sender: addr.nl_pid,
                    truncated: msg.msg_flags & libc::MSG_TRUNC != 0 || n as usize > buf.len(),
                    nsid: nsid_from_control(
                        control
                            .0
                            .get(..msg.msg_controllen as usize)
                            .unwrap_or_default(),
                    ),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receives one datagram into `buf`, as [`recv_with_nsid`] but without control messages:
/// `recvfrom` spares the kernel the message-header and iovec copies of `recvmsg`, which showed
/// in the profile of the per-event path. `MSG_TRUNC` makes it return the datagram's real length,
/// so a truncation is still seen.
///
/// Made as a raw system call: glibc's `recvfrom` is a cancellation point, and it switches
/// asynchronous cancellation on and off around every call, which cost as much as the rest of
/// the call's work in user space. Nothing in nsmon is a cancellation point, nor needs to be: an
/// event socket never waits, and a query socket waits at most its reply timeout.
/// (`syscall` is variadic and reads every argument as a `long`: integers are passed as one.)
#[inline]
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: all-zero is a valid sockaddr_nl to be filled in.
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    loop {
        let mut addr_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `addr` for `addr_len` bytes; recvfrom's
        // arguments, in its order.
        match syscall!(syscall(
            libc::SYS_recvfrom,
            libc::c_long::from(fd.as_raw_fd()),
            buf.as_mut_ptr(),
            buf.len(),
            libc::c_long::from(libc::MSG_TRUNC),
            &raw mut addr,
            &raw mut addr_len
        )) {
            Ok(n) => {
                let n = n as usize;
                return Ok(Datagram {
                    len: n,
                    sender: addr.nl_pid,
                    truncated: n > buf.len(),
                    nsid: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `SO_MEMINFO` (asm-generic/socket.h) and the index of the drop counter in its array
/// (`SK_MEMINFO_DROPS`, linux/sock_diag.h).
const SO_MEMINFO: libc::c_int = 55;
const SK_MEMINFO_DROPS: usize = 8;

/// The socket's cumulative count of dropped packets (`SO_MEMINFO`, Linux 4.12+): for netlink,
/// every notification the kernel could not queue for lack of receive-buffer space.
pub(crate) fn drops(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut info = [0u32; 16];
    let mut len = size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes; the kernel writes at most that many.
    syscall!(getsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        SO_MEMINFO,
        info.as_mut_ptr().cast(),
        &mut len
    ))?;
    if (len as usize) < (SK_MEMINFO_DROPS + 1) * size_of::<u32>() {
        return Err(io::Error::other("SO_MEMINFO has no drop counter here"));
    }
    Ok(info[SK_MEMINFO_DROPS])
}
