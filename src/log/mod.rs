//! The record log: where records live in the file, and the single writer that appends them.
//!
//! The file is a sequence of 2 MiB segments. Segment 0 starts after the superblock page; every
//! segment begins with a SegmentHead record and, once full, ends with a Seal record naming the
//! next segment and its generation. A commit is the run of records carrying one `commit_seq`,
//! closed by a Commit record that counts them. Segments are taken from the free list of [`Space`] (lowest index
//! first), so the log's segments are in generation order, not file order. See docs/format.md and
//! docs/design.md.

pub(crate) mod access;
pub(crate) mod cursor;
pub(crate) mod record;
pub(crate) mod superblock;

use crate::dirty::DirtyIndex;
use crate::error::Error;
use crate::ids::{CommitSequence, Generation, SegmentIndex};
use crate::layout::{SEGMENT_BYTES, SUPERBLOCK_AREA_BYTES};
use crate::media::Medium;
use crate::space::{RecordClass, Space};
use record::{pair_payload, Kind, PAIR_RECORD_BYTES};

/// First byte of segment `index` usable for records.
pub(crate) fn segment_start(index: SegmentIndex) -> u64 {
    if index == SegmentIndex(0) {
        SUPERBLOCK_AREA_BYTES
    } else {
        index.file_offset()
    }
}

/// Records other than the Seal must end at or before this offset of segment `index`.
pub(crate) fn segment_limit(index: SegmentIndex) -> u64 {
    index.end_offset() - PAIR_RECORD_BYTES
}

/// The write head. Lives inside the engine's writer mutex: whoever holds `&mut Head` is the only
/// thread that writes records.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// The segment records are appended to.
    pub(crate) segment_index: SegmentIndex,
    /// Its generation (every record appended carries it).
    pub(crate) generation: Generation,
    /// Where the next record goes: every byte from here to the segment's end is unpublished.
    pub(crate) offset: u64,
    /// The commit the next records belong to.
    pub(crate) open_commit_seq: CommitSequence,
    /// Records appended to the open commit (every kind but Commit): its Commit record's count.
    pub(crate) records_in_open_commit: u64,
    /// Live segments (the count every Commit record carries; recovery checks it).
    pub(crate) live_segments: u64,
    /// The store id every SegmentHead carries (the uuid's first 8 bytes).
    pub(crate) store_id: u64,
}

impl Head {
    /// New segments that appending records of `sizes` (in order, plus the closing Commit) needs.
    /// Which free segment comes next is not known here, so every new segment is counted as
    /// segment 0, the smallest (it can be reused too): an upper bound.
    pub(crate) fn segments_needed(&self, sizes: impl Iterator<Item = u64>) -> u64 {
        let (mut offset, mut limit, mut needed) = (self.offset, segment_limit(self.segment_index), 0);
        for size in sizes.chain(std::iter::once(PAIR_RECORD_BYTES)) {
            if offset + size > limit {
                needed += 1;
                offset = segment_start(SegmentIndex(0)) + PAIR_RECORD_BYTES;
                limit = segment_limit(SegmentIndex(0));
                assert!(offset + size <= limit, "record larger than a segment");
            }
            offset += size;
        }
        needed
    }

    /// Makes sure `segments` free segments (plus `reserve` more, kept for the cleaner) exist and
    /// are backed by blocks: grows the file, and refills punched segments about to be used.
    /// `cleaner_running`: a background cleaner supplies space, so growth under an update load
    /// should not run ahead. Growth ahead never takes the file past `ahead_limit` bytes (the
    /// space budget); growth by what is missing may.
    pub(crate) fn ensure_capacity<M: Medium>(
        &self,
        medium: &M,
        space: &mut Space,
        segments: u64,
        reserve: u64,
        cleaner_running: bool,
        ahead_limit: u64,
    ) -> Result<(), Error> {
        let wanted = segments + reserve;
        if space.free_count() < wanted {
            let mapped = medium.mapped_bytes();
            let shortfall = (wanted - space.free_count()) * SEGMENT_BYTES;
            // Grow ahead by an eighth of the file (1 to 32 segments, 64 MiB) to amortise growth,
            // unless a background cleaner is running and the log already holds dead data: then
            // space should come from cleaning, and growing only by what is missing keeps the
            // file near its bound while the cleaner catches up.
            let counters = space.counters();
            let ahead = !cleaner_running || counters.dead_bytes <= counters.live_bytes / 16;
            let step = if ahead { (mapped / 8 / SEGMENT_BYTES).clamp(1, 32) * SEGMENT_BYTES } else { shortfall };
            let step = step.min((ahead_limit / SEGMENT_BYTES * SEGMENT_BYTES).saturating_sub(mapped));
            let grown = match medium.grow(mapped + shortfall.max(step)) {
                Err(Error::NoSpace) if step > shortfall => medium.grow(mapped + shortfall),
                other => other,
            };
            grown?;
            space.grown(medium.mapped_bytes() / SEGMENT_BYTES);
        }
        let punched: Vec<SegmentIndex> =
            space.next_free(segments).filter(|(_, punched)| *punched).map(|(index, _)| index).collect();
        for index in punched {
            medium.refill(index.file_offset(), SEGMENT_BYTES)?;
            space.refilled(index);
        }
        Ok(())
    }

    /// Appends one record other than a Delete (capacity ensured by the caller), advancing to the
    /// next segment when it does not fit. Returns the record's offset.
    pub(crate) fn append<M: Medium>(&mut self, log: &mut LogSpace<'_, M>, kind: Kind, key: &[u8], value: &[u8]) -> u64 {
        assert_ne!(kind, Kind::Delete, "a Delete is appended with its shadow");
        let class = if kind == Kind::Put { RecordClass::Live } else { RecordClass::Dead };
        self.append_as(log, kind, key, value, class)
    }

    /// Appends a Delete of `key` whose shadow is `shadow` (see [`crate::space`]).
    pub(crate) fn append_tombstone<M: Medium>(
        &mut self,
        log: &mut LogSpace<'_, M>,
        key: &[u8],
        shadow: Option<Generation>,
    ) -> u64 {
        self.append_as(log, Kind::Delete, key, &[], RecordClass::Tombstone { shadow })
    }

    fn append_as<M: Medium>(
        &mut self,
        log: &mut LogSpace<'_, M>,
        kind: Kind,
        key: &[u8],
        value: &[u8],
        class: RecordClass,
    ) -> u64 {
        if self.offset + record::record_bytes(key.len(), value.len()) > segment_limit(self.segment_index) {
            self.advance(log);
        }
        self.place(log, kind, key, value, class)
    }

    /// Writes one record at the head, marks its bytes dirty, counts it in the open commit (every
    /// kind but Commit) and in its segment's usage as `class`, and moves the head past it.
    /// Returns its offset.
    fn place<M: Medium>(
        &mut self,
        log: &mut LogSpace<'_, M>,
        kind: Kind,
        key: &[u8],
        value: &[u8],
        class: RecordClass,
    ) -> u64 {
        let offset = self.offset;
        let size = record::record_bytes(key.len(), value.len());
        access::append_record(log.medium, offset, kind, key, value, self.open_commit_seq, self.generation);
        log.dirty.mark(offset, size);
        log.space.written(offset, size, class);
        self.offset += size;
        if kind != Kind::Commit {
            self.records_in_open_commit += 1;
        }
        offset
    }

    /// Seals the current segment and starts the next free one (ensured by the caller).
    fn advance<M: Medium>(&mut self, log: &mut LogSpace<'_, M>) {
        let (next, generation) = log.space.take_free();
        assert!(next.end_offset() <= log.medium.mapped_bytes(), "capacity not ensured");
        assert!(generation > self.generation, "generations increase in log order");
        self.place(log, Kind::Seal, &[], &pair_payload(next.0, generation.0), RecordClass::Dead);
        self.segment_index = next;
        self.generation = generation;
        self.offset = segment_start(next);
        self.live_segments += 1;
        self.write_segment_head(log);
    }

    /// Writes the SegmentHead record at the start of the current segment.
    pub(crate) fn write_segment_head<M: Medium>(&mut self, log: &mut LogSpace<'_, M>) {
        assert_eq!(self.offset, segment_start(self.segment_index));
        let payload = pair_payload(self.segment_index.0, self.store_id);
        self.place(log, Kind::SegmentHead, &[], &payload, RecordClass::Dead);
    }

    /// Appends the Free record giving back segment `index` of `generation` (cleaned).
    pub(crate) fn append_free<M: Medium>(
        &mut self,
        log: &mut LogSpace<'_, M>,
        index: SegmentIndex,
        generation: Generation,
    ) {
        assert_ne!(index, self.segment_index, "the head segment is never freed");
        assert!(generation < self.generation, "a freed segment is older than the head");
        self.append(log, Kind::Free, &[], &pair_payload(index.0, generation.0));
        self.live_segments -= 1;
    }

    /// Appends the Commit record closing the open commit; returns its sequence number.
    pub(crate) fn close_commit<M: Medium>(&mut self, log: &mut LogSpace<'_, M>) -> CommitSequence {
        assert!(self.records_in_open_commit > 0, "a commit needs records");
        // Advance first when the Commit record does not fit: the Seal and SegmentHead that the
        // advance writes belong to this commit and must be in its count.
        if self.offset + PAIR_RECORD_BYTES > segment_limit(self.segment_index) {
            self.advance(log);
        }
        let seq = self.open_commit_seq;
        let payload = pair_payload(self.records_in_open_commit, self.live_segments);
        self.append(log, Kind::Commit, &[], &payload);
        self.open_commit_seq = self.open_commit_seq.next();
        self.records_in_open_commit = 0;
        seq
    }
}

/// What appending touches besides the head: the medium, the dirty index, the space table.
pub(crate) struct LogSpace<'a, M: Medium> {
    pub(crate) medium: &'a M,
    pub(crate) dirty: &'a DirtyIndex,
    pub(crate) space: &'a mut Space,
}
