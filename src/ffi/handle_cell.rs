//! Exclusive, re-entry-checked access to a handle owned by C.
//!
//! C may call back into a handle from inside that handle's own callback. A Rust `&mut` to the
//! handle is alive during the callback, so handing out another would be undefined behaviour.
//! The cell refuses re-entry with `-EBUSY`, except `_free`, which is deferred until the
//! outer call returns.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::time::Duration;

use super::args::{borrow, give, Out};
use super::{guard, guard_void, Failure};
use crate::handle::HandleOps;

pub(crate) struct HandleCell<T> {
    value: UnsafeCell<T>,
    busy: Cell<bool>,
    poisoned: Cell<bool>,
    free_requested: Cell<bool>,
}

/// Clears the busy flag when a call ends, and poisons the handle if it ended in a panic.
struct Exit<'a, T>(&'a HandleCell<T>);

impl<T> Drop for Exit<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.set(true);
        }
        self.0.busy.set(false);
    }
}

impl<T> HandleCell<T> {
    pub(crate) fn new(value: T) -> Self {
        HandleCell {
            value: UnsafeCell::new(value),
            busy: Cell::new(false),
            poisoned: Cell::new(false),
            free_requested: Cell::new(false),
        }
    }

    /// Runs `f` with exclusive access to the value.
    pub(crate) fn enter<R>(
        &self,
        f: impl FnOnce(&mut T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        if self.poisoned.get() {
            return Err(Failure::Poisoned);
        }
        if self.busy.get() {
            return Err(Failure::Busy);
        }
        self.busy.set(true);
        let _exit = Exit(self);
        // SAFETY: `busy` was false, so no other reference to the value exists; the cell is not
        // `Sync`, and the C contract forbids concurrent use from two threads.
        f(unsafe { &mut *self.value.get() })
    }

    /// Whether `_free` was called from inside a callback and waits for the call to end.
    pub(crate) fn free_requested(&self) -> bool {
        self.free_requested.get()
    }
}

/// An opaque C handle type that wraps a [`HandleCell`] around a Rust handle.
pub(crate) trait CHandle: Sized {
    type Inner: HandleOps;
    /// The parameter name used in NULL errors.
    const NAME: &'static str;
    fn cell(&self) -> &HandleCell<Self::Inner>;
    fn raw_fd(&self) -> c_int;
    /// The C handle around `inner`, whose pollable fd is `fd`.
    fn wrap(inner: Self::Inner, fd: c_int) -> Self;
}

/// The end of every `_new`: the handle around `inner` is given to C through `out`.
pub(crate) fn publish<H: CHandle>(
    out: Out<'_, *mut H>,
    inner: H::Inner,
    fd: c_int,
) -> Result<c_int, Failure> {
    give(out, H::wrap(inner, fd));
    Ok(0)
}

/// What a C event's pointers may point into besides the Rust event itself: text made for C
/// (NUL-terminated) and arrays of byte strings. Kept by the handle until the next call (for
/// `_next`), or by `_dispatch` during each callback.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) text: Option<std::ffi::CString>,
    /// A path (a watcher event's folder).
    pub(crate) path: Option<std::ffi::CString>,
    pub(crate) names: Vec<super::stream::nsmon_bytes>,
    /// Numbers laid out for C (an inventory event's fd pairs).
    pub(crate) numbers: Vec<u32>,
    /// A stream message typed for its C event that the event points into (a link's
    /// alternative names).
    pub(crate) message: Option<crate::rtnl::Rtnl>,
}

impl Scratch {
    /// The text as a C pointer (NULL when there is none).
    pub(crate) fn text_ptr(&self) -> *const std::ffi::c_char {
        self.text.as_ref().map_or(std::ptr::null(), |t| t.as_ptr())
    }
}

/// Publishes the C handle struct `$handle` (fields `cell: HandleCell<Kept<$inner>>` and
/// `fd: c_int`) as a [`CHandle`] named `$name` in NULL errors; with `inner T`, a handle whose
/// cell holds `T` itself (the stream, which reads its events its own way).
macro_rules! c_handle {
    ($handle:ident, $inner:ty, $name:literal) => {
        $crate::ffi::handle_cell::c_handle!($handle, inner $crate::ffi::handle_cell::Kept<$inner>, $name);
    };
    ($handle:ident, inner $inner:ty, $name:literal) => {
        impl $crate::ffi::handle_cell::CHandle for $handle {
            type Inner = $inner;
            const NAME: &'static str = $name;
            fn cell(&self) -> &$crate::ffi::handle_cell::HandleCell<Self::Inner> {
                &self.cell
            }
            fn raw_fd(&self) -> std::ffi::c_int {
                self.fd
            }
            fn wrap(inner: Self::Inner, fd: std::ffi::c_int) -> Self {
                $handle {
                    cell: $crate::ffi::handle_cell::HandleCell::new(inner),
                    fd,
                }
            }
        }
    };
}
pub(crate) use c_handle;

/// [`KeptEvents`] for a handle whose C event is built whole by `$build(event, scratch)`.
macro_rules! kept_events {
    ($handle:ident, $inner:ty, $cevent:ty, $build:path) => {
        impl $crate::ffi::handle_cell::KeptEvents for $handle {
            type Handle = $inner;
            type CEvent = $cevent;
            unsafe fn fill(
                event: &<$inner as $crate::handle::HandleOps>::Event,
                scratch: &mut $crate::ffi::handle_cell::Scratch,
                out: *mut $cevent,
            ) {
                // SAFETY: `fill`'s contract: `out` is writable for one event.
                unsafe { out.write($build(event, scratch)) };
            }
        }
    };
}
pub(crate) use kept_events;

/// A Rust handle with the last event `_next` returned and its scratch, which the C event points
/// into until the next call.
pub(crate) struct Kept<H: HandleOps> {
    pub(crate) handle: H,
    last: Option<H::Event>,
    scratch: Scratch,
}

impl<H: HandleOps> Kept<H> {
    pub(crate) fn new(handle: H) -> Self {
        Kept {
            handle,
            last: None,
            scratch: Scratch::default(),
        }
    }
}

impl<H: HandleOps> HandleOps for Kept<H> {
    type Event = H::Event;
    fn next_event(&mut self) -> crate::Result<Option<H::Event>> {
        self.handle.next_event()
    }
    fn dispatch_events(
        &mut self,
        callback: &mut dyn FnMut(H::Event) -> bool,
    ) -> crate::Result<usize> {
        self.handle.dispatch_events(callback)
    }
    fn wait_event(&mut self, timeout: Option<Duration>) -> crate::Result<bool> {
        self.handle.wait_event(timeout)
    }
}

/// A handle's C events: plain data, or pointing into the Rust event (bytes, keys) or its
/// scratch, so that nothing is copied or allocated per event that the caller may not need.
pub(crate) trait KeptEvents: CHandle<Inner = Kept<Self::Handle>> {
    type Handle: HandleOps;
    /// The C event struct.
    type CEvent;
    /// Writes the C form of `event` into `out` (which may be uninitialised); its pointers point
    /// into `event` and `scratch`, which must outlive the C event's use.
    ///
    /// # Safety
    /// `out` is valid for writing one event.
    unsafe fn fill(
        event: &<Self::Handle as HandleOps>::Event,
        scratch: &mut Scratch,
        out: *mut Self::CEvent,
    );
}

/// `_next`: 1 and `*out` filled (valid until the next call on the handle),
/// 0 when nothing is ready, or a negative code.
///
/// # Safety
/// `ptr` is NULL or a live handle; `out` is NULL or writable for one event.
pub(crate) unsafe fn handle_next_kept<H: KeptEvents>(ptr: *mut H, out: *mut H::CEvent) -> c_int {
    guard(|| {
        // SAFETY: `ptr` is NULL or a live handle and `out` NULL or writable for one event, as
        // this function's caller promises.
        let (handle, out) = unsafe { (borrow(ptr, H::NAME)?, Out::new(out, "event")?) };
        handle.cell().enter(|inner| {
            inner.last = inner.handle.next_event()?;
            let Some(last) = inner.last.as_ref() else {
                return Ok(0);
            };
            // SAFETY: `out` was checked and is writable for one event (its contract).
            unsafe { H::fill(last, &mut inner.scratch, out.as_ptr()) };
            Ok(1)
        })
    })
}

/// `_dispatch`: the number of events delivered, or a negative code; each C event's pointers are
/// valid during its callback; completes a free requested from inside the callback.
///
/// # Safety
/// `ptr` is NULL or a live handle; `callback` is NULL or safe to call with `userdata`.
pub(crate) unsafe fn handle_dispatch_kept<H: KeptEvents>(
    ptr: *mut H,
    callback: Callback<H::CEvent>,
    userdata: *mut c_void,
) -> c_int {
    let rc = guard(|| {
        // SAFETY: `ptr` is NULL or a live handle, as this function's caller promises.
        let handle = unsafe { borrow(ptr, H::NAME) }?;
        let callback = callback.ok_or(Failure::Null("callback"))?;
        handle.cell().enter(|inner| {
            inner.last = None;
            let mut scratch = Scratch::default();
            let delivered = inner.handle.dispatch_events(&mut |event| {
                let mut c = std::mem::MaybeUninit::<H::CEvent>::uninit();
                // SAFETY: `c` is writable for one event; `fill` initialises it whole.
                let c = unsafe {
                    H::fill(&event, &mut scratch, c.as_mut_ptr());
                    c.assume_init()
                };
                // SAFETY: the caller vouches for the callback; `c`, `event` and `scratch`
                // outlive the call.
                let stop = unsafe { callback(userdata, &c) } != 0;
                !stop && !handle.cell().free_requested()
            })?;
            Ok(c_int::try_from(delivered).unwrap_or(c_int::MAX))
        })
    });
    // SAFETY: the call on the handle has ended; frees it if the callback asked to.
    unsafe { finish_call(ptr) };
    rc
}

/// A C callback for events of type `E`.
pub(crate) type Callback<E> = Option<unsafe extern "C" fn(*mut c_void, *const E) -> c_int>;

/// `_fd`: the handle's fd, readable even from inside its own callbacks.
///
/// # Safety
/// `ptr` is NULL or a live handle.
pub(crate) unsafe fn handle_fd<H: CHandle>(ptr: *const H) -> c_int {
    guard(|| {
        // SAFETY: `ptr` is NULL or a live handle, as this function's caller promises.
        let handle = unsafe { borrow(ptr, H::NAME) }?;
        Ok(handle.raw_fd())
    })
}

/// `_wait`: 1 when an event is ready, 0 on timeout (negative `timeout_ms`: no limit), or a
/// negative code (`-EINTR` on a signal).
///
/// # Safety
/// `ptr` is NULL or a live handle.
pub(crate) unsafe fn handle_wait<H: CHandle>(ptr: *mut H, timeout_ms: c_int) -> c_int {
    guard(|| {
        // SAFETY: `ptr` is NULL or a live handle, as this function's caller promises.
        let handle = unsafe { borrow(ptr, H::NAME) }?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        handle
            .cell()
            .enter(|inner| Ok(c_int::from(inner.wait_event(timeout)?)))
    })
}

/// `_free`: NULL-safe; deferred when called from inside the handle's own callback.
///
/// # Safety
/// `ptr` is NULL or a live handle, not used after this call.
pub(crate) unsafe fn handle_free<H: CHandle>(ptr: *mut H) {
    // SAFETY: `ptr` is NULL or a live boxed handle not used afterwards, as `free_handle` needs.
    guard_void(|| unsafe { free_handle(ptr) })
}

/// Frees a boxed handle, or defers it if a call on it is in progress (a callback freeing its own
/// handle); [`finish_call`] completes a deferred free.
///
/// # Safety
/// `ptr` is NULL or came from `Box::into_raw` and was not freed yet.
unsafe fn free_handle<H: CHandle>(ptr: *mut H) {
    // SAFETY: `ptr` is NULL or a live handle, as this function's caller promises.
    let Some(handle) = (unsafe { super::args::optional(ptr) }) else {
        return;
    };
    let cell = handle.cell();
    if cell.busy.get() {
        cell.free_requested.set(true);
        return;
    }
    // SAFETY: not busy, so no reference into the handle is alive; it came from a Box.
    drop(unsafe { Box::from_raw(ptr) });
}

/// Completes a free that a callback requested during the call that just ended.
///
/// # Safety
/// As for [`free_handle`]; call it after the call's `enter` has returned.
pub(crate) unsafe fn finish_call<H: CHandle>(ptr: *mut H) {
    // SAFETY: `ptr` is NULL or a live handle, as this function's caller promises.
    let Some(handle) = (unsafe { super::args::optional(ptr) }) else {
        return;
    };
    let cell = handle.cell();
    if cell.free_requested.get() && !cell.busy.get() {
        // SAFETY: not busy, so nothing borrows the handle; it came from a Box.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{NSMON_ERR_PANIC, NSMON_ERR_UTF8};
    use crate::ffi::guard;

    #[test]
    fn a_panic_inside_a_call_stays_on_the_rust_side_and_poisons_the_handle() {
        let cell = HandleCell::new(0u32);
        // A panic in the middle of a call (as if a callback's caller code had a bug): the
        // guard turns it into a code and a message, the handle refuses further use.
        let rc =
            guard(|| cell.enter(|_| -> Result<c_int, Failure> { panic!("forced for the test") }));
        assert_eq!(rc, NSMON_ERR_PANIC);
        // SAFETY: nsmon_last_error returns a NUL-terminated thread-local string.
        let text = unsafe { std::ffi::CStr::from_ptr(crate::ffi::error::nsmon_last_error()) };
        assert!(text.to_str().unwrap().contains("forced for the test"));
        assert_eq!(guard(|| cell.enter(|_| Ok(0))), NSMON_ERR_PANIC);
        assert!(
            !cell.busy.get(),
            "a panicking call must not leave the handle busy"
        );
    }

    #[test]
    fn a_call_from_inside_a_call_is_refused_and_the_outer_one_goes_on() {
        let cell = HandleCell::new(0u32);
        let rc = guard(|| {
            cell.enter(|v| {
                *v += 1;
                let inner = guard(|| cell.enter(|v| Ok(*v as c_int)));
                assert_eq!(inner, -libc::EBUSY);
                Ok(*v as c_int)
            })
        });
        assert_eq!(rc, 1);
        assert_eq!(guard(|| cell.enter(|v| Ok(*v as c_int))), 1);
        assert_eq!(
            guard(|| Err::<c_int, _>(Failure::Utf8("key"))),
            NSMON_ERR_UTF8
        );
    }
}
