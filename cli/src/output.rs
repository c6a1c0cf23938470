//! Standard output and every wait of the streaming subcommands, through mio: the lines of one
//! drain are gathered and written together before the next wait (or once [`BUFFER`] is full),
//! each chunk only as stdout can take it, while the termination signals are watched too, so
//! that a stalled reader of the pipe never keeps nsmon from ending on SIGINT or SIGTERM; a
//! reader that has gone away ends nsmon at once, with status 0, even while it waits for events.
//!
//! Two polls, so that neither takes the other's readiness (mio registers edge-triggered: an
//! edge taken by the wrong wait would not come again): `ready` holds the sources (the handles),
//! the signals and stdout's hang-up; `room` the signals and stdout's room for a line.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use mio::event::{Event, Source};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::json::Object;
use crate::sys::TermSignals;
use crate::Failure;

const SIGNALS: Token = Token(0);
const STDOUT: Token = Token(1);
/// Every source: the loops drain them all after each wake-up, so which one woke is not needed.
const SOURCE: Token = Token(2);

/// What a pipe takes without blocking once epoll says it is writable (one buffer page).
const CHUNK: usize = 4096;
/// What the lines of one drain may fill before they are written without waiting for its end.
const BUFFER: usize = 64 * 1024;

/// Stdout and the waits around it.
pub struct Output {
    /// The sources, the signals, and stdout for a hang-up only (`PRIORITY`, which a pipe never
    /// reports: epoll reports an error or a hang-up whatever was asked for).
    ready: Poll,
    /// The signals and stdout for room.
    room: Poll,
    events: Events,
    /// In both polls; kept open for as long as they are.
    _signals: TermSignals,
    /// A duplicate of fd 1, written to directly: std's stdout would buffer, and write a line
    /// in pieces whenever it liked.
    stdout: File,
    /// Whether stdout is in the polls: epoll refuses a regular file or `/dev/null` (EPERM),
    /// which poll(2) would call always writable and never hung up, as this does.
    pollable: bool,
    /// Lines not written yet: those of the drain under way, written before the next wait.
    pending: Vec<u8>,
}

impl Output {
    /// Blocks SIGINT and SIGTERM first: call it before anything starts a thread.
    pub fn new() -> Result<Output, Failure> {
        let signals = TermSignals::block().map_err(|e| failed("signalfd", e))?;
        let stdout = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .map_err(|e| failed("stdout", e))?;
        let ready = Poll::new().map_err(polling)?;
        let room = Poll::new().map_err(polling)?;
        let out = stdout.as_raw_fd();
        for poll in [&ready, &room] {
            let signals_fd = signals.as_raw_fd();
            let source = &mut SourceFd(&signals_fd);
            poll.registry()
                .register(source, SIGNALS, Interest::READABLE)
                .map_err(polling)?;
        }
        let pollable =
            match ready
                .registry()
                .register(&mut SourceFd(&out), STDOUT, Interest::PRIORITY)
            {
                Ok(()) => true,
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
                Err(e) => return Err(polling(e)),
            };
        if pollable {
            room.registry()
                .register(&mut SourceFd(&out), STDOUT, Interest::WRITABLE)
                .map_err(polling)?;
        }
        Ok(Output {
            ready,
            room,
            events: Events::with_capacity(16),
            _signals: signals,
            stdout,
            pollable,
            pending: Vec::with_capacity(BUFFER),
        })
    }

    /// Adds a source whose readability ends [`wait`](Self::wait) (a handle: its fd).
    pub fn add(&mut self, source: &mut impl Source) -> Result<(), Failure> {
        self.ready
            .registry()
            .register(source, SOURCE, Interest::READABLE)
            .map_err(polling)
    }

    /// Writes the lines pending, then blocks until a source may have something (wake-ups can
    /// be spurious: the loops drain every source until it has nothing, as an edge-triggered
    /// wait needs). `Err` on a termination signal or when stdout's reader has gone away.
    pub fn wait(&mut self) -> Result<(), Failure> {
        self.flush()?;
        until(&mut self.ready, &mut self.events, false)
    }

    /// Says that the watch is in place: what a caller waits for before it makes changes.
    pub fn ready(&mut self) -> Result<(), Failure> {
        self.line(&Object::new("nsmon", "ready").line())?;
        self.flush()
    }

    /// Adds `line` to the lines of this drain: written at the next wait, or now if they fill
    /// [`BUFFER`].
    pub fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.pending.extend_from_slice(line.as_bytes());
        match self.pending.len() >= BUFFER {
            true => self.flush(),
            false => Ok(()),
        }
    }

    /// Writes every pending line: in chunks that stdout can take, waiting for room (and the
    /// signals) before each, or in one `write` to what epoll cannot wait on (always writable).
    /// On `Err` the command ends: what was not written is dropped.
    fn flush(&mut self) -> Result<(), Failure> {
        let mut done = 0;
        let result = loop {
            if done == self.pending.len() {
                break Ok(());
            }
            if let Err(end) = self.until_room() {
                break Err(end);
            }
            let rest = &self.pending[done..];
            let take = match self.pollable {
                true => rest.len().min(CHUNK),
                false => rest.len(),
            };
            match (&self.stdout).write(&rest[..take]) {
                Ok(0) => break Err(Failure::from(io::Error::from(io::ErrorKind::WriteZero))),
                Ok(n) => done += n,
                // WouldBlock: another process made the shared file description non-blocking.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => break Err(Failure::from(e)),
            }
        };
        self.pending.clear();
        result
    }

    /// Blocks until stdout can take a chunk without blocking.
    fn until_room(&mut self) -> Result<(), Failure> {
        if !self.pollable {
            // Always writable: only a signal to look for, without waiting.
            let woke = wake(&mut self.room, &mut self.events, Some(Duration::ZERO))?;
            return match woke.outcome(true) {
                Some(Err(end)) => Err(end),
                _ => Ok(()),
            };
        }
        // Re-armed: edge-triggered, epoll would report only a change; this reports the state now.
        let out = self.stdout.as_raw_fd();
        self.room
            .registry()
            .reregister(&mut SourceFd(&out), STDOUT, Interest::WRITABLE)
            .map_err(polling)?;
        until(&mut self.room, &mut self.events, true)
    }
}

impl Drop for Output {
    /// Writes the lines of a drain that ended by an error (a source that failed), so that they
    /// come out, before the error's message on stderr.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// What one wake-up of a poll reported.
#[derive(Default)]
struct Woke {
    signalled: bool,
    source: bool,
    writable: bool,
    /// An error or hang-up on stdout: its reader has gone.
    gone: bool,
}

impl Woke {
    /// Whether a wait for room on stdout (`writing`) or for a source is over: `Err` on a signal
    /// (first), or a reader that has gone (when writing, only if stdout is not writable too: the
    /// write then says why, EPIPE); `Ok` once what it waits for is there; `None` to wait on.
    fn outcome(&self, writing: bool) -> Option<Result<(), Failure>> {
        let there = match writing {
            true => self.writable,
            false => self.source,
        };
        if self.signalled {
            Some(Err(Failure::Signalled))
        } else if self.gone && !(writing && self.writable) {
            Some(Err(Failure::StdoutClosed))
        } else {
            there.then_some(Ok(()))
        }
    }
}

/// Waits on `poll` until the wait is over (see [`Woke::outcome`]).
fn until(poll: &mut Poll, events: &mut Events, writing: bool) -> Result<(), Failure> {
    loop {
        if let Some(outcome) = wake(poll, events, None)?.outcome(writing) {
            return outcome;
        }
    }
}

/// One `poll` of `poll`, retried on EINTR.
fn wake(poll: &mut Poll, events: &mut Events, timeout: Option<Duration>) -> Result<Woke, Failure> {
    loop {
        match poll.poll(events, timeout) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(polling(e)),
        }
    }
    let mut woke = Woke::default();
    for event in events.iter() {
        match event.token() {
            SIGNALS => woke.signalled = true,
            SOURCE => woke.source = true,
            _ => {
                woke.writable |= event.is_writable();
                woke.gone |= hung_up(event);
            }
        }
    }
    Ok(woke)
}

/// Whether an event on stdout says that its reader has gone.
fn hung_up(event: &Event) -> bool {
    event.is_error() || event.is_write_closed() || event.is_read_closed()
}

fn polling(e: io::Error) -> Failure {
    failed("epoll", e)
}

fn failed(what: &str, e: io::Error) -> Failure {
    Failure::Message(format!("{what}: {e}"))
}
