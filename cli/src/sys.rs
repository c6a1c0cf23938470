//! The command's raw libc calls, for what neither std nor mio does: blocking the termination
//! signals and taking them as an fd (signalfd), and raising the open-file limit.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// SIGINT and SIGTERM, blocked and delivered through a signalfd, so that a wait sees them as one
/// more readable fd and nsmon can end cleanly (exit code 0) in any state.
pub struct TermSignals {
    fd: OwnedFd,
}

impl TermSignals {
    /// Must run before any thread starts, so that every thread inherits the blocked mask (a
    /// signal sent to a thread that did not would end nsmon by its default action, uncleanly).
    pub fn block() -> io::Result<Self> {
        // SAFETY: `set` is a sigset_t on this stack, initialised by sigemptyset before the
        // other calls read it; pthread_sigmask takes a null old-mask pointer (not wanted), and
        // signalfd(-1, ...) makes a new fd, which is checked before OwnedFd takes it over as its
        // only owner.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TermSignals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }
}

impl AsRawFd for TermSignals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (following many namespaces takes one fd
/// each). Failing to raise it only means fewer namespaces fit; the library reports EMFILE.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit writes the whole struct (a local, zeroed first) and setrlimit only reads
    // it; neither keeps the pointer.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            // Ignored: see above.
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
