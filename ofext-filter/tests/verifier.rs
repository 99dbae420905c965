//! Verifier tests: small programs in the assembler's syntax, accepted and
//! refused ones, the Oko regressions, and a never-panics property.
//!
//! In refused programs the instruction the error must name is marked with
//! `#!`; [`marked_pc`] counts the slots before it.

use ofext_filter::asm::assemble;
use ofext_filter::isa::Insn;
use ofext_filter::maps::{MapDef, MapType};
use ofext_filter::verifier::{MAX_INSNS, VerifyError, VerifyInfo, verify};
use proptest::prelude::*;

fn map(name: &str, map_type: MapType, key_size: u32, value_size: u32) -> MapDef {
    MapDef {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries: 64,
        flags: 0,
    }
}

/// map:0 counters (u32 -> u64), map:1 flows (8-byte key -> 16 bytes),
/// map:2 table (u32 -> 64 bytes).
fn maps() -> Vec<MapDef> {
    vec![
        map("counters", MapType::Array, 4, 8),
        map("flows", MapType::Hash, 8, 16),
        map("table", MapType::Array, 4, 64),
    ]
}

fn check(src: &str) -> Result<VerifyInfo, VerifyError> {
    let p = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    verify(&p, &maps())
}

#[track_caller]
fn ok(src: &str) -> VerifyInfo {
    check(src).unwrap_or_else(|e| panic!("refused: {e}\n{src}"))
}

#[track_caller]
fn err(src: &str) -> VerifyError {
    match check(src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => {
            // Every message is one line naming the instruction.
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(
                msg.starts_with(&format!("pc {}: ", e.pc().unwrap())),
                "{msg}"
            );
            e
        }
    }
}

/// The slot index of the line marked `#!`.
fn marked_pc(src: &str) -> usize {
    let mut pc = 0;
    for line in src.lines() {
        if line.contains("#!") {
            return pc;
        }
        let mut text = line.split('#').next().unwrap_or("").trim();
        if let Some(i) = text.find(':') {
            let head = &text[..i];
            if !head.contains(' ') && !head.contains(',') {
                text = text[i + 1..].trim();
            }
        }
        if !text.is_empty() {
            pc += if text.starts_with("lddw") { 2 } else { 1 };
        }
    }
    panic!("no #! marker in\n{src}");
}

macro_rules! refuse {
    ($src:expr, $($pat:tt)+) => {{
        let src: &str = $src;
        let e = err(src);
        assert!(matches!(e, $($pat)+), "got {e:?}\n{src}");
        e
    }};
}

/// Asserts the variant and that the error names the `#!` instruction.
macro_rules! refuse_at {
    ($src:expr, $($pat:tt)+) => {{
        let src: &str = $src;
        let e = refuse!(src, $($pat)+);
        assert_eq!(e.pc(), Some(marked_pc(src)), "{e}\n{src}");
        e
    }};
}

// ===========================================================================
// Accepted programs: realistic filter idioms.
// ===========================================================================

#[test]
fn accept_return_constant() {
    let info = ok("mov %r0, 1\nexit");
    assert_eq!(info.n_insns, 2);
    assert_eq!(info.max_insns_executed, 2);
    assert_eq!(info.max_call_depth, 1);
    assert!(info.helpers_used.is_empty());
}

#[test]
fn accept_ethertype_check_on_length() {
    ok("
        jlt %r2, 14, drop
        ldxh %r3, [%r1+12]
        jne %r3, 0x0008, drop
        mov %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_ethertype_check_with_end_pointer() {
    ok("
        mov %r4, %r1
        add %r4, %r2          # end = pkt + len
        mov %r3, %r1
        add %r3, 14
        jgt %r3, %r4, drop    # if (pkt + 14 > end) drop
        ldxh %r5, [%r1+12]
        jne %r5, 0x0008, drop
        mov %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_end_pointer_reversed_comparisons() {
    // if (end >= pkt + 34) goto ok / if (end < pkt + 34) drop
    ok("
        mov %r4, %r1
        add %r4, %r2
        mov %r3, %r1
        add %r3, 34
        jge %r4, %r3, good
        mov %r0, 0
        exit
    good:
        ldxw %r0, [%r1+30]
        exit
    ");
    ok("
        mov %r4, %r1
        add %r4, %r2
        mov %r3, %r1
        add %r3, 34
        jlt %r4, %r3, drop
        ldxw %r0, [%r3-4]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    ok("
        mov %r4, %r1
        add %r4, %r2
        mov %r3, %r1
        add %r3, 34
        jle %r3, %r4, good
        mov %r0, 0
        exit
    good:
        ldxb %r0, [%r1+33]
        exit
    ");
}

#[test]
fn accept_ipv4_proto_udp() {
    ok("
        jlt %r2, 34, drop
        ldxh %r3, [%r1+12]
        jne %r3, 0x0008, drop
        ldxb %r3, [%r1+23]
        jne %r3, 17, drop
        ldxw %r0, [%r1+26]    # source address
        be32 %r0
        jeq %r0, 0x0a000001, hit
    drop:
        mov %r0, 0
        exit
    hit:
        mov %r0, 1
        exit
    ");
}

/// `ihl = (b & 0xf) * 4; tcp = ip + ihl; if (tcp + 20 > end) drop;`
#[test]
fn accept_tcp_ports_after_variable_ihl_pointer_check() {
    ok("
        mov %r9, %r1
        add %r9, %r2          # end
        mov %r3, %r1
        add %r3, 34
        jgt %r3, %r9, drop    # eth + minimal ip header
        ldxb %r4, [%r1+23]
        jne %r4, 6, drop      # TCP
        ldxb %r4, [%r1+14]
        and %r4, 0xf
        lsh %r4, 2            # ihl * 4
        mov %r5, %r1
        add %r5, 14
        add %r5, %r4          # tcp header
        mov %r6, %r5
        add %r6, 20
        jgt %r6, %r9, drop
        ldxh %r7, [%r5+2]     # destination port
        be16 %r7
        jne %r7, 80, drop
        mov %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

/// The same check written on the length: `if (len < 14 + ihl + 20) drop`.
#[test]
fn accept_tcp_ports_after_variable_ihl_length_check() {
    ok("
        jlt %r2, 34, drop
        ldxb %r4, [%r1+14]
        and %r4, 0xf
        mul %r4, 4
        mov %r5, %r4
        add %r5, 34           # 14 + ihl + 20
        jlt %r2, %r5, drop
        mov %r6, %r1
        add %r6, %r4
        ldxh %r0, [%r6+16]    # tcp dport = 14 + ihl + 2
        ldxh %r7, [%r6+14]    # tcp sport
        ldxh %r7, [%r6+32]    # urgent pointer, last bytes of the header
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_ihl_with_32bit_arithmetic() {
    ok("
        jlt %r2, 34, drop
        ldxb %r4, [%r1+14]
        and32 %r4, 15
        lsh32 %r4, 2
        mov %r6, %r1
        add %r6, %r4
        mov %r7, %r6
        add %r7, 38
        mov %r8, %r1
        add %r8, %r2
        jgt %r7, %r8, drop
        ldxw %r0, [%r6+34]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_length_copies_and_signed_check_of_length() {
    ok("
        mov %r6, %r2
        jslt %r6, 20, drop    # signed, but the length is non-negative
        ldxw %r0, [%r1+16]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    ok("
        jlt32 %r2, 8, drop    # 32-bit check of the length
        ldxdw %r0, [%r1+0]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    ok("
        jsge %r2, 8, good
        mov %r0, 0
        exit
    good:
        ldxdw %r0, [%r1+0]
        exit
    ");
}

#[test]
fn accept_length_minus_constant() {
    ok("
        jlt %r2, 14, drop
        mov %r3, %r2
        sub %r3, 14           # payload length, cannot wrap
        jlt %r3, 20, drop
        ldxw %r0, [%r1+30]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_trailer_read_through_end_pointer() {
    ok("
        mov %r3, %r1
        add %r3, %r2
        jlt %r2, 4, drop
        ldxw %r0, [%r3-4]     # the last four bytes
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_map_lookup_with_null_check() {
    let info = ok("
        stw [%r10-4], 3
        lddw %r1, map:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, miss
        ldxdw %r0, [%r0+0]
        exit
    miss:
        mov %r0, 0
        exit
    ");
    assert_eq!(info.helpers_used, vec![1]);
    assert_eq!(info.maps_used, vec![0]);
    assert_eq!(info.functions[0].stack_depth, 4);
}

#[test]
fn accept_null_check_on_a_copy() {
    ok("
        stw [%r10-4], 0
        lddw %r1, map:0
        mov %r2, %r10
        add %r2, -4
        call 1
        mov %r6, %r0
        jne %r0, 0, found
        mov %r0, 0
        exit
    found:
        ldxdw %r0, [%r6+0]
        exit
    ");
}

#[test]
fn accept_counter_atomic_add() {
    ok("
        stw [%r10-4], 0
        lddw %r1, map:0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, out
        mov %r1, 1
        lock add [%r0+0], %r1
        lock fetch add [%r0+0], %r1
        lock xchg [%r0+0], %r1
        mov %r1, 5
        lock add32 [%r0+4], %r1
    out:
        mov %r0, 1
        exit
    ");
}

#[test]
fn accept_counter_keyed_by_packet_bytes() {
    // The key pointer may point into the packet (checked).
    ok("
        jlt %r2, 34, out
        mov %r6, %r1
        lddw %r1, map:0
        mov %r2, %r6
        add %r2, 30           # destination address as the key
        call 1
        jeq %r0, 0, out
        ldxdw %r1, [%r0+0]
        add %r1, 1
        stxdw [%r0+0], %r1
    out:
        mov %r0, 1
        exit
    ");
}

#[test]
fn accept_hash_of_stack_data() {
    let info = ok("
        stdw [%r10-8], 0x1234
        stw [%r10-12], 7
        mov %r1, %r10
        add %r1, -12
        mov %r2, 12
        call 6
        and %r0, 1
        exit
    ");
    assert_eq!(info.helpers_used, vec![6]);
}

#[test]
fn accept_hash_of_packet_bytes_with_variable_length() {
    ok("
        jlt %r2, 64, out
        ldxb %r2, [%r1+0]
        and %r2, 63
        call 6
        exit
    out:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_three_argument_update_oko_style() {
    let src = "
        stw [%r10-4], 1
        stdw [%r10-16], 0
        lddw %r1, map:0
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        call 2                #! r4 never written
        mov %r0, 1
        exit
    ";
    let info = ok(src);
    assert_eq!(info.zero_flags_at, vec![marked_pc(src)]);
}

#[test]
fn accept_update_with_flags_and_delete() {
    let info = ok("
        stdw [%r10-8], 42
        stdw [%r10-24], 1
        stdw [%r10-16], 2
        lddw %r1, map:1
        mov %r2, %r10
        add %r2, -8
        mov %r3, %r10
        add %r3, -24
        mov %r4, 1            # BPF_NOEXIST
        call 2
        lddw %r1, map:1
        mov %r2, %r10
        add %r2, -8
        call 3
        mov %r0, 0
        exit
    ");
    assert!(info.zero_flags_at.is_empty());
    assert_eq!(info.helpers_used, vec![2, 3]);
}

#[test]
fn accept_value_from_map_as_key_and_value() {
    ok("
        stw [%r10-4], 0
        lddw %r1, map:2
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, out
        mov %r6, %r0
        lddw %r1, map:1
        mov %r2, %r6          # 8-byte key taken from the 64-byte value
        mov %r3, %r6
        add %r3, 16           # 16-byte value from it too
        mov %r4, 0
        call 2
    out:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_time_and_random() {
    let info = ok("
        call 5
        mov %r6, %r0
        call 7
        add %r0, %r6
        rsh %r0, 63
        exit
    ");
    assert_eq!(info.helpers_used, vec![5, 7]);
}

#[test]
fn accept_bpf_to_bpf_call() {
    let info = ok("
        mov %r6, %r1
        mov %r1, 3
        call local add_one
        jne %r0, 4, out
        mov %r0, 1
    out:
        exit
    add_one:
        mov %r0, %r1
        add %r0, 1
        exit
    ");
    assert_eq!(info.functions.len(), 2);
    assert_eq!(info.max_call_depth, 2);
}

#[test]
fn accept_callee_writes_callers_stack() {
    ok("
        mov %r1, %r10
        add %r1, -8
        call local fill
        ldxdw %r0, [%r10-8]
        exit
    fill:
        stdw [%r1+0], 9
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_callee_reads_packet_through_argument() {
    ok("
        jlt %r2, 20, drop
        call local peek
        exit
    drop:
        mov %r0, 0
        exit
    peek:
        ldxw %r0, [%r1+16]
        exit
    ");
}

/// bpf_conformance's call_local.data, with its `stdw [%r10-4]` stores
/// (which write 4 bytes above the frame) made `stw`.
#[test]
fn accept_conformance_call_local() {
    ok(&CALL_LOCAL
        .replace("stdw [%r10-4]", "stw [%r10-4]")
        .replace("stdw [%r10-8]", "stw [%r10-8]"));
}

/// The verbatim test writes 8 bytes at r10-4: outside the frame.
#[test]
fn refuse_conformance_call_local_verbatim() {
    let e = refuse!(
        CALL_LOCAL,
        VerifyError::StackOutOfBounds {
            off: -4,
            size: 8,
            ..
        }
    );
    assert_eq!(e.pc(), Some(10));
}

const CALL_LOCAL: &str = "
        mov %r0, 0
        mov %r1, 1
        mov %r2, 2
        mov %r3, 3
        mov %r4, 4
        mov %r5, 5
        mov %r6, 6
        mov %r7, 7
        mov %r8, 8
        mov %r9, 9
        stdw [%r10-4], 0x44332211
        stdw [%r10-8], 0x88776655
        call local func1
        jne %r0, 15, failed
        jne %r6, 6, failed
        jne %r7, 7, failed
        jne %r8, 8, failed
        jne %r9, 9, failed
        ldxw %r6, [%r10-4]
        ldxw %r7, [%r10-8]
        jne %r6, 0x44332211, failed
        jne %r7, 0x88776655, failed
        mov %r0, 1
        exit
    failed:
        mov %r0, -1
        exit
    func1:
        mov %r0, 0
        add %r0, %r1
        add %r0, %r2
        add %r0, %r3
        add %r0, %r4
        add %r0, %r5
        stdw [%r10-4], 0xCCBBAA99
        stdw [%r10-4], 0x00FFEEDD
        mov %r6, 0
        mov %r7, 0
        mov %r8, 0
        mov %r9, 0
        exit
";

#[test]
fn accept_nested_calls() {
    let info = ok("
        call local a
        exit
    a:
        call local b
        add %r0, 1
        exit
    b:
        call local c
        add %r0, 1
        exit
    c:
        stdw [%r10-512], 1
        ldxdw %r0, [%r10-512]
        exit
    ");
    assert_eq!(info.max_call_depth, 4);
    assert_eq!(info.functions[3].stack_depth, 512);
}

#[test]
fn accept_spilled_packet_pointer_keeps_its_type() {
    ok("
        jlt %r2, 20, drop
        stxdw [%r10-8], %r1
        mov %r1, 0
        ldxdw %r3, [%r10-8]
        ldxw %r0, [%r3+16]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_spilled_scalar_keeps_its_bounds() {
    ok("
        jlt %r2, 64, drop
        ldxb %r3, [%r1+0]
        and %r3, 31
        stxdw [%r10-16], %r3
        call 7                # clobbers r1-r5
        ldxdw %r3, [%r10-16]
        mov %r0, %r3
        lsh %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_map_value_variable_offset() {
    ok("
        jlt %r2, 1, out
        ldxb %r6, [%r1+0]
        stw [%r10-4], 0
        lddw %r1, map:2
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, out
        and %r6, 7
        lsh %r6, 3
        add %r0, %r6          # slot (b & 7) of eight u64
        ldxdw %r0, [%r0+0]
        exit
    out:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_stack_variable_offset_read() {
    ok("
        stdw [%r10-16], 1
        stdw [%r10-8], 2
        call 7
        and %r0, 7
        mov %r1, %r10
        add %r1, -16
        add %r1, %r0
        ldxdw %r0, [%r1+0]
        exit
    ");
}

#[test]
fn accept_sign_extension_and_movsx() {
    ok("
        jlt %r2, 4, drop
        ldxsb %r3, [%r1+0]
        ldxsh %r4, [%r1+0]
        ldxsw %r5, [%r1+0]
        movsx864 %r6, %r3
        movsx1632 %r7, %r4
        movsx3264 %r8, %r5
        add %r6, %r7
        add %r6, %r8
        mov %r0, %r6
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_arithmetic_division_by_zero_and_swaps() {
    ok("
        lddw %r3, 0x123456789abcdef0
        mov %r4, 0
        div %r3, %r4
        mod %r3, %r4
        sdiv32 %r3, %r4
        smod %r3, -7
        arsh %r3, 3
        neg %r3
        xor32 %r3, 0x55
        be64 %r3
        le16 %r3
        swap32 %r3
        mov %r0, %r3
        exit
    ");
}

#[test]
fn accept_jmp32_and_jset_on_scalars() {
    ok("
        call 7
        jset %r0, 1, odd
        jgt32 %r0, 100, big
        mov %r0, 2
        exit
    odd:
        mov %r0, 1
        exit
    big:
        jsle32 %r0, -1, odd
        mov %r0, 3
        exit
    ");
}

#[test]
fn accept_cmpxchg_on_stack() {
    ok("
        stdw [%r10-8], 5
        mov %r0, 5
        mov %r1, 6
        lock cmpxchg [%r10-8], %r1
        ldxdw %r0, [%r10-8]
        exit
    ");
}

#[test]
fn accept_checks_merged_from_two_paths() {
    // Both paths prove at least 20 bytes; the join keeps the minimum.
    ok("
        mov %r6, %r2
        mov %r7, %r1
        call 7
        jeq %r0, 0, short
        jlt %r6, 40, drop
        ja read
    short:
        jlt %r6, 20, drop
    read:
        ldxw %r0, [%r7+16]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_branch_on_constant_prunes_dead_path() {
    // The taken branch is impossible, so its uninitialised read is never checked.
    ok("
        mov %r3, 5
        jne %r3, 5, bad
        mov %r0, 0
        exit
    bad:
        mov %r0, %r7
        exit
    ");
}

#[test]
fn accept_packet_pointer_difference_is_the_length() {
    ok("
        mov %r3, %r1
        add %r3, %r2
        sub %r3, %r1          # end - start == len
        jlt %r3, 10, drop
        ldxh %r0, [%r1+8]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

#[test]
fn accept_backward_jump_without_cycle() {
    // A cold block placed after the exit jumps back to the join point.
    ok("
        call 7
        jeq %r0, 0, cold
    join:
        mov %r0, 1
        exit
    cold:
        mov %r6, 1
        ja join
    ");
}

#[test]
fn accept_ja32_and_unaligned_stack_scalars() {
    ok("
        stw [%r10-7], 1
        stb [%r10-8], 2
        ldxw %r0, [%r10-8]
        ja32 +0
        exit
    ");
}

#[test]
fn accept_many_sequential_checks() {
    let mut src = String::new();
    for k in 1..=32 {
        src.push_str(&format!(
            "jlt %r2, {}, drop\nldxb %r3, [%r1+{}]\njeq %r3, {}, drop\n",
            k * 2,
            k * 2 - 1,
            k
        ));
    }
    src.push_str("mov %r0, 1\nexit\ndrop:\nmov %r0, 0\nexit\n");
    ok(&src);
}

#[test]
fn accept_xor_compare_scalar_registers() {
    ok("
        jlt %r2, 16, out
        ldxdw %r3, [%r1+0]
        ldxdw %r4, [%r1+8]
        jeq %r3, %r4, same
        xor %r3, %r4
        mov %r0, %r3
        exit
    same:
        mov %r0, 1
        exit
    out:
        mov %r0, 0
        exit
    ");
}

// ===========================================================================
// What clang -O2 -target bpf emits for lengths and offsets (the sequences
// below are taken from its output, with and without -mcpu=v3), and the
// unsound neighbours of each idiom.
// ===========================================================================

/// Every object file next to the tests (and the controller's example
/// filters, when present) loads and verifies.
#[test]
fn clang_objects_load_and_verify() {
    use ofext_filter::elf;
    let root = env!("CARGO_MANIFEST_DIR");
    let dirs = [
        (format!("{root}/tests/data"), true),
        (format!("{root}/../controller-examples/filters"), false),
    ];
    let mut verified = Vec::new();
    for (dir, required) in dirs {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if !required => {
                eprintln!("skipping {dir}: {e}");
                continue;
            }
            Err(e) => panic!("{dir}: {e}"),
        };
        let mut paths: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "o"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let loaded = elf::load(&bytes);
            if name == "global_data.o" {
                // Global variables are refused by the loader, by design.
                assert!(loaded.is_err(), "{name}");
                continue;
            }
            let obj = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
            let res = verify(&obj.insns, &obj.maps);
            if name == "subprog.o" {
                // Genuinely unsafe: `tcp_only` calls `is_ipv4(pkt)`, which
                // reads bytes 12 and 13, without any length check when
                // `is_tcp` returned 0 (as it does for frames shorter than 34
                // bytes). The refusal names that read, inside `is_ipv4`.
                let ipv4 = &obj.functions[2];
                assert_eq!(ipv4.name.as_deref(), Some("is_ipv4"));
                match res {
                    Err(VerifyError::PacketOutOfBounds {
                        pc,
                        offset: 12,
                        size: 1,
                        checked: 0,
                    }) if (ipv4.start..ipv4.start + ipv4.len).contains(&pc) => {}
                    other => panic!(
                        "subprog.o: expected the unchecked read in is_ipv4 to be refused \
                         (if subprog.c now checks the length, drop this case): {other:?}"
                    ),
                }
                continue;
            }
            let info = res.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(info.n_insns, obj.insns.len());
            verified.push(name);
        }
    }
    for want in [
        "legacy_maps.o",
        "legacy_maps_btf.o",
        "multi_section.o",
        "oko_data.o",
    ] {
        assert!(
            verified.iter().any(|n| n == want),
            "{want} not verified: {verified:?}"
        );
    }
}

/// `u32 len` arrives zero-extended: `len <<= 32; len >>= 32` (the pair need
/// not be adjacent), `w2 = w2`, or a 32-bit copy.
#[test]
fn clang_zero_extended_length() {
    for zext in [
        "lsh %r2, 32\nrsh %r2, 32",
        "lsh %r2, 32\nmov %r3, 30\nrsh %r2, 32",
        "mov32 %r2, %r2",
        "mov32 %r4, %r2\nmov %r2, %r4",
        "mov %r4, %r2\nlsh %r4, 32\nrsh %r4, 32\nmov %r2, %r4",
    ] {
        ok(&format!(
            "
            {zext}
            mov %r3, 30
            jgt %r3, %r2, drop
            ldxb %r0, [%r1+29]
            exit
        drop:
            mov %r0, 0
            exit
        "
        ));
    }
    // The end pointer built from the zero-extended length.
    ok("
        lsh %r2, 32
        rsh %r2, 32
        mov %r3, %r1
        add %r3, %r2
        mov %r4, %r1
        add %r4, 14
        jgt %r4, %r3, drop
        ldxh %r0, [%r1+12]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

/// `int len` arrives sign-extended (`<<= 32; s>>= 32`, or `movsx` with
/// -mcpu=v4); a signed check that it is at least N bounds the length, and so
/// does a signed JMP32 check of the raw register (-mcpu=v3).
#[test]
fn clang_sign_extended_length() {
    for check in [
        "mov %r3, %r2\nlsh %r3, 32\narsh %r3, 32\nmov %r4, 34\njsgt %r4, %r3, drop",
        "movsx3264 %r3, %r2\njslt %r3, 34, drop",
        "jslt32 %r2, 34, drop",
        "mov %r4, 33\njsge32 %r4, %r2, drop",
    ] {
        ok(&format!(
            "
            {check}
            ldxb %r0, [%r1+33]
            exit
        drop:
            mov %r0, 0
            exit
        "
        ));
    }
}

/// `int rem = len - 14 - ihl; if (rem < 4)` without -mcpu=v3: the `int`
/// arithmetic is done in the high half of a register.
#[test]
fn clang_int_arithmetic_in_high_half() {
    ok("
        mov %r3, %r2
        lsh %r3, 32
        arsh %r3, 32
        mov %r4, 34
        jsgt %r4, %r3, drop
        ldxb %r3, [%r1+14]
        lsh %r3, 2
        and %r3, 60
        sub %r2, %r3
        lsh %r2, 32
        lddw %r4, -60129542144    # -14 << 32
        add %r2, %r4
        arsh %r2, 32
        mov %r4, 4
        jsgt %r4, %r2, drop
        add %r1, 14
        add %r1, %r3
        ldxb %r0, [%r1+3]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

/// The same with -mcpu=v3: 32-bit registers, whose subtraction may wrap.
#[test]
fn clang_int_arithmetic_in_32bit_registers() {
    ok("
        jslt32 %r2, 34, drop
        ldxb %r3, [%r1+14]
        lsh32 %r3, 2
        and32 %r3, 60
        sub32 %r2, %r3
        add32 %r2, -14
        jslt32 %r2, 4, drop
        add32 %r3, 14
        add32 %r3, 3
        add %r1, %r3
        ldxb %r0, [%r1+0]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    // A positive constant: the signed view of `len + 16` being at least 50
    // excludes every wrapped value, so len >= 34; the unsigned one too.
    for check in ["jslt32 %r3, 50, drop", "jlt32 %r3, 50, drop"] {
        ok(&format!(
            "
            mov %r3, %r2
            add32 %r3, 16
            {check}
            ldxb %r0, [%r1+33]
            exit
        drop:
            mov %r0, 0
            exit
        "
        ));
    }
}

/// `(long)(len - 14) < 20` and `(long)(end - p) < n`: signed differences.
#[test]
fn clang_signed_differences() {
    ok("
        mov %r3, %r2
        add %r3, -14
        jslt %r3, 20, drop
        ldxb %r0, [%r1+33]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    // end - (data + 14 + ihl) with a variable ihl.
    ok("
        jlt %r2, 34, drop
        mov %r2, %r1
        add %r2, %r9          # end (r9 = len below)
        add %r1, 14
        ldxb %r3, [%r1+0]
        lsh %r3, 2
        and %r3, 60
        add %r1, %r3
        sub %r2, %r1
        mov %r3, 20
        jsgt %r3, %r2, drop
        ldxh %r0, [%r1+18]
        exit
    drop:
        mov %r0, 0
        exit
    "
    .replace("jlt %r2, 34, drop", "mov %r9, %r2\njlt %r2, 34, drop")
    .as_str());
}

/// Masks and zero-extensions that cannot change the value keep its bounds
/// check; a 32-bit comparison of values below 2^32 narrows the registers.
#[test]
fn clang_value_preserving_masks_and_jmp32() {
    ok("
        jlt %r2, 34, drop
        ldxb %r3, [%r1+14]
        and %r3, 15
        lsh %r3, 2
        mov %r4, %r3
        add %r4, 38
        jgt %r4, %r2, drop
        and %r3, 63           # covers 0..=60
        mov32 %r3, %r3        # below 2^32
        and32 %r3, -1
        add %r3, %r1
        ldxw %r0, [%r3+34]
        exit
    drop:
        mov %r0, 0
        exit
    ");
    ok("
        jlt %r2, 15, drop
        ldxb %r3, [%r1+14]
        and %r3, 15
        lsh %r3, 2
        add %r3, 34
        jgt32 %r3, %r2, drop  # if w3 > w2
        add %r1, %r3
        ldxb %r0, [%r1-1]
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

/// `ipend = min(ip + ntohs(ip->tot_len), end)`, then `if (p + 1 > ipend)`:
/// the two ends join into one symbol that the length bounds on both paths.
/// With `max` instead of `min` the joined end may lie past the packet.
#[test]
fn clang_clamped_end_pointer() {
    let src = |clamp: &str| {
        format!(
            "
            jlt %r2, 34, drop
            mov %r3, %r1
            add %r3, 14
            mov %r4, %r1
            add %r4, %r2          # end
            ldxh %r5, [%r1+16]
            be16 %r5
            mov %r6, %r3
            add %r6, %r5          # ip + tot_len
            {clamp} %r6, %r4, keep
            mov %r4, %r6
        keep:
            ldxb %r5, [%r1+14]
            lsh %r5, 2
            and %r5, 60
            add %r3, %r5
            mov %r5, %r3
            add %r5, 1
            jgt %r5, %r4, drop
            ldxb %r0, [%r3+0]     #!
            exit
        drop:
            mov %r0, 0
            exit
            "
        )
    };
    ok(&src("jgt"));
    ok(&src("jge"));
    refuse_at!(&src("jlt"), VerifyError::PacketOutOfBounds { .. });
}

/// A template for the neighbours: `r3` is an offset related to nothing but
/// itself, `r4` is derived from it by `derive`, the check is made on `r4`
/// and the read at `r3`. Safe only if `derive` keeps the value (or makes it
/// smaller, which none of the neighbours below does reliably).
fn derived_check(setup: &str, derive: &str, check: &str) -> String {
    format!(
        "
        jlt %r2, 4, drop
        {setup}
        mov %r4, %r3
        {derive}
        mov %r5, %r4
        add %r5, 4
        {check}
        add %r1, %r3
        ldxb %r0, [%r1+3]     #!
        exit
    drop:
        mov %r0, 0
        exit
    "
    )
}

/// An offset that may be 2^32 or more: a byte, plus 2^32 when bit 0 of
/// another is set.
const WIDE_OFFSET: &str =
    "ldxb %r3, [%r1+0]\nand %r3, 1\nlsh %r3, 32\nldxb %r6, [%r1+1]\nor %r3, %r6";
/// An offset below 2^32 that may have bit 31 set.
const BIT31_OFFSET: &str = "ldxb %r3, [%r1+0]\nlsh %r3, 24";
/// A byte.
const BYTE_OFFSET: &str = "ldxb %r3, [%r1+0]";

#[test]
fn clang_idiom_template_accepts_the_identities() {
    for (setup, derive) in [
        (BYTE_OFFSET, "lsh %r4, 32\nrsh %r4, 32"),
        (BIT31_OFFSET, "lsh %r4, 32\nrsh %r4, 32"),
        (BYTE_OFFSET, "lsh %r4, 32\narsh %r4, 32"),
        (BYTE_OFFSET, "mov32 %r4, %r4"),
        (BIT31_OFFSET, "mov32 %r4, %r4"),
        (BYTE_OFFSET, "and %r4, 255"),
        (BYTE_OFFSET, "movsx3264 %r4, %r4"),
    ] {
        let src = derived_check(setup, derive, "jgt %r5, %r2, drop");
        ok(&src);
    }
    let src = derived_check(BYTE_OFFSET, "", "jgt32 %r5, %r2, drop");
    ok(&src);
}

#[test]
fn refuse_clang_idiom_neighbours() {
    let oob = |src: &str| {
        refuse_at!(src, VerifyError::PacketOutOfBounds { .. });
    };
    // The shift pair on a value that may be 2^32 or more drops its high bits.
    oob(&derived_check(
        WIDE_OFFSET,
        "lsh %r4, 32\nrsh %r4, 32",
        "jgt %r5, %r2, drop",
    ));
    // So do 32-bit moves and 32-bit arithmetic on it.
    oob(&derived_check(
        WIDE_OFFSET,
        "mov32 %r4, %r4",
        "jgt %r5, %r2, drop",
    ));
    oob(&derived_check(
        WIDE_OFFSET,
        "add32 %r4, 0",
        "jgt %r5, %r2, drop",
    ));
    // A JMP32 comparison sees only its low half.
    oob(&derived_check(WIDE_OFFSET, "", "jgt32 %r5, %r2, drop"));
    // A mask that does not cover the range.
    oob(&derived_check(
        BYTE_OFFSET,
        "and %r4, 3",
        "jgt %r5, %r2, drop",
    ));
    oob(&derived_check(
        BYTE_OFFSET,
        "and %r4, 0xfe",
        "jgt %r5, %r2, drop",
    ));
    // Sign extension of a value with bit 31 set makes it negative, which a
    // signed check lets through.
    oob(&derived_check(
        BIT31_OFFSET,
        "lsh %r4, 32\narsh %r4, 32",
        "jsgt %r5, %r2, drop",
    ));
    oob(&derived_check(
        BIT31_OFFSET,
        "movsx3264 %r4, %r4",
        "jsgt %r5, %r2, drop",
    ));
    // Sign extension of a value with bit 31 set is that value minus 2^32:
    // adding 2^32 back gives the value itself, not value + 2^32 (which
    // would make `len >= r4 + 4` look impossible and the read unreachable).
    oob("
        jlt %r2, 1, drop
        ldxb %r3, [%r1+0]
        lsh %r3, 24
        mov %r4, %r3
        lsh %r4, 32
        arsh %r4, 32
        lddw %r6, 0x100000000
        add %r4, %r6
        jslt %r4, 0, drop
        mov %r5, %r4
        add %r5, 4
        jgt %r5, %r2, drop
        add %r1, %r4
        ldxb %r0, [%r1+4]     #!
        exit
    drop:
        mov %r0, 0
        exit
    ");
    // A signed JMP32 comparison orders the low halves as `int`s: 2^31 + 1000
    // is negative there, so `w5 s<= w2` holds for every short length too.
    oob("
        mov32 %r5, 0x800003e8
        jsgt32 %r5, %r2, drop
        ldxb %r0, [%r1+100]   #!
        exit
    drop:
        mov %r0, 0
        exit
    ");
    // `<<= 32; >>= 31` doubles the length.
    refuse_at!(
        "
        mov %r4, %r2
        lsh %r4, 32
        rsh %r4, 31
        jlt %r4, 40, drop
        ldxb %r0, [%r1+39]    #!
        exit
    drop:
        mov %r0, 0
        exit
        ",
        VerifyError::PacketOutOfBounds { offset: 39, .. }
    );
    // An unsigned check of `len - 14` lets wrapped (short) lengths through,
    // in 64 and in 32 bits.
    for check in [
        "add %r3, -14\njlt %r3, 20, drop",
        "add32 %r3, -14\njlt32 %r3, 20, drop",
        "sub %r3, 14\njle %r3, 19, drop",
    ] {
        oob(&format!(
            "
            mov %r3, %r2
            {check}
            ldxb %r0, [%r1+33]    #!
            exit
        drop:
            mov %r0, 0
            exit
            "
        ));
    }
    // `end - p` compared unsigned: when p may lie past the end the
    // difference is negative, i.e. huge, and passes the check.
    oob("
        jlt %r2, 15, drop
        mov %r9, %r2
        mov %r2, %r1
        add %r2, %r9
        add %r1, 14
        ldxb %r3, [%r1+0]
        lsh %r3, 2
        and %r3, 60
        add %r1, %r3
        sub %r2, %r1
        jlt %r2, 20, drop
        ldxh %r0, [%r1+18]    #!
        exit
    drop:
        mov %r0, 0
        exit
    ");
    // A signed difference checked the wrong way round says nothing.
    oob("
        mov %r3, %r2
        add %r3, -14
        jsgt %r3, 20, drop
        ldxb %r0, [%r1+33]    #!
        exit
    drop:
        mov %r0, 0
        exit
    ");
}

// ===========================================================================
// Refused programs: one or more per rule.
// ===========================================================================

#[test]
fn refuse_empty_and_too_large() {
    assert!(matches!(verify(&[], &[]), Err(VerifyError::Empty)));
    let mut big = vec![Insn::new(0xb7, 0, 0, 0, 0); MAX_INSNS];
    big.push(Insn::new(0x95, 0, 0, 0, 0));
    assert!(matches!(
        verify(&big, &[]),
        Err(VerifyError::TooLarge { len }) if len == MAX_INSNS + 1
    ));
}

#[test]
fn refuse_invalid_opcodes() {
    refuse_at!(
        "mov %r0, 0\n.insn 0xff, 0, 0, 0, 0 #!\nexit",
        VerifyError::InvalidOpcode { op: 0xff, .. }
    );
    refuse_at!(
        "mov %r0, 0\n.insn 0xe7, 0, 0, 0, 0 #!\nexit",
        VerifyError::InvalidOpcode { .. }
    );
    refuse_at!(
        "callx %r1 #!\nexit",
        VerifyError::InvalidOpcode { op: 0x8d, .. }
    );
    refuse_at!(
        "mov %r0, 0\nswap16 %r0\n.insn 0xdf, 0, 0, 0, 16 #!\nexit",
        VerifyError::InvalidOpcode { .. }
    );
}

#[test]
fn refuse_legacy_packet_access() {
    refuse_at!(
        ".insn 0x20, 0, 0, 0, 12 #! ldabsw\nexit",
        VerifyError::LegacyPacketAccess { .. }
    );
    refuse_at!(
        "mov %r0, 0\n.insn 0x50, 0, 1, 0, 0 #! ldindb\nexit",
        VerifyError::LegacyPacketAccess { .. }
    );
}

#[test]
fn refuse_reserved_fields_and_registers() {
    refuse_at!(
        ".insn 0xb7, 0, 3, 0, 1 #! mov imm with a source register\nexit",
        VerifyError::ReservedField { .. }
    );
    refuse_at!("call runtime 1 #!\nexit", VerifyError::ReservedField { .. });
    refuse_at!(
        "mov %r0, 0\nmov %r11, 1 #!\nexit",
        VerifyError::InvalidRegister { reg: 11, .. }
    );
    refuse_at!(
        "mov %r0, 0\n.insn 0x95, 0, 0, 1, 0 #! exit with an offset",
        VerifyError::ReservedField { .. }
    );
}

#[test]
fn refuse_broken_lddw() {
    refuse_at!(
        "mov %r0, 0\n.insn 0x18, 0, 0, 0, 1 #!",
        VerifyError::IncompleteLddw { .. }
    );
    refuse_at!(
        ".insn 0x18, 0, 0, 0, 1 #!\n.insn 0xb7, 0, 0, 0, 0\nexit",
        VerifyError::IncompleteLddw { .. }
    );
    refuse_at!(
        "lddw %r1, map:3 #!\nmov %r0, 0\nexit",
        VerifyError::BadMapIndex { index: 3, .. }
    );
    refuse_at!(
        ".insn 0x18, 1, 2, 0, 0 #! map-value lddw form\n.insn 0, 0, 0, 0, 0\nmov %r0, 0\nexit",
        VerifyError::ReservedField { .. }
    );
}

#[test]
fn refuse_bad_jump_targets() {
    refuse_at!(
        "mov %r0, 0\nja +5 #!\nexit",
        VerifyError::BadJumpTarget { target: 7, .. }
    );
    refuse_at!(
        "ja -2 #!\nmov %r0, 0\nexit",
        VerifyError::BadJumpTarget { target: -1, .. }
    );
    // Into the second slot of an lddw.
    refuse_at!(
        "mov %r0, 0\njeq %r0, 0, +1 #!\nlddw %r0, 5\nexit",
        VerifyError::BadJumpTarget { target: 3, .. }
    );
    // From the entry function into a callee.
    refuse_at!(
        "call local f\nja f #!\nf:\nmov %r0, 0\nexit",
        VerifyError::BadJumpTarget { .. }
    );
    refuse_at!(
        "call local +5 #!\nmov %r0, 0\nexit",
        VerifyError::BadCallTarget { .. }
    );
}

#[test]
fn refuse_fall_through() {
    refuse_at!("mov %r0, 0\nmov %r0, 1 #!", VerifyError::FallThrough { .. });
    refuse_at!(
        "mov %r0, 0\nexit\njeq %r0, 0, -3 #!",
        VerifyError::FallThrough { .. }
    );
    // A callee falling into the next function.
    refuse_at!(
        "call local f\nexit\nf:\nmov %r0, 0 #!\ng:\ncall local g\nexit",
        VerifyError::FallThrough { .. }
    );
}

#[test]
fn refuse_loops() {
    refuse_at!(
        "mov %r0, 0\nja -1 #!\nexit",
        VerifyError::BackEdge { target: 1, .. }
    );
    refuse_at!(
        "
        mov %r0, 0
        mov %r1, 10
    top:
        add %r0, 1
        sub %r1, 1
        jne %r1, 0, top   #!
        exit
    ",
        VerifyError::BackEdge { target: 2, .. }
    );
}

#[test]
fn refuse_recursion_and_deep_calls() {
    refuse_at!(
        "call local f\nexit\nf:\ncall local f #!\nexit",
        VerifyError::Recursion { .. }
    );
    refuse_at!(
        "call local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f #!\nexit",
        VerifyError::Recursion { .. }
    );
    let mut src = String::from("call local f1\nexit\n");
    for k in 1..=8 {
        src.push_str(&format!("f{k}:\n"));
        if k == 8 {
            src.push_str("mov %r0, 0\nexit\n");
        } else if k == 7 {
            src.push_str(&format!("call local f{} #!\nexit\n", k + 1));
        } else {
            src.push_str(&format!("call local f{}\nexit\n", k + 1));
        }
    }
    refuse_at!(&src, VerifyError::CallDepth { depth: 9, .. });
}

#[test]
fn refuse_writes_to_r10() {
    refuse_at!("mov %r10, 0 #!\nexit", VerifyError::FrameWrite { .. });
    refuse_at!(
        "mov %r0, 0\nadd %r10, -8 #!\nexit",
        VerifyError::FrameWrite { .. }
    );
    refuse_at!(
        "mov %r0, 0\nldxdw %r10, [%r1+0] #!\nexit",
        VerifyError::FrameWrite { .. }
    );
    refuse_at!(
        "stdw [%r10-8], 0\nlock fetch add [%r1+0], %r10 #!\nexit",
        VerifyError::FrameWrite { .. }
    );
}

#[test]
fn refuse_uninitialised_registers() {
    refuse_at!(
        "mov %r0, %r3 #!\nexit",
        VerifyError::UninitRegister { reg: 3, .. }
    );
    refuse_at!(
        "mov %r3, 1\nexit #!",
        VerifyError::UninitRegister { reg: 0, .. }
    );
    refuse_at!(
        "call 7\njeq %r0, 0, skip\nmov %r6, 1\nskip:\nmov %r0, %r6 #! r6 unset on one path\nexit",
        VerifyError::UninitRegister { reg: 6, .. }
    );
}

#[test]
fn refuse_uninitialised_stack() {
    refuse_at!(
        "ldxw %r0, [%r10-4] #!\nexit",
        VerifyError::UninitStack { off: -4, .. }
    );
    refuse_at!(
        "stw [%r10-8], 1\nldxdw %r0, [%r10-8] #! upper half unwritten\nexit",
        VerifyError::UninitStack { off: -4, .. }
    );
    // Helper key bytes must be initialised.
    refuse_at!(
        "stb [%r10-4], 1\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1 #!\nmov %r0, 0\nexit",
        VerifyError::UninitStack { off: -3, .. }
    );
}

#[test]
fn refuse_stack_out_of_bounds() {
    refuse_at!(
        "stw [%r10-516], 0 #!\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { off: -516, .. }
    );
    refuse_at!(
        "stb [%r10+0], 0 #!\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { off: 0, .. }
    );
    refuse_at!(
        "stdw [%r10-4], 0 #! crosses the top\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { .. }
    );
    // Variable offset that may leave the frame.
    refuse_at!(
        "call 7\nand %r0, 1023\nmov %r1, %r10\nsub %r1, %r0\nstb [%r1-1], 0 #!\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { .. }
    );
}

#[test]
fn refuse_packet_read_without_check() {
    // Oko passed r2 = 8 and trusted the first 8 bytes: nothing is trusted here.
    refuse_at!(
        "ldxb %r0, [%r1+0] #!\nexit",
        VerifyError::PacketOutOfBounds {
            offset: 0,
            size: 1,
            checked: 0,
            ..
        }
    );
    refuse_at!(
        "ldxw %r0, [%r1-1] #!\nexit",
        VerifyError::PacketOutOfBounds { offset: -1, .. }
    );
}

#[test]
fn refuse_packet_read_beyond_checked_length_with_message() {
    let src = "
        jlt %r2, 34, drop
        ldxw %r0, [%r1+34]    #!
        exit
    drop:
        mov %r0, 0
        exit
    ";
    let e = refuse_at!(
        src,
        VerifyError::PacketOutOfBounds {
            offset: 34,
            size: 4,
            checked: 34,
            ..
        }
    );
    assert_eq!(
        e.to_string(),
        "pc 1: read of 4 bytes at packet offset 34 beyond checked length 34"
    );
}

#[test]
fn refuse_read_past_end_pointer_check() {
    refuse_at!(
        "
        mov %r4, %r1
        add %r4, %r2
        mov %r3, %r1
        add %r3, 14
        jgt %r3, %r4, drop
        ldxh %r5, [%r1+13]    #! 13 + 2 > 14
        mov %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds {
            offset: 13,
            checked: 14,
            ..
        }
    );
    // Checking the wrong way round proves nothing.
    refuse_at!(
        "
        mov %r4, %r1
        add %r4, %r2
        mov %r3, %r1
        add %r3, 14
        jle %r3, %r4, drop
        ldxb %r5, [%r1+0]     #!
        mov %r0, 1
        exit
    drop:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds { .. }
    );
}

#[test]
fn refuse_variable_ihl_without_second_check() {
    refuse_at!(
        "
        jlt %r2, 54, drop
        ldxb %r4, [%r1+14]
        and %r4, 0xf
        lsh %r4, 2
        mov %r6, %r1
        add %r6, %r4
        ldxh %r0, [%r6+36]    #! up to 60 + 36 + 2 > 54
        exit
    drop:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds {
            offset: 96,
            size: 2,
            checked: 54,
            ..
        }
    );
    // The check covers a different (unrelated) variable than the one used.
    refuse_at!(
        "
        jlt %r2, 34, drop
        ldxb %r4, [%r1+14]
        and %r4, 0xf
        lsh %r4, 2
        ldxb %r5, [%r1+15]
        and %r5, 0xf
        lsh %r5, 2
        mov %r7, %r5
        add %r7, 38
        jlt %r2, %r7, drop
        mov %r6, %r1
        add %r6, %r4
        ldxw %r0, [%r6+34]    #!
        exit
    drop:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds { .. }
    );
}

#[test]
fn refuse_read_after_join_of_weaker_check() {
    refuse_at!(
        "
        mov %r6, %r2
        mov %r7, %r1
        call 7
        jeq %r0, 0, short
        jlt %r6, 40, drop
        ja read
    short:
        jlt %r6, 20, drop
    read:
        ldxw %r0, [%r7+20]    #! only 20 bytes on one path
        exit
    drop:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds { checked: 20, .. }
    );
}

#[test]
fn refuse_packet_writes() {
    refuse_at!(
        "jlt %r2, 1, out\nstb [%r1+0], 1 #!\nout:\nmov %r0, 0\nexit",
        VerifyError::PacketWrite { .. }
    );
    refuse_at!(
        "jlt %r2, 8, out\nmov %r3, 0\nstxdw [%r1+0], %r3 #!\nout:\nmov %r0, 0\nexit",
        VerifyError::PacketWrite { .. }
    );
    refuse_at!(
        "jlt %r2, 8, out\nmov %r3, 1\nlock add [%r1+0], %r3 #!\nout:\nmov %r0, 0\nexit",
        VerifyError::PacketWrite { .. }
    );
}

const LOOKUP: &str = "
        stw [%r10-4], 0
        lddw %r1, map:0
        mov %r2, %r10
        add %r2, -4
        call 1
";

#[test]
fn refuse_map_value_without_null_check() {
    refuse_at!(
        &format!("{LOOKUP}ldxdw %r0, [%r0+0] #!\nexit"),
        VerifyError::NullableDeref { reg: 0, .. }
    );
    refuse_at!(
        &format!("{LOOKUP}mov %r1, 1\nlock add [%r0+0], %r1 #!\nmov %r0, 0\nexit"),
        VerifyError::NullableDeref { .. }
    );
    refuse_at!(
        &format!("{LOOKUP}add %r0, 8 #!\nmov %r0, 0\nexit"),
        VerifyError::PointerArithmetic { reg: 0, .. }
    );
    // On the null branch the register is the scalar 0.
    refuse_at!(
        &format!("{LOOKUP}jne %r0, 0, out\nldxdw %r0, [%r0+0] #!\nout:\nmov %r0, 0\nexit"),
        VerifyError::InvalidMemoryAccess { reg: 0, .. }
    );
}

#[test]
fn refuse_map_value_out_of_bounds() {
    refuse_at!(
        &format!("{LOOKUP}jeq %r0, 0, out\nldxdw %r0, [%r0+4] #!\nout:\nmov %r0, 0\nexit"),
        VerifyError::MapValueOutOfBounds {
            map: 0,
            offset: 4,
            size: 8,
            value_size: 8,
            ..
        }
    );
    refuse_at!(
        &format!(
            "{LOOKUP}jeq %r0, 0, out\nmov %r1, 0\nstxw [%r0-4], %r1 #!\nout:\nmov %r0, 0\nexit"
        ),
        VerifyError::MapValueOutOfBounds { offset: -4, .. }
    );
    refuse_at!(
        &format!(
            "{LOOKUP}jeq %r0, 0, out\nmov %r6, %r0\ncall 7\nand %r0, 15\nadd %r6, %r0\nldxb %r0, [%r6+0] #!\nout:\nmov %r0, 0\nexit"
        ),
        VerifyError::MapValueOutOfBounds { offset: 15, .. }
    );
}

#[test]
fn refuse_misaligned_atomics() {
    refuse_at!(
        &format!(
            "{LOOKUP}jeq %r0, 0, out\nmov %r1, 1\nlock add [%r0+4], %r1 #!\nout:\nmov %r0, 0\nexit"
        ),
        VerifyError::MisalignedAtomic { .. }
    );
    refuse_at!(
        "stdw [%r10-16], 0\nmov %r1, 1\nlock add [%r10-12], %r1 #!\nmov %r0, 0\nexit",
        VerifyError::MisalignedAtomic { .. }
    );
    refuse_at!(
        "mov %r0, 0\n.insn 0xdb, 10, 1, -8, 0x10 #! no such atomic op\nexit",
        VerifyError::InvalidAtomic { imm: 0x10, .. }
    );
}

#[test]
fn refuse_deref_of_non_pointers() {
    refuse_at!(
        "mov %r3, 100\nldxb %r0, [%r3+0] #!\nexit",
        VerifyError::InvalidMemoryAccess { reg: 3, .. }
    );
    refuse_at!(
        "lddw %r1, map:0\nldxw %r0, [%r1+0] #!\nexit",
        VerifyError::InvalidMemoryAccess { reg: 1, .. }
    );
}

#[test]
fn refuse_helper_argument_types() {
    // Oko never type-checked map arguments.
    refuse_at!(
        "stw [%r10-4], 0\nmov %r1, 0\nmov %r2, %r10\nadd %r2, -4\ncall 1 #!\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 1, .. }
    );
    refuse_at!(
        "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\ncall 1 #! r1 is the packet\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 1, .. }
    );
    refuse_at!(
        "lddw %r1, map:0\nmov %r2, 4\ncall 1 #! key is a number\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 2, .. }
    );
    refuse_at!(
        "stw [%r10-4], 0\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -2\ncall 1 #! key crosses r10\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { .. }
    );
    // Update flags must be a scalar.
    refuse_at!(
        "stdw [%r10-8], 0\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -8\nmov %r3, %r10\nadd %r3, -8\nmov %r4, %r10\ncall 2 #!\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 4, .. }
    );
    // Update value must cover value_size (16 bytes for map 1).
    refuse_at!(
        "stdw [%r10-8], 0\nlddw %r1, map:1\nmov %r2, %r10\nadd %r2, -8\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 2 #!\nmov %r0, 0\nexit",
        VerifyError::StackOutOfBounds { .. }
    );
}

#[test]
fn refuse_hash_arguments() {
    refuse_at!(
        "jlt %r2, 10, out\ncall 6 #! r2 is the whole length, may exceed 1 MiB\nout:\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 2, .. }
    );
    refuse_at!(
        "jlt %r2, 10, out\nmov %r2, 11\ncall 6 #! 11 > 10 checked\nout:\nmov %r0, 0\nexit",
        VerifyError::PacketOutOfBounds { .. }
    );
    refuse_at!(
        "stw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6 #!\nexit",
        VerifyError::UninitStack { off: -4, .. }
    );
}

#[test]
fn refuse_unknown_helpers() {
    refuse_at!("call 4 #!\nexit", VerifyError::UnknownHelper { id: 4, .. });
    refuse_at!(
        "call 1000 #!\nexit",
        VerifyError::UnknownHelper { id: 1000, .. }
    );
    refuse_at!(
        "call -1 #!\nexit",
        VerifyError::UnknownHelper { id: -1, .. }
    );
}

/// Oko's helpers did not clobber r1–r5.
#[test]
fn refuse_registers_after_helper_call_oko_regression() {
    for reg in 1..=5 {
        let src = format!("call 7\nmov %r0, %r{reg} #!\nexit");
        refuse_at!(&src, VerifyError::UninitRegister { reg: r, .. } if r == reg);
    }
    // The packet pointer is gone after a call unless saved in r6–r9.
    refuse_at!(
        "jlt %r2, 4, out\ncall 5\nldxw %r0, [%r1+0] #!\nexit\nout:\nmov %r0, 0\nexit",
        VerifyError::UninitRegister { reg: 1, .. }
    );
}

/// Oko's verifier let a signed comparison bound a value in both senses.
#[test]
fn refuse_signed_check_as_bound_oko_regression() {
    // x s< 100 says nothing about x as an unsigned offset.
    refuse_at!(
        "
        jlt %r2, 8, out
        ldxdw %r3, [%r1+0]
        jsgt %r3, 100, out
        mov %r4, %r1
        add %r4, %r3          #!
        ldxb %r0, [%r4+0]
        exit
    out:
        mov %r0, 0
        exit
    ",
        VerifyError::UnboundedOffset { reg: 4, .. }
    );
    // A signed comparison of a possibly negative value with the length
    // proves no packet range.
    refuse_at!(
        "
        jlt %r2, 8, out
        ldxdw %r3, [%r1+0]
        jsge %r3, %r2, out    # signed: r3 < len
        jslt %r3, 0, out
        jgt %r3, 1000, out
        mov %r4, %r1
        add %r4, %r3
        ldxb %r0, [%r4+0]     #!
        exit
    out:
        mov %r0, 0
        exit
    ",
        VerifyError::PacketOutOfBounds { .. }
    );
}

/// Oko ran programs with r2 = 8 whatever the packet: the length is the real
/// one and unknown, so the first 8 bytes are not readable unchecked either.
#[test]
fn refuse_unchecked_short_read_r2_was_8_oko_regression() {
    refuse_at!(
        "ldxw %r0, [%r1+4] #!\nexit",
        VerifyError::PacketOutOfBounds {
            offset: 4,
            checked: 0,
            ..
        }
    );
    // Comparing against 8 (Oko's constant) still only proves 8 bytes.
    refuse_at!(
        "jlt %r2, 8, out\nldxw %r0, [%r1+6] #!\nexit\nout:\nmov %r0, 0\nexit",
        VerifyError::PacketOutOfBounds { checked: 8, .. }
    );
}

#[test]
fn refuse_pointer_leaks() {
    refuse_at!(
        "mov %r0, %r1\nexit #!",
        VerifyError::PointerLeak { reg: 0, .. }
    );
    refuse_at!(
        "mov %r0, %r10\nexit #!",
        VerifyError::PointerLeak { reg: 0, .. }
    );
    refuse_at!(
        &format!("{LOOKUP}jeq %r0, 0, out\nstxdw [%r0+0], %r10 #!\nout:\nmov %r0, 0\nexit"),
        VerifyError::PointerLeak { reg: 10, .. }
    );
    refuse_at!(
        "stxw [%r10-4], %r1 #! half a pointer\nmov %r0, 0\nexit",
        VerifyError::PointerLeak { reg: 1, .. }
    );
    refuse_at!(
        "stxdw [%r10-12], %r1 #! misaligned spill\nmov %r0, 0\nexit",
        VerifyError::PointerLeak { reg: 1, .. }
    );
    // A spilled pointer inside a map update's value bytes.
    refuse_at!(
        "stdw [%r10-8], 0\nstxdw [%r10-16], %r1\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -8\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2 #!\nmov %r0, 0\nexit",
        VerifyError::PointerLeak { reg: 3, .. }
    );
    refuse_at!(
        "stdw [%r10-8], 0\nmov %r1, %r10\nlock add [%r10-8], %r1 #!\nmov %r0, 0\nexit",
        VerifyError::PointerLeak { reg: 1, .. }
    );
    // A callee may not return a pointer either.
    refuse_at!(
        "call local f\nexit\nf:\nmov %r0, %r10\nexit #!",
        VerifyError::PointerLeak { reg: 0, .. }
    );
}

#[test]
fn refuse_partial_pointer_reads() {
    refuse_at!(
        "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8] #!\nexit",
        VerifyError::PartialPointerRead { off: -8, .. }
    );
    refuse_at!(
        "stxdw [%r10-8], %r1\nstb [%r10-8], 0\nldxw %r0, [%r10-4] #! rest of an overwritten pointer\nexit",
        VerifyError::UninitStack { off: -4, .. }
    );
    refuse_at!(
        "stxdw [%r10-8], %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6 #! hashing a pointer\nexit",
        VerifyError::PointerLeak { reg: 1, .. }
    );
}

#[test]
fn refuse_pointer_arithmetic() {
    refuse_at!(
        "mov %r3, %r1\nmul %r3, 2 #!\nmov %r0, 0\nexit",
        VerifyError::PointerArithmetic { reg: 3, .. }
    );
    refuse_at!(
        "mov %r3, %r1\nadd32 %r3, 2 #!\nmov %r0, 0\nexit",
        VerifyError::PointerArithmetic { reg: 3, .. }
    );
    refuse_at!(
        "mov32 %r0, %r1 #!\nexit",
        VerifyError::PointerArithmetic { reg: 1, .. }
    );
    refuse_at!(
        "mov %r3, %r1\nadd %r3, %r10 #! pointer + pointer\nmov %r0, 0\nexit",
        VerifyError::PointerArithmetic { .. }
    );
    refuse_at!(
        "mov %r0, %r10\nsub %r0, %r1 #! stack - packet\nexit",
        VerifyError::PointerArithmetic { .. }
    );
    refuse_at!(
        "mov %r3, %r1\nbe16 %r3 #!\nmov %r0, 0\nexit",
        VerifyError::PointerArithmetic { .. }
    );
    refuse_at!(
        "lddw %r1, map:0\nadd %r1, 8 #!\nmov %r0, 0\nexit",
        VerifyError::PointerArithmetic { reg: 1, .. }
    );
}

#[test]
fn refuse_unbounded_pointer_offsets() {
    refuse_at!(
        "mov %r6, %r1\ncall 5\nmov %r3, %r6\nadd %r3, %r0 #!\nmov %r0, 0\nexit",
        VerifyError::UnboundedOffset { reg: 3, .. }
    );
}

#[test]
fn refuse_pointer_comparisons() {
    refuse_at!(
        "jeq %r1, 0, out #! packet pointer vs number\nout:\nmov %r0, 0\nexit",
        VerifyError::PointerComparison { .. }
    );
    refuse_at!(
        "mov %r4, %r1\nadd %r4, %r2\njsgt %r1, %r4, out #! signed pointer comparison\nout:\nmov %r0, 0\nexit",
        VerifyError::PointerComparison { .. }
    );
    refuse_at!(
        "jgt %r1, %r10, out #! different objects\nout:\nmov %r0, 0\nexit",
        VerifyError::PointerComparison { .. }
    );
    refuse_at!(
        "mov %r4, %r1\nadd %r4, %r2\njgt32 %r1, %r4, out #! 32-bit pointer comparison\nout:\nmov %r0, 0\nexit",
        VerifyError::PointerComparison { .. }
    );
}

#[test]
fn refuse_callee_reading_callers_saved_registers() {
    refuse_at!(
        "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6 #!\nexit",
        VerifyError::UninitRegister { reg: 6, .. }
    );
}

#[test]
fn refuse_dangling_pointer_into_finished_frame() {
    refuse_at!(
        "
        mov %r1, %r10
        add %r1, -8
        call local f
        ldxdw %r3, [%r10-8]   #! the callee's stack is gone
        mov %r0, 0
        exit
    f:
        stdw [%r10-8], 0
        mov %r2, %r10
        stxdw [%r1+0], %r2
        mov %r0, 0
        exit
    ",
        VerifyError::UninitStack { .. }
    );
}

#[test]
fn refuse_uninitialised_r4_mixed_with_pointer() {
    // r4 holds a pointer on one path: not "never written".
    refuse_at!(
        "stdw [%r10-8], 0\ncall 7\nmov %r4, 0\njeq %r0, 0, go\nmov %r4, %r10\ngo:\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -8\ncall 2 #!\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 4, .. }
    );
    // Written on one path only: not "never written" either.
    refuse_at!(
        "stdw [%r10-8], 0\ncall 7\njeq %r0, 0, go\nmov %r4, 2\ngo:\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -8\ncall 2 #!\nmov %r0, 0\nexit",
        VerifyError::BadHelperArg { arg: 4, .. }
    );
}

// ===========================================================================
// Robustness.
// ===========================================================================

/// Opcodes of every accepted form plus a few refused ones, to make random
/// programs get past the structural checks often.
const OPS: &[u8] = &[
    0x04, 0x0c, 0x07, 0x0f, 0x14, 0x1c, 0x17, 0x1f, 0x24, 0x2f, 0x34, 0x3f, 0x44, 0x4f, 0x54, 0x5f,
    0x64, 0x6f, 0x74, 0x7f, 0x84, 0x87, 0x94, 0x9f, 0xa4, 0xaf, 0xb4, 0xbc, 0xb7, 0xbf, 0xc4, 0xcf,
    0xd4, 0xdc, 0xd7, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d,
    0x75, 0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0xae, 0x66, 0x85,
    0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73,
    0x7b, 0xc3, 0xdb, 0x06, 0x20, 0x00,
];

fn arb_insn() -> impl Strategy<Value = Insn> {
    (
        prop_oneof![prop::sample::select(OPS), any::<u8>()],
        0u8..12,
        0u8..12,
        prop_oneof![-8i16..8, Just(-4i16), any::<i16>()],
        prop_oneof![-4i32..70, Just(0), Just(1), Just(6), any::<i32>()],
    )
        .prop_map(|(op, dst, src, off, imm)| Insn::new(op, dst, src, off, imm))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_programs_never_panic(mut p in prop::collection::vec(arb_insn(), 1..40)) {
        // Make some end properly so the analysis runs further.
        p.push(Insn::new(0xb7, 0, 0, 0, 0));
        p.push(Insn::new(0x95, 0, 0, 0, 0));
        let _ = verify(&p, &maps());
    }

    #[test]
    fn random_bytes_never_panic(p in prop::collection::vec(
        any::<[u8; 8]>().prop_map(Insn::decode), 0..40)
    ) {
        let _ = verify(&p, &maps());
    }

    /// Accepted programs stay accepted after appending dead code, and the
    /// error pc of a refused program is inside it.
    #[test]
    fn error_pc_is_in_program(p in prop::collection::vec(arb_insn(), 1..30)) {
        if let Err(e) = verify(&p, &maps()) {
            let pc = e.pc().unwrap();
            prop_assert!(pc <= p.len().max(MAX_INSNS));
            if !matches!(e, VerifyError::TooLarge { .. }) {
                prop_assert!(pc < p.len().max(1));
            }
        }
    }
}

// ===========================================================================
// Soundness: a checking interpreter runs accepted random programs.
// ===========================================================================

/// A concrete interpreter that tracks what every value is (number or
/// pointer into which object) and reports, instead of doing, anything the
/// safety contract forbids. If the verifier accepts a program and this
/// interpreter reports a violation on some packet, the verifier is unsound.
mod shadow {
    use ofext_filter::isa::{Insn, alu, atomic, class, jmp, mode};
    use ofext_filter::maps::MapDef;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum V {
        Uninit,
        Num(u64),
        Pkt(i64),
        Stack(usize, i64),
        Map(usize, usize, i64),
        MapRef(usize),
    }

    struct Frame {
        regs: [V; 11],
        bytes: [u8; 512],
        init: [bool; 512],
        spill: [Option<V>; 64],
        ret: usize,
    }

    impl Frame {
        fn new(depth: usize, ret: usize) -> Self {
            let mut regs = [V::Uninit; 11];
            regs[10] = V::Stack(depth, 0);
            Frame {
                regs,
                bytes: [0; 512],
                init: [false; 512],
                spill: [None; 64],
                ret,
            }
        }
    }

    pub(super) struct Machine<'a> {
        insns: &'a [Insn],
        maps: &'a [MapDef],
        values: Vec<Vec<Vec<u8>>>,
        pkt: Vec<u8>,
        frames: Vec<Frame>,
        rng: u64,
        zero_flags: &'a [usize],
        pub(super) executed: usize,
    }

    type R<T> = Result<T, String>;

    fn eval(code: u8, wide: bool, a: u64, b: u64, off: i16) -> u64 {
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
                _ => match off {
                    8 => b as i8 as i64 as u64,
                    16 => b as i16 as i64 as u64,
                    32 => b as i32 as i64 as u64,
                    _ => b,
                },
            }
        } else {
            let (x, y) = (a as u32, b as u32);
            u64::from(match code {
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
                _ => match off {
                    8 => y as i8 as i32 as u32,
                    16 => y as i16 as i32 as u32,
                    _ => y,
                },
            })
        }
    }

    fn cmp(code: u8, a: u64, b: u64) -> bool {
        match code {
            jmp::JEQ => a == b,
            jmp::JNE => a != b,
            jmp::JGT => a > b,
            jmp::JGE => a >= b,
            jmp::JLT => a < b,
            jmp::JLE => a <= b,
            jmp::JSET => a & b != 0,
            jmp::JSGT => (a as i64) > b as i64,
            jmp::JSGE => a as i64 >= b as i64,
            jmp::JSLT => (a as i64) < b as i64,
            _ => a as i64 <= b as i64,
        }
    }

    impl<'a> Machine<'a> {
        pub(super) fn new(
            insns: &'a [Insn],
            maps: &'a [MapDef],
            pkt: Vec<u8>,
            seed: u64,
            zero_flags: &'a [usize],
        ) -> Self {
            let values = maps
                .iter()
                .map(|m| vec![vec![0u8; m.value_size as usize]; 3])
                .collect();
            Machine {
                insns,
                maps,
                values,
                pkt,
                frames: Vec::new(),
                rng: seed | 1,
                zero_flags,
                executed: 0,
            }
        }

        fn rand(&mut self) -> u64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng
        }

        fn f(&mut self) -> &mut Frame {
            self.frames.last_mut().expect("a frame")
        }

        fn reg(&mut self, r: u8) -> R<V> {
            match self.f().regs[r as usize] {
                V::Uninit => Err(format!("read of uninitialised r{r}")),
                v => Ok(v),
            }
        }

        fn num(&mut self, r: u8) -> R<u64> {
            match self.reg(r)? {
                V::Num(n) => Ok(n),
                v => Err(format!("r{r} = {v:?} used as a number")),
            }
        }

        /// Reads `n` bytes (little endian), or the spilled pointer.
        fn read(&mut self, base: V, off: i64, n: usize, what: &str) -> R<V> {
            let mut buf = [0u8; 8];
            match base {
                V::Pkt(o) => {
                    let a = o + off;
                    if a < 0 || a as usize + n > self.pkt.len() {
                        return Err(format!(
                            "{what}: packet read of {n} at {a}, length {}",
                            self.pkt.len()
                        ));
                    }
                    buf[..n].copy_from_slice(&self.pkt[a as usize..a as usize + n]);
                }
                V::Stack(fr, o) => {
                    let a = o + off;
                    if a < -512 || a + n as i64 > 0 {
                        return Err(format!("{what}: stack access at {a}"));
                    }
                    let i = (a + 512) as usize;
                    let frame = &self.frames[fr];
                    if n == 8
                        && i.is_multiple_of(8)
                        && let Some(p) = frame.spill[i / 8]
                    {
                        return Ok(p);
                    }
                    for k in i..i + n {
                        if !frame.init[k] {
                            return Err(format!(
                                "{what}: uninitialised stack byte {}",
                                k as i64 - 512
                            ));
                        }
                        if frame.spill[k / 8].is_some() {
                            return Err(format!("{what}: partial read of a spilled pointer"));
                        }
                    }
                    buf[..n].copy_from_slice(&frame.bytes[i..i + n]);
                }
                V::Map(m, e, o) => {
                    let a = o + off;
                    let vs = self.maps[m].value_size as i64;
                    if a < 0 || a + n as i64 > vs {
                        return Err(format!("{what}: map value access at {a} of {vs}"));
                    }
                    buf[..n].copy_from_slice(&self.values[m][e][a as usize..a as usize + n]);
                }
                v => return Err(format!("{what}: dereference of {v:?}")),
            }
            Ok(V::Num(u64::from_le_bytes(buf)))
        }

        fn write(&mut self, base: V, off: i64, n: usize, v: V) -> R<()> {
            match base {
                V::Pkt(_) => Err("packet write".into()),
                V::Stack(fr, o) => {
                    let a = o + off;
                    if a < -512 || a + n as i64 > 0 {
                        return Err(format!("stack write at {a}"));
                    }
                    let i = (a + 512) as usize;
                    let frame = &mut self.frames[fr];
                    match v {
                        V::Num(x) => {
                            for k in i / 8..(i + n).div_ceil(8) {
                                if frame.spill[k].take().is_some() {
                                    // The rest of an overwritten pointer is garbage.
                                    for b in k * 8..k * 8 + 8 {
                                        frame.init[b] = false;
                                    }
                                }
                            }
                            frame.bytes[i..i + n].copy_from_slice(&x.to_le_bytes()[..n]);
                            for b in i..i + n {
                                frame.init[b] = true;
                            }
                            Ok(())
                        }
                        p if n == 8 && i.is_multiple_of(8) => {
                            frame.spill[i / 8] = Some(p);
                            for b in i..i + 8 {
                                frame.init[b] = true;
                            }
                            Ok(())
                        }
                        p => Err(format!("pointer {p:?} stored narrow or misaligned")),
                    }
                }
                V::Map(m, e, o) => {
                    let a = o + off;
                    let vs = self.maps[m].value_size as i64;
                    if a < 0 || a + n as i64 > vs {
                        return Err(format!("map value write at {a} of {vs}"));
                    }
                    let V::Num(x) = v else {
                        return Err("pointer stored into a map value".into());
                    };
                    self.values[m][e][a as usize..a as usize + n]
                        .copy_from_slice(&x.to_le_bytes()[..n]);
                    Ok(())
                }
                v => Err(format!("store through {v:?}")),
            }
        }

        /// Bytes of a helper memory argument (no pointer bytes allowed).
        fn region(&mut self, r: u8, n: usize) -> R<Vec<u8>> {
            let base = self.reg(r)?;
            if !matches!(base, V::Pkt(_) | V::Stack(..) | V::Map(..)) {
                return Err(format!("helper argument r{r} = {base:?} is not memory"));
            }
            let mut out = Vec::with_capacity(n);
            for k in 0..n {
                match self.read(base, k as i64, 1, "helper argument")? {
                    V::Num(x) => out.push(x as u8),
                    _ => return Err("pointer bytes passed to a helper".into()),
                }
            }
            Ok(out)
        }

        fn map_arg(&mut self) -> R<usize> {
            match self.reg(1)? {
                V::MapRef(m) => Ok(m),
                v => Err(format!("map argument {v:?}")),
            }
        }

        fn helper(&mut self, pc: usize, id: i32) -> R<V> {
            Ok(match id {
                1 => {
                    let m = self.map_arg()?;
                    let key = self.region(2, self.maps[m].key_size as usize)?;
                    let e = key.iter().map(|&b| b as usize).sum::<usize>() % 4;
                    if e == 3 { V::Num(0) } else { V::Map(m, e, 0) }
                }
                2 => {
                    let m = self.map_arg()?;
                    self.region(2, self.maps[m].key_size as usize)?;
                    let value = self.region(3, self.maps[m].value_size as usize)?;
                    if !self.zero_flags.contains(&pc) {
                        self.num(4)?;
                    }
                    self.values[m][0].copy_from_slice(&value);
                    V::Num(0)
                }
                3 => {
                    let m = self.map_arg()?;
                    self.region(2, self.maps[m].key_size as usize)?;
                    V::Num(0)
                }
                5 => V::Num(self.rand()),
                6 => {
                    let n = self.num(2)?;
                    if n > 1 << 20 {
                        return Err("hash length".into());
                    }
                    let b = self.region(1, n as usize)?;
                    V::Num(b.iter().map(|&x| u64::from(x)).sum::<u64>() & 0xffff_ffff)
                }
                7 => V::Num(self.rand() & 0xffff_ffff),
                _ => return Err(format!("helper {id}")),
            })
        }

        /// Runs the program; `Err` describes a contract violation.
        pub(super) fn run(&mut self) -> R<u64> {
            self.frames.push(Frame::new(0, usize::MAX));
            self.f().regs[1] = V::Pkt(0);
            self.f().regs[2] = V::Num(self.pkt.len() as u64);
            let mut pc = 0usize;
            for _ in 0..1_000_000 {
                self.executed += 1;
                let i = self.insns[pc];
                let wide = matches!(i.class(), class::ALU64 | class::JMP);
                let mut next = pc + 1;
                match i.class() {
                    class::ALU | class::ALU64 => {
                        let code = i.code();
                        let b = if i.is_reg_source() && code != alu::END {
                            self.reg(i.src)?
                        } else if wide {
                            V::Num(i.imm as i64 as u64)
                        } else {
                            V::Num(u64::from(i.imm as u32))
                        };
                        let v = if code == alu::MOV && wide && i.off == 0 {
                            b
                        } else if code == alu::MOV {
                            let V::Num(y) = b else {
                                return Err("mov32/movsx of a pointer".into());
                            };
                            V::Num(eval(code, wide, 0, y, i.off))
                        } else if code == alu::END {
                            let x = self.num(i.dst)?;
                            V::Num(match (wide, i.is_reg_source(), i.imm) {
                                (false, false, 16) => u64::from(x as u16),
                                (false, false, 32) => u64::from(x as u32),
                                (false, false, _) => x,
                                (_, _, 16) => u64::from((x as u16).swap_bytes()),
                                (_, _, 32) => u64::from((x as u32).swap_bytes()),
                                _ => x.swap_bytes(),
                            })
                        } else {
                            let a = self.reg(i.dst)?;
                            match (code, a, b) {
                                (_, V::Num(x), V::Num(y)) => V::Num(eval(code, wide, x, y, i.off)),
                                (alu::ADD | alu::SUB, p, V::Num(y)) if wide => {
                                    let d = if code == alu::ADD {
                                        y as i64
                                    } else {
                                        (y as i64).wrapping_neg()
                                    };
                                    match p {
                                        V::Pkt(o) => V::Pkt(o.wrapping_add(d)),
                                        V::Stack(f, o) => V::Stack(f, o.wrapping_add(d)),
                                        V::Map(m, e, o) => V::Map(m, e, o.wrapping_add(d)),
                                        _ => return Err(format!("arithmetic on {p:?}")),
                                    }
                                }
                                (alu::ADD, V::Num(x), V::Pkt(o)) if wide => {
                                    V::Pkt(o.wrapping_add(x as i64))
                                }
                                (alu::ADD, V::Num(x), V::Stack(f, o)) if wide => {
                                    V::Stack(f, o.wrapping_add(x as i64))
                                }
                                (alu::ADD, V::Num(x), V::Map(m, e, o)) if wide => {
                                    V::Map(m, e, o.wrapping_add(x as i64))
                                }
                                (alu::SUB, V::Pkt(x), V::Pkt(y)) if wide => {
                                    V::Num(x.wrapping_sub(y) as u64)
                                }
                                (alu::SUB, V::Stack(f, x), V::Stack(g, y)) if wide && f == g => {
                                    V::Num(x.wrapping_sub(y) as u64)
                                }
                                _ => return Err(format!("pc {pc}: ALU {code:#x} on {a:?}, {b:?}")),
                            }
                        };
                        self.f().regs[i.dst as usize] = v;
                    }
                    class::LD => {
                        let v = if i.src == 1 {
                            V::MapRef(i.imm as usize)
                        } else {
                            V::Num(
                                (u64::from(self.insns[pc + 1].imm as u32) << 32)
                                    | u64::from(i.imm as u32),
                            )
                        };
                        self.f().regs[i.dst as usize] = v;
                        next = pc + 2;
                    }
                    class::LDX => {
                        let n = i.access_size();
                        let base = self.reg(i.src)?;
                        let mut v = self.read(base, i64::from(i.off), n, &format!("pc {pc}"))?;
                        if i.mode_bits() == mode::MEMSX
                            && let V::Num(x) = v
                        {
                            v = V::Num(match n {
                                1 => x as i8 as i64 as u64,
                                2 => x as i16 as i64 as u64,
                                _ => x as i32 as i64 as u64,
                            });
                        }
                        self.f().regs[i.dst as usize] = v;
                    }
                    class::ST => {
                        let base = self.reg(i.dst)?;
                        self.write(
                            base,
                            i64::from(i.off),
                            i.access_size(),
                            V::Num(i.imm as i64 as u64),
                        )?;
                    }
                    class::STX if i.mode_bits() == mode::ATOMIC => {
                        let n = i.access_size();
                        let base = self.reg(i.dst)?;
                        let V::Num(s) = self.reg(i.src)? else {
                            return Err("atomic pointer operand".into());
                        };
                        if matches!(base, V::Pkt(_)) {
                            return Err("atomic on packet".into());
                        }
                        let V::Num(old) = self.read(base, i64::from(i.off), n, "atomic")? else {
                            return Err("atomic on a pointer".into());
                        };
                        let mask = if n == 4 { 0xffff_ffff } else { u64::MAX };
                        let new = match i.imm & !atomic::FETCH {
                            atomic::ADD => old.wrapping_add(s),
                            atomic::OR => old | s,
                            atomic::AND => old & s,
                            atomic::XOR => old ^ s,
                            _ if i.imm == atomic::XCHG => s,
                            _ => {
                                let r0 = self.num(0)?;
                                if r0 & mask == old { s } else { old }
                            }
                        } & mask;
                        self.write(base, i64::from(i.off), n, V::Num(new))?;
                        if i.imm == atomic::CMPXCHG {
                            self.f().regs[0] = V::Num(old);
                        } else if i.imm & atomic::FETCH != 0 {
                            self.f().regs[i.src as usize] = V::Num(old);
                        }
                    }
                    class::STX => {
                        let base = self.reg(i.dst)?;
                        let v = self.reg(i.src)?;
                        self.write(base, i64::from(i.off), i.access_size(), v)?;
                    }
                    _ => match i.code() {
                        jmp::JA => {
                            next = if wide {
                                (pc as i64 + 1 + i64::from(i.off)) as usize
                            } else {
                                (pc as i64 + 1 + i64::from(i.imm)) as usize
                            }
                        }
                        jmp::EXIT => {
                            let r0 = self.reg(0)?;
                            let V::Num(r) = r0 else {
                                return Err("pointer returned".into());
                            };
                            let fr = self.frames.pop().expect("frame");
                            if self.frames.is_empty() {
                                return Ok(r);
                            }
                            self.f().regs[0] = V::Num(r);
                            for k in 1..=5 {
                                self.f().regs[k] = V::Uninit;
                            }
                            // Pointers into the finished frame are dead.
                            let depth = self.frames.len();
                            for f in &mut self.frames {
                                for s in f.spill.iter_mut() {
                                    if matches!(s, Some(V::Stack(d, _)) if *d == depth) {
                                        *s = None;
                                    }
                                }
                            }
                            next = fr.ret;
                        }
                        jmp::CALL if i.src == 1 => {
                            let depth = self.frames.len();
                            let mut fr = Frame::new(depth, pc + 1);
                            fr.regs[1..=5].copy_from_slice(&self.f().regs[1..=5]);
                            self.frames.push(fr);
                            next = (pc as i64 + 1 + i64::from(i.imm)) as usize;
                        }
                        jmp::CALL => {
                            let r0 = self.helper(pc, i.imm)?;
                            self.f().regs[0] = r0;
                            for k in 1..=5 {
                                self.f().regs[k] = V::Uninit;
                            }
                        }
                        code => {
                            let a = self.reg(i.dst)?;
                            let b = if i.is_reg_source() {
                                self.reg(i.src)?
                            } else if wide {
                                V::Num(i.imm as i64 as u64)
                            } else {
                                V::Num(u64::from(i.imm as u32))
                            };
                            let (x, y) = match (a, b) {
                                (V::Num(x), V::Num(y)) => (x, y),
                                (V::Pkt(x), V::Pkt(y)) | (V::Stack(_, x), V::Stack(_, y)) => {
                                    // Addresses of one object, based far from 0.
                                    ((x + (1 << 45)) as u64, (y + (1 << 45)) as u64)
                                }
                                (V::Map(..), V::Num(0)) | (V::Num(0), V::Map(..)) => (1, 0),
                                _ => return Err(format!("comparison of {a:?} and {b:?}")),
                            };
                            let (x, y) = if wide {
                                (x, y)
                            } else {
                                (x & 0xffff_ffff, y & 0xffff_ffff)
                            };
                            let (x, y) = if wide
                                || !matches!(code, jmp::JSGT | jmp::JSGE | jmp::JSLT | jmp::JSLE)
                            {
                                (x, y)
                            } else {
                                (x as u32 as i32 as i64 as u64, y as u32 as i32 as i64 as u64)
                            };
                            if cmp(code, x, y) {
                                next = (pc as i64 + 1 + i64::from(i.off)) as usize;
                            }
                        }
                    },
                }
                pc = next;
            }
            Err("did not terminate".into())
        }
    }
}

/// Random filter-shaped programs: length and end-pointer checks (sometimes
/// wrong), packet reads at constant and variable offsets, scalar
/// arithmetic, forward branches, stack traffic, map lookups, helper calls.
fn random_filter(seed: u64) -> String {
    let mut s = seed | 1;
    let mut rnd = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n.max(1)
    };
    // r9 = length, r8 = packet, r7 = end; r0-r5 are the scalar registers,
    // re-initialised after every helper call.
    const INIT: &str = "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\n";
    let mut out =
        String::from("mov %r9, %r2\nmov %r8, %r1\nmov %r7, %r1\nadd %r7, %r2\nmov %r0, 0\n");
    out.push_str(INIT);
    let mut open: Vec<u64> = Vec::new();
    // Roughly how many bytes the checks so far cover: reads mostly stay
    // below it (and sometimes not, to exercise refusals).
    let mut checked: u64 = 0;
    let mut label = 0u64;
    let len = 3 + rnd(14);
    let sizes = ["b", "h", "w", "dw"];
    let alu = [
        "add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "mod", "xor", "arsh", "mov",
    ];
    let jmps = [
        "jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset",
    ];
    for _ in 0..len {
        if !open.is_empty() && rnd(4) == 0 {
            let k = open.remove(rnd(open.len() as u64) as usize);
            out.push_str(&format!("l{k}:\n"));
        }
        let r = |x: u64| x % 6;
        match rnd(19) {
            0 | 1 => {
                let n = rnd(48);
                let op = ["jlt", "jle", "jslt", "jlt32", "jsle32", "jgt"][rnd(6) as usize];
                checked = checked.max(n);
                if op == "jgt" {
                    // inverted: the fall-through is the short packet
                    out.push_str(&format!("jgt %r9, {n}, l{label}\nja out\n"));
                    out.push_str(&format!("l{label}:\n"));
                    label += 1;
                } else {
                    out.push_str(&format!("{op} %r9, {n}, out\n"));
                }
            }
            2 => {
                let n = rnd(48);
                let op = ["jgt", "jge", "jlt", "jsgt"][rnd(4) as usize];
                checked = checked.max(n);
                out.push_str(&format!("mov %r6, %r8\nadd %r6, {n}\n{op} %r6, %r7, out\n"));
            }
            3 | 4 => {
                let k = rnd(4) as usize;
                let sz = sizes[k];
                let width = [1, 2, 4, 8][k];
                let off = if rnd(5) > 0 && checked >= width {
                    rnd(checked - width + 1) as i64
                } else {
                    rnd(48) as i64 - 1
                };
                out.push_str(&format!("ldx{sz} %r{}, [%r8{off:+}]\n", r(rnd(6))));
            }
            5 => {
                let src = r(rnd(6));
                let m = [3, 7, 15, 31, 255][rnd(5) as usize];
                // Check `off + 1 + slack` bytes past the pointer, read at
                // `off`; a slack of -1 is a (refused) off-by-one.
                let off = rnd(8);
                let slack = rnd(3) as i64 - 1;
                let check = if rnd(4) > 0 {
                    format!(
                        "mov %r5, %r6\nadd %r5, {}\njgt %r5, %r7, out\n",
                        off as i64 + 1 + slack
                    )
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "mov %r6, %r{src}\nand %r6, {m}\nadd %r6, %r8\n{check}ldxb %r{}, [%r6+{off}]\n",
                    r(rnd(6)),
                ));
            }
            6 | 7 => {
                let op = alu[rnd(alu.len() as u64) as usize];
                let w = if rnd(3) == 0 { "32" } else { "" };
                let d = r(rnd(6));
                if rnd(2) == 0 {
                    out.push_str(&format!("{op}{w} %r{d}, %r{}\n", r(rnd(6))));
                } else {
                    out.push_str(&format!("{op}{w} %r{d}, {}\n", rnd(70) as i64 - 3));
                }
            }
            8 => {
                let j = jmps[rnd(jmps.len() as u64) as usize];
                let w = if rnd(3) == 0 { "32" } else { "" };
                let rhs = if rnd(2) == 0 {
                    format!("%r{}", r(rnd(6)))
                } else {
                    format!("{}", rnd(40))
                };
                out.push_str(&format!("{j}{w} %r{}, {rhs}, l{label}\n", r(rnd(6))));
                open.push(label);
                label += 1;
            }
            9 => {
                let o = 8 * (1 + rnd(4));
                match rnd(6) {
                    0 | 1 => out.push_str(&format!("stxdw [%r10-{o}], %r{}\n", r(rnd(6)))),
                    2 => out.push_str(&format!("ldxdw %r{}, [%r10-{o}]\n", r(rnd(6)))),
                    3 | 4 => out.push_str(&format!("stw [%r10-{}], {}\n", o - rnd(5), rnd(9))),
                    _ => out.push_str(&format!("ldxw %r{}, [%r10-{}]\n", r(rnd(6)), o - rnd(5))),
                }
            }
            10 => {
                let off = rnd(10);
                let key = if rnd(3) == 0 {
                    "stb [%r10-4], 1\n".to_string()
                } else {
                    format!("stw [%r10-4], {}\n", rnd(9))
                };
                let check = if rnd(5) == 0 {
                    String::new()
                } else {
                    format!("jeq %r0, 0, l{label}\n")
                };
                out.push_str(&format!(
                    "{key}lddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\n{check}ldx{} %r3, [%r0+{off}]\n",
                    sizes[rnd(4) as usize]
                ));
                if rnd(2) == 0 {
                    out.push_str("mov %r4, 1\nlock add [%r0+0], %r4\n");
                }
                out.push_str(INIT);
                if !check.is_empty() {
                    open.push(label);
                    label += 1;
                }
            }
            11 => {
                // hash over packet bytes with a variable length
                out.push_str(&format!(
                    "mov %r1, %r8\nmov %r2, %r{}\nand %r2, {}\ncall 6\n",
                    r(rnd(6)),
                    [7, 15, 31][rnd(3) as usize]
                ));
                out.push_str(INIT);
            }
            12 => {
                // length check against a variable
                out.push_str(&format!(
                    "mov %r6, %r{}\nand %r6, 31\nmov %r5, %r6\nadd %r5, {}\njlt %r9, %r5, out\nadd %r6, %r8\nldx{} %r{}, [%r6+{}]\n",
                    r(rnd(6)),
                    rnd(12),
                    sizes[rnd(4) as usize],
                    r(rnd(6)),
                    rnd(10)
                ));
            }
            13 => {
                // BPF-to-BPF calls: a packet reader given (packet, length),
                // or a writer given a pointer into this frame.
                if rnd(2) == 0 {
                    out.push_str("mov %r1, %r8\nmov %r2, %r9\ncall local peek\n");
                } else {
                    let o = 8 * (1 + rnd(4));
                    out.push_str(&format!(
                        "mov %r1, %r10\nadd %r1, -{o}\ncall local poke\nldxdw %r{}, [%r10-{o}]\n",
                        r(rnd(6))
                    ));
                }
                out.push_str(INIT);
            }
            14 => {
                // clang's extensions of the length (and wrong ones), then a
                // check of the extended value.
                let n = rnd(48);
                let ext = [
                    "lsh %r6, 32\nrsh %r6, 32",
                    "lsh %r6, 32\narsh %r6, 32",
                    "mov32 %r6, %r6",
                    "movsx3264 %r6, %r6",
                    "lsh %r6, 32\nrsh %r6, 31",
                    "and %r6, 0x1f",
                ][rnd(6) as usize];
                let op = ["jlt", "jslt", "jslt32", "jlt32"][rnd(4) as usize];
                checked = checked.max(n);
                out.push_str(&format!("mov %r6, %r9\n{ext}\n{op} %r6, {n}, out\n"));
            }
            15 => {
                // `len - k` (or `+ k`) in 64 or 32 bits, checked signed or
                // unsigned (the unsigned checks of a negative k let wrapped
                // short lengths through).
                let k = rnd(40) as i64 - 20;
                let n = rnd(40);
                let add = ["add", "add32"][rnd(2) as usize];
                let op = ["jslt", "jslt32", "jlt", "jlt32"][rnd(4) as usize];
                checked = checked.max((n as i64 - k).max(0) as u64);
                out.push_str(&format!(
                    "mov %r6, %r9\n{add} %r6, {k}\n{op} %r6, {n}, out\n"
                ));
            }
            16 => {
                // `int` arithmetic in the high half.
                let k = rnd(30) as i64;
                let n = rnd(30);
                checked = checked.max(n + k as u64);
                out.push_str(&format!(
                    "mov %r6, %r9\nlsh %r6, 32\nlddw %r5, {}\nadd %r6, %r5\narsh %r6, 32\njslt %r6, {n}, out\n",
                    (-k) << 32
                ));
            }
            17 => {
                // `end - p`, checked signed or unsigned, then a read at p.
                let m = [3, 7, 15][rnd(3) as usize];
                let n = 1 + rnd(8);
                let op = ["jslt", "jlt", "jsle"][rnd(3) as usize];
                out.push_str(&format!(
                    "mov %r6, %r{}\nand %r6, {m}\nadd %r6, %r8\nmov %r5, %r7\nsub %r5, %r6\n{op} %r5, {n}, out\nldxb %r{}, [%r6+{}]\n",
                    r(rnd(6)),
                    r(rnd(6)),
                    rnd(n + 1)
                ));
            }
            _ => {
                out.push_str(["call 7\n", "call 5\n"][rnd(2) as usize]);
                out.push_str(INIT);
            }
        }
    }
    for k in open {
        out.push_str(&format!("l{k}:\n"));
    }
    out.push_str("mov %r0, 0\nexit\nout:\nmov %r0, 1\nexit\n");
    let n = rnd(24);
    let m = rnd(24);
    out.push_str(&format!(
        "peek:\nmov %r0, 0\njlt %r2, {n}, done\nldxb %r0, [%r1+{m}]\ndone:\nexit\n\
         poke:\nstdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nstxdw [%r1+0], %r0\nexit\n"
    ));
    out
}

#[test]
fn accepted_random_filters_are_safe_on_random_packets() {
    let mut accepted = 0;
    let mut refused = 0;
    let defs = maps();
    let mut why = std::collections::BTreeMap::<String, usize>::new();
    for seed in 1..6000u64 {
        let src = random_filter(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let p = assemble(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let info = match verify(&p, &defs) {
            Ok(info) => info,
            Err(e) => {
                refused += 1;
                let k = format!("{e:?}");
                let k = k.split([' ', '{']).next().unwrap_or("").to_string();
                *why.entry(k).or_insert(0) += 1;
                continue;
            }
        };
        accepted += 1;
        let mut rng = seed;
        for len in (0..72).step_by(3) {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pkt: Vec<u8> = (0..len).map(|k| (rng >> (k % 56)) as u8).collect();
            let mut m = shadow::Machine::new(&p, &defs, pkt, rng, &info.zero_flags_at);
            if let Err(why) = m.run() {
                panic!("verifier accepted an unsafe program (len {len}): {why}\n{src}");
            }
            assert!(m.executed <= info.max_insns_executed, "{src}");
        }
    }
    // The generator must exercise both outcomes substantially.
    assert!(
        accepted > 600 && refused > 600,
        "accepted {accepted}, refused {refused}: {why:?}"
    );
}

#[test]
fn helper_sites_name_their_map_over_every_call_instance() {
    // f looks up the map its caller passes: the same site sees map 0 from
    // one call and map 2 from the other, so it names no map; the two calls
    // are two lookups per run. The update's key is in the packet, its value
    // on the stack: both plain. The hash reads a map value: not plain.
    let info = ok("mov %r6, %r1\nmov %r7, %r2\n\
         lddw %r1, map:0\ncall local f\nlddw %r1, map:2\ncall local f\n\
         jlt %r7, 8, +9\nstdw [%r10-16], 0\nstdw [%r10-8], 0\n\
         lddw %r1, map:1\nmov %r2, %r6\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\n\
         stw [%r10-4], 0\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\n\
         jeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 8\ncall 6\n\
         mov %r0, 0\nexit\n\
         f:\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit");
    let sites: Vec<(i32, Option<u32>, bool)> = info
        .helper_sites
        .iter()
        .map(|s| (s.helper, s.map, s.plain_args))
        .collect();
    assert_eq!(
        sites,
        [
            (2, Some(1), true),
            (1, Some(0), true),
            (6, None, false),
            (1, None, true),
        ]
    );
    assert!(info.helper_sites.windows(2).all(|w| w[0].pc < w[1].pc));
    assert_eq!(info.max_lookups, 3);
}
