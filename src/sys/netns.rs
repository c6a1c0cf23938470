//! Namespace file descriptors: their type, and running code inside another network namespace
//! without touching the calling thread.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `NS_GET_NSTYPE` (linux/nsfs.h): the `CLONE_NEW*` type of a namespace fd (Linux 4.11+).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The namespace type of an nsfs fd (`CLONE_NEWNET` for a network namespace).
pub(crate) fn ns_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    syscall!(ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _))
}

/// Runs `f` on a short-lived helper thread that has entered the network namespace `ns`, and
/// returns its result. The calling thread's namespace never changes (Go and daemon callers
/// share their threads); the helper ends before this returns, so no thread outlives the call.
/// Sockets created by `f` stay in `ns` for their whole life.
pub(crate) fn in_namespace<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let raw = ns.as_raw_fd();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: `raw` is a valid fd for the duration of the scope; setns only
                // changes this helper thread's network namespace.
                syscall!(setns(raw, libc::CLONE_NEWNET))?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
    })
}

/// `SIOCGSKNS` (linux/sockios.h): an fd of the network namespace a socket lives in (Linux 4.9+).
const SIOCGSKNS: libc::c_ulong = 0x894c;

/// Opens the network namespace that `socket` was created in.
pub(crate) fn socket_namespace(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new fd, owned by nobody else.
    let fd = syscall!(ioctl(socket.as_raw_fd(), SIOCGSKNS as _))?;
    // SAFETY: `fd` was just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The identity of a namespace fd: device and inode of its nsfs file. Two fds name the same
/// namespace exactly when these are equal.
pub(crate) fn identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable; `fd` is open for the duration of the borrow.
    syscall!(fstat(fd.as_raw_fd(), &mut st))?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between libc targets
    Ok((st.st_dev as u64, st.st_ino as u64))
}
