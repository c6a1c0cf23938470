//! The one inotify instance every watched folder shares, and which of its watches are still
//! needed.
//!
//! inotify gives one directory one watch per instance, whoever asks: `/run` may be the ancestor
//! two missing folders wait on, and the folder a third one watches. So no folder removes a
//! watch itself; each only says which watches it relies on, and [`Watches::sweep`] removes the
//! ones nobody relies on any more, after each round of changes.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use inotify::{Inotify, WatchDescriptor, WatchMask};

#[derive(Debug)]
pub(crate) struct Watches {
    pub(crate) inotify: Inotify,
    /// Every watch added and not swept yet (some the kernel may have dropped already).
    added: HashSet<WatchDescriptor>,
}

impl Watches {
    pub(crate) fn new(inotify: Inotify) -> Self {
        Watches {
            inotify,
            added: HashSet::new(),
        }
    }

    /// Adds (or finds: the same directory gives the same descriptor) a watch on `path`.
    pub(crate) fn add(&mut self, path: &Path, mask: WatchMask) -> io::Result<WatchDescriptor> {
        let wd = self.inotify.watches().add(path, mask)?;
        self.added.insert(wd.clone());
        Ok(wd)
    }

    /// Removes every watch `in_use` does not claim.
    pub(crate) fn sweep(&mut self, in_use: impl Fn(&WatchDescriptor) -> bool) {
        let unused: Vec<WatchDescriptor> = self
            .added
            .iter()
            .filter(|wd| !in_use(wd))
            .cloned()
            .collect();
        for wd in unused {
            self.added.remove(&wd);
            // Ignored: a directory deleted or unmounted took its watch with it (EINVAL).
            let _ = self.inotify.watches().remove(wd);
        }
    }
}
