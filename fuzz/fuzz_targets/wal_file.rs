//! A WAL file's bytes, scanned as the last (torn tail allowed) or a sealed file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vego_wal::{scan_file_bytes, FileRole};

fuzz_target!(|data: &[u8]| {
    let Some((&role, bytes)) = data.split_first() else { return };
    let role = if role & 1 == 0 { FileRole::Last } else { FileRole::Sealed };
    let _ = scan_file_bytes(bytes, role, None);
});
