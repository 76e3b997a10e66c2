//! A segment file's bytes: open (header, table, checksums, graph validation)
//! and read every document, search and filter.
//! The decoding lives in `vego::fuzzing::run_target`, which the corpus
//! replay test (`tests/fuzz_corpus.rs`) also runs, so CI needs no cargo-fuzz.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vego::fuzzing::run_target("segment", data);
});
