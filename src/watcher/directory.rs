//! Keeping an inotify watch on the namespace directory through its whole life.
//!
//! The directory may not exist yet, may be deleted, moved away or replaced. [`Directory`] keeps
//! one watch: on the directory itself when it exists, otherwise on its deepest existing ancestor,
//! waiting for the next path component to appear. Every transition goes through
//! [`Directory::establish`], which adds the new watch FIRST and only then lists, so nothing
//! created in between is lost; [`Entries`] removes the duplicates that this order can produce.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use inotify::{EventMask, WatchDescriptor, WatchMask};

use super::entries::{Entries, NewNames, Readiness};
use super::watches::Watches;
use super::WatchEvent;
use crate::error::{Error, Result};
use crate::name::name_problem;
use crate::netns::{is_network_namespace, NetnsId};
use crate::sys;
use crate::Name;
use std::os::fd::AsFd;

/// Events on the watched directory (the namespace directory, or an ancestor while it is
/// missing): entries coming and going, and the watched directory's own disappearance. An
/// ancestor needs the same set: the next component may appear or vanish as a file or a directory.
fn watch_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

/// Self events after which a watch no longer describes the path it was added for.
fn lost_mask() -> EventMask {
    EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED | EventMask::UNMOUNT
}

/// Which look at a folder this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// The first, when the watcher starts: what is there is reported only with `report`
    /// (`list_existing`), else remembered silently.
    First { report: bool },
    /// Any later one (the folder appeared, was lost or re-pointed, or after an overflow):
    /// exactly the difference is reported.
    Again,
}

impl Look {
    fn new_names(self) -> NewNames {
        match self {
            Look::First { report: false } => NewNames::Remember,
            _ => NewNames::Report,
        }
    }
}

/// Bound on consecutive re-establish attempts while the tree changes under us.
const MAX_ATTEMPTS: usize = 64;

/// Where the one watch currently is.
#[derive(Debug)]
enum Anchor {
    /// On the directory itself.
    Dir(WatchDescriptor),
    /// On the deepest existing ancestor, waiting for the component `next` inside it.
    Ancestor { wd: WatchDescriptor, next: OsString },
}

/// How entries are judged ready to report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Report an entry only once it is an nsfs mount (else any non-directory entry).
    pub(crate) require_namespace: bool,
    /// Report `DirectoryCreated` / `DirectoryDeleted`.
    pub(crate) directory_events: bool,
    /// What the entries are.
    pub(crate) kind: EntryKind,
}

/// What a directory's entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// Namespace files (or plain files, without the readiness check); subdirectories are not
    /// entries.
    Files,
    /// Subdirectories only (`/run/user`: one per user, each holding a folder to watch).
    Subdirectories,
}

#[derive(Debug)]
pub(crate) struct Directory {
    path: Arc<Path>,
    policy: Policy,
    anchor: Option<Anchor>,
    /// For each component of the path that is a symbolic link: a watch on the directory that
    /// holds it, and its name there. Re-pointing, replacing or removing the link changes what
    /// the path is, and is seen there, not in the directory it pointed to.
    links: Vec<(WatchDescriptor, OsString)>,
    /// Why the directory cannot be watched now (a loop of links, no permission), once said.
    unavailable: Option<String>,
    pub(crate) entries: Entries,
}

impl Directory {
    /// `path` must be absolute and normalised (see [`normalize`]).
    pub(crate) fn new(path: PathBuf, policy: Policy) -> Self {
        let path: Arc<Path> = path.into();
        Directory {
            path: path.clone(),
            policy,
            anchor: None,
            links: Vec::new(),
            unavailable: None,
            entries: Entries::new(path),
        }
    }

    pub(crate) fn path(&self) -> &Arc<Path> {
        &self.path
    }

    /// Whether the directory exists and is watched (rather than waited for).
    pub(crate) fn is_present(&self) -> bool {
        matches!(self.anchor, Some(Anchor::Dir(_)))
    }

    /// Makes the watch match what is on disk now and reports the difference.
    ///
    /// The first look reports no directory events, and listed names only if asked. Later looks
    /// (directory appeared, lost, re-pointed, or after an overflow) always report: a directory
    /// that changed identity first loses all its names, then the new one's names are created.
    /// A directory that cannot be watched for a reason other than being missing (a loop of
    /// links, no permission, a file in its place) is reported unavailable, and waited for like
    /// a missing one.
    pub(crate) fn establish(
        &mut self,
        watches: &mut Watches,
        look: Look,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            self.watch_links(watches);
            match watches.add(&self.path, watch_mask()) {
                Ok(wd) => {
                    self.unavailable = None;
                    let same = matches!(&self.anchor, Some(Anchor::Dir(cur)) if *cur == wd);
                    if !same {
                        self.leave(out);
                        self.anchor = Some(Anchor::Dir(wd));
                        if look == Look::Again && self.policy.directory_events {
                            out.push_back(WatchEvent::DirectoryCreated {
                                dir: self.path.clone(),
                            });
                        }
                    }
                    let listing = self.list();
                    self.entries.reconcile(listing, look.new_names(), out);
                    return Ok(());
                }
                Err(e) => {
                    if self.is_present() {
                        self.leave(out);
                    }
                    // Missing is waited for silently; anything else (a loop of links, no
                    // permission, a file where the folder should be) is said once, then
                    // waited for the same way.
                    let said = e.raw_os_error() != Some(libc::ENOENT);
                    if said {
                        self.say_unavailable(format!("{}: {e}", self.path.display()), out);
                    }
                    let Some((ancestor, next)) = deepest_existing(&self.path) else {
                        // Nothing above it can be watched either: the next mount-table change
                        // tries again (see `revalidate`).
                        self.drop_ancestor();
                        return Ok(());
                    };
                    let wd = match watches.add(&ancestor, watch_mask()) {
                        Ok(wd) => wd,
                        Err(e) if is_missing(&e) => continue,
                        Err(e) => {
                            self.drop_ancestor();
                            // Said once: the folder's own error is the same cause, seen
                            // from below (no permission on the ancestor).
                            if !said {
                                let reason = format!("{}: {e}", ancestor.display());
                                self.say_unavailable(reason, out);
                            }
                            return Ok(());
                        }
                    };
                    self.anchor = Some(Anchor::Ancestor { wd, next });
                    // What appeared between the look at the path and the watch on its ancestor
                    // raised no event there: look again, and go round only if it changed (a
                    // directory now, or another error than the one just handled).
                    match watches.add(&self.path, watch_mask()) {
                        Err(again) if again.raw_os_error() == e.raw_os_error() => return Ok(()),
                        Err(again) if is_missing(&again) && is_missing(&e) => return Ok(()),
                        _ => {}
                    }
                }
            }
        }
        Err(Error::os(
            format!("watching {}", self.path.display()),
            io::Error::other("the directory tree kept changing while nsmon set up its watch"),
        ))
    }

    /// After a mount-table change: a mount can change what the path is without any inotify
    /// event, so the path is looked up again, and a different directory is taken up (an
    /// unavailable one is tried again).
    pub(crate) fn revalidate(
        &mut self,
        watches: &mut Watches,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        match &self.anchor {
            Some(Anchor::Dir(cur)) => match watches.add(&self.path, watch_mask()) {
                Ok(wd) if wd == *cur => Ok(()),
                _ => self.establish(watches, Look::Again, out),
            },
            None => self.establish(watches, Look::Again, out),
            Some(Anchor::Ancestor { .. }) => Ok(()),
        }
    }

    /// Watches the directories holding the path's links (see `links`), dropping the watches of
    /// links the path no longer has.
    fn watch_links(&mut self, watches: &mut Watches) {
        let mut wanted = Vec::new();
        let mut prefix = PathBuf::from("/");
        for component in self.path.components().skip(1) {
            prefix.push(component);
            let is_link = std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.is_symlink());
            if let (true, Some(holder), Some(name)) = (is_link, prefix.parent(), prefix.file_name())
            {
                if let Ok(wd) = watches.add(holder, watch_mask()) {
                    wanted.push((wd, name.to_os_string()));
                }
            }
        }
        // The watches no longer wanted are removed by the sweep, unless another folder
        // relies on them.
        self.links = wanted;
    }

    /// Reports that the directory cannot be watched, once per reason.
    fn say_unavailable(&mut self, reason: String, out: &mut VecDeque<WatchEvent>) {
        if self.unavailable.as_ref() != Some(&reason) {
            out.push_back(WatchEvent::DirectoryUnavailable {
                dir: self.path.clone(),
                reason: reason.clone(),
            });
            self.unavailable = Some(reason);
        }
    }

    /// Whether `wd` is one of the watches this directory relies on (see [`Watches::sweep`]).
    pub(crate) fn relies_on(&self, wd: &WatchDescriptor) -> bool {
        let anchor = match &self.anchor {
            Some(Anchor::Dir(cur)) | Some(Anchor::Ancestor { wd: cur, .. }) => Some(cur),
            None => None,
        };
        anchor == Some(wd) || self.links.iter().any(|(w, _)| w == wd)
    }

    fn drop_ancestor(&mut self) {
        if matches!(self.anchor, Some(Anchor::Ancestor { .. })) {
            self.anchor = None;
        }
    }

    /// Drops the current watch (the sweep removes it); if it was on the directory, reports its
    /// names deleted and then the directory itself.
    fn leave(&mut self, out: &mut VecDeque<WatchEvent>) {
        if let Some(Anchor::Dir(_)) = self.anchor.take() {
            self.entries.forget_all(out);
            if self.policy.directory_events {
                out.push_back(WatchEvent::DirectoryDeleted {
                    dir: self.path.clone(),
                });
            }
        }
    }

    /// Stops watching for good (a user's folder whose user went away): as if the directory
    /// were deleted.
    pub(crate) fn close(mut self, out: &mut VecDeque<WatchEvent>) {
        self.leave(out);
    }

    /// Handles one inotify event.
    pub(crate) fn on_event(
        &mut self,
        watches: &mut Watches,
        wd: &WatchDescriptor,
        mask: EventMask,
        name: Option<&std::ffi::OsStr>,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        // A link of the path changed (or the directory holding it went): the path may be
        // another directory now. Looked up again (the listing covers this event's entry too).
        let link_changed = self.links.iter().any(|(w, link)| {
            w == wd && (mask.intersects(lost_mask()) || name == Some(link.as_os_str()))
        });
        if link_changed {
            return self.establish(watches, Look::Again, out);
        }
        match &self.anchor {
            Some(Anchor::Dir(cur)) if cur == wd => {
                if mask.intersects(lost_mask()) {
                    return self.establish(watches, Look::Again, out);
                }
                let (path, policy) = (&self.path, self.policy);
                entry_event(
                    &mut self.entries,
                    policy.kind,
                    mask,
                    name,
                    |n| classify(path, policy, n),
                    out,
                );
                Ok(())
            }
            Some(Anchor::Ancestor { wd: cur, next }) if cur == wd => {
                if mask.intersects(lost_mask()) || name == Some(next.as_os_str()) {
                    self.establish(watches, Look::Again, out)
                } else {
                    Ok(())
                }
            }
            // A watch that was already replaced: its late events describe nothing current.
            _ => Ok(()),
        }
    }

    /// After a mount-table change: the entries that were not namespaces yet may be now, and the
    /// known ones may not be any more (unmounted, their file left in place, as Docker leaves a
    /// stopped container's) or may be another namespace (see [`Entries::recheck_known`]).
    pub(crate) fn recheck_pending(&mut self, out: &mut VecDeque<WatchEvent>) {
        if !self.is_present() || !(self.entries.has_pending() || self.entries.has_known()) {
            return;
        }
        let (path, policy) = (&self.path, self.policy);
        // New namespaces first: their `Created` need not wait for a look at every known one.
        self.entries
            .recheck_pending(|name| classify(path, policy, name), out);
        self.entries
            .recheck_known(|name| classify(path, policy, name), out);
    }

    fn classify(&self, name: &Name) -> Readiness {
        classify(&self.path, self.policy, name)
    }

    /// The directory's reportable entries and what each is now. A directory that vanished while
    /// being listed lists as empty; its DELETE_SELF event follows.
    fn list(&self) -> Vec<(Name, Readiness)> {
        let Ok(dir) = std::fs::read_dir(&self.path) else {
            return Vec::new();
        };
        let mut listing = Vec::new();
        for entry in dir.flatten() {
            let name = Name::from(entry.file_name().as_os_str());
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if name_problem(name.as_bytes()).is_some()
                || is_dir != (self.policy.kind == EntryKind::Subdirectories)
            {
                continue;
            }
            let readiness = self.classify(&name);
            listing.push((name, readiness));
        }
        listing
    }
}

/// What one inotify event about an entry of the watched directory means for the entries: the
/// part of `on_event` that does no I/O but `classify`, kept apart so that it can be fuzzed.
/// Entries of the other kind (directories, in a folder of files), names that cannot be a
/// namespace's (`.`, `..`, none), and other masks are ignored. Names are bytes: one that is not
/// UTF-8 is reported like any other.
pub(crate) fn entry_event(
    entries: &mut Entries,
    kind: EntryKind,
    mask: EventMask,
    name: Option<&std::ffi::OsStr>,
    classify: impl FnOnce(&Name) -> Readiness,
    out: &mut VecDeque<WatchEvent>,
) {
    if mask.contains(EventMask::ISDIR) != (kind == EntryKind::Subdirectories) {
        return;
    }
    let Some(name) = name.map(Name::from) else {
        return;
    };
    if name_problem(name.as_bytes()).is_some() {
        return;
    }
    if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
        entries.appeared(&name, classify(&name), out);
    } else if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
        entries.removed(&name, out);
    }
}

/// What the entry `name` in `dir` is right now. With the readiness check, the entry itself is
/// opened (without blocking, without following a link: see [`sys::open_nsfs`]) and only a
/// network namespace is ready; another kind of namespace (a uts bind mount, say), a link or any
/// other file is not, and is looked at again when the mount table changes.
fn classify(dir: &Path, policy: Policy, name: &Name) -> Readiness {
    let path = dir.join(name.as_os_str());
    if policy.kind == EntryKind::Subdirectories {
        return match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Readiness::Ready(None),
            _ => Readiness::Absent,
        };
    }
    if policy.require_namespace {
        match sys::open_nsfs(&path, sys::Links::Refuse) {
            Ok(fd) if is_network_namespace(fd.as_fd()) => {
                Readiness::Ready(NetnsId::of(fd.as_fd()).ok())
            }
            Ok(_) => Readiness::NotYet,
            Err(e) if is_missing(&e) => Readiness::Absent,
            // A link, or unreadable for now: keep it pending, a later mount change looks again.
            Err(_) => Readiness::NotYet,
        }
    } else {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Readiness::Absent,
            Ok(_) => Readiness::Ready(None),
            Err(e) if is_missing(&e) => Readiness::Absent,
            Err(_) => Readiness::NotYet,
        }
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// The deepest ancestor of `path` that is an existing directory, and the component below it
/// (`None` when not even `/` can be looked at).
fn deepest_existing(path: &Path) -> Option<(PathBuf, OsString)> {
    let mut next = path.file_name();
    let mut dir = path.parent();
    while let (Some(d), Some(n)) = (dir, next) {
        if d.is_dir() {
            return Some((d.to_path_buf(), n.to_os_string()));
        }
        next = d.file_name();
        dir = d.parent();
    }
    None
}

/// Makes `path` absolute (relative to the current directory) and resolves `.` and `..`
/// lexically, so that walking up to an ancestor is well defined.
pub(crate) fn normalize(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(Error::InvalidArgument("the directory path is empty".into()));
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::os("getcwd", e))?
            .join(path)
    };
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if out.parent().is_none() {
        return Err(Error::InvalidArgument(
            "the directory cannot be the root directory".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/var/run/./x/../netns")).unwrap(),
            PathBuf::from("/var/run/netns")
        );
        assert!(normalize(Path::new("")).is_err());
        assert!(normalize(Path::new("/")).is_err());
        assert!(normalize(Path::new("/a/..")).is_err());
        assert!(normalize(Path::new("rel")).unwrap().is_absolute());
    }

    #[test]
    fn deepest_existing_walks_up() {
        let (dir, next) = deepest_existing(Path::new("/proc/nsmon-none/a/b")).unwrap();
        assert_eq!(dir, PathBuf::from("/proc"));
        assert_eq!(next, OsString::from("nsmon-none"));
    }
}
