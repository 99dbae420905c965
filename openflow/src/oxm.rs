//! OXM TLVs (OpenFlow 1.3.5 §7.2.3) and `ofp_match`.
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{PResult, Wire};

/// OXM class `OFPXMC_OPENFLOW_BASIC`.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// OXM class `OFPXMC_EXPERIMENTER`.
pub const OFPXMC_EXPERIMENTER: u16 = 0xffff;
/// `ofp_match.type` for OXM matches.
pub const OFPMT_OXM: u16 = 1;

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
    Metadata { value: u64, mask: Option<u64> },
    /// OFPXMT_OFB_ETH_DST (3), maskable
    EthDst {
        value: [u8; 6],
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ETH_SRC (4), maskable
    EthSrc {
        value: [u8; 6],
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ETH_TYPE (5)
    EthType(u16),
    /// OFPXMT_OFB_VLAN_VID (6), maskable; includes the OFPVID_PRESENT bit 0x1000
    VlanVid { value: u16, mask: Option<u16> },
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
        value: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_IPV4_DST (12), maskable
    Ipv4Dst {
        value: Ipv4Addr,
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
        value: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_ARP_TPA (23), maskable
    ArpTpa {
        value: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    },
    /// OFPXMT_OFB_ARP_SHA (24), maskable
    ArpSha {
        value: [u8; 6],
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_ARP_THA (25), maskable
    ArpTha {
        value: [u8; 6],
        mask: Option<[u8; 6]>,
    },
    /// OFPXMT_OFB_IPV6_SRC (26), maskable
    Ipv6Src {
        value: Ipv6Addr,
        mask: Option<Ipv6Addr>,
    },
    /// OFPXMT_OFB_IPV6_DST (27), maskable
    Ipv6Dst {
        value: Ipv6Addr,
        mask: Option<Ipv6Addr>,
    },
    /// OFPXMT_OFB_IPV6_FLABEL (28), maskable
    Ipv6Flabel { value: u32, mask: Option<u32> },
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
    PbbIsid { value: u32, mask: Option<u32> },
    /// OFPXMT_OFB_TUNNEL_ID (38), maskable
    TunnelId { value: u64, mask: Option<u64> },
    /// OFPXMT_OFB_IPV6_EXTHDR (39), maskable
    Ipv6Exthdr { value: u16, mask: Option<u16> },
    /// Class OFPXMC_EXPERIMENTER (0xffff): `experimenter` id, then `payload`
    /// (value, followed by the mask when `has_mask`), kept verbatim.
    Experimenter {
        field: u8,
        has_mask: bool,
        experimenter: u32,
        payload: Vec<u8>,
    },
    /// Any other class, or an OPENFLOW_BASIC field number above 39: kept verbatim.
    Unknown {
        class: u16,
        field: u8,
        has_mask: bool,
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

impl Wire for Oxm {
    fn parse(_input: &[u8]) -> PResult<'_, Self> {
        todo!()
    }
    fn wire_len(&self) -> usize {
        todo!()
    }
    fn emit<B: BufMut>(&self, _out: &mut B) {
        todo!()
    }
}

impl Wire for Match {
    fn parse(_input: &[u8]) -> PResult<'_, Self> {
        todo!()
    }
    fn wire_len(&self) -> usize {
        todo!()
    }
    fn emit<B: BufMut>(&self, _out: &mut B) {
        todo!()
    }
}

impl Wire for OxmId {
    fn parse(_input: &[u8]) -> PResult<'_, Self> {
        todo!()
    }
    fn wire_len(&self) -> usize {
        todo!()
    }
    fn emit<B: BufMut>(&self, _out: &mut B) {
        todo!()
    }
}
