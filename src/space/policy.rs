//! When to clean and which segment: cost-benefit selection (Rosenblum and Ousterhout, LFS).
//!
//! Cleaning a segment of utilization `u` (live bytes / usable bytes) reads it and rewrites
//! `u` of it to gain `1 − u` of a segment. Its *benefit over cost* is
//! `(1 − u) · age / (1 + u)`, where `age` is how many live segments were written after it: old
//! data has had time to die and is likely to stay put once moved, so an old segment at 75 % is
//! worth more than a young one at 60 % whose remaining live data is still being overwritten.
//! Segments above [`UTILIZATION_MAX`] are never taken (moving them gains almost nothing).
//!
//! The cleaner works while the space in use exceeds the target: `segments_live · 2 MiB >
//! max_space_amplification · live_bytes` (and the log holds more than [`SEGMENTS_MIN`] segments).
//! Writers hold the whole file to the budget ([`budget_bytes`]): the target plus a fixed
//! overhead.

use super::Space;
use crate::ids::{Generation, SegmentIndex};
use crate::layout::{SEGMENT_BYTES, SEGMENT_USABLE_BYTES};

/// A segment chosen for cleaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Victim {
    /// Which segment.
    pub(crate) index: SegmentIndex,
    /// Its generation (older than the boundary it was selected under).
    pub(crate) generation: Generation,
    /// Its live bytes when selected, needed tombstones included (what the copies will need).
    pub(crate) live_bytes: u64,
    /// The largest shadow of its tombstones, and whether they may still hide an older record
    /// (another live segment at or below that shadow). Decided under the writer mutex at
    /// selection, and stable: a segment started later has a newer generation than any shadow.
    pub(crate) tombstone_shadow: Option<Generation>,
    pub(crate) tombstones_needed: bool,
}

/// Utilization above which a segment is not worth cleaning.
pub(crate) const UTILIZATION_MAX: f64 = 0.95;
/// The log is never cleaned below this many live segments.
pub(crate) const SEGMENTS_MIN: u64 = 3;

/// Segments of the space budget beyond `max_space_amplification` × the live data: the head's,
/// the cleaner's reserve, one segment whose Free record waits for a commit and one whose zeroed
/// head does (docs/design.md, "Writers and space").
pub(crate) const BUDGET_SEGMENTS: u64 = 4;

/// The space budget: `max_space_amplification · live + 4 segments`. With a background cleaner,
/// a writer never grows the file past it while anything can be reclaimed.
pub(crate) fn budget_bytes(space: &Space, max_space_amplification: f64) -> u64 {
    let (live, _, _) = space.bytes();
    // Checkpoint segments are outside the log's amplification: the durable checkpoint, and the
    // one being written, are added as they are.
    let checkpoint = space.checkpoint_count() * SEGMENT_BYTES;
    (max_space_amplification * live as f64) as u64 + BUDGET_SEGMENTS * SEGMENT_BYTES + checkpoint
}

/// Whether cleaning could give space back: the log holds dead or tombstone bytes above 1/16 of
/// the live. Below that the segments in use are at most 1.07 × the live data, well inside the
/// budget, and a writer grows the file rather than clean.
pub(crate) fn reclaimable(space: &Space) -> bool {
    let (live, tombstone, dead) = space.bytes();
    dead + tombstone > live / 16
}

/// Free segments worth keeping unpunched: those the space budget leaves beside the segments in
/// use (writers would take them again soon, and refilling a punched segment costs an
/// allocation and a population), and never fewer than `minimum`.
pub(crate) fn free_segments_kept(space: &Space, max_space_amplification: f64, minimum: u64) -> u64 {
    let counters = space.counters();
    let budget_segments = budget_bytes(space, max_space_amplification) / SEGMENT_BYTES;
    let in_use = counters.segments_live + counters.segments_freeing + counters.segments_retired;
    budget_segments.saturating_sub(in_use).max(minimum)
}

/// Whether the space in use exceeds the target amplification.
pub(crate) fn over_target(space: &Space, max_space_amplification: f64) -> bool {
    let counters = space.counters();
    let used = (counters.segments_live * SEGMENT_BYTES) as f64;
    counters.segments_live > SEGMENTS_MIN && used > max_space_amplification * counters.live_bytes as f64
}

/// The best segment to clean among live segments older than `boundary_generation` (whose
/// records are all committed), or `None` when none is worth it.
pub(crate) fn select(space: &Space, boundary_generation: Generation) -> Option<Victim> {
    let live = space.live_segments();
    let newest = live.len();
    let usable = SEGMENT_USABLE_BYTES as f64;
    live.iter()
        .enumerate()
        .filter(|(_, (_, segment))| segment.generation < boundary_generation)
        .filter_map(|(rank, &(index, segment))| {
            // The oldest other live segment: its generation decides whether tombstones still hide
            // anything (`Space::tombstones_needed`, in O(1) here since `live` is in log order).
            let oldest_other = live.get(usize::from(rank == 0)).map(|(_, other)| other.generation);
            let tombstones_needed =
                segment.tombstone_shadow.is_some_and(|shadow| oldest_other.is_some_and(|oldest| oldest <= shadow));
            debug_assert_eq!(tombstones_needed, space.tombstones_needed(index));
            let kept_bytes = segment.live_bytes + if tombstones_needed { segment.tombstone_bytes } else { 0 };
            let utilization = (kept_bytes as f64 / usable).min(1.0);
            let age = (newest - rank) as f64;
            let victim = Victim {
                index,
                generation: segment.generation,
                live_bytes: kept_bytes,
                tombstone_shadow: segment.tombstone_shadow,
                tombstones_needed,
            };
            (utilization <= UTILIZATION_MAX).then_some((score(utilization, age), rank, victim))
        })
        // Highest score; on a tie the oldest (lowest rank), so the choice is deterministic.
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, victim)| victim)
}

fn score(utilization: f64, age: f64) -> f64 {
    (1.0 - utilization) * age / (1.0 + utilization)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_segment_beats_a_slightly_emptier_young_one() {
        assert!(score(0.75, 10.0) > score(0.6, 2.0));
        assert!(score(0.1, 1.0) > score(0.9, 1.0));
    }

    #[test]
    fn only_segments_below_the_boundary_and_the_utilization_cap_are_taken() {
        let mut space = Space::new(4, 1);
        let mut generations = Vec::new();
        for _ in 0..3 {
            let (index, generation) = space.take_free();
            generations.push(generation);
            let start = index.file_offset() + 4096;
            space.written(start, 1 << 20, crate::space::RecordClass::Live);
            space.written(start + (1 << 20), 64, crate::space::RecordClass::Dead);
        }
        // Segment 0 almost full of live data; segment 1 half dead.
        space.written(4096 + (1 << 20) + 64, 900_000, crate::space::RecordClass::Live);
        space.died(SEGMENT_BYTES + 4096, 1 << 19);
        assert_eq!(select(&space, generations[2]).map(|victim| victim.index), Some(SegmentIndex(1)));
        assert_eq!(select(&space, generations[0]), None);
    }
}
