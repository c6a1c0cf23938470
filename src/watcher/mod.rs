//! The namespace watcher: named network namespaces appearing and disappearing in a directory
//! (by default `/var/run/netns`), reported through one pollable fd.
//!
//! How it stays exact:
//! - **Watch first, then list.** The inotify watch is in place before the directory is read, so
//!   a namespace created in between is seen twice at worst, and the watcher's memory of known
//!   names drops the duplicate. Every `Deleted` matches an earlier `Created` or listed name.
//! - **Readiness.** `ip netns add` creates an empty file, then bind-mounts the namespace onto it
//!   (about half a millisecond later) with no inotify event for the mount. An entry is reported
//!   only once it is a network namespace: opened without blocking and without following a link,
//!   it must be nsfs and of type `CLONE_NEWNET` (another kind of namespace, a link, a FIFO are
//!   never reported). Until then it is pending, and is looked at again whenever
//!   `/proc/self/mountinfo` reports a mount-table change in this mount namespace (an edge-triggered
//!   wake-up; see `WatchState::open` for why not `POLLPRI`). This works on every kernel nsmon
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
//! - **Overflow.** When the inotify queue overflows, an `Overflow` event is reported, then the
//!   directory is listed again and exactly the difference is reported.

pub(crate) mod directory;
pub(crate) mod entries;

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use inotify::Inotify;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::os::fd::AsRawFd;

use crate::error::{Error, Result};
use crate::handle::{handle_api, Core, Pump};
use crate::Name;
use directory::{normalize, Directory, Policy};

/// The directory `ip netns` keeps named namespaces in.
pub const DEFAULT_NETNS_DIR: &str = "/var/run/netns";

/// What a [`Watcher`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A named namespace appeared (and is mounted, unless the readiness check is off).
    Created {
        /// Its name: the file name in the watched directory, as bytes (any but `/` and NUL).
        name: Name,
    },
    /// A named namespace that was reported (or listed) disappeared: its file went, or its
    /// namespace was unmounted with the file left in place (as Docker leaves a stopped
    /// container's for up to a minute), or another namespace is mounted there now (a
    /// `Created` follows).
    Deleted {
        /// Its name.
        name: Name,
    },
    /// The watched directory appeared (only with [`WatcherOptions::directory_events`]).
    DirectoryCreated,
    /// The watched directory was deleted or moved away (only with
    /// [`WatcherOptions::directory_events`]); the `Deleted` events of its names come first.
    DirectoryDeleted,
    /// The directory cannot be watched now for a reason other than being missing: a loop of
    /// symbolic links, no permission. Its names were reported `Deleted` (if it was watched);
    /// it is waited for like a missing one, and taken up again (`DirectoryCreated`, then its
    /// names) once it can be. Reported whatever [`WatcherOptions::directory_events`] says, once
    /// per reason.
    DirectoryUnavailable {
        /// Why, with the path.
        reason: String,
    },
    /// The kernel's inotify queue overflowed and events were lost. The watcher has listed the
    /// directory again; the `Created`/`Deleted` events that follow are exactly the difference.
    /// (inotify keeps no count of what it dropped, so none is given.)
    Overflow,
}

/// How to build a [`Watcher`].
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    dir: PathBuf,
    list_existing: bool,
    require_namespace: bool,
    directory_events: bool,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            dir: PathBuf::from(DEFAULT_NETNS_DIR),
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

    /// The directory to watch (default [`DEFAULT_NETNS_DIR`]). It need not exist. A relative
    /// path is resolved against the current directory when the watcher is created.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
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
    inotify: Inotify,
    /// `/proc/self/mountinfo`, registered for `POLLPRI`; absent with the readiness check off.
    mounts: Option<File>,
    directory: Directory,
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
        let path = normalize(&options.dir)?;
        let mut inotify = Inotify::init().map_err(|e| {
            let context = if e.raw_os_error() == Some(libc::EMFILE) {
                // inotify_init1 reports both limits with the same errno; name both.
                "inotify_init1 (limit: open files, or fs.inotify.max_user_instances)"
            } else {
                "inotify_init1"
            };
            Error::os(context, e)
        })?;
        registry
            .register(
                &mut SourceFd(&inotify.as_raw_fd()),
                INOTIFY,
                Interest::READABLE,
            )
            .map_err(|e| Error::os("epoll_ctl inotify", e))?;
        let mounts = if options.require_namespace {
            let file = File::open("/proc/self/mountinfo")
                .map_err(|e| Error::os("open /proc/self/mountinfo", e))?;
            // Not POLLPRI: the kernel clears mountinfo's "changed" flag whenever the file is
            // polled, and a nested poll of our epoll fd (the caller's epoll, or `wait`) polls it
            // first, so the flag is gone before our epoll_wait reads it. Instead: mountinfo is
            // always readable, and edge-triggered epoll re-queues it exactly when the mount
            // namespace wakes its pollers, i.e. on every mount-table change. No read is needed.
            registry
                .register(&mut SourceFd(&file.as_raw_fd()), MOUNTS, Interest::READABLE)
                .map_err(|e| Error::os("epoll_ctl /proc/self/mountinfo", e))?;
            Some(file)
        } else {
            None
        };
        let policy = Policy {
            require_namespace: options.require_namespace,
            directory_events: options.directory_events,
        };
        let mut directory = Directory::new(path, policy);
        directory.establish(&mut inotify, true, options.list_existing, queue)?;
        Ok(WatchState {
            inotify,
            mounts,
            directory,
            buffer: vec![0; INOTIFY_BUFFER].into_boxed_slice(),
            inotify_backlog: false,
            mounts_changed: false,
        })
    }

    /// Reads inotify until it is drained or the budget is spent, handling each event in order.
    fn drain_inotify(&mut self, out: &mut VecDeque<WatchEvent>) -> Result<()> {
        self.inotify_backlog = true;
        for _ in 0..READ_BUDGET {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.inotify_backlog = false;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os("read inotify", e)),
            };
            for event in events {
                if event.mask.contains(inotify::EventMask::Q_OVERFLOW) {
                    out.push_back(WatchEvent::Overflow);
                    self.directory
                        .establish(&mut self.inotify, false, true, out)?;
                    continue;
                }
                self.directory.on_event(
                    &mut self.inotify,
                    &event.wd,
                    event.mask,
                    event.name,
                    out,
                )?;
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
        self.drain_inotify(out)?;
        if self.mounts_changed && !self.inotify_backlog {
            self.mounts_changed = false;
            // A mount can change what the path is (and what its entries are) without an
            // inotify event.
            self.directory.revalidate(&mut self.inotify, out)?;
            self.directory.recheck_pending(out);
        }
        Ok(())
    }

    fn has_backlog(&self) -> bool {
        self.inotify_backlog
    }
}

/// Watches a directory of named network namespaces (by default `/var/run/netns`).
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
/// let mut watcher = Watcher::new(WatcherOptions::new().list_existing(true))?;
/// while watcher.wait(None)? {
///     while let Some(event) = watcher.next()? {
///         if let WatchEvent::Created { name } = event {
///             println!("namespace {name} is ready");
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
            .field("directory", &self.directory)
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

    /// Starts watching and returns the namespaces present now, sorted, with the watcher.
    ///
    /// The watch is added before the listing, and later events are consistent with the list: a
    /// listed name is not reported `Created` again, and every `Deleted` is of a listed or
    /// reported name. (`options.list_existing` is ignored: the list is the return value.)
    pub fn list_and_watch(options: WatcherOptions) -> Result<(Vec<Name>, Watcher)> {
        let watcher = Watcher::new(options.list_existing(false))?;
        let names = watcher.core.pump.directory.entries.names();
        Ok((names, watcher))
    }

    /// The names known now: listed or reported `Created` and not yet `Deleted`, sorted.
    pub fn namespaces(&self) -> Vec<Name> {
        self.core.pump.directory.entries.names()
    }

    /// The watched directory, absolute.
    pub fn dir(&self) -> &Path {
        self.core.pump.directory.path()
    }

    /// Whether the directory exists now (as far as the events read so far tell).
    pub fn dir_exists(&self) -> bool {
        self.core.pump.directory.is_present()
    }
}

handle_api!(Watcher, WatchEvent);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_entries_is_read_within_a_budget_and_nothing_is_lost() {
        let dir = std::env::temp_dir().join(format!("nsmon-u-{}-budget", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let mut watcher = Watcher::new(WatcherOptions::new().dir(&dir).any_file(true)).unwrap();
        // Far more events than one budget of reads holds (16 reads of 4 KiB, 32 bytes each).
        for i in 0..3000 {
            std::fs::write(dir.join(format!("f{i:04}")), b"").unwrap();
        }
        assert!(watcher.next().unwrap().is_some());
        assert!(
            watcher.core.pump.inotify_backlog,
            "one call read the whole flood"
        );
        let readable =
            crate::sys::poll_readable(watcher.core.as_fd(), Some(std::time::Duration::ZERO));
        assert!(readable.unwrap(), "work remains but the fd is not readable");
        let mut created = 1;
        while let Some(event) = watcher.next().unwrap() {
            assert!(matches!(event, WatchEvent::Created { .. }), "{event:?}");
            created += 1;
        }
        assert_eq!(created, 3000);
        assert!(!watcher.core.pump.inotify_backlog);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
