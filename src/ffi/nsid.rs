//! `nsmon_nsid_*`: the NSID subscriber and namespace-id queries for C.

use std::ffi::{c_int, c_void};

use super::args::{borrow, Out};
use super::handle_cell::{
    c_handle, handle_dispatch_kept, handle_fd, handle_free, handle_next_kept, handle_wait, publish,
    HandleCell, Kept, KeptEvents, Scratch,
};
use super::netns::{netns_ref, nsmon_netns_ref, OwnedNetnsRef};
use super::options::{options_free, options_new, options_or, options_update, OptionsObject};
use super::{guard, Failure};
use crate::nsid::{assign_nsid_in, nsid_in};
use crate::{NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber};

/// What `nsmon_nsid_get` returns when the namespace has no id in the observer's namespace. Not
/// an error: an answer. (Distinct from every id, which is >= 0, and from every error code.)
pub const NSMON_NSID_NOT_ASSIGNED: c_int = -10100;
/// The `nsid` to pass to `nsmon_nsid_set` to let the kernel choose.
pub const NSMON_NSID_AUTO: c_int = -1;

/// What an NSID event reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsmon_nsid_event_kind {
    /// A namespace was given id `nsid`.
    NewNsid = 1,
    /// The namespace with id `nsid` was destroyed; the id is free again.
    DelNsid = 2,
    /// The kernel dropped NSID messages (receive buffer full); `lost` says how many (-1: the
    /// kernel does not say). The subscriber goes on.
    Overrun = 3,
    /// An NSID message nsmon could not read: `raw` has its bytes, `reason` why. The subscriber
    /// goes on.
    Unparsed = 4,
}

/// One NSID event, filled in by nsmon into memory the caller owns.
///
/// # Memory and lifetimes
/// Plain data but for `raw` and `reason` (UNPARSED only), which point into the subscriber and
/// stay valid until the next call on it (or, in a callback, until it returns).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nsmon_nsid_event {
    /// What happened.
    pub kind: nsmon_nsid_event_kind,
    /// The id (-1 for OVERRUN and UNPARSED).
    pub nsid: i32,
    /// NETNSA_PID when the kernel sent it, else -1.
    pub pid: i32,
    /// NETNSA_FD when the kernel sent it, else -1.
    pub fd: i32,
    /// For OVERRUN: how many messages were lost, or -1 when the kernel does not say. 0 otherwise.
    pub lost: i64,
    /// For UNPARSED: the bytes that could not be read; NULL otherwise.
    pub raw: *const u8,
    /// Length of `raw`.
    pub raw_len: usize,
    /// For UNPARSED: why, NUL-terminated; NULL otherwise.
    pub reason: *const std::ffi::c_char,
}

fn or_minus_one(v: Option<u32>) -> i32 {
    v.and_then(|v| i32::try_from(v).ok()).unwrap_or(-1)
}

/// Called by `nsmon_nsid_dispatch` for each event. Return 0 to go on, non-zero to stop. The
/// same rules as `nsmon_watcher_callback` (no re-entry except `_fd` and `_free`, no unwinding).
pub type nsmon_nsid_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const nsmon_nsid_event) -> c_int>;

/// Options for `nsmon_nsid_new`. Create with `nsmon_nsid_options_new`, free with
/// `nsmon_nsid_options_free`.
#[derive(Clone, Default)]
pub struct nsmon_nsid_options {
    observer: OwnedNetnsRef,
    receive_buffer: Option<usize>,
}

/// Its settings are its own fields: the object is its own inner value.
impl OptionsObject for nsmon_nsid_options {
    type Inner = nsmon_nsid_options;
    fn wrap(inner: nsmon_nsid_options) -> Self {
        inner
    }
    fn inner(&mut self) -> &mut nsmon_nsid_options {
        self
    }
    fn get(&self) -> &nsmon_nsid_options {
        self
    }
}

/// An NSID subscriber. Not thread-safe: use it from one thread at a time.
pub struct nsmon_nsid {
    cell: HandleCell<Kept<NsidSubscriber>>,
    fd: c_int,
}

c_handle!(nsmon_nsid, NsidSubscriber, "nsid");

impl KeptEvents for nsmon_nsid {
    type Handle = NsidSubscriber;
    type CEvent = nsmon_nsid_event;

    unsafe fn fill(event: &NsidEvent, scratch: &mut Scratch, out: *mut nsmon_nsid_event) {
        let mut c = nsmon_nsid_event {
            kind: nsmon_nsid_event_kind::Overrun,
            nsid: -1,
            pid: -1,
            fd: -1,
            lost: 0,
            raw: std::ptr::null(),
            raw_len: 0,
            reason: std::ptr::null(),
        };
        match event {
            NsidEvent::NewNsid { nsid, pid, fd } => {
                c.kind = nsmon_nsid_event_kind::NewNsid;
                c.nsid = i32::try_from(*nsid).unwrap_or(-1);
                c.pid = or_minus_one(*pid);
                c.fd = or_minus_one(*fd);
            }
            NsidEvent::DelNsid { nsid } => {
                c.kind = nsmon_nsid_event_kind::DelNsid;
                c.nsid = i32::try_from(*nsid).unwrap_or(-1);
            }
            NsidEvent::Overrun { lost } => {
                c.lost = lost.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
            }
            NsidEvent::Unparsed { reason, raw } => {
                c.kind = nsmon_nsid_event_kind::Unparsed;
                c.raw = raw.as_ptr();
                c.raw_len = raw.len();
                scratch.text = Some(super::stream::c_text(reason.clone()));
                c.reason = scratch.text_ptr();
            }
        }
        // SAFETY: `out` is writable for one event, as `fill`'s contract says.
        unsafe { out.write(c) };
    }
}

/// Creates subscriber options: the caller's namespace as observer, the kernel's default receive
/// buffer. Returns 0 and sets `*out`, or `NSMON_ERR_NULL`.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_options_new(out: *mut *mut nsmon_nsid_options) -> c_int {
    // SAFETY: `out` is NULL or writable for one pointer, as `options_new` requires.
    unsafe { options_new(out, nsmon_nsid_options::default()) }
}

/// Frees subscriber options. NULL is accepted.
///
/// # Safety
/// `options` is NULL or came from `nsmon_nsid_options_new` and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_options_free(options: *mut nsmon_nsid_options) {
    // SAFETY: `options` is NULL or an options object not freed yet, as `options_free` requires.
    unsafe { options_free(options) }
}

/// Sets the namespace the ids are seen from (NULL: the caller's). Names and paths are copied;
/// an fd must stay open until `nsmon_nsid_new` returns. Checked now for form (NULL strings,
/// UTF-8, kind); the namespace itself is opened by `nsmon_nsid_new`. Returns 0 or a negative
/// code; on failure the options are unchanged.
///
/// # Safety
/// `options` is NULL or live; `observer` is NULL or a readable `nsmon_netns_ref`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_options_set_observer(
    options: *mut nsmon_nsid_options,
    observer: *const nsmon_netns_ref,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe {
        options_update(options, |o| {
            // SAFETY: `observer` is NULL or readable, as the caller vouches.
            let observer = netns_ref(observer, "observer")?;
            Ok(nsmon_nsid_options {
                observer: OwnedNetnsRef::from_ref(observer),
                ..o
            })
        })
    }
}

/// Sets the socket's receive buffer in bytes (0: the kernel's default). Returns 0 or
/// `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_options_set_receive_buffer(
    options: *mut nsmon_nsid_options,
    bytes: usize,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe {
        options_update(options, |o| {
            Ok(nsmon_nsid_options {
                receive_buffer: (bytes > 0).then_some(bytes),
                ..o
            })
        })
    }
}

/// Subscribes to namespace-id events (RTNLGRP_NSID). `options` may be NULL for the defaults.
/// Returns 0 and sets `*out`, or a negative code (`-ENOENT`/`-ESRCH`/`-EINVAL` for a bad
/// observer, OS errors). `*out` is written only on success.
///
/// # Safety
/// `options` is NULL or live; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_new(
    options: *const nsmon_nsid_options,
    out: *mut *mut nsmon_nsid,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one pointer and `options` NULL or live, as this
        // function's caller promises.
        let (out, options) =
            unsafe { (Out::new(out, "out")?, options_or(options, Default::default)) };
        let mut rust_options = NsidOptions::new();
        if let Some(bytes) = options.receive_buffer {
            rust_options = rust_options.receive_buffer(bytes);
        }
        // SAFETY: an observer given by fd is open now, as `nsmon_nsid_options_set_observer`
        // requires of its caller.
        let subscriber =
            NsidSubscriber::open_in(unsafe { options.observer.as_ref() }, rust_options)?;
        let fd = subscriber.fd();
        publish(out, Kept::new(subscriber), fd)
    })
}

/// The subscriber's pollable fd (readable whenever `nsmon_nsid_next` has an event), or
/// `NSMON_ERR_NULL`. Borrowed: closed by `nsmon_nsid_free`.
///
/// # Safety
/// `nsid` is NULL or a live subscriber.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_fd(nsid: *const nsmon_nsid) -> c_int {
    // SAFETY: `nsid` is NULL or live, as `handle_fd` requires.
    unsafe { handle_fd(nsid) }
}

/// Takes the next event without blocking: 1 (filled `*event`), 0 (none now), or a negative code.
/// An UNPARSED event's `raw` and `reason` stay valid until the next call on this subscriber.
///
/// # Safety
/// `nsid` is NULL or a live subscriber; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_next(
    nsid: *mut nsmon_nsid,
    event: *mut nsmon_nsid_event,
) -> c_int {
    // SAFETY: `nsid` is NULL or live and `event` NULL or writable, as `handle_next_kept` requires.
    unsafe { handle_next_kept(nsid, event) }
}

/// Calls `callback(userdata, event)` for each event ready now, until none is left or it returns
/// non-zero. Returns the number delivered or a negative code. Same rules as
/// `nsmon_watcher_dispatch`.
///
/// # Safety
/// `nsid` is NULL or a live subscriber; `callback` is NULL or safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_dispatch(
    nsid: *mut nsmon_nsid,
    callback: nsmon_nsid_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: `nsid` is NULL or live and `callback` NULL or safe to call with `userdata`, as
    // `handle_dispatch_kept` requires.
    unsafe { handle_dispatch_kept(nsid, callback, userdata) }
}

/// Blocks until an event is ready (1), `timeout_ms` passes (0; negative: no limit), or a signal
/// arrives (`-EINTR`).
///
/// # Safety
/// `nsid` is NULL or a live subscriber.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_wait(nsid: *mut nsmon_nsid, timeout_ms: c_int) -> c_int {
    // SAFETY: `nsid` is NULL or live, as `handle_wait` requires.
    unsafe { handle_wait(nsid, timeout_ms) }
}

/// Frees the subscriber and closes its socket. NULL is accepted; from inside its own callback,
/// the free happens when the dispatch returns.
///
/// # Safety
/// `nsid` is NULL or a live subscriber, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_free(nsid: *mut nsmon_nsid) {
    // SAFETY: `nsid` is NULL or live and not used afterwards, as `handle_free` requires.
    unsafe { handle_free(nsid) }
}

/// The arguments of the queries: an optional observer (NULL: the caller's namespace) and a
/// required target.
///
/// # Safety
/// Each is NULL or a readable `nsmon_netns_ref` whose `str` is NULL or NUL-terminated, and
/// outlives the borrows.
unsafe fn observer_and_target<'a>(
    observer: *const nsmon_netns_ref,
    target: *const nsmon_netns_ref,
) -> Result<(NetnsRef<'a>, NetnsRef<'a>), Failure> {
    // SAFETY: forwarded from this function's caller; `borrow` refuses a NULL target first.
    unsafe {
        let target = borrow(target, "target")?;
        Ok((
            netns_ref(observer, "observer")?,
            netns_ref(target, "target")?,
        ))
    }
}

/// The id of `target` as seen from `observer` (NULL: the caller's namespace).
///
/// Returns the id (>= 0), `NSMON_NSID_NOT_ASSIGNED` when it has none (an answer, not an error),
/// or another negative code: `NSMON_ERR_NULL` (target NULL), `-EINVAL` (a bad name, or a path
/// that is not a network namespace), `-ENOENT` (no such name or path), `-ESRCH` (no such pid).
/// Each call opens one netlink socket (and a short-lived helper thread for an observer other than
/// the caller's namespace); the calling thread's namespace never changes.
///
/// # Safety
/// `observer` is NULL or readable; `target` is NULL or readable (see `nsmon_netns_ref`).
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_get(
    observer: *const nsmon_netns_ref,
    target: *const nsmon_netns_ref,
) -> c_int {
    guard(|| {
        // SAFETY: both are NULL or readable, as this function's caller promises.
        let (observer, target) = unsafe { observer_and_target(observer, target) }?;
        match nsid_in(observer, target)? {
            Some(id) => Ok(c_int::try_from(id).unwrap_or(c_int::MAX)),
            None => Ok(NSMON_NSID_NOT_ASSIGNED),
        }
    })
}

/// Assigns an id to `target` as seen from `observer` (NULL: the caller's namespace), as
/// `ip netns set NAME auto|N` does: `nsid` is the id wanted, or `NSMON_NSID_AUTO`. A namespace
/// that already has the id (or any id, with AUTO) keeps it. Returns the id it has afterwards, or
/// a negative code (`-EEXIST` when it has another id or the id is taken; as for `nsmon_nsid_get`
/// otherwise). Assignment fires a NEW_NSID event in the observer's namespace.
///
/// # Safety
/// As for `nsmon_nsid_get`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_nsid_set(
    observer: *const nsmon_netns_ref,
    target: *const nsmon_netns_ref,
    nsid: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: both are NULL or readable, as this function's caller promises.
        let (observer, target) = unsafe { observer_and_target(observer, target) }?;
        let request = match nsid {
            NSMON_NSID_AUTO => NsidRequest::Auto,
            n => NsidRequest::Fixed(u32::try_from(n).map_err(|_| {
                crate::Error::InvalidArgument(format!(
                    "nsid {n}: expected an id >= 0 or NSMON_NSID_AUTO"
                ))
            })?),
        };
        let id = assign_nsid_in(observer, target, request)?;
        Ok(c_int::try_from(id).unwrap_or(c_int::MAX))
    })
}
