//! OpenFlow 1.3 messages: `ofp_header` and every message type (OpenFlow
//! 1.3.5 §7.1, §7.3, §7.4, §7.5).
//!
//! A [`Message`] is the transaction id plus a typed [`MessageBody`]; the header's
//! version, type and length are derived, not stored, so a value can never
//! disagree with its own header. The one exception is HELLO: version
//! negotiation needs the version the *peer* announced, so [`Hello`] keeps it
//! and re-emits it.
//!
//! ## Parsing
//!
//! [`Message::parse`] takes exactly one message — framing is the job of
//! [`crate::codec::OfCodec`], which hands over complete frames. The checks run
//! in the order a switch must answer them:
//!
//! 1. the header must be readable and its `length` must equal the bytes given
//!    (`BAD_REQUEST/BAD_LEN` otherwise);
//! 2. the version must be 0x04, except for HELLO, which is readable at any
//!    version (`BAD_REQUEST/BAD_VERSION`);
//! 3. the type must be an OpenFlow 1.3 type, 0…29 (`BAD_REQUEST/BAD_TYPE`);
//! 4. the body must match its layout exactly: a fixed-size body followed by
//!    extra bytes is as wrong as a short one.
//!
//! Every error is returned located (its offset counts from the first header
//! byte) and tagged with the message type, so an agent can log it and answer
//! with [`ErrorMsg::from_parse_error`] without further bookkeeping. Errors
//! inside nested structures (a match, an action inside an instruction inside a
//! FLOW_MOD) keep their own element and therefore their own error code, e.g.
//! `BAD_ACTION/BAD_LEN` for a truncated action.
//!
//! ## Emitting
//!
//! [`Message::wire_len`] is computed without writing, so [`Message::emit`]
//! writes the header length in place and a buffer can be reserved once. A body
//! too large for the 16-bit length field cannot be represented; the length
//! saturates and the codec's encoder refuses such a message before writing
//! anything.
//!
//! ## Values that do not round-trip
//!
//! Parsing always produces canonical values: named codes become named
//! variants, padding is dropped. A hand-built value that is not canonical —
//! `ErrorCode::Unknown { err_type: 0xffff, .. }`, a `HelloElement::Unknown`
//! with element type 1, a `MeterBand::Unknown` with a named band type — emits
//! bytes that parse back to a different (canonical) value.

use bytes::BufMut;

use crate::action::Action;
use crate::error::{Element, ErrorCode, ParseError, ParseErrorKind, error_data, error_type};
use crate::group::Bucket;
use crate::instruction::Instruction;
use crate::meter::MeterBand;
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::oxm::Match;
use crate::port::Port;
use crate::queue::PacketQueue;
use crate::wire::{
    PResult, Wire, array_at, emit_all, into_error, len_all, len_u16, pad8, parse_all, put_zeros,
    rebase, skip, u8_at, u16_at, u32_at, u64_at,
};

/// The OpenFlow version this crate speaks.
pub const OFP_VERSION: u8 = 0x04;

/// Length of `ofp_header`.
pub const OFP_HEADER_LEN: usize = 8;

/// Largest message the 16-bit length field can describe.
pub const OFP_MAX_MSG_LEN: usize = u16::MAX as usize;

/// `buffer_id` meaning "the packet is not buffered" (`OFP_NO_BUFFER`).
pub const OFP_NO_BUFFER: u32 = 0xffff_ffff;

/// `max_len` of an output-to-controller action asking for the whole packet,
/// unbuffered (`OFPCML_NO_BUFFER`).
pub const OFPCML_NO_BUFFER: u16 = 0xffff;

/// Largest `max_len` that may be buffered (`OFPCML_MAX`).
pub const OFPCML_MAX: u16 = 0xffe5;

/// Default `miss_send_len` (`OFP_DEFAULT_MISS_SEND_LEN`).
pub const OFP_DEFAULT_MISS_SEND_LEN: u16 = 128;

/// Default flow priority (`OFP_DEFAULT_PRIORITY`).
pub const OFP_DEFAULT_PRIORITY: u16 = 0x8000;

/// `ofp_type` values.
pub mod msg_type {
    /// OFPT_HELLO
    pub const HELLO: u8 = 0;
    /// OFPT_ERROR
    pub const ERROR: u8 = 1;
    /// OFPT_ECHO_REQUEST
    pub const ECHO_REQUEST: u8 = 2;
    /// OFPT_ECHO_REPLY
    pub const ECHO_REPLY: u8 = 3;
    /// OFPT_EXPERIMENTER
    pub const EXPERIMENTER: u8 = 4;
    /// OFPT_FEATURES_REQUEST
    pub const FEATURES_REQUEST: u8 = 5;
    /// OFPT_FEATURES_REPLY
    pub const FEATURES_REPLY: u8 = 6;
    /// OFPT_GET_CONFIG_REQUEST
    pub const GET_CONFIG_REQUEST: u8 = 7;
    /// OFPT_GET_CONFIG_REPLY
    pub const GET_CONFIG_REPLY: u8 = 8;
    /// OFPT_SET_CONFIG
    pub const SET_CONFIG: u8 = 9;
    /// OFPT_PACKET_IN
    pub const PACKET_IN: u8 = 10;
    /// OFPT_FLOW_REMOVED
    pub const FLOW_REMOVED: u8 = 11;
    /// OFPT_PORT_STATUS
    pub const PORT_STATUS: u8 = 12;
    /// OFPT_PACKET_OUT
    pub const PACKET_OUT: u8 = 13;
    /// OFPT_FLOW_MOD
    pub const FLOW_MOD: u8 = 14;
    /// OFPT_GROUP_MOD
    pub const GROUP_MOD: u8 = 15;
    /// OFPT_PORT_MOD
    pub const PORT_MOD: u8 = 16;
    /// OFPT_TABLE_MOD
    pub const TABLE_MOD: u8 = 17;
    /// OFPT_MULTIPART_REQUEST
    pub const MULTIPART_REQUEST: u8 = 18;
    /// OFPT_MULTIPART_REPLY
    pub const MULTIPART_REPLY: u8 = 19;
    /// OFPT_BARRIER_REQUEST
    pub const BARRIER_REQUEST: u8 = 20;
    /// OFPT_BARRIER_REPLY
    pub const BARRIER_REPLY: u8 = 21;
    /// OFPT_QUEUE_GET_CONFIG_REQUEST
    pub const QUEUE_GET_CONFIG_REQUEST: u8 = 22;
    /// OFPT_QUEUE_GET_CONFIG_REPLY
    pub const QUEUE_GET_CONFIG_REPLY: u8 = 23;
    /// OFPT_ROLE_REQUEST
    pub const ROLE_REQUEST: u8 = 24;
    /// OFPT_ROLE_REPLY
    pub const ROLE_REPLY: u8 = 25;
    /// OFPT_GET_ASYNC_REQUEST
    pub const GET_ASYNC_REQUEST: u8 = 26;
    /// OFPT_GET_ASYNC_REPLY
    pub const GET_ASYNC_REPLY: u8 = 27;
    /// OFPT_SET_ASYNC
    pub const SET_ASYNC: u8 = 28;
    /// OFPT_METER_MOD
    pub const METER_MOD: u8 = 29;
    /// The largest OpenFlow 1.3 message type.
    pub const MAX: u8 = METER_MOD;
}

/// The spec name of a message type byte, for error messages.
pub fn msg_type_name(t: u8) -> &'static str {
    const NAMES: [&str; 30] = [
        "HELLO",
        "ERROR",
        "ECHO_REQUEST",
        "ECHO_REPLY",
        "EXPERIMENTER",
        "FEATURES_REQUEST",
        "FEATURES_REPLY",
        "GET_CONFIG_REQUEST",
        "GET_CONFIG_REPLY",
        "SET_CONFIG",
        "PACKET_IN",
        "FLOW_REMOVED",
        "PORT_STATUS",
        "PACKET_OUT",
        "FLOW_MOD",
        "GROUP_MOD",
        "PORT_MOD",
        "TABLE_MOD",
        "MULTIPART_REQUEST",
        "MULTIPART_REPLY",
        "BARRIER_REQUEST",
        "BARRIER_REPLY",
        "QUEUE_GET_CONFIG_REQUEST",
        "QUEUE_GET_CONFIG_REPLY",
        "ROLE_REQUEST",
        "ROLE_REPLY",
        "GET_ASYNC_REQUEST",
        "GET_ASYNC_REPLY",
        "SET_ASYNC",
        "METER_MOD",
    ];
    NAMES.get(usize::from(t)).copied().unwrap_or("UNKNOWN")
}

/// `ofp_flow_mod_command` values.
pub mod flow_mod_command {
    /// OFPFC_ADD
    pub const ADD: u8 = 0;
    /// OFPFC_MODIFY
    pub const MODIFY: u8 = 1;
    /// OFPFC_MODIFY_STRICT
    pub const MODIFY_STRICT: u8 = 2;
    /// OFPFC_DELETE
    pub const DELETE: u8 = 3;
    /// OFPFC_DELETE_STRICT
    pub const DELETE_STRICT: u8 = 4;
}

/// `ofp_flow_mod_flags` bits.
pub mod flow_mod_flags {
    /// OFPFF_SEND_FLOW_REM: send FLOW_REMOVED when the flow expires or is deleted.
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    /// OFPFF_CHECK_OVERLAP: refuse to add an overlapping flow.
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    /// OFPFF_RESET_COUNTS: reset the counters of a modified flow.
    pub const RESET_COUNTS: u16 = 1 << 2;
    /// OFPFF_NO_PKT_COUNTS: packet count need not be kept.
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    /// OFPFF_NO_BYT_COUNTS: byte count need not be kept.
    pub const NO_BYT_COUNTS: u16 = 1 << 4;
}

/// Table numbers (`ofp_table`).
pub mod table_id {
    /// OFPTT_MAX: last usable table number.
    pub const MAX: u8 = 0xfe;
    /// OFPTT_ALL: all tables (FLOW_MOD delete, stats, TABLE_MOD).
    pub const ALL: u8 = 0xff;
}

/// `ofp_packet_in_reason` values.
pub mod packet_in_reason {
    /// OFPR_NO_MATCH: table miss.
    pub const NO_MATCH: u8 = 0;
    /// OFPR_ACTION: output to the controller.
    pub const ACTION: u8 = 1;
    /// OFPR_INVALID_TTL: the packet had an invalid TTL.
    pub const INVALID_TTL: u8 = 2;
}

/// `ofp_flow_removed_reason` values.
pub mod flow_removed_reason {
    /// OFPRR_IDLE_TIMEOUT
    pub const IDLE_TIMEOUT: u8 = 0;
    /// OFPRR_HARD_TIMEOUT
    pub const HARD_TIMEOUT: u8 = 1;
    /// OFPRR_DELETE: evicted by a delete FLOW_MOD.
    pub const DELETE: u8 = 2;
    /// OFPRR_GROUP_DELETE: its group was deleted.
    pub const GROUP_DELETE: u8 = 3;
}

/// `ofp_port_reason` values (PORT_STATUS).
pub mod port_reason {
    /// OFPPR_ADD
    pub const ADD: u8 = 0;
    /// OFPPR_DELETE
    pub const DELETE: u8 = 1;
    /// OFPPR_MODIFY
    pub const MODIFY: u8 = 2;
}

/// `ofp_controller_role` values (ROLE_REQUEST/ROLE_REPLY).
pub mod controller_role {
    /// OFPCR_ROLE_NOCHANGE: query the current role.
    pub const NOCHANGE: u32 = 0;
    /// OFPCR_ROLE_EQUAL
    pub const EQUAL: u32 = 1;
    /// OFPCR_ROLE_MASTER
    pub const MASTER: u32 = 2;
    /// OFPCR_ROLE_SLAVE
    pub const SLAVE: u32 = 3;
}

/// `ofp_config_flags` values (GET_CONFIG_REPLY/SET_CONFIG `flags`).
pub mod config_flags {
    /// OFPC_FRAG_NORMAL: no special handling of IP fragments.
    pub const FRAG_NORMAL: u16 = 0;
    /// OFPC_FRAG_DROP: drop fragments.
    pub const FRAG_DROP: u16 = 1;
    /// OFPC_FRAG_REASM: reassemble (only if OFPC_IP_REASM is set).
    pub const FRAG_REASM: u16 = 2;
    /// OFPC_FRAG_MASK
    pub const FRAG_MASK: u16 = 3;
}

/// `ofp_capabilities` bits (FEATURES_REPLY `capabilities`).
pub mod capabilities {
    /// OFPC_FLOW_STATS
    pub const FLOW_STATS: u32 = 1 << 0;
    /// OFPC_TABLE_STATS
    pub const TABLE_STATS: u32 = 1 << 1;
    /// OFPC_PORT_STATS
    pub const PORT_STATS: u32 = 1 << 2;
    /// OFPC_GROUP_STATS
    pub const GROUP_STATS: u32 = 1 << 3;
    /// OFPC_IP_REASM
    pub const IP_REASM: u32 = 1 << 5;
    /// OFPC_QUEUE_STATS
    pub const QUEUE_STATS: u32 = 1 << 6;
    /// OFPC_PORT_BLOCKED
    pub const PORT_BLOCKED: u32 = 1 << 8;
}

/// `ofp_table_config` values (TABLE_MOD `config`).
pub mod table_config {
    /// OFPTC_DEPRECATED_MASK: bits kept for 1.1/1.2 compatibility.
    pub const DEPRECATED_MASK: u32 = 3;
}

/// `ofp_hello_elem_type` values.
pub mod hello_elem_type {
    /// OFPHET_VERSIONBITMAP
    pub const VERSION_BITMAP: u16 = 1;
}

type BodyResult<T> = Result<T, nom::Err<ParseError>>;

/// `W` bytes at `at` of a block whose length the caller has checked; the zero
/// fallback only keeps the function total (with constant offsets into a
/// fixed-size block the optimiser removes the check).
#[inline(always)]
fn field<const W: usize>(block: &[u8], at: usize) -> [u8; W] {
    block
        .get(at..)
        .and_then(<[u8]>::first_chunk::<W>)
        .copied()
        .unwrap_or([0; W])
}

#[inline]
fn nom_err(e: ParseError) -> nom::Err<ParseError> {
    nom::Err::Error(e)
}

/// Checks that a fixed-layout body was used up exactly. `body` is the whole
/// message body, `rest` what the layout left over.
#[inline]
fn finish(body: &[u8], rest: &[u8]) -> BodyResult<()> {
    if rest.is_empty() {
        return Ok(());
    }
    Err(nom_err(ParseError::bad_length(
        Element::Message,
        rest,
        OFP_HEADER_LEN + body.len(),
        OFP_HEADER_LEN + body.len() - rest.len(),
        "trailing bytes after the body",
    )))
}

/// An OpenFlow message: transaction id and typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `ofp_header.xid`: replies carry the xid of their request.
    pub xid: u32,
    /// The typed body; it determines the header's type (and, for HELLO, version).
    pub body: MessageBody,
}

/// The body of a message, one variant per `ofp_type`.
///
/// Deliberately exhaustive: OpenFlow 1.3 has exactly these 30 types, and an
/// agent that matches on this enum should be told by the compiler when it
/// forgets one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    /// OFPT_HELLO (0)
    Hello(Hello),
    /// OFPT_ERROR (1)
    Error(ErrorMsg),
    /// OFPT_ECHO_REQUEST (2): arbitrary payload, echoed back
    EchoRequest(Vec<u8>),
    /// OFPT_ECHO_REPLY (3)
    EchoReply(Vec<u8>),
    /// OFPT_EXPERIMENTER (4)
    Experimenter(ExperimenterMsg),
    /// OFPT_FEATURES_REQUEST (5)
    FeaturesRequest,
    /// OFPT_FEATURES_REPLY (6)
    FeaturesReply(SwitchFeatures),
    /// OFPT_GET_CONFIG_REQUEST (7)
    GetConfigRequest,
    /// OFPT_GET_CONFIG_REPLY (8)
    GetConfigReply(SwitchConfig),
    /// OFPT_SET_CONFIG (9)
    SetConfig(SwitchConfig),
    /// OFPT_PACKET_IN (10)
    PacketIn(PacketIn),
    /// OFPT_FLOW_REMOVED (11)
    FlowRemoved(FlowRemoved),
    /// OFPT_PORT_STATUS (12)
    PortStatus(PortStatus),
    /// OFPT_PACKET_OUT (13)
    PacketOut(PacketOut),
    /// OFPT_FLOW_MOD (14)
    FlowMod(FlowMod),
    /// OFPT_GROUP_MOD (15)
    GroupMod(GroupMod),
    /// OFPT_PORT_MOD (16)
    PortMod(PortMod),
    /// OFPT_TABLE_MOD (17)
    TableMod(TableMod),
    /// OFPT_MULTIPART_REQUEST (18)
    MultipartRequest(MultipartRequest),
    /// OFPT_MULTIPART_REPLY (19)
    MultipartReply(MultipartReply),
    /// OFPT_BARRIER_REQUEST (20)
    BarrierRequest,
    /// OFPT_BARRIER_REPLY (21)
    BarrierReply,
    /// OFPT_QUEUE_GET_CONFIG_REQUEST (22)
    QueueGetConfigRequest {
        /// Port to query (OFPP_ANY for all ports).
        port: u32,
    },
    /// OFPT_QUEUE_GET_CONFIG_REPLY (23)
    QueueGetConfigReply(QueueGetConfigReply),
    /// OFPT_ROLE_REQUEST (24)
    RoleRequest(RoleMsg),
    /// OFPT_ROLE_REPLY (25)
    RoleReply(RoleMsg),
    /// OFPT_GET_ASYNC_REQUEST (26)
    GetAsyncRequest,
    /// OFPT_GET_ASYNC_REPLY (27)
    GetAsyncReply(AsyncConfig),
    /// OFPT_SET_ASYNC (28)
    SetAsync(AsyncConfig),
    /// OFPT_METER_MOD (29)
    MeterMod(MeterMod),
}

impl Message {
    /// A message with the given xid and body.
    pub fn new(xid: u32, body: MessageBody) -> Self {
        Self { xid, body }
    }

    /// Parses exactly one message (header and body); see the module
    /// documentation for the checks and their order. Errors are located
    /// (offsets from the first header byte) and carry the message type when the
    /// header had one.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let total = bytes.len();
        let Some(header) = bytes.first_chunk::<OFP_HEADER_LEN>() else {
            let e = ParseError::truncated(Element::Message, bytes, OFP_HEADER_LEN).located(total);
            return Err(match bytes.get(1) {
                Some(&t) => e.in_message(t),
                None => e,
            });
        };
        let version = header[0];
        let t = header[1];
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let xid = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let located = |e: ParseError| e.located(total).in_message(t);

        if length < OFP_HEADER_LEN || length != total {
            let (actual, reason) = if length < OFP_HEADER_LEN {
                (OFP_HEADER_LEN, "shorter than the header")
            } else {
                (total, "differs from the message size")
            };
            return Err(located(ParseError::bad_length(
                Element::Message,
                &bytes[2..],
                length,
                actual,
                reason,
            )));
        }
        if version != OFP_VERSION && t != msg_type::HELLO {
            return Err(located(ParseError::new(
                ParseErrorKind::BadVersion { version },
                total,
            )));
        }
        if t > msg_type::MAX {
            return Err(located(ParseError::new(
                ParseErrorKind::BadType { msg_type: t },
                total - 1,
            )));
        }
        let body = &bytes[OFP_HEADER_LEN..];
        match MessageBody::parse(version, t, body) {
            Ok(body) => Ok(Message { xid, body }),
            Err(e) => Err(located(into_error(e, body))),
        }
    }

    /// The exact number of bytes [`Message::emit`] writes.
    pub fn wire_len(&self) -> usize {
        OFP_HEADER_LEN + self.body.body_len()
    }

    /// Appends the encoded message (exactly [`Message::wire_len`] bytes).
    pub fn emit<B: BufMut>(&self, out: &mut B) {
        self.emit_with_len(self.wire_len(), out);
    }

    /// [`Message::emit`] for a caller that has just computed `wire_len`
    /// (to reserve or to check a limit): walking the body for its length is
    /// a good part of the cost of emitting, so it is not done twice.
    pub(crate) fn emit_with_len<B: BufMut>(&self, wire_len: usize, out: &mut B) {
        debug_assert_eq!(wire_len, self.wire_len());
        let version = match &self.body {
            MessageBody::Hello(h) => h.version,
            _ => OFP_VERSION,
        };
        let [l0, l1] = len_u16(wire_len).to_be_bytes();
        let [x0, x1, x2, x3] = self.xid.to_be_bytes();
        // One write instead of four: each `put_*` checks capacity.
        out.put_slice(&[version, self.body.msg_type(), l0, l1, x0, x1, x2, x3]);
        self.body.emit(out);
    }

    /// Encodes into a fresh vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let len = self.wire_len();
        let mut v = Vec::with_capacity(len);
        self.emit_with_len(len, &mut v);
        v
    }

    /// The `ofp_header.type` byte.
    pub fn msg_type(&self) -> u8 {
        self.body.msg_type()
    }
}

impl MessageBody {
    /// The `ofp_header.type` byte of this body.
    pub fn msg_type(&self) -> u8 {
        use msg_type as t;
        match self {
            Self::Hello(_) => t::HELLO,
            Self::Error(_) => t::ERROR,
            Self::EchoRequest(_) => t::ECHO_REQUEST,
            Self::EchoReply(_) => t::ECHO_REPLY,
            Self::Experimenter(_) => t::EXPERIMENTER,
            Self::FeaturesRequest => t::FEATURES_REQUEST,
            Self::FeaturesReply(_) => t::FEATURES_REPLY,
            Self::GetConfigRequest => t::GET_CONFIG_REQUEST,
            Self::GetConfigReply(_) => t::GET_CONFIG_REPLY,
            Self::SetConfig(_) => t::SET_CONFIG,
            Self::PacketIn(_) => t::PACKET_IN,
            Self::FlowRemoved(_) => t::FLOW_REMOVED,
            Self::PortStatus(_) => t::PORT_STATUS,
            Self::PacketOut(_) => t::PACKET_OUT,
            Self::FlowMod(_) => t::FLOW_MOD,
            Self::GroupMod(_) => t::GROUP_MOD,
            Self::PortMod(_) => t::PORT_MOD,
            Self::TableMod(_) => t::TABLE_MOD,
            Self::MultipartRequest(_) => t::MULTIPART_REQUEST,
            Self::MultipartReply(_) => t::MULTIPART_REPLY,
            Self::BarrierRequest => t::BARRIER_REQUEST,
            Self::BarrierReply => t::BARRIER_REPLY,
            Self::QueueGetConfigRequest { .. } => t::QUEUE_GET_CONFIG_REQUEST,
            Self::QueueGetConfigReply(_) => t::QUEUE_GET_CONFIG_REPLY,
            Self::RoleRequest(_) => t::ROLE_REQUEST,
            Self::RoleReply(_) => t::ROLE_REPLY,
            Self::GetAsyncRequest => t::GET_ASYNC_REQUEST,
            Self::GetAsyncReply(_) => t::GET_ASYNC_REPLY,
            Self::SetAsync(_) => t::SET_ASYNC,
            Self::MeterMod(_) => t::METER_MOD,
        }
    }

    /// The spec name of this body's message type (`"FLOW_MOD"`, …).
    pub fn name(&self) -> &'static str {
        msg_type_name(self.msg_type())
    }

    /// Length of the body (the message without its 8-byte header).
    pub fn body_len(&self) -> usize {
        match self {
            Self::Hello(h) => len_all(&h.elements),
            Self::Error(e) => e.body_len(),
            Self::EchoRequest(d) | Self::EchoReply(d) => d.len(),
            Self::Experimenter(e) => 8 + e.data.len(),
            Self::FeaturesRequest
            | Self::GetConfigRequest
            | Self::BarrierRequest
            | Self::BarrierReply
            | Self::GetAsyncRequest => 0,
            Self::FeaturesReply(_) => SwitchFeatures::BODY_LEN,
            Self::GetConfigReply(_) | Self::SetConfig(_) => SwitchConfig::BODY_LEN,
            Self::PacketIn(p) => p.body_len(),
            Self::FlowRemoved(f) => FlowRemoved::FIXED_LEN + f.match_.wire_len(),
            Self::PortStatus(_) => 8 + Port::LEN,
            Self::PacketOut(p) => PacketOut::FIXED_LEN + len_all(&p.actions) + p.data.len(),
            Self::FlowMod(f) => FlowMod::FIXED_LEN + f.match_.wire_len() + len_all(&f.instructions),
            Self::GroupMod(g) => GroupMod::FIXED_LEN + len_all(&g.buckets),
            Self::PortMod(_) => PortMod::BODY_LEN,
            Self::TableMod(_) => TableMod::BODY_LEN,
            Self::MultipartRequest(m) => m.body_len(),
            Self::MultipartReply(m) => m.body_len(),
            Self::QueueGetConfigRequest { .. } => 8,
            Self::QueueGetConfigReply(q) => 8 + len_all(&q.queues),
            Self::RoleRequest(_) | Self::RoleReply(_) => RoleMsg::BODY_LEN,
            Self::GetAsyncReply(_) | Self::SetAsync(_) => AsyncConfig::BODY_LEN,
            Self::MeterMod(m) => MeterMod::FIXED_LEN + len_all(&m.bands),
        }
    }

    /// Parses a body of type `t`; `version` is only used by HELLO.
    fn parse(version: u8, t: u8, body: &[u8]) -> BodyResult<Self> {
        use msg_type as t;
        Ok(match t {
            t::HELLO => Self::Hello(Hello {
                version,
                elements: parse_all(body).map_err(nom_err)?,
            }),
            t::ERROR => Self::Error(ErrorMsg::parse_body(body)?),
            t::ECHO_REQUEST => Self::EchoRequest(body.to_vec()),
            t::ECHO_REPLY => Self::EchoReply(body.to_vec()),
            t::EXPERIMENTER => Self::Experimenter(ExperimenterMsg::parse_body(body)?),
            t::FEATURES_REQUEST => {
                finish(body, body)?;
                Self::FeaturesRequest
            }
            t::FEATURES_REPLY => Self::FeaturesReply(SwitchFeatures::parse_body(body)?),
            t::GET_CONFIG_REQUEST => {
                finish(body, body)?;
                Self::GetConfigRequest
            }
            t::GET_CONFIG_REPLY => Self::GetConfigReply(SwitchConfig::parse_body(body)?),
            t::SET_CONFIG => Self::SetConfig(SwitchConfig::parse_body(body)?),
            t::PACKET_IN => Self::PacketIn(PacketIn::parse_body(body)?),
            t::FLOW_REMOVED => Self::FlowRemoved(FlowRemoved::parse_body(body)?),
            t::PORT_STATUS => Self::PortStatus(PortStatus::parse_body(body)?),
            t::PACKET_OUT => Self::PacketOut(PacketOut::parse_body(body)?),
            t::FLOW_MOD => Self::FlowMod(FlowMod::parse_body(body)?),
            t::GROUP_MOD => Self::GroupMod(GroupMod::parse_body(body)?),
            t::PORT_MOD => Self::PortMod(PortMod::parse_body(body)?),
            t::TABLE_MOD => Self::TableMod(TableMod::parse_body(body)?),
            t::MULTIPART_REQUEST => {
                Self::MultipartRequest(MultipartRequest::parse_body(body).map_err(nom_err)?)
            }
            t::MULTIPART_REPLY => {
                Self::MultipartReply(MultipartReply::parse_body(body).map_err(nom_err)?)
            }
            t::BARRIER_REQUEST => {
                finish(body, body)?;
                Self::BarrierRequest
            }
            t::BARRIER_REPLY => {
                finish(body, body)?;
                Self::BarrierReply
            }
            t::QUEUE_GET_CONFIG_REQUEST => {
                let (rest, port) = u32_at(Element::Message, body)?;
                let (rest, ()) = skip(Element::Message, rest, 4)?;
                finish(body, rest)?;
                Self::QueueGetConfigRequest { port }
            }
            t::QUEUE_GET_CONFIG_REPLY => {
                Self::QueueGetConfigReply(QueueGetConfigReply::parse_body(body)?)
            }
            t::ROLE_REQUEST => Self::RoleRequest(RoleMsg::parse_body(body)?),
            t::ROLE_REPLY => Self::RoleReply(RoleMsg::parse_body(body)?),
            t::GET_ASYNC_REQUEST => {
                finish(body, body)?;
                Self::GetAsyncRequest
            }
            t::GET_ASYNC_REPLY => Self::GetAsyncReply(AsyncConfig::parse_body(body)?),
            t::SET_ASYNC => Self::SetAsync(AsyncConfig::parse_body(body)?),
            t::METER_MOD => Self::MeterMod(MeterMod::parse_body(body)?),
            other => {
                // Message::parse checks the type first; kept so that this
                // function is total on its own.
                return Err(nom_err(ParseError::new(
                    ParseErrorKind::BadType { msg_type: other },
                    body.len() + OFP_HEADER_LEN - 1,
                )));
            }
        })
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        match self {
            Self::Hello(h) => emit_all(&h.elements, out),
            Self::Error(e) => e.emit_body(out),
            Self::EchoRequest(d) | Self::EchoReply(d) => out.put_slice(d),
            Self::Experimenter(e) => {
                out.put_u32(e.experimenter);
                out.put_u32(e.exp_type);
                out.put_slice(&e.data);
            }
            Self::FeaturesRequest
            | Self::GetConfigRequest
            | Self::BarrierRequest
            | Self::BarrierReply
            | Self::GetAsyncRequest => {}
            Self::FeaturesReply(f) => f.emit_body(out),
            Self::GetConfigReply(c) | Self::SetConfig(c) => {
                out.put_u16(c.flags);
                out.put_u16(c.miss_send_len);
            }
            Self::PacketIn(p) => p.emit_body(out),
            Self::FlowRemoved(f) => f.emit_body(out),
            Self::PortStatus(p) => {
                out.put_u8(p.reason);
                put_zeros(out, 7);
                p.desc.emit(out);
            }
            Self::PacketOut(p) => p.emit_body(out),
            Self::FlowMod(f) => f.emit_body(out),
            Self::GroupMod(g) => {
                out.put_u16(g.command);
                out.put_u8(g.group_type);
                put_zeros(out, 1);
                out.put_u32(g.group_id);
                emit_all(&g.buckets, out);
            }
            Self::PortMod(p) => p.emit_body(out),
            Self::TableMod(t) => {
                out.put_u8(t.table_id);
                put_zeros(out, 3);
                out.put_u32(t.config);
            }
            Self::MultipartRequest(m) => m.emit_body(out),
            Self::MultipartReply(m) => m.emit_body(out),
            Self::QueueGetConfigRequest { port } => {
                out.put_u32(*port);
                put_zeros(out, 4);
            }
            Self::QueueGetConfigReply(q) => {
                out.put_u32(q.port);
                put_zeros(out, 4);
                emit_all(&q.queues, out);
            }
            Self::RoleRequest(r) | Self::RoleReply(r) => {
                out.put_u32(r.role);
                put_zeros(out, 4);
                out.put_u64(r.generation_id);
            }
            Self::GetAsyncReply(a) | Self::SetAsync(a) => {
                for m in [a.packet_in_mask, a.port_status_mask, a.flow_removed_mask] {
                    out.put_u32(m[0]);
                    out.put_u32(m[1]);
                }
            }
            Self::MeterMod(m) => {
                out.put_u16(m.command);
                out.put_u16(m.flags);
                out.put_u32(m.meter_id);
                emit_all(&m.bands, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// HELLO
// ---------------------------------------------------------------------------

/// OFPT_HELLO: the version the peer announced and its hello elements.
///
/// Version negotiation (OpenFlow 1.3.5 §6.3.1): when both sides send a version
/// bitmap, the highest version in both is used; otherwise the lower of the two
/// header versions. [`Hello::supports_version`] answers the question for one
/// version from the peer's side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hello {
    /// `ofp_header.version` as received (and as emitted).
    pub version: u8,
    /// The hello elements, in wire order.
    pub elements: Vec<HelloElement>,
}

/// One `ofp_hello_elem`: `type u16, length u16` (excluding padding), body,
/// padding to a multiple of 8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HelloElement {
    /// OFPHET_VERSIONBITMAP (1): bit `n` of the bitmap (word `n / 32`, bit
    /// `n % 32`) is set when wire version `n` is supported.
    VersionBitmap(Vec<u32>),
    /// Any other element type: its body without padding.
    Unknown {
        /// Element type (never 1 once parsed).
        elem_type: u16,
        /// The bytes after the 4-byte element header, without padding.
        body: Vec<u8>,
    },
}

impl Default for Hello {
    /// [`Hello::standard`].
    fn default() -> Self {
        Self::standard()
    }
}

impl Hello {
    /// The HELLO this crate sends: version 0x04 with a version bitmap that has
    /// only OpenFlow 1.3 (0x00000010).
    pub fn standard() -> Self {
        Self {
            version: OFP_VERSION,
            elements: vec![HelloElement::version_bitmap(&[OFP_VERSION])],
        }
    }

    /// The words of the first version-bitmap element, if there is one.
    pub fn version_bitmap(&self) -> Option<&[u32]> {
        self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(words) => Some(words.as_slice()),
            HelloElement::Unknown { .. } => None,
        })
    }

    /// Whether a peer that sent this HELLO can speak wire version `v`: with a
    /// bitmap, whether its bit is set; without one, whether the announced
    /// version is at least `v` (the peer then negotiates down to the lower
    /// version, §6.3.1).
    pub fn supports_version(&self, v: u8) -> bool {
        match self.version_bitmap() {
            Some(words) => words
                .get(usize::from(v / 32))
                .is_some_and(|w| w & (1 << (v % 32)) != 0),
            None => self.version >= v,
        }
    }

    /// Whether the peer can speak OpenFlow 1.3.
    pub fn supports_of13(&self) -> bool {
        self.supports_version(OFP_VERSION)
    }
}

impl HelloElement {
    /// Length of the element header.
    const HEADER_LEN: usize = 4;

    /// A version bitmap with exactly the given wire versions set.
    pub fn version_bitmap(versions: &[u8]) -> Self {
        let words = versions
            .iter()
            .map(|v| usize::from(v / 32) + 1)
            .max()
            .unwrap_or(0);
        let mut bitmap = vec![0u32; words];
        for &v in versions {
            bitmap[usize::from(v / 32)] |= 1 << (v % 32);
        }
        Self::VersionBitmap(bitmap)
    }

    /// The element type on the wire.
    pub fn elem_type(&self) -> u16 {
        match self {
            Self::VersionBitmap(_) => hello_elem_type::VERSION_BITMAP,
            Self::Unknown { elem_type, .. } => *elem_type,
        }
    }

    /// The `length` field: header plus body, without padding.
    fn unpadded_len(&self) -> usize {
        Self::HEADER_LEN
            + match self {
                Self::VersionBitmap(words) => 4 * words.len(),
                Self::Unknown { body, .. } => body.len(),
            }
    }
}

impl Wire for HelloElement {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::HelloElement;
        let (b, elem_type) = u16_at(E, input)?;
        let (_, len) = u16_at(E, b)?;
        let len = usize::from(len);
        if len < Self::HEADER_LEN {
            return Err(nom_err(ParseError::bad_length(
                E,
                &input[2..],
                len,
                Self::HEADER_LEN,
                "shorter than the element header",
            )));
        }
        // Elements are padded to 8 bytes; the padding must be there too.
        let padded = pad8(len);
        if padded > input.len() {
            return Err(nom_err(ParseError::truncated(E, input, padded)));
        }
        let body = &input[Self::HEADER_LEN..len];
        let elem = if elem_type == hello_elem_type::VERSION_BITMAP {
            if !body.len().is_multiple_of(4) {
                return Err(nom_err(ParseError::bad_length(
                    E,
                    &input[2..],
                    len,
                    Self::HEADER_LEN + body.len() / 4 * 4,
                    "bitmap is not a whole number of 32-bit words",
                )));
            }
            Self::VersionBitmap(
                body.chunks_exact(4)
                    .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                    .collect(),
            )
        } else {
            Self::Unknown {
                elem_type,
                body: body.to_vec(),
            }
        };
        Ok((&input[padded..], elem))
    }

    fn wire_len(&self) -> usize {
        pad8(self.unpadded_len())
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        let len = self.unpadded_len();
        out.put_u16(self.elem_type());
        out.put_u16(len_u16(len));
        match self {
            Self::VersionBitmap(words) => {
                for w in words {
                    out.put_u32(*w);
                }
            }
            Self::Unknown { body, .. } => out.put_slice(body),
        }
        put_zeros(out, pad8(len) - len);
    }
}

// ---------------------------------------------------------------------------
// ERROR, EXPERIMENTER
// ---------------------------------------------------------------------------

/// OFPT_ERROR: the typed error code and its data.
///
/// On the wire: `type u16, code u16, data`; for `OFPET_EXPERIMENTER` (0xffff)
/// instead `type u16, exp_code u16, experimenter u32, data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// The error type and code.
    pub code: ErrorCode,
    /// For errors answering a request: (the start of) the offending message.
    /// For HELLO_FAILED and experimenter errors: usually an ASCII explanation.
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// An error answering `offending_msg`, carrying it ([`error_data`]:
    /// the spec requires at least its first 64 bytes).
    pub fn new(code: ErrorCode, offending_msg: &[u8]) -> Self {
        Self {
            code,
            data: error_data(offending_msg).to_vec(),
        }
    }

    /// The error a switch answers a malformed message with.
    pub fn from_parse_error(e: &ParseError, offending: &[u8]) -> Self {
        Self::new(e.error_code(), offending)
    }

    /// An error whose data is a text explanation (HELLO_FAILED, experimenter
    /// errors).
    pub fn with_text(code: ErrorCode, text: &str) -> Self {
        Self {
            code,
            data: text.as_bytes().to_vec(),
        }
    }

    fn body_len(&self) -> usize {
        match self.code {
            ErrorCode::Experimenter { .. } => 8 + self.data.len(),
            _ => 4 + self.data.len(),
        }
    }

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (rest, err_type) = u16_at(E, body)?;
        let (rest, code) = u16_at(E, rest)?;
        let (rest, code) = if err_type == error_type::EXPERIMENTER {
            let (rest, experimenter) = u32_at(E, rest)?;
            (
                rest,
                ErrorCode::Experimenter {
                    exp_code: code,
                    experimenter,
                },
            )
        } else {
            (rest, ErrorCode::from_raw(err_type, code))
        };
        Ok(Self {
            code,
            data: rest.to_vec(),
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.code.err_type());
        out.put_u16(self.code.code());
        if let ErrorCode::Experimenter { experimenter, .. } = self.code {
            out.put_u32(experimenter);
        }
        out.put_slice(&self.data);
    }
}

/// OFPT_EXPERIMENTER: `experimenter u32, exp_type u32, data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExperimenterMsg {
    /// Experimenter id (e.g. the Oko extension's `0x004F4B4F`).
    pub experimenter: u32,
    /// Experimenter-defined message type.
    pub exp_type: u32,
    /// The rest of the message, verbatim.
    pub data: Vec<u8>,
}

impl ExperimenterMsg {
    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (rest, experimenter) = u32_at(Element::Message, body)?;
        let (rest, exp_type) = u32_at(Element::Message, rest)?;
        Ok(Self {
            experimenter,
            exp_type,
            data: rest.to_vec(),
        })
    }
}

// ---------------------------------------------------------------------------
// Switch configuration
// ---------------------------------------------------------------------------

/// OFPT_FEATURES_REPLY (`ofp_switch_features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchFeatures {
    /// Datapath id: the lower 48 bits are a MAC address, the upper 16 are
    /// implementer-defined.
    pub datapath_id: u64,
    /// Packets the switch can buffer at once.
    pub n_buffers: u32,
    /// Number of flow tables.
    pub n_tables: u8,
    /// 0 for the main connection, non-zero for auxiliary connections.
    pub auxiliary_id: u8,
    /// OFPC_* bits ([`capabilities`]).
    pub capabilities: u32,
    /// Reserved.
    pub reserved: u32,
}

impl SwitchFeatures {
    const BODY_LEN: usize = 24;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, datapath_id) = u64_at(E, body)?;
        let (r, n_buffers) = u32_at(E, r)?;
        let (r, n_tables) = u8_at(E, r)?;
        let (r, auxiliary_id) = u8_at(E, r)?;
        let (r, ()) = skip(E, r, 2)?;
        let (r, capabilities) = u32_at(E, r)?;
        let (r, reserved) = u32_at(E, r)?;
        finish(body, r)?;
        Ok(Self {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities,
            reserved,
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u64(self.datapath_id);
        out.put_u32(self.n_buffers);
        out.put_u8(self.n_tables);
        out.put_u8(self.auxiliary_id);
        put_zeros(out, 2);
        out.put_u32(self.capabilities);
        out.put_u32(self.reserved);
    }
}

/// OFPT_GET_CONFIG_REPLY and OFPT_SET_CONFIG (`ofp_switch_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    /// OFPC_FRAG_* ([`config_flags`]).
    pub flags: u16,
    /// Bytes of a table-miss packet sent to the controller.
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    /// FRAG_NORMAL, 128 bytes.
    fn default() -> Self {
        Self {
            flags: config_flags::FRAG_NORMAL,
            miss_send_len: OFP_DEFAULT_MISS_SEND_LEN,
        }
    }
}

impl SwitchConfig {
    const BODY_LEN: usize = 4;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (r, flags) = u16_at(Element::Message, body)?;
        let (r, miss_send_len) = u16_at(Element::Message, r)?;
        finish(body, r)?;
        Ok(Self {
            flags,
            miss_send_len,
        })
    }
}

// ---------------------------------------------------------------------------
// Asynchronous messages
// ---------------------------------------------------------------------------

/// OFPT_PACKET_IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// Buffer id, or [`OFP_NO_BUFFER`].
    pub buffer_id: u32,
    /// Full length of the frame (`data` may be shorter).
    pub total_len: u16,
    /// OFPR_* ([`packet_in_reason`]).
    pub reason: u8,
    /// Table the packet was looked up in.
    pub table_id: u8,
    /// Cookie of the flow that sent the packet (all ones on a table miss
    /// without a miss flow).
    pub cookie: u64,
    /// Pipeline fields of the packet (at least `in_port`).
    pub match_: Match,
    /// The frame, or its first `miss_send_len`/`max_len` bytes.
    pub data: Vec<u8>,
}

impl PacketIn {
    const FIXED_LEN: usize = 16;

    fn body_len(&self) -> usize {
        Self::FIXED_LEN + self.match_.wire_len() + 2 + self.data.len()
    }

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, buffer_id) = u32_at(E, body)?;
        let (r, total_len) = u16_at(E, r)?;
        let (r, reason) = u8_at(E, r)?;
        let (r, table_id) = u8_at(E, r)?;
        let (r, cookie) = u64_at(E, r)?;
        let (r, match_) = Match::parse(r)?;
        let (data, ()) = skip(E, r, 2)?;
        Ok(Self {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            match_,
            data: data.to_vec(),
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.buffer_id);
        out.put_u16(self.total_len);
        out.put_u8(self.reason);
        out.put_u8(self.table_id);
        out.put_u64(self.cookie);
        self.match_.emit(out);
        put_zeros(out, 2);
        out.put_slice(&self.data);
    }
}

/// OFPT_FLOW_REMOVED.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    /// The flow's cookie.
    pub cookie: u64,
    /// The flow's priority.
    pub priority: u16,
    /// OFPRR_* ([`flow_removed_reason`]).
    pub reason: u8,
    /// The flow's table.
    pub table_id: u8,
    /// Seconds the flow was alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// The flow's idle timeout.
    pub idle_timeout: u16,
    /// The flow's hard timeout.
    pub hard_timeout: u16,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The flow's match.
    pub match_: Match,
}

impl FlowRemoved {
    const FIXED_LEN: usize = 40;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, cookie) = u64_at(E, body)?;
        let (r, priority) = u16_at(E, r)?;
        let (r, reason) = u8_at(E, r)?;
        let (r, table_id) = u8_at(E, r)?;
        let (r, duration_sec) = u32_at(E, r)?;
        let (r, duration_nsec) = u32_at(E, r)?;
        let (r, idle_timeout) = u16_at(E, r)?;
        let (r, hard_timeout) = u16_at(E, r)?;
        let (r, packet_count) = u64_at(E, r)?;
        let (r, byte_count) = u64_at(E, r)?;
        let (r, match_) = Match::parse(r)?;
        finish(body, r)?;
        Ok(Self {
            cookie,
            priority,
            reason,
            table_id,
            duration_sec,
            duration_nsec,
            idle_timeout,
            hard_timeout,
            packet_count,
            byte_count,
            match_,
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u64(self.cookie);
        out.put_u16(self.priority);
        out.put_u8(self.reason);
        out.put_u8(self.table_id);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        self.match_.emit(out);
    }
}

/// OFPT_PORT_STATUS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortStatus {
    /// OFPPR_* ([`port_reason`]).
    pub reason: u8,
    /// The port as it is now (as it was, for DELETE).
    pub desc: Port,
}

impl PortStatus {
    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (r, reason) = u8_at(Element::Message, body)?;
        let (r, ()) = skip(Element::Message, r, 7)?;
        let (r, desc) = Port::parse(r)?;
        finish(body, r)?;
        Ok(Self { reason, desc })
    }
}

// ---------------------------------------------------------------------------
// Controller commands
// ---------------------------------------------------------------------------

/// OFPT_PACKET_OUT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketOut {
    /// Buffer id, or [`OFP_NO_BUFFER`] when the frame is in `data`.
    pub buffer_id: u32,
    /// The packet's ingress port (OFPP_CONTROLLER when it has none).
    pub in_port: u32,
    /// Actions to apply.
    pub actions: Vec<Action>,
    /// The frame (empty when `buffer_id` names a buffer).
    pub data: Vec<u8>,
}

impl PacketOut {
    const FIXED_LEN: usize = 16;

    /// An unbuffered packet-out carrying `data`.
    pub fn new(in_port: u32, actions: Vec<Action>, data: Vec<u8>) -> Self {
        Self {
            buffer_id: OFP_NO_BUFFER,
            in_port,
            actions,
            data,
        }
    }

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, buffer_id) = u32_at(E, body)?;
        let (r, in_port) = u32_at(E, r)?;
        let at_len = r;
        let (r, actions_len) = u16_at(E, r)?;
        let (r, ()) = skip(E, r, 6)?;
        let actions_len = usize::from(actions_len);
        if actions_len > r.len() {
            return Err(nom_err(ParseError::bad_length(
                E,
                at_len,
                actions_len,
                r.len(),
                "actions_len runs past the end of the message",
            )));
        }
        let (region, data) = r.split_at(actions_len);
        let actions = parse_all(region).map_err(|e| nom_err(rebase(e, data.len())))?;
        Ok(Self {
            buffer_id,
            in_port,
            actions,
            data: data.to_vec(),
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.buffer_id);
        out.put_u32(self.in_port);
        out.put_u16(len_u16(len_all(&self.actions)));
        put_zeros(out, 6);
        emit_all(&self.actions, out);
        out.put_slice(&self.data);
    }
}

/// OFPT_FLOW_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMod {
    /// Opaque controller-issued identifier.
    pub cookie: u64,
    /// For MODIFY/DELETE: which cookie bits must match (0 = ignore cookies).
    pub cookie_mask: u64,
    /// Table to put the flow in (OFPTT_ALL for deletes in every table).
    pub table_id: u8,
    /// OFPFC_* ([`flow_mod_command`]).
    pub command: u8,
    /// Idle time before discarding, seconds (0 = never).
    pub idle_timeout: u16,
    /// Max time before discarding, seconds (0 = never).
    pub hard_timeout: u16,
    /// Priority.
    pub priority: u16,
    /// Buffered packet to apply the flow to, or [`OFP_NO_BUFFER`].
    pub buffer_id: u32,
    /// For DELETE: require an output to this port (OFPP_ANY = no restriction).
    pub out_port: u32,
    /// For DELETE: require an output to this group (OFPG_ANY = no restriction).
    pub out_group: u32,
    /// OFPFF_* ([`flow_mod_flags`]).
    pub flags: u16,
    /// The match.
    pub match_: Match,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

impl Default for FlowMod {
    /// An ADD into table 0 at the default priority, with no timeouts, no
    /// buffer, and the "no restriction" values for `out_port`/`out_group`: the
    /// values a controller means when it does not mention them.
    fn default() -> Self {
        Self {
            cookie: 0,
            cookie_mask: 0,
            table_id: 0,
            command: flow_mod_command::ADD,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: OFP_DEFAULT_PRIORITY,
            buffer_id: OFP_NO_BUFFER,
            out_port: crate::port::port_no::ANY,
            out_group: crate::group::group_id::ANY,
            flags: 0,
            match_: Match::default(),
            instructions: Vec::new(),
        }
    }
}

impl FlowMod {
    const FIXED_LEN: usize = 40;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        // FLOW_MOD is the hot message: read the fixed part as one block with
        // constant offsets instead of field by field with a check each.
        let Some((f, r)) = body.split_first_chunk::<{ Self::FIXED_LEN }>() else {
            return Err(nom_err(ParseError::truncated(
                Element::Message,
                body,
                Self::FIXED_LEN,
            )));
        };
        let cookie = u64::from_be_bytes(field(f, 0));
        let cookie_mask = u64::from_be_bytes(field(f, 8));
        let [table_id, command] = field(f, 16);
        let idle_timeout = u16::from_be_bytes(field(f, 18));
        let hard_timeout = u16::from_be_bytes(field(f, 20));
        let priority = u16::from_be_bytes(field(f, 22));
        let buffer_id = u32::from_be_bytes(field(f, 24));
        let out_port = u32::from_be_bytes(field(f, 28));
        let out_group = u32::from_be_bytes(field(f, 32));
        let flags = u16::from_be_bytes(field(f, 36));
        let (r, match_) = Match::parse(r)?;
        let instructions = parse_all(r).map_err(nom_err)?;
        Ok(Self {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            match_,
            instructions,
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        let mut f = [0u8; Self::FIXED_LEN];
        f[0..8].copy_from_slice(&self.cookie.to_be_bytes());
        f[8..16].copy_from_slice(&self.cookie_mask.to_be_bytes());
        f[16] = self.table_id;
        f[17] = self.command;
        f[18..20].copy_from_slice(&self.idle_timeout.to_be_bytes());
        f[20..22].copy_from_slice(&self.hard_timeout.to_be_bytes());
        f[22..24].copy_from_slice(&self.priority.to_be_bytes());
        f[24..28].copy_from_slice(&self.buffer_id.to_be_bytes());
        f[28..32].copy_from_slice(&self.out_port.to_be_bytes());
        f[32..36].copy_from_slice(&self.out_group.to_be_bytes());
        f[36..38].copy_from_slice(&self.flags.to_be_bytes());
        // f[38..40] is padding, already zero.
        out.put_slice(&f);
        self.match_.emit(out);
        emit_all(&self.instructions, out);
    }
}

/// OFPT_GROUP_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMod {
    /// OFPGC_* ([`crate::group::group_mod_command`]).
    pub command: u16,
    /// OFPGT_* ([`crate::group::group_type`]).
    pub group_type: u8,
    /// Group id.
    pub group_id: u32,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    const FIXED_LEN: usize = 8;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, command) = u16_at(E, body)?;
        let (r, group_type) = u8_at(E, r)?;
        let (r, ()) = skip(E, r, 1)?;
        let (r, group_id) = u32_at(E, r)?;
        let buckets = parse_all(r).map_err(nom_err)?;
        Ok(Self {
            command,
            group_type,
            group_id,
            buckets,
        })
    }
}

/// OFPT_PORT_MOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMod {
    /// Port to modify.
    pub port_no: u32,
    /// Must equal the port's address (a sanity check, not a change).
    pub hw_addr: [u8; 6],
    /// New OFPPC_* bits (only those in `mask` are applied).
    pub config: u32,
    /// Which `config` bits to change.
    pub mask: u32,
    /// OFPPF_* bits to advertise (0 = leave unchanged).
    pub advertise: u32,
}

impl PortMod {
    const BODY_LEN: usize = 32;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, port_no) = u32_at(E, body)?;
        let (r, ()) = skip(E, r, 4)?;
        let (r, hw_addr) = array_at::<6>(E, r)?;
        let (r, ()) = skip(E, r, 2)?;
        let (r, config) = u32_at(E, r)?;
        let (r, mask) = u32_at(E, r)?;
        let (r, advertise) = u32_at(E, r)?;
        let (r, ()) = skip(E, r, 4)?;
        finish(body, r)?;
        Ok(Self {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        })
    }

    fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.port_no);
        put_zeros(out, 4);
        out.put_slice(&self.hw_addr);
        put_zeros(out, 2);
        out.put_u32(self.config);
        out.put_u32(self.mask);
        out.put_u32(self.advertise);
        put_zeros(out, 4);
    }
}

/// OFPT_TABLE_MOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableMod {
    /// Table to configure, or OFPTT_ALL.
    pub table_id: u8,
    /// OFPTC_* bits ([`table_config`]).
    pub config: u32,
}

impl TableMod {
    const BODY_LEN: usize = 8;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (r, table_id) = u8_at(Element::Message, body)?;
        let (r, ()) = skip(Element::Message, r, 3)?;
        let (r, config) = u32_at(Element::Message, r)?;
        finish(body, r)?;
        Ok(Self { table_id, config })
    }
}

/// OFPT_METER_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeterMod {
    /// OFPMC_* ([`crate::meter::meter_mod_command`]).
    pub command: u16,
    /// OFPMF_* ([`crate::meter::meter_flags`]).
    pub flags: u16,
    /// Meter id.
    pub meter_id: u32,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

impl MeterMod {
    const FIXED_LEN: usize = 8;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        const E: Element = Element::Message;
        let (r, command) = u16_at(E, body)?;
        let (r, flags) = u16_at(E, r)?;
        let (r, meter_id) = u32_at(E, r)?;
        let bands = parse_all(r).map_err(nom_err)?;
        Ok(Self {
            command,
            flags,
            meter_id,
            bands,
        })
    }
}

// ---------------------------------------------------------------------------
// Queues, roles, asynchronous configuration
// ---------------------------------------------------------------------------

/// OFPT_QUEUE_GET_CONFIG_REPLY.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueGetConfigReply {
    /// The port that was queried.
    pub port: u32,
    /// Its queues.
    pub queues: Vec<PacketQueue>,
}

impl QueueGetConfigReply {
    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (r, port) = u32_at(Element::Message, body)?;
        let (r, ()) = skip(Element::Message, r, 4)?;
        let queues = parse_all(r).map_err(nom_err)?;
        Ok(Self { port, queues })
    }
}

/// OFPT_ROLE_REQUEST and OFPT_ROLE_REPLY (`ofp_role_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleMsg {
    /// OFPCR_ROLE_* ([`controller_role`]).
    pub role: u32,
    /// Master election generation id (ignored for EQUAL and NOCHANGE).
    pub generation_id: u64,
}

impl RoleMsg {
    const BODY_LEN: usize = 16;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let (r, role) = u32_at(Element::Message, body)?;
        let (r, ()) = skip(Element::Message, r, 4)?;
        let (r, generation_id) = u64_at(Element::Message, r)?;
        finish(body, r)?;
        Ok(Self {
            role,
            generation_id,
        })
    }
}

/// OFPT_GET_ASYNC_REPLY and OFPT_SET_ASYNC (`ofp_async_config`).
///
/// Each mask is a pair: index 0 applies when the connection's role is MASTER
/// or EQUAL, index 1 when it is SLAVE. Bit `n` of a mask enables reason `n`
/// (e.g. `1 << packet_in_reason::ACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AsyncConfig {
    /// PACKET_IN reasons (OFPR_*) to send.
    pub packet_in_mask: [u32; 2],
    /// PORT_STATUS reasons (OFPPR_*) to send.
    pub port_status_mask: [u32; 2],
    /// FLOW_REMOVED reasons (OFPRR_*) to send.
    pub flow_removed_mask: [u32; 2],
}

impl AsyncConfig {
    const BODY_LEN: usize = 24;

    fn parse_body(body: &[u8]) -> BodyResult<Self> {
        let mut r = body;
        let mut w = [0u32; 6];
        for v in &mut w {
            (r, *v) = u32_at(Element::Message, r)?;
        }
        finish(body, r)?;
        Ok(Self {
            packet_in_mask: [w[0], w[1]],
            port_status_mask: [w[2], w[3]],
            flow_removed_mask: [w[4], w[5]],
        })
    }
}

/// Proptest strategies for messages.
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), 0..max)
    }

    /// A canonical error code: named codes through `from_raw`, experimenter
    /// codes in their own layout.
    pub(crate) fn error_code() -> impl Strategy<Value = ErrorCode> {
        prop_oneof![
            (0u16..16, 0u16..20).prop_map(|(t, c)| ErrorCode::from_raw(t, c)),
            (16u16..0xffff, any::<u16>()).prop_map(|(t, c)| ErrorCode::from_raw(t, c)),
            (any::<u16>(), any::<u32>()).prop_map(|(exp_code, experimenter)| {
                ErrorCode::Experimenter {
                    exp_code,
                    experimenter,
                }
            }),
        ]
    }

    /// A canonical hello element.
    pub(crate) fn hello_element() -> impl Strategy<Value = HelloElement> {
        prop_oneof![
            vec(any::<u32>(), 0..3).prop_map(HelloElement::VersionBitmap),
            (
                any::<u16>()
                    .prop_filter("named element", |t| *t != hello_elem_type::VERSION_BITMAP),
                bytes(20)
            )
                .prop_map(|(elem_type, body)| HelloElement::Unknown { elem_type, body }),
        ]
    }

    fn hello() -> impl Strategy<Value = Hello> {
        (any::<u8>(), vec(hello_element(), 0..3))
            .prop_map(|(version, elements)| Hello { version, elements })
    }

    fn features() -> impl Strategy<Value = SwitchFeatures> {
        (
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<[u32; 2]>(),
        )
            .prop_map(
                |(datapath_id, n_buffers, n_tables, auxiliary_id, [capabilities, reserved])| {
                    SwitchFeatures {
                        datapath_id,
                        n_buffers,
                        n_tables,
                        auxiliary_id,
                        capabilities,
                        reserved,
                    }
                },
            )
    }

    fn config() -> impl Strategy<Value = SwitchConfig> {
        (any::<u16>(), any::<u16>()).prop_map(|(flags, miss_send_len)| SwitchConfig {
            flags,
            miss_send_len,
        })
    }

    fn packet_in() -> impl Strategy<Value = PacketIn> {
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u64>(),
            crate::oxm::strategy::match_(),
            bytes(64),
        )
            .prop_map(
                |(buffer_id, total_len, reason, table_id, cookie, match_, data)| PacketIn {
                    buffer_id,
                    total_len,
                    reason,
                    table_id,
                    cookie,
                    match_,
                    data,
                },
            )
    }

    fn flow_removed() -> impl Strategy<Value = FlowRemoved> {
        (
            any::<(u64, u16, u8, u8)>(),
            any::<(u32, u32, u16, u16, u64, u64)>(),
            crate::oxm::strategy::match_(),
        )
            .prop_map(
                |(
                    (cookie, priority, reason, table_id),
                    (
                        duration_sec,
                        duration_nsec,
                        idle_timeout,
                        hard_timeout,
                        packet_count,
                        byte_count,
                    ),
                    match_,
                )| FlowRemoved {
                    cookie,
                    priority,
                    reason,
                    table_id,
                    duration_sec,
                    duration_nsec,
                    idle_timeout,
                    hard_timeout,
                    packet_count,
                    byte_count,
                    match_,
                },
            )
    }

    fn packet_out() -> impl Strategy<Value = PacketOut> {
        (
            any::<u32>(),
            any::<u32>(),
            crate::action::strategy::actions(),
            bytes(64),
        )
            .prop_map(|(buffer_id, in_port, actions, data)| PacketOut {
                buffer_id,
                in_port,
                actions,
                data,
            })
    }

    pub(crate) fn flow_mod() -> impl Strategy<Value = FlowMod> {
        (
            any::<(u64, u64, u8, u8, u16, u16)>(),
            any::<(u16, u32, u32, u32, u16)>(),
            crate::oxm::strategy::match_(),
            crate::instruction::strategy::instructions(),
        )
            .prop_map(
                |(
                    (cookie, cookie_mask, table_id, command, idle_timeout, hard_timeout),
                    (priority, buffer_id, out_port, out_group, flags),
                    match_,
                    instructions,
                )| FlowMod {
                    cookie,
                    cookie_mask,
                    table_id,
                    command,
                    idle_timeout,
                    hard_timeout,
                    priority,
                    buffer_id,
                    out_port,
                    out_group,
                    flags,
                    match_,
                    instructions,
                },
            )
    }

    fn group_mod() -> impl Strategy<Value = GroupMod> {
        (
            any::<u16>(),
            any::<u8>(),
            any::<u32>(),
            crate::group::strategy::buckets(),
        )
            .prop_map(|(command, group_type, group_id, buckets)| GroupMod {
                command,
                group_type,
                group_id,
                buckets,
            })
    }

    fn port_mod() -> impl Strategy<Value = PortMod> {
        (any::<u32>(), any::<[u8; 6]>(), any::<[u32; 3]>()).prop_map(
            |(port_no, hw_addr, [config, mask, advertise])| PortMod {
                port_no,
                hw_addr,
                config,
                mask,
                advertise,
            },
        )
    }

    fn role() -> impl Strategy<Value = RoleMsg> {
        (any::<u32>(), any::<u64>()).prop_map(|(role, generation_id)| RoleMsg {
            role,
            generation_id,
        })
    }

    fn async_config() -> impl Strategy<Value = AsyncConfig> {
        any::<[u32; 6]>().prop_map(|w| AsyncConfig {
            packet_in_mask: [w[0], w[1]],
            port_status_mask: [w[2], w[3]],
            flow_removed_mask: [w[4], w[5]],
        })
    }

    fn meter_mod() -> impl Strategy<Value = MeterMod> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            crate::meter::strategy::bands(),
        )
            .prop_map(|(command, flags, meter_id, bands)| MeterMod {
                command,
                flags,
                meter_id,
                bands,
            })
    }

    /// A canonical body of any of the 30 message types.
    pub(crate) fn body() -> impl Strategy<Value = MessageBody> {
        use MessageBody as B;
        prop_oneof![
            hello().prop_map(B::Hello),
            (error_code(), bytes(80)).prop_map(|(code, data)| B::Error(ErrorMsg { code, data })),
            bytes(40).prop_map(B::EchoRequest),
            bytes(40).prop_map(B::EchoReply),
            (any::<u32>(), any::<u32>(), bytes(40)).prop_map(|(experimenter, exp_type, data)| {
                B::Experimenter(ExperimenterMsg {
                    experimenter,
                    exp_type,
                    data,
                })
            }),
            Just(B::FeaturesRequest),
            features().prop_map(B::FeaturesReply),
            Just(B::GetConfigRequest),
            config().prop_map(B::GetConfigReply),
            config().prop_map(B::SetConfig),
            packet_in().prop_map(B::PacketIn),
            flow_removed().prop_map(B::FlowRemoved),
            (any::<u8>(), crate::port::strategy::port())
                .prop_map(|(reason, desc)| B::PortStatus(PortStatus { reason, desc })),
            packet_out().prop_map(B::PacketOut),
            flow_mod().prop_map(B::FlowMod),
            group_mod().prop_map(B::GroupMod),
            port_mod().prop_map(B::PortMod),
            (any::<u8>(), any::<u32>())
                .prop_map(|(table_id, config)| B::TableMod(TableMod { table_id, config })),
            crate::multipart::strategy::request().prop_map(B::MultipartRequest),
            crate::multipart::strategy::reply().prop_map(B::MultipartReply),
            Just(B::BarrierRequest),
            Just(B::BarrierReply),
            any::<u32>().prop_map(|port| B::QueueGetConfigRequest { port }),
            (any::<u32>(), crate::queue::strategy::queues()).prop_map(|(port, queues)| {
                B::QueueGetConfigReply(QueueGetConfigReply { port, queues })
            }),
            role().prop_map(B::RoleRequest),
            role().prop_map(B::RoleReply),
            Just(B::GetAsyncRequest),
            async_config().prop_map(B::GetAsyncReply),
            async_config().prop_map(B::SetAsync),
            meter_mod().prop_map(B::MeterMod),
        ]
    }

    /// A canonical message of any type that fits the 16-bit length field.
    pub(crate) fn message() -> impl Strategy<Value = Message> {
        (any::<u32>(), body())
            .prop_map(|(xid, body)| Message { xid, body })
            .prop_filter("fits the length field", |m| m.wire_len() <= OFP_MAX_MSG_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{
        BadActionCode, BadRequestCode, GroupModFailedCode, HelloFailedCode, MeterModFailedCode,
    };
    use crate::group::group_type;
    use crate::meter::meter_flags;
    use crate::multipart::{MultipartReplyBody, MultipartRequestBody};
    use crate::oxm::Oxm;
    use crate::port::port_no;
    use crate::queue::QueueProp;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// Parses `bytes` to `msg` and emits `msg` back to `bytes`.
    #[track_caller]
    fn check(bytes: &[u8], msg: Message) {
        assert_eq!(Message::parse(bytes).as_ref(), Ok(&msg), "parse");
        assert_eq!(msg.wire_len(), bytes.len(), "wire_len");
        assert_eq!(msg.to_vec(), bytes, "emit");
    }

    #[track_caller]
    fn parse_err(bytes: &[u8]) -> ParseError {
        match Message::parse(bytes) {
            Ok(m) => panic!("expected an error, parsed {m:?}"),
            Err(e) => e,
        }
    }

    fn in_port_match(port: u32) -> Match {
        Match {
            fields: vec![Oxm::InPort(port)],
        }
    }

    // `ofp_match` with IN_PORT: type 1, length 12, TLV, 4 bytes of padding.
    #[rustfmt::skip]
    const IN_PORT_1_MATCH: [u8; 16] = [
        0x00, 0x01, 0x00, 0x0c, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0,
    ];

    #[test]
    fn hello_with_version_bitmap() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01,  // header, xid 1
            0x00, 0x01, 0x00, 0x08,                          // VERSIONBITMAP, len 8
            0x00, 0x00, 0x00, 0x10,                          // bit 4: OpenFlow 1.3
        ];
        let m = Message::new(1, MessageBody::Hello(Hello::standard()));
        check(&b, m.clone());
        let MessageBody::Hello(h) = m.body else {
            unreachable!()
        };
        assert_eq!(h.version_bitmap(), Some(&[0x10][..]));
        assert!(h.supports_of13());
        assert!(!h.supports_version(1));
        assert_eq!(Hello::default(), h);
    }

    #[test]
    fn hello_of_other_versions() {
        // OpenFlow 1.0 HELLO, no body: readable, but 1.3 is not supported.
        let b = [0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07];
        let m = Message::new(
            7,
            MessageBody::Hello(Hello {
                version: 1,
                elements: vec![],
            }),
        );
        check(&b, m.clone());
        let MessageBody::Hello(h) = m.body else {
            unreachable!()
        };
        assert!(!h.supports_of13());
        // A 1.5 HELLO without bitmap negotiates down to 1.3.
        assert!(
            Hello {
                version: 6,
                elements: vec![]
            }
            .supports_of13()
        );
        // A 1.5 HELLO whose bitmap has 1.0 and 1.5 only does not.
        #[rustfmt::skip]
        let b = [
            0x06, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02,
            0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x42,
        ];
        let m = Message::parse(&b).unwrap();
        let MessageBody::Hello(h) = &m.body else {
            panic!("not a hello")
        };
        assert_eq!(h.version, 6);
        assert!(!h.supports_of13());
        assert!(h.supports_version(6) && h.supports_version(1));
        assert_eq!(m.to_vec(), b);
    }

    #[test]
    fn hello_unknown_element_and_long_bitmap() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x03,
            0x00, 0x07, 0x00, 0x06, 0xaa, 0xbb, 0x00, 0x00,  // type 7, len 6, 2 bytes of padding
            0x00, 0x01, 0x00, 0x10,                          // VERSIONBITMAP, len 16, no padding
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,  // versions 4, -
            0x00, 0x00, 0x00, 0x02,                          // version 65
        ];
        let elements = vec![
            HelloElement::Unknown {
                elem_type: 7,
                body: vec![0xaa, 0xbb],
            },
            HelloElement::version_bitmap(&[4, 65]),
        ];
        assert_eq!(elements[1], HelloElement::VersionBitmap(vec![0x10, 0, 2]));
        let hello = Hello {
            version: 4,
            elements,
        };
        assert!(hello.supports_version(65) && !hello.supports_version(64));
        assert!(!hello.supports_version(200));
        check(&b, Message::new(3, MessageBody::Hello(hello)));
    }

    #[test]
    fn hello_element_errors() {
        // Element length 2 (< header).
        let b = [4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 2, 0, 0, 0, 0];
        let e = parse_err(&b);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::HelloElement,
                declared: 2,
                ..
            }
        ));
        assert_eq!(e.offset(), 10);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
        // Bitmap of 6 bytes (padded to 16).
        let b = [
            4, 0, 0, 24, 0, 0, 0, 1, 0, 1, 0, 10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(
            parse_err(&b).kind(),
            ParseErrorKind::BadLength {
                element: Element::HelloElement,
                declared: 10,
                ..
            }
        ));
        // Element of 12 bytes without its padding.
        let mut b = vec![4, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 12];
        b.extend_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0]);
        let e = parse_err(&b);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::HelloElement,
                needed: 16,
                available: 12
            }
        );
        assert_eq!(e.offset(), 8);
    }

    #[test]
    fn error_standard_layout() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x01, 0x00, 0x14, 0x00, 0x00, 0x00, 0x05,
            0x00, 0x01, 0x00, 0x01,                          // BAD_REQUEST, BAD_TYPE
            0x04, 0x1e, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05,  // the offending header
        ];
        let offending = [0x04, 0x1e, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05];
        let e = parse_err(&offending);
        let err = ErrorMsg::from_parse_error(&e, &offending);
        assert_eq!(err.code, ErrorCode::BadRequest(BadRequestCode::BadType));
        check(&b, Message::new(5, MessageBody::Error(err)));
    }

    #[test]
    fn error_experimenter_layout() {
        let text = "pc 17: read of 4 bytes at packet offset 34 beyond checked length 34";
        let mut b = vec![0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09];
        b.extend_from_slice(&[0xff, 0xff, 0x00, 0x02, 0x00, 0x4f, 0x4b, 0x4f]);
        b.extend_from_slice(text.as_bytes());
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let m = Message::new(
            9,
            MessageBody::Error(ErrorMsg::with_text(
                ErrorCode::Experimenter {
                    exp_code: 2,
                    experimenter: 0x004f_4b4f,
                },
                text,
            )),
        );
        check(&b, m);
    }

    #[test]
    fn error_hello_failed_and_unknown_type() {
        let b = [4, 1, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, b'v', b'e', b'r'];
        check(
            &b,
            Message::new(
                0,
                MessageBody::Error(ErrorMsg::with_text(
                    ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
                    "ver",
                )),
            ),
        );
        let b = [4, 1, 0, 12, 0, 0, 0, 0, 0, 99, 0, 7];
        check(
            &b,
            Message::new(
                0,
                MessageBody::Error(ErrorMsg {
                    code: ErrorCode::Unknown {
                        err_type: 99,
                        code: 7,
                    },
                    data: vec![],
                }),
            ),
        );
    }

    #[test]
    fn error_truncated() {
        let e = parse_err(&[4, 1, 0, 10, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Message,
                needed: 2,
                available: 0
            }
        ));
        assert_eq!(e.offset(), 10);
        // Experimenter layout without the experimenter id.
        let e = parse_err(&[4, 1, 0, 14, 0, 0, 0, 0, 0xff, 0xff, 0, 1, 0, 0x4f]);
        assert_eq!(e.offset(), 12);
        assert_eq!(e.msg_type(), Some(msg_type::ERROR));
    }

    #[test]
    fn error_data_is_the_whole_request() {
        let long: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let e = ErrorMsg::new(ErrorCode::BadRequest(BadRequestCode::BadLen), &long);
        assert_eq!(e.data, long);
    }

    #[test]
    fn echo() {
        let b = [4, 2, 0, 11, 0, 0, 0, 1, b'a', b'b', b'c'];
        check(
            &b,
            Message::new(1, MessageBody::EchoRequest(b"abc".to_vec())),
        );
        let b = [4, 3, 0, 8, 0, 0, 0, 1];
        check(&b, Message::new(1, MessageBody::EchoReply(vec![])));
    }

    #[test]
    fn experimenter() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x04, 0x00, 0x14, 0x00, 0x00, 0x00, 0x0b,
            0x00, 0x4f, 0x4b, 0x4f,   // experimenter
            0x00, 0x00, 0x00, 0x03,   // exp_type PROG_UNLOAD
            0x00, 0x00, 0x00, 0x07,   // data
        ];
        check(
            &b,
            Message::new(
                11,
                MessageBody::Experimenter(ExperimenterMsg {
                    experimenter: 0x004f_4b4f,
                    exp_type: 3,
                    data: vec![0, 0, 0, 7],
                }),
            ),
        );
        // Shorter than experimenter + exp_type.
        let e = parse_err(&[4, 4, 0, 12, 0, 0, 0, 0, 0, 0x4f, 0x4b, 0x4f]);
        assert!(matches!(e.kind(), ParseErrorKind::Truncated { .. }));
        assert_eq!(e.offset(), 12);
    }

    #[test]
    fn empty_bodies() {
        for (t, body) in [
            (5u8, MessageBody::FeaturesRequest),
            (7, MessageBody::GetConfigRequest),
            (20, MessageBody::BarrierRequest),
            (21, MessageBody::BarrierReply),
            (26, MessageBody::GetAsyncRequest),
        ] {
            check(
                &[4, t, 0, 8, 0xde, 0xad, 0xbe, 0xef],
                Message::new(0xdead_beef, body),
            );
        }
    }

    #[test]
    fn features_reply() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x06, 0x00, 0x20, 0x00, 0x00, 0x00, 0x02,
            0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // datapath_id
            0x00, 0x00, 0x01, 0x00,                          // n_buffers 256
            0xfe, 0x00, 0x00, 0x00,                          // n_tables 254, aux 0, pad
            0x00, 0x00, 0x00, 0x4f,                          // capabilities
            0x00, 0x00, 0x00, 0x00,                          // reserved
        ];
        check(
            &b,
            Message::new(
                2,
                MessageBody::FeaturesReply(SwitchFeatures {
                    datapath_id: 0x0000_0200_0000_0001,
                    n_buffers: 256,
                    n_tables: 254,
                    auxiliary_id: 0,
                    capabilities: capabilities::FLOW_STATS
                        | capabilities::TABLE_STATS
                        | capabilities::PORT_STATS
                        | capabilities::GROUP_STATS
                        | capabilities::QUEUE_STATS,
                    reserved: 0,
                }),
            ),
        );
    }

    #[test]
    fn switch_config() {
        let b = [4, 8, 0, 12, 0, 0, 0, 3, 0x00, 0x01, 0x00, 0x80];
        let c = SwitchConfig {
            flags: config_flags::FRAG_DROP,
            miss_send_len: 128,
        };
        check(&b, Message::new(3, MessageBody::GetConfigReply(c)));
        let b = [4, 9, 0, 12, 0, 0, 0, 3, 0x00, 0x00, 0xff, 0xff];
        let c = SwitchConfig {
            miss_send_len: OFPCML_NO_BUFFER,
            ..SwitchConfig::default()
        };
        check(&b, Message::new(3, MessageBody::SetConfig(c)));
    }

    #[test]
    fn packet_in() {
        #[rustfmt::skip]
        let mut b = vec![
            0x04, 0x0a, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00,
            0xff, 0xff, 0xff, 0xff,   // buffer_id NO_BUFFER
            0x00, 0x3c,               // total_len 60
            0x01,                     // reason ACTION
            0x02,                     // table_id
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,  // cookie
        ];
        b.extend_from_slice(&IN_PORT_1_MATCH);
        b.extend_from_slice(&[0, 0]); // pad
        b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
        check(
            &b,
            Message::new(
                0,
                MessageBody::PacketIn(PacketIn {
                    buffer_id: OFP_NO_BUFFER,
                    total_len: 60,
                    reason: packet_in_reason::ACTION,
                    table_id: 2,
                    cookie: 42,
                    match_: in_port_match(1),
                    data: vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
                }),
            ),
        );
        // Missing the 2 pad bytes after the match.
        b.truncate(8 + 16 + 16 + 1);
        b[3] = b.len() as u8;
        let e = parse_err(&b);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Message,
                needed: 2,
                available: 1
            }
        ));
        assert_eq!(e.offset(), 40);
    }

    #[test]
    fn flow_removed() {
        #[rustfmt::skip]
        let mut b = vec![
            0x04, 0x0b, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // cookie
            0x80, 0x00,                                      // priority
            0x00,                                            // reason IDLE_TIMEOUT
            0x01,                                            // table_id
            0x00, 0x00, 0x00, 0x0a,                          // duration_sec
            0x00, 0x00, 0x01, 0xf4,                          // duration_nsec 500
            0x00, 0x05, 0x00, 0x00,                          // idle 5, hard 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,  // packet_count
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,  // byte_count
        ];
        b.extend_from_slice(&IN_PORT_1_MATCH);
        check(
            &b,
            Message::new(
                0,
                MessageBody::FlowRemoved(FlowRemoved {
                    cookie: 7,
                    priority: 0x8000,
                    reason: flow_removed_reason::IDLE_TIMEOUT,
                    table_id: 1,
                    duration_sec: 10,
                    duration_nsec: 500,
                    idle_timeout: 5,
                    hard_timeout: 0,
                    packet_count: 3,
                    byte_count: 256,
                    match_: in_port_match(1),
                }),
            ),
        );
        // Trailing bytes after the match.
        b.extend_from_slice(&[0; 8]);
        b[3] = b.len() as u8;
        let e = parse_err(&b);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Message,
                declared: 72,
                actual: 64,
                ..
            }
        ));
        assert_eq!(e.offset(), 64);
    }

    #[test]
    fn port_status() {
        #[rustfmt::skip]
        let mut b = vec![
            0x04, 0x0c, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00,
            0x02, 0, 0, 0, 0, 0, 0, 0,          // reason MODIFY, pad
            0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, // port_no 1, pad
            0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0, 0,  // hw_addr, pad
        ];
        b.extend_from_slice(b"eth1\0\0\0\0\0\0\0\0\0\0\0\0");
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // config 0, state LINK_DOWN
        b.extend_from_slice(&[0; 24]); // curr … max_speed
        let desc = Port::new(1, [2, 0, 0, 0, 0, 1]).with_name("eth1");
        let desc = Port {
            state: crate::port::port_state::LINK_DOWN,
            ..desc
        };
        check(
            &b,
            Message::new(
                0,
                MessageBody::PortStatus(PortStatus {
                    reason: port_reason::MODIFY,
                    desc,
                }),
            ),
        );
        // Truncated port.
        b.truncate(70);
        b[3] = 70;
        let e = parse_err(&b);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Port,
                needed: 64,
                available: 54
            }
        ));
        assert_eq!(e.offset(), 16);
    }

    #[test]
    fn packet_out() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x0d, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x11,
            0xff, 0xff, 0xff, 0xff,              // buffer_id
            0xff, 0xff, 0xff, 0xfd,              // in_port CONTROLLER
            0x00, 0x10, 0, 0, 0, 0, 0, 0,        // actions_len 16, pad
            0x00, 0x00, 0x00, 0x10, 0xff, 0xff, 0xff, 0xfb,  // OUTPUT FLOOD
            0x00, 0x00, 0, 0, 0, 0, 0, 0,        // max_len 0, pad
            0x01, 0x02, 0x03, 0x04,              // data
        ];
        let m = Message::new(
            0x11,
            MessageBody::PacketOut(PacketOut::new(
                port_no::CONTROLLER,
                vec![Action::Output {
                    port: port_no::FLOOD,
                    max_len: 0,
                }],
                vec![1, 2, 3, 4],
            )),
        );
        check(&b, m);

        // actions_len past the end of the message.
        let mut bad = b;
        bad[17] = 0x30;
        let e = parse_err(&bad);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Message,
                declared: 48,
                actual: 20,
                ..
            }
        ));
        assert_eq!(e.offset(), 16);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );

        // actions_len cutting the action short: the action error, located at
        // the action although data follows the actions.
        let mut bad = b;
        bad[17] = 0x08;
        let e = parse_err(&bad);
        assert_eq!(e.offset(), 24);
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
    }

    /// FLOW_MOD with 5 OXM fields and 3 actions in one APPLY_ACTIONS
    /// instruction (also used by the benchmark).
    #[rustfmt::skip]
    pub(super) const FLOW_MOD: [u8; 128] = [
        0x04, 0x0e, 0x00, 0x80, 0x00, 0x00, 0x00, 0x2a,  // header, xid 42
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,  // cookie
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // cookie_mask
        0x00, 0x00,                                      // table 0, ADD
        0x00, 0x3c, 0x00, 0x00,                          // idle 60, hard 0
        0x80, 0x00,                                      // priority
        0xff, 0xff, 0xff, 0xff,                          // buffer_id
        0xff, 0xff, 0xff, 0xff,                          // out_port ANY
        0xff, 0xff, 0xff, 0xff,                          // out_group ANY
        0x00, 0x01, 0x00, 0x00,                          // SEND_FLOW_REM, pad
        0x00, 0x01, 0x00, 0x25,                          // match: OXM, length 37
        0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,  // IN_PORT 1
        0x80, 0x00, 0x0a, 0x02, 0x08, 0x00,              // ETH_TYPE IPv4
        0x80, 0x00, 0x14, 0x01, 0x06,                    // IP_PROTO TCP
        0x80, 0x00, 0x18, 0x04, 0x0a, 0x00, 0x00, 0x01,  // IPV4_DST 10.0.0.1
        0x80, 0x00, 0x1c, 0x02, 0x00, 0x50,              // TCP_DST 80
        0x00, 0x00, 0x00,                                // match padding
        0x00, 0x04, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,  // APPLY_ACTIONS, len 40
        0x00, 0x18, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,  // DEC_NW_TTL
        0x00, 0x15, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01,  // SET_QUEUE 1
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02,  // OUTPUT 2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // max_len 0, pad
    ];

    pub(super) fn flow_mod_value() -> Message {
        Message::new(
            42,
            MessageBody::FlowMod(FlowMod {
                cookie: 0x0123_4567_89ab_cdef,
                idle_timeout: 60,
                flags: flow_mod_flags::SEND_FLOW_REM,
                match_: Match {
                    fields: vec![
                        Oxm::InPort(1),
                        Oxm::EthType(0x0800),
                        Oxm::IpProto(6),
                        Oxm::Ipv4Dst {
                            value: Ipv4Addr::new(10, 0, 0, 1),
                            mask: None,
                        },
                        Oxm::TcpDst(80),
                    ],
                },
                instructions: vec![Instruction::ApplyActions(vec![
                    Action::DecNwTtl,
                    Action::SetQueue(1),
                    Action::Output {
                        port: 2,
                        max_len: 0,
                    },
                ])],
                ..FlowMod::default()
            }),
        )
    }

    #[test]
    fn flow_mod() {
        check(&FLOW_MOD, flow_mod_value());
    }

    #[test]
    fn flow_mod_truncated_action() {
        // The OUTPUT action claims 24 bytes; only 16 are left in the
        // instruction (and in the message).
        let mut b = FLOW_MOD;
        b[115] = 0x18;
        let e = parse_err(&b);
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
        assert_eq!(e.offset(), 112, "points at the OUTPUT action");
        assert_eq!(e.msg_type(), Some(msg_type::FLOW_MOD));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Action,
                ..
            } | ParseErrorKind::BadLength {
                element: Element::Action,
                ..
            }
        ));
    }

    #[test]
    fn flow_mod_truncated_fixed_part() {
        let mut b = FLOW_MOD[..40].to_vec();
        b[3] = 40;
        let e = parse_err(&b);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Message,
                needed: 40,
                available: 32
            }
        );
        assert_eq!(e.offset(), 8);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
    }

    #[test]
    fn group_mod() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x0f, 0x00, 0x30, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x01, 0x00,                          // ADD, SELECT, pad
            0x00, 0x00, 0x00, 0x05,                          // group_id 5
            0x00, 0x20, 0x00, 0x01,                          // bucket len 32, weight 1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // watch port/group ANY
            0x00, 0x00, 0x00, 0x00,                          // pad
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x03,  // OUTPUT 3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let bucket = Bucket {
            weight: 1,
            ..Bucket::new(vec![Action::Output {
                port: 3,
                max_len: 0,
            }])
        };
        check(
            &b,
            Message::new(
                1,
                MessageBody::GroupMod(GroupMod {
                    command: crate::group::group_mod_command::ADD,
                    group_type: group_type::SELECT,
                    group_id: 5,
                    buckets: vec![bucket],
                }),
            ),
        );
        // A bucket of length 8: GROUP_MOD_FAILED/BAD_BUCKET at the bucket.
        let mut bad = b;
        bad[17] = 8;
        let e = parse_err(&bad);
        assert_eq!(
            e.error_code(),
            ErrorCode::GroupModFailed(GroupModFailedCode::BadBucket)
        );
        assert_eq!(e.offset(), 16);
    }

    #[test]
    fn port_mod() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x10, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0,              // port_no 2, pad
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0, 0,        // hw_addr, pad
            0x00, 0x00, 0x00, 0x01,                          // config PORT_DOWN
            0x00, 0x00, 0x00, 0x01,                          // mask
            0x00, 0x00, 0x00, 0x00,                          // advertise
            0, 0, 0, 0,                                      // pad
        ];
        check(
            &b,
            Message::new(
                1,
                MessageBody::PortMod(PortMod {
                    port_no: 2,
                    hw_addr: [2, 0, 0, 0, 0, 2],
                    config: crate::port::port_config::PORT_DOWN,
                    mask: crate::port::port_config::PORT_DOWN,
                    advertise: 0,
                }),
            ),
        );
    }

    #[test]
    fn table_mod() {
        let b = [4, 17, 0, 16, 0, 0, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 3];
        check(
            &b,
            Message::new(
                1,
                MessageBody::TableMod(TableMod {
                    table_id: table_id::ALL,
                    config: table_config::DEPRECATED_MASK,
                }),
            ),
        );
    }

    #[test]
    fn multipart() {
        // DESC request: type 0, flags 0, pad.
        let b = [4, 18, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        check(
            &b,
            Message::new(
                1,
                MessageBody::MultipartRequest(MultipartRequest {
                    flags: 0,
                    body: MultipartRequestBody::Desc,
                }),
            ),
        );
        // PORT_DESC reply (type 13) with no ports, REPLY_MORE set.
        let b = [4, 19, 0, 16, 0, 0, 0, 1, 0, 13, 0, 1, 0, 0, 0, 0];
        check(
            &b,
            Message::new(
                1,
                MessageBody::MultipartReply(MultipartReply {
                    flags: 1,
                    body: MultipartReplyBody::PortDesc(vec![]),
                }),
            ),
        );
        // Errors from the multipart parser are located in the message.
        let b = [4, 18, 0, 16, 0, 0, 0, 1, 0x12, 0x34, 0, 0, 0, 0, 0, 0];
        let e = parse_err(&b);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadMultipart)
        );
        assert_eq!(e.offset(), 8);
    }

    #[test]
    fn queue_get_config() {
        let b = [4, 22, 0, 16, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0];
        check(
            &b,
            Message::new(1, MessageBody::QueueGetConfigRequest { port: 3 }),
        );
        #[rustfmt::skip]
        let b = [
            0x04, 0x17, 0x00, 0x30, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x03, 0, 0, 0, 0,              // port 3, pad
            0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,  // queue 7, port 3
            0x00, 0x20, 0, 0, 0, 0, 0, 0,                    // len 32, pad
            0x00, 0x02, 0x00, 0x10, 0, 0, 0, 0,              // MAX_RATE, len 16
            0x01, 0xf4, 0, 0, 0, 0, 0, 0,                    // 500 (50%)
        ];
        check(
            &b,
            Message::new(
                1,
                MessageBody::QueueGetConfigReply(QueueGetConfigReply {
                    port: 3,
                    queues: vec![PacketQueue::new(7, 3, vec![QueueProp::MaxRate(500)])],
                }),
            ),
        );
        // Property length 8 for MAX_RATE: the queue error, located.
        let mut bad = b;
        bad[35] = 8;
        let e = parse_err(&bad);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Queue,
                declared: 8,
                ..
            }
        ));
        assert_eq!(e.offset(), 34);
    }

    #[test]
    fn role() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0,              // MASTER, pad
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,  // generation_id
        ];
        let r = RoleMsg {
            role: controller_role::MASTER,
            generation_id: 9,
        };
        check(&b, Message::new(1, MessageBody::RoleRequest(r)));
        let mut b2 = b;
        b2[1] = 25;
        check(&b2, Message::new(1, MessageBody::RoleReply(r)));
    }

    #[test]
    fn async_config() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,  // packet_in
            0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x07,  // port_status
            0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00,  // flow_removed
        ];
        let a = AsyncConfig {
            packet_in_mask: [3, 0],
            port_status_mask: [7, 7],
            flow_removed_mask: [15, 0],
        };
        check(&b, Message::new(1, MessageBody::GetAsyncReply(a)));
        let mut b2 = b;
        b2[1] = 28;
        check(&b2, Message::new(1, MessageBody::SetAsync(a)));
    }

    #[test]
    fn meter_mod() {
        #[rustfmt::skip]
        let b = [
            0x04, 0x1d, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x05,                          // ADD, KBPS|BURST
            0x00, 0x00, 0x00, 0x01,                          // meter 1
            0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x27, 0x10,  // DROP, 10000 kb/s
            0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,  // burst 1000, pad
        ];
        check(
            &b,
            Message::new(
                1,
                MessageBody::MeterMod(MeterMod {
                    command: crate::meter::meter_mod_command::ADD,
                    flags: meter_flags::KBPS | meter_flags::BURST,
                    meter_id: 1,
                    bands: vec![MeterBand::Drop {
                        rate: 10_000,
                        burst_size: 1000,
                    }],
                }),
            ),
        );
        let mut bad = b;
        bad[19] = 0x18;
        let e = parse_err(&bad);
        assert_eq!(
            e.error_code(),
            ErrorCode::MeterModFailed(MeterModFailedCode::BadBand)
        );
    }

    #[test]
    fn bad_version() {
        let e = parse_err(&[5, 14, 0, 8, 0, 0, 0, 1]);
        assert_eq!(e.kind(), &ParseErrorKind::BadVersion { version: 5 });
        assert_eq!(e.offset(), 0);
        assert_eq!(e.msg_type(), Some(msg_type::FLOW_MOD));
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadVersion)
        );
        // Version is checked before the type.
        let e = parse_err(&[1, 99, 0, 8, 0, 0, 0, 1]);
        assert_eq!(e.kind(), &ParseErrorKind::BadVersion { version: 1 });
    }

    #[test]
    fn bad_type() {
        let e = parse_err(&[4, 30, 0, 8, 0, 0, 0, 1]);
        assert_eq!(e.kind(), &ParseErrorKind::BadType { msg_type: 30 });
        assert_eq!(e.offset(), 1);
        assert_eq!(e.msg_type(), Some(30));
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadType)
        );
    }

    #[test]
    fn bad_length() {
        // Header says 16, 8 bytes given.
        let e = parse_err(&[4, 20, 0, 16, 0, 0, 0, 1]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::BadLength {
                element: Element::Message,
                declared: 16,
                actual: 8,
                reason: "differs from the message size"
            }
        );
        assert_eq!(e.offset(), 2);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
        // Header says 4.
        let e = parse_err(&[4, 20, 0, 4, 0, 0, 0, 1]);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Message,
                declared: 4,
                actual: 8,
                ..
            }
        ));
        // Fewer bytes than a header.
        let e = parse_err(&[4, 20, 0]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Message,
                needed: 8,
                available: 3
            }
        );
        assert_eq!((e.offset(), e.msg_type()), (0, Some(20)));
        assert_eq!(parse_err(&[]).msg_type(), None);
    }

    #[test]
    fn truncated_fixed_body() {
        // FEATURES_REPLY with a 20-byte body: `reserved` is missing.
        let mut b = vec![4, 6, 0, 28, 0, 0, 0, 1];
        b.extend_from_slice(&[0; 20]);
        let e = parse_err(&b);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Message,
                needed: 4,
                available: 0
            }
        );
        assert_eq!(e.offset(), 28);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
    }

    #[test]
    fn trailing_bytes() {
        let e = parse_err(&[4, 20, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::BadLength {
                element: Element::Message,
                declared: 12,
                actual: 8,
                reason: "trailing bytes after the body"
            }
        );
        assert_eq!(e.offset(), 8);
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
        let mut b = vec![4, 24, 0, 32, 0, 0, 0, 1];
        b.extend_from_slice(&[0; 24]);
        let e = parse_err(&b);
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                declared: 32,
                actual: 24,
                ..
            }
        ));
        assert_eq!(e.offset(), 24);
    }

    #[test]
    fn display_names_the_message() {
        let e = parse_err(&[4, 30, 0, 8, 0, 0, 0, 1]);
        assert!(e.to_string().starts_with("UNKNOWN at offset 1"));
        let e = parse_err(&[4, 20, 0, 16, 0, 0, 0, 1]);
        assert!(e.to_string().starts_with("BARRIER_REQUEST at offset 2"));
        assert_eq!(msg_type_name(msg_type::METER_MOD), "METER_MOD");
        assert_eq!(MessageBody::FeaturesRequest.name(), "FEATURES_REQUEST");
    }

    #[test]
    fn msg_types_are_consistent() {
        for t in 0..=msg_type::MAX {
            assert_ne!(msg_type_name(t), "UNKNOWN");
        }
        assert_eq!(msg_type_name(msg_type::MAX + 1), "UNKNOWN");
        assert_eq!(flow_mod_value().msg_type(), msg_type::FLOW_MOD);
    }

    proptest! {
        #[test]
        fn round_trip(m in strategy::message()) {
            let b = m.to_vec();
            prop_assert_eq!(b.len(), m.wire_len());
            let p = Message::parse(&b);
            prop_assert_eq!(p.as_ref(), Ok(&m));
            prop_assert_eq!(p.unwrap().to_vec(), b);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Message::parse(&b);
        }

        /// Arbitrary bodies under a valid header of every type: reaches the
        /// body parsers, which a random header almost never does.
        #[test]
        fn body_parsers_never_panic(
            t in 0u8..=29,
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut b = vec![4, t, 0, 0, 0, 0, 0, 1];
            b.extend_from_slice(&body);
            let len = b.len() as u16;
            b[2..4].copy_from_slice(&len.to_be_bytes());
            match Message::parse(&b) {
                // Whatever parses must re-emit to the same length.
                Ok(m) => prop_assert_eq!(m.wire_len(), b.len()),
                Err(e) => {
                    prop_assert!(e.offset() <= b.len());
                    prop_assert_eq!(e.msg_type(), Some(t));
                }
            }
        }

        /// Canonical messages with one random byte changed: no panic, errors
        /// stay in bounds, and what still parses re-emits to the same length.
        #[test]
        fn mutated_messages_never_panic(
            m in strategy::message(),
            at in any::<prop::sample::Index>(),
            v in any::<u8>(),
        ) {
            let mut b = m.to_vec();
            let i = at.index(b.len());
            b[i] = v;
            match Message::parse(&b) {
                Ok(m) => prop_assert_eq!(m.wire_len(), b.len()),
                Err(e) => prop_assert!(e.offset() <= b.len()),
            }
        }
    }
}
