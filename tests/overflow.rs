//! The inotify overflow path. Alone in its binary: it lowers a system-wide inotify limit for
//! a moment, which would starve any watcher another test created at that moment.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use nsmon::{WatchEvent, Watcher, WatcherOptions};

const MAX_QUEUED: &str = "/proc/sys/fs/inotify/max_queued_events";

/// Sets a sysctl for the guard's lifetime, restoring it on drop (also on panic).
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Sysctl {
        let old = fs::read_to_string(path).unwrap();
        fs::write(path, value).unwrap();
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = fs::write(self.path, self.old.trim());
    }
}

#[test]
fn an_inotify_overflow_is_reported_then_the_difference() {
    require_root!();
    let dir = TempDir::new("overflow");
    for i in 0..20 {
        fs::write(dir.join(&format!("old{i}")), b"").unwrap();
    }
    // The queue limit is read when the inotify instance is created: lower it just for that.
    let mut watcher = {
        let _limit = Sysctl::set(MAX_QUEUED, "16");
        Watcher::new(WatcherOptions::new().dir(&dir.path).any_file(true)).unwrap()
    };
    let listed = watcher.namespaces();
    assert_eq!(listed.len(), 20);
    // Far more changes than 16 queued events, without reading any of them.
    for i in 0..200 {
        fs::write(dir.join(&format!("new{i}")), b"").unwrap();
    }
    for i in 0..10 {
        fs::remove_file(dir.join(&format!("old{i}"))).unwrap();
    }
    for i in 0..50 {
        fs::remove_file(dir.join(&format!("new{i}"))).unwrap();
    }
    let events = collect_for(&mut watcher, Duration::from_millis(500));
    let overflows = events
        .iter()
        .filter(|e| **e == WatchEvent::Overflow)
        .count();
    assert!(overflows >= 1, "no Overflow reported: {events:?}");
    let present = check_alternation(&listed, &events);
    let mut expected: Vec<String> = (10..20).map(|i| format!("old{i}")).collect();
    expected.extend((50..200).map(|i| format!("new{i}")));
    let mut present: Vec<nsmon::Name> = present.into_iter().collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected);
    assert_eq!(known_names(&watcher), expected);
}
