//! Instructions (OpenFlow 1.3.5 §7.2.4).
//!
//! Like actions, every instruction starts with `type u16, len u16`, and `len`
//! (≥ 8, a multiple of 8) covers the whole instruction, so unknown types are
//! skipped over and kept as [`Instruction::Unknown`]; the switch rejects them
//! with `BAD_INSTRUCTION/UNKNOWN_INST` from [`Instruction::validate`].
//!
//! WRITE_ACTIONS and APPLY_ACTIONS carry a list of actions that fills the rest
//! of `len`. Errors inside that list keep their own element (`Action`), so a
//! broken action in an instruction still answers `BAD_ACTION/*`, and their
//! positions count from the start of the whole input.
//!
//! Padding is ignored when read and written as zeros; `emit(parse(b)) == b`
//! for every accepted `b` with zero padding.

use bytes::BufMut;

use crate::action::{Action, u32_in, u64_in};
use crate::error::{BadInstructionCode, Element, ErrorCode, ParseError};
use crate::wire::parse_list;
use crate::wire::{PResult, Wire, emit_all, fail, len_all, len_u16, pad8, put_zeros};

/// `ofp_instruction_type` values.
pub mod inst_type {
    /// OFPIT_GOTO_TABLE
    pub const GOTO_TABLE: u16 = 1;
    /// OFPIT_WRITE_METADATA
    pub const WRITE_METADATA: u16 = 2;
    /// OFPIT_WRITE_ACTIONS
    pub const WRITE_ACTIONS: u16 = 3;
    /// OFPIT_APPLY_ACTIONS
    pub const APPLY_ACTIONS: u16 = 4;
    /// OFPIT_CLEAR_ACTIONS
    pub const CLEAR_ACTIONS: u16 = 5;
    /// OFPIT_METER
    pub const METER: u16 = 6;
    /// OFPIT_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;

    /// Whether `t` is one of the instruction types above (those decode to a
    /// variant other than `Unknown`).
    pub const fn is_known(t: u16) -> bool {
        matches!(t, GOTO_TABLE..=METER | EXPERIMENTER)
    }
}

/// One instruction of a flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// OFPIT_GOTO_TABLE (1)
    GotoTable(u8),
    /// OFPIT_WRITE_METADATA (2)
    WriteMetadata {
        /// Metadata value to write.
        metadata: u64,
        /// Which metadata bits to write.
        mask: u64,
    },
    /// OFPIT_WRITE_ACTIONS (3)
    WriteActions(Vec<Action>),
    /// OFPIT_APPLY_ACTIONS (4)
    ApplyActions(Vec<Action>),
    /// OFPIT_CLEAR_ACTIONS (5)
    ClearActions,
    /// OFPIT_METER (6)
    Meter(u32),
    /// OFPIT_EXPERIMENTER (0xffff): experimenter id then opaque data
    ///
    /// When `data.len()` is not a multiple of 8, `emit` pads it with zeros.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// The `len - 8` bytes after the experimenter id.
        data: Vec<u8>,
    },
    /// Any other instruction type: the bytes after the 4-byte type/len header.
    ///
    /// When `4 + body.len()` is not a multiple of 8, `emit` pads with zeros.
    Unknown {
        /// `ofp_instruction.type`.
        inst_type: u16,
        /// The `len - 4` bytes after the header.
        body: Vec<u8>,
    },
}

impl Instruction {
    /// `ofp_instruction.type`.
    pub const fn inst_type(&self) -> u16 {
        use inst_type as t;
        match self {
            Self::GotoTable(_) => t::GOTO_TABLE,
            Self::WriteMetadata { .. } => t::WRITE_METADATA,
            Self::WriteActions(_) => t::WRITE_ACTIONS,
            Self::ApplyActions(_) => t::APPLY_ACTIONS,
            Self::ClearActions => t::CLEAR_ACTIONS,
            Self::Meter(_) => t::METER,
            Self::Experimenter { .. } => t::EXPERIMENTER,
            Self::Unknown { inst_type, .. } => *inst_type,
        }
    }

    /// Checks that need no switch state:
    ///
    /// - [`Instruction::Unknown`] → `BAD_INSTRUCTION/UNKNOWN_INST`;
    /// - [`Instruction::Experimenter`] → `BAD_INSTRUCTION/BAD_EXPERIMENTER`
    ///   (this switch implements no experimenter instructions);
    /// - WRITE_ACTIONS / APPLY_ACTIONS: every action's
    ///   [`Action::validate`], first failure wins (`BAD_ACTION/*`).
    ///
    /// Not checked (the switch knows): GOTO_TABLE's table id (must be greater
    /// than the current table), metadata mask support, meter existence, and
    /// duplicate instruction types in one flow entry.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        match self {
            Self::Unknown { .. } => Err(ErrorCode::BadInstruction(BadInstructionCode::UnknownInst)),
            Self::Experimenter { .. } => Err(ErrorCode::BadInstruction(
                BadInstructionCode::BadExperimenter,
            )),
            Self::WriteActions(actions) | Self::ApplyActions(actions) => {
                actions.iter().try_for_each(Action::validate)
            }
            _ => Ok(()),
        }
    }
}

impl Wire for Instruction {
    /// Errors: fewer than 4 bytes, or fewer than `len` → `Truncated { element:
    /// Instruction }`; `len` < 8 or not a multiple of 8, or a fixed-size
    /// instruction whose `len` differs from its size → `BadLength { element:
    /// Instruction }` (`BAD_INSTRUCTION/BAD_LEN`); errors of nested actions
    /// keep element `Action`.
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        use inst_type as t;
        let Some(hdr) = input.first_chunk::<4>() else {
            return fail(ParseError::truncated(Element::Instruction, input, 4));
        };
        let ty = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if len < 8 || !len.is_multiple_of(8) {
            return fail(ParseError::bad_length(
                Element::Instruction,
                input,
                len,
                pad8(len).max(8),
                "not a non-zero multiple of 8",
            ));
        }
        let Some((whole, rest)) = input.split_at_checked(len) else {
            return fail(ParseError::truncated(Element::Instruction, input, len));
        };
        let body = whole.get(4..).unwrap_or_default();
        let fixed = |size: usize| {
            if len == size {
                Ok(())
            } else {
                Err(nom::Err::Error(ParseError::bad_length(
                    Element::Instruction,
                    input,
                    len,
                    size,
                    "differs from the instruction's fixed size",
                )))
            }
        };
        let actions = || {
            parse_list::<Action>(body.get(4..).unwrap_or_default(), rest.len())
                .map_err(nom::Err::Error)
        };
        let inst = match ty {
            t::GOTO_TABLE => fixed(8).map(|()| Instruction::GotoTable(whole[4]))?,
            t::WRITE_METADATA => {
                fixed(24)?;
                Instruction::WriteMetadata {
                    metadata: u64_in(body, 4),
                    mask: u64_in(body, 12),
                }
            }
            t::WRITE_ACTIONS => Instruction::WriteActions(actions()?),
            t::APPLY_ACTIONS => Instruction::ApplyActions(actions()?),
            t::CLEAR_ACTIONS => fixed(8).map(|()| Instruction::ClearActions)?,
            t::METER => fixed(8).map(|()| Instruction::Meter(u32_in(body, 0)))?,
            t::EXPERIMENTER => Instruction::Experimenter {
                experimenter: u32_in(body, 0),
                data: body.get(4..).unwrap_or_default().to_vec(),
            },
            _ => Instruction::Unknown {
                inst_type: ty,
                body: body.to_vec(),
            },
        };
        Ok((rest, inst))
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::WriteMetadata { .. } => 24,
            Self::WriteActions(a) | Self::ApplyActions(a) => 8 + len_all(a),
            Self::Experimenter { data, .. } => pad8(8 + data.len()),
            Self::Unknown { body, .. } => pad8(4 + body.len()),
            Self::GotoTable(_) | Self::ClearActions | Self::Meter(_) => 8,
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        let len = self.wire_len();
        out.put_u16(self.inst_type());
        out.put_u16(len_u16(len));
        match self {
            Self::GotoTable(table) => {
                out.put_u8(*table);
                put_zeros(out, 3);
            }
            Self::WriteMetadata { metadata, mask } => {
                put_zeros(out, 4);
                out.put_u64(*metadata);
                out.put_u64(*mask);
            }
            Self::WriteActions(actions) | Self::ApplyActions(actions) => {
                put_zeros(out, 4);
                emit_all(actions, out);
            }
            Self::ClearActions => put_zeros(out, 4),
            Self::Meter(id) => out.put_u32(*id),
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

/// Proptest strategies producing canonical instructions (exactly what the
/// parser can return), for this crate's round-trip tests.
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use crate::action::strategy::actions;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any instruction the parser can produce (nested actions from
    /// [`crate::action::strategy::actions`]).
    pub(crate) fn instruction() -> BoxedStrategy<Instruction> {
        let aligned =
            |extra: usize| (0usize..4).prop_flat_map(move |n| vec(any::<u8>(), n * 8 + extra));
        prop_oneof![
            any::<u8>().prop_map(Instruction::GotoTable),
            (any::<u64>(), any::<u64>())
                .prop_map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }),
            actions().prop_map(Instruction::WriteActions),
            actions().prop_map(Instruction::ApplyActions),
            Just(Instruction::ClearActions),
            any::<u32>().prop_map(Instruction::Meter),
            (any::<u32>(), aligned(0))
                .prop_map(|(experimenter, data)| Instruction::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("unknown type", |t| !inst_type::is_known(*t)),
                aligned(4)
            )
                .prop_map(|(inst_type, body)| Instruction::Unknown { inst_type, body }),
        ]
        .boxed()
    }

    /// A list of up to 5 instructions.
    pub(crate) fn instructions() -> BoxedStrategy<Vec<Instruction>> {
        vec(instruction(), 0..5).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BadActionCode, ParseErrorKind};
    use crate::oxm::Oxm;
    use crate::wire::test_util::{check_list_round_trip, check_round_trip, hex};
    use crate::wire::{into_error, parse_all};
    use proptest::prelude::*;

    fn err(bytes: &[u8]) -> ParseError {
        into_error(Instruction::parse(bytes).unwrap_err(), bytes)
    }

    /// Every instruction type, written from the spec's `ofp_instruction_*` layouts.
    fn vectors() -> Vec<(Instruction, &'static str)> {
        vec![
            (Instruction::GotoTable(3), "0001 0008 03 000000"),
            (
                Instruction::WriteMetadata {
                    metadata: 0x1122_3344_5566_7788,
                    mask: 0xffff_ffff_0000_0000,
                },
                "0002 0018 00000000 1122334455667788 ffffffff00000000",
            ),
            (
                Instruction::WriteActions(vec![Action::Output {
                    port: 2,
                    max_len: 0,
                }]),
                "0003 0018 00000000  0000 0010 00000002 0000 000000000000",
            ),
            (
                Instruction::ApplyActions(vec![
                    Action::PopVlan,
                    Action::SetField(Oxm::EthType(0x0800)),
                    Action::Output {
                        port: 0xffff_fffd,
                        max_len: 0xffff,
                    },
                ]),
                "0004 0030 00000000
                 0012 0008 00000000
                 0019 0010 80000a02 0800 000000000000
                 0000 0010 fffffffd ffff 000000000000",
            ),
            (Instruction::ApplyActions(vec![]), "0004 0008 00000000"),
            (Instruction::WriteActions(vec![]), "0003 0008 00000000"),
            (Instruction::ClearActions, "0005 0008 00000000"),
            (Instruction::Meter(5), "0006 0008 00000005"),
            (
                Instruction::Experimenter {
                    experimenter: 0x004F_4B4F,
                    data: vec![],
                },
                "ffff 0008 004f4b4f",
            ),
            (
                Instruction::Experimenter {
                    experimenter: 0x2320,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
                "ffff 0010 00002320 0102030405060708",
            ),
            (
                Instruction::Unknown {
                    inst_type: 7,
                    body: vec![1, 2, 3, 4],
                },
                "0007 0008 01020304",
            ),
        ]
    }

    #[test]
    fn every_instruction_byte_exact() {
        let mut seen = Vec::new();
        for (inst, h) in vectors() {
            let bytes = hex(h);
            assert_eq!(
                Instruction::parse(&bytes),
                Ok((&[][..], inst.clone())),
                "parse {inst:?}"
            );
            assert_eq!(inst.to_vec(), bytes, "emit {inst:?}");
            assert_eq!(inst.wire_len(), bytes.len(), "wire_len {inst:?}");
            assert_eq!(inst.inst_type(), u16::from_be_bytes([bytes[0], bytes[1]]));
            seen.push(inst.inst_type());
        }
        for t in (0..=u16::MAX).filter(|t| inst_type::is_known(*t)) {
            assert!(seen.contains(&t), "instruction type {t} has no vector");
        }
    }

    #[test]
    fn padding_is_ignored_on_parse_and_zero_on_emit() {
        let bytes = hex("0001 0008 09 ffffff 0005 0008 12345678");
        let list: Vec<Instruction> = parse_all(&bytes).unwrap();
        assert_eq!(
            list,
            vec![Instruction::GotoTable(9), Instruction::ClearActions]
        );
        assert_eq!(list[0].to_vec(), hex("0001 0008 09 000000"));
        assert_eq!(list[1].to_vec(), hex("0005 0008 00000000"));
    }

    #[test]
    fn truncated_instructions() {
        let e = err(&[0, 1, 0]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Instruction,
                needed: 4,
                available: 3
            }
        );
        assert_eq!(
            e.error_code(),
            ErrorCode::BadInstruction(BadInstructionCode::BadLen)
        );
        let e = err(&hex("0002 0018 00000000 1122334455667788"));
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Instruction,
                needed: 24,
                available: 16
            }
        );
        assert_eq!(
            e.error_code(),
            ErrorCode::BadInstruction(BadInstructionCode::BadLen)
        );
    }

    #[test]
    fn bad_lengths() {
        for h in [
            "0005 0000 00000000",
            "0005 0004 00000000",
            "0004 000c 00000000 00000000",
            "ffff 0004 00000000",
            // Fixed-size instructions with another aligned length.
            "0001 0010 01000000 0000000000000000",
            "0002 0010 00000000 0000000000000000",
            "0005 0010 00000000 0000000000000000",
            "0006 0010 00000001 0000000000000000",
        ] {
            let e = err(&hex(h));
            assert!(
                matches!(
                    e.kind(),
                    ParseErrorKind::BadLength {
                        element: Element::Instruction,
                        ..
                    }
                ),
                "{h}: {e}"
            );
            assert_eq!(
                e.error_code(),
                ErrorCode::BadInstruction(BadInstructionCode::BadLen),
                "{h}"
            );
        }
    }

    #[test]
    fn nested_action_errors_keep_element_action() {
        // An action with len 4 inside APPLY_ACTIONS, after a good POP_VLAN.
        let bytes = hex("0004 0018 00000000 0012 0008 00000000 0012 0004 00000000");
        let e = err(&bytes);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Action,
                declared: 4,
                ..
            }
        ));
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
        assert_eq!(e.located(bytes.len()).offset(), 16);

        // An action longer than the instruction's region: truncated action.
        let bytes = hex("0003 0010 00000000 0000 0010 00000001 ffff0000 00000000");
        let e = err(&bytes);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Action,
                needed: 16,
                available: 8
            }
        );
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
        assert_eq!(e.located(bytes.len()).offset(), 8);

        // A set-field error inside an instruction.
        let bytes = hex("0004 0018 00000000 0019 0010 80000108 00000001 00000001");
        assert_eq!(
            err(&bytes).error_code(),
            ErrorCode::BadAction(BadActionCode::BadSetArgument)
        );
    }

    #[test]
    fn validate() {
        let cases = [
            (Instruction::GotoTable(1), Ok(())),
            (Instruction::ClearActions, Ok(())),
            (
                Instruction::WriteActions(vec![Action::Output {
                    port: 1,
                    max_len: 0,
                }]),
                Ok(()),
            ),
            (
                Instruction::Unknown {
                    inst_type: 7,
                    body: vec![0; 4],
                },
                Err(ErrorCode::BadInstruction(BadInstructionCode::UnknownInst)),
            ),
            (
                Instruction::Experimenter {
                    experimenter: 0x2320,
                    data: vec![],
                },
                Err(ErrorCode::BadInstruction(
                    BadInstructionCode::BadExperimenter,
                )),
            ),
            (
                Instruction::ApplyActions(vec![
                    Action::PopVlan,
                    Action::Unknown {
                        action_type: 2,
                        body: vec![0; 4],
                    },
                ]),
                Err(ErrorCode::BadAction(BadActionCode::BadType)),
            ),
            (
                Instruction::WriteActions(vec![Action::SetField(Oxm::InPort(1))]),
                Err(ErrorCode::BadAction(BadActionCode::BadSetType)),
            ),
        ];
        for (inst, want) in cases {
            assert_eq!(inst.validate(), want, "{inst:?}");
        }
    }

    proptest! {
        #[test]
        fn instruction_round_trip(inst in strategy::instruction()) {
            prop_assert_eq!(inst.wire_len() % 8, 0);
            check_round_trip(&inst)?;
        }

        #[test]
        fn instruction_list_round_trips(list in strategy::instructions()) {
            check_list_round_trip(&list)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Instruction::parse(&bytes);
            let _ = parse_all::<Instruction>(&bytes);
        }

        #[test]
        fn plausible_headers_never_panic(
            ty in prop_oneof![0u16..=7, Just(0xffff), any::<u16>()],
            len in prop_oneof![(0u16..10).prop_map(|n| n * 8), any::<u16>()],
            body in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut b = ty.to_be_bytes().to_vec();
            b.extend(len.to_be_bytes());
            b.extend(&body);
            if let Ok((_, inst)) = Instruction::parse(&b) {
                let _ = inst.validate();
                prop_assert_eq!(inst.wire_len(), usize::from(len));
            }
        }
    }
}
