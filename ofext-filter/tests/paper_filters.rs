//! The paper's three filter programs (controller-examples/filters/*.c).

use ofext_filter::{elf, verifier};

fn object(name: &str) -> elf::Object {
    let path = format!(
        "{}/../controller-examples/filters/{name}.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    elf::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

#[test]
fn objects_verify() {
    for name in ["conntrack", "p0f", "ratelimit"] {
        let obj = object(name);
        match verifier::verify(&obj.insns, &obj.maps) {
            Ok(info) => println!("{name}: n_insns {} max executed {}", info.n_insns, info.max_insns_executed),
            Err(e) => println!("{name}: {e} / {e:?}"),
        }
    }
}
