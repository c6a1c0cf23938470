//! Reading who holds which network namespace, from `/proc`: each task's `ns/net` link, each
//! process's nsfs fds, and the nsfs mounts of the caller's mount namespace. Links are read, not
//! opened: reading `net:[INODE]` holds nothing and costs one system call.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The inode in an nsfs link target of a network namespace (`net:[4026531840]`).
pub(crate) fn net_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The network namespace inode a link (`/proc/.../ns/net`, an fd) points to now.
pub(crate) fn net_inode_of(path: &Path) -> Option<u64> {
    link_inode(path)
}

fn link_inode(path: &Path) -> Option<u64> {
    let target = std::fs::read_link(path).ok()?;
    net_inode(target.as_os_str().as_bytes())
}

/// The numeric entries of a `/proc` directory (pids, tids, fds).
fn numbers(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            std::str::from_utf8(e.file_name().as_bytes())
                .ok()?
                .parse()
                .ok()
        })
        .collect()
}

/// The path of task `tid`'s namespace link in process `tgid`.
pub(crate) fn task_link(tgid: u32, tid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{tgid}/task/{tid}/ns/net"))
}

/// The path of fd `fd` of process `pid`.
pub(crate) fn fd_link(pid: u32, fd: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/fd/{fd}"))
}

/// Every task of process `tgid` and its namespace's inode (none when the process is gone).
pub(crate) fn process_tasks(tgid: u32) -> Vec<(u32, u64)> {
    numbers(Path::new(&format!("/proc/{tgid}/task")))
        .into_iter()
        .filter_map(|tid| Some((tid, link_inode(&task_link(tgid, tid))?)))
        .collect()
}

/// The network namespace fds of process `pid`: (fd, inode).
pub(crate) fn process_fds(pid: u32) -> Vec<(u32, u64)> {
    numbers(Path::new(&format!("/proc/{pid}/fd")))
        .into_iter()
        .filter_map(|fd| Some((fd, link_inode(&fd_link(pid, fd))?)))
        .collect()
}

/// Every process.
pub(crate) fn processes() -> Vec<u32> {
    numbers(Path::new("/proc"))
}

/// The network namespaces mounted in the caller's mount namespace: mount point -> inode, from
/// `/proc/self/mountinfo` (fstype `nsfs`, root `net:[INODE]`). A point mounted over more than
/// once names the last (visible) mount.
pub(crate) fn mounts() -> HashMap<PathBuf, u64> {
    let Ok(text) = std::fs::read("/proc/self/mountinfo") else {
        return HashMap::new();
    };
    text.split(|b| *b == b'\n')
        .filter_map(parse_mount_line)
        .collect()
}

/// One mountinfo line: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER`.
fn parse_mount_line(line: &[u8]) -> Option<(PathBuf, u64)> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let dash = fields.iter().position(|f| *f == b"-")?;
    if fields.get(dash + 1) != Some(&&b"nsfs"[..]) {
        return None;
    }
    let ino = net_inode(fields.get(3)?)?;
    Some((
        PathBuf::from(OsStr::from_bytes(&unescape(fields.get(4)?))),
        ino,
    ))
}

/// Undoes mountinfo's escapes: space, tab, newline and backslash as `\NNN` octal.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfs_links_give_their_inode_and_nothing_else_does() {
        assert_eq!(net_inode(b"net:[4026531840]"), Some(4026531840));
        for bad in [
            &b"uts:[4026531838]"[..],
            b"net:[]",
            b"net:[12",
            b"socket:[99]",
            b"/dev/null",
        ] {
            assert_eq!(net_inode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mountinfo_lines_of_nsfs_mounts_are_read_with_their_escapes() {
        let line = b"43 27 0:4 net:[4026532177] /tmp/a\\040b\\134c rw shared:5 - nsfs nsfs rw";
        assert_eq!(
            parse_mount_line(line),
            Some((PathBuf::from("/tmp/a b\\c"), 4026532177))
        );
        let other = b"43 27 0:4 mnt:[4026532177] /tmp/m rw - nsfs nsfs rw";
        assert_eq!(parse_mount_line(other), None);
        let proc_line = b"22 27 0:5 / /proc rw,nosuid - proc proc rw";
        assert_eq!(parse_mount_line(proc_line), None);
        assert_eq!(parse_mount_line(b"garbage"), None);
    }

    #[test]
    fn this_process_is_found_with_its_namespace() {
        let me = std::process::id();
        let own = link_inode(Path::new("/proc/self/ns/net")).unwrap();
        assert!(processes().contains(&me));
        assert!(process_tasks(me).contains(&(me, own)));
    }
}
