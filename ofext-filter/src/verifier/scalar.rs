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
//! otherwise a fresh symbol, keeps the relation through copies, operations
//! that provably leave the value unchanged ([`is_identity`]) and additions
//! of constants that provably do not wrap, and records facts
//! `len >= sym + c` when a comparison establishes them.
//!
//! Why the links: clang's code for `u32`/`int` lengths and offsets goes
//! through intermediate values that are not `sym + delta` at all (`len <<
//! 32`, `len` sign-extended, `(len - ihl) mod 2^32`, `end - p` as a signed
//! number). A [`Link`] records such a value exactly, as a function of an
//! affine quantity of at most two symbols; the transfer functions
//! ([`alu_link`]) keep it exact through the idioms, and [`tighten`] turns
//! it back into a plain relation, or into facts, once a comparison has
//! excluded the wrapped cases.

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

/// `pos - neg + c`: an affine combination of at most two symbols (`None`
/// stands for no symbol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Aff {
    pub(super) pos: Option<Sym>,
    pub(super) neg: Option<Sym>,
    pub(super) c: i64,
}

impl Aff {
    /// The constant `c`.
    pub(super) const fn konst(c: i64) -> Self {
        Self {
            pos: None,
            neg: None,
            c,
        }
    }

    /// The quantity a relation names.
    pub(super) fn of(r: Rel) -> Self {
        Self {
            pos: (r.sym != ZERO).then_some(r.sym),
            neg: None,
            c: r.delta,
        }
    }

    /// The same quantity as a relation, when it has no negative symbol.
    pub(super) fn as_rel(self) -> Option<Rel> {
        match self.neg {
            None => Some(Rel::new(self.pos.unwrap_or(ZERO), self.c)),
            Some(_) => None,
        }
    }

    /// `self + other` (or `self - other`), when it still has at most one
    /// symbol of each sign.
    pub(super) fn combine(self, other: Self, sub: bool) -> Option<Self> {
        let s = if sub { -1 } else { 1 };
        let mut terms: [(Option<Sym>, i32); 4] = [
            (self.pos, 1),
            (self.neg, -1),
            (other.pos, s),
            (other.neg, -s),
        ];
        // Cancel equal symbols of opposite signs.
        for i in 0..4 {
            for j in i + 1..4 {
                if terms[i].0.is_some() && terms[i].0 == terms[j].0 {
                    terms[i].1 += terms[j].1;
                    terms[j] = (None, 0);
                }
            }
        }
        let mut out = Self::konst(if sub {
            self.c.checked_sub(other.c)?
        } else {
            self.c.checked_add(other.c)?
        });
        for (sym, k) in terms {
            let Some(sym) = sym else { continue };
            match k {
                0 => {}
                1 if out.pos.is_none() => out.pos = Some(sym),
                -1 if out.neg.is_none() => out.neg = Some(sym),
                _ => return None,
            }
        }
        Some(out)
    }

    /// `self + k`.
    pub(super) fn add(self, k: i64) -> Option<Self> {
        Some(Self {
            c: self.c.checked_add(k)?,
            ..self
        })
    }

    /// Rewrites symbol `from` as `to + shift`.
    pub(super) fn subst(self, from: Sym, to: Sym, shift: i64) -> Option<Self> {
        let image = Self::of(Rel::new(to, shift));
        let mut out = self;
        if self.pos == Some(from) {
            out.pos = None;
            out = out.combine(image, false)?;
        }
        if self.neg == Some(from) {
            out.neg = None;
            out = out.combine(image, true)?;
        }
        Some(out)
    }
}

const TWO32: i64 = 1 << 32;

/// What a value is known to be in terms of symbols, beyond `rel`. These
/// follow the values through wrapping and width-changing arithmetic, where a
/// plain relation `value == sym + delta` cannot: clang zero-extends 32-bit
/// values with `x <<= 32; x >>= 32`, sign-extends them with `x <<= 32;
/// x s>>= 32`, computes `int` arithmetic in the high half (`x <<= 32; x +=
/// c << 32; x s>>= 32`) or in 32-bit registers, and subtracts pointers. The
/// ranges of the `Low32`/`High32` forms span fewer than 2^32 values, so
/// knowing the low (high) 32 bits of the value pins the quantity down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Link {
    /// `value as i64 == aff` exactly (the range of `aff` is the signed
    /// range of the value).
    Signed(Aff),
    /// The low 32 bits of the value are `aff mod 2^32`, and `lo <= aff <=
    /// hi` with `hi - lo < 2^32`.
    Low32 { aff: Aff, lo: i64, hi: i64 },
    /// `value == (aff mod 2^32) << 32`, and `lo <= aff <= hi` with
    /// `hi - lo < 2^32`.
    High32 { aff: Aff, lo: i64, hi: i64 },
}

impl Link {
    /// `Low32`, when the range is narrow enough to say something.
    fn low32(aff: Aff, lo: i64, hi: i64) -> Option<Self> {
        (i128::from(hi) - i128::from(lo) < i128::from(TWO32)).then_some(Link::Low32 { aff, lo, hi })
    }

    /// The link after rewriting symbol `from` as `to + shift`.
    pub(super) fn subst(self, from: Sym, to: Sym, shift: i64) -> Option<Self> {
        Some(match self {
            Link::Signed(a) => Link::Signed(a.subst(from, to, shift)?),
            Link::Low32 { aff, lo, hi } => Link::Low32 {
                aff: aff.subst(from, to, shift)?,
                lo,
                hi,
            },
            Link::High32 { aff, lo, hi } => Link::High32 {
                aff: aff.subst(from, to, shift)?,
                lo,
                hi,
            },
        })
    }

    /// The link of values that have link `a` on one path and `b` on another.
    pub(super) fn join(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a?, b?) {
            (x, y) if x == y => Some(x),
            (
                Link::Low32 {
                    aff: p,
                    lo: l1,
                    hi: h1,
                },
                Link::Low32 {
                    aff: q,
                    lo: l2,
                    hi: h2,
                },
            ) if p == q => Link::low32(p, l1.min(l2), h1.max(h2)),
            (
                Link::High32 {
                    aff: p,
                    lo: l1,
                    hi: h1,
                },
                Link::High32 {
                    aff: q,
                    lo: l2,
                    hi: h2,
                },
            ) if p == q => match Link::low32(p, l1.min(l2), h1.max(h2))? {
                Link::Low32 { aff, lo, hi } => Some(Link::High32 { aff, lo, hi }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `value as i64 == aff`, when known (its range is then `[smin, smax]`).
pub(super) fn aff64(s: &Scalar) -> Option<Aff> {
    if let Some(c) = s.as_const() {
        return Some(Aff::konst(c as i64));
    }
    if let Some(Link::Signed(a)) = s.link {
        return Some(a);
    }
    match s.rel {
        Some(r) if s.umax <= i64::MAX as u64 => Some(Aff::of(r)),
        _ => None,
    }
}

/// `(aff, lo, hi)` such that the low 32 bits of the value are `aff mod 2^32`
/// and `lo <= aff <= hi`, when known.
pub(super) fn aff32(s: &Scalar) -> Option<(Aff, i64, i64)> {
    if let Some(c) = s.as_const() {
        let v = (c & U32) as i64;
        return Some((Aff::konst(v), v, v));
    }
    match s.link {
        Some(Link::Low32 { aff, lo, hi }) => Some((aff, lo, hi)),
        Some(Link::High32 { .. }) => Some((Aff::konst(0), 0, 0)),
        _ => aff64(s).map(|a| (a, s.smin, s.smax)),
    }
}

/// The link of a value whose low 32 bits are `aff mod 2^32` and whose high
/// bits are zero (`sext == false`) or copies of bit 31 (`sext == true`).
fn extended32(aff: Aff, lo: i64, hi: i64, sext: bool) -> Option<Link> {
    let (min, max) = if sext {
        (-(TWO32 / 2), TWO32 / 2 - 1)
    } else {
        (0, TWO32 - 1)
    };
    if min <= lo && hi <= max {
        // `aff` is in the range the extension maps onto itself.
        Some(Link::Signed(aff))
    } else {
        Link::low32(aff, lo, hi)
    }
}

/// The link of the result of ALU operation `code` (not an identity, see
/// [`is_identity`]) on `a` and `b`, when one is known.
pub(super) fn alu_link(code: u8, wide: bool, a: &Scalar, b: &Scalar, off: i16) -> Option<Link> {
    let k = b.as_const();
    let sub = code == alu::SUB;
    if !wide {
        return match (code, off) {
            (alu::ADD | alu::SUB, _) => {
                let ((x, xl, xh), (y, yl, yh)) = (aff32(a)?, aff32(b)?);
                let (lo, hi) = if sub {
                    (xl.checked_sub(yh)?, xh.checked_sub(yl)?)
                } else {
                    (xl.checked_add(yl)?, xh.checked_add(yh)?)
                };
                extended32(x.combine(y, sub)?, lo, hi, false)
            }
            (alu::MOV, 0) => {
                let (x, lo, hi) = aff32(b)?;
                extended32(x, lo, hi, false)
            }
            _ => None,
        };
    }
    match code {
        alu::ADD | alu::SUB => {
            // Arithmetic in the high half: a constant whose low half is zero.
            let high = match (a.link, k, b.link, a.as_const()) {
                (Some(Link::High32 { aff, lo, hi }), Some(c), _, _) => Some((aff, lo, hi, c)),
                (_, _, Some(Link::High32 { aff, lo, hi }), Some(c)) if !sub => {
                    Some((aff, lo, hi, c))
                }
                _ => None,
            };
            if let Some((aff, lo, hi, c)) = high
                && c & U32 == 0
            {
                let d = (c as i64) >> 32;
                let d = if sub { d.checked_neg()? } else { d };
                return Some(Link::High32 {
                    aff: aff.add(d)?,
                    lo: lo.checked_add(d)?,
                    hi: hi.checked_add(d)?,
                });
            }
            // Without signed overflow, the wrapping sum is the sum.
            let (x, y) = (aff64(a)?, aff64(b)?);
            if sub {
                a.smin.checked_sub(b.smax)?;
                a.smax.checked_sub(b.smin)?;
            } else {
                a.smin.checked_add(b.smin)?;
                a.smax.checked_add(b.smax)?;
            }
            Some(Link::Signed(x.combine(y, sub)?))
        }
        alu::LSH if k == Some(32) => {
            let (aff, lo, hi) = aff32(a)?;
            match Link::low32(aff, lo, hi)? {
                Link::Low32 { aff, lo, hi } => Some(Link::High32 { aff, lo, hi }),
                _ => None,
            }
        }
        alu::RSH | alu::ARSH if k == Some(32) => match a.link? {
            Link::High32 { aff, lo, hi } => extended32(aff, lo, hi, code == alu::ARSH),
            _ => None,
        },
        alu::MOV if off == 32 => {
            let (x, lo, hi) = aff32(b)?;
            extended32(x, lo, hi, true)
        }
        _ => None,
    }
}

/// Uses what is known of the value's low 32 bits to pin down a `Low32`
/// link's quantity: when only one multiple of 2^32 separates the two, the
/// quantity's range narrows, and when that multiple is 0 the value (as a
/// signed number) is the quantity. `None` when the link leaves no value
/// (the path is infeasible).
pub(super) fn tighten(s: &Scalar) -> Option<Scalar> {
    let Some(Link::Low32 { aff, lo, hi }) = s.link else {
        return Some(*s);
    };
    // The low half, as the value itself reads it (as a signed number).
    let (vlo, vhi) = if s.fits_u32() {
        (s.umin as i64, s.umax as i64)
    } else if s.smin >= -(TWO32 / 2) && s.smax < TWO32 / 2 {
        (s.smin, s.smax)
    } else {
        return Some(*s);
    };
    // aff == view + k * 2^32 for some k.
    let (lo, hi, vlo, vhi) = (
        i128::from(lo),
        i128::from(hi),
        i128::from(vlo),
        i128::from(vhi),
    );
    let t = i128::from(TWO32);
    let kmin = (lo - vhi).div_euclid(t);
    let kmax = (hi - vlo).div_euclid(t) + 1;
    let mut found = None;
    let mut count = 0;
    for k in kmin..=kmax {
        let (l, h) = (lo.max(vlo + k * t), hi.min(vhi + k * t));
        if l <= h {
            count += 1;
            found = Some((k, l, h));
        }
    }
    let mut out = *s;
    match (count, found) {
        (0, _) => None,
        (1, Some((k, l, h))) => {
            // The value (as a signed number) is aff - k * 2^32.
            let (vl, vh) = ((l - k * t) as i64, (h - k * t) as i64);
            if !out.meet_s(vl, vh) {
                return None;
            }
            out.link = if k == 0 {
                Some(Link::Signed(aff))
            } else {
                Some(Link::Low32 {
                    aff,
                    lo: l as i64,
                    hi: h as i64,
                })
            };
            Some(out)
        }
        _ => Some(out),
    }
}

/// The range `[lo, hi]` of a link's quantity on a value `s`.
pub(super) fn link_range(s: &Scalar) -> Option<(Aff, i64, i64)> {
    match s.link? {
        Link::Signed(a) => Some((a, s.smin, s.smax)),
        Link::Low32 { aff, lo, hi } | Link::High32 { aff, lo, hi } => Some((aff, lo, hi)),
    }
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

    /// A concrete value for every symbol the link tests use.
    struct Env([i128; 5]);

    impl Env {
        fn sym(&self, s: Sym) -> i128 {
            if s == ZERO { 0 } else { self.0[s.0 as usize] }
        }

        fn aff(&self, a: Aff) -> i128 {
            a.pos.map_or(0, |s| self.sym(s)) - a.neg.map_or(0, |s| self.sym(s)) + i128::from(a.c)
        }

        /// Does the abstract value describe concrete `v` under this
        /// environment (intervals, relation and link)?
        fn holds(&self, s: &Scalar, v: u64) -> bool {
            let t = 1i128 << 32;
            let rel_ok = s
                .rel
                .is_none_or(|r| self.sym(r.sym) + i128::from(r.delta) == i128::from(v));
            let link_ok = match s.link {
                None => true,
                Some(Link::Signed(a)) => self.aff(a) == i128::from(v as i64),
                Some(Link::Low32 { aff, lo, hi }) => {
                    let x = self.aff(aff);
                    i128::from(lo) <= x
                        && x <= i128::from(hi)
                        && x.rem_euclid(t) == i128::from(v & U32)
                }
                Some(Link::High32 { aff, lo, hi }) => {
                    let x = self.aff(aff);
                    i128::from(lo) <= x
                        && x <= i128::from(hi)
                        && (x.rem_euclid(t) as u64) << 32 == v
                }
            };
            contains(s, v) && rel_ok && link_ok
        }
    }

    fn named(mut s: Scalar, sym: u32) -> Scalar {
        s.rel = Some(Rel::new(Sym(sym), 0));
        s
    }

    /// One step of a random computation on four registers.
    #[derive(Debug, Clone)]
    enum Op {
        Alu {
            code: u8,
            wide: bool,
            dst: usize,
            src: Option<usize>,
            imm: u64,
            off: i16,
        },
        /// Narrow register `dst` to an interval around its value (as a
        /// comparison would), then tighten its link.
        Narrow {
            dst: usize,
            unsigned: bool,
            below: u64,
            above: u64,
        },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        let codes = [
            alu::ADD,
            alu::SUB,
            alu::LSH,
            alu::RSH,
            alu::ARSH,
            alu::MOV,
            alu::AND,
            alu::MUL,
        ];
        let imms = prop_oneof![
            Just(14u64),
            Just((-14i64) as u64),
            Just((-14i64 << 32) as u64),
            Just(20u64 << 32),
            Just(0xffff_ffff),
            Just(1u64 << 31),
            0u64..80,
            any::<u64>(),
        ];
        let alu_op = (
            0usize..codes.len(),
            any::<bool>(),
            0usize..4,
            prop::option::of(0usize..4),
            imms,
            0usize..3,
        )
            .prop_map(move |(c, wide, dst, src, imm, o)| {
                let code = codes[c];
                let off = if code == alu::MOV && wide {
                    [0, 0, 32][o]
                } else {
                    0
                };
                Op::Alu {
                    code,
                    wide,
                    dst,
                    src,
                    imm,
                    off,
                }
            });
        // The idioms the links are for: shifts by 32, high-half constants,
        // 32-bit moves and arithmetic, sign-extending moves.
        let idiom = (0usize..7, 0usize..4, 0usize..4, -100i64..100).prop_map(|(k, dst, src, c)| {
            let (code, wide, src, imm, off) = match k {
                0 => (alu::LSH, true, None, 32, 0),
                1 => (alu::RSH, true, None, 32, 0),
                2 => (alu::ARSH, true, None, 32, 0),
                3 => (alu::ADD, true, None, (c << 32) as u64, 0),
                4 => (alu::MOV, false, Some(src), 0, 0),
                5 => (alu::MOV, true, Some(src), 0, 32),
                _ => (
                    if c < 0 { alu::SUB } else { alu::ADD },
                    c % 2 == 0,
                    Some(src),
                    0,
                    0,
                ),
            };
            Op::Alu {
                code,
                wide,
                dst,
                src,
                imm,
                off,
            }
        });
        let small = prop_oneof![0u64..200, any::<u64>().prop_map(|x| (x >> 1) >> (x % 64))];
        let narrow = (0usize..4, any::<bool>(), small.clone(), small).prop_map(
            |(dst, unsigned, below, above)| Op::Narrow {
                dst,
                unsigned,
                below,
                above,
            },
        );
        prop_oneof![2 => alu_op, 3 => idiom, 2 => narrow]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Relations and links computed for ALU results, and what
        /// tightening concludes from narrowed ranges, hold on concrete
        /// values: the packet length, a small offset, a signed quantity and
        /// an arbitrary one go through random arithmetic and comparisons.
        #[test]
        fn links_are_sound(
            len in prop_oneof![0u64..100, Just(u64::from(u32::MAX)), 0u64..=u64::from(u32::MAX)],
            ihl in 0u64..61,
            neg in -100i64..100,
            any_v in any::<u64>(),
            ops in prop::collection::vec(arb_op(), 1..16),
        ) {
            let env = Env([0, i128::from(len), i128::from(ihl), i128::from(neg as u64), i128::from(any_v)]);
            let mut regs = [
                (named(Scalar::urange(0, U32), 1), len),
                (named(Scalar::urange(0, 60), 2), ihl),
                (named(Scalar::srange(-100, 99), 3), neg as u64),
                (named(Scalar::unknown(), 4), any_v),
            ];
            for op in ops {
                match op {
                    Op::Alu { code, wide, dst, src, imm, off } => {
                        let (a, x) = regs[dst];
                        let (b, y) = match src {
                            Some(r) => regs[r],
                            None => {
                                let k = if wide { imm } else { imm & U32 };
                                (Scalar::constant(k), k)
                            }
                        };
                        let v = eval(code, wide, x, y, off);
                        let r = if is_identity(code, wide, &a, &b, off) {
                            a
                        } else {
                            let mut r = alu_bounds(code, wide, &a, &b, off);
                            if r.as_const().is_none() {
                                r.link = alu_link(code, wide, &a, &b, off);
                                if let Some(Link::Signed(q)) = r.link && r.smin >= 0 {
                                    r.rel = q.as_rel();
                                }
                            }
                            r
                        };
                        prop_assert!(env.holds(&r, v), "{:?} {:?} {:?} -> {} {:?}", code, a, b, v, r);
                        regs[dst] = (r, v);
                    }
                    Op::Narrow { dst, unsigned, below, above } => {
                        let (mut a, x) = regs[dst];
                        let ok = if unsigned {
                            a.meet_u(x.saturating_sub(below), x.saturating_add(above))
                        } else {
                            let xi = x as i64;
                            a.meet_s(xi.saturating_sub(below as i64), xi.saturating_add(above as i64))
                        };
                        prop_assert!(ok);
                        let t = tighten(&a);
                        prop_assert!(t.is_some(), "{:?} {}", a, x);
                        let mut t = t.unwrap();
                        if let Some(Link::Signed(q)) = t.link && t.smin >= 0 && t.rel.is_none() {
                            t.rel = q.as_rel();
                        }
                        prop_assert!(env.holds(&t, x), "{:?} -> {:?} ({})", a, t, x);
                        regs[dst] = (t, x);
                    }
                }
            }
        }

        #[test]
        fn affine_combination_is_exact(
            p in prop::option::of(1u32..4), n in prop::option::of(1u32..4), c in -1000i64..1000,
            q in prop::option::of(1u32..4), m in prop::option::of(1u32..4), d in -1000i64..1000,
            sub in any::<bool>(), vals in prop::array::uniform4(-5000i128..5000),
        ) {
            let env = Env([0, vals[0], vals[1], vals[2], vals[3]]);
            let norm = |pos: Option<u32>, neg: Option<u32>, c| {
                let a = Aff { pos: pos.map(Sym), neg: None, c };
                a.combine(Aff { pos: neg.map(Sym), neg: None, c: 0 }, true)
            };
            if let (Some(x), Some(y)) = (norm(p, n, c), norm(q, m, d)) {
                let want = if sub { env.aff(x) - env.aff(y) } else { env.aff(x) + env.aff(y) };
                if let Some(z) = x.combine(y, sub) {
                    prop_assert_eq!(env.aff(z), want);
                }
                let s = Sym(2);
                if let Some(z) = x.subst(s, Sym(3), 7) {
                    // Sym 2 is Sym 3 + 7 in a world where that holds.
                    let mut e2 = Env(env.0);
                    e2.0[2] = e2.0[3] + 7;
                    prop_assert_eq!(e2.aff(z), e2.aff(x));
                }
            }
        }
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
