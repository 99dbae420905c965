//! The filter-program extension's calls (EXTENSION.md §§2–4) on a
//! [`Connection`].
//!
//! Each call builds the typed `ofext_filter::wire` value, sends it in its
//! OpenFlow container, and turns the answer back into typed values. Calls
//! that the switch answers only on failure (PROG_UNLOAD, MAP_UPDATE,
//! MAP_DELETE) are confirmed with a BARRIER, so `Ok` means "in effect in
//! every dataplane worker".
//!
//! Two things do not fit one OpenFlow message (65535 bytes) and are split
//! here, not by the caller:
//!
//! - a program object: PROG_LOAD chunks of at most [`PROG_LOAD_MAX_CHUNK`]
//!   bytes with ascending offsets, each under its own xid; the switch answers
//!   the last one. An error for an earlier chunk (BAD_CHUNK, TOO_LARGE) is
//!   reported in preference to the last chunk's answer, since it is the
//!   cause.
//! - a long MAP_UPDATE/MAP_DELETE: as many whole entries per message as fit,
//!   each message confirmed before the next is sent, so the spec's "the
//!   first failure stops" holds across messages too
//!   ([`ClientError::PartiallyApplied`] says how many were applied).

use ofext_filter::wire::{
    ExtMessage, ExtMultipartReply, ExtMultipartRequest, MAX_PROG_LEN, MapDelete, MapDumpReply,
    MapUpdate, PROG_ID_ALL, PROG_LOAD_HEADER_LEN, ProgLoad, ProgLoadReply, ProgStatsEntry,
    ProgUnload,
};
use openflow::message::{MessageBody, OFP_MAX_MSG_LEN};
use openflow::multipart::MultipartReply;

use super::connection::{Connection, unexpected};
use super::error::ClientError;

/// The largest PROG_LOAD chunk: one OpenFlow message minus the 32-byte
/// PROG_LOAD header (65503 bytes).
pub const PROG_LOAD_MAX_CHUNK: usize = OFP_MAX_MSG_LEN - PROG_LOAD_HEADER_LEN;

/// Bytes of key/value records that fit in one MAP_UPDATE or MAP_DELETE:
/// `ofp_header`, experimenter header and the 16-byte fixed part take 32.
const MAP_MSG_CAPACITY: usize = OFP_MAX_MSG_LEN - 32;

/// Checks that all records have the sizes of the first one and returns them.
fn uniform_sizes(
    sizes: impl Iterator<Item = (usize, usize)>,
) -> Result<Option<(usize, usize)>, ClientError> {
    let mut first = None;
    for (index, (k, v)) in sizes.enumerate() {
        match first {
            None => first = Some((k, v)),
            Some((ek, ev)) if (ek, ev) != (k, v) => {
                return Err(ClientError::InconsistentEntry {
                    index,
                    key_len: k,
                    value_len: v,
                    expected_key_len: ek,
                    expected_value_len: ev,
                });
            }
            Some(_) => {}
        }
    }
    Ok(first)
}

/// Records per message for records of `record` bytes (at least one, so an
/// oversized record is still sent and refused by the encoder).
fn per_message(record: usize) -> usize {
    MAP_MSG_CAPACITY
        .checked_div(record)
        .unwrap_or(usize::MAX)
        .max(1)
}

fn count(n: usize) -> u32 {
    // `per_message` bounds a batch far below 2^32 except for empty records,
    // where the count is the caller's slice length; saturate rather than wrap.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The extension replies carried by multipart parts, in order.
pub fn ext_replies(parts: &[MultipartReply]) -> Result<Vec<ExtMultipartReply>, ClientError> {
    parts
        .iter()
        .map(|p| match ExtMultipartReply::from_reply(&p.body) {
            Some(r) => r.map_err(ClientError::BadExtReply),
            None => Err(ClientError::UnexpectedReply {
                expected: "an extension multipart reply",
                got: "a standard multipart reply",
            }),
        })
        .collect()
}

fn wrong_ext_reply(expected: &'static str) -> ClientError {
    ClientError::UnexpectedReply {
        expected,
        got: "another extension multipart reply",
    }
}

impl Connection {
    /// Loads (or with [`load_flags::REPLACE`](ofext_filter::wire::load_flags)
    /// replaces) filter program `prog_id` from a clang `-target bpf` ELF
    /// object, split into PROG_LOAD chunks as needed, and returns the
    /// switch's PROG_LOAD_REPLY (instruction count, JIT, map descriptions).
    ///
    /// Errors: the extension's (`BAD_ELF`, `VERIFY_FAILED` with the
    /// verifier's message, `PROG_EXISTS`, `BAD_CHUNK`, `TOO_LARGE`, …) as
    /// [`ClientError::Extension`]; [`ClientError::ProgramTooLarge`] before
    /// sending anything for an object over 16 MiB.
    pub async fn load_program(
        &self,
        prog_id: u32,
        elf: &[u8],
        flags: u16,
    ) -> Result<ProgLoadReply, ClientError> {
        let max = MAX_PROG_LEN as usize;
        let total_len = u32::try_from(elf.len())
            .ok()
            .filter(|&l| l <= MAX_PROG_LEN)
            .ok_or(ClientError::ProgramTooLarge {
                len: elf.len(),
                max,
            })?;
        let chunk_msg = |offset: usize, chunk: &[u8]| {
            ExtMessage::ProgLoad(ProgLoad {
                prog_id,
                flags,
                total_len,
                // `offset < elf.len() <= MAX_PROG_LEN` fits in u32.
                offset: count(offset),
                chunk: chunk.to_vec(),
            })
            .to_message(0)
            .body
        };
        // An empty object still goes out (as one empty chunk) so that the
        // switch, not the client, decides that it is not an ELF file.
        let chunks: Vec<&[u8]> = if elf.is_empty() {
            vec![elf]
        } else {
            elf.chunks(PROG_LOAD_MAX_CHUNK).collect()
        };
        let Some((last, earlier)) = chunks.split_last() else {
            return Err(ClientError::ProgramTooLarge { len: 0, max });
        };
        let mut watches = Vec::with_capacity(earlier.len());
        let mut offset = 0;
        for chunk in earlier {
            match self.watch(chunk_msg(offset, chunk)).await {
                Ok(w) => watches.push(w),
                Err(e) => {
                    self.forget(watches);
                    return Err(e);
                }
            }
            offset += chunk.len();
        }
        let answer = self.request(chunk_msg(offset, last)).await;
        if let Some(e) = self.forget(watches) {
            return Err(e);
        }
        match answer?.body {
            MessageBody::Experimenter(m) => match ExtMessage::from_experimenter(&m) {
                Ok(ExtMessage::ProgLoadReply(reply)) => Ok(reply),
                Ok(_) => Err(ClientError::UnexpectedReply {
                    expected: "PROG_LOAD_REPLY",
                    got: "another extension message",
                }),
                Err(e) => Err(ClientError::BadExtReply(e)),
            },
            other => Err(unexpected("PROG_LOAD_REPLY", &other)),
        }
    }

    /// Unloads program `prog_id` (with
    /// [`unload_flags::CASCADE`](ofext_filter::wire::unload_flags) also the
    /// flows that use it), confirmed by a barrier.
    pub async fn unload_program(&self, prog_id: u32, flags: u16) -> Result<(), ClientError> {
        let msg = ExtMessage::ProgUnload(ProgUnload { prog_id, flags }).to_message(0);
        self.send_checked(msg.body).await
    }

    /// Creates or replaces map entries (`flags`:
    /// [`update_flags`](ofext_filter::wire::update_flags)), in order,
    /// confirmed by a barrier. All keys must have one length and all values
    /// one length (the map's; the switch checks them against it). The first
    /// failing entry stops the update; its index is in the error's message.
    /// Nothing is sent for an empty slice.
    pub async fn map_update<K, V>(
        &self,
        prog_id: u32,
        map_id: u32,
        flags: u32,
        entries: &[(K, V)],
    ) -> Result<(), ClientError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let sizes = entries
            .iter()
            .map(|(k, v)| (k.as_ref().len(), v.as_ref().len()));
        let Some((k, v)) = uniform_sizes(sizes)? else {
            return Ok(());
        };
        let mut applied = 0;
        for batch in entries.chunks(per_message(k + v)) {
            let mut data = Vec::with_capacity(batch.len() * (k + v));
            for (key, value) in batch {
                data.extend_from_slice(key.as_ref());
                data.extend_from_slice(value.as_ref());
            }
            let msg = ExtMessage::MapUpdate(MapUpdate {
                prog_id,
                map_id,
                flags,
                n: count(batch.len()),
                data,
            })
            .to_message(0);
            self.send_checked(msg.body)
                .await
                .map_err(|e| partially_applied(applied, e))?;
            applied += batch.len();
        }
        Ok(())
    }

    /// Deletes map entries by key, in order, confirmed by a barrier. All
    /// keys must have one length. A missing key fails with `KEY_NOT_FOUND`
    /// and stops the deletion there. Nothing is sent for an empty slice.
    pub async fn map_delete<K>(
        &self,
        prog_id: u32,
        map_id: u32,
        keys: &[K],
    ) -> Result<(), ClientError>
    where
        K: AsRef<[u8]>,
    {
        let sizes = keys.iter().map(|k| (k.as_ref().len(), 0));
        let Some((k, _)) = uniform_sizes(sizes)? else {
            return Ok(());
        };
        let mut applied = 0;
        for batch in keys.chunks(per_message(k)) {
            let mut data = Vec::with_capacity(batch.len() * k);
            for key in batch {
                data.extend_from_slice(key.as_ref());
            }
            let msg = ExtMessage::MapDelete(MapDelete {
                prog_id,
                map_id,
                n: count(batch.len()),
                keys: data,
            })
            .to_message(0);
            self.send_checked(msg.body)
                .await
                .map_err(|e| partially_applied(applied, e))?;
            applied += batch.len();
        }
        Ok(())
    }

    /// Looks one key up: `Some(value)` (per-CPU maps: one value per worker,
    /// concatenated) or `None` when the key is absent.
    pub async fn map_lookup(
        &self,
        prog_id: u32,
        map_id: u32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let request = ExtMultipartRequest::MapLookup {
            prog_id,
            map_id,
            key: key.to_vec(),
        };
        let parts = self.multipart(request.to_request(0).body).await?;
        let mut found: Option<Vec<u8>> = None;
        for reply in ext_replies(&parts)? {
            match reply {
                ExtMultipartReply::MapLookup { value, .. } => {
                    // A value too long for one message arrives in parts.
                    if let Some(v) = value {
                        found.get_or_insert_with(Vec::new).extend_from_slice(&v);
                    }
                }
                _ => return Err(wrong_ext_reply("MAP_LOOKUP reply")),
            }
        }
        Ok(found)
    }

    /// Every entry of a map as `(key, value)` pairs, from all reply parts,
    /// split by the key and value sizes in each part's header.
    ///
    /// For per-CPU maps, whose dumped values hold one value per worker, the
    /// header's per-CPU value size does not split the entries: use
    /// [`Connection::map_dump_parts`] and
    /// [`MapDumpReply::entries`] with `n_workers × value_size`.
    pub async fn map_dump(
        &self,
        prog_id: u32,
        map_id: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ClientError> {
        let mut out = Vec::new();
        for part in self.map_dump_parts(prog_id, map_id).await? {
            let entries = part
                .entries(part.head.value_size as usize)
                .map_err(ClientError::BadExtReply)?;
            out.extend(entries.map(|(k, v)| (k.to_vec(), v.to_vec())));
        }
        Ok(out)
    }

    /// The MAP_DUMP reply parts as the switch sent them.
    pub async fn map_dump_parts(
        &self,
        prog_id: u32,
        map_id: u32,
    ) -> Result<Vec<MapDumpReply>, ClientError> {
        let request = ExtMultipartRequest::MapDump { prog_id, map_id };
        let parts = self.multipart(request.to_request(0).body).await?;
        ext_replies(&parts)?
            .into_iter()
            .map(|r| match r {
                ExtMultipartReply::MapDump(d) => Ok(d),
                _ => Err(wrong_ext_reply("MAP_DUMP reply")),
            })
            .collect()
    }

    /// Statistics of one program, or of every program for `None`.
    pub async fn program_stats(
        &self,
        prog_id: Option<u32>,
    ) -> Result<Vec<ProgStatsEntry>, ClientError> {
        let request = ExtMultipartRequest::ProgStats {
            prog_id: prog_id.unwrap_or(PROG_ID_ALL),
        };
        let parts = self.multipart(request.to_request(0).body).await?;
        let mut out = Vec::new();
        for reply in ext_replies(&parts)? {
            match reply {
                ExtMultipartReply::ProgStats(entries) => out.extend(entries),
                _ => return Err(wrong_ext_reply("PROG_STATS reply")),
            }
        }
        Ok(out)
    }
}

fn partially_applied(applied: usize, e: ClientError) -> ClientError {
    if applied == 0 {
        e
    } else {
        ClientError::PartiallyApplied {
            applied,
            source: Box::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_and_batch_sizes() {
        assert_eq!(PROG_LOAD_MAX_CHUNK, 65503);
        assert_eq!(per_message(12), 65503 / 12);
        assert_eq!(per_message(0), usize::MAX);
        assert_eq!(per_message(100_000), 1);
    }

    #[test]
    fn uniform_sizes_names_the_first_odd_entry() {
        assert_eq!(uniform_sizes([].into_iter()).unwrap(), None);
        assert_eq!(
            uniform_sizes([(4, 8), (4, 8)].into_iter()).unwrap(),
            Some((4, 8))
        );
        let e = uniform_sizes([(4, 8), (4, 8), (4, 7)].into_iter()).unwrap_err();
        assert!(matches!(
            e,
            ClientError::InconsistentEntry {
                index: 2,
                key_len: 4,
                value_len: 7,
                expected_key_len: 4,
                expected_value_len: 8
            }
        ));
    }
}
