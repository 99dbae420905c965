//! The per-packet walk from frame bytes to a [`FlowKey`] (rules in the
//! module docs of [`crate::packet`]).

use super::ethernet::{self, ethertype};
use super::ipv4::protocol;
use super::{arp, icmpv4, icmpv6, ipv4, ipv6, mpls, pbb, sctp, tcp, udp, vlan};
use crate::key::{FieldLoc, FlowKey, field, mac_to_u64};

/// A parsed frame: its flow key and where its headers are.
///
/// Offsets are from the start of the frame and are set only for headers
/// that were read completely (and so are safe to rewrite in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Every match field present.
    pub key: FlowKey,
    /// VLAN tags skipped; the outermost TPID sits at byte 12.
    pub vlan_tags: u8,
    /// Offset of the ethertype field that holds `eth_type` (after the VLAN
    /// tags, or inside an LLC/SNAP header). `None` for frames shorter than
    /// an Ethernet header.
    pub eth_type_offset: Option<usize>,
    /// Offset of what `eth_type` announces (top MPLS label stack entry, PBB
    /// I-TAG, ARP, IP header), when the L2 walk completed.
    pub net_offset: Option<usize>,
    /// Offset of a valid ARP, IPv4 or IPv6 header.
    pub l3_offset: Option<usize>,
    /// Offset of a TCP, UDP, SCTP, ICMPv4 or ICMPv6 header whose fields are
    /// in the key.
    pub l4_offset: Option<usize>,
    /// End of the IP datagram (its total/payload length; Ethernet padding
    /// lies beyond it); the frame length when there is no IP header.
    pub l3_end: usize,
}

impl Parsed {
    /// Nothing parsed: an all-zero key and no headers.
    pub const EMPTY: Parsed = Parsed {
        key: FlowKey::new(),
        vlan_tags: 0,
        eth_type_offset: None,
        net_offset: None,
        l3_offset: None,
        l4_offset: None,
        l3_end: 0,
    };

    /// The `eth_type` of the key.
    #[inline]
    pub fn eth_type(&self) -> u16 {
        self.key.get(field::ETH_TYPE) as u16
    }

    /// The `ip_proto` of the key (0 when there is none).
    #[inline]
    pub fn ip_proto(&self) -> u8 {
        self.key.get(field::IP_PROTO) as u8
    }
}

/// Parses `frame` into its flow key and header offsets. Never panics and
/// never allocates; see the [module docs](crate::packet) for what is filled
/// for truncated and malformed frames.
#[inline]
pub fn extract(
    frame: &[u8],
    in_port: u32,
    in_phy_port: u32,
    metadata: u64,
    tunnel_id: u64,
) -> Parsed {
    let mut p = Parsed::EMPTY;
    extract_into(&mut p, frame, in_port, in_phy_port, metadata, tunnel_id);
    p
}

/// [`extract`] into a caller-owned `Parsed` (overwritten entirely). This
/// is the cheaper form on the fast path: the result is written in place
/// rather than copied out (a `Parsed` is larger than the compiler copies
/// inline). The common frame's parse (untagged IPv4 with TCP or UDP) is
/// inlined into the caller; every other goes through one call.
#[inline(always)]
pub fn extract_into(
    p: &mut Parsed,
    frame: &[u8],
    in_port: u32,
    in_phy_port: u32,
    metadata: u64,
    tunnel_id: u64,
) {
    if !fast_ipv4(p, frame, in_port, in_phy_port, metadata, tunnel_id) {
        extract_general(p, frame, in_port, in_phy_port, metadata, tunnel_id);
    }
}

/// The general walk (every frame [`fast_ipv4`] does not take).
#[inline(never)]
fn extract_general(
    p: &mut Parsed,
    frame: &[u8],
    in_port: u32,
    in_phy_port: u32,
    metadata: u64,
    tunnel_id: u64,
) {
    *p = Parsed::EMPTY;
    p.l3_end = frame.len();
    put(&mut p.key, field::IN_PORT, in_port as u64);
    put(&mut p.key, field::IN_PHY_PORT, in_phy_port as u64);
    put(&mut p.key, field::METADATA, metadata);
    put(&mut p.key, field::TUNNEL_ID, tunnel_id);
    l2(frame, p);
}

/// The common frame, parsed in one go: untagged Ethernet, IPv4 without
/// options and not a later fragment, carrying a complete TCP or UDP header.
/// Writes exactly what the general walk below would (the tests compare the
/// two), but each key word once, from registers, instead of clearing the
/// key and or-ing fields into it. Returns false, having written nothing,
/// for every other frame.
#[inline(always)]
fn fast_ipv4(
    p: &mut Parsed,
    frame: &[u8],
    in_port: u32,
    in_phy_port: u32,
    metadata: u64,
    tunnel_id: u64,
) -> bool {
    const ETH: usize = 14;
    const IP: usize = 20;
    let Some(&[d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, t0, t1]) = frame.get(..ETH) else {
        return false;
    };
    if u16::from_be_bytes([t0, t1]) != ethertype::IPV4 {
        return false;
    }
    let Some(
        &[
            vihl,
            tos,
            l0,
            l1,
            _,
            _,
            f0,
            f1,
            _,
            proto,
            _,
            _,
            a0,
            a1,
            a2,
            a3,
            b0,
            b1,
            b2,
            b3,
        ],
    ) = frame.get(ETH..ETH + IP)
    else {
        return false;
    };
    let tl = usize::from(u16::from_be_bytes([l0, l1]));
    // Version 4, IHL 5; a total length that covers the header and fits.
    if vihl != 0x45 || tl < IP || ETH + tl > frame.len() {
        return false;
    }
    if u16::from_be_bytes([f0, f1]) & 0x1fff != 0 {
        return false;
    }
    let l4 = &frame[ETH + IP..ETH + tl];
    let ports = match (proto, l4) {
        (protocol::TCP, &[x0, x1, y0, y1, _, _, _, _, _, _, _, _, off, ..])
            if (usize::from(off >> 4) * 4) >= tcp::MIN_HEADER_LEN
                && usize::from(off >> 4) * 4 <= l4.len() =>
        {
            (u16::from_be_bytes([x0, x1]), u16::from_be_bytes([y0, y1]))
        }
        (protocol::UDP, &[x0, x1, y0, y1, _, _, _, _, ..]) => {
            (u16::from_be_bytes([x0, x1]), u16::from_be_bytes([y0, y1]))
        }
        _ => return false,
    };
    let mut w = [0u64; crate::key::KEY_WORDS];
    w[field::IN_PORT.word as usize] = u64::from(in_port) | u64::from(in_phy_port) << 32;
    w[field::METADATA.word as usize] = metadata;
    w[field::TUNNEL_ID.word as usize] = tunnel_id;
    w[field::ETH_DST.word as usize] =
        mac_to_u64([d0, d1, d2, d3, d4, d5]) | u64::from(ethertype::IPV4) << field::ETH_TYPE.shift;
    w[field::ETH_SRC.word as usize] = mac_to_u64([s0, s1, s2, s3, s4, s5]);
    w[field::IP_PROTO.word as usize] = u64::from(proto) << field::IP_PROTO.shift
        | u64::from(tos >> 2) << field::IP_DSCP.shift
        | u64::from(tos & 3) << field::IP_ECN.shift;
    w[field::IPV4_SRC.word as usize] = u64::from(u32::from_be_bytes([a0, a1, a2, a3]))
        | u64::from(u32::from_be_bytes([b0, b1, b2, b3])) << field::IPV4_DST.shift;
    w[field::TP_SRC.word as usize] = u64::from(ports.0) | u64::from(ports.1) << field::TP_DST.shift;
    p.key.w = w;
    p.vlan_tags = 0;
    p.eth_type_offset = Some(12);
    p.net_offset = Some(ETH);
    p.l3_offset = Some(ETH);
    p.l4_offset = Some(ETH + IP);
    p.l3_end = ETH + tl;
    true
}

/// Stores a field into a key whose bits for it are still zero (each field
/// is written at most once per walk, so no read-modify-write masking).
#[inline(always)]
fn put(k: &mut FlowKey, f: FieldLoc, v: u64) {
    debug_assert!(
        f.bits >= 64 || v >> f.bits == 0,
        "{f:?} value {v:#x} too wide"
    );
    debug_assert_eq!(k.get(f), 0, "{f:?} written twice");
    if let Some(w) = k.w.get_mut(f.word as usize) {
        *w |= v << f.shift;
    }
}

#[inline(always)]
fn l2(frame: &[u8], p: &mut Parsed) {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return;
    };
    put(&mut p.key, field::ETH_DST, eth.dst_addr_u64());
    put(&mut p.key, field::ETH_SRC, eth.src_addr_u64());
    // `at` is the offset of the current ethertype field.
    let mut at = 12;
    let mut ty = eth.ethertype();
    while ty == ethertype::VLAN || ty == ethertype::QINQ {
        if p.vlan_tags == u8::MAX {
            break;
        }
        let Ok(tag) = vlan::Tag::new_checked(frame.get(at + 2..).unwrap_or(&[])) else {
            break;
        };
        if p.vlan_tags == 0 {
            put(&mut p.key, field::VLAN_VID, 0x1000 | tag.vid() as u64);
            put(&mut p.key, field::VLAN_PCP, tag.pcp() as u64);
        }
        p.vlan_tags += 1;
        ty = tag.ethertype();
        at += 4;
    }
    if ty == ethertype::VLAN || ty == ethertype::QINQ {
        // A truncated tag: the walk ends at its TPID.
        put(&mut p.key, field::ETH_TYPE, ty as u64);
        p.eth_type_offset = Some(at);
        return;
    }
    if ty < 0x0600 {
        // 802.3 length: follow an LLC/SNAP header with OUI 0.
        match frame.get(at + 2..at + 10) {
            Some([0xaa, 0xaa, 0x03, 0, 0, 0, t0, t1]) => {
                at += 8;
                ty = u16::from_be_bytes([*t0, *t1]);
            }
            _ => {
                put(&mut p.key, field::ETH_TYPE, ethertype::NONE as u64);
                p.eth_type_offset = Some(at);
                return;
            }
        }
    }
    put(&mut p.key, field::ETH_TYPE, ty as u64);
    p.eth_type_offset = Some(at);
    let net = at + 2;
    p.net_offset = Some(net);
    let rest = frame.get(net..).unwrap_or(&[]);
    match ty {
        ethertype::IPV4 => l3_ipv4(rest, net, p),
        ethertype::IPV6 => l3_ipv6(rest, net, p),
        ethertype::ARP => l3_arp(rest, net, p),
        ethertype::MPLS | ethertype::MPLS_MC => {
            if let Ok(l) = mpls::Lse::new_checked(rest) {
                put(&mut p.key, field::MPLS_LABEL, l.label() as u64);
                put(&mut p.key, field::MPLS_TC, l.tc() as u64);
                put(&mut p.key, field::MPLS_BOS, l.bos() as u64);
            }
        }
        ethertype::PBB => {
            if let Ok(t) = pbb::ITag::new_checked(rest) {
                put(&mut p.key, field::PBB_ISID, t.isid() as u64);
            }
        }
        _ => {}
    }
}

#[inline(always)]
fn l3_ipv4(rest: &[u8], net: usize, p: &mut Parsed) {
    let Ok(ip) = ipv4::Packet::new_checked(rest) else {
        return;
    };
    if ip.version() != 4 {
        return;
    }
    let k = &mut p.key;
    let proto = ip.protocol();
    put(k, field::IP_PROTO, proto as u64);
    put(k, field::IP_DSCP, ip.dscp() as u64);
    put(k, field::IP_ECN, ip.ecn() as u64);
    put(k, field::IPV4_SRC, ip.src_addr() as u64);
    put(k, field::IPV4_DST, ip.dst_addr() as u64);
    p.l3_offset = Some(net);
    p.l3_end = net + ip.total_len() as usize;
    if ip.frag_offset() != 0 {
        return;
    }
    let hl = ip.header_len();
    let payload = rest.get(hl..ip.total_len() as usize).unwrap_or(&[]);
    l4(proto, false, payload, net + hl, p);
}

#[inline(always)]
fn l3_ipv6(rest: &[u8], net: usize, p: &mut Parsed) {
    let Ok(ip) = ipv6::Packet::new_checked(rest) else {
        return;
    };
    if ip.version() != 6 {
        return;
    }
    let k = &mut p.key;
    put(k, field::IP_DSCP, ip.dscp() as u64);
    put(k, field::IP_ECN, ip.ecn() as u64);
    k.set128(field::IPV6_SRC, ip.src_addr());
    k.set128(field::IPV6_DST, ip.dst_addr());
    put(k, field::IPV6_FLABEL, ip.flow_label() as u64);
    p.l3_offset = Some(net);
    p.l3_end = net + ipv6::HEADER_LEN + ip.payload_len() as usize;
    let payload = rest.get(ipv6::HEADER_LEN..p.l3_end - net).unwrap_or(&[]);
    let w = ipv6::walk_ext_headers(ip.next_header(), payload);
    put(k, field::IPV6_EXTHDR, w.flags as u64);
    let Some(proto) = w.upper else { return };
    put(k, field::IP_PROTO, proto as u64);
    if w.later_fragment {
        return;
    }
    let l4data = payload.get(w.offset..).unwrap_or(&[]);
    l4(proto, true, l4data, net + ipv6::HEADER_LEN + w.offset, p);
}

#[inline(always)]
fn l3_arp(rest: &[u8], net: usize, p: &mut Parsed) {
    let Ok(a) = arp::Packet::new_checked(rest) else {
        return;
    };
    if !a.is_ethernet_ipv4() {
        return;
    }
    let k = &mut p.key;
    put(k, field::ARP_OP, a.operation() as u64);
    put(k, field::ARP_SPA, a.spa() as u64);
    put(k, field::ARP_TPA, a.tpa() as u64);
    put(k, field::ARP_SHA, mac_to_u64(a.sha()));
    put(k, field::ARP_THA, mac_to_u64(a.tha()));
    p.l3_offset = Some(net);
}

#[inline(always)]
fn l4(proto: u8, v6: bool, data: &[u8], off: usize, p: &mut Parsed) {
    let k = &mut p.key;
    match proto {
        protocol::TCP => {
            let Ok(t) = tcp::Packet::new_checked(data) else {
                return;
            };
            put(k, field::TP_SRC, t.src_port() as u64);
            put(k, field::TP_DST, t.dst_port() as u64);
        }
        protocol::UDP => {
            let Ok(u) = udp::Packet::new_checked(data) else {
                return;
            };
            put(k, field::TP_SRC, u.src_port() as u64);
            put(k, field::TP_DST, u.dst_port() as u64);
        }
        protocol::SCTP => {
            let Ok(s) = sctp::Packet::new_checked(data) else {
                return;
            };
            put(k, field::TP_SRC, s.src_port() as u64);
            put(k, field::TP_DST, s.dst_port() as u64);
        }
        protocol::ICMP if !v6 => {
            let Ok(i) = icmpv4::Packet::new_checked(data) else {
                return;
            };
            put(k, field::ICMP_TYPE, i.msg_type() as u64);
            put(k, field::ICMP_CODE, i.msg_code() as u64);
        }
        protocol::ICMPV6 if v6 => {
            let Ok(i) = icmpv6::Packet::new_checked(data) else {
                return;
            };
            let (t, c) = (i.msg_type(), i.msg_code());
            put(k, field::ICMP_TYPE, t as u64);
            put(k, field::ICMP_CODE, c as u64);
            let is_nd =
                t == icmpv6::msg_type::NEIGHBOR_SOLICIT || t == icmpv6::msg_type::NEIGHBOR_ADVERT;
            if is_nd
                && c == 0
                && let Some((target, ll)) = nd(t, data)
            {
                k.set128(field::IPV6_ND_TARGET, target);
                let loc = if t == icmpv6::msg_type::NEIGHBOR_SOLICIT {
                    field::IPV6_ND_SLL
                } else {
                    field::IPV6_ND_TLL
                };
                put(k, loc, ll);
            }
        }
        _ => return,
    }
    p.l4_offset = Some(off);
}

/// The ND target and the link-layer address option that goes with the
/// message type (0 when absent or malformed).
#[cold]
fn nd(t: u8, data: &[u8]) -> Option<(u128, u64)> {
    let nd = icmpv6::NdPacket::new_checked(data).ok()?;
    let kind = if t == icmpv6::msg_type::NEIGHBOR_SOLICIT {
        icmpv6::nd_option::SOURCE_LL_ADDR
    } else {
        icmpv6::nd_option::TARGET_LL_ADDR
    };
    let ll = match nd.link_layer_addr(kind) {
        Ok(Some(mac)) => mac_to_u64(mac),
        _ => 0,
    };
    Some((nd.target_addr(), ll))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{self, Ip4, Tcp};
    use proptest::prelude::*;

    /// What the general walk alone makes of `frame`.
    fn general(frame: &[u8]) -> Parsed {
        let mut p = Parsed::EMPTY;
        extract_general(&mut p, frame, 7, 9, 0x1234, 0x5678);
        p
    }

    /// Whether the fast path takes `frame`, and what `extract` makes of it.
    fn both(frame: &[u8]) -> (bool, Parsed) {
        let mut q = Parsed::EMPTY;
        let fast = fast_ipv4(&mut q, frame, 7, 9, 0x1234, 0x5678);
        (fast, extract(frame, 7, 9, 0x1234, 0x5678))
    }

    fn samples() -> Vec<Vec<u8>> {
        let ip = Ip4 {
            dscp: 46,
            ..Ip4::default()
        };
        let tcp = Tcp {
            sport: 1234,
            dport: 80,
            ..Tcp::default()
        };
        vec![
            frames::tcp4(&ip, &tcp, 0, 64),
            frames::tcp4(&ip, &tcp, 100, 200),
            frames::tcp4(
                &ip,
                &Tcp {
                    options: &[1, 1, 1, 0],
                    ..tcp
                },
                3,
                60,
            ),
            frames::udp4(&ip, 53, 5353, 10, 60),
            frames::icmp4_echo(&ip, 1, 2, 8),
        ]
    }

    #[test]
    fn fast_path_takes_common_frames_and_agrees() {
        for f in samples() {
            let (fast, got) = both(&f);
            let proto = f[23];
            assert_eq!(fast, proto == 6 || proto == 17, "protocol {proto}");
            assert_eq!(got, general(&f));
        }
    }

    proptest! {
        /// Any byte of the headers changed, any length: the fast path
        /// either declines or writes what the general walk writes.
        #[test]
        fn fast_path_equals_general_walk(
            which in 0usize..5,
            edits in prop::collection::vec(
                (prop_oneof![Just(12usize), Just(14), Just(17), Just(20), Just(23), Just(46), 0usize..64], any::<u8>()),
                0..4,
            ),
            cut in 0usize..80,
        ) {
            let mut f = samples()[which].clone();
            for (at, v) in edits {
                if let Some(b) = f.get_mut(at) {
                    // Bias towards the bytes the checks read.
                    *b = if v & 1 == 0 { v } else { v >> 4 };
                }
            }
            if cut < 70 {
                f.truncate(cut);
            }
            let (_, got) = both(&f);
            prop_assert_eq!(got, general(&f));
        }
    }
}
