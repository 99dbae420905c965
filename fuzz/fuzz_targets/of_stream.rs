//! Arbitrary bytes, cut into arbitrary chunks, through the `OfCodec` framing
//! decoder: frames must be exactly the consumed prefix of the input and every
//! frame must parse without panicking (checked by `openflow::fuzzing::stream`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    openflow::fuzzing::stream(data);
});
