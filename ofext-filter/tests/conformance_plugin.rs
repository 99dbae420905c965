//! Runs the `bpf-conformance-plugin` binary the way the `bpf_conformance`
//! suite does (program as hex on stdin, memory as hex in `argv[1]`, plugin
//! options in `argv[2]`) on the cases in `tests/conformance/*.data`.
//!
//! A case file has sections `-- asm` (assembler text) or `-- raw` (hex
//! instruction bytes), optionally `-- mem` (hex bytes), and either
//! `-- result` (the expected `r0`) or `-- error` (the plugin must fail).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ofext_filter::asm::assemble;
use ofext_filter::isa::encode_program;

const PLUGIN: &str = env!("CARGO_BIN_EXE_bpf-conformance-plugin");

#[derive(Debug, Default)]
struct Case {
    program: Vec<u8>,
    memory: Vec<u8>,
    /// `None`: an error is expected.
    result: Option<u64>,
}

fn hex_bytes(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn parse_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ") {
            sections.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let mut case = Case::default();
    let mut expects_error = false;
    for (name, body) in sections {
        let strip = |b: &str| -> String {
            b.lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        };
        match name.as_str() {
            "asm" => {
                let insns = assemble(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                case.program = encode_program(&insns);
            }
            "raw" => case.program = hex_bytes(&strip(&body)),
            "mem" => case.memory = hex_bytes(&strip(&body)),
            "result" => {
                let t = strip(&body);
                let t = t.trim();
                let t = t.strip_prefix("0x").unwrap_or(t);
                case.result = Some(u64::from_str_radix(t, 16).expect("hex result"));
            }
            "error" => expects_error = true,
            other => panic!("{}: unknown section {other}", path.display()),
        }
    }
    assert!(
        case.result.is_some() != expects_error,
        "{}: needs exactly one of -- result / -- error",
        path.display()
    );
    case
}

/// Spaced hex, as the suite formats both program and memory.
fn spaced_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}  ")).collect()
}

fn run_plugin(program: &[u8], memory: &[u8], options: &str) -> Output {
    let mut child = Command::new(PLUGIN)
        .arg(spaced_hex(memory))
        .arg(options)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The plugin may exit before reading (bad arguments): ignore EPIPE.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", spaced_hex(program)).as_bytes());
    child.wait_with_output().unwrap()
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    v.sort();
    v
}

#[test]
fn conformance_cases() {
    let all = cases();
    assert!(all.len() >= 10, "case files missing");
    for path in all {
        let case = parse_case(&path);
        for options in ["", "--jit"] {
            let out = run_plugin(&case.program, &case.memory, options);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match case.result {
                Some(want) => {
                    assert!(out.status.success(), "{}: failed: {stderr}", path.display());
                    let got = u64::from_str_radix(stdout.trim(), 16)
                        .unwrap_or_else(|_| panic!("{}: output {stdout:?}", path.display()));
                    assert_eq!(got, want, "{}", path.display());
                }
                None => {
                    assert_eq!(out.status.code(), Some(1), "{}: {stdout}", path.display());
                    assert!(stdout.is_empty(), "{}", path.display());
                    assert!(!stderr.trim().is_empty(), "{}", path.display());
                    assert_eq!(stderr.trim().lines().count(), 1, "{}", path.display());
                }
            }
        }
    }
}

#[test]
fn malformed_input_is_refused() {
    // Not a multiple of 8 bytes.
    let out = run_plugin(&[0x95, 0, 0, 0], &[], "");
    assert_eq!(out.status.code(), Some(1));
    // An unknown opcode (legacy LD_ABS).
    let out = run_plugin(
        &[0x20, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pc 0"));
    // Not hex on stdin.
    let mut child = Command::new(PLUGIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"hello");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Unknown options.
    let out = run_plugin(
        &encode_program(&assemble("mov %r0, 1\nexit").unwrap()),
        &[],
        "--fast",
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn verify_option() {
    // Without --verify an unchecked packet read runs; with it, it is refused.
    let unchecked = encode_program(&assemble("ldxb %r0, [%r1+0]\nexit").unwrap());
    let out = run_plugin(&unchecked, &[7], "");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
    let out = run_plugin(&unchecked, &[7], "--verify");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert_eq!(msg.trim().lines().count(), 1, "{msg}");
    assert!(msg.contains("pc 0"), "{msg}");

    // A checked read passes the verifier and runs; options may share one
    // argument, as the suite passes them.
    let checked =
        encode_program(&assemble("mov %r0, 0\njlt %r2, 1, +1\nldxb %r0, [%r1+0]\nexit").unwrap());
    for opts in ["--verify", "--jit --verify"] {
        let out = run_plugin(&checked, &[9], opts);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "9");
    }
}
