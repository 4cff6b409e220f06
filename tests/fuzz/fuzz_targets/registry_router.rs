//! Fuzz target `registry_router`: see `cairn_tests::fuzz::registry_router` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::registry_router(data));
