//! `bpf-conformance-plugin`: runs one eBPF program for the `bpf_conformance`
//! suite (the runtime-under-test protocol of its `--plugin_path`).
//!
//! Protocol:
//! - the program arrives on standard input as hex bytes (whitespace anywhere,
//!   e.g. `b7 00 00 00 01 00 00 00 95 00 ...`), 8 bytes per instruction;
//! - the input memory is the first argument that is hex bytes (`argv[1]` as
//!   the suite passes it; possibly empty, which the suite passes for tests
//!   without memory);
//! - the program runs in this crate's interpreter (or, with `--jit`, as
//!   native code) with `r1` = address of the memory, `r2` = its length,
//!   memory writable; `ktime_get_ns` reads the monotonic clock;
//! - success prints `r0` in hex (no `0x`) and exits 0; any error (malformed
//!   input, a program the interpreter refuses to load, a run error) prints a
//!   one-line message on standard error and exits 1.
//!
//! Options, anywhere in the arguments (the suite passes its
//! `--plugin_options` string as one argument, so arguments are also split on
//! whitespace):
//! - `--verify`: run the verifier first (no maps); a program it rejects is
//!   refused with exit 1 and the verifier's one-line message;
//! - `--jit`: run the program through the x86-64 JIT. The suite's programs
//!   are not verified (they write their memory, loop, read unchecked), and
//!   native code built from an unverified program must never touch memory
//!   the interpreter would refuse, so the JIT compiles them in its *checked*
//!   mode: arithmetic and control flow are native, every load, store and
//!   atomic is checked against the run's regions by a trampoline, and
//!   control transfers count against the same instruction budget (see
//!   `ofext_filter::jit`). With `--verify` as well, the verified program is
//!   compiled in the JIT's unchecked (filter) mode instead. Where there is no
//!   JIT (not x86-64), the interpreter runs the program.

use std::io::Read;
use std::process::ExitCode;

use ofext_filter::interp::{Interpreter, RunEnv};
use ofext_filter::isa::decode_program;
use ofext_filter::jit::{JitError, JitProgram};

/// What the arguments ask for.
#[derive(Debug, Default)]
struct Options {
    memory: Vec<u8>,
    verify: bool,
    jit: bool,
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut have_memory = false;
    for arg in args {
        // The first argument that is hex bytes (possibly none) is the
        // memory, wherever the options are.
        if !have_memory && let Some(mem) = parse_hex(arg) {
            o.memory = mem;
            have_memory = true;
            continue;
        }
        for word in arg.split_whitespace() {
            match word {
                "--verify" => o.verify = true,
                "--jit" => o.jit = true,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
    }
    Ok(o)
}

fn run() -> Result<u64, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = parse_args(&args)?;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the program: {e}"))?;
    let bytes = parse_hex(&text).ok_or("the program is not hex bytes")?;
    let insns = decode_program(&bytes).map_err(|e| e.to_string())?;
    if opts.verify {
        ofext_filter::verifier::verify(&insns, &[]).map_err(|e| e.to_string())?;
    }
    let mut env = RunEnv::new(0);
    if opts.jit {
        let jit = if opts.verify {
            JitProgram::new(&insns, vec![])
        } else {
            JitProgram::new_checked(&insns, vec![])
        };
        match jit {
            Ok(prog) => {
                return prog
                    .run(&mut opts.memory, &mut env)
                    .map_err(|e| e.to_string());
            }
            Err(JitError::NoJit) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let prog = Interpreter::new(&insns, vec![]).map_err(|e| e.to_string())?;
    prog.run(&mut opts.memory, &mut env)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(r0) => {
            println!("{r0:x}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex(""), Some(vec![]));
        assert_eq!(parse_hex("  "), Some(vec![]));
        assert_eq!(parse_hex("00  ff\n1A "), Some(vec![0, 0xff, 0x1a]));
        assert_eq!(parse_hex("b70000"), Some(vec![0xb7, 0, 0]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex("--verify"), None);
    }

    #[test]
    fn argument_parsing() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let o = parse_args(&s(&["01 02", ""])).unwrap();
        assert_eq!((o.memory, o.verify, o.jit), (vec![1, 2], false, false));
        let o = parse_args(&s(&["", "--jit --verify"])).unwrap();
        assert_eq!((o.memory, o.verify, o.jit), (vec![], true, true));
        let o = parse_args(&s(&["--verify"])).unwrap();
        assert!(o.verify && !o.jit && o.memory.is_empty());
        // The option anywhere: first, with or without memory.
        let o = parse_args(&s(&["--jit"])).unwrap();
        assert!(o.jit && !o.verify && o.memory.is_empty());
        let o = parse_args(&s(&["--jit", "aa bb"])).unwrap();
        assert!(o.jit);
        let o = parse_args(&s(&["0a", "--verify", "--jit"])).unwrap();
        assert_eq!((o.memory, o.verify, o.jit), (vec![10], true, true));
        assert!(parse_args(&s(&["aa", "--bogus"])).is_err());
    }
}
