//! # ofext-filter — Oko filter programs
//!
//! (essay to be written)

pub mod asm;
pub mod elf;
pub mod helpers;
pub mod interp;
pub mod isa;
pub mod maps;
pub mod verifier;
pub mod wire;
