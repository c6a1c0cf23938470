//! The inventory on real namespaces of every kind: held by a process, by a thread, by a
//! process in a child PID namespace, by a bind mount (`ip netns add`, or any folder), only by an
//! open fd, by a process that unshared without fork or exec. Each appears once, and is gone once
//! its last holder goes.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use nsmon::{Inventory, InventoryEvent, InventoryOptions, NetnsId, NetnsRef};

const T: Duration = Duration::from_secs(10);

/// Rescans often, so that what only a rescan finds is found within a test's patience.
fn inventory() -> Inventory {
    Inventory::new(InventoryOptions::new().rescan_interval(Duration::from_millis(100))).unwrap()
}

/// A child process, killed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn spawn(program: &str, args: &[&str]) -> Proc {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        Proc(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits until its namespace is not `from` any more (it has unshared), and returns it.
    fn namespace_other_than(&self, from: u64) -> NetnsId {
        let link = format!("/proc/{}/ns/net", self.pid());
        for _ in 0..1000 {
            if let Ok(id) = NetnsRef::Path(Path::new(&link)).identify() {
                if id.ino != from {
                    return id;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{} never left namespace {from}", self.pid());
    }

    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn own_inode() -> u64 {
    NetnsRef::Current.identify().unwrap().ino
}

/// The events about namespace `id`.
fn about(events: &[InventoryEvent], id: &NetnsId) -> Vec<InventoryEvent> {
    events
        .iter()
        .filter(|e| match e {
            InventoryEvent::Appeared { ns } => ns.id == *id,
            InventoryEvent::Gone { id: i }
            | InventoryEvent::NameAdded { id: i, .. }
            | InventoryEvent::NameRemoved { id: i, .. } => i == id,
            _ => false,
        })
        .cloned()
        .collect()
}

fn is_gone(events: &[InventoryEvent], id: &NetnsId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, InventoryEvent::Gone { id: i } if i == id))
}

/// The Appeared event of `id`, if any.
fn appeared<'a>(events: &'a [InventoryEvent], id: &NetnsId) -> Option<&'a nsmon::NetnsInfo> {
    events.iter().find_map(|e| match e {
        InventoryEvent::Appeared { ns } if ns.id == *id => Some(ns),
        _ => None,
    })
}

/// Every identity's events alternate Appeared, Gone (starting with Appeared), with names added
/// and removed only while it is there.
fn check_alternation(events: &[InventoryEvent]) {
    let mut present: HashMap<NetnsId, bool> = HashMap::new();
    for event in events {
        match event {
            InventoryEvent::Appeared { ns } => {
                assert!(
                    !present.insert(ns.id, true).unwrap_or(false),
                    "{:?} appeared twice",
                    ns.id
                );
            }
            InventoryEvent::Gone { id } => assert_eq!(
                present.insert(*id, false),
                Some(true),
                "{id:?} gone without appearing"
            ),
            InventoryEvent::NameAdded { id, .. } | InventoryEvent::NameRemoved { id, .. } => {
                assert_eq!(present.get(id), Some(&true), "{event:?} while not there")
            }
            _ => {}
        }
    }
}

/// Follows `inventory` until `id` has appeared and is gone (after `end` runs, once it appeared),
/// and returns the events about it.
fn life_of(
    inventory: &mut Inventory,
    id: NetnsId,
    end: impl FnOnce(),
) -> (nsmon::NetnsInfo, Vec<InventoryEvent>) {
    let mut events = collect_until(inventory, T, |e| appeared(e, &id).is_some());
    let info = appeared(&events, &id)
        .unwrap_or_else(|| panic!("{id:?} never appeared"))
        .clone();
    end();
    events.extend(collect_until(inventory, T, |e| is_gone(e, &id)));
    assert!(
        is_gone(&events, &id),
        "{id:?} never went: {:?}",
        about(&events, &id)
    );
    check_alternation(&events);
    (info, about(&events, &id))
}

#[test]
fn a_process_s_unnamed_namespace_appears_with_it_and_goes_with_it() {
    require_root!();
    let mut inventory = inventory();
    let sleeper = Proc::spawn("unshare", &["-n", "sleep", "30"]);
    let id = sleeper.namespace_other_than(own_inode());
    let pid = sleeper.pid();
    let (info, events) = life_of(&mut inventory, id, || sleeper.kill());
    assert_eq!(info.pids, vec![pid]);
    assert!(info.names.is_empty() && info.fds.is_empty());
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn a_thread_that_unshares_its_namespace_is_found_and_goes_with_the_thread() {
    require_root!();
    let mut inventory = inventory();
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // A thread of this test (not of nsmon) leaves the process's namespace for a new one, once
    // the inventory has seen it start: no event tells of the unshare, a rescan finds it.
    let thread = std::thread::spawn(move || {
        let _ = go_rx.recv();
        // SAFETY: unshare affects only this thread's namespace; the thread ends soon after.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let tid = unsafe { libc::gettid() } as u32;
        tx.send((tid, NetnsRef::Current.identify().unwrap()))
            .unwrap();
        let _ = done_rx.recv();
    });
    collect_for(&mut inventory, Duration::from_millis(300));
    go_tx.send(()).unwrap();
    let (tid, id) = rx.recv().unwrap();
    let (info, _) = life_of(&mut inventory, id, || {
        done_tx.send(()).unwrap();
        thread.join().unwrap();
    });
    assert_eq!(info.threads, vec![tid], "{info:?}");
    assert!(info.pids.is_empty(), "{info:?}");
}

#[test]
fn a_process_in_a_child_pid_namespace_is_seen_by_its_host_pid() {
    require_root!();
    let mut inventory = inventory();
    let outer = Proc::spawn(
        "unshare",
        &["--pid", "--fork", "--kill-child", "--net", "sleep", "30"],
    );
    let id = outer.namespace_other_than(own_inode());
    let pid = outer.pid();
    let (info, _) = life_of(&mut inventory, id, || outer.kill());
    assert!(info.pids.contains(&pid), "{info:?}");
}

#[test]
fn a_named_namespace_appears_with_its_name_and_goes_with_it() {
    require_root!();
    let mut inventory = inventory();
    let ns = Netns::add("inv");
    let id = NetnsRef::Name(&ns.name).identify().unwrap();
    let name = ns.name.clone();
    let (info, events) = life_of(&mut inventory, id, || ns.delete());
    // Where /var/run links to /run, the mount point is under /run.
    let mounted = fs_path(&format!("/var/run/netns/{name}"));
    assert_eq!(info.names, vec![mounted.clone()], "{info:?}");
    assert!(info.pids.is_empty());
    assert!(
        events.contains(&InventoryEvent::NameRemoved { id, path: mounted }),
        "{events:?}"
    );
}

/// `path` with the links of its folder resolved (mountinfo names the real mount point).
fn fs_path(path: &str) -> PathBuf {
    let path = Path::new(path);
    std::fs::canonicalize(path.parent().unwrap())
        .unwrap()
        .join(path.file_name().unwrap())
}

#[test]
fn a_namespace_mounted_in_any_folder_is_named_there_and_gets_and_loses_names() {
    require_root!();
    let mut inventory = inventory();
    let dir = TempDir::new("invmount");
    let file = dir.join("anywhere");
    std::fs::write(&file, b"").unwrap();
    run("unshare", &[&format!("--net={}", file.display()), "true"]);
    let id = NetnsRef::Path(&file).identify().unwrap();
    let second = dir.join("again");
    let mut events = collect_until(&mut inventory, T, |e| appeared(e, &id).is_some());
    assert_eq!(appeared(&events, &id).unwrap().names, vec![file.clone()]);
    // A second name, then both go.
    std::fs::write(&second, b"").unwrap();
    run(
        "mount",
        &["--bind", file.to_str().unwrap(), second.to_str().unwrap()],
    );
    let added = InventoryEvent::NameAdded {
        id,
        path: second.clone(),
    };
    events.extend(collect_until(&mut inventory, T, |e| e.contains(&added)));
    assert!(events.contains(&added), "{:?}", about(&events, &id));
    umount(&second);
    umount(&file);
    events.extend(collect_until(&mut inventory, T, |e| is_gone(e, &id)));
    let mine = about(&events, &id);
    assert_eq!(
        mine.len(),
        5,
        "appeared, name added, two names removed, gone: {mine:?}"
    );
    assert!(is_gone(&mine, &id));
    check_alternation(&events);
}

#[test]
fn a_namespace_held_only_by_an_fd_stays_until_the_fd_s_process_exits() {
    require_root!();
    let mut inventory = inventory();
    let sleeper = Proc::spawn("unshare", &["-n", "sleep", "30"]);
    let id = sleeper.namespace_other_than(own_inode());
    // Another process holds the namespace open (fd 3), and nothing else.
    let link = format!("/proc/{}/ns/net", sleeper.pid());
    let holder = Proc::spawn("bash", &["-c", &format!("exec 3<{link}; exec sleep 30")]);
    let holder_pid = holder.pid();
    for _ in 0..1000 {
        if held_now(&id, holder_pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(held_now(&id, holder_pid), "bash never opened the namespace");
    let mut events = collect_until(&mut inventory, T, |e| appeared(e, &id).is_some());
    sleeper.kill();
    // Found by a rescan as the holder's fd; still there while it is held.
    let held = |inventory: &Inventory| {
        inventory
            .namespaces()
            .iter()
            .any(|n| n.id == id && n.fds.iter().any(|(pid, _)| *pid == holder_pid))
    };
    for _ in 0..200 {
        if held(&inventory) {
            break;
        }
        events.extend(collect_for(&mut inventory, Duration::from_millis(20)));
    }
    assert!(held(&inventory), "{:?}", inventory.namespaces());
    assert!(
        !is_gone(&events, &id),
        "gone while an fd holds it: {:?}",
        about(&events, &id)
    );
    holder.kill();
    events.extend(collect_until(&mut inventory, T, |e| is_gone(e, &id)));
    assert!(is_gone(&events, &id), "{:?}", about(&events, &id));
    check_alternation(&events);
}

/// Whether process `pid` holds an fd of namespace `id` now (read from /proc, not nsmon).
fn held_now(id: &NetnsId, pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|t| t.to_str() == Some(&format!("net:[{}]", id.ino)))
            })
        })
        .unwrap_or(false)
}

#[test]
fn a_process_that_unshares_without_fork_or_exec_is_found_by_the_rescan() {
    require_root!();
    let mut inventory = inventory();
    // unshare(2) is system call 272 on x86_64; perl calls it and sleeps, no fork, no exec, a
    // while after it started (so that the inventory has read its start, in the old namespace).
    let loner = Proc::spawn(
        "perl",
        &[
            "-e",
            "select(undef, undef, undef, 0.5); syscall(272, 0x40000000) == 0 or die $!; sleep 30",
        ],
    );
    collect_for(&mut inventory, Duration::from_millis(300));
    let id = loner.namespace_other_than(own_inode());
    let pid = loner.pid();
    let (info, _) = life_of(&mut inventory, id, || loner.kill());
    assert_eq!(info.pids, vec![pid]);
}

#[test]
fn nsmon_holds_no_namespace_it_inventories() {
    require_root!();
    let sleeper = Proc::spawn("unshare", &["-n", "sleep", "30"]);
    let id = sleeper.namespace_other_than(own_inode());
    let mut inventory = inventory();
    let events = collect_until(&mut inventory, T, |e| appeared(e, &id).is_some());
    assert!(appeared(&events, &id).is_some());
    assert!(
        !held_now(&id, std::process::id()),
        "this process holds an fd of it"
    );
    let info = inventory.namespaces();
    assert!(info.iter().any(|n| n.id == id));
}

#[test]
fn without_rescans_the_proc_connector_and_the_mount_table_tell_everything_at_once() {
    require_root!();
    // No rescan within the test: what is seen comes from the events.
    let mut inventory =
        Inventory::new(InventoryOptions::new().rescan_interval(Duration::from_secs(3600))).unwrap();
    assert_eq!(inventory.degraded(), None, "root has the proc connector");
    let sleeper = Proc::spawn("unshare", &["-n", "sleep", "30"]);
    let id = sleeper.namespace_other_than(own_inode());
    life_of(&mut inventory, id, || sleeper.kill());
    let ns = Netns::add("invev");
    let id = NetnsRef::Name(&ns.name).identify().unwrap();
    life_of(&mut inventory, id, || ns.delete());
}

#[test]
fn a_namespace_held_only_by_a_socket_is_seen_with_sockets_on_and_goes_with_the_socket() {
    require_root!();
    let mut inventory = Inventory::new(
        InventoryOptions::new()
            .rescan_interval(Duration::from_millis(100))
            .sockets(true),
    )
    .unwrap();
    // perl makes a namespace, a socket in it, then goes back (setns, 308) to where it was:
    // the socket is all that holds the namespace. It prints the namespace's inode first.
    let script = "open(my $h, '<', '/proc/self/ns/net') or die; \
        syscall(272, 0x40000000) == 0 or die $!; \
        print readlink('/proc/self/ns/net'), \"\\n\"; $| = 1; \
        socket(my $s, 1, 2, 0) or die $!; \
        syscall(308, fileno($h), 0x40000000) == 0 or die $!; close($h); sleep 30";
    let mut child = Command::new("perl")
        .args(["-e", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let loner = Proc(child);
    let ino: u64 = line
        .trim()
        .strip_prefix("net:[")
        .and_then(|l| l.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap();
    let held = |inventory: &Inventory| {
        inventory
            .namespaces()
            .into_iter()
            .find(|n| n.id.ino == ino && n.sockets.iter().any(|(p, _)| *p == pid))
    };
    let mut events = Vec::new();
    for _ in 0..200 {
        if held(&inventory).is_some() {
            break;
        }
        events.extend(collect_for(&mut inventory, Duration::from_millis(20)));
    }
    let info = held(&inventory).unwrap_or_else(|| panic!("{:?}", inventory.namespaces()));
    assert!(info.pids.is_empty() && info.fds.is_empty(), "{info:?}");
    let id = info.id;
    loner.kill();
    events.extend(collect_until(&mut inventory, T, |e| is_gone(e, &id)));
    assert!(is_gone(&events, &id), "{:?}", about(&events, &id));
    check_alternation(&events);
}
