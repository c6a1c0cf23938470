//! Out of fds: `add` fails with a clear EMFILE error, changes nothing, leaks nothing, and the
//! stream goes on. Alone in its binary: it lowers the whole process's RLIMIT_NOFILE.

mod common;

use std::time::Duration;

use common::*;
use nsmon::rtnl::{Change, Rtnl};
use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamOptions};

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
                if &**key == k && l.name.as_deref() == Some("nsmon-nofile"))
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
