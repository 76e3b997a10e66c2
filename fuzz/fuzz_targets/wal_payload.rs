//! The `vego` crate's WAL payload (an atomic batch of writes).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vego::fuzzing::decode_wal_payload(data);
});
