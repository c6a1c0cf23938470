//! Out of fds: `add` fails with a clear EMFILE error, changes nothing, leaks nothing, and the
//! stream goes on; a large batch needs few more fds than it keeps. Alone in its binary (and one
//! test at a time): they lower the whole process's RLIMIT_NOFILE.

mod common;

use std::time::Duration;

use common::*;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

/// The tests here change the process's limit and count its fds: one at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn set_soft_nofile(limit: u64) -> u64 {
    // SAFETY: reading and setting this process's own limit.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        let old = l.rlim_cur;
        l.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
        old
    }
}

#[test]
fn add_fails_clearly_at_the_fd_limit_and_the_stream_goes_on() {
    require_root!();
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let set = NetnsSet::add("nofile", 40);
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new().groups(Groups::LINK);
    stream
        .add("first", NetnsRef::Name(&set.names[0]), options)
        .unwrap();
    let fds = fd_count();
    let old = set_soft_nofile(fds as u64 + 10);
    let mut added = 1;
    let mut failure = None;
    for name in &set.names[1..] {
        match stream.add(name, NetnsRef::Name(name), options) {
            Ok(()) => added += 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // A batch meets the limit too, entry by entry.
    let rest: Vec<(&str, NetnsRef<'_>)> = set.names[added..]
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    let batch = stream.add_many(&rest, options);
    set_soft_nofile(old);

    let error = failure.expect("40 namespaces fit under a limit of 10 more fds");
    assert_eq!(error.errno(), libc::EMFILE, "{error}");
    assert!(
        error.to_string().contains("RLIMIT_NOFILE"),
        "unclear: {error}"
    );
    assert!(batch.iter().all(|r| r.is_err()), "{batch:?}");
    assert!(batch
        .iter()
        .all(|r| r.as_ref().unwrap_err().errno() == libc::EMFILE));
    assert_eq!(stream.len(), added, "a failed add changed the stream");
    assert!(added > 1 && added < set.names.len());
    for name in &set.names[added..] {
        assert!(!stream.contains(name));
    }
    // Nothing leaked by the failures: the fds are the sockets that were added.
    assert_eq!(fd_count(), fds + (added - 1));

    // The stream still works, for the first namespace and the last one added.
    for name in [&set.names[0], &set.names[added - 1]] {
        run(
            "ip",
            &["-n", name, "link", "add", "nsmon-nofile", "type", "bridge"],
        );
    }
    let key_of = |name: &String| {
        if name == &set.names[0] {
            "first".to_string()
        } else {
            name.clone()
        }
    };
    let wanted = [key_of(&set.names[0]), key_of(&set.names[added - 1])];
    let events = collect_until(&mut stream, Duration::from_secs(10), |e| {
        wanted.iter().all(|k| {
            e.iter().any(|e| {
                matches!(e, StreamEvent::Message { key, message: Rtnl::Link(Change::New, l), .. }
                if &**key == k && l.name.as_ref().is_some_and(|n| *n == "nsmon-nofile"))
            })
        })
    });
    for k in &wanted {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::Message { key, .. } if &**key == k)),
            "no event from {k}"
        );
    }
}

#[test]
fn a_large_batch_needs_no_more_fds_than_it_keeps_plus_a_chunk() {
    require_root!();
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // 300 namespaces under a limit of 300 + 256 + a margin more fds than are open now: one
    // socket each stays open, and at most one chunk of namespace fds is held beside them.
    let set = NetnsSet::add("nofilebatch", 300);
    let batch: Vec<(&str, NetnsRef<'_>)> = set
        .names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    let mut stream = Stream::new().unwrap();
    let old = set_soft_nofile(fd_count() as u64 + 300 + 256 + 16);
    let results = stream.add_many(&batch, StreamOptions::new().groups(Groups::LINK));
    set_soft_nofile(old);
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(stream.len(), 300);
}

#[test]
fn under_a_low_limit_a_batch_adds_as_many_namespaces_as_fit() {
    require_root!();
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let set = NetnsSet::add("nofilefit", 100);
    let batch: Vec<(&str, NetnsRef<'_>)> = set
        .names
        .iter()
        .map(|n| (n.as_str(), NetnsRef::Name(n)))
        .collect();
    let mut stream = Stream::new().unwrap();
    let fds = fd_count();
    // Room for 30 more fds: one socket each stays, so about 30 namespaces fit.
    let old = set_soft_nofile(fds as u64 + 30);
    let results = stream.add_many(&batch, StreamOptions::new().groups(Groups::LINK));
    let after = fd_count();
    set_soft_nofile(old);
    let added = results.iter().filter(|r| r.is_ok()).count();
    eprintln!("{added} of 100 added under a limit of {} more fds", 30);
    assert!(added >= 28, "only {added} added where about 30 fit");
    assert_eq!(stream.len(), added);
    assert_eq!(after, fds + added, "fds leaked by the failures");
    for result in results.iter().filter(|r| r.is_err()) {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.errno(), libc::EMFILE, "{error}");
        assert!(error.to_string().contains("RLIMIT_NOFILE"), "{error}");
    }
    // Those added work.
    let last = results.iter().rposition(|r| r.is_ok()).unwrap();
    let name = &set.names[last];
    run(
        "ip",
        &["-n", name, "link", "add", "nsmon-fit", "type", "bridge"],
    );
    let events = collect_until(&mut stream, Duration::from_secs(10), |e| {
        e.iter()
            .any(|e| matches!(e, StreamEvent::Message { key, .. } if &**key == name.as_str()))
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Message { key, .. } if &**key == name.as_str())),
        "no event from {name}"
    );
}
