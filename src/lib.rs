//! nsmon watches Linux network namespaces and tells a program, as it happens, what changes.
//!
//! Every component is a handle with one pollable fd, to be put in the caller's own event loop
//! (epoll, poll, mio, an async runtime's fd wrapper) and consumed either poll-driven (`fd` plus a
//! non-blocking `next`) or with callbacks (`dispatch`). No runtime, no background thread.
//!
//! - [`Watcher`]: named namespaces appearing and disappearing in `/var/run/netns`, or in any
//!   number of folders (the container runtimes' with [`WatcherOptions::runtimes`]), each with
//!   its namespace's never-reused identity ([`NetnsId`]).
//! - [`NsidSubscriber`]: namespace ids assigned and released; [`nsid::nsid`] and friends query
//!   and assign them.
//! - [`Inventory`]: every network namespace of the host, named or not (held by processes,
//!   threads, mounts anywhere, fds), as they appear and go.
//! - [`Stream`]: typed rtnetlink events (links, addresses, routes, neighbours, tc) from any
//!   number of namespaces, each tagged with the caller's key.
//!
//! Nothing inside a namespace can blind nsmon: a message the typed parser cannot read is
//! delivered as its own event with its bytes and the reason, names are bytes ([`Name`]), dumps
//! end in `Synced` only when complete and consistent, and an overrun says how many events were
//! lost.
//!
//! The same API is exported to C as `libnsmon` (see `include/nsmon.h`).
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod bytes;
mod error;
mod ffi;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
pub mod inventory;
mod name;
mod netlink;
mod netns;
pub mod nsid;
pub mod rtnl;
pub mod stream;
mod sys;
pub mod watcher;

pub use error::{Error, Result};
pub use inventory::{Inventory, InventoryEvent, InventoryOptions, NetnsInfo};
pub use name::{validate_name, Name, NAME_MAX};
pub use netns::{NetnsId, NetnsRef, DEFAULT_NETNS_DIR};
pub use nsid::{NsidEvent, NsidOptions, NsidRequest, NsidSubscriber};
pub use stream::{
    EventBatch, Groups, MessageRef, Stream, StreamEvent, StreamEventRef, StreamOptions,
    DEFAULT_RECEIVE_BUFFER,
};
pub use watcher::{
    RuntimeFolder, WatchEvent, WatchedDir, WatchedNetns, Watcher, WatcherOptions, RUNTIME_FOLDERS,
};

/// The library's version, `MAJOR.MINOR.PATCH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
