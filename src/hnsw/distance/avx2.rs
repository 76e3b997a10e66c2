//! AVX2 + FMA kernels for x86_64.
//!
//! The `#[target_feature]` functions may only run on CPUs that have both
//! features. They are reachable solely through [`kernels`], which checks for
//! them first, so the safe wrappers below can never run on an older CPU.

use super::Kernels;
use std::arch::x86_64::*;

/// The AVX2+FMA kernel set, or `None` when the CPU lacks either feature.
pub(super) fn kernels() -> Option<Kernels> {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Some(Kernels { l2, inner_product, cosine, dot })
    } else {
        None
    }
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only handed out by `kernels()` after AVX2 and FMA were detected.
    unsafe { dot_avx2(a, b) }
}

pub(super) fn l2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only handed out by `kernels()` after AVX2 and FMA were detected.
    unsafe { l2_avx2(a, b) }
}

fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    -dot(a, b)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

/// Sum of the eight lanes of `v`.
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s4 = _mm_add_ps(lo, hi);
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    _mm_cvtss_f32(s1)
}

/// Dot product over the common prefix of `a` and `b`.
///
/// Four accumulators (32 floats per iteration) hide the 4-cycle FMA latency.
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let o = i + 8 * j;
            // SAFETY: o + 8 <= i + 32 <= n, and n is at most the length of
            // either slice, so both 8-float unaligned loads stay in bounds.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o))) };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, which bounds both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut sum = horizontal_sum(v);
    for k in i..n {
        sum += a[k] * b[k];
    }
    sum
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
#[target_feature(enable = "avx2,fma")]
fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let o = i + 8 * j;
            // SAFETY: o + 8 <= i + 32 <= n, and n is at most the length of
            // either slice, so both 8-float unaligned loads stay in bounds.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o))) };
            let d = _mm256_sub_ps(x, y);
            *acc = _mm256_fmadd_ps(d, d, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, which bounds both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        let d = _mm256_sub_ps(x, y);
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut sum = horizontal_sum(v);
    for k in i..n {
        let d = a[k] - b[k];
        sum += d * d;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::super::scalar;
    use super::super::test_support::{assert_close, random_vec};
    use super::*;

    #[test]
    fn avx2_matches_scalar_for_every_length() {
        let Some(k) = kernels() else {
            eprintln!("CPU lacks AVX2/FMA; nothing to compare");
            return;
        };
        let mut state = 42;
        for n in 1..=1100 {
            let a = random_vec(&mut state, n);
            let b = random_vec(&mut state, n);
            let abs_dot: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            let l2_ref = scalar::l2(&a, &b);
            assert_close((k.dot)(&a, &b), scalar::dot(&a, &b), abs_dot, n, "dot");
            assert_close((k.l2)(&a, &b), l2_ref, l2_ref, n, "l2");
            assert_close((k.inner_product)(&a, &b), -scalar::dot(&a, &b), abs_dot, n, "ip");
            assert_close((k.cosine)(&a, &b), 1.0 - scalar::dot(&a, &b), abs_dot, n, "cosine");
        }
    }

    #[test]
    fn avx2_reads_only_the_common_prefix() {
        let Some(k) = kernels() else { return };
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let b = vec![1.0f32; 40];
        assert_eq!((k.dot)(&a, &b), (0..37).sum::<i32>() as f32);
    }
}
