#![no_main]
//! Fuzzes `nsmon::fuzzing::proc_connector` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::proc_connector(data));
