//! Reading `/proc` with as few and as cheap system calls as the inventory can: paths looked up
//! from an open `/proc` (not from `/` each time), links read into a caller's buffer,
//! directories listed with one `getdents64` buffer (no `fstat`, no allocation per entry).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::bytes::u16_at;

/// Opens `/proc` as a directory to look paths up from.
pub(crate) fn open_proc() -> io::Result<OwnedFd> {
    let fd = syscall!(open(
        c"/proc".as_ptr(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC
    ))?;
    // SAFETY: `fd` was just returned by open() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the link `path` (relative to `dir`), into `buf`; its bytes.
pub(crate) fn read_link_at<'b>(
    dir: BorrowedFd<'_>,
    path: &CStr,
    buf: &'b mut [u8],
) -> io::Result<&'b [u8]> {
    // SAFETY: `path` is NUL-terminated; `buf` is writable for its length.
    let n = syscall!(readlinkat(
        dir.as_raw_fd(),
        path.as_ptr(),
        buf.as_mut_ptr().cast(),
        buf.len()
    ))?;
    Ok(&buf[..n as usize])
}

/// The link count of `path` (relative to `dir`): for `/proc/PID/task`, 2 plus its threads.
pub(crate) fn link_count_at(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<u64> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated; `st` is writable.
    syscall!(fstatat(dir.as_raw_fd(), path.as_ptr(), &mut st, 0))?;
    #[allow(clippy::unnecessary_cast)] // nlink_t differs between libc targets
    Ok(st.st_nlink as u64)
}

/// Opens directory `path` (relative to `dir`); `None` when it is gone (a process that
/// exited).
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<Option<OwnedFd>> {
    // SAFETY: `path` is NUL-terminated.
    match syscall!(openat(
        dir.as_raw_fd(),
        path.as_ptr(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC
    )) {
        // SAFETY: `fd` was just returned by openat() and is owned by nobody else.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Appends the numeric entries of directory `path` (relative to `dir`) to `out`, listed with
/// `getdents64` through `buf`. A directory that is gone lists as empty.
pub(crate) fn numbers_at(
    dir: BorrowedFd<'_>,
    path: &CStr,
    buf: &mut [u8],
    out: &mut Vec<u32>,
) -> io::Result<()> {
    match open_dir_at(dir, path)? {
        Some(fd) => numbers_of(fd.as_fd(), buf, out),
        None => Ok(()),
    }
}

/// Appends the numeric entries of the open directory `fd` to `out` (see [`numbers_at`]).
pub(crate) fn numbers_of(fd: BorrowedFd<'_>, buf: &mut [u8], out: &mut Vec<u32>) -> io::Result<()> {
    loop {
        // SAFETY: `buf` is writable for its length; the kernel writes whole records into it.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            // A process that exited while its directory was open: nothing more to list.
            return match e.raw_os_error() {
                Some(libc::ENOENT | libc::ESRCH) => Ok(()),
                _ => Err(e),
            };
        }
        if n == 0 {
            return Ok(());
        }
        // Read until the kernel says the end (0): a short read proves nothing, since the
        // kernel stops filling the buffer early when a signal is pending on this thread.
        parse_dirents(&buf[..n as usize], out);
    }
}

/// A pidfd of process `pid` (`pidfd_open`, Linux 5.3+).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new fd owned by nobody else.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// A copy, in this process, of fd `fd` of the process behind `pidfd` (`pidfd_getfd`, Linux
/// 5.6+; needs the right to ptrace it). Close it soon: it holds what the original holds.
pub(crate) fn pidfd_getfd(pidfd: BorrowedFd<'_>, fd: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes a pidfd, a target fd number and flags (0), and returns a new fd
    // owned by nobody else (close-on-exec, as the kernel always sets it).
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` was just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as libc::c_int) })
}

/// The numeric names in `getdents64` records (`struct linux_dirent64`: inode u64, offset i64,
/// record length u16, type u8, then the NUL-terminated name).
fn parse_dirents(mut records: &[u8], out: &mut Vec<u32>) {
    const RECLEN_AT: usize = 16;
    const NAME_AT: usize = 19;
    while records.len() >= NAME_AT {
        let len = u16_at(records, RECLEN_AT).map_or(0, usize::from);
        if len < NAME_AT || len > records.len() {
            return; // not what the kernel writes: stop rather than misread
        }
        let name = &records[NAME_AT..len];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        if let Some(n) = std::str::from_utf8(name).ok().and_then(|s| s.parse().ok()) {
            out.push(n);
        }
        records = &records[len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_listed_and_read_as_std_reads_it() {
        let proc = open_proc().unwrap();
        let mut buf = vec![0; 32 * 1024];
        let mut pids = Vec::new();
        numbers_at(proc.as_fd(), c".", &mut buf, &mut pids).unwrap();
        assert!(pids.contains(&std::process::id()));
        let mut link = [0u8; 64];
        let target = read_link_at(proc.as_fd(), c"self/ns/net", &mut link).unwrap();
        let std = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert_eq!(target, std.as_os_str().as_encoded_bytes());
        assert!(link_count_at(proc.as_fd(), c"self/task").unwrap() >= 3);
        let mut none = Vec::new();
        numbers_at(proc.as_fd(), c"nsmon-none", &mut buf, &mut none).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn dirent_records_that_do_not_add_up_stop_the_listing() {
        let mut out = Vec::new();
        let mut record = vec![0u8; 24];
        record[16] = 24; // record length
        record[19..22].copy_from_slice(b"42\0");
        parse_dirents(&record, &mut out);
        assert_eq!(out, vec![42]);
        record[16] = 200; // longer than the buffer
        parse_dirents(&record, &mut out);
        assert_eq!(out, vec![42]);
    }
}
