//! The JSON line of each stream event of `nsmon events`: the namespace it is about (by the
//! name rule), then the message's fields.

use std::path::Path;

use nsmon::rtnl::{Address, Change, Link, Neighbour, Route, Rtnl, Tc};
use nsmon::{Name, StreamEvent, StreamEventRef};

use crate::follow_named::key_bytes;
use crate::json::Object;

/// The JSON line of a borrowed `event`: a message typed from the stream's buffer, without the
/// owned event's copies.
pub fn ref_to_json(event: StreamEventRef<'_>) -> String {
    match event {
        StreamEventRef::Message(m) => match m.typed() {
            Ok(Some(message)) => message_json(m.key(), m.nsid(), &message).line(),
            // Unparsed: the owned event has the reason, as `next` would give it.
            _ => to_json(&m.to_event()),
        },
        StreamEventRef::Other(event) => to_json(event),
    }
}

/// The JSON line of `event`.
pub fn to_json(event: &StreamEvent) -> String {
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

/// The start of every stream line: source, event, and the namespace (by the name rule when the
/// key stands for a followed name or path that is not UTF-8); a namespace known by its path
/// (in a folder other than the default one, or given by `--path`) also says its folder.
pub fn stream_line(event: &str, key: &str) -> Object {
    let line = Object::new("stream", event);
    // A plain key (a name in the default folder: the common case) is its own text.
    if !key.starts_with('\0') && !key.contains('/') {
        return line.field("ns", key);
    }
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

fn message_json(key: &str, nsid: Option<i32>, message: &Rtnl) -> Object {
    let start = |(new, del): (&str, &str), change: &Change| {
        let event = match change {
            Change::New => new,
            Change::Deleted => del,
        };
        let o = stream_line(event, key);
        // "nsid" only on events that have one (from an all-nsid target), not null on every line.
        match nsid {
            Some(id) => o.number("nsid", i64::from(id)),
            None => o,
        }
    };
    match message {
        Rtnl::Link(c, l) => link(start(("new_link", "del_link"), c), l),
        Rtnl::Address(c, a) => address(start(("new_addr", "del_addr"), c), a),
        Rtnl::Route(c, r) => route(start(("new_route", "del_route"), c), r),
        Rtnl::Neighbour(c, x) => neighbour(start(("new_neigh", "del_neigh"), c), x),
        Rtnl::Qdisc(c, t) => tc(start(("new_qdisc", "del_qdisc"), c), t),
        Rtnl::Class(c, t) => tc(start(("new_class", "del_class"), c), t),
        Rtnl::Filter(c, t) => tc(start(("new_filter", "del_filter"), c), t),
        // Rtnl is non-exhaustive: a newer library's message gets a generic line.
        other => stream_line("unknown", key).field("debug", &format!("{other:?}")),
    }
}

fn link(o: Object, l: &Link) -> Object {
    let o = o.number("index", i64::from(l.index));
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
        .number("flags", i64::from(l.flags))
        .maybe_number("mtu", l.mtu.map(i64::from))
        .maybe_number("operstate", l.operstate.map(i64::from));
    let o = opt_field(o, "mac", l.mac.as_deref().map(mac));
    let o = o.maybe_number("master", l.master.map(i64::from));
    opt_name(o, "kind", l.kind.as_ref())
}

fn address(o: Object, a: &Address) -> Object {
    let o = o
        .field("family", &family(a.family))
        .number("index", i64::from(a.index));
    let o = match a.address {
        Some(x) => o.address("addr", x, None),
        None => o,
    };
    let o = o
        .number("prefixlen", i64::from(a.prefix_len))
        .number("scope", i64::from(a.scope));
    opt_name(o, "label", a.label.as_ref())
}

fn route(o: Object, r: &Route) -> Object {
    let o = o
        .field("family", &family(r.family))
        .number("table", i64::from(r.table));
    // Written in place: an address's text needs no escaping.
    let o = match r.dst {
        Some(d) => o.address("dst", d, Some(r.dst_len)),
        None if r.dst_len == 0 => o.field("dst", "default"),
        None => o.field("dst", &format!("?/{}", r.dst_len)),
    };
    let o = match r.gateway {
        Some(g) => o.address("gateway", g, None),
        None => o,
    };
    o.maybe_number("oif", r.oif.map(i64::from))
        .number("protocol", i64::from(r.protocol))
        .number("scope", i64::from(r.scope))
        .number("type", i64::from(r.kind))
}

fn neighbour(o: Object, x: &Neighbour) -> Object {
    let o = o
        .field("family", &family(x.family))
        .number("index", i64::from(x.index));
    let o = match x.address {
        Some(a) => o.address("dst", a, None),
        None => o,
    };
    let o = opt_field(o, "lladdr", x.lladdr.as_deref().map(mac));
    o.number("state", i64::from(x.state))
}

fn tc(o: Object, t: &Tc) -> Object {
    let o = o
        .number("index", i64::from(t.index))
        .field("handle", &tc_handle(t.handle))
        .field("parent", &tc_handle(t.parent));
    opt_name(o, "kind", t.kind.as_ref())
}

fn family(f: u8) -> std::borrow::Cow<'static, str> {
    match i32::from(f) {
        libc::AF_INET => "inet".into(),
        libc::AF_INET6 => "inet6".into(),
        libc::AF_BRIDGE => "bridge".into(),
        other => other.to_string().into(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
