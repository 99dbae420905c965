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
/// inline).
#[inline]
pub fn extract_into(
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
