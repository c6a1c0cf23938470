//! The namespace watcher: named network namespaces appearing and disappearing in folders (by
//! default `/var/run/netns`; any number of them, the container runtimes' with
//! [`WatcherOptions::runtimes`]), reported through one pollable fd. Every event names its
//! folder, and a namespace's events carry its identity ([`NetnsId`]: the kernel's never-reused
//! `NS_GET_ID` id beside the nsfs inode).
//!
//! How it stays exact (for each folder; one inotify instance serves them all, see `watches`):
//! - **Watch first, then list.** The inotify watch is in place before the directory is read, so
//!   a namespace created in between is seen twice at worst, and the watcher's memory of known
//!   names drops the duplicate. Every `Deleted` matches an earlier `Created` or listed name.
//! - **Readiness.** `ip netns add` creates an empty file, then bind-mounts the namespace onto it
//!   (about half a millisecond later) with no inotify event for the mount. An entry is reported
//!   only once it is a network namespace: opened without blocking and without following a link,
//!   it must be nsfs and of type `CLONE_NEWNET` (another kind of namespace, a link, a FIFO are
//!   never reported). Until then it is pending, and is looked at again whenever
//!   `/proc/self/mountinfo` reports a mount-table change in this mount namespace (an edge-triggered
//!   wake-up; see `handle::register_mount_table` for why not `POLLPRI`). This works on every kernel nsmon
//!   supports; fanotify's mount events (Linux 6.15+) would say the same thing on fewer kernels and
//!   need `CAP_SYS_ADMIN`, so nsmon does not use them. Mounts made in another mount namespace that
//!   does not propagate to the watcher's are not seen.
//! - **Directory lifecycle.** A missing directory is waited for on its deepest existing ancestor;
//!   when it appears, it is watched and then listed. When it is deleted or moved away, its names
//!   are reported `Deleted` and the watcher goes back to waiting. A path through symbolic links
//!   follows them as they change: the directories holding the links are watched too, and the
//!   path is looked up again when a link changes and when the mount table does. A directory that
//!   cannot be watched (a loop of links, no permission) is `DirectoryUnavailable`, waited for
//!   like a missing one, never an error that ends the watcher.
//! - **Overflow.** When the inotify queue overflows, an `Overflow` event is reported, then every
//!   folder is listed again and exactly the difference is reported.
//! - **Each folder once.** Folders are compared by what they name when the watcher starts
//!   (dots and links resolved), so `/run/netns` where `/var/run` links to `/run` is the default
//!   folder again; a pattern's subdirectory that is a folder given in its own right is not
//!   watched twice either.

pub(crate) mod directory;
pub(crate) mod entries;
mod folders;
mod watches;

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use inotify::Inotify;
use mio::{Registry, Token};
use std::os::fd::AsRawFd;

use crate::error::{Error, Result};
use crate::handle::{handle_api, register_mount_table, register_readable, Core, Pump};
use crate::{Name, NetnsId};
use directory::{normalize, Directory, EntryKind, Look, Policy};
use folders::{resolved, split_pattern, PerSubdirectory};
pub use folders::{RuntimeFolder, RUNTIME_FOLDERS};
use watches::Watches;

pub use crate::netns::DEFAULT_NETNS_DIR;

/// What a [`Watcher`] reports. Every event but `Overflow` names the folder it is about, as the
/// watcher watches it (absolute, normalised; see [`WatcherOptions::dir`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A named namespace appeared (and is mounted, unless the readiness check is off).
    Created {
        /// The folder it is in.
        dir: Arc<Path>,
        /// Its name: the file name in the folder, as bytes (any but `/` and NUL).
        name: Name,
        /// Its namespace's identity (`None` only with [`WatcherOptions::any_file`]).
        id: Option<NetnsId>,
    },
    /// A named namespace that was reported (or listed) disappeared: its file went, or its
    /// namespace was unmounted with the file left in place (as Docker leaves a stopped
    /// container's for up to a minute), or another namespace is mounted there now (a
    /// `Created` with another identity follows).
    Deleted {
        /// The folder it was in.
        dir: Arc<Path>,
        /// Its name.
        name: Name,
        /// The identity it was reported `Created` (or listed) with.
        id: Option<NetnsId>,
    },
    /// A watched folder appeared (only with [`WatcherOptions::directory_events`]).
    DirectoryCreated {
        /// The folder.
        dir: Arc<Path>,
    },
    /// A watched folder was deleted or moved away (only with
    /// [`WatcherOptions::directory_events`]); the `Deleted` events of its names come first.
    DirectoryDeleted {
        /// The folder.
        dir: Arc<Path>,
    },
    /// A folder cannot be watched now for a reason other than being missing: a loop of
    /// symbolic links, no permission, a file where the folder should be. Its names were
    /// reported `Deleted` (if it was watched); it is waited for like a missing one, and taken
    /// up again (`DirectoryCreated`, then its names) once it can be. Reported whatever
    /// [`WatcherOptions::directory_events`] says, once per reason.
    DirectoryUnavailable {
        /// The folder.
        dir: Arc<Path>,
        /// Why, with the path.
        reason: String,
    },
    /// The kernel's inotify queue (one for all the folders) overflowed and events were lost.
    /// The watcher has listed every folder again; the `Created`/`Deleted` events that follow
    /// are exactly the difference. (inotify keeps no count of what it dropped, so none is
    /// given.)
    Overflow,
}

/// A namespace a [`Watcher`] knows now: listed or reported `Created`, not yet `Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchedNetns {
    /// The folder it is in.
    pub dir: Arc<Path>,
    /// Its name there.
    pub name: Name,
    /// Its identity (`None` only with [`WatcherOptions::any_file`]).
    pub id: Option<NetnsId>,
}

/// A folder a [`Watcher`] watches, and whether it exists now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchedDir {
    /// The folder, absolute and normalised.
    pub path: Arc<Path>,
    /// Whether it exists and is watched now (rather than waited for), as far as the events
    /// read so far tell.
    pub present: bool,
}

/// How to build a [`Watcher`].
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    dirs: Vec<PathBuf>,
    runtimes: bool,
    list_existing: bool,
    require_namespace: bool,
    directory_events: bool,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            dirs: Vec::new(),
            runtimes: false,
            list_existing: false,
            require_namespace: true,
            directory_events: false,
        }
    }
}

impl WatcherOptions {
    /// Default options: `/var/run/netns`, no listing, readiness check on, no directory events.
    pub fn new() -> Self {
        Self::default()
    }

    /// A folder to watch; call it once per folder. The first one given replaces the default
    /// ([`DEFAULT_NETNS_DIR`]). A folder need not exist. A relative path is resolved against
    /// the current directory when the watcher is created. A component `*` stands for every
    /// subdirectory there, now and later (`/run/user/*/netns`: one folder per user). The same
    /// folder given twice, or under two spellings (`.`, `..`, or links: `/run/netns` where
    /// `/var/run` links to `/run`), is watched once, under the first spelling given; the
    /// comparison is made when the watcher is created.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push(dir.into());
        self
    }

    /// Forgets the folders given so far (back to the default unless more are given).
    pub fn clear_dirs(mut self) -> Self {
        self.dirs.clear();
        self
    }

    /// Watch every folder of [`RUNTIME_FOLDERS`] too (the default one, Docker's, containerd's,
    /// Podman's, each user's), whether it exists now or appears later. Default off.
    pub fn runtimes(mut self, on: bool) -> Self {
        self.runtimes = on;
        self
    }

    /// Report the namespaces already present as `Created` events, before any change
    /// (watch first, then list: nothing is missed or reported twice). Default off.
    pub fn list_existing(mut self, on: bool) -> Self {
        self.list_existing = on;
        self
    }

    /// Report any file, without waiting for it to be an nsfs mount. Default off; meant for
    /// directories of plain files (tests, non-`ip` layouts).
    pub fn any_file(mut self, on: bool) -> Self {
        self.require_namespace = !on;
        self
    }

    /// Report [`WatchEvent::DirectoryCreated`] and [`WatchEvent::DirectoryDeleted`]. Default off.
    pub fn directory_events(mut self, on: bool) -> Self {
        self.directory_events = on;
        self
    }

    /// The folders asked for, in order, before duplicates are dropped.
    fn requested(&self) -> Vec<PathBuf> {
        let mut dirs = self.dirs.clone();
        if self.runtimes {
            dirs.extend(RUNTIME_FOLDERS.iter().map(|f| PathBuf::from(f.path)));
        }
        if dirs.is_empty() {
            dirs.push(PathBuf::from(DEFAULT_NETNS_DIR));
        }
        dirs
    }
}

/// The folders to watch: plain ones and patterns (`*`), each once.
fn plan(
    options: &WatcherOptions,
    policy: Policy,
) -> Result<(Vec<Directory>, Vec<PerSubdirectory>)> {
    let mut plain: Vec<(PathBuf, Directory)> = Vec::new();
    let mut patterns: Vec<((PathBuf, PathBuf), PerSubdirectory)> = Vec::new();
    for dir in options.requested() {
        let path = normalize(&dir)?;
        match split_pattern(&path) {
            None => {
                let key = resolved(&path);
                if !plain.iter().any(|(k, _)| *k == key) {
                    plain.push((key, Directory::new(path, policy)));
                }
            }
            Some((parent, suffix)) => {
                if split_pattern(&suffix).is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "{}: only one `*` component is supported",
                        path.display()
                    )));
                }
                let parent = normalize(&parent)?;
                let key = (resolved(&parent), suffix.clone());
                if !patterns.iter().any(|(k, _)| *k == key) {
                    patterns.push((key, PerSubdirectory::new(parent, suffix, policy)));
                }
            }
        }
    }
    let exclude: Vec<PathBuf> = plain.iter().map(|(k, _)| k.clone()).collect();
    let patterns = patterns
        .into_iter()
        .map(|(_, p)| p.excluding(exclude.clone()))
        .collect();
    Ok((plain.into_iter().map(|(_, d)| d).collect(), patterns))
}

const INOTIFY: Token = Token(0);
const MOUNTS: Token = Token(1);

/// Size of the inotify read buffer: room for at least 15 events of the longest name.
const INOTIFY_BUFFER: usize = 4096;

/// Reads of the inotify fd one pump makes at most: a flood of directory changes cannot keep one
/// call busy for ever (the fd stays readable for the rest).
const READ_BUDGET: usize = 16;

/// The watcher's sources and state, driven by [`Core`].
struct WatchState {
    watches: Watches,
    /// `/proc/self/mountinfo`, registered for edge-triggered readability; absent with the
    /// readiness check off.
    mounts: Option<File>,
    folders: Vec<Directory>,
    patterns: Vec<PerSubdirectory>,
    buffer: Box<[u8]>,
    /// The inotify fd was left with events to read (the read budget ran out).
    inotify_backlog: bool,
    /// The mount table changed and the pending entries have not been looked at since.
    mounts_changed: bool,
}

impl WatchState {
    fn open(
        options: &WatcherOptions,
        registry: &Registry,
        queue: &mut VecDeque<WatchEvent>,
    ) -> Result<Self> {
        let policy = Policy {
            require_namespace: options.require_namespace,
            directory_events: options.directory_events,
            kind: EntryKind::Files,
        };
        let (folders, patterns) = plan(options, policy)?;
        let inotify = Inotify::init().map_err(|e| {
            let context = if e.raw_os_error() == Some(libc::EMFILE) {
                // inotify_init1 reports both limits with the same errno; name both.
                "inotify_init1 (limit: open files, or fs.inotify.max_user_instances)"
            } else {
                "inotify_init1"
            };
            Error::os(context, e)
        })?;
        register_readable(registry, inotify.as_raw_fd(), INOTIFY, "inotify")?;
        let mounts = if options.require_namespace {
            Some(register_mount_table(registry, MOUNTS)?)
        } else {
            None
        };
        let mut state = WatchState {
            watches: Watches::new(inotify),
            mounts,
            folders,
            patterns,
            buffer: vec![0; INOTIFY_BUFFER].into_boxed_slice(),
            inotify_backlog: false,
            mounts_changed: false,
        };
        state.establish_all(
            Look::First {
                report: options.list_existing,
            },
            queue,
        )?;
        Ok(state)
    }

    /// Makes every folder's watch match what is on disk (see [`Directory::establish`]).
    fn establish_all(&mut self, look: Look, out: &mut VecDeque<WatchEvent>) -> Result<()> {
        for folder in &mut self.folders {
            folder.establish(&mut self.watches, look, out)?;
        }
        for pattern in &mut self.patterns {
            pattern.establish(&mut self.watches, look, out)?;
        }
        self.sweep();
        Ok(())
    }

    /// Removes the watches no folder relies on any more.
    fn sweep(&mut self) {
        let (folders, patterns) = (&self.folders, &self.patterns);
        self.watches.sweep(|wd| {
            folders.iter().any(|f| f.relies_on(wd)) || patterns.iter().any(|p| p.relies_on(wd))
        });
    }

    /// Every folder watched now, the given ones first.
    fn all_folders(&self) -> impl Iterator<Item = &Directory> {
        self.folders
            .iter()
            .chain(self.patterns.iter().flat_map(|p| p.folders()))
    }

    /// Reads inotify until it is drained or the budget is spent, handling each event in order.
    fn drain_inotify(&mut self, out: &mut VecDeque<WatchEvent>) -> Result<()> {
        self.inotify_backlog = true;
        for _ in 0..READ_BUDGET {
            let events = match self.watches.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.inotify_backlog = false;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os("read inotify", e)),
            };
            // The events borrow the buffer: copied out, so that the folders can be changed.
            let events: Vec<_> = events
                .map(|e| (e.wd, e.mask, e.name.map(|n| n.to_os_string())))
                .collect();
            for (wd, mask, name) in events {
                if mask.contains(inotify::EventMask::Q_OVERFLOW) {
                    out.push_back(WatchEvent::Overflow);
                    self.establish_all(Look::Again, out)?;
                    continue;
                }
                let name = name.as_deref();
                for folder in &mut self.folders {
                    folder.on_event(&mut self.watches, &wd, mask, name, out)?;
                }
                for pattern in &mut self.patterns {
                    pattern.on_event(&mut self.watches, &wd, mask, name, out)?;
                }
            }
        }
        Ok(())
    }
}

impl Pump for WatchState {
    type Event = WatchEvent;

    fn pump(&mut self, ready: &[Token], out: &mut VecDeque<WatchEvent>) -> Result<()> {
        self.mounts_changed |= self.mounts.is_some() && ready.contains(&MOUNTS);
        // Directory events first, so that a mount is matched against entries already known.
        let drained = self.drain_inotify(out);
        if drained.is_ok() && self.mounts_changed && !self.inotify_backlog {
            self.mounts_changed = false;
            // A mount can change what a path is (and what its entries are) without an
            // inotify event.
            for folder in &mut self.folders {
                folder.revalidate(&mut self.watches, out)?;
                folder.recheck_pending(out);
            }
            for pattern in &mut self.patterns {
                pattern.revalidate(&mut self.watches, out)?;
            }
        }
        self.sweep();
        drained
    }

    fn has_backlog(&self) -> bool {
        self.inotify_backlog
    }
}

/// Watches folders of named network namespaces (by default `/var/run/netns`; any number of
/// them, see [`WatcherOptions::dir`] and [`WatcherOptions::runtimes`]), all through one fd.
///
/// One pollable fd ([`fd`](Self::fd)), a non-blocking [`next`](Self::next), callbacks with
/// [`dispatch`](Self::dispatch), a blocking [`wait`](Self::wait); register it in a mio `Poll`
/// directly (it is a `mio::event::Source`). See the [module docs](self) for the guarantees.
///
/// A `Watcher` is `Send` but not `Sync`: move it between threads, do not share it.
///
/// ```no_run
/// use nsmon::{Watcher, WatcherOptions, WatchEvent};
///
/// let mut watcher = Watcher::new(WatcherOptions::new().runtimes(true).list_existing(true))?;
/// while watcher.wait(None)? {
///     while let Some(event) = watcher.next()? {
///         if let WatchEvent::Created { dir, name, .. } = event {
///             println!("namespace {name} in {} is ready", dir.display());
///         }
///     }
/// }
/// # Ok::<(), nsmon::Error>(())
/// ```
#[derive(Debug)]
pub struct Watcher {
    core: Core<WatchState>,
}

impl std::fmt::Debug for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchState")
            .field("folders", &self.folders)
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// Starts watching. The watch is in place when this returns: anything that happens
    /// afterwards is reported. With [`WatcherOptions::list_existing`], the namespaces present now
    /// are queued as `Created` events first.
    pub fn new(options: WatcherOptions) -> Result<Watcher> {
        let core = Core::new(|registry, queue| WatchState::open(&options, registry, queue))?;
        Ok(Watcher { core })
    }

    /// Starts watching and returns the namespaces present now (as [`namespaces`](Self::namespaces)
    /// orders them), with the watcher.
    ///
    /// The watch is added before the listing, and later events are consistent with the list: a
    /// listed name is not reported `Created` again, and every `Deleted` is of a listed or
    /// reported name. (`options.list_existing` is ignored: the list is the return value.)
    pub fn list_and_watch(options: WatcherOptions) -> Result<(Vec<WatchedNetns>, Watcher)> {
        let watcher = Watcher::new(options.list_existing(false))?;
        let listed = watcher.namespaces();
        Ok((listed, watcher))
    }

    /// The namespaces known now: listed or reported `Created` and not yet `Deleted`; folder by
    /// folder (in the order of [`dirs`](Self::dirs)), sorted by name within each.
    pub fn namespaces(&self) -> Vec<WatchedNetns> {
        self.core
            .pump
            .all_folders()
            .flat_map(|folder| {
                let dir = folder.path().clone();
                folder
                    .entries
                    .known()
                    .into_iter()
                    .map(move |(name, id)| WatchedNetns {
                        dir: dir.clone(),
                        name,
                        id,
                    })
            })
            .collect()
    }

    /// The folders watched now: the ones given (each once), then one per subdirectory of a
    /// pattern's parent (`/run/user/<uid>/netns`) that exists now.
    pub fn dirs(&self) -> Vec<WatchedDir> {
        self.core
            .pump
            .all_folders()
            .map(|folder| WatchedDir {
                path: folder.path().clone(),
                present: folder.is_present(),
            })
            .collect()
    }
}

handle_api!(Watcher, WatchEvent);

#[cfg(test)]
mod tests;
