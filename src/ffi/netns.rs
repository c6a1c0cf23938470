//! `nsmon_netns_ref`: how C names a network namespace.

use std::ffi::{c_char, c_int};
use std::os::fd::BorrowedFd;

use super::args::{c_path, c_str, optional, Out};
use super::Failure;
use crate::NetnsRef;

/// `nsmon_netns_ref.kind`: the calling thread's own namespace (also what a zeroed struct means).
pub const NSMON_NETNS_CURRENT: u32 = 0;
/// `nsmon_netns_ref.kind`: a named namespace, `/var/run/netns/<str>`.
pub const NSMON_NETNS_NAME: u32 = 1;
/// `nsmon_netns_ref.kind`: any nsfs file of a network namespace, at path `str`.
pub const NSMON_NETNS_PATH: u32 = 2;
/// `nsmon_netns_ref.kind`: the namespace of process `num`.
pub const NSMON_NETNS_PID: u32 = 3;
/// `nsmon_netns_ref.kind`: an open namespace fd `num` (borrowed: nsmon does not close it).
pub const NSMON_NETNS_FD: u32 = 4;

/// A network namespace, as C names it. Zero-initialise it for the caller's own namespace.
///
/// # Memory and lifetimes
/// nsmon reads it only during the call it is passed to (strings are copied where kept).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nsmon_netns_ref {
    /// One of the `NSMON_NETNS_*` kinds.
    pub kind: u32,
    /// The name (`NSMON_NETNS_NAME`, UTF-8) or path (`NSMON_NETNS_PATH`, any bytes: file names
    /// need not be UTF-8), NUL-terminated; ignored otherwise.
    pub str: *const c_char,
    /// The pid (`NSMON_NETNS_PID`) or fd (`NSMON_NETNS_FD`); ignored otherwise.
    pub num: c_int,
}

/// Reads a C reference; NULL means the current namespace.
///
/// # Safety
/// `ptr` is NULL or a readable `nsmon_netns_ref` whose `str` is NULL or NUL-terminated; the
/// borrow must not outlive them (nor the fd it names).
pub(crate) unsafe fn netns_ref<'a>(
    ptr: *const nsmon_netns_ref,
    param: &'static str,
) -> Result<NetnsRef<'a>, Failure> {
    // SAFETY: `ptr` is NULL or readable, as this function's caller promises.
    let Some(r) = (unsafe { optional(ptr) }) else {
        return Ok(NetnsRef::Current);
    };
    let invalid =
        |why: String| Failure::Lib(crate::Error::InvalidArgument(format!("{param}: {why}")));
    Ok(match r.kind {
        NSMON_NETNS_CURRENT => NetnsRef::Current,
        // SAFETY: `r.str` is NULL or NUL-terminated and outlives the borrow, as promised.
        NSMON_NETNS_NAME => NetnsRef::Name(unsafe { c_str(r.str, param) }?),
        // SAFETY: as for the name.
        NSMON_NETNS_PATH => NetnsRef::Path(unsafe { c_path(r.str, param) }?),
        NSMON_NETNS_PID => match u32::try_from(r.num) {
            Ok(pid) if pid > 0 => NetnsRef::Pid(pid),
            _ => return Err(invalid(format!("pid {} is not a process id", r.num))),
        },
        NSMON_NETNS_FD => {
            if r.num < 0 {
                return Err(invalid(format!("fd {} is not a file descriptor", r.num)));
            }
            // SAFETY: the caller vouches that the fd is open for the duration of the call.
            NetnsRef::Fd(unsafe { BorrowedFd::borrow_raw(r.num) })
        }
        other => return Err(invalid(format!("unknown kind {other}"))),
    })
}

/// An owned copy of a C reference, for options that outlive the call that set them.
#[derive(Debug, Clone, Default)]
pub(crate) enum OwnedNetnsRef {
    #[default]
    Current,
    Name(String),
    Path(std::path::PathBuf),
    Pid(u32),
    Fd(c_int),
}

impl OwnedNetnsRef {
    pub(crate) fn from_ref(r: NetnsRef<'_>) -> Self {
        match r {
            NetnsRef::Name(n) => OwnedNetnsRef::Name(n.to_string()),
            NetnsRef::Path(p) => OwnedNetnsRef::Path(p.to_path_buf()),
            NetnsRef::Pid(p) => OwnedNetnsRef::Pid(p),
            NetnsRef::Fd(fd) => OwnedNetnsRef::Fd(std::os::fd::AsRawFd::as_raw_fd(&fd)),
            _ => OwnedNetnsRef::Current,
        }
    }

    /// Borrows it back.
    ///
    /// # Safety
    /// For `Fd`, the fd must still be open (the options' documentation says so).
    pub(crate) unsafe fn as_ref(&self) -> NetnsRef<'_> {
        match self {
            OwnedNetnsRef::Current => NetnsRef::Current,
            OwnedNetnsRef::Name(n) => NetnsRef::Name(n),
            OwnedNetnsRef::Path(p) => NetnsRef::Path(p),
            OwnedNetnsRef::Pid(p) => NetnsRef::Pid(*p),
            // SAFETY: the fd is still open, as this function's caller promises.
            OwnedNetnsRef::Fd(fd) => NetnsRef::Fd(unsafe { BorrowedFd::borrow_raw(*fd) }),
        }
    }
}

/// Who a network namespace is. `id` is the kernel's 64-bit namespace id (`NS_GET_ID`), never
/// reused while the system runs, valid when `has_id`; kernels without `NS_GET_ID` give only the
/// device and inode of its nsfs file, which the kernel reuses once a namespace is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsmon_netns_id {
    /// Whether `id` is set.
    pub has_id: bool,
    /// `NS_GET_ID`.
    pub id: u64,
    /// Device of the nsfs file.
    pub dev: u64,
    /// Inode of the nsfs file (the number in `net:[INODE]`).
    pub ino: u64,
}

impl From<crate::NetnsId> for nsmon_netns_id {
    fn from(id: crate::NetnsId) -> Self {
        nsmon_netns_id {
            has_id: id.id.is_some(),
            id: id.id.unwrap_or(0),
            dev: id.dev,
            ino: id.ino,
        }
    }
}

/// The identity of the namespace `target` names now (NULL: the caller's own). Returns 0 and
/// fills `*out`, or a negative code (`NSMON_ERR_NULL` for a NULL `out`, `-ENOENT`, `-EINVAL` for
/// what is not a network namespace, ...) with `*out` untouched.
///
/// # Safety
/// `target` is NULL or readable (its `str` NULL or NUL-terminated); `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nsmon_netns_identify(
    target: *const nsmon_netns_ref,
    out: *mut nsmon_netns_id,
) -> c_int {
    super::guard(|| {
        // SAFETY: `out` is NULL or writable, and `target` NULL or readable with its `str` NULL
        // or NUL-terminated, as this function's caller promises.
        let (out, target) = unsafe { (Out::new(out, "out")?, netns_ref(target, "target")?) };
        out.write(target.identify()?.into());
        Ok(0)
    })
}
