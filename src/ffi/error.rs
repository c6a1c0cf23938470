//! Error codes, messages and the library version, for C.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

/// A required pointer argument was NULL. Nothing was changed.
pub const NSMON_ERR_NULL: c_int = -10001;
/// A string argument was not valid UTF-8. Nothing was changed.
pub const NSMON_ERR_UTF8: c_int = -10002;
/// nsmon caught an internal error (a Rust panic). The handle involved refuses further calls
/// with this code and should be freed. Please report it.
pub const NSMON_ERR_PANIC: c_int = -10003;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: String) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
}

/// The detailed message of the last failed nsmon call on this thread (what failed, on what, and
/// the OS's reason), or "" if none failed yet.
///
/// # Memory and lifetimes
/// The string belongs to nsmon and this thread; it stays valid until the next failing nsmon call
/// on the same thread. Successful calls leave it unchanged. Copy it if you need it longer.
#[no_mangle]
pub extern "C" fn nsmon_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// A short, static description of a code returned by an nsmon function: one of the
/// `NSMON_ERR_*` codes or a negative errno value. Never NULL.
///
/// # Memory and lifetimes
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn nsmon_strerror(code: c_int) -> *const c_char {
    let text: &'static std::ffi::CStr = match code {
        c if c >= 0 => c"success",
        NSMON_ERR_NULL => c"a required pointer argument is NULL",
        NSMON_ERR_UTF8 => c"a string argument is not valid UTF-8",
        NSMON_ERR_PANIC => c"internal error in nsmon (caught panic); the handle is unusable",
        super::nsid::NSMON_NSID_NOT_ASSIGNED => c"no nsid assigned (an answer, not an error)",
        c => match -c {
            libc::EPERM => c"operation not permitted",
            libc::ENOENT => c"no such file or directory",
            libc::ESRCH => c"no such process",
            libc::EINTR => c"interrupted by a signal",
            libc::EIO => c"input/output error",
            libc::EBADF => c"bad file descriptor",
            libc::EAGAIN => c"resource temporarily unavailable",
            libc::ENOMEM => c"out of memory",
            libc::EACCES => c"permission denied",
            libc::EBUSY => c"busy: a callback re-entered its handle, or the kernel is busy",
            libc::EEXIST => c"already exists",
            libc::ENOTDIR => c"not a directory",
            libc::EISDIR => c"is a directory",
            libc::EINVAL => c"invalid argument",
            libc::ENFILE => c"too many open files in the system",
            libc::EMFILE => c"too many open files (RLIMIT_NOFILE)",
            libc::ENOSPC => c"no space left (inotify watch limit?)",
            libc::ENAMETOOLONG => c"name too long",
            libc::ENOSYS => c"not supported by this kernel",
            libc::ENOBUFS => c"no buffer space: events were dropped",
            libc::EPROTONOSUPPORT => c"protocol not supported by this kernel",
            _ => c"unknown error",
        },
    };
    text.as_ptr()
}

/// The library's version, `"MAJOR.MINOR.PATCH"`.
///
/// # Memory and lifetimes
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn nsmon_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
