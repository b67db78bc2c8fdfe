//! Deliberate protocol bugs (feature `planted-bugs`): the proof that the crash checker
//! can fail. They plug into the engine's protocol seam ([`ProtocolHooks`]); the engine names
//! none of them.

use crate::engine::hooks::{HookIo, ProtocolHooks};
use crate::error::Error;
use crate::media::Run;

/// A planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// Flush only the unit(s) holding the Commit record, never the data records before it.
    SkipDataFlush,
    /// Fence before flushing: the flushes are not ordered before the acknowledgement (matters
    /// under ADR, where a flush alone guarantees nothing).
    FenceBeforeFlush,
    /// Make the Commit record durable and acknowledge, leaving the data records for the next
    /// commit's writeback.
    CommitBeforeData,
    /// The cleaner zeroes a cleaned segment's head durably before the copies of its live records
    /// (and its Free record) are durable: a crash in between loses them.
    FreeBeforeCopiesDurable,
    /// The cleaner drops every tombstone of the segment it cleans, even while an older segment
    /// still holds a put it hides: after the next reopen that value is back.
    DropTombstoneEarly,
    /// A checkpoint says it names records only through the last commit durable when it began,
    /// though its export saw records of the commit still open: recovery uses it before that
    /// commit is durable, and a key overwritten in that commit loses its durable value.
    IndexCheckpointAheadOfLog,
    /// A retired segment is reused before its zeroed head is durable: its new head and records go
    /// out in the same writeback as the zeroing, and a crash image keeping a new record page but
    /// not the head's page brings the old head back over new records.
    ReuseBeforeHeadDurable,
    /// Versions kept for open snapshots do not pin their segments: the cleaner frees and the
    /// log reuses a segment a held snapshot still reads, and the snapshot reads other bytes.
    /// Not a crash bug: the workload's held snapshots (read back whole) catch it.
    UnpinnedVersions,
}

impl PlantedBug {
    /// All bugs, with their command-line names.
    pub const ALL: [(&'static str, PlantedBug); 8] = [
        ("skip-data-flush", PlantedBug::SkipDataFlush),
        ("fence-before-flush", PlantedBug::FenceBeforeFlush),
        ("commit-before-data", PlantedBug::CommitBeforeData),
        ("free-before-copies-durable", PlantedBug::FreeBeforeCopiesDurable),
        ("drop-tombstone-early", PlantedBug::DropTombstoneEarly),
        ("index-checkpoint-ahead-of-log", PlantedBug::IndexCheckpointAheadOfLog),
        ("reuse-before-head-durable", PlantedBug::ReuseBeforeHeadDurable),
        ("unpinned-versions", PlantedBug::UnpinnedVersions),
    ];

    /// Whether the bug lives in the cleaner (the workload must clean for it to show).
    pub fn needs_cleaning(&self) -> bool {
        matches!(
            self,
            PlantedBug::FreeBeforeCopiesDurable
                | PlantedBug::DropTombstoneEarly
                | PlantedBug::ReuseBeforeHeadDurable
                | PlantedBug::UnpinnedVersions
        )
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.iter().find(|(known, _)| *known == name).map(|(_, bug)| *bug)
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        PlantedBug::ALL.iter().find(|(_, bug)| bug == self).map(|(name, _)| *name).expect("listed")
    }
}

/// The planted bugs as an implementation of the engine's protocol seam: open a store with
/// `Db::open_with_hooks(medium, options, PlantedBugs::new(bug))`. With `None` it follows the
/// protocol (and still goes through the seam, so campaigns with and without a bug run the same
/// code).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    bug: Option<PlantedBug>,
}

impl PlantedBugs {
    /// Plants `bug` (none: the protocol as designed).
    pub fn new(bug: Option<PlantedBug>) -> PlantedBugs {
        PlantedBugs { bug }
    }

    /// The bug planted.
    pub fn bug(&self) -> Option<PlantedBug> {
        self.bug
    }
}

impl ProtocolHooks for PlantedBugs {
    fn commit_writeback(&self, io: &dyn HookIo, runs: &[Run], commit_record: Run) -> Result<(), Error> {
        let (commit_part, data_part) = split(runs, commit_record);
        match self.bug {
            Some(PlantedBug::SkipDataFlush) => io.flush(&commit_part).and_then(|()| io.fence()),
            Some(PlantedBug::FenceBeforeFlush) => io.fence().and_then(|()| io.flush(runs)),
            Some(PlantedBug::CommitBeforeData) => {
                for run in data_part {
                    io.defer(run);
                }
                io.flush(&commit_part).and_then(|()| io.fence())
            }
            // Planted in the cleaner, the checkpoint, segment reuse or the version history; the
            // commit itself is correct.
            Some(
                PlantedBug::FreeBeforeCopiesDurable
                | PlantedBug::DropTombstoneEarly
                | PlantedBug::IndexCheckpointAheadOfLog
                | PlantedBug::ReuseBeforeHeadDurable
                | PlantedBug::UnpinnedVersions,
            )
            | None => io.flush(runs).and_then(|()| io.fence()),
        }
    }

    fn checkpoint_names_through(&self, names_through: u64, durable_through: u64) -> u64 {
        if self.bug == Some(PlantedBug::IndexCheckpointAheadOfLog) {
            durable_through
        } else {
            names_through
        }
    }

    fn tombstones_kept(&self, needed: bool) -> bool {
        needed && self.bug != Some(PlantedBug::DropTombstoneEarly)
    }

    fn versions_pinned(&self) -> bool {
        self.bug != Some(PlantedBug::UnpinnedVersions)
    }

    fn reuse_before_head_durable(&self) -> bool {
        self.bug == Some(PlantedBug::ReuseBeforeHeadDurable)
    }

    fn segment_freeing(&self, io: &dyn HookIo, segment_start: u64) -> Result<(), Error> {
        if self.bug != Some(PlantedBug::FreeBeforeCopiesDurable) {
            return Ok(());
        }
        // The segment's head is zeroed and made durable before its copies (and its Free record)
        // are: a crash in between loses the live records it held.
        let run = io.zero_segment_head(segment_start);
        io.flush(&[run]).and_then(|()| io.fence())
    }
}

/// Splits `runs` into the parts inside `record` and the parts before or after it.
fn split(runs: &[Run], record: Run) -> (Vec<Run>, Vec<Run>) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let keep = |list: &mut Vec<Run>, start: u64, end: u64| {
        if start < end {
            list.push(Run { offset: start, len: end - start });
        }
    };
    for run in runs {
        keep(&mut outside, run.offset, run.end().min(record.offset));
        keep(&mut inside, run.offset.max(record.offset), run.end().min(record.end()));
        keep(&mut outside, run.offset.max(record.end()), run.end());
    }
    (inside, outside)
}
