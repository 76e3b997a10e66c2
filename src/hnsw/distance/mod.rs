//! Distance functions and run-time kernel selection.
//!
//! Every metric is expressed as "smaller is closer" so the graph code never
//! needs to know which metric it is using:
//!
//! * [`Metric::L2`]: squared Euclidean distance (the square root is monotone,
//!   so skipping it changes no ranking and saves work on the hot path).
//! * [`Metric::InnerProduct`]: negated dot product.
//! * [`Metric::Cosine`]: `1 - dot`; the caller passes unit-length vectors
//!   (see [`normalize`]), which turns cosine into a plain dot product.
//!
//! The fastest kernel set for the running CPU is picked once (AVX2+FMA on
//! x86_64 when the CPU has it, portable scalar code otherwise) and cached.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

use std::sync::OnceLock;

/// How two vectors are compared. All variants yield "smaller is closer".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Negated inner product (`-dot(a, b)`).
    InnerProduct,
    /// Cosine distance `1 - dot(a, b)`; inputs must already be unit length.
    Cosine,
}

/// Signature shared by every distance kernel.
pub(crate) type DistanceFn = fn(&[f32], &[f32]) -> f32;

/// One implementation of each metric, all for the same instruction set.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub(crate) l2: DistanceFn,
    pub(crate) inner_product: DistanceFn,
    pub(crate) cosine: DistanceFn,
    pub(crate) dot: DistanceFn,
}

impl Kernels {
    fn for_metric(&self, metric: Metric) -> DistanceFn {
        match metric {
            Metric::L2 => self.l2,
            Metric::InnerProduct => self.inner_product,
            Metric::Cosine => self.cosine,
        }
    }
}

/// Detected once: feature detection is cheap but not free, and the answer
/// cannot change while the process runs.
static KERNELS: OnceLock<Kernels> = OnceLock::new();

fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = avx2::kernels() {
            return k;
        }
        scalar::KERNELS
    })
}

/// The fastest kernel for `metric` on this CPU. The index stores the returned
/// pointer so its hot loop skips even the `OnceLock` check.
pub(crate) fn distance_fn(metric: Metric) -> DistanceFn {
    kernels().for_metric(metric)
}

/// Distance between `a` and `b` under `metric`, using the fastest kernel the
/// CPU supports.
///
/// # Panics
/// If `a` and `b` have different lengths.
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "distance: vectors differ in length");
    distance_fn(metric)(a, b)
}

/// Hints the CPU to start loading the cache line holding `value`.
#[inline(always)]
pub(crate) fn prefetch_value<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: as in `prefetch`: SSE is baseline on x86_64 and a prefetch
        // never faults; the address is that of a live reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Hints the CPU to start loading `v` into cache. The graph walk knows
/// which vectors it will compare next well before it compares them; issuing
/// their loads early overlaps the cache misses that dominate search time.
#[inline(always)]
pub(crate) fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // 64-byte cache lines hold 16 floats.
        for line in v.chunks(16).take(PREFETCH_LINES) {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU
            // has; a prefetch is a hint that never faults or reads into Rust
            // values, and the address is inside a live slice anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Cache lines of each vector to prefetch; later lines are picked up by the
/// hardware's sequential prefetcher once the kernel starts streaming.
const PREFETCH_LINES: usize = 1;

/// Scales `v` to unit Euclidean length in place, as [`Metric::Cosine`]
/// expects. A zero (or non-finite) vector is left unchanged because it has no
/// direction to preserve.
pub fn normalize(v: &mut [f32]) {
    let norm = (kernels().dot)(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_their_definitions() {
        let a = [1.0, 2.0, 3.0];
        let b = [4.0, -5.0, 6.0];
        assert_eq!(distance(Metric::L2, &a, &b), 9.0 + 49.0 + 9.0);
        assert_eq!(distance(Metric::InnerProduct, &a, &b), -(4.0 - 10.0 + 18.0));
        let mut x = [3.0, 4.0];
        normalize(&mut x);
        assert!((x[0] - 0.6).abs() < 1e-6 && (x[1] - 0.8).abs() < 1e-6);
        assert!(distance(Metric::Cosine, &x, &x).abs() < 1e-6);
        let mut zero = [0.0f32; 4];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn mismatched_lengths_panic() {
        distance(Metric::L2, &[1.0], &[1.0, 2.0]);
    }
}
