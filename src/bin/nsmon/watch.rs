//! `nsmon watch`.

use std::io::Write;

use nsmon::{WatchEvent, Watcher, WatcherOptions};

use crate::args::WatchArgs;
use crate::json::Object;
use crate::os::{wait_readable, TermSignals};
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
    let dir = watcher.dir().display().to_string();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(Object::new("nsmon", "ready").line().as_bytes())?;
    stdout.flush()?;
    loop {
        while let Some(event) = watcher.next()? {
            stdout.write_all(to_json(&event, &dir).as_bytes())?;
            stdout.flush()?;
        }
        let [_, signalled] = wait_readable([watcher.fd(), signals.fd()])?;
        if signalled {
            return Ok(());
        }
    }
}

fn to_json(event: &WatchEvent, dir: &str) -> String {
    let object = match event {
        WatchEvent::Created { name } => Object::new("watcher", "created").field("name", name),
        WatchEvent::Deleted { name } => Object::new("watcher", "deleted").field("name", name),
        WatchEvent::DirectoryCreated => Object::new("watcher", "dir_created").field("dir", dir),
        WatchEvent::DirectoryDeleted => Object::new("watcher", "dir_deleted").field("dir", dir),
        WatchEvent::Overflow => Object::new("watcher", "overflow"),
        // WatchEvent is non-exhaustive: a newer library's event gets a generic line.
        other => Object::new("watcher", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}
