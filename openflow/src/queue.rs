//! Queue descriptions (`ofp_packet_queue` and its properties, OpenFlow 1.3.5
//! §7.2.2), used by QUEUE_GET_CONFIG_REPLY.
//!
//! A queue is `queue_id u32, port u32, len u16, pad[6]` followed by properties
//! up to `len`. Each property starts with `property u16, len u16, pad[4]`. The
//! two rate properties are exactly 16 bytes; an experimenter property carries
//! `experimenter u32, pad[4]` and opaque data; unknown properties keep the
//! bytes after their header so they round-trip. Every length error maps to
//! `BAD_REQUEST/BAD_LEN` (via [`Element::Queue`]): there is no queue-specific
//! length error code.

use bytes::BufMut;

use crate::error::{Element, ParseError};
use crate::wire::{
    PResult, Wire, emit_all, fail, len_all, len_u16, parse_all, put_zeros, rebase, u16_at, u32_at,
};

/// `ofp_queue_properties` values.
pub mod queue_prop_type {
    /// OFPQT_MIN_RATE
    pub const MIN_RATE: u16 = 1;
    /// OFPQT_MAX_RATE
    pub const MAX_RATE: u16 = 2;
    /// OFPQT_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// OFPQ_ALL: all queues (queue stats requests).
pub const OFPQ_ALL: u32 = 0xffff_ffff;
/// OFPQ_MIN_RATE_UNCFG: a minimum rate that is not configured.
pub const OFPQ_MIN_RATE_UNCFG: u16 = 0xffff;
/// OFPQ_MAX_RATE_UNCFG: a maximum rate that is not configured.
pub const OFPQ_MAX_RATE_UNCFG: u16 = 0xffff;

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
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// The bytes after `experimenter, pad[4]`, verbatim.
        data: Vec<u8>,
    },
    /// Any other property: bytes after the 8-byte property header.
    Unknown {
        /// The property type received (never 1, 2 or 0xffff once parsed).
        property: u16,
        /// The bytes after the header, verbatim.
        body: Vec<u8>,
    },
}

/// Length of the fixed part of `ofp_packet_queue`.
const QUEUE_HEADER_LEN: usize = 16;
/// Length of `ofp_queue_prop_header`.
const PROP_HEADER_LEN: usize = 8;
/// Length of the rate properties and of an experimenter property's fixed part.
const PROP_STD_LEN: usize = 16;

impl PacketQueue {
    /// A queue description.
    pub fn new(queue_id: u32, port: u32, properties: Vec<QueueProp>) -> Self {
        Self {
            queue_id,
            port,
            properties,
        }
    }
}

impl QueueProp {
    /// The property type on the wire.
    pub fn property_type(&self) -> u16 {
        match self {
            Self::MinRate(_) => queue_prop_type::MIN_RATE,
            Self::MaxRate(_) => queue_prop_type::MAX_RATE,
            Self::Experimenter { .. } => queue_prop_type::EXPERIMENTER,
            Self::Unknown { property, .. } => *property,
        }
    }
}

impl Wire for PacketQueue {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::Queue;
        if input.len() < QUEUE_HEADER_LEN {
            return fail(ParseError::truncated(E, input, QUEUE_HEADER_LEN));
        }
        let (b, queue_id) = u32_at(E, input)?;
        let (b, port) = u32_at(E, b)?;
        let (_, len) = u16_at(E, b)?;
        let len = usize::from(len);
        if len < QUEUE_HEADER_LEN {
            return fail(ParseError::bad_length(
                E,
                &input[8..],
                len,
                QUEUE_HEADER_LEN,
                "shorter than the queue header",
            ));
        }
        if len > input.len() {
            return fail(ParseError::truncated(E, input, len));
        }
        let tail = input.len() - len;
        let properties = parse_all::<QueueProp>(&input[QUEUE_HEADER_LEN..len])
            .map_err(|e| nom::Err::Error(rebase(e, tail)))?;
        Ok((
            &input[len..],
            Self {
                queue_id,
                port,
                properties,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        QUEUE_HEADER_LEN + len_all(&self.properties)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.queue_id);
        out.put_u32(self.port);
        out.put_u16(len_u16(self.wire_len()));
        put_zeros(out, 6);
        emit_all(&self.properties, out);
    }
}

impl Wire for QueueProp {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::Queue;
        if input.len() < PROP_HEADER_LEN {
            return fail(ParseError::truncated(E, input, PROP_HEADER_LEN));
        }
        let (b, property) = u16_at(E, input)?;
        let (_, len) = u16_at(E, b)?;
        let len = usize::from(len);
        let (min, exact) = match property {
            queue_prop_type::MIN_RATE | queue_prop_type::MAX_RATE => (PROP_STD_LEN, true),
            queue_prop_type::EXPERIMENTER => (PROP_STD_LEN, false),
            _ => (PROP_HEADER_LEN, false),
        };
        if len < min || (exact && len != min) {
            return fail(ParseError::bad_length(
                E,
                &input[2..],
                len,
                min,
                if exact {
                    "rate properties are 16 bytes"
                } else {
                    "shorter than the property's fixed part"
                },
            ));
        }
        if len > input.len() {
            return fail(ParseError::truncated(E, input, len));
        }
        let body = &input[PROP_HEADER_LEN..len];
        let prop = match property {
            queue_prop_type::MIN_RATE => Self::MinRate(u16_at(E, body)?.1),
            queue_prop_type::MAX_RATE => Self::MaxRate(u16_at(E, body)?.1),
            queue_prop_type::EXPERIMENTER => Self::Experimenter {
                experimenter: u32_at(E, body)?.1,
                data: body[8..].to_vec(),
            },
            property => Self::Unknown {
                property,
                body: body.to_vec(),
            },
        };
        Ok((&input[len..], prop))
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::MinRate(_) | Self::MaxRate(_) => PROP_STD_LEN,
            Self::Experimenter { data, .. } => PROP_STD_LEN + data.len(),
            Self::Unknown { body, .. } => PROP_HEADER_LEN + body.len(),
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.property_type());
        out.put_u16(len_u16(self.wire_len()));
        put_zeros(out, 4);
        match self {
            Self::MinRate(rate) | Self::MaxRate(rate) => {
                out.put_u16(*rate);
                put_zeros(out, 6);
            }
            Self::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                put_zeros(out, 4);
                out.put_slice(data);
            }
            Self::Unknown { body, .. } => out.put_slice(body),
        }
    }
}

/// Proptest strategies for queue descriptions.
#[cfg(test)]
pub(crate) mod strategy {
    use super::{PacketQueue, QueueProp, queue_prop_type};
    use proptest::prelude::*;

    /// Any canonical property.
    pub(crate) fn prop() -> impl Strategy<Value = QueueProp> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..24);
        prop_oneof![
            any::<u16>().prop_map(QueueProp::MinRate),
            any::<u16>().prop_map(QueueProp::MaxRate),
            (any::<u32>(), bytes())
                .prop_map(|(experimenter, data)| QueueProp::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("named property", |p| !matches!(
                    *p,
                    queue_prop_type::MIN_RATE
                        | queue_prop_type::MAX_RATE
                        | queue_prop_type::EXPERIMENTER
                )),
                bytes()
            )
                .prop_map(|(property, body)| QueueProp::Unknown { property, body }),
        ]
    }

    /// Any canonical queue with up to three properties.
    pub(crate) fn queue() -> impl Strategy<Value = PacketQueue> {
        (
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(prop(), 0..3),
        )
            .prop_map(|(queue_id, port, properties)| PacketQueue {
                queue_id,
                port,
                properties,
            })
    }

    /// Up to three queues.
    pub(crate) fn queues() -> impl Strategy<Value = Vec<PacketQueue>> {
        proptest::collection::vec(queue(), 0..3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ParseErrorKind};
    use crate::wire::into_error;
    use crate::wire::test_util::check_round_trip;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const QUEUE: [u8; 64] = [
        0x00, 0x00, 0x00, 0x01,             // queue_id 1
        0x00, 0x00, 0x00, 0x02,             // port 2
        0x00, 0x40,                         // len 64
        0, 0, 0, 0, 0, 0,                   // pad
        0x00, 0x01, 0x00, 0x10, 0, 0, 0, 0, // MIN_RATE, len 16
        0x00, 0x64, 0, 0, 0, 0, 0, 0,       // rate 100 (10%)
        0x00, 0x02, 0x00, 0x10, 0, 0, 0, 0, // MAX_RATE, len 16
        0x03, 0xe8, 0, 0, 0, 0, 0, 0,       // rate 1000 (100%)
        0xff, 0xff, 0x00, 0x10, 0, 0, 0, 0, // EXPERIMENTER, len 16
        0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 0, // experimenter, pad; no data
    ];

    fn queue_value() -> PacketQueue {
        PacketQueue::new(
            1,
            2,
            vec![
                QueueProp::MinRate(100),
                QueueProp::MaxRate(1000),
                QueueProp::Experimenter {
                    experimenter: 0x004f_4b4f,
                    data: vec![],
                },
            ],
        )
    }

    fn err<T>(r: PResult<'_, T>) -> ParseError {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => into_error(e, &[]),
        }
    }

    #[test]
    fn parse_queue() {
        let (rest, q) = PacketQueue::parse(&QUEUE).unwrap();
        assert!(rest.is_empty());
        assert_eq!(q, queue_value());
    }

    #[test]
    fn emit_queue() {
        let q = queue_value();
        assert_eq!(q.wire_len(), 64);
        assert_eq!(q.to_vec(), QUEUE);
    }

    #[test]
    fn unknown_and_experimenter_props_keep_bytes() {
        #[rustfmt::skip]
        let b = [
            0x00, 0x09, 0x00, 0x0c, 0, 0, 0, 0, 1, 2, 3, 4,             // type 9, len 12
            0xff, 0xff, 0x00, 0x14, 0, 0, 0, 0,                         // EXPERIMENTER, len 20
            0x00, 0x00, 0x23, 0x20, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, // id, pad, data
        ];
        let v = parse_all::<QueueProp>(&b).unwrap();
        assert_eq!(
            v,
            [
                QueueProp::Unknown {
                    property: 9,
                    body: vec![1, 2, 3, 4]
                },
                QueueProp::Experimenter {
                    experimenter: 0x2320,
                    data: vec![0xaa, 0xbb, 0xcc, 0xdd]
                }
            ]
        );
        let mut out = Vec::new();
        emit_all(&v, &mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn short_queue_len() {
        let mut b = QUEUE;
        b[9] = 8;
        let e = err(PacketQueue::parse(&b)).located(b.len());
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Queue,
                declared: 8,
                ..
            }
        ));
        assert_eq!(e.offset(), 8, "points at the len field");
        assert_eq!(e.error_code(), ErrorCode::from_raw(1, 6));
    }

    #[test]
    fn queue_len_past_input() {
        let e = err(PacketQueue::parse(&QUEUE[..60]));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Queue,
                needed: 64,
                available: 60
            }
        );
    }

    #[test]
    fn bad_prop_len_points_into_the_queue() {
        // MAX_RATE property claiming 24 bytes; followed by another queue.
        let mut b = QUEUE.to_vec();
        b[35] = 24;
        b.extend_from_slice(&QUEUE);
        let e = err(PacketQueue::parse(&b)).located(b.len());
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Queue,
                declared: 24,
                actual: 16,
                ..
            }
        ));
        assert_eq!(e.offset(), 34);
        // A property that runs past the end of its queue.
        let mut b = QUEUE.to_vec();
        b[51] = 24;
        b.extend_from_slice(&QUEUE);
        let e = err(PacketQueue::parse(&b)).located(b.len());
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Queue,
                needed: 24,
                available: 16
            }
        ));
        assert_eq!(e.offset(), 48);
    }

    proptest! {
        #[test]
        fn round_trip(q in strategy::queue()) {
            check_round_trip(&q)?;
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = PacketQueue::parse(&b);
        }
    }
}
