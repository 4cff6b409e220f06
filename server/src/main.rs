//! `cairn`: the one binary. Parses the command line and hands off to the engine.
fn main() {}
