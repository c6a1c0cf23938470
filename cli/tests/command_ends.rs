//! How the command ends: promptly on SIGTERM in every state (a stalled reader of its output,
//! hostile files where namespaces are expected, a link swapped under `--follow`), at once when
//! its reader leaves, never by a panic on an output error, with one rule for exit statuses.

// The helpers the library's own integration tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NSMON: &str = env!("CARGO_BIN_EXE_nsmon");
/// How long an end may take before the test calls it a hang (no timing is asserted beyond it;
/// the measured time is printed).
const HANG: Duration = Duration::from_secs(10);

fn nsmon(args: &[&str]) -> Command {
    let mut cmd = Command::new(NSMON);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Waits for `child` to end within [`HANG`]; kills it and fails the test if it does not.
fn ends(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: nsmon did not end (it hangs)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends SIGTERM and returns the status and how long the end took.
fn terminate(child: &mut Child, what: &str) -> (ExitStatus, Duration) {
    let start = Instant::now();
    // SAFETY: kill on the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = ends(child, what);
    let took = start.elapsed();
    eprintln!("{what}: ended {took:?} after SIGTERM, {status}");
    (status, took)
}

/// Reads stdout until the `ready` line.
fn until_ready(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), r#"{"source":"nsmon","event":"ready"}"#);
    out
}

/// The lines of `out`, read on a thread (which ends with `out`), so that a test can wait for
/// one with a bound instead of blocking on a read.
fn forward(
    out: BufReader<std::process::ChildStdout>,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    let (tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (lines, reader)
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn help_and_version_into_a_closed_pipe_or_a_full_device_never_panic() {
    for args in [["--help"], ["--version"]] {
        // A closed pipe: the reader is gone before nsmon writes. A quiet end, status 0.
        let mut child = nsmon(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let status = ends(&mut child, "into a closed pipe");
        let stderr = stderr_of(&mut child);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        // /dev/full: a write error is a failure (status 1) with a message, not a panic (101).
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = nsmon(&args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("No space left"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn watch_ends_when_its_reader_leaves_without_waiting_for_an_event() {
    require_root!();
    let dir = TempDir::new("leave");
    let mut child = nsmon(&["watch", "--dir", dir.path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = until_ready(&mut child);
    let start = Instant::now();
    drop(out); // as `head -1` does after its line; no event follows
    let status = ends(&mut child, "watch after its reader left");
    eprintln!("watch ended {:?} after its reader left", start.elapsed());
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_ends_events_while_its_reader_has_stalled() {
    require_root!();
    let ns = Netns::add("stall");
    let mut child = nsmon(&["events", "--ns", &ns.name, "--groups", "route"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = until_ready(&mut child);
    // Far more output than a pipe holds (64 KiB), none of it read.
    let mut lines = vec![
        "link add nsmon-br type bridge".to_string(),
        "link set nsmon-br up".into(),
        "addr add 198.51.100.1/24 dev nsmon-br".into(),
    ];
    lines.extend((0..3000).map(|i| {
        format!(
            "route add 203.0.113.{}/32 dev nsmon-br table {}",
            i % 250,
            100 + i / 250
        )
    }));
    ip_batch_in(&ns.name, &lines);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = terminate(&mut child, "events with a stalled reader");
    assert_eq!(status.code(), Some(0), "{status}");
    drop(out);
}

#[test]
fn a_fifo_named_as_a_namespace_is_an_invalid_argument_not_a_hang() {
    require_root!();
    let name = unique("fifo");
    let fifo = Path::new("/var/run/netns").join(&name);
    run_os("mkfifo", &[fifo.as_os_str()]);
    let _remove = Removal(fifo.clone());
    for args in [
        vec!["events", "--ns", name.as_str()],
        vec!["events", "--path", fifo.to_str().unwrap()],
        vec!["nsid", "get", "--path", fifo.to_str().unwrap()],
    ] {
        let mut child = nsmon(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = ends(&mut child, &format!("{args:?}"));
        let stderr = stderr_of(&mut child);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("not a network namespace"), "{stderr}");
    }
}

/// Removes a file on drop.
struct Removal(std::path::PathBuf);

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Re-points the link `entry` at `target`, atomically (a new link renamed over it).
fn point(entry: &Path, staging: &Path, target: &Path) {
    std::os::unix::fs::symlink(target, staging).unwrap();
    std::fs::rename(staging, entry).unwrap();
}

#[test]
fn a_link_swapped_between_a_namespace_and_a_fifo_never_hangs_follow() {
    require_root!();
    let ns = Netns::add("swapped");
    let dir = TempDir::new("swap");
    let fifo = dir.join("fifo");
    run_os("mkfifo", &[fifo.as_os_str()]);
    let netns_dir = Path::new("/var/run/netns");
    let (entry, staging) = (
        netns_dir.join(unique("swap")),
        netns_dir.join(unique("stage")),
    );
    let _remove = (Removal(entry.clone()), Removal(staging.clone()));
    let real = netns_dir.join(&ns.name);
    let mut child = nsmon(&["events", "--follow", "--groups", "link"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = until_ready(&mut child);
    let (lines, reader) = forward(out);
    // A thousand swaps of the entry between a real namespace's file and a FIFO.
    for i in 0..1000 {
        point(&entry, &staging, if i % 2 == 0 { &real } else { &fifo });
    }
    // nsmon still follows: a namespace made now is followed, its link reported.
    let after = Netns::add("afterswap");
    let deadline = Instant::now() + HANG;
    let mut followed = false;
    while !followed {
        assert!(
            Instant::now() < deadline,
            "a namespace made after the swaps is not followed"
        );
        // Again until one is reported: it may be made before nsmon has subscribed.
        run(
            "ip",
            &[
                "-n",
                &after.name,
                "link",
                "add",
                &format!("nsmon-p{}", rand_u16()),
                "type",
                "bridge",
            ],
        );
        let until = Instant::now() + Duration::from_millis(200);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => followed |= line.contains(&after.name) && line.contains("new_link"),
                Err(_) => break,
            }
        }
    }
    // SIGTERM while the swaps go on: answered at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, entry, staging, real, fifo) = (
            stop.clone(),
            entry.clone(),
            staging.clone(),
            real.clone(),
            fifo.clone(),
        );
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                point(&entry, &staging, if i % 2 == 0 { &real } else { &fifo });
                i += 1;
            }
            i
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = terminate(&mut child, "follow during swaps");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{swaps} more swaps while SIGTERM was answered");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        status.signal().is_none(),
        "ended by the signal, not by nsmon: {status}"
    );
    reader.join().unwrap();
}

/// A small number that differs from call to call (for unique link names).
fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn exit_statuses_follow_one_rule() {
    require_root!();
    let status = |args: &[&str]| {
        let output = nsmon(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (output.status.code(), stderr)
    };
    // 2: an invalid argument, found by the parser or only when it is used.
    for args in [
        &["events", "--bogus"][..],
        &["events", "--ns", ".."],
        &["events", "--path", "/etc/hostname"],
        &["nsid", "get", ".."],
        &["watch", "--dir"],
    ] {
        let (code, stderr) = status(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("Try 'nsmon --help'"), "{stderr}");
    }
    // 1: a failure at run time, e.g. a namespace that does not exist now.
    let missing = unique("missing");
    let (code, stderr) = status(&["events", "--ns", &missing]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no such named namespace"), "{stderr}");
}

#[test]
fn follow_under_a_limit_of_64_fds_monitors_as_many_as_fit_and_says_why_not_the_rest() {
    require_root!();
    use std::os::unix::process::CommandExt;
    let set = NetnsSet::add("nofile64", 100);
    let mut cmd = nsmon(&["events", "--follow", "--groups", "link"]);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The namespaces present are added before `ready`: the lines up to it tell what fitted.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut failed_ours = Vec::new();
    let mut incomplete = None;
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "nsmon ended early");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        match event["event"].as_str().unwrap() {
            "ready" => break,
            "error" => {
                let error = event["error"].as_str().unwrap();
                assert!(error.contains("RLIMIT_NOFILE"), "{line}");
                let ns = event["ns"].as_str().unwrap().to_string();
                if set.names.contains(&ns) {
                    failed_ours.push(ns);
                }
            }
            "incomplete" => incomplete = Some(event),
            _ => {}
        }
    }
    let incomplete = incomplete.expect("no line said that following was incomplete");
    let monitored = incomplete["monitored"].as_u64().unwrap();
    eprintln!("under 64 fds: {incomplete}");
    assert!(
        monitored >= 40,
        "only {monitored} monitored under a limit of 64 fds"
    );
    assert!(incomplete["error"]
        .as_str()
        .unwrap()
        .contains("RLIMIT_NOFILE"));
    assert!(!failed_ours.is_empty() && failed_ours.len() < 100);
    // A namespace that was followed reports.
    let followed = set.names.iter().find(|n| !failed_ours.contains(n)).unwrap();
    run(
        "ip",
        &["-n", followed, "link", "add", "nsmon-fit", "type", "bridge"],
    );
    let (lines, _reader) = forward(out);
    let deadline = Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("no event from a followed namespace");
        if line.contains(followed.as_str()) && line.contains("nsmon-fit") {
            break;
        }
    }
    let (status, _) = terminate(&mut child, "follow under 64 fds");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn watch_goes_on_when_its_directory_becomes_a_loop_of_links_and_recovers() {
    let dir = TempDir::new("cmdloop");
    let watched = dir.join("d");
    std::fs::create_dir(&watched).unwrap();
    let mut child = nsmon(&["watch", "--any-file", "--dir", watched.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = until_ready(&mut child);
    let (lines, _reader) = forward(out);
    // Bounded: a line that never comes fails the test instead of hanging it.
    let next = || {
        let line = lines
            .recv_timeout(HANG)
            .expect("no line from nsmon in time");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    std::fs::remove_dir(&watched).unwrap();
    std::os::unix::fs::symlink("d", &watched).unwrap();
    let event = next();
    assert_eq!(event["event"], "dir_unavailable", "{event}");
    assert!(
        event["reason"].as_str().unwrap().contains("symbolic links"),
        "{event}"
    );
    std::fs::remove_file(&watched).unwrap();
    std::fs::create_dir(&watched).unwrap();
    std::fs::write(watched.join("x"), b"").unwrap();
    let event = next();
    assert_eq!(
        (event["event"].as_str(), event["name"].as_str()),
        (Some("created"), Some("x"))
    );
    let (status, _) = terminate(&mut child, "watch after its directory recovered");
    assert_eq!(status.code(), Some(0));
}
