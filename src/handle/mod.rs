//! The handle contract every component shares, written once.
//!
//! A handle owns a mio `Poll`; that epoll fd is the handle's fd. Sources (inotify, netlink
//! sockets, ...) are registered in it edge-triggered, and a component's [`Pump`] turns their
//! readiness into events in a queue. The contract callers rely on:
//!
//! - `next()` never blocks: it returns a queued event, or pumps ready sources once and returns
//!   what that produced, or `None`.
//! - The fd is readable whenever `next()` has an event: either a source still has data (sources
//!   a pump leaves unread on purpose are registered level-triggered), or events are queued, in
//!   which case an eventfd (mio's `Waker`) is signalled, once per batch, not per event.
//! - When `next()` returns `None`, every readiness the fd showed has been consumed, so a
//!   level-triggered caller does not spin. An edge-triggered caller calls `next()` until it
//!   returns `None` after each wake-up, as with any non-blocking fd read until `EAGAIN`.
//!   (An earlier version signalled the eventfd after every `next()` so that one event per
//!   edge-triggered wake-up could not stall; that cost a `write` per event, as much as the
//!   `recv` that brought it.)

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token, Waker};

use crate::error::{Error, Result};
use crate::sys;

mod coalesce;
use coalesce::Coalescing;

/// Token of the eventfd that keeps the handle readable while events are queued.
const WAKER: Token = Token(usize::MAX);

/// How many ready sources one pump sees at most; the rest stay ready for the next pump.
const EVENTS_CAPACITY: usize = 64;

/// While a pump has a backlog, the epoll fd is asked for new readiness only every this many
/// refills: often enough that a source that became ready meanwhile is not kept waiting behind a
/// busy one, rarely enough that a busy source costs about one `recv` per event, not a `recv`
/// and an `epoll_wait`.
const POLL_EVERY: u32 = 16;

/// How [`Core::refill`] gets more events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refill {
    /// Ask epoll which sources are ready, backlog or not.
    AskEpoll,
    /// Pump a backlog if there is one, asking epoll only every [`POLL_EVERY`] refills.
    BacklogFirst,
}

/// A component's logic: turns ready sources into events.
pub(crate) trait Pump {
    /// The component's event type.
    type Event;

    /// Handles the sources that `ready` reports (the waker's token excluded) and pushes the
    /// resulting events to `out`. Sources are registered edge-triggered, so each reported source
    /// must be read until `WouldBlock`, or remembered as backlog (see [`has_backlog`]).
    ///
    /// [`has_backlog`]: Pump::has_backlog
    fn pump(&mut self, ready: &[Token], out: &mut VecDeque<Self::Event>) -> Result<()>;

    /// Whether some source was left unread on purpose (a read budget, so that one busy source
    /// cannot starve the others). The core then calls `pump` again on the next refill even if
    /// epoll reports nothing new, and keeps the fd readable meanwhile.
    fn has_backlog(&self) -> bool {
        false
    }

    /// Whether the backlog's sources keep the fd readable by themselves (they are registered
    /// level-triggered, so epoll reports them while they hold data): then the core need not
    /// signal its waker for the backlog.
    fn backlog_keeps_fd_readable(&self) -> bool {
        false
    }
}

/// The shared machinery of a handle: the poll, the queue, the readiness bookkeeping.
pub(crate) struct Core<P: Pump> {
    poll: Poll,
    events: Events,
    ready: Vec<Token>,
    waker: Waker,
    /// The waker has been signalled and its readiness not yet consumed by a pump.
    armed: bool,
    /// Refills since the epoll fd was last asked for readiness (see [`POLL_EVERY`]).
    polls_skipped: u32,
    queue: VecDeque<P::Event>,
    /// An error met while refilling after an event was already taken; returned by the next call.
    deferred: Option<Error>,
    /// With a latency window: the sources' own epoll set and the window's timer.
    coalescing: Option<Coalescing>,
    pub(crate) pump: P,
    /// Handles are `Send` but not `Sync`: every method takes `&mut self` anyway, and saying so
    /// keeps the promise stable if a `&self` method is ever added.
    _not_sync: PhantomData<Cell<()>>,
}

impl<P: Pump + std::fmt::Debug> std::fmt::Debug for Core<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("fd", &self.raw_fd())
            .field("queued", &self.queue.len())
            .field("pump", &self.pump)
            .finish_non_exhaustive()
    }
}

impl<P: Pump> Core<P> {
    /// Creates the poll and the waker, then lets `build` register the component's sources and
    /// queue the events it has from the start (e.g. an initial listing).
    pub(crate) fn new(
        build: impl FnOnce(&Registry, &mut VecDeque<P::Event>) -> Result<P>,
    ) -> Result<Self> {
        Core::with_window(None, build)
    }

    /// As [`new`](Self::new); with `Some(window)`, the caller accepts up to `window` of extra
    /// latency to be woken once per window instead of once per event (see `coalesce.rs`).
    pub(crate) fn with_window(
        window: Option<Duration>,
        build: impl FnOnce(&Registry, &mut VecDeque<P::Event>) -> Result<P>,
    ) -> Result<Self> {
        let poll = Poll::new().map_err(|e| Error::os("epoll_create1", e))?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(|e| Error::os("eventfd", e))?;
        let coalescing = window
            .map(|w| Coalescing::new(poll.registry(), w, EVENTS_CAPACITY))
            .transpose()?;
        let mut queue = VecDeque::new();
        let registry = coalescing
            .as_ref()
            .map_or(poll.registry(), |c| c.registry());
        let pump = build(registry, &mut queue)?;
        let mut core = Core {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            ready: Vec::with_capacity(EVENTS_CAPACITY),
            waker,
            armed: false,
            polls_skipped: 0,
            queue,
            deferred: None,
            coalescing,
            pump,
            _not_sync: PhantomData,
        };
        core.settle()?;
        Ok(core)
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    /// Consumes the readiness the epoll fd shows and pumps the ready sources; with a backlog
    /// and [`Refill::BacklogFirst`], pumps that instead, asking epoll only every
    /// [`POLL_EVERY`] refills. Returns whether epoll was asked.
    fn refill(&mut self, how: Refill) -> Result<bool> {
        self.ready.clear();
        let backlog = self.pump.has_backlog();
        if backlog && how == Refill::BacklogFirst && self.polls_skipped < POLL_EVERY {
            self.polls_skipped += 1;
            self.pump.pump(&self.ready, &mut self.queue)?;
            return Ok(false);
        }
        self.polls_skipped = 0;
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os("epoll_wait", e)),
            }
        }
        for event in self.events.iter() {
            let token = event.token();
            if token == WAKER {
                self.armed = false;
            } else if !self.coalescing.as_mut().is_some_and(|c| c.claims(token)) {
                self.ready.push(token);
            }
        }
        if let Some(coalescing) = &mut self.coalescing {
            coalescing.poll_sources(&mut self.ready)?;
        }
        if !self.ready.is_empty() || backlog {
            self.pump.pump(&self.ready, &mut self.queue)?;
        }
        Ok(true)
    }

    /// Whether nothing is left for the caller that would not show on the fd by itself.
    fn idle(&self) -> bool {
        self.queue.is_empty()
            && self.deferred.is_none()
            && (!self.pump.has_backlog() || self.backlog_shows())
    }

    /// Whether a backlog keeps the fd readable by itself: its sources are level-triggered and
    /// in the handle's own epoll (not behind a coalescing window's set, whose edge has passed).
    fn backlog_shows(&self) -> bool {
        self.pump.backlog_keeps_fd_readable() && self.coalescing.is_none()
    }

    /// Leaves the fd readable exactly when something is left for the caller.
    ///
    /// When events are left, the waker is signalled unless its readiness is still pending.
    /// When nothing is left but the waker's readiness is still pending, it is consumed (picking
    /// up whatever arrived meanwhile), so that a level-triggered caller does not spin.
    fn settle(&mut self) -> Result<()> {
        if self.idle() {
            if !self.armed {
                return self.coalesce_idle();
            }
            if let Err(err) = self.refill(Refill::AskEpoll) {
                self.deferred = Some(err);
            }
            if self.idle() {
                return self.coalesce_idle();
            }
        }
        if !self.armed {
            self.waker
                .wake()
                .map_err(|e| Error::os("eventfd write", e))?;
            self.armed = true;
        }
        Ok(())
    }

    /// Nothing is left for the caller: a coalescing window may open or close.
    fn coalesce_idle(&mut self) -> Result<()> {
        match &mut self.coalescing {
            Some(coalescing) => coalescing.idle(self.poll.registry()),
            None => Ok(()),
        }
    }

    /// Takes one event, refilling from the sources when the queue is empty; no readiness
    /// bookkeeping (callers [`settle`](Self::settle) when they are done taking).
    fn take(&mut self) -> Result<Option<P::Event>> {
        self.stock()?;
        let event = self.queue.pop_front();
        if let (Some(_), Some(coalescing)) = (&event, &mut self.coalescing) {
            coalescing.took();
        }
        Ok(event)
    }

    /// What [`take`](Self::take) does before it takes: returns the deferred error, if any,
    /// and refills an empty queue from the sources (empty after this: nothing is ready).
    fn stock(&mut self) -> Result<()> {
        if let Some(err) = self.deferred.take() {
            return Err(err);
        }
        if self.queue.is_empty()
            && !self.refill(Refill::BacklogFirst)?
            && self.queue.is_empty()
            && (!self.backlog_shows() || self.armed)
        {
            // The backlog gave nothing: ask epoll before saying there is nothing. (Not needed
            // when every source is level-triggered and the waker is not pending: whatever
            // arrived since keeps the fd readable by itself, so `None` hides nothing.)
            self.refill(Refill::AskEpoll)?;
        }
        Ok(())
    }

    /// Queues an event produced outside a pump (e.g. by an `add` between polls) and keeps the
    /// fd readable for it.
    pub(crate) fn push(&mut self, event: P::Event) -> Result<()> {
        self.queue.push_back(event);
        self.settle()
    }

    /// See the module docs: never blocks, keeps the fd readable while events remain.
    pub(crate) fn next(&mut self) -> Result<Option<P::Event>> {
        let taken = self.take();
        self.settle()?;
        taken
    }

    /// Calls `callback` for each event that is ready now, until none is left or it returns
    /// `false`. Returns how many events were delivered. Readiness is settled once at the end,
    /// not per event.
    pub(crate) fn dispatch(&mut self, mut callback: impl FnMut(P::Event) -> bool) -> Result<usize> {
        self.dispatch_with_pump(|_, event| callback(event))
    }

    /// Appends up to `max` events that are ready now to `out`; returns how many. Readiness is
    /// settled once for the batch. A failure after some events were taken is kept for the next
    /// call, so that what was taken is not lost with it.
    pub(crate) fn next_batch(&mut self, out: &mut Vec<P::Event>, max: usize) -> Result<usize> {
        self.next_batch_with(max, |_, event| out.push(event))
    }

    /// As [`next_batch`](Self::next_batch), handing each event to `take` with the pump (so that
    /// it can read an event that refers to the pump's own storage) instead of collecting them.
    pub(crate) fn next_batch_with(
        &mut self,
        max: usize,
        mut take: impl FnMut(&P, P::Event),
    ) -> Result<usize> {
        let mut taken = 0;
        let mut failure = None;
        while taken < max {
            match self.stock() {
                Ok(()) => {}
                Err(err) if taken == 0 => failure = Some(err),
                Err(err) => self.deferred = Some(err),
            }
            // What is queued, moved at once rather than taken one by one.
            let n = self.queue.len().min(max - taken);
            if failure.is_some() || self.deferred.is_some() || n == 0 {
                break;
            }
            for event in self.queue.drain(..n) {
                take(&self.pump, event);
            }
            taken += n;
            if let Some(coalescing) = &mut self.coalescing {
                coalescing.took();
            }
        }
        self.settle()?;
        failure.map_or(Ok(taken), Err)
    }

    /// As [`dispatch`](Self::dispatch), handing the callback the pump too (so that it can read
    /// an event that refers to the pump's own storage).
    pub(crate) fn dispatch_with_pump(
        &mut self,
        mut callback: impl FnMut(&P, P::Event) -> bool,
    ) -> Result<usize> {
        let mut delivered = 0;
        let result = loop {
            match self.take() {
                Ok(Some(event)) => {
                    delivered += 1;
                    if !callback(&self.pump, event) {
                        break Ok(delivered);
                    }
                }
                Ok(None) => break Ok(delivered),
                Err(err) => break Err(err),
            }
        };
        self.settle()?;
        result
    }

    /// The pump and the queue together (a component that changes what is queued).
    pub(crate) fn pump_and_queue(&mut self) -> (&mut P, &mut VecDeque<P::Event>) {
        (&mut self.pump, &mut self.queue)
    }

    /// Blocks until `next()` has an event (`true`) or `timeout` passes (`false`).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if !self.queue.is_empty() || self.deferred.is_some() {
                return Ok(true);
            }
            // A backlog may hold only messages that produce no event: pump it before blocking.
            if let Err(err) = self.refill(Refill::AskEpoll) {
                self.deferred = Some(err);
            }
            if !self.queue.is_empty() || self.deferred.is_some() {
                self.settle()?;
                return Ok(true);
            }
            if self.pump.has_backlog() {
                continue; // unread data remains: read on rather than block
            }
            let remaining = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
            };
            sys::poll_readable(self.as_fd(), remaining).map_err(|e| Error::os("poll", e))?;
        }
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.poll.registry().as_fd()
    }
}

/// Registers `fd` in a handle's poll for readability under `token`; `what` names it in the
/// error.
pub(crate) fn register_readable(
    registry: &Registry,
    fd: RawFd,
    token: Token,
    what: &str,
) -> Result<()> {
    registry
        .register(
            &mut mio::unix::SourceFd(&fd),
            token,
            mio::Interest::READABLE,
        )
        .map_err(|e| Error::os(format!("epoll_ctl {what}"), e))
}

/// Opens the mount table and registers it under `token`: the poll then wakes on every change
/// of the caller's mount namespace. Keep the file open as long as the registration.
///
/// Not POLLPRI: the kernel clears mountinfo's "changed" flag whenever the file is polled, and a
/// nested poll of the handle's epoll fd (the caller's epoll, or `wait`) polls it first, so the
/// flag is gone before our epoll_wait reads it. Instead: mountinfo is always readable, and
/// edge-triggered epoll re-queues it exactly when the mount namespace wakes its pollers, i.e.
/// on every mount-table change. No read is needed.
pub(crate) fn register_mount_table(registry: &Registry, token: Token) -> Result<std::fs::File> {
    const MOUNTINFO: &str = "/proc/self/mountinfo";
    let file =
        std::fs::File::open(MOUNTINFO).map_err(|e| Error::os(format!("open {MOUNTINFO}"), e))?;
    register_readable(registry, file.as_raw_fd(), token, MOUNTINFO)?;
    Ok(file)
}

/// The contract as a trait, for code generic over handles (the C ABI).
pub(crate) trait HandleOps {
    type Event;
    fn next_event(&mut self) -> Result<Option<Self::Event>>;
    fn dispatch_events(&mut self, callback: &mut dyn FnMut(Self::Event) -> bool) -> Result<usize>;
    fn wait_event(&mut self, timeout: Option<Duration>) -> Result<bool>;
}

/// Implements the common contract's public surface on a handle type whose `core` field is a
/// [`Core`]: `fd`, `next`, `dispatch`, `wait`, `AsFd`, `AsRawFd` and `mio::event::Source`.
macro_rules! handle_api {
    ($handle:ident, $event:ty) => {
        impl $handle {
            /// The handle's pollable fd: readable whenever [`next`](Self::next) has an event.
            ///
            /// Borrowed from the handle: do not close it. Put it in your own epoll/poll loop and
            /// call `next` after each wake-up. Level-triggered, take as many events per wake-up
            /// as you like (the fd stays readable while more are left); edge-triggered
            /// (`EPOLLET`), call `next` until it returns `Ok(None)`, as with any non-blocking fd.
            pub fn fd(&self) -> std::os::fd::RawFd {
                self.core.raw_fd()
            }

            /// Returns the next event without blocking, or `Ok(None)` when there is none now.
            ///
            /// After `Ok(None)` the fd is not readable until something new happens.
            // Not an Iterator: `None` means "nothing now", not "finished", and errors are separate.
            #[allow(clippy::should_implement_trait)]
            pub fn next(&mut self) -> $crate::Result<Option<$event>> {
                self.core.next()
            }

            /// Calls `callback` with each event that is ready now, until none is left or the
            /// callback returns `false`; never blocks. Returns the number of events delivered.
            pub fn dispatch(
                &mut self,
                callback: impl FnMut($event) -> bool,
            ) -> $crate::Result<usize> {
                self.core.dispatch(callback)
            }

            /// Appends up to `max` events that are ready now to `out`, without blocking, and
            /// returns how many (0: none now, and the fd is not readable until something
            /// happens). One call costs the readiness bookkeeping once for the whole batch. A
            /// failure met after some events were taken is returned by the next call instead,
            /// so that they are not lost with it.
            pub fn next_batch(
                &mut self,
                out: &mut Vec<$event>,
                max: usize,
            ) -> $crate::Result<usize> {
                self.core.next_batch(out, max)
            }

            /// Blocks until [`next`](Self::next) has an event (`Ok(true)`) or `timeout` passes
            /// (`Ok(false)`); `None` waits without limit. A signal that interrupts the wait is
            /// returned as an error for which [`Error::is_interrupted`](crate::Error::is_interrupted)
            /// is true.
            pub fn wait(&mut self, timeout: Option<std::time::Duration>) -> $crate::Result<bool> {
                self.core.wait(timeout)
            }
        }

        impl $crate::handle::HandleOps for $handle {
            type Event = $event;
            fn next_event(&mut self) -> $crate::Result<Option<$event>> {
                self.core.next()
            }
            fn dispatch_events(
                &mut self,
                callback: &mut dyn FnMut($event) -> bool,
            ) -> $crate::Result<usize> {
                self.core.dispatch(callback)
            }
            fn wait_event(&mut self, timeout: Option<std::time::Duration>) -> $crate::Result<bool> {
                self.core.wait(timeout)
            }
        }

        $crate::handle::handle_sources!($handle);
    };
}

/// The fd traits of a handle type whose `core` field is a [`Core`]: `AsFd`, `AsRawFd` and
/// `mio::event::Source` (part of [`handle_api`], and alone for a handle that writes its own
/// `next`).
macro_rules! handle_sources {
    ($handle:ident) => {
        impl std::os::fd::AsRawFd for $handle {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.core.raw_fd()
            }
        }

        impl std::os::fd::AsFd for $handle {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.core.as_fd()
            }
        }

        impl mio::event::Source for $handle {
            fn register(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                mio::unix::SourceFd(&self.core.raw_fd()).register(registry, token, interests)
            }

            fn reregister(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                mio::unix::SourceFd(&self.core.raw_fd()).reregister(registry, token, interests)
            }

            fn deregister(&mut self, registry: &mio::Registry) -> std::io::Result<()> {
                mio::unix::SourceFd(&self.core.raw_fd()).deregister(registry)
            }
        }
    };
}
pub(crate) use handle_api;
pub(crate) use handle_sources;

#[cfg(test)]
mod tests {
    use super::*;

    /// A component with no fd of its own: a backlog of `left` events, `per_pump` at a time.
    #[derive(Debug)]
    struct Budgeted {
        left: usize,
        per_pump: usize,
    }

    impl Pump for Budgeted {
        type Event = usize;
        fn pump(&mut self, _ready: &[Token], out: &mut VecDeque<usize>) -> Result<()> {
            for _ in 0..self.per_pump.min(self.left) {
                out.push_back(self.left);
                self.left -= 1;
            }
            Ok(())
        }
        fn has_backlog(&self) -> bool {
            self.left > 0
        }
    }

    fn readable(core: &Core<Budgeted>) -> bool {
        sys::poll_readable(core.as_fd(), Some(Duration::ZERO)).unwrap()
    }

    #[test]
    fn a_backlog_keeps_the_fd_readable_until_it_is_drained() {
        let mut core = Core::new(|_, _| {
            Ok(Budgeted {
                left: 10,
                per_pump: 3,
            })
        })
        .unwrap();
        assert!(
            readable(&core),
            "a backlog at creation must make the fd readable"
        );
        let mut got = Vec::new();
        while let Some(event) = core.next().unwrap() {
            got.push(event);
            assert!(readable(&core) || core.pump.left == 0 && core.queue.is_empty());
        }
        assert_eq!(got, (1..=10).rev().collect::<Vec<_>>());
        assert!(!readable(&core), "drained: the fd must not stay readable");
    }

    #[test]
    fn wait_and_dispatch_pump_a_backlog_without_blocking() {
        let mut core = Core::new(|_, _| {
            Ok(Budgeted {
                left: 7,
                per_pump: 2,
            })
        })
        .unwrap();
        assert!(core.wait(Some(Duration::from_secs(5))).unwrap());
        let mut got = 0;
        while got < 7 {
            got += core.dispatch(|_| true).unwrap();
        }
        assert_eq!(got, 7);
        assert!(!core.wait(Some(Duration::from_millis(10))).unwrap());
        assert!(!readable(&core));
    }
}
