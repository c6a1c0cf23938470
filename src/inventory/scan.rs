//! Reading who holds which network namespace, from `/proc`: each task's `ns/net` link, each
//! process's nsfs fds, and the nsfs mounts of the caller's mount namespace. Links are read, not
//! opened: reading `net:[INODE]` holds nothing and costs one system call.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::model::Identified;
use crate::sys::procfs;

/// The inode in an nsfs link target of a network namespace (`net:[4026531840]`).
pub(crate) fn net_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The path of task `tid`'s namespace link in process `tgid`.
pub(crate) fn task_link(tgid: u32, tid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{tgid}/task/{tid}/ns/net"))
}

/// The path of fd `fd` of process `pid`.
pub(crate) fn fd_link(pid: u32, fd: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/fd/{fd}"))
}

/// Sockets and the namespace each lives in: (fd, namespace).
pub(crate) type SocketHolders = Vec<(u32, Identified)>;

/// Reads `/proc` for the inventory: through an open `/proc`, with buffers kept between calls,
/// so that a scan of the host costs a few cheap system calls a process (see `sys::procfs`).
pub(crate) struct Scanner {
    proc: OwnedFd,
    dents: Box<[u8]>,
    link: [u8; 64],
    path: Vec<u8>,
    numbers: Vec<u32>,
}

impl Scanner {
    pub(crate) fn new() -> std::io::Result<Scanner> {
        Ok(Scanner {
            proc: procfs::open_proc()?,
            dents: vec![0; 32 * 1024].into_boxed_slice(),
            link: [0; 64],
            path: Vec::with_capacity(64),
            numbers: Vec::new(),
        })
    }

    /// `path` (relative to `/proc`) as a C string in the kept buffer.
    fn path(&mut self, args: std::fmt::Arguments<'_>) -> &CStr {
        self.path.clear();
        // Infallible: writing to a Vec.
        let _ = std::io::Write::write_fmt(&mut self.path, args);
        self.path.push(0);
        CStr::from_bytes_with_nul(&self.path).expect("one NUL, at the end")
    }

    fn inode(&mut self, args: std::fmt::Arguments<'_>) -> Option<u64> {
        self.path(args);
        let path = CStr::from_bytes_with_nul(&self.path).ok()?;
        let target = procfs::read_link_at(self.proc.as_fd(), path, &mut self.link).ok()?;
        net_inode(target)
    }

    fn list(&mut self, args: std::fmt::Arguments<'_>) -> Vec<u32> {
        self.path(args);
        self.numbers.clear();
        let Ok(path) = CStr::from_bytes_with_nul(&self.path) else {
            return Vec::new();
        };
        let _ = procfs::numbers_at(self.proc.as_fd(), path, &mut self.dents, &mut self.numbers);
        std::mem::take(&mut self.numbers)
    }

    /// Every process.
    pub(crate) fn processes(&mut self) -> Vec<u32> {
        self.list(format_args!("."))
    }

    /// Task `tid` of process `tgid`'s namespace inode (none when it is gone).
    pub(crate) fn task_inode(&mut self, tgid: u32, tid: u32) -> Option<u64> {
        self.inode(format_args!("{tgid}/task/{tid}/ns/net"))
    }

    /// Every task of process `tgid` and its namespace's inode (none when the process is gone).
    /// A process with one thread (its task directory's link count is 3: `.`, `..` and the
    /// thread) costs two system calls; others, a listing and one link a thread.
    pub(crate) fn process_tasks(&mut self, tgid: u32) -> Vec<(u32, u64)> {
        self.path(format_args!("{tgid}/task"));
        let single = CStr::from_bytes_with_nul(&self.path)
            .ok()
            .and_then(|p| procfs::link_count_at(self.proc.as_fd(), p).ok())
            == Some(3);
        if single {
            if let Some(ino) = self.inode(format_args!("{tgid}/ns/net")) {
                return vec![(tgid, ino)];
            }
        }
        self.list(format_args!("{tgid}/task"))
            .into_iter()
            .filter_map(|tid| Some((tid, self.task_inode(tgid, tid)?)))
            .collect()
    }

    /// The network namespace fds of process `pid`: (fd, inode). Each link is read relative
    /// to the open fd directory, so that the kernel looks up one name, not the whole path.
    #[cfg(test)]
    pub(crate) fn process_fds(&mut self, pid: u32) -> Vec<(u32, u64)> {
        self.process_fds_and_sockets(pid, false).0
    }

    /// The namespace fds of process `pid`, and (with `sockets`) the namespace each of its
    /// sockets lives in: (fd, namespace as identified). A socket is copied into this process
    /// for an instant (`pidfd_getfd`) to ask it (`SIOCGSKNS`), as `lsns` does.
    pub(crate) fn process_fds_and_sockets(
        &mut self,
        pid: u32,
        sockets: bool,
    ) -> (Vec<(u32, u64)>, SocketHolders) {
        self.path(format_args!("{pid}/fd"));
        let Ok(path) = CStr::from_bytes_with_nul(&self.path) else {
            return (Vec::new(), Vec::new());
        };
        let Ok(Some(dir)) = procfs::open_dir_at(self.proc.as_fd(), path) else {
            return (Vec::new(), Vec::new());
        };
        self.numbers.clear();
        let _ = procfs::numbers_of(dir.as_fd(), &mut self.dents, &mut self.numbers);
        let mut found = Vec::new();
        let mut socket_fds = Vec::new();
        let mut name = itoa_buffer();
        for &fd in &self.numbers {
            let target = procfs::read_link_at(dir.as_fd(), decimal(fd, &mut name), &mut self.link);
            match target {
                Ok(t) if t.starts_with(b"socket:[") => socket_fds.push(fd),
                Ok(t) => {
                    if let Some(ino) = net_inode(t) {
                        found.push((fd, ino));
                    }
                }
                Err(_) => {}
            }
        }
        let mut held_by_sockets = Vec::new();
        if sockets && !socket_fds.is_empty() {
            if let Ok(pidfd) = procfs::pidfd_open(pid) {
                for fd in socket_fds {
                    let Ok(copy) = procfs::pidfd_getfd(pidfd.as_fd(), fd) else {
                        continue;
                    };
                    let Ok(ns) = crate::sys::netns::socket_namespace(copy.as_fd()) else {
                        continue;
                    };
                    if let Ok(id) = crate::NetnsId::of(ns.as_fd()) {
                        let handle = crate::sys::nsfs::handle(ns.as_fd()).ok();
                        held_by_sockets.push((fd, Identified { id, handle }));
                    }
                }
            }
        }
        (found, held_by_sockets)
    }
}

/// Room for a u32 in decimal and its NUL.
fn itoa_buffer() -> [u8; 11] {
    [0; 11]
}

/// `n` in decimal, NUL-terminated, in `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 11]) -> &CStr {
    let mut at = buf.len() - 1;
    buf[at] = 0;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    CStr::from_bytes_with_nul(&buf[at..]).expect("digits, then one NUL")
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
pub(crate) fn parse_mount_line(line: &[u8]) -> Option<(PathBuf, u64)> {
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
        // Three octal digits, the first at most 3: a byte (`\\400` and up would not be one).
        let octal = field.get(i + 1..i + 4).filter(|d| {
            field[i] == b'\\'
                && (b'0'..=b'3').contains(&d[0])
                && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
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
    use std::path::Path;

    fn link_inode(path: &Path) -> Option<u64> {
        let target = std::fs::read_link(path).ok()?;
        net_inode(target.as_os_str().as_bytes())
    }

    #[test]
    fn decimals_are_written_whole() {
        let mut buf = itoa_buffer();
        for n in [0, 7, 10, 4_294_967_295] {
            assert_eq!(decimal(n, &mut buf).to_str().unwrap(), n.to_string());
        }
    }

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
        let big = b"43 27 0:4 net:[1] /tmp/\\777 rw - nsfs nsfs rw";
        assert_eq!(
            parse_mount_line(big),
            Some((PathBuf::from("/tmp/\\777"), 1))
        );
        let other = b"43 27 0:4 mnt:[4026532177] /tmp/m rw - nsfs nsfs rw";
        assert_eq!(parse_mount_line(other), None);
        let proc_line = b"22 27 0:5 / /proc rw,nosuid - proc proc rw";
        assert_eq!(parse_mount_line(proc_line), None);
        assert_eq!(parse_mount_line(b"garbage"), None);
    }

    #[test]
    fn this_process_is_found_with_its_namespace_and_its_threads() {
        let me = std::process::id();
        let own = link_inode(Path::new("/proc/self/ns/net")).unwrap();
        let mut scanner = Scanner::new().unwrap();
        assert!(scanner.processes().contains(&me));
        // The test harness runs this on a thread of its own: several threads, all listed.
        let tasks = scanner.process_tasks(me);
        assert!(tasks.contains(&(me, own)), "{tasks:?}");
        assert!(tasks.len() > 1, "{tasks:?}");
        // A process of one thread: the short way.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(scanner.process_tasks(pid), vec![(pid, own)]);
        let _ = child.kill();
        let _ = child.wait();
        let file = std::fs::File::open("/proc/self/ns/net").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file) as u32;
        assert!(scanner.process_fds(me).contains(&(fd, own)));
    }
}
