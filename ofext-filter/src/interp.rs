//! The eBPF interpreter: runs a program (verified or not) on one packet.
//!
//! # Design
//!
//! [`Interpreter::new`] checks and pre-decodes the program once into a dense
//! array of 16-byte slots whose operation is a `#[repr(u8)]` enum with one
//! variant per (operation, width, operand kind): `add64 r, imm` and
//! `add64 r, r` are different variants, immediates are sign- or
//! zero-extended ahead of time, and jump offsets become absolute slot
//! indexes. The run loop is then one `match` (a jump table) per instruction
//! with no further decoding. Everything that can be checked statically is
//! checked at load time and reported as a [`LoadError`] with the instruction
//! index: unknown or legacy opcodes, bad registers (including any write to
//! `r10`), malformed `lddw`, jump and call targets outside the program or into
//! the second slot of an `lddw`, unknown helpers, unknown maps. A sentinel slot
//! after the last instruction turns "falling off the end" into a run error
//! without a per-instruction bounds check.
//!
//! # Safety for unverified programs
//!
//! The interpreter never trusts the program: the conformance plugin runs
//! programs no verifier has seen. Registers hold real addresses (so the
//! interpreter and a JIT share one representation), and every load, store,
//! atomic and helper pointer argument is checked against the regions valid in
//! this run:
//!
//! - the packet (`mem`): read-write for [`Interpreter::run`], read-only for
//!   [`Interpreter::run_readonly`] (what filters use: EXTENSION.md says a
//!   filter never writes the packet);
//! - the stacks of the live call frames (512 bytes each, contiguous, growing
//!   down from `r10` of the main frame); a returned-from frame's stack is no
//!   longer valid;
//! - the map values returned by `map_lookup_elem` during this run, each
//!   `value_size` bytes, accessed only atomically (see [`crate::helpers`]'s
//!   essay on shared value memory).
//!
//! An access outside them, a call deeper than [`MAX_FRAMES`], a run longer than
//! the instruction budget, or a bad helper argument ends the run with a
//! [`RunError`] naming the instruction index. Arithmetic follows RFC 9669:
//! division by zero gives 0, modulo by zero leaves the destination unchanged
//! (for 32-bit operations: truncated to 32 bits), shift amounts are masked to
//! the operand width, signed `INT_MIN / -1` wraps.
//!
//! # Calling convention
//!
//! `r1` = address of `mem[0]`, `r2` = `mem.len()`, `r10` = top of the main
//! frame's stack; other registers start at 0. The result is `r0` at the final
//! `exit`. A BPF-to-BPF call (`call` with `src = 1`, `imm` relative to the next
//! instruction) passes `r1`–`r5`, gives the callee a fresh 512-byte frame
//! (`r10` moves down 512 bytes), and restores `r6`–`r9` and `r10` when the
//! callee exits. `lddw rX, map:N` loads the handle of the program's map `N`
//! (its address, see [`MapTable`]).
//!
//! # Instruction budget
//!
//! Executed slots are counted per straight-line segment: at every taken jump,
//! call and exit the length of the segment just run is added, so the cost is
//! paid on control transfers only. Exceeding the budget (default
//! [`DEFAULT_BUDGET`]) stops the run at the next control transfer or exit.
//! Verified filters are loop-free, so the budget only matters for unverified
//! programs.
//!
//! # Environment
//!
//! A [`RunEnv`] belongs to one worker thread and is reused across runs: it
//! holds the worker index (which per-CPU map slot to use), the time source for
//! `ktime_get_ns`, the `get_prandom_u32` state, and the stack memory. The stack
//! is not cleared between runs (clearing 4 KiB per packet would cost more than
//! a short filter); the verifier guarantees that accepted programs never read
//! stack bytes they did not write.

use core::ptr::NonNull;
use std::sync::Arc;

use crate::helpers::{
    self, GuestMemory, Helper, HelperCtx, HelperError, MapTable, Prng, TimeSource, shared,
};
use crate::isa::{self, Insn, alu, atomic, call_src, class, jmp, mode, size};
use crate::maps::{Map, RunGuard};

/// Instruction budget of a run unless [`Interpreter::with_budget`] says
/// otherwise.
pub const DEFAULT_BUDGET: u64 = 1_000_000;
/// Maximum number of live call frames (the main program counts as one), as
/// in Linux.
pub const MAX_FRAMES: usize = 8;
/// Largest accepted program, in instruction slots (16 MiB of ELF text at most
/// reaches the switch, EXTENSION.md §2).
pub const MAX_SLOTS: usize = 1 << 21;
/// Distinct map values one run may look up (each is a region every memory
/// access may have to be checked against).
pub const MAX_VALUES: usize = 256;

const FRAME_SIZE: usize = isa::STACK_SIZE;
pub(crate) const STACK_BYTES: usize = FRAME_SIZE * MAX_FRAMES;

/// Why a program cannot be loaded. `pc` is the instruction (slot) index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The program has no instructions.
    #[error("empty program")]
    Empty,
    /// The program has more than [`MAX_SLOTS`] slots.
    #[error("program of {len} instructions exceeds the limit of {max}")]
    TooLarge {
        /// Its length in slots.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The opcode is not in the accepted instruction set (including the legacy
    /// `LD_ABS`/`LD_IND` packet loads).
    #[error("pc {pc}: unknown opcode {op:#04x}")]
    UnknownOpcode {
        /// Instruction index.
        pc: usize,
        /// The opcode byte.
        op: u8,
    },
    /// A register number above 10, or an instruction that would write `r10`.
    #[error("pc {pc}: invalid register r{reg}")]
    BadRegister {
        /// Instruction index.
        pc: usize,
        /// The register number.
        reg: u8,
    },
    /// An offset, immediate or source field with no meaning for this opcode
    /// (e.g. a byte swap of 12 bits, an unknown atomic operation).
    #[error("pc {pc}: invalid operand for opcode {op:#04x}")]
    BadOperand {
        /// Instruction index.
        pc: usize,
        /// The opcode byte.
        op: u8,
    },
    /// An `lddw` whose second slot is missing.
    #[error("pc {pc}: lddw is missing its second slot")]
    TruncatedLddw {
        /// Instruction index.
        pc: usize,
    },
    /// A jump or call target outside the program or into the middle of an
    /// `lddw`.
    #[error("pc {pc}: jump target {target} is not an instruction")]
    BadJumpTarget {
        /// Instruction index.
        pc: usize,
        /// The target index it computes.
        target: i64,
    },
    /// A helper id outside EXTENSION.md §5.
    #[error("pc {pc}: unknown helper {id}")]
    UnknownHelper {
        /// Instruction index.
        pc: usize,
        /// The helper id.
        id: i32,
    },
    /// `lddw rX, map:N` with `N` beyond the program's map table.
    #[error("pc {pc}: no map with index {index}")]
    UnknownMap {
        /// Instruction index.
        pc: usize,
        /// The map index.
        index: i32,
    },
}

/// Why a run stopped without a result. `pc` is the instruction index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A load, store or atomic touches bytes outside every valid region.
    #[error("pc {pc}: {} of {len} bytes at {addr:#x} is out of bounds", if *.write { "write" } else { "read" })]
    OutOfBounds {
        /// Instruction index.
        pc: usize,
        /// The address accessed.
        addr: u64,
        /// The access width.
        len: u8,
        /// True for stores and atomics.
        write: bool,
    },
    /// A store or atomic into the packet during a read-only run.
    #[error("pc {pc}: write of {len} bytes at {addr:#x} into the read-only packet")]
    ReadOnlyPacket {
        /// Instruction index.
        pc: usize,
        /// The address accessed.
        addr: u64,
        /// The access width.
        len: u8,
    },
    /// An atomic operation on an address that is not a multiple of its width.
    #[error("pc {pc}: misaligned {len}-byte atomic at {addr:#x}")]
    MisalignedAtomic {
        /// Instruction index.
        pc: usize,
        /// The address accessed.
        addr: u64,
        /// The access width.
        len: u8,
    },
    /// Execution ran past the last instruction without `exit`.
    #[error("pc {pc}: execution fell off the end of the program")]
    FellOffEnd {
        /// The slot index just past the program.
        pc: usize,
    },
    /// A BPF-to-BPF call with [`MAX_FRAMES`] frames already live.
    #[error("pc {pc}: call depth exceeds {max} frames")]
    CallDepthExceeded {
        /// Instruction index of the call.
        pc: usize,
        /// The limit.
        max: usize,
    },
    /// More instructions executed than the budget allows.
    #[error("pc {pc}: instruction budget of {budget} exhausted")]
    BudgetExceeded {
        /// Instruction index at which the overrun was noticed.
        pc: usize,
        /// The budget.
        budget: u64,
    },
    /// A helper refused its arguments.
    #[error("pc {pc}: helper {}: {error}", helper.name())]
    Helper {
        /// Instruction index of the call.
        pc: usize,
        /// The helper.
        helper: Helper,
        /// What was wrong.
        error: HelperError,
    },
}

/// Per-worker state reused across runs (see the module essay).
pub struct RunEnv {
    cpu: usize,
    time: TimeSource,
    prng: Prng,
    stack: Box<[u64; STACK_BYTES / 8]>,
    /// Return addresses and saved r6–r9 of the live callers (kept here so a
    /// run does not initialise them).
    frames: [Frame; MAX_FRAMES],
    values: ValueList,
    /// The JIT's run context, kept between runs.
    #[cfg(all(target_arch = "x86_64", unix))]
    jit: crate::jit::JitCtx,
}

impl core::fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunEnv")
            .field("cpu", &self.cpu)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl RunEnv {
    /// An environment for worker `cpu`: monotonic clock, generator seeded
    /// from `cpu` (reseed with [`RunEnv::seed_prng`] for unpredictability).
    pub fn new(cpu: usize) -> Self {
        let mut stack = Box::new([0; STACK_BYTES / 8]);
        #[cfg(all(target_arch = "x86_64", unix))]
        let jit = crate::jit::JitCtx::new(stack.as_mut_ptr().cast(), cpu);
        Self {
            cpu,
            time: TimeSource::Monotonic,
            prng: Prng::new(0x853c_49e6_748f_ea9b ^ (cpu as u64).wrapping_mul(0x9e37_79b9)),
            stack,
            frames: [Frame::default(); MAX_FRAMES],
            values: ValueList(Vec::with_capacity(8)),
            #[cfg(all(target_arch = "x86_64", unix))]
            jit,
        }
    }

    /// The worker index (selects per-CPU map slots).
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Where `ktime_get_ns` answers from: the dataplane sets
    /// `TimeSource::Batch(now)` once per packet batch.
    pub fn set_time(&mut self, time: TimeSource) {
        self.time = time;
        #[cfg(all(target_arch = "x86_64", unix))]
        self.jit.set_time(time);
    }

    /// The current time source.
    pub fn time(&self) -> TimeSource {
        self.time
    }

    /// Reseeds `get_prandom_u32`.
    pub fn seed_prng(&mut self, seed: u64) {
        self.prng = Prng::new(seed);
    }

    /// The JIT's run context, kept here between runs.
    #[cfg(all(target_arch = "x86_64", unix))]
    #[inline]
    pub(crate) fn jit_ctx(&mut self) -> &mut crate::jit::JitCtx {
        &mut self.jit
    }

    /// What a JIT run that calls general trampolines borrows: its context
    /// (kept here between runs), the stack buffer (`STACK_BYTES`, reused
    /// across runs so that a run does not set up a fresh one), the
    /// `get_prandom_u32` generator (shared with the interpreter so both
    /// engines draw the same sequence) and the list of granted values,
    /// emptied.
    #[cfg(all(target_arch = "x86_64", unix))]
    #[inline]
    pub(crate) fn jit_parts(
        &mut self,
    ) -> (&mut crate::jit::JitCtx, *mut u8, *mut Prng, *mut ValueList) {
        self.values.0.clear();
        (
            &mut self.jit,
            self.stack.as_mut_ptr().cast(),
            &mut self.prng,
            &mut self.values,
        )
    }
}

/// A map value granted to the program in the current run.
#[derive(Clone, Copy)]
pub(crate) struct Value {
    pub(crate) addr: u64,
    pub(crate) len: u64,
    pub(crate) ptr: NonNull<u8>,
}

/// The values granted in the current run (both engines keep theirs here).
/// Cleared at the start of every run that may grant values (every
/// interpreter run, JIT runs of code with general trampolines), so the
/// pointers it holds between runs are never dereferenced.
pub(crate) struct ValueList(Vec<Value>);

impl ValueList {
    /// Grants the `len`-byte value at `ptr` to the run (once: granting it
    /// again changes nothing); `None` when the run already holds
    /// [`MAX_VALUES`] others.
    #[inline]
    pub(crate) fn grant(&mut self, ptr: NonNull<u8>, len: usize) -> Option<Value> {
        let v = Value {
            addr: ptr.as_ptr().addr() as u64,
            len: len as u64,
            ptr,
        };
        if !self.0.iter().any(|old| old.addr == v.addr) {
            if self.0.len() >= MAX_VALUES {
                return None;
            }
            self.0.push(v);
        }
        Some(v)
    }

    /// The granted value holding the `n` bytes at `addr` (the latest
    /// granted first), with the offset of `addr` in it.
    pub(crate) fn find(&self, addr: u64, n: u64) -> Option<(Value, usize)> {
        self.0
            .iter()
            .rev()
            .find_map(|v| within(addr, v.addr, v.len, n).map(|off| (*v, off)))
    }
}

// SAFETY: the list only carries addresses between runs; they are dereferenced
// solely inside a run, on the thread running it, while its RunGuard keeps
// them valid.
unsafe impl Send for ValueList {}

/// One pre-decoded instruction.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Slot {
    op: Op,
    dst: u8,
    src: u8,
    /// Memory offset, absolute jump target, or helper id.
    aux: i32,
    /// Pre-extended immediate.
    imm: u64,
}

impl Slot {
    const fn new(op: Op, dst: u8, src: u8, aux: i32, imm: u64) -> Self {
        Self {
            op,
            dst,
            src,
            aux,
            imm,
        }
    }
}

/// Decoded operations. `K` takes the immediate, `X` the source register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    Add64K,
    Add64X,
    Sub64K,
    Sub64X,
    Mul64K,
    Mul64X,
    Div64K,
    Div64X,
    Sdiv64K,
    Sdiv64X,
    Mod64K,
    Mod64X,
    Smod64K,
    Smod64X,
    Or64K,
    Or64X,
    And64K,
    And64X,
    Xor64K,
    Xor64X,
    Lsh64K,
    Lsh64X,
    Rsh64K,
    Rsh64X,
    Arsh64K,
    Arsh64X,
    Mov64K,
    Mov64X,
    Movsx64B,
    Movsx64H,
    Movsx64W,
    Neg64,
    Add32K,
    Add32X,
    Sub32K,
    Sub32X,
    Mul32K,
    Mul32X,
    Div32K,
    Div32X,
    Sdiv32K,
    Sdiv32X,
    Mod32K,
    Mod32X,
    Smod32K,
    Smod32X,
    Or32K,
    Or32X,
    And32K,
    And32X,
    Xor32K,
    Xor32X,
    Lsh32K,
    Lsh32X,
    Rsh32K,
    Rsh32X,
    Arsh32K,
    Arsh32X,
    Mov32K,
    Mov32X,
    Movsx32B,
    Movsx32H,
    Neg32,
    Zext16,
    Zext32,
    Nop,
    Bswap16,
    Bswap32,
    Bswap64,
    Ja,
    Jeq64K,
    Jeq64X,
    Jne64K,
    Jne64X,
    Jgt64K,
    Jgt64X,
    Jge64K,
    Jge64X,
    Jlt64K,
    Jlt64X,
    Jle64K,
    Jle64X,
    Jsgt64K,
    Jsgt64X,
    Jsge64K,
    Jsge64X,
    Jslt64K,
    Jslt64X,
    Jsle64K,
    Jsle64X,
    Jset64K,
    Jset64X,
    Jeq32K,
    Jeq32X,
    Jne32K,
    Jne32X,
    Jgt32K,
    Jgt32X,
    Jge32K,
    Jge32X,
    Jlt32K,
    Jlt32X,
    Jle32K,
    Jle32X,
    Jsgt32K,
    Jsgt32X,
    Jsge32K,
    Jsge32X,
    Jslt32K,
    Jslt32X,
    Jsle32K,
    Jsle32X,
    Jset32K,
    Jset32X,
    CallLookup,
    CallUpdate,
    /// `map_update_elem` whose r4 the program never wrote (Oko's
    /// three-argument call): flags are taken as 0.
    CallUpdateZeroFlags,
    CallDelete,
    CallKtime,
    CallHash,
    CallPrandom,
    CallLocal,
    Exit,
    Lddw,
    Ldx1,
    Ldx2,
    Ldx4,
    Ldx8,
    Ldxs1,
    Ldxs2,
    Ldxs4,
    St1,
    St2,
    St4,
    St8,
    Stx1,
    Stx2,
    Stx4,
    Stx8,
    Atomic4,
    Atomic8,
    /// The sentinel after the last instruction.
    End,
}

/// A program ready to run.
pub struct Interpreter {
    /// Decoded program plus the [`Op::End`] sentinel.
    code: Box<[Slot]>,
    maps: MapTable,
    budget: u64,
    /// True when the program calls a map helper (it then needs a RunGuard).
    uses_maps: bool,
}

impl core::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interpreter")
            .field("slots", &(self.code.len() - 1))
            .field("maps", &self.maps)
            .field("budget", &self.budget)
            .finish()
    }
}

impl Interpreter {
    /// Checks and pre-decodes `insns` (as produced by the ELF loader or the
    /// assembler); `maps` is the program's map table, indexed by the `imm` of
    /// `lddw rX, map:N`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the first malformed instruction.
    pub fn new(insns: &[Insn], maps: Vec<Arc<Map>>) -> Result<Self, LoadError> {
        let maps = MapTable::new(maps);
        let (code, uses_maps) = decode(insns, &maps)?;
        Ok(Self {
            code,
            maps,
            budget: DEFAULT_BUDGET,
            uses_maps,
        })
    }

    /// Makes the `map_update_elem` calls at `pcs` pass flags 0 whatever r4
    /// holds: the verifier lists them in `VerifyInfo::zero_flags_at` (calls
    /// whose r4 the program never wrote, as in Oko's three-argument calls).
    /// Any pc that is not such a call is refused.
    pub fn with_zero_flags_at(mut self, pcs: &[usize]) -> Result<Self, LoadError> {
        for &pc in pcs {
            match self.code.get_mut(pc) {
                Some(slot) if slot.op == Op::CallUpdate => slot.op = Op::CallUpdateZeroFlags,
                _ => return Err(LoadError::BadOperand { pc, op: 0x85 }),
            }
        }
        Ok(self)
    }

    /// The same program with an instruction budget of `budget` slots per run.
    pub fn with_budget(mut self, budget: u64) -> Self {
        self.budget = budget;
        self
    }

    /// The program's length in instruction slots.
    pub fn len(&self) -> usize {
        self.code.len() - 1
    }

    /// Always false: an empty program does not load.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The program's maps.
    pub fn maps(&self) -> &MapTable {
        &self.maps
    }

    /// Runs the program on `mem`, which it may read and write (the
    /// conformance plugin's mode).
    ///
    /// # Errors
    /// A [`RunError`] when the program misbehaves; `mem` may then be partly
    /// written.
    pub fn run(&self, mem: &mut [u8], env: &mut RunEnv) -> Result<u64, RunError> {
        self.exec(mem.as_mut_ptr(), mem.len(), true, env)
    }

    /// Runs the program on a packet it may only read (the filter mode): a
    /// store into `mem` is [`RunError::ReadOnlyPacket`].
    ///
    /// # Errors
    /// A [`RunError`] when the program misbehaves.
    pub fn run_readonly(&self, mem: &[u8], env: &mut RunEnv) -> Result<u64, RunError> {
        // The pointer is never written through: `writable` is false.
        self.exec(mem.as_ptr().cast_mut(), mem.len(), false, env)
    }

    #[allow(clippy::too_many_lines)]
    fn exec(
        &self,
        pkt: *mut u8,
        pkt_len: usize,
        writable: bool,
        env: &mut RunEnv,
    ) -> Result<u64, RunError> {
        let RunEnv {
            cpu,
            time,
            prng,
            stack,
            frames,
            values,
            ..
        } = env;
        values.0.clear();
        let guard = if self.uses_maps {
            Some(RunGuard::enter_run(*cpu))
        } else {
            None
        };
        let stack_base: *mut u8 = stack.as_mut_ptr().cast();
        let stack_top = stack_base.addr() as u64 + STACK_BYTES as u64;
        let mut mem = Mem {
            stk: stack_base.wrapping_add(STACK_BYTES - FRAME_SIZE),
            stk_addr: stack_top - FRAME_SIZE as u64,
            stk_span: FRAME_SIZE as u64,
            stk_base: stack_base,
            pkt,
            pkt_addr: pkt.addr() as u64,
            pkt_len: pkt_len as u64,
            writable,
            last: Value {
                addr: 0,
                len: 0,
                ptr: NonNull::dangling(),
            },
            values,
        };

        let code: &[Slot] = &self.code;
        let budget = self.budget;
        let mut r = [0u64; 16];
        r[1] = pkt.addr() as u64;
        r[2] = pkt_len as u64;
        r[10] = stack_top;
        let mut depth = 0usize;
        let mut pc = 0usize;
        // Start of the current straight-line segment, and slots executed in
        // the segments before it.
        let mut seg = 0usize;
        let mut executed = 0u64;

        macro_rules! transfer {
            ($to:expr) => {{
                let to = $to;
                executed += (pc + 1 - seg) as u64;
                if executed > budget {
                    return Err(RunError::BudgetExceeded { pc, budget });
                }
                pc = to;
                seg = to;
            }};
        }
        macro_rules! alu {
            ($d:ident, $v:expr) => {{
                r[$d] = $v;
                pc += 1;
            }};
        }
        macro_rules! cond {
            ($s:ident, $c:expr) => {{
                if $c {
                    transfer!($s.aux as usize);
                } else {
                    pc += 1;
                }
            }};
        }
        macro_rules! ldx {
            ($s:ident, $d:ident, $sr:ident, $n:literal, $v:ident => $ext:expr) => {{
                let addr = r[$sr].wrapping_add($s.aux as i64 as u64);
                match mem.load::<$n>(addr) {
                    Some($v) => r[$d] = $ext,
                    None => {
                        return Err(RunError::OutOfBounds {
                            pc,
                            addr,
                            len: $n,
                            write: false,
                        });
                    }
                }
                pc += 1;
            }};
        }
        macro_rules! store {
            ($s:ident, $d:ident, $n:literal, $v:expr) => {{
                let addr = r[$d].wrapping_add($s.aux as i64 as u64);
                if let Err(f) = mem.store::<$n>(addr, $v) {
                    return Err(f.at(pc, addr, $n));
                }
                pc += 1;
            }};
        }

        loop {
            // SAFETY: `pc < code.len()` always: it starts at 0, jump and call
            // targets were checked to be below the program length at load
            // time, return addresses are call sites + 1, and sequential
            // steps from the last instruction (or an lddw ending there)
            // reach the `End` sentinel at index `len`, which stops the run.
            let s = *unsafe { code.get_unchecked(pc) };
            let d = (s.dst & 15) as usize;
            let sr = (s.src & 15) as usize;
            match s.op {
                Op::Add64K => alu!(d, r[d].wrapping_add(s.imm)),
                Op::Add64X => alu!(d, r[d].wrapping_add(r[sr])),
                Op::Sub64K => alu!(d, r[d].wrapping_sub(s.imm)),
                Op::Sub64X => alu!(d, r[d].wrapping_sub(r[sr])),
                Op::Mul64K => alu!(d, r[d].wrapping_mul(s.imm)),
                Op::Mul64X => alu!(d, r[d].wrapping_mul(r[sr])),
                Op::Div64K => alu!(d, div64(r[d], s.imm)),
                Op::Div64X => alu!(d, div64(r[d], r[sr])),
                Op::Sdiv64K => alu!(d, sdiv64(r[d], s.imm)),
                Op::Sdiv64X => alu!(d, sdiv64(r[d], r[sr])),
                Op::Mod64K => alu!(d, mod64(r[d], s.imm)),
                Op::Mod64X => alu!(d, mod64(r[d], r[sr])),
                Op::Smod64K => alu!(d, smod64(r[d], s.imm)),
                Op::Smod64X => alu!(d, smod64(r[d], r[sr])),
                Op::Or64K => alu!(d, r[d] | s.imm),
                Op::Or64X => alu!(d, r[d] | r[sr]),
                Op::And64K => alu!(d, r[d] & s.imm),
                Op::And64X => alu!(d, r[d] & r[sr]),
                Op::Xor64K => alu!(d, r[d] ^ s.imm),
                Op::Xor64X => alu!(d, r[d] ^ r[sr]),
                Op::Lsh64K => alu!(d, r[d] << (s.imm & 63)),
                Op::Lsh64X => alu!(d, r[d] << (r[sr] & 63)),
                Op::Rsh64K => alu!(d, r[d] >> (s.imm & 63)),
                Op::Rsh64X => alu!(d, r[d] >> (r[sr] & 63)),
                Op::Arsh64K => alu!(d, ((r[d] as i64) >> (s.imm & 63)) as u64),
                Op::Arsh64X => alu!(d, ((r[d] as i64) >> (r[sr] & 63)) as u64),
                Op::Mov64K => alu!(d, s.imm),
                Op::Mov64X => alu!(d, r[sr]),
                Op::Movsx64B => alu!(d, r[sr] as i8 as i64 as u64),
                Op::Movsx64H => alu!(d, r[sr] as i16 as i64 as u64),
                Op::Movsx64W => alu!(d, r[sr] as i32 as i64 as u64),
                Op::Neg64 => alu!(d, r[d].wrapping_neg()),
                Op::Add32K => alu!(d, u64::from((r[d] as u32).wrapping_add(s.imm as u32))),
                Op::Add32X => alu!(d, u64::from((r[d] as u32).wrapping_add(r[sr] as u32))),
                Op::Sub32K => alu!(d, u64::from((r[d] as u32).wrapping_sub(s.imm as u32))),
                Op::Sub32X => alu!(d, u64::from((r[d] as u32).wrapping_sub(r[sr] as u32))),
                Op::Mul32K => alu!(d, u64::from((r[d] as u32).wrapping_mul(s.imm as u32))),
                Op::Mul32X => alu!(d, u64::from((r[d] as u32).wrapping_mul(r[sr] as u32))),
                Op::Div32K => alu!(d, div32(r[d], s.imm)),
                Op::Div32X => alu!(d, div32(r[d], r[sr])),
                Op::Sdiv32K => alu!(d, sdiv32(r[d], s.imm)),
                Op::Sdiv32X => alu!(d, sdiv32(r[d], r[sr])),
                Op::Mod32K => alu!(d, mod32(r[d], s.imm)),
                Op::Mod32X => alu!(d, mod32(r[d], r[sr])),
                Op::Smod32K => alu!(d, smod32(r[d], s.imm)),
                Op::Smod32X => alu!(d, smod32(r[d], r[sr])),
                Op::Or32K => alu!(d, u64::from(r[d] as u32 | s.imm as u32)),
                Op::Or32X => alu!(d, u64::from(r[d] as u32 | r[sr] as u32)),
                Op::And32K => alu!(d, u64::from(r[d] as u32 & s.imm as u32)),
                Op::And32X => alu!(d, u64::from(r[d] as u32 & r[sr] as u32)),
                Op::Xor32K => alu!(d, u64::from(r[d] as u32 ^ s.imm as u32)),
                Op::Xor32X => alu!(d, u64::from(r[d] as u32 ^ r[sr] as u32)),
                Op::Lsh32K => alu!(d, u64::from((r[d] as u32) << (s.imm & 31))),
                Op::Lsh32X => alu!(d, u64::from((r[d] as u32) << (r[sr] & 31))),
                Op::Rsh32K => alu!(d, u64::from((r[d] as u32) >> (s.imm & 31))),
                Op::Rsh32X => alu!(d, u64::from((r[d] as u32) >> (r[sr] & 31))),
                Op::Arsh32K => alu!(d, u64::from(((r[d] as i32) >> (s.imm & 31)) as u32)),
                Op::Arsh32X => alu!(d, u64::from(((r[d] as i32) >> (r[sr] & 31)) as u32)),
                Op::Mov32K => alu!(d, s.imm),
                Op::Mov32X => alu!(d, u64::from(r[sr] as u32)),
                Op::Movsx32B => alu!(d, u64::from(r[sr] as i8 as i32 as u32)),
                Op::Movsx32H => alu!(d, u64::from(r[sr] as i16 as i32 as u32)),
                Op::Neg32 => alu!(d, u64::from((r[d] as u32).wrapping_neg())),
                Op::Zext16 => alu!(d, u64::from(r[d] as u16)),
                Op::Zext32 => alu!(d, u64::from(r[d] as u32)),
                Op::Nop => pc += 1,
                Op::Bswap16 => alu!(d, u64::from((r[d] as u16).swap_bytes())),
                Op::Bswap32 => alu!(d, u64::from((r[d] as u32).swap_bytes())),
                Op::Bswap64 => alu!(d, r[d].swap_bytes()),
                Op::Ja => transfer!(s.aux as usize),
                Op::Jeq64K => cond!(s, r[d] == s.imm),
                Op::Jeq64X => cond!(s, r[d] == r[sr]),
                Op::Jne64K => cond!(s, r[d] != s.imm),
                Op::Jne64X => cond!(s, r[d] != r[sr]),
                Op::Jgt64K => cond!(s, r[d] > s.imm),
                Op::Jgt64X => cond!(s, r[d] > r[sr]),
                Op::Jge64K => cond!(s, r[d] >= s.imm),
                Op::Jge64X => cond!(s, r[d] >= r[sr]),
                Op::Jlt64K => cond!(s, r[d] < s.imm),
                Op::Jlt64X => cond!(s, r[d] < r[sr]),
                Op::Jle64K => cond!(s, r[d] <= s.imm),
                Op::Jle64X => cond!(s, r[d] <= r[sr]),
                Op::Jsgt64K => cond!(s, (r[d] as i64) > s.imm as i64),
                Op::Jsgt64X => cond!(s, (r[d] as i64) > r[sr] as i64),
                Op::Jsge64K => cond!(s, (r[d] as i64) >= s.imm as i64),
                Op::Jsge64X => cond!(s, (r[d] as i64) >= r[sr] as i64),
                Op::Jslt64K => cond!(s, (r[d] as i64) < s.imm as i64),
                Op::Jslt64X => cond!(s, (r[d] as i64) < r[sr] as i64),
                Op::Jsle64K => cond!(s, (r[d] as i64) <= s.imm as i64),
                Op::Jsle64X => cond!(s, (r[d] as i64) <= r[sr] as i64),
                Op::Jset64K => cond!(s, r[d] & s.imm != 0),
                Op::Jset64X => cond!(s, r[d] & r[sr] != 0),
                Op::Jeq32K => cond!(s, r[d] as u32 == s.imm as u32),
                Op::Jeq32X => cond!(s, r[d] as u32 == r[sr] as u32),
                Op::Jne32K => cond!(s, r[d] as u32 != s.imm as u32),
                Op::Jne32X => cond!(s, r[d] as u32 != r[sr] as u32),
                Op::Jgt32K => cond!(s, r[d] as u32 > s.imm as u32),
                Op::Jgt32X => cond!(s, r[d] as u32 > r[sr] as u32),
                Op::Jge32K => cond!(s, r[d] as u32 >= s.imm as u32),
                Op::Jge32X => cond!(s, r[d] as u32 >= r[sr] as u32),
                Op::Jlt32K => cond!(s, (r[d] as u32) < s.imm as u32),
                Op::Jlt32X => cond!(s, (r[d] as u32) < r[sr] as u32),
                Op::Jle32K => cond!(s, r[d] as u32 <= s.imm as u32),
                Op::Jle32X => cond!(s, r[d] as u32 <= r[sr] as u32),
                Op::Jsgt32K => cond!(s, r[d] as i32 > s.imm as i32),
                Op::Jsgt32X => cond!(s, r[d] as i32 > r[sr] as i32),
                Op::Jsge32K => cond!(s, r[d] as i32 >= s.imm as i32),
                Op::Jsge32X => cond!(s, r[d] as i32 >= r[sr] as i32),
                Op::Jslt32K => cond!(s, (r[d] as i32) < s.imm as i32),
                Op::Jslt32X => cond!(s, (r[d] as i32) < r[sr] as i32),
                Op::Jsle32K => cond!(s, r[d] as i32 <= s.imm as i32),
                Op::Jsle32X => cond!(s, r[d] as i32 <= r[sr] as i32),
                Op::Jset32K => cond!(s, r[d] as u32 & s.imm as u32 != 0),
                Op::Jset32X => cond!(s, r[d] as u32 & r[sr] as u32 != 0),
                Op::CallKtime => {
                    r[0] = time.now_ns();
                    pc += 1;
                }
                Op::CallPrandom => {
                    r[0] = u64::from(prng.next_u32());
                    pc += 1;
                }
                Op::CallLookup
                | Op::CallUpdate
                | Op::CallUpdateZeroFlags
                | Op::CallDelete
                | Op::CallHash => {
                    let helper = match s.op {
                        Op::CallLookup => Helper::MapLookupElem,
                        Op::CallUpdate | Op::CallUpdateZeroFlags => Helper::MapUpdateElem,
                        Op::CallDelete => Helper::MapDeleteElem,
                        _ => Helper::Hash,
                    };
                    let mut ctx = HelperCtx {
                        maps: &self.maps,
                        guard: guard.as_ref(),
                        time: *time,
                        prng: &mut *prng,
                    };
                    // Borrowed, not copied: a wide copy of registers just
                    // written stalls on store forwarding.
                    let zeroed;
                    let mut args: &[u64; 5] = r[1..6].try_into().unwrap_or(&[0; 5]);
                    if s.op == Op::CallUpdateZeroFlags {
                        zeroed = [args[0], args[1], args[2], 0, args[4]];
                        args = &zeroed;
                    }
                    match helpers::call(helper, args, &mut ctx, &mut mem) {
                        Ok(v) => r[0] = v,
                        Err(error) => return Err(RunError::Helper { pc, helper, error }),
                    }
                    pc += 1;
                }
                Op::CallLocal => {
                    if depth + 1 >= MAX_FRAMES {
                        return Err(RunError::CallDepthExceeded {
                            pc,
                            max: MAX_FRAMES,
                        });
                    }
                    frames[depth] = Frame {
                        ret: pc + 1,
                        saved: [r[6], r[7], r[8], r[9]],
                    };
                    depth += 1;
                    r[10] -= FRAME_SIZE as u64;
                    mem.set_depth(depth);
                    transfer!(s.aux as usize);
                }
                Op::Exit => {
                    if depth == 0 {
                        executed += (pc + 1 - seg) as u64;
                        if executed > budget {
                            return Err(RunError::BudgetExceeded { pc, budget });
                        }
                        return Ok(r[0]);
                    }
                    depth -= 1;
                    let f = frames[depth];
                    [r[6], r[7], r[8], r[9]] = f.saved;
                    r[10] += FRAME_SIZE as u64;
                    mem.set_depth(depth);
                    transfer!(f.ret);
                }
                Op::Lddw => {
                    r[d] = s.imm;
                    pc += 2;
                }
                Op::Ldx1 => ldx!(s, d, sr, 1, v => v),
                Op::Ldx2 => ldx!(s, d, sr, 2, v => v),
                Op::Ldx4 => ldx!(s, d, sr, 4, v => v),
                Op::Ldx8 => ldx!(s, d, sr, 8, v => v),
                Op::Ldxs1 => ldx!(s, d, sr, 1, v => v as i8 as i64 as u64),
                Op::Ldxs2 => ldx!(s, d, sr, 2, v => v as i16 as i64 as u64),
                Op::Ldxs4 => ldx!(s, d, sr, 4, v => v as i32 as i64 as u64),
                Op::St1 => store!(s, d, 1, s.imm),
                Op::St2 => store!(s, d, 2, s.imm),
                Op::St4 => store!(s, d, 4, s.imm),
                Op::St8 => store!(s, d, 8, s.imm),
                Op::Stx1 => store!(s, d, 1, r[sr]),
                Op::Stx2 => store!(s, d, 2, r[sr]),
                Op::Stx4 => store!(s, d, 4, r[sr]),
                Op::Stx8 => store!(s, d, 8, r[sr]),
                Op::Atomic4 | Op::Atomic8 => {
                    let n: u8 = if s.op == Op::Atomic4 { 4 } else { 8 };
                    let addr = r[d].wrapping_add(s.aux as i64 as u64);
                    let operand = r[sr];
                    let expected = r[0];
                    let aop = s.imm as i32;
                    let narrow = |v: u64| if n == 4 { v & 0xffff_ffff } else { v };
                    let f = |old: u64| -> Option<u64> {
                        match aop & !atomic::FETCH {
                            atomic::ADD => Some(old.wrapping_add(operand)),
                            atomic::OR => Some(old | operand),
                            atomic::AND => Some(old & operand),
                            atomic::XOR => Some(old ^ operand),
                            c if c == atomic::XCHG & !atomic::FETCH => Some(operand),
                            // cmpxchg
                            _ => (old == narrow(expected)).then_some(operand),
                        }
                    };
                    let old = match mem.rmw(addr, n, &f) {
                        Ok(old) => narrow(old),
                        Err(fault) => return Err(fault.at(pc, addr, n)),
                    };
                    if aop == atomic::CMPXCHG {
                        r[0] = old;
                    } else if aop & atomic::FETCH != 0 {
                        r[sr] = old;
                    }
                    pc += 1;
                }
                Op::End => return Err(RunError::FellOffEnd { pc }),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
}

#[inline(always)]
fn div64(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}
#[inline(always)]
fn mod64(a: u64, b: u64) -> u64 {
    a.checked_rem(b).unwrap_or(a)
}
#[inline(always)]
fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i64).wrapping_div(b as i64) as u64
    }
}
#[inline(always)]
fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        (a as i64).wrapping_rem(b as i64) as u64
    }
}
#[inline(always)]
fn div32(a: u64, b: u64) -> u64 {
    u64::from((a as u32).checked_div(b as u32).unwrap_or(0))
}
#[inline(always)]
fn mod32(a: u64, b: u64) -> u64 {
    u64::from((a as u32).checked_rem(b as u32).unwrap_or(a as u32))
}
#[inline(always)]
fn sdiv32(a: u64, b: u64) -> u64 {
    if b as u32 == 0 {
        0
    } else {
        u64::from((a as i32).wrapping_div(b as i32) as u32)
    }
}
#[inline(always)]
fn smod32(a: u64, b: u64) -> u64 {
    if b as u32 == 0 {
        u64::from(a as u32)
    } else {
        u64::from((a as i32).wrapping_rem(b as i32) as u32)
    }
}

/// Why a memory access failed, before the pc is attached.
#[derive(Debug, Clone, Copy)]
enum Fault {
    OutOfBounds,
    ReadOnly,
    Misaligned,
}

impl Fault {
    #[cold]
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

/// Where a checked access lands.
enum Loc {
    /// Memory only this run touches (stack, packet): plain accesses.
    Plain(*mut u8),
    /// A map value: atomic accesses only.
    Shared {
        base: *mut u8,
        vlen: usize,
        off: usize,
    },
}

/// The regions valid in the current run.
struct Mem<'v> {
    /// Start of the live stack window (deepest frame's bottom).
    stk: *mut u8,
    stk_addr: u64,
    stk_span: u64,
    stk_base: *mut u8,
    pkt: *mut u8,
    pkt_addr: u64,
    pkt_len: u64,
    writable: bool,
    /// The most recently granted value (len 0 before any): checked inline
    /// because filters mostly touch the value they just looked up.
    last: Value,
    values: &'v mut ValueList,
}

/// The offset of the `n` bytes at `addr` in the `len` bytes at `start`, if
/// they lie inside.
#[inline(always)]
pub(crate) fn within(addr: u64, start: u64, len: u64, n: u64) -> Option<usize> {
    let a = addr.wrapping_sub(start);
    (a < len && len - a >= n).then_some(a as usize)
}

impl Mem<'_> {
    /// Makes the stacks of frames `0..=depth` valid.
    #[inline]
    fn set_depth(&mut self, depth: usize) {
        let span = FRAME_SIZE * (depth + 1);
        self.stk_span = span as u64;
        self.stk = self.stk_base.wrapping_add(STACK_BYTES - span);
        self.stk_addr = self.stk_base.addr() as u64 + (STACK_BYTES - span) as u64;
    }

    #[inline(always)]
    fn locate(&self, addr: u64, n: u64) -> Option<(Loc, bool)> {
        if let Some(a) = within(addr, self.stk_addr, self.stk_span, n) {
            // SAFETY: a + n <= stk_span, inside the stack allocation.
            return Some((Loc::Plain(unsafe { self.stk.add(a) }), true));
        }
        if let Some(a) = within(addr, self.pkt_addr, self.pkt_len, n) {
            // SAFETY: a + n <= pkt_len, inside the packet.
            return Some((Loc::Plain(unsafe { self.pkt.add(a) }), self.writable));
        }
        self.locate_value(addr, n)
    }

    #[inline(never)]
    fn locate_value(&self, addr: u64, n: u64) -> Option<(Loc, bool)> {
        self.values.find(addr, n).map(|(v, off)| {
            (
                Loc::Shared {
                    base: v.ptr.as_ptr(),
                    vlen: v.len as usize,
                    off,
                },
                true,
            )
        })
    }

    #[inline(always)]
    fn load<const N: usize>(&self, addr: u64) -> Option<u64> {
        if let Some(a) = within(addr, self.stk_addr, self.stk_span, N as u64) {
            // SAFETY: inside the stack window.
            return Some(unsafe { read_plain::<N>(self.stk.add(a)) });
        }
        if let Some(a) = within(addr, self.pkt_addr, self.pkt_len, N as u64) {
            // SAFETY: inside the packet.
            return Some(unsafe { read_plain::<N>(self.pkt.add(a)) });
        }
        if let Some(off) = within(addr, self.last.addr, self.last.len, N as u64) {
            // SAFETY: a granted value, kept alive by the run's guard;
            // off + N <= len.
            return Some(unsafe {
                shared::load(self.last.ptr.as_ptr(), self.last.len as usize, off, N)
            });
        }
        self.load_value(addr, N)
    }

    #[inline(never)]
    fn load_value(&self, addr: u64, n: usize) -> Option<u64> {
        match self.locate_value(addr, n as u64)? {
            // SAFETY: a granted value, kept alive by the run's guard;
            // off + n <= vlen.
            (Loc::Shared { base, vlen, off }, _) => {
                Some(unsafe { shared::load(base, vlen, off, n) })
            }
            (Loc::Plain(_), _) => None,
        }
    }

    #[inline(always)]
    fn store<const N: usize>(&mut self, addr: u64, v: u64) -> Result<(), Fault> {
        if let Some(a) = within(addr, self.stk_addr, self.stk_span, N as u64) {
            // SAFETY: inside the stack window.
            unsafe { write_plain::<N>(self.stk.add(a), v) };
            return Ok(());
        }
        if let Some(off) = within(addr, self.last.addr, self.last.len, N as u64) {
            // SAFETY: a granted value, kept alive by the run's guard;
            // off + N <= len.
            unsafe { shared::store(self.last.ptr.as_ptr(), self.last.len as usize, off, N, v) };
            return Ok(());
        }
        self.store_slow(addr, N, v)
    }

    #[inline(never)]
    fn store_slow(&mut self, addr: u64, n: usize, v: u64) -> Result<(), Fault> {
        match self.locate(addr, n as u64) {
            None => Err(Fault::OutOfBounds),
            Some((_, false)) => Err(Fault::ReadOnly),
            Some((Loc::Plain(p), true)) => {
                let b = v.to_le_bytes();
                // SAFETY: `locate` checked n bytes at p; the packet is
                // writable in this run.
                unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), p, n) };
                Ok(())
            }
            Some((Loc::Shared { base, vlen, off }, true)) => {
                // SAFETY: a granted value; off + n <= vlen.
                unsafe { shared::store(base, vlen, off, n, v) };
                Ok(())
            }
        }
    }

    /// Atomically replaces the `n`-byte integer at `addr` by `f(old)` (when
    /// `Some`) and returns the old value.
    fn rmw(&mut self, addr: u64, n: u8, f: &dyn Fn(u64) -> Option<u64>) -> Result<u64, Fault> {
        let n = usize::from(n);
        let (loc, writable) = self.locate(addr, n as u64).ok_or(Fault::OutOfBounds)?;
        if !writable {
            return Err(Fault::ReadOnly);
        }
        if !addr.is_multiple_of(n as u64) {
            return Err(Fault::Misaligned);
        }
        Ok(match loc {
            Loc::Plain(p) => {
                let mut b = [0u8; 8];
                // SAFETY: `locate` checked n bytes at p; nothing else accesses
                // stack or packet during the run, so a plain read-modify-write
                // is atomic with respect to every observer.
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
            Some((Loc::Plain(p), _)) => {
                // SAFETY: `locate` checked out.len() bytes at p.
                unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
                true
            }
            Some((Loc::Shared { base, vlen, off }, _)) => {
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
        match self.values.grant(ptr, len) {
            Some(v) => {
                self.last = v;
                true
            }
            None => false,
        }
    }

    fn max_values(&self) -> usize {
        MAX_VALUES
    }
}

/// Reads an `N`-byte little-endian integer.
///
/// # Safety
/// `p` is valid for `N` bytes.
#[inline(always)]
unsafe fn read_plain<const N: usize>(p: *const u8) -> u64 {
    // SAFETY: forwarded; unaligned reads are allowed.
    unsafe {
        match N {
            1 => u64::from(*p),
            2 => u64::from(u16::from_le(core::ptr::read_unaligned(p.cast::<u16>()))),
            4 => u64::from(u32::from_le(core::ptr::read_unaligned(p.cast::<u32>()))),
            _ => u64::from_le(core::ptr::read_unaligned(p.cast::<u64>())),
        }
    }
}

/// Writes the low `N` bytes of `v`, little-endian.
///
/// # Safety
/// `p` is valid for writing `N` bytes.
#[inline(always)]
unsafe fn write_plain<const N: usize>(p: *mut u8, v: u64) {
    // SAFETY: forwarded; unaligned writes are allowed.
    unsafe {
        match N {
            1 => *p = v as u8,
            2 => core::ptr::write_unaligned(p.cast::<u16>(), (v as u16).to_le()),
            4 => core::ptr::write_unaligned(p.cast::<u32>(), (v as u32).to_le()),
            _ => core::ptr::write_unaligned(p.cast::<u64>(), v.to_le()),
        }
    }
}

/// Checks `insns` and turns them into slots (plus the sentinel).
fn decode(insns: &[Insn], maps: &MapTable) -> Result<(Box<[Slot]>, bool), LoadError> {
    let n = insns.len();
    if n == 0 {
        return Err(LoadError::Empty);
    }
    if n > MAX_SLOTS {
        return Err(LoadError::TooLarge {
            len: n,
            max: MAX_SLOTS,
        });
    }
    let mut out: Vec<Slot> = Vec::with_capacity(n + 1);
    let mut is_tail = vec![false; n];
    // (pc, target) pairs checked once every lddw tail is known.
    let mut targets: Vec<(usize, i64)> = Vec::new();
    let mut uses_maps = false;
    let mut pc = 0;
    while pc < n {
        let i = insns[pc];
        let unknown = LoadError::UnknownOpcode { pc, op: i.op };
        let bad = LoadError::BadOperand { pc, op: i.op };
        let rd = |r: u8| {
            if usize::from(r) < isa::NUM_REGS {
                Ok(r)
            } else {
                Err(LoadError::BadRegister { pc, reg: r })
            }
        };
        let wr = |r: u8| {
            if r < isa::FRAME_REG {
                Ok(r)
            } else {
                Err(LoadError::BadRegister { pc, reg: r })
            }
        };
        let rel = |off: i64| pc as i64 + 1 + off;
        let slot = match i.class() {
            class::ALU | class::ALU64 => decode_alu(i, wr(i.dst)?, &rd, &unknown, &bad)?,
            class::JMP | class::JMP32 => {
                let wide = i.class() == class::JMP;
                let x = i.is_reg_source();
                match (i.code(), x) {
                    (jmp::JA, false) => {
                        let t = if wide {
                            rel(i64::from(i.off))
                        } else {
                            rel(i64::from(i.imm))
                        };
                        targets.push((pc, t));
                        Slot::new(Op::Ja, 0, 0, t as i32, 0)
                    }
                    (jmp::CALL, false) if wide => match i.src {
                        call_src::HELPER => {
                            let h = Helper::from_id(i.imm)
                                .ok_or(LoadError::UnknownHelper { pc, id: i.imm })?;
                            uses_maps |= h.uses_map();
                            let op = match h {
                                Helper::MapLookupElem => Op::CallLookup,
                                Helper::MapUpdateElem => Op::CallUpdate,
                                Helper::MapDeleteElem => Op::CallDelete,
                                Helper::KtimeGetNs => Op::CallKtime,
                                Helper::Hash => Op::CallHash,
                                Helper::GetPrandomU32 => Op::CallPrandom,
                            };
                            Slot::new(op, 0, 0, i.imm, 0)
                        }
                        call_src::PSEUDO_CALL => {
                            let t = rel(i64::from(i.imm));
                            targets.push((pc, t));
                            Slot::new(Op::CallLocal, 0, 0, t as i32, 0)
                        }
                        _ => return Err(bad),
                    },
                    (jmp::EXIT, false) if wide => Slot::new(Op::Exit, 0, 0, 0, 0),
                    (code, x) => {
                        let op = jump_op(code, wide, x).ok_or(unknown)?;
                        let dst = rd(i.dst)?;
                        let src = if x { rd(i.src)? } else { 0 };
                        let t = rel(i64::from(i.off));
                        targets.push((pc, t));
                        let imm = if wide {
                            i64::from(i.imm) as u64
                        } else {
                            u64::from(i.imm as u32)
                        };
                        Slot::new(op, dst, src, t as i32, imm)
                    }
                }
            }
            class::LD => {
                if i.op != isa::LDDW {
                    return Err(unknown);
                }
                let dst = wr(i.dst)?;
                let Some(&hi) = insns.get(pc + 1) else {
                    return Err(LoadError::TruncatedLddw { pc });
                };
                if hi.op != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0 {
                    return Err(bad);
                }
                let imm = match i.src {
                    0 => u64::from(i.imm as u32) | (u64::from(hi.imm as u32) << 32),
                    isa::PSEUDO_MAP_FD => usize::try_from(i.imm)
                        .ok()
                        .and_then(|ix| maps.handle(ix))
                        .ok_or(LoadError::UnknownMap { pc, index: i.imm })?,
                    _ => return Err(bad),
                };
                out.push(Slot::new(Op::Lddw, dst, 0, 0, imm));
                // Never executed: `Lddw` advances by two and no jump may land
                // here. Were it reached, it would just skip ahead.
                is_tail[pc + 1] = true;
                out.push(Slot::new(Op::Ja, 0, 0, (pc + 2) as i32, 0));
                pc += 2;
                continue;
            }
            class::LDX => {
                let op = match (i.mode_bits(), i.size_bits()) {
                    (mode::MEM, size::B) => Op::Ldx1,
                    (mode::MEM, size::H) => Op::Ldx2,
                    (mode::MEM, size::W) => Op::Ldx4,
                    (mode::MEM, _) => Op::Ldx8,
                    (mode::MEMSX, size::B) => Op::Ldxs1,
                    (mode::MEMSX, size::H) => Op::Ldxs2,
                    (mode::MEMSX, size::W) => Op::Ldxs4,
                    _ => return Err(unknown),
                };
                Slot::new(op, wr(i.dst)?, rd(i.src)?, i32::from(i.off), 0)
            }
            class::ST => {
                if i.mode_bits() != mode::MEM {
                    return Err(unknown);
                }
                let op = match i.size_bits() {
                    size::B => Op::St1,
                    size::H => Op::St2,
                    size::W => Op::St4,
                    _ => Op::St8,
                };
                Slot::new(op, rd(i.dst)?, 0, i32::from(i.off), i64::from(i.imm) as u64)
            }
            _ => {
                // STX
                match (i.mode_bits(), i.size_bits()) {
                    (mode::MEM, sz) => {
                        let op = match sz {
                            size::B => Op::Stx1,
                            size::H => Op::Stx2,
                            size::W => Op::Stx4,
                            _ => Op::Stx8,
                        };
                        Slot::new(op, rd(i.dst)?, rd(i.src)?, i32::from(i.off), 0)
                    }
                    (mode::ATOMIC, sz @ (size::W | size::DW)) => {
                        let fetch = match i.imm {
                            atomic::ADD | atomic::OR | atomic::AND | atomic::XOR => false,
                            c if c == atomic::ADD | atomic::FETCH
                                || c == atomic::OR | atomic::FETCH
                                || c == atomic::AND | atomic::FETCH
                                || c == atomic::XOR | atomic::FETCH
                                || c == atomic::XCHG =>
                            {
                                true
                            }
                            atomic::CMPXCHG => false,
                            _ => return Err(bad),
                        };
                        let src = if fetch { wr(i.src)? } else { rd(i.src)? };
                        let op = if sz == size::W {
                            Op::Atomic4
                        } else {
                            Op::Atomic8
                        };
                        Slot::new(op, rd(i.dst)?, src, i32::from(i.off), i.imm as u32 as u64)
                    }
                    _ => return Err(unknown),
                }
            }
        };
        out.push(slot);
        pc += 1;
    }
    for (pc, t) in targets {
        let ok = usize::try_from(t).is_ok_and(|t| t < n && !is_tail[t]);
        if !ok {
            return Err(LoadError::BadJumpTarget { pc, target: t });
        }
    }
    out.push(Slot::new(Op::End, 0, 0, 0, 0));
    Ok((out.into_boxed_slice(), uses_maps))
}

fn decode_alu(
    i: Insn,
    dst: u8,
    rd: &dyn Fn(u8) -> Result<u8, LoadError>,
    unknown: &LoadError,
    bad: &LoadError,
) -> Result<Slot, LoadError> {
    let wide = i.class() == class::ALU64;
    let x = i.is_reg_source();
    let src = if x { rd(i.src)? } else { 0 };
    let imm = if wide {
        i64::from(i.imm) as u64
    } else {
        u64::from(i.imm as u32)
    };
    // (64-bit K, 64-bit X, 32-bit K, 32-bit X)
    let pick = |ops: [Op; 4]| match (wide, x) {
        (true, false) => ops[0],
        (true, true) => ops[1],
        (false, false) => ops[2],
        (false, true) => ops[3],
    };
    use Op::*;
    let op = match i.code() {
        alu::ADD => pick([Add64K, Add64X, Add32K, Add32X]),
        alu::SUB => pick([Sub64K, Sub64X, Sub32K, Sub32X]),
        alu::MUL => pick([Mul64K, Mul64X, Mul32K, Mul32X]),
        alu::OR => pick([Or64K, Or64X, Or32K, Or32X]),
        alu::AND => pick([And64K, And64X, And32K, And32X]),
        alu::XOR => pick([Xor64K, Xor64X, Xor32K, Xor32X]),
        alu::LSH => pick([Lsh64K, Lsh64X, Lsh32K, Lsh32X]),
        alu::RSH => pick([Rsh64K, Rsh64X, Rsh32K, Rsh32X]),
        alu::ARSH => pick([Arsh64K, Arsh64X, Arsh32K, Arsh32X]),
        alu::DIV => match i.off {
            0 => pick([Div64K, Div64X, Div32K, Div32X]),
            1 => pick([Sdiv64K, Sdiv64X, Sdiv32K, Sdiv32X]),
            _ => return Err(bad.clone()),
        },
        alu::MOD => match i.off {
            0 => pick([Mod64K, Mod64X, Mod32K, Mod32X]),
            1 => pick([Smod64K, Smod64X, Smod32K, Smod32X]),
            _ => return Err(bad.clone()),
        },
        alu::MOV => match (i.off, x, wide) {
            (0, _, _) => pick([Mov64K, Mov64X, Mov32K, Mov32X]),
            (8, true, true) => Movsx64B,
            (16, true, true) => Movsx64H,
            (32, true, true) => Movsx64W,
            (8, true, false) => Movsx32B,
            (16, true, false) => Movsx32H,
            _ => return Err(bad.clone()),
        },
        alu::NEG if !x => {
            if wide {
                Neg64
            } else {
                Neg32
            }
        }
        alu::END => {
            // ALU64 | END | K is the unconditional swap; ALU | END | K is
            // to-little-endian, ALU | END | X to-big-endian.
            let swap = match (wide, x) {
                (true, false) => true,
                (true, true) => return Err(unknown.clone()),
                (false, false) => cfg!(target_endian = "big"),
                (false, true) => cfg!(target_endian = "little"),
            };
            match (i.imm, swap) {
                (16, true) => Bswap16,
                (32, true) => Bswap32,
                (64, true) => Bswap64,
                (16, false) => Zext16,
                (32, false) => Zext32,
                (64, false) => Nop,
                _ => return Err(bad.clone()),
            }
        }
        _ => return Err(unknown.clone()),
    };
    Ok(Slot::new(op, dst, src, 0, imm))
}

fn jump_op(code: u8, wide: bool, x: bool) -> Option<Op> {
    use Op::*;
    let ops = match code {
        jmp::JEQ => [Jeq64K, Jeq64X, Jeq32K, Jeq32X],
        jmp::JNE => [Jne64K, Jne64X, Jne32K, Jne32X],
        jmp::JGT => [Jgt64K, Jgt64X, Jgt32K, Jgt32X],
        jmp::JGE => [Jge64K, Jge64X, Jge32K, Jge32X],
        jmp::JLT => [Jlt64K, Jlt64X, Jlt32K, Jlt32X],
        jmp::JLE => [Jle64K, Jle64X, Jle32K, Jle32X],
        jmp::JSGT => [Jsgt64K, Jsgt64X, Jsgt32K, Jsgt32X],
        jmp::JSGE => [Jsge64K, Jsge64X, Jsge32K, Jsge32X],
        jmp::JSLT => [Jslt64K, Jslt64X, Jslt32K, Jslt32X],
        jmp::JSLE => [Jsle64K, Jsle64X, Jsle32K, Jsle32X],
        jmp::JSET => [Jset64K, Jset64X, Jset32K, Jset32X],
        _ => return None,
    };
    Some(match (wide, x) {
        (true, false) => ops[0],
        (true, true) => ops[1],
        (false, false) => ops[2],
        (false, true) => ops[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::maps::{MapDef, MapType};

    fn load(src: &str) -> Interpreter {
        Interpreter::new(&assemble(src).unwrap(), vec![]).unwrap()
    }

    fn run_mem(src: &str, mem: &mut [u8]) -> Result<u64, RunError> {
        load(src).run(mem, &mut RunEnv::new(0))
    }

    fn r0(src: &str) -> u64 {
        run_mem(src, &mut []).unwrap()
    }

    fn load_err(insns: &[Insn]) -> LoadError {
        Interpreter::new(insns, vec![]).unwrap_err()
    }

    fn map(t: MapType, key: u32, value: u32, n: u32) -> Arc<Map> {
        Arc::new(
            Map::new(
                MapDef {
                    name: "m".into(),
                    map_type: t,
                    key_size: key,
                    value_size: value,
                    max_entries: n,
                    flags: 0,
                },
                2,
            )
            .unwrap(),
        )
    }

    const EXIT: Insn = Insn::new(0x95, 0, 0, 0, 0);

    #[test]
    fn shareable_across_workers() {
        // One program is shared by every worker; each worker owns an env.
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Interpreter>();
        send::<RunEnv>();
    }

    #[test]
    fn alu64_operations() {
        let cases: &[(&str, u64)] = &[
            ("mov %r0, 7\nadd %r0, 5", 12),
            ("mov %r0, 7\nmov %r1, -9\nadd %r0, %r1", (-2i64) as u64),
            ("mov %r0, 7\nsub %r0, 9", (-2i64) as u64),
            ("mov %r0, 7\nmov %r1, 3\nsub %r0, %r1", 4),
            ("mov %r0, 7\nmul %r0, -3", (-21i64) as u64),
            (
                "lddw %r0, 0x100000000\nmov %r1, 0x10\nmul %r0, %r1",
                0x10_0000_0000,
            ),
            ("mov %r0, 100\ndiv %r0, 7", 14),
            // Unsigned 64-bit division by a sign-extended immediate.
            ("mov %r0, -1\ndiv %r0, -1", 1),
            ("mov %r0, 100\nmov %r1, 7\ndiv %r0, %r1", 14),
            ("mov %r0, -100\nsdiv %r0, 7", (-14i64) as u64),
            ("mov %r0, -100\nmov %r1, -7\nsdiv %r0, %r1", 14),
            ("mov %r0, 100\nmod %r0, 7", 2),
            ("mov %r0, 100\nmov %r1, 7\nmod %r0, %r1", 2),
            ("mov %r0, -100\nsmod %r0, 7", (-2i64) as u64),
            ("mov %r0, 100\nmov %r1, -7\nsmod %r0, %r1", 2),
            ("mov %r0, 0xf0\nor %r0, 0x0f", 0xff),
            ("mov %r0, 0xf0\nmov %r1, 0x3c\nand %r0, %r1", 0x30),
            ("mov %r0, 0xff\nxor %r0, 0x0f", 0xf0),
            ("mov %r0, 1\nlsh %r0, 63", 1 << 63),
            ("mov %r0, -1\nrsh %r0, 60", 0xf),
            ("mov %r0, -16\narsh %r0, 2", (-4i64) as u64),
            ("mov %r0, -16\nmov %r1, 2\narsh %r0, %r1", (-4i64) as u64),
            ("mov %r0, 5\nneg %r0", (-5i64) as u64),
            ("mov %r0, -1", u64::MAX),
            ("mov %r1, 0x80\nmovsx864 %r0, %r1", (-128i64) as u64),
            ("mov %r1, 0x8000\nmovsx1664 %r0, %r1", (-32768i64) as u64),
            (
                "lddw %r1, 0x80000000\nmovsx3264 %r0, %r1",
                0xffff_ffff_8000_0000,
            ),
        ];
        for (src, want) in cases {
            assert_eq!(r0(&format!("{src}\nexit")), *want, "{src}");
        }
    }

    #[test]
    fn alu32_zero_extends() {
        let cases: &[(&str, u64)] = &[
            ("mov %r0, -1\nadd32 %r0, 1", 0),
            ("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 0", 0xffff_ffff),
            ("mov32 %r0, -1", 0xffff_ffff),
            ("lddw %r1, 0x1234567890\nmov32 %r0, %r1", 0x3456_7890),
            ("mov %r0, 3\nsub32 %r0, 5", 0xffff_fffe),
            ("mov %r0, 0x10000\nmul32 %r0, 0x10000", 0),
            ("mov32 %r0, -100\nsdiv32 %r0, 7", (-14i32) as u32 as u64),
            ("mov32 %r0, -100\nsmod32 %r0, 7", (-2i32) as u32 as u64),
            ("lddw %r0, 0x1ffffffff\ndiv32 %r0, 2", 0x7fff_ffff),
            ("lddw %r0, 0x100000007\nmod32 %r0, 4", 3),
            ("lddw %r0, 0xffffffff00000000\nor32 %r0, 1", 1),
            ("mov %r0, -1\nand32 %r0, 0xff", 0xff),
            ("mov %r0, -1\nxor32 %r0, 0xff", 0xffff_ff00),
            ("mov %r0, 1\nlsh32 %r0, 31", 0x8000_0000),
            ("mov %r0, -1\nrsh32 %r0, 28", 0xf),
            ("mov32 %r0, -16\narsh32 %r0, 2", (-4i32) as u32 as u64),
            ("mov %r0, 5\nneg32 %r0", (-5i32) as u32 as u64),
            ("mov %r1, 0x80\nmovsx832 %r0, %r1", 0xffff_ff80),
            ("mov %r1, 0x8000\nmovsx1632 %r0, %r1", 0xffff_8000),
        ];
        for (src, want) in cases {
            assert_eq!(r0(&format!("{src}\nexit")), *want, "{src}");
        }
    }

    #[test]
    fn division_and_modulo_by_zero() {
        let cases: &[(&str, u64)] = &[
            ("mov %r0, 9\ndiv %r0, 0", 0),
            ("mov %r0, 9\nmov %r1, 0\ndiv %r0, %r1", 0),
            ("mov %r0, 9\nsdiv %r0, 0", 0),
            ("mov %r0, 9\nmov %r1, 0\nsdiv %r0, %r1", 0),
            ("mov %r0, 9\ndiv32 %r0, 0", 0),
            ("mov %r0, 9\nmov %r1, 0\nsdiv32 %r0, %r1", 0),
            ("mov %r0, -9\nmod %r0, 0", (-9i64) as u64),
            ("mov %r0, -9\nmov %r1, 0\nmod %r0, %r1", (-9i64) as u64),
            ("mov %r0, -9\nsmod %r0, 0", (-9i64) as u64),
            // 32-bit: destination truncated to 32 bits and zero-extended.
            ("mov %r0, -9\nmod32 %r0, 0", (-9i32) as u32 as u64),
            (
                "mov %r0, -9\nmov %r1, 0\nsmod32 %r0, %r1",
                (-9i32) as u32 as u64,
            ),
            // Only the low 32 bits of the divisor count for 32-bit division.
            ("mov %r0, 9\nlddw %r1, 0x100000000\ndiv32 %r0, %r1", 0),
            // Signed overflow wraps.
            (
                "lddw %r0, 0x8000000000000000\nsdiv %r0, -1",
                0x8000_0000_0000_0000,
            ),
            ("lddw %r0, 0x8000000000000000\nsmod %r0, -1", 0),
            ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x8000_0000),
            ("mov32 %r0, 0x80000000\nsmod32 %r0, -1", 0),
        ];
        for (src, want) in cases {
            assert_eq!(r0(&format!("{src}\nexit")), *want, "{src}");
        }
    }

    #[test]
    fn shift_amounts_are_masked() {
        let cases: &[(&str, u64)] = &[
            ("mov %r0, 3\nlsh %r0, 64", 3),
            ("mov %r0, 3\nlsh %r0, 65", 6),
            ("mov %r0, 3\nmov %r1, 129\nlsh %r0, %r1", 6),
            ("mov %r0, 8\nrsh %r0, 67", 1),
            ("mov %r0, -8\narsh %r0, 65", (-4i64) as u64),
            ("mov %r0, 3\nlsh32 %r0, 32", 3),
            ("mov %r0, 3\nmov %r1, 33\nlsh32 %r0, %r1", 6),
            ("mov %r0, 8\nrsh32 %r0, 35", 1),
            ("mov32 %r0, -8\narsh32 %r0, 33", (-4i32) as u32 as u64),
        ];
        for (src, want) in cases {
            assert_eq!(r0(&format!("{src}\nexit")), *want, "{src}");
        }
    }

    #[test]
    fn byte_swaps() {
        let v = "lddw %r0, 0x0123456789abcdef\n";
        let cases: &[(&str, u64)] = &[
            ("le16 %r0", 0xcdef),
            ("le32 %r0", 0x89ab_cdef),
            ("le64 %r0", 0x0123_4567_89ab_cdef),
            ("be16 %r0", 0xefcd),
            ("be32 %r0", 0xefcd_ab89),
            ("be64 %r0", 0xefcd_ab89_6745_2301),
            ("swap16 %r0", 0xefcd),
            ("swap32 %r0", 0xefcd_ab89),
            ("swap64 %r0", 0xefcd_ab89_6745_2301),
        ];
        for (src, want) in cases {
            assert_eq!(r0(&format!("{v}{src}\nexit")), *want, "{src}");
        }
    }

    #[test]
    fn jumps_all_conditions() {
        // (condition, dst, operand, taken?) for 64 and 32-bit, K and X forms.
        let cases: &[(&str, i64, i64, bool)] = &[
            ("jeq", 5, 5, true),
            ("jeq", 5, 6, false),
            ("jne", 5, 6, true),
            ("jne", 5, 5, false),
            ("jgt", -1, 1, true),
            ("jgt", 1, 1, false),
            ("jge", 1, 1, true),
            ("jge", 0, 1, false),
            ("jlt", 1, -1, true),
            ("jlt", 1, 1, false),
            ("jle", 1, 1, true),
            ("jle", 2, 1, false),
            ("jsgt", 1, -1, true),
            ("jsgt", -1, 1, false),
            ("jsge", -1, -1, true),
            ("jsge", -2, -1, false),
            ("jslt", -1, 1, true),
            ("jslt", 1, -1, false),
            ("jsle", -1, -1, true),
            ("jsle", 0, -1, false),
            ("jset", 6, 2, true),
            ("jset", 6, 1, false),
        ];
        for &(c, a, b, taken) in cases {
            for suffix in ["", "32"] {
                for reg in [false, true] {
                    let operand = if reg {
                        "%r2".to_string()
                    } else {
                        b.to_string()
                    };
                    let src = format!(
                        "lddw %r1, {a}\nmov %r2, {b}\nmov %r0, 0\n{c}{suffix} %r1, {operand}, +1\nexit\nmov %r0, 1\nexit"
                    );
                    assert_eq!(r0(&src), u64::from(taken), "{src}");
                }
            }
        }
        // 32-bit comparisons ignore the high halves.
        assert_eq!(
            r0("lddw %r1, 0x100000005\nmov %r0, 0\njeq32 %r1, 5, +1\nexit\nmov %r0, 1\nexit"),
            1
        );
        assert_eq!(
            r0("lddw %r1, 0x100000005\nmov %r0, 0\njeq %r1, 5, +1\nexit\nmov %r0, 1\nexit"),
            0
        );
        // ja and the 32-bit-offset ja.
        assert_eq!(r0("mov %r0, 1\nja +1\nmov %r0, 2\nexit"), 1);
        assert_eq!(r0("mov %r0, 1\nja32 +1\nmov %r0, 2\nexit"), 1);
        // Backward jump (a counted loop).
        assert_eq!(
            r0("mov %r0, 0\nmov %r1, 10\nloop:\nadd %r0, 3\nsub %r1, 1\njne %r1, 0, loop\nexit"),
            30
        );
    }

    #[test]
    fn lddw_and_map_handles() {
        assert_eq!(
            r0("lddw %r0, 0x123456789abcdef0\nexit"),
            0x1234_5678_9abc_def0
        );
        let m = map(MapType::Array, 4, 8, 4);
        let p = assemble("lddw %r0, map:0\nexit").unwrap();
        let i = Interpreter::new(&p, vec![m.clone()]).unwrap();
        let h = i.run(&mut [], &mut RunEnv::new(0)).unwrap();
        assert_eq!(h, Arc::as_ptr(&m).addr() as u64);
        assert_eq!(i.maps().handle(0), Some(h));
        assert!(i.maps().resolve(h).is_some());
        assert!(i.maps().resolve(h + 8).is_none());
    }

    #[test]
    fn loads_and_stores() {
        let mut mem = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa];
        let cases: &[(&str, u64)] = &[
            ("ldxb %r0, [%r1+1]", 0x22),
            ("ldxh %r0, [%r1+1]", 0x3322),
            ("ldxw %r0, [%r1+1]", 0x5544_3322),
            ("ldxdw %r0, [%r1+2]", 0xaa99_8877_6655_4433),
            ("ldxsb %r0, [%r1+8]", (-0x67i64) as u64),
            ("ldxsh %r0, [%r1+8]", 0xffff_ffff_ffff_aa99),
            ("ldxsw %r0, [%r1+6]", 0xffff_ffff_aa99_8877),
            ("mov %r0, %r2", 10),
            ("stb [%r10-1], 0x7f\nldxb %r0, [%r10-1]", 0x7f),
            ("sth [%r10-2], -2\nldxh %r0, [%r10-2]", 0xfffe),
            ("stw [%r10-4], -2\nldxw %r0, [%r10-4]", 0xffff_fffe),
            ("stdw [%r10-8], -2\nldxdw %r0, [%r10-8]", u64::MAX - 1),
            (
                "lddw %r2, 0x0102030405060708\nstxdw [%r10-512], %r2\nldxw %r0, [%r10-508]",
                0x0102_0304,
            ),
            (
                "mov %r2, 0x1ff\nstxb [%r10-3], %r2\nldxb %r0, [%r10-3]",
                0xff,
            ),
            (
                "mov %r2, -1\nstxh [%r10-3], %r2\nldxh %r0, [%r10-3]",
                0xffff,
            ),
            (
                "mov %r2, -1\nstxw [%r10-7], %r2\nldxw %r0, [%r10-7]",
                0xffff_ffff,
            ),
        ];
        for (src, want) in cases {
            let mut m = mem;
            assert_eq!(
                run_mem(&format!("{src}\nexit"), &mut m).unwrap(),
                *want,
                "{src}"
            );
        }
        // Stores into a writable packet land in `mem`.
        run_mem("stb [%r1+0], 1\nmov %r2, 0x0302\nstxh [%r1+4], %r2\nstw [%r1+6], 0x07060504\nmov %r0, 0\nexit", &mut mem)
            .unwrap();
        assert_eq!(mem, [1, 0x22, 0x33, 0x44, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn out_of_bounds_accesses() {
        let mut mem = [0u8; 8];
        let cases: &[(&str, u64, u8, bool)] = &[
            // (program, addr offset from r1 or r10 (see below), len, write)
            ("ldxb %r0, [%r1+8]", 8, 1, false),
            ("ldxw %r0, [%r1+5]", 5, 4, false),
            ("ldxdw %r0, [%r1-1]", u64::MAX, 8, false),
            ("stb [%r1+8], 0", 8, 1, true),
            ("mov %r2, 0\nstxdw [%r1+1], %r2", 1, 8, true),
        ];
        for &(src, off, len, write) in cases {
            let i = load(&format!("{src}\nmov %r0, 0\nexit"));
            let base = mem.as_ptr().addr() as u64;
            let e = i.run(&mut mem, &mut RunEnv::new(0)).unwrap_err();
            let pc = if src.contains('\n') { 1 } else { 0 };
            assert_eq!(
                e,
                RunError::OutOfBounds {
                    pc,
                    addr: base.wrapping_add(off),
                    len,
                    write
                },
                "{src}"
            );
        }
        // The stack: above r10 and below 512 bytes are out of bounds.
        for src in [
            "ldxb %r0, [%r10+0]",
            "ldxb %r0, [%r10-513]",
            "ldxdw %r0, [%r10-4]",
        ] {
            let e = run_mem(&format!("{src}\nexit"), &mut []).unwrap_err();
            assert!(
                matches!(
                    e,
                    RunError::OutOfBounds {
                        pc: 0,
                        write: false,
                        ..
                    }
                ),
                "{src}: {e:?}"
            );
        }
        // A wild pointer and a null pointer.
        for src in [
            "mov %r1, 0\nldxb %r0, [%r1+0]",
            "lddw %r1, 0x7fff00001000\nstb [%r1+0], 1",
        ] {
            let e = run_mem(&format!("{src}\nexit"), &mut []).unwrap_err();
            assert!(matches!(e, RunError::OutOfBounds { .. }), "{src}: {e:?}");
        }
    }

    #[test]
    fn readonly_packet() {
        let mem = [5u8; 4];
        let i = load("ldxb %r0, [%r1+3]\nexit");
        assert_eq!(i.run_readonly(&mem, &mut RunEnv::new(0)), Ok(5));
        let i = load("stb [%r1+1], 7\nmov %r0, 0\nexit");
        let e = i.run_readonly(&mem, &mut RunEnv::new(0)).unwrap_err();
        assert_eq!(
            e,
            RunError::ReadOnlyPacket {
                pc: 0,
                addr: mem.as_ptr().addr() as u64 + 1,
                len: 1
            }
        );
        let i = load("mov %r2, 1\nlock add32 [%r1+0], %r2\nmov %r0, 0\nexit");
        let e = i.run_readonly(&mem, &mut RunEnv::new(0)).unwrap_err();
        assert!(matches!(e, RunError::ReadOnlyPacket { pc: 1, len: 4, .. }));
        assert_eq!(mem, [5; 4]);
    }

    #[test]
    fn atomics() {
        let prelude = "lddw %r3, 0x100000005\nstxdw [%r10-8], %r3\nmov %r2, 3\n";
        let cases: &[(&str, &str, u64)] = &[
            // (op, what to return, expected)
            (
                "lock add [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0008,
            ),
            (
                "lock add32 [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0008,
            ),
            (
                "lock or [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0007,
            ),
            ("lock and [%r10-8], %r2", "ldxdw %r0, [%r10-8]", 1),
            (
                "lock xor32 [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0006,
            ),
            (
                "lock fetch add [%r10-8], %r2",
                "mov %r0, %r2",
                0x1_0000_0005,
            ),
            ("lock fetch add32 [%r10-8], %r2", "mov %r0, %r2", 5),
            (
                "lock fetch or [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0007,
            ),
            ("lock fetch and32 [%r10-8], %r2", "mov %r0, %r2", 5),
            (
                "lock fetch xor [%r10-8], %r2",
                "mov %r0, %r2",
                0x1_0000_0005,
            ),
            ("lock xchg [%r10-8], %r2", "ldxdw %r0, [%r10-8]", 3),
            ("lock xchg [%r10-8], %r2", "mov %r0, %r2", 0x1_0000_0005),
            (
                "lock xchg32 [%r10-8], %r2",
                "ldxdw %r0, [%r10-8]",
                0x1_0000_0003,
            ),
            // 32-bit add wraps inside its word half.
            (
                "lock add32 [%r10-4], %r2",
                "ldxdw %r0, [%r10-8]",
                0x4_0000_0005,
            ),
        ];
        for (op, ret, want) in cases {
            let src = format!("{prelude}{op}\n{ret}\nexit");
            assert_eq!(r0(&src), *want, "{src}");
        }
        // cmpxchg: success writes, failure does not; r0 gets the old value.
        let ok = "lddw %r0, 0x100000005\nlock cmpxchg [%r10-8], %r2\nmov %r4, %r0\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r4";
        assert_eq!(
            r0(&format!("{prelude}{ok}\nexit")),
            (3 << 8) | 0x1_0000_0005
        );
        let fail = "mov %r0, 5\nlock cmpxchg [%r10-8], %r2\nmov %r4, %r0\nldxdw %r0, [%r10-8]\nxor %r0, %r4";
        assert_eq!(r0(&format!("{prelude}{fail}\nexit")), 0);
        // 32-bit cmpxchg compares the low half of r0 only.
        let ok32 = "lddw %r0, 0xff00000005\nlock cmpxchg32 [%r10-8], %r2\nmov %r4, %r0\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r4";
        assert_eq!(
            r0(&format!("{prelude}{ok32}\nexit")),
            (0x1_0000_0003 << 8) | 5
        );
        // Misaligned atomics are refused.
        let e = run_mem("mov %r2, 1\nlock add [%r10-12], %r2\nexit", &mut []).unwrap_err();
        assert!(matches!(
            e,
            RunError::MisalignedAtomic { pc: 1, len: 8, .. }
        ));
        let e = run_mem("mov %r2, 1\nlock add32 [%r10-6], %r2\nexit", &mut []).unwrap_err();
        assert!(matches!(
            e,
            RunError::MisalignedAtomic { pc: 1, len: 4, .. }
        ));
        let e = run_mem("mov %r2, 1\nlock add [%r10+0], %r2\nexit", &mut []).unwrap_err();
        assert!(matches!(
            e,
            RunError::OutOfBounds {
                pc: 1,
                len: 8,
                write: true,
                ..
            }
        ));
    }

    #[test]
    fn local_calls_preserve_callee_saved_registers() {
        let src = "
            mov %r6, 1
            mov %r7, 2
            mov %r1, 40
            stdw [%r10-8], 99
            call local f
            # r0 = 42 from f; r6, r7 restored; our stack intact
            add %r0, %r6
            add %r0, %r7
            ldxdw %r1, [%r10-8]
            add %r0, %r1
            exit
        f:
            mov %r6, 1000
            mov %r7, 1000
            stdw [%r10-8], 5
            ldxdw %r0, [%r10-8]
            sub %r0, 3
            add %r0, %r1
            exit
        ";
        assert_eq!(r0(src), 42 + 1 + 2 + 99);
        // A callee may use its caller's stack through a pointer; after the
        // return, the callee's frame is no longer accessible.
        let src = "
            mov %r1, %r10
            call local f
            ldxdw %r0, [%r0+0]
            exit
        f:
            stdw [%r1-8], 7
            mov %r0, %r10
            sub %r0, 8
            stdw [%r0+0], 1
            exit
        ";
        let e = run_mem(src, &mut []).unwrap_err();
        assert!(
            matches!(
                e,
                RunError::OutOfBounds {
                    pc: 2,
                    write: false,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            r0("mov %r1, %r10\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1-8], 7\nexit"),
            7
        );
    }

    #[test]
    fn call_depth_limit() {
        // f recurses r1 times: 7 nested calls fit (8 frames), 8 do not.
        let src = |n: u32| {
            format!(
                "mov %r1, {n}\nmov %r0, 0\ncall local f\nexit\nf:\nadd %r0, 1\njeq %r1, 1, +2\nsub %r1, 1\ncall local f\nexit"
            )
        };
        assert_eq!(r0(&src(7)), 7);
        let e = run_mem(&src(8), &mut []).unwrap_err();
        assert_eq!(
            e,
            RunError::CallDepthExceeded {
                pc: 7,
                max: MAX_FRAMES
            }
        );
        // Each frame has its own 512 bytes.
        let src = "mov %r0, %r10\ncall local f\nsub %r0, %r1\nexit\nf:\nmov %r1, %r10\nexit";
        assert_eq!(r0(src), 512);
    }

    #[test]
    fn run_errors() {
        assert_eq!(
            run_mem("mov %r0, 1", &mut []),
            Err(RunError::FellOffEnd { pc: 1 })
        );
        assert_eq!(
            run_mem("mov %r0, 1\njeq %r0, 0, +1\nexit\nmov %r0, 2", &mut []),
            Ok(1)
        );
        let i = Interpreter::new(
            &assemble("mov %r0, 0\nloop:\nadd %r0, 1\nja loop").unwrap(),
            vec![],
        )
        .unwrap()
        .with_budget(1000);
        assert_eq!(
            i.run(&mut [], &mut RunEnv::new(0)),
            Err(RunError::BudgetExceeded {
                pc: 2,
                budget: 1000
            })
        );
        // The default budget stops an infinite loop too.
        assert!(matches!(
            run_mem("ja -1", &mut []),
            Err(RunError::BudgetExceeded {
                pc: 0,
                budget: DEFAULT_BUDGET
            })
        ));
        // A straight-line program longer than the budget is stopped at exit.
        let mut p = vec![Insn::new(0xb7, 0, 0, 0, 1); 20];
        p.push(EXIT);
        let i = Interpreter::new(&p, vec![]).unwrap().with_budget(20);
        assert_eq!(
            i.run(&mut [], &mut RunEnv::new(0)),
            Err(RunError::BudgetExceeded { pc: 20, budget: 20 })
        );
        let i = Interpreter::new(&p, vec![]).unwrap().with_budget(21);
        assert_eq!(i.run(&mut [], &mut RunEnv::new(0)), Ok(1));
    }

    #[test]
    fn load_errors() {
        assert_eq!(load_err(&[]), LoadError::Empty);
        let big = vec![EXIT; MAX_SLOTS + 1];
        assert_eq!(
            load_err(&big),
            LoadError::TooLarge {
                len: MAX_SLOTS + 1,
                max: MAX_SLOTS
            }
        );
        for op in [
            0x20u8, 0x28, 0x30, 0x40, 0x48, 0x50, 0xff, 0x8c, 0xdf, 0x0d, 0x86, 0x96, 0xe5, 0x9b,
            0xd3, 0xcb, 0x8a, 0xf1,
        ] {
            assert_eq!(
                load_err(&[Insn::new(op, 0, 0, 0, 0), EXIT]),
                LoadError::UnknownOpcode { pc: 0, op },
                "{op:#x}"
            );
        }
        // Bad registers: r11 anywhere, writes to r10.
        assert_eq!(
            load_err(&[Insn::new(0xb7, 11, 0, 0, 0), EXIT]),
            LoadError::BadRegister { pc: 0, reg: 11 }
        );
        assert_eq!(
            load_err(&[EXIT, Insn::new(0xbf, 0, 12, 0, 0)]),
            LoadError::BadRegister { pc: 1, reg: 12 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x07, 10, 0, 0, 8), EXIT]),
            LoadError::BadRegister { pc: 0, reg: 10 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x79, 10, 1, 0, 0), EXIT]),
            LoadError::BadRegister { pc: 0, reg: 10 }
        );
        // lock fetch add writes its source register.
        assert_eq!(
            load_err(&[Insn::new(0xdb, 1, 10, 0, 1), EXIT]),
            LoadError::BadRegister { pc: 0, reg: 10 }
        );
        // Bad operands.
        for i in [
            Insn::new(0xd4, 0, 0, 0, 12),   // le12
            Insn::new(0x3f, 0, 1, 2, 0),    // div with offset 2
            Insn::new(0xb7, 0, 0, 8, 1),    // movsx from an immediate
            Insn::new(0xbc, 0, 1, 32, 0),   // movsx3232
            Insn::new(0xdb, 1, 2, 0, 0x10), // atomic sub
            Insn::new(0xc3, 1, 2, 0, 0xe0), // xchg without fetch
            Insn::new(0x85, 0, 2, 0, 1),    // call with src 2
        ] {
            assert_eq!(
                load_err(&[i, EXIT]),
                LoadError::BadOperand { pc: 0, op: i.op },
                "{i:?}"
            );
        }
        // Broken lddw pairs.
        assert_eq!(
            load_err(&[EXIT, Insn::new(0x18, 0, 0, 0, 1)]),
            LoadError::TruncatedLddw { pc: 1 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x18, 0, 0, 0, 1), Insn::new(0, 1, 0, 0, 0), EXIT]),
            LoadError::BadOperand { pc: 0, op: 0x18 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x18, 0, 2, 0, 1), Insn::new(0, 0, 0, 0, 0), EXIT]),
            LoadError::BadOperand { pc: 0, op: 0x18 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x18, 0, 1, 0, 0), Insn::new(0, 0, 0, 0, 0), EXIT]),
            LoadError::UnknownMap { pc: 0, index: 0 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x18, 0, 1, 0, -1), Insn::new(0, 0, 0, 0, 0), EXIT]),
            LoadError::UnknownMap { pc: 0, index: -1 }
        );
        // Jump targets: past the end, before the start, into an lddw.
        assert_eq!(
            load_err(&[Insn::new(0x05, 0, 0, 1, 0), EXIT]),
            LoadError::BadJumpTarget { pc: 0, target: 2 }
        );
        assert_eq!(
            load_err(&[EXIT, Insn::new(0x15, 1, 0, -3, 0)]),
            LoadError::BadJumpTarget { pc: 1, target: -1 }
        );
        assert_eq!(
            load_err(&[
                Insn::new(0x05, 0, 0, 1, 0),
                Insn::new(0x18, 0, 0, 0, 1),
                Insn::new(0, 0, 0, 0, 0),
                EXIT
            ]),
            LoadError::BadJumpTarget { pc: 0, target: 2 }
        );
        assert_eq!(
            load_err(&[Insn::new(0x06, 0, 0, 0, i32::MAX), EXIT]),
            LoadError::BadJumpTarget {
                pc: 0,
                target: i64::from(i32::MAX) + 1
            }
        );
        assert_eq!(
            load_err(&[Insn::new(0x85, 0, 1, 0, 5), EXIT]),
            LoadError::BadJumpTarget { pc: 0, target: 6 }
        );
        // Helpers.
        for id in [0, 4, 8, 12, -1] {
            assert_eq!(
                load_err(&[Insn::new(0x85, 0, 0, 0, id), EXIT]),
                LoadError::UnknownHelper { pc: 0, id }
            );
        }
    }

    #[test]
    fn helpers_without_maps() {
        let mut env = RunEnv::new(3);
        env.set_time(TimeSource::Batch(123_456));
        assert_eq!(env.time(), TimeSource::Batch(123_456));
        assert_eq!(env.cpu(), 3);
        let i = load("call 5\nexit");
        assert_eq!(i.run(&mut [], &mut env), Ok(123_456));
        env.set_time(TimeSource::Monotonic);
        assert!(i.run(&mut [], &mut env).unwrap() >= 1_000_000_000);

        let mut mem = *b"foobar";
        let i = load("mov %r2, 6\ncall 6\nexit");
        assert_eq!(
            i.run(&mut mem, &mut env),
            Ok(u64::from(helpers::hash(b"foobar")))
        );
        // hash over stack bytes.
        let i = load("stw [%r10-4], 0x61\nmov %r1, %r10\nsub %r1, 4\nmov %r2, 1\ncall 6\nexit");
        assert_eq!(i.run(&mut [], &mut env), Ok(u64::from(helpers::hash(b"a"))));
        // A range past the packet is refused.
        let i = load("mov %r2, 7\ncall 6\nexit");
        let base = mem.as_ptr().addr() as u64;
        assert_eq!(
            i.run(&mut mem, &mut env),
            Err(RunError::Helper {
                pc: 1,
                helper: Helper::Hash,
                error: HelperError::BadPointer { addr: base, len: 7 }
            })
        );

        // An enormous length is refused before anything is allocated.
        let i = load("lddw %r2, 0x7fffffffffffffff\ncall 6\nexit");
        assert_eq!(
            i.run(&mut mem, &mut env),
            Err(RunError::Helper {
                pc: 2,
                helper: Helper::Hash,
                error: HelperError::BadPointer {
                    addr: base,
                    len: 0x7fff_ffff_ffff_ffff
                }
            })
        );

        let i = load("call 7\nmov %r6, %r0\ncall 7\nlsh %r0, 32\nor %r0, %r6\nexit");
        env.seed_prng(9);
        let a = i.run(&mut [], &mut env).unwrap();
        env.seed_prng(9);
        assert_eq!(i.run(&mut [], &mut env).unwrap(), a);
        let mut p = Prng::new(9);
        let lo = u64::from(p.next_u32());
        assert_eq!(a, (u64::from(p.next_u32()) << 32) | lo);
    }

    #[test]
    fn map_helpers_hash() {
        let m = map(MapType::Hash, 4, 16, 2);
        // update(key = 1, value = {7, 9}, flags = r6), return r0.
        let update = |flags: u64| {
            format!(
                "stw [%r10-4], 1\nstdw [%r10-24], 7\nstdw [%r10-16], 9\nlddw %r1, map:0\nmov %r2, %r10\nsub %r2, 4\nmov %r3, %r10\nsub %r3, 24\nmov %r4, {flags}\ncall 2\nexit"
            )
        };
        let prog = |src: &str| Interpreter::new(&assemble(src).unwrap(), vec![m.clone()]).unwrap();
        let mut env = RunEnv::new(0);
        assert_eq!(prog(&update(2)).run(&mut [], &mut env), Ok((-2i64) as u64));
        assert_eq!(prog(&update(0)).run(&mut [], &mut env), Ok(0));
        assert_eq!(prog(&update(1)).run(&mut [], &mut env), Ok((-17i64) as u64));
        assert_eq!(prog(&update(7)).run(&mut [], &mut env), Ok((-22i64) as u64));
        // lookup, then add to the value's second word through the pointer.
        let lookup = "
            stw [%r10-4], 1
            lddw %r1, map:0
            mov %r2, %r10
            sub %r2, 4
            call 1
            jne %r0, 0, +2
            mov %r0, 1000
            exit
            ldxdw %r1, [%r0+0]
            ldxdw %r2, [%r0+8]
            add %r2, 5
            stxdw [%r0+8], %r2
            stb [%r0+1], 1
            mov %r0, %r1
            exit
        ";
        assert_eq!(prog(lookup).run(&mut [], &mut env), Ok(7));
        let v = m.lookup_copy(&1u32.to_le_bytes()).unwrap().unwrap();
        assert_eq!(&v[..8], &(7u64 | 0x100).to_le_bytes());
        assert_eq!(&v[8..], &14u64.to_le_bytes());
        // Reads past value_size are out of bounds.
        let past = lookup.replace("ldxdw %r2, [%r0+8]", "ldxdw %r2, [%r0+9]");
        assert!(matches!(
            prog(&past).run(&mut [], &mut env),
            Err(RunError::OutOfBounds {
                pc: 10,
                len: 8,
                write: false,
                ..
            })
        ));
        // Key in the packet; a short packet is a bad pointer.
        let by_pkt = "mov %r2, %r1\nlddw %r1, map:0\ncall 1\nexit";
        let mut pkt = 1u32.to_le_bytes();
        assert_ne!(prog(by_pkt).run(&mut pkt, &mut env), Ok(0));
        let mut pkt = [2u8, 0, 0, 0];
        assert_eq!(prog(by_pkt).run(&mut pkt, &mut env), Ok(0));
        let mut short = [1u8, 0, 0];
        assert!(matches!(
            prog(by_pkt).run(&mut short, &mut env),
            Err(RunError::Helper {
                pc: 3,
                helper: Helper::MapLookupElem,
                error: HelperError::BadPointer { len: 4, .. }
            })
        ));
        // A forged handle.
        let forged =
            "lddw %r1, map:0\nadd %r1, 8\nmov %r2, %r10\nsub %r2, 4\nstw [%r2+0], 0\ncall 1\nexit";
        assert!(matches!(
            prog(forged).run(&mut [], &mut env),
            Err(RunError::Helper {
                pc: 6,
                helper: Helper::MapLookupElem,
                error: HelperError::BadMapHandle { .. }
            })
        ));
        // delete: present then absent.
        let delete = "stw [%r10-4], 1\nlddw %r1, map:0\nmov %r2, %r10\nsub %r2, 4\ncall 3\nexit";
        assert_eq!(prog(delete).run(&mut [], &mut env), Ok(0));
        assert_eq!(prog(delete).run(&mut [], &mut env), Ok((-2i64) as u64));
        // Full map: E2BIG.
        let put = |k: u32| {
            format!(
                "stw [%r10-4], {k}\nlddw %r1, map:0\nmov %r2, %r10\nsub %r2, 4\nmov %r3, %r10\nsub %r3, 24\nmov %r4, 0\ncall 2\nexit"
            )
        };
        for k in [10, 11] {
            assert_eq!(prog(&put(k)).run(&mut [], &mut env), Ok(0));
        }
        assert_eq!(prog(&put(12)).run(&mut [], &mut env), Ok((-7i64) as u64));
    }

    #[test]
    fn map_values_key_from_value_and_many_values() {
        // An array map of 300 u32 slots; look up each index (key on the
        // stack) and add it to a running sum read back from the values.
        let m = map(MapType::Array, 4, 8, 300);
        for k in 0..300u32 {
            m.update_from_controller(&k.to_le_bytes(), &u64::from(k).to_le_bytes(), 0)
                .unwrap();
        }
        let src = |n: u32| {
            format!(
                "
                mov %r6, 0
                mov %r7, 0
            loop:
                stxw [%r10-4], %r6
                lddw %r1, map:0
                mov %r2, %r10
                sub %r2, 4
                call 1
                jeq %r0, 0, out
                ldxdw %r1, [%r0+0]
                add %r7, %r1
                add %r6, 1
                jlt %r6, {n}, loop
            out:
                mov %r0, %r7
                exit"
            )
        };
        let prog = |s: &str| Interpreter::new(&assemble(s).unwrap(), vec![m.clone()]).unwrap();
        let mut env = RunEnv::new(0);
        assert_eq!(prog(&src(256)).run(&mut [], &mut env), Ok(255 * 256 / 2));
        assert_eq!(
            prog(&src(257)).run(&mut [], &mut env),
            Err(RunError::Helper {
                pc: 7,
                helper: Helper::MapLookupElem,
                error: HelperError::TooManyValues { max: MAX_VALUES }
            })
        );
        // Looking up the same value repeatedly does not use up slots.
        let same = src(1000).replace("stxw [%r10-4], %r6", "stw [%r10-4], 3");
        assert_eq!(prog(&same).run(&mut [], &mut env), Ok(3000));
        // A key read out of a map value (index 5 holds 5).
        let chained = "
            stw [%r10-4], 5
            lddw %r1, map:0
            mov %r2, %r10
            sub %r2, 4
            call 1
            jeq %r0, 0, +4
            mov %r2, %r0
            lddw %r1, map:0
            call 1
            ldxdw %r0, [%r0+0]
            exit";
        assert_eq!(prog(chained).run(&mut [], &mut env), Ok(5));
        // A value pointer does not survive into the next run.
        let keep = "stw [%r10-4], 1\nlddw %r1, map:0\nmov %r2, %r10\nsub %r2, 4\ncall 1\nexit";
        let p = prog(keep).run(&mut [], &mut env).unwrap();
        let reuse = format!("lddw %r1, {p}\nldxdw %r0, [%r1+0]\nexit");
        assert!(matches!(
            prog(&reuse).run(&mut [], &mut env),
            Err(RunError::OutOfBounds { pc: 2, .. })
        ));
    }

    #[test]
    fn atomics_on_shared_values_across_threads() {
        let m = map(MapType::Array, 4, 16, 1);
        let src = "
            stw [%r10-4], 0
            lddw %r1, map:0
            mov %r2, %r10
            sub %r2, 4
            call 1
            jeq %r0, 0, +4
            mov %r1, 1
            lock add [%r0+0], %r1
            lock add32 [%r0+12], %r1
            mov %r0, 0
            exit";
        let prog = Arc::new(Interpreter::new(&assemble(src).unwrap(), vec![m.clone()]).unwrap());
        let threads: Vec<_> = (0..2)
            .map(|cpu| {
                let prog = prog.clone();
                std::thread::spawn(move || {
                    let mut env = RunEnv::new(cpu);
                    for _ in 0..5000 {
                        assert_eq!(prog.run(&mut [], &mut env), Ok(0));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = m.lookup_copy(&0u32.to_le_bytes()).unwrap().unwrap();
        assert_eq!(&v[..8], &10_000u64.to_le_bytes());
        assert_eq!(&v[8..12], &[0; 4]);
        assert_eq!(&v[12..], &10_000u32.to_le_bytes());
    }

    #[test]
    fn percpu_values_follow_the_env_cpu() {
        let m = map(MapType::PercpuArray, 4, 8, 1);
        let src = "stw [%r10-4], 0\nlddw %r1, map:0\nmov %r2, %r10\nsub %r2, 4\ncall 1\nmov %r1, 1\nlock add [%r0+0], %r1\nmov %r0, 0\nexit";
        let prog = Interpreter::new(&assemble(src).unwrap(), vec![m.clone()]).unwrap();
        prog.run(&mut [], &mut RunEnv::new(0)).unwrap();
        prog.run(&mut [], &mut RunEnv::new(1)).unwrap();
        prog.run(&mut [], &mut RunEnv::new(1)).unwrap();
        let v = m.lookup_copy(&0u32.to_le_bytes()).unwrap().unwrap();
        assert_eq!(v.len(), 16);
        assert_eq!(&v[..8], &1u64.to_le_bytes());
        assert_eq!(&v[8..], &2u64.to_le_bytes());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// One generated instruction before jump targets are resolved.
        #[derive(Debug, Clone)]
        enum G {
            /// Any ALU/ALU64 opcode with its fields.
            Alu(u8, u8, u8, i16, i32),
            /// A conditional or unconditional jump to the `seed`-th
            /// instruction.
            Jump(u8, u8, u8, u16, i32),
            /// A load, store or atomic.
            Mem(u8, u8, u8, i16, i32),
            Helper(i32),
            Local(u16),
            Exit,
            Lddw(u8, bool, i32, i32),
            /// Anything at all (mostly refused at load).
            Raw(u8, u8, u8, i16, i32),
        }

        const ALU_OPS: &[u8] = &[
            0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c,
            0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x07,
            0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77,
            0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7,
        ];
        const JMP_OPS: &[u8] = &[
            0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75,
            0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x06, 0x16, 0x1e, 0x26, 0x2e,
            0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e, 0xa6, 0xae, 0xb6, 0xbe,
            0xc6, 0xce, 0xd6, 0xde,
        ];
        const MEM_OPS: &[u8] = &[
            0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73,
            0x7b, 0xc3, 0xdb,
        ];

        fn reg() -> impl Strategy<Value = u8> {
            prop_oneof![12 => 0u8..10, 4 => Just(10u8), 2 => Just(1u8), 1 => 0u8..16]
        }

        fn imm() -> impl Strategy<Value = i32> {
            prop_oneof![
                4 => -8i32..520,
                1 => proptest::sample::select(vec![16, 32, 64, 8, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1]),
                1 => any::<i32>(),
            ]
        }

        fn slot() -> impl Strategy<Value = G> {
            prop_oneof![
                8 => (proptest::sample::select(ALU_OPS), 0u8..10, reg(), prop_oneof![9 => Just(0i16), 1 => proptest::sample::select(vec![1i16, 8, 16, 32, 2])], imm())
                    .prop_map(|(o, d, s, off, i)| G::Alu(o, d, s, off, i)),
                4 => (proptest::sample::select(JMP_OPS), reg(), reg(), any::<u16>(), imm())
                    .prop_map(|(o, d, s, t, i)| G::Jump(o, d, s, t, i)),
                5 => (proptest::sample::select(MEM_OPS), reg(), reg(), -520i16..80, imm())
                    .prop_map(|(o, d, s, off, i)| G::Mem(o, d, s, off, i)),
                2 => proptest::sample::select(vec![1, 2, 3, 5, 6, 7]).prop_map(G::Helper),
                1 => any::<u16>().prop_map(G::Local),
                2 => Just(G::Exit),
                1 => (0u8..10, any::<bool>(), any::<i32>(), any::<i32>())
                    .prop_map(|(d, m, lo, hi)| G::Lddw(d, m, lo, hi)),
                1 => (any::<u8>(), 0u8..16, 0u8..16, any::<i16>(), any::<i32>())
                    .prop_map(|(o, d, s, off, i)| G::Raw(o, d, s, off, i)),
            ]
        }

        /// Lays the instructions out and points jumps and calls at
        /// instruction starts.
        fn build(gs: &[G]) -> Vec<Insn> {
            let mut starts = Vec::new();
            let mut n = 0usize;
            for g in gs {
                starts.push(n);
                n += if matches!(g, G::Lddw(..)) { 2 } else { 1 };
            }
            let rel = |pc: usize, seed: u16| {
                starts[usize::from(seed) % starts.len()] as i64 - pc as i64 - 1
            };
            let mut out = Vec::with_capacity(n);
            for g in gs {
                let pc = out.len();
                match *g {
                    G::Alu(o, d, s, off, i) => out.push(Insn::new(o, d, s, off, i)),
                    G::Jump(o, d, s, t, i) => {
                        let off = rel(pc, t);
                        if o == 0x06 {
                            out.push(Insn::new(o, 0, 0, 0, off as i32));
                        } else {
                            out.push(Insn::new(o, d, s, off as i16, i));
                        }
                    }
                    G::Mem(o, d, s, off, i) => out.push(Insn::new(o, d, s, off, i)),
                    G::Helper(id) => out.push(Insn::new(0x85, 0, 0, 0, id)),
                    G::Local(t) => out.push(Insn::new(0x85, 0, 1, 0, rel(pc, t) as i32)),
                    G::Exit => out.push(Insn::new(0x95, 0, 0, 0, 0)),
                    G::Lddw(d, m, lo, hi) => {
                        if m {
                            out.push(Insn::new(0x18, d, 1, 0, 0));
                            out.push(Insn::new(0, 0, 0, 0, 0));
                        } else {
                            out.push(Insn::new(0x18, d, 0, 0, lo));
                            out.push(Insn::new(0, 0, 0, 0, hi));
                        }
                    }
                    G::Raw(o, d, s, off, i) => out.push(Insn::new(o, d, s, off, i)),
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            /// Random instruction streams (about a fifth of them load; of
            /// those many run into memory, budget or helper errors) never
            /// panic, whatever their registers point at.
            #[test]
            fn random_programs_never_panic(
                gs in proptest::collection::vec(slot(), 1..40),
                mem in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                let prog = build(&gs);
                let m = map(MapType::Array, 4, 12, 4);
                if let Ok(i) = Interpreter::new(&prog, vec![m]) {
                    let i = i.with_budget(5_000);
                    let mut env = RunEnv::new(0);
                    let mut mem = mem;
                    let _ = i.run(&mut mem, &mut env);
                    let _ = i.run_readonly(&mem, &mut env);
                }
            }
        }
    }
}
