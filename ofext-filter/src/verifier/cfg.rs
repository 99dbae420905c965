//! The structural pass: instruction encodings, functions, jump targets,
//! fall-through and cycles. Everything here is decided from the instruction
//! stream alone, before any abstract interpretation.

use super::{MAX_INSNS, VerifyError};
use crate::isa::{Insn, LDDW, PSEUDO_MAP_FD, alu, atomic, call_src, class, jmp, mode, size};
use crate::maps::MapDef;

/// One function (the entry program or a BPF-to-BPF callee).
#[derive(Debug, Clone)]
pub(super) struct Func {
    pub(super) start: usize,
    pub(super) end: usize,
    /// Instruction starts of the function in a topological order of its
    /// control-flow graph.
    pub(super) order: Vec<usize>,
}

/// The control-flow facts the analysis needs.
#[derive(Debug, Clone)]
pub(super) struct Cfg {
    pub(super) funcs: Vec<Func>,
    /// Function index of every slot.
    pub(super) func_of: Vec<usize>,
}

/// Successors of the instruction at `pc` (targets computed, not checked).
pub(super) fn successors(insns: &[Insn], pc: usize) -> ([Option<i64>; 2], bool) {
    let i = insns[pc];
    let next = pc as i64 + 1;
    match i.class() {
        class::JMP | class::JMP32 => match i.code() {
            jmp::EXIT => ([None, None], false),
            jmp::JA if i.class() == class::JMP => ([Some(next + i64::from(i.off)), None], true),
            jmp::JA => ([Some(next + i64::from(i.imm)), None], true),
            jmp::CALL => ([Some(next), None], false),
            _ => ([Some(next), Some(next + i64::from(i.off))], true),
        },
        _ if i.is_lddw() => ([Some(next + 1), None], false),
        _ => ([Some(next), None], false),
    }
}

/// Checks one instruction's encoding (fields, registers, opcodes).
fn check_insn(pc: usize, insns: &[Insn], maps: &[MapDef]) -> Result<(), VerifyError> {
    let i = insns[pc];
    let bad_op = || VerifyError::InvalidOpcode { pc, op: i.op };
    let reserved = |field: &'static str| VerifyError::ReservedField { pc, field };
    if i.dst > 10 || i.src > 10 {
        // The pseudo-source fields of lddw and call are small too, so one
        // check covers them.
        let reg = if i.dst > 10 { i.dst } else { i.src };
        return Err(VerifyError::InvalidRegister { pc, reg });
    }
    let writes_dst = |v: &Insn| -> Result<(), VerifyError> {
        if v.dst == 10 {
            Err(VerifyError::FrameWrite { pc })
        } else {
            Ok(())
        }
    };
    match i.class() {
        class::LD => {
            if matches!(i.mode_bits(), mode::ABS | mode::IND) {
                return Err(VerifyError::LegacyPacketAccess { pc });
            }
            if i.op != LDDW {
                return Err(bad_op());
            }
            let Some(&next) = insns.get(pc + 1) else {
                return Err(VerifyError::IncompleteLddw { pc });
            };
            if next.op != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(VerifyError::IncompleteLddw { pc });
            }
            if i.off != 0 {
                return Err(reserved("offset"));
            }
            writes_dst(&i)?;
            match i.src {
                0 => {}
                PSEUDO_MAP_FD => {
                    let index = i.imm as u32;
                    if index as usize >= maps.len() || next.imm != 0 {
                        return Err(VerifyError::BadMapIndex { pc, index });
                    }
                }
                _ => return Err(reserved("source")),
            }
        }
        class::LDX => {
            let ok = match i.mode_bits() {
                mode::MEM => true,
                mode::MEMSX => i.size_bits() != size::DW,
                mode::ABS | mode::IND => return Err(VerifyError::LegacyPacketAccess { pc }),
                _ => false,
            };
            if !ok {
                return Err(bad_op());
            }
            if i.imm != 0 {
                return Err(reserved("immediate"));
            }
            writes_dst(&i)?;
        }
        class::ST => {
            if i.mode_bits() != mode::MEM {
                return Err(bad_op());
            }
            if i.src != 0 {
                return Err(reserved("source"));
            }
        }
        class::STX => match i.mode_bits() {
            mode::MEM => {
                if i.imm != 0 {
                    return Err(reserved("immediate"));
                }
            }
            mode::ATOMIC => {
                if !matches!(i.size_bits(), size::W | size::DW) {
                    return Err(bad_op());
                }
                let base = i.imm & !atomic::FETCH;
                let ok = matches!(base, atomic::ADD | atomic::OR | atomic::AND | atomic::XOR)
                    || i.imm == atomic::XCHG
                    || i.imm == atomic::CMPXCHG;
                if !ok {
                    return Err(VerifyError::InvalidAtomic { pc, imm: i.imm });
                }
                if i.imm & atomic::FETCH != 0 && i.src == 10 {
                    return Err(VerifyError::FrameWrite { pc });
                }
            }
            _ => return Err(bad_op()),
        },
        class::ALU | class::ALU64 => {
            let wide = i.class() == class::ALU64;
            let code = i.code();
            writes_dst(&i)?;
            match code {
                alu::NEG => {
                    if i.is_reg_source() {
                        return Err(bad_op());
                    }
                    if i.src != 0 || i.imm != 0 || i.off != 0 {
                        return Err(reserved("source/offset/immediate"));
                    }
                }
                alu::END => {
                    if wide && i.is_reg_source() {
                        return Err(bad_op());
                    }
                    if !matches!(i.imm, 16 | 32 | 64) {
                        return Err(reserved("immediate (byte-swap width)"));
                    }
                    if i.src != 0 || i.off != 0 {
                        return Err(reserved("source/offset"));
                    }
                }
                0xe0 | 0xf0 => return Err(bad_op()),
                _ => {
                    if i.is_reg_source() && i.imm != 0 {
                        return Err(reserved("immediate"));
                    }
                    if !i.is_reg_source() && i.src != 0 {
                        return Err(reserved("source"));
                    }
                    let off_ok = match (code, i.off) {
                        (_, 0) => true,
                        (alu::DIV | alu::MOD, 1) => true,
                        (alu::MOV, 8 | 16) => i.is_reg_source(),
                        (alu::MOV, 32) => i.is_reg_source() && wide,
                        _ => false,
                    };
                    if !off_ok {
                        return Err(reserved("offset"));
                    }
                }
            }
        }
        class::JMP | class::JMP32 => {
            let wide = i.class() == class::JMP;
            match i.code() {
                jmp::JA => {
                    if i.is_reg_source() || i.dst != 0 || i.src != 0 {
                        return Err(reserved("registers"));
                    }
                    if (wide && i.imm != 0) || (!wide && i.off != 0) {
                        return Err(reserved("offset/immediate"));
                    }
                }
                jmp::CALL => {
                    if !wide {
                        return Err(bad_op());
                    }
                    if i.is_reg_source() {
                        // callx: indirect calls are never accepted.
                        return Err(bad_op());
                    }
                    if i.dst != 0 || i.off != 0 {
                        return Err(reserved("destination/offset"));
                    }
                    if !matches!(i.src, call_src::HELPER | call_src::PSEUDO_CALL) {
                        return Err(reserved("source"));
                    }
                }
                jmp::EXIT => {
                    if !wide || i.is_reg_source() {
                        return Err(bad_op());
                    }
                    if i.dst != 0 || i.src != 0 || i.off != 0 || i.imm != 0 {
                        return Err(reserved("all fields"));
                    }
                }
                0xe0 | 0xf0 => return Err(bad_op()),
                _ => {
                    if i.is_reg_source() && i.imm != 0 {
                        return Err(reserved("immediate"));
                    }
                    if !i.is_reg_source() && i.src != 0 {
                        return Err(reserved("source"));
                    }
                }
            }
        }
        _ => return Err(bad_op()),
    }
    Ok(())
}

/// Builds the control-flow graph, checking every structural rule.
pub(super) fn build(insns: &[Insn], maps: &[MapDef]) -> Result<Cfg, VerifyError> {
    let n = insns.len();
    if n == 0 {
        return Err(VerifyError::Empty);
    }
    if n > MAX_INSNS {
        return Err(VerifyError::TooLarge { len: n });
    }
    // Pass 1: encodings, lddw second slots, function starts.
    let mut second = vec![false; n];
    let mut calls = Vec::new();
    let mut pc = 0;
    while pc < n {
        check_insn(pc, insns, maps)?;
        let i = insns[pc];
        if i.is_lddw() {
            second[pc + 1] = true;
            pc += 2;
            continue;
        }
        if i.class() == class::JMP && i.code() == jmp::CALL && i.src == call_src::PSEUDO_CALL {
            calls.push((pc, pc as i64 + 1 + i64::from(i.imm)));
        }
        pc += 1;
    }
    let mut starts = vec![0usize];
    for (pc, t) in calls {
        if t < 0 || t >= n as i64 || second[t as usize] {
            return Err(VerifyError::BadCallTarget { pc, target: t });
        }
        starts.push(t as usize);
    }
    starts.sort_unstable();
    starts.dedup();
    let mut func_of = vec![0usize; n];
    let mut funcs = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(n);
        func_of[s..e].fill(k);
        funcs.push(Func {
            start: s,
            end: e,
            order: Vec::new(),
        });
    }
    // Pass 2: edges stay inside their function, land on instruction starts.
    for f in &funcs {
        for pc in f.start..f.end {
            if second[pc] {
                continue;
            }
            let (succ, is_jump) = successors(insns, pc);
            for (k, t) in succ.into_iter().enumerate() {
                let Some(t) = t else { continue };
                let explicit = is_jump && (k == 1 || insns[pc].code() == jmp::JA);
                let inside = t >= f.start as i64 && t < f.end as i64;
                if !inside {
                    return Err(if explicit {
                        VerifyError::BadJumpTarget { pc, target: t }
                    } else {
                        VerifyError::FallThrough { pc }
                    });
                }
                if second[t as usize] {
                    return Err(VerifyError::BadJumpTarget { pc, target: t });
                }
            }
        }
    }
    // Pass 3: cycles and a topological order (iterative DFS, reverse
    // post-order), per function.
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; n];
    for f in &mut funcs {
        let mut post = Vec::new();
        for root in f.start..f.end {
            if second[root] || color[root] != WHITE {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            color[root] = GREY;
            while let Some(&mut (pc, ref mut k)) = stack.last_mut() {
                let (succ, _) = successors(insns, pc);
                if *k < 2 {
                    let idx = *k;
                    *k += 1;
                    if let Some(t) = succ[idx] {
                        let t = t as usize;
                        match color[t] {
                            WHITE => {
                                color[t] = GREY;
                                stack.push((t, 0));
                            }
                            GREY => {
                                return Err(VerifyError::BackEdge { pc, target: t });
                            }
                            _ => {}
                        }
                    }
                } else {
                    color[pc] = BLACK;
                    post.push(pc);
                    stack.pop();
                }
            }
        }
        // Reverse post-order of a DFS forest of a DAG is a topological order.
        post.reverse();
        f.order = post;
    }
    Ok(Cfg { funcs, func_of })
}
