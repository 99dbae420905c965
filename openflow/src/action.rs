//! Actions (OpenFlow 1.3.5 §7.2.5).
//!
//! Every action starts with `type u16, len u16`; `len` counts the whole
//! action, is at least 8 and a multiple of 8, so a list of actions can be
//! walked without knowing every type. This module relies on that: a type it
//! does not name is kept as [`Action::Unknown`] (its body verbatim) and the
//! switch rejects it later with `BAD_ACTION/BAD_TYPE` from
//! [`Action::validate`], while the rest of the message still parses.
//!
//! Parsing is strict about layout and lenient about content: a known action
//! whose `len` differs from its fixed size is a `BAD_ACTION/BAD_LEN` parse
//! error, but padding bytes are never inspected. Emitting always writes zero
//! padding, so for every byte string `b` the parser accepts with zero padding,
//! `emit(parse(b)) == b`.
//!
//! SET_FIELD embeds one OXM TLV (see [`crate::oxm`]). Its `len` must be
//! exactly the OXM padded to 8 bytes; any other length is
//! `BAD_ACTION/BAD_SET_LEN`. Problems inside the OXM are reported as
//! set-field errors too (a wrong field length as `BAD_SET_LEN`, a mask on a
//! field that cannot have one as `BAD_SET_ARGUMENT`), because the controller
//! sent an action, not a match.
//!
//! What is left to the switch: whether an output port, queue or group
//! exists, and whether a set-field is consistent with the flow's match.

use bytes::BufMut;

use crate::error::{BadActionCode, BadMatchCode, Element, ErrorCode, ParseError, ParseErrorKind};
use crate::oxm::{Oxm, field};
use crate::wire::{PResult, Wire, fail, len_u16, pad8, put_zeros};
use crate::wire::{into_error, rebase};

/// `ofp_action_type` values.
pub mod action_type {
    /// OFPAT_OUTPUT
    pub const OUTPUT: u16 = 0;
    /// OFPAT_COPY_TTL_OUT
    pub const COPY_TTL_OUT: u16 = 11;
    /// OFPAT_COPY_TTL_IN
    pub const COPY_TTL_IN: u16 = 12;
    /// OFPAT_SET_MPLS_TTL
    pub const SET_MPLS_TTL: u16 = 15;
    /// OFPAT_DEC_MPLS_TTL
    pub const DEC_MPLS_TTL: u16 = 16;
    /// OFPAT_PUSH_VLAN
    pub const PUSH_VLAN: u16 = 17;
    /// OFPAT_POP_VLAN
    pub const POP_VLAN: u16 = 18;
    /// OFPAT_PUSH_MPLS
    pub const PUSH_MPLS: u16 = 19;
    /// OFPAT_POP_MPLS
    pub const POP_MPLS: u16 = 20;
    /// OFPAT_SET_QUEUE
    pub const SET_QUEUE: u16 = 21;
    /// OFPAT_GROUP
    pub const GROUP: u16 = 22;
    /// OFPAT_SET_NW_TTL
    pub const SET_NW_TTL: u16 = 23;
    /// OFPAT_DEC_NW_TTL
    pub const DEC_NW_TTL: u16 = 24;
    /// OFPAT_SET_FIELD
    pub const SET_FIELD: u16 = 25;
    /// OFPAT_PUSH_PBB
    pub const PUSH_PBB: u16 = 26;
    /// OFPAT_POP_PBB
    pub const POP_PBB: u16 = 27;
    /// OFPAT_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;

    /// Whether `t` is one of the action types above (those decode to a
    /// variant other than `Unknown`).
    pub const fn is_known(t: u16) -> bool {
        matches!(
            t,
            OUTPUT | COPY_TTL_OUT | COPY_TTL_IN | 15..=27 | EXPERIMENTER
        )
    }
}

/// `OFPCML_MAX`: the largest `max_len` that asks for a truncated packet-in.
pub const OFPCML_MAX: u16 = 0xffe5;
/// `OFPCML_NO_BUFFER`: send the whole packet to the controller, unbuffered.
pub const OFPCML_NO_BUFFER: u16 = 0xffff;

/// One action. Lists of actions are `Vec<Action>` parsed with
/// [`crate::wire::parse_all`] from their length-delimited region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// OFPAT_OUTPUT (0)
    Output {
        /// Output port (`ofp_port_no`, including the reserved ports).
        port: u32,
        /// Bytes of the packet to send when `port` is CONTROLLER
        /// ([`OFPCML_NO_BUFFER`] = whole packet).
        max_len: u16,
    },
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
    ///
    /// When `data.len()` is not a multiple of 8, `emit` pads it with zeros.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// The `len - 8` bytes after the experimenter id.
        data: Vec<u8>,
    },
    /// Any other action type: the bytes after the 4-byte type/len header.
    ///
    /// When `4 + body.len()` is not a multiple of 8, `emit` pads with zeros.
    Unknown {
        /// `ofp_action_header.type`.
        action_type: u16,
        /// The `len - 4` bytes after the header.
        body: Vec<u8>,
    },
}

/// Reads a `u16` at `at` in `b`; callers have checked the length, the zero
/// fallback only keeps the function total.
#[inline]
pub(crate) fn u16_in(b: &[u8], at: usize) -> u16 {
    match b.get(at..).and_then(<[u8]>::first_chunk::<2>) {
        Some(a) => u16::from_be_bytes(*a),
        None => 0,
    }
}

/// Reads a `u32` at `at` in `b` (see [`u16_in`]).
#[inline]
pub(crate) fn u32_in(b: &[u8], at: usize) -> u32 {
    match b.get(at..).and_then(<[u8]>::first_chunk::<4>) {
        Some(a) => u32::from_be_bytes(*a),
        None => 0,
    }
}

/// Reads a `u64` at `at` in `b` (see [`u16_in`]).
#[inline]
pub(crate) fn u64_in(b: &[u8], at: usize) -> u64 {
    match b.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        Some(a) => u64::from_be_bytes(*a),
        None => 0,
    }
}

impl Action {
    /// `ofp_action_header.type`.
    pub const fn action_type(&self) -> u16 {
        use action_type as t;
        match self {
            Self::Output { .. } => t::OUTPUT,
            Self::CopyTtlOut => t::COPY_TTL_OUT,
            Self::CopyTtlIn => t::COPY_TTL_IN,
            Self::SetMplsTtl(_) => t::SET_MPLS_TTL,
            Self::DecMplsTtl => t::DEC_MPLS_TTL,
            Self::PushVlan(_) => t::PUSH_VLAN,
            Self::PopVlan => t::POP_VLAN,
            Self::PushMpls(_) => t::PUSH_MPLS,
            Self::PopMpls(_) => t::POP_MPLS,
            Self::SetQueue(_) => t::SET_QUEUE,
            Self::Group(_) => t::GROUP,
            Self::SetNwTtl(_) => t::SET_NW_TTL,
            Self::DecNwTtl => t::DEC_NW_TTL,
            Self::SetField(_) => t::SET_FIELD,
            Self::PushPbb(_) => t::PUSH_PBB,
            Self::PopPbb => t::POP_PBB,
            Self::Experimenter { .. } => t::EXPERIMENTER,
            Self::Unknown { action_type, .. } => *action_type,
        }
    }

    /// Checks that need no switch state, in this order:
    ///
    /// - [`Action::Unknown`] → `BAD_ACTION/BAD_TYPE`;
    /// - [`Action::Experimenter`] → `BAD_ACTION/BAD_EXPERIMENTER` (this switch
    ///   implements no experimenter actions);
    /// - [`Action::SetField`] with
    ///   - an unknown or experimenter OXM, or a field that is not a packet
    ///     header field (IN_PORT, IN_PHY_PORT, METADATA, IPV6_EXTHDR) →
    ///     `BAD_ACTION/BAD_SET_TYPE`;
    ///   - a mask → `BAD_ACTION/BAD_SET_ARGUMENT` (OpenFlow 1.3 set-field has
    ///     no masks);
    ///   - a value outside the field's range ([`Oxm::value_in_range`]) →
    ///     `BAD_ACTION/BAD_SET_ARGUMENT`.
    ///
    /// Not checked (the switch knows): port, queue and group existence,
    /// `max_len`, and set-field prerequisites against the flow's match
    /// (`BAD_ACTION/MATCH_INCONSISTENT`; see [`crate::oxm::Match::prereq_ok`]).
    pub fn validate(&self) -> Result<(), ErrorCode> {
        let err = |c| Err(ErrorCode::BadAction(c));
        match self {
            Self::Unknown { .. } => err(BadActionCode::BadType),
            Self::Experimenter { .. } => err(BadActionCode::BadExperimenter),
            Self::SetField(oxm) => {
                let not_header = matches!(
                    oxm.field(),
                    field::IN_PORT | field::IN_PHY_PORT | field::METADATA | field::IPV6_EXTHDR
                );
                if !oxm.is_basic() || not_header {
                    err(BadActionCode::BadSetType)
                } else if oxm.has_mask() || !oxm.value_in_range() {
                    err(BadActionCode::BadSetArgument)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// Turns an error inside a SET_FIELD's OXM into the set-field error a switch
/// sends (`BAD_SET_ARGUMENT` for a forbidden mask, `BAD_SET_LEN` otherwise),
/// positioned in the whole input (`after` bytes follow `body`).
fn set_field_error(e: nom::Err<ParseError>, body: &[u8], after: usize) -> nom::Err<ParseError> {
    let e = rebase(into_error(e, body), after);
    let (code, reason) = match e.kind() {
        ParseErrorKind::Invalid {
            code: ErrorCode::BadMatch(BadMatchCode::BadMask),
            ..
        } => (
            BadActionCode::BadSetArgument,
            "set-field OXM has a mask its field cannot have",
        ),
        _ => (
            BadActionCode::BadSetLen,
            "set-field OXM length is wrong for its field",
        ),
    };
    nom::Err::Error(ParseError::new(
        ParseErrorKind::Invalid {
            element: Element::Action,
            code: ErrorCode::BadAction(code),
            reason,
        },
        e.offset(),
    ))
}

impl Wire for Action {
    /// Errors: fewer than 4 bytes, or fewer than `len` → `Truncated { element:
    /// Action }`; `len` < 8 or not a multiple of 8, or a fixed-size action
    /// whose `len` differs from its size → `BadLength { element: Action }`
    /// (`BAD_ACTION/BAD_LEN`); SET_FIELD whose `len` is not
    /// `pad8(4 + oxm_len)`, or whose OXM is malformed → `Invalid` with
    /// `BAD_ACTION/BAD_SET_LEN` (or `BAD_SET_ARGUMENT` for a forbidden mask).
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        use action_type as t;
        let Some(hdr) = input.first_chunk::<4>() else {
            return fail(ParseError::truncated(Element::Action, input, 4));
        };
        let ty = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if len < 8 || !len.is_multiple_of(8) {
            return fail(ParseError::bad_length(
                Element::Action,
                input,
                len,
                pad8(len).max(8),
                "not a non-zero multiple of 8",
            ));
        }
        let Some((whole, rest)) = input.split_at_checked(len) else {
            return fail(ParseError::truncated(Element::Action, input, len));
        };
        let body = whole.get(4..).unwrap_or_default();
        let fixed = |size: usize| {
            if len == size {
                Ok(())
            } else {
                Err(nom::Err::Error(ParseError::bad_length(
                    Element::Action,
                    input,
                    len,
                    size,
                    "differs from the action's fixed size",
                )))
            }
        };
        let action = match ty {
            t::OUTPUT => {
                fixed(16)?;
                Action::Output {
                    port: u32_in(body, 0),
                    max_len: u16_in(body, 4),
                }
            }
            t::COPY_TTL_OUT => fixed(8).map(|()| Action::CopyTtlOut)?,
            t::COPY_TTL_IN => fixed(8).map(|()| Action::CopyTtlIn)?,
            t::DEC_MPLS_TTL => fixed(8).map(|()| Action::DecMplsTtl)?,
            t::POP_VLAN => fixed(8).map(|()| Action::PopVlan)?,
            t::DEC_NW_TTL => fixed(8).map(|()| Action::DecNwTtl)?,
            t::POP_PBB => fixed(8).map(|()| Action::PopPbb)?,
            t::SET_MPLS_TTL => fixed(8).map(|()| Action::SetMplsTtl(whole[4]))?,
            t::SET_NW_TTL => fixed(8).map(|()| Action::SetNwTtl(whole[4]))?,
            t::PUSH_VLAN => fixed(8).map(|()| Action::PushVlan(u16_in(body, 0)))?,
            t::PUSH_MPLS => fixed(8).map(|()| Action::PushMpls(u16_in(body, 0)))?,
            t::POP_MPLS => fixed(8).map(|()| Action::PopMpls(u16_in(body, 0)))?,
            t::PUSH_PBB => fixed(8).map(|()| Action::PushPbb(u16_in(body, 0)))?,
            t::SET_QUEUE => fixed(8).map(|()| Action::SetQueue(u32_in(body, 0)))?,
            t::GROUP => fixed(8).map(|()| Action::Group(u32_in(body, 0)))?,
            t::SET_FIELD => {
                // len ≥ 8, so the OXM header is there; its length byte is body[3].
                let oxm_len = usize::from(whole[7]);
                if len != pad8(8 + oxm_len) {
                    return fail(ParseError::invalid(
                        Element::Action,
                        input,
                        ErrorCode::BadAction(BadActionCode::BadSetLen),
                        "length is not the OXM's length padded to 8",
                    ));
                }
                let (_padding, oxm) =
                    Oxm::parse(body).map_err(|e| set_field_error(e, body, rest.len()))?;
                Action::SetField(oxm)
            }
            t::EXPERIMENTER => Action::Experimenter {
                experimenter: u32_in(body, 0),
                data: body.get(4..).unwrap_or_default().to_vec(),
            },
            _ => Action::Unknown {
                action_type: ty,
                body: body.to_vec(),
            },
        };
        Ok((rest, action))
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::Output { .. } => 16,
            Self::SetField(oxm) => pad8(4 + oxm.wire_len()),
            Self::Experimenter { data, .. } => pad8(8 + data.len()),
            Self::Unknown { body, .. } => pad8(4 + body.len()),
            _ => 8,
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        let len = self.wire_len();
        out.put_u16(self.action_type());
        out.put_u16(len_u16(len));
        match self {
            Self::Output { port, max_len } => {
                out.put_u32(*port);
                out.put_u16(*max_len);
                put_zeros(out, 6);
            }
            Self::CopyTtlOut
            | Self::CopyTtlIn
            | Self::DecMplsTtl
            | Self::PopVlan
            | Self::DecNwTtl
            | Self::PopPbb => put_zeros(out, 4),
            Self::SetMplsTtl(ttl) | Self::SetNwTtl(ttl) => {
                out.put_u8(*ttl);
                put_zeros(out, 3);
            }
            Self::PushVlan(e) | Self::PushMpls(e) | Self::PopMpls(e) | Self::PushPbb(e) => {
                out.put_u16(*e);
                put_zeros(out, 2);
            }
            Self::SetQueue(v) | Self::Group(v) => out.put_u32(*v),
            Self::SetField(oxm) => {
                oxm.emit(out);
                put_zeros(out, len - 4 - oxm.wire_len());
            }
            Self::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                out.put_slice(data);
                put_zeros(out, len - 8 - data.len());
            }
            Self::Unknown { body, .. } => {
                out.put_slice(body);
                put_zeros(out, len - 4 - body.len());
            }
        }
    }
}

/// Proptest strategies producing canonical actions (exactly what the parser
/// can return), for this crate's round-trip tests.
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any action the parser can produce: all 16 standard actions (SET_FIELD
    /// with any OXM, see [`crate::oxm::strategy::oxm`]), experimenter actions
    /// with 8-byte-aligned data, and unknown types with aligned bodies.
    pub(crate) fn action() -> BoxedStrategy<Action> {
        let aligned =
            |extra: usize| (0usize..4).prop_flat_map(move |n| vec(any::<u8>(), n * 8 + extra));
        prop_oneof![
            (any::<u32>(), any::<u16>())
                .prop_map(|(port, max_len)| Action::Output { port, max_len }),
            Just(Action::CopyTtlOut),
            Just(Action::CopyTtlIn),
            any::<u8>().prop_map(Action::SetMplsTtl),
            Just(Action::DecMplsTtl),
            any::<u16>().prop_map(Action::PushVlan),
            Just(Action::PopVlan),
            any::<u16>().prop_map(Action::PushMpls),
            any::<u16>().prop_map(Action::PopMpls),
            any::<u32>().prop_map(Action::SetQueue),
            any::<u32>().prop_map(Action::Group),
            any::<u8>().prop_map(Action::SetNwTtl),
            Just(Action::DecNwTtl),
            crate::oxm::strategy::oxm().prop_map(Action::SetField),
            any::<u16>().prop_map(Action::PushPbb),
            Just(Action::PopPbb),
            (any::<u32>(), aligned(0))
                .prop_map(|(experimenter, data)| Action::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("unknown type", |t| !action_type::is_known(*t)),
                aligned(4)
            )
                .prop_map(|(action_type, body)| Action::Unknown { action_type, body }),
        ]
        .boxed()
    }

    /// A list of up to 6 actions.
    pub(crate) fn actions() -> BoxedStrategy<Vec<Action>> {
        vec(action(), 0..6).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oxm::{Match, OFPVID_PRESENT};
    use crate::wire::test_util::{check_list_round_trip, check_round_trip, hex};
    use crate::wire::{emit_all, into_error, len_all, parse_all};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn err(bytes: &[u8]) -> ParseError {
        into_error(Action::parse(bytes).unwrap_err(), bytes)
    }

    /// Every action type, written from the spec's `ofp_action_*` layouts.
    fn vectors() -> Vec<(Action, &'static str)> {
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        vec![
            (
                Action::Output {
                    port: 1,
                    max_len: OFPCML_NO_BUFFER,
                },
                "0000 0010 00000001 ffff 000000000000",
            ),
            (
                Action::Output {
                    port: 0xffff_fffd,
                    max_len: 128,
                },
                "0000 0010 fffffffd 0080 000000000000",
            ),
            (Action::CopyTtlOut, "000b 0008 00000000"),
            (Action::CopyTtlIn, "000c 0008 00000000"),
            (Action::SetMplsTtl(64), "000f 0008 40 000000"),
            (Action::DecMplsTtl, "0010 0008 00000000"),
            (Action::PushVlan(0x8100), "0011 0008 8100 0000"),
            (Action::PopVlan, "0012 0008 00000000"),
            (Action::PushMpls(0x8847), "0013 0008 8847 0000"),
            (Action::PopMpls(0x0800), "0014 0008 0800 0000"),
            (Action::SetQueue(7), "0015 0008 00000007"),
            (Action::Group(0x10), "0016 0008 00000010"),
            (Action::SetNwTtl(32), "0017 0008 20 000000"),
            (Action::DecNwTtl, "0018 0008 00000000"),
            // 4 + 6-byte OXM = 10, padded to 16.
            (
                Action::SetField(Oxm::VlanVid {
                    value: OFPVID_PRESENT | 3,
                    mask: None,
                }),
                "0019 0010 80000c02 1003 000000000000",
            ),
            // 4 + 20-byte OXM = 24: no padding.
            (
                Action::SetField(Oxm::Ipv6Src {
                    value: v6,
                    mask: None,
                }),
                "0019 0018 80003410 20010db8000000000000000000000001",
            ),
            (
                Action::SetField(Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(10, 0, 0, 9),
                    mask: None,
                }),
                "0019 0010 80001804 0a000009 0000 0000",
            ),
            (Action::PushPbb(0x88e7), "001a 0008 88e7 0000"),
            (Action::PopPbb, "001b 0008 00000000"),
            (
                Action::Experimenter {
                    experimenter: 0x2320,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
                "ffff 0010 00002320 0102030405060708",
            ),
            (
                Action::Experimenter {
                    experimenter: 0x004F_4B4F,
                    data: vec![],
                },
                "ffff 0008 004f4b4f",
            ),
            // OF1.0's SET_VLAN_VID (1) is not an OpenFlow 1.3 action.
            (
                Action::Unknown {
                    action_type: 1,
                    body: vec![0, 5, 0, 0],
                },
                "0001 0008 0005 0000",
            ),
            (
                Action::Unknown {
                    action_type: 0x1234,
                    body: vec![9; 12],
                },
                "1234 0010 090909090909090909090909",
            ),
        ]
    }

    #[test]
    fn every_action_byte_exact() {
        let mut seen = Vec::new();
        for (action, h) in vectors() {
            let bytes = hex(h);
            assert_eq!(
                Action::parse(&bytes),
                Ok((&[][..], action.clone())),
                "parse {action:?}"
            );
            assert_eq!(action.to_vec(), bytes, "emit {action:?}");
            assert_eq!(action.wire_len(), bytes.len(), "wire_len {action:?}");
            assert_eq!(
                action.action_type(),
                u16::from_be_bytes([bytes[0], bytes[1]])
            );
            seen.push(action.action_type());
        }
        for t in (0..=u16::MAX).filter(|t| action_type::is_known(*t)) {
            assert!(seen.contains(&t), "action type {t} has no vector");
        }
        assert_eq!(
            (0..=u16::MAX).filter(|t| action_type::is_known(*t)).count(),
            17
        );
    }

    #[test]
    fn action_list_round_trip() {
        let bytes = hex("0012 0008 00000000  0000 0010 00000002 0000 000000000000");
        let list: Vec<Action> = parse_all(&bytes).unwrap();
        assert_eq!(
            list,
            vec![
                Action::PopVlan,
                Action::Output {
                    port: 2,
                    max_len: 0
                }
            ]
        );
        let mut out = Vec::new();
        emit_all(&list, &mut out);
        assert_eq!(out, bytes);
        assert_eq!(len_all(&list), bytes.len());
    }

    #[test]
    fn padding_is_ignored_on_parse_and_zero_on_emit() {
        let bytes = hex("0000 0010 00000001 ffff abababababab");
        let (_, a) = Action::parse(&bytes).unwrap();
        assert_eq!(a.to_vec(), hex("0000 0010 00000001 ffff 000000000000"));
        let bytes = hex("0019 0010 80000a02 0800 ffffffffffff");
        let (_, a) = Action::parse(&bytes).unwrap();
        assert_eq!(a, Action::SetField(Oxm::EthType(0x0800)));
        assert_eq!(a.to_vec(), hex("0019 0010 80000a02 0800 000000000000"));
    }

    #[test]
    fn truncated_actions() {
        let e = err(&[0, 0]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Action,
                needed: 4,
                available: 2
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));

        let e = err(&hex("0000 0010 00000001"));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Action,
                needed: 16,
                available: 8
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
    }

    #[test]
    fn bad_lengths() {
        for h in [
            "0012 0000 00000000",          // zero
            "0012 0004 00000000",          // bare header
            "0012 000c 00000000 00000000", // not a multiple of 8
            "ffff 0004 00000000",
            "0063 0006 00000000",
        ] {
            let e = err(&hex(h));
            assert!(
                matches!(
                    e.kind(),
                    ParseErrorKind::BadLength {
                        element: Element::Action,
                        ..
                    }
                ),
                "{h}: {e}"
            );
            assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
        }
        // Fixed-size actions with another (aligned) length.
        let e = err(&hex("0000 0008 00000001"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Action,
                declared: 8,
                actual: 16,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
        let e = err(&hex("0012 0010 00000000 00000000 00000000"));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Action,
                declared: 16,
                actual: 8,
                ..
            }
        ));
    }

    fn assert_set_error(h: &str, code: BadActionCode) {
        let e = err(&hex(h));
        assert!(
            matches!(
                e.kind(),
                ParseErrorKind::Invalid {
                    element: Element::Action,
                    ..
                }
            ),
            "{h}: {e}"
        );
        assert_eq!(e.error_code(), ErrorCode::BadAction(code), "{h}");
    }

    #[test]
    fn set_field_bad_len() {
        // A 6-byte OXM needs exactly 16 bytes; 24 is too long.
        assert_set_error(
            "0019 0018 80000c02 1003 000000000000 0000000000000000",
            BadActionCode::BadSetLen,
        );
        // An OXM that runs past the action.
        assert_set_error("0019 0008 80000c08 0000", BadActionCode::BadSetLen);
        // An OXM whose length is wrong for its field (in_port with 2 bytes).
        assert_set_error(
            "0019 0010 80000002 0001 000000000000",
            BadActionCode::BadSetLen,
        );
        // An experimenter OXM without room for its id.
        assert_set_error(
            "0019 0010 ffff0202 0000 000000000000",
            BadActionCode::BadSetLen,
        );
    }

    #[test]
    fn set_field_mask_on_a_non_maskable_field() {
        assert_set_error(
            "0019 0010 80000108 00000001 00000001",
            BadActionCode::BadSetArgument,
        );
    }

    #[test]
    fn set_field_error_is_located_in_the_whole_input() {
        let bytes = hex("0012 0008 00000000  0019 0010 80000002 0001 000000000000");
        let e = parse_all::<Action>(&bytes)
            .map(|_| ())
            .unwrap_err()
            .located(bytes.len());
        assert_eq!(
            e.error_code(),
            ErrorCode::BadAction(BadActionCode::BadSetLen)
        );
        // The OXM starts at offset 8 + 4.
        assert_eq!(e.offset(), 12);
    }

    #[test]
    fn validate() {
        let exp_oxm = Oxm::Experimenter {
            field: 1,
            has_mask: false,
            experimenter: 0x004F_4B4F,
            payload: vec![0, 0, 0, 1],
        };
        let unknown_oxm = Oxm::Unknown {
            class: 1,
            field: 1,
            has_mask: false,
            payload: vec![],
        };
        let bad = |c| Err(ErrorCode::BadAction(c));
        let cases = [
            (
                Action::Output {
                    port: 1,
                    max_len: 0,
                },
                Ok(()),
            ),
            (Action::PopVlan, Ok(())),
            (
                Action::SetField(Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(1, 2, 3, 4),
                    mask: None,
                }),
                Ok(()),
            ),
            (Action::SetField(Oxm::VlanPcp(7)), Ok(())),
            (
                Action::Unknown {
                    action_type: 1,
                    body: vec![0; 4],
                },
                bad(BadActionCode::BadType),
            ),
            (
                Action::Experimenter {
                    experimenter: 0x2320,
                    data: vec![],
                },
                bad(BadActionCode::BadExperimenter),
            ),
            (Action::SetField(exp_oxm), bad(BadActionCode::BadSetType)),
            (
                Action::SetField(unknown_oxm),
                bad(BadActionCode::BadSetType),
            ),
            (
                Action::SetField(Oxm::InPort(1)),
                bad(BadActionCode::BadSetType),
            ),
            (
                Action::SetField(Oxm::Metadata {
                    value: 1,
                    mask: None,
                }),
                bad(BadActionCode::BadSetType),
            ),
            (
                Action::SetField(Oxm::EthDst {
                    value: [1; 6],
                    mask: Some([0xff; 6]),
                }),
                bad(BadActionCode::BadSetArgument),
            ),
            (
                Action::SetField(Oxm::VlanPcp(8)),
                bad(BadActionCode::BadSetArgument),
            ),
        ];
        for (a, want) in cases {
            assert_eq!(a.validate(), want, "{a:?}");
        }
    }

    #[test]
    fn set_field_prerequisites_via_match() {
        let m = Match {
            fields: vec![Oxm::EthType(0x0800)],
        };
        assert!(m.prereq_ok(&Oxm::Ipv4Src {
            value: Ipv4Addr::LOCALHOST,
            mask: None
        }));
        assert!(!m.prereq_ok(&Oxm::TcpDst(80)));
    }

    #[test]
    fn misaligned_constructed_bodies_are_padded() {
        let a = Action::Experimenter {
            experimenter: 1,
            data: vec![1, 2, 3],
        };
        assert_eq!(a.wire_len(), 16);
        assert_eq!(a.to_vec(), hex("ffff 0010 00000001 010203 0000000000"));
        let a = Action::Unknown {
            action_type: 99,
            body: vec![],
        };
        assert_eq!(a.to_vec(), hex("0063 0008 00000000"));
    }

    proptest! {
        #[test]
        fn action_round_trip(a in strategy::action()) {
            prop_assert_eq!(a.wire_len() % 8, 0);
            check_round_trip(&a)?;
        }

        #[test]
        fn action_list_round_trips(list in strategy::actions()) {
            check_list_round_trip(&list)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Action::parse(&bytes);
            let _ = parse_all::<Action>(&bytes);
        }

        #[test]
        fn plausible_headers_never_panic(
            ty in prop_oneof![0u16..=28, Just(0xffff), any::<u16>()],
            len in prop_oneof![(0u16..8).prop_map(|n| n * 8), any::<u16>()],
            body in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut b = ty.to_be_bytes().to_vec();
            b.extend(len.to_be_bytes());
            b.extend(&body);
            if let Ok((_, a)) = Action::parse(&b) {
                let _ = a.validate();
                prop_assert_eq!(a.wire_len(), usize::from(len));
            }
        }
    }
}
