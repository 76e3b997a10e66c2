//! Whole-index tests: recall against brute force, concurrency, filtering,
//! and `#[ignore]`d benchmarks (`cargo test --release -- --ignored
//! --nocapture bench_`).

mod basics;
mod bench;
mod concurrent;
mod data;
mod filter;
mod recall;
