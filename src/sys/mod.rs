//! The one place where nsmon calls the OS through `libc`.
//!
//! Everything above this module is safe Rust. Each function here wraps one system call (or a
//! short, fixed sequence of them), turns `-1` into an `io::Error` and documents what it assumes.
//! What the module provides:
//! - `open_nsfs`, `fd_fs_magic`: opening what should be a namespace file without blocking or
//!   following a link, and its filesystem type (`fstatfs`), to tell an nsfs bind mount from the
//!   plain file `ip netns add` creates first, or from a FIFO;
//! - `poll_readable`: a blocking wait for one fd, used by the handles' `wait`;
//! - `netlink`: netlink sockets (open, bind, options, send to the kernel, receive with sender);
//! - `netns`: a namespace fd's type, and running code inside another network namespace on a
//!   scoped helper thread;
//! - `nsfs`: namespace file handles, which name a namespace without holding it;
//! - `procfs`: reading `/proc` cheaply (links and listings relative to an open `/proc`);
//! - `timer`: a timerfd, for the inventory's rescans.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Calls a libc function and turns a `-1` result into the thread's last OS error.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each caller documents why its arguments are valid for this call.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub(crate) mod control;
pub(crate) mod netlink;
pub(crate) mod netns;
pub(crate) mod nsfs;
pub(crate) mod procfs;
pub(crate) mod timer;

/// `f_type` of an nsfs file, the filesystem behind `/proc/PID/ns/*` and their bind mounts.
pub(crate) const NSFS_MAGIC: i64 = 0x6e73_6673;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Whether [`open_nsfs`] follows a symbolic link in the last component of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Follow it (a path the caller chose, `/proc/PID/ns/net`).
    Follow,
    /// Refuse it (`ELOOP`): a named namespace's entry is a bind mount, never a link.
    Refuse,
}

/// Opens what should be a namespace file without blocking and without side effects, whatever
/// it turns out to be: read-only, non-blocking (a FIFO does not wait for a writer), never as a
/// controlling terminal, close-on-exec. What it is must then be checked on the fd itself
/// ([`fd_fs_magic`], then `NS_GET_NSTYPE`), so that the check and the use are the same file.
pub(crate) fn open_nsfs(path: &Path, links: Links) -> io::Result<std::os::fd::OwnedFd> {
    let path = c_path(path)?;
    let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: `path` is NUL-terminated; open takes no pointer beyond it.
    let fd = syscall!(open(path.as_ptr(), flags))?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Opens an nsfs file by a path that may lead anywhere by now (`/proc/PID/fd/N` of a process
/// that may have closed and reused the fd): first as a path only (`O_PATH`: no driver's open
/// runs, no device is touched), checked to be nsfs, then opened for real through that path fd.
/// `EINVAL` when it is not nsfs.
pub(crate) fn open_nsfs_by_path(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: `c` is NUL-terminated; open takes no pointer beyond it.
    let fd = syscall!(open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC))?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let path_fd: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    if fd_fs_magic(std::os::fd::AsFd::as_fd(&path_fd))? != NSFS_MAGIC {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let reopen = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    open_nsfs(Path::new(&reopen), Links::Follow)
}

/// The filesystem type (`fstatfs.f_type`) of an open file.
pub(crate) fn fd_fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: an all-zero `statfs` is a valid value of this plain C struct.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `buf` is a writable statfs that outlives the call; the fd is open.
    syscall!(fstatfs(fd.as_raw_fd(), &mut buf))?;
    // f_type's integer type differs between libc targets; the magic numbers fit in any of them.
    #[allow(clippy::unnecessary_cast)]
    Ok(buf.f_type as i64)
}

/// How many more fds this process can open now: the fd numbers under its soft
/// `RLIMIT_NOFILE` that are not in use (counted in `/proc/self/fd`; `usize::MAX` without a
/// limit).
pub(crate) fn free_fds() -> io::Result<usize> {
    // SAFETY: an all-zero rlimit is a valid value to be overwritten.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is writable and outlives the call.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return Ok(usize::MAX);
    }
    let cap = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    let mut used = 0usize;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        // The listing's own fd is among them: counted, as it is open while a batch is sized.
        let n: Option<usize> = entry?.file_name().to_str().and_then(|n| n.parse().ok());
        if n.is_some_and(|n| n < cap) {
            used += 1;
        }
    }
    Ok(cap.saturating_sub(used))
}

/// Waits until `fd` is readable or `timeout` passes (`None`: no limit).
///
/// Returns whether it is readable. `EINTR` is returned as an error, like `poll(2)`, so that a
/// caller's signal handler gets a chance to run its checks.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let timeout_ms = match timeout {
        None => -1,
        // Round up, so that a short positive timeout really waits instead of spinning at 0.
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .try_into()
            .unwrap_or(libc::c_int::MAX),
    };
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd and the count passed is 1.
    let n = syscall!(poll(&mut pfd, 1, timeout_ms))?;
    Ok(n > 0)
}

/// Sets `SO_RCVTIMEO`, so that a blocking receive gives up with `EAGAIN` after `timeout`.
pub(crate) fn set_receive_timeout(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: `tv` is a timeval that outlives the call; its size is passed.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        (&raw const tv).cast(),
        std::mem::size_of::<libc::timeval>() as libc::socklen_t
    ))?;
    Ok(())
}

/// Adds `fd` to the epoll set `epoll` *level-triggered* for reading, reported with `token`.
/// (mio registers edge-triggered only; a source that a pump may leave unread must keep the
/// epoll fd readable by itself.)
pub(crate) fn epoll_add_level(
    epoll: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    token: usize,
) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token as u64,
    };
    // SAFETY: both fds are open for the duration of the borrows; `event` outlives the call.
    syscall!(epoll_ctl(
        epoll.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        fd.as_raw_fd(),
        &mut event
    ))?;
    Ok(())
}
