//! x86-64 code generation (System V): one pass over the instruction slots,
//! encoded by iced-x86's `CodeAssembler`.
//!
//! # Register assignment
//!
//! | eBPF | x86-64 | why |
//! |---|---|---|
//! | r0 | rax | the return register on both sides |
//! | r1–r5 | rdi, rsi, rdx, rcx, r8 | the first five System V argument registers: a helper call needs no shuffling |
//! | r6–r9 | rbx, r13, r14, r15 | callee-saved, like eBPF's r6–r9, so they survive helper calls for free |
//! | r10 | rbp | callee-saved; the frame pointer of the eBPF stack |
//! | — | r12 | callee-saved: the run context (`Ctx`), also the sixth helper argument (via r9) |
//! | — | r9, r10, r11 | scratch (never eBPF registers) |
//!
//! # Frames
//!
//! The native stack only holds return addresses and saved registers; the
//! eBPF stack is a separate 4 KiB buffer of the run (eight 512-byte frames,
//! `rbp` is the current frame's top), so a program's stack accesses never
//! touch native stack memory.
//!
//! The entry saves only the callee-saved registers the code uses, so that
//! a short filter's entry and exit cost a few instructions: `rbx`, `r13`,
//! `r14`, `r15` when the program names r6–r9, `rbp` (then loaded with the
//! main frame's top) when it names r10, and `r12` (then loaded with the
//! context) when the code needs the context: helper calls, the
//! fetch-and-logic loops' scratch word, or an end-of-program stub that can
//! be reached (the last instruction is not `exit` or `ja`). `mov r0, 1;
//! exit` compiles to `mov eax, 1; ret`. The set comes from a scan of the
//! eBPF instructions; after code generation `check_saved` reads every x86
//! operand and refuses the program (the interpreter runs it instead) if the
//! code touches a callee-saved register the entry did not save. Checked
//! code and code with BPF-to-BPF calls save all six.
//!
//! After the return address and `k` pushes, `rsp` is 16-byte aligned when
//! `k` is odd; when `k` is even and the code calls anything, the entry pads
//! with `sub rsp, 8`. A BPF-to-BPF call pushes r6–r9 and r10 (5 words)
//! before the `call` (one more word), so `rsp` is 16-byte aligned at every
//! instruction of every eBPF function and hence at every helper call.
//!
//! Without BPF-to-BPF calls `exit` restores the saved registers and returns
//! in place, and `rsp` never moves below the entry's, so errors leave
//! through the same restore. With them, `exit` compares `rbp` with the main
//! frame's top: equal means the program returns through the shared exit,
//! otherwise it is a `ret` to the calling site, which pops what it pushed;
//! and run errors jump to one error exit that reloads `rsp` from the
//! context (saved by the entry), whatever the call depth.
//!
//! # Checked mode
//!
//! For programs no verifier has seen (the conformance plugin) the same
//! translation adds what the interpreter checks at run time: every load,
//! store and atomic goes through a trampoline that checks the address against
//! the run's regions exactly as the interpreter does; r1–r5 are kept across
//! helper calls (the interpreter keeps them); and every control transfer is
//! counted against the instruction budget with the interpreter's own rule
//! (see `acct`), so errors and their instruction indexes agree.

use iced_x86::code_asm::{
    AsmMemoryOperand, AsmRegister8, AsmRegister16, AsmRegister32, AsmRegister64, CodeAssembler,
    CodeLabel, al, ax, bl, bp, bpl, bx, byte_ptr, cl, cx, di, dil, dl, dword_ptr, dx, eax, ebp,
    ebx, ecx, edi, edx, esi, qword_ptr, r8, r8b, r8d, r8w, r9, r10, r11, r11d, r12, r13, r13b,
    r13d, r13w, r14, r14b, r14d, r14w, r15, r15b, r15d, r15w, rax, rbp, rbx, rcx, rdi, rdx, rsi,
    rsp, si, sil, word_ptr,
};
use iced_x86::{Code, IcedError, Instruction, OpKind, Register};

use crate::isa::{self, Insn, alu, atomic, call_src, class, jmp, mode, size};

const R64: [AsmRegister64; 11] = [rax, rdi, rsi, rdx, rcx, r8, rbx, r13, r14, r15, rbp];
const R32: [AsmRegister32; 11] = [eax, edi, esi, edx, ecx, r8d, ebx, r13d, r14d, r15d, ebp];
const R16: [AsmRegister16; 11] = [ax, di, si, dx, cx, r8w, bx, r13w, r14w, r15w, bp];
const R8: [AsmRegister8; 11] = [al, dil, sil, dl, cl, r8b, bl, r13b, r14b, r15b, bpl];

/// `err_kind` values the native code stores before leaving through the
/// error exit.
pub(super) mod err_kind {
    /// A helper failed; the trampoline stored the details.
    pub(crate) const HELPER: u64 = 1;
    /// Execution ran past the last slot.
    pub(crate) const FELL_OFF: u64 = 2;
    /// A BPF-to-BPF call beyond the frame limit.
    pub(crate) const CALL_DEPTH: u64 = 3;
    /// The instruction budget ran out (checked mode).
    pub(crate) const BUDGET: u64 = 4;
    /// A checked memory access failed; the trampoline stored the error.
    pub(crate) const FAULT: u64 = 5;
}

/// Byte offsets of the context fields the native code uses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) stack_top: i32,
    pub(super) stack_lo: i32,
    pub(super) depth_limit: i32,
    pub(super) entry_rsp: i32,
    pub(super) err_pc: i32,
    pub(super) err_kind: i32,
    pub(super) scratch: i32,
    pub(super) executed: i32,
    pub(super) budget: i32,
    pub(super) saved: i32,
    /// The batch clock (`ktime_get_ns`), valid when `now_set` is nonzero.
    pub(super) now: i32,
    pub(super) now_set: i32,
}

/// A helper call of a verified program the code makes without the general
/// trampoline (the verifier proved its map and that its pointer arguments
/// are plain stack or packet memory, and the run need not track values).
#[derive(Debug, Clone, Copy)]
pub(super) enum Direct {
    /// `map_lookup_elem` in a plain ARRAY, computed inline: the value of
    /// index `i < max_entries` is at `base + i * stride`, else null.
    ArrayLookup {
        base: u64,
        max_entries: u32,
        stride: u32,
    },
    /// A trampoline that trusts its arguments and cannot fail; it takes
    /// the context as System V argument `ctx_arg` (0-based), if at all.
    Trusted { addr: u64, ctx_arg: Option<usize> },
    /// `map_lookup_elem` through the map's own lookup function
    /// (`Map::jit_lookup`): `addr(table, key)`, the key pointer being r2.
    MapLookup { addr: u64, table: u64 },
    /// `ktime_get_ns`: the batch clock from the context when it is set,
    /// else [`Targets::ktime`].
    Ktime,
}

/// Addresses of the trampolines the code calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct Targets {
    /// Indexed by helper id (0 where there is none).
    pub(super) helpers: [u64; 8],
    pub(super) load: u64,
    pub(super) store: u64,
    pub(super) atomic: u64,
    /// `ktime(ctx) -> u64`: the context's time source (for direct
    /// `ktime_get_ns` sites when the batch clock is not set).
    pub(super) ktime: u64,
}

/// What to compile and how.
pub(super) struct Options<'a> {
    /// Checked mode (see the module essay).
    pub(super) checked: bool,
    /// Use BMI2 `shlx`/`shrx`/`sarx` for shifts by a register.
    pub(super) bmi2: bool,
    /// `map_update_elem` calls that get flags 0 (sorted).
    pub(super) zero_flags: &'a [usize],
    /// Map handles, indexed by the `imm` of `lddw rX, map:N`.
    pub(super) map_handles: &'a [u64],
    /// Helper calls made directly, by ascending pc.
    pub(super) direct: &'a [(usize, Direct)],
    pub(super) layout: Layout,
    pub(super) targets: Targets,
}

/// Flag in the `kind` argument of the checked load trampoline.
pub(super) const LOAD_SIGNED: u64 = 0x100;

/// Why compilation failed.
#[derive(Debug)]
pub(super) enum CompileError {
    /// A slot this compiler does not translate (the interpreter's loader
    /// refuses it first, so this means the two disagree).
    Opcode { pc: usize, op: u8 },
    /// The encoder refused an instruction.
    Encode(IcedError),
    /// The code uses a callee-saved register the entry does not save (the
    /// entry's scan and the code generator disagree).
    Unsaved,
    /// A jump lands inside instructions compiled together (`fused` and the
    /// jump targets disagree): its label would never be placed.
    Fused { pc: usize },
}

impl From<IcedError> for CompileError {
    fn from(e: IcedError) -> Self {
        Self::Encode(e)
    }
}

/// The machine code (position independent) and what the run needs to set up.
pub(super) struct Output {
    pub(super) code: Vec<u8>,
    /// The program calls a map helper other than an inline ARRAY lookup
    /// (the run must hold a `RunGuard`).
    pub(super) uses_maps: bool,
    /// The code calls a general trampoline (a helper's or a checked
    /// access's): the run must set up the context's Rust-only fields.
    /// Otherwise it calls only direct trampolines, which read at most the
    /// run guard and the clock.
    pub(super) general: bool,
}

/// Compiles `insns` (already accepted by the interpreter's loader).
pub(super) fn compile(insns: &[Insn], opts: &Options<'_>) -> Result<Output, CompileError> {
    let n = insns.len();
    let mut is_tail = vec![false; n];
    let mut is_target = vec![false; n];
    let mut has_calls = false;
    let mut uses_maps = false;
    // What the entry must save and set up (see `Frame`): an
    // over-approximation, checked against the generated code at the end.
    let mut regs = [false; isa::NUM_REGS];
    let mut helper_calls = false;
    let mut fetch_logic = false;
    // The last instruction may fall through into the end-of-program stub.
    let mut falls_off = true;
    let mut pc = 0;
    while pc < n {
        let i = insns[pc];
        let bad = CompileError::Opcode { pc, op: i.op };
        for r in [i.dst, i.src] {
            if let Some(u) = regs.get_mut(usize::from(r)) {
                *u = true;
            }
        }
        falls_off = !(matches!(i.class(), class::JMP | class::JMP32)
            && matches!(i.code(), jmp::EXIT | jmp::JA));
        if i.is_lddw() {
            if pc + 1 >= n {
                return Err(bad);
            }
            is_tail[pc + 1] = true;
            falls_off = true;
            pc += 2;
            continue;
        }
        if i.class() == class::STX
            && i.mode_bits() == mode::ATOMIC
            && matches!(
                i.imm & !atomic::FETCH,
                atomic::OR | atomic::AND | atomic::XOR
            )
        {
            fetch_logic = true;
        }
        if matches!(i.class(), class::JMP | class::JMP32) {
            let code = i.code();
            let target = if code == jmp::CALL {
                if i.src == call_src::PSEUDO_CALL {
                    has_calls = true;
                    Some(i64::from(i.imm))
                } else {
                    // An ARRAY lookup compiled inline calls nothing and
                    // needs neither the context nor the run guard (an
                    // ARRAY's values stay where they are while the map
                    // lives, which the program's map table ensures).
                    let inline = opts
                        .direct
                        .binary_search_by_key(&pc, |d| d.0)
                        .is_ok_and(|k| matches!(opts.direct[k].1, Direct::ArrayLookup { .. }));
                    helper_calls |= !inline;
                    uses_maps |= !inline && matches!(i.imm, 1..=3);
                    None
                }
            } else if code == jmp::EXIT {
                None
            } else if code == jmp::JA && i.class() == class::JMP32 {
                Some(i64::from(i.imm))
            } else {
                Some(i64::from(i.off))
            };
            if let Some(off) = target {
                let t = pc as i64 + 1 + off;
                let t = usize::try_from(t).ok().filter(|&t| t < n).ok_or(bad)?;
                is_target[t] = true;
            }
        }
        pc += 1;
    }
    for (t, tail) in is_target.iter().zip(&is_tail) {
        if *t && *tail {
            return Err(CompileError::Opcode { pc: 0, op: 0 });
        }
    }

    let frame = if opts.checked || has_calls {
        Frame::full()
    } else {
        Frame::new(regs, helper_calls || fetch_logic || falls_off, helper_calls)
    };

    let mut a = CodeAssembler::new(64)?;
    let labels: Vec<CodeLabel> = (0..n).map(|_| a.create_label()).collect();
    let main_exit = a.create_label();
    let error_exit = a.create_label();
    let mut e = Emitter {
        a,
        o: opts,
        labels,
        stubs: Vec::new(),
        main_exit,
        error_exit,
        label_at: None,
        has_calls,
        frame,
        general: opts.checked,
        n,
        zf: None,
        zf_in: None,
        zx16: None,
        zx16_in: None,
    };
    e.prologue()?;
    let mut pc = 0;
    while pc < n {
        if is_tail[pc] {
            pc += 1;
            continue;
        }
        let start = e.a.instructions().len();
        if is_target[pc] {
            let mut l = e.labels[pc];
            e.place(&mut l)?;
        }
        // Flags left by the previous instruction hold only when it is the
        // one executed just before (no jump lands here); checked code
        // counts between instructions.
        e.zf_in = e.zf.take().filter(|_| !is_target[pc] && !opts.checked);
        e.zx16_in = e.zx16.take().filter(|_| !is_target[pc] && !opts.checked);
        if !opts.checked
            && let Some(k) = e.fused(pc, insns, &is_target)?
        {
            if is_target[pc + 1..pc + k].contains(&true) {
                return Err(CompileError::Fused { pc });
            }
            pc += k;
            continue;
        }
        e.insn(pc, insns)?;
        // A jump target must own at least one instruction (a label names
        // the next instruction).
        if is_target[pc] && e.a.instructions().len() == start {
            e.a.nop()?;
        }
        pc += if insns[pc].is_lddw() { 2 } else { 1 };
    }
    // Falling off the end of the program.
    // (Unreachable when the last instruction is `exit` or `ja`: then the
    // code does not need the context for it.)
    if falls_off {
        e.store_err(n as u64, err_kind::FELL_OFF)?;
        e.a.jmp(e.error_exit)?;
    }
    e.epilogue(falls_off)?;
    let general = e.general;
    let mut a = e.a;
    check_saved(a.instructions(), &e.frame)?;
    let code = a.assemble(0)?;
    Ok(Output {
        code,
        uses_maps,
        general,
    })
}

/// The callee-saved registers the entry pushes and the setup it does.
///
/// Verified programs without BPF-to-BPF calls save only what they use: the
/// x86 registers of the eBPF registers they name (r6–r9, and r10 = `rbp`,
/// which the entry then loads), and r12 when the code needs the context
/// (helper calls, the fetch-and-logic loops' scratch word, the
/// end-of-program stub). `rsp` is padded to 16 bytes only when the code
/// calls anything. Checked code and code with BPF-to-BPF calls save all six.
#[derive(Debug, Clone)]
struct Frame {
    /// Pushed by the entry, in push order.
    saved: Vec<AsmRegister64>,
    /// `sub rsp, 8` after the pushes.
    pad: bool,
}

/// The callee-saved registers in the entry's push order.
const CALLEE_SAVED: [AsmRegister64; 6] = [rbx, rbp, r12, r13, r14, r15];

impl Frame {
    fn full() -> Self {
        Self {
            saved: CALLEE_SAVED.to_vec(),
            // 8 (return address) + 48 (pushes) + 8 = 64.
            pad: true,
        }
    }

    /// `regs`: the eBPF registers the program names; `ctx`: the code uses
    /// the context; `calls`: it calls helpers (`rsp` must be aligned).
    fn new(regs: [bool; isa::NUM_REGS], ctx: bool, calls: bool) -> Self {
        let saved: Vec<AsmRegister64> = CALLEE_SAVED
            .into_iter()
            .filter(|&r| {
                if r == r12 {
                    return ctx;
                }
                // r6–r10 are R64[6..11].
                (6..isa::NUM_REGS).any(|k| R64[k] == r && regs[k])
            })
            .collect();
        // The return address and the pushes: 8 * (1 + k) bytes, a multiple
        // of 16 when k is odd.
        let pad = calls && saved.len().is_multiple_of(2);
        Self { saved, pad }
    }

    fn saves(&self, r: AsmRegister64) -> bool {
        self.saved.contains(&r)
    }
}

/// Checks that the code touches no callee-saved register the entry did not
/// save (the entry's set comes from a scan of the eBPF program; this reads
/// the x86 code). Only explicit operands are read: none of the instructions
/// the generator emits uses a callee-saved register implicitly.
fn check_saved(code: &[Instruction], frame: &Frame) -> Result<(), CompileError> {
    let saved = |r: Register| {
        let full = match r {
            Register::BL | Register::BX | Register::EBX | Register::RBX => rbx,
            Register::BPL | Register::BP | Register::EBP | Register::RBP => rbp,
            Register::R12L | Register::R12W | Register::R12D | Register::R12 => r12,
            Register::R13L | Register::R13W | Register::R13D | Register::R13 => r13,
            Register::R14L | Register::R14W | Register::R14D | Register::R14 => r14,
            Register::R15L | Register::R15W | Register::R15D | Register::R15 => r15,
            _ => return true,
        };
        frame.saves(full)
    };
    for i in code {
        for k in 0..i.op_count() {
            let ok = match i.op_kind(k) {
                OpKind::Register => saved(i.op_register(k)),
                OpKind::Memory => saved(i.memory_base()) && saved(i.memory_index()),
                _ => true,
            };
            if !ok {
                return Err(CompileError::Unsaved);
            }
        }
    }
    Ok(())
}

/// A source operand of an ALU or jump instruction.
#[derive(Clone, Copy)]
enum Src {
    Reg(u8),
    /// The immediate, sign-extended to 64 bits (32-bit operations use the
    /// low half).
    Imm(i64),
}

struct Emitter<'o> {
    a: CodeAssembler,
    o: &'o Options<'o>,
    labels: Vec<CodeLabel>,
    /// Out-of-line error exits: (label, pc, kind).
    stubs: Vec<(CodeLabel, u64, u64)>,
    main_exit: CodeLabel,
    error_exit: CodeLabel,
    /// Instruction index of the last placed label.
    label_at: Option<usize>,
    has_calls: bool,
    frame: Frame,
    /// A general trampoline is called (see [`Output::general`]).
    general: bool,
    n: usize,
    /// The eBPF register whose 64-bit value the x86 zero flag reflects: set
    /// by the instruction just emitted (an ADD, SUB, AND, OR or XOR), read
    /// by the next one only (`zf_in`), unless a jump lands there.
    zf: Option<usize>,
    /// `zf` as the instruction being emitted found it.
    zf_in: Option<usize>,
    /// The eBPF register the instruction just emitted loaded from 16 bits,
    /// zero-extended (its upper 48 bits are 0), kept like `zf`.
    zx16: Option<usize>,
    /// `zx16` as the instruction being emitted found it.
    zx16_in: Option<usize>,
}

fn ctx(off: i32) -> AsmMemoryOperand {
    qword_ptr(r12 + off)
}

fn reg_ok(r: u8) -> bool {
    usize::from(r) < isa::NUM_REGS
}

impl Emitter<'_> {
    /// Places `l` at the next instruction; two labels never share one (the
    /// encoder allows one per instruction), a `nop` separates them.
    fn place(&mut self, l: &mut CodeLabel) -> Result<(), IcedError> {
        let here = self.a.instructions().len();
        if self.label_at == Some(here) {
            self.a.nop()?;
        }
        self.a.set_label(l)?;
        self.label_at = Some(self.a.instructions().len());
        Ok(())
    }

    fn stub(&mut self, pc: usize, kind: u64) -> CodeLabel {
        let l = self.a.create_label();
        self.stubs.push((l, pc as u64, kind));
        l
    }

    fn store_err(&mut self, pc: u64, kind: u64) -> Result<(), IcedError> {
        let l = self.o.layout;
        // pc < 2^21 and kind < 8: both fit the sign-extended imm32.
        self.a.mov(ctx(l.err_pc), pc as i32)?;
        self.a.mov(ctx(l.err_kind), kind as i32)?;
        Ok(())
    }

    /// `mov r64, imm` in its shortest form.
    fn mov_imm(&mut self, r: AsmRegister64, r32: AsmRegister32, v: u64) -> Result<(), IcedError> {
        if v == 0 {
            self.a.xor(r32, r32)?;
        } else if let Ok(v32) = u32::try_from(v) {
            self.a.mov(r32, v32)?;
        } else if let Ok(s32) = i32::try_from(v as i64) {
            let reg: Register = r.into();
            self.a
                .add_instruction(Instruction::with2(Code::Mov_rm64_imm32, reg, s32)?)?;
        } else {
            self.a.mov(r, v)?;
        }
        Ok(())
    }

    fn prologue(&mut self) -> Result<(), IcedError> {
        let l = self.o.layout;
        let a = &mut self.a;
        // Entry: rdi = packet, rsi = length, rdx = context.
        for &r in &self.frame.saved {
            a.push(r)?;
        }
        if self.frame.pad {
            a.sub(rsp, 8)?;
        }
        if self.frame.saves(rbp) {
            a.mov(rbp, qword_ptr(rdx + l.stack_top))?;
        }
        if self.frame.saves(r12) {
            a.mov(r12, rdx)?;
        }
        // Only BPF-to-BPF calls move `rsp` below this point between the
        // entry and an error exit.
        if self.has_calls {
            a.mov(ctx(l.entry_rsp), rsp)?;
        }
        // r1 = packet and r2 = length are in place. An unverified program
        // may read the others: they start at 0, as in the interpreter (a
        // verified one never reads a register it did not write).
        if self.o.checked {
            for r in [eax, edx, ecx, r8d, ebx, r13d, r14d, r15d] {
                a.xor(r, r)?;
            }
        }
        Ok(())
    }

    /// Restores what the entry saved and returns to the caller (`rsp` as
    /// the entry left it).
    fn leave(&mut self) -> Result<(), IcedError> {
        if self.frame.pad {
            self.a.add(rsp, 8)?;
        }
        for &r in self.frame.saved.iter().rev() {
            self.a.pop(r)?;
        }
        self.a.ret()
    }

    /// The error stubs and the shared exits. Without BPF-to-BPF calls
    /// `exit` returns in place, so the error exit is only there when
    /// something jumps to it (`falls_off`: the end-of-program stub does).
    fn epilogue(&mut self, falls_off: bool) -> Result<(), IcedError> {
        let l = self.o.layout;
        let stubs = core::mem::take(&mut self.stubs);
        if !(self.has_calls || falls_off || !stubs.is_empty()) {
            return Ok(());
        }
        for (mut label, pc, kind) in stubs {
            self.place(&mut label)?;
            self.store_err(pc, kind)?;
            self.a.jmp(self.error_exit)?;
        }
        let mut err = self.error_exit;
        self.place(&mut err)?;
        if self.has_calls {
            // Errors in a called function leave its frames on the stack.
            self.a.mov(rsp, ctx(l.entry_rsp))?;
            let mut exit = self.main_exit;
            self.place(&mut exit)?;
        }
        self.leave()
    }

    /// Budget accounting of a control transfer from `pc` to `to` (checked
    /// mode). The interpreter adds the length of the straight-line segment
    /// just run at each transfer: `executed += pc + 1 - seg; seg = to`.
    /// With `x = executed - seg` kept in the context, that is
    /// `executed' = x + pc + 1` (checked against the budget) and
    /// `x' = executed' - to`, where only constants of the site appear.
    /// `to = None` leaves the `- to` to the landing site (a return, whose
    /// target the callee does not know).
    fn acct(&mut self, pc: usize, to: Option<usize>) -> Result<(), IcedError> {
        if !self.o.checked {
            return Ok(());
        }
        let l = self.o.layout;
        let over = self.stub(pc, err_kind::BUDGET);
        self.a.mov(r11, ctx(l.executed))?;
        self.a.add(r11, (pc + 1) as i32)?;
        self.a.cmp(r11, ctx(l.budget))?;
        self.a.jg(over)?;
        if let Some(to) = to {
            self.a.sub(r11, to as i32)?;
        }
        self.a.mov(ctx(l.executed), r11)?;
        Ok(())
    }

    fn insn(&mut self, pc: usize, insns: &[Insn]) -> Result<(), CompileError> {
        let i = insns[pc];
        let bad = CompileError::Opcode { pc, op: i.op };
        let r = match i.class() {
            class::ALU | class::ALU64 => self.alu(i).ok_or(bad)?,
            class::JMP | class::JMP32 => self.jump(pc, i).ok_or(bad)?,
            class::LD => {
                let hi = insns
                    .get(pc + 1)
                    .ok_or(CompileError::Opcode { pc, op: i.op })?;
                let v = match i.src {
                    0 => u64::from(i.imm as u32) | (u64::from(hi.imm as u32) << 32),
                    isa::PSEUDO_MAP_FD => usize::try_from(i.imm)
                        .ok()
                        .and_then(|ix| self.o.map_handles.get(ix).copied())
                        .ok_or(CompileError::Opcode { pc, op: i.op })?,
                    _ => return Err(bad),
                };
                if i.dst >= isa::FRAME_REG {
                    return Err(bad);
                }
                let d = usize::from(i.dst);
                self.mov_imm(R64[d], R32[d], v)
            }
            class::LDX => self.load(pc, i).ok_or(bad)?,
            class::ST | class::STX => self.store(pc, i).ok_or(bad)?,
            _ => return Err(bad),
        };
        r.map_err(CompileError::from)
    }

    /// Compiles a run of instructions starting at `pc` into fewer x86
    /// instructions, when it is one of the address computations clang
    /// emits (none of whose later instructions a jump lands on):
    ///
    /// - `mov64 d, s; add64 d, imm` is `lea d, [s + imm]`;
    /// - `mov64 d, s; add64 d, imm; add64 d, x` (x not d) is
    ///   `lea d, [s + x + imm]`.
    ///
    /// `lea` leaves the flags alone, which nothing reads: only the next
    /// instruction's ZF is ever used, and only after an ALU instruction
    /// (`zf`). Returns how many instructions it compiled, `None` when the
    /// run does not start at `pc`.
    fn fused(
        &mut self,
        pc: usize,
        insns: &[Insn],
        is_target: &[bool],
    ) -> Result<Option<usize>, IcedError> {
        const MOV_X: u8 = class::ALU64 | alu::MOV | isa::source::X;
        const ADD_K: u8 = class::ALU64 | alu::ADD;
        const ADD_X: u8 = class::ALU64 | alu::ADD | isa::source::X;
        let next = |k: usize| insns.get(pc + k).filter(|_| !is_target[pc + k]);
        let i = insns[pc];
        if i.op != MOV_X || i.off != 0 || i.dst >= isa::FRAME_REG || !reg_ok(i.src) {
            return Ok(None);
        }
        let Some(add) = next(1).filter(|j| j.op == ADD_K && j.dst == i.dst) else {
            return Ok(None);
        };
        let (d, base) = (R64[usize::from(i.dst)], R64[usize::from(i.src)]);
        if let Some(x) =
            next(2).filter(|k| k.op == ADD_X && k.dst == i.dst && k.src != i.dst && reg_ok(k.src))
        {
            self.a
                .lea(d, qword_ptr(base + R64[usize::from(x.src)] + add.imm))?;
            return Ok(Some(3));
        }
        self.a.lea(d, qword_ptr(base + add.imm))?;
        Ok(Some(2))
    }

    // ---------------------------------------------------------------- ALU

    /// `None`: not an ALU instruction this compiler knows.
    fn alu(&mut self, i: Insn) -> Option<Result<(), IcedError>> {
        let wide = i.class() == class::ALU64;
        if i.dst >= isa::FRAME_REG {
            return None;
        }
        let d = usize::from(i.dst);
        let src = if i.is_reg_source() {
            if !reg_ok(i.src) {
                return None;
            }
            Src::Reg(i.src)
        } else {
            Src::Imm(i64::from(i.imm))
        };
        let code = i.code();
        let signed = match (code, i.off) {
            (alu::DIV | alu::MOD, 0) => false,
            (alu::DIV | alu::MOD, 1) => true,
            (alu::DIV | alu::MOD, _) => return None,
            (alu::MOV, 0 | 8 | 16 | 32) => false,
            (alu::MOV, _) => return None,
            _ => false,
        };
        Some(match code {
            alu::ADD | alu::SUB | alu::OR | alu::AND | alu::XOR => {
                let before = self.a.instructions().len();
                let r = self.arith(code, wide, d, src);
                // One instruction emitted (not an identity left out): its
                // zero flag is that of the 64-bit result.
                if wide && self.a.instructions().len() == before + 1 {
                    self.zf = Some(d);
                }
                r
            }
            alu::MUL => self.mul(wide, d, src),
            alu::DIV | alu::MOD => self.divmod(wide, signed, code == alu::MOD, d, src),
            alu::LSH | alu::RSH | alu::ARSH => self.shift(code, wide, d, src),
            alu::NEG if !i.is_reg_source() => {
                if wide {
                    self.a.neg(R64[d])
                } else {
                    self.a.neg(R32[d])
                }
            }
            alu::MOV => return self.mov(wide, i.off, d, src),
            alu::END => return self.endian(wide, i.is_reg_source(), i.imm, d),
            _ => return None,
        })
    }

    fn arith(&mut self, code: u8, wide: bool, d: usize, src: Src) -> Result<(), IcedError> {
        let a = &mut self.a;
        match (wide, src) {
            (true, Src::Reg(s)) => {
                let (x, y) = (R64[d], R64[usize::from(s)]);
                match code {
                    alu::ADD => a.add(x, y),
                    alu::SUB => a.sub(x, y),
                    alu::OR => a.or(x, y),
                    alu::AND => a.and(x, y),
                    _ => a.xor(x, y),
                }
            }
            (false, Src::Reg(s)) => {
                let (x, y) = (R32[d], R32[usize::from(s)]);
                match code {
                    alu::ADD => a.add(x, y),
                    alu::SUB => a.sub(x, y),
                    alu::OR => a.or(x, y),
                    alu::AND => a.and(x, y),
                    _ => a.xor(x, y),
                }
            }
            (true, Src::Imm(v)) => {
                // x86 sign-extends imm32 exactly as eBPF does.
                let (x, v) = (R64[d], v as i32);
                match code {
                    alu::ADD if v == 0 => Ok(()),
                    alu::SUB if v == 0 => Ok(()),
                    alu::OR if v == 0 => Ok(()),
                    alu::XOR if v == 0 => Ok(()),
                    alu::AND if v == -1 => Ok(()),
                    alu::ADD => a.add(x, v),
                    alu::SUB => a.sub(x, v),
                    alu::OR => a.or(x, v),
                    alu::AND => a.and(x, v),
                    _ => a.xor(x, v),
                }
            }
            (false, Src::Imm(v)) => {
                // Always emitted, even for identities: the 32-bit write is
                // what clears the upper half.
                let (x, v) = (R32[d], v as i32);
                match code {
                    alu::ADD => a.add(x, v),
                    alu::SUB => a.sub(x, v),
                    alu::OR => a.or(x, v),
                    alu::AND => a.and(x, v),
                    _ => a.xor(x, v),
                }
            }
        }
    }

    fn mul(&mut self, wide: bool, d: usize, src: Src) -> Result<(), IcedError> {
        // The low half of a product does not depend on signedness.
        match (wide, src) {
            (true, Src::Reg(s)) => self.a.imul_2(R64[d], R64[usize::from(s)]),
            (false, Src::Reg(s)) => self.a.imul_2(R32[d], R32[usize::from(s)]),
            (true, Src::Imm(v)) => self.a.imul_3(R64[d], R64[d], v as i32),
            (false, Src::Imm(v)) => self.a.imul_3(R32[d], R32[d], v as i32),
        }
    }

    /// Division and modulo with RFC 9669's rules: `x / 0 = 0`, `x % 0 = x`
    /// (truncated to 32 bits for 32-bit operations), signed `x / -1 = -x`
    /// and `x % -1 = 0` (computed without `idiv`, which faults on
    /// `MIN / -1`).
    fn divmod(
        &mut self,
        wide: bool,
        signed: bool,
        modulo: bool,
        d: usize,
        src: Src,
    ) -> Result<(), IcedError> {
        if let Src::Imm(v) = src {
            let zero = if wide { v == 0 } else { v as u32 == 0 };
            let minus_one = if wide { v == -1 } else { v as i32 == -1 };
            if zero {
                return self.div_by_zero(wide, modulo, d);
            }
            if signed && minus_one {
                return self.div_by_minus_one(wide, modulo, d);
            }
            if wide {
                self.mov_imm(r11, r11d, v as u64)?;
            } else {
                self.a.mov(r11d, v as u32)?;
            }
            return self.div_core(wide, signed, modulo, d);
        }
        let Src::Reg(s) = src else { return Ok(()) };
        let mut zero = self.a.create_label();
        let mut minus_one = self.a.create_label();
        let mut done = self.a.create_label();
        self.a.mov(r11, R64[usize::from(s)])?;
        if wide {
            self.a.test(r11, r11)?;
        } else {
            self.a.test(r11d, r11d)?;
        }
        self.a.je(zero)?;
        if signed {
            if wide {
                self.a.cmp(r11, -1)?;
            } else {
                self.a.cmp(r11d, -1)?;
            }
            self.a.je(minus_one)?;
        }
        self.div_core(wide, signed, modulo, d)?;
        self.a.jmp(done)?;
        self.place(&mut zero)?;
        self.div_by_zero(wide, modulo, d)?;
        if signed {
            self.a.jmp(done)?;
            self.place(&mut minus_one)?;
            self.div_by_minus_one(wide, modulo, d)?;
        }
        // The next instruction (the next slot's, or the end stub) is the
        // target; `place` keeps labels from sharing one.
        self.place(&mut done)
    }

    fn div_by_zero(&mut self, wide: bool, modulo: bool, d: usize) -> Result<(), IcedError> {
        match (modulo, wide) {
            (false, _) => self.a.xor(R32[d], R32[d]),
            (true, true) => Ok(()),
            (true, false) => self.a.mov(R32[d], R32[d]),
        }
    }

    fn div_by_minus_one(&mut self, wide: bool, modulo: bool, d: usize) -> Result<(), IcedError> {
        match (modulo, wide) {
            (false, true) => self.a.neg(R64[d]),
            (false, false) => self.a.neg(R32[d]),
            (true, _) => self.a.xor(R32[d], R32[d]),
        }
    }

    /// Divides `d` by r11 (non-zero, and not -1 when signed) with
    /// `div`/`idiv`, which need rdx:rax: both are saved in r9/r10 around it.
    fn div_core(
        &mut self,
        wide: bool,
        signed: bool,
        modulo: bool,
        d: usize,
    ) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(r9, rax)?;
        a.mov(r10, rdx)?;
        if d != 0 {
            a.mov(rax, R64[d])?;
        }
        match (wide, signed) {
            (true, false) => {
                a.xor(edx, edx)?;
                a.div(r11)?;
            }
            (true, true) => {
                a.cqo()?;
                a.idiv(r11)?;
            }
            (false, false) => {
                a.xor(edx, edx)?;
                a.div(r11d)?;
            }
            (false, true) => {
                a.cdq()?;
                a.idiv(r11d)?;
            }
        }
        // 32-bit div writes eax/edx, which zero-extends.
        a.mov(r11, if modulo { rdx } else { rax })?;
        a.mov(rax, r9)?;
        a.mov(rdx, r10)?;
        a.mov(R64[d], r11)?;
        Ok(())
    }

    /// Shifts. Amounts are masked to the width (x86 does the same for
    /// register counts); a 32-bit shift by 0 still clears the upper half.
    fn shift(&mut self, code: u8, wide: bool, d: usize, src: Src) -> Result<(), IcedError> {
        match src {
            Src::Imm(v) => {
                let n = (v & if wide { 63 } else { 31 }) as u32;
                let a = &mut self.a;
                match (wide, n) {
                    (true, 0) => Ok(()),
                    (false, 0) => a.mov(R32[d], R32[d]),
                    (true, _) => match code {
                        alu::LSH => a.shl(R64[d], n),
                        alu::RSH => a.shr(R64[d], n),
                        _ => a.sar(R64[d], n),
                    },
                    (false, _) => match code {
                        alu::LSH => a.shl(R32[d], n),
                        alu::RSH => a.shr(R32[d], n),
                        _ => a.sar(R32[d], n),
                    },
                }
            }
            Src::Reg(s) => {
                let s = usize::from(s);
                if self.o.bmi2 {
                    let a = &mut self.a;
                    return match (wide, code) {
                        (true, alu::LSH) => a.shlx(R64[d], R64[d], R64[s]),
                        (true, alu::RSH) => a.shrx(R64[d], R64[d], R64[s]),
                        (true, _) => a.sarx(R64[d], R64[d], R64[s]),
                        (false, alu::LSH) => a.shlx(R32[d], R32[d], R32[s]),
                        (false, alu::RSH) => a.shrx(R32[d], R32[d], R32[s]),
                        (false, _) => a.sarx(R32[d], R32[d], R32[s]),
                    };
                }
                // The count must be in cl (rcx is r4).
                const RCX: usize = 4;
                let a = &mut self.a;
                let target = if d == RCX { r11 } else { R64[d] };
                if s != RCX || d == RCX {
                    a.mov(r9, rcx)?;
                }
                if d == RCX {
                    a.mov(r11, rcx)?;
                }
                if s != RCX {
                    a.mov(rcx, R64[s])?;
                }
                let t32 = if d == RCX { r11d } else { R32[d] };
                match (wide, code) {
                    (true, alu::LSH) => a.shl(target, cl)?,
                    (true, alu::RSH) => a.shr(target, cl)?,
                    (true, _) => a.sar(target, cl)?,
                    (false, alu::LSH) => a.shl(t32, cl)?,
                    (false, alu::RSH) => a.shr(t32, cl)?,
                    (false, _) => a.sar(t32, cl)?,
                }
                if !wide {
                    // A 32-bit shift by 0 leaves the register untouched.
                    a.mov(t32, t32)?;
                }
                if s != RCX || d == RCX {
                    a.mov(rcx, r9)?;
                }
                if d == RCX {
                    a.mov(rcx, r11)?;
                }
                Ok(())
            }
        }
    }

    fn mov(&mut self, wide: bool, off: i16, d: usize, src: Src) -> Option<Result<(), IcedError>> {
        let a = &mut self.a;
        Some(match (off, src, wide) {
            (0, Src::Reg(s), true) => {
                let s = usize::from(s);
                if s == d {
                    Ok(())
                } else {
                    a.mov(R64[d], R64[s])
                }
            }
            (0, Src::Reg(s), false) => a.mov(R32[d], R32[usize::from(s)]),
            (0, Src::Imm(v), true) => self.mov_imm(R64[d], R32[d], v as u64),
            (0, Src::Imm(v), false) => self.mov_imm(R64[d], R32[d], u64::from(v as u32)),
            (8, Src::Reg(s), true) => a.movsx(R64[d], R8[usize::from(s)]),
            (16, Src::Reg(s), true) => a.movsx(R64[d], R16[usize::from(s)]),
            (32, Src::Reg(s), true) => a.movsxd(R64[d], R32[usize::from(s)]),
            (8, Src::Reg(s), false) => a.movsx(R32[d], R8[usize::from(s)]),
            (16, Src::Reg(s), false) => a.movsx(R32[d], R16[usize::from(s)]),
            _ => return None,
        })
    }

    fn endian(&mut self, wide: bool, x: bool, imm: i32, d: usize) -> Option<Result<(), IcedError>> {
        // ALU64 | END | K swaps unconditionally; ALU | END | K converts to
        // little endian (nothing to swap on x86), ALU | END | X to big endian.
        let swap = match (wide, x) {
            (true, false) | (false, true) => true,
            (false, false) => false,
            (true, true) => return None,
        };
        // Right after a zero-extending 16-bit load of d, the upper bits are
        // already 0 for the swap.
        let zero_above = self.zx16_in == Some(d);
        let a = &mut self.a;
        Some(match (imm, swap) {
            (16, true) if zero_above => a.rol(R16[d], 8),
            (16, true) => a.rol(R16[d], 8).and_then(|()| a.movzx(R32[d], R16[d])),
            (32, true) => a.bswap(R32[d]),
            (64, true) => a.bswap(R64[d]),
            (16, false) if zero_above => Ok(()),
            (16, false) => a.movzx(R32[d], R16[d]),
            (32, false) => a.mov(R32[d], R32[d]),
            (64, false) => Ok(()),
            _ => return None,
        })
    }

    // -------------------------------------------------------------- jumps

    fn jump(&mut self, pc: usize, i: Insn) -> Option<Result<(), IcedError>> {
        let wide = i.class() == class::JMP;
        let n = self.n;
        let rel = |off: i64| usize::try_from(pc as i64 + 1 + off).ok().filter(|&t| t < n);
        match i.code() {
            jmp::JA if !i.is_reg_source() => {
                let t = rel(if wide {
                    i64::from(i.off)
                } else {
                    i64::from(i.imm)
                })?;
                Some(self.ja(pc, t))
            }
            jmp::CALL if wide && !i.is_reg_source() => match i.src {
                call_src::HELPER => {
                    // Unknown helpers have no trampoline (the loader
                    // refuses them first).
                    let addr = usize::try_from(i.imm)
                        .ok()
                        .and_then(|k| self.o.targets.helpers.get(k).copied())
                        .filter(|&a| a != 0)?;
                    let direct = self
                        .o
                        .direct
                        .binary_search_by_key(&pc, |d| d.0)
                        .ok()
                        .map(|k| self.o.direct[k].1);
                    Some(match direct {
                        Some(d) => self.direct_call(pc, d),
                        None => self.helper_call(pc, addr),
                    })
                }
                call_src::PSEUDO_CALL => {
                    let t = rel(i64::from(i.imm))?;
                    Some(self.local_call(pc, t))
                }
                _ => None,
            },
            jmp::EXIT if wide && !i.is_reg_source() => Some(self.exit(pc)),
            code => {
                let t = rel(i64::from(i.off))?;
                if !reg_ok(i.dst) || (i.is_reg_source() && !reg_ok(i.src)) {
                    return None;
                }
                let src = if i.is_reg_source() {
                    Src::Reg(i.src)
                } else {
                    Src::Imm(i64::from(i.imm))
                };
                self.cond(pc, code, wide, usize::from(i.dst), src, t)
            }
        }
    }

    fn ja(&mut self, pc: usize, t: usize) -> Result<(), IcedError> {
        if self.o.checked {
            self.acct(pc, Some(t))?;
        } else if t == pc + 1 {
            return Ok(());
        }
        self.a.jmp(self.labels[t])
    }

    fn cond(
        &mut self,
        pc: usize,
        code: u8,
        wide: bool,
        d: usize,
        src: Src,
        t: usize,
    ) -> Option<Result<(), IcedError>> {
        if !matches!(
            code,
            jmp::JEQ
                | jmp::JNE
                | jmp::JGT
                | jmp::JGE
                | jmp::JLT
                | jmp::JLE
                | jmp::JSGT
                | jmp::JSGE
                | jmp::JSLT
                | jmp::JSLE
                | jmp::JSET
        ) {
            return None;
        }
        Some(self.cond_inner(pc, code, wide, d, src, t))
    }

    fn cond_inner(
        &mut self,
        pc: usize,
        code: u8,
        wide: bool,
        d: usize,
        src: Src,
        t: usize,
    ) -> Result<(), IcedError> {
        if !self.o.checked && t == pc + 1 {
            // Taken or not, execution goes on at the next slot.
            return Ok(());
        }
        let a = &mut self.a;
        match (code == jmp::JSET, wide, src) {
            (true, true, Src::Reg(s)) => a.test(R64[d], R64[usize::from(s)])?,
            (true, false, Src::Reg(s)) => a.test(R32[d], R32[usize::from(s)])?,
            (true, true, Src::Imm(v)) => a.test(R64[d], v as i32)?,
            (true, false, Src::Imm(v)) => a.test(R32[d], v as i32)?,
            // Equality with 0 right after an ADD, SUB, AND, OR or XOR of the
            // register: its zero flag is already the answer.
            (false, true, Src::Imm(0))
                if matches!(code, jmp::JEQ | jmp::JNE) && self.zf_in == Some(d) => {}
            // `test r, r` sets every flag the conditions read as `cmp r, 0`.
            (false, true, Src::Imm(0)) => a.test(R64[d], R64[d])?,
            (false, false, Src::Imm(0)) => a.test(R32[d], R32[d])?,
            (false, true, Src::Reg(s)) => a.cmp(R64[d], R64[usize::from(s)])?,
            (false, false, Src::Reg(s)) => a.cmp(R32[d], R32[usize::from(s)])?,
            (false, true, Src::Imm(v)) => a.cmp(R64[d], v as i32)?,
            (false, false, Src::Imm(v)) => a.cmp(R32[d], v as i32)?,
        }
        if !self.o.checked {
            let l = self.labels[t];
            return self.jcc(code, false, l);
        }
        // Checked: count the transfer on the taken path only.
        let mut skip = self.a.create_label();
        self.jcc(code, true, skip)?;
        self.acct(pc, Some(t))?;
        self.a.jmp(self.labels[t])?;
        self.place(&mut skip)
    }

    /// Jumps to `l` when condition `code` holds (`negate`: when it fails).
    fn jcc(&mut self, code: u8, negate: bool, l: CodeLabel) -> Result<(), IcedError> {
        let a = &mut self.a;
        match (code, negate) {
            (jmp::JEQ, false) | (jmp::JNE | jmp::JSET, true) => a.je(l),
            (jmp::JNE | jmp::JSET, false) | (jmp::JEQ, true) => a.jne(l),
            (jmp::JGT, false) | (jmp::JLE, true) => a.ja(l),
            (jmp::JGE, false) | (jmp::JLT, true) => a.jae(l),
            (jmp::JLT, false) | (jmp::JGE, true) => a.jb(l),
            (jmp::JLE, false) | (jmp::JGT, true) => a.jbe(l),
            (jmp::JSGT, false) | (jmp::JSLE, true) => a.jg(l),
            (jmp::JSGE, false) | (jmp::JSLT, true) => a.jge(l),
            (jmp::JSLT, false) | (jmp::JSGE, true) => a.jl(l),
            _ => a.jle(l),
        }
    }

    // -------------------------------------------------------------- calls

    /// Saves (`save`) or restores r0–r5 in the context's save area
    /// (`first..6`).
    fn save_area(&mut self, first: usize, save: bool) -> Result<(), IcedError> {
        let base = self.o.layout.saved;
        for (k, r) in R64.iter().enumerate().take(6).skip(first) {
            let m = ctx(base + 8 * k as i32);
            if save {
                self.a.mov(m, *r)?;
            } else {
                self.a.mov(*r, m)?;
            }
        }
        Ok(())
    }

    fn helper_call(&mut self, pc: usize, addr: u64) -> Result<(), IcedError> {
        self.general = true;
        if self.o.checked {
            self.save_area(1, true)?;
        }
        if self.o.zero_flags.binary_search(&pc).is_ok() {
            self.a.xor(ecx, ecx)?;
        }
        let fail = self.stub(pc, err_kind::HELPER);
        self.a.mov(r9, r12)?;
        self.a.mov(rax, addr)?;
        self.a.call(rax)?;
        // The trampoline returns { r0, failed } in rax:rdx.
        self.a.test(rdx, rdx)?;
        self.a.jne(fail)?;
        if self.o.checked {
            self.save_area(1, false)?;
        }
        Ok(())
    }

    /// A helper call the verifier's facts let the code make directly.
    fn direct_call(&mut self, pc: usize, d: Direct) -> Result<(), IcedError> {
        const ARGS: [AsmRegister64; 6] = [rdi, rsi, rdx, rcx, r8, r9];
        match d {
            Direct::ArrayLookup {
                base,
                max_entries,
                stride,
            } => {
                // r2 (rsi) points at the u32 key, little-endian; r3 and
                // r4 (rdx, rcx) are the call's to clobber. Without a
                // branch: r0 = key < max_entries ? base + key * stride : 0
                // (values are at most 64 KiB: the product fits).
                self.a.mov(eax, dword_ptr(rsi))?;
                self.a.imul_3(rcx, rax, stride as i32)?;
                self.a.mov(rdx, base)?;
                self.a.add(rdx, rcx)?;
                self.a.cmp(eax, max_entries as i32)?;
                self.a.mov(eax, 0)?;
                self.a.cmovb(rax, rdx)?;
            }
            Direct::Trusted { addr, ctx_arg } => {
                if self.o.zero_flags.binary_search(&pc).is_ok() {
                    self.a.xor(ecx, ecx)?;
                }
                if let Some(r) = ctx_arg.and_then(|k| ARGS.get(k)) {
                    self.a.mov(*r, r12)?;
                }
                self.a.mov(rax, addr)?;
                self.a.call(rax)?;
            }
            Direct::MapLookup { addr, table } => {
                // r2 (rsi) is the key pointer, the function's second
                // argument already.
                self.a.mov(rdi, table)?;
                self.a.mov(rax, addr)?;
                self.a.call(rax)?;
            }
            Direct::Ktime => {
                let l = self.o.layout;
                let mut slow = self.a.create_label();
                let mut done = self.a.create_label();
                self.a.cmp(ctx(l.now_set), 0)?;
                self.a.je(slow)?;
                self.a.mov(rax, ctx(l.now))?;
                self.a.jmp(done)?;
                self.place(&mut slow)?;
                // The monotonic clock, from a trampoline that reads only
                // the context's time source and cannot fail.
                self.a.mov(rdi, r12)?;
                self.a.mov(rax, self.o.targets.ktime)?;
                self.a.call(rax)?;
                self.place(&mut done)?;
            }
        }
        Ok(())
    }

    fn local_call(&mut self, pc: usize, t: usize) -> Result<(), IcedError> {
        let l = self.o.layout;
        let deep = self.stub(pc, err_kind::CALL_DEPTH);
        let frame = isa::STACK_SIZE as i32;
        self.a.lea(r11, qword_ptr(rbp - frame))?;
        self.a.cmp(r11, ctx(l.depth_limit))?;
        self.a.jb(deep)?;
        self.acct(pc, Some(t))?;
        for r in [rbx, r13, r14, r15, rbp] {
            self.a.push(r)?;
        }
        self.a.sub(rbp, frame)?;
        self.a.lea(r11, qword_ptr(rbp - frame))?;
        self.a.mov(ctx(l.stack_lo), r11)?;
        self.a.call(self.labels[t])?;
        for r in [rbp, r15, r14, r13, rbx] {
            self.a.pop(r)?;
        }
        self.a.lea(r11, qword_ptr(rbp - frame))?;
        self.a.mov(ctx(l.stack_lo), r11)?;
        if self.o.checked {
            self.a.sub(ctx(l.executed), (pc + 1) as i32)?;
        }
        Ok(())
    }

    fn exit(&mut self, pc: usize) -> Result<(), IcedError> {
        self.acct(pc, None)?;
        if !self.has_calls {
            // Only the main function exits: return from here.
            return self.leave();
        }
        let l = self.o.layout;
        self.a.cmp(rbp, ctx(l.stack_top))?;
        self.a.je(self.main_exit)?;
        self.a.ret()
    }

    // ------------------------------------------------------------- memory

    fn load(&mut self, pc: usize, i: Insn) -> Option<Result<(), IcedError>> {
        if i.dst >= isa::FRAME_REG || !reg_ok(i.src) {
            return None;
        }
        let signed = match i.mode_bits() {
            mode::MEM => false,
            mode::MEMSX if i.size_bits() != size::DW => true,
            _ => return None,
        };
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        let off = i32::from(i.off);
        if self.o.checked {
            let kind = i.access_size() as u64 | if signed { LOAD_SIGNED } else { 0 };
            return Some(self.checked_access(
                pc,
                self.o.targets.load,
                s,
                off,
                None,
                kind,
                None,
                Some(d),
            ));
        }
        let m = R64[s] + off;
        let a = &mut self.a;
        Some(match (i.size_bits(), signed) {
            (size::B, false) => a.movzx(R32[d], byte_ptr(m)),
            (size::H, false) => {
                self.zx16 = Some(d);
                a.movzx(R32[d], word_ptr(m))
            }
            (size::W, false) => a.mov(R32[d], dword_ptr(m)),
            (_, false) => a.mov(R64[d], qword_ptr(m)),
            (size::B, true) => a.movsx(R64[d], byte_ptr(m)),
            (size::H, true) => a.movsx(R64[d], word_ptr(m)),
            (_, true) => a.movsxd(R64[d], dword_ptr(m)),
        })
    }

    fn store(&mut self, pc: usize, i: Insn) -> Option<Result<(), IcedError>> {
        if !reg_ok(i.dst) || (i.class() == class::STX && !reg_ok(i.src)) {
            return None;
        }
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        let off = i32::from(i.off);
        let n = i.access_size();
        match (i.class(), i.mode_bits()) {
            (class::ST, mode::MEM) => {
                let v = i64::from(i.imm);
                if self.o.checked {
                    return Some(self.checked_access(
                        pc,
                        self.o.targets.store,
                        d,
                        off,
                        Some(Src::Imm(v)),
                        n as u64,
                        None,
                        None,
                    ));
                }
                let m = R64[d] + off;
                let a = &mut self.a;
                Some(match n {
                    1 => a.mov(byte_ptr(m), i32::from(v as i8)),
                    2 => a.mov(word_ptr(m), i32::from(v as i16)),
                    4 => a.mov(dword_ptr(m), v as i32),
                    _ => a.mov(qword_ptr(m), v as i32),
                })
            }
            (class::STX, mode::MEM) => {
                if self.o.checked {
                    return Some(self.checked_access(
                        pc,
                        self.o.targets.store,
                        d,
                        off,
                        Some(Src::Reg(i.src)),
                        n as u64,
                        None,
                        None,
                    ));
                }
                let m = R64[d] + off;
                let a = &mut self.a;
                Some(match n {
                    1 => a.mov(byte_ptr(m), R8[s]),
                    2 => a.mov(word_ptr(m), R16[s]),
                    4 => a.mov(dword_ptr(m), R32[s]),
                    _ => a.mov(qword_ptr(m), R64[s]),
                })
            }
            (class::STX, mode::ATOMIC) if n == 4 || n == 8 => self.atomic(pc, i),
            _ => None,
        }
    }

    fn atomic(&mut self, pc: usize, i: Insn) -> Option<Result<(), IcedError>> {
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        let wide = i.access_size() == 8;
        let op = i.imm;
        let fetch = match op {
            atomic::ADD | atomic::OR | atomic::AND | atomic::XOR => false,
            atomic::CMPXCHG => false,
            _ if op == atomic::XCHG
                || op == atomic::ADD | atomic::FETCH
                || op == atomic::OR | atomic::FETCH
                || op == atomic::AND | atomic::FETCH
                || op == atomic::XOR | atomic::FETCH =>
            {
                true
            }
            _ => return None,
        };
        if fetch && i.src >= isa::FRAME_REG {
            return None;
        }
        let off = i32::from(i.off);
        if self.o.checked {
            // kind = size | op << 8; the trampoline returns the old value,
            // which goes to r0 (cmpxchg) or to src (fetch forms).
            let kind = i.access_size() as u64 | (u64::from(op as u32) << 8);
            let result = if op == atomic::CMPXCHG {
                Some(0)
            } else if fetch {
                Some(s)
            } else {
                None
            };
            return Some(self.checked_access(
                pc,
                self.o.targets.atomic,
                d,
                off,
                Some(Src::Reg(i.src)),
                kind,
                Some(()),
                result,
            ));
        }
        Some(self.atomic_native(op, wide, d, s, off))
    }

    fn atomic_native(
        &mut self,
        op: i32,
        wide: bool,
        d: usize,
        s: usize,
        off: i32,
    ) -> Result<(), IcedError> {
        let m = R64[d] + off;
        let mem = if wide { qword_ptr(m) } else { dword_ptr(m) };
        let a = &mut self.a;
        match op {
            atomic::ADD | atomic::OR | atomic::AND | atomic::XOR => {
                let a = a.lock();
                match (op, wide) {
                    (atomic::ADD, true) => a.add(mem, R64[s]),
                    (atomic::ADD, false) => a.add(mem, R32[s]),
                    (atomic::OR, true) => a.or(mem, R64[s]),
                    (atomic::OR, false) => a.or(mem, R32[s]),
                    (atomic::AND, true) => a.and(mem, R64[s]),
                    (atomic::AND, false) => a.and(mem, R32[s]),
                    (_, true) => a.xor(mem, R64[s]),
                    (_, false) => a.xor(mem, R32[s]),
                }
            }
            _ if op == atomic::ADD | atomic::FETCH => {
                // A 32-bit xadd writes src32, which zero-extends.
                if wide {
                    a.lock().xadd(mem, R64[s])
                } else {
                    a.lock().xadd(mem, R32[s])
                }
            }
            atomic::XCHG => {
                if wide {
                    a.xchg(mem, R64[s])
                } else {
                    a.xchg(mem, R32[s])
                }
            }
            atomic::CMPXCHG => {
                if wide {
                    a.lock().cmpxchg(mem, R64[s])
                } else {
                    a.lock().cmpxchg(mem, R32[s])?;
                    // On success cmpxchg32 leaves rax alone: clear the
                    // upper half as the eBPF result requires.
                    a.mov(eax, eax)
                }
            }
            _ => self.fetch_logic(op & !atomic::FETCH, wide, d, s, off),
        }
    }

    /// `fetch_or`, `fetch_and`, `fetch_xor`: a compare-exchange loop (x86
    /// has no fetching form of these), which uses rax = r0: r0 is parked in
    /// the context's scratch word.
    fn fetch_logic(
        &mut self,
        op: i32,
        wide: bool,
        d: usize,
        s: usize,
        off: i32,
    ) -> Result<(), IcedError> {
        let l = self.o.layout;
        self.a.mov(ctx(l.scratch), rax)?;
        self.a.mov(r9, R64[s])?;
        self.a.lea(r10, qword_ptr(R64[d] + off))?;
        if wide {
            self.a.mov(rax, qword_ptr(r10))?;
        } else {
            self.a.mov(eax, dword_ptr(r10))?;
        }
        let mut again = self.a.create_label();
        self.place(&mut again)?;
        self.a.mov(r11, rax)?;
        match op {
            atomic::OR => self.a.or(r11, r9)?,
            atomic::AND => self.a.and(r11, r9)?,
            _ => self.a.xor(r11, r9)?,
        }
        if wide {
            self.a.lock().cmpxchg(qword_ptr(r10), r11)?;
        } else {
            self.a.lock().cmpxchg(dword_ptr(r10), r11d)?;
        }
        self.a.jne(again)?;
        self.a.mov(r11, rax)?;
        self.a.mov(rax, ctx(l.scratch))?;
        self.a.mov(R64[s], r11)?;
        Ok(())
    }

    /// A checked memory access through trampoline `target(ctx, addr,
    /// value, kind, pc[, r0])`: r0–r5 are saved around the call; on failure
    /// the trampoline has stored the run error. `result` names the register
    /// that receives the returned value.
    #[allow(clippy::too_many_arguments)]
    fn checked_access(
        &mut self,
        pc: usize,
        target: u64,
        base: usize,
        off: i32,
        value: Option<Src>,
        kind: u64,
        pass_r0: Option<()>,
        result: Option<usize>,
    ) -> Result<(), IcedError> {
        let fault = self.stub(pc, err_kind::FAULT);
        self.save_area(0, true)?;
        self.a.lea(r10, qword_ptr(R64[base] + off))?;
        match value {
            Some(Src::Reg(v)) => self.a.mov(r11, R64[usize::from(v)])?,
            Some(Src::Imm(v)) => self.mov_imm(r11, r11d, v as u64)?,
            None => self.a.xor(r11d, r11d)?,
        }
        if pass_r0.is_some() {
            self.a.mov(r9, rax)?;
        }
        self.a.mov(rdi, r12)?;
        self.a.mov(rsi, r10)?;
        self.a.mov(rdx, r11)?;
        self.mov_imm(rcx, ecx, kind)?;
        self.a.mov(r8d, pc as u32)?;
        self.a.mov(rax, target)?;
        self.a.call(rax)?;
        self.a.test(rdx, rdx)?;
        self.a.jne(fault)?;
        self.a.mov(r11, rax)?;
        self.save_area(0, false)?;
        if let Some(r) = result {
            self.a.mov(R64[r], r11)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code's instructions, as the generator hands them to `check_saved`.
    fn code(emit: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<Instruction> {
        let mut a = CodeAssembler::new(64).unwrap();
        emit(&mut a).unwrap();
        a.instructions().to_vec()
    }

    #[test]
    fn check_saved_refuses_an_unsaved_callee_saved_register() {
        let none = Frame::new([false; isa::NUM_REGS], false, false);
        let mut r6 = [false; isa::NUM_REGS];
        r6[6] = true;
        let rbx_only = Frame::new(r6, false, false);
        assert_eq!(rbx_only.saved, vec![rbx]);
        // Caller-saved registers need nothing.
        let plain = code(|a| {
            a.mov(rax, rdi)?;
            a.add(rcx, qword_ptr(rsi + 8))
        });
        assert!(check_saved(&plain, &none).is_ok());
        // A callee-saved register as an operand, at any width, or as a
        // memory base or index.
        type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
        let uses: [(&str, Emit, AsmRegister64); 5] = [
            ("rbx", |a| a.mov(rax, rbx), rbx),
            ("r13b", |a| a.mov(al, r13b), r13),
            ("r14d", |a| a.add(r14d, 1), r14),
            ("[rbp]", |a| a.mov(rax, qword_ptr(rbp - 8)), rbp),
            ("[rdi+r12]", |a| a.mov(rax, qword_ptr(rdi + r12)), r12),
        ];
        for (what, emit, reg) in uses {
            let c = code(emit);
            assert!(
                matches!(check_saved(&c, &none), Err(CompileError::Unsaved)),
                "{what} passed unsaved"
            );
            assert!(check_saved(&c, &Frame::full()).is_ok(), "{what}");
            let saves = reg == rbx;
            assert_eq!(check_saved(&c, &rbx_only).is_ok(), saves, "{what}");
        }
    }
}
