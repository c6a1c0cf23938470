#![no_main]
//! Fuzzes `nsmon::fuzzing::nsid_payload` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::nsid_payload(data));
