//! # ofext-filter — Oko filter programs
//!
//! What Oko adds to a switch: small eBPF programs that a controller sends at
//! run time and that run inside the forwarding path as an extra match field
//! of a flow (`../shared/EXTENSION.md` is the contract). This crate holds
//! everything about those programs that is independent of sockets and flow
//! tables, for both sides of the wire:
//!
//! | module | what it does |
//! |---|---|
//! | [`wire`] | the extension's messages, multiparts, errors and the `FILTER_PROG` OXM field (EXTENSION.md §§1–4) |
//! | [`isa`] | the eBPF instruction set (RFC 9669): opcodes and the 8-byte `Insn` |
//! | [`asm`] | assembler and disassembler for the ubpf / bpf_conformance text syntax |
//! | [`elf`] | loads and relocates clang `-target bpf` objects: program choice, both map conventions, BPF-to-BPF calls |
//! | [`verifier`] | the sound verifier: proves the safety contract of EXTENSION.md §5 or names the first instruction that breaks it |
//! | [`interp`], [`helpers`] | the interpreter and the helper functions (maps, time, hash, random) |
//! | [`jit`] | the x86-64 JIT (verified and checked modes), differential-tested against the interpreter |
//! | [`maps`] | HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY and LRU_HASH maps shared by every worker |
//! | [`program`] | a loaded, verified, runnable program with its maps and statistics |
//!
//! ## The pipeline of a PROG_LOAD
//!
//! bytes → [`elf::load`] (pure: sections, symbols, relocations) →
//! [`verifier::verify`] (pure: abstract interpretation over the DAG of the
//! program) → [`maps::Map::new`] per definition → [`interp::Interpreter`]
//! (pre-decoded code) → [`program::Program`]. Each step has its own typed
//! error; [`program::ProgramError::ext_error`] maps them to the extension's
//! `BAD_ELF` / `VERIFY_FAILED`, and the verifier's one-line message (`pc 17:
//! read of 4 bytes at packet offset 34 beyond checked length 34`) is what the
//! controller sees.
//!
//! ## Invariants
//!
//! - Nothing here panics on input: objects, programs, wire bodies, map keys.
//! - The interpreter is memory-safe even for programs the verifier never saw
//!   (it checks every access against the regions valid in the run), so the
//!   verifier is a contract for the JIT and for "no match" semantics, not the
//!   only line of defence.
//! - Map value pointers handed to a program stay valid until its run ends,
//!   even if another worker deletes the key meanwhile (epoch reclamation),
//!   and all Rust-side access to shared value memory is atomic.
//!
//! ## What it deliberately does not do
//!
//! It knows nothing about flow tables, ports or controllers: the dataplane
//! decides when a program runs, the agent decides which programs exist.
//! Legacy packet instructions (LD_ABS/LD_IND), loops, global variables and
//! BTF-defined maps are refused with precise errors.

pub mod asm;
pub mod elf;
pub mod helpers;
pub mod interp;
pub mod isa;
pub mod jit;
pub mod maps;
pub mod program;
pub mod verifier;
pub mod wire;
