//! The command's own OS calls: termination signals as an fd, and waiting on several fds.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// SIGINT and SIGTERM, blocked and delivered through a signalfd, so that the main loop sees them
/// as one more readable fd and can exit cleanly (exit code 0).
pub struct TermSignals {
    fd: OwnedFd,
}

impl TermSignals {
    /// Must run before any thread starts, so that every thread inherits the blocked mask.
    pub fn block() -> io::Result<Self> {
        // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use.
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

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Blocks until one of `fds` is readable; returns which are. Retries on EINTR.
pub fn wait_readable<const N: usize>(fds: [RawFd; N]) -> io::Result<[bool; N]> {
    let mut pollfds = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // SAFETY: `pollfds` is an array of N valid pollfd structs.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), N as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(pollfds.map(|p| p.revents != 0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (following many namespaces takes one fd
/// each). Failing to raise it only means fewer namespaces fit; the library reports EMFILE.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit on a local rlimit struct.
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
