//! Bitmaps and fixed-width bit packing (LSB first).

/// Bytes needed for `bits` bits.
pub(crate) fn bytes_for_bits(bits: u64) -> u64 {
    bits.div_ceil(8)
}

/// Builds a bitmap with bit `i` set iff `f(i)`.
pub(crate) fn bitmap_from(n: usize, f: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut out = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        if f(i) {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// Bit `i` of `bitmap` (caller checked bounds).
pub(crate) fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap[i / 8] & (1 << (i % 8)) != 0
}

/// Number of set bits among the first `n` bits.
pub(crate) fn rank(bitmap: &[u8], n: usize) -> usize {
    let full = n / 8;
    let mut c: usize = bitmap[..full].iter().map(|b| b.count_ones() as usize).sum();
    if !n.is_multiple_of(8) {
        c += (bitmap[full] & ((1u8 << (n % 8)) - 1)).count_ones() as usize;
    }
    c
}

/// Whether the bits from `n` to the end of the last byte are all zero.
pub(crate) fn padding_is_zero(bitmap: &[u8], n: usize) -> bool {
    n.is_multiple_of(8) || bitmap.last().is_none_or(|b| b >> (n % 8) == 0)
}

/// Bits needed to represent `v` (0 for 0).
pub(crate) fn width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Appends `vals` packed at `w` bits each (each value must fit in `w` bits).
pub(crate) fn pack(vals: impl Iterator<Item = u64>, w: u32, out: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let mut acc: u128 = 0;
    let mut nbits: u32 = 0;
    for v in vals {
        debug_assert!(w == 64 || v >> w == 0);
        acc |= (v as u128) << nbits;
        nbits += w;
        while nbits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nbits -= 8;
        }
    }
    if nbits > 0 {
        out.push(acc as u8);
    }
}

/// Value `i` of a packed run of `w`-bit values (caller checked that `packed`
/// holds at least `i + 1` values).
pub(crate) fn unpack_at(packed: &[u8], w: u32, i: usize) -> u64 {
    if w == 0 {
        return 0;
    }
    let bit0 = i as u64 * w as u64;
    let first = (bit0 / 8) as usize;
    let shift = (bit0 % 8) as u32;
    let need = (shift + w).div_ceil(8) as usize;
    let mut acc: u128 = 0;
    for (k, b) in packed[first..first + need].iter().enumerate() {
        acc |= (*b as u128) << (8 * k);
    }
    let v = acc >> shift;
    if w == 64 {
        v as u64
    } else {
        (v as u64) & ((1u64 << w) - 1)
    }
}

/// Sequential unpacker, for decoding whole runs.
pub(crate) struct Unpacker<'a> {
    packed: &'a [u8],
    w: u32,
    byte: usize,
    acc: u128,
    nbits: u32,
}

impl<'a> Unpacker<'a> {
    pub(crate) fn new(packed: &'a [u8], w: u32) -> Unpacker<'a> {
        Unpacker { packed, w, byte: 0, acc: 0, nbits: 0 }
    }

    /// Next value (caller checked that enough bytes exist).
    pub(crate) fn next_value(&mut self) -> u64 {
        if self.w == 0 {
            return 0;
        }
        while self.nbits < self.w {
            self.acc |= (self.packed[self.byte] as u128) << self.nbits;
            self.byte += 1;
            self.nbits += 8;
        }
        let v = if self.w == 64 { self.acc as u64 } else { (self.acc as u64) & ((1u64 << self.w) - 1) };
        self.acc >>= self.w;
        self.nbits -= self.w;
        v
    }
}
