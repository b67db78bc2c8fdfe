//! The record log: where records live in the file, and the single writer that appends them.
//!
//! The file is a sequence of 2 MiB segments. Segment 0 starts after the superblock page; every
//! segment begins with a SegmentHead record and, once full, ends with a Seal record naming the
//! next segment. A commit is the run of records carrying one `commit_seq`, closed by a Commit
//! record that counts them. See docs/format.md and docs/design.md.

pub(crate) mod access;
pub(crate) mod record;
pub(crate) mod superblock;

use crate::dirty::DirtyIndex;
use crate::error::Error;
use crate::layout::{SEGMENT_BYTES, SUPERBLOCK_AREA_BYTES};
use crate::media::Medium;
use record::{pair_payload, Kind, PAIR_RECORD_BYTES};

/// First byte of segment `index` usable for records.
pub(crate) fn segment_start(index: u64) -> u64 {
    if index == 0 {
        SUPERBLOCK_AREA_BYTES
    } else {
        index * SEGMENT_BYTES
    }
}

/// Records other than the Seal must end at or before this offset of segment `index`.
pub(crate) fn segment_limit(index: u64) -> u64 {
    (index + 1) * SEGMENT_BYTES - PAIR_RECORD_BYTES
}

/// The write head. Lives inside the engine's writer mutex: whoever holds `&mut Head` is the only
/// thread that writes records.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub(crate) segment_index: u64,
    pub(crate) generation: u64,
    pub(crate) offset: u64,
    pub(crate) open_commit_seq: u64,
    pub(crate) records_in_open_commit: u64,
    pub(crate) open_commit_first: u64,
    pub(crate) store_id: u64,
}

impl Head {
    /// New segments that appending records of `sizes` (in order, plus the closing Commit) needs.
    pub(crate) fn segments_needed(&self, sizes: impl Iterator<Item = u64>) -> u64 {
        let (mut index, mut offset, mut needed) = (self.segment_index, self.offset, 0);
        for size in sizes.chain(std::iter::once(PAIR_RECORD_BYTES)) {
            if offset + size > segment_limit(index) {
                index += 1;
                needed += 1;
                offset = segment_start(index) + PAIR_RECORD_BYTES;
                assert!(offset + size <= segment_limit(index), "record larger than a segment");
            }
            offset += size;
        }
        needed
    }

    /// Grows the medium so that `segments` more segments after the current one exist.
    pub(crate) fn ensure_capacity<M: Medium>(&self, medium: &M, segments: u64) -> Result<(), Error> {
        let needed = (self.segment_index + 1 + segments) * SEGMENT_BYTES;
        let mapped = medium.mapped_bytes();
        if needed <= mapped {
            return Ok(());
        }
        // Grow ahead by an eighth of the file (1 to 32 segments, 64 MiB), to amortise growth.
        let step = (mapped / 8 / SEGMENT_BYTES).clamp(1, 32) * SEGMENT_BYTES;
        match medium.grow(needed.max(mapped + step)) {
            Err(Error::NoSpace) if mapped + step > needed => medium.grow(needed),
            other => other,
        }
    }

    /// Appends one record (capacity ensured by the caller), advancing to the next segment when
    /// it does not fit. Returns the record's offset.
    pub(crate) fn append<M: Medium>(
        &mut self,
        medium: &M,
        dirty: &DirtyIndex,
        kind: Kind,
        key: &[u8],
        value: &[u8],
    ) -> u64 {
        if self.offset + record::record_bytes(key.len(), value.len()) > segment_limit(self.segment_index) {
            self.advance(medium, dirty);
        }
        self.place(medium, dirty, kind, key, value)
    }

    /// Writes one record at the head, marks its bytes dirty, counts it in the open commit (every
    /// kind but Commit) and moves the head past it. Returns its offset.
    fn place<M: Medium>(&mut self, medium: &M, dirty: &DirtyIndex, kind: Kind, key: &[u8], value: &[u8]) -> u64 {
        let offset = self.offset;
        let size = record::record_bytes(key.len(), value.len());
        access::append_record(medium, offset, kind, key, value, self.open_commit_seq, self.generation);
        dirty.mark(offset, size);
        self.offset += size;
        if kind != Kind::Commit {
            if self.records_in_open_commit == 0 {
                self.open_commit_first = offset;
            }
            self.records_in_open_commit += 1;
        }
        offset
    }

    /// Seals the current segment and starts the next one (whose space already exists).
    fn advance<M: Medium>(&mut self, medium: &M, dirty: &DirtyIndex) {
        let next = self.segment_index + 1;
        assert!((next + 1) * SEGMENT_BYTES <= medium.mapped_bytes(), "capacity not ensured");
        self.place(medium, dirty, Kind::Seal, &[], &pair_payload(next, self.generation + 1));
        self.segment_index = next;
        self.generation += 1;
        self.offset = segment_start(next);
        self.write_segment_head(medium, dirty);
    }

    /// Writes the SegmentHead record at the start of the current segment.
    pub(crate) fn write_segment_head<M: Medium>(&mut self, medium: &M, dirty: &DirtyIndex) {
        assert_eq!(self.offset, segment_start(self.segment_index));
        self.place(medium, dirty, Kind::SegmentHead, &[], &pair_payload(self.segment_index, self.store_id));
    }

    /// Appends the Commit record closing the open commit; returns its sequence number.
    pub(crate) fn close_commit<M: Medium>(&mut self, medium: &M, dirty: &DirtyIndex) -> u64 {
        assert!(self.records_in_open_commit > 0, "a commit needs records");
        // Advance first when the Commit record does not fit: the Seal and SegmentHead that the
        // advance writes belong to this commit and must be in its count.
        if self.offset + PAIR_RECORD_BYTES > segment_limit(self.segment_index) {
            self.advance(medium, dirty);
        }
        let seq = self.open_commit_seq;
        let payload = pair_payload(self.records_in_open_commit, self.open_commit_first);
        self.append(medium, dirty, Kind::Commit, &[], &payload);
        self.open_commit_seq += 1;
        self.records_in_open_commit = 0;
        seq
    }
}
