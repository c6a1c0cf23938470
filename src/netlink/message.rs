//! Pure parsing of netlink buffers. No I/O, no allocation on the walk; every length is checked
//! before a byte is read, and a walk stops at the first malformed message or attribute.

use super::consts::*;
use super::layout::{Header, NlAttr, NlMsgErr, NlMsgHdr};

/// A malformed buffer: what was wrong, with the lengths involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink data: {0}")]
pub(crate) struct Malformed(pub(crate) String);

/// What the parsers above report: a protocol error, with the reason.
impl From<Malformed> for crate::Error {
    fn from(m: Malformed) -> Self {
        crate::Error::Protocol(m.0)
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message: its header fields and its payload (after the 16-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub(crate) kind: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) port: u32,
    pub(crate) payload: &'a [u8],
    /// The whole message, header included, without trailing padding.
    pub(crate) bytes: &'a [u8],
}

/// Walks the messages in one datagram.
pub(crate) struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// The messages in `buf` (one datagram). Yields an error and stops at the first bad length.
pub(crate) fn messages(buf: &[u8]) -> Messages<'_> {
    Messages {
        rest: buf,
        failed: false,
    }
}

impl<'a> Messages<'a> {
    /// The bytes not walked yet: after an error, the part of the datagram that could not be
    /// split into messages.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    // Once per message read: the checks in a few comparisons, the reasons (formatted text)
    // out of line, as for attributes.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        let Some(header) = NlMsgHdr::parse(buf) else {
            return Some(Err(self.bad_length(None)));
        };
        let len = header.len as usize;
        if len < NlMsgHdr::LEN || len > buf.len() {
            return Some(Err(self.bad_length(Some(len))));
        }
        let message = framed(&buf[..len], &header);
        self.rest = buf.get(align4(len)..).unwrap_or_default();
        Some(Ok(message))
    }
}

impl Messages<'_> {
    /// Ends the walk at a message whose header does not fit (`None`) or whose length `len`
    /// does not, and says why; what is left stays for [`remaining`](Self::remaining).
    #[cold]
    #[inline(never)]
    fn bad_length(&mut self, len: Option<usize>) -> Malformed {
        self.failed = true;
        let left = self.rest.len();
        Malformed(match len {
            None => format!("{left} bytes left, a header needs {}", NlMsgHdr::LEN),
            Some(len) if len < NlMsgHdr::LEN => {
                format!(
                    "message length {len} is under the header's {}",
                    NlMsgHdr::LEN
                )
            }
            Some(len) => format!("message length {len} exceeds the {left} bytes left"),
        })
    }
}

/// The one message that is all of `bytes` (as a walk of a datagram returned it earlier, its
/// lengths checked then): its header read again without the walk's checks and messages.
/// `None` if it is not such a message after all.
pub(crate) fn whole(bytes: &[u8]) -> Option<Message<'_>> {
    let header = NlMsgHdr::parse(bytes)?;
    let len = header.len as usize;
    (NlMsgHdr::LEN..=bytes.len())
        .contains(&len)
        .then(|| framed(&bytes[..len], &header))
}

/// The message that `bytes` (exactly its length, checked) is, with its header read.
fn framed<'a>(bytes: &'a [u8], header: &NlMsgHdr) -> Message<'a> {
    Message {
        kind: header.kind,
        flags: header.flags,
        seq: header.seq,
        port: header.port,
        payload: &bytes[NlMsgHdr::LEN..],
        bytes,
    }
}

/// Walks attributes (`struct nlattr` + value, 4-byte aligned).
pub(crate) struct Attrs<'a> {
    /// What is left to walk; emptied at the first bad length, which ends the walk.
    rest: &'a [u8],
}

/// The attributes in `buf`. Yields `(type, value)` with the flag bits masked off, an error and
/// stop at the first bad length.
pub(crate) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), Malformed>;

    // The per-attribute step of every typed message: the checks in a few comparisons, the
    // reasons (formatted text) out of line, since a walk meets at most one.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.rest;
        let Some(header) = NlAttr::parse(buf) else {
            return (!buf.is_empty()).then(|| Err(self.bad_length(None)));
        };
        let len = usize::from(header.len);
        if len < NlAttr::LEN || len > buf.len() {
            return Some(Err(self.bad_length(Some(len))));
        }
        self.rest = buf.get(align4(len)..).unwrap_or_default();
        Some(Ok((header.kind & NLA_TYPE_MASK, &buf[NlAttr::LEN..len])))
    }
}

impl Attrs<'_> {
    /// Ends the walk at an attribute whose header does not fit (`None`) or whose length `len`
    /// does not, and says why.
    #[cold]
    #[inline(never)]
    fn bad_length(&mut self, len: Option<usize>) -> Malformed {
        let left = std::mem::take(&mut self.rest).len();
        Malformed(match len {
            None => format!(
                "{left} bytes left, an attribute header needs {}",
                NlAttr::LEN
            ),
            Some(len) if len < NlAttr::LEN => format!(
                "attribute length {len} is under its header's {}",
                NlAttr::LEN
            ),
            Some(len) => format!("attribute length {len} exceeds the {left} bytes left"),
        })
    }
}

/// A 32-bit attribute value, or an error naming the attribute.
#[inline]
pub(crate) fn attr_u32(value: &[u8], name: &str) -> Result<u32, Malformed> {
    match value.try_into() {
        Ok(bytes) => Ok(u32::from_ne_bytes(bytes)),
        Err(_) => Err(not_u32(value.len(), name)),
    }
}

/// Why an attribute of `len` bytes is not a `u32`: out of line, so that the name is put
/// where the text needs it only when there is one to write.
#[cold]
#[inline(never)]
fn not_u32(len: usize, name: &str) -> Malformed {
    Malformed(format!("{name} has {len} bytes, expected 4"))
}

/// What an NLMSG_ERROR says: 0 is an ack, otherwise a negative errno and maybe the kernel's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    /// 0 for success, else a positive errno.
    pub(crate) errno: i32,
    /// The extended-ack message, when the kernel gave one.
    pub(crate) text: Option<String>,
}

/// Parses the payload of an NLMSG_ERROR message with header flags `flags`.
pub(crate) fn parse_ack(payload: &[u8], flags: u16) -> Result<Ack, Malformed> {
    let Some(header) = NlMsgErr::parse(payload) else {
        return Err(Malformed(format!(
            "error message has {} bytes, needs {}",
            payload.len(),
            NlMsgErr::LEN
        )));
    };
    let code = header.error;
    let errno = code
        .checked_neg()
        .filter(|e| *e >= 0)
        .ok_or_else(|| Malformed(format!("error code {code} is not zero or a negative errno")))?;
    let mut text = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // Past the echoed request: only its header when capped, else the whole request.
        let echoed = if flags & NLM_F_CAPPED != 0 {
            NlMsgHdr::LEN
        } else {
            (header.echoed.len as usize).max(NlMsgHdr::LEN)
        };
        let start = NlMsgErr::ECHOED_AT + align4(echoed);
        if start <= payload.len() {
            for attr in attrs(&payload[start..]) {
                let (kind, value) = attr?;
                if kind == NLMSGERR_ATTR_MSG {
                    text = Some(ack_message(value));
                }
            }
        }
    }
    Ok(Ack { errno, text })
}

fn ack_message(value: &[u8]) -> String {
    let value = value.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(value).into_owned()
}

/// The kernel's text among extended-ack attributes `tlvs` (as an `NLMSG_DONE` carries them after
/// its error code), if there is one and the attributes can be read.
pub(crate) fn parse_ack_text(tlvs: &[u8]) -> Option<String> {
    attrs(tlvs).find_map(|attr| match attr {
        Ok((NLMSGERR_ATTR_MSG, value)) => Some(ack_message(value)),
        _ => None,
    })
}

/// Appends a message header and `payload` to `out` (length filled in); returns the message's
/// start, so that attributes can be appended and [`finish`] called.
pub(crate) fn begin(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let start = out.len();
    let header = NlMsgHdr {
        len: 0,
        kind,
        flags,
        seq,
        port: 0,
    };
    out.extend_from_slice(&header.to_bytes());
    start
}

/// Appends bytes padded to 4.
pub(crate) fn push_padded(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out.resize(align4(out.len()), 0);
}

/// Appends one attribute.
pub(crate) fn push_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = (NlAttr::LEN + value.len()) as u16;
    out.extend_from_slice(&NlAttr { len, kind }.to_bytes());
    push_padded(out, value);
}

/// Writes the length of the message that starts at `start`.
pub(crate) fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    let at = start + NlMsgHdr::LEN_AT;
    out[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// A message as the kernel would send it, for tests: `kind`, the fixed header's bytes, then
/// the attributes.
#[cfg(test)]
pub(crate) fn built(kind: u16, header: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = begin(&mut out, kind, 0, 0);
    push_padded(&mut out, header);
    for (k, v) in attrs {
        push_attr(&mut out, *k, v);
    }
    finish(&mut out, start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let start = begin(&mut out, kind, flags, seq);
        push_padded(&mut out, body);
        finish(&mut out, start);
        out
    }

    #[test]
    fn a_whole_message_is_read_again_as_the_walk_read_it_and_a_bad_one_is_not() {
        let bytes = message(RTM_NEWLINK, 2, 7, &[1, 2, 3, 4]);
        let walked = messages(&bytes).next().unwrap().unwrap();
        let again = whole(&bytes).unwrap();
        assert_eq!(
            (
                again.kind,
                again.flags,
                again.seq,
                again.payload,
                again.bytes
            ),
            (
                walked.kind,
                walked.flags,
                walked.seq,
                walked.payload,
                walked.bytes
            )
        );
        assert!(
            whole(&bytes[..bytes.len() - 1]).is_none(),
            "longer than its bytes"
        );
        let mut short = bytes.clone();
        short[0] = 8; // a length under the header's
        assert!(whole(&short).is_none());
        assert!(whole(&bytes[..10]).is_none());
    }

    #[test]
    fn walks_several_messages_in_one_buffer() {
        let mut buf = message(RTM_NEWNSID, 0, 1, &[1, 2, 3]);
        buf.extend(message(NLMSG_DONE, NLM_F_MULTI, 2, &[0; 4]));
        let all: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].kind, RTM_NEWNSID);
        // `finish` counts the body's padding into the length, so the payload includes it.
        assert_eq!(all[0].payload, &[1, 2, 3, 0]);
        assert_eq!(all[1].kind, NLMSG_DONE);
        assert_eq!(all[1].seq, 2);
    }

    #[test]
    fn rejects_bad_message_lengths_and_stops() {
        let good = message(RTM_NEWNSID, 0, 1, &[0; 4]);
        // Truncated header.
        assert!(messages(&good[..10]).next().unwrap().is_err());
        // Declared length under the header.
        let mut short = good.clone();
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        let mut walk = messages(&short);
        assert!(walk.next().unwrap().is_err());
        assert!(walk.next().is_none(), "the walk must stop after an error");
        // Declared length over the buffer.
        let mut long = good.clone();
        long[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(messages(&long).next().unwrap().is_err());
        // An empty buffer has no messages.
        assert!(messages(&[]).next().is_none());
    }

    #[test]
    fn walks_attributes_and_rejects_bad_lengths() {
        let mut buf = Vec::new();
        push_attr(&mut buf, NETNSA_NSID, &7i32.to_ne_bytes());
        push_attr(&mut buf, NETNSA_PID | 0x8000, &42u32.to_ne_bytes());
        let all: Vec<_> = attrs(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(all[0], (NETNSA_NSID, &7i32.to_ne_bytes()[..]));
        assert_eq!(all[1].0, NETNSA_PID, "flag bits are masked off");
        assert_eq!(attr_u32(all[1].1, "NETNSA_PID").unwrap(), 42);
        assert!(attr_u32(&[1, 2], "NETNSA_PID").is_err());
        for bad_len in [0u16, 3, 200] {
            let mut bad = buf.clone();
            bad[0..2].copy_from_slice(&bad_len.to_ne_bytes());
            let mut walk = attrs(&bad);
            assert!(walk.next().unwrap().is_err(), "length {bad_len}");
            assert!(walk.next().is_none());
        }
        assert!(attrs(&buf[..3]).next().unwrap().is_err());
    }

    #[test]
    fn parses_acks_errors_and_extended_ack_text() {
        let echoed = message(RTM_NEWNSID, NLM_F_REQUEST | NLM_F_ACK, 9, &[]);
        // A plain ack.
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend(&echoed);
        assert_eq!(
            parse_ack(&ack, 0).unwrap(),
            Ack {
                errno: 0,
                text: None
            }
        );
        // An error with the kernel's text (capped: only the request's header is echoed).
        let mut err = (-libc::EEXIST).to_ne_bytes().to_vec();
        err.extend(&echoed);
        push_attr(
            &mut err,
            NLMSGERR_ATTR_MSG,
            b"Peer netns already has a nsid assigned\0",
        );
        let parsed = parse_ack(&err, NLM_F_CAPPED | NLM_F_ACK_TLVS).unwrap();
        assert_eq!(parsed.errno, libc::EEXIST);
        assert_eq!(
            parsed.text.as_deref(),
            Some("Peer netns already has a nsid assigned")
        );
        // Too short, or a positive "errno".
        assert!(parse_ack(&err[..10], 0).is_err());
        let mut positive = ack.clone();
        positive[0..4].copy_from_slice(&5i32.to_ne_bytes());
        assert!(parse_ack(&positive, 0).is_err());
    }
}
