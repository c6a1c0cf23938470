//! `nsmon_inventory_*`: every network namespace of the host, for C.

use std::ffi::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use super::args::{borrow, Out};
use super::guard;
use super::handle_cell::{
    c_handle, handle_dispatch_kept, handle_fd, handle_free, handle_next_kept, handle_wait,
    kept_events, publish, CHandle, HandleCell, Kept, Scratch,
};
use super::netns::nsmon_netns_id;
use super::options::{options_free, options_new, options_or, options_update, wraps_options};
use super::stream::nsmon_bytes;
use crate::handle::HandleOps;
use crate::{Inventory, InventoryEvent, InventoryOptions, NetnsInfo};

/// Options for `nsmon_inventory_new`, set one by one so that new options never break the ABI.
/// Create with `nsmon_inventory_options_new`, free with `nsmon_inventory_options_free`.
pub struct nsmon_inventory_options {
    inner: InventoryOptions,
}

wraps_options!(nsmon_inventory_options, InventoryOptions);

/// The inventory and the snapshot `nsmon_inventory_snapshot` took of it.
pub(crate) struct Snapshotting {
    inventory: Inventory,
    snapshot: Vec<InventoryEvent>,
    scratch: Scratch,
}

impl HandleOps for Snapshotting {
    type Event = InventoryEvent;
    fn next_event(&mut self) -> crate::Result<Option<InventoryEvent>> {
        self.inventory.next()
    }
    fn dispatch_events(
        &mut self,
        callback: &mut dyn FnMut(InventoryEvent) -> bool,
    ) -> crate::Result<usize> {
        self.inventory.dispatch(callback)
    }
    fn wait_event(&mut self, timeout: Option<Duration>) -> crate::Result<bool> {
        self.inventory.wait(timeout)
    }
}

/// Every network namespace of the host, named or not. Not thread-safe: use it from one thread
/// at a time (it may move between threads). Create with `nsmon_inventory_new`, free with
/// `nsmon_inventory_free`.
pub struct nsmon_inventory {
    cell: HandleCell<Kept<Snapshotting>>,
    fd: c_int,
}

c_handle!(nsmon_inventory, Snapshotting, "inventory");

kept_events!(
    nsmon_inventory,
    Snapshotting,
    nsmon_inventory_event,
    nsmon_inventory_event::from_event
);

/// What an inventory event reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsmon_inventory_event_kind {
    /// A network namespace is there that was not: `netns_id`, and what holds it now (`names`,
    /// `pids`, `threads`, `fds`). Those present at start are reported first.
    Appeared = 1,
    /// The namespace `netns_id` was mounted at `path`.
    NameAdded = 2,
    /// The namespace `netns_id`'s mount at `path` went.
    NameRemoved = 3,
    /// The namespace `netns_id` lost its last visible holder but is still there (a socket or
    /// something else nsmon cannot see holds it, or the kernel frees it a moment later).
    /// Reported once until it has a visible holder again; a program holding a socket in it
    /// only to follow it should let go now.
    Unheld = 4,
    /// The namespace `netns_id` is gone.
    Gone = 5,
    /// The proc connector dropped events; the host is read again, RESCANNED follows the
    /// difference.
    Overrun = 6,
    /// After OVERRUN: the events since are exactly the difference a fresh scan found.
    Rescanned = 7,
    /// A source is unavailable (`reason`): the proc connector without CAP_NET_ADMIN, say. The
    /// rescans find what it would have told.
    Degraded = 8,
}

/// One inventory event, filled in by nsmon into memory the caller owns.
///
/// # Memory and lifetimes
/// The arrays and strings point into the inventory and stay valid until the next call on it
/// (or, in a callback, until it returns; for `nsmon_inventory_snapshot_get`, until the next
/// `nsmon_inventory_snapshot_get` or `nsmon_inventory_snapshot`: copy what you keep before
/// reading the next entry).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct nsmon_inventory_event {
    /// What happened.
    pub kind: nsmon_inventory_event_kind,
    /// The namespace (all kinds but OVERRUN, RESCANNED, DEGRADED; zero for those).
    pub netns_id: nsmon_netns_id,
    /// APPEARED: its mount points (bytes, not NUL-terminated), `names_len` of them.
    pub names: *const nsmon_bytes,
    /// How many `names`.
    pub names_len: usize,
    /// APPEARED: the processes whose main thread is in it.
    pub pids: *const u32,
    /// How many `pids`.
    pub pids_len: usize,
    /// APPEARED: other threads in it (thread ids), of processes whose main thread is elsewhere.
    pub threads: *const u32,
    /// How many `threads`.
    pub threads_len: usize,
    /// APPEARED: open fds of it, as pairs (pid, fd): `2 * fds_len` numbers.
    pub fds: *const u32,
    /// How many pairs in `fds`.
    pub fds_len: usize,
    /// APPEARED, with "sockets" on: sockets living in it, as pairs (pid, fd).
    pub sockets: *const u32,
    /// How many pairs in `sockets`.
    pub sockets_len: usize,
    /// NAME_ADDED and NAME_REMOVED: the mount point (bytes).
    pub path: nsmon_bytes,
    /// DEGRADED: why, NUL-terminated; NULL otherwise.
    pub reason: *const c_char,
}

impl nsmon_inventory_event {
    fn empty(kind: nsmon_inventory_event_kind) -> Self {
        nsmon_inventory_event {
            kind,
            netns_id: nsmon_netns_id::default(),
            names: std::ptr::null(),
            names_len: 0,
            pids: std::ptr::null(),
            pids_len: 0,
            threads: std::ptr::null(),
            threads_len: 0,
            fds: std::ptr::null(),
            fds_len: 0,
            sockets: std::ptr::null(),
            sockets_len: 0,
            path: nsmon_bytes {
                bytes: std::ptr::null(),
                len: 0,
            },
            reason: std::ptr::null(),
        }
    }

    fn appeared(ns: &NetnsInfo, scratch: &mut Scratch) -> Self {
        let mut out = Self::empty(nsmon_inventory_event_kind::Appeared);
        out.netns_id = ns.id.into();
        scratch.names.clear();
        scratch.names.extend(ns.names.iter().map(|p| nsmon_bytes {
            bytes: p.as_os_str().as_bytes().as_ptr(),
            len: p.as_os_str().len(),
        }));
        // fd pairs, then socket pairs, in one array (one allocation kept for the next event).
        scratch.numbers.clear();
        scratch.numbers.extend(
            ns.fds
                .iter()
                .chain(&ns.sockets)
                .flat_map(|(pid, fd)| [*pid, *fd]),
        );
        (out.names, out.names_len) = (scratch.names.as_ptr(), scratch.names.len());
        (out.pids, out.pids_len) = (ns.pids.as_ptr(), ns.pids.len());
        (out.threads, out.threads_len) = (ns.threads.as_ptr(), ns.threads.len());
        (out.fds, out.fds_len) = (scratch.numbers.as_ptr(), ns.fds.len());
        // SAFETY: the array holds 2 * (fds + sockets) numbers; this is its sockets part.
        out.sockets = unsafe { scratch.numbers.as_ptr().add(2 * ns.fds.len()) };
        out.sockets_len = ns.sockets.len();
        out
    }

    fn from_event(event: &InventoryEvent, scratch: &mut Scratch) -> Self {
        use nsmon_inventory_event_kind as K;
        let named = |kind, id: &crate::NetnsId, path: &std::path::Path| {
            let mut out = Self::empty(kind);
            out.netns_id = (*id).into();
            out.path = nsmon_bytes {
                bytes: path.as_os_str().as_bytes().as_ptr(),
                len: path.as_os_str().len(),
            };
            out
        };
        let about = |kind, id: &crate::NetnsId| {
            let mut out = Self::empty(kind);
            out.netns_id = (*id).into();
            out
        };
        match event {
            InventoryEvent::Appeared { ns } => Self::appeared(ns, scratch),
            InventoryEvent::NameAdded { id, path } => named(K::NameAdded, id, path),
            InventoryEvent::NameRemoved { id, path } => named(K::NameRemoved, id, path),
            InventoryEvent::Unheld { id } => about(K::Unheld, id),
            InventoryEvent::Gone { id } => about(K::Gone, id),
            InventoryEvent::Overrun => Self::empty(K::Overrun),
            InventoryEvent::Rescanned => Self::empty(K::Rescanned),
            InventoryEvent::Degraded { reason } => {
                scratch.text = Some(super::stream::c_text(reason.clone()));
                let mut out = Self::empty(K::Degraded);
                out.reason = scratch.text_ptr();
                out
            }
        }
    }
}

/// Called by `nsmon_inventory_dispatch` for each event. Return 0 to go on, non-zero to stop.
///
/// # Memory and lifetimes
/// `event` is valid only during the call; copy what you keep. The callback may call
/// `nsmon_inventory_fd` and `nsmon_inventory_free` on its inventory; any other call on it
/// returns `-EBUSY`. It must not unwind (no C++ exceptions, no longjmp) through nsmon.
pub type nsmon_inventory_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, event: *const nsmon_inventory_event) -> c_int,
>;

/// Creates an options object with the defaults: a rescan every 5 s, fds counted as holders,
/// the proc connector used.
///
/// Returns 0 and sets `*out`, or `NSMON_ERR_NULL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or points to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_new(
    out: *mut *mut nsmon_inventory_options,
) -> c_int {
    // SAFETY: `out` is NULL or writable for one pointer, as `options_new` requires.
    unsafe { options_new(out, InventoryOptions::new()) }
}

/// Frees an options object. NULL is accepted and ignored.
///
/// # Safety
/// `options` is NULL or came from `nsmon_inventory_options_new` and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_free(options: *mut nsmon_inventory_options) {
    // SAFETY: `options` is NULL or an options object not freed yet, as `options_free` requires.
    unsafe { options_free(options) }
}

/// How often everything is read again, in milliseconds (default 5000; at least 10): the worst
/// delay for what no event announces. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_set_rescan_interval_ms(
    options: *mut nsmon_inventory_options,
    ms: u32,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe {
        options_update(options, |o| {
            Ok(o.rescan_interval(Duration::from_millis(u64::from(ms))))
        })
    }
}

/// Whether processes' open nsfs fds count as holders (default true). Returns 0 or
/// `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_set_fds(
    options: *mut nsmon_inventory_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.fds(on))) }
}

/// Whether sockets count as holders of the namespace they live in (default false: it costs a
/// few system calls a socket of the host; a namespace held only by a socket is seen only with
/// it). The calling process's own sockets never count. Returns 0 or `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_set_sockets(
    options: *mut nsmon_inventory_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.sockets(on))) }
}

/// Whether the proc connector is used (default true; false: the rescans only). Returns 0 or
/// `NSMON_ERR_NULL`.
///
/// # Safety
/// `options` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_options_set_proc_events(
    options: *mut nsmon_inventory_options,
    on: bool,
) -> c_int {
    // SAFETY: `options` is NULL or a live options object, as `options_update` requires.
    unsafe { options_update(options, |o| Ok(o.proc_events(on))) }
}

/// Starts the inventory: listens to the proc connector, then scans the host; every namespace
/// found is queued as APPEARED (after DEGRADED if a source is unavailable).
///
/// Parameters: `options` (NULL for the defaults; not consumed), `out` (receives the inventory).
///
/// Returns 0 and sets `*out`, or a negative code (`NSMON_ERR_NULL`, `-EMFILE`, ...). `*out` is
/// written only on success.
///
/// # Safety
/// `options` is NULL or a live options object; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_new(
    options: *const nsmon_inventory_options,
    out: *mut *mut nsmon_inventory,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one pointer and `options` NULL or live, as this
        // function's caller promises.
        let (out, options) = unsafe {
            (
                Out::new(out, "out")?,
                options_or(options, InventoryOptions::new),
            )
        };
        let inventory = Inventory::new(options)?;
        let fd = inventory.fd();
        let snapshotting = Snapshotting {
            inventory,
            snapshot: Vec::new(),
            scratch: Scratch::default(),
        };
        publish(out, Kept::new(snapshotting), fd)
    })
}

/// The inventory's pollable fd: readable whenever `nsmon_inventory_next` has an event. Do not
/// close it (`nsmon_inventory_free` does). Returns the fd or `NSMON_ERR_NULL`.
///
/// # Safety
/// `inventory` is NULL or a live inventory.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_fd(inventory: *const nsmon_inventory) -> c_int {
    // SAFETY: `inventory` is NULL or live, as `handle_fd` requires.
    unsafe { handle_fd(inventory) }
}

/// Takes the next event without blocking: 1 and `*event` filled, 0 when there is none now, or
/// a negative code (`NSMON_ERR_NULL`, `-EBUSY` from inside a callback). `*event` is written only
/// when 1 is returned.
///
/// # Safety
/// `inventory` is NULL or a live inventory; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_next(
    inventory: *mut nsmon_inventory,
    event: *mut nsmon_inventory_event,
) -> c_int {
    // SAFETY: `inventory` is NULL or live and `event` NULL or writable, as `handle_next_kept` requires.
    unsafe { handle_next_kept(inventory, event) }
}

/// Calls `callback(userdata, event)` for each event ready now, until none is left or the
/// callback returns non-zero. Returns the number delivered or a negative code. If the callback
/// frees the inventory, the free happens when dispatch returns.
///
/// # Safety
/// `inventory` is NULL or a live inventory; `callback` is NULL or safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_dispatch(
    inventory: *mut nsmon_inventory,
    callback: nsmon_inventory_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: `inventory` is NULL or live and `callback` NULL or safe to call with `userdata`, as
    // `handle_dispatch_kept` requires.
    unsafe { handle_dispatch_kept(inventory, callback, userdata) }
}

/// Blocks until an event is ready or `timeout_ms` passes (negative: no limit). Returns 1, 0
/// (timeout), `-EINTR`, or another negative code.
///
/// # Safety
/// `inventory` is NULL or a live inventory.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_wait(
    inventory: *mut nsmon_inventory,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: `inventory` is NULL or live, as `handle_wait` requires.
    unsafe { handle_wait(inventory, timeout_ms) }
}

/// Takes a snapshot of every namespace known now (as of the events taken so far) and returns
/// how many there are (>= 0), or a negative code. Read them with `nsmon_inventory_snapshot_get`.
///
/// # Safety
/// `inventory` is NULL or a live inventory.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_snapshot(inventory: *mut nsmon_inventory) -> c_int {
    guard(|| {
        // SAFETY: `inventory` is NULL or live, as this function's caller promises.
        let handle = unsafe { borrow(inventory, "inventory") }?;
        handle.cell().enter(|inner| {
            let s = &mut inner.handle;
            s.snapshot = s
                .inventory
                .namespaces()
                .into_iter()
                .map(|ns| InventoryEvent::Appeared { ns })
                .collect();
            Ok(c_int::try_from(s.snapshot.len()).unwrap_or(c_int::MAX))
        })
    })
}

/// Fills `*event` (kind APPEARED) with the namespace at `index` of the last snapshot: 1, or 0
/// past its end (`*event` untouched), or a negative code. Its pointers stay valid until the
/// next `nsmon_inventory_snapshot` or `nsmon_inventory_snapshot_get` (each call reuses the
/// storage behind `names`, `fds` and `sockets`).
///
/// # Safety
/// `inventory` is NULL or a live inventory; `event` is NULL or writable for one event.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_snapshot_get(
    inventory: *mut nsmon_inventory,
    index: usize,
    event: *mut nsmon_inventory_event,
) -> c_int {
    guard(|| {
        // SAFETY: `inventory` is NULL or live and `event` NULL or writable for one event, as
        // this function's caller promises.
        let (handle, out) = unsafe { (borrow(inventory, "inventory")?, Out::new(event, "event")?) };
        handle.cell().enter(|inner| {
            let s = &mut inner.handle;
            let Some(ns) = s.snapshot.get(index) else {
                return Ok(0);
            };
            out.write(nsmon_inventory_event::from_event(ns, &mut s.scratch));
            Ok(1)
        })
    })
}

/// Stops and frees the inventory, closing its fd. NULL is accepted and ignored.
///
/// # Safety
/// `inventory` is NULL or a live inventory, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn nsmon_inventory_free(inventory: *mut nsmon_inventory) {
    // SAFETY: `inventory` is NULL or live and not used afterwards, as `handle_free` requires.
    unsafe { handle_free(inventory) }
}
