#![no_main]
//! Fuzzes `nsmon::fuzzing::mountinfo` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::mountinfo(data));
