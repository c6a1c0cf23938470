//! The load: namespaces with a bridge each, and route churn made by `ip -n NS -batch`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Route events one namespace's churn makes: 10,000 adds, then 10,000 deletes.
pub const EVENTS_PER_NS: usize = 20_000;

/// `nsmon-b-PID-TAG-i` namespaces, each with an `nsmon-br` bridge that is up and addressed;
/// deleted on drop.
pub struct Fleet {
    pub names: Vec<String>,
}

impl Fleet {
    pub fn new(tag: &str, count: usize, with_bridge: bool) -> Fleet {
        let names: Vec<String> = (0..count)
            .map(|i| format!("nsmon-b-{}-{tag}-{i}", std::process::id()))
            .collect();
        ip_batch(None, names.iter().map(|n| format!("netns add {n}")));
        if with_bridge {
            for n in &names {
                ip_batch(
                    Some(n),
                    [
                        "link add nsmon-br type bridge".to_string(),
                        "link set nsmon-br up".into(),
                        "addr add 198.51.100.1/24 dev nsmon-br".into(),
                    ],
                );
            }
            // Let the address's own route events pass before anyone subscribes.
            std::thread::sleep(Duration::from_millis(300));
        }
        Fleet { names }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        ip_batch(None, self.names.iter().map(|n| format!("netns del {n}")));
    }
}

/// Runs `ip [-n NS] -force -batch -` over `lines`.
pub fn ip_batch(ns: Option<&str>, lines: impl IntoIterator<Item = String>) {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("ip");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    child.wait().unwrap();
}

/// The churn's batch files: 10,000 distinct IPv4 host routes (in 198.51.100.0/24 and
/// 203.0.113.0/24, spread over 20 tables), added, then deleted.
pub struct Churn {
    pub adds: PathBuf,
    pub dels: PathBuf,
}

impl Churn {
    pub fn write(dir: &Path) -> Churn {
        let nets = ["198.51.100", "203.0.113"];
        let routes: Vec<String> = (0..EVENTS_PER_NS / 2)
            .map(|i| {
                let table = 100 + i / 512;
                let net = nets[(i % 512) / 256];
                format!("{net}.{}/32 dev nsmon-br table {table}", i % 256)
            })
            .collect();
        let adds = dir.join("adds.batch");
        let dels = dir.join("dels.batch");
        std::fs::write(&adds, lines(&routes, "route add")).unwrap();
        std::fs::write(&dels, lines(&routes, "route del")).unwrap();
        Churn { adds, dels }
    }

    /// Churns every namespace of `names`, split between two generators running in parallel;
    /// returns when both are done.
    pub fn run(&self, names: &[String]) -> Duration {
        let start = Instant::now();
        let half = names.len().div_ceil(2);
        std::thread::scope(|scope| {
            for part in names.chunks(half.max(1)) {
                scope.spawn(move || {
                    for ns in part {
                        for file in [&self.adds, &self.dels] {
                            let ok = Command::new("ip")
                                .args(["-n", ns, "-batch"])
                                .arg(file)
                                .status()
                                .unwrap()
                                .success();
                            assert!(ok, "ip -n {ns} -batch {}", file.display());
                        }
                    }
                });
            }
        });
        start.elapsed()
    }
}

fn lines(routes: &[String], verb: &str) -> String {
    routes.iter().map(|r| format!("{verb} {r}\n")).collect()
}
