//! The classifier and the flow cache against a trivial linear reference.
//!
//! The reference scans the rules by priority (input order among equals) and
//! returns the first whose fields match and whose program, if any, answers
//! yes. The programs here are deterministic fakes keyed by id, some of them
//! stateful (their answer depends on how often they, or any program, ran
//! before), so the classifier and the cache must not only return the same
//! rule as the reference but run exactly the same programs in exactly the
//! same order. The last tests use real programs loaded from ofext-filter's
//! committed objects.

use std::collections::HashMap;
use std::sync::Arc;

use dataplane::cache::{FlowCache, Probe};
use dataplane::classifier::{Classifier, FlowMatch, Rule, Trace};
use dataplane::key::{FieldLoc, FlowKey, field};
use proptest::prelude::*;

/// The fake programs' shared state: one per side of a comparison.
#[derive(Debug, Default)]
struct Progs {
    per_id: HashMap<u32, u64>,
    total: u64,
    log: Vec<u32>,
}

impl Progs {
    /// Program `id` on `key`. Four kinds: a pure function of the key, one
    /// that alternates with its own call count, one that follows the count
    /// of all runs (so the order across programs matters), and (ids 5 and
    /// 6) one that rarely says yes (so chains get long).
    fn run(&mut self, id: u32, key: &FlowKey) -> bool {
        let n = self.per_id.entry(id).or_default();
        *n += 1;
        let mine = *n;
        self.total += 1;
        self.log.push(id);
        if id >= 5 {
            return mine.is_multiple_of(7);
        }
        match id % 3 {
            0 => (key.w[0] ^ key.w[7] ^ u64::from(id))
                .count_ones()
                .is_multiple_of(2),
            1 => mine.is_multiple_of(2),
            _ => (self.total + u64::from(id)).is_multiple_of(3),
        }
    }
}

type R = Rule<usize, u32>;

/// Highest priority (earliest among equals) whose fields match and whose
/// program says yes.
fn reference(rules: &[Arc<R>], key: &FlowKey, progs: &mut Progs) -> Option<usize> {
    let mut order: Vec<&Arc<R>> = rules.iter().collect();
    order.sort_by_key(|r| std::cmp::Reverse(r.priority));
    for r in order {
        if r.m.matches(key) && r.filter.is_none_or(|p| progs.run(p, key)) {
            return Some(r.data);
        }
    }
    None
}

/// Fields the random rules use, with small value domains so that packets
/// hit often.
const FIELDS: [FieldLoc; 7] = [
    field::IN_PORT,
    field::ETH_TYPE,
    field::VLAN_VID,
    field::IPV4_DST,
    field::TP_DST,
    field::METADATA,
    field::IPV6_SRC,
];

fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4, any::<u64>()]
}

fn field_mask() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX),
        Just(0xffu64),
        Just(0xf0u64),
        Just(0x3u64),
        Just(0x1u64),
        any::<u64>(),
    ]
}

#[derive(Debug, Clone)]
struct RuleSpec {
    priority: u16,
    fields: Vec<(usize, u64, u64)>,
    filter: Option<u32>,
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0u16..6,
        prop::collection::vec((0..FIELDS.len(), field_value(), field_mask()), 0..4),
        // Two thirds with a program, so that long chains (past MAX_CHAIN,
        // uncacheable) happen too.
        prop_oneof![
            Just(None),
            (0u32..7).prop_map(Some),
            (0u32..7).prop_map(Some)
        ],
    )
        .prop_map(|(priority, fields, filter)| RuleSpec {
            priority,
            fields,
            filter,
        })
}

/// Mostly programs and few fields: long chains, past `MAX_CHAIN`.
fn dense_rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0u16..6,
        prop::collection::vec((0..FIELDS.len(), 0u64..2, Just(1u64)), 0..2),
        prop_oneof![
            1 => Just(None),
            2 => (0u32..7).prop_map(Some),
            4 => (5u32..7).prop_map(Some),
        ],
    )
        .prop_map(|(priority, fields, filter)| RuleSpec {
            priority,
            fields,
            filter,
        })
}

fn rule_specs() -> impl Strategy<Value = Vec<RuleSpec>> {
    prop_oneof![
        3 => prop::collection::vec(rule_spec(), 0..40),
        1 => prop::collection::vec(dense_rule_spec(), 0..40),
    ]
}

fn set(k: &mut FlowKey, f: FieldLoc, v: u64) {
    if f.bits == 128 {
        // Both halves from one value, so small values repeat often.
        k.set128(f, u128::from(v) << 64 | u128::from(v));
    } else {
        k.set(f, v);
    }
}

fn build_rule(data: usize, s: &RuleSpec) -> Arc<R> {
    let mut m = FlowMatch::catch_all();
    for &(fi, v, mask) in &s.fields {
        let f = FIELDS[fi];
        let mut mk = FlowKey::new();
        set(&mut mk, f, mask);
        let mut vk = FlowKey::new();
        set(&mut vk, f, v);
        // Later duplicates of a field overwrite earlier ones.
        for i in 0..mk.w.len() {
            let cover = if f.bits == 128 {
                if i == f.word as usize || i == f.word as usize + 1 {
                    u64::MAX
                } else {
                    0
                }
            } else if i == f.word as usize {
                f.word_mask()
            } else {
                0
            };
            m.mask.w[i] = (m.mask.w[i] & !cover) | mk.w[i];
            m.value.w[i] = ((m.value.w[i] & !cover) | vk.w[i]) & m.mask.w[i];
        }
    }
    m.filter_prog = s.filter;
    Arc::new(Rule {
        priority: s.priority,
        m,
        filter: s.filter,
        data,
    })
}

/// A packet: either random small values, or a rule's value with the
/// don't-care bits filled from `noise`.
#[derive(Debug, Clone)]
enum PacketSpec {
    Random(Vec<(usize, u64)>),
    FromRule(usize, u64),
}

fn packet_spec() -> impl Strategy<Value = PacketSpec> {
    prop_oneof![
        prop::collection::vec((0..FIELDS.len(), field_value()), 0..6).prop_map(PacketSpec::Random),
        (any::<usize>(), any::<u64>()).prop_map(|(i, n)| PacketSpec::FromRule(i, n)),
    ]
}

fn make_key(p: &PacketSpec, rules: &[Arc<R>]) -> FlowKey {
    let mut k = FlowKey::new();
    match p {
        PacketSpec::Random(fs) => {
            for &(fi, v) in fs {
                set(&mut k, FIELDS[fi], v);
            }
        }
        PacketSpec::FromRule(i, noise) if !rules.is_empty() => {
            let r = &rules[i % rules.len()];
            for w in 0..k.w.len() {
                let n = noise.rotate_left(w as u32 * 7) & 0x0303_0303_0303_0303;
                k.w[w] = r.m.value.w[w] | (n & !r.m.mask.w[w]);
            }
        }
        PacketSpec::FromRule(..) => {}
    }
    k
}

fn build(specs: &[RuleSpec]) -> Vec<Arc<R>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| build_rule(i, s))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Classifier alone: same rule, same program runs, same chain.
    #[test]
    fn classifier_equals_linear_scan(
        specs in rule_specs(),
        packets in prop::collection::vec(packet_spec(), 1..40),
    ) {
        let rules = build(&specs);
        let cls = Classifier::build(rules.clone(), 1);
        let (mut want_p, mut got_p) = (Progs::default(), Progs::default());
        let mut trace = Trace::new();
        for p in &packets {
            let key = make_key(p, &rules);
            let want = reference(&rules, &key, &mut want_p);
            let before = got_p.log.len();
            let got = cls.lookup(&key, &mut trace, &mut |&id| got_p.run(id, &key)).map(|r| r.data);
            prop_assert_eq!(got, want, "key {:?}", key);
            prop_assert_eq!(&got_p.log, &want_p.log);
            // The chain names the rules whose programs ran, in order.
            let chain: Vec<u32> = trace.chain().iter().map(|(rank, _)| cls.rule(rank).unwrap().filter.unwrap()).collect();
            if !trace.chain().overflowed() {
                prop_assert_eq!(&chain[..], &got_p.log[before..]);
            }
        }
    }

    /// Cache in front of the classifier, tiny (evictions and collisions),
    /// packets repeating, and a new snapshot half way: still the reference's
    /// answers and program runs, packet by packet.
    #[test]
    fn cache_equals_linear_scan(
        specs in rule_specs(),
        specs2 in rule_specs(),
        pool in prop::collection::vec(packet_spec(), 1..8),
        seq in prop::collection::vec(any::<prop::sample::Index>(), 1..80),
        capacity in prop_oneof![Just(2usize), Just(4), Just(64)],
    ) {
        let rules1 = build(&specs);
        let rules2 = build(&specs2);
        let mut cls = Classifier::build(rules1.clone(), 1);
        let mut rules = &rules1;
        let mut cache: FlowCache<Option<usize>> = FlowCache::new(capacity);
        let (mut want_p, mut got_p) = (Progs::default(), Progs::default());
        let mut trace = Trace::new();
        let keys1: Vec<FlowKey> = pool.iter().map(|p| make_key(p, &rules1)).collect();
        let keys2: Vec<FlowKey> = pool.iter().map(|p| make_key(p, &rules2)).collect();
        for (n, ix) in seq.iter().enumerate() {
            if n == seq.len() / 2 {
                cls = Classifier::build(rules2.clone(), 2);
                rules = &rules2;
            }
            let keys = if cls.version() == 1 { &keys1 } else { &keys2 };
            let key = keys[ix.index(keys.len())];
            let want = reference(rules, &key, &mut want_p);
            let before = got_p.log.len();
            let (got, _hit) = cache.classify(
                &cls,
                &key,
                &mut trace,
                &mut |&id| got_p.run(id, &key),
                |r| r.map(|r| r.data),
            );
            prop_assert_eq!(got, want, "packet {} key {:?}", n, key);
            prop_assert_eq!(&got_p.log, &want_p.log, "packet {}", n);
            // Hit or miss, the chain is this packet's runs.
            if !trace.chain().overflowed() {
                let chain: Vec<u32> = trace
                    .chain()
                    .iter()
                    .map(|(rank, _)| cls.rule(rank).unwrap().filter.unwrap())
                    .collect();
                prop_assert_eq!(&chain[..], &got_p.log[before..], "packet {}", n);
            }
        }
        let s = cache.stats();
        prop_assert_eq!(s.hits + s.misses + s.chain_mismatches, seq.len() as u64);
    }
}

/// Pure programs: a repeated key is a hit, and a hit runs the chain again.
#[test]
fn cache_hits_rerun_the_chain() {
    let specs = vec![
        RuleSpec {
            priority: 5,
            fields: vec![(0, 1, u64::MAX)],
            filter: Some(3),
        },
        RuleSpec {
            priority: 1,
            fields: vec![],
            filter: None,
        },
    ];
    let rules = build(&specs);
    let cls = Classifier::build(rules.clone(), 7);
    let mut cache: FlowCache<Option<usize>> = FlowCache::new(64);
    let mut trace = Trace::new();
    let mut runs = 0;
    let mut key = FlowKey::new();
    key.set(field::IN_PORT, 1);
    let mut run = |_: &u32| {
        runs += 1;
        false
    };
    let (v, hit) = cache.classify(&cls, &key, &mut trace, &mut run, |r| r.map(|r| r.data));
    assert_eq!((v, hit), (Some(1), false));
    let (v, hit) = cache.classify(&cls, &key, &mut trace, &mut run, |r| r.map(|r| r.data));
    assert_eq!((v, hit), (Some(1), true));
    assert_eq!(runs, 2, "one run per packet, hit or miss");
    // Another version: the entry is stale.
    let cls2 = Classifier::build(rules, 8);
    assert!(matches!(
        cache.probe(&cls2, &key, &mut |_| false),
        Probe::Miss { .. }
    ));
    assert_eq!(cache.stats().hits, 1);
}

fn data_file(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../ofext-filter/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn frame(ethertype: u16, proto: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f[14] = 0x45;
    f[23] = proto;
    f
}

/// A real program (legacy_maps.o's `count_sources`: 1 exactly when the
/// frame has at least 30 bytes) as the filter of the high-priority flow.
#[test]
fn real_program_filters_and_falls_through() {
    use ofext_filter::interp::RunEnv;
    use ofext_filter::program::Program;
    let prog = Arc::new(Program::load(&data_file("legacy_maps.o"), 1).unwrap());
    let rules: Vec<Arc<Rule<&'static str>>> = vec![
        Arc::new(Rule {
            priority: 10,
            m: FlowMatch::catch_all(),
            filter: Some(prog.clone()),
            data: "long",
        }),
        Arc::new(Rule {
            priority: 1,
            m: FlowMatch::catch_all(),
            filter: None,
            data: "short",
        }),
    ];
    let cls = Classifier::build(rules, 1);
    let mut env = RunEnv::new(0);
    let mut trace = Trace::new();
    let long = frame(0x0800, 6);
    for (f, want) in [
        (&long[..], "long"),
        (&long[..20], "short"),
        (&long[..30], "long"),
    ] {
        let hit = cls.lookup(&FlowKey::new(), &mut trace, &mut |p: &Arc<Program>| {
            p.run(f, &mut env)
        });
        assert_eq!(hit.map(|r| r.data), Some(want));
        assert_eq!(trace.chain().len(), 1);
        assert_eq!(trace.chain().get(0), Some((0, want == "long")));
    }
    assert_eq!(prog.stats().runs, 3);
    assert_eq!(prog.stats().matches, 2);
}

/// Oko's stateful-filter caching with a real map: the cached "no" is
/// re-checked on every packet and flips to "yes" once the controller adds
/// the ethertype to the program's map, without running the program twice.
#[test]
fn real_stateful_program_through_the_cache() {
    use ofext_filter::interp::RunEnv;
    use ofext_filter::program::Program;
    let prog = Arc::new(Program::load(&data_file("oko_data.o"), 1).unwrap());
    let rules: Vec<Arc<Rule<&'static str>>> = vec![
        Arc::new(Rule {
            priority: 10,
            m: FlowMatch::catch_all(),
            filter: Some(prog.clone()),
            data: "seen",
        }),
        Arc::new(Rule {
            priority: 1,
            m: FlowMatch::catch_all(),
            filter: None,
            data: "unseen",
        }),
    ];
    let cls = Classifier::build(rules, 1);
    let mut cache: FlowCache<&'static str> = FlowCache::new(16);
    let mut env = RunEnv::new(0);
    let mut trace = Trace::new();
    let f = frame(0x0800, 6);
    let key = FlowKey::new();
    let mut go = |cache: &mut FlowCache<&'static str>, trace: &mut Trace| -> (&'static str, bool) {
        cache.classify(
            &cls,
            &key,
            trace,
            &mut |p: &Arc<Program>| p.run(&f, &mut env),
            |r| r.map_or("none", |r| r.data),
        )
    };
    assert_eq!(go(&mut cache, &mut trace), ("unseen", false));
    assert_eq!(go(&mut cache, &mut trace), ("unseen", true));
    let seen = prog.maps().iter().find(|m| m.def().name == "seen").unwrap();
    seen.update_from_controller(&[0x08, 0x00], &[1, 0, 0, 0], 0)
        .unwrap();
    assert_eq!(go(&mut cache, &mut trace), ("seen", false));
    assert_eq!(cache.stats().chain_mismatches, 1);
    assert_eq!(go(&mut cache, &mut trace), ("seen", true));
    assert_eq!(prog.stats().runs, 4, "exactly one run per packet");
}
