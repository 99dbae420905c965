//! Abstract interpretation: one pass per function instance over the
//! instructions in topological order, joining states where paths meet.

use std::collections::{BTreeMap, BTreeSet};

use super::cfg::Cfg;
use super::scalar::{
    self, Aff, Cmp, EndKind, LEN, Link, Rel, Scalar, Sym, ZERO, alu_bounds, branch_relation,
    end_bounds,
};
use super::state::{Frame, Off, Slot, State, Value, join};
use super::{HelperSite, MAX_CALL_DEPTH, MAX_PACKET_LEN, MAX_STEPS, VerifyError};
use crate::isa::{Insn, STACK_SIZE, alu, atomic, call_src, class, helper, jmp, mode};
use crate::maps::MapDef;

/// Largest magnitude a pointer offset may reach. Far above any real packet,
/// stack or map value, far below anything that could wrap an address.
const MAX_OFF: i64 = 1 << 40;

/// Largest length the `hash` helper accepts from the verifier's bounds.
const MAX_HASH_LEN: u64 = 1 << 20;

type Res<T> = Result<T, VerifyError>;

/// What an instruction does to control flow.
enum Out {
    /// Successor states with their target pcs (absent when infeasible).
    Edges([Option<(usize, State)>; 2]),
    /// The function returns with this state.
    Exit(State),
}

pub(super) struct Analyzer<'a> {
    insns: &'a [Insn],
    maps: &'a [MapDef],
    cfg: &'a Cfg,
    next_sym: u32,
    pub(super) steps: usize,
    pub(super) stack_depth: Vec<usize>,
    pub(super) helpers: BTreeSet<i32>,
    pub(super) maps_used: BTreeSet<u32>,
    pub(super) zero_flags: BTreeSet<usize>,
    pub(super) max_depth: usize,
    /// Helper call sites, merged over every visit.
    pub(super) sites: BTreeMap<usize, HelperSite>,
    /// `map_lookup_elem` visits: each run makes at most this many.
    pub(super) lookups: usize,
}

fn size_range(size: u64, signed: bool) -> Scalar {
    match (size, signed) {
        (8, _) => Scalar::unknown(),
        (n, false) => Scalar::urange(0, (1u64 << (8 * n)) - 1),
        (n, true) => {
            let half = 1i64 << (8 * n - 1);
            Scalar::srange(-half, half - 1)
        }
    }
}

impl<'a> Analyzer<'a> {
    pub(super) fn new(insns: &'a [Insn], maps: &'a [MapDef], cfg: &'a Cfg) -> Self {
        Self {
            insns,
            maps,
            cfg,
            next_sym: scalar::FIRST_FRESH,
            steps: 0,
            stack_depth: vec![0; cfg.funcs.len()],
            helpers: BTreeSet::new(),
            maps_used: BTreeSet::new(),
            zero_flags: BTreeSet::new(),
            max_depth: 1,
            sites: BTreeMap::new(),
            lookups: 0,
        }
    }

    fn fresh(&mut self) -> Sym {
        let s = Sym(self.next_sym);
        self.next_sym = self.next_sym.saturating_add(1);
        s
    }

    /// Gives a scalar without a relation a fresh symbol, so later
    /// comparisons can name it.
    fn named(&mut self, mut s: Scalar) -> Scalar {
        if s.rel.is_none() {
            s.rel = Some(Rel::new(self.fresh(), 0));
        }
        s
    }

    fn named_value(&mut self, s: Scalar) -> Value {
        Value::Scalar(self.named(s))
    }

    /// The state at program entry.
    pub(super) fn entry_state() -> State {
        let mut f = Frame::new(0, 0);
        f.regs[1] = Value::Packet(Off::constant(0));
        let mut len = Scalar::urange(0, MAX_PACKET_LEN);
        len.rel = Some(Rel::new(LEN, 0));
        f.regs[2] = Value::Scalar(len);
        State {
            frames: vec![f],
            facts: vec![(ZERO, 0)],
        }
    }

    /// Analyses one instance of function `func` from `entry`; the join of
    /// its exit states, or `None` when it never returns.
    pub(super) fn run_function(&mut self, func: usize, entry: State) -> Res<Option<State>> {
        let cfg = self.cfg;
        let f = &cfg.funcs[func];
        let base = f.start;
        let mut pending: Vec<Option<State>> = (f.start..f.end).map(|_| None).collect();
        pending[0] = Some(entry);
        let mut exit: Option<State> = None;
        for &pc in &f.order {
            let Some(st) = pending[pc - base].take() else {
                continue;
            };
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(VerifyError::TooComplex { pc });
            }
            match self.step(pc, st)? {
                Out::Edges(edges) => {
                    for (t, s) in edges.into_iter().flatten() {
                        let slot = &mut pending[t - base];
                        *slot = Some(match slot.take() {
                            None => s,
                            Some(old) => join(&old, &s, &mut self.next_sym),
                        });
                    }
                }
                Out::Exit(s) => {
                    exit = Some(match exit.take() {
                        None => s,
                        Some(old) => join(&old, &s, &mut self.next_sym),
                    });
                }
            }
        }
        Ok(exit)
    }

    fn read(&self, pc: usize, st: &State, reg: u8) -> Res<Value> {
        match st.reg(reg) {
            Value::Uninit | Value::Unusable => Err(VerifyError::UninitRegister { pc, reg }),
            v => Ok(v),
        }
    }

    fn step(&mut self, pc: usize, mut st: State) -> Res<Out> {
        let i = self.insns[pc];
        let next = |st: State| Out::Edges([Some((pc + 1, st)), None]);
        match i.class() {
            class::ALU | class::ALU64 => {
                self.alu(pc, &mut st, i)?;
                Ok(next(st))
            }
            class::LD => {
                // Only lddw passes the structural checks.
                let v = if i.src == 0 {
                    let hi = self.insns[pc + 1].imm as u32;
                    let v = (u64::from(hi) << 32) | u64::from(i.imm as u32);
                    Value::Scalar(Scalar::constant(v))
                } else {
                    let m = i.imm as u32;
                    self.maps_used.insert(m);
                    Value::MapRef(m)
                };
                st.set_reg(i.dst, v);
                Ok(Out::Edges([Some((pc + 2, st)), None]))
            }
            class::LDX => {
                self.load(pc, &mut st, i)?;
                Ok(next(st))
            }
            class::ST => {
                let v = Value::Scalar(Scalar::constant(i.imm as i64 as u64));
                self.store(pc, &mut st, i, v, None)?;
                Ok(next(st))
            }
            class::STX => {
                if i.mode_bits() == mode::ATOMIC {
                    self.atomic(pc, &mut st, i)?;
                } else {
                    let v = self.read(pc, &st, i.src)?;
                    self.store(pc, &mut st, i, v, Some(i.src))?;
                }
                Ok(next(st))
            }
            _ => self.jump(pc, st, i),
        }
    }

    // ----- ALU -------------------------------------------------------------

    fn alu(&mut self, pc: usize, st: &mut State, i: Insn) -> Res<()> {
        let wide = i.class() == class::ALU64;
        let code = i.code();
        let dst = i.dst;
        let scalar_of = |v: Value, reg: u8| match v {
            Value::Scalar(s) => Ok(s),
            _ => Err(VerifyError::PointerArithmetic { pc, reg }),
        };
        if code == alu::END {
            let a = scalar_of(self.read(pc, st, dst)?, dst)?;
            let kind = if wide {
                EndKind::Swap
            } else if i.is_reg_source() {
                EndKind::Be
            } else {
                EndKind::Le
            };
            let mask = match i.imm {
                16 => 0xffff,
                32 => u64::from(u32::MAX),
                _ => u64::MAX,
            };
            let r = if kind == EndKind::Le && a.umax <= mask {
                a // value unchanged, keep its relation
            } else {
                self.named(end_bounds(kind, i.imm, &a))
            };
            st.set_reg(dst, Value::Scalar(r));
            return Ok(());
        }
        if code == alu::NEG {
            let a = scalar_of(self.read(pc, st, dst)?, dst)?;
            let r = alu_bounds(alu::NEG, wide, &a, &a, 0);
            let v = self.named_value(r);
            st.set_reg(dst, v);
            return Ok(());
        }
        let b = if i.is_reg_source() {
            self.read(pc, st, i.src)?
        } else if wide {
            Value::Scalar(Scalar::constant(i.imm as i64 as u64))
        } else {
            Value::Scalar(Scalar::constant(u64::from(i.imm as u32)))
        };
        if code == alu::MOV {
            if wide && i.off == 0 {
                st.set_reg(dst, b);
                return Ok(());
            }
            let bs = scalar_of(b, i.src)?;
            let keep = match i.off {
                0 => bs.fits_u32(),
                n => bs.umax < (1u64 << (n - 1)),
            };
            let r = if keep {
                bs
            } else {
                let mut r = alu_bounds(alu::MOV, wide, &bs, &bs, i.off);
                if r.as_const().is_none() {
                    r.link = scalar::alu_link(alu::MOV, wide, &bs, &bs, i.off);
                    if let Some(Link::Signed(x)) = r.link
                        && r.smin >= 0
                    {
                        r.rel = x.as_rel();
                    }
                }
                self.named(r)
            };
            st.set_reg(dst, Value::Scalar(r));
            return Ok(());
        }
        let a = self.read(pc, st, dst)?;
        if a.is_pointer() || b.is_pointer() {
            let v = self.pointer_alu(pc, i, a, b)?;
            st.set_reg(dst, v);
            return Ok(());
        }
        let (Value::Scalar(a), Value::Scalar(bs)) = (a, b) else {
            // Both operands are initialised non-pointers, i.e. scalars.
            return Err(VerifyError::PointerArithmetic { pc, reg: dst });
        };
        if scalar::is_identity(code, wide, &a, &bs, i.off) {
            // Unchanged value: it keeps its relations.
            return Ok(());
        }
        let mut r = alu_bounds(code, wide, &a, &bs, i.off);
        if r.as_const().is_none() {
            r.rel = match code {
                alu::ADD => add_rel(&a, &bs, wide, false).or_else(|| add_rel(&bs, &a, wide, false)),
                alu::SUB => add_rel(&a, &bs, wide, true),
                _ => None,
            };
            r.link = scalar::alu_link(code, wide, &a, &bs, i.off);
            if r.rel.is_none()
                && let Some(Link::Signed(x)) = r.link
                && r.smin >= 0
            {
                // A non-negative value equal to `x` as a signed number is `x`.
                r.rel = x.as_rel();
            }
        }
        let v = self.named_value(r);
        st.set_reg(dst, v);
        Ok(())
    }

    fn pointer_alu(&mut self, pc: usize, i: Insn, a: Value, b: Value) -> Res<Value> {
        let wide = i.class() == class::ALU64;
        let code = i.code();
        let bad = |reg: u8| VerifyError::PointerArithmetic { pc, reg };
        let ptr_reg = if a.is_pointer() { i.dst } else { i.src };
        if !wide {
            return Err(bad(ptr_reg));
        }
        match (code, a, b) {
            (alu::ADD, p, Value::Scalar(s)) if p.is_pointer() => {
                self.offset_add(pc, i.dst, p, &s, false)
            }
            (alu::ADD, Value::Scalar(s), p) if p.is_pointer() => {
                self.offset_add(pc, i.src, p, &s, false)
            }
            (alu::SUB, p, Value::Scalar(s)) if p.is_pointer() => {
                self.offset_add(pc, i.dst, p, &s, true)
            }
            (alu::SUB, p, q) if p.is_pointer() && q.is_pointer() => {
                let same = match (p, q) {
                    (Value::Packet(_), Value::Packet(_)) => true,
                    (Value::Stack { frame: f, .. }, Value::Stack { frame: g, .. }) => f == g,
                    (
                        Value::MapPtr {
                            id: x,
                            nullable: false,
                            ..
                        },
                        Value::MapPtr {
                            id: y,
                            nullable: false,
                            ..
                        },
                    ) => x == y,
                    _ => false,
                };
                let (Some(x), Some(y)) = (ptr_off(&p), ptr_off(&q)) else {
                    return Err(bad(i.dst));
                };
                if !same {
                    return Err(bad(i.dst));
                }
                let lo = x.min - y.max;
                let hi = x.max - y.min;
                let mut s = if lo >= 0 {
                    Scalar::urange(lo as u64, hi as u64)
                } else {
                    Scalar::srange(lo, hi)
                };
                if s.as_const().is_none() {
                    s.rel = match (x.rel, y.as_const()) {
                        (Some(r), Some(k)) if lo >= 0 => {
                            r.delta.checked_sub(k).map(|d| Rel::new(r.sym, d))
                        }
                        _ => None,
                    };
                    // The difference of the offsets, exactly, as a signed
                    // number: `if ((long)(end - p) < n)`.
                    s.link = match (x.rel, y.rel) {
                        (Some(p), Some(q)) => {
                            Aff::of(p).combine(Aff::of(q), true).map(Link::Signed)
                        }
                        _ => None,
                    };
                }
                Ok(self.named_value(s))
            }
            _ => Err(bad(ptr_reg)),
        }
    }

    /// `p + s` (or `p - s`): moves a pointer's offset by a scalar.
    fn offset_add(&mut self, pc: usize, reg: u8, p: Value, s: &Scalar, neg: bool) -> Res<Value> {
        let bad = VerifyError::PointerArithmetic { pc, reg };
        let o = match p {
            Value::Packet(o) | Value::Stack { off: o, .. } => o,
            Value::MapPtr {
                off: o,
                nullable: false,
                ..
            } => o,
            _ => return Err(bad),
        };
        let (lo, hi) = if neg {
            (-i128::from(s.smax), -i128::from(s.smin))
        } else {
            (i128::from(s.smin), i128::from(s.smax))
        };
        let min = i128::from(o.min) + lo;
        let max = i128::from(o.max) + hi;
        let lim = i128::from(MAX_OFF);
        if min < -lim || max > lim {
            return Err(VerifyError::UnboundedOffset { pc, reg });
        }
        let rel = if let Some(c) = s.as_const() {
            let c = c as i64;
            let c = if neg { c.checked_neg() } else { Some(c) };
            c.and_then(|c| {
                o.rel
                    .and_then(|r| r.delta.checked_add(c).map(|d| Rel::new(r.sym, d)))
            })
        } else {
            match (o.as_const(), s.rel) {
                (Some(k), Some(r)) if !neg && s.smin >= 0 => {
                    r.delta.checked_add(k).map(|d| Rel::new(r.sym, d))
                }
                _ => None,
            }
        };
        let rel = rel.or_else(|| Some(Rel::new(self.fresh(), 0)));
        let off = Off {
            min: min as i64,
            max: max as i64,
            rel,
        };
        Ok(match p {
            Value::Packet(_) => Value::Packet(off),
            Value::Stack { frame, .. } => Value::Stack { frame, off },
            Value::MapPtr { map, id, .. } => Value::MapPtr {
                map,
                off,
                nullable: false,
                id,
            },
            _ => return Err(VerifyError::PointerArithmetic { pc, reg }),
        })
    }

    // ----- memory ----------------------------------------------------------

    fn note_stack(&mut self, st: &State, frame: u8, lowest: i64) {
        let func = st.frames[frame as usize].func;
        let d = lowest.unsigned_abs() as usize;
        if d > self.stack_depth[func] {
            self.stack_depth[func] = d;
        }
    }

    /// Checks a packet read of `size` bytes at `o + ioff`.
    fn check_packet(&self, pc: usize, st: &State, o: &Off, ioff: i64, size: u64) -> Res<()> {
        let checked = st.checked_len();
        let lo = o.min + ioff;
        let hi = o.max + ioff;
        let err = |offset| VerifyError::PacketOutOfBounds {
            pc,
            offset,
            size,
            checked,
        };
        if lo < 0 {
            return Err(err(lo));
        }
        let size_i = size as i64;
        if hi + size_i <= checked {
            return Ok(());
        }
        if let Some(r) = o.rel {
            let need = r.delta.saturating_add(ioff).saturating_add(size_i);
            if r.sym == LEN && need <= 0 {
                return Ok(());
            }
            if let Some(c) = st.fact(r.sym)
                && c >= need
            {
                return Ok(());
            }
        }
        Err(err(hi))
    }

    fn check_map(&self, pc: usize, map: u32, o: &Off, ioff: i64, size: u64) -> Res<()> {
        let value_size = self.maps[map as usize].value_size;
        let lo = o.min + ioff;
        let hi = o.max + ioff;
        if lo < 0 || hi + size as i64 > i64::from(value_size) {
            return Err(VerifyError::MapValueOutOfBounds {
                pc,
                map,
                offset: if lo < 0 { lo } else { hi },
                size,
                value_size,
            });
        }
        Ok(())
    }

    /// The byte range `[lo, hi + size)` of a stack access, checked against
    /// the frame, as indices from the frame's lowest byte.
    fn stack_range(
        &mut self,
        pc: usize,
        st: &State,
        frame: u8,
        o: &Off,
        ioff: i64,
        size: u64,
    ) -> Res<(usize, usize)> {
        let lo = o.min + ioff;
        let hi = o.max + ioff;
        let top = -(STACK_SIZE as i64);
        if lo < top || hi + size as i64 > 0 {
            return Err(VerifyError::StackOutOfBounds {
                pc,
                off: if lo < top { lo } else { hi },
                size,
            });
        }
        self.note_stack(st, frame, lo);
        Ok(((lo - top) as usize, (hi - top) as usize + size as usize))
    }

    /// Checks that bytes `[a, b)` of a frame's stack are initialised and
    /// hold no pointer bytes. `reg` names the pointer register in errors.
    fn check_stack_bytes(
        &self,
        pc: usize,
        st: &State,
        frame: u8,
        a: usize,
        b: usize,
        leak_reg: Option<u8>,
    ) -> Res<()> {
        let stack = &st.frames[frame as usize].stack;
        for byte in a..b {
            let slot = &stack[byte / 8];
            let off = byte as i64 - STACK_SIZE as i64;
            if slot.init & (1 << (byte % 8)) == 0 {
                return Err(VerifyError::UninitStack { pc, off });
            }
            if slot.spill.is_pointer() {
                return Err(match leak_reg {
                    Some(reg) => VerifyError::PointerLeak { pc, reg },
                    None => VerifyError::PartialPointerRead { pc, off },
                });
            }
        }
        Ok(())
    }

    fn load(&mut self, pc: usize, st: &mut State, i: Insn) -> Res<()> {
        let size = i.access_size() as u64;
        let signed = i.mode_bits() == mode::MEMSX;
        let ioff = i64::from(i.off);
        let v = match self.read(pc, st, i.src)? {
            Value::Packet(o) => {
                self.check_packet(pc, st, &o, ioff, size)?;
                self.named_value(size_range(size, signed))
            }
            Value::MapPtr { nullable: true, .. } => {
                return Err(VerifyError::NullableDeref { pc, reg: i.src });
            }
            Value::MapPtr { map, off, .. } => {
                self.check_map(pc, map, &off, ioff, size)?;
                self.named_value(size_range(size, signed))
            }
            Value::Stack { frame, off } => {
                let (a, b) = self.stack_range(pc, st, frame, &off, ioff, size)?;
                let slot = st.frames[frame as usize].stack[a / 8];
                let whole_slot = off.as_const().is_some() && size == 8 && a % 8 == 0;
                if whole_slot && slot.init == 0xff && slot.spill != Value::Uninit {
                    slot.spill
                } else {
                    self.check_stack_bytes(pc, st, frame, a, b, None)?;
                    self.named_value(size_range(size, signed))
                }
            }
            _ => return Err(VerifyError::InvalidMemoryAccess { pc, reg: i.src }),
        };
        st.set_reg(i.dst, v);
        Ok(())
    }

    /// A store of `v` (from register `src`, or an immediate).
    fn store(&mut self, pc: usize, st: &mut State, i: Insn, v: Value, src: Option<u8>) -> Res<()> {
        let size = i.access_size() as u64;
        let ioff = i64::from(i.off);
        let leak = VerifyError::PointerLeak {
            pc,
            reg: src.unwrap_or(0),
        };
        match self.read(pc, st, i.dst)? {
            Value::Packet(_) => Err(VerifyError::PacketWrite { pc }),
            Value::MapPtr { nullable: true, .. } => {
                Err(VerifyError::NullableDeref { pc, reg: i.dst })
            }
            Value::MapPtr { map, off, .. } => {
                self.check_map(pc, map, &off, ioff, size)?;
                if v.is_pointer() {
                    return Err(leak);
                }
                Ok(())
            }
            Value::Stack { frame, off } => {
                let (a, b) = self.stack_range(pc, st, frame, &off, ioff, size)?;
                let stack = &mut st.frames[frame as usize].stack;
                let exact = off.as_const().is_some();
                if v.is_pointer() {
                    if !(exact && size == 8 && a % 8 == 0) {
                        return Err(leak);
                    }
                    stack[a / 8] = Slot {
                        init: 0xff,
                        spill: v,
                    };
                    return Ok(());
                }
                if exact && size == 8 && a % 8 == 0 {
                    stack[a / 8] = Slot {
                        init: 0xff,
                        spill: v,
                    };
                    return Ok(());
                }
                for k in a / 8..b.div_ceil(8) {
                    let slot = &mut stack[k];
                    if !exact {
                        // Unknown which bytes are written: bytes that were
                        // pointer bytes may now be anything.
                        if slot.spill.is_pointer() {
                            *slot = Slot::EMPTY;
                        } else {
                            slot.spill = Value::Uninit;
                        }
                        continue;
                    }
                    let mut mask = 0u8;
                    for byte in a.max(k * 8)..b.min(k * 8 + 8) {
                        mask |= 1 << (byte % 8);
                    }
                    if slot.spill.is_pointer() {
                        // The rest of a partly overwritten pointer is unreadable.
                        slot.init = mask;
                    } else {
                        slot.init |= mask;
                    }
                    slot.spill = Value::Uninit;
                }
                Ok(())
            }
            _ => Err(VerifyError::InvalidMemoryAccess { pc, reg: i.dst }),
        }
    }

    fn atomic(&mut self, pc: usize, st: &mut State, i: Insn) -> Res<()> {
        let size = i.access_size() as u64;
        let ioff = i64::from(i.off);
        let base = self.read(pc, st, i.dst)?;
        if self.read(pc, st, i.src)?.is_pointer() {
            return Err(VerifyError::PointerLeak { pc, reg: i.src });
        }
        if i.imm == atomic::CMPXCHG && self.read(pc, st, 0)?.is_pointer() {
            return Err(VerifyError::PointerLeak { pc, reg: 0 });
        }
        match base {
            Value::Packet(_) => return Err(VerifyError::PacketWrite { pc }),
            Value::MapPtr { nullable: true, .. } => {
                return Err(VerifyError::NullableDeref { pc, reg: i.dst });
            }
            Value::MapPtr { map, off, .. } => {
                let Some(k) = off.as_const() else {
                    return Err(VerifyError::MisalignedAtomic { pc });
                };
                if (k + ioff).rem_euclid(size as i64) != 0 {
                    return Err(VerifyError::MisalignedAtomic { pc });
                }
                self.check_map(pc, map, &off, ioff, size)?;
            }
            Value::Stack { frame, off } => {
                let Some(k) = off.as_const() else {
                    return Err(VerifyError::MisalignedAtomic { pc });
                };
                if (k + ioff).rem_euclid(size as i64) != 0 {
                    return Err(VerifyError::MisalignedAtomic { pc });
                }
                let (a, b) = self.stack_range(pc, st, frame, &off, ioff, size)?;
                self.check_stack_bytes(pc, st, frame, a, b, None)?;
                // The bytes stay initialised but their value is unknown now.
                st.frames[frame as usize].stack[a / 8].spill = Value::Uninit;
            }
            _ => return Err(VerifyError::InvalidMemoryAccess { pc, reg: i.dst }),
        }
        if i.imm & atomic::FETCH != 0 {
            let old = self.named_value(size_range(size, false));
            let reg = if i.imm == atomic::CMPXCHG { 0 } else { i.src };
            st.set_reg(reg, old);
        }
        Ok(())
    }

    // ----- control flow ----------------------------------------------------

    fn jump(&mut self, pc: usize, mut st: State, i: Insn) -> Res<Out> {
        let wide = i.class() == class::JMP;
        match i.code() {
            jmp::JA => {
                let t = if wide {
                    pc as i64 + 1 + i64::from(i.off)
                } else {
                    pc as i64 + 1 + i64::from(i.imm)
                };
                Ok(Out::Edges([Some((t as usize, st)), None]))
            }
            jmp::EXIT => {
                match st.reg(0) {
                    Value::Uninit | Value::Unusable => {
                        return Err(VerifyError::UninitRegister { pc, reg: 0 });
                    }
                    Value::Scalar(_) => {}
                    _ => return Err(VerifyError::PointerLeak { pc, reg: 0 }),
                }
                Ok(Out::Exit(st))
            }
            jmp::CALL if i.src == call_src::PSEUDO_CALL => {
                let after = self.local_call(pc, st, i)?;
                Ok(Out::Edges([after.map(|s| (pc + 1, s)), None]))
            }
            jmp::CALL => {
                self.helper_call(pc, &mut st, i.imm)?;
                Ok(Out::Edges([Some((pc + 1, st)), None]))
            }
            _ => {
                let target = (pc as i64 + 1 + i64::from(i.off)) as usize;
                let (fall, taken) = self.cond(pc, st, i)?;
                Ok(Out::Edges([
                    fall.map(|s| (pc + 1, s)),
                    taken.map(|s| (target, s)),
                ]))
            }
        }
    }

    fn cond(&mut self, pc: usize, st: State, i: Insn) -> Res<(Option<State>, Option<State>)> {
        let wide = i.class() == class::JMP;
        let code = i.code();
        let a = self.read(pc, &st, i.dst)?;
        let b = if i.is_reg_source() {
            self.read(pc, &st, i.src)?
        } else if wide {
            Value::Scalar(Scalar::constant(i.imm as i64 as u64))
        } else {
            Value::Scalar(Scalar::constant(u64::from(i.imm as u32)))
        };
        let bad = VerifyError::PointerComparison { pc };
        match (a, b) {
            (Value::Scalar(x), Value::Scalar(y)) => self.scalar_cond(st, i, x, y),
            (Value::MapPtr { nullable, id, .. }, Value::Scalar(z))
            | (Value::Scalar(z), Value::MapPtr { nullable, id, .. })
                if wide && z.as_const() == Some(0) && matches!(code, jmp::JEQ | jmp::JNE) =>
            {
                let (mut is_null, mut not_null) = (st.clone(), st);
                if nullable {
                    is_null.resolve_null(id, true);
                    not_null.resolve_null(id, false);
                }
                let is_null = nullable.then_some(is_null);
                Ok(if code == jmp::JEQ {
                    (Some(not_null), is_null)
                } else {
                    (is_null, Some(not_null))
                })
            }
            (Value::Packet(x), Value::Packet(y)) => {
                let Some((_, _)) = branch_relation(code, true) else {
                    return Err(bad);
                };
                let signed_or_set = matches!(
                    code,
                    jmp::JSET | jmp::JSGT | jmp::JSGE | jmp::JSLT | jmp::JSLE
                );
                if !wide || signed_or_set {
                    return Err(bad);
                }
                let mut out = [None, None];
                for (k, taken) in [false, true].into_iter().enumerate() {
                    let mut s = st.clone();
                    let ok = match branch_relation(code, taken) {
                        Some((Cmp::Ult(strict), swapped)) => {
                            let (l, r) = if swapped { (y, x) } else { (x, y) };
                            l.min < 0
                                || r.min < 0
                                || le_fact(&mut s, l.rel, i128::from(l.min), r.rel, strict)
                        }
                        Some((Cmp::Eq, _)) => {
                            x.min < 0
                                || y.min < 0
                                || (le_fact(&mut s, x.rel, i128::from(x.min), y.rel, false)
                                    && le_fact(&mut s, y.rel, i128::from(y.min), x.rel, false))
                        }
                        _ => true,
                    };
                    out[k] = ok.then_some(s);
                }
                let [fall, taken] = out;
                Ok((fall, taken))
            }
            (Value::Stack { frame: f, .. }, Value::Stack { frame: g, .. })
                if f == g
                    && wide
                    && !matches!(
                        code,
                        jmp::JSET | jmp::JSGT | jmp::JSGE | jmp::JSLT | jmp::JSLE
                    ) =>
            {
                Ok((Some(st.clone()), Some(st)))
            }
            _ => Err(bad),
        }
    }

    fn scalar_cond(
        &mut self,
        st: State,
        i: Insn,
        a: Scalar,
        b: Scalar,
    ) -> Res<(Option<State>, Option<State>)> {
        let wide = i.class() == class::JMP;
        let code = i.code();
        let signed = matches!(code, jmp::JSGT | jmp::JSGE | jmp::JSLT | jmp::JSLE);
        // What the comparison compares: the registers themselves, or for
        // JMP32 their low halves (see `view`).
        let (va, ka) = view(&a, wide, signed);
        let (vb, kb) = view(&b, wide, signed);
        let mut out = [None, None];
        let mut st = Some(st);
        for (k, taken) in [false, true].into_iter().enumerate() {
            let Some(mut s) = (if k == 0 { st.clone() } else { st.take() }) else {
                continue;
            };
            let Some((cmp, swapped)) = branch_relation(code, taken) else {
                out[k] = Some(s);
                continue;
            };
            let (x, y) = if swapped { (vb, va) } else { (va, vb) };
            let Some((x2, y2)) = scalar::refine(cmp, &x, &y) else {
                continue;
            };
            let (va2, vb2) = if swapped { (y2, x2) } else { (x2, y2) };
            let (Some(a2), Some(b2)) = (unview(&a, &va2, ka), unview(&b, &vb2, kb)) else {
                continue;
            };
            s.set_reg(i.dst, Value::Scalar(a2));
            if i.is_reg_source() {
                s.set_reg(i.src, Value::Scalar(b2));
            }
            let Some(a2) = settle(&mut s, i.dst, a2) else {
                continue;
            };
            let b2 = if i.is_reg_source() {
                settle(&mut s, i.src, b2)
            } else {
                Some(b2)
            };
            let Some(b2) = b2 else { continue };
            let mut ok = s.propagate(&Value::Scalar(a2)) && s.propagate(&Value::Scalar(b2));
            // The comparison orders the registers' values (as unbounded
            // integers, which is what packet-length facts speak of) when
            // each register equals what was compared, and, for a signed
            // comparison, both are non-negative on this branch.
            let exact =
                ka.exact(&va2) && kb.exact(&vb2) && (!signed || (va2.smin >= 0 && vb2.smin >= 0));
            let (x2, y2) = if swapped { (b2, a2) } else { (a2, b2) };
            ok = ok
                && (!exact
                    || match cmp {
                        Cmp::Ult(strict) | Cmp::Slt(strict) => {
                            le_fact(&mut s, x2.rel, i128::from(x2.umin), y2.rel, strict)
                        }
                        Cmp::Eq => {
                            le_fact(&mut s, x2.rel, i128::from(x2.umin), y2.rel, false)
                                && le_fact(&mut s, y2.rel, i128::from(y2.umin), x2.rel, false)
                        }
                        _ => true,
                    });
            if ok {
                out[k] = Some(s);
            }
        }
        let [fall, taken] = out;
        Ok((fall, taken))
    }

    // ----- calls -----------------------------------------------------------

    fn local_call(&mut self, pc: usize, mut st: State, i: Insn) -> Res<Option<State>> {
        let target = (pc as i64 + 1 + i64::from(i.imm)) as usize;
        let callee = self.cfg.func_of[target];
        if st.frames.iter().any(|f| f.func == callee) {
            return Err(VerifyError::Recursion { pc, target });
        }
        let depth = st.frames.len();
        if depth >= MAX_CALL_DEPTH {
            return Err(VerifyError::CallDepth {
                pc,
                depth: depth + 1,
            });
        }
        self.max_depth = self.max_depth.max(depth + 1);
        let mut frame = Frame::new(callee, depth as u8);
        frame.regs[1..=5].copy_from_slice(&st.cur().regs[1..=5]);
        st.frames.push(frame);
        let Some(mut ex) = self.run_function(callee, st)? else {
            return Ok(None);
        };
        let r0 = ex.reg(0);
        ex.frames.pop();
        // Pointers into the finished frame may have been stored in a
        // caller's stack; they dangle now.
        for f in &mut ex.frames {
            for s in f.stack.iter_mut() {
                if matches!(s.spill, Value::Stack { frame, .. } if frame as usize == depth) {
                    *s = Slot::EMPTY;
                }
            }
        }
        ex.set_reg(0, r0);
        for r in 1..=5 {
            ex.set_reg(r, Value::Uninit);
        }
        Ok(Some(ex))
    }

    fn map_arg(&self, pc: usize, st: &State, reg: u8) -> Res<u32> {
        match self.read(pc, st, reg)? {
            Value::MapRef(m) => Ok(m),
            _ => Err(VerifyError::BadHelperArg {
                pc,
                arg: reg,
                expected: "a map reference (lddw map)",
            }),
        }
    }

    /// Checks that register `reg` points at `len` readable, initialised
    /// bytes that hold no pointer.
    fn mem_arg(&mut self, pc: usize, st: &State, reg: u8, len: u64) -> Res<()> {
        match self.read(pc, st, reg)? {
            Value::Stack { frame, off } => {
                if len == 0 {
                    return Ok(());
                }
                let (a, b) = self.stack_range(pc, st, frame, &off, 0, len)?;
                self.check_stack_bytes(pc, st, frame, a, b, Some(reg))
            }
            Value::Packet(o) => {
                if len == 0 {
                    return Ok(());
                }
                self.check_packet(pc, st, &o, 0, len)
            }
            Value::MapPtr { nullable: true, .. } => Err(VerifyError::NullableDeref { pc, reg }),
            Value::MapPtr { map, off, .. } => {
                if len == 0 {
                    return Ok(());
                }
                self.check_map(pc, map, &off, 0, len)
            }
            _ => Err(VerifyError::BadHelperArg {
                pc,
                arg: reg,
                expected: "a pointer to readable memory",
            }),
        }
    }

    /// Records what this visit of helper call `pc` proved (after the
    /// arguments were checked).
    fn note_site(&mut self, pc: usize, st: &State, id: i32, map: Option<u32>, mem_args: &[u8]) {
        let plain_args = mem_args
            .iter()
            .all(|&r| matches!(st.reg(r), Value::Stack { .. } | Value::Packet(_)));
        if id == helper::MAP_LOOKUP_ELEM {
            self.lookups += 1;
        }
        let site = HelperSite {
            pc,
            helper: id,
            map,
            plain_args,
        };
        self.sites
            .entry(pc)
            .and_modify(|s| {
                if s.map != map {
                    s.map = None;
                }
                s.plain_args &= plain_args;
            })
            .or_insert(site);
    }

    fn helper_call(&mut self, pc: usize, st: &mut State, id: i32) -> Res<()> {
        let (map, mem_args): (Option<u32>, &[u8]) = match id {
            helper::MAP_LOOKUP_ELEM | helper::MAP_DELETE_ELEM => {
                (Some(self.map_arg(pc, st, 1)?), &[2])
            }
            helper::MAP_UPDATE_ELEM => (Some(self.map_arg(pc, st, 1)?), &[2, 3]),
            helper::HASH => (None, &[1]),
            _ => (None, &[]),
        };
        let r0 = match id {
            helper::MAP_LOOKUP_ELEM => {
                let m = self.map_arg(pc, st, 1)?;
                self.mem_arg(pc, st, 2, u64::from(self.maps[m as usize].key_size))?;
                Value::MapPtr {
                    map: m,
                    off: Off::constant(0),
                    nullable: true,
                    id: self.fresh(),
                }
            }
            helper::MAP_UPDATE_ELEM => {
                let m = self.map_arg(pc, st, 1)?;
                let def = &self.maps[m as usize];
                let (ks, vs) = (u64::from(def.key_size), u64::from(def.value_size));
                self.mem_arg(pc, st, 2, ks)?;
                self.mem_arg(pc, st, 3, vs)?;
                match st.reg(4) {
                    Value::Uninit => {
                        // Oko's three-argument calls: the runtime passes 0.
                        self.zero_flags.insert(pc);
                    }
                    Value::Scalar(_) => {}
                    _ => {
                        return Err(VerifyError::BadHelperArg {
                            pc,
                            arg: 4,
                            expected: "scalar flags (or never written)",
                        });
                    }
                }
                self.named_value(Scalar::unknown())
            }
            helper::MAP_DELETE_ELEM => {
                let m = self.map_arg(pc, st, 1)?;
                self.mem_arg(pc, st, 2, u64::from(self.maps[m as usize].key_size))?;
                self.named_value(Scalar::unknown())
            }
            helper::KTIME_GET_NS => self.named_value(Scalar::unknown()),
            helper::HASH => {
                let len = match self.read(pc, st, 2)? {
                    Value::Scalar(s) if s.umax <= MAX_HASH_LEN => s.umax,
                    _ => {
                        return Err(VerifyError::BadHelperArg {
                            pc,
                            arg: 2,
                            expected: "a bounded length",
                        });
                    }
                };
                self.mem_arg(pc, st, 1, len)?;
                self.named_value(Scalar::urange(0, u64::from(u32::MAX)))
            }
            helper::GET_PRANDOM_U32 => self.named_value(Scalar::urange(0, u64::from(u32::MAX))),
            _ => return Err(VerifyError::UnknownHelper { pc, id }),
        };
        self.helpers.insert(id);
        self.note_site(pc, st, id, map, mem_args);
        st.set_reg(0, r0);
        for r in 1..=5 {
            st.set_reg(r, Value::Uninit);
        }
        Ok(())
    }
}

/// The offset of a pointer into memory.
fn ptr_off(v: &Value) -> Option<Off> {
    match v {
        Value::Packet(o) | Value::Stack { off: o, .. } | Value::MapPtr { off: o, .. } => Some(*o),
        _ => None,
    }
}

/// How the operand of a comparison relates to the register it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ViewKind {
    /// The comparison sees the register's value.
    Same,
    /// A signed JMP32 comparison of a register below 2^32 that may have bit
    /// 31 set: it sees the low half sign-extended, which is the register
    /// where non-negative and the register minus 2^32 elsewhere.
    Low32Signed,
    /// The comparison sees the low half of a register that may have high
    /// bits: it says nothing about the register.
    Opaque,
}

impl ViewKind {
    /// True when the register equals the compared value, knowing that the
    /// compared value lies in `v`.
    fn exact(self, v: &Scalar) -> bool {
        match self {
            ViewKind::Same => true,
            ViewKind::Low32Signed => v.smin >= 0,
            ViewKind::Opaque => false,
        }
    }
}

/// The value a comparison compares for register value `a`: all of it for
/// 64-bit comparisons; for JMP32 ones its low 32 bits, zero-extended for
/// unsigned comparisons and sign-extended for signed ones.
fn view(a: &Scalar, wide: bool, signed: bool) -> (Scalar, ViewKind) {
    const HALF: i64 = 1 << 31;
    if wide {
        return (*a, ViewKind::Same);
    }
    if !signed {
        return if a.fits_u32() {
            (*a, ViewKind::Same)
        } else {
            (Scalar::urange(0, u64::from(u32::MAX)), ViewKind::Opaque)
        };
    }
    if a.smin >= -HALF && a.smax < HALF {
        // Already a sign-extended 32-bit value.
        return (*a, ViewKind::Same);
    }
    if a.fits_u32() {
        // Not below 2^31 (that is the case above): either all of it has bit
        // 31 set, which the view shifts down by 2^32, or it straddles 2^31.
        let v = if a.umin >= HALF as u64 {
            Scalar::srange(a.umin as i64 - 2 * HALF, a.umax as i64 - 2 * HALF)
        } else {
            Scalar::srange(-HALF, HALF - 1)
        };
        return (v, ViewKind::Low32Signed);
    }
    (Scalar::srange(-HALF, HALF - 1), ViewKind::Opaque)
}

/// The register values `a` whose view (see [`view`]) lies in `v`; `None`
/// when there is none.
fn unview(a: &Scalar, v: &Scalar, kind: ViewKind) -> Option<Scalar> {
    const TWO32: i64 = 1 << 32;
    match kind {
        // The view is the register, narrowed.
        ViewKind::Same => Some(*v),
        ViewKind::Opaque => Some(*a),
        ViewKind::Low32Signed => {
            let mut r = *a;
            let ok = if v.smin >= 0 {
                r.meet_u(v.smin as u64, v.smax as u64)
            } else if v.smax < 0 {
                r.meet_u((v.smin + TWO32) as u64, (v.smax + TWO32) as u64)
            } else {
                true
            };
            ok.then_some(r)
        }
    }
}

/// After a comparison narrowed register `reg` to `v`: pins its link down
/// (see [`scalar::tighten`]), turns a link that became exact into the
/// value's relation (unifying symbols when the value already had one), and
/// records what the link's range says about the packet length. Returns the
/// register's value afterwards; `None` when the path is infeasible.
fn settle(st: &mut State, reg: u8, v: Scalar) -> Option<Scalar> {
    let mut v = scalar::tighten(&v)?;
    let exact = match v.link {
        Some(Link::Signed(x)) if v.smin >= 0 => x.as_rel(),
        _ => None,
    };
    let old = v.rel;
    if old.is_none() {
        v.rel = exact;
    }
    st.set_reg(reg, Value::Scalar(v));
    if let (Some(r), Some(x)) = (old, exact)
        && r != x
    {
        st.unify(r, x);
    }
    if let Value::Scalar(w) = st.reg(reg) {
        v = w;
    }
    let Some((aff, lo, hi)) = scalar::link_range(&v) else {
        return Some(v);
    };
    // aff = pos - neg + c lies in [lo, hi]. When `pos` is the length:
    // len >= neg + (lo - c); when `neg` is: len >= pos + (c - hi).
    let len = Some(Rel::new(LEN, 0));
    let sides = [
        (aff.pos, aff.neg, i128::from(lo) - i128::from(aff.c)),
        (aff.neg, aff.pos, i128::from(aff.c) - i128::from(hi)),
    ];
    for (this, other, d) in sides {
        if this != Some(LEN) {
            continue;
        }
        let Ok(d) = i64::try_from(d) else { continue };
        let lhs_min = match other {
            None => i128::from(d),
            Some(_) => i128::from(i64::MIN),
        };
        let lhs = Rel::new(other.unwrap_or(ZERO), d);
        if !le_fact(st, Some(lhs), lhs_min, len, false) {
            return None;
        }
    }
    Some(v)
}

/// The relation of `a + b` (or `a - b`) when `b` is a constant and the
/// operation provably does not wrap.
fn add_rel(a: &Scalar, b: &Scalar, wide: bool, sub: bool) -> Option<Rel> {
    let r = a.rel?;
    let c = b.as_const()?;
    let c: i128 = if wide {
        i128::from(c as i64)
    } else {
        if !a.fits_u32() {
            return None;
        }
        i128::from(c as u32 as i32)
    };
    let c = if sub { -c } else { c };
    let limit = if wide {
        i128::from(u64::MAX)
    } else {
        i128::from(u32::MAX)
    };
    if i128::from(a.umin) + c < 0 || i128::from(a.umax) + c > limit {
        return None;
    }
    let d = i128::from(r.delta) + c;
    i64::try_from(d).ok().map(|d| Rel::new(r.sym, d))
}

/// Records what `lhs <= rhs` (or `<` when `strict`) says about the packet
/// length, when `rhs` is the length or a quantity a fact bounds by it
/// (`len >= rhs.sym + k`: then `lhs + strict <= rhs <= len - k + rhs.delta`).
/// The second case is what makes `end = min(ip + tot_len, end)` usable
/// after the two ends were joined into one symbol. `lhs_min` is the smallest
/// value `lhs` can take. False when the length cannot satisfy it
/// (infeasible).
fn le_fact(
    st: &mut State,
    lhs: Option<Rel>,
    lhs_min: i128,
    rhs: Option<Rel>,
    strict: bool,
) -> bool {
    let Some(r) = rhs else { return true };
    if r.sym == ZERO {
        // A constant upper bound says nothing about the length.
        return true;
    }
    let Some(k) = st.fact(r.sym) else {
        return true;
    };
    // len >= lhs + strict + k - r.delta
    let shift = i128::from(strict) + i128::from(k) - i128::from(r.delta);
    if let Some(l) = lhs
        && l.sym != LEN
        && let Ok(c) = i64::try_from(i128::from(l.delta) + shift)
    {
        st.add_fact(l.sym, c);
    }
    let c = lhs_min + shift;
    if c <= 0 {
        return true;
    }
    if c > i128::from(MAX_PACKET_LEN) {
        return false;
    }
    st.add_fact(ZERO, c as i64);
    st.narrow_sym(LEN, c, i128::from(MAX_PACKET_LEN))
}
