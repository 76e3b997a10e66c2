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
//! A kernel set for the running CPU is picked once at run time (AVX2+FMA on
//! x86_64 when the CPU has it, else AVX-512F, else portable scalar code;
//! `VEGO_SIMD=avx512` prefers AVX-512) and cached.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
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
pub type DistanceFn = fn(&[f32], &[f32]) -> f32;

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
        // `VEGO_SIMD=avx512|avx2|scalar` overrides the choice (for
        // measurements); an unsupported choice falls back to the default.
        let wanted = std::env::var("VEGO_SIMD").unwrap_or_default();
        if wanted == "scalar" {
            return scalar::KERNELS;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let chosen = if wanted == "avx512" {
                avx512::kernels().or_else(avx2::kernels)
            } else {
                // AVX2+FMA first: on the CPUs measured (docs/TUNING.md) the
                // AVX-512 kernels are no faster at 384 and 768 dimensions
                // and the search is bound by memory latency anyway.
                avx2::kernels().or_else(avx512::kernels)
            };
            if let Some(k) = chosen {
                return k;
            }
        }
        scalar::KERNELS
    })
}

/// The fastest kernel for `metric` on this CPU. The index stores the returned
/// pointer so its hot loop skips even the `OnceLock` check.
pub(crate) fn distance_fn(metric: Metric) -> DistanceFn {
    kernels().for_metric(metric)
}

/// The fastest plain dot product on this CPU (`dot(a, b)`, not a distance).
pub(crate) fn dot_fn() -> DistanceFn {
    kernels().dot
}

/// Every kernel set this CPU can run, as `(name, squared L2, dot)`, slowest
/// first: `scalar`, then `avx2` and `avx512` when present (for benchmarks
/// and comparisons; searches use the last one).
pub fn kernel_sets() -> Vec<(&'static str, DistanceFn, DistanceFn)> {
    #[allow(unused_mut)]
    let mut sets: Vec<(&'static str, DistanceFn, DistanceFn)> =
        vec![("scalar", scalar::KERNELS.l2, scalar::KERNELS.dot)];
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(k) = avx2::kernels() {
            sets.push(("avx2", k.l2, k.dot));
        }
        if let Some(k) = avx512::kernels() {
            sets.push(("avx512", k.l2, k.dot));
        }
    }
    sets
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

/// Hints the CPU to start loading `lines` cache lines (0 = all) of the
/// `len` floats at `ptr`. The graph walk knows which vectors it will compare
/// next well before it compares them; issuing their loads early overlaps the
/// cache misses that dominate search time.
#[inline(always)]
pub(crate) fn prefetch_ptr(ptr: *const f32, len: usize, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // 64-byte cache lines hold 16 floats.
        let total = len.div_ceil(16);
        let n = if lines == 0 { total } else { lines.min(total) };
        for i in 0..n {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU
            // has; a prefetch is a hint that never faults or reads into Rust
            // values. `wrapping_add` keeps the address computation defined
            // even though it stays inside the slice anyway (i < total lines).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(16 * i).cast()) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len, lines);
}

/// Scales `v` to unit Euclidean length in place, as [`Metric::Cosine`]
/// expects. A zero (or non-finite) vector is left unchanged because it has no
/// direction to preserve.
pub fn normalize(v: &mut [f32]) {
    let inv = inv_norm(v);
    if inv != 1.0 {
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// The factor [`normalize`] multiplies `v` by: `1 / |v|`, or 1 for a zero
/// or non-finite vector. A segment stores it beside the vector as written,
/// so the unit vector is exactly `v[i] * inv_norm(v)`.
pub fn inv_norm(v: &[f32]) -> f32 {
    let norm = (kernels().dot)(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        1.0 / norm
    } else {
        1.0
    }
}

/// Shared helpers of the SIMD-versus-scalar tests.
#[cfg(test)]
mod test_support {
    /// Deterministic values in [-2, 2) so failures reproduce.
    pub(super) fn random_vec(state: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// Both kernels sum the same terms in different orders; each order is
    /// within `n * eps * sum(|term|)` of the exact sum, hence twice that apart.
    pub(super) fn assert_close(simd: f32, reference: f32, abs_terms: f32, n: usize, what: &str) {
        let tol = 2.0 * n as f32 * f32::EPSILON * abs_terms + 1e-6;
        assert!((simd - reference).abs() <= tol, "{what} len {n}: simd {simd} vs scalar {reference} (tol {tol})");
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
