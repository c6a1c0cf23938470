//! Dumps that are complete or say they are not: an overrun while a dump runs restarts it, and a
//! dump the kernel flags as interrupted (`NLM_F_DUMP_INTR`: the table changed meanwhile) is sent
//! again; either way the `Synced` that ends it is followed by a state that equals the kernel's,
//! object by object.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

const T: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(500);
/// `NLM_F_DUMP_INTR` and `NLM_F_MULTI` in a message's header flags (bytes 6-7).
const DUMP_INTR: u16 = 0x10;
const NLM_F_MULTI: u16 = 0x2;

fn routable(tag: &str, bridges: usize) -> Netns {
    let ns = Netns::add(tag);
    let mut lines = Vec::new();
    for b in 0..bridges {
        lines.push(format!("link add nsmon-b{b} type bridge"));
        lines.push(format!("link set nsmon-b{b} up"));
    }
    lines.push("addr add 198.51.100.1/24 dev nsmon-b0".into());
    ip_batch_in(&ns.name, &lines);
    ns
}

fn route_lines(n: usize, first_table: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "route add 203.0.113.{}/32 dev nsmon-b0 table {}",
                i % 250,
                first_table + i / 250
            )
        })
        .collect()
}

/// What a caller knows of the namespace after `events`, by the rule the stream documents: at
/// `Overrun`, forget everything; then apply each new and deleted object in order.
fn state<K: Ord>(events: &[StreamEvent], key: impl Fn(&Rtnl) -> Option<K>) -> BTreeSet<K> {
    let mut known = BTreeSet::new();
    for event in events {
        match event {
            StreamEvent::Overrun { .. } => known.clear(),
            StreamEvent::Message { message, .. } => {
                if let Some(k) = key(message) {
                    match message {
                        Rtnl::Route(Change::New, _) | Rtnl::Address(Change::New, _) => {
                            known.insert(k);
                        }
                        _ => {
                            known.remove(&k);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    known
}

/// `ip -j` output in `ns`, parsed.
fn ip_json(ns: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ip")
        .args(["-n", ns, "-j"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn table_number(v: &serde_json::Value) -> u32 {
    match v["table"].as_str() {
        None | Some("main") => 254,
        Some("local") => 255,
        Some("default") => 253,
        Some(n) => n.parse().unwrap(),
    }
}

#[test]
fn an_overrun_during_a_dump_restarts_it_and_the_synced_state_is_the_kernels() {
    require_root!();
    let ns = routable("dumpover", 1);
    // A dump long enough to be running while the routes below are added.
    ip_batch_in(&ns.name, &route_lines(3000, 100));
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new()
        .groups(Groups::IPV4_ROUTE)
        .dump(true)
        .resync_on_overrun(true)
        .receive_buffer(4096);
    stream.add("k", NetnsRef::Name(&ns.name), options).unwrap();
    let churn = {
        let name = ns.name.clone();
        std::thread::spawn(move || ip_batch_in(&name, &route_lines(3000, 200)))
    };
    // Not read meanwhile: the dump's first datagram fills the 4 KiB buffer, so the kernel drops
    // the churn's notifications while the dump is running.
    std::thread::sleep(Duration::from_millis(200));
    let mut events = Vec::new();
    let deadline = Instant::now() + T;
    // Until the churn is over and a Synced follows the last Overrun.
    loop {
        events.extend(collect_for(&mut stream, Duration::from_millis(50)));
        let last_overrun = events
            .iter()
            .rposition(|e| matches!(e, StreamEvent::Overrun { .. }));
        let synced_after = events
            .iter()
            .skip(last_overrun.map_or(0, |i| i + 1))
            .any(|e| matches!(e, StreamEvent::Synced { .. }));
        if churn.is_finished() && synced_after {
            break;
        }
        assert!(Instant::now() < deadline, "no Synced after the churn");
    }
    churn.join().unwrap();
    events.extend(collect_for(&mut stream, QUIET));
    let first_end = events
        .iter()
        .position(|e| {
            matches!(
                e,
                StreamEvent::Synced { .. } | StreamEvent::SyncFailed { .. }
            )
        })
        .unwrap();
    assert!(
        events[..first_end]
            .iter()
            .any(|e| matches!(e, StreamEvent::Overrun { .. })),
        "no overrun while the first dump ran: the test did not test it"
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            StreamEvent::SyncFailed { .. } | StreamEvent::Error { .. }
        )),
        "{:?}",
        events
            .iter()
            .find(|e| !matches!(e, StreamEvent::Message { .. }))
    );
    let overruns = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Overrun { .. }))
        .count();
    let reported = state(&events, |m| match m {
        Rtnl::Route(_, r) if (100..253).contains(&r.table) => Some((r.table, r.dst)),
        _ => None,
    });
    let kernel: BTreeSet<(u32, Option<IpAddr>)> =
        ip_json(&ns.name, &["-4", "route", "show", "table", "all"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| (100..253).contains(&table_number(r)))
            .map(|r| (table_number(r), r["dst"].as_str().unwrap().parse().ok()))
            .collect();
    eprintln!(
        "{overruns} overruns; {} routes reported, {} in the kernel",
        reported.len(),
        kernel.len()
    );
    assert_eq!(kernel.len(), 6000);
    assert!(
        reported == kernel,
        "{} reported, {} in the kernel",
        reported.len(),
        kernel.len()
    );
}

/// Address churn in `ns` (one address added and deleted on nsmon-b9, in bursts of 200 changes
/// with `pause` between them) until stopped.
struct Churn {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn churn(ns: &str, pause: Duration) -> Churn {
    let stop = Arc::new(AtomicBool::new(false));
    let (started, running) = std::sync::mpsc::channel();
    let thread = {
        let (name, stop) = (ns.to_string(), stop.clone());
        std::thread::spawn(move || {
            let flip: Vec<String> = (0..100)
                .flat_map(|_| {
                    [
                        "addr add 198.51.100.200/32 dev nsmon-b9".to_string(),
                        "addr del 198.51.100.200/32 dev nsmon-b9".to_string(),
                    ]
                })
                .collect();
            while !stop.load(Ordering::Relaxed) {
                ip_batch_in(&name, &flip);
                let _ = started.send(());
                std::thread::sleep(pause);
            }
        })
    };
    running.recv().unwrap();
    Churn { stop, thread }
}

impl Churn {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

/// One attempt at a dump: its replies (one sequence number), whether the kernel flagged any.
struct Attempt {
    seq: u32,
    interrupted: bool,
    objects: Vec<Vec<u8>>,
}

/// The dump's attempts among `events`, in order: replies are the messages flagged
/// `NLM_F_MULTI` (notifications are not), each attempt with its own sequence number.
fn attempts(events: &[StreamEvent]) -> Vec<Attempt> {
    let mut out: Vec<Attempt> = Vec::new();
    for event in events {
        let StreamEvent::Message { raw, .. } = event else {
            continue;
        };
        let flags = u16::from_ne_bytes([raw[6], raw[7]]);
        if flags & NLM_F_MULTI == 0 {
            continue;
        }
        let seq = u32::from_ne_bytes(raw[8..12].try_into().unwrap());
        if out.last().map_or(true, |a| a.seq != seq) {
            out.push(Attempt {
                seq,
                interrupted: false,
                objects: Vec::new(),
            });
        }
        let attempt = out.last_mut().unwrap();
        attempt.interrupted |= flags & DUMP_INTR != 0;
        attempt.objects.push(raw.to_vec());
    }
    out
}

/// The event that ended the first round of dumps.
fn round_end(events: &[StreamEvent]) -> Option<&StreamEvent> {
    events.iter().find(|e| {
        matches!(
            e,
            StreamEvent::Synced { .. } | StreamEvent::SyncFailed { .. }
        )
    })
}

/// A new stream on `ns` with `options` (a dump), read until its round ends.
fn dump_round(ns: &str, options: StreamOptions) -> (Stream, Vec<StreamEvent>) {
    let mut stream = Stream::new().unwrap();
    stream.add("k", NetnsRef::Name(ns), options).unwrap();
    let events = collect_until(&mut stream, T, |e| {
        e.iter().any(|e| {
            matches!(
                e,
                StreamEvent::Synced { .. } | StreamEvent::SyncFailed { .. }
            )
        })
    });
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Overrun { .. } | StreamEvent::Error { .. })),
        "{:?}",
        events
            .iter()
            .find(|e| !matches!(e, StreamEvent::Message { .. }))
    );
    (stream, events)
}

#[test]
fn an_interrupted_dump_is_sent_again_and_the_synced_state_is_the_kernels() {
    require_root!();
    // 2,500 addresses on ten bridges: a dump of many datagrams, between which the churn below
    // changes the table, so that the kernel flags the dump as interrupted.
    let ns = routable("dumpintr", 10);
    let mut lines = Vec::new();
    for b in 0..10 {
        for a in 2..252 {
            lines.push(format!("addr add 203.0.113.{a}/32 dev nsmon-b{b}"));
        }
    }
    ip_batch_in(&ns.name, &lines);
    // Churn in bursts with pauses: an attempt that a burst interrupts is sent again, and one
    // in a pause is consistent. (That a part interrupted on every attempt ends the round in
    // SyncFailed after its bound is the round's own unit test: real churn leaves gaps.)
    let options = StreamOptions::new().groups(Groups::IPV4_ADDR).dump(true);
    let bursts = churn(&ns.name, Duration::from_millis(30));
    let mut interrupted_rounds = 0;
    let mut kept = None;
    for round in 0..60 {
        let (stream, events) = dump_round(&ns.name, options);
        let attempts = attempts(&events);
        let flagged = attempts.iter().position(|a| a.interrupted);
        let synced = matches!(round_end(&events), Some(StreamEvent::Synced { .. }));
        if let Some(first) = flagged {
            interrupted_rounds += 1;
            eprintln!(
                "round {round}: attempts {:?}, synced: {synced}",
                attempts
                    .iter()
                    .map(|a| (a.interrupted, a.objects.len()))
                    .collect::<Vec<_>>()
            );
            // Sent again after the interrupted attempt; the round ends with a clean one that
            // lists every address that stays.
            let last = attempts.last().unwrap();
            assert!(
                attempts.len() > first + 1,
                "an interrupted dump was not sent again"
            );
            if synced {
                assert!(!last.interrupted, "Synced after an interrupted attempt");
                assert!(last.objects.len() >= 2500, "{}", last.objects.len());
                kept = Some((stream, events));
                break;
            }
        }
    }
    bursts.stop();
    let (mut stream, mut events) =
        kept.expect("the kernel never flagged a dump interrupted (then Synced) in 60 rounds");
    events.extend(collect_for(&mut stream, QUIET));
    let reported = state(&events, |m| match m {
        Rtnl::Address(_, a) => Some((a.index, a.address, a.prefix_len)),
        _ => None,
    });
    let kernel: BTreeSet<(u32, Option<IpAddr>, u8)> = ip_json(&ns.name, &["-4", "addr", "show"])
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|link| {
            let index = link["ifindex"].as_u64().unwrap() as u32;
            link["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| {
                    (
                        index,
                        a["local"].as_str().unwrap().parse().ok(),
                        a["prefixlen"].as_u64().unwrap() as u8,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    eprintln!(
        "{interrupted_rounds} interrupted rounds; {} addresses",
        kernel.len()
    );
    assert_eq!(kernel.len(), 2501);
    assert!(
        reported == kernel,
        "{} reported, {} in the kernel",
        reported.len(),
        kernel.len()
    );
}
