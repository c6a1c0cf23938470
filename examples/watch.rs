//! Prints named network namespaces as they appear and disappear, in every runtime's folder.
//!
//! Run as root: `cargo run --example watch [DIR]...` (no DIR: the runtimes' folders), then
//! `ip netns add demo` elsewhere.

use nsmon::{WatchEvent, Watcher, WatcherOptions};

fn main() -> Result<(), nsmon::Error> {
    let dirs: Vec<_> = std::env::args_os().skip(1).collect();
    let options = dirs.iter().fold(
        WatcherOptions::new()
            .runtimes(dirs.is_empty())
            .list_existing(true),
        |options, dir| options.dir(dir),
    );
    let mut watcher = Watcher::new(options)?;
    for dir in watcher.dirs() {
        println!("watching {}", dir.path.display());
    }
    loop {
        watcher.wait(None)?;
        watcher.dispatch(|event| {
            match event {
                WatchEvent::Created { dir, name, id } => {
                    println!("+ {name} in {} ({id:?})", dir.display())
                }
                WatchEvent::Deleted { dir, name, .. } => println!("- {name} in {}", dir.display()),
                other => println!("  {other:?}"),
            }
            true
        })?;
    }
}
