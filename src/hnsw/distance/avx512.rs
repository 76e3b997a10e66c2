//! AVX-512F kernels for x86_64.
//!
//! The `#[target_feature]` functions may only run on CPUs with AVX-512F. They
//! are reachable solely through [`kernels`], which checks for it first, so
//! the safe wrappers below can never run on an older CPU. Tails shorter than
//! a register are handled with masked loads, which never touch the lanes
//! they mask off, so no scalar remainder loop is needed.

use super::Kernels;
use std::arch::x86_64::*;

/// The AVX-512 kernel set, or `None` when the CPU lacks AVX-512F.
pub(super) fn kernels() -> Option<Kernels> {
    if is_x86_feature_detected!("avx512f") {
        Some(Kernels { l2, inner_product, cosine, dot })
    } else {
        None
    }
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only handed out by `kernels()` after AVX-512F was detected.
    unsafe { dot_avx512(a, b) }
}

pub(super) fn l2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only handed out by `kernels()` after AVX-512F was detected.
    unsafe { l2_avx512(a, b) }
}

fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    -dot(a, b)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

/// Loads of `a[i..i + 16]` and `b[i..i + 16]`, lanes at or past `n` zeroed.
///
/// # Safety
/// `i < n`, `n <= a.len()`, `n <= b.len()`, and the CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_tail(a: *const f32, b: *const f32, i: usize, n: usize) -> (__m512, __m512) {
    let mask: __mmask16 = ((1u32 << (n - i).min(16)) - 1) as __mmask16;
    // SAFETY: the mask enables only lanes i..n, which lie inside both slices
    // (caller's contract); masked-off lanes are neither read nor faulted on.
    unsafe { (_mm512_maskz_loadu_ps(mask, a.add(i)), _mm512_maskz_loadu_ps(mask, b.add(i))) }
}

/// Dot product over the common prefix of `a` and `b`.
///
/// Four accumulators (64 floats per iteration) hide the FMA latency.
#[target_feature(enable = "avx512f")]
fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let o = i + 16 * j;
            // SAFETY: o + 16 <= i + 64 <= n, and n is at most the length of
            // either slice, so both 16-float unaligned loads stay in bounds.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(o)), _mm512_loadu_ps(pb.add(o))) };
            *acc = _mm512_fmadd_ps(x, y, *acc);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, which bounds both slices.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
        i += 16;
    }
    if i < n {
        // SAFETY: i < n <= both lengths, and AVX-512F is enabled here.
        let (x, y) = unsafe { load_tail(pa, pb, i, n) };
        acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
#[target_feature(enable = "avx512f")]
fn l2_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let o = i + 16 * j;
            // SAFETY: o + 16 <= i + 64 <= n, and n is at most the length of
            // either slice, so both 16-float unaligned loads stay in bounds.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(o)), _mm512_loadu_ps(pb.add(o))) };
            let d = _mm512_sub_ps(x, y);
            *acc = _mm512_fmadd_ps(d, d, *acc);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, which bounds both slices.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        let d = _mm512_sub_ps(x, y);
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
        i += 16;
    }
    if i < n {
        // SAFETY: i < n <= both lengths, and AVX-512F is enabled here.
        let (x, y) = unsafe { load_tail(pa, pb, i, n) };
        let d = _mm512_sub_ps(x, y);
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
}

#[cfg(test)]
mod tests {
    use super::super::scalar;
    use super::super::test_support::{assert_close, random_vec};
    use super::*;

    #[test]
    fn avx512_matches_scalar_for_every_length() {
        let Some(k) = kernels() else {
            eprintln!("CPU lacks AVX-512F; nothing to compare");
            return;
        };
        let mut state = 7;
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
    fn avx512_reads_only_the_common_prefix() {
        let Some(k) = kernels() else { return };
        for len in [0usize, 1, 15, 16, 17, 37, 63, 64, 65, 100] {
            let a: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let b = vec![1.0f32; len + 40];
            assert_eq!((k.dot)(&a, &b), (0..len).sum::<usize>() as f32, "len {len}");
            assert_eq!((k.l2)(&a[..0], &b), 0.0);
        }
    }

    #[test]
    fn avx512_tails_at_the_end_of_an_allocation() {
        // Masked tail loads right up to the last element of a boxed slice
        // (Miri / ASan would flag any read past it).
        let Some(k) = kernels() else { return };
        for n in 1..=40 {
            let a: Box<[f32]> = vec![2.0; n].into_boxed_slice();
            let b: Box<[f32]> = vec![3.0; n].into_boxed_slice();
            assert_eq!((k.dot)(&a, &b), 6.0 * n as f32);
            assert_eq!((k.l2)(&a, &b), n as f32);
        }
    }
}
