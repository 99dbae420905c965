//! Replay benchmark: a synthetic trace of 64-byte frames (generated in
//! memory from a fixed seed) replayed through one pinned worker into a null
//! sink, like OVS-DPDK's pcap PMD → null PMD run.
//!
//! The `mem` port copies each frame into a buffer of the worker's pool as a
//! NIC would; the null sink touches each frame it is given and frees it. The
//! worker is the real one (`worker::Dataplane`): batches of 32, snapshot
//! check, batch clock, per-table exact-match cache, classifier, actions.
//!
//! Each scenario warms up for 1 s, then takes 5 samples of 1 s each and
//! prints the median in Mpps and in cycles per packet (the nominal clock of
//! `/proc/cpuinfo`'s "cpu MHz" divided by the packet rate). A second line
//! gives the same per second the worker thread actually spent on a CPU
//! (from its schedstat): on a machine shared with other jobs the wall-clock
//! rate also measures how often the worker was descheduled. A third gives
//! the 90th percentile of the rate over 2 ms windows, which on a busy
//! machine approximates the rate of an undisturbed worker.
//!
//! The `conntrack` and `ratelimit` scenarios put one of the paper's filters
//! in front of the 1k-flows rule (a higher-priority copy of it with the
//! filter as a match field), so every packet also runs the filter, as in
//! the paper's evaluation; the difference in time per packet with the plain
//! 1k-flows scenario is the filter's cost inside the switch (JIT, epoch
//! pinned per batch, per-worker statistics). The conntrack table is filled
//! with the trace's connections first, so every packet is a known one.
//!
//! Run: `cargo bench -p dataplane --bench replay [-- SCENARIO...]`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::frames::{self, Ip4, Tcp};
use dataplane::pipeline::{FlowSpec, Snapshot};
use dataplane::port::Port;
use dataplane::port::mem::{MemConfig, MemPort};
use dataplane::worker::{Dataplane, DataplaneConfig};
use ofext_filter::program::Program;
use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::oxm::{Match, Oxm};

/// splitmix64: a fixed-seed generator for the trace and the rule set.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn fwd(priority: u16, fields: Vec<Oxm>) -> FlowSpec {
    FlowSpec {
        priority,
        m: Match { fields },
        insns: vec![Instruction::ApplyActions(vec![Action::Output {
            port: 2,
            max_len: 0,
        }])],
        ..FlowSpec::default()
    }
}

/// `n` distinct TCP flows to 10.0.0.2 (or, with `random_dst`, anywhere in
/// 10/8), 64-byte frames.
fn trace(n: usize, random_dst: bool, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            let ip = Ip4 {
                src: Ipv4Addr::from(0x0b00_0000 | (i as u32 & 0x00ff_ffff)),
                dst: if random_dst {
                    Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff))
                } else {
                    Ipv4Addr::new(10, 0, 0, 2)
                },
                ..Ip4::default()
            };
            let tcp = Tcp {
                sport: 1024 + (r >> 32) as u16 % 60000,
                dport: [80, 443, 22, 53, 8080][(r >> 48) as usize % 5],
                ..Tcp::default()
            };
            frames::tcp4(&ip, &tcp, 0, 64)
        })
        .collect()
}

fn ipv4_prefix(v: u32, len: u32) -> (Ipv4Addr, Option<Ipv4Addr>) {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (
        Ipv4Addr::from(v & mask),
        (len < 32).then(|| Ipv4Addr::from(mask)),
    )
}

/// 1,000 ACL rules over 14 distinct masks (source / destination prefixes,
/// protocol, destination port), random values in 10/8 from the seed, plus a
/// catch-all.
fn acl(rng: &mut Rng) -> Vec<FlowSpec> {
    // (src prefix, dst prefix, with tp_dst)
    const MASKS: [(u32, u32, bool); 14] = [
        (8, 0, false),
        (16, 0, false),
        (24, 0, false),
        (0, 8, false),
        (0, 16, false),
        (0, 24, false),
        (0, 32, false),
        (16, 16, false),
        (24, 24, false),
        (8, 24, true),
        (0, 16, true),
        (0, 0, true),
        (16, 0, true),
        (24, 32, true),
    ];
    let mut rules = Vec::with_capacity(1001);
    for i in 0..1000 {
        let (sp, dp, port) = MASKS[i % MASKS.len()];
        let mut fields = vec![Oxm::EthType(0x0800)];
        if sp > 0 {
            let (value, mask) = ipv4_prefix(0x0b00_0000 | rng.next() as u32 & 0x00ff_ffff, sp);
            fields.push(Oxm::Ipv4Src { value, mask });
        }
        if dp > 0 {
            let (value, mask) = ipv4_prefix(0x0a00_0000 | rng.next() as u32 & 0x00ff_ffff, dp);
            fields.push(Oxm::Ipv4Dst { value, mask });
        }
        if port {
            fields.push(Oxm::IpProto(6));
            fields.push(Oxm::TcpDst([80, 443, 22, 25][rng.next() as usize % 4]));
        }
        rules.push(fwd(100 + (rng.next() % 1000) as u16, fields));
    }
    rules.push(fwd(0, vec![]));
    rules
}

struct Scenario {
    name: &'static str,
    target_mpps: f64,
    flows: Vec<FlowSpec>,
    trace: Vec<Vec<u8>>,
    /// The filter program every packet runs, if any.
    filter: Option<Arc<Program>>,
}

/// One of the paper's filters (`controller-examples/filters/NAME.o`).
fn paper_filter(name: &str) -> Arc<Program> {
    let path = format!(
        "{}/../controller-examples/filters/{name}.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Arc::new(Program::load(&elf, 1).expect("the filter loads"))
}

/// The one-rule table with `prog` in front: the same match plus the filter
/// at a higher priority, both forwarding, so every packet runs the filter
/// and is forwarded whatever it answers.
fn filtered(prog: Arc<Program>, rule: Vec<FlowSpec>) -> Vec<FlowSpec> {
    let mut f = rule[0].clone();
    f.priority += 10;
    f.m.fields.push(ofext_filter::wire::filter_prog_oxm(1));
    f.filter = Some(prog);
    let mut flows = rule;
    flows.push(f);
    flows
}

/// `conntrack.c`'s key (`struct ct_key`) and ESTABLISHED entry for each
/// IPv4 TCP frame of `trace`, as the controller would install them: the
/// benchmark then measures the filter's common case, a packet of a known
/// connection.
fn established(trace: &[Vec<u8>], prog: &Program) {
    for f in trace {
        // Ethernet (14) + IPv4 without options (20): addresses at 26 and
        // 30, ports at 34 and 36, raw bytes as the filter loads them.
        let word = |at: usize| u64::from(u32::from_le_bytes(f[at..at + 4].try_into().unwrap()));
        let port = |at: usize| u16::from_le_bytes([f[at], f[at + 1]]);
        let (s, d, sp, dp) = (word(26), word(30), port(34), port(36));
        let ((a, ap), (b, bp)) = if (s, sp) < (d, dp) {
            ((s, sp), (d, dp))
        } else {
            ((d, dp), (s, sp))
        };
        let mut key = Vec::with_capacity(40);
        for w in [a, 0, b, 0] {
            key.extend_from_slice(&w.to_le_bytes());
        }
        key.extend_from_slice(&ap.to_le_bytes());
        key.extend_from_slice(&bp.to_le_bytes());
        key.extend_from_slice(&[4, 6, 0, 0]);
        // state ESTABLISHED (3), initiator a, no FIN.
        prog.maps()[0]
            .update_from_controller(&key, &[3, 0, 0, 0, 0, 0, 0, 0], 0)
            .expect("the conntrack table takes the flow");
    }
}

fn scenarios(only: &[String]) -> Vec<Scenario> {
    let mut rng = Rng(0x0c0f_fee0);
    let one_rule = || {
        vec![fwd(
            10,
            vec![
                Oxm::EthType(0x0800),
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(10, 0, 0, 2),
                    mask: None,
                },
            ],
        )]
    };
    let want = |n: &str| only.is_empty() || only.iter().any(|o| n.contains(o.as_str()));
    let mut v = Vec::new();
    if want("1-flow") {
        v.push(Scenario {
            name: "1-flow",
            target_mpps: 22.0,
            flows: one_rule(),
            trace: trace(1, false, &mut rng),
            filter: None,
        });
    }
    if want("1k-flows") {
        v.push(Scenario {
            name: "1k-flows",
            target_mpps: 15.0,
            flows: one_rule(),
            trace: trace(1000, false, &mut rng),
            filter: None,
        });
    }
    if want("100k-flows") {
        v.push(Scenario {
            name: "100k-flows",
            target_mpps: 10.0,
            flows: one_rule(),
            trace: trace(100_000, false, &mut rng),
            filter: None,
        });
    }
    if want("conntrack") {
        // Every packet of 1k established connections runs the stateful
        // firewall (a 40-byte-key LRU_HASH lookup) and matches.
        let trace = trace(1000, false, &mut rng);
        let prog = paper_filter("conntrack");
        established(&trace, &prog);
        v.push(Scenario {
            name: "1k-flows-conntrack",
            target_mpps: 0.0,
            flows: filtered(prog.clone(), one_rule()),
            trace,
            filter: Some(prog),
        });
    }
    if want("ratelimit") {
        // 1k sources under a generous rate: every packet refills and takes
        // a token from its source's bucket.
        let prog = paper_filter("ratelimit");
        let mut cfg = 1_000_000_000u64.to_le_bytes().to_vec();
        cfg.extend_from_slice(&1_000_000u64.to_le_bytes());
        prog.maps()[0]
            .update_from_controller(&0u32.to_le_bytes(), &cfg, 0)
            .expect("the configuration fits");
        v.push(Scenario {
            name: "1k-flows-ratelimit",
            target_mpps: 0.0,
            flows: filtered(prog.clone(), one_rule()),
            trace: trace(1000, false, &mut rng),
            filter: Some(prog),
        });
    }
    if want("acl-1000") {
        let flows = acl(&mut rng);
        v.push(Scenario {
            name: "acl-1000-rules-14-masks-100k-flows",
            target_mpps: 4.0,
            flows,
            trace: trace(100_000, true, &mut rng),
            filter: None,
        });
    }
    v
}

fn cpu_mhz() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// Nanoseconds the worker threads (`okod-worker-*`) have spent on a CPU so
/// far (the first field of each thread's `/proc/self/task/*/schedstat`).
///
/// On a machine shared with other jobs the worker is sometimes descheduled,
/// and packets per wall-clock second then measure the neighbours as much as
/// the dataplane; packets per on-CPU second do not (they still include
/// cache interference). `None` without procfs or schedstats.
fn worker_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    let mut found = false;
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = t.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("okod-worker") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        found = true;
    }
    found.then_some(total)
}

/// The short windows the rate is also sampled in: on a shared machine most
/// of them see the worker running undisturbed.
const WINDOW: Duration = Duration::from_millis(2);

fn run(s: Scenario, mhz: Option<f64>) {
    let (mut rx, _h1) = MemPort::new("replay", &MemConfig::default());
    rx.set_replay(&s.trace, None);
    let (mut tx, _h2) = MemPort::new("null", &MemConfig::default());
    tx.set_null_sink();
    let ports = vec![(1, Port::Mem(rx)), (2, Port::Mem(tx))];
    let (snap, _) = Snapshot::from_flows(1, 1, 1, &[1, 2], s.flows).expect("valid flows");
    let cfg = DataplaneConfig {
        n_workers: 1,
        pin: true,
        ..DataplaneConfig::default()
    };
    let dp = Dataplane::start(&cfg, ports, snap).expect("dataplane starts");
    let rx_stats = dp.ports()[0].stats.clone();
    let tx_stats = dp.ports()[1].stats.clone();
    std::thread::sleep(Duration::from_secs(1));
    let mut rates = Vec::with_capacity(5);
    let mut cpu_rates = Vec::with_capacity(5);
    let mut on_cpu = Vec::with_capacity(5);
    let mut windows = Vec::with_capacity(5 * 600);
    for _ in 0..5 {
        let (p0, t0, c0) = (
            rx_stats.snapshot().rx_packets,
            Instant::now(),
            worker_cpu_ns(),
        );
        let (mut wp, mut wt) = (p0, t0);
        while wt - t0 < Duration::from_secs(1) {
            std::thread::sleep(WINDOW);
            let (p, t) = (rx_stats.snapshot().rx_packets, Instant::now());
            windows.push((p - wp) as f64 / (t - wt).as_secs_f64());
            (wp, wt) = (p, t);
        }
        let (p1, t1, c1) = (
            rx_stats.snapshot().rx_packets,
            Instant::now(),
            worker_cpu_ns(),
        );
        let wall = (t1 - t0).as_secs_f64();
        rates.push((p1 - p0) as f64 / wall);
        if let (Some(c0), Some(c1)) = (c0, c1)
            && c1 > c0
        {
            let cpu = (c1 - c0) as f64 / 1e9;
            cpu_rates.push((p1 - p0) as f64 / cpu);
            on_cpu.push(cpu / wall);
        }
    }
    let st = dp.stats();
    dp.shutdown();
    rates.sort_by(f64::total_cmp);
    cpu_rates.sort_by(f64::total_cmp);
    on_cpu.sort_by(f64::total_cmp);
    windows.sort_by(f64::total_cmp);
    let median = rates[2];
    let c = tx_stats.snapshot();
    let forwarded = c.tx_packets as f64 / rx_stats.snapshot().rx_packets.max(1) as f64;
    let cycles = mhz.map_or("?".to_owned(), |m| format!("{:.0}", m * 1e6 / median));
    println!(
        "{:<40} {:>7.2} Mpps  {:>5} cycles/pkt  ({}samples {:.2}..{:.2}; forwarded {:.1}%, cache hits {:.1}%)",
        s.name,
        median / 1e6,
        cycles,
        if s.target_mpps > 0.0 {
            format!("target >= {:.0} Mpps; ", s.target_mpps)
        } else {
            String::new()
        },
        rates[0] / 1e6,
        rates[4] / 1e6,
        forwarded * 100.0,
        100.0 * st.cache_hits as f64 / (st.cache_hits + st.cache_misses).max(1) as f64,
    );
    if let Some(p) = &s.filter {
        let st = p.stats();
        println!(
            "{:<40} filter {}: {} runs, {:.1}% matched, {} errors",
            "",
            p.name(),
            st.runs,
            100.0 * st.matches as f64 / st.runs.max(1) as f64,
            st.errors,
        );
    }
    if let Some(&peak) = windows.get(windows.len() * 9 / 10) {
        let cycles = mhz.map_or("?".to_owned(), |c| format!("{:.0}", c * 1e6 / peak));
        println!(
            "{:<40} {:>7.2} Mpps  {:>5} cycles/pkt  90th percentile of {} windows of {} ms (the rate while not descheduled)",
            "",
            peak / 1e6,
            cycles,
            windows.len(),
            WINDOW.as_millis(),
        );
    }
    if cpu_rates.len() == 5 {
        let m = cpu_rates[2];
        let cycles = mhz.map_or("?".to_owned(), |c| format!("{:.0}", c * 1e6 / m));
        println!(
            "{:<40} {:>7.2} Mpps  {:>5} cycles/pkt  per on-CPU second of the worker (samples {:.2}..{:.2}; on CPU {:.0}%..{:.0}% of the time)",
            "",
            m / 1e6,
            cycles,
            cpu_rates[0] / 1e6,
            cpu_rates[4] / 1e6,
            on_cpu[0] * 100.0,
            on_cpu[4] * 100.0,
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else not starting with `-`
    // selects scenarios by name.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mhz = cpu_mhz();
    // The worker is pinned to the first core; keep the sampling thread off
    // it where there is another.
    if let Some(c) = core_affinity::get_core_ids().and_then(|c| c.get(1).copied()) {
        core_affinity::set_for_current(c);
    }
    println!(
        "replay: 64-byte frames, one pinned worker, mem rx (copy) -> null sink; cpu {} MHz",
        mhz.map_or("?".to_owned(), |m| format!("{m:.0}"))
    );
    for s in scenarios(&only) {
        run(s, mhz);
    }
}
