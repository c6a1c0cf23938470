//! `nsmon events`: rtnetlink events from many namespaces, optionally following every named one.

use std::collections::HashSet;
use std::io::Write;

use nsmon::rtnl::{Change, Rtnl};
use nsmon::{
    Groups, NetnsRef, Stream, StreamEvent, StreamOptions, WatchEvent, Watcher, WatcherOptions,
};

use crate::args::{EventsArgs, Target};
use crate::json::Object;
use crate::os::{raise_nofile_limit, wait_readable, TermSignals};
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
        stream
            .add(&key, ns, options)
            .map_err(|e| Failure::Message(format!("{key}: {e}")))?;
    }
    let mut stdout = std::io::stdout().lock();
    let mut follower = match args.follow {
        true => Some(Follower {
            watcher: Watcher::new(WatcherOptions::new().list_existing(true))?,
            followed: HashSet::new(),
        }),
        false => None,
    };
    // The namespaces present now are subscribed before `ready`.
    if let Some(f) = follower.as_mut() {
        f.drain(&mut stream, options, &mut stdout)?;
    }
    stdout.write_all(Object::new("nsmon", "ready").line().as_bytes())?;
    stdout.flush()?;
    loop {
        if let Some(f) = follower.as_mut() {
            f.drain(&mut stream, options, &mut stdout)?;
        }
        while let Some(event) = stream.next()? {
            if let (StreamEvent::Error { key, .. }, Some(f)) = (&event, follower.as_mut()) {
                f.followed.remove(&**key);
            }
            stdout.write_all(to_json(&event).as_bytes())?;
            stdout.flush()?;
        }
        let watcher_fd = follower.as_ref().map_or(-1, |f| f.watcher.fd());
        let [_, _, signalled] = wait_readable([stream.fd(), watcher_fd, signals.fd()])?;
        if signalled {
            return Ok(());
        }
    }
}

/// `--follow`: the watcher beside the stream; every named namespace is added as it appears
/// and removed when it goes.
struct Follower {
    watcher: Watcher,
    /// Keys added by following (explicit `--ns` keys are never removed by it).
    followed: HashSet<String>,
}

impl Follower {
    /// Applies what the watcher reports; the namespaces that appeared are added in one batch
    /// at the end (one helper thread for all of them, not one each).
    fn drain(
        &mut self,
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut impl Write,
    ) -> Result<(), Failure> {
        let mut appeared: Vec<String> = Vec::new();
        while let Some(event) = self.watcher.next()? {
            match event {
                WatchEvent::Created { name }
                    if !stream.contains(&name) && !appeared.contains(&name) =>
                {
                    appeared.push(name);
                }
                WatchEvent::Deleted { name } => {
                    appeared.retain(|n| *n != name);
                    if self.followed.remove(&name) {
                        stream.remove(&name);
                    }
                }
                WatchEvent::Overflow => {
                    // The watcher's set is exact again: add what is missing, drop what is gone.
                    let present: HashSet<String> = self.watcher.namespaces().into_iter().collect();
                    for gone in self
                        .followed
                        .difference(&present)
                        .cloned()
                        .collect::<Vec<_>>()
                    {
                        self.followed.remove(&gone);
                        stream.remove(&gone);
                    }
                    appeared = present
                        .into_iter()
                        .filter(|n| !stream.contains(n))
                        .collect();
                }
                _ => {}
            }
        }
        let batch: Vec<(&str, NetnsRef<'_>)> = appeared
            .iter()
            .map(|n| (n.as_str(), NetnsRef::Name(n)))
            .collect();
        for ((name, _), result) in batch.iter().zip(stream.add_many(&batch, options)) {
            match result {
                Ok(()) => {
                    self.followed.insert(name.to_string());
                }
                // Gone again already, or refused: say so and go on with the others.
                Err(e) => {
                    let line = Object::new("stream", "error")
                        .field("ns", name)
                        .field("error", &e.to_string())
                        .line();
                    out.write_all(line.as_bytes())?;
                }
            }
        }
        out.flush()?;
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

fn to_json(event: &StreamEvent) -> String {
    let object = match event {
        StreamEvent::Message {
            key, nsid, message, ..
        } => message_json(key, *nsid, message),
        StreamEvent::Synced { key } => Object::new("stream", "synced").field("ns", key),
        StreamEvent::Overrun { key } => Object::new("stream", "overrun").field("ns", key),
        StreamEvent::Error { key, error } => Object::new("stream", "error")
            .field("ns", key)
            .field("error", &error.to_string()),
        // StreamEvent is non-exhaustive: a newer library's event gets a generic line.
        other => Object::new("stream", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}

fn message_json(key: &str, nsid: Option<i32>, message: &Rtnl) -> Object {
    // "nsid" only on events that have one (from an all-nsid target), not null on every line.
    let start = |event: &str| {
        let o = Object::new("stream", event).field("ns", key);
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
            let o = opt_field(o, "name", l.name.clone())
                .number("flags", n(l.flags))
                .maybe_number("mtu", l.mtu.map(n))
                .maybe_number("operstate", l.operstate.map(i64::from));
            let o = opt_field(o, "mac", l.mac.as_deref().map(mac));
            let o = o.maybe_number("master", l.master.map(n));
            opt_field(o, "kind", l.kind.clone())
        }
        Rtnl::Address(c, a) => {
            let o = start(&name(c, "addr"))
                .field("family", &family(a.family))
                .number("index", n(a.index));
            let o = opt_field(o, "addr", a.address.map(|x| x.to_string()));
            let o = o
                .number("prefixlen", i64::from(a.prefix_len))
                .number("scope", i64::from(a.scope));
            opt_field(o, "label", a.label.clone())
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
            opt_field(o, "kind", t.kind.clone())
        }
        other => Object::new("stream", "unknown")
            .field("ns", key)
            .field("debug", &format!("{other:?}")),
    }
}
