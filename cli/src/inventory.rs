//! `nsmon ls` and `nsmon watch --all`: every network namespace of the host, from the inventory,
//! as a table, as JSON lines, or as the events of it changing.

use std::os::unix::ffi::OsStrExt;

use nsmon::{Inventory, InventoryEvent, InventoryOptions, Name, NetnsId, NetnsInfo};

use crate::json::Object;
use crate::output::Output;
use crate::print_loop::print_each;
use crate::Failure;

/// The command line of process `pid` (arguments joined by spaces), or its name in brackets
/// (a kernel thread), as bytes.
fn command_of(pid: u32) -> Option<Name> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    if args.is_empty() {
        let comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
        let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
        return Some(Name::from([b"[", comm, b"]"].concat().as_slice()));
    }
    Some(Name::from(args.join(&b' ').as_slice()))
}

/// The holder `ls` shows: the first process, else the first other thread, else an fd's, else
/// a socket's.
fn first_holder(ns: &NetnsInfo) -> Option<u32> {
    ns.pids
        .first()
        .or(ns.threads.first())
        .copied()
        .or(ns.fds.first().map(|(pid, _)| *pid))
        .or(ns.sockets.first().map(|(pid, _)| *pid))
}

fn names_of(ns: &NetnsInfo) -> Vec<Name> {
    ns.names
        .iter()
        .map(|p| Name::from(p.as_os_str().as_bytes()))
        .collect()
}

/// The identity fields every inventory line starts with.
fn identity(object: Object, id: &NetnsId) -> Object {
    object
        .maybe_unsigned("netns_id", id.id)
        .maybe_unsigned("inode", Some(id.ino))
}

/// One namespace's holders as JSON fields.
fn holders(object: Object, ns: &NetnsInfo) -> Object {
    let pairs = |list: &[(u32, u32)]| -> Vec<u64> {
        list.iter()
            .flat_map(|(pid, fd)| [u64::from(*pid), u64::from(*fd)])
            .collect()
    };
    let wide = |v: &[u32]| v.iter().map(|p| u64::from(*p)).collect::<Vec<u64>>();
    object
        .names("names", &names_of(ns))
        .numbers("pids", &wide(&ns.pids), 1)
        .numbers("threads", &wide(&ns.threads), 1)
        .numbers("fds", &pairs(&ns.fds), 2)
        .numbers("sockets", &pairs(&ns.sockets), 2)
}

/// `nsmon ls`: one scan, printed as a table or (`--json`) as JSON lines.
pub fn ls(json: bool, sockets: bool) -> Result<(), Failure> {
    // One scan: the proc connector would only tell of changes after it.
    let inventory = Inventory::new(InventoryOptions::new().proc_events(false).sockets(sockets))?;
    let mut text = String::new();
    if !json {
        text.push_str(&format!(
            "{:>10} {:>10} {:>5} {:>6} {:>7}  {:<30} NAMES\n",
            "NETNS_ID", "INODE", "NSID", "PROCS", "PID", "COMMAND"
        ));
    }
    for ns in inventory.namespaces() {
        let nsid = ns.nsid().ok().flatten();
        let pid = first_holder(&ns);
        let command = pid.and_then(command_of);
        if json {
            let o = identity(Object::plain(), &ns.id).maybe_number("nsid", nsid.map(i64::from));
            let o = holders(o, &ns)
                .number("processes", ns.pids.len() as i64)
                .maybe_number("pid", pid.map(i64::from));
            let o = match &command {
                Some(c) => o.name("command", c),
                None => o.maybe_number("command", None),
            };
            text.push_str(&o.line());
        } else {
            let dash = || "-".to_string();
            let names: Vec<String> = ns
                .names
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let command: String = command
                .map(|c| c.to_string_lossy().chars().take(30).collect())
                .unwrap_or_else(dash);
            text.push_str(&format!(
                "{:>10} {:>10} {:>5} {:>6} {:>7}  {:<30} {}\n",
                ns.id.id.map_or_else(dash, |i| i.to_string()),
                ns.id.ino,
                nsid.map_or_else(dash, |i| i.to_string()),
                ns.pids.len(),
                pid.map_or_else(dash, |p| p.to_string()),
                command,
                if names.is_empty() {
                    dash()
                } else {
                    names.join(",")
                },
            ));
        }
    }
    crate::print(&text)
}

/// `nsmon watch --all`.
pub fn watch_all() -> Result<(), Failure> {
    let out = Output::new()?;
    let inventory = Inventory::new(InventoryOptions::new())?;
    print_each(out, inventory, |inventory| {
        Ok(inventory.next()?.map(|event| to_json(&event)))
    })
}

/// The JSON line of an inventory event.
pub fn to_json(event: &InventoryEvent) -> String {
    let line = |event: &str| Object::new("inventory", event);
    let object = match event {
        InventoryEvent::Appeared { ns } => holders(identity(line("appeared"), &ns.id), ns),
        InventoryEvent::NameAdded { id, path } => {
            identity(line("name_added"), id).name("path", &Name::from(path.as_os_str().as_bytes()))
        }
        InventoryEvent::NameRemoved { id, path } => identity(line("name_removed"), id)
            .name("path", &Name::from(path.as_os_str().as_bytes())),
        InventoryEvent::Unheld { id } => identity(line("unheld"), id),
        InventoryEvent::Gone { id } => identity(line("gone"), id),
        InventoryEvent::Overrun => line("overrun"),
        InventoryEvent::Rescanned => line("rescanned"),
        InventoryEvent::Degraded { reason } => line("degraded").field("reason", reason),
        // InventoryEvent is non-exhaustive: a newer library's event gets a generic line.
        other => line("unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}
