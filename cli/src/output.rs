//! Standard output for the streaming subcommands: a line is written only as stdout can take
//! it, while the termination signals are watched too, so that a stalled reader of the pipe
//! never keeps nsmon from ending on SIGINT or SIGTERM; a reader that has gone away ends nsmon at
//! once, with status 0.

use std::io;

use crate::os::{poll, TermSignals, STDOUT};
use crate::Failure;

/// What a pipe takes without blocking once poll says it is writable (one buffer page).
const CHUNK: usize = 4096;

pub struct Output<'a> {
    signals: &'a TermSignals,
}

impl<'a> Output<'a> {
    pub fn new(signals: &'a TermSignals) -> Self {
        Output { signals }
    }

    /// Writes `line` whole, waiting for stdout (and the signals) in between.
    pub fn line(&mut self, line: &str) -> Result<(), Failure> {
        let mut rest = line.as_bytes();
        while !rest.is_empty() {
            let [out, signal] = poll([(STDOUT, libc::POLLOUT), (self.signals.fd(), libc::POLLIN)])
                .map_err(|e| Failure::Message(format!("poll: {e}")))?;
            if signal != 0 {
                return Err(Failure::Signalled);
            }
            if out & (libc::POLLERR | libc::POLLHUP) != 0 && out & libc::POLLOUT == 0 {
                return Err(Failure::StdoutClosed);
            }
            if out & libc::POLLOUT == 0 {
                continue;
            }
            let take = rest.len().min(CHUNK);
            // SAFETY: `rest` is readable for `take` bytes.
            let n = unsafe { libc::write(STDOUT, rest.as_ptr().cast(), take) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => continue,
                    _ => return Err(Failure::from(e)),
                }
            }
            rest = &rest[n as usize..];
        }
        Ok(())
    }
}
