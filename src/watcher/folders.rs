//! Which folders a watcher watches: the ones given, the runtimes' (see [`RUNTIME_FOLDERS`]),
//! each once, and one per user under `/run/user` (rootless Podman's `$XDG_RUNTIME_DIR/netns`)
//! as users come and go.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use inotify::WatchDescriptor;

use super::directory::{normalize, Directory, EntryKind, Look, Policy};
use super::watches::Watches;
use super::WatchEvent;
use crate::error::Result;
use crate::Name;

/// A folder a container runtime (or `ip netns`) bind-mounts network namespaces in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeFolder {
    /// The folder. With `*` as a component, one folder per directory found there (and later).
    pub path: &'static str,
    /// Who puts namespaces there.
    pub runtime: &'static str,
}

/// The folders [`WatcherOptions::runtimes`](super::WatcherOptions::runtimes) watches, in the
/// order they are watched. Where `/var/run` links to `/run` (most systems), `/run/netns` is the
/// default folder again and is watched once.
pub const RUNTIME_FOLDERS: &[RuntimeFolder] = &[
    RuntimeFolder {
        path: super::DEFAULT_NETNS_DIR,
        runtime: "ip netns; containerd's CRI plugin (cni-<uuid>); CRI-O (<uuid>)",
    },
    RuntimeFolder {
        path: "/run/netns",
        runtime: "rootful Podman (netns-<uuid>)",
    },
    RuntimeFolder {
        path: "/var/run/docker/netns",
        runtime: "Docker (<sandbox id>, and `default`: the host's own namespace)",
    },
    RuntimeFolder {
        path: "/run/containerd/io.containerd.grpc.v1.cri/netns",
        runtime: "containerd's CRI plugin with netns_mounts_under_state_dir",
    },
    RuntimeFolder {
        path: "/run/user/*/netns",
        runtime: "rootless Podman ($XDG_RUNTIME_DIR/netns of each user)",
    },
];

/// What `path` names now, for telling two spellings of one folder apart: the deepest part
/// that exists, with its links resolved, and the rest as written. (A folder whose links change
/// later is not compared again.)
pub(crate) fn resolved(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Splits a path with one `*` component into what comes before and after it.
pub(crate) fn split_pattern(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut before = PathBuf::new();
    let mut components = path.components();
    for component in components.by_ref() {
        if component.as_os_str() == "*" {
            let after: PathBuf = components.collect();
            return Some((before, after));
        }
        before.push(component);
    }
    None
}

/// One folder per subdirectory of `parent` (`/run/user/<uid>/netns`): the parent is watched
/// like any folder, with subdirectories as its entries; each one that appears gets its folder,
/// which goes (its names `Deleted`) when the subdirectory does.
#[derive(Debug)]
pub(crate) struct PerSubdirectory {
    parent: Directory,
    suffix: PathBuf,
    policy: Policy,
    /// Folders watched already in their own right (as [`resolved`] names them): a
    /// subdirectory's folder that is one of them is not watched twice.
    exclude: Vec<PathBuf>,
    children: BTreeMap<Name, Directory>,
}

impl PerSubdirectory {
    pub(crate) fn new(parent: PathBuf, suffix: PathBuf, policy: Policy) -> Self {
        let parent_policy = Policy {
            kind: EntryKind::Subdirectories,
            directory_events: false,
            ..policy
        };
        PerSubdirectory {
            parent: Directory::new(parent, parent_policy),
            suffix,
            policy,
            exclude: Vec::new(),
            children: BTreeMap::new(),
        }
    }

    /// Leaves out the subdirectories' folders that are among `exclude`.
    pub(crate) fn excluding(mut self, exclude: Vec<PathBuf>) -> Self {
        self.exclude = exclude;
        self
    }

    /// Watches the parent, then each subdirectory's folder (see [`Directory::establish`]).
    pub(crate) fn establish(
        &mut self,
        watches: &mut Watches,
        look: Look,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        for child in self.children.values_mut() {
            child.establish(watches, look, out)?;
        }
        let mut changes = VecDeque::new();
        self.parent.establish(watches, look, &mut changes)?;
        self.apply(watches, changes, look, out)
    }

    /// Handles one inotify event (see [`Directory::on_event`]).
    pub(crate) fn on_event(
        &mut self,
        watches: &mut Watches,
        wd: &WatchDescriptor,
        mask: inotify::EventMask,
        name: Option<&std::ffi::OsStr>,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        let mut changes = VecDeque::new();
        self.parent
            .on_event(watches, wd, mask, name, &mut changes)?;
        for child in self.children.values_mut() {
            child.on_event(watches, wd, mask, name, out)?;
        }
        self.apply(watches, changes, Look::Again, out)
    }

    /// After a mount-table change (see [`Directory::revalidate`]).
    pub(crate) fn revalidate(
        &mut self,
        watches: &mut Watches,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        let mut changes = VecDeque::new();
        self.parent.revalidate(watches, &mut changes)?;
        self.apply(watches, changes, Look::Again, out)?;
        for child in self.children.values_mut() {
            child.revalidate(watches, out)?;
            child.recheck_pending(out);
        }
        Ok(())
    }

    /// Adds and drops the folders of subdirectories the parent reported.
    fn apply(
        &mut self,
        watches: &mut Watches,
        changes: VecDeque<WatchEvent>,
        look: Look,
        out: &mut VecDeque<WatchEvent>,
    ) -> Result<()> {
        for change in changes {
            match change {
                WatchEvent::Created { name, .. } => {
                    let path =
                        normalize(&self.parent.path().join(name.as_os_str()).join(&self.suffix))?;
                    if self.exclude.contains(&resolved(&path)) {
                        continue;
                    }
                    let mut child = Directory::new(path, self.policy);
                    child.establish(watches, look, out)?;
                    self.children.insert(name, child);
                }
                WatchEvent::Deleted { name, .. } => {
                    if let Some(child) = self.children.remove(&name) {
                        child.close(out);
                    }
                }
                // The parent's own troubles are not about a folder of namespaces.
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `wd` is one this set relies on.
    pub(crate) fn relies_on(&self, wd: &WatchDescriptor) -> bool {
        self.parent.relies_on(wd) || self.children.values().any(|c| c.relies_on(wd))
    }

    /// The folders of the subdirectories there are now.
    pub(crate) fn folders(&self) -> impl Iterator<Item = &Directory> {
        self.children.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_splits_at_its_star() {
        let (before, after) = split_pattern(Path::new("/run/user/*/netns")).unwrap();
        assert_eq!(before, PathBuf::from("/run/user"));
        assert_eq!(after, PathBuf::from("netns"));
        assert!(split_pattern(Path::new("/var/run/netns")).is_none());
    }

    #[test]
    fn resolved_follows_links_in_the_part_that_exists() {
        let dir = std::env::temp_dir().join(format!("nsmon-u-{}-resolved", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let real = std::fs::canonicalize(dir.join("real")).unwrap();
        let (through_link, direct) = (resolved(&dir.join("link/a/b")), resolved(&dir.join("real")));
        // Removed before the checks, so that a failed one leaves nothing behind.
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(through_link, real.join("a/b"));
        assert_eq!(direct, real);
    }
}
