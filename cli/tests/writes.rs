//! How the command writes its lines: those of one drain of the stream together, in as few
//! `write`s as stdout takes, not one each. Counted without timing: stdout is a SOCK_SEQPACKET
//! socket, which keeps each `write` a record of its own, and nsmon is stopped (SIGSTOP) while a
//! burst of changes queues up in its socket, so that one drain finds all of them.

// The helpers the library's own integration tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NSMON: &str = env!("CARGO_BIN_EXE_nsmon");
/// Route adds in the burst: few enough for any receive buffer (no overrun, no resync).
const BURST: usize = 200;

/// A connected SOCK_SEQPACKET pair: (the test's end, nsmon's stdout). The test's end gives up
/// on a read after 10 s (nsmon hangs), rather than blocking the test forever.
fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writes two new fds into `fds`; they are owned only once it succeeded.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: two new fds, each owned once.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // SAFETY: the option is a timeval, passed with its size; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            ours.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
    (ours, theirs)
}

/// The next record on `socket`: one `write` of nsmon's.
fn record(socket: &OwnedFd) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 17];
    // SAFETY: recv writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert!(
        n > 0,
        "no output from nsmon (recv: {n}, {})",
        std::io::Error::last_os_error()
    );
    buf.truncate(n as usize);
    buf
}

/// Waits until process `pid` is stopped (state `T` in /proc/PID/stat).
fn until_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat[stat.rfind(')').unwrap() + 2..].starts_with('T') {
            return;
        }
        assert!(Instant::now() < deadline, "nsmon did not stop: {stat}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill on the child's pid.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

#[test]
fn events_writes_a_burst_in_a_few_writes_not_one_a_line() {
    require_root!();
    let ns = Netns::add("writes");
    ip_batch_in(&ns.name, &["link set lo up".to_string()]);
    let (ours, theirs) = seqpacket_pair();
    let child = Command::new(NSMON)
        .args(["events", "--ns", &ns.name, "--groups", "route"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    let pid = child.0.id();
    let mut text = String::from_utf8(record(&ours)).unwrap();
    assert_eq!(text, "{\"source\":\"nsmon\",\"event\":\"ready\"}\n");
    // Stopped, nsmon reads nothing: the whole burst waits in its socket for one drain.
    signal(pid, libc::SIGSTOP);
    until_stopped(pid);
    let burst: Vec<String> = (0..BURST)
        .map(|i| format!("route add 203.0.113.{i}/32 dev lo"))
        .collect();
    ip_batch_in(&ns.name, &burst);
    signal(pid, libc::SIGCONT);
    text.clear();
    let mut writes = 0;
    let routes = |text: &str| -> HashSet<String> {
        text.lines()
            .filter(|l| l.contains("\"event\":\"new_route\"") && l.contains("203.0.113."))
            .map(str::to_string)
            .collect()
    };
    while routes(&text).len() < BURST || !text.ends_with('\n') {
        text.push_str(&String::from_utf8(record(&ours)).unwrap());
        writes += 1;
    }
    eprintln!(
        "{BURST} route events ({} bytes) in {writes} writes",
        text.len()
    );
    for line in text.lines() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line:?}");
    }
    assert_eq!(routes(&text).len(), BURST, "{text}");
    // One write a line would be BURST writes; a page each (4 KiB, what a pipe with room for
    // anything takes at once) is about BURST / 20.
    assert!(writes * 4 <= BURST, "{writes} writes for {BURST} lines");
    signal(pid, libc::SIGTERM);
}
