//! The loop every streaming subcommand runs: print `ready`, then print each event as a line,
//! flushed, until SIGINT or SIGTERM.

use std::io::Write;
use std::os::fd::RawFd;

use crate::json::Object;
use crate::os::{wait_readable, TermSignals};
use crate::Failure;

/// Drains `next_line` whenever `fd` is readable; returns on a termination signal.
pub fn follow(
    signals: &TermSignals,
    fd: RawFd,
    mut next_line: impl FnMut() -> Result<Option<String>, Failure>,
) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(Object::new("nsmon", "ready").line().as_bytes())?;
    stdout.flush()?;
    loop {
        while let Some(line) = next_line()? {
            stdout.write_all(line.as_bytes())?;
            stdout.flush()?;
        }
        let [_, signalled] = wait_readable([fd, signals.fd()])?;
        if signalled {
            return Ok(());
        }
    }
}
