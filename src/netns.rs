//! Ways to name a network namespace, and opening one as a checked fd.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::name::validate_name;
use crate::sys;
use crate::watcher::DEFAULT_NETNS_DIR;

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

    /// Opens the namespace and checks that it is a network namespace.
    pub(crate) fn open(&self) -> Result<NetnsFd<'a>> {
        let fd = match self {
            NetnsRef::Fd(fd) => NetnsFd::Borrowed(*fd),
            NetnsRef::Current => NetnsFd::Owned(open_file(Path::new("/proc/thread-self/ns/net"))?),
            NetnsRef::Name(name) => {
                validate_name(name)?;
                let path = Path::new(DEFAULT_NETNS_DIR).join(name);
                if !path.exists() {
                    return Err(Error::os(
                        format!(
                            "namespace {name:?}: no such named namespace in {DEFAULT_NETNS_DIR}"
                        ),
                        io::Error::from_raw_os_error(libc::ENOENT),
                    ));
                }
                NetnsFd::Owned(open_file(&path)?)
            }
            NetnsRef::Path(path) => NetnsFd::Owned(open_file(path)?),
            NetnsRef::Pid(pid) => {
                let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
                NetnsFd::Owned(open_file(&path).map_err(|e| match e {
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

fn open_file(path: &Path) -> Result<OwnedFd> {
    File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::os(format!("open {}", path.display()), e))
}

fn check_network_namespace(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    match sys::netns::ns_type(fd) {
        Ok(libc::CLONE_NEWNET) => Ok(()),
        Ok(_) => Err(Error::InvalidArgument(format!(
            "{what} is a namespace, but not a network namespace"
        ))),
        // ENOTTY: the ioctl is not nsfs's, so the file is not a namespace at all.
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => Err(Error::InvalidArgument(format!(
            "{what} is not a network namespace (not an nsfs file)"
        ))),
        Err(e) => Err(Error::os(format!("NS_GET_NSTYPE {what}"), e)),
    }
}
