//! Verifier speed on a large filter: 4,096 instructions with 64 sequential
//! bounds-checked branches (EXTENSION.md asks for < 100 ms).
//!
//! Each of the 64 blocks checks a longer prefix of the packet against the
//! saved length, reads 8 bytes at a variable-free offset, branches on them
//! into a small diamond (a join point), and does scalar work. A verifier that
//! enumerated paths would see 2^64 of them; this one visits each
//! instruction once and joins states at the 128 merge points.
//!
//! A second program does the same with the `if (p + N > end)` pointer idiom
//! and a map lookup in every block.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ofext_filter::asm::assemble;
use ofext_filter::isa::Insn;
use ofext_filter::maps::{MapDef, MapType};
use ofext_filter::verifier::verify;

const TOTAL: usize = 4096;
const BLOCKS: usize = 64;

/// Length-check flavour.
fn length_checks() -> Vec<Insn> {
    let mut src = String::from("mov %r6, %r2\nmov %r7, %r1\nmov %r8, 0\n");
    let per_block = (TOTAL - 3 - 4) / BLOCKS;
    for k in 0..BLOCKS {
        let off = 14 + 8 * k;
        let mut block = format!(
            "jlt %r6, {}, drop\nldxdw %r3, [%r7+{off}]\njeq %r3, {k}, skip{k}\nadd %r8, %r3\nskip{k}:\n",
            off + 8
        );
        let mut n = 4;
        while n < per_block {
            block.push_str(match n % 4 {
                0 => "xor %r8, 0x5a\n",
                1 => "rsh %r8, 1\n",
                2 => "mov %r4, %r8\n",
                _ => "add %r8, %r4\n",
            });
            n += 1;
        }
        src.push_str(&block);
    }
    let used = 3 + per_block * BLOCKS + 4;
    for _ in used..TOTAL {
        src.push_str("mov %r5, 1\n");
    }
    src.push_str("mov %r0, %r8\nexit\ndrop:\nmov %r0, 0\nexit\n");
    let p = assemble(&src).expect("generated program assembles");
    assert_eq!(p.len(), TOTAL);
    p
}

/// End-pointer flavour with a map lookup per block.
fn pointer_checks() -> Vec<Insn> {
    let mut src = String::from("mov %r9, %r1\nadd %r9, %r2\nmov %r7, %r1\nmov %r8, 0\n");
    let per_block = (TOTAL - 4 - 4) / BLOCKS;
    for k in 0..BLOCKS {
        let off = 14 + 4 * k;
        let mut block = format!(
            "mov %r3, %r7\nadd %r3, {}\njgt %r3, %r9, drop\n\
             mov %r2, %r7\nadd %r2, {off}\nlddw %r1, map:0\ncall 1\n\
             jeq %r0, 0, miss{k}\nldxdw %r3, [%r0+0]\nadd %r8, %r3\nmiss{k}:\n",
            off + 4
        );
        let mut n = 11;
        while n < per_block {
            block.push_str(if n % 2 == 0 {
                "xor %r8, 3\n"
            } else {
                "rsh %r8, 1\n"
            });
            n += 1;
        }
        src.push_str(&block);
    }
    let used = 4 + per_block * BLOCKS + 4;
    for _ in used..TOTAL {
        src.push_str("mov %r5, 1\n");
    }
    src.push_str("mov %r0, %r8\nexit\ndrop:\nmov %r0, 0\nexit\n");
    let p = assemble(&src).expect("generated program assembles");
    assert_eq!(p.len(), TOTAL);
    p
}

fn bench(c: &mut Criterion) {
    let maps = [MapDef {
        name: "m".into(),
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 8,
        max_entries: 1024,
        flags: 0,
    }];
    let mut g = c.benchmark_group("verify");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(30);
    let p = length_checks();
    verify(&p, &maps).expect("length-check program verifies");
    g.bench_function("4096_insns_64_length_checks", |b| {
        b.iter(|| verify(black_box(&p), &maps).is_ok())
    });
    let q = pointer_checks();
    verify(&q, &maps).expect("pointer-check program verifies");
    g.bench_function("4096_insns_64_pointer_checks_and_lookups", |b| {
        b.iter(|| verify(black_box(&q), &maps).is_ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
