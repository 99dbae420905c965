//! Meter bands (`ofp_meter_band_*`, OpenFlow 1.3.5 §7.3.4.5), shared by
//! METER_MOD and the METER_CONFIG multipart reply, and meter constants.
//!
//! Every band starts with `type u16, len u16, rate u32, burst_size u32`. The
//! two standard bands are exactly 16 bytes; an experimenter band carries its
//! experimenter id and then opaque data; a band type this crate does not know
//! keeps the bytes after the common header so that it round-trips. A band with
//! an impossible length makes the meter unusable, so length errors map to
//! `METER_MOD_FAILED/BAD_BAND` (via [`Element::MeterBand`]).

use bytes::BufMut;

use crate::error::{Element, ParseError};
use crate::wire::{PResult, Wire, fail, len_u16, put_zeros, u8_at, u16_at, u32_at};

/// `ofp_meter_band_type` values.
pub mod band_type {
    /// OFPMBT_DROP: drop packets above the rate.
    pub const DROP: u16 = 1;
    /// OFPMBT_DSCP_REMARK: raise the drop precedence of packets above the rate.
    pub const DSCP_REMARK: u16 = 2;
    /// OFPMBT_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// `ofp_meter_flags` bits (METER_MOD `flags`).
pub mod meter_flags {
    /// OFPMF_KBPS: rates are in kb/s.
    pub const KBPS: u16 = 1 << 0;
    /// OFPMF_PKTPS: rates are in packets/s.
    pub const PKTPS: u16 = 1 << 1;
    /// OFPMF_BURST: use the bands' burst sizes.
    pub const BURST: u16 = 1 << 2;
    /// OFPMF_STATS: collect statistics.
    pub const STATS: u16 = 1 << 3;
}

/// `ofp_meter_mod_command` values.
pub mod meter_mod_command {
    /// OFPMC_ADD
    pub const ADD: u16 = 0;
    /// OFPMC_MODIFY
    pub const MODIFY: u16 = 1;
    /// OFPMC_DELETE
    pub const DELETE: u16 = 2;
}

/// Reserved meter numbers (`ofp_meter`).
pub mod meter_id {
    /// OFPM_MAX: last usable meter number.
    pub const MAX: u32 = 0xffff_0000;
    /// OFPM_SLOWPATH: meter for the slow datapath.
    pub const SLOWPATH: u32 = 0xffff_fffd;
    /// OFPM_CONTROLLER: meter for packets sent to the controller.
    pub const CONTROLLER: u32 = 0xffff_fffe;
    /// OFPM_ALL: all meters (delete, stats).
    pub const ALL: u32 = 0xffff_ffff;
}

/// One meter band.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeterBand {
    /// OFPMBT_DROP (1)
    Drop {
        /// Rate above which packets are dropped (units from the meter flags).
        rate: u32,
        /// Burst size (units from the meter flags).
        burst_size: u32,
    },
    /// OFPMBT_DSCP_REMARK (2)
    DscpRemark {
        /// Rate above which packets are remarked.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// How many drop-precedence levels to add.
        prec_level: u8,
    },
    /// OFPMBT_EXPERIMENTER (0xffff)
    Experimenter {
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// Experimenter id.
        experimenter: u32,
        /// The bytes after the experimenter id, verbatim.
        data: Vec<u8>,
    },
    /// Any other band type: the bytes after `type, len, rate, burst_size`.
    Unknown {
        /// The band type received (never 1, 2 or 0xffff once parsed).
        band_type: u16,
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// The bytes after the 12-byte common header, verbatim.
        body: Vec<u8>,
    },
}

/// Length of the common band header (`ofp_meter_band_header`).
const HEADER_LEN: usize = 12;
/// Length of the DROP and DSCP_REMARK bands.
const STD_LEN: usize = 16;

impl MeterBand {
    /// The band type on the wire.
    pub fn band_type(&self) -> u16 {
        match self {
            Self::Drop { .. } => band_type::DROP,
            Self::DscpRemark { .. } => band_type::DSCP_REMARK,
            Self::Experimenter { .. } => band_type::EXPERIMENTER,
            Self::Unknown { band_type, .. } => *band_type,
        }
    }

    /// The band's rate.
    pub fn rate(&self) -> u32 {
        match self {
            Self::Drop { rate, .. }
            | Self::DscpRemark { rate, .. }
            | Self::Experimenter { rate, .. }
            | Self::Unknown { rate, .. } => *rate,
        }
    }

    /// The band's burst size.
    pub fn burst_size(&self) -> u32 {
        match self {
            Self::Drop { burst_size, .. }
            | Self::DscpRemark { burst_size, .. }
            | Self::Experimenter { burst_size, .. }
            | Self::Unknown { burst_size, .. } => *burst_size,
        }
    }
}

impl Wire for MeterBand {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::MeterBand;
        if input.len() < HEADER_LEN {
            return fail(ParseError::truncated(E, input, HEADER_LEN));
        }
        let (b, ty) = u16_at(E, input)?;
        let (b, len) = u16_at(E, b)?;
        let len = usize::from(len);
        let min = match ty {
            band_type::DROP | band_type::DSCP_REMARK | band_type::EXPERIMENTER => STD_LEN,
            _ => HEADER_LEN,
        };
        if len < min {
            return fail(ParseError::bad_length(
                E,
                &input[2..],
                len,
                min,
                "shorter than the band's fixed part",
            ));
        }
        if matches!(ty, band_type::DROP | band_type::DSCP_REMARK) && len != STD_LEN {
            return fail(ParseError::bad_length(
                E,
                &input[2..],
                len,
                STD_LEN,
                "standard bands are 16 bytes",
            ));
        }
        if len > input.len() {
            return fail(ParseError::truncated(E, input, len));
        }
        let (b, rate) = u32_at(E, b)?;
        let (b, burst_size) = u32_at(E, b)?;
        let body = &b[..len - HEADER_LEN];
        let band = match ty {
            band_type::DROP => Self::Drop { rate, burst_size },
            band_type::DSCP_REMARK => {
                let (_, prec_level) = u8_at(E, body)?;
                Self::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }
            band_type::EXPERIMENTER => {
                let (data, experimenter) = u32_at(E, body)?;
                Self::Experimenter {
                    rate,
                    burst_size,
                    experimenter,
                    data: data.to_vec(),
                }
            }
            band_type => Self::Unknown {
                band_type,
                rate,
                burst_size,
                body: body.to_vec(),
            },
        };
        Ok((&input[len..], band))
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::Drop { .. } | Self::DscpRemark { .. } => STD_LEN,
            Self::Experimenter { data, .. } => STD_LEN + data.len(),
            Self::Unknown { body, .. } => HEADER_LEN + body.len(),
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.band_type());
        out.put_u16(len_u16(self.wire_len()));
        out.put_u32(self.rate());
        out.put_u32(self.burst_size());
        match self {
            Self::Drop { .. } => put_zeros(out, 4),
            Self::DscpRemark { prec_level, .. } => {
                out.put_u8(*prec_level);
                put_zeros(out, 3);
            }
            Self::Experimenter {
                experimenter, data, ..
            } => {
                out.put_u32(*experimenter);
                out.put_slice(data);
            }
            Self::Unknown { body, .. } => out.put_slice(body),
        }
    }
}

/// Proptest strategies for meter bands (other modules' tests use them).
#[cfg(test)]
pub(crate) mod strategy {
    use super::{MeterBand, band_type};
    use proptest::prelude::*;

    /// Any canonical band (unknown types never use a named type number).
    pub(crate) fn band() -> impl Strategy<Value = MeterBand> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..24);
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(rate, burst_size)| MeterBand::Drop { rate, burst_size }),
            (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(rate, burst_size, prec_level)| {
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }),
            (any::<u32>(), any::<u32>(), any::<u32>(), bytes()).prop_map(
                |(rate, burst_size, experimenter, data)| MeterBand::Experimenter {
                    rate,
                    burst_size,
                    experimenter,
                    data
                }
            ),
            (
                any::<u16>().prop_filter("named band type", |t| !matches!(
                    *t,
                    band_type::DROP | band_type::DSCP_REMARK | band_type::EXPERIMENTER
                )),
                any::<u32>(),
                any::<u32>(),
                bytes()
            )
                .prop_map(|(band_type, rate, burst_size, body)| MeterBand::Unknown {
                    band_type,
                    rate,
                    burst_size,
                    body
                }),
        ]
    }

    /// Up to four bands.
    pub(crate) fn bands() -> impl Strategy<Value = Vec<MeterBand>> {
        proptest::collection::vec(band(), 0..4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, MeterModFailedCode, ParseErrorKind};
    use crate::wire::test_util::check_round_trip;
    use crate::wire::{into_error, parse_all};
    use proptest::prelude::*;

    fn err(r: PResult<'_, MeterBand>) -> ParseError {
        into_error(r.unwrap_err(), &[])
    }

    #[rustfmt::skip]
    const DROP: [u8; 16] = [
        0x00, 0x01, 0x00, 0x10,  // DROP, len 16
        0x00, 0x00, 0x03, 0xe8,  // rate 1000
        0x00, 0x00, 0x00, 0x64,  // burst 100
        0x00, 0x00, 0x00, 0x00,  // pad
    ];

    #[rustfmt::skip]
    const DSCP: [u8; 16] = [
        0x00, 0x02, 0x00, 0x10,  // DSCP_REMARK, len 16
        0x00, 0x00, 0x00, 0x0a,  // rate 10
        0x00, 0x00, 0x00, 0x00,  // burst 0
        0x02, 0x00, 0x00, 0x00,  // prec_level 2, pad
    ];

    #[rustfmt::skip]
    const EXP: [u8; 24] = [
        0xff, 0xff, 0x00, 0x18,  // EXPERIMENTER, len 24
        0x00, 0x00, 0x00, 0x01,  // rate 1
        0x00, 0x00, 0x00, 0x02,  // burst 2
        0x00, 0x4f, 0x4b, 0x4f,  // experimenter
        1, 2, 3, 4, 5, 6, 7, 8,  // data
    ];

    #[rustfmt::skip]
    const UNKNOWN: [u8; 16] = [
        0x00, 0x07, 0x00, 0x10,  // type 7, len 16
        0x00, 0x00, 0x00, 0x01,  // rate 1
        0x00, 0x00, 0x00, 0x02,  // burst 2
        0xde, 0xad, 0xbe, 0xef,  // body
    ];

    fn values() -> [(&'static [u8], MeterBand); 4] {
        [
            (
                &DROP,
                MeterBand::Drop {
                    rate: 1000,
                    burst_size: 100,
                },
            ),
            (
                &DSCP,
                MeterBand::DscpRemark {
                    rate: 10,
                    burst_size: 0,
                    prec_level: 2,
                },
            ),
            (
                &EXP,
                MeterBand::Experimenter {
                    rate: 1,
                    burst_size: 2,
                    experimenter: 0x004f_4b4f,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
            ),
            (
                &UNKNOWN,
                MeterBand::Unknown {
                    band_type: 7,
                    rate: 1,
                    burst_size: 2,
                    body: vec![0xde, 0xad, 0xbe, 0xef],
                },
            ),
        ]
    }

    #[test]
    fn parse_bands() {
        for (bytes, value) in values() {
            let (rest, v) = MeterBand::parse(bytes).unwrap();
            assert!(rest.is_empty());
            assert_eq!(v, value);
        }
    }

    #[test]
    fn emit_bands() {
        for (bytes, value) in values() {
            assert_eq!(value.wire_len(), bytes.len());
            assert_eq!(value.to_vec(), bytes);
        }
    }

    #[test]
    fn band_list() {
        let mut b = DROP.to_vec();
        b.extend_from_slice(&DSCP);
        let v = parse_all::<MeterBand>(&b).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].rate(), 10);
        assert_eq!(v[0].band_type(), band_type::DROP);
        assert_eq!(v[0].burst_size(), 100);
    }

    #[test]
    fn wrong_standard_len_is_bad_band() {
        let mut b = DROP.to_vec();
        b[3] = 24;
        b.extend_from_slice(&[0; 8]);
        let e = err(MeterBand::parse(&b));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::MeterBand,
                declared: 24,
                actual: 16,
                ..
            }
        ));
        assert_eq!(
            e.error_code(),
            ErrorCode::MeterModFailed(MeterModFailedCode::BadBand)
        );
    }

    #[test]
    fn short_len_is_bad_band() {
        let mut b = UNKNOWN;
        b[3] = 8;
        assert!(matches!(
            err(MeterBand::parse(&b)).kind(),
            ParseErrorKind::BadLength {
                element: Element::MeterBand,
                declared: 8,
                actual: 12,
                ..
            }
        ));
        let mut b = EXP;
        b[3] = 12;
        assert!(matches!(
            err(MeterBand::parse(&b)).kind(),
            ParseErrorKind::BadLength {
                element: Element::MeterBand,
                declared: 12,
                actual: 16,
                ..
            }
        ));
    }

    #[test]
    fn truncated_band() {
        let e = err(MeterBand::parse(&EXP[..20]));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::MeterBand,
                needed: 24,
                available: 20
            }
        );
        assert_eq!(e.offset(), 20);
        let e = err(MeterBand::parse(&DROP[..5]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::MeterBand,
                needed: 12,
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn round_trip(v in strategy::band()) {
            check_round_trip(&v)?;
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = MeterBand::parse(&b);
        }
    }
}
