#![no_main]
//! Fuzzes `nsmon::fuzzing::listen_all_nsid_control` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::listen_all_nsid_control(data));
