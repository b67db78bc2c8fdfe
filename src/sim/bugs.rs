//! Deliberate commit-protocol bugs (feature `planted-bugs`): the proof that the crash checker
//! can fail. Each replaces the engine's writeback of a commit.

use crate::engine::Engine;
use crate::error::Error;
use crate::log::record::PAIR_RECORD_BYTES;
use crate::media::{Medium, Run};

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
}

impl PlantedBug {
    /// All bugs, with their command-line names.
    pub const ALL: [(&'static str, PlantedBug); 4] = [
        ("skip-data-flush", PlantedBug::SkipDataFlush),
        ("fence-before-flush", PlantedBug::FenceBeforeFlush),
        ("commit-before-data", PlantedBug::CommitBeforeData),
        ("free-before-copies-durable", PlantedBug::FreeBeforeCopiesDurable),
    ];

    /// Whether the bug lives in the cleaner (the workload must clean for it to show).
    pub fn needs_cleaning(&self) -> bool {
        *self == PlantedBug::FreeBeforeCopiesDurable
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

/// The buggy writeback of a commit whose Commit record ends at `commit_end`.
pub(crate) fn writeback<M: Medium>(engine: &Engine<M>, bug: PlantedBug, commit_end: u64) -> Result<(), Error> {
    let runs = engine.dirty.writeback(engine.medium.granularity());
    if runs.is_empty() {
        return Ok(());
    }
    let unit = if engine.medium.granularity() == crate::media::Granularity::Line { 64 } else { 4096 };
    let record = Run { offset: (commit_end - PAIR_RECORD_BYTES) / unit * unit, len: 0 };
    let record = Run { len: commit_end.div_ceil(unit) * unit - record.offset, ..record };
    let (commit_part, data_part): (Vec<Run>, Vec<Run>) = split(&runs, record);
    let result = match bug {
        PlantedBug::SkipDataFlush => engine.medium.flush(&commit_part).and_then(|()| engine.medium.fence()),
        PlantedBug::FenceBeforeFlush => engine.medium.fence().and_then(|()| engine.medium.flush(&runs)),
        PlantedBug::CommitBeforeData => {
            for run in &data_part {
                engine.dirty.mark(run.offset, run.len);
            }
            engine.medium.flush(&commit_part).and_then(|()| engine.medium.fence())
        }
        // Planted in the cleaner (`cleaner.rs`); the commit itself is correct.
        PlantedBug::FreeBeforeCopiesDurable => engine.medium.flush(&runs).and_then(|()| engine.medium.fence()),
    };
    engine.poison_on_error(result)
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
