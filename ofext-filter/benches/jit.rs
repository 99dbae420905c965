//! JIT benchmarks (being written).
fn main() {}
