//! Record encoding. Every record is a 32-byte header, the key, the value, zero padding to 8.
//!
//! ```text
//! 0      4     5      6        8         12          16           24           32
//! | crc32 | kind | flags | reserved | key_len | value_len | commit_seq | generation | key | value | pad |
//! ```
//! `crc32` (crc32fast, IEEE) covers bytes 4..32 of the header, the key and the value. `commit_seq`
//! names the commit the record belongs to; `generation` is the generation of the segment it lives
//! in, so a record left over from an earlier use of the space never validates.

use std::ops::Range;

use crate::ids::{CommitSequence, Generation};
use crate::layout::{align_up, RECORD_ALIGN, RECORD_HEADER_BYTES};

/// Where each header field lies (docs/format.md, "Records"; the test `format_doc_agrees`
/// checks the diagram there against these).
pub(crate) mod field {
    use super::Range;

    /// CRC-32 over bytes 4..32, the key and the value.
    pub(crate) const CRC: Range<usize> = 0..4;
    /// The record's [`Kind`](super::Kind).
    pub(crate) const KIND: usize = 4;
    /// Flags: must be 0.
    pub(crate) const FLAGS: usize = 5;
    /// Reserved: must be 0.
    pub(crate) const RESERVED: Range<usize> = 6..8;
    /// Key length (u32).
    pub(crate) const KEY_LEN: Range<usize> = 8..12;
    /// Value length (u32).
    pub(crate) const VALUE_LEN: Range<usize> = 12..16;
    /// The commit the record belongs to (u64).
    pub(crate) const COMMIT_SEQ: Range<usize> = 16..24;
    /// The generation of the segment the record lives in (u64).
    pub(crate) const GENERATION: Range<usize> = 24..32;
}

// The fields tile the header exactly, in order.
const _: () = assert!(field::CRC.start == 0 && field::CRC.end == field::KIND);
const _: () = assert!(field::KIND + 1 == field::FLAGS && field::FLAGS + 1 == field::RESERVED.start);
const _: () = assert!(field::RESERVED.end == field::KEY_LEN.start && field::KEY_LEN.end == field::VALUE_LEN.start);
const _: () = assert!(field::VALUE_LEN.end == field::COMMIT_SEQ.start);
const _: () = assert!(field::COMMIT_SEQ.end == field::GENERATION.start);
const _: () = assert!(field::GENERATION.end == RECORD_HEADER_BYTES);

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A key and its value.
    Put = 1,
    /// A key removed.
    Delete = 2,
    /// End of a commit: value = records in the commit (u64) + segments in use after it (u64).
    Commit = 3,
    /// First record of a segment: value = segment index (u64) + store id (u64).
    SegmentHead = 4,
    /// Last record of a full segment: value = next segment index (u64) + its generation (u64).
    Seal = 5,
    /// A segment given back by the cleaner: value = its index (u64) + its generation (u64).
    Free = 6,
    /// First record of a segment holding part of an index checkpoint (never in the log):
    /// value = [`CHECKPOINT_HEAD_BYTES`] of part description (docs/format.md, "Checkpoints").
    CheckpointHead = 7,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Put,
            2 => Kind::Delete,
            3 => Kind::Commit,
            4 => Kind::SegmentHead,
            5 => Kind::Seal,
            6 => Kind::Free,
            7 => Kind::CheckpointHead,
            _ => return None,
        })
    }
}

/// Bytes of a CheckpointHead record's value: six u64 words.
pub(crate) const CHECKPOINT_HEAD_BYTES: usize = 48;

/// Bytes of a record's two-u64 payload (Commit, SegmentHead, Seal, Free).
pub(crate) const PAIR_BYTES: usize = 16;
/// Total bytes of a record with a two-u64 payload.
pub(crate) const PAIR_RECORD_BYTES: u64 = (RECORD_HEADER_BYTES + PAIR_BYTES) as u64;

/// Bytes a record with these lengths occupies (header, payload, padding).
pub(crate) fn record_bytes(key_len: usize, value_len: usize) -> u64 {
    align_up((RECORD_HEADER_BYTES + key_len + value_len) as u64, RECORD_ALIGN)
}

/// The fixed part of a record, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) key_len: u32,
    pub(crate) value_len: u32,
    pub(crate) commit_seq: CommitSequence,
    pub(crate) generation: Generation,
}

impl Header {
    /// Bytes this record occupies.
    pub(crate) fn record_bytes(&self) -> u64 {
        record_bytes(self.key_len as usize, self.value_len as usize)
    }

    /// Encodes the header with the checksum over it and `payload` (key then value).
    pub(crate) fn encode(&self, key: &[u8], value: &[u8]) -> [u8; RECORD_HEADER_BYTES] {
        debug_assert!(key.len() == self.key_len as usize && value.len() == self.value_len as usize);
        let mut bytes = [0u8; RECORD_HEADER_BYTES];
        bytes[field::KIND] = self.kind as u8;
        bytes[field::KEY_LEN].copy_from_slice(&self.key_len.to_le_bytes());
        bytes[field::VALUE_LEN].copy_from_slice(&self.value_len.to_le_bytes());
        bytes[field::COMMIT_SEQ].copy_from_slice(&self.commit_seq.0.to_le_bytes());
        bytes[field::GENERATION].copy_from_slice(&self.generation.0.to_le_bytes());
        let crc = checksum(&bytes, key, value);
        bytes[field::CRC].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a header without verifying the checksum (the hot read path of published records).
    pub(crate) fn decode_unchecked(bytes: &[u8]) -> Option<Header> {
        let bytes: &[u8; RECORD_HEADER_BYTES] = bytes.get(..RECORD_HEADER_BYTES)?.try_into().ok()?;
        if bytes[field::FLAGS] != 0 || bytes[field::RESERVED].iter().any(|&byte| byte != 0) {
            return None;
        }
        let header = Header {
            kind: Kind::from_byte(bytes[field::KIND])?,
            key_len: u32::from_le_bytes(bytes[field::KEY_LEN].try_into().ok()?),
            value_len: u32::from_le_bytes(bytes[field::VALUE_LEN].try_into().ok()?),
            commit_seq: CommitSequence(u64::from_le_bytes(bytes[field::COMMIT_SEQ].try_into().ok()?)),
            generation: Generation(u64::from_le_bytes(bytes[field::GENERATION].try_into().ok()?)),
        };
        let pair = header.key_len == 0 && header.value_len as usize == PAIR_BYTES;
        let shape_ok = match header.kind {
            Kind::Put => true,
            Kind::Delete => header.value_len == 0,
            Kind::Commit | Kind::SegmentHead | Kind::Seal | Kind::Free => pair,
            Kind::CheckpointHead => header.key_len == 0 && header.value_len as usize == CHECKPOINT_HEAD_BYTES,
        };
        shape_ok.then_some(header)
    }
}

/// A whole record validated in place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record<'a> {
    pub(crate) header: Header,
    #[cfg_attr(not(test), expect(dead_code, reason = "recovery reads keys by offset; tests check the parse"))]
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
}

impl Record<'_> {
    /// The two u64 of a Commit / SegmentHead / Seal / Free payload.
    pub(crate) fn pair(&self) -> (u64, u64) {
        debug_assert_eq!(self.value.len(), PAIR_BYTES);
        let first = u64::from_le_bytes(self.value[0..8].try_into().expect("8 bytes"));
        let second = u64::from_le_bytes(self.value[8..16].try_into().expect("8 bytes"));
        (first, second)
    }
}

/// Parses and verifies the record at the start of `bytes` (which runs to the end of the segment).
/// `None` for anything that is not a whole, valid record.
pub(crate) fn parse(bytes: &[u8]) -> Option<Record<'_>> {
    let header = Header::decode_unchecked(bytes)?;
    let key_end = RECORD_HEADER_BYTES.checked_add(header.key_len as usize)?;
    let value_end = key_end.checked_add(header.value_len as usize)?;
    if value_end > bytes.len() {
        return None;
    }
    let (key, value) = (&bytes[RECORD_HEADER_BYTES..key_end], &bytes[key_end..value_end]);
    let header_bytes: &[u8; RECORD_HEADER_BYTES] = bytes[..RECORD_HEADER_BYTES].try_into().ok()?;
    let stored = u32::from_le_bytes(header_bytes[field::CRC].try_into().ok()?);
    (stored == checksum(header_bytes, key, value)).then_some(Record { header, key, value })
}

fn checksum(header: &[u8; RECORD_HEADER_BYTES], key: &[u8], value: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[field::CRC.end..]);
    hasher.update(key);
    hasher.update(value);
    hasher.finalize()
}

/// The payload of a two-u64 record.
pub(crate) fn pair_payload(first: u64, second: u64) -> [u8; PAIR_BYTES] {
    let mut payload = [0u8; PAIR_BYTES];
    payload[0..8].copy_from_slice(&first.to_le_bytes());
    payload[8..16].copy_from_slice(&second.to_le_bytes());
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(kind: Kind, key: &[u8], value: &[u8]) -> Vec<u8> {
        let header = Header {
            kind,
            key_len: key.len() as u32,
            value_len: value.len() as u32,
            commit_seq: CommitSequence(7),
            generation: Generation(3),
        };
        let mut bytes = header.encode(key, value).to_vec();
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        bytes.resize(header.record_bytes() as usize, 0);
        bytes
    }

    #[test]
    fn round_trip_and_every_flipped_bit_is_rejected() {
        let bytes = encode(Kind::Put, b"key", b"value");
        let record = parse(&bytes).expect("valid");
        assert_eq!(
            (record.key, record.value, record.header.commit_seq, record.header.generation),
            (&b"key"[..], &b"value"[..], CommitSequence(7), Generation(3))
        );
        for bit in 0..(RECORD_HEADER_BYTES + 8) * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(parse(&damaged).is_none(), "flipping bit {bit} must be detected");
        }
    }

    #[test]
    fn truncated_and_zeroed_records_are_rejected() {
        let bytes = encode(Kind::Commit, b"", &pair_payload(1, 2));
        assert!(parse(&bytes[..bytes.len() - 1]).is_none());
        assert!(parse(&[0u8; 64]).is_none());
        assert_eq!(parse(&bytes).expect("valid").pair(), (1, 2));
    }

    /// The numbers above the record diagram in docs/format.md are the field offsets here.
    #[test]
    fn format_doc_agrees() {
        let doc = include_str!("../../docs/format.md");
        let records = &doc[doc.find("## Records").expect("a Records section")..];
        let ruler = records.lines().find(|line| line.trim_start().starts_with("0 ")).expect("an offset ruler");
        let offsets: Vec<usize> = ruler.split_whitespace().map(|word| word.parse().expect("offsets")).collect();
        let code = [
            field::CRC.start,
            field::KIND,
            field::FLAGS,
            field::RESERVED.start,
            field::KEY_LEN.start,
            field::VALUE_LEN.start,
            field::COMMIT_SEQ.start,
            field::GENERATION.start,
            field::GENERATION.end,
        ];
        assert_eq!(offsets, code, "docs/format.md and record::field disagree");
    }

    #[test]
    fn shapes_are_enforced() {
        assert!(parse(&encode(Kind::Delete, b"k", b"v")).is_none());
        assert!(parse(&encode(Kind::Commit, b"k", &pair_payload(1, 2))).is_none());
        assert!(parse(&encode(Kind::Delete, b"k", b"")).is_some());
        assert!(parse(&encode(Kind::Put, b"", b"")).is_some());
    }
}
