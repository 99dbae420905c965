//! The eBPF instruction set (RFC 9669): opcode constants and the 8-byte
//! instruction type every other module (assembler, ELF loader, verifier,
//! interpreter, JIT) works with.
//!
//! An instruction is `opcode u8 | dst:4 src:4 | offset i16 | imm i32`, little
//! endian (eBPF objects from `clang -target bpf` are little endian). `lddw`
//! (`LD | IMM | DW`) takes two slots; the second slot carries the upper 32 bits
//! of the constant in its `imm` and must have every other field zero.

/// Instruction classes (the low 3 bits of the opcode).
pub mod class {
    /// Non-standard loads (only `lddw` is accepted).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Source-operand bit of ALU and JMP opcodes.
pub mod source {
    /// Use `imm` (BPF_K).
    pub const K: u8 = 0x00;
    /// Use `src` register (BPF_X).
    pub const X: u8 = 0x08;
}

/// ALU operation codes (the high 4 bits of an ALU/ALU64 opcode).
pub mod alu {
    /// dst += src
    pub const ADD: u8 = 0x00;
    /// dst -= src
    pub const SUB: u8 = 0x10;
    /// dst *= src
    pub const MUL: u8 = 0x20;
    /// dst /= src (unsigned; signed when offset = 1)
    pub const DIV: u8 = 0x30;
    /// dst |= src
    pub const OR: u8 = 0x40;
    /// dst &= src
    pub const AND: u8 = 0x50;
    /// dst <<= src
    pub const LSH: u8 = 0x60;
    /// dst >>= src (logical)
    pub const RSH: u8 = 0x70;
    /// dst = -dst
    pub const NEG: u8 = 0x80;
    /// dst %= src (unsigned; signed when offset = 1)
    pub const MOD: u8 = 0x90;
    /// dst ^= src
    pub const XOR: u8 = 0xa0;
    /// dst = src (sign-extending when offset is 8, 16 or 32)
    pub const MOV: u8 = 0xb0;
    /// dst >>= src (arithmetic)
    pub const ARSH: u8 = 0xc0;
    /// Byte swap (to-le / to-be for ALU, unconditional for ALU64).
    pub const END: u8 = 0xd0;
}

/// Jump operation codes (the high 4 bits of a JMP/JMP32 opcode).
pub mod jmp {
    /// Unconditional jump (JMP32: `ja` with a 32-bit `imm` offset).
    pub const JA: u8 = 0x00;
    /// ==
    pub const JEQ: u8 = 0x10;
    /// > unsigned
    pub const JGT: u8 = 0x20;
    /// >= unsigned
    pub const JGE: u8 = 0x30;
    /// dst & src != 0
    pub const JSET: u8 = 0x40;
    /// !=
    pub const JNE: u8 = 0x50;
    /// > signed
    pub const JSGT: u8 = 0x60;
    /// >= signed
    pub const JSGE: u8 = 0x70;
    /// Helper or BPF-to-BPF call.
    pub const CALL: u8 = 0x80;
    /// Return r0.
    pub const EXIT: u8 = 0x90;
    /// < unsigned
    pub const JLT: u8 = 0xa0;
    /// <= unsigned
    pub const JLE: u8 = 0xb0;
    /// < signed
    pub const JSLT: u8 = 0xc0;
    /// <= signed
    pub const JSLE: u8 = 0xd0;
}

/// Load/store size bits.
pub mod size {
    /// 4 bytes
    pub const W: u8 = 0x00;
    /// 2 bytes
    pub const H: u8 = 0x08;
    /// 1 byte
    pub const B: u8 = 0x10;
    /// 8 bytes
    pub const DW: u8 = 0x18;
}

/// Load/store mode bits.
pub mod mode {
    /// 64-bit immediate (`lddw`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet access (refused).
    pub const ABS: u8 = 0x20;
    /// Legacy packet access (refused).
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load (v4).
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation (STX only).
    pub const ATOMIC: u8 = 0xc0;
}

/// Atomic operation codes (in `imm` of `STX | ATOMIC`).
pub mod atomic {
    /// *addr += src
    pub const ADD: i32 = 0x00;
    /// *addr |= src
    pub const OR: i32 = 0x40;
    /// *addr &= src
    pub const AND: i32 = 0x50;
    /// *addr ^= src
    pub const XOR: i32 = 0xa0;
    /// Modifier: src receives the old value.
    pub const FETCH: i32 = 0x01;
    /// src = xchg(addr, src)
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// r0 = cmpxchg(addr, r0, src)
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` values of `call`.
pub mod call_src {
    /// `imm` is a helper id.
    pub const HELPER: u8 = 0;
    /// `imm` is a pc-relative offset to a BPF function (BPF-to-BPF call).
    pub const PSEUDO_CALL: u8 = 1;
}

/// `src` value of `lddw` whose `imm` names a map (`BPF_PSEUDO_MAP_FD`); the
/// loader sets it with the map's index when it applies a map relocation.
pub const PSEUDO_MAP_FD: u8 = 1;

/// Helper ids (EXTENSION.md §5).
pub mod helper {
    /// `map_lookup_elem(map, key) -> value* | 0`
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    /// `map_update_elem(map, key, value, flags) -> 0 | negative`
    pub const MAP_UPDATE_ELEM: i32 = 2;
    /// `map_delete_elem(map, key) -> 0 | negative`
    pub const MAP_DELETE_ELEM: i32 = 3;
    /// `ktime_get_ns() -> u64`
    pub const KTIME_GET_NS: i32 = 5;
    /// `hash(ptr, len) -> u32`
    pub const HASH: i32 = 6;
    /// `get_prandom_u32() -> u32`
    pub const GET_PRANDOM_U32: i32 = 7;
}

/// Number of registers (r0–r10).
pub const NUM_REGS: usize = 11;
/// The read-only frame pointer.
pub const FRAME_REG: u8 = 10;
/// Stack size in bytes available to a program (per call frame).
pub const STACK_SIZE: usize = 512;
/// Size of one instruction slot.
pub const INSN_SIZE: usize = 8;
/// The opcode of `lddw`.
pub const LDDW: u8 = class::LD | mode::IMM | size::DW;

/// One 8-byte instruction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode.
    pub op: u8,
    /// Destination register (low nibble of byte 1).
    pub dst: u8,
    /// Source register (high nibble of byte 1).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Decodes one slot.
    pub const fn decode(b: [u8; 8]) -> Self {
        Self {
            op: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes one slot.
    pub const fn encode(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.op,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// A slot from its fields.
    pub const fn new(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            op,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction class.
    pub const fn class(self) -> u8 {
        self.op & 0x07
    }

    /// The operation bits of an ALU or JMP opcode.
    pub const fn code(self) -> u8 {
        self.op & 0xf0
    }

    /// True when an ALU/JMP instruction takes its operand from `src`.
    pub const fn is_reg_source(self) -> bool {
        self.op & source::X != 0
    }

    /// The size bits of a load/store opcode.
    pub const fn size_bits(self) -> u8 {
        self.op & 0x18
    }

    /// The mode bits of a load/store opcode.
    pub const fn mode_bits(self) -> u8 {
        self.op & 0xe0
    }

    /// Access width in bytes of a load/store.
    pub const fn access_size(self) -> usize {
        match self.size_bits() {
            size::W => 4,
            size::H => 2,
            size::B => 1,
            _ => 8,
        }
    }

    /// True for the first slot of a `lddw`.
    pub const fn is_lddw(self) -> bool {
        self.op == LDDW
    }
}

/// Why a byte string is not a sequence of instruction slots.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length is not a multiple of 8.
    #[error("program length {len} is not a multiple of 8")]
    BadLength {
        /// The byte length.
        len: usize,
    },
}

/// Splits `bytes` into instruction slots.
pub fn decode_program(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(DecodeError::BadLength { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| Insn::decode([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Encodes instruction slots into bytes.
pub fn encode_program(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.encode()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_encode_round_trip() {
        // ldxdw r0, [r1+8]  = 79 10 08 00 00 00 00 00
        let b = [0x79, 0x10, 0x08, 0x00, 0, 0, 0, 0];
        let i = Insn::decode(b);
        assert_eq!(i, Insn::new(0x79, 0, 1, 8, 0));
        assert_eq!(i.class(), class::LDX);
        assert_eq!(i.mode_bits(), mode::MEM);
        assert_eq!(i.access_size(), 8);
        assert_eq!(i.encode(), b);
        // jeq r1, 0x2, +3 = 15 01 03 00 02 00 00 00
        let j = Insn::decode([0x15, 0x01, 0x03, 0x00, 0x02, 0, 0, 0]);
        assert_eq!(
            (j.class(), j.code(), j.off, j.imm),
            (class::JMP, jmp::JEQ, 3, 2)
        );
        assert!(!j.is_reg_source());
        // negative offset and immediate
        let k = Insn::new(0x07, 3, 0, -1, -5);
        assert_eq!(Insn::decode(k.encode()), k);
    }

    #[test]
    fn decode_program_checks_length() {
        assert_eq!(
            decode_program(&[0; 12]),
            Err(DecodeError::BadLength { len: 12 })
        );
        let p = decode_program(&encode_program(&[
            Insn::new(0xb7, 0, 0, 0, 1),
            Insn::new(0x95, 0, 0, 0, 0),
        ]))
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].op, class::JMP | jmp::EXIT);
    }
}
