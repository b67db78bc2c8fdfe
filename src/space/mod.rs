//! Space: which segments hold the log, which are free, how much of each is live, and which one
//! the cleaner should take next.
//!
//! Every mapped segment is in one state:
//! - `Live`: holds records of the log (has a valid SegmentHead of its `generation`);
//! - `Freeing`: cleaned (its live records were copied, its Free record appended) but the commit
//!   holding that Free record is not durable yet, so recovery may still need it;
//! - `Retired`: given back (its Free record is durable, its head is zeroed) but maybe still
//!   read: waiting for its zero-copy pins to drop (see [`readers`]);
//! - `Free`: reusable; `punched` when its blocks were handed back to the filesystem.
//!
//! A retired segment's zeroed head becomes durable with the next commit; until then it is on
//! the `zeroing` list and is not punched (a lost punch must bring back a zeroed head).
//!
//! Accounting (kept exact across recovery, which rebuilds it by the same rules): a Put record is
//! live while the index points at it; a Delete record (tombstone) is live until its segment is
//! cleaned (it may still hide an older Put in an older segment); every other record (segment
//! head, seal, commit, free) is dead from the start. Live and dead bytes of a segment sum to the
//! bytes its records occupy.
//!
//! Generations: `(open_epoch << 32) | counter`. The epoch is bumped durably at every open, the
//! counter grows with every segment started by this open, so a generation is never used twice
//! and a stale record left in a reused segment never validates under its new head.
//!
//! Everything here is plain data guarded by the engine's writer mutex.

pub(crate) mod policy;
pub(crate) mod readers;

use std::collections::BTreeSet;

use crate::layout::SEGMENT_BYTES;

/// Bits of a generation below the open epoch.
const EPOCH_SHIFT: u32 = 32;

/// What one segment is used for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Live,
    Freeing,
    Retired,
    Free { punched: bool },
}

/// One segment's entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub(crate) state: State,
    pub(crate) generation: u64,
    pub(crate) live_bytes: u64,
    pub(crate) dead_bytes: u64,
    /// Freed by the cleaner in this open (its next use is a reuse).
    pub(crate) recycled: bool,
}

impl Segment {
    const FREE: Segment =
        Segment { state: State::Free { punched: false }, generation: 0, live_bytes: 0, dead_bytes: 0, recycled: false };
}

/// Per-segment usage, as reported by [`Db::segments`](crate::Db::segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentUsage {
    /// Segment number (file offset / 2 MiB).
    pub index: u64,
    /// Its generation (log order).
    pub generation: u64,
    /// Bytes of live records (current puts and tombstones).
    pub live_bytes: u64,
    /// Bytes of dead records (overwritten or deleted values, log bookkeeping).
    pub dead_bytes: u64,
}

/// Space counters for [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpaceCounters {
    pub(crate) live_bytes: u64,
    pub(crate) dead_bytes: u64,
    pub(crate) segments_live: u64,
    pub(crate) segments_free: u64,
    pub(crate) segments_retired: u64,
    pub(crate) segments_freeing: u64,
    pub(crate) segments_punched: u64,
    pub(crate) segments_reused_total: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Space {
    segments: Vec<Segment>,
    /// Free segments, lowest index reused first (deterministic).
    free: BTreeSet<u64>,
    retired: Vec<u64>,
    /// Retired or free segments whose zeroed head is not durable yet (until the next commit).
    zeroing: Vec<u64>,
    epoch: u64,
    counter: u64,
    live_bytes: u64,
    dead_bytes: u64,
    reused_total: u64,
}

impl Space {
    /// A space of `segment_count` free segments, allocating generations of `open_epoch`.
    pub(crate) fn new(segment_count: u64, open_epoch: u32) -> Space {
        Space {
            segments: vec![Segment::FREE; segment_count as usize],
            free: (0..segment_count).collect(),
            retired: Vec::new(),
            zeroing: Vec::new(),
            epoch: u64::from(open_epoch),
            counter: 1,
            live_bytes: 0,
            dead_bytes: 0,
            reused_total: 0,
        }
    }

    /// A fresh generation for a segment being started.
    pub(crate) fn next_generation(&mut self) -> u64 {
        assert!(self.counter < 1 << EPOCH_SHIFT, "2^32 segments started in one open");
        let generation = (self.epoch << EPOCH_SHIFT) | self.counter;
        self.counter += 1;
        generation
    }

    /// Marks segment `index` live with `generation` (recovery, or a segment being started).
    pub(crate) fn set_live(&mut self, index: u64, generation: u64) {
        let was_free = self.free.remove(&index);
        let segment = &mut self.segments[index as usize];
        assert!(was_free && matches!(segment.state, State::Free { punched: false }), "segment {index} not free");
        self.reused_total += u64::from(segment.recycled);
        *segment = Segment { state: State::Live, generation, ..Segment::FREE };
        self.zeroing.retain(|&zeroing| zeroing != index);
    }

    /// Takes the lowest free segment (backed by blocks: `Head::ensure_capacity` grew the file or
    /// refilled it) and makes it live.
    pub(crate) fn take_free(&mut self) -> (u64, u64) {
        let index = *self.free.first().expect("capacity ensured before appending");
        let generation = self.next_generation();
        self.set_live(index, generation);
        (index, generation)
    }

    /// Counts `bytes` written into the segment at `offset`, live or dead.
    pub(crate) fn written(&mut self, offset: u64, bytes: u64, live: bool) {
        let segment = &mut self.segments[(offset / SEGMENT_BYTES) as usize];
        debug_assert_eq!(segment.state, State::Live);
        if live {
            segment.live_bytes += bytes;
            self.live_bytes += bytes;
        } else {
            segment.dead_bytes += bytes;
            self.dead_bytes += bytes;
        }
    }

    /// Moves `bytes` of the segment at `offset` from live to dead (a record superseded).
    pub(crate) fn died(&mut self, offset: u64, bytes: u64) {
        let segment = &mut self.segments[(offset / SEGMENT_BYTES) as usize];
        assert!(segment.live_bytes >= bytes, "segment at {offset} has fewer live bytes than a record it holds");
        segment.live_bytes -= bytes;
        segment.dead_bytes += bytes;
        self.live_bytes -= bytes;
        self.dead_bytes += bytes;
    }

    /// Segment `index` was cleaned and its Free record appended: nothing in it counts any more,
    /// and it is not selected again, but it holds its place until that record is durable.
    pub(crate) fn freeing(&mut self, index: u64) {
        let segment = &mut self.segments[index as usize];
        assert_eq!(segment.state, State::Live);
        self.live_bytes -= segment.live_bytes;
        self.dead_bytes -= segment.dead_bytes;
        *segment = Segment { state: State::Freeing, generation: segment.generation, recycled: true, ..Segment::FREE };
    }

    /// The Free record of segment `index` (freeing) is durable and its head was just zeroed:
    /// it is retired, and on the `zeroing` list until the next commit.
    pub(crate) fn retire(&mut self, index: u64) {
        let segment = &mut self.segments[index as usize];
        assert_eq!(segment.state, State::Freeing);
        segment.state = State::Retired;
        self.retired.push(index);
        self.zeroing.push(index);
    }

    /// A commit's writeback ended: the heads zeroed before it began are durable.
    pub(crate) fn zeroing_durable(&mut self) {
        self.zeroing.clear();
    }

    /// Retired segments that nothing pins any more become free. Returns how many.
    pub(crate) fn release_retired(&mut self, pinned: impl Fn(u64) -> bool) -> u64 {
        if self.retired.is_empty() {
            return 0;
        }
        let before = self.retired.len();
        let (keep, release): (Vec<u64>, Vec<u64>) = self.retired.iter().partition(|&&index| pinned(index));
        for index in release {
            self.segments[index as usize].state = State::Free { punched: false };
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
        self.free.extend(from..to_segments);
    }

    /// Free segments.
    pub(crate) fn free_count(&self) -> u64 {
        self.free.len() as u64
    }

    /// The `count` free segments the next advances will take, lowest first, with whether each
    /// was punched (needs its blocks back before reuse).
    pub(crate) fn next_free(&self, count: u64) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.free.iter().take(count as usize).map(|&index| {
            let punched = matches!(self.segments[index as usize].state, State::Free { punched: true });
            (index, punched)
        })
    }

    /// Segment `index` got its blocks back.
    pub(crate) fn refilled(&mut self, index: u64) {
        let segment = &mut self.segments[index as usize];
        assert_eq!(segment.state, State::Free { punched: true });
        segment.state = State::Free { punched: false };
    }

    /// Free, unpunched segments beyond the first `keep`, highest first: what punching hands back.
    /// Segments whose zeroed head is not durable yet are never punched.
    pub(crate) fn punchable(&self, keep: u64) -> Vec<u64> {
        let unpunched = self.free.iter().filter(|&&index| {
            self.segments[index as usize].state == State::Free { punched: false } && !self.zeroing.contains(&index)
        });
        let mut surplus: Vec<u64> = unpunched.copied().skip(keep as usize).collect();
        surplus.reverse();
        surplus
    }

    /// Segment `index` (free) was punched.
    pub(crate) fn punched(&mut self, index: u64) {
        let segment = &mut self.segments[index as usize];
        assert_eq!(segment.state, State::Free { punched: false });
        segment.state = State::Free { punched: true };
    }

    /// Live (or freeing) segments older than `generation` exist (a tombstone there may still
    /// hide a put).
    pub(crate) fn live_older_than(&self, generation: u64) -> bool {
        self.segments
            .iter()
            .any(|segment| matches!(segment.state, State::Live | State::Freeing) && segment.generation < generation)
    }

    /// Usage of every live segment, in log order.
    pub(crate) fn usage(&self) -> Vec<SegmentUsage> {
        let mut usage: Vec<SegmentUsage> = (0..self.segments.len() as u64)
            .filter(|&index| self.segments[index as usize].state == State::Live)
            .map(|index| {
                let segment = self.segments[index as usize];
                SegmentUsage {
                    index,
                    generation: segment.generation,
                    live_bytes: segment.live_bytes,
                    dead_bytes: segment.dead_bytes,
                }
            })
            .collect();
        usage.sort_by_key(|segment| segment.generation);
        usage
    }

    /// Totals for stats.
    pub(crate) fn counters(&self) -> SpaceCounters {
        let count = |wanted: fn(&State) -> bool| self.segments.iter().filter(|s| wanted(&s.state)).count() as u64;
        SpaceCounters {
            live_bytes: self.live_bytes,
            dead_bytes: self.dead_bytes,
            segments_live: count(|state| *state == State::Live),
            segments_free: self.free.len() as u64,
            segments_retired: self.retired.len() as u64,
            segments_freeing: count(|state| *state == State::Freeing),
            segments_punched: count(|state| *state == State::Free { punched: true }),
            segments_reused_total: self.reused_total,
        }
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
        assert_eq!(first >> 32, 7);
        assert!(Space::new(4, 8).next_generation() > second);
    }

    #[test]
    fn accounting_follows_writes_deaths_and_retirement() {
        let mut space = Space::new(3, 1);
        let (index, _) = space.take_free();
        assert_eq!(index, 0);
        space.written(100, 64, true);
        space.written(200, 48, false);
        space.died(100, 64);
        assert_eq!((space.live_bytes, space.dead_bytes), (0, 112));
        space.freeing(0);
        assert_eq!((space.live_bytes, space.dead_bytes), (0, 0));
        assert_eq!(space.usage().len(), 0, "a freeing segment is not selected again");
        space.retire(0);
        assert_eq!(space.punchable(0), vec![2, 1], "free segments other than the freshly zeroed one");
        assert_eq!(space.release_retired(|_| true), 0);
        assert_eq!(space.release_retired(|_| false), 1);
        assert_eq!(space.free_count(), 3);
        assert_eq!(space.punchable(0), vec![2, 1], "its zeroed head is not durable yet");
        space.zeroing_durable();
        assert_eq!(space.punchable(0), vec![2, 1, 0]);
    }

    #[test]
    fn punching_keeps_the_lowest_free_segments() {
        let mut space = Space::new(6, 1);
        assert_eq!(space.punchable(2), vec![5, 4, 3, 2]);
        space.punched(5);
        assert_eq!(space.punchable(2), vec![4, 3, 2]);
        assert_eq!(space.next_free(6).filter(|(_, punched)| *punched).count(), 1);
    }
}
