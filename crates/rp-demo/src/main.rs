//! The rp-demo binary.
fn main() {}
