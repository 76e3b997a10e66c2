//! Little-endian byte encoding shared by every on-disk structure of the `vego`
//! crate. The reader checks every length against the bytes that remain before
//! allocating, so hostile input can neither panic nor allocate without bound.

use std::collections::BTreeMap;

use crate::model::limits::{METADATA_FIELDS_MAX, NESTING_MAX};
use crate::Value;

/// Why bytes could not be decoded; the offset is relative to the decoded buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset of the first byte that could not be decoded.
    pub offset: usize,
    /// What was wrong.
    pub detail: String,
}

/// Appends values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str16(&mut self, s: &str) {
        let len = u16::try_from(s.len()).expect("caller validated string length");
        self.u16(len);
        self.buf.extend_from_slice(s.as_bytes());
    }
    pub fn str32(&mut self, s: &str) {
        let len = u32::try_from(s.len()).expect("caller validated string length");
        self.u32(len);
        self.buf.extend_from_slice(s.as_bytes());
    }
    pub fn f32s(&mut self, v: &[f32]) {
        self.u32(u32::try_from(v.len()).expect("caller validated dimension"));
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(0),
            Value::Bool(false) => self.u8(1),
            Value::Bool(true) => self.u8(2),
            Value::Int(i) => {
                self.u8(3);
                self.u64(*i as u64);
            }
            Value::Float(f) => {
                self.u8(4);
                self.u64(f.to_bits());
            }
            Value::Str(s) => {
                self.u8(5);
                self.str32(s);
            }
            Value::List(items) => {
                self.u8(6);
                self.u32(u32::try_from(items.len()).expect("caller validated list length"));
                items.iter().for_each(|i| self.value(i));
            }
        }
    }
    pub fn metadata(&mut self, m: &BTreeMap<String, Value>) {
        self.u32(u32::try_from(m.len()).expect("caller validated field count"));
        for (k, v) in m {
            self.str16(k);
            self.value(v);
        }
    }
}

/// Reads values from a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn err(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError { offset: self.pos, detail: detail.into() }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err(format!("need {n} bytes, {} remain", self.remaining())));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.bytes(N)?.try_into().expect("length checked"))
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let at = self.pos;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError { offset: at, detail: "invalid UTF-8".into() })
    }
    pub fn str16(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        self.utf8(len)
    }
    pub fn str32(&mut self) -> Result<String, DecodeError> {
        let len = self.u32()? as usize;
        self.utf8(len)
    }
    pub fn f32s(&mut self, max_len: usize) -> Result<Vec<f32>, DecodeError> {
        let n = self.u32()? as usize;
        if n > max_len {
            return Err(self.err(format!("vector length {n} over limit {max_len}")));
        }
        let bytes = self.bytes(n * 4)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    }
    pub fn value(&mut self) -> Result<Value, DecodeError> {
        self.value_at(0)
    }
    fn value_at(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > NESTING_MAX {
            return Err(self.err("value nested too deeply"));
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Int(self.u64()? as i64),
            4 => Value::Float(f64::from_bits(self.u64()?)),
            5 => Value::Str(self.str32()?),
            6 => {
                let n = self.u32()? as usize;
                // Every element takes at least one byte: bounds the allocation.
                if n > self.remaining() {
                    return Err(self.err(format!("list of {n} values in {} bytes", self.remaining())));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value_at(depth + 1)?);
                }
                Value::List(items)
            }
            tag => return Err(self.err(format!("unknown value tag {tag}"))),
        })
    }
    pub fn metadata(&mut self) -> Result<BTreeMap<String, Value>, DecodeError> {
        let n = self.u32()? as usize;
        if n > METADATA_FIELDS_MAX {
            return Err(self.err(format!("{n} metadata fields over limit")));
        }
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str16()?;
            let v = self.value()?;
            if m.insert(k, v).is_some() {
                return Err(self.err("duplicate metadata key"));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1e12f64..1e12).prop_map(Value::Float),
            "[a-zA-Z0-9 ]{0,12}".prop_map(Value::Str),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Value::List))
    }

    proptest! {
        #[test]
        fn metadata_round_trips(m in proptest::collection::btree_map("[a-z]{1,6}", arb_value(), 0..6)) {
            let mut w = Writer::default();
            w.metadata(&m);
            let mut r = Reader::new(&w.buf);
            prop_assert_eq!(r.metadata().unwrap(), m);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Reader::new(&bytes).metadata();
            let _ = Reader::new(&bytes).f32s(16);
        }
    }
}
