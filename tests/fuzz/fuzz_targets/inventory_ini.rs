//! Fuzz target `inventory_ini`: see `cairn_tests::fuzz::inventory_ini` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::inventory_ini(data));
