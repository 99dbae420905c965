//! `ofp_port` (OpenFlow 1.3.5 §7.2.1) and port-number constants.
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::wire::{PResult, Wire};

/// Reserved port numbers (`ofp_port_no`).
pub mod port_no {
    /// OFPP_MAX: last usable physical port number.
    pub const MAX: u32 = 0xffff_ff00;
    /// OFPP_IN_PORT
    pub const IN_PORT: u32 = 0xffff_fff8;
    /// OFPP_TABLE
    pub const TABLE: u32 = 0xffff_fff9;
    /// OFPP_NORMAL
    pub const NORMAL: u32 = 0xffff_fffa;
    /// OFPP_FLOOD
    pub const FLOOD: u32 = 0xffff_fffb;
    /// OFPP_ALL
    pub const ALL: u32 = 0xffff_fffc;
    /// OFPP_CONTROLLER
    pub const CONTROLLER: u32 = 0xffff_fffd;
    /// OFPP_LOCAL
    pub const LOCAL: u32 = 0xffff_fffe;
    /// OFPP_ANY
    pub const ANY: u32 = 0xffff_ffff;
}

/// `ofp_port`: 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    /// port_no
    pub port_no: u32,
    /// hw_addr
    pub hw_addr: [u8; 6],
    /// name: NUL-padded, kept as the 16 raw bytes so it round-trips.
    pub name: [u8; 16],
    /// config (OFPPC_*)
    pub config: u32,
    /// state (OFPPS_*)
    pub state: u32,
    /// curr (OFPPF_*)
    pub curr: u32,
    /// advertised
    pub advertised: u32,
    /// supported
    pub supported: u32,
    /// peer
    pub peer: u32,
    /// curr_speed, kbps
    pub curr_speed: u32,
    /// max_speed, kbps
    pub max_speed: u32,
}

impl Wire for Port {
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
