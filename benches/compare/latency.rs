//! Watcher latency: from `ip netns add` to the event in the consumer, nsmon's `Created` (which
//! waits for the namespace to be mounted) beside `ip netns monitor`'s "add" line (which reports
//! the bare file, before the mount; run under `stdbuf -oL`, as it block-buffers into a pipe).
//! Negative figures mean the event arrived before `ip` returned.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsmon::{WatchEvent, Watcher, WatcherOptions};

/// Latencies in microseconds, per consumer: from `ip netns add` returning, and from its start.
pub struct Latencies {
    pub nsmon: (Vec<f64>, Vec<f64>),
    /// A watcher of three folders (the default one, an empty one, a missing one) beside it.
    pub nsmon_three: (Vec<f64>, Vec<f64>),
    pub peer: (Vec<f64>, Vec<f64>),
}

/// The q-quantile of `v` (sorted here), if any.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q).round() as usize)
        .copied()
}

/// Adds `n` namespaces one by one and times their events in nsmon (watching one folder, and
/// watching three) and in `ip netns monitor`.
pub fn measure(n: usize) -> Latencies {
    let prefix = format!("nsmon-b-{}-", std::process::id());
    let extra = std::env::temp_dir().join(format!("{prefix}folders"));
    std::fs::create_dir_all(&extra).unwrap();

    let (tx, rx) = channel::<(&'static str, Instant, String)>();
    let stop = Arc::new(AtomicBool::new(false));

    let mut peer = Command::new("stdbuf")
        .args(["-oL", "ip", "netns", "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run stdbuf ip netns monitor");
    let peer_out = peer.stdout.take().unwrap();
    {
        let (tx, prefix) = (tx.clone(), prefix.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(peer_out).lines().map_while(Result::ok) {
                let at = Instant::now();
                if let Some(name) = line.strip_prefix("add ") {
                    if name.starts_with(&prefix) {
                        let _ = tx.send(("ip netns monitor", at, name.to_string()));
                    }
                }
            }
        });
    }
    let (ready_tx, ready_rx) = channel();
    let consumers = [
        ("nsmon", WatcherOptions::new()),
        (
            "nsmon, 3 folders",
            WatcherOptions::new()
                .dir(nsmon::DEFAULT_NETNS_DIR)
                .dir(&extra)
                .dir(extra.join("missing/netns")),
        ),
    ];
    let nsmon_threads: Vec<_> = consumers
        .into_iter()
        .map(|(who, options)| {
            let (tx, prefix, stop, ready_tx) =
                (tx.clone(), prefix.clone(), stop.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let mut watcher = Watcher::new(options).expect("watcher");
                ready_tx.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    watcher.wait(Some(Duration::from_millis(50))).expect("wait");
                    while let Some(event) = watcher.next().expect("next") {
                        let at = Instant::now();
                        if let WatchEvent::Created { name, .. } = event {
                            if name.as_bytes().starts_with(prefix.as_bytes()) {
                                let _ = tx.send((who, at, name.to_string()));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..nsmon_threads.len() {
        ready_rx.recv().unwrap();
    }
    // `ip netns monitor` prints nothing when ready; give it time to set up its watch.
    std::thread::sleep(Duration::from_millis(500));

    let mut returned = HashMap::new();
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let started = Instant::now();
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        returned.insert(name, (started, Instant::now()));
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Per consumer: (from `ip` returning, from `ip` starting), in microseconds.
    let mut latencies: HashMap<&'static str, (Vec<f64>, Vec<f64>)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut received = 0;
    while received < 3 * n {
        let Ok((who, at, name)) =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        let (started, back) = returned[&name];
        let signed_micros = |from: Instant| {
            if at >= from {
                (at - from).as_secs_f64() * 1e6
            } else {
                -((from - at).as_secs_f64() * 1e6)
            }
        };
        let entry = latencies.entry(who).or_default();
        entry.0.push(signed_micros(back));
        entry.1.push(signed_micros(started));
        received += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for thread in nsmon_threads {
        thread.join().unwrap();
    }
    let _ = peer.kill();
    let _ = peer.wait();
    delete_all(returned.keys());
    let _ = std::fs::remove_dir_all(&extra);

    let mut take = |who| latencies.remove(who).unwrap_or_default();
    Latencies {
        nsmon: take("nsmon"),
        nsmon_three: take("nsmon, 3 folders"),
        peer: take("ip netns monitor"),
    }
}

fn delete_all<'a>(names: impl Iterator<Item = &'a String>) {
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for name in names {
        writeln!(stdin, "netns del {name}").unwrap();
    }
    drop(stdin);
    child.wait().unwrap();
}

pub fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// RSS of an idle `nsmon watch` process (`nsmon` is the command's path), and the memory one
/// more watcher costs in a process (KiB).
pub fn memory(nsmon: &str) -> (u64, f64) {
    let mut child = Command::new(nsmon)
        .arg("watch")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    // Kept open until measured: nsmon ends when the reader of its output goes away.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut ready).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let whole = rss_kib(&child.id().to_string());
    drop(out);
    let _ = child.kill();
    let _ = child.wait();

    // Stays under the default fs.inotify.max_user_instances (128), one inotify each.
    let count = 50;
    let (watchers, bytes) = crate::heap::retained(|| {
        (0..count)
            .map(|_| Watcher::new(WatcherOptions::new()).unwrap())
            .collect::<Vec<Watcher>>()
    });
    drop(watchers);
    (whole, bytes as f64 / count as f64)
}

/// What one more folder costs a watcher, each per folder: heap bytes (a watcher of `count + 1`
/// existing empty folders against one of a single folder) and inotify watches (the kernel's
/// side, about 100 bytes each).
pub fn per_folder(count: usize) -> (f64, f64) {
    let top = std::env::temp_dir().join(format!("nsmon-b-{}-perfolder", std::process::id()));
    let dirs: Vec<_> = (0..=count).map(|i| top.join(format!("f{i}"))).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap();
    }
    let watches = inotify_watches();
    let (one, one_bytes) =
        crate::heap::retained(|| Watcher::new(WatcherOptions::new().dir(&dirs[0])).unwrap());
    let one_watches = inotify_watches() - watches;
    let (many, many_bytes) = crate::heap::retained(|| {
        Watcher::new(dirs.iter().fold(WatcherOptions::new(), |o, d| o.dir(d))).unwrap()
    });
    let many_watches = inotify_watches() - watches - one_watches;
    drop((one, many));
    let _ = std::fs::remove_dir_all(&top);
    (
        (many_bytes - one_bytes) as f64 / count as f64,
        (many_watches - one_watches) as f64 / count as f64,
    )
}

/// The inotify watches this process holds (`inotify wd:` lines of its fds' fdinfo).
fn inotify_watches() -> usize {
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}
