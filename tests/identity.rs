//! One identity for a network namespace: the kernel's never-reused id (`NS_GET_ID`) beside the
//! device and inode of its nsfs file, the same however the namespace is named, and different
//! for a namespace that reuses a freed one's inode number.

mod common;

use std::collections::HashMap;
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
    // Namespaces made, seen through a stream, and freed, one after the other, until one gets
    // an inode number an earlier one had (the kernel hands out the lowest free number, so this
    // comes soon; which earlier one it matches depends on what else the host frees meanwhile).
    let mut stream = Stream::new().unwrap();
    let mut seen: HashMap<(u64, u64), NetnsId> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for tries in 1.. {
        assert!(
            Instant::now() < deadline,
            "no inode number reused in {tries} namespaces"
        );
        let ns = Netns::add("reuse");
        stream
            .add("k", NetnsRef::Name(&ns.name), StreamOptions::new())
            .unwrap();
        let id = stream.identity("k").unwrap();
        assert_eq!(NetnsRef::Name(&ns.name).identify().unwrap(), id);
        stream.remove("k"); // nsmon's socket no longer holds it
        if let Some(earlier) = seen.get(&(id.dev, id.ino)) {
            eprintln!(
                "inode {} reused after {tries} namespaces: ids {:?} then {:?}",
                id.ino, earlier.id, id.id
            );
            assert!(id.id.is_some(), "this kernel has NS_GET_ID");
            assert_ne!(id.id, earlier.id, "NS_GET_ID must tell them apart");
            assert_ne!(
                id, *earlier,
                "same inode, another namespace: another identity"
            );
            return;
        }
        seen.insert((id.dev, id.ino), id);
        ns.delete();
        std::thread::sleep(Duration::from_millis(5));
    }
}
