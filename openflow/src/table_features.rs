//! Table features (`ofp_table_features` and its properties, OpenFlow 1.3.5
//! §7.3.5.5), carried by the TABLE_FEATURES multipart request and reply.
//!
//! A table-features entry is a 64-byte fixed part followed by a list of
//! properties. Each property is `type u16, length u16, body`, where `length`
//! counts the 4-byte header and the body but not the padding that follows it up
//! to the next multiple of 8. The entry's own `length` covers everything,
//! padding included.
//!
//! Most properties are lists of *ids*: instruction ids and action ids are the
//! `type, len` header of an instruction or action (4 bytes, or 8 for an
//! experimenter id, whose body is the experimenter number), and match-field ids
//! are OXM headers ([`OxmId`]). Instruction and action ids are kept generic
//! ([`InstructionId`], [`ActionId`]: a type and the bytes after the header), so
//! ids of any length round-trip and the switch decides what it supports.
//!
//! Round trip rules:
//! - every property type this crate does not name is kept verbatim in
//!   [`TableFeatureProp::Unknown`]; `parse` never produces `Unknown` with a named
//!   type, so values built that way do not survive a round trip unchanged;
//! - padding bytes are ignored on parse and written as zeros;
//! - the table name is kept as its 32 raw bytes ([`FixedStr`]).
//!
//! Every malformed length, including one found while reading an OXM id inside a
//! property, is reported against [`Element::TableFeatures`], which maps to
//! `OFPET_TABLE_FEATURES_FAILED / OFPTFFC_BAD_LEN`. Deciding that a property
//! type is unknown (`OFPTFFC_BAD_TYPE`) or unsupported is left to the switch.

use bytes::{Buf, BufMut};

use crate::error::{Element, ParseError, ParseErrorKind};
use crate::multipart::{FixedStr, shift_error};
use crate::oxm::OxmId;
use crate::wire::{PResult, Wire, fail, len_u16, pad8, parse_all, take, u16_at};

/// `OFP_MAX_TABLE_NAME_LEN`: bytes in a table name, NUL padding included.
pub const OFP_MAX_TABLE_NAME_LEN: usize = 32;

/// Bytes in the fixed part of `ofp_table_features` (before the properties).
pub const TABLE_FEATURES_FIXED_LEN: usize = 64;

/// Bytes in a property header (`type u16, length u16`).
const PROP_HEADER_LEN: usize = 4;

/// `ofp_table_feature_prop_type` values.
pub mod prop_type {
    /// OFPTFPT_INSTRUCTIONS
    pub const INSTRUCTIONS: u16 = 0;
    /// OFPTFPT_INSTRUCTIONS_MISS
    pub const INSTRUCTIONS_MISS: u16 = 1;
    /// OFPTFPT_NEXT_TABLES
    pub const NEXT_TABLES: u16 = 2;
    /// OFPTFPT_NEXT_TABLES_MISS
    pub const NEXT_TABLES_MISS: u16 = 3;
    /// OFPTFPT_WRITE_ACTIONS
    pub const WRITE_ACTIONS: u16 = 4;
    /// OFPTFPT_WRITE_ACTIONS_MISS
    pub const WRITE_ACTIONS_MISS: u16 = 5;
    /// OFPTFPT_APPLY_ACTIONS
    pub const APPLY_ACTIONS: u16 = 6;
    /// OFPTFPT_APPLY_ACTIONS_MISS
    pub const APPLY_ACTIONS_MISS: u16 = 7;
    /// OFPTFPT_MATCH
    pub const MATCH: u16 = 8;
    /// OFPTFPT_WILDCARDS
    pub const WILDCARDS: u16 = 10;
    /// OFPTFPT_WRITE_SETFIELD
    pub const WRITE_SETFIELD: u16 = 12;
    /// OFPTFPT_WRITE_SETFIELD_MISS
    pub const WRITE_SETFIELD_MISS: u16 = 13;
    /// OFPTFPT_APPLY_SETFIELD
    pub const APPLY_SETFIELD: u16 = 14;
    /// OFPTFPT_APPLY_SETFIELD_MISS
    pub const APPLY_SETFIELD_MISS: u16 = 15;
    /// OFPTFPT_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xfffe;
    /// OFPTFPT_EXPERIMENTER_MISS
    pub const EXPERIMENTER_MISS: u16 = 0xffff;
}

/// One `ofp_table_features` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableFeatures {
    /// table_id
    pub table_id: u8,
    /// name: 32 raw bytes, NUL-padded.
    pub name: FixedStr<OFP_MAX_TABLE_NAME_LEN>,
    /// metadata_match: bits of metadata the table can match.
    pub metadata_match: u64,
    /// metadata_write: bits of metadata the table can write.
    pub metadata_write: u64,
    /// config (`OFPTC_*`)
    pub config: u32,
    /// max_entries
    pub max_entries: u32,
    /// The properties, in wire order.
    pub properties: Vec<TableFeatureProp>,
}

/// An instruction id in an INSTRUCTIONS(_MISS) property: the instruction's
/// `type` and whatever follows its 4-byte `type, len` header (nothing for the
/// standard instructions, the experimenter id for `OFPIT_EXPERIMENTER`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstructionId {
    /// The instruction type (`OFPIT_*`).
    pub inst_type: u16,
    /// Bytes after the header; `len` on the wire is `4 + data.len()`.
    pub data: Vec<u8>,
}

/// An action id in a WRITE_ACTIONS / APPLY_ACTIONS (_MISS) property: the
/// action's `type` and whatever follows its 4-byte `type, len` header (nothing
/// for the standard actions, the experimenter id for `OFPAT_EXPERIMENTER`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionId {
    /// The action type (`OFPAT_*`).
    pub action_type: u16,
    /// Bytes after the header; `len` on the wire is `4 + data.len()`.
    pub data: Vec<u8>,
}

/// One table-feature property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableFeatureProp {
    /// OFPTFPT_INSTRUCTIONS (0)
    Instructions(Vec<InstructionId>),
    /// OFPTFPT_INSTRUCTIONS_MISS (1)
    InstructionsMiss(Vec<InstructionId>),
    /// OFPTFPT_NEXT_TABLES (2): table ids
    NextTables(Vec<u8>),
    /// OFPTFPT_NEXT_TABLES_MISS (3): table ids
    NextTablesMiss(Vec<u8>),
    /// OFPTFPT_WRITE_ACTIONS (4)
    WriteActions(Vec<ActionId>),
    /// OFPTFPT_WRITE_ACTIONS_MISS (5)
    WriteActionsMiss(Vec<ActionId>),
    /// OFPTFPT_APPLY_ACTIONS (6)
    ApplyActions(Vec<ActionId>),
    /// OFPTFPT_APPLY_ACTIONS_MISS (7)
    ApplyActionsMiss(Vec<ActionId>),
    /// OFPTFPT_MATCH (8)
    Match(Vec<OxmId>),
    /// OFPTFPT_WILDCARDS (10)
    Wildcards(Vec<OxmId>),
    /// OFPTFPT_WRITE_SETFIELD (12)
    WriteSetfield(Vec<OxmId>),
    /// OFPTFPT_WRITE_SETFIELD_MISS (13)
    WriteSetfieldMiss(Vec<OxmId>),
    /// OFPTFPT_APPLY_SETFIELD (14)
    ApplySetfield(Vec<OxmId>),
    /// OFPTFPT_APPLY_SETFIELD_MISS (15)
    ApplySetfieldMiss(Vec<OxmId>),
    /// OFPTFPT_EXPERIMENTER (0xfffe)
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter data, verbatim (padding excluded).
        data: Vec<u8>,
    },
    /// OFPTFPT_EXPERIMENTER_MISS (0xffff)
    ExperimenterMiss {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// Experimenter data, verbatim (padding excluded).
        data: Vec<u8>,
    },
    /// Any other property type: the bytes between the header and the padding.
    Unknown {
        /// The property type received (never one of the named types).
        prop_type: u16,
        /// The property body, verbatim.
        body: Vec<u8>,
    },
}

/// Reports a bad length against the table-features element at `input`.
fn bad_len(input: &[u8], declared: usize, actual: usize, reason: &'static str) -> ParseError {
    ParseError::bad_length(Element::TableFeatures, input, declared, actual, reason)
}

/// Re-labels a length error found inside a property (for example by the OXM id
/// parser, which reports against [`Element::Oxm`]) as a table-features length
/// error: inside TABLE_FEATURES the switch must answer
/// `TABLE_FEATURES_FAILED / BAD_LEN`, not `BAD_MATCH / BAD_LEN`.
fn as_table_features(e: ParseError) -> ParseError {
    let kind = match e.kind().clone() {
        ParseErrorKind::Truncated {
            needed, available, ..
        } => ParseErrorKind::Truncated {
            element: Element::TableFeatures,
            needed,
            available,
        },
        ParseErrorKind::BadLength {
            declared,
            actual,
            reason,
            ..
        } => ParseErrorKind::BadLength {
            element: Element::TableFeatures,
            declared,
            actual,
            reason,
        },
        _ => return e,
    };
    ParseError::new(kind, e.offset())
}

/// Parses a `type u16, len u16, data` id (instruction or action id).
fn parse_id(input: &[u8]) -> PResult<'_, (u16, Vec<u8>)> {
    let (_, head) = take(Element::TableFeatures, input, PROP_HEADER_LEN)?;
    let ty = u16::from_be_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if len < PROP_HEADER_LEN {
        return fail(bad_len(
            input,
            len,
            PROP_HEADER_LEN,
            "shorter than an id header",
        ));
    }
    if len > input.len() {
        return fail(bad_len(input, len, input.len(), "longer than its property"));
    }
    Ok((&input[len..], (ty, input[PROP_HEADER_LEN..len].to_vec())))
}

impl InstructionId {
    /// A standard instruction id (4 bytes on the wire).
    pub fn new(inst_type: u16) -> Self {
        Self {
            inst_type,
            data: Vec::new(),
        }
    }

    /// The id of an experimenter instruction (`OFPIT_EXPERIMENTER`, 8 bytes).
    pub fn experimenter(experimenter: u32) -> Self {
        Self {
            inst_type: 0xffff,
            data: experimenter.to_be_bytes().to_vec(),
        }
    }
}

impl Wire for InstructionId {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, (inst_type, data)) = parse_id(input)?;
        Ok((rest, Self { inst_type, data }))
    }

    fn wire_len(&self) -> usize {
        PROP_HEADER_LEN + self.data.len()
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.inst_type);
        out.put_u16(len_u16(self.wire_len()));
        out.put_slice(&self.data);
    }
}

impl ActionId {
    /// A standard action id (4 bytes on the wire).
    pub fn new(action_type: u16) -> Self {
        Self {
            action_type,
            data: Vec::new(),
        }
    }

    /// The id of an experimenter action (`OFPAT_EXPERIMENTER`, 8 bytes).
    pub fn experimenter(experimenter: u32) -> Self {
        Self {
            action_type: 0xffff,
            data: experimenter.to_be_bytes().to_vec(),
        }
    }
}

impl Wire for ActionId {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, (action_type, data)) = parse_id(input)?;
        Ok((rest, Self { action_type, data }))
    }

    fn wire_len(&self) -> usize {
        PROP_HEADER_LEN + self.data.len()
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.action_type);
        out.put_u16(len_u16(self.wire_len()));
        out.put_slice(&self.data);
    }
}

/// Parses a list of ids filling `body` exactly, reporting length errors
/// against the table-features element.
fn parse_ids<T: Wire>(body: &[u8]) -> Result<Vec<T>, ParseError> {
    parse_all(body).map_err(as_table_features)
}

impl TableFeatureProp {
    /// The property type on the wire (`OFPTFPT_*`).
    pub fn prop_type(&self) -> u16 {
        use prop_type as t;
        match self {
            Self::Instructions(_) => t::INSTRUCTIONS,
            Self::InstructionsMiss(_) => t::INSTRUCTIONS_MISS,
            Self::NextTables(_) => t::NEXT_TABLES,
            Self::NextTablesMiss(_) => t::NEXT_TABLES_MISS,
            Self::WriteActions(_) => t::WRITE_ACTIONS,
            Self::WriteActionsMiss(_) => t::WRITE_ACTIONS_MISS,
            Self::ApplyActions(_) => t::APPLY_ACTIONS,
            Self::ApplyActionsMiss(_) => t::APPLY_ACTIONS_MISS,
            Self::Match(_) => t::MATCH,
            Self::Wildcards(_) => t::WILDCARDS,
            Self::WriteSetfield(_) => t::WRITE_SETFIELD,
            Self::WriteSetfieldMiss(_) => t::WRITE_SETFIELD_MISS,
            Self::ApplySetfield(_) => t::APPLY_SETFIELD,
            Self::ApplySetfieldMiss(_) => t::APPLY_SETFIELD_MISS,
            Self::Experimenter { .. } => t::EXPERIMENTER,
            Self::ExperimenterMiss { .. } => t::EXPERIMENTER_MISS,
            Self::Unknown { prop_type, .. } => *prop_type,
        }
    }

    /// Bytes between the header and the padding.
    fn body_len(&self) -> usize {
        match self {
            Self::Instructions(ids) | Self::InstructionsMiss(ids) => crate::wire::len_all(ids),
            Self::NextTables(ids) | Self::NextTablesMiss(ids) => ids.len(),
            Self::WriteActions(ids)
            | Self::WriteActionsMiss(ids)
            | Self::ApplyActions(ids)
            | Self::ApplyActionsMiss(ids) => crate::wire::len_all(ids),
            Self::Match(ids)
            | Self::Wildcards(ids)
            | Self::WriteSetfield(ids)
            | Self::WriteSetfieldMiss(ids)
            | Self::ApplySetfield(ids)
            | Self::ApplySetfieldMiss(ids) => crate::wire::len_all(ids),
            Self::Experimenter { data, .. } | Self::ExperimenterMiss { data, .. } => 8 + data.len(),
            Self::Unknown { body, .. } => body.len(),
        }
    }

    /// Decodes the body of a property of type `ty`.
    fn parse_body(ty: u16, body: &[u8], declared: usize) -> Result<Self, ParseError> {
        use prop_type as t;
        Ok(match ty {
            t::INSTRUCTIONS => Self::Instructions(parse_ids(body)?),
            t::INSTRUCTIONS_MISS => Self::InstructionsMiss(parse_ids(body)?),
            t::NEXT_TABLES => Self::NextTables(body.to_vec()),
            t::NEXT_TABLES_MISS => Self::NextTablesMiss(body.to_vec()),
            t::WRITE_ACTIONS => Self::WriteActions(parse_ids(body)?),
            t::WRITE_ACTIONS_MISS => Self::WriteActionsMiss(parse_ids(body)?),
            t::APPLY_ACTIONS => Self::ApplyActions(parse_ids(body)?),
            t::APPLY_ACTIONS_MISS => Self::ApplyActionsMiss(parse_ids(body)?),
            t::MATCH => Self::Match(parse_ids(body)?),
            t::WILDCARDS => Self::Wildcards(parse_ids(body)?),
            t::WRITE_SETFIELD => Self::WriteSetfield(parse_ids(body)?),
            t::WRITE_SETFIELD_MISS => Self::WriteSetfieldMiss(parse_ids(body)?),
            t::APPLY_SETFIELD => Self::ApplySetfield(parse_ids(body)?),
            t::APPLY_SETFIELD_MISS => Self::ApplySetfieldMiss(parse_ids(body)?),
            t::EXPERIMENTER | t::EXPERIMENTER_MISS => {
                if body.len() < 8 {
                    return Err(bad_len(
                        body,
                        declared,
                        PROP_HEADER_LEN + 8,
                        "shorter than an experimenter property",
                    ));
                }
                let mut b = body;
                let experimenter = b.get_u32();
                let exp_type = b.get_u32();
                let data = b.to_vec();
                if ty == t::EXPERIMENTER {
                    Self::Experimenter {
                        experimenter,
                        exp_type,
                        data,
                    }
                } else {
                    Self::ExperimenterMiss {
                        experimenter,
                        exp_type,
                        data,
                    }
                }
            }
            _ => Self::Unknown {
                prop_type: ty,
                body: body.to_vec(),
            },
        })
    }
}

impl Wire for TableFeatureProp {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (_, head) = take(Element::TableFeatures, input, PROP_HEADER_LEN)?;
        let ty = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if len < PROP_HEADER_LEN {
            return fail(bad_len(
                input,
                len,
                PROP_HEADER_LEN,
                "shorter than a property header",
            ));
        }
        let padded = pad8(len);
        if padded > input.len() {
            return fail(bad_len(
                input,
                len,
                input.len(),
                "with its padding, longer than the bytes remaining in the entry",
            ));
        }
        let after = input.len() - len;
        let prop = Self::parse_body(ty, &input[PROP_HEADER_LEN..len], len)
            .map_err(|e| nom::Err::Error(shift_error(e, after)))?;
        Ok((&input[padded..], prop))
    }

    fn wire_len(&self) -> usize {
        pad8(PROP_HEADER_LEN + self.body_len())
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        let len = PROP_HEADER_LEN + self.body_len();
        out.put_u16(self.prop_type());
        out.put_u16(len_u16(len));
        match self {
            Self::Instructions(ids) | Self::InstructionsMiss(ids) => {
                crate::wire::emit_all(ids, out)
            }
            Self::NextTables(ids) | Self::NextTablesMiss(ids) => out.put_slice(ids),
            Self::WriteActions(ids)
            | Self::WriteActionsMiss(ids)
            | Self::ApplyActions(ids)
            | Self::ApplyActionsMiss(ids) => crate::wire::emit_all(ids, out),
            Self::Match(ids)
            | Self::Wildcards(ids)
            | Self::WriteSetfield(ids)
            | Self::WriteSetfieldMiss(ids)
            | Self::ApplySetfield(ids)
            | Self::ApplySetfieldMiss(ids) => crate::wire::emit_all(ids, out),
            Self::Experimenter {
                experimenter,
                exp_type,
                data,
            }
            | Self::ExperimenterMiss {
                experimenter,
                exp_type,
                data,
            } => {
                out.put_u32(*experimenter);
                out.put_u32(*exp_type);
                out.put_slice(data);
            }
            Self::Unknown { body, .. } => out.put_slice(body),
        }
        crate::wire::put_zeros(out, pad8(len) - len);
    }
}

impl TableFeatures {
    /// The first property of type `ty`, if any.
    pub fn property(&self, ty: u16) -> Option<&TableFeatureProp> {
        self.properties.iter().find(|p| p.prop_type() == ty)
    }
}

impl Wire for TableFeatures {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (_, len) = u16_at(Element::TableFeatures, input)?;
        let len = usize::from(len);
        if len < TABLE_FEATURES_FIXED_LEN {
            return fail(bad_len(
                input,
                len,
                TABLE_FEATURES_FIXED_LEN,
                "shorter than the fixed part",
            ));
        }
        if len > input.len() {
            return fail(bad_len(
                input,
                len,
                input.len(),
                "longer than the bytes remaining",
            ));
        }
        let (entry, rest) = input.split_at(len);
        // The length check above makes every read of the fixed part in bounds.
        let mut b = &entry[..TABLE_FEATURES_FIXED_LEN];
        b.advance(2);
        let table_id = b.get_u8();
        b.advance(5);
        let mut name = [0u8; OFP_MAX_TABLE_NAME_LEN];
        b.copy_to_slice(&mut name);
        let metadata_match = b.get_u64();
        let metadata_write = b.get_u64();
        let config = b.get_u32();
        let max_entries = b.get_u32();
        let properties = parse_all(&entry[TABLE_FEATURES_FIXED_LEN..])
            .map_err(|e| nom::Err::Error(shift_error(as_table_features(e), rest.len())))?;
        Ok((
            rest,
            Self {
                table_id,
                name: FixedStr::from_bytes(name),
                metadata_match,
                metadata_write,
                config,
                max_entries,
                properties,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        TABLE_FEATURES_FIXED_LEN + crate::wire::len_all(&self.properties)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        out.put_u8(self.table_id);
        crate::wire::put_zeros(out, 5);
        out.put_slice(self.name.as_bytes());
        out.put_u64(self.metadata_match);
        out.put_u64(self.metadata_write);
        out.put_u32(self.config);
        out.put_u32(self.max_entries);
        crate::wire::emit_all(&self.properties, out);
    }
}

/// Proptest strategies producing canonical values (ones that survive
/// `parse(emit(x)) == x`).
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn instruction_id() -> impl Strategy<Value = InstructionId> {
        (any::<u16>(), vec(any::<u8>(), 0..6))
            .prop_map(|(inst_type, data)| InstructionId { inst_type, data })
    }

    fn action_id() -> impl Strategy<Value = ActionId> {
        (any::<u16>(), vec(any::<u8>(), 0..6))
            .prop_map(|(action_type, data)| ActionId { action_type, data })
    }

    /// OXM ids: the experimenter id is present exactly for class 0xffff.
    pub(crate) fn oxm_id() -> impl Strategy<Value = OxmId> {
        (
            prop_oneof![Just(0x8000u16), Just(0xffffu16), any::<u16>()],
            0u8..128,
            any::<bool>(),
            any::<u8>(),
            any::<u32>(),
        )
            .prop_map(|(class, field, has_mask, length, exp)| OxmId {
                class,
                field,
                has_mask,
                length,
                experimenter: (class == 0xffff).then_some(exp),
            })
    }

    fn named(ty: u16) -> bool {
        (ty <= 15 && ty != 9 && ty != 11) || ty >= 0xfffe
    }

    /// Any property, including experimenter and unknown ones.
    pub(crate) fn prop() -> impl Strategy<Value = TableFeatureProp> {
        use TableFeatureProp as P;
        let insts = || vec(instruction_id(), 0..4);
        let acts = || vec(action_id(), 0..4);
        let oxms = || vec(oxm_id(), 0..4);
        let tables = || vec(any::<u8>(), 0..10);
        let exp = || (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..12));
        prop_oneof![
            insts().prop_map(P::Instructions),
            insts().prop_map(P::InstructionsMiss),
            tables().prop_map(P::NextTables),
            tables().prop_map(P::NextTablesMiss),
            acts().prop_map(P::WriteActions),
            acts().prop_map(P::WriteActionsMiss),
            acts().prop_map(P::ApplyActions),
            acts().prop_map(P::ApplyActionsMiss),
            oxms().prop_map(P::Match),
            oxms().prop_map(P::Wildcards),
            oxms().prop_map(P::WriteSetfield),
            oxms().prop_map(P::WriteSetfieldMiss),
            oxms().prop_map(P::ApplySetfield),
            oxms().prop_map(P::ApplySetfieldMiss),
            exp().prop_map(|(experimenter, exp_type, data)| P::Experimenter {
                experimenter,
                exp_type,
                data
            }),
            exp().prop_map(|(experimenter, exp_type, data)| P::ExperimenterMiss {
                experimenter,
                exp_type,
                data
            }),
            (
                any::<u16>().prop_filter("named type", |t| !named(*t)),
                vec(any::<u8>(), 0..12)
            )
                .prop_map(|(prop_type, body)| P::Unknown { prop_type, body }),
        ]
    }

    /// One table-features entry.
    pub(crate) fn table_features() -> impl Strategy<Value = TableFeatures> {
        (
            any::<u8>(),
            crate::multipart::strategy::fixed_str::<OFP_MAX_TABLE_NAME_LEN>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            vec(prop(), 0..5),
        )
            .prop_map(
                |(
                    table_id,
                    name,
                    metadata_match,
                    metadata_write,
                    config,
                    max_entries,
                    properties,
                )| TableFeatures {
                    table_id,
                    name,
                    metadata_match,
                    metadata_write,
                    config,
                    max_entries,
                    properties,
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, TableFeaturesFailedCode};
    use proptest::prelude::*;

    /// A table-features entry with one property of every type. The OXM ids
    /// are hand-encoded from the OXM header layout (class u16, field << 1 |
    /// hasmask, length).
    fn every_prop() -> (TableFeatures, Vec<u8>) {
        use TableFeatureProp as P;
        let in_port = OxmId {
            class: 0x8000,
            field: 0,
            has_mask: false,
            length: 4,
            experimenter: None,
        };
        let eth_dst_w = OxmId {
            class: 0x8000,
            field: 3,
            has_mask: true,
            length: 12,
            experimenter: None,
        };
        let oko = OxmId {
            class: 0xffff,
            field: 1,
            has_mask: false,
            length: 8,
            experimenter: Some(0x004f_4b4f),
        };
        let tf = TableFeatures {
            table_id: 3,
            name: FixedStr::new("t3"),
            metadata_match: 0xffff_ffff_ffff_ffff,
            metadata_write: 0x0000_0000_ffff_0000,
            config: 3,
            max_entries: 1_000_000,
            properties: vec![
                P::Instructions(vec![InstructionId::new(1), InstructionId::new(4)]),
                P::InstructionsMiss(vec![InstructionId::experimenter(0x004f_4b4f)]),
                P::NextTables(vec![4, 5, 6]),
                P::NextTablesMiss(vec![]),
                P::WriteActions(vec![ActionId::new(0)]),
                P::WriteActionsMiss(vec![ActionId::new(0), ActionId::new(22)]),
                P::ApplyActions(vec![ActionId::experimenter(0x2320)]),
                P::ApplyActionsMiss(vec![ActionId::new(25)]),
                P::Match(vec![in_port, oko]),
                P::Wildcards(vec![eth_dst_w]),
                P::WriteSetfield(vec![in_port]),
                P::WriteSetfieldMiss(vec![]),
                P::ApplySetfield(vec![eth_dst_w, in_port]),
                P::ApplySetfieldMiss(vec![oko]),
                P::Experimenter {
                    experimenter: 0x004f_4b4f,
                    exp_type: 7,
                    data: vec![0xaa, 0xbb],
                },
                P::ExperimenterMiss {
                    experimenter: 0x004f_4b4f,
                    exp_type: 8,
                    data: vec![],
                },
                P::Unknown {
                    prop_type: 9,
                    body: vec![1, 2, 3],
                },
            ],
        };
        #[rustfmt::skip]
        let mut bytes = vec![
            // length (filled below), table_id, pad[5]
            0x00, 0x00, 0x03, 0, 0, 0, 0, 0,
            // name[32]
            b't', b'3', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            // metadata_match, metadata_write
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
            // config, max_entries
            0x00, 0x00, 0x00, 0x03, 0x00, 0x0f, 0x42, 0x40,
            // INSTRUCTIONS len 12: GOTO_TABLE, APPLY_ACTIONS; pad 4
            0x00, 0x00, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x04,
            0x00, 0x04, 0x00, 0x04, 0, 0, 0, 0,
            // INSTRUCTIONS_MISS len 12: experimenter id; pad 4
            0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0x00, 0x08,
            0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 0,
            // NEXT_TABLES len 7: 4 5 6; pad 1
            0x00, 0x02, 0x00, 0x07, 4, 5, 6, 0,
            // NEXT_TABLES_MISS len 4; pad 4
            0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0,
            // WRITE_ACTIONS len 8: OUTPUT
            0x00, 0x04, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04,
            // WRITE_ACTIONS_MISS len 12: OUTPUT, GROUP; pad 4
            0x00, 0x05, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x04,
            0x00, 0x16, 0x00, 0x04, 0, 0, 0, 0,
            // APPLY_ACTIONS len 12: experimenter 0x2320; pad 4
            0x00, 0x06, 0x00, 0x0c, 0xff, 0xff, 0x00, 0x08,
            0x00, 0x00, 0x23, 0x20, 0, 0, 0, 0,
            // APPLY_ACTIONS_MISS len 8: SET_FIELD
            0x00, 0x07, 0x00, 0x08, 0x00, 0x19, 0x00, 0x04,
            // MATCH len 16: IN_PORT, OKO FILTER_PROG experimenter OXM
            0x00, 0x08, 0x00, 0x10, 0x80, 0x00, 0x00, 0x04,
            0xff, 0xff, 0x02, 0x08, 0x00, 0x4f, 0x4b, 0x4f,
            // WILDCARDS len 8: ETH_DST/mask
            0x00, 0x0a, 0x00, 0x08, 0x80, 0x00, 0x07, 0x0c,
            // WRITE_SETFIELD len 8: IN_PORT
            0x00, 0x0c, 0x00, 0x08, 0x80, 0x00, 0x00, 0x04,
            // WRITE_SETFIELD_MISS len 4; pad 4
            0x00, 0x0d, 0x00, 0x04, 0, 0, 0, 0,
            // APPLY_SETFIELD len 12: ETH_DST/mask, IN_PORT; pad 4
            0x00, 0x0e, 0x00, 0x0c, 0x80, 0x00, 0x07, 0x0c,
            0x80, 0x00, 0x00, 0x04, 0, 0, 0, 0,
            // APPLY_SETFIELD_MISS len 12: OKO experimenter OXM; pad 4
            0x00, 0x0f, 0x00, 0x0c, 0xff, 0xff, 0x02, 0x08,
            0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 0,
            // EXPERIMENTER len 14; pad 2
            0xff, 0xfe, 0x00, 0x0e, 0x00, 0x4f, 0x4b, 0x4f,
            0x00, 0x00, 0x00, 0x07, 0xaa, 0xbb, 0, 0,
            // EXPERIMENTER_MISS len 12; pad 4
            0xff, 0xff, 0x00, 0x0c, 0x00, 0x4f, 0x4b, 0x4f,
            0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0,
            // unknown type 9 len 7; pad 1
            0x00, 0x09, 0x00, 0x07, 1, 2, 3, 0,
        ];
        let len = u16::try_from(bytes.len()).unwrap();
        bytes[..2].copy_from_slice(&len.to_be_bytes());
        (tf, bytes)
    }

    #[test]
    fn test_parse_every_property() {
        let (tf, bytes) = every_prop();
        assert_eq!(bytes.len(), 64 + 8 * 26);
        let (rest, got) = TableFeatures::parse(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!(got, tf);
    }

    #[test]
    fn test_emit_every_property() {
        let (tf, bytes) = every_prop();
        assert_eq!(tf.wire_len(), bytes.len());
        assert_eq!(tf.to_vec(), bytes);
    }

    #[test]
    fn test_property_lookup() {
        let (tf, _) = every_prop();
        assert_eq!(
            tf.property(prop_type::NEXT_TABLES),
            Some(&TableFeatureProp::NextTables(vec![4, 5, 6]))
        );
        assert_eq!(tf.property(11), None);
    }

    fn parse_err(bytes: &[u8]) -> ParseError {
        match TableFeatures::parse(bytes) {
            Err(nom::Err::Error(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn assert_tf_bad_len(e: &ParseError) {
        assert_eq!(
            e.error_code(),
            ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::BadLen)
        );
    }

    #[test]
    fn entry_length_shorter_than_fixed_part() {
        let (_, mut bytes) = every_prop();
        bytes[..2].copy_from_slice(&63u16.to_be_bytes());
        let e = parse_err(&bytes);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 63,
                actual: 64,
                ..
            }
        ));
        assert_tf_bad_len(&e);
    }

    #[test]
    fn entry_length_longer_than_input() {
        let (_, bytes) = every_prop();
        let e = parse_err(&bytes[..bytes.len() - 8]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                ..
            }
        ));
        assert_tf_bad_len(&e);
        let e = parse_err(&bytes[..1]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::TableFeatures,
                needed: 2,
                available: 1
            }
        ));
    }

    /// A 64-byte fixed part whose length covers `props`.
    fn entry_with(props: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 64];
        v[..2].copy_from_slice(&u16::try_from(64 + props.len()).unwrap().to_be_bytes());
        v.extend_from_slice(props);
        v
    }

    #[test]
    fn property_length_errors() {
        // length 3 < header
        let e = parse_err(&entry_with(&[0, 2, 0, 3, 0, 0, 0, 0]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 3,
                ..
            }
        ));
        assert_tf_bad_len(&e);
        // length 12 > 8 bytes left in the entry
        let e = parse_err(&entry_with(&[0, 2, 0, 12, 0, 0, 0, 0]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 12,
                ..
            }
        ));
        // length 5 fits, but its padding does not
        let e = parse_err(&entry_with(&[0, 2, 0, 5, 1]));
        assert_tf_bad_len(&e);
        // experimenter property shorter than experimenter + exp_type
        let e = parse_err(&entry_with(&[0xff, 0xfe, 0, 8, 0, 0, 0, 1]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 8,
                actual: 12,
                ..
            }
        ));
    }

    #[test]
    fn id_length_errors() {
        // instruction id with len 2
        let e = parse_err(&entry_with(&[0, 0, 0, 8, 0, 1, 0, 2]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 2,
                ..
            }
        ));
        // action id with len 8 but only 4 bytes in the property
        let e = parse_err(&entry_with(&[0, 4, 0, 8, 0xff, 0xff, 0, 8]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::TableFeatures,
                declared: 8,
                actual: 4,
                ..
            }
        ));
        // instruction id cut inside its header
        let e = parse_err(&entry_with(&[0, 0, 0, 6, 0, 1, 0, 0]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::TableFeatures,
                ..
            }
        ));
        // OXM id cut short: reported against table features, not the match
        let e = parse_err(&entry_with(&[0, 8, 0, 6, 0x80, 0, 0, 0]));
        assert_tf_bad_len(&e);
    }

    #[test]
    fn error_offsets_count_from_the_end_of_the_input() {
        // A bad id inside the second of two entries: the error's remaining
        // count must be measured against the whole input, not the entry.
        let (_, good) = every_prop();
        let bad = entry_with(&[0, 0, 0, 8, 0, 1, 0, 2]);
        let mut both = bad.clone();
        both.extend_from_slice(&good);
        let e = parse_err(&both);
        // The id sits at offset 68 of the first entry.
        assert_eq!(e.clone().located(both.len()).offset(), 68);
    }

    proptest! {
        #[test]
        fn round_trip(tf in strategy::table_features()) {
            let bytes = tf.to_vec();
            prop_assert_eq!(bytes.len(), tf.wire_len());
            prop_assert_eq!(bytes.len() % 8, 0);
            let (rest, back) = TableFeatures::parse(&bytes).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&back, &tf);
            prop_assert_eq!(back.to_vec(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((rest, tf)) = TableFeatures::parse(&bytes) {
                // What parsed re-encodes to the bytes it consumed, up to padding.
                let consumed = bytes.len() - rest.len();
                prop_assert_eq!(tf.wire_len(), consumed);
            }
        }

        #[test]
        fn arbitrary_properties_never_panic(body in proptest::collection::vec(any::<u8>(), 0..120)) {
            let bytes = entry_with(&body);
            if let Ok((_, tf)) = TableFeatures::parse(&bytes) {
                prop_assert_eq!(tf.wire_len(), bytes.len());
            }
        }
    }
}
