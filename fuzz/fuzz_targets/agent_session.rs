//! Arbitrary controller bytes, in arbitrary chunks, through an established
//! `Session` and into a fresh switch model over an in-memory dataplane
//! (`agent::fuzzing::session_and_switch`): nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    agent::fuzzing::session_and_switch(data);
});
