//! A namespace flooded with changes does not starve a quiet one: the stream reads its sockets
//! round robin, so the quiet namespace's event comes within the first events taken, not after
//! the flood, whether the events are taken one at a time or in batches.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nsmon::{Groups, NetnsRef, Stream, StreamEventRef, StreamOptions};

/// Routes queued in the flooded namespace before anything is read (well within its receive
/// buffer, so that nothing is lost).
const FLOOD: usize = 400;

/// RTM_NEWROUTE, from linux/rtnetlink.h.
const RTM_NEWROUTE: u16 = 24;

/// The position of the quiet namespace's first event among the stream's events, read with
/// `batch` events a call, and how many events were read in all.
fn position_of_quiet(batch: usize) -> (usize, usize) {
    let flooded = Netns::add("fair-flood");
    let quiet = Netns::add("fair-quiet");
    for ns in [&flooded, &quiet] {
        run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
    }
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    stream
        .add("flooded", NetnsRef::Name(&flooded.name), options)
        .unwrap();
    stream
        .add("quiet", NetnsRef::Name(&quiet.name), options)
        .unwrap();
    let lines: Vec<String> = (0..FLOOD)
        .map(|i| {
            format!(
                "route add 198.51.{}.{}/32 dev lo",
                100 + i / 250,
                i % 250 + 1
            )
        })
        .collect();
    ip_batch_in(&flooded.name, &lines);
    run(
        "ip",
        &[
            "-n",
            &quiet.name,
            "route",
            "add",
            "203.0.113.7/32",
            "dev",
            "lo",
        ],
    );
    // Every notification is queued by now (the kernel queues it before `ip` returns).
    let (mut taken, mut quiet_at) = (0, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while taken < FLOOD + 1 {
        assert!(Instant::now() < deadline, "{taken} of {} events", FLOOD + 1);
        stream.wait(Some(Duration::from_millis(200))).unwrap();
        loop {
            let events = stream.next_batch_ref(batch).unwrap();
            if events.is_empty() {
                break;
            }
            for event in events.iter() {
                let StreamEventRef::Message(m) = event else {
                    panic!("{event:?}");
                };
                assert_eq!(m.message_type(), RTM_NEWROUTE);
                if m.key() == "quiet" && quiet_at.is_none() {
                    quiet_at = Some(taken);
                }
                taken += 1;
            }
        }
    }
    (quiet_at.expect("the quiet namespace's event came"), taken)
}

#[test]
fn a_flooded_namespace_does_not_starve_a_quiet_one() {
    require_root!();
    for batch in [1, 64] {
        let (at, taken) = position_of_quiet(batch);
        assert_eq!(taken, FLOOD + 1, "every event, once");
        // Round robin, a datagram from each socket in turn, a pump reading ahead at most 16
        // events: the quiet event is among the first few, not behind the flood.
        assert!(
            at < 32,
            "batches of {batch}: the quiet namespace's event came {at}th of {taken}"
        );
    }
}
