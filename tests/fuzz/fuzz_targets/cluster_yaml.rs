//! Fuzz target `cluster_yaml`: see `cairn_tests::fuzz::cluster_yaml` for what it drives and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_tests::fuzz::cluster_yaml(data));
