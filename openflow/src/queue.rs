//! Queue descriptions (`ofp_packet_queue` and its properties, OpenFlow 1.3.5
//! §7.2.2), used by QUEUE_GET_CONFIG_REPLY.
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::wire::{PResult, Wire};

/// `ofp_packet_queue`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketQueue {
    /// queue_id
    pub queue_id: u32,
    /// port
    pub port: u32,
    /// properties
    pub properties: Vec<QueueProp>,
}

/// A queue property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueProp {
    /// OFPQT_MIN_RATE (1), rate in 1/10 of a percent
    MinRate(u16),
    /// OFPQT_MAX_RATE (2), rate in 1/10 of a percent
    MaxRate(u16),
    /// OFPQT_EXPERIMENTER (0xffff)
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// Any other property: bytes after the 8-byte property header.
    Unknown { property: u16, body: Vec<u8> },
}

impl Wire for PacketQueue {
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
