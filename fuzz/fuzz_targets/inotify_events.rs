#![no_main]
//! Fuzzes `nsmon::fuzzing::inotify_events` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::inotify_events(data));
