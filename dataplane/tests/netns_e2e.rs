//! End to end through the kernel: `ping` between two network namespaces
//! whose only path to each other is the dataplane.
//!
//! Needs root (CI runs as root), `ip` and `ping`; without them the test
//! prints why and returns. Topology, created here with names carrying the
//! pid (parallel or leftover runs do not collide) and torn down by guards
//! even when an assertion fails:
//!
//! ```text
//!   oko-e2e-a-<pid>          root ns                          oko-e2e-b-<pid>
//!   okeh<pid>a  ──veth──  okep<pid>a    okep<pid>b  ──veth──  okeh<pid>b
//!   10.199.0.1/24         port 1        port 2                10.199.0.2/24
//!                         worker 0 ──── worker 1
//!                             Dataplane (afpacket)
//! ```
//!
//! The ports sit on different workers, so every forwarded frame crosses a tx
//! link between workers. IPv6 is disabled on all four veth ends before they
//! come up and the root-namespace ends have no addresses, so the only
//! traffic is the ARP and ICMP that `ping` causes: the IPv4 flows' counters
//! and the program's run count are checked exactly (the ARP flows only for
//! at least one frame each, as a neighbour probe may add some).
//!
//! Three snapshots, each acknowledged by every worker ([`Dataplane::wait_acked`])
//! before the next ping, so the ping runs against exactly that state:
//!
//! 1. ARP and IPv4 forwarded 1 ↔ 2: ping succeeds, every request answered.
//! 2. ARP forwarded, IPv4 dropped: ping gets no answer, and the drop flow
//!    counted the requests.
//! 3. `priority=20, ip, filter_prog=7 → forward` over `priority=10, ip →
//!    drop`, where program 7 (`tests/data/min_len.o`) matches frames of at
//!    least 100 bytes: `ping -s 100` (142-byte frames) succeeds, the default
//!    `ping -s 56` (98-byte frames) fails, and the program ran for every
//!    IPv4 frame. The second ping has the same flow key as the first, so it
//!    also shows a cached result being refused when the program's answer
//!    changes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::counters::FlowCounters;
use dataplane::pipeline::{FlowSpec, Snapshot};
use dataplane::port::{Port, PortCounters, PortSpec};
use dataplane::worker::{Dataplane, DataplaneConfig};
use ofext_filter::program::Program;
use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::oxm::{Match, Oxm};

const ADDR_A: &str = "10.199.0.1/24";
const ADDR_B: &str = "10.199.0.2/24";
const PEER_B: &str = "10.199.0.2";
const ETH_ARP: u16 = 0x0806;
const ETH_IP: u16 = 0x0800;
/// The FILTER_PROG id the flows of phase 3 use.
const PROG_ID: u32 = 7;
/// Echo requests per ping run.
const COUNT: u32 = 3;
/// Frame sizes of `ping -s 100` and `ping -s 56`: payload, 8 bytes of ICMP,
/// 20 of IPv4, 14 of Ethernet.
const BIG: (u16, u64) = (100, 142);
const SMALL: (u16, u64) = (56, 98);
const WAIT: Duration = Duration::from_secs(5);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `tool -V` runs (both `ip` and iputils `ping` answer it).
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes what it names when dropped, assertion failure or not.
enum Guard {
    Netns(String),
    Link(String),
}

impl Guard {
    fn args(&self) -> [&str; 3] {
        match self {
            Guard::Netns(n) => ["netns", "del", n],
            Guard::Link(l) => ["link", "del", l],
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end in it and so its
        // peer; the link guard is for a failure between the two steps.
        let _ = Command::new("ip").args(self.args()).output();
    }
}

/// Runs `f` on a thread that has entered namespace `ns` (setns changes only
/// the calling thread, so the test's own threads stay where they are).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: `file` is a namespace file; setns affects this thread only.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

/// Turns IPv6 off on `ifname` (in namespace `ns`, or the root namespace),
/// so no router solicitation, MLD report or DAD probe crosses the switch.
/// `/proc/sys/net` shows the namespace of the thread that opens it.
fn disable_ipv6(ns: Option<&str>, ifname: &str) {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        // A kernel without IPv6 sends none.
        return;
    }
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    let write = move || std::fs::write(&path, "1").map_err(|e| format!("{path}: {e}"));
    let r = match ns {
        Some(ns) => in_netns(ns, write),
        None => write(),
    };
    r.expect("disable IPv6");
}

/// Two namespaces, each holding one end of a veth pair with an address;
/// the other ends stay in the root namespace, up, without addresses.
struct Topology {
    ns_a: String,
    ns_b: String,
    /// Root-namespace ends: ports 1 and 2.
    port_a: String,
    port_b: String,
    // Dropped last-to-first: links, then namespaces.
    _guards: Vec<Guard>,
}

impl Topology {
    fn new() -> Self {
        let pid = std::process::id();
        let ns_a = format!("oko-e2e-a-{pid}");
        let ns_b = format!("oko-e2e-b-{pid}");
        let (port_a, host_a) = (format!("okep{pid}a"), format!("okeh{pid}a"));
        let (port_b, host_b) = (format!("okep{pid}b"), format!("okeh{pid}b"));
        assert!(port_a.len() < 16, "interface name too long: {port_a}");
        let mut guards = Vec::new();
        for (ns, port, host, addr) in [
            (&ns_a, &port_a, &host_a, ADDR_A),
            (&ns_b, &port_b, &host_b, ADDR_B),
        ] {
            // Leftovers of an earlier run that had our pid and was killed
            // before its guards ran.
            drop(Guard::Netns(ns.clone()));
            drop(Guard::Link(port.clone()));
            ip(&["netns", "add", ns]);
            guards.push(Guard::Netns(ns.clone()));
            ip(&[
                "link", "add", port, "type", "veth", "peer", "name", host, "netns", ns,
            ]);
            guards.push(Guard::Link(port.clone()));
            disable_ipv6(None, port);
            disable_ipv6(Some(ns), host);
            ip(&["-n", ns, "addr", "add", addr, "dev", host]);
            ip(&["-n", ns, "link", "set", host, "up"]);
            ip(&["link", "set", port, "up"]);
        }
        guards.reverse();
        Topology {
            ns_a,
            ns_b,
            port_a,
            port_b,
            _guards: guards,
        }
    }
}

/// The outcome of one `ping` run.
struct Ping {
    /// Exit status: 0 with at least one reply, 1 with none, 2 on errors.
    code: Option<i32>,
    /// Replies, from the summary line.
    received: Option<u32>,
    /// Everything it printed, for assertion messages.
    output: String,
}

/// `ping -c COUNT -W 1 -s size 10.199.0.2` from namespace `ns`, with 0.2 s
/// between requests (root may go below the default 1 s) to keep the test
/// short.
fn ping(ns: &str, size: u16) -> Ping {
    let (count, size) = (COUNT.to_string(), size.to_string());
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-n", "-q"])
        .args(["-c", &count, "-i", "0.2", "-W", "1", "-s", &size, PEER_B])
        .output()
        .expect("run ping");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "3 packets transmitted, 3 received, 0% packet loss, time 401ms"
    let received = output.lines().find_map(|l| {
        let (_, rest) = l.split_once("packets transmitted, ")?;
        rest.split_whitespace().next()?.parse().ok()
    });
    Ping {
        code: out.status.code(),
        received,
        output,
    }
}

fn assert_ping_ok(ns: &str, size: u16, what: &str) {
    let p = ping(ns, size);
    assert!(
        p.code == Some(0) && p.received == Some(COUNT),
        "{what}: ping -s {size} should get every reply; exit {:?}, replies {:?}:\n{}",
        p.code,
        p.received,
        p.output
    );
}

fn assert_ping_fails(ns: &str, size: u16, what: &str) {
    let p = ping(ns, size);
    assert!(
        p.code == Some(1) && p.received == Some(0),
        "{what}: ping -s {size} should get no reply; exit {:?}, replies {:?}:\n{}",
        p.code,
        p.received,
        p.output
    );
}

fn flow(priority: u16, fields: Vec<Oxm>, actions: Vec<Action>) -> FlowSpec {
    FlowSpec {
        priority,
        m: Match { fields },
        insns: vec![Instruction::ApplyActions(actions)],
        ..FlowSpec::default()
    }
}

fn out(port: u32) -> Action {
    Action::Output { port, max_len: 0 }
}

/// `in_port=from, eth_type=eth → output:to`.
fn forward(priority: u16, eth: u16, from: u32, to: u32) -> FlowSpec {
    flow(
        priority,
        vec![Oxm::InPort(from), Oxm::EthType(eth)],
        vec![out(to)],
    )
}

/// Publishes `flows` as `version` and waits until every worker runs it.
fn publish(dp: &Dataplane, version: u64, flows: Vec<FlowSpec>) -> Vec<Arc<FlowCounters>> {
    let (snap, counters) =
        Snapshot::from_flows(version, 1, dp.n_workers(), &[1, 2], flows).expect("valid flows");
    dp.publish(snap);
    assert!(
        dp.wait_acked(version, WAIT),
        "workers acknowledge version {version}"
    );
    counters
}

fn port_counters(dp: &Dataplane) -> [PortCounters; 2] {
    [0, 1].map(|i| dp.ports()[i].stats.snapshot())
}

fn open(ifname: &str) -> Port {
    let spec: PortSpec = format!("afpacket:{ifname}").parse().expect("port spec");
    Port::open(&spec, ifname).expect("open afpacket port").0
}

#[test]
fn ping_through_the_dataplane() {
    if !is_root() {
        eprintln!("note: netns_e2e needs root (CAP_NET_ADMIN, CAP_NET_RAW); skipped");
        return;
    }
    for tool in ["ip", "ping"] {
        if !have(tool) {
            eprintln!("note: netns_e2e needs `{tool}` (iproute2, iputils-ping); skipped");
            return;
        }
    }
    let started = Instant::now();
    let t = Topology::new();
    let prog_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/min_len.o");
    let prog = Arc::new(
        Program::load(&std::fs::read(prog_path).expect("read min_len.o"), 2)
            .expect("load min_len.o"),
    );

    let cfg = DataplaneConfig {
        n_workers: 2,
        pin: false,
        ..DataplaneConfig::default()
    };
    let ports = vec![(1, open(&t.port_a)), (2, open(&t.port_b))];
    let dp = Dataplane::start(&cfg, ports, Snapshot::empty(1, 1, 2, &[1, 2])).expect("start");
    assert_ne!(
        dp.ports()[0].worker,
        dp.ports()[1].worker,
        "the ports must be on different workers"
    );
    // Both veth pairs have carrier once both ends are up; the workers look
    // every 100 ms.
    let deadline = Instant::now() + WAIT;
    while !dp.ports().iter().all(|p| p.stats.link_up()) {
        assert!(Instant::now() < deadline, "links never came up");
        std::thread::sleep(Duration::from_millis(10));
    }

    // 1. A wire: ARP and IPv4 forwarded both ways.
    let c = publish(
        &dp,
        2,
        vec![
            forward(10, ETH_ARP, 1, 2),
            forward(10, ETH_ARP, 2, 1),
            forward(10, ETH_IP, 1, 2),
            forward(10, ETH_IP, 2, 1),
        ],
    );
    assert_ping_ok(&t.ns_a, SMALL.0, "forwarding");
    let (ip_ab, ip_ba) = (c[2].totals(), c[3].totals());
    assert_eq!(ip_ab.packet_count, u64::from(COUNT), "echo requests");
    assert_eq!(ip_ba.packet_count, u64::from(COUNT), "echo replies");
    assert_eq!(ip_ab.byte_count, u64::from(COUNT) * SMALL.1);
    // At least A's ARP request and B's answer.
    assert!(c[0].totals().packet_count >= 1 && c[1].totals().packet_count >= 1);
    let [p1, p2] = port_counters(&dp);
    let n = u64::from(COUNT) + 1;
    assert!(p1.rx_packets >= n && p1.tx_packets >= n, "port 1: {p1:?}");
    assert!(p2.rx_packets >= n && p2.tx_packets >= n, "port 2: {p2:?}");
    let b = u64::from(COUNT) * SMALL.1;
    assert!(p1.rx_bytes > b && p2.tx_bytes > b, "ARP and ICMP bytes");

    // 2. IPv4 dropped, ARP still forwarded.
    let c = publish(
        &dp,
        3,
        vec![
            forward(10, ETH_ARP, 1, 2),
            forward(10, ETH_ARP, 2, 1),
            flow(10, vec![Oxm::EthType(ETH_IP)], vec![]),
        ],
    );
    assert_ping_fails(&t.ns_a, SMALL.0, "IPv4 drop flow");
    let dropped = c[2].totals();
    assert_eq!(dropped.packet_count, u64::from(COUNT), "requests dropped");
    assert_eq!(dropped.byte_count, u64::from(COUNT) * SMALL.1);
    let [q1, _] = port_counters(&dp);
    assert!(q1.rx_packets >= p1.rx_packets + u64::from(COUNT), "{q1:?}");

    // 3. The program decides per packet: frames of at least 100 bytes take
    //    the priority-20 flows, the others fall through to the drop flow.
    let filtered = |from, to| {
        let mut f = forward(20, ETH_IP, from, to);
        f.m.fields
            .push(ofext_filter::wire::filter_prog_oxm(PROG_ID));
        f.filter = Some(prog.clone());
        f
    };
    let flows = vec![
        forward(30, ETH_ARP, 1, 2),
        forward(30, ETH_ARP, 2, 1),
        filtered(1, 2),
        filtered(2, 1),
        flow(10, vec![Oxm::EthType(ETH_IP)], vec![]),
    ];
    let c = publish(&dp, 4, flows);
    let runs0 = prog.stats().runs;
    assert_ping_ok(&t.ns_a, BIG.0, "program answers 1");
    let runs1 = prog.stats().runs;
    let (f_ab, f_ba) = (c[2].totals(), c[3].totals());
    assert_eq!(f_ab.packet_count, u64::from(COUNT), "requests via program");
    assert_eq!(f_ba.packet_count, u64::from(COUNT), "replies via program");
    assert_eq!(
        f_ab.byte_count + f_ba.byte_count,
        2 * u64::from(COUNT) * BIG.1
    );
    assert_eq!(c[4].totals().packet_count, 0, "nothing dropped yet");
    // Once per IPv4 frame, cache or not.
    assert_eq!(runs1 - runs0, 2 * u64::from(COUNT), "program runs");

    assert_ping_fails(&t.ns_a, SMALL.0, "program answers 0");
    let runs2 = prog.stats().runs;
    let dropped = c[4].totals();
    assert_eq!(dropped.packet_count, u64::from(COUNT), "requests dropped");
    assert_eq!(dropped.byte_count, u64::from(COUNT) * SMALL.1);
    assert_eq!(c[2].totals(), f_ab, "the priority-20 flow took no more");
    assert_eq!(runs2 - runs1, u64::from(COUNT), "program runs");
    let s = prog.stats();
    assert_eq!(s.matches, 2 * u64::from(COUNT));
    assert_eq!(s.errors, 0);

    // Nothing lost on the way: no port errors or drops, nothing dropped on
    // the tx links between the workers.
    for (i, p) in port_counters(&dp).iter().enumerate() {
        assert_eq!(
            (p.rx_dropped, p.rx_errors, p.tx_dropped, p.tx_errors),
            (0, 0, 0, 0),
            "port {}: {p:?}",
            i + 1
        );
    }
    let s = dp.stats();
    assert_eq!(s.link_drops, 0);
    assert!(s.exec.packets >= 4 * u64::from(COUNT) + 2, "{s:?}");
    dp.shutdown();
    eprintln!(
        "netns_e2e: {} s ({} and {})",
        started.elapsed().as_secs_f32(),
        t.ns_a,
        t.ns_b
    );
}
