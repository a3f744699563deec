//! Simulation benchmark (filled in below).
fn main() {}
