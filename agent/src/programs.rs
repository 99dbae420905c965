//! The filter-program extension on the switch side (EXTENSION.md §§2–4).
//!
//! ## Where the work happens
//!
//! PROG_LOAD chunks are collected per connection ([`ChunkAssembler`]: a
//! load is tied to the connection that sends it and discarded when it
//! closes). When the last chunk arrives the connection task parses,
//! relocates, verifies and prepares the program on a blocking thread
//! ([`load`]), so a large program never stalls the switch task or other
//! controllers, and the connection stops reading until the result is in
//! (later messages on it, such as a FLOW_MOD naming the program, see it
//! installed). The switch task then installs it ([`install`]) and answers
//! PROG_LOAD_REPLY. REPLACE swaps the program in the registry and
//! recompiles the flows that reference it, which reach the workers in one
//! snapshot: no packet sees a mix of old and new.
//!
//! PROG_UNLOAD, MAP_UPDATE and MAP_DELETE run on the switch task; maps are
//! shared with the workers and safe to change under them. The multipart
//! requests (MAP_DUMP, MAP_LOOKUP, PROG_STATS) are answered in
//! [`crate::multipart`] through `answer_multipart`.
//!
//! ## Errors
//!
//! Every refusal is an experimenter error with a UTF-8 explanation: the
//! verifier's message for VERIFY_FAILED, the entry index for map updates.
//! A map update that fails part-way has applied the entries before the
//! failing one (EXTENSION.md §2: "the first failure stops the message").

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ofext_filter::maps::MapError;
use ofext_filter::program::{Program, ProgramError};
use ofext_filter::wire::{
    ExtErrorCode, ExtMessage, ExtMultipartReply, ExtMultipartRequest, MAX_PROG_LEN, MapDumpReply,
    MapReplyHead, OKO_EXPERIMENTER, PROG_ID_ALL, PROG_STATS_LEN, ProgLoad, ProgLoadReply,
    ProgStatsEntry, load_flags, name16, unload_flags, update_flags,
};
use openflow::message::{ErrorMsg, ExperimenterMsg};
use openflow::multipart::MultipartReply;
use openflow::{ErrorCode, Message, MessageBody};

use crate::switch::{Effects, Switch};

/// A refusal: an OpenFlow error code, or an extension error with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A standard error (the request's first bytes go in data).
    Code(ErrorCode),
    /// An extension error with its explanation.
    Ext(ExtErrorCode, String),
}

impl Refusal {
    /// The ERROR body answering `request`.
    pub fn error_msg(&self, request: &Message) -> ErrorMsg {
        match self {
            Self::Code(c) => ErrorMsg::new(*c, &request.to_vec()),
            Self::Ext(c, text) => c.error_msg(text),
        }
    }
}

impl From<ofext_filter::wire::ExtParseError> for Refusal {
    /// A malformed extension message: its standard code (bad experimenter
    /// or exp_type), else the extension's BAD_REQUEST with the reason.
    fn from(e: ofext_filter::wire::ExtParseError) -> Self {
        match e.error_code() {
            ErrorCode::Experimenter { .. } => Self::Ext(ExtErrorCode::BadRequest, e.to_string()),
            c => Self::Code(c),
        }
    }
}

impl From<ErrorCode> for Refusal {
    fn from(c: ErrorCode) -> Self {
        Self::Code(c)
    }
}

fn ext(code: ExtErrorCode, text: impl Into<String>) -> Refusal {
    Refusal::Ext(code, text.into())
}

/// The installed programs, shared by the switch task (writer) and
/// connection tasks (which need the old program of a REPLACE).
#[derive(Debug, Default)]
pub struct Programs {
    map: BTreeMap<u32, Arc<Program>>,
}

impl Programs {
    /// No programs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `id` is installed.
    pub fn contains(&self, id: u32) -> bool {
        self.map.contains_key(&id)
    }

    /// Program `id`.
    pub fn get(&self, id: u32) -> Option<Arc<Program>> {
        self.map.get(&id).cloned()
    }

    /// Every program, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Arc<Program>)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    /// Number of programs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Whether `id` may name a program.
fn valid_id(id: u32) -> bool {
    id != 0 && id != PROG_ID_ALL
}

#[derive(Debug)]
struct Partial {
    flags: u16,
    total_len: u32,
    bytes: Vec<u8>,
}

/// A complete object, ready to load.
#[derive(Debug)]
pub struct Complete {
    /// Program id.
    pub prog_id: u32,
    /// PROG_LOAD flags.
    pub flags: u16,
    /// The ELF object.
    pub elf: Vec<u8>,
}

/// One connection's PROG_LOADs in progress.
#[derive(Debug, Default)]
pub struct ChunkAssembler {
    loads: HashMap<u32, Partial>,
}

impl ChunkAssembler {
    /// Takes one chunk; the whole object once its last chunk is in.
    pub fn feed(&mut self, p: &ProgLoad) -> Result<Option<Complete>, Refusal> {
        if !valid_id(p.prog_id) {
            return Err(ext(
                ExtErrorCode::BadRequest,
                format!("program id {:#x} is reserved", p.prog_id),
            ));
        }
        if p.total_len > MAX_PROG_LEN {
            self.loads.remove(&p.prog_id);
            return Err(ext(
                ExtErrorCode::TooLarge,
                format!("object of {} bytes exceeds {MAX_PROG_LEN}", p.total_len),
            ));
        }
        if p.flags & !(load_flags::REPLACE | load_flags::KEEP_MAPS) != 0 {
            return Err(ext(
                ExtErrorCode::BadRequest,
                format!("unknown PROG_LOAD flags {:#06x}", p.flags),
            ));
        }
        let end = u64::from(p.offset) + p.chunk.len() as u64;
        if p.offset == 0 && self.loads.contains_key(&p.prog_id) {
            // A load must continue where it ended; this one is discarded
            // (and a new offset-0 chunk may then start afresh).
            self.loads.remove(&p.prog_id);
            return Err(ext(
                ExtErrorCode::BadChunk,
                "chunk at offset 0 while a load of this program is in progress".to_owned(),
            ));
        }
        if p.offset == 0 {
            self.loads.insert(
                p.prog_id,
                Partial {
                    flags: p.flags,
                    total_len: p.total_len,
                    bytes: Vec::with_capacity((p.total_len as usize).min(1 << 20)),
                },
            );
        }
        let Some(part) = self.loads.get_mut(&p.prog_id) else {
            return Err(ext(
                ExtErrorCode::BadChunk,
                format!("chunk at offset {} without a load in progress", p.offset),
            ));
        };
        let expected = part.bytes.len() as u64;
        let why = if u64::from(p.offset) != expected {
            Some(format!("chunk at offset {}, expected {expected}", p.offset))
        } else if p.total_len != part.total_len || p.flags != part.flags {
            Some("total_len or flags differ from the first chunk".to_owned())
        } else if end > u64::from(part.total_len) {
            Some(format!(
                "chunk ends at {end}, beyond total_len {}",
                part.total_len
            ))
        } else {
            None
        };
        if let Some(why) = why {
            self.loads.remove(&p.prog_id);
            return Err(ext(ExtErrorCode::BadChunk, why));
        }
        part.bytes.extend_from_slice(&p.chunk);
        if end == u64::from(part.total_len) {
            let part = self
                .loads
                .remove(&p.prog_id)
                .map(|x| x.bytes)
                .unwrap_or_default();
            return Ok(Some(Complete {
                prog_id: p.prog_id,
                flags: p.flags,
                elf: part,
            }));
        }
        Ok(None)
    }
}

/// Loads a complete object (blocking: parse, relocate, verify, JIT).
/// `old` is the installed program of the same id, if any.
pub fn load(c: &Complete, old: Option<&Program>, n_workers: usize) -> Result<Program, Refusal> {
    if old.is_some() && c.flags & load_flags::REPLACE == 0 {
        return Err(ext(
            ExtErrorCode::ProgExists,
            format!("program {} exists (use REPLACE)", c.prog_id),
        ));
    }
    let keep = c.flags & load_flags::KEEP_MAPS != 0;
    let r = match old {
        Some(o) => Program::load_replacing(&c.elf, n_workers, o, keep),
        None => Program::load(&c.elf, n_workers),
    };
    r.map_err(|e: ProgramError| Refusal::Ext(e.ext_error(), e.to_string()))
}

/// Installs a loaded program (switch task) and answers PROG_LOAD_REPLY.
pub fn install(
    sw: &mut Switch,
    xid: u32,
    prog_id: u32,
    flags: u16,
    prog: Program,
    fx: &mut Effects,
) -> Result<(), Refusal> {
    let prog = Arc::new(prog);
    let replaced = {
        let mut reg = sw
            .programs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let exists = reg.contains(prog_id);
        if exists && flags & load_flags::REPLACE == 0 {
            return Err(ext(
                ExtErrorCode::ProgExists,
                format!("program {prog_id} exists (use REPLACE)"),
            ));
        }
        reg.map.insert(prog_id, prog.clone());
        exists
    };
    if replaced {
        sw.program_replaced(prog_id);
    }
    sw.mark_dirty();
    let reply = ProgLoadReply {
        prog_id,
        n_insns: prog.n_insns() as u32,
        jit: u8::from(prog.jit()),
        maps: prog.map_descs(),
    };
    fx.replies
        .push(ExtMessage::ProgLoadReply(reply).to_message(xid));
    Ok(())
}

fn map_error(e: MapError, index: usize) -> Refusal {
    let code = match e {
        MapError::KeyNotFound => ExtErrorCode::KeyNotFound,
        MapError::Full => ExtErrorCode::MapFull,
        MapError::KeySize { .. } | MapError::ValueSize { .. } => ExtErrorCode::BadKeyOrValue,
        // EEXIST (NOEXIST on a present key) and EINVAL have no code of
        // their own: BAD_REQUEST, with the reason in the text.
        _ => ExtErrorCode::BadRequest,
    };
    ext(code, format!("entry {index}: {e}"))
}

/// Handles an extension message other than PROG_LOAD (switch task).
pub(crate) fn handle_message(
    sw: &mut Switch,
    x: &ExperimenterMsg,
    fx: &mut Effects,
) -> Result<(), Refusal> {
    let m = ExtMessage::from_experimenter(x)?;
    let program = |sw: &Switch, id: u32| {
        sw.programs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .ok_or_else(|| ext(ExtErrorCode::UnknownProg, format!("no program {id}")))
    };
    match m {
        ExtMessage::ProgUnload(u) => {
            if u.flags & !unload_flags::CASCADE != 0 {
                return Err(ext(
                    ExtErrorCode::BadRequest,
                    format!("unknown PROG_UNLOAD flags {:#06x}", u.flags),
                ));
            }
            program(sw, u.prog_id)?;
            if sw.program_in_use(u.prog_id) {
                if u.flags & unload_flags::CASCADE == 0 {
                    return Err(ext(
                        ExtErrorCode::ProgInUse,
                        format!(
                            "program {} is referenced by {} flows",
                            u.prog_id,
                            sw.program_flow_count(u.prog_id)
                        ),
                    ));
                }
                sw.remove_program_flows(u.prog_id, fx);
            }
            sw.programs()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .map
                .remove(&u.prog_id);
            sw.mark_dirty();
            Ok(())
        }
        ExtMessage::MapUpdate(u) => {
            if u.flags > update_flags::EXIST {
                return Err(ext(
                    ExtErrorCode::BadRequest,
                    format!("unknown MAP_UPDATE flags {}", u.flags),
                ));
            }
            let p = program(sw, u.prog_id)?;
            let map = p.map(u.map_id).ok_or_else(|| {
                ext(
                    ExtErrorCode::UnknownMap,
                    format!("program {} has no map {}", u.prog_id, u.map_id),
                )
            })?;
            let d = map.def();
            let entries = u
                .entries(d.key_size as usize, d.value_size as usize)
                .map_err(|e| ext(ExtErrorCode::BadKeyOrValue, e.to_string()))?;
            for (i, (k, v)) in entries.enumerate() {
                map.update_from_controller(k, v, u64::from(u.flags))
                    .map_err(|e| map_error(e, i))?;
            }
            Ok(())
        }
        ExtMessage::MapDelete(d) => {
            let p = program(sw, d.prog_id)?;
            let map = p.map(d.map_id).ok_or_else(|| {
                ext(
                    ExtErrorCode::UnknownMap,
                    format!("program {} has no map {}", d.prog_id, d.map_id),
                )
            })?;
            let keys = d
                .keys(map.def().key_size as usize)
                .map_err(|e| ext(ExtErrorCode::BadKeyOrValue, e.to_string()))?;
            for (i, k) in keys.enumerate() {
                map.delete_from_controller(k).map_err(|e| map_error(e, i))?;
            }
            Ok(())
        }
        ExtMessage::ProgLoad(_) | ExtMessage::ProgLoadReply(_) => Err(ext(
            ExtErrorCode::BadRequest,
            "PROG_LOAD is handled by the connection; PROG_LOAD_REPLY goes switch to controller",
        )),
    }
}

/// Answers the extension's multipart requests, split into replies of at
/// most `max_body` bytes at entry boundaries.
pub(crate) fn answer_multipart(
    sw: &Switch,
    req: &ExtMultipartRequest,
    max_body: usize,
) -> Result<Vec<MultipartReply>, Refusal> {
    let reg = sw
        .programs()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let program = |id: u32| {
        reg.get(id)
            .ok_or_else(|| ext(ExtErrorCode::UnknownProg, format!("no program {id}")))
    };
    match req {
        ExtMultipartRequest::MapDump { prog_id, map_id }
        | ExtMultipartRequest::MapLookup {
            prog_id, map_id, ..
        } => {
            let p = program(*prog_id)?;
            let map = p.map(*map_id).ok_or_else(|| {
                ext(
                    ExtErrorCode::UnknownMap,
                    format!("program {prog_id} has no map {map_id}"),
                )
            })?;
            let d = map.def();
            let head = MapReplyHead {
                prog_id: *prog_id,
                map_id: *map_id,
                key_size: d.key_size,
                value_size: d.value_size,
            };
            if let ExtMultipartRequest::MapLookup { key, .. } = req {
                let value = map.lookup_copy(key).map_err(|e| map_error(e, 0))?;
                return Ok(vec![
                    ExtMultipartReply::MapLookup { head, value }.to_reply(0),
                ]);
            }
            let entries = map.dump();
            // Per-CPU values are one per worker: every entry has the same
            // length, the first one's.
            let entry_len = entries.first().map_or(1, |(k, v)| k.len() + v.len());
            let mut data = Vec::with_capacity(entries.len() * entry_len);
            for (k, v) in &entries {
                data.extend_from_slice(k);
                data.extend_from_slice(v);
            }
            let reply = ExtMultipartReply::MapDump(MapDumpReply { head, data });
            let body = reply.body_to_vec();
            let (prefix, data) = body.split_at(16.min(body.len()));
            Ok(MultipartReply::split_experimenter(
                0,
                OKO_EXPERIMENTER,
                reply.exp_type(),
                prefix,
                data,
                entry_len,
                max_body,
            ))
        }
        ExtMultipartRequest::ProgStats { prog_id } => {
            if *prog_id != PROG_ID_ALL {
                program(*prog_id)?;
            }
            let entries = reg
                .iter()
                .filter(|(id, _)| *prog_id == PROG_ID_ALL || id == prog_id)
                .map(|(id, p)| {
                    let s = p.stats();
                    ProgStatsEntry {
                        prog_id: id,
                        n_insns: p.n_insns() as u32,
                        jit: u8::from(p.jit()),
                        n_flows: sw.program_flow_count(id),
                        runs: s.runs,
                        matches: s.matches,
                        run_ns: s.run_ns,
                        name: name16(p.name()),
                    }
                })
                .collect();
            let reply = ExtMultipartReply::ProgStats(entries);
            Ok(MultipartReply::split_experimenter(
                0,
                OKO_EXPERIMENTER,
                reply.exp_type(),
                &[],
                &reply.body_to_vec(),
                PROG_STATS_LEN,
                max_body,
            ))
        }
    }
}

/// Whether a message is a PROG_LOAD chunk (handled by the connection).
pub fn as_prog_load(msg: &Message) -> Option<Result<ProgLoad, Refusal>> {
    let MessageBody::Experimenter(x) = &msg.body else {
        return None;
    };
    if x.experimenter != ofext_filter::wire::OKO_EXPERIMENTER
        || x.exp_type != ofext_filter::wire::exp_type::PROG_LOAD
    {
        return None;
    }
    Some(match ExtMessage::from_experimenter(x) {
        Ok(ExtMessage::ProgLoad(p)) => Ok(p),
        Ok(_) => Err(ext(ExtErrorCode::BadRequest, "not a PROG_LOAD")),
        Err(e) => Err(ext(ExtErrorCode::BadRequest, e.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: u32, total: u32, offset: u32, bytes: &[u8]) -> ProgLoad {
        ProgLoad {
            prog_id: id,
            flags: 0,
            total_len: total,
            offset,
            chunk: bytes.to_vec(),
        }
    }

    #[test]
    fn chunks_assemble_in_order_and_refuse_gaps() {
        let mut a = ChunkAssembler::default();
        assert!(a.feed(&chunk(1, 6, 0, b"abc")).unwrap().is_none());
        let c = a.feed(&chunk(1, 6, 3, b"def")).unwrap().unwrap();
        assert_eq!(c.elf, b"abcdef");
        assert!(a.feed(&chunk(2, 6, 0, b"ab")).unwrap().is_none());
        assert!(matches!(
            a.feed(&chunk(2, 6, 3, b"d")),
            Err(Refusal::Ext(ExtErrorCode::BadChunk, _))
        ));
        // The bad chunk discarded the load.
        assert!(matches!(
            a.feed(&chunk(2, 6, 2, b"c")),
            Err(Refusal::Ext(ExtErrorCode::BadChunk, _))
        ));
        assert!(matches!(
            a.feed(&chunk(3, 2, 0, b"abc")),
            Err(Refusal::Ext(ExtErrorCode::BadChunk, _))
        ));
        assert!(matches!(
            a.feed(&chunk(4, MAX_PROG_LEN + 1, 0, b"a")),
            Err(Refusal::Ext(ExtErrorCode::TooLarge, _))
        ));
        assert!(matches!(
            a.feed(&chunk(0, 1, 0, b"a")),
            Err(Refusal::Ext(ExtErrorCode::BadRequest, _))
        ));
        let mut p = chunk(5, 1, 0, b"a");
        p.flags = 0x80;
        assert!(matches!(
            a.feed(&p),
            Err(Refusal::Ext(ExtErrorCode::BadRequest, _))
        ));
        // Offset 0 in the middle of a load is refused, and ends that load.
        assert!(a.feed(&chunk(7, 6, 0, b"abc")).unwrap().is_none());
        assert!(matches!(
            a.feed(&chunk(7, 6, 0, b"abc")),
            Err(Refusal::Ext(ExtErrorCode::BadChunk, _))
        ));
        assert!(a.feed(&chunk(7, 6, 0, b"abc")).unwrap().is_none());
        // A one-chunk object completes at once.
        assert_eq!(a.feed(&chunk(6, 1, 0, b"z")).unwrap().unwrap().elf, b"z");
    }
}
