//! Soak: no fd, thread or memory growth over thousands of handle lifetimes. One test in this
//! binary, so that no other test's threads, fds or memory come and go while it counts.

mod common;

use std::fs;

use common::*;
use nsmon::nsid::{assign_nsid, nsid_in};
use nsmon::{
    NetnsRef, NsidOptions, NsidRequest, NsidSubscriber, Stream, StreamOptions, Watcher,
    WatcherOptions,
};

#[test]
fn handles_created_and_freed_leak_no_fd_and_no_thread() {
    require_root!();
    // Once first, so that one-time allocations (thread-locals, the allocator's arenas, lazily
    // built tables) are not counted as growth.
    a_thousand_watchers_created_and_freed_leak_no_fd_and_no_thread();
    nsid_subscribers_and_queries_leak_no_fd_and_no_thread();
    stream_add_remove_cycles_leak_no_fd_and_no_thread();
    coalescing_streams_leak_no_fd_and_no_thread();
    let rss = rss_kib();
    a_thousand_watchers_created_and_freed_leak_no_fd_and_no_thread();
    nsid_subscribers_and_queries_leak_no_fd_and_no_thread();
    stream_add_remove_cycles_leak_no_fd_and_no_thread();
    coalescing_streams_leak_no_fd_and_no_thread();
    let grown = rss_kib().saturating_sub(rss);
    eprintln!("RSS: {rss} KiB after the first round, +{grown} KiB after the second");
    // A leak of one 64-byte allocation per cycle would be 600 KiB over this round's 10,000
    // stream cycles alone; allocator noise is a few pages.
    assert!(grown < 256, "RSS grew by {grown} KiB over a second round");
}

fn a_thousand_watchers_created_and_freed_leak_no_fd_and_no_thread() {
    let dir = TempDir::new("leak");
    fs::write(dir.join("present"), b"").unwrap();
    let (fds, threads) = (fd_count(), settled_thread_count());
    for i in 0..1000 {
        // Alternate the readiness check (an extra mountinfo fd) and a missing directory.
        let options = if i % 2 == 0 {
            WatcherOptions::new().dir(&dir.path).list_existing(true)
        } else {
            WatcherOptions::new()
                .dir(dir.join("missing/netns"))
                .any_file(true)
        };
        let mut watcher = Watcher::new(options).unwrap();
        let _ = watcher.next().unwrap();
    }
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(threads_back_to(threads), threads, "threads leaked");
}

fn nsid_subscribers_and_queries_leak_no_fd_and_no_thread() {
    let observer = Netns::add("leakobs");
    let target = Netns::add("leaktarget");
    let (fds, threads) = (fd_count(), settled_thread_count());
    for i in 0..1000 {
        let mut sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
        let _ = sub.next().unwrap();
        if i % 10 == 0 {
            // The helper-thread path: a socket opened inside another namespace, and a query.
            let inside =
                NsidSubscriber::open_in(NetnsRef::Name(&observer.name), NsidOptions::new());
            drop(inside.unwrap());
            nsid_in(NetnsRef::Name(&observer.name), NetnsRef::Name(&target.name)).unwrap();
        }
    }
    assign_nsid(NetnsRef::Name(&target.name), NsidRequest::Auto).unwrap();
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(threads_back_to(threads), threads, "threads leaked");
}

fn coalescing_streams_leak_no_fd_and_no_thread() {
    let (fds, threads) = (fd_count(), settled_thread_count());
    for _ in 0..1000 {
        // Its own epoll set and timer besides the stream's: a window opened and left open.
        let mut stream = Stream::with_coalescing(std::time::Duration::from_millis(50)).unwrap();
        stream
            .add("here", NetnsRef::Current, StreamOptions::new().dump(true))
            .unwrap();
        while stream.next().unwrap().is_some() {}
    }
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(threads_back_to(threads), threads, "threads leaked");
}

fn stream_add_remove_cycles_leak_no_fd_and_no_thread() {
    let ns = Netns::add("leakstream");
    let mut stream = Stream::new().unwrap();
    stream
        .add("stays", NetnsRef::Current, StreamOptions::new())
        .unwrap();
    let (fds, threads) = (fd_count(), settled_thread_count());
    let start = std::time::Instant::now();
    for i in 0..10_000 {
        // Every cycle opens a socket inside the named namespace (a helper thread each time);
        // every tenth also runs a dump.
        let options = StreamOptions::new().dump(i % 10 == 0);
        stream
            .add("cycle", NetnsRef::Name(&ns.name), options)
            .unwrap();
        let _ = stream.next().unwrap();
        assert!(stream.remove("cycle"));
    }
    eprintln!("10,000 stream add/remove cycles: {:?}", start.elapsed());
    // Batches, with an all-nsid target mapping keys, and entries that fail.
    stream
        .add_all_nsid("all", NetnsRef::Current, StreamOptions::new())
        .unwrap();
    let keys: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    for _ in 0..100 {
        let mut batch: Vec<(&str, NetnsRef<'_>)> = keys
            .iter()
            .map(|k| (k.as_str(), NetnsRef::Name(&ns.name)))
            .collect();
        batch.push(("gone", NetnsRef::Name("nsmon-t-no-such-namespace")));
        batch.push(("b0", NetnsRef::Current));
        let results = stream.add_many(&batch, StreamOptions::new());
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), keys.len());
        for key in &keys {
            assert!(stream.remove(key));
        }
    }
    assert!(stream.remove("all"));
    while stream.next().unwrap().is_some() {}
    assert_eq!(stream.len(), 1);
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(threads_back_to(threads), threads, "threads leaked");
}
