//! The inventory under load: a fork storm loses nothing, and 1,000 namespace lifecycles leave no
//! fd, thread or memory behind (`nsmon ls` against `lsns` is in cli/tests/ls_lsns.rs). One test
//! at a time (they would see each other's processes).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use nsmon::{Inventory, InventoryEvent, InventoryOptions, NetnsId, NetnsRef};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn inventory() -> Inventory {
    Inventory::new(InventoryOptions::new()).unwrap()
}

/// Namespace (inode, id) -> its processes, as an inventory knows them.
fn processes_of(inventory: &Inventory) -> BTreeMap<(u64, Option<u64>), Vec<u32>> {
    inventory
        .namespaces()
        .into_iter()
        .map(|n| ((n.id.ino, n.id.id), n.pids))
        .collect()
}

/// Appeared (or Gone) events of namespaces other than `own`.
fn count(events: &[InventoryEvent], own: &NetnsId, appeared: bool) -> usize {
    events
        .iter()
        .filter(|e| match e {
            InventoryEvent::Appeared { ns } => appeared && ns.id != *own,
            InventoryEvent::Gone { id } => !appeared && id != own,
            _ => false,
        })
        .count()
}

/// Whether the live inventory agrees with a fresh one, within a few tries (a process of the
/// host may start or end between the two reads).
fn agrees_with_a_fresh_scan(live: &mut Inventory) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..5 {
        collect_for(live, Duration::from_millis(200));
        let fresh = processes_of(&inventory());
        let now = processes_of(live);
        if now == fresh {
            return Ok(());
        }
        last = format!("live {now:?}\nfresh {fresh:?}");
    }
    Err(last)
}

fn run_shell(script: &str) {
    let status = Command::new("bash").args(["-c", script]).status().unwrap();
    assert!(status.success(), "{script}");
}

#[test]
fn a_fork_storm_loses_nothing_and_the_inventory_agrees_with_a_fresh_scan() {
    require_root!();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut inventory = inventory();
    collect_for(&mut inventory, Duration::from_millis(100));
    // 10,000 short processes (subshells: fork and exit), some with a namespace of their own.
    let storm = std::thread::spawn(|| {
        run_shell("for i in $(seq 10000); do ( : ); done");
        run_shell("for i in $(seq 20); do unshare -n sleep 0.2 & done; wait");
    });
    let mut events = Vec::new();
    while !storm.is_finished() {
        events.extend(collect_for(&mut inventory, Duration::from_millis(50)));
    }
    storm.join().unwrap();
    events.extend(collect_for(&mut inventory, Duration::from_millis(300)));
    let overruns = events
        .iter()
        .filter(|e| **e == InventoryEvent::Overrun)
        .count();
    let rescans = events
        .iter()
        .filter(|e| **e == InventoryEvent::Rescanned)
        .count();
    assert_eq!(overruns, rescans, "every overrun is followed by a rescan");
    let appeared = events
        .iter()
        .filter(|e| matches!(e, InventoryEvent::Appeared { .. }))
        .count();
    let gone = events
        .iter()
        .filter(|e| matches!(e, InventoryEvent::Gone { .. }))
        .count();
    assert_eq!((appeared, gone), (20, 20), "the 20 namespaces of the storm");
    agrees_with_a_fresh_scan(&mut inventory).unwrap();
}

#[test]
fn a_thousand_namespace_lifecycles_leave_no_fd_thread_or_memory_behind() {
    require_root!();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut inventory = inventory();
    let own = NetnsRef::Current.identify().unwrap();
    let round = |inventory: &mut Inventory, n: usize| {
        let churn = std::thread::spawn(move || {
            run_shell(&format!(
                "seq {n} | xargs -P 20 -I{{}} unshare -n sleep 0.05"
            ))
        });
        let mut events = Vec::new();
        while !churn.is_finished() {
            events.extend(collect_for(inventory, Duration::from_millis(50)));
        }
        churn.join().unwrap();
        events.extend(collect_until(inventory, Duration::from_secs(10), |e| {
            count(e, &own, true) == count(e, &own, false) && count(e, &own, true) >= n
        }));
        (count(&events, &own, true), count(&events, &own, false))
    };
    assert_eq!(round(&mut inventory, 100), (100, 100));
    let (fds, threads, rss) = (fd_count(), settled_thread_count(), rss_kib());
    assert_eq!(round(&mut inventory, 1000), (1000, 1000));
    assert_eq!(fd_count(), fds, "fds");
    assert_eq!(threads_back_to(threads), threads, "threads");
    let grown = rss_kib().saturating_sub(rss);
    assert!(
        grown < 1024,
        "RSS grew by {grown} KiB over 1,000 lifecycles"
    );
    assert_eq!(
        inventory.namespaces().len(),
        1,
        "{:?}",
        inventory.namespaces()
    );
}

#[test]
fn a_reader_that_falls_behind_gets_an_overrun_then_exactly_the_difference() {
    require_root!();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = KillOnDrop(
        Command::new("unshare")
            .args(["-n", "sleep", "30"])
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(100));
    let before_id = NetnsRef::Pid(before.0.id()).identify().unwrap();
    let mut inventory =
        Inventory::new(InventoryOptions::new().rescan_interval(Duration::from_secs(3600))).unwrap();
    collect_for(&mut inventory, Duration::from_millis(100));
    // Not read while 20,000 short processes come and go (far more than the connector's
    // buffer holds); meanwhile one namespace goes and another comes.
    drop(before);
    let after = KillOnDrop(
        Command::new("unshare")
            .args(["-n", "sleep", "30"])
            .spawn()
            .unwrap(),
    );
    run_shell("for i in $(seq 20000); do ( : ); done");
    let after_id = NetnsRef::Pid(after.0.id()).identify().unwrap();
    let events = collect_for(&mut inventory, Duration::from_millis(500));
    let at = |wanted: &InventoryEvent| events.iter().position(|e| e == wanted);
    let overrun = at(&InventoryEvent::Overrun).expect("an overrun");
    let rescanned = at(&InventoryEvent::Rescanned).expect("a rescan after it");
    assert!(overrun < rescanned);
    // Whatever came before the overrun, the two namespaces are right after the rescan.
    let gone = events
        .iter()
        .any(|e| matches!(e, InventoryEvent::Gone { id } if *id == before_id));
    let appeared = events
        .iter()
        .any(|e| matches!(e, InventoryEvent::Appeared { ns } if ns.id == after_id));
    assert!(gone && appeared, "{events:?}");
    agrees_with_a_fresh_scan(&mut inventory).unwrap();
}
