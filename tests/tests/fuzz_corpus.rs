//! The fuzz corpora as plain tests: every file of `tests/fuzz/corpus/TARGET/` (the inputs
//! libFuzzer kept, seeded from the repository's real playbooks, inventories, specs and
//! bundles) and of `tests/fuzz/regressions/TARGET/` (inputs that once crashed or hung, each
//! fixed in the product) goes once through the same entry point as the fuzz target
//! (`cairn_tests::fuzz`). Deterministic and quick; no lab, no libFuzzer. This is what CI runs;
//! `scripts/fuzz` explores further (docs/fuzzing.md).
//!
//! `FUZZ_TARGET=NAME` replays one target only (`scripts/fuzz replay NAME`).

use cairn_tests::fuzz;
use std::path::Path;
use std::time::{Duration, Instant};

type Entry = fn(&[u8]);

const TARGETS: &[(&str, Entry)] = &[
    ("playbook", fuzz::playbook),
    ("cluster_yaml", fuzz::cluster_yaml),
    ("inventory_ini", fuzz::inventory_ini),
    ("template", fuzz::template),
    ("bundle_manifest", fuzz::bundle_manifest),
    ("bundle_tar", fuzz::bundle_tar),
    ("registry_router", fuzz::registry_router),
    ("repo_router", fuzz::repo_router),
];

/// One input may take this long before it counts as a hang (libFuzzer's own limit in
/// `scripts/fuzz` is 10 s; a debug build is slower).
const SLOW: Duration = Duration::from_secs(30);

fn replay(target: &str, entry: Entry) -> usize {
    let base = cairn_tests::repo_root().join("tests/fuzz");
    let mut n = 0;
    for sub in ["corpus", "regressions"] {
        let dir = base.join(sub).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            if !f.is_file() {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            let t0 = Instant::now();
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} panicked (see above)",
                shown(&f)
            );
            assert!(
                t0.elapsed() < SLOW,
                "{target}: {} took {:?}",
                shown(&f),
                t0.elapsed()
            );
            n += 1;
        }
    }
    n
}

fn shown(p: &Path) -> String {
    p.strip_prefix(cairn_tests::repo_root())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn every_corpus_input_is_handled_without_panic() {
    let only = std::env::var("FUZZ_TARGET").ok();
    let mut total = 0;
    for (name, entry) in TARGETS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let n = replay(name, *entry);
        eprintln!("{name}: {n} inputs");
        // A target without inputs would make this test pass vacuously.
        assert!(n > 0, "{name}: no corpus under tests/fuzz/corpus/{name}");
        total += n;
    }
    assert!(total > 0);
}

/// The fuzz targets' list and this one agree (a target added to tests/fuzz/Cargo.toml must be
/// replayed here too).
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest =
        std::fs::read_to_string(cairn_tests::repo_root().join("tests/fuzz/Cargo.toml")).unwrap();
    let declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "cairn-fuzz")
        .collect();
    let replayed: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(declared, replayed);
}
