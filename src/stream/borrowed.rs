//! Events borrowed from the stream: what [`Stream::next_ref`], [`Stream::next_batch_ref`] and
//! [`Stream::dispatch_ref`] hand out. A message event is its key and bytes where the stream
//! read them, typed only when asked, so that taking one copies and allocates nothing; the
//! borrow checker keeps it from outliving the stream's next call, which may overwrite it.
//!
//! ```no_run
//! # fn main() -> nsmon::Result<()> {
//! use nsmon::{NetnsRef, Stream, StreamEventRef, StreamOptions};
//! let mut stream = Stream::new()?;
//! stream.add("blue", NetnsRef::Name("blue"), StreamOptions::new())?;
//! while stream.wait(None)? {
//!     for event in stream.next_batch_ref(64)?.iter() {
//!         match event {
//!             // RTM_NEWROUTE, from the header alone; `m.typed()` parses the rest.
//!             StreamEventRef::Message(m) if m.message_type() == 24 => println!("route in {}", m.key()),
//!             StreamEventRef::Message(_) => {}
//!             StreamEventRef::Other(other) => println!("{other:?}"),
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! An event does not outlive the next call:
//!
//! ```compile_fail,E0499
//! # fn main() -> nsmon::Result<()> {
//! let mut stream = nsmon::Stream::new()?;
//! let first = stream.next_ref()?;
//! let second = stream.next_ref()?; // error: `stream` is still borrowed by `first`
//! println!("{first:?} {second:?}");
//! # Ok(())
//! # }
//! ```
//!
//! [`Stream::next_ref`]: super::Stream::next_ref
//! [`Stream::next_batch_ref`]: super::Stream::next_batch_ref
//! [`Stream::dispatch_ref`]: super::Stream::dispatch_ref

use std::sync::Arc;

use super::reading::{typed, Item, Span};
use super::{StreamEvent, StreamState};
use crate::error::{Error, Result};
use crate::netlink::layout::{Header, NlMsgHdr};
use crate::rtnl::Rtnl;

/// An event borrowed from its [`Stream`](super::Stream), valid until the stream's next call.
/// [`to_event`](Self::to_event) makes the [`StreamEvent`] that `next` would have returned (an
/// owned copy, made only when asked; not `to_owned`, which the type's `Clone` already names).
#[derive(Debug, Clone, Copy)]
pub enum StreamEventRef<'a> {
    /// An rtnetlink message (an object changed or, during a dump, exists), not typed yet.
    Message(MessageRef<'a>),
    /// Any other event (dump ends, overruns, failures, a datagram that could not be split into
    /// messages), whole since it happened.
    Other(&'a StreamEvent),
}

/// A message event as the kernel sent it, borrowed from the stream's receive buffer: its bytes
/// were checked to be one whole message when they were read; [`typed`](Self::typed) parses them.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    key: Option<&'a Arc<str>>,
    nsid: Option<i32>,
    raw: &'a [u8],
}

impl<'a> MessageRef<'a> {
    /// The namespace's key (as [`StreamEvent::Message`]'s).
    pub fn key(&self) -> &'a str {
        self.key.map_or("", |k| k)
    }

    /// From an all-nsid target: the source namespace's id in the observer's namespace (as
    /// [`StreamEvent::Message`]'s).
    pub fn nsid(&self) -> Option<i32> {
        self.nsid
    }

    /// The message's bytes, header included, as the kernel sent them.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message's type (`nlmsg_type`: `RTM_NEWROUTE` is 24, ...), read from its header
    /// without parsing the rest.
    pub fn message_type(&self) -> u16 {
        NlMsgHdr::parse(self.raw).map_or(0, |h| h.kind)
    }

    /// The typed message: `Ok(None)` for a type nsmon does not type (e.g. a tc chain), an
    /// error ([`Error::Protocol`]) for one the parser refuses. Where `next` would have returned
    /// [`StreamEvent::Unparsed`], this is not `Ok(Some(_))`.
    pub fn typed(&self) -> Result<Option<Rtnl>> {
        let Some(msg) = crate::netlink::message::whole(self.raw) else {
            return Err(Error::Protocol(
                "a message that cannot be read again".into(),
            ));
        };
        crate::rtnl::parse_message(&msg)
    }

    /// The event [`Stream::next`](super::Stream::next) would have returned: typed (or
    /// unparsed, with the reason), its bytes and key copied.
    pub fn to_event(&self) -> StreamEvent {
        let key = self.key.cloned().unwrap_or_else(|| "".into());
        let raw = self.raw.into();
        let nsid = self.nsid;
        match typed(self.raw) {
            Ok(message) => StreamEvent::Message {
                key,
                nsid,
                message,
                raw,
            },
            Err(reason) => StreamEvent::Unparsed {
                key,
                nsid,
                reason,
                raw,
            },
        }
    }
}

impl<'a> StreamEventRef<'a> {
    /// The namespace's key, as every event carries one.
    pub fn key(&self) -> &'a str {
        match self {
            StreamEventRef::Message(m) => m.key(),
            StreamEventRef::Other(event) => event.key(),
        }
    }

    /// The event as [`Stream::next`](super::Stream::next) would have returned it, owned.
    pub fn to_event(&self) -> StreamEvent {
        match self {
            StreamEventRef::Message(m) => m.to_event(),
            StreamEventRef::Other(event) => (*event).clone(),
        }
    }
}

/// The events one [`Stream::next_batch_ref`](super::Stream::next_batch_ref) took, borrowed
/// from the stream until its next call.
#[derive(Clone, Copy)]
pub struct EventBatch<'a> {
    state: &'a StreamState,
    items: &'a [Item],
}

impl<'a> EventBatch<'a> {
    pub(super) fn new(state: &'a StreamState, items: &'a [Item]) -> Self {
        EventBatch { state, items }
    }

    /// How many events the batch holds (0: none was ready).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none was ready.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The events, in the order they happened.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = StreamEventRef<'a>> + 'a {
        let state = self.state;
        self.items.iter().map(move |item| state.view(item))
    }
}

impl std::fmt::Debug for EventBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl StreamState {
    /// What `item` holds, borrowed from the stream: a message's key and bytes, or an event
    /// that is whole.
    pub(crate) fn view<'a>(&'a self, item: &'a Item) -> StreamEventRef<'a> {
        match item {
            Item::Owned(event) => StreamEventRef::Other(event),
            Item::Message(span) => self.message(span),
        }
    }

    /// The message at `span`, borrowed from the stream (its key and bytes).
    #[inline]
    pub(crate) fn message<'a>(&'a self, span: &Span) -> StreamEventRef<'a> {
        StreamEventRef::Message(MessageRef {
            key: self.key_of(span),
            nsid: span.nsid,
            raw: self.bytes_at(span),
        })
    }
}
