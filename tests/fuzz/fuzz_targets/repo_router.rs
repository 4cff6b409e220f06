//! Fuzz target `repo_router`: see `cairn_tests::fuzz::repo_router` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::repo_router(data));
