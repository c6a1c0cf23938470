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

/// Standard output's fd.
pub const STDOUT: RawFd = 1;

/// Blocks until one of `fds` shows one of its events (or an error or hang-up); returns each
/// one's `revents`. Retries on EINTR. A negative fd is ignored, as poll(2) does.
pub fn poll<const N: usize>(fds: [(RawFd, libc::c_short); N]) -> io::Result<[libc::c_short; N]> {
    let mut pollfds = fds.map(|(fd, events)| libc::pollfd {
        fd,
        events,
        revents: 0,
    });
    loop {
        // SAFETY: `pollfds` is an array of N valid pollfd structs.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), N as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(pollfds.map(|p| p.revents));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// What ended a wait of the event loops.
pub enum Wake<const N: usize> {
    /// These of the fds are readable.
    Readable([bool; N]),
    /// A termination signal arrived.
    Signalled,
    /// Whoever read stdout has gone away (a pipe's reader closed it).
    OutputGone,
}

/// Blocks until one of `fds` is readable, a termination signal arrives, or stdout's reader
/// goes away (an error or hang-up on stdout: poll reports those whatever was asked for).
pub fn wait<const N: usize>(fds: [RawFd; N], signals: &TermSignals) -> io::Result<Wake<N>> {
    let mut all = vec![(STDOUT, 0), (signals.fd(), libc::POLLIN)];
    all.extend(fds.iter().map(|fd| (*fd, libc::POLLIN)));
    let mut pollfds: Vec<libc::pollfd> = all
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: *fd,
            events: *events,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `pollfds` holds `len` valid pollfd structs.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if pollfds[1].revents != 0 {
            return Ok(Wake::Signalled);
        }
        if pollfds[0].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Ok(Wake::OutputGone);
        }
        let mut readable = [false; N];
        for (r, p) in readable.iter_mut().zip(&pollfds[2..]) {
            *r = p.revents != 0;
        }
        return Ok(Wake::Readable(readable));
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
