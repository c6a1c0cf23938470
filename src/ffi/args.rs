//! Reading C arguments: the NULL-checked borrow, the out-pointer, strings and paths. Every export
//! reaches its pointers through these, so that the NULL rule (`NSMON_ERR_NULL`, naming the
//! parameter) and "outputs are written only on success" are kept in one place.

use std::ffi::{c_char, CStr, OsStr};
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Failure;

/// Borrows a required pointer argument: `NSMON_ERR_NULL` naming `param` when it is NULL.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nothing mutates while the borrow lasts.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T, param: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: `as_ref` turns NULL into None; any other value is live and unmutated, as this
    // function's caller promises.
    unsafe { ptr.as_ref() }.ok_or(Failure::Null(param))
}

/// Borrows a required pointer argument for changing it, as [`borrow`] does.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nothing else uses while the borrow lasts.
pub(crate) unsafe fn borrow_mut<'a, T>(
    ptr: *mut T,
    param: &'static str,
) -> Result<&'a mut T, Failure> {
    // SAFETY: `as_mut` turns NULL into None; any other value is live and unshared, as this
    // function's caller promises.
    unsafe { ptr.as_mut() }.ok_or(Failure::Null(param))
}

/// Borrows an optional pointer argument (NULL: "the defaults", "the caller's namespace").
///
/// # Safety
/// As for [`borrow`].
pub(crate) unsafe fn optional<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: NULL becomes None; any other value is live, as this function's caller promises.
    unsafe { ptr.as_ref() }
}

/// An out-pointer, checked for NULL when the call starts and written at most once, at the end
/// of a call that succeeded: an export checks it first and writes it last, so that a failure in
/// between leaves the caller's memory untouched.
pub(crate) struct Out<'a, T> {
    ptr: *mut T,
    _writes: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Checks `ptr`: `NSMON_ERR_NULL` naming `param` when it is NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or valid for writing one `T` (which may be uninitialised) until the call
    /// that took it returns.
    pub(crate) unsafe fn new(ptr: *mut T, param: &'static str) -> Result<Self, Failure> {
        if ptr.is_null() {
            return Err(Failure::Null(param));
        }
        Ok(Out {
            ptr,
            _writes: PhantomData,
        })
    }

    /// Writes `value` without reading or dropping what was there (C memory may be garbage).
    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL and writable for one `T`, as `new`'s caller promised.
        unsafe { self.ptr.write(value) }
    }

    /// The pointer, for a writer that fills a large struct in place.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr
    }
}

/// Writes a new boxed `value` to `out`, giving C the ownership (freed by the matching `_free`).
pub(crate) fn give<T>(out: Out<'_, *mut T>, value: T) {
    out.write(Box::into_raw(Box::new(value)));
}

/// Borrows a C string argument as UTF-8 (`NSMON_ERR_UTF8` otherwise): keys and names.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the borrow.
pub(crate) unsafe fn c_str<'a>(
    ptr: *const c_char,
    param: &'static str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded: NULL or NUL-terminated, as this function's caller promises.
    let bytes = unsafe { c_bytes(ptr, param) }?;
    std::str::from_utf8(bytes).map_err(|_| Failure::Utf8(param))
}

/// Borrows a C string argument as a path: any bytes but NUL, not necessarily UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the borrow.
pub(crate) unsafe fn c_path<'a>(
    ptr: *const c_char,
    param: &'static str,
) -> Result<&'a Path, Failure> {
    // SAFETY: forwarded: NULL or NUL-terminated, as this function's caller promises.
    let bytes = unsafe { c_bytes(ptr, param) }?;
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// The bytes of a required C string, without its NUL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the borrow.
unsafe fn c_bytes<'a>(ptr: *const c_char, param: &'static str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::Null(param));
    }
    // SAFETY: non-NULL here, and NUL-terminated and outliving the borrow, as promised.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}
