//! Running consumers against the load, and what they report: events received, overruns, CPU.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::Churn;

/// What one consumer (or a fleet of processes) did with one run of the load.
pub struct Outcome {
    pub received: usize,
    pub overruns: usize,
    /// User + system CPU, microseconds.
    pub cpu_us: f64,
    /// From the start of the churn to the last event received.
    pub wall: Duration,
}

impl Outcome {
    pub fn cpu_per_event(&self) -> f64 {
        self.cpu_us / self.received.max(1) as f64
    }
}

/// A consumer that counts by itself: prints "ready ..." when subscribed, then
/// "COUNT OVERRUNS CPU_US" when done (all expected events, or 3 s without any).
pub fn counter(mut cmd: Command, churn: &Churn, names: &[String]) -> Outcome {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("consumer");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "consumer said {line:?}");
    let start = Instant::now();
    let (result, wall) = std::thread::scope(|scope| {
        let generators = scope.spawn(|| churn.run(names));
        let mut result = String::new();
        out.read_line(&mut result).unwrap();
        let wall = start.elapsed();
        generators.join().unwrap();
        (result, wall)
    });
    child.wait().unwrap();
    let f: Vec<f64> = result
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(f.len(), 3, "consumer result {result:?}");
    let idle = if (f[0] as usize) < names.len() * crate::load::EVENTS_PER_NS {
        Duration::from_secs(3) // it stopped after 3 s without events
    } else {
        Duration::ZERO
    };
    Outcome {
        received: f[0] as usize,
        overruns: f[1] as usize,
        cpu_us: f[2],
        wall: wall.saturating_sub(idle),
    }
}

/// The time a counter took to subscribe, as it reports on its "ready" line (microseconds).
pub fn open_time_us(mut cmd: Command) -> f64 {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("consumer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line.split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .expect("ready OPEN_US")
}

/// Processes writing events to files (one `ip monitor` per namespace, or `nsmon events`):
/// `count` says how many events (and overruns) a file's text holds. Ready after `settle` (or, with `ready`, once
/// every file holds that line); done when the files stop growing for 3 s after the churn.
pub fn writers(
    cmds: Vec<Command>,
    dir: &Path,
    ready: Option<&str>,
    count: fn(&str) -> (usize, usize),
    churn: &Churn,
    names: &[String],
) -> Outcome {
    let mut children: Vec<(Child, std::path::PathBuf)> = cmds
        .into_iter()
        .enumerate()
        .map(|(i, mut cmd)| {
            let path = dir.join(format!("out-{i}"));
            let file = File::create(&path).unwrap();
            (cmd.stdout(file).spawn().expect("writer"), path)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    match ready {
        Some(line) => {
            for (_, path) in &children {
                while !std::fs::read_to_string(path).unwrap().contains(line) {
                    assert!(
                        Instant::now() < deadline,
                        "{} never got ready",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // `ip monitor` says nothing when it is ready.
        None => std::thread::sleep(
            Duration::from_millis(500) + children.len() as u32 * Duration::from_millis(5),
        ),
    }
    let start = Instant::now();
    churn.run(names);
    let size = |children: &[(Child, std::path::PathBuf)]| -> u64 {
        children
            .iter()
            .map(|(_, p)| p.metadata().unwrap().len())
            .sum()
    };
    let (mut last, mut last_change) = (size(&children), Instant::now());
    while last_change.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        let now = size(&children);
        if now != last {
            (last, last_change) = (now, Instant::now());
        }
    }
    let wall = last_change.saturating_duration_since(start);
    let cpu_us: f64 = children.iter().map(|(c, _)| cpu_of(c.id())).sum();
    let (mut received, mut overruns) = (0, 0);
    for (child, path) in &mut children {
        let _ = child.kill();
        let _ = child.wait();
        let (events, lost) = count(&std::fs::read_to_string(path).unwrap());
        received += events;
        overruns += lost;
    }
    Outcome {
        received,
        overruns,
        cpu_us,
        wall,
    }
}

/// User + system CPU of a running process, microseconds (from /proc/PID/stat, in clock ticks).
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks * 1e6 / hz
}
