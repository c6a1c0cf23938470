//! h. A moderate, steady rate: many namespaces each changing now and then, the load where a
//! plain stream wakes its reader once per event. The same paced load is read by a plain stream
//! and by coalescing ones (in this process, one after the other); each reports its wake-ups,
//! the CPU its reading thread used per event, and what it received.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

use crate::load::Fleet;
use crate::Table;

/// How long the paced load runs for each reader.
const RUN: Duration = Duration::from_secs(4);

/// What one reader saw.
struct Reading {
    events: usize,
    wakeups: usize,
    cpu_us: f64,
    /// The median number of events one wake-up delivered.
    median_batch: usize,
}

/// The CPU time the calling thread has used, in microseconds.
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// One `ip -n NS -batch -` per namespace, fed a line at a time: `rate` changes a second in
/// each namespace (a host route added, then deleted), spread evenly, for [`RUN`]; each ends
/// with its last route deleted, so that every line is one event and the next run starts from
/// the same state. Returns how many changes were made.
fn paced_load(names: &[String], rate: usize) -> usize {
    let mut children: Vec<Child> = names
        .iter()
        .map(|ns| {
            Command::new("ip")
                .args(["-n", ns, "-batch", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ip -batch")
        })
        .collect();
    // A tick every millisecond; namespace i changes on the ticks where (tick + i) % period == 0.
    let period = (1000 / rate.max(1)).max(1);
    let start = Instant::now();
    let mut steps = vec![0usize; children.len()];
    let mut tick = 0usize;
    while start.elapsed() < RUN {
        for (i, child) in children.iter_mut().enumerate() {
            if (tick + i) % period == 0 {
                change(&mut steps[i], child);
            }
        }
        tick += 1;
        let next = start + Duration::from_millis(tick as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for (i, child) in children.iter_mut().enumerate() {
        if steps[i] % 2 == 1 {
            change(&mut steps[i], child);
        }
    }
    let made = steps.iter().sum();
    for mut child in children {
        drop(child.stdin.take());
        child.wait().unwrap();
    }
    made
}

/// Writes a namespace's next change: its route added on even steps, deleted on odd ones.
fn change(step: &mut usize, child: &mut Child) {
    let verb = if *step % 2 == 0 { "add" } else { "del" };
    let stdin = child.stdin.as_mut().unwrap();
    let host = *step / 2 % 250 + 1;
    writeln!(stdin, "route {verb} 203.0.113.{host}/32 dev nsmon-br").unwrap();
    stdin.flush().unwrap();
    *step += 1;
}

/// Reads every namespace of `names` through `stream` while the paced load runs, until a quiet
/// half second after it ends.
fn read(mut stream: Stream, names: &[String], rate: usize) -> (Reading, usize) {
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    let targets: Vec<(&str, NetnsRef<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    for outcome in stream.add_many(&targets, options) {
        outcome.expect("add");
    }
    let names_owned = names.to_vec();
    let load = std::thread::spawn(move || paced_load(&names_owned, rate));
    let cpu_start = thread_cpu_us();
    let (mut events, mut wakeups) = (0, 0);
    let mut batches = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    loop {
        if stream.wait(Some(Duration::from_millis(100))).unwrap() {
            wakeups += 1;
            let mut batch = 0;
            while let Some(event) = stream.next().unwrap() {
                match event {
                    StreamEvent::Message { .. } => batch += 1,
                    StreamEvent::Overrun { .. } => panic!("overrun at a moderate rate"),
                    _ => {}
                }
            }
            events += batch;
            batches.push(batch);
            quiet_since = None;
        } else if load.is_finished() {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
    }
    let cpu_us = thread_cpu_us() - cpu_start;
    batches.sort_unstable();
    let median_batch = batches.get(batches.len() / 2).copied().unwrap_or(0);
    let made = load.join().unwrap();
    (
        Reading {
            events,
            wakeups,
            cpu_us,
            median_batch,
        },
        made,
    )
}

pub fn scenario(table: &mut Table, count: usize) {
    let rate = 100;
    eprintln!("h. coalescing: {count} namespaces x {rate} changes/s");
    let fleet = Fleet::new("coalesce", count, true);
    let (plain, made) = read(Stream::new().unwrap(), &fleet.names, rate);
    table.section(&format!(
        "h. moderate rate: {count} namespaces x {rate} route changes/s for {} s (about {made} \
         events), one reader each, same load",
        RUN.as_secs()
    ));
    let per_event = |r: &Reading| r.cpu_us / r.events.max(1) as f64;
    table.add(
        &format!(
            "plain stream: events received of {made} | wake-ups (median batch {})",
            plain.median_batch
        ),
        format!("{}/{made}", plain.events),
        plain.wakeups.to_string(),
        None,
    );
    for window_us in [250u64, 1000, 5000] {
        let stream = Stream::with_coalescing(Duration::from_micros(window_us)).unwrap();
        let (coalesced, made) = read(stream, &fleet.names, rate);
        let what = format!("coalescing {window_us} us");
        table.add(
            &format!("{what}: events received | of"),
            coalesced.events.to_string(),
            made.to_string(),
            None,
        );
        table.add(
            &format!(
                "{what}: wake-ups per 1,000 events (median batch {}) | plain",
                coalesced.median_batch
            ),
            format!(
                "{:.1}",
                coalesced.wakeups as f64 * 1000.0 / coalesced.events.max(1) as f64
            ),
            format!(
                "{:.1}",
                plain.wakeups as f64 * 1000.0 / plain.events.max(1) as f64
            ),
            Some(
                (coalesced.wakeups as f64 / coalesced.events.max(1) as f64)
                    / (plain.wakeups as f64 / plain.events.max(1) as f64),
            ),
        );
        table.add(
            &format!("{what}: reader CPU per event | plain stream"),
            crate::us(per_event(&coalesced)),
            crate::us(per_event(&plain)),
            Some(per_event(&coalesced) / per_event(&plain)),
        );
    }
}
