//! Reading the stream from C: `_next`, `_next_batch` and `_dispatch` take the stream's queued
//! items and fill each C event straight from the stream's arena (the key and the message's
//! bytes are pointed to, not copied). What a call returns stays valid until the next call.

use std::ffi::{c_int, c_void};
use std::time::Duration;

use super::convert::fill;
use super::{nsmon_stream, nsmon_stream_callback, nsmon_stream_event};
use crate::ffi::args::{borrow, Out};
use crate::ffi::handle_cell::{finish_call, CHandle, Scratch};
use crate::ffi::{guard, Failure};
use crate::handle::HandleOps;
use crate::stream::{Item, StreamState};
use crate::Stream;

/// The stream C holds, with what its last call returned.
pub(crate) struct CStream {
    pub(super) stream: Stream,
    /// The items the last call returned: the boxed events and arena bytes their C events
    /// point to.
    items: Vec<Item>,
    /// One per item of a batch: the text and arrays its C event points to.
    scratches: Vec<Scratch>,
}

impl CStream {
    pub(super) fn new(stream: Stream) -> Self {
        CStream {
            stream,
            items: Vec::new(),
            scratches: Vec::new(),
        }
    }
}

/// Fills `*slot` from `item`, as the stream handed it over. A message's C event points into
/// the stream's arena and its target's key, which outlive the item; a whole event, which the C
/// event points into, is kept in `kept` (until the next call).
///
/// # Safety
/// `slot` is writable for one event.
#[inline]
unsafe fn fill_taken(
    state: &StreamState,
    item: Item,
    kept: &mut Vec<Item>,
    scratch: &mut Scratch,
    slot: *mut nsmon_stream_event,
) {
    match item {
        // SAFETY: `slot` is writable for one event (this function's contract).
        Item::Message(span) => unsafe { fill(state.message(&span), scratch, slot) },
        item @ Item::Owned(_) => {
            kept.push(item);
            let item = &kept[kept.len() - 1];
            // SAFETY: as above.
            unsafe { fill(state.view(item), scratch, slot) };
        }
    }
}

/// The generic exports (`_fd`, `_wait`, `_free`) need the contract; the reading ones above
/// are the stream's own.
impl HandleOps for CStream {
    type Event = Item;
    fn next_event(&mut self) -> crate::Result<Option<Item>> {
        self.stream.next_item()
    }
    fn dispatch_events(&mut self, callback: &mut dyn FnMut(Item) -> bool) -> crate::Result<usize> {
        self.stream.dispatch_items(|_, item| callback(item))
    }
    fn wait_event(&mut self, timeout: Option<Duration>) -> crate::Result<bool> {
        self.stream.wait(timeout)
    }
}

/// `nsmon_stream_next`.
///
/// # Safety
/// `ptr` is NULL or a live stream; `out` is NULL or writable for one event.
pub(super) unsafe fn next(ptr: *mut nsmon_stream, out: *mut nsmon_stream_event) -> c_int {
    guard(|| {
        // SAFETY: `ptr` is NULL or live and `out` NULL or writable for one event, as this
        // function's caller promises.
        let (handle, out) = unsafe { (borrow(ptr, "stream")?, Out::new(out, "event")?) };
        handle.cell().enter(|c| {
            c.items.clear();
            let Some(item) = c.stream.next_item()? else {
                return Ok(0);
            };
            if c.scratches.is_empty() {
                c.scratches.push(Scratch::default());
            }
            // SAFETY: `out` is writable for one event.
            unsafe {
                fill_taken(
                    c.stream.state(),
                    item,
                    &mut c.items,
                    &mut c.scratches[0],
                    out.as_ptr(),
                )
            };
            Ok(1)
        })
    })
}

/// `nsmon_stream_next_batch`.
///
/// # Safety
/// `ptr` is NULL or a live stream; `out` is NULL or writable for `capacity` events.
pub(super) unsafe fn next_batch(
    ptr: *mut nsmon_stream,
    out: *mut nsmon_stream_event,
    capacity: usize,
) -> c_int {
    guard(|| {
        // SAFETY: `ptr` is NULL or live, as this function's caller promises.
        let handle = unsafe { borrow(ptr, "stream") }?;
        if capacity == 0 {
            return Ok(0); // nothing asked for: `out` may be NULL
        }
        // SAFETY: `out` is NULL or writable for `capacity` events, as promised.
        let out = unsafe { Out::new(out, "events") }?;
        // At most what the return value can count.
        let capacity = capacity.min(c_int::MAX as usize);
        handle.cell().enter(|c| {
            c.items.clear();
            let CStream {
                stream,
                items,
                scratches,
            } = c;
            let out = out.as_ptr();
            let mut filled = 0;
            // Each event filled as it is taken (`fill_taken` keeps what must be kept).
            let taken = stream.next_items_with(capacity, |state, item| {
                // Grown as needed: a scratch moves when the vector does, but the C events
                // point only into what scratches own on the heap (text, arrays, a link's names).
                if scratches.len() <= filled {
                    scratches.push(Scratch::default());
                }
                // SAFETY: the stream hands out at most `capacity` items, so `filled` <
                // `capacity`, for which `out` is writable.
                unsafe {
                    let slot = out.add(filled);
                    fill_taken(state, item, items, &mut scratches[filled], slot);
                }
                filled += 1;
            })?;
            Ok(c_int::try_from(taken).unwrap_or(c_int::MAX))
        })
    })
}

/// `nsmon_stream_dispatch`: each event valid during its callback; completes a free requested
/// from inside the callback.
///
/// # Safety
/// `ptr` is NULL or a live stream; `callback` is NULL or safe to call with `userdata`.
pub(super) unsafe fn dispatch(
    ptr: *mut nsmon_stream,
    callback: nsmon_stream_callback,
    userdata: *mut c_void,
) -> c_int {
    let rc = guard(|| {
        // SAFETY: `ptr` is NULL or live, as this function's caller promises.
        let handle = unsafe { borrow(ptr, "stream") }?;
        let callback = callback.ok_or(Failure::Null("callback"))?;
        handle.cell().enter(|c| {
            c.items.clear();
            // One scratch serves every callback (each event is valid during its own only).
            if c.scratches.is_empty() {
                c.scratches.push(Scratch::default());
            }
            let scratch = &mut c.scratches[0];
            let delivered = c.stream.dispatch_items(|state, item| {
                let mut event = std::mem::MaybeUninit::<nsmon_stream_event>::uninit();
                // SAFETY: `event` is writable for one event; `fill` initialises it whole.
                let event = unsafe {
                    fill(state.view(&item), scratch, event.as_mut_ptr());
                    event.assume_init()
                };
                // SAFETY: the caller vouches for the callback; `event`, the item and the
                // scratch it points into outlive the call.
                let stop = unsafe { callback(userdata, &event) } != 0;
                !stop && !handle.cell().free_requested()
            })?;
            Ok(c_int::try_from(delivered).unwrap_or(c_int::MAX))
        })
    });
    // SAFETY: the call on the stream has ended; frees it if the callback asked to.
    unsafe { finish_call(ptr) };
    rc
}
