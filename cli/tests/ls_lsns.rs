//! `nsmon ls` against `lsns -t net`: they agree on what both see, and nsmon sees what lsns misses
//! (a namespace held only by its name). A test binary of its own: it compares counts of the
//! host's processes, which the command's other tests, run in parallel, would change.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use nsmon::NetnsRef;

#[test]
fn ls_agrees_with_lsns_on_what_both_see_and_sees_what_lsns_misses() {
    require_root!();
    // Seen by both: a process in its own namespace. By nsmon only: a namespace with a name and
    // no process.
    let _sleeper = Command::new("unshare")
        .args(["-n", "sleep", "30"])
        .spawn()
        .map(KillOnDrop)
        .unwrap();
    let named = Netns::add("lsns");
    let named_ino = NetnsRef::Name(&named.name).identify().unwrap().ino;
    std::thread::sleep(Duration::from_millis(100));
    let mut last = String::new();
    for _ in 0..5 {
        let output = Command::new("lsns")
            .args(["-t", "net", "-J"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let lsns: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        // lsns counts itself, in this process's namespace (and nsmon ls itself, likewise).
        let here = NetnsRef::Current.identify().unwrap().ino;
        let theirs: HashMap<u64, u64> = lsns["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let ino = n["ns"].as_u64().unwrap();
                let nprocs = n["nprocs"].as_u64().unwrap();
                (ino, nprocs - u64::from(ino == here))
            })
            .collect();
        // What `nsmon ls --json` prints, line by line.
        let ls = Command::new(env!("CARGO_BIN_EXE_nsmon"))
            .args(["ls", "--json"])
            .output()
            .unwrap();
        assert!(ls.status.success());
        let ours: HashMap<u64, u64> = String::from_utf8(ls.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let ns: serde_json::Value = serde_json::from_str(line).unwrap();
                let ino = ns["inode"].as_u64().unwrap();
                (
                    ino,
                    ns["processes"].as_u64().unwrap() - u64::from(ino == here),
                )
            })
            .collect();
        let both: HashMap<u64, u64> = ours
            .iter()
            .filter(|(ino, _)| theirs.contains_key(ino))
            .map(|(ino, n)| (*ino, *n))
            .collect();
        assert!(
            theirs.len() >= 2,
            "lsns sees the host and the sleeper: {theirs:?}"
        );
        assert!(ours.contains_key(&named_ino), "nsmon sees the named one");
        assert!(
            !theirs.contains_key(&named_ino),
            "lsns misses it (no process)"
        );
        if both == theirs {
            return;
        }
        last = format!("lsns {theirs:?}\nnsmon {ours:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nsmon and lsns disagree:\n{last}");
}
