//! `nsmon watch`: named namespaces appearing and disappearing in folders, from the watcher,
//! and the JSON line of each watcher event (`nsmon events --follow` prints some too).

use std::path::Path;

use nsmon::{Name, NetnsId, WatchEvent, Watcher, WatcherOptions};

use crate::args::WatchArgs;
use crate::json::Object;
use crate::output::Output;
use crate::print_loop::print_each;
use crate::Failure;

/// `nsmon watch` (`--all` is the inventory's: see inventory.rs).
pub fn run(args: WatchArgs) -> Result<(), Failure> {
    let out = Output::new()?;
    let options = args.dirs.iter().fold(
        WatcherOptions::new()
            .runtimes(args.runtimes)
            .list_existing(args.list)
            .any_file(args.any_file)
            .directory_events(args.dir_events),
        |options, dir| options.dir(dir),
    );
    let watcher = Watcher::new(options)?;
    print_each(out, watcher, |watcher| {
        Ok(watcher.next()?.map(|event| to_json(&event)))
    })
}

/// The start of a line about folder `dir`.
fn about(event: &str, dir: &Path) -> Object {
    Object::new("watcher", event).name("dir", &Name::from(dir.as_os_str()))
}

/// A namespace's identity fields: `netns_id` (null on kernels without `NS_GET_ID`) and
/// `inode`; none without an identity (`--any-file`).
fn identity(object: Object, id: Option<&NetnsId>) -> Object {
    match id {
        Some(id) => object
            .maybe_unsigned("netns_id", id.id)
            .maybe_unsigned("inode", Some(id.ino)),
        None => object,
    }
}

/// The JSON line of a watcher event.
pub fn to_json(event: &WatchEvent) -> String {
    let object = match event {
        WatchEvent::Created { dir, name, id } => {
            identity(about("created", dir).name("name", name), id.as_ref())
        }
        WatchEvent::Deleted { dir, name, id } => {
            identity(about("deleted", dir).name("name", name), id.as_ref())
        }
        WatchEvent::DirectoryCreated { dir } => about("dir_created", dir),
        WatchEvent::DirectoryDeleted { dir } => about("dir_deleted", dir),
        WatchEvent::Overflow => Object::new("watcher", "overflow"),
        WatchEvent::DirectoryUnavailable { dir, reason } => {
            about("dir_unavailable", dir).field("reason", reason)
        }
        // WatchEvent is non-exhaustive: a newer library's event gets a generic line.
        other => Object::new("watcher", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}
