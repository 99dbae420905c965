//! The verifier: decides, before a filter program is installed, that it is
//! safe to run on every packet (EXTENSION.md §5, "Safety contract").
//!
//! # How it works
//!
//! 1. **Structure** (`cfg`): every slot is decoded and checked; functions
//!    are the entry (pc 0) plus every target of a BPF-to-BPF call; every
//!    edge must stay inside its function and land on an instruction start;
//!    the control-flow graph of each function must be acyclic; a topological
//!    order is computed.
//! 2. **Abstract interpretation** (`analyze`): each function instance is
//!    walked once in topological order. At every point the abstract state
//!    says, for each register and each stack byte of each live call frame,
//!    what it may hold (`state`): uninitialised, a scalar (unsigned and signed
//!    intervals, plus an exact relation `value = symbol + delta`, see
//!    `scalar`), or a typed pointer (packet, stack of frame *k*, map value
//!    of map *m* possibly null, map reference). Where paths meet, states are
//!    joined (interval hulls; symbols renamed pairwise so that relations
//!    between registers survive). The walk never enumerates paths, so a
//!    program of *n* instructions costs *O(n)* state operations per function
//!    instance; a BPF-to-BPF callee is analysed once per call site in the
//!    caller's context (calls nest at most [`MAX_CALL_DEPTH`] deep), and the
//!    whole analysis is capped at [`MAX_STEPS`] instruction visits.
//!
//! Packet bounds are facts `len >= symbol + c`. They are created by
//! comparisons: `if (r2 < N)` / `if (r2 < x + N)` on the length (or any
//! copy or `+ constant` of it) and `if (p + N > end)` on packet pointers,
//! where `end = r1 + r2`, or where `end` is itself bounded by a fact (as
//! `min(ip + tot_len, end)` is). A read at packet offset `symbol + d` of `size`
//! bytes is allowed when a fact gives `len >= symbol + d + size`, or when the
//! proven minimum length covers its largest possible offset. This covers
//! variable offsets such as `ihl = (b & 0xf) * 4; tcp = ip + ihl;
//! if (tcp + 20 > end) drop;` and the same check written on the length.
//!
//! The relations survive what clang does to lengths and offsets (see
//! `scalar::Link`), each only where it provably keeps or recovers the
//! value: zero-extension of a `u32` (`x <<= 32; x >>= 32`, `w = w`, a 32-bit
//! copy) and masks that cover a value's range are identities on values
//! below 2^32 (resp. within the mask); sign-extension of an `int`
//! (`x <<= 32; x s>>= 32`, `movsx`) gives the value back once a signed
//! check proves it non-negative; `int` arithmetic done in the high half of
//! a register (`x <<= 32; x += c << 32; x s>>= 32`) or in 32-bit registers
//! (where it may wrap) is tracked modulo 2^32 and pinned down by a later
//! check that leaves a single possible multiple of 2^32; signed
//! differences such as `(long)(end - p) < n` or `(long)(len - 14) < n` are
//! tracked exactly as two-symbol quantities. Unsigned checks of a possibly
//! wrapped value (`len - 14 < n` with `len` possibly below 14) establish
//! nothing.
//!
//! # What an accepted program is guaranteed to do (on every packet)
//!
//! - **Terminate.** At most [`MAX_INSNS`] slots; every function's CFG is a
//!   DAG; jumps stay inside their function, never land in the middle of an
//!   `lddw`; no instruction falls through the end of its function; calls
//!   are direct (no `callx`), non-recursive and at most [`MAX_CALL_DEPTH`]
//!   frames deep.
//! - **Read the packet only below a checked length.** Reads at offsets in
//!   `[0, len)` only, where the bound was established by a comparison as
//!   above. Packet offsets may be variable (bounded). Signed comparisons
//!   narrow only the signed range; they bound an offset only when both
//!   operands are known non-negative on the branch taken.
//! - **Never write the packet** (no store, no atomic through a packet
//!   pointer).
//! - **Use the stack safely.** Every access of every frame lies in
//!   `[r10 - 512, r10)` of that frame (unaligned is fine); reads are of
//!   initialised bytes only (tracked per byte); pointers are stored on the
//!   stack only as aligned 8-byte spills, keep their type when reloaded the
//!   same way, and any partial read of a spilled pointer is refused;
//!   variable stack offsets are allowed when bounded (a variable-offset
//!   write forgets spilled values and pointers in the slots it may touch;
//!   a variable-offset read needs every byte it may touch initialised).
//! - **Use map values safely.** `map_lookup_elem` returns "map value or
//!   null", which must be compared with 0 before any use (the check applies
//!   to all copies); accesses lie in `[0, value_size)`, variable offsets
//!   included; atomics work on map values and the stack (naturally aligned,
//!   constant offset), never on the packet.
//! - **Call helpers correctly.** Helper ids 1, 2, 3, 5, 6, 7 only.
//!   `map_*` take in r1 a map reference (`lddw` with `src =
//!   PSEUDO_MAP_FD` and a valid index), in r2 a pointer to `key_size`
//!   initialised, pointer-free, readable bytes (stack, packet or map
//!   value); `map_update_elem`'s r3 the same for `value_size` bytes, and r4
//!   a scalar, or never written on every path (or clobbered by an earlier
//!   helper call): then [`VerifyInfo::zero_flags_at`] lists the call and the
//!   runtime must pass 0 (Oko's three-argument calls); written on some paths
//!   only, or holding a pointer, it is refused. `hash`
//!   takes a readable region in r1 of r2 bytes (r2 a scalar bounded by 1 MiB).
//!   After any helper call r1–r5 are unreadable and r0 has the helper's
//!   return type.
//! - **Comparisons.** 64-bit comparisons narrow both operands' ranges.
//!   32-bit ones compare the low halves (zero-extended, or sign-extended for
//!   signed ones): they narrow an operand whose value determines its low
//!   half one to one (below 2^32 for unsigned ones; a sign-extended 32-bit
//!   value, or a value below 2^32 mapped onto its `int` reading, for signed
//!   ones), and narrow nothing else. Branches the ranges prove impossible
//!   are not followed.
//! - **BPF-to-BPF calls.** The callee sees the caller's r1–r5 and its own
//!   uninitialised r0, r6–r9 and fresh 512-byte frame; it is analysed in the
//!   caller's context at every call site. After the return r1–r5 are
//!   unreadable, r6–r9 and r10 are the caller's, and pointers the callee
//!   left in a caller's stack that point into its own frame are unreadable.
//! - **Registers.** No uninitialised register is read; r10 is never
//!   written; r0 holds a scalar at every `exit` (of the program and of every
//!   BPF-to-BPF function).
//! - **No pointer leaks.** No pointer is returned, stored into a map value,
//!   passed as key/value/hash bytes, stored narrower than 8 bytes or
//!   misaligned on the stack, or used as an atomic operand. Pointer arithmetic
//!   is 64-bit `add`/`sub` of a scalar only, on packet, stack and non-null
//!   map-value pointers (and `sub` of two pointers into the same object);
//!   pointers are compared (64-bit, unsigned or equality) only with
//!   pointers into the same object (packet with packet, stack with the same
//!   frame's stack), and map-value pointers only with 0 (the null check).
//! - **Instruction set.** RFC 9669 base32/base64, divmul32/64 (signed
//!   forms included), JMP32, atomic32/64, sign-extending loads and moves,
//!   byte swaps, `ja32`. Legacy `LD_ABS`/`LD_IND`, `callx`, `lddw` forms
//!   other than constants and map references, unknown opcodes, nonzero
//!   reserved fields and registers above r10 are refused. Division by zero
//!   is allowed (RFC 9669 defines it).
//!
//! # What is not checked
//!
//! - Unreachable code (including code only reachable through a branch the
//!   verifier proves never taken) is only checked structurally, and is not
//!   refused.
//! - Run time beyond the instruction count: a run executes each instruction
//!   of each analysed function instance at most once, so at most
//!   [`VerifyInfo::max_insns_executed`] (≤ [`MAX_STEPS`]) instructions.
//! - Values read from the packet or from maps, and helper results, are
//!   arbitrary; the verifier protects memory, not the program's logic.
//! - Alignment of ordinary loads and stores (only atomics must be aligned):
//!   the runtime must support unaligned accesses.
//! - Semantics assumed of the runtime: packets are at most
//!   [`MAX_PACKET_LEN`] bytes; `r1` points at the frame and `r2` holds its
//!   exact length; every call frame has its own 512-byte stack; map value
//!   pointers stay valid for the whole run and are 8-byte aligned; byte-swap
//!   instructions follow a little-endian host; the calls listed in
//!   [`VerifyInfo::zero_flags_at`] receive flags 0.

mod analyze;
mod cfg;
mod scalar;
mod state;

use crate::isa::Insn;
use crate::maps::MapDef;

/// Largest accepted program, in instruction slots.
pub const MAX_INSNS: usize = 65_536;
/// Deepest call nesting, counting the entry function.
pub const MAX_CALL_DEPTH: usize = 8;
/// Cap on instruction visits over the whole analysis (BPF-to-BPF callees
/// are analysed once per call site).
pub const MAX_STEPS: usize = 1 << 20;
/// Largest packet the runtime may hand to a program (the verifier's
/// arithmetic on the length relies on it).
pub const MAX_PACKET_LEN: u64 = u32::MAX as u64;

/// What the verifier learnt about an accepted program.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyInfo {
    /// Number of instruction slots.
    pub n_insns: usize,
    /// The functions: the entry first, then BPF-to-BPF callees by address.
    pub functions: Vec<FunctionInfo>,
    /// Deepest call nesting reached, counting the entry function (1 when the
    /// program makes no BPF-to-BPF call).
    pub max_call_depth: usize,
    /// Helper ids the program calls (on paths the verifier found feasible),
    /// ascending.
    pub helpers_used: Vec<i32>,
    /// Map indices referenced by `lddw`, ascending.
    pub maps_used: Vec<u32>,
    /// `map_update_elem` calls whose r4 is never written: the runtime must
    /// pass flags 0 there.
    pub zero_flags_at: Vec<usize>,
    /// Upper bound on the instructions one run executes (helpers count as
    /// one).
    pub max_insns_executed: usize,
    /// Every helper call the verifier reached, by ascending `pc`.
    pub helper_sites: Vec<HelperSite>,
    /// Upper bound on the `map_lookup_elem` calls one run makes (hence on
    /// the distinct map values it can hold).
    pub max_lookups: usize,
}

/// What the verifier knows of one helper call site, over every path (and
/// every BPF-to-BPF call instance) that reaches it. The JIT uses it to call
/// a map's operation directly, without re-checking what is proven here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HelperSite {
    /// Instruction index of the `call`.
    pub pc: usize,
    /// The helper id.
    pub helper: i32,
    /// The map r1 names on every path, for the map helpers; `None` when
    /// paths disagree or the helper takes no map.
    pub map: Option<u32>,
    /// Every pointer argument (key, value, hashed bytes) points into the
    /// stack or the packet on every path, never into a map value.
    pub plain_args: bool,
}

/// One function of an accepted program.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionInfo {
    /// First slot.
    pub start: usize,
    /// One past the last slot.
    pub end: usize,
    /// Bytes of its 512-byte frame it can touch, counted down from r10.
    pub stack_depth: usize,
}

/// Why a program is refused. Every variant names the instruction (`pc`, a
/// slot index) and renders as one line starting with `pc N: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The program has no instruction.
    #[error("pc 0: empty program")]
    Empty,
    /// More than [`MAX_INSNS`] slots.
    #[error("pc {MAX_INSNS}: program of {len} instructions exceeds the limit of {MAX_INSNS}")]
    TooLarge {
        /// Number of slots.
        len: usize,
    },
    /// The analysis exceeded [`MAX_STEPS`] instruction visits.
    #[error("pc {pc}: program too complex to verify (more than {MAX_STEPS} instruction visits)")]
    TooComplex {
        /// Where the budget ran out.
        pc: usize,
    },
    /// Not an instruction this verifier accepts.
    #[error("pc {pc}: invalid opcode {op:#04x}")]
    InvalidOpcode {
        /// Instruction index.
        pc: usize,
        /// The opcode byte.
        op: u8,
    },
    /// A field that must be zero (or take one of few values) does not.
    #[error("pc {pc}: invalid {field} field")]
    ReservedField {
        /// Instruction index.
        pc: usize,
        /// Which field.
        field: &'static str,
    },
    /// A register number above r10.
    #[error("pc {pc}: invalid register r{reg}")]
    InvalidRegister {
        /// Instruction index.
        pc: usize,
        /// The register number.
        reg: u8,
    },
    /// Legacy `LD_ABS` / `LD_IND` packet access.
    #[error("pc {pc}: legacy packet access (LD_ABS/LD_IND) is not supported")]
    LegacyPacketAccess {
        /// Instruction index.
        pc: usize,
    },
    /// An `lddw` without a valid second slot.
    #[error("pc {pc}: lddw without a valid second slot")]
    IncompleteLddw {
        /// Instruction index.
        pc: usize,
    },
    /// An `lddw` map reference to a map that does not exist.
    #[error("pc {pc}: reference to map {index}, which does not exist")]
    BadMapIndex {
        /// Instruction index.
        pc: usize,
        /// The map index in `imm`.
        index: u32,
    },
    /// An atomic operation code that does not exist.
    #[error("pc {pc}: invalid atomic operation {imm:#x}")]
    InvalidAtomic {
        /// Instruction index.
        pc: usize,
        /// The `imm` field.
        imm: i32,
    },
    /// A jump outside its function or into the middle of an `lddw`.
    #[error("pc {pc}: jump to invalid target {target}")]
    BadJumpTarget {
        /// Instruction index.
        pc: usize,
        /// The target slot.
        target: i64,
    },
    /// A BPF-to-BPF call outside the program or into an `lddw`.
    #[error("pc {pc}: call to invalid target {target}")]
    BadCallTarget {
        /// Instruction index.
        pc: usize,
        /// The target slot.
        target: i64,
    },
    /// Execution could run past the end of a function.
    #[error("pc {pc}: execution falls through the end of the function")]
    FallThrough {
        /// The last instruction of the function.
        pc: usize,
    },
    /// A loop.
    #[error("pc {pc}: jump to {target} closes a loop")]
    BackEdge {
        /// The jumping instruction.
        pc: usize,
        /// Its target.
        target: usize,
    },
    /// A BPF-to-BPF call to a function already on the call stack.
    #[error("pc {pc}: recursive call to the function at {target}")]
    Recursion {
        /// The call.
        pc: usize,
        /// The callee's first slot.
        target: usize,
    },
    /// Calls nested deeper than [`MAX_CALL_DEPTH`].
    #[error("pc {pc}: call depth {depth} exceeds {MAX_CALL_DEPTH}")]
    CallDepth {
        /// The call.
        pc: usize,
        /// The depth it would reach.
        depth: usize,
    },
    /// A write to r10.
    #[error("pc {pc}: r10 is read-only")]
    FrameWrite {
        /// Instruction index.
        pc: usize,
    },
    /// A read of a register that may be uninitialised (or holds values of
    /// different kinds on paths that merged).
    #[error("pc {pc}: r{reg} may be uninitialised")]
    UninitRegister {
        /// Instruction index.
        pc: usize,
        /// The register.
        reg: u8,
    },
    /// A read of a stack byte that may be uninitialised.
    #[error("pc {pc}: read of uninitialised stack byte at r10{off:+}")]
    UninitStack {
        /// Instruction index.
        pc: usize,
        /// Byte offset from the frame pointer (negative).
        off: i64,
    },
    /// A stack access outside `[r10 - 512, r10)`.
    #[error("pc {pc}: stack access of {size} bytes at r10{off:+} is outside the 512-byte frame")]
    StackOutOfBounds {
        /// Instruction index.
        pc: usize,
        /// Offending offset from the frame pointer.
        off: i64,
        /// Access size.
        size: u64,
    },
    /// A packet read that is not proven below the packet length.
    #[error(
        "pc {pc}: read of {size} bytes at packet offset {offset} beyond checked length {checked}"
    )]
    PacketOutOfBounds {
        /// Instruction index.
        pc: usize,
        /// Largest (or, when negative, smallest) offset the read may use.
        offset: i64,
        /// Access size.
        size: u64,
        /// The packet length proven at this point.
        checked: i64,
    },
    /// A store or atomic operation through a packet pointer.
    #[error("pc {pc}: the packet is read-only")]
    PacketWrite {
        /// Instruction index.
        pc: usize,
    },
    /// Use of a map value pointer that may be null.
    #[error("pc {pc}: r{reg} may be null (check the map_lookup_elem result against 0 first)")]
    NullableDeref {
        /// Instruction index.
        pc: usize,
        /// The register.
        reg: u8,
    },
    /// A map value access outside `[0, value_size)`.
    #[error(
        "pc {pc}: access of {size} bytes at offset {offset} of map {map}'s {value_size}-byte value"
    )]
    MapValueOutOfBounds {
        /// Instruction index.
        pc: usize,
        /// The map index.
        map: u32,
        /// Offending offset.
        offset: i64,
        /// Access size.
        size: u64,
        /// The map's value size.
        value_size: u32,
    },
    /// A memory access through something that is not a memory pointer.
    #[error("pc {pc}: r{reg} is not a pointer to memory")]
    InvalidMemoryAccess {
        /// Instruction index.
        pc: usize,
        /// The base register.
        reg: u8,
    },
    /// A read of part of a spilled pointer.
    #[error("pc {pc}: partial read of a spilled pointer at r10{off:+}")]
    PartialPointerRead {
        /// Instruction index.
        pc: usize,
        /// Offset of the first pointer byte read.
        off: i64,
    },
    /// An atomic operation at a variable or misaligned offset.
    #[error("pc {pc}: atomic operation at a variable or misaligned offset")]
    MisalignedAtomic {
        /// Instruction index.
        pc: usize,
    },
    /// A pointer would escape: returned, stored in a map, passed as data,
    /// or stored on the stack other than as an aligned 8-byte spill.
    #[error("pc {pc}: r{reg} would leak a pointer")]
    PointerLeak {
        /// Instruction index.
        pc: usize,
        /// The register holding (or pointing at) the pointer.
        reg: u8,
    },
    /// An arithmetic operation not allowed on a pointer.
    #[error("pc {pc}: invalid arithmetic on pointer r{reg}")]
    PointerArithmetic {
        /// Instruction index.
        pc: usize,
        /// The pointer register.
        reg: u8,
    },
    /// A comparison involving a pointer other than the allowed ones.
    #[error("pc {pc}: invalid pointer comparison")]
    PointerComparison {
        /// Instruction index.
        pc: usize,
    },
    /// Pointer arithmetic with an unbounded (or huge) scalar.
    #[error("pc {pc}: pointer arithmetic on r{reg} with an unbounded offset")]
    UnboundedOffset {
        /// Instruction index.
        pc: usize,
        /// The pointer register.
        reg: u8,
    },
    /// A helper id that does not exist.
    #[error("pc {pc}: unknown helper {id}")]
    UnknownHelper {
        /// Instruction index.
        pc: usize,
        /// The helper id.
        id: i32,
    },
    /// A helper argument of the wrong type.
    #[error("pc {pc}: helper argument r{arg} must be {expected}")]
    BadHelperArg {
        /// Instruction index.
        pc: usize,
        /// The argument register (1–5).
        arg: u8,
        /// What was expected.
        expected: &'static str,
    },
}

impl VerifyError {
    /// The instruction index the error is about.
    pub fn pc(&self) -> Option<usize> {
        use VerifyError::*;
        Some(match *self {
            Empty => 0,
            TooLarge { .. } => MAX_INSNS,
            TooComplex { pc }
            | InvalidOpcode { pc, .. }
            | ReservedField { pc, .. }
            | InvalidRegister { pc, .. }
            | LegacyPacketAccess { pc }
            | IncompleteLddw { pc }
            | BadMapIndex { pc, .. }
            | InvalidAtomic { pc, .. }
            | BadJumpTarget { pc, .. }
            | BadCallTarget { pc, .. }
            | FallThrough { pc }
            | BackEdge { pc, .. }
            | Recursion { pc, .. }
            | CallDepth { pc, .. }
            | FrameWrite { pc }
            | UninitRegister { pc, .. }
            | UninitStack { pc, .. }
            | StackOutOfBounds { pc, .. }
            | PacketOutOfBounds { pc, .. }
            | PacketWrite { pc }
            | NullableDeref { pc, .. }
            | MapValueOutOfBounds { pc, .. }
            | InvalidMemoryAccess { pc, .. }
            | PartialPointerRead { pc, .. }
            | MisalignedAtomic { pc }
            | PointerLeak { pc, .. }
            | PointerArithmetic { pc, .. }
            | PointerComparison { pc }
            | UnboundedOffset { pc, .. }
            | UnknownHelper { pc, .. }
            | BadHelperArg { pc, .. } => pc,
        })
    }
}

/// Verifies `insns` (slots as decoded from the object, maps relocated to
/// indices into `maps`) against the safety contract above.
pub fn verify(insns: &[Insn], maps: &[MapDef]) -> Result<VerifyInfo, VerifyError> {
    let cfg = cfg::build(insns, maps)?;
    let mut an = analyze::Analyzer::new(insns, maps, &cfg);
    an.run_function(0, analyze::Analyzer::entry_state())?;
    Ok(VerifyInfo {
        n_insns: insns.len(),
        functions: cfg
            .funcs
            .iter()
            .enumerate()
            .map(|(k, f)| FunctionInfo {
                start: f.start,
                end: f.end,
                stack_depth: an.stack_depth[k],
            })
            .collect(),
        max_call_depth: an.max_depth,
        helpers_used: an.helpers.iter().copied().collect(),
        maps_used: an.maps_used.iter().copied().collect(),
        zero_flags_at: an.zero_flags.iter().copied().collect(),
        max_insns_executed: an.steps,
        helper_sites: an.sites.values().copied().collect(),
        max_lookups: an.lookups,
    })
}
