//! A timerfd: a pollable fd that becomes readable when a deadline passes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A monotonic timerfd, non-blocking and close-on-exec, disarmed.
pub(crate) fn timer() -> io::Result<OwnedFd> {
    let fd = syscall!(timerfd_create(
        libc::CLOCK_MONOTONIC,
        libc::TFD_NONBLOCK | libc::TFD_CLOEXEC
    ))?;
    // SAFETY: `fd` was just returned by timerfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms `fd` to fire once, `after` from now (a zero duration fires at once).
pub(crate) fn arm(fd: BorrowedFd<'_>, after: Duration) -> io::Result<()> {
    // A zero it_value would disarm the timer: the shortest real wait is one nanosecond.
    let after = after.max(Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `spec` is a valid itimerspec that outlives the call; no old value is asked for.
    syscall!(timerfd_settime(
        fd.as_raw_fd(),
        0,
        &spec,
        std::ptr::null_mut()
    ))?;
    Ok(())
}

/// Consumes the expirations counted so far (so that the fd stops being readable); whether any.
pub(crate) fn take(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut count: u64 = 0;
    // SAFETY: a timerfd read writes one u64 into `count`, which outlives the call.
    match syscall!(read(fd.as_raw_fd(), (&raw mut count).cast(), 8)) {
        Ok(_) => Ok(count > 0),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}
