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
//!   namespace flooded with changes cannot starve the others. They are registered
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

mod dump;
mod groups;

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Registry, Token};

use crate::error::{Error, Result};
use crate::handle::{handle_api, Core, Pump};
use crate::netlink::consts::*;
use crate::netlink::message::{messages, parse_ack, Message};
use crate::netlink::socket::{group_mask, Received, Socket, EVENT_BUFFER};
use crate::netns::{NetnsId, NetnsRef};
use crate::rtnl::{self, Rtnl};
use crate::sys;
use dump::{Round, Step};
pub use groups::Groups;

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

/// How to subscribe in one namespace.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    groups: Groups,
    dump: bool,
    resync_on_overrun: bool,
    receive_buffer: usize,
}

/// The receive buffer each namespace's socket asks for unless told otherwise. The kernel's
/// default (about 208 KiB) lost events in the benchmark's fleet (100 namespaces churning routes
/// while the consumer shares 2 cores with the churn); 1 MiB lost none. It is kernel memory
/// charged only while messages wait in it, so an idle namespace costs nothing for it.
pub const DEFAULT_RECEIVE_BUFFER: usize = 1024 * 1024;

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            groups: Groups::ALL,
            dump: false,
            resync_on_overrun: false,
            receive_buffer: DEFAULT_RECEIVE_BUFFER,
        }
    }
}

impl StreamOptions {
    /// All groups, no dump, no resync, a [`DEFAULT_RECEIVE_BUFFER`] receive buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which kinds of objects to follow (default [`Groups::ALL`]).
    pub fn groups(mut self, groups: Groups) -> Self {
        self.groups = groups;
        self
    }

    /// Dump the namespace's current objects after subscribing, then report `Synced`.
    pub fn dump(mut self, on: bool) -> Self {
        self.dump = on;
        self
    }

    /// After an `Overrun`, dump again and report `Synced`, so the caller can rebuild its state.
    pub fn resync_on_overrun(mut self, on: bool) -> Self {
        self.resync_on_overrun = on;
        self
    }

    /// The socket's receive buffer in bytes (default [`DEFAULT_RECEIVE_BUFFER`]):
    /// `SO_RCVBUFFORCE` when permitted (`CAP_NET_ADMIN`), else `SO_RCVBUF`, which the kernel
    /// caps at `net.core.rmem_max`. 0 leaves the kernel's default.
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.receive_buffer = bytes;
        self
    }
}

/// One monitored namespace.
struct Target {
    key: Arc<str>,
    socket: Socket,
    port: u32,
    identity: NetnsId,
    options: StreamOptions,
    /// The round of dumps running, if any.
    round: Option<Round>,
    next_seq: u32,
    /// The kernel reported an overrun (`ENOBUFS`) whose episode has not ended: it ends when the
    /// socket's queue is empty, which is when the kernel accepts notifications again.
    overrun_pending: bool,
    /// The socket's drop counter when the last overrun was reported (`None`: unreadable).
    drops: Option<u32>,
    /// Set for an all-nsid target.
    all_nsid: Option<AllNsid>,
    /// Whether the target is in the stream's backlog.
    in_backlog: bool,
}

/// What an all-nsid target needs to tag events with the caller's keys.
struct AllNsid {
    /// A blocking query socket in the observer's namespace (ids are relative to it).
    query: Socket,
    /// Id (in the observer's namespace) of each namespace the caller added, to its key.
    keys: HashMap<i32, Arc<str>>,
    /// Ids were assigned or released since `keys` was built: rebuild before the next lookup.
    stale: bool,
}

impl AllNsid {
    /// Notes the id of the namespace behind `ns` (if it has one) as `key`'s.
    fn learn(&mut self, ns: BorrowedFd<'_>, key: &Arc<str>) {
        // A namespace whose id cannot be read is simply not mapped: its events keep the
        // all-nsid target's key and still carry their nsid.
        if let Ok(Some(id)) = crate::netlink::nsid_message::nsid_with(&mut self.query, ns, key) {
            if let Ok(id) = i32::try_from(id) {
                self.keys.insert(id, key.clone());
            }
        }
    }

    /// The caller's key for namespace id `id`, rebuilding the map first if ids changed.
    fn key_for(
        &mut self,
        id: i32,
        targets: &HashMap<Token, Target, TokenHash>,
    ) -> Option<Arc<str>> {
        if self.stale {
            self.stale = false;
            self.keys.clear();
            for target in targets.values().filter(|t| t.all_nsid.is_none()) {
                if let Ok(ns) = sys::netns::socket_namespace(target.socket.as_fd()) {
                    self.learn(ns.as_fd(), &target.key);
                }
            }
        }
        self.keys.get(&id).cloned()
    }
}

impl Target {
    /// Starts a round of dumps, or, if one is running, makes it start over.
    fn start_dumps(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        match &mut self.round {
            Some(round) => round.restart(),
            None => self.round = Some(Round::new(self.options.groups)),
        }
        self.advance_dumps(out)
    }

    /// Sends the round's next dump, or reports its end. Nothing is sent while an overrun's
    /// episode lasts: the round starts over once it is reported.
    fn advance_dumps(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let Some(round) = self.round.as_mut() else {
            return Ok(());
        };
        if self.overrun_pending {
            return Ok(());
        }
        match round.next() {
            Step::Wait => Ok(()),
            Step::Send(dump) => {
                self.next_seq = self.next_seq.wrapping_add(1);
                let seq = self.next_seq;
                self.socket.send(&dump.request(seq)).map_err(|e| {
                    Error::os(format!("{} request in {}", dump.describe(), self.key), e)
                })?;
                round.sent(seq);
                Ok(())
            }
            Step::Done(result) => {
                self.round = None;
                let key = self.key.clone();
                out.push_back(match result {
                    Ok(()) => StreamEvent::Synced { key },
                    Err(reason) => StreamEvent::SyncFailed { key, reason },
                });
                Ok(())
            }
        }
    }

    /// The overrun's episode is over (the queue is empty): reports it with the number lost,
    /// then resyncs if asked to, or restarts the round that was running.
    fn end_overrun(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        self.overrun_pending = false;
        let now = self.socket.drops();
        let lost = match (self.drops, now) {
            (Some(before), Some(now)) => Some(u64::from(now.wrapping_sub(before))),
            _ => None,
        };
        self.drops = now;
        out.push_back(StreamEvent::Overrun {
            key: self.key.clone(),
            lost,
        });
        if self.round.is_some() || self.options.resync_on_overrun {
            self.start_dumps(out)?;
        }
        Ok(())
    }

    /// Handles a reply to the dump in flight; returns whether it was the dump's end (an object
    /// is for the caller).
    fn dump_reply(&mut self, msg: &Message<'_>, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        let Some(round) = self.round.as_mut() else {
            return Ok(false);
        };
        if msg.flags & NLM_F_DUMP_INTR != 0 {
            round.interrupted();
        }
        let error = match msg.kind {
            NLMSG_DONE => done_error(msg),
            NLMSG_ERROR => match parse_ack(msg.payload, msg.flags) {
                Ok(ack) if ack.errno == 0 => return Ok(true), // an ack: not the end
                Ok(ack) => Some(ack_text(ack.errno, ack.text)),
                Err(m) => Some(format!("unreadable error message ({})", m.0)),
            },
            _ => return Ok(false),
        };
        round.part_ended(error);
        self.advance_dumps(out)?;
        Ok(true)
    }

    /// Reads one datagram from this target's socket; returns whether there was one (so more
    /// may follow). `others` are the stream's other targets (for an all-nsid target's keys).
    fn pump(
        &mut self,
        others: &HashMap<Token, Target, TokenHash>,
        buffer: &mut [u8],
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<bool> {
        let (len, nsid, truncated) = match self.socket.receive(buffer)? {
            Received::Nothing => {
                if self.overrun_pending {
                    self.end_overrun(out)?;
                }
                return Ok(false);
            }
            Received::Overrun => {
                // Reported when the episode ends, with its count; notifications were lost, so
                // a dump running now would not describe the namespace.
                self.overrun_pending = true;
                if let Some(round) = &mut self.round {
                    round.restart();
                }
                return Ok(true);
            }
            Received::Data(len, nsid) => (len, nsid, false),
            Received::Truncated(len, nsid) => (len, nsid, true),
        };
        let key = match (&mut self.all_nsid, nsid) {
            (Some(all), Some(id)) => all.key_for(id, others),
            _ => None,
        }
        .unwrap_or_else(|| self.key.clone());
        let unparsed = |reason: String, raw: &[u8]| StreamEvent::Unparsed {
            key: key.clone(),
            nsid,
            reason,
            raw: raw.into(),
        };
        let data = &buffer[..len.min(buffer.len())];
        let mut walk = messages(data);
        while let Some(msg) = walk.next() {
            let msg = match msg {
                Ok(msg) => msg,
                Err(m) => {
                    let reason = match truncated {
                        true => truncation(len, data.len()),
                        false => format!("a datagram that cannot be split into messages: {}", m.0),
                    };
                    out.push_back(unparsed(reason, walk.remaining()));
                    // It may have held replies of the dump in flight.
                    if let Some(round) = &mut self.round {
                        round.interrupted();
                    }
                    return Ok(true);
                }
            };
            if msg.port == self.port {
                let is_reply = self.round.as_ref().is_some_and(|r| r.is_reply(msg.seq));
                // A late reply to an earlier dump is dropped. (Notifications carry the port id
                // of whoever made the change, e.g. an `ip` process: that they come from the
                // kernel is the sender address, checked by the socket.)
                if !is_reply || self.dump_reply(&msg, out)? {
                    continue;
                }
            }
            if matches!(msg.kind, RTM_NEWNSID | RTM_DELNSID) {
                if let Some(all) = &mut self.all_nsid {
                    all.stale = true;
                    continue;
                }
            }
            if !self.options.groups.wants(msg.kind, msg.payload) {
                continue;
            }
            match rtnl::parse_message(&msg) {
                Ok(Some(message)) => {
                    if let Some(round) = &mut self.round {
                        if round.is_reply(msg.seq) && msg.port == self.port {
                            round.object(&message);
                        }
                    }
                    out.push_back(StreamEvent::Message {
                        key: key.clone(),
                        nsid,
                        message,
                        raw: msg.bytes.into(),
                    });
                }
                Ok(None) => out.push_back(unparsed(
                    format!("message type {} is not one nsmon types", msg.kind),
                    msg.bytes,
                )),
                Err(e) => out.push_back(unparsed(e.to_string(), msg.bytes)),
            }
        }
        if truncated {
            // Cut at a message boundary: the walk saw only whole messages, the rest is lost.
            out.push_back(unparsed(truncation(len, data.len()), &[]));
            if let Some(round) = &mut self.round {
                round.interrupted();
            }
        }
        Ok(true)
    }
}

/// The reason given for a datagram larger than the receive buffer.
fn truncation(len: usize, kept: usize) -> String {
    format!("a {len}-byte datagram exceeds the {kept}-byte receive buffer: the rest of it is lost")
}

/// The error code an `NLMSG_DONE` carries (a negative errno ends a dump that failed).
fn done_error(msg: &Message<'_>) -> Option<String> {
    let code = i32::from_ne_bytes(msg.payload.get(..4)?.try_into().ok()?);
    let text = (msg.flags & NLM_F_ACK_TLVS != 0)
        .then(|| crate::netlink::message::parse_ack_text(&msg.payload[4..]))
        .flatten();
    (code < 0).then(|| ack_text(-code, text))
}

/// An errno from the kernel, with its extended-ack text when it gave one.
fn ack_text(errno: i32, text: Option<String>) -> String {
    let error = std::io::Error::from_raw_os_error(errno);
    match text {
        Some(text) => format!("{error} ({text})"),
        None => error.to_string(),
    }
}

/// Tokens are small distinct counters: they hash to themselves (SipHash showed in profiles of
/// the per-event path, where every datagram looks its target up).
#[derive(Default, Clone, Copy)]
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

type TokenHash = std::hash::BuildHasherDefault<TokenHasher>;

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

struct StreamState {
    registry: Registry,
    /// Targets whose socket may hold data, in the order they are read: one datagram each, round
    /// robin, so that a namespace flooded with changes cannot starve the others. Their sockets
    /// are registered level-triggered, so the fd stays readable while any of them holds data.
    backlog: VecDeque<Token>,
    targets: HashMap<Token, Target, TokenHash>,
    tokens: HashMap<Arc<str>, Token>,
    next_token: usize,
    buffer: Box<[u8]>,
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
        let target = self.targets.remove(&token)?;
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

    /// Reads one datagram from a target's socket; returns whether there was one.
    fn pump_target(&mut self, token: Token, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        let Some(target) = self.targets.get_mut(&token) else {
            return Ok(false); // removed since the readiness was reported
        };
        if target.all_nsid.is_none() {
            return target.pump(&HashMap::default(), &mut self.buffer, out);
        }
        // An all-nsid target looks at the others: taken out of the map meanwhile.
        let mut target = self.targets.remove(&token).expect("present");
        let result = target.pump(&self.targets, &mut self.buffer, out);
        self.targets.insert(token, target);
        result
    }
}

impl Pump for StreamState {
    type Event = StreamEvent;

    fn pump(&mut self, ready: &[Token], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        for token in ready {
            if let Some(target) = self.targets.get_mut(token) {
                if !target.in_backlog {
                    target.in_backlog = true;
                    self.backlog.push_back(*token);
                }
            }
        }
        let before = out.len();
        for _ in 0..READ_BUDGET {
            if out.len() > before {
                break;
            }
            let Some(token) = self.backlog.pop_front() else {
                break;
            };
            match self.pump_target(token, out) {
                Ok(true) => self.backlog.push_back(token),
                Ok(false) => {
                    if let Some(target) = self.targets.get_mut(&token) {
                        target.in_backlog = false;
                    }
                }
                Err(error) => {
                    // One namespace's failure is its own: report it, drop it, go on.
                    if let Some(target) = self.drop_target(token) {
                        out.push_back(StreamEvent::Error {
                            key: target.key,
                            error: Arc::new(error),
                        });
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
}

impl Stream {
    /// An empty stream: no namespace yet, an fd that is not readable until one is added.
    pub fn new() -> Result<Stream> {
        let core = Core::new(|registry, _queue| {
            Ok(StreamState {
                registry: registry
                    .try_clone()
                    .map_err(|e| Error::os("dup epoll fd", e))?,
                backlog: VecDeque::new(),
                targets: HashMap::default(),
                tokens: HashMap::new(),
                next_token: 0,
                buffer: vec![0; EVENT_BUFFER].into_boxed_slice(),
                all_nsid_targets: 0,
            })
        })?;
        Ok(Stream { core })
    }

    /// Starts monitoring `target` under `key`. The socket is subscribed when this returns;
    /// a dump, if asked for, runs as events are read. Fails (changing nothing) if `key` is
    /// already in use or the namespace cannot be opened.
    pub fn add(&mut self, key: &str, target: NetnsRef<'_>, options: StreamOptions) -> Result<()> {
        self.add_many(&[(key, target)], options)
            .pop()
            .unwrap_or_else(|| Err(Error::Protocol("add_many returned no result".into())))
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
        let mut created =
            match sys::netns::in_each_namespace(&foreign, || sys::netlink::socket(false)) {
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
                NetnsRef::Current => Socket::open(false, groups),
                _ => match created.next() {
                    Some(Ok(fd)) => Socket::adopt(fd, false, groups),
                    Some(Err(e)) => Err(Error::os(
                        format!("socket in namespace {}", target.describe()),
                        e,
                    )),
                    None => Err(Error::Protocol("namespace helper lost a socket".into())),
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
        let mut socket = observer.open_socket(false, groups)?;
        socket.listen_all_nsid()?;
        let mut all = AllNsid {
            query: observer.open_socket(true, 0)?,
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
        let token = Token(state.next_token);
        state.next_token += 1;
        sys::epoll_add_level(state.registry.as_fd(), socket.as_fd(), token.0)
            .map_err(|e| Error::os("epoll_ctl netlink", e))?;
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
                return Err(e);
            }
            // With no kinds to dump, Synced is immediate; it goes through the queue like any
            // event, so the fd becomes readable.
            for event in synced_now {
                self.core.push(event)?;
            }
        }
        let state = &mut self.core.pump;
        if entry.all_nsid.is_some() {
            state.all_nsid_targets += 1;
        }
        state.tokens.insert(key, token);
        state.targets.insert(token, entry);
        Ok(())
    }

    /// Stops monitoring `key`: closes its socket (releasing the namespace). Events of this key
    /// already queued are still delivered. Returns whether the key was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let state = &mut self.core.pump;
        match state.tokens.get(key).copied() {
            Some(token) => state.drop_target(token).is_some(),
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
            .and_then(|t| state.targets.get(t))
            .map(|t| t.identity)
    }
}

handle_api!(Stream, StreamEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::message::{begin, finish, push_attr, push_padded};

    fn done(code: i32, text: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        let flags = NLM_F_MULTI | if text.is_some() { NLM_F_ACK_TLVS } else { 0 };
        let start = begin(&mut out, NLMSG_DONE, flags, 7);
        push_padded(&mut out, &code.to_ne_bytes());
        if let Some(text) = text {
            push_attr(&mut out, NLMSGERR_ATTR_MSG, text);
        }
        finish(&mut out, start);
        out
    }

    #[test]
    fn an_error_code_in_nlmsg_done_is_the_dump_failing() {
        let check = |bytes: &[u8]| done_error(&messages(bytes).next().unwrap().unwrap());
        assert_eq!(check(&done(0, None)), None, "a clean end");
        let plain = check(&done(-libc::EMSGSIZE, None)).unwrap();
        assert!(plain.contains("too long"), "{plain}");
        let with_text = check(&done(-libc::EINVAL, Some(b"bad filter\0"))).unwrap();
        assert!(with_text.contains("Invalid argument") && with_text.contains("(bad filter)"));
        // Old kernels' NLMSG_DONE without a code: a clean end, not a failure.
        let mut short = Vec::new();
        let start = begin(&mut short, NLMSG_DONE, NLM_F_MULTI, 7);
        finish(&mut short, start);
        assert_eq!(check(&short), None);
    }
}
