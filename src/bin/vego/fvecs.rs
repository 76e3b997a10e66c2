//! Readers for the classic ANN dataset formats (`.fvecs`, `.ivecs`): each
//! row is a little-endian `i32` dimension followed by that many 4-byte
//! little-endian values (`f32` or `i32`).

use std::path::Path;

/// Rows of one dimension, stored row-major in one allocation.
pub struct Matrix<T> {
    pub dim: usize,
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Reads an `.fvecs` file.
pub fn read_fvecs(path: &Path, limit: Option<usize>) -> Result<Matrix<f32>, String> {
    read(path, limit, f32::from_le_bytes)
}

/// Reads an `.ivecs` file.
pub fn read_ivecs(path: &Path, limit: Option<usize>) -> Result<Matrix<i32>, String> {
    read(path, limit, i32::from_le_bytes)
}

fn read<T>(path: &Path, limit: Option<usize>, conv: fn([u8; 4]) -> T) -> Result<Matrix<T>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes, limit, conv).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the rows of `bytes` (at most `limit` of them); every row must have
/// the first row's dimension.
pub fn parse<T>(bytes: &[u8], limit: Option<usize>, conv: fn([u8; 4]) -> T) -> Result<Matrix<T>, String> {
    let word = |at: usize| -> [u8; 4] { bytes[at..at + 4].try_into().expect("4 bytes") };
    if bytes.len() < 4 {
        return Err("empty file".into());
    }
    let dim = i32::from_le_bytes(word(0));
    if dim <= 0 {
        return Err(format!("bad dimension {dim} in the first row"));
    }
    let dim = dim as usize;
    let row_bytes = 4 * (dim + 1);
    if !bytes.len().is_multiple_of(row_bytes) {
        return Err(format!("{} bytes is not a whole number of {dim}-dimensional rows", bytes.len()));
    }
    let rows = (bytes.len() / row_bytes).min(limit.unwrap_or(usize::MAX));
    let mut data = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let at = r * row_bytes;
        let d = i32::from_le_bytes(word(at));
        if d as usize != dim {
            return Err(format!("row {r} has dimension {d}, expected {dim}"));
        }
        data.extend((0..dim).map(|i| conv(word(at + 4 + 4 * i))));
    }
    Ok(Matrix { dim, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(rows: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for x in *r {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn parses_rows_and_limits() {
        let bytes = encode(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        let m = parse(&bytes, None, f32::from_le_bytes).unwrap();
        assert_eq!((m.dim, m.rows()), (2, 3));
        assert_eq!(m.row(1), [3.0, 4.0]);
        assert_eq!(parse(&bytes, Some(2), f32::from_le_bytes).unwrap().rows(), 2);
    }

    #[test]
    fn rejects_malformed_files() {
        assert!(parse(&[], None, f32::from_le_bytes).is_err());
        assert!(parse(&encode(&[&[]]), None, f32::from_le_bytes).is_err());
        let mut bytes = encode(&[&[1.0, 2.0]]);
        bytes.pop();
        assert!(parse(&bytes, None, f32::from_le_bytes).is_err());
        let mixed = [encode(&[&[1.0, 2.0, 3.0]]), encode(&[&[1.0], &[2.0], &[3.0]])].concat();
        assert!(parse(&mixed, None, f32::from_le_bytes).is_err());
    }
}
