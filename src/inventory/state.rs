//! The inventory's sources and state, driven by the handle core: the proc connector, the
//! mount table, the rescan timer, and how each feeds the model.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use super::model::{self, Identified, Kernel, Model};
use super::procs::{self, ProcEvent};
use super::{scan, InventoryEvent, InventoryOptions};
use crate::error::{Error, Result};
use crate::handle::{register_mount_table, register_readable, Pump};
use crate::netlink::message::messages;
use crate::netns::is_network_namespace;
use crate::sys;
use crate::NetnsId;

const PROCS: Token = Token(0);
const MOUNTS: Token = Token(1);
const TIMER: Token = Token(2);

/// Datagrams read from the proc connector per pump: a fork storm cannot keep one call busy.
const READ_BUDGET: usize = 512;

/// The connector socket's receive buffer: room for a burst of about 40,000 events.
const PROCS_BUFFER: libc::c_int = 4 << 20;

/// `CAP_NET_ADMIN` (linux/capability.h): its bit in the capability sets.
const CAP_NET_ADMIN: u32 = 12;

/// `PROC_USER_INIT_INO`: the inode of the initial user namespace, where `CAP_NET_ADMIN` must be.
const INIT_USER_NS: &str = "user:[4026531837]";

/// A process as a scan found it: pid, its tasks (tid, inode), its namespace fds (fd, inode),
/// its sockets' namespaces (fd, namespace).
type Found = (
    u32,
    Vec<(u32, u64)>,
    Vec<(u32, u64)>,
    Vec<(u32, model::Identified)>,
);

/// What a scan reads of each process.
#[derive(Debug, Clone, Copy)]
struct Reads {
    fds: bool,
    sockets: bool,
}

/// Scans on more than one thread only from this many processes (below, a thread costs more
/// than it saves).
const SCAN_SPLIT_AT: usize = 256;

/// At most this many threads share a scan.
const SCAN_THREADS: usize = 4;

/// Reads the tasks (and fds, sockets) of `pids`.
fn read_processes_with(scanner: &mut scan::Scanner, pids: &[u32], reads: Reads) -> Vec<Found> {
    let me = std::process::id();
    pids.iter()
        .filter_map(|&pid| {
            let tasks = scanner.process_tasks(pid);
            if tasks.is_empty() {
                return None; // gone meanwhile, or not readable (another user's)
            }
            let (fds, sockets) = match reads {
                Reads {
                    fds: false,
                    sockets: false,
                } => (Vec::new(), Vec::new()),
                Reads { sockets, .. } => scanner.process_fds_and_sockets(pid, sockets && pid != me),
            };
            let fds = if reads.fds { fds } else { Vec::new() };
            Some((pid, tasks, fds, sockets))
        })
        .collect()
}

fn read_processes(mut scanner: scan::Scanner, pids: &[u32], reads: Reads) -> Vec<Found> {
    read_processes_with(&mut scanner, pids, reads)
}

/// The kernel, for the model: a holder is opened for an instant to read who it is.
struct Real;

impl Kernel for Real {
    fn identify(&mut self, path: &Path, ino: u64) -> Option<Identified> {
        let fd = sys::open_nsfs_by_path(path).ok()?;
        if !is_network_namespace(fd.as_fd()) {
            return None;
        }
        let id = NetnsId::of(fd.as_fd()).ok()?;
        if id.ino != ino {
            return None; // the holder moved on meanwhile: what it holds now is read again later
        }
        Some(Identified {
            id,
            handle: sys::nsfs::handle(fd.as_fd()).ok(),
        })
    }

    fn alive(&mut self, handle: &sys::nsfs::NsHandle) -> Option<bool> {
        match sys::nsfs::alive(handle) {
            Ok(alive) => Some(alive),
            // Only ESTALE says gone: a limit or a lack of memory says nothing about the
            // namespace, which is asked after again later.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EINTR | libc::EAGAIN)
                ) =>
            {
                Some(true)
            }
            Err(_) => None,
        }
    }
}

pub(crate) struct State {
    options: InventoryOptions,
    procs: Option<OwnedFd>,
    /// `/proc/self/mountinfo`, registered by `handle::register_mount_table`.
    _mounts: File,
    timer: OwnedFd,
    scanner: scan::Scanner,
    pub(crate) model: Model,
    pub(crate) degraded: Option<String>,
    buffer: Box<[u8]>,
    procs_backlog: bool,
    /// When the next rescan is due.
    rescan_at: Instant,
    /// A namespace lost its last visible holder but is still there: asked after again at
    /// `recheck_at`, with a doubling delay (see [`RECHECKS`]).
    recheck: Option<(Instant, u32)>,
}

/// How often a namespace that lost its last visible holder but is still there is asked after
/// before the rescans take over: after 1, 2, 4, ... 512 ms (about a second in all). A lazy
/// unmount (`ip netns del`) or a closing socket lets the namespace go a little after its holder.
const RECHECKS: u32 = 10;

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryState")
            .field("namespaces", &self.model.len())
            .field("degraded", &self.degraded)
            .finish_non_exhaustive()
    }
}

/// Why the proc connector cannot be listened to, if it cannot (the kernel takes the request
/// and says no only in an ack it filters away, so the capability is checked here).
fn connector_refusal() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        return Some("proc connector: CAP_NET_ADMIN is needed".into());
    }
    let user_ns = std::fs::read_link("/proc/self/ns/user").unwrap_or_default();
    if user_ns.as_os_str() != INIT_USER_NS {
        return Some(
            "proc connector: CAP_NET_ADMIN is needed in the initial user namespace".into(),
        );
    }
    None
}

impl State {
    pub(crate) fn open(
        options: &InventoryOptions,
        registry: &Registry,
        queue: &mut VecDeque<InventoryEvent>,
    ) -> Result<State> {
        let mut degraded = None;
        let procs = if !options.proc_events {
            None
        } else if let Some(reason) = connector_refusal() {
            degraded = Some(reason);
            None
        } else {
            match procs::listen() {
                Ok(fd) => {
                    let raw = fd.as_fd();
                    if sys::netlink::set_int_option(
                        raw,
                        libc::SOL_SOCKET,
                        libc::SO_RCVBUFFORCE,
                        PROCS_BUFFER,
                    )
                    .is_err()
                    {
                        // Ignored: the default buffer works, overruns are reported.
                        let _ = sys::netlink::set_int_option(
                            raw,
                            libc::SOL_SOCKET,
                            libc::SO_RCVBUF,
                            PROCS_BUFFER,
                        );
                    }
                    register_readable(registry, fd.as_raw_fd(), PROCS, "proc connector")?;
                    Some(fd)
                }
                Err(e) => {
                    degraded = Some(format!("proc connector: {e}"));
                    None
                }
            }
        };
        let mounts = register_mount_table(registry, MOUNTS)?;
        let timer = sys::timer::timer().map_err(|e| Error::os("timerfd_create", e))?;
        register_readable(registry, timer.as_raw_fd(), TIMER, "timerfd")?;
        let mut state = State {
            options: options.clone(),
            procs,
            _mounts: mounts,
            timer,
            scanner: scan::Scanner::new().map_err(|e| Error::os("open /proc", e))?,
            model: Model::default(),
            degraded: degraded.clone(),
            buffer: vec![0; 64 * 1024].into_boxed_slice(),
            procs_backlog: false,
            rescan_at: Instant::now(),
            recheck: None,
        };
        if let Some(reason) = degraded {
            queue.push_back(InventoryEvent::Degraded { reason });
        }
        // Listening first, then scanning: what changes meanwhile is in the connector's queue.
        let mut out = Vec::new();
        state.rescan(&mut out)?;
        queue.extend(out);
        Ok(state)
    }

    /// Reads everything again and applies the difference; arms the next rescan. On a host of
    /// many processes the reading is shared among scoped threads, one a core (up to
    /// [`SCAN_THREADS`]), which end before this returns.
    fn rescan(&mut self, out: &mut Vec<InventoryEvent>) -> Result<()> {
        let pids = self.scanner.processes();
        let with_fds = Reads {
            fds: self.options.fds,
            sockets: self.options.sockets,
        };
        let threads = if pids.len() < SCAN_SPLIT_AT {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(SCAN_THREADS))
        };
        let chunk = pids.len().div_ceil(threads).max(1);
        let mut parts: Vec<Vec<Found>> = Vec::new();
        std::thread::scope(|scope| {
            let mut chunks = pids.chunks(chunk);
            let mine = chunks.next().unwrap_or(&[]);
            let helpers: Vec<_> = chunks
                .map(|part| {
                    // A helper that cannot start (a thread limit) or cannot open /proc leaves
                    // its part to this thread.
                    std::thread::Builder::new()
                        .name("nsmon-scan".into())
                        .spawn_scoped(scope, move || {
                            let scanner = scan::Scanner::new().ok()?;
                            Some(read_processes(scanner, part, with_fds))
                        })
                        .ok()
                })
                .collect();
            parts.push(read_processes_with(&mut self.scanner, mine, with_fds));
            let mut left = Vec::new();
            for (helper, part) in helpers.into_iter().zip(pids.chunks(chunk).skip(1)) {
                match helper.map(|h| h.join()) {
                    Some(Ok(Some(found))) => parts.push(found),
                    _ => left.push(part),
                }
            }
            for part in left {
                parts.push(read_processes_with(&mut self.scanner, part, with_fds));
            }
        });
        let mut tasks = std::collections::HashMap::new();
        let mut fds = self.options.fds.then(std::collections::HashMap::new);
        let mut sockets = self.options.sockets.then(std::collections::HashMap::new);
        for (pid, found_tasks, found_fds, found_sockets) in parts.into_iter().flatten() {
            tasks.insert(pid, found_tasks);
            if let (Some(fds), false) = (fds.as_mut(), found_fds.is_empty()) {
                fds.insert(pid, found_fds);
            }
            if let (Some(sockets), false) = (sockets.as_mut(), found_sockets.is_empty()) {
                sockets.insert(pid, found_sockets);
            }
        }
        self.model
            .apply_scan(&mut Real, tasks, fds, sockets, scan::mounts(), out);
        let lingering = self.model.settle(&mut Real, out);
        self.rescan_at = Instant::now() + self.options.rescan_interval;
        if lingering {
            self.start_rechecks();
        }
        self.ended_batch()
    }

    /// A namespace lost its last visible holder: it is asked after from 1 ms on.
    fn start_rechecks(&mut self) {
        self.recheck = Some((Instant::now() + Duration::from_millis(1), 0));
    }

    /// After a batch: arms the timer for whatever is due first.
    fn ended_batch(&mut self) -> Result<()> {
        let due = match self.recheck {
            Some((at, _)) => at.min(self.rescan_at),
            None => self.rescan_at,
        };
        sys::timer::arm(
            self.timer.as_fd(),
            due.saturating_duration_since(Instant::now()),
        )
        .map_err(|e| Error::os("timerfd_settime", e))
    }

    /// The timer fired: a rescan if due, else the rechecks.
    fn on_timer(&mut self, out: &mut Vec<InventoryEvent>) -> Result<()> {
        let now = Instant::now();
        if now >= self.rescan_at {
            return self.rescan(out);
        }
        if let Some((at, attempt)) = self.recheck {
            if now >= at {
                let lingering = self.model.recheck(&mut Real, out);
                self.recheck = (lingering && attempt + 1 < RECHECKS)
                    .then(|| (now + Duration::from_millis(2 << attempt), attempt + 1));
            }
        }
        self.ended_batch()
    }

    /// Applies one proc connector event, reading as little as it can: a new task (a thread,
    /// or a new process's only thread) is one link. After `execve` a process has exactly one
    /// thread, whose id is the process's (a thread other than the first that runs `execve`
    /// takes the process's id, and its own id goes without an exit event): one link too, and
    /// every other task the process had is dropped.
    fn apply(&mut self, event: ProcEvent, out: &mut Vec<InventoryEvent>) {
        match event {
            ProcEvent::Fork {
                child_pid,
                child_tgid,
            } => {
                let ino = self.scanner.task_inode(child_tgid, child_pid);
                self.model
                    .set_task(&mut Real, child_pid, child_tgid, ino, out);
            }
            ProcEvent::Exec { tgid, .. } => {
                let tasks = match self.scanner.task_inode(tgid, tgid) {
                    Some(ino) => vec![(tgid, ino)],
                    None => Vec::new(),
                };
                self.model.set_process(&mut Real, tgid, tasks, out);
            }
            ProcEvent::Exit { pid, tgid } => self.model.set_task(&mut Real, pid, tgid, None, out),
            ProcEvent::Ack { .. } | ProcEvent::Other => {}
        }
    }

    /// Drops what the proc connector has queued (after an overrun, before the rescan).
    fn discard_procs(&mut self) {
        let Some(fd) = self.procs.as_ref() else {
            return;
        };
        // Bounded: a storm that refills the queue as fast as it is read is left to the rescan.
        for _ in 0..100_000 {
            match sys::netlink::recv(fd.as_fd(), &mut self.buffer) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads the proc connector until it is drained or the budget is spent. Returns whether it
    /// overran.
    fn drain_procs(&mut self, out: &mut Vec<InventoryEvent>) -> Result<bool> {
        let Some(fd) = self.procs.as_ref().map(|fd| fd.as_raw_fd()) else {
            return Ok(false);
        };
        self.procs_backlog = true;
        for _ in 0..READ_BUDGET {
            // SAFETY: the fd is owned by `self.procs`, open while `self` lives.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let datagram = match sys::netlink::recv(fd, &mut self.buffer) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.procs_backlog = false;
                    return Ok(false);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(true),
                Err(e) => return Err(Error::os("recv proc connector", e)),
            };
            if datagram.sender != 0 || datagram.truncated {
                continue; // only the kernel speaks here, in messages far below the buffer
            }
            let bytes = &self.buffer[..datagram.len];
            let events: Vec<ProcEvent> = messages(bytes)
                .map_while(|m| m.ok())
                .filter_map(|m| procs::parse(m.payload).ok())
                .collect();
            for event in events {
                self.apply(event, out);
            }
        }
        Ok(false)
    }
}

impl Pump for State {
    type Event = InventoryEvent;

    fn pump(&mut self, ready: &[Token], queue: &mut VecDeque<InventoryEvent>) -> Result<()> {
        let mut out = Vec::new();
        let result = self.pump_into(ready, &mut out);
        // What was found before a failure is the model's memory already: reported, whatever
        // the failure.
        queue.extend(out);
        if result.is_err() {
            // The timerfd is edge-triggered: re-armed even then, or rescans would stop.
            let _ = self.ended_batch();
        }
        result
    }

    fn has_backlog(&self) -> bool {
        self.procs_backlog
    }
}

impl State {
    fn pump_into(&mut self, ready: &[Token], out: &mut Vec<InventoryEvent>) -> Result<()> {
        // Read first: a failure below must not leave an expiry unread.
        let timer_fired = ready.contains(&TIMER)
            && sys::timer::take(self.timer.as_fd()).map_err(|e| Error::os("read timerfd", e))?;
        let overran = if ready.contains(&PROCS) || self.procs_backlog {
            self.drain_procs(out)?
        } else {
            false
        };
        if ready.contains(&MOUNTS) {
            self.model.set_mounts(&mut Real, scan::mounts(), out);
        }
        if overran {
            out.push(InventoryEvent::Overrun);
            // What was queued is stale (the rescan supersedes it, and an exit queued long ago
            // could name a pid reused since): dropped, then start from what is there now.
            self.discard_procs();
            self.procs_backlog = false;
            self.rescan(out)?;
            out.push(InventoryEvent::Rescanned);
            return Ok(());
        }
        let newly_unheld = self.model.settle(&mut Real, out);
        if newly_unheld {
            self.start_rechecks();
            self.ended_batch()?;
        }
        if timer_fired {
            self.on_timer(out)?;
        }
        Ok(())
    }
}
