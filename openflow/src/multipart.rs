//! Multipart requests and replies (OpenFlow 1.3.5 §7.3.5).
//!
//! SKELETON: the helper writing this file replaces these placeholder types.

use bytes::BufMut;

/// A MULTIPART_REQUEST body: `type, flags, pad[4]` and the typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRequest {
    /// OFPMPF_REQ_MORE
    pub flags: u16,
}

/// A MULTIPART_REPLY body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartReply {
    /// OFPMPF_REPLY_MORE
    pub flags: u16,
}

impl MultipartRequest {
    /// Parses the message body (after `ofp_header`).
    pub fn parse_body(_body: &[u8]) -> Result<Self, crate::error::ParseError> {
        todo!()
    }
    /// Length of the body.
    pub fn body_len(&self) -> usize {
        todo!()
    }
    /// Emits the body.
    pub fn emit_body<B: BufMut>(&self, _out: &mut B) {
        todo!()
    }
}

impl MultipartReply {
    /// Parses the message body (after `ofp_header`).
    pub fn parse_body(_body: &[u8]) -> Result<Self, crate::error::ParseError> {
        todo!()
    }
    /// Length of the body.
    pub fn body_len(&self) -> usize {
        todo!()
    }
    /// Emits the body.
    pub fn emit_body<B: BufMut>(&self, _out: &mut B) {
        todo!()
    }
}
