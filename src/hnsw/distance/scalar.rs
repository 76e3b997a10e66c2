//! Portable kernels. Eight independent accumulators break the floating-point
//! dependency chain so LLVM can vectorise the loop with whatever SIMD the
//! baseline target offers (SSE2 on x86_64, NEON on aarch64).

use super::Kernels;

/// Lanes accumulated independently; matches one AVX register of f32.
const LANES: usize = 8;

/// Scalar kernel set, used when no faster one is available.
pub(super) const KERNELS: Kernels = Kernels { l2, inner_product, cosine, dot };

/// Dot product over the common prefix of `a` and `b`.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
pub(super) fn l2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    -dot(a, b)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_matches_f64_reference() {
        for n in 0..=70 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let d: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let l: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            assert!((dot(&a, &b) as f64 - d).abs() < 1e-4, "dot len {n}");
            assert!((l2(&a, &b) as f64 - l).abs() < 1e-4, "l2 len {n}");
        }
    }
}
