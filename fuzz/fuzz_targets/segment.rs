//! A segment file's bytes: open (header, table, checksums, graph validation)
//! and read every document, search and filter.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("00000000000000000001.vseg");
    std::fs::write(&path, data).expect("write");
    let _ = vego::fuzzing::read_segment(&path);
});
