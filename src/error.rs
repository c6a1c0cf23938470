//! The library's error type.

use std::io;

/// Everything that can go wrong in nsmon.
///
/// Each variant maps to an errno value ([`Error::errno`]) so that the C ABI can return it as a
/// negative code; the `Display` text is the detailed message that `nsmon_last_error()` reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace name that nsmon refuses: empty, `.` or `..`, containing `/` or NUL, or longer
    /// than 255 bytes.
    #[error("invalid namespace name {name:?}: {reason}")]
    InvalidName {
        /// The name as given (lossily converted for display).
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An argument or option that makes no sense, with the reason.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The kernel sent something nsmon cannot make sense of (a bad length, a truncated
    /// datagram); says what.
    #[error("netlink protocol error: {0}")]
    Protocol(String),
    /// nsmon broke one of its own rules (a bug, to be reported): says which. Never what the
    /// kernel or the caller did.
    #[error("nsmon internal error: {0}")]
    Internal(String),
    /// A system call failed; `context` says which and on what.
    #[error("{context}: {source}")]
    Os {
        /// The operation and its object, e.g. `inotify_add_watch /var/run/netns`.
        context: String,
        /// The underlying OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an OS error with the operation that produced it.
    pub(crate) fn os(context: impl Into<String>, source: io::Error) -> Self {
        let mut context = context.into();
        // Out of fds is the failure a caller adding many namespaces meets first: say which limit.
        let hint = match source.raw_os_error() {
            Some(libc::EMFILE) => " (the process's open-file limit, RLIMIT_NOFILE, is reached)",
            Some(libc::ENFILE) => " (the system's open-file limit, fs.file-max, is reached)",
            _ => "",
        };
        if !hint.is_empty() && !context.contains("limit") {
            context.push_str(hint);
        }
        Error::Os { context, source }
    }

    /// The errno value that best describes this error (always positive).
    pub fn errno(&self) -> i32 {
        match self {
            Error::InvalidName { .. } | Error::InvalidArgument(_) => libc::EINVAL,
            Error::Protocol(_) => libc::EPROTO,
            Error::Internal(_) => libc::EIO,
            Error::Os { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    /// True when the error is an interrupted blocking call (`EINTR`): the caller may simply retry.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Os { source, .. } if source.kind() == io::ErrorKind::Interrupted)
    }
}

/// `Result` with nsmon's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
