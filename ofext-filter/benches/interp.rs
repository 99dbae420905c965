//! Interpreter speed, in nanoseconds per executed instruction, next to rbpf
//! 0.4's interpreter running the same programs in the same process.
//!
//! Three programs:
//! - `empty`: `mov r0, 1; exit` — the fixed cost of a run;
//! - `alu`: 1,000 straight-line ALU instructions (64- and 32-bit, immediate
//!   and register operands) and `exit` — the dispatch loop alone;
//! - `token_bucket`: a per-source-address token bucket as a filter would
//!   write it: bounds check against `r2`, key from the packet onto the stack,
//!   `ktime_get_ns`, `map_lookup_elem` on a real HASH map, refill arithmetic,
//!   and stores into the value.
//!
//! Criterion's throughput is set to the number of instructions each run
//! executes (measured with the instruction budget: the smallest budget under
//! which the run succeeds), so `elem/s` reads as instructions per second.
//! rbpf does not set `r2`, so its copy of the token bucket starts with one
//! extra `mov r2, len`; its `lddw map` carries the map's address directly and
//! its helpers call the same `Map` (value memory registered as allowed).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ofext_filter::asm::assemble;
use ofext_filter::helpers::TimeSource;
use ofext_filter::interp::{Interpreter, RunEnv};
use ofext_filter::isa::{Insn, encode_program};
use ofext_filter::maps::{Map, MapDef, MapType, RunGuard};

/// 1,000 ALU instructions cycling through operations and registers r0–r5.
fn alu_block() -> Vec<Insn> {
    // (opcode, uses a register source)
    const OPS: [(u8, bool); 12] = [
        (0x07, false), // add64 imm
        (0x0f, true),  // add64 reg
        (0xaf, true),  // xor64 reg
        (0x27, false), // mul64 imm
        (0x77, false), // rsh64 imm
        (0x1f, true),  // sub64 reg
        (0x04, false), // add32 imm
        (0x4f, true),  // or64 reg
        (0x67, false), // lsh64 imm
        (0xbc, true),  // mov32 reg
        (0x5f, true),  // and64 reg
        (0xa4, false), // xor32 imm
    ];
    let mut p = Vec::with_capacity(1001);
    for i in 0..1000usize {
        let (op, reg) = OPS[i % OPS.len()];
        let dst = (i % 6) as u8;
        let src = ((i * 7 + 3) % 6) as u8;
        let imm = if op == 0x77 || op == 0x67 {
            (i % 13) as i32
        } else {
            (i as i32).wrapping_mul(2_654_435) | 1
        };
        p.push(if reg {
            Insn::new(op, dst, src, 0, 0)
        } else {
            Insn::new(op, dst, 0, 0, imm)
        });
    }
    p.push(Insn::new(0x95, 0, 0, 0, 0));
    p
}

/// Token bucket keyed by IPv4 source address: value = { tokens u64,
/// last_refill_ns u64 }, refill 1 token per microsecond, burst 100.
const TOKEN_BUCKET: &str = "
    mov %r6, %r1
    mov %r3, %r1
    add %r3, 30
    mov %r4, %r1
    add %r4, %r2
    jgt %r3, %r4, pass
    ldxw %r3, [%r6+26]
    stxw [%r10-4], %r3
    call 5
    mov %r7, %r0
    lddw %r1, map:0
    mov %r2, %r10
    sub %r2, 4
    call 1
    jeq %r0, 0, pass
    ldxdw %r1, [%r0+0]
    ldxdw %r2, [%r0+8]
    mov %r3, %r7
    sub %r3, %r2
    div %r3, 1000
    add %r1, %r3
    mul %r3, 1000
    add %r2, %r3
    stxdw [%r0+8], %r2
    jle %r1, 100, +1
    mov %r1, 100
    jeq %r1, 0, drop
    sub %r1, 1
    stxdw [%r0+0], %r1
    mov %r0, 1
    exit
drop:
    mov %r0, 0
    exit
pass:
    mov %r0, 1
    exit
";

/// A 64-byte IPv4 frame from 10.0.0.1.
fn packet() -> [u8; 64] {
    let mut p = [0u8; 64];
    p[12] = 0x08;
    p[14] = 0x45;
    p[26..30].copy_from_slice(&[10, 0, 0, 1]);
    p
}

/// Slots one run executes: the smallest budget under which it succeeds.
fn executed(insns: &[Insn], maps: &[Arc<Map>], mem: &mut [u8]) -> u64 {
    let (mut lo, mut hi) = (1u64, 1_000_000u64);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let prog = Interpreter::new(insns, maps.to_vec())
            .unwrap()
            .with_budget(mid);
        if prog.run(mem, &mut RunEnv::new(0)).is_ok() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

static RBPF_NOW: AtomicU64 = AtomicU64::new(1_000_000_000);

fn rbpf_ktime(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    RBPF_NOW.fetch_add(1000, Ordering::Relaxed)
}

fn rbpf_lookup(map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY (benchmark only): `map` is the address of a Map kept alive by
    // the benchmark for the whole run, and the program passes a pointer to
    // its 4-byte key on rbpf's stack. Nothing deletes from the map, so the
    // value stays allocated after the guard is dropped.
    let map = unsafe { &*(map as *const Map) };
    let key = unsafe { std::slice::from_raw_parts(key as *const u8, 4) };
    let g = RunGuard::enter(0);
    map.lookup(key, &g).map_or(0, |p| p.as_ptr() as u64)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("interp");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    // Per-run overhead: `mov r0, 1; exit`.
    let tiny = assemble("mov %r0, 1\nexit").unwrap();
    let ours = Interpreter::new(&tiny, vec![]).unwrap();
    let mut env = RunEnv::new(0);
    let tiny_bytes = encode_program(&tiny);
    let vm = rbpf::EbpfVmMbuff::new(Some(&tiny_bytes)).unwrap();
    g.throughput(Throughput::Elements(2));
    g.bench_function("empty/ours", |b| {
        b.iter(|| ours.run(black_box(&mut []), &mut env).unwrap())
    });
    g.bench_function("empty/rbpf", |b| {
        b.iter(|| vm.execute_program(black_box(&[]), &[]).unwrap())
    });

    // ALU block.
    let alu = alu_block();
    let ours = Interpreter::new(&alu, vec![]).unwrap();
    let n = executed(&alu, &[], &mut []);
    let mut env = RunEnv::new(0);
    let want = ours.run(&mut [], &mut env).unwrap();
    let bytes = encode_program(&alu);
    let vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
    assert_eq!(vm.execute_program(&[], &[]).unwrap(), want);
    g.throughput(Throughput::Elements(n));
    g.bench_function("alu/ours", |b| {
        b.iter(|| ours.run(black_box(&mut []), &mut env).unwrap())
    });
    g.bench_function("alu/rbpf", |b| {
        b.iter(|| vm.execute_program(black_box(&[]), &[]).unwrap())
    });

    // Token bucket.
    let map = Arc::new(
        Map::new(
            MapDef {
                name: "buckets".into(),
                map_type: MapType::Hash,
                key_size: 4,
                value_size: 16,
                max_entries: 1024,
                flags: 0,
            },
            1,
        )
        .unwrap(),
    );
    for a in 0..512u32 {
        let key = [10, 0, (a >> 8) as u8, a as u8];
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&100u64.to_le_bytes());
        map.update_from_controller(&key, &v, 0).unwrap();
    }
    let tb = assemble(TOKEN_BUCKET).unwrap();
    let ours = Interpreter::new(&tb, vec![map.clone()]).unwrap();
    let mut pkt = packet();
    let n = executed(&tb, std::slice::from_ref(&map), &mut pkt);
    let mut env = RunEnv::new(0);
    env.set_time(TimeSource::Batch(1_000_000_000));
    assert_eq!(ours.run_readonly(&pkt, &mut env), Ok(1));

    // rbpf's copy: `mov r2, 64` first, lddw with the map's address.
    let handle = ours.maps().handle(0).unwrap();
    let mut rb: Vec<Insn> = vec![Insn::new(0xb7, 2, 0, 0, pkt.len() as i32)];
    for (i, insn) in tb.iter().enumerate() {
        let mut insn = *insn;
        if insn.is_lddw() && insn.src == 1 {
            insn = Insn::new(insn.op, insn.dst, 0, 0, handle as u32 as i32);
        } else if i > 0 && tb[i - 1].is_lddw() && tb[i - 1].src == 1 {
            insn = Insn::new(0, 0, 0, 0, (handle >> 32) as u32 as i32);
        }
        rb.push(insn);
    }
    let rb_bytes = encode_program(&rb);
    let mut vm = rbpf::EbpfVmMbuff::new(Some(&rb_bytes)).unwrap();
    vm.register_helper(1, rbpf_lookup).unwrap();
    vm.register_helper(5, rbpf_ktime).unwrap();
    let value = {
        let g = RunGuard::enter(0);
        map.lookup(&[10, 0, 0, 1], &g).unwrap().as_ptr() as u64
    };
    vm.register_allowed_memory(value..value + 16);
    assert_eq!(vm.execute_program(&pkt, &[]).unwrap(), 1);

    g.throughput(Throughput::Elements(n));
    let mut now = 1_000_000_000u64;
    g.bench_function("token_bucket/ours", |b| {
        b.iter(|| {
            now += 1000;
            env.set_time(TimeSource::Batch(now));
            ours.run_readonly(black_box(&pkt), &mut env).unwrap()
        })
    });
    g.bench_function("token_bucket/rbpf", |b| {
        b.iter(|| vm.execute_program(black_box(&pkt), &[]).unwrap())
    });
    g.finish();
    eprintln!(
        "executed instructions per run: token_bucket {n} (rbpf: {})",
        n + 1
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
