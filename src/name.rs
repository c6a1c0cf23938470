//! Names as the kernel and the file system give them (bytes, not text), and the rule for
//! named-namespace names.

use std::borrow::{Borrow, Cow};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The longest name accepted, in bytes (a file name's limit, `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A name from the kernel or the file system: a link or alternative name, an address label, a
/// link or tc kind, a namespace file's name. Bytes, exactly as given, and not necessarily UTF-8:
/// the kernel accepts any bytes in an interface name but `/`, `:` and white space, and a file
/// name may be any bytes but `/` and NUL.
///
/// [`to_str`](Self::to_str) is the name as text when it is UTF-8; `Display` and
/// [`to_string_lossy`](Self::to_string_lossy) replace invalid bytes with U+FFFD (lossy: for
/// showing, not for identifying); `Debug` escapes them (`"nsmon-\xff"`). It compares equal to a
/// `str` or byte slice with the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The name made of `bytes`.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Name {
        Name(bytes.into())
    }

    /// The exact bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The name as text, invalid bytes replaced with U+FFFD (lossy).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The name as an OS string (for joining to a path).
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(&self.0)
    }

    /// Whether the name is UTF-8.
    pub fn is_utf8(&self) -> bool {
        self.to_str().is_some()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the name has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Some(text) => fmt::Debug::fmt(text, f),
            None => write!(f, "\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(s.as_bytes().into())
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(s.into_bytes().into())
    }
}

impl From<&[u8]> for Name {
    fn from(b: &[u8]) -> Name {
        Name(b.into())
    }
}

impl From<Vec<u8>> for Name {
    fn from(b: Vec<u8>) -> Name {
        Name(b.into())
    }
}

impl From<&OsStr> for Name {
    fn from(s: &OsStr) -> Name {
        Name(s.as_bytes().into())
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<OsStr> for Name {
    fn as_ref(&self) -> &OsStr {
        self.as_os_str()
    }
}

impl AsRef<Path> for Name {
    fn as_ref(&self) -> &Path {
        Path::new(self.as_os_str())
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<[u8]> for Name {
    fn eq(&self, other: &[u8]) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *other == **self
    }
}

/// Checks that `name` can be the name of a namespace under a netns directory.
///
/// A valid name is a single path component: not empty, not `.` or `..`, without `/` or NUL, and
/// at most [`NAME_MAX`] bytes. Everything nsmon accepts from a caller as a namespace name goes
/// through this check, so a name can never escape the directory it is joined to.
pub fn validate_name(name: &str) -> Result<()> {
    match name_problem(name.as_bytes()) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
    }
}

/// Why `name` (any bytes) cannot be a namespace's name in a directory, or `None` when it can:
/// the rule of [`validate_name`], for names read from the file system.
pub(crate) fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == b"." || name == b".." {
        Some("it is \".\" or \"..\"")
    } else if name.contains(&b'/') {
        Some("it contains '/'")
    } else if name.contains(&0) {
        Some("it contains a NUL byte")
    } else if name.len() > NAME_MAX {
        Some("it is longer than 255 bytes")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "a",
            "nsmon-t-1",
            "with space",
            "..x",
            "x..",
            ".hidden",
            "ünï",
        ] {
            assert!(validate_name(name).is_ok(), "{name:?} should be valid");
        }
        assert!(validate_name(&"n".repeat(NAME_MAX)).is_ok());
        assert_eq!(name_problem(b"x\xfe"), None, "bytes need not be UTF-8");
    }

    #[test]
    fn rejects_bad_names() {
        let long = "n".repeat(NAME_MAX + 1);
        for name in ["", ".", "..", "a/b", "/", "../etc", "a\0b", long.as_str()] {
            let err = validate_name(name).expect_err(name);
            assert_eq!(err.errno(), libc::EINVAL);
            assert!(err.to_string().contains("invalid namespace name"), "{err}");
        }
    }

    #[test]
    fn names_keep_their_bytes_and_show_them_safely() {
        let bad = Name::from(&b"nsmon-\xff\"q"[..]);
        assert_eq!(bad.as_bytes(), b"nsmon-\xff\"q");
        assert_eq!(bad.to_str(), None);
        assert!(!bad.is_utf8());
        assert_eq!(bad.to_string(), "nsmon-\u{fffd}\"q");
        assert_eq!(format!("{bad:?}"), "\"nsmon-\\xff\\\"q\"");
        let good = Name::from("br0");
        assert_eq!(good, "br0");
        assert_eq!("br0", good);
        assert_eq!(format!("{good:?}"), "\"br0\"");
        assert_eq!(good.to_str(), Some("br0"));
        assert_eq!(good.as_os_str(), OsStr::new("br0"));
    }
}
