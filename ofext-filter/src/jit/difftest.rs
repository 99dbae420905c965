//! Differential testing of the JIT against the interpreter, shared by the
//! proptest suite (`tests/jit_diff.rs`) and the `jit_diff` fuzz target.
//!
//! A case is built from a byte string (so a fuzzer's mutations and
//! proptest's shrinking both work on it) by one of two generators:
//!
//! - [`verified_case`] writes programs the verifier accepts: ALU and JMP32
//!   on scalars with special operands (0, -1, `INT_MIN`, shift counts past
//!   the width), packet reads behind length checks (constant and variable
//!   offsets, both on the length and with pointer comparisons), stack
//!   accesses of every width and alignment, atomics on the stack and on map
//!   values, `map_lookup_elem`/`update`/`delete` on HASH, ARRAY and LRU_HASH
//!   maps (including Oko's three-argument update), `hash`, `ktime_get_ns`,
//!   `get_prandom_u32`, and BPF-to-BPF calls. At the end every register
//!   and stack slot is folded into r0, so a wrong register or stack byte
//!   shows in the result.
//! - [`unverified_case`] writes any program the interpreter's loader
//!   accepts, for the checked mode: loops, stores into the packet,
//!   out-of-bounds and misaligned accesses, deep recursion, helper calls
//!   with bad pointers. Addresses (r1 at entry, r10) are only used as
//!   memory bases and helper arguments, never folded into r0, so results
//!   are comparable between engines whose stacks live at different
//!   addresses.
//!
//! [`check`] then loads the case in both engines with twin maps (same
//! definitions, same initial entries), runs every packet in order on both,
//! and compares the results (r0, or the error up to addresses), the packet
//! bytes afterwards, and every map's contents after every run. The JIT runs
//! every packet in one environment, as a worker does, so state a run leaves
//! in it (its run context, after an error too) is checked as well;
//! [`check_shared`] does the same for several programs taking turns in one
//! environment, inside a [`BatchGuard`] or not.

use std::sync::Arc;

use super::{JitError, JitProgram};
use crate::asm::disassemble;
use crate::helpers::{HelperError, TimeSource};
use crate::interp::{Interpreter, RunEnv, RunError};
use crate::isa::{self, Insn, alu, atomic, class, helper, jmp, mode, size};
use crate::maps::{BatchGuard, Map, MapDef, MapType};
use crate::verifier;

/// A generated test case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The program.
    pub insns: Vec<Insn>,
    /// Its maps.
    pub maps: Vec<MapDef>,
    /// The entries each map starts with (key, value).
    pub entries: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Packets, run in this order (maps keep their state in between).
    pub packets: Vec<Vec<u8>>,
    /// True for [`unverified_case`]: run in checked mode, memory writable.
    pub unverified: bool,
    /// Instruction budget of both engines (matters in checked mode).
    pub budget: u64,
}

/// How a case went when the engines agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The verifier refused a [`verified_case`] program: nothing ran.
    Refused,
    /// Both loaders refused the program with the same error.
    NotLoaded,
    /// Both engines ran every packet with the same results.
    Agreed {
        /// Runs made (per engine).
        runs: usize,
        /// Runs that ended in (the same) error.
        errors: usize,
    },
}

/// The engines disagree: a JIT bug (or an interpreter bug).
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// What differs.
    pub what: String,
    /// The program, disassembled.
    pub program: String,
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}\nprogram:\n{}", self.what, self.program)
    }
}

// ------------------------------------------------------------------ bytes

/// Draws values from the input; zeros once it is exhausted.
struct Draw<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Draw<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            self.u32() as usize % n
        }
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn coin(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// An immediate biased towards the values arithmetic gets wrong.
    fn imm(&mut self) -> i32 {
        match self.u8() % 8 {
            0 | 1 => self.pick(&[0, 1, -1, i32::MIN, i32::MAX, 2, -2, 0x7f, 0x80, 0xffff]),
            2 => self.pick(&[31, 32, 33, 63, 64, 65, 8, 16]),
            3 | 4 => i32::from(self.u8() as i8),
            _ => self.u32() as i32,
        }
    }
    /// A 64-bit constant, biased likewise.
    fn imm64(&mut self) -> u64 {
        match self.u8() % 4 {
            0 => self.pick(&[
                1 << 63,
                u64::MAX,
                (1 << 63) - 1,
                0xffff_ffff,
                0x1_0000_0000,
                0x8000_0000,
                0xffff_ffff_0000_0000,
            ]),
            1 => u64::from(self.u32()) << 32 | u64::from(self.u32()),
            _ => self.imm() as i64 as u64,
        }
    }
}

// -------------------------------------------------------------- assembly

/// An instruction, or a jump to a block of the program resolved once the
/// layout is known.
#[derive(Clone, Copy)]
enum Item {
    I(Insn),
    /// A conditional or unconditional jump (op, dst, src, imm) to block
    /// `target` of the same function.
    Jump(u8, u8, u8, i32, usize),
    /// A BPF-to-BPF call to function `f`.
    Call(usize),
}

/// A function under construction: blocks of items; jumps target blocks.
#[derive(Default)]
struct Func {
    blocks: Vec<Vec<Item>>,
}

fn ins(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Item {
    Item::I(Insn::new(op, dst, src, off, imm))
}

fn mov64_imm(dst: u8, imm: i32) -> Item {
    ins(class::ALU64 | alu::MOV, dst, 0, 0, imm)
}

fn mov64_reg(dst: u8, src: u8) -> Item {
    ins(class::ALU64 | alu::MOV | isa::source::X, dst, src, 0, 0)
}

fn add64_imm(dst: u8, imm: i32) -> Item {
    ins(class::ALU64 | alu::ADD, dst, 0, 0, imm)
}

fn call_helper(id: i32) -> Item {
    ins(class::JMP | jmp::CALL, 0, 0, 0, id)
}

fn lddw(dst: u8, src: u8, lo: i32, hi: i32) -> [Item; 2] {
    [ins(isa::LDDW, dst, src, 0, lo), ins(0, 0, 0, 0, hi)]
}

fn size_bits(n: usize) -> u8 {
    match n {
        1 => size::B,
        2 => size::H,
        4 => size::W,
        _ => size::DW,
    }
}

/// Lays out `funcs` (the entry first) and resolves jumps and calls.
fn link(funcs: &[Func]) -> Vec<Insn> {
    // Slot index of every block start, per function.
    let mut starts: Vec<Vec<usize>> = Vec::new();
    let mut fstart = Vec::new();
    let mut pc = 0usize;
    for f in funcs {
        fstart.push(pc);
        let mut s = Vec::new();
        for b in &f.blocks {
            s.push(pc);
            pc += b.len();
        }
        s.push(pc);
        starts.push(s);
    }
    let mut out = Vec::with_capacity(pc);
    for (k, f) in funcs.iter().enumerate() {
        for b in &f.blocks {
            for item in b {
                let here = out.len() as i64;
                out.push(match *item {
                    Item::I(i) => i,
                    Item::Jump(op, dst, src, imm, target) => {
                        // Past the last block means the last block.
                        let target = target.min(f.blocks.len().saturating_sub(1));
                        let t = starts[k].get(target).copied().unwrap_or(0) as i64;
                        let off = t - here - 1;
                        if op == class::JMP32 | jmp::JA {
                            Insn::new(op, 0, 0, 0, off as i32)
                        } else {
                            Insn::new(op, dst, src, off as i16, imm)
                        }
                    }
                    Item::Call(g) => {
                        let t = fstart.get(g).copied().unwrap_or(0) as i64;
                        Insn::new(class::JMP | jmp::CALL, 0, 1, 0, (t - here - 1) as i32)
                    }
                });
            }
        }
    }
    out
}

const COND_OPS: [u8; 11] = [
    jmp::JEQ,
    jmp::JNE,
    jmp::JGT,
    jmp::JGE,
    jmp::JLT,
    jmp::JLE,
    jmp::JSGT,
    jmp::JSGE,
    jmp::JSLT,
    jmp::JSLE,
    jmp::JSET,
];

const ATOMIC_OPS: [i32; 10] = [
    atomic::ADD,
    atomic::OR,
    atomic::AND,
    atomic::XOR,
    atomic::ADD | atomic::FETCH,
    atomic::OR | atomic::FETCH,
    atomic::AND | atomic::FETCH,
    atomic::XOR | atomic::FETCH,
    atomic::XCHG,
    atomic::CMPXCHG,
];

/// A random ALU instruction on `dst` with `src` (or an immediate).
fn alu_insn(d: &mut Draw<'_>, dst: u8, src: u8) -> Item {
    let wide = d.coin();
    let cls = if wide { class::ALU64 } else { class::ALU };
    let x = d.coin();
    let srcbit = if x { isa::source::X } else { 0 };
    // Register forms have imm 0 (the verifier checks reserved fields).
    let imm = if x { 0 } else { d.imm() };
    match d.below(16) {
        0..=9 => {
            let op = d.pick(&[
                alu::ADD,
                alu::SUB,
                alu::MUL,
                alu::OR,
                alu::AND,
                alu::XOR,
                alu::LSH,
                alu::RSH,
                alu::ARSH,
                alu::MOV,
            ]);
            ins(cls | op | srcbit, dst, if x { src } else { 0 }, 0, imm)
        }
        10 | 11 => {
            let op = d.pick(&[alu::DIV, alu::MOD]);
            let signed = i16::from(d.coin());
            ins(cls | op | srcbit, dst, if x { src } else { 0 }, signed, imm)
        }
        12 => ins(cls | alu::NEG, dst, 0, 0, 0),
        13 => {
            // Sign-extending moves.
            let off = if wide {
                d.pick(&[8, 16, 32])
            } else {
                d.pick(&[8, 16])
            };
            ins(cls | alu::MOV | isa::source::X, dst, src, off, 0)
        }
        _ => {
            // Byte swaps: ALU64 K, or ALU to-le (K) / to-be (X).
            let width = d.pick(&[16, 32, 64]);
            if wide {
                ins(class::ALU64 | alu::END, dst, 0, 0, width)
            } else {
                ins(class::ALU | alu::END | srcbit, dst, 0, 0, width)
            }
        }
    }
}

// ------------------------------------------------- the verified generator

/// Scalar registers of the entry function (r6 = packet, r7 = length, r9 =
/// the accumulator).
const SCALARS: [u8; 7] = [0, 1, 2, 3, 4, 5, 8];
/// Every block mixes the registers it wrote into this one, so a wrong value
/// shows in the result even when a later block overwrites it.
const ACC: u8 = 9;
/// Scalar registers of a BPF-to-BPF function.
const SUB_SCALARS: [u8; 6] = [0, 1, 2, 3, 4, 5];
/// Stack bytes every function initialises: `[r10 - 96, r10)`.
const STACK_INIT: i16 = 96;
/// Key and value scratch on the stack.
const KEY_AT: i16 = -72;
const VALUE_AT: i16 = -96;

fn verified_maps() -> Vec<MapDef> {
    let def = |name: &str, t: MapType, key: u32, value: u32, n: u32| MapDef {
        name: name.into(),
        map_type: t,
        key_size: key,
        value_size: value,
        max_entries: n,
        flags: 0,
    };
    vec![
        def("hash", MapType::Hash, 4, 16, 8),
        def("array", MapType::Array, 4, 16, 4),
        def("lru", MapType::LruHash, 8, 12, 4),
    ]
}

struct Gen<'a, 'd> {
    d: &'a mut Draw<'d>,
    maps: &'a [MapDef],
    /// Number of BPF-to-BPF functions after the entry.
    n_subs: usize,
}

impl Gen<'_, '_> {
    fn reinit(&mut self, regs: &[u8], out: &mut Vec<Item>) {
        for &r in regs {
            if self.d.below(4) == 0 {
                let v = self.d.imm64();
                out.extend(lddw(r, 0, v as u32 as i32, (v >> 32) as u32 as i32));
            } else {
                let v = self.d.imm();
                out.push(mov64_imm(r, v));
            }
        }
    }

    fn init_stack(&mut self, out: &mut Vec<Item>) {
        for k in 1..=STACK_INIT / 8 {
            let v = self.d.imm();
            out.push(ins(class::ST | mode::MEM | size::DW, 10, 0, -8 * k, v));
        }
    }

    /// One function: `index` 0 is the entry, `k > 0` may call only
    /// functions after it (no recursion).
    fn function(&mut self, index: usize, max_blocks: usize) -> Func {
        let main = index == 0;
        let scalars: &[u8] = if main { &SCALARS } else { &SUB_SCALARS };
        let mut f = Func::default();
        let mut pro = Vec::new();
        if main {
            pro.push(mov64_reg(6, 1));
            pro.push(mov64_reg(7, 2));
            self.reinit(&SCALARS, &mut pro);
        } else {
            // r1–r5 are the caller's arguments; r0 starts uninitialised.
            self.reinit(&[0], &mut pro);
        }
        self.reinit(&[ACC], &mut pro);
        self.init_stack(&mut pro);
        f.blocks.push(pro);
        let n_blocks = 1 + self.d.below(max_blocks.max(1));
        for _ in 0..n_blocks {
            if self.d.done() {
                break;
            }
            let mut items = Vec::new();
            self.block(index, scalars, f.blocks.len(), &mut items);
            mix_written(scalars, &mut items);
            f.blocks.push(items);
        }
        // Fold registers and the stack into r0.
        let mut fin = Vec::new();
        let regs: &[u8] = if main {
            &[1, 2, 3, 4, 5, 7, 8, 9]
        } else {
            &[1, 2, 3, 4, 5, 9]
        };
        for &r in regs {
            fin.push(ins(class::ALU64 | alu::XOR | isa::source::X, 0, r, 0, 0));
            fin.push(ins(class::ALU64 | alu::LSH, 0, 0, 0, 7));
        }
        for k in 1..=STACK_INIT / 8 {
            fin.push(ins(class::LDX | mode::MEM | size::DW, 1, 10, -8 * k, 0));
            fin.push(ins(class::ALU64 | alu::ADD | isa::source::X, 0, 1, 0, 0));
            fin.push(ins(class::ALU64 | alu::MUL, 0, 0, 0, 0x0100_0193));
        }
        fin.push(ins(class::JMP | jmp::EXIT, 0, 0, 0, 0));
        f.blocks.push(fin);
        f
    }

    fn scalar(&mut self, scalars: &[u8]) -> u8 {
        self.d.pick(scalars)
    }

    #[allow(clippy::too_many_lines)]
    fn block(&mut self, func: usize, scalars: &[u8], here: usize, out: &mut Vec<Item>) {
        let main = func == 0;
        match self.d.below(22) {
            0..=4 => {
                let n = 1 + self.d.below(4);
                for _ in 0..n {
                    let dst = self.scalar(scalars);
                    let src = if main && self.d.below(8) == 0 {
                        7
                    } else {
                        self.scalar(scalars)
                    };
                    let i = alu_insn(self.d, dst, src);
                    out.push(i);
                }
            }
            5 | 6 => {
                // A forward jump over 1..=3 blocks (or to the final block).
                let skip = 1 + self.d.below(3);
                let target = here + skip;
                let wide = self.d.coin();
                let cls = if wide { class::JMP } else { class::JMP32 };
                if self.d.below(6) == 0 {
                    out.push(Item::Jump(cls | jmp::JA, 0, 0, 0, target));
                } else {
                    let cond = self.d.pick(&COND_OPS);
                    let dst = if main && self.d.below(6) == 0 {
                        7
                    } else {
                        self.scalar(scalars)
                    };
                    if self.d.coin() {
                        let src = self.scalar(scalars);
                        out.push(Item::Jump(cls | cond | isa::source::X, dst, src, 0, target));
                    } else {
                        let imm = self.d.imm();
                        out.push(Item::Jump(cls | cond, dst, 0, imm, target));
                    }
                }
            }
            7 if main => self.packet_read(scalars, out),
            8 => {
                // Stack store of any width and alignment.
                let n = self.d.pick(&[1usize, 2, 4, 8]);
                let off = -(n as i16) - self.d.below(64 - n + 1) as i16;
                if self.d.coin() {
                    let src = self.scalar(scalars);
                    out.push(ins(class::STX | mode::MEM | size_bits(n), 10, src, off, 0));
                } else {
                    let v = self.d.imm();
                    out.push(ins(class::ST | mode::MEM | size_bits(n), 10, 0, off, v));
                }
            }
            9 => {
                let n = self.d.pick(&[1usize, 2, 4, 8]);
                let off = -(n as i16) - self.d.below(64 - n + 1) as i16;
                let dst = self.scalar(scalars);
                let m = if n < 8 && self.d.coin() {
                    mode::MEMSX
                } else {
                    mode::MEM
                };
                out.push(ins(class::LDX | m | size_bits(n), dst, 10, off, 0));
            }
            10 => {
                // Atomic on the stack.
                let wide = self.d.coin();
                let n: i16 = if wide { 8 } else { 4 };
                let off = -n * (1 + self.d.below(usize::from((64 / n) as u8)) as i16);
                let op = self.d.pick(&ATOMIC_OPS);
                let src = self.scalar(scalars);
                let sz = if wide { size::DW } else { size::W };
                if op == atomic::CMPXCHG && self.d.coin() {
                    // Make the exchange succeed: r0 = the current value
                    // (sign-extended for 32 bits, so the upper half is set
                    // as often as not).
                    let m = if wide { size::DW } else { size::W };
                    let md = if wide { mode::MEM } else { mode::MEMSX };
                    out.push(ins(class::LDX | md | m, 0, 10, off, 0));
                }
                out.push(ins(class::STX | mode::ATOMIC | sz, 10, src, off, op));
            }
            11 | 12 => self.lookup(scalars, out),
            13 => self.update(scalars, out),
            14 => {
                let m = self.key(out);
                out.extend(lddw(1, isa::PSEUDO_MAP_FD, m as i32, 0));
                out.push(mov64_reg(2, 10));
                out.push(add64_imm(2, i32::from(KEY_AT)));
                out.push(call_helper(helper::MAP_DELETE_ELEM));
                self.reinit(&[1, 2, 3, 4, 5], out);
            }
            15 => {
                // hash over initialised stack bytes, or over the packet
                // behind a length check.
                let len = 1 + self.d.below(64) as i32;
                if main && self.d.coin() {
                    out.push(ins(class::JMP | jmp::JLT, 7, 0, 3, len));
                    out.push(mov64_reg(1, 6));
                    out.push(mov64_imm(2, len));
                    out.push(call_helper(helper::HASH));
                } else {
                    out.push(mov64_reg(1, 10));
                    out.push(add64_imm(1, -len));
                    out.push(mov64_imm(2, len));
                    out.push(call_helper(helper::HASH));
                }
                self.reinit(&[1, 2, 3, 4, 5], out);
            }
            16 => {
                let id = self
                    .d
                    .pick(&[helper::KTIME_GET_NS, helper::GET_PRANDOM_U32]);
                out.push(call_helper(id));
                self.reinit(&[1, 2, 3, 4, 5], out);
            }
            17 if func < self.n_subs => {
                // Call a later function (no recursion); r1–r5 are its
                // arguments, clobbered afterwards.
                let g = func + 1 + self.d.below(self.n_subs - func);
                out.push(Item::Call(g));
                self.reinit(&[1, 2, 3, 4, 5], out);
            }
            18 => {
                // An ALU result compared with 0 right away (the JIT reuses
                // the ALU instruction's zero flag).
                let dst = self.scalar(scalars);
                let op = self
                    .d
                    .pick(&[alu::ADD, alu::SUB, alu::AND, alu::OR, alu::XOR]);
                let wide = self.d.below(4) != 0;
                let alu_cls = if wide { class::ALU64 } else { class::ALU };
                if self.d.coin() {
                    let src = self.scalar(scalars);
                    out.push(ins(alu_cls | op | isa::source::X, dst, src, 0, 0));
                } else {
                    let imm = self.d.imm();
                    out.push(ins(alu_cls | op, dst, 0, 0, imm));
                }
                let cond = self.d.pick(&[jmp::JEQ, jmp::JNE, jmp::JGT, jmp::JSET]);
                let cls = if self.d.below(4) != 0 {
                    class::JMP
                } else {
                    class::JMP32
                };
                let target = here + 1 + self.d.below(3);
                out.push(Item::Jump(cls | cond, dst, 0, 0, target));
            }
            19 => self.stack_read_indexed(scalars, out),
            _ => {
                let dst = self.scalar(scalars);
                let src = self.scalar(scalars);
                let i = alu_insn(self.d, dst, src);
                out.push(i);
            }
        }
    }

    /// A stack read at a variable offset, its address built as clang
    /// builds it (`t = r10; t += imm; t += index`, which the JIT fuses).
    fn stack_read_indexed(&mut self, scalars: &[u8], out: &mut Vec<Item>) {
        let n = self.d.pick(&[1usize, 2, 4, 8]);
        let dst = self.scalar(scalars);
        let x = self.scalar(scalars);
        // Two scratch registers other than dst and x.
        let mut scratch = [1u8, 2, 3, 4].into_iter().filter(|r| ![dst, x].contains(r));
        let (Some(t), Some(w)) = (scratch.next(), scratch.next()) else {
            return;
        };
        // The index w = x & 15, the read at r10 - 32 + w: inside the
        // initialised stack.
        out.push(mov64_reg(w, x));
        out.push(ins(class::ALU64 | alu::AND, w, 0, 0, 15));
        out.push(mov64_reg(t, 10));
        out.push(add64_imm(t, -32));
        if self.d.coin() {
            out.push(ins(class::ALU64 | alu::ADD | isa::source::X, t, w, 0, 0));
            out.push(ins(class::LDX | mode::MEM | size_bits(n), dst, t, 0, 0));
        } else {
            // Without the index: a fixed offset.
            out.push(ins(class::LDX | mode::MEM | size_bits(n), dst, t, 8, 0));
        }
        if self.d.coin() {
            // A byte swap of what was loaded (the JIT knows a 16-bit
            // load's upper bits are 0).
            let width = self.d.pick(&[16, 32, 64]);
            let op = self.d.pick(&[
                class::ALU | alu::END,
                class::ALU | alu::END | isa::source::X,
                class::ALU64 | alu::END,
            ]);
            out.push(ins(op, dst, 0, 0, width));
        }
        self.reinit(&[t, w], out);
    }

    /// A packet read behind a length check (on r7, or with pointers).
    fn packet_read(&mut self, scalars: &[u8], out: &mut Vec<Item>) {
        let n = self.d.pick(&[1usize, 2, 4, 8]);
        let sz = size_bits(n);
        let m = if n < 8 && self.d.coin() {
            mode::MEMSX
        } else {
            mode::MEM
        };
        let dst = self.scalar(scalars);
        // Two distinct scratch registers other than dst.
        let t = if dst == 1 { 2 } else { 1 };
        let u = if dst == 3 { 4 } else { 3 };
        match self.d.below(3) {
            0 => {
                let off = self.d.below(80) as i32;
                out.push(ins(class::JMP | jmp::JLT, 7, 0, 1, off + n as i32));
                out.push(ins(class::LDX | m | sz, dst, 6, off as i16, 0));
            }
            1 => {
                let off = self.d.below(80) as i32;
                out.push(mov64_reg(t, 6));
                out.push(add64_imm(t, off + n as i32));
                out.push(mov64_reg(u, 6));
                out.push(ins(class::ALU64 | alu::ADD | isa::source::X, u, 7, 0, 0));
                out.push(ins(class::JMP | jmp::JGT | isa::source::X, t, u, 1, 0));
                out.push(ins(class::LDX | m | sz, dst, 6, off as i16, 0));
                self.reinit(&[t, u], out);
            }
            _ => {
                // Variable offset: t = r6 + (x & 63); check t + n <= end.
                let x = self.scalar(scalars);
                let v = if x == t || x == u { 5 } else { x };
                let v = if v == dst { 0 } else { v };
                let w = [0u8, 2, 4, 5, 8]
                    .into_iter()
                    .find(|r| ![dst, t, u, v].contains(r))
                    .unwrap_or(8);
                out.push(mov64_reg(w, v));
                out.push(ins(class::ALU64 | alu::AND, w, 0, 0, 63));
                out.push(mov64_reg(t, 6));
                out.push(ins(class::ALU64 | alu::ADD | isa::source::X, t, w, 0, 0));
                out.push(mov64_reg(w, t));
                out.push(add64_imm(w, n as i32));
                out.push(mov64_reg(u, 6));
                out.push(ins(class::ALU64 | alu::ADD | isa::source::X, u, 7, 0, 0));
                out.push(ins(class::JMP | jmp::JGT | isa::source::X, w, u, 1, 0));
                out.push(ins(class::LDX | m | sz, dst, t, 0, 0));
                self.reinit(&[t, u, w], out);
            }
        }
    }

    /// Writes a key for a random map at `KEY_AT`; returns the map.
    fn key(&mut self, out: &mut Vec<Item>) -> usize {
        let m = self.d.below(self.maps.len());
        let key_size = self.maps[m].key_size;
        // Few distinct keys, so lookups hit what updates inserted.
        let k = self.d.below(6) as i32;
        let sz = if key_size == 8 { size::DW } else { size::W };
        out.push(ins(class::ST | mode::MEM | sz, 10, 0, KEY_AT, k));
        m
    }

    fn lookup(&mut self, scalars: &[u8], out: &mut Vec<Item>) {
        let m = self.key(out);
        let vsize = self.maps[m].value_size as usize;
        out.extend(lddw(1, isa::PSEUDO_MAP_FD, m as i32, 0));
        out.push(mov64_reg(2, 10));
        out.push(add64_imm(2, i32::from(KEY_AT)));
        out.push(call_helper(helper::MAP_LOOKUP_ELEM));
        let mut body = Vec::new();
        let others: Vec<u8> = scalars.iter().copied().filter(|&r| r != 0).collect();
        // r1–r5 are unreadable after the call: sources are r8, r9 (none in
        // a BPF-to-BPF function, which then stores immediates).
        let srcs: Vec<u8> = scalars.iter().copied().filter(|&r| r >= 8).collect();
        for _ in 0..1 + self.d.below(3) {
            let kind = self.d.below(4);
            let kind = if srcs.is_empty() && kind % 2 == 1 {
                2
            } else {
                kind
            };
            match kind {
                0 => {
                    let n = self.d.pick(&[1usize, 2, 4, 8]).min(vsize);
                    let off = self.d.below(vsize - n + 1) as i16;
                    let dst = self.d.pick(&others);
                    body.push(ins(class::LDX | mode::MEM | size_bits(n), dst, 0, off, 0));
                }
                1 => {
                    let n = self.d.pick(&[1usize, 2, 4, 8]).min(vsize);
                    let off = self.d.below(vsize - n + 1) as i16;
                    let src = self.d.pick(&srcs);
                    body.push(ins(class::STX | mode::MEM | size_bits(n), 0, src, off, 0));
                }
                2 => {
                    let n = self.d.pick(&[1usize, 2, 4, 8]).min(vsize);
                    let off = self.d.below(vsize - n + 1) as i16;
                    let v = self.d.imm();
                    body.push(ins(class::ST | mode::MEM | size_bits(n), 0, 0, off, v));
                }
                _ => {
                    let wide = self.d.coin() && vsize >= 8;
                    let n = if wide { 8 } else { 4 };
                    let off = (n * self.d.below(vsize / n)) as i16;
                    // Not cmpxchg: its comparand is r0, here a pointer.
                    let op = self.d.pick(&ATOMIC_OPS[..9]);
                    let src = self.d.pick(&srcs);
                    let sz = if wide { size::DW } else { size::W };
                    body.push(ins(class::STX | mode::ATOMIC | sz, 0, src, off, op));
                }
            }
        }
        if self.d.below(6) == 0 {
            // The value found is the key of another lookup: a helper
            // pointer argument into a map value, which the JIT must read
            // atomically (through the general trampolines).
            let m2 = self.d.below(self.maps.len());
            if self.maps[m2].key_size as usize <= vsize {
                body.extend(lddw(1, isa::PSEUDO_MAP_FD, m2 as i32, 0));
                body.push(mov64_reg(2, 0));
                body.push(call_helper(helper::MAP_LOOKUP_ELEM));
            }
        }
        // `lddw` is two items, one per slot.
        out.push(ins(class::JMP | jmp::JEQ, 0, 0, body.len() as i16, 0));
        out.extend(body);
        self.reinit(&[0, 1, 2, 3, 4, 5], out);
    }

    fn update(&mut self, _scalars: &[u8], out: &mut Vec<Item>) {
        let three_args = self.d.coin();
        if three_args {
            // Clobber r4 with a helper call, then never write it: the
            // verifier lists the update in zero_flags_at.
            out.push(call_helper(helper::KTIME_GET_NS));
        }
        let m = self.key(out);
        let vsize = self.maps[m].value_size as i16;
        let mut k = 0;
        while k < vsize {
            let v = self.d.imm();
            if vsize - k >= 8 {
                out.push(ins(
                    class::ST | mode::MEM | size::DW,
                    10,
                    0,
                    VALUE_AT + k,
                    v,
                ));
                k += 8;
            } else {
                out.push(ins(class::ST | mode::MEM | size::W, 10, 0, VALUE_AT + k, v));
                k += 4;
            }
        }
        out.extend(lddw(1, isa::PSEUDO_MAP_FD, m as i32, 0));
        out.push(mov64_reg(2, 10));
        out.push(add64_imm(2, i32::from(KEY_AT)));
        out.push(mov64_reg(3, 10));
        out.push(add64_imm(3, i32::from(VALUE_AT)));
        if !three_args {
            let flags = self.d.pick(&[0, 0, 0, 1, 2, 7]);
            out.push(mov64_imm(4, flags));
        }
        out.push(call_helper(helper::MAP_UPDATE_ELEM));
        self.reinit(&[1, 2, 3, 4, 5], out);
    }
}

/// Appends `acc = acc * prime + r` for every scalar register the block
/// writes (all scalars are readable at the end of every block).
fn mix_written(scalars: &[u8], items: &mut Vec<Item>) {
    let mut written = [false; 11];
    for item in items.iter() {
        let Item::I(i) = *item else { continue };
        let cls = i.class();
        match cls {
            class::ALU | class::ALU64 | class::LDX => {
                written[usize::from(i.dst & 15).min(10)] = true
            }
            class::LD if i.is_lddw() => written[usize::from(i.dst & 15).min(10)] = true,
            class::STX if i.mode_bits() == mode::ATOMIC => {
                if i.imm == atomic::CMPXCHG {
                    written[0] = true;
                } else if i.imm & atomic::FETCH != 0 {
                    written[usize::from(i.src & 15).min(10)] = true;
                }
            }
            class::JMP if i.code() == jmp::CALL => written[0] = true,
            _ => {}
        }
    }
    for &r in scalars {
        if written[usize::from(r)] {
            items.push(ins(class::ALU64 | alu::MUL, ACC, 0, 0, 0x0100_0193));
            items.push(ins(class::ALU64 | alu::ADD | isa::source::X, ACC, r, 0, 0));
        }
    }
}

fn packets(d: &mut Draw<'_>) -> Vec<Vec<u8>> {
    let n = 1 + d.below(4);
    (0..n)
        .map(|_| {
            let len = match d.below(4) {
                0 => d.below(16),
                1 => 14 + d.below(60),
                _ => d.below(100),
            };
            (0..len).map(|_| d.u8()).collect()
        })
        .collect()
}

fn entries(d: &mut Draw<'_>, maps: &[MapDef]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    maps.iter()
        .map(|def| {
            (0..d.below(4))
                .map(|_| {
                    let mut key = vec![0u8; def.key_size as usize];
                    key[0] = d.below(6) as u8;
                    let value = (0..def.value_size).map(|_| d.u8()).collect();
                    (key, value)
                })
                .collect()
        })
        .collect()
}

/// `n` pseudo-random bytes from the xorshift64 state `seed` (advanced):
/// the seeded inputs of the non-proptest difftest loops.
pub fn seeded_bytes(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

/// A program (most of the time) accepted by the verifier, with maps,
/// initial entries and packets, from `data`.
pub fn verified_case(data: &[u8]) -> Case {
    let mut d = Draw { data, pos: 0 };
    let maps = verified_maps();
    let n_subs = d.below(3);
    let mut g = Gen {
        d: &mut d,
        maps: &maps,
        n_subs,
    };
    let mut funcs = vec![g.function(0, 12)];
    for k in 1..=n_subs {
        funcs.push(g.function(k, 4));
    }
    let insns = link(&funcs);
    let entries = entries(&mut d, &maps);
    let packets = packets(&mut d);
    Case {
        insns,
        maps,
        entries,
        packets,
        unverified: false,
        budget: crate::interp::DEFAULT_BUDGET,
    }
}

// ----------------------------------------------- the unverified generator

/// Registers an unverified program may compute with (r1 and r10 hold
/// addresses and are only used as bases and helper arguments; r6 keeps
/// the packet address).
const FREE: [u8; 7] = [0, 2, 3, 4, 5, 7, 8];

/// Any program the loader accepts (most of the time), for checked mode.
pub fn unverified_case(data: &[u8]) -> Case {
    let mut d = Draw { data, pos: 0 };
    let maps = verified_maps();
    let n_funcs = 1 + d.below(3);
    let n_blocks: Vec<usize> = (0..n_funcs).map(|_| 1 + d.below(10)).collect();
    let mut funcs = Vec::new();
    for (k, &nb) in n_blocks.iter().enumerate() {
        let mut f = Func::default();
        let mut pro = Vec::new();
        if k == 0 {
            pro.push(mov64_reg(6, 1));
        }
        f.blocks.push(pro);
        for _ in 0..nb {
            let mut b = Vec::new();
            unverified_block(&mut d, &maps, nb, n_funcs, &mut b);
            f.blocks.push(b);
        }
        let mut fin = Vec::new();
        for &r in &FREE[1..] {
            fin.push(ins(class::ALU64 | alu::XOR | isa::source::X, 0, r, 0, 0));
            fin.push(ins(class::ALU64 | alu::LSH, 0, 0, 0, 5));
        }
        // A dropped exit now and then: execution falls off the end.
        if k + 1 < n_funcs || d.below(16) != 0 {
            fin.push(ins(class::JMP | jmp::EXIT, 0, 0, 0, 0));
        }
        f.blocks.push(fin);
        funcs.push(f);
    }
    let insns = link(&funcs);
    let entries = entries(&mut d, &maps);
    let packets = packets(&mut d);
    let budget = d.pick(&[200, 1_000, 5_000]);
    Case {
        insns,
        maps,
        entries,
        packets,
        unverified: true,
        budget,
    }
}

fn unverified_block(
    d: &mut Draw<'_>,
    maps: &[MapDef],
    n_blocks: usize,
    n_funcs: usize,
    out: &mut Vec<Item>,
) {
    let reg = |d: &mut Draw<'_>| d.pick(&FREE);
    match d.below(16) {
        0..=3 => {
            let dst = reg(d);
            let src = reg(d);
            let i = alu_insn(d, dst, src);
            out.push(i);
        }
        4 | 5 => {
            // Any jump, backwards included (loops end by the budget).
            let target = d.below(n_blocks + 2);
            let wide = d.coin();
            let cls = if wide { class::JMP } else { class::JMP32 };
            if d.below(5) == 0 {
                out.push(Item::Jump(cls | jmp::JA, 0, 0, 0, target));
            } else {
                let cond = d.pick(&COND_OPS);
                let dst = reg(d);
                if d.coin() {
                    let src = reg(d);
                    out.push(Item::Jump(cls | cond | isa::source::X, dst, src, 0, target));
                } else {
                    let imm = d.imm();
                    out.push(Item::Jump(cls | cond, dst, 0, imm, target));
                }
            }
        }
        6..=10 => {
            // A memory access near the edges of the packet or the stack.
            let base = d.pick(&[6u8, 6, 10, 10, 1, 3]);
            let n = d.pick(&[1usize, 2, 4, 8]);
            let off: i16 = match base {
                10 => -(d.below(530) as i16) + 4,
                _ => d.below(110) as i16 - 4,
            };
            let off = if d.below(4) == 0 {
                off & !(n as i16 - 1)
            } else {
                off
            };
            match d.below(4) {
                0 => {
                    let m = if n < 8 && d.coin() {
                        mode::MEMSX
                    } else {
                        mode::MEM
                    };
                    out.push(ins(class::LDX | m | size_bits(n), reg(d), base, off, 0));
                }
                1 => out.push(ins(
                    class::STX | mode::MEM | size_bits(n),
                    base,
                    reg(d),
                    off,
                    0,
                )),
                2 => {
                    let v = d.imm();
                    out.push(ins(class::ST | mode::MEM | size_bits(n), base, 0, off, v));
                }
                _ => {
                    let wide = d.coin();
                    let sz = if wide { size::DW } else { size::W };
                    let op = d.pick(&ATOMIC_OPS);
                    out.push(ins(class::STX | mode::ATOMIC | sz, base, reg(d), off, op));
                }
            }
        }
        11 => {
            let h = d.pick(&[
                helper::KTIME_GET_NS,
                helper::GET_PRANDOM_U32,
                helper::HASH,
                helper::MAP_UPDATE_ELEM,
                helper::MAP_DELETE_ELEM,
            ]);
            // Arguments: stack or packet pointers, map handles, junk.
            let base = d.pick(&[10u8, 6]);
            out.push(mov64_reg(1, base));
            let off = d.below(80) as i32 - 70;
            out.push(add64_imm(1, off));
            out.push(mov64_reg(2, 10));
            out.push(add64_imm(2, -(d.below(80) as i32)));
            out.push(mov64_reg(3, 10));
            out.push(add64_imm(3, -(d.below(80) as i32)));
            if matches!(h, helper::MAP_UPDATE_ELEM | helper::MAP_DELETE_ELEM) {
                if d.below(5) == 0 {
                    let junk = d.imm();
                    out.push(mov64_imm(1, junk));
                } else {
                    out.extend(lddw(1, isa::PSEUDO_MAP_FD, d.below(maps.len()) as i32, 0));
                }
            } else if h == helper::HASH {
                out.push(mov64_imm(2, d.pick(&[0, 1, 8, 64, 200, 1 << 21])));
            }
            let flags = d.pick(&[0, 1, 2]);
            out.push(mov64_imm(4, flags));
            out.push(call_helper(h));
            for r in [1u8, 2, 3, 4, 5] {
                let v = d.imm();
                out.push(mov64_imm(r, v));
            }
        }
        12 if n_funcs > 1 => out.push(Item::Call(d.below(n_funcs))),
        13 => out.push(ins(class::JMP | jmp::EXIT, 0, 0, 0, 0)),
        14 => {
            let [a, b] = lddw(reg(d), 0, d.u32() as i32, d.u32() as i32);
            out.push(a);
            out.push(b);
        }
        _ => {
            let dst = reg(d);
            let src = reg(d);
            let i = alu_insn(d, dst, src);
            out.push(i);
        }
    }
}

// ------------------------------------------------------------ the check

fn make_maps(case: &Case) -> Result<Vec<Arc<Map>>, String> {
    case.maps
        .iter()
        .zip(&case.entries)
        .map(|(def, entries)| {
            let m = Map::new(def.clone(), 1).map_err(|e| format!("map {}: {e}", def.name))?;
            for (k, v) in entries {
                // Refusals (a full map, an index out of range) are part of
                // the setup, the same for both twins.
                let _ = m.update_from_controller(k, v, 0);
            }
            Ok(Arc::new(m))
        })
        .collect()
}

fn dump(maps: &[Arc<Map>]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    maps.iter()
        .map(|m| {
            let mut d = m.dump();
            d.sort();
            d
        })
        .collect()
}

/// The same error up to the addresses in it (the engines' stacks live at
/// different addresses).
pub(crate) fn same_error(a: &RunError, b: &RunError) -> bool {
    use RunError::*;
    match (a, b) {
        (
            OutOfBounds {
                pc: p1,
                len: l1,
                write: w1,
                ..
            },
            OutOfBounds {
                pc: p2,
                len: l2,
                write: w2,
                ..
            },
        ) => (p1, l1, w1) == (p2, l2, w2),
        (
            ReadOnlyPacket {
                pc: p1, len: l1, ..
            },
            ReadOnlyPacket {
                pc: p2, len: l2, ..
            },
        )
        | (
            MisalignedAtomic {
                pc: p1, len: l1, ..
            },
            MisalignedAtomic {
                pc: p2, len: l2, ..
            },
        ) => (p1, l1) == (p2, l2),
        (
            Helper {
                pc: p1,
                helper: h1,
                error: e1,
            },
            Helper {
                pc: p2,
                helper: h2,
                error: e2,
            },
        ) => {
            (p1, h1) == (p2, h2)
                && match (e1, e2) {
                    (
                        HelperError::BadPointer { len: l1, .. },
                        HelperError::BadPointer { len: l2, .. },
                    ) => l1 == l2,
                    (HelperError::BadMapHandle { .. }, HelperError::BadMapHandle { .. }) => true,
                    _ => e1 == e2,
                }
        }
        _ => a == b,
    }
}

/// Runs `case` in both engines and compares everything observable.
///
/// # Errors
/// A [`Mismatch`] describing the first difference.
pub fn check(case: &Case) -> Result<Outcome, Mismatch> {
    check_with(case, compile)
}

/// The JIT a case runs on: checked for unverified programs.
fn compile(insns: &[Insn], maps: Vec<Arc<Map>>, unverified: bool) -> Result<JitProgram, JitError> {
    if unverified {
        JitProgram::new_checked(insns, maps)
    } else {
        JitProgram::new(insns, maps)
    }
}

/// [`check`] with the JIT built by `build(insns, maps, unverified)`.
pub(crate) fn check_with(
    case: &Case,
    build: impl Fn(&[Insn], Vec<Arc<Map>>, bool) -> Result<JitProgram, JitError>,
) -> Result<Outcome, Mismatch> {
    let twins = match Twins::load(case, build)? {
        Ok(t) => t,
        Err(outcome) => return Ok(outcome),
    };
    // One environment for every JIT run, as a worker keeps its own: what a
    // run leaves in it (the JIT's context, after an error too) must not
    // change the next run.
    let mut env_j = RunEnv::new(0);
    let mut errors = 0;
    for k in 0..case.packets.len() {
        if twins.run(k, &mut env_j)? {
            errors += 1;
        }
    }
    Ok(Outcome::Agreed {
        runs: case.packets.len(),
        errors,
    })
}

/// Runs the packets of `cases` round-robin (case 0's first packet, case 1's
/// first, ..., case 0's second, ...), every JIT run in one environment and,
/// with `batch`, inside one [`BatchGuard`]: programs of every kind follow
/// each other in a worker's environment. Returns the runs made per engine.
///
/// # Errors
/// A [`Mismatch`] describing the first difference.
pub fn check_shared(cases: &[Case], batch: bool) -> Result<usize, Mismatch> {
    let mut loaded = Vec::new();
    for case in cases {
        if let Ok(t) = Twins::load(case, compile)? {
            loaded.push(t);
        }
    }
    let mut env_j = RunEnv::new(0);
    let _batch = batch.then(BatchGuard::enter);
    let rounds = loaded.iter().map(|t| t.case.packets.len()).max();
    let mut runs = 0;
    for k in 0..rounds.unwrap_or(0) {
        for t in &loaded {
            if k < t.case.packets.len() {
                t.run(k, &mut env_j)?;
                runs += 1;
            }
        }
    }
    Ok(runs)
}

/// A case loaded in both engines, with twin maps.
struct Twins<'c> {
    case: &'c Case,
    interp: Interpreter,
    jit: JitProgram,
    maps_i: Vec<Arc<Map>>,
    maps_j: Vec<Arc<Map>>,
}

impl<'c> Twins<'c> {
    /// `Ok(Err(outcome))` when nothing can run.
    fn load(
        case: &'c Case,
        build: impl Fn(&[Insn], Vec<Arc<Map>>, bool) -> Result<JitProgram, JitError>,
    ) -> Result<Result<Self, Outcome>, Mismatch> {
        let mismatch = |what: String| Mismatch {
            what,
            program: disassemble(&case.insns),
        };
        let zero_flags = if case.unverified {
            Vec::new()
        } else {
            match verifier::verify(&case.insns, &case.maps) {
                Ok(info) => info.zero_flags_at,
                Err(_) => return Ok(Err(Outcome::Refused)),
            }
        };
        let maps_i = make_maps(case).map_err(mismatch)?;
        let maps_j = make_maps(case).map_err(mismatch)?;
        let interp = Interpreter::new(&case.insns, maps_i.clone())
            .and_then(|i| i.with_zero_flags_at(&zero_flags))
            .map(|i| i.with_budget(case.budget));
        let jit =
            build(&case.insns, maps_j.clone(), case.unverified).map(|j| j.with_budget(case.budget));
        match (interp, jit) {
            (Ok(interp), Ok(jit)) => Ok(Ok(Self {
                case,
                interp,
                jit,
                maps_i,
                maps_j,
            })),
            (Err(a), Err(JitError::Load(b))) if a == b => Ok(Err(Outcome::NotLoaded)),
            (_, Err(JitError::NoJit)) => Ok(Err(Outcome::NotLoaded)),
            (i, j) => Err(mismatch(format!(
                "loaders disagree: interpreter {:?}, JIT {:?}",
                i.err(),
                j.err()
            ))),
        }
    }

    /// Runs packet `k` in both engines, the JIT in `env_j`, the interpreter
    /// in a fresh environment (the reference: a checked JIT run zeroes its
    /// stack, an interpreter run does not); both generators are seeded
    /// alike. True when the run failed (in both).
    fn run(&self, k: usize, env_j: &mut RunEnv) -> Result<bool, Mismatch> {
        let mismatch = |what: String| Mismatch {
            what,
            program: disassemble(&self.case.insns),
        };
        let pkt = &self.case.packets[k];
        let time = TimeSource::Batch(1_000_000_000 + 7_777 * k as u64);
        let seed = 0x853c_49e6_748f_ea9b ^ k as u64;
        let mut env_i = RunEnv::new(0);
        env_i.set_time(time);
        env_j.set_time(time);
        env_i.seed_prng(seed);
        env_j.seed_prng(seed);
        let (mut pi, mut pj) = (pkt.clone(), pkt.clone());
        let (ri, rj) = if self.case.unverified {
            (
                self.interp.run(&mut pi, &mut env_i),
                self.jit.run(&mut pj, env_j),
            )
        } else {
            (
                self.interp.run_readonly(&pi, &mut env_i),
                self.jit.run_readonly(&pj, env_j),
            )
        };
        let agree = match (&ri, &rj) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => same_error(a, b),
            _ => false,
        };
        if !agree {
            return Err(mismatch(format!(
                "packet {k} ({} bytes): interpreter {ri:?}, JIT {rj:?}",
                pkt.len()
            )));
        }
        if pi != pj {
            return Err(mismatch(format!(
                "packet {k}: memory differs after the run"
            )));
        }
        let (di, dj) = (dump(&self.maps_i), dump(&self.maps_j));
        if di != dj {
            return Err(mismatch(format!(
                "packet {k}: maps differ after the run:\ninterpreter {di:?}\nJIT {dj:?}"
            )));
        }
        Ok(ri.is_err())
    }
}
