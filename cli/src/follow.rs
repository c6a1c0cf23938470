//! The loop the watch and nsid subcommands run: print `ready`, then print each event as a
//! line, until SIGINT or SIGTERM, or until the reader of stdout goes away.

use std::os::fd::RawFd;

use crate::json::Object;
use crate::os::{wait, TermSignals, Wake};
use crate::output::Output;
use crate::Failure;

/// Drains `next_line` whenever `fd` is readable; returns on a termination signal.
pub fn follow(
    signals: &TermSignals,
    fd: RawFd,
    mut next_line: impl FnMut() -> Result<Option<String>, Failure>,
) -> Result<(), Failure> {
    let mut out = Output::new(signals);
    out.line(&Object::new("nsmon", "ready").line())?;
    loop {
        while let Some(line) = next_line()? {
            out.line(&line)?;
        }
        match wait([fd], signals).map_err(|e| Failure::Message(format!("poll: {e}")))? {
            Wake::Readable(_) => {}
            Wake::Signalled | Wake::OutputGone => return Ok(()),
        }
    }
}
