//! A text assembler and disassembler for eBPF, in the syntax of ubpf and the
//! `bpf_conformance` suite.
//!
//! Tests, benchmarks and error messages need to talk about programs without
//! a C compiler in the loop, so this module turns lines such as
//!
//! ```text
//! ldxb %r2, [%r1+12]       # load a byte
//! jne %r2, 0x08, drop      # labels or +N/-N relative offsets
//! lddw %r1, map:0          # reference to map 0 (our extension)
//! lock add [%r0+0], %r3    # atomic add
//! call 1                   # helper 1 (map_lookup_elem)
//! call local func          # BPF-to-BPF call
//! ```
//!
//! into [`Insn`] slots and back. The syntax follows `bpf_conformance`'s
//! assembler: `mnemonic op, op, op`, registers `%r0`…`%r15` (r11–r15 do not
//! exist, but negative tests need to be able to write them), memory operands
//! `[%rN+off]` / `[%rN-off]`, jump targets `+N`, `-N` or a label (`name:` on its
//! own line or in front of an instruction; the first `exit` also defines the
//! label `exit`, as in `bpf_conformance`), 32-bit forms with a `32` suffix
//! (`add32`, `jeq32`), `64` accepted as an explicit suffix for the 64-bit
//! forms, `sdiv`/`smod`, `movsx864`/`movsx832`/`movsx1664`/`movsx1632`/`movsx3264`,
//! `be16`/`le32`/`swap64`, `ja32 +N` (the 32-bit-offset jump),
//! `call N` / `call helper N` / `call local L` / `call runtime N` / `callx %rN`,
//! and atomics `lock [fetch] add|or|and|xor[32] [%rD+off], %rS`,
//! `lock xchg[32] …`, `lock cmpxchg[32] …`. Numbers are decimal or `0x` hex,
//! optionally signed; a 32-bit immediate accepts `-2^31 … 2^32-1` (the bit
//! pattern is kept, so `0xffffffff` is `-1`). Comments run from `#` to the end
//! of the line.
//!
//! Extensions of our own:
//! - sign-extending loads use the binutils names `ldxsb`, `ldxsh`, `ldxsw`;
//! - `lddw %rN, map:I` emits a `lddw` with `src = PSEUDO_MAP_FD` and `imm = I`,
//!   which is what the ELF loader produces when it relocates a map reference,
//!   so verifier tests can use maps without an object file;
//! - `.insn OP, DST, SRC, OFF, IMM` emits one raw slot. The disassembler uses
//!   it for every slot that has no canonical spelling (unknown opcodes, unused
//!   fields that are not zero, a broken `lddw` pair), which makes
//!   `assemble(&disassemble(p)) == p` hold for every slot sequence, not only for
//!   well-formed programs.
//!
//! The assembler checks syntax and field ranges only; whether a program makes
//! sense is the verifier's business.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::isa::{
    Insn, LDDW, PSEUDO_MAP_FD, alu, atomic, call_src, class, jmp, mode, size, source,
};

/// Why a text is not a program. Every variant carries the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsmError {
    /// The mnemonic is not one this assembler knows.
    #[error("line {line}: unknown mnemonic `{token}`")]
    UnknownMnemonic {
        /// 1-based line number.
        line: usize,
        /// The mnemonic as written.
        token: String,
    },
    /// The instruction has the wrong number of operands.
    #[error("line {line}: `{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// 1-based line number.
        line: usize,
        /// The mnemonic as written.
        mnemonic: String,
        /// How many operands the mnemonic takes.
        expected: usize,
        /// How many were written.
        found: usize,
    },
    /// An operand does not have the expected shape.
    #[error("line {line}: expected {expected}, found `{token}`")]
    BadOperand {
        /// 1-based line number.
        line: usize,
        /// The operand as written.
        token: String,
        /// What was expected (e.g. "a register").
        expected: &'static str,
    },
    /// A number does not fit the field it is written into.
    #[error("line {line}: `{token}` does not fit in {field}")]
    OutOfRange {
        /// 1-based line number.
        line: usize,
        /// The number as written.
        token: String,
        /// The field (e.g. "a 16-bit offset").
        field: &'static str,
    },
    /// A jump or call names a label that is never defined.
    #[error("line {line}: unknown label `{token}`")]
    UnknownLabel {
        /// 1-based line number of the jump.
        line: usize,
        /// The label.
        token: String,
    },
    /// A label is defined twice.
    #[error("line {line}: label `{token}` defined twice")]
    DuplicateLabel {
        /// 1-based line number of the second definition.
        line: usize,
        /// The label.
        token: String,
    },
    /// A label is too far away for the jump's offset field.
    #[error("line {line}: label `{token}` is out of range of the jump")]
    JumpOutOfRange {
        /// 1-based line number of the jump.
        line: usize,
        /// The label.
        token: String,
    },
}

/// ALU operation names, indexed by nothing: searched both ways.
const ALU_OPS: [(&str, u8); 13] = [
    ("add", alu::ADD),
    ("sub", alu::SUB),
    ("mul", alu::MUL),
    ("div", alu::DIV),
    ("or", alu::OR),
    ("and", alu::AND),
    ("lsh", alu::LSH),
    ("rsh", alu::RSH),
    ("neg", alu::NEG),
    ("mod", alu::MOD),
    ("xor", alu::XOR),
    ("mov", alu::MOV),
    ("arsh", alu::ARSH),
];

/// Conditional jump names.
const JMP_OPS: [(&str, u8); 11] = [
    ("jeq", jmp::JEQ),
    ("jgt", jmp::JGT),
    ("jge", jmp::JGE),
    ("jset", jmp::JSET),
    ("jne", jmp::JNE),
    ("jsgt", jmp::JSGT),
    ("jsge", jmp::JSGE),
    ("jlt", jmp::JLT),
    ("jle", jmp::JLE),
    ("jslt", jmp::JSLT),
    ("jsle", jmp::JSLE),
];

/// Atomic operation names (without `fetch`).
const ATOMIC_OPS: [(&str, i32); 4] = [
    ("add", atomic::ADD),
    ("or", atomic::OR),
    ("and", atomic::AND),
    ("xor", atomic::XOR),
];

/// Load/store width suffixes.
const SIZES: [(&str, u8); 4] = [
    ("b", size::B),
    ("h", size::H),
    ("w", size::W),
    ("dw", size::DW),
];

fn alu_name(code: u8) -> Option<&'static str> {
    ALU_OPS.iter().find(|(_, c)| *c == code).map(|(n, _)| *n)
}

fn jmp_name(code: u8) -> Option<&'static str> {
    JMP_OPS.iter().find(|(_, c)| *c == code).map(|(n, _)| *n)
}

fn size_name(bits: u8) -> &'static str {
    SIZES
        .iter()
        .find(|(_, b)| *b == bits)
        .map_or("dw", |(n, _)| *n)
}

/// A jump target that may still need a label resolved.
enum Target {
    Rel(i64),
    Label(String),
}

/// Which field of the slot a pending label fills.
#[derive(Clone, Copy)]
enum Field {
    Off,
    Imm,
}

struct Pending {
    slot: usize,
    line: usize,
    label: String,
    field: Field,
}

/// Assembles `src` into instruction slots.
pub fn assemble(src: &str) -> Result<Vec<Insn>, AsmError> {
    let mut out: Vec<Insn> = Vec::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    // bpf_conformance lets `exit` name the first exit instruction unless a
    // label of that name is defined explicitly.
    let mut first_exit: Option<usize> = None;

    for (idx, raw) in src.lines().enumerate() {
        let line = idx + 1;
        let mut text = raw.split('#').next().unwrap_or("").trim();
        // Labels: `name:` possibly followed by an instruction.
        while let Some(colon) = text.find(':') {
            let head = text[..colon].trim();
            if !is_label(head) {
                break;
            }
            if labels.insert(head.to_string(), out.len()).is_some() {
                return Err(AsmError::DuplicateLabel {
                    line,
                    token: head.to_string(),
                });
            }
            text = text[colon + 1..].trim();
        }
        if text.is_empty() {
            continue;
        }
        let (mnemonic, rest) = match text.find(char::is_whitespace) {
            Some(i) => (&text[..i], text[i..].trim()),
            None => (text, ""),
        };
        if mnemonic == "exit" && first_exit.is_none() {
            first_exit = Some(out.len());
        }
        let mut p = LineParser {
            line,
            mnemonic,
            slot: out.len(),
            pending: &mut pending,
        };
        let insns = p.parse(rest)?;
        out.extend(insns);
    }

    for p in pending {
        let found =
            labels
                .get(&p.label)
                .copied()
                .or(if p.label == "exit" { first_exit } else { None });
        let Some(target) = found else {
            return Err(AsmError::UnknownLabel {
                line: p.line,
                token: p.label,
            });
        };
        let rel = target as i64 - p.slot as i64 - 1;
        let out_of_range = || AsmError::JumpOutOfRange {
            line: p.line,
            token: p.label.clone(),
        };
        match p.field {
            Field::Off => out[p.slot].off = i16::try_from(rel).map_err(|_| out_of_range())?,
            Field::Imm => out[p.slot].imm = i32::try_from(rel).map_err(|_| out_of_range())?,
        }
    }
    Ok(out)
}

fn is_label(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Parses a signed integer, decimal or `0x` hex.
fn parse_int(tok: &str) -> Option<i128> {
    let t = tok.trim();
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let mag = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if h.is_empty() || h.starts_with('+') || h.starts_with('-') {
            return None;
        }
        i128::from_str_radix(h, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<i128>().ok()?
    };
    Some(if neg { -mag } else { mag })
}

struct LineParser<'a> {
    line: usize,
    mnemonic: &'a str,
    slot: usize,
    pending: &'a mut Vec<Pending>,
}

impl LineParser<'_> {
    fn bad(&self, token: &str, expected: &'static str) -> AsmError {
        AsmError::BadOperand {
            line: self.line,
            token: token.to_string(),
            expected,
        }
    }

    fn unknown(&self) -> AsmError {
        AsmError::UnknownMnemonic {
            line: self.line,
            token: self.mnemonic.to_string(),
        }
    }

    fn operands<'s>(&self, rest: &'s str, n: usize) -> Result<Vec<&'s str>, AsmError> {
        let ops: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').map(str::trim).collect()
        };
        if ops.len() != n || ops.iter().any(|o| o.is_empty()) {
            return Err(AsmError::OperandCount {
                line: self.line,
                mnemonic: self.mnemonic.to_string(),
                expected: n,
                found: ops.iter().filter(|o| !o.is_empty()).count(),
            });
        }
        Ok(ops)
    }

    fn reg(&self, tok: &str) -> Result<u8, AsmError> {
        tok.strip_prefix("%r")
            .and_then(|n| {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 2 {
                    return None;
                }
                n.parse::<u8>().ok()
            })
            .filter(|&r| r < 16)
            .ok_or_else(|| self.bad(tok, "a register %r0..%r15"))
    }

    fn number(&self, tok: &str, lo: i128, hi: i128, field: &'static str) -> Result<i128, AsmError> {
        let v = parse_int(tok).ok_or_else(|| self.bad(tok, "a number"))?;
        if v < lo || v > hi {
            return Err(AsmError::OutOfRange {
                line: self.line,
                token: tok.to_string(),
                field,
            });
        }
        Ok(v)
    }

    /// A 32-bit immediate: signed values and unsigned bit patterns.
    fn imm32(&self, tok: &str) -> Result<i32, AsmError> {
        let v = self.number(tok, i32::MIN.into(), u32::MAX.into(), "a 32-bit immediate")?;
        Ok(v as u32 as i32)
    }

    fn off16(&self, tok: &str) -> Result<i16, AsmError> {
        let v = self.number(tok, i16::MIN.into(), u16::MAX.into(), "a 16-bit offset")?;
        Ok(v as u16 as i16)
    }

    /// `[%rN]`, `[%rN+off]`, `[%rN-off]` (spaces allowed inside).
    fn mem(&self, tok: &str) -> Result<(u8, i16), AsmError> {
        let inner = tok
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or_else(|| self.bad(tok, "a memory operand [%rN+off]"))?;
        let inner: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
        match inner.find(['+', '-']) {
            None => Ok((self.reg(&inner)?, 0)),
            Some(i) => {
                let r = self.reg(&inner[..i])?;
                let off = self.off16(&inner[i..])?;
                Ok((r, off))
            }
        }
    }

    fn target(&self, tok: &str) -> Result<Target, AsmError> {
        if tok.starts_with('+') || tok.starts_with('-') {
            let v = parse_int(tok).ok_or_else(|| self.bad(tok, "a jump offset or label"))?;
            let v = i64::try_from(v).map_err(|_| AsmError::OutOfRange {
                line: self.line,
                token: tok.to_string(),
                field: "a jump offset",
            })?;
            Ok(Target::Rel(v))
        } else if is_label(tok) {
            Ok(Target::Label(tok.to_string()))
        } else {
            Err(self.bad(tok, "a jump offset (+N/-N) or label"))
        }
    }

    fn set_target(&mut self, tok: &str, insn: &mut Insn, field: Field) -> Result<(), AsmError> {
        match self.target(tok)? {
            Target::Rel(v) => {
                let range = || AsmError::OutOfRange {
                    line: self.line,
                    token: tok.to_string(),
                    field: "a jump offset",
                };
                match field {
                    Field::Off => insn.off = i16::try_from(v).map_err(|_| range())?,
                    Field::Imm => insn.imm = i32::try_from(v).map_err(|_| range())?,
                }
            }
            Target::Label(label) => self.pending.push(Pending {
                slot: self.slot,
                line: self.line,
                label,
                field,
            }),
        }
        Ok(())
    }

    fn parse(&mut self, rest: &str) -> Result<Vec<Insn>, AsmError> {
        let m = self.mnemonic;
        match m {
            ".insn" => {
                let ops = self.operands(rest, 5)?;
                let op = self.number(ops[0], 0, 255, "an 8-bit opcode")? as u8;
                let dst = self.number(ops[1], 0, 15, "a 4-bit register field")? as u8;
                let src = self.number(ops[2], 0, 15, "a 4-bit register field")? as u8;
                let off = self.off16(ops[3])?;
                let imm = self.imm32(ops[4])?;
                return Ok(vec![Insn::new(op, dst, src, off, imm)]);
            }
            "exit" => {
                self.operands(rest, 0)?;
                return Ok(vec![Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0)]);
            }
            "ja" | "ja32" => {
                let ops = self.operands(rest, 1)?;
                let (cls, field) = if m == "ja" {
                    (class::JMP, Field::Off)
                } else {
                    (class::JMP32, Field::Imm)
                };
                let mut i = Insn::new(cls | jmp::JA, 0, 0, 0, 0);
                self.set_target(ops[0], &mut i, field)?;
                return Ok(vec![i]);
            }
            "call" => return self.call(rest).map(|i| vec![i]),
            "callx" => {
                let ops = self.operands(rest, 1)?;
                let r = self.reg(ops[0])?;
                return Ok(vec![Insn::new(
                    class::JMP | jmp::CALL | source::X,
                    r,
                    0,
                    0,
                    0,
                )]);
            }
            "lddw" => return self.lddw(rest),
            "lock" => return self.lock(rest).map(|i| vec![i]),
            _ => {}
        }
        if let Some(i) = self.mem_op(rest)? {
            return Ok(vec![i]);
        }
        if let Some(i) = self.end_op(rest)? {
            return Ok(vec![i]);
        }
        if let Some(i) = self.jmp_op(rest)? {
            return Ok(vec![i]);
        }
        if let Some(i) = self.alu_op(rest)? {
            return Ok(vec![i]);
        }
        Err(self.unknown())
    }

    fn call(&mut self, rest: &str) -> Result<Insn, AsmError> {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let base = class::JMP | jmp::CALL;
        match words.as_slice() {
            [t] if t.starts_with('%') => {
                let r = self.reg(t)?;
                Ok(Insn::new(base | source::X, r, 0, 0, 0))
            }
            [t] | ["helper", t] => Ok(Insn::new(base, 0, call_src::HELPER, 0, self.imm32(t)?)),
            ["runtime", t] => Ok(Insn::new(base, 0, 2, 0, self.imm32(t)?)),
            ["local", t] => {
                let mut i = Insn::new(base, 0, call_src::PSEUDO_CALL, 0, 0);
                self.set_target(t, &mut i, Field::Imm)?;
                Ok(i)
            }
            _ => Err(AsmError::OperandCount {
                line: self.line,
                mnemonic: "call".into(),
                expected: 1,
                found: words.len(),
            }),
        }
    }

    fn lddw(&mut self, rest: &str) -> Result<Vec<Insn>, AsmError> {
        let ops = self.operands(rest, 2)?;
        let dst = self.reg(ops[0])?;
        if let Some(idx) = ops[1].strip_prefix("map:") {
            let v = self.number(idx, 0, u32::MAX.into(), "a map index")?;
            return Ok(vec![
                Insn::new(LDDW, dst, PSEUDO_MAP_FD, 0, v as u32 as i32),
                Insn::new(0, 0, 0, 0, 0),
            ]);
        }
        let v = self.number(
            ops[1],
            i64::MIN.into(),
            u64::MAX.into(),
            "a 64-bit immediate",
        )?;
        let v = v as u64;
        Ok(vec![
            Insn::new(LDDW, dst, 0, 0, v as u32 as i32),
            Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
        ])
    }

    fn lock(&mut self, rest: &str) -> Result<Insn, AsmError> {
        let mut rest = rest.trim();
        let mut fetch = false;
        if let Some(r) = rest.strip_prefix("fetch")
            && r.starts_with(char::is_whitespace)
        {
            fetch = true;
            rest = r.trim_start();
        }
        let (op, operands) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        let (name, width) = match op.strip_suffix("32") {
            Some(n) => (n, size::W),
            None => (op.strip_suffix("64").unwrap_or(op), size::DW),
        };
        let imm = match name {
            "xchg" if !fetch => atomic::XCHG,
            "cmpxchg" if !fetch => atomic::CMPXCHG,
            _ => {
                let base = ATOMIC_OPS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| self.bad(op, "an atomic operation"))?;
                if fetch { base | atomic::FETCH } else { base }
            }
        };
        let ops = self.operands(operands, 2)?;
        let (dst, off) = self.mem(ops[0])?;
        let src = self.reg(ops[1])?;
        Ok(Insn::new(
            class::STX | mode::ATOMIC | width,
            dst,
            src,
            off,
            imm,
        ))
    }

    fn mem_op(&mut self, rest: &str) -> Result<Option<Insn>, AsmError> {
        let m = self.mnemonic;
        let (cls, md, sz) = if let Some(s) = m.strip_prefix("ldxs") {
            match SIZES.iter().find(|(n, _)| *n == s) {
                Some(&(_, sz)) if sz != size::DW => (class::LDX, mode::MEMSX, sz),
                _ => return Ok(None),
            }
        } else if let Some(s) = m.strip_prefix("ldx") {
            match SIZES.iter().find(|(n, _)| *n == s) {
                Some(&(_, sz)) => (class::LDX, mode::MEM, sz),
                None => return Ok(None),
            }
        } else if let Some(s) = m.strip_prefix("stx") {
            match SIZES.iter().find(|(n, _)| *n == s) {
                Some(&(_, sz)) => (class::STX, mode::MEM, sz),
                None => return Ok(None),
            }
        } else if let Some(s) = m.strip_prefix("st") {
            match SIZES.iter().find(|(n, _)| *n == s) {
                Some(&(_, sz)) => (class::ST, mode::MEM, sz),
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        let ops = self.operands(rest, 2)?;
        let op = cls | md | sz;
        Ok(Some(match cls {
            class::LDX => {
                let dst = self.reg(ops[0])?;
                let (src, off) = self.mem(ops[1])?;
                Insn::new(op, dst, src, off, 0)
            }
            class::STX => {
                let (dst, off) = self.mem(ops[0])?;
                let src = self.reg(ops[1])?;
                Insn::new(op, dst, src, off, 0)
            }
            _ => {
                let (dst, off) = self.mem(ops[0])?;
                let imm = self.imm32(ops[1])?;
                Insn::new(op, dst, 0, off, imm)
            }
        }))
    }

    fn end_op(&mut self, rest: &str) -> Result<Option<Insn>, AsmError> {
        let m = self.mnemonic;
        let (op, width) = if let Some(w) = m.strip_prefix("be") {
            (class::ALU | alu::END | source::X, w)
        } else if let Some(w) = m.strip_prefix("le") {
            (class::ALU | alu::END | source::K, w)
        } else if let Some(w) = m.strip_prefix("swap") {
            (class::ALU64 | alu::END | source::K, w)
        } else {
            return Ok(None);
        };
        let imm = match width {
            "16" => 16,
            "32" => 32,
            "64" => 64,
            _ => return Ok(None),
        };
        let ops = self.operands(rest, 1)?;
        let dst = self.reg(ops[0])?;
        Ok(Some(Insn::new(op, dst, 0, 0, imm)))
    }

    fn jmp_op(&mut self, rest: &str) -> Result<Option<Insn>, AsmError> {
        let m = self.mnemonic;
        let (name, cls) = match m.strip_suffix("32") {
            Some(n) => (n, class::JMP32),
            None => (m, class::JMP),
        };
        let Some(&(_, code)) = JMP_OPS.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let ops = self.operands(rest, 3)?;
        let dst = self.reg(ops[0])?;
        let mut i = if ops[1].starts_with('%') {
            Insn::new(cls | code | source::X, dst, self.reg(ops[1])?, 0, 0)
        } else {
            Insn::new(cls | code | source::K, dst, 0, 0, self.imm32(ops[1])?)
        };
        self.set_target(ops[2], &mut i, Field::Off)?;
        Ok(Some(i))
    }

    fn alu_op(&mut self, rest: &str) -> Result<Option<Insn>, AsmError> {
        let m = self.mnemonic;
        let (name, cls) = if let Some(n) = m.strip_suffix("32") {
            (n, class::ALU)
        } else if let Some(n) = m.strip_suffix("64") {
            (n, class::ALU64)
        } else {
            (m, class::ALU64)
        };
        let (code, off) = match name {
            "sdiv" => (alu::DIV, 1),
            "smod" => (alu::MOD, 1),
            "movsx8" => (alu::MOV, 8),
            "movsx16" => (alu::MOV, 16),
            "movsx32" if cls == class::ALU64 => (alu::MOV, 32),
            _ => match ALU_OPS.iter().find(|(n, _)| *n == name) {
                Some(&(_, c)) => (c, 0),
                None => return Ok(None),
            },
        };
        if code == alu::NEG {
            let ops = self.operands(rest, 1)?;
            let dst = self.reg(ops[0])?;
            return Ok(Some(Insn::new(cls | code, dst, 0, 0, 0)));
        }
        let ops = self.operands(rest, 2)?;
        let dst = self.reg(ops[0])?;
        if ops[1].starts_with('%') {
            let src = self.reg(ops[1])?;
            Ok(Some(Insn::new(cls | code | source::X, dst, src, off, 0)))
        } else {
            if name.starts_with("movsx") {
                return Err(self.bad(ops[1], "a register (movsx has no immediate form)"));
            }
            let imm = self.imm32(ops[1])?;
            Ok(Some(Insn::new(cls | code | source::K, dst, 0, off, imm)))
        }
    }
}

/// Formats a relative jump offset as `+N` / `-N`.
fn rel(v: i64) -> String {
    if v < 0 {
        format!("{v}")
    } else {
        format!("+{v}")
    }
}

fn memop(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("[%r{reg}{off}]")
    } else {
        format!("[%r{reg}+{off}]")
    }
}

fn raw(i: Insn) -> String {
    format!(
        ".insn {:#04x}, {}, {}, {}, {}",
        i.op, i.dst, i.src, i.off, i.imm
    )
}

/// The canonical spelling of one single-slot instruction, if it has one.
fn canonical(i: Insn) -> Option<String> {
    let d = i.dst;
    let s = i.src;
    match i.class() {
        class::ALU | class::ALU64 => {
            let wide = i.class() == class::ALU64;
            let sfx = if wide { "" } else { "32" };
            let code = i.code();
            if code == alu::END {
                if s != 0 || i.off != 0 || !matches!(i.imm, 16 | 32 | 64) {
                    return None;
                }
                let name = match (wide, i.is_reg_source()) {
                    (false, false) => "le",
                    (false, true) => "be",
                    (true, false) => "swap",
                    (true, true) => return None,
                };
                return Some(format!("{name}{} %r{d}", i.imm));
            }
            if code == alu::NEG {
                if i.is_reg_source() || s != 0 || i.off != 0 || i.imm != 0 {
                    return None;
                }
                return Some(format!("neg{sfx} %r{d}"));
            }
            let base = alu_name(code)?;
            let name = match (code, i.off) {
                (_, 0) => format!("{base}{sfx}"),
                (alu::DIV, 1) => format!("sdiv{sfx}"),
                (alu::MOD, 1) => format!("smod{sfx}"),
                (alu::MOV, 8 | 16) if i.is_reg_source() => {
                    format!("movsx{}{}", i.off, if wide { "64" } else { "32" })
                }
                (alu::MOV, 32) if i.is_reg_source() && wide => "movsx3264".to_string(),
                _ => return None,
            };
            if i.is_reg_source() {
                (i.imm == 0).then(|| format!("{name} %r{d}, %r{s}"))
            } else {
                (s == 0).then(|| format!("{name} %r{d}, {}", i.imm))
            }
        }
        class::JMP | class::JMP32 => {
            let wide = i.class() == class::JMP;
            let code = i.code();
            match code {
                jmp::JA => {
                    if i.is_reg_source() || d != 0 || s != 0 {
                        return None;
                    }
                    if wide {
                        (i.imm == 0).then(|| format!("ja {}", rel(i.off.into())))
                    } else {
                        (i.off == 0).then(|| format!("ja32 {}", rel(i.imm.into())))
                    }
                }
                jmp::CALL => {
                    if !wide || i.off != 0 {
                        return None;
                    }
                    if i.is_reg_source() {
                        return (s == 0 && i.imm == 0).then(|| format!("callx %r{d}"));
                    }
                    if d != 0 {
                        return None;
                    }
                    match s {
                        call_src::HELPER => Some(format!("call {}", i.imm)),
                        call_src::PSEUDO_CALL => Some(format!("call local {}", rel(i.imm.into()))),
                        2 => Some(format!("call runtime {}", i.imm)),
                        _ => None,
                    }
                }
                jmp::EXIT => {
                    (wide && !i.is_reg_source() && d == 0 && s == 0 && i.off == 0 && i.imm == 0)
                        .then(|| "exit".to_string())
                }
                _ => {
                    let base = jmp_name(code)?;
                    let sfx = if wide { "" } else { "32" };
                    let t = rel(i.off.into());
                    if i.is_reg_source() {
                        (i.imm == 0).then(|| format!("{base}{sfx} %r{d}, %r{s}, {t}"))
                    } else {
                        (s == 0).then(|| format!("{base}{sfx} %r{d}, {}, {t}", i.imm))
                    }
                }
            }
        }
        class::LDX => {
            let sz = size_name(i.size_bits());
            if i.imm != 0 {
                return None;
            }
            match i.mode_bits() {
                mode::MEM => Some(format!("ldx{sz} %r{d}, {}", memop(s, i.off))),
                mode::MEMSX if i.size_bits() != size::DW => {
                    Some(format!("ldxs{sz} %r{d}, {}", memop(s, i.off)))
                }
                _ => None,
            }
        }
        class::ST => {
            let sz = size_name(i.size_bits());
            (i.mode_bits() == mode::MEM && s == 0)
                .then(|| format!("st{sz} {}, {}", memop(d, i.off), i.imm))
        }
        class::STX => {
            let sz = size_name(i.size_bits());
            match i.mode_bits() {
                mode::MEM => (i.imm == 0).then(|| format!("stx{sz} {}, %r{s}", memop(d, i.off))),
                mode::ATOMIC if matches!(i.size_bits(), size::W | size::DW) => {
                    let sfx = if i.size_bits() == size::W { "32" } else { "" };
                    let op = match i.imm {
                        atomic::XCHG => "xchg".to_string(),
                        atomic::CMPXCHG => "cmpxchg".to_string(),
                        imm => {
                            let fetch = imm & atomic::FETCH != 0;
                            let name = ATOMIC_OPS
                                .iter()
                                .find(|(_, c)| *c == imm & !atomic::FETCH)?
                                .0;
                            if fetch {
                                format!("fetch {name}")
                            } else {
                                name.to_string()
                            }
                        }
                    };
                    Some(format!("lock {op}{sfx} {}, %r{s}", memop(d, i.off)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Disassembles the instruction at `pc`: its text and how many slots it
/// takes (2 for a well-formed `lddw`, else 1). `None` when `pc` is past the
/// end. Slots without a canonical spelling print as `.insn`.
pub fn disassemble_insn(insns: &[Insn], pc: usize) -> Option<(String, usize)> {
    let i = *insns.get(pc)?;
    if i.is_lddw() {
        if let Some(&next) = insns.get(pc + 1) {
            let tail_ok = next.op == 0 && next.dst == 0 && next.src == 0 && next.off == 0;
            if tail_ok && i.off == 0 {
                if i.src == 0 {
                    let v = (u64::from(next.imm as u32) << 32) | u64::from(i.imm as u32);
                    return Some((format!("lddw %r{}, {v:#x}", i.dst), 2));
                }
                if i.src == PSEUDO_MAP_FD && next.imm == 0 {
                    return Some((format!("lddw %r{}, map:{}", i.dst, i.imm as u32), 2));
                }
            }
        }
        return Some((raw(i), 1));
    }
    Some((canonical(i).unwrap_or_else(|| raw(i)), 1))
}

/// Disassembles a program, one instruction per line; `assemble` of the
/// result gives back exactly `insns`.
pub fn disassemble(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut pc = 0;
    while let Some((text, n)) = disassemble_insn(insns, pc) {
        let _ = writeln!(out, "{text}");
        pc += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(s: &str) -> Insn {
        let p = assemble(s).unwrap();
        assert_eq!(p.len(), 1, "{s}");
        p[0]
    }

    #[test]
    fn encodings_from_the_spec() {
        // (text, op, dst, src, off, imm), opcode values from RFC 9669's tables.
        let cases: &[(&str, u8, u8, u8, i16, i32)] = &[
            ("mov32 %r0, 0", 0xb4, 0, 0, 0, 0),
            ("mov %r1, %r2", 0xbf, 1, 2, 0, 0),
            ("add32 %r1, -3", 0x04, 1, 0, 0, -3),
            ("add %r1, 0x10", 0x07, 1, 0, 0, 16),
            ("sub %r1, %r2", 0x1f, 1, 2, 0, 0),
            ("mul32 %r3, 7", 0x24, 3, 0, 0, 7),
            ("div %r3, %r4", 0x3f, 3, 4, 0, 0),
            ("sdiv %r3, %r4", 0x3f, 3, 4, 1, 0),
            ("sdiv32 %r3, 5", 0x34, 3, 0, 1, 5),
            ("smod %r3, %r4", 0x9f, 3, 4, 1, 0),
            ("smod32 %r3, -5", 0x94, 3, 0, 1, -5),
            ("mod %r3, 5", 0x97, 3, 0, 0, 5),
            ("or %r1, 1", 0x47, 1, 0, 0, 1),
            ("and32 %r1, 0xf", 0x54, 1, 0, 0, 15),
            ("lsh %r1, 2", 0x67, 1, 0, 0, 2),
            ("rsh32 %r1, %r2", 0x7c, 1, 2, 0, 0),
            ("xor %r1, %r1", 0xaf, 1, 1, 0, 0),
            ("arsh %r1, 63", 0xc7, 1, 0, 0, 63),
            ("neg %r1", 0x87, 1, 0, 0, 0),
            ("neg32 %r1", 0x84, 1, 0, 0, 0),
            ("movsx864 %r1, %r2", 0xbf, 1, 2, 8, 0),
            ("movsx832 %r1, %r2", 0xbc, 1, 2, 8, 0),
            ("movsx1664 %r1, %r2", 0xbf, 1, 2, 16, 0),
            ("movsx1632 %r1, %r2", 0xbc, 1, 2, 16, 0),
            ("movsx3264 %r1, %r2", 0xbf, 1, 2, 32, 0),
            ("movsx8 %r1, %r2", 0xbf, 1, 2, 8, 0),
            ("be16 %r0", 0xdc, 0, 0, 0, 16),
            ("le32 %r0", 0xd4, 0, 0, 0, 32),
            ("swap64 %r0", 0xd7, 0, 0, 0, 64),
            ("ldxdw %r0, [%r1+8]", 0x79, 0, 1, 8, 0),
            ("ldxb %r2, [%r10-1]", 0x71, 2, 10, -1, 0),
            ("ldxh %r2, [%r1]", 0x69, 2, 1, 0, 0),
            ("ldxw %r2, [%r1 + 4]", 0x61, 2, 1, 4, 0),
            ("ldxsb %r2, [%r1+1]", 0x91, 2, 1, 1, 0),
            ("ldxsh %r2, [%r1+2]", 0x89, 2, 1, 2, 0),
            ("ldxsw %r2, [%r1+4]", 0x81, 2, 1, 4, 0),
            ("stw [%r10-4], 7", 0x62, 10, 0, -4, 7),
            ("stb [%r10-1], 0xff", 0x72, 10, 0, -1, 255),
            ("sth [%r10-2], 1", 0x6a, 10, 0, -2, 1),
            ("stdw [%r10-8], -1", 0x7a, 10, 0, -8, -1),
            ("stxdw [%r1+0], %r2", 0x7b, 1, 2, 0, 0),
            ("stxb [%r1+3], %r2", 0x73, 1, 2, 3, 0),
            ("stxh [%r1+3], %r2", 0x6b, 1, 2, 3, 0),
            ("stxw [%r1+3], %r2", 0x63, 1, 2, 3, 0),
            ("jeq %r1, 0x2, +3", 0x15, 1, 0, 3, 2),
            ("ja +1", 0x05, 0, 0, 1, 0),
            ("ja32 -2", 0x06, 0, 0, 0, -2),
            ("jsgt32 %r1, %r2, -4", 0x6e, 1, 2, -4, 0),
            ("jne %r1, %r2, +0", 0x5d, 1, 2, 0, 0),
            ("jset %r1, 1, +1", 0x45, 1, 0, 1, 1),
            ("jlt %r1, 1, +1", 0xa5, 1, 0, 1, 1),
            ("jle32 %r1, 1, +1", 0xb6, 1, 0, 1, 1),
            ("jslt %r1, %r3, +1", 0xcd, 1, 3, 1, 0),
            ("jsle %r1, -1, +1", 0xd5, 1, 0, 1, -1),
            ("jge %r1, 1, +1", 0x35, 1, 0, 1, 1),
            ("jgt %r1, 1, +1", 0x25, 1, 0, 1, 1),
            ("jsge %r1, 1, +1", 0x75, 1, 0, 1, 1),
            ("call 1", 0x85, 0, 0, 0, 1),
            ("call helper 6", 0x85, 0, 0, 0, 6),
            ("call local -3", 0x85, 0, 1, 0, -3),
            ("call runtime 4", 0x85, 0, 2, 0, 4),
            ("callx %r2", 0x8d, 2, 0, 0, 0),
            ("call %r2", 0x8d, 2, 0, 0, 0),
            ("exit", 0x95, 0, 0, 0, 0),
            ("lock add [%r1+0], %r2", 0xdb, 1, 2, 0, 0x00),
            ("lock add32 [%r1+4], %r2", 0xc3, 1, 2, 4, 0x00),
            ("lock fetch add [%r1+0], %r2", 0xdb, 1, 2, 0, 0x01),
            ("lock or [%r1+0], %r2", 0xdb, 1, 2, 0, 0x40),
            ("lock fetch and32 [%r1+0], %r2", 0xc3, 1, 2, 0, 0x51),
            ("lock xor [%r1+0], %r2", 0xdb, 1, 2, 0, 0xa0),
            ("lock xchg [%r1+0], %r2", 0xdb, 1, 2, 0, 0xe1),
            ("lock cmpxchg32 [%r1-8], %r2", 0xc3, 1, 2, -8, 0xf1),
            (".insn 0x20, 0, 0, 0, 12", 0x20, 0, 0, 0, 12),
        ];
        for &(text, op, dst, src, off, imm) in cases {
            assert_eq!(one(text), Insn::new(op, dst, src, off, imm), "{text}");
        }
    }

    #[test]
    fn lddw_and_map_reference() {
        let p = assemble("lddw %r0, 0x123456789").unwrap();
        assert_eq!(
            p,
            vec![
                Insn::new(0x18, 0, 0, 0, 0x23456789),
                Insn::new(0, 0, 0, 0, 1)
            ]
        );
        let p = assemble("lddw %r0, -1").unwrap();
        assert_eq!((p[0].imm, p[1].imm), (-1, -1));
        let p = assemble("lddw %r1, map:3").unwrap();
        assert_eq!(
            p,
            vec![
                Insn::new(0x18, 1, PSEUDO_MAP_FD, 0, 3),
                Insn::new(0, 0, 0, 0, 0)
            ]
        );
        assert_eq!(disassemble(&p), "lddw %r1, map:3\n");
    }

    #[test]
    fn labels_comments_and_default_exit_label() {
        let src = "
            # a comment line
            mov %r0, 0          # trailing comment
            jeq %r1, 0, out
            call local f
            ja exit
        out: mov %r0, 1
            exit
        f:
            mov %r0, 2
            exit
        ";
        let p = assemble(src).unwrap();
        assert_eq!(p.len(), 8);
        assert_eq!(p[1].off, 2); // jeq at 1 -> out at 4
        assert_eq!(p[2].imm, 3); // call at 2 -> f at 6
        assert_eq!(p[3].off, 1); // ja at 3 -> first exit at 5
        assert_eq!(p[4], Insn::new(0xb7, 0, 0, 0, 1));
    }

    #[test]
    fn lddw_counts_two_slots_for_labels() {
        let p = assemble("lddw %r1, 5\nja end\nmov %r0, 0\nend: exit").unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[2].off, 1);
    }

    #[test]
    fn errors_carry_line_and_token() {
        assert_eq!(
            assemble("mov %r0, 0\nfoo %r1, 1"),
            Err(AsmError::UnknownMnemonic {
                line: 2,
                token: "foo".into()
            })
        );
        assert!(matches!(
            assemble("mov %r0"),
            Err(AsmError::OperandCount {
                line: 1,
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            assemble("exit\n\nmov %x1, 1"),
            Err(AsmError::BadOperand { line: 3, ref token, .. }) if token == "%x1"
        ));
        assert!(matches!(
            assemble("mov %r16, 1"),
            Err(AsmError::BadOperand { line: 1, .. })
        ));
        assert!(matches!(
            assemble("mov %r1, 0x100000000"),
            Err(AsmError::OutOfRange { line: 1, ref token, .. }) if token == "0x100000000"
        ));
        assert!(matches!(
            assemble("ldxb %r1, [%r2+70000]"),
            Err(AsmError::OutOfRange { line: 1, .. })
        ));
        assert!(matches!(
            assemble("ja nowhere"),
            Err(AsmError::UnknownLabel { line: 1, ref token }) if token == "nowhere"
        ));
        assert!(matches!(
            assemble("a:\na:\nexit"),
            Err(AsmError::DuplicateLabel { line: 2, .. })
        ));
        assert!(matches!(
            assemble("ldxb %r1, %r2"),
            Err(AsmError::BadOperand { line: 1, .. })
        ));
        assert!(matches!(
            assemble("movsx864 %r1, 3"),
            Err(AsmError::BadOperand { line: 1, .. })
        ));
        assert!(matches!(
            assemble("lock fetch xchg [%r1+0], %r2"),
            Err(AsmError::BadOperand { line: 1, .. })
        ));
        assert!(matches!(
            assemble("jeq %r1, 1, 5"),
            Err(AsmError::BadOperand { line: 1, .. })
        ));
        let mut far = String::from("ja end\n");
        for _ in 0..40000 {
            far.push_str("mov %r0, 0\n");
        }
        far.push_str("end: exit\n");
        assert!(matches!(
            assemble(&far),
            Err(AsmError::JumpOutOfRange { line: 1, .. })
        ));
    }

    /// Every canonical instruction of every opcode class.
    fn all_canonical() -> Vec<Insn> {
        let mut v = Vec::new();
        for cls in [class::ALU, class::ALU64] {
            for &(_, code) in &ALU_OPS {
                if code == alu::NEG {
                    v.push(Insn::new(cls | code, 3, 0, 0, 0));
                    continue;
                }
                v.push(Insn::new(cls | code, 3, 0, 0, -7));
                v.push(Insn::new(cls | code | source::X, 3, 4, 0, 0));
            }
            for code in [alu::DIV, alu::MOD] {
                v.push(Insn::new(cls | code, 3, 0, 1, 9));
                v.push(Insn::new(cls | code | source::X, 3, 4, 1, 0));
            }
            for off in [8, 16] {
                v.push(Insn::new(cls | alu::MOV | source::X, 1, 2, off, 0));
            }
            for w in [16, 32, 64] {
                v.push(Insn::new(cls | alu::END, 0, 0, 0, w));
                if cls == class::ALU {
                    v.push(Insn::new(cls | alu::END | source::X, 0, 0, 0, w));
                }
            }
        }
        v.push(Insn::new(class::ALU64 | alu::MOV | source::X, 1, 2, 32, 0));
        for cls in [class::JMP, class::JMP32] {
            for &(_, code) in &JMP_OPS {
                v.push(Insn::new(cls | code, 1, 0, -3, 0x7fff_ffff));
                v.push(Insn::new(cls | code | source::X, 1, 2, 4, 0));
            }
        }
        v.push(Insn::new(class::JMP | jmp::JA, 0, 0, -1, 0));
        v.push(Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, 100_000));
        v.push(Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 6));
        v.push(Insn::new(class::JMP | jmp::CALL, 0, 1, 0, -2));
        v.push(Insn::new(class::JMP | jmp::CALL, 0, 2, 0, 9));
        v.push(Insn::new(class::JMP | jmp::CALL | source::X, 5, 0, 0, 0));
        v.push(Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0));
        for &(_, sz) in &SIZES {
            v.push(Insn::new(class::LDX | mode::MEM | sz, 1, 10, -8, 0));
            v.push(Insn::new(class::ST | mode::MEM | sz, 10, 0, -8, i32::MIN));
            v.push(Insn::new(class::STX | mode::MEM | sz, 10, 1, 32767, 0));
            if sz != size::DW {
                v.push(Insn::new(class::LDX | mode::MEMSX | sz, 1, 2, -32768, 0));
            }
        }
        for sz in [size::W, size::DW] {
            for imm in [
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
            ] {
                v.push(Insn::new(class::STX | mode::ATOMIC | sz, 1, 2, 8, imm));
            }
        }
        v.push(Insn::new(LDDW, 4, 0, 0, -2));
        v.push(Insn::new(0, 0, 0, 0, 0x1234));
        v.push(Insn::new(LDDW, 1, PSEUDO_MAP_FD, 0, 7));
        v.push(Insn::new(0, 0, 0, 0, 0));
        v
    }

    #[test]
    fn every_opcode_round_trips_with_a_mnemonic() {
        let p = all_canonical();
        let text = disassemble(&p);
        assert!(!text.contains(".insn"), "{text}");
        assert_eq!(assemble(&text).unwrap(), p, "{text}");
        // Every line re-assembles on its own too.
        let mut pc = 0;
        while let Some((line, n)) = disassemble_insn(&p, pc) {
            assert_eq!(assemble(&line).unwrap(), &p[pc..pc + n], "{line}");
            pc += n;
        }
    }

    #[test]
    fn non_canonical_slots_print_raw() {
        let odd = [
            Insn::new(0x20, 0, 0, 0, 12), // LD_ABS
            Insn::new(0xb7, 1, 3, 0, 5),  // mov imm with a src field
            Insn::new(0x95, 0, 0, 1, 0),  // exit with an offset
            Insn::new(0xdf, 0, 0, 0, 16), // ALU64 END with X
            Insn::new(LDDW, 1, 0, 0, 1),  // lddw at the very end
        ];
        let text = disassemble(&odd);
        assert_eq!(text.matches(".insn").count(), 5, "{text}");
        assert_eq!(assemble(&text).unwrap(), odd);
    }

    proptest! {
        #[test]
        fn any_slot_sequence_round_trips(slots in proptest::collection::vec(
            (any::<u8>(), 0u8..16, 0u8..16, any::<i16>(), any::<i32>()), 0..24)
        ) {
            let p: Vec<Insn> = slots.into_iter()
                .map(|(op, d, s, o, i)| Insn::new(op, d, s, o, i)).collect();
            let text = disassemble(&p);
            prop_assert_eq!(assemble(&text).unwrap(), p);
        }

        #[test]
        fn assembler_never_panics(s in "\\PC{0,80}") {
            let _ = assemble(&s);
        }
    }
}
