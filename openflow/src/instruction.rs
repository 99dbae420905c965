//! Instructions (OpenFlow 1.3.5 §7.2.4).
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::action::Action;
use crate::wire::{PResult, Wire};

/// One instruction of a flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// OFPIT_GOTO_TABLE (1)
    GotoTable(u8),
    /// OFPIT_WRITE_METADATA (2)
    WriteMetadata { metadata: u64, mask: u64 },
    /// OFPIT_WRITE_ACTIONS (3)
    WriteActions(Vec<Action>),
    /// OFPIT_APPLY_ACTIONS (4)
    ApplyActions(Vec<Action>),
    /// OFPIT_CLEAR_ACTIONS (5)
    ClearActions,
    /// OFPIT_METER (6)
    Meter(u32),
    /// OFPIT_EXPERIMENTER (0xffff): experimenter id then opaque data
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// Any other instruction type: the bytes after the 4-byte type/len header.
    Unknown { inst_type: u16, body: Vec<u8> },
}

impl Wire for Instruction {
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
