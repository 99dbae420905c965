//! `OfCodec`: tokio-util framing for OpenFlow connections.
//!
//! OpenFlow has no delimiters; the 16-bit `length` in every `ofp_header` is the
//! only framing. The decoder therefore does as little as it can: it reads the
//! length, waits until that many bytes are buffered, and hands over the
//! message's bytes as a [`Frame`] without parsing them. Parsing is left to the
//! caller ([`Frame::parse`]) for two reasons: a message that is well framed but
//! malformed must be answered with an OpenFlow error while the connection goes
//! on, which needs the raw bytes and the xid; and a relay or a logger may not
//! want to parse at all.
//!
//! A length below 8 or above the configured maximum is different: after it the
//! stream cannot be resynchronised, so it is a [`FrameError`] and the
//! connection must be closed. The check happens on the header alone, *before*
//! any buffer space is reserved, so a peer announcing a huge message cannot
//! make the codec allocate for it. While bytes are missing the decoder returns
//! `Ok(None)` and reserves at most up to the declared length.
//!
//! The encoders take a [`Message`] (emitted in place after reserving its exact
//! length once) or a [`Frame`] (copied verbatim). A message that does not fit
//! the 16-bit length field or the configured maximum is refused before
//! anything is written.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BadRequestCode, ErrorCode, ParseError};
use crate::message::{Message, OFP_HEADER_LEN, OFP_MAX_MSG_LEN};

/// A framing failure. After any of these the byte stream cannot be trusted
/// any more; the connection should be closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A header declared a length shorter than the header itself.
    #[error("message length {declared} is shorter than the 8-byte header")]
    TooShort {
        /// The declared length.
        declared: usize,
        /// The smallest valid length (8).
        min: usize,
    },
    /// A message longer than the codec's maximum (on decode: declared by the
    /// peer; on encode: the message to be written).
    #[error("message length {declared} exceeds the maximum {max}")]
    TooLong {
        /// The declared (or encoded) length.
        declared: usize,
        /// The maximum in force.
        max: usize,
    },
    /// Bytes handed to [`Frame::from_bytes`] whose header length differs from
    /// their size.
    #[error("header declares length {declared} but the frame has {actual} bytes")]
    LengthMismatch {
        /// The declared length (0 when there is no complete header).
        declared: usize,
        /// The bytes there were.
        actual: usize,
    },
    /// The stream ended in the middle of a message.
    #[error("stream ended inside a message: {buffered} bytes buffered")]
    UnexpectedEof {
        /// Bytes of the incomplete message that were received.
        buffered: usize,
        /// Its declared length, when the length field had arrived.
        declared: Option<usize>,
    },
    /// The underlying transport failed.
    #[error("transport error: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// The OpenFlow error a switch may send before closing the connection, if
    /// any (a transport failure has none).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::TooShort { .. } | Self::TooLong { .. } | Self::LengthMismatch { .. } => {
                Some(ErrorCode::BadRequest(BadRequestCode::BadLen))
            }
            Self::UnexpectedEof { .. } | Self::Io(_) => None,
        }
    }
}

/// One complete OpenFlow message, unparsed.
///
/// Invariant: at least 8 bytes, and the header's `length` equals the number of
/// bytes. The accessors rely on it and never panic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame(Bytes);

impl Frame {
    /// Wraps the bytes of one message, checking the header length.
    pub fn from_bytes(bytes: Bytes) -> Result<Frame, FrameError> {
        let Some(h) = bytes.first_chunk::<OFP_HEADER_LEN>() else {
            return Err(FrameError::LengthMismatch {
                declared: 0,
                actual: bytes.len(),
            });
        };
        let declared = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if declared != bytes.len() {
            return Err(FrameError::LengthMismatch {
                declared,
                actual: bytes.len(),
            });
        }
        Ok(Frame(bytes))
    }

    /// Encodes a message into a frame; fails if it does not fit the 16-bit
    /// length field.
    pub fn from_message(msg: &Message) -> Result<Frame, FrameError> {
        let len = msg.wire_len();
        if len > OFP_MAX_MSG_LEN {
            return Err(FrameError::TooLong {
                declared: len,
                max: OFP_MAX_MSG_LEN,
            });
        }
        let mut buf = BytesMut::with_capacity(len);
        msg.emit_with_len(len, &mut buf);
        Ok(Frame(buf.freeze()))
    }

    fn header(&self) -> [u8; OFP_HEADER_LEN] {
        self.0
            .first_chunk::<OFP_HEADER_LEN>()
            .copied()
            .unwrap_or_default()
    }

    /// `ofp_header.version`.
    pub fn version(&self) -> u8 {
        self.header()[0]
    }

    /// `ofp_header.type`.
    pub fn msg_type(&self) -> u8 {
        self.header()[1]
    }

    /// `ofp_header.xid`.
    pub fn xid(&self) -> u32 {
        let h = self.header();
        u32::from_be_bytes([h[4], h[5], h[6], h[7]])
    }

    /// The message's bytes, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The message's bytes, header included.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length of the message.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a frame holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the message ([`Message::parse`]).
    pub fn parse(&self) -> Result<Message, ParseError> {
        Message::parse(&self.0)
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The OpenFlow framing codec. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfCodec {
    max_len: usize,
}

impl Default for OfCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl OfCodec {
    /// A codec accepting messages up to 65535 bytes (everything the length
    /// field can express).
    pub fn new() -> Self {
        Self {
            max_len: OFP_MAX_MSG_LEN,
        }
    }

    /// A codec accepting messages up to `max_len` bytes, in both directions.
    /// The value is clamped to 8…65535: nothing shorter than a header is a
    /// message, nothing longer than 65535 bytes can be described.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            max_len: max_len.clamp(OFP_HEADER_LEN, OFP_MAX_MSG_LEN),
        }
    }

    /// The largest message accepted.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    fn check_out(&self, len: usize) -> Result<(), FrameError> {
        if len > self.max_len {
            return Err(FrameError::TooLong {
                declared: len,
                max: self.max_len,
            });
        }
        Ok(())
    }
}

/// The declared length in a buffer that holds at least the length field.
fn declared_len(src: &[u8]) -> Option<usize> {
    match src {
        [_, _, hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

impl Decoder for OfCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(len) = declared_len(src) else {
            return Ok(None);
        };
        // Validate before reserving: the peer controls `len`.
        if len < OFP_HEADER_LEN {
            return Err(FrameError::TooShort {
                declared: len,
                min: OFP_HEADER_LEN,
            });
        }
        if len > self.max_len {
            return Err(FrameError::TooLong {
                declared: len,
                max: self.max_len,
            });
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        Ok(Some(Frame(src.split_to(len).freeze())))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::UnexpectedEof {
                buffered: src.len(),
                declared: declared_len(src),
            }),
        }
    }
}

impl Encoder<&Message> for OfCodec {
    type Error = FrameError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = msg.wire_len();
        self.check_out(len)?;
        dst.reserve(len);
        msg.emit_with_len(len, dst);
        Ok(())
    }
}

impl Encoder<Message> for OfCodec {
    type Error = FrameError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&msg, dst)
    }
}

impl Encoder<Frame> for OfCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.check_out(frame.len())?;
        dst.put_slice(&frame.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Hello, MessageBody, SwitchFeatures, msg_type};

    fn messages() -> Vec<Message> {
        vec![
            Message::new(1, MessageBody::Hello(Hello::standard())),
            Message::new(2, MessageBody::EchoRequest(b"ping".to_vec())),
            Message::new(3, MessageBody::BarrierRequest),
            Message::new(
                4,
                MessageBody::FeaturesReply(SwitchFeatures {
                    datapath_id: 0x0000_0200_0000_0001,
                    n_buffers: 0,
                    n_tables: 254,
                    auxiliary_id: 0,
                    capabilities: 0x4f,
                    reserved: 0,
                }),
            ),
            Message::new(5, MessageBody::EchoReply(vec![0xab; 300])),
        ]
    }

    fn stream() -> Vec<u8> {
        let mut v = Vec::new();
        for m in messages() {
            m.emit(&mut v);
        }
        v
    }

    fn parse_all_frames(frames: &[Frame]) -> Vec<Message> {
        frames.iter().map(|f| f.parse().unwrap()).collect()
    }

    #[test]
    fn many_messages_in_one_buffer() {
        let mut codec = OfCodec::new();
        let mut buf = BytesMut::from(&stream()[..]);
        let mut frames = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        assert!(buf.is_empty());
        assert_eq!(parse_all_frames(&frames), messages());
        assert_eq!(frames[1].xid(), 2);
        assert_eq!(frames[1].msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(frames[1].version(), 4);
        assert_eq!(
            frames[1].as_bytes(),
            b"\x04\x02\x00\x0c\x00\x00\x00\x02ping"
        );
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut codec = OfCodec::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in stream() {
            buf.put_u8(b);
            if let Some(f) = codec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert!(buf.is_empty());
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        assert_eq!(parse_all_frames(&frames), messages());
    }

    #[test]
    fn length_below_header_is_an_error() {
        for len in [0u8, 1, 7] {
            let mut buf = BytesMut::from(&[4, 0, 0, len, 0, 0, 0, 1][..]);
            let e = OfCodec::new().decode(&mut buf).unwrap_err();
            assert!(
                matches!(e, FrameError::TooShort { declared, min: 8 } if declared == usize::from(len))
            );
            assert_eq!(
                e.error_code(),
                Some(ErrorCode::BadRequest(BadRequestCode::BadLen))
            );
        }
        // Detected as soon as the length field is there.
        let mut buf = BytesMut::from(&[4, 0, 0, 4][..]);
        assert!(matches!(
            OfCodec::new().decode(&mut buf),
            Err(FrameError::TooShort { declared: 4, .. })
        ));
    }

    #[test]
    fn length_above_max_is_an_error_without_allocating() {
        let mut codec = OfCodec::with_max_len(1024);
        let mut buf = BytesMut::with_capacity(16);
        buf.put_slice(&[4, 10, 0xff, 0xff, 0, 0, 0, 1]);
        let e = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            e,
            FrameError::TooLong {
                declared: 65535,
                max: 1024
            }
        ));
        assert!(buf.capacity() < 1024, "capacity grew to {}", buf.capacity());
        assert_eq!(buf.len(), 8, "nothing consumed");
    }

    #[test]
    fn partial_message_reserves_only_the_declared_length() {
        let mut codec = OfCodec::new();
        let mut buf = BytesMut::with_capacity(8);
        buf.put_slice(&[4, 3, 0x01, 0x00, 0, 0, 0, 9]); // ECHO_REPLY of 256 bytes
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= 256);
        assert!(buf.capacity() < 4096, "capacity grew to {}", buf.capacity());
        buf.put_slice(&[0x5a; 248]);
        let f = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.len(), 256);
        assert_eq!(
            f.parse().unwrap(),
            Message::new(9, MessageBody::EchoReply(vec![0x5a; 248]))
        );
    }

    #[test]
    fn max_len_is_clamped() {
        assert_eq!(OfCodec::with_max_len(0).max_len(), 8);
        assert_eq!(OfCodec::with_max_len(1 << 20).max_len(), 65535);
        assert_eq!(OfCodec::default().max_len(), 65535);
    }

    #[test]
    fn decode_eof_with_partial_data() {
        let mut codec = OfCodec::new();
        let s = stream();
        let mut buf = BytesMut::from(&s[..s.len() - 1]);
        let mut n = 0;
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("partial data must be an error at EOF"),
                Err(e) => {
                    assert!(matches!(
                        e,
                        FrameError::UnexpectedEof {
                            buffered: 307,
                            declared: Some(308)
                        }
                    ));
                    assert_eq!(e.error_code(), None);
                    break;
                }
            }
        }
        assert_eq!(n, messages().len() - 1);
        // Fewer bytes than the length field.
        let mut buf = BytesMut::from(&[4, 0, 0][..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(FrameError::UnexpectedEof {
                buffered: 3,
                declared: None
            })
        ));
    }

    #[test]
    fn encode_messages_and_frames() {
        let mut codec = OfCodec::new();
        let mut out = BytesMut::new();
        let ms = messages();
        for m in &ms {
            codec.encode(m, &mut out).unwrap();
        }
        assert_eq!(&out[..], &stream()[..]);

        let mut out2 = BytesMut::new();
        codec.encode(ms[0].clone(), &mut out2).unwrap();
        let f = Frame::from_message(&ms[1]).unwrap();
        codec.encode(f.clone(), &mut out2).unwrap();
        assert_eq!(&out2[..], &stream()[..ms[0].wire_len() + ms[1].wire_len()]);
        assert_eq!(Frame::from_bytes(f.clone().into_bytes()).unwrap(), f);
    }

    #[test]
    fn encode_refuses_oversized_messages() {
        let mut codec = OfCodec::with_max_len(64);
        let mut out = BytesMut::new();
        let big = Message::new(1, MessageBody::EchoRequest(vec![0; 57]));
        let e = codec.encode(&big, &mut out).unwrap_err();
        assert!(matches!(
            e,
            FrameError::TooLong {
                declared: 65,
                max: 64
            }
        ));
        assert!(out.is_empty());
        let fits = Message::new(1, MessageBody::EchoRequest(vec![0; 56]));
        codec.encode(&fits, &mut out).unwrap();
        assert_eq!(out.len(), 64);

        // Beyond the 16-bit length field, even with the default maximum.
        let huge = Message::new(1, MessageBody::EchoRequest(vec![0; 65528]));
        let mut out = BytesMut::new();
        assert!(matches!(
            OfCodec::new().encode(&huge, &mut out),
            Err(FrameError::TooLong {
                declared: 65536,
                max: 65535
            })
        ));
        assert!(out.is_empty());
        assert!(matches!(
            Frame::from_message(&huge),
            Err(FrameError::TooLong { .. })
        ));
        // A frame that exceeds a smaller maximum is refused too.
        let f = Frame::from_message(&big).unwrap();
        assert!(codec.encode(f, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn frame_from_bytes_checks_the_header() {
        assert!(matches!(
            Frame::from_bytes(Bytes::from_static(&[4, 0, 0, 8])),
            Err(FrameError::LengthMismatch {
                declared: 0,
                actual: 4
            })
        ));
        assert!(matches!(
            Frame::from_bytes(Bytes::from_static(&[4, 0, 0, 9, 0, 0, 0, 0])),
            Err(FrameError::LengthMismatch {
                declared: 9,
                actual: 8
            })
        ));
        let f = Frame::from_bytes(Bytes::from_static(&[4, 20, 0, 8, 0, 0, 0, 7])).unwrap();
        assert_eq!((f.version(), f.msg_type(), f.xid(), f.len()), (4, 20, 7, 8));
        assert!(!f.is_empty());
        assert_eq!(
            f.parse().unwrap(),
            Message::new(7, MessageBody::BarrierRequest)
        );
    }
}
