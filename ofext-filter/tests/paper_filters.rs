//! The paper's three filter programs (`controller-examples/filters/*.c`: the
//! connection tracker, the p0f SYN-flood filter and the per-source rate
//! limiter), loaded from their committed clang objects, verified, and run by
//! the interpreter with real maps on frames built here byte by byte.
//!
//! The map layouts the tests write (p0f signatures, rate-limit configuration)
//! and read (connection entries) are the programs' documented controller
//! contract, spelled out again below from the C sources' comments.

use std::sync::Arc;

use ofext_filter::elf::{self, Object};
use ofext_filter::helpers::TimeSource;
use ofext_filter::interp::{Interpreter, RunEnv};
use ofext_filter::maps::{Map, MapDef, MapType};
use ofext_filter::verifier;

// ---------------------------------------------------------------------------
// Loading and running
// ---------------------------------------------------------------------------

fn object(name: &str) -> Object {
    let path = format!(
        "{}/../controller-examples/filters/{name}.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    elf::load(&bytes).unwrap_or_else(|e| panic!("{name}.o does not load: {e}"))
}

/// A verified program with its own maps, run on one virtual worker.
struct Filter {
    prog: Interpreter,
    maps: Vec<Arc<Map>>,
    env: RunEnv,
}

impl Filter {
    fn load(name: &str) -> Self {
        Self::load_with(name, |_| {})
    }

    /// Loads `name`, letting `tweak` change map definitions before the maps
    /// are created (the LRU test shrinks the connection table).
    fn load_with(name: &str, tweak: impl Fn(&mut MapDef)) -> Self {
        let obj = object(name);
        if let Err(e) = verifier::verify(&obj.insns, &obj.maps) {
            panic!("{name}: {e}");
        }
        let maps: Vec<Arc<Map>> = obj
            .maps
            .iter()
            .map(|def| {
                let mut def = def.clone();
                tweak(&mut def);
                Arc::new(Map::new(def, 1).expect("map"))
            })
            .collect();
        let prog = Interpreter::new(&obj.insns, maps.clone()).expect("interpreter");
        let mut env = RunEnv::new(0);
        env.set_time(TimeSource::Batch(1_000_000_000));
        Self { prog, maps, env }
    }

    /// Runs the program on `frame`; the result must be 0 or 1 and the run
    /// must not fail.
    fn run(&mut self, frame: &[u8]) -> u64 {
        let r = self
            .prog
            .run_readonly(frame, &mut self.env)
            .unwrap_or_else(|e| panic!("run failed: {e}"));
        assert!(r <= 1, "result {r} is neither 0 nor 1");
        r
    }

    fn run_at(&mut self, now_ns: u64, frame: &[u8]) -> u64 {
        self.env.set_time(TimeSource::Batch(now_ns));
        self.run(frame)
    }

    fn map(&self, id: usize) -> &Map {
        &self.maps[id]
    }
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_ARP: u16 = 0x0806;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An 802.1Q-tagged frame (VLAN 10).
fn eth_vlan(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&10u16.to_be_bytes());
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// IPv4 header fields the filters look at.
#[derive(Clone, Copy)]
struct Ip4 {
    tos: u8,
    id: u16,
    df: bool,
    ttl: u8,
    proto: u8,
}

impl Default for Ip4 {
    fn default() -> Self {
        Self {
            tos: 0,
            id: 0x1234,
            df: true,
            ttl: 64,
            proto: PROTO_TCP,
        }
    }
}

fn ipv4(h: Ip4, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("short packet");
    let mut p = vec![0x45, h.tos];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&h.id.to_be_bytes());
    p.extend_from_slice(&(if h.df { 0x4000u16 } else { 0 }).to_be_bytes());
    p.extend_from_slice(&[h.ttl, h.proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn ipv6(next: u8, hop: u8, flow: u32, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("short packet");
    let mut p = (0x6000_0000u32 | (flow & 0xF_FFFF)).to_be_bytes().to_vec();
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[next, hop]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

/// A TCP segment's header fields.
#[derive(Clone)]
struct Tcp {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urg: u16,
    /// Option bytes, a multiple of 4 long.
    options: Vec<u8>,
    /// Data offset override in 32-bit words (a lie about the header length).
    doff: Option<u8>,
}

impl Tcp {
    fn new(sport: u16, dport: u16, flags: u8) -> Self {
        Self {
            sport,
            dport,
            seq: 1000,
            ack: if flags & ACK != 0 { 2000 } else { 0 },
            flags,
            window: 64240,
            urg: 0,
            options: Vec::new(),
            doff: None,
        }
    }

    fn bytes(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0, "options must fill 32-bit words");
        let doff = self
            .doff
            .unwrap_or(u8::try_from(5 + self.options.len() / 4).expect("doff"));
        let mut t = Vec::new();
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.extend_from_slice(&[doff << 4, self.flags]);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.urg.to_be_bytes());
        t.extend_from_slice(&self.options);
        t.extend_from_slice(payload);
        t
    }
}

/// One side of a connection.
#[derive(Clone, Copy, Debug)]
struct Ep {
    addr: Addr,
    port: u16,
}

fn ep4(a: [u8; 4], port: u16) -> Ep {
    Ep {
        addr: Addr::V4(a),
        port,
    }
}

fn ep6(last: u8, port: u16) -> Ep {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
    Ep {
        addr: Addr::V6(a),
        port,
    }
}

/// A TCP segment from `src` to `dst` with `flags` and `payload`, in an
/// untagged Ethernet frame.
fn segment(src: Ep, dst: Ep, flags: u8, payload: &[u8]) -> Vec<u8> {
    let tcp = Tcp::new(src.port, dst.port, flags).bytes(payload);
    match (src.addr, dst.addr) {
        (Addr::V4(s), Addr::V4(d)) => eth(ETH_IPV4, &ipv4(Ip4::default(), s, d, &tcp)),
        (Addr::V6(s), Addr::V6(d)) => eth(ETH_IPV6, &ipv6(PROTO_TCP, 64, 0, s, d, &tcp)),
        _ => panic!("mixed families"),
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn map_def(name: &str, map_type: MapType, key: u32, value: u32, max: u32) -> MapDef {
    MapDef {
        name: name.to_owned(),
        map_type,
        key_size: key,
        value_size: value,
        max_entries: max,
        flags: 0,
    }
}

#[test]
fn objects_load_and_verify() {
    let expected = [
        (
            "conntrack",
            vec![map_def("conntrack_table", MapType::LruHash, 40, 8, 65536)],
        ),
        (
            "p0f",
            vec![map_def("p0f_signatures", MapType::Array, 4, 3784, 11)],
        ),
        (
            "ratelimit",
            vec![
                map_def("ratelimit_config", MapType::Array, 4, 16, 1),
                map_def("ratelimit_buckets", MapType::LruHash, 20, 16, 65536),
            ],
        ),
    ];
    for (name, maps) in expected {
        let obj = object(name);
        assert_eq!(obj.section, "filter", "{name}");
        assert_eq!(obj.name.as_deref(), Some(name));
        assert_eq!(
            obj.maps, maps,
            "{name}: the maps are the controller contract"
        );
        let info = verifier::verify(&obj.insns, &obj.maps)
            .unwrap_or_else(|e| panic!("{name} is refused: {e}"));
        // Every helper call passes its flags explicitly.
        assert!(info.zero_flags_at.is_empty(), "{name}");
        println!(
            "{name}: {} instructions in {} function(s), at most {} executed per run",
            info.n_insns,
            info.functions.len(),
            info.max_insns_executed
        );
    }
}

// ---------------------------------------------------------------------------
// conntrack
// ---------------------------------------------------------------------------

const CT_SYN_SENT: u8 = 1;
const CT_SYN_RECV: u8 = 2;
const CT_ESTABLISHED: u8 = 3;
const CT_FIN_WAIT: u8 = 4;
const CT_CLOSING: u8 = 5;

/// The 40-byte `struct ct_key` for a connection between `x` and `y`:
/// endpoint a is the smaller of the two by (address bytes 0..8 as a
/// little-endian u64, bytes 8..16 likewise, port as a little-endian u16 of
/// its network-order bytes).
fn ct_key(x: Ep, y: Ep) -> Vec<u8> {
    fn parts(e: Ep) -> ([u8; 16], u8) {
        match e.addr {
            Addr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a);
                (b, 4)
            }
            Addr::V6(a) => (a, 6),
        }
    }
    let ((xa, fam), (ya, _)) = (parts(x), parts(y));
    let order = |a: &[u8; 16], p: u16| {
        (
            u64::from_le_bytes(a[..8].try_into().unwrap()),
            u64::from_le_bytes(a[8..].try_into().unwrap()),
            u16::from_le_bytes(p.to_be_bytes()),
        )
    };
    let ((fa, pa), (fb, pb)) = if order(&xa, x.port) < order(&ya, y.port) {
        ((xa, x.port), (ya, y.port))
    } else {
        ((ya, y.port), (xa, x.port))
    };
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(&fa);
    k.extend_from_slice(&fb);
    k.extend_from_slice(&pa.to_be_bytes());
    k.extend_from_slice(&pb.to_be_bytes());
    k.extend_from_slice(&[fam, PROTO_TCP, 0, 0]);
    k
}

/// The entry's state, or `None` when the connection is not tracked.
fn ct_state(f: &Filter, x: Ep, y: Ep) -> Option<u8> {
    let v = f.map(0).lookup_copy(&ct_key(x, y)).expect("lookup")?;
    assert_eq!(v.len(), 8);
    Some(v[0])
}

/// Runs a full handshake from `c` (client) to `s` (server), checking each
/// step matches and the state it leaves.
fn handshake(f: &mut Filter, c: Ep, s: Ep) {
    assert_eq!(f.run(&segment(c, s, SYN, b"")), 1, "SYN");
    assert_eq!(ct_state(f, c, s), Some(CT_SYN_SENT));
    assert_eq!(f.run(&segment(s, c, SYN | ACK, b"")), 1, "SYN-ACK");
    assert_eq!(ct_state(f, c, s), Some(CT_SYN_RECV));
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 1, "ACK");
    assert_eq!(ct_state(f, c, s), Some(CT_ESTABLISHED));
}

#[test]
fn conntrack_handshake_then_data_both_ways() {
    // Both orders of the endpoints: the initiator is endpoint a, then b.
    for (c, s) in [
        (ep4([10, 0, 0, 1], 40000), ep4([10, 0, 0, 2], 80)),
        (ep4([10, 0, 0, 9], 40000), ep4([10, 0, 0, 2], 80)),
        (ep4([10, 0, 0, 1], 80), ep4([10, 0, 0, 1], 40000)),
    ] {
        let mut f = Filter::load("conntrack");
        handshake(&mut f, c, s);
        for _ in 0..3 {
            assert_eq!(f.run(&segment(c, s, PSH | ACK, b"GET / HTTP/1.1\r\n")), 1);
            assert_eq!(f.run(&segment(s, c, PSH | ACK, b"HTTP/1.1 200 OK\r\n")), 1);
            assert_eq!(f.run(&segment(s, c, ACK, b"")), 1);
        }
        assert_eq!(ct_state(&f, c, s), Some(CT_ESTABLISHED));
        assert_eq!(f.map(0).len(), 1, "one entry for both directions");
        // The initiator is remembered: a second connection from the server's
        // side to the client is a different flow only if the ports differ;
        // here a SYN from the responder on the same 5-tuple is refused.
        assert_eq!(f.run(&segment(s, c, SYN, b"")), 0);
    }
}

#[test]
fn conntrack_refuses_unknown_connections() {
    let mut f = Filter::load("conntrack");
    let (c, s) = (ep4([192, 168, 1, 10], 51000), ep4([192, 168, 1, 20], 443));
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 0, "stray ACK");
    assert_eq!(f.run(&segment(c, s, PSH | ACK, b"data")), 0, "data");
    assert_eq!(
        f.run(&segment(s, c, SYN | ACK, b"")),
        0,
        "SYN-ACK without SYN"
    );
    assert_eq!(f.run(&segment(c, s, RST, b"")), 0, "RST");
    assert_eq!(f.run(&segment(c, s, FIN | ACK, b"")), 0, "FIN");
    assert!(f.map(0).is_empty(), "none of these creates state");
    // ... and a SYN-ACK without SYN did not prepare the ground for an ACK.
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 0);
}

#[test]
fn conntrack_refuses_out_of_order_handshakes() {
    let (c, s) = (ep4([10, 1, 0, 1], 33000), ep4([10, 1, 0, 2], 22));

    // Data before the SYN-ACK, from either side.
    let mut f = Filter::load("conntrack");
    assert_eq!(f.run(&segment(c, s, SYN, b"")), 1);
    assert_eq!(f.run(&segment(c, s, SYN, b"")), 1, "retransmitted SYN");
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 0, "ACK before SYN-ACK");
    assert_eq!(f.run(&segment(c, s, PSH | ACK, b"x")), 0);
    assert_eq!(f.run(&segment(s, c, PSH | ACK, b"x")), 0);
    assert_eq!(
        f.run(&segment(c, s, SYN | ACK, b"")),
        0,
        "SYN-ACK from the initiator"
    );
    assert_eq!(f.run(&segment(s, c, SYN, b"")), 0, "simultaneous open");
    assert_eq!(ct_state(&f, c, s), Some(CT_SYN_SENT));

    // After the SYN-ACK the responder may not send data yet; the
    // initiator's ACK (which may carry data) completes the handshake.
    assert_eq!(f.run(&segment(s, c, SYN | ACK, b"")), 1);
    assert_eq!(
        f.run(&segment(s, c, SYN | ACK, b"")),
        1,
        "retransmitted SYN-ACK"
    );
    assert_eq!(f.run(&segment(s, c, PSH | ACK, b"x")), 0, "responder data");
    assert_eq!(f.run(&segment(c, s, SYN, b"")), 1, "retransmitted SYN");
    assert_eq!(ct_state(&f, c, s), Some(CT_SYN_RECV));
    assert_eq!(f.run(&segment(c, s, PSH | ACK, b"hello")), 1);
    assert_eq!(ct_state(&f, c, s), Some(CT_ESTABLISHED));
    assert_eq!(
        f.run(&segment(c, s, SYN, b"")),
        0,
        "SYN on an established connection"
    );
    assert_eq!(
        f.run(&segment(s, c, SYN | ACK, b"")),
        1,
        "SYN-ACK again (lost ACK)"
    );
    assert_eq!(f.run(&segment(c, s, PSH, b"x")), 0, "segment without ACK");
}

#[test]
fn conntrack_rst_closes() {
    for rst_from_server in [false, true] {
        let mut f = Filter::load("conntrack");
        let (c, s) = (ep4([10, 2, 0, 1], 40001), ep4([10, 2, 0, 2], 8080));
        handshake(&mut f, c, s);
        let (x, y) = if rst_from_server { (s, c) } else { (c, s) };
        assert_eq!(
            f.run(&segment(x, y, RST | ACK, b"")),
            1,
            "the RST reaches the peer"
        );
        assert_eq!(ct_state(&f, c, s), None);
        assert_eq!(f.run(&segment(c, s, PSH | ACK, b"late")), 0);
        assert_eq!(f.run(&segment(s, c, PSH | ACK, b"late")), 0);
        // A new handshake on the same 5-tuple works again.
        handshake(&mut f, c, s);
    }
}

#[test]
fn conntrack_fin_teardown() {
    let mut f = Filter::load("conntrack");
    let (c, s) = (ep4([10, 3, 0, 1], 40002), ep4([10, 3, 0, 2], 25));
    handshake(&mut f, c, s);
    assert_eq!(f.run(&segment(c, s, FIN | ACK, b"")), 1);
    assert_eq!(ct_state(&f, c, s), Some(CT_FIN_WAIT));
    // Half-closed: the server still sends data, the client acknowledges.
    assert_eq!(f.run(&segment(s, c, PSH | ACK, b"more")), 1);
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 1);
    assert_eq!(ct_state(&f, c, s), Some(CT_FIN_WAIT));
    assert_eq!(f.run(&segment(s, c, FIN | ACK, b"")), 1);
    assert_eq!(ct_state(&f, c, s), Some(CT_CLOSING));
    assert_eq!(
        f.run(&segment(s, c, FIN | ACK, b"")),
        1,
        "retransmitted FIN"
    );
    assert_eq!(ct_state(&f, c, s), Some(CT_CLOSING));
    // The first closer acknowledges the second FIN: the connection is gone.
    assert_eq!(f.run(&segment(c, s, ACK, b"")), 1);
    assert_eq!(ct_state(&f, c, s), None);
    assert_eq!(f.run(&segment(c, s, PSH | ACK, b"x")), 0);
}

#[test]
fn conntrack_ipv6() {
    let mut f = Filter::load("conntrack");
    let (c, s) = (ep6(0x10, 50000), ep6(0x01, 443));
    handshake(&mut f, c, s);
    assert_eq!(f.run(&segment(c, s, PSH | ACK, b"v6 data")), 1);
    assert_eq!(f.run(&segment(s, c, PSH | ACK, b"v6 data")), 1);
    // A different peer is a different connection.
    let other = ep6(0x11, 50000);
    assert_eq!(f.run(&segment(other, s, ACK, b"")), 0);
    // Same bytes as an IPv4 address prefix do not alias: family is in the key.
    assert_eq!(f.map(0).len(), 1);

    // TCP behind a hop-by-hop options header (8 bytes) and a destination
    // options header (16 bytes) is tracked too.
    let (Addr::V6(ca), Addr::V6(sa)) = (c.addr, s.addr) else {
        unreachable!()
    };
    let tcp = Tcp::new(c.port, s.port, PSH | ACK).bytes(b"ext");
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop -> dest opts, PadN
    ext.extend_from_slice(&[PROTO_TCP, 1, 1, 12]);
    ext.extend_from_slice(&[0; 12]);
    ext.extend_from_slice(&tcp);
    let frame = eth(ETH_IPV6, &ipv6(0, 64, 0, ca, sa, &ext));
    assert_eq!(f.run(&frame), 1);
    // An unknown extension header (e.g. ESP, 50) hides the transport: 0.
    let frame = eth(ETH_IPV6, &ipv6(50, 64, 0, ca, sa, &tcp));
    assert_eq!(f.run(&frame), 0);
}

#[test]
fn conntrack_vlan_tagged() {
    let mut f = Filter::load("conntrack");
    let (c, s) = (ep4([10, 4, 0, 1], 40003), ep4([10, 4, 0, 2], 80));
    let tagged = |src: Ep, dst: Ep, flags: u8| {
        let (Addr::V4(a), Addr::V4(b)) = (src.addr, dst.addr) else {
            unreachable!()
        };
        let tcp = Tcp::new(src.port, dst.port, flags).bytes(b"");
        eth_vlan(ETH_IPV4, &ipv4(Ip4::default(), a, b, &tcp))
    };
    assert_eq!(f.run(&tagged(c, s, SYN)), 1);
    assert_eq!(f.run(&tagged(s, c, SYN | ACK)), 1);
    assert_eq!(f.run(&tagged(c, s, ACK)), 1);
    // The same connection untagged shares the entry (VLAN is not in the key).
    assert_eq!(f.run(&segment(s, c, ACK, b"")), 1);
}

#[test]
fn conntrack_refuses_non_tcp_and_malformed() {
    let mut f = Filter::load("conntrack");
    let (c, s) = (ep4([10, 5, 0, 1], 40004), ep4([10, 5, 0, 2], 80));
    let (Addr::V4(ca), Addr::V4(sa)) = (c.addr, s.addr) else {
        unreachable!()
    };
    let udp = [0x9c, 0x44, 0, 53, 0, 8, 0, 0];
    let ip_udp = Ip4 {
        proto: PROTO_UDP,
        ..Ip4::default()
    };
    assert_eq!(f.run(&eth(ETH_IPV4, &ipv4(ip_udp, ca, sa, &udp))), 0, "UDP");
    assert_eq!(f.run(&eth(ETH_ARP, &[0; 28])), 0, "ARP");
    assert_eq!(f.run(&[]), 0, "empty frame");
    assert_eq!(f.run(&segment(c, s, SYN | FIN, b"")), 0, "SYN+FIN");
    assert_eq!(f.run(&segment(c, s, SYN | RST, b"")), 0, "SYN+RST");
    assert_eq!(f.run(&segment(c, s, 0, b"")), 0, "no flags");
    assert_eq!(f.run(&segment(c, c, SYN, b"")), 0, "LAND");
    // A non-first fragment carries no TCP header.
    let mut frag = segment(c, s, SYN, b"");
    frag[14 + 6..14 + 8].copy_from_slice(&0x0001u16.to_be_bytes());
    assert_eq!(f.run(&frag), 0, "fragment");
    // IHL below 5.
    let mut bad = segment(c, s, SYN, b"");
    bad[14] = 0x44;
    assert_eq!(f.run(&bad), 0, "IHL 4");
    assert!(f.map(0).is_empty());
    // Every truncation of a valid SYN: no error, no match, no state.
    let syn = segment(c, s, SYN, b"");
    for n in 0..syn.len() {
        assert_eq!(f.run(&syn[..n]), 0, "SYN truncated to {n} bytes");
    }
    assert!(f.map(0).is_empty());
    assert_eq!(f.run(&syn), 1);
}

#[test]
fn conntrack_lru_keeps_newest_connections() {
    const MAX: u32 = 64;
    let mut f = Filter::load_with("conntrack", |d| d.max_entries = MAX);
    let server = ep4([10, 9, 0, 1], 80);
    let client = |i: u32| {
        let [_, _, hi, lo] = i.to_be_bytes();
        ep4([10, 8, hi, lo], 30000)
    };
    let n = 4 * MAX;
    for i in 0..n {
        let c = client(i);
        handshake(&mut f, c, server);
        assert_eq!(
            f.run(&segment(c, server, PSH | ACK, b"x")),
            1,
            "connection {i}"
        );
        assert!(f.map(0).len() <= MAX as usize);
    }
    // The newest connection still works; the oldest was evicted and is
    // refused like any unknown connection.
    assert_eq!(f.run(&segment(client(n - 1), server, PSH | ACK, b"y")), 1);
    assert_eq!(f.run(&segment(client(0), server, PSH | ACK, b"y")), 0);
    // With the real table size (65536) a few thousand connections all stay.
    let mut f = Filter::load("conntrack");
    for i in 0..2000 {
        handshake(&mut f, client(i), server);
    }
    for i in 0..2000 {
        assert_eq!(f.run(&segment(server, client(i), ACK, b"")), 1);
    }
}

// ---------------------------------------------------------------------------
// p0f
// ---------------------------------------------------------------------------

const SIG_TOOL: u8 = 0x02;
const SIG_ANY_MSS: u8 = 0x04;
const SIG_ANY_WSCALE: u8 = 0x08;
const SIG_ANY_OLEN: u8 = 0x10;

const WIN_ANY: u8 = 0;
const WIN_EXACT: u8 = 1;
const WIN_MSS: u8 = 2;
const WIN_MTU: u8 = 3;
const WIN_MOD: u8 = 4;

const Q_DF: u16 = 0x0001;
const Q_NZ_ID: u16 = 0x0002;
const Q_ZERO_ID: u16 = 0x0004;
const Q_ECN: u16 = 0x0008;
const Q_NZ_MBZ: u16 = 0x0010;
const Q_FLOW: u16 = 0x0020;
const Q_ZERO_SEQ: u16 = 0x0040;
const Q_NZ_ACK: u16 = 0x0080;
const Q_NZ_URG: u16 = 0x0100;
const Q_URG: u16 = 0x0200;
const Q_PUSH: u16 = 0x0400;
const Q_OPT_ZERO_TS1: u16 = 0x0800;
const Q_OPT_NZ_TS2: u16 = 0x1000;
const Q_OPT_EXWS: u16 = 0x2000;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WS: u8 = 3;
const OPT_SOK: u8 = 4;
const OPT_TS: u8 = 8;

/// A p0f signature in p0f's terms; `bytes` and `install` encode it as
/// p0f.c documents (per option length / 4, a `struct p0f_bucket` of
/// `struct p0f_layout`s, each an option-byte template and its 24-byte
/// `struct p0f_sig`s, integers little-endian).
#[derive(Clone)]
struct Sig {
    flags: u8,
    ip_ver: u8,
    ttl: (u8, u8),
    ip_olen: u8,
    wscale: u8,
    win_type: u8,
    win: u16,
    mss: u16,
    quirks: u16,
    quirk_mask: u16,
    layout: Vec<u8>,
    eol_pad: u8,
}

impl Sig {
    /// `struct p0f_sig`: the fingerprint word's `want` and `mask` (bits
    /// 0–15 quirks, 16–31 MSS, 32–47 window, 48–55 window scale, 56–61 IP
    /// options length, 62 IPv6), then tool, TTL range, window rule.
    fn bytes(&self) -> Vec<u8> {
        let (mut want, mut mask) = (u64::from(self.quirks), u64::from(self.quirk_mask));
        if self.flags & SIG_ANY_MSS == 0 {
            want |= u64::from(self.mss) << 16;
            mask |= 0xFFFF << 16;
        }
        let mut win_type = self.win_type;
        if win_type == WIN_EXACT {
            want |= u64::from(self.win) << 32;
            mask |= 0xFFFF << 32;
            win_type = WIN_ANY;
        }
        if self.flags & SIG_ANY_WSCALE == 0 {
            want |= u64::from(self.wscale) << 48;
            mask |= 0xFF << 48;
        }
        if self.flags & SIG_ANY_OLEN == 0 {
            want |= u64::from(self.ip_olen) << 56;
            mask |= 0x3F << 56;
        }
        match self.ip_ver {
            4 => mask |= 1 << 62,
            6 => {
                want |= 1 << 62;
                mask |= 1 << 62;
            }
            _ => assert_eq!(self.ip_ver, 0),
        }
        let mut b = want.to_le_bytes().to_vec();
        b.extend_from_slice(&mask.to_le_bytes());
        b.extend_from_slice(&[
            u8::from(self.flags & SIG_TOOL != 0),
            self.ttl.0,
            self.ttl.1,
            win_type,
        ]);
        b.extend_from_slice(&self.win.to_le_bytes());
        b.extend_from_slice(&[0, 0]);
        assert_eq!(b.len(), 24);
        b
    }

    /// The option bytes the layout spans, and the first 88 bytes of its
    /// `struct p0f_layout`: `want` and `mask` over the option bytes (each
    /// kind and length byte fixed, values and EOL padding free), where the
    /// last MSS, window scale and timestamps start (0xFF: none), then `n`
    /// (0 here) and padding. A layout spanning a number of bytes that is not
    /// a multiple of 4 fits no TCP header: `install` leaves it out.
    fn template(&self) -> (usize, Vec<u8>) {
        let (mut want, mut mask) = (vec![0u8; 40], vec![0u8; 40]);
        let mut at = [0xFFu8; 3];
        let mut off = 0;
        for &kind in &self.layout {
            let len = match kind {
                OPT_EOL | OPT_NOP => 1,
                OPT_SOK => 2,
                OPT_WS => 3,
                OPT_MSS => 4,
                OPT_TS => 10,
                _ => panic!("kind {kind} has no fixed length"),
            };
            want[off] = kind;
            mask[off] = 0xFF;
            if len > 1 {
                want[off + 1] = len;
                mask[off + 1] = 0xFF;
            }
            let slot = [OPT_MSS, OPT_WS, OPT_TS].iter().position(|&k| k == kind);
            if let Some(i) = slot {
                at[i] = u8::try_from(off).unwrap();
            }
            off += usize::from(len);
        }
        off += usize::from(self.eol_pad);
        assert!(off <= 40, "{off} option bytes");
        want.extend_from_slice(&mask);
        want.extend_from_slice(&at);
        want.resize(88, 0);
        (off, want)
    }
}

/// p0f's `*:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df,id+:0` (Linux 3.x),
/// an ordinary client stack.
fn sig_linux() -> Sig {
    Sig {
        flags: SIG_ANY_MSS | SIG_ANY_WSCALE,
        ip_ver: 0,
        ttl: (29, 64),
        ip_olen: 0,
        wscale: 0,
        win_type: WIN_MSS,
        win: 10,
        mss: 0,
        quirks: Q_DF | Q_NZ_ID,
        quirk_mask: 0xFFFF,
        layout: vec![OPT_MSS, OPT_SOK, OPT_TS, OPT_NOP, OPT_WS],
        eol_pad: 0,
    }
}

/// hping3's default SYN: no options, window 512, initial TTL 64, DF
/// clear; its IP ID is random, so only DF is compared.
fn sig_hping3() -> Sig {
    Sig {
        flags: SIG_TOOL,
        ip_ver: 0,
        ttl: (1, 64),
        ip_olen: 0,
        wscale: 0,
        win_type: WIN_EXACT,
        win: 512,
        mss: 0,
        quirks: 0,
        quirk_mask: Q_DF,
        layout: vec![],
        eol_pad: 0,
    }
}

/// p0f's `*:64-:0:1460:1024,0:mss::0` (NMap SYN scan).
fn sig_nmap() -> Sig {
    Sig {
        flags: SIG_TOOL,
        ip_ver: 0,
        ttl: (1, 64),
        ip_olen: 0,
        wscale: 0,
        win_type: WIN_EXACT,
        win: 1024,
        mss: 1460,
        quirks: 0,
        quirk_mask: 0xFFFF,
        layout: vec![OPT_MSS],
        eol_pad: 0,
    }
}

/// An edit of a signature (the field-by-field mismatch test).
type SigChange = fn(&mut Sig);

/// A `struct p0f_layout`: the template (88 bytes, `n` at 83), then the
/// signatures, zero up to sixteen.
fn layout(template: &[u8], sigs: &[Vec<u8>], n: u8) -> Vec<u8> {
    let mut l = template.to_vec();
    l[83] = n;
    for s in sigs {
        l.extend_from_slice(s);
    }
    l.resize(88 + 16 * 24, 0);
    l
}

/// A `struct p0f_bucket`: `n`, seven zero bytes, then the layouts, zero up
/// to eight.
fn bucket(layouts: &[Vec<u8>], n: u8) -> Vec<u8> {
    let mut b = vec![n, 0, 0, 0, 0, 0, 0, 0];
    for l in layouts {
        b.extend_from_slice(l);
    }
    b.resize(8 + 8 * 472, 0);
    b
}

/// A layout `install` writes: the option bytes it spans, its template and
/// its signatures.
struct Layout {
    olen: usize,
    template: Vec<u8>,
    sigs: Vec<Vec<u8>>,
}

/// Installs `sigs`, tried in order: per option length, its layouts in
/// order of first appearance, each with its signatures.
fn install(f: &Filter, sigs: &[Sig]) {
    let mut layouts: Vec<Layout> = Vec::new();
    for s in sigs {
        let (olen, template) = s.template();
        if !olen.is_multiple_of(4) {
            continue;
        }
        match layouts
            .iter_mut()
            .find(|l| l.olen == olen && l.template == template)
        {
            Some(l) => l.sigs.push(s.bytes()),
            None => layouts.push(Layout {
                olen,
                template,
                sigs: vec![s.bytes()],
            }),
        }
    }
    for olen in (0..=40).step_by(4) {
        let ls: Vec<Vec<u8>> = layouts
            .iter()
            .filter(|l| l.olen == olen)
            .map(|l| layout(&l.template, &l.sigs, u8::try_from(l.sigs.len()).unwrap()))
            .collect();
        if ls.is_empty() {
            continue;
        }
        let key = u32::try_from(olen / 4).unwrap().to_le_bytes();
        f.map(0)
            .update_from_controller(&key, &bucket(&ls, u8::try_from(ls.len()).unwrap()), 0)
            .expect("install signatures");
    }
}

fn p0f_with(sigs: &[Sig]) -> Filter {
    let f = Filter::load("p0f");
    install(&f, sigs);
    f
}

fn opt_mss(mss: u16) -> Vec<u8> {
    let [a, b] = mss.to_be_bytes();
    vec![OPT_MSS, 4, a, b]
}

/// Linux's SYN options: mss, sackOK, timestamps, nop, window scale 7.
fn linux_options() -> Vec<u8> {
    let mut o = opt_mss(1460);
    o.extend_from_slice(&[OPT_SOK, 2, OPT_TS, 10]);
    o.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    o.extend_from_slice(&0u32.to_be_bytes());
    o.extend_from_slice(&[OPT_NOP, OPT_WS, 3, 7]);
    o
}

fn syn4(ip: Ip4, tcp: &Tcp) -> Vec<u8> {
    eth(
        ETH_IPV4,
        &ipv4(ip, [198, 51, 100, 7], [203, 0, 113, 1], &tcp.bytes(b"")),
    )
}

fn linux_syn() -> Vec<u8> {
    let mut t = Tcp::new(45678, 80, SYN);
    t.window = 14600; // mss * 10
    t.options = linux_options();
    syn4(Ip4::default(), &t)
}

fn hping3_syn() -> Vec<u8> {
    let mut t = Tcp::new(2345, 80, SYN);
    t.window = 512;
    let ip = Ip4 {
        df: false,
        id: 0x5a5a,
        ..Ip4::default()
    };
    syn4(ip, &t)
}

fn nmap_syn() -> Vec<u8> {
    let mut t = Tcp::new(61000, 443, SYN);
    t.window = 1024;
    t.options = opt_mss(1460);
    let ip = Ip4 {
        df: false,
        ttl: 41,
        ..Ip4::default()
    };
    syn4(ip, &t)
}

#[test]
fn p0f_linux_syn_is_not_a_tool() {
    let mut f = p0f_with(&[sig_linux(), sig_hping3(), sig_nmap()]);
    assert_eq!(f.run(&linux_syn()), 0);
    // It is the Linux signature that matched: flagged as a tool, it drops.
    let mut tool = sig_linux();
    tool.flags |= SIG_TOOL;
    let mut f2 = p0f_with(&[tool.clone()]);
    assert_eq!(f2.run(&linux_syn()), 1);
    // Each field of that signature matters.
    let variants: [(&str, SigChange); 10] = [
        ("ttl", |s| s.ttl = (65, 128)),
        ("ip_ver", |s| s.ip_ver = 6),
        ("window multiple", |s| s.win = 4),
        ("layout", |s| s.layout.swap(1, 2)),
        ("layout length", |s| s.layout.extend([OPT_NOP; 4])),
        ("quirks", |s| s.quirks = Q_DF),
        ("mss", |s| {
            s.flags &= !SIG_ANY_MSS;
            s.mss = 1400;
        }),
        ("wscale", |s| {
            s.flags &= !SIG_ANY_WSCALE;
            s.wscale = 6;
        }),
        ("eol padding", |s| {
            s.layout.push(OPT_EOL);
            s.eol_pad = 3;
        }),
        ("ip options length", |s| s.ip_olen = 4),
    ];
    for (what, change) in variants {
        let mut s = tool.clone();
        change(&mut s);
        let mut f3 = p0f_with(&[s]);
        assert_eq!(f3.run(&linux_syn()), 0, "{what} differs, yet it matched");
    }
    // The exact values match too.
    let mut exact = tool.clone();
    exact.flags &= !(SIG_ANY_MSS | SIG_ANY_WSCALE);
    exact.mss = 1460;
    exact.wscale = 7;
    assert_eq!(p0f_with(&[exact]).run(&linux_syn()), 1);
}

#[test]
fn p0f_hping3_and_nmap_syns_are_tools() {
    let mut f = p0f_with(&[sig_linux(), sig_hping3(), sig_nmap()]);
    assert_eq!(f.run(&hping3_syn()), 1);
    assert_eq!(f.run(&nmap_syn()), 1);
    // Without the signatures nothing matches.
    let mut empty = Filter::load("p0f");
    assert_eq!(empty.run(&hping3_syn()), 0);
    assert_eq!(empty.run(&nmap_syn()), 0);
    assert_eq!(p0f_with(&[sig_linux()]).run(&hping3_syn()), 0);
    // Outside the TTL range (an initial TTL of 128) the hping3 signature
    // does not apply.
    let mut t = Tcp::new(2345, 80, SYN);
    t.window = 512;
    let ip = Ip4 {
        df: false,
        ttl: 120,
        ..Ip4::default()
    };
    assert_eq!(f.run(&syn4(ip, &t)), 0);
    // A window of 1024 is not hping3's.
    t.window = 1024;
    assert_eq!(
        f.run(&syn4(
            Ip4 {
                df: false,
                ..Ip4::default()
            },
            &t
        )),
        0
    );
    // First match decides: a whitelisting entry ahead of the tool wins.
    let mut allow = sig_hping3();
    allow.flags = 0;
    assert_eq!(p0f_with(&[allow, sig_hping3()]).run(&hping3_syn()), 0);
    // Sixteen signatures of the SYN's layout, the tool the last one.
    let mut sigs: Vec<Sig> = (0..15)
        .map(|k| Sig {
            win: 1000 + k,
            ..sig_hping3()
        })
        .collect();
    sigs.push(sig_hping3());
    assert_eq!(p0f_with(&sigs).run(&hping3_syn()), 1);
    // Only the first `n` signatures of a layout are tried, and never more
    // than 16 whatever `n` says; likewise the first `n` layouts of an
    // option length, never more than 8.
    let tool = sig_hping3().bytes();
    let (_, hping) = sig_hping3().template();
    let entry = |layouts: &[Vec<u8>], n: u8, key: u32| {
        let f = Filter::load("p0f");
        f.map(0)
            .update_from_controller(&key.to_le_bytes(), &bucket(layouts, n), 0)
            .unwrap();
        f
    };
    for (n, want) in [(0, 0), (1, 1), (16, 1), (17, 1), (255, 1)] {
        let one = layout(&hping, std::slice::from_ref(&tool), n);
        assert_eq!(entry(&[one], 1, 0).run(&hping3_syn()), want, "n = {n}");
    }
    let mut late = vec![sig_linux().bytes(); 16];
    late[15] = tool.clone();
    for (n, want) in [(15, 0), (16, 1), (200, 1)] {
        let l = layout(&hping, &late, n);
        assert_eq!(entry(&[l], 1, 0).run(&hping3_syn()), want, "n = {n}");
    }
    // Layouts (of nmap's 4-byte mss): the tool's is the eighth, after
    // seven of four NOPs.
    let nmap = sig_nmap().bytes();
    let (_, mss) = sig_nmap().template();
    let nops = Sig {
        layout: vec![OPT_NOP; 4],
        ..sig_nmap()
    }
    .template()
    .1;
    let mut ls = vec![layout(&nops, std::slice::from_ref(&nmap), 1); 7];
    ls.push(layout(&mss, std::slice::from_ref(&nmap), 1));
    for (n, want) in [(0, 0), (7, 0), (8, 1), (9, 1), (255, 1)] {
        assert_eq!(entry(&ls, n, 1).run(&nmap_syn()), want, "n = {n}");
    }
    // The first layout whose bytes match decides, even when none of its
    // signatures matches.
    ls[0] = layout(&mss, &[sig_linux().bytes()], 1);
    assert_eq!(entry(&ls, 8, 1).run(&nmap_syn()), 0);
    // Another option length's entry is not consulted.
    let one = layout(&hping, std::slice::from_ref(&tool), 1);
    assert_eq!(entry(&[one], 1, 1).run(&hping3_syn()), 0);
}

#[test]
fn p0f_ignores_non_syn() {
    let mut f = p0f_with(&[sig_linux(), sig_hping3(), sig_nmap()]);
    for flags in [
        SYN | ACK,
        ACK,
        RST,
        FIN | ACK,
        SYN | RST,
        SYN | FIN,
        PSH | ACK,
    ] {
        let mut t = Tcp::new(2345, 80, flags);
        t.window = 512;
        t.ack = 0;
        let ip = Ip4 {
            df: false,
            ..Ip4::default()
        };
        assert_eq!(f.run(&syn4(ip, &t)), 0, "flags {flags:#04x}");
    }
    // Non-TCP and non-IP.
    let udp = Ip4 {
        proto: PROTO_UDP,
        df: false,
        ..Ip4::default()
    };
    let mut t = Tcp::new(2345, 80, SYN);
    t.window = 512;
    assert_eq!(f.run(&syn4(udp, &t)), 0);
    assert_eq!(f.run(&eth(ETH_ARP, &[0; 28])), 0);
}

#[test]
fn p0f_truncated_and_malformed_options() {
    let mut tool = sig_linux();
    tool.flags |= SIG_TOOL;
    let mut f = p0f_with(&[tool, sig_hping3()]);
    // Every prefix of a real SYN: the TCP header claims 40 bytes of options
    // that are not all there.
    let syn = linux_syn();
    for n in 0..syn.len() {
        assert_eq!(f.run(&syn[..n]), 0, "cut at {n}");
    }
    assert_eq!(f.run(&syn), 1);
    // A data offset beyond the frame (15 words, 40 bytes of options claimed,
    // 20 present).
    let mut t = Tcp::new(45678, 80, SYN);
    t.window = 14600;
    t.options = linux_options();
    t.doff = Some(15);
    assert_eq!(f.run(&syn4(Ip4::default(), &t)), 0);
    // A data offset below 5.
    t.doff = Some(4);
    assert_eq!(f.run(&syn4(Ip4::default(), &t)), 0);

    // A SYN whose options are malformed has no layout: no signature
    // matches it, whatever the layout of its well-formed prefix or what
    // its bytes would be if the lengths were right.
    let any = |layout: Vec<u8>| Sig {
        flags: SIG_TOOL | SIG_ANY_MSS | SIG_ANY_WSCALE | SIG_ANY_OLEN,
        ip_ver: 0,
        ttl: (1, 255),
        ip_olen: 0,
        wscale: 0,
        win_type: WIN_ANY,
        win: 0,
        mss: 0,
        quirks: 0,
        quirk_mask: 0,
        layout,
        eol_pad: 0,
    };
    // (what, options, layouts tried)
    type Case = (&'static str, Vec<u8>, Vec<Vec<u8>>);
    let cases: Vec<Case> = vec![
        (
            "length 0",
            vec![OPT_MSS, 4, 5, 180, OPT_WS, 0, 0, 0],
            vec![vec![OPT_MSS, OPT_WS, OPT_NOP]],
        ),
        (
            "length 1",
            vec![OPT_SOK, 1, 0, 0],
            vec![vec![OPT_SOK, OPT_EOL, OPT_EOL]],
        ),
        (
            "past the end",
            vec![OPT_NOP, OPT_TS, 10, 0],
            vec![vec![OPT_NOP, OPT_NOP, OPT_NOP, OPT_NOP]],
        ),
        (
            "wrong mss length",
            vec![OPT_MSS, 3, 5, OPT_NOP],
            vec![vec![OPT_MSS], vec![OPT_NOP; 4]],
        ),
        (
            "wrong ws length",
            vec![OPT_WS, 4, 7, 0],
            vec![vec![OPT_WS, OPT_EOL]],
        ),
    ];
    for (what, opts, layouts) in cases {
        let mut t = Tcp::new(1, 2, SYN);
        t.options = opts;
        let frame = syn4(Ip4::default(), &t);
        let sigs: Vec<Sig> = layouts.into_iter().map(any).collect();
        assert_eq!(p0f_with(&sigs).run(&frame), 0, "{what}");
        // The same signatures, on the SYN without options, do match: the
        // layouts were tried.
        let mut none = sigs.clone();
        none.push(any(vec![]));
        t.options.clear();
        assert_eq!(p0f_with(&none).run(&syn4(Ip4::default(), &t)), 1, "{what}");
    }
    // 24 NOPs are a layout like any other.
    let mut t = Tcp::new(1, 2, SYN);
    t.options = vec![OPT_NOP; 24];
    let frame = syn4(Ip4::default(), &t);
    assert_eq!(p0f_with(&[any(vec![OPT_NOP; 24])]).run(&frame), 1);
    assert_eq!(p0f_with(&[any(vec![OPT_NOP; 20])]).run(&frame), 0);
}

#[test]
fn p0f_window_kinds_eol_and_quirks() {
    let base = |layout: Vec<u8>| Sig {
        flags: SIG_TOOL | SIG_ANY_MSS | SIG_ANY_WSCALE,
        ip_ver: 0,
        ttl: (1, 255),
        ip_olen: 0,
        wscale: 0,
        win_type: WIN_ANY,
        win: 0,
        mss: 0,
        quirks: 0,
        quirk_mask: 0,
        layout,
        eol_pad: 0,
    };
    // OpenVMS: mss,nop,ws with window = MTU * 2 = (1460 + 40) * 2.
    let mut t = Tcp::new(1, 2, SYN);
    t.options = opt_mss(1460);
    t.options.extend_from_slice(&[OPT_NOP, OPT_WS, 3, 0]);
    t.window = 3000;
    let frame = syn4(Ip4::default(), &t);
    let layout = vec![OPT_MSS, OPT_NOP, OPT_WS];
    for (kind, win, want) in [
        (WIN_MTU, 2, 1),
        (WIN_MTU, 3, 0),
        (WIN_MOD, 1000, 1),
        (WIN_MOD, 7, 0),
        (WIN_MOD, 0, 0),
        (WIN_EXACT, 3000, 1),
        (WIN_MSS, 2, 0),
        (WIN_ANY, 0, 1),
        (9, 0, 0),
    ] {
        let mut s = base(layout.clone());
        s.win_type = kind;
        s.win = win;
        assert_eq!(
            p0f_with(&[s]).run(&frame),
            want,
            "window kind {kind} value {win}"
        );
    }
    // On IPv6 the MTU is mss + 60.
    let mut t6 = t.clone();
    t6.window = 3040;
    let frame6 = eth(
        ETH_IPV6,
        &ipv6(PROTO_TCP, 64, 0, [1; 16], [2; 16], &t6.bytes(b"")),
    );
    let mut s = base(layout.clone());
    s.win_type = WIN_MTU;
    s.win = 2;
    assert_eq!(p0f_with(&[s.clone()]).run(&frame6), 1);
    s.ip_ver = 4;
    assert_eq!(p0f_with(&[s]).run(&frame6), 0, "ip_ver 4 on IPv6");

    // EOL and the padding after it (Mac OS X's "eol+1").
    let mut t = Tcp::new(1, 2, SYN);
    t.options = opt_mss(1460);
    t.options.extend_from_slice(&[OPT_SOK, 2, OPT_EOL, 0]);
    let frame = syn4(Ip4::default(), &t);
    let mut s = base(vec![OPT_MSS, OPT_SOK, OPT_EOL]);
    s.eol_pad = 1;
    assert_eq!(p0f_with(&[s.clone()]).run(&frame), 1);
    s.eol_pad = 0;
    assert_eq!(p0f_with(&[s]).run(&frame), 0);

    // Quirks: each computed one, compared under a one-bit mask.
    let quirk_case = |q: u16, frame: &[u8], layout: Vec<u8>| {
        let mut s = base(layout);
        s.quirks = q;
        s.quirk_mask = q;
        assert_eq!(
            p0f_with(&[s.clone()]).run(frame),
            1,
            "quirk {q:#06x} not seen"
        );
        s.quirks = 0;
        assert_eq!(p0f_with(&[s]).run(frame), 0, "quirk {q:#06x} wrongly seen");
    };
    let plain = |ip: Ip4, tcp: Tcp| syn4(ip, &tcp);
    let t0 = Tcp::new(1, 2, SYN);
    quirk_case(Q_DF, &plain(Ip4::default(), t0.clone()), vec![]);
    quirk_case(Q_NZ_ID, &plain(Ip4::default(), t0.clone()), vec![]);
    let id0 = Ip4 {
        df: false,
        id: 0,
        ..Ip4::default()
    };
    quirk_case(Q_ZERO_ID, &plain(id0, t0.clone()), vec![]);
    let ecn = Ip4 {
        tos: 2,
        ..Ip4::default()
    };
    quirk_case(Q_ECN, &plain(ecn, t0.clone()), vec![]);
    let mut ack = t0.clone();
    ack.ack = 77;
    quirk_case(Q_NZ_ACK, &plain(Ip4::default(), ack), vec![]);
    // Timestamps: own zero, peer's nonzero (nmap's probes do this).
    let mut ts = t0.clone();
    ts.options = vec![OPT_NOP, OPT_NOP, OPT_TS, 10, 0, 0, 0, 0, 0, 0, 0, 9];
    let ts_frame = plain(Ip4::default(), ts);
    quirk_case(Q_OPT_ZERO_TS1, &ts_frame, vec![OPT_NOP, OPT_NOP, OPT_TS]);
    quirk_case(Q_OPT_NZ_TS2, &ts_frame, vec![OPT_NOP, OPT_NOP, OPT_TS]);
    let mut ws = t0.clone();
    ws.options = vec![OPT_WS, 3, 15, OPT_NOP];
    quirk_case(
        Q_OPT_EXWS,
        &plain(Ip4::default(), ws),
        vec![OPT_WS, OPT_NOP],
    );
    // IPv6 flow label.
    let v6 = eth(
        ETH_IPV6,
        &ipv6(PROTO_TCP, 64, 0x12345, [1; 16], [2; 16], &t0.bytes(b"")),
    );
    quirk_case(Q_FLOW, &v6, vec![]);
    // TCP header quirks.
    let mut seq0 = t0.clone();
    seq0.seq = 0;
    quirk_case(Q_ZERO_SEQ, &plain(Ip4::default(), seq0), vec![]);
    let mut uptr = t0.clone();
    uptr.urg = 5;
    quirk_case(Q_NZ_URG, &plain(Ip4::default(), uptr.clone()), vec![]);
    uptr.flags |= 0x20; // URG: the pointer is then legitimate
    quirk_case(Q_URG, &plain(Ip4::default(), uptr.clone()), vec![]);
    let mut s = base(vec![]);
    s.quirks = 0;
    s.quirk_mask = Q_NZ_URG;
    assert_eq!(p0f_with(&[s]).run(&plain(Ip4::default(), uptr)), 1);
    let mut psh = t0.clone();
    psh.flags |= PSH;
    quirk_case(Q_PUSH, &plain(Ip4::default(), psh), vec![]);
    let mut ece = t0.clone();
    ece.flags |= 0x40 | 0x80; // ECE, CWR: an ECN-setup SYN
    quirk_case(Q_ECN, &plain(Ip4::default(), ece), vec![]);
    // The IPv4 reserved ("evil") bit.
    let mut evil = plain(Ip4::default(), t0.clone());
    evil[14 + 6] |= 0x80;
    quirk_case(Q_NZ_MBZ, &evil, vec![]);
    // No quirk at all on a plain SYN with DF clear and a nonzero IP ID:
    // the exact comparison of p0f (mask 0xFFFF) finds nothing set.
    let mut none = base(vec![]);
    none.quirk_mask = 0xFFFF;
    let quiet = Ip4 {
        df: false,
        ..Ip4::default()
    };
    assert_eq!(p0f_with(&[none]).run(&plain(quiet, t0.clone())), 1);
}

// ---------------------------------------------------------------------------
// ratelimit
// ---------------------------------------------------------------------------

const SEC: u64 = 1_000_000_000;

fn ratelimit(rate: u64, burst: u64) -> Filter {
    let f = Filter::load("ratelimit");
    let mut cfg = rate.to_le_bytes().to_vec();
    cfg.extend_from_slice(&burst.to_le_bytes());
    f.map(0)
        .update_from_controller(&0u32.to_le_bytes(), &cfg, 0)
        .expect("config");
    f
}

fn from4(src: [u8; 4]) -> Vec<u8> {
    segment(ep4(src, 1234), ep4([10, 0, 0, 100], 80), ACK, b"payload")
}

#[test]
fn ratelimit_burst_then_over() {
    let mut f = ratelimit(10, 5);
    let p = from4([192, 0, 2, 1]);
    let t0 = 5 * SEC;
    for i in 0..5 {
        assert_eq!(f.run_at(t0, &p), 0, "packet {i} within the burst");
    }
    assert_eq!(f.run_at(t0, &p), 1, "the 6th is over the rate");
    assert_eq!(f.run_at(t0, &p), 1);
    // 10/s: one token every 100 ms.
    assert_eq!(f.run_at(t0 + SEC / 20, &p), 1, "half a token");
    assert_eq!(f.run_at(t0 + SEC / 10, &p), 0, "one token back");
    assert_eq!(f.run_at(t0 + SEC / 10, &p), 1);
    // After one second the bucket is full again, capped at the burst.
    let t1 = t0 + SEC / 10 + SEC;
    for i in 0..5 {
        assert_eq!(f.run_at(t1, &p), 0, "refilled packet {i}");
    }
    assert_eq!(f.run_at(t1, &p), 1, "the burst caps the refill");
    // A long pause does not overflow anything.
    let t2 = t1 + 1_000_000 * SEC;
    for _ in 0..5 {
        assert_eq!(f.run_at(t2, &p), 0);
    }
    assert_eq!(f.run_at(t2, &p), 1);
    // Steady sending at the rate is never over it.
    let mut t = t2;
    for _ in 0..50 {
        t += SEC / 10;
        assert_eq!(f.run_at(t, &p), 0);
    }
}

#[test]
fn ratelimit_sources_are_independent() {
    let mut f = ratelimit(10, 5);
    let (a, b) = (from4([192, 0, 2, 1]), from4([192, 0, 2, 2]));
    let t0 = 7 * SEC;
    for _ in 0..5 {
        assert_eq!(f.run_at(t0, &a), 0);
    }
    assert_eq!(f.run_at(t0, &a), 1);
    for _ in 0..5 {
        assert_eq!(f.run_at(t0, &b), 0, "b has its own bucket");
    }
    assert_eq!(f.run_at(t0, &b), 1);
    assert_eq!(f.run_at(t0, &a), 1);
    // IPv6 sources have buckets too, distinct from IPv4 ones.
    let v6 = segment(ep6(1, 1234), ep6(2, 80), ACK, b"");
    for _ in 0..5 {
        assert_eq!(f.run_at(t0, &v6), 0);
    }
    assert_eq!(f.run_at(t0, &v6), 1);
    assert_eq!(f.map(1).len(), 3);
    // The destination does not matter: same source, other destination.
    let other_dst = segment(ep4([192, 0, 2, 1], 1), ep4([10, 9, 9, 9], 53), SYN, b"");
    assert_eq!(f.run_at(t0, &other_dst), 1);
    // Non-IP traffic is never over the rate.
    assert_eq!(f.run_at(t0, &eth(ETH_ARP, &[0; 28])), 0);
}

#[test]
fn ratelimit_off_without_config() {
    // The configuration array starts zeroed: limiting is off, no state.
    let mut f = Filter::load("ratelimit");
    let p = from4([192, 0, 2, 1]);
    for _ in 0..100 {
        assert_eq!(f.run_at(SEC, &p), 0);
    }
    assert!(f.map(1).is_empty());
    // rate 0 or burst 0 also mean off.
    for (rate, burst) in [(0, 5), (10, 0)] {
        let mut f = ratelimit(rate, burst);
        for _ in 0..100 {
            assert_eq!(f.run_at(SEC, &p), 0);
        }
        assert!(f.map(1).is_empty());
    }
}

#[test]
fn ratelimit_extremes() {
    let p = from4([192, 0, 2, 9]);
    // Time going backwards (two workers' batch clocks) refills nothing.
    let mut f = ratelimit(1, 1);
    assert_eq!(f.run_at(100 * SEC, &p), 0);
    assert_eq!(f.run_at(100 * SEC, &p), 1);
    assert_eq!(f.run_at(50 * SEC, &p), 1);
    assert_eq!(f.run_at(100 * SEC + SEC - 1, &p), 1);
    assert_eq!(f.run_at(101 * SEC, &p), 0);
    // Huge rate and burst (the burst is capped at 2^32 - 1 tokens) and the
    // largest time step: no overflow, never over the rate.
    let mut f = ratelimit(u64::MAX, u64::MAX);
    assert_eq!(f.run_at(1, &p), 0);
    assert_eq!(f.run_at(u64::MAX, &p), 0);
    for _ in 0..100 {
        assert_eq!(f.run_at(u64::MAX, &p), 0);
    }
    // A slow rate with the largest elapsed time: the bucket is just full.
    let mut f = ratelimit(1, 3);
    for _ in 0..3 {
        assert_eq!(f.run_at(1, &p), 0);
    }
    assert_eq!(f.run_at(1, &p), 1);
    for _ in 0..3 {
        assert_eq!(f.run_at(u64::MAX, &p), 0);
    }
    assert_eq!(f.run_at(u64::MAX, &p), 1);
    // A smaller burst written later trims a fuller bucket.
    let mut f = ratelimit(1, 100);
    assert_eq!(f.run_at(SEC, &p), 0);
    let mut cfg = 1u64.to_le_bytes().to_vec();
    cfg.extend_from_slice(&2u64.to_le_bytes());
    f.map(0)
        .update_from_controller(&0u32.to_le_bytes(), &cfg, 0)
        .unwrap();
    assert_eq!(f.run_at(SEC, &p), 0);
    assert_eq!(f.run_at(SEC, &p), 0);
    assert_eq!(f.run_at(SEC, &p), 1);
    // Frames cut before the end of the source address are not over the
    // rate and leave no state; from there on the frame counts.
    let mut f = ratelimit(1, 1);
    for n in 0..14 + 16 {
        assert_eq!(f.run_at(SEC, &p[..n]), 0, "cut at {n}");
    }
    assert!(f.map(1).is_empty());
    assert_eq!(f.run_at(SEC, &p[..34]), 0);
    assert_eq!(f.run_at(SEC, &p[..35]), 1);
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

/// Valid frames with random bytes overwritten and random truncation: every
/// program runs to completion with 0 or 1 (a run error or another value
/// fails [`Filter::run`]).
#[test]
fn filters_never_fail_on_mangled_frames() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::RefCell;

    let filters = RefCell::new([
        Filter::load("conntrack"),
        p0f_with(&[sig_linux(), sig_hping3(), sig_nmap()]),
        ratelimit(10, 5),
    ]);
    let (c6, s6) = (ep6(1, 1000), ep6(2, 80));
    let (Addr::V6(ca), Addr::V6(sa)) = (c6.addr, s6.addr) else {
        unreachable!()
    };
    let mut ext = vec![PROTO_TCP, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&Tcp::new(1000, 80, SYN).bytes(b""));
    let seeds = [
        linux_syn(),
        hping3_syn(),
        nmap_syn(),
        segment(c6, s6, SYN, b""),
        segment(
            ep4([1, 2, 3, 4], 5),
            ep4([5, 6, 7, 8], 9),
            PSH | ACK,
            b"data",
        ),
        eth(ETH_IPV6, &ipv6(0, 64, 0, ca, sa, &ext)),
        eth_vlan(
            ETH_IPV4,
            &ipv4(Ip4::default(), [1; 4], [2; 4], &{
                let mut t = Tcp::new(1, 2, SYN);
                t.options = linux_options();
                t.bytes(b"")
            }),
        ),
    ];
    let strategy = (
        0..seeds.len(),
        proptest::collection::vec((any::<u16>(), any::<u8>()), 0..8),
        any::<u16>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(seed, edits, cut)| {
            let mut frame = seeds[seed].clone();
            for (at, byte) in edits {
                let n = frame.len();
                frame[usize::from(at) % n] = byte;
            }
            frame.truncate(usize::from(cut) % (frame.len() + 8));
            for f in filters.borrow_mut().iter_mut() {
                f.run(&frame);
            }
            Ok(())
        })
        .unwrap();
}
