//! What compiled code runs with: the run context, the helper and checked
//! memory trampolines, and the run wrapper.
//!
//! # The context
//!
//! [`Ctx`] lives in the worker's [`RunEnv`] from one run to the next (a
//! context built per run cost more than a short filter's own code); the
//! native code keeps its address in r12 when it needs it and passes it to
//! the trampolines. Its first fields are read and written by the native
//! code at fixed offsets (`offset_of!`); the rest is only for the
//! trampolines: the regions valid in the run, the maps, the run guard, the
//! clock, and pointers to what the run borrows from the environment.
//!
//! A run writes only what the code it runs can read (see `Setup`): nothing
//! for code that calls no trampoline reading the context, the guard pointer
//! for code whose map helpers are all direct, and the Rust-only fields for
//! code with general trampolines. The stack bounds and the clock stay from
//! [`Ctx::new`] and [`RunEnv::set_time`]; `err_kind` is 0 between runs, as
//! only an error sets it and the error path clears it, with `stack_lo`,
//! which an error inside a called function leaves deeper.
//!
//! # Regions
//!
//! Trampolines check guest addresses exactly as the interpreter does: the
//! live stack frames (`[stack_lo, stack_top)`, `stack_lo` kept current by the
//! native code at each BPF-to-BPF call and return), the packet, and the map
//! values looked up in this run (at most [`MAX_VALUES`]). So a helper never
//! reads outside them even if the verifier were wrong, value memory is read
//! with atomics, and a program that looks up too many values fails the same
//! way in both engines.
//!
//! # The eBPF stack
//!
//! 4 KiB (eight 512-byte frames): the worker's stack buffer in its
//! [`RunEnv`], the one the interpreter uses, reused across runs and not
//! initialised: zeroing 4 KiB per packet would cost more than a filter, and
//! a verified program never reads stack bytes it did not write. Checked runs
//! (unverified programs) zero it first, so what they may read is
//! deterministic. (A buffer on the native stack would make every run's frame
//! larger than a page, which costs a stack probe per run.) The values granted
//! to the run are listed in the environment too, in the interpreter's list
//! (kept across runs, so a run allocates nothing); at the direct call sites
//! (see `direct_calls`) nothing is listed at all.

use core::ptr::NonNull;

use super::exec_mem::ExecMem;
use super::x86_64::{self as cg, LOAD_SIGNED, err_kind};
use super::{Guest, JitError, JitProgram};
use crate::helpers::{
    self, GuestMemory, Helper, HelperCtx, HelperError, MapTable, Prng, TimeSource, shared,
};
use crate::interp::{
    MAX_FRAMES, MAX_VALUES, RunEnv, RunError, STACK_BYTES as ENV_STACK_BYTES, ValueList, within,
};
use crate::isa::{self, Insn, atomic};
use crate::maps::{Map, RunGuard};
use crate::verifier::VerifyInfo;

const FRAME: u64 = isa::STACK_SIZE as u64;
const STACK_WORDS: usize = isa::STACK_SIZE * MAX_FRAMES / 8;
const STACK_BYTES: u64 = (STACK_WORDS * 8) as u64;
// The run uses the environment's stack buffer.
const _: () = assert!(STACK_BYTES as usize == ENV_STACK_BYTES);

/// The compiled code of one program.
#[derive(Debug)]
pub(super) struct Native {
    mem: ExecMem,
    /// The code's entry (the start of `mem`).
    entry: EntryFn,
    /// What a run sets up before calling the code.
    setup: Setup,
    /// The program calls a map helper: runs hold a [`RunGuard`].
    uses_maps: bool,
}

/// What a run of the code needs besides its arguments and the context's
/// lasting fields (stack bounds, clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Nothing: the code calls no trampoline that reads the context and
    /// needs no pin (it may look up ARRAYs inline and call `hash`).
    None,
    /// The run guard: the code calls direct map trampolines, which read
    /// only the guard from the context.
    Guard,
    /// The Rust-only fields for the general trampolines ([`setup_general`])
    /// and, if the program uses maps, the guard.
    General,
}

impl Native {
    /// The machine code.
    pub(super) fn code(&self) -> &[u8] {
        self.mem.code()
    }
}

/// The run context (see the module essay). `repr(C)` and the field offsets
/// in [`layout`] are what the native code relies on.
///
/// One per worker, kept in its [`RunEnv`] between runs, so that a run
/// writes only what changes and what its code reads (see the module essay)
/// instead of building the whole context: the stack bounds stay, the clock
/// is set by [`RunEnv::set_time`]. The Rust-only pointers are set at the
/// start of a run whose trampolines read them, from borrows that outlive
/// it, and are dereferenced only during that run, by the trampolines;
/// between runs, and in runs whose trampolines do not read them, they are
/// stale and unused.
#[repr(C)]
pub(crate) struct Ctx {
    // ---- read and written by native code ----
    /// r10 of the main frame (the end of the environment's stack buffer).
    stack_top: u64,
    /// Bottom of the deepest live frame.
    stack_lo: u64,
    /// Lowest r10 a callee may get ([`MAX_FRAMES`] frames in all).
    depth_limit: u64,
    /// Instruction index of a run error.
    err_pc: u64,
    /// [`err_kind`] of a run error, 0 for none.
    err_kind: u64,
    /// The batch clock, when `now_set` is 1 (read by direct `ktime_get_ns`).
    now: u64,
    now_set: u64,
    /// Words only the native code uses (checked runs set them up first).
    work: Work,
    // ---- Rust only ----
    stack: *mut u8,
    pkt: *mut u8,
    pkt_len: u64,
    writable: bool,
    /// Checked mode (an unverified program): map handles are searched for
    /// in `maps`, not trusted.
    checked: bool,
    /// The environment's list of granted values, shared with the
    /// interpreter.
    values: *mut ValueList,
    maps: *const MapTable,
    /// The run's guard; null when the program uses no map.
    guard: *const RunGuard,
    /// The guard of runs inside a batch on this worker (see
    /// [`RunGuard::batch_witness`]): `guard` points here only during such
    /// runs.
    witness: RunGuard,
    /// The worker's time source (a copy, set with the clock).
    time: TimeSource,
    /// The worker's `get_prandom_u32` generator.
    prng: *mut Prng,
    /// The error a trampoline reported (a helper's `pc` is filled in from
    /// `err_pc`).
    fault: Option<RunError>,
}

// SAFETY: the raw pointers are only dereferenced during a run, on the
// thread running it, which set them from borrows it holds for the whole
// run; between runs nothing reads them. `witness` pins nothing (it is not
// `Send` only because a pinning `RunGuard` is not).
unsafe impl Send for Ctx {}

impl Ctx {
    /// The context of worker `cpu`'s environment, whose stack buffer
    /// (`STACK_BYTES`) starts at `stack`.
    pub(crate) fn new(stack: *mut u8, cpu: usize) -> Self {
        let top = stack.addr() as u64 + STACK_BYTES;
        let mut ctx = Self {
            stack_top: top,
            stack_lo: top - FRAME,
            depth_limit: top - FRAME * (MAX_FRAMES as u64 - 1),
            err_pc: 0,
            err_kind: 0,
            now: 0,
            now_set: 0,
            work: Work {
                entry_rsp: 0,
                scratch: 0,
                executed: 0,
                budget: 0,
                saved: [0; 6],
            },
            stack,
            pkt: core::ptr::null_mut(),
            pkt_len: 0,
            writable: false,
            checked: false,
            values: core::ptr::null_mut(),
            maps: core::ptr::null(),
            guard: core::ptr::null(),
            // SAFETY: `run` points `guard` at it only for runs inside a
            // batch.
            witness: unsafe { RunGuard::batch_witness(cpu) },
            time: TimeSource::Monotonic,
            prng: core::ptr::null_mut(),
            fault: None,
        };
        ctx.set_time(TimeSource::Monotonic);
        ctx
    }

    /// Follows [`RunEnv::set_time`].
    pub(crate) fn set_time(&mut self, time: TimeSource) {
        self.time = time;
        (self.now, self.now_set) = match time {
            TimeSource::Batch(t) => (t, 1),
            TimeSource::Monotonic => (0, 0),
        };
    }

    /// The run's map table and guard, for a trampoline.
    ///
    /// # Safety
    /// Only during a run (the pointers were set by `run_native` from
    /// borrows that outlive it), and the references must not outlive the
    /// trampoline's call.
    unsafe fn run_refs<'r>(&self) -> (&'r MapTable, Option<&'r RunGuard>) {
        // SAFETY: per the contract.
        unsafe { (&*self.maps, self.guard.as_ref()) }
    }

    /// The run's guard, for a direct trampoline (runs of code without
    /// general trampolines do not set `maps`).
    ///
    /// # Safety
    /// As for [`Ctx::run_refs`].
    unsafe fn run_guard<'r>(&self) -> Option<&'r RunGuard> {
        // SAFETY: per the contract: null or the run's guard.
        unsafe { self.guard.as_ref() }
    }
}

/// The native code's own words in the context (see [`Ctx::work`]).
#[repr(C)]
struct Work {
    /// `rsp` after the entry's pushes, for the error exit (written by the
    /// entry of code with BPF-to-BPF calls, the only code that moves it).
    entry_rsp: u64,
    /// Where the fetch-and-logic loops park r0 (written before it is read).
    scratch: u64,
    /// Checked mode: executed slots minus the start of the current segment
    /// (see the code generator's `acct`).
    executed: i64,
    /// Checked mode: the instruction budget.
    budget: i64,
    /// Checked mode: r0–r5 across trampoline calls.
    saved: [u64; 6],
}

fn layout() -> cg::Layout {
    use core::mem::offset_of;
    // The context is far smaller than 2 GiB: every offset fits.
    let off = |o: usize| o as i32;
    cg::Layout {
        stack_top: off(offset_of!(Ctx, stack_top)),
        stack_lo: off(offset_of!(Ctx, stack_lo)),
        depth_limit: off(offset_of!(Ctx, depth_limit)),
        entry_rsp: off(offset_of!(Ctx, work) + offset_of!(Work, entry_rsp)),
        err_pc: off(offset_of!(Ctx, err_pc)),
        err_kind: off(offset_of!(Ctx, err_kind)),
        scratch: off(offset_of!(Ctx, work) + offset_of!(Work, scratch)),
        executed: off(offset_of!(Ctx, work) + offset_of!(Work, executed)),
        budget: off(offset_of!(Ctx, work) + offset_of!(Work, budget)),
        saved: off(offset_of!(Ctx, work) + offset_of!(Work, saved)),
        now: off(offset_of!(Ctx, now)),
        now_set: off(offset_of!(Ctx, now_set)),
    }
}

/// What a trampoline returns: `{ rax, rdx }` in the System V ABI.
#[repr(C)]
pub(super) struct Ret {
    value: u64,
    failed: u64,
}

const OK0: Ret = Ret {
    value: 0,
    failed: 0,
};
const FAILED: Ret = Ret {
    value: 0,
    failed: 1,
};

type HelperFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, *mut Ctx) -> Ret;
type AccessFn = unsafe extern "C" fn(*mut Ctx, u64, u64, u64, u64, u64) -> Ret;
type EntryFn = unsafe extern "C" fn(*mut u8, u64, *mut Ctx) -> u64;
type DirectKtimeFn = unsafe extern "C" fn(*const Ctx) -> u64;
type DirectLookupFn = unsafe extern "C" fn(u64, u64, *mut Ctx) -> u64;
type DirectUpdateFn = unsafe extern "C" fn(u64, u64, u64, u64, *mut Ctx) -> u64;
type DirectHashFn = unsafe extern "C" fn(u64, u64) -> u64;

fn targets() -> cg::Targets {
    let h = |f: HelperFn| f as usize as u64;
    let mut helpers = [0u64; 8];
    helpers[1] = h(helper_tramp::<{ isa::helper::MAP_LOOKUP_ELEM }>);
    helpers[2] = h(helper_tramp::<{ isa::helper::MAP_UPDATE_ELEM }>);
    helpers[3] = h(helper_tramp::<{ isa::helper::MAP_DELETE_ELEM }>);
    helpers[5] = h(helper_tramp::<{ isa::helper::KTIME_GET_NS }>);
    helpers[6] = h(helper_tramp::<{ isa::helper::HASH }>);
    helpers[7] = h(helper_tramp::<{ isa::helper::GET_PRANDOM_U32 }>);
    let a = |f: AccessFn| f as usize as u64;
    cg::Targets {
        helpers,
        load: a(checked_load),
        store: a(checked_store),
        atomic: a(checked_atomic),
        ktime: direct_ktime as DirectKtimeFn as usize as u64,
    }
}

/// The helper calls of a verified program that the code can make directly
/// (see [`cg::Direct`]), by ascending pc. Only when the verifier proved that
/// no helper gets a pointer into a map value and that a run cannot look up
/// more than [`MAX_VALUES`] values: then no run needs the list of values it
/// holds (which only the general trampolines keep), and the interpreter's
/// [`HelperError::TooManyValues`] cannot happen, so skipping it changes
/// nothing.
fn direct_calls(info: &VerifyInfo, maps: &MapTable) -> Vec<(usize, cg::Direct)> {
    if info.max_lookups > MAX_VALUES || !info.helper_sites.iter().all(|s| s.plain_args) {
        return Vec::new();
    }
    let trusted = |f: usize, ctx_arg: Option<usize>| cg::Direct::Trusted {
        addr: f as u64,
        ctx_arg,
    };
    info.helper_sites
        .iter()
        .filter_map(|s| {
            let map = s.map.and_then(|m| maps.maps().get(m as usize));
            let d = match (s.helper, map) {
                (isa::helper::MAP_LOOKUP_ELEM, Some(m)) => match m.array_layout() {
                    // The inline code reads the key as one u32 (array keys
                    // are 4 bytes: `Map::new` refuses others).
                    Some(a) if m.def().key_size == 4 => cg::Direct::ArrayLookup {
                        base: a.base.as_ptr().addr() as u64,
                        max_entries: a.max_entries,
                        stride: u32::try_from(a.stride).ok()?,
                    },
                    _ => match m.jit_lookup() {
                        Some((f, table)) => cg::Direct::MapLookup {
                            addr: f as usize as u64,
                            table: table.addr() as u64,
                        },
                        None => trusted(direct_lookup as DirectLookupFn as usize, Some(2)),
                    },
                },
                (isa::helper::MAP_UPDATE_ELEM, Some(_)) => {
                    trusted(direct_update as DirectUpdateFn as usize, Some(4))
                }
                (isa::helper::MAP_DELETE_ELEM, Some(_)) => {
                    trusted(direct_delete as DirectLookupFn as usize, Some(2))
                }
                (isa::helper::HASH, _) => trusted(direct_hash as DirectHashFn as usize, None),
                (isa::helper::KTIME_GET_NS, _) => cg::Direct::Ktime,
                _ => return None,
            };
            Some((s.pc, d))
        })
        .collect()
}

/// Compiles `insns` (accepted by the interpreter's loader; verified, with
/// the verifier's report `info`, unless `checked`).
pub(super) fn compile(
    insns: &[Insn],
    maps: &MapTable,
    zero_flags: &[usize],
    checked: bool,
    info: Option<&VerifyInfo>,
    bmi2: Option<bool>,
) -> Result<Native, JitError> {
    let handles: Vec<u64> = (0..maps.maps().len())
        .filter_map(|i| maps.handle(i))
        .collect();
    let direct = match info {
        Some(info) if !checked => direct_calls(info, maps),
        _ => Vec::new(),
    };
    let mut zero_flags = zero_flags.to_vec();
    zero_flags.sort_unstable();
    let opts = cg::Options {
        checked,
        bmi2: bmi2.unwrap_or_else(|| std::arch::is_x86_feature_detected!("bmi2")),
        zero_flags: &zero_flags,
        map_handles: &handles,
        direct: &direct,
        layout: layout(),
        targets: targets(),
    };
    let out = cg::compile(insns, &opts).map_err(|e| match e {
        cg::CompileError::Opcode { pc, op } => JitError::Unsupported { pc, op },
        cg::CompileError::Encode(e) => JitError::Encode(e.to_string()),
        cg::CompileError::Unsaved => {
            JitError::Encode("the code uses a callee-saved register it does not save".into())
        }
        cg::CompileError::Fused { pc } => JitError::Encode(format!(
            "a jump lands inside the instructions fused at {pc}"
        )),
    })?;
    let mem = ExecMem::new(&out.code).map_err(|errno| JitError::Memory { errno })?;
    // SAFETY: the mapping holds code generated for this entry signature
    // (System V: packet, length, context); `Native` keeps it mapped as long
    // as `entry` can be called.
    let entry = unsafe { core::mem::transmute::<*const u8, EntryFn>(mem.as_ptr()) };
    Ok(Native {
        mem,
        entry,
        setup: if out.general || checked {
            Setup::General
        } else if out.uses_maps {
            Setup::Guard
        } else {
            Setup::None
        },
        uses_maps: out.uses_maps,
    })
}

/// Runs `prog`'s compiled code on the packet `g`.
///
/// Inlined so that the common `Ok(r0)` is built in registers; what only some
/// programs need (the general trampolines' context, checked mode's setup,
/// the run guard) is behind flags of the program, and the rare errors are
/// out of line.
///
/// Most of the context stays from one run to the next (see [`Ctx`]): the
/// stack bounds, the clock, `err_kind` (0 between runs: only an error sets
/// it, and [`run_error`] clears it together with what an error exit can
/// leave behind). So a run of a program with neither helpers nor maps (or
/// whose only map helpers are inline ARRAY lookups) writes nothing but the
/// call's arguments; one with only direct map helpers writes the guard
/// pointer.
#[inline(always)]
pub(super) fn run(prog: &JitProgram, g: Guest, env: &mut RunEnv) -> Result<u64, RunError> {
    let native = &prog.native;
    let r0 = match native.setup {
        // SAFETY: no trampoline the code calls reads the context.
        Setup::None => unsafe { call(native, g, env.jit_ctx()) },
        // `RunGuard::enter_run` with the batch's guard made ahead of time:
        // the run goes from start to end without returning to the caller.
        Setup::Guard if RunGuard::in_batch() => {
            let ctx = env.jit_ctx();
            ctx.guard = &raw const ctx.witness;
            // SAFETY: the direct trampolines read only the guard, set to
            // the run's.
            unsafe { call(native, g, ctx) }
        }
        _ => run_set_up(prog, g, env),
    };
    let ctx = env.jit_ctx();
    if ctx.err_kind != 0 {
        return Err(run_error(ctx, prog.budget));
    }
    Ok(r0)
}

/// Calls the code.
///
/// # Safety
/// The trampolines the code calls find in the context what they read:
/// what [`setup_general`] sets for the general ones, the guard for the
/// direct map helpers (the clock is always current).
#[inline(always)]
unsafe fn call(native: &Native, g: Guest, ctx: &mut Ctx) -> u64 {
    let ctx: *mut Ctx = ctx;
    // SAFETY: `entry` is the code's entry (see `compile`), mapped while
    // `native` is borrowed. The code accesses memory only inside the
    // regions of this run: a verified program by the verifier's guarantees
    // (packet reads below `len`, stack accesses inside its frame of the
    // 4 KiB buffer at `stack_top`, map values inside `value_size` while the
    // guard pins them), a checked one through the checking trampolines;
    // every jump lands inside the code; calls are limited to MAX_FRAMES
    // frames of native stack; the trampolines have what they read (the
    // caller's contract); the context outlives the call and nothing else
    // touches it meanwhile.
    unsafe { (native.entry)(g.pkt, g.len as u64, ctx) }
}

/// [`run`] for general trampolines, or for a guard that must pin: sets up
/// what the trampolines read and holds the run guard (out of line, so that
/// the other runs do not pay for its registers).
#[inline(never)]
fn run_set_up(prog: &JitProgram, g: Guest, env: &mut RunEnv) -> u64 {
    let native = &prog.native;
    if native.setup == Setup::General {
        setup_general(prog, g, env);
    }
    let ctx = env.jit_ctx();
    let mut pinned = None;
    if native.uses_maps {
        // `RunGuard::enter_run` with the batch's guard made ahead of time:
        // the run goes from start to end without returning to the caller.
        ctx.guard = if RunGuard::in_batch() {
            &raw const ctx.witness
        } else {
            pinned.insert(RunGuard::enter(ctx.witness.cpu()))
        };
    }
    // SAFETY: `setup_general` ran for code with general trampolines, and
    // `guard` is the run's guard (or null without map helpers).
    unsafe { call(native, g, ctx) }
}

/// Sets the context's fields for the general trampolines, which read
/// guest memory (stack, packet, granted values), resolve map handles and
/// draw random numbers; for checked code also the budget and a zeroed
/// stack. `guard` is set by [`run`] (null here).
#[inline]
fn setup_general(prog: &JitProgram, g: Guest, env: &mut RunEnv) {
    let (checked, budget) = (prog.checked, prog.budget);
    // The worker's buffer, left as the previous run left it: a verified
    // program never reads a stack byte it did not write (the verifier tracks
    // every byte, helper arguments included), and 4 KiB of zeros per packet
    // would cost more than a filter. Checked runs (unverified programs) get
    // zeros, so what they may read is deterministic.
    let (ctx, stack, prng, values) = env.jit_parts();
    if checked {
        // SAFETY: the buffer is STACK_BYTES long (asserted above).
        unsafe { stack.write_bytes(0, STACK_BYTES as usize) };
        ctx.work = Work {
            entry_rsp: 0,
            scratch: 0,
            executed: 0,
            budget: i64::try_from(budget).unwrap_or(i64::MAX).min(i64::MAX / 2),
            saved: [0; 6],
        };
    }
    ctx.stack = stack;
    ctx.pkt = g.pkt;
    ctx.pkt_len = g.len as u64;
    ctx.writable = g.writable;
    ctx.checked = checked;
    ctx.values = values;
    ctx.maps = prog.interp.maps();
    ctx.guard = core::ptr::null();
    ctx.prng = prng;
}

/// The error the native code reported. Also resets what an error exit
/// leaves in the context: `err_kind`, and `stack_lo` when the error came
/// from a called function's frame.
#[cold]
#[inline(never)]
fn run_error(ctx: &mut Ctx, budget: u64) -> RunError {
    let pc = usize::try_from(ctx.err_pc).unwrap_or(usize::MAX);
    let kind = core::mem::replace(&mut ctx.err_kind, 0);
    ctx.stack_lo = ctx.stack_top - FRAME;
    match kind {
        err_kind::FELL_OFF => RunError::FellOffEnd { pc },
        err_kind::CALL_DEPTH => RunError::CallDepthExceeded {
            pc,
            max: MAX_FRAMES,
        },
        err_kind::BUDGET => RunError::BudgetExceeded { pc, budget },
        _ => match ctx.fault.take() {
            Some(RunError::Helper { helper, error, .. }) => RunError::Helper { pc, helper, error },
            Some(e) => e,
            // Unreachable: the native code sets the other kinds only after
            // a trampoline reported a fault.
            None => RunError::FellOffEnd { pc },
        },
    }
}

// ------------------------------------------------------------- regions

/// Where a checked access lands.
enum Loc {
    /// Stack or packet (only this run touches them): plain accesses.
    Plain(*mut u8, bool),
    /// A map value: atomic accesses only.
    Shared {
        base: *mut u8,
        vlen: usize,
        off: usize,
    },
}

/// The regions valid at this point of the run.
struct Mem<'c> {
    stack: *mut u8,
    stack_addr: u64,
    lo: u64,
    top: u64,
    pkt: *mut u8,
    pkt_addr: u64,
    pkt_len: u64,
    writable: bool,
    values: &'c mut ValueList,
}

impl Ctx {
    fn mem(&mut self) -> Mem<'_> {
        Mem {
            stack: self.stack,
            stack_addr: self.stack.addr() as u64,
            lo: self.stack_lo,
            top: self.stack_top,
            pkt: self.pkt,
            pkt_addr: self.pkt.addr() as u64,
            pkt_len: self.pkt_len,
            writable: self.writable,
            // SAFETY: only called during a run (by trampolines), when
            // `values` is the running environment's list, borrowed by
            // `run_native` for the whole run; the `Mem` does not outlive the
            // trampoline's call.
            values: unsafe { &mut *self.values },
        }
    }
}

enum Fault {
    OutOfBounds,
    ReadOnly,
    Misaligned,
}

impl Fault {
    fn at(self, pc: usize, addr: u64, len: u8) -> RunError {
        match self {
            Self::OutOfBounds => RunError::OutOfBounds {
                pc,
                addr,
                len,
                write: true,
            },
            Self::ReadOnly => RunError::ReadOnlyPacket { pc, addr, len },
            Self::Misaligned => RunError::MisalignedAtomic { pc, addr, len },
        }
    }
}

impl Mem<'_> {
    /// The `n` bytes at `addr` when they lie in the stack or the packet.
    #[inline]
    fn plain(&self, addr: u64, n: usize) -> Option<&[u8]> {
        match self.locate(addr, n as u64)? {
            // SAFETY: `locate` checked n bytes at p, in memory that nothing
            // writes while this borrow lives (the native code is waiting
            // for the helper; no other thread sees the stack or packet).
            Loc::Plain(p, _) => Some(unsafe { core::slice::from_raw_parts(p, n) }),
            Loc::Shared { .. } => None,
        }
    }

    #[inline]
    fn locate(&self, addr: u64, n: u64) -> Option<Loc> {
        // The native code keeps lo within [stack_addr, top): the pointer
        // arithmetic below stays inside the buffer.
        if self.lo >= self.stack_addr
            && self.lo <= self.top
            && self.top == self.stack_addr + STACK_BYTES
            && let Some(a) = within(addr, self.lo, self.top - self.lo, n)
        {
            let off = (self.lo - self.stack_addr) as usize + a;
            // SAFETY: off + n <= STACK_BYTES: inside the stack buffer.
            return Some(Loc::Plain(unsafe { self.stack.add(off) }, true));
        }
        if let Some(a) = within(addr, self.pkt_addr, self.pkt_len, n) {
            // SAFETY: a + n <= pkt_len: inside the packet.
            return Some(Loc::Plain(unsafe { self.pkt.add(a) }, self.writable));
        }
        self.values.find(addr, n).map(|(v, off)| Loc::Shared {
            base: v.ptr.as_ptr(),
            vlen: v.len as usize,
            off,
        })
    }

    fn load(&self, addr: u64, n: usize) -> Option<u64> {
        Some(match self.locate(addr, n as u64)? {
            Loc::Plain(p, _) => {
                let mut b = [0u8; 8];
                // SAFETY: `locate` checked n <= 8 bytes at p.
                unsafe { core::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), n) };
                u64::from_le_bytes(b)
            }
            // SAFETY: a granted value, pinned by the run's guard; off + n <=
            // vlen.
            Loc::Shared { base, vlen, off } => unsafe { shared::load(base, vlen, off, n) },
        })
    }

    fn store(&self, addr: u64, n: usize, v: u64) -> Result<(), Fault> {
        match self.locate(addr, n as u64) {
            None => Err(Fault::OutOfBounds),
            Some(Loc::Plain(_, false)) => Err(Fault::ReadOnly),
            Some(Loc::Plain(p, true)) => {
                let b = v.to_le_bytes();
                // SAFETY: `locate` checked n bytes at p, writable in this run.
                unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), p, n) };
                Ok(())
            }
            Some(Loc::Shared { base, vlen, off }) => {
                // SAFETY: a granted value; off + n <= vlen.
                unsafe { shared::store(base, vlen, off, n, v) };
                Ok(())
            }
        }
    }

    fn rmw(&self, addr: u64, n: usize, f: &dyn Fn(u64) -> Option<u64>) -> Result<u64, Fault> {
        let loc = self.locate(addr, n as u64).ok_or(Fault::OutOfBounds)?;
        if matches!(loc, Loc::Plain(_, false)) {
            return Err(Fault::ReadOnly);
        }
        if !addr.is_multiple_of(n as u64) {
            return Err(Fault::Misaligned);
        }
        Ok(match loc {
            Loc::Plain(p, _) => {
                let mut b = [0u8; 8];
                // SAFETY: `locate` checked n bytes at p; only this run
                // accesses stack and packet, so a plain read-modify-write is
                // atomic for every observer.
                unsafe { core::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), n) };
                let old = u64::from_le_bytes(b);
                if let Some(new) = f(old) {
                    let nb = new.to_le_bytes();
                    // SAFETY: as above.
                    unsafe { core::ptr::copy_nonoverlapping(nb.as_ptr(), p, n) };
                }
                old
            }
            // SAFETY: a granted value; off is n-aligned (values are 8-byte
            // aligned) and off + n <= vlen.
            Loc::Shared { base, vlen, off } => unsafe { shared::rmw(base, vlen, off, n, f) },
        })
    }
}

impl GuestMemory for Mem<'_> {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.locate(addr, out.len() as u64) {
            None => false,
            Some(Loc::Plain(p, _)) => {
                // SAFETY: `locate` checked out.len() bytes at p.
                unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
                true
            }
            Some(Loc::Shared { base, vlen, off }) => {
                // SAFETY: a granted value; off + len <= vlen.
                unsafe { shared::read(base, vlen, off, out) };
                true
            }
        }
    }

    fn readable(&self, addr: u64, len: u64) -> bool {
        self.locate(addr, len).is_some()
    }

    fn grant_value(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        self.values.grant(ptr, len).is_some()
    }

    fn max_values(&self) -> usize {
        MAX_VALUES
    }
}

// --------------------------------------------------------- trampolines

/// `get_prandom_u32` from the worker's own generator, so the JIT draws
/// exactly the interpreter's sequence.
fn prandom(prng: &mut Prng) -> u64 {
    u64::from(prng.next_u32())
}

impl Ctx {
    /// Inlined into each helper's trampoline, where `helper` is a constant.
    #[inline(always)]
    fn helper(&mut self, helper: Helper, args: &[u64; 5]) -> Result<u64, HelperError> {
        match helper {
            Helper::KtimeGetNs => Ok(self.time.now_ns()),
            // SAFETY: during a run, `prng` is the running environment's
            // generator, borrowed by `run_native` for the whole run.
            Helper::GetPrandomU32 => Ok(prandom(unsafe { &mut *self.prng })),
            _ => {
                if let Some(r) = self.fast_helper(helper, args) {
                    return r;
                }
                self.slow_helper(helper, args)
            }
        }
    }

    /// The common case of the map and hash helpers without copies: keys,
    /// values and hashed bytes on the stack or in the packet are borrowed
    /// in place (only this run touches that memory). `None` (a bad handle
    /// or pointer, or bytes in a map value) leaves the call to
    /// [`helpers::call`], which then reports exactly the interpreter's
    /// error or reads the value memory atomically.
    #[inline(always)]
    fn fast_helper(&mut self, helper: Helper, args: &[u64; 5]) -> Option<Result<u64, HelperError>> {
        if helper == Helper::Hash {
            let len = usize::try_from(args[1]).ok()?;
            let mem = self.mem();
            return Some(Ok(u64::from(helpers::hash(mem.plain(args[0], len)?))));
        }
        // SAFETY: called by a trampoline during a run; the references stay
        // inside this call.
        let (maps, guard) = unsafe { self.run_refs() };
        let map = map_of(self.checked, maps, args[0])?;
        let guard = guard?;
        let key_size = map.def().key_size as usize;
        let mut mem = self.mem();
        let key = mem.plain(args[1], key_size)?;
        Some(match helper {
            Helper::MapLookupElem => match map.lookup(key, guard) {
                None => Ok(0),
                Some(p) => {
                    if mem.grant_value(p, map.def().value_size as usize) {
                        Ok(p.as_ptr().addr() as u64)
                    } else {
                        Err(HelperError::TooManyValues { max: MAX_VALUES })
                    }
                }
            },
            Helper::MapDeleteElem => Ok(map
                .delete(key, guard)
                .map_or_else(helpers::errno_of, |()| 0)),
            _ => {
                let value = mem.plain(args[2], map.def().value_size as usize)?;
                Ok(map
                    .update(key, value, args[3], guard)
                    .map_or_else(helpers::errno_of, |()| 0))
            }
        })
    }

    #[inline(never)]
    fn slow_helper(&mut self, helper: Helper, args: &[u64; 5]) -> Result<u64, HelperError> {
        // Map and hash helpers never draw random numbers.
        let mut unused = Prng::new(0);
        // SAFETY: called by a trampoline during a run; the references stay
        // inside this call.
        let (maps, guard) = unsafe { self.run_refs() };
        let mut hctx = HelperCtx {
            maps,
            guard,
            time: self.time,
            prng: &mut unused,
        };
        let mut mem = self.mem();
        helpers::call(helper, args, &mut hctx, &mut mem)
    }
}

/// The map behind a handle. Checked mode searches the table (a register
/// may hold anything). A verified program passes only a map reference
/// loaded by `lddw map:N` (the verifier's `MapRef`, usable only as a helper
/// argument), which the code generator emitted as [`MapTable::handle`]: the
/// address of a map the table keeps alive.
#[inline(always)]
fn map_of(checked: bool, maps: &MapTable, handle: u64) -> Option<&Map> {
    if checked {
        return maps.resolve(handle);
    }
    debug_assert!(maps.resolve(handle).is_some());
    // SAFETY: as above, `handle` is `Arc::as_ptr` of a map in `maps`, which
    // the caller borrows for the returned lifetime.
    Some(unsafe { &*(handle as usize as *const Map) })
}

/// Helper `ID` called from native code: r1–r5 in the System V argument
/// registers, the context sixth.
///
/// # Safety
/// `ctx` is the context of the running program (the native code passes the
/// pointer it was entered with).
unsafe extern "C" fn helper_tramp<const ID: i32>(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut Ctx,
) -> Ret {
    // SAFETY: per the contract, a live context nothing else accesses during
    // the call.
    let ctx = unsafe { &mut *ctx };
    let Some(helper) = Helper::from_id(ID) else {
        return FAILED;
    };
    match ctx.helper(helper, &[r1, r2, r3, r4, r5]) {
        Ok(value) => Ret { value, failed: 0 },
        Err(error) => {
            ctx.fault = Some(RunError::Helper {
                pc: 0,
                helper,
                error,
            });
            FAILED
        }
    }
}

// ------------------------------------------------ direct trampolines
//
// Called only from verified code at the sites `direct_calls` chose: r1 is
// the handle of the map the verifier named (`Arc::as_ptr` of a map the
// program's table keeps alive), and the key, value and hashed bytes lie in
// the run's stack or packet, readable for their whole length (the verifier
// checked `key_size`, `value_size` and the hash length on every path), so
// they are borrowed in place without the general trampoline's checks.

/// The map behind a direct site's handle.
///
/// # Safety
/// As described above: `handle` is the handle of a map that outlives `'a`.
unsafe fn map_at<'a>(handle: u64) -> &'a Map {
    // SAFETY: per the contract.
    unsafe { &*(handle as usize as *const Map) }
}

/// The `n` bytes at a direct site's pointer argument.
///
/// # Safety
/// As described above: `n` readable bytes of plain run memory at `ptr`
/// that nothing writes during `'a`.
unsafe fn run_bytes<'a>(ptr: u64, n: u64) -> &'a [u8] {
    // SAFETY: per the contract (n is at most a key, value or hash length).
    unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, n as usize) }
}

/// `map_lookup_elem` at a direct site: the value's address or 0.
///
/// # Safety
/// A direct site (see above); `ctx` is the running program's context.
unsafe extern "C" fn direct_lookup(map: u64, key: u64, ctx: *mut Ctx) -> u64 {
    // SAFETY: a direct site: a live map, `key_size` bytes of plain memory,
    // the running program's context.
    let (map, ctx) = unsafe { (map_at(map), &*ctx) };
    // SAFETY: as above.
    let key = unsafe { run_bytes(key, u64::from(map.def().key_size)) };
    // SAFETY: during a run; the reference stays inside this call.
    match unsafe { ctx.run_guard() } {
        Some(g) => map.lookup(key, g).map_or(0, |p| p.as_ptr().addr() as u64),
        // Unreachable: a program with map helpers runs under a guard.
        None => 0,
    }
}

/// `map_update_elem` at a direct site: 0 or a negative errno.
///
/// # Safety
/// As for [`direct_lookup`].
unsafe extern "C" fn direct_update(
    map: u64,
    key: u64,
    value: u64,
    flags: u64,
    ctx: *mut Ctx,
) -> u64 {
    // SAFETY: a direct site: a live map, `key_size` and `value_size` bytes
    // of plain memory, the running program's context.
    let (map, ctx) = unsafe { (map_at(map), &*ctx) };
    // SAFETY: as above.
    let (key, value) = unsafe {
        (
            run_bytes(key, u64::from(map.def().key_size)),
            run_bytes(value, u64::from(map.def().value_size)),
        )
    };
    // SAFETY: during a run; the reference stays inside this call.
    match unsafe { ctx.run_guard() } {
        Some(g) => map
            .update(key, value, flags, g)
            .map_or_else(helpers::errno_of, |()| 0),
        None => helpers::errno_of(crate::maps::MapError::Invalid),
    }
}

/// `map_delete_elem` at a direct site: 0 or a negative errno.
///
/// # Safety
/// As for [`direct_lookup`].
unsafe extern "C" fn direct_delete(map: u64, key: u64, ctx: *mut Ctx) -> u64 {
    // SAFETY: as for `direct_lookup`.
    let (map, ctx) = unsafe { (map_at(map), &*ctx) };
    // SAFETY: as above.
    let key = unsafe { run_bytes(key, u64::from(map.def().key_size)) };
    // SAFETY: during a run; the reference stays inside this call.
    match unsafe { ctx.run_guard() } {
        Some(g) => map.delete(key, g).map_or_else(helpers::errno_of, |()| 0),
        None => helpers::errno_of(crate::maps::MapError::Invalid),
    }
}

/// `ktime_get_ns` at a direct site when the batch clock is not set.
///
/// # Safety
/// `ctx` is the running program's context.
unsafe extern "C" fn direct_ktime(ctx: *const Ctx) -> u64 {
    // SAFETY: per the contract; `time` is kept current by `set_time`.
    unsafe { (*ctx).time.now_ns() }
}

/// `hash` at a direct site.
///
/// # Safety
/// A direct site: `len` bytes of plain memory at `ptr` (the verifier
/// bounded `len`).
unsafe extern "C" fn direct_hash(ptr: u64, len: u64) -> u64 {
    // SAFETY: per the contract.
    u64::from(helpers::hash(unsafe { run_bytes(ptr, len) }))
}

/// Checked load (`kind` = size, plus [`LOAD_SIGNED`]).
///
/// # Safety
/// As for [`helper_tramp`].
unsafe extern "C" fn checked_load(
    ctx: *mut Ctx,
    addr: u64,
    _value: u64,
    kind: u64,
    pc: u64,
    _r0: u64,
) -> Ret {
    // SAFETY: see `helper_tramp`.
    let ctx = unsafe { &mut *ctx };
    let n = (kind & 0xff) as usize;
    match ctx.mem().load(addr, n) {
        Some(v) => {
            let value = match (n, kind & LOAD_SIGNED != 0) {
                (1, true) => v as i8 as i64 as u64,
                (2, true) => v as i16 as i64 as u64,
                (4, true) => v as i32 as i64 as u64,
                _ => v,
            };
            Ret { value, failed: 0 }
        }
        None => {
            ctx.fault = Some(RunError::OutOfBounds {
                pc: pc as usize,
                addr,
                len: n as u8,
                write: false,
            });
            FAILED
        }
    }
}

/// Checked store of the low `kind` bytes of `value`.
///
/// # Safety
/// As for [`helper_tramp`].
unsafe extern "C" fn checked_store(
    ctx: *mut Ctx,
    addr: u64,
    value: u64,
    kind: u64,
    pc: u64,
    _r0: u64,
) -> Ret {
    // SAFETY: see `helper_tramp`.
    let ctx = unsafe { &mut *ctx };
    let n = (kind & 0xff) as usize;
    match ctx.mem().store(addr, n, value) {
        Ok(()) => OK0,
        Err(f) => {
            ctx.fault = Some(f.at(pc as usize, addr, n as u8));
            FAILED
        }
    }
}

/// Checked atomic (`kind` = size | operation << 8); returns the old value.
///
/// # Safety
/// As for [`helper_tramp`].
unsafe extern "C" fn checked_atomic(
    ctx: *mut Ctx,
    addr: u64,
    operand: u64,
    kind: u64,
    pc: u64,
    r0: u64,
) -> Ret {
    // SAFETY: see `helper_tramp`.
    let ctx = unsafe { &mut *ctx };
    let n = (kind & 0xff) as usize;
    let op = (kind >> 8) as u32 as i32;
    let narrow = |v: u64| if n == 4 { v & 0xffff_ffff } else { v };
    let f = |old: u64| -> Option<u64> {
        match op & !atomic::FETCH {
            atomic::ADD => Some(old.wrapping_add(operand)),
            atomic::OR => Some(old | operand),
            atomic::AND => Some(old & operand),
            atomic::XOR => Some(old ^ operand),
            c if c == atomic::XCHG & !atomic::FETCH => Some(operand),
            _ => (old == narrow(r0)).then_some(operand),
        }
    };
    match ctx.mem().rmw(addr, n, &f) {
        Ok(old) => Ret {
            value: narrow(old),
            failed: 0,
        },
        Err(fault) => {
            ctx.fault = Some(fault.at(pc as usize, addr, n as u8));
            FAILED
        }
    }
}
