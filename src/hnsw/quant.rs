//! Scalar quantization of graph vectors (the `Quantization::Int8` option).
//!
//! The graph walk computes thousands of distances per query, each over a
//! vector that is usually not in cache; at 384–768 dimensions the search is
//! bound by memory traffic, not arithmetic. A quantized graph walks over
//! compact records instead (one byte per dimension, a quarter of the f32
//! bytes) and re-scores only its final `ef` candidates with the full
//! vectors, so the answer's order and distances stay exact.
//!
//! # Record layout (`record_len(dim)` bytes per node, little endian)
//! | offset | type | content |
//! |---|---|---|
//! | 0 | f32 | `offset`: the vector's smallest component |
//! | 4 | f32 | `scale`: `(max − min) / 127` (0 for a constant vector) |
//! | 8 | f32 | `norm_sq`: the exact `‖x‖²` of the f32 vector |
//! | 12 | u32 | reserved, 0 |
//! | 16 | u8 × `code_len(dim)` | codes `c_i` in `0..=127`, zero-padded to a multiple of 32 |
//!
//! so `x_i ≈ offset + scale · c_i`. A query is quantized symmetrically,
//! `q_i ≈ q_scale · p_i` with `p_i` in `−127..=127`, and
//! `q·x ≈ offset · Σq + scale · q_scale · Σ p_i c_i`. The integer sum runs on
//! AVX2's `vpmaddubsw` (u8 × i8 products summed in pairs into i16): codes use
//! 7 bits so a pair sum is at most `2 · 127 · 127 = 32,258` and never
//! saturates the i16.

use std::sync::OnceLock;

use super::distance::Metric;

/// Largest code (7 bits; see the module docs for why not 8).
pub(crate) const CODE_MAX: u8 = 127;
/// Bytes before the codes in a record.
pub(crate) const RECORD_HEADER_BYTES: usize = 16;
/// Codes are padded to a multiple of this many bytes (one AVX2 register).
const CODE_ALIGN: usize = 32;

/// Code bytes per record for `dim` dimensions (padded).
pub(crate) fn code_len(dim: usize) -> usize {
    dim.div_ceil(CODE_ALIGN) * CODE_ALIGN
}

/// Bytes of one node's record.
pub(crate) fn record_len(dim: usize) -> usize {
    RECORD_HEADER_BYTES + code_len(dim)
}

/// Writes the record of `x` into `out` (`record_len(x.len())` bytes).
pub(crate) fn encode(x: &[f32], out: &mut [u8]) {
    assert_eq!(out.len(), record_len(x.len()), "quantized record has the wrong length");
    let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if x.is_empty() { (0.0, 0.0) } else { (lo, hi) };
    let scale = (hi - lo) / f32::from(CODE_MAX);
    let norm_sq: f32 = x.iter().map(|v| v * v).sum();
    out[0..4].copy_from_slice(&lo.to_le_bytes());
    out[4..8].copy_from_slice(&scale.to_le_bytes());
    out[8..12].copy_from_slice(&norm_sq.to_le_bytes());
    out[12..16].copy_from_slice(&0u32.to_le_bytes());
    let codes = &mut out[RECORD_HEADER_BYTES..];
    codes.fill(0);
    if scale > 0.0 && scale.is_finite() {
        let inv = 1.0 / scale;
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = ((v - lo) * inv).round().clamp(0.0, f32::from(CODE_MAX)) as u8;
        }
    }
}

/// The approximate vector a record stands for (tests and diagnostics).
#[cfg(test)]
pub(crate) fn decode(record: &[u8], dim: usize) -> Vec<f32> {
    let (offset, scale, _) = header(record);
    record[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + dim].iter().map(|&c| offset + scale * f32::from(c)).collect()
}

#[inline(always)]
fn header(record: &[u8]) -> (f32, f32, f32) {
    let f = |i: usize| f32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
    (f(0), f(4), f(8))
}

/// Standard deviations of the estimated inner product's error that
/// [`QuantQuery::distance_and_bound`] allows (the re-scoring of a quantized
/// search stops at nodes whose distance minus this bound is past the k-th
/// exact distance).
pub(crate) const ERROR_SIGMAS: f32 = 4.0;

/// `v` rounded to the nearest integer and clamped to `−127..=127`, without
/// a libm call (the baseline x86_64 target has no rounding instruction, so
/// `f32::round` is a function call there). Truncating `v ± 0.5` toward zero
/// is `f32::round` except within an ulp of a half, where either neighbour
/// is as good a code.
#[inline(always)]
fn round_to_i8(v: f32) -> i8 {
    let v = v.clamp(-127.0, 127.0);
    (v + 0.5f32.copysign(v)) as i8
}

/// `Σ c_i · p_i` over equal-length slices whose length is a multiple of 32.
pub(crate) type DotU8I8 = fn(&[u8], &[i8]) -> i32;

/// The fastest `DotU8I8` kernel for this CPU (chosen once).
fn dot_kernel() -> DotU8I8 {
    static KERNEL: OnceLock<DotU8I8> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var("VEGO_SIMD").as_deref() != Ok("scalar") && is_x86_feature_detected!("avx2") {
                return avx2::dot_u8_i8;
            }
        }
        dot_u8_i8_scalar
    })
}

/// Portable reference kernel.
pub(crate) fn dot_u8_i8_scalar(codes: &[u8], query: &[i8]) -> i32 {
    codes.iter().zip(query).map(|(&c, &p)| i32::from(c) * i32::from(p)).sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    pub(super) fn dot_u8_i8(codes: &[u8], query: &[i8]) -> i32 {
        assert!(codes.len() == query.len() && codes.len().is_multiple_of(32), "padded code lengths");
        // SAFETY: only chosen by `dot_kernel` after AVX2 was detected.
        unsafe { dot_avx2(codes, query) }
    }

    #[target_feature(enable = "avx2")]
    fn dot_avx2(codes: &[u8], query: &[i8]) -> i32 {
        let n = codes.len();
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_si256(); 2];
        let (pc, pq) = (codes.as_ptr(), query.as_ptr());
        let mut i = 0;
        while i + 64 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let o = i + 32 * j;
                // SAFETY: o + 32 <= i + 64 <= n, the length of both slices.
                let (c, q) = unsafe { (_mm256_loadu_si256(pc.add(o).cast()), _mm256_loadu_si256(pq.add(o).cast())) };
                // u8 × i8 products summed in pairs (no saturation: codes are
                // at most 127), then pairs of i16 into i32.
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(_mm256_maddubs_epi16(c, q), ones));
            }
            i += 64;
        }
        if i < n {
            // SAFETY: n is a multiple of 32, so exactly 32 bytes remain.
            let (c, q) = unsafe { (_mm256_loadu_si256(pc.add(i).cast()), _mm256_loadu_si256(pq.add(i).cast())) };
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(c, q), ones));
        }
        let v = _mm256_add_epi32(acc[0], acc[1]);
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

/// A query prepared for distances to records: reused across queries (its
/// buffer is part of the search scratch, so queries allocate nothing).
#[derive(Clone, Debug)]
pub(crate) struct QuantQuery {
    codes: Vec<i8>,
    scale: f32,
    sum: f32,
    norm_sq: f32,
    /// `√dim` of the prepared query.
    dim_sqrt: f32,
    metric: Metric,
    dot: DotU8I8,
}

impl Default for QuantQuery {
    fn default() -> Self {
        QuantQuery {
            codes: Vec::new(),
            scale: 0.0,
            sum: 0.0,
            norm_sq: 0.0,
            dim_sqrt: 0.0,
            metric: Metric::L2,
            dot: dot_kernel(),
        }
    }
}

impl QuantQuery {
    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.codes.capacity()
    }

    /// Quantizes `query` (as the graph compares it) for `metric`.
    pub(crate) fn prepare(&mut self, query: &[f32], metric: Metric) {
        let max = query.iter().fold(0f32, |m, v| m.max(v.abs()));
        self.scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 0.0 };
        self.codes.clear();
        self.codes.resize(code_len(query.len()), 0);
        if self.scale > 0.0 {
            let inv = 1.0 / self.scale;
            for (p, &v) in self.codes.iter_mut().zip(query) {
                *p = round_to_i8(v * inv);
            }
        }
        self.sum = query.iter().sum();
        self.norm_sq = query.iter().map(|v| v * v).sum();
        self.dim_sqrt = (query.len() as f32).sqrt();
        self.metric = metric;
    }

    /// [`QuantQuery::distance`] and a bound on its error: the exact
    /// distance lies within `± bound` with high probability (a rounding
    /// error is uniform within half a step, so the error of the inner
    /// product is a sum of independent terms with standard deviation
    /// `√(‖q‖² s_x² + ‖x − offset‖² s_q²) / √12`; the bound is
    /// [`ERROR_SIGMAS`] of those, `‖x − offset‖` bounded by
    /// `‖x‖ + |offset| √dim`).
    #[inline(always)]
    pub(crate) fn distance_and_bound(&self, record: &[u8]) -> (f32, f32) {
        let (offset, scale, norm_sq) = header(record);
        let shifted = norm_sq.sqrt() + offset.abs() * self.dim_sqrt;
        let var = self.norm_sq * scale * scale + shifted * shifted * self.scale * self.scale;
        let ip_bound = ERROR_SIGMAS * (var / 12.0).sqrt();
        let bound = if self.metric == Metric::L2 { 2.0 * ip_bound } else { ip_bound };
        (self.distance(record), bound)
    }

    /// Approximate distance (smaller is closer, as the graph's metric) to
    /// the vector `record` encodes.
    #[inline(always)]
    pub(crate) fn distance(&self, record: &[u8]) -> f32 {
        let (offset, scale, norm_sq) = header(record);
        let codes = &record[RECORD_HEADER_BYTES..];
        let ip = offset * self.sum + scale * self.scale * (self.dot)(codes, &self.codes) as f32;
        match self.metric {
            Metric::L2 => self.norm_sq + norm_sq - 2.0 * ip,
            Metric::Cosine => 1.0 - ip,
            Metric::InnerProduct => -ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_vec(state: &mut u64, n: usize, spread: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * spread
            })
            .collect()
    }

    #[test]
    fn simd_dot_equals_scalar_dot_for_every_padded_length() {
        let mut s = 7u64;
        for len in (32..=1120).step_by(32) {
            let codes: Vec<u8> = random_vec(&mut s, len, 1.0).iter().map(|v| ((v + 0.5) * 127.0) as u8).collect();
            let query: Vec<i8> = random_vec(&mut s, len, 2.0).iter().map(|v| (v * 127.0) as i8).collect();
            assert_eq!(dot_kernel()(&codes, &query), dot_u8_i8_scalar(&codes, &query), "len {len}");
        }
        // The extremes the 7-bit codes allow, where 8-bit codes would saturate.
        let codes = vec![CODE_MAX; 64];
        for p in [127i8, -127] {
            let query = vec![p; 64];
            assert_eq!(dot_kernel()(&codes, &query), 64 * 127 * i32::from(p));
        }
    }

    #[test]
    fn records_round_trip_within_half_a_step() {
        let mut s = 11u64;
        for dim in [1usize, 7, 32, 33, 384, 768] {
            let x = random_vec(&mut s, dim, 3.0);
            let mut rec = vec![0u8; record_len(dim)];
            encode(&x, &mut rec);
            let (_, scale, norm_sq) = header(&rec);
            assert!((norm_sq - x.iter().map(|v| v * v).sum::<f32>()).abs() < 1e-3);
            for (a, b) in decode(&rec, dim).iter().zip(&x) {
                assert!((a - b).abs() <= scale / 2.0 + 1e-5, "dim {dim}: {a} vs {b}");
            }
            assert!(rec[RECORD_HEADER_BYTES + dim..].iter().all(|&c| c == 0), "padding is zero");
        }
        let mut rec = vec![0u8; record_len(4)];
        encode(&[2.5; 4], &mut rec);
        assert_eq!(decode(&rec, 4), vec![2.5; 4], "a constant vector is exact");
    }

    #[test]
    fn approximate_distances_track_exact_ones() {
        let mut s = 5u64;
        let dim = 384;
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            let norm = |mut v: Vec<f32>| {
                if metric == Metric::Cosine {
                    super::super::distance::normalize(&mut v);
                }
                v
            };
            let q = norm(random_vec(&mut s, dim, 1.0));
            let mut prepared = QuantQuery::default();
            prepared.prepare(&q, metric);
            let mut worst = 0f32;
            let mut spread = 0f32;
            for _ in 0..200 {
                let x = norm(random_vec(&mut s, dim, 1.0));
                let mut rec = vec![0u8; record_len(dim)];
                encode(&x, &mut rec);
                let exact = super::super::distance::distance(metric, &q, &x);
                worst = worst.max((prepared.distance(&rec) - exact).abs());
                spread = spread.max(exact.abs());
            }
            assert!(worst <= 0.02 * spread.max(1.0), "{metric:?}: error {worst} against distances up to {spread}");
        }
    }

    #[test]
    fn fast_rounding_matches_round_away_from_halves() {
        let mut s = 3u64;
        for v in random_vec(&mut s, 20_000, 300.0).into_iter().chain([0.0, -0.0, 0.5, -0.5, 126.5, -127.6, 1e9, -1e9]) {
            let want = v.round().clamp(-127.0, 127.0);
            let got = f32::from(round_to_i8(v));
            let near_half = (v.abs().fract() - 0.5).abs() < 1e-4;
            assert!(got == want || (near_half && (got - want).abs() == 1.0), "{v}: {got} vs {want}");
        }
    }

    /// The bound of `distance_and_bound` covers the error of nearly every
    /// estimate (it is a 4-sigma bound of a sum of rounding errors).
    #[test]
    fn error_bounds_cover_the_estimates() {
        let mut s = 17u64;
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            for dim in [16usize, 384, 768] {
                let norm = |mut v: Vec<f32>| {
                    if metric == Metric::Cosine {
                        super::super::distance::normalize(&mut v);
                    }
                    v
                };
                let (mut outside, mut total) = (0, 0);
                for _ in 0..20 {
                    let q = norm(random_vec(&mut s, dim, 1.0));
                    let mut prepared = QuantQuery::default();
                    prepared.prepare(&q, metric);
                    for _ in 0..100 {
                        let x = norm(random_vec(&mut s, dim, 1.0));
                        let mut rec = vec![0u8; record_len(dim)];
                        encode(&x, &mut rec);
                        let (d, bound) = prepared.distance_and_bound(&rec);
                        assert_eq!(d, prepared.distance(&rec));
                        let exact = super::super::distance::distance(metric, &q, &x);
                        total += 1;
                        outside += usize::from((d - exact).abs() > bound);
                    }
                }
                assert!(outside * 1000 <= total, "{metric:?} dim {dim}: {outside} of {total} outside the bound");
            }
        }
    }
}
