//! Native-endian reads of the kernel's bytes at an offset, each one length-checked: `None` when
//! the value would run past the end, so that no malformed buffer can make a parser panic or read
//! out of bounds. The one set of readers under every parser of what the kernel sends (netlink
//! messages and their headers, control messages, proc connector events, directory records);
//! each caller says in its own terms what was too short.
//!
//! They are `#[inline]`: the stream reads a few fields per event through them, and a call
//! across codegen units would cost more than the read.

/// The `N` bytes at `at`, if `bytes` holds them.
#[inline]
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The `u16` at `at`.
#[inline]
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_ne_bytes)
}

/// The `u32` at `at`.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_ne_bytes)
}

/// The `i32` at `at`.
#[inline]
pub(crate) fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    array_at(bytes, at).map(i32::from_ne_bytes)
}

/// The `usize` at `at` (a `size_t` field, such as a control message's length).
#[inline]
pub(crate) fn usize_at(bytes: &[u8], at: usize) -> Option<usize> {
    array_at(bytes, at).map(usize::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_fits_and_refuses_what_does_not() {
        let b = [1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(u32_at(&b, 0), Some(u32::from_ne_bytes([1, 0, 0, 0])));
        assert_eq!(i32_at(&b, 4), Some(-1));
        assert_eq!(u16_at(&b, 6), Some(0xffff));
        assert_eq!(u16_at(&b, 7), None);
        assert_eq!(u32_at(&b, 5), None);
        assert_eq!(
            u32_at(&b, usize::MAX),
            None,
            "an offset that overflows is refused"
        );
        let word = std::mem::size_of::<usize>();
        let n = usize_at(&b, 0).unwrap();
        assert_eq!(n.to_ne_bytes()[..], b[..word]);
        assert_eq!(usize_at(&b, b.len() - word + 1), None);
        assert_eq!(array_at::<0>(&b, 8), Some([]));
    }
}
