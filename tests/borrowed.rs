//! Borrowed events on a real namespace: `next_ref`, `next_batch_ref` and `dispatch_ref` hand
//! out the events `next` does (same order, same keys, same bytes, the same typed message once
//! typed), the dump's end among them, without copying them.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamEventRef, StreamOptions};

/// RTM_NEWROUTE, from linux/rtnetlink.h.
const RTM_NEWROUTE: u16 = 24;
const ROUTES: usize = 60;

/// The four ways of reading a stream compared here.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Next,
    NextRef,
    BatchRef,
    DispatchRef,
}

/// Checks what a borrowed event says of itself against what it makes owned, and returns that.
fn checked(event: StreamEventRef<'_>) -> StreamEvent {
    let owned = event.to_event();
    assert_eq!(event.key(), owned.key());
    if let StreamEventRef::Message(m) = event {
        let header_type = u16::from_ne_bytes([m.raw()[4], m.raw()[5]]);
        assert_eq!(m.message_type(), header_type, "the type is the header's");
        match (&owned, m.typed()) {
            (StreamEvent::Message { message, raw, .. }, Ok(Some(typed))) => {
                assert_eq!(*message, typed, "typed on access as next types it");
                assert_eq!(raw[..], m.raw()[..]);
            }
            (StreamEvent::Unparsed { raw, .. }, Ok(None) | Err(_)) => {
                assert_eq!(raw[..], m.raw()[..])
            }
            (owned, typed) => panic!("{owned:?} beside {typed:?}"),
        }
    }
    owned
}

/// Reads `stream` with `reader` until `done` says the events are all there (at most 20 s), and
/// returns every event, owned for comparison.
fn read_until(
    stream: &mut Stream,
    reader: Reader,
    done: impl Fn(&[StreamEvent]) -> bool,
) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&events) {
        assert!(Instant::now() < deadline, "{reader:?}: {events:?}");
        stream.wait(Some(Duration::from_millis(200))).unwrap();
        match reader {
            Reader::Next => {
                while let Some(e) = stream.next().unwrap() {
                    events.push(e);
                }
            }
            Reader::NextRef => {
                while let Some(e) = stream.next_ref().unwrap() {
                    events.push(checked(e));
                }
            }
            Reader::BatchRef => loop {
                // An odd size, so that batches end in the middle of what is ready.
                let batch = stream.next_batch_ref(7).unwrap();
                assert!(batch.len() <= 7);
                if batch.is_empty() {
                    break;
                }
                events.extend(batch.iter().map(checked));
            },
            Reader::DispatchRef => {
                stream
                    .dispatch_ref(|e| {
                        events.push(checked(e));
                        true
                    })
                    .unwrap();
            }
        }
    }
    events
}

fn synced(events: &[StreamEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, StreamEvent::Synced { key } if &**key == "ns"))
}

fn new_routes(events: &[StreamEvent]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                StreamEvent::Message {
                    message: Rtnl::Route(Change::New, r),
                    ..
                } if r.dst_len == 32 && r.table == 100
            )
        })
        .count()
}

#[test]
fn borrowed_events_are_the_events_next_returns() {
    require_root!();
    let ns = Netns::add("borrowed");
    run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
    run(
        "ip",
        &["-n", &ns.name, "link", "add", "nsmon-b0", "type", "bridge"],
    );
    let readers = [
        Reader::Next,
        Reader::NextRef,
        Reader::BatchRef,
        Reader::DispatchRef,
    ];
    let options = || {
        StreamOptions::new()
            .groups(Groups::IPV4_ROUTE | Groups::LINK)
            .dump(true)
    };
    let mut streams: Vec<Stream> = readers
        .iter()
        .map(|_| {
            let mut s = Stream::new().unwrap();
            s.add("ns", NetnsRef::Name(&ns.name), options()).unwrap();
            s
        })
        .collect();
    // Each dump first, so that every stream lists the same objects before the same changes.
    let mut read: Vec<Vec<StreamEvent>> = readers
        .iter()
        .zip(&mut streams)
        .map(|(reader, stream)| read_until(stream, *reader, synced))
        .collect();
    let lines: Vec<String> = (1..=ROUTES)
        .map(|i| format!("route add 198.51.100.{i}/32 dev lo table 100"))
        .collect();
    ip_batch_in(&ns.name, &lines);
    for ((reader, stream), events) in readers.iter().zip(&mut streams).zip(&mut read) {
        let mut changes = read_until(stream, *reader, |e| new_routes(e) == ROUTES);
        // Up to the last route: what the kernel says later on its own (a link's state) may
        // come between two readers' reads.
        while new_routes(&changes[..changes.len() - 1]) == ROUTES {
            changes.pop();
        }
        events.extend(changes);
    }
    assert!(
        read[0].iter().any(|e| matches!(e, StreamEvent::Message {
            message: Rtnl::Link(_, l), ..
        } if l.name.as_ref().is_some_and(|n| n.as_bytes() == b"nsmon-b0"))),
        "the dump lists the bridge"
    );
    // Each stream's dump has its own sequence number and port: the rest is compared.
    let text = |events: &[StreamEvent]| -> Vec<String> {
        let mut events = events.to_vec();
        for e in &mut events {
            if let StreamEvent::Message { raw, .. } | StreamEvent::Unparsed { raw, .. } = e {
                raw[8..16].fill(0);
            }
        }
        events.iter().map(|e| format!("{e:?}")).collect()
    };
    for (reader, events) in readers.iter().zip(&read).skip(1) {
        assert_eq!(
            text(events),
            text(&read[0]),
            "{reader:?} reads what next reads"
        );
    }

    // Drained: an empty batch, and the fd is not readable.
    for stream in &mut streams {
        assert!(stream.next_batch_ref(64).unwrap().is_empty());
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 0);
    }
}

#[test]
fn a_message_type_is_read_without_typing_the_message() {
    require_root!();
    let ns = Netns::add("borrowed-type");
    run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    stream.add("ns", NetnsRef::Name(&ns.name), options).unwrap();
    run(
        "ip",
        &[
            "-n",
            &ns.name,
            "route",
            "add",
            "203.0.113.9/32",
            "dev",
            "lo",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no route event");
        stream.wait(Some(Duration::from_millis(200))).unwrap();
        if let Some(StreamEventRef::Message(m)) = stream.next_ref().unwrap() {
            assert_eq!(m.message_type(), RTM_NEWROUTE);
            assert_eq!(m.key(), "ns");
            assert_eq!(m.nsid(), None);
            match m.typed().unwrap() {
                Some(Rtnl::Route(Change::New, r)) => {
                    assert_eq!(r.dst, Some("203.0.113.9".parse().unwrap()))
                }
                other => panic!("{other:?}"),
            }
            break;
        }
    }
}
