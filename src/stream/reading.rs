//! How the caller takes events: datagrams are read into an arena, each message queued as its
//! place there ([`Item`]) and typed only when it is taken, so that nothing is copied per event
//! for a reader that does not ask for a copy (the C ABI fills its event straight from the
//! arena); the stream's `next`, `dispatch`, `next_batch` and `wait`.

// The stream's own names (its state, events, targets) and what it imports.
use super::*;

/// The arena datagrams are read into: room for one datagram of the largest size nsmon reads
/// ([`EVENT_BUFFER`]) at any offset up to as much again. Pages are touched only as datagrams
/// land in them, so what a quiet stream holds is what it has read, not this.
pub(super) const ARENA: usize = 2 * EVENT_BUFFER;

/// What the stream's core queues: a message still in the arena, typed only when it is taken,
/// or an event made whole when it happened (dump ends, overruns, failures, a datagram that
/// could not be split). A message is a few words, not a copy of its bytes.
pub(crate) enum Item {
    /// A message in the arena.
    Message(Span),
    /// An event that is whole already.
    Owned(Box<StreamEvent>),
}

/// Where a queued message is: `at..at + len` of the arena, read from `token`'s socket (with
/// the source's `nsid`, from an all-nsid target).
#[derive(Clone, Copy)]
pub(crate) struct Span {
    pub(super) at: u32,
    pub(super) len: u32,
    pub(super) token: Token,
    pub(super) nsid: Option<i32>,
}

impl StreamState {
    /// Whether the arena has room for another datagram of any size.
    pub(super) fn has_room(&self) -> bool {
        self.arena.len() - self.used >= EVENT_BUFFER
    }

    /// A new call of the caller's begins: what the previous one gave is no longer valid, so
    /// the arena is reused from its start, unless queued messages still refer to it.
    pub(crate) fn call_starts(&mut self, queued: &VecDeque<Item>) {
        if !queued.iter().any(|i| matches!(i, Item::Message(_))) {
            self.used = 0;
        }
    }

    /// The key the message at `span` carries: its target's (from an all-nsid target, the key
    /// the caller added the source namespace under, if it did). `None` only for a target gone,
    /// which [`own_queued`](Self::own_queued) makes sure no queued message refers to.
    fn key_of(&self, span: &Span) -> Option<&Arc<str>> {
        Some(self.targets.get(&span.token)?.key_for(span.nsid))
    }

    /// What `item` holds, borrowed from the stream: a message's key and bytes, or an event
    /// that is whole.
    pub(crate) fn view<'a>(&'a self, item: &'a Item) -> ItemView<'a> {
        match item {
            Item::Owned(event) => ItemView::Whole(event),
            Item::Message(span) => ItemView::Message {
                key: self.key_of(span).map_or("", |k| k),
                nsid: span.nsid,
                raw: self.bytes_at(*span),
            },
        }
    }

    /// The event `item` stands for, whole: its message typed, its bytes and key copied.
    fn owned(&self, item: Item) -> StreamEvent {
        match item {
            Item::Owned(event) => *event,
            Item::Message(span) => {
                let key = self.key_of(&span).cloned().unwrap_or_else(|| "".into());
                let raw = self.bytes_at(span);
                let nsid = span.nsid;
                match typed(raw) {
                    Ok(message) => StreamEvent::Message {
                        key,
                        nsid,
                        message,
                        raw: raw.into(),
                    },
                    Err(reason) => StreamEvent::Unparsed {
                        key,
                        nsid,
                        reason,
                        raw: raw.into(),
                    },
                }
            }
        }
    }

    /// The bytes of the message at `span`.
    fn bytes_at(&self, span: Span) -> &[u8] {
        &self.arena[span.at as usize..(span.at + span.len) as usize]
    }

    /// Makes the queued messages of `token` whole, before its target goes: events already
    /// queued are still delivered, with the key they had.
    pub(super) fn own_queued(&self, token: Token, queue: &mut VecDeque<Item>) {
        for item in queue.iter_mut() {
            if let Item::Message(span) = *item {
                if span.token == token {
                    *item = Item::Owned(Box::new(self.owned(Item::Message(span))));
                }
            }
        }
    }
}

/// The typed message in `raw` (one whole message, checked when it was read), or why not (the
/// reason of its unparsed event).
pub(crate) fn typed(raw: &[u8]) -> std::result::Result<Rtnl, String> {
    // Checked when the datagram was split: the `None` is not reached.
    let Some(msg) = crate::netlink::message::whole(raw) else {
        return Err("a message that cannot be read again".into());
    };
    match rtnl::parse_message(&msg) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(format!("message type {} is not one nsmon types", msg.kind)),
        Err(e) => Err(e.to_string()),
    }
}

/// An [`Item`] as the stream reads it, borrowing the stream until the caller's next call.
pub(crate) enum ItemView<'a> {
    /// A message, to be typed with [`typed`] (an unparsed event if it cannot be).
    Message {
        key: &'a str,
        nsid: Option<i32>,
        raw: &'a [u8],
    },
    /// An event that was whole already.
    Whole(&'a StreamEvent),
}

/// Where a pump of one target may put what it reads: the arena's offset it reads at, and the
/// token its items carry.
#[derive(Clone, Copy)]
pub(super) struct Room {
    pub(super) token: Token,
    pub(super) at: usize,
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
