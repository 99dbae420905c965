//! Differential tests of the x86-64 JIT against the interpreter.
//!
//! - Random verifier-accepted programs (ALU, JMP32, atomics on the stack and
//!   on map values, map helpers on HASH/ARRAY/LRU maps, packet reads behind
//!   length checks, BPF-to-BPF calls; `ofext_filter::jit::difftest`'s
//!   generator) run on random packets in both engines with twin maps: r0,
//!   errors, packets and map contents must agree after every run. The
//!   generator's acceptance rate is checked, so the test cannot pass by
//!   generating programs the verifier refuses.
//! - Random unverified programs (loops, packet stores, out-of-bounds and
//!   misaligned accesses, recursion) in the JIT's checked mode: the same
//!   results and the same errors at the same instruction.
//! - The paper's three filters (`controller-examples/filters/*.o`) through
//!   `Program`, which runs them JIT-compiled, against the interpreter on
//!   realistic frames.
//!
//! Only where there is a JIT (x86-64, System V).
#![cfg(all(target_arch = "x86_64", unix))]

use std::cell::Cell;
use std::sync::Arc;

use ofext_filter::elf;
use ofext_filter::helpers::TimeSource;
use ofext_filter::interp::{Interpreter, RunEnv};
use ofext_filter::jit::difftest::{self, Outcome};
use ofext_filter::jit::{self, JitProgram};
use ofext_filter::maps::Map;
use ofext_filter::program::Program;
use ofext_filter::verifier;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Runs `cases` random byte strings through `make` and `check`; returns
/// (agreed, refused or not loaded).
fn run_cases(cases: u32, make: fn(&[u8]) -> difftest::Case) -> (u32, u32) {
    let agreed = Cell::new(0u32);
    let refused = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&vec(any::<u8>(), 16..2048), |data| {
        let case = make(&data);
        match difftest::check(&case) {
            Ok(Outcome::Agreed { .. }) => agreed.set(agreed.get() + 1),
            Ok(_) => refused.set(refused.get() + 1),
            Err(m) => return Err(TestCaseError::fail(m.to_string())),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    (agreed.get(), refused.get())
}

#[test]
fn verified_programs_agree() {
    let (agreed, refused) = run_cases(1500, difftest::verified_case);
    eprintln!("verified: {agreed} agreed, {refused} refused by the verifier");
    // Shrinking may add refused cases; the generator itself is mostly
    // accepted.
    assert!(agreed >= 1000, "only {agreed} programs were accepted");
}

#[test]
fn unverified_programs_agree_in_checked_mode() {
    let (agreed, not_loaded) = run_cases(1500, difftest::unverified_case);
    eprintln!("unverified: {agreed} agreed, {not_loaded} refused by both loaders");
    assert!(agreed >= 1000, "only {agreed} programs loaded");
}

#[test]
fn generated_programs_exercise_what_they_claim() {
    // The verified generator's output contains every feature the suite is
    // about, in programs the verifier accepts.
    let mut seen = [false; 10];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        let data = difftest::seeded_bytes(&mut seed, 1500);
        let case = difftest::verified_case(&data);
        let Ok(info) = verifier::verify(&case.insns, &case.maps) else {
            continue;
        };
        // Both ways the JIT calls map helpers: directly (every pointer
        // argument on the stack) and through the general trampolines (a
        // key inside a map value).
        if !info.helper_sites.is_empty() {
            let plain = info.helper_sites.iter().all(|s| s.plain_args);
            seen[if plain { 8 } else { 9 }] = true;
        }
        for i in &case.insns {
            let cls = i.class();
            let mut mark = |k: usize| seen[k] = true;
            if cls == 0x06 {
                mark(0); // JMP32
            }
            if cls == 0x03 && i.mode_bits() == 0xc0 {
                mark(1); // atomic
            }
            if i.op == 0x85 && i.src == 0 && (1..=3).contains(&i.imm) {
                mark(2); // map helper
            }
            if i.op == 0x85 && i.src == 1 {
                mark(3); // BPF-to-BPF call
            }
            if cls == 0x01 && i.src == 6 {
                mark(4); // packet read through r6
            }
            if (cls == 0x04 || cls == 0x07) && matches!(i.code(), 0x30 | 0x90) {
                mark(5); // division or modulo
            }
            if i.op == 0x85 && i.imm == 7 {
                mark(6); // prandom
            }
            if cls == 0x07 && i.code() == 0xd0 {
                mark(7); // byte swap
            }
        }
    }
    assert_eq!(seen, [true; 10]);
}

// ---------------------------------------------------------------------------
// The paper's filters
// ---------------------------------------------------------------------------

fn filter(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../controller-examples/filters/{name}.o",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A TCP/IPv4 frame with the given flags, ports and options.
fn tcp4(src: [u8; 4], sport: u16, flags: u8, window: u16, options: &[u8], ttl: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
    let tcp_len = 20 + options.len();
    let total = (20 + tcp_len) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, ttl, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[10, 0, 0, 100]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&80u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x03, 0xe8, 0, 0, 0, 0]);
    f.push(((tcp_len / 4) as u8) << 4);
    f.push(flags);
    f.extend_from_slice(&window.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(options);
    f
}

/// The p0f map's entries for tool signatures of the option layouts
/// `layouts`, each with any IP version, TTL, window, MSS, window scale and
/// quirks.
fn p0f_tool_sigs(layouts: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    use controller_examples::secure_edge::{P0fSig, p0f_table, sig_flags, win_type};
    let any = sig_flags::TOOL | sig_flags::ANY_MSS | sig_flags::ANY_WSCALE | sig_flags::ANY_OLEN;
    let sigs: Vec<P0fSig> = layouts
        .iter()
        .map(|l| P0fSig {
            flags: any,
            ip_ver: 0,
            ttl: (1, 255),
            ip_olen: 0,
            wscale: 0,
            win_type: win_type::ANY,
            win: 0,
            mss: 0,
            quirks: 0,
            quirk_mask: 0,
            layout: l.to_vec(),
            eol_pad: 0,
        })
        .collect();
    p0f_table(&sigs)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v))
        .collect()
}

fn frames() -> Vec<Vec<u8>> {
    let linux_opts = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let mut v = Vec::new();
    for k in 0..40u8 {
        let src = [192, 0, 2, k % 7];
        let flags = [0x02, 0x10, 0x12, 0x18, 0x11, 0x04][usize::from(k) % 6];
        let opts: &[u8] = if k % 3 == 0 { &linux_opts } else { &[] };
        let f = tcp4(
            src,
            1000 + u16::from(k % 5),
            flags,
            64240 - u16::from(k),
            opts,
            64 - k % 3,
        );
        // Whole frames and truncated ones.
        v.push(f.clone());
        v.push(f[..f.len().min(usize::from(k) * 3)].to_vec());
    }
    // Not IPv4.
    let mut arp = vec![0u8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    v.push(arp);
    v
}

#[test]
fn paper_filters_run_jit_compiled_and_agree_with_the_interpreter() {
    for name in ["conntrack", "p0f", "ratelimit"] {
        let elf_bytes = filter(name);
        let prog = Program::load(&elf_bytes, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(prog.jit(), jit::AVAILABLE, "{name}");
        // An interpreter on twin maps, and a JitProgram of its own.
        let obj = elf::load(&elf_bytes).unwrap();
        let info = verifier::verify(&obj.insns, &obj.maps).unwrap();
        let twin = |_: ()| -> Vec<Arc<Map>> {
            obj.maps
                .iter()
                .map(|d| Arc::new(Map::new(d.clone(), 1).unwrap()))
                .collect()
        };
        let (maps_i, maps_j) = (twin(()), twin(()));
        // Controller state in both twins: the rate limiter's configuration
        // (rate 10/s, burst 3), p0f's tool signatures (any option-less SYN;
        // the Linux option layout).
        let setup: Vec<(Vec<u8>, Vec<u8>)> = match name {
            "ratelimit" => {
                let mut cfg = 10u64.to_le_bytes().to_vec();
                cfg.extend_from_slice(&3u64.to_le_bytes());
                vec![(0u32.to_le_bytes().to_vec(), cfg)]
            }
            "p0f" => p0f_tool_sigs(&[&[], &[2, 4, 8, 1, 3]]),
            _ => vec![],
        };
        for (k, v) in &setup {
            for m in [&maps_i[0], &maps_j[0], &prog.maps()[0]] {
                m.update_from_controller(k, v, 0).unwrap();
            }
        }
        let interp = Interpreter::new(&obj.insns, maps_i.clone())
            .unwrap()
            .with_zero_flags_at(&info.zero_flags_at)
            .unwrap();
        let jit = JitProgram::new(&obj.insns, maps_j.clone()).unwrap();
        let (mut ei, mut ej) = (RunEnv::new(0), RunEnv::new(0));
        let mut matches = 0;
        for (k, f) in frames().iter().enumerate() {
            let t = TimeSource::Batch(5_000_000_000 + 3_000_000 * k as u64);
            ei.set_time(t);
            ej.set_time(t);
            let want = interp.run_readonly(f, &mut ei);
            assert_eq!(jit.run_readonly(f, &mut ej), want, "{name} frame {k}");
            if want == Ok(1) {
                matches += 1;
            }
            for (a, b) in maps_i.iter().zip(&maps_j) {
                let (mut x, mut y) = (a.dump(), b.dump());
                x.sort();
                y.sort();
                assert_eq!(x, y, "{name} frame {k}: maps differ");
            }
            // Program (JIT-compiled) never fails on these frames.
            let mut env = RunEnv::new(0);
            env.set_time(t);
            prog.run(f, &mut env);
        }
        assert_eq!(prog.stats().errors, 0, "{name}");
        assert!(
            matches > 0 && matches < frames().len(),
            "{name}: {matches} matches"
        );
        eprintln!("{name}: {matches} matches of {}", frames().len());
    }
}
