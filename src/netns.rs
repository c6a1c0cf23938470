//! Ways to name a network namespace, and opening one as a checked fd.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::name::validate_name;
use crate::sys::{self, Links};

/// The directory `ip netns` keeps named namespaces in.
pub const DEFAULT_NETNS_DIR: &str = "/var/run/netns";

/// A network namespace, as a caller names it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum NetnsRef<'a> {
    /// The namespace of the calling thread.
    Current,
    /// A named namespace: `/var/run/netns/NAME` (the name is validated first).
    Name(&'a str),
    /// Any nsfs file of a network namespace (a bind mount, `/proc/PID/ns/net`, ...).
    Path(&'a Path),
    /// The namespace of process `PID` (`/proc/PID/ns/net`).
    Pid(u32),
    /// An open fd of a network namespace; borrowed, not closed by nsmon.
    Fd(BorrowedFd<'a>),
}

/// Who a network namespace is, as nsmon reports it everywhere (watcher, stream, queries).
///
/// `id` is the kernel's 64-bit namespace id (`NS_GET_ID`), never reused while the system runs:
/// two namespaces with the same `id` are the same namespace. Kernels without `NS_GET_ID` give
/// `None`; then the device and inode of the namespace's nsfs file are all there is, and those
/// the kernel reuses once a namespace is freed. Equality compares every field, so a namespace
/// that replaced a freed one with the same inode number compares different by its `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NetnsId {
    /// `NS_GET_ID`, when the kernel has it.
    pub id: Option<u64>,
    /// Device of the nsfs file.
    pub dev: u64,
    /// Inode of the nsfs file (the number in `net:[INODE]`).
    pub ino: u64,
}

impl NetnsId {
    /// The identity of an open namespace fd.
    pub(crate) fn of(fd: BorrowedFd<'_>) -> io::Result<NetnsId> {
        let (dev, ino) = sys::netns::identity(fd)?;
        Ok(NetnsId {
            id: sys::netns::ns_id(fd).ok(),
            dev,
            ino,
        })
    }
}

/// An open, checked network-namespace fd: either owned (opened by nsmon) or borrowed.
#[derive(Debug)]
pub(crate) enum NetnsFd<'a> {
    Owned(OwnedFd),
    Borrowed(BorrowedFd<'a>),
}

impl AsFd for NetnsFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            NetnsFd::Owned(fd) => fd.as_fd(),
            NetnsFd::Borrowed(fd) => *fd,
        }
    }
}

impl<'a> NetnsRef<'a> {
    /// A short description for messages: the name, the path, `pid:N`, `fd:N` or `current`.
    pub fn describe(&self) -> String {
        match self {
            NetnsRef::Current => "current".into(),
            NetnsRef::Name(name) => (*name).to_string(),
            NetnsRef::Path(path) => path.display().to_string(),
            NetnsRef::Pid(pid) => format!("pid:{pid}"),
            NetnsRef::Fd(fd) => format!("fd:{}", std::os::fd::AsRawFd::as_raw_fd(fd)),
        }
    }

    /// The identity of the namespace this names now (opened and checked as every target is).
    pub fn identify(&self) -> Result<NetnsId> {
        let fd = self.open()?;
        NetnsId::of(fd.as_fd())
            .map_err(|e| Error::os(format!("fstat namespace {}", self.describe()), e))
    }

    /// A netlink socket (`NETLINK_ROUTE`) inside this namespace, for `purpose`: opened
    /// directly for the caller's own, by a short-lived helper thread for any other.
    pub(crate) fn open_socket(
        &self,
        purpose: crate::netlink::socket::Purpose,
    ) -> Result<crate::netlink::socket::Socket> {
        use crate::netlink::socket::Socket;
        if let NetnsRef::Current = self {
            return Socket::open(purpose);
        }
        let ns = self.open()?;
        Socket::open_in(ns.as_fd(), &self.describe(), purpose)
    }

    /// Opens the namespace and checks, on the open fd, that it is a network namespace. The open
    /// never blocks and never follows a link in a named namespace's entry: whatever is there
    /// (a FIFO, a device, a link swapped in after a check) gives a clear error, not a hang.
    pub(crate) fn open(&self) -> Result<NetnsFd<'a>> {
        let fd = match self {
            NetnsRef::Fd(fd) => NetnsFd::Borrowed(*fd),
            NetnsRef::Current => NetnsFd::Owned(open_file(
                Path::new("/proc/thread-self/ns/net"),
                Links::Follow,
            )?),
            NetnsRef::Name(name) => {
                validate_name(name)?;
                let path = Path::new(DEFAULT_NETNS_DIR).join(name);
                NetnsFd::Owned(open_file(&path, Links::Refuse).map_err(|e| match e {
                    Error::Os { source, .. } if source.raw_os_error() == Some(libc::ENOENT) => {
                        Error::os(
                            format!(
                                "namespace {name:?}: no such named namespace in {DEFAULT_NETNS_DIR}"
                            ),
                            source,
                        )
                    }
                    Error::Os { source, .. } if source.raw_os_error() == Some(libc::ELOOP) => {
                        Error::InvalidArgument(format!(
                            "namespace {name:?}: {} is a symbolic link, which a named \
                             namespace never is",
                            path.display()
                        ))
                    }
                    other => other,
                })?)
            }
            NetnsRef::Path(path) => NetnsFd::Owned(open_file(path, Links::Follow)?),
            NetnsRef::Pid(pid) => {
                let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
                NetnsFd::Owned(open_file(&path, Links::Follow).map_err(|e| match e {
                    Error::Os { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                        Error::os(
                            format!("pid {pid}"),
                            io::Error::from_raw_os_error(libc::ESRCH),
                        )
                    }
                    other => other,
                })?)
            }
        };
        check_network_namespace(fd.as_fd(), &self.describe())?;
        Ok(fd)
    }
}

fn open_file(path: &Path, links: Links) -> Result<OwnedFd> {
    sys::open_nsfs(path, links).map_err(|e| Error::os(format!("open {}", path.display()), e))
}

/// Whether the open `fd` is a network namespace ([`check_network_namespace`] without the
/// message).
pub(crate) fn is_network_namespace(fd: BorrowedFd<'_>) -> bool {
    sys::fd_fs_magic(fd).ok() == Some(sys::NSFS_MAGIC)
        && sys::netns::ns_type(fd).ok() == Some(libc::CLONE_NEWNET)
}

/// Whether the open `fd` is a network namespace: an nsfs file (checked first, so that no
/// ioctl reaches a device or anything else), of type `CLONE_NEWNET`.
pub(crate) fn check_network_namespace(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    match sys::fd_fs_magic(fd) {
        Ok(sys::NSFS_MAGIC) => {}
        Ok(_) => {
            return Err(Error::InvalidArgument(format!(
                "{what} is not a network namespace (not an nsfs file)"
            )))
        }
        Err(e) => return Err(Error::os(format!("fstatfs {what}"), e)),
    }
    match sys::netns::ns_type(fd) {
        Ok(libc::CLONE_NEWNET) => Ok(()),
        Ok(_) => Err(Error::InvalidArgument(format!(
            "{what} is a namespace, but not a network namespace"
        ))),
        Err(e) => Err(Error::os(format!("NS_GET_NSTYPE {what}"), e)),
    }
}
