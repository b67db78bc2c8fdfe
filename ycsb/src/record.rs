//! The record layout, identical for every engine: one key -> one value holding all fields.
//!
//! ```text
//! value  = keynum: u64 LE | nfields: u8 | field * nfields
//! field  = version: u32 LE | len: u32 LE | len bytes of content
//! ```
//! Field names (`field0`..) are implicit in the position. A field's content and (unless
//! `fieldlengthdistribution=constant`) its length are a pure function of (keynum, version, field
//! index), so any reader can check any record it gets without remembering what was written. The
//! record's version is the largest field version: every write of a key bumps it.

use crate::gen::{splitmix64, IntGen, Rng};

pub const HEADER: usize = 9;
pub const FIELD_HEADER: usize = 8;

#[inline]
fn seed(keynum: u64, version: u32, field: usize) -> u64 {
    let mut x = keynum.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((version as u64) << 8) ^ field as u64;
    splitmix64(&mut x)
}

/// The uniform draw that fixes a field's length for (keynum, version, field).
pub fn len_draw(keynum: u64, version: u32, field: usize) -> f64 {
    let mut x = seed(keynum, version, field) ^ 0x5555_5555;
    (splitmix64(&mut x) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Field length for (keynum, version, field) under the configured distribution.
pub fn field_len(gen: &mut IntGen, rng: &mut Rng, keynum: u64, version: u32, field: usize) -> usize {
    match gen {
        IntGen::Constant(c) => *c as usize,
        g => g.next_u(len_draw(keynum, version, field), rng).max(0) as usize,
    }
}

/// Appends the content of a field (printable ASCII, like YCSB's random strings).
pub fn push_content(out: &mut Vec<u8>, keynum: u64, version: u32, field: usize, len: usize) {
    let mut x = seed(keynum, version, field);
    let start = out.len();
    out.reserve(len);
    let mut left = len;
    while left > 0 {
        let w = splitmix64(&mut x);
        let b = w.to_le_bytes();
        let n = left.min(8);
        for &c in &b[..n] {
            out.push(b' ' + (c % 95));
        }
        left -= n;
    }
    debug_assert_eq!(out.len(), start + len);
}

fn content_matches(data: &[u8], keynum: u64, version: u32, field: usize) -> bool {
    let mut x = seed(keynum, version, field);
    for chunk in data.chunks(8) {
        let b = splitmix64(&mut x).to_le_bytes();
        for (i, &c) in chunk.iter().enumerate() {
            if c != b' ' + (b[i] % 95) {
                return false;
            }
        }
    }
    true
}

pub fn push_field(out: &mut Vec<u8>, keynum: u64, version: u32, field: usize, len: usize) {
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    push_content(out, keynum, version, field, len);
}

/// Encodes a whole record where every field has `version`.
pub fn encode_full(out: &mut Vec<u8>, keynum: u64, version: u32, nfields: usize, lens: &mut IntGen, rng: &mut Rng) {
    out.clear();
    out.extend_from_slice(&keynum.to_le_bytes());
    out.push(nfields as u8);
    for f in 0..nfields {
        let len = field_len(lens, rng, keynum, version, f);
        push_field(out, keynum, version, f, len);
    }
}

/// A parsed view of a record.
pub struct View<'a> {
    pub keynum: u64,
    pub fields: Vec<(u32, &'a [u8])>,
}

impl View<'_> {
    pub fn version(&self) -> u32 {
        self.fields.iter().map(|f| f.0).max().unwrap_or(0)
    }
}

/// Structural parse (cheap): header, field count and bounds.
pub fn parse(rec: &[u8]) -> Result<View<'_>, String> {
    if rec.len() < HEADER {
        return Err(format!("record of {} bytes is shorter than its header", rec.len()));
    }
    let keynum = u64::from_le_bytes(rec[..8].try_into().unwrap());
    let n = rec[8] as usize;
    let mut fields = Vec::with_capacity(n);
    let mut p = HEADER;
    for f in 0..n {
        if rec.len() < p + FIELD_HEADER {
            return Err(format!("field {f} header out of bounds"));
        }
        let version = u32::from_le_bytes(rec[p..p + 4].try_into().unwrap());
        let len = u32::from_le_bytes(rec[p + 4..p + 8].try_into().unwrap()) as usize;
        p += FIELD_HEADER;
        if rec.len() < p + len {
            return Err(format!("field {f} content out of bounds"));
        }
        fields.push((version, &rec[p..p + len]));
        p += len;
    }
    if p != rec.len() {
        return Err(format!("{} trailing bytes after the last field", rec.len() - p));
    }
    Ok(View { keynum, fields })
}

/// Full check of every field's length and content against (keynum, field version, index).
pub fn check_content(v: &View<'_>, nfields: usize, lens: &mut IntGen, rng: &mut Rng) -> Result<(), String> {
    if v.fields.len() != nfields {
        return Err(format!("record has {} fields, expected {nfields}", v.fields.len()));
    }
    for (f, &(version, data)) in v.fields.iter().enumerate() {
        let want = field_len(lens, rng, v.keynum, version, f);
        if data.len() != want {
            return Err(format!("field{f} v{version}: length {} != {want}", data.len()));
        }
        if !content_matches(data, v.keynum, version, f) {
            return Err(format!("field{f} v{version}: content differs from what was written"));
        }
    }
    Ok(())
}

/// Re-encodes `old` with field `which` replaced by new content of `version` (a partial update).
pub fn encode_update(out: &mut Vec<u8>, old: &View<'_>, which: usize, version: u32, lens: &mut IntGen, rng: &mut Rng) {
    out.clear();
    out.extend_from_slice(&old.keynum.to_le_bytes());
    out.push(old.fields.len() as u8);
    for (f, &(v, data)) in old.fields.iter().enumerate() {
        if f == which {
            let len = field_len(lens, rng, old.keynum, version, f);
            push_field(out, old.keynum, version, f, len);
        } else {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip_and_detects_corruption() {
        let mut rng = Rng::new(3);
        let mut lens = IntGen::Uniform { lo: 1, hi: 100 };
        let mut buf = Vec::new();
        encode_full(&mut buf, 77, 5, 10, &mut lens, &mut rng);
        let v = parse(&buf).unwrap();
        assert_eq!(v.keynum, 77);
        assert_eq!(v.version(), 5);
        check_content(&v, 10, &mut lens, &mut rng).unwrap();
        let mut up = Vec::new();
        encode_update(&mut up, &v, 3, 6, &mut lens, &mut rng);
        let v2 = parse(&up).unwrap();
        assert_eq!(v2.version(), 6);
        check_content(&v2, 10, &mut lens, &mut rng).unwrap();
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let v = parse(&buf).unwrap();
        assert!(check_content(&v, 10, &mut lens, &mut rng).is_err());
    }
}
