//! In-place packet modifications for OpenFlow 1.3 actions.
//!
//! Every function here works on a [`PacketBuf`] and either changes the
//! frame consistently or leaves it untouched and says why: a SET_FIELD on a
//! header the packet does not have is a no-op reported as
//! [`ModifyError::FieldAbsent`] (the agent refuses flows whose actions lack
//! their prerequisites, so this only happens for frames that are truncated
//! or malformed in the header concerned); a push without headroom is
//! [`ModifyError::NoHeadroom`]. Nothing here panics on any input.
//!
//! Checksums are kept right: the IPv4 header checksum and the TCP, UDP and
//! ICMP checksums are updated incrementally (RFC 1624, eqn. 3), which also
//! keeps them right for the first fragment of a fragmented datagram whose
//! checksum covers bytes the switch never sees. A UDP checksum of zero
//! (none) stays zero, and an updated one that comes out zero is sent as
//! 0xffff. The SCTP CRC32c is recomputed over the SCTP packet present.
//!
//! Header offsets come from [`extract`]: [`set_field`] runs it itself;
//! [`set_field_parsed`] takes a [`Parsed`] of the current frame so that a
//! run of SET_FIELD actions parses once (SET_FIELD never moves a header,
//! so one `Parsed` stays valid across them; a push or pop does move headers,
//! and the push/pop functions parse afresh). After modifications the caller
//! re-extracts the key with [`extract`] when a later table needs it.
//!
//! Push semantics follow OpenFlow 1.3.5 §5.12.2: a new VLAN tag copies VID
//! and PCP from the existing outer tag (else 0); a new MPLS entry copies
//! label, TC and TTL from the existing top entry (else label 0, TC 0, BoS 1
//! and TTL from the IP header, or 0 without one); a new PBB I-TAG copies the
//! I-SID from an existing I-TAG and its PCP from the outer VLAN tag, and
//! the customer addresses from the Ethernet header, whose addresses it
//! keeps as the backbone addresses.

use crate::buf::PacketBuf;
use crate::packet::ethernet::ethertype;
use crate::packet::ipv4::protocol;
use crate::packet::{Parsed, extract, icmpv6, internet_checksum_update, ipv4, sctp};

/// A header a modification needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header {
    /// Ethernet
    Ethernet,
    /// 802.1Q / 802.1ad tag
    Vlan,
    /// MPLS label stack entry
    Mpls,
    /// PBB I-TAG
    Pbb,
    /// Ethernet/IPv4 ARP
    Arp,
    /// IPv4
    Ipv4,
    /// IPv6
    Ipv6,
    /// IPv4 or IPv6
    Ip,
    /// TCP
    Tcp,
    /// UDP
    Udp,
    /// SCTP
    Sctp,
    /// ICMPv4
    Icmpv4,
    /// ICMPv6
    Icmpv6,
    /// ICMPv6 Neighbor Solicitation/Advertisement
    NeighborDiscovery,
    /// ND source link-layer address option (in an NS)
    NdSll,
    /// ND target link-layer address option (in an NA)
    NdTll,
}

/// Why a modification was not applied (the frame is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The header the action works on is not in the packet.
    #[error("the packet has no {header:?} header")]
    FieldAbsent {
        /// The header that is missing.
        header: Header,
    },
    /// Not enough headroom in front of the frame for a pushed header.
    #[error("no headroom for {need} more bytes")]
    NoHeadroom {
        /// Bytes the push needs.
        need: usize,
    },
    /// A push with an ethertype the action does not allow (the agent
    /// rejects these at FLOW_MOD time with OFPBAC_BAD_ARGUMENT).
    #[error("ethertype {ethertype:#06x} not allowed here")]
    BadEthertype {
        /// The ethertype given.
        ethertype: u16,
    },
}

/// What a TTL decrement found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum TtlOutcome {
    /// The TTL was decremented and is still valid.
    Decremented,
    /// The TTL was 0 or 1: the packet must not be forwarded (packet-in with
    /// OFPR_INVALID_TTL when the switch is configured so, else drop). The
    /// TTL is left unchanged.
    Invalid,
}

/// A SET_FIELD action's field and value. Values wider than the field are
/// cut to its width. `metadata` and `tunnel_id` are pipeline state, not
/// packet bytes, and are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetField {
    /// Ethernet destination
    EthDst([u8; 6]),
    /// Ethernet source
    EthSrc([u8; 6]),
    /// VID of the outer VLAN tag (the OFPVID_PRESENT bit is ignored)
    VlanVid(u16),
    /// PCP of the outer VLAN tag
    VlanPcp(u8),
    /// IPv4 TOS / IPv6 traffic class DSCP bits
    IpDscp(u8),
    /// IPv4 TOS / IPv6 traffic class ECN bits
    IpEcn(u8),
    /// IPv4 source
    Ipv4Src(u32),
    /// IPv4 destination
    Ipv4Dst(u32),
    /// IPv6 source
    Ipv6Src(u128),
    /// IPv6 destination
    Ipv6Dst(u128),
    /// IPv6 flow label
    Ipv6Flabel(u32),
    /// TCP source port
    TcpSrc(u16),
    /// TCP destination port
    TcpDst(u16),
    /// UDP source port
    UdpSrc(u16),
    /// UDP destination port
    UdpDst(u16),
    /// SCTP source port
    SctpSrc(u16),
    /// SCTP destination port
    SctpDst(u16),
    /// ICMPv4 type
    Icmpv4Type(u8),
    /// ICMPv4 code
    Icmpv4Code(u8),
    /// ICMPv6 type
    Icmpv6Type(u8),
    /// ICMPv6 code
    Icmpv6Code(u8),
    /// ARP opcode
    ArpOp(u16),
    /// ARP sender protocol address
    ArpSpa(u32),
    /// ARP target protocol address
    ArpTpa(u32),
    /// ARP sender hardware address
    ArpSha([u8; 6]),
    /// ARP target hardware address
    ArpTha([u8; 6]),
    /// Label of the top MPLS entry
    MplsLabel(u32),
    /// TC of the top MPLS entry
    MplsTc(u8),
    /// BoS bit of the top MPLS entry
    MplsBos(bool),
    /// ND target address (NS/NA)
    Ipv6NdTarget(u128),
    /// ND source link-layer address (NS with that option)
    Ipv6NdSll([u8; 6]),
    /// ND target link-layer address (NA with that option)
    Ipv6NdTll([u8; 6]),
    /// I-SID of the PBB I-TAG
    PbbIsid(u32),
}

type Res<T = ()> = Result<T, ModifyError>;

#[inline]
fn absent<T>(header: Header) -> Res<T> {
    Err(ModifyError::FieldAbsent { header })
}

/// The offset of a header of `need` bytes that is fully inside `d`.
#[inline]
fn at(d: &[u8], off: Option<usize>, need: usize, header: Header) -> Res<usize> {
    match off {
        Some(o) if o.checked_add(need).is_some_and(|e| e <= d.len()) => Ok(o),
        _ => absent(header),
    }
}

#[inline]
fn rd16(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}

#[inline]
fn wr16(d: &mut [u8], i: usize, v: u16) {
    d[i..i + 2].copy_from_slice(&v.to_be_bytes());
}

/// Adjusts the checksum at `csum_at` for `old` → `new` (16-bit aligned
/// words of the checksummed data). With `udp`, a zero checksum means "none"
/// and stays zero, and a result of zero is sent as 0xffff.
#[inline]
fn fix_csum(d: &mut [u8], csum_at: usize, old: &[u8], new: &[u8], udp: bool) {
    let c = rd16(d, csum_at);
    if udp && c == 0 {
        return;
    }
    let mut n = internet_checksum_update(c, old, new);
    if udp && n == 0 {
        n = 0xffff;
    }
    wr16(d, csum_at, n);
}

/// Writes `new` at `d[pos..]` and returns the old bytes.
#[inline]
fn swap<const N: usize>(d: &mut [u8], pos: usize, new: [u8; N]) -> [u8; N] {
    let mut old = [0u8; N];
    old.copy_from_slice(&d[pos..pos + N]);
    d[pos..pos + N].copy_from_slice(&new);
    old
}

/// Where the L4 checksum of the current packet is, for changes to fields
/// in the IP pseudo-header: `(offset, is_udp)`.
fn pseudo_header_csum(d: &[u8], p: &Parsed, v6: bool) -> Option<(usize, bool)> {
    let (off, need, udp) = match p.ip_proto() {
        protocol::TCP => (16, 20, false),
        protocol::UDP => (6, 8, true),
        protocol::ICMPV6 if v6 => (2, 4, false),
        _ => return None,
    };
    let l4 = at(d, p.l4_offset, need, Header::Tcp).ok()?;
    Some((l4 + off, udp))
}

/// Applies a SET_FIELD action to `buf` (parsing it first).
pub fn set_field(buf: &mut PacketBuf, f: SetField) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    set_field_parsed(buf.data_mut(), &p, f)
}

/// Applies a SET_FIELD action to `frame`, whose headers `p` describes (from
/// [`extract`] of this frame, possibly followed by other SET_FIELDs). A `p`
/// that does not describe `frame` cannot cause a panic, only a wrong or
/// refused rewrite.
pub fn set_field_parsed(d: &mut [u8], p: &Parsed, f: SetField) -> Res {
    use SetField as S;
    let et = p.eth_type();
    let is_v4 = et == ethertype::IPV4;
    let is_v6 = et == ethertype::IPV6;
    match f {
        S::EthDst(m) | S::EthSrc(m) => {
            let o = at(d, p.eth_type_offset.map(|_| 0), 14, Header::Ethernet)?;
            let pos = if matches!(f, S::EthDst(_)) { o } else { o + 6 };
            d[pos..pos + 6].copy_from_slice(&m);
        }
        S::VlanVid(vid) => {
            let o = vlan_tci(d, p)?;
            let t = (rd16(d, o) & 0xf000) | (vid & 0x0fff);
            wr16(d, o, t);
        }
        S::VlanPcp(pcp) => {
            let o = vlan_tci(d, p)?;
            let t = (rd16(d, o) & 0x1fff) | ((pcp as u16 & 7) << 13);
            wr16(d, o, t);
        }
        S::IpDscp(_) | S::IpEcn(_) => {
            let (keep, set) = match f {
                S::IpDscp(v) => (0x03u8, (v & 0x3f) << 2),
                S::IpEcn(v) => (0xfc, v & 3),
                _ => (0xff, 0),
            };
            if is_v4 {
                let l3 = at(d, p.l3_offset, 20, Header::Ipv4)?;
                let old = [d[l3], d[l3 + 1]];
                d[l3 + 1] = (d[l3 + 1] & keep) | set;
                let new = [d[l3], d[l3 + 1]];
                fix_csum(d, l3 + ipv4::CHECKSUM_OFFSET, &old, &new, false);
            } else if is_v6 {
                let l3 = at(d, p.l3_offset, 40, Header::Ipv6)?;
                let w = u32::from_be_bytes([d[l3], d[l3 + 1], d[l3 + 2], d[l3 + 3]]);
                let tc = (((w >> 20) as u8) & keep) | set;
                let w = (w & 0xf00f_ffff) | ((tc as u32) << 20);
                d[l3..l3 + 4].copy_from_slice(&w.to_be_bytes());
            } else {
                return absent(Header::Ip);
            }
        }
        S::Ipv4Src(a) | S::Ipv4Dst(a) => {
            if !is_v4 {
                return absent(Header::Ipv4);
            }
            let l3 = at(d, p.l3_offset, 20, Header::Ipv4)?;
            let pos = l3
                + if matches!(f, S::Ipv4Src(_)) {
                    ipv4::SRC_OFFSET
                } else {
                    ipv4::DST_OFFSET
                };
            let new = a.to_be_bytes();
            let old = swap(d, pos, new);
            fix_csum(d, l3 + ipv4::CHECKSUM_OFFSET, &old, &new, false);
            if let Some((c, udp)) = pseudo_header_csum(d, p, false) {
                fix_csum(d, c, &old, &new, udp);
            }
        }
        S::Ipv6Src(a) | S::Ipv6Dst(a) => {
            if !is_v6 {
                return absent(Header::Ipv6);
            }
            let l3 = at(d, p.l3_offset, 40, Header::Ipv6)?;
            let pos = l3 + if matches!(f, S::Ipv6Src(_)) { 8 } else { 24 };
            let new = a.to_be_bytes();
            let old = swap(d, pos, new);
            if let Some((c, udp)) = pseudo_header_csum(d, p, true) {
                fix_csum(d, c, &old, &new, udp);
            }
        }
        S::Ipv6Flabel(fl) => {
            if !is_v6 {
                return absent(Header::Ipv6);
            }
            let l3 = at(d, p.l3_offset, 40, Header::Ipv6)?;
            let w = u32::from_be_bytes([d[l3], d[l3 + 1], d[l3 + 2], d[l3 + 3]]);
            let w = (w & 0xfff0_0000) | (fl & 0x000f_ffff);
            d[l3..l3 + 4].copy_from_slice(&w.to_be_bytes());
        }
        S::TcpSrc(port) | S::TcpDst(port) => {
            let l4 = l4_of(d, p, protocol::TCP, 20, Header::Tcp)?;
            let pos = l4 + if matches!(f, S::TcpSrc(_)) { 0 } else { 2 };
            let new = port.to_be_bytes();
            let old = swap(d, pos, new);
            fix_csum(d, l4 + 16, &old, &new, false);
        }
        S::UdpSrc(port) | S::UdpDst(port) => {
            let l4 = l4_of(d, p, protocol::UDP, 8, Header::Udp)?;
            let pos = l4 + if matches!(f, S::UdpSrc(_)) { 0 } else { 2 };
            let new = port.to_be_bytes();
            let old = swap(d, pos, new);
            fix_csum(d, l4 + 6, &old, &new, true);
        }
        S::SctpSrc(port) | S::SctpDst(port) => {
            let l4 = l4_of(d, p, protocol::SCTP, 12, Header::Sctp)?;
            let end = p.l3_end.max(l4 + 12).min(d.len());
            let pos = l4 + if matches!(f, S::SctpSrc(_)) { 0 } else { 2 };
            swap(d, pos, port.to_be_bytes());
            sctp::Packet::new_unchecked(&mut d[l4..end]).fill_checksum();
        }
        S::Icmpv4Type(v) | S::Icmpv4Code(v) => {
            if !is_v4 {
                return absent(Header::Icmpv4);
            }
            let l4 = l4_of(d, p, protocol::ICMP, 8, Header::Icmpv4)?;
            icmp_type_code(d, l4, matches!(f, S::Icmpv4Type(_)), v);
        }
        S::Icmpv6Type(v) | S::Icmpv6Code(v) => {
            if !is_v6 {
                return absent(Header::Icmpv6);
            }
            let l4 = l4_of(d, p, protocol::ICMPV6, 4, Header::Icmpv6)?;
            icmp_type_code(d, l4, matches!(f, S::Icmpv6Type(_)), v);
        }
        S::ArpOp(_) | S::ArpSpa(_) | S::ArpTpa(_) | S::ArpSha(_) | S::ArpTha(_) => {
            if et != ethertype::ARP {
                return absent(Header::Arp);
            }
            let l3 = at(d, p.l3_offset, 28, Header::Arp)?;
            match f {
                S::ArpOp(v) => wr16(d, l3 + 6, v),
                S::ArpSha(m) => d[l3 + 8..l3 + 14].copy_from_slice(&m),
                S::ArpSpa(a) => d[l3 + 14..l3 + 18].copy_from_slice(&a.to_be_bytes()),
                S::ArpTha(m) => d[l3 + 18..l3 + 24].copy_from_slice(&m),
                S::ArpTpa(a) => d[l3 + 24..l3 + 28].copy_from_slice(&a.to_be_bytes()),
                _ => {}
            }
        }
        S::MplsLabel(_) | S::MplsTc(_) | S::MplsBos(_) => {
            let o = mpls_top(d, p)?;
            let w = u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
            let w = match f {
                S::MplsLabel(l) => (w & 0xfff) | ((l & 0xf_ffff) << 12),
                S::MplsTc(tc) => (w & !0xe00) | ((tc as u32 & 7) << 9),
                S::MplsBos(b) => (w & !0x100) | ((b as u32) << 8),
                _ => w,
            };
            d[o..o + 4].copy_from_slice(&w.to_be_bytes());
        }
        S::Ipv6NdTarget(a) => {
            let l4 = nd_of(d, p, None)?;
            let new = a.to_be_bytes();
            let old = swap(d, l4 + icmpv6::ND_TARGET_OFFSET, new);
            fix_csum(d, l4 + icmpv6::CHECKSUM_OFFSET, &old, &new, false);
        }
        S::Ipv6NdSll(m) | S::Ipv6NdTll(m) => {
            let sll = matches!(f, S::Ipv6NdSll(_));
            let (ty, kind, header) = if sll {
                (
                    icmpv6::msg_type::NEIGHBOR_SOLICIT,
                    icmpv6::nd_option::SOURCE_LL_ADDR,
                    Header::NdSll,
                )
            } else {
                (
                    icmpv6::msg_type::NEIGHBOR_ADVERT,
                    icmpv6::nd_option::TARGET_LL_ADDR,
                    Header::NdTll,
                )
            };
            let l4 = nd_of(d, p, Some(ty))?;
            let end = p.l3_end.max(l4 + icmpv6::ND_LEN).min(d.len());
            let nd = icmpv6::NdPacket::new_unchecked(&d[l4..end]);
            let Ok(Some(o)) = nd.link_layer_addr_offset(kind) else {
                return absent(header);
            };
            // Option offsets are multiples of 8 from the message start, so
            // the address starts on a 16-bit boundary of the checksummed
            // data.
            let old = swap(d, l4 + o, m);
            fix_csum(d, l4 + icmpv6::CHECKSUM_OFFSET, &old, &m, false);
        }
        S::PbbIsid(isid) => {
            if et != ethertype::PBB {
                return absent(Header::Pbb);
            }
            let o = at(d, p.net_offset, 4, Header::Pbb)?;
            let b = (isid & 0x00ff_ffff).to_be_bytes();
            d[o + 1..o + 4].copy_from_slice(&b[1..]);
        }
    }
    Ok(())
}

fn vlan_tci(d: &[u8], p: &Parsed) -> Res<usize> {
    if p.vlan_tags == 0 {
        return absent(Header::Vlan);
    }
    at(d, Some(14), 2, Header::Vlan)
}

fn mpls_top(d: &[u8], p: &Parsed) -> Res<usize> {
    let et = p.eth_type();
    if et != ethertype::MPLS && et != ethertype::MPLS_MC {
        return absent(Header::Mpls);
    }
    at(d, p.net_offset, 4, Header::Mpls)
}

fn l4_of(d: &[u8], p: &Parsed, proto: u8, need: usize, header: Header) -> Res<usize> {
    let et = p.eth_type();
    if (et != ethertype::IPV4 && et != ethertype::IPV6) || p.ip_proto() != proto {
        return absent(header);
    }
    at(d, p.l4_offset, need, header)
}

/// The offset of an NS/NA message (of type `ty` when given).
fn nd_of(d: &[u8], p: &Parsed, ty: Option<u8>) -> Res<usize> {
    if p.eth_type() != ethertype::IPV6 {
        return absent(Header::NeighborDiscovery);
    }
    let l4 = l4_of(
        d,
        p,
        protocol::ICMPV6,
        icmpv6::ND_LEN,
        Header::NeighborDiscovery,
    )?;
    let t = d[l4];
    let ok = match ty {
        Some(ty) => t == ty,
        None => t == icmpv6::msg_type::NEIGHBOR_SOLICIT || t == icmpv6::msg_type::NEIGHBOR_ADVERT,
    };
    if !ok || d[l4 + 1] != 0 {
        return absent(Header::NeighborDiscovery);
    }
    Ok(l4)
}

fn icmp_type_code(d: &mut [u8], l4: usize, is_type: bool, v: u8) {
    let old = [d[l4], d[l4 + 1]];
    d[l4 + usize::from(!is_type)] = v;
    let new = [d[l4], d[l4 + 1]];
    fix_csum(d, l4 + 2, &old, &new, false);
}

/// PUSH_VLAN: a new outer tag with TPID `ethertype` (0x8100 or 0x88a8).
pub fn push_vlan(buf: &mut PacketBuf, ethertype: u16) -> Res {
    if ethertype != ethertype::VLAN && ethertype != ethertype::QINQ {
        return Err(ModifyError::BadEthertype { ethertype });
    }
    let d = buf.data();
    if d.len() < 14 {
        return absent(Header::Ethernet);
    }
    let outer = rd16(d, 12);
    let tci = if (outer == ethertype::VLAN || outer == ethertype::QINQ) && d.len() >= 16 {
        rd16(d, 14) & 0xefff
    } else {
        0
    };
    let Some(d) = buf.push_front(4) else {
        return Err(ModifyError::NoHeadroom { need: 4 });
    };
    d.copy_within(4..16, 0);
    wr16(d, 12, ethertype);
    wr16(d, 14, tci);
    Ok(())
}

/// POP_VLAN: removes the outer tag.
pub fn pop_vlan(buf: &mut PacketBuf) -> Res {
    let d = buf.data_mut();
    if d.len() < 18 {
        return absent(Header::Vlan);
    }
    let outer = rd16(d, 12);
    if outer != ethertype::VLAN && outer != ethertype::QINQ {
        return absent(Header::Vlan);
    }
    d.copy_within(0..12, 4);
    buf.pull_front(4);
    Ok(())
}

/// PUSH_MPLS: a new top label stack entry after the Ethernet header and
/// VLAN tags, announced by `ethertype` (0x8847 or 0x8848).
pub fn push_mpls(buf: &mut PacketBuf, ethertype: u16) -> Res {
    if ethertype != ethertype::MPLS && ethertype != ethertype::MPLS_MC {
        return Err(ModifyError::BadEthertype { ethertype });
    }
    let p = extract(buf.data(), 0, 0, 0, 0);
    let d = buf.data();
    let (Some(e), Some(net)) = (p.eth_type_offset, p.net_offset) else {
        return absent(Header::Ethernet);
    };
    let lse = match mpls_top(d, &p) {
        Ok(o) => u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]) & !0x100,
        Err(_) => {
            let ttl = match (p.eth_type(), p.l3_offset) {
                (ethertype::IPV4, Some(l3)) => d[l3 + 8],
                (ethertype::IPV6, Some(l3)) => d[l3 + 7],
                _ => 0,
            };
            0x100 | ttl as u32
        }
    };
    let Some(d) = buf.push_front(4) else {
        return Err(ModifyError::NoHeadroom { need: 4 });
    };
    d.copy_within(4..4 + net, 0);
    wr16(d, e, ethertype);
    d[net..net + 4].copy_from_slice(&lse.to_be_bytes());
    Ok(())
}

/// POP_MPLS: removes the top label stack entry and sets the ethertype that
/// announced it to `ethertype` (the payload's).
pub fn pop_mpls(buf: &mut PacketBuf, ethertype: u16) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let net = mpls_top(buf.data(), &p)?;
    let Some(e) = p.eth_type_offset else {
        return absent(Header::Mpls);
    };
    let d = buf.data_mut();
    wr16(d, e, ethertype);
    d.copy_within(0..net, 4);
    buf.pull_front(4);
    Ok(())
}

/// PUSH_PBB: encapsulates the frame in a new backbone Ethernet header and
/// I-TAG (`ethertype` must be 0x88e7). The old destination and source
/// become the customer addresses and stay as the backbone addresses; the
/// old VLAN tags and everything after them become the customer frame.
pub fn push_pbb(buf: &mut PacketBuf, ethertype: u16) -> Res {
    if ethertype != ethertype::PBB {
        return Err(ModifyError::BadEthertype { ethertype });
    }
    let p = extract(buf.data(), 0, 0, 0, 0);
    if p.eth_type_offset.is_none() {
        return absent(Header::Ethernet);
    }
    let isid = if p.eth_type() == ethertype::PBB {
        p.key.get(crate::key::field::PBB_ISID) as u32
    } else {
        0
    };
    let pcp = p.key.get(crate::key::field::VLAN_PCP) as u32;
    let Some(d) = buf.push_front(18) else {
        return Err(ModifyError::NoHeadroom { need: 18 });
    };
    // The old addresses now sit at 18..30, exactly where the customer
    // addresses go; copy them out again as the backbone addresses.
    d.copy_within(18..30, 0);
    wr16(d, 12, ethertype);
    d[14..18].copy_from_slice(&((pcp << 29) | isid).to_be_bytes());
    Ok(())
}

/// POP_PBB: removes the backbone Ethernet header, its VLAN tags and the
/// I-TAG, leaving the customer frame.
pub fn pop_pbb(buf: &mut PacketBuf) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    if p.eth_type() != ethertype::PBB {
        return absent(Header::Pbb);
    }
    // The I-TAG and a complete customer Ethernet header must be there.
    let net = at(buf.data(), p.net_offset, 4 + 14, Header::Pbb)?;
    buf.pull_front(net + 4);
    Ok(())
}

/// SET_MPLS_TTL on the top entry.
pub fn set_mpls_ttl(buf: &mut PacketBuf, ttl: u8) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let o = mpls_top(buf.data(), &p)?;
    buf.data_mut()[o + 3] = ttl;
    Ok(())
}

/// DEC_MPLS_TTL on the top entry.
pub fn dec_mpls_ttl(buf: &mut PacketBuf) -> Res<TtlOutcome> {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let o = mpls_top(buf.data(), &p)?;
    let d = buf.data_mut();
    if d[o + 3] <= 1 {
        return Ok(TtlOutcome::Invalid);
    }
    d[o + 3] -= 1;
    Ok(TtlOutcome::Decremented)
}

/// The IP header of the packet: `(offset, is_v6)`.
fn ip_of(d: &[u8], p: &Parsed) -> Res<(usize, bool)> {
    match p.eth_type() {
        ethertype::IPV4 => Ok((at(d, p.l3_offset, 20, Header::Ipv4)?, false)),
        ethertype::IPV6 => Ok((at(d, p.l3_offset, 40, Header::Ipv6)?, true)),
        _ => absent(Header::Ip),
    }
}

/// Sets the TTL / hop limit of the IP header at `l3` (IPv4 checksum kept).
fn write_ip_ttl(d: &mut [u8], l3: usize, v6: bool, ttl: u8) {
    if v6 {
        d[l3 + 7] = ttl;
    } else {
        let old = [d[l3 + 8], d[l3 + 9]];
        d[l3 + 8] = ttl;
        let new = [d[l3 + 8], d[l3 + 9]];
        fix_csum(d, l3 + ipv4::CHECKSUM_OFFSET, &old, &new, false);
    }
}

/// SET_NW_TTL: IPv4 TTL (checksum updated) or IPv6 hop limit.
pub fn set_nw_ttl(buf: &mut PacketBuf, ttl: u8) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let (l3, v6) = ip_of(buf.data(), &p)?;
    write_ip_ttl(buf.data_mut(), l3, v6, ttl);
    Ok(())
}

/// DEC_NW_TTL: IPv4 TTL (checksum updated) or IPv6 hop limit.
pub fn dec_nw_ttl(buf: &mut PacketBuf) -> Res<TtlOutcome> {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let (l3, v6) = ip_of(buf.data(), &p)?;
    let d = buf.data_mut();
    let ttl = d[l3 + if v6 { 7 } else { 8 }];
    if ttl <= 1 {
        return Ok(TtlOutcome::Invalid);
    }
    write_ip_ttl(d, l3, v6, ttl - 1);
    Ok(TtlOutcome::Decremented)
}

/// What lies under the top MPLS entry at `o`.
enum Inner {
    /// Another label stack entry at this offset.
    Mpls(usize),
    /// An IP header at this offset (`true` for IPv6).
    Ip(usize, bool),
}

fn mpls_inner(d: &[u8], o: usize) -> Res<Inner> {
    let next = o + 4;
    if d[o + 2] & 1 == 0 {
        return at(d, Some(next), 4, Header::Mpls).map(Inner::Mpls);
    }
    match d.get(next).map(|b| b >> 4) {
        Some(4) => {
            let ok = ipv4::Packet::new_checked(&d[next..]).is_ok();
            if ok {
                Ok(Inner::Ip(next, false))
            } else {
                absent(Header::Ipv4)
            }
        }
        Some(6) => Ok(Inner::Ip(at(d, Some(next), 40, Header::Ipv6)?, true)),
        _ => absent(Header::Ip),
    }
}

/// COPY_TTL_OUT: the TTL of the next-to-outermost header (the next MPLS
/// entry, or the IP header under the bottom of the stack) into the top MPLS
/// entry.
pub fn copy_ttl_out(buf: &mut PacketBuf) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let d = buf.data_mut();
    let o = mpls_top(d, &p)?;
    d[o + 3] = match mpls_inner(d, o)? {
        Inner::Mpls(n) => d[n + 3],
        Inner::Ip(l3, v6) => d[l3 + if v6 { 7 } else { 8 }],
    };
    Ok(())
}

/// COPY_TTL_IN: the TTL of the top MPLS entry into the next-to-outermost
/// header (the next MPLS entry, or the IP header under the bottom of the
/// stack, keeping the IPv4 checksum right).
pub fn copy_ttl_in(buf: &mut PacketBuf) -> Res {
    let p = extract(buf.data(), 0, 0, 0, 0);
    let d = buf.data_mut();
    let o = mpls_top(d, &p)?;
    let ttl = d[o + 3];
    match mpls_inner(d, o)? {
        Inner::Mpls(n) => d[n + 3] = ttl,
        Inner::Ip(l3, v6) => write_ip_ttl(d, l3, v6, ttl),
    }
    Ok(())
}
