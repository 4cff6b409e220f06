//! Fuzz target `playbook`: see `cairn_tests::fuzz::playbook` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::playbook(data));
