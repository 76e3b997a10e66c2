//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use vego::{CollectionConfig, Db, Distance, Options};

/// A list of vectors.
pub type Vectors = Vec<Vec<f32>>;

/// Seeded random numbers, so failures reproduce.
pub struct Rng(StdRng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(StdRng::seed_from_u64(seed))
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.gen_range(0..n)
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        self.0.gen_range(-1.0..1.0)
    }
}

/// A deterministic vector for `key`.
pub fn vector(key: u64, dim: usize) -> Vec<f32> {
    let mut r = Rng::new(key);
    (0..dim).map(|_| r.unit()).collect()
}

/// `n` vectors around `centres` cluster centres (realistic for embeddings).
pub fn clustered(n: usize, dim: usize, centres: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut r = Rng::new(seed);
    let cs: Vec<Vec<f32>> = (0..centres).map(|_| (0..dim).map(|_| r.unit() * 2.0).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &cs[r.below(centres as u64) as usize];
            c.iter().map(|x| x + r.unit() * 0.6).collect()
        })
        .collect()
}

/// `n` vectors shaped like text embeddings: clustered in a 12-dimensional
/// subspace mapped into `dim` dimensions, plus a little isotropic noise.
/// Real embeddings have an intrinsic dimension far below their width, which
/// is what graph indexes rely on; `clustered` is the hard, isotropic case.
/// Base and query sets made with different seeds share the subspace.
pub fn embedding_like(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    const RANK: usize = 12;
    const CENTRES: u64 = 50;
    let mut shared = Rng::new(0x5eed_ba5e);
    let basis: Vec<Vec<f32>> = (0..RANK).map(|_| (0..dim).map(|_| shared.unit()).collect()).collect();
    let centres: Vec<Vec<f32>> = (0..CENTRES).map(|_| (0..RANK).map(|_| shared.unit() * 2.0).collect()).collect();
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let c = &centres[r.below(CENTRES) as usize];
            let z: Vec<f32> = c.iter().map(|x| x + r.unit() * 0.6).collect();
            (0..dim).map(|j| (0..RANK).map(|k| z[k] * basis[k][j]).sum::<f32>() + r.unit() * 0.05).collect()
        })
        .collect()
}

/// The first `limit` rows of an `.fvecs` / `.ivecs` file (each row: u32
/// dimension, then that many 4-byte values); `None` if it cannot be read.
pub fn read_vecs<T>(path: &std::path::Path, conv: fn([u8; 4]) -> T, limit: usize) -> Option<Vec<Vec<T>>> {
    let bytes = std::fs::read(path).ok()?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() && out.len() < limit {
        let dim = u32::from_le_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let row = bytes.get(at + 4..at + 4 + 4 * dim)?;
        out.push(row.chunks_exact(4).map(|c| conv(c.try_into().unwrap())).collect());
        at += 4 + 4 * dim;
    }
    Some(out)
}

pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Exact distance as Vego reports it.
pub fn exact_distance(metric: Distance, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Distance::L2 => l2(a, b).sqrt(),
        Distance::Cosine => 1.0 - dot(a, b) / (norm(a) * norm(b)),
        Distance::InnerProduct => -dot(a, b),
    }
}

/// Indices of the k exact nearest neighbours.
pub fn brute_force(data: &[Vec<f32>], q: &[f32], k: usize, metric: Distance) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> =
        data.iter().enumerate().map(|(i, v)| (exact_distance(metric, q, v), i)).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

pub fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).expect("open")
}

pub fn small_config(dim: usize) -> CollectionConfig {
    CollectionConfig::new(dim)
}

/// Rows of a float16 `.npy` matrix (little-endian, C order) as f32.
pub fn read_npy_f16(path: &std::path::Path, rows: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    if !bytes.starts_with(b"\x93NUMPY") {
        return None;
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).ok()?;
    assert!(header.contains("'<f2'") && header.contains("'fortran_order': False"), "unexpected npy: {header}");
    let shape = header.split("'shape': (").nth(1)?.split(')').next()?;
    let dims: Vec<usize> = shape.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    let (n, d) = (dims[0], dims[1]);
    let data = &bytes[start + header_len..];
    Some(
        (0..rows.min(n))
            .map(|r| {
                (0..d)
                    .map(|c| f16_to_f32(u16::from_le_bytes([data[2 * (r * d + c)], data[2 * (r * d + c) + 1]])))
                    .collect()
            })
            .collect(),
    )
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Real all-MiniLM-L6-v2 embeddings from `../shared/datasets/minilm-dev`, if present:
/// (base rows, query rows).
pub fn minilm(base: usize, queries: usize) -> Option<(Vectors, Vectors)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/minilm-dev");
    Some((read_npy_f16(&dir.join("base.f16.npy"), base)?, read_npy_f16(&dir.join("query.f16.npy"), queries)?))
}
pub mod gate;
