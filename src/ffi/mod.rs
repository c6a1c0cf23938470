//! The C ABI (`libnsmon`, `include/nsmon.h`).
//!
//! Conventions, shared by every export:
//! - Every function body runs inside [`guard`]: a Rust panic never crosses the boundary; it
//!   becomes `NSMON_ERR_PANIC` and the handle it happened on refuses further use.
//! - Every pointer is checked for NULL (`NSMON_ERR_NULL`); keys and names must be UTF-8
//!   (`NSMON_ERR_UTF8`), paths may be any bytes. Bad input changes nothing.
//! - Functions return `>= 0` on success and a negative code on failure: `-errno` or one of the
//!   `NSMON_ERR_*` codes. The failure's detailed message is kept per thread for
//!   `nsmon_last_error`.
//! - Outputs are written only on success. `_free` functions accept NULL.
//! - A handle may be moved between threads but not used from two at once. Callbacks may not
//!   re-enter the handle they were called from (`-EBUSY`), except to free it.
#![allow(non_camel_case_types)]

mod args;
pub mod error;
mod handle_cell;
pub mod inventory;
pub mod name;
pub mod netns;
pub mod nsid;
mod options;
pub mod stream;
pub mod watcher;

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use error::{set_last_error, NSMON_ERR_NULL, NSMON_ERR_PANIC, NSMON_ERR_UTF8};

/// Why an exported call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A required pointer argument was NULL; names the parameter.
    Null(&'static str),
    /// A string argument was not UTF-8; names the parameter.
    Utf8(&'static str),
    /// The handle was re-entered from one of its own callbacks.
    Busy,
    /// The handle was left unusable by an earlier internal panic.
    Poisoned,
    /// The library refused or failed.
    Lib(crate::Error),
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Failure::Lib(e)
    }
}

impl Failure {
    pub(crate) fn code(&self) -> c_int {
        match self {
            Failure::Null(_) => NSMON_ERR_NULL,
            Failure::Utf8(_) => NSMON_ERR_UTF8,
            Failure::Busy => -libc::EBUSY,
            Failure::Poisoned => NSMON_ERR_PANIC,
            Failure::Lib(e) => -e.errno(),
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Null(param) => format!("argument `{param}` is NULL"),
            Failure::Utf8(param) => format!("argument `{param}` is not valid UTF-8"),
            Failure::Busy => {
                "the handle is busy: a callback tried to re-enter the handle it was called from"
                    .into()
            }
            Failure::Poisoned => {
                "the handle is unusable after an internal error (a caught panic); free it".into()
            }
            Failure::Lib(e) => e.to_string(),
        }
    }
}

/// Runs an export's body: turns failures into negative codes (recording the message) and
/// catches panics.
pub(crate) fn guard(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            set_last_error(failure.message());
            failure.code()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            set_last_error(format!("internal error (panic): {what}"));
            NSMON_ERR_PANIC
        }
    }
}

/// Runs a body that cannot report failure (`_free`), catching panics.
pub(crate) fn guard_void(body: impl FnOnce()) {
    // Ignored: there is nobody to report to; the panic message went to the panic hook.
    let _ = catch_unwind(AssertUnwindSafe(body));
}
