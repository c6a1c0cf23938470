//! The namespace watcher on real namespaces, real bind mounts and real directories.

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use nsmon::{Error, Name, WatchEvent, WatchedNetns, Watcher, WatcherOptions};

const T: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(200);

fn plain_files(dir: &Path) -> WatcherOptions {
    WatcherOptions::new().dir(dir).any_file(true)
}

#[test]
fn a_namespace_create_and_delete_are_each_seen_once() {
    require_root!();
    let mut watcher = Watcher::new(WatcherOptions::new()).unwrap();
    let ns = Netns::add("once");
    let name = ns.name.clone();
    let events = collect_until(&mut watcher, T, |e| about(e, &name).len() == 1);
    assert_eq!(about(&events, &name), vec![created(&name)]);
    // Reported only once mounted, so it can be entered at once.
    assert!(is_nsfs(&Path::new("/var/run/netns").join(&name)));
    ns.delete();
    let events = collect_until(&mut watcher, T, |e| about(e, &name).len() == 1);
    let mut events = about(&events, &name);
    events.extend(about(&collect_for(&mut watcher, QUIET), &name));
    assert_eq!(events, vec![deleted(&name)]);
}

#[test]
fn a_burst_of_200_namespaces_gives_exactly_those_names() {
    require_root!();
    let mut watcher = Watcher::new(WatcherOptions::new()).unwrap();
    let set = NetnsSet::add("burst", 200);
    let (prefix, names) = (set.prefix.clone(), set.names.clone());
    let events = collect_until(&mut watcher, T * 3, |e| about(e, &prefix).len() >= 200);
    ip_batch_each("netns del", &names);
    let mut all = about(&events, &prefix);
    all.extend(about(
        &collect_until(&mut watcher, T * 3, |e| about(e, &prefix).len() >= 200),
        &prefix,
    ));
    all.extend(about(&collect_for(&mut watcher, QUIET), &prefix));

    let expected: HashSet<Name> = names.iter().map(|n| Name::from(n.as_str())).collect();
    let created: Vec<&Name> = all
        .iter()
        .filter_map(|e| match e {
            Seen::Created(name) => Some(name),
            _ => None,
        })
        .collect();
    let deleted: Vec<&Name> = all
        .iter()
        .filter_map(|e| match e {
            Seen::Deleted(name) => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 200, "created: {created:?}");
    assert_eq!(deleted.len(), 200, "deleted: {deleted:?}");
    assert_eq!(
        created.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
    assert_eq!(
        deleted.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
    assert!(check_alternation(&[], &all).is_empty());
}

#[test]
fn list_and_watch_misses_nothing_while_files_are_being_created() {
    require_root!();
    let dir = TempDir::new("law");
    let total = 3000;
    let start = Arc::new(Barrier::new(2));
    let creator = {
        let (path, start) = (dir.path.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            for i in 0..total {
                fs::write(path.join(format!("f{i}")), b"").unwrap();
                // Paced, so that creation is still going on while the directory is listed.
                if i % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };
    start.wait();
    // Let creation get going, so that the listing races with it.
    while fs::read_dir(&dir.path).unwrap().count() < 100 {
        std::thread::yield_now();
    }
    let (listed, mut watcher) = Watcher::list_and_watch(plain_files(&dir.path)).unwrap();
    creator.join().unwrap();
    assert!(
        listed.len() >= 100 && listed.len() < total,
        "listed {}",
        listed.len()
    );
    let events = collect_until(&mut watcher, T, |e| listed.len() + e.len() >= total);
    let events = [events, collect_for(&mut watcher, QUIET)].concat();
    let present = check_alternation(&listed, &events);
    let expected: HashSet<Name> = (0..total).map(|i| Name::from(format!("f{i}"))).collect();
    assert_eq!(present, expected);
    assert_eq!(
        listed.len() + events.len(),
        total,
        "a name was reported twice"
    );
}

#[test]
fn list_and_watch_misses_no_namespace_while_namespaces_are_being_added() {
    require_root!();
    let set = NetnsSet::named("lawns", 60);
    let (prefix, names) = (set.prefix.clone(), set.names.clone());
    let adder = {
        let names = names.clone();
        std::thread::spawn(move || {
            for chunk in names.chunks(10) {
                ip_batch_each("netns add", chunk);
            }
        })
    };
    while !Path::new("/var/run/netns").join(&names[5]).exists() {
        std::thread::yield_now();
    }
    let (listed, mut watcher) = Watcher::list_and_watch(WatcherOptions::new()).unwrap();
    adder.join().unwrap();
    let listed: Vec<WatchedNetns> = listed
        .into_iter()
        .filter(|n| n.name.as_bytes().starts_with(prefix.as_bytes()))
        .collect();
    let events = collect_until(&mut watcher, T, |e| {
        listed.len() + about(e, &prefix).len() >= names.len()
    });
    let events = about(
        &[events, collect_for(&mut watcher, QUIET)].concat(),
        &prefix,
    );
    let present = check_alternation(&listed, &events);
    let expected: HashSet<Name> = names.iter().map(|n| Name::from(n.as_str())).collect();
    assert_eq!(present, expected);
    assert_eq!(listed.len() + events.len(), names.len());
}

#[test]
fn list_existing_reports_present_namespaces_as_created() {
    require_root!();
    let ns = Netns::add("listed");
    let mut watcher = Watcher::new(WatcherOptions::new().list_existing(true)).unwrap();
    assert!(known_names(&watcher).contains(&Name::from(ns.name.as_str())));
    let events = collect_until(&mut watcher, T, |e| !about(e, &ns.name).is_empty());
    assert_eq!(about(&events, &ns.name), vec![created(&ns.name)]);
}

#[test]
fn a_directory_created_deleted_and_created_again_with_plain_files() {
    require_root!();
    let parent = TempDir::new("dirlife");
    let dir = parent.join("a/b/netns");
    let mut watcher = Watcher::new(plain_files(&dir).directory_events(true)).unwrap();
    assert!(!watcher.dirs()[0].present);
    assert!(collect_for(&mut watcher, QUIET).is_empty());

    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("x"), b"").unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![Seen::DirCreated, created("x")]);
    assert!(watcher.dirs()[0].present);

    fs::remove_file(dir.join("x")).unwrap();
    fs::remove_dir(&dir).unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![deleted("x"), Seen::DirDeleted]);

    // Again, and this time the directory arrives with an entry already in it (moved in whole),
    // which only the scan after the new watch can find.
    let staging = parent.join("staging");
    fs::create_dir(&staging).unwrap();
    fs::write(staging.join("y"), b"").unwrap();
    fs::rename(&staging, &dir).unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![Seen::DirCreated, created("y")]);

    // Moved away with its entry: the entry is gone from the watched path too.
    fs::rename(&dir, &staging).unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![deleted("y"), Seen::DirDeleted]);

    // The whole parent chain disappears and comes back.
    fs::remove_dir_all(parent.join("a")).unwrap();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("z"), b"").unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![Seen::DirCreated, created("z")]);
    assert!(collect_for(&mut watcher, QUIET).is_empty());
}

#[test]
fn a_directory_created_deleted_and_created_again_with_nsfs_bind_mounts() {
    require_root!();
    let parent = TempDir::new("dirns");
    let dir = parent.join("netns");
    let mut watcher = Watcher::new(WatcherOptions::new().dir(&dir).directory_events(true)).unwrap();
    for round in 0..2 {
        fs::create_dir(&dir).unwrap();
        let entry = dir.join(format!("n{round}"));
        fs::write(&entry, b"").unwrap();
        bind_netns(&entry);
        let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
        assert_eq!(
            seen(&events),
            vec![Seen::DirCreated, created(&format!("n{round}"))]
        );
        umount(&entry);
        fs::remove_file(&entry).unwrap();
        fs::remove_dir(&dir).unwrap();
        let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
        assert_eq!(
            seen(&events),
            vec![deleted(&format!("n{round}")), Seen::DirDeleted]
        );
    }
}

#[test]
fn an_entry_is_created_only_after_its_namespace_is_mounted() {
    require_root!();
    let dir = TempDir::new("ready");
    let mut watcher = Watcher::new(WatcherOptions::new().dir(&dir.path)).unwrap();
    let entry = dir.join("later");
    fs::write(&entry, b"").unwrap();
    // A plain file is not a namespace: nothing, however long we wait.
    assert!(collect_for(&mut watcher, Duration::from_millis(300)).is_empty());
    // Unrelated mount activity re-checks the entry but does not report it.
    let other = dir.join("other");
    fs::create_dir(&other).unwrap();
    run("mount", &["-t", "tmpfs", "none", other.to_str().unwrap()]);
    assert!(collect_for(&mut watcher, QUIET).is_empty());
    bind_netns(&entry);
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(seen(&events), vec![created("later")]);
    umount(&entry);
    fs::remove_file(&entry).unwrap();
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(seen(&events), vec![deleted("later")]);
    // A pending entry deleted before it was ever mounted is never reported.
    fs::write(dir.join("never"), b"").unwrap();
    fs::remove_file(dir.join("never")).unwrap();
    assert!(collect_for(&mut watcher, QUIET).is_empty());
}

#[test]
fn renames_count_as_delete_and_create() {
    require_root!();
    let dir = TempDir::new("rename");
    let outside = TempDir::new("outside");
    let mut watcher = Watcher::new(plain_files(&dir.path)).unwrap();
    fs::write(dir.join("a"), b"").unwrap();
    assert_eq!(
        seen(&collect_until(&mut watcher, T, |e| !e.is_empty())),
        vec![created("a")]
    );
    fs::rename(dir.join("a"), dir.join("b")).unwrap();
    assert_eq!(
        seen(&collect_until(&mut watcher, T, |e| e.len() >= 2)),
        vec![deleted("a"), created("b")]
    );
    fs::rename(dir.join("b"), outside.join("b")).unwrap();
    assert_eq!(
        seen(&collect_until(&mut watcher, T, |e| !e.is_empty())),
        vec![deleted("b")]
    );
    fs::rename(outside.join("b"), dir.join("c")).unwrap();
    assert_eq!(
        seen(&collect_until(&mut watcher, T, |e| !e.is_empty())),
        vec![created("c")]
    );
    // Subdirectories are never namespaces.
    fs::create_dir(dir.join("subdir")).unwrap();
    assert!(collect_for(&mut watcher, QUIET).is_empty());
}

#[test]
fn an_edge_triggered_caller_that_drains_each_wake_up_never_stalls() {
    require_root!();
    let dir = TempDir::new("edge");
    let mut watcher = Watcher::new(plain_files(&dir.path)).unwrap();
    let n = 50;
    for i in 0..n {
        fs::write(dir.join(&format!("e{i}")), b"").unwrap();
    }
    // A caller's edge-triggered epoll that calls `next` until `None` after each wake-up (the
    // documented contract, as for any non-blocking fd under EPOLLET) must never stall, while
    // more files keep coming between its wake-ups.
    // SAFETY: plain epoll calls on fds we own; the event buffer outlives each call.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epfd >= 0);
    let mut reg = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET) as u32,
        u64: 7,
    };
    assert_eq!(
        unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, watcher.fd(), &mut reg) },
        0
    );
    let mut got = Vec::new();
    let mut more = n;
    while got.len() < 2 * n {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        let ready = unsafe { libc::epoll_wait(epfd, &mut ev, 1, 5000) };
        assert_eq!(ready, 1, "stalled after {} events", got.len());
        if let Some(event) = watcher.next().unwrap() {
            got.push(event);
        }
        let mut add_file = || {
            if more < 2 * n {
                fs::write(dir.join(&format!("e{more}")), b"").unwrap();
                more += 1;
            }
        };
        // A new file between taking the first event and draining the rest, and one after the
        // drain, for the next wake-up.
        add_file();
        while let Some(event) = watcher.next().unwrap() {
            got.push(event);
        }
        add_file();
    }
    unsafe { libc::close(epfd) };
    assert_eq!(check_alternation(&[], &got).len(), 2 * n);
    // Drained: `next` says so, and the fd is not readable (no level-triggered spin).
    assert_eq!(watcher.next().unwrap(), None);
    let mut pfd = libc::pollfd {
        fd: watcher.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "fd readable with nothing queued"
    );
}

#[test]
fn the_fd_is_close_on_exec_and_dispatch_and_wait_work() {
    require_root!();
    let dir = TempDir::new("dispatch");
    let mut watcher = Watcher::new(plain_files(&dir.path)).unwrap();
    // SAFETY: F_GETFD on an fd the watcher owns.
    let flags = unsafe { libc::fcntl(watcher.as_raw_fd(), libc::F_GETFD) };
    assert!(flags & libc::FD_CLOEXEC != 0);
    assert!(!watcher.wait(Some(Duration::from_millis(50))).unwrap());
    for name in ["a", "b", "c"] {
        fs::write(dir.join(name), b"").unwrap();
    }
    assert!(watcher.wait(Some(T)).unwrap());
    // A callback that stops after the first event leaves the others queued.
    let mut seen = Vec::new();
    let n = watcher.dispatch(|e| {
        seen.push(e);
        false
    });
    assert_eq!(n.unwrap(), 1);
    let n = watcher
        .dispatch(|e| {
            seen.push(e);
            true
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        common::seen(&seen),
        vec![created("a"), created("b"), created("c")]
    );
    assert_eq!(watcher.dispatch(|_| true).unwrap(), 0);
}

#[test]
fn a_watcher_registers_in_a_callers_mio_poll() {
    require_root!();
    let dir = TempDir::new("mio");
    let mut watcher = Watcher::new(plain_files(&dir.path)).unwrap();
    let mut poll = mio::Poll::new().unwrap();
    poll.registry()
        .register(&mut watcher, mio::Token(3), mio::Interest::READABLE)
        .unwrap();
    fs::write(dir.join("m"), b"").unwrap();
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(T)).unwrap();
    assert_eq!(
        events.iter().map(|e| e.token()).collect::<Vec<_>>(),
        vec![mio::Token(3)]
    );
    let event = watcher.next().unwrap().expect("an event");
    assert_eq!(seen(&[event]), vec![created("m")]);
    poll.registry().deregister(&mut watcher).unwrap();
}

#[test]
fn bad_options_are_refused_with_clear_errors() {
    for (dir, what) in [("", "empty"), ("/", "root"), ("/..", "root")] {
        let err = Watcher::new(WatcherOptions::new().dir(dir)).expect_err(what);
        assert!(matches!(err, Error::InvalidArgument(_)), "{what}: {err}");
        assert_eq!(err.errno(), libc::EINVAL);
    }
    fn assert_send<T: Send>() {}
    assert_send::<Watcher>();
}

#[test]
fn the_directory_removed_and_recreated_under_load_loses_and_duplicates_nothing() {
    require_root!();
    let parent = TempDir::new("dirload");
    let dir = parent.join("netns");
    fs::create_dir(&dir).unwrap();
    let mut watcher = Watcher::new(plain_files(&dir).directory_events(true)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A writer creating and deleting entries as fast as it can, failing quietly while the
    // directory is away.
    let writer = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = dir.join(format!("f{}", i % 64));
                if i % 3 == 2 {
                    let _ = fs::remove_file(&name);
                } else {
                    let _ = fs::write(&name, b"");
                }
                i += 1;
            }
            i
        })
    };
    let mut events = Vec::new();
    for round in 0..20 {
        std::thread::sleep(Duration::from_millis(20));
        if round % 2 == 0 {
            // Moved away whole, then removed: a plain remove_dir_all can lose the race with the
            // writer (a new entry between emptying and rmdir) and leave the directory there.
            let trash = parent.join(&format!("gone{round}"));
            fs::rename(&dir, &trash).unwrap();
            // A write already past the path lookup may still land in it: retry until empty.
            while fs::remove_dir_all(&trash).is_err() {}
        } else {
            fs::create_dir(&dir).unwrap();
        }
        while let Some(event) = watcher.next().unwrap() {
            events.push(event);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    events.extend(collect_for(&mut watcher, QUIET));
    assert!(writes > 1000, "only {writes} writes: no load");
    let count = |kind: Seen| seen(&events).iter().filter(|e| **e == kind).count();
    assert_eq!(
        (count(Seen::DirDeleted), count(Seen::DirCreated)),
        (10, 10),
        "the directory's goings and comings"
    );
    // Every name alternates, and what the watcher ends up knowing is what is there.
    let present = check_alternation(&[], &events);
    let mut on_disk: Vec<Name> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| Name::from(e.unwrap().file_name().as_os_str()))
        .collect();
    on_disk.sort();
    let mut reported: Vec<Name> = present.into_iter().collect();
    reported.sort();
    assert_eq!(reported, on_disk);
    assert_eq!(known_names(&watcher), on_disk);
}

/// Re-points the link `link` at `target`, atomically (a new link renamed over it).
fn repoint(link: &Path, target: &str) {
    let staging = link.with_extension("next");
    std::os::unix::fs::symlink(target, &staging).unwrap();
    fs::rename(&staging, link).unwrap();
}

#[test]
fn a_watched_path_through_a_link_follows_the_link_as_it_is_repointed() {
    let dir = TempDir::new("relink");
    for (sub, file) in [("a", "in-a"), ("b", "in-b")] {
        fs::create_dir(dir.join(sub)).unwrap();
        fs::write(dir.join(sub).join(file), b"").unwrap();
    }
    let link = dir.join("cur");
    std::os::unix::fs::symlink("a", &link).unwrap();
    let (listed, mut watcher) = Watcher::list_and_watch(plain_files(&link)).unwrap();
    assert_eq!(names_of(&listed), vec![Name::from("in-a")]);
    repoint(&link, "b");
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![deleted("in-a"), created("in-b")]);
    // Now b is watched, a is not.
    fs::write(dir.join("b").join("new-b"), b"").unwrap();
    fs::write(dir.join("a").join("late-a"), b"").unwrap();
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    let events = [events, collect_for(&mut watcher, QUIET)].concat();
    assert_eq!(seen(&events), vec![created("new-b")]);
    // A link in the middle of the path too.
    let top = dir.join("top");
    std::os::unix::fs::symlink(".", &top).unwrap();
    let (listed, mut through) = Watcher::list_and_watch(plain_files(&top.join("cur"))).unwrap();
    assert_eq!(
        names_of(&listed),
        vec![Name::from("in-b"), Name::from("new-b")]
    );
    // `top` re-pointed at another folder whose `cur` leads to a.
    fs::create_dir(dir.join("other")).unwrap();
    std::os::unix::fs::symlink("../a", dir.join("other").join("cur")).unwrap();
    repoint(&top, "other");
    let events = collect_until(&mut through, T, |e| e.len() >= 4);
    let present = check_alternation(&listed, &events);
    assert_eq!(
        present,
        [Name::from("in-a"), Name::from("late-a")]
            .into_iter()
            .collect()
    );
}

#[test]
fn a_loop_of_links_makes_the_directory_unavailable_then_it_recovers() {
    let dir = TempDir::new("loop");
    let path = dir.join("d");
    std::os::unix::fs::symlink("d", &path).unwrap(); // d -> d: ELOOP
    let mut watcher = Watcher::new(
        plain_files(&path)
            .list_existing(true)
            .directory_events(true),
    )
    .unwrap();
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    match &events[..] {
        [WatchEvent::DirectoryUnavailable { dir, reason }] => {
            assert_eq!(**dir, *path);
            assert!(
                reason.contains("Too many levels of symbolic links"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!watcher.dirs()[0].present);
    // Fixed: the link goes, a directory with an entry takes its place.
    let ready = dir.join("ready");
    fs::create_dir(&ready).unwrap();
    fs::write(ready.join("x"), b"").unwrap();
    fs::remove_file(&path).unwrap();
    fs::rename(&ready, &path).unwrap();
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![Seen::DirCreated, created("x")]);
    // Broken again while watched: its names go, it is unavailable, the watcher goes on.
    fs::rename(&path, &ready).unwrap();
    std::os::unix::fs::symlink("d", &path).unwrap();
    let events = collect_until(&mut watcher, T, |e| {
        e.iter()
            .any(|e| matches!(e, WatchEvent::DirectoryUnavailable { .. }))
    });
    assert_eq!(seen(&events)[0], deleted("x"), "{events:?}");
    assert!(
        matches!(events.last(), Some(WatchEvent::DirectoryUnavailable { .. })),
        "{events:?}"
    );
    fs::remove_file(&path).unwrap();
    fs::rename(&ready, &path).unwrap();
    let events = collect_until(&mut watcher, T, |e| seen(e).contains(&created("x")));
    assert!(seen(&events).contains(&created("x")), "{events:?}");
}

/// Bind-mounts namespace `ns`'s file onto `file`.
fn mount_ns(ns: &str, file: &Path) {
    let source = Path::new("/var/run/netns").join(ns);
    run_os(
        "mount",
        &["--bind".as_ref(), source.as_os_str(), file.as_os_str()],
    );
}

#[test]
fn an_entry_unmounted_in_place_is_deleted_at_once_and_created_again_when_mounted() {
    require_root!();
    let (blue, green) = (Netns::add("umblue"), Netns::add("umgreen"));
    let dir = TempDir::new("unmount");
    let entry = dir.join("sandbox");
    fs::write(&entry, b"").unwrap();
    mount_ns(&blue.name, &entry);
    let (listed, mut watcher) =
        Watcher::list_and_watch(WatcherOptions::new().dir(&dir.path)).unwrap();
    assert_eq!(names_of(&listed), vec![Name::from("sandbox")]);
    // As Docker stops a container: the namespace is unmounted, the empty file stays.
    umount(&entry);
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(seen(&events), vec![deleted("sandbox")]);
    assert!(entry.exists(), "the file is still there");
    assert!(watcher.namespaces().is_empty());
    // Mounted again: a namespace again.
    mount_ns(&blue.name, &entry);
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(seen(&events), vec![created("sandbox")]);
    // Another namespace mounted over it: the name is another namespace now.
    mount_ns(&green.name, &entry);
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![deleted("sandbox"), created("sandbox")]);
    // Back to blue when green's mount goes: again another namespace.
    umount(&entry);
    let events = collect_until(&mut watcher, T, |e| e.len() >= 2);
    assert_eq!(seen(&events), vec![deleted("sandbox"), created("sandbox")]);
    let quiet = collect_for(&mut watcher, QUIET);
    assert!(quiet.is_empty(), "{quiet:?}");
}
