//! Flow key extraction and packet modification against hand-built frames.
//!
//! Frames are built here from the header layouts, with checksums computed by
//! this file's own from-scratch helpers (not the crate's), so a modification
//! is checked against an independent recomputation.

use dataplane::buf::PacketBuf;
use dataplane::key::{FieldLoc, FlowKey, field, mac_to_u64};
use dataplane::modify::{self, Header, ModifyError, SetField, TtlOutcome};
use dataplane::packet::ipv6::exthdr;
use dataplane::packet::{Parsed, extract};
use proptest::prelude::*;

// ---------------------------------------------------------------- builders

const DST: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const SRC: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];
const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [192, 168, 1, 2];
const V6_SRC: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
const V6_DST: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

/// Independent one's complement sum (no carries folded until the end).
fn sum16(data: &[u8]) -> u32 {
    let mut s: u32 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        s += ((data[i] as u32) << 8) | data[i + 1] as u32;
        i += 2;
    }
    if i < data.len() {
        s += (data[i] as u32) << 8;
    }
    s
}

fn fold_not(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Independent bitwise CRC32c.
fn crc32c_ref(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(DST);
    f.extend(SRC);
    f.extend(ethertype.to_be_bytes());
    f
}

/// Ethernet with VLAN tags `(tpid, tci)` outermost first, then `ethertype`.
fn eth_tagged(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(DST);
    f.extend(SRC);
    for (tpid, tci) in tags {
        f.extend(tpid.to_be_bytes());
        f.extend(tci.to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f
}

/// An IPv4 header (with `options`) followed by `payload`; checksum filled.
fn ipv4(proto: u8, tos: u8, ttl: u8, frag: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = 20 + options.len();
    let mut h = vec![0x40 | (hl / 4) as u8, tos];
    h.extend(((hl + payload.len()) as u16).to_be_bytes());
    h.extend([0xbe, 0xef]);
    h.extend(frag.to_be_bytes());
    h.extend([ttl, proto, 0, 0]);
    h.extend(V4_SRC);
    h.extend(V4_DST);
    h.extend(options);
    let c = fold_not(sum16(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

/// An IPv6 header with `next` as its next header, followed by `payload`.
fn ipv6(next: u8, tc: u8, flabel: u32, hop: u8, payload: &[u8]) -> Vec<u8> {
    let w: u32 = (6 << 28) | ((tc as u32) << 20) | flabel;
    let mut h = w.to_be_bytes().to_vec();
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, hop]);
    h.extend(V6_SRC.to_be_bytes());
    h.extend(V6_DST.to_be_bytes());
    h.extend(payload);
    h
}

fn tcp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(sport.to_be_bytes());
    t.extend(dport.to_be_bytes());
    t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend(data);
    t
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + data.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(data);
    u
}

fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(sport.to_be_bytes());
    s.extend(dport.to_be_bytes());
    s.extend([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
    // A DATA chunk header with 4 bytes of data.
    s.extend([0, 3, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    let c = crc32c_ref(&s);
    s[8..12].copy_from_slice(&c.to_le_bytes());
    s
}

fn icmp(ty: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend(body);
    m
}

/// The L4 checksum field offset (from the L4 header) of `proto`.
fn l4_csum_off(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16),
        17 => Some(6),
        1 | 58 => Some(2),
        _ => None,
    }
}

/// Fills the L4 checksum of a frame from scratch.
fn fill_l4(frame: &mut [u8]) {
    let p = extract(frame, 0, 0, 0, 0);
    let (Some(l4), Some(off)) = (p.l4_offset, l4_csum_off(p.ip_proto())) else {
        return;
    };
    frame[l4 + off..l4 + off + 2].fill(0);
    let c = l4_checksum(frame, &p);
    frame[l4 + off..l4 + off + 2].copy_from_slice(&c.to_be_bytes());
}

/// The from-scratch L4 checksum of a parsed frame (checksum field taken as
/// zero), or `None` for a UDP datagram without one.
fn l4_checksum(frame: &[u8], p: &Parsed) -> u16 {
    let l3 = p.l3_offset.unwrap();
    let l4 = p.l4_offset.unwrap();
    let proto = p.ip_proto();
    let off = l4_csum_off(proto).unwrap();
    let mut seg = frame[l4..p.l3_end].to_vec();
    seg[off..off + 2].fill(0);
    let mut s = sum16(&seg);
    if proto != 1 {
        if p.eth_type() == 0x0800 {
            s += sum16(&frame[l3 + 12..l3 + 20]);
        } else {
            s += sum16(&frame[l3 + 8..l3 + 40]);
        }
        s += proto as u32 + seg.len() as u32;
    }
    let c = fold_not(s);
    if proto == 17 && c == 0 { 0xffff } else { c }
}

/// Asserts that every checksum in the frame equals its from-scratch value.
fn assert_checksums(frame: &[u8]) {
    let p = extract(frame, 0, 0, 0, 0);
    if p.eth_type() == 0x0800 {
        let l3 = p.l3_offset.expect("valid IPv4");
        let hl = (frame[l3] & 0xf) as usize * 4;
        let mut h = frame[l3..l3 + hl].to_vec();
        let stored = u16::from_be_bytes([h[10], h[11]]);
        h[10..12].fill(0);
        assert_eq!(stored, fold_not(sum16(&h)), "IPv4 header checksum");
    }
    if let Some(l4) = p.l4_offset {
        let proto = p.ip_proto();
        if proto == 132 {
            let mut s = frame[l4..p.l3_end].to_vec();
            let stored = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
            s[8..12].fill(0);
            assert_eq!(stored, crc32c_ref(&s), "SCTP CRC32c");
        } else if let Some(off) = l4_csum_off(proto) {
            let stored = u16::from_be_bytes([frame[l4 + off], frame[l4 + off + 1]]);
            if !(proto == 17 && stored == 0) {
                assert_eq!(
                    stored,
                    l4_checksum(frame, &p),
                    "L4 checksum of proto {proto}"
                );
            }
        }
    }
}

fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut f = parts.concat();
    fill_l4(&mut f);
    f
}

fn tcp4() -> Vec<u8> {
    frame(&[
        &eth(0x0800),
        &ipv4(6, 0xb9, 64, 0x4000, &[], &tcp(1234, 80, b"hello")),
    ])
}
fn udp4() -> Vec<u8> {
    frame(&[
        &eth(0x0800),
        &ipv4(17, 0, 64, 0, &[], &udp(5353, 53, b"query")),
    ])
}
fn sctp4() -> Vec<u8> {
    frame(&[&eth(0x0800), &ipv4(132, 0, 64, 0, &[], &sctp(2905, 2906))])
}
fn icmp4() -> Vec<u8> {
    frame(&[
        &eth(0x0800),
        &ipv4(1, 0, 64, 0, &[], &icmp(8, 0, &[0, 1, 0, 2, 9, 9])),
    ])
}
fn tcp6() -> Vec<u8> {
    frame(&[
        &eth(0x86dd),
        &ipv6(6, 0xb9, 0x12345, 64, &tcp(1234, 443, b"x")),
    ])
}
fn udp6() -> Vec<u8> {
    frame(&[&eth(0x86dd), &ipv6(17, 0, 0, 64, &udp(546, 547, b"dhcp"))])
}
fn icmp6_echo() -> Vec<u8> {
    frame(&[
        &eth(0x86dd),
        &ipv6(58, 0, 0, 64, &icmp(128, 0, &[0, 1, 0, 1])),
    ])
}

const TARGET: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_1234;
const LL: [u8; 6] = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];

/// An NS (135, SLL option) or NA (136, TLL option) with a nonce option
/// before the link-layer address option.
fn nd(ty: u8) -> Vec<u8> {
    let mut body = vec![0x60, 0, 0, 0];
    body.extend(TARGET.to_be_bytes());
    body.extend([14, 1, 1, 2, 3, 4, 5, 6]);
    body.extend([if ty == 135 { 1 } else { 2 }, 1]);
    body.extend(LL);
    frame(&[&eth(0x86dd), &ipv6(58, 0, 0, 255, &icmp(ty, 0, &body))])
}

fn arp() -> Vec<u8> {
    let mut a = eth(0x0806);
    a.extend([0, 1, 0x08, 0, 6, 4, 0, 2]);
    a.extend(SRC);
    a.extend(V4_SRC);
    a.extend(DST);
    a.extend(V4_DST);
    a
}

/// Two MPLS entries: label 0x12345 TC 5 TTL 20, then label 7 BoS TTL 30 over
/// an IPv4/UDP packet with TTL 64.
fn mpls2() -> Vec<u8> {
    let inner = ipv4(17, 0, 64, 0, &[], &udp(1, 2, b"m"));
    let mut f = eth(0x8847);
    f.extend(((0x12345u32 << 12) | (5 << 9) | 20).to_be_bytes());
    f.extend(((7u32 << 12) | 0x100 | 30).to_be_bytes());
    f.extend(inner);
    f
}

fn pbb() -> Vec<u8> {
    let mut f = eth(0x88e7);
    f.extend([0x60, 0xab, 0xcd, 0xef]);
    f.extend(tcp4());
    f
}

fn key(f: &[u8]) -> FlowKey {
    extract(f, 0, 0, 0, 0).key
}

fn buf(f: &[u8]) -> PacketBuf {
    let mut b = PacketBuf::new();
    assert!(b.fill(f));
    b
}

/// Every ≤64-bit field, for field-by-field comparisons.
const FIELDS: [FieldLoc; 27] = field::SCALAR;

/// Asserts that `k` differs from `before` exactly in `changed` fields (and
/// the given 128-bit fields).
fn assert_only_changed(before: &FlowKey, k: &FlowKey, changed: &[FieldLoc]) {
    for f in FIELDS {
        if !changed.contains(&f) {
            assert_eq!(before.get(f), k.get(f), "{f:?} changed");
        }
    }
    for f in [field::IPV6_SRC, field::IPV6_DST, field::IPV6_ND_TARGET] {
        if !changed.contains(&f) {
            assert_eq!(before.get128(f), k.get128(f), "{f:?} changed");
        }
    }
}

// -------------------------------------------------------------- extraction

#[test]
fn tcp_ipv4_all_fields() {
    let f = tcp4();
    let p = extract(&f, 7, 8, 0xdead_beef_0000_0001, 0x42);
    let k = p.key;
    assert_eq!(k.get(field::IN_PORT), 7);
    assert_eq!(k.get(field::IN_PHY_PORT), 8);
    assert_eq!(k.get(field::METADATA), 0xdead_beef_0000_0001);
    assert_eq!(k.get(field::TUNNEL_ID), 0x42);
    assert_eq!(k.get(field::ETH_DST), mac_to_u64(DST));
    assert_eq!(k.get(field::ETH_SRC), mac_to_u64(SRC));
    assert_eq!(k.get(field::ETH_TYPE), 0x0800);
    assert_eq!(k.get(field::VLAN_VID), 0);
    assert_eq!(k.get(field::IP_PROTO), 6);
    assert_eq!(k.get(field::IP_DSCP), 46);
    assert_eq!(k.get(field::IP_ECN), 1);
    assert_eq!(k.get(field::IPV4_SRC), 0x0a00_0001);
    assert_eq!(k.get(field::IPV4_DST), 0xc0a8_0102);
    assert_eq!(k.get(field::TP_SRC), 1234);
    assert_eq!(k.get(field::TP_DST), 80);
    assert_eq!((p.eth_type_offset, p.net_offset), (Some(12), Some(14)));
    assert_eq!(
        (p.l3_offset, p.l4_offset, p.l3_end),
        (Some(14), Some(34), f.len())
    );
    assert_checksums(&f);
}

#[test]
fn double_tagged_vlan() {
    let mut f = eth_tagged(
        &[(0x88a8, (3 << 13) | 100), (0x8100, (5 << 13) | 200)],
        0x0800,
    );
    f.extend(ipv4(17, 0, 64, 0, &[], &udp(1000, 2000, b"")));
    let p = extract(&f, 1, 1, 0, 0);
    assert_eq!(p.key.get(field::VLAN_VID), 0x1000 | 100);
    assert_eq!(p.key.get(field::VLAN_PCP), 3);
    assert_eq!(p.key.get(field::ETH_TYPE), 0x0800);
    assert_eq!(p.key.get(field::TP_SRC), 1000);
    assert_eq!(p.key.get(field::TP_DST), 2000);
    assert_eq!(p.vlan_tags, 2);
    assert_eq!(p.l3_offset, Some(22));
    // VID 0 still sets OFPVID_PRESENT.
    let f = eth_tagged(&[(0x8100, 0)], 0x1234);
    assert_eq!(key(&f).get(field::VLAN_VID), 0x1000);
    assert_eq!(key(&f).get(field::ETH_TYPE), 0x1234);
}

#[test]
fn mpls_top_label_only() {
    let f = mpls2();
    let p = extract(&f, 0, 0, 0, 0);
    let k = p.key;
    assert_eq!(k.get(field::ETH_TYPE), 0x8847);
    assert_eq!(k.get(field::MPLS_LABEL), 0x12345);
    assert_eq!(k.get(field::MPLS_TC), 5);
    assert_eq!(k.get(field::MPLS_BOS), 0);
    assert_eq!(k.get(field::IP_PROTO), 0);
    assert_eq!(k.get(field::IPV4_SRC), 0);
    assert_eq!((p.net_offset, p.l3_offset), (Some(14), None));
    let mut f = eth_tagged(&[(0x8100, 9)], 0x8848);
    f.extend(((1u32 << 12) | 0x100 | 5).to_be_bytes());
    let k = key(&f);
    assert_eq!(k.get(field::ETH_TYPE), 0x8848);
    assert_eq!((k.get(field::MPLS_LABEL), k.get(field::MPLS_BOS)), (1, 1));
}

#[test]
fn pbb_isid() {
    let k = key(&pbb());
    assert_eq!(k.get(field::ETH_TYPE), 0x88e7);
    assert_eq!(k.get(field::PBB_ISID), 0xabcdef);
    assert_eq!(
        k.get(field::IP_PROTO),
        0,
        "the customer frame is not parsed"
    );
}

#[test]
fn arp_fields() {
    let f = arp();
    let k = key(&f);
    assert_eq!(k.get(field::ETH_TYPE), 0x0806);
    assert_eq!(k.get(field::ARP_OP), 2);
    assert_eq!(k.get(field::ARP_SPA), 0x0a00_0001);
    assert_eq!(k.get(field::ARP_TPA), 0xc0a8_0102);
    assert_eq!(k.get(field::ARP_SHA), mac_to_u64(SRC));
    assert_eq!(k.get(field::ARP_THA), mac_to_u64(DST));
    // Not Ethernet/IPv4: only L2.
    let mut g = f.clone();
    g[14 + 5] = 16;
    let k = key(&g);
    assert_eq!((k.get(field::ARP_OP), k.get(field::ARP_SPA)), (0, 0));
}

#[test]
fn udp_sctp_icmp_ipv4() {
    let k = key(&udp4());
    assert_eq!(
        (
            k.get(field::IP_PROTO),
            k.get(field::TP_SRC),
            k.get(field::TP_DST)
        ),
        (17, 5353, 53)
    );
    let k = key(&sctp4());
    assert_eq!(
        (
            k.get(field::IP_PROTO),
            k.get(field::TP_SRC),
            k.get(field::TP_DST)
        ),
        (132, 2905, 2906)
    );
    let k = key(&icmp4());
    assert_eq!(
        (
            k.get(field::IP_PROTO),
            k.get(field::ICMP_TYPE),
            k.get(field::ICMP_CODE)
        ),
        (1, 8, 0)
    );
    let f = frame(&[&eth(0x0800), &ipv4(1, 0, 64, 0, &[], &icmp(3, 4, &[0; 4]))]);
    assert_eq!(
        (key(&f).get(field::ICMP_TYPE), key(&f).get(field::ICMP_CODE)),
        (3, 4)
    );
    for f in [udp4(), sctp4(), icmp4()] {
        assert_checksums(&f);
    }
}

#[test]
fn ipv4_options_and_padding() {
    let mut f = eth(0x0800);
    f.extend(ipv4(6, 0, 64, 0, &[1, 1, 1, 0], &tcp(7, 8, b"")));
    let len = f.len();
    f.extend([0; 6]); // Ethernet padding after the datagram
    let p = extract(&f, 0, 0, 0, 0);
    assert_eq!(p.l4_offset, Some(14 + 24));
    assert_eq!(p.l3_end, len);
    assert_eq!((p.key.get(field::TP_SRC), p.key.get(field::TP_DST)), (7, 8));
}

#[test]
fn ipv4_fragments() {
    // Later fragment: ip_proto but no ports.
    let f = frame(&[
        &eth(0x0800),
        &ipv4(6, 0, 64, 0x2000 | 10, &[], &tcp(1, 2, b"")),
    ]);
    let p = extract(&f, 0, 0, 0, 0);
    assert_eq!(p.key.get(field::IP_PROTO), 6);
    assert_eq!((p.key.get(field::TP_SRC), p.l4_offset), (0, None));
    assert_eq!(p.key.get(field::IPV4_DST), 0xc0a8_0102);
    // First fragment: ports.
    let f = frame(&[&eth(0x0800), &ipv4(6, 0, 64, 0x2000, &[], &tcp(1, 2, b""))]);
    assert_eq!(key(&f).get(field::TP_SRC), 1);
}

#[test]
fn malformed_ipv4_fills_only_l2() {
    let good = tcp4();
    for (at, v) in [(14, 0x44u8), (14, 0x4f), (14, 0x55), (17, 10), (16, 0xff)] {
        let mut f = good.clone();
        f[at] = v;
        let p = extract(&f, 0, 0, 0, 0);
        assert_eq!(p.key.get(field::ETH_TYPE), 0x0800);
        assert_eq!(p.key.get(field::ETH_SRC), mac_to_u64(SRC));
        assert_eq!(p.key.get(field::IP_PROTO), 0, "byte {at} = {v:#x}");
        assert_eq!(p.key.get(field::IPV4_SRC), 0);
        assert_eq!(p.l3_offset, None);
    }
    // A TCP header with a bad data offset: IP fields but no ports.
    let mut f = good.clone();
    f[34 + 12] = 0x40;
    let k = key(&f);
    assert_eq!((k.get(field::IP_PROTO), k.get(field::TP_SRC)), (6, 0));
}

#[test]
fn ipv6_tcp_udp_fields() {
    let f = tcp6();
    let p = extract(&f, 0, 0, 0, 0);
    let k = p.key;
    assert_eq!(k.get(field::ETH_TYPE), 0x86dd);
    assert_eq!(k.get128(field::IPV6_SRC), V6_SRC);
    assert_eq!(k.get128(field::IPV6_DST), V6_DST);
    assert_eq!(k.get(field::IPV6_FLABEL), 0x12345);
    assert_eq!((k.get(field::IP_DSCP), k.get(field::IP_ECN)), (46, 1));
    assert_eq!(k.get(field::IP_PROTO), 6);
    assert_eq!((k.get(field::TP_SRC), k.get(field::TP_DST)), (1234, 443));
    assert_eq!(k.get(field::IPV6_EXTHDR), 0);
    assert_eq!(p.l4_offset, Some(54));
    let k = key(&udp6());
    assert_eq!((k.get(field::TP_SRC), k.get(field::TP_DST)), (546, 547));
    assert_checksums(&tcp6());
    assert_checksums(&udp6());
}

/// An extension header of `len8` 8-byte units announcing `next`.
fn ext(next: u8, len8: usize) -> Vec<u8> {
    let mut v = vec![0u8; len8 * 8];
    v[0] = next;
    v[1] = (len8 - 1) as u8;
    v
}

fn v6_with(first: u8, exts: &[Vec<u8>], upper: &[u8]) -> Vec<u8> {
    let mut payload = exts.concat();
    payload.extend(upper);
    let mut f = eth(0x86dd);
    f.extend(ipv6(first, 0, 0, 64, &payload));
    f
}

#[test]
fn ipv6_extension_headers() {
    let u = udp(9, 10, b"");
    // HOP, DEST, ROUTER, FRAG (offset 0), AUTH, DEST, UDP: all in order.
    let f = v6_with(
        0,
        &[
            ext(60, 1),
            ext(43, 2),
            ext(44, 1),
            vec![51, 0, 0, 1, 0, 0, 0, 9],
            vec![60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ext(17, 1),
        ],
        &u,
    );
    let p = extract(&f, 0, 0, 0, 0);
    let want = exthdr::HOP | exthdr::DEST | exthdr::ROUTER | exthdr::FRAG | exthdr::AUTH;
    assert_eq!(p.key.get(field::IPV6_EXTHDR), want as u64);
    assert_eq!(p.key.get(field::IP_PROTO), 17);
    assert_eq!(
        (p.key.get(field::TP_SRC), p.key.get(field::TP_DST)),
        (9, 10)
    );
    assert_eq!(p.l4_offset, Some(54 + 8 + 16 + 8 + 8 + 12 + 8));

    // ESP: the walk stops, ip_proto 50.
    let f = v6_with(0, &[ext(50, 1)], &[0; 16]);
    let k = key(&f);
    assert_eq!(
        k.get(field::IPV6_EXTHDR),
        (exthdr::HOP | exthdr::ESP) as u64
    );
    assert_eq!((k.get(field::IP_PROTO), k.get(field::TP_SRC)), (50, 0));

    // No next header.
    let f = v6_with(60, &[ext(59, 1)], &[]);
    let k = key(&f);
    assert_eq!(
        k.get(field::IPV6_EXTHDR),
        (exthdr::DEST | exthdr::NONEXT) as u64
    );
    assert_eq!(k.get(field::IP_PROTO), 59);
    let f = v6_with(59, &[], &[]);
    assert_eq!(key(&f).get(field::IPV6_EXTHDR), exthdr::NONEXT as u64);

    // Later fragment: ip_proto from the fragment header, no L4.
    let f = v6_with(44, &[vec![6, 0, 0x05, 0x00, 0, 0, 0, 1]], &tcp(1, 2, b""));
    let p = extract(&f, 0, 0, 0, 0);
    assert_eq!(p.key.get(field::IPV6_EXTHDR), exthdr::FRAG as u64);
    assert_eq!(
        (
            p.key.get(field::IP_PROTO),
            p.key.get(field::TP_SRC),
            p.l4_offset
        ),
        (6, 0, None)
    );

    // Unexpected repeat: two routing headers.
    let f = v6_with(43, &[ext(43, 1), ext(6, 1)], &tcp(1, 2, b""));
    let k = key(&f);
    assert_eq!(
        k.get(field::IPV6_EXTHDR),
        (exthdr::ROUTER | exthdr::UNREP) as u64
    );
    assert_eq!(k.get(field::TP_DST), 2);

    // Unexpected sequence: AUTH before ROUTER, and HOP not first.
    let f = v6_with(
        51,
        &[vec![43, 0, 0, 0, 0, 0, 0, 0], ext(6, 1)],
        &tcp(1, 2, b""),
    );
    assert_eq!(
        key(&f).get(field::IPV6_EXTHDR),
        (exthdr::AUTH | exthdr::ROUTER | exthdr::UNSEQ) as u64
    );
    let f = v6_with(60, &[ext(0, 1), ext(6, 1)], &tcp(1, 2, b""));
    assert_eq!(
        key(&f).get(field::IPV6_EXTHDR),
        (exthdr::DEST | exthdr::HOP | exthdr::UNSEQ) as u64
    );

    // Truncated extension header: flags of the complete ones, no ip_proto.
    let f = v6_with(0, &[ext(60, 1), vec![6, 3, 0, 0, 0, 0, 0, 0]], &[]);
    let p = extract(&f, 0, 0, 0, 0);
    assert_eq!(p.key.get(field::IPV6_EXTHDR), exthdr::HOP as u64);
    assert_eq!((p.key.get(field::IP_PROTO), p.l4_offset), (0, None));
    assert_eq!(p.key.get128(field::IPV6_SRC), V6_SRC);
}

#[test]
fn icmpv6_and_neighbor_discovery() {
    let k = key(&icmp6_echo());
    assert_eq!(
        (
            k.get(field::IP_PROTO),
            k.get(field::ICMP_TYPE),
            k.get(field::ICMP_CODE)
        ),
        (58, 128, 0)
    );
    assert_eq!(k.get128(field::IPV6_ND_TARGET), 0);

    let ns = nd(135);
    assert_checksums(&ns);
    let k = key(&ns);
    assert_eq!(k.get(field::ICMP_TYPE), 135);
    assert_eq!(k.get128(field::IPV6_ND_TARGET), TARGET);
    assert_eq!(k.get(field::IPV6_ND_SLL), mac_to_u64(LL));
    assert_eq!(k.get(field::IPV6_ND_TLL), 0);

    let na = nd(136);
    let k = key(&na);
    assert_eq!(k.get(field::ICMP_TYPE), 136);
    assert_eq!(k.get128(field::IPV6_ND_TARGET), TARGET);
    assert_eq!(k.get(field::IPV6_ND_SLL), 0);
    assert_eq!(k.get(field::IPV6_ND_TLL), mac_to_u64(LL));

    // A zero-length option: target kept, link-layer address dropped.
    let mut bad = nd(135);
    bad[54 + 24 + 1] = 0;
    let k = key(&bad);
    assert_eq!(k.get128(field::IPV6_ND_TARGET), TARGET);
    assert_eq!(k.get(field::IPV6_ND_SLL), 0);
    // Non-zero code: no ND fields.
    let mut c1 = nd(135);
    c1[54 + 1] = 1;
    assert_eq!(key(&c1).get128(field::IPV6_ND_TARGET), 0);
    // ICMPv6 inside IPv4 is not ICMPv6; ICMPv4 inside IPv6 is not ICMPv4.
    let f = frame(&[&eth(0x86dd), &ipv6(1, 0, 0, 64, &icmp(8, 0, &[0; 4]))]);
    assert_eq!(
        (key(&f).get(field::IP_PROTO), key(&f).get(field::ICMP_TYPE)),
        (1, 0)
    );
}

#[test]
fn llc_snap_and_8023() {
    let mut f = DST.to_vec();
    f.extend(SRC);
    f.extend(40u16.to_be_bytes());
    f.extend([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06]);
    f.extend(&arp()[14..]);
    let p = extract(&f, 0, 0, 0, 0);
    assert_eq!(p.key.get(field::ETH_TYPE), 0x0806);
    assert_eq!(p.key.get(field::ARP_OP), 2);
    assert_eq!(p.net_offset, Some(22));
    let mut g = f.clone();
    g[14] = 0x42; // plain LLC
    assert_eq!(key(&g).get(field::ETH_TYPE), 0x05ff);
}

#[test]
fn short_frames() {
    let k = extract(&[1, 2, 3], 5, 6, 7, 8).key;
    assert_eq!(
        (
            k.get(field::IN_PORT),
            k.get(field::IN_PHY_PORT),
            k.get(field::METADATA),
            k.get(field::TUNNEL_ID)
        ),
        (5, 6, 7, 8)
    );
    assert_eq!(k.get(field::ETH_TYPE), 0);
    // A truncated VLAN tag: the walk stops at its TPID.
    let f = &eth_tagged(&[(0x8100, 5)], 0x0800)[..16];
    let p = extract(f, 0, 0, 0, 0);
    assert_eq!(
        (
            p.key.get(field::VLAN_VID),
            p.key.get(field::ETH_TYPE),
            p.net_offset
        ),
        (0, 0x8100, None)
    );
}

fn all_frames() -> Vec<Vec<u8>> {
    let mut v = vec![
        tcp4(),
        udp4(),
        sctp4(),
        icmp4(),
        tcp6(),
        udp6(),
        icmp6_echo(),
        nd(135),
        nd(136),
        arp(),
        mpls2(),
        pbb(),
    ];
    let mut vl = eth_tagged(&[(0x88a8, 0x2064), (0x8100, 0xa0c8)], 0x0800);
    vl.extend(ipv4(6, 0, 64, 0, &[1, 1, 1, 1], &tcp(1, 2, b"q")));
    fill_l4(&mut vl);
    v.push(vl);
    v.push(v6_with(
        0,
        &[
            ext(60, 1),
            ext(43, 2),
            ext(44, 1),
            vec![17, 0, 0, 0, 0, 0, 0, 1],
        ],
        &udp(3, 4, b""),
    ));
    v
}

/// Every prefix of every frame parses without panicking, and each field it
/// fills (other than `eth_type`, which a truncated VLAN tag sets to its
/// TPID) has the value the whole frame gives it.
#[test]
fn truncation_at_every_length() {
    for f in all_frames() {
        let full = key(&f);
        for n in 0..=f.len() {
            let k = extract(&f[..n], 1, 2, 3, 4).key;
            for fl in FIELDS {
                let v = k.get(fl);
                if fl != field::ETH_TYPE && fl.word > 2 {
                    assert!(v == 0 || v == full.get(fl), "prefix {n}: {fl:?} = {v:#x}");
                }
            }
            for fl in [field::IPV6_SRC, field::IPV6_DST, field::IPV6_ND_TARGET] {
                let v = k.get128(fl);
                assert!(v == 0 || v == full.get128(fl));
            }
            // Modifications on truncated frames never panic either.
            exercise_all_modifications(&f[..n]);
        }
    }
}

fn all_set_fields() -> Vec<SetField> {
    use SetField as S;
    vec![
        S::EthDst([1; 6]),
        S::EthSrc([2; 6]),
        S::VlanVid(0x1abc),
        S::VlanPcp(6),
        S::IpDscp(10),
        S::IpEcn(3),
        S::Ipv4Src(0x0102_0304),
        S::Ipv4Dst(0x0506_0708),
        S::Ipv6Src(1),
        S::Ipv6Dst(2),
        S::Ipv6Flabel(0xfffff),
        S::TcpSrc(1),
        S::TcpDst(2),
        S::UdpSrc(3),
        S::UdpDst(4),
        S::SctpSrc(5),
        S::SctpDst(6),
        S::Icmpv4Type(0),
        S::Icmpv4Code(1),
        S::Icmpv6Type(129),
        S::Icmpv6Code(2),
        S::ArpOp(1),
        S::ArpSpa(9),
        S::ArpTpa(10),
        S::ArpSha([3; 6]),
        S::ArpTha([4; 6]),
        S::MplsLabel(99),
        S::MplsTc(7),
        S::MplsBos(true),
        S::Ipv6NdTarget(77),
        S::Ipv6NdSll([5; 6]),
        S::Ipv6NdTll([6; 6]),
        S::PbbIsid(0x123456),
    ]
}

fn exercise_all_modifications(f: &[u8]) {
    for sf in all_set_fields() {
        let mut b = buf(f);
        let _ = modify::set_field(&mut b, sf);
    }
    let mut b = buf(f);
    let _ = modify::push_vlan(&mut b, 0x8100);
    let _ = modify::pop_vlan(&mut b);
    let _ = modify::pop_vlan(&mut b);
    let _ = modify::push_mpls(&mut b, 0x8847);
    let _ = modify::dec_mpls_ttl(&mut b);
    let _ = modify::set_mpls_ttl(&mut b, 3);
    let _ = modify::copy_ttl_in(&mut b);
    let _ = modify::copy_ttl_out(&mut b);
    let _ = modify::pop_mpls(&mut b, 0x0800);
    let _ = modify::pop_mpls(&mut b, 0x0800);
    let _ = modify::push_pbb(&mut b, 0x88e7);
    let _ = modify::pop_pbb(&mut b);
    let _ = modify::pop_pbb(&mut b);
    let _ = modify::dec_nw_ttl(&mut b);
    let _ = modify::set_nw_ttl(&mut b, 9);
    let _ = extract(b.data(), 0, 0, 0, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = extract(&data, 0, 0, 0, 0);
        exercise_all_modifications(&data);
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..14, edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6)) {
        let mut f = all_frames().swap_remove(which);
        for (at, v) in edits {
            let n = f.len();
            f[at as usize % n] = v;
        }
        let _ = extract(&f, 0, 0, 0, 0);
        exercise_all_modifications(&f);
    }

    #[test]
    fn ip_address_rewrites_keep_checksums(a in any::<u32>(), b in any::<u128>(), port in any::<u16>()) {
        for f in [tcp4(), udp4(), icmp4(), sctp4()] {
            let mut pb = buf(&f);
            modify::set_field(&mut pb, SetField::Ipv4Src(a)).unwrap();
            assert_checksums(pb.data());
            prop_assert_eq!(key(pb.data()).get(field::IPV4_SRC), a as u64);
        }
        for f in [tcp6(), udp6(), icmp6_echo(), nd(135)] {
            let mut pb = buf(&f);
            modify::set_field(&mut pb, SetField::Ipv6Dst(b)).unwrap();
            assert_checksums(pb.data());
        }
        let mut pb = buf(&udp6());
        modify::set_field(&mut pb, SetField::UdpDst(port)).unwrap();
        assert_checksums(pb.data());
    }
}

// ------------------------------------------------------------ modification

/// Applies `sf` to `f`, checks that exactly `changed` key fields changed to
/// what `check` says, and that all checksums are right.
fn apply(f: &[u8], sf: SetField, changed: &[FieldLoc]) -> (Vec<u8>, FlowKey) {
    let before = key(f);
    let mut b = buf(f);
    modify::set_field(&mut b, sf).unwrap_or_else(|e| panic!("{sf:?}: {e}"));
    let out = b.data().to_vec();
    assert_eq!(out.len(), f.len());
    let k = key(&out);
    assert_only_changed(&before, &k, changed);
    assert_checksums(&out);
    (out, k)
}

#[test]
fn set_ethernet_and_vlan() {
    let (_, k) = apply(&tcp4(), SetField::EthDst([9; 6]), &[field::ETH_DST]);
    assert_eq!(k.get(field::ETH_DST), mac_to_u64([9; 6]));
    let (_, k) = apply(&tcp4(), SetField::EthSrc([8; 6]), &[field::ETH_SRC]);
    assert_eq!(k.get(field::ETH_SRC), mac_to_u64([8; 6]));
    let tagged = eth_tagged(&[(0x8100, (2 << 13) | 5)], 0x0806);
    let (out, k) = apply(&tagged, SetField::VlanVid(0x1fff), &[field::VLAN_VID]);
    assert_eq!(k.get(field::VLAN_VID), 0x1fff);
    assert_eq!(out[14] >> 5, 2);
    let (_, k) = apply(&tagged, SetField::VlanPcp(7), &[field::VLAN_PCP]);
    assert_eq!(
        (k.get(field::VLAN_PCP), k.get(field::VLAN_VID)),
        (7, 0x1005)
    );
    let mut b = buf(&tcp4());
    assert_eq!(
        modify::set_field(&mut b, SetField::VlanVid(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::Vlan
        })
    );
    assert_eq!(b.data(), &tcp4()[..]);
}

#[test]
fn set_ip_fields() {
    for f in [tcp4(), tcp6()] {
        let (_, k) = apply(&f, SetField::IpDscp(0x3f), &[field::IP_DSCP]);
        assert_eq!((k.get(field::IP_DSCP), k.get(field::IP_ECN)), (0x3f, 1));
        let (_, k) = apply(&f, SetField::IpEcn(2), &[field::IP_ECN]);
        assert_eq!((k.get(field::IP_DSCP), k.get(field::IP_ECN)), (46, 2));
    }
    for f in [tcp4(), udp4(), icmp4(), sctp4()] {
        let (_, k) = apply(&f, SetField::Ipv4Src(0xc633_6401), &[field::IPV4_SRC]);
        assert_eq!(k.get(field::IPV4_SRC), 0xc633_6401);
        let (_, k) = apply(&f, SetField::Ipv4Dst(0xffff_ffff), &[field::IPV4_DST]);
        assert_eq!(k.get(field::IPV4_DST), 0xffff_ffff);
    }
    for f in [tcp6(), udp6(), icmp6_echo()] {
        let (_, k) = apply(&f, SetField::Ipv6Src(0xfe80 << 112 | 7), &[field::IPV6_SRC]);
        assert_eq!(k.get128(field::IPV6_SRC), 0xfe80 << 112 | 7);
        let (_, k) = apply(&f, SetField::Ipv6Dst(u128::MAX), &[field::IPV6_DST]);
        assert_eq!(k.get128(field::IPV6_DST), u128::MAX);
    }
    let (_, k) = apply(
        &tcp6(),
        SetField::Ipv6Flabel(0xabcde),
        &[field::IPV6_FLABEL],
    );
    assert_eq!(k.get(field::IPV6_FLABEL), 0xabcde);
    // A later IPv4 fragment: the address changes, the (absent) L4 does not.
    let frag = frame(&[&eth(0x0800), &ipv4(6, 0, 64, 20, &[], &tcp(1, 2, b""))]);
    let (out, _) = apply(&frag, SetField::Ipv4Dst(1), &[field::IPV4_DST]);
    assert_eq!(out[34..], frag[34..]);
    // Wrong family.
    let mut b = buf(&tcp4());
    assert_eq!(
        modify::set_field(&mut b, SetField::Ipv6Src(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::Ipv6
        })
    );
    let mut b = buf(&arp());
    assert_eq!(
        modify::set_field(&mut b, SetField::IpDscp(1)),
        Err(ModifyError::FieldAbsent { header: Header::Ip })
    );
}

#[test]
fn udp_checksum_zero_rules() {
    // No checksum: stays zero through address and port changes.
    let mut f = eth(0x0800);
    f.extend(ipv4(17, 0, 64, 0, &[], &udp(1, 2, b"abc")));
    let (out, _) = apply(&f, SetField::Ipv4Src(0x0909_0909), &[field::IPV4_SRC]);
    assert_eq!(&out[40..42], &[0, 0]);
    let (out, _) = apply(&f, SetField::UdpSrc(7), &[field::TP_SRC]);
    assert_eq!(&out[40..42], &[0, 0]);
    // A rewrite whose checksum comes out zero is sent as 0xffff: choose the
    // port that makes the sum 0xffff.
    let f = udp4();
    let mut g = f.clone();
    g[36..38].fill(0);
    g[40..42].fill(0);
    let p = extract(&g, 0, 0, 0, 0);
    let mut s = sum16(&g[34..p.l3_end]) + sum16(&g[26..34]) + 17 + (p.l3_end - 34) as u32;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    let port = 0xffff - s as u16;
    let (out, k) = apply(&f, SetField::UdpDst(port), &[field::TP_DST]);
    assert_eq!(k.get(field::TP_DST), port as u64);
    assert_eq!(&out[40..42], &[0xff, 0xff]);
}

#[test]
fn set_transport_ports() {
    let (_, k) = apply(&tcp4(), SetField::TcpSrc(4321), &[field::TP_SRC]);
    assert_eq!(k.get(field::TP_SRC), 4321);
    let (_, k) = apply(&tcp6(), SetField::TcpDst(8443), &[field::TP_DST]);
    assert_eq!(k.get(field::TP_DST), 8443);
    let (_, k) = apply(&udp4(), SetField::UdpSrc(1), &[field::TP_SRC]);
    assert_eq!(k.get(field::TP_SRC), 1);
    let (_, k) = apply(&udp6(), SetField::UdpDst(65535), &[field::TP_DST]);
    assert_eq!(k.get(field::TP_DST), 65535);
    let (_, k) = apply(&sctp4(), SetField::SctpSrc(36412), &[field::TP_SRC]);
    assert_eq!(k.get(field::TP_SRC), 36412);
    let (_, k) = apply(&sctp4(), SetField::SctpDst(9), &[field::TP_DST]);
    assert_eq!(k.get(field::TP_DST), 9);
    let mut b = buf(&udp4());
    assert_eq!(
        modify::set_field(&mut b, SetField::TcpSrc(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::Tcp
        })
    );
    assert_eq!(
        modify::set_field(&mut b, SetField::SctpDst(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::Sctp
        })
    );
    assert_eq!(b.data(), &udp4()[..]);
}

#[test]
fn set_icmp_fields() {
    let (_, k) = apply(&icmp4(), SetField::Icmpv4Type(0), &[field::ICMP_TYPE]);
    assert_eq!(k.get(field::ICMP_TYPE), 0);
    let (_, k) = apply(&icmp4(), SetField::Icmpv4Code(13), &[field::ICMP_CODE]);
    assert_eq!(k.get(field::ICMP_CODE), 13);
    let (_, k) = apply(
        &icmp6_echo(),
        SetField::Icmpv6Type(129),
        &[field::ICMP_TYPE],
    );
    assert_eq!(k.get(field::ICMP_TYPE), 129);
    let (_, k) = apply(&icmp6_echo(), SetField::Icmpv6Code(3), &[field::ICMP_CODE]);
    assert_eq!(k.get(field::ICMP_CODE), 3);
    let mut b = buf(&icmp6_echo());
    assert_eq!(
        modify::set_field(&mut b, SetField::Icmpv4Type(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::Icmpv4
        })
    );
}

#[test]
fn set_arp_fields() {
    let f = arp();
    let (_, k) = apply(&f, SetField::ArpOp(1), &[field::ARP_OP]);
    assert_eq!(k.get(field::ARP_OP), 1);
    let (_, k) = apply(&f, SetField::ArpSpa(0x01020304), &[field::ARP_SPA]);
    assert_eq!(k.get(field::ARP_SPA), 0x01020304);
    let (_, k) = apply(&f, SetField::ArpTpa(0x05060708), &[field::ARP_TPA]);
    assert_eq!(k.get(field::ARP_TPA), 0x05060708);
    let (_, k) = apply(&f, SetField::ArpSha([7; 6]), &[field::ARP_SHA]);
    assert_eq!(k.get(field::ARP_SHA), mac_to_u64([7; 6]));
    let (_, k) = apply(&f, SetField::ArpTha([6; 6]), &[field::ARP_THA]);
    assert_eq!(k.get(field::ARP_THA), mac_to_u64([6; 6]));
}

#[test]
fn set_mpls_and_pbb_fields() {
    let f = mpls2();
    let (out, k) = apply(&f, SetField::MplsLabel(0xfffff), &[field::MPLS_LABEL]);
    assert_eq!(k.get(field::MPLS_LABEL), 0xfffff);
    assert_eq!(out[17], 20, "TTL kept");
    let (_, k) = apply(&f, SetField::MplsTc(2), &[field::MPLS_TC]);
    assert_eq!(k.get(field::MPLS_TC), 2);
    let (_, k) = apply(&f, SetField::MplsBos(true), &[field::MPLS_BOS]);
    assert_eq!(k.get(field::MPLS_BOS), 1);
    let (out, k) = apply(&pbb(), SetField::PbbIsid(0x010203), &[field::PBB_ISID]);
    assert_eq!(k.get(field::PBB_ISID), 0x010203);
    assert_eq!(out[14], 0x60, "I-TAG flags kept");
}

#[test]
fn set_nd_fields() {
    let (_, k) = apply(
        &nd(135),
        SetField::Ipv6NdTarget(5),
        &[field::IPV6_ND_TARGET],
    );
    assert_eq!(k.get128(field::IPV6_ND_TARGET), 5);
    let (_, k) = apply(
        &nd(136),
        SetField::Ipv6NdTarget(6),
        &[field::IPV6_ND_TARGET],
    );
    assert_eq!(k.get128(field::IPV6_ND_TARGET), 6);
    let (_, k) = apply(
        &nd(135),
        SetField::Ipv6NdSll([1, 2, 3, 4, 5, 6]),
        &[field::IPV6_ND_SLL],
    );
    assert_eq!(k.get(field::IPV6_ND_SLL), mac_to_u64([1, 2, 3, 4, 5, 6]));
    let (_, k) = apply(&nd(136), SetField::Ipv6NdTll([6; 6]), &[field::IPV6_ND_TLL]);
    assert_eq!(k.get(field::IPV6_ND_TLL), mac_to_u64([6; 6]));
    let mut b = buf(&nd(135));
    assert_eq!(
        modify::set_field(&mut b, SetField::Ipv6NdTll([1; 6])),
        Err(ModifyError::FieldAbsent {
            header: Header::NeighborDiscovery
        })
    );
    let mut b = buf(&icmp6_echo());
    assert_eq!(
        modify::set_field(&mut b, SetField::Ipv6NdTarget(1)),
        Err(ModifyError::FieldAbsent {
            header: Header::NeighborDiscovery
        })
    );
    // An NS without an SLL option.
    let mut body = vec![0u8; 4];
    body.extend(TARGET.to_be_bytes());
    let ns = frame(&[&eth(0x86dd), &ipv6(58, 0, 0, 255, &icmp(135, 0, &body))]);
    let mut b = buf(&ns);
    assert_eq!(
        modify::set_field(&mut b, SetField::Ipv6NdSll([1; 6])),
        Err(ModifyError::FieldAbsent {
            header: Header::NdSll
        })
    );
    assert_eq!(b.data(), &ns[..]);
}

#[test]
fn set_field_parsed_reuses_one_parse() {
    let f = tcp4();
    let mut b = buf(&f);
    let p = extract(b.data(), 0, 0, 0, 0);
    for sf in [
        SetField::Ipv4Src(1),
        SetField::Ipv4Dst(2),
        SetField::TcpSrc(3),
        SetField::IpDscp(4),
    ] {
        modify::set_field_parsed(b.data_mut(), &p, sf).unwrap();
    }
    assert_checksums(b.data());
    let k = key(b.data());
    assert_eq!(
        (
            k.get(field::IPV4_SRC),
            k.get(field::IPV4_DST),
            k.get(field::TP_SRC),
            k.get(field::IP_DSCP)
        ),
        (1, 2, 3, 4)
    );
    // A stale Parsed of a longer frame does not panic.
    let short = &f[..20];
    let mut d = short.to_vec();
    for sf in all_set_fields() {
        let _ = modify::set_field_parsed(&mut d, &p, sf);
    }
}

#[test]
fn push_pop_vlan() {
    let f = tcp4();
    let mut b = buf(&f);
    modify::push_vlan(&mut b, 0x8100).unwrap();
    assert_eq!(&b.data()[12..16], &[0x81, 0x00, 0, 0]);
    assert_eq!(&b.data()[..12], &f[..12]);
    let k = key(b.data());
    assert_eq!(
        (
            k.get(field::VLAN_VID),
            k.get(field::ETH_TYPE),
            k.get(field::TP_DST)
        ),
        (0x1000, 0x0800, 80)
    );
    modify::set_field(&mut b, SetField::VlanVid(42)).unwrap();
    modify::set_field(&mut b, SetField::VlanPcp(5)).unwrap();
    // A second push copies VID and PCP.
    modify::push_vlan(&mut b, 0x88a8).unwrap();
    assert_eq!(
        &b.data()[12..20],
        &[0x88, 0xa8, 0xa0, 42, 0x81, 0x00, 0xa0, 42]
    );
    let p = extract(b.data(), 0, 0, 0, 0);
    assert_eq!((p.vlan_tags, p.key.get(field::VLAN_VID)), (2, 0x1000 | 42));
    modify::pop_vlan(&mut b).unwrap();
    modify::pop_vlan(&mut b).unwrap();
    assert_eq!(b.data(), &f[..]);
    assert_eq!(
        modify::pop_vlan(&mut b),
        Err(ModifyError::FieldAbsent {
            header: Header::Vlan
        })
    );
    assert_eq!(
        modify::push_vlan(&mut b, 0x0800),
        Err(ModifyError::BadEthertype { ethertype: 0x0800 })
    );
    // Headroom runs out after HEADROOM / 4 pushes; the frame is unchanged.
    let mut n = 0;
    while modify::push_vlan(&mut b, 0x8100).is_ok() {
        n += 1;
    }
    assert_eq!(n, dataplane::buf::HEADROOM / 4);
    let before = b.data().to_vec();
    assert_eq!(
        modify::push_vlan(&mut b, 0x8100),
        Err(ModifyError::NoHeadroom { need: 4 })
    );
    assert_eq!(b.data(), &before[..]);
}

#[test]
fn push_pop_mpls() {
    // Over IPv4: TTL from IP, BoS, label 0.
    let f = tcp4();
    let mut b = buf(&f);
    modify::push_mpls(&mut b, 0x8847).unwrap();
    assert_eq!(&b.data()[12..18], &[0x88, 0x47, 0, 0, 0x01, 64]);
    let k = key(b.data());
    assert_eq!(
        (
            k.get(field::ETH_TYPE),
            k.get(field::MPLS_LABEL),
            k.get(field::MPLS_BOS)
        ),
        (0x8847, 0, 1)
    );
    assert_eq!(k.get(field::IPV4_SRC), 0);
    // A second push copies label/TC/TTL, BoS 0.
    modify::set_field(&mut b, SetField::MplsLabel(0xabcde)).unwrap();
    modify::set_field(&mut b, SetField::MplsTc(3)).unwrap();
    modify::push_mpls(&mut b, 0x8848).unwrap();
    assert_eq!(
        &b.data()[12..22],
        &[0x88, 0x48, 0xab, 0xcd, 0xe6, 64, 0xab, 0xcd, 0xe7, 64]
    );
    modify::pop_mpls(&mut b, 0x8847).unwrap();
    modify::pop_mpls(&mut b, 0x0800).unwrap();
    let k = key(b.data());
    assert_eq!((k.get(field::ETH_TYPE), k.get(field::TP_DST)), (0x0800, 80));
    assert_eq!(b.data(), &f[..]);
    assert_eq!(
        modify::pop_mpls(&mut b, 0x0800),
        Err(ModifyError::FieldAbsent {
            header: Header::Mpls
        })
    );
    // Over IPv6: hop limit; after VLAN tags; over ARP: TTL 0.
    let mut b = buf(&tcp6());
    modify::push_mpls(&mut b, 0x8847).unwrap();
    assert_eq!(b.data()[17], 64);
    let mut t = eth_tagged(&[(0x8100, 7)], 0x0806);
    t.extend(&arp()[14..]);
    let mut b = buf(&t);
    modify::push_mpls(&mut b, 0x8847).unwrap();
    assert_eq!(
        &b.data()[12..22],
        &[0x81, 0x00, 0, 7, 0x88, 0x47, 0, 0, 1, 0]
    );
    assert_eq!(key(b.data()).get(field::VLAN_VID), 0x1007);
    assert_eq!(
        modify::push_mpls(&mut b, 0x0800),
        Err(ModifyError::BadEthertype { ethertype: 0x0800 })
    );
}

#[test]
fn push_pop_pbb() {
    let mut t = eth_tagged(&[(0x8100, (4 << 13) | 10)], 0x0800);
    t.extend(&tcp4()[14..]);
    let mut b = buf(&t);
    modify::push_pbb(&mut b, 0x88e7).unwrap();
    let d = b.data();
    assert_eq!(d.len(), t.len() + 18);
    assert_eq!(&d[..12], &t[..12], "backbone addresses keep the old ones");
    assert_eq!(
        &d[12..18],
        &[0x88, 0xe7, 0x80, 0, 0, 0],
        "I-PCP from the VLAN PCP, I-SID 0"
    );
    assert_eq!(&d[18..], &t[..], "customer frame");
    let k = key(d);
    assert_eq!(
        (
            k.get(field::ETH_TYPE),
            k.get(field::PBB_ISID),
            k.get(field::VLAN_VID)
        ),
        (0x88e7, 0, 0)
    );
    modify::set_field(&mut b, SetField::PbbIsid(0x00beef)).unwrap();
    // A second push copies the I-SID.
    modify::push_pbb(&mut b, 0x88e7).unwrap();
    assert_eq!(key(b.data()).get(field::PBB_ISID), 0xbeef);
    modify::pop_pbb(&mut b).unwrap();
    modify::pop_pbb(&mut b).unwrap();
    assert_eq!(b.data(), &t[..]);
    assert_eq!(
        modify::pop_pbb(&mut b),
        Err(ModifyError::FieldAbsent {
            header: Header::Pbb
        })
    );
    assert_eq!(
        modify::push_pbb(&mut b, 0x8100),
        Err(ModifyError::BadEthertype { ethertype: 0x8100 })
    );
}

#[test]
fn ttl_actions() {
    // IPv4: checksum kept.
    let mut b = buf(&tcp4());
    assert_eq!(modify::dec_nw_ttl(&mut b), Ok(TtlOutcome::Decremented));
    assert_eq!(b.data()[22], 63);
    assert_checksums(b.data());
    modify::set_nw_ttl(&mut b, 1).unwrap();
    assert_checksums(b.data());
    let before = b.data().to_vec();
    assert_eq!(modify::dec_nw_ttl(&mut b), Ok(TtlOutcome::Invalid));
    assert_eq!(b.data(), &before[..]);
    modify::set_nw_ttl(&mut b, 0).unwrap();
    assert_eq!(modify::dec_nw_ttl(&mut b), Ok(TtlOutcome::Invalid));
    assert_checksums(b.data());
    // IPv6 hop limit.
    let mut b = buf(&tcp6());
    assert_eq!(modify::dec_nw_ttl(&mut b), Ok(TtlOutcome::Decremented));
    assert_eq!(b.data()[21], 63);
    modify::set_nw_ttl(&mut b, 200).unwrap();
    assert_eq!(b.data()[21], 200);
    let mut b = buf(&arp());
    assert_eq!(
        modify::dec_nw_ttl(&mut b),
        Err(ModifyError::FieldAbsent { header: Header::Ip })
    );
    // MPLS.
    let mut b = buf(&mpls2());
    assert_eq!(modify::dec_mpls_ttl(&mut b), Ok(TtlOutcome::Decremented));
    assert_eq!(b.data()[17], 19);
    modify::set_mpls_ttl(&mut b, 1).unwrap();
    assert_eq!(modify::dec_mpls_ttl(&mut b), Ok(TtlOutcome::Invalid));
    assert_eq!(b.data()[17], 1);
    let mut b = buf(&tcp4());
    assert_eq!(
        modify::dec_mpls_ttl(&mut b),
        Err(ModifyError::FieldAbsent {
            header: Header::Mpls
        })
    );
    assert_eq!(
        modify::set_mpls_ttl(&mut b, 1),
        Err(ModifyError::FieldAbsent {
            header: Header::Mpls
        })
    );
}

#[test]
fn copy_ttl_between_mpls_and_ip() {
    // Two labels: out copies the second entry's TTL (30) to the top.
    let mut b = buf(&mpls2());
    modify::copy_ttl_out(&mut b).unwrap();
    assert_eq!(b.data()[17], 30);
    modify::set_mpls_ttl(&mut b, 9).unwrap();
    modify::copy_ttl_in(&mut b).unwrap();
    assert_eq!(b.data()[21], 9);
    // Pop to one label over IPv4: in/out touch the IP TTL with checksum.
    modify::pop_mpls(&mut b, 0x8847).unwrap();
    assert_eq!(b.data()[17], 9);
    modify::copy_ttl_out(&mut b).unwrap();
    assert_eq!(b.data()[17], 64);
    modify::set_mpls_ttl(&mut b, 33).unwrap();
    modify::copy_ttl_in(&mut b).unwrap();
    modify::pop_mpls(&mut b, 0x0800).unwrap();
    assert_eq!(b.data()[22], 33);
    assert_checksums(b.data());
    // Over IPv6.
    let mut b = buf(&tcp6());
    modify::push_mpls(&mut b, 0x8847).unwrap();
    modify::set_mpls_ttl(&mut b, 5).unwrap();
    modify::copy_ttl_in(&mut b).unwrap();
    modify::pop_mpls(&mut b, 0x86dd).unwrap();
    assert_eq!(b.data()[21], 5);
    let mut b = buf(&tcp4());
    assert_eq!(
        modify::copy_ttl_in(&mut b),
        Err(ModifyError::FieldAbsent {
            header: Header::Mpls
        })
    );
    // MPLS over something that is not IP.
    let mut f = eth(0x8847);
    f.extend((0x100u32 | 7).to_be_bytes());
    f.extend([0x99; 20]);
    let mut b = buf(&f);
    assert_eq!(
        modify::copy_ttl_out(&mut b),
        Err(ModifyError::FieldAbsent { header: Header::Ip })
    );
}

/// The key field a SET_FIELD writes and the value it must read back as.
fn expected(sf: SetField) -> (FieldLoc, u128) {
    use SetField as S;
    let m = |a: [u8; 6]| mac_to_u64(a) as u128;
    match sf {
        S::EthDst(a) => (field::ETH_DST, m(a)),
        S::EthSrc(a) => (field::ETH_SRC, m(a)),
        S::VlanVid(v) => (field::VLAN_VID, 0x1000 | (v & 0xfff) as u128),
        S::VlanPcp(v) => (field::VLAN_PCP, (v & 7) as u128),
        S::IpDscp(v) => (field::IP_DSCP, (v & 0x3f) as u128),
        S::IpEcn(v) => (field::IP_ECN, (v & 3) as u128),
        S::Ipv4Src(a) => (field::IPV4_SRC, a as u128),
        S::Ipv4Dst(a) => (field::IPV4_DST, a as u128),
        S::Ipv6Src(a) => (field::IPV6_SRC, a),
        S::Ipv6Dst(a) => (field::IPV6_DST, a),
        S::Ipv6Flabel(v) => (field::IPV6_FLABEL, (v & 0xfffff) as u128),
        S::TcpSrc(v) | S::UdpSrc(v) | S::SctpSrc(v) => (field::TP_SRC, v as u128),
        S::TcpDst(v) | S::UdpDst(v) | S::SctpDst(v) => (field::TP_DST, v as u128),
        S::Icmpv4Type(v) | S::Icmpv6Type(v) => (field::ICMP_TYPE, v as u128),
        S::Icmpv4Code(v) | S::Icmpv6Code(v) => (field::ICMP_CODE, v as u128),
        S::ArpOp(v) => (field::ARP_OP, v as u128),
        S::ArpSpa(a) => (field::ARP_SPA, a as u128),
        S::ArpTpa(a) => (field::ARP_TPA, a as u128),
        S::ArpSha(a) => (field::ARP_SHA, m(a)),
        S::ArpTha(a) => (field::ARP_THA, m(a)),
        S::MplsLabel(v) => (field::MPLS_LABEL, (v & 0xfffff) as u128),
        S::MplsTc(v) => (field::MPLS_TC, (v & 7) as u128),
        S::MplsBos(b) => (field::MPLS_BOS, b as u128),
        S::Ipv6NdTarget(a) => (field::IPV6_ND_TARGET, a),
        S::Ipv6NdSll(a) => (field::IPV6_ND_SLL, m(a)),
        S::Ipv6NdTll(a) => (field::IPV6_ND_TLL, m(a)),
        S::PbbIsid(v) => (field::PBB_ISID, (v & 0xff_ffff) as u128),
        _ => unreachable!("new SetField variant: extend this test"),
    }
}

fn any_set_field() -> impl Strategy<Value = SetField> {
    use SetField as S;
    prop_oneof![
        any::<[u8; 6]>().prop_map(S::EthDst),
        any::<[u8; 6]>().prop_map(S::EthSrc),
        any::<u16>().prop_map(S::VlanVid),
        any::<u8>().prop_map(S::VlanPcp),
        any::<u8>().prop_map(S::IpDscp),
        any::<u8>().prop_map(S::IpEcn),
        any::<u32>().prop_map(S::Ipv4Src),
        any::<u32>().prop_map(S::Ipv4Dst),
        any::<u128>().prop_map(S::Ipv6Src),
        any::<u128>().prop_map(S::Ipv6Dst),
        any::<u32>().prop_map(S::Ipv6Flabel),
        any::<u16>().prop_map(S::TcpSrc),
        any::<u16>().prop_map(S::TcpDst),
        any::<u16>().prop_map(S::UdpSrc),
        any::<u16>().prop_map(S::UdpDst),
        any::<u16>().prop_map(S::SctpSrc),
        any::<u16>().prop_map(S::SctpDst),
        any::<u8>().prop_map(S::Icmpv4Type),
        any::<u8>().prop_map(S::Icmpv4Code),
        // Types 135/136 would turn other ICMPv6 messages into ND ones.
        (0u8..135).prop_map(S::Icmpv6Type),
        any::<u8>().prop_map(S::Icmpv6Code),
        any::<u16>().prop_map(S::ArpOp),
        any::<u32>().prop_map(S::ArpSpa),
        any::<u32>().prop_map(S::ArpTpa),
        any::<[u8; 6]>().prop_map(S::ArpSha),
        any::<[u8; 6]>().prop_map(S::ArpTha),
        any::<u32>().prop_map(S::MplsLabel),
        any::<u8>().prop_map(S::MplsTc),
        any::<bool>().prop_map(S::MplsBos),
        any::<u128>().prop_map(S::Ipv6NdTarget),
        any::<[u8; 6]>().prop_map(S::Ipv6NdSll),
        any::<[u8; 6]>().prop_map(S::Ipv6NdTll),
        any::<u32>().prop_map(S::PbbIsid),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Any SET_FIELD on any frame either applies (the field reads back as
    /// the value, nothing else changes, all checksums are right) or is
    /// refused and leaves the frame unchanged.
    #[test]
    fn set_field_applies_exactly_or_not_at_all(which in 0usize..14, sf in any_set_field()) {
        let f = all_frames().swap_remove(which);
        let before = key(&f);
        let mut b = buf(&f);
        let (loc, want) = expected(sf);
        match modify::set_field(&mut b, sf) {
            Ok(()) => {
                let k = key(b.data());
                if loc.bits == 128 {
                    prop_assert_eq!(k.get128(loc), want);
                } else {
                    prop_assert_eq!(k.get(loc) as u128, want);
                }
                // Rewriting an ND message's type or code makes it another
                // message, whose ND fields are not extracted.
                let nd_fields = [loc, field::IPV6_ND_TARGET, field::IPV6_ND_SLL, field::IPV6_ND_TLL];
                let retyped = matches!(sf, SetField::Icmpv6Type(_) | SetField::Icmpv6Code(_));
                let only = [loc];
                assert_only_changed(&before, &k, if retyped { &nd_fields } else { &only });
                assert_checksums(b.data());
                prop_assert_eq!(b.len(), f.len());
            }
            Err(ModifyError::FieldAbsent { .. }) => prop_assert_eq!(b.data(), &f[..]),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }

    /// Random field values survive a build → extract round trip.
    #[test]
    fn extract_reads_back_built_fields(
        vlan in proptest::option::of((0u16..4096, 0u8..8)),
        tos in any::<u8>(),
        src in any::<u32>(),
        dst in any::<u32>(),
        sport in any::<u16>(),
        dport in any::<u16>(),
        udp_not_tcp in any::<bool>(),
        v6 in any::<bool>(),
        flabel in 0u32..(1 << 20),
    ) {
        let l4 = if udp_not_tcp { udp(sport, dport, b"pp") } else { tcp(sport, dport, b"pp") };
        let proto = if udp_not_tcp { 17 } else { 6 };
        let (et, mut l3) = if v6 {
            (0x86dd, ipv6(proto, tos, flabel, 9, &l4))
        } else {
            (0x0800, ipv4(proto, tos, 9, 0, &[], &l4))
        };
        if !v6 {
            l3[12..16].copy_from_slice(&src.to_be_bytes());
            l3[16..20].copy_from_slice(&dst.to_be_bytes());
        }
        let mut f = match vlan {
            Some((vid, pcp)) => eth_tagged(&[(0x8100, ((pcp as u16) << 13) | vid)], et),
            None => eth(et),
        };
        f.extend(l3);
        let k = key(&f);
        prop_assert_eq!(k.get(field::ETH_TYPE), et as u64);
        prop_assert_eq!(k.get(field::VLAN_VID), vlan.map_or(0, |(v, _)| 0x1000 | v as u64));
        prop_assert_eq!(k.get(field::VLAN_PCP), vlan.map_or(0, |(_, p)| p as u64));
        prop_assert_eq!(k.get(field::IP_PROTO), proto as u64);
        prop_assert_eq!(k.get(field::IP_DSCP), (tos >> 2) as u64);
        prop_assert_eq!(k.get(field::IP_ECN), (tos & 3) as u64);
        prop_assert_eq!(k.get(field::TP_SRC), sport as u64);
        prop_assert_eq!(k.get(field::TP_DST), dport as u64);
        if v6 {
            prop_assert_eq!(k.get(field::IPV6_FLABEL), flabel as u64);
            prop_assert_eq!(k.get128(field::IPV6_SRC), V6_SRC);
        } else {
            prop_assert_eq!(k.get(field::IPV4_SRC), src as u64);
            prop_assert_eq!(k.get(field::IPV4_DST), dst as u64);
        }
    }
}
