//! Namespace file descriptors: their type, and running code inside another network namespace
//! without touching the calling thread.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `NS_GET_NSTYPE` (linux/nsfs.h): the `CLONE_NEW*` type of a namespace fd (Linux 4.11+).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The namespace type of an nsfs fd (`CLONE_NEWNET` for a network namespace).
pub(crate) fn ns_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    syscall!(ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _))
}

/// The helper thread's stack: it makes a few system calls. The 2 MiB default costs page faults
/// and zeroing on every spawn.
const HELPER_STACK: usize = 64 * 1024;

/// Runs `f` on a short-lived helper thread that has entered the network namespace `ns`, and
/// returns its result. The calling thread's namespace never changes (Go and daemon callers
/// share their threads); the helper ends before this returns, so no thread outlives the call.
/// Sockets created by `f` stay in `ns` for their whole life.
pub(crate) fn in_namespace<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl Fn() -> io::Result<T> + Sync,
) -> io::Result<T> {
    in_each_namespace(&[ns], f)?
        .pop()
        .unwrap_or_else(|| Err(io::Error::other("namespace helper returned nothing")))
}

/// Runs `f` once inside each of `namespaces`, in order, on one short-lived helper thread, and
/// returns each result: one thread for a whole batch, because spawning one per namespace
/// dominated adding many. An outer error means the helper could not be started. The caller's
/// thread never changes namespace, and the helper ends before this returns.
pub(crate) fn in_each_namespace<T: Send>(
    namespaces: &[BorrowedFd<'_>],
    f: impl Fn() -> io::Result<T> + Sync,
) -> io::Result<Vec<io::Result<T>>> {
    if namespaces.is_empty() {
        return Ok(Vec::new()); // no thread for nothing to do (e.g. adding the caller's own)
    }
    let raw: Vec<i32> = namespaces.iter().map(|ns| ns.as_raw_fd()).collect();
    let f = &f;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("nsmon-setns".into())
            .stack_size(HELPER_STACK)
            .spawn_scoped(scope, move || {
                raw.into_iter()
                    .map(|fd| {
                        // SAFETY: each fd is valid for the duration of the scope (borrowed by
                        // the caller); setns only changes this helper thread's namespace.
                        syscall!(setns(fd, libc::CLONE_NEWNET))?;
                        f()
                    })
                    .collect()
            })?
            .join()
            .map_err(|_| io::Error::other("namespace helper thread panicked"))
    })
}

/// `SIOCGSKNS` (linux/sockios.h): an fd of the network namespace a socket lives in (Linux 4.9+).
const SIOCGSKNS: libc::c_ulong = 0x894c;

/// Opens the network namespace that `socket` was created in.
pub(crate) fn socket_namespace(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new fd, owned by nobody else.
    let fd = syscall!(ioctl(socket.as_raw_fd(), SIOCGSKNS as _))?;
    // SAFETY: `fd` was just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `NS_GET_ID` (linux/nsfs.h, `_IOR(0xb7, 13, __u64)`): the namespace's 64-bit id, which the
/// kernel never reuses while it runs (recent kernels; `ENOTTY` before).
const NS_GET_ID: libc::c_ulong = 0x8008_b70d;

/// The `NS_GET_ID` id of a namespace fd.
pub(crate) fn ns_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut id: u64 = 0;
    // SAFETY: NS_GET_ID writes one u64 through the pointer, which outlives the call.
    syscall!(ioctl(fd.as_raw_fd(), NS_GET_ID as _, &raw mut id))?;
    Ok(id)
}

/// The device and inode of a namespace fd's nsfs file. Two open fds name the same namespace
/// exactly when these are equal; once a namespace is freed its inode number may be reused.
pub(crate) fn identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable; `fd` is open for the duration of the borrow.
    syscall!(fstat(fd.as_raw_fd(), &mut st))?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between libc targets
    Ok((st.st_dev as u64, st.st_ino as u64))
}
