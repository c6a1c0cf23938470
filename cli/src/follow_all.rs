//! `nsmon events --follow --all`: every network namespace of the host followed, from the
//! inventory; each added as it appears, its socket released as soon as nothing else visible
//! holds it (so that following never keeps a namespace alive).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

use nsmon::{
    Inventory, InventoryEvent, InventoryOptions, Name, NetnsId, NetnsRef, Stream, StreamEvent,
    StreamOptions,
};

use crate::json::Object;
use crate::output::Output;
use crate::stream_json::to_json;
use crate::Failure;

/// The loop of `nsmon events --follow --all`: the inventory beside the stream.
pub fn run(mut out: Output, mut stream: Stream, options: StreamOptions) -> Result<(), Failure> {
    let mut follower = AllFollower::new()?;
    out.add(&mut stream)?;
    out.add(&mut follower.inventory)?;
    follower.drain(&mut stream, options, &mut out)?;
    out.ready()?;
    loop {
        follower.drain(&mut stream, options, &mut out)?;
        while let Some(event) = stream.next()? {
            let key = event_key(&event);
            let mut line = to_json(&event);
            if let Some(key) = key {
                if let (Some(names), Some(id)) = (follower.names(key), id_of_key(key)) {
                    line = with_identity(line, id, names);
                }
                if matches!(event, StreamEvent::Error { .. }) {
                    follower.forget(key);
                }
            }
            out.line(&line)?;
        }
        out.wait()?;
    }
}

/// The key a stream event is about.
fn event_key(event: &StreamEvent) -> Option<&str> {
    match event {
        StreamEvent::Message { key, .. }
        | StreamEvent::Unparsed { key, .. }
        | StreamEvent::Synced { key }
        | StreamEvent::SyncFailed { key, .. }
        | StreamEvent::Overrun { key, .. }
        | StreamEvent::Error { key, .. } => Some(key),
        _ => None,
    }
}

/// The `NS_GET_ID` id in a `--follow --all` key (`netns:ID`).
fn id_of_key(key: &str) -> Option<u64> {
    key.strip_prefix("netns:")?.parse().ok()
}

/// A stream line of a namespace followed with `--all`, with its id and names after `ns`.
fn with_identity(line: String, id: u64, names: &[Name]) -> String {
    let extra = Object::plain()
        .maybe_unsigned("netns_id", Some(id))
        .names("names", names)
        .line();
    // `{...}\n` + `{extra}\n`: the extra fields spliced in before the closing brace.
    let inner = &extra[1..extra.len() - 2];
    format!("{},{inner}}}\n", &line[..line.len() - 2])
}

/// The inventory, and the names of the namespaces following added to the stream.
struct AllFollower {
    inventory: Inventory,
    /// Followed keys and the names of their namespaces.
    names: HashMap<String, Vec<Name>>,
}

/// The stream key of a namespace followed with `--all`: `netns:ID` (its `NS_GET_ID` id), or
/// `inode:INODE` on kernels without one.
fn key_of(id: &NetnsId) -> String {
    match id.id {
        Some(n) => format!("netns:{n}"),
        None => format!("inode:{}", id.ino),
    }
}

impl AllFollower {
    fn new() -> Result<Self, Failure> {
        Ok(AllFollower {
            inventory: Inventory::new(InventoryOptions::new())?,
            names: HashMap::new(),
        })
    }

    /// The names of the namespace behind `key`, if it is one this follower added.
    fn names(&self, key: &str) -> Option<&[Name]> {
        self.names.get(key).map(Vec::as_slice)
    }

    /// The stream dropped `key` (its socket failed).
    fn forget(&mut self, key: &str) {
        self.names.remove(key);
    }

    /// Applies what the inventory reports.
    fn drain(
        &mut self,
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut Output,
    ) -> Result<(), Failure> {
        while let Some(event) = self.inventory.next()? {
            match event {
                InventoryEvent::Appeared { ns } => {
                    let key = key_of(&ns.id);
                    if stream.contains(&key) {
                        continue;
                    }
                    // Opened for the add only: the stream's socket is what holds it then.
                    match ns.with_fd(|fd| stream.add(&key, NetnsRef::Fd(fd), options)) {
                        Ok(()) => {
                            let names = ns
                                .names
                                .iter()
                                .map(|p| Name::from(p.as_os_str().as_bytes()))
                                .collect();
                            self.names.insert(key, names);
                        }
                        Err(e) => {
                            let line = Object::new("stream", "error")
                                .field("ns", &key)
                                .field("error", &e.to_string())
                                .line();
                            out.line(&line)?;
                        }
                    }
                }
                InventoryEvent::NameAdded { id, path } => {
                    if let Some(names) = self.names.get_mut(&key_of(&id)) {
                        names.push(Name::from(path.as_os_str().as_bytes()));
                    }
                }
                InventoryEvent::NameRemoved { id, path } => {
                    if let Some(names) = self.names.get_mut(&key_of(&id)) {
                        names.retain(|n| n.as_bytes() != path.as_os_str().as_bytes());
                    }
                }
                // Nothing but our socket may hold it now: let go, so that it can go.
                InventoryEvent::Unheld { id } | InventoryEvent::Gone { id } => {
                    let key = key_of(&id);
                    if self.names.remove(&key).is_some() {
                        stream.remove(&key);
                    }
                }
                InventoryEvent::Degraded { reason } => {
                    out.line(
                        &Object::new("inventory", "degraded")
                            .field("reason", &reason)
                            .line(),
                    )?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
