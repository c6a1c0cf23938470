//! The watcher's memory of the directory: which names were reported (with the identity of the
//! namespace each one was), which wait to become namespaces. Pure bookkeeping, no I/O, so that
//! the no-duplicate / no-orphan rules are tested on their own.
//!
//! Rules: a name is reported `Created` only when it is not known, and `Deleted` only when it is;
//! so for each name the events alternate, starting with `Created` (or a listed name). A known
//! name that is no longer a namespace (unmounted, its file left in place) is `Deleted` and waits
//! as pending; one that is now another namespace (another identity) is `Deleted`, then
//! `Created`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use super::WatchEvent;
use crate::{Name, NetnsId};

/// What a directory entry is right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// It can be reported: a namespace, with its identity (or any file, with the readiness
    /// check off: no identity).
    Ready(Option<NetnsId>),
    /// It exists but is not a namespace (yet: the bind mount has not happened, or no more: it
    /// was unmounted).
    NotYet,
    /// It is not there (any more), or is something never reported, like a directory.
    Absent,
}

/// What [`Entries::reconcile`] does with the names it did not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewNames {
    /// Each is `Created`.
    Report,
    /// Each is remembered silently (the first listing, when existing names are not listed).
    Remember,
}

#[derive(Debug)]
pub(crate) struct Entries {
    /// The directory, named in every event.
    dir: Arc<Path>,
    /// Reported names, and the identity of the namespace each one was when reported.
    known: HashMap<Name, Option<NetnsId>>,
    pending: HashSet<Name>,
}

impl Entries {
    pub(crate) fn new(dir: Arc<Path>) -> Self {
        Entries {
            dir,
            known: HashMap::new(),
            pending: HashSet::new(),
        }
    }

    fn created(&self, name: &Name, id: Option<NetnsId>) -> WatchEvent {
        WatchEvent::Created {
            dir: self.dir.clone(),
            name: name.clone(),
            id,
        }
    }

    /// A name was created or moved in; `readiness` is what it is now.
    pub(crate) fn appeared(
        &mut self,
        name: &Name,
        readiness: Readiness,
        out: &mut VecDeque<WatchEvent>,
    ) {
        if self.known.contains_key(name) {
            return;
        }
        match readiness {
            Readiness::Ready(id) => {
                self.pending.remove(name);
                self.known.insert(name.clone(), id);
                out.push_back(self.created(name, id));
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
        if let Some(id) = self.known.remove(name) {
            out.push_back(WatchEvent::Deleted {
                dir: self.dir.clone(),
                name: name.clone(),
                id,
            });
        }
    }

    /// Whether any entry waits to become a namespace.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether any name is known.
    pub(crate) fn has_known(&self) -> bool {
        !self.known.is_empty()
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

    /// Looks again at the known names (after a mount change): one that is not a namespace any
    /// more is `Deleted` (and pending, should a namespace be mounted there again); one that is
    /// another namespace now is `Deleted`, then `Created`.
    pub(crate) fn recheck_known(
        &mut self,
        mut classify: impl FnMut(&Name) -> Readiness,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let mut names: Vec<Name> = self.known.keys().cloned().collect();
        names.sort_unstable();
        for name in names {
            let was = self.known.get(&name).copied().flatten();
            match classify(&name) {
                Readiness::Ready(id) if id.is_none() || was.is_none() || id == was => {}
                readiness => {
                    self.removed(&name, out);
                    self.appeared(&name, readiness, out);
                }
            }
        }
    }

    /// Makes the memory match a fresh listing of the directory, reporting exactly the
    /// difference: `Deleted` for known names that are gone (or are another namespace now), then
    /// `Created` for new ones (or, with [`NewNames::Remember`], remembered silently, as for an
    /// unreported initial scan).
    pub(crate) fn reconcile(
        &mut self,
        listing: Vec<(Name, Readiness)>,
        new_names: NewNames,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let mut ready = HashMap::with_capacity(listing.len());
        self.pending.clear();
        for (name, readiness) in listing {
            match readiness {
                Readiness::Ready(id) => {
                    ready.insert(name, id);
                }
                Readiness::NotYet => {
                    self.pending.insert(name);
                }
                Readiness::Absent => {}
            }
        }
        let same = |was: &Option<NetnsId>, now: &Option<NetnsId>| {
            was.is_none() || now.is_none() || was == now
        };
        let mut gone: Vec<Name> = self
            .known
            .iter()
            .filter(|(name, was)| ready.get(*name).map_or(true, |now| !same(was, now)))
            .map(|(name, _)| name.clone())
            .collect();
        gone.sort_unstable();
        for name in gone {
            self.removed(&name, out);
        }
        let mut new: Vec<(Name, Option<NetnsId>)> = ready
            .into_iter()
            .filter(|(name, _)| !self.known.contains_key(name))
            .collect();
        new.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, id) in new {
            if new_names == NewNames::Report {
                out.push_back(self.created(&name, id));
            }
            self.known.insert(name, id);
        }
    }

    /// The directory is gone: every known name is reported `Deleted`, pending ones forgotten.
    pub(crate) fn forget_all(&mut self, out: &mut VecDeque<WatchEvent>) {
        self.reconcile(Vec::new(), NewNames::Remember, out);
    }

    /// The names currently known with their identities, sorted by name.
    pub(crate) fn known(&self) -> Vec<(Name, Option<NetnsId>)> {
        let mut known: Vec<(Name, Option<NetnsId>)> =
            self.known.iter().map(|(n, id)| (n.clone(), *id)).collect();
        known.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        known
    }

    /// The names currently known, sorted.
    pub(crate) fn names(&self) -> Vec<Name> {
        self.known().into_iter().map(|(name, _)| name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetnsId;
    use Readiness::*;

    /// The events without their directory and identity (checked on their own below).
    fn names(events: VecDeque<WatchEvent>) -> Vec<String> {
        events
            .into_iter()
            .map(|event| match event {
                WatchEvent::Created { name, .. } => format!("+{name}"),
                WatchEvent::Deleted { name, .. } => format!("-{name}"),
                other => format!("{other:?}"),
            })
            .collect()
    }
    fn created(name: &str) -> String {
        format!("+{name}")
    }
    fn deleted(name: &str) -> String {
        format!("-{name}")
    }
    fn entries() -> Entries {
        Entries::new(Path::new("/nsmon-u").into())
    }
    fn n(name: &str) -> Name {
        name.into()
    }

    #[test]
    fn create_is_reported_once() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.appeared(&n("a"), Ready(None), &mut out);
        e.appeared(&n("a"), Ready(None), &mut out);
        assert_eq!(names(out), vec![created("a")]);
    }

    #[test]
    fn delete_without_create_is_silent() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.removed(&n("never-seen"), &mut out);
        e.appeared(&n("p"), NotYet, &mut out);
        e.removed(&n("p"), &mut out);
        assert!(out.is_empty());
        assert!(!e.has_pending());
    }

    #[test]
    fn pending_entry_is_created_once_ready() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.appeared(&n("p"), NotYet, &mut out);
        assert!(out.is_empty() && e.has_pending());
        e.recheck_pending(|_| NotYet, &mut out);
        assert!(out.is_empty());
        e.recheck_pending(|_| Ready(None), &mut out);
        assert_eq!(names(out), vec![created("p")]);
        assert!(!e.has_pending());
    }

    #[test]
    fn reconcile_reports_exactly_the_difference() {
        let mut e = entries();
        let mut out = VecDeque::new();
        for name in ["a", "b", "c"] {
            e.appeared(&n(name), Ready(None), &mut out);
        }
        out.clear();
        let listing = vec![
            (n("b"), Ready(None)),
            (n("d"), Ready(None)),
            (n("e"), NotYet),
        ];
        e.reconcile(listing, NewNames::Report, &mut out);
        assert_eq!(names(out), vec![deleted("a"), deleted("c"), created("d")]);
        assert_eq!(e.names(), vec![n("b"), n("d")]);
        assert!(e.has_pending());
    }

    fn id(n: u64) -> Readiness {
        Ready(Some(NetnsId {
            id: Some(n),
            dev: 4,
            ino: 4026531840,
        }))
    }

    #[test]
    fn an_unmounted_or_replaced_namespace_is_deleted_at_once() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.appeared(&n("a"), id(1), &mut out);
        e.appeared(&n("b"), id(2), &mut out);
        e.appeared(&n("c"), id(3), &mut out);
        out.clear();
        // a: unmounted, its file left; b: the same; c: another namespace (same inode number).
        e.recheck_known(
            |name| match name.as_bytes() {
                b"a" => NotYet,
                b"b" => id(2),
                _ => id(30),
            },
            &mut out,
        );
        assert_eq!(
            names(out.split_off(0)),
            vec![deleted("a"), deleted("c"), created("c")]
        );
        assert!(e.has_pending(), "the file left behind waits for a mount");
        e.recheck_pending(|_| id(4), &mut out);
        assert_eq!(names(out.split_off(0)), vec![created("a")]);
        // A listing finds the same: a replaced namespace is gone, then new.
        e.reconcile(
            vec![(n("a"), id(4)), (n("b"), id(20)), (n("c"), id(30))],
            NewNames::Report,
            &mut out,
        );
        assert_eq!(names(out), vec![deleted("b"), created("b")]);
    }

    #[test]
    fn silent_reconcile_remembers_without_reporting() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.reconcile(vec![(n("a"), Ready(None))], NewNames::Remember, &mut out);
        assert!(out.is_empty());
        e.removed(&n("a"), &mut out);
        assert_eq!(names(out), vec![deleted("a")]);
    }

    #[test]
    fn forget_all_deletes_every_known_name() {
        let mut e = entries();
        let mut out = VecDeque::new();
        e.appeared(&n("b"), Ready(None), &mut out);
        e.appeared(&n("a"), Ready(None), &mut out);
        e.appeared(&n("p"), NotYet, &mut out);
        out.clear();
        e.forget_all(&mut out);
        assert_eq!(names(out), vec![deleted("a"), deleted("b")]);
        assert!(!e.has_pending());
        assert!(e.names().is_empty());
    }
}
