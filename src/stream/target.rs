//! One monitored namespace (a target): its socket, its dump rounds, how it is pumped; and the
//! all-nsid target's map from nsid to the caller's keys.

// The stream's own names (its options, events, token hashing) and what it imports.
use super::*;

/// One monitored namespace.
pub(super) struct Target {
    pub(super) key: Arc<str>,
    pub(super) socket: Socket,
    pub(super) port: u32,
    pub(super) identity: NetnsId,
    pub(super) options: StreamOptions,
    /// The round of dumps running, if any.
    pub(super) round: Option<Round>,
    pub(super) next_seq: u32,
    /// The kernel reported an overrun (`ENOBUFS`) whose episode has not ended: it ends when the
    /// socket's queue is empty, which is when the kernel accepts notifications again.
    pub(super) overrun_pending: bool,
    /// The socket's drop counter when the last overrun was reported (`None`: unreadable).
    pub(super) drops: Option<u32>,
    /// Set for an all-nsid target.
    pub(super) all_nsid: Option<AllNsid>,
    /// Whether the target is in the stream's backlog.
    pub(super) in_backlog: bool,
}

/// What an all-nsid target needs to tag events with the caller's keys.
pub(super) struct AllNsid {
    /// A blocking query socket in the observer's namespace (ids are relative to it).
    pub(super) query: Socket,
    /// Id (in the observer's namespace) of each namespace the caller added, to its key.
    pub(super) keys: HashMap<i32, Arc<str>>,
    /// Ids were assigned or released since `keys` was built: rebuild before the next lookup.
    pub(super) stale: bool,
}

impl AllNsid {
    /// Notes the id of the namespace behind `ns` (if it has one) as `key`'s.
    pub(super) fn learn(&mut self, ns: BorrowedFd<'_>, key: &Arc<str>) {
        // A namespace whose id cannot be read is simply not mapped: its events keep the
        // all-nsid target's key and still carry their nsid.
        if let Ok(Some(id)) = crate::netlink::nsid_message::nsid_with(&mut self.query, ns, key) {
            if let Ok(id) = i32::try_from(id) {
                self.keys.insert(id, key.clone());
            }
        }
    }

    /// The caller's key for the namespace with id `id`, else `own` (the all-nsid target's).
    #[inline(never)]
    fn key_of<'a>(&'a self, id: i32, own: &'a Arc<str>) -> &'a Arc<str> {
        self.keys.get(&id).unwrap_or(own)
    }

    /// Rebuilds the map from ids to the caller's keys if ids changed since it was built.
    pub(super) fn refresh(&mut self, targets: &Slab<Target>) {
        if self.stale {
            self.stale = false;
            self.keys.clear();
            for target in targets.values().filter(|t| t.all_nsid.is_none()) {
                if let Ok(ns) = sys::netns::socket_namespace(target.socket.as_fd()) {
                    self.learn(ns.as_fd(), &target.key);
                }
            }
        }
    }
}

impl Target {
    /// Starts a round of dumps, or, if one is running, makes it start over.
    pub(super) fn start_dumps(&mut self, out: &mut VecDeque<Item>) -> Result<()> {
        match &mut self.round {
            Some(round) => round.restart(),
            None => self.round = Some(Round::new(self.options.groups)),
        }
        self.advance_dumps(out)
    }

    /// Sends the round's next dump, or reports its end. Nothing is sent while an overrun's
    /// episode lasts: the round starts over once it is reported.
    pub(super) fn advance_dumps(&mut self, out: &mut VecDeque<Item>) -> Result<()> {
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
                out.push_back(Item::Owned(Box::new(match result {
                    Ok(()) => StreamEvent::Synced { key },
                    Err(reason) => StreamEvent::SyncFailed { key, reason },
                })));
                Ok(())
            }
        }
    }

    /// The overrun's episode is over (the queue is empty): reports it with the number lost,
    /// then resyncs if asked to, or restarts the round that was running.
    pub(super) fn end_overrun(&mut self, out: &mut VecDeque<Item>) -> Result<()> {
        self.overrun_pending = false;
        let now = self.socket.drops();
        let lost = match (self.drops, now) {
            (Some(before), Some(now)) => Some(u64::from(now.wrapping_sub(before))),
            _ => None,
        };
        self.drops = now;
        out.push_back(Item::Owned(Box::new(StreamEvent::Overrun {
            key: self.key.clone(),
            lost,
        })));
        if self.round.is_some() || self.options.resync_on_overrun {
            self.start_dumps(out)?;
        }
        Ok(())
    }

    /// Handles a reply to the dump in flight; returns whether it was the dump's end (an object
    /// is for the caller).
    pub(super) fn dump_reply(
        &mut self,
        msg: &Message<'_>,
        out: &mut VecDeque<Item>,
    ) -> Result<bool> {
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

    /// Reads datagrams from this target's socket into `arena` as [`Limits`] allow, until the
    /// socket is empty or the arena has no room for another.
    pub(super) fn turn(
        &mut self,
        others: Option<&Slab<Target>>,
        arena: &mut Arena,
        token: Token,
        out: &mut VecDeque<Item>,
        limits: Limits,
    ) -> Result<Turn> {
        let mut turn = Turn {
            read: 0,
            more: true,
        };
        while turn.read < limits.datagrams && out.len() < limits.queued && arena.has_room() {
            let (buffer, at) = arena.tail();
            let read = self.pump(others, buffer, Room { token, at }, out)?;
            arena.keep(read.kept);
            turn.read += 1;
            if !read.datagram {
                turn.more = false;
                break;
            }
        }
        Ok(turn)
    }

    /// Reads one datagram from this target's socket into `buffer` (the arena at `room.at`);
    /// says whether there was one (so more may follow) and how much of the arena its queued
    /// messages refer to. `others` are the stream's other targets (given to an all-nsid
    /// target, for its keys).
    // Inlined into `turn`, its one caller: a call per datagram cost a tenth of an event.
    #[inline]
    fn pump(
        &mut self,
        others: Option<&Slab<Target>>,
        buffer: &mut [u8],
        room: Room,
        out: &mut VecDeque<Item>,
    ) -> Result<Read> {
        let nothing_kept = |datagram| Ok(Read { datagram, kept: 0 });
        let (len, nsid, truncated) = match self.socket.receive(buffer)? {
            Received::Nothing => {
                if self.overrun_pending {
                    self.end_overrun(out)?;
                }
                return nothing_kept(false);
            }
            Received::Overrun => {
                // Reported when the episode ends, with its count; notifications were lost, so
                // a dump running now would not describe the namespace.
                self.overrun_pending = true;
                if let Some(round) = &mut self.round {
                    round.restart();
                }
                return nothing_kept(true);
            }
            Received::Data(len, nsid) => (len, nsid, false),
            Received::Truncated(len, nsid) => (len, nsid, true),
        };
        if let (Some(all), Some(_), Some(others)) = (&mut self.all_nsid, nsid, others) {
            all.refresh(others);
        }
        let data = &buffer[..len.min(buffer.len())];
        // Where the last message queued ends (messages are queued in the order they lie).
        let mut end = None;
        let mut walk = messages(data);
        while let Some(msg) = walk.next() {
            let msg = match msg {
                Ok(msg) => msg,
                Err(m) => {
                    let reason = match truncated {
                        true => truncation(len, data.len()),
                        false => format!("a datagram that cannot be split into messages: {}", m.0),
                    };
                    let key = self.key_for(nsid);
                    out.push_back(unparsed(key, nsid, reason, walk.remaining()));
                    // It may have held replies of the dump in flight.
                    if let Some(round) = &mut self.round {
                        round.interrupted();
                    }
                    return Ok(Read {
                        datagram: true,
                        kept: kept(room.at, end),
                    });
                }
            };
            let at = room.at + (msg.bytes.as_ptr() as usize - data.as_ptr() as usize);
            if self.take(&msg, nsid, Room { at, ..room }, out)? {
                end = Some(at + msg.bytes.len());
            }
        }
        if truncated {
            // Cut at a message boundary: the walk saw only whole messages, the rest is lost.
            let key = self.key_for(nsid);
            out.push_back(unparsed(key, nsid, truncation(len, data.len()), &[]));
            if let Some(round) = &mut self.round {
                round.interrupted();
            }
        }
        Ok(Read {
            datagram: true,
            kept: kept(room.at, end),
        })
    }

    /// The key this target's events with `nsid` carry: from an all-nsid target, the key the
    /// caller added that namespace under, if it did.
    // Inlined: once per event taken, and for most targets only a field's address.
    #[inline]
    pub(super) fn key_for(&self, nsid: Option<i32>) -> &Arc<str> {
        match (&self.all_nsid, nsid) {
            (Some(all), Some(id)) => all.key_of(id, &self.key),
            _ => &self.key,
        }
    }

    /// One whole message of a datagram: a reply of the dump in flight, an id change the
    /// all-nsid map must learn, or an event (typed, or unparsed with its reason). Returns
    /// whether the message itself was queued (so the arena must keep it).
    fn take(
        &mut self,
        msg: &Message<'_>,
        nsid: Option<i32>,
        room: Room,
        out: &mut VecDeque<Item>,
    ) -> Result<bool> {
        if msg.port == self.port {
            let is_reply = self.round.as_ref().is_some_and(|r| r.is_reply(msg.seq));
            // A late reply to an earlier dump is dropped. (Notifications carry the port id
            // of whoever made the change, e.g. an `ip` process: that they come from the
            // kernel is the sender address, checked by the socket.)
            if !is_reply || self.dump_reply(msg, out)? {
                return Ok(false);
            }
        }
        if matches!(msg.kind, RTM_NEWNSID | RTM_DELNSID) {
            if let Some(all) = &mut self.all_nsid {
                all.stale = true;
                return Ok(false);
            }
        }
        if !self.options.groups.wants(msg.kind, msg.payload) {
            return Ok(false);
        }
        // A dumped object may call for more dumps (a class's filters): typed now. Any other
        // message is typed when the caller takes it.
        if let Some(round) = &mut self.round {
            if round.is_reply(msg.seq) && msg.port == self.port {
                if let Ok(Some(message)) = rtnl::parse_message(msg) {
                    round.object(&message);
                }
            }
        }
        out.push_back(Item::Message(Span {
            at: room.at as u32,
            len: msg.bytes.len() as u32,
            token: room.token,
            nsid,
        }));
        Ok(true)
    }
}

/// The rest of a datagram nsmon could not split into messages, with why.
fn unparsed(key: &Arc<str>, nsid: Option<i32>, reason: String, raw: &[u8]) -> Item {
    Item::Owned(Box::new(StreamEvent::Unparsed {
        key: key.clone(),
        nsid,
        reason,
        raw: raw.into(),
    }))
}

/// How much of the arena, from `start` (where the datagram was read), its queued messages
/// refer to, the last of them ending at `end`: rounded up to 8, so that the next datagram
/// starts aligned. 0 when none was queued: the space is read into again.
fn kept(start: usize, end: Option<usize>) -> usize {
    end.map_or(0, |end| (end - start).next_multiple_of(8))
}

/// The reason given for a datagram larger than the receive buffer.
fn truncation(len: usize, kept: usize) -> String {
    format!("a {len}-byte datagram exceeds the {kept}-byte receive buffer: the rest of it is lost")
}

/// The error code an `NLMSG_DONE` carries (a negative errno ends a dump that failed).
pub(super) fn done_error(msg: &Message<'_>) -> Option<String> {
    let code = crate::bytes::i32_at(msg.payload, 0)?;
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
