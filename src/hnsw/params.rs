//! Build parameters and the constants derived from them.

/// Tuning knobs fixed when the index is created.
#[derive(Clone, Copy, Debug)]
pub struct HnswParams {
    /// Neighbours kept per node on layers above 0 (layer 0 keeps `2 * m`).
    /// Larger values raise recall and memory use. Must be at least 2.
    pub m: usize,
    /// Beam width while inserting. Larger values build a better graph more
    /// slowly. Values below `m` are raised to `m`.
    pub ef_construction: usize,
    /// Seed for level assignment; the same seed and insert order give the
    /// same levels, which makes builds reproducible.
    pub seed: u64,
    /// Keep a quantized record per node and walk the graph on those,
    /// re-scoring the final candidates with the full vectors (`quant.rs`).
    pub quantize: bool,
}

impl Default for HnswParams {
    /// The widely used `M = 16, ef_construction = 200` setting.
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 200, seed: 0x5EED_0F4E_5F00, quantize: false }
    }
}

/// Highest layer a node can be assigned. With `m >= 2` the chance of even
/// reaching it is below 2^-31 per node; the cap only keeps link arrays and the
/// packed entry-point word bounded.
pub(crate) const MAX_LEVEL: usize = 31;

impl HnswParams {
    /// Link capacity on layer 0: twice `m`, as in the paper and hnswlib,
    /// because the bottom layer carries all the fine-grained navigation.
    pub(crate) fn m0(&self) -> usize {
        2 * self.m
    }

    /// Beam width for inserts, never narrower than the links it must yield.
    pub(crate) fn ef_construction(&self) -> usize {
        self.ef_construction.max(self.m)
    }

    /// Level of node `id`: `floor(-ln(U) / ln(m))` with `U` uniform in (0, 1],
    /// drawn from a generator seeded by `seed ^ id` so each insert gets its
    /// own stream without any shared RNG state between threads.
    pub(crate) fn random_level(&self, id: u32) -> usize {
        let bits = splitmix64(self.seed ^ u64::from(id));
        // 53 random bits -> uniform in [0, 1); 1 - u is then in (0, 1].
        let u = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let level = -(1.0 - u).ln() / (self.m as f64).ln();
        (level as usize).min(MAX_LEVEL)
    }
}

/// Sebastiano Vigna's SplitMix64 finaliser: a cheap, well-mixed hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_distribution_is_geometric_with_ratio_one_over_m() {
        let p = HnswParams::default();
        let n = 200_000u32;
        let above0 = (0..n).filter(|&i| p.random_level(i) >= 1).count() as f64;
        let above1 = (0..n).filter(|&i| p.random_level(i) >= 2).count() as f64;
        // Expected fractions 1/16 and 1/256.
        assert!((above0 / n as f64 - 1.0 / 16.0).abs() < 0.005, "{above0}");
        assert!((above1 / n as f64 - 1.0 / 256.0).abs() < 0.001, "{above1}");
        assert_eq!(p.random_level(7), p.random_level(7));
    }
}
