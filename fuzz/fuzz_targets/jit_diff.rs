//! Differential fuzzing of the x86-64 JIT against the interpreter: the bytes
//! drive the generators of `ofext_filter::jit::difftest` (a verifier-accepted
//! program, and an unverified one for the checked mode); both engines run
//! the program on the same packets with twin maps and must agree on every
//! result, error, packet byte and map entry (checked by `fuzz_diff`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ofext_filter::jit::fuzz_diff(data);
});
