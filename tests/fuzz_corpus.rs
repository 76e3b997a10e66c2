//! Replays every fuzz target's checked-in corpus (`fuzz/corpus/<target>/*`)
//! through the same entry point `cargo fuzz` runs, so CI catches a decoder
//! that panics on a known input without installing cargo-fuzz.

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

#[test]
fn every_fuzz_target_is_known_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
    let declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"'))
        .filter(|n| *n != "vego-fuzz")
        .collect();
    assert_eq!(declared, vego::fuzzing::TARGETS, "fuzz/Cargo.toml and vego::fuzzing::TARGETS differ");
    for t in vego::fuzzing::TARGETS {
        let n = std::fs::read_dir(corpus_dir(t)).map(|d| d.count()).unwrap_or(0);
        assert!(n > 0, "fuzz/corpus/{t} is empty or missing");
    }
}

#[test]
fn checked_in_corpora_replay_without_panics() {
    let mut inputs = 0;
    for t in vego::fuzzing::TARGETS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(t)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            assert!(vego::fuzzing::run_target(t, &data), "unknown target {t}");
            inputs += 1;
        }
    }
    assert!(inputs >= vego::fuzzing::TARGETS.len());
}

#[test]
fn value_seeds_decode_and_truncations_do_not_panic() {
    for seed in vego::fuzzing::value_seeds() {
        for cut in 0..=seed.len() {
            vego::fuzzing::decode_values(&seed[..cut]);
        }
    }
}

/// Writes the seeds of the `values` target to `fuzz/corpus/values`
/// (run with `--ignored` after changing the encodings).
#[test]
#[ignore]
fn write_value_seeds() {
    let dir = corpus_dir("values");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in vego::fuzzing::value_seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
    }
}
