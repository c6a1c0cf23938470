//! Loss counted exactly: a consumer that stops reading while N changes happen, then reads
//! everything, is told of every one of them, received or lost (`Overrun { lost }`, from the
//! socket's drop counter), for the stream, an all-nsid target and the NSID subscriber.

mod common;

use std::time::Duration;

use common::*;
use nsmon::nsid::assign_nsid_in;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{
    Groups, NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber, Stream, StreamEvent,
    StreamOptions,
};

const T: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_millis(300);

/// A namespace with a bridge that routes can point at.
fn routable(tag: &str) -> Netns {
    let ns = Netns::add(tag);
    ip_batch_in(
        &ns.name,
        &[
            "link add nsmon-br type bridge".into(),
            "link set nsmon-br up".into(),
            "addr add 198.51.100.1/24 dev nsmon-br".into(),
        ],
    );
    ns
}

/// Adds `n` routes in `ns` in one `ip -batch` (one notification each), in tables from 100 on.
fn add_routes(ns: &str, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "route add 203.0.113.{}/32 dev nsmon-br table {}",
                i % 250,
                100 + i / 250
            )
        })
        .collect();
    ip_batch_in(ns, &lines);
}

/// (routes of tables >= 100 received, sum of `lost`, overruns) among `events`, counting only
/// events that `mine` accepts; panics on an overrun that does not say how many it lost.
fn tally(events: &[StreamEvent], mine: impl Fn(Option<i32>) -> bool) -> (u64, u64, usize) {
    let (mut received, mut lost, mut overruns) = (0, 0, 0);
    for event in events {
        match event {
            StreamEvent::Message {
                nsid,
                message: Rtnl::Route(Change::New, r),
                ..
            } if r.table >= 100 && mine(*nsid) => received += 1,
            StreamEvent::Overrun { lost: n, .. } => {
                lost += n.expect("this kernel counts drops (SO_MEMINFO)");
                overruns += 1;
            }
            StreamEvent::Message { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    (received, lost, overruns)
}

/// Reads until `received + lost` reaches `n` (or time runs out), then a quiet while more.
fn read_all(
    stream: &mut Stream,
    n: u64,
    mine: impl Fn(Option<i32>) -> bool + Copy,
) -> (u64, u64, usize) {
    let mut events = collect_until(stream, T, |e| {
        let (received, lost, _) = tally(e, mine);
        received + lost >= n
    });
    events.extend(collect_for(stream, QUIET));
    tally(&events, mine)
}

/// As [`read_all`], but slower than any `ip` makes routes: a pause after every event, so that
/// the reader falls behind while the changes go on, however fast the library reads.
fn read_slowly(stream: &mut Stream, n: u64) -> (u64, u64, usize) {
    let deadline = std::time::Instant::now() + T;
    let mut events = Vec::new();
    while std::time::Instant::now() < deadline {
        let (received, lost, _) = tally(&events, |_| true);
        if received + lost >= n {
            break;
        }
        match stream.next().unwrap() {
            Some(event) => {
                events.push(event);
                std::thread::sleep(Duration::from_micros(200));
            }
            None => {
                stream.wait(Some(Duration::from_millis(100))).unwrap();
            }
        }
    }
    events.extend(collect_for(stream, QUIET));
    tally(&events, |_| true)
}

#[test]
fn a_stalled_stream_counts_every_lost_route_exactly() {
    require_root!();
    // (changes, receive buffer): the smallest buffer, a small one, the kernel's default.
    for (n, buffer) in [(300, 4096), (3000, 4096), (3000, 65536), (3000, 0)] {
        let ns = routable("loss");
        let mut stream = Stream::new().unwrap();
        let options = StreamOptions::new()
            .groups(Groups::IPV4_ROUTE)
            .receive_buffer(buffer);
        stream.add("k", NetnsRef::Name(&ns.name), options).unwrap();
        add_routes(&ns.name, n); // nothing is read meanwhile
        let (received, lost, overruns) = read_all(&mut stream, n as u64, |_| true);
        eprintln!("N {n}, buffer {buffer}: received {received}, lost {lost}, {overruns} overruns");
        assert_eq!(
            received + lost,
            n as u64,
            "buffer {buffer}: received {received} lost {lost}"
        );
        if buffer == 4096 {
            assert!(
                overruns >= 1 && lost > 0,
                "a 4 KiB buffer cannot hold {n} routes"
            );
        }
    }
}

#[test]
fn a_reader_that_falls_behind_while_changes_go_on_counts_every_loss_exactly() {
    require_root!();
    // Drops go on while the reader drains what was queued before them (the kernel keeps
    // dropping until the queue is empty): they count too.
    for n in [3000, 6000] {
        let ns = routable("lossrun");
        let mut stream = Stream::new().unwrap();
        let options = StreamOptions::new()
            .groups(Groups::IPV4_ROUTE)
            .receive_buffer(4096);
        stream.add("k", NetnsRef::Name(&ns.name), options).unwrap();
        let churn = {
            let name = ns.name.clone();
            std::thread::spawn(move || add_routes(&name, n))
        };
        std::thread::sleep(Duration::from_millis(5));
        let (received, lost, overruns) = read_slowly(&mut stream, n as u64);
        churn.join().unwrap();
        eprintln!("running N {n}: received {received}, lost {lost}, {overruns} overruns");
        assert_eq!(received + lost, n as u64, "received {received} lost {lost}");
        assert!(overruns >= 1);
    }
}

#[test]
fn a_stalled_all_nsid_target_counts_every_lost_route_exactly() {
    require_root!();
    let observer = Netns::add("lossobs");
    let source = routable("losssrc");
    let id = assign_nsid_in(
        NetnsRef::Name(&observer.name),
        NetnsRef::Name(&source.name),
        NsidRequest::Auto,
    )
    .unwrap() as i32;
    for n in [500, 2000] {
        let mut stream = Stream::new().unwrap();
        let options = StreamOptions::new()
            .groups(Groups::IPV4_ROUTE)
            .receive_buffer(4096);
        stream
            .add_all_nsid("all", NetnsRef::Name(&observer.name), options)
            .unwrap();
        // Fresh tables each round: every route added is one notification.
        let lines: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "route add 203.0.113.{}/32 dev nsmon-br table {}",
                    i % 250,
                    1000 * n + i / 250
                )
            })
            .collect();
        ip_batch_in(&source.name, &lines);
        let (received, lost, overruns) = read_all(&mut stream, n as u64, |nsid| nsid == Some(id));
        eprintln!("all-nsid N {n}: received {received}, lost {lost}, {overruns} overruns");
        assert_eq!(received + lost, n as u64);
        assert!(overruns >= 1, "a 4 KiB buffer cannot hold {n} routes");
    }
}

#[test]
fn a_stalled_nsid_subscriber_counts_every_lost_assignment_exactly() {
    require_root!();
    let observer = Netns::add("nsidlossobs");
    let set = NetnsSet::add("nsidloss", 80);
    let mut sub = NsidSubscriber::open_in(
        NetnsRef::Name(&observer.name),
        NsidOptions::new().receive_buffer(1),
    )
    .unwrap();
    // 80 ids assigned as seen from the observer, none read meanwhile.
    ip_batch_in(
        &observer.name,
        &set.names
            .iter()
            .map(|n| format!("netns set {n} auto"))
            .collect::<Vec<_>>(),
    );
    let count = |events: &[NsidEvent]| {
        events
            .iter()
            .fold((0u64, 0u64, 0usize), |(r, l, o), e| match e {
                NsidEvent::NewNsid { .. } => (r + 1, l, o),
                NsidEvent::Overrun { lost } => (r, l + lost.expect("SO_MEMINFO"), o + 1),
                other => panic!("unexpected {other:?}"),
            })
    };
    let mut events = collect_until(&mut sub, T, |e| {
        let (r, l, _) = count(e);
        r + l >= 80
    });
    events.extend(collect_for(&mut sub, QUIET));
    let (received, lost, overruns) = count(&events);
    eprintln!("nsid: received {received}, lost {lost}, {overruns} overruns");
    assert_eq!(received + lost, 80);
    assert!(overruns >= 1 && lost > 0);
}
