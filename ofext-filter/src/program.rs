//! Loaded filter programs: what the dataplane calls and the agent manages.
//!
//! A [`Program`] is built once from an ELF object (EXTENSION.md §5): the
//! object is loaded and relocated ([`crate::elf`]), verified
//! ([`crate::verifier`]), its maps are created ([`crate::maps`]) and the
//! code is prepared for execution: compiled to native code by the JIT
//! ([`crate::jit`], on x86-64) or, where there is none or it cannot compile
//! the program, decoded for the interpreter ([`crate::interp`]); both give
//! the same results ([`Program::jit`] says which runs). After that it is
//! immutable and shared by every dataplane worker (`Arc<Program>`); only the
//! maps' contents and the statistics change.
//!
//! ## Running
//!
//! [`Program::run`] takes a frame and the worker's [`RunEnv`] and answers
//! match (`r0 == 1`) or no match. A verified program cannot fault; if the
//! interpreter still reports an error (its instruction budget, say), the
//! answer is "no match" and the error is counted, never propagated into the
//! forwarding path.
//!
//! ## Statistics (PROG_STATS)
//!
//! Runs, matches and errors are counted per worker in cache-padded slots
//! that only their worker writes (a relaxed load and store, no locked
//! read-modify-write on the hot path); [`Program::stats`] sums them. The
//! worker index is the `RunEnv`'s cpu; an index beyond the slots the program
//! was built for falls back to a shared slot updated with atomic adds, so
//! counts stay exact either way.
//!
//! Time is sampled, not measured on every run: reading the clock costs about
//! as much as running a small filter, so every [`TIMING_SAMPLE_PERIOD`]th
//! run of each worker (starting with its first) is timed and counts for the
//! whole period. `run_ns` is therefore an unbiased estimate whose error
//! shrinks with the number of runs.
//!
//! ## Replacement (PROG_LOAD with REPLACE and KEEP_MAPS)
//!
//! [`Program::load_replacing`] builds the new program next to the old one.
//! With `keep_maps`, every new map whose name, type, key size and value size
//! equal an old map's keeps its contents: when `max_entries` is also equal
//! the new program shares the very same map (so updates the old program
//! makes until the switch-over are not lost), otherwise the contents are
//! copied into a new map.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::elf::{self, ElfError, Object};
use crate::interp::{self, Interpreter, RunEnv, RunError};
use crate::jit::JitProgram;
use crate::maps::{Map, MapDef, MapError};
use crate::verifier::{self, VerifyError, VerifyInfo};
use crate::wire::{ExtErrorCode, MapDesc, name16};

/// One run in this many (per worker) is timed for `run_ns`.
pub const TIMING_SAMPLE_PERIOD: u64 = 64;

/// Why a program could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// The object is not a loadable eBPF ELF.
    #[error("{0}")]
    Elf(#[from] ElfError),
    /// The verifier refused the program; the message is the verifier's.
    #[error("{0}")]
    Verify(#[from] VerifyError),
    /// A map definition the map implementation refuses.
    #[error("map {index} ({name:?}): {error}")]
    Map {
        /// Map id (index in definition order).
        index: usize,
        /// Its symbol name.
        name: String,
        /// Why it was refused.
        error: MapError,
    },
    /// The execution engine refused the verified code.
    #[error("{0}")]
    Exec(#[from] interp::LoadError),
    /// The object defines more maps than fit the wire format.
    #[error("{count} maps exceed the limit of {max}")]
    TooManyMaps {
        /// Maps defined.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl ProgramError {
    /// The extension error a switch answers with (EXTENSION.md §4).
    pub fn ext_error(&self) -> ExtErrorCode {
        match self {
            Self::Verify(_) => ExtErrorCode::VerifyFailed,
            Self::Elf(_) | Self::Map { .. } | Self::Exec(_) | Self::TooManyMaps { .. } => {
                ExtErrorCode::BadElf
            }
        }
    }
}

/// Most maps one program may define.
pub const MAX_MAPS: usize = 64;

/// Counters of one worker.
#[derive(Default)]
struct Counters {
    runs: AtomicU64,
    matches: AtomicU64,
    errors: AtomicU64,
    run_ns: AtomicU64,
}

impl Counters {
    /// Single-writer increment: only the owning worker writes its slot, so a
    /// plain load and store is exact and avoids a locked instruction.
    #[inline]
    fn bump(c: &AtomicU64, by: u64) {
        c.store(
            c.load(Ordering::Relaxed).wrapping_add(by),
            Ordering::Relaxed,
        );
    }
}

/// Summed statistics of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgramStats {
    /// Runs.
    pub runs: u64,
    /// Runs that returned exactly 1.
    pub matches: u64,
    /// Runs the engine aborted (counted as no match).
    pub errors: u64,
    /// Estimated nanoseconds spent running (see the module docs).
    pub run_ns: u64,
}

/// The engine a program runs in.
enum Exec {
    /// Native code (the JIT).
    Jit(JitProgram),
    /// The interpreter: no JIT on this target, or it could not compile the
    /// program.
    Interp(Interpreter),
}

impl Exec {
    #[inline]
    fn run_readonly(&self, frame: &[u8], env: &mut RunEnv) -> Result<u64, RunError> {
        match self {
            Self::Jit(j) => j.run_readonly(frame, env),
            Self::Interp(i) => i.run_readonly(frame, env),
        }
    }
}

/// A verified, runnable filter program with its maps and statistics.
pub struct Program {
    name: String,
    object: Object,
    info: VerifyInfo,
    maps: Vec<Arc<Map>>,
    exec: Exec,
    elf: Arc<[u8]>,
    per_worker: Box<[CachePadded<Counters>]>,
    shared: Counters,
}

impl core::fmt::Debug for Program {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Program")
            .field("name", &self.name)
            .field("n_insns", &self.object.insns.len())
            .field("maps", &self.maps.len())
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Loads, verifies and prepares `elf` for `n_workers` dataplane workers
    /// (per-CPU map slots and statistics slots).
    ///
    /// # Errors
    /// [`ProgramError`]; [`ProgramError::ext_error`] gives the wire error.
    pub fn load(elf: &[u8], n_workers: usize) -> Result<Self, ProgramError> {
        Self::build(elf, n_workers, None)
    }

    /// Like [`Program::load`], as the replacement of `old`; with `keep_maps`
    /// compatible maps keep their contents (see the module docs).
    ///
    /// # Errors
    /// [`ProgramError`].
    pub fn load_replacing(
        elf: &[u8],
        n_workers: usize,
        old: &Program,
        keep_maps: bool,
    ) -> Result<Self, ProgramError> {
        Self::build(elf, n_workers, keep_maps.then_some(old))
    }

    fn build(elf: &[u8], n_workers: usize, keep: Option<&Program>) -> Result<Self, ProgramError> {
        let n_workers = n_workers.max(1);
        let object = elf::load(elf)?;
        if object.maps.len() > MAX_MAPS {
            return Err(ProgramError::TooManyMaps {
                count: object.maps.len(),
                max: MAX_MAPS,
            });
        }
        let info = verifier::verify(&object.insns, &object.maps)?;
        let maps = object
            .maps
            .iter()
            .enumerate()
            .map(|(index, def)| {
                let map_err = |error| ProgramError::Map {
                    index,
                    name: def.name.clone(),
                    error,
                };
                match keep.and_then(|old| old.compatible_map(def)) {
                    Some(old) if old.def().max_entries == def.max_entries => Ok(Arc::clone(old)),
                    Some(old) => {
                        let m = Map::new(def.clone(), n_workers).map_err(map_err)?;
                        m.clone_contents_from(old).map_err(map_err)?;
                        Ok(Arc::new(m))
                    }
                    None => Map::new(def.clone(), n_workers)
                        .map(Arc::new)
                        .map_err(map_err),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The verifier bounds the instructions one run executes; the
        // interpreter's budget must never cut a verified run short.
        let budget = u64::try_from(info.max_insns_executed)
            .unwrap_or(u64::MAX)
            .max(interp::DEFAULT_BUDGET);
        let interp = Interpreter::new(&object.insns, maps.clone())?
            .with_zero_flags_at(&info.zero_flags_at)?
            .with_budget(budget);
        let exec = match JitProgram::from_verified(interp, &object.insns, &info) {
            Ok(jit) => Exec::Jit(jit),
            Err(fallback) => Exec::Interp(fallback.interp),
        };
        let name = object
            .name
            .clone()
            .unwrap_or_else(|| object.section.clone());
        Ok(Self {
            name,
            object,
            info,
            maps,
            exec,
            elf: Arc::from(elf),
            per_worker: (0..n_workers).map(|_| CachePadded::default()).collect(),
            shared: Counters::default(),
        })
    }

    /// An old map a new definition may keep: same name, type and sizes.
    fn compatible_map(&self, def: &MapDef) -> Option<&Arc<Map>> {
        self.maps.iter().find(|m| {
            let d = m.def();
            d.name == def.name
                && d.map_type == def.map_type
                && d.key_size == def.key_size
                && d.value_size == def.value_size
        })
    }

    /// Runs the program on `frame` for the worker `env.cpu()`: true when it
    /// returns exactly 1.
    #[inline]
    pub fn run(&self, frame: &[u8], env: &mut RunEnv) -> bool {
        let slot = self.per_worker.get(env.cpu()).map(|c| &**c);
        let runs = match slot {
            Some(c) => {
                let n = c.runs.load(Ordering::Relaxed);
                c.runs.store(n.wrapping_add(1), Ordering::Relaxed);
                n
            }
            None => self.shared.runs.fetch_add(1, Ordering::Relaxed),
        };
        if runs.is_multiple_of(TIMING_SAMPLE_PERIOD) {
            return self.run_timed(frame, env, slot);
        }
        let result = self.exec.run_readonly(frame, env);
        self.count(slot, result)
    }

    /// [`Program::run`] for the one run in [`TIMING_SAMPLE_PERIOD`] that is
    /// timed (out of line: the others keep no clock reading live across the
    /// program).
    #[cold]
    #[inline(never)]
    fn run_timed(&self, frame: &[u8], env: &mut RunEnv, slot: Option<&Counters>) -> bool {
        let start = Instant::now();
        let result = self.exec.run_readonly(frame, env);
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.add(slot, |c| &c.run_ns, ns.saturating_mul(TIMING_SAMPLE_PERIOD));
        self.count(slot, result)
    }

    /// Counts a run's outcome in `slot` (or the shared counters): true when
    /// the program returned exactly 1.
    #[inline]
    fn count(&self, slot: Option<&Counters>, result: Result<u64, RunError>) -> bool {
        match result {
            Ok(1) => {
                self.add(slot, |c| &c.matches, 1);
                true
            }
            Ok(_) => false,
            Err(_) => {
                self.add(slot, |c| &c.errors, 1);
                false
            }
        }
    }

    #[inline]
    fn add(&self, slot: Option<&Counters>, pick: fn(&Counters) -> &AtomicU64, by: u64) {
        match slot {
            Some(c) => Counters::bump(pick(c), by),
            None => {
                pick(&self.shared).fetch_add(by, Ordering::Relaxed);
            }
        }
    }

    /// Summed statistics of every worker.
    pub fn stats(&self) -> ProgramStats {
        let mut s = ProgramStats::default();
        for c in self.per_worker.iter().map(|c| &**c).chain([&self.shared]) {
            s.runs = s.runs.wrapping_add(c.runs.load(Ordering::Relaxed));
            s.matches = s.matches.wrapping_add(c.matches.load(Ordering::Relaxed));
            s.errors = s.errors.wrapping_add(c.errors.load(Ordering::Relaxed));
            s.run_ns = s.run_ns.wrapping_add(c.run_ns.load(Ordering::Relaxed));
        }
        s
    }

    /// The entry function's symbol name (or the section name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Instruction slots after relocation.
    pub fn n_insns(&self) -> usize {
        self.object.insns.len()
    }

    /// True when the program runs as native code (the JIT); the interpreter
    /// runs it otherwise.
    pub fn jit(&self) -> bool {
        matches!(self.exec, Exec::Jit(_))
    }

    /// The relocated object.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// What the verifier established.
    pub fn verify_info(&self) -> &VerifyInfo {
        &self.info
    }

    /// The maps, indexed by map id.
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// The map with this id.
    pub fn map(&self, map_id: u32) -> Option<&Arc<Map>> {
        self.maps.get(usize::try_from(map_id).ok()?)
    }

    /// The ELF object the program was built from (for checkpoints).
    pub fn elf_bytes(&self) -> &[u8] {
        &self.elf
    }

    /// The `map_desc` table of PROG_LOAD_REPLY.
    pub fn map_descs(&self) -> Vec<MapDesc> {
        self.maps
            .iter()
            .zip(0u32..)
            .map(|(m, map_id)| {
                let d = m.def();
                MapDesc {
                    map_id,
                    map_type: d.map_type.linux(),
                    key_size: d.key_size,
                    value_size: d.value_size,
                    max_entries: d.max_entries,
                    name: name16(&d.name),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::TimeSource;

    const LEGACY: &[u8] = include_bytes!("../tests/data/legacy_maps.o");
    const OKO: &[u8] = include_bytes!("../tests/data/oko_data.o");
    const SUBPROG: &[u8] = include_bytes!("../tests/data/subprog.o");
    const GLOBAL: &[u8] = include_bytes!("../tests/data/global_data.o");

    fn frame(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn loads_the_test_objects() {
        for (obj, n_maps) in [(LEGACY, 2), (OKO, 2)] {
            let p = Program::load(obj, 2).unwrap();
            assert_eq!(p.maps().len(), n_maps, "{}", p.name());
            assert_eq!(p.map_descs().len(), n_maps);
            assert!(p.n_insns() > 0);
            assert_eq!(p.elf_bytes(), obj);
            assert_eq!(p.jit(), crate::jit::AVAILABLE);
        }
    }

    #[test]
    fn unsafe_subprogram_is_verify_failed() {
        // subprog.c's entry calls is_ipv4 before any length check.
        let e = Program::load(SUBPROG, 1).unwrap_err();
        assert!(matches!(e, ProgramError::Verify(_)), "{e:?}");
        assert_eq!(e.ext_error(), ExtErrorCode::VerifyFailed);
    }

    #[test]
    fn bad_objects_map_to_bad_elf() {
        let e = Program::load(GLOBAL, 1).unwrap_err();
        assert!(matches!(e, ProgramError::Elf(_)));
        assert_eq!(e.ext_error(), ExtErrorCode::BadElf);
        let e = Program::load(&LEGACY[..100], 1).unwrap_err();
        assert_eq!(e.ext_error(), ExtErrorCode::BadElf);
    }

    #[test]
    fn counts_runs_and_matches_per_worker_and_summed() {
        let p = Program::load(LEGACY, 2).unwrap();
        let mut envs = [RunEnv::new(0), RunEnv::new(1), RunEnv::new(7)];
        let mut matches = 0;
        for i in 0..300usize {
            let env = &mut envs[i % 3];
            env.set_time(TimeSource::Batch(1_000 + i as u64));
            if p.run(&frame(14 + i % 60), env) {
                matches += 1;
            }
        }
        let s = p.stats();
        assert_eq!(s.runs, 300);
        assert_eq!(s.matches, matches);
        assert_eq!(s.errors, 0);
        // Each worker's first run is timed.
        assert!(s.run_ns > 0);
    }

    #[test]
    fn keep_maps_shares_compatible_maps() {
        let old = Program::load(LEGACY, 1).unwrap();
        let key = vec![0u8; old.maps()[0].def().key_size as usize];
        let val = vec![7u8; old.maps()[0].def().value_size as usize];
        old.maps()[0].update_from_controller(&key, &val, 0).unwrap();
        let kept = Program::load_replacing(LEGACY, 1, &old, true).unwrap();
        assert!(Arc::ptr_eq(&kept.maps()[0], &old.maps()[0]));
        assert_eq!(kept.maps()[0].lookup_copy(&key).unwrap(), Some(val));
        let fresh = Program::load_replacing(LEGACY, 1, &old, false).unwrap();
        assert!(!Arc::ptr_eq(&fresh.maps()[0], &old.maps()[0]));
        assert_eq!(fresh.maps()[0].lookup_copy(&key).unwrap(), None);
    }

    #[test]
    fn verifier_failure_is_verify_failed_with_its_message() {
        let insns = crate::asm::assemble("ldxw %r0, [%r1+0]\nexit").unwrap();
        let e = ProgramError::from(verifier::verify(&insns, &[]).unwrap_err());
        assert_eq!(e.ext_error(), ExtErrorCode::VerifyFailed);
        assert!(e.to_string().starts_with("pc 0: "), "{e}");
    }

    #[test]
    fn three_argument_update_passes_zero_flags() {
        // r4 holds 5 (an invalid flags value) but the verifier sees it was
        // never written by the program's own code path before the call... it
        // was written here, so the call is not listed and the helper refuses
        // the flags; forcing zero flags at that pc makes it succeed.
        let src = "
            stw [%r10-4], 1
            stdw [%r10-16], 9
            lddw %r1, map:0
            mov %r2, %r10
            add %r2, -4
            mov %r3, %r10
            add %r3, -16
            mov %r4, 5
            call 2
            exit";
        let insns = crate::asm::assemble(src).unwrap();
        let call_pc = insns.iter().position(|i| i.op == 0x85).unwrap();
        let def = MapDef {
            name: "m".into(),
            map_type: crate::maps::MapType::Hash,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            flags: 0,
        };
        let map = Arc::new(Map::new(def, 1).unwrap());
        let mut env = RunEnv::new(0);
        let plain = Interpreter::new(&insns, vec![Arc::clone(&map)]).unwrap();
        assert_eq!(plain.run_readonly(&[], &mut env).unwrap() as i64, -22);
        let zeroed = plain.with_zero_flags_at(&[call_pc]).unwrap();
        assert_eq!(zeroed.run_readonly(&[], &mut env).unwrap(), 0);
        assert_eq!(
            map.lookup_copy(&1u32.to_ne_bytes()).unwrap(),
            Some(9u64.to_ne_bytes().to_vec())
        );
        let plain = Interpreter::new(&insns, vec![map]).unwrap();
        assert!(plain.with_zero_flags_at(&[0]).is_err());
    }
}
