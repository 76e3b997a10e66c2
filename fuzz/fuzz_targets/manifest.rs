//! A manifest file's bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vego_manifest::decode(std::path::Path::new("MANIFEST-fuzz"), data);
});
