//! Space: which segments hold the log, which are free, how much of each is live, and which one
//! the cleaner should take next.
//!
//! Every mapped segment is in one state:
//! - `Live`: holds records of the log (has a valid SegmentHead of its `generation`);
//! - `Freeing`: cleaned (its live records were copied, its Free record appended) but the commit
//!   holding that Free record is not durable yet, so recovery may still need it;
//! - `Retired`: given back (its Free record is durable, its head is zeroed) but maybe still
//!   read: waiting for its zero-copy pins to drop (see [`readers`]);
//! - `Free`: reusable; `punched` when its blocks were handed back to the filesystem;
//! - `Checkpoint`: holds a part of an index checkpoint (the durable one, or one being written);
//!   not in the log, never cleaned, free again once a newer checkpoint is durable.
//!
//! A retired segment's zeroed head becomes durable with the next commit; until then it is on
//! the `zeroing` list and is neither punched (a lost punch must bring back a zeroed head) nor
//! reused (its old head must be durably gone before new records overwrite what it describes).
//!
//! Accounting (kept exact across recovery, which rebuilds it by the same rules): a Put record is
//! live while the index points at it; a Delete record (tombstone) counts as tombstone bytes
//! until its segment is cleaned; every other record (segment head, seal, commit, free) is dead
//! from the start. Live, tombstone and dead bytes of a segment sum to the bytes its records
//! occupy.
//!
//! Tombstones (docs/design.md, "Tombstones"): a Delete hides the older records of its key. Every
//! record of a key written before the Delete lies in a segment no newer than the one holding the
//! Put it deleted, whose generation is the tombstone's *shadow*. A segment keeps the largest
//! shadow of its tombstones. Its tombstones are garbage once no other live segment has a
//! generation at or below that shadow: the cleaner then drops them instead of copying them
//! (and a segment whose Free record is appended no longer counts: that record precedes, in the
//! log, the Free record of the segment whose tombstones are dropped, so it is durable first).
//!
//! Generations: `(open_epoch << 32) | counter`. The epoch is bumped durably at every open, the
//! counter grows with every segment started by this open, so a generation is never used twice
//! and a stale record left in a reused segment never validates under its new head.
//!
//! Everything here is plain data guarded by the engine's writer mutex.

pub(crate) mod policy;
pub(crate) mod readers;

use std::collections::BTreeSet;

use crate::ids::{Generation, SegmentIndex};

/// What a record counts as in its segment's accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordClass {
    /// A Put the index points at.
    Live,
    /// A Delete; `shadow`: the generation of the segment holding the Put it deleted (`None`: the
    /// key was absent, so it hides nothing another tombstone does not).
    Tombstone { shadow: Option<Generation> },
    /// Bookkeeping (segment head, seal, commit, free).
    Dead,
}

/// What one segment is used for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Live,
    Freeing,
    Retired,
    Free { punched: bool },
    Checkpoint,
}

/// One segment's entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub(crate) state: State,
    pub(crate) generation: Generation,
    pub(crate) live_bytes: u64,
    /// Bytes of its Delete records.
    pub(crate) tombstone_bytes: u64,
    pub(crate) dead_bytes: u64,
    /// The largest shadow of its tombstones (see the module docs); `None`: none hides anything.
    pub(crate) tombstone_shadow: Option<Generation>,
    /// Freed by the cleaner in this open (its next use is a reuse).
    pub(crate) recycled: bool,
}

impl Segment {
    const FREE: Segment = Segment {
        state: State::Free { punched: false },
        generation: Generation(0),
        live_bytes: 0,
        tombstone_bytes: 0,
        dead_bytes: 0,
        tombstone_shadow: None,
        recycled: false,
    };
}

/// Per-segment usage, as reported by [`Db::segments`](crate::Db::segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentUsage {
    /// Segment number (file offset / 2 MiB).
    pub index: u64,
    /// Its generation (log order).
    pub generation: u64,
    /// Bytes of live records (the puts the index points at).
    pub live_bytes: u64,
    /// Bytes of Delete records (each may still hide an older put, until the segment is cleaned).
    pub tombstone_bytes: u64,
    /// Bytes of dead records (overwritten or deleted values, log bookkeeping).
    pub dead_bytes: u64,
}

/// Space counters for [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpaceCounters {
    pub(crate) live_bytes: u64,
    pub(crate) tombstone_bytes: u64,
    pub(crate) dead_bytes: u64,
    pub(crate) segments_live: u64,
    pub(crate) segments_free: u64,
    pub(crate) segments_retired: u64,
    pub(crate) segments_freeing: u64,
    pub(crate) segments_punched: u64,
    pub(crate) segments_reused_total: u64,
    pub(crate) segments_checkpoint: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Space {
    segments: Vec<Segment>,
    /// Free segments, lowest index reused first (deterministic).
    free: BTreeSet<SegmentIndex>,
    retired: Vec<SegmentIndex>,
    /// Retired or free segments whose zeroed head is not durable yet (until the next commit).
    zeroing: Vec<SegmentIndex>,
    /// Whether a retired segment may be reused while on `zeroing`: never in the protocol; only a
    /// test build's protocol hook lifts the rule (`ProtocolHooks::reuse_before_head_durable`).
    reuse_before_head_durable: bool,
    epoch: u64,
    counter: u64,
    live_bytes: u64,
    tombstone_bytes: u64,
    dead_bytes: u64,
    reused_total: u64,
    /// Segments in `State::Checkpoint`, kept beside the states: the space budget reads it on
    /// every write (counting the states would cost a pass over all segments per put).
    checkpoint_segments: u64,
}

impl Space {
    /// A space of `segment_count` free segments, allocating generations of `open_epoch`.
    pub(crate) fn new(segment_count: u64, open_epoch: u32) -> Space {
        Space {
            segments: vec![Segment::FREE; segment_count as usize],
            free: (0..segment_count).map(SegmentIndex).collect(),
            retired: Vec::new(),
            zeroing: Vec::new(),
            reuse_before_head_durable: false,
            epoch: u64::from(open_epoch),
            counter: 1,
            live_bytes: 0,
            tombstone_bytes: 0,
            dead_bytes: 0,
            reused_total: 0,
            checkpoint_segments: 0,
        }
    }

    /// A fresh generation for a segment being started.
    pub(crate) fn next_generation(&mut self) -> Generation {
        let generation = Generation::new(self.epoch, self.counter);
        self.counter += 1;
        generation
    }

    /// Segment `index`'s entry.
    fn segment(&mut self, index: SegmentIndex) -> &mut Segment {
        &mut self.segments[index.as_usize()]
    }

    /// Marks segment `index` live with `generation` (recovery, or a segment being started).
    pub(crate) fn set_live(&mut self, index: SegmentIndex, generation: Generation) {
        let was_free = self.free.remove(&index);
        let segment = &mut self.segments[index.as_usize()];
        assert!(was_free && matches!(segment.state, State::Free { punched: false }), "segment {index} not free");
        self.reused_total += u64::from(segment.recycled);
        *segment = Segment { state: State::Live, generation, ..Segment::FREE };
        self.reused_before_head_durable(index);
    }

    /// Checks that segment `index`, being reused, has a durable zeroed head; where the rule is
    /// lifted ([`Space::lift_reuse_rule`]) it leaves the `zeroing` list instead.
    fn reused_before_head_durable(&mut self, index: SegmentIndex) {
        assert!(
            self.reuse_before_head_durable || !self.zeroing.contains(&index),
            "segment {index} reused before its zeroed head is durable"
        );
        self.zeroing.retain(|&zeroing| zeroing != index);
    }

    /// Lets retired segments be reused before their zeroed head is durable (a test build's
    /// protocol hook only: see `ProtocolHooks::reuse_before_head_durable`).
    pub(crate) fn lift_reuse_rule(&mut self) {
        self.reuse_before_head_durable = true;
    }

    /// Takes the lowest free segment (backed by blocks: `Head::ensure_capacity` grew the file or
    /// refilled it) and makes it live.
    pub(crate) fn take_free(&mut self) -> (SegmentIndex, Generation) {
        let index = *self.free.first().expect("capacity ensured before appending");
        let generation = self.next_generation();
        self.set_live(index, generation);
        (index, generation)
    }

    /// Takes the lowest free segment (backed by blocks, see [`Space::take_free`]) for a part of
    /// a checkpoint being written.
    pub(crate) fn take_for_checkpoint(&mut self) -> SegmentIndex {
        let index = *self.free.first().expect("capacity ensured before taking a segment");
        self.set_checkpoint(index);
        index
    }

    /// Marks free segment `index` as holding a checkpoint part (recovery, or a part being written).
    pub(crate) fn set_checkpoint(&mut self, index: SegmentIndex) {
        let was_free = self.free.remove(&index);
        let segment = &mut self.segments[index.as_usize()];
        assert!(was_free && matches!(segment.state, State::Free { punched: false }), "segment {index} not free");
        *segment = Segment { state: State::Checkpoint, recycled: segment.recycled, ..Segment::FREE };
        self.checkpoint_segments += 1;
        self.reused_before_head_durable(index);
    }

    /// The checkpoint held by `indices` is superseded by a durable newer one (or was never
    /// finished): its segments are free. Nothing reads them: recovery only, at open.
    pub(crate) fn release_checkpoint(&mut self, indices: &[SegmentIndex]) {
        for &index in indices {
            let segment = self.segment(index);
            assert_eq!(segment.state, State::Checkpoint, "segment {index} holds no checkpoint");
            segment.state = State::Free { punched: false };
            self.free.insert(index);
            self.checkpoint_segments -= 1;
        }
    }

    /// Segments holding checkpoint parts.
    pub(crate) fn checkpoint_count(&self) -> u64 {
        debug_assert_eq!(
            self.checkpoint_segments,
            self.segments.iter().filter(|segment| segment.state == State::Checkpoint).count() as u64,
            "the count follows the states"
        );
        self.checkpoint_segments
    }

    /// Recovery: segment `index`, live, of a checkpoint's table: its records occupy `written`
    /// bytes, `tombstone` of them Deletes under `shadow`; all the rest counts as dead until
    /// [`Space::revived`] moves the bytes of the records the index keeps to live.
    pub(crate) fn set_live_from_table(
        &mut self,
        index: SegmentIndex,
        generation: Generation,
        written: u64,
        tombstone: u64,
        shadow: Option<Generation>,
    ) {
        assert!(tombstone <= written);
        self.set_live(index, generation);
        let start = index.file_offset();
        if tombstone > 0 {
            self.written(start, tombstone, RecordClass::Tombstone { shadow });
        }
        self.written(start, written - tombstone, RecordClass::Dead);
    }

    /// Recovery: the record of `bytes` at `offset`, counted dead, is one the index points at.
    /// False (and nothing changed) when its segment is not live or has fewer dead bytes: the
    /// checkpoint that says so is inconsistent.
    pub(crate) fn revived(&mut self, offset: u64, bytes: u64) -> bool {
        let segment = self.segment(SegmentIndex::of_offset(offset));
        if segment.state != State::Live || segment.dead_bytes < bytes {
            return false;
        }
        segment.dead_bytes -= bytes;
        segment.live_bytes += bytes;
        self.dead_bytes -= bytes;
        self.live_bytes += bytes;
        true
    }

    /// Counts `bytes` written into the segment at `offset`, as `class`.
    pub(crate) fn written(&mut self, offset: u64, bytes: u64, class: RecordClass) {
        let segment = self.segment(SegmentIndex::of_offset(offset));
        assert_eq!(segment.state, State::Live, "records are written into live segments only");
        match class {
            RecordClass::Live => {
                segment.live_bytes += bytes;
                self.live_bytes += bytes;
            }
            RecordClass::Tombstone { shadow } => {
                assert!(shadow.is_none_or(|shadow| shadow <= segment.generation), "a tombstone hides older records");
                segment.tombstone_bytes += bytes;
                segment.tombstone_shadow = segment.tombstone_shadow.max(shadow);
                self.tombstone_bytes += bytes;
            }
            RecordClass::Dead => {
                segment.dead_bytes += bytes;
                self.dead_bytes += bytes;
            }
        }
    }

    /// The generation of the live segment holding byte `offset` (a tombstone's shadow).
    pub(crate) fn generation_at(&self, offset: u64) -> Generation {
        let segment = &self.segments[SegmentIndex::of_offset(offset).as_usize()];
        assert_eq!(segment.state, State::Live, "a record the index points at is in a live segment");
        segment.generation
    }

    /// Whether the tombstones of segment `index` may still hide an older record: another live
    /// segment has a generation at or below their shadow (see the module docs).
    pub(crate) fn tombstones_needed(&self, index: SegmentIndex) -> bool {
        let Some(shadow) = self.segments[index.as_usize()].tombstone_shadow else { return false };
        self.segments.iter().enumerate().any(|(other, segment)| {
            other != index.as_usize() && segment.state == State::Live && segment.generation <= shadow
        })
    }

    /// Moves `bytes` of the segment at `offset` from live to dead (a record superseded).
    pub(crate) fn died(&mut self, offset: u64, bytes: u64) {
        let segment = self.segment(SegmentIndex::of_offset(offset));
        assert!(segment.live_bytes >= bytes, "segment at {offset} has fewer live bytes than a record it holds");
        segment.live_bytes -= bytes;
        segment.dead_bytes += bytes;
        self.live_bytes -= bytes;
        self.dead_bytes += bytes;
    }

    /// Segment `index` was cleaned and its Free record appended: nothing in it counts any more,
    /// and it is not selected again, but it holds its place until that record is durable.
    pub(crate) fn freeing(&mut self, index: SegmentIndex) {
        let segment = &mut self.segments[index.as_usize()];
        assert_eq!(segment.state, State::Live);
        self.live_bytes -= segment.live_bytes;
        self.tombstone_bytes -= segment.tombstone_bytes;
        self.dead_bytes -= segment.dead_bytes;
        *segment = Segment { state: State::Freeing, generation: segment.generation, recycled: true, ..Segment::FREE };
    }

    /// The Free record of segment `index` (freeing) is durable and its head was just zeroed:
    /// it is retired, and on the `zeroing` list until the next commit.
    pub(crate) fn retire(&mut self, index: SegmentIndex) {
        let segment = self.segment(index);
        assert_eq!(segment.state, State::Freeing);
        segment.state = State::Retired;
        self.retired.push(index);
        self.zeroing.push(index);
    }

    /// Whether a retired segment waits only for the next commit (its zeroed head to be durable)
    /// before it can be reused.
    pub(crate) fn retired_awaiting_commit(&self) -> bool {
        self.retired.iter().any(|index| self.zeroing.contains(index))
    }

    /// A commit's writeback ended: the heads zeroed before it began are durable.
    pub(crate) fn zeroing_durable(&mut self) {
        self.zeroing.clear();
    }

    /// Retired segments that nothing pins any more become free. Returns how many.
    pub(crate) fn release_retired(&mut self, pinned: impl Fn(SegmentIndex) -> bool) -> u64 {
        if self.retired.is_empty() {
            return 0;
        }
        let before = self.retired.len();
        // A segment whose zeroed head is not durable yet is not reused: its new head and records
        // would go out in the same writeback as the zeroing, and a crash that kept some of the
        // new pages but not the head's page would bring the old head back over new records. (Only
        // a test build's protocol hook lifts the rule, see `Space::lift_reuse_rule`.)
        let zeroing = if self.reuse_before_head_durable { &[][..] } else { &self.zeroing[..] };
        let (keep, release): (Vec<SegmentIndex>, Vec<SegmentIndex>) =
            self.retired.iter().partition(|&&index| pinned(index) || zeroing.contains(&index));
        for index in release {
            self.segment(index).state = State::Free { punched: false };
            self.free.insert(index);
        }
        self.retired = keep;
        (before - self.retired.len()) as u64
    }

    /// New segments appended to the file (`from` → `to` segments) are free.
    pub(crate) fn grown(&mut self, to_segments: u64) {
        let from = self.segments.len() as u64;
        assert!(to_segments >= from);
        self.segments.resize(to_segments as usize, Segment::FREE);
        self.free.extend((from..to_segments).map(SegmentIndex));
    }

    /// Free segments.
    pub(crate) fn free_count(&self) -> u64 {
        self.free.len() as u64
    }

    /// The `count` free segments the next advances will take, lowest first, with whether each
    /// was punched (needs its blocks back before reuse).
    pub(crate) fn next_free(&self, count: u64) -> impl Iterator<Item = (SegmentIndex, bool)> + '_ {
        self.free.iter().take(count as usize).map(|&index| {
            let punched = matches!(self.segments[index.as_usize()].state, State::Free { punched: true });
            (index, punched)
        })
    }

    /// Segment `index` got its blocks back.
    pub(crate) fn refilled(&mut self, index: SegmentIndex) {
        let segment = self.segment(index);
        assert_eq!(segment.state, State::Free { punched: true });
        segment.state = State::Free { punched: false };
    }

    /// Free, unpunched segments beyond the first `keep`, highest first: what punching hands back.
    /// Segments whose zeroed head is not durable yet are never punched.
    pub(crate) fn punchable(&self, keep: u64) -> Vec<SegmentIndex> {
        let unpunched = self.free.iter().filter(|&&index| {
            self.segments[index.as_usize()].state == State::Free { punched: false } && !self.zeroing.contains(&index)
        });
        let mut surplus: Vec<SegmentIndex> = unpunched.copied().skip(keep as usize).collect();
        surplus.reverse();
        surplus
    }

    /// Segment `index` (free) was punched.
    pub(crate) fn punched(&mut self, index: SegmentIndex) {
        let segment = self.segment(index);
        assert_eq!(segment.state, State::Free { punched: false });
        segment.state = State::Free { punched: true };
    }

    /// Every live segment with its entry, in log order.
    pub(crate) fn live_segments(&self) -> Vec<(SegmentIndex, Segment)> {
        let mut live: Vec<(SegmentIndex, Segment)> = (0..self.segments.len() as u64)
            .map(SegmentIndex)
            .map(|index| (index, self.segments[index.as_usize()]))
            .filter(|(_, segment)| segment.state == State::Live)
            .collect();
        live.sort_by_key(|(_, segment)| segment.generation);
        live
    }

    /// Usage of every live segment, in log order (what `Db::segments` reports).
    pub(crate) fn usage(&self) -> Vec<SegmentUsage> {
        let usage = |(index, segment): (SegmentIndex, Segment)| SegmentUsage {
            index: index.0,
            generation: segment.generation.0,
            live_bytes: segment.live_bytes,
            tombstone_bytes: segment.tombstone_bytes,
            dead_bytes: segment.dead_bytes,
        };
        self.live_segments().into_iter().map(usage).collect()
    }

    /// Totals for stats.
    pub(crate) fn counters(&self) -> SpaceCounters {
        let count = |wanted: fn(&State) -> bool| self.segments.iter().filter(|s| wanted(&s.state)).count() as u64;
        SpaceCounters {
            live_bytes: self.live_bytes,
            tombstone_bytes: self.tombstone_bytes,
            dead_bytes: self.dead_bytes,
            segments_live: count(|state| *state == State::Live),
            segments_free: self.free.len() as u64,
            segments_retired: self.retired.len() as u64,
            segments_freeing: count(|state| *state == State::Freeing),
            segments_punched: count(|state| *state == State::Free { punched: true }),
            segments_reused_total: self.reused_total,
            segments_checkpoint: count(|state| *state == State::Checkpoint),
        }
    }

    /// Live, tombstone and dead bytes (what [`Space::counters`] reports, without counting
    /// segments).
    pub(crate) fn bytes(&self) -> (u64, u64, u64) {
        (self.live_bytes, self.tombstone_bytes, self.dead_bytes)
    }

    /// Live segments (what every Commit record counts).
    pub(crate) fn live_count(&self) -> u64 {
        self.segments.iter().filter(|segment| segment.state == State::Live).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_never_repeat_and_carry_the_epoch() {
        let mut space = Space::new(4, 7);
        let first = space.next_generation();
        let second = space.next_generation();
        assert!(second > first);
        assert_eq!(first.0 >> 32, 7);
        assert!(Space::new(4, 8).next_generation() > second);
    }

    #[test]
    fn accounting_follows_writes_deaths_and_retirement() {
        let mut space = Space::new(3, 1);
        let (index, _) = space.take_free();
        assert_eq!(index, SegmentIndex(0));
        space.written(100, 64, RecordClass::Live);
        space.written(200, 48, RecordClass::Dead);
        space.died(100, 64);
        assert_eq!((space.live_bytes, space.dead_bytes), (0, 112));
        space.freeing(SegmentIndex(0));
        assert_eq!((space.live_bytes, space.dead_bytes), (0, 0));
        assert_eq!(space.usage().len(), 0, "a freeing segment is not selected again");
        space.retire(SegmentIndex(0));
        let indexes = |list: &[u64]| list.iter().copied().map(SegmentIndex).collect::<Vec<_>>();
        assert_eq!(space.punchable(0), indexes(&[2, 1]), "free segments other than the freshly zeroed one");
        assert_eq!(space.release_retired(|_| true), 0);
        assert_eq!(space.release_retired(|_| false), 0, "not reused before its zeroed head is durable");
        assert_eq!(space.free_count(), 2);
        space.zeroing_durable();
        assert_eq!(space.release_retired(|_| false), 1);
        assert_eq!(space.free_count(), 3);
        assert_eq!(space.punchable(0), indexes(&[2, 1, 0]));
    }

    #[test]
    fn punching_keeps_the_lowest_free_segments() {
        let mut space = Space::new(6, 1);
        let indexes = |list: &[u64]| list.iter().copied().map(SegmentIndex).collect::<Vec<_>>();
        assert_eq!(space.punchable(2), indexes(&[5, 4, 3, 2]));
        space.punched(SegmentIndex(5));
        assert_eq!(space.punchable(2), indexes(&[4, 3, 2]));
        assert_eq!(space.next_free(6).filter(|(_, punched)| *punched).count(), 1);
    }
}
