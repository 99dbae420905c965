//! The JIT next to the interpreter and rbpf 0.4's x86-64 JIT, in one run.
//!
//! - `alu1000`: 1,000 straight-line ALU instructions (the block of
//!   `benches/interp.rs`) and `exit`; throughput is instructions, so
//!   criterion's `elem/s` reads as instructions per second. rbpf's JIT
//!   compiles into one 4 KiB page and panics on this block, so `alu400`
//!   (the first 400 of them) is the one measured for all three.
//! - `conntrack`, `p0f`, `ratelimit`: the paper's three filters
//!   (`controller-examples/filters/*.o`) on realistic frames with real maps:
//!   an established TCP flow's data segment, a Linux SYN against fifteen
//!   signatures of common stacks and tools (five of the SYN's option
//!   layout), a source under its rate. `p0f_worst` is p0f's worst case: the
//!   SYN against sixteen signatures of its layout, the one that matches
//!   last; `p0f_data` what it costs on most TCP packets (a data segment,
//!   not a SYN). Throughput is packets, so the time per iteration is the
//!   time per packet, helpers included.
//!
//! For each: `jit` is [`JitProgram::run_readonly`], `jit_batched` the same
//! with the epoch pinned per batch of 32 packets as the dataplane's workers
//! do (so a run does not pin itself), `interp` the
//! interpreter, `program` the whole [`Program::run`] the dataplane calls
//! (JIT plus statistics), and `rbpf_jit` rbpf's JIT on the same bytes. rbpf
//! knows neither map relocations nor the packet length: its copy gets the
//! maps' addresses as plain `lddw` constants and a leading `mov r2, len`,
//! and its helpers (plain `fn`s) reach the same `Map`s through those
//! addresses. rbpf's JIT calls helpers with `rsp` misaligned by 8 bytes; a
//! filter whose run crashes or differs there is reported and skipped.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use controller_examples::secure_edge::{P0fSig, p0f_table, sig_flags, win_type};
use criterion::{
    Bencher, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use ofext_filter::elf;
use ofext_filter::helpers::{self, TimeSource};
use ofext_filter::interp::{Interpreter, RunEnv};
use ofext_filter::isa::{Insn, encode_program};
use ofext_filter::jit::JitProgram;
use ofext_filter::maps::{BatchGuard, Map, RunGuard};
use ofext_filter::program::Program;
use ofext_filter::verifier;

/// `n` ALU instructions cycling through operations and registers r0–r5
/// (the block of `benches/interp.rs`), after six register initialisations.
fn alu_block(n: usize) -> Vec<Insn> {
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
    let mut p = Vec::with_capacity(1007);
    // The verifier wants every register defined before it is read.
    for r in 0..6 {
        p.push(Insn::new(0xb7, r, 0, 0, i32::from(r) * 977 + 1));
    }
    for i in 0..n {
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

// ------------------------------------------------------------ rbpf glue

static RBPF_NOW: AtomicU64 = AtomicU64::new(5_000_000_000);

/// The map behind a handle: benchmark only — the handles are addresses of
/// `Map`s the benchmark keeps alive for the whole run.
fn rbpf_map(handle: u64) -> &'static Map {
    // SAFETY: see above.
    unsafe { &*(handle as *const Map) }
}

fn rbpf_bytes(addr: u64, len: usize) -> &'static [u8] {
    // SAFETY (benchmark only): the filters pass pointers to their stack or
    // the packet, valid for `len` bytes during the call.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
}

fn rbpf_lookup(map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    let m = rbpf_map(map);
    let g = RunGuard::enter(0);
    // Values are never freed during the benchmark (no deletes of looked-up
    // entries race with it), so the pointer outlives the guard.
    m.lookup(rbpf_bytes(key, m.def().key_size as usize), &g)
        .map_or(0, |p| p.as_ptr() as u64)
}

fn rbpf_update(map: u64, key: u64, value: u64, flags: u64, _: u64) -> u64 {
    let m = rbpf_map(map);
    let g = RunGuard::enter(0);
    // rbpf cannot pass Oko's three-argument flags as 0: garbage flags are 0.
    let flags = if flags > 2 { 0 } else { flags };
    let k = rbpf_bytes(key, m.def().key_size as usize);
    let v = rbpf_bytes(value, m.def().value_size as usize);
    m.update(k, v, flags, &g)
        .map_or_else(helpers::errno_of, |()| 0)
}

fn rbpf_delete(map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    let m = rbpf_map(map);
    let g = RunGuard::enter(0);
    m.delete(rbpf_bytes(key, m.def().key_size as usize), &g)
        .map_or_else(helpers::errno_of, |()| 0)
}

fn rbpf_ktime(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    RBPF_NOW.load(Ordering::Relaxed)
}

fn rbpf_hash(ptr: u64, len: u64, _: u64, _: u64, _: u64) -> u64 {
    u64::from(helpers::hash(rbpf_bytes(ptr, len as usize)))
}

/// rbpf's copy of `insns`: `mov r2, len` first, map references as the
/// maps' addresses.
fn rbpf_program(insns: &[Insn], maps: &[Arc<Map>], len: usize) -> Vec<u8> {
    let mut out = vec![Insn::new(0xb7, 2, 0, 0, len as i32)];
    let mut k = 0;
    while k < insns.len() {
        let i = insns[k];
        if i.is_lddw() && i.src == 1 && k + 1 < insns.len() {
            let addr = maps
                .get(i.imm as usize)
                .map_or(0, |m| Arc::as_ptr(m) as u64);
            out.push(Insn::new(i.op, i.dst, 0, 0, addr as u32 as i32));
            out.push(Insn::new(0, 0, 0, 0, (addr >> 32) as u32 as i32));
            k += 2;
        } else {
            out.push(i);
            k += 1;
        }
    }
    encode_program(&out)
}

/// Compiles with rbpf's JIT, which has a fixed 4 KiB code buffer and
/// asserts (panics) when the code does not fit.
fn rbpf_compile(name: &str, vm: &mut rbpf::EbpfVmRaw<'static>) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.jit_compile()));
    std::panic::set_hook(hook);
    match r {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            eprintln!("{name}: rbpf's JIT refuses the program: {e}");
            false
        }
        Err(_) => {
            eprintln!("{name}: rbpf's JIT panics (its code buffer is one 4 KiB page)");
            false
        }
    }
}

/// rbpf's JIT for `bytes`, if it compiles and agrees with `want` on
/// `frame` (run in a child thread first: a crash there is reported).
fn rbpf_jit(
    name: &str,
    bytes: &'static [u8],
    frame: &[u8],
    want: u64,
) -> Option<rbpf::EbpfVmRaw<'static>> {
    let mut vm = rbpf::EbpfVmRaw::new(Some(bytes))
        .map_err(|e| eprintln!("{name}: rbpf refuses the program: {e}"))
        .ok()?;
    for (id, f) in [
        (1u32, rbpf_lookup as rbpf::ebpf::Helper),
        (2, rbpf_update),
        (3, rbpf_delete),
        (5, rbpf_ktime),
        (6, rbpf_hash),
    ] {
        vm.register_helper(id, f).ok()?;
    }
    if !rbpf_compile(name, &mut vm) {
        return None;
    }
    let mut f = frame.to_vec();
    // SAFETY (benchmark only): rbpf runs a copy of a verified filter whose
    // memory accesses stay inside the frame, its stack and map values.
    match unsafe { vm.execute_program_jit(&mut f) } {
        Ok(r) if r == want => Some(vm),
        Ok(r) => {
            eprintln!("{name}: rbpf's JIT returns {r}, we return {want}: skipped");
            None
        }
        Err(e) => {
            eprintln!("{name}: rbpf's JIT fails: {e}");
            None
        }
    }
}

// ------------------------------------------------------------ frames

fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
    let tcp_len = 20 + options.len();
    let total = (20 + tcp_len + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0]);
    f.push(((tcp_len / 4) as u8) << 4);
    f.push(flags);
    f.extend_from_slice(&64240u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(options);
    f.extend_from_slice(payload);
    f
}

/// A p0f signature in p0f's notation: layout, window rule, window scale
/// (None: any), TTL range, quirks (compared exactly), tool or not; any MSS.
fn sig(
    layout: &[u8],
    eol_pad: u8,
    (win_type, win): (u8, u16),
    wscale: Option<u8>,
    ttl: (u8, u8),
    quirks: u16,
    tool: bool,
) -> P0fSig {
    let mut flags = sig_flags::ANY_MSS;
    if tool {
        flags |= sig_flags::TOOL;
    }
    if wscale.is_none() {
        flags |= sig_flags::ANY_WSCALE;
    }
    P0fSig {
        flags,
        ip_ver: 0,
        ttl,
        ip_olen: 0,
        wscale: wscale.unwrap_or(0),
        win_type,
        win,
        mss: 0,
        quirks,
        quirk_mask: 0xFFFF,
        layout: layout.to_vec(),
        eol_pad,
    }
}

/// Fifteen signatures of common stacks and tools, after p0f's database:
/// five of them have a Linux SYN's layout (mss, sok, ts, nop, ws) and the
/// modern Linux one (window mss*44, scale 7) is the fourth of those.
fn p0f_database() -> Vec<P0fSig> {
    use win_type::{EXACT, MOD, MSS};
    const DF_ID: u16 = 0x0003; // df, id+
    const LINUX: &[u8] = &[2, 4, 8, 1, 3];
    const WINDOWS: &[u8] = &[2, 1, 3, 1, 1, 4];
    let l64 = (29, 64);
    let w128 = (93, 128);
    vec![
        sig(LINUX, 0, (MSS, 20), Some(10), l64, DF_ID, false), // Linux 3.11+
        sig(LINUX, 0, (MSS, 10), None, l64, DF_ID, false),     // Linux 3.1–3.10
        sig(LINUX, 0, (MSS, 4), Some(6), l64, DF_ID, false),   // Linux 2.6.x
        sig(LINUX, 0, (MSS, 44), Some(7), l64, DF_ID, false),  // Linux 4.19+
        sig(LINUX, 0, (MOD, 512), None, l64, DF_ID, false),    // Android
        sig(WINDOWS, 0, (EXACT, 8192), Some(8), w128, DF_ID, false), // Windows 7/8
        sig(WINDOWS, 0, (EXACT, 64240), Some(8), w128, DF_ID, false), // Windows 10
        sig(&[2, 1, 1, 4], 0, (EXACT, 65535), None, w128, DF_ID, false), // Windows XP
        sig(
            &[2, 1, 3, 1, 1, 8, 4, 0],
            1,
            (EXACT, 65535),
            Some(5),
            l64,
            DF_ID,
            false,
        ), // macOS
        sig(
            &[2, 1, 3, 4, 8],
            0,
            (EXACT, 65535),
            Some(6),
            l64,
            DF_ID,
            false,
        ), // FreeBSD
        sig(
            &[2, 1, 1, 4, 1, 3, 1, 1, 8],
            0,
            (EXACT, 16384),
            Some(3),
            l64,
            DF_ID,
            false,
        ), // OpenBSD
        sig(&[2], 0, (EXACT, 1024), None, (1, 64), 0, true),   // nmap SYN scan
        sig(&[2], 0, (EXACT, 65535), None, (1, 255), 0, true), // zmap
        sig(&[], 0, (EXACT, 512), None, (1, 64), 0, true),     // hping3
        sig(&[], 0, (EXACT, 1024), None, (1, 255), 0, true),   // masscan
    ]
}

/// The filter's object, a frame and the controller's map setup.
/// Controller writes before the run: (map id, key, value).
type Setup = Vec<(usize, Vec<u8>, Vec<u8>)>;

/// The p0f map entries (layout key, signature bucket) of `sigs`.
fn p0f_setup(sigs: &[P0fSig]) -> Setup {
    p0f_table(sigs)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (0, k.to_vec(), v))
        .collect()
}

/// A Linux SYN: mss 1460, sackOK, timestamps, nop, window scale 7, window
/// 64240 (mss * 44), ack number 0.
fn linux_syn() -> Vec<u8> {
    let opts = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let mut f = tcp4(
        [192, 0, 2, 10],
        [10, 0, 0, 100],
        40000,
        80,
        0x02,
        &opts,
        &[],
    );
    f[42..46].fill(0);
    f
}

fn scenario(name: &str) -> (Vec<u8>, Vec<u8>, Setup) {
    let object = name.split('_').next().unwrap_or(name);
    let path = format!(
        "{}/../controller-examples/filters/{object}.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let client = [192, 0, 2, 10];
    let server = [10, 0, 0, 100];
    match name {
        // A data segment of an established flow (set up by the SYN,
        // SYN-ACK and ACK run first, see `bench_filter`).
        "conntrack" => (
            elf,
            tcp4(client, server, 40000, 80, 0x18, &[], &[0x55; 100]),
            vec![],
        ),
        // A Linux SYN (mss, sok, ts, nop, ws) against a database of
        // common stacks' and tools' signatures (`p0f_database`): it is not
        // a tool's.
        "p0f" => (elf, linux_syn(), p0f_setup(&p0f_database())),
        // What p0f costs on most TCP packets: a data segment, not a SYN.
        "p0f_data" => (
            elf,
            tcp4(client, server, 40000, 80, 0x18, &[], &[0x55; 100]),
            p0f_setup(&p0f_database()),
        ),
        // The worst case: sixteen signatures of the SYN's layout, all
        // tried, the one that matches (a tool) last.
        "p0f_worst" => {
            let mut sigs: Vec<P0fSig> = (0..15)
                .map(|k| {
                    sig(
                        &[2, 4, 8, 1, 3],
                        0,
                        (win_type::EXACT, 1000 + k),
                        None,
                        (1, 255),
                        3,
                        false,
                    )
                })
                .collect();
            sigs.push(sig(
                &[2, 4, 8, 1, 3],
                0,
                (win_type::ANY, 0),
                None,
                (1, 255),
                3,
                true,
            ));
            (elf, linux_syn(), p0f_setup(&sigs))
        }
        // A source under a generous rate (never over it: the common case).
        _ => {
            let mut cfg = 1_000_000_000u64.to_le_bytes().to_vec();
            cfg.extend_from_slice(&1_000_000u64.to_le_bytes());
            (
                elf,
                tcp4(client, server, 40000, 80, 0x10, &[], &[0x55; 100]),
                vec![(0, 0u32.to_le_bytes().to_vec(), cfg)],
            )
        }
    }
}

/// Iterates `f` with the epoch pinned per batch of 32 runs, as the
/// dataplane's workers do: a run inside a batch does not pin itself.
fn iter_batched<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    let mut n = 0u32;
    let mut batch = Some(BatchGuard::enter());
    b.iter(|| {
        n = n.wrapping_add(1);
        if n.is_multiple_of(32) {
            batch = None;
            batch = Some(BatchGuard::enter());
        }
        f()
    });
    drop(batch);
}

fn bench_filter(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (elf_bytes, frame, setup) = scenario(name);
    let obj = elf::load(&elf_bytes).unwrap();
    let info = verifier::verify(&obj.insns, &obj.maps).unwrap();
    let new_maps = || -> Vec<Arc<Map>> {
        let maps: Vec<Arc<Map>> = obj
            .maps
            .iter()
            .map(|d| Arc::new(Map::new(d.clone(), 1).unwrap()))
            .collect();
        for (m, k, v) in &setup {
            maps[*m].update_from_controller(k, v, 0).unwrap();
        }
        maps
    };
    let prog = Program::load(&elf_bytes, 1).unwrap();
    for (m, k, v) in &setup {
        prog.maps()[*m].update_from_controller(k, v, 0).unwrap();
    }
    assert!(prog.jit(), "{name} is not JIT-compiled");
    let (maps_j, maps_i, maps_r) = (new_maps(), new_maps(), new_maps());
    let jit = JitProgram::new(&obj.insns, maps_j).unwrap();
    let interp = Interpreter::new(&obj.insns, maps_i)
        .unwrap()
        .with_zero_flags_at(&info.zero_flags_at)
        .unwrap();
    let now = 5_000_000_000u64;
    let mut env = RunEnv::new(0);
    env.set_time(TimeSource::Batch(now));
    if name == "conntrack" {
        // Open the connection: SYN, SYN-ACK, ACK.
        let c = [192, 0, 2, 10];
        let s = [10, 0, 0, 100];
        let hs = [
            tcp4(c, s, 40000, 80, 0x02, &[], &[]),
            tcp4(s, c, 80, 40000, 0x12, &[], &[]),
            tcp4(c, s, 40000, 80, 0x10, &[], &[]),
        ];
        for f in &hs {
            prog.run(f, &mut env);
            jit.run_readonly(f, &mut env).unwrap();
            interp.run_readonly(f, &mut env).unwrap();
        }
    }
    let want = jit.run_readonly(&frame, &mut env).unwrap();
    assert_eq!(interp.run_readonly(&frame, &mut env), Ok(want), "{name}");
    match name {
        "p0f_worst" => assert_eq!(want, 1, "the last signature matches"),
        "p0f_data" => assert_eq!(want, 0),
        "p0f" => {
            // Not a tool, and it is the Linux 4.19+ signature that says so.
            assert_eq!(want, 0);
            let mut db = p0f_database();
            db[3].flags |= sig_flags::TOOL;
            let p = Program::load(&elf_bytes, 1).unwrap();
            for (m, k, v) in p0f_setup(&db) {
                p.maps()[m].update_from_controller(&k, &v, 0).unwrap();
            }
            assert!(p.run(&frame, &mut env), "the Linux signature matches");
        }
        _ => {}
    }
    // Executed instructions: the smallest interpreter budget that suffices.
    let (mut lo, mut hi) = (1u64, 1_000_000u64);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let probe = Interpreter::new(&obj.insns, new_maps())
            .unwrap()
            .with_zero_flags_at(&info.zero_flags_at)
            .unwrap()
            .with_budget(mid);
        if probe.run_readonly(&frame, &mut env).is_ok() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    eprintln!(
        "{name}: {} slots, {lo} executed per packet (result {want})",
        obj.insns.len()
    );

    g.throughput(Throughput::Elements(1));
    let mut t = now;
    g.bench_function(format!("{name}/jit"), |b| {
        b.iter(|| {
            t += 1000;
            env.set_time(TimeSource::Batch(t));
            jit.run_readonly(black_box(&frame), &mut env)
        })
    });
    g.bench_function(format!("{name}/jit_batched"), |b| {
        iter_batched(b, || {
            t += 1000;
            env.set_time(TimeSource::Batch(t));
            jit.run_readonly(black_box(&frame), &mut env)
        })
    });
    g.bench_function(format!("{name}/program"), |b| {
        b.iter(|| {
            t += 1000;
            env.set_time(TimeSource::Batch(t));
            prog.run(black_box(&frame), &mut env)
        })
    });
    g.bench_function(format!("{name}/interp"), |b| {
        b.iter(|| {
            t += 1000;
            env.set_time(TimeSource::Batch(t));
            interp.run_readonly(black_box(&frame), &mut env)
        })
    });
    let bytes: &'static [u8] =
        Box::leak(rbpf_program(&obj.insns, &maps_r, frame.len()).into_boxed_slice());
    // rbpf on the same connection state.
    if name == "conntrack" {
        let c = [192, 0, 2, 10];
        let s = [10, 0, 0, 100];
        for f in [
            tcp4(c, s, 40000, 80, 0x02, &[], &[]),
            tcp4(s, c, 80, 40000, 0x12, &[], &[]),
            tcp4(c, s, 40000, 80, 0x10, &[], &[]),
        ] {
            let b: &'static [u8] =
                Box::leak(rbpf_program(&obj.insns, &maps_r, f.len()).into_boxed_slice());
            if let Ok(mut vm) = rbpf::EbpfVmRaw::new(Some(b)) {
                for (id, h) in [
                    (1u32, rbpf_lookup as rbpf::ebpf::Helper),
                    (2, rbpf_update),
                    (3, rbpf_delete),
                    (5, rbpf_ktime),
                    (6, rbpf_hash),
                ] {
                    let _ = vm.register_helper(id, h);
                }
                if rbpf_compile(name, &mut vm) {
                    let mut f = f.clone();
                    // SAFETY: as in `rbpf_jit`.
                    let _ = unsafe { vm.execute_program_jit(&mut f) };
                }
            }
        }
    }
    if let Some(vm) = rbpf_jit(name, bytes, &frame, want) {
        let mut f = frame.clone();
        g.bench_function(format!("{name}/rbpf_jit"), |b| {
            b.iter(|| {
                RBPF_NOW.fetch_add(1000, Ordering::Relaxed);
                // SAFETY: as in `rbpf_jit`.
                unsafe { vm.execute_program_jit(black_box(&mut f)) }
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jit");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);

    // The fixed cost of a run: `mov r0, 1; exit`, and one `map_lookup_elem`
    // of a 4-byte stack key in a one-entry HASH map.
    let map = Arc::new(
        Map::new(
            ofext_filter::maps::MapDef {
                name: "m".into(),
                map_type: ofext_filter::maps::MapType::Hash,
                key_size: 4,
                value_size: 8,
                max_entries: 16,
                flags: 0,
            },
            1,
        )
        .unwrap(),
    );
    map.update_from_controller(&[1, 0, 0, 0], &[7; 8], 0)
        .unwrap();
    for (name, src) in [
        ("empty", "mov %r0, 1\nexit"),
        (
            "lookup",
            "stw [%r10-4], 1\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 1\nexit",
        ),
    ] {
        let insns = ofext_filter::asm::assemble(src).unwrap();
        let jit = JitProgram::new(&insns, vec![map.clone()]).unwrap();
        let interp = Interpreter::new(&insns, vec![map.clone()]).unwrap();
        let mut env = RunEnv::new(0);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}/jit"), |b| {
            b.iter(|| jit.run_readonly(black_box(&[]), &mut env))
        });
        g.bench_function(format!("{name}/jit_batched"), |b| {
            iter_batched(b, || jit.run_readonly(black_box(&[]), &mut env))
        });
        g.bench_function(format!("{name}/interp"), |b| {
            b.iter(|| interp.run_readonly(black_box(&[]), &mut env))
        });
        let maps = [map.clone()];
        let bytes: &'static [u8] = Box::leak(rbpf_program(&insns, &maps, 0).into_boxed_slice());
        if let Some(vm) = rbpf_jit(name, bytes, &[], 1) {
            g.bench_function(format!("{name}/rbpf_jit"), |b| {
                // SAFETY: as in `rbpf_jit`.
                b.iter(|| unsafe { vm.execute_program_jit(black_box(&mut [])) })
            });
        }
    }

    // 1,000 instructions; and 400, the most rbpf's 4 KiB code buffer holds.
    for n in [1000, 400] {
        let alu = alu_block(n);
        let jit = JitProgram::new(&alu, vec![]).unwrap();
        let interp = Interpreter::new(&alu, vec![]).unwrap();
        let mut env = RunEnv::new(0);
        let want = interp.run_readonly(&[], &mut env).unwrap();
        assert_eq!(jit.run_readonly(&[], &mut env), Ok(want));
        eprintln!(
            "alu{n}: {} slots executed per run, {} bytes of x86 code",
            alu.len(),
            jit.code().len()
        );
        g.throughput(Throughput::Elements(alu.len() as u64));
        g.bench_function(format!("alu{n}/jit"), |b| {
            b.iter(|| jit.run_readonly(black_box(&[]), &mut env))
        });
        g.bench_function(format!("alu{n}/interp"), |b| {
            b.iter(|| interp.run_readonly(black_box(&[]), &mut env))
        });
        let bytes: &'static [u8] = Box::leak(encode_program(&alu).into_boxed_slice());
        let mut vm = rbpf::EbpfVmRaw::new(Some(bytes)).unwrap();
        if rbpf_compile(&format!("alu{n}"), &mut vm) {
            // SAFETY: the block touches no memory.
            assert_eq!(unsafe { vm.execute_program_jit(&mut []) }.unwrap(), want);
            g.bench_function(format!("alu{n}/rbpf_jit"), |b| {
                // SAFETY: as above.
                b.iter(|| unsafe { vm.execute_program_jit(black_box(&mut [])) })
            });
        }
    }

    for name in ["conntrack", "p0f", "p0f_worst", "p0f_data", "ratelimit"] {
        bench_filter(&mut g, name);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
