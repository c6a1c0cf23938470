//! Coalescing: a caller that accepts up to a window of extra latency is woken once per window
//! rather than once per event, so that one wake-up delivers everything that arrived meanwhile.
//!
//! The component's sources go into an epoll set of their own (`sources`). While events are
//! rare that set sits in the handle's epoll, so the first event after a quiet spell wakes the
//! caller at once (no added latency). Once the caller has taken what was there, the set leaves
//! the handle's epoll and a timer is armed for the window: whatever arrives meanwhile waits for
//! the timer, which wakes the caller once for all of it. A window that brings nothing puts the
//! set back, and the next event wakes the caller at once again.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::register_readable;
use crate::error::{Error, Result};
use crate::sys;

/// Token, in the handle's epoll, of the sources' epoll set.
const SOURCES: Token = Token(usize::MAX - 1);
/// Token, in the handle's epoll, of the window's timer.
const TIMER: Token = Token(usize::MAX - 2);

/// Where the sources' readiness goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The sources' set is in the handle's epoll: the next event wakes the caller at once.
    Direct,
    /// The set is out of the handle's epoll and the timer armed; `fired` once it went off.
    Window { fired: bool },
}

/// The coalescing half of a handle's core.
#[derive(Debug)]
pub(crate) struct Coalescing {
    sources: Poll,
    events: Events,
    timer: OwnedFd,
    window: Duration,
    phase: Phase,
    /// Whether the caller took an event since the phase last changed.
    delivered: bool,
}

impl Coalescing {
    /// Sets up the sources' set and the timer in the handle's epoll (`outer`).
    pub(crate) fn new(outer: &Registry, window: Duration, capacity: usize) -> Result<Self> {
        let sources = Poll::new().map_err(|e| Error::os("epoll_create1", e))?;
        register_readable(
            outer,
            sources.as_raw_fd(),
            SOURCES,
            "the sources' epoll set",
        )?;
        let timer = sys::timer::timer().map_err(|e| Error::os("timerfd_create", e))?;
        register_readable(outer, timer.as_raw_fd(), TIMER, "timerfd")?;
        Ok(Coalescing {
            sources,
            events: Events::with_capacity(capacity),
            timer,
            window,
            phase: Phase::Direct,
            delivered: false,
        })
    }

    /// Where the component registers its sources.
    pub(crate) fn registry(&self) -> &Registry {
        self.sources.registry()
    }

    /// Takes `token` from the handle's epoll if it is one of coalescing's own.
    pub(crate) fn claims(&mut self, token: Token) -> bool {
        match token {
            TIMER => {
                if let Phase::Window { fired } = &mut self.phase {
                    *fired = true;
                }
                true
            }
            SOURCES => true,
            _ => false,
        }
    }

    /// Adds the ready sources to `ready`, unless a window is still open: what arrived during
    /// it waits for its end.
    pub(crate) fn poll_sources(&mut self, ready: &mut Vec<Token>) -> Result<()> {
        if self.phase == (Phase::Window { fired: false }) {
            return Ok(());
        }
        loop {
            match self.sources.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os("epoll_wait", e)),
            }
        }
        ready.extend(self.events.iter().map(|e| e.token()));
        Ok(())
    }

    /// The caller took an event.
    pub(crate) fn took(&mut self) {
        self.delivered = true;
    }

    /// The caller has taken everything there was: opens a window after a delivery, closes it
    /// after a window that brought nothing.
    pub(crate) fn idle(&mut self, outer: &Registry) -> Result<()> {
        let open = match (self.phase, self.delivered) {
            (Phase::Direct, true) => {
                outer
                    .deregister(&mut SourceFd(&self.sources.as_raw_fd()))
                    .map_err(|e| Error::os("epoll_ctl the sources' epoll set", e))?;
                true
            }
            (Phase::Window { fired: true }, true) => true,
            (Phase::Window { fired: true }, false) => {
                // Registered again edge-triggered: sources that are ready now report at once.
                outer
                    .register(
                        &mut SourceFd(&self.sources.as_raw_fd()),
                        SOURCES,
                        Interest::READABLE,
                    )
                    .map_err(|e| Error::os("epoll_ctl the sources' epoll set", e))?;
                self.phase = Phase::Direct;
                false
            }
            // Nothing to change: a quiet handle, or a window still open.
            (Phase::Direct, false) | (Phase::Window { fired: false }, _) => return Ok(()),
        };
        if open {
            sys::timer::arm(self.timer.as_fd(), self.window)
                .map_err(|e| Error::os("timerfd_settime", e))?;
            self.phase = Phase::Window { fired: false };
        }
        self.delivered = false;
        Ok(())
    }
}
