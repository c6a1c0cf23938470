//! Follows every named network namespace: the watcher says which exist, the stream reports what
//! changes inside them. Both handles are mio sources, so one mio `Poll` drives them.
//!
//! Run as root: `cargo run --example follow`, then `ip netns add demo` and
//! `ip -n demo link add br0 type bridge` elsewhere.

use mio::{Events, Interest, Poll, Token};
use nsmon::{
    NetnsRef, Stream, StreamEvent, StreamOptions, WatchEvent, Watcher, WatcherOptions,
    DEFAULT_NETNS_DIR,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut watcher = Watcher::new(WatcherOptions::new().list_existing(true))?;
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
                WatchEvent::Created { name } => {
                    // Names are bytes: opened by path, keyed by their text (lossy for a name
                    // that is not UTF-8; a program that must tell such names apart keys them
                    // its own way, as `nsmon events --follow` does).
                    let path = std::path::Path::new(DEFAULT_NETNS_DIR).join(name.as_os_str());
                    let key = name.to_string_lossy();
                    match stream.add(&key, NetnsRef::Path(&path), StreamOptions::new()) {
                        Ok(()) => println!("+ namespace {name}"),
                        Err(e) => eprintln!("follow: {name}: {e}"),
                    }
                }
                WatchEvent::Deleted { name } if stream.remove(&name.to_string_lossy()) => {
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
