//! Entry points for fuzzers and the property tests: every parser that reads bytes from outside
//! the process, each behind one function that takes arbitrary bytes and checks the parser's
//! promises (no panic, no read past a length, the invariants below). Not part of the API.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::netlink::consts::NLMSG_ERROR;
use crate::netlink::message::{attrs, messages, parse_ack};
use crate::watcher::directory::EntryKind;
use crate::watcher::entries::{Entries, NewNames, Readiness};
use crate::WatchEvent;

/// A netlink datagram: the message walker, each message's attributes, acks (`NLMSG_ERROR`,
/// with extended-ack text) and the typed rtnetlink parser on every message it yields.
pub fn netlink_datagram(data: &[u8]) {
    let mut total = 0;
    for msg in messages(data) {
        let Ok(msg) = msg else { break };
        assert!(msg.bytes.len() >= 16 && msg.bytes.len() <= data.len());
        assert_eq!(msg.payload.len() + 16, msg.bytes.len());
        total += msg.bytes.len();
        assert!(total <= data.len(), "the walk went past the datagram");
        for attr in attrs(msg.payload) {
            let Ok((_, value)) = attr else { break };
            assert!(value.len() <= msg.payload.len());
        }
        if msg.kind == NLMSG_ERROR {
            let _ = parse_ack(msg.payload, msg.flags);
        }
        rtnetlink_message(msg.bytes);
    }
}

/// One rtnetlink message (link, address, route, neighbour, qdisc, class, filter): parsed, and
/// whatever it yields fits in the message it came from.
pub fn rtnetlink_message(data: &[u8]) {
    let Ok(Some(message)) = crate::rtnl::parse(data) else {
        return;
    };
    let fits = |n: usize| assert!(n <= data.len(), "a field longer than its message");
    match &message {
        crate::rtnl::Rtnl::Link(_, l) => {
            fits(l.name.as_ref().map_or(0, crate::Name::len));
            fits(l.kind.as_ref().map_or(0, crate::Name::len));
            fits(l.alt_names.iter().map(crate::Name::len).sum());
            fits(l.mac.as_ref().map_or(0, Vec::len));
        }
        crate::rtnl::Rtnl::Address(_, a) => fits(a.label.as_ref().map_or(0, crate::Name::len)),
        crate::rtnl::Rtnl::Neighbour(_, n) => fits(n.lladdr.as_ref().map_or(0, Vec::len)),
        crate::rtnl::Rtnl::Qdisc(_, t)
        | crate::rtnl::Rtnl::Class(_, t)
        | crate::rtnl::Rtnl::Filter(_, t) => fits(t.kind.as_ref().map_or(0, crate::Name::len)),
        crate::rtnl::Rtnl::Route(..) => {}
    }
    // The stream plans class and filter dumps from qdisc and class replies.
    for dump in crate::stream::Groups::TC.dumps() {
        let _ = dump.follow_ups(&message, &mut Vec::new());
    }
}

/// The payload of an `RTM_NEWNSID`/`RTM_DELNSID` message.
pub fn nsid_payload(data: &[u8]) {
    let _ = crate::netlink::nsid_message::parse_nsid(data);
}

/// The control data of a datagram received with `NETLINK_LISTEN_ALL_NSID`.
pub fn listen_all_nsid_control(data: &[u8]) {
    let _ = crate::sys::control::nsid_from_control(data);
}

/// A namespace name: accepted only if it is one path component that stays in its directory;
/// the rule on bytes (names read from the file system) agrees with the rule on text; a [`Name`]
/// keeps its bytes.
///
/// [`Name`]: crate::Name
pub fn name(data: &[u8]) {
    let kept = crate::Name::from(data);
    assert_eq!(kept.as_bytes(), data);
    assert_eq!(kept.to_str(), std::str::from_utf8(data).ok());
    let bytes_ok = crate::name::name_problem(data).is_none();
    let Ok(name) = std::str::from_utf8(data) else {
        if bytes_ok {
            let joined = std::path::Path::new("/var/run/netns").join(kept.as_os_str());
            assert_eq!(
                joined.parent(),
                Some(std::path::Path::new("/var/run/netns"))
            );
        }
        return;
    };
    assert_eq!(crate::validate_name(name).is_ok(), bytes_ok);
    if crate::validate_name(name).is_ok() {
        assert!(!name.is_empty() && name != "." && name != "..");
        assert!(!name.contains('/') && !name.contains('\0') && name.len() <= crate::NAME_MAX);
        let joined = std::path::Path::new("/var/run/netns").join(name);
        assert_eq!(
            joined.parent(),
            Some(std::path::Path::new("/var/run/netns"))
        );
    }
}

/// A sequence of inotify events (and rescans) applied to the watcher's memory of the
/// directory. Whatever the kernel sends, after every step the events it produced are exactly
/// the difference between what was known before and after: `Created` only for a name that was
/// not known and now is, `Deleted` only for one that was known and now is not (a rescan that
/// does not report remembers new names silently).
///
/// Each step is `[op, mask (4 bytes), name length, name...]`; op picks an inotify event, a
/// re-check of pending entries, a rescan (overflow), or the directory's loss.
pub fn inotify_events(data: &[u8]) {
    let mut entries = Entries::new(std::path::Path::new("/nsmon-fuzz").into());
    let mut rest = data;
    while rest.len() >= 6 {
        let op = rest[0];
        let mask = u32::from_ne_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(rest[5]).min(rest.len() - 6);
        let name = &rest[6..6 + len];
        rest = &rest[6 + len..];
        let before: HashSet<crate::Name> = entries.names().into_iter().collect();
        let mut out = VecDeque::new();
        let silent = apply_step(&mut entries, op, mask, name, &mut out);
        let after: HashSet<crate::Name> = entries.names().into_iter().collect();
        check_difference(&before, &after, &out, silent);
    }
}

/// The fuzzer's stand-in for the file system: a name's length says what it is.
fn fuzz_readiness(name: &crate::Name) -> Readiness {
    match name.len() % 3 {
        0 => Readiness::Ready(None),
        1 => Readiness::NotYet,
        _ => Readiness::Absent,
    }
}

/// One step of [`inotify_events`]; true when it was a rescan that reports nothing new.
fn apply_step(
    entries: &mut Entries,
    op: u8,
    mask: u32,
    name: &[u8],
    out: &mut VecDeque<WatchEvent>,
) -> bool {
    match op % 4 {
        0 => crate::watcher::directory::entry_event(
            entries,
            match op & 0x80 {
                0 => EntryKind::Files,
                _ => EntryKind::Subdirectories,
            },
            inotify::EventMask::from_bits_retain(mask),
            Some(OsStr::from_bytes(name)),
            fuzz_readiness,
            out,
        ),
        // Mounts changed: what was not a namespace yet may be one now.
        1 => entries.recheck_pending(
            |n| {
                if mask & 1 == 0 {
                    Readiness::Ready(None)
                } else {
                    fuzz_readiness(n)
                }
            },
            out,
        ),
        2 => {
            // An overflow: a fresh listing, names taken from the step's bytes.
            let listing = name
                .split(|b| *b == b' ')
                .filter(|n| crate::name::name_problem(n).is_none())
                .map(crate::Name::from)
                .map(|n| {
                    let r = fuzz_readiness(&n);
                    (n, r)
                })
                .collect();
            let silent = mask & 1 == 1;
            let new_names = if silent {
                NewNames::Remember
            } else {
                NewNames::Report
            };
            entries.reconcile(listing, new_names, out);
            return silent;
        }
        _ => entries.forget_all(out),
    }
    false
}

/// The events of one step are exactly the difference between the names known before and after.
fn check_difference(
    before: &HashSet<crate::Name>,
    after: &HashSet<crate::Name>,
    out: &VecDeque<WatchEvent>,
    silent: bool,
) {
    let mut created = HashSet::new();
    let mut deleted = HashSet::new();
    for event in out {
        match event {
            WatchEvent::Created { name, .. } => {
                assert!(!before.contains(name), "{name} created while known");
                assert!(created.insert(name.clone()), "{name} created twice");
            }
            WatchEvent::Deleted { name, .. } => {
                assert!(before.contains(name), "{name} deleted while not known");
                assert!(deleted.insert(name.clone()), "{name} deleted twice");
            }
            _ => {}
        }
    }
    let appeared: HashSet<crate::Name> = after.difference(before).cloned().collect();
    let gone: HashSet<crate::Name> = before.difference(after).cloned().collect();
    assert_eq!(
        gone, deleted,
        "deletions reported are not the names forgotten"
    );
    if silent {
        assert!(created.is_empty());
    } else {
        assert_eq!(
            appeared, created,
            "creations reported are not the names learnt"
        );
    }
}

/// A datagram from the proc connector: each netlink message's payload through the inventory's
/// connector parser. Whatever the bytes, it says what the message is or refuses it; a fork,
/// exec or exit is only ever read from a message that holds its whole event.
pub fn proc_connector(data: &[u8]) {
    for msg in messages(data) {
        let Ok(msg) = msg else { break };
        if let Ok(event) = crate::inventory::procs_parse(msg.payload) {
            let full = matches!(
                event,
                crate::inventory::ProcEventKind::Fork
                    | crate::inventory::ProcEventKind::Exec
                    | crate::inventory::ProcEventKind::Exit
            );
            // cn_msg (20 bytes), proc_event header (16) and at least two fields.
            assert!(!full || msg.payload.len() >= 20 + 16 + 8);
        }
    }
}

/// `/proc/self/mountinfo` text: each line through the inventory's nsfs-mount parser. A mount
/// point it reads is never longer than its line, and is the line's own bytes when nothing in
/// it is escaped.
pub fn mountinfo(data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        if let Some((point, _ino)) = crate::inventory::mount_line(line) {
            let bytes = point.as_os_str().as_encoded_bytes();
            assert!(bytes.len() <= line.len());
            if !line.contains(&b'\\') {
                assert!(line.windows(bytes.len().max(1)).any(|w| w == bytes) || bytes.is_empty());
            }
        }
    }
}
