//! The NSID subscriber and namespace-id queries, on real namespaces.

mod common;

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nsmon::nsid::{assign_nsid, assign_nsid_in, names_of_nsid, nsid, nsid_in, nsids_in};
use nsmon::{Error, NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber};

const T: Duration = Duration::from_secs(10);

/// Events until `done` or timeout.
fn collect(sub: &mut NsidSubscriber, done: impl FnMut(&[NsidEvent]) -> bool) -> Vec<NsidEvent> {
    collect_until(sub, T, done)
}

fn has_new(events: &[NsidEvent], id: u32) -> bool {
    events
        .iter()
        .any(|e| matches!(e, NsidEvent::NewNsid { nsid, .. } if *nsid == id))
}

fn has_del(events: &[NsidEvent], id: u32) -> bool {
    events.contains(&NsidEvent::DelNsid { nsid: id })
}

/// The id `ip netns list-id` shows for `name`.
fn ip_list_id(name: &str) -> Option<u32> {
    let out = Command::new("ip")
        .args(["netns", "list-id"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nsid") && line.ends_with(&format!("name: {name})")))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
}

fn thread_netns_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
fn an_id_assigned_by_the_library_is_reported_and_matches_ip() {
    require_root!();
    let mut sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
    let ns = Netns::add("nsid");
    assert_eq!(
        nsid(NetnsRef::Name(&ns.name)).unwrap(),
        None,
        "fresh: no id"
    );
    let id = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap();
    let events = collect(&mut sub, |e| has_new(e, id));
    assert!(has_new(&events, id), "{events:?}");
    assert_eq!(ip_list_id(&ns.name), Some(id));

    // The same answer by name, path, fd and pid.
    let path = Path::new("/var/run/netns").join(&ns.name);
    assert_eq!(nsid(NetnsRef::Path(&path)).unwrap(), Some(id));
    let file = File::open(&path).unwrap();
    assert_eq!(nsid(NetnsRef::Fd(file.as_fd())).unwrap(), Some(id));
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "30"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    let pid_answer = loop {
        // `ip netns exec` enters the namespace, then execs sleep: wait for the switch.
        let answer = nsid(NetnsRef::Pid(child.id())).unwrap();
        if answer.is_some() || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(pid_answer, Some(id));
    assert_eq!(
        names_of_nsid(NetnsRef::Current, id, None).unwrap(),
        vec![ns.name.clone()]
    );
    drop(file);

    ns.delete();
    let events = collect(&mut sub, |e| has_del(e, id));
    assert!(has_del(&events, id), "{events:?}");
}

#[test]
fn an_id_assigned_by_ip_netns_set_is_reported() {
    require_root!();
    let mut sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
    let ns = Netns::add("ipset");
    run("ip", &["netns", "set", &ns.name, "auto"]);
    let id = ip_list_id(&ns.name).expect("ip assigned an id");
    let events = collect(&mut sub, |e| has_new(e, id));
    assert!(has_new(&events, id), "{events:?}");
    assert_eq!(nsid(NetnsRef::Name(&ns.name)).unwrap(), Some(id));
}

#[test]
fn a_chosen_id_is_assigned_and_conflicts_are_refused() {
    require_root!();
    let ns = Netns::add("fixed");
    let other = Netns::add("fixed2");
    let want = 40_000 + (std::process::id() % 10_000);
    assert_eq!(
        assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Fixed(want)).unwrap(),
        want
    );
    // Asking again for what it has is fine; Auto keeps it.
    assert_eq!(
        assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Fixed(want)).unwrap(),
        want
    );
    assert_eq!(
        assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap(),
        want
    );
    // Another id for it, or its id for another namespace: EEXIST, with the kernel's reason.
    let err = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Fixed(want + 1)).unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST, "{err}");
    let err = assign_nsid(NetnsRef::Name(&other.name), NsidRequest::Fixed(want)).unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST, "{err}");
    assert_eq!(
        nsid(NetnsRef::Name(&other.name)).unwrap(),
        None,
        "nothing changed"
    );
    let err = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Fixed(u32::MAX)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[test]
fn bad_targets_get_clear_errors() {
    require_root!();
    for (target, errno, words) in [
        (NetnsRef::Name("a/b"), libc::EINVAL, "'/'"),
        (NetnsRef::Name(".."), libc::EINVAL, "invalid namespace name"),
        (
            NetnsRef::Name("nsmon-t-no-such-name"),
            libc::ENOENT,
            "no such named namespace",
        ),
        (
            NetnsRef::Path(Path::new("/etc/hostname")),
            libc::EINVAL,
            "not a network namespace",
        ),
        (
            NetnsRef::Path(Path::new("/proc/self/ns/uts")),
            libc::EINVAL,
            "not a network namespace",
        ),
        (
            NetnsRef::Path(Path::new("/nonexistent")),
            libc::ENOENT,
            "/nonexistent",
        ),
        (NetnsRef::Pid(u32::MAX - 1), libc::ESRCH, "pid"),
    ] {
        let err = nsid(target).unwrap_err();
        assert_eq!(err.errno(), errno, "{target:?}: {err}");
        assert!(err.to_string().contains(words), "{target:?}: {err}");
        let err = assign_nsid(target, NsidRequest::Auto).unwrap_err();
        assert_eq!(err.errno(), errno, "{target:?}: {err}");
        let err = NsidSubscriber::open_in(target, NsidOptions::new()).unwrap_err();
        assert_eq!(err.errno(), errno, "{target:?}: {err}");
    }
}

#[test]
fn ids_are_seen_from_the_observers_namespace_without_changing_the_callers() {
    require_root!();
    let before = thread_netns_inode();
    let observer = Netns::add("observer");
    let target = Netns::add("target");
    let mut inside =
        NsidSubscriber::open_in(NetnsRef::Name(&observer.name), NsidOptions::new()).unwrap();
    let id = assign_nsid_in(
        NetnsRef::Name(&observer.name),
        NetnsRef::Name(&target.name),
        NsidRequest::Auto,
    )
    .unwrap();
    assert_eq!(
        thread_netns_inode(),
        before,
        "the calling thread changed namespace"
    );
    let events = collect(&mut inside, |e| has_new(e, id));
    assert!(has_new(&events, id), "{events:?}");
    assert_eq!(
        nsid_in(NetnsRef::Name(&observer.name), NetnsRef::Name(&target.name)).unwrap(),
        Some(id)
    );
    // Seen from the caller's namespace, the target has no id: ids are per observer.
    assert_eq!(nsid(NetnsRef::Name(&target.name)).unwrap(), None);
    assert_eq!(thread_netns_inode(), before);
}

/// Sends a forged RTM_NEWNSID for `nsid` from a userspace socket: to `port` (unicast) or, with
/// `port` 0, to the RTNLGRP_NSID group (root may send to rtnetlink groups).
fn forge(nsid: i32, port: u32) {
    let mut msg = Vec::new();
    msg.extend_from_slice(&28u32.to_ne_bytes()); // len: 16 + 4 + 8
    msg.extend_from_slice(&88u16.to_ne_bytes()); // RTM_NEWNSID
    msg.extend_from_slice(&0u16.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0]); // rtgenmsg
    msg.extend_from_slice(&8u16.to_ne_bytes());
    msg.extend_from_slice(&1u16.to_ne_bytes()); // NETNSA_NSID
    msg.extend_from_slice(&nsid.to_ne_bytes());
    if port != 0 {
        send_from_userspace(&msg, port);
        return;
    }
    // SAFETY: plain socket calls on a socket this function owns; buffers outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as u16;
        to.nl_groups = 1 << (28 - 1); // RTNLGRP_NSID
        let len = std::mem::size_of_val(&to) as u32;
        let sent = libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&raw const to).cast(),
            len,
        );
        assert_eq!(
            sent,
            msg.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

fn assert_forgery_ignored(sub: &mut NsidSubscriber, forged: i32) {
    // The forged datagram reached the socket (so the fd woke up) but is not an event.
    let mut pfd = libc::pollfd {
        fd: sub.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 5000) },
        1,
        "the forged message never arrived"
    );
    let events = collect_for(sub, Duration::from_millis(200));
    assert!(
        !has_new(&events, forged as u32),
        "forged message accepted: {events:?}"
    );
}

#[test]
fn a_forged_message_from_userspace_is_ignored() {
    require_root!();
    let mut sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
    // Unicast to the subscriber's own port id (and to any other subscriber of this process that
    // a parallel test holds: they must ignore it too).
    let ports = our_netlink_ports(1 << 27); // RTNLGRP_NSID
    assert!(
        !ports.is_empty(),
        "the subscriber's socket is not in /proc/net/netlink"
    );
    for port in ports {
        forge(4242, port);
    }
    assert_forgery_ignored(&mut sub, 4242);
    // Multicast to the group.
    forge(4343, 0);
    assert_forgery_ignored(&mut sub, 4343);
    // The subscriber still hears the kernel.
    let ns = Netns::add("afterforge");
    let id = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap();
    assert!(has_new(&collect(&mut sub, |e| has_new(e, id)), id));
}

#[test]
fn an_overrun_is_reported_and_the_subscriber_goes_on() {
    require_root!();
    // The smallest buffer the kernel allows, and many assignments left unread.
    let mut sub = NsidSubscriber::new(NsidOptions::new().receive_buffer(1)).unwrap();
    let set = NetnsSet::add("overrun", 60);
    ip_batch_each(
        "netns set",
        &set.names
            .iter()
            .map(|n| format!("{n} auto"))
            .collect::<Vec<_>>(),
    );
    let events = collect(&mut sub, |e| {
        e.iter().any(|e| matches!(e, NsidEvent::Overrun { .. }))
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NsidEvent::Overrun { .. })),
        "{events:?}"
    );
    let ns = Netns::add("afteroverrun");
    let id = assign_nsid(NetnsRef::Name(&ns.name), NsidRequest::Auto).unwrap();
    assert!(has_new(&collect(&mut sub, |e| has_new(e, id)), id));
}

#[test]
fn a_dump_lists_every_id_that_ip_lists() {
    require_root!();
    let observer = Netns::add("dumpobs");
    let targets: Vec<Netns> = (0..30).map(|_| Netns::add("dumped")).collect();
    let mut assigned: Vec<u32> = targets
        .iter()
        .map(|t| {
            assign_nsid_in(
                NetnsRef::Name(&observer.name),
                NetnsRef::Name(&t.name),
                NsidRequest::Auto,
            )
            .unwrap()
        })
        .collect();
    assigned.sort_unstable();
    // Inside the observer only these ids exist (its namespace is new), so the lists are equal.
    assert_eq!(nsids_in(NetnsRef::Name(&observer.name)).unwrap(), assigned);
    let out = Command::new("ip")
        .args(["-n", &observer.name, "netns", "list-id"])
        .output()
        .unwrap();
    let mut from_ip: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    from_ip.sort_unstable();
    assert_eq!(from_ip, assigned);
}
