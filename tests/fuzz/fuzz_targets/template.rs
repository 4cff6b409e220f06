//! Fuzz target `template`: see `cairn_tests::fuzz::template` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::template(data));
