//! `nsmon_stream_*`: the multi-namespace event stream for C.

mod convert;
mod read;
mod types;

use std::ffi::{c_char, c_int, c_void};

use super::args::{borrow, c_str, Out};
use super::handle_cell::{c_handle, handle_fd, handle_free, handle_wait, publish, HandleCell};
use super::netns::{netns_ref, nsmon_netns_ref};
use super::options::{options_free, options_new, options_or, options_update, wraps_options};
use super::{guard, Failure};
use crate::{Groups, NetnsRef, Stream, StreamOptions};
pub(crate) use convert::c_text;
use read::CStream;
pub use types::*;

/// Options for `nsmon_stream_add`: all groups, no dump, no resync, a 1 MiB receive buffer.
pub struct nsmon_stream_options {
    inner: StreamOptions,
}

wraps_options!(nsmon_stream_options, StreamOptions);

/// A stream. Not thread-safe: use it from one thread at a time.
pub struct nsmon_stream {
    cell: HandleCell<CStream>,
    fd: c_int,
}

c_handle!(nsmon_stream, inner CStream, "stream");

/// Creates stream options: all groups, no dump, no resync, a 1 MiB receive buffer
/// (`NSMON_DEFAULT_RECEIVE_BUFFER`).
/// Returns 0 and sets `*out`, or `NSMON_ERR_NULL`.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_new(out: *mut *mut nsmon_stream_options) -> c_int {
    // SAFETY: `out` is NULL or writable for one pointer, as `options_new` requires.
    unsafe { options_new(out, StreamOptions::new()) }
}

/// Frees stream options. NULL is accepted.
///
/// # Safety
/// `options` is NULL or came from `nsmon_stream_options_new` and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_free(options: *mut nsmon_stream_options) {
    // SAFETY: `options` is NULL or an options object not freed yet, as `options_free` requires.
    unsafe { options_free(options) }
}

/// Sets which kinds to follow: a mask of `NSMON_GROUP_*` bits (default `NSMON_GROUP_ALL`).
/// Returns 0, `NSMON_ERR_NULL`, or `-EINVAL` for unknown bits (options unchanged).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_groups(
    options: *mut nsmon_stream_options,
    groups: u32,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe {
        options_update(options, |o| {
            if groups & !NSMON_GROUP_ALL != 0 {
                return Err(crate::Error::InvalidArgument(format!(
                    "unknown group bits {:#x}",
                    groups & !NSMON_GROUP_ALL
                ))
                .into());
            }
            let mut g = Groups::NONE;
            for (bit, group) in [
                (NSMON_GROUP_LINK, Groups::LINK),
                (NSMON_GROUP_IPV4_ADDR, Groups::IPV4_ADDR),
                (NSMON_GROUP_IPV6_ADDR, Groups::IPV6_ADDR),
                (NSMON_GROUP_IPV4_ROUTE, Groups::IPV4_ROUTE),
                (NSMON_GROUP_IPV6_ROUTE, Groups::IPV6_ROUTE),
                (NSMON_GROUP_NEIGH, Groups::NEIGH),
                (NSMON_GROUP_TC, Groups::TC),
            ] {
                if groups & bit != 0 {
                    g = g | group;
                }
            }
            Ok(o.groups(g))
        })
    }
}

/// Whether to dump the namespace's current objects after subscribing, then report SYNCED.
/// Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_dump(
    options: *mut nsmon_stream_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.dump(on))) }
}

/// Whether an OVERRUN is followed by a fresh dump and SYNCED. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_resync_on_overrun(
    options: *mut nsmon_stream_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.resync_on_overrun(on))) }
}

/// The receive buffer of each namespace's socket, in bytes (default
/// `NSMON_DEFAULT_RECEIVE_BUFFER`, 1 MiB; 0: the kernel's default, about 208 KiB).
/// `SO_RCVBUFFORCE` when permitted, else `SO_RCVBUF` (capped at `net.core.rmem_max`).
/// Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_options_set_receive_buffer(
    options: *mut nsmon_stream_options,
    bytes: usize,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.receive_buffer(bytes))) }
}

/// Creates an empty stream. Returns 0 and sets `*out`, or a negative code.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_new(out: *mut *mut nsmon_stream) -> c_int {
    // SAFETY: `out` is NULL or writable for one pointer, as `new_stream` requires.
    unsafe { new_stream(out, None) }
}

/// Creates an empty stream that trades latency for wake-ups: once the caller has taken
/// everything that was ready, what arrives within `window_us` microseconds waits for the
/// window's end, and one wake-up then delivers all of it. The first event after a window that
/// brought nothing wakes the caller at once (a quiet stream adds no latency); a busy one adds
/// at most the window. Worth it at moderate, steady rates, where a plain stream wakes its caller
/// once per event. It holds two fds more than `nsmon_stream_new`'s. Returns 0 and sets `*out`,
/// or a negative code (`-EINVAL` for a zero window).
///
/// # Safety
/// `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_new_coalescing(
    window_us: u32,
    out: *mut *mut nsmon_stream,
) -> c_int {
    let window = std::time::Duration::from_micros(u64::from(window_us));
    // SAFETY: `out` is NULL or writable for one pointer, as `new_stream` requires.
    unsafe { new_stream(out, Some(window)) }
}

/// Both `_new` functions: a stream, coalescing with a window, given to C through `out`.
///
/// # Safety
/// `out` is NULL or writable for one pointer.
unsafe fn new_stream(out: *mut *mut nsmon_stream, window: Option<std::time::Duration>) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one pointer, as this function's caller promises.
        let out = unsafe { Out::new(out, "out") }?;
        let stream = match window {
            Some(window) => Stream::with_coalescing(window)?,
            None => Stream::new()?,
        };
        let fd = stream.fd();
        publish(out, CStream::new(stream), fd)
    })
}

/// Starts monitoring `target` (NULL: the caller's namespace) under `key` (UTF-8, copied), with
/// `options` (NULL: defaults). Returns 0, or a negative code with nothing changed:
/// `NSMON_ERR_NULL`, `NSMON_ERR_UTF8`, `-EINVAL` (key in use, bad name, not a network
/// namespace), `-ENOENT`, `-ESRCH`, `-EMFILE` (fd limit).
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated; `target` is NULL or readable;
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add(
    stream: *mut nsmon_stream,
    key: *const c_char,
    target: *const nsmon_netns_ref,
    options: *const nsmon_stream_options,
) -> c_int {
    // SAFETY: the four pointers are as `add_with` requires, as this function's caller promises.
    unsafe { add_with(stream, key, target, "target", options, Stream::add) }
}

/// Checks the arguments shared by the add functions and runs `add` with them.
///
/// # Safety
/// As `nsmon_stream_add`.
unsafe fn add_with(
    stream: *mut nsmon_stream,
    key: *const c_char,
    ns: *const nsmon_netns_ref,
    ns_param: &'static str,
    options: *const nsmon_stream_options,
    add: impl FnOnce(&mut Stream, &str, NetnsRef<'_>, StreamOptions) -> crate::Result<()>,
) -> c_int {
    guard(|| {
        // SAFETY: each pointer is NULL or as `nsmon_stream_add` describes, as this function's
        // caller promises.
        let (handle, key, ns, options) = unsafe {
            (
                borrow(stream, "stream")?,
                c_str(key, "key")?,
                netns_ref(ns, ns_param)?,
                options_or(options, StreamOptions::new),
            )
        };
        handle.cell.enter(|s| {
            add(&mut s.stream, key, ns, options)?;
            Ok(0)
        })
    })
}

/// Adds `count` namespaces at once: `targets[i]` under `keys[i]`, all with `options` (NULL:
/// defaults), as `nsmon_stream_add` would, but with one helper thread for the whole batch
/// (adding 1,000 namespaces takes tens of milliseconds instead of over a hundred). Each entry
/// succeeds or fails on its own: `results[i]` is set to 0 or to that entry's negative code
/// (`NSMON_ERR_NULL` for a NULL key, `NSMON_ERR_UTF8`, `-EINVAL` for a key in use or given
/// twice, ...); `nsmon_last_error` then describes the first failure. Returns how many were
/// added, or a negative code (NULL `stream`, or NULL arrays with `count` > 0) with nothing
/// changed.
///
/// # Safety
/// `stream` is NULL or live; `keys`, `targets` and `results` are NULL or valid for `count`
/// elements; each key is NULL or NUL-terminated; `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add_many(
    stream: *mut nsmon_stream,
    keys: *const *const c_char,
    targets: *const nsmon_netns_ref,
    count: usize,
    options: *const nsmon_stream_options,
    results: *mut c_int,
) -> c_int {
    guard(|| {
        // SAFETY: `stream` and `options` are NULL or live, as this function's caller promises.
        let (handle, options) = unsafe {
            (
                borrow(stream, "stream")?,
                options_or(options, StreamOptions::new),
            )
        };
        if count > 0 {
            for (ptr, name) in [
                (keys.cast::<u8>(), "keys"),
                (targets.cast(), "targets"),
                (results.cast_const().cast(), "results"),
            ] {
                if ptr.is_null() {
                    return Err(Failure::Null(name));
                }
            }
        }
        let mut codes = vec![0; count];
        let mut first_failure: Option<Failure> = None;
        let mut valid = Vec::with_capacity(count);
        for (i, code) in codes.iter_mut().enumerate() {
            // SAFETY: `keys` and `targets` hold `count` elements per the contract.
            let entry = unsafe {
                c_str(*keys.add(i), "keys[i]")
                    .and_then(|key| Ok((i, key, netns_ref(targets.add(i), "targets[i]")?)))
            };
            match entry {
                Ok(entry) => valid.push(entry),
                Err(failure) => {
                    *code = failure.code();
                    first_failure.get_or_insert(failure);
                }
            }
        }
        let added = handle.cell.enter(|s| {
            let batch: Vec<(&str, NetnsRef<'_>)> = valid.iter().map(|(_, k, t)| (*k, *t)).collect();
            let outcomes = s.stream.add_many(&batch, options);
            let mut added = 0;
            for ((i, _, _), outcome) in valid.iter().zip(outcomes) {
                match outcome {
                    Ok(()) => added += 1,
                    Err(e) => {
                        let failure = Failure::Lib(e);
                        codes[*i] = failure.code();
                        first_failure.get_or_insert(failure);
                    }
                }
            }
            Ok(added)
        })?;
        if count > 0 {
            // SAFETY: `results` is non-NULL (checked) and holds `count` elements per the
            // contract. (With count 0 it may be NULL: nothing to write.)
            unsafe { std::ptr::copy_nonoverlapping(codes.as_ptr(), results, count) };
        }
        if let Some(failure) = first_failure {
            super::error::set_last_error(failure.message());
        }
        Ok(added)
    })
}

/// Starts an all-nsid target under `key`: one socket in `observer`'s namespace (NULL: the
/// caller's) hearing the chosen groups there and in every namespace that has an id in it. Events
/// from another namespace carry its id in `nsid`, and in `key` the key the caller added that
/// namespace under, if any (else this target's key). Those namespaces share one receive buffer,
/// so an OVERRUN of this key may have lost events of any of them; a dump lists the observer's
/// namespace only. Returns 0 or a negative code (as `nsmon_stream_add`), nothing changed.
///
/// # Safety
/// As `nsmon_stream_add`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_add_all_nsid(
    stream: *mut nsmon_stream,
    key: *const c_char,
    observer: *const nsmon_netns_ref,
    options: *const nsmon_stream_options,
) -> c_int {
    // SAFETY: the four pointers are as `add_with` requires, as this function's caller promises.
    unsafe {
        add_with(
            stream,
            key,
            observer,
            "observer",
            options,
            Stream::add_all_nsid,
        )
    }
}

/// Runs `f` on the stream with a checked key (the shared part of remove, contains, identity),
/// inside the panic guard.
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
unsafe fn with_key(
    stream: *mut nsmon_stream,
    key: *const c_char,
    f: impl FnOnce(&mut Stream, &str) -> c_int,
) -> c_int {
    guard(|| {
        // SAFETY: `stream` is NULL or live and `key` NULL or NUL-terminated, as this function's
        // caller promises.
        let (handle, key) = unsafe { (borrow(stream, "stream")?, c_str(key, "key")?) };
        handle.cell.enter(|s| Ok(f(&mut s.stream, key)))
    })
}

/// Stops monitoring `key`, closing its socket. Returns 1 (removed), 0 (not there) or a
/// negative code.
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_remove(
    stream: *mut nsmon_stream,
    key: *const c_char,
) -> c_int {
    // SAFETY: `stream` is NULL or live and `key` NULL or NUL-terminated, as `with_key` requires.
    unsafe { with_key(stream, key, |s, key| c_int::from(s.remove(key))) }
}

/// Whether `key` is monitored: 1, 0, or a negative code.
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_contains(
    stream: *mut nsmon_stream,
    key: *const c_char,
) -> c_int {
    // SAFETY: `stream` is NULL or live and `key` NULL or NUL-terminated, as `with_key` requires.
    unsafe { with_key(stream, key, |s, key| c_int::from(s.contains(key))) }
}

/// The identity of the namespace behind `key`: 1 and `*out` filled, 0 when `key` is not
/// monitored, or a negative code (`*out` untouched but for 1).
///
/// # Safety
/// `stream` is NULL or live; `key` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_identity(
    stream: *mut nsmon_stream,
    key: *const c_char,
    out: *mut super::netns::nsmon_netns_id,
) -> c_int {
    // SAFETY: `out` is NULL or writable, as this function's caller promises.
    let out = match unsafe { Out::new(out, "out") } {
        Ok(out) => out,
        Err(null) => return guard(|| Err(null)),
    };
    // SAFETY: `stream` is NULL or live and `key` NULL or NUL-terminated, as `with_key` requires.
    unsafe {
        with_key(stream, key, |s, key| match s.identity(key) {
            Some(id) => {
                out.write(id.into());
                1
            }
            None => 0,
        })
    }
}

/// How many namespaces are monitored, or a negative code.
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_len(stream: *mut nsmon_stream) -> c_int {
    guard(|| {
        // SAFETY: `stream` is NULL or live, as this function's caller promises.
        let handle = unsafe { borrow(stream, "stream") }?;
        handle
            .cell
            .enter(|s| Ok(c_int::try_from(s.stream.len()).unwrap_or(c_int::MAX)))
    })
}

/// The stream's pollable fd (readable whenever `nsmon_stream_next` has an event), or
/// `NSMON_ERR_NULL`. Borrowed: closed by `nsmon_stream_free`.
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_fd(stream: *const nsmon_stream) -> c_int {
    // SAFETY: `stream` is NULL or live, as `handle_fd` requires.
    unsafe { handle_fd(stream) }
}

/// Takes the next event without blocking: 1 (filled `*event`), 0 (none now), or a negative code.
/// `event->key`, `raw`, `reason` and `link.alt_names` stay valid until the next call on this
/// stream.
///
/// # Safety
/// `stream` is NULL or live; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_next(
    stream: *mut nsmon_stream,
    event: *mut nsmon_stream_event,
) -> c_int {
    // SAFETY: `stream` is NULL or live and `event` NULL or writable, as `read::next` requires.
    unsafe { read::next(stream, event) }
}

/// Takes up to `capacity` events that are ready now, without blocking, into `events[0..n]`, and
/// returns `n` (0 when there is none now: the fd is then not readable until something happens),
/// or a negative code (`NSMON_ERR_NULL`, `-EBUSY` from inside a callback). One call costs the
/// checks and the readiness bookkeeping once for the whole batch: the cheapest way to read a
/// busy stream. Every filled event's pointers (`key`, `raw`, `reason`, `link.alt_names`) stay
/// valid until the next call on this stream. A failure met after some events were taken is
/// returned by the next call, so that they are not lost with it. `events` may be NULL when
/// `capacity` is 0.
///
/// # Safety
/// `stream` is NULL or live; `events` is NULL or writable for `capacity` events.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_next_batch(
    stream: *mut nsmon_stream,
    events: *mut nsmon_stream_event,
    capacity: usize,
) -> c_int {
    // SAFETY: `stream` is NULL or live and `events` NULL or writable for `capacity` events, as
    // `read::next_batch` requires.
    unsafe { read::next_batch(stream, events, capacity) }
}

/// Calls `callback(userdata, event)` for each event ready now, until none is left or it returns
/// non-zero. Returns the number delivered or a negative code. Same rules as
/// `nsmon_watcher_dispatch`; the event's pointers are valid during the callback only.
///
/// # Safety
/// `stream` is NULL or live; `callback` is NULL or safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_dispatch(
    stream: *mut nsmon_stream,
    callback: nsmon_stream_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: `stream` is NULL or live and `callback` NULL or safe to call with `userdata`, as
    // `read::dispatch` requires.
    unsafe { read::dispatch(stream, callback, userdata) }
}

/// Blocks until an event is ready (1), `timeout_ms` passes (0; negative: no limit), or a signal
/// arrives (`-EINTR`).
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_wait(stream: *mut nsmon_stream, timeout_ms: c_int) -> c_int {
    // SAFETY: `stream` is NULL or live, as `handle_wait` requires.
    unsafe { handle_wait(stream, timeout_ms) }
}

/// Frees the stream, closing every namespace's socket. NULL is accepted; from inside its own
/// callback, the free happens when the dispatch returns.
///
/// # Safety
/// `stream` is NULL or live, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nsmon_stream_free(stream: *mut nsmon_stream) {
    // SAFETY: `stream` is NULL or live and not used afterwards, as `handle_free` requires.
    unsafe { handle_free(stream) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty batch may pass NULL arrays (the contract says so): nothing is read or written.
    #[test]
    fn an_empty_batch_takes_null_arrays() {
        let mut stream = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the stream is freed below.
        unsafe {
            assert_eq!(nsmon_stream_new(&mut stream), 0);
            let added = nsmon_stream_add_many(
                stream,
                std::ptr::null(),
                std::ptr::null(),
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            );
            assert_eq!(added, 0);
            assert_eq!(nsmon_stream_len(stream), 0);
            nsmon_stream_free(stream);
        }
    }
}
