//! Unit tests of the JIT: instruction semantics against the interpreter
//! (every ALU operation, width and operand kind on values chosen to break
//! things, both shift encodings), run errors, helper calls at every call
//! depth, the W^X mapping and the shape of the generated code.

use std::sync::Arc;

use super::*;
use crate::asm::assemble;
use crate::helpers::TimeSource;
use crate::interp::{Interpreter, RunEnv, RunError};
use crate::isa;
use crate::maps::{MapDef, MapType};

const SPECIAL: [u64; 14] = [
    0,
    1,
    2,
    3,
    7,
    31,
    32,
    63,
    64,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0001,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn interp_r0(insns: &[Insn], mem: &mut [u8]) -> Result<u64, RunError> {
    Interpreter::new(insns, vec![])
        .unwrap()
        .run(mem, &mut RunEnv::new(0))
}

/// Runs `insns` in the interpreter, the checked JIT and (when the verifier
/// accepts it) the verified JIT, with and without BMI2; all must agree.
fn agree(insns: &[Insn]) -> Result<u64, RunError> {
    let want = interp_r0(insns, &mut [0u8; 16]);
    let verified = verifier::verify(insns, &[]).is_ok();
    for bmi2 in [false, true] {
        for checked in [true, false] {
            if !checked && !verified {
                continue;
            }
            let jit = JitProgram::with_bmi2(insns, vec![], checked, bmi2).unwrap();
            let got = jit.run(&mut [0u8; 16], &mut RunEnv::new(0));
            assert_eq!(
                got,
                want,
                "checked {checked} bmi2 {bmi2}\n{}",
                crate::asm::disassemble(insns)
            );
        }
    }
    want
}

fn lddw(dst: u8, v: u64) -> [Insn; 2] {
    [
        Insn::new(isa::LDDW, dst, 0, 0, v as u32 as i32),
        Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
    ]
}

const EXIT: Insn = Insn::new(0x95, 0, 0, 0, 0);

#[test]
fn every_alu_operation_on_special_values() {
    use crate::isa::{alu, class, source};
    let ops = [
        alu::ADD,
        alu::SUB,
        alu::MUL,
        alu::DIV,
        alu::OR,
        alu::AND,
        alu::LSH,
        alu::RSH,
        alu::MOD,
        alu::XOR,
        alu::MOV,
        alu::ARSH,
    ];
    // Destination and source registers chosen to hit the x86 registers with
    // fixed roles: rax (r0), rdx (r3), rcx (r4).
    let pairs: [(u8, u8); 7] = [(0, 2), (3, 0), (4, 2), (2, 4), (4, 4), (3, 3), (8, 3)];
    let mut n = 0;
    for op in ops {
        for cls in [class::ALU, class::ALU64] {
            for signed in [0i16, 1] {
                if signed == 1 && op != alu::DIV && op != alu::MOD {
                    continue;
                }
                for &a in &SPECIAL {
                    for &b in &SPECIAL {
                        for &(d, s) in &pairs {
                            if a.wrapping_mul(7).wrapping_add(b) % 3 != 0 && (d, s) != (0, 2) {
                                continue;
                            }
                            // x form, and k form with b's low 32 bits.
                            let mut x: Vec<Insn> = Vec::new();
                            x.extend(lddw(d, a));
                            if s != d {
                                x.extend(lddw(s, b));
                            }
                            // Registers the program reads are defined.
                            for r in [0u8, 2, 3, 4, 8] {
                                if r != d && r != s {
                                    x.extend(lddw(r, 0x5555_aaaa_1234_5678));
                                }
                            }
                            let mut k = x.clone();
                            x.push(Insn::new(cls | op | source::X, d, s, signed, 0));
                            k.push(Insn::new(cls | op, d, 0, signed, b as u32 as i32));
                            for p in [&mut x, &mut k] {
                                // Fold every register into r0.
                                for r in [2u8, 3, 4, 8] {
                                    p.push(Insn::new(
                                        class::ALU64 | alu::XOR | source::X,
                                        0,
                                        r,
                                        0,
                                        0,
                                    ));
                                    p.push(Insn::new(class::ALU64 | alu::LSH, 0, 0, 0, 9));
                                }
                                if d != 0 {
                                    p.push(Insn::new(
                                        class::ALU64 | alu::XOR | source::X,
                                        0,
                                        d,
                                        0,
                                        0,
                                    ));
                                }
                                p.push(EXIT);
                                agree(p).unwrap();
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(n > 5_000, "{n} cases");
}

#[test]
fn rfc9669_corner_cases_have_the_interpreters_values() {
    let cases: &[(&str, u64)] = &[
        ("mov %r0, 9\ndiv %r0, 0", 0),
        ("mov %r0, -9\nmov %r1, 0\nmod %r0, %r1", (-9i64) as u64),
        ("mov %r0, -9\nmod32 %r0, 0", (-9i32) as u32 as u64),
        (
            "mov %r0, -9\nmov %r1, 0\nsmod32 %r0, %r1",
            (-9i32) as u32 as u64,
        ),
        ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1", 1 << 63),
        (
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1",
            1 << 63,
        ),
        (
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1",
            0,
        ),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x8000_0000),
        ("mov %r0, 9\nlddw %r1, 0x100000000\ndiv32 %r0, %r1", 0),
        ("mov %r0, 3\nlsh %r0, 65", 6),
        ("mov %r0, 3\nmov %r1, 129\nlsh %r0, %r1", 6),
        (
            "lddw %r0, 0xffffffff00000003\nmov %r1, 32\nlsh32 %r0, %r1",
            3,
        ),
        (
            "lddw %r0, 0xffffffff00000003\nmov %r4, 0\nrsh32 %r0, %r4",
            3,
        ),
        (
            "lddw %r4, 0xffffffff00000003\nmov %r1, 64\narsh32 %r4, %r1\nmov %r0, %r4",
            3,
        ),
        ("lddw %r0, 0xffffffff00000003\nlsh32 %r0, 32", 3),
        ("lddw %r0, 0x0123456789abcdef\nbe16 %r0", 0xefcd),
        ("lddw %r0, 0x0123456789abcdef\nle32 %r0", 0x89ab_cdef),
        (
            "lddw %r0, 0x0123456789abcdef\nswap64 %r0",
            0xefcd_ab89_6745_2301,
        ),
        ("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 0", 0xffff_ffff),
    ];
    for (src, want) in cases {
        let insns = assemble(&format!("{src}\nexit")).unwrap();
        assert_eq!(agree(&insns), Ok(*want), "{src}");
    }
}

/// The peepholes (`lea` for address arithmetic, the zero flag of an ALU
/// result, a 16-bit load's zero upper bits) only where no jump lands in
/// between: each case reaches the second instruction both ways.
#[test]
fn peepholes_hold_only_on_straight_paths() {
    let cases: &[(&str, u64)] = &[
        // jeq reached from `jne` (flags of r1) and after `and` (flags of
        // r0): it must test r0 itself when jumped to.
        (
            "mov %r0, 0\nmov %r1, 1\njne %r1, 0, +1\nand %r0, 1\njeq %r0, 0, +1\nmov %r0, 7",
            0,
        ),
        (
            "mov %r0, 4\nmov %r1, 0\njeq %r1, 0, +1\nsub %r0, 4\njne %r0, 0, +1\nmov %r0, 7",
            4,
        ),
        // Straight: the flags of each ALU operation, 64-bit.
        (
            "lddw %r0, 0x100000000\nand %r0, -1\njeq %r0, 0, +1\nmov %r0, 7",
            7,
        ),
        (
            "lddw %r0, 0x100000000\nsub %r0, 1\njne %r0, 0, +1\nmov %r0, 7",
            0xffff_ffff,
        ),
        ("mov %r0, 3\nxor %r0, 3\njeq %r0, 0, +1\nmov %r0, 7", 0),
        (
            "mov %r0, 3\nmov %r1, -3\nadd %r0, %r1\njne %r0, 0, +1\nmov %r0, 7",
            7,
        ),
        // A 32-bit operation before a 64-bit test: no reuse needed.
        (
            "lddw %r0, 0x100000000\nor32 %r0, 0\njeq %r0, 0, +1\nmov %r0, 7",
            0,
        ),
        // be16 / le16 reached with r0's upper bits set, and right after the
        // zero-extending load.
        (
            "stdw [%r10-8], -2\nmov %r0, -1\nmov %r1, 1\njne %r1, 0, +1\nldxh %r0, [%r10-8]\nbe16 %r0",
            0xffff,
        ),
        (
            "stdw [%r10-8], -2\nmov %r0, -1\nmov %r1, 1\njne %r1, 0, +1\nldxh %r0, [%r10-8]\nle16 %r0",
            0xffff,
        ),
        (
            "stdw [%r10-8], 0x1234\nldxh %r0, [%r10-8]\nbe16 %r0",
            0x3412,
        ),
        (
            "stdw [%r10-8], 0x1234\nldxh %r0, [%r10-8]\nle16 %r0",
            0x1234,
        ),
        ("stdw [%r10-8], -2\nldxsh %r0, [%r10-8]\nbe16 %r0", 0xfeff),
        // Address arithmetic: the add reached by a jump adds to what r1
        // holds then, not to r10.
        (
            "mov %r1, 16\nmov %r2, 1\njne %r2, 0, +1\nmov %r1, %r10\nadd %r1, -8\nmov %r0, %r1",
            8,
        ),
        (
            "stdw [%r10-8], 5\nmov %r2, 3\nmov %r1, %r10\nadd %r1, -11\nadd %r1, %r2\nldxdw %r0, [%r1+0]",
            5,
        ),
        // The index is the destination: not fused.
        (
            "mov %r1, 2\nmov %r1, %r1\nadd %r1, 3\nadd %r1, %r1\nmov %r0, %r1",
            10,
        ),
    ];
    for (src, want) in cases {
        let insns = assemble(&format!("{src}\nexit")).unwrap();
        assert_eq!(agree(&insns), Ok(*want), "{src}");
    }
}

#[test]
fn every_jump_condition() {
    use crate::isa::{class, jmp, source};
    let conds = [
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
    for c in conds {
        for cls in [class::JMP, class::JMP32] {
            for &a in &SPECIAL {
                for &b in &SPECIAL[..8] {
                    for x in [false, true] {
                        let mut p = Vec::new();
                        p.extend(lddw(1, a));
                        p.extend(lddw(2, b | 0xabcd_0000_0000_0000));
                        p.push(Insn::new(0xb7, 0, 0, 0, 0));
                        p.push(if x {
                            Insn::new(cls | c | source::X, 1, 2, 1, 0)
                        } else {
                            Insn::new(cls | c, 1, 0, 1, b as i32)
                        });
                        p.push(EXIT);
                        p.push(Insn::new(0xb7, 0, 0, 0, 1));
                        p.push(EXIT);
                        agree(&p).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn loads_stores_and_atomics_on_the_stack() {
    let srcs = [
        "stdw [%r10-8], -3\nldxdw %r0, [%r10-8]",
        "stw [%r10-5], 0x12345678\nldxh %r0, [%r10-4]",
        "mov %r1, -2\nstxb [%r10-1], %r1\nldxsb %r0, [%r10-1]",
        "mov %r1, 0x8000\nstxh [%r10-2], %r1\nldxsh %r0, [%r10-2]",
        "lddw %r1, 0x80000000\nstxw [%r10-4], %r1\nldxsw %r0, [%r10-4]",
        "stdw [%r10-8], 40\nmov %r1, 2\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]",
        "stdw [%r10-8], 40\nmov %r1, 2\nlock fetch add [%r10-8], %r1\nmov %r0, %r1",
        "stdw [%r10-8], -1\nmov %r1, 2\nlock fetch add32 [%r10-8], %r1\nmov %r0, %r1",
        "stdw [%r10-8], 12\nmov %r1, 10\nlock fetch or [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        "stdw [%r10-8], 12\nmov %r0, 10\nlock fetch and [%r10-8], %r0\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        "stdw [%r10-8], -1\nmov %r3, 10\nlock fetch xor32 [%r10-8], %r3\nldxdw %r0, [%r10-8]\nxor %r0, %r3",
        "stdw [%r10-8], 5\nmov %r1, 9\nlock xchg [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        "stdw [%r10-8], 5\nmov %r1, 9\nlock xchg32 [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        "stdw [%r10-8], 5\nmov %r0, 5\nmov %r1, 9\nlock cmpxchg [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        "stdw [%r10-8], 5\nmov %r0, 6\nmov %r1, 9\nlock cmpxchg [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1",
        // 32-bit cmpxchg that succeeds: r0's upper half must be cleared.
        "stdw [%r10-8], 5\nlddw %r0, 0x700000005\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1",
        "stdw [%r10-8], 5\nlddw %r0, 0x700000006\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1",
        // The address register is r0 itself.
        "mov %r0, %r10\nadd %r0, -8\nstdw [%r0+0], 3\nmov %r1, 4\nlock fetch add [%r0+0], %r1\nmov %r0, %r1",
    ];
    for src in srcs {
        let insns = assemble(&format!("{src}\nexit")).unwrap();
        agree(&insns).unwrap();
    }
}

#[test]
fn run_errors_match_the_interpreter() {
    let cases: &[(&str, &[u8])] = &[
        ("ldxw %r0, [%r1+2]\nexit", &[1, 2, 3, 4, 5]),
        ("stb [%r10+0], 1\nexit", &[]),
        ("ldxdw %r0, [%r10-520]\nexit", &[]),
        ("mov %r1, 0\nstxdw [%r1+8], %r1\nexit", &[]),
        ("mov %r1, 1\nlock add [%r10-7], %r1\nexit", &[]),
        ("mov %r0, 0\nja -1", &[]),
        ("mov %r0, 0\nadd %r0, 1\njne %r0, 0, -2\nexit", &[]),
        ("call local f\nexit\nf:\ncall local f\nexit", &[]),
        ("mov %r0, 1", &[]),
        ("mov %r1, %r10\nmov %r2, 600\ncall 6\nexit", &[]),
        (
            "lddw %r1, 0x1234\nmov %r2, %r10\nadd %r2, -4\ncall 1\nexit",
            &[],
        ),
    ];
    for (src, mem) in cases {
        let insns = assemble(src).unwrap();
        let want = interp_r0(&insns, &mut mem.to_vec()).unwrap_err();
        let jit = JitProgram::new_checked(&insns, vec![]).unwrap();
        let got = jit.run(&mut mem.to_vec(), &mut RunEnv::new(0)).unwrap_err();
        assert!(
            difftest::same_error(&want, &got),
            "{src}: {want:?} vs {got:?}"
        );
    }
    // A read-only run refuses packet stores.
    let insns = assemble("stb [%r1+0], 1\nmov %r0, 0\nexit").unwrap();
    let jit = JitProgram::new_checked(&insns, vec![]).unwrap();
    assert!(matches!(
        jit.run_readonly(&[0; 4], &mut RunEnv::new(0)),
        Err(RunError::ReadOnlyPacket { pc: 0, len: 1, .. })
    ));
    let mut mem = [0u8; 4];
    assert_eq!(jit.run(&mut mem, &mut RunEnv::new(0)), Ok(0));
    assert_eq!(mem, [1, 0, 0, 0]);
}

#[test]
fn budget_counts_like_the_interpreter() {
    // A loop of 3 slots run k times: the error (or not) and its pc agree
    // for every budget around the edge.
    let insns = assemble("mov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nexit").unwrap();
    for budget in 140..160 {
        let i = Interpreter::new(&insns, vec![])
            .unwrap()
            .with_budget(budget);
        let j = JitProgram::new_checked(&insns, vec![])
            .unwrap()
            .with_budget(budget);
        assert_eq!(
            j.run(&mut [], &mut RunEnv::new(0)),
            i.run(&mut [], &mut RunEnv::new(0)),
            "budget {budget}"
        );
    }
    // Calls and returns count too.
    let insns =
        assemble("mov %r0, 0\ncall local f\ncall local f\nexit\nf:\nadd %r0, 1\nexit").unwrap();
    for budget in 1..12 {
        let i = Interpreter::new(&insns, vec![])
            .unwrap()
            .with_budget(budget);
        let j = JitProgram::new_checked(&insns, vec![])
            .unwrap()
            .with_budget(budget);
        assert_eq!(
            j.run(&mut [], &mut RunEnv::new(0)),
            i.run(&mut [], &mut RunEnv::new(0)),
            "budget {budget}"
        );
    }
}

fn hash_map(n: u32) -> Arc<Map> {
    Arc::new(
        Map::new(
            MapDef {
                name: "m".into(),
                map_type: MapType::Hash,
                key_size: 4,
                value_size: 8,
                max_entries: n,
                flags: 0,
            },
            1,
        )
        .unwrap(),
    )
}

#[test]
fn helpers_at_every_call_depth() {
    // Each of 8 nested frames updates and looks up the map and hashes its
    // stack: stack alignment and callee-saved registers must hold at every
    // depth. r6 carries a value across all calls.
    let mut src = String::from("mov %r6, 77\nmov %r1, 0\ncall local f1\nadd %r0, %r6\nexit\n");
    for k in 1..8 {
        let next = if k < 7 {
            format!("mov %r1, %r6\ncall local f{}\nadd %r7, %r0\n", k + 1)
        } else {
            String::new()
        };
        src.push_str(&format!(
            "f{k}:\nmov %r6, %r1\nadd %r6, 1\nstdw [%r10-8], 0\nstw [%r10-4], {k}\nstdw [%r10-16], {v}\n\
             lddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\n\
             lddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r7, 0\njeq %r0, 0, +1\n\
             ldxdw %r7, [%r0+0]\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 6\nadd %r7, %r0\n\
             {next}mov %r0, %r7\nadd %r0, %r6\nexit\n",
            v = k * 1000
        ));
    }
    let insns = assemble(&src).unwrap();
    let map_i = hash_map(16);
    let map_j = hash_map(16);
    let info = verifier::verify(&insns, &[map_i.def().clone()]).unwrap();
    assert_eq!(info.max_call_depth, 8);
    let want = Interpreter::new(&insns, vec![map_i.clone()])
        .unwrap()
        .run_readonly(&[], &mut RunEnv::new(0))
        .unwrap();
    let jit = JitProgram::new(&insns, vec![map_j.clone()]).unwrap();
    assert_eq!(jit.run_readonly(&[], &mut RunEnv::new(0)), Ok(want));
    assert_eq!(map_i.dump().len(), 7);
    let (mut a, mut b) = (map_i.dump(), map_j.dump());
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn too_many_values_fails_like_the_interpreter() {
    let array = Arc::new(
        Map::new(
            MapDef {
                name: "a".into(),
                map_type: MapType::Array,
                key_size: 4,
                value_size: 8,
                max_entries: 400,
                flags: 0,
            },
            1,
        )
        .unwrap(),
    );
    let mut src = String::new();
    for k in 0..300 {
        src.push_str(&format!(
            "stw [%r10-4], {k}\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\n"
        ));
    }
    src.push_str("mov %r0, 0\nexit");
    let insns = assemble(&src).unwrap();
    let want = Interpreter::new(&insns, vec![array.clone()])
        .unwrap()
        .run_readonly(&[], &mut RunEnv::new(0))
        .unwrap_err();
    let jit = JitProgram::new(&insns, vec![array]).unwrap();
    let got = jit.run_readonly(&[], &mut RunEnv::new(0)).unwrap_err();
    assert_eq!(got, want);
    assert!(matches!(got, RunError::Helper { .. }));
}

fn array_map(value_size: u32, n: u32) -> Arc<Map> {
    Arc::new(
        Map::new(
            MapDef {
                name: "a".into(),
                map_type: MapType::Array,
                key_size: 4,
                value_size,
                max_entries: n,
                flags: 0,
            },
            1,
        )
        .unwrap(),
    )
}

/// Calls in the generated code (trampolines, and BPF-to-BPF calls).
fn calls_in(code: &[u8]) -> usize {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    Decoder::with_ip(64, code, 0, DecoderOptions::NONE)
        .into_iter()
        .filter(|i| i.mnemonic() == Mnemonic::Call)
        .count()
}

#[test]
fn array_lookups_are_inline_and_agree() {
    // The packet's first byte picks the index (0..=255; the array has 5
    // elements of 12 bytes, so most indexes miss); a hit adds to the
    // value's second word, a miss returns 7.
    let src = "mov %r6, %r1
mov %r0, 0
jlt %r2, 1, +13
ldxb %r3, [%r6+0]
stxw [%r10-4], %r3
               lddw %r1, map:0
mov %r2, %r10
add %r2, -4
call 1
jne %r0, 0, +2
mov %r0, 7
exit
               mov %r1, 5
lock add32 [%r0+8], %r1
ldxw %r0, [%r0+8]
exit";
    let insns = assemble(src).unwrap();
    let (mi, mj) = (array_map(12, 5), array_map(12, 5));
    let i = Interpreter::new(&insns, vec![mi.clone()]).unwrap();
    let j = JitProgram::new(&insns, vec![mj.clone()]).unwrap();
    // The lookup is computed inline: no call at all.
    assert_eq!(calls_in(j.code()), 0, "{}", crate::asm::disassemble(&insns));
    check_code_shape(j.code());
    let (mut ei, mut ej) = (RunEnv::new(0), RunEnv::new(0));
    for idx in [0u8, 4, 5, 6, 255, 3, 0, 4] {
        let pkt = [idx];
        assert_eq!(
            j.run_readonly(&pkt, &mut ej),
            i.run_readonly(&pkt, &mut ei),
            "index {idx}"
        );
        assert_eq!(i.run_readonly(&[], &mut ei), j.run_readonly(&[], &mut ej));
    }
    assert_eq!(mi.dump(), mj.dump());
    assert_eq!(
        mj.lookup_copy(&0u32.to_le_bytes()).unwrap().unwrap()[8..12],
        10u32.to_le_bytes()
    );
}

#[test]
fn a_key_in_a_map_value_takes_the_checked_path() {
    // The value found in the array is the key of the hash lookup: the
    // verifier cannot call that plain memory, so every helper of the
    // program goes through the general trampolines (which read the key
    // atomically), and both engines agree.
    let src = "stw [%r10-4], 1
lddw %r1, map:0
mov %r2, %r10
add %r2, -4
call 1
               jeq %r0, 0, +8
mov %r2, %r0
lddw %r1, map:1
call 1
jeq %r0, 0, +2
               ldxdw %r0, [%r0+0]
exit
mov %r0, 2
exit
mov %r0, 3
exit";
    let insns = assemble(src).unwrap();
    let defs = [array_map(8, 4).def().clone(), hash_map(4).def().clone()];
    let info = verifier::verify(&insns, &defs).unwrap();
    assert_eq!(info.max_lookups, 2);
    assert_eq!(info.helper_sites.len(), 2);
    assert!(info.helper_sites[0].plain_args);
    assert!(!info.helper_sites[1].plain_args);
    for key in [9u32, 1] {
        let maps = || {
            let (a, h) = (array_map(8, 4), hash_map(4));
            a.update_from_controller(&1u32.to_le_bytes(), &u64::from(key).to_le_bytes(), 0)
                .unwrap();
            h.update_from_controller(&1u32.to_le_bytes(), &42u64.to_le_bytes(), 0)
                .unwrap();
            vec![a, h]
        };
        let i = Interpreter::new(&insns, maps()).unwrap();
        let j = JitProgram::new(&insns, maps()).unwrap();
        // Two general trampoline calls: nothing is inline or direct.
        assert_eq!(calls_in(j.code()), 2);
        let want = i.run_readonly(&[], &mut RunEnv::new(0));
        assert_eq!(want, Ok(if key == 1 { 42 } else { 2 }));
        assert_eq!(j.run_readonly(&[], &mut RunEnv::new(0)), want);
    }
}

#[test]
fn both_clocks_answer_ktime_get_ns() {
    // A direct `ktime_get_ns` site has two branches: the batch clock read
    // from the context, and the general trampoline for the monotonic clock.
    // Both answer, and `set_time` reaches the context the environment keeps
    // between runs (a stale batch time, below 10^9, would fail the second
    // part).
    let insns = assemble("call 5\nexit").unwrap();
    let j = JitProgram::new(&insns, vec![]).unwrap();
    let mut env = RunEnv::new(0);
    env.set_time(TimeSource::Batch(987_654_321));
    assert_eq!(j.run_readonly(&[], &mut env), Ok(987_654_321));
    env.set_time(TimeSource::Monotonic);
    let a = j.run_readonly(&[], &mut env).unwrap();
    let b = j.run_readonly(&[], &mut env).unwrap();
    assert!(a >= 1_000_000_000 && b >= a, "{a} {b}");
}

#[test]
fn zero_flags_and_prandom_and_time() {
    // The three-argument update (r4 clobbered by a call, never written).
    let src = "call 5\nstw [%r10-4], 1\nstdw [%r10-16], 9\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\n\
               mov %r3, %r10\nadd %r3, -16\ncall 2\nmov %r6, %r0\ncall 7\nmov %r7, %r0\ncall 7\n\
               lsh %r0, 32\nor %r0, %r7\nxor %r0, %r6\nmov %r8, %r0\ncall 5\nadd %r0, %r8\nexit";
    let insns = assemble(src).unwrap();
    let (mi, mj) = (hash_map(4), hash_map(4));
    let info = verifier::verify(&insns, &[mi.def().clone()]).unwrap();
    assert_eq!(info.zero_flags_at.len(), 1);
    let i = Interpreter::new(&insns, vec![mi.clone()])
        .unwrap()
        .with_zero_flags_at(&info.zero_flags_at)
        .unwrap();
    let j = JitProgram::new(&insns, vec![mj.clone()]).unwrap();
    let (mut ei, mut ej) = (RunEnv::new(3), RunEnv::new(3));
    for env in [&mut ei, &mut ej] {
        env.seed_prng(99);
        env.set_time(TimeSource::Batch(123_456));
    }
    for _ in 0..3 {
        assert_eq!(j.run_readonly(&[], &mut ej), i.run_readonly(&[], &mut ei));
    }
    assert_eq!(
        mj.lookup_copy(&1u32.to_ne_bytes()).unwrap(),
        Some(9u64.to_ne_bytes().to_vec())
    );
}

#[test]
fn code_is_mapped_read_execute_only() {
    let insns = assemble("mov %r0, 1\nexit").unwrap();
    let jit = JitProgram::new(&insns, vec![]).unwrap();
    let addr = jit.code().as_ptr().addr();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps
        .lines()
        .find(|l| {
            let range = l.split_whitespace().next().unwrap_or("");
            let (lo, hi) = range.split_once('-').unwrap_or(("0", "0"));
            let lo = usize::from_str_radix(lo, 16).unwrap_or(0);
            let hi = usize::from_str_radix(hi, 16).unwrap_or(0);
            (lo..hi).contains(&addr)
        })
        .expect("the code is mapped");
    let perms = line.split_whitespace().nth(1).unwrap();
    assert!(perms.starts_with("r-x"), "{line}");
}

/// Decodes the generated code: every direct branch and call lands on an
/// instruction boundary inside it, and the only indirect transfers are
/// `call rax` (trampolines) and `ret`.
fn check_code_shape(code: &[u8]) {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};
    let mut starts = std::collections::BTreeSet::new();
    let mut targets = Vec::new();
    let mut dec = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    while dec.can_decode() {
        let i = dec.decode();
        assert!(!i.is_invalid(), "invalid instruction at {:#x}", i.ip());
        starts.insert(i.ip());
        let direct = matches!(
            i.op0_kind(),
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
        );
        if direct {
            assert_eq!(i.op0_kind(), OpKind::NearBranch64, "at {:#x}", i.ip());
            targets.push(i.near_branch_target());
        } else if i.mnemonic() == Mnemonic::Call {
            assert_eq!(i.op0_register(), Register::RAX, "at {:#x}", i.ip());
        } else {
            assert!(
                !matches!(
                    i.mnemonic(),
                    Mnemonic::Jmp
                        | Mnemonic::Jmpe
                        | Mnemonic::Int3
                        | Mnemonic::Int
                        | Mnemonic::Syscall
                ),
                "unexpected {:?} at {:#x}",
                i.mnemonic(),
                i.ip()
            );
        }
    }
    assert!(!targets.is_empty());
    for t in targets {
        assert!(
            starts.contains(&t),
            "branch to {t:#x} is not an instruction start"
        );
    }
}

#[test]
fn jumps_stay_inside_the_code() {
    for (src, checked) in [
        ("mov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nexit", true),
        (
            "call local f\nexit\nf:\nmov %r0, 5\nmov %r1, 0\ndiv %r0, %r1\nmod32 %r0, %r1\nexit",
            false,
        ),
        (
            "stdw [%r10-8], 1\nmov %r1, 3\nlock fetch or [%r10-8], %r1\nmov %r0, %r1\nexit",
            false,
        ),
        ("ldxb %r0, [%r1+0]\nstb [%r1+1], 3\nexit", true),
    ] {
        let insns = assemble(src).unwrap();
        let jit = if checked {
            JitProgram::new_checked(&insns, vec![]).unwrap()
        } else {
            JitProgram::new(&insns, vec![]).unwrap()
        };
        check_code_shape(jit.code());
    }
}

#[test]
fn generated_cases_agree_with_and_without_bmi2() {
    // Deterministic inputs for the shared generators (the proptest suite and
    // the fuzz target explore further); every shift goes through both
    // encodings.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut agreed = 0;
    for round in 0..300 {
        let data = difftest::seeded_bytes(&mut seed, 200 + round % 300);
        for case in [
            difftest::verified_case(&data),
            difftest::unverified_case(&data),
        ] {
            for bmi2 in [false, true] {
                let out = difftest::check_with(&case, |insns, maps, unverified| {
                    JitProgram::with_bmi2(insns, maps, unverified, bmi2)
                });
                match out {
                    Ok(difftest::Outcome::Agreed { .. }) => agreed += 1,
                    Ok(_) => {}
                    Err(m) => panic!("bmi2 {bmi2}: {m}"),
                }
            }
        }
    }
    assert!(agreed > 600, "only {agreed} cases ran");
}

#[test]
fn shareable_across_workers() {
    // One compiled program serves every worker, each with its own RunEnv.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JitProgram>();
    let insns = assemble("ldxb %r0, [%r1+0]\nexit").unwrap();
    let jit = Arc::new(JitProgram::new_checked(&insns, vec![]).unwrap());
    let threads: Vec<_> = (0..4u8)
        .map(|k| {
            let jit = Arc::clone(&jit);
            std::thread::spawn(move || {
                let mut env = RunEnv::new(usize::from(k));
                (0..1000).all(|_| jit.run_readonly(&[k], &mut env) == Ok(u64::from(k)))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
}

#[test]
fn one_environment_serves_runs_of_different_programs() {
    // The run context lives in the environment between runs: a run that
    // fails deep in BPF-to-BPF calls, a checked run and verified runs with
    // helpers, in turns on one environment, each give what the interpreter
    // gives on a fresh one; the clock follows `set_time` between runs.
    let deep = assemble(
        "mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\njgt %r1, 20, +2\ncall local f\nexit\nmov %r0, %r1\nexit",
    )
    .unwrap();
    let helpers = assemble(
        "stw [%r10-4], 3\nstdw [%r10-16], 11\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\n\
         mov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\n\
         call 1\njeq %r0, 0, +3\nldxdw %r6, [%r0+0]\ncall 5\nadd %r0, %r6\nexit",
    )
    .unwrap();
    // Below its own frame: out of bounds, unless the context kept the
    // deep frames of the failed run as live.
    let checked_src =
        assemble("mov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nldxdw %r0, [%r10-600]\nexit").unwrap();
    let jit_deep = JitProgram::new_checked(&deep, vec![]).unwrap();
    let jit_helpers = JitProgram::new(&helpers, vec![hash_map(4)]).unwrap();
    let jit_checked = JitProgram::new_checked(&checked_src, vec![]).unwrap();
    let mut env = RunEnv::new(0);
    for round in 0..3u64 {
        let now = 1_000 + round;
        env.set_time(TimeSource::Batch(now));
        let want = Interpreter::new(&deep, vec![])
            .unwrap()
            .run(&mut [], &mut RunEnv::new(0));
        assert!(matches!(want, Err(RunError::CallDepthExceeded { .. })));
        assert_eq!(jit_deep.run(&mut [], &mut env), want);
        assert_eq!(jit_helpers.run_readonly(&[], &mut env), Ok(11 + now));
        let want = Interpreter::new(&checked_src, vec![])
            .unwrap()
            .run(&mut [], &mut RunEnv::new(0))
            .unwrap_err();
        assert!(matches!(want, RunError::OutOfBounds { .. }), "{want:?}");
        // The same error at the same pc (addresses differ: another stack).
        let got = jit_checked.run(&mut [], &mut env).unwrap_err();
        assert!(difftest::same_error(&want, &got), "{want:?} != {got:?}");
    }
}

#[test]
fn generated_cases_agree_taking_turns_in_one_environment() {
    // Verified and checked programs of every kind (map helpers direct or
    // general, errors at any depth) run in turns on one JIT environment,
    // inside a batch guard and outside one.
    let mut seed = 0x0fed_cba9_8765_4321u64;
    let mut runs = 0;
    for round in 0..60 {
        let cases: Vec<difftest::Case> = (0..4)
            .map(|k| {
                let data = difftest::seeded_bytes(&mut seed, 150 + (round * 7 + k * 31) % 300);
                if k % 2 == 0 {
                    difftest::verified_case(&data)
                } else {
                    difftest::unverified_case(&data)
                }
            })
            .collect();
        for batch in [false, true] {
            match difftest::check_shared(&cases, batch) {
                Ok(n) => runs += n,
                Err(m) => panic!("batch {batch}: {m}"),
            }
        }
    }
    assert!(runs > 500, "only {runs} runs");
}

/// The callee-saved registers the entry pushes (in order), whether it pads
/// `rsp`, and the instructions of the code.
fn entry_frame(code: &[u8]) -> (Vec<iced_x86::Register>, bool, Vec<iced_x86::Instruction>) {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};
    let insns: Vec<_> = Decoder::with_ip(64, code, 0, DecoderOptions::NONE)
        .into_iter()
        .collect();
    let pushed: Vec<Register> = insns
        .iter()
        .take_while(|i| i.mnemonic() == Mnemonic::Push)
        .map(|i| i.op0_register())
        .collect();
    let next = insns.get(pushed.len());
    let pad = next.is_some_and(|i| {
        i.mnemonic() == Mnemonic::Sub
            && i.op0_register() == Register::RSP
            && i.op1_kind() != OpKind::Register
            && i.immediate(1) == 8
    });
    (pushed, pad, insns)
}

#[test]
fn the_entry_saves_only_what_the_code_uses() {
    use Register::{R12, R13, R14, R15, RBP, RBX};
    use iced_x86::{Mnemonic, Register};
    let all = vec![RBX, RBP, R12, R13, R14, R15];
    // (program, pushed registers, whether the code calls anything)
    let cases: [(&str, Vec<Register>, bool); 8] = [
        ("mov %r0, 1\nexit", vec![], false),
        ("mov %r6, 2\nmov %r0, %r6\nexit", vec![RBX], false),
        (
            "stdw [%r10-8], 5\nldxdw %r0, [%r10-8]\nexit",
            vec![RBP],
            false,
        ),
        // The fetch-and-logic loop parks r0 in the context.
        (
            "stdw [%r10-8], 1\nmov %r1, 3\nlock fetch or [%r10-8], %r1\nmov %r0, %r1\nexit",
            vec![RBP, R12],
            false,
        ),
        // A helper call: the context, and rsp aligned for it.
        ("call 5\nexit", vec![R12], true),
        (
            "mov %r6, 1\ncall 5\nadd %r0, %r6\nexit",
            vec![RBX, R12],
            true,
        ),
        (
            "mov %r6, 1\nmov %r7, 2\ncall 7\nadd %r0, %r6\nadd %r0, %r7\nexit",
            vec![RBX, R12, R13],
            true,
        ),
        // BPF-to-BPF calls save everything.
        (
            "call local f\nexit\nf:\nmov %r0, 3\nexit",
            all.clone(),
            true,
        ),
    ];
    for (src, want, calls) in cases {
        let insns = assemble(src).unwrap();
        let jit = JitProgram::new(&insns, vec![]).unwrap();
        let (pushed, pad, code) = entry_frame(jit.code());
        assert_eq!(pushed, want, "{src}");
        // 8 bytes of return address, the pushes and the pad.
        let depth = 8 * (1 + pushed.len()) + if pad { 8 } else { 0 };
        assert_eq!(
            calls,
            code.iter().any(|i| i.mnemonic() == Mnemonic::Call),
            "{src}"
        );
        if calls {
            assert_eq!(depth % 16, 0, "{src}: rsp unaligned at calls");
        } else {
            assert!(!pad, "{src}: padded without calls");
        }
        // Without BPF-to-BPF calls, every `ret` returns to the caller
        // after restoring exactly what the entry saved.
        if !src.contains("local") {
            for (k, i) in code.iter().enumerate() {
                if i.mnemonic() != Mnemonic::Ret {
                    continue;
                }
                // Read backwards from the `ret`: the pushes' order.
                let pops: Vec<Register> = code[..k]
                    .iter()
                    .rev()
                    .take_while(|i| i.mnemonic() == Mnemonic::Pop)
                    .map(|i| i.op0_register())
                    .collect();
                assert_eq!(pops, pushed, "{src}");
                let before = code[..k - pops.len()].last();
                assert_eq!(
                    pad,
                    before.is_some_and(
                        |i| i.mnemonic() == Mnemonic::Add && i.op0_register() == Register::RSP
                    ),
                    "{src}"
                );
            }
        }
        // And the code runs as the interpreter does.
        let (mut ei, mut ej) = (RunEnv::new(0), RunEnv::new(0));
        ei.set_time(TimeSource::Batch(77));
        ej.set_time(TimeSource::Batch(77));
        let want = Interpreter::new(&insns, vec![])
            .unwrap()
            .run_readonly(&[], &mut ei);
        assert_eq!(jit.run_readonly(&[], &mut ej), want, "{src}");
    }
    // The empty program is two instructions.
    let insns = assemble("mov %r0, 1\nexit").unwrap();
    let jit = JitProgram::new(&insns, vec![]).unwrap();
    assert_eq!(entry_frame(jit.code()).2.len(), 2);
    // Checked code saves all six.
    let jit = JitProgram::new_checked(&insns, vec![]).unwrap();
    let (pushed, pad, _) = entry_frame(jit.code());
    assert_eq!((pushed, pad), (all, true));
}
