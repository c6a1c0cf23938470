//! Exclusive, re-entry-checked access to a handle owned by C.
//!
//! C may call back into a handle from inside that handle's own callback. A Rust `&mut` to the
//! handle is alive during the callback, so handing out another would be undefined behaviour.
//! The cell refuses re-entry with `-EBUSY`, except `_free`, which is deferred until the
//! outer call returns.

use std::cell::{Cell, UnsafeCell};

use super::Failure;

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

/// An opaque C handle type that wraps a [`HandleCell`].
pub(crate) trait CHandle: Sized {
    type Inner;
    fn cell(&self) -> &HandleCell<Self::Inner>;
}

/// Frees a boxed handle, or defers it if a call on it is in progress (a callback freeing its own
/// handle); [`finish_call`] completes a deferred free.
///
/// # Safety
/// `ptr` is NULL or came from `Box::into_raw` and was not freed yet.
pub(crate) unsafe fn free_handle<H: CHandle>(ptr: *mut H) {
    // SAFETY: per the contract, a non-NULL `ptr` points to a live handle.
    let Some(handle) = (unsafe { ptr.as_ref() }) else {
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
    // SAFETY: per the contract.
    let Some(handle) = (unsafe { ptr.as_ref() }) else {
        return;
    };
    let cell = handle.cell();
    if cell.free_requested.get() && !cell.busy.get() {
        // SAFETY: not busy, so nothing borrows the handle; it came from a Box.
        drop(unsafe { Box::from_raw(ptr) });
    }
}
