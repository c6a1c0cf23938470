//! Helpers shared by the integration tests: root checks that fail under CI instead of
//! skipping, namespaces and directories that clean up after themselves (also on panic), and
//! event collection with timeouts.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nsmon::{WatchEvent, Watcher};

/// Whether we run under CI, where a test that cannot get what it needs must fail.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// True when the test can go on as root. Outside CI a non-root run prints a loud SKIPPED line
/// and returns false; under `CI=true` it panics, so nothing skips silently there.
pub fn have_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        !in_ci(),
        "this test needs root (namespaces, mounts) and CI=true forbids skipping it"
    );
    eprintln!("SKIPPED: this test needs root");
    false
}

/// Returns from the test unless it runs as root (see [`have_root`]).
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::have_root() {
            return;
        }
    };
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test or run uses: `nsmon-t-<pid>-<tag>-<n>`.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("nsmon-t-{}-{tag}-{n}", std::process::id())
}

/// Runs a command and panics with its stderr if it fails.
pub fn run(program: &str, args: &[&str]) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    run_os(program, &args);
}

/// Runs `ip -batch -` with the given command lines.
pub fn ip_batch(lines: &[String]) {
    ip_batch_args(&[], lines)
}

/// Runs `ip -n NS -batch -`: the lines are run inside namespace `ns`.
pub fn ip_batch_in(ns: &str, lines: &[String]) {
    ip_batch_args(&["-n", ns], lines)
}

fn ip_batch_args(args: &[&str], lines: &[String]) {
    let mut child = Command::new("ip")
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run ip");
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "ip -batch failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A named namespace (`ip netns add`), deleted on drop, also when the test panics.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn add(tag: &str) -> Netns {
        let name = unique(tag);
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// Adopts namespaces created some other way (e.g. `ip -batch`), to delete them on drop.
    pub fn adopt(name: String) -> Netns {
        Netns { name }
    }

    /// Deletes the namespace now.
    pub fn delete(self) {
        run("ip", &["netns", "del", &self.name]);
        std::mem::forget(self);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let path = Path::new("/var/run/netns").join(&self.name);
        if path.exists() {
            // Not `run`: a panic while unwinding would abort and hide the test's own failure.
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip -batch` with one `"{verb} NAME"` line per name (e.g. verb `netns add`).
pub fn ip_batch_each(verb: &str, names: &[String]) {
    ip_batch(
        &names
            .iter()
            .map(|n| format!("{verb} {n}"))
            .collect::<Vec<_>>(),
    );
}

/// Many namespaces `<prefix>-<i>`, deleted at once on drop (also on panic).
pub struct NetnsSet {
    pub prefix: String,
    pub names: Vec<String>,
}

impl NetnsSet {
    /// Names for `count` namespaces, created later by the test (or not at all).
    pub fn named(tag: &str, count: usize) -> NetnsSet {
        let prefix = unique(tag);
        let names = (0..count).map(|i| format!("{prefix}-{i}")).collect();
        NetnsSet { prefix, names }
    }

    /// `count` namespaces, added with one `ip -batch`.
    pub fn add(tag: &str, count: usize) -> NetnsSet {
        let set = NetnsSet::named(tag, count);
        ip_batch_each("netns add", &set.names);
        set
    }
}

impl Drop for NetnsSet {
    fn drop(&mut self) {
        let lines: Vec<String> = self
            .names
            .iter()
            .filter(|n| Path::new("/var/run/netns").join(n).exists())
            .map(|n| format!("netns del {n}"))
            .collect();
        if !lines.is_empty() {
            let mut child = Command::new("ip")
                .args(["-force", "-batch", "-"])
                .stdin(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("ip");
            if let Some(mut stdin) = child.stdin.take() {
                for line in &lines {
                    let _ = writeln!(stdin, "{line}");
                }
            }
            let _ = child.wait();
        }
    }
}

/// A temporary directory `/tmp/nsmon-t-...`, removed on drop after unmounting what tests
/// mounted inside it.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir(&path).unwrap();
        TempDir { path }
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unmount_below(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Unmounts every mount point at or below `dir` (deepest first). Mount points are bytes (the
/// kernel escapes space, tab, newline and backslash as `\NNN` octal in mountinfo, and leaves
/// other bytes, UTF-8 or not, as they are).
pub fn unmount_below(dir: &Path) {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let Ok(mountinfo) = std::fs::read("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.as_os_str().as_bytes();
    let mut points: Vec<Vec<u8>> = mountinfo
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(unescape_mount_point)
        .filter(|p| p.starts_with(prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(std::ffi::OsString::from_vec(point))
            .status();
    }
}

fn unescape_mount_point(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Bind-mounts this process's network namespace onto `file` (which must exist), making it an
/// nsfs entry just like `ip netns add` does.
/// (Paths may be any bytes.)
pub fn bind_netns(file: &Path) {
    run_os(
        "mount",
        &[
            "--bind".as_ref(),
            "/proc/self/ns/net".as_ref(),
            file.as_os_str(),
        ],
    );
}

pub fn umount(file: &Path) {
    run_os("umount", &[file.as_os_str()]);
}

/// [`run`] with arguments that may be any bytes.
pub fn run_os(program: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the collect helpers need from a handle: the `next` and `wait` every nsmon handle has.
pub trait Handle {
    type Event;
    fn next_event(&mut self) -> Option<Self::Event>;
    fn wait_for(&mut self, timeout: Duration);
}

macro_rules! impl_handle {
    ($($handle:ty => $event:ty),*) => {$(
        impl Handle for $handle {
            type Event = $event;
            fn next_event(&mut self) -> Option<$event> {
                self.next().expect("next")
            }
            fn wait_for(&mut self, timeout: Duration) {
                self.wait(Some(timeout)).expect("wait");
            }
        }
    )*};
}

impl_handle!(
    Watcher => WatchEvent,
    nsmon::NsidSubscriber => nsmon::NsidEvent,
    nsmon::Stream => nsmon::StreamEvent,
    nsmon::Inventory => nsmon::InventoryEvent
);

/// Waits for events until `done` says so (given everything collected) or `timeout` passes.
pub fn collect_until<H: Handle>(
    handle: &mut H,
    timeout: Duration,
    mut done: impl FnMut(&[H::Event]) -> bool,
) -> Vec<H::Event> {
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    loop {
        while let Some(event) = handle.next_event() {
            events.push(event);
        }
        if done(&events) {
            return events;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return events;
        }
        handle.wait_for(left);
    }
}

/// Collects whatever arrives within `quiet` (for checks that nothing more comes).
pub fn collect_for<H: Handle>(handle: &mut H, quiet: Duration) -> Vec<H::Event> {
    collect_until(handle, quiet, |_| false)
}

/// A watcher event without its folder and identity (for comparing sequences; tests of the
/// folders and identities look at those on their own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seen {
    Created(nsmon::Name),
    Deleted(nsmon::Name),
    DirCreated,
    DirDeleted,
    DirUnavailable,
    Overflow,
}

/// The events as [`Seen`].
pub fn seen(events: &[WatchEvent]) -> Vec<Seen> {
    events
        .iter()
        .map(|e| match e {
            WatchEvent::Created { name, .. } => Seen::Created(name.clone()),
            WatchEvent::Deleted { name, .. } => Seen::Deleted(name.clone()),
            WatchEvent::DirectoryCreated { .. } => Seen::DirCreated,
            WatchEvent::DirectoryDeleted { .. } => Seen::DirDeleted,
            WatchEvent::DirectoryUnavailable { .. } => Seen::DirUnavailable,
            WatchEvent::Overflow => Seen::Overflow,
            other => panic!("an event the tests do not know: {other:?}"),
        })
        .collect()
}

/// Events about names starting with `prefix` (and the nameless ones dropped), as [`Seen`].
pub fn about(events: &[WatchEvent], prefix: &str) -> Vec<Seen> {
    seen(events)
        .into_iter()
        .filter(|seen| match seen {
            Seen::Created(name) | Seen::Deleted(name) => {
                name.as_bytes().starts_with(prefix.as_bytes())
            }
            _ => false,
        })
        .collect()
}

pub fn created(name: &str) -> Seen {
    Seen::Created(name.into())
}

pub fn deleted(name: &str) -> Seen {
    Seen::Deleted(name.into())
}

/// The names of a watcher's known namespaces, in its order.
pub fn known_names(watcher: &Watcher) -> Vec<nsmon::Name> {
    names_of(&watcher.namespaces())
}

/// The names of listed namespaces, in order.
pub fn names_of(listed: &[nsmon::WatchedNetns]) -> Vec<nsmon::Name> {
    listed.iter().map(|n| n.name.clone()).collect()
}

/// What [`check_alternation`] reads: watcher events, or their [`Seen`] form.
pub trait AsSeen: std::fmt::Debug {
    fn seen(&self) -> Option<Seen>;
}

impl AsSeen for WatchEvent {
    fn seen(&self) -> Option<Seen> {
        about(std::slice::from_ref(self), "").pop()
    }
}

impl AsSeen for Seen {
    fn seen(&self) -> Option<Seen> {
        Some(self.clone())
    }
}

/// Checks the watcher's promise for each name: events alternate Created, Deleted, Created, ...
/// starting with Created unless the name was `listed`. Returns the set present at the end.
pub fn check_alternation<E: AsSeen>(
    listed: &[nsmon::WatchedNetns],
    events: &[E],
) -> HashSet<nsmon::Name> {
    let mut present: HashSet<nsmon::Name> = listed.iter().map(|n| n.name.clone()).collect();
    for event in events {
        match event.seen() {
            Some(Seen::Created(name)) => {
                assert!(
                    present.insert(name.clone()),
                    "{name} created twice: {events:?}"
                )
            }
            Some(Seen::Deleted(name)) => assert!(
                present.remove(&name),
                "{name} deleted without being created or listed: {events:?}"
            ),
            _ => {}
        }
    }
    present
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident memory of this process, KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once it holds still (two reads 20 ms apart agree, or after 2 s): a baseline
/// that a thread just joined, still listed for a moment (see `threads_back_to`), does not
/// inflate.
pub fn settled_thread_count() -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = thread_count();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = thread_count();
        if now == last || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

/// The thread count once it is back to `expected`, or after 2 s, whichever is first. A joined
/// thread can still be listed for a moment: the kernel wakes the joiner before the thread has
/// left the process (its tid is cleared early in its exit). A leaked thread stays listed.
pub fn threads_back_to(expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = thread_count();
        if now == expected || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `path` is an nsfs mount (a namespace) right now.
pub fn is_nsfs(path: &Path) -> bool {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: zeroed statfs is valid; `c` is NUL-terminated; `buf` outlives the call.
    unsafe {
        let mut buf: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut buf) == 0 && buf.f_type == 0x6e73_6673
    }
}

/// Port ids of this process's rtnetlink sockets that joined the groups in `mask`.
pub fn our_netlink_ports(mask: u32) -> Vec<u32> {
    let ours: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().to_string();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    std::fs::read_to_string("/proc/net/netlink")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let groups = u32::from_str_radix(f[3], 16).ok()?;
            (f[1] == "0" && groups & mask == mask && ours.iter().any(|i| i == f[9]))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

/// Sends `message` to netlink port `port` from a fresh userspace socket.
pub fn send_from_userspace(message: &[u8], port: u32) {
    // SAFETY: plain socket calls on a socket this function owns; buffers outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as u16;
        to.nl_pid = port;
        let len = std::mem::size_of_val(&to) as u32;
        let sent = libc::sendto(
            fd,
            message.as_ptr().cast(),
            message.len(),
            0,
            (&raw const to).cast(),
            len,
        );
        assert_eq!(
            sent,
            message.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

/// A child process killed and reaped when the test ends, also on panic.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `path` in the repository: these helpers are shared by the library's tests (its package is
/// the repository's root) and the command's (in cli/, one folder down).
pub fn repository_file(path: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join(path))
        .find(|file| file.exists())
        .unwrap_or_else(|| panic!("{path} is in no folder above {}", manifest.display()))
}

/// Runs `tests/fixtures/hostile.sh` with `args` and returns its output, one entry per line.
pub fn hostile(args: &[&str]) -> Vec<String> {
    let script = repository_file("tests/fixtures/hostile.sh");
    let output = Command::new(script)
        .args(args)
        .output()
        .expect("run tests/fixtures/hostile.sh");
    assert!(
        output.status.success(),
        "hostile.sh {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the fixture prints hex and ASCII")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Bytes from lower-case hex.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// What the hostile fixture makes: link names, the address label, the alternative names of
/// `nsmon-many`, each as exact bytes.
pub struct Hostile {
    pub links: Vec<Vec<u8>>,
    pub label: Vec<u8>,
    pub alt_names: Vec<Vec<u8>>,
}

impl Hostile {
    pub fn expected() -> Hostile {
        Hostile {
            links: hostile(&["names"]).iter().map(|h| unhex(h)).collect(),
            label: unhex(&hostile(&["label"])[0]),
            alt_names: hostile(&["altnames"])
                .into_iter()
                .map(String::into_bytes)
                .collect(),
        }
    }

    /// Makes the objects in namespace `ns`.
    pub fn create(ns: &str) {
        hostile(&["create", ns]);
    }
}
