//! The x86-64 JIT: compiles a filter program to machine code at load time.
//!
//! Oko always JIT-compiled its filters; a filter costs a few nanoseconds per
//! packet only when it is compiled. This module translates every instruction
//! the interpreter runs ([`crate::interp`], the reference semantics) into
//! x86-64 code, encoded by iced-x86's code assembler (never hand-assembled
//! opcode bytes), maps it W^X and runs it with the same register model: real
//! addresses in registers, map handles that are `Arc::as_ptr` of the maps,
//! one 512-byte stack per call frame, at most [`MAX_FRAMES`] frames.
//!
//! # Two modes
//!
//! - **Verified** ([`JitProgram::new`], and what [`crate::program::Program`]
//!   uses): the program has passed [`crate::verifier::verify`], whose
//!   guarantees (packet reads below the checked length and never a packet
//!   write, stack accesses inside the frame, map values inside `value_size`
//!   after a null check, helper arguments of the right kind, a loop-free
//!   control flow, at most [`crate::verifier::MAX_CALL_DEPTH`] frames) are what
//!   make plain `mov`s through the registers safe. Loads, stores and atomics
//!   are single x86 instructions; there is no instruction counting (the
//!   verifier bounds every run).
//! - **Checked** ([`JitProgram::new_checked`]): for programs no verifier has
//!   seen (the conformance plugin, whose suite writes its input memory and
//!   runs loops). Arithmetic and control flow are still native, but every
//!   load, store and atomic calls a trampoline that checks the address
//!   against the regions of the run exactly as the interpreter does, and
//!   every control transfer is counted against the instruction budget with
//!   the interpreter's own rule. Unverified native code never touches memory
//!   the interpreter would refuse: the checked JIT is exactly as safe as the
//!   interpreter, only faster at arithmetic.
//!
//! In both modes the interpreter's loader checks the program first (opcodes,
//! registers, jump targets, `lddw`, helper ids, map indexes), so both engines
//! accept and refuse the same programs with the same [`LoadError`]. Every
//! jump of the generated code targets a label placed at the code of an
//! instruction, the end-of-program stub or the shared exits: control never
//! leaves the compiled code except into the trampolines, and running past the
//! last instruction is [`RunError::FellOffEnd`] as in the interpreter. The
//! pages after the code are filled with `int3`.
//!
//! # Semantics (RFC 9669), the same as the interpreter's
//!
//! Division by zero gives 0 and modulo by zero leaves the destination (for
//! 32-bit operations truncated to 32 bits); signed division by -1 is negation
//! and signed modulo by -1 is 0 (computed without `idiv`, which faults on
//! `MIN / -1`); shift amounts are masked to the operand width; every 32-bit
//! operation zero-extends its result (x86 does this for 32-bit writes; the
//! few x86 forms that leave the register alone — a 32-bit shift by a count
//! that masks to 0, `cmpxchg` on success — get an explicit `mov r32, r32`).
//!
//! # Helpers
//!
//! eBPF r1–r5 live in rdi, rsi, rdx, rcx, r8, the System V argument
//! registers, so a helper call is `mov r9, ctx; call trampoline`. Each
//! trampoline is an `extern "C"` Rust function that runs the helper with the
//! interpreter's semantics: keys, values and hashed bytes on the stack or in
//! the packet are borrowed in place, anything else goes through the same
//! [`crate::helpers::call`] as the interpreter, with a
//! [`crate::helpers::GuestMemory`] that checks pointers against the same
//! regions (so errors, including too many map values in one run, are the
//! interpreter's). `rsp` is 16-byte aligned at every call and r6–r10 live
//! in callee-saved registers (rbx, r13, r14, r15, rbp), so helpers that use
//! SIMD code (hashbrown's probing, for one) or clobber caller-saved
//! registers are safe. A failing helper returns a flag in rdx; the code then
//! leaves through the error exit, which restores `rsp` from the context at
//! any call depth.
//!
//! Verified programs mostly skip that general path. The verifier reports,
//! for every helper call site, the map r1 names on every path and whether
//! every pointer argument lies in the stack or the packet
//! ([`crate::verifier::HelperSite`]), and bounds the lookups of a run
//! ([`VerifyInfo::max_lookups`]). When no site passes a map-value pointer and
//! a run cannot hold more than [`crate::interp::MAX_VALUES`] values, no run
//! needs the list of granted values, so: `map_lookup_elem` in a plain ARRAY
//! is computed inline (index check, multiply, add: no call), in a HASH or
//! LRU_HASH with keys of at most 64 bytes it calls the table's lookup
//! specialised to that key width ([`crate::maps::Map::jit_lookup`]), the
//! other map operations and `hash` call small trampolines that trust their
//! arguments and cannot fail, and `ktime_get_ns` reads the batch clock from
//! the context. A program with a key inside a map value keeps the general path
//! for every call (so those values are listed and read atomically).
//!
//! # Map value memory
//!
//! Verified code reads and writes map values with plain x86 loads and
//! stores and updates them with `lock`-prefixed instructions. Aligned x86
//! accesses up to 8 bytes are single-copy atomic and byte stores never
//! disturb neighbouring bytes, so concurrent workers and the controller's
//! atomic copies never see a torn or lost update that the interpreter's
//! word-wise atomics would not also allow (see [`crate::maps`]' essay on
//! mixed-size atomics, which relies on the same hardware guarantee).
//!
//! # Where there is no JIT
//!
//! On targets other than x86-64 with a System V ABI, [`JitProgram::new`]
//! returns [`JitError::NoJit`] and [`crate::program::Program`] runs the
//! interpreter (PROG_LOAD_REPLY then says `jit = 0`); so it does when
//! compilation fails for any other reason. [`AVAILABLE`] tells which.
//!
//! # Executable memory
//!
//! One anonymous mapping per program, written while read-write, then made
//! read+execute with `mprotect` (never both), unmapped when the
//! [`JitProgram`] is dropped — for a filter, when the last `Arc` of its
//! [`crate::program::Program`] goes, after every worker has finished with it.

use std::sync::Arc;

use crate::helpers::MapTable;
use crate::interp::{Interpreter, LoadError, MAX_FRAMES, RunEnv, RunError};
use crate::isa::Insn;
use crate::maps::{Map, MapDef};
use crate::verifier::{self, VerifyError, VerifyInfo};

pub mod difftest;
#[cfg(all(target_arch = "x86_64", unix))]
mod exec_mem;
#[cfg(all(target_arch = "x86_64", unix))]
mod runtime;
#[cfg(all(test, target_arch = "x86_64", unix))]
mod tests;
#[cfg(all(target_arch = "x86_64", unix))]
mod x86_64;

/// True when this build has a JIT (x86-64 with the System V ABI).
pub const AVAILABLE: bool = cfg!(all(target_arch = "x86_64", unix));

/// Why a program was not compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitError {
    /// There is no JIT for this target.
    #[error("no JIT for this target")]
    NoJit,
    /// The interpreter's loader refused the program.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The verifier refused the program.
    #[error("{0}")]
    Verify(#[from] VerifyError),
    /// An instruction the code generator does not translate (the loader
    /// accepted it: the two disagree).
    #[error("pc {pc}: the JIT cannot compile opcode {op:#04x}")]
    Unsupported {
        /// Instruction index.
        pc: usize,
        /// The opcode byte.
        op: u8,
    },
    /// The instruction encoder refused the generated code.
    #[error("code generation failed: {0}")]
    Encode(String),
    /// Executable memory could not be mapped.
    #[error("cannot map executable memory (errno {errno})")]
    Memory {
        /// The OS error number.
        errno: i32,
    },
    /// The verifier's report does not describe this program.
    #[error("verifier information for {info} instructions given for a program of {len}")]
    InfoMismatch {
        /// `VerifyInfo::n_insns`.
        info: usize,
        /// The program's length.
        len: usize,
    },
}

/// A program compiled to native code, ready to run on any worker (`Send +
/// Sync`; each run uses the worker's [`RunEnv`]).
pub struct JitProgram {
    /// The loader's checked form of the program: its maps, and the engine
    /// for the rare run the native code must not take (a packet beyond the
    /// verifier's [`verifier::MAX_PACKET_LEN`]).
    interp: Interpreter,
    native: Native,
    checked: bool,
    budget: u64,
}

#[cfg(all(target_arch = "x86_64", unix))]
type Native = runtime::Native;

/// The JIT's run context, which each [`RunEnv`] keeps between runs.
#[cfg(all(target_arch = "x86_64", unix))]
pub(crate) use runtime::Ctx as JitCtx;

/// No native code on this target (no value exists).
#[cfg(not(all(target_arch = "x86_64", unix)))]
#[derive(Debug)]
enum Native {}

impl core::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JitProgram")
            .field("slots", &self.interp.len())
            .field("code_bytes", &self.code().len())
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

/// A verified program the JIT did not compile, handed back with the reason
/// so the caller can run it in the interpreter.
#[derive(Debug)]
pub(crate) struct Fallback {
    /// The interpreter, as given.
    pub(crate) interp: Interpreter,
    /// Why there is no native code.
    pub(crate) error: JitError,
}

impl JitProgram {
    /// Verifies `insns` against `maps` and compiles it (the verified mode).
    ///
    /// # Errors
    /// [`JitError::Verify`] or [`JitError::Load`] for a program that cannot
    /// run at all; [`JitError::NoJit`] and the others when only the JIT
    /// cannot take it.
    pub fn new(insns: &[Insn], maps: Vec<Arc<Map>>) -> Result<Self, JitError> {
        let defs: Vec<MapDef> = maps.iter().map(|m| m.def().clone()).collect();
        let info = verifier::verify(insns, &defs)?;
        let interp = Interpreter::new(insns, maps)?.with_zero_flags_at(&info.zero_flags_at)?;
        Self::from_verified(interp, insns, &info).map_err(|f| f.error)
    }

    /// Compiles `insns` without a verifier, in checked mode (see the module
    /// docs): as safe as the interpreter for any program it loads.
    ///
    /// # Errors
    /// [`JitError::Load`] when the interpreter's loader refuses the program;
    /// [`JitError::NoJit`] and the others when only the JIT cannot take it.
    pub fn new_checked(insns: &[Insn], maps: Vec<Arc<Map>>) -> Result<Self, JitError> {
        let interp = Interpreter::new(insns, maps)?;
        Self::build(interp, insns, &[], true, None, None).map_err(|f| f.error)
    }

    /// Compiles a program [`verifier::verify`] accepted with `info`;
    /// `interp` is its interpreter (with `info.zero_flags_at` applied).
    /// The caller guarantees that `info` is the verifier's report on
    /// exactly `insns` and the maps of `interp`.
    pub(crate) fn from_verified(
        interp: Interpreter,
        insns: &[Insn],
        info: &VerifyInfo,
    ) -> Result<Self, Fallback> {
        if info.n_insns != insns.len() || interp.len() != insns.len() {
            return Err(Fallback {
                interp,
                error: JitError::InfoMismatch {
                    info: info.n_insns,
                    len: insns.len(),
                },
            });
        }
        Self::build(interp, insns, &info.zero_flags_at, false, Some(info), None)
    }

    /// `bmi2`: force (or forbid) BMI2 shifts instead of detecting them.
    #[cfg(all(target_arch = "x86_64", unix))]
    fn build(
        interp: Interpreter,
        insns: &[Insn],
        zero_flags: &[usize],
        checked: bool,
        info: Option<&VerifyInfo>,
        bmi2: Option<bool>,
    ) -> Result<Self, Fallback> {
        match runtime::compile(insns, interp.maps(), zero_flags, checked, info, bmi2) {
            Ok(native) => Ok(Self {
                interp,
                native,
                checked,
                budget: crate::interp::DEFAULT_BUDGET,
            }),
            Err(error) => Err(Fallback { interp, error }),
        }
    }

    #[cfg(not(all(target_arch = "x86_64", unix)))]
    fn build(
        interp: Interpreter,
        _insns: &[Insn],
        _zero_flags: &[usize],
        _checked: bool,
        _info: Option<&VerifyInfo>,
        _bmi2: Option<bool>,
    ) -> Result<Self, Fallback> {
        Err(Fallback {
            interp,
            error: JitError::NoJit,
        })
    }

    /// The same program with an instruction budget of `budget` slots per
    /// run. Only checked code counts instructions; verified code is bounded
    /// by the verifier ([`VerifyInfo::max_insns_executed`]).
    pub fn with_budget(mut self, budget: u64) -> Self {
        self.budget = budget;
        self.interp = self.interp.with_budget(budget);
        self
    }

    /// True in checked mode.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// The program's length in instruction slots.
    pub fn len(&self) -> usize {
        self.interp.len()
    }

    /// Always false: an empty program does not load.
    pub fn is_empty(&self) -> bool {
        self.interp.is_empty()
    }

    /// The program's maps.
    pub fn maps(&self) -> &MapTable {
        self.interp.maps()
    }

    /// The generated machine code.
    pub fn code(&self) -> &[u8] {
        #[cfg(all(target_arch = "x86_64", unix))]
        return self.native.code();
        #[cfg(not(all(target_arch = "x86_64", unix)))]
        match self.native {}
    }

    /// Runs the program on `mem`, which checked code may read and write
    /// (the conformance plugin's mode; verified code never writes it).
    ///
    /// # Errors
    /// A [`RunError`], the same the interpreter reports.
    #[inline]
    pub fn run(&self, mem: &mut [u8], env: &mut RunEnv) -> Result<u64, RunError> {
        let g = Guest {
            pkt: mem.as_mut_ptr(),
            len: mem.len(),
            writable: true,
        };
        self.exec(g, env)
    }

    /// Runs the program on a packet it may only read (the filter mode).
    ///
    /// # Errors
    /// A [`RunError`], the same the interpreter reports.
    #[inline]
    pub fn run_readonly(&self, mem: &[u8], env: &mut RunEnv) -> Result<u64, RunError> {
        // Never written through: verified code does not store to the
        // packet, checked code stores only through the trampoline, which
        // refuses (`writable` is false).
        let g = Guest {
            pkt: mem.as_ptr().cast_mut(),
            len: mem.len(),
            writable: false,
        };
        self.exec(g, env)
    }

    #[inline]
    fn exec(&self, g: Guest, env: &mut RunEnv) -> Result<u64, RunError> {
        if !self.checked && g.len as u64 > verifier::MAX_PACKET_LEN {
            // The verifier's length arithmetic assumes at most 4 GiB.
            return self.exec_interp(g, env);
        }
        #[cfg(all(target_arch = "x86_64", unix))]
        return runtime::run(self, g, env);
        #[cfg(not(all(target_arch = "x86_64", unix)))]
        match self.native {}
    }

    /// [`JitProgram::exec`] in the interpreter.
    #[cold]
    #[inline(never)]
    fn exec_interp(&self, g: Guest, env: &mut RunEnv) -> Result<u64, RunError> {
        if g.writable {
            // SAFETY: `pkt` came from `run`'s `&mut [u8]` of `len` bytes.
            self.interp.run(
                unsafe { core::slice::from_raw_parts_mut(g.pkt, g.len) },
                env,
            )
        } else {
            // SAFETY: `pkt` came from `run_readonly`'s `&[u8]`.
            self.interp
                .run_readonly(unsafe { core::slice::from_raw_parts(g.pkt, g.len) }, env)
        }
    }
}

/// The memory a run works on: `len` bytes at `pkt`, written through only
/// when `writable` (from `run`'s `&mut [u8]`).
#[derive(Debug, Clone, Copy)]
struct Guest {
    pkt: *mut u8,
    len: usize,
    writable: bool,
}

/// Fuzz entry point (the `jit_diff` target): builds a verified and an
/// unverified case from `data` and panics when the engines disagree, run
/// alone and taking turns in one environment (inside a batch guard when
/// the first byte is odd).
#[cfg(fuzzing)]
pub fn fuzz_diff(data: &[u8]) {
    let cases = [
        difftest::verified_case(data),
        difftest::unverified_case(data),
    ];
    for case in &cases {
        if let Err(m) = difftest::check(case) {
            panic!("JIT and interpreter disagree: {m}");
        }
    }
    let batch = data.first().is_some_and(|b| b & 1 == 1);
    if let Err(m) = difftest::check_shared(&cases, batch) {
        panic!("JIT and interpreter disagree (shared environment): {m}");
    }
}

#[cfg(all(test, target_arch = "x86_64", unix))]
impl JitProgram {
    /// Test hook: compile with BMI2 shifts forced on or off.
    pub(crate) fn with_bmi2(
        insns: &[Insn],
        maps: Vec<Arc<Map>>,
        checked: bool,
        bmi2: bool,
    ) -> Result<Self, JitError> {
        let defs: Vec<MapDef> = maps.iter().map(|m| m.def().clone()).collect();
        let (interp, info) = if checked {
            (Interpreter::new(insns, maps)?, None)
        } else {
            let info = verifier::verify(insns, &defs)?;
            let i = Interpreter::new(insns, maps)?.with_zero_flags_at(&info.zero_flags_at)?;
            (i, Some(info))
        };
        let zero = info.as_ref().map_or(&[][..], |i| &i.zero_flags_at[..]);
        Self::build(interp, insns, zero, checked, info.as_ref(), Some(bmi2)).map_err(|f| f.error)
    }
}

const _: () = assert!(MAX_FRAMES == crate::verifier::MAX_CALL_DEPTH);
