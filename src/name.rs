//! Validation of named-namespace names.

use crate::error::{Error, Result};

/// The longest name accepted, in bytes (a file name's limit, `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Checks that `name` can be the name of a namespace under a netns directory.
///
/// A valid name is a single path component: not empty, not `.` or `..`, without `/` or NUL, and
/// at most [`NAME_MAX`] bytes. Everything nsmon accepts from a caller as a namespace name goes
/// through this check, so a name can never escape the directory it is joined to.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == "." || name == ".." {
        "it is \".\" or \"..\""
    } else if name.contains('/') {
        "it contains '/'"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.len() > NAME_MAX {
        "it is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
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
}
