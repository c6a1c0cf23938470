//! Namespace-id queries: what id does namespace T have, as seen from namespace O; assign one;
//! which named namespaces does an id denote.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::netlink::consts::*;
use crate::netlink::message::push_attr;
use crate::netlink::nsid_message::{get_with, parse_nsid, rtgenmsg};
use crate::netlink::socket::{Purpose, Socket};
use crate::netns::NetnsRef;

/// How to assign an id (what `ip netns set NAME auto|N` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsidRequest {
    /// Let the kernel choose the lowest free id. If the namespace already has one, that is kept.
    Auto,
    /// This id. If the namespace already has it, that is fine; another id, or an id that denotes
    /// another namespace, is an error (`EEXIST`).
    Fixed(u32),
}

/// Opens a query socket in `observer`'s namespace (ids are relative to their observer).
pub(crate) fn query_socket(observer: NetnsRef<'_>) -> Result<Socket> {
    observer.open_socket(Purpose::Requests)
}

/// The id of `target` as seen from the caller's namespace: `Some(id)`, or `None` when no id is
/// assigned (an answer, not an error). An id is assigned only on request (`assign_nsid`, `ip netns
/// set`) or when the kernel needs one (e.g. a veth peer in another namespace).
pub fn nsid(target: NetnsRef<'_>) -> Result<Option<u32>> {
    nsid_in(NetnsRef::Current, target)
}

/// The id of `target` as seen from `observer`'s namespace (`None`: not assigned). The observer's
/// namespace is entered by a short-lived helper thread, never by the calling thread.
pub fn nsid_in(observer: NetnsRef<'_>, target: NetnsRef<'_>) -> Result<Option<u32>> {
    let target_fd = target.open()?;
    let mut socket = query_socket(observer)?;
    get_with(
        &mut socket,
        target_fd.as_fd().as_raw_fd(),
        &target.describe(),
    )
}

/// Assigns an id to `target` in the caller's namespace and returns the id it has afterwards.
pub fn assign_nsid(target: NetnsRef<'_>, request: NsidRequest) -> Result<u32> {
    assign_nsid_in(NetnsRef::Current, target, request)
}

/// Assigns an id to `target` as seen from `observer` and returns the id it has afterwards.
/// Namespace-id events (`NewNsid`) fire on assignment, in the observer's namespace.
pub fn assign_nsid_in(
    observer: NetnsRef<'_>,
    target: NetnsRef<'_>,
    request: NsidRequest,
) -> Result<u32> {
    let target_fd = target.open()?;
    let raw = target_fd.as_fd().as_raw_fd();
    let what = target.describe();
    let mut socket = query_socket(observer)?;
    let wanted = match request {
        NsidRequest::Auto => NETNSA_NSID_NOT_ASSIGNED,
        NsidRequest::Fixed(id) => i32::try_from(id)
            .map_err(|_| Error::InvalidArgument(format!("nsid {id} is over 2147483647")))?,
    };
    let result = socket.request(
        &format!("RTM_NEWNSID {what}"),
        RTM_NEWNSID,
        0,
        |out| {
            rtgenmsg(out);
            push_attr(out, NETNSA_FD, &(raw as u32).to_ne_bytes());
            push_attr(out, NETNSA_NSID, &wanted.to_ne_bytes());
        },
        |_| Ok(()),
    );
    let current = get_with(&mut socket, raw, &what)?;
    match (result, current, request) {
        (Ok(()), Some(id), _) => Ok(id),
        // Already had an id: fine for Auto, and for Fixed when it is the one asked for.
        (Err(e), Some(id), NsidRequest::Auto) if e.errno() == libc::EEXIST => Ok(id),
        (Err(e), Some(id), NsidRequest::Fixed(want)) if e.errno() == libc::EEXIST && id == want => {
            Ok(id)
        }
        (Err(e), _, _) => Err(e),
        (Ok(()), None, _) => Err(Error::Protocol(format!(
            "RTM_NEWNSID {what} was acknowledged but no id is assigned"
        ))),
    }
}

/// Every id assigned as seen from `observer`, sorted (what `ip netns list-id` lists), from one
/// `RTM_GETNSID` dump.
pub fn nsids_in(observer: NetnsRef<'_>) -> Result<Vec<u32>> {
    let mut socket = query_socket(observer)?;
    let mut ids = Vec::new();
    socket.request(
        "RTM_GETNSID dump",
        RTM_GETNSID,
        NLM_F_DUMP,
        rtgenmsg,
        |reply| {
            if reply.kind == RTM_NEWNSID {
                let parsed = parse_nsid(reply.payload).map_err(|m| Error::Protocol(m.0))?;
                if let Some(id) = parsed.nsid.and_then(|id| u32::try_from(id).ok()) {
                    ids.push(id);
                }
            }
            Ok(())
        },
    )?;
    ids.sort_unstable();
    Ok(ids)
}

/// The names under `dir` (by default `/var/run/netns`) of the namespaces that have `nsid` as
/// seen from `observer`. Usually one; several if one namespace is mounted under several names.
///
/// Cost: one RTM_GETNSID round trip per named namespace (tens of microseconds each), over one
/// socket; the kernel offers no reverse lookup.
pub fn names_of_nsid(observer: NetnsRef<'_>, nsid: u32, dir: Option<&Path>) -> Result<Vec<String>> {
    let dir = dir.unwrap_or(Path::new(crate::DEFAULT_NETNS_DIR));
    let mut socket = query_socket(observer)?;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::os(format!("read_dir {}", dir.display()), e)),
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = dir.join(&name);
        // Entries that are not (yet, or no longer) network namespaces are skipped.
        let Ok(fd) = NetnsRef::Path(&path).open() else {
            continue;
        };
        if get_with(&mut socket, fd.as_fd().as_raw_fd(), &name)? == Some(nsid) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
