//! Arbitrary bytes as one OpenFlow message: parsing must never panic, what
//! parses must round-trip canonically, and what does not must be answerable
//! with an ERROR (checked by `openflow::fuzzing::parse_roundtrip`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    openflow::fuzzing::parse_roundtrip(data);
});
