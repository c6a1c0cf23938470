//! The inventory: every network namespace of the host, named or not, as namespaces appear and
//! go, through one pollable fd.
//!
//! The kernel announces no namespace's birth or death, so the inventory watches what holds
//! them, from several sources (each one's reach and requirement below), and asks the kernel
//! about a namespace when its last visible holder goes:
//! - **Processes and threads.** At start, every task's `/proc/PID/task/TID/ns/net`. Then the
//!   proc connector's fork, exec and exit events (`NETLINK_CONNECTOR`; needs `CAP_NET_ADMIN` in
//!   the initial user namespace and `CONFIG_PROC_EVENTS`): the tasks of a process that forked
//!   or ran `execve` are read again, an exited task is dropped. `unshare -n CMD` is seen at its
//!   `execve`. Without the connector the inventory says so ([`InventoryEvent::Degraded`],
//!   [`Inventory::degraded`]) and relies on the rescans.
//! - **Mounts.** Every nsfs mount of a network namespace in the caller's mount namespace
//!   (`/proc/self/mountinfo`), anywhere: Docker's, containerd's, Podman's, CRI-O's, `ip netns`,
//!   `unshare --net=FILE`; read again on every mount-table change. Mounts in mount namespaces
//!   that do not propagate to the caller's are not seen.
//! - **Fds.** nsfs fds of network namespaces that processes hold open (`/proc/PID/fd`), read at
//!   start, in every rescan, and dropped with their process. Optional
//!   ([`InventoryOptions::fds`], on by default): it costs one `readlink` per open fd of the host.
//! - **Rescans.** Every [`InventoryOptions::rescan_interval`] (default 5 s), all of the above is
//!   read again and the difference applied: this finds what no event announces (a process that
//!   calls `unshare(CLONE_NEWNET)` or `setns` without a later fork or exec, a thread doing so,
//!   an fd passed over a socket), at worst one interval late. (`listns()`, Linux 6.19, is not
//!   used yet.)
//! - **Sockets** (optional, [`InventoryOptions::sockets`], off by default): each socket of the
//!   host copied into this process for an instant and asked which namespace it lives in, as
//!   `lsns` does; without it a namespace held only by a socket is not seen.
//!
//! Gone means gone: when a namespace has lost its last visible holder, its nsfs file handle
//! (Linux 6.18+, kept from when it appeared; it holds nothing) is opened for a moment: `ESTALE`
//! is `Gone`. If it still opens, something nsmon cannot see holds it: it stays in the inventory,
//! with no holder listed, and is asked after again at each rescan. On kernels without nsfs file
//! handles a namespace is `Gone` when no holder nsmon can see remains. nsmon itself holds no fd
//! in any namespace it inventories (it opens one for an instant to read its id).

pub(crate) mod model;
mod procs;
pub(crate) mod scan;

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::error::{Error, Result};
use crate::handle::{handle_api, Core, Pump};
use crate::netlink::message::messages;
use crate::netns::is_network_namespace;
use crate::sys;
use crate::NetnsId;
use model::{Identified, Kernel, Model};
use procs::ProcEvent;

/// What a proc connector message was, for the fuzzers (see `fuzzing::proc_connector`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEventKind {
    /// A fork.
    Fork,
    /// An exec.
    Exec,
    /// An exit.
    Exit,
    /// Anything else the parser accepts.
    Other,
}

/// The connector parser, for the fuzzers.
pub(crate) fn procs_parse(payload: &[u8]) -> std::result::Result<ProcEventKind, ()> {
    Ok(match procs::parse(payload).map_err(|_| ())? {
        ProcEvent::Fork { .. } => ProcEventKind::Fork,
        ProcEvent::Exec { .. } => ProcEventKind::Exec,
        ProcEvent::Exit { .. } => ProcEventKind::Exit,
        ProcEvent::Ack { .. } | ProcEvent::Other => ProcEventKind::Other,
    })
}

/// The mountinfo line parser, for the fuzzers.
pub(crate) fn mount_line(line: &[u8]) -> Option<(PathBuf, u64)> {
    scan::parse_mount_line(line)
}

/// A network namespace the inventory knows, with what holds it (as far as nsmon can see).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetnsInfo {
    /// Its identity.
    pub id: NetnsId,
    /// Where it is mounted in the caller's mount namespace (its names), sorted.
    pub names: Vec<PathBuf>,
    /// The processes whose main thread is in it, sorted.
    pub pids: Vec<u32>,
    /// Other threads in it (their thread ids), of processes whose main thread is elsewhere.
    pub threads: Vec<u32>,
    /// Open fds of it: (pid, fd).
    pub fds: Vec<(u32, u32)>,
    /// Sockets that live in it: (pid, fd); only with [`InventoryOptions::sockets`].
    pub sockets: Vec<(u32, u32)>,
}

impl NetnsInfo {
    /// Paths that led to the namespace when it was listed: its names, then each holder's
    /// `/proc` link. A holder may have gone since, and a pid been reused: see
    /// [`with_fd`](Self::with_fd), which checks.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = self.names.clone();
        paths.extend(
            self.pids
                .iter()
                .chain(&self.threads)
                .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net"))),
        );
        paths.extend(self.fds.iter().map(|(pid, fd)| scan::fd_link(*pid, *fd)));
        paths
    }

    /// Opens the namespace for the duration of `f` through the first of its
    /// [`paths`](Self::paths) that still leads to it (checked by identity), so that nothing
    /// holds it afterwards. `ENOENT` when none does (it is gone, or held only by what nsmon
    /// cannot see).
    pub fn with_fd<T>(
        &self,
        f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        for path in self.paths() {
            let Ok(fd) = sys::open_nsfs_by_path(&path) else {
                continue;
            };
            if is_network_namespace(fd.as_fd()) && NetnsId::of(fd.as_fd()).ok() == Some(self.id) {
                return f(fd.as_fd());
            }
        }
        Err(Error::os(
            format!("opening namespace {:?}", self.id),
            std::io::Error::from_raw_os_error(libc::ENOENT),
        ))
    }

    /// The namespace's id as the caller's namespace sees it (`None`: none assigned).
    pub fn nsid(&self) -> Result<Option<u32>> {
        self.with_fd(|fd| crate::nsid::nsid(crate::NetnsRef::Fd(fd)))
    }
}

/// What an [`Inventory`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InventoryEvent {
    /// A network namespace is there that was not: with what holds it now. Those present when
    /// the inventory starts are reported first, each once.
    Appeared {
        /// The namespace and its holders.
        ns: NetnsInfo,
    },
    /// A namespace got a name: it was mounted at `path`.
    NameAdded {
        /// The namespace.
        id: NetnsId,
        /// The mount point.
        path: PathBuf,
    },
    /// A namespace lost a name: its mount at `path` went.
    NameRemoved {
        /// The namespace.
        id: NetnsId,
        /// The mount point.
        path: PathBuf,
    },
    /// A namespace lost its last visible holder but is still there: something nsmon cannot see
    /// holds it (a socket, a mount in another mount namespace, an fd not scanned yet), or the
    /// kernel has not freed it yet (it does so in a worker, a moment after the last holder: a
    /// namespace is often `Unheld` for a millisecond before `Gone`). Reported once until it has
    /// a visible holder again. A
    /// program that holds a socket in it only to follow it should let go now, or the namespace
    /// can never go.
    Unheld {
        /// The namespace.
        id: NetnsId,
    },
    /// A namespace is gone (see the module docs for how nsmon knows).
    Gone {
        /// The namespace.
        id: NetnsId,
    },
    /// The proc connector dropped events (its socket's buffer was full): the inventory is read
    /// again from `/proc`; [`Rescanned`](Self::Rescanned) follows the difference.
    Overrun,
    /// After an [`Overrun`](Self::Overrun): the events since it are exactly the difference
    /// between what was known and what a fresh scan found.
    Rescanned,
    /// A source is unavailable (the proc connector without `CAP_NET_ADMIN`, say): the inventory
    /// goes on with the others, and finds at the next rescan what that source would have told
    /// at once.
    Degraded {
        /// Which source, and why.
        reason: String,
    },
}

/// How to build an [`Inventory`].
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    rescan_interval: Duration,
    fds: bool,
    sockets: bool,
    proc_events: bool,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        InventoryOptions {
            rescan_interval: Duration::from_secs(5),
            fds: true,
            sockets: false,
            proc_events: true,
        }
    }
}

impl InventoryOptions {
    /// Default options: rescans every 5 s, fds read, the proc connector used.
    pub fn new() -> Self {
        Self::default()
    }

    /// How often everything is read again (default 5 s; at least 10 ms): the worst delay for
    /// what no event announces.
    pub fn rescan_interval(mut self, interval: Duration) -> Self {
        self.rescan_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Whether processes' open nsfs fds count as holders (default on).
    pub fn fds(mut self, on: bool) -> Self {
        self.fds = on;
        self
    }

    /// Whether sockets count as holders of the namespace they live in (default off: it costs a
    /// few system calls a socket of the host, at start and in every rescan; a namespace held
    /// only by a socket is seen only with it). Each socket is copied into this process for an
    /// instant to ask it (`pidfd_getfd`, Linux 5.6+, and `SIOCGSKNS`, as `lsns` does). The
    /// calling process's own sockets never count: a program that follows the namespaces it
    /// inventories (a stream's sockets) would otherwise keep each looking held.
    pub fn sockets(mut self, on: bool) -> Self {
        self.sockets = on;
        self
    }

    /// Whether the proc connector is used (default on; off: the rescans only).
    pub fn proc_events(mut self, on: bool) -> Self {
        self.proc_events = on;
        self
    }
}

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

struct State {
    options: InventoryOptions,
    procs: Option<OwnedFd>,
    /// `/proc/self/mountinfo`, registered edge-triggered (see the watcher for why not POLLPRI).
    _mounts: File,
    timer: OwnedFd,
    scanner: scan::Scanner,
    model: Model,
    degraded: Option<String>,
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
    fn open(
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
                    registry
                        .register(&mut SourceFd(&fd.as_raw_fd()), PROCS, Interest::READABLE)
                        .map_err(|e| Error::os("epoll_ctl proc connector", e))?;
                    Some(fd)
                }
                Err(e) => {
                    degraded = Some(format!("proc connector: {e}"));
                    None
                }
            }
        };
        let mounts = File::open("/proc/self/mountinfo")
            .map_err(|e| Error::os("open /proc/self/mountinfo", e))?;
        registry
            .register(
                &mut SourceFd(&mounts.as_raw_fd()),
                MOUNTS,
                Interest::READABLE,
            )
            .map_err(|e| Error::os("epoll_ctl /proc/self/mountinfo", e))?;
        let timer = sys::timer::timer().map_err(|e| Error::os("timerfd_create", e))?;
        registry
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)
            .map_err(|e| Error::os("epoll_ctl timerfd", e))?;
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
        self.ended_batch(lingering)
    }

    /// After a batch: schedules the rechecks if a namespace lingers, and arms the timer for
    /// whatever is due first.
    fn ended_batch(&mut self, lingering: bool) -> Result<()> {
        if lingering {
            self.recheck = Some((Instant::now() + Duration::from_millis(1), 0));
        }
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
        self.ended_batch(false)
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
            let _ = self.ended_batch(false);
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
            self.ended_batch(true)?;
        }
        if timer_fired {
            self.on_timer(out)?;
        }
        Ok(())
    }
}

/// Every network namespace of the host, named or not, as they appear and go.
///
/// One pollable fd ([`fd`](Self::fd)), a non-blocking [`next`](Self::next), callbacks with
/// [`dispatch`](Self::dispatch), a blocking [`wait`](Self::wait); a `mio::event::Source`. See
/// the [module docs](self) for the sources and what each can see.
///
/// ```no_run
/// use nsmon::{Inventory, InventoryEvent, InventoryOptions};
///
/// let mut inventory = Inventory::new(InventoryOptions::new())?;
/// while inventory.wait(None)? {
///     while let Some(event) = inventory.next()? {
///         match event {
///             InventoryEvent::Appeared { ns } => println!("+ {:?} pids {:?}", ns.id, ns.pids),
///             InventoryEvent::Gone { id } => println!("- {id:?}"),
///             _ => {}
///         }
///     }
/// }
/// # Ok::<(), nsmon::Error>(())
/// ```
#[derive(Debug)]
pub struct Inventory {
    core: Core<State>,
}

impl Inventory {
    /// Starts: listens to the proc connector, then scans the host. Every namespace found is
    /// queued as [`InventoryEvent::Appeared`] (after a [`InventoryEvent::Degraded`] if a source
    /// is unavailable).
    pub fn new(options: InventoryOptions) -> Result<Inventory> {
        let core = Core::new(|registry, queue| State::open(&options, registry, queue))?;
        Ok(Inventory { core })
    }

    /// Every namespace known now, with its holders, ordered by identity.
    pub fn namespaces(&self) -> Vec<NetnsInfo> {
        self.core.pump.model.namespaces()
    }

    /// Why a source is unavailable, if one is (see [`InventoryEvent::Degraded`]).
    pub fn degraded(&self) -> Option<&str> {
        self.core.pump.degraded.as_deref()
    }
}

handle_api!(Inventory, InventoryEvent);
