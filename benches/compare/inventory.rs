//! Scenario g, the inventory: how soon an unnamed namespace is seen to appear and to go (beside
//! the kernel's own delay in freeing it), how long an initial inventory of 100 namespaces with
//! 1,000 processes takes beside `lsns -t net`, the CPU per proc-connector event in a fork
//! storm, and the heap bytes per namespace known.

use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use nsmon::{Inventory, InventoryEvent, InventoryOptions, NetnsRef};

/// An inventory on its own thread, sending each event with the time it was taken.
struct Listener {
    events: Receiver<(Instant, InventoryEvent)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start() -> Listener {
        let (tx, events) = channel();
        let (ready_tx, ready_rx) = channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let quit = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut inventory = Inventory::new(InventoryOptions::new()).expect("inventory");
            while inventory.next().expect("next").is_some() {} // the host as it is
            ready_tx.send(()).unwrap();
            while !quit.load(std::sync::atomic::Ordering::Relaxed) {
                inventory
                    .wait(Some(Duration::from_millis(50)))
                    .expect("wait");
                while let Some(event) = inventory.next().expect("next") {
                    let _ = tx.send((Instant::now(), event));
                }
            }
        });
        ready_rx.recv().unwrap();
        Listener {
            events,
            stop,
            thread: Some(thread),
        }
    }

    /// The time of the first event `matches` accepts, within 10 s.
    fn until(&self, matches: impl Fn(&InventoryEvent) -> bool) -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, event) = self.events.recv_timeout(left).ok()?;
            if matches(&event) {
                return Some(at);
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn unshared(command: &str) -> Child {
    Command::new("unshare")
        .args(["-n", "sh", "-c", command])
        .stdout(Stdio::null())
        .spawn()
        .expect("unshare")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Appearance and disappearance latencies (microseconds) over `n` namespaces, and the kernel's
/// own delay between a kill and the namespace's file handle going stale.
pub struct Latency {
    pub appeared: Vec<f64>,
    /// From the start to the process's namespace link changing, polled in a tight loop: the
    /// earliest any observer could know.
    pub exists: Vec<f64>,
    pub gone: Vec<f64>,
    pub kernel: Vec<f64>,
}

pub fn latency(n: usize) -> Latency {
    let listener = Listener::start();
    let own = NetnsRef::Current.identify().unwrap();
    let mut out = Latency {
        appeared: Vec::new(),
        exists: Vec::new(),
        gone: Vec::new(),
        kernel: Vec::new(),
    };
    for _ in 0..n {
        let started = Instant::now();
        let mut child = unshared("exec sleep 30");
        let pid = child.id();
        let seen = listener.until(|e| {
            matches!(e, InventoryEvent::Appeared { ns } if ns.pids.contains(&pid) && ns.id != own)
        });
        let Some(seen) = seen else {
            let _ = child.kill();
            let _ = child.wait();
            continue;
        };
        out.appeared.push(micros(seen - started));
        let id = NetnsRef::Pid(pid).identify().ok();
        let killed = Instant::now();
        let _ = child.kill();
        if let Some(at) =
            listener.until(|e| matches!(e, InventoryEvent::Gone { id: g } if Some(*g) == id))
        {
            out.gone.push(micros(at - killed));
        }
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The kernel's own delay: a handle polled from kill until it goes stale, no nsmon involved.
    for _ in 0..n {
        let started = Instant::now();
        let mut child = unshared("exec sleep 30");
        let link = format!("/proc/{}/ns/net", child.id());
        let own_link = format!("net:[{}]", own.ino);
        while std::fs::read_link(&link).is_ok_and(|t| t.as_os_str() == own_link.as_str())
            || std::fs::read_link(&link).is_err()
        {
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        out.exists.push(micros(started.elapsed()));
        let mut handle = None;
        for _ in 0..1000 {
            if let Ok(fd) = std::fs::File::open(&link) {
                if NetnsRef::Fd(fd.as_fd()).identify().ok() != Some(own) {
                    handle = Handle::of(fd.as_fd());
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let killed = Instant::now();
        let _ = child.kill();
        if let Some(mut handle) = handle {
            while handle.alive() {
                if killed.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            out.kernel.push(micros(killed.elapsed()));
        }
        let _ = child.wait();
    }
    out
}

/// An nsfs file handle (Linux 6.18), as the library keeps one, to time the kernel on its own.
struct Handle([u8; 8 + 64]);

impl Handle {
    fn of(fd: std::os::fd::BorrowedFd<'_>) -> Option<Handle> {
        use std::os::fd::AsRawFd;
        let mut h = Handle([0; 72]);
        h.0[..4].copy_from_slice(&64u32.to_ne_bytes());
        let mut mount_id = 0;
        // SAFETY: `h` is a file_handle with 64 bytes of room; "" with AT_EMPTY_PATH names fd.
        let rc = unsafe {
            libc::name_to_handle_at(
                fd.as_raw_fd(),
                c"".as_ptr(),
                h.0.as_mut_ptr().cast(),
                &mut mount_id,
                libc::AT_EMPTY_PATH,
            )
        };
        (rc == 0).then_some(h)
    }

    fn alive(&mut self) -> bool {
        // SAFETY: a valid file_handle; -10003 is FD_NSFS_ROOT.
        let fd =
            unsafe { libc::open_by_handle_at(-10003, self.0.as_mut_ptr().cast(), libc::O_RDONLY) };
        if fd >= 0 {
            // SAFETY: fd was just opened here.
            unsafe { libc::close(fd) };
        }
        fd >= 0
    }
}

/// Wall time (median of 5, ms) of an initial inventory and of `lsns -t net -J`, with
/// `namespaces` namespaces of `per_namespace` processes each added to the host.
pub fn initial(namespaces: usize, per_namespace: usize) -> (f64, f64, f64, usize) {
    let script = format!(
        "for i in $(seq {}); do sleep 60 & done; exec sleep 60",
        per_namespace - 1
    );
    let children: Vec<Child> = (0..namespaces).map(|_| unshared(&script)).collect();
    // Every process of every namespace started.
    std::thread::sleep(Duration::from_millis(500));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut found = 0;
    let nsmon: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let inventory = Inventory::new(InventoryOptions::new().proc_events(false)).unwrap();
            found = inventory.namespaces().len();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let without_fds: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let options = InventoryOptions::new().proc_events(false).fds(false);
            let inventory = Inventory::new(options).unwrap();
            let _ = inventory.namespaces().len();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let lsns: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new("lsns")
                .args(["-t", "net", "-J"])
                .output()
                .unwrap();
            assert!(out.status.success());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    // The sleeps the shells started are orphans now: they end with their namespace's kill.
    let _ = Command::new("pkill").args(["-f", "^sleep 60$"]).status();
    (median(nsmon), median(without_fds), median(lsns), found)
}

/// CPU of this process (user + system, microseconds).
fn cpu_us() -> f64 {
    // SAFETY: getrusage writes one rusage into the zeroed struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU per proc-connector event (microseconds) while `count` short processes fork and exit:
/// the inventory runs on a thread of this otherwise idle process. Also returns the overruns.
pub fn fork_storm(count: usize) -> (f64, usize) {
    let listener = Listener::start();
    let before = cpu_us();
    let status = Command::new("bash")
        .args(["-c", &format!("for i in $(seq {count}); do ( : ); done")])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_us() - before;
    let overruns = listener
        .events
        .try_iter()
        .filter(|(_, e)| *e == InventoryEvent::Overrun)
        .count();
    // A fork and an exit each.
    (cpu / (2 * count) as f64, overruns)
}

/// Heap bytes per namespace the inventory knows: one inventory of the host against one with
/// `n` more namespaces, each held by one process.
pub fn memory(n: usize) -> f64 {
    let (base, base_bytes) = crate::heap::retained(|| {
        Inventory::new(InventoryOptions::new().proc_events(false)).unwrap()
    });
    let before = base.namespaces().len();
    let children: Vec<Child> = (0..n).map(|_| unshared("exec sleep 60")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let (more, more_bytes) = crate::heap::retained(|| {
        Inventory::new(InventoryOptions::new().proc_events(false)).unwrap()
    });
    let added = more.namespaces().len().saturating_sub(before).max(1);
    drop((base, more));
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    (more_bytes - base_bytes) as f64 / added as f64
}
