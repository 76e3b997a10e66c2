//! A WAL file's bytes, scanned as the last (torn tail allowed) or a sealed file.
//! The decoding lives in `vego::fuzzing::run_target`, which the corpus
//! replay test (`tests/fuzz_corpus.rs`) also runs, so CI needs no cargo-fuzz.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vego::fuzzing::run_target("wal_file", data);
});
