//! `okod demo`: the whole system in one command, with no setup.
//!
//! Starts a switch with two in-memory ports (1 = outside, 2 = a protected
//! inside host) listening for controllers on a loopback port; connects the
//! `secure-edge` example controller to it over TCP, which loads the
//! paper's three filters and installs its flows; then replays a generated
//! trace through the ports and prints what each filter matched, what each
//! flow counted, and the forwarding rate through the filters.
//!
//! The trace (fixed, no randomness): 20 legitimate TCP connections
//! (handshake, data both ways), a SYN flood from hping3 (p0f's tool
//! signature), stray ACKs to the protected host (no connection: conntrack
//! refuses them), one UDP source far over its rate and one under it. Each
//! expectation is checked; the demo exits non-zero if one fails.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use controller_examples::client::{ClientOptions, Connection, Target};
use controller_examples::ofctl::format_flow_stats;
use controller_examples::secure_edge::{self, SecureEdge};
use dataplane::frames::{self, Ip4, Tcp, tcp_flags};
use dataplane::port::mem::{MemConfig, MemHandle};
use dataplane::port::{PortConfig, PortSpec};
use openflow::multipart::{FlowStatsRequest, MultipartReplyBody, MultipartRequestBody};

use crate::config::{FailMode, Settings};
use crate::daemon::Daemon;

/// Options of `okod demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Dataplane workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Frames in the forwarding-rate phase.
    #[arg(long, default_value_t = 200_000)]
    pub packets: usize,
}

const INSIDE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const WAIT: Duration = Duration::from_secs(2);

/// Runs the demo; exit code 0 when every expectation held.
pub async fn run(args: DemoArgs) -> ExitCode {
    match demo(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn demo(args: DemoArgs) -> Res<()> {
    let mut cfg = MemConfig::default();
    cfg.capacity = 4096;
    let mem = PortSpec::Mem(cfg);
    let settings = Settings {
        dpid: 0x0000_0000_0000_0d30,
        ports: vec![
            PortConfig {
                port_no: 1,
                spec: mem.clone(),
            },
            PortConfig {
                port_no: 2,
                spec: mem,
            },
        ],
        controllers: vec![Target::Ptcp {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        }],
        fail_mode: FailMode::Secure,
        workers: args.workers.max(1),
        pin: false,
        tls: None,
        echo_interval: Duration::from_secs(5),
        tables: 254,
    };
    let mut daemon = Daemon::start(&settings).await?;
    let addr = daemon.server.listen_addrs()[0];
    println!(
        "okod demo: switch {:016x} with ports 1 (outside) and 2 (inside, {INSIDE}), {} workers, listening on {addr}",
        settings.dpid, settings.workers
    );
    let conn = Connection::connect(
        &Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        &ClientOptions::default(),
    )
    .await?;
    let plan = SecureEdge::default();
    let loaded = secure_edge::install(&conn, &plan).await?;
    for (name, r) in ["conntrack", "p0f", "ratelimit"].iter().zip(&loaded) {
        println!(
            "  loaded {name:<9} as program {}: {} instructions, {}, {} maps",
            r.prog_id,
            r.n_insns,
            if r.jit != 0 { "JIT" } else { "interpreted" },
            r.maps.len()
        );
    }
    println!(
        "  installed {} flows (ovs-ofctl syntax):",
        plan.flows().len()
    );
    for f in plan.flows() {
        println!("    {f}");
    }
    let mut take = |no| {
        let i = daemon.mem_ports.iter().position(|(n, _)| *n == no)?;
        Some(daemon.mem_ports.swap_remove(i).1)
    };
    let (outside, inside) = (take(1).ok_or("no port 1")?, take(2).ok_or("no port 2")?);
    let packets = args.packets;
    let (report, outside, inside) = tokio::task::spawn_blocking(move || {
        let r = traffic(&outside, &inside);
        (r, outside, inside)
    })
    .await?;
    let mut report = report?;
    // The rate phase sends far above the limit from one source: the
    // controller lifts it first, at run time, through the map.
    let lifted = 1_000_000_000u64;
    let mut cfg = [0u8; 16];
    cfg[..8].copy_from_slice(&lifted.to_le_bytes());
    cfg[8..].copy_from_slice(&lifted.to_le_bytes());
    conn.map_update(plan.prog_ids[2], 0, 0, &[(0u32.to_le_bytes(), cfg)])
        .await?;
    report.lines.push(format!(
        "controller: MAP_UPDATE ratelimit config to {lifted}/s for the rate phase"
    ));
    let rate = tokio::task::spawn_blocking(move || rate_phase(&outside, &inside, packets)).await?;
    report.absorb(rate);

    println!();
    println!("what the filters did:");
    println!("  {:<10} {:>9} {:>9}  rule", "program", "runs", "matched");
    let stats = conn.program_stats(None).await?;
    let rules = [
        "priority 200: forward (handshake step or established)",
        "priority 400: drop (flood tool's SYN signature)",
        "priority 300: drop (source over its rate)",
    ];
    for (name, (id, rule)) in ["conntrack", "p0f", "ratelimit"]
        .iter()
        .zip(plan.prog_ids.iter().zip(rules))
    {
        if let Some(s) = stats.iter().find(|s| s.prog_id == *id) {
            println!("  {name:<10} {:>9} {:>9}  {rule}", s.runs, s.matches);
        }
    }
    println!();
    println!("flows (as ovs-ofctl dump-flows prints them):");
    let parts = conn
        .multipart(MultipartRequestBody::Flow(FlowStatsRequest {
            table_id: 0xff,
            out_port: openflow::port::port_no::ANY,
            out_group: openflow::group::group_id::ANY,
            cookie: 0,
            cookie_mask: 0,
            match_: Default::default(),
        }))
        .await?;
    for p in parts {
        if let MultipartReplyBody::Flow(v) = p.body {
            for f in v {
                println!("{}", format_flow_stats(&f));
            }
        }
    }
    println!();
    println!("trace:");
    for line in &report.lines {
        println!("  {line}");
    }
    println!(
        "forwarding rate through the three filters: {:.2} Mpps ({} frames of an established connection, {:.1} ms; mem ports, harness thread included{})",
        report.mpps,
        packets,
        report.elapsed.as_secs_f64() * 1e3,
        if cfg!(debug_assertions) {
            "; debug build: use --release for real numbers"
        } else {
            ""
        }
    );
    conn.close();
    daemon.shutdown().await;
    if report.failures.is_empty() {
        println!("demo: every expectation held");
        Ok(())
    } else {
        Err(report.failures.join("; ").into())
    }
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failures: Vec<String>,
    mpps: f64,
    elapsed: Duration,
}

impl Report {
    fn expect(&mut self, ok: bool, what: String) {
        if !ok {
            self.failures.push(what.clone());
        }
        self.lines
            .push(format!("{} {what}", if ok { "ok  " } else { "FAIL" }));
    }

    fn absorb(&mut self, other: Report) {
        self.lines.extend(other.lines);
        self.failures.extend(other.failures);
        self.mpps = other.mpps;
        self.elapsed = other.elapsed;
    }
}

fn inject(port: &MemHandle, frame: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !port.inject(frame) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Sends `frame` in on `from` and says whether it came out of `to`.
fn through(from: &MemHandle, to: &MemHandle, frame: &[u8]) -> bool {
    inject(from, frame);
    to.recv_timeout(WAIT).is_some_and(|b| b.data() == frame)
}

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let ip = Ip4 {
        src,
        dst,
        ..Ip4::default()
    };
    frames::tcp4(
        &ip,
        &Tcp {
            sport,
            dport,
            flags,
            window: 64240,
            ..Tcp::default()
        },
        0,
        64,
    )
}

/// Sends frames that should all be dropped, then counts what came out.
fn blast(from: &MemHandle, to: &MemHandle, frames: &[Vec<u8>]) -> usize {
    for f in frames {
        inject(from, f);
    }
    std::thread::sleep(Duration::from_millis(200));
    to.drain().len()
}

fn traffic(outside: &MemHandle, inside: &MemHandle) -> Res<Report> {
    let mut r = Report::default();
    let mut expect = |ok: bool, what: String| r.expect(ok, what);

    // 1. Legitimate connections: handshake, then data both ways.
    let (ack, syn, psh) = (tcp_flags::ACK, tcp_flags::SYN, tcp_flags::PSH);
    let mut delivered = 0;
    let mut sent = 0;
    for c in 0..20u8 {
        let client = Ipv4Addr::new(198, 51, 100, 10 + c);
        let sport = 40000 + u16::from(c);
        let steps: Vec<(bool, u8)> = [(true, syn), (false, syn | ack), (true, ack)]
            .into_iter()
            .chain((0..10).flat_map(|_| [(true, psh | ack), (false, ack)]))
            .collect();
        for (out_to_in, flags) in steps {
            sent += 1;
            let ok = if out_to_in {
                through(outside, inside, &tcp(client, INSIDE, sport, 80, flags))
            } else {
                through(inside, outside, &tcp(INSIDE, client, 80, sport, flags))
            };
            delivered += usize::from(ok);
        }
    }
    expect(
        delivered == sent,
        format!(
            "20 legitimate TCP connections: {delivered} of {sent} packets forwarded (conntrack)"
        ),
    );

    // 2. A SYN flood from hping3: window 512, no options, DF clear.
    let flood: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| {
            let ip = Ip4 {
                src: Ipv4Addr::from(0xcb00_7100 | (i & 0xff)),
                dst: INSIDE,
                df: false,
                id: i as u16,
                ..Ip4::default()
            };
            let t = Tcp {
                sport: 1024 + i as u16,
                dport: 80,
                flags: syn,
                window: 512,
                ..Tcp::default()
            };
            frames::tcp4(&ip, &t, 0, 64)
        })
        .collect();
    let leaked = blast(outside, inside, &flood);
    expect(
        leaked == 0,
        format!("SYN flood (hping3 signature): 2000 SYNs, {leaked} reached the inside host (p0f)"),
    );

    // 3. Stray ACKs of no connection.
    let stray: Vec<Vec<u8>> = (0..500u16)
        .map(|i| {
            tcp(
                Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1),
                INSIDE,
                50000 + i,
                22,
                ack,
            )
        })
        .collect();
    let leaked = blast(outside, inside, &stray);
    expect(
        leaked == 0,
        format!("500 ACKs without a connection: {leaked} reached the inside host (conntrack)"),
    );

    // 4. One source far over its rate (1000/s, burst 100), one under it.
    let noisy = Ip4 {
        src: Ipv4Addr::new(198, 51, 100, 200),
        dst: INSIDE,
        ..Ip4::default()
    };
    let quiet = Ip4 {
        src: Ipv4Addr::new(198, 51, 100, 201),
        ..noisy
    };
    let burst: Vec<Vec<u8>> = (0..3000u16)
        .map(|i| frames::udp4(&noisy, 5000 + i % 100, 53, 0, 64))
        .collect();
    for f in &burst {
        inject(outside, f);
    }
    std::thread::sleep(Duration::from_millis(200));
    let passed = inside.drain().len();
    // The burst takes about a millisecond: the bucket's 100 tokens plus
    // the refill of that time, well under 3000.
    expect(
        (100..1000).contains(&passed),
        format!("UDP source over its rate: {passed} of 3000 passed (ratelimit: burst 100, 1000/s)"),
    );
    let mut q = 0;
    for i in 0..50u16 {
        q += usize::from(through(
            outside,
            inside,
            &frames::udp4(&quiet, 6000 + i, 53, 0, 64),
        ));
        std::thread::sleep(Duration::from_millis(2));
    }
    expect(
        q == 50,
        format!("UDP source under its rate: {q} of 50 passed"),
    );

    Ok(r)
}

/// Data of an established connection, outside to inside, through all three
/// filters (conntrack matches), as fast as the harness can inject.
fn rate_phase(outside: &MemHandle, inside: &MemHandle, packets: usize) -> Report {
    let mut r = Report::default();
    let (ack, psh) = (tcp_flags::ACK, tcp_flags::PSH);
    let client = Ipv4Addr::new(198, 51, 100, 10);
    let frame = tcp(client, INSIDE, 40000, 80, psh | ack);
    let start = Instant::now();
    let mut received = 0usize;
    let mut injected = 0usize;
    while received < packets {
        // At most 512 in flight: the tx link between two workers holds 1024
        // frames, and a full link drops (a worker never waits).
        while injected < packets && injected - received < 512 && outside.inject(&frame) {
            injected += 1;
        }
        match inside.recv_timeout(WAIT) {
            Some(_) => received += 1,
            None => break,
        }
        received += inside.drain().len();
    }
    let elapsed = start.elapsed();
    r.expect(
        received == packets,
        format!("forwarding-rate phase: {received} of {packets} frames forwarded"),
    );
    r.mpps = received as f64 / elapsed.as_secs_f64() / 1e6;
    r.elapsed = elapsed;
    r
}
