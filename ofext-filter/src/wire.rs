//! The extension's wire format (EXTENSION.md §§1–4), both directions.
//!
//! Every extension message is a standard OpenFlow 1.3 container: an
//! `OFPT_EXPERIMENTER` message, an `OFPMP_EXPERIMENTER` multipart body, an
//! `OFPXMC_EXPERIMENTER` OXM field or an `OFPET_EXPERIMENTER` error, all with
//! experimenter id [`OKO_EXPERIMENTER`]. The `openflow` crate parses the
//! container and keeps `experimenter`, `exp_type` and the opaque data; this
//! module gives that data its typed form and back.
//!
//! Parsers here take the bytes *after* `experimenter u32 | exp_type u32`.
//! Key/value runs in MAP_UPDATE, MAP_DELETE and MAP_DUMP cannot be split
//! without the map's sizes, so the typed values keep them as one byte run
//! and offer sized iterators that check the arithmetic
//! ([`MapUpdate::entries`], [`MapDelete::keys`], [`MapDumpReply::entries`]).
//!
//! A malformed extension body is a [`ExtParseError`], which a switch answers
//! with the experimenter error [`ExtErrorCode::BadRequest`] (EXTENSION.md §4:
//! "anything else malformed in an extension message"); an unknown `exp_type`
//! is answered with the standard `OFPBRC_BAD_EXP_TYPE`.

use bytes::BufMut;
use openflow::error::{BadMatchCode, BadRequestCode, ErrorCode};
use openflow::oxm::Oxm;

/// The extension's experimenter id (`"OKO"` in ASCII).
pub const OKO_EXPERIMENTER: u32 = 0x004F_4B4F;
/// OXM field number of `FILTER_PROG` in class `OFPXMC_EXPERIMENTER`.
pub const FILTER_PROG_FIELD: u8 = 1;
/// The full OXM header of `FILTER_PROG`: class 0xffff, field 1, no mask, length 8.
pub const OXM_FILTER_PROG_HEADER: u32 = 0xFFFF_0208;
/// Largest accepted `total_len` of a PROG_LOAD (16 MiB).
pub const MAX_PROG_LEN: u32 = 16 << 20;
/// Reserved program id meaning "all programs" in requests.
pub const PROG_ID_ALL: u32 = 0xFFFF_FFFF;
/// Length of the PROG_LOAD fixed part including `ofp_header` and the
/// experimenter header: a chunk's length is the message length minus this.
pub const PROG_LOAD_HEADER_LEN: usize = 32;

/// Experimenter message types (`exp_type` of `OFPT_EXPERIMENTER`).
pub mod exp_type {
    /// PROG_LOAD, controller → switch.
    pub const PROG_LOAD: u32 = 1;
    /// PROG_LOAD_REPLY, switch → controller.
    pub const PROG_LOAD_REPLY: u32 = 2;
    /// PROG_UNLOAD, controller → switch.
    pub const PROG_UNLOAD: u32 = 3;
    /// MAP_UPDATE, controller → switch.
    pub const MAP_UPDATE: u32 = 4;
    /// MAP_DELETE, controller → switch.
    pub const MAP_DELETE: u32 = 5;
    /// MAP_DUMP multipart.
    pub const MAP_DUMP: u32 = 16;
    /// MAP_LOOKUP multipart.
    pub const MAP_LOOKUP: u32 = 17;
    /// PROG_STATS multipart.
    pub const PROG_STATS: u32 = 18;
}

/// PROG_LOAD flags.
pub mod load_flags {
    /// Replace an existing program atomically.
    pub const REPLACE: u16 = 1 << 0;
    /// With REPLACE: keep the contents of unchanged maps.
    pub const KEEP_MAPS: u16 = 1 << 1;
}

/// PROG_UNLOAD flags.
pub mod unload_flags {
    /// Also delete every flow that references the program.
    pub const CASCADE: u16 = 1 << 0;
}

/// MAP_UPDATE flags (eBPF's BPF_ANY / BPF_NOEXIST / BPF_EXIST).
pub mod update_flags {
    /// Create or replace.
    pub const ANY: u32 = 0;
    /// Create only.
    pub const NOEXIST: u32 = 1;
    /// Replace only.
    pub const EXIST: u32 = 2;
}

/// The extension's experimenter error codes (EXTENSION.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtErrorCode {
    /// 1: not a relocatable eBPF ELF, or a relocation it cannot apply.
    BadElf,
    /// 2: the verifier refused the program.
    VerifyFailed,
    /// 3: the id exists and REPLACE was not set.
    ProgExists,
    /// 4: no program with that id.
    UnknownProg,
    /// 5: flows reference the program and CASCADE was not set.
    ProgInUse,
    /// 6: no map with that id in the program.
    UnknownMap,
    /// 7: key or value sizes differ from the map's.
    BadKeyOrValue,
    /// 8: the map is full.
    MapFull,
    /// 9: the key is absent.
    KeyNotFound,
    /// 10: a PROG_LOAD chunk does not continue where the last ended.
    BadChunk,
    /// 11: a program larger than the switch accepts.
    TooLarge,
    /// 12: anything else malformed in an extension message.
    BadRequest,
}

impl ExtErrorCode {
    /// The `exp_code` on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Self::BadElf => 1,
            Self::VerifyFailed => 2,
            Self::ProgExists => 3,
            Self::UnknownProg => 4,
            Self::ProgInUse => 5,
            Self::UnknownMap => 6,
            Self::BadKeyOrValue => 7,
            Self::MapFull => 8,
            Self::KeyNotFound => 9,
            Self::BadChunk => 10,
            Self::TooLarge => 11,
            Self::BadRequest => 12,
        }
    }

    /// From the `exp_code` on the wire.
    pub const fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::BadElf,
            2 => Self::VerifyFailed,
            3 => Self::ProgExists,
            4 => Self::UnknownProg,
            5 => Self::ProgInUse,
            6 => Self::UnknownMap,
            7 => Self::BadKeyOrValue,
            8 => Self::MapFull,
            9 => Self::KeyNotFound,
            10 => Self::BadChunk,
            11 => Self::TooLarge,
            12 => Self::BadRequest,
            _ => return None,
        })
    }

    /// The spec's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::BadElf => "BAD_ELF",
            Self::VerifyFailed => "VERIFY_FAILED",
            Self::ProgExists => "PROG_EXISTS",
            Self::UnknownProg => "UNKNOWN_PROG",
            Self::ProgInUse => "PROG_IN_USE",
            Self::UnknownMap => "UNKNOWN_MAP",
            Self::BadKeyOrValue => "BAD_KEY_OR_VALUE",
            Self::MapFull => "MAP_FULL",
            Self::KeyNotFound => "KEY_NOT_FOUND",
            Self::BadChunk => "BAD_CHUNK",
            Self::TooLarge => "TOO_LARGE",
            Self::BadRequest => "BAD_REQUEST",
        }
    }

    /// The OpenFlow error code (type `OFPET_EXPERIMENTER`).
    pub const fn error_code(self) -> ErrorCode {
        ErrorCode::Experimenter {
            exp_code: self.code(),
            experimenter: OKO_EXPERIMENTER,
        }
    }

    /// Recognises an extension error in a received OpenFlow error code.
    pub const fn from_error_code(code: ErrorCode) -> Option<Self> {
        match code {
            ErrorCode::Experimenter {
                exp_code,
                experimenter: OKO_EXPERIMENTER,
            } => Self::from_code(exp_code),
            _ => None,
        }
    }
}

impl core::fmt::Display for ExtErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A malformed extension body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtParseError {
    /// The body is shorter than its fixed part.
    #[error("{what}: body of {len} bytes is shorter than its fixed part of {need}")]
    Truncated {
        /// The message or multipart name.
        what: &'static str,
        /// Body length received.
        len: usize,
        /// Fixed part length.
        need: usize,
    },
    /// Bytes after a body that has none.
    #[error("{what}: {extra} unexpected trailing bytes")]
    Trailing {
        /// The message or multipart name.
        what: &'static str,
        /// How many.
        extra: usize,
    },
    /// A count or length field that disagrees with the bytes present.
    #[error("{what}: {reason}")]
    Inconsistent {
        /// The message or multipart name.
        what: &'static str,
        /// What disagrees.
        reason: String,
    },
    /// An `exp_type` this extension does not define (or not in this direction).
    #[error("unknown extension type {exp_type}")]
    UnknownType {
        /// The received `exp_type`.
        exp_type: u32,
    },
    /// The container's experimenter id is not [`OKO_EXPERIMENTER`].
    #[error("experimenter {experimenter:#010x} is not the Oko extension")]
    NotOko {
        /// The received experimenter id.
        experimenter: u32,
    },
}

impl ExtParseError {
    /// The error a switch answers with.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::UnknownType { .. } => ErrorCode::BadRequest(BadRequestCode::BadExpType),
            Self::NotOko { .. } => ErrorCode::BadRequest(BadRequestCode::BadExperimenter),
            _ => ExtErrorCode::BadRequest.error_code(),
        }
    }
}

/// Reads big-endian fields from an extension body.
struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(what: &'static str, buf: &'a [u8], fixed: usize) -> Result<Self, ExtParseError> {
        if buf.len() < fixed {
            return Err(ExtParseError::Truncated {
                what,
                len: buf.len(),
                need: fixed,
            });
        }
        Ok(Self { what, buf, pos: 0 })
    }

    // The constructor checked the fixed part, so the reads below cannot run
    // past the end while the caller stays within it; `get` still checks.
    fn get<const N: usize>(&mut self) -> Result<[u8; N], ExtParseError> {
        let end = self.pos + N;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(ExtParseError::Truncated {
                what: self.what,
                len: self.buf.len(),
                need: end,
            })?;
        self.pos = end;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ExtParseError> {
        Ok(self.get::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ExtParseError> {
        Ok(u16::from_be_bytes(self.get()?))
    }

    fn u32(&mut self) -> Result<u32, ExtParseError> {
        Ok(u32::from_be_bytes(self.get()?))
    }

    fn u64(&mut self) -> Result<u64, ExtParseError> {
        Ok(u64::from_be_bytes(self.get()?))
    }

    fn rest(self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    fn finish(self) -> Result<(), ExtParseError> {
        let extra = self.buf.len().saturating_sub(self.pos);
        if extra != 0 {
            return Err(ExtParseError::Trailing {
                what: self.what,
                extra,
            });
        }
        Ok(())
    }
}

/// PROG_LOAD: one chunk of an ELF object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProgLoad {
    /// Program id (1 … 2^32-2).
    pub prog_id: u32,
    /// [`load_flags`].
    pub flags: u16,
    /// Length of the whole object.
    pub total_len: u32,
    /// Offset of this chunk in the object.
    pub offset: u32,
    /// The chunk's bytes.
    pub chunk: Vec<u8>,
}

/// One `map_desc` of a PROG_LOAD_REPLY (40 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDesc {
    /// Dense id from 0 in definition order.
    pub map_id: u32,
    /// Linux map-type number.
    pub map_type: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// NUL-padded ELF symbol name.
    pub name: [u8; 16],
}

/// PROG_LOAD_REPLY.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProgLoadReply {
    /// Program id.
    pub prog_id: u32,
    /// Instructions after relocation.
    pub n_insns: u32,
    /// 1 when the program runs JIT-compiled.
    pub jit: u8,
    /// The program's maps.
    pub maps: Vec<MapDesc>,
}

/// PROG_UNLOAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgUnload {
    /// Program id.
    pub prog_id: u32,
    /// [`unload_flags`].
    pub flags: u16,
}

/// MAP_UPDATE: `n` key‖value pairs in `data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapUpdate {
    /// Program id.
    pub prog_id: u32,
    /// Map id.
    pub map_id: u32,
    /// [`update_flags`].
    pub flags: u32,
    /// Number of pairs.
    pub n: u32,
    /// `(key ‖ value) × n`.
    pub data: Vec<u8>,
}

/// MAP_DELETE: `n` keys in `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDelete {
    /// Program id.
    pub prog_id: u32,
    /// Map id.
    pub map_id: u32,
    /// Number of keys.
    pub n: u32,
    /// `key × n`.
    pub keys: Vec<u8>,
}

/// Splits `data` into `n` records of `sizes` bytes each, or says why not.
fn split_records<'a>(
    what: &'static str,
    data: &'a [u8],
    n: u32,
    record: usize,
) -> Result<core::slice::ChunksExact<'a, u8>, ExtParseError> {
    let expected = (n as usize).checked_mul(record);
    if record == 0 || expected != Some(data.len()) {
        return Err(ExtParseError::Inconsistent {
            what,
            reason: format!(
                "{n} records of {record} bytes need {} bytes, {} present",
                expected.map_or_else(|| "too many".to_string(), |e| e.to_string()),
                data.len()
            ),
        });
    }
    Ok(data.chunks_exact(record))
}

impl MapUpdate {
    /// The `(key, value)` pairs for a map with these sizes. A mismatch is
    /// answered with [`ExtErrorCode::BadKeyOrValue`].
    pub fn entries(
        &self,
        key_size: usize,
        value_size: usize,
    ) -> Result<impl Iterator<Item = (&[u8], &[u8])>, ExtParseError> {
        let recs = split_records(
            "MAP_UPDATE",
            &self.data,
            self.n,
            key_size.saturating_add(value_size),
        )?;
        Ok(recs.map(move |r| r.split_at(key_size)))
    }
}

impl MapDelete {
    /// The keys for a map with this key size ([`ExtErrorCode::BadKeyOrValue`]
    /// on mismatch).
    pub fn keys(&self, key_size: usize) -> Result<impl Iterator<Item = &[u8]>, ExtParseError> {
        split_records("MAP_DELETE", &self.keys, self.n, key_size)
    }
}

/// An extension message (`OFPT_EXPERIMENTER` with [`OKO_EXPERIMENTER`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtMessage {
    /// exp_type 1
    ProgLoad(ProgLoad),
    /// exp_type 2
    ProgLoadReply(ProgLoadReply),
    /// exp_type 3
    ProgUnload(ProgUnload),
    /// exp_type 4
    MapUpdate(MapUpdate),
    /// exp_type 5
    MapDelete(MapDelete),
}

impl ExtMessage {
    /// The `exp_type`.
    pub const fn exp_type(&self) -> u32 {
        match self {
            Self::ProgLoad(_) => exp_type::PROG_LOAD,
            Self::ProgLoadReply(_) => exp_type::PROG_LOAD_REPLY,
            Self::ProgUnload(_) => exp_type::PROG_UNLOAD,
            Self::MapUpdate(_) => exp_type::MAP_UPDATE,
            Self::MapDelete(_) => exp_type::MAP_DELETE,
        }
    }

    /// Parses the body after `experimenter | exp_type`.
    pub fn parse(experimenter: u32, exp_type: u32, body: &[u8]) -> Result<Self, ExtParseError> {
        if experimenter != OKO_EXPERIMENTER {
            return Err(ExtParseError::NotOko { experimenter });
        }
        Ok(match exp_type {
            exp_type::PROG_LOAD => {
                let mut r = Reader::new("PROG_LOAD", body, 16)?;
                let prog_id = r.u32()?;
                let flags = r.u16()?;
                let _pad = r.u16()?;
                let total_len = r.u32()?;
                let offset = r.u32()?;
                Self::ProgLoad(ProgLoad {
                    prog_id,
                    flags,
                    total_len,
                    offset,
                    chunk: r.rest().to_vec(),
                })
            }
            exp_type::PROG_LOAD_REPLY => {
                let mut r = Reader::new("PROG_LOAD_REPLY", body, 16)?;
                let prog_id = r.u32()?;
                let n_insns = r.u32()?;
                let jit = r.u8()?;
                let _pad = r.get::<3>()?;
                let n_maps = r.u32()?;
                let rest = r.rest();
                let recs = split_records("PROG_LOAD_REPLY", rest, n_maps, MAP_DESC_LEN)?;
                let maps = recs.map(parse_map_desc).collect::<Result<_, _>>()?;
                Self::ProgLoadReply(ProgLoadReply {
                    prog_id,
                    n_insns,
                    jit,
                    maps,
                })
            }
            exp_type::PROG_UNLOAD => {
                let mut r = Reader::new("PROG_UNLOAD", body, 8)?;
                let prog_id = r.u32()?;
                let flags = r.u16()?;
                let _pad = r.u16()?;
                r.finish()?;
                Self::ProgUnload(ProgUnload { prog_id, flags })
            }
            exp_type::MAP_UPDATE => {
                let mut r = Reader::new("MAP_UPDATE", body, 16)?;
                let prog_id = r.u32()?;
                let map_id = r.u32()?;
                let flags = r.u32()?;
                let n = r.u32()?;
                Self::MapUpdate(MapUpdate {
                    prog_id,
                    map_id,
                    flags,
                    n,
                    data: r.rest().to_vec(),
                })
            }
            exp_type::MAP_DELETE => {
                let mut r = Reader::new("MAP_DELETE", body, 16)?;
                let prog_id = r.u32()?;
                let map_id = r.u32()?;
                let n = r.u32()?;
                let _pad = r.u32()?;
                Self::MapDelete(MapDelete {
                    prog_id,
                    map_id,
                    n,
                    keys: r.rest().to_vec(),
                })
            }
            other => return Err(ExtParseError::UnknownType { exp_type: other }),
        })
    }

    /// Length of the body emitted by [`ExtMessage::emit_body`].
    pub fn body_len(&self) -> usize {
        match self {
            Self::ProgLoad(m) => 16 + m.chunk.len(),
            Self::ProgLoadReply(m) => 16 + MAP_DESC_LEN * m.maps.len(),
            Self::ProgUnload(_) => 8,
            Self::MapUpdate(m) => 16 + m.data.len(),
            Self::MapDelete(m) => 16 + m.keys.len(),
        }
    }

    /// Emits the body (after `experimenter | exp_type`).
    pub fn emit_body<B: BufMut>(&self, out: &mut B) {
        match self {
            Self::ProgLoad(m) => {
                out.put_u32(m.prog_id);
                out.put_u16(m.flags);
                out.put_u16(0);
                out.put_u32(m.total_len);
                out.put_u32(m.offset);
                out.put_slice(&m.chunk);
            }
            Self::ProgLoadReply(m) => {
                out.put_u32(m.prog_id);
                out.put_u32(m.n_insns);
                out.put_u8(m.jit);
                out.put_bytes(0, 3);
                out.put_u32(len_u32(m.maps.len()));
                for d in &m.maps {
                    emit_map_desc(d, out);
                }
            }
            Self::ProgUnload(m) => {
                out.put_u32(m.prog_id);
                out.put_u16(m.flags);
                out.put_u16(0);
            }
            Self::MapUpdate(m) => {
                out.put_u32(m.prog_id);
                out.put_u32(m.map_id);
                out.put_u32(m.flags);
                out.put_u32(m.n);
                out.put_slice(&m.data);
            }
            Self::MapDelete(m) => {
                out.put_u32(m.prog_id);
                out.put_u32(m.map_id);
                out.put_u32(m.n);
                out.put_u32(0);
                out.put_slice(&m.keys);
            }
        }
    }

    /// The body as a vector.
    pub fn body_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.body_len());
        self.emit_body(&mut v);
        v
    }
}

/// Length of one `map_desc`.
pub const MAP_DESC_LEN: usize = 40;

fn parse_map_desc(b: &[u8]) -> Result<MapDesc, ExtParseError> {
    let mut r = Reader::new("map_desc", b, MAP_DESC_LEN)?;
    let map_id = r.u32()?;
    let map_type = r.u32()?;
    let key_size = r.u32()?;
    let value_size = r.u32()?;
    let max_entries = r.u32()?;
    let _pad = r.u32()?;
    let name = r.get::<16>()?;
    r.finish()?;
    Ok(MapDesc {
        map_id,
        map_type,
        key_size,
        value_size,
        max_entries,
        name,
    })
}

fn emit_map_desc<B: BufMut>(d: &MapDesc, out: &mut B) {
    out.put_u32(d.map_id);
    out.put_u32(d.map_type);
    out.put_u32(d.key_size);
    out.put_u32(d.value_size);
    out.put_u32(d.max_entries);
    out.put_u32(0);
    out.put_slice(&d.name);
}

/// Counts from `usize` that the switch's own limits keep far below 2^32.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Copies a name into a NUL-padded 16-byte field (truncating at 15 bytes so a
/// NUL always ends it).
pub fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let b = name.as_bytes();
    let n = b.len().min(15);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// The text of a NUL-padded name field (lossy for non-UTF-8 bytes).
pub fn name16_str(name: &[u8; 16]) -> String {
    let end = name.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&name[..end]).into_owned()
}

/// A request of the extension's multipart (`OFPMP_EXPERIMENTER`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtMultipartRequest {
    /// exp_type 16
    MapDump {
        /// Program id.
        prog_id: u32,
        /// Map id.
        map_id: u32,
    },
    /// exp_type 17
    MapLookup {
        /// Program id.
        prog_id: u32,
        /// Map id.
        map_id: u32,
        /// Key bytes (its size is checked against the map by the switch).
        key: Vec<u8>,
    },
    /// exp_type 18
    ProgStats {
        /// Program id, or [`PROG_ID_ALL`].
        prog_id: u32,
    },
}

impl ExtMultipartRequest {
    /// The `exp_type`.
    pub const fn exp_type(&self) -> u32 {
        match self {
            Self::MapDump { .. } => exp_type::MAP_DUMP,
            Self::MapLookup { .. } => exp_type::MAP_LOOKUP,
            Self::ProgStats { .. } => exp_type::PROG_STATS,
        }
    }

    /// Parses the request body after `experimenter | exp_type`.
    pub fn parse(experimenter: u32, exp_type: u32, body: &[u8]) -> Result<Self, ExtParseError> {
        if experimenter != OKO_EXPERIMENTER {
            return Err(ExtParseError::NotOko { experimenter });
        }
        Ok(match exp_type {
            exp_type::MAP_DUMP => {
                let mut r = Reader::new("MAP_DUMP request", body, 8)?;
                let prog_id = r.u32()?;
                let map_id = r.u32()?;
                r.finish()?;
                Self::MapDump { prog_id, map_id }
            }
            exp_type::MAP_LOOKUP => {
                let mut r = Reader::new("MAP_LOOKUP request", body, 8)?;
                let prog_id = r.u32()?;
                let map_id = r.u32()?;
                Self::MapLookup {
                    prog_id,
                    map_id,
                    key: r.rest().to_vec(),
                }
            }
            exp_type::PROG_STATS => {
                let mut r = Reader::new("PROG_STATS request", body, 4)?;
                let prog_id = r.u32()?;
                r.finish()?;
                Self::ProgStats { prog_id }
            }
            other => return Err(ExtParseError::UnknownType { exp_type: other }),
        })
    }

    /// Length of the body after `experimenter | exp_type`.
    pub fn body_len(&self) -> usize {
        match self {
            Self::MapDump { .. } => 8,
            Self::MapLookup { key, .. } => 8 + key.len(),
            Self::ProgStats { .. } => 4,
        }
    }

    /// Emits the body after `experimenter | exp_type`.
    pub fn emit_body<B: BufMut>(&self, out: &mut B) {
        match self {
            Self::MapDump { prog_id, map_id } => {
                out.put_u32(*prog_id);
                out.put_u32(*map_id);
            }
            Self::MapLookup {
                prog_id,
                map_id,
                key,
            } => {
                out.put_u32(*prog_id);
                out.put_u32(*map_id);
                out.put_slice(key);
            }
            Self::ProgStats { prog_id } => out.put_u32(*prog_id),
        }
    }

    /// The body as a vector.
    pub fn body_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.body_len());
        self.emit_body(&mut v);
        v
    }
}

/// The fixed head of MAP_DUMP and MAP_LOOKUP replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapReplyHead {
    /// Program id.
    pub prog_id: u32,
    /// Map id.
    pub map_id: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size (per-CPU maps: of one CPU's value).
    pub value_size: u32,
}

/// A MAP_DUMP reply part: entries of `key ‖ value` (per-CPU maps: the value
/// is one value per worker, concatenated, so `value_len` = n_cpus ×
/// value_size).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDumpReply {
    /// Sizes and ids.
    pub head: MapReplyHead,
    /// The entries, back to back.
    pub data: Vec<u8>,
}

impl MapDumpReply {
    /// The entries, given the length of one value on the wire (value_size, or
    /// n_cpus × value_size for per-CPU maps).
    pub fn entries(
        &self,
        value_len: usize,
    ) -> Result<impl Iterator<Item = (&[u8], &[u8])>, ExtParseError> {
        let key = self.head.key_size as usize;
        let rec = key.saturating_add(value_len);
        if rec == 0 || !self.data.len().is_multiple_of(rec) {
            return Err(ExtParseError::Inconsistent {
                what: "MAP_DUMP reply",
                reason: format!(
                    "{} bytes of entries are not a whole number of {rec}-byte entries",
                    self.data.len()
                ),
            });
        }
        Ok(self.data.chunks_exact(rec).map(move |r| r.split_at(key)))
    }
}

/// One PROG_STATS entry (56 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProgStatsEntry {
    /// Program id.
    pub prog_id: u32,
    /// Instructions.
    pub n_insns: u32,
    /// 1 when JIT-compiled.
    pub jit: u8,
    /// Flows referencing the program.
    pub n_flows: u32,
    /// Runs.
    pub runs: u64,
    /// Runs that returned 1.
    pub matches: u64,
    /// Nanoseconds spent running.
    pub run_ns: u64,
    /// NUL-padded program name.
    pub name: [u8; 16],
}

/// Length of one PROG_STATS entry.
pub const PROG_STATS_LEN: usize = 56;

/// A reply of the extension's multipart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtMultipartReply {
    /// exp_type 16
    MapDump(MapDumpReply),
    /// exp_type 17: `value` is `None` when the key is absent.
    MapLookup {
        /// Sizes and ids.
        head: MapReplyHead,
        /// The value (per-CPU: concatenated), or absent.
        value: Option<Vec<u8>>,
    },
    /// exp_type 18
    ProgStats(Vec<ProgStatsEntry>),
}

impl ExtMultipartReply {
    /// The `exp_type`.
    pub const fn exp_type(&self) -> u32 {
        match self {
            Self::MapDump(_) => exp_type::MAP_DUMP,
            Self::MapLookup { .. } => exp_type::MAP_LOOKUP,
            Self::ProgStats(_) => exp_type::PROG_STATS,
        }
    }

    /// Parses the reply body after `experimenter | exp_type`.
    pub fn parse(experimenter: u32, exp_type: u32, body: &[u8]) -> Result<Self, ExtParseError> {
        if experimenter != OKO_EXPERIMENTER {
            return Err(ExtParseError::NotOko { experimenter });
        }
        let head = |what, body| -> Result<(MapReplyHead, &[u8]), ExtParseError> {
            let mut r = Reader::new(what, body, 16)?;
            let head = MapReplyHead {
                prog_id: r.u32()?,
                map_id: r.u32()?,
                key_size: r.u32()?,
                value_size: r.u32()?,
            };
            Ok((head, r.rest()))
        };
        Ok(match exp_type {
            exp_type::MAP_DUMP => {
                let (head, rest) = head("MAP_DUMP reply", body)?;
                Self::MapDump(MapDumpReply {
                    head,
                    data: rest.to_vec(),
                })
            }
            exp_type::MAP_LOOKUP => {
                let (head, rest) = head("MAP_LOOKUP reply", body)?;
                Self::MapLookup {
                    head,
                    value: (!rest.is_empty()).then(|| rest.to_vec()),
                }
            }
            exp_type::PROG_STATS => {
                let n = body.len() / PROG_STATS_LEN;
                let recs = split_records("PROG_STATS reply", body, len_u32(n), PROG_STATS_LEN)?;
                Self::ProgStats(recs.map(parse_prog_stats).collect::<Result<_, _>>()?)
            }
            other => return Err(ExtParseError::UnknownType { exp_type: other }),
        })
    }

    /// Length of the body after `experimenter | exp_type`.
    pub fn body_len(&self) -> usize {
        match self {
            Self::MapDump(r) => 16 + r.data.len(),
            Self::MapLookup { value, .. } => 16 + value.as_ref().map_or(0, Vec::len),
            Self::ProgStats(e) => PROG_STATS_LEN * e.len(),
        }
    }

    /// Emits the body after `experimenter | exp_type`.
    pub fn emit_body<B: BufMut>(&self, out: &mut B) {
        let head = |h: &MapReplyHead, out: &mut B| {
            out.put_u32(h.prog_id);
            out.put_u32(h.map_id);
            out.put_u32(h.key_size);
            out.put_u32(h.value_size);
        };
        match self {
            Self::MapDump(r) => {
                head(&r.head, out);
                out.put_slice(&r.data);
            }
            Self::MapLookup { head: h, value } => {
                head(h, out);
                if let Some(v) = value {
                    out.put_slice(v);
                }
            }
            Self::ProgStats(entries) => {
                for e in entries {
                    out.put_u32(e.prog_id);
                    out.put_u32(e.n_insns);
                    out.put_u8(e.jit);
                    out.put_bytes(0, 3);
                    out.put_u32(e.n_flows);
                    out.put_u64(e.runs);
                    out.put_u64(e.matches);
                    out.put_u64(e.run_ns);
                    out.put_slice(&e.name);
                }
            }
        }
    }

    /// The body as a vector.
    pub fn body_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.body_len());
        self.emit_body(&mut v);
        v
    }
}

fn parse_prog_stats(b: &[u8]) -> Result<ProgStatsEntry, ExtParseError> {
    let mut r = Reader::new("PROG_STATS entry", b, PROG_STATS_LEN)?;
    let prog_id = r.u32()?;
    let n_insns = r.u32()?;
    let jit = r.u8()?;
    let _pad = r.get::<3>()?;
    let e = ProgStatsEntry {
        prog_id,
        n_insns,
        jit,
        n_flows: r.u32()?,
        runs: r.u64()?,
        matches: r.u64()?,
        run_ns: r.u64()?,
        name: r.get::<16>()?,
    };
    r.finish()?;
    Ok(e)
}

/// The `FILTER_PROG` OXM field referencing `prog_id` (EXTENSION.md §1).
pub fn filter_prog_oxm(prog_id: u32) -> Oxm {
    Oxm::Experimenter {
        field: FILTER_PROG_FIELD,
        has_mask: false,
        experimenter: OKO_EXPERIMENTER,
        payload: prog_id.to_be_bytes().to_vec(),
    }
}

/// Recognises a `FILTER_PROG` field: `None` for any other OXM, `Some(Ok(id))`
/// for a well-formed one, and the exact BAD_MATCH error for a malformed one
/// (a mask → BAD_MASK, a payload that is not 4 bytes → BAD_LEN).
pub fn filter_prog_of(oxm: &Oxm) -> Option<Result<u32, ErrorCode>> {
    match oxm {
        Oxm::Experimenter {
            field: FILTER_PROG_FIELD,
            has_mask,
            experimenter: OKO_EXPERIMENTER,
            payload,
        } => Some(if *has_mask {
            Err(ErrorCode::BadMatch(BadMatchCode::BadMask))
        } else {
            match <[u8; 4]>::try_from(payload.as_slice()) {
                Ok(b) => Ok(u32::from_be_bytes(b)),
                Err(_) => Err(ErrorCode::BadMatch(BadMatchCode::BadLen)),
            }
        }),
        _ => None,
    }
}

/// Conversions between the extension's typed values and the `openflow`
/// containers that carry them.
mod containers {
    use super::*;
    use openflow::message::{ErrorMsg, ExperimenterMsg, Message, MessageBody};
    use openflow::multipart::{
        MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
    };

    impl ExtMessage {
        /// The `OFPT_EXPERIMENTER` message carrying this one.
        pub fn to_message(&self, xid: u32) -> Message {
            Message::new(
                xid,
                MessageBody::Experimenter(ExperimenterMsg {
                    experimenter: OKO_EXPERIMENTER,
                    exp_type: self.exp_type(),
                    data: self.body_to_vec(),
                }),
            )
        }

        /// Reads an extension message out of an experimenter message.
        ///
        /// # Errors
        /// [`ExtParseError`]; its `error_code()` is the answer to send.
        pub fn from_experimenter(m: &ExperimenterMsg) -> Result<Self, ExtParseError> {
            Self::parse(m.experimenter, m.exp_type, &m.data)
        }
    }

    impl ExtMultipartRequest {
        /// The `OFPMP_EXPERIMENTER` request carrying this one.
        pub fn to_request(&self, flags: u16) -> MultipartRequest {
            MultipartRequest {
                flags,
                body: MultipartRequestBody::Experimenter {
                    experimenter: OKO_EXPERIMENTER,
                    exp_type: self.exp_type(),
                    data: self.body_to_vec(),
                },
            }
        }

        /// Reads an extension request out of a multipart request body; `None`
        /// when the body is not an experimenter body.
        pub fn from_request(r: &MultipartRequestBody) -> Option<Result<Self, ExtParseError>> {
            match r {
                MultipartRequestBody::Experimenter {
                    experimenter,
                    exp_type,
                    data,
                } => Some(Self::parse(*experimenter, *exp_type, data)),
                _ => None,
            }
        }
    }

    impl ExtMultipartReply {
        /// The `OFPMP_EXPERIMENTER` reply carrying this one.
        pub fn to_reply(&self, flags: u16) -> MultipartReply {
            MultipartReply {
                flags,
                body: MultipartReplyBody::Experimenter {
                    experimenter: OKO_EXPERIMENTER,
                    exp_type: self.exp_type(),
                    data: self.body_to_vec(),
                },
            }
        }

        /// Reads an extension reply out of a multipart reply body; `None`
        /// when the body is not an experimenter body.
        pub fn from_reply(r: &MultipartReplyBody) -> Option<Result<Self, ExtParseError>> {
            match r {
                MultipartReplyBody::Experimenter {
                    experimenter,
                    exp_type,
                    data,
                } => Some(Self::parse(*experimenter, *exp_type, data)),
                _ => None,
            }
        }
    }

    impl ExtErrorCode {
        /// The `OFPT_ERROR` body: experimenter type, this code, and a UTF-8
        /// explanation as data (EXTENSION.md §4).
        pub fn error_msg(self, text: &str) -> ErrorMsg {
            ErrorMsg::with_text(self.error_code(), text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_bytes() -> Vec<u8> {
        // prog_id 3, flags REPLACE|KEEP_MAPS, pad, total_len 6, offset 0, chunk "\x7fELF.."
        vec![
            0, 0, 0, 3, 0, 3, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0x7f, b'E', b'L', b'F', 2, 1,
        ]
    }

    #[test]
    fn prog_load_bytes() {
        let m = ExtMessage::parse(OKO_EXPERIMENTER, 1, &load_bytes()).unwrap();
        let want = ExtMessage::ProgLoad(ProgLoad {
            prog_id: 3,
            flags: load_flags::REPLACE | load_flags::KEEP_MAPS,
            total_len: 6,
            offset: 0,
            chunk: vec![0x7f, b'E', b'L', b'F', 2, 1],
        });
        assert_eq!(m, want);
        assert_eq!(want.body_to_vec(), load_bytes());
        assert_eq!(want.body_len(), load_bytes().len());
    }

    #[test]
    fn prog_load_reply_bytes() {
        let mut b = vec![0, 0, 0, 7, 0, 0, 0, 42, 1, 0, 0, 0, 0, 0, 0, 1];
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 16, 0, 0, 0, 8, 0, 0, 4, 0]);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"conn_table\0\0\0\0\0\0");
        let want = ExtMessage::ProgLoadReply(ProgLoadReply {
            prog_id: 7,
            n_insns: 42,
            jit: 1,
            maps: vec![MapDesc {
                map_id: 0,
                map_type: 9,
                key_size: 16,
                value_size: 8,
                max_entries: 1024,
                name: name16("conn_table"),
            }],
        });
        assert_eq!(ExtMessage::parse(OKO_EXPERIMENTER, 2, &b).unwrap(), want);
        assert_eq!(want.body_to_vec(), b);
        // n_maps says 2 but only one desc present
        b[15] = 2;
        assert!(matches!(
            ExtMessage::parse(OKO_EXPERIMENTER, 2, &b),
            Err(ExtParseError::Inconsistent { .. })
        ));
    }

    #[test]
    fn prog_unload_bytes() {
        let b = [0, 0, 0, 9, 0, 1, 0, 0];
        let want = ExtMessage::ProgUnload(ProgUnload {
            prog_id: 9,
            flags: unload_flags::CASCADE,
        });
        assert_eq!(ExtMessage::parse(OKO_EXPERIMENTER, 3, &b).unwrap(), want);
        assert_eq!(want.body_to_vec(), b);
        let e = ExtMessage::parse(OKO_EXPERIMENTER, 3, &[0, 0, 0, 9, 0, 1, 0, 0, 0]).unwrap_err();
        assert!(matches!(e, ExtParseError::Trailing { extra: 1, .. }));
        assert_eq!(e.error_code(), ExtErrorCode::BadRequest.error_code());
    }

    #[test]
    fn map_update_and_entries() {
        let b = [
            0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, // ids, NOEXIST, n=2
            1, 2, 0xa, 0xb, 0xc, // key 0102 value 0a0b0c
            3, 4, 0xd, 0xe, 0xf,
        ];
        let m = ExtMessage::parse(OKO_EXPERIMENTER, 4, &b).unwrap();
        let ExtMessage::MapUpdate(u) = &m else {
            panic!("wrong type")
        };
        assert_eq!(
            (u.prog_id, u.map_id, u.flags, u.n),
            (1, 2, update_flags::NOEXIST, 2)
        );
        let e: Vec<_> = u.entries(2, 3).unwrap().collect();
        assert_eq!(
            e,
            vec![
                (&[1u8, 2][..], &[0xa, 0xb, 0xc][..]),
                (&[3, 4][..], &[0xd, 0xe, 0xf][..])
            ]
        );
        assert!(u.entries(4, 4).is_err());
        assert!(u.entries(0, 0).is_err());
        assert_eq!(m.body_to_vec(), b);
    }

    #[test]
    fn map_delete_and_keys() {
        let b = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4];
        let m = ExtMessage::parse(OKO_EXPERIMENTER, 5, &b).unwrap();
        let ExtMessage::MapDelete(d) = &m else {
            panic!("wrong type")
        };
        assert_eq!(
            d.keys(2).unwrap().collect::<Vec<_>>(),
            vec![&[1u8, 2][..], &[3, 4][..]]
        );
        assert!(d.keys(3).is_err());
        assert_eq!(m.body_to_vec(), b);
    }

    #[test]
    fn unknown_type_and_experimenter() {
        let e = ExtMessage::parse(OKO_EXPERIMENTER, 99, &[]).unwrap_err();
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadExpType)
        );
        let e = ExtMessage::parse(0x2320, 1, &load_bytes()).unwrap_err();
        assert_eq!(
            e.error_code(),
            ErrorCode::BadRequest(BadRequestCode::BadExperimenter)
        );
        let e = ExtMessage::parse(OKO_EXPERIMENTER, 1, &[0; 15]).unwrap_err();
        assert!(matches!(
            e,
            ExtParseError::Truncated {
                len: 15,
                need: 16,
                ..
            }
        ));
    }

    #[test]
    fn multipart_requests_bytes() {
        let r =
            ExtMultipartRequest::parse(OKO_EXPERIMENTER, 16, &[0, 0, 0, 1, 0, 0, 0, 2]).unwrap();
        assert_eq!(
            r,
            ExtMultipartRequest::MapDump {
                prog_id: 1,
                map_id: 2
            }
        );
        let b = [0, 0, 0, 1, 0, 0, 0, 0, 9, 9];
        let r = ExtMultipartRequest::parse(OKO_EXPERIMENTER, 17, &b).unwrap();
        assert_eq!(
            r,
            ExtMultipartRequest::MapLookup {
                prog_id: 1,
                map_id: 0,
                key: vec![9, 9]
            }
        );
        assert_eq!(r.body_to_vec(), b);
        let r = ExtMultipartRequest::parse(OKO_EXPERIMENTER, 18, &[0xff; 4]).unwrap();
        assert_eq!(
            r,
            ExtMultipartRequest::ProgStats {
                prog_id: PROG_ID_ALL
            }
        );
        assert_eq!(r.body_len(), 4);
    }

    #[test]
    fn multipart_replies_bytes() {
        let mut b = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1];
        b.extend_from_slice(&[1, 1, 7, 2, 2, 8]);
        let r = ExtMultipartReply::parse(OKO_EXPERIMENTER, 16, &b).unwrap();
        let ExtMultipartReply::MapDump(d) = &r else {
            panic!("wrong type")
        };
        assert_eq!(d.entries(1).unwrap().count(), 2);
        assert!(d.entries(2).is_err());
        assert_eq!(r.body_to_vec(), b);

        let head = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1];
        let r = ExtMultipartReply::parse(OKO_EXPERIMENTER, 17, &head).unwrap();
        assert!(matches!(
            r,
            ExtMultipartReply::MapLookup { value: None, .. }
        ));

        let mut s = vec![0, 0, 0, 3, 0, 0, 0, 100, 1, 0, 0, 0, 0, 0, 0, 2];
        s.extend_from_slice(&5u64.to_be_bytes());
        s.extend_from_slice(&4u64.to_be_bytes());
        s.extend_from_slice(&1000u64.to_be_bytes());
        s.extend_from_slice(&name16("conntrack"));
        let r = ExtMultipartReply::parse(OKO_EXPERIMENTER, 18, &s).unwrap();
        assert_eq!(
            r,
            ExtMultipartReply::ProgStats(vec![ProgStatsEntry {
                prog_id: 3,
                n_insns: 100,
                jit: 1,
                n_flows: 2,
                runs: 5,
                matches: 4,
                run_ns: 1000,
                name: name16("conntrack"),
            }])
        );
        assert_eq!(r.body_to_vec(), s);
        s.push(0);
        assert!(ExtMultipartReply::parse(OKO_EXPERIMENTER, 18, &s).is_err());
    }

    #[test]
    fn filter_prog_field() {
        let o = filter_prog_oxm(3);
        assert_eq!(filter_prog_of(&o), Some(Ok(3)));
        let bad = Oxm::Experimenter {
            field: 1,
            has_mask: false,
            experimenter: OKO_EXPERIMENTER,
            payload: vec![0, 3],
        };
        assert_eq!(
            filter_prog_of(&bad),
            Some(Err(ErrorCode::BadMatch(BadMatchCode::BadLen)))
        );
        assert_eq!(filter_prog_of(&Oxm::InPort(1)), None);
    }

    #[test]
    fn error_codes_round_trip() {
        for c in 1..=12 {
            let e = ExtErrorCode::from_code(c).unwrap();
            assert_eq!(e.code(), c);
            assert_eq!(ExtErrorCode::from_error_code(e.error_code()), Some(e));
        }
        assert_eq!(ExtErrorCode::from_code(13), None);
        assert_eq!(ExtErrorCode::VerifyFailed.error_code().code(), 2);
    }

    #[test]
    fn names() {
        assert_eq!(
            name16_str(&name16("a_very_long_map_name")),
            "a_very_long_map"
        );
        assert_eq!(name16_str(&name16("m")), "m");
    }
}
