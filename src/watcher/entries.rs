//! The watcher's memory of the directory: which names were reported, which wait to become
//! namespaces. Pure bookkeeping, no I/O, so that the no-duplicate / no-orphan rules are tested
//! on their own.
//!
//! Rules: a name is reported `Created` only when it is not known, and `Deleted` only when it is;
//! so for each name the events alternate, starting with `Created` (or a listed name).

use std::collections::{HashSet, VecDeque};

use super::WatchEvent;
use crate::Name;

/// What a directory entry is right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// It can be reported: a namespace (or any file, with the readiness check off).
    Ready,
    /// It exists but is not a namespace yet (the bind mount has not happened).
    NotYet,
    /// It is not there (any more), or is something never reported, like a directory.
    Absent,
}

#[derive(Debug, Default)]
pub(crate) struct Entries {
    known: HashSet<Name>,
    pending: HashSet<Name>,
}

impl Entries {
    /// A name was created or moved in; `readiness` is what it is now.
    pub(crate) fn appeared(
        &mut self,
        name: &Name,
        readiness: Readiness,
        out: &mut VecDeque<WatchEvent>,
    ) {
        if self.known.contains(name) {
            return;
        }
        match readiness {
            Readiness::Ready => {
                self.pending.remove(name);
                self.known.insert(name.clone());
                out.push_back(WatchEvent::Created { name: name.clone() });
            }
            Readiness::NotYet => {
                self.pending.insert(name.clone());
            }
            Readiness::Absent => {
                self.pending.remove(name);
            }
        }
    }

    /// A name was deleted or moved away.
    pub(crate) fn removed(&mut self, name: &Name, out: &mut VecDeque<WatchEvent>) {
        self.pending.remove(name);
        if self.known.remove(name) {
            out.push_back(WatchEvent::Deleted { name: name.clone() });
        }
    }

    /// Whether any entry waits to become a namespace.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Looks again at the entries that were not namespaces yet (after a mount change).
    pub(crate) fn recheck_pending(
        &mut self,
        mut classify: impl FnMut(&Name) -> Readiness,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let mut names: Vec<Name> = self.pending.iter().cloned().collect();
        names.sort_unstable();
        for name in names {
            match classify(&name) {
                Readiness::NotYet => {}
                readiness => self.appeared(&name, readiness, out),
            }
        }
    }

    /// Makes the memory match a fresh listing of the directory, reporting exactly the
    /// difference: `Deleted` for known names that are gone, then `Created` for new ones (only if
    /// `report_new`; otherwise they are remembered silently, as for an unreported initial scan).
    pub(crate) fn reconcile(
        &mut self,
        listing: Vec<(Name, Readiness)>,
        report_new: bool,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let mut ready = HashSet::with_capacity(listing.len());
        self.pending.clear();
        for (name, readiness) in listing {
            match readiness {
                Readiness::Ready => {
                    ready.insert(name);
                }
                Readiness::NotYet => {
                    self.pending.insert(name);
                }
                Readiness::Absent => {}
            }
        }
        let mut gone: Vec<Name> = self.known.difference(&ready).cloned().collect();
        gone.sort_unstable();
        for name in gone {
            self.removed(&name, out);
        }
        let mut new: Vec<Name> = ready.difference(&self.known).cloned().collect();
        new.sort_unstable();
        for name in new {
            if report_new {
                out.push_back(WatchEvent::Created { name: name.clone() });
            }
            self.known.insert(name);
        }
    }

    /// The directory is gone: every known name is reported `Deleted`, pending ones forgotten.
    pub(crate) fn forget_all(&mut self, out: &mut VecDeque<WatchEvent>) {
        self.reconcile(Vec::new(), false, out);
    }

    /// The names currently known, sorted.
    pub(crate) fn names(&self) -> Vec<Name> {
        let mut names: Vec<Name> = self.known.iter().cloned().collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Readiness::*;

    fn created(name: &str) -> WatchEvent {
        WatchEvent::Created { name: name.into() }
    }
    fn deleted(name: &str) -> WatchEvent {
        WatchEvent::Deleted { name: name.into() }
    }
    fn n(name: &str) -> Name {
        name.into()
    }

    #[test]
    fn create_is_reported_once() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        e.appeared(&n("a"), Ready, &mut out);
        e.appeared(&n("a"), Ready, &mut out);
        assert_eq!(Vec::from(out), vec![created("a")]);
    }

    #[test]
    fn delete_without_create_is_silent() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        e.removed(&n("never-seen"), &mut out);
        e.appeared(&n("p"), NotYet, &mut out);
        e.removed(&n("p"), &mut out);
        assert!(out.is_empty());
        assert!(!e.has_pending());
    }

    #[test]
    fn pending_entry_is_created_once_ready() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        e.appeared(&n("p"), NotYet, &mut out);
        assert!(out.is_empty() && e.has_pending());
        e.recheck_pending(|_| NotYet, &mut out);
        assert!(out.is_empty());
        e.recheck_pending(|_| Ready, &mut out);
        assert_eq!(Vec::from(out), vec![created("p")]);
        assert!(!e.has_pending());
    }

    #[test]
    fn reconcile_reports_exactly_the_difference() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        for name in ["a", "b", "c"] {
            e.appeared(&n(name), Ready, &mut out);
        }
        out.clear();
        let listing = vec![(n("b"), Ready), (n("d"), Ready), (n("e"), NotYet)];
        e.reconcile(listing, true, &mut out);
        assert_eq!(
            Vec::from(out),
            vec![deleted("a"), deleted("c"), created("d")]
        );
        assert_eq!(e.names(), vec![n("b"), n("d")]);
        assert!(e.has_pending());
    }

    #[test]
    fn silent_reconcile_remembers_without_reporting() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        e.reconcile(vec![(n("a"), Ready)], false, &mut out);
        assert!(out.is_empty());
        e.removed(&n("a"), &mut out);
        assert_eq!(Vec::from(out), vec![deleted("a")]);
    }

    #[test]
    fn forget_all_deletes_every_known_name() {
        let mut e = Entries::default();
        let mut out = VecDeque::new();
        e.appeared(&n("b"), Ready, &mut out);
        e.appeared(&n("a"), Ready, &mut out);
        e.appeared(&n("p"), NotYet, &mut out);
        out.clear();
        e.forget_all(&mut out);
        assert_eq!(Vec::from(out), vec![deleted("a"), deleted("b")]);
        assert!(!e.has_pending());
        assert!(e.names().is_empty());
    }
}
