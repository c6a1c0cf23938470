//! Hostile files where namespace files are expected: a FIFO, a link to one, a link in the
//! named-namespace folder, another kind of namespace. Nothing hangs, each gets a clear error,
//! and the watcher reports network namespaces only.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use nsmon::{Error, NetnsRef, Stream, StreamOptions, Watcher, WatcherOptions};

const T: Duration = Duration::from_secs(10);

/// Runs `f` on a thread and returns its result, failing the test if it does not end within
/// ten seconds (what a blocking open of a FIFO would do for ever).
fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(T)
        .unwrap_or_else(|_| panic!("{what} did not end: it blocks"))
}

/// A file in the named-namespace folder, removed on drop.
struct Entry(std::path::PathBuf);

impl Drop for Entry {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mkfifo(path: &Path) {
    run_os("mkfifo", &[path.as_os_str()]);
}

fn add(target: NetnsOwned) -> nsmon::Result<()> {
    let mut stream = Stream::new().unwrap();
    match &target {
        NetnsOwned::Name(n) => stream.add("k", NetnsRef::Name(n), StreamOptions::new()),
        NetnsOwned::Path(p) => stream.add("k", NetnsRef::Path(p), StreamOptions::new()),
    }
}

enum NetnsOwned {
    Name(String),
    Path(std::path::PathBuf),
}

fn invalid(result: nsmon::Result<()>, says: &str) {
    match result {
        Err(Error::InvalidArgument(text)) => assert!(text.contains(says), "{text}"),
        other => panic!("expected a clear invalid-argument error, got {other:?}"),
    }
}

#[test]
fn a_fifo_where_a_namespace_is_expected_is_refused_at_once() {
    require_root!();
    let name = unique("fifo");
    let fifo = Entry(Path::new("/var/run/netns").join(&name));
    mkfifo(&fifo.0);
    let by_name = name.clone();
    invalid(
        bounded("add --ns FIFO", move || add(NetnsOwned::Name(by_name))),
        "not an nsfs file",
    );
    let path = fifo.0.clone();
    invalid(
        bounded("add --path FIFO", move || add(NetnsOwned::Path(path))),
        "not an nsfs file",
    );
    let dir = TempDir::new("fifolink");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&fifo.0, &link).unwrap();
    invalid(
        bounded("add --path LINK-TO-FIFO", move || {
            add(NetnsOwned::Path(link))
        }),
        "not an nsfs file",
    );
    let query = fifo.0.clone();
    let answer = bounded("nsid query of a FIFO", move || {
        nsmon::nsid::nsid(NetnsRef::Path(&query)).map(|_| ())
    });
    invalid(answer, "not an nsfs file");
}

#[test]
fn a_link_in_the_named_namespace_folder_is_refused_and_a_link_by_path_is_followed() {
    require_root!();
    let ns = Netns::add("linked");
    let link_name = unique("link");
    let link = Entry(Path::new("/var/run/netns").join(&link_name));
    std::os::unix::fs::symlink(Path::new("/var/run/netns").join(&ns.name), &link.0).unwrap();
    invalid(
        bounded("add --ns LINK", move || add(NetnsOwned::Name(link_name))),
        "is a symbolic link",
    );
    // A path is the caller's choice: a link there is followed.
    let path = link.0.clone();
    bounded("add --path LINK", move || add(NetnsOwned::Path(path))).unwrap();
    // A missing name says so.
    match add(NetnsOwned::Name(unique("missing"))) {
        Err(e) => assert!(e.to_string().contains("no such named namespace"), "{e}"),
        Ok(()) => panic!("a missing namespace was added"),
    }
}

#[test]
fn the_watcher_reports_network_namespaces_only() {
    require_root!();
    let dir = TempDir::new("kinds");
    let (uts, net, fifo) = (dir.join("uts"), dir.join("net"), dir.join("fifo"));
    std::fs::write(&uts, b"").unwrap();
    run_os(
        "mount",
        &[
            "--bind".as_ref(),
            "/proc/self/ns/uts".as_ref(),
            uts.as_os_str(),
        ],
    );
    mkfifo(&fifo);
    let path = dir.path.clone();
    let (listed, mut watcher) = bounded("a watcher over a FIFO", move || {
        Watcher::list_and_watch(WatcherOptions::new().dir(path)).unwrap()
    });
    assert!(
        listed.is_empty(),
        "a uts namespace or a FIFO listed: {listed:?}"
    );
    std::fs::write(&net, b"").unwrap();
    bind_netns(&net);
    let events = collect_until(&mut watcher, T, |e| !e.is_empty());
    assert_eq!(seen(&events), vec![created("net")]);
    let more = collect_for(&mut watcher, Duration::from_millis(200));
    assert!(more.is_empty(), "{more:?}");
    assert_eq!(known_names(&watcher), vec![nsmon::Name::from("net")]);
}
