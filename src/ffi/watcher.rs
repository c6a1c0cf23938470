//! `nsmon_watcher_*`: the namespace watcher for C.

use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;

use super::args::{c_path, Out};
use super::handle_cell::{
    c_handle, handle_dispatch_kept, handle_fd, handle_free, handle_next_kept, handle_wait,
    kept_events, publish, HandleCell, Kept, Scratch,
};
use super::netns::nsmon_netns_id;
use super::options::{options_free, options_new, options_or, options_update, wraps_options};
use super::{guard, Failure};
use crate::{WatchEvent, Watcher, WatcherOptions};

/// Size of the name buffer in events: the longest name (255 bytes) plus its NUL.
pub const NSMON_NAME_SIZE: usize = 256;

/// Options for `nsmon_watcher_new`, set one by one so that new options never break the ABI.
/// Create with `nsmon_watcher_options_new`, free with `nsmon_watcher_options_free`.
pub struct nsmon_watcher_options {
    inner: WatcherOptions,
}

wraps_options!(nsmon_watcher_options, WatcherOptions);

/// A namespace watcher. Not thread-safe: use it from one thread at a time (it may move between
/// threads). Create with `nsmon_watcher_new`, free with `nsmon_watcher_free`.
pub struct nsmon_watcher {
    cell: HandleCell<Kept<Watcher>>,
    fd: c_int,
}

c_handle!(nsmon_watcher, Watcher, "watcher");

kept_events!(
    nsmon_watcher,
    Watcher,
    nsmon_watcher_event,
    nsmon_watcher_event::from_event
);

/// What a watcher event reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsmon_watcher_event_kind {
    /// A named namespace appeared (and is mounted, unless "any file" is set). `dir`, `name` and
    /// `netns_id` are set.
    Created = 1,
    /// A reported (or listed) namespace disappeared (its file went, it was unmounted, or
    /// another namespace is mounted there now: a CREATED follows). `dir`, `name` and
    /// `netns_id` (the one it was created with) are set.
    Deleted = 2,
    /// The folder `dir` appeared (only with "dir events").
    DirCreated = 3,
    /// The folder `dir` was deleted or moved away (only with "dir events"); the DELETED events
    /// of its names come first.
    DirDeleted = 4,
    /// The kernel's inotify queue overflowed. Every folder was listed again, and the CREATED and
    /// DELETED events that follow are exactly the difference. (inotify keeps no count of what
    /// it dropped.)
    Overflow = 5,
    /// The folder `dir` cannot be watched now (a loop of symbolic links, no permission, a file
    /// where the folder should be): `reason` says why. Its names were reported DELETED if it
    /// was watched; it is waited for like a missing one and taken up again once it can be.
    /// Reported whatever "dir events" says.
    DirUnavailable = 6,
}

/// One watcher event, filled in by nsmon into memory the caller owns.
///
/// # Memory and lifetimes
/// Plain data but for `dir` and `reason`, which point into the watcher and stay valid until the
/// next call on it (or, in a callback, until it returns).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct nsmon_watcher_event {
    /// What happened.
    pub kind: nsmon_watcher_event_kind,
    /// Length of `name` in bytes, without the terminating NUL (0 for events without a name).
    pub name_len: u32,
    /// The namespace's name: the file name's bytes (any but `/` and NUL, so not necessarily
    /// UTF-8), NUL-terminated; empty for events without a name.
    pub name: [c_char; NSMON_NAME_SIZE],
    /// For DIR_UNAVAILABLE: why, with the path, NUL-terminated; NULL otherwise.
    pub reason: *const c_char,
    /// The folder the event is about, absolute, as the watcher watches it (bytes, not
    /// necessarily UTF-8), NUL-terminated; NULL for OVERFLOW (about every folder).
    pub dir: *const c_char,
    /// Length of `dir` in bytes, without the NUL (0 when `dir` is NULL).
    pub dir_len: usize,
    /// For CREATED and DELETED: whether `netns_id` is set (always, but with "any file").
    pub has_netns_id: bool,
    /// For CREATED and DELETED: the namespace's identity (for DELETED, the one it was created
    /// with); zero otherwise.
    pub netns_id: nsmon_netns_id,
}

impl nsmon_watcher_event {
    fn from_event(event: &WatchEvent, scratch: &mut Scratch) -> Self {
        let mut reason = std::ptr::null();
        let no_name = &[][..];
        let (kind, dir, name, id) = match event {
            WatchEvent::DirectoryUnavailable { dir, reason: why } => {
                scratch.text = Some(super::stream::c_text(why.clone()));
                reason = scratch.text_ptr();
                (
                    nsmon_watcher_event_kind::DirUnavailable,
                    Some(dir),
                    no_name,
                    None,
                )
            }
            WatchEvent::Created { dir, name, id } => (
                nsmon_watcher_event_kind::Created,
                Some(dir),
                name.as_bytes(),
                *id,
            ),
            WatchEvent::Deleted { dir, name, id } => (
                nsmon_watcher_event_kind::Deleted,
                Some(dir),
                name.as_bytes(),
                *id,
            ),
            WatchEvent::DirectoryCreated { dir } => (
                nsmon_watcher_event_kind::DirCreated,
                Some(dir),
                no_name,
                None,
            ),
            WatchEvent::DirectoryDeleted { dir } => (
                nsmon_watcher_event_kind::DirDeleted,
                Some(dir),
                no_name,
                None,
            ),
            WatchEvent::Overflow => (nsmon_watcher_event_kind::Overflow, None, no_name, None),
        };
        // A path holds no NUL, so the copy always succeeds; NULL if that ever changed.
        scratch.path = dir.and_then(|d| CString::new(d.as_os_str().as_bytes()).ok());
        let mut out = nsmon_watcher_event {
            kind,
            name_len: 0,
            name: [0; NSMON_NAME_SIZE],
            reason,
            dir: scratch
                .path
                .as_ref()
                .map_or(std::ptr::null(), |p| p.as_ptr()),
            dir_len: scratch.path.as_ref().map_or(0, |p| p.as_bytes().len()),
            has_netns_id: id.is_some(),
            netns_id: id.map(nsmon_netns_id::from).unwrap_or_default(),
        };
        // Names were validated (at most 255 bytes); the bound keeps the NUL even if that changed.
        let len = name.len().min(NSMON_NAME_SIZE - 1);
        for (dst, src) in out.name.iter_mut().zip(&name[..len]) {
            *dst = *src as c_char;
        }
        out.name_len = len as u32;
        out
    }
}

/// Called by `nsmon_watcher_dispatch` for each event. Return 0 to go on, non-zero to stop.
///
/// # Memory and lifetimes
/// `event` is valid only during the call; copy what you keep. The callback may call
/// `nsmon_watcher_fd` and `nsmon_watcher_free` on its watcher; any other call on the same
/// watcher returns `-EBUSY`. It must not unwind (no C++ exceptions, no longjmp) through nsmon.
pub type nsmon_watcher_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const nsmon_watcher_event) -> c_int>;

/// Creates an options object with the defaults: directory `/var/run/netns`, no listing of
/// existing namespaces, readiness check on, no directory events.
///
/// Returns 0 and sets `*out`, or a negative code (`NSMON_ERR_NULL` if `out` is NULL).
///
/// # Safety
/// `out` is NULL or points to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_new(out: *mut *mut nsmon_watcher_options) -> c_int {
    // SAFETY: `out` is NULL or writable for one pointer, as `options_new` requires.
    unsafe { options_new(out, WatcherOptions::new()) }
}

/// Frees an options object. NULL is accepted and ignored.
///
/// # Safety
/// `options` is NULL or came from `nsmon_watcher_options_new` and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_free(options: *mut nsmon_watcher_options) {
    // SAFETY: `options` is NULL or an options object not freed yet, as `options_free` requires.
    unsafe { options_free(options) }
}

/// The folder from a C path, refused when empty.
///
/// # Safety
/// `dir` is NULL or a NUL-terminated string.
unsafe fn folder(dir: *const c_char) -> Result<std::path::PathBuf, Failure> {
    // SAFETY: `dir` is NULL or NUL-terminated, as this function's caller promises.
    let dir = unsafe { c_path(dir, "dir") }?;
    if dir.as_os_str().is_empty() {
        return Err(crate::Error::InvalidArgument("the directory path is empty".into()).into());
    }
    Ok(dir.to_path_buf())
}

/// Sets the one folder to watch (default `/var/run/netns`), replacing any given before. It
/// need not exist yet; a relative path is resolved when the watcher is created; a component `*`
/// stands for every subdirectory there, now and later (as for rootless Podman: one folder per
/// user, `netns` in each subdirectory of `/run/user`). The path is bytes (it need not be UTF-8)
/// and is copied.
///
/// Returns 0, `NSMON_ERR_NULL`, or `-EINVAL` for an empty path. On failure the options are
/// unchanged.
///
/// # Safety
/// `options` is NULL or a live options object; `dir` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_set_dir(
    options: *mut nsmon_watcher_options,
    dir: *const c_char,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object and `dir` NULL or NUL-terminated, as
    // `options_update` and `folder` require.
    unsafe { options_update(options, |o| Ok(o.clear_dirs().dir(folder(dir)?))) }
}

/// Adds a folder to watch, as `nsmon_watcher_options_set_dir` describes; the first one added
/// replaces the default. A folder given twice (or under two spellings, such as `/run/netns`
/// where `/var/run` links to `/run`) is watched once, under the first spelling.
///
/// Returns 0, `NSMON_ERR_NULL`, or `-EINVAL` for an empty path. On failure the options are
/// unchanged.
///
/// # Safety
/// `options` is NULL or a live options object; `dir` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_add_dir(
    options: *mut nsmon_watcher_options,
    dir: *const c_char,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object and `dir` NULL or NUL-terminated, as
    // `options_update` and `folder` require.
    unsafe { options_update(options, |o| Ok(o.dir(folder(dir)?))) }
}

/// Whether the runtimes' folders are watched too: `/var/run/netns`, `/run/netns` (Podman),
/// `/var/run/docker/netns` (Docker), `/run/containerd/io.containerd.grpc.v1.cri/netns`
/// (containerd) and each user's `/run/user/<uid>/netns` (rootless Podman), whether they exist
/// now or appear later. Default false. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_set_runtimes(
    options: *mut nsmon_watcher_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.runtimes(on))) }
}

/// Whether the namespaces present when the watcher starts are reported as CREATED events
/// (watch first, then list: nothing missed or reported twice). Default false. Returns 0 or
/// `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_set_list_existing(
    options: *mut nsmon_watcher_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.list_existing(on))) }
}

/// Whether any file counts, without waiting for it to be a mounted namespace (nsfs). Default
/// false; meant for directories of plain files. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_set_any_file(
    options: *mut nsmon_watcher_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.any_file(on))) }
}

/// Whether DIR_CREATED and DIR_DELETED events are reported. Default false. Returns 0 or
/// `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_options_set_dir_events(
    options: *mut nsmon_watcher_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.directory_events(on))) }
}

/// Starts a watcher. The watch is in place when this returns.
///
/// Parameters: `options` (NULL for the defaults; not consumed, free it yourself; may be freed
/// right after this call), `out` (receives the watcher).
///
/// Returns 0 and sets `*out`, or a negative code: `NSMON_ERR_NULL` (out is NULL), `-EINVAL`
/// (a bad option), `-EMFILE`/`-ENOSPC`/... from the OS. `*out` is written only on success.
///
/// # Safety
/// `options` is NULL or a live options object; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_new(
    options: *const nsmon_watcher_options,
    out: *mut *mut nsmon_watcher,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one pointer and `options` NULL or live, as this
        // function's caller promises.
        let (out, options) = unsafe {
            (
                Out::new(out, "out")?,
                options_or(options, WatcherOptions::new),
            )
        };
        let watcher = Watcher::new(options)?;
        let fd = watcher.fd();
        publish(out, Kept::new(watcher), fd)
    })
}

/// The watcher's pollable fd: readable whenever `nsmon_watcher_next` has an event. Put it in your
/// epoll/poll loop and call `nsmon_watcher_next` after each wake-up: level-triggered, as many
/// times as you like (the fd stays readable while events are left); edge-triggered (`EPOLLET`),
/// until it returns 0, as with any non-blocking fd.
///
/// Returns the fd (>= 0) or `NSMON_ERR_NULL`.
///
/// # Memory and lifetimes
/// The fd belongs to the watcher: do not close it; it is closed by `nsmon_watcher_free`.
///
/// # Safety
/// `watcher` is NULL or a live watcher.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_fd(watcher: *const nsmon_watcher) -> c_int {
    // SAFETY: `watcher` is NULL or live, as `handle_fd` requires.
    unsafe { handle_fd(watcher) }
}

/// Takes the next event without blocking.
///
/// Returns 1 and fills `*event`, 0 when there is no event now (the fd is then not readable until
/// something happens), or a negative code (`NSMON_ERR_NULL`, `-EBUSY` from inside a callback of
/// this watcher, an OS error). `*event` is written only when 1 is returned.
///
/// # Safety
/// `watcher` is NULL or a live watcher; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_next(
    watcher: *mut nsmon_watcher,
    event: *mut nsmon_watcher_event,
) -> c_int {
    // SAFETY: `watcher` is NULL or live and `event` NULL or writable, as `handle_next_kept` requires.
    unsafe { handle_next_kept(watcher, event) }
}

/// Calls `callback(userdata, event)` for each event ready now, without blocking, until none is
/// left or the callback returns non-zero.
///
/// Returns the number of events delivered (>= 0), or a negative code (`NSMON_ERR_NULL` for a NULL
/// watcher or callback, `-EBUSY` when called from a callback of this watcher, an OS error).
/// Events not delivered stay queued and the fd stays readable. If the callback frees the watcher,
/// dispatch stops and the watcher is freed when dispatch returns.
///
/// # Safety
/// `watcher` is NULL or a live watcher; `callback` is NULL or a function that is safe to call with
/// `userdata`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_dispatch(
    watcher: *mut nsmon_watcher,
    callback: nsmon_watcher_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: `watcher` is NULL or live and `callback` NULL or safe to call with `userdata`, as
    // `handle_dispatch_kept` requires.
    unsafe { handle_dispatch_kept(watcher, callback, userdata) }
}

/// Blocks until `nsmon_watcher_next` has an event or `timeout_ms` milliseconds pass (a negative
/// timeout waits without limit).
///
/// Returns 1 (an event is ready), 0 (timeout), `-EINTR` (a signal arrived: check your flags and
/// call again), or another negative code.
///
/// # Safety
/// `watcher` is NULL or a live watcher.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_wait(
    watcher: *mut nsmon_watcher,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: `watcher` is NULL or live, as `handle_wait` requires.
    unsafe { handle_wait(watcher, timeout_ms) }
}

/// Stops watching and frees the watcher, closing its fd. NULL is accepted and ignored. Called
/// from inside one of this watcher's callbacks, the free happens when the dispatch returns.
///
/// # Safety
/// `watcher` is NULL or a live watcher, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn nsmon_watcher_free(watcher: *mut nsmon_watcher) {
    // SAFETY: `watcher` is NULL or live and not used afterwards, as `handle_free` requires.
    unsafe { handle_free(watcher) }
}
