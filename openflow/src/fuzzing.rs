//! Entry points for the cargo-fuzz targets in the workspace's `fuzz/` crate
//! (`of_parse`, `of_stream`). Compiled only with `--cfg fuzzing`, which
//! cargo-fuzz sets, so they are no part of the normal build.
//!
//! Each function states the crate's promises as assertions, so that the
//! fuzzer reports a broken promise as a crash:
//!
//! - [`parse_roundtrip`]: parsing never panics; what parses re-emits exactly
//!   `wire_len` bytes, which parse back to the same value and re-emit to the
//!   same bytes (`emit` is canonical). A rejected message can always be
//!   answered: the `ERROR` built from the parse error round-trips too.
//! - [`stream`]: the framing codec, fed the same bytes in arbitrary chunks,
//!   hands out frames that are exactly a prefix of its input, one header
//!   length each, and keeps everything else buffered; on a framing error it
//!   stops without having handed out anything beyond the consumed prefix.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::codec::OfCodec;
use crate::message::{ErrorMsg, Message, MessageBody, OFP_HEADER_LEN};

/// Parses `data` as one message and checks the round-trip promises (see the
/// module documentation). Panics when one is broken.
pub fn parse_roundtrip(data: &[u8]) {
    let msg = match Message::parse(data) {
        Ok(msg) => msg,
        Err(e) => {
            check_error_answer(&e, data);
            return;
        }
    };
    let bytes = msg.to_vec();
    assert_eq!(bytes.len(), msg.wire_len(), "emit writes wire_len bytes");
    let again = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("emitted bytes do not parse: {e}\nvalue: {msg:?}\nbytes: {bytes:02x?}"),
    };
    assert_eq!(again, msg, "parse(emit(m)) == m");
    assert_eq!(again.to_vec(), bytes, "emit(parse(emit(m))) == emit(m)");
}

/// The answer a switch sends for a message it cannot parse must itself be a
/// valid message carrying the same code.
fn check_error_answer(e: &crate::ParseError, data: &[u8]) {
    let code = e.error_code();
    let _ = e.to_string();
    let answer = Message::new(0, MessageBody::Error(ErrorMsg::from_parse_error(e, data)));
    let bytes = answer.to_vec();
    assert_eq!(bytes.len(), answer.wire_len());
    match Message::parse(&bytes) {
        Ok(Message {
            body: MessageBody::Error(back),
            ..
        }) => assert_eq!(back.code, code, "the error code survives the answer"),
        other => panic!("the ERROR answering {e} does not parse back: {other:?}"),
    }
}

/// Splits `data` into a codec setting, chunk sizes and a byte stream, feeds the
/// stream to [`OfCodec`] chunk by chunk, and checks the framing promises (see
/// the module documentation). Every frame is also parsed
/// ([`parse_roundtrip`]).
///
/// Layout of `data`: byte 0 — bits 0–3: number `n` of chunk-size bytes,
/// bit 7: use a small maximum message length (256) so that the `TooLong`
/// path is reached; then `n` chunk sizes (each `size + 1` bytes, used in
/// turn); then the stream. With `n = 0` the stream is fed in one piece.
pub fn stream(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(control & 0x0f).min(rest.len());
    let (sizes, input) = rest.split_at(n);
    let mut codec = if control & 0x80 != 0 {
        OfCodec::with_max_len(256)
    } else {
        OfCodec::new()
    };

    let mut buf = BytesMut::new();
    let mut framed: Vec<u8> = Vec::with_capacity(input.len());
    let mut fed = 0;
    let mut chunk_no = 0;
    let mut failed = false;
    while fed < input.len() && !failed {
        let size = match sizes {
            [] => input.len(),
            _ => usize::from(sizes[chunk_no % sizes.len()]) + 1,
        };
        let end = (fed + size).min(input.len());
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        chunk_no += 1;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let bytes = frame.as_bytes();
                    assert!(bytes.len() >= OFP_HEADER_LEN, "a frame holds its header");
                    assert!(bytes.len() <= codec.max_len(), "frames respect max_len");
                    assert_eq!(
                        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                        bytes.len(),
                        "a frame is exactly its declared length"
                    );
                    assert_eq!(frame.msg_type(), bytes[1]);
                    framed.extend_from_slice(bytes);
                    parse_roundtrip(bytes);
                }
                Ok(None) => break,
                Err(e) => {
                    // After a framing error the stream is abandoned; the
                    // error must name an OpenFlow answer (it is about a
                    // length, not the transport).
                    assert!(e.error_code().is_some(), "framing error {e} has a code");
                    failed = true;
                    break;
                }
            }
        }
    }

    assert!(
        input.starts_with(&framed),
        "frames are the consumed prefix of the input"
    );
    if !failed {
        assert_eq!(
            framed.len() + buf.len(),
            input.len(),
            "every byte is either framed or still buffered"
        );
        match codec.decode_eof(&mut buf) {
            Ok(None) => assert!(buf.is_empty(), "EOF with buffered bytes is an error"),
            Ok(Some(_)) => panic!("decode_eof produced a frame decode had withheld"),
            Err(_) => assert!(!buf.is_empty(), "EOF on a clean boundary is not an error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_valid_and_invalid_input() {
        let hello = Message::new(7, MessageBody::Hello(Default::default())).to_vec();
        parse_roundtrip(&hello);
        parse_roundtrip(&hello[..5]);
        parse_roundtrip(&[]);
        let mut s = vec![0x03, 1, 4, 10];
        s.extend_from_slice(&hello);
        s.extend_from_slice(&hello);
        s.extend_from_slice(&hello[..3]);
        stream(&s);
        stream(&[0x80, 4, 0, 0x01, 0x00, 0, 0, 0, 0]);
    }
}
