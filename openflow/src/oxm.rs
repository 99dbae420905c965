//! OXM TLVs (OpenFlow 1.3.5 §7.2.3) and `ofp_match`.
//!
//! An OpenFlow 1.3 match is a list of OXM TLVs ("OpenFlow Extensible Match"):
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------------+-+---------------+
//! |          oxm_class            |  oxm_field  |M|  oxm_length   |
//! +---------------+---------------+-------------+-+---------------+
//! |  value (oxm_length bytes, or oxm_length/2 then the mask if M)  ...
//! ```
//!
//! Fields of class `OFPXMC_OPENFLOW_BASIC` (0x8000) numbered 0–39 have a fixed
//! value size and a fixed "maskable or not" property (spec Table 12); they are
//! decoded into typed [`Oxm`] variants and every deviation from the table is a
//! parse error with the exact OpenFlow error code. Experimenter fields (class
//! 0xffff) carry a 32-bit experimenter id after the header; the rest of their
//! payload is kept verbatim, because its meaning belongs to the experimenter
//! (the filter-program extension's `FILTER_PROG` field is one of these).
//! Anything else — another class, or a basic field number this spec version
//! does not define — is kept as [`Oxm::Unknown`] so that it round-trips and
//! the switch can answer `BAD_MATCH/BAD_FIELD` for it later, in
//! [`Match::validate`], instead of failing the parse.
//!
//! Invariants:
//! - Parsing keeps values exactly as received (no clearing of value bits that
//!   the mask hides), so `emit(parse(b)) == b` for every accepted `b`.
//! - `wire_len()` is computed from the typed value, never from a cached
//!   length, and `emit` writes exactly that many bytes. Padding is written as
//!   zeros and ignored when read.
//! - Parsing never allocates for basic fields; only the payloads of
//!   `Unknown`/`Experimenter` fields and the field vector of a [`Match`] do.
//!
//! What this module does not do: it does not decide whether a switch supports
//! a field, and it does not check experimenter fields (their owner does).
//! [`Match::validate`] implements the protocol-level checks every switch makes:
//! unknown fields, duplicates, value ranges and prerequisites.

use bytes::BufMut;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{BadMatchCode, Element, ErrorCode, ParseError};
use crate::wire::{
    PResult, Wire, emit_all, fail, into_error, len_all, len_u16, pad8, put_zeros, rebase,
};

/// OXM class `OFPXMC_OPENFLOW_BASIC`.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// OXM class `OFPXMC_EXPERIMENTER`.
pub const OFPXMC_EXPERIMENTER: u16 = 0xffff;
/// `ofp_match.type` for OXM matches.
pub const OFPMT_OXM: u16 = 1;
/// `OFPVID_PRESENT`: the VLAN_VID bit that says "a VLAN tag is present".
pub const OFPVID_PRESENT: u16 = 0x1000;
/// `OFPVID_NONE`: the VLAN_VID value that says "no VLAN tag".
pub const OFPVID_NONE: u16 = 0x0000;

/// `oxm_ofb_match_fields`: the OFPXMT_OFB_* field numbers of class
/// `OFPXMC_OPENFLOW_BASIC`.
pub mod field {
    /// OFPXMT_OFB_IN_PORT
    pub const IN_PORT: u8 = 0;
    /// OFPXMT_OFB_IN_PHY_PORT
    pub const IN_PHY_PORT: u8 = 1;
    /// OFPXMT_OFB_METADATA
    pub const METADATA: u8 = 2;
    /// OFPXMT_OFB_ETH_DST
    pub const ETH_DST: u8 = 3;
    /// OFPXMT_OFB_ETH_SRC
    pub const ETH_SRC: u8 = 4;
    /// OFPXMT_OFB_ETH_TYPE
    pub const ETH_TYPE: u8 = 5;
    /// OFPXMT_OFB_VLAN_VID
    pub const VLAN_VID: u8 = 6;
    /// OFPXMT_OFB_VLAN_PCP
    pub const VLAN_PCP: u8 = 7;
    /// OFPXMT_OFB_IP_DSCP
    pub const IP_DSCP: u8 = 8;
    /// OFPXMT_OFB_IP_ECN
    pub const IP_ECN: u8 = 9;
    /// OFPXMT_OFB_IP_PROTO
    pub const IP_PROTO: u8 = 10;
    /// OFPXMT_OFB_IPV4_SRC
    pub const IPV4_SRC: u8 = 11;
    /// OFPXMT_OFB_IPV4_DST
    pub const IPV4_DST: u8 = 12;
    /// OFPXMT_OFB_TCP_SRC
    pub const TCP_SRC: u8 = 13;
    /// OFPXMT_OFB_TCP_DST
    pub const TCP_DST: u8 = 14;
    /// OFPXMT_OFB_UDP_SRC
    pub const UDP_SRC: u8 = 15;
    /// OFPXMT_OFB_UDP_DST
    pub const UDP_DST: u8 = 16;
    /// OFPXMT_OFB_SCTP_SRC
    pub const SCTP_SRC: u8 = 17;
    /// OFPXMT_OFB_SCTP_DST
    pub const SCTP_DST: u8 = 18;
    /// OFPXMT_OFB_ICMPV4_TYPE
    pub const ICMPV4_TYPE: u8 = 19;
    /// OFPXMT_OFB_ICMPV4_CODE
    pub const ICMPV4_CODE: u8 = 20;
    /// OFPXMT_OFB_ARP_OP
    pub const ARP_OP: u8 = 21;
    /// OFPXMT_OFB_ARP_SPA
    pub const ARP_SPA: u8 = 22;
    /// OFPXMT_OFB_ARP_TPA
    pub const ARP_TPA: u8 = 23;
    /// OFPXMT_OFB_ARP_SHA
    pub const ARP_SHA: u8 = 24;
    /// OFPXMT_OFB_ARP_THA
    pub const ARP_THA: u8 = 25;
    /// OFPXMT_OFB_IPV6_SRC
    pub const IPV6_SRC: u8 = 26;
    /// OFPXMT_OFB_IPV6_DST
    pub const IPV6_DST: u8 = 27;
    /// OFPXMT_OFB_IPV6_FLABEL
    pub const IPV6_FLABEL: u8 = 28;
    /// OFPXMT_OFB_ICMPV6_TYPE
    pub const ICMPV6_TYPE: u8 = 29;
    /// OFPXMT_OFB_ICMPV6_CODE
    pub const ICMPV6_CODE: u8 = 30;
    /// OFPXMT_OFB_IPV6_ND_TARGET
    pub const IPV6_ND_TARGET: u8 = 31;
    /// OFPXMT_OFB_IPV6_ND_SLL
    pub const IPV6_ND_SLL: u8 = 32;
    /// OFPXMT_OFB_IPV6_ND_TLL
    pub const IPV6_ND_TLL: u8 = 33;
    /// OFPXMT_OFB_MPLS_LABEL
    pub const MPLS_LABEL: u8 = 34;
    /// OFPXMT_OFB_MPLS_TC
    pub const MPLS_TC: u8 = 35;
    /// OFPXMT_OFB_MPLS_BOS
    pub const MPLS_BOS: u8 = 36;
    /// OFPXMT_OFB_PBB_ISID
    pub const PBB_ISID: u8 = 37;
    /// OFPXMT_OFB_TUNNEL_ID
    pub const TUNNEL_ID: u8 = 38;
    /// OFPXMT_OFB_IPV6_EXTHDR
    pub const IPV6_EXTHDR: u8 = 39;
    /// Number of basic fields OpenFlow 1.3.5 defines (0 ..= 39).
    pub const COUNT: u8 = 40;
}

/// Value size in bytes of each basic field, indexed by field number.
const BASIC_LEN: [u8; field::COUNT as usize] = [
    4, 4, 8, 6, 6, 2, 2, 1, 1, 1, // 0..=9: in_port .. ip_ecn
    1, 4, 4, 2, 2, 2, 2, 2, 2, 1, // 10..=19: ip_proto .. icmpv4_type
    1, 2, 4, 4, 6, 6, 16, 16, 4, 1, // 20..=29: icmpv4_code .. icmpv6_type
    1, 16, 6, 6, 4, 1, 1, 3, 8, 2, // 30..=39: icmpv6_code .. ipv6_exthdr
];

/// Bit `n` set ⇔ basic field `n` may carry a mask (spec Table 12).
const BASIC_MASKABLE: u64 = {
    use field as f;
    let fields = [
        f::METADATA,
        f::ETH_DST,
        f::ETH_SRC,
        f::VLAN_VID,
        f::IPV4_SRC,
        f::IPV4_DST,
        f::ARP_SPA,
        f::ARP_TPA,
        f::ARP_SHA,
        f::ARP_THA,
        f::IPV6_SRC,
        f::IPV6_DST,
        f::IPV6_FLABEL,
        f::PBB_ISID,
        f::TUNNEL_ID,
        f::IPV6_EXTHDR,
    ];
    let mut bits = 0u64;
    let mut i = 0;
    while i < fields.len() {
        bits |= 1 << fields[i];
        i += 1;
    }
    bits
};

/// The value size in bytes of basic field `field` (without a mask), or `None`
/// for a field number OpenFlow 1.3.5 does not define (> 39).
pub const fn basic_value_len(field: u8) -> Option<usize> {
    if field < field::COUNT {
        Some(BASIC_LEN[field as usize] as usize)
    } else {
        None
    }
}

/// Whether basic field `field` may carry a mask (`false` for undefined numbers).
pub const fn basic_maskable(field: u8) -> bool {
    field < field::COUNT && BASIC_MASKABLE & (1 << field) != 0
}

/// The OXM header of a basic field with the given mask flag.
const fn basic_header(field: u8, has_mask: bool) -> u32 {
    let len = match basic_value_len(field) {
        Some(n) => n,
        None => 0,
    };
    let len = if has_mask { 2 * len } else { len };
    make_header(OFPXMC_OPENFLOW_BASIC, field, has_mask, len as u8)
}

/// Packs the four header parts into the 32-bit OXM header.
const fn make_header(class: u16, field: u8, has_mask: bool, length: u8) -> u32 {
    ((class as u32) << 16)
        | (((field & 0x7f) as u32) << 9)
        | ((has_mask as u32) << 8)
        | length as u32
}

/// One OXM TLV. Basic fields are typed; maskable fields carry `Option` masks
/// (`Some` ⇔ `hasmask` on the wire). Values are kept exactly as received (no
/// canonicalisation of value bits outside the mask), so they round-trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Oxm {
    /// OFPXMT_OFB_IN_PORT (0)
    InPort(u32),
    /// OFPXMT_OFB_IN_PHY_PORT (1)
    InPhyPort(u32),
    /// OFPXMT_OFB_METADATA (2), maskable
    Metadata {
        /// Value.
        value: u64,
        /// Mask (bits set = compared).
        mask: Option<u64>,
    },
    /// OFPXMT_OFB_ETH_DST (3), maskable
    EthDst {
        /// Value.
        value: [u8; 6],
        /// Mask (bits set = compared).
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ETH_SRC (4), maskable
    EthSrc {
        /// Value.
        value: [u8; 6],
        /// Mask (bits set = compared).
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ETH_TYPE (5)
    EthType(u16),
    /// OFPXMT_OFB_VLAN_VID (6), maskable; includes the OFPVID_PRESENT bit 0x1000
    VlanVid {
        /// Value: VLAN id (12 bits) | [`OFPVID_PRESENT`], or [`OFPVID_NONE`].
        value: u16,
        /// Mask (bits set = compared).
        mask: Option<u16>,
    },
    /// OFPXMT_OFB_VLAN_PCP (7)
    VlanPcp(u8),
    /// OFPXMT_OFB_IP_DSCP (8)
    IpDscp(u8),
    /// OFPXMT_OFB_IP_ECN (9)
    IpEcn(u8),
    /// OFPXMT_OFB_IP_PROTO (10)
    IpProto(u8),
    /// OFPXMT_OFB_IPV4_SRC (11), maskable
    Ipv4Src {
        /// Value.
        value: Ipv4Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_IPV4_DST (12), maskable
    Ipv4Dst {
        /// Value.
        value: Ipv4Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_TCP_SRC (13)
    TcpSrc(u16),
    /// OFPXMT_OFB_TCP_DST (14)
    TcpDst(u16),
    /// OFPXMT_OFB_UDP_SRC (15)
    UdpSrc(u16),
    /// OFPXMT_OFB_UDP_DST (16)
    UdpDst(u16),
    /// OFPXMT_OFB_SCTP_SRC (17)
    SctpSrc(u16),
    /// OFPXMT_OFB_SCTP_DST (18)
    SctpDst(u16),
    /// OFPXMT_OFB_ICMPV4_TYPE (19)
    Icmpv4Type(u8),
    /// OFPXMT_OFB_ICMPV4_CODE (20)
    Icmpv4Code(u8),
    /// OFPXMT_OFB_ARP_OP (21)
    ArpOp(u16),
    /// OFPXMT_OFB_ARP_SPA (22), maskable
    ArpSpa {
        /// Value.
        value: Ipv4Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_ARP_TPA (23), maskable
    ArpTpa {
        /// Value.
        value: Ipv4Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_ARP_SHA (24), maskable
    ArpSha {
        /// Value.
        value: [u8; 6],
        /// Mask (bits set = compared).
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ARP_THA (25), maskable
    ArpTha {
        /// Value.
        value: [u8; 6],
        /// Mask (bits set = compared).
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_IPV6_SRC (26), maskable
    Ipv6Src {
        /// Value.
        value: Ipv6Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv6Addr>,
    },
    /// OFPXMT_OFB_IPV6_DST (27), maskable
    Ipv6Dst {
        /// Value.
        value: Ipv6Addr,
        /// Mask (bits set = compared).
        mask: Option<Ipv6Addr>,
    },
    /// OFPXMT_OFB_IPV6_FLABEL (28), maskable
    Ipv6Flabel {
        /// Value (20 bits meaningful).
        value: u32,
        /// Mask (bits set = compared).
        mask: Option<u32>,
    },
    /// OFPXMT_OFB_ICMPV6_TYPE (29)
    Icmpv6Type(u8),
    /// OFPXMT_OFB_ICMPV6_CODE (30)
    Icmpv6Code(u8),
    /// OFPXMT_OFB_IPV6_ND_TARGET (31)
    Ipv6NdTarget(Ipv6Addr),
    /// OFPXMT_OFB_IPV6_ND_SLL (32)
    Ipv6NdSll([u8; 6]),
    /// OFPXMT_OFB_IPV6_ND_TLL (33)
    Ipv6NdTll([u8; 6]),
    /// OFPXMT_OFB_MPLS_LABEL (34)
    MplsLabel(u32),
    /// OFPXMT_OFB_MPLS_TC (35)
    MplsTc(u8),
    /// OFPXMT_OFB_MPLS_BOS (36)
    MplsBos(u8),
    /// OFPXMT_OFB_PBB_ISID (37), maskable; 24 bits on the wire (3 bytes)
    PbbIsid {
        /// Value; only the low 24 bits are sent.
        value: u32,
        /// Mask; only the low 24 bits are sent.
        mask: Option<u32>,
    },
    /// OFPXMT_OFB_TUNNEL_ID (38), maskable
    TunnelId {
        /// Value.
        value: u64,
        /// Mask (bits set = compared).
        mask: Option<u64>,
    },
    /// OFPXMT_OFB_IPV6_EXTHDR (39), maskable
    Ipv6Exthdr {
        /// Value: `ofp_ipv6exthdr_flags` bits (9 bits meaningful).
        value: u16,
        /// Mask (bits set = compared).
        mask: Option<u16>,
    },
    /// Class OFPXMC_EXPERIMENTER (0xffff): `experimenter` id, then `payload`
    /// (value, followed by the mask when `has_mask`), kept verbatim.
    ///
    /// `oxm_length` on the wire is `4 + payload.len()`; a payload longer than
    /// 251 bytes cannot be encoded and is cut to 251 bytes when emitted.
    Experimenter {
        /// oxm_field (7 bits; higher bits are not sent).
        field: u8,
        /// oxm_hasmask.
        has_mask: bool,
        /// Experimenter id (the first 4 bytes after the header).
        experimenter: u32,
        /// The bytes after the experimenter id.
        payload: Vec<u8>,
    },
    /// Any other class, or an OPENFLOW_BASIC field number above 39: kept verbatim.
    ///
    /// `oxm_length` on the wire is `payload.len()`; a payload longer than 255
    /// bytes cannot be encoded and is cut to 255 bytes when emitted.
    Unknown {
        /// oxm_class.
        class: u16,
        /// oxm_field (7 bits; higher bits are not sent).
        field: u8,
        /// oxm_hasmask.
        has_mask: bool,
        /// The `oxm_length` bytes after the header.
        payload: Vec<u8>,
    },
}

/// `ofp_match` of type OFPMT_OXM: the OXM TLVs in wire order. On the wire the
/// structure is padded to a multiple of 8 bytes; `length` excludes the padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// The fields, in the order they appear on the wire.
    pub fields: Vec<Oxm>,
}

/// An OXM header without a value, as listed in TABLE_FEATURES properties
/// (4 bytes, or 8 with the experimenter id for class 0xffff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OxmId {
    /// oxm_class
    pub class: u16,
    /// oxm_field (7 bits)
    pub field: u8,
    /// oxm_hasmask
    pub has_mask: bool,
    /// oxm_length as sent
    pub length: u8,
    /// Experimenter id, present exactly when `class == 0xffff`.
    pub experimenter: Option<u32>,
}

/// Copies the first `N` bytes of `s`. Callers have checked the length; the
/// zero fallback only keeps the function total.
#[inline]
fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    match s.first_chunk::<N>() {
        Some(a) => *a,
        None => [0; N],
    }
}

#[inline]
fn be16(s: &[u8]) -> u16 {
    u16::from_be_bytes(arr(s))
}

#[inline]
fn be24(s: &[u8]) -> u32 {
    let [a, b, c] = arr::<3>(s);
    u32::from_be_bytes([0, a, b, c])
}

#[inline]
fn be32(s: &[u8]) -> u32 {
    u32::from_be_bytes(arr(s))
}

#[inline]
fn be64(s: &[u8]) -> u64 {
    u64::from_be_bytes(arr(s))
}

#[inline]
fn ipv4(s: &[u8]) -> Ipv4Addr {
    Ipv4Addr::from(arr::<4>(s))
}

#[inline]
fn ipv6(s: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(arr::<16>(s))
}

#[inline]
fn put_u24<B: BufMut>(out: &mut B, v: u32) {
    let [_, a, b, c] = v.to_be_bytes();
    out.put_slice(&[a, b, c]);
}

/// The part of an OXM identity duplicates are detected on.
type FieldKey = (u16, u8, Option<u32>);

impl Oxm {
    /// `oxm_class`.
    pub const fn class(&self) -> u16 {
        match self {
            Self::Experimenter { .. } => OFPXMC_EXPERIMENTER,
            Self::Unknown { class, .. } => *class,
            _ => OFPXMC_OPENFLOW_BASIC,
        }
    }

    /// `oxm_field` (7 bits), as sent on the wire.
    pub const fn field(&self) -> u8 {
        use field as f;
        match self {
            Self::InPort(_) => f::IN_PORT,
            Self::InPhyPort(_) => f::IN_PHY_PORT,
            Self::Metadata { .. } => f::METADATA,
            Self::EthDst { .. } => f::ETH_DST,
            Self::EthSrc { .. } => f::ETH_SRC,
            Self::EthType(_) => f::ETH_TYPE,
            Self::VlanVid { .. } => f::VLAN_VID,
            Self::VlanPcp(_) => f::VLAN_PCP,
            Self::IpDscp(_) => f::IP_DSCP,
            Self::IpEcn(_) => f::IP_ECN,
            Self::IpProto(_) => f::IP_PROTO,
            Self::Ipv4Src { .. } => f::IPV4_SRC,
            Self::Ipv4Dst { .. } => f::IPV4_DST,
            Self::TcpSrc(_) => f::TCP_SRC,
            Self::TcpDst(_) => f::TCP_DST,
            Self::UdpSrc(_) => f::UDP_SRC,
            Self::UdpDst(_) => f::UDP_DST,
            Self::SctpSrc(_) => f::SCTP_SRC,
            Self::SctpDst(_) => f::SCTP_DST,
            Self::Icmpv4Type(_) => f::ICMPV4_TYPE,
            Self::Icmpv4Code(_) => f::ICMPV4_CODE,
            Self::ArpOp(_) => f::ARP_OP,
            Self::ArpSpa { .. } => f::ARP_SPA,
            Self::ArpTpa { .. } => f::ARP_TPA,
            Self::ArpSha { .. } => f::ARP_SHA,
            Self::ArpTha { .. } => f::ARP_THA,
            Self::Ipv6Src { .. } => f::IPV6_SRC,
            Self::Ipv6Dst { .. } => f::IPV6_DST,
            Self::Ipv6Flabel { .. } => f::IPV6_FLABEL,
            Self::Icmpv6Type(_) => f::ICMPV6_TYPE,
            Self::Icmpv6Code(_) => f::ICMPV6_CODE,
            Self::Ipv6NdTarget(_) => f::IPV6_ND_TARGET,
            Self::Ipv6NdSll(_) => f::IPV6_ND_SLL,
            Self::Ipv6NdTll(_) => f::IPV6_ND_TLL,
            Self::MplsLabel(_) => f::MPLS_LABEL,
            Self::MplsTc(_) => f::MPLS_TC,
            Self::MplsBos(_) => f::MPLS_BOS,
            Self::PbbIsid { .. } => f::PBB_ISID,
            Self::TunnelId { .. } => f::TUNNEL_ID,
            Self::Ipv6Exthdr { .. } => f::IPV6_EXTHDR,
            Self::Experimenter { field, .. } | Self::Unknown { field, .. } => *field & 0x7f,
        }
    }

    /// `oxm_hasmask`.
    pub const fn has_mask(&self) -> bool {
        match self {
            Self::Metadata { mask, .. } | Self::TunnelId { mask, .. } => mask.is_some(),
            Self::EthDst { mask, .. }
            | Self::EthSrc { mask, .. }
            | Self::ArpSha { mask, .. }
            | Self::ArpTha { mask, .. } => mask.is_some(),
            Self::VlanVid { mask, .. } | Self::Ipv6Exthdr { mask, .. } => mask.is_some(),
            Self::Ipv4Src { mask, .. }
            | Self::Ipv4Dst { mask, .. }
            | Self::ArpSpa { mask, .. }
            | Self::ArpTpa { mask, .. } => mask.is_some(),
            Self::Ipv6Src { mask, .. } | Self::Ipv6Dst { mask, .. } => mask.is_some(),
            Self::Ipv6Flabel { mask, .. } | Self::PbbIsid { mask, .. } => mask.is_some(),
            Self::Experimenter { has_mask, .. } | Self::Unknown { has_mask, .. } => *has_mask,
            _ => false,
        }
    }

    /// `true` for the typed OPENFLOW_BASIC fields (not `Unknown`, even with
    /// class 0x8000, and not `Experimenter`).
    pub const fn is_basic(&self) -> bool {
        !matches!(self, Self::Experimenter { .. } | Self::Unknown { .. })
    }

    /// The experimenter id of an experimenter field.
    pub const fn experimenter(&self) -> Option<u32> {
        match self {
            Self::Experimenter { experimenter, .. } => Some(*experimenter),
            _ => None,
        }
    }

    /// `oxm_length`: the bytes after the 4-byte header (value and mask; for
    /// experimenter fields also the 4-byte experimenter id).
    pub fn oxm_length(&self) -> u8 {
        // One dispatch on the variant (this runs for every TLV emitted); the
        // sizes are Table 12's, cross-checked against `BASIC_LEN` in tests.
        const fn sized(has_mask: bool, size: u8) -> u8 {
            if has_mask { 2 * size } else { size }
        }
        match self {
            Self::VlanPcp(_)
            | Self::IpDscp(_)
            | Self::IpEcn(_)
            | Self::IpProto(_)
            | Self::Icmpv4Type(_)
            | Self::Icmpv4Code(_)
            | Self::Icmpv6Type(_)
            | Self::Icmpv6Code(_)
            | Self::MplsTc(_)
            | Self::MplsBos(_) => 1,
            Self::EthType(_)
            | Self::TcpSrc(_)
            | Self::TcpDst(_)
            | Self::UdpSrc(_)
            | Self::UdpDst(_)
            | Self::SctpSrc(_)
            | Self::SctpDst(_)
            | Self::ArpOp(_) => 2,
            Self::InPort(_) | Self::InPhyPort(_) | Self::MplsLabel(_) => 4,
            Self::Ipv6NdSll(_) | Self::Ipv6NdTll(_) => 6,
            Self::Ipv6NdTarget(_) => 16,
            Self::Metadata { mask, .. } | Self::TunnelId { mask, .. } => sized(mask.is_some(), 8),
            Self::EthDst { mask, .. }
            | Self::EthSrc { mask, .. }
            | Self::ArpSha { mask, .. }
            | Self::ArpTha { mask, .. } => sized(mask.is_some(), 6),
            Self::VlanVid { mask, .. } | Self::Ipv6Exthdr { mask, .. } => sized(mask.is_some(), 2),
            Self::Ipv4Src { mask, .. }
            | Self::Ipv4Dst { mask, .. }
            | Self::ArpSpa { mask, .. }
            | Self::ArpTpa { mask, .. } => sized(mask.is_some(), 4),
            Self::Ipv6Src { mask, .. } | Self::Ipv6Dst { mask, .. } => sized(mask.is_some(), 16),
            Self::Ipv6Flabel { mask, .. } => sized(mask.is_some(), 4),
            Self::PbbIsid { mask, .. } => sized(mask.is_some(), 3),
            Self::Experimenter { payload, .. } => (4 + payload.len()).min(255) as u8,
            Self::Unknown { payload, .. } => payload.len().min(255) as u8,
        }
    }

    /// The size of the value alone, without the mask (for experimenter fields:
    /// without the experimenter id). For `Unknown`/`Experimenter` fields with
    /// `has_mask`, half of the payload.
    pub fn value_len(&self) -> usize {
        let n = match self {
            Self::Experimenter { .. } => usize::from(self.oxm_length()) - 4,
            _ => usize::from(self.oxm_length()),
        };
        if self.has_mask() { n / 2 } else { n }
    }

    /// The 32-bit OXM header as sent: `class << 16 | field << 9 | hasmask << 8 | length`.
    pub fn header(&self) -> u32 {
        make_header(
            self.class(),
            self.field(),
            self.has_mask(),
            self.oxm_length(),
        )
    }

    /// The identity duplicates are detected on: class, field and, for
    /// experimenter fields, the experimenter id.
    fn key(&self) -> FieldKey {
        (self.class(), self.field(), self.experimenter())
    }

    /// Whether the value lies in the field's range (spec Table 12 widths):
    /// VLAN_VID ≤ 0x1fff (12-bit id plus OFPVID_PRESENT), VLAN_PCP ≤ 7,
    /// IP_DSCP ≤ 63, IP_ECN ≤ 3, IPV6_FLABEL and MPLS_LABEL ≤ 0xfffff,
    /// MPLS_TC ≤ 7, MPLS_BOS ≤ 1, PBB_ISID ≤ 0xffffff, IPV6_EXTHDR ≤ 0x1ff.
    /// Every other field (and every mask) is always in range; experimenter and
    /// unknown fields are not judged (`true`).
    pub const fn value_in_range(&self) -> bool {
        match *self {
            Self::VlanVid { value, .. } => value <= 0x1fff,
            Self::VlanPcp(v) | Self::MplsTc(v) => v <= 7,
            Self::IpDscp(v) => v <= 63,
            Self::IpEcn(v) => v <= 3,
            Self::Ipv6Flabel { value, .. } => value <= 0xf_ffff,
            Self::MplsLabel(v) => v <= 0xf_ffff,
            Self::MplsBos(v) => v <= 1,
            Self::PbbIsid { value, .. } => value <= 0xff_ffff,
            Self::Ipv6Exthdr { value, .. } => value <= 0x1ff,
            _ => true,
        }
    }
}

/// The error for a basic TLV whose mask flag or length does not fit its
/// field. Kept out of line: the hot path only tests the condition.
#[cold]
#[inline(never)]
fn basic_error(num: u8, has_mask: bool, len: usize, tlv: &[u8]) -> nom::Err<ParseError> {
    let e = if has_mask && !basic_maskable(num) {
        ParseError::invalid(
            Element::Oxm,
            tlv,
            ErrorCode::BadMatch(BadMatchCode::BadMask),
            "hasmask set on a field that cannot be masked",
        )
    } else {
        let size = basic_value_len(num).unwrap_or(0);
        ParseError::bad_length(
            Element::Oxm,
            tlv,
            len,
            if has_mask { 2 * size } else { size },
            "differs from the field's fixed size",
        )
    };
    nom::Err::Error(e)
}

/// Decodes the value of basic field number `num` (≤ 39) from `payload`,
/// which the caller has checked is exactly the field's size, or twice it
/// when `has_mask` (value ‖ mask).
fn decode_basic(num: u8, has_mask: bool, payload: &[u8]) -> Oxm {
    use self::field as f;
    let size = match basic_value_len(num) {
        Some(n) => n,
        None => payload.len(),
    };
    let v = payload;
    // With hasmask the payload is exactly value ‖ mask, each `size` bytes.
    let m = if has_mask { payload.get(size..) } else { None };
    match num {
        f::IN_PORT => Oxm::InPort(be32(v)),
        f::IN_PHY_PORT => Oxm::InPhyPort(be32(v)),
        f::METADATA => Oxm::Metadata {
            value: be64(v),
            mask: m.map(be64),
        },
        f::ETH_DST => Oxm::EthDst {
            value: arr(v),
            mask: m.map(arr),
        },
        f::ETH_SRC => Oxm::EthSrc {
            value: arr(v),
            mask: m.map(arr),
        },
        f::ETH_TYPE => Oxm::EthType(be16(v)),
        f::VLAN_VID => Oxm::VlanVid {
            value: be16(v),
            mask: m.map(be16),
        },
        f::VLAN_PCP => Oxm::VlanPcp(arr::<1>(v)[0]),
        f::IP_DSCP => Oxm::IpDscp(arr::<1>(v)[0]),
        f::IP_ECN => Oxm::IpEcn(arr::<1>(v)[0]),
        f::IP_PROTO => Oxm::IpProto(arr::<1>(v)[0]),
        f::IPV4_SRC => Oxm::Ipv4Src {
            value: ipv4(v),
            mask: m.map(ipv4),
        },
        f::IPV4_DST => Oxm::Ipv4Dst {
            value: ipv4(v),
            mask: m.map(ipv4),
        },
        f::TCP_SRC => Oxm::TcpSrc(be16(v)),
        f::TCP_DST => Oxm::TcpDst(be16(v)),
        f::UDP_SRC => Oxm::UdpSrc(be16(v)),
        f::UDP_DST => Oxm::UdpDst(be16(v)),
        f::SCTP_SRC => Oxm::SctpSrc(be16(v)),
        f::SCTP_DST => Oxm::SctpDst(be16(v)),
        f::ICMPV4_TYPE => Oxm::Icmpv4Type(arr::<1>(v)[0]),
        f::ICMPV4_CODE => Oxm::Icmpv4Code(arr::<1>(v)[0]),
        f::ARP_OP => Oxm::ArpOp(be16(v)),
        f::ARP_SPA => Oxm::ArpSpa {
            value: ipv4(v),
            mask: m.map(ipv4),
        },
        f::ARP_TPA => Oxm::ArpTpa {
            value: ipv4(v),
            mask: m.map(ipv4),
        },
        f::ARP_SHA => Oxm::ArpSha {
            value: arr(v),
            mask: m.map(arr),
        },
        f::ARP_THA => Oxm::ArpTha {
            value: arr(v),
            mask: m.map(arr),
        },
        f::IPV6_SRC => Oxm::Ipv6Src {
            value: ipv6(v),
            mask: m.map(ipv6),
        },
        f::IPV6_DST => Oxm::Ipv6Dst {
            value: ipv6(v),
            mask: m.map(ipv6),
        },
        f::IPV6_FLABEL => Oxm::Ipv6Flabel {
            value: be32(v),
            mask: m.map(be32),
        },
        f::ICMPV6_TYPE => Oxm::Icmpv6Type(arr::<1>(v)[0]),
        f::ICMPV6_CODE => Oxm::Icmpv6Code(arr::<1>(v)[0]),
        f::IPV6_ND_TARGET => Oxm::Ipv6NdTarget(ipv6(v)),
        f::IPV6_ND_SLL => Oxm::Ipv6NdSll(arr(v)),
        f::IPV6_ND_TLL => Oxm::Ipv6NdTll(arr(v)),
        f::MPLS_LABEL => Oxm::MplsLabel(be32(v)),
        f::MPLS_TC => Oxm::MplsTc(arr::<1>(v)[0]),
        f::MPLS_BOS => Oxm::MplsBos(arr::<1>(v)[0]),
        f::PBB_ISID => Oxm::PbbIsid {
            value: be24(v),
            mask: m.map(be24),
        },
        f::TUNNEL_ID => Oxm::TunnelId {
            value: be64(v),
            mask: m.map(be64),
        },
        f::IPV6_EXTHDR => Oxm::Ipv6Exthdr {
            value: be16(v),
            mask: m.map(be16),
        },
        // Callers pass numbers ≤ 39, all matched above; this arm only exists
        // because `u8` is wider.
        _ => Oxm::Unknown {
            class: OFPXMC_OPENFLOW_BASIC,
            field: num,
            has_mask,
            payload: payload.to_vec(),
        },
    }
}

/// Writes an unmasked basic TLV: header, then the value with `put`.
#[inline(always)]
fn plain<B: BufMut, T>(out: &mut B, num: u8, value: T, put: fn(&mut B, T)) {
    out.put_u32(basic_header(num, false));
    put(out, value);
}

/// Writes a maskable basic TLV: header, value, and the mask when present.
#[inline(always)]
fn masked<B: BufMut, T>(out: &mut B, num: u8, value: T, mask: Option<T>, put: fn(&mut B, T)) {
    out.put_u32(basic_header(num, mask.is_some()));
    put(out, value);
    if let Some(m) = mask {
        put(out, m);
    }
}

#[inline]
fn put_arr<B: BufMut, const N: usize>(out: &mut B, v: [u8; N]) {
    out.put_slice(&v);
}

#[inline]
fn put_v4<B: BufMut>(out: &mut B, v: Ipv4Addr) {
    out.put_slice(&v.octets());
}

#[inline]
fn put_v6<B: BufMut>(out: &mut B, v: Ipv6Addr) {
    out.put_slice(&v.octets());
}

impl Wire for Oxm {
    /// Errors: fewer than 4 bytes, or fewer than `4 + oxm_length` →
    /// `Truncated { element: Oxm }`; basic field with `hasmask` that is not
    /// maskable → `Invalid` with `BAD_MATCH/BAD_MASK`; basic field whose
    /// `oxm_length` differs from its size (doubled with a mask), or an
    /// experimenter field shorter than its 4-byte id → `BadLength { element: Oxm }`
    /// (`BAD_MATCH/BAD_LEN`).
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let Some(hdr) = input.first_chunk::<4>() else {
            return fail(ParseError::truncated(Element::Oxm, input, 4));
        };
        let header = u32::from_be_bytes(*hdr);
        let class = (header >> 16) as u16;
        let field = ((header >> 9) & 0x7f) as u8;
        let has_mask = header & 0x100 != 0;
        let len = (header & 0xff) as usize;
        let total = 4 + len;
        let Some((tlv, rest)) = input.split_at_checked(total) else {
            return fail(ParseError::truncated(Element::Oxm, input, total));
        };
        let payload = tlv.get(4..).unwrap_or_default();
        let oxm = match class {
            OFPXMC_OPENFLOW_BASIC if field < field::COUNT => {
                let size = usize::from(BASIC_LEN[usize::from(field)]);
                let ok = if has_mask {
                    BASIC_MASKABLE & (1 << field) != 0 && len == 2 * size
                } else {
                    len == size
                };
                if !ok {
                    return Err(basic_error(field, has_mask, len, input));
                }
                decode_basic(field, has_mask, payload)
            }
            OFPXMC_EXPERIMENTER => {
                let Some((id, payload)) = payload.split_first_chunk::<4>() else {
                    return fail(ParseError::bad_length(
                        Element::Oxm,
                        input,
                        len,
                        4,
                        "experimenter field shorter than its experimenter id",
                    ));
                };
                Oxm::Experimenter {
                    field,
                    has_mask,
                    experimenter: u32::from_be_bytes(*id),
                    payload: payload.to_vec(),
                }
            }
            _ => Oxm::Unknown {
                class,
                field,
                has_mask,
                payload: payload.to_vec(),
            },
        };
        Ok((rest, oxm))
    }

    fn wire_len(&self) -> usize {
        4 + usize::from(self.oxm_length())
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        use self::field as f;
        // Each arm names its field, so the header is a constant (or one of two)
        // and emitting needs a single dispatch on the variant.
        match *self {
            Self::InPort(v) => plain(out, f::IN_PORT, v, B::put_u32),
            Self::InPhyPort(v) => plain(out, f::IN_PHY_PORT, v, B::put_u32),
            Self::Metadata { value, mask } => masked(out, f::METADATA, value, mask, B::put_u64),
            Self::EthDst { value, mask } => masked(out, f::ETH_DST, value, mask, put_arr),
            Self::EthSrc { value, mask } => masked(out, f::ETH_SRC, value, mask, put_arr),
            Self::EthType(v) => plain(out, f::ETH_TYPE, v, B::put_u16),
            Self::VlanVid { value, mask } => masked(out, f::VLAN_VID, value, mask, B::put_u16),
            Self::VlanPcp(v) => plain(out, f::VLAN_PCP, v, B::put_u8),
            Self::IpDscp(v) => plain(out, f::IP_DSCP, v, B::put_u8),
            Self::IpEcn(v) => plain(out, f::IP_ECN, v, B::put_u8),
            Self::IpProto(v) => plain(out, f::IP_PROTO, v, B::put_u8),
            Self::Ipv4Src { value, mask } => masked(out, f::IPV4_SRC, value, mask, put_v4),
            Self::Ipv4Dst { value, mask } => masked(out, f::IPV4_DST, value, mask, put_v4),
            Self::TcpSrc(v) => plain(out, f::TCP_SRC, v, B::put_u16),
            Self::TcpDst(v) => plain(out, f::TCP_DST, v, B::put_u16),
            Self::UdpSrc(v) => plain(out, f::UDP_SRC, v, B::put_u16),
            Self::UdpDst(v) => plain(out, f::UDP_DST, v, B::put_u16),
            Self::SctpSrc(v) => plain(out, f::SCTP_SRC, v, B::put_u16),
            Self::SctpDst(v) => plain(out, f::SCTP_DST, v, B::put_u16),
            Self::Icmpv4Type(v) => plain(out, f::ICMPV4_TYPE, v, B::put_u8),
            Self::Icmpv4Code(v) => plain(out, f::ICMPV4_CODE, v, B::put_u8),
            Self::ArpOp(v) => plain(out, f::ARP_OP, v, B::put_u16),
            Self::ArpSpa { value, mask } => masked(out, f::ARP_SPA, value, mask, put_v4),
            Self::ArpTpa { value, mask } => masked(out, f::ARP_TPA, value, mask, put_v4),
            Self::ArpSha { value, mask } => masked(out, f::ARP_SHA, value, mask, put_arr),
            Self::ArpTha { value, mask } => masked(out, f::ARP_THA, value, mask, put_arr),
            Self::Ipv6Src { value, mask } => masked(out, f::IPV6_SRC, value, mask, put_v6),
            Self::Ipv6Dst { value, mask } => masked(out, f::IPV6_DST, value, mask, put_v6),
            Self::Ipv6Flabel { value, mask } => {
                masked(out, f::IPV6_FLABEL, value, mask, B::put_u32);
            }
            Self::Icmpv6Type(v) => plain(out, f::ICMPV6_TYPE, v, B::put_u8),
            Self::Icmpv6Code(v) => plain(out, f::ICMPV6_CODE, v, B::put_u8),
            Self::Ipv6NdTarget(v) => plain(out, f::IPV6_ND_TARGET, v, put_v6),
            Self::Ipv6NdSll(v) => plain(out, f::IPV6_ND_SLL, v, put_arr),
            Self::Ipv6NdTll(v) => plain(out, f::IPV6_ND_TLL, v, put_arr),
            Self::MplsLabel(v) => plain(out, f::MPLS_LABEL, v, B::put_u32),
            Self::MplsTc(v) => plain(out, f::MPLS_TC, v, B::put_u8),
            Self::MplsBos(v) => plain(out, f::MPLS_BOS, v, B::put_u8),
            Self::PbbIsid { value, mask } => masked(out, f::PBB_ISID, value, mask, put_u24),
            Self::TunnelId { value, mask } => masked(out, f::TUNNEL_ID, value, mask, B::put_u64),
            Self::Ipv6Exthdr { value, mask } => {
                masked(out, f::IPV6_EXTHDR, value, mask, B::put_u16);
            }
            Self::Experimenter {
                experimenter,
                ref payload,
                ..
            } => {
                out.put_u32(self.header());
                out.put_u32(experimenter);
                let n = usize::from(self.oxm_length()) - 4;
                out.put_slice(payload.get(..n).unwrap_or(payload));
            }
            Self::Unknown { ref payload, .. } => {
                out.put_u32(self.header());
                let n = usize::from(self.oxm_length());
                out.put_slice(payload.get(..n).unwrap_or(payload));
            }
        }
    }
}

impl Match {
    /// An empty match (matches every packet).
    pub const fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// The first typed basic field with number `field` (see [`field`]).
    pub fn basic(&self, field: u8) -> Option<&Oxm> {
        self.fields
            .iter()
            .find(|o| o.is_basic() && o.field() == field)
    }

    /// ETH_TYPE's value, when matched.
    pub fn eth_type(&self) -> Option<u16> {
        self.fields.iter().find_map(|o| match o {
            Oxm::EthType(t) => Some(*t),
            _ => None,
        })
    }

    /// IP_PROTO's value, when matched.
    pub fn ip_proto(&self) -> Option<u8> {
        self.fields.iter().find_map(|o| match o {
            Oxm::IpProto(p) => Some(*p),
            _ => None,
        })
    }

    fn icmpv6_type(&self) -> Option<u8> {
        self.fields.iter().find_map(|o| match o {
            Oxm::Icmpv6Type(t) => Some(*t),
            _ => None,
        })
    }

    /// Whether this match satisfies the prerequisites of `oxm` (OpenFlow 1.3.5
    /// §7.2.3.8, Table 12), transitively: e.g. TCP_SRC needs IP_PROTO = 6
    /// *and* IP_PROTO's own prerequisite, ETH_TYPE = 0x0800 or 0x86dd.
    ///
    /// | field | requires |
    /// |---|---|
    /// | IN_PHY_PORT | IN_PORT present |
    /// | VLAN_PCP | VLAN_VID matching only tagged packets: value has OFPVID_PRESENT and the mask (if any) keeps that bit |
    /// | IP_DSCP, IP_ECN, IP_PROTO | ETH_TYPE 0x0800 or 0x86dd |
    /// | IPV4_SRC/DST | ETH_TYPE 0x0800 |
    /// | TCP_* / UDP_* / SCTP_* / ICMPV4_* | IP_PROTO 6 / 17 / 132 / 1 (+ its prerequisite) |
    /// | ARP_* | ETH_TYPE 0x0806 |
    /// | IPV6_SRC/DST, IPV6_FLABEL, IPV6_EXTHDR | ETH_TYPE 0x86dd |
    /// | ICMPV6_* | IP_PROTO 58 (+ its prerequisite) |
    /// | IPV6_ND_TARGET | ICMPV6_TYPE 135 or 136 (+ its prerequisite) |
    /// | IPV6_ND_SLL / IPV6_ND_TLL | ICMPV6_TYPE 135 / 136 (+ its prerequisite) |
    /// | MPLS_* | ETH_TYPE 0x8847 or 0x8848 |
    /// | PBB_ISID | ETH_TYPE 0x88e7 |
    ///
    /// The prerequisite may appear anywhere in the match (controllers that
    /// sort by field number put it first anyway; the spec's ordering rule is
    /// not enforced). Fields without a prerequisite, experimenter and unknown
    /// fields return `true`.
    pub fn prereq_ok(&self, oxm: &Oxm) -> bool {
        const IPV4: u16 = 0x0800;
        const IPV6: u16 = 0x86dd;
        let eth = self.eth_type();
        let ip = matches!(eth, Some(IPV4 | IPV6));
        let proto = |p: u8| ip && self.ip_proto() == Some(p);
        let icmp6 = |t: &[u8]| proto(58) && self.icmpv6_type().is_some_and(|x| t.contains(&x));
        match oxm {
            Oxm::InPhyPort(_) => self.basic(field::IN_PORT).is_some(),
            Oxm::VlanPcp(_) => self.fields.iter().any(|o| match *o {
                Oxm::VlanVid { value, mask } => {
                    value & OFPVID_PRESENT != 0 && mask.is_none_or(|m| m & OFPVID_PRESENT != 0)
                }
                _ => false,
            }),
            Oxm::IpDscp(_) | Oxm::IpEcn(_) | Oxm::IpProto(_) => ip,
            Oxm::Ipv4Src { .. } | Oxm::Ipv4Dst { .. } => eth == Some(IPV4),
            Oxm::TcpSrc(_) | Oxm::TcpDst(_) => proto(6),
            Oxm::UdpSrc(_) | Oxm::UdpDst(_) => proto(17),
            Oxm::SctpSrc(_) | Oxm::SctpDst(_) => proto(132),
            Oxm::Icmpv4Type(_) | Oxm::Icmpv4Code(_) => proto(1),
            Oxm::ArpOp(_)
            | Oxm::ArpSpa { .. }
            | Oxm::ArpTpa { .. }
            | Oxm::ArpSha { .. }
            | Oxm::ArpTha { .. } => eth == Some(0x0806),
            Oxm::Ipv6Src { .. }
            | Oxm::Ipv6Dst { .. }
            | Oxm::Ipv6Flabel { .. }
            | Oxm::Ipv6Exthdr { .. } => eth == Some(IPV6),
            Oxm::Icmpv6Type(_) | Oxm::Icmpv6Code(_) => proto(58),
            Oxm::Ipv6NdTarget(_) => icmp6(&[135, 136]),
            Oxm::Ipv6NdSll(_) => icmp6(&[135]),
            Oxm::Ipv6NdTll(_) => icmp6(&[136]),
            Oxm::MplsLabel(_) | Oxm::MplsTc(_) | Oxm::MplsBos(_) => {
                matches!(eth, Some(0x8847 | 0x8848))
            }
            Oxm::PbbIsid { .. } => eth == Some(0x88e7),
            _ => true,
        }
    }

    /// The protocol-level checks a switch makes on a match, in this order:
    ///
    /// 1. for each field in wire order:
    ///    - an [`Oxm::Unknown`] field (unknown class, or basic field > 39)
    ///      → `BAD_MATCH/BAD_FIELD`;
    ///    - the same field seen earlier (same class and field number, and for
    ///      experimenter fields the same experimenter id; masks do not matter)
    ///      → `BAD_MATCH/DUP_FIELD`;
    ///    - a value outside the field's range ([`Oxm::value_in_range`])
    ///      → `BAD_MATCH/BAD_VALUE`;
    /// 2. then for each field, its prerequisites ([`Match::prereq_ok`])
    ///    → `BAD_MATCH/BAD_PREREQ`.
    ///
    /// Experimenter fields pass (their owner validates them). Whether the
    /// switch supports a field or mask in a given table is not checked here.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        let err = |c| Err(ErrorCode::BadMatch(c));
        for (i, f) in self.fields.iter().enumerate() {
            if matches!(f, Oxm::Unknown { .. }) {
                return err(BadMatchCode::BadField);
            }
            let key = f.key();
            if self.fields.iter().take(i).any(|g| g.key() == key) {
                return err(BadMatchCode::DupField);
            }
            if !f.value_in_range() {
                return err(BadMatchCode::BadValue);
            }
        }
        if self.fields.iter().all(|f| self.prereq_ok(f)) {
            Ok(())
        } else {
            err(BadMatchCode::BadPrereq)
        }
    }

    /// `ofp_match.length`: header plus TLVs, without the padding.
    pub fn unpadded_len(&self) -> usize {
        4 + len_all(&self.fields)
    }
}

impl Wire for Match {
    /// Reads `type`, `length`, the TLVs and the padding up to a multiple of 8.
    ///
    /// Errors: `type` ≠ OFPMT_OXM → `Invalid` with `BAD_MATCH/BAD_TYPE`;
    /// `length` < 4 → `BadLength { element: Match }`; fewer bytes than the
    /// padded length → `Truncated { element: Match }`; errors of the TLVs
    /// (element `Oxm`, see [`Oxm::parse`](Wire::parse)), including a TLV that
    /// runs past `length`.
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let Some(hdr) = input.first_chunk::<4>() else {
            return fail(ParseError::truncated(Element::Match, input, 4));
        };
        let ty = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if ty != OFPMT_OXM {
            return fail(ParseError::invalid(
                Element::Match,
                input,
                ErrorCode::BadMatch(BadMatchCode::BadType),
                "match type is not OFPMT_OXM",
            ));
        }
        if len < 4 {
            return fail(ParseError::bad_length(
                Element::Match,
                input,
                len,
                4,
                "shorter than the match header",
            ));
        }
        let padded = pad8(len);
        let Some((whole, rest)) = input.split_at_checked(padded) else {
            return fail(ParseError::truncated(Element::Match, input, padded));
        };
        let region = whole.get(4..len).unwrap_or_default();
        let after = input.len() - len;
        // Most TLVs are 5–12 bytes: one allocation covers typical matches; the
        // cap keeps a large garbage region from reserving much before failing.
        let mut fields = Vec::with_capacity((region.len() / 6).min(64));
        let mut r = region;
        while !r.is_empty() {
            let (next, oxm) =
                Oxm::parse(r).map_err(|e| nom::Err::Error(rebase(into_error(e, r), after)))?;
            fields.push(oxm);
            r = next;
        }
        Ok((rest, Match { fields }))
    }

    fn wire_len(&self) -> usize {
        pad8(self.unpadded_len())
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        let len = self.unpadded_len();
        out.put_u16(OFPMT_OXM);
        out.put_u16(len_u16(len));
        emit_all(&self.fields, out);
        put_zeros(out, pad8(len) - len);
    }
}

impl OxmId {
    /// The id of a field as it appears in a match (same class, field, mask
    /// flag and length; the experimenter id for experimenter fields).
    pub fn of(oxm: &Oxm) -> Self {
        Self {
            class: oxm.class(),
            field: oxm.field(),
            has_mask: oxm.has_mask(),
            length: oxm.oxm_length(),
            experimenter: oxm.experimenter(),
        }
    }

    /// The id of basic field `field` with or without a mask, with the length
    /// the field has (0 for undefined numbers).
    pub const fn basic(field: u8, has_mask: bool) -> Self {
        Self {
            class: OFPXMC_OPENFLOW_BASIC,
            field,
            has_mask,
            length: (basic_header(field, has_mask) & 0xff) as u8,
            experimenter: None,
        }
    }

    /// The 32-bit OXM header.
    pub const fn header(&self) -> u32 {
        make_header(self.class, self.field, self.has_mask, self.length)
    }
}

impl Wire for OxmId {
    /// Errors: fewer than 4 bytes (8 for class 0xffff) →
    /// `Truncated { element: TableFeatures }` (OxmIds only occur in
    /// table-features properties).
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let Some((hdr, rest)) = input.split_first_chunk::<4>() else {
            return fail(ParseError::truncated(Element::TableFeatures, input, 4));
        };
        let header = u32::from_be_bytes(*hdr);
        let class = (header >> 16) as u16;
        let (rest, experimenter) = if class == OFPXMC_EXPERIMENTER {
            let Some((id, rest)) = rest.split_first_chunk::<4>() else {
                return fail(ParseError::truncated(Element::TableFeatures, input, 8));
            };
            (rest, Some(u32::from_be_bytes(*id)))
        } else {
            (rest, None)
        };
        Ok((
            rest,
            OxmId {
                class,
                field: ((header >> 9) & 0x7f) as u8,
                has_mask: header & 0x100 != 0,
                length: (header & 0xff) as u8,
                experimenter,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        if self.class == OFPXMC_EXPERIMENTER {
            8
        } else {
            4
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.header());
        if self.class == OFPXMC_EXPERIMENTER {
            out.put_u32(self.experimenter.unwrap_or(0));
        }
    }
}

/// Proptest strategies producing canonical values (exactly what the parser
/// can return), for this crate's round-trip tests.
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;

    fn v4() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    fn v6() -> impl Strategy<Value = Ipv6Addr> {
        any::<u128>().prop_map(Ipv6Addr::from)
    }

    /// Any OXM the parser can produce: every basic field (masked only where
    /// maskable, PBB_ISID within 24 bits), experimenter fields, and unknown
    /// fields of other classes or basic numbers above 39.
    pub(crate) fn oxm() -> BoxedStrategy<Oxm> {
        let mac = any::<[u8; 6]>;
        let unknown_class = any::<u16>()
            .prop_filter("not a decoded class", |c| {
                *c != OFPXMC_OPENFLOW_BASIC && *c != OFPXMC_EXPERIMENTER
            })
            .prop_flat_map(|c| (Just(c), 0u8..128));
        let unknown_basic = (Just(OFPXMC_OPENFLOW_BASIC), field::COUNT..128);
        prop_oneof![
            any::<u32>().prop_map(Oxm::InPort),
            any::<u32>().prop_map(Oxm::InPhyPort),
            (any::<u64>(), of(any::<u64>()))
                .prop_map(|(value, mask)| Oxm::Metadata { value, mask }),
            (mac(), of(mac())).prop_map(|(value, mask)| Oxm::EthDst { value, mask }),
            (mac(), of(mac())).prop_map(|(value, mask)| Oxm::EthSrc { value, mask }),
            any::<u16>().prop_map(Oxm::EthType),
            (any::<u16>(), of(any::<u16>())).prop_map(|(value, mask)| Oxm::VlanVid { value, mask }),
            any::<u8>().prop_map(Oxm::VlanPcp),
            any::<u8>().prop_map(Oxm::IpDscp),
            any::<u8>().prop_map(Oxm::IpEcn),
            any::<u8>().prop_map(Oxm::IpProto),
            (v4(), of(v4())).prop_map(|(value, mask)| Oxm::Ipv4Src { value, mask }),
            (v4(), of(v4())).prop_map(|(value, mask)| Oxm::Ipv4Dst { value, mask }),
            any::<u16>().prop_map(Oxm::TcpSrc),
            any::<u16>().prop_map(Oxm::TcpDst),
            any::<u16>().prop_map(Oxm::UdpSrc),
            any::<u16>().prop_map(Oxm::UdpDst),
            any::<u16>().prop_map(Oxm::SctpSrc),
            any::<u16>().prop_map(Oxm::SctpDst),
            any::<u8>().prop_map(Oxm::Icmpv4Type),
            any::<u8>().prop_map(Oxm::Icmpv4Code),
            any::<u16>().prop_map(Oxm::ArpOp),
            (v4(), of(v4())).prop_map(|(value, mask)| Oxm::ArpSpa { value, mask }),
            (v4(), of(v4())).prop_map(|(value, mask)| Oxm::ArpTpa { value, mask }),
            (mac(), of(mac())).prop_map(|(value, mask)| Oxm::ArpSha { value, mask }),
            (mac(), of(mac())).prop_map(|(value, mask)| Oxm::ArpTha { value, mask }),
            (v6(), of(v6())).prop_map(|(value, mask)| Oxm::Ipv6Src { value, mask }),
            (v6(), of(v6())).prop_map(|(value, mask)| Oxm::Ipv6Dst { value, mask }),
            (any::<u32>(), of(any::<u32>()))
                .prop_map(|(value, mask)| Oxm::Ipv6Flabel { value, mask }),
            any::<u8>().prop_map(Oxm::Icmpv6Type),
            any::<u8>().prop_map(Oxm::Icmpv6Code),
            v6().prop_map(Oxm::Ipv6NdTarget),
            mac().prop_map(Oxm::Ipv6NdSll),
            mac().prop_map(Oxm::Ipv6NdTll),
            any::<u32>().prop_map(Oxm::MplsLabel),
            any::<u8>().prop_map(Oxm::MplsTc),
            any::<u8>().prop_map(Oxm::MplsBos),
            (0u32..=0xff_ffff, of(0u32..=0xff_ffff))
                .prop_map(|(value, mask)| Oxm::PbbIsid { value, mask }),
            (any::<u64>(), of(any::<u64>()))
                .prop_map(|(value, mask)| Oxm::TunnelId { value, mask }),
            (any::<u16>(), of(any::<u16>()))
                .prop_map(|(value, mask)| Oxm::Ipv6Exthdr { value, mask }),
            (
                0u8..128,
                any::<bool>(),
                any::<u32>(),
                vec(any::<u8>(), 0..=251)
            )
                .prop_map(|(field, has_mask, experimenter, payload)| {
                    Oxm::Experimenter {
                        field,
                        has_mask,
                        experimenter,
                        payload,
                    }
                }),
            (
                prop_oneof![unknown_class, unknown_basic],
                any::<bool>(),
                vec(any::<u8>(), 0..=255)
            )
                .prop_map(|((class, field), has_mask, payload)| Oxm::Unknown {
                    class,
                    field,
                    has_mask,
                    payload,
                }),
        ]
        .boxed()
    }

    /// Any match of up to 8 fields (not validated: duplicates and missing
    /// prerequisites are representable on the wire).
    pub(crate) fn match_() -> BoxedStrategy<Match> {
        vec(oxm(), 0..8).prop_map(|fields| Match { fields }).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ParseErrorKind;
    use crate::wire::test_util::hex;
    use proptest::prelude::*;

    fn err<T: Wire + std::fmt::Debug>(bytes: &[u8]) -> ParseError {
        into_error(T::parse(bytes).unwrap_err(), bytes)
    }

    /// Every basic field, unmasked, and every maskable one masked, with its
    /// encoding written from the spec's header layout
    /// (`class 0x8000 | field << 1 | hasmask | length`).
    fn basic_vectors() -> Vec<(Oxm, &'static str)> {
        let mac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        let mac_mask = [0xff, 0xff, 0xff, 0x00, 0x00, 0x00];
        let v6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap();
        let v6_mask = "ffff:ffff:ffff:ffff::".parse::<Ipv6Addr>().unwrap();
        let fe80 = "fe80::2".parse::<Ipv6Addr>().unwrap();
        vec![
            (Oxm::InPort(7), "80000004 00000007"),
            (Oxm::InPhyPort(0x0102_0304), "80000204 01020304"),
            (
                Oxm::Metadata {
                    value: 0x0102_0304_0506_0708,
                    mask: None,
                },
                "80000408 0102030405060708",
            ),
            (
                Oxm::Metadata {
                    value: 0x0102_0304_0506_0708,
                    mask: Some(0xff00_ff00_ff00_ff00),
                },
                "80000510 0102030405060708 ff00ff00ff00ff00",
            ),
            (
                Oxm::EthDst {
                    value: mac,
                    mask: None,
                },
                "80000606 001122334455",
            ),
            (
                Oxm::EthDst {
                    value: mac,
                    mask: Some(mac_mask),
                },
                "8000070c 001122334455 ffffff000000",
            ),
            (
                Oxm::EthSrc {
                    value: mac,
                    mask: None,
                },
                "80000806 001122334455",
            ),
            (
                Oxm::EthSrc {
                    value: mac,
                    mask: Some(mac_mask),
                },
                "8000090c 001122334455 ffffff000000",
            ),
            (Oxm::EthType(0x0800), "80000a02 0800"),
            (
                Oxm::VlanVid {
                    value: 0x1005,
                    mask: None,
                },
                "80000c02 1005",
            ),
            (
                Oxm::VlanVid {
                    value: 0x1000,
                    mask: Some(0x1000),
                },
                "80000d04 1000 1000",
            ),
            (Oxm::VlanPcp(5), "80000e01 05"),
            (Oxm::IpDscp(46), "80001001 2e"),
            (Oxm::IpEcn(3), "80001201 03"),
            (Oxm::IpProto(6), "80001401 06"),
            (
                Oxm::Ipv4Src {
                    value: Ipv4Addr::new(10, 0, 0, 1),
                    mask: None,
                },
                "80001604 0a000001",
            ),
            (
                Oxm::Ipv4Src {
                    value: Ipv4Addr::new(10, 0, 0, 1),
                    mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
                },
                "80001708 0a000001 ffffff00",
            ),
            (
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(192, 168, 1, 2),
                    mask: None,
                },
                "80001804 c0a80102",
            ),
            (
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(192, 168, 1, 2),
                    mask: Some(Ipv4Addr::new(255, 255, 0, 0)),
                },
                "80001908 c0a80102 ffff0000",
            ),
            (Oxm::TcpSrc(80), "80001a02 0050"),
            (Oxm::TcpDst(443), "80001c02 01bb"),
            (Oxm::UdpSrc(53), "80001e02 0035"),
            (Oxm::UdpDst(67), "80002002 0043"),
            (Oxm::SctpSrc(0x1234), "80002202 1234"),
            (Oxm::SctpDst(0xabcd), "80002402 abcd"),
            (Oxm::Icmpv4Type(8), "80002601 08"),
            (Oxm::Icmpv4Code(3), "80002801 03"),
            (Oxm::ArpOp(1), "80002a02 0001"),
            (
                Oxm::ArpSpa {
                    value: Ipv4Addr::new(10, 1, 2, 3),
                    mask: None,
                },
                "80002c04 0a010203",
            ),
            (
                Oxm::ArpSpa {
                    value: Ipv4Addr::new(10, 1, 2, 3),
                    mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
                },
                "80002d08 0a010203 ff000000",
            ),
            (
                Oxm::ArpTpa {
                    value: Ipv4Addr::new(10, 4, 5, 6),
                    mask: None,
                },
                "80002e04 0a040506",
            ),
            (
                Oxm::ArpTpa {
                    value: Ipv4Addr::new(10, 4, 5, 6),
                    mask: Some(Ipv4Addr::new(255, 255, 255, 255)),
                },
                "80002f08 0a040506 ffffffff",
            ),
            (
                Oxm::ArpSha {
                    value: mac,
                    mask: None,
                },
                "80003006 001122334455",
            ),
            (
                Oxm::ArpSha {
                    value: mac,
                    mask: Some(mac_mask),
                },
                "8000310c 001122334455 ffffff000000",
            ),
            (
                Oxm::ArpTha {
                    value: mac,
                    mask: None,
                },
                "80003206 001122334455",
            ),
            (
                Oxm::ArpTha {
                    value: mac,
                    mask: Some(mac_mask),
                },
                "8000330c 001122334455 ffffff000000",
            ),
            (
                Oxm::Ipv6Src {
                    value: v6,
                    mask: None,
                },
                "80003410 20010db8000000000000000000000001",
            ),
            (
                Oxm::Ipv6Src {
                    value: v6,
                    mask: Some(v6_mask),
                },
                "80003520 20010db8000000000000000000000001 ffffffffffffffff0000000000000000",
            ),
            (
                Oxm::Ipv6Dst {
                    value: fe80,
                    mask: None,
                },
                "80003610 fe800000000000000000000000000002",
            ),
            (
                Oxm::Ipv6Dst {
                    value: fe80,
                    mask: Some(v6_mask),
                },
                "80003720 fe800000000000000000000000000002 ffffffffffffffff0000000000000000",
            ),
            (
                Oxm::Ipv6Flabel {
                    value: 0x12345,
                    mask: None,
                },
                "80003804 00012345",
            ),
            (
                Oxm::Ipv6Flabel {
                    value: 0x12345,
                    mask: Some(0xfffff),
                },
                "80003908 00012345 000fffff",
            ),
            (Oxm::Icmpv6Type(135), "80003a01 87"),
            (Oxm::Icmpv6Code(0), "80003c01 00"),
            (
                Oxm::Ipv6NdTarget(fe80),
                "80003e10 fe800000000000000000000000000002",
            ),
            (Oxm::Ipv6NdSll(mac), "80004006 001122334455"),
            (Oxm::Ipv6NdTll(mac), "80004206 001122334455"),
            (Oxm::MplsLabel(0x12345), "80004404 00012345"),
            (Oxm::MplsTc(5), "80004601 05"),
            (Oxm::MplsBos(1), "80004801 01"),
            (
                Oxm::PbbIsid {
                    value: 0x12_3456,
                    mask: None,
                },
                "80004a03 123456",
            ),
            (
                Oxm::PbbIsid {
                    value: 0x12_3456,
                    mask: Some(0xff_ff00),
                },
                "80004b06 123456 ffff00",
            ),
            (
                Oxm::TunnelId {
                    value: 0x1122_3344_5566_7788,
                    mask: None,
                },
                "80004c08 1122334455667788",
            ),
            (
                Oxm::TunnelId {
                    value: 0x1122_3344_5566_7788,
                    mask: Some(0xffff_ffff_0000_0000),
                },
                "80004d10 1122334455667788 ffffffff00000000",
            ),
            (
                Oxm::Ipv6Exthdr {
                    value: 0x0104,
                    mask: None,
                },
                "80004e02 0104",
            ),
            (
                Oxm::Ipv6Exthdr {
                    value: 0x0104,
                    mask: Some(0x01ff),
                },
                "80004f04 0104 01ff",
            ),
        ]
    }

    fn check_oxm(oxm: &Oxm, bytes: &[u8]) {
        assert_eq!(
            Oxm::parse(bytes),
            Ok((&[][..], oxm.clone())),
            "parse {oxm:?}"
        );
        assert_eq!(oxm.to_vec(), bytes, "emit {oxm:?}");
        assert_eq!(oxm.wire_len(), bytes.len(), "wire_len {oxm:?}");
        assert_eq!(
            oxm.header(),
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        );
    }

    #[test]
    fn every_basic_field_byte_exact() {
        let mut plain = [false; field::COUNT as usize];
        let mut masked = [false; field::COUNT as usize];
        for (oxm, h) in basic_vectors() {
            let bytes = hex(h);
            check_oxm(&oxm, &bytes);
            assert!(oxm.is_basic());
            assert_eq!(oxm.class(), OFPXMC_OPENFLOW_BASIC);
            assert_eq!(oxm.value_len(), basic_value_len(oxm.field()).unwrap());
            let seen = if oxm.has_mask() {
                &mut masked
            } else {
                &mut plain
            };
            seen[usize::from(oxm.field())] = true;
        }
        // The vectors cover all 40 fields, and exactly the maskable ones masked.
        for f in 0..field::COUNT {
            assert!(plain[usize::from(f)], "field {f} has no unmasked vector");
            assert_eq!(
                masked[usize::from(f)],
                basic_maskable(f),
                "field {f} masked"
            );
        }
    }

    #[test]
    fn parse_leaves_the_rest() {
        let bytes = hex("80000a02 86dd ffff");
        assert_eq!(
            Oxm::parse(&bytes),
            Ok((&[0xff, 0xff][..], Oxm::EthType(0x86dd)))
        );
    }

    #[test]
    fn oko_filter_prog_experimenter_field() {
        let bytes = hex("ffff0208 004f4b4f 00000003");
        let oxm = Oxm::Experimenter {
            field: 1,
            has_mask: false,
            experimenter: 0x004F_4B4F,
            payload: vec![0, 0, 0, 3],
        };
        check_oxm(&oxm, &bytes);
        assert_eq!(oxm.class(), OFPXMC_EXPERIMENTER);
        assert_eq!(oxm.field(), 1);
        assert_eq!(oxm.oxm_length(), 8);
        assert_eq!(oxm.value_len(), 4);
        assert_eq!(oxm.experimenter(), Some(0x004F_4B4F));
        assert!(!oxm.is_basic());
    }

    #[test]
    fn experimenter_field_with_empty_payload() {
        check_oxm(
            &Oxm::Experimenter {
                field: 0x7f,
                has_mask: true,
                experimenter: 0x2320,
                payload: vec![],
            },
            &hex("ffffff04 00002320"),
        );
    }

    #[test]
    fn unknown_class_and_unknown_basic_field_are_kept() {
        check_oxm(
            &Oxm::Unknown {
                class: 0x0001,
                field: 3,
                has_mask: false,
                payload: vec![0xde, 0xad, 0xbe, 0xef],
            },
            &hex("00010604 deadbeef"),
        );
        check_oxm(
            &Oxm::Unknown {
                class: 0x0001,
                field: 3,
                has_mask: true,
                payload: vec![1, 2],
            },
            &hex("00010702 0102"),
        );
        // OPENFLOW_BASIC field 40 is not defined in 1.3.5: kept, any length.
        check_oxm(
            &Oxm::Unknown {
                class: OFPXMC_OPENFLOW_BASIC,
                field: 40,
                has_mask: false,
                payload: vec![0xab, 0xcd, 0xef],
            },
            &hex("80005003 abcdef"),
        );
        check_oxm(
            &Oxm::Unknown {
                class: 0x8001,
                field: 0,
                has_mask: false,
                payload: vec![],
            },
            &hex("80010000"),
        );
    }

    #[test]
    fn match_with_several_fields_and_padding() {
        // length 0x29 = 4 + 8 + 6 + 5 + 12 + 6 = 41, padded to 48 with 7 zeros.
        let bytes = hex("0001 0029
             80000004 00000001
             80000a02 0800
             80001401 06
             80001908 0a000000 ff000000
             80001c02 0050
             00000000000000");
        let m = Match {
            fields: vec![
                Oxm::InPort(1),
                Oxm::EthType(0x0800),
                Oxm::IpProto(6),
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(10, 0, 0, 0),
                    mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
                },
                Oxm::TcpDst(80),
            ],
        };
        assert_eq!(bytes.len(), 48);
        assert_eq!(Match::parse(&bytes), Ok((&[][..], m.clone())));
        assert_eq!(m.to_vec(), bytes);
        assert_eq!(m.wire_len(), 48);
        assert_eq!(m.unpadded_len(), 41);
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.eth_type(), Some(0x0800));
        assert_eq!(m.ip_proto(), Some(6));
        assert_eq!(m.basic(field::TCP_DST), Some(&Oxm::TcpDst(80)));
        assert_eq!(m.basic(field::UDP_DST), None);
    }

    #[test]
    fn padding_contents_are_ignored_and_emitted_as_zero() {
        let bytes = hex("0001 000a 80000a02 0800 abcdefabcdef 11");
        let (rest, m) = Match::parse(&bytes).unwrap();
        assert_eq!(rest, &[0x11]);
        assert_eq!(m.fields, vec![Oxm::EthType(0x0800)]);
        assert_eq!(m.to_vec(), hex("0001 000a 80000a02 0800 000000000000"));
    }

    #[test]
    fn empty_match() {
        let bytes = [0, 1, 0, 4, 0, 0, 0, 0];
        assert_eq!(Match::parse(&bytes), Ok((&[][..], Match::new())));
        assert_eq!(Match::default().to_vec(), bytes);
        assert_eq!(Match::default().wire_len(), 8);
        assert_eq!(Match::default().validate(), Ok(()));
    }

    #[test]
    fn match_with_an_aligned_length_has_no_padding() {
        let bytes = hex("0001 0010 80000408 0102030405060708 aa");
        let (rest, m) = Match::parse(&bytes).unwrap();
        assert_eq!(rest, &[0xaa]);
        assert_eq!(m.wire_len(), 16);
        assert_eq!(m.to_vec(), &bytes[..16]);
    }

    #[test]
    fn oxm_truncated() {
        let e = err::<Oxm>(&[0x80, 0x00]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Oxm,
                needed: 4,
                available: 2
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));

        let e = err::<Oxm>(&hex("80000004 0000"));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Oxm,
                needed: 8,
                available: 6
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));
    }

    #[test]
    fn oxm_bad_length_for_its_field() {
        let e = err::<Oxm>(&hex("80000002 0001"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Oxm,
                declared: 2,
                actual: 4,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));

        // A masked field must be exactly twice the value size.
        let e = err::<Oxm>(&hex("80000706 001122334455"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Oxm,
                declared: 6,
                actual: 12,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));

        // Experimenter fields need at least the 4-byte experimenter id.
        let e = err::<Oxm>(&hex("ffff0202 004f"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Oxm,
                declared: 2,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));
    }

    #[test]
    fn hasmask_on_a_non_maskable_field() {
        for h in [
            "80000108 00000001 ffffffff", // in_port
            "80000b04 0800 ffff",         // eth_type
            "80001502 06ff",              // ip_proto
        ] {
            let e = err::<Oxm>(&hex(h));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::Invalid {
                    element: Element::Oxm,
                    code: ErrorCode::BadMatch(BadMatchCode::BadMask),
                    ..
                }
            ));
            assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadMask));
        }
    }

    #[test]
    fn match_errors() {
        // OFPMT_STANDARD (0) is not an OpenFlow 1.3 match type.
        let e = err::<Match>(&hex("0000 0004 00000000"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Invalid {
                element: Element::Match,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadType));

        let e = err::<Match>(&hex("0001 0002 00000000"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Match,
                declared: 2,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));

        let e = err::<Match>(&[0, 1, 0]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Match,
                needed: 4,
                ..
            }
        ));

        // The padding must be there.
        let e = err::<Match>(&hex("0001 000a 80000a02 0800"));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Match,
                needed: 16,
                available: 10
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));
    }

    #[test]
    fn tlv_running_past_the_match_length_is_located_at_the_tlv() {
        // length 8 leaves 4 bytes for an in_port TLV that needs 8.
        let bytes = hex("0001 0008 80000004 00000001");
        let e = err::<Match>(&bytes);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Oxm,
                needed: 8,
                available: 4
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadMatch(BadMatchCode::BadLen));
        assert_eq!(e.located(bytes.len()).offset(), 4);

        // An error in the second TLV is located at that TLV.
        let bytes = hex("0001 0010 80000a02 0800 80000002 0001");
        let e = err::<Match>(&bytes);
        assert!(matches!(e.kind(), ParseErrorKind::BadLength { .. }));
        assert_eq!(e.located(bytes.len()).offset(), 10);
    }

    #[test]
    fn oxm_ids() {
        let id = OxmId {
            class: OFPXMC_OPENFLOW_BASIC,
            field: field::ETH_TYPE,
            has_mask: false,
            length: 2,
            experimenter: None,
        };
        let bytes = hex("80000a02");
        assert_eq!(OxmId::parse(&bytes), Ok((&[][..], id)));
        assert_eq!(id.to_vec(), bytes);
        assert_eq!(id.wire_len(), 4);
        assert_eq!(OxmId::basic(field::ETH_TYPE, false), id);
        assert_eq!(OxmId::of(&Oxm::EthType(0x0800)), id);

        let exp = OxmId {
            class: OFPXMC_EXPERIMENTER,
            field: 1,
            has_mask: false,
            length: 8,
            experimenter: Some(0x004F_4B4F),
        };
        let bytes = hex("ffff0208 004f4b4f");
        assert_eq!(OxmId::parse(&bytes), Ok((&[][..], exp)));
        assert_eq!(exp.to_vec(), bytes);
        assert_eq!(exp.wire_len(), 8);
        let prog = Oxm::Experimenter {
            field: 1,
            has_mask: false,
            experimenter: 0x004F_4B4F,
            payload: vec![0, 0, 0, 9],
        };
        assert_eq!(OxmId::of(&prog), exp);

        assert_eq!(
            OxmId::basic(field::IPV6_SRC, true).to_vec(),
            hex("80003520")
        );
        assert_eq!(OxmId::basic(field::PBB_ISID, false).length, 3);

        let e = err::<OxmId>(&hex("ffff0208 004f"));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::TableFeatures,
                needed: 8,
                available: 6
            }
        );
        let e = err::<OxmId>(&[0x80]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::TableFeatures,
                needed: 4,
                ..
            }
        ));
    }

    fn m(fields: Vec<Oxm>) -> Match {
        Match { fields }
    }

    const fn bad(c: BadMatchCode) -> Result<(), ErrorCode> {
        Err(ErrorCode::BadMatch(c))
    }

    fn vid(value: u16, mask: Option<u16>) -> Oxm {
        Oxm::VlanVid { value, mask }
    }

    #[test]
    fn validate_unknown_fields() {
        let unknown = Oxm::Unknown {
            class: 0x0001,
            field: 1,
            has_mask: false,
            payload: vec![0; 4],
        };
        assert_eq!(m(vec![unknown]).validate(), bad(BadMatchCode::BadField));
        let basic40 = Oxm::Unknown {
            class: OFPXMC_OPENFLOW_BASIC,
            field: 40,
            has_mask: false,
            payload: vec![],
        };
        assert_eq!(
            m(vec![Oxm::InPort(1), basic40]).validate(),
            bad(BadMatchCode::BadField)
        );
    }

    #[test]
    fn validate_duplicates() {
        let exp = |experimenter, field| Oxm::Experimenter {
            field,
            has_mask: false,
            experimenter,
            payload: vec![0, 0, 0, 1],
        };
        let cases = [
            (
                vec![Oxm::InPort(1), Oxm::InPort(1)],
                bad(BadMatchCode::DupField),
            ),
            (
                vec![Oxm::InPort(1), Oxm::InPhyPort(1), Oxm::InPort(2)],
                bad(BadMatchCode::DupField),
            ),
            // A masked and an unmasked occurrence are still the same field.
            (
                vec![vid(0x1001, None), vid(0x1000, Some(0x1000))],
                bad(BadMatchCode::DupField),
            ),
            (
                vec![exp(0x004F_4B4F, 1), exp(0x004F_4B4F, 1)],
                bad(BadMatchCode::DupField),
            ),
            (vec![exp(0x004F_4B4F, 1), exp(0x2320, 1)], Ok(())),
            (vec![exp(0x004F_4B4F, 1), exp(0x004F_4B4F, 2)], Ok(())),
            (vec![Oxm::InPort(1), exp(0x004F_4B4F, 1)], Ok(())),
        ];
        for (fields, want) in cases {
            assert_eq!(m(fields.clone()).validate(), want, "{fields:?}");
        }
    }

    #[test]
    fn validate_values() {
        let cases = [
            (vec![vid(0x1fff, None)], Ok(())),
            (vec![vid(0x2000, None)], bad(BadMatchCode::BadValue)),
            (
                vec![vid(0x1001, None), Oxm::VlanPcp(8)],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![Oxm::EthType(0x0800), Oxm::IpDscp(64)],
                bad(BadMatchCode::BadValue),
            ),
            (vec![Oxm::EthType(0x0800), Oxm::IpDscp(63)], Ok(())),
            (
                vec![Oxm::EthType(0x0800), Oxm::IpEcn(4)],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![Oxm::EthType(0x8847), Oxm::MplsLabel(0x10_0000)],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![Oxm::EthType(0x8847), Oxm::MplsBos(2)],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![Oxm::EthType(0x8847), Oxm::MplsTc(8)],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![
                    Oxm::EthType(0x86dd),
                    Oxm::Ipv6Flabel {
                        value: 0x10_0000,
                        mask: None,
                    },
                ],
                bad(BadMatchCode::BadValue),
            ),
            (
                vec![
                    Oxm::EthType(0x86dd),
                    Oxm::Ipv6Exthdr {
                        value: 0x200,
                        mask: None,
                    },
                ],
                bad(BadMatchCode::BadValue),
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(m(fields.clone()).validate(), want, "{fields:?}");
        }
    }

    #[test]
    fn validate_prerequisites() {
        let ok = Ok(());
        let pre = bad(BadMatchCode::BadPrereq);
        let v4 = Ipv4Addr::new(10, 0, 0, 1);
        let v6 = Ipv6Addr::LOCALHOST;
        let mac = [2, 0, 0, 0, 0, 1];
        let ip4 = Oxm::EthType(0x0800);
        let ip6 = Oxm::EthType(0x86dd);
        let cases: Vec<(Vec<Oxm>, Result<(), ErrorCode>)> = vec![
            (vec![Oxm::InPhyPort(1)], pre),
            (vec![Oxm::InPort(1), Oxm::InPhyPort(1)], ok),
            (vec![Oxm::InPhyPort(1), Oxm::InPort(1)], ok),
            (vec![Oxm::VlanPcp(3)], pre),
            (vec![vid(OFPVID_NONE, None), Oxm::VlanPcp(3)], pre),
            (vec![vid(0x1000, Some(0x1000)), Oxm::VlanPcp(3)], ok),
            (vec![vid(0x1000, Some(0x0fff)), Oxm::VlanPcp(3)], pre),
            (vec![vid(0x1005, None), Oxm::VlanPcp(3)], ok),
            (vec![Oxm::IpProto(6)], pre),
            (vec![Oxm::EthType(0x0806), Oxm::IpDscp(1)], pre),
            (vec![ip6.clone(), Oxm::IpEcn(1)], ok),
            (vec![ip4.clone(), Oxm::IpDscp(1)], ok),
            (
                vec![Oxm::Ipv4Src {
                    value: v4,
                    mask: None,
                }],
                pre,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::Ipv4Dst {
                        value: v4,
                        mask: None,
                    },
                ],
                pre,
            ),
            (
                vec![
                    ip4.clone(),
                    Oxm::Ipv4Dst {
                        value: v4,
                        mask: None,
                    },
                ],
                ok,
            ),
            (vec![ip4.clone(), Oxm::TcpDst(80)], pre),
            (vec![Oxm::IpProto(6), Oxm::TcpDst(80)], pre),
            (vec![ip4.clone(), Oxm::IpProto(17), Oxm::TcpDst(80)], pre),
            (vec![ip6.clone(), Oxm::IpProto(6), Oxm::TcpSrc(80)], ok),
            (vec![ip4.clone(), Oxm::IpProto(17), Oxm::UdpSrc(53)], ok),
            (vec![ip4.clone(), Oxm::IpProto(6), Oxm::UdpDst(53)], pre),
            (vec![ip4.clone(), Oxm::IpProto(132), Oxm::SctpDst(9)], ok),
            (vec![ip4.clone(), Oxm::IpProto(6), Oxm::SctpSrc(9)], pre),
            (vec![ip4.clone(), Oxm::IpProto(1), Oxm::Icmpv4Type(8)], ok),
            (vec![ip4.clone(), Oxm::IpProto(58), Oxm::Icmpv4Code(0)], pre),
            (vec![Oxm::EthType(0x0806), Oxm::ArpOp(1)], ok),
            (vec![ip4.clone(), Oxm::ArpOp(1)], pre),
            (
                vec![
                    Oxm::EthType(0x0806),
                    Oxm::ArpSpa {
                        value: v4,
                        mask: None,
                    },
                    Oxm::ArpTha {
                        value: mac,
                        mask: None,
                    },
                ],
                ok,
            ),
            (
                vec![Oxm::ArpSha {
                    value: mac,
                    mask: None,
                }],
                pre,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::Ipv6Src {
                        value: v6,
                        mask: None,
                    },
                ],
                ok,
            ),
            (
                vec![
                    ip4.clone(),
                    Oxm::Ipv6Dst {
                        value: v6,
                        mask: None,
                    },
                ],
                pre,
            ),
            (
                vec![
                    ip4.clone(),
                    Oxm::Ipv6Flabel {
                        value: 1,
                        mask: None,
                    },
                ],
                pre,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::Ipv6Exthdr {
                        value: 1,
                        mask: None,
                    },
                ],
                ok,
            ),
            (
                vec![Oxm::Ipv6Exthdr {
                    value: 1,
                    mask: None,
                }],
                pre,
            ),
            (
                vec![ip6.clone(), Oxm::IpProto(58), Oxm::Icmpv6Type(128)],
                ok,
            ),
            (vec![ip6.clone(), Oxm::IpProto(6), Oxm::Icmpv6Code(0)], pre),
            (
                vec![
                    ip6.clone(),
                    Oxm::IpProto(58),
                    Oxm::Icmpv6Type(135),
                    Oxm::Ipv6NdTarget(v6),
                    Oxm::Ipv6NdSll(mac),
                ],
                ok,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::IpProto(58),
                    Oxm::Icmpv6Type(136),
                    Oxm::Ipv6NdTarget(v6),
                    Oxm::Ipv6NdTll(mac),
                ],
                ok,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::IpProto(58),
                    Oxm::Icmpv6Type(128),
                    Oxm::Ipv6NdTarget(v6),
                ],
                pre,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::IpProto(58),
                    Oxm::Icmpv6Type(136),
                    Oxm::Ipv6NdSll(mac),
                ],
                pre,
            ),
            (
                vec![
                    ip6.clone(),
                    Oxm::IpProto(58),
                    Oxm::Icmpv6Type(135),
                    Oxm::Ipv6NdTll(mac),
                ],
                pre,
            ),
            (vec![Oxm::Ipv6NdTarget(v6)], pre),
            (vec![Oxm::EthType(0x8847), Oxm::MplsLabel(5)], ok),
            (
                vec![Oxm::EthType(0x8848), Oxm::MplsTc(5), Oxm::MplsBos(1)],
                ok,
            ),
            (vec![ip4.clone(), Oxm::MplsLabel(5)], pre),
            (
                vec![
                    Oxm::EthType(0x88e7),
                    Oxm::PbbIsid {
                        value: 5,
                        mask: None,
                    },
                ],
                ok,
            ),
            (
                vec![Oxm::PbbIsid {
                    value: 5,
                    mask: None,
                }],
                pre,
            ),
            // No prerequisites.
            (
                vec![
                    Oxm::InPort(1),
                    Oxm::Metadata {
                        value: 1,
                        mask: None,
                    },
                    Oxm::EthDst {
                        value: mac,
                        mask: None,
                    },
                    Oxm::EthSrc {
                        value: mac,
                        mask: None,
                    },
                    Oxm::EthType(0x1234),
                    vid(0, None),
                    Oxm::TunnelId {
                        value: 1,
                        mask: None,
                    },
                ],
                ok,
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(m(fields.clone()).validate(), want, "{fields:?}");
        }
    }

    #[test]
    fn validate_checks_duplicates_before_prerequisites() {
        assert_eq!(
            m(vec![Oxm::TcpDst(1), Oxm::TcpDst(2)]).validate(),
            bad(BadMatchCode::DupField)
        );
    }

    #[test]
    fn over_long_unknown_payload_is_cut_consistently() {
        let oxm = Oxm::Unknown {
            class: 1,
            field: 1,
            has_mask: false,
            payload: vec![7; 300],
        };
        let bytes = oxm.to_vec();
        assert_eq!(bytes.len(), oxm.wire_len());
        assert_eq!(bytes.len(), 4 + 255);
        let exp = Oxm::Experimenter {
            field: 1,
            has_mask: false,
            experimenter: 1,
            payload: vec![7; 300],
        };
        assert_eq!(exp.to_vec().len(), exp.wire_len());
        assert_eq!(exp.wire_len(), 4 + 255);
        assert!(Oxm::parse(&exp.to_vec()).is_ok());
    }

    proptest! {
        #[test]
        fn oxm_round_trip(oxm in strategy::oxm()) {
            let bytes = oxm.to_vec();
            prop_assert_eq!(bytes.len(), oxm.wire_len());
            prop_assert_eq!(usize::from(oxm.oxm_length()) + 4, bytes.len());
            prop_assert_eq!(&bytes[..4], &oxm.header().to_be_bytes()[..]);
            if oxm.is_basic() {
                prop_assert_eq!(Some(oxm.value_len()), basic_value_len(oxm.field()));
            }
            let (rest, back) = Oxm::parse(&bytes).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&back, &oxm);
            prop_assert_eq!(back.to_vec(), bytes);
            let id = OxmId::of(&oxm);
            prop_assert_eq!(OxmId::parse(&id.to_vec()).unwrap().1, id);
            prop_assert_eq!(id.header(), oxm.header());
        }

        #[test]
        fn match_round_trip(m in strategy::match_()) {
            let bytes = m.to_vec();
            prop_assert_eq!(bytes.len(), m.wire_len());
            prop_assert_eq!(bytes.len() % 8, 0);
            let (rest, back) = Match::parse(&bytes).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&back, &m);
            prop_assert_eq!(back.to_vec(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Oxm::parse(&bytes);
            let _ = Match::parse(&bytes);
            let _ = OxmId::parse(&bytes);
        }

        #[test]
        fn plausible_headers_never_panic(
            class in prop_oneof![Just(0x8000u16), Just(0xffff), any::<u16>()],
            field in any::<u8>(),
            len in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut tlv = class.to_be_bytes().to_vec();
            tlv.extend([field, len]);
            tlv.extend(&body);
            if let Ok((_, oxm)) = Oxm::parse(&tlv) {
                // Whatever parses re-emits to the bytes it came from.
                let n = oxm.wire_len();
                prop_assert_eq!(oxm.to_vec(), &tlv[..n]);
                let _ = Match { fields: vec![oxm] }.validate();
            }
            let mut mat = vec![0, 1];
            mat.extend(u16::try_from(tlv.len().min(0xffff)).unwrap().to_be_bytes());
            mat.extend(&tlv);
            if let Ok((_, m)) = Match::parse(&mat) {
                let _ = m.validate();
            }
        }
    }
}
