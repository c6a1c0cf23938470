//! One watcher over several folders, on real bind mounts of real namespaces: every event names
//! its folder and the namespace's identity; folders come and go; one folder per user; the same
//! folder is watched once however it is spelt; bad folders say so.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use nsmon::{NetnsId, NetnsRef, WatchEvent, Watcher, WatcherOptions};

const T: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(200);

/// Bind-mounts namespace `ns`'s file onto a new file `file`.
fn mount_ns(ns: &Netns, file: &Path) {
    fs::write(file, b"").unwrap();
    let source = Path::new("/var/run/netns").join(&ns.name);
    run_os(
        "mount",
        &["--bind".as_ref(), source.as_os_str(), file.as_os_str()],
    );
}

fn id_of(ns: &Netns) -> NetnsId {
    NetnsRef::Name(&ns.name).identify().unwrap()
}

fn folder(path: &Path) -> Arc<Path> {
    Arc::from(path)
}

fn created(dir: &Path, name: &str, id: NetnsId) -> WatchEvent {
    WatchEvent::Created {
        dir: folder(dir),
        name: name.into(),
        id: Some(id),
    }
}

fn deleted(dir: &Path, name: &str, id: NetnsId) -> WatchEvent {
    WatchEvent::Deleted {
        dir: folder(dir),
        name: name.into(),
        id: Some(id),
    }
}

/// The folders a watcher watches now.
fn dir_paths(watcher: &Watcher) -> Vec<Arc<Path>> {
    watcher.dirs().into_iter().map(|d| d.path).collect()
}

/// Waits for `n` events (and a quiet moment after them, so that a duplicate would show).
fn next_events(watcher: &mut Watcher, n: usize) -> Vec<WatchEvent> {
    let mut events = collect_until(watcher, T, |e| e.len() >= n);
    events.extend(collect_for(watcher, QUIET));
    events
}

#[test]
fn three_folders_at_once_one_made_later_one_deleted_and_made_again() {
    require_root!();
    let (blue, green, red) = (
        Netns::add("f3blue"),
        Netns::add("f3green"),
        Netns::add("f3red"),
    );
    let top = TempDir::new("three");
    let (a, b, c) = (top.join("a"), top.join("b"), top.join("c"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&c).unwrap();
    let mut watcher = Watcher::new(
        WatcherOptions::new()
            .dir(&a)
            .dir(&b)
            .dir(&c)
            .directory_events(true),
    )
    .unwrap();
    let dirs: Vec<(Arc<Path>, bool)> = watcher
        .dirs()
        .into_iter()
        .map(|d| (d.path, d.present))
        .collect();
    assert_eq!(
        dirs,
        vec![(folder(&a), true), (folder(&b), false), (folder(&c), true)]
    );

    mount_ns(&blue, &a.join("x"));
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&a, "x", id_of(&blue))]
    );

    // b appears after the watcher started; the same name as in a is another namespace there.
    fs::create_dir(&b).unwrap();
    mount_ns(&green, &b.join("x"));
    assert_eq!(
        next_events(&mut watcher, 2),
        vec![
            WatchEvent::DirectoryCreated { dir: folder(&b) },
            created(&b, "x", id_of(&green)),
        ]
    );

    mount_ns(&red, &c.join("z"));
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&c, "z", id_of(&red))]
    );
    // c deleted while watched, then made again with another namespace in it.
    umount(&c.join("z"));
    fs::remove_dir_all(&c).unwrap();
    fs::create_dir(&c).unwrap();
    mount_ns(&blue, &c.join("w"));
    assert_eq!(
        next_events(&mut watcher, 4),
        vec![
            deleted(&c, "z", id_of(&red)),
            WatchEvent::DirectoryDeleted { dir: folder(&c) },
            WatchEvent::DirectoryCreated { dir: folder(&c) },
            created(&c, "w", id_of(&blue)),
        ]
    );
    let known: Vec<(Arc<Path>, String)> = watcher
        .namespaces()
        .into_iter()
        .map(|n| (n.dir, n.name.to_string()))
        .collect();
    assert_eq!(
        known,
        vec![
            (folder(&a), "x".into()),
            (folder(&b), "x".into()),
            (folder(&c), "w".into())
        ]
    );
}

#[test]
fn a_namespace_unmounted_in_place_and_another_mounted_there_get_their_own_identities() {
    require_root!();
    let (blue, green) = (Netns::add("idblue"), Netns::add("idgreen"));
    // Taken now: /var/run/netns is a shared mount, so a mount over the bind mount of blue
    // below propagates to blue's own file too.
    let (blue_id, green_id) = (id_of(&blue), id_of(&green));
    let dir = TempDir::new("ids");
    let entry = dir.join("sandbox");
    mount_ns(&blue, &entry);
    let mut watcher =
        Watcher::new(WatcherOptions::new().dir(&dir.path).list_existing(true)).unwrap();
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&dir.path, "sandbox", blue_id)]
    );
    // Another namespace over it: gone, then new, each with its own identity.
    run_os(
        "mount",
        &[
            "--bind".as_ref(),
            Path::new("/var/run/netns").join(&green.name).as_os_str(),
            entry.as_os_str(),
        ],
    );
    assert_eq!(
        next_events(&mut watcher, 2),
        vec![
            deleted(&dir.path, "sandbox", blue_id),
            created(&dir.path, "sandbox", green_id),
        ]
    );
    assert_ne!(blue_id, green_id);
}

#[test]
fn a_pattern_gives_one_folder_per_subdirectory_as_they_come_and_go() {
    require_root!();
    let (blue, green) = (Netns::add("pblue"), Netns::add("pgreen"));
    let users = TempDir::new("users");
    let early = users.join("1000/netns");
    fs::create_dir_all(&early).unwrap();
    mount_ns(&blue, &early.join("netns-a"));
    let mut watcher = Watcher::new(
        WatcherOptions::new()
            .dir(users.join("*/netns"))
            .list_existing(true),
    )
    .unwrap();
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&early, "netns-a", id_of(&blue))]
    );
    // A user logs in later; a file (not a directory) beside the users is no user.
    fs::write(users.join("not-a-user"), b"").unwrap();
    let late = users.join("1001/netns");
    fs::create_dir_all(&late).unwrap();
    mount_ns(&green, &late.join("netns-b"));
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&late, "netns-b", id_of(&green))]
    );
    assert_eq!(dir_paths(&watcher), vec![folder(&early), folder(&late)]);
    // The first user goes (its runtime folder removed whole): its namespaces go with it.
    umount(&early.join("netns-a"));
    fs::remove_dir_all(users.join("1000")).unwrap();
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![deleted(&early, "netns-a", id_of(&blue))]
    );
    assert_eq!(dir_paths(&watcher), vec![folder(&late)]);
}

#[test]
fn dockers_default_entry_is_the_callers_own_namespace() {
    require_root!();
    let dir = TempDir::new("docker");
    let entry = dir.join("default");
    fs::write(&entry, b"").unwrap();
    bind_netns(&entry); // as Docker does: the host's namespace, bind-mounted as `default`
    let (listed, _watcher) = Watcher::list_and_watch(WatcherOptions::new().dir(&dir.path)).unwrap();
    let own = NetnsRef::Current.identify().unwrap();
    assert_eq!(names_of(&listed), vec![nsmon::Name::from("default")]);
    assert_eq!(listed[0].id, Some(own));
}

#[test]
fn the_same_folder_under_several_spellings_is_watched_once() {
    require_root!();
    let ns = Netns::add("spell");
    let dir = TempDir::new("spell");
    let real = dir.join("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
    // Relative to the current directory, with dots, through a link, and as given.
    let depth = std::env::current_dir().unwrap().components().count() - 1;
    let relative = "../".repeat(depth) + real.strip_prefix("/").unwrap().to_str().unwrap();
    let mut watcher = Watcher::new(
        WatcherOptions::new()
            .dir(&real)
            .dir(dir.join("real/../real/."))
            .dir(dir.join("link"))
            .dir(&relative),
    )
    .unwrap();
    assert_eq!(dir_paths(&watcher), vec![folder(&real)]);
    mount_ns(&ns, &real.join("once"));
    assert_eq!(
        next_events(&mut watcher, 1),
        vec![created(&real, "once", id_of(&ns))]
    );
}

#[test]
fn the_runtimes_folders_are_each_watched_once_and_docker_s_is_followed() {
    require_root!();
    let watcher = Watcher::new(WatcherOptions::new().runtimes(true)).unwrap();
    let dirs = dir_paths(&watcher);
    assert!(
        dirs.contains(&folder(Path::new("/var/run/netns"))),
        "{dirs:?}"
    );
    assert!(
        dirs.contains(&folder(Path::new("/var/run/docker/netns"))),
        "{dirs:?}"
    );
    // Where /var/run links to /run (here), /run/netns is the default folder again.
    let same = fs::canonicalize("/var/run").unwrap() == Path::new("/run");
    assert_eq!(dirs.contains(&folder(Path::new("/run/netns"))), !same);
    let mut real: Vec<_> = dirs.iter().map(|d| resolve(d)).collect();
    let count = real.len();
    real.sort();
    real.dedup();
    assert_eq!(real.len(), count, "a folder watched twice: {dirs:?}");
}

/// What a path names now (links resolved as far as it exists).
fn resolve(path: &Path) -> std::path::PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while fs::canonicalize(&existing).is_err() {
        rest.push(existing.file_name().unwrap().to_os_string());
        existing.pop();
    }
    let mut out = fs::canonicalize(&existing).unwrap();
    out.extend(rest.iter().rev());
    out
}

#[test]
fn a_file_where_a_folder_should_be_is_unavailable_until_it_is_a_folder() {
    require_root!();
    let ns = Netns::add("file");
    let dir = TempDir::new("isfile");
    let path = dir.join("netns");
    fs::write(&path, b"not a folder").unwrap();
    let mut watcher =
        Watcher::new(WatcherOptions::new().dir(&path).directory_events(true)).unwrap();
    let events = next_events(&mut watcher, 1);
    match &events[..] {
        [WatchEvent::DirectoryUnavailable { dir, reason }] => {
            assert_eq!(**dir, *path);
            assert!(reason.contains("Not a directory"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    fs::remove_file(&path).unwrap();
    let staging = dir.join("staging");
    fs::create_dir(&staging).unwrap();
    mount_ns(&ns, &staging.join("late"));
    fs::rename(&staging, &path).unwrap();
    assert_eq!(
        next_events(&mut watcher, 2),
        vec![
            WatchEvent::DirectoryCreated { dir: folder(&path) },
            created(&path, "late", id_of(&ns)),
        ]
    );
}

#[test]
fn a_pattern_with_two_stars_is_refused() {
    let err = Watcher::new(WatcherOptions::new().dir("/nsmon-none/*/x/*")).unwrap_err();
    assert!(matches!(err, nsmon::Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("one `*`"), "{err}");
}
