//! The one walk over a segment's records. Recovery's validation, recovery's replay and the
//! cleaner's selection all step through a segment with a [`Cursor`]: one set of bounds and one
//! set of stop rules, whatever the caller does with each record.
//!
//! The rules (docs/format.md, "Segments"):
//! - records start at 8-byte boundaries after the segment's head and are at least 32 bytes, so a
//!   walk takes at most `SEGMENT_BYTES / 8` steps;
//! - every record but the Seal ends at or before the segment's limit (its last 48 bytes are kept
//!   for the Seal), so no record starts after the limit;
//! - a Seal ends the segment: nothing after it is read;
//! - the caller gives a bound (the end of what it wants to read) and the way it reads a record:
//!   verified by checksum (recovery's first pass), or decoded from a header it already trusts.
//!
//! The caller still judges each record (sequence, generation, counts): a record it rejects is
//! where its walk stops, at [`Step::offset`].

use super::record::{Header, Kind, PAIR_RECORD_BYTES};
use super::{segment_limit, segment_start};
use crate::ids::SegmentIndex;
use crate::layout::{RECORD_ALIGN, SEGMENT_BYTES};

/// Steps a walk over one segment can take at most: every record is at least 8 bytes apart.
pub(crate) const STEPS_PER_SEGMENT_MAX: u64 = SEGMENT_BYTES / RECORD_ALIGN;

/// One record the cursor stepped over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Where the record starts.
    pub(crate) offset: u64,
    /// Its header.
    pub(crate) header: Header,
    /// The two u64 of a Commit, SegmentHead, Seal or Free payload (`(0, 0)` for others, or when
    /// the reader did not read the payload).
    pub(crate) pair: (u64, u64),
}

impl Step {
    /// One past the record's last byte.
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.header.record_bytes()
    }
}

/// Why a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The record before was the segment's Seal.
    Sealed,
    /// The cursor reached the bound the caller gave.
    Bound,
    /// No record can start here: past the segment's limit, with no Seal before it.
    EndOfSegment,
    /// The bytes here are not a whole valid record (a torn or zeroed tail, or damage).
    Invalid,
    /// A record other than a Seal that would cross the segment's limit.
    PastLimit,
}

/// A position in one segment's records; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    segment: SegmentIndex,
    offset: u64,
    bound: u64,
    sealed: bool,
    steps: u64,
}

impl Cursor {
    /// A cursor on the first record after segment `segment`'s head, reading up to `bound`.
    pub(crate) fn after_head(segment: SegmentIndex, bound: u64) -> Cursor {
        Cursor::at(segment, segment_start(segment) + PAIR_RECORD_BYTES, bound)
    }

    /// A cursor at `offset` (a record boundary) of segment `segment`, reading up to `bound`.
    pub(crate) fn at(segment: SegmentIndex, offset: u64, bound: u64) -> Cursor {
        assert!(offset >= segment_start(segment), "a cursor starts inside its segment");
        assert!(offset % RECORD_ALIGN == 0, "records start at 8-byte boundaries");
        assert!(bound <= segment.end_offset(), "a cursor reads one segment");
        Cursor { segment, offset, bound, sealed: false, steps: 0 }
    }

    /// Where the next record would start.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next record with `read` (given its offset and the segment's end; `None` for
    /// bytes that are not a valid record) and moves past it, or says why the walk ends.
    pub(crate) fn next(&mut self, read: impl FnOnce(u64, u64) -> Option<(Header, (u64, u64))>) -> Result<Step, Stop> {
        if self.sealed {
            return Err(Stop::Sealed);
        }
        if self.offset >= self.bound {
            return Err(Stop::Bound);
        }
        if self.offset > segment_limit(self.segment) {
            return Err(Stop::EndOfSegment);
        }
        self.steps += 1;
        assert!(self.steps <= STEPS_PER_SEGMENT_MAX, "a walk ends within its segment");
        let segment_end = self.segment.end_offset();
        let (header, pair) = read(self.offset, segment_end).ok_or(Stop::Invalid)?;
        let step = Step { offset: self.offset, header, pair };
        if header.kind != Kind::Seal && step.end() > segment_limit(self.segment) {
            return Err(Stop::PastLimit);
        }
        assert!(step.end() <= segment_end, "a record read lies inside its segment");
        self.offset = step.end();
        self.sealed = header.kind == Kind::Seal;
        Ok(step)
    }
}
