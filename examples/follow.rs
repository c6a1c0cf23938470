//! Follows every named network namespace: the watcher says which exist, the stream reports what
//! changes inside them. Both handles are mio sources, so one mio `Poll` drives them.
//!
//! Run as root: `cargo run --example follow`, then `ip netns add demo` and
//! `ip -n demo link add br0 type bridge` elsewhere.

use mio::{Events, Interest, Poll, Token};
use nsmon::{NetnsRef, Stream, StreamEvent, StreamOptions, WatchEvent, Watcher, WatcherOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut watcher = Watcher::new(WatcherOptions::new().runtimes(true).list_existing(true))?;
    let mut stream = Stream::new()?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut watcher, Token(0), Interest::READABLE)?;
    poll.registry()
        .register(&mut stream, Token(1), Interest::READABLE)?;
    let mut events = Events::with_capacity(4);
    loop {
        while let Some(event) = watcher.next()? {
            match event {
                WatchEvent::Created { dir, name, .. } => {
                    // Names are bytes: opened by path, keyed by their path's text (lossy for
                    // one that is not UTF-8; a program that must tell such paths apart keys
                    // them its own way, as `nsmon events --follow` does).
                    let path = dir.join(name.as_os_str());
                    let key = path.to_string_lossy();
                    match stream.add(&key, NetnsRef::Path(&path), StreamOptions::new()) {
                        Ok(()) => println!("+ namespace {name}"),
                        Err(e) => eprintln!("follow: {name}: {e}"),
                    }
                }
                WatchEvent::Deleted { dir, name, .. }
                    if stream.remove(&dir.join(name.as_os_str()).to_string_lossy()) =>
                {
                    println!("- namespace {name}")
                }
                _ => {}
            }
        }
        while let Some(event) = stream.next()? {
            match event {
                StreamEvent::Message { key, message, .. } => println!("[{key}] {message:?}"),
                other => println!("{other:?}"),
            }
        }
        // mio registers edge-triggered; draining both handles above re-arms them.
        poll.poll(&mut events, None)?;
    }
}
