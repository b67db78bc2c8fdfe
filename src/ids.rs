//! The log's quantities, each its own type so that none is passed where another is meant: a
//! segment's index in the file, a segment's generation, a commit's sequence number. (Byte
//! offsets stay `u64`: they are the one quantity every layer shares with the medium.) See
//! docs/format.md for what each means on the media.

use crate::layout::SEGMENT_BYTES;

/// A segment's place in the file: segment `i` covers bytes `[i × 2 MiB, (i + 1) × 2 MiB)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SegmentIndex(pub(crate) u64);

impl SegmentIndex {
    /// The segment holding byte `offset`.
    pub(crate) fn of_offset(offset: u64) -> SegmentIndex {
        SegmentIndex(offset / SEGMENT_BYTES)
    }

    /// First byte of the segment (its first record is later in segment 0: see `segment_start`).
    pub(crate) fn file_offset(self) -> u64 {
        self.0 * SEGMENT_BYTES
    }

    /// One past the segment's last byte.
    pub(crate) fn end_offset(self) -> u64 {
        (self.0 + 1) * SEGMENT_BYTES
    }

    /// As an index into per-segment tables.
    pub(crate) fn as_usize(self) -> usize {
        usize::try_from(self.0).expect("segment index fits in usize")
    }
}

impl std::fmt::Display for SegmentIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// A segment's generation: `(open_epoch << 32) | counter`, unique for the life of the file and
/// increasing in the order segments are started (log order). Every record carries its
/// segment's generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Generation(pub(crate) u64);

/// Bits of a generation below the open epoch.
const EPOCH_SHIFT: u32 = 32;

impl Generation {
    /// The generation of the `counter`th segment started by the open of epoch `epoch`.
    pub(crate) fn new(epoch: u64, counter: u64) -> Generation {
        assert!(counter > 0 && counter < 1 << EPOCH_SHIFT, "2^32 segments started in one open");
        assert!(epoch < 1 << EPOCH_SHIFT, "the open epoch is a u32");
        Generation((epoch << EPOCH_SHIFT) | counter)
    }
}

/// A commit's sequence number: commits are numbered 0, 1, 2, … with no gap; every record
/// carries the sequence of the commit it belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CommitSequence(pub(crate) u64);

impl CommitSequence {
    /// The commit after this one.
    pub(crate) fn next(self) -> CommitSequence {
        CommitSequence(self.0.checked_add(1).expect("2^64 commits"))
    }
}

impl std::fmt::Display for CommitSequence {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}
