//! Actions (OpenFlow 1.3.5 §7.2.5).
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::oxm::Oxm;
use crate::wire::{PResult, Wire};

/// One action. Lists of actions are `Vec<Action>` parsed with
/// [`crate::wire::parse_all`] from their length-delimited region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// OFPAT_OUTPUT (0)
    Output { port: u32, max_len: u16 },
    /// OFPAT_COPY_TTL_OUT (11)
    CopyTtlOut,
    /// OFPAT_COPY_TTL_IN (12)
    CopyTtlIn,
    /// OFPAT_SET_MPLS_TTL (15)
    SetMplsTtl(u8),
    /// OFPAT_DEC_MPLS_TTL (16)
    DecMplsTtl,
    /// OFPAT_PUSH_VLAN (17): ethertype
    PushVlan(u16),
    /// OFPAT_POP_VLAN (18)
    PopVlan,
    /// OFPAT_PUSH_MPLS (19): ethertype
    PushMpls(u16),
    /// OFPAT_POP_MPLS (20): ethertype
    PopMpls(u16),
    /// OFPAT_SET_QUEUE (21)
    SetQueue(u32),
    /// OFPAT_GROUP (22)
    Group(u32),
    /// OFPAT_SET_NW_TTL (23)
    SetNwTtl(u8),
    /// OFPAT_DEC_NW_TTL (24)
    DecNwTtl,
    /// OFPAT_SET_FIELD (25): one OXM TLV, padded to 8 bytes
    SetField(Oxm),
    /// OFPAT_PUSH_PBB (26): ethertype
    PushPbb(u16),
    /// OFPAT_POP_PBB (27)
    PopPbb,
    /// OFPAT_EXPERIMENTER (0xffff): experimenter id then opaque data (kept verbatim,
    /// including any padding the sender put there)
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// Any other action type: the bytes after the 4-byte type/len header.
    Unknown { action_type: u16, body: Vec<u8> },
}

impl Wire for Action {
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
