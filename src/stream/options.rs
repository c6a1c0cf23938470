//! How to subscribe in one namespace.

use super::Groups;

/// How to subscribe in one namespace.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    pub(super) groups: Groups,
    pub(super) dump: bool,
    pub(super) resync_on_overrun: bool,
    pub(super) receive_buffer: usize,
}

/// The receive buffer each namespace's socket asks for unless told otherwise. The kernel's
/// default (about 208 KiB) lost events in the benchmark's fleet (100 namespaces churning routes
/// while the consumer shares 2 cores with the churn); 1 MiB lost none. It is kernel memory
/// charged only while messages wait in it, so an idle namespace costs nothing for it.
pub const DEFAULT_RECEIVE_BUFFER: usize = 1024 * 1024;

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            groups: Groups::ALL,
            dump: false,
            resync_on_overrun: false,
            receive_buffer: DEFAULT_RECEIVE_BUFFER,
        }
    }
}

impl StreamOptions {
    /// All groups, no dump, no resync, a [`DEFAULT_RECEIVE_BUFFER`] receive buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which kinds of objects to follow (default [`Groups::ALL`]).
    pub fn groups(mut self, groups: Groups) -> Self {
        self.groups = groups;
        self
    }

    /// Dump the namespace's current objects after subscribing, then report `Synced`.
    pub fn dump(mut self, on: bool) -> Self {
        self.dump = on;
        self
    }

    /// After an `Overrun`, dump again and report `Synced`, so the caller can rebuild its state.
    pub fn resync_on_overrun(mut self, on: bool) -> Self {
        self.resync_on_overrun = on;
        self
    }

    /// The socket's receive buffer in bytes (default [`DEFAULT_RECEIVE_BUFFER`]):
    /// `SO_RCVBUFFORCE` when permitted (`CAP_NET_ADMIN`), else `SO_RCVBUF`, which the kernel
    /// caps at `net.core.rmem_max`. 0 leaves the kernel's default.
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.receive_buffer = bytes;
        self
    }
}
