//! The parse/emit contract every wire type in this crate follows, and the small
//! nom helpers they share.
//!
//! A type that appears on the wire implements [`Wire`]:
//! - `parse` reads one value from the front of its input and returns the rest
//!   (nom style). It never panics; on failure it returns a [`ParseError`] whose
//!   position is the number of bytes remaining where the error was found.
//! - `wire_len` is the exact number of bytes `emit` writes, computed without
//!   writing, so that length fields are written in place (no back-patching) and
//!   buffers are reserved once.
//! - `emit` appends exactly `wire_len()` bytes.
//!
//! Lists that fill a length-delimited region (actions in an instruction,
//! buckets in a group, properties in a table-features entry) use
//! [`parse_all`], [`emit_all`] and [`len_all`].

use bytes::BufMut;

use crate::error::{Element, ParseError};

/// nom result with this crate's error type.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, ParseError>;

/// A value with a fixed wire encoding.
pub trait Wire: Sized {
    /// Reads one value from the front of `input`, returning the rest.
    fn parse(input: &[u8]) -> PResult<'_, Self>;

    /// The exact number of bytes [`Wire::emit`] writes.
    fn wire_len(&self) -> usize;

    /// Appends the encoding (exactly [`Wire::wire_len`] bytes).
    fn emit<B: BufMut>(&self, out: &mut B);

    /// Encodes into a fresh vector.
    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.wire_len());
        self.emit(&mut v);
        v
    }
}

/// Wraps an error for nom's `Err::Error`.
#[inline]
pub fn fail<T>(e: ParseError) -> PResult<'static, T> {
    Err(nom::Err::Error(e))
}

/// Turns a nom error into the plain error (nom's `Incomplete` cannot happen
/// with the `complete` parsers this crate uses; it is reported as truncation).
pub fn into_error(e: nom::Err<ParseError>, input: &[u8]) -> ParseError {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => ParseError::truncated(Element::Message, input, input.len() + 1),
    }
}

/// Splits `n` bytes off the front of `input`, or reports `element` truncated.
#[inline]
pub fn take(element: Element, input: &[u8], n: usize) -> PResult<'_, &[u8]> {
    if input.len() < n {
        return Err(nom::Err::Error(ParseError::truncated(element, input, n)));
    }
    let (head, rest) = input.split_at(n);
    Ok((rest, head))
}

/// Reads a big-endian `u8`.
#[inline]
pub fn u8_at(element: Element, input: &[u8]) -> PResult<'_, u8> {
    match input.split_first() {
        Some((b, rest)) => Ok((rest, *b)),
        None => Err(nom::Err::Error(ParseError::truncated(element, input, 1))),
    }
}

/// Reads a big-endian `u16`.
#[inline]
pub fn u16_at(element: Element, input: &[u8]) -> PResult<'_, u16> {
    let (rest, b) = take(element, input, 2)?;
    Ok((rest, u16::from_be_bytes([b[0], b[1]])))
}

/// Reads a big-endian `u32`.
#[inline]
pub fn u32_at(element: Element, input: &[u8]) -> PResult<'_, u32> {
    let (rest, b) = take(element, input, 4)?;
    Ok((rest, u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
}

/// Reads a big-endian `u64`.
#[inline]
pub fn u64_at(element: Element, input: &[u8]) -> PResult<'_, u64> {
    let (rest, b) = take(element, input, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok((rest, u64::from_be_bytes(a)))
}

/// Reads a fixed-size byte array.
#[inline]
pub fn array_at<const N: usize>(element: Element, input: &[u8]) -> PResult<'_, [u8; N]> {
    let (rest, b) = take(element, input, N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    Ok((rest, a))
}

/// Skips `n` padding bytes (their contents are ignored, as the spec says).
#[inline]
pub fn skip(element: Element, input: &[u8], n: usize) -> PResult<'_, ()> {
    let (rest, _) = take(element, input, n)?;
    Ok((rest, ()))
}

/// Writes `n` zero bytes.
#[inline]
pub fn put_zeros<B: BufMut>(out: &mut B, n: usize) {
    out.put_bytes(0, n);
}

/// Rounds `len` up to a multiple of 8 (OpenFlow's structure alignment).
#[inline]
pub const fn pad8(len: usize) -> usize {
    (len + 7) & !7
}

/// Parses values of `T` until `region` is used up exactly. Error positions
/// count from the end of the region, as if nothing followed it; use
/// [`parse_list`] for a region inside a larger input.
pub fn parse_all<T: Wire>(region: &[u8]) -> Result<Vec<T>, ParseError> {
    parse_list(region, 0)
}

/// Parses values of `T` until `region` is used up, with error positions
/// counted from the end of the whole input, of which `after` bytes follow
/// `region`. Used for the length-delimited lists nested in messages.
pub fn parse_list<T: Wire>(region: &[u8], after: usize) -> Result<Vec<T>, ParseError> {
    // Every listed element is at least 8 bytes and most are 8-16: one
    // allocation and no regrowth in the common case, none for an empty list,
    // capped so that a large garbage region cannot reserve much before it
    // fails.
    let mut out = Vec::with_capacity((region.len() / 8).min(64));
    let mut r = region;
    while !r.is_empty() {
        let (next, v) = T::parse(r).map_err(|e| into_error(e, r).rebased(after))?;
        if next.len() >= r.len() {
            // A parser that consumed nothing would loop forever; none of this
            // crate's do, but the list must not rely on it.
            return Err(ParseError::truncated(Element::Message, r, 1).rebased(after));
        }
        out.push(v);
        r = next;
    }
    Ok(out)
}

/// Moves an error found in a sub-region to the position it has in the
/// enclosing input, of which `after` bytes follow the region.
#[inline]
pub fn rebase(e: ParseError, after: usize) -> ParseError {
    e.rebased(after)
}

/// Emits every value in order.
pub fn emit_all<T: Wire, B: BufMut>(items: &[T], out: &mut B) {
    for it in items {
        it.emit(out);
    }
}

/// The summed wire length of `items`.
pub fn len_all<T: Wire>(items: &[T]) -> usize {
    items.iter().map(Wire::wire_len).sum()
}

/// Converts a length computed by `wire_len` into a `u16` length field. Values
/// that do not fit can only come from a caller building an over-long message;
/// they saturate, and the framing check (`OfCodec`) refuses such a message.
#[inline]
pub fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use super::{Wire, emit_all, len_all, parse_all};
    use proptest::prelude::*;

    /// The round-trip property every wire type has: `wire_len` is what
    /// `emit` writes, `parse` consumes exactly that and gives the value
    /// back, and re-emitting gives the same bytes.
    pub(crate) fn check_round_trip<T>(v: &T) -> Result<(), TestCaseError>
    where
        T: Wire + PartialEq + core::fmt::Debug,
    {
        let bytes = v.to_vec();
        prop_assert_eq!(bytes.len(), v.wire_len());
        let (rest, back) = T::parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&back, v);
        prop_assert_eq!(back.to_vec(), bytes);
        Ok(())
    }

    /// The same for a list filling a length-delimited region.
    pub(crate) fn check_list_round_trip<T>(list: &[T]) -> Result<(), TestCaseError>
    where
        T: Wire + PartialEq + core::fmt::Debug,
    {
        let mut bytes = Vec::new();
        emit_all(list, &mut bytes);
        prop_assert_eq!(bytes.len(), len_all(list));
        let back: Vec<T> = parse_all(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.as_slice(), list);
        Ok(())
    }

    /// Bytes from a hex string; white space is for readability.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex string {s:?}");
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_read_big_endian() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(Element::Message, &b).unwrap(), (&b[2..], 0x0102));
        assert_eq!(u32_at(Element::Message, &b).unwrap().1, 0x0102_0304);
        assert_eq!(
            u64_at(Element::Message, &b).unwrap().1,
            0x0102_0304_0506_0708
        );
        assert_eq!(array_at::<3>(Element::Message, &b).unwrap().1, [1, 2, 3]);
    }

    #[test]
    fn short_reads_are_typed_errors() {
        let e = into_error(u32_at(Element::Action, &[1, 2]).unwrap_err(), &[]);
        assert_eq!(
            e.kind(),
            &crate::error::ParseErrorKind::Truncated {
                element: Element::Action,
                needed: 4,
                available: 2
            }
        );
    }

    #[test]
    fn pad8_rounds_up() {
        assert_eq!(pad8(0), 0);
        assert_eq!(pad8(1), 8);
        assert_eq!(pad8(8), 8);
        assert_eq!(pad8(12), 16);
    }
}
