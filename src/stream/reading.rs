//! How the caller takes events: datagrams are read into an arena, each message queued as its
//! place there ([`Item`]) and typed only when it is taken, so that nothing is copied per event
//! for a reader that does not ask for a copy (the C ABI fills its event straight from the
//! arena, [`borrowed`] events point into it); the stream's `next`, `dispatch`, `next_batch`,
//! their borrowing forms and `wait`.

// The stream's own names (its state, events, targets) and what it imports.
use super::*;
use borrowed::{EventBatch, StreamEventRef};

/// The arena datagrams are read into: room for one datagram of the largest size nsmon reads
/// ([`EVENT_BUFFER`]) at any offset up to as much again. Pages are touched only as datagrams
/// land in them, so what a quiet stream holds is what it has read, not this.
pub(super) const ARENA: usize = 2 * EVENT_BUFFER;

/// What the stream's core queues: a message still in the arena, typed only when it is taken,
/// or an event made whole when it happened (dump ends, overruns, failures, a datagram that
/// could not be split). A message is a few words, not a copy of its bytes.
#[derive(Debug)]
pub(crate) enum Item {
    /// A message in the arena.
    Message(Span),
    /// An event that is whole already.
    Owned(Box<StreamEvent>),
}

/// Where a queued message is: `at..at + len` of the arena, read from `token`'s socket (with
/// the source's `nsid`, from an all-nsid target).
// Not `Copy`: a message taken from the queue by value is then moved out of its item, which
// leaves nothing to drop (a copy left the item whole, dropped by a call per event).
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub(super) at: u32,
    pub(super) len: u32,
    pub(super) token: Token,
    pub(super) nsid: Option<i32>,
}

/// Where datagrams are read: each after the last one still referred to by a queued
/// [`Item::Message`] or by an event the caller took in this call (see
/// [`StreamState::call_starts`]).
pub(super) struct Arena {
    bytes: Box<[u8]>,
    /// How much of it is referred to.
    used: usize,
}

impl Arena {
    pub(super) fn new() -> Self {
        Arena {
            bytes: vec![0; ARENA].into_boxed_slice(),
            used: 0,
        }
    }

    /// Whether there is room for another datagram of any size.
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        self.bytes.len() - self.used >= EVENT_BUFFER
    }

    /// Where the next datagram is read: the rest of the arena, and its offset.
    #[inline]
    pub(super) fn tail(&mut self) -> (&mut [u8], usize) {
        (&mut self.bytes[self.used..], self.used)
    }

    /// Keeps `len` more bytes (what the datagram just read at the tail's start refers to).
    #[inline]
    pub(super) fn keep(&mut self, len: usize) {
        self.used += len;
    }

    /// The bytes of the message at `span`.
    pub(super) fn at(&self, span: &Span) -> &[u8] {
        &self.bytes[span.at as usize..(span.at + span.len) as usize]
    }
}

impl StreamState {
    /// Whether the arena has room for another datagram of any size.
    pub(super) fn has_room(&self) -> bool {
        self.arena.has_room()
    }

    /// A new call of the caller's begins: what the previous one gave is no longer valid, so
    /// the arena is reused from its start, unless queued messages still refer to it.
    pub(crate) fn call_starts(&mut self, queued: &VecDeque<Item>) {
        if !queued.iter().any(|i| matches!(i, Item::Message(_))) {
            self.arena.used = 0;
        }
    }

    /// The key the message at `span` carries: its target's (from an all-nsid target, the key
    /// the caller added the source namespace under, if it did). `None` only for a target gone,
    /// which [`own_queued`](Self::own_queued) makes sure no queued message refers to.
    pub(super) fn key_of(&self, span: &Span) -> Option<&Arc<str>> {
        Some(self.targets.get(span.token)?.key_for(span.nsid))
    }

    /// The event `item` stands for, whole: its message typed, its bytes and key copied.
    fn owned(&self, item: Item) -> StreamEvent {
        match item {
            Item::Owned(event) => *event,
            message => self.view(&message).to_event(),
        }
    }

    /// The bytes of the message at `span`.
    pub(super) fn bytes_at(&self, span: &Span) -> &[u8] {
        self.arena.at(span)
    }

    /// Makes the queued messages of `token` whole, before its target goes: events already
    /// queued are still delivered, with the key they had.
    pub(super) fn own_queued(&self, token: Token, queue: &mut VecDeque<Item>) {
        for item in queue.iter_mut() {
            if let Item::Message(span) = &*item {
                if span.token == token {
                    *item = Item::Owned(Box::new(self.owned(Item::Message(span.clone()))));
                }
            }
        }
    }
}

/// The typed message in `raw` (one whole message, checked when it was read), or why not (the
/// reason of its unparsed event).
pub(crate) fn typed(raw: &[u8]) -> std::result::Result<Rtnl, String> {
    typed_message(crate::netlink::message::whole(raw).as_ref())
}

/// [`typed`] for a message whose header was read again already (`None`: it could not be).
pub(crate) fn typed_message(msg: Option<&Message<'_>>) -> std::result::Result<Rtnl, String> {
    // Checked when the datagram was split: the `None` is not reached.
    let Some(msg) = msg else {
        return Err("a message that cannot be read again".into());
    };
    match rtnl::parse_message(msg) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(format!("message type {} is not one nsmon types", msg.kind)),
        Err(e) => Err(e.to_string()),
    }
}

/// Where a pump of one target may put what it reads: the arena's offset it reads at, and the
/// token its items carry.
#[derive(Clone, Copy)]
pub(super) struct Room {
    pub(super) token: Token,
    pub(super) at: usize,
}

/// How far a target's turn may go: how many datagrams it may read, and how many items the
/// queue may hold when it stops.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    pub(super) datagrams: usize,
    pub(super) queued: usize,
}

/// What a target's turn did.
pub(super) struct Turn {
    /// How many reads it made (an empty one included).
    pub(super) read: usize,
    /// Whether its socket may still hold data.
    pub(super) more: bool,
}

/// What one read of a target's socket did.
pub(super) struct Read {
    /// Whether there was a datagram (so more may follow).
    pub(super) datagram: bool,
    /// How many bytes of the arena its queued messages refer to (0 when none did).
    pub(super) kept: usize,
}

impl Stream {
    /// Returns the next event without blocking, or `Ok(None)` when there is none now.
    ///
    /// After `Ok(None)` the fd is not readable until something new happens.
    // Not an Iterator: `None` means "nothing now", not "finished", and errors are separate.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<StreamEvent>> {
        let item = self.next_item()?;
        Ok(item.map(|item| self.core.pump.owned(item)))
    }

    /// Calls `callback` with each event that is ready now, until none is left or the callback
    /// returns `false`; never blocks. Returns the number of events delivered.
    pub fn dispatch(&mut self, mut callback: impl FnMut(StreamEvent) -> bool) -> Result<usize> {
        self.dispatch_items(|state, item| callback(state.owned(item)))
    }

    /// Appends up to `max` events that are ready now to `out`, without blocking, and returns
    /// how many (0: none now, and the fd is not readable until something happens). One call
    /// costs the readiness bookkeeping once for the whole batch. A failure met after some
    /// events were taken is returned by the next call instead, so that they are not lost with
    /// it.
    pub fn next_batch(&mut self, out: &mut Vec<StreamEvent>, max: usize) -> Result<usize> {
        let mut items = Vec::with_capacity(max.min(64));
        let taken = self.next_items(&mut items, max)?;
        out.extend(items.into_iter().map(|item| self.core.pump.owned(item)));
        Ok(taken)
    }

    /// [`next`](Self::next) without a copy: the event borrows the stream (its key, and a
    /// message's bytes where they were read; [`MessageRef::typed`] parses them when asked),
    /// until the stream's next call. Nothing is allocated or copied per event.
    pub fn next_ref(&mut self) -> Result<Option<StreamEventRef<'_>>> {
        let Some(item) = self.next_item()? else {
            return Ok(None);
        };
        self.taken.push(item);
        Ok(self.taken.last().map(|item| self.core.pump.view(item)))
    }

    /// [`next_batch`](Self::next_batch) without a copy: up to `max` events that are ready now,
    /// borrowed from the stream until its next call (as [`next_ref`](Self::next_ref)'s). An
    /// empty batch: none now, and the fd is not readable until something happens.
    pub fn next_batch_ref(&mut self, max: usize) -> Result<EventBatch<'_>> {
        let mut taken = std::mem::take(&mut self.taken);
        taken.clear(); // the previous call's, which this call ends
        let result = self.next_items(&mut taken, max);
        self.taken = taken;
        result?;
        Ok(EventBatch::new(&self.core.pump, &self.taken))
    }

    /// [`dispatch`](Self::dispatch) without a copy: each event borrowed from the stream for
    /// the length of its callback.
    pub fn dispatch_ref(
        &mut self,
        mut callback: impl FnMut(StreamEventRef<'_>) -> bool,
    ) -> Result<usize> {
        self.dispatch_items(|state, item| callback(state.view(&item)))
    }

    /// Blocks until [`next`](Self::next) has an event (`Ok(true)`) or `timeout` passes
    /// (`Ok(false)`); `None` waits without limit. A signal that interrupts the wait is
    /// returned as an error for which [`Error::is_interrupted`](crate::Error::is_interrupted)
    /// is true.
    pub fn wait(&mut self, timeout: Option<std::time::Duration>) -> Result<bool> {
        self.begin_call();
        self.core.wait(timeout)
    }

    /// The stream's pollable fd: readable whenever [`next`](Self::next) has an event.
    ///
    /// Borrowed from the stream: do not close it. Put it in your own epoll/poll loop and call
    /// `next` after each wake-up. Level-triggered, take as many events per wake-up as you
    /// like (the fd stays readable while more are left); edge-triggered (`EPOLLET`), call
    /// `next` until it returns `Ok(None)`, as with any non-blocking fd.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.core.raw_fd()
    }

    /// A caller's call begins: the arena's messages of the previous call may be overwritten.
    fn begin_call(&mut self) {
        self.taken.clear();
        let (state, queue) = self.core.pump_and_queue();
        state.call_starts(queue);
    }

    /// The next item, without making it whole (the C ABI fills its event from the arena).
    pub(crate) fn next_item(&mut self) -> Result<Option<Item>> {
        self.begin_call();
        self.core.next()
    }

    /// Up to `max` items; they, and the arena bytes they refer to, stay valid until the next
    /// call.
    pub(crate) fn next_items(&mut self, out: &mut Vec<Item>, max: usize) -> Result<usize> {
        self.begin_call();
        self.core.next_batch(out, max)
    }

    /// Up to `max` items, each handed to `take` with the state that can read it; the arena
    /// bytes they refer to stay valid until the next call (the items themselves are `take`'s
    /// to keep).
    pub(crate) fn next_items_with(
        &mut self,
        max: usize,
        take: impl FnMut(&StreamState, Item),
    ) -> Result<usize> {
        self.begin_call();
        self.core.next_batch_with(max, take)
    }

    /// Each ready item with the state that can read it, as [`dispatch`](Self::dispatch).
    pub(crate) fn dispatch_items(
        &mut self,
        callback: impl FnMut(&StreamState, Item) -> bool,
    ) -> Result<usize> {
        self.begin_call();
        self.core.dispatch_with_pump(callback)
    }

    /// The state that reads items (keys, the arena).
    pub(crate) fn state(&self) -> &StreamState {
        &self.core.pump
    }
}

handle_sources!(Stream);
