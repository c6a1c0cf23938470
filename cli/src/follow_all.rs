//! `nsmon events --follow --all`: every network namespace of the host followed, from the
//! inventory; each added as it appears, its socket released as soon as nothing else visible
//! holds it (so that following never keeps a namespace alive).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

use nsmon::{
    Inventory, InventoryEvent, InventoryOptions, Name, NetnsId, NetnsRef, Stream, StreamOptions,
};

use crate::json::Object;
use crate::output::Output;
use crate::Failure;

pub struct AllFollower {
    pub inventory: Inventory,
    /// Followed keys and the names of their namespaces.
    names: HashMap<String, Vec<Name>>,
}

/// The stream key of a namespace followed with `--all`: `netns:ID` (its `NS_GET_ID` id), or
/// `inode:INODE` on kernels without one.
pub fn key_of(id: &NetnsId) -> String {
    match id.id {
        Some(n) => format!("netns:{n}"),
        None => format!("inode:{}", id.ino),
    }
}

impl AllFollower {
    pub fn new() -> Result<Self, Failure> {
        Ok(AllFollower {
            inventory: Inventory::new(InventoryOptions::new())?,
            names: HashMap::new(),
        })
    }

    /// The names of the namespace behind `key`, if it is one this follower added.
    pub fn names(&self, key: &str) -> Option<&[Name]> {
        self.names.get(key).map(Vec::as_slice)
    }

    /// The stream dropped `key` (its socket failed).
    pub fn forget(&mut self, key: &str) {
        self.names.remove(key);
    }

    /// Applies what the inventory reports.
    pub fn drain(
        &mut self,
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut Output<'_>,
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
