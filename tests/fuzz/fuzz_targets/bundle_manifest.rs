//! Fuzz target `bundle_manifest`: see `cairn_tests::fuzz::bundle_manifest` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::bundle_manifest(data));
