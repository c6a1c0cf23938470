//! NSID queries per second and events per assignment, beside iproute2 in the same run.
//!
//! `cargo bench --bench nsid` as root. Creates `nsmon-b-*` namespaces and removes them.

use std::process::Command;
use std::time::{Duration, Instant};

use nsmon::nsid::{assign_nsid, nsid, nsid_in};
use nsmon::{NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber};

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nsid bench: needs root");
        std::process::exit(1);
    }
    let name = format!("nsmon-b-{}-nsid", std::process::id());
    let observer = format!("nsmon-b-{}-obs", std::process::id());
    ip(&["netns", "add", &name]);
    ip(&["netns", "add", &observer]);
    let id = assign_nsid(NetnsRef::Name(&name), NsidRequest::Auto).unwrap();

    let rate = |n: u32, f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    };
    let by_name = rate(20_000, &mut || {
        assert_eq!(nsid(NetnsRef::Name(&name)).unwrap(), Some(id));
    });
    let from_observer = rate(2_000, &mut || {
        nsid_in(NetnsRef::Name(&observer), NetnsRef::Name(&name)).unwrap();
    });
    let ip_exec = rate(200, &mut || {
        let out = Command::new("ip")
            .args(["netns", "list-id"])
            .output()
            .unwrap();
        assert!(out.status.success());
    });

    // Events per `ip netns set`: one assignment, then count what arrives within 200 ms.
    let mut sub = NsidSubscriber::new(NsidOptions::new()).unwrap();
    let target = format!("nsmon-b-{}-set", std::process::id());
    ip(&["netns", "add", &target]);
    ip(&["netns", "set", &target, "auto"]);
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut events = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sub.wait(Some(left)).unwrap();
        while let Some(e) = sub.next().unwrap() {
            if matches!(e, NsidEvent::NewNsid { .. }) {
                events += 1;
            }
        }
    }
    for ns in [&name, &observer, &target] {
        ip(&["netns", "del", ns]);
    }

    println!("{:<52} {:>12}", "measure", "per second");
    println!(
        "{:<52} {:>12.0}",
        "nsmon nsid() by name (own namespace)", by_name
    );
    println!(
        "{:<52} {:>12.0}",
        "nsmon nsid_in() seen from another namespace", from_observer
    );
    println!(
        "{:<52} {:>12.0}",
        "peer: `ip netns list-id` (one process per query)", ip_exec
    );
    println!("new_nsid events observed for one `ip netns set NAME auto`: {events}");
}
