//! `nsmon_validate_name`: the namespace-name rule, for C.

use std::ffi::{c_char, c_int};

use super::args::c_str;
use super::guard;

/// Checks that `name` can name a namespace: UTF-8, not empty, not `.` or `..`, without `/`,
/// at most 255 bytes. Every nsmon function that takes a namespace name applies this rule.
///
/// Returns 0 when valid; `NSMON_ERR_NULL`, `NSMON_ERR_UTF8` or `-EINVAL` (with the reason in
/// `nsmon_last_error()`) otherwise.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nsmon_validate_name(name: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: `name` is NULL or NUL-terminated, as this function's caller promises.
        let name = unsafe { c_str(name, "name") }?;
        crate::validate_name(name)?;
        Ok(0)
    })
}
