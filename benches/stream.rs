//! Stream figures beside iproute2 in the same run: the time to add 1,000 namespaces and the
//! memory each costs; events received for 10,000 route adds + 10,000 deletes in one namespace
//! by nsmon's stream and by `ip -o monitor route`.
//!
//! `cargo bench --bench stream` as root. Creates `nsmon-b-*` namespaces and removes them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nsmon::rtnl::Rtnl;
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

fn batch(lines: &[String], ns: Option<&str>) {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    child.wait().unwrap();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("stream bench: needs root");
        std::process::exit(1);
    }
    // SAFETY: raising our own soft fd limit to the hard one.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
    let prefix = format!("nsmon-b-{}", std::process::id());

    // Scale: 1,000 namespaces added to one stream.
    let names: Vec<String> = (0..1000).map(|i| format!("{prefix}-{i}")).collect();
    batch(
        &names
            .iter()
            .map(|n| format!("netns add {n}"))
            .collect::<Vec<_>>(),
        None,
    );
    let mut stream = Stream::new().unwrap();
    let rss_before = rss_kib();
    let start = Instant::now();
    let batch_of: Vec<(&str, NetnsRef<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    for result in stream.add_many(&batch_of, StreamOptions::new()) {
        result.unwrap();
    }
    let add_many_time = start.elapsed();
    let per_ns = (rss_kib().saturating_sub(rss_before)) as f64 / names.len() as f64;
    for name in &names {
        stream.remove(name);
    }
    let start = Instant::now();
    for name in &names {
        stream
            .add(name, NetnsRef::Name(name), StreamOptions::new())
            .unwrap();
    }
    let add_time = start.elapsed();
    drop(stream);
    batch(
        &names
            .iter()
            .map(|n| format!("netns del {n}"))
            .collect::<Vec<_>>(),
        None,
    );

    // Loss: 10,000 route adds + 10,000 deletes in one namespace, nsmon vs ip monitor.
    let ns = format!("{prefix}-churn");
    batch(&[format!("netns add {ns}")], None);
    batch(&["link set lo up".to_string()], Some(&ns));
    let mut stream = Stream::new().unwrap();
    stream
        .add(
            "churn",
            NetnsRef::Name(&ns),
            StreamOptions::new().groups(Groups::IPV4_ROUTE),
        )
        .unwrap();
    let mut monitor = Command::new("ip")
        .args(["-n", &ns, "-o", "monitor", "route"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let monitor_out = monitor.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        BufReader::new(monitor_out)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("10.") && l.contains("dev lo"))
            .count()
    });
    std::thread::sleep(Duration::from_millis(300)); // ip monitor has no ready signal
    let routes: Vec<String> = (0..10_000)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let generator = {
        let ns = ns.clone();
        let routes = routes.clone();
        std::thread::spawn(move || {
            batch(
                &routes
                    .iter()
                    .map(|r| format!("route add {r} dev lo"))
                    .collect::<Vec<_>>(),
                Some(&ns),
            );
            batch(
                &routes
                    .iter()
                    .map(|r| format!("route del {r} dev lo"))
                    .collect::<Vec<_>>(),
                Some(&ns),
            );
        })
    };
    let (mut received, mut overruns) = (0usize, 0usize);
    let mut quiet_since = Instant::now();
    loop {
        if stream.wait(Some(Duration::from_millis(100))).unwrap() {
            quiet_since = Instant::now();
        }
        while let Some(e) = stream.next().unwrap() {
            match e {
                StreamEvent::Message {
                    message: Rtnl::Route(_, r),
                    ..
                } if matches!(r.dst, Some(std::net::IpAddr::V4(a)) if a.octets()[0] == 10) => {
                    received += 1
                }
                StreamEvent::Overrun { .. } => overruns += 1,
                _ => {}
            }
        }
        if generator.is_finished() && quiet_since.elapsed() > Duration::from_millis(500) {
            break;
        }
    }
    generator.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let peer = counter.join().unwrap();
    batch(&[format!("netns del {ns}")], None);

    println!("{:<58} {:>12} {:>12}", "measure", "nsmon", "ip monitor");
    println!(
        "{:<58} {:>12.1} {:>12}",
        "add 1,000 namespaces to one stream, add_many (ms)",
        add_many_time.as_secs_f64() * 1e3,
        "-"
    );
    println!(
        "{:<58} {:>12.1} {:>12}",
        "add 1,000 namespaces to one stream, one add each (ms)",
        add_time.as_secs_f64() * 1e3,
        "-"
    );
    println!(
        "{:<58} {:>12.2} {:>12}",
        "RSS growth per monitored namespace (KiB)", per_ns, "-"
    );
    println!(
        "{:<58} {:>12} {:>12}",
        "route events received of 20,000 (10k add + 10k del)", received, peer
    );
    println!(
        "{:<58} {:>12} {:>12}",
        "overruns reported (default receive buffer)", overruns, "-"
    );
}
