//! Meter bands (`ofp_meter_band_*`, OpenFlow 1.3.5 §7.3.4.5), shared by
//! METER_MOD and the METER_CONFIG multipart reply.
//!
//! SKELETON: types are the contract; parse/emit bodies are being written.

use bytes::BufMut;

use crate::wire::{PResult, Wire};

/// One meter band.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeterBand {
    /// OFPMBT_DROP (1)
    Drop { rate: u32, burst_size: u32 },
    /// OFPMBT_DSCP_REMARK (2)
    DscpRemark {
        rate: u32,
        burst_size: u32,
        prec_level: u8,
    },
    /// OFPMBT_EXPERIMENTER (0xffff)
    Experimenter {
        rate: u32,
        burst_size: u32,
        experimenter: u32,
        data: Vec<u8>,
    },
    /// Any other band type: the bytes after `type, len, rate, burst_size`.
    Unknown {
        band_type: u16,
        rate: u32,
        burst_size: u32,
        body: Vec<u8>,
    },
}

impl Wire for MeterBand {
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
