//! Nothing inside a namespace can blind nsmon: links named with any bytes the kernel accepts,
//! address labels that are not UTF-8, a link whose message is over 64 KiB, in live events, in
//! dumps and through an all-nsid target; namespace files whose names are not UTF-8.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::*;
use nsmon::nsid::assign_nsid_in;
use nsmon::rtnl::{Change, Link, Rtnl};
use nsmon::{
    Groups, NetnsRef, NsidRequest, Stream, StreamEvent, StreamOptions, WatchEvent, Watcher,
    WatcherOptions,
};

const T: Duration = Duration::from_secs(20);

/// The last new-link event of each name among `events` of `key` (the kernel reports a link
/// again as it changes; the last has everything).
fn links_of(events: &[StreamEvent], key: &str) -> Vec<(Link, usize)> {
    let mut out: Vec<(Link, usize)> = Vec::new();
    for event in events {
        if let StreamEvent::Message {
            key: k,
            message: Rtnl::Link(Change::New, link),
            raw,
            ..
        } = event
        {
            // The link itself, not a bridge's AF_BRIDGE notice about it.
            if &**k != key || link.family != 0 {
                continue;
            }
            out.retain(|(l, _)| l.index != link.index);
            out.push((link.clone(), raw.len()));
        }
    }
    out
}

fn label_of(events: &[StreamEvent], key: &str) -> Option<Vec<u8>> {
    events.iter().find_map(|e| match e {
        StreamEvent::Message {
            key: k,
            message: Rtnl::Address(Change::New, a),
            ..
        } if &**k == key => a.label.as_ref().map(|l| l.as_bytes().to_vec()),
        _ => None,
    })
}

fn is_link(events: &[StreamEvent], key: &str, name: &[u8]) -> bool {
    links_of(events, key)
        .iter()
        .any(|(l, _)| l.name.as_ref().is_some_and(|n| n.as_bytes() == name))
}

/// Every object of the fixture is among `events` of `key`, byte for byte, and nothing ended or
/// dropped the namespace.
fn check_all_reported(events: &[StreamEvent], key: &str, expected: &Hostile) {
    let links = links_of(events, key);
    for name in &expected.links {
        assert!(
            links
                .iter()
                .any(|(l, _)| l.name.as_ref().is_some_and(|n| n.as_bytes() == &name[..])),
            "link {:?} not reported; links: {:?}",
            name.escape_ascii().to_string(),
            links.iter().map(|(l, _)| &l.name).collect::<Vec<_>>()
        );
    }
    let (many, raw_len) = links
        .iter()
        .find(|(l, _)| l.name.as_ref().is_some_and(|n| *n == "nsmon-many"))
        .expect("nsmon-many");
    let alt: Vec<&[u8]> = many.alt_names.iter().map(|n| n.as_bytes()).collect();
    let want: Vec<&[u8]> = expected.alt_names.iter().map(|n| &n[..]).collect();
    assert_eq!(alt.len(), want.len(), "how many alternative names");
    assert!(alt == want, "the alternative names differ (or their order)");
    assert!(*raw_len > 65536, "the message is over 64 KiB: {raw_len}");
    assert_eq!(label_of(events, key), Some(expected.label.clone()));
    for event in events {
        assert!(
            !matches!(
                event,
                StreamEvent::Error { .. } | StreamEvent::Unparsed { .. }
            ),
            "{event:?}"
        );
    }
}

#[test]
fn live_events_report_every_hostile_name_and_the_namespace_goes_on() {
    require_root!();
    let ns = Netns::add("hlive");
    let expected = Hostile::expected();
    let mut stream = Stream::new().unwrap();
    // Room for all the fixture's notifications (70 of them grow to 66 KB): no overrun here.
    let options = StreamOptions::new()
        .groups(Groups::LINK | Groups::IPV4_ADDR)
        .receive_buffer(32 << 20);
    stream.add("h", NetnsRef::Name(&ns.name), options).unwrap();
    Hostile::create(&ns.name);
    let events = collect_until(&mut stream, T, |e| is_link(e, "h", b"nsmon-ok"));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Overrun { .. })),
        "a 32 MiB buffer overran"
    );
    check_all_reported(&events, "h", &expected);
    run(
        "ip",
        &[
            "-n",
            &ns.name,
            "link",
            "add",
            "nsmon-after",
            "type",
            "bridge",
        ],
    );
    let events = collect_until(&mut stream, T, |e| is_link(e, "h", b"nsmon-after"));
    assert!(
        is_link(&events, "h", b"nsmon-after"),
        "the namespace is not monitored any more"
    );
}

#[test]
fn a_dump_lists_every_hostile_object_then_synced() {
    require_root!();
    let ns = Netns::add("hdump");
    let expected = Hostile::expected();
    Hostile::create(&ns.name);
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new()
        .groups(Groups::LINK | Groups::IPV4_ADDR)
        .dump(true);
    stream.add("d", NetnsRef::Name(&ns.name), options).unwrap();
    let events = collect_until(&mut stream, T, |e| {
        e.iter().any(|e| {
            matches!(
                e,
                StreamEvent::Synced { .. } | StreamEvent::SyncFailed { .. }
            )
        })
    });
    assert!(
        matches!(events.last(), Some(StreamEvent::Synced { key }) if &**key == "d"),
        "{:?}",
        events.last()
    );
    check_all_reported(&events, "d", &expected);
}

#[test]
fn an_all_nsid_target_survives_hostile_names_in_any_namespace() {
    require_root!();
    let observer = Netns::add("hobs");
    let hostile_ns = Netns::add("hsrc");
    let later = Netns::add("hlater");
    let expected = Hostile::expected();
    let id = |ns: &Netns| {
        assign_nsid_in(
            NetnsRef::Name(&observer.name),
            NetnsRef::Name(&ns.name),
            NsidRequest::Auto,
        )
        .unwrap() as i32
    };
    let (hostile_id, later_id) = (id(&hostile_ns), id(&later));
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new()
        .groups(Groups::LINK | Groups::IPV4_ADDR)
        .receive_buffer(32 << 20);
    stream
        .add_all_nsid("all", NetnsRef::Name(&observer.name), options)
        .unwrap();
    Hostile::create(&hostile_ns.name);
    let from = |events: &[StreamEvent], id: i32| -> Vec<StreamEvent> {
        events
            .iter()
            .filter(|e| match e {
                StreamEvent::Message { nsid, .. } | StreamEvent::Unparsed { nsid, .. } => {
                    *nsid == Some(id)
                }
                _ => true,
            })
            .cloned()
            .collect()
    };
    let events = collect_until(&mut stream, T, |e| {
        is_link(&from(e, hostile_id), "all", b"nsmon-ok")
    });
    check_all_reported(&from(&events, hostile_id), "all", &expected);
    // The shared target goes on: a namespace's events after the fixture, and the observer's.
    run(
        "ip",
        &[
            "-n",
            &later.name,
            "link",
            "add",
            "nsmon-later",
            "type",
            "bridge",
        ],
    );
    run(
        "ip",
        &[
            "-n",
            &observer.name,
            "link",
            "add",
            "nsmon-own",
            "type",
            "bridge",
        ],
    );
    let events = collect_until(&mut stream, T, |e| {
        is_link(&from(e, later_id), "all", b"nsmon-later")
            && e.iter().any(|e| {
                matches!(e, StreamEvent::Message { nsid: None, message: Rtnl::Link(_, l), .. }
                    if l.name.as_ref().is_some_and(|n| *n == "nsmon-own"))
            })
    });
    assert!(
        is_link(&from(&events, later_id), "all", b"nsmon-later"),
        "{events:?}"
    );
    assert!(stream.contains("all"));
}

#[test]
fn the_watcher_reports_a_namespace_file_whose_name_is_not_utf8() {
    require_root!();
    let dir = TempDir::new("hwatch");
    let listed_name = b"nsmon-listed-\xfe\xff".to_vec();
    let new_name = b"nsmon-new-\xc3\x28".to_vec();
    let listed = dir.path.join(OsStr::from_bytes(&listed_name));
    std::fs::write(&listed, b"").unwrap();
    bind_netns(&listed);
    let (names, mut watcher) =
        Watcher::list_and_watch(WatcherOptions::new().dir(&dir.path)).unwrap();
    let names: Vec<Vec<u8>> = names.iter().map(|n| n.name.as_bytes().to_vec()).collect();
    assert_eq!(names, vec![listed_name.clone()]);
    let listed_id = nsmon::NetnsRef::Path(&listed).identify().unwrap();
    let created = dir.path.join(OsStr::from_bytes(&new_name));
    std::fs::write(&created, b"").unwrap();
    bind_netns(&created);
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    let folder: std::sync::Arc<std::path::Path> = dir.path.as_path().into();
    assert_eq!(
        events,
        vec![WatchEvent::Created {
            dir: folder.clone(),
            name: nsmon::Name::from(&new_name[..]),
            id: Some(nsmon::NetnsRef::Path(&created).identify().unwrap()),
        }]
    );
    umount(&listed);
    std::fs::remove_file(&listed).unwrap();
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(
        events,
        vec![WatchEvent::Deleted {
            dir: folder,
            name: nsmon::Name::from(&listed_name[..]),
            id: Some(listed_id),
        }]
    );
}
