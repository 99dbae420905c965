//! Multipart requests and replies (OpenFlow 1.3.5 §7.3.5).
//!
//! A MULTIPART_REQUEST or MULTIPART_REPLY body (the bytes after `ofp_header`)
//! is `type u16, flags u16, pad[4]` followed by a body whose layout `type`
//! selects. [`MultipartRequest`] and [`MultipartReply`] hold the flags and a
//! typed body; `parse_body` / `body_len` / `emit_body` work on the bytes after
//! `ofp_header`, so the message layer only writes the header around them.
//!
//! # Layout rules this module enforces
//!
//! - A multipart type outside OpenFlow 1.3 is
//!   [`ParseErrorKind::BadMultipart`] (`BAD_REQUEST / BAD_MULTIPART`).
//! - Request types that take no body (DESC, TABLE, GROUP_DESC, GROUP_FEATURES,
//!   METER_FEATURES, PORT_DESC) must have none, and fixed-size bodies must be
//!   exactly their size: anything else is a length error against
//!   [`Element::Multipart`] (`BAD_REQUEST / BAD_LEN`).
//! - Entries that carry their own length (flow stats, group stats, group
//!   descriptions, meter stats, meter configs, table features) must declare at
//!   least their fixed part and at most what remains. Errors inside their nested
//!   structures (matches, instructions, buckets, bands) come from those types'
//!   parsers and keep their element, so a bad bucket is `GROUP_MOD_FAILED /
//!   BAD_BUCKET` as the spec asks. Error positions are always measured from the
//!   end of the whole body (see [`ParseError`]), also for errors found inside a
//!   length-delimited entry.
//! - Experimenter bodies (`OFPMP_EXPERIMENTER`) are `experimenter u32,
//!   exp_type u32, data` with `data` kept verbatim; the filter extension's
//!   MAP_DUMP / MAP_LOOKUP / PROG_STATS ride on them and are decoded by
//!   `ofext-filter`.
//!
//! # Round trips
//!
//! Every value `parse_body` returns re-emits to the bytes it came from, except
//! that padding is written as zeros. Fixed-width text fields (`ofp_desc`
//! strings, table names) are kept as their raw NUL-padded bytes in
//! [`FixedStr`], so even bytes after the terminating NUL survive; building one
//! from a `&str` truncates explicitly (see [`FixedStr::new`]).
//!
//! # Splitting replies
//!
//! A reply can be longer than one OpenFlow message (64 KiB). [`MultipartReply::split`]
//! cuts a list-valued reply into several replies, entry by entry, setting
//! `OFPMPF_REPLY_MORE` on all but the last. Experimenter replies are opaque
//! here, so their splitting is the caller's job;
//! [`MultipartReply::split_experimenter`] does it for the common shape "fixed
//! prefix, then fixed-size entries".

use std::borrow::Cow;
use std::fmt;

use bytes::{Buf, BufMut};

use crate::error::{Element, ParseError, ParseErrorKind};
use crate::group::Bucket;
use crate::instruction::Instruction;
use crate::meter::MeterBand;
use crate::oxm::Match;
use crate::port::Port;
use crate::table_features::TableFeatures;
use crate::wire::{
    PResult, Wire, emit_all, fail, into_error, len_all, len_u16, parse_all, put_zeros, take,
};

/// `ofp_multipart_type` values.
pub mod multipart_type {
    /// OFPMP_DESC
    pub const DESC: u16 = 0;
    /// OFPMP_FLOW
    pub const FLOW: u16 = 1;
    /// OFPMP_AGGREGATE
    pub const AGGREGATE: u16 = 2;
    /// OFPMP_TABLE
    pub const TABLE: u16 = 3;
    /// OFPMP_PORT_STATS
    pub const PORT_STATS: u16 = 4;
    /// OFPMP_QUEUE
    pub const QUEUE: u16 = 5;
    /// OFPMP_GROUP
    pub const GROUP: u16 = 6;
    /// OFPMP_GROUP_DESC
    pub const GROUP_DESC: u16 = 7;
    /// OFPMP_GROUP_FEATURES
    pub const GROUP_FEATURES: u16 = 8;
    /// OFPMP_METER
    pub const METER: u16 = 9;
    /// OFPMP_METER_CONFIG
    pub const METER_CONFIG: u16 = 10;
    /// OFPMP_METER_FEATURES
    pub const METER_FEATURES: u16 = 11;
    /// OFPMP_TABLE_FEATURES
    pub const TABLE_FEATURES: u16 = 12;
    /// OFPMP_PORT_DESC
    pub const PORT_DESC: u16 = 13;
    /// OFPMP_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// OFPMPF_REQ_MORE: more requests follow.
pub const OFPMPF_REQ_MORE: u16 = 1;
/// OFPMPF_REPLY_MORE: more replies follow.
pub const OFPMPF_REPLY_MORE: u16 = 1;

/// Bytes of `type, flags, pad[4]` before a multipart body.
pub const MULTIPART_HEADER_LEN: usize = 8;
/// `DESC_STR_LEN`: bytes in each `ofp_desc` text field but `serial_num`.
pub const DESC_STR_LEN: usize = 256;
/// `SERIAL_NUM_LEN`: bytes in `ofp_desc.serial_num`.
pub const SERIAL_NUM_LEN: usize = 32;

const DESC_LEN: usize = 4 * DESC_STR_LEN + SERIAL_NUM_LEN;
const FLOW_STATS_REQUEST_FIXED_LEN: usize = 32;
const FLOW_STATS_FIXED_LEN: usize = 48;
const AGGREGATE_LEN: usize = 24;
const TABLE_STATS_LEN: usize = 24;
const PORT_STATS_LEN: usize = 112;
const QUEUE_STATS_LEN: usize = 40;
const GROUP_STATS_FIXED_LEN: usize = 40;
const COUNTER_PAIR_LEN: usize = 16;
const GROUP_DESC_FIXED_LEN: usize = 8;
const GROUP_FEATURES_LEN: usize = 40;
const METER_STATS_FIXED_LEN: usize = 40;
const METER_CONFIG_FIXED_LEN: usize = 8;
const METER_FEATURES_LEN: usize = 16;
const EXPERIMENTER_HEADER_LEN: usize = 8;

/// Moves an error found inside a sub-slice that ends `after` bytes before the
/// end of the enclosing input, so its position again counts the bytes
/// remaining in the enclosing input.
pub(crate) fn shift_error(e: ParseError, after: usize) -> ParseError {
    if after == 0 {
        return e;
    }
    ParseError::new(e.kind().clone(), e.offset() + after)
}

/// Lifts the result of parsing an entry's inner part back to nom, shifting
/// error positions past the `after` bytes that follow the entry.
fn lift<T>(r: Result<T, ParseError>, after: usize) -> Result<T, nom::Err<ParseError>> {
    r.map_err(|e| nom::Err::Error(shift_error(e, after)))
}

/// Splits an entry that carries its own `u16` length at byte `len_at` off the
/// front of `input`, after checking the length against the entry's fixed part
/// and the bytes that remain. Returns `(rest, entry)`.
fn split_entry(input: &[u8], len_at: usize, fixed: usize) -> PResult<'_, &[u8]> {
    let (_, head) = take(Element::Multipart, input, fixed)?;
    let len = usize::from(u16::from_be_bytes([head[len_at], head[len_at + 1]]));
    if len < fixed {
        return fail(ParseError::bad_length(
            Element::Multipart,
            input,
            len,
            fixed,
            "shorter than the entry's fixed part",
        ));
    }
    if len > input.len() {
        return fail(ParseError::bad_length(
            Element::Multipart,
            input,
            len,
            input.len(),
            "longer than the bytes remaining",
        ));
    }
    let (entry, rest) = input.split_at(len);
    Ok((rest, entry))
}

/// Parses one value with `f` that must use up `input` exactly.
fn exact<'a, T>(
    input: &'a [u8],
    f: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> Result<T, ParseError> {
    let (rest, v) = f(input).map_err(|e| into_error(e, input))?;
    if !rest.is_empty() {
        return Err(ParseError::bad_length(
            Element::Multipart,
            rest,
            input.len(),
            input.len() - rest.len(),
            "longer than its multipart type allows",
        ));
    }
    Ok(v)
}

/// Reads a request body of `u32, pad[4]` (port stats, group, meter, meter
/// config requests).
fn id_and_pad(input: &[u8]) -> PResult<'_, u32> {
    let (rest, mut b) = take(Element::Multipart, input, 8)?;
    Ok((rest, b.get_u32()))
}

fn emit_id_and_pad<B: BufMut>(id: u32, out: &mut B) {
    out.put_u32(id);
    put_zeros(out, 4);
}

/// Parses an experimenter body: `experimenter u32, exp_type u32, data`.
fn parse_experimenter(input: &[u8]) -> Result<(u32, u32, Vec<u8>), ParseError> {
    let (data, mut b) = take(Element::Multipart, input, EXPERIMENTER_HEADER_LEN)
        .map_err(|e| into_error(e, input))?;
    Ok((b.get_u32(), b.get_u32(), data.to_vec()))
}

fn emit_experimenter<B: BufMut>(experimenter: u32, exp_type: u32, data: &[u8], out: &mut B) {
    out.put_u32(experimenter);
    out.put_u32(exp_type);
    out.put_slice(data);
}

/// Reads `type, flags, pad[4]`.
fn parse_header(body: &[u8]) -> Result<(u16, u16, &[u8]), ParseError> {
    let (rest, mut b) =
        take(Element::Multipart, body, MULTIPART_HEADER_LEN).map_err(|e| into_error(e, body))?;
    Ok((b.get_u16(), b.get_u16(), rest))
}

fn bad_multipart(mp_type: u16, body: &[u8]) -> ParseError {
    ParseError::new(ParseErrorKind::BadMultipart { mp_type }, body.len())
}

// ---------------------------------------------------------------------------
// Fixed-width text
// ---------------------------------------------------------------------------

/// A fixed-width, NUL-padded text field (`ofp_desc` strings, table names),
/// kept as its `N` raw bytes so that any received value re-emits unchanged.
///
/// The text is the bytes before the first NUL ([`FixedStr::text`]). The bytes
/// live on the heap so that an `ofp_desc` (over 1 KiB of text) does not bloat
/// every multipart value it could be part of.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize>(Box<[u8; N]>);

impl<const N: usize> FixedStr<N> {
    /// Text `s`, NUL-padded to `N` bytes.
    ///
    /// Truncation is explicit and silent: at most `N - 1` bytes are kept (the
    /// spec's strings are NUL-terminated), cut back to a UTF-8 character
    /// boundary. Use [`FixedStr::try_new`] to refuse instead.
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(N.saturating_sub(1));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut a = Box::new([0u8; N]);
        a[..end].copy_from_slice(&s.as_bytes()[..end]);
        Self(a)
    }

    /// Text `s`, NUL-padded, or `None` when it does not fit in `N - 1` bytes
    /// or contains a NUL (which would end the text early).
    pub fn try_new(s: &str) -> Option<Self> {
        (s.len() < N && !s.as_bytes().contains(&0)).then(|| Self::new(s))
    }

    /// The raw bytes, exactly as received.
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        Self(Box::new(bytes))
    }

    /// The raw bytes, NUL padding included.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// The bytes before the first NUL (all `N` when there is none).
    pub fn text(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// [`FixedStr::text`] as UTF-8, invalid sequences replaced.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.text())
    }

    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, b) = take(Element::Multipart, input, N)?;
        let mut a = Box::new([0u8; N]);
        a.copy_from_slice(b);
        Ok((rest, Self(a)))
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self(Box::new([0u8; N]))
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        let tail = &self.0[text.len()..];
        if tail.iter().all(|&b| b == 0) {
            write!(f, "{:?}", self.to_str_lossy())
        } else {
            // Bytes after the terminator matter for equality; show them.
            write!(f, "{:?}+{:02x?}", self.to_str_lossy(), tail)
        }
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

/// The body of a FLOW or AGGREGATE request (`ofp_flow_stats_request`,
/// `ofp_aggregate_stats_request`: same layout).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    /// table_id (`OFPTT_ALL` = 0xff for all tables)
    pub table_id: u8,
    /// out_port (`OFPP_ANY` for no restriction)
    pub out_port: u32,
    /// out_group (`OFPG_ANY` for no restriction)
    pub out_group: u32,
    /// cookie
    pub cookie: u64,
    /// cookie_mask (0: no restriction)
    pub cookie_mask: u64,
    /// match
    pub match_: Match,
}

impl Wire for FlowStatsRequest {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, FLOW_STATS_REQUEST_FIXED_LEN)?;
        let table_id = b.get_u8();
        b.advance(3);
        let out_port = b.get_u32();
        let out_group = b.get_u32();
        b.advance(4);
        let cookie = b.get_u64();
        let cookie_mask = b.get_u64();
        let (rest, match_) = Match::parse(rest)?;
        Ok((
            rest,
            Self {
                table_id,
                out_port,
                out_group,
                cookie,
                cookie_mask,
                match_,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        FLOW_STATS_REQUEST_FIXED_LEN + self.match_.wire_len()
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u8(self.table_id);
        put_zeros(out, 3);
        out.put_u32(self.out_port);
        out.put_u32(self.out_group);
        put_zeros(out, 4);
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        self.match_.emit(out);
    }
}

/// A typed MULTIPART_REQUEST body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MultipartRequestBody {
    /// OFPMP_DESC (no body)
    Desc,
    /// OFPMP_FLOW
    Flow(FlowStatsRequest),
    /// OFPMP_AGGREGATE
    Aggregate(FlowStatsRequest),
    /// OFPMP_TABLE (no body)
    Table,
    /// OFPMP_PORT_STATS
    PortStats {
        /// Port (`OFPP_ANY` for all).
        port_no: u32,
    },
    /// OFPMP_QUEUE
    Queue {
        /// Port (`OFPP_ANY` for all).
        port_no: u32,
        /// Queue (`OFPQ_ALL` for all).
        queue_id: u32,
    },
    /// OFPMP_GROUP
    Group {
        /// Group (`OFPG_ALL` for all).
        group_id: u32,
    },
    /// OFPMP_GROUP_DESC (no body)
    GroupDesc,
    /// OFPMP_GROUP_FEATURES (no body)
    GroupFeatures,
    /// OFPMP_METER
    Meter {
        /// Meter (`OFPM_ALL` for all).
        meter_id: u32,
    },
    /// OFPMP_METER_CONFIG
    MeterConfig {
        /// Meter (`OFPM_ALL` for all).
        meter_id: u32,
    },
    /// OFPMP_METER_FEATURES (no body)
    MeterFeatures,
    /// OFPMP_TABLE_FEATURES: empty to query, entries to set.
    TableFeatures(Vec<TableFeatures>),
    /// OFPMP_PORT_DESC (no body)
    PortDesc,
    /// OFPMP_EXPERIMENTER
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// The rest of the body, verbatim.
        data: Vec<u8>,
    },
}

impl MultipartRequestBody {
    /// The multipart type on the wire.
    pub fn mp_type(&self) -> u16 {
        use multipart_type as t;
        match self {
            Self::Desc => t::DESC,
            Self::Flow(_) => t::FLOW,
            Self::Aggregate(_) => t::AGGREGATE,
            Self::Table => t::TABLE,
            Self::PortStats { .. } => t::PORT_STATS,
            Self::Queue { .. } => t::QUEUE,
            Self::Group { .. } => t::GROUP,
            Self::GroupDesc => t::GROUP_DESC,
            Self::GroupFeatures => t::GROUP_FEATURES,
            Self::Meter { .. } => t::METER,
            Self::MeterConfig { .. } => t::METER_CONFIG,
            Self::MeterFeatures => t::METER_FEATURES,
            Self::TableFeatures(_) => t::TABLE_FEATURES,
            Self::PortDesc => t::PORT_DESC,
            Self::Experimenter { .. } => t::EXPERIMENTER,
        }
    }

    /// Parses the body of a request of type `mp_type`; `input` runs to the
    /// end of the message.
    fn parse(mp_type: u16, input: &[u8]) -> Result<Self, ParseError> {
        use multipart_type as t;
        let empty = |v: Self| {
            if input.is_empty() {
                Ok(v)
            } else {
                Err(ParseError::bad_length(
                    Element::Multipart,
                    input,
                    input.len(),
                    0,
                    "request body for a multipart type that takes none",
                ))
            }
        };
        match mp_type {
            t::DESC => empty(Self::Desc),
            t::FLOW => exact(input, FlowStatsRequest::parse).map(Self::Flow),
            t::AGGREGATE => exact(input, FlowStatsRequest::parse).map(Self::Aggregate),
            t::TABLE => empty(Self::Table),
            t::PORT_STATS => exact(input, id_and_pad).map(|port_no| Self::PortStats { port_no }),
            t::QUEUE => exact(input, |i| {
                let (rest, mut b) = take(Element::Multipart, i, 8)?;
                Ok((rest, (b.get_u32(), b.get_u32())))
            })
            .map(|(port_no, queue_id)| Self::Queue { port_no, queue_id }),
            t::GROUP => exact(input, id_and_pad).map(|group_id| Self::Group { group_id }),
            t::GROUP_DESC => empty(Self::GroupDesc),
            t::GROUP_FEATURES => empty(Self::GroupFeatures),
            t::METER => exact(input, id_and_pad).map(|meter_id| Self::Meter { meter_id }),
            t::METER_CONFIG => {
                exact(input, id_and_pad).map(|meter_id| Self::MeterConfig { meter_id })
            }
            t::METER_FEATURES => empty(Self::MeterFeatures),
            t::TABLE_FEATURES => parse_all(input).map(Self::TableFeatures),
            t::PORT_DESC => empty(Self::PortDesc),
            t::EXPERIMENTER => {
                parse_experimenter(input).map(|(experimenter, exp_type, data)| Self::Experimenter {
                    experimenter,
                    exp_type,
                    data,
                })
            }
            other => Err(bad_multipart(other, input)),
        }
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::Desc
            | Self::Table
            | Self::GroupDesc
            | Self::GroupFeatures
            | Self::MeterFeatures
            | Self::PortDesc => 0,
            Self::Flow(r) | Self::Aggregate(r) => r.wire_len(),
            Self::PortStats { .. }
            | Self::Queue { .. }
            | Self::Group { .. }
            | Self::Meter { .. }
            | Self::MeterConfig { .. } => 8,
            Self::TableFeatures(v) => len_all(v),
            Self::Experimenter { data, .. } => EXPERIMENTER_HEADER_LEN + data.len(),
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        match self {
            Self::Desc
            | Self::Table
            | Self::GroupDesc
            | Self::GroupFeatures
            | Self::MeterFeatures
            | Self::PortDesc => {}
            Self::Flow(r) | Self::Aggregate(r) => r.emit(out),
            Self::PortStats { port_no: id }
            | Self::Group { group_id: id }
            | Self::Meter { meter_id: id }
            | Self::MeterConfig { meter_id: id } => emit_id_and_pad(*id, out),
            Self::Queue { port_no, queue_id } => {
                out.put_u32(*port_no);
                out.put_u32(*queue_id);
            }
            Self::TableFeatures(v) => emit_all(v, out),
            Self::Experimenter {
                experimenter,
                exp_type,
                data,
            } => emit_experimenter(*experimenter, *exp_type, data, out),
        }
    }
}

/// A MULTIPART_REQUEST body: `type, flags, pad[4]` and the typed body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartRequest {
    /// Flags (`OFPMPF_REQ_MORE`).
    pub flags: u16,
    /// The typed body; it decides the multipart type.
    pub body: MultipartRequestBody,
}

impl MultipartRequest {
    /// Parses the message body (the bytes after `ofp_header`).
    pub fn parse_body(body: &[u8]) -> Result<Self, ParseError> {
        let (mp_type, flags, rest) = parse_header(body)?;
        if !is_known(mp_type) {
            return Err(bad_multipart(mp_type, body));
        }
        Ok(Self {
            flags,
            body: MultipartRequestBody::parse(mp_type, rest)?,
        })
    }

    /// Length of the message body (everything after `ofp_header`).
    pub fn body_len(&self) -> usize {
        MULTIPART_HEADER_LEN + self.body.wire_len()
    }

    /// Emits the message body (exactly [`MultipartRequest::body_len`] bytes).
    pub fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.body.mp_type());
        out.put_u16(self.flags);
        put_zeros(out, 4);
        self.body.emit(out);
    }
}

fn is_known(mp_type: u16) -> bool {
    mp_type <= multipart_type::PORT_DESC || mp_type == multipart_type::EXPERIMENTER
}

// ---------------------------------------------------------------------------
// Reply entries
// ---------------------------------------------------------------------------

/// `ofp_desc`: the switch description (DESC reply).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Desc {
    /// Manufacturer description.
    pub mfr_desc: FixedStr<DESC_STR_LEN>,
    /// Hardware description.
    pub hw_desc: FixedStr<DESC_STR_LEN>,
    /// Software description.
    pub sw_desc: FixedStr<DESC_STR_LEN>,
    /// Serial number.
    pub serial_num: FixedStr<SERIAL_NUM_LEN>,
    /// Human-readable datapath description.
    pub dp_desc: FixedStr<DESC_STR_LEN>,
}

impl Wire for Desc {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        // Check the whole structure first so a short body reports its full size.
        take(Element::Multipart, input, DESC_LEN)?;
        let (rest, mfr_desc) = FixedStr::parse(input)?;
        let (rest, hw_desc) = FixedStr::parse(rest)?;
        let (rest, sw_desc) = FixedStr::parse(rest)?;
        let (rest, serial_num) = FixedStr::parse(rest)?;
        let (rest, dp_desc) = FixedStr::parse(rest)?;
        Ok((
            rest,
            Self {
                mfr_desc,
                hw_desc,
                sw_desc,
                serial_num,
                dp_desc,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        DESC_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_slice(self.mfr_desc.as_bytes());
        out.put_slice(self.hw_desc.as_bytes());
        out.put_slice(self.sw_desc.as_bytes());
        out.put_slice(self.serial_num.as_bytes());
        out.put_slice(self.dp_desc.as_bytes());
    }
}

/// `ofp_flow_stats`: one flow entry in a FLOW reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStats {
    /// table_id
    pub table_id: u8,
    /// duration_sec
    pub duration_sec: u32,
    /// duration_nsec
    pub duration_nsec: u32,
    /// priority
    pub priority: u16,
    /// idle_timeout
    pub idle_timeout: u16,
    /// hard_timeout
    pub hard_timeout: u16,
    /// flags (`OFPFF_*`)
    pub flags: u16,
    /// cookie
    pub cookie: u64,
    /// packet_count
    pub packet_count: u64,
    /// byte_count
    pub byte_count: u64,
    /// match
    pub match_: Match,
    /// instructions
    pub instructions: Vec<Instruction>,
}

impl Wire for FlowStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, entry) = split_entry(input, 0, FLOW_STATS_FIXED_LEN)?;
        let (mut b, tail) = entry.split_at(FLOW_STATS_FIXED_LEN);
        b.advance(2);
        let table_id = b.get_u8();
        b.advance(1);
        let duration_sec = b.get_u32();
        let duration_nsec = b.get_u32();
        let priority = b.get_u16();
        let idle_timeout = b.get_u16();
        let hard_timeout = b.get_u16();
        let flags = b.get_u16();
        b.advance(4);
        let cookie = b.get_u64();
        let packet_count = b.get_u64();
        let byte_count = b.get_u64();
        let (match_, instructions) = lift(
            Match::parse(tail)
                .map_err(|e| into_error(e, tail))
                .and_then(|(insts, m)| Ok((m, parse_all(insts)?))),
            rest.len(),
        )?;
        Ok((
            rest,
            Self {
                table_id,
                duration_sec,
                duration_nsec,
                priority,
                idle_timeout,
                hard_timeout,
                flags,
                cookie,
                packet_count,
                byte_count,
                match_,
                instructions,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        FLOW_STATS_FIXED_LEN + self.match_.wire_len() + len_all(&self.instructions)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        out.put_u8(self.table_id);
        put_zeros(out, 1);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        out.put_u16(self.priority);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.flags);
        put_zeros(out, 4);
        out.put_u64(self.cookie);
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        self.match_.emit(out);
        emit_all(&self.instructions, out);
    }
}

/// `ofp_aggregate_stats_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AggregateStats {
    /// packet_count
    pub packet_count: u64,
    /// byte_count
    pub byte_count: u64,
    /// flow_count
    pub flow_count: u32,
}

impl Wire for AggregateStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, AGGREGATE_LEN)?;
        Ok((
            rest,
            Self {
                packet_count: b.get_u64(),
                byte_count: b.get_u64(),
                flow_count: b.get_u32(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        AGGREGATE_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        out.put_u32(self.flow_count);
        put_zeros(out, 4);
    }
}

/// `ofp_table_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    /// table_id
    pub table_id: u8,
    /// active_count
    pub active_count: u32,
    /// lookup_count
    pub lookup_count: u64,
    /// matched_count
    pub matched_count: u64,
}

impl Wire for TableStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, TABLE_STATS_LEN)?;
        let table_id = b.get_u8();
        b.advance(3);
        Ok((
            rest,
            Self {
                table_id,
                active_count: b.get_u32(),
                lookup_count: b.get_u64(),
                matched_count: b.get_u64(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        TABLE_STATS_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u8(self.table_id);
        put_zeros(out, 3);
        out.put_u32(self.active_count);
        out.put_u64(self.lookup_count);
        out.put_u64(self.matched_count);
    }
}

/// `ofp_port_stats` (112 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortStats {
    /// port_no
    pub port_no: u32,
    /// rx_packets
    pub rx_packets: u64,
    /// tx_packets
    pub tx_packets: u64,
    /// rx_bytes
    pub rx_bytes: u64,
    /// tx_bytes
    pub tx_bytes: u64,
    /// rx_dropped
    pub rx_dropped: u64,
    /// tx_dropped
    pub tx_dropped: u64,
    /// rx_errors
    pub rx_errors: u64,
    /// tx_errors
    pub tx_errors: u64,
    /// rx_frame_err
    pub rx_frame_err: u64,
    /// rx_over_err
    pub rx_over_err: u64,
    /// rx_crc_err
    pub rx_crc_err: u64,
    /// collisions
    pub collisions: u64,
    /// duration_sec
    pub duration_sec: u32,
    /// duration_nsec
    pub duration_nsec: u32,
}

impl Wire for PortStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, PORT_STATS_LEN)?;
        let port_no = b.get_u32();
        b.advance(4);
        Ok((
            rest,
            Self {
                port_no,
                rx_packets: b.get_u64(),
                tx_packets: b.get_u64(),
                rx_bytes: b.get_u64(),
                tx_bytes: b.get_u64(),
                rx_dropped: b.get_u64(),
                tx_dropped: b.get_u64(),
                rx_errors: b.get_u64(),
                tx_errors: b.get_u64(),
                rx_frame_err: b.get_u64(),
                rx_over_err: b.get_u64(),
                rx_crc_err: b.get_u64(),
                collisions: b.get_u64(),
                duration_sec: b.get_u32(),
                duration_nsec: b.get_u32(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        PORT_STATS_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.port_no);
        put_zeros(out, 4);
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            out.put_u64(v);
        }
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
    }
}

/// `ofp_queue_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QueueStats {
    /// port_no
    pub port_no: u32,
    /// queue_id
    pub queue_id: u32,
    /// tx_bytes
    pub tx_bytes: u64,
    /// tx_packets
    pub tx_packets: u64,
    /// tx_errors
    pub tx_errors: u64,
    /// duration_sec
    pub duration_sec: u32,
    /// duration_nsec
    pub duration_nsec: u32,
}

impl Wire for QueueStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, QUEUE_STATS_LEN)?;
        Ok((
            rest,
            Self {
                port_no: b.get_u32(),
                queue_id: b.get_u32(),
                tx_bytes: b.get_u64(),
                tx_packets: b.get_u64(),
                tx_errors: b.get_u64(),
                duration_sec: b.get_u32(),
                duration_nsec: b.get_u32(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        QUEUE_STATS_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.port_no);
        out.put_u32(self.queue_id);
        out.put_u64(self.tx_bytes);
        out.put_u64(self.tx_packets);
        out.put_u64(self.tx_errors);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
    }
}

/// A packet/byte counter pair: `ofp_bucket_counter` in group stats and
/// `ofp_meter_band_stats` in meter stats (same 16-byte layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// packet_count (`packet_band_count` for meter bands)
    pub packet_count: u64,
    /// byte_count (`byte_band_count` for meter bands)
    pub byte_count: u64,
}

impl Wire for Counters {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, COUNTER_PAIR_LEN)?;
        Ok((
            rest,
            Self {
                packet_count: b.get_u64(),
                byte_count: b.get_u64(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        COUNTER_PAIR_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
    }
}

/// Parses the counter pairs that fill the tail of a group or meter stats
/// entry; `entry_len` is the entry's declared length, for the error.
fn parse_counters(tail: &[u8], entry_len: usize) -> Result<Vec<Counters>, ParseError> {
    if !tail.len().is_multiple_of(COUNTER_PAIR_LEN) {
        return Err(ParseError::bad_length(
            Element::Multipart,
            tail,
            entry_len,
            entry_len - tail.len() % COUNTER_PAIR_LEN,
            "not a whole number of 16-byte counters",
        ));
    }
    parse_all(tail)
}

/// `ofp_group_stats`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GroupStats {
    /// group_id
    pub group_id: u32,
    /// ref_count: flows and groups that forward to this group
    pub ref_count: u32,
    /// packet_count
    pub packet_count: u64,
    /// byte_count
    pub byte_count: u64,
    /// duration_sec
    pub duration_sec: u32,
    /// duration_nsec
    pub duration_nsec: u32,
    /// bucket_stats, one per bucket
    pub bucket_stats: Vec<Counters>,
}

impl Wire for GroupStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, entry) = split_entry(input, 0, GROUP_STATS_FIXED_LEN)?;
        let (mut b, tail) = entry.split_at(GROUP_STATS_FIXED_LEN);
        b.advance(4);
        let group_id = b.get_u32();
        let ref_count = b.get_u32();
        b.advance(4);
        let packet_count = b.get_u64();
        let byte_count = b.get_u64();
        let duration_sec = b.get_u32();
        let duration_nsec = b.get_u32();
        let bucket_stats = lift(parse_counters(tail, entry.len()), rest.len())?;
        Ok((
            rest,
            Self {
                group_id,
                ref_count,
                packet_count,
                byte_count,
                duration_sec,
                duration_nsec,
                bucket_stats,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        GROUP_STATS_FIXED_LEN + COUNTER_PAIR_LEN * self.bucket_stats.len()
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        put_zeros(out, 2);
        out.put_u32(self.group_id);
        out.put_u32(self.ref_count);
        put_zeros(out, 4);
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        emit_all(&self.bucket_stats, out);
    }
}

/// `ofp_group_desc`: one group in a GROUP_DESC reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    /// type (`OFPGT_*`)
    pub group_type: u8,
    /// group_id
    pub group_id: u32,
    /// buckets
    pub buckets: Vec<Bucket>,
}

impl Wire for GroupDesc {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, entry) = split_entry(input, 0, GROUP_DESC_FIXED_LEN)?;
        let (mut b, tail) = entry.split_at(GROUP_DESC_FIXED_LEN);
        b.advance(2);
        let group_type = b.get_u8();
        b.advance(1);
        let group_id = b.get_u32();
        let buckets = lift(parse_all(tail), rest.len())?;
        Ok((
            rest,
            Self {
                group_type,
                group_id,
                buckets,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        GROUP_DESC_FIXED_LEN + len_all(&self.buckets)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        out.put_u8(self.group_type);
        put_zeros(out, 1);
        out.put_u32(self.group_id);
        emit_all(&self.buckets, out);
    }
}

/// `ofp_group_features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupFeatures {
    /// types: bitmap of `1 << OFPGT_*`
    pub types: u32,
    /// capabilities (`OFPGFC_*`)
    pub capabilities: u32,
    /// max_groups, per group type
    pub max_groups: [u32; 4],
    /// actions: bitmap of `1 << OFPAT_*`, per group type
    pub actions: [u32; 4],
}

impl Wire for GroupFeatures {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, GROUP_FEATURES_LEN)?;
        let types = b.get_u32();
        let capabilities = b.get_u32();
        let max_groups = [b.get_u32(), b.get_u32(), b.get_u32(), b.get_u32()];
        let actions = [b.get_u32(), b.get_u32(), b.get_u32(), b.get_u32()];
        Ok((
            rest,
            Self {
                types,
                capabilities,
                max_groups,
                actions,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        GROUP_FEATURES_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.types);
        out.put_u32(self.capabilities);
        for v in self.max_groups.iter().chain(&self.actions) {
            out.put_u32(*v);
        }
    }
}

/// `ofp_meter_stats`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MeterStats {
    /// meter_id
    pub meter_id: u32,
    /// flow_count
    pub flow_count: u32,
    /// packet_in_count
    pub packet_in_count: u64,
    /// byte_in_count
    pub byte_in_count: u64,
    /// duration_sec
    pub duration_sec: u32,
    /// duration_nsec
    pub duration_nsec: u32,
    /// band_stats (`packet_band_count`, `byte_band_count`), one per band
    pub band_stats: Vec<Counters>,
}

impl Wire for MeterStats {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, entry) = split_entry(input, 4, METER_STATS_FIXED_LEN)?;
        let (mut b, tail) = entry.split_at(METER_STATS_FIXED_LEN);
        let meter_id = b.get_u32();
        b.advance(2 + 6);
        let flow_count = b.get_u32();
        let packet_in_count = b.get_u64();
        let byte_in_count = b.get_u64();
        let duration_sec = b.get_u32();
        let duration_nsec = b.get_u32();
        let band_stats = lift(parse_counters(tail, entry.len()), rest.len())?;
        Ok((
            rest,
            Self {
                meter_id,
                flow_count,
                packet_in_count,
                byte_in_count,
                duration_sec,
                duration_nsec,
                band_stats,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        METER_STATS_FIXED_LEN + COUNTER_PAIR_LEN * self.band_stats.len()
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.meter_id);
        out.put_u16(len_u16(self.wire_len()));
        put_zeros(out, 6);
        out.put_u32(self.flow_count);
        out.put_u64(self.packet_in_count);
        out.put_u64(self.byte_in_count);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        emit_all(&self.band_stats, out);
    }
}

/// `ofp_meter_config`: one meter in a METER_CONFIG reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeterConfig {
    /// flags (`OFPMF_*`)
    pub flags: u16,
    /// meter_id
    pub meter_id: u32,
    /// bands
    pub bands: Vec<MeterBand>,
}

impl Wire for MeterConfig {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, entry) = split_entry(input, 0, METER_CONFIG_FIXED_LEN)?;
        let (mut b, tail) = entry.split_at(METER_CONFIG_FIXED_LEN);
        b.advance(2);
        let flags = b.get_u16();
        let meter_id = b.get_u32();
        let bands = lift(parse_all(tail), rest.len())?;
        Ok((
            rest,
            Self {
                flags,
                meter_id,
                bands,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        METER_CONFIG_FIXED_LEN + len_all(&self.bands)
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u16(len_u16(self.wire_len()));
        out.put_u16(self.flags);
        out.put_u32(self.meter_id);
        emit_all(&self.bands, out);
    }
}

/// `ofp_meter_features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MeterFeatures {
    /// max_meter
    pub max_meter: u32,
    /// band_types: bitmap of `1 << OFPMBT_*`
    pub band_types: u32,
    /// capabilities (`OFPMF_*`)
    pub capabilities: u32,
    /// max_bands per meter
    pub max_bands: u8,
    /// max_color
    pub max_color: u8,
}

impl Wire for MeterFeatures {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        let (rest, mut b) = take(Element::Multipart, input, METER_FEATURES_LEN)?;
        Ok((
            rest,
            Self {
                max_meter: b.get_u32(),
                band_types: b.get_u32(),
                capabilities: b.get_u32(),
                max_bands: b.get_u8(),
                max_color: b.get_u8(),
            },
        ))
    }

    fn wire_len(&self) -> usize {
        METER_FEATURES_LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.max_meter);
        out.put_u32(self.band_types);
        out.put_u32(self.capabilities);
        out.put_u8(self.max_bands);
        out.put_u8(self.max_color);
        put_zeros(out, 2);
    }
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A typed MULTIPART_REPLY body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MultipartReplyBody {
    /// OFPMP_DESC
    Desc(Desc),
    /// OFPMP_FLOW
    Flow(Vec<FlowStats>),
    /// OFPMP_AGGREGATE
    Aggregate(AggregateStats),
    /// OFPMP_TABLE
    Table(Vec<TableStats>),
    /// OFPMP_PORT_STATS
    PortStats(Vec<PortStats>),
    /// OFPMP_QUEUE
    Queue(Vec<QueueStats>),
    /// OFPMP_GROUP
    Group(Vec<GroupStats>),
    /// OFPMP_GROUP_DESC
    GroupDesc(Vec<GroupDesc>),
    /// OFPMP_GROUP_FEATURES
    GroupFeatures(GroupFeatures),
    /// OFPMP_METER
    Meter(Vec<MeterStats>),
    /// OFPMP_METER_CONFIG
    MeterConfig(Vec<MeterConfig>),
    /// OFPMP_METER_FEATURES
    MeterFeatures(MeterFeatures),
    /// OFPMP_TABLE_FEATURES
    TableFeatures(Vec<TableFeatures>),
    /// OFPMP_PORT_DESC
    PortDesc(Vec<Port>),
    /// OFPMP_EXPERIMENTER
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter-defined type.
        exp_type: u32,
        /// The rest of the body, verbatim.
        data: Vec<u8>,
    },
}

impl MultipartReplyBody {
    /// The multipart type on the wire.
    pub fn mp_type(&self) -> u16 {
        use multipart_type as t;
        match self {
            Self::Desc(_) => t::DESC,
            Self::Flow(_) => t::FLOW,
            Self::Aggregate(_) => t::AGGREGATE,
            Self::Table(_) => t::TABLE,
            Self::PortStats(_) => t::PORT_STATS,
            Self::Queue(_) => t::QUEUE,
            Self::Group(_) => t::GROUP,
            Self::GroupDesc(_) => t::GROUP_DESC,
            Self::GroupFeatures(_) => t::GROUP_FEATURES,
            Self::Meter(_) => t::METER,
            Self::MeterConfig(_) => t::METER_CONFIG,
            Self::MeterFeatures(_) => t::METER_FEATURES,
            Self::TableFeatures(_) => t::TABLE_FEATURES,
            Self::PortDesc(_) => t::PORT_DESC,
            Self::Experimenter { .. } => t::EXPERIMENTER,
        }
    }

    /// Parses the body of a reply of type `mp_type`; `input` runs to the end
    /// of the message.
    fn parse(mp_type: u16, input: &[u8]) -> Result<Self, ParseError> {
        use multipart_type as t;
        Ok(match mp_type {
            t::DESC => Self::Desc(exact(input, Desc::parse)?),
            t::FLOW => Self::Flow(parse_all(input)?),
            t::AGGREGATE => Self::Aggregate(exact(input, AggregateStats::parse)?),
            t::TABLE => Self::Table(parse_all(input)?),
            t::PORT_STATS => Self::PortStats(parse_all(input)?),
            t::QUEUE => Self::Queue(parse_all(input)?),
            t::GROUP => Self::Group(parse_all(input)?),
            t::GROUP_DESC => Self::GroupDesc(parse_all(input)?),
            t::GROUP_FEATURES => Self::GroupFeatures(exact(input, GroupFeatures::parse)?),
            t::METER => Self::Meter(parse_all(input)?),
            t::METER_CONFIG => Self::MeterConfig(parse_all(input)?),
            t::METER_FEATURES => Self::MeterFeatures(exact(input, MeterFeatures::parse)?),
            t::TABLE_FEATURES => Self::TableFeatures(parse_all(input)?),
            t::PORT_DESC => Self::PortDesc(parse_all(input)?),
            t::EXPERIMENTER => {
                let (experimenter, exp_type, data) = parse_experimenter(input)?;
                Self::Experimenter {
                    experimenter,
                    exp_type,
                    data,
                }
            }
            other => return Err(bad_multipart(other, input)),
        })
    }

    fn wire_len(&self) -> usize {
        match self {
            Self::Desc(v) => v.wire_len(),
            Self::Flow(v) => len_all(v),
            Self::Aggregate(v) => v.wire_len(),
            Self::Table(v) => len_all(v),
            Self::PortStats(v) => len_all(v),
            Self::Queue(v) => len_all(v),
            Self::Group(v) => len_all(v),
            Self::GroupDesc(v) => len_all(v),
            Self::GroupFeatures(v) => v.wire_len(),
            Self::Meter(v) => len_all(v),
            Self::MeterConfig(v) => len_all(v),
            Self::MeterFeatures(v) => v.wire_len(),
            Self::TableFeatures(v) => len_all(v),
            Self::PortDesc(v) => len_all(v),
            Self::Experimenter { data, .. } => EXPERIMENTER_HEADER_LEN + data.len(),
        }
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        match self {
            Self::Desc(v) => v.emit(out),
            Self::Flow(v) => emit_all(v, out),
            Self::Aggregate(v) => v.emit(out),
            Self::Table(v) => emit_all(v, out),
            Self::PortStats(v) => emit_all(v, out),
            Self::Queue(v) => emit_all(v, out),
            Self::Group(v) => emit_all(v, out),
            Self::GroupDesc(v) => emit_all(v, out),
            Self::GroupFeatures(v) => v.emit(out),
            Self::Meter(v) => emit_all(v, out),
            Self::MeterConfig(v) => emit_all(v, out),
            Self::MeterFeatures(v) => v.emit(out),
            Self::TableFeatures(v) => emit_all(v, out),
            Self::PortDesc(v) => emit_all(v, out),
            Self::Experimenter {
                experimenter,
                exp_type,
                data,
            } => emit_experimenter(*experimenter, *exp_type, data, out),
        }
    }
}

/// A MULTIPART_REPLY body: `type, flags, pad[4]` and the typed body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    /// Flags (`OFPMPF_REPLY_MORE`).
    pub flags: u16,
    /// The typed body; it decides the multipart type.
    pub body: MultipartReplyBody,
}

/// Cuts `items` into runs whose summed wire length stays within `budget`.
/// Every run holds at least one item, so an item larger than the budget gets a
/// run of its own rather than being dropped.
fn chunk<T: Wire>(items: Vec<T>, budget: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut cur_len = 0;
    for it in items {
        let len = it.wire_len();
        if !cur.is_empty() && cur_len + len > budget {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        cur_len += len;
        cur.push(it);
    }
    out.push(cur);
    out
}

impl MultipartReply {
    /// Parses the message body (the bytes after `ofp_header`).
    pub fn parse_body(body: &[u8]) -> Result<Self, ParseError> {
        let (mp_type, flags, rest) = parse_header(body)?;
        if !is_known(mp_type) {
            return Err(bad_multipart(mp_type, body));
        }
        Ok(Self {
            flags,
            body: MultipartReplyBody::parse(mp_type, rest)?,
        })
    }

    /// Length of the message body (everything after `ofp_header`).
    pub fn body_len(&self) -> usize {
        MULTIPART_HEADER_LEN + self.body.wire_len()
    }

    /// Emits the message body (exactly [`MultipartReply::body_len`] bytes).
    pub fn emit_body<B: BufMut>(&self, out: &mut B) {
        out.put_u16(self.body.mp_type());
        out.put_u16(self.flags);
        put_zeros(out, 4);
        self.body.emit(out);
    }

    /// Splits this reply into replies whose [`MultipartReply::body_len`] is at
    /// most `max_body_len` (for a 64 KiB message: `65535 - 8`).
    ///
    /// Splitting is entry-granular: list-valued bodies (FLOW, TABLE,
    /// PORT_STATS, QUEUE, GROUP, GROUP_DESC, METER, METER_CONFIG,
    /// TABLE_FEATURES, PORT_DESC) are cut between entries, in order. Every
    /// reply but the last gets `OFPMPF_REPLY_MORE`; the last keeps this
    /// reply's flags. An entry that alone exceeds the limit travels in a reply
    /// of its own (which is then over the limit: an OpenFlow entry's length is
    /// a `u16`, so this only happens with limits below 64 KiB).
    ///
    /// Single-structure bodies (DESC, AGGREGATE, GROUP_FEATURES,
    /// METER_FEATURES) and EXPERIMENTER bodies are returned unsplit: this
    /// crate does not know where an experimenter's entries begin and end; use
    /// [`MultipartReply::split_experimenter`] or split before building.
    pub fn split(self, max_body_len: usize) -> Vec<MultipartReply> {
        use MultipartReplyBody as B;
        if self.body_len() <= max_body_len {
            return vec![self];
        }
        let budget = max_body_len.saturating_sub(MULTIPART_HEADER_LEN);
        let flags = self.flags;
        let bodies: Vec<B> = match self.body {
            B::Flow(v) => chunk(v, budget).into_iter().map(B::Flow).collect(),
            B::Table(v) => chunk(v, budget).into_iter().map(B::Table).collect(),
            B::PortStats(v) => chunk(v, budget).into_iter().map(B::PortStats).collect(),
            B::Queue(v) => chunk(v, budget).into_iter().map(B::Queue).collect(),
            B::Group(v) => chunk(v, budget).into_iter().map(B::Group).collect(),
            B::GroupDesc(v) => chunk(v, budget).into_iter().map(B::GroupDesc).collect(),
            B::Meter(v) => chunk(v, budget).into_iter().map(B::Meter).collect(),
            B::MeterConfig(v) => chunk(v, budget).into_iter().map(B::MeterConfig).collect(),
            B::TableFeatures(v) => chunk(v, budget).into_iter().map(B::TableFeatures).collect(),
            B::PortDesc(v) => chunk(v, budget).into_iter().map(B::PortDesc).collect(),
            body @ (B::Desc(_)
            | B::Aggregate(_)
            | B::GroupFeatures(_)
            | B::MeterFeatures(_)
            | B::Experimenter { .. }) => return vec![Self { flags, body }],
        };
        with_more_flags(flags, bodies)
    }

    /// Builds the replies of an experimenter multipart whose data is a fixed
    /// `prefix` followed by entries of `entry_len` bytes each (the filter
    /// extension's MAP_DUMP: a 16-byte prefix and `key ‖ value` entries;
    /// PROG_STATS: no prefix and 56-byte entries).
    ///
    /// Every reply carries `experimenter, exp_type, prefix` and as many whole
    /// entries as fit in `max_body_len`, but at least one; every reply but the
    /// last gets `OFPMPF_REPLY_MORE`, the last gets `flags`. A trailing partial
    /// entry (when `entries.len()` is not a multiple of `entry_len`) goes in
    /// the last reply; `entry_len == 0` puts everything in one reply. With no
    /// entries there is one reply holding just the prefix.
    pub fn split_experimenter(
        flags: u16,
        experimenter: u32,
        exp_type: u32,
        prefix: &[u8],
        entries: &[u8],
        entry_len: usize,
        max_body_len: usize,
    ) -> Vec<MultipartReply> {
        let part = |chunk: &[u8]| {
            let mut data = Vec::with_capacity(prefix.len() + chunk.len());
            data.extend_from_slice(prefix);
            data.extend_from_slice(chunk);
            MultipartReplyBody::Experimenter {
                experimenter,
                exp_type,
                data,
            }
        };
        if entry_len == 0 || entries.is_empty() {
            return vec![Self {
                flags,
                body: part(entries),
            }];
        }
        let overhead = MULTIPART_HEADER_LEN + EXPERIMENTER_HEADER_LEN + prefix.len();
        let per_reply = (max_body_len.saturating_sub(overhead) / entry_len).max(1);
        let bodies = entries.chunks(per_reply * entry_len).map(part).collect();
        with_more_flags(flags, bodies)
    }
}

/// Wraps split bodies into replies: `REPLY_MORE` on all but the last, which
/// keeps `flags`.
fn with_more_flags(flags: u16, bodies: Vec<MultipartReplyBody>) -> Vec<MultipartReply> {
    let n = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| MultipartReply {
            flags: if i + 1 < n {
                flags | OFPMPF_REPLY_MORE
            } else {
                flags
            },
            body,
        })
        .collect()
}

/// Proptest strategies producing canonical values (ones that survive
/// `parse_body(emit_body(x)) == x`).
#[cfg(test)]
pub(crate) mod strategy {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Printable text (possibly truncated) or arbitrary raw bytes.
    pub(crate) fn fixed_str<const N: usize>() -> impl Strategy<Value = FixedStr<N>> {
        prop_oneof![
            "[ -~]{0,40}".prop_map(|s| FixedStr::new(&s)),
            vec(any::<u8>(), N).prop_map(|v| {
                let mut a = [0u8; N];
                a.copy_from_slice(&v);
                FixedStr::from_bytes(a)
            }),
        ]
    }

    pub(crate) fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
        (
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            crate::oxm::strategy::match_(),
        )
            .prop_map(
                |(table_id, out_port, out_group, cookie, cookie_mask, match_)| FlowStatsRequest {
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                    match_,
                },
            )
    }

    pub(crate) fn request() -> impl Strategy<Value = MultipartRequest> {
        use MultipartRequestBody as R;
        let body = prop_oneof![
            Just(R::Desc),
            flow_stats_request().prop_map(R::Flow),
            flow_stats_request().prop_map(R::Aggregate),
            Just(R::Table),
            any::<u32>().prop_map(|port_no| R::PortStats { port_no }),
            (any::<u32>(), any::<u32>())
                .prop_map(|(port_no, queue_id)| R::Queue { port_no, queue_id }),
            any::<u32>().prop_map(|group_id| R::Group { group_id }),
            Just(R::GroupDesc),
            Just(R::GroupFeatures),
            any::<u32>().prop_map(|meter_id| R::Meter { meter_id }),
            any::<u32>().prop_map(|meter_id| R::MeterConfig { meter_id }),
            Just(R::MeterFeatures),
            vec(crate::table_features::strategy::table_features(), 0..3).prop_map(R::TableFeatures),
            Just(R::PortDesc),
            (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..40)).prop_map(
                |(experimenter, exp_type, data)| R::Experimenter {
                    experimenter,
                    exp_type,
                    data
                }
            ),
        ];
        (any::<u16>(), body).prop_map(|(flags, body)| MultipartRequest { flags, body })
    }

    fn desc() -> impl Strategy<Value = Desc> {
        (
            fixed_str(),
            fixed_str(),
            fixed_str(),
            fixed_str(),
            fixed_str(),
        )
            .prop_map(|(mfr_desc, hw_desc, sw_desc, serial_num, dp_desc)| Desc {
                mfr_desc,
                hw_desc,
                sw_desc,
                serial_num,
                dp_desc,
            })
    }

    pub(crate) fn flow_stats() -> impl Strategy<Value = FlowStats> {
        (
            (any::<u8>(), any::<u32>(), any::<u32>(), any::<u16>()),
            (any::<u16>(), any::<u16>(), any::<u16>()),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            crate::oxm::strategy::match_(),
            crate::instruction::strategy::instructions(),
        )
            .prop_map(
                |(
                    (table_id, duration_sec, duration_nsec, priority),
                    (idle_timeout, hard_timeout, flags),
                    (cookie, packet_count, byte_count),
                    match_,
                    instructions,
                )| FlowStats {
                    table_id,
                    duration_sec,
                    duration_nsec,
                    priority,
                    idle_timeout,
                    hard_timeout,
                    flags,
                    cookie,
                    packet_count,
                    byte_count,
                    match_,
                    instructions,
                },
            )
    }

    fn counters() -> impl Strategy<Value = Vec<Counters>> {
        vec(
            (any::<u64>(), any::<u64>()).prop_map(|(packet_count, byte_count)| Counters {
                packet_count,
                byte_count,
            }),
            0..4,
        )
    }

    fn port_stats() -> impl Strategy<Value = PortStats> {
        (any::<u32>(), any::<[u64; 12]>(), any::<u32>(), any::<u32>()).prop_map(
            |(port_no, c, duration_sec, duration_nsec)| PortStats {
                port_no,
                rx_packets: c[0],
                tx_packets: c[1],
                rx_bytes: c[2],
                tx_bytes: c[3],
                rx_dropped: c[4],
                tx_dropped: c[5],
                rx_errors: c[6],
                tx_errors: c[7],
                rx_frame_err: c[8],
                rx_over_err: c[9],
                rx_crc_err: c[10],
                collisions: c[11],
                duration_sec,
                duration_nsec,
            },
        )
    }

    pub(crate) fn reply() -> impl Strategy<Value = MultipartReply> {
        use MultipartReplyBody as R;
        let body = prop_oneof![
            desc().prop_map(R::Desc),
            vec(flow_stats(), 0..4).prop_map(R::Flow),
            (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
                |(packet_count, byte_count, flow_count)| R::Aggregate(AggregateStats {
                    packet_count,
                    byte_count,
                    flow_count
                })
            ),
            vec(
                (any::<u8>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
                    |(table_id, active_count, lookup_count, matched_count)| TableStats {
                        table_id,
                        active_count,
                        lookup_count,
                        matched_count
                    }
                ),
                0..4
            )
            .prop_map(R::Table),
            vec(port_stats(), 0..3).prop_map(R::PortStats),
            vec(
                (any::<[u32; 4]>(), any::<[u64; 3]>()).prop_map(|(a, c)| QueueStats {
                    port_no: a[0],
                    queue_id: a[1],
                    tx_bytes: c[0],
                    tx_packets: c[1],
                    tx_errors: c[2],
                    duration_sec: a[2],
                    duration_nsec: a[3],
                }),
                0..4
            )
            .prop_map(R::Queue),
            vec(
                (any::<[u32; 4]>(), any::<[u64; 2]>(), counters()).prop_map(
                    |(a, c, bucket_stats)| GroupStats {
                        group_id: a[0],
                        ref_count: a[1],
                        packet_count: c[0],
                        byte_count: c[1],
                        duration_sec: a[2],
                        duration_nsec: a[3],
                        bucket_stats,
                    }
                ),
                0..4
            )
            .prop_map(R::Group),
            vec(
                (any::<u8>(), any::<u32>(), crate::group::strategy::buckets()).prop_map(
                    |(group_type, group_id, buckets)| GroupDesc {
                        group_type,
                        group_id,
                        buckets
                    }
                ),
                0..3
            )
            .prop_map(R::GroupDesc),
            (any::<[u32; 2]>(), any::<[u32; 4]>(), any::<[u32; 4]>()).prop_map(
                |(a, max_groups, actions)| R::GroupFeatures(GroupFeatures {
                    types: a[0],
                    capabilities: a[1],
                    max_groups,
                    actions
                })
            ),
            vec(
                (any::<[u32; 4]>(), any::<[u64; 2]>(), counters()).prop_map(
                    |(a, c, band_stats)| MeterStats {
                        meter_id: a[0],
                        flow_count: a[1],
                        packet_in_count: c[0],
                        byte_in_count: c[1],
                        duration_sec: a[2],
                        duration_nsec: a[3],
                        band_stats,
                    }
                ),
                0..4
            )
            .prop_map(R::Meter),
            vec(
                (any::<u16>(), any::<u32>(), crate::meter::strategy::bands()).prop_map(
                    |(flags, meter_id, bands)| MeterConfig {
                        flags,
                        meter_id,
                        bands
                    }
                ),
                0..3
            )
            .prop_map(R::MeterConfig),
            (any::<[u32; 3]>(), any::<u8>(), any::<u8>()).prop_map(|(a, max_bands, max_color)| {
                R::MeterFeatures(MeterFeatures {
                    max_meter: a[0],
                    band_types: a[1],
                    capabilities: a[2],
                    max_bands,
                    max_color,
                })
            }),
            vec(crate::table_features::strategy::table_features(), 0..3).prop_map(R::TableFeatures),
            vec(crate::port::strategy::port(), 0..3).prop_map(R::PortDesc),
            (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..40)).prop_map(
                |(experimenter, exp_type, data)| R::Experimenter {
                    experimenter,
                    exp_type,
                    data
                }
            ),
        ];
        (any::<u16>(), body).prop_map(|(flags, body)| MultipartReply { flags, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::error::{
        BadRequestCode, ErrorCode, GroupModFailedCode, MeterModFailedCode, TableFeaturesFailedCode,
    };
    use crate::oxm::Oxm;
    use crate::table_features::TableFeatureProp;
    use proptest::prelude::*;

    /// `ofp_match` holding IN_PORT = 1: type 1, length 12, OXM 0x80000004,
    /// value, 4 bytes of padding.
    const MATCH_IN_PORT_1: [u8; 16] = [
        0x00, 0x01, 0x00, 0x0c, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0,
    ];

    fn match_in_port_1() -> Match {
        Match {
            fields: vec![Oxm::InPort(1)],
        }
    }

    fn hdr(mp_type: u16, flags: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&mp_type.to_be_bytes());
        v.extend_from_slice(&flags.to_be_bytes());
        v.extend_from_slice(&[0; 4]);
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn check_request(req: &MultipartRequest, bytes: &[u8]) {
        assert_eq!(&MultipartRequest::parse_body(bytes).unwrap(), req);
        assert_eq!(req.body_len(), bytes.len());
        let mut out = Vec::new();
        req.emit_body(&mut out);
        assert_eq!(out, bytes);
    }

    fn check_reply(rep: &MultipartReply, bytes: &[u8]) {
        assert_eq!(&MultipartReply::parse_body(bytes).unwrap(), rep);
        assert_eq!(rep.body_len(), bytes.len());
        let mut out = Vec::new();
        rep.emit_body(&mut out);
        assert_eq!(out, bytes);
    }

    fn req(flags: u16, body: MultipartRequestBody) -> MultipartRequest {
        MultipartRequest { flags, body }
    }

    fn rep(flags: u16, body: MultipartReplyBody) -> MultipartReply {
        MultipartReply { flags, body }
    }

    // ----- requests -------------------------------------------------------

    #[test]
    fn test_requests_without_body() {
        use MultipartRequestBody as R;
        for (t, body) in [
            (0u16, R::Desc),
            (3, R::Table),
            (7, R::GroupDesc),
            (8, R::GroupFeatures),
            (11, R::MeterFeatures),
            (13, R::PortDesc),
        ] {
            assert_eq!(body.mp_type(), t);
            check_request(&req(0, body), &hdr(t, 0));
        }
    }

    #[rustfmt::skip]
    const FLOW_REQ_FIXED: [u8; 32] = [
        0x05, 0, 0, 0,                                  // table_id, pad[3]
        0xff, 0xff, 0xff, 0xff,                         // out_port ANY
        0xff, 0xff, 0xff, 0xfc,                         // out_group 0xfffffffc
        0, 0, 0, 0,                                     // pad[4]
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // cookie
        0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,             // cookie_mask
    ];

    fn flow_req() -> FlowStatsRequest {
        FlowStatsRequest {
            table_id: 5,
            out_port: 0xffff_ffff,
            out_group: 0xffff_fffc,
            cookie: 0x0102_0304_0506_0708,
            cookie_mask: 0xffff_ffff_0000_0000,
            match_: match_in_port_1(),
        }
    }

    #[test]
    fn test_flow_and_aggregate_requests() {
        let body = cat(&[&FLOW_REQ_FIXED, &MATCH_IN_PORT_1]);
        check_request(
            &req(OFPMPF_REQ_MORE, MultipartRequestBody::Flow(flow_req())),
            &cat(&[&hdr(1, 1), &body]),
        );
        check_request(
            &req(0, MultipartRequestBody::Aggregate(flow_req())),
            &cat(&[&hdr(2, 0), &body]),
        );
    }

    #[test]
    fn test_id_requests() {
        use MultipartRequestBody as R;
        check_request(
            &req(
                0,
                R::PortStats {
                    port_no: 0xffff_fffe,
                },
            ),
            &cat(&[&hdr(4, 0), &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0]]),
        );
        check_request(
            &req(
                0,
                R::Queue {
                    port_no: 1,
                    queue_id: 0xffff_ffff,
                },
            ),
            &cat(&[&hdr(5, 0), &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]]),
        );
        check_request(
            &req(
                0,
                R::Group {
                    group_id: 0xffff_fffc,
                },
            ),
            &cat(&[&hdr(6, 0), &[0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 0]]),
        );
        check_request(
            &req(0, R::Meter { meter_id: 7 }),
            &cat(&[&hdr(9, 0), &[0, 0, 0, 7, 0, 0, 0, 0]]),
        );
        check_request(
            &req(
                0,
                R::MeterConfig {
                    meter_id: 0xffff_ffff,
                },
            ),
            &cat(&[&hdr(10, 0), &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]]),
        );
    }

    /// A table-features entry: table 1 named "t1", no metadata, config 0,
    /// 100 entries, NEXT_TABLES [2, 3].
    fn tf_entry() -> (TableFeatures, Vec<u8>) {
        let tf = TableFeatures {
            table_id: 1,
            name: FixedStr::new("t1"),
            metadata_match: 0,
            metadata_write: 0,
            config: 0,
            max_entries: 100,
            properties: vec![TableFeatureProp::NextTables(vec![2, 3])],
        };
        let mut b = vec![0x00, 0x48, 0x01, 0, 0, 0, 0, 0, b't', b'1'];
        b.extend_from_slice(&[0; 30]);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 100]);
        b.extend_from_slice(&[0, 2, 0, 6, 2, 3, 0, 0]);
        assert_eq!(b.len(), 0x48);
        (tf, b)
    }

    #[test]
    fn test_table_features_requests() {
        check_request(
            &req(0, MultipartRequestBody::TableFeatures(vec![])),
            &hdr(12, 0),
        );
        let (tf, bytes) = tf_entry();
        check_request(
            &req(0, MultipartRequestBody::TableFeatures(vec![tf.clone(), tf])),
            &cat(&[&hdr(12, 0), &bytes, &bytes]),
        );
    }

    #[test]
    fn test_experimenter_request() {
        // OKO PROG_STATS (exp_type 18) for every program.
        check_request(
            &req(
                0,
                MultipartRequestBody::Experimenter {
                    experimenter: 0x004f_4b4f,
                    exp_type: 18,
                    data: vec![0xff; 4],
                },
            ),
            &cat(&[
                &hdr(0xffff, 0),
                &[0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 18, 0xff, 0xff, 0xff, 0xff],
            ]),
        );
    }

    // ----- replies --------------------------------------------------------

    fn padded(text: &[u8], n: usize) -> Vec<u8> {
        let mut v = text.to_vec();
        v.resize(n, 0);
        v
    }

    #[test]
    fn test_desc_reply() {
        let desc = Desc {
            mfr_desc: FixedStr::new("Oko"),
            hw_desc: FixedStr::new("x86-64"),
            sw_desc: FixedStr::new("okod 0.1"),
            serial_num: FixedStr::new("none"),
            dp_desc: FixedStr::new("dp0"),
        };
        let bytes = cat(&[
            &hdr(0, 0),
            &padded(b"Oko", 256),
            &padded(b"x86-64", 256),
            &padded(b"okod 0.1", 256),
            &padded(b"none", 32),
            &padded(b"dp0", 256),
        ]);
        assert_eq!(bytes.len(), 8 + 1056);
        check_reply(&rep(0, MultipartReplyBody::Desc(desc)), &bytes);
    }

    #[test]
    fn test_flow_reply() {
        let fs = FlowStats {
            table_id: 2,
            duration_sec: 10,
            duration_nsec: 500,
            priority: 0x8000,
            idle_timeout: 60,
            hard_timeout: 0,
            flags: 1,
            cookie: 0xabcd,
            packet_count: 3,
            byte_count: 180,
            match_: match_in_port_1(),
            instructions: vec![Instruction::GotoTable(3)],
        };
        #[rustfmt::skip]
        let fixed: [u8; 48] = [
            0x00, 0x48, 0x02, 0,            // length 72, table_id, pad
            0, 0, 0, 10, 0, 0, 0x01, 0xf4,  // duration_sec, duration_nsec
            0x80, 0x00, 0x00, 0x3c,         // priority, idle_timeout
            0x00, 0x00, 0x00, 0x01,         // hard_timeout, flags
            0, 0, 0, 0,                     // pad[4]
            0, 0, 0, 0, 0, 0, 0xab, 0xcd,   // cookie
            0, 0, 0, 0, 0, 0, 0, 3,         // packet_count
            0, 0, 0, 0, 0, 0, 0, 180,       // byte_count
        ];
        let goto = [0x00, 0x01, 0x00, 0x08, 0x03, 0, 0, 0];
        let entry = cat(&[&fixed, &MATCH_IN_PORT_1, &goto]);
        check_reply(
            &rep(0, MultipartReplyBody::Flow(vec![fs.clone(), fs])),
            &cat(&[&hdr(1, 0), &entry, &entry]),
        );
        check_reply(&rep(1, MultipartReplyBody::Flow(vec![])), &hdr(1, 1));
    }

    #[test]
    fn test_aggregate_reply() {
        check_reply(
            &rep(
                0,
                MultipartReplyBody::Aggregate(AggregateStats {
                    packet_count: 0x0102,
                    byte_count: 0x0304,
                    flow_count: 5,
                }),
            ),
            &cat(&[
                &hdr(2, 0),
                &[0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4],
                &[0, 0, 0, 5, 0, 0, 0, 0],
            ]),
        );
    }

    #[test]
    fn test_table_reply() {
        let ts = |table_id| TableStats {
            table_id,
            active_count: 4,
            lookup_count: 1000,
            matched_count: 999,
        };
        #[rustfmt::skip]
        let entry = |id: u8| vec![
            id, 0, 0, 0, 0, 0, 0, 4,
            0, 0, 0, 0, 0, 0, 0x03, 0xe8,
            0, 0, 0, 0, 0, 0, 0x03, 0xe7,
        ];
        check_reply(
            &rep(0, MultipartReplyBody::Table(vec![ts(0), ts(1)])),
            &cat(&[&hdr(3, 0), &entry(0), &entry(1)]),
        );
    }

    #[test]
    fn test_port_stats_reply() {
        let ps = PortStats {
            port_no: 1,
            rx_packets: 1,
            tx_packets: 2,
            rx_bytes: 3,
            tx_bytes: 4,
            rx_dropped: 5,
            tx_dropped: 6,
            rx_errors: 7,
            tx_errors: 8,
            rx_frame_err: 9,
            rx_over_err: 10,
            rx_crc_err: 11,
            collisions: 12,
            duration_sec: 13,
            duration_nsec: 14,
        };
        let mut entry = vec![0, 0, 0, 1, 0, 0, 0, 0];
        for c in 1u64..=12 {
            entry.extend_from_slice(&c.to_be_bytes());
        }
        entry.extend_from_slice(&[0, 0, 0, 13, 0, 0, 0, 14]);
        assert_eq!(entry.len(), 112);
        check_reply(
            &rep(0, MultipartReplyBody::PortStats(vec![ps])),
            &cat(&[&hdr(4, 0), &entry]),
        );
    }

    #[test]
    fn test_queue_reply() {
        let qs = QueueStats {
            port_no: 2,
            queue_id: 1,
            tx_bytes: 0x10,
            tx_packets: 0x20,
            tx_errors: 0x30,
            duration_sec: 4,
            duration_nsec: 5,
        };
        #[rustfmt::skip]
        let entry = [
            0, 0, 0, 2, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 0x10,
            0, 0, 0, 0, 0, 0, 0, 0x20,
            0, 0, 0, 0, 0, 0, 0, 0x30,
            0, 0, 0, 4, 0, 0, 0, 5,
        ];
        check_reply(
            &rep(0, MultipartReplyBody::Queue(vec![qs])),
            &cat(&[&hdr(5, 0), &entry]),
        );
    }

    #[test]
    fn test_group_reply() {
        let gs = GroupStats {
            group_id: 9,
            ref_count: 2,
            packet_count: 100,
            byte_count: 6400,
            duration_sec: 1,
            duration_nsec: 2,
            bucket_stats: vec![
                Counters {
                    packet_count: 60,
                    byte_count: 3840,
                },
                Counters {
                    packet_count: 40,
                    byte_count: 2560,
                },
            ],
        };
        #[rustfmt::skip]
        let entry = [
            0x00, 0x48, 0, 0, 0, 0, 0, 9,   // length 72, pad[2], group_id
            0, 0, 0, 2, 0, 0, 0, 0,         // ref_count, pad[4]
            0, 0, 0, 0, 0, 0, 0, 100,       // packet_count
            0, 0, 0, 0, 0, 0, 0x19, 0x00,   // byte_count
            0, 0, 0, 1, 0, 0, 0, 2,         // duration
            0, 0, 0, 0, 0, 0, 0, 60,        // bucket 0
            0, 0, 0, 0, 0, 0, 0x0f, 0x00,
            0, 0, 0, 0, 0, 0, 0, 40,        // bucket 1
            0, 0, 0, 0, 0, 0, 0x0a, 0x00,
        ];
        check_reply(
            &rep(0, MultipartReplyBody::Group(vec![gs])),
            &cat(&[&hdr(6, 0), &entry]),
        );
    }

    #[rustfmt::skip]
    const GROUP_DESC_ENTRY: [u8; 40] = [
        0x00, 0x28, 0x01, 0, 0, 0, 0, 0x0a, // length 40, SELECT, pad, group_id 10
        // bucket: len 32, weight 5, watch_port ANY, watch_group ANY, pad[4]
        0x00, 0x20, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        // OUTPUT port 1, max_len 0, pad[6]
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn test_group_desc_reply() {
        let gd = GroupDesc {
            group_type: 1,
            group_id: 10,
            buckets: vec![Bucket {
                weight: 5,
                watch_port: 0xffff_ffff,
                watch_group: 0xffff_ffff,
                actions: vec![Action::Output {
                    port: 1,
                    max_len: 0,
                }],
            }],
        };
        check_reply(
            &rep(0, MultipartReplyBody::GroupDesc(vec![gd])),
            &cat(&[&hdr(7, 0), &GROUP_DESC_ENTRY]),
        );
    }

    #[test]
    fn test_group_features_reply() {
        let gf = GroupFeatures {
            types: 0xf,
            capabilities: 0x5,
            max_groups: [1, 2, 3, 4],
            actions: [5, 6, 7, 8],
        };
        let mut body = vec![0, 0, 0, 0xf, 0, 0, 0, 5];
        for v in 1u32..=8 {
            body.extend_from_slice(&v.to_be_bytes());
        }
        check_reply(
            &rep(0, MultipartReplyBody::GroupFeatures(gf)),
            &cat(&[&hdr(8, 0), &body]),
        );
    }

    #[test]
    fn test_meter_reply() {
        let ms = MeterStats {
            meter_id: 3,
            flow_count: 2,
            packet_in_count: 10,
            byte_in_count: 640,
            duration_sec: 7,
            duration_nsec: 8,
            band_stats: vec![Counters {
                packet_count: 1,
                byte_count: 64,
            }],
        };
        #[rustfmt::skip]
        let entry = [
            0, 0, 0, 3, 0x00, 0x38, 0, 0,   // meter_id, len 56, pad
            0, 0, 0, 0, 0, 0, 0, 2,         // pad, flow_count
            0, 0, 0, 0, 0, 0, 0, 10,        // packet_in_count
            0, 0, 0, 0, 0, 0, 0x02, 0x80,   // byte_in_count
            0, 0, 0, 7, 0, 0, 0, 8,         // duration
            0, 0, 0, 0, 0, 0, 0, 1,         // band 0
            0, 0, 0, 0, 0, 0, 0, 64,
        ];
        check_reply(
            &rep(0, MultipartReplyBody::Meter(vec![ms])),
            &cat(&[&hdr(9, 0), &entry]),
        );
    }

    #[rustfmt::skip]
    const METER_CONFIG_ENTRY: [u8; 24] = [
        0x00, 0x18, 0x00, 0x05, 0, 0, 0, 1, // length 24, flags KBPS|BURST... , meter 1
        // DROP band: type 1, len 16, rate 1000, burst 100, pad[4]
        0x00, 0x01, 0x00, 0x10, 0, 0, 0x03, 0xe8,
        0, 0, 0, 100, 0, 0, 0, 0,
    ];

    #[test]
    fn test_meter_config_reply() {
        let mc = MeterConfig {
            flags: 5,
            meter_id: 1,
            bands: vec![MeterBand::Drop {
                rate: 1000,
                burst_size: 100,
            }],
        };
        check_reply(
            &rep(0, MultipartReplyBody::MeterConfig(vec![mc])),
            &cat(&[&hdr(10, 0), &METER_CONFIG_ENTRY]),
        );
    }

    #[test]
    fn test_meter_features_reply() {
        let mf = MeterFeatures {
            max_meter: 1024,
            band_types: 6,
            capabilities: 0xf,
            max_bands: 4,
            max_color: 0,
        };
        check_reply(
            &rep(0, MultipartReplyBody::MeterFeatures(mf)),
            &cat(&[
                &hdr(11, 0),
                &[0, 0, 4, 0, 0, 0, 0, 6, 0, 0, 0, 0xf, 4, 0, 0, 0],
            ]),
        );
    }

    #[test]
    fn test_table_features_reply() {
        let (tf, bytes) = tf_entry();
        check_reply(
            &rep(1, MultipartReplyBody::TableFeatures(vec![tf])),
            &cat(&[&hdr(12, 1), &bytes]),
        );
    }

    #[test]
    fn test_port_desc_reply() {
        let port = Port {
            port_no: 1,
            hw_addr: [2, 0, 0, 0, 0, 1],
            name: *b"veth0\0\0\0\0\0\0\0\0\0\0\0",
            config: 0,
            state: 4,
            curr: 0x2840,
            advertised: 0,
            supported: 0,
            peer: 0,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
        };
        #[rustfmt::skip]
        let bytes = [
            0, 0, 0, 1, 0, 0, 0, 0,                 // port_no, pad[4]
            2, 0, 0, 0, 0, 1, 0, 0,                 // hw_addr, pad[2]
            b'v', b'e', b't', b'h', b'0', 0, 0, 0,  // name[16]
            0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 4,                 // config, state
            0, 0, 0x28, 0x40, 0, 0, 0, 0,           // curr, advertised
            0, 0, 0, 0, 0, 0, 0, 0,                 // supported, peer
            0, 0x98, 0x96, 0x80, 0, 0x98, 0x96, 0x80, // curr_speed, max_speed
        ];
        check_reply(
            &rep(0, MultipartReplyBody::PortDesc(vec![port])),
            &cat(&[&hdr(13, 0), &bytes]),
        );
    }

    #[test]
    fn test_experimenter_reply() {
        // OKO PROG_STATS entry: prog_id 1, n_insns 12, jit 1, n_flows 2,
        // runs 5, matches 3, run_ns 900, name "drop_syn".
        #[rustfmt::skip]
        let entry: Vec<u8> = cat(&[
            &[0, 0, 0, 1, 0, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0, 2],
            &5u64.to_be_bytes(), &3u64.to_be_bytes(), &900u64.to_be_bytes(),
            &padded(b"drop_syn", 16),
        ]);
        check_reply(
            &rep(
                0,
                MultipartReplyBody::Experimenter {
                    experimenter: 0x004f_4b4f,
                    exp_type: 18,
                    data: entry.clone(),
                },
            ),
            &cat(&[
                &hdr(0xffff, 0),
                &[0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 18],
                &entry,
            ]),
        );
    }

    // ----- errors ---------------------------------------------------------

    fn req_err(bytes: &[u8]) -> ParseError {
        MultipartRequest::parse_body(bytes).unwrap_err()
    }

    fn rep_err(bytes: &[u8]) -> ParseError {
        MultipartReply::parse_body(bytes).unwrap_err()
    }

    const BAD_LEN: ErrorCode = ErrorCode::BadRequest(BadRequestCode::BadLen);

    #[test]
    fn unknown_multipart_type() {
        for t in [14u16, 0x100, 0xfffe] {
            for e in [req_err(&hdr(t, 0)), rep_err(&hdr(t, 0))] {
                assert_eq!(e.kind(), &ParseErrorKind::BadMultipart { mp_type: t });
                assert_eq!(
                    e.error_code(),
                    ErrorCode::BadRequest(BadRequestCode::BadMultipart)
                );
            }
        }
    }

    #[test]
    fn short_header() {
        for e in [req_err(&[0, 0, 0]), rep_err(&[])] {
            assert!(matches!(
                e.kind(),
                ParseErrorKind::Truncated {
                    element: Element::Multipart,
                    needed: 8,
                    ..
                }
            ));
            assert_eq!(e.error_code(), BAD_LEN);
        }
    }

    #[test]
    fn body_on_bodyless_request() {
        for t in [0u16, 3, 7, 8, 11, 13] {
            let e = req_err(&cat(&[&hdr(t, 0), &[0; 8]]));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::BadLength {
                    element: Element::Multipart,
                    declared: 8,
                    actual: 0,
                    ..
                }
            ));
            assert_eq!(e.error_code(), BAD_LEN);
            assert_eq!(e.located(16).offset(), 8);
        }
    }

    #[test]
    fn fixed_request_bodies_wrong_size() {
        for t in [4u16, 5, 6, 9, 10] {
            let e = req_err(&cat(&[&hdr(t, 0), &[0; 4]]));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::Truncated {
                    element: Element::Multipart,
                    needed: 8,
                    available: 4
                }
            ));
            let e = req_err(&cat(&[&hdr(t, 0), &[0; 12]]));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::BadLength {
                    element: Element::Multipart,
                    declared: 12,
                    actual: 8,
                    ..
                }
            ));
            assert_eq!(e.error_code(), BAD_LEN);
            // The error points at the extra bytes.
            assert_eq!(e.located(20).offset(), 16);
        }
    }

    #[test]
    fn flow_request_trailing_bytes() {
        let e = req_err(&cat(&[
            &hdr(1, 0),
            &FLOW_REQ_FIXED,
            &MATCH_IN_PORT_1,
            &[0; 8],
        ]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Multipart,
                ..
            }
        ));
        let e = req_err(&cat(&[&hdr(2, 0), &FLOW_REQ_FIXED[..20]]));
        assert_eq!(e.error_code(), BAD_LEN);
    }

    #[test]
    fn experimenter_body_too_short() {
        let b = cat(&[&hdr(0xffff, 0), &[0, 0x4f, 0x4b, 0x4f, 0, 0]]);
        for e in [req_err(&b), rep_err(&b)] {
            assert!(matches!(
                e.kind(),
                ParseErrorKind::Truncated {
                    element: Element::Multipart,
                    needed: 8,
                    available: 6
                }
            ));
        }
    }

    #[test]
    fn entry_length_errors() {
        // flow stats: length 40 < 48
        let mut flow = vec![0u8; 64];
        flow[1] = 40;
        let e = rep_err(&cat(&[&hdr(1, 0), &flow]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Multipart,
                declared: 40,
                actual: 48,
                ..
            }
        ));
        assert_eq!(e.error_code(), BAD_LEN);
        // flow stats: length 72 > 64 remaining
        flow[1] = 72;
        let e = rep_err(&cat(&[&hdr(1, 0), &flow]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Multipart,
                declared: 72,
                actual: 64,
                ..
            }
        ));
        // flow stats: fewer bytes than the fixed part
        let e = rep_err(&cat(&[&hdr(1, 0), &flow[..20]]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Multipart,
                needed: 48,
                available: 20
            }
        ));
        // group stats: 40 + 8 is not a whole number of bucket counters
        let mut group = vec![0u8; 48];
        group[1] = 48;
        let e = rep_err(&cat(&[&hdr(6, 0), &group]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Multipart,
                declared: 48,
                ..
            }
        ));
        // meter stats: len (at offset 4) shorter than the fixed part
        let mut meter = vec![0u8; 40];
        meter[5] = 8;
        let e = rep_err(&cat(&[&hdr(9, 0), &meter]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::BadLength {
                element: Element::Multipart,
                declared: 8,
                actual: 40,
                ..
            }
        ));
        // group desc / meter config: length 4 < 8
        for t in [7u16, 10] {
            let e = rep_err(&cat(&[&hdr(t, 0), &[0, 4, 0, 0, 0, 0, 0, 0]]));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::BadLength {
                    element: Element::Multipart,
                    declared: 4,
                    actual: 8,
                    ..
                }
            ));
        }
    }

    #[test]
    fn fixed_entries_wrong_size() {
        // port stats: 112 + 8 bytes
        let e = rep_err(&cat(&[&hdr(4, 0), &[0; 120]]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                element: Element::Multipart,
                needed: 112,
                available: 8
            }
        ));
        assert_eq!(e.located(128).offset(), 120);
        // desc: one byte short; aggregate, features: one byte long
        let e = rep_err(&cat(&[&hdr(0, 0), &[0; 1055]]));
        assert!(matches!(
            e.kind(),
            ParseErrorKind::Truncated {
                needed: 1056,
                available: 1055,
                ..
            }
        ));
        for (t, n) in [(2u16, 24usize), (8, 40), (11, 16)] {
            let e = rep_err(&cat(&[&hdr(t, 0), &vec![0; n + 1]]));
            assert!(matches!(
                e.kind(),
                ParseErrorKind::BadLength {
                    element: Element::Multipart,
                    ..
                }
            ));
            assert_eq!(e.error_code(), BAD_LEN);
        }
    }

    #[test]
    fn nested_errors_keep_their_element() {
        // group desc whose bucket claims 8 bytes: a bucket error.
        let mut gd = GROUP_DESC_ENTRY;
        gd[9] = 8;
        let e = rep_err(&cat(&[&hdr(7, 0), &gd]));
        assert_eq!(
            e.error_code(),
            ErrorCode::GroupModFailed(GroupModFailedCode::BadBucket)
        );
        // meter config whose band claims 12 bytes: a band error.
        let mut mc = METER_CONFIG_ENTRY;
        mc[11] = 12;
        let e = rep_err(&cat(&[&hdr(10, 0), &mc]));
        assert_eq!(
            e.error_code(),
            ErrorCode::MeterModFailed(MeterModFailedCode::BadBand)
        );
        // table-features request with a 3-byte property.
        let (_, mut tf) = tf_entry();
        tf[67] = 3;
        let e = req_err(&cat(&[&hdr(12, 0), &tf]));
        assert_eq!(
            e.error_code(),
            ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::BadLen)
        );
        assert_eq!(e.located(8 + 72).offset(), 8 + 64);
    }

    #[test]
    fn nested_error_offsets_are_message_offsets() {
        // Second flow entry's match claims 200 bytes: the error is at the
        // match, 8 + 72 + 48 bytes into the body.
        let fs = FlowStats {
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: 0,
            packet_count: 0,
            byte_count: 0,
            match_: match_in_port_1(),
            instructions: vec![Instruction::GotoTable(3)],
        };
        let mut bytes = Vec::new();
        rep(0, MultipartReplyBody::Flow(vec![fs.clone(), fs])).emit_body(&mut bytes);
        let match_at = 8 + 72 + 48;
        bytes[match_at + 3] = 200;
        let e = rep_err(&bytes);
        assert_eq!(e.error_code().err_type(), 4, "a BAD_MATCH error: {e}");
        assert_eq!(e.clone().located(bytes.len()).offset(), match_at);
    }

    // ----- FixedStr -------------------------------------------------------

    #[test]
    fn fixed_str_truncates_on_char_boundary() {
        let s = FixedStr::<4>::new("aé€");
        // "a" + "é" (2 bytes) fits in 3; "€" does not.
        assert_eq!(s.text(), "aé".as_bytes());
        assert_eq!(s.as_bytes(), &[b'a', 0xc3, 0xa9, 0]);
        assert_eq!(FixedStr::<4>::try_new("abcd"), None);
        assert_eq!(FixedStr::<4>::try_new("a\0b"), None);
        assert_eq!(FixedStr::<4>::try_new("abc").unwrap().to_str_lossy(), "abc");
        // No NUL at all: the whole array is the text.
        assert_eq!(FixedStr::from_bytes(*b"abcd").text(), b"abcd");
    }

    // ----- splitting ------------------------------------------------------

    fn table_stats(n: u8) -> Vec<TableStats> {
        (0..n)
            .map(|table_id| TableStats {
                table_id,
                ..TableStats::default()
            })
            .collect()
    }

    #[test]
    fn split_is_entry_granular() {
        // 10 entries of 24 bytes; 8 + 3 * 24 = 80 allows 3 per reply.
        let r = rep(0, MultipartReplyBody::Table(table_stats(10)));
        let parts = r.split(80);
        assert_eq!(parts.len(), 4);
        let mut all = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.body_len() <= 80);
            assert_eq!(p.flags, if i < 3 { OFPMPF_REPLY_MORE } else { 0 });
            match &p.body {
                MultipartReplyBody::Table(v) => all.extend_from_slice(v),
                other => panic!("unexpected body {other:?}"),
            }
        }
        assert_eq!(all, table_stats(10));
        // Fits: unchanged.
        let r = rep(0, MultipartReplyBody::Table(table_stats(3)));
        assert_eq!(r.clone().split(80), vec![r]);
        // Oversized single entry: alone in its reply.
        let parts = rep(0, MultipartReplyBody::Table(table_stats(2))).split(10);
        assert_eq!(parts.len(), 2);
        // Non-list bodies stay whole.
        let agg = rep(0, MultipartReplyBody::Aggregate(AggregateStats::default()));
        assert_eq!(agg.clone().split(8), vec![agg]);
    }

    #[test]
    fn split_experimenter_repeats_the_prefix() {
        let prefix = [0xaa; 16];
        let entries: Vec<u8> = (0..50).collect(); // 5 entries of 10 bytes
        // 8 + 8 + 16 + 2 * 10 = 52: two entries per reply.
        let parts =
            MultipartReply::split_experimenter(0, 0x004f_4b4f, 16, &prefix, &entries, 10, 52);
        assert_eq!(parts.len(), 3);
        let mut all = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.body_len() <= 52);
            assert_eq!(p.flags, u16::from(i < 2));
            let MultipartReplyBody::Experimenter {
                experimenter: 0x004f_4b4f,
                exp_type: 16,
                data,
            } = &p.body
            else {
                panic!("unexpected body {:?}", p.body);
            };
            assert_eq!(&data[..16], &prefix);
            all.extend_from_slice(&data[16..]);
        }
        assert_eq!(all, entries);
        let one = MultipartReply::split_experimenter(0, 1, 2, &prefix, &[], 10, 52);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].body_len(), 8 + 8 + 16);
    }

    // ----- properties -----------------------------------------------------

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn request_round_trip(r in strategy::request()) {
            let mut bytes = Vec::new();
            r.emit_body(&mut bytes);
            prop_assert_eq!(bytes.len(), r.body_len());
            let back = MultipartRequest::parse_body(&bytes).unwrap();
            prop_assert_eq!(&back, &r);
            let mut again = Vec::new();
            back.emit_body(&mut again);
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn reply_round_trip(r in strategy::reply()) {
            let mut bytes = Vec::new();
            r.emit_body(&mut bytes);
            prop_assert_eq!(bytes.len(), r.body_len());
            let back = MultipartReply::parse_body(&bytes).unwrap();
            prop_assert_eq!(&back, &r);
            let mut again = Vec::new();
            back.emit_body(&mut again);
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn split_preserves_entries(r in strategy::reply(), max in 8usize..400) {
            let parts = r.clone().split(max);
            prop_assert!(!parts.is_empty());
            let last = parts.len() - 1;
            for (i, p) in parts.iter().enumerate() {
                prop_assert_eq!(p.body.mp_type(), r.body.mp_type());
                if i < last {
                    prop_assert_eq!(p.flags, r.flags | OFPMPF_REPLY_MORE);
                } else {
                    prop_assert_eq!(p.flags, r.flags);
                }
            }
            // Re-joining the parts' entries gives back the original encoding.
            let mut joined = Vec::new();
            for p in &parts {
                let mut b = Vec::new();
                p.emit_body(&mut b);
                joined.extend_from_slice(&b[8..]);
            }
            let mut orig = Vec::new();
            r.emit_body(&mut orig);
            prop_assert_eq!(joined, orig[8..].to_vec());
        }

        #[test]
        fn arbitrary_bodies_never_panic(
            mp_type in prop_oneof![0u16..16, Just(0xffff)],
            flags in any::<u16>(),
            rest in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let bytes = cat(&[&hdr(mp_type, flags), &rest]);
            if let Ok(r) = MultipartRequest::parse_body(&bytes) {
                prop_assert_eq!(r.body_len(), bytes.len());
            }
            if let Ok(r) = MultipartReply::parse_body(&bytes) {
                prop_assert_eq!(r.body_len(), bytes.len());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = MultipartRequest::parse_body(&bytes);
            let _ = MultipartReply::parse_body(&bytes);
        }
    }
}
