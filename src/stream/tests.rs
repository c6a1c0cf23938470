//! Unit tests of the stream.

use super::target::done_error;
use super::*;
use crate::netlink::message::{begin, finish, push_attr, push_padded};

fn done(code: i32, text: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = NLM_F_MULTI | if text.is_some() { NLM_F_ACK_TLVS } else { 0 };
    let start = begin(&mut out, NLMSG_DONE, flags, 7);
    push_padded(&mut out, &code.to_ne_bytes());
    if let Some(text) = text {
        push_attr(&mut out, NLMSGERR_ATTR_MSG, text);
    }
    finish(&mut out, start);
    out
}

#[test]
fn an_error_code_in_nlmsg_done_is_the_dump_failing() {
    let check = |bytes: &[u8]| done_error(&messages(bytes).next().unwrap().unwrap());
    assert_eq!(check(&done(0, None)), None, "a clean end");
    let plain = check(&done(-libc::EMSGSIZE, None)).unwrap();
    assert!(plain.contains("too long"), "{plain}");
    let with_text = check(&done(-libc::EINVAL, Some(b"bad filter\0"))).unwrap();
    assert!(with_text.contains("Invalid argument") && with_text.contains("(bad filter)"));
    // Old kernels' NLMSG_DONE without a code: a clean end, not a failure.
    let mut short = Vec::new();
    let start = begin(&mut short, NLMSG_DONE, NLM_F_MULTI, 7);
    finish(&mut short, start);
    assert_eq!(check(&short), None);
}
