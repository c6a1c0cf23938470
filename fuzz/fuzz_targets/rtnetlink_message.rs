#![no_main]
//! Fuzzes `nsmon::fuzzing::rtnetlink_message` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::rtnetlink_message(data));
