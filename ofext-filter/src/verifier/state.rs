//! Abstract machine state: register values, per-frame stacks, and the
//! packet-length facts; plus the join used where control-flow paths meet.

use super::scalar::{LEN, Link, Rel, Scalar, Sym, ZERO};
use crate::isa::{NUM_REGS, STACK_SIZE};

/// Stack slots of 8 bytes per frame.
pub(super) const SLOTS: usize = STACK_SIZE / 8;

/// Most facts kept per state (older ones are dropped, which is sound).
const MAX_FACTS: usize = 64;

/// A pointer offset: a signed range plus an optional exact relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Off {
    pub(super) min: i64,
    pub(super) max: i64,
    pub(super) rel: Option<Rel>,
}

impl Off {
    pub(super) fn constant(v: i64) -> Self {
        Self {
            min: v,
            max: v,
            rel: Some(Rel::new(ZERO, v)),
        }
    }

    pub(super) fn as_const(&self) -> Option<i64> {
        (self.min == self.max).then_some(self.min)
    }
}

/// The abstract value of a register or of a spilled stack slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    /// Never written on any path that reaches here (or clobbered by a
    /// helper call): unreadable.
    Uninit,
    /// Written on some paths but not others, or with values of different
    /// kinds on paths that merged: unreadable.
    Unusable,
    /// A number.
    Scalar(Scalar),
    /// Pointer into the packet at `off` from its first byte.
    Packet(Off),
    /// Pointer into the stack of call frame `frame`, `off` from its top.
    Stack { frame: u8, off: Off },
    /// Pointer into a value of map `map` (or null while `nullable`); `id`
    /// names the lookup that produced it, so a null check on one copy
    /// applies to all.
    MapPtr {
        map: u32,
        off: Off,
        nullable: bool,
        id: Sym,
    },
    /// A map reference from `lddw src=PSEUDO_MAP_FD`: only usable as a helper
    /// argument.
    MapRef(u32),
}

impl Value {
    pub(super) fn is_pointer(&self) -> bool {
        !matches!(self, Value::Uninit | Value::Unusable | Value::Scalar(_))
    }

    /// The relation carried by the value (scalar value or pointer offset).
    pub(super) fn rel(&self) -> Option<Rel> {
        match self {
            Value::Scalar(s) => s.rel,
            Value::Packet(o) | Value::Stack { off: o, .. } | Value::MapPtr { off: o, .. } => o.rel,
            _ => None,
        }
    }
}

/// One 8-byte stack slot. `init` has bit `i` set when byte `i` (from the
/// slot's lowest address) holds a readable value. `spill` is not `Uninit`
/// only when the whole slot was written by one 8-byte store of a register
/// (or immediate); pointers live on the stack only that way, so a slot whose
/// `spill` is a pointer has `init == 0xff` and no other slot holds pointer
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    pub(super) init: u8,
    pub(super) spill: Value,
}

impl Slot {
    pub(super) const EMPTY: Self = Self {
        init: 0,
        spill: Value::Uninit,
    };
}

/// One call frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    pub(super) regs: [Value; NUM_REGS],
    pub(super) stack: Box<[Slot; SLOTS]>,
    /// Index of the function this frame runs.
    pub(super) func: usize,
}

impl Frame {
    pub(super) fn new(func: usize, depth: u8) -> Self {
        let mut regs = [Value::Uninit; NUM_REGS];
        regs[10] = Value::Stack {
            frame: depth,
            off: Off::constant(0),
        };
        Self {
            regs,
            stack: Box::new([Slot::EMPTY; SLOTS]),
            func,
        }
    }
}

/// The whole abstract state at one program point.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct State {
    pub(super) frames: Vec<Frame>,
    /// Facts `len >= sym + c`, at most one per symbol; the `ZERO` fact is the
    /// proven minimum packet length and is always present.
    pub(super) facts: Vec<(Sym, i64)>,
}

impl State {
    pub(super) fn cur(&self) -> &Frame {
        // Invariant: a state always has at least one frame.
        &self.frames[self.frames.len() - 1]
    }

    pub(super) fn cur_mut(&mut self) -> &mut Frame {
        let n = self.frames.len();
        &mut self.frames[n - 1]
    }

    pub(super) fn reg(&self, r: u8) -> Value {
        self.cur().regs[r as usize]
    }

    pub(super) fn set_reg(&mut self, r: u8, v: Value) {
        self.cur_mut().regs[r as usize] = v;
    }

    /// The proven minimum packet length.
    pub(super) fn checked_len(&self) -> i64 {
        self.fact(ZERO).unwrap_or(0)
    }

    /// The fact `len >= s + c`, when known; the length itself always has
    /// `len >= len + 0`.
    pub(super) fn fact(&self, s: Sym) -> Option<i64> {
        if s == LEN {
            return Some(0);
        }
        self.facts.iter().find(|(f, _)| *f == s).map(|&(_, c)| c)
    }

    /// Records `len >= sym + c`.
    pub(super) fn add_fact(&mut self, s: Sym, c: i64) {
        if s == LEN {
            return;
        }
        if let Some(e) = self.facts.iter_mut().find(|(f, _)| *f == s) {
            e.1 = e.1.max(c);
            return;
        }
        if self.facts.len() >= MAX_FACTS {
            // Drop the oldest non-ZERO fact.
            if let Some(i) = self.facts.iter().position(|(f, _)| *f != ZERO) {
                self.facts.remove(i);
            }
        }
        self.facts.push((s, c));
    }

    /// Every value slot in the state (registers and spills of all frames).
    pub(super) fn for_each_value(&mut self, mut f: impl FnMut(&mut Value) -> bool) -> bool {
        for fr in &mut self.frames {
            for v in fr.regs.iter_mut() {
                if !f(v) {
                    return false;
                }
            }
            for s in fr.stack.iter_mut() {
                if !f(&mut s.spill) {
                    return false;
                }
            }
        }
        true
    }

    /// Knowing that symbol `s` lies in `[lo, hi]`, narrows every value
    /// related to it. False when some value becomes empty (infeasible path).
    pub(super) fn narrow_sym(&mut self, s: Sym, lo: i128, hi: i128) -> bool {
        if s == ZERO {
            return lo <= 0 && 0 <= hi;
        }
        self.for_each_value(|v| match v {
            Value::Scalar(sc) => match sc.rel {
                Some(r) if r.sym == s => {
                    let d = i128::from(r.delta);
                    let l = (lo + d).clamp(0, i128::from(u64::MAX)) as u64;
                    let h = (hi + d).clamp(0, i128::from(u64::MAX)) as u64;
                    if lo + d > i128::from(u64::MAX) || hi + d < 0 {
                        return false;
                    }
                    sc.meet_u(l, h)
                }
                _ => true,
            },
            Value::Packet(o) | Value::Stack { off: o, .. } | Value::MapPtr { off: o, .. } => {
                match o.rel {
                    Some(r) if r.sym == s => {
                        let d = i128::from(r.delta);
                        let l = (lo + d).max(i128::from(o.min));
                        let h = (hi + d).min(i128::from(o.max));
                        if l > h {
                            return false;
                        }
                        o.min = l as i64;
                        o.max = h as i64;
                        true
                    }
                    _ => true,
                }
            }
            _ => true,
        })
    }

    /// Narrows every value related to the symbol of `v` to what `v`'s own
    /// range implies.
    pub(super) fn propagate(&mut self, v: &Value) -> bool {
        let Some(r) = v.rel() else { return true };
        let (lo, hi) = match v {
            Value::Scalar(s) => (i128::from(s.umin), i128::from(s.umax)),
            Value::Packet(o) | Value::Stack { off: o, .. } | Value::MapPtr { off: o, .. } => {
                (i128::from(o.min), i128::from(o.max))
            }
            _ => return true,
        };
        let d = i128::from(r.delta);
        self.narrow_sym(r.sym, lo - d, hi - d)
    }

    /// Records that `a` and `b` are equal (one value has both relations):
    /// one of the two symbols is rewritten in terms of the other everywhere,
    /// facts included. The packet length and the constant are never the
    /// rewritten one.
    pub(super) fn unify(&mut self, a: Rel, b: Rel) {
        let fixed = |s: Sym| s == ZERO || s == LEN;
        let (from, to) = match (fixed(a.sym), fixed(b.sym)) {
            (_, false) if a.sym != b.sym => (b, a),
            (false, true) => (a, b),
            _ => return,
        };
        // from.sym == to.sym + shift
        let Some(shift) = to.delta.checked_sub(from.delta) else {
            return;
        };
        let subst = |r: &mut Option<Rel>| {
            if let Some(x) = *r
                && x.sym == from.sym
            {
                *r = x.delta.checked_add(shift).map(|d| Rel::new(to.sym, d));
            }
        };
        self.for_each_value(|v| {
            match v {
                Value::Scalar(sc) => {
                    subst(&mut sc.rel);
                    sc.link = sc.link.and_then(|l| l.subst(from.sym, to.sym, shift));
                }
                Value::Packet(o) | Value::Stack { off: o, .. } | Value::MapPtr { off: o, .. } => {
                    subst(&mut o.rel)
                }
                _ => {}
            }
            true
        });
        let mut moved = Vec::new();
        self.facts.retain(|&(s, c)| {
            if s == from.sym {
                moved.push(c);
                false
            } else {
                true
            }
        });
        for c in moved {
            if let Some(c) = c.checked_add(shift) {
                if to.sym == ZERO {
                    // len >= 0 + c: keep the proven minimum in range.
                    if c > 0 {
                        self.add_fact(ZERO, c);
                    }
                } else {
                    self.add_fact(to.sym, c);
                }
            }
        }
    }

    /// Applies the outcome of a null check of lookup `id`: `null` turns
    /// every copy into the scalar 0, otherwise every copy becomes non-null.
    pub(super) fn resolve_null(&mut self, id: Sym, null: bool) {
        self.for_each_value(|v| {
            if let Value::MapPtr {
                id: i, nullable, ..
            } = v
                && *i == id
            {
                if null {
                    *v = Value::Scalar(Scalar::constant(0));
                } else {
                    *nullable = false;
                }
            }
            true
        });
    }
}

/// Symbol renaming while joining two states: a pair of relations on the two
/// sides with symbols `(a, b)` and delta difference `k` becomes the joined
/// symbol `j`, defined as `a` on the left and `b - k` on the right, so two
/// registers that were equal (up to a constant) on both sides stay related.
struct Renames<'a> {
    map: Vec<((Sym, Sym, i64), Sym)>,
    next: &'a mut u32,
}

impl Renames<'_> {
    fn fresh(&mut self) -> Sym {
        let s = Sym(*self.next);
        *self.next = self.next.saturating_add(1);
        s
    }

    fn rel(&mut self, a: Option<Rel>, b: Option<Rel>) -> Option<Rel> {
        match (a, b) {
            (Some(x), Some(y)) if x == y => Some(x),
            (Some(x), Some(y)) => {
                let k = x.delta.checked_sub(y.delta)?;
                let key = (x.sym, y.sym, k);
                let j = match self.map.iter().find(|(kk, _)| *kk == key) {
                    Some(&(_, j)) => j,
                    None => {
                        let j = self.fresh();
                        self.map.push((key, j));
                        j
                    }
                };
                Some(Rel::new(j, x.delta))
            }
            _ => Some(Rel::new(self.fresh(), 0)),
        }
    }

    fn off(&mut self, a: &Off, b: &Off) -> Off {
        Off {
            min: a.min.min(b.min),
            max: a.max.max(b.max),
            rel: self.rel(a.rel, b.rel),
        }
    }

    fn value(&mut self, a: &Value, b: &Value) -> Value {
        match (a, b) {
            (Value::Scalar(x), Value::Scalar(y)) => {
                let mut s = Scalar::hull(x, y);
                // Symbols are fixed values, so the same one on both sides
                // means the same thing after the join.
                s.link = Link::join(x.link, y.link);
                s.rel = match s.as_const() {
                    // The same constant on both sides describes itself.
                    Some(c) => i64::try_from(c).ok().map(|d| Rel::new(ZERO, d)),
                    None => self.rel(x.rel, y.rel),
                };
                Value::Scalar(s)
            }
            (Value::Packet(x), Value::Packet(y)) => Value::Packet(self.off(x, y)),
            (
                Value::Stack { frame: f, off: x },
                Value::Stack {
                    frame: g, off: y, ..
                },
            ) if f == g => Value::Stack {
                frame: *f,
                off: self.off(x, y),
            },
            (
                Value::MapPtr {
                    map: m,
                    off: x,
                    nullable: n1,
                    id: i1,
                },
                Value::MapPtr {
                    map: m2,
                    off: y,
                    nullable: n2,
                    id: i2,
                },
            ) if m == m2 => {
                let id = match self.rel(Some(Rel::new(*i1, 0)), Some(Rel::new(*i2, 0))) {
                    Some(r) => r.sym,
                    None => self.fresh(),
                };
                Value::MapPtr {
                    map: *m,
                    off: self.off(x, y),
                    nullable: *n1 || *n2,
                    id,
                }
            }
            (Value::MapRef(x), Value::MapRef(y)) if x == y => Value::MapRef(*x),
            (Value::Uninit, Value::Uninit) => Value::Uninit,
            _ => Value::Unusable,
        }
    }

    fn slot(&mut self, a: &Slot, b: &Slot) -> Slot {
        let init = a.init & b.init;
        match (a.spill, b.spill) {
            (Value::Uninit, Value::Uninit) => Slot {
                init,
                spill: Value::Uninit,
            },
            (x, y) if !x.is_pointer() && !y.is_pointer() => {
                // Scalar bytes on both sides (spilled or not).
                let spill = match (x, y) {
                    (Value::Scalar(_), Value::Scalar(_)) => self.value(&x, &y),
                    _ => Value::Uninit,
                };
                Slot { init, spill }
            }
            (x, y) => {
                let v = self.value(&x, &y);
                if v.is_pointer() {
                    Slot {
                        init: 0xff,
                        spill: v,
                    }
                } else {
                    // Pointer bytes on one side only: unreadable.
                    Slot::EMPTY
                }
            }
        }
    }
}

/// The least upper bound of two states at the same program point (same call
/// stack). `next` is the fresh-symbol counter.
pub(super) fn join(a: &State, b: &State, next: &mut u32) -> State {
    let mut rn = Renames {
        map: Vec::new(),
        next,
    };
    let frames = a
        .frames
        .iter()
        .zip(&b.frames)
        .map(|(fa, fb)| {
            let mut regs = [Value::Uninit; NUM_REGS];
            for (i, r) in regs.iter_mut().enumerate() {
                *r = rn.value(&fa.regs[i], &fb.regs[i]);
            }
            let mut stack = Box::new([Slot::EMPTY; SLOTS]);
            for (i, s) in stack.iter_mut().enumerate() {
                *s = rn.slot(&fa.stack[i], &fb.stack[i]);
            }
            Frame {
                regs,
                stack,
                func: fa.func,
            }
        })
        .collect();
    // Facts: a symbol kept on both sides keeps min(c); a renamed pair
    // (x, y, k) -> j gives len >= j + min(cx, cy + k), since j = x on the
    // left and j = y - k on the right.
    let mut facts = Vec::new();
    for &(s, ca) in &a.facts {
        if let Some(cb) = b.fact(s) {
            facts.push((s, ca.min(cb)));
        }
    }
    if !facts.iter().any(|(s, _)| *s == ZERO) {
        facts.push((ZERO, 0));
    }
    for &((x, y, k), j) in &rn.map {
        if let (Some(cx), Some(cy)) = (a.fact(x), b.fact(y))
            && let Some(cyk) = cy.checked_add(k)
            && facts.len() < MAX_FACTS
        {
            facts.push((j, cx.min(cyk)));
        }
    }
    State { frames, facts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::scalar::Aff;

    fn base() -> State {
        State {
            frames: vec![Frame::new(0, 0)],
            facts: vec![(ZERO, 0)],
        }
    }

    fn sc(lo: u64, hi: u64, rel: Option<Rel>) -> Value {
        let mut s = Scalar::urange(lo, hi);
        s.rel = rel;
        Value::Scalar(s)
    }

    #[test]
    fn join_keeps_equal_relations_and_links_renamed_ones() {
        let mut a = base();
        let mut b = base();
        let (x, y) = (Sym(10), Sym(20));
        a.set_reg(3, sc(0, 60, Some(Rel::new(x, 0))));
        a.set_reg(4, sc(34, 94, Some(Rel::new(x, 34))));
        a.add_fact(x, 34);
        b.set_reg(3, sc(0, 40, Some(Rel::new(y, 0))));
        b.set_reg(4, sc(34, 74, Some(Rel::new(y, 34))));
        b.add_fact(y, 40);
        let mut next = 100;
        let j = join(&a, &b, &mut next);
        let (Value::Scalar(r3), Value::Scalar(r4)) = (j.reg(3), j.reg(4)) else {
            panic!()
        };
        let (r3, r4) = (r3.rel.unwrap(), r4.rel.unwrap());
        assert_eq!(r3.sym, r4.sym);
        assert_eq!((r3.delta, r4.delta), (0, 34));
        assert_eq!(j.fact(r3.sym), Some(34));
        assert_eq!((r3.delta, r4.delta), (0, 34));
    }

    #[test]
    fn unify_rewrites_relations_links_and_facts() {
        let mut s = base();
        let (t, u) = (Sym(10), Sym(11));
        s.set_reg(3, sc(0, 100, Some(Rel::new(t, 0))));
        s.set_reg(
            4,
            Value::Packet(Off {
                min: 14,
                max: 114,
                rel: Some(Rel::new(t, 14)),
            }),
        );
        let mut linked = Scalar::urange(0, 100);
        linked.link = Some(Link::Signed(
            Aff::of(Rel::new(u, 0))
                .combine(Aff::of(Rel::new(t, 0)), true)
                .unwrap(),
        ));
        s.set_reg(5, Value::Scalar(linked));
        s.add_fact(t, 20);
        // t == len - 14
        s.unify(Rel::new(t, 0), Rel::new(LEN, -14));
        let Value::Scalar(r3) = s.reg(3) else {
            panic!()
        };
        assert_eq!(r3.rel, Some(Rel::new(LEN, -14)));
        let Value::Packet(o) = s.reg(4) else { panic!() };
        assert_eq!(o.rel, Some(Rel::new(LEN, 0)));
        let Value::Scalar(r5) = s.reg(5) else {
            panic!()
        };
        // u - t == u - len + 14
        assert_eq!(
            r5.link,
            Some(Link::Signed(Aff {
                pos: Some(u),
                neg: Some(LEN),
                c: 14
            }))
        );
        // Facts are about other symbols than the length: `len >= t + 20`
        // became one about the length itself and is dropped.
        assert_eq!(s.fact(t), None);
        // Unifying with the constant moves the fact to the minimum length.
        let mut s = base();
        s.add_fact(u, 10);
        s.unify(Rel::new(u, 2), Rel::new(ZERO, 7));
        assert_eq!(s.checked_len(), 15);
    }

    #[test]
    fn join_keeps_equal_links_and_widens_low_half_ranges() {
        let mut a = base();
        let mut b = base();
        let x = Aff::of(Rel::new(LEN, -14));
        let mut p = Scalar::urange(0, u64::from(u32::MAX));
        p.link = Some(Link::Low32 {
            aff: x,
            lo: -14,
            hi: 100,
        });
        let mut q = p;
        q.link = Some(Link::Low32 {
            aff: x,
            lo: 0,
            hi: 200,
        });
        a.set_reg(3, Value::Scalar(p));
        b.set_reg(3, Value::Scalar(q));
        a.set_reg(4, Value::Scalar(p));
        b.set_reg(4, sc(0, 5, None));
        let mut next = 100;
        let j = join(&a, &b, &mut next);
        let (Value::Scalar(r3), Value::Scalar(r4)) = (j.reg(3), j.reg(4)) else {
            panic!()
        };
        assert_eq!(
            r3.link,
            Some(Link::Low32 {
                aff: x,
                lo: -14,
                hi: 200
            })
        );
        assert_eq!(r4.link, None);
    }

    #[test]
    fn join_of_pointer_and_scalar_is_unreadable() {
        let mut a = base();
        let mut b = base();
        a.set_reg(1, Value::Packet(Off::constant(0)));
        b.set_reg(1, sc(0, 0, None));
        a.cur_mut().stack[3] = Slot {
            init: 0xff,
            spill: Value::Packet(Off::constant(0)),
        };
        b.cur_mut().stack[3] = Slot {
            init: 0xff,
            spill: Value::Uninit,
        };
        let mut next = 100;
        let j = join(&a, &b, &mut next);
        assert_eq!(j.reg(1), Value::Unusable);
        assert_eq!(j.cur().stack[3], Slot::EMPTY);
        assert_eq!(j.checked_len(), 0);
    }

    #[test]
    fn narrowing_a_symbol_reaches_copies() {
        let mut s = base();
        let x = Sym(7);
        s.set_reg(3, sc(0, 255, Some(Rel::new(x, 0))));
        s.set_reg(4, sc(14, 269, Some(Rel::new(x, 14))));
        s.set_reg(
            5,
            Value::Packet(Off {
                min: 14,
                max: 269,
                rel: Some(Rel::new(x, 14)),
            }),
        );
        assert!(s.narrow_sym(x, 0, 60));
        let Value::Scalar(r4) = s.reg(4) else {
            panic!()
        };
        assert_eq!((r4.umin, r4.umax), (14, 74));
        let Value::Packet(o) = s.reg(5) else { panic!() };
        assert_eq!((o.min, o.max), (14, 74));
        assert!(!s.narrow_sym(x, 300, 400));
    }
}
