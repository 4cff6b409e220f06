//! Fuzz target `bundle_tar`: see `cairn_tests::fuzz::bundle_tar` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::bundle_tar(data));
