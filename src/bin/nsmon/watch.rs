//! `nsmon watch`.

use nsmon::{WatchEvent, Watcher, WatcherOptions};

use crate::args::WatchArgs;
use crate::follow::follow;
use crate::json::Object;
use crate::os::TermSignals;
use crate::Failure;

pub fn run(args: WatchArgs) -> Result<(), Failure> {
    let signals = TermSignals::block().map_err(|e| Failure::Message(format!("signalfd: {e}")))?;
    let mut options = WatcherOptions::new()
        .list_existing(args.list)
        .any_file(args.any_file)
        .directory_events(args.dir_events);
    if let Some(dir) = args.dir {
        options = options.dir(dir);
    }
    let mut watcher = Watcher::new(options)?;
    let dir = nsmon::Name::from(watcher.dir().as_os_str());
    let fd = watcher.fd();
    follow(&signals, fd, || {
        Ok(watcher.next()?.map(|event| to_json(&event, &dir)))
    })
}

/// The JSON line of a watcher event about directory `dir`.
pub fn to_json(event: &WatchEvent, dir: &nsmon::Name) -> String {
    let object = match event {
        WatchEvent::Created { name } => Object::new("watcher", "created").name("name", name),
        WatchEvent::Deleted { name } => Object::new("watcher", "deleted").name("name", name),
        WatchEvent::DirectoryCreated => Object::new("watcher", "dir_created").name("dir", dir),
        WatchEvent::DirectoryDeleted => Object::new("watcher", "dir_deleted").name("dir", dir),
        WatchEvent::Overflow => Object::new("watcher", "overflow"),
        WatchEvent::DirectoryUnavailable { reason } => Object::new("watcher", "dir_unavailable")
            .name("dir", dir)
            .field("reason", reason),
        // WatchEvent is non-exhaustive: a newer library's event gets a generic line.
        other => Object::new("watcher", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}
