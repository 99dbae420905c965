//! The numeric domain: intervals over 64-bit values, tracked both as
//! unsigned and as signed numbers, plus an optional exact linear relation to a
//! symbolic value.
//!
//! Why both interval kinds: a program can compare a value signed and use it
//! unsigned (or the other way round). Oko's verifier derived an unsigned
//! range from a signed comparison, so `if (x s< 100)` made a negative `x`
//! look like a small offset. Here each comparison only narrows the interval
//! of its own signedness, and the two are reconciled by [`Scalar::sync`] only
//! where that is exact (a signed range that does not cross zero is also an
//! unsigned range, and vice versa).
//!
//! Why the relation: bounds checks in filters compare the packet length with
//! a *variable* expression (`if (len < 14 + ihl*4 + 20)`) and then read at a
//! pointer built from the same expression. An interval per register cannot
//! connect the two; a relation `value == sym + delta` (mathematical integers,
//! no wrap-around) can. The analysis gives every value it cannot name
//! otherwise a fresh symbol, keeps the relation through copies and through
//! additions of constants that provably do not wrap, and records facts
//! `len >= sym + c` when a comparison establishes them.

use crate::isa::alu;

/// A symbolic integer, fixed when created. [`ZERO`] is the constant 0 and
/// [`LEN`] is the packet length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Sym(pub(super) u32);

/// The constant 0: constants are `ZERO + value`.
pub(super) const ZERO: Sym = Sym(0);
/// The packet length.
pub(super) const LEN: Sym = Sym(1);
/// The first symbol the analysis hands out.
pub(super) const FIRST_FRESH: u32 = 2;

/// `value == sym + delta`, exactly (as mathematical integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Rel {
    pub(super) sym: Sym,
    pub(super) delta: i64,
}

impl Rel {
    pub(super) const fn new(sym: Sym, delta: i64) -> Self {
        Self { sym, delta }
    }
}

/// A second, non-linear link of a value to a symbolic one `x` (the relation
/// `rel` is `value == x`): the two intermediate forms of clang's
/// zero- and sign-extension idioms, `x <<= 32; x >>= 32` and
/// `x <<= 32; x s>>= 32`. Each half of an idiom destroys the plain
/// relation; the link carries it over to where it becomes exact again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Link {
    /// `value == x * 2^32`, where `0 <= x < 2^32`.
    Shl32(Rel),
    /// `value == x` when `x < 2^31`, `value == x - 2^32` (as a signed
    /// number) otherwise, where `0 <= x < 2^32`: `x` sign-extended from 32
    /// bits. Exact wherever the value is known non-negative.
    Sext32(Rel),
}

/// An abstract 64-bit scalar. Invariant (after [`Scalar::sync`] returned
/// true): the set of values is non-empty and every concrete value `v`
/// satisfies `umin <= v <= umax`, `smin <= v as i64 <= smax`,
/// `v == rel.sym + rel.delta` when `rel` is set, and what `link` says when
/// it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scalar {
    pub(super) umin: u64,
    pub(super) umax: u64,
    pub(super) smin: i64,
    pub(super) smax: i64,
    pub(super) rel: Option<Rel>,
    pub(super) link: Option<Link>,
}

const U32: u64 = u32::MAX as u64;

/// The smallest all-ones mask covering `x`.
fn mask_upto(x: u64) -> u64 {
    if x == 0 {
        0
    } else {
        u64::MAX >> x.leading_zeros()
    }
}

impl Scalar {
    /// Any value.
    pub(super) const fn unknown() -> Self {
        Self {
            umin: 0,
            umax: u64::MAX,
            smin: i64::MIN,
            smax: i64::MAX,
            rel: None,
            link: None,
        }
    }

    /// The same intervals without relations: for results that equal an
    /// operand but must not claim its relations.
    pub(super) fn bare(&self) -> Self {
        Self {
            rel: None,
            link: None,
            ..*self
        }
    }

    /// Exactly `v`.
    pub(super) fn constant(v: u64) -> Self {
        Self {
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            rel: i64::try_from(v).ok().map(|d| Rel::new(ZERO, d)),
            link: None,
        }
    }

    /// An unsigned range (must be non-empty).
    pub(super) fn urange(lo: u64, hi: u64) -> Self {
        let mut s = Self {
            umin: lo,
            umax: hi,
            ..Self::unknown()
        };
        s.sync();
        s
    }

    /// A signed range (must be non-empty).
    pub(super) fn srange(lo: i64, hi: i64) -> Self {
        let mut s = Self {
            smin: lo,
            smax: hi,
            ..Self::unknown()
        };
        s.sync();
        s
    }

    /// The value when it is known exactly.
    pub(super) fn as_const(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }

    /// Reconciles the signed and unsigned ranges; false when no value is
    /// left (the path is infeasible).
    pub(super) fn sync(&mut self) -> bool {
        for _ in 0..2 {
            if self.smin >= 0 || self.smax < 0 {
                // The signed range lies on one side of zero: it is also an
                // unsigned range.
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if (self.umin as i64) <= (self.umax as i64) {
                // The unsigned range does not cross 2^63.
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if self.umin > self.umax || self.smin > self.smax {
                return false;
            }
        }
        if let Some(c) = self.as_const() {
            match self.rel {
                Some(r) if r.sym != ZERO => {}
                _ => self.rel = i64::try_from(c).ok().map(|d| Rel::new(ZERO, d)),
            }
        }
        true
    }

    /// Intersects with an unsigned range; false when empty.
    pub(super) fn meet_u(&mut self, lo: u64, hi: u64) -> bool {
        self.umin = self.umin.max(lo);
        self.umax = self.umax.min(hi);
        self.sync()
    }

    /// Intersects with a signed range; false when empty.
    pub(super) fn meet_s(&mut self, lo: i64, hi: i64) -> bool {
        self.smin = self.smin.max(lo);
        self.smax = self.smax.min(hi);
        self.sync()
    }

    /// The smallest interval pair holding both (no relation).
    pub(super) fn hull(a: &Self, b: &Self) -> Self {
        Self {
            umin: a.umin.min(b.umin),
            umax: a.umax.max(b.umax),
            smin: a.smin.min(b.smin),
            smax: a.smax.max(b.smax),
            rel: None,
            link: None,
        }
    }

    /// The low 32 bits, as the operand of a 32-bit operation.
    pub(super) fn low32(&self) -> Self {
        if self.umax <= U32 {
            self.bare()
        } else {
            Self::urange(0, U32)
        }
    }

    /// True when every value fits in 32 bits unsigned.
    pub(super) fn fits_u32(&self) -> bool {
        self.umax <= U32
    }
}

/// Byte-swap flavours (`END` opcodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndKind {
    /// ALU `le`: to little endian, i.e. truncation on a little-endian machine.
    Le,
    /// ALU `be`: to big endian, a swap on a little-endian machine.
    Be,
    /// ALU64 `swap`: unconditional swap.
    Swap,
}

/// Concrete byte-swap of width `imm` (16, 32 or 64; the result is
/// zero-extended), little-endian host.
pub(super) fn eval_end(kind: EndKind, imm: i32, a: u64) -> u64 {
    match (kind, imm) {
        (EndKind::Le, 16) => u64::from(a as u16),
        (EndKind::Le, 32) => u64::from(a as u32),
        (EndKind::Le, _) => a,
        (_, 16) => u64::from((a as u16).swap_bytes()),
        (_, 32) => u64::from((a as u32).swap_bytes()),
        (_, _) => a.swap_bytes(),
    }
}

/// Abstract byte-swap.
pub(super) fn end_bounds(kind: EndKind, imm: i32, a: &Scalar) -> Scalar {
    if let Some(v) = a.as_const() {
        return Scalar::constant(eval_end(kind, imm, v));
    }
    let width_mask = match imm {
        16 => 0xffff,
        32 => U32,
        _ => u64::MAX,
    };
    if kind == EndKind::Le && a.umax <= width_mask {
        return a.bare();
    }
    Scalar::urange(0, width_mask)
}

/// Concrete evaluation of an ALU operation other than `END` (RFC 9669
/// semantics). `off` selects signed division/modulo and sign-extending moves.
pub(super) fn eval(code: u8, wide: bool, a: u64, b: u64, off: i16) -> u64 {
    if wide {
        match code {
            alu::ADD => a.wrapping_add(b),
            alu::SUB => a.wrapping_sub(b),
            alu::MUL => a.wrapping_mul(b),
            alu::DIV if b == 0 => 0,
            alu::DIV if off == 1 => (a as i64).wrapping_div(b as i64) as u64,
            alu::DIV => a / b,
            alu::MOD if b == 0 => a,
            alu::MOD if off == 1 => (a as i64).wrapping_rem(b as i64) as u64,
            alu::MOD => a % b,
            alu::OR => a | b,
            alu::AND => a & b,
            alu::XOR => a ^ b,
            alu::LSH => a << (b & 63),
            alu::RSH => a >> (b & 63),
            alu::ARSH => ((a as i64) >> (b & 63)) as u64,
            alu::NEG => a.wrapping_neg(),
            alu::MOV => match off {
                8 => b as i8 as i64 as u64,
                16 => b as i16 as i64 as u64,
                32 => b as i32 as i64 as u64,
                _ => b,
            },
            _ => 0,
        }
    } else {
        let (x, y) = (a as u32, b as u32);
        let r: u32 = match code {
            alu::ADD => x.wrapping_add(y),
            alu::SUB => x.wrapping_sub(y),
            alu::MUL => x.wrapping_mul(y),
            alu::DIV if y == 0 => 0,
            alu::DIV if off == 1 => (x as i32).wrapping_div(y as i32) as u32,
            alu::DIV => x / y,
            alu::MOD if y == 0 => x,
            alu::MOD if off == 1 => (x as i32).wrapping_rem(y as i32) as u32,
            alu::MOD => x % y,
            alu::OR => x | y,
            alu::AND => x & y,
            alu::XOR => x ^ y,
            alu::LSH => x << (y & 31),
            alu::RSH => x >> (y & 31),
            alu::ARSH => ((x as i32) >> (y & 31)) as u32,
            alu::NEG => x.wrapping_neg(),
            alu::MOV => match off {
                8 => y as i8 as i32 as u32,
                16 => y as i16 as i32 as u32,
                _ => y,
            },
            _ => 0,
        };
        u64::from(r)
    }
}

/// Interval result of a 64-bit operation on non-constant operands (the
/// caller folds constants with [`eval`] first). Relations are the caller's.
fn bounds64(code: u8, a: &Scalar, b: &Scalar, off: i16) -> Scalar {
    let full = Scalar::unknown();
    let mut r = full;
    match code {
        alu::ADD => {
            if let (Some(lo), Some(hi)) = (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                r.umin = lo;
                r.umax = hi;
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                r.smin = lo;
                r.smax = hi;
            }
        }
        alu::SUB => {
            if a.umin >= b.umax {
                r.umin = a.umin - b.umax;
                r.umax = a.umax - b.umin;
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                r.smin = lo;
                r.smax = hi;
            }
        }
        alu::MUL => {
            if let Some(hi) = a.umax.checked_mul(b.umax) {
                r.umin = a.umin * b.umin;
                r.umax = hi;
            }
        }
        alu::DIV if off == 0 => {
            if let Some(hi) = a.umax.checked_div(b.umin) {
                r.umin = a.umin / b.umax;
                r.umax = hi;
            } else {
                // Division by zero yields 0; otherwise the quotient is at most a.
                r.umin = 0;
                r.umax = a.umax;
            }
        }
        alu::MOD if off == 0 => {
            if b.umin > a.umax {
                return a.bare();
            }
            r.umin = 0;
            r.umax = if b.umin > 0 {
                a.umax.min(b.umax - 1)
            } else {
                // Modulo by zero leaves a unchanged.
                a.umax
            };
        }
        alu::AND => {
            r.umin = 0;
            r.umax = a.umax.min(b.umax);
        }
        alu::OR => {
            r.umin = a.umin.max(b.umin);
            r.umax = mask_upto(a.umax.max(b.umax));
        }
        alu::XOR => {
            r.umin = 0;
            r.umax = mask_upto(a.umax.max(b.umax));
        }
        alu::LSH if b.umax <= 63 && a.umax.leading_zeros() as u64 >= b.umax => {
            r.umin = a.umin << b.umin;
            r.umax = a.umax << b.umax;
        }
        alu::RSH => {
            if b.umax <= 63 {
                r.umin = a.umin >> b.umax;
                r.umax = a.umax >> b.umin;
            } else {
                r.umin = 0;
                r.umax = a.umax;
            }
        }
        alu::ARSH if b.umax <= 63 => {
            let (lo, hi) = (b.umin, b.umax);
            r.smin = (a.smin >> lo).min(a.smin >> hi);
            r.smax = (a.smax >> lo).max(a.smax >> hi);
        }
        alu::NEG if a.smin > i64::MIN => {
            r.smin = -a.smax;
            r.smax = -a.smin;
        }
        alu::MOV => match off {
            0 => return b.bare(),
            8 | 16 | 32 => {
                let half = 1i64 << (off - 1);
                if b.umax < half as u64 {
                    // Sign bit of the source width is clear: value unchanged.
                    return b.bare();
                }
                r.smin = -half;
                r.smax = half - 1;
            }
            _ => {}
        },
        _ => {}
    }
    if !r.sync() {
        // Cannot happen for sound transfer functions on non-empty inputs;
        // fall back to "anything" rather than claim an empty set.
        return full;
    }
    r
}

/// The abstract result of an ALU operation, without any relation (the
/// analysis adds those). `a` is the destination's old value, `b` the source
/// operand (the immediate already widened as the ISA says).
pub(super) fn alu_bounds(code: u8, wide: bool, a: &Scalar, b: &Scalar, off: i16) -> Scalar {
    let operands_const = match code {
        alu::NEG => a.as_const().map(|x| (x, 0)),
        alu::MOV => b.as_const().map(|y| (0, y)),
        _ => a.as_const().zip(b.as_const()),
    };
    if let Some((x, y)) = operands_const {
        return Scalar::constant(eval(code, wide, x, y, off));
    }
    if wide {
        return bounds64(code, a, b, off);
    }
    let (a32, b32) = (a.low32(), b.low32());
    let unsigned_op = matches!(
        code,
        alu::ADD | alu::SUB | alu::MUL | alu::OR | alu::AND | alu::XOR | alu::RSH | alu::LSH
    ) || (matches!(code, alu::DIV | alu::MOD) && off == 0)
        || (code == alu::MOV && off == 0);
    if unsigned_op {
        let shift_ok = !matches!(code, alu::LSH | alu::RSH) || b32.umax <= 31;
        if shift_ok {
            let r = bounds64(code, &a32, &b32, off);
            if r.fits_u32() {
                return r;
            }
        }
        return Scalar::urange(0, U32);
    }
    if code == alu::MOV && (off == 8 || off == 16) && b32.umax < (1u64 << (off - 1)) {
        return b32.bare();
    }
    Scalar::urange(0, U32)
}

/// True when the operation leaves every value of `a` unchanged, so the
/// result may keep `a`'s relations: clang masks and zero-extends lengths and
/// offsets it already knows to be small (`x & 0xffff` on a 16-bit load,
/// `w2 = w2`), and a bounds check made before such an operation must still
/// apply after it. `b` is the source operand as for [`alu_bounds`].
pub(super) fn is_identity(code: u8, wide: bool, a: &Scalar, b: &Scalar, off: i16) -> bool {
    // A 32-bit operation keeps the low half only: never an identity on a
    // value that may have high bits.
    if !wide && !a.fits_u32() {
        return false;
    }
    let Some(c) = b.as_const() else {
        // x % y == x when y > x, whatever y is.
        return code == alu::MOD && off == 0 && b.umin > a.umax && (wide || b.fits_u32());
    };
    // The operand as the operation sees it.
    let c = if wide { c } else { c & U32 };
    let shift = c & if wide { 63 } else { 31 };
    match code {
        // Every bit that may be set in `a` is kept.
        alu::AND => mask_upto(a.umax) & !c == 0,
        alu::OR | alu::XOR | alu::ADD | alu::SUB => c == 0,
        alu::LSH | alu::RSH | alu::ARSH => shift == 0,
        alu::MUL => c == 1,
        // Signed or unsigned, division by 1 is the identity.
        alu::DIV => c == 1,
        alu::MOD => off == 0 && c > a.umax,
        _ => false,
    }
}

/// How a conditional jump compares its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    /// `a & b != 0`
    Set,
    /// unsigned `<` / `<=`
    Ult(bool),
    /// signed `<` / `<=`
    Slt(bool),
}

/// The relation a branch establishes between `a` and `b` (after swapping
/// the operands of `>`-style comparisons): `(cmp, swapped)`.
pub(super) fn branch_relation(code: u8, taken: bool) -> Option<(Cmp, bool)> {
    use crate::isa::jmp;
    // (relation when taken, relation when not taken); `true` in the second
    // member means the operands are swapped: (b OP a).
    let r = match (code, taken) {
        (jmp::JEQ, true) | (jmp::JNE, false) => (Cmp::Eq, false),
        (jmp::JEQ, false) | (jmp::JNE, true) => (Cmp::Ne, false),
        (jmp::JSET, true) => (Cmp::Set, false),
        (jmp::JSET, false) => return None,
        (jmp::JGT, true) => (Cmp::Ult(true), true),
        (jmp::JGT, false) => (Cmp::Ult(false), false),
        (jmp::JGE, true) => (Cmp::Ult(false), true),
        (jmp::JGE, false) => (Cmp::Ult(true), false),
        (jmp::JLT, true) => (Cmp::Ult(true), false),
        (jmp::JLT, false) => (Cmp::Ult(false), true),
        (jmp::JLE, true) => (Cmp::Ult(false), false),
        (jmp::JLE, false) => (Cmp::Ult(true), true),
        (jmp::JSGT, true) => (Cmp::Slt(true), true),
        (jmp::JSGT, false) => (Cmp::Slt(false), false),
        (jmp::JSGE, true) => (Cmp::Slt(false), true),
        (jmp::JSGE, false) => (Cmp::Slt(true), false),
        (jmp::JSLT, true) => (Cmp::Slt(true), false),
        (jmp::JSLT, false) => (Cmp::Slt(false), true),
        (jmp::JSLE, true) => (Cmp::Slt(false), false),
        (jmp::JSLE, false) => (Cmp::Slt(true), true),
        _ => return None,
    };
    Some(r)
}

/// Narrows `a` and `b` (64-bit values) so that `a CMP b` holds. `None` when
/// no pair of values can satisfy it.
pub(super) fn refine(cmp: Cmp, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
    let (mut x, mut y) = (*a, *b);
    match cmp {
        Cmp::Eq => {
            let ok = x.meet_u(y.umin, y.umax) && x.meet_s(y.smin, y.smax);
            if !ok {
                return None;
            }
            let (umin, umax, smin, smax) = (x.umin, x.umax, x.smin, x.smax);
            if !(y.meet_u(umin, umax) && y.meet_s(smin, smax)) {
                return None;
            }
        }
        Cmp::Ne => {
            if let (Some(p), Some(q)) = (x.as_const(), y.as_const())
                && p == q
            {
                return None;
            }
            // Trim an end of the range that equals a constant operand.
            if let Some(q) = y.as_const() {
                trim(&mut x, q)?;
            }
            if let Some(p) = x.as_const() {
                trim(&mut y, p)?;
            }
        }
        Cmp::Set => {
            if let (Some(p), Some(q)) = (x.as_const(), y.as_const())
                && p & q == 0
            {
                return None;
            }
            // a & b != 0 implies a != 0 and b != 0.
            trim(&mut x, 0)?;
            trim(&mut y, 0)?;
        }
        Cmp::Ult(strict) => {
            let d = u64::from(strict);
            // x < y: x <= y.umax - d, y >= x.umin + d
            let xmax = y.umax.checked_sub(d)?;
            let ymin = x.umin.checked_add(d)?;
            if !(x.meet_u(0, xmax) && y.meet_u(ymin, u64::MAX)) {
                return None;
            }
        }
        Cmp::Slt(strict) => {
            let d = i64::from(strict);
            let xmax = y.smax.checked_sub(d)?;
            let ymin = x.smin.checked_add(d)?;
            if !(x.meet_s(i64::MIN, xmax) && y.meet_s(ymin, i64::MAX)) {
                return None;
            }
        }
    }
    Some((x, y))
}

/// Removes `v` from the range when it sits at an end.
fn trim(s: &mut Scalar, v: u64) -> Option<()> {
    if s.umin == v && s.umax == v {
        return None;
    }
    if s.umin == v {
        s.umin += 1;
    } else if s.umax == v {
        s.umax -= 1;
    }
    if s.smin == v as i64 {
        s.smin += 1;
    } else if s.smax == v as i64 {
        s.smax -= 1;
    }
    s.sync().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contains(s: &Scalar, v: u64) -> bool {
        s.umin <= v && v <= s.umax && s.smin <= v as i64 && v as i64 <= s.smax
    }

    #[test]
    fn signed_comparison_does_not_bound_unsigned() {
        // x unknown; x s< 100 must not make x small unsigned (Oko's bug).
        let x = Scalar::unknown();
        let (x2, _) = refine(Cmp::Slt(true), &x, &Scalar::constant(100)).unwrap();
        assert_eq!(x2.umax, u64::MAX);
        assert!(contains(&x2, (-5i64) as u64));
        // 0 <= x s< 100 does.
        let y = Scalar::srange(0, i64::MAX);
        let (y2, _) = refine(Cmp::Slt(true), &y, &Scalar::constant(100)).unwrap();
        assert_eq!((y2.umin, y2.umax), (0, 99));
    }

    #[test]
    fn mask_and_shift_give_ihl_range() {
        let b = Scalar::urange(0, 255);
        let m = alu_bounds(alu::AND, true, &b, &Scalar::constant(15), 0);
        assert_eq!((m.umin, m.umax), (0, 15));
        let s = alu_bounds(alu::LSH, true, &m, &Scalar::constant(2), 0);
        assert_eq!((s.umin, s.umax), (0, 60));
        let m32 = alu_bounds(alu::MUL, false, &m, &Scalar::constant(4), 0);
        assert_eq!((m32.umin, m32.umax), (0, 60));
    }

    #[test]
    fn infeasible_comparisons() {
        let c = Scalar::constant(5);
        assert!(refine(Cmp::Ult(true), &c, &Scalar::constant(5)).is_none());
        assert!(refine(Cmp::Eq, &c, &Scalar::constant(6)).is_none());
        assert!(refine(Cmp::Ne, &c, &Scalar::constant(5)).is_none());
        assert!(refine(Cmp::Ult(true), &Scalar::unknown(), &Scalar::constant(0)).is_none());
    }

    fn arb_scalar() -> impl Strategy<Value = (Scalar, u64)> {
        prop_oneof![
            any::<u64>().prop_map(|v| (Scalar::constant(v), v)),
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| {
                let (lo, hi) = (a.min(b), a.max(b));
                let v = lo + c % (hi - lo).saturating_add(1).max(1);
                (Scalar::urange(lo, hi), v.min(hi))
            }),
            (0u64..300, 0u64..300, any::<u64>()).prop_map(|(a, b, c)| {
                let (lo, hi) = (a.min(b), a.max(b));
                (Scalar::urange(lo, hi), lo + c % (hi - lo + 1))
            }),
            (any::<i64>(), any::<i64>(), any::<u64>()).prop_map(|(a, b, c)| {
                let (lo, hi) = (a.min(b), a.max(b));
                let span = (hi as i128 - lo as i128 + 1) as u128;
                let v = (lo as i128 + (c as u128 % span) as i128) as i64;
                (Scalar::srange(lo, hi), v as u64)
            }),
        ]
    }

    proptest! {
        /// Every concrete result lies in the abstract result.
        #[test]
        fn alu_is_sound(
            (a, x) in arb_scalar(), (b, y) in arb_scalar(),
            code_i in 0usize..13, wide in any::<bool>(), signed in any::<bool>(),
            sx in 0usize..4,
        ) {
            let codes = [alu::ADD, alu::SUB, alu::MUL, alu::DIV, alu::OR, alu::AND, alu::LSH,
                alu::RSH, alu::NEG, alu::MOD, alu::XOR, alu::MOV, alu::ARSH];
            let code = codes[code_i];
            let off = match code {
                alu::DIV | alu::MOD => i16::from(signed),
                alu::MOV => [0, 8, 16, 32][sx],
                _ => 0,
            };
            let off = if !wide && off == 32 { 0 } else { off };
            prop_assert!(contains(&a, x) && contains(&b, y));
            let r = alu_bounds(code, wide, &a, &b, off);
            let v = eval(code, wide, x, y, off);
            prop_assert!(contains(&r, v), "{:?} {} {} -> {} not in {:?}", code, x, y, v, r);
        }

        /// An operation called an identity returns its operand.
        #[test]
        fn identity_is_exact(
            (a, x) in arb_scalar(), (b, y) in arb_scalar(),
            code_i in 0usize..11, wide in any::<bool>(), signed in any::<bool>(),
            small in 0u64..70,
        ) {
            let codes = [alu::ADD, alu::SUB, alu::MUL, alu::DIV, alu::OR, alu::AND, alu::LSH,
                alu::RSH, alu::MOD, alu::XOR, alu::ARSH];
            let code = codes[code_i];
            let off = if matches!(code, alu::DIV | alu::MOD) { i16::from(signed) } else { 0 };
            // Small constants and masks make identities likely.
            let (b, y) = match small % 3 {
                0 => (Scalar::constant(small), small),
                1 => {
                    let m = u64::MAX >> (small % 64);
                    (Scalar::constant(m), m)
                }
                _ => (b, y),
            };
            if is_identity(code, wide, &a, &b, off) {
                let v = eval(code, wide, x, y, off);
                prop_assert_eq!(v, x, "{:?} {:?} {:?}", code, a, b);
            }
        }

        #[test]
        fn end_is_sound((a, x) in arb_scalar(), w in 0usize..3, k in 0usize..3) {
            let imm = [16, 32, 64][w];
            let kind = [EndKind::Le, EndKind::Be, EndKind::Swap][k];
            let r = end_bounds(kind, imm, &a);
            prop_assert!(contains(&r, eval_end(kind, imm, x)));
        }

        /// Refinement never drops a pair of values that satisfies the comparison.
        #[test]
        fn refine_is_sound((a, x) in arb_scalar(), (b, y) in arb_scalar(), k in 0usize..7) {
            let cmps = [Cmp::Eq, Cmp::Ne, Cmp::Set, Cmp::Ult(true), Cmp::Ult(false), Cmp::Slt(true), Cmp::Slt(false)];
            let cmp = cmps[k];
            let holds = match cmp {
                Cmp::Eq => x == y,
                Cmp::Ne => x != y,
                Cmp::Set => x & y != 0,
                Cmp::Ult(s) => if s { x < y } else { x <= y },
                Cmp::Slt(s) => if s { (x as i64) < y as i64 } else { x as i64 <= y as i64 },
            };
            if holds {
                let r = refine(cmp, &a, &b);
                prop_assert!(r.is_some());
                let (a2, b2) = r.unwrap();
                prop_assert!(contains(&a2, x) && contains(&b2, y));
            }
        }
    }
}
