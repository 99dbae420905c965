//! # openflow — the OpenFlow 1.3.5 wire codec
//!
//! This crate turns bytes into typed OpenFlow 1.3 messages (wire version
//! 0x04) and back. It is used on both sides of a connection: the switch agent
//! parses what controllers send, the controller library parses what switches
//! send, so every message type parses *and* emits.
//!
//! ## What it guarantees
//!
//! - **Parsing never panics**, on any input. A failure is a [`ParseError`] that
//!   names the element (match, OXM, action, instruction, bucket, …), the byte
//!   offset from the start of the message, and declared versus actual
//!   lengths; [`ParseError::error_code`] gives the exact `ofp_error_msg`
//!   type/code a switch must answer with, and [`error::error_data`] the
//!   offending message (whole, up to one message's size) that goes into that answer.
//! - **Round trips.** For every value `m` the codec produces,
//!   `parse(emit(m)) == m`; for bytes the codec emitted, `emit(parse(b)) == b`.
//!   Code points this crate does not name (OXM classes and fields, action,
//!   instruction, hello-element, meter-band, queue and table-feature property
//!   types, error codes) are kept in `Unknown`/`Experimenter` variants and
//!   re-emitted verbatim instead of being dropped.
//! - **Structure, not policy.** The parsers check what the wire format itself
//!   defines (lengths, alignment, which OXM fields may carry a mask). Whether a
//!   well-formed message makes sense for a given switch (prerequisites,
//!   duplicate fields, unknown action types, table ids) is answered by the
//!   `validate` methods on [`oxm::Match`], [`action::Action`] and
//!   [`instruction::Instruction`], which the switch calls; a controller
//!   reading replies does not need them.
//! - **Exact lengths without back-patching.** Every wire type implements
//!   [`wire::Wire`]: `wire_len` computes the encoded size up front, so length
//!   fields are written in place and an output buffer is reserved once.
//!
//! ## Layout
//!
//! | module | contents |
//! |---|---|
//! | [`message`] | `ofp_header` and every message type |
//! | [`multipart`], [`table_features`] | multipart requests/replies |
//! | [`oxm`] | OXM TLVs and `ofp_match` |
//! | [`action`], [`instruction`] | actions and instructions |
//! | [`port`], [`group`], [`meter`], [`queue`] | structures shared by several messages |
//! | [`error`] | error types and codes, the parse error |
//! | [`codec`] | `OfCodec`, the tokio-util framing |
//! | [`wire`] | the parse/emit contract and small helpers |
//!
//! ## What it does not do
//!
//! No I/O (the [`codec`] only frames bytes handed to it), no knowledge of
//! switches or flow tables, no OpenFlow versions other than 1.3 (a peer's
//! HELLO of any version is readable so that version negotiation can answer
//! it).

pub mod action;
pub mod codec;
pub mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod group;
pub mod instruction;
pub mod message;
pub mod meter;
pub mod multipart;
pub mod oxm;
pub mod port;
pub mod queue;
pub mod table_features;
pub mod wire;

pub use codec::{Frame, FrameError, OfCodec};
pub use error::{ErrorCode, ParseError};
pub use message::{Message, MessageBody};
