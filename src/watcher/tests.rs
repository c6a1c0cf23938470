//! Unit tests of the module above.

use super::*;

/// A directory under the temporary one, removed on drop (a failed test's too).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nsmon-u-{}-{tag}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_flood_of_entries_is_read_within_a_budget_and_nothing_is_lost() {
    let scratch = Scratch::new("budget");
    let dir = scratch.0.clone();
    let mut watcher = Watcher::new(WatcherOptions::new().dir(&dir).any_file(true)).unwrap();
    // Far more events than one budget of reads holds (16 reads of 4 KiB, 32 bytes each).
    for i in 0..3000 {
        std::fs::write(dir.join(format!("f{i:04}")), b"").unwrap();
    }
    assert!(watcher.next().unwrap().is_some());
    assert!(
        watcher.core.pump.inotify_backlog,
        "one call read the whole flood"
    );
    let readable = crate::sys::poll_readable(watcher.core.as_fd(), Some(std::time::Duration::ZERO));
    assert!(readable.unwrap(), "work remains but the fd is not readable");
    let mut created = 1;
    while let Some(event) = watcher.next().unwrap() {
        assert!(matches!(event, WatchEvent::Created { .. }), "{event:?}");
        created += 1;
    }
    assert_eq!(created, 3000);
    assert!(!watcher.core.pump.inotify_backlog);
}

#[test]
fn folders_share_a_watch_and_one_nobody_needs_is_removed() {
    let scratch = Scratch::new("shared");
    let top = scratch.0.clone();
    let options = WatcherOptions::new()
        .dir(top.join("a"))
        .dir(top.join("b"))
        .dir(top.join("./a"))
        .any_file(true);
    let mut watcher = Watcher::new(options).unwrap();
    // The kernel's count, from the inotify fd's fdinfo (one `inotify wd:` line a watch).
    let watches = |w: &Watcher| {
        let fd = w.core.pump.watches.inotify.as_raw_fd();
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("inotify wd:"))
            .count()
    };
    assert_eq!(
        watcher.dirs().len(),
        2,
        "the same folder twice is watched once"
    );
    assert_eq!(
        watches(&watcher),
        1,
        "both wait on one watch of their parent"
    );
    std::fs::create_dir(top.join("a")).unwrap();
    std::fs::write(top.join("a/x"), b"").unwrap();
    let mut events = Vec::new();
    while events.is_empty() {
        watcher
            .wait(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        events.extend(std::iter::from_fn(|| watcher.next().unwrap()));
    }
    assert_eq!(watches(&watcher), 2, "a, and the parent b waits on");
    std::fs::create_dir(top.join("b")).unwrap();
    // The folder appearing is no event here (no directory events): pumped by `next`.
    for _ in 0..1000 {
        if watcher.dirs().iter().all(|d| d.present) {
            break;
        }
        assert_eq!(watcher.next().unwrap(), None);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        watcher.dirs().iter().all(|d| d.present),
        "b was never taken up"
    );
    assert_eq!(watches(&watcher), 2, "a and b; the parent's watch is gone");
}
