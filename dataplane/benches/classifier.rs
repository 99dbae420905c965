//! Classifier and flow-cache lookup costs.
//!
//! - `one_rule`: one exact-match rule (one subtable, one bucket).
//! - `1000_rules_14_masks`: 1000 rules spread over 14 masks typical of
//!   L2–L4 tables (ports, MACs, IPv4 prefixes, transport ports), random
//!   priorities; keys are drawn from the rules (so most hit, at every
//!   depth) plus some that match only the catch-all.
//! - `emc_hit`: the same table behind the exact-match cache, keys repeating.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use dataplane::cache::FlowCache;
use dataplane::classifier::{Classifier, FlowMatch, Rule, Trace};
use dataplane::key::{FieldLoc, FlowKey, field};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn set(m: &mut FlowMatch, f: FieldLoc, v: u64, mask: u64) {
    m.mask.set(f, mask);
    m.value.set(f, v & mask);
}

/// The 14 masks: each a list of (field, mask).
fn masks() -> Vec<Vec<(FieldLoc, u64)>> {
    let all = u64::MAX;
    let ip = (field::ETH_TYPE, all);
    vec![
        vec![(field::IN_PORT, all)],
        vec![(field::ETH_DST, all)],
        vec![(field::IN_PORT, all), (field::ETH_SRC, all)],
        vec![(field::ETH_TYPE, all)],
        vec![ip, (field::IPV4_DST, 0xffff_ff00)],
        vec![ip, (field::IPV4_DST, 0xffff_0000)],
        vec![ip, (field::IPV4_DST, 0xff00_0000)],
        vec![ip, (field::IPV4_SRC, all)],
        vec![ip, (field::IPV4_SRC, all), (field::IPV4_DST, all)],
        vec![ip, (field::IP_PROTO, all), (field::TP_DST, all)],
        vec![ip, (field::IP_PROTO, all), (field::TP_SRC, all)],
        vec![
            ip,
            (field::IP_PROTO, all),
            (field::IPV4_DST, all),
            (field::TP_DST, all),
        ],
        vec![(field::VLAN_VID, 0x1fff)],
        vec![(field::METADATA, 0xff)],
    ]
}

/// A value in a small domain per field, so that keys collide with rules.
fn value(rng: &mut Rng, f: FieldLoc) -> u64 {
    let r = rng.next();
    if f == field::ETH_TYPE {
        0x0800
    } else if f == field::IP_PROTO {
        [6, 17][(r & 1) as usize]
    } else {
        r
    }
}

fn table(n: usize) -> Vec<Arc<Rule<usize, u32>>> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let masks = masks();
    let mut rules: Vec<Arc<Rule<usize, u32>>> = (0..n)
        .map(|i| {
            let mut m = FlowMatch::catch_all();
            for &(f, mask) in &masks[i % masks.len()] {
                set(&mut m, f, value(&mut rng, f), mask);
            }
            Arc::new(Rule {
                priority: 1 + (rng.next() % 1000) as u16,
                m,
                filter: None,
                data: i,
            })
        })
        .collect();
    rules.push(Arc::new(Rule {
        priority: 0,
        m: FlowMatch::catch_all(),
        filter: None,
        data: n,
    }));
    rules
}

fn keys(rules: &[Arc<Rule<usize, u32>>], n: usize) -> Vec<FlowKey> {
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    (0..n)
        .map(|i| {
            let mut k = FlowKey::new();
            if i % 8 != 0 {
                let r = &rules[rng.next() as usize % rules.len()];
                for w in 0..k.w.len() {
                    k.w[w] = r.m.value.w[w] | (rng.next() & !r.m.mask.w[w]);
                }
            } else {
                k.set(field::IN_PORT, rng.next());
            }
            k
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut trace = Trace::new();
    let mut never = |_: &u32| false;

    let mut m = FlowMatch::catch_all();
    set(&mut m, field::IN_PORT, 3, u64::MAX);
    let one = Classifier::build(
        vec![Arc::new(Rule {
            priority: 1,
            m,
            filter: None,
            data: 0usize,
        })],
        1,
    );
    let mut k = FlowKey::new();
    k.set(field::IN_PORT, 3);
    c.bench_function("classifier/one_rule", |b| {
        b.iter(|| {
            one.lookup(black_box(&k), &mut trace, &mut never)
                .map(|r| r.data)
        })
    });

    let rules = table(1000);
    let big = Classifier::build(rules.clone(), 2);
    assert_eq!(big.n_subtables(), 15);
    let ks = keys(&rules, 4096);
    let mut i = 0;
    c.bench_function("classifier/1000_rules_14_masks", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            big.lookup(black_box(&ks[i]), &mut trace, &mut never)
                .map(|r| r.data)
        })
    });

    let mut cache: FlowCache<Option<usize>> = FlowCache::new(8192);
    let hot = &ks[..1024];
    for k in hot {
        cache.classify(&big, k, &mut trace, &mut never, |r| r.map(|r| r.data));
    }
    let mut j = 0;
    c.bench_function("cache/emc_hit", |b| {
        b.iter(|| {
            j = (j + 1) & 1023;
            cache
                .classify(&big, black_box(&hot[j]), &mut trace, &mut never, |r| {
                    r.map(|r| r.data)
                })
                .0
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
