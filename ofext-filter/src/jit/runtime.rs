//! What compiled code runs with: the run context, the helper and checked
//! memory trampolines, and the run wrapper.
//!
//! # The context
//!
//! [`Ctx`] lives on the Rust stack of the run wrapper; the native code keeps
//! its address in r12 and passes it to every trampoline. Its first fields are
//! read and written by the native code at fixed offsets (`offset_of!`); the
//! rest is only for the trampolines: the regions valid in the run, the maps,
//! the run guard, the clock and the worker's [`RunEnv`].
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
//! 4 KiB (eight 512-byte frames) per thread, in a thread-local buffer that
//! is zeroed once when created and reused (as the interpreter reuses its
//! `RunEnv`'s): zeroing 4 KiB per packet would cost more than a filter, and
//! a verified program never reads stack bytes it did not write. Checked runs
//! (unverified programs) zero it first, so what they may read is
//! deterministic.

use core::cell::Cell;
use core::ptr::NonNull;
use std::sync::OnceLock;

use super::JitError;
use super::exec_mem::ExecMem;
use super::x86_64::{self as cg, LOAD_SIGNED, err_kind};
use crate::helpers::{
    self, GuestMemory, Helper, HelperCtx, HelperError, MapTable, Prng, TimeSource, shared,
};
use crate::interp::{Interpreter, MAX_FRAMES, MAX_VALUES, RunEnv, RunError};
use crate::isa::{self, Insn, atomic};
use crate::maps::RunGuard;

const FRAME: u64 = isa::STACK_SIZE as u64;
const STACK_WORDS: usize = isa::STACK_SIZE * MAX_FRAMES / 8;
const STACK_BYTES: u64 = (STACK_WORDS * 8) as u64;

/// The compiled code of one program.
#[derive(Debug)]
pub(super) struct Native {
    mem: ExecMem,
    /// The program calls a map helper: runs hold a [`RunGuard`].
    uses_maps: bool,
}

impl Native {
    /// The machine code.
    pub(super) fn code(&self) -> &[u8] {
        self.mem.code()
    }
}

/// A map value granted to the program in the current run.
#[derive(Clone, Copy)]
struct Value {
    ptr: NonNull<u8>,
    len: usize,
}

/// Per-thread memory of runs (see the module essay).
struct Scratch {
    stack: [u64; STACK_WORDS],
    values: Vec<Value>,
}

impl Scratch {
    fn boxed() -> Box<Self> {
        Box::new(Self {
            stack: [0; STACK_WORDS],
            values: Vec::with_capacity(8),
        })
    }
}

thread_local! {
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
}

/// The run context (see the module essay). `repr(C)` and the field offsets
/// in [`layout`] are what the native code relies on.
#[repr(C)]
pub(super) struct Ctx<'a> {
    // ---- read and written by native code ----
    /// r10 of the main frame.
    stack_top: u64,
    /// Bottom of the deepest live frame.
    stack_lo: u64,
    /// Lowest r10 a callee may get ([`MAX_FRAMES`] frames in all).
    depth_limit: u64,
    /// `rsp` after the entry's pushes, for the error exit.
    entry_rsp: u64,
    /// Instruction index of a run error.
    err_pc: u64,
    /// [`err_kind`] of a run error, 0 for none.
    err_kind: u64,
    /// Where the fetch-and-logic loops park r0.
    scratch: u64,
    /// Checked mode: executed slots minus the start of the current segment
    /// (see the code generator's `acct`).
    executed: i64,
    /// Checked mode: the instruction budget.
    budget: i64,
    /// Checked mode: r0–r5 across trampoline calls.
    saved: [u64; 6],
    // ---- Rust only ----
    stack: *mut u8,
    stack_addr: u64,
    pkt: *mut u8,
    pkt_addr: u64,
    pkt_len: u64,
    writable: bool,
    values: &'a mut Vec<Value>,
    maps: &'a MapTable,
    guard: Option<&'a RunGuard>,
    time: TimeSource,
    env: &'a mut RunEnv,
    /// The error a trampoline reported (a helper's `pc` is filled in from
    /// `err_pc`).
    fault: Option<RunError>,
}

fn layout() -> cg::Layout {
    use core::mem::offset_of;
    // The context is far smaller than 2 GiB: every offset fits.
    let off = |o: usize| o as i32;
    cg::Layout {
        stack_top: off(offset_of!(Ctx<'static>, stack_top)),
        stack_lo: off(offset_of!(Ctx<'static>, stack_lo)),
        depth_limit: off(offset_of!(Ctx<'static>, depth_limit)),
        entry_rsp: off(offset_of!(Ctx<'static>, entry_rsp)),
        err_pc: off(offset_of!(Ctx<'static>, err_pc)),
        err_kind: off(offset_of!(Ctx<'static>, err_kind)),
        scratch: off(offset_of!(Ctx<'static>, scratch)),
        executed: off(offset_of!(Ctx<'static>, executed)),
        budget: off(offset_of!(Ctx<'static>, budget)),
        saved: off(offset_of!(Ctx<'static>, saved)),
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

type HelperFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, *mut Ctx<'static>) -> Ret;
type AccessFn = unsafe extern "C" fn(*mut Ctx<'static>, u64, u64, u64, u64, u64) -> Ret;
type EntryFn = unsafe extern "C" fn(*mut u8, u64, *mut Ctx<'static>) -> u64;

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
    }
}

/// Compiles `insns` (accepted by the interpreter's loader; verified unless
/// `checked`).
pub(super) fn compile(
    insns: &[Insn],
    maps: &MapTable,
    zero_flags: &[usize],
    checked: bool,
    bmi2: Option<bool>,
) -> Result<Native, JitError> {
    let handles: Vec<u64> = (0..maps.maps().len())
        .filter_map(|i| maps.handle(i))
        .collect();
    let mut zero_flags = zero_flags.to_vec();
    zero_flags.sort_unstable();
    let opts = cg::Options {
        checked,
        bmi2: bmi2.unwrap_or_else(|| std::arch::is_x86_feature_detected!("bmi2")),
        zero_flags: &zero_flags,
        map_handles: &handles,
        layout: layout(),
        targets: targets(),
    };
    let out = cg::compile(insns, &opts).map_err(|e| match e {
        cg::CompileError::Opcode { pc, op } => JitError::Unsupported { pc, op },
        cg::CompileError::Encode(e) => JitError::Encode(e.to_string()),
    })?;
    let mem = ExecMem::new(&out.code).map_err(|errno| JitError::Memory { errno })?;
    Ok(Native {
        mem,
        uses_maps: out.uses_maps,
    })
}

/// Runs compiled code on the packet `pkt[..len]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    native: &Native,
    maps: &MapTable,
    checked: bool,
    budget: u64,
    pkt: *mut u8,
    len: usize,
    writable: bool,
    env: &mut RunEnv,
) -> Result<u64, RunError> {
    let mut scratch = SCRATCH
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(Scratch::boxed);
    let r = run_with(
        &mut scratch,
        native,
        maps,
        checked,
        budget,
        pkt,
        len,
        writable,
        env,
    );
    let _ = SCRATCH.try_with(|c| c.set(Some(scratch)));
    r
}

#[allow(clippy::too_many_arguments)]
fn run_with(
    scratch: &mut Scratch,
    native: &Native,
    maps: &MapTable,
    checked: bool,
    budget: u64,
    pkt: *mut u8,
    len: usize,
    writable: bool,
    env: &mut RunEnv,
) -> Result<u64, RunError> {
    if checked {
        scratch.stack.fill(0);
    }
    scratch.values.clear();
    let stack: *mut u8 = scratch.stack.as_mut_ptr().cast();
    let stack_addr = stack.addr() as u64;
    let top = stack_addr + STACK_BYTES;
    let guard = native.uses_maps.then(|| RunGuard::enter(env.cpu()));
    let time = env.time();
    let mut ctx = Ctx {
        stack_top: top,
        stack_lo: top - FRAME,
        depth_limit: top - FRAME * (MAX_FRAMES as u64 - 1),
        entry_rsp: 0,
        err_pc: 0,
        err_kind: 0,
        scratch: 0,
        executed: 0,
        budget: i64::try_from(budget).unwrap_or(i64::MAX).min(i64::MAX / 2),
        saved: [0; 6],
        stack,
        stack_addr,
        pkt,
        pkt_addr: pkt.addr() as u64,
        pkt_len: len as u64,
        writable,
        values: &mut scratch.values,
        maps,
        guard: guard.as_ref(),
        time,
        env,
        fault: None,
    };
    // SAFETY: the mapping holds code generated for this entry signature
    // (System V: packet, length, context) and stays mapped while `native`
    // is borrowed.
    let entry: EntryFn = unsafe { core::mem::transmute::<*const u8, EntryFn>(native.mem.as_ptr()) };
    let ctx_ptr: *mut Ctx<'_> = &mut ctx;
    // SAFETY: the code accesses memory only inside the regions of this run:
    // a verified program by the verifier's guarantees (packet reads below
    // `len`, stack accesses inside its frame of the 4 KiB buffer, map
    // values inside `value_size` while `guard` pins them), a checked one
    // through the checking trampolines; every jump lands inside the code;
    // calls are limited to MAX_FRAMES frames of native stack; the context
    // outlives the call and nothing else touches it meanwhile.
    let r0 = unsafe { entry(pkt, len as u64, ctx_ptr.cast()) };
    let pc = usize::try_from(ctx.err_pc).unwrap_or(usize::MAX);
    match ctx.err_kind {
        0 => Ok(r0),
        err_kind::FELL_OFF => Err(RunError::FellOffEnd { pc }),
        err_kind::CALL_DEPTH => Err(RunError::CallDepthExceeded {
            pc,
            max: MAX_FRAMES,
        }),
        err_kind::BUDGET => Err(RunError::BudgetExceeded { pc, budget }),
        _ => Err(match ctx.fault.take() {
            Some(RunError::Helper { helper, error, .. }) => RunError::Helper { pc, helper, error },
            Some(e) => e,
            // Unreachable: the native code sets these kinds only after a
            // trampoline reported a fault.
            None => RunError::FellOffEnd { pc },
        }),
    }
}

// ------------------------------------------------------------- regions

#[inline(always)]
fn within(addr: u64, start: u64, len: u64, n: u64) -> Option<usize> {
    let a = addr.wrapping_sub(start);
    (a < len && len - a >= n).then_some(a as usize)
}

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
    values: &'c mut Vec<Value>,
}

impl Ctx<'_> {
    fn mem(&mut self) -> Mem<'_> {
        Mem {
            stack: self.stack,
            stack_addr: self.stack_addr,
            lo: self.stack_lo,
            top: self.stack_top,
            pkt: self.pkt,
            pkt_addr: self.pkt_addr,
            pkt_len: self.pkt_len,
            writable: self.writable,
            values: &mut *self.values,
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
        self.values.iter().rev().find_map(|v| {
            within(addr, v.ptr.as_ptr().addr() as u64, v.len as u64, n).map(|off| Loc::Shared {
                base: v.ptr.as_ptr(),
                vlen: v.len,
                off,
            })
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
        if !self.values.iter().any(|v| v.ptr == ptr) {
            if self.values.len() >= MAX_VALUES {
                return false;
            }
            self.values.push(Value { ptr, len });
        }
        true
    }

    fn max_values(&self) -> usize {
        MAX_VALUES
    }
}

// --------------------------------------------------------- trampolines

/// `get_prandom_u32` from the worker's own generator. `RunEnv` keeps it
/// private to the interpreter, so the draw is made by a two-slot interpreted
/// program (`call 7; exit`) on the same environment: the sequence is exactly
/// the interpreter's.
fn prandom(env: &mut RunEnv) -> u64 {
    static DRAW: OnceLock<Option<Interpreter>> = OnceLock::new();
    let prog = DRAW.get_or_init(|| {
        let call = Insn::new(
            isa::class::JMP | isa::jmp::CALL,
            0,
            0,
            0,
            isa::helper::GET_PRANDOM_U32,
        );
        let exit = Insn::new(isa::class::JMP | isa::jmp::EXIT, 0, 0, 0, 0);
        Interpreter::new(&[call, exit], Vec::new()).ok()
    });
    // Cannot fail: two slots within any budget, no memory access.
    prog.as_ref()
        .and_then(|p| p.run(&mut [], env).ok())
        .unwrap_or(0)
}

impl Ctx<'_> {
    fn helper(&mut self, helper: Helper, args: &[u64; 5]) -> Result<u64, HelperError> {
        match helper {
            Helper::KtimeGetNs => Ok(self.time.now_ns()),
            Helper::GetPrandomU32 => Ok(prandom(self.env)),
            _ => {
                // Map and hash helpers never draw random numbers.
                let mut unused = Prng::new(0);
                let mut hctx = HelperCtx {
                    maps: self.maps,
                    guard: self.guard,
                    time: self.time,
                    prng: &mut unused,
                };
                let mut mem = Mem {
                    stack: self.stack,
                    stack_addr: self.stack_addr,
                    lo: self.stack_lo,
                    top: self.stack_top,
                    pkt: self.pkt,
                    pkt_addr: self.pkt_addr,
                    pkt_len: self.pkt_len,
                    writable: self.writable,
                    values: &mut *self.values,
                };
                helpers::call(helper, args, &mut hctx, &mut mem)
            }
        }
    }
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
    ctx: *mut Ctx<'_>,
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

/// Checked load (`kind` = size, plus [`LOAD_SIGNED`]).
///
/// # Safety
/// As for [`helper_tramp`].
unsafe extern "C" fn checked_load(
    ctx: *mut Ctx<'_>,
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
    ctx: *mut Ctx<'_>,
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
    ctx: *mut Ctx<'_>,
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
