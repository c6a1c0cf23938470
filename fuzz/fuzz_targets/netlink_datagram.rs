#![no_main]
//! Fuzzes `nsmon::fuzzing::netlink_datagram` (see its docs for what it checks).

libfuzzer_sys::fuzz_target!(|data: &[u8]| nsmon::fuzzing::netlink_datagram(data));
