//! Prints named network namespaces as they appear and disappear.
//!
//! Run as root: `cargo run --example watch [DIR]`, then `ip netns add demo` elsewhere.

use nsmon::{WatchEvent, Watcher, WatcherOptions};

fn main() -> Result<(), nsmon::Error> {
    let mut options = WatcherOptions::new().list_existing(true);
    if let Some(dir) = std::env::args_os().nth(1) {
        options = options.dir(dir);
    }
    let mut watcher = Watcher::new(options)?;
    println!("watching {}", watcher.dir().display());
    loop {
        watcher.wait(None)?;
        watcher.dispatch(|event| {
            match event {
                WatchEvent::Created { name } => println!("+ {name}"),
                WatchEvent::Deleted { name } => println!("- {name}"),
                other => println!("  {other:?}"),
            }
            true
        })?;
    }
}
