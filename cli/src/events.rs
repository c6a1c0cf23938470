//! `nsmon events`: rtnetlink events from many namespaces, optionally following every named one.

use std::collections::HashSet;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nsmon::rtnl::{Change, Rtnl};
use nsmon::{
    Groups, Name, NetnsRef, Stream, StreamEvent, StreamOptions, WatchEvent, Watcher,
    WatcherOptions, DEFAULT_NETNS_DIR,
};

use crate::args::{EventsArgs, Target};
use crate::follow_all::AllFollower;
use crate::json::Object;
use crate::os::{raise_nofile_limit, wait, TermSignals, Wake};
use crate::output::Output;
use crate::Failure;

pub fn run(args: EventsArgs) -> Result<(), Failure> {
    // One socket per namespace: let the command use every fd it is allowed.
    raise_nofile_limit();
    let signals = TermSignals::block().map_err(|e| Failure::Message(format!("signalfd: {e}")))?;
    let options = StreamOptions::new()
        .groups(groups(&args.groups))
        .dump(args.dump)
        .resync_on_overrun(true);
    let mut stream = Stream::new()?;
    if args.default || (args.targets.is_empty() && !args.follow && !args.all_nsid) {
        stream.add("default", NetnsRef::Current, options)?;
    }
    if args.all_nsid {
        stream.add_all_nsid("all-nsid", NetnsRef::Current, options)?;
    }
    for target in &args.targets {
        let (key, ns) = match target {
            Target::Name(name) => (name.clone(), NetnsRef::Name(name)),
            Target::Path(path) => (path.display().to_string(), NetnsRef::Path(path)),
            Target::Pid(pid) => (format!("pid:{pid}"), NetnsRef::Pid(*pid)),
        };
        stream.add(&key, ns, options).map_err(|e| {
            // The failure's kind (and so the exit status) stays; the message names the target.
            match Failure::from(e) {
                Failure::Usage(m) => Failure::Usage(format!("{key}: {m}")),
                Failure::Message(m) => Failure::Message(format!("{key}: {m}")),
                other => other,
            }
        })?;
    }
    let mut out = Output::new(&signals);
    if args.all {
        return follow_all(stream, options, &signals, out);
    }
    let mut follower = match args.follow {
        true => {
            let options = args.dirs.iter().fold(
                WatcherOptions::new()
                    .runtimes(args.runtimes)
                    .list_existing(true),
                |options, dir| options.dir(dir),
            );
            Some(Follower {
                watcher: Watcher::new(options)?,
                followed: HashSet::new(),
            })
        }
        false => None,
    };
    // The namespaces present now are subscribed before `ready`.
    if let Some(f) = follower.as_mut() {
        f.drain(&mut stream, options, &mut out)?;
    }
    out.line(&Object::new("nsmon", "ready").line())?;
    loop {
        if let Some(f) = follower.as_mut() {
            f.drain(&mut stream, options, &mut out)?;
        }
        while let Some(event) = stream.next()? {
            if let (StreamEvent::Error { key, .. }, Some(f)) = (&event, follower.as_mut()) {
                f.followed.remove(&**key);
            }
            out.line(&to_json(&event))?;
        }
        let watcher_fd = follower.as_ref().map_or(-1, |f| f.watcher.fd());
        match wait([stream.fd(), watcher_fd], &signals)
            .map_err(|e| Failure::Message(format!("poll: {e}")))?
        {
            Wake::Readable(_) => {}
            Wake::Signalled | Wake::OutputGone => return Ok(()),
        }
    }
}

/// `--follow --all`: the inventory beside the stream.
fn follow_all(
    mut stream: Stream,
    options: StreamOptions,
    signals: &TermSignals,
    mut out: Output<'_>,
) -> Result<(), Failure> {
    let mut follower = AllFollower::new()?;
    follower.drain(&mut stream, options, &mut out)?;
    out.line(&Object::new("nsmon", "ready").line())?;
    loop {
        follower.drain(&mut stream, options, &mut out)?;
        while let Some(event) = stream.next()? {
            let key = event_key(&event);
            let mut line = to_json(&event);
            if let Some(key) = key {
                if let (Some(names), Some(id)) = (follower.names(key), id_of_key(key)) {
                    line = with_identity(line, id, names);
                }
                if matches!(event, StreamEvent::Error { .. }) {
                    follower.forget(key);
                }
            }
            out.line(&line)?;
        }
        match wait([stream.fd(), follower.inventory.fd()], signals)
            .map_err(|e| Failure::Message(format!("poll: {e}")))?
        {
            Wake::Readable(_) => {}
            Wake::Signalled | Wake::OutputGone => return Ok(()),
        }
    }
}

/// The key a stream event is about.
fn event_key(event: &StreamEvent) -> Option<&str> {
    match event {
        StreamEvent::Message { key, .. }
        | StreamEvent::Unparsed { key, .. }
        | StreamEvent::Synced { key }
        | StreamEvent::SyncFailed { key, .. }
        | StreamEvent::Overrun { key, .. }
        | StreamEvent::Error { key, .. } => Some(key),
        _ => None,
    }
}

/// The `NS_GET_ID` id in a `--follow --all` key (`netns:ID`).
fn id_of_key(key: &str) -> Option<u64> {
    key.strip_prefix("netns:")?.parse().ok()
}

/// A stream line of a namespace followed with `--all`, with its id and names after `ns`.
fn with_identity(line: String, id: u64, names: &[Name]) -> String {
    let extra = Object::plain()
        .maybe_unsigned("netns_id", Some(id))
        .names("names", names)
        .line();
    // `{...}\n` + `{extra}\n`: the extra fields spliced in before the closing brace.
    let inner = &extra[1..extra.len() - 2];
    format!("{},{inner}}}\n", &line[..line.len() - 2])
}

/// `--follow`: the watcher beside the stream; every named namespace is added as it appears
/// and removed when it goes.
struct Follower {
    watcher: Watcher,
    /// Keys added by following (explicit `--ns` keys are never removed by it).
    followed: HashSet<String>,
}

/// A namespace the watcher reports, as the stream follows it.
struct Named {
    key: String,
    path: PathBuf,
    /// Its name, when it is in the default folder and UTF-8 (opened as `ip netns` would).
    name: Option<String>,
}

impl Named {
    fn new(dir: &Path, name: &Name) -> Self {
        let default = dir == Path::new(DEFAULT_NETNS_DIR);
        Named {
            key: follow_key(dir, name),
            path: dir.join(name.as_os_str()),
            name: name.to_str().filter(|_| default).map(str::to_string),
        }
    }

    fn netns(&self) -> NetnsRef<'_> {
        match &self.name {
            Some(name) => NetnsRef::Name(name),
            None => NetnsRef::Path(&self.path),
        }
    }
}

/// The stream key of a followed namespace: its name in the default folder, its path in any
/// other (a name holds no `/`, so the two never meet); as UTF-8, or else a NUL (which no name
/// or path holds, so no other key collides) and the bytes in hex. [`key_bytes`] turns it back.
fn follow_key(dir: &Path, name: &Name) -> String {
    let bytes = match dir == Path::new(DEFAULT_NETNS_DIR) {
        true => name.as_bytes().to_vec(),
        false => dir.join(name.as_os_str()).into_os_string().into_vec(),
    };
    match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("\0{}", crate::json::hex(&bytes)),
    }
}

/// The name or path behind a stream key (see [`follow_key`]).
fn key_bytes(key: &str) -> Name {
    let Some(hex) = key.strip_prefix('\0') else {
        return Name::from(key);
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map_or_else(|| Name::from(key), Name::from)
}

impl Follower {
    /// Applies what the watcher reports; the namespaces that appeared are added in one batch
    /// at the end (one helper thread for all of them, not one each).
    fn drain(
        &mut self,
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut Output<'_>,
    ) -> Result<(), Failure> {
        let mut appeared: Vec<Named> = Vec::new();
        while let Some(event) = self.watcher.next()? {
            match &event {
                WatchEvent::Created { dir, name, .. } => {
                    let named = Named::new(dir, name);
                    if !stream.contains(&named.key) && !appeared.iter().any(|a| a.key == named.key)
                    {
                        appeared.push(named);
                    }
                }
                WatchEvent::Deleted { dir, name, .. } => {
                    let key = follow_key(dir, name);
                    appeared.retain(|a| a.key != key);
                    if self.followed.remove(&key) {
                        stream.remove(&key);
                    }
                }
                WatchEvent::Overflow => {
                    // The watcher's set is exact again: add what is missing, drop what is gone.
                    let present: Vec<Named> = self
                        .watcher
                        .namespaces()
                        .iter()
                        .map(|n| Named::new(&n.dir, &n.name))
                        .collect();
                    let keys: HashSet<&String> = present.iter().map(|n| &n.key).collect();
                    let gone: Vec<String> = self
                        .followed
                        .iter()
                        .filter(|k| !keys.contains(k))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.followed.remove(&key);
                        stream.remove(&key);
                    }
                    appeared = present
                        .into_iter()
                        .filter(|n| !stream.contains(&n.key))
                        .collect();
                }
                WatchEvent::DirectoryUnavailable { .. } => {
                    out.line(&crate::watch::to_json(&event))?;
                }
                _ => {}
            }
        }
        let batch: Vec<(&str, NetnsRef<'_>)> = appeared
            .iter()
            .map(|named| (named.key.as_str(), named.netns()))
            .collect();
        let mut failed = 0;
        let mut first_error = None;
        for (named, result) in appeared.iter().zip(stream.add_many(&batch, options)) {
            match result {
                Ok(()) => {
                    self.followed.insert(named.key.clone());
                }
                // Gone again already, or refused: say so and go on with the others.
                Err(e) => {
                    let line = stream_line("error", &named.key)
                        .field("error", &e.to_string())
                        .line();
                    out.line(&line)?;
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(error) = first_error {
            // How far following got, and what stopped it (a limit names itself).
            let line = Object::new("nsmon", "incomplete")
                .number("added", (appeared.len() - failed) as i64)
                .number("failed", failed as i64)
                .number("monitored", stream.len() as i64)
                .field("error", &error.to_string())
                .line();
            out.line(&line)?;
        }
        Ok(())
    }
}

fn groups(names: &[String]) -> Groups {
    if names.is_empty() {
        return Groups::ALL;
    }
    names.iter().fold(Groups::NONE, |acc, name| {
        acc | match name.as_str() {
            "link" => Groups::LINK,
            "addr" => Groups::ADDR,
            "route" => Groups::ROUTE,
            "neigh" => Groups::NEIGH,
            _ => Groups::TC, // parse_events accepts only the five names
        }
    })
}

fn family(f: u8) -> String {
    match i32::from(f) {
        libc::AF_INET => "inet".into(),
        libc::AF_INET6 => "inet6".into(),
        libc::AF_BRIDGE => "bridge".into(),
        other => other.to_string(),
    }
}

fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn tc_handle(h: u32) -> String {
    match h {
        u32::MAX => "root".into(),
        h => format!("{:x}:{:x}", h >> 16, h & 0xffff),
    }
}

fn opt_field(o: Object, key: &str, value: Option<String>) -> Object {
    match value {
        Some(v) => o.field(key, &v),
        None => o,
    }
}

fn opt_name(o: Object, key: &str, value: Option<&Name>) -> Object {
    match value {
        Some(v) => o.name(key, v),
        None => o,
    }
}

/// The start of every stream line: source, event, and the namespace (by the name rule when the
/// key stands for a followed name or path that is not UTF-8); a namespace known by its path
/// (in a folder other than the default one, or given by `--path`) also says its folder.
fn stream_line(event: &str, key: &str) -> Object {
    let line = Object::new("stream", event);
    let ns = key_bytes(key);
    let line = match key.starts_with('\0') {
        true => line.name("ns", &ns),
        false => line.field("ns", key),
    };
    let path = Path::new(ns.as_os_str());
    match path.parent().filter(|_| ns.as_bytes().contains(&b'/')) {
        Some(dir) => line.name("dir", &Name::from(dir.as_os_str())),
        None => line,
    }
}

fn to_json(event: &StreamEvent) -> String {
    let object = match event {
        StreamEvent::Message {
            key, nsid, message, ..
        } => message_json(key, *nsid, message),
        StreamEvent::Unparsed {
            key,
            nsid,
            reason,
            raw,
        } => {
            let o = stream_line("unparsed", key);
            let o = match nsid {
                Some(id) => o.number("nsid", i64::from(*id)),
                None => o,
            };
            let o = match raw.get(4..6) {
                Some(t) => o.number("type", i64::from(u16::from_ne_bytes([t[0], t[1]]))),
                None => o,
            };
            o.field("reason", reason).hex("raw", raw)
        }
        StreamEvent::Synced { key } => stream_line("synced", key),
        StreamEvent::SyncFailed { key, reason } => {
            stream_line("sync_failed", key).field("reason", reason)
        }
        StreamEvent::Overrun { key, lost } => stream_line("overrun", key)
            .maybe_number("lost", lost.map(|n| i64::try_from(n).unwrap_or(i64::MAX))),
        StreamEvent::Error { key, error } => {
            stream_line("error", key).field("error", &error.to_string())
        }
        // StreamEvent is non-exhaustive: a newer library's event gets a generic line.
        other => Object::new("stream", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}

fn message_json(key: &str, nsid: Option<i32>, message: &Rtnl) -> Object {
    // "nsid" only on events that have one (from an all-nsid target), not null on every line.
    let start = |event: &str| {
        let o = stream_line(event, key);
        match nsid {
            Some(id) => o.number("nsid", i64::from(id)),
            None => o,
        }
    };
    let name = |change: &Change, what: &str| match change {
        Change::New => format!("new_{what}"),
        Change::Deleted => format!("del_{what}"),
    };
    let n = |v: u32| i64::from(v);
    match message {
        Rtnl::Link(c, l) => {
            let o = start(&name(c, "link")).number("index", n(l.index));
            let o = match l.family {
                0 => o,
                f => o.field("family", &family(f)),
            };
            let o = opt_name(o, "name", l.name.as_ref());
            let o = match l.alt_names.is_empty() {
                true => o,
                false => o.names("alt_names", &l.alt_names),
            };
            let o = o
                .number("flags", n(l.flags))
                .maybe_number("mtu", l.mtu.map(n))
                .maybe_number("operstate", l.operstate.map(i64::from));
            let o = opt_field(o, "mac", l.mac.as_deref().map(mac));
            let o = o.maybe_number("master", l.master.map(n));
            opt_name(o, "kind", l.kind.as_ref())
        }
        Rtnl::Address(c, a) => {
            let o = start(&name(c, "addr"))
                .field("family", &family(a.family))
                .number("index", n(a.index));
            let o = opt_field(o, "addr", a.address.map(|x| x.to_string()));
            let o = o
                .number("prefixlen", i64::from(a.prefix_len))
                .number("scope", i64::from(a.scope));
            opt_name(o, "label", a.label.as_ref())
        }
        Rtnl::Route(c, r) => {
            let dst = match r.dst {
                Some(d) => format!("{d}/{}", r.dst_len),
                None if r.dst_len == 0 => "default".into(),
                None => format!("?/{}", r.dst_len),
            };
            let o = start(&name(c, "route"))
                .field("family", &family(r.family))
                .number("table", n(r.table))
                .field("dst", &dst);
            let o = opt_field(o, "gateway", r.gateway.map(|g| g.to_string()));
            o.maybe_number("oif", r.oif.map(n))
                .number("protocol", i64::from(r.protocol))
                .number("scope", i64::from(r.scope))
                .number("type", i64::from(r.kind))
        }
        Rtnl::Neighbour(c, x) => {
            let o = start(&name(c, "neigh"))
                .field("family", &family(x.family))
                .number("index", n(x.index));
            let o = opt_field(o, "dst", x.address.map(|a| a.to_string()));
            let o = opt_field(o, "lladdr", x.lladdr.as_deref().map(mac));
            o.number("state", i64::from(x.state))
        }
        Rtnl::Qdisc(c, t) | Rtnl::Class(c, t) | Rtnl::Filter(c, t) => {
            let what = match message {
                Rtnl::Qdisc(..) => "qdisc",
                Rtnl::Class(..) => "class",
                _ => "filter",
            };
            let o = start(&name(c, what))
                .number("index", n(t.index))
                .field("handle", &tc_handle(t.handle))
                .field("parent", &tc_handle(t.parent));
            opt_name(o, "kind", t.kind.as_ref())
        }
        other => stream_line("unknown", key).field("debug", &format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_keys_turn_back_into_their_names_and_paths() {
        let default = Path::new(DEFAULT_NETNS_DIR);
        let docker = Path::new("/var/run/docker/netns");
        for name in [&b"blue"[..], b"x\xfe", b"\xff\xff", b""] {
            let name = Name::from(name);
            assert_eq!(key_bytes(&follow_key(default, &name)), name);
            let path = docker.join(name.as_os_str());
            assert_eq!(
                key_bytes(&follow_key(docker, &name)),
                Name::from(path.as_os_str())
            );
        }
        assert_eq!(follow_key(default, &Name::from(&b"x\xfe"[..])), "\x0078fe");
        assert_eq!(
            follow_key(docker, &Name::from("abc")),
            "/var/run/docker/netns/abc"
        );
    }

    #[test]
    fn a_line_of_a_namespace_known_by_path_names_its_folder() {
        let line = stream_line("synced", "/var/run/docker/netns/abc").line();
        assert_eq!(
            line,
            "{\"source\":\"stream\",\"event\":\"synced\",\"ns\":\"/var/run/docker/netns/abc\",\
             \"dir\":\"/var/run/docker/netns\"}\n"
        );
        let line = stream_line("synced", "blue").line();
        assert_eq!(
            line,
            "{\"source\":\"stream\",\"event\":\"synced\",\"ns\":\"blue\"}\n"
        );
    }
}
