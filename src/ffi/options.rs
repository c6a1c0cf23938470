//! The lifecycle every `nsmon_*_options` object shares: created with its defaults, updated one
//! setting at a time (a failed update leaves it as it was), freed once. Each handle's exports
//! are thin shells over these, so that the rules live in one place.

use std::ffi::c_int;

use super::args::{borrow_mut, give, optional, Out};
use super::{guard, guard_void, Failure};

/// An options object that wraps the Rust options it stands for.
pub(crate) trait OptionsObject {
    type Inner: Clone;
    fn wrap(inner: Self::Inner) -> Self;
    fn inner(&mut self) -> &mut Self::Inner;
    fn get(&self) -> &Self::Inner;
}

/// Implements [`OptionsObject`] for `$object`, a struct whose one field `inner` is `$inner`.
macro_rules! wraps_options {
    ($object:ident, $inner:ty) => {
        impl $crate::ffi::options::OptionsObject for $object {
            type Inner = $inner;
            fn wrap(inner: $inner) -> Self {
                $object { inner }
            }
            fn inner(&mut self) -> &mut $inner {
                &mut self.inner
            }
            fn get(&self) -> &$inner {
                &self.inner
            }
        }
    };
}
pub(crate) use wraps_options;

/// `_options_new`: writes a new options object with `defaults` to `*out`; 0, or
/// `NSMON_ERR_NULL` when `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
pub(crate) unsafe fn options_new<O: OptionsObject>(out: *mut *mut O, defaults: O::Inner) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one pointer, as this function's caller promises.
        give(unsafe { Out::new(out, "out") }?, O::wrap(defaults));
        Ok(0)
    })
}

/// `_options_free`: frees an options object; NULL is ignored.
///
/// # Safety
/// `options` is NULL or came from [`options_new`] (for the same type) and was not freed yet.
pub(crate) unsafe fn options_free<O>(options: *mut O) {
    guard_void(|| {
        if !options.is_null() {
            // SAFETY: it came from Box::into_raw in `options_new` and is freed once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// A setter: applies `f` to a copy of the options and keeps the result only if it succeeds.
/// 0, `NSMON_ERR_NULL` for a NULL `options`, or `f`'s failure.
///
/// # Safety
/// `options` is NULL or a live options object not used elsewhere during the call.
pub(crate) unsafe fn options_update<O: OptionsObject>(
    options: *mut O,
    f: impl FnOnce(O::Inner) -> Result<O::Inner, Failure>,
) -> c_int {
    guard(|| {
        // SAFETY: `options` is NULL or live and unshared, as this function's caller promises.
        let options = unsafe { borrow_mut(options, "options") }?;
        let updated = f(options.inner().clone())?;
        *options.inner() = updated;
        Ok(0)
    })
}

/// What an optional options argument of a `_new` or `_add` stands for: a copy of its Rust
/// options, or `defaults()` for NULL.
///
/// # Safety
/// `options` is NULL or a live options object.
pub(crate) unsafe fn options_or<O: OptionsObject>(
    options: *const O,
    defaults: impl FnOnce() -> O::Inner,
) -> O::Inner {
    // SAFETY: `options` is NULL or live, as this function's caller promises.
    unsafe { optional(options) }.map_or_else(defaults, |o| o.get().clone())
}
