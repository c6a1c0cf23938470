#![no_main]
//! Fuzzes `nsmon::fuzzing::name` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::name(data));
