//! The multi-namespace event stream: typed rtnetlink events (links, addresses, routes,
//! neighbours, tc) from any number of network namespaces behind one pollable fd, each event
//! tagged with the caller's key for its namespace.
//!
//! - One `NETLINK_ROUTE` socket per namespace, created inside it by a short-lived helper thread
//!   (one per [`Stream::add_many`] batch; the caller's thread never changes namespace). The
//!   socket keeps the namespace alive until the key is removed. An all-nsid target
//!   ([`Stream::add_all_nsid`]) is one socket for every namespace with an id.
//! - [`Stream::add`] and [`Stream::remove`] work between polls and never block on the kernel.
//! - With [`StreamOptions::dump`], the namespace's current objects are dumped after subscribing
//!   (subscribe first, so nothing falls between the two), then `Synced` is reported. Dumps run
//!   one kind at a time on the socket, so they never collide (the kernel would answer `EBUSY`).
//! - Fair under load: sockets with data are read one datagram at a time, round robin, so a
//!   namespace flooded with changes cannot starve the others (a socket alone with data is read
//!   on in its turn, as nothing waits behind it). They are registered
//!   level-triggered, so the fd stays readable while any of them holds data, and the kernel's
//!   receive buffer (1 MiB by default) is the only queue: no unbounded copy in user space.
//! - Only the kernel is heard (sender port id 0); every length is checked, and datagrams of any
//!   size are read whole.
//! - Nothing inside a namespace can blind it. A message the typed parser cannot read (or of a
//!   type nsmon does not type) is delivered as `Unparsed`, with its bytes and the reason, and
//!   the namespace goes on. Only a failure of the socket itself gives `Error { key, .. }` and
//!   drops the namespace; the others carry on.
//! - Dumps are complete or say they are not: `Synced` follows only a round in which every dump
//!   ended without error, without the kernel's "changed while dumped" flag (`NLM_F_DUMP_INTR`;
//!   such a dump is sent again, a bounded number of times) and without notifications lost
//!   meanwhile (the round starts over). Otherwise the round ends in `SyncFailed` with the
//!   reasons.
//! - Loss is counted: when the kernel drops notifications for lack of buffer space, `Overrun`
//!   says how many (the socket's drop counter, `SO_MEMINFO`), once the messages queued before
//!   the loss have been delivered; with [`StreamOptions::resync_on_overrun`], a dump follows.
//!   A caller that clears what it knows of a namespace at `Overrun` and applies the messages
//!   that follow in order knows the namespace's state exactly at the next `Synced`.

mod borrowed;
mod dump;
mod groups;
mod options;
mod reading;
mod target;
mod targets;
pub use borrowed::{EventBatch, MessageRef, StreamEventRef};
pub(crate) use reading::{typed_message, Item};
use reading::{Arena, Limits, Read, Room, Span, Turn};

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Registry, Token};

use crate::error::{Error, Result};
use crate::handle::{handle_sources, Core, Pump};
use crate::netlink::consts::*;
use crate::netlink::message::{messages, parse_ack, Message};
use crate::netlink::socket::{group_mask, Purpose, Received, Socket, EVENT_BUFFER};
use crate::netns::{NetnsId, NetnsRef};
use crate::rtnl::{self, Rtnl};
use crate::sys;
use dump::{Round, Step};
pub use groups::Groups;
pub use options::{StreamOptions, DEFAULT_RECEIVE_BUFFER};
use target::{AllNsid, Target};
use targets::Slab;

/// What a [`Stream`] reports. Every variant carries the key of its namespace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StreamEvent {
    /// An rtnetlink object changed (or, during a dump, exists).
    Message {
        /// The namespace's key. From an all-nsid target: the key the caller added the source
        /// namespace under, if it did, else the all-nsid target's own key.
        key: Arc<str>,
        /// From an all-nsid target: the source namespace's id in the observer's namespace
        /// (`None` for the observer's own events and for every other target).
        nsid: Option<i32>,
        /// The typed message.
        message: Rtnl,
        /// The message's bytes as the kernel sent them, header included, for parsing more.
        raw: Box<[u8]>,
    },
    /// A message nsmon could not type: malformed (a length or value the typed parser refuses),
    /// of a type nsmon does not type (e.g. a tc chain), or the part of a datagram that could not
    /// be split into messages or read whole. The namespace goes on.
    Unparsed {
        /// The namespace's key (as for `Message`).
        key: Arc<str>,
        /// The source namespace's id, from an all-nsid target (as for `Message`).
        nsid: Option<i32>,
        /// Why it was not typed.
        reason: String,
        /// The bytes as received: one message, header included, or the rest of a datagram.
        raw: Box<[u8]>,
    },
    /// The initial dump (or a resync) of this namespace is complete and consistent: every
    /// object that exists was listed, and no notification was lost meanwhile.
    Synced {
        /// The namespace's key.
        key: Arc<str>,
    },
    /// The dump (or resync) ended without a complete, consistent snapshot: a dump failed (the
    /// kernel's error), or its table kept changing while it was dumped. The objects it listed
    /// were delivered; live events go on.
    SyncFailed {
        /// The namespace's key.
        key: Arc<str>,
        /// What failed, per dump.
        reason: String,
    },
    /// The kernel dropped notifications for this namespace (receive buffer full). Reported
    /// after the messages queued before the loss. With [`StreamOptions::resync_on_overrun`] (and
    /// whenever a dump was running), a dump follows, then `Synced`.
    Overrun {
        /// The namespace's key.
        key: Arc<str>,
        /// How many notifications were lost, from the socket's drop counter; `None` where the
        /// kernel does not say (before Linux 4.12).
        lost: Option<u64>,
    },
    /// This namespace's socket failed; the namespace has been removed from the stream.
    Error {
        /// The namespace's key.
        key: Arc<str>,
        /// What failed.
        error: Arc<Error>,
    },
}

impl StreamEvent {
    /// The namespace's key, as every event carries one.
    pub fn key(&self) -> &str {
        match self {
            StreamEvent::Message { key, .. }
            | StreamEvent::Unparsed { key, .. }
            | StreamEvent::Synced { key }
            | StreamEvent::SyncFailed { key, .. }
            | StreamEvent::Overrun { key, .. }
            | StreamEvent::Error { key, .. } => key,
        }
    }
}

/// Namespaces `add_many` opens at once (one helper thread each chunk): bounds the fds a large
/// batch holds beyond the sockets it creates, at a thread spawn per 256 namespaces.
const ADD_CHUNK: usize = 256;

/// How many namespaces a chunk of `add_many` may hold: half the fds free (two each at the
/// peak, a namespace fd and its socket), less a few for what the rest of the process opens
/// meanwhile, at least one (which then meets the limit with a clear EMFILE) and at most
/// [`ADD_CHUNK`]. Unknown free fds: [`ADD_CHUNK`].
fn chunk_size(free: std::io::Result<usize>) -> usize {
    const RESERVE: usize = 2;
    match free {
        Ok(free) => (free.saturating_sub(RESERVE) / 2).clamp(1, ADD_CHUNK),
        Err(_) => ADD_CHUNK,
    }
}

/// Datagrams one pump reads at most while looking for an event (messages the caller did not
/// ask for produce none), before giving the caller its turn.
const READ_BUDGET: usize = 64;

/// Events one pump queues before it stops reading (fewer when the backlog or the arena runs
/// out): each pump costs a backlog walk and a readiness check, which a pump per event paid
/// for every event, while reading ahead only keeps what the socket buffers held anyway.
const READ_AHEAD: usize = 16;

pub(crate) struct StreamState {
    registry: Registry,
    /// Targets whose socket may hold data, in the order they are read: one datagram each, round
    /// robin, so that a namespace flooded with changes cannot starve the others. Their sockets
    /// are registered level-triggered, so the fd stays readable while any of them holds data.
    backlog: VecDeque<Token>,
    targets: Slab<Target>,
    tokens: HashMap<Arc<str>, Token>,
    arena: Arena,
    /// How many targets are all-nsid ones: without any, adding and removing skip the work of
    /// keeping their key maps.
    all_nsid_targets: usize,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("keys", &self.tokens.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl StreamState {
    fn drop_target(&mut self, token: Token) -> Option<Target> {
        let target = self.targets.remove(token)?;
        if target.all_nsid.is_some() {
            self.all_nsid_targets -= 1;
        }
        if self.all_nsid_targets > 0 {
            for other in self.targets.values_mut() {
                if let Some(all) = &mut other.all_nsid {
                    all.keys.retain(|_, key| *key != target.key);
                }
            }
        }
        self.backlog.retain(|t| *t != token);
        self.tokens.remove(&target.key);
        // Ignored: closing the socket removes it from the epoll set anyway.
        let _ = self
            .registry
            .deregister(&mut SourceFd(&target.socket.as_raw_fd()));
        Some(target)
    }

    /// A target's turn: see [`Target::turn`].
    fn pump_target(
        &mut self,
        token: Token,
        out: &mut VecDeque<Item>,
        limits: Limits,
    ) -> Result<Turn> {
        let Some(target) = self.targets.get_mut(token) else {
            // Removed since the readiness was reported.
            return Ok(Turn {
                read: 0,
                more: false,
            });
        };
        if target.all_nsid.is_none() {
            return target.turn(None, &mut self.arena, token, out, limits);
        }
        // An all-nsid target looks at the others: taken out of the slab meanwhile.
        let mut target = self.targets.take_out(token).expect("present");
        let turn = target.turn(Some(&self.targets), &mut self.arena, token, out, limits);
        self.targets.put_back(token, target);
        turn
    }
}

impl Pump for StreamState {
    type Event = Item;

    fn pump(&mut self, ready: &[Token], out: &mut VecDeque<Item>) -> Result<()> {
        for token in ready {
            if let Some(target) = self.targets.get_mut(*token) {
                if !target.in_backlog {
                    target.in_backlog = true;
                    self.backlog.push_back(*token);
                }
            }
        }
        let until_queued = out.len() + READ_AHEAD;
        let mut budget = READ_BUDGET;
        while budget > 0 {
            // Enough for now, or full: the caller's next call frees it (what is unread stays
            // in the backlog).
            if out.len() >= until_queued || !self.has_room() {
                break;
            }
            let Some(&token) = self.backlog.front() else {
                break;
            };
            // One datagram a turn, round robin; a target alone in the backlog reads on in
            // its turn, as nothing waits behind it (readiness that arrives meanwhile is seen
            // at the next pump either way).
            let limits = Limits {
                datagrams: if self.backlog.len() == 1 { budget } else { 1 },
                queued: until_queued,
            };
            match self.pump_target(token, out, limits) {
                Ok(turn) => {
                    budget = budget.saturating_sub(turn.read.max(1));
                    if !turn.more {
                        self.backlog.pop_front();
                        if let Some(target) = self.targets.get_mut(token) {
                            target.in_backlog = false;
                        }
                    } else if self.backlog.len() > 1 {
                        self.backlog.rotate_left(1); // its turn ends: to the back
                    }
                }
                Err(error) => {
                    budget -= 1;
                    // One namespace's failure is its own: report it, drop it (which takes it
                    // out of the backlog), go on.
                    self.own_queued(token, out);
                    if let Some(target) = self.drop_target(token) {
                        out.push_back(Item::Owned(Box::new(StreamEvent::Error {
                            key: target.key,
                            error: Arc::new(error),
                        })));
                    }
                }
            }
        }
        Ok(())
    }

    fn backlog_keeps_fd_readable(&self) -> bool {
        true
    }

    fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }
}

/// Events from many network namespaces through one pollable fd.
///
/// Same contract as every nsmon handle: [`fd`](Self::fd), a non-blocking [`next`](Self::next),
/// [`dispatch`](Self::dispatch), [`wait`](Self::wait), `mio::event::Source`; `Send`, not `Sync`.
/// See the [module docs](self).
#[derive(Debug)]
pub struct Stream {
    core: Core<StreamState>,
    /// What the last `next_ref` or `next_batch_ref` took: the events they lent out.
    taken: Vec<Item>,
}

impl Stream {
    /// An empty stream: no namespace yet, an fd that is not readable until one is added.
    pub fn new() -> Result<Stream> {
        Stream::open(None)
    }

    /// An empty stream that trades latency for wake-ups, for callers that would rather handle
    /// events in batches: once the caller has taken everything that was ready, what arrives
    /// within `window` waits for the window's end, and one wake-up then delivers all of it. The
    /// first event after a window that brought nothing wakes the caller at once, so a quiet
    /// stream adds no latency; a busy one adds at most `window`. A zero window is refused
    /// (`InvalidArgument`): for no coalescing, use [`new`](Self::new).
    ///
    /// Worth it at moderate, steady rates (many namespaces each changing now and then), where
    /// [`new`](Self::new)'s stream wakes its caller once per event. It costs two file
    /// descriptors more (an epoll set for the sockets, a timer).
    pub fn with_coalescing(window: std::time::Duration) -> Result<Stream> {
        if window.is_zero() {
            return Err(Error::InvalidArgument(
                "the coalescing window is zero".into(),
            ));
        }
        Stream::open(Some(window))
    }

    fn open(window: Option<std::time::Duration>) -> Result<Stream> {
        let core = Core::with_window(window, |registry, _queue| {
            Ok(StreamState {
                registry: registry
                    .try_clone()
                    .map_err(|e| Error::os("dup epoll fd", e))?,
                backlog: VecDeque::new(),
                targets: Slab::default(),
                tokens: HashMap::new(),
                arena: Arena::new(),
                all_nsid_targets: 0,
            })
        })?;
        Ok(Stream {
            core,
            taken: Vec::new(),
        })
    }

    /// Starts monitoring `target` under `key`. The socket is subscribed when this returns;
    /// a dump, if asked for, runs as events are read. Fails (changing nothing) if `key` is
    /// already in use or the namespace cannot be opened.
    pub fn add(&mut self, key: &str, target: NetnsRef<'_>, options: StreamOptions) -> Result<()> {
        self.add_many(&[(key, target)], options)
            .pop()
            .unwrap_or_else(|| Err(Error::Internal("add_many returned no result".into())))
    }

    /// Adds many namespaces at once, each as [`add`](Self::add) would, with the same options,
    /// and returns one result per entry, in order: one entry failing (a key in use or repeated
    /// in `targets`, a namespace that cannot be opened) leaves the others added. Faster than
    /// one `add` each: the sockets of every namespace are created by one helper thread.
    pub fn add_many(
        &mut self,
        targets: &[(&str, NetnsRef<'_>)],
        options: StreamOptions,
    ) -> Vec<Result<()>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(targets.len());
        // The entries whose key is new (checked for the whole batch first).
        let mut keyed = Vec::with_capacity(targets.len());
        let mut seen = HashSet::with_capacity(targets.len());
        for (i, (key, _)) in targets.iter().enumerate() {
            let checked = self
                .check_new_key(key)
                .and_then(|()| match seen.insert(*key) {
                    true => Ok(()),
                    false => Err(Error::InvalidArgument(format!(
                        "key {key:?} is given twice"
                    ))),
                });
            if checked.is_ok() {
                keyed.push(i);
            }
            results.push(checked);
        }
        // In chunks: each namespace is held open by an fd until its socket exists, so a chunk
        // needs two fds per namespace at its peak. Sized by the fds free now, so that under a
        // low limit as many namespaces as fit are added (and each of the others fails with
        // EMFILE), rather than every fd going to namespace files and no socket fitting.
        let mut rest = &keyed[..];
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(chunk_size(sys::free_fds()).min(rest.len()));
            self.add_chunk(targets, chunk, options, &mut results);
            rest = tail;
        }
        results
    }

    /// Adds the entries `chunk` (indices into `targets`) with one helper thread, writing each
    /// one's outcome into `results`.
    fn add_chunk(
        &mut self,
        targets: &[(&str, NetnsRef<'_>)],
        chunk: &[usize],
        options: StreamOptions,
        results: &mut [Result<()>],
    ) {
        let mut opened = Vec::with_capacity(chunk.len());
        for &i in chunk {
            match targets[i].1.open() {
                Ok(ns) => opened.push((i, ns)),
                Err(e) => results[i] = Err(e),
            }
        }
        let groups = group_mask(options.groups.multicast_groups());
        let foreign: Vec<BorrowedFd<'_>> = opened
            .iter()
            .filter(|(i, _)| !matches!(targets[*i].1, NetnsRef::Current))
            .map(|(_, ns)| ns.as_fd())
            .collect();
        let mut created = match sys::netns::in_each_namespace(&foreign, || {
            sys::netlink::socket(sys::netlink::Mode::NonBlocking)
        }) {
            Ok(fds) => fds.into_iter(),
            Err(e) => foreign
                .iter()
                .map(|_| Err(std::io::Error::new(e.kind(), e.to_string())))
                .collect::<Vec<_>>()
                .into_iter(),
        };
        for (i, ns) in opened {
            let (key, target) = &targets[i];
            let socket = match target {
                NetnsRef::Current => Socket::open(Purpose::Events(groups)),
                _ => match created.next() {
                    Some(Ok(fd)) => Socket::adopt(fd, Purpose::Events(groups)),
                    Some(Err(e)) => Err(Error::os(
                        format!("socket in namespace {}", target.describe()),
                        e,
                    )),
                    None => Err(Error::Internal("namespace helper lost a socket".into())),
                },
            };
            let key: Arc<str> = (*key).into();
            results[i] = socket.and_then(|socket| {
                if self.core.pump.all_nsid_targets > 0 {
                    for other in self.core.pump.targets.values_mut() {
                        if let Some(all) = &mut other.all_nsid {
                            all.learn(ns.as_fd(), &key);
                        }
                    }
                }
                self.insert(key, ns.as_fd(), target, socket, options, None)
            });
        }
    }

    /// Starts an all-nsid target under `key`: one socket in `observer`'s namespace that hears
    /// the chosen groups in that namespace *and* in every namespace that has an id in it
    /// (`ip netns set NAME auto`, or one the kernel assigned, e.g. for a veth peer).
    ///
    /// Each event from another namespace carries that namespace's id (`nsid`) and the key the
    /// caller added that namespace under, if it did (else this target's key). All those
    /// namespaces share this one socket's receive buffer, so an `Overrun` here may have lost
    /// events of any of them; a dump (and a resync) lists the observer's namespace only.
    /// Namespaces without an id are not heard: add them one by one, or assign ids.
    pub fn add_all_nsid(
        &mut self,
        key: &str,
        observer: NetnsRef<'_>,
        options: StreamOptions,
    ) -> Result<()> {
        self.check_new_key(key)?;
        let ns = observer.open()?;
        let groups = group_mask(options.groups.multicast_groups().chain([RTNLGRP_NSID]));
        let mut socket = observer.open_socket(Purpose::Events(groups))?;
        socket.listen_all_nsid()?;
        let mut all = AllNsid {
            query: observer.open_socket(Purpose::Requests)?,
            keys: HashMap::new(),
            stale: false,
        };
        for target in self.core.pump.targets.values() {
            if target.all_nsid.is_none() {
                if let Ok(target_ns) = sys::netns::socket_namespace(target.socket.as_fd()) {
                    all.learn(target_ns.as_fd(), &target.key);
                }
            }
        }
        self.insert(
            key.into(),
            ns.as_fd(),
            &observer,
            socket,
            options,
            Some(all),
        )
    }

    fn check_new_key(&self, key: &str) -> Result<()> {
        if self.contains(key) {
            return Err(Error::InvalidArgument(format!(
                "key {key:?} is already in the stream"
            )));
        }
        Ok(())
    }

    /// Subscribes `socket`, registers it and starts its dump: the part of adding shared by
    /// every kind of target.
    fn insert(
        &mut self,
        key: Arc<str>,
        ns: BorrowedFd<'_>,
        described: &NetnsRef<'_>,
        socket: Socket,
        options: StreamOptions,
        all_nsid: Option<AllNsid>,
    ) -> Result<()> {
        let identity = NetnsId::of(ns)
            .map_err(|e| Error::os(format!("fstat namespace {}", described.describe()), e))?;
        if options.receive_buffer > 0 {
            socket.set_receive_buffer(options.receive_buffer)?;
        }
        let state = &mut self.core.pump;
        // The slot is the target's from now on: whatever runs before it is filled (the
        // queue's readiness below) cannot give the token registered here to another.
        let token = state
            .targets
            .reserve()
            .ok_or_else(|| Error::InvalidArgument("too many namespaces in one stream".into()))?;
        if let Err(e) = sys::epoll_add_level(state.registry.as_fd(), socket.as_fd(), token.0) {
            state.targets.release(token);
            return Err(Error::os("epoll_ctl netlink", e));
        }
        let mut entry = Target {
            key: key.clone(),
            port: socket.port(),
            drops: socket.drops(),
            socket,
            identity,
            options,
            round: None,
            next_seq: 0,
            overrun_pending: false,
            all_nsid,
            in_backlog: false,
        };
        if options.dump {
            let mut synced_now = VecDeque::new();
            if let Err(e) = entry.start_dumps(&mut synced_now) {
                let _ = state
                    .registry
                    .deregister(&mut SourceFd(&entry.socket.as_raw_fd()));
                state.targets.release(token);
                return Err(e);
            }
            // With no kinds to dump, Synced is immediate; it goes through the queue like any
            // event, so the fd becomes readable.
            for item in synced_now {
                if let Err(e) = self.core.push(item) {
                    self.core.pump.targets.release(token);
                    return Err(e);
                }
            }
        }
        let state = &mut self.core.pump;
        if entry.all_nsid.is_some() {
            state.all_nsid_targets += 1;
        }
        state.tokens.insert(key, token);
        state.targets.put_back(token, entry);
        Ok(())
    }

    /// Stops monitoring `key`: closes its socket (releasing the namespace). Events of this key
    /// already queued are still delivered. Returns whether the key was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let (state, queue) = self.core.pump_and_queue();
        match state.tokens.get(key).copied() {
            Some(token) => {
                state.own_queued(token, queue);
                state.drop_target(token).is_some()
            }
            None => false,
        }
    }

    /// Whether `key` is monitored.
    pub fn contains(&self, key: &str) -> bool {
        self.core.pump.tokens.contains_key(key)
    }

    /// The keys monitored, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.core.pump.tokens.keys().map(|k| &**k)
    }

    /// How many namespaces are monitored.
    pub fn len(&self) -> usize {
        self.core.pump.tokens.len()
    }

    /// Whether no namespace is monitored.
    pub fn is_empty(&self) -> bool {
        self.core.pump.tokens.is_empty()
    }

    /// The identity of the namespace behind `key` (its `NS_GET_ID` id, device and inode): a
    /// name deleted and created again is a different namespace with a different identity, even
    /// when the kernel reused the inode number.
    pub fn identity(&self, key: &str) -> Option<NetnsId> {
        let state = &self.core.pump;
        state
            .tokens
            .get(key)
            .and_then(|t| state.targets.get(*t))
            .map(|t| t.identity)
    }
}

#[cfg(test)]
mod tests;
