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
mod state;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::handle::{handle_api, Core};
use crate::netns::is_network_namespace;
use crate::sys;
use crate::NetnsId;
use procs::ProcEvent;
use state::State;

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
