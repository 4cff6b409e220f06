//! The library face of `cairn`: only what harnesses outside this package drive in-process.
//!
//! The binary (`main.rs`) is the product; this library exists so that the fuzz targets in
//! `tests/fuzz/` can drive `cairn serve`'s router (`serve::routes::router`) and its path
//! parsers without a socket, on the very code the binary runs (`main.rs` uses this module
//! rather than compiling its own copy). Must not: grow into a general API; a module moves here
//! only when a harness needs it, and it must keep depending on nothing else of the binary.

pub mod serve;
