//! [`FlowMatch`]: an OpenFlow match compiled into key words.
//!
//! A flow's match is a `(mask, value)` pair of [`FlowKey`]s plus the
//! optional filter-program id: a packet key `k` matches when
//! `k & mask == value` word by word (and, at lookup time, the program
//! answers 1). `value` never has a bit outside `mask`, so equal matches are
//! equal structs and the classifier can hash `value` directly.
//!
//! [`FlowMatch::from_oxm`] is the only way in from the wire form. It accepts
//! exactly the matches [`Match::validate`] accepts, and additionally refuses:
//! - a maskable field whose value has a 1 where the mask has a 0 →
//!   `BAD_MATCH/BAD_WILDCARDS`. OpenFlow 1.3.5 §7.2.3.5 ("Flow Match Field
//!   Masking") makes such a TLV invalid and OFTest's `BadWildcardMatch`
//!   (`ipv4_src_masked(0xc0a80000, 12345678)`) expects exactly this code.
//! - an experimenter field that is not the extension's `FILTER_PROG` →
//!   `BAD_MATCH/BAD_FIELD` (the switch supports no other experimenter field);
//!   a malformed `FILTER_PROG` gets the code [`filter_prog_of`] gives
//!   (`BAD_MASK` when masked, `BAD_LEN` when not 4 bytes).
//!
//! Masks wider than a field (a 16-bit VLAN_VID mask, say) are cut to the
//! field's width: bits the field does not have cannot be matched.
//!
//! VLAN_VID needs no special case because the key stores it the way OXM
//! does (`0x1000 | vid` when tagged, 0 when not): `OFPVID_NONE` without a
//! mask becomes "13 bits equal 0" (untagged only), and
//! `OFPVID_PRESENT/OFPVID_PRESENT` becomes "bit 12 set" (any tag).

use ofext_filter::wire::filter_prog_of;
use openflow::ErrorCode;
use openflow::error::BadMatchCode;
use openflow::oxm::{Match, Oxm};

use crate::key::{FieldLoc, FlowKey, KEY_WORDS, field, mac_to_u64};

/// A compiled match: `key & mask == value`, plus the filter program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowMatch {
    /// Bits that are compared (1) or ignored (0).
    pub mask: FlowKey,
    /// The required values; always `value & !mask == 0`.
    pub value: FlowKey,
    /// The `FILTER_PROG` experimenter field's program id, when present.
    pub filter_prog: Option<u32>,
}

impl FlowMatch {
    /// The match of every packet (no field, no program).
    pub const fn catch_all() -> Self {
        Self {
            mask: FlowKey::new(),
            value: FlowKey::new(),
            filter_prog: None,
        }
    }

    /// Compiles an OXM match (see the module docs for what is refused).
    ///
    /// # Errors
    /// The OpenFlow error the FLOW_MOD must be answered with: the codes of
    /// [`Match::validate`], `BAD_MATCH/BAD_WILDCARDS` for value bits outside
    /// the mask, `BAD_MATCH/BAD_FIELD` for foreign experimenter fields, and
    /// [`filter_prog_of`]'s codes for a malformed `FILTER_PROG`.
    pub fn from_oxm(m: &Match) -> Result<Self, ErrorCode> {
        m.validate()?;
        let mut fm = Self::catch_all();
        for oxm in &m.fields {
            fm.add(oxm)?;
        }
        Ok(fm)
    }

    /// Adds one (already validated) field.
    fn add(&mut self, oxm: &Oxm) -> Result<(), ErrorCode> {
        use field as f;
        let exact = u64::MAX;
        let mac = |m: &Option<[u8; 6]>| m.map_or(exact, mac_to_u64);
        let v4 = |m: &Option<std::net::Ipv4Addr>| m.map_or(exact, |a| u64::from(a.to_bits()));
        let v6 = |m: &Option<std::net::Ipv6Addr>| m.map_or(u128::MAX, |a| a.to_bits());
        match *oxm {
            Oxm::InPort(v) => self.put(f::IN_PORT, v.into(), exact),
            Oxm::InPhyPort(v) => self.put(f::IN_PHY_PORT, v.into(), exact),
            Oxm::Metadata { value, mask } => self.put(f::METADATA, value, mask.unwrap_or(exact)),
            Oxm::TunnelId { value, mask } => self.put(f::TUNNEL_ID, value, mask.unwrap_or(exact)),
            Oxm::EthDst { value, ref mask } => self.put(f::ETH_DST, mac_to_u64(value), mac(mask)),
            Oxm::EthSrc { value, ref mask } => self.put(f::ETH_SRC, mac_to_u64(value), mac(mask)),
            Oxm::EthType(v) => self.put(f::ETH_TYPE, v.into(), exact),
            Oxm::VlanVid { value, mask } => {
                self.put(f::VLAN_VID, value.into(), mask.map_or(exact, u64::from))
            }
            Oxm::VlanPcp(v) => self.put(f::VLAN_PCP, v.into(), exact),
            Oxm::IpDscp(v) => self.put(f::IP_DSCP, v.into(), exact),
            Oxm::IpEcn(v) => self.put(f::IP_ECN, v.into(), exact),
            Oxm::IpProto(v) => self.put(f::IP_PROTO, v.into(), exact),
            Oxm::Ipv4Src { value, ref mask } | Oxm::ArpSpa { value, ref mask } => {
                self.put(f::IPV4_SRC, value.to_bits().into(), v4(mask))
            }
            Oxm::Ipv4Dst { value, ref mask } | Oxm::ArpTpa { value, ref mask } => {
                self.put(f::IPV4_DST, value.to_bits().into(), v4(mask))
            }
            Oxm::TcpSrc(v) | Oxm::UdpSrc(v) | Oxm::SctpSrc(v) => {
                self.put(f::TP_SRC, v.into(), exact)
            }
            Oxm::TcpDst(v) | Oxm::UdpDst(v) | Oxm::SctpDst(v) => {
                self.put(f::TP_DST, v.into(), exact)
            }
            Oxm::Icmpv4Type(v) | Oxm::Icmpv6Type(v) => self.put(f::ICMP_TYPE, v.into(), exact),
            Oxm::Icmpv4Code(v) | Oxm::Icmpv6Code(v) => self.put(f::ICMP_CODE, v.into(), exact),
            Oxm::ArpOp(v) => self.put(f::ARP_OP, v.into(), exact),
            Oxm::ArpSha { value, ref mask } => self.put(f::ARP_SHA, mac_to_u64(value), mac(mask)),
            Oxm::ArpTha { value, ref mask } => self.put(f::ARP_THA, mac_to_u64(value), mac(mask)),
            Oxm::Ipv6NdSll(v) => self.put(f::IPV6_ND_SLL, mac_to_u64(v), exact),
            Oxm::Ipv6NdTll(v) => self.put(f::IPV6_ND_TLL, mac_to_u64(v), exact),
            Oxm::Ipv6Src { value, ref mask } => self.put128(f::IPV6_SRC, value.to_bits(), v6(mask)),
            Oxm::Ipv6Dst { value, ref mask } => self.put128(f::IPV6_DST, value.to_bits(), v6(mask)),
            Oxm::Ipv6NdTarget(v) => self.put128(f::IPV6_ND_TARGET, v.to_bits(), u128::MAX),
            Oxm::Ipv6Flabel { value, mask } => {
                self.put(f::IPV6_FLABEL, value.into(), mask.map_or(exact, u64::from))
            }
            Oxm::MplsLabel(v) => self.put(f::MPLS_LABEL, v.into(), exact),
            Oxm::MplsTc(v) => self.put(f::MPLS_TC, v.into(), exact),
            Oxm::MplsBos(v) => self.put(f::MPLS_BOS, v.into(), exact),
            Oxm::PbbIsid { value, mask } => {
                self.put(f::PBB_ISID, value.into(), mask.map_or(exact, u64::from))
            }
            Oxm::Ipv6Exthdr { value, mask } => {
                self.put(f::IPV6_EXTHDR, value.into(), mask.map_or(exact, u64::from))
            }
            Oxm::Experimenter { .. } => match filter_prog_of(oxm) {
                Some(Ok(id)) => {
                    // `validate` already refused a second FILTER_PROG.
                    self.filter_prog = Some(id);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => Err(ErrorCode::BadMatch(BadMatchCode::BadField)),
            },
            // `validate` refuses these first; kept total without a panic.
            Oxm::Unknown { .. } => Err(ErrorCode::BadMatch(BadMatchCode::BadField)),
        }
    }

    /// Stores a field of at most 64 bits; the mask is cut to the field width.
    fn put(&mut self, loc: FieldLoc, value: u64, mask: u64) -> Result<(), ErrorCode> {
        let width = loc.word_mask() >> loc.shift;
        let mask = mask & width;
        if value & !mask != 0 {
            return Err(ErrorCode::BadMatch(BadMatchCode::BadWildcards));
        }
        self.mask.set(loc, mask);
        self.value.set(loc, value);
        Ok(())
    }

    /// Stores a 128-bit field.
    fn put128(&mut self, loc: FieldLoc, value: u128, mask: u128) -> Result<(), ErrorCode> {
        if value & !mask != 0 {
            return Err(ErrorCode::BadMatch(BadMatchCode::BadWildcards));
        }
        self.mask.set128(loc, mask);
        self.value.set128(loc, value);
        Ok(())
    }

    /// Whether the fields (not the program) match `key`.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        (0..KEY_WORDS).all(|i| key.w[i] & self.mask.w[i] == self.value.w[i])
    }

    /// Whether some packet could match both flows (CHECK_OVERLAP): on every
    /// bit both compare, they want the same value.
    ///
    /// Filter programs are not considered: a program may answer 1 for any
    /// packet, so two flows that differ only in their programs overlap.
    pub fn overlaps(&self, other: &FlowMatch) -> bool {
        (0..KEY_WORDS)
            .all(|i| (self.value.w[i] ^ other.value.w[i]) & self.mask.w[i] & other.mask.w[i] == 0)
    }

    /// Whether every packet `self` matches is also matched by `other` — the
    /// non-strict FLOW_MOD/FLOW_STATS selection ("`self` is as specific as
    /// `other` or more"). A request with a `FILTER_PROG` selects only flows
    /// with the same program; one without selects flows with any or none.
    pub fn is_subset_of(&self, other: &FlowMatch) -> bool {
        other
            .filter_prog
            .is_none_or(|p| self.filter_prog == Some(p))
            && (0..KEY_WORDS).all(|i| {
                other.mask.w[i] & !self.mask.w[i] == 0
                    && self.value.w[i] & other.mask.w[i] == other.value.w[i]
            })
    }

    /// Strict equality (MODIFY_STRICT / DELETE_STRICT): same fields, masks
    /// and program. The same as `==`; named for the call sites.
    pub fn strict_eq(&self, other: &FlowMatch) -> bool {
        self == other
    }

    /// Whether no field is matched (the filter program may still be set).
    pub fn is_catch_all(&self) -> bool {
        self.mask.w.iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofext_filter::wire::{FILTER_PROG_FIELD, OKO_EXPERIMENTER};
    use openflow::oxm::{OFPVID_NONE, OFPVID_PRESENT};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn fm(fields: Vec<Oxm>) -> Result<FlowMatch, ErrorCode> {
        FlowMatch::from_oxm(&Match { fields })
    }

    fn bad(c: BadMatchCode) -> Result<FlowMatch, ErrorCode> {
        Err(ErrorCode::BadMatch(c))
    }

    const IP4: Oxm = Oxm::EthType(0x0800);
    const IP6: Oxm = Oxm::EthType(0x86dd);
    const ARP: Oxm = Oxm::EthType(0x0806);
    const MPLS: Oxm = Oxm::EthType(0x8847);
    const PBB: Oxm = Oxm::EthType(0x88e7);

    fn filter_prog(id: &[u8], has_mask: bool) -> Oxm {
        Oxm::Experimenter {
            field: FILTER_PROG_FIELD,
            has_mask,
            experimenter: OKO_EXPERIMENTER,
            payload: id.to_vec(),
        }
    }

    /// Every field without a mask: the words it lands in, written out from
    /// key.rs's layout (value and full-width mask).
    #[test]
    fn every_field_exact() {
        let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let mac_u = 0x0211_2233_4455u64;
        let a6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let nd = |t| vec![IP6, Oxm::IpProto(58), Oxm::Icmpv6Type(t)];
        // (prerequisites, field, word, value bits in the word, mask bits)
        let cases: Vec<(Vec<Oxm>, Oxm, usize, u64, u64)> = vec![
            (vec![], Oxm::InPort(7), 0, 7, 0xffff_ffff),
            (
                vec![Oxm::InPort(7)],
                Oxm::InPhyPort(9),
                0,
                9 << 32,
                0xffff_ffff << 32,
            ),
            (
                vec![],
                Oxm::Metadata {
                    value: 0xdead_beef_0000_0001,
                    mask: None,
                },
                1,
                0xdead_beef_0000_0001,
                u64::MAX,
            ),
            (
                vec![],
                Oxm::TunnelId {
                    value: 42,
                    mask: None,
                },
                2,
                42,
                u64::MAX,
            ),
            (
                vec![],
                Oxm::EthDst {
                    value: mac,
                    mask: None,
                },
                3,
                mac_u,
                0xffff_ffff_ffff,
            ),
            (vec![], Oxm::EthType(0x88cc), 3, 0x88cc << 48, 0xffff << 48),
            (
                vec![],
                Oxm::EthSrc {
                    value: mac,
                    mask: None,
                },
                4,
                mac_u,
                0xffff_ffff_ffff,
            ),
            (
                vec![],
                Oxm::VlanVid {
                    value: 0x1000 | 10,
                    mask: None,
                },
                4,
                0x100a << 48,
                0x1fff << 48,
            ),
            (
                vec![Oxm::VlanVid {
                    value: 0x1000 | 10,
                    mask: None,
                }],
                Oxm::VlanPcp(5),
                5,
                5,
                7,
            ),
            (vec![IP4], Oxm::IpProto(17), 5, 17 << 8, 0xff << 8),
            (vec![IP4], Oxm::IpDscp(46), 5, 46 << 16, 0x3f << 16),
            (vec![IP6], Oxm::IpEcn(3), 5, 3 << 24, 3 << 24),
            (vec![MPLS], Oxm::MplsTc(5), 5, 5 << 32, 7 << 32),
            (vec![MPLS], Oxm::MplsBos(1), 5, 1 << 40, 1 << 40),
            (
                vec![IP4, Oxm::IpProto(1)],
                Oxm::Icmpv4Type(8),
                5,
                8 << 48,
                0xff << 48,
            ),
            (
                vec![IP4, Oxm::IpProto(1)],
                Oxm::Icmpv4Code(3),
                5,
                3 << 56,
                0xff << 56,
            ),
            (
                vec![IP6, Oxm::IpProto(58)],
                Oxm::Icmpv6Type(128),
                5,
                128 << 48,
                0xff << 48,
            ),
            (
                vec![IP6, Oxm::IpProto(58)],
                Oxm::Icmpv6Code(4),
                5,
                4 << 56,
                0xff << 56,
            ),
            (
                vec![IP4],
                Oxm::Ipv4Src {
                    value: Ipv4Addr::new(10, 0, 0, 1),
                    mask: None,
                },
                6,
                0x0a00_0001,
                0xffff_ffff,
            ),
            (
                vec![IP4],
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(10, 0, 0, 2),
                    mask: None,
                },
                6,
                0x0a00_0002 << 32,
                0xffff_ffff << 32,
            ),
            (
                vec![ARP],
                Oxm::ArpSpa {
                    value: Ipv4Addr::new(192, 168, 0, 1),
                    mask: None,
                },
                6,
                0xc0a8_0001,
                0xffff_ffff,
            ),
            (
                vec![ARP],
                Oxm::ArpTpa {
                    value: Ipv4Addr::new(192, 168, 0, 2),
                    mask: None,
                },
                6,
                0xc0a8_0002 << 32,
                0xffff_ffff << 32,
            ),
            (vec![IP4, Oxm::IpProto(6)], Oxm::TcpSrc(80), 7, 80, 0xffff),
            (
                vec![IP4, Oxm::IpProto(6)],
                Oxm::TcpDst(443),
                7,
                443 << 16,
                0xffff << 16,
            ),
            (vec![IP6, Oxm::IpProto(17)], Oxm::UdpSrc(53), 7, 53, 0xffff),
            (
                vec![IP6, Oxm::IpProto(17)],
                Oxm::UdpDst(67),
                7,
                67 << 16,
                0xffff << 16,
            ),
            (vec![IP4, Oxm::IpProto(132)], Oxm::SctpSrc(9), 7, 9, 0xffff),
            (
                vec![IP4, Oxm::IpProto(132)],
                Oxm::SctpDst(10),
                7,
                10 << 16,
                0xffff << 16,
            ),
            (
                vec![MPLS],
                Oxm::MplsLabel(0xfffff),
                7,
                0xfffff << 32,
                0xfffff << 32,
            ),
            (
                vec![IP6],
                Oxm::Ipv6Src {
                    value: a6,
                    mask: None,
                },
                8,
                0x2001_0db8_0000_0000,
                u64::MAX,
            ),
            (
                vec![IP6],
                Oxm::Ipv6Dst {
                    value: a6,
                    mask: None,
                },
                11,
                1,
                u64::MAX,
            ),
            (
                nd(135),
                Oxm::Ipv6NdTarget(a6),
                12,
                0x2001_0db8_0000_0000,
                u64::MAX,
            ),
            (
                vec![IP6],
                Oxm::Ipv6Flabel {
                    value: 0x12345,
                    mask: None,
                },
                14,
                0x12345,
                0xfffff,
            ),
            (
                vec![PBB],
                Oxm::PbbIsid {
                    value: 0xabcdef,
                    mask: None,
                },
                14,
                0xabcdef << 32,
                0xffffff << 32,
            ),
            (
                vec![ARP],
                Oxm::ArpSha {
                    value: mac,
                    mask: None,
                },
                15,
                mac_u,
                0xffff_ffff_ffff,
            ),
            (nd(135), Oxm::Ipv6NdSll(mac), 15, mac_u, 0xffff_ffff_ffff),
            (
                vec![IP6],
                Oxm::Ipv6Exthdr {
                    value: 0x1ff,
                    mask: None,
                },
                15,
                0x1ff << 48,
                0x1ff << 48,
            ),
            (
                vec![ARP],
                Oxm::ArpTha {
                    value: mac,
                    mask: None,
                },
                16,
                mac_u,
                0xffff_ffff_ffff,
            ),
            (nd(136), Oxm::Ipv6NdTll(mac), 16, mac_u, 0xffff_ffff_ffff),
            (vec![ARP], Oxm::ArpOp(2), 16, 2 << 48, 0xffff << 48),
        ];
        for (pre, oxm, word, value, mask) in cases {
            let base = fm(pre.clone()).unwrap();
            let mut fields = pre;
            fields.push(oxm.clone());
            let m = fm(fields).unwrap_or_else(|e| panic!("{oxm:?}: {e:?}"));
            // Only the field's own bits changed, in the expected word.
            // 128-bit fields (words 8–13) also fill their other word, with
            // the other half of `a6`.
            let pair = (8..14).contains(&word).then_some(word ^ 1);
            for i in 0..KEY_WORDS {
                let (dv, dm) = (m.value.w[i] ^ base.value.w[i], m.mask.w[i] ^ base.mask.w[i]);
                if Some(i) == pair {
                    let half = if i % 2 == 0 {
                        a6.to_bits() >> 64
                    } else {
                        a6.to_bits()
                    };
                    assert_eq!((m.value.w[i], dm), (half as u64, u64::MAX), "{oxm:?} pair");
                } else if i == word {
                    assert_eq!(dm, mask, "{oxm:?} mask");
                    assert_eq!(m.value.w[i] & mask, value, "{oxm:?} value");
                } else {
                    assert_eq!((dv, dm), (0, 0), "{oxm:?} touched word {i}");
                }
            }
            assert_eq!(m.filter_prog, None);
        }
    }

    #[test]
    fn ipv6_full_words() {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6);
        let m = fm(vec![
            IP6,
            Oxm::Ipv6Dst {
                value: a,
                mask: None,
            },
        ])
        .unwrap();
        assert_eq!(m.value.w[10], 0x2001_0db8_0001_0002);
        assert_eq!(m.value.w[11], 0x0003_0004_0005_0006);
        assert_eq!((m.mask.w[10], m.mask.w[11]), (u64::MAX, u64::MAX));
    }

    #[test]
    fn masked_fields() {
        let m = fm(vec![
            IP4,
            Oxm::Ipv4Src {
                value: Ipv4Addr::new(10, 1, 0, 0),
                mask: Some(Ipv4Addr::new(255, 255, 0, 0)),
            },
            Oxm::EthDst {
                value: [1, 0, 0, 0, 0, 0],
                mask: Some([1, 0, 0, 0, 0, 0]),
            },
            Oxm::Metadata {
                value: 0xf0,
                mask: Some(0xff),
            },
        ])
        .unwrap();
        assert_eq!(m.value.get(field::IPV4_SRC), 0x0a01_0000);
        assert_eq!(m.mask.get(field::IPV4_SRC), 0xffff_0000);
        assert_eq!(m.mask.get(field::ETH_DST), 0x0100_0000_0000);
        assert_eq!(m.value.get(field::ETH_DST), 0x0100_0000_0000);
        assert_eq!((m.value.w[1], m.mask.w[1]), (0xf0, 0xff));
        let v6 = fm(vec![
            IP6,
            Oxm::Ipv6Src {
                value: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
                mask: Some(Ipv6Addr::new(0xffc0, 0, 0, 0, 0, 0, 0, 0)),
            },
            Oxm::Ipv6Flabel {
                value: 0x10,
                mask: Some(0xffff_fff0),
            },
        ])
        .unwrap();
        assert_eq!((v6.value.w[8], v6.mask.w[8]), (0xfe80 << 48, 0xffc0 << 48));
        assert_eq!((v6.value.w[9], v6.mask.w[9]), (0, 0));
        // The 32-bit mask is cut to flabel's 20 bits.
        assert_eq!(v6.mask.get(field::IPV6_FLABEL), 0xffff0);
        // Masked versions of the remaining maskable fields.
        let m = fm(vec![
            Oxm::TunnelId {
                value: 0x100,
                mask: Some(0xf00),
            },
            Oxm::EthSrc {
                value: [0; 6],
                mask: Some([0xff; 6]),
            },
        ])
        .unwrap();
        assert_eq!((m.value.w[2], m.mask.w[2]), (0x100, 0xf00));
        assert_eq!(m.mask.get(field::ETH_SRC), 0xffff_ffff_ffff);
        let m = fm(vec![
            ARP,
            Oxm::ArpSpa {
                value: Ipv4Addr::new(10, 0, 0, 0),
                mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
            },
            Oxm::ArpTpa {
                value: Ipv4Addr::new(0, 0, 0, 1),
                mask: Some(Ipv4Addr::new(0, 0, 0, 255)),
            },
            Oxm::ArpSha {
                value: [0, 0, 0, 0, 0, 1],
                mask: Some([0, 0, 0, 0, 0, 1]),
            },
            Oxm::ArpTha {
                value: [2, 0, 0, 0, 0, 0],
                mask: Some([2, 0, 0, 0, 0, 0]),
            },
        ])
        .unwrap();
        assert_eq!(m.mask.w[6], 0x0000_00ff_ff00_0000);
        assert_eq!(m.value.w[6], 0x0000_0001_0a00_0000);
        assert_eq!((m.value.w[15], m.mask.w[15]), (1, 1));
        assert_eq!(
            (m.value.w[16], m.mask.w[16]),
            (0x0200_0000_0000, 0x0200_0000_0000)
        );
        let m = fm(vec![
            PBB,
            Oxm::PbbIsid {
                value: 0x10_0000,
                mask: Some(0xf0_0000),
            },
        ])
        .unwrap();
        assert_eq!(m.mask.get(field::PBB_ISID), 0xf0_0000);
        let m = fm(vec![
            IP6,
            Oxm::Ipv6Exthdr {
                value: 0x4,
                mask: Some(0xffff),
            },
        ])
        .unwrap();
        assert_eq!(m.mask.get(field::IPV6_EXTHDR), 0x1ff);
        assert_eq!(m.value.get(field::IPV6_EXTHDR), 0x4);
        // An all-zero mask compares nothing, like an absent field.
        let m = fm(vec![Oxm::Metadata {
            value: 0,
            mask: Some(0),
        }])
        .unwrap();
        assert!(m.is_catch_all());
    }

    #[test]
    fn vlan_special_values() {
        // OFPVID_NONE: untagged only.
        let none = fm(vec![Oxm::VlanVid {
            value: OFPVID_NONE,
            mask: None,
        }])
        .unwrap();
        assert_eq!(none.mask.get(field::VLAN_VID), 0x1fff);
        assert_eq!(none.value.get(field::VLAN_VID), 0);
        // OFPVID_PRESENT/OFPVID_PRESENT: any tag.
        let any = fm(vec![Oxm::VlanVid {
            value: OFPVID_PRESENT,
            mask: Some(OFPVID_PRESENT),
        }])
        .unwrap();
        assert_eq!(any.mask.get(field::VLAN_VID), 0x1000);
        assert_eq!(any.value.get(field::VLAN_VID), 0x1000);
        let mut untagged = FlowKey::new();
        let mut tagged = FlowKey::new();
        tagged.set(field::VLAN_VID, 0x1000 | 5);
        assert!(none.matches(&untagged) && !none.matches(&tagged));
        assert!(any.matches(&tagged) && !any.matches(&untagged));
        untagged.set(field::VLAN_VID, 0);
        let vid5 = fm(vec![Oxm::VlanVid {
            value: 0x1005,
            mask: None,
        }])
        .unwrap();
        assert!(vid5.matches(&tagged) && !vid5.matches(&untagged));
        // A 16-bit mask is cut to the field's 13 bits.
        let wide = fm(vec![Oxm::VlanVid {
            value: 0x1005,
            mask: Some(0xffff),
        }])
        .unwrap();
        assert_eq!(wide, vid5);
    }

    #[test]
    fn value_bits_outside_mask_are_bad_wildcards() {
        // OFTest BadWildcardMatch: ipv4_src_masked(0xc0a80000, 12345678).
        assert_eq!(
            fm(vec![
                IP4,
                Oxm::Ipv4Src {
                    value: Ipv4Addr::from_bits(0xc0a8_0000),
                    mask: Some(Ipv4Addr::from_bits(12_345_678)),
                },
            ]),
            bad(BadMatchCode::BadWildcards)
        );
        assert_eq!(
            fm(vec![Oxm::Metadata {
                value: 1,
                mask: Some(2)
            }]),
            bad(BadMatchCode::BadWildcards)
        );
        assert_eq!(
            fm(vec![Oxm::VlanVid {
                value: 0x1001,
                mask: Some(0x1000)
            }]),
            bad(BadMatchCode::BadWildcards)
        );
        assert_eq!(
            fm(vec![
                IP6,
                Oxm::Ipv6Dst {
                    value: Ipv6Addr::LOCALHOST,
                    mask: Some(Ipv6Addr::UNSPECIFIED),
                },
            ]),
            bad(BadMatchCode::BadWildcards)
        );
        assert_eq!(
            fm(vec![Oxm::EthSrc {
                value: [0, 0, 0, 0, 0, 3],
                mask: Some([0, 0, 0, 0, 0, 1])
            }]),
            bad(BadMatchCode::BadWildcards)
        );
    }

    #[test]
    fn errors_from_validate() {
        assert_eq!(
            fm(vec![Oxm::Unknown {
                class: 0x8000,
                field: 60,
                has_mask: false,
                payload: vec![0; 4]
            }]),
            bad(BadMatchCode::BadField)
        );
        assert_eq!(
            fm(vec![Oxm::InPort(1), Oxm::InPort(2)]),
            bad(BadMatchCode::DupField)
        );
        assert_eq!(fm(vec![Oxm::VlanPcp(1)]), bad(BadMatchCode::BadPrereq));
        assert_eq!(fm(vec![Oxm::TcpSrc(1)]), bad(BadMatchCode::BadPrereq));
        assert_eq!(fm(vec![IP4, Oxm::IpDscp(64)]), bad(BadMatchCode::BadValue));
    }

    #[test]
    fn filter_prog_field() {
        let m = fm(vec![Oxm::InPort(3), filter_prog(&[0, 0, 0, 9], false)]).unwrap();
        assert_eq!(m.filter_prog, Some(9));
        assert_eq!(m.mask.w[0], 0xffff_ffff);
        assert_eq!(
            fm(vec![filter_prog(&[0, 9], false)]),
            bad(BadMatchCode::BadLen)
        );
        assert_eq!(
            fm(vec![filter_prog(&[0, 0, 0, 9, 0, 0, 0, 0], true)]),
            bad(BadMatchCode::BadMask)
        );
        assert_eq!(
            fm(vec![
                filter_prog(&[0, 0, 0, 1], false),
                filter_prog(&[0, 0, 0, 2], false)
            ]),
            bad(BadMatchCode::DupField)
        );
        // Another experimenter's field, or Oko's id with another field number.
        let foreign = Oxm::Experimenter {
            field: FILTER_PROG_FIELD,
            has_mask: false,
            experimenter: 0x00aa_bbcc,
            payload: vec![0, 0, 0, 1],
        };
        assert_eq!(fm(vec![foreign]), bad(BadMatchCode::BadField));
        let other_field = Oxm::Experimenter {
            field: 2,
            has_mask: false,
            experimenter: OKO_EXPERIMENTER,
            payload: vec![0, 0, 0, 1],
        };
        assert_eq!(fm(vec![other_field]), bad(BadMatchCode::BadField));
    }

    fn m_of(fields: Vec<Oxm>) -> FlowMatch {
        fm(fields).unwrap()
    }

    #[test]
    fn overlap_subset_strict() {
        let net = |a: [u8; 4], len: u32| Oxm::Ipv4Dst {
            value: Ipv4Addr::from(a),
            mask: Some(Ipv4Addr::from_bits(
                u32::MAX.checked_shl(32 - len).unwrap_or(0),
            )),
        };
        let wide = m_of(vec![IP4, net([10, 0, 0, 0], 8)]);
        let narrow = m_of(vec![IP4, net([10, 1, 0, 0], 16)]);
        let other = m_of(vec![IP4, net([11, 0, 0, 0], 8)]);
        let port = m_of(vec![Oxm::InPort(1)]);
        let any = FlowMatch::catch_all();
        assert!(narrow.is_subset_of(&wide) && !wide.is_subset_of(&narrow));
        assert!(narrow.is_subset_of(&any) && !any.is_subset_of(&narrow));
        assert!(wide.is_subset_of(&wide));
        assert!(wide.overlaps(&narrow) && narrow.overlaps(&wide));
        assert!(!wide.overlaps(&other));
        // Different fields: a packet can match both.
        assert!(port.overlaps(&wide) && !port.is_subset_of(&wide));
        assert!(wide.strict_eq(&m_of(vec![net([10, 0, 0, 0], 8), IP4])));
        assert!(!wide.strict_eq(&narrow));
        // Programs: a request naming one selects only flows with it.
        let mut wide_p = wide;
        wide_p.filter_prog = Some(4);
        assert!(wide_p.is_subset_of(&wide) && !wide.is_subset_of(&wide_p));
        assert!(wide_p.overlaps(&wide) && !wide_p.strict_eq(&wide));
    }
}
