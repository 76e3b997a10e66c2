//! Distance kernels (squared L2 and dot) of every kernel set this CPU runs
//! (scalar, AVX2+FMA, AVX-512F) at dimensions 128, 384 and 768.
//!
//! `cargo bench --bench distance`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vego::internals::kernel_sets;

fn vectors(dim: usize, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let f = |i: usize, s: u32| ((i as u32).wrapping_mul(2654435761).wrapping_add(s) % 1000) as f32 / 500.0 - 1.0;
    ((0..dim).map(|i| f(i, seed)).collect(), (0..dim).map(|i| f(i, seed + 17)).collect())
}

fn kernels(c: &mut Criterion) {
    for dim in [128usize, 384, 768] {
        let (a, b) = vectors(dim, 1);
        let mut group = c.benchmark_group(format!("distance/{dim}"));
        group.throughput(Throughput::Elements(dim as u64));
        for (name, l2, dot) in kernel_sets() {
            group.bench_with_input(BenchmarkId::new("l2", name), &dim, |bench, _| {
                bench.iter(|| l2(black_box(&a), black_box(&b)))
            });
            group.bench_with_input(BenchmarkId::new("dot", name), &dim, |bench, _| {
                bench.iter(|| dot(black_box(&a), black_box(&b)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
