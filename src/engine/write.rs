//! The write path: validate a batch, append its records under the writer mutex, and make space
//! when the file is full or at its budget.

use super::hooks::ProtocolHooks;
use std::sync::atomic::{AtomicBool, Ordering};

use super::snapshot::ReadSet;
use super::{Engine, Writer};
use crate::batch::Op;
use crate::error::Error;
use crate::ids::SegmentIndex;
use crate::index::Location;
use crate::layout::SEGMENT_BYTES;
use crate::log::access::IndexedKeys;
use crate::log::record::{record_bytes, Kind};
use crate::log::LogSpace;
use crate::media::Medium;
use crate::options::Durability;
use crate::space::policy;

/// What a conditional write requires when it appends, checked under the writer mutex.
pub(super) enum Condition<'a> {
    /// `key` holds `value` (`None`: absent): compare-and-swap.
    Holds { key: &'a [u8], value: Option<&'a [u8]> },
    /// Nothing a transaction read through its snapshot at batch `at` changed since: its
    /// commit. The snapshot ends under the writer mutex once the check passes (and `released`
    /// says so), so the transaction's own batch records no versions for it.
    Unchanged { at: u64, reads: &'a ReadSet, released: &'a AtomicBool },
}

/// Free segments user writes leave for the cleaner when the file cannot grow, so that cleaning
/// can always make progress on a full disk.
pub(super) const CLEANER_RESERVE_SEGMENTS: u64 = 1;
/// Times a writer that finds no free space makes space itself (a commit or a cleaning step
/// each, [`Engine::make_space`]) before it grows the file regardless: only other writers taking
/// the space it made, every time, can use them all up.
pub(super) const OUT_OF_SPACE_ATTEMPTS_MAX: usize = 64;

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Checks `op` against the key and value limits (a transaction's buffered writes too).
    pub(crate) fn validate_op(&self, op: &Op<'_>) -> Result<(), Error> {
        let key = op.key();
        if key.len() > self.options.max_key_bytes {
            return Err(Error::KeyTooLarge { len: key.len(), max: self.options.max_key_bytes });
        }
        if let Op::Put(_, value) = op {
            if value.len() > self.options.max_value_bytes {
                return Err(Error::ValueTooLarge { len: value.len(), max: self.options.max_value_bytes });
            }
        }
        Ok(())
    }

    /// Appends `ops` as one atomic batch and, for `Immediate`, waits for its commit.
    pub(crate) fn write(&self, ops: &[Op<'_>]) -> Result<(), Error> {
        let written = self.write_if(ops, None)?;
        assert!(written, "an unconditional batch is always written");
        Ok(())
    }

    /// Sets `key` from `expected` to `new` (`None`: absent / delete), atomically against every
    /// other write: `Ok(false)`, with nothing written, when `key` does not hold `expected`.
    pub(crate) fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, Error> {
        let op = match new {
            Some(value) => Op::Put(key, value),
            None => Op::Delete(key),
        };
        if expected.is_none() && new.is_none() {
            // Absent stays absent: no record to write, only the comparison (`write_if` validates
            // the op otherwise).
            self.validate_op(&op)?;
            return Ok(self.get(key)?.is_none());
        }
        self.write_if(&[op], Some(Condition::Holds { key, value: expected }))
    }

    /// Appends `ops` as one atomic batch when `condition` holds under the writer mutex (always,
    /// for `None`) and, for `Immediate`, waits for its commit. `Ok(false)`: the condition failed
    /// and nothing was written.
    pub(super) fn write_if(&self, ops: &[Op<'_>], condition: Option<Condition<'_>>) -> Result<bool, Error> {
        for op in ops {
            self.validate_op(op)?;
        }
        if ops.is_empty() {
            return Ok(true);
        }
        self.check_writable()?;
        let Some(batch) = self.append(ops, condition.as_ref())? else { return Ok(false) };
        assert!(batch > 0, "batches are numbered from 1");
        match self.options.durability {
            Durability::Immediate => self.commit_through(batch)?,
            Durability::Deferred => {}
        }
        Ok(true)
    }

    /// Appends `ops` (when `condition` holds: `None` otherwise), then commits if the head
    /// filled a segment while cleaned segments wait.
    fn append(&self, ops: &[Op<'_>], condition: Option<&Condition<'_>>) -> Result<Option<u64>, Error> {
        let Some((batch, advanced)) = self.append_making_space(ops, condition)? else { return Ok(None) };
        if advanced && self.options.durability == Durability::Deferred {
            // The head filled a segment while cleaned segments wait for their Free records to be
            // durable: commit now, from the writer's thread, so they are free before the writer
            // runs out and the cleaning boundary keeps up with the log (see `append_making_space`).
            self.sync()?;
        }
        Ok(Some(batch))
    }

    /// Appends `ops`. A writer that finds no free segment, where growing the file would take it
    /// past the space budget (or the disk is full), makes space itself ([`Engine::make_space`]).
    /// That is the only time a writer waits for cleaning. It grows past the budget only when
    /// nothing can be reclaimed, and returns `NoSpace` only when the file cannot grow.
    fn append_making_space(
        &self,
        ops: &[Op<'_>],
        condition: Option<&Condition<'_>>,
    ) -> Result<Option<(u64, bool)>, Error> {
        let mut within_budget = self.options.background_cleaning;
        for _ in 0..OUT_OF_SPACE_ATTEMPTS_MAX {
            match self.try_append(ops, condition, within_budget) {
                Err(Error::NoSpace) => {
                    if self.make_space()? {
                        continue;
                    }
                    if !within_budget {
                        return Err(Error::NoSpace);
                    }
                    within_budget = false;
                }
                other => return other,
            }
        }
        self.try_append(ops, condition, false)
    }

    /// Makes space for a writer that found none within the budget. It holds the cleaner mutex
    /// throughout, so no other cleaning step (the background thread's, another writer's) runs
    /// between what it looks at and what it does: "nothing to clean" is never a step that found
    /// the other thread's cleaned segment waiting for its commit. `Ok(true)`: a commit freed
    /// cleaned segments, or a step cleaned one (the caller tries again, and another writer may
    /// take the space first: then it makes more). `Ok(false)`: nothing can be reclaimed: nothing
    /// cleaned waits for a commit and, after a commit moved the cleaning boundary past
    /// everything written, no segment is worth cleaning.
    pub(super) fn make_space(&self) -> Result<bool, Error> {
        let held = self.lock(&self.cleaner)?;
        // Bounded: two rounds, the second after a commit that moves the boundary to the head.
        for round in 0..2 {
            if self.commit_frees_space()? {
                self.sync()?;
                return Ok(true);
            }
            if self.clean_step_held(&held, None)? {
                // The commit that makes the Free record durable, and the one after it that makes
                // the zeroed head durable: then the segment is free for the caller's next try.
                for _ in 0..2 {
                    if self.commit_frees_space()? {
                        self.sync()?;
                    }
                }
                return Ok(true);
            }
            if round == 0 {
                self.sync()?;
            }
        }
        Ok(false)
    }

    /// Whether the next commit frees space: cleaned segments wait for their Free records to be
    /// durable, or retired ones for their zeroed heads.
    pub(super) fn commit_frees_space(&self) -> Result<bool, Error> {
        let writer = self.lock(&self.writer)?;
        Ok(!writer.freeing.is_empty() || writer.space.retired_awaiting_commit())
    }

    /// Appends `ops` under the writer mutex, when `condition` holds there (`Ok(None)`, nothing
    /// appended, when it does not). Returns the batch number, and whether the head moved to a
    /// new segment while cleaned segments wait for a commit.
    fn try_append(
        &self,
        ops: &[Op<'_>],
        condition: Option<&Condition<'_>>,
        within_budget: bool,
    ) -> Result<Option<(u64, bool)>, Error> {
        let mut guard = self.lock(&self.writer)?;
        let writer = &mut *guard;
        let sizes = ops.iter().map(|op| record_bytes(op.key().len(), op.value().len()));
        let needed = writer.head.segments_needed(sizes);
        self.ensure_capacity(writer, needed, CLEANER_RESERVE_SEGMENTS, within_budget)?;
        if let Some(condition) = condition {
            // Under the writer mutex: no other write lands between this check and the append.
            if !self.condition_holds(condition)? {
                return Ok(None);
            }
        }
        let segment_before = writer.head.segment_index;
        let batch = writer.batches_appended + 1;
        // From here to `end_batch` nothing fails: a snapshot being taken waits for it.
        let recording = self.versions.begin_batch(batch);
        let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
        for op in ops {
            let record_bytes = record_bytes(op.key().len(), op.value().len());
            let superseded = match op {
                Op::Put(key, value) => {
                    let offset = writer.head.append(&mut log, Kind::Put, key, value);
                    writer.puts_total += 1;
                    self.repoint(key, Some(Location { offset, record_bytes }), batch, recording)
                }
                Op::Delete(key) => {
                    // The shadow: the generation of the segment holding the put it deletes.
                    let removed = self.repoint(key, None, batch, recording);
                    let shadow = removed.map(|old| log.space.generation_at(old.offset));
                    writer.head.append_tombstone(&mut log, key, shadow);
                    writer.deletes_total += 1;
                    removed
                }
            };
            if let Some(old) = superseded {
                let in_head_segment = SegmentIndex::of_offset(old.offset) == writer.head.segment_index;
                assert!(!in_head_segment || old.offset < writer.head.offset, "a superseded record is published");
                log.space.died(old.offset, old.record_bytes);
            }
            writer.record_bytes_total += record_bytes;
        }
        writer.batches_appended = batch;
        self.versions.end_batch(batch);
        let advanced = writer.head.segment_index != segment_before && !writer.freeing.is_empty();
        Ok(Some((batch, advanced)))
    }

    /// Whether `condition` holds now (writer mutex held). A transaction's snapshot ends here
    /// when it does.
    fn condition_holds(&self, condition: &Condition<'_>) -> Result<bool, Error> {
        match *condition {
            // The value read is the newest appended, committed or not, as `get` reads.
            Condition::Holds { key, value } => Ok(self.get(key)?.as_deref() == value),
            Condition::Unchanged { at, reads, released } => {
                if !self.reads_unchanged(at, reads) {
                    return Ok(false);
                }
                let was_released = released.swap(true, Ordering::AcqRel);
                assert!(!was_released, "a transaction commits once");
                self.versions.close_snapshot(at);
                Ok(true)
            }
        }
    }

    /// Points `key` at `location` (`None`: removes it) for `batch`; returns where it pointed.
    /// When `recording`, the version replaced goes to the history first (see [`crate::mvcc`]).
    fn repoint(&self, key: &[u8], location: Option<Location>, batch: u64, recording: bool) -> Option<Location> {
        let keys = IndexedKeys(&self.medium);
        if !recording {
            return match location {
                Some(location) => self.index.set(key, location, &keys),
                None => self.index.remove(key, &keys),
            };
        }
        let mut replaced = None;
        self.index.update(key, &keys, |current| {
            replaced = current;
            if current.is_none() && location.is_none() {
                return None; // absent stays absent: no version changes
            }
            let pinned = !H::DEVIATES || self.hooks.versions_pinned();
            let pin = |old: Location| pinned.then(|| self.pins.pin(SegmentIndex::of_offset(old.offset)));
            self.versions.record(key, batch, current, pin);
            location
        });
        replaced
    }

    /// Makes `needed` new segments (plus `reserve` left free) available to the head. Only when
    /// the free list is short: retired segments nobody pins become free, and `within_budget`
    /// refuses growth past the space budget with `NoSpace` while a commit or a cleaning step
    /// could give space back, so that the caller makes space first. With a background cleaner,
    /// growth ahead stops at the budget.
    pub(super) fn ensure_capacity(
        &self,
        writer: &mut Writer,
        needed: u64,
        reserve: u64,
        within_budget: bool,
    ) -> Result<(), Error> {
        let budget = policy::budget_bytes(&writer.space, self.options.max_space_amplification);
        if writer.space.free_count() < needed + reserve {
            writer.space.release_retired(|segment| self.pins.is_pinned(segment));
            // A user write (the only caller with a reserve) commits rather than grows when the next
            // commit makes a retired segment reusable (see `Space::release_retired`).
            if reserve > 0 && writer.space.free_count() < needed + reserve && writer.space.retired_awaiting_commit() {
                return Err(Error::NoSpace);
            }
            let shortfall = (needed + reserve).saturating_sub(writer.space.free_count()) * SEGMENT_BYTES;
            let past_budget = self.medium.mapped_bytes() + shortfall > budget;
            let reclaimable = !writer.freeing.is_empty() || policy::reclaimable(&writer.space);
            if within_budget && past_budget && reclaimable {
                return Err(Error::NoSpace);
            }
        }
        let cleaner_running = self.options.background_cleaning;
        let ahead_limit = if cleaner_running { budget } else { u64::MAX };
        let before = self.medium.mapped_bytes();
        writer.head.ensure_capacity(&self.medium, &mut writer.space, needed, reserve, cleaner_running, ahead_limit)?;
        let after = self.medium.mapped_bytes();
        if cleaner_running && after > before && after > budget {
            self.cleaning.budget_overruns_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        assert!(writer.space.free_count() >= needed + reserve, "capacity ensured");
        Ok(())
    }
}
