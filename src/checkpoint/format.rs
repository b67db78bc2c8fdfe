//! The bytes of a checkpoint (docs/format.md, "Checkpoints"): part heads, the summary, table
//! entries and leaves, each encoded and decoded here and nowhere else. All integers are
//! little-endian; every item is a multiple of 8 bytes.

use crate::ids::{CommitSequence, Generation, SegmentIndex};
use crate::index::LeafImage;
use crate::layout::RECORD_HEADER_BYTES;
use crate::log::record::{self, Header, Kind, CHECKPOINT_HEAD_BYTES};

/// The summary's first word.
pub(crate) const MAGIC: [u8; 8] = *b"DAXKVCP1";
/// Bytes of a part's head record (header and value).
pub(crate) const PART_HEAD_BYTES: u64 = (RECORD_HEADER_BYTES + CHECKPOINT_HEAD_BYTES) as u64;
/// Bytes of the summary item.
pub(crate) const SUMMARY_BYTES: usize = 80;
/// Bytes of a table entry item.
pub(crate) const TABLE_ENTRY_BYTES: usize = 40;
/// Bytes of a leaf item's fixed part (count, prefix length, the bound's length).
const LEAF_HEADER_BYTES: usize = 8;

/// What part 0 says of the whole checkpoint (see the module docs of [`super`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The checkpoint's id: a generation taken from the store's counter, unique for the file's
    /// life and newer for a later checkpoint.
    pub(crate) id: Generation,
    /// The head segment's generation at the capture: replay starts at that segment.
    pub(crate) covered_generation: Generation,
    /// The commit of that segment's SegmentHead record.
    pub(crate) head_commit: CommitSequence,
    /// Every commit up to this one was durable before any byte of the checkpoint was written.
    pub(crate) durable_through: CommitSequence,
    /// The commit of the newest record the export could have seen: the checkpoint is used only
    /// when this commit is durable.
    pub(crate) names_through: CommitSequence,
    /// Keys in the leaves.
    pub(crate) key_count: u64,
    /// Leaf items.
    pub(crate) leaf_count: u64,
    /// Table entries.
    pub(crate) table_len: u64,
    /// Parts (segments) of the checkpoint.
    pub(crate) parts: u64,
}

/// One live segment older than the capture's head segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableEntry {
    pub(crate) index: SegmentIndex,
    pub(crate) generation: Generation,
    /// Bytes its records occupy (live + tombstone + dead).
    pub(crate) written_bytes: u64,
    pub(crate) tombstone_bytes: u64,
    /// The largest shadow of its tombstones.
    pub(crate) tombstone_shadow: Option<Generation>,
}

/// A part's head, as decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartHead {
    pub(crate) id: Generation,
    pub(crate) segment: SegmentIndex,
    pub(crate) part: u64,
    pub(crate) payload_bytes: u64,
    pub(crate) payload_crc: u32,
}

fn words<const N: usize>(values: [u64; N]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_le_bytes()).collect()
}

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at * 8..at * 8 + 8].try_into().expect("8 bytes"))
}

/// The head record of part `part` of checkpoint `id` in `segment`, for `payload`.
pub(crate) fn part_head(id: Generation, store_id: u64, segment: SegmentIndex, part: u64, payload: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(payload);
    let value = words([store_id, segment.0, part, payload.len() as u64, u64::from(crc), 0]);
    assert_eq!(value.len(), CHECKPOINT_HEAD_BYTES);
    let header = Header {
        kind: Kind::CheckpointHead,
        key_len: 0,
        value_len: CHECKPOINT_HEAD_BYTES as u32,
        commit_seq: CommitSequence(0),
        generation: id,
    };
    let mut bytes = header.encode(&[], &value).to_vec();
    bytes.extend_from_slice(&value);
    assert_eq!(bytes.len() as u64, PART_HEAD_BYTES);
    bytes
}

/// The part head at the start of `segment` (`bytes`: its first [`PART_HEAD_BYTES`]), if it is
/// a valid CheckpointHead record of this store naming this segment.
pub(crate) fn decode_part_head(bytes: &[u8], store_id: u64, segment: SegmentIndex) -> Option<PartHead> {
    let parsed = record::parse(bytes)?;
    if parsed.header.kind != Kind::CheckpointHead {
        return None;
    }
    let value = parsed.value;
    let head = PartHead {
        id: parsed.header.generation,
        segment,
        part: word(value, 2),
        payload_bytes: word(value, 3),
        payload_crc: u32::try_from(word(value, 4)).ok()?,
    };
    (word(value, 0) == store_id && word(value, 1) == segment.0 && word(value, 5) == 0).then_some(head)
}

impl Summary {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(words([
            self.id.0,
            self.covered_generation.0,
            self.head_commit.0,
            self.durable_through.0,
            self.names_through.0,
            self.key_count,
            self.leaf_count,
            self.table_len,
            self.parts,
        ]));
        assert_eq!(bytes.len(), SUMMARY_BYTES);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Summary> {
        (bytes.len() >= SUMMARY_BYTES && bytes[..8] == MAGIC).then(|| Summary {
            id: Generation(word(bytes, 1)),
            covered_generation: Generation(word(bytes, 2)),
            head_commit: CommitSequence(word(bytes, 3)),
            durable_through: CommitSequence(word(bytes, 4)),
            names_through: CommitSequence(word(bytes, 5)),
            key_count: word(bytes, 6),
            leaf_count: word(bytes, 7),
            table_len: word(bytes, 8),
            parts: word(bytes, 9),
        })
    }
}

impl TableEntry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let shadow = self.tombstone_shadow.map_or(0, |shadow| shadow.0);
        words([self.index.0, self.generation.0, self.written_bytes, self.tombstone_bytes, shadow])
    }

    fn decode(bytes: &[u8]) -> TableEntry {
        TableEntry {
            index: SegmentIndex(word(bytes, 0)),
            generation: Generation(word(bytes, 1)),
            written_bytes: word(bytes, 2),
            tombstone_bytes: word(bytes, 3),
            tombstone_shadow: Some(word(bytes, 4)).filter(|&shadow| shadow != 0).map(Generation),
        }
    }
}

/// Encodes a leaf item: `bound` is a lower bound of its keys that starts with the prefix
/// ([`LeafImage::bound_from`]).
pub(crate) fn encode_leaf(bound: &[u8], image: &LeafImage, out: &mut Vec<u8>) {
    assert!(!image.slots.is_empty() && image.slots.len() == image.tags.len());
    assert!(bound.starts_with(&image.prefix), "the bound starts with the leaf's prefix");
    out.clear();
    out.extend_from_slice(&(image.slots.len() as u16).to_le_bytes());
    out.extend_from_slice(&(image.prefix.len() as u16).to_le_bytes());
    out.extend_from_slice(&(bound.len() as u32).to_le_bytes());
    out.extend_from_slice(bound);
    out.resize(out.len().next_multiple_of(8), 0);
    out.extend(image.tags.iter().flat_map(|tag| tag.to_le_bytes()));
    out.extend(image.slots.iter().flat_map(|slot| slot.to_le_bytes()));
}

/// Reads the items of a checkpoint's payloads, part after part. Every read checks its bounds:
/// a payload whose checksum holds but whose items do not fit is reported, never read past.
pub(crate) struct ItemReader<'a> {
    payload: &'a [u8],
    at: usize,
}

impl<'a> ItemReader<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> ItemReader<'a> {
        ItemReader { payload, at: 0 }
    }

    /// Whether the payload is used up.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.payload.len()
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.payload.len())?;
        let bytes = &self.payload[self.at..end];
        self.at = end;
        Some(bytes)
    }

    pub(crate) fn summary(&mut self) -> Option<Summary> {
        Summary::decode(self.take(SUMMARY_BYTES)?)
    }

    pub(crate) fn table_entry(&mut self) -> Option<TableEntry> {
        self.take(TABLE_ENTRY_BYTES).map(TableEntry::decode)
    }

    /// The next leaf item: its bound and its image.
    pub(crate) fn leaf(&mut self) -> Option<(Box<[u8]>, LeafImage)> {
        let fixed = self.take(LEAF_HEADER_BYTES)?;
        let count = usize::from(u16::from_le_bytes([fixed[0], fixed[1]]));
        let prefix_len = usize::from(u16::from_le_bytes([fixed[2], fixed[3]]));
        let bound_len = u32::from_le_bytes(fixed[4..8].try_into().expect("4 bytes")) as usize;
        let bound = self.take(bound_len.next_multiple_of(8))?.get(..bound_len)?;
        let prefix = bound.get(..prefix_len)?.to_vec();
        let numbers = |bytes: &[u8]| -> Vec<u64> {
            bytes.chunks_exact(8).map(|chunk| u64::from_le_bytes(chunk.try_into().expect("8 bytes"))).collect()
        };
        let tags = numbers(self.take(count.checked_mul(8)?)?);
        let slots = numbers(self.take(count.checked_mul(8)?)?);
        Some((bound.into(), LeafImage { prefix, tags, slots }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_back_as_written() {
        let summary = Summary {
            id: Generation(9 << 32 | 3),
            covered_generation: Generation(9 << 32 | 2),
            head_commit: CommitSequence(17),
            durable_through: CommitSequence(20),
            names_through: CommitSequence(21),
            key_count: 3,
            leaf_count: 1,
            table_len: 1,
            parts: 1,
        };
        let entry = TableEntry {
            index: SegmentIndex(4),
            generation: Generation(9 << 32 | 1),
            written_bytes: 4096,
            tombstone_bytes: 64,
            tombstone_shadow: None,
        };
        let image = LeafImage { prefix: b"ke".to_vec(), tags: vec![1, 2, 3], slots: vec![10, 20, 30] };
        let mut payload = summary.encode();
        payload.extend(entry.encode());
        let mut leaf = Vec::new();
        encode_leaf(b"key-1", &image, &mut leaf);
        payload.extend_from_slice(&leaf);
        let mut reader = ItemReader::new(&payload);
        assert_eq!(reader.summary(), Some(summary));
        assert_eq!(reader.table_entry(), Some(entry));
        assert_eq!(reader.leaf(), Some((b"key-1".to_vec().into_boxed_slice(), image)));
        assert!(reader.is_done());
        // Cut short anywhere: an error, never a read past the end.
        for cut in 0..leaf.len() {
            assert!(ItemReader::new(&leaf[..cut]).leaf().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn a_part_head_names_its_store_segment_and_payload() {
        let head = part_head(Generation(5), 77, SegmentIndex(3), 2, b"payload!");
        let decoded = decode_part_head(&head, 77, SegmentIndex(3)).expect("valid");
        assert_eq!((decoded.id, decoded.part, decoded.payload_bytes), (Generation(5), 2, 8));
        assert_eq!(decoded.payload_crc, crc32fast::hash(b"payload!"));
        assert!(decode_part_head(&head, 78, SegmentIndex(3)).is_none(), "another store");
        assert!(decode_part_head(&head, 77, SegmentIndex(4)).is_none(), "another segment");
        let mut torn = head.clone();
        torn[40] ^= 1;
        assert!(decode_part_head(&torn, 77, SegmentIndex(3)).is_none(), "a torn head");
    }
}
