//! # Loading clang-built eBPF objects
//!
//! A controller sends a filter program as the relocatable object that
//! `clang -O2 -target bpf -c` writes (EXTENSION.md §5). This module turns those
//! bytes into what the verifier and the interpreter consume: a flat instruction
//! vector whose map loads and sub-program calls are resolved, plus the map
//! definitions the program refers to. It is a pure function of the input bytes
//! ([`load`]); nothing here allocates maps or knows about OpenFlow.
//!
//! ## What is accepted
//!
//! ELF64, little-endian, `ET_REL`, `e_machine` `EM_BPF` or `EM_NONE` (old
//! toolchains). Everything else is refused with a typed [`ElfError`] whose
//! `Display` names the section, offset, symbol or instruction involved: the
//! switch sends that text back verbatim in a `BAD_ELF` error, and it is all a
//! controller author gets to debug with.
//!
//! ## Program choice
//!
//! The section named `filter` if there is one; else the first executable
//! section other than `.text` that holds instructions (clang always emits a
//! `.text`, usually empty, when every function has a `SEC()`); else `.text`
//! (Oko's own programs carry no section attribute at all). The program is the
//! *function* at offset 0 of that section: code is cut into functions at the
//! `STT_FUNC` symbols of its section, and only functions reachable by calls are
//! kept.
//!
//! ## Linking
//!
//! Every kept function is copied once, the entry first, the others appended in
//! the order the calls discover them (a worklist, so a call graph with shared
//! callees or cycles terminates). Sub-program calls (`call` with `src = 1`)
//! reach a function in three ways, and all end up as `imm = target - (pc + 1)`
//! in the output:
//!
//! - `R_BPF_64_32` against a function symbol: clang leaves `imm = -1`, so the
//!   target is `st_value / 8 + imm + 1` (libbpf's formula);
//! - `R_BPF_64_32` against the section symbol of `.text` (static callee): the
//!   same formula, with the callee's index minus one in `imm`;
//! - no relocation at all: clang resolved a call within the same section
//!   itself, so the target is the call's own `pc + imm + 1` in that section.
//!
//! For `SHT_RELA` sections the explicit addend replaces the implicit one: the
//! target is byte `st_value + r_addend` of the symbol's section. A target must
//! be the first instruction of a function; jumps must stay inside their
//! function, because after the reshuffle a jump that left its function would
//! land in some unrelated code.
//!
//! Map loads (`R_BPF_64_64` on the first slot of an `lddw`) become
//! `lddw dst, map_index` with `src = PSEUDO_MAP_FD`: the target byte
//! `st_value + addend` must be the start of a map definition.
//!
//! ## Invariants of an [`Object`]
//!
//! - `1 <= insns.len() <= MAX_INSNS`; `functions` tile `insns` in order, the
//!   entry first at 0; no `lddw` is split across a function end.
//! - Every `lddw` with `src != 0` came from a map relocation and has
//!   `imm < maps.len()`; an `lddw` with a non-zero `src` but no relocation is
//!   refused, so a program cannot forge a map reference.
//! - Every `call` with `src = 1` targets the first instruction of a function.
//!
//! ## Maps
//!
//! Two conventions, both 20-byte `{type, key_size, value_size, max_entries,
//! flags}` records named by the symbols that define them: libbpf's legacy
//! `maps` section with Linux type numbers, or else Oko's, where the first
//! writable data section (`.data`; libbpf's `license` and `version`
//! metadata sections excepted) holds the records with Oko's numbers. Map
//! ids are the definition order (symbol offsets), which is what a controller
//! sees in `map_desc`. Other global data (`.rodata`, `.bss`, non-map `.data`)
//! has no runtime home here and is refused by name.
//!
//! ## What it deliberately does not do
//!
//! It does not verify: opcodes, registers, memory accesses and termination are
//! the verifier's. It reads no BTF, `.BTF.ext` or DWARF and applies none of
//! their relocations (CO-RE is meaningless without a kernel). It never panics
//! and does all offset arithmetic checked: the bytes come from the network.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{FileHeader as _, Rel as _, Rela as _, SectionHeader as _, Sym as _};
use object::read::{SectionIndex, SymbolIndex};

use crate::isa::{self, Insn};
use crate::maps::{MapDef, MapType};

type Header = elf::FileHeader64<LE>;
type SectionHeader = elf::SectionHeader64<LE>;
type SymbolTable<'a> = object::read::elf::SymbolTable<'a, Header, &'a [u8]>;

/// Largest program accepted, in instruction slots, after sub-programs are
/// appended.
pub const MAX_INSNS: usize = 1 << 20;
/// Size of one map definition record in either convention.
pub const MAP_DEF_SIZE: usize = 20;

const EM_NONE: u16 = 0;
const EM_BPF: u16 = 247;
const R_BPF_NONE: u32 = 0;
const R_BPF_64_64: u32 = 1;
const R_BPF_64_32: u32 = 10;
const CALL: u8 = isa::class::JMP | isa::jmp::CALL;
const SHN_ABS: u32 = elf::SHN_ABS.0 as u32;
const SHN_COMMON: u32 = elf::SHN_COMMON.0 as u32;
const INSN: u64 = isa::INSN_SIZE as u64;

/// A loaded program: instructions ready for the verifier, and its maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The entry function followed by every sub-program it calls, relocated.
    pub insns: Vec<Insn>,
    /// Map definitions; a map's id is its index here.
    pub maps: Vec<MapDef>,
    /// Name of the section the program came from.
    pub section: String,
    /// Symbol name of the entry function, when the object has one.
    pub name: Option<String>,
    /// Function boundaries in `insns`, entry first, in order.
    pub functions: Vec<Function>,
    /// Which map convention the object used; `None` when it defines no maps.
    pub map_convention: Option<MapConvention>,
}

/// One function of a loaded program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its `STT_FUNC` symbol name, if it has one.
    pub name: Option<String>,
    /// The section it was copied from.
    pub section: String,
    /// Index of its first instruction in [`Object::insns`].
    pub start: usize,
    /// Number of instruction slots.
    pub len: usize,
}

/// How an object declares its maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapConvention {
    /// libbpf's legacy `maps` section, Linux map-type numbers.
    Legacy,
    /// Oko's: the first writable data section, Oko's map-type numbers.
    Oko,
}

impl fmt::Display for MapConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Legacy => f.write_str("legacy `maps` section, Linux numbering"),
            Self::Oko => f.write_str("Oko `.data` convention, Oko numbering"),
        }
    }
}

/// Why an object cannot be loaded. Every variant becomes `BAD_ELF`, with
/// `Display` as the explanation. `pc` fields are instruction indices within the
/// named section (byte offset / 8), as `llvm-objdump -d` prints them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElfError {
    /// The bytes do not start with `\x7fELF`.
    #[error("not an ELF file: missing \\x7fELF magic")]
    NotElf,
    /// The file ends before a structure it declares.
    #[error("ELF file truncated: the {what} needs {need} bytes, the file has {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed from the start of the file.
        need: u64,
        /// Bytes present.
        len: usize,
    },
    /// `EI_CLASS` is not `ELFCLASS64`.
    #[error("ELF class {class} is not ELFCLASS64 (2): eBPF objects are 64-bit")]
    NotElf64 {
        /// The `EI_CLASS` byte.
        class: u8,
    },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    #[error(
        "ELF data encoding {encoding} is not little-endian (1): build with -target bpf or bpfel"
    )]
    NotLittleEndian {
        /// The `EI_DATA` byte.
        encoding: u8,
    },
    /// `EI_VERSION` is not `EV_CURRENT`.
    #[error("ELF identification version {version} is not EV_CURRENT (1)")]
    BadVersion {
        /// The `EI_VERSION` byte.
        version: u8,
    },
    /// Not a relocatable object.
    #[error(
        "ELF type {e_type} is not ET_REL (1): send the object from `clang -c`, not a linked file"
    )]
    NotRelocatable {
        /// `e_type`.
        e_type: u16,
    },
    /// `e_machine` is neither `EM_BPF` nor `EM_NONE`.
    #[error("ELF machine {machine} is neither EM_BPF (247) nor EM_NONE (0)")]
    WrongMachine {
        /// `e_machine`.
        machine: u16,
    },
    /// A structure the `object` crate could not read.
    #[error("malformed ELF ({context}): {source}")]
    Malformed {
        /// What was being read.
        context: String,
        /// The reader's complaint.
        source: object::read::Error,
    },
    /// A section's bytes lie outside the file.
    #[error(
        "section {section:?}: {size} bytes at file offset {offset} lie outside the {len}-byte file"
    )]
    SectionOutOfBounds {
        /// Section name.
        section: String,
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
        /// File length.
        len: usize,
    },
    /// No section qualifies as the program.
    #[error(
        "no program: no `filter` section, no executable section with instructions, and an empty or missing .text"
    )]
    NoProgram,
    /// The `filter` section holds no file bytes (`SHT_NOBITS` or similar).
    #[error("program section {section:?} has type {sh_type}, not SHT_PROGBITS (1)")]
    ProgramNotCode {
        /// Section name.
        section: String,
        /// Its `sh_type`.
        sh_type: u32,
    },
    /// The program section is empty.
    #[error("program section {section:?} is empty")]
    EmptyProgram {
        /// Section name.
        section: String,
    },
    /// A code section's size is not a whole number of instruction slots.
    #[error("section {section:?}: size {size} is not a multiple of 8")]
    BadSectionSize {
        /// Section name.
        section: String,
        /// `sh_size`.
        size: u64,
    },
    /// Too many instructions.
    #[error("program has {insns} instructions, more than the limit of {max}")]
    TooLarge {
        /// Instructions in the offending section or in the linked program.
        insns: u64,
        /// [`MAX_INSNS`].
        max: usize,
    },
    /// A symbol in the map section is not 20 bytes.
    #[error(
        "map section {section:?}: symbol {symbol:?} has size {size}, a map definition is 20 bytes"
    )]
    BadMapSymbol {
        /// Map section name.
        section: String,
        /// Symbol name.
        symbol: String,
        /// `st_size`.
        size: u64,
    },
    /// A map symbol's offset is not a multiple of 20.
    #[error(
        "map section {section:?}: map {symbol:?} at offset {offset} is not at a multiple of 20"
    )]
    MisalignedMap {
        /// Map section name.
        section: String,
        /// Symbol name.
        symbol: String,
        /// `st_value`.
        offset: u64,
    },
    /// A map definition extends past its section.
    #[error(
        "map section {section:?} ({size} bytes): map {symbol:?} at offset {offset} extends past its end"
    )]
    MapOutOfBounds {
        /// Map section name.
        section: String,
        /// Symbol name.
        symbol: String,
        /// `st_value`.
        offset: u64,
        /// Size of the section's data.
        size: u64,
    },
    /// Two symbols name the same map record.
    #[error(
        "map section {section:?}: {first:?} and {second:?} are both defined at offset {offset}"
    )]
    DuplicateMap {
        /// Map section name.
        section: String,
        /// The offset.
        offset: u64,
        /// One symbol.
        first: String,
        /// The other.
        second: String,
    },
    /// A map type number unknown in its convention.
    #[error("map {symbol:?}: type {map_type} is not supported ({convention})")]
    UnknownMapType {
        /// Symbol name.
        symbol: String,
        /// The convention in force.
        convention: MapConvention,
        /// The type word.
        map_type: u32,
    },
    /// An Oko map kind this switch does not implement.
    #[error("map {symbol:?}: Oko {kind} maps are not supported; use ARRAY (1) or HASHMAP (4)")]
    UnsupportedOkoMap {
        /// Symbol name.
        symbol: String,
        /// `BLOOMFILTER` or `COUNTMIN`.
        kind: &'static str,
    },
    /// A relocation offset is not a multiple of 8.
    #[error("relocation section {section:?}: offset {offset} is not on an instruction boundary")]
    MisalignedReloc {
        /// Relocation section name.
        section: String,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation offset is past the end of the section it patches.
    #[error(
        "relocation section {section:?}: offset {offset} is past the end of the {size}-byte section it patches"
    )]
    RelocOutOfBounds {
        /// Relocation section name.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// Size of the patched section.
        size: u64,
    },
    /// Two relocations patch the same instruction.
    #[error("section {section:?}: two relocations at offset {offset}")]
    DuplicateReloc {
        /// The patched section's name.
        section: String,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation type other than `R_BPF_64_64`, `R_BPF_64_32`, `R_BPF_NONE`.
    #[error(
        "relocation section {section:?}: offset {offset}: relocation type {r_type} is not supported in code (only R_BPF_64_64 and R_BPF_64_32)"
    )]
    UnsupportedReloc {
        /// Relocation section name.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// `ELF64_R_TYPE`.
        r_type: u32,
    },
    /// A relocation names symbol 0 or one past the symbol table.
    #[error(
        "section {section:?} insn {pc}: relocation names symbol index {index}, which does not exist"
    )]
    BadSymbolIndex {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// `ELF64_R_SYM`.
        index: u32,
    },
    /// A relocation names an undefined (external) symbol.
    #[error(
        "section {section:?} insn {pc}: symbol {symbol:?} is undefined; objects are not linked with anything"
    )]
    UndefinedSymbol {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Symbol name.
        symbol: String,
    },
    /// An `lddw` refers to data that is not a map.
    #[error(
        "section {section:?} insn {pc}: lddw refers to {symbol:?} in section {symbol_section:?}, which is not a map; global variables (.data/.rodata/.bss) are not supported"
    )]
    NotAMap {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Symbol name.
        symbol: String,
        /// Section of the symbol.
        symbol_section: String,
    },
    /// An `lddw` points into the map section but not at a map's start.
    #[error(
        "section {section:?} insn {pc}: lddw refers to offset {offset} of the map section via {symbol:?}, where no map starts"
    )]
    NoMapAtOffset {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Symbol name.
        symbol: String,
        /// Byte offset in the map section.
        offset: i64,
    },
    /// An `R_BPF_64_64` on something other than the first slot of an `lddw`.
    #[error(
        "section {section:?} insn {pc}: map relocation on opcode {op:#04x}, not on the first slot of an lddw"
    )]
    MapRelocNotOnLddw {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// The opcode found there.
        op: u8,
    },
    /// An `lddw` whose second slot is past the end of its function or section.
    #[error("section {section:?} insn {pc}: lddw is cut off by the end of its function or section")]
    LddwSplit {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
    },
    /// An `lddw` with a non-zero `src` and no relocation.
    #[error("section {section:?} insn {pc}: lddw has src {src} but no map relocation")]
    UnrelocatedMapLoad {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// The `src` field.
        src: u8,
    },
    /// An `R_BPF_64_32` on something other than a `call` with `src = 1`.
    #[error(
        "section {section:?} insn {pc}: call relocation on opcode {op:#04x} src {src}, not on a BPF-to-BPF call"
    )]
    CallRelocNotOnCall {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// The opcode found there.
        op: u8,
        /// Its `src` field.
        src: u8,
    },
    /// A call's symbol is not in an executable section.
    #[error(
        "section {section:?} insn {pc}: call to {symbol:?} in section {target_section:?}, which is not code"
    )]
    CallTargetNotCode {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Symbol name.
        symbol: String,
        /// Section of the symbol.
        target_section: String,
    },
    /// A call does not land on the first instruction of a function.
    #[error(
        "section {section:?} insn {pc}: call target {target} in section {target_section:?} is not the start of a function"
    )]
    BadCallTarget {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Section the target is in.
        target_section: String,
        /// Target instruction index in that section.
        target: i64,
    },
    /// An `STT_FUNC` symbol is not at an instruction inside its section.
    #[error(
        "section {section:?}: function {symbol:?} at offset {offset} is not at an instruction of the section"
    )]
    BadFunctionSymbol {
        /// Section name.
        section: String,
        /// Symbol name.
        symbol: String,
        /// `st_value`.
        offset: u64,
    },
    /// A jump leaves its function.
    #[error("section {section:?} insn {pc}: jump to insn {target} leaves its function")]
    JumpOutOfFunction {
        /// Section name.
        section: String,
        /// Instruction index.
        pc: usize,
        /// Target instruction index in the same section.
        target: i64,
    },
}

/// Parses, links and relocates a clang `-target bpf` relocatable object.
pub fn load(elf: &[u8]) -> Result<Object, ElfError> {
    let file = Elf::parse(elf)?;
    let prog = file.program_section()?;
    let maps = file.maps()?;
    let mut linker = Linker {
        elf: &file,
        maps: &maps,
        code: HashMap::new(),
        out: Vec::new(),
        units: Vec::new(),
        placed: HashMap::new(),
    };
    linker.link(prog)?;
    let functions = linker
        .units
        .iter()
        .map(|u| Function {
            name: u.name.clone(),
            section: file.name(u.section).to_owned(),
            start: u.out,
            len: u.len,
        })
        .collect::<Vec<_>>();
    Ok(Object {
        insns: linker.out,
        name: functions.first().and_then(|f| f.name.clone()),
        functions,
        maps: maps.defs,
        section: file.name(prog).to_owned(),
        map_convention: maps.convention,
    })
}

/// Fuzzing entry point: loads `data` and checks the [`Object`] invariants.
#[cfg(fuzzing)]
pub fn fuzz_load(data: &[u8]) {
    let Ok(obj) = load(data) else { return };
    assert!(!obj.insns.is_empty() && obj.insns.len() <= MAX_INSNS);
    let mut next = 0;
    for f in &obj.functions {
        assert_eq!(f.start, next);
        assert!(f.len > 0);
        next += f.len;
    }
    assert_eq!(next, obj.insns.len());
    let mut pc = 0;
    while pc < obj.insns.len() {
        let i = obj.insns[pc];
        if i.is_lddw() {
            assert!(pc + 1 < obj.insns.len());
            if i.src != 0 {
                assert_eq!(i.src, isa::PSEUDO_MAP_FD);
                assert!(usize::try_from(i.imm).is_ok_and(|m| m < obj.maps.len()));
            }
            pc += 2;
            continue;
        }
        if i.op == CALL && i.src == isa::call_src::PSEUDO_CALL {
            let target = pc as i64 + 1 + i64::from(i.imm);
            assert!(obj.functions.iter().any(|f| f.start as i64 == target));
        }
        pc += 1;
    }
}

/// Where a symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SymSection {
    Undefined,
    /// `SHN_ABS`, `SHN_COMMON`, or an index past the section table.
    Other(u32),
    Index(usize),
}

#[derive(Debug, Clone)]
struct SymInfo {
    name: String,
    section: SymSection,
    value: u64,
    size: u64,
    st_type: u8,
}

/// The parsed container: header checked, section headers and names, symbols.
struct Elf<'a> {
    data: &'a [u8],
    headers: &'a [SectionHeader],
    names: Vec<String>,
    symbols: SymbolTable<'a>,
    /// Indices of the symbols defined in each section, other than section and
    /// file symbols. Indexed once so that a crafted object with many sections
    /// and symbols cannot make the loader quadratic.
    by_section: HashMap<usize, Vec<u32>>,
    /// `SHT_REL`/`SHT_RELA` sections by the section they patch (`sh_info`).
    rels_for: HashMap<usize, Vec<usize>>,
}

fn symbol_section(
    symbols: &SymbolTable<'_>,
    n_sections: usize,
    index: SymbolIndex,
    sym: &elf::Sym64<LE>,
) -> Result<SymSection, ElfError> {
    if sym.st_shndx(LE) == elf::SHN_UNDEF {
        return Ok(SymSection::Undefined);
    }
    let section = symbols
        .symbol_section(LE, sym, index)
        .map_err(|e| malformed(format!("section of symbol {}", index.0))(e))?;
    Ok(match section {
        Some(SectionIndex(i)) if i < n_sections => SymSection::Index(i),
        Some(SectionIndex(i)) => SymSection::Other(u32::try_from(i).unwrap_or(u32::MAX)),
        None => SymSection::Other(u32::from(sym.st_shndx(LE).0)),
    })
}

/// Wraps a reader error; call it inside `map_err(|e| ...)` when the context
/// is formatted, so that the success path does not allocate.
fn malformed(context: impl Into<String>) -> impl FnOnce(object::read::Error) -> ElfError {
    let context = context.into();
    move |source| ElfError::Malformed { context, source }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Saturating conversion for error reports of out-of-range targets.
fn sat(x: i128) -> i64 {
    i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX })
}

impl<'a> Elf<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        let len = data.len();
        if data.get(..4) != Some(&elf::ELFMAG[..]) {
            return Err(ElfError::NotElf);
        }
        let ident = data.get(..16).ok_or(ElfError::Truncated {
            what: "ELF identification",
            need: 16,
            len,
        })?;
        if ident[4] != elf::ELFCLASS64.0 {
            return Err(ElfError::NotElf64 { class: ident[4] });
        }
        if ident[5] != elf::ELFDATA2LSB.0 {
            return Err(ElfError::NotLittleEndian { encoding: ident[5] });
        }
        if ident[6] != elf::EV_CURRENT.0 {
            return Err(ElfError::BadVersion { version: ident[6] });
        }
        let header_size = core::mem::size_of::<Header>();
        if len < header_size {
            return Err(ElfError::Truncated {
                what: "ELF header",
                need: header_size as u64,
                len,
            });
        }
        let header = Header::parse(data).map_err(malformed("ELF header"))?;
        let e_type = header.e_type(LE).0;
        if e_type != elf::ET_REL.0 {
            return Err(ElfError::NotRelocatable { e_type });
        }
        let machine = header.e_machine(LE).0;
        if machine != EM_BPF && machine != EM_NONE {
            return Err(ElfError::WrongMachine { machine });
        }
        // Checked here rather than left to the reader so that a cut-off file
        // says so instead of "invalid offset/size/alignment".
        let shoff = header.e_shoff(LE);
        let shnum = u64::from(header.e_shnum(LE));
        if shoff != 0 && shnum != 0 {
            let shsize = core::mem::size_of::<SectionHeader>() as u64;
            let need = shnum
                .checked_mul(shsize)
                .and_then(|n| n.checked_add(shoff))
                .unwrap_or(u64::MAX);
            if need > len as u64 {
                return Err(ElfError::Truncated {
                    what: "section header table",
                    need,
                    len,
                });
            }
        }
        let sections = header
            .sections(LE, data)
            .map_err(malformed("section headers"))?;
        let headers = sections.iter().as_slice();
        let mut names = Vec::with_capacity(headers.len());
        for (i, sh) in headers.iter().enumerate() {
            let name = sections
                .section_name(LE, sh)
                .map_err(|e| malformed(format!("name of section {i}"))(e))?;
            names.push(lossy(name));
        }
        let symbols = sections
            .symbols(LE, data, elf::SHT_SYMTAB)
            .map_err(malformed("symbol table"))?;
        let mut by_section: HashMap<usize, Vec<u32>> = HashMap::new();
        for (index, sym) in symbols.enumerate().skip(1) {
            let st_type = sym.st_type();
            if st_type == elf::STT_SECTION || st_type == elf::STT_FILE {
                continue;
            }
            if let SymSection::Index(s) = symbol_section(&symbols, headers.len(), index, sym)?
                && let Ok(i) = u32::try_from(index.0)
            {
                by_section.entry(s).or_default().push(i);
            }
        }
        let mut rels_for: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, sh) in headers.iter().enumerate() {
            let t = sh.sh_type(LE);
            if (t == elf::SHT_REL || t == elf::SHT_RELA)
                && let Ok(target) = usize::try_from(sh.sh_info(LE))
            {
                rels_for.entry(target).or_default().push(i);
            }
        }
        Ok(Self {
            data,
            headers,
            names,
            symbols,
            by_section,
            rels_for,
        })
    }

    fn name(&self, section: usize) -> &str {
        self.names.get(section).map_or("", String::as_str)
    }

    fn sh_type(&self, section: usize) -> u32 {
        self.headers.get(section).map_or(0, |sh| sh.sh_type(LE).0)
    }

    fn has_flags(&self, section: usize, flags: u64) -> bool {
        self.headers
            .get(section)
            .is_some_and(|sh| sh.sh_flags(LE).0 & flags == flags)
    }

    fn is_code(&self, section: usize) -> bool {
        self.sh_type(section) == elf::SHT_PROGBITS.0
            && self.has_flags(section, elf::SHF_EXECINSTR.0)
    }

    fn size(&self, section: usize) -> u64 {
        self.headers.get(section).map_or(0, |sh| sh.sh_size(LE))
    }

    /// The bytes of a section; empty for `SHT_NOBITS`.
    fn section_data(&self, section: usize) -> Result<&'a [u8], ElfError> {
        let Some(sh) = self.headers.get(section) else {
            return Ok(&[]);
        };
        if sh.sh_type(LE) == elf::SHT_NOBITS {
            return Ok(&[]);
        }
        let (offset, size) = (sh.sh_offset(LE), sh.sh_size(LE));
        offset
            .checked_add(size)
            .and_then(|end| {
                let start = usize::try_from(offset).ok()?;
                let end = usize::try_from(end).ok()?;
                self.data.get(start..end)
            })
            .ok_or_else(|| ElfError::SectionOutOfBounds {
                section: self.name(section).to_owned(),
                offset,
                size,
                len: self.data.len(),
            })
    }

    /// A code section as instruction slots.
    fn section_insns(&self, section: usize) -> Result<Vec<Insn>, ElfError> {
        let size = self.size(section);
        if !size.is_multiple_of(INSN) {
            return Err(ElfError::BadSectionSize {
                section: self.name(section).to_owned(),
                size,
            });
        }
        if size / INSN > MAX_INSNS as u64 {
            return Err(ElfError::TooLarge {
                insns: size / INSN,
                max: MAX_INSNS,
            });
        }
        let bytes = self.section_data(section)?;
        isa::decode_program(bytes).map_err(|_| ElfError::BadSectionSize {
            section: self.name(section).to_owned(),
            size,
        })
    }

    fn program_section(&self) -> Result<usize, ElfError> {
        let nonempty_code = |i: &usize| self.is_code(*i) && self.size(*i) > 0;
        let chosen = self
            .names
            .iter()
            .position(|n| n == "filter")
            .or_else(|| {
                (1..self.headers.len()).find(|i| nonempty_code(i) && self.name(*i) != ".text")
            })
            .or_else(|| {
                (1..self.headers.len()).find(|i| nonempty_code(i) && self.name(*i) == ".text")
            })
            .ok_or(ElfError::NoProgram)?;
        let sh_type = self.sh_type(chosen);
        if sh_type != elf::SHT_PROGBITS.0 {
            return Err(ElfError::ProgramNotCode {
                section: self.name(chosen).to_owned(),
                sh_type,
            });
        }
        if self.size(chosen) == 0 {
            return Err(ElfError::EmptyProgram {
                section: self.name(chosen).to_owned(),
            });
        }
        Ok(chosen)
    }

    fn symbol(&self, index: u32) -> Result<Option<SymInfo>, ElfError> {
        let index = SymbolIndex(index as usize);
        let Ok(sym) = self.symbols.symbol(index) else {
            return Ok(None);
        };
        let section = symbol_section(&self.symbols, self.headers.len(), index, sym)?;
        let st_type = sym.st_type().0;
        let mut name = lossy(
            self.symbols
                .symbol_name(LE, sym)
                .map_err(|e| malformed(format!("name of symbol {}", index.0))(e))?,
        );
        if let SymSection::Index(i) = section
            && name.is_empty()
            && st_type == elf::STT_SECTION.0
        {
            name = self.name(i).to_owned();
        }
        if name.is_empty() {
            name = format!("<symbol {}>", index.0);
        }
        Ok(Some(SymInfo {
            name,
            section,
            value: sym.st_value(LE),
            size: sym.st_size(LE),
            st_type,
        }))
    }

    /// All symbols defined in `section`, excluding section and file symbols.
    fn symbols_in(&self, section: usize) -> Result<Vec<SymInfo>, ElfError> {
        let mut out = Vec::new();
        for &i in self.by_section.get(&section).map_or(&[][..], Vec::as_slice) {
            out.extend(self.symbol(i)?);
        }
        Ok(out)
    }

    fn section_label(&self, s: SymSection) -> String {
        match s {
            SymSection::Undefined => "<undefined>".to_owned(),
            SymSection::Other(SHN_ABS) => "<absolute>".to_owned(),
            SymSection::Other(SHN_COMMON) => "<common>".to_owned(),
            SymSection::Other(n) => format!("<section index {n:#x}>"),
            SymSection::Index(i) => self.name(i).to_owned(),
        }
    }

    fn maps(&self) -> Result<MapTable, ElfError> {
        let legacy = self.names.iter().position(|n| n == "maps");
        let oko = || {
            (1..self.headers.len()).find(|&i| {
                self.sh_type(i) == elf::SHT_PROGBITS.0
                    && self.has_flags(i, elf::SHF_WRITE.0 | elf::SHF_ALLOC.0)
                    && !self.has_flags(i, elf::SHF_EXECINSTR.0)
                    // libbpf's metadata sections are writable data too.
                    && !matches!(self.name(i), "license" | "version")
            })
        };
        let (section, convention) = match legacy {
            Some(i) => (i, MapConvention::Legacy),
            None => match oko() {
                Some(i) => (i, MapConvention::Oko),
                None => return Ok(MapTable::default()),
            },
        };
        let section_name = self.name(section).to_owned();
        let data = self.section_data(section)?;
        let mut syms = self.symbols_in(section)?;
        for s in &syms {
            if s.size != MAP_DEF_SIZE as u64 {
                return Err(ElfError::BadMapSymbol {
                    section: section_name,
                    symbol: s.name.clone(),
                    size: s.size,
                });
            }
            if !s.value.is_multiple_of(MAP_DEF_SIZE as u64) {
                return Err(ElfError::MisalignedMap {
                    section: section_name,
                    symbol: s.name.clone(),
                    offset: s.value,
                });
            }
        }
        syms.sort_by_key(|s| s.value);
        let mut table = MapTable {
            section: Some(section),
            convention: (!syms.is_empty()).then_some(convention),
            ..MapTable::default()
        };
        for (k, s) in syms.iter().enumerate() {
            if let Some(prev) = k.checked_sub(1).and_then(|p| syms.get(p))
                && prev.value == s.value
            {
                return Err(ElfError::DuplicateMap {
                    section: section_name,
                    offset: s.value,
                    first: prev.name.clone(),
                    second: s.name.clone(),
                });
            }
            let record = usize::try_from(s.value)
                .ok()
                .and_then(|start| data.get(start..start.checked_add(MAP_DEF_SIZE)?))
                .ok_or_else(|| ElfError::MapOutOfBounds {
                    section: section_name.clone(),
                    symbol: s.name.clone(),
                    offset: s.value,
                    size: data.len() as u64,
                })?;
            let word = |n: usize| {
                let mut w = [0; 4];
                w.copy_from_slice(&record[n * 4..n * 4 + 4]);
                u32::from_le_bytes(w)
            };
            let map_type = map_type(convention, word(0), &s.name)?;
            table.offsets.push(s.value);
            table.defs.push(MapDef {
                name: s.name.clone(),
                map_type,
                key_size: word(1),
                value_size: word(2),
                max_entries: word(3),
                flags: word(4),
            });
        }
        Ok(table)
    }
}

fn map_type(convention: MapConvention, n: u32, symbol: &str) -> Result<MapType, ElfError> {
    let unknown = || ElfError::UnknownMapType {
        symbol: symbol.to_owned(),
        convention,
        map_type: n,
    };
    match convention {
        MapConvention::Legacy => MapType::from_linux(n).ok_or_else(unknown),
        MapConvention::Oko => match n {
            1 => Ok(MapType::Array),
            4 => Ok(MapType::Hash),
            2 | 3 => Err(ElfError::UnsupportedOkoMap {
                symbol: symbol.to_owned(),
                kind: if n == 2 { "BLOOMFILTER" } else { "COUNTMIN" },
            }),
            _ => Err(unknown()),
        },
    }
}

#[derive(Debug, Default)]
struct MapTable {
    section: Option<usize>,
    convention: Option<MapConvention>,
    /// Byte offset of each map's record, ascending; parallel to `defs`.
    offsets: Vec<u64>,
    defs: Vec<MapDef>,
}

#[derive(Debug, Clone, Copy)]
struct Reloc {
    r_type: u32,
    sym: u32,
    /// `Some` for `SHT_RELA`; `None` means the addend is in the instruction.
    addend: Option<i64>,
}

/// One code section, decoded, cut into functions, with its relocations.
struct Code {
    insns: Vec<Insn>,
    /// First instruction of every function, ascending, always including 0.
    starts: Vec<usize>,
    /// Function symbol names by start.
    func_names: HashMap<usize, String>,
    /// By byte offset.
    relocs: BTreeMap<u64, Reloc>,
}

impl Code {
    fn load(elf: &Elf<'_>, section: usize) -> Result<Self, ElfError> {
        let insns = elf.section_insns(section)?;
        let name = elf.name(section);
        let mut starts = vec![0];
        let mut func_names = HashMap::new();
        for s in elf.symbols_in(section)? {
            if s.st_type != elf::STT_FUNC.0 {
                continue;
            }
            let start = usize::try_from(s.value / INSN)
                .ok()
                .filter(|&i| s.value.is_multiple_of(INSN) && i < insns.len())
                .ok_or_else(|| ElfError::BadFunctionSymbol {
                    section: name.to_owned(),
                    symbol: s.name.clone(),
                    offset: s.value,
                })?;
            starts.push(start);
            func_names.entry(start).or_insert(s.name);
        }
        starts.sort_unstable();
        starts.dedup();
        let mut relocs = BTreeMap::new();
        for &ri in elf.rels_for.get(&section).map_or(&[][..], Vec::as_slice) {
            let Some(sh) = elf.headers.get(ri) else {
                continue;
            };
            let is_rela = sh.sh_type(LE) == elf::SHT_RELA;
            let context = || format!("relocation section {:?}", elf.name(ri));
            let entries: Vec<(u64, u32, u32, Option<i64>)> = if is_rela {
                sh.data_as_array::<elf::Rela64<LE>, _>(LE, elf.data)
                    .map_err(malformed(context()))?
                    .iter()
                    .map(|r| {
                        let (o, s, t) = (r.r_offset(LE), r.r_sym(LE, false), r.r_type(LE, false));
                        (o, s, t.0, Some(r.r_addend(LE)))
                    })
                    .collect()
            } else {
                sh.data_as_array::<elf::Rel64<LE>, _>(LE, elf.data)
                    .map_err(malformed(context()))?
                    .iter()
                    .map(|r| (r.r_offset(LE), r.r_sym(LE), r.r_type(LE).0, None))
                    .collect()
            };
            for (offset, sym, r_type, addend) in entries {
                if r_type == R_BPF_NONE {
                    continue;
                }
                let rel_name = || elf.name(ri).to_owned();
                if !offset.is_multiple_of(INSN) {
                    return Err(ElfError::MisalignedReloc {
                        section: rel_name(),
                        offset,
                    });
                }
                if offset >= insns.len() as u64 * INSN {
                    return Err(ElfError::RelocOutOfBounds {
                        section: rel_name(),
                        offset,
                        size: elf.size(section),
                    });
                }
                if r_type != R_BPF_64_64 && r_type != R_BPF_64_32 {
                    return Err(ElfError::UnsupportedReloc {
                        section: rel_name(),
                        offset,
                        r_type,
                    });
                }
                let reloc = Reloc {
                    r_type,
                    sym,
                    addend,
                };
                if relocs.insert(offset, reloc).is_some() {
                    return Err(ElfError::DuplicateReloc {
                        section: name.to_owned(),
                        offset,
                    });
                }
            }
        }
        Ok(Self {
            insns,
            starts,
            func_names,
            relocs,
        })
    }

    /// End (exclusive) of the function starting at `start`.
    fn end_of(&self, start: usize) -> usize {
        let next = self.starts.partition_point(|&s| s <= start);
        self.starts.get(next).copied().unwrap_or(self.insns.len())
    }
}

/// A function placed in the output.
#[derive(Debug, Clone)]
struct Unit {
    section: usize,
    /// First instruction in the section.
    start: usize,
    len: usize,
    /// First instruction in the output.
    out: usize,
    name: Option<String>,
}

struct Linker<'e, 'a> {
    elf: &'e Elf<'a>,
    maps: &'e MapTable,
    code: HashMap<usize, Rc<Code>>,
    out: Vec<Insn>,
    units: Vec<Unit>,
    placed: HashMap<(usize, usize), usize>,
}

impl Linker<'_, '_> {
    fn code(&mut self, section: usize) -> Result<Rc<Code>, ElfError> {
        if let Some(c) = self.code.get(&section) {
            return Ok(Rc::clone(c));
        }
        let c = Rc::new(Code::load(self.elf, section)?);
        self.code.insert(section, Rc::clone(&c));
        Ok(c)
    }

    fn link(&mut self, prog: usize) -> Result<(), ElfError> {
        let code = self.code(prog)?;
        if code.insns.is_empty() {
            return Err(ElfError::EmptyProgram {
                section: self.elf.name(prog).to_owned(),
            });
        }
        self.place(prog, 0)?;
        let mut next = 0;
        while let Some(unit) = self.units.get(next).cloned() {
            self.relocate(&unit)?;
            next += 1;
        }
        Ok(())
    }

    /// Output index of the function starting at `start` of `section`, copying
    /// it to the output the first time. `None` when no function starts there.
    fn place(&mut self, section: usize, start: usize) -> Result<Option<usize>, ElfError> {
        if let Some(&out) = self.placed.get(&(section, start)) {
            return Ok(Some(out));
        }
        let code = self.code(section)?;
        if code.starts.binary_search(&start).is_err() {
            return Ok(None);
        }
        let end = code.end_of(start);
        let len = end - start;
        let out = self.out.len();
        let total = out.saturating_add(len);
        if total > MAX_INSNS {
            return Err(ElfError::TooLarge {
                insns: total as u64,
                max: MAX_INSNS,
            });
        }
        self.out.extend_from_slice(&code.insns[start..end]);
        self.units.push(Unit {
            section,
            start,
            len,
            out,
            name: code.func_names.get(&start).cloned(),
        });
        self.placed.insert((section, start), out);
        Ok(Some(out))
    }

    fn resolve_symbol(&self, section: &str, pc: usize, index: u32) -> Result<SymInfo, ElfError> {
        let sym = self
            .elf
            .symbol(index)?
            .ok_or_else(|| ElfError::BadSymbolIndex {
                section: section.to_owned(),
                pc,
                index,
            })?;
        if sym.section == SymSection::Undefined {
            return Err(ElfError::UndefinedSymbol {
                section: section.to_owned(),
                pc,
                symbol: sym.name,
            });
        }
        Ok(sym)
    }

    /// Resolves and patches every instruction of one placed function.
    fn relocate(&mut self, u: &Unit) -> Result<(), ElfError> {
        let code = self.code(u.section)?;
        let section = self.elf.name(u.section).to_owned();
        let mut lddw_tail = false;
        for local in 0..u.len {
            let pc = u.start + local;
            let out_pc = u.out + local;
            let insn = code.insns[pc];
            let reloc = code.relocs.get(&(pc as u64 * INSN)).copied();
            let wrong_slot = |r: Reloc| {
                if r.r_type == R_BPF_64_64 {
                    ElfError::MapRelocNotOnLddw {
                        section: section.clone(),
                        pc,
                        op: insn.op,
                    }
                } else {
                    ElfError::CallRelocNotOnCall {
                        section: section.clone(),
                        pc,
                        op: insn.op,
                        src: insn.src,
                    }
                }
            };
            if lddw_tail {
                lddw_tail = false;
                if let Some(r) = reloc {
                    return Err(wrong_slot(r));
                }
                continue;
            }
            if insn.is_lddw() {
                if local + 1 >= u.len {
                    return Err(ElfError::LddwSplit {
                        section: section.clone(),
                        pc,
                    });
                }
                lddw_tail = true;
                match reloc {
                    Some(r) if r.r_type == R_BPF_64_64 => {
                        let map = self.map_index(&section, pc, insn, r)?;
                        self.out[out_pc].src = isa::PSEUDO_MAP_FD;
                        self.out[out_pc].imm = map;
                        self.out[out_pc + 1].imm = 0;
                    }
                    Some(r) => return Err(wrong_slot(r)),
                    None if insn.src != 0 => {
                        return Err(ElfError::UnrelocatedMapLoad {
                            section: section.clone(),
                            pc,
                            src: insn.src,
                        });
                    }
                    None => {}
                }
                continue;
            }
            let is_pseudo_call = insn.op == CALL && insn.src == isa::call_src::PSEUDO_CALL;
            let target = match reloc {
                Some(r) if r.r_type == R_BPF_64_32 && is_pseudo_call => {
                    Some(self.call_target(&section, pc, insn, r)?)
                }
                Some(r) => return Err(wrong_slot(r)),
                None if is_pseudo_call => Some((u.section, pc as i128 + 1 + i128::from(insn.imm))),
                None => {
                    check_jump(&section, u, local, insn)?;
                    None
                }
            };
            if let Some((tsec, tpc)) = target {
                let target_section = self.elf.name(tsec).to_owned();
                let bad = || ElfError::BadCallTarget {
                    section: section.clone(),
                    pc,
                    target_section: target_section.clone(),
                    target: sat(tpc),
                };
                let start = usize::try_from(tpc).map_err(|_| bad())?;
                let t_out = self.place(tsec, start)?.ok_or_else(bad)?;
                let rel = t_out as i128 - (out_pc as i128 + 1);
                self.out[out_pc].imm = i32::try_from(rel).map_err(|_| bad())?;
            }
        }
        Ok(())
    }

    fn map_index(&self, section: &str, pc: usize, insn: Insn, r: Reloc) -> Result<i32, ElfError> {
        let sym = self.resolve_symbol(section, pc, r.sym)?;
        match self.maps.section {
            Some(m) if sym.section == SymSection::Index(m) => {}
            _ => {
                return Err(ElfError::NotAMap {
                    section: section.to_owned(),
                    pc,
                    symbol: sym.name,
                    symbol_section: self.elf.section_label(sym.section),
                });
            }
        }
        let addend = r.addend.unwrap_or(i64::from(insn.imm));
        let offset = i128::from(sym.value) + i128::from(addend);
        u64::try_from(offset)
            .ok()
            .and_then(|o| self.maps.offsets.binary_search(&o).ok())
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| ElfError::NoMapAtOffset {
                section: section.to_owned(),
                pc,
                symbol: sym.name,
                offset: sat(offset),
            })
    }

    /// Section and instruction index a relocated call lands on.
    fn call_target(
        &self,
        section: &str,
        pc: usize,
        insn: Insn,
        r: Reloc,
    ) -> Result<(usize, i128), ElfError> {
        let sym = self.resolve_symbol(section, pc, r.sym)?;
        let tsec = match sym.section {
            SymSection::Index(t) if self.elf.is_code(t) => t,
            other => {
                return Err(ElfError::CallTargetNotCode {
                    section: section.to_owned(),
                    pc,
                    symbol: sym.name,
                    target_section: self.elf.section_label(other),
                });
            }
        };
        let insn_size = i128::from(INSN);
        let value = i128::from(sym.value);
        let bytes = match r.addend {
            // REL: the implicit addend is `imm`, counted in instructions, minus one.
            None => value + (i128::from(insn.imm) + 1) * insn_size,
            Some(a) => value + i128::from(a),
        };
        if bytes % insn_size != 0 {
            return Err(ElfError::BadCallTarget {
                section: section.to_owned(),
                pc,
                target_section: self.elf.name(tsec).to_owned(),
                target: sat(bytes / insn_size),
            });
        }
        Ok((tsec, bytes / insn_size))
    }
}

/// Refuses a jump that leaves its function: once functions are moved, it
/// would land in unrelated code.
fn check_jump(section: &str, u: &Unit, local: usize, insn: Insn) -> Result<(), ElfError> {
    let class = insn.class();
    if class != isa::class::JMP && class != isa::class::JMP32 {
        return Ok(());
    }
    if matches!(insn.code(), isa::jmp::CALL | isa::jmp::EXIT) {
        return Ok(());
    }
    let offset = if insn.op == isa::class::JMP32 | isa::jmp::JA {
        i128::from(insn.imm)
    } else {
        i128::from(insn.off)
    };
    let target = local as i128 + 1 + offset;
    if target < 0 || target >= u.len as i128 {
        return Err(ElfError::JumpOutOfFunction {
            section: section.to_owned(),
            pc: u.start + local,
            target: sat(u.start as i128 + target),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Malformed objects: valid clang output from `tests/data/` mutated one
    //! field at a time, and small objects built here field by field.
    use super::*;

    const LEGACY: &[u8] = include_bytes!("../tests/data/legacy_maps.o");
    const OKO: &[u8] = include_bytes!("../tests/data/oko_data.o");
    const SUBPROG: &[u8] = include_bytes!("../tests/data/subprog.o");
    const MULTI: &[u8] = include_bytes!("../tests/data/multi_section.o");
    const GLOBAL: &[u8] = include_bytes!("../tests/data/global_data.o");
    const BTF: &[u8] = include_bytes!("../tests/data/legacy_maps_btf.o");
    const ALL: [&[u8]; 6] = [LEGACY, OKO, SUBPROG, MULTI, GLOBAL, BTF];

    // ELF64 field offsets (System V gABI).
    const E_TYPE: usize = 16;
    const E_MACHINE: usize = 18;
    const E_SHOFF: usize = 40;
    const E_SHENTSIZE: usize = 58;
    const E_SHNUM: usize = 60;
    const E_SHSTRNDX: usize = 62;
    const SH_TYPE: usize = 4;
    const SH_FLAGS: usize = 8;
    const SH_OFFSET: usize = 24;
    const SH_SIZE: usize = 32;
    const SH_LINK: usize = 40;
    const ST_SHNDX: usize = 6;
    const ST_VALUE: usize = 8;
    const ST_SIZE: usize = 16;

    fn rd(b: &[u8], at: usize, n: usize) -> u64 {
        b[at..at + n]
            .iter()
            .rev()
            .fold(0, |acc, &x| (acc << 8) | u64::from(x))
    }
    fn wr(b: &mut [u8], at: usize, n: usize, v: u64) {
        b[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
    }
    fn cstr(b: &[u8], at: usize) -> &[u8] {
        let end = b[at..].iter().position(|&c| c == 0).unwrap();
        &b[at..at + end]
    }
    /// File offset of section `i`'s header.
    fn sh(b: &[u8], i: usize) -> usize {
        rd(b, E_SHOFF, 8) as usize + 64 * i
    }
    /// File offset of the header of the section called `name`.
    fn section(b: &[u8], name: &str) -> usize {
        let strtab = rd(b, sh(b, rd(b, E_SHSTRNDX, 2) as usize) + SH_OFFSET, 8) as usize;
        (0..rd(b, E_SHNUM, 2) as usize)
            .map(|i| sh(b, i))
            .find(|&h| cstr(b, strtab + rd(b, h, 4) as usize) == name.as_bytes())
            .unwrap_or_else(|| panic!("no section {name}"))
    }
    /// File offset of byte `off` of section `name`'s data.
    fn data(b: &[u8], name: &str, off: usize) -> usize {
        rd(b, section(b, name) + SH_OFFSET, 8) as usize + off
    }
    /// File offset of the symbol table entry called `name`.
    fn symbol(b: &[u8], name: &str) -> usize {
        let symtab = section(b, ".symtab");
        let strtab = rd(b, sh(b, rd(b, symtab + SH_LINK, 4) as usize) + SH_OFFSET, 8) as usize;
        let (start, size) = (
            rd(b, symtab + SH_OFFSET, 8) as usize,
            rd(b, symtab + SH_SIZE, 8) as usize,
        );
        (start..start + size)
            .step_by(24)
            .find(|&s| cstr(b, strtab + rd(b, s, 4) as usize) == name.as_bytes())
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }
    fn mutate(b: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Result<Object, ElfError> {
        let mut v = b.to_vec();
        f(&mut v);
        load(&v)
    }

    #[test]
    fn fixtures_load() {
        for b in [LEGACY, OKO, SUBPROG, MULTI, BTF] {
            load(b).unwrap();
        }
    }

    #[test]
    fn rejects_non_elf_and_truncated_identification() {
        assert_eq!(load(b""), Err(ElfError::NotElf));
        assert_eq!(load(b"MZ\x90\x00 garbage"), Err(ElfError::NotElf));
        assert!(matches!(
            load(b"\x7fELF\x02\x01"),
            Err(ElfError::Truncated {
                need: 16,
                len: 6,
                ..
            })
        ));
        assert!(matches!(
            load(&LEGACY[..40]),
            Err(ElfError::Truncated {
                what: "ELF header",
                need: 64,
                len: 40
            })
        ));
    }

    #[test]
    fn rejects_every_proper_prefix() {
        for b in ALL {
            for len in 0..b.len() {
                assert!(load(&b[..len]).is_err(), "prefix of {len} bytes loaded");
            }
        }
        // Cutting into the section header table (at the end of clang's output).
        let cut = &LEGACY[..LEGACY.len() - 10];
        assert!(matches!(
            load(cut),
            Err(ElfError::Truncated {
                what: "section header table",
                ..
            })
        ));
    }

    #[test]
    fn rejects_wrong_class_encoding_version_type_machine() {
        let e = mutate(LEGACY, |b| b[4] = 1);
        assert_eq!(e, Err(ElfError::NotElf64 { class: 1 }));
        let e = mutate(LEGACY, |b| b[5] = 2);
        assert_eq!(e, Err(ElfError::NotLittleEndian { encoding: 2 }));
        let e = mutate(LEGACY, |b| b[6] = 0);
        assert_eq!(e, Err(ElfError::BadVersion { version: 0 }));
        let e = mutate(LEGACY, |b| wr(b, E_TYPE, 2, 2));
        assert_eq!(e, Err(ElfError::NotRelocatable { e_type: 2 }));
        let e = mutate(LEGACY, |b| wr(b, E_MACHINE, 2, 62));
        assert_eq!(e, Err(ElfError::WrongMachine { machine: 62 }));
        // EM_NONE is what old toolchains write: accepted.
        assert!(mutate(LEGACY, |b| wr(b, E_MACHINE, 2, 0)).is_ok());
        let e = mutate(LEGACY, |b| wr(b, E_SHENTSIZE, 2, 32));
        assert!(matches!(e, Err(ElfError::Malformed { .. })));
    }

    #[test]
    fn rejects_bad_program_sections() {
        let e = mutate(LEGACY, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_OFFSET, 8, 1 << 40);
        });
        assert!(
            matches!(e, Err(ElfError::SectionOutOfBounds { ref section, .. }) if section == "filter")
        );
        let e = mutate(LEGACY, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_SIZE, 8, 0x188 - 4);
        });
        assert!(matches!(
            e,
            Err(ElfError::BadSectionSize { size: 0x184, .. })
        ));
        let e = mutate(LEGACY, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_SIZE, 8, 0);
        });
        assert!(matches!(e, Err(ElfError::EmptyProgram { .. })));
        let e = mutate(LEGACY, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_TYPE, 4, 8); // SHT_NOBITS
        });
        assert!(matches!(
            e,
            Err(ElfError::ProgramNotCode { sh_type: 8, .. })
        ));
        // Declared size over the limit is refused before its bytes are read.
        let e = mutate(LEGACY, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_SIZE, 8, (MAX_INSNS as u64 + 1) * 8);
        });
        assert!(matches!(e, Err(ElfError::TooLarge { .. })));
    }

    #[test]
    fn rejects_bad_relocations() {
        let rel = |k: usize| data(LEGACY, ".relfilter", 16 * k);
        // r_offset at the section's end.
        let e = mutate(LEGACY, |b| wr(b, rel(0), 8, 0x188));
        assert!(matches!(
            e,
            Err(ElfError::RelocOutOfBounds {
                offset: 0x188,
                size: 0x188,
                ..
            })
        ));
        let e = mutate(LEGACY, |b| wr(b, rel(0), 8, 0xa8 + 4));
        assert!(matches!(
            e,
            Err(ElfError::MisalignedReloc { offset: 0xac, .. })
        ));
        // Symbol index past the table.
        let e = mutate(LEGACY, |b| wr(b, rel(0) + 12, 4, 99));
        assert!(matches!(
            e,
            Err(ElfError::BadSymbolIndex {
                pc: 21,
                index: 99,
                ..
            })
        ));
        // Relocation type R_BPF_64_ABS64.
        let e = mutate(LEGACY, |b| wr(b, rel(0) + 8, 4, 2));
        assert!(matches!(
            e,
            Err(ElfError::UnsupportedReloc { r_type: 2, .. })
        ));
        // Two relocations on one instruction.
        let e = mutate(LEGACY, |b| wr(b, rel(1), 8, 0xa8));
        assert!(matches!(
            e,
            Err(ElfError::DuplicateReloc { offset: 0xa8, .. })
        ));
        // On the second slot of the lddw, and on a helper call.
        let e = mutate(LEGACY, |b| wr(b, rel(0), 8, 0xb0));
        assert!(matches!(
            e,
            Err(ElfError::MapRelocNotOnLddw { pc: 22, op: 0, .. })
        ));
        let e = mutate(LEGACY, |b| wr(b, rel(0), 8, 0xb8));
        assert!(matches!(
            e,
            Err(ElfError::MapRelocNotOnLddw {
                pc: 23,
                op: 0x85,
                ..
            })
        ));
        // Undefined symbol.
        let e = mutate(LEGACY, |b| {
            let s = symbol(b, "flows");
            wr(b, s + ST_SHNDX, 2, 0);
        });
        assert!(
            matches!(e, Err(ElfError::UndefinedSymbol { pc: 21, ref symbol, .. }) if symbol == "flows")
        );
        // Offset 4 of the maps section (implicit addend in imm).
        let e = mutate(LEGACY, |b| {
            let at = data(b, "filter", 21 * 8 + 4);
            wr(b, at, 4, 4);
        });
        assert!(matches!(
            e,
            Err(ElfError::NoMapAtOffset {
                pc: 21,
                offset: 4,
                ..
            })
        ));
        // lddw with src = PSEUDO_MAP_FD but its relocation removed (R_BPF_NONE).
        let e = mutate(LEGACY, |b| {
            wr(b, rel(0) + 8, 4, 0);
            let at = data(b, "filter", 21 * 8 + 1);
            b[at] |= 0x10;
        });
        assert!(matches!(
            e,
            Err(ElfError::UnrelocatedMapLoad { pc: 21, src: 1, .. })
        ));
    }

    #[test]
    fn rejects_split_lddw_and_escaping_jumps() {
        // Cut `filter` just after the first slot of the lddw at insn 8.
        let e = mutate(MULTI, |b| {
            let h = section(b, "filter");
            wr(b, h + SH_SIZE, 8, 9 * 8);
        });
        assert!(matches!(e, Err(ElfError::LddwSplit { pc: 8, .. })));
        // `if r0 == 0 goto +3` at insn 11 retargeted past the end.
        let e = mutate(MULTI, |b| {
            let at = data(b, "filter", 11 * 8 + 2);
            wr(b, at, 2, 10);
        });
        assert!(matches!(
            e,
            Err(ElfError::JumpOutOfFunction {
                pc: 11,
                target: 22,
                ..
            })
        ));
    }

    #[test]
    fn rejects_global_data() {
        let e = load(GLOBAL);
        assert!(matches!(
            e,
            Err(ElfError::NotAMap { pc: 0, ref symbol, ref symbol_section, .. })
                if symbol == "packets" && symbol_section == ".bss"
        ));
    }

    #[test]
    fn rejects_bad_calls() {
        let rel = |k: usize| data(SUBPROG, ".relclassifier", 16 * k);
        // Call relocation moved onto `r6 = r1`.
        let e = mutate(SUBPROG, |b| wr(b, rel(0), 8, 0));
        assert!(matches!(
            e,
            Err(ElfError::CallRelocNotOnCall {
                pc: 0,
                op: 0xbf,
                src: 1,
                ..
            })
        ));
        // Relocation gone: `call -1` would call itself mid-function.
        let e = mutate(SUBPROG, |b| wr(b, rel(0) + 8, 4, 0));
        assert!(matches!(
            e,
            Err(ElfError::BadCallTarget {
                pc: 1,
                target: 1,
                ..
            })
        ));
        // Call relocation against the STT_FILE symbol (SHN_ABS).
        let e = mutate(SUBPROG, |b| wr(b, rel(0) + 12, 4, 1));
        assert!(matches!(
            e,
            Err(ElfError::CallTargetNotCode { pc: 1, ref target_section, .. }) if target_section == "<absolute>"
        ));
        // `call .text + 26` (is_ipv4 at 27) made `.text + 26`, mid-function.
        let e = mutate(SUBPROG, |b| {
            let at = data(b, "classifier", 8 * 8 + 4);
            wr(b, at, 4, 25);
        });
        assert!(matches!(
            e,
            Err(ElfError::BadCallTarget { pc: 8, target: 26, ref target_section, .. }) if target_section == ".text"
        ));
        // A function symbol off the instruction grid.
        let e = mutate(SUBPROG, |b| {
            let s = symbol(b, "unused_fn");
            wr(b, s + ST_VALUE, 8, 0x39);
        });
        assert!(matches!(
            e,
            Err(ElfError::BadFunctionSymbol { offset: 0x39, .. })
        ));
    }

    #[test]
    fn rejects_bad_map_definitions() {
        let e = mutate(LEGACY, |b| {
            let s = symbol(b, "flows");
            wr(b, s + ST_SIZE, 8, 16);
        });
        assert!(
            matches!(e, Err(ElfError::BadMapSymbol { size: 16, ref symbol, .. }) if symbol == "flows")
        );
        let e = mutate(LEGACY, |b| {
            let s = symbol(b, "totals");
            wr(b, s + ST_VALUE, 8, 24);
        });
        assert!(matches!(e, Err(ElfError::MisalignedMap { offset: 24, .. })));
        let e = mutate(LEGACY, |b| {
            let s = symbol(b, "totals");
            wr(b, s + ST_VALUE, 8, 0);
        });
        assert!(matches!(e, Err(ElfError::DuplicateMap { offset: 0, .. })));
        let e = mutate(LEGACY, |b| {
            let h = section(b, "maps");
            wr(b, h + SH_SIZE, 8, 30);
        });
        assert!(matches!(
            e,
            Err(ElfError::MapOutOfBounds {
                offset: 20,
                size: 30,
                ..
            })
        ));
        // Linux type 3 (PROG_ARRAY) is not a supported map.
        let e = mutate(LEGACY, |b| {
            let at = data(b, "maps", 0);
            wr(b, at, 4, 3);
        });
        assert!(matches!(
            e,
            Err(ElfError::UnknownMapType {
                map_type: 3,
                convention: MapConvention::Legacy,
                ..
            })
        ));
        // Oko: `seen` is the first record of .data.
        for (n, kind) in [(2, "BLOOMFILTER"), (3, "COUNTMIN")] {
            let e = mutate(OKO, |b| {
                let at = data(b, ".data", 0);
                wr(b, at, 4, n);
            });
            assert!(matches!(e, Err(ElfError::UnsupportedOkoMap { kind: k, .. }) if k == kind));
        }
        let e = mutate(OKO, |b| {
            let at = data(b, ".data", 0);
            wr(b, at, 4, 2 + 7);
        });
        assert!(matches!(
            e,
            Err(ElfError::UnknownMapType {
                map_type: 9,
                convention: MapConvention::Oko,
                ..
            })
        ));
    }

    #[test]
    fn input_alignment_does_not_matter() {
        let mut buf = vec![0u8; LEGACY.len() + 1];
        buf[1..].copy_from_slice(LEGACY);
        assert_eq!(load(&buf[1..]), load(LEGACY));
    }

    /// Deterministic byte flips of every fixture: errors are fine, panics are
    /// not (the fuzz target does this at scale).
    #[test]
    fn survives_random_mutations() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for b in ALL {
            for _ in 0..3000 {
                let mut v = b.to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % v.len() as u64) as usize;
                    v[at] = next() as u8;
                }
                let _ = load(&v);
            }
        }
    }

    // ---- objects built from scratch ----

    struct Sec {
        name: &'static str,
        sh_type: u32,
        flags: u64,
        data: Vec<u8>,
        link: u32,
        info: u32,
        entsize: u64,
    }

    const AX: u64 = 0x6;
    const WA: u64 = 0x3;

    fn code(name: &'static str, insns: &[Insn]) -> Sec {
        Sec {
            name,
            sh_type: 1,
            flags: AX,
            data: isa::encode_program(insns),
            link: 0,
            info: 0,
            entsize: 0,
        }
    }

    /// Lays out an ET_REL EM_BPF object: header, section data, `.shstrtab`,
    /// section headers. Section `i` of `secs` gets index `i + 1`.
    fn build(secs: &[Sec]) -> Vec<u8> {
        let mut shstr = vec![0u8];
        let mut name_off = Vec::new();
        for s in secs.iter().map(|s| s.name).chain([".shstrtab"]) {
            name_off.push(shstr.len() as u64);
            shstr.extend_from_slice(s.as_bytes());
            shstr.push(0);
        }
        let mut out = vec![0u8; 64];
        let mut offs = Vec::new();
        for s in secs {
            out.resize(out.len().next_multiple_of(8), 0);
            offs.push(out.len() as u64);
            out.extend_from_slice(&s.data);
        }
        let shstr_off = out.len() as u64;
        out.extend_from_slice(&shstr);
        out.resize(out.len().next_multiple_of(8), 0);
        let shoff = out.len() as u64;
        out.extend_from_slice(&[0; 64]);
        let mut header = |name: u64,
                          ty: u32,
                          flags: u64,
                          off: u64,
                          size: u64,
                          link: u32,
                          info: u32,
                          ent: u64| {
            let mut h = [0u8; 64];
            wr(&mut h, 0, 4, name);
            wr(&mut h, SH_TYPE, 4, ty.into());
            wr(&mut h, SH_FLAGS, 8, flags);
            wr(&mut h, SH_OFFSET, 8, off);
            wr(&mut h, SH_SIZE, 8, size);
            wr(&mut h, SH_LINK, 4, link.into());
            wr(&mut h, 44, 4, info.into());
            wr(&mut h, 48, 8, 8);
            wr(&mut h, 56, 8, ent);
            out.extend_from_slice(&h);
        };
        for (i, s) in secs.iter().enumerate() {
            let size = s.data.len() as u64;
            header(
                name_off[i],
                s.sh_type,
                s.flags,
                offs[i],
                size,
                s.link,
                s.info,
                s.entsize,
            );
        }
        header(
            name_off[secs.len()],
            3,
            0,
            shstr_off,
            shstr.len() as u64,
            0,
            0,
            0,
        );
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        wr(&mut out, E_TYPE, 2, 1);
        wr(&mut out, E_MACHINE, 2, 247);
        wr(&mut out, 20, 4, 1);
        wr(&mut out, E_SHOFF, 8, shoff);
        wr(&mut out, 52, 2, 64);
        wr(&mut out, E_SHENTSIZE, 2, 64);
        wr(&mut out, E_SHNUM, 2, secs.len() as u64 + 2);
        wr(&mut out, E_SHSTRNDX, 2, secs.len() as u64 + 1);
        out
    }

    fn strtab(names: &[&str]) -> (Sec, Vec<u32>) {
        let mut d = vec![0u8];
        let mut offs = Vec::new();
        for n in names {
            offs.push(d.len() as u32);
            d.extend_from_slice(n.as_bytes());
            d.push(0);
        }
        let sec = Sec {
            name: ".strtab",
            sh_type: 3,
            flags: 0,
            data: d,
            link: 0,
            info: 0,
            entsize: 0,
        };
        (sec, offs)
    }

    /// `(name offset, st_info, shndx, value, size)` entries after the null one.
    fn symtab(strtab_index: u32, syms: &[(u32, u8, u16, u64, u64)]) -> Sec {
        let mut d = vec![0u8; 24];
        for &(name, info, shndx, value, size) in syms {
            let mut s = [0u8; 24];
            wr(&mut s, 0, 4, name.into());
            s[4] = info;
            wr(&mut s, ST_SHNDX, 2, shndx.into());
            wr(&mut s, ST_VALUE, 8, value);
            wr(&mut s, ST_SIZE, 8, size);
            d.extend_from_slice(&s);
        }
        Sec {
            name: ".symtab",
            sh_type: 2,
            flags: 0,
            data: d,
            link: strtab_index,
            info: 1,
            entsize: 24,
        }
    }

    fn relocs(
        name: &'static str,
        rela: bool,
        symtab: u32,
        target: u32,
        entries: &[(u64, u32, u32, i64)],
    ) -> Sec {
        let mut d = Vec::new();
        for &(offset, sym, ty, addend) in entries {
            d.extend_from_slice(&offset.to_le_bytes());
            d.extend_from_slice(&((u64::from(sym) << 32) | u64::from(ty)).to_le_bytes());
            if rela {
                d.extend_from_slice(&addend.to_le_bytes());
            }
        }
        Sec {
            name,
            sh_type: if rela { 4 } else { 9 },
            flags: 0,
            data: d,
            link: symtab,
            info: target,
            entsize: if rela { 24 } else { 16 },
        }
    }

    const STB_GLOBAL_FUNC: u8 = 0x12;
    const STB_GLOBAL_OBJECT: u8 = 0x11;
    const STB_LOCAL_SECTION: u8 = 0x03;

    fn lddw(dst: u8, imm: i32) -> [Insn; 2] {
        [Insn::new(isa::LDDW, dst, 0, 0, imm), Insn::default()]
    }
    fn call(src: u8, imm: i32) -> Insn {
        Insn::new(CALL, 0, src, 0, imm)
    }
    fn mov(dst: u8, imm: i32) -> Insn {
        Insn::new(isa::class::ALU64 | isa::alu::MOV, dst, 0, 0, imm)
    }
    const EXIT: Insn = Insn::new(isa::class::JMP | isa::jmp::EXIT, 0, 0, 0, 0);

    fn map_record(ty: u32) -> Vec<u8> {
        [ty, 4, 8, 16, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    /// prog (1), .text (2), maps (3), .strtab (4), .symtab (5), .relaprog (6).
    fn rela_object(map_addend: i64, call_addend: i64) -> Vec<u8> {
        let [l0, l1] = lddw(1, 0);
        let prog = code("prog", &[l0, l1, call(1, 0), EXIT]);
        let text = code(".text", &[mov(0, 7), EXIT, mov(0, 9), EXIT]);
        let maps = Sec {
            name: "maps",
            sh_type: 1,
            flags: WA,
            data: [map_record(1), map_record(2)].concat(),
            link: 0,
            info: 0,
            entsize: 0,
        };
        let (strs, n) = strtab(&["m0", "m1", "sub", "sub2", "main"]);
        let syms = symtab(
            4,
            &[
                (0, STB_LOCAL_SECTION, 3, 0, 0),
                (n[0], STB_GLOBAL_OBJECT, 3, 0, 20),
                (n[1], STB_GLOBAL_OBJECT, 3, 20, 20),
                (n[2], STB_GLOBAL_FUNC, 2, 0, 16),
                (n[3], STB_GLOBAL_FUNC, 2, 16, 16),
                (n[4], STB_GLOBAL_FUNC, 1, 0, 32),
            ],
        );
        let rela = relocs(
            ".relaprog",
            true,
            5,
            1,
            &[
                (0, 1, R_BPF_64_64, map_addend),
                (16, 4, R_BPF_64_32, call_addend),
            ],
        );
        build(&[prog, text, maps, strs, syms, rela])
    }

    #[test]
    fn rela_addends_select_map_and_callee() {
        // Section symbol of `maps` + 20 is m1; `sub` + 16 is `sub2`.
        let obj = load(&rela_object(20, 16)).unwrap();
        assert_eq!(obj.section, "prog");
        assert_eq!(obj.name.as_deref(), Some("main"));
        assert_eq!(obj.maps.len(), 2);
        assert_eq!(
            (obj.insns[0].src, obj.insns[0].imm),
            (isa::PSEUDO_MAP_FD, 1)
        );
        assert_eq!(obj.insns.len(), 6);
        // sub2 appended at 4; the call is at 2.
        assert_eq!(obj.insns[2].imm, 4 - 3);
        assert_eq!(obj.insns[4], mov(0, 9));
        assert_eq!(obj.functions[1].name.as_deref(), Some("sub2"));
        let e = load(&rela_object(8, 0));
        assert!(matches!(e, Err(ElfError::NoMapAtOffset { offset: 8, .. })));
        let e = load(&rela_object(0, 4));
        assert!(matches!(e, Err(ElfError::BadCallTarget { .. })));
    }

    #[test]
    fn recursion_and_shared_callees_are_placed_once() {
        // main calls f twice; f calls itself (resolved by the compiler, no
        // relocation). Linking must terminate with f copied once.
        let prog = code("filter", &[call(1, -1), call(1, -1), EXIT]);
        let text = code(".text", &[call(1, -1), EXIT]);
        let (strs, n) = strtab(&["f"]);
        let syms = symtab(3, &[(n[0], STB_GLOBAL_FUNC, 2, 0, 16)]);
        let rel = relocs(
            ".relfilter",
            false,
            4,
            1,
            &[(0, 1, R_BPF_64_32, 0), (8, 1, R_BPF_64_32, 0)],
        );
        let obj = load(&build(&[prog, text, strs, syms, rel])).unwrap();
        assert_eq!(obj.insns.len(), 5);
        assert_eq!(obj.functions.len(), 2);
        assert_eq!(obj.insns[0].imm, 2);
        assert_eq!(obj.insns[1].imm, 1);
        assert_eq!(obj.insns[3].imm, -1);
    }

    #[test]
    fn no_program_and_non_code_call_target() {
        let data = Sec {
            name: ".data",
            sh_type: 1,
            flags: WA,
            data: vec![0; 8],
            link: 0,
            info: 0,
            entsize: 0,
        };
        assert_eq!(load(&build(&[data])), Err(ElfError::NoProgram));
        // A call relocation against a map symbol.
        let prog = code("filter", &[call(1, -1), EXIT]);
        let maps = Sec {
            name: "maps",
            sh_type: 1,
            flags: WA,
            data: map_record(1),
            link: 0,
            info: 0,
            entsize: 0,
        };
        let (strs, n) = strtab(&["m"]);
        let syms = symtab(3, &[(n[0], STB_GLOBAL_OBJECT, 2, 0, 20)]);
        let rel = relocs(".relfilter", false, 4, 1, &[(0, 1, R_BPF_64_32, 0)]);
        let e = load(&build(&[prog, maps, strs, syms, rel]));
        assert!(matches!(
            e,
            Err(ElfError::CallTargetNotCode { ref target_section, .. }) if target_section == "maps"
        ));
    }

    #[test]
    fn unreferenced_functions_and_lone_text() {
        // With no other code, .text is the program; `g` is never called.
        let text = code(".text", &[mov(0, 1), EXIT, mov(0, 2), EXIT]);
        let (strs, n) = strtab(&["f", "g"]);
        let syms = symtab(
            2,
            &[
                (n[0], STB_GLOBAL_FUNC, 1, 0, 16),
                (n[1], STB_GLOBAL_FUNC, 1, 16, 16),
            ],
        );
        let obj = load(&build(&[text, strs, syms])).unwrap();
        assert_eq!(obj.section, ".text");
        assert_eq!(obj.insns, vec![mov(0, 1), EXIT]);
        assert_eq!(obj.map_convention, None);
    }
}
