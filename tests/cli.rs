//! The `nsmon` command, run as a child process.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use common::*;

const NSMON: &str = env!("CARGO_BIN_EXE_nsmon");
const T: Duration = Duration::from_secs(10);

/// A running `nsmon`, its stdout read line by line on a thread; killed on drop.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(NSMON)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nsmon");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running { child, lines };
        assert_eq!(running.line(), r#"{"source":"nsmon","event":"ready"}"#);
        running
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(T)
            .expect("no line from nsmon in time")
    }

    /// The next line that mentions `needle`.
    fn line_with(&mut self, needle: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn signal(&mut self, signal: libc::c_int) -> std::process::ExitStatus {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_prints_json_lines_for_files_and_exits_0_on_sigterm() {
    require_root!();
    let dir = TempDir::new("cli");
    fs::write(dir.join("before"), b"").unwrap();
    let target = dir.join("netns");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("before"), b"").unwrap();
    let mut nsmon = Running::start(&[
        "watch",
        "--dir",
        target.to_str().unwrap(),
        "--list",
        "--any-file",
        "--dir-events",
    ]);
    assert_eq!(
        nsmon.line(),
        r#"{"source":"watcher","event":"created","name":"before"}"#
    );
    fs::write(target.join("x\"y"), b"").unwrap();
    assert_eq!(
        nsmon.line(),
        r#"{"source":"watcher","event":"created","name":"x\"y"}"#
    );
    fs::remove_file(target.join("x\"y")).unwrap();
    assert_eq!(
        nsmon.line(),
        r#"{"source":"watcher","event":"deleted","name":"x\"y"}"#
    );
    fs::remove_file(target.join("before")).unwrap();
    fs::remove_dir(&target).unwrap();
    assert_eq!(
        nsmon.line(),
        r#"{"source":"watcher","event":"deleted","name":"before"}"#
    );
    assert_eq!(
        nsmon.line(),
        format!(
            r#"{{"source":"watcher","event":"dir_deleted","dir":"{}"}}"#,
            target.display()
        )
    );
    let status = nsmon.signal(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn watch_reports_real_namespaces_and_exits_0_on_sigint() {
    require_root!();
    let mut nsmon = Running::start(&["watch"]);
    let ns = Netns::add("cli");
    let name = ns.name.clone();
    assert_eq!(
        nsmon.line_with(&name),
        format!(r#"{{"source":"watcher","event":"created","name":"{name}"}}"#)
    );
    ns.delete();
    assert_eq!(
        nsmon.line_with(&name),
        format!(r#"{{"source":"watcher","event":"deleted","name":"{name}"}}"#)
    );
    assert_eq!(nsmon.signal(libc::SIGINT).code(), Some(0));
}

#[test]
fn a_closed_stdout_ends_nsmon_quietly() {
    require_root!();
    let dir = TempDir::new("pipe");
    let mut child = Command::new(NSMON)
        .args(["watch", "--any-file", "--dir", dir.path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert!(ready.contains("ready"));
    drop(stdout);
    // Keep producing events until a write fails: a child that another test thread is spawning
    // at this moment may briefly hold a copy of the pipe's read end (until its exec), so one
    // write can still succeed.
    for i in 0.. {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(i < 500, "nsmon did not end after its stdout was closed");
        fs::write(dir.join(&format!("a{i}")), b"").unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    for args in [
        &["watch", "--bogus"][..],
        &["watch", "--dir"],
        &["watch", "--list=1"],
        &["frobnicate"],
        &[],
    ] {
        let output = Command::new(NSMON).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("nsmon: "), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn help_documents_the_watch_command() {
    let output = Command::new(NSMON).arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "nsmon watch",
        "--dir",
        "--list",
        "--any-file",
        "--dir-events",
        "ready",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

/// Runs `nsmon` to completion: (exit code, stdout, stderr).
fn nsmon(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(NSMON).args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn nsid_follows_assignment_and_release_and_answers_queries() {
    require_root!();
    let mut follow = Running::start(&["nsid"]);
    let ns = Netns::add("clinsid");
    let name = ns.name.clone();
    assert_eq!(
        nsmon(&["nsid", "get", &name]),
        (
            Some(0),
            format!("{{\"name\":\"{name}\",\"nsid\":null}}\n"),
            String::new()
        )
    );
    let (code, out, err) = nsmon(&["nsid", "set", &name, "auto"]);
    assert_eq!(code, Some(0), "{err}");
    let id: u32 = out
        .trim()
        .strip_prefix(&format!("{{\"name\":\"{name}\",\"nsid\":"))
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {out:?}"));
    assert_eq!(
        follow.line_with(&format!("\"nsid\":{id},")),
        format!(r#"{{"source":"nsid","event":"new_nsid","nsid":{id},"pid":null}}"#)
    );
    let path = format!("/var/run/netns/{name}");
    assert_eq!(
        nsmon(&["nsid", "get", "--path", &path]).1,
        format!("{{\"path\":\"{path}\",\"nsid\":{id}}}\n")
    );
    // Bad input: a clear message, a non-zero exit, and nothing changed.
    for args in [
        &["nsid", "set", &name, &(id + 1).to_string()][..],
        &["nsid", "set", "a/b", "auto"],
        &["nsid", "get", ".."],
        &["nsid", "get", "nsmon-t-no-such-name"],
        &["nsid", "get", "--path", "/etc/hostname"],
        &["nsid", "get", "--pid", "2147483000"],
        &["nsid", "--ns", "nsmon-t-no-such-name"],
    ] {
        let (code, out, err) = nsmon(args);
        assert_ne!(code, Some(0), "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("nsmon: "),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        nsmon(&["nsid", "get", &name]).1,
        format!("{{\"name\":\"{name}\",\"nsid\":{id}}}\n")
    );
    ns.delete();
    assert_eq!(
        follow.line_with(&format!("\"nsid\":{id}}}")),
        format!(r#"{{"source":"nsid","event":"del_nsid","nsid":{id}}}"#)
    );
    assert_eq!(follow.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn nsid_bad_arguments_exit_2() {
    for args in [
        &["nsid", "get"][..],
        &["nsid", "set", "x"],
        &["nsid", "set", "x", "-3"],
        &["nsid", "frob"],
        &["nsid", "--bogus"],
    ] {
        let (code, out, err) = nsmon(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("nsmon: "),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn events_reports_changes_in_named_namespaces_with_dump_and_synced() {
    require_root!();
    let ns = Netns::add("clievents");
    let n = ns.name.clone();
    run("ip", &["-n", &n, "link", "set", "lo", "up"]);
    let mut events = Running::start(&["events", "--ns", &n, "--dump", "--groups", "link,route"]);
    assert!(events
        .line_with("\"event\":\"new_link\"")
        .contains(&format!("\"ns\":\"{n}\",\"index\":1,\"name\":\"lo\"")));
    assert_eq!(
        events.line_with("synced"),
        format!(r#"{{"source":"stream","event":"synced","ns":"{n}"}}"#)
    );
    run(
        "ip",
        &[
            "-n",
            &n,
            "route",
            "add",
            "203.0.113.0/24",
            "dev",
            "lo",
            "table",
            "100",
        ],
    );
    assert_eq!(
        events.line_with("203.0.113.0/24"),
        format!(
            r#"{{"source":"stream","event":"new_route","ns":"{n}","family":"inet","table":100,"dst":"203.0.113.0/24","oif":1,"protocol":3,"scope":253,"type":1}}"#
        )
    );
    run(
        "ip",
        &["-n", &n, "route", "del", "203.0.113.0/24", "table", "100"],
    );
    assert!(events
        .line_with("203.0.113.0/24")
        .contains("\"event\":\"del_route\""));
    assert_eq!(events.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn events_all_nsid_tags_by_key_and_nsid() {
    require_root!();
    let named = Netns::add("cliallk");
    let other = Netns::add("clialln");
    let (k, o) = (named.name.clone(), other.name.clone());
    for ns in [&k, &o] {
        run("ip", &["netns", "set", ns, "auto"]);
    }
    let id = |ns: &str| {
        let (code, out, _) = nsmon(&["nsid", "get", ns]);
        assert_eq!(code, Some(0));
        let at = out.find("\"nsid\":").unwrap() + 7;
        out[at..].trim_end().trim_end_matches('}').to_string()
    };
    let (id_k, id_o) = (id(&k), id(&o));
    let mut events = Running::start(&["events", "--all-nsid", "--ns", &k, "--groups", "link"]);
    run(
        "ip",
        &["-n", &k, "link", "add", "nsmon-k", "type", "bridge"],
    );
    run(
        "ip",
        &["-n", &o, "link", "add", "nsmon-o", "type", "bridge"],
    );
    // From the named target's own socket (no nsid), and from the all-nsid socket.
    let mut from_k = vec![events.line_with("\"name\":\"nsmon-k\"")];
    from_k.push(events.line_with("\"name\":\"nsmon-k\""));
    from_k.sort_by_key(|line| line.contains("nsid"));
    assert!(
        from_k[0].contains(&format!("\"ns\":\"{k}\",\"index\"")),
        "{from_k:?}"
    );
    assert!(
        from_k[1].contains(&format!("\"ns\":\"{k}\",\"nsid\":{id_k},")),
        "{from_k:?}"
    );
    assert!(events
        .line_with("\"name\":\"nsmon-o\"")
        .contains(&format!("\"ns\":\"all-nsid\",\"nsid\":{id_o},")));
    assert_eq!(events.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn events_follow_adds_and_removes_named_namespaces() {
    require_root!();
    let before = Netns::add("followold");
    let mut events = Running::start(&["events", "--follow", "--groups", "link"]);
    let later = Netns::add("follownew");
    run(
        "ip",
        &[
            "-n",
            &later.name,
            "link",
            "add",
            "nsmon-fb0",
            "type",
            "bridge",
        ],
    );
    assert!(events
        .line_with("nsmon-fb0")
        .contains(&format!("\"event\":\"new_link\",\"ns\":\"{}\"", later.name)));
    run(
        "ip",
        &[
            "-n",
            &before.name,
            "link",
            "add",
            "nsmon-fb1",
            "type",
            "bridge",
        ],
    );
    assert!(events
        .line_with("nsmon-fb1")
        .contains(&format!("\"ns\":\"{}\"", before.name)));
    // Deleting a followed namespace removes it: nsmon closes its socket (one fd fewer), which
    // releases the namespace.
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", events.child.id()))
            .unwrap()
            .count()
    };
    let with_both = fds();
    later.delete();
    let deadline = std::time::Instant::now() + T;
    while fds() != with_both - 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "socket not closed after deletion"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(events.signal(libc::SIGINT).code(), Some(0));
}

#[test]
fn events_bad_input_gets_a_message_and_a_non_zero_exit() {
    for (args, code) in [
        (&["events", "--groups", "link,nope"][..], 2),
        (&["events", "--pid", "x"], 2),
        (&["events", "--bogus"], 2),
    ] {
        let (got, out, err) = nsmon(args);
        assert_eq!(got, Some(code), "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("nsmon: "),
            "{args:?}: {err}"
        );
    }
    if !have_root() {
        return;
    }
    for args in [
        &["events", "--ns", "a/b"][..],
        &["events", "--ns", "nsmon-t-no-such-name"],
        &["events", "--path", "/etc/hostname"],
        &["events", "--pid", "2147483000"],
    ] {
        let (got, out, err) = nsmon(args);
        assert_eq!(got, Some(1), "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("nsmon: "),
            "{args:?}: {err}"
        );
    }
}

/// `nsmon ARGS | head -1` in a real shell: once `head` has its line and exits, nsmon's next
/// write fails (EPIPE: Rust ignores SIGPIPE) and it must exit 0, silently. `poke` makes
/// something happen for nsmon to report, until the pipeline is over.
fn ends_quietly_in_a_pipe_to_head(args: &[&str], mut poke: impl FnMut(usize)) {
    let dir = TempDir::new("head");
    let stderr = dir.join("stderr");
    let script = "\"$0\" \"$@\" 2>\"$NSMON_STDERR\" | head -1; echo \"status=${PIPESTATUS[0]}\"";
    let mut pipeline = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(NSMON)
        .args(args)
        .env("NSMON_STDERR", &stderr)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 0.. {
        if pipeline.try_wait().unwrap().is_some() {
            break;
        }
        assert!(i < 200, "`nsmon {args:?} | head -1` did not end");
        poke(i);
        std::thread::sleep(Duration::from_millis(30));
    }
    let out = pipeline.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with('{'), "{out}");
    assert_eq!(lines[1], "status=0", "nsmon {args:?} in a pipe to head");
    assert_eq!(
        fs::read_to_string(&stderr).unwrap(),
        "",
        "nsmon {args:?} said something"
    );
}

#[test]
fn every_subcommand_ends_quietly_when_head_closes_the_pipe() {
    require_root!();
    let dir = TempDir::new("headwatch");
    let d = dir.path.to_str().unwrap().to_string();
    ends_quietly_in_a_pipe_to_head(&["watch", "--any-file", "--dir", &d], |i| {
        fs::write(dir.join(&format!("h{i}")), b"").unwrap();
    });
    let ns = Netns::add("headevents");
    ends_quietly_in_a_pipe_to_head(&["events", "--ns", &ns.name, "--groups", "link"], |i| {
        run(
            "ip",
            &[
                "-n",
                &ns.name,
                "link",
                "add",
                &format!("nsmon-h{i}"),
                "type",
                "bridge",
            ],
        );
    });
    let mut made = Vec::new();
    ends_quietly_in_a_pipe_to_head(&["nsid"], |_| {
        let ns = Netns::add("headnsid");
        run("ip", &["netns", "set", &ns.name, "auto"]);
        made.push(ns);
    });
}
