//! The loop of the subcommands that print one handle's events as they come (`nsmon watch`,
//! `nsmon watch --all`, `nsmon nsid`): `ready`, then each event as a line, until SIGINT or
//! SIGTERM, or until the reader of stdout goes away.

use mio::event::Source;

use crate::output::Output;
use crate::Failure;

/// Prints what `next_line` makes of `handle`'s events, draining it whenever it is readable.
/// Ends only by `Err`: [`Failure::Signalled`] and [`Failure::StdoutClosed`] are its clean ends.
pub fn print_each<H: Source>(
    mut out: Output,
    mut handle: H,
    mut next_line: impl FnMut(&mut H) -> Result<Option<String>, Failure>,
) -> Result<(), Failure> {
    out.add(&mut handle)?;
    out.ready()?;
    loop {
        while let Some(line) = next_line(&mut handle)? {
            out.line(&line)?;
        }
        out.wait()?;
    }
}
