//! A coalescing stream on a real namespace: a window holds back what arrives after the caller
//! has taken what was there, one wake-up delivers all of it, and a window that brought nothing
//! gives the next event at once. Windows are a second long, so that the checks made right after
//! `ip` returns (the kernel queues a change's notification before the request returns) have a
//! wide margin; nothing here measures a duration.

mod common;

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

const WINDOW: Duration = Duration::from_secs(1);

/// Whether the stream's fd is readable now, as the caller's epoll would see it.
fn readable(stream: &Stream) -> bool {
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1
}

/// Everything `next` has now, without waiting.
fn drain(stream: &mut Stream) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    while let Some(event) = stream.next().unwrap() {
        out.push(event);
    }
    out
}

/// The last octets of the new 198.51.100.x/32 routes among `events`.
fn new_routes(events: &[StreamEvent]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Message {
                message: Rtnl::Route(Change::New, r),
                ..
            } if r.dst_len == 32 => match r.dst {
                Some(IpAddr::V4(a)) if a.octets()[..3] == [198, 51, 100] => Some(a.octets()[3]),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn add_routes(ns: &str, octets: std::ops::Range<u8>) {
    let lines: Vec<String> = octets
        .map(|i| format!("route add 198.51.100.{i}/32 dev lo"))
        .collect();
    ip_batch_in(ns, &lines);
}

#[test]
fn a_window_holds_events_back_then_one_wake_up_delivers_them_all() {
    require_root!();
    assert!(
        matches!(
            Stream::with_coalescing(Duration::ZERO),
            Err(nsmon::Error::InvalidArgument(_))
        ),
        "a zero window is refused"
    );
    let ns = Netns::add("coalesce");
    run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
    let mut stream = Stream::with_coalescing(WINDOW).unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    stream.add("ns", NetnsRef::Name(&ns.name), options).unwrap();
    assert!(!readable(&stream), "nothing has happened yet");

    // Quiet so far: the first event wakes the caller at once.
    add_routes(&ns.name, 1..2);
    assert!(
        readable(&stream),
        "the first event after a quiet spell waits"
    );
    assert_eq!(new_routes(&drain(&mut stream)), vec![1]);

    // Taken: a window opens, and what arrives now waits for its end.
    add_routes(&ns.name, 2..22);
    assert!(
        !readable(&stream),
        "an event arriving in a window woke the caller"
    );
    assert!(
        drain(&mut stream).is_empty(),
        "next gave an event inside a window"
    );

    // The window ends: one wake-up, and everything that came meanwhile, in order.
    assert!(stream.wait(Some(WINDOW * 10)).unwrap());
    let batch = drain(&mut stream);
    assert_eq!(new_routes(&batch), (2..22).collect::<Vec<u8>>());
    assert!(!readable(&stream), "drained, yet the fd stays readable");

    // A window follows the batch; nothing comes in it, so the next event wakes at once again.
    assert!(
        !stream.wait(Some(WINDOW * 3)).unwrap(),
        "an empty window produced an event"
    );
    assert!(drain(&mut stream).is_empty());
    add_routes(&ns.name, 22..23);
    assert!(
        readable(&stream),
        "after a quiet window an event waits for another"
    );
    assert_eq!(new_routes(&drain(&mut stream)), vec![22]);
    ns.delete();
}

#[test]
fn a_coalescing_stream_loses_nothing_under_churn() {
    require_root!();
    let ns = Netns::add("coalesce-churn");
    run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
    let mut stream = Stream::with_coalescing(Duration::from_millis(2)).unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE).dump(true);
    stream.add("ns", NetnsRef::Name(&ns.name), options).unwrap();
    add_routes(&ns.name, 1..201);
    let events = collect_until(&mut stream, Duration::from_secs(10), |e| {
        new_routes(e).len() >= 200
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Synced { .. })),
        "no Synced"
    );
    assert_eq!(new_routes(&events), (1..201).collect::<Vec<u8>>());
    ns.delete();
}
