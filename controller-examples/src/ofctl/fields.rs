//! Match fields: `name=value` items to OXM TLVs, and a match back to the
//! text `ovs-ofctl` prints.
//!
//! Two models meet here. OpenFlow 1.3 matches are lists of independent OXM
//! fields; `ovs-ofctl` speaks in OVS's flow model, where some names depend
//! on context: `tp_src` is TCP_SRC, UDP_SRC or SCTP_SRC depending on the
//! protocol, `icmp_type` is ICMPV4_TYPE or ICMPV6_TYPE, `nw_src` is
//! IPV4_SRC or (in an `arp` match) ARP_SPA, `nw_tos` is the whole TOS byte
//! of which OXM carries only the DSCP bits, and VLAN matching is one 16-bit
//! TCI (`dl_vlan`, `dl_vlan_pcp`, `vlan_tci`) rather than VLAN_VID with its
//! OFPVID_PRESENT bit plus VLAN_PCP. The parser therefore reads protocol
//! shorthands and `dl_type` first, then `nw_proto`, then everything else,
//! so that field order in the text does not matter; the printer follows
//! OVS's `match_format` order and spelling so that its output is what
//! `ovs-ofctl dump-flows` prints, and reads back to the same OXMs.
//!
//! Values are canonicalised as OVS does: value bits outside a mask are
//! cleared, an all-ones mask is dropped, and an all-zero mask drops the
//! field (it matches everything). Prerequisites are *checked*, never
//! invented: `tp_dst=80` without `tcp`/`udp`/`sctp` is an error naming the
//! field (OVS silently drops such a field; an error is kinder to a user who
//! expected the field to take effect).

use std::net::{Ipv4Addr, Ipv6Addr};

use ofext_filter::wire::{filter_prog_of, filter_prog_oxm};
use openflow::oxm::{Match, OFPVID_NONE, OFPVID_PRESENT, Oxm};

use super::SyntaxError;
use super::lex::Kv;
use super::value::{
    fmt_hex_masked, fmt_ipv4_masked, fmt_ipv6_masked, fmt_mac, fmt_mac_masked, format_port,
    parse_ipv4_masked, parse_ipv6_masked, parse_mac, parse_mac_masked, parse_masked, parse_max,
    parse_port,
};

const ETH_IP: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;
const ETH_RARP: u16 = 0x8035;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLSM: u16 = 0x8848;

/// Protocol shorthands: name → (dl_type, nw_proto).
const SHORTHANDS: [(&str, u16, Option<u8>); 14] = [
    ("ip", ETH_IP, None),
    ("ipv6", ETH_IPV6, None),
    ("icmp", ETH_IP, Some(1)),
    ("icmp6", ETH_IPV6, Some(58)),
    ("tcp", ETH_IP, Some(6)),
    ("tcp6", ETH_IPV6, Some(6)),
    ("udp", ETH_IP, Some(17)),
    ("udp6", ETH_IPV6, Some(17)),
    ("sctp", ETH_IP, Some(132)),
    ("sctp6", ETH_IPV6, Some(132)),
    ("arp", ETH_ARP, None),
    ("rarp", ETH_RARP, None),
    ("mpls", ETH_MPLS, None),
    ("mplsm", ETH_MPLSM, None),
];

/// The shorthand `name` stands for, if it is one.
pub(crate) fn shorthand(name: &str) -> Option<(u16, Option<u8>)> {
    SHORTHANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, p)| (*t, *p))
}

/// Whether `key` is a match field (or shorthand) this module parses.
pub(crate) fn is_match_key(key: &str) -> bool {
    shorthand(key).is_some()
        || matches!(
            key,
            "in_port"
                | "in_phy_port"
                | "metadata"
                | "dl_src"
                | "eth_src"
                | "dl_dst"
                | "eth_dst"
                | "dl_type"
                | "eth_type"
                | "dl_vlan"
                | "dl_vlan_pcp"
                | "vlan_vid"
                | "vlan_pcp"
                | "vlan_tci"
                | "nw_src"
                | "ip_src"
                | "nw_dst"
                | "ip_dst"
                | "nw_proto"
                | "ip_proto"
                | "nw_tos"
                | "ip_dscp"
                | "nw_ecn"
                | "ip_ecn"
                | "tp_src"
                | "tp_dst"
                | "tcp_src"
                | "tcp_dst"
                | "udp_src"
                | "udp_dst"
                | "sctp_src"
                | "sctp_dst"
                | "icmp_type"
                | "icmp_code"
                | "icmpv4_type"
                | "icmpv4_code"
                | "icmpv6_type"
                | "icmpv6_code"
                | "arp_op"
                | "arp_spa"
                | "arp_tpa"
                | "arp_sha"
                | "arp_tha"
                | "ipv6_src"
                | "ipv6_dst"
                | "ipv6_label"
                | "nd_target"
                | "nd_sll"
                | "nd_tll"
                | "mpls_label"
                | "mpls_tc"
                | "mpls_bos"
                | "pbb_isid"
                | "tun_id"
                | "tunnel_id"
                | "ipv6_exthdr"
                | "filter_prog"
        )
}

/// Identity of a field for duplicate detection: class, number, experimenter.
fn key_of(o: &Oxm) -> (u16, u8, Option<u32>) {
    (o.class(), o.field(), o.experimenter())
}

/// Canonical OXM order: basic fields by number (which puts every
/// prerequisite before the fields that need it), then the rest.
fn sort_key(o: &Oxm) -> (u8, u16, u8, u32) {
    (
        u8::from(!o.is_basic()),
        o.class(),
        o.field(),
        o.experimenter().unwrap_or(0),
    )
}

/// Accumulates fields with the token that introduced each.
#[derive(Debug, Default)]
struct Builder {
    fields: Vec<(Oxm, String)>,
    vid: Option<(u16, Option<u16>)>,
    pcp: Option<u8>,
    vlan_token: String,
}

impl Builder {
    fn set(&mut self, oxm: Oxm, token: &str) -> Result<(), SyntaxError> {
        if let Some((old, _)) = self.fields.iter().find(|(o, _)| key_of(o) == key_of(&oxm)) {
            if *old == oxm {
                return Ok(());
            }
            return Err(SyntaxError::Conflict {
                token: token.to_string(),
            });
        }
        self.fields.push((oxm, token.to_string()));
        Ok(())
    }

    fn set_opt(&mut self, oxm: Option<Oxm>, token: &str) -> Result<(), SyntaxError> {
        match oxm {
            Some(o) => self.set(o, token),
            None => Ok(()),
        }
    }

    fn eth_type(&self) -> Option<u16> {
        self.fields.iter().find_map(|(o, _)| match o {
            Oxm::EthType(t) => Some(*t),
            _ => None,
        })
    }

    fn ip_proto(&self) -> Option<u8> {
        self.fields.iter().find_map(|(o, _)| match o {
            Oxm::IpProto(p) => Some(*p),
            _ => None,
        })
    }

    fn set_vid(&mut self, vid: (u16, Option<u16>), token: &str) -> Result<(), SyntaxError> {
        match self.vid {
            Some(old) if old != vid => Err(SyntaxError::Conflict {
                token: token.to_string(),
            }),
            _ => {
                self.vid = Some(vid);
                self.vlan_token = token.to_string();
                Ok(())
            }
        }
    }

    fn set_pcp(&mut self, pcp: u8, token: &str) -> Result<(), SyntaxError> {
        match self.pcp {
            Some(old) if old != pcp => Err(SyntaxError::Conflict {
                token: token.to_string(),
            }),
            _ => {
                self.pcp = Some(pcp);
                self.vlan_token = token.to_string();
                Ok(())
            }
        }
    }

    /// `vlan_tci=V[/M]` in OVS's model → VLAN_VID (+ VLAN_PCP).
    fn set_tci(&mut self, v: &str, token: &str) -> Result<(), SyntaxError> {
        let Some((tci, mask)) = parse_masked(v, 0xffff, token)? else {
            return Ok(());
        };
        let mask = mask.unwrap_or(0xffff) as u16;
        let tci = tci as u16;
        let pcp_mask = mask & 0xe000;
        if pcp_mask != 0 && pcp_mask != 0xe000 {
            return Err(SyntaxError::bad(
                token,
                "a partial PCP mask cannot be expressed in OpenFlow 1.3",
            ));
        }
        let pcp = tci >> 13;
        let cfi_masked = mask & OFPVID_PRESENT != 0;
        // Untagged packets have TCI 0, so a non-zero PCP implies a tag.
        let tagged = (cfi_masked && tci & OFPVID_PRESENT != 0) || (pcp_mask != 0 && pcp != 0);
        let untagged = cfi_masked && tci & OFPVID_PRESENT == 0;
        if tagged && untagged {
            return Err(SyntaxError::bad(
                token,
                "a non-zero PCP needs a tag, but the CFI bit (0x1000) asks for none",
            ));
        }
        if pcp_mask != 0 && !tagged && !untagged {
            return Err(SyntaxError::bad(
                token,
                "PCP 0 without the CFI bit (tagged or not) cannot be expressed in OpenFlow 1.3",
            ));
        }
        let (mut value, mut vid_mask) = (tci & mask & 0x1fff, mask & 0x1fff);
        if tagged {
            value |= OFPVID_PRESENT;
            vid_mask |= OFPVID_PRESENT;
        }
        if vid_mask == 0x1fff {
            self.set_vid((value, None), token)?;
        } else if vid_mask != 0 {
            self.set_vid((value, Some(vid_mask)), token)?;
        }
        if pcp_mask != 0 && tagged {
            self.set_pcp(pcp as u8, token)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Match, SyntaxError> {
        if let Some(pcp) = self.pcp {
            let vid = self.vid.unwrap_or((OFPVID_PRESENT, Some(OFPVID_PRESENT)));
            if vid.0 & OFPVID_PRESENT == 0 {
                return Err(SyntaxError::Conflict {
                    token: self.vlan_token,
                });
            }
            self.vid = Some(vid);
            self.fields
                .push((Oxm::VlanPcp(pcp), self.vlan_token.clone()));
        }
        if let Some((value, mask)) = self.vid {
            self.fields
                .push((Oxm::VlanVid { value, mask }, self.vlan_token.clone()));
        }
        let m = Match {
            fields: self.fields.iter().map(|(o, _)| o.clone()).collect(),
        };
        for (o, token) in &self.fields {
            if !m.prereq_ok(o) {
                return Err(SyntaxError::MissingPrerequisite {
                    token: token.clone(),
                    needs: needs(o),
                });
            }
        }
        let mut fields = m.fields;
        fields.sort_by_key(sort_key);
        Ok(Match { fields })
    }
}

/// What a field needs, in words, for error messages.
pub(crate) fn needs(o: &Oxm) -> &'static str {
    match o {
        Oxm::InPhyPort(_) => "in_port",
        Oxm::VlanPcp(_) => "a VLAN tag: dl_vlan, or vlan_vid with 0x1000",
        Oxm::IpDscp(_) | Oxm::IpEcn(_) | Oxm::IpProto(_) => "ip or ipv6",
        Oxm::Ipv4Src { .. } | Oxm::Ipv4Dst { .. } => "ip, or arp for nw_src/nw_dst",
        Oxm::TcpSrc(_) | Oxm::TcpDst(_) => "tcp or tcp6",
        Oxm::UdpSrc(_) | Oxm::UdpDst(_) => "udp or udp6",
        Oxm::SctpSrc(_) | Oxm::SctpDst(_) => "sctp or sctp6",
        Oxm::Icmpv4Type(_) | Oxm::Icmpv4Code(_) => "icmp",
        Oxm::Icmpv6Type(_) | Oxm::Icmpv6Code(_) => "icmp6",
        Oxm::ArpOp(_) | Oxm::ArpSpa { .. } | Oxm::ArpTpa { .. } => "arp",
        Oxm::ArpSha { .. } | Oxm::ArpTha { .. } => "arp",
        Oxm::Ipv6Src { .. } | Oxm::Ipv6Dst { .. } => "ipv6",
        Oxm::Ipv6Flabel { .. } | Oxm::Ipv6Exthdr { .. } => "ipv6",
        Oxm::Ipv6NdTarget(_) => "icmp6 with icmp_type=135 or 136",
        Oxm::Ipv6NdSll(_) => "icmp6 with icmp_type=135",
        Oxm::Ipv6NdTll(_) => "icmp6 with icmp_type=136",
        Oxm::MplsLabel(_) | Oxm::MplsTc(_) | Oxm::MplsBos(_) => "mpls or mplsm",
        Oxm::PbbIsid { .. } => "dl_type=0x88e7",
        _ => "nothing",
    }
}

/// A value that must not carry a mask.
fn exact(v: &str, max: u64, token: &str) -> Result<u64, SyntaxError> {
    if v.contains('/') {
        return Err(SyntaxError::bad(token, "this field cannot be masked"));
    }
    parse_max(v, max, token)
}

/// The FILTER_PROG program id: 1 ..= 2^32 - 2 (EXTENSION.md, Identifiers).
pub(crate) fn parse_prog_id(v: &str, token: &str) -> Result<u32, SyntaxError> {
    let id = exact(v, u64::from(u32::MAX), token)? as u32;
    if id == 0 || id == u32::MAX {
        return Err(SyntaxError::bad(
            token,
            "program ids 0 and 0xffffffff are reserved",
        ));
    }
    Ok(id)
}

/// Builds a match from its items (the flow's keywords that are match
/// fields, in the order written).
pub(crate) fn build_match(items: &[Kv<'_>]) -> Result<Match, SyntaxError> {
    let mut b = Builder::default();
    // Pass 1: what decides the meaning of other names.
    for kv in items {
        if let Some((t, p)) = shorthand(kv.key) {
            kv.none()?;
            b.set(Oxm::EthType(t), kv.token)?;
            if let Some(p) = p {
                b.set(Oxm::IpProto(p), kv.token)?;
            }
        } else if matches!(kv.key, "dl_type" | "eth_type") {
            let t = exact(kv.need()?, 0xffff, kv.token)? as u16;
            b.set(Oxm::EthType(t), kv.token)?;
        }
    }
    // Pass 2: nw_proto (which is arp_op in an ARP match, as in OVS).
    for kv in items {
        if matches!(kv.key, "nw_proto" | "ip_proto") {
            let p = exact(kv.need()?, 0xff, kv.token)?;
            if matches!(b.eth_type(), Some(ETH_ARP | ETH_RARP)) {
                b.set(Oxm::ArpOp(p as u16), kv.token)?;
            } else {
                b.set(Oxm::IpProto(p as u8), kv.token)?;
            }
        }
    }
    for kv in items {
        if shorthand(kv.key).is_none()
            && !matches!(kv.key, "dl_type" | "eth_type" | "nw_proto" | "ip_proto")
        {
            field(&mut b, kv)?;
        }
    }
    b.finish()
}

fn field(b: &mut Builder, kv: &Kv<'_>) -> Result<(), SyntaxError> {
    let t = kv.token;
    let v = kv.need()?;
    let eth = b.eth_type();
    let proto = b.ip_proto();
    let m48 = |v: &str| parse_mac_masked(v, t);
    let oxm = match kv.key {
        "in_port" => Some(Oxm::InPort(parse_port(v, t)?)),
        "in_phy_port" => Some(Oxm::InPhyPort(parse_port(v, t)?)),
        "metadata" => {
            parse_masked(v, u64::MAX, t)?.map(|(value, mask)| Oxm::Metadata { value, mask })
        }
        "tun_id" | "tunnel_id" => {
            parse_masked(v, u64::MAX, t)?.map(|(value, mask)| Oxm::TunnelId { value, mask })
        }
        "dl_src" | "eth_src" => m48(v)?.map(|(value, mask)| Oxm::EthSrc { value, mask }),
        "dl_dst" | "eth_dst" => m48(v)?.map(|(value, mask)| Oxm::EthDst { value, mask }),
        "dl_vlan" => {
            let n = exact(v, 0xffff, t)? as u16;
            let vid = match n {
                0xffff => OFPVID_NONE,
                0..=0x0fff => n | OFPVID_PRESENT,
                _ => {
                    return Err(SyntaxError::bad(
                        t,
                        "VLAN id must be 0-4095 (or 0xffff: no VLAN)",
                    ));
                }
            };
            b.set_vid((vid, None), t)?;
            None
        }
        "vlan_vid" => {
            if let Some((value, mask)) = parse_masked(v, 0x1fff, t)? {
                b.set_vid((value as u16, mask.map(|m| m as u16)), t)?;
            }
            None
        }
        "dl_vlan_pcp" | "vlan_pcp" => {
            b.set_pcp(exact(v, 7, t)? as u8, t)?;
            None
        }
        "vlan_tci" => {
            b.set_tci(v, t)?;
            None
        }
        "nw_src" | "ip_src" | "nw_dst" | "ip_dst" => {
            let src = kv.key.ends_with("src");
            let arp = matches!(eth, Some(ETH_ARP | ETH_RARP));
            parse_ipv4_masked(v, t)?.map(|(value, mask)| match (arp, src) {
                (true, true) => Oxm::ArpSpa { value, mask },
                (true, false) => Oxm::ArpTpa { value, mask },
                (false, true) => Oxm::Ipv4Src { value, mask },
                (false, false) => Oxm::Ipv4Dst { value, mask },
            })
        }
        "nw_tos" => Some(Oxm::IpDscp((exact(v, 0xff, t)? >> 2) as u8)),
        "ip_dscp" => Some(Oxm::IpDscp(exact(v, 63, t)? as u8)),
        "nw_ecn" | "ip_ecn" => Some(Oxm::IpEcn(exact(v, 3, t)? as u8)),
        "tp_src" | "tp_dst" => {
            let p = exact(v, 0xffff, t)? as u16;
            let src = kv.key == "tp_src";
            Some(match (proto, src) {
                (Some(6), true) => Oxm::TcpSrc(p),
                (Some(6), false) => Oxm::TcpDst(p),
                (Some(17), true) => Oxm::UdpSrc(p),
                (Some(17), false) => Oxm::UdpDst(p),
                (Some(132), true) => Oxm::SctpSrc(p),
                (Some(132), false) => Oxm::SctpDst(p),
                _ => {
                    return Err(SyntaxError::MissingPrerequisite {
                        token: t.to_string(),
                        needs: "tcp, udp, sctp, tcp6, udp6 or sctp6",
                    });
                }
            })
        }
        "tcp_src" => Some(Oxm::TcpSrc(exact(v, 0xffff, t)? as u16)),
        "tcp_dst" => Some(Oxm::TcpDst(exact(v, 0xffff, t)? as u16)),
        "udp_src" => Some(Oxm::UdpSrc(exact(v, 0xffff, t)? as u16)),
        "udp_dst" => Some(Oxm::UdpDst(exact(v, 0xffff, t)? as u16)),
        "sctp_src" => Some(Oxm::SctpSrc(exact(v, 0xffff, t)? as u16)),
        "sctp_dst" => Some(Oxm::SctpDst(exact(v, 0xffff, t)? as u16)),
        "icmp_type" | "icmp_code" => {
            let n = exact(v, 0xff, t)? as u8;
            let ty = kv.key == "icmp_type";
            Some(match (eth, proto, ty) {
                (Some(ETH_IP), Some(1), true) => Oxm::Icmpv4Type(n),
                (Some(ETH_IP), Some(1), false) => Oxm::Icmpv4Code(n),
                (Some(ETH_IPV6), Some(58), true) => Oxm::Icmpv6Type(n),
                (Some(ETH_IPV6), Some(58), false) => Oxm::Icmpv6Code(n),
                _ => {
                    return Err(SyntaxError::MissingPrerequisite {
                        token: t.to_string(),
                        needs: "icmp or icmp6",
                    });
                }
            })
        }
        "icmpv4_type" => Some(Oxm::Icmpv4Type(exact(v, 0xff, t)? as u8)),
        "icmpv4_code" => Some(Oxm::Icmpv4Code(exact(v, 0xff, t)? as u8)),
        "icmpv6_type" => Some(Oxm::Icmpv6Type(exact(v, 0xff, t)? as u8)),
        "icmpv6_code" => Some(Oxm::Icmpv6Code(exact(v, 0xff, t)? as u8)),
        "arp_op" => Some(Oxm::ArpOp(exact(v, 0xffff, t)? as u16)),
        "arp_spa" => parse_ipv4_masked(v, t)?.map(|(value, mask)| Oxm::ArpSpa { value, mask }),
        "arp_tpa" => parse_ipv4_masked(v, t)?.map(|(value, mask)| Oxm::ArpTpa { value, mask }),
        "arp_sha" => m48(v)?.map(|(value, mask)| Oxm::ArpSha { value, mask }),
        "arp_tha" => m48(v)?.map(|(value, mask)| Oxm::ArpTha { value, mask }),
        "ipv6_src" => parse_ipv6_masked(v, t)?.map(|(value, mask)| Oxm::Ipv6Src { value, mask }),
        "ipv6_dst" => parse_ipv6_masked(v, t)?.map(|(value, mask)| Oxm::Ipv6Dst { value, mask }),
        "ipv6_label" => parse_masked(v, 0xfffff, t)?.map(|(value, mask)| Oxm::Ipv6Flabel {
            value: value as u32,
            mask: mask.map(|m| m as u32),
        }),
        "ipv6_exthdr" => parse_masked(v, 0xffff, t)?.map(|(value, mask)| Oxm::Ipv6Exthdr {
            value: value as u16,
            mask: mask.map(|m| m as u16),
        }),
        "nd_target" => {
            if v.contains('/') {
                return Err(SyntaxError::bad(t, "this field cannot be masked"));
            }
            let a: Ipv6Addr = v
                .parse()
                .map_err(|_| SyntaxError::bad(t, "not an IPv6 address"))?;
            Some(Oxm::Ipv6NdTarget(a))
        }
        "nd_sll" => Some(Oxm::Ipv6NdSll(parse_mac(v, t)?)),
        "nd_tll" => Some(Oxm::Ipv6NdTll(parse_mac(v, t)?)),
        "mpls_label" => Some(Oxm::MplsLabel(exact(v, 0xfffff, t)? as u32)),
        "mpls_tc" => Some(Oxm::MplsTc(exact(v, 7, t)? as u8)),
        "mpls_bos" => Some(Oxm::MplsBos(exact(v, 1, t)? as u8)),
        "pbb_isid" => parse_masked(v, 0xff_ffff, t)?.map(|(value, mask)| Oxm::PbbIsid {
            value: value as u32,
            mask: mask.map(|m| m as u32),
        }),
        "filter_prog" => Some(filter_prog_oxm(parse_prog_id(v, t)?)),
        _ => {
            return Err(SyntaxError::UnknownField {
                token: kv.key.to_string(),
            });
        }
    };
    b.set_opt(oxm, t)
}

// ---------------------------------------------------------------------------
// Printing

/// The protocol shorthand OVS prints for this dl_type/nw_proto, and whether
/// it absorbs nw_proto.
fn shorthand_of(eth: Option<u16>, proto: Option<u8>) -> Option<(&'static str, bool)> {
    Some(match (eth?, proto) {
        (ETH_IP, Some(1)) => ("icmp", true),
        (ETH_IP, Some(6)) => ("tcp", true),
        (ETH_IP, Some(17)) => ("udp", true),
        (ETH_IP, Some(132)) => ("sctp", true),
        (ETH_IP, _) => ("ip", false),
        (ETH_IPV6, Some(58)) => ("icmp6", true),
        (ETH_IPV6, Some(6)) => ("tcp6", true),
        (ETH_IPV6, Some(17)) => ("udp6", true),
        (ETH_IPV6, Some(132)) => ("sctp6", true),
        (ETH_IPV6, _) => ("ipv6", false),
        (ETH_ARP, _) => ("arp", false),
        (ETH_RARP, _) => ("rarp", false),
        (ETH_MPLS, _) => ("mpls", false),
        (ETH_MPLSM, _) => ("mplsm", false),
        _ => return None,
    })
}

/// Position of a field in OVS's `match_format` order.
fn print_rank(o: &Oxm) -> u8 {
    match o {
        Oxm::TunnelId { .. } => 1,
        Oxm::Metadata { .. } => 2,
        Oxm::InPort(_) => 3,
        Oxm::InPhyPort(_) => 4,
        Oxm::VlanVid { .. } | Oxm::VlanPcp(_) => 5,
        Oxm::EthSrc { .. } => 6,
        Oxm::EthDst { .. } => 7,
        Oxm::EthType(_) => 8,
        Oxm::Ipv6Src { .. } => 9,
        Oxm::Ipv6Dst { .. } => 10,
        Oxm::Ipv6Flabel { .. } => 11,
        Oxm::Ipv6Exthdr { .. } => 12,
        Oxm::ArpSpa { .. } => 13,
        Oxm::ArpTpa { .. } => 14,
        Oxm::Ipv4Src { .. } => 15,
        Oxm::Ipv4Dst { .. } => 16,
        Oxm::IpProto(_) => 17,
        Oxm::ArpOp(_) => 18,
        Oxm::ArpSha { .. } => 19,
        Oxm::ArpTha { .. } => 20,
        Oxm::IpDscp(_) => 21,
        Oxm::IpEcn(_) => 22,
        Oxm::MplsLabel(_) => 23,
        Oxm::MplsTc(_) => 24,
        Oxm::MplsBos(_) => 25,
        Oxm::PbbIsid { .. } => 26,
        Oxm::Icmpv4Type(_) | Oxm::Icmpv6Type(_) => 27,
        Oxm::Icmpv4Code(_) | Oxm::Icmpv6Code(_) => 28,
        Oxm::Ipv6NdTarget(_) => 29,
        Oxm::Ipv6NdSll(_) => 30,
        Oxm::Ipv6NdTll(_) => 31,
        Oxm::TcpSrc(_) | Oxm::UdpSrc(_) | Oxm::SctpSrc(_) => 32,
        Oxm::TcpDst(_) | Oxm::UdpDst(_) | Oxm::SctpDst(_) => 33,
        _ => 40,
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The VLAN part, from OVS's TCI view of VLAN_VID and VLAN_PCP.
fn format_vlan(m: &Match, out: &mut Vec<String>) {
    let mut tci = 0u16;
    let mut mask = 0u16;
    for o in &m.fields {
        match *o {
            Oxm::VlanVid { value, mask: vm } => {
                let vm = vm.unwrap_or(0x1fff) & 0x1fff;
                tci |= value & vm;
                mask |= vm;
            }
            Oxm::VlanPcp(p) => {
                tci |= u16::from(p & 7) << 13;
                mask |= 0xe000;
            }
            _ => {}
        }
    }
    if mask == 0 {
        return;
    }
    let vid_mask = mask & 0x0fff;
    let pcp_mask = mask & 0xe000;
    let cfi = mask & OFPVID_PRESENT != 0 && tci & OFPVID_PRESENT != 0;
    if cfi
        && (vid_mask == 0 || vid_mask == 0x0fff)
        && (pcp_mask == 0 || pcp_mask == 0xe000)
        && (vid_mask != 0 || pcp_mask != 0)
    {
        if vid_mask != 0 {
            out.push(format!("dl_vlan={}", tci & 0x0fff));
        }
        if pcp_mask != 0 {
            out.push(format!("dl_vlan_pcp={}", tci >> 13));
        }
    } else if mask == 0xffff {
        out.push(format!("vlan_tci=0x{tci:04x}"));
    } else {
        out.push(format!("vlan_tci=0x{tci:04x}/0x{mask:04x}"));
    }
}

/// One field as `name=value` in OVS spelling (VLAN fields excepted).
fn format_field(o: &Oxm) -> String {
    match o {
        Oxm::TunnelId { value, mask } => {
            format!("tun_id={}", fmt_hex_masked(*value, *mask, u64::MAX))
        }
        Oxm::Metadata { value, mask } => {
            format!("metadata={}", fmt_hex_masked(*value, *mask, u64::MAX))
        }
        Oxm::InPort(p) => format!("in_port={}", format_port(*p)),
        Oxm::InPhyPort(p) => format!("in_phy_port={}", format_port(*p)),
        Oxm::EthSrc { value, mask } => format!("dl_src={}", fmt_mac_masked(value, mask.as_ref())),
        Oxm::EthDst { value, mask } => format!("dl_dst={}", fmt_mac_masked(value, mask.as_ref())),
        Oxm::EthType(t) => format!("dl_type=0x{t:04x}"),
        Oxm::Ipv6Src { value, mask } => format!("ipv6_src={}", fmt_ipv6_masked(*value, *mask)),
        Oxm::Ipv6Dst { value, mask } => format!("ipv6_dst={}", fmt_ipv6_masked(*value, *mask)),
        Oxm::Ipv6Flabel { value, mask } => match mask {
            Some(m) if *m != 0xfffff => format!("ipv6_label=0x{value:05x}/0x{m:05x}"),
            _ => format!("ipv6_label=0x{value:05x}"),
        },
        Oxm::Ipv6Exthdr { value, mask } => format!(
            "ipv6_exthdr={}",
            fmt_hex_masked(u64::from(*value), mask.map(u64::from), 0xffff)
        ),
        Oxm::ArpSpa { value, mask } => format!("arp_spa={}", fmt_ipv4_masked(*value, *mask)),
        Oxm::ArpTpa { value, mask } => format!("arp_tpa={}", fmt_ipv4_masked(*value, *mask)),
        Oxm::Ipv4Src { value, mask } => format!("nw_src={}", fmt_ipv4_masked(*value, *mask)),
        Oxm::Ipv4Dst { value, mask } => format!("nw_dst={}", fmt_ipv4_masked(*value, *mask)),
        Oxm::IpProto(p) => format!("nw_proto={p}"),
        Oxm::ArpOp(p) => format!("arp_op={p}"),
        Oxm::ArpSha { value, mask } => format!("arp_sha={}", fmt_mac_masked(value, mask.as_ref())),
        Oxm::ArpTha { value, mask } => format!("arp_tha={}", fmt_mac_masked(value, mask.as_ref())),
        Oxm::IpDscp(d) => format!("nw_tos={}", u32::from(*d) << 2),
        Oxm::IpEcn(e) => format!("nw_ecn={e}"),
        Oxm::MplsLabel(l) => format!("mpls_label={l}"),
        Oxm::MplsTc(t) => format!("mpls_tc={t}"),
        Oxm::MplsBos(b) => format!("mpls_bos={b}"),
        Oxm::PbbIsid { value, mask } => format!(
            "pbb_isid={}",
            fmt_hex_masked(u64::from(*value), mask.map(u64::from), 0xff_ffff)
        ),
        Oxm::Icmpv4Type(t) | Oxm::Icmpv6Type(t) => format!("icmp_type={t}"),
        Oxm::Icmpv4Code(c) | Oxm::Icmpv6Code(c) => format!("icmp_code={c}"),
        Oxm::Ipv6NdTarget(a) => format!("nd_target={a}"),
        Oxm::Ipv6NdSll(m) => format!("nd_sll={}", fmt_mac(m)),
        Oxm::Ipv6NdTll(m) => format!("nd_tll={}", fmt_mac(m)),
        Oxm::TcpSrc(p) | Oxm::UdpSrc(p) | Oxm::SctpSrc(p) => format!("tp_src={p}"),
        Oxm::TcpDst(p) | Oxm::UdpDst(p) | Oxm::SctpDst(p) => format!("tp_dst={p}"),
        Oxm::Experimenter {
            field,
            experimenter,
            payload,
            ..
        } => match filter_prog_of(o) {
            Some(Ok(id)) => format!("filter_prog={id}"),
            _ => format!(
                "experimenter_oxm(0x{experimenter:08x}:{field}={})",
                hex_bytes(payload)
            ),
        },
        Oxm::Unknown {
            class,
            field,
            payload,
            ..
        } => format!("oxm(0x{class:04x}:{field}={})", hex_bytes(payload)),
        Oxm::VlanVid { .. } | Oxm::VlanPcp(_) => String::new(),
    }
}

/// The match as `match_format` prints it: `priority=N` first unless it is
/// the default (32768), the protocol shorthand, then the fields in OVS's
/// order, comma-separated. Empty for an all-wildcard match at the default
/// priority.
pub(crate) fn format_match_priority(m: &Match, priority: Option<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = priority.filter(|p| *p != openflow::message::OFP_DEFAULT_PRIORITY) {
        out.push(format!("priority={p}"));
    }
    let short = shorthand_of(m.eth_type(), m.ip_proto());
    if let Some((name, _)) = short {
        out.push(name.to_string());
    }
    let mut fields: Vec<&Oxm> = m.fields.iter().collect();
    fields.sort_by_key(|o| print_rank(o));
    let mut vlan_done = false;
    for o in fields {
        match o {
            Oxm::EthType(_) if short.is_some() => {}
            Oxm::IpProto(_) if short.is_some_and(|(_, absorbs)| absorbs) => {}
            Oxm::VlanVid { .. } | Oxm::VlanPcp(_) => {
                if !vlan_done {
                    format_vlan(m, &mut out);
                    vlan_done = true;
                }
            }
            _ => out.push(format_field(o)),
        }
    }
    out.join(",")
}

// ---------------------------------------------------------------------------
// Set-field

/// Fields a set-field may not write (OpenFlow 1.3 §7.2.3.7 and OVS).
///
/// IN_PORT and METADATA are writable in OVS, but OpenFlow 1.3 does not
/// count them as header fields and Oko's switch refuses a set-field of
/// them (`BAD_ACTION/BAD_SET_TYPE`), so they are refused here, where the
/// message can name the token (`write_metadata` sets metadata).
fn read_only(o: &Oxm) -> bool {
    matches!(
        o,
        Oxm::EthType(_)
            | Oxm::InPort(_)
            | Oxm::Metadata { .. }
            | Oxm::IpProto(_)
            | Oxm::MplsBos(_)
            | Oxm::Ipv6Exthdr { .. }
            | Oxm::InPhyPort(_)
            | Oxm::Experimenter { .. }
            | Oxm::Unknown { .. }
    )
}

/// `set_field:VALUE->NAME`: the OXM written, with the value in the same
/// notation as the match field (except `vlan_vid`, which is the OXM value
/// including OFPVID_PRESENT, 0x1000 | VID, as in `ovs-ofctl`).
pub(crate) fn set_field_oxm(name: &str, v: &str, token: &str) -> Result<Oxm, SyntaxError> {
    let t = token;
    if v.contains('/') {
        return Err(SyntaxError::bad(
            t,
            "OpenFlow 1.3 set_field cannot be masked",
        ));
    }
    let ip4 = |v: &str| -> Result<Ipv4Addr, SyntaxError> {
        v.parse()
            .map_err(|_| SyntaxError::bad(t, "not an IPv4 address"))
    };
    let ip6 = |v: &str| -> Result<Ipv6Addr, SyntaxError> {
        v.parse()
            .map_err(|_| SyntaxError::bad(t, "not an IPv6 address"))
    };
    let o = match name {
        "in_port" => Oxm::InPort(parse_port(v, t)?),
        "in_phy_port" => Oxm::InPhyPort(parse_port(v, t)?),
        "metadata" => Oxm::Metadata {
            value: exact(v, u64::MAX, t)?,
            mask: None,
        },
        "tun_id" | "tunnel_id" => Oxm::TunnelId {
            value: exact(v, u64::MAX, t)?,
            mask: None,
        },
        "eth_src" | "dl_src" => Oxm::EthSrc {
            value: parse_mac(v, t)?,
            mask: None,
        },
        "eth_dst" | "dl_dst" => Oxm::EthDst {
            value: parse_mac(v, t)?,
            mask: None,
        },
        "eth_type" | "dl_type" => Oxm::EthType(exact(v, 0xffff, t)? as u16),
        "vlan_vid" => {
            let vid = exact(v, 0x1fff, t)? as u16;
            if vid & OFPVID_PRESENT == 0 {
                return Err(SyntaxError::bad(
                    t,
                    "vlan_vid must include OFPVID_PRESENT: 4096 + VLAN id",
                ));
            }
            Oxm::VlanVid {
                value: vid,
                mask: None,
            }
        }
        "vlan_pcp" | "dl_vlan_pcp" => Oxm::VlanPcp(exact(v, 7, t)? as u8),
        "ip_dscp" => Oxm::IpDscp(exact(v, 63, t)? as u8),
        "nw_tos" => {
            let tos = exact(v, 0xff, t)?;
            if tos & 3 != 0 {
                return Err(SyntaxError::bad(t, "not a valid TOS (low 2 bits set)"));
            }
            Oxm::IpDscp((tos >> 2) as u8)
        }
        "nw_ecn" | "ip_ecn" => Oxm::IpEcn(exact(v, 3, t)? as u8),
        "nw_proto" | "ip_proto" => Oxm::IpProto(exact(v, 0xff, t)? as u8),
        "ip_src" | "nw_src" => Oxm::Ipv4Src {
            value: ip4(v)?,
            mask: None,
        },
        "ip_dst" | "nw_dst" => Oxm::Ipv4Dst {
            value: ip4(v)?,
            mask: None,
        },
        "tcp_src" => Oxm::TcpSrc(exact(v, 0xffff, t)? as u16),
        "tcp_dst" => Oxm::TcpDst(exact(v, 0xffff, t)? as u16),
        "udp_src" => Oxm::UdpSrc(exact(v, 0xffff, t)? as u16),
        "udp_dst" => Oxm::UdpDst(exact(v, 0xffff, t)? as u16),
        "sctp_src" => Oxm::SctpSrc(exact(v, 0xffff, t)? as u16),
        "sctp_dst" => Oxm::SctpDst(exact(v, 0xffff, t)? as u16),
        "icmp_type" | "icmpv4_type" => Oxm::Icmpv4Type(exact(v, 0xff, t)? as u8),
        "icmp_code" | "icmpv4_code" => Oxm::Icmpv4Code(exact(v, 0xff, t)? as u8),
        "icmpv6_type" => Oxm::Icmpv6Type(exact(v, 0xff, t)? as u8),
        "icmpv6_code" => Oxm::Icmpv6Code(exact(v, 0xff, t)? as u8),
        "arp_op" => Oxm::ArpOp(exact(v, 0xffff, t)? as u16),
        "arp_spa" => Oxm::ArpSpa {
            value: ip4(v)?,
            mask: None,
        },
        "arp_tpa" => Oxm::ArpTpa {
            value: ip4(v)?,
            mask: None,
        },
        "arp_sha" => Oxm::ArpSha {
            value: parse_mac(v, t)?,
            mask: None,
        },
        "arp_tha" => Oxm::ArpTha {
            value: parse_mac(v, t)?,
            mask: None,
        },
        "ipv6_src" => Oxm::Ipv6Src {
            value: ip6(v)?,
            mask: None,
        },
        "ipv6_dst" => Oxm::Ipv6Dst {
            value: ip6(v)?,
            mask: None,
        },
        "ipv6_label" => Oxm::Ipv6Flabel {
            value: exact(v, 0xfffff, t)? as u32,
            mask: None,
        },
        "nd_target" => Oxm::Ipv6NdTarget(ip6(v)?),
        "nd_sll" => Oxm::Ipv6NdSll(parse_mac(v, t)?),
        "nd_tll" => Oxm::Ipv6NdTll(parse_mac(v, t)?),
        "mpls_label" => Oxm::MplsLabel(exact(v, 0xfffff, t)? as u32),
        "mpls_tc" => Oxm::MplsTc(exact(v, 7, t)? as u8),
        "mpls_bos" => Oxm::MplsBos(exact(v, 1, t)? as u8),
        "pbb_isid" => Oxm::PbbIsid {
            value: exact(v, 0xff_ffff, t)? as u32,
            mask: None,
        },
        "ipv6_exthdr" => Oxm::Ipv6Exthdr {
            value: exact(v, 0xffff, t)? as u16,
            mask: None,
        },
        "filter_prog" => filter_prog_oxm(parse_prog_id(v, t)?),
        _ => {
            return Err(SyntaxError::UnknownField {
                token: name.to_string(),
            });
        }
    };
    if read_only(&o) {
        return Err(SyntaxError::ReadOnlyField {
            token: name.to_string(),
        });
    }
    Ok(o)
}

/// `VALUE->NAME` for a set-field action, in `ovs-ofctl`'s spelling.
pub(crate) fn format_set_field(o: &Oxm) -> String {
    let (value, name) = match o {
        Oxm::InPort(p) => (format_port(*p), "in_port"),
        Oxm::InPhyPort(p) => (format_port(*p), "in_phy_port"),
        Oxm::Metadata { value, .. } => (format!("{value:#x}"), "metadata"),
        Oxm::TunnelId { value, .. } => (format!("{value:#x}"), "tun_id"),
        Oxm::EthSrc { value, .. } => (fmt_mac(value), "eth_src"),
        Oxm::EthDst { value, .. } => (fmt_mac(value), "eth_dst"),
        Oxm::EthType(t) => (format!("0x{t:04x}"), "eth_type"),
        Oxm::VlanVid { value, .. } => (value.to_string(), "vlan_vid"),
        Oxm::VlanPcp(p) => (p.to_string(), "vlan_pcp"),
        Oxm::IpDscp(d) => (d.to_string(), "ip_dscp"),
        Oxm::IpEcn(e) => (e.to_string(), "nw_ecn"),
        Oxm::IpProto(p) => (p.to_string(), "nw_proto"),
        Oxm::Ipv4Src { value, .. } => (value.to_string(), "ip_src"),
        Oxm::Ipv4Dst { value, .. } => (value.to_string(), "ip_dst"),
        Oxm::TcpSrc(p) => (p.to_string(), "tcp_src"),
        Oxm::TcpDst(p) => (p.to_string(), "tcp_dst"),
        Oxm::UdpSrc(p) => (p.to_string(), "udp_src"),
        Oxm::UdpDst(p) => (p.to_string(), "udp_dst"),
        Oxm::SctpSrc(p) => (p.to_string(), "sctp_src"),
        Oxm::SctpDst(p) => (p.to_string(), "sctp_dst"),
        Oxm::Icmpv4Type(x) => (x.to_string(), "icmp_type"),
        Oxm::Icmpv4Code(x) => (x.to_string(), "icmp_code"),
        Oxm::Icmpv6Type(x) => (x.to_string(), "icmpv6_type"),
        Oxm::Icmpv6Code(x) => (x.to_string(), "icmpv6_code"),
        Oxm::ArpOp(x) => (x.to_string(), "arp_op"),
        Oxm::ArpSpa { value, .. } => (value.to_string(), "arp_spa"),
        Oxm::ArpTpa { value, .. } => (value.to_string(), "arp_tpa"),
        Oxm::ArpSha { value, .. } => (fmt_mac(value), "arp_sha"),
        Oxm::ArpTha { value, .. } => (fmt_mac(value), "arp_tha"),
        Oxm::Ipv6Src { value, .. } => (value.to_string(), "ipv6_src"),
        Oxm::Ipv6Dst { value, .. } => (value.to_string(), "ipv6_dst"),
        Oxm::Ipv6Flabel { value, .. } => (format!("{value:#x}"), "ipv6_label"),
        Oxm::Ipv6NdTarget(a) => (a.to_string(), "nd_target"),
        Oxm::Ipv6NdSll(m) => (fmt_mac(m), "nd_sll"),
        Oxm::Ipv6NdTll(m) => (fmt_mac(m), "nd_tll"),
        Oxm::MplsLabel(x) => (x.to_string(), "mpls_label"),
        Oxm::MplsTc(x) => (x.to_string(), "mpls_tc"),
        Oxm::MplsBos(x) => (x.to_string(), "mpls_bos"),
        Oxm::PbbIsid { value, .. } => (format!("{value:#x}"), "pbb_isid"),
        Oxm::Ipv6Exthdr { value, .. } => (format!("{value:#x}"), "ipv6_exthdr"),
        Oxm::Experimenter { .. } | Oxm::Unknown { .. } => (format_field(o), "oxm"),
    };
    format!("{value}->{name}")
}
