//! Group buckets (`ofp_bucket`, OpenFlow 1.3.5 §7.3.4.2), shared by GROUP_MOD
//! and the GROUP_DESC multipart reply, and group-related constants.
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::action::Action;
use crate::wire::{PResult, Wire};

/// `ofp_bucket`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// weight (SELECT groups)
    pub weight: u16,
    /// watch_port (FAST_FAILOVER)
    pub watch_port: u32,
    /// watch_group (FAST_FAILOVER)
    pub watch_group: u32,
    /// actions
    pub actions: Vec<Action>,
}

impl Wire for Bucket {
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
