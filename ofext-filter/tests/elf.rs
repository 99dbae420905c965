//! Loads the clang-built objects in `tests/data/` (rebuilt by
//! `tests/data/build.sh`) and checks the linked result instruction by
//! instruction against the disassembly (`llvm-objdump -dr`).

use ofext_filter::elf::{self, ElfError, MapConvention, Object};
use ofext_filter::isa::{self, Insn};
use ofext_filter::maps::{MapDef, MapType};

const LEGACY: &[u8] = include_bytes!("data/legacy_maps.o");
const OKO: &[u8] = include_bytes!("data/oko_data.o");
const SUBPROG: &[u8] = include_bytes!("data/subprog.o");
const MULTI: &[u8] = include_bytes!("data/multi_section.o");
const GLOBAL: &[u8] = include_bytes!("data/global_data.o");
const LEGACY_BTF: &[u8] = include_bytes!("data/legacy_maps_btf.o");

const CALL: u8 = isa::class::JMP | isa::jmp::CALL;

fn map(name: &str, map_type: MapType, key: u32, value: u32, max: u32) -> MapDef {
    MapDef {
        name: name.to_owned(),
        map_type,
        key_size: key,
        value_size: value,
        max_entries: max,
        flags: 0,
    }
}

/// `(pc, map index)` of every relocated `lddw`, checking the second slot.
fn map_loads(obj: &Object) -> Vec<(usize, i32)> {
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < obj.insns.len() {
        let i = obj.insns[pc];
        if i.is_lddw() {
            if i.src == isa::PSEUDO_MAP_FD {
                assert_eq!(
                    obj.insns[pc + 1],
                    Insn::default(),
                    "second slot of lddw at {pc}"
                );
                out.push((pc, i.imm));
            }
            pc += 2;
        } else {
            pc += 1;
        }
    }
    out
}

fn helper_calls(obj: &Object) -> Vec<(usize, i32)> {
    (0..obj.insns.len())
        .filter(|&pc| obj.insns[pc].op == CALL && obj.insns[pc].src == isa::call_src::HELPER)
        .map(|pc| (pc, obj.insns[pc].imm))
        .collect()
}

#[test]
fn legacy_maps_section() {
    let obj = elf::load(LEGACY).unwrap();
    assert_eq!(obj.section, "filter");
    assert_eq!(obj.name.as_deref(), Some("count_sources"));
    assert_eq!(obj.insns.len(), 49);
    assert_eq!(obj.functions.len(), 1);
    assert_eq!(obj.map_convention, Some(MapConvention::Legacy));
    assert_eq!(
        obj.maps,
        vec![
            map("flows", MapType::Hash, 4, 8, 1024),
            map("totals", MapType::Array, 4, 8, 4),
        ]
    );
    // `r1 = flows ll` twice, `r1 = totals ll` once.
    assert_eq!(map_loads(&obj), vec![(21, 0), (33, 0), (39, 1)]);
    assert!(obj.insns[21].dst == 1 && obj.insns[39].dst == 1);
    assert_eq!(helper_calls(&obj), vec![(23, 1), (36, 2), (41, 1)]);
    // Untouched code: `if r3 > r2 goto +40` and the final exit.
    assert_eq!(obj.insns[7], Insn::new(0x2d, 3, 2, 40, 0));
    assert_eq!(obj.insns[48], Insn::new(0x95, 0, 0, 0, 0));
}

#[test]
fn btf_and_dwarf_are_ignored() {
    // Same source as `legacy_maps.o`, built with -g: .BTF, .BTF.ext, .debug_*
    // and their data relocations are skipped, the program is unchanged.
    assert_eq!(elf::load(LEGACY_BTF), elf::load(LEGACY));
}

#[test]
fn oko_data_section() {
    let obj = elf::load(OKO).unwrap();
    assert_eq!(obj.section, ".text");
    assert_eq!(obj.name.as_deref(), Some("filter"));
    assert_eq!(obj.insns.len(), 30);
    assert_eq!(obj.map_convention, Some(MapConvention::Oko));
    // Definition order is the order in .data (seen at 0, count at 20), not
    // the symbol table order.
    assert_eq!(
        obj.maps,
        vec![
            map("seen", MapType::Hash, 2, 4, 256),
            map("count", MapType::Array, 4, 8, 1),
        ]
    );
    assert_eq!(map_loads(&obj), vec![(13, 1), (22, 0)]);
}

#[test]
fn bpf_to_bpf_calls() {
    let obj = elf::load(SUBPROG).unwrap();
    assert_eq!(obj.section, "classifier");
    assert_eq!(obj.name.as_deref(), Some("tcp_only"));
    assert!(obj.maps.is_empty());
    assert_eq!(obj.map_convention, None);
    // The entry, then callees in discovery order; unused_fn is left out.
    let layout: Vec<_> = obj
        .functions
        .iter()
        .map(|f| {
            (
                f.name.as_deref().unwrap(),
                f.section.as_str(),
                f.start,
                f.len,
            )
        })
        .collect();
    assert_eq!(
        layout,
        vec![
            ("tcp_only", "classifier", 0, 17),
            ("is_tcp", ".text", 17, 20),
            ("is_ipv4", ".text", 37, 8),
            ("ip_proto", ".text", 45, 2),
        ]
    );
    assert_eq!(obj.insns.len(), 47);
    let calls: Vec<_> = (0..obj.insns.len())
        .filter(|&pc| obj.insns[pc].op == CALL)
        .map(|pc| (pc, obj.insns[pc].src, obj.insns[pc].imm))
        .collect();
    assert_eq!(
        calls,
        vec![
            (1, 1, 17 - 2),        // is_tcp, relocated against its symbol
            (8, 1, 37 - 9),        // is_ipv4, relocated against .text
            (17 + 7, 1, 37 - 25),  // is_tcp -> is_ipv4, resolved by clang
            (17 + 12, 1, 45 - 30), // is_tcp -> ip_proto, from .rel.text
        ]
    );
    // The callee bodies are copied verbatim: ip_proto is `r0 = *(u8 *)(r1 + 23); exit`.
    assert_eq!(obj.insns[45], Insn::new(0x71, 0, 1, 23, 0));
    assert_eq!(obj.insns[46], Insn::new(0x95, 0, 0, 0, 0));
}

#[test]
fn filter_section_is_preferred() {
    let obj = elf::load(MULTI).unwrap();
    assert_eq!(obj.section, "filter");
    assert_eq!(obj.name.as_deref(), Some("chosen"));
    assert_eq!(obj.insns.len(), 17);
    assert_eq!(obj.maps, vec![map("hits", MapType::PercpuArray, 4, 8, 2)]);
    assert_eq!(map_loads(&obj), vec![(8, 0)]);
    assert_eq!(helper_calls(&obj), vec![(10, 1)]);
}

#[test]
fn global_variables_are_refused() {
    let err = elf::load(GLOBAL).unwrap_err();
    assert!(matches!(
        err,
        ElfError::NotAMap { ref section, pc: 0, ref symbol, ref symbol_section, .. }
            if section == "filter" && symbol == "packets" && symbol_section == ".bss"
    ));
}

#[test]
fn loading_is_deterministic_and_alignment_free() {
    for obj in [LEGACY, OKO, SUBPROG, MULTI, LEGACY_BTF] {
        let mut shifted = vec![0u8; obj.len() + 3];
        shifted[3..].copy_from_slice(obj);
        assert_eq!(elf::load(&shifted[3..]), elf::load(obj));
    }
}
