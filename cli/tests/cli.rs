//! The `nsmon` command, run as a child process.

// The helpers the library's own integration tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

const NSMON: &str = env!("CARGO_BIN_EXE_nsmon");
const T: Duration = Duration::from_secs(10);

/// A running `nsmon`, its stdout read line by line (as bytes) on a thread; killed on drop.
/// Every line read is checked to be UTF-8 and one valid JSON value (see [`parse_line`]).
struct Running {
    child: Child,
    lines: Receiver<Vec<u8>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut running = Running::spawn(args);
        assert_eq!(running.line(), READY);
        running
    }

    /// Starts nsmon without reading its `ready` line.
    fn spawn(args: &[&str]) -> Running {
        let mut command = Command::new(NSMON);
        command.args(args);
        Running::run(command)
    }

    /// Runs `command` (nsmon, or a program that runs it) and reads its `ready` line.
    fn start_command(command: Command) -> Running {
        let mut running = Running::run(command);
        assert_eq!(running.line(), READY);
        running
    }

    fn run(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nsmon");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            // Bytes, not `lines()`: a line that is not UTF-8 must reach the test and fail it,
            // not end the reader silently.
            for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn line(&mut self) -> String {
        self.line_before(Instant::now() + T, &|| "a line".into()).0
    }

    /// The next line and its JSON value; panics (saying what was awaited) when none comes
    /// before `deadline`, or when the line is not valid JSON.
    fn line_before(
        &mut self,
        deadline: Instant,
        waiting_for: &dyn Fn() -> String,
    ) -> (String, Value) {
        self.try_line(deadline)
            .unwrap_or_else(|| panic!("no line from nsmon in time (waiting for {})", waiting_for()))
    }

    /// The next line and its JSON value, or `None` when none comes before `deadline`; panics
    /// when the line is not valid JSON.
    fn try_line(&mut self, deadline: Instant) -> Option<(String, Value)> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Some(parse_line(line)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().unwrap();
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("nsmon ended ({status}), stderr: {stderr:?}")
            }
        }
    }

    /// The next event (a parsed line), within `T`.
    fn event(&mut self) -> Value {
        self.line_before(Instant::now() + T, &|| "an event".into())
            .1
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

    /// Sends `signal` and waits for the exit; the lines printed until then are checked too.
    fn signal(&mut self, signal: libc::c_int) -> std::process::ExitStatus {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(T) {
            parse_line(line);
        }
        status
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
    // Plain files (--any-file) have no namespace identity: no netns_id.
    let line = |event: &str, name: &str| {
        format!(
            r#"{{"source":"watcher","event":"{event}","dir":"{}","name":"{name}"}}"#,
            target.display()
        )
    };
    assert_eq!(nsmon.line(), line("created", "before"));
    fs::write(target.join("x\"y"), b"").unwrap();
    assert_eq!(nsmon.line(), line("created", "x\\\"y"));
    fs::remove_file(target.join("x\"y")).unwrap();
    assert_eq!(nsmon.line(), line("deleted", "x\\\"y"));
    fs::remove_file(target.join("before")).unwrap();
    fs::remove_dir(&target).unwrap();
    assert_eq!(nsmon.line(), line("deleted", "before"));
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
    let id = nsmon::NetnsRef::Name(&name).identify().unwrap();
    // The folder, and the namespace's never-reused id (with its inode) in both lines.
    let line = |event: &str| {
        format!(
            r#"{{"source":"watcher","event":"{event}","dir":"/var/run/netns","name":"{name}","netns_id":{},"inode":{}}}"#,
            id.id.expect("NS_GET_ID on this kernel"),
            id.ino
        )
    };
    assert_eq!(nsmon.line_with(&name), line("created"));
    ns.delete();
    assert_eq!(nsmon.line_with(&name), line("deleted"));
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
    // The answer: the target, its nsid, and who the namespace is (NS_GET_ID id and inode).
    let answer = |args: &[&str]| {
        let (code, out, err) = nsmon(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        serde_json::from_str::<Value>(out.trim()).unwrap_or_else(|e| panic!("{out:?}: {e}"))
    };
    let got = answer(&["nsid", "get", &name]);
    assert_eq!(got["name"], name.as_str());
    assert!(got["nsid"].is_null(), "{got}");
    let netns_id = got["netns_id"].as_u64().expect("netns_id");
    let inode = got["inode"].as_u64().expect("inode");
    let set = answer(&["nsid", "set", &name, "auto"]);
    let id = set["nsid"].as_u64().expect("an nsid") as u32;
    assert_eq!(
        (set["netns_id"].as_u64(), set["inode"].as_u64()),
        (Some(netns_id), Some(inode))
    );
    assert_eq!(
        follow.line_with(&format!("\"nsid\":{id},")),
        format!(r#"{{"source":"nsid","event":"new_nsid","nsid":{id},"pid":null}}"#)
    );
    let path = format!("/var/run/netns/{name}");
    let by_path = answer(&["nsid", "get", "--path", &path]);
    assert_eq!(by_path["path"], path.as_str());
    assert_eq!(by_path["nsid"].as_u64(), Some(u64::from(id)));
    assert_eq!(
        by_path["netns_id"].as_u64(),
        Some(netns_id),
        "one identity by name and path"
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
    let unchanged = answer(&["nsid", "get", &name]);
    assert_eq!(
        unchanged["nsid"].as_u64(),
        Some(u64::from(id)),
        "bad input changed the id"
    );
    assert_eq!(unchanged["netns_id"].as_u64(), Some(netns_id));
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
        let answer: Value = serde_json::from_str(out.trim()).unwrap();
        answer["nsid"].as_u64().expect("an nsid").to_string()
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
    // nsmon follows it a moment after it appears: probe until a link made there is reported.
    let (first, _) = until_subscribed(&mut events, &in_ns(later.name.as_bytes()), |i| {
        run(
            "ip",
            &[
                "-n",
                &later.name,
                "link",
                "add",
                &format!("nsmon-fb0-{i}"),
                "type",
                "bridge",
            ],
        );
    });
    assert!(
        first.contains(&format!("\"event\":\"new_link\",\"ns\":\"{}\"", later.name)),
        "{first}"
    );
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
    // Deleting a followed namespace removes it: nsmon closes its socket there, which releases
    // the namespace. (Not a count of nsmon's fds: other tests' namespaces come and go.)
    let sockets = sockets_in(events.child.id(), later.name.as_ref());
    assert_eq!(sockets.len(), 1, "nsmon's sockets in {}", later.name);
    later.delete();
    until_closed(events.child.id(), &sockets);
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
    // 2: an argument that is invalid even though only its use finds out; 1: a failure now.
    for (args, code) in [
        (&["events", "--ns", "a/b"][..], 2),
        (&["events", "--path", "/etc/hostname"], 2),
        (&["events", "--ns", "nsmon-t-no-such-name"], 1),
        (&["events", "--pid", "2147483000"], 1),
    ] {
        let (got, out, err) = nsmon(args);
        assert_eq!(got, Some(code), "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("nsmon: "),
            "{args:?}: {err}"
        );
    }
}

/// The targets are added in one batch, yet a failure reads as when each was added in turn:
/// the first failing one in command-line order names itself, and a target named twice is
/// "already in the stream" (not a repeat within the batch).
#[test]
fn events_reports_the_first_failing_target_as_if_added_one_by_one() {
    require_root!();
    let ns = Netns::add("twice");
    let name = ns.name.as_str();
    let usage = "\nTry 'nsmon --help' for more information.\n";
    let missing = "nsmon-t-no-such-name";
    for (args, code, stderr) in [
        (
            vec!["events", "--ns", name, "--ns", name],
            2,
            format!(
                "nsmon: {name}: invalid argument: key \"{name}\" is already in the stream{usage}"
            ),
        ),
        (
            vec!["events", "--ns", name, "--ns", missing, "--ns", "a/b"],
            1,
            format!(
                "nsmon: {missing}: namespace \"{missing}\": no such named namespace in \
                 /var/run/netns: No such file or directory (os error 2)\n"
            ),
        ),
        (
            vec!["events", "--ns", "a/b", "--ns", missing],
            2,
            format!("nsmon: a/b: invalid namespace name \"a/b\": it contains '/'{usage}"),
        ),
    ] {
        let (got, out, err) = nsmon(&args);
        assert_eq!(got, Some(code), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err, stderr, "{args:?}");
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

// The hostile names: names are bytes, and every line must be valid JSON from which they can be
// recovered exactly (a name that is UTF-8 is its field's string; one that is not is its lossy
// text there plus its bytes as hex in `<field>_hex`).

/// How long the hostile fixture's events may take to arrive (tests run in parallel).
const FIXTURE_T: Duration = Duration::from_secs(30);

const READY: &str = r#"{"source":"nsmon","event":"ready"}"#;

/// One line of nsmon's output, checked: UTF-8, and one JSON object by a real parser. Panics
/// with the line otherwise.
fn parse_line(bytes: Vec<u8>) -> (String, Value) {
    let line = String::from_utf8(bytes).unwrap_or_else(|e| {
        let bytes = e.into_bytes();
        panic!(
            "nsmon printed a line that is not UTF-8: {} (hex {})",
            short(&String::from_utf8_lossy(&bytes)),
            hex(&bytes)
        )
    });
    let value: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("nsmon printed a line that is not valid JSON ({e}): {line}"));
    assert!(
        value.is_object(),
        "nsmon printed JSON that is not an object: {line}"
    );
    (line, value)
}

/// A line shortened for failure messages (a link with 490 alternative names is a 70 KB line).
fn short(text: &str) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex (as nsmon prints it, checked) back to bytes.
fn bytes_of_hex(text: &str) -> Vec<u8> {
    assert!(
        text.len() % 2 == 0 && text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "not lower-case hex: {text:?}"
    );
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Bytes for a failure message: as text, and as hex.
fn show(bytes: &[u8]) -> String {
    format!("{:?} ({})", String::from_utf8_lossy(bytes), hex(bytes))
}

/// The exact bytes of name field `key` by the output's rule, checked both ways: without
/// `<key>_hex` the string is the name; with it, the hex is the name, which must not be UTF-8,
/// and the string must be its lossy text. `None` when the event has no such field.
fn name_of(event: &Value, key: &str) -> Option<Vec<u8>> {
    let text = event.get(key)?;
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {}", short(&event.to_string())));
    let Some(hex) = event.get(format!("{key}_hex")) else {
        return Some(text.as_bytes().to_vec());
    };
    let bytes = bytes_of_hex(hex.as_str().expect("a hex string"));
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "{key}_hex for a name that is UTF-8: {}",
        short(&event.to_string())
    );
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        text,
        "{key} is not the lossy text of {key}_hex: {}",
        short(&event.to_string())
    );
    Some(bytes)
}

/// The exact bytes of each of a link's `alt_names`, by the rule for lists: `alt_names_hex`
/// (the hex of every one, in order) exactly when one of them is not UTF-8.
fn alt_names_of(event: &Value) -> Vec<Vec<u8>> {
    let Some(texts) = event.get("alt_names") else {
        return Vec::new();
    };
    let texts: Vec<&str> = texts
        .as_array()
        .expect("alt_names is an array")
        .iter()
        .map(|t| t.as_str().expect("alt_names holds strings"))
        .collect();
    let Some(hexes) = event.get("alt_names_hex") else {
        return texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    };
    let names: Vec<Vec<u8>> = hexes
        .as_array()
        .expect("alt_names_hex is an array")
        .iter()
        .map(|h| bytes_of_hex(h.as_str().expect("alt_names_hex holds strings")))
        .collect();
    assert_eq!(
        names.len(),
        texts.len(),
        "alt_names and alt_names_hex differ"
    );
    assert!(
        names.iter().any(|n| std::str::from_utf8(n).is_err()),
        "alt_names_hex though every alternative name is UTF-8"
    );
    for (name, text) in names.iter().zip(&texts) {
        assert_eq!(String::from_utf8_lossy(name), *text, "lossy alt name");
    }
    names
}

/// The namespace an event is about: its `ns` field's bytes.
fn in_ns(ns: &[u8]) -> impl Fn(&Value) -> bool + '_ {
    move |event| name_of(event, "ns").as_deref() == Some(ns)
}

/// Events of the all-nsid target about the namespace with id `nsid`, and the target's own
/// events (overrun, synced, error, ...) which concern every namespace it hears.
fn from_nsid(nsid: i64) -> impl Fn(&Value) -> bool {
    move |event| {
        event["ns"] == "all-nsid"
            && match event.get("nsid") {
                Some(id) => *id == nsid,
                None => !["new_", "del_"]
                    .iter()
                    .any(|p| event["event"].as_str().unwrap_or("").starts_with(p)),
            }
    }
}

/// Runs `ip -n NS ARGS` (the namespace's name may be any bytes).
fn ip_n(ns: impl AsRef<OsStr>, args: &[&str]) {
    let output = Command::new("ip")
        .arg("-n")
        .arg(ns.as_ref())
        .args(args)
        .output()
        .expect("cannot run ip");
    assert!(
        output.status.success(),
        "ip -n {:?} {args:?} failed: {}",
        ns.as_ref(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The id of a named namespace, from `nsmon nsid get` (its answer parsed too).
fn nsid_of(name: &str) -> i64 {
    let (code, out, err) = nsmon(&["nsid", "get", name]);
    assert_eq!(code, Some(0), "{err}");
    let (_, answer) = parse_line(out.trim_end_matches('\n').as_bytes().to_vec());
    answer["nsid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no nsid in {out:?}"))
}

/// What `hostile.sh create` makes (common::Hostile), checked to be what this file expects.
fn hostile_expected() -> Hostile {
    let expected = Hostile::expected();
    assert_eq!(expected.links.len(), 7, "the fixture's link names");
    assert_eq!(
        expected.alt_names.len(),
        490,
        "the fixture's alternative names"
    );
    expected
}

struct LinkSeen {
    name: Vec<u8>,
    alt_names: Vec<Vec<u8>>,
}

/// One namespace's links and address labels as nsmon's events describe them, by the stream's
/// promise: an `overrun` clears what is known, and the dump that follows it makes it exact
/// again at the next `synced`.
struct Seen {
    /// By (family, index): a link's own messages have no family; a bridge's AF_BRIDGE notices
    /// ("family":"bridge") are another table, without alternative names.
    links: BTreeMap<(String, u64), LinkSeen>,
    /// By (link index, address).
    labels: BTreeMap<(u64, String), Vec<u8>>,
    /// A dump is under way (the first, or a resync): not exact until `synced`.
    syncing: bool,
    /// Whether the dump after an overrun lists what was lost: not for the namespaces an
    /// all-nsid target hears (its dump is of the observer only), where an overrun fails.
    recoverable: bool,
    overruns: Vec<String>,
}

impl Seen {
    fn new(dump: bool, recoverable: bool) -> Seen {
        Seen {
            links: BTreeMap::new(),
            labels: BTreeMap::new(),
            syncing: dump,
            recoverable,
            overruns: Vec::new(),
        }
    }

    fn apply(&mut self, event: &Value, line: &str) {
        let index = || {
            event["index"]
                .as_u64()
                .unwrap_or_else(|| panic!("no index: {}", short(line)))
        };
        let addr = || event["addr"].as_str().unwrap_or("").to_string();
        let family = || event["family"].as_str().unwrap_or("").to_string();
        match event["event"].as_str().unwrap_or("") {
            "new_link" => {
                let link = LinkSeen {
                    name: name_of(event, "name")
                        .unwrap_or_else(|| panic!("a link without a name: {}", short(line))),
                    alt_names: alt_names_of(event),
                };
                self.links.insert((family(), index()), link);
            }
            "del_link" => {
                self.links.remove(&(family(), index()));
            }
            "new_addr" => match name_of(event, "label") {
                Some(label) => {
                    self.labels.insert((index(), addr()), label);
                }
                None => {
                    self.labels.remove(&(index(), addr()));
                }
            },
            "del_addr" => {
                self.labels.remove(&(index(), addr()));
            }
            "overrun" => {
                let lost = &event["lost"];
                assert!(lost.is_u64() || lost.is_null(), "lost: {line}");
                assert!(
                    self.recoverable,
                    "overrun where no dump can list what was lost: {line}"
                );
                self.overruns.push(line.to_string());
                self.links.clear();
                self.labels.clear();
                self.syncing = true;
            }
            "synced" => self.syncing = false,
            // error, sync_failed, unparsed, and anything else (the groups are link,addr).
            _ => panic!("unexpected event: {}", short(line)),
        }
    }

    /// The link named `name` (its own messages, not a bridge's notices).
    fn link(&self, name: &[u8]) -> Option<&LinkSeen> {
        self.links
            .iter()
            .find(|((family, _), l)| family.is_empty() && l.name == name)
            .map(|(_, l)| l)
    }

    /// Whether what is known is exact and a link named `name` is among it.
    fn exact_with(&self, name: &[u8]) -> bool {
        !self.syncing && self.link(name).is_some()
    }

    fn summary(&self) -> String {
        let links: Vec<String> = self.links.values().map(|l| show(&l.name)).collect();
        let labels: Vec<String> = self.labels.values().map(|l| show(l)).collect();
        format!(
            "links [{}], labels [{}], syncing {}, overruns {:?}",
            links.join(", "),
            labels.join(", "),
            self.syncing,
            self.overruns
        )
    }

    /// Every link name and the label of the fixture were recovered exactly.
    fn check_names(&self, expected: &Hostile) {
        assert!(!self.syncing, "not synced: {}", self.summary());
        for name in &expected.links {
            assert!(
                self.link(name).is_some(),
                "link {} not recovered; {}",
                show(name),
                self.summary()
            );
        }
        assert!(
            self.labels.values().any(|l| *l == expected.label),
            "label {} not recovered; {}",
            show(&expected.label),
            self.summary()
        );
    }

    /// nsmon-many's alternative names, all of them, exactly and in order.
    fn check_alt_names(&self, expected: &Hostile) {
        let many = self.link(b"nsmon-many").expect("nsmon-many");
        assert_eq!(
            many.alt_names.len(),
            expected.alt_names.len(),
            "nsmon-many's alternative names"
        );
        for (i, (got, want)) in many.alt_names.iter().zip(&expected.alt_names).enumerate() {
            assert!(
                got == want,
                "alt name {i}: {} for {}",
                show(got),
                show(want)
            );
        }
    }
}

/// Reads nsmon's lines (each one parsed), applying to `seen` those `ours` selects, until
/// `done(seen)`; fails at `deadline` saying what is known.
/// After what a test looked at, `ns` is still monitored (a link added then is reported), and
/// nsmon ends cleanly on SIGTERM.
fn still_monitored_then_ends(
    mut nsmon: Running,
    seen: &mut Seen,
    ours: &dyn Fn(&Value) -> bool,
    ns: &str,
) {
    ip_n(ns, &["link", "add", "nsmon-after", "type", "bridge"]);
    read_until(&mut nsmon, seen, ours, "nsmon-after", &|s| {
        s.exact_with(b"nsmon-after")
    });
    assert_eq!(nsmon.signal(libc::SIGTERM).code(), Some(0));
}

fn read_until(
    nsmon: &mut Running,
    seen: &mut Seen,
    ours: &dyn Fn(&Value) -> bool,
    what: &str,
    done: &dyn Fn(&Seen) -> bool,
) {
    let deadline = Instant::now() + FIXTURE_T;
    while !done(seen) {
        let (line, event) =
            nsmon.line_before(deadline, &|| format!("{what}; so far {}", seen.summary()));
        if ours(&event) {
            seen.apply(&event, &line);
        }
    }
}

/// Reads until nsmon reports an event of the namespace `ours` selects, calling `probe(i)`
/// (which makes a link there) every 100 ms meanwhile: a namespace that `--follow` finds is
/// subscribed a moment after it appears, so a change made at once may come too early to be
/// heard. Returns that first event.
fn until_subscribed(
    nsmon: &mut Running,
    ours: &dyn Fn(&Value) -> bool,
    mut probe: impl FnMut(usize),
) -> (String, Value) {
    let deadline = Instant::now() + T;
    for i in 0.. {
        assert!(Instant::now() < deadline, "namespace not followed in time");
        probe(i);
        let next_probe = Instant::now() + Duration::from_millis(100);
        while let Some((line, event)) = nsmon.try_line(next_probe) {
            if ours(&event) {
                return (line, event);
            }
        }
    }
    unreachable!()
}

/// The inodes of the sockets process `pid` holds.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect()
}

/// The netlink sockets process `pid` holds in namespace `ns` (by inode): those of its sockets
/// that `/proc/net/netlink`, read inside the namespace, lists.
fn sockets_in(pid: u32, ns: &OsStr) -> Vec<String> {
    let mut command = Command::new("ip");
    command.args(["netns", "exec"]).arg(ns);
    sockets_entered(pid, command)
}

/// The sockets of process `pid` in the namespace bind-mounted at `file` (any folder).
fn sockets_in_file(pid: u32, file: &Path) -> Vec<String> {
    let mut command = Command::new("nsenter");
    command.arg(format!("--net={}", file.display()));
    sockets_entered(pid, command)
}

/// The sockets of process `pid` in the namespace `enter` runs its command in.
fn sockets_entered(pid: u32, mut enter: Command) -> Vec<String> {
    let output = enter
        .args(["cat", "/proc/net/netlink"])
        .output()
        .expect("cannot enter the namespace");
    assert!(output.status.success(), "{enter:?}");
    let there: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(9).map(String::from))
        .collect();
    socket_inodes(pid)
        .into_iter()
        .filter(|inode| there.contains(inode))
        .collect()
}

/// Waits until process `pid` holds none of `sockets`.
fn until_closed(pid: u32, sockets: &[String]) {
    let deadline = Instant::now() + T;
    while socket_inodes(pid).iter().any(|s| sockets.contains(s)) {
        assert!(Instant::now() < deadline, "socket {sockets:?} not closed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A namespace named with any bytes (`ip netns add` given them raw), deleted on drop, also
/// when the test panics.
struct RawNetns {
    name: Vec<u8>,
}

impl RawNetns {
    fn add(name: Vec<u8>) -> RawNetns {
        let ns = RawNetns { name };
        let status = Command::new("ip")
            .args(["netns", "add"])
            .arg(ns.os())
            .status()
            .expect("cannot run ip");
        assert!(status.success(), "ip netns add {:?}", ns.os());
        ns
    }

    fn os(&self) -> &OsStr {
        OsStr::from_bytes(&self.name)
    }

    /// Deletes the namespace now.
    fn delete(self) {
        let status = Command::new("ip")
            .args(["netns", "del"])
            .arg(self.os())
            .status()
            .expect("cannot run ip");
        assert!(status.success(), "ip netns del {:?}", self.os());
        std::mem::forget(self);
    }
}

impl Drop for RawNetns {
    fn drop(&mut self) {
        if Path::new("/var/run/netns").join(self.os()).exists() {
            // Not asserting: a panic while unwinding would abort and hide the test's failure.
            let _ = Command::new("ip")
                .args(["netns", "del"])
                .arg(self.os())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// This process's network namespace bind-mounted on `path` (made an empty file first, then
/// `common::bind_netns`), unmounted on drop, also on panic.
struct Bound {
    path: PathBuf,
}

impl Bound {
    fn new(path: PathBuf) -> Bound {
        fs::write(&path, b"").unwrap();
        let bound = Bound { path };
        bind_netns(&bound.path);
        bound
    }

    /// Unmounts now and removes the file.
    fn remove(self) {
        umount(&self.path);
        fs::remove_file(&self.path).unwrap();
        std::mem::forget(self);
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        // Before the TempDir's own cleanup, which cannot read a mount table holding a path
        // that is not UTF-8.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status();
    }
}

/// Checks a watcher line about a name that is not UTF-8: `name` its lossy text, `name_hex`
/// its exact bytes.
fn assert_watcher_line(event: &Value, what: &str, name: &[u8]) {
    assert_eq!(event["source"], "watcher", "{event}");
    assert_eq!(event["event"], what, "{event}");
    assert_eq!(event["name"], *String::from_utf8_lossy(name), "{event}");
    assert_eq!(event["name_hex"], hex(name), "{event}");
    assert_eq!(name_of(event, "name").as_deref(), Some(name), "{event}");
}

#[test]
fn events_recover_every_hostile_name_exactly_and_go_on() {
    require_root!();
    let expected = hostile_expected();
    let ns = Netns::add("clihostile");
    let mut nsmon = Running::start(&["events", "--ns", &ns.name, "--groups", "link,addr"]);
    Hostile::create(&ns.name);
    let ours = in_ns(ns.name.as_bytes());
    let mut seen = Seen::new(false, true);
    read_until(&mut nsmon, &mut seen, &ours, "nsmon-ok", &|s| {
        s.exact_with(b"nsmon-ok")
    });
    seen.check_names(&expected);
    // The fixture brought nsmon-many up once its names were added (the kernel announces a
    // link's changes only when it is up): one message of over 64 KiB with all 490.
    seen.check_alt_names(&expected);
    still_monitored_then_ends(nsmon, &mut seen, &ours, &ns.name);
}

#[test]
fn events_after_an_overrun_the_resync_recovers_every_hostile_name() {
    require_root!();
    let expected = hostile_expected();
    let ns = Netns::add("clioverrun");
    let mut nsmon = Running::start(&["events", "--ns", &ns.name, "--groups", "link,addr"]);
    // Stopped, nsmon reads nothing: the fixture, then a hundred notifications of over 64 KiB
    // (nsmon-many's MTU changed back and forth, each telling its 490 names) overflow its
    // receive buffer. The lines until the `synced` after the overrun must tell it all.
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(nsmon.child.id() as libc::pid_t, libc::SIGSTOP) };
    Hostile::create(&ns.name);
    let flood: Vec<String> = (0..128)
        .map(|i| format!("link set dev nsmon-many mtu {}", 1400 + i % 2 * 100))
        .collect();
    ip_batch_in(&ns.name, &flood);
    // SAFETY: as above.
    unsafe { libc::kill(nsmon.child.id() as libc::pid_t, libc::SIGCONT) };
    let ours = in_ns(ns.name.as_bytes());
    let mut seen = Seen::new(false, true);
    read_until(&mut nsmon, &mut seen, &ours, "the resync", &|s| {
        !s.overruns.is_empty() && s.exact_with(b"nsmon-ok")
    });
    for overrun in &seen.overruns {
        let lost = parse_line(overrun.clone().into_bytes()).1["lost"].clone();
        assert!(lost.is_null() || lost.as_u64() > Some(0), "{overrun}");
    }
    seen.check_names(&expected);
    seen.check_alt_names(&expected);
    still_monitored_then_ends(nsmon, &mut seen, &ours, &ns.name);
}

#[test]
fn events_dump_lists_every_hostile_object_then_synced() {
    require_root!();
    let expected = hostile_expected();
    let ns = Netns::add("clihostdump");
    Hostile::create(&ns.name);
    let mut nsmon = Running::start(&[
        "events",
        "--ns",
        &ns.name,
        "--dump",
        "--groups",
        "link,addr",
    ]);
    let ours = in_ns(ns.name.as_bytes());
    let mut seen = Seen::new(true, true);
    read_until(&mut nsmon, &mut seen, &ours, "synced", &|s| !s.syncing);
    seen.check_names(&expected);
    seen.check_alt_names(&expected);
    assert!(seen.link(b"lo").is_some(), "{}", seen.summary());
    still_monitored_then_ends(nsmon, &mut seen, &ours, &ns.name);
}

#[test]
fn events_follow_reports_hostile_objects_and_namespaces_named_with_any_bytes() {
    require_root!();
    let expected = hostile_expected();
    let mut nsmon = Running::spawn(&["events", "--follow", "--groups", "link,addr"]);
    // The namespaces present are subscribed before `ready`; one of another test's that goes
    // meanwhile is reported as an error first.
    loop {
        let (line, event) = nsmon.line_before(Instant::now() + T, &|| "ready".into());
        if line == READY {
            break;
        }
        assert_eq!(event["event"], "error", "before ready: {}", short(&line));
    }

    let ns = Netns::add("clifollowhost");
    let ours = in_ns(ns.name.as_bytes());
    let mut seen = Seen::new(false, true);
    let (line, event) = until_subscribed(&mut nsmon, &ours, |i| {
        ip_n(
            &ns.name,
            &["link", "add", &format!("nsmon-p{i}"), "type", "bridge"],
        );
    });
    seen.apply(&event, &line);
    Hostile::create(&ns.name);
    read_until(&mut nsmon, &mut seen, &ours, "nsmon-ok", &|s| {
        s.exact_with(b"nsmon-ok")
    });
    seen.check_names(&expected);
    seen.check_alt_names(&expected);

    // A namespace whose own name is not UTF-8 (with a quote and a backslash, too).
    let mut name = unique("followraw").into_bytes();
    name.extend_from_slice(b"\"\\\xfe");
    let raw = RawNetns::add(name.clone());
    let ours_raw = in_ns(&name);
    let (_, first) = until_subscribed(&mut nsmon, &ours_raw, |i| {
        ip_n(
            raw.os(),
            &["link", "add", &format!("nsmon-r{i}"), "type", "bridge"],
        );
    });
    ip_n(raw.os(), &["link", "add", "nsmon-raw", "type", "bridge"]);
    let deadline = Instant::now() + T;
    let event = loop {
        let (_, event) = nsmon.line_before(deadline, &|| "nsmon-raw".into());
        if event["name"] == "nsmon-raw" {
            break event;
        }
    };
    for event in [&first, &event] {
        assert_eq!(event["event"], "new_link", "{event}");
        assert_eq!(event["ns"], *String::from_utf8_lossy(&name), "{event}");
        assert_eq!(event["ns_hex"], hex(&name), "{event}");
    }
    // Its deletion is followed too: nsmon closes the socket it had there.
    let sockets = sockets_in(nsmon.child.id(), raw.os());
    assert_eq!(sockets.len(), 1, "nsmon's sockets in {:?}", raw.os());
    raw.delete();
    until_closed(nsmon.child.id(), &sockets);
    assert_eq!(nsmon.signal(libc::SIGINT).code(), Some(0));
}

#[test]
fn events_all_nsid_recovers_hostile_names_and_keeps_the_shared_target() {
    require_root!();
    let expected = hostile_expected();
    let ns = Netns::add("cliallhost");
    run("ip", &["netns", "set", &ns.name, "auto"]);
    let id = nsid_of(&ns.name);
    let mut nsmon = Running::start(&["events", "--all-nsid", "--groups", "link,addr"]);
    Hostile::create(&ns.name);
    let mut seen = Seen::new(false, false);
    read_until(&mut nsmon, &mut seen, &from_nsid(id), "nsmon-ok", &|s| {
        s.exact_with(b"nsmon-ok")
    });
    seen.check_names(&expected);
    seen.check_alt_names(&expected);
    // Nothing in that namespace ended the target that hears them all: a namespace given an id
    // afterwards is heard through it.
    let second = Netns::add("cliallsecond");
    run("ip", &["netns", "set", &second.name, "auto"]);
    let id2 = nsid_of(&second.name);
    ip_n(
        &second.name,
        &["link", "add", "nsmon-second", "type", "bridge"],
    );
    let mut seen2 = Seen::new(false, false);
    read_until(
        &mut nsmon,
        &mut seen2,
        &from_nsid(id2),
        "nsmon-second",
        &|s| s.exact_with(b"nsmon-second"),
    );
    assert_eq!(nsmon.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn watch_reports_names_that_are_not_utf8_with_their_bytes() {
    require_root!();
    let dir = TempDir::new("cliwatchraw");
    let path = |name: &[u8]| dir.path.join(OsStr::from_bytes(name));
    let listed_name = b"nsmon-w\xfe\"\\\x01\x7f";
    let listed = Bound::new(path(listed_name));
    let mut nsmon = Running::start(&["watch", "--list", "--dir", dir.path.to_str().unwrap()]);
    assert_watcher_line(&nsmon.event(), "created", listed_name);
    let later_name = b"nsmon-w2\xc3(\n";
    let later = Bound::new(path(later_name));
    assert_watcher_line(&nsmon.event(), "created", later_name);
    listed.remove();
    assert_watcher_line(&nsmon.event(), "deleted", listed_name);
    later.remove();
    assert_watcher_line(&nsmon.event(), "deleted", later_name);
    assert_eq!(nsmon.signal(libc::SIGTERM).code(), Some(0));

    // Any file, with --any-file.
    let dir = TempDir::new("cliwatchany");
    let path = |name: &[u8]| dir.path.join(OsStr::from_bytes(name));
    let listed_name = b"nsmon-f\xff\t\"";
    fs::write(path(listed_name), b"").unwrap();
    let mut nsmon = Running::start(&[
        "watch",
        "--list",
        "--any-file",
        "--dir",
        dir.path.to_str().unwrap(),
    ]);
    assert_watcher_line(&nsmon.event(), "created", listed_name);
    let later_name = b"nsmon-g\x80\xed\xa0\x80";
    fs::write(path(later_name), b"").unwrap();
    assert_watcher_line(&nsmon.event(), "created", later_name);
    fs::remove_file(path(later_name)).unwrap();
    assert_watcher_line(&nsmon.event(), "deleted", later_name);
    assert_eq!(nsmon.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn events_follow_releases_a_namespace_unmounted_in_place_at_once() {
    require_root!();
    let ns = Netns::add("followum");
    let mut events = Running::start(&["events", "--follow", "--groups", "link"]);
    until_subscribed(&mut events, &in_ns(ns.name.as_bytes()), |i| {
        run(
            "ip",
            &[
                "-n",
                &ns.name,
                "link",
                "add",
                &format!("nsmon-u{i}"),
                "type",
                "bridge",
            ],
        );
    });
    let sockets = sockets_in(events.child.id(), ns.name.as_ref());
    assert_eq!(sockets.len(), 1, "one socket of nsmon's in {}", ns.name);
    // As Docker stops a container: unmounted, the empty file left in place.
    let file = std::path::Path::new("/var/run/netns").join(&ns.name);
    run("umount", &[file.to_str().unwrap()]);
    assert!(file.exists());
    // Released at once, not when the file goes (Docker deletes it up to a minute later).
    until_closed(events.child.id(), &sockets);
    assert_eq!(events.signal(libc::SIGTERM).code(), Some(0));
    std::fs::remove_file(&file).unwrap();
    drop(ns); // nothing left to delete: the name is gone, the namespace with nsmon's socket
}

/// A new namespace bind-mounted at `file` by `unshare --net=FILE` (no name in /var/run/netns),
/// unmounted and removed on drop.
struct MountedNetns {
    file: PathBuf,
}

impl MountedNetns {
    fn new(file: PathBuf) -> MountedNetns {
        fs::write(&file, b"").unwrap();
        run("unshare", &[&format!("--net={}", file.display()), "true"]);
        MountedNetns { file }
    }

    /// Runs `ip ARGS` inside it.
    fn ip(&self, args: &[&str]) {
        let mut all = vec![format!("--net={}", self.file.display()), "ip".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run("nsenter", &all);
    }

    fn remove(&self) {
        let _ = Command::new("umount").arg(&self.file).status();
        let _ = fs::remove_file(&self.file);
    }
}

impl Drop for MountedNetns {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn events_follow_dir_follows_a_second_folder_by_path_and_releases_at_once_when_the_file_goes() {
    require_root!();
    let second = TempDir::new("fdir");
    let folder = second.path.display().to_string();
    let mut events = Running::start(&[
        "events",
        "--follow",
        "--dir",
        "/var/run/netns",
        "--dir",
        &folder,
        "--groups",
        "link",
    ]);
    // Made after nsmon started, outside the default folder.
    let ns = MountedNetns::new(second.join("sandbox"));
    let key = format!("{folder}/sandbox");
    let (_, event) = until_subscribed(&mut events, &in_ns(key.as_bytes()), |i| {
        ns.ip(&["link", "add", &format!("nsmon-d{i}"), "type", "bridge"]);
    });
    // Keyed by its path, and the line says its folder.
    assert_eq!(event["ns"], key.as_str(), "{event}");
    assert_eq!(event["dir"], folder.as_str(), "{event}");
    let sockets = sockets_in_file(events.child.id(), &ns.file);
    assert_eq!(sockets.len(), 1, "one socket of nsmon's in {key}");
    ns.remove();
    until_closed(events.child.id(), &sockets);
    assert_eq!(events.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn watch_takes_several_folders_and_the_runtimes_and_says_each_line_s_folder() {
    require_root!();
    let (one, two) = (TempDir::new("wone"), TempDir::new("wtwo"));
    let mut watch = Running::start(&[
        "watch",
        "--dir",
        one.path.to_str().unwrap(),
        "--dir",
        two.path.to_str().unwrap(),
        "--runtimes",
    ]);
    let a = MountedNetns::new(one.join("a"));
    let b = MountedNetns::new(two.join("b"));
    for ns in [&a, &b] {
        // Lines about this test's folders (other tests make namespaces in the default one).
        let line = watch.line_with(ns.file.parent().unwrap().to_str().unwrap());
        let event: Value = serde_json::from_str(&line).unwrap();
        let id = nsmon::NetnsRef::Path(&ns.file).identify().unwrap();
        assert_eq!(event["event"], "created", "{line}");
        assert_eq!(
            event["dir"],
            ns.file.parent().unwrap().to_str().unwrap(),
            "{line}"
        );
        assert_eq!(
            event["name"],
            ns.file.file_name().unwrap().to_str().unwrap()
        );
        assert_eq!(event["netns_id"], id.id.unwrap(), "{line}");
        assert_eq!(event["inode"], id.ino, "{line}");
    }
    // A runtime's folder too: the default one.
    let ns = Netns::add("wrun");
    let line = watch.line_with(&ns.name);
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["dir"], "/var/run/netns", "{line}");
    assert_eq!(watch.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn watch_says_a_folder_it_may_not_read_is_unavailable() {
    require_root!();
    let dir = TempDir::new("noread");
    let closed = dir.join("closed");
    fs::create_dir(&closed).unwrap();
    fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let path = closed.join("netns");
    // As an unprivileged user: nsmon runs on, saying why the folder cannot be watched.
    let mut command = Command::new("setpriv");
    command.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        NSMON,
    ]);
    command.args(["watch", "--dir-events", "--dir", path.to_str().unwrap()]);
    let mut watch = Running::start_command(command);
    let (line, event) = watch.line_before(Instant::now() + T, &|| "dir_unavailable".into());
    assert_eq!(event["event"], "dir_unavailable", "{line}");
    assert_eq!(event["dir"], path.to_str().unwrap(), "{line}");
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{line}"
    );
    // Opened to it: with no watch that could tell, the next mount-table change (any mount)
    // looks again, and the folder is taken up.
    fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::create_dir(&path).unwrap();
    let (from, onto) = (dir.join("from"), dir.join("onto"));
    fs::write(&from, b"").unwrap();
    fs::write(&onto, b"").unwrap();
    run(
        "mount",
        &["--bind", from.to_str().unwrap(), onto.to_str().unwrap()],
    );
    let (line, event) = watch.line_before(Instant::now() + T, &|| "dir_created".into());
    assert_eq!(event["event"], "dir_created", "{line}");
    assert_eq!(watch.signal(libc::SIGTERM).code(), Some(0));
}

/// `unshare -n sleep 30`, in a namespace of its own; killed on drop.
struct Unshared(Child);

impl Unshared {
    fn start() -> (Unshared, nsmon::NetnsId) {
        // Owned at once, so that it is killed and reaped on every path.
        let child = Unshared(
            Command::new("unshare")
                .args(["-n", "sleep", "30"])
                .spawn()
                .unwrap(),
        );
        let own = nsmon::NetnsRef::Current.identify().unwrap();
        let link = format!("/proc/{}/ns/net", child.0.id());
        for _ in 0..1000 {
            if let Ok(id) = nsmon::NetnsRef::Path(Path::new(&link)).identify() {
                if id != own {
                    return (child, id);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("unshare -n never left this namespace");
    }
}

impl Drop for Unshared {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ls_lists_unnamed_and_named_namespaces_with_their_holders_as_json_and_a_table() {
    require_root!();
    let (sleeper, unnamed) = Unshared::start();
    let named = Netns::add("ls");
    let named_id = nsmon::NetnsRef::Name(&named.name).identify().unwrap();
    let output = Command::new(NSMON).args(["ls", "--json"]).output().unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l.to_vec()).1)
        .collect();
    let find = |id: &nsmon::NetnsId| {
        lines
            .iter()
            .find(|l| l["netns_id"] == id.id.unwrap())
            .unwrap_or_else(|| panic!("{id:?} not listed: {lines:?}"))
            .clone()
    };
    let line = find(&unnamed);
    assert_eq!(line["inode"], unnamed.ino);
    assert_eq!(line["pids"], serde_json::json!([sleeper.0.id()]));
    assert_eq!(line["processes"], 1);
    assert_eq!(line["names"], serde_json::json!([]));
    assert_eq!(line["command"], "sleep 30");
    let line = find(&named_id);
    assert_eq!(line["processes"], 0);
    let mounted = fs::canonicalize("/var/run/netns")
        .unwrap()
        .join(&named.name);
    assert_eq!(
        line["names"],
        serde_json::json!([mounted.to_str().unwrap()])
    );
    assert_eq!(line["pid"], Value::Null);
    // The table: a header, then one row a namespace, the unnamed one with its command.
    let table = Command::new(NSMON).arg("ls").output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("  NETNS_ID"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains(&unnamed.ino.to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("sleep 30") && row.contains(&sleeper.0.id().to_string()),
        "{row}"
    );
}

#[test]
fn watch_all_reports_an_unnamed_namespace_appearing_and_gone() {
    require_root!();
    let mut watch = Running::start(&["watch", "--all"]);
    let (sleeper, id) = Unshared::start();
    let number = id.id.unwrap().to_string();
    let line = watch.line_with(&format!("\"netns_id\":{number},"));
    let (_, event) = parse_line(line.into_bytes());
    assert_eq!(event["event"], "appeared", "{event}");
    assert_eq!(event["inode"], id.ino);
    assert_eq!(event["pids"], serde_json::json!([sleeper.0.id()]));
    drop(sleeper);
    // The kernel frees a namespace in a worker, a moment after its last process: until then
    // it is still there without a holder (unheld).
    let mut line = watch.line_with(&format!("\"netns_id\":{number},"));
    if line.contains("\"unheld\"") {
        line = watch.line_with(&format!("\"netns_id\":{number},"));
    }
    assert_eq!(
        line,
        format!(
            r#"{{"source":"inventory","event":"gone","netns_id":{number},"inode":{}}}"#,
            id.ino
        )
    );
    assert_eq!(watch.signal(libc::SIGTERM).code(), Some(0));
}

#[test]
fn watch_all_without_cap_net_admin_says_it_is_degraded_and_goes_on() {
    require_root!();
    let mut command = Command::new("setpriv");
    command.args([
        "--bounding-set=-net_admin",
        "--inh-caps=-net_admin",
        "--",
        NSMON,
    ]);
    command.args(["watch", "--all"]);
    let mut watch = Running::start_command(command);
    let (line, event) = watch.line_before(Instant::now() + T, &|| "degraded".into());
    assert_eq!(event["event"], "degraded", "{line}");
    assert!(
        event["reason"].as_str().unwrap().contains("CAP_NET_ADMIN"),
        "{line}"
    );
    let (line, event) = watch.line_before(Instant::now() + T, &|| "appeared".into());
    assert_eq!(event["event"], "appeared", "{line}");
}

#[test]
fn events_follow_all_follows_an_unnamed_namespace_and_releases_it_when_its_process_goes() {
    require_root!();
    let mut events = Running::start(&["events", "--follow", "--all", "--groups", "link"]);
    let (sleeper, id) = Unshared::start();
    let key = format!("netns:{}", id.id.unwrap());
    let pid = sleeper.0.id();
    let (_, event) = until_subscribed(&mut events, &in_ns(key.as_bytes()), |i| {
        run(
            "nsenter",
            &[
                "-t",
                &pid.to_string(),
                "-n",
                "ip",
                "link",
                "add",
                &format!("nsmon-l{i}"),
                "type",
                "bridge",
            ],
        );
    });
    assert_eq!(event["netns_id"], id.id.unwrap(), "{event}");
    assert_eq!(event["names"], serde_json::json!([]), "{event}");
    let sockets = sockets_in_file(events.child.id(), Path::new(&format!("/proc/{pid}/ns/net")));
    assert_eq!(sockets.len(), 1, "one socket of nsmon's in {key}");
    // Its only process goes: nsmon's socket is all that holds it, and is let go at once.
    drop(sleeper);
    until_closed(events.child.id(), &sockets);
    assert_eq!(events.signal(libc::SIGTERM).code(), Some(0));
}
