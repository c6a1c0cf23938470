//! One identity for a network namespace: the kernel's never-reused id (`NS_GET_ID`) beside the
//! device and inode of its nsfs file, the same however the namespace is named, and different
//! for a namespace that reuses a freed one's inode number.

mod common;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::*;
use nsmon::{NetnsId, NetnsRef, Stream, StreamOptions};

#[test]
fn every_way_of_naming_a_namespace_gives_one_identity() {
    require_root!();
    let ns = Netns::add("ident");
    let path = std::path::Path::new("/var/run/netns").join(&ns.name);
    let by_name = NetnsRef::Name(&ns.name).identify().unwrap();
    assert!(by_name.id.is_some(), "this kernel has NS_GET_ID");
    assert_eq!(NetnsRef::Path(&path).identify().unwrap(), by_name);
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(NetnsRef::Fd(file.as_fd()).identify().unwrap(), by_name);
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "5"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Until the child has entered the namespace (ip execs sleep there).
    while NetnsRef::Pid(pid).identify().ok() != Some(by_name) {
        assert!(
            Instant::now() < deadline,
            "the child never entered {}",
            ns.name
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    let own = NetnsRef::Current.identify().unwrap();
    assert_ne!(own, by_name);
    let mut stream = Stream::new().unwrap();
    stream
        .add("k", NetnsRef::Name(&ns.name), StreamOptions::new())
        .unwrap();
    assert_eq!(stream.identity("k"), Some(by_name));
    assert_eq!(stream.identity("missing"), None);
}

#[test]
fn a_namespace_that_reuses_a_freed_inode_number_has_another_identity() {
    require_root!();
    let old = Netns::add("reused");
    let before: NetnsId = NetnsRef::Name(&old.name).identify().unwrap();
    let mut stream = Stream::new().unwrap();
    let options = StreamOptions::new();
    stream.add("k", NetnsRef::Name(&old.name), options).unwrap();
    assert_eq!(stream.identity("k"), Some(before));
    stream.remove("k"); // nsmon's socket no longer holds it
    old.delete();
    // The kernel hands out the lowest free inode number: once the old namespace is freed, a new
    // one soon gets its number.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    let (reused, after) = loop {
        assert!(
            Instant::now() < deadline,
            "no new namespace reused inode {} in {tries} tries",
            before.ino
        );
        tries += 1;
        let candidate = Netns::add("reuser");
        let id = NetnsRef::Name(&candidate.name).identify().unwrap();
        if id.ino == before.ino && id.dev == before.dev {
            break (candidate, id);
        }
        candidate.delete();
        std::thread::sleep(Duration::from_millis(5));
    };
    eprintln!(
        "inode {} reused after {tries} tries: ids {:?} then {:?}",
        before.ino, before.id, after.id
    );
    assert_ne!(after.id, before.id, "NS_GET_ID must tell them apart");
    assert_ne!(
        after, before,
        "same inode, another namespace: another identity"
    );
    stream
        .add("k", NetnsRef::Name(&reused.name), options)
        .unwrap();
    assert_eq!(stream.identity("k"), Some(after));
}
