//! Arbitrary bytes into the eBPF ELF loader: it must never panic, and what it
//! accepts must satisfy the `Object` invariants (checked by `fuzz_load`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ofext_filter::elf::fuzz_load(data);
});
