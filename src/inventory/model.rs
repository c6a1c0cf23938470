//! The inventory's memory: every network namespace known, by nsfs inode, with what holds it
//! (tasks, mounts, fds), and the rules that turn changes of holders into events. The two things
//! it asks of the kernel (who a holder's namespace is; whether a namespace still exists) come
//! through [`Kernel`], so that the rules are tested without one.
//!
//! Rules:
//! - A namespace is reported `Appeared` once, when a holder of an inode nsmon does not know is
//!   seen (and identified: opened for a moment, `NS_GET_ID`); the report waits for the end of
//!   the batch of changes it came in, so that it lists every holder the batch found.
//! - A namespace that has lost its last visible holder is asked after: gone (its file handle no
//!   longer opens, or there is no file handle to ask and no holder) is `Gone`; still there (held
//!   by what nsmon cannot see: a socket, a mount elsewhere, an fd not yet scanned) it stays,
//!   without holders, until a rescan finds it gone.
//! - A holder of the inode of such a namespace (no visible holders) is identified again: the
//!   inode may be a new namespace's by then (inode numbers are reused), which is `Gone` for the
//!   old and `Appeared` for the new.
//! - A namespace still there without a visible holder is reported `Unheld` once (a follower
//!   that holds a socket in it lets go then, so that it can go).
//! - For each identity the events alternate `Appeared`, `Gone`; names come and go between.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{InventoryEvent, NetnsInfo};
use crate::sys::nsfs::NsHandle;
use crate::NetnsId;

/// A namespace as identified from one of its holders.
#[derive(Debug, Clone)]
pub(crate) struct Identified {
    pub(crate) id: NetnsId,
    /// Its file handle, where the kernel has them (Linux 6.18+).
    pub(crate) handle: Option<NsHandle>,
}

/// What the model asks of the kernel.
pub(crate) trait Kernel {
    /// The namespace `path` leads to, if it is (still) the one with inode `ino`.
    fn identify(&mut self, path: &Path, ino: u64) -> Option<Identified>;
    /// Whether the namespace behind `handle` still exists (`None`: the kernel cannot say, and
    /// a namespace without a visible holder is taken for gone).
    fn alive(&mut self, handle: &NsHandle) -> Option<bool>;
}

#[derive(Debug)]
struct Space {
    id: NetnsId,
    handle: Option<NsHandle>,
    /// `Unheld` was reported since its last holder went.
    unheld: bool,
    tasks: BTreeSet<u32>,
    mounts: BTreeSet<PathBuf>,
    fds: BTreeSet<(u32, u32)>,
    sockets: BTreeSet<(u32, u32)>,
}

impl Space {
    fn held(&self) -> bool {
        !(self.tasks.is_empty()
            && self.mounts.is_empty()
            && self.fds.is_empty()
            && self.sockets.is_empty())
    }
}

/// The two kinds of fd a process holds a namespace by.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// An nsfs fd of the namespace.
    Fds,
    /// A socket living in the namespace.
    Sockets,
}

impl Held {
    fn holder(self, pid: u32, fd: u32) -> Holder<'static> {
        match self {
            Held::Fds => Holder::Fd(pid, fd),
            Held::Sockets => Holder::Socket(pid, fd),
        }
    }
}

/// One holder, as the model records it.
enum Holder<'a> {
    Task(u32),
    Mount(&'a Path),
    Fd(u32, u32),
    Socket(u32, u32),
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    spaces: HashMap<u64, Space>,
    /// tid -> (tgid, inode).
    tasks: HashMap<u32, (u32, u64)>,
    /// tgid -> its tids known.
    processes: HashMap<u32, BTreeSet<u32>>,
    /// pid -> its namespace fds (fd, inode).
    fds: HashMap<u32, Vec<(u32, u64)>>,
    /// pid -> its sockets' namespaces (fd, inode), when sockets are read.
    sockets: HashMap<u32, Vec<(u32, u64)>>,
    mounts: HashMap<PathBuf, u64>,
    /// Identified in this batch, not reported yet.
    fresh: Vec<u64>,
    /// Lost a holder in this batch.
    suspects: BTreeSet<u64>,
}

impl Model {
    /// Adds `holder` of namespace `ino`, identifying the namespace through `path` when it is
    /// new (or may be: see the module's rules). False when it could not be identified (the
    /// holder went meanwhile).
    fn attach(
        &mut self,
        kernel: &mut dyn Kernel,
        ino: u64,
        path: &Path,
        holder: Holder<'_>,
        out: &mut Vec<InventoryEvent>,
    ) -> bool {
        self.attach_identified(kernel, ino, path, None, holder, out)
    }

    /// [`attach`](Self::attach), with the namespace already identified (`known`) by whoever
    /// found the holder (a socket's namespace is opened to be found at all).
    fn attach_identified(
        &mut self,
        kernel: &mut dyn Kernel,
        ino: u64,
        path: &Path,
        known: Option<Identified>,
        holder: Holder<'_>,
        out: &mut Vec<InventoryEvent>,
    ) -> bool {
        let identify = |kernel: &mut dyn Kernel| match &known {
            Some(found) => Some(found.clone()),
            None => kernel.identify(path, ino),
        };
        let unsure = self
            .spaces
            .get(&ino)
            .is_some_and(|s| !s.held() && !self.fresh.contains(&ino));
        let mut identified = None;
        if unsure {
            let Some(now) = identify(kernel) else {
                return false;
            };
            if now.id.id.is_some() && Some(now.id) != self.spaces.get(&ino).map(|s| s.id) {
                self.report_gone(ino, out);
            }
            identified = Some(now);
        }
        let space = match self.spaces.entry(ino) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let found = match identified.or_else(|| identify(kernel)) {
                    Some(found) => found,
                    None => return false,
                };
                self.fresh.push(ino);
                new.insert(Space {
                    id: found.id,
                    handle: found.handle,
                    unheld: false,
                    tasks: BTreeSet::new(),
                    mounts: BTreeSet::new(),
                    fds: BTreeSet::new(),
                    sockets: BTreeSet::new(),
                })
            }
        };
        let reported = !self.fresh.contains(&ino);
        space.unheld = false;
        match holder {
            Holder::Task(tid) => {
                space.tasks.insert(tid);
            }
            Holder::Fd(pid, fd) => {
                space.fds.insert((pid, fd));
            }
            Holder::Socket(pid, fd) => {
                space.sockets.insert((pid, fd));
            }
            Holder::Mount(point) => {
                if space.mounts.insert(point.to_path_buf()) && reported {
                    out.push(InventoryEvent::NameAdded {
                        id: space.id,
                        path: point.to_path_buf(),
                    });
                }
            }
        }
        true
    }

    fn detach(&mut self, ino: u64, holder: Holder<'_>, out: &mut Vec<InventoryEvent>) {
        let reported = !self.fresh.contains(&ino);
        let Some(space) = self.spaces.get_mut(&ino) else {
            return;
        };
        match holder {
            Holder::Task(tid) => {
                space.tasks.remove(&tid);
            }
            Holder::Fd(pid, fd) => {
                space.fds.remove(&(pid, fd));
            }
            Holder::Socket(pid, fd) => {
                space.sockets.remove(&(pid, fd));
            }
            Holder::Mount(point) => {
                if space.mounts.remove(point) && reported {
                    out.push(InventoryEvent::NameRemoved {
                        id: space.id,
                        path: point.to_path_buf(),
                    });
                }
            }
        }
        self.suspects.insert(ino);
    }

    fn report_gone(&mut self, ino: u64, out: &mut Vec<InventoryEvent>) {
        if let Some(space) = self.spaces.remove(&ino) {
            if let Some(at) = self.fresh.iter().position(|i| *i == ino) {
                // Never reported: reported now, so that Gone follows an Appeared.
                self.fresh.remove(at);
                out.push(InventoryEvent::Appeared {
                    ns: info_of(&space, ino, &self.tasks),
                });
            }
            out.push(InventoryEvent::Gone { id: space.id });
        }
    }

    /// Task `tid` of process `tgid` is in namespace `ino` now (`None`: the task is gone).
    pub(crate) fn set_task(
        &mut self,
        kernel: &mut dyn Kernel,
        tid: u32,
        tgid: u32,
        ino: Option<u64>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let old = self.tasks.get(&tid).copied();
        if old.is_some() && old == ino.map(|i| (tgid, i)) {
            return;
        }
        // The exit of a tid recorded for another process is stale: the tid was reused since.
        if ino.is_none() && old.is_some_and(|(recorded, _)| recorded != tgid) {
            return;
        }
        if let Some((old_tgid, old_ino)) = old {
            self.tasks.remove(&tid);
            self.detach(old_ino, Holder::Task(tid), out);
            // A task that only changed namespace (setns, unshare) leaves its process alive.
            let process_goes_on = ino.is_some() && old_tgid == tgid;
            if let Some(tids) = self.processes.get_mut(&old_tgid) {
                tids.remove(&tid);
                if tids.is_empty() {
                    self.processes.remove(&old_tgid);
                    if !process_goes_on {
                        // The process is gone: so are its fds and sockets.
                        self.set_fds(kernel, old_tgid, Vec::new(), out);
                        self.set_sockets(kernel, old_tgid, Vec::new(), out);
                    }
                }
            }
        }
        let Some(ino) = ino else { return };
        let path = super::scan::task_link(tgid, tid);
        if self.attach(kernel, ino, &path, Holder::Task(tid), out) {
            self.tasks.insert(tid, (tgid, ino));
            self.processes.entry(tgid).or_default().insert(tid);
        }
    }

    /// The tasks of process `tgid` are `tasks` now (tid, inode); the others it had are gone.
    pub(crate) fn set_process(
        &mut self,
        kernel: &mut dyn Kernel,
        tgid: u32,
        tasks: Vec<(u32, u64)>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let now: BTreeSet<u32> = tasks.iter().map(|(tid, _)| *tid).collect();
        let before = self.processes.get(&tgid).cloned().unwrap_or_default();
        // New tasks first, so that the process never looks gone in between (its fds stay).
        for (tid, ino) in tasks {
            self.set_task(kernel, tid, tgid, Some(ino), out);
        }
        for tid in before.difference(&now) {
            self.set_task(kernel, *tid, tgid, None, out);
        }
    }

    /// Process `pid`'s namespace fds are `fds` now (fd, inode).
    pub(crate) fn set_fds(
        &mut self,
        kernel: &mut dyn Kernel,
        pid: u32,
        fds: Vec<(u32, u64)>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let found = fds.into_iter().map(|(fd, ino)| (fd, ino, None)).collect();
        self.set_held(kernel, pid, Held::Fds, found, out);
    }

    /// Process `pid`'s sockets are in the namespaces `sockets` says now (fd, namespace).
    pub(crate) fn set_sockets(
        &mut self,
        kernel: &mut dyn Kernel,
        pid: u32,
        sockets: Vec<(u32, Identified)>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let found = sockets
            .into_iter()
            .map(|(fd, ns)| (fd, ns.id.ino, Some(ns)))
            .collect();
        self.set_held(kernel, pid, Held::Sockets, found, out);
    }

    /// Process `pid`'s fds of `kind` are `found` now (fd, inode, the namespace when whoever
    /// found it identified it already): new ones attached, gone ones detached.
    fn set_held(
        &mut self,
        kernel: &mut dyn Kernel,
        pid: u32,
        kind: Held,
        found: Vec<(u32, u64, Option<Identified>)>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let before = self.held_mut(kind).remove(&pid).unwrap_or_default();
        let now: Vec<(u32, u64)> = found.iter().map(|(fd, ino, _)| (*fd, *ino)).collect();
        let mut kept = Vec::with_capacity(now.len());
        for (fd, ino, known) in found {
            if before.contains(&(fd, ino)) {
                kept.push((fd, ino));
                continue;
            }
            let path = super::scan::fd_link(pid, fd);
            let holder = kind.holder(pid, fd);
            if self.attach_identified(kernel, ino, &path, known, holder, out) {
                kept.push((fd, ino));
            }
        }
        for &(fd, ino) in &before {
            if !now.contains(&(fd, ino)) {
                self.detach(ino, kind.holder(pid, fd), out);
            }
        }
        if !kept.is_empty() {
            self.held_mut(kind).insert(pid, kept);
        }
    }

    fn held_mut(&mut self, kind: Held) -> &mut HashMap<u32, Vec<(u32, u64)>> {
        match kind {
            Held::Fds => &mut self.fds,
            Held::Sockets => &mut self.sockets,
        }
    }

    /// After a full scan of one kind of fd holder: every process that had some and every
    /// process that has some now is set to what the scan found (`set`), in pid order.
    fn rescan_held<T>(
        &mut self,
        kernel: &mut dyn Kernel,
        kind: Held,
        mut found: HashMap<u32, Vec<T>>,
        set: fn(&mut Self, &mut dyn Kernel, u32, Vec<T>, &mut Vec<InventoryEvent>),
        out: &mut Vec<InventoryEvent>,
    ) {
        let mut pids: Vec<u32> = self.held_mut(kind).keys().copied().collect();
        pids.extend(found.keys().copied());
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            let now = found.remove(&pid).unwrap_or_default();
            set(self, kernel, pid, now, out);
        }
    }

    /// The nsfs mounts are `mounts` now (mount point -> inode).
    pub(crate) fn set_mounts(
        &mut self,
        kernel: &mut dyn Kernel,
        mounts: HashMap<PathBuf, u64>,
        out: &mut Vec<InventoryEvent>,
    ) {
        let before = std::mem::take(&mut self.mounts);
        let mut gone: Vec<(&PathBuf, &u64)> = before
            .iter()
            .filter(|(point, ino)| mounts.get(*point) != Some(ino))
            .collect();
        gone.sort();
        for (point, ino) in gone {
            self.detach(*ino, Holder::Mount(point), out);
        }
        let mut new: Vec<(&PathBuf, &u64)> = mounts
            .iter()
            .filter(|(point, ino)| before.get(*point) != Some(ino))
            .collect();
        new.sort();
        for (point, ino) in new {
            if self.attach(kernel, *ino, point, Holder::Mount(point), out) {
                self.mounts.insert(point.clone(), *ino);
            }
        }
        for (point, ino) in before {
            if mounts.get(&point) == Some(&ino) {
                self.mounts.insert(point, ino);
            }
        }
    }

    /// Forgets every task and fd not in a full scan (`tasks` of every process, `fds` of every
    /// process that has any); what the scan found is applied as for single changes.
    #[allow(clippy::too_many_arguments)] // one argument a source: naming each is the point
    pub(crate) fn apply_scan(
        &mut self,
        kernel: &mut dyn Kernel,
        tasks: HashMap<u32, Vec<(u32, u64)>>,
        fds: Option<HashMap<u32, Vec<(u32, u64)>>>,
        sockets: Option<HashMap<u32, Vec<(u32, Identified)>>>,
        mounts: HashMap<PathBuf, u64>,
        out: &mut Vec<InventoryEvent>,
    ) {
        // A namespace with holders that the kernel no longer has: its holders are stale (an fd
        // closed, a thread moved since the last scan), and its inode may be a new namespace's
        // by now. Gone, and its holders forgotten, so that the scan finds them again.
        let dead: Vec<u64> = self
            .spaces
            .iter()
            .filter(|(_, s)| {
                s.held() && s.handle.as_ref().and_then(|h| kernel.alive(h)) == Some(false)
            })
            .map(|(ino, _)| *ino)
            .collect();
        for ino in dead {
            self.forget_holders_of(ino);
            self.report_gone(ino, out);
        }
        let mut known: Vec<u32> = self.processes.keys().copied().collect();
        known.sort_unstable();
        let mut found: Vec<(u32, Vec<(u32, u64)>)> = tasks.into_iter().collect();
        found.sort_unstable_by_key(|(tgid, _)| *tgid);
        for (tgid, tasks) in &found {
            self.set_process(kernel, *tgid, tasks.clone(), out);
        }
        for tgid in known {
            if found.binary_search_by_key(&tgid, |(t, _)| *t).is_err() {
                self.set_process(kernel, tgid, Vec::new(), out);
            }
        }
        if let Some(fds) = fds {
            self.rescan_held(kernel, Held::Fds, fds, Self::set_fds, out);
        }
        if let Some(sockets) = sockets {
            self.rescan_held(kernel, Held::Sockets, sockets, Self::set_sockets, out);
        }
        self.set_mounts(kernel, mounts, out);
        // Namespaces held by nothing visible since an earlier batch: asked after again.
        self.suspect_unheld();
    }

    /// Marks every namespace without a visible holder to be asked after.
    fn suspect_unheld(&mut self) {
        let unheld = self.spaces.iter().filter(|(_, s)| !s.held());
        self.suspects.extend(unheld.map(|(ino, _)| *ino));
    }

    /// Forgets every holder recorded for namespace `ino` (without events).
    fn forget_holders_of(&mut self, ino: u64) {
        let tids: Vec<(u32, u32)> = self
            .tasks
            .iter()
            .filter(|(_, (_, i))| *i == ino)
            .map(|(tid, (tgid, _))| (*tid, *tgid))
            .collect();
        for (tid, tgid) in tids {
            self.tasks.remove(&tid);
            if let Some(set) = self.processes.get_mut(&tgid) {
                set.remove(&tid);
                if set.is_empty() {
                    self.processes.remove(&tgid);
                }
            }
        }
        for list in self.fds.values_mut().chain(self.sockets.values_mut()) {
            list.retain(|(_, i)| *i != ino);
        }
        self.fds.retain(|_, list| !list.is_empty());
        self.sockets.retain(|_, list| !list.is_empty());
        self.mounts.retain(|_, i| *i != ino);
    }

    /// Ends a batch: reports the namespaces it found (with every holder it found), then those
    /// that lost their last holder and are gone. Returns whether one became `Unheld` in it
    /// (it may be about to go: a lazy unmount, a namespace the kernel frees a moment later;
    /// see [`recheck`](Self::recheck)).
    pub(crate) fn settle(
        &mut self,
        kernel: &mut dyn Kernel,
        out: &mut Vec<InventoryEvent>,
    ) -> bool {
        for ino in std::mem::take(&mut self.fresh) {
            if let Some(space) = self.spaces.get(&ino) {
                out.push(InventoryEvent::Appeared {
                    ns: info_of(space, ino, &self.tasks),
                });
            }
        }
        let mut newly_unheld = false;
        for ino in std::mem::take(&mut self.suspects) {
            let Some(space) = self.spaces.get_mut(&ino) else {
                continue;
            };
            if space.held() {
                continue;
            }
            let alive = space.handle.as_ref().and_then(|h| kernel.alive(h));
            if alive == Some(true) {
                if !std::mem::replace(&mut space.unheld, true) {
                    newly_unheld = true;
                    out.push(InventoryEvent::Unheld { id: space.id });
                }
            } else {
                self.report_gone(ino, out);
            }
        }
        newly_unheld
    }

    /// Asks again after the namespaces without a visible holder; returns whether any is still
    /// there.
    pub(crate) fn recheck(
        &mut self,
        kernel: &mut dyn Kernel,
        out: &mut Vec<InventoryEvent>,
    ) -> bool {
        self.suspect_unheld();
        self.settle(kernel, out);
        self.spaces.values().any(|s| !s.held())
    }

    /// Every namespace known, by identity.
    pub(crate) fn namespaces(&self) -> Vec<NetnsInfo> {
        let mut all: Vec<NetnsInfo> = self
            .spaces
            .iter()
            .map(|(ino, space)| info_of(space, *ino, &self.tasks))
            .collect();
        all.sort_by_key(|n| (n.id.id, n.id.ino));
        all
    }

    /// How many namespaces are known.
    pub(crate) fn len(&self) -> usize {
        self.spaces.len()
    }
}

/// What a namespace's holders are now: processes whose main thread is in it, other threads in
/// it (of processes whose main thread is elsewhere), mount points, fds.
fn info_of(space: &Space, _ino: u64, tasks: &HashMap<u32, (u32, u64)>) -> NetnsInfo {
    let mut pids = Vec::new();
    let mut threads = Vec::new();
    for tid in &space.tasks {
        let Some((tgid, ino)) = tasks.get(tid) else {
            continue;
        };
        if tid == tgid {
            pids.push(*tid);
        } else if tasks.get(tgid).map(|(_, i)| i) != Some(ino) {
            threads.push(*tid);
        }
    }
    NetnsInfo {
        id: space.id,
        names: space.mounts.iter().cloned().collect(),
        pids,
        threads,
        fds: space.fds.iter().copied().collect(),
        sockets: space.sockets.iter().copied().collect(),
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
