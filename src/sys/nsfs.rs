//! nsfs file handles (Linux 6.18+): a few bytes that name a namespace without holding it, and
//! that no longer open (`ESTALE`) once the namespace is gone.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `FD_NSFS_ROOT` (linux/fcntl.h, 6.18): the "mount" nsfs handles are opened against.
const FD_NSFS_ROOT: libc::c_int = -10003;

/// Room for a handle: nsfs's are 16 bytes (the namespace id and type); the bound leaves space
/// for a later kernel's longer ones.
const HANDLE_MAX: usize = 64;

/// `struct file_handle` with its bytes inline.
#[repr(C)]
struct FileHandle {
    handle_bytes: libc::c_uint,
    handle_type: libc::c_int,
    f_handle: [u8; HANDLE_MAX],
}

/// A namespace's file handle: its type and bytes, as the kernel gave them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NsHandle {
    kind: libc::c_int,
    bytes: Box<[u8]>,
}

/// The file handle of the namespace `fd` is open on (`name_to_handle_at` with `AT_EMPTY_PATH`).
/// `EOPNOTSUPP` on kernels whose nsfs has none (before 6.18).
pub(crate) fn handle(fd: BorrowedFd<'_>) -> io::Result<NsHandle> {
    let mut h = FileHandle {
        handle_bytes: HANDLE_MAX as libc::c_uint,
        handle_type: 0,
        f_handle: [0; HANDLE_MAX],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `h` is a file_handle with `handle_bytes` bytes of room after its header; the
    // empty path with AT_EMPTY_PATH names `fd` itself; `mount_id` is writable.
    syscall!(name_to_handle_at(
        fd.as_raw_fd(),
        c"".as_ptr(),
        (&raw mut h).cast(),
        &mut mount_id,
        libc::AT_EMPTY_PATH
    ))?;
    let len = (h.handle_bytes as usize).min(HANDLE_MAX);
    Ok(NsHandle {
        kind: h.handle_type,
        bytes: h.f_handle[..len].into(),
    })
}

/// Whether the namespace behind `handle` still exists: it is opened (and closed at once, so
/// that the check holds nothing), `Ok(false)` on `ESTALE`.
pub(crate) fn alive(handle: &NsHandle) -> io::Result<bool> {
    let mut h = FileHandle {
        handle_bytes: handle.bytes.len() as libc::c_uint,
        handle_type: handle.kind,
        f_handle: [0; HANDLE_MAX],
    };
    h.f_handle[..handle.bytes.len()].copy_from_slice(&handle.bytes);
    // SAFETY: `h` is a valid file_handle of `handle_bytes` bytes; FD_NSFS_ROOT is the nsfs
    // root the kernel decodes nsfs handles against.
    match syscall!(open_by_handle_at(
        FD_NSFS_ROOT,
        (&raw mut h).cast(),
        libc::O_RDONLY | libc::O_CLOEXEC
    )) {
        Ok(fd) => {
            // SAFETY: `fd` was just returned and is owned by nobody else; dropped at once.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::ESTALE) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
impl NsHandle {
    /// A handle that stands for namespace `id`, for tests of code that only passes handles on.
    pub(crate) fn fake(id: u64) -> Self {
        NsHandle {
            kind: 0,
            bytes: id.to_ne_bytes().into(),
        }
    }

    /// The `id` of a [`fake`](Self::fake) handle.
    pub(crate) fn fake_id(&self) -> u64 {
        u64::from_ne_bytes(self.bytes[..8].try_into().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_namespace_s_handle_opens_while_it_lives() {
        let fd = std::fs::File::open("/proc/self/ns/net").unwrap();
        match handle(fd.as_fd()) {
            Ok(h) => assert!(alive(&h).unwrap()),
            // Kernels before 6.18 have no nsfs handles.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}"),
        }
    }
}
