//! nsmon beside its peers, in one run, as one table: `scripts/bench.sh` (as root) builds the
//! consumers and runs this (`cargo bench --bench compare`; `-- --quick` for a small fleet,
//! `-- --only=ab` for some scenarios).
//!
//! a. Fleet: 100 namespaces, each churned with 10,000 route adds then 10,000 deletes by
//!    `ip -n NS -batch` (two generators in parallel). One nsmon process follows all of them
//!    (through libnsmon from C, and as `nsmon events` writing JSON), against 100
//!    `ip -n NS -o monitor route` processes and a bare C reader (the floor), each in its own
//!    run of the same load.
//! b. One namespace, the same churn: events received and CPU per event, and the per-event cost
//!    of `next` and `dispatch` from C, Rust and Go.
//! c. Scale: 1,000 namespaces added to one stream, and named to `nsmon events` (time to
//!    `ready`); the all-nsid target.
//! d. Watcher latency beside `ip netns monitor`.
//! h. A moderate, steady rate (100 namespaces x 100 changes a second): a plain stream beside
//!    coalescing ones, wake-ups and CPU per event.
//!
//! The consumers in other languages, and the command, come from the environment (set by
//! scripts/bench.sh): NSMON_BENCH_BARE (benches/c/bare_reader.c), NSMON_BENCH_C
//! (benches/c/nsmon_count.c), NSMON_BENCH_GO (bindings/go/examples/count) and NSMON_BENCH_CMD
//! (the `nsmon` command, a package of its own in cli/).

mod coalescing;
mod consumers;
mod heap;
mod inventory;
mod latency;
mod load;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

use consumers::{counter, open_time_us, writers, Outcome};
use load::{Churn, Fleet, EVENTS_PER_NS};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamEventRef, StreamOptions};

/// One row: what is measured, nsmon's figure, the peer's, and their ratio.
struct Row(String, String, String, String);

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    fn section(&mut self, title: &str) {
        self.0.push(Row(
            title.into(),
            String::new(),
            String::new(),
            String::new(),
        ));
    }

    fn add(&mut self, what: &str, nsmon: String, peer: String, ratio: Option<f64>) {
        let ratio = ratio.map_or(String::new(), |r| format!("{r:.2}x"));
        self.0.push(Row(format!("  {what}"), nsmon, peer, ratio));
    }

    fn print(&self) {
        println!(
            "\n{:<66} {:>14} {:>16} {:>7}",
            "scenario", "nsmon", "peer", "ratio"
        );
        for Row(what, nsmon, peer, ratio) in &self.0 {
            println!("{what:<66} {nsmon:>14} {peer:>16} {ratio:>7}");
        }
    }
}

struct Tools {
    bare: String,
    c: String,
    go: String,
    nsmon: String,
}

impl Tools {
    fn from_env() -> Tools {
        let get = |var: &str| {
            std::env::var(var).unwrap_or_else(|_| {
                eprintln!("compare: {var} is not set: run scripts/bench.sh");
                std::process::exit(2)
            })
        };
        Tools {
            bare: get("NSMON_BENCH_BARE"),
            c: get("NSMON_BENCH_C"),
            go: get("NSMON_BENCH_GO"),
            nsmon: get("NSMON_BENCH_CMD"),
        }
    }

    fn cmd(program: &str, args: &[&str], names: &[String]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args).args(names);
        cmd
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("consume") {
        return consume(&args[1..]);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("compare: needs root (it creates namespaces)");
        std::process::exit(1);
    }
    raise_nofile_limit();
    let quick = args.iter().any(|a| a == "--quick");
    // --only=abcd: the scenarios to run (default all).
    let only = args
        .iter()
        .find_map(|a| a.strip_prefix("--only="))
        .unwrap_or("abcdfgh")
        .to_string();
    let tools = Tools::from_env();
    let dir = std::env::temp_dir().join(format!("nsmon-b-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let churn = Churn::write(&dir);
    let mut table = Table::default();

    if only.contains('a') {
        let count = if quick { 10 } else { 100 };
        fleet(&mut table, &tools, &churn, &dir, count);
    }
    if only.contains('b') || only.contains('e') {
        single(&mut table, &tools, &churn, &dir);
    }
    if only.contains('c') {
        scale(&mut table, &tools, if quick { 100 } else { 1000 });
    }
    if only.contains('d') {
        watcher_latency(&mut table, &tools, if quick { 20 } else { 100 });
    }
    if only.contains('f') {
        stalled_reader(&mut table);
    }
    if only.contains('g') {
        inventory_scenario(&mut table, quick);
    }
    if only.contains('h') {
        coalescing::scenario(&mut table, if quick { 20 } else { 100 });
    }

    let _ = std::fs::remove_dir_all(&dir);
    table.print();
}

fn received(o: &Outcome, of: usize) -> String {
    if o.overruns > 0 {
        format!("{}/{of} ({} ovr)", o.received, o.overruns)
    } else {
        format!("{}/{of}", o.received)
    }
}

fn us(x: f64) -> String {
    format!("{x:.2} us")
}

/// Events in `ip -o monitor route` output: one line each.
fn monitor_lines(text: &str) -> (usize, usize) {
    (text.lines().count(), 0)
}

/// Route events and overruns in `nsmon events` output. After an overrun the command dumps the
/// namespace again (until `synced`): those lines are a listing, not events, and are not counted.
fn json_routes(text: &str) -> (usize, usize) {
    let mut resyncing = std::collections::HashSet::new();
    let (mut events, mut overruns) = (0, 0);
    for line in text.lines() {
        let ns = line
            .split("\"ns\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        if line.contains("\"event\":\"overrun\"") {
            overruns += 1;
            resyncing.insert(ns.to_string());
        } else if line.contains("\"event\":\"synced\"") {
            resyncing.remove(ns);
        } else if (line.contains("\"event\":\"new_route\"")
            || line.contains("\"event\":\"del_route\""))
            && !resyncing.contains(ns)
        {
            events += 1;
        }
    }
    (events, overruns)
}

fn ip_monitors(names: &[String]) -> Vec<Command> {
    names
        .iter()
        .map(|n| {
            let mut cmd = Command::new("ip");
            cmd.args(["-n", n, "-o", "monitor", "route"]);
            cmd
        })
        .collect()
}

fn nsmon_events(tools: &Tools, names: &[String]) -> Command {
    let mut cmd = Command::new(&tools.nsmon);
    cmd.args(["events", "--groups", "route"]);
    for n in names {
        cmd.args(["--ns", n]);
    }
    cmd
}

/// Runs a counting consumer, `program FIRST EXPECTED NAME...`, against one run of the churn in
/// `names` (EXPECTED: every event the churn makes there).
fn count_with(program: &str, first: &str, churn: &Churn, names: &[String]) -> Outcome {
    let expected = (names.len() * EVENTS_PER_NS).to_string();
    counter(
        Tools::cmd(program, &[first, &expected], names),
        churn,
        names,
    )
}

fn fleet(table: &mut Table, tools: &Tools, churn: &Churn, dir: &std::path::Path, count: usize) {
    eprintln!("a. fleet: {count} namespaces");
    let fleet = Fleet::new("fleet", count, true);
    let names = &fleet.names;
    let total = count * EVENTS_PER_NS;
    let peer = writers(ip_monitors(names), dir, None, monitor_lines, churn, names);
    let floor = count_with(&tools.bare, "1048576", churn, names);
    let floor_default = count_with(&tools.bare, "0", churn, names);
    let library = count_with(&tools.c, "next", churn, names);
    let library_batch = count_with(&tools.c, "batch", churn, names);
    let rust = {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["consume", "batch_ref", &total.to_string()])
            .args(names);
        counter(cmd, churn, names)
    };
    // A loop of Read alone: the binding's plain way to read (each Read hands out what one batch
    // call took).
    let go = count_with(&tools.go, "read", churn, names);
    let json = writers(
        vec![nsmon_events(tools, names)],
        dir,
        Some("\"ready\""),
        json_routes,
        churn,
        names,
    );
    table.section(&format!(
        "a. fleet: {count} namespaces x (10k route adds + 10k deletes), each consumer its own run"
    ));
    table.add(
        &format!("events received of {total}: library (C) | {count} ip monitor"),
        received(&library, total),
        received(&peer, total),
        None,
    );
    table.add(
        "events received: nsmon events (JSON) | bare C reader, default buffer",
        received(&json, total),
        received(&floor_default, total),
        None,
    );
    table.add(
        "events received: bare C reader, 1 MiB buffers (the floor)",
        String::new(),
        received(&floor, total),
        None,
    );
    table.add(
        "CPU per event: library (C, next) | bare C reader (target <= 1.2x)",
        us(library.cpu_per_event()),
        us(floor.cpu_per_event()),
        Some(library.cpu_per_event() / floor.cpu_per_event()),
    );
    table.add(
        &format!(
            "CPU per event: library (C, next_batch; received {}) | bare C (target <= 1.10x)",
            received(&library_batch, total)
        ),
        us(library_batch.cpu_per_event()),
        us(floor.cpu_per_event()),
        Some(library_batch.cpu_per_event() / floor.cpu_per_event()),
    );
    table.add(
        &format!(
            "CPU per event: library from Rust (next_batch_ref; received {}) | bare C (<= 1.10x)",
            received(&rust, total)
        ),
        us(rust.cpu_per_event()),
        us(floor.cpu_per_event()),
        Some(rust.cpu_per_event() / floor.cpu_per_event()),
    );
    table.add(
        &format!(
            "CPU per event: library from Go (a Read loop; received {}) | bare C (target <= 1.6x)",
            received(&go, total)
        ),
        us(go.cpu_per_event()),
        us(floor.cpu_per_event()),
        Some(go.cpu_per_event() / floor.cpu_per_event()),
    );
    table.add(
        &format!("CPU per event: nsmon events (JSON) | {count} ip monitor (target <= 1.0x)"),
        us(json.cpu_per_event()),
        us(peer.cpu_per_event()),
        Some(json.cpu_per_event() / peer.cpu_per_event()),
    );
    table.add(
        "wall time, churn start to last event: library | ip monitor (s)",
        format!("{:.1}", library.wall.as_secs_f64()),
        format!("{:.1}", peer.wall.as_secs_f64()),
        None,
    );
}

fn single(table: &mut Table, tools: &Tools, churn: &Churn, dir: &std::path::Path) {
    eprintln!("b. one namespace");
    let fleet = Fleet::new("one", 1, true);
    let names = &fleet.names;
    let total = EVENTS_PER_NS;
    let t = total.to_string();
    let peer = writers(ip_monitors(names), dir, None, monitor_lines, churn, names);
    let floor = count_with(&tools.bare, "0", churn, names);
    let rust_exe = std::env::current_exe().unwrap();
    let rust = |mode: &str| {
        let mut cmd = Command::new(&rust_exe);
        cmd.args(["consume", mode, &t]).args(names);
        counter(cmd, churn, names)
    };
    let runs = [
        ("C, next", count_with(&tools.c, "next", churn, names)),
        ("C, next_batch", count_with(&tools.c, "batch", churn, names)),
        (
            "C, dispatch",
            count_with(&tools.c, "dispatch", churn, names),
        ),
        ("Rust, next", rust("next")),
        ("Rust, dispatch", rust("dispatch")),
        ("Rust, next_batch", rust("batch")),
        ("Rust, next_batch_ref", rust("batch_ref")),
        ("Rust, dispatch_ref", rust("dispatch_ref")),
        ("Go, Read", count_with(&tools.go, "read", churn, names)),
        ("Go, Next", count_with(&tools.go, "next", churn, names)),
        (
            "Go, Dispatch",
            count_with(&tools.go, "dispatch", churn, names),
        ),
    ];
    let json = writers(
        vec![nsmon_events(tools, names)],
        dir,
        Some("\"ready\""),
        json_routes,
        churn,
        names,
    );
    table.section("b. one namespace, 10k route adds + 10k deletes (default buffers)");
    table.add(
        "events received: library (C, next) | ip monitor",
        received(&runs[0].1, total),
        received(&peer, total),
        None,
    );
    table.add(
        "events received: nsmon events | bare C reader",
        received(&json, total),
        received(&floor, total),
        None,
    );
    table.add(
        "CPU per event: nsmon events (JSON) | ip monitor",
        us(json.cpu_per_event()),
        us(peer.cpu_per_event()),
        Some(json.cpu_per_event() / peer.cpu_per_event()),
    );
    table.section("e. per-event cost on load b, against the bare C reader");
    for (what, run) in &runs {
        table.add(
            &format!("CPU per event: {what} (received {})", received(run, total)),
            us(run.cpu_per_event()),
            us(floor.cpu_per_event()),
            Some(run.cpu_per_event() / floor.cpu_per_event()),
        );
    }
}

/// f. A reader that stalls while a burst of route changes happens, then reads everything: the
/// loss nsmon reports (the sum of `Overrun { lost }`) beside the true loss (the burst minus
/// what arrived), at the kernel's default receive buffer and at 1 MiB.
fn stalled_reader(table: &mut Table) {
    const BURST: usize = 10_000;
    eprintln!("f. stalled reader");
    table.section("f. stalled reader: a burst of 10,000 route adds, then everything read");
    for (what, buffer) in [
        ("the kernel's default buffer", 0),
        ("1 MiB buffer", 1 << 20),
    ] {
        let fleet = Fleet::new("stall", 1, true);
        let ns = &fleet.names[0];
        let mut stream = Stream::new().unwrap();
        let options = StreamOptions::new()
            .groups(Groups::IPV4_ROUTE)
            .receive_buffer(buffer);
        stream.add("s", NetnsRef::Name(ns), options).unwrap();
        load::ip_batch(
            Some(ns),
            (0..BURST).map(|i| {
                format!(
                    "route add 203.0.113.{}/32 dev nsmon-br table {}",
                    i % 250,
                    100 + i / 250
                )
            }),
        );
        let (mut received, mut lost, mut unknown) = (0usize, 0u64, false);
        while stream.wait(Some(Duration::from_millis(300))).unwrap() {
            while let Some(event) = stream.next().unwrap() {
                match event {
                    StreamEvent::Message { .. } => received += 1,
                    StreamEvent::Overrun { lost: Some(n), .. } => lost += n,
                    StreamEvent::Overrun { lost: None, .. } => unknown = true,
                    _ => {}
                }
            }
        }
        let reported = match unknown {
            true => format!("{lost}+unknown"),
            false => lost.to_string(),
        };
        table.add(
            &format!("lost: reported by nsmon | true (received {received}), {what}"),
            reported,
            (BURST - received).to_string(),
            None,
        );
    }
}

fn scale(table: &mut Table, tools: &Tools, count: usize) {
    eprintln!("c. scale: {count} namespaces");
    let fleet = Fleet::new("scale", count, false);
    let names = &fleet.names;
    let bare_ms = open_time_us(Tools::cmd(&tools.bare, &["0", "1"], names)) / 1e3;
    let batch: Vec<(&str, NetnsRef<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    let options = StreamOptions::new().groups(Groups::ROUTE | Groups::LINK);

    let mut stream = Stream::new().unwrap();
    let rss = latency::rss_kib("self");
    let start = Instant::now();
    assert!(stream.add_many(&batch, options).iter().all(Result::is_ok));
    let many_ms = start.elapsed().as_secs_f64() * 1e3;
    let per_ns = latency::rss_kib("self").saturating_sub(rss) as f64 / count as f64;
    drop(stream);

    let mut stream = Stream::new().unwrap();
    let start = Instant::now();
    for (key, ns) in &batch {
        stream.add(key, *ns, options).unwrap();
    }
    let each_ms = start.elapsed().as_secs_f64() * 1e3;
    drop(stream);

    let command_ms = command_ready_ms(tools, names);

    // All-nsid: one socket for every namespace that has an id here.
    load::ip_batch(None, names.iter().map(|n| format!("netns set {n} auto")));
    let mut stream = Stream::new().unwrap();
    let rss = latency::rss_kib("self");
    let start = Instant::now();
    stream
        .add_all_nsid("all", NetnsRef::Current, options)
        .unwrap();
    let all_ms = start.elapsed().as_secs_f64() * 1e3;
    let all_kib = latency::rss_kib("self").saturating_sub(rss);
    drop(stream);

    table.section(&format!("c. scale: {count} namespaces added to one stream"));
    table.add(
        "time until all are subscribed, add_many | bare C, one thread (ms)",
        format!("{many_ms:.1}"),
        format!("{bare_ms:.1}"),
        Some(many_ms / bare_ms),
    );
    table.add(
        "time until all are subscribed, one add each (ms)",
        format!("{each_ms:.1}"),
        String::new(),
        None,
    );
    table.add(
        &format!("`nsmon events --ns` x{count}: start to `ready` | add_many (ms; target < 100)"),
        format!("{command_ms:.1}"),
        format!("{many_ms:.1}"),
        Some(command_ms / many_ms),
    );
    table.add(
        "user memory per namespace (RSS growth, KiB; target < 4)",
        format!("{per_ns:.2}"),
        String::new(),
        None,
    );
    table.add(
        "all-nsid target hearing all of them: time to add (ms), RSS growth (KiB)",
        format!("{all_ms:.2}, {all_kib}"),
        String::new(),
        None,
    );
}

/// `nsmon events --groups route --ns NAME...`: from its start to its `ready` line, read from a
/// pipe (ms; the median of 3).
fn command_ready_ms(tools: &Tools, names: &[String]) -> f64 {
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let mut cmd = nsmon_events(tools, names);
            let start = Instant::now();
            let mut child = cmd.stdout(Stdio::piped()).spawn().expect("nsmon events");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            assert!(line.contains("\"ready\""), "nsmon events said {line:?}");
            let _ = child.kill();
            let _ = child.wait();
            ms
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

fn inventory_scenario(table: &mut Table, quick: bool) {
    let n = if quick { 10 } else { 50 };
    eprintln!("g. inventory: {n} unnamed namespaces come and go");
    let l = inventory::latency(n);
    let q =
        |v: &[f64], p| latency::quantile(v, p).map_or("-".into(), |x| format!("{:.2} ms", x / 1e3));
    table.section("g. inventory: every namespace of the host");
    table.add(
        &format!("`unshare -n sleep` started -> appeared: median | p99 (of {n}; target < 5 ms)"),
        q(&l.appeared, 0.5),
        q(&l.appeared, 0.99),
        None,
    );
    table.add(
        "started -> appeared, median: nsmon | its namespace link changed (polled: the earliest)",
        q(&l.appeared, 0.5),
        q(&l.exists, 0.5),
        Some(
            latency::quantile(&l.appeared, 0.5).unwrap_or(0.0)
                / latency::quantile(&l.exists, 0.5).unwrap_or(1.0),
        ),
    );
    table.add(
        "last holder killed -> gone: median (target < 10 ms) | the kernel's own (handle polled)",
        q(&l.gone, 0.5),
        q(&l.kernel, 0.5),
        Some(
            latency::quantile(&l.gone, 0.5).unwrap_or(0.0)
                / latency::quantile(&l.kernel, 0.5).unwrap_or(1.0),
        ),
    );
    let (namespaces, per) = if quick { (10, 10) } else { (100, 10) };
    eprintln!("g. inventory: initial scan, {namespaces} namespaces x {per} processes");
    let (ours, without_fds, lsns, found) = inventory::initial(namespaces, per);
    table.add(
        &format!(
            "initial inventory, {namespaces} namespaces x {per} processes: nsmon | lsns -t net (ms; target <= 0.25x; found {found})"
        ),
        format!("{ours:.1}"),
        format!("{lsns:.1}"),
        Some(ours / lsns),
    );
    table.add(
        "the same without fds (InventoryOptions::fds(false)): nsmon | lsns -t net (ms)",
        format!("{without_fds:.1}"),
        format!("{lsns:.1}"),
        Some(without_fds / lsns),
    );
    let storm = if quick { 2000 } else { 10_000 };
    eprintln!("g. inventory: fork storm of {storm}");
    let (cpu, overruns) = inventory::fork_storm(storm);
    table.add(
        &format!("fork storm, {storm} short processes: CPU per fork or exit event; overruns"),
        format!("{cpu:.2} us; {overruns}"),
        String::new(),
        None,
    );
    let bytes = inventory::memory(if quick { 20 } else { 100 });
    table.add(
        "heap bytes per namespace known (target < 1024)",
        format!("{bytes:.0}"),
        String::new(),
        None,
    );
}

fn watcher_latency(table: &mut Table, tools: &Tools, count: usize) {
    eprintln!("d. watcher latency: {count} namespaces");
    let l = latency::measure(count);
    let fmt = |v: &[f64], q| latency::quantile(v, q).map_or("-".into(), |x| format!("{x:.0} us"));
    let ratio =
        |a: &[f64], b: &[f64]| Some(latency::quantile(a, 0.5)? / latency::quantile(b, 0.5)?);
    table.section(&format!(
        "d. watcher latency, {count} namespaces (nsmon waits for the mount; the peer does not)"
    ));
    table.add(
        &format!("events: nsmon | ip netns monitor (of {count})"),
        l.nsmon.0.len().to_string(),
        l.peer.0.len().to_string(),
        None,
    );
    table.add(
        &format!("events: nsmon, 3 folders | nsmon, 1 folder (of {count})"),
        l.nsmon_three.0.len().to_string(),
        l.nsmon.0.len().to_string(),
        None,
    );
    table.add(
        "from `ip netns add` returning: median (target < 200 us)",
        fmt(&l.nsmon.0, 0.5),
        fmt(&l.peer.0, 0.5),
        None,
    );
    table.add(
        "from `ip netns add` returning: p99",
        fmt(&l.nsmon.0, 0.99),
        fmt(&l.peer.0, 0.99),
        None,
    );
    table.add(
        "from `ip netns add` starting: median (target <= 3x)",
        fmt(&l.nsmon.1, 0.5),
        fmt(&l.peer.1, 0.5),
        ratio(&l.nsmon.1, &l.peer.1),
    );
    table.add(
        "3 folders | 1 folder, from `ip netns add` returning: median",
        fmt(&l.nsmon_three.0, 0.5),
        fmt(&l.nsmon.0, 0.5),
        None,
    );
    table.add(
        "3 folders | 1 folder, from `ip netns add` starting: median",
        fmt(&l.nsmon_three.1, 0.5),
        fmt(&l.nsmon.1, 0.5),
        ratio(&l.nsmon_three.1, &l.nsmon.1),
    );
    let (bytes, watches) = latency::per_folder(2000);
    table.add(
        "per folder (2,000 in one watcher): heap bytes; inotify watches",
        format!("{bytes:.0}; {watches:.2}"),
        String::new(),
        None,
    );
    let (rss, per_watcher) = latency::memory(&tools.nsmon);
    table.add(
        "idle `nsmon watch` RSS (KiB); heap bytes per additional watcher",
        format!("{rss}; {per_watcher:.0}"),
        String::new(),
        None,
    );
}

/// The Rust consumer (`compare consume next|dispatch|batch|batch_ref|dispatch_ref EXPECTED
/// NAME...`), run as its own process like the C and Go ones: prints "ready", then "COUNT
/// OVERRUNS CPU_US". The borrowing modes count route messages by their header's type, as the
/// bare reader does, and type nothing.
fn consume(args: &[String]) {
    let dispatch = args[0] == "dispatch";
    let batch_mode = args[0] == "batch";
    let expected: usize = args[1].parse().unwrap();
    let names = &args[2..];
    let mut stream = Stream::new().unwrap();
    let batch: Vec<(&str, NetnsRef<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    let options = StreamOptions::new().groups(Groups::IPV4_ROUTE);
    assert!(stream.add_many(&batch, options).iter().all(Result::is_ok));
    println!("ready");
    let (count, overruns) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let take = |event: StreamEvent| {
        match event {
            StreamEvent::Message { .. } => count.set(count.get() + 1),
            StreamEvent::Overrun { .. } => overruns.set(overruns.get() + 1),
            _ => {}
        }
        true
    };
    let take_ref = |event: StreamEventRef<'_>| {
        match event {
            // RTM_NEWROUTE, RTM_DELROUTE
            StreamEventRef::Message(m) if matches!(m.message_type(), 24 | 25) => {
                count.set(count.get() + 1)
            }
            StreamEventRef::Other(StreamEvent::Overrun { .. }) => overruns.set(overruns.get() + 1),
            _ => {}
        }
        true
    };
    // A poll loop on the stream's fd, as the C consumer's (`wait` keeps the fd's readiness
    // exact for callers that also poll it, at a syscall or two per wake-up).
    let mut pfd = libc::pollfd {
        fd: stream.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let mut idle_ms = 60_000;
    loop {
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, idle_ms) } == 0 {
            break;
        }
        idle_ms = 3_000;
        if dispatch {
            stream.dispatch(take).unwrap();
        } else if args[0] == "dispatch_ref" {
            stream.dispatch_ref(take_ref).unwrap();
        } else if args[0] == "batch_ref" {
            loop {
                let batch = stream.next_batch_ref(64).unwrap();
                if batch.is_empty() {
                    break;
                }
                batch.iter().for_each(|e| {
                    take_ref(e);
                });
            }
        } else if batch_mode {
            let mut events = Vec::with_capacity(64);
            while stream.next_batch(&mut events, 64).unwrap() > 0 {
                for event in events.drain(..) {
                    take(event);
                }
            }
        } else {
            while let Some(event) = stream.next().unwrap() {
                take(event);
            }
        }
        if count.get() >= expected {
            break;
        }
    }
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let cpu = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) as f64 * 1e6
            + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) as f64
    };
    println!("{} {} {cpu}", count.get(), overruns.get());
}

fn raise_nofile_limit() {
    // SAFETY: reading and raising our own soft limit to the hard one.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
}
