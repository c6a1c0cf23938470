//! Signals: a blocking wait ends with an "interrupted" error when a signal arrives (so that the
//! caller's handler logic can run) and the handle goes on working; every other call retries
//! `EINTR` by itself, even under a storm of signals. Alone in its binary: it installs a
//! process-wide SIGUSR1 handler without SA_RESTART.

mod common;

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use nsmon::nsid::{assign_nsid, nsid};
use nsmon::{
    Groups, NetnsRef, NsidOptions, NsidRequest, NsidSubscriber, Stream, StreamOptions, Watcher,
    WatcherOptions,
};

extern "C" fn ignore(_: libc::c_int) {}

fn install_handler() {
    // SAFETY: a handler that does nothing; no SA_RESTART, so blocking calls see EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Blocks in `wait(handle, None)` on a thread, signals it, and returns the handle and what
/// `wait` returned.
fn interrupted<H: Send + 'static>(
    mut handle: H,
    wait: fn(&mut H, Option<Duration>) -> nsmon::Result<bool>,
) -> (H, nsmon::Result<bool>) {
    let thread = std::thread::spawn(move || {
        let result = wait(&mut handle, None);
        (handle, result)
    });
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: the thread is alive (blocked in poll) until it returns.
    unsafe { libc::pthread_kill(thread.as_pthread_t(), libc::SIGUSR1) };
    thread.join().unwrap()
}

#[test]
fn a_signal_ends_each_blocking_wait_and_every_other_call_retries() {
    require_root!();
    install_handler();
    let ns = Netns::add("signals");

    // Each handle's blocking wait: interrupted, then the handle still delivers.
    let mut stream = Stream::new().unwrap();
    stream
        .add(
            "s",
            NetnsRef::Name(&ns.name),
            StreamOptions::new().groups(Groups::LINK),
        )
        .unwrap();
    let (mut stream, result) = interrupted(stream, Stream::wait);
    let error = result.expect_err("wait returned without an event");
    assert!(error.is_interrupted(), "{error}");
    run(
        "ip",
        &["-n", &ns.name, "link", "add", "nsmon-sig", "type", "bridge"],
    );
    assert!(stream.wait(Some(Duration::from_secs(10))).unwrap());
    assert!(stream.next().unwrap().is_some());

    let dir = TempDir::new("signals");
    let watcher = Watcher::new(WatcherOptions::new().dir(&dir.path).any_file(true)).unwrap();
    let (mut watcher, result) = interrupted(watcher, Watcher::wait);
    assert!(result.expect_err("watcher wait").is_interrupted());
    std::fs::write(dir.join("after"), b"").unwrap();
    assert!(watcher.wait(Some(Duration::from_secs(10))).unwrap());

    let sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
    let (_sub, result) = interrupted(sub, NsidSubscriber::wait);
    assert!(result.expect_err("nsid wait").is_interrupted());

    // A storm of signals while the calling thread queries, adds and reads: all succeed.
    let id = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { libc::pthread_self() } as usize;
    let storm = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: the target thread outlives the storm (it joins it below).
                unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
                sent += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            sent
        })
    };
    for i in 0..300 {
        assert_eq!(nsid(NetnsRef::Name(&ns.name)).unwrap(), Some(id));
        let key = format!("k{i}");
        stream
            .add(&key, NetnsRef::Name(&ns.name), StreamOptions::new())
            .unwrap();
        let _ = stream.next().unwrap();
        assert!(stream.remove(&key));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = storm.join().unwrap();
    assert!(sent > 100, "only {sent} signals were sent");
}
