//! Group buckets (`ofp_bucket`, OpenFlow 1.3.5 §7.3.4.2), shared by GROUP_MOD
//! and the GROUP_DESC multipart reply, and group-related constants.
//!
//! A bucket is `len u16, weight u16, watch_port u32, watch_group u32, pad[4]`
//! followed by actions up to `len`. `len` covers the whole bucket, so it must
//! be at least 16 and, because every action is a multiple of 8 bytes long, a
//! multiple of 8. A bucket whose length is wrong makes the whole group
//! unusable, so it maps to `GROUP_MOD_FAILED/BAD_BUCKET` (via
//! [`Element::Bucket`]); errors *inside* the actions keep their own
//! `BAD_ACTION` codes, because those say more precisely what was wrong.

use bytes::BufMut;

use crate::action::Action;
use crate::error::{Element, ParseError};
use crate::wire::{
    PResult, Wire, emit_all, fail, len_all, len_u16, parse_all, put_zeros, rebase, u16_at, u32_at,
};

/// `ofp_group_type` values (GROUP_MOD `type`).
pub mod group_type {
    /// OFPGT_ALL: every bucket is executed (multicast/broadcast).
    pub const ALL: u8 = 0;
    /// OFPGT_SELECT: one bucket is executed (load balancing).
    pub const SELECT: u8 = 1;
    /// OFPGT_INDIRECT: the single bucket is executed.
    pub const INDIRECT: u8 = 2;
    /// OFPGT_FF: the first live bucket is executed (fast failover).
    pub const FF: u8 = 3;
}

/// `ofp_group_mod_command` values.
pub mod group_mod_command {
    /// OFPGC_ADD
    pub const ADD: u16 = 0;
    /// OFPGC_MODIFY
    pub const MODIFY: u16 = 1;
    /// OFPGC_DELETE
    pub const DELETE: u16 = 2;
}

/// Reserved group numbers (`ofp_group`).
pub mod group_id {
    /// OFPG_MAX: last usable group number.
    pub const MAX: u32 = 0xffff_ff00;
    /// OFPG_ALL: all groups (GROUP_MOD delete, group stats).
    pub const ALL: u32 = 0xffff_fffc;
    /// OFPG_ANY: wildcard group (FLOW_MOD `out_group`, flow stats).
    pub const ANY: u32 = 0xffff_ffff;
}

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

impl Bucket {
    /// Length of the fixed part of `ofp_bucket`.
    pub const HEADER_LEN: usize = 16;

    /// A bucket for ALL/INDIRECT groups: weight 0, nothing watched.
    pub fn new(actions: Vec<Action>) -> Self {
        Self {
            weight: 0,
            watch_port: crate::port::port_no::ANY,
            watch_group: group_id::ANY,
            actions,
        }
    }
}

impl Wire for Bucket {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::Bucket;
        if input.len() < Self::HEADER_LEN {
            return fail(ParseError::truncated(E, input, Self::HEADER_LEN));
        }
        let (b, len) = u16_at(E, input)?;
        let len = usize::from(len);
        if len < Self::HEADER_LEN {
            return fail(ParseError::bad_length(
                E,
                input,
                len,
                Self::HEADER_LEN,
                "shorter than the bucket header",
            ));
        }
        if !len.is_multiple_of(8) {
            return fail(ParseError::bad_length(
                E,
                input,
                len,
                crate::wire::pad8(len),
                "not a multiple of 8",
            ));
        }
        if len > input.len() {
            return fail(ParseError::truncated(E, input, len));
        }
        let (b, weight) = u16_at(E, b)?;
        let (b, watch_port) = u32_at(E, b)?;
        let (_, watch_group) = u32_at(E, b)?;
        let tail = input.len() - len;
        let actions = parse_all::<Action>(&input[Self::HEADER_LEN..len])
            .map_err(|e| nom::Err::Error(rebase(e, tail)))?;
        Ok((
            &input[len..],
            Self {
                weight,
                watch_port,
                watch_group,
                actions,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        Self::HEADER_LEN + len_all(&self.actions)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        out.put_u16(self.weight);
        out.put_u32(self.watch_port);
        out.put_u32(self.watch_group);
        put_zeros(out, 4);
        emit_all(&self.actions, out);
    }
}

/// Proptest strategies for buckets (other modules' tests use them).
#[cfg(test)]
pub(crate) mod strategy {
    use super::Bucket;
    use proptest::prelude::*;

    /// Any canonical bucket.
    pub(crate) fn bucket() -> impl Strategy<Value = Bucket> {
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            crate::action::strategy::actions(),
        )
            .prop_map(|(weight, watch_port, watch_group, actions)| Bucket {
                weight,
                watch_port,
                watch_group,
                actions,
            })
    }

    /// Up to four buckets.
    pub(crate) fn buckets() -> impl Strategy<Value = Vec<Bucket>> {
        proptest::collection::vec(bucket(), 0..4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, GroupModFailedCode, ParseErrorKind};
    use crate::wire::into_error;
    use crate::wire::test_util::check_round_trip;
    use proptest::prelude::*;

    #[rustfmt::skip]
    static BUCKET: [u8; 32] = [
        0x00, 0x20,             // len 32
        0x00, 0x05,             // weight 5
        0x00, 0x00, 0x00, 0x02, // watch_port 2
        0xff, 0xff, 0xff, 0xff, // watch_group ANY
        0x00, 0x00, 0x00, 0x00, // pad
        // OUTPUT port 7, max_len 0xffe5
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x07,
        0xff, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn bucket_value() -> Bucket {
        Bucket {
            weight: 5,
            watch_port: 2,
            watch_group: group_id::ANY,
            actions: vec![Action::Output {
                port: 7,
                max_len: 0xffe5,
            }],
        }
    }

    fn err(r: PResult<'_, Bucket>) -> crate::error::ParseError {
        into_error(r.unwrap_err(), &[])
    }

    #[test]
    fn parse_bucket() {
        let mut b = BUCKET.to_vec();
        b.extend_from_slice(&[0xaa; 3]);
        let (rest, v) = Bucket::parse(&b).unwrap();
        assert_eq!(rest, &[0xaa; 3]);
        assert_eq!(v, bucket_value());
    }

    #[test]
    fn emit_bucket() {
        let v = bucket_value();
        assert_eq!(v.wire_len(), 32);
        assert_eq!(v.to_vec(), BUCKET);
    }

    #[test]
    fn empty_bucket() {
        let b = [
            0, 16, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        ];
        let v = Bucket::new(vec![]);
        assert_eq!(v.to_vec(), b);
        assert_eq!(Bucket::parse(&b).unwrap().1, v);
    }

    #[test]
    fn short_len_is_bad_bucket() {
        let mut b = BUCKET;
        b[1] = 8;
        let e = err(Bucket::parse(&b));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Bucket,
                declared: 8,
                ..
            }
        ));
        assert_eq!(e.offset(), 32, "position counted from the end");
        assert_eq!(
            e.error_code(),
            ErrorCode::GroupModFailed(GroupModFailedCode::BadBucket)
        );
    }

    #[test]
    fn unaligned_len_is_bad_bucket() {
        let mut b = BUCKET;
        b[1] = 28;
        let e = err(Bucket::parse(&b));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Bucket,
                declared: 28,
                ..
            }
        ));
    }

    #[test]
    fn len_past_input_is_truncated() {
        let mut b = BUCKET;
        b[1] = 40;
        let e = err(Bucket::parse(&b));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Bucket,
                needed: 40,
                available: 32
            }
        );
        let e = err(Bucket::parse(&BUCKET[..10]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Bucket,
                needed: 16,
                available: 10
            }
        ));
    }

    #[test]
    fn action_error_keeps_its_code_and_position() {
        // Bucket of 32 bytes whose action claims 24 bytes (only 16 left in the
        // bucket), followed by another 16-byte bucket: the action error must
        // point at the action (offset 16 from the bucket start).
        let mut b = BUCKET.to_vec();
        b[19] = 24;
        b.extend_from_slice(&[0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let e = err(Bucket::parse(&b)).located(b.len());
        assert_eq!(e.offset(), 16);
        assert_eq!(e.error_code(), ErrorCode::from_raw(2, 1));
    }

    proptest! {
        #[test]
        fn round_trip(v in strategy::bucket()) {
            check_round_trip(&v)?;
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Bucket::parse(&b);
        }
    }
}
