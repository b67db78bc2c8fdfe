//! The write path: validate a batch, append its records under the writer mutex, and make space
//! when the file is full or at its budget.

use super::hooks::ProtocolHooks;
use super::{Engine, Writer};
use crate::batch::Op;
use crate::error::Error;
use crate::ids::SegmentIndex;
use crate::index::Location;
use crate::log::access::IndexedKeys;
use crate::log::record::{record_bytes, Kind};
use crate::log::LogSpace;
use crate::media::Medium;
use crate::options::Durability;
use crate::space::policy;

/// Free segments user writes leave for the cleaner when the file cannot grow, so that cleaning
/// can always make progress on a full disk.
pub(super) const CLEANER_RESERVE_SEGMENTS: u64 = 1;
/// Attempts (a cleaning step or a commit each) a writer makes itself when it finds no free
/// space, before `NoSpace`.
const OUT_OF_SPACE_ATTEMPTS_MAX: usize = 16;
/// Commits in a row a writer runs without finding a segment to clean, before it gives up on
/// the budget (one moves the cleaning boundary past everything written before it).
const BOUNDARY_COMMITS_MAX: usize = 1;

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    fn validate_op(&self, op: &Op<'_>) -> Result<(), Error> {
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
        for op in ops {
            self.validate_op(op)?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.check_writable()?;
        let batch = self.append(ops)?;
        assert!(batch > 0, "batches are numbered from 1");
        match self.options.durability {
            Durability::Immediate => self.commit_through(batch),
            Durability::Deferred => Ok(()),
        }
    }

    /// Appends `ops`, then commits if the head filled a segment while cleaned segments wait.
    fn append(&self, ops: &[Op<'_>]) -> Result<u64, Error> {
        let (batch, advanced) = self.append_making_space(ops)?;
        if advanced && self.options.durability == Durability::Deferred {
            // The head filled a segment while cleaned segments wait for their Free records to be
            // durable: commit now, from the writer's thread, so they are free before the writer
            // runs out and the cleaning boundary keeps up with the log (see `append_making_space`).
            self.sync()?;
        }
        Ok(batch)
    }

    /// Appends `ops`. A writer that finds no free segment, where growing the file would take it
    /// past the space budget (or the disk is full), makes space itself: it commits when cleaned
    /// segments wait for their Free records to be durable, or runs a cleaning step. That is the
    /// only time a writer waits for cleaning. It grows past the budget only when nothing is
    /// worth cleaning, and returns `NoSpace` only when the file cannot grow.
    fn append_making_space(&self, ops: &[Op<'_>]) -> Result<(u64, bool), Error> {
        let mut within_budget = self.options.background_cleaning;
        let mut boundary_commits = 0;
        for _ in 0..OUT_OF_SPACE_ATTEMPTS_MAX {
            match self.try_append(ops, within_budget) {
                Err(Error::NoSpace) => {
                    let commit_frees_space = {
                        let writer = self.lock(&self.writer)?;
                        !writer.freeing.is_empty() || writer.space.retired_awaiting_commit()
                    };
                    if commit_frees_space {
                        self.sync()?;
                    } else if self.clean_step(None)? {
                        boundary_commits = 0;
                    } else if boundary_commits < BOUNDARY_COMMITS_MAX {
                        // Nothing old enough to clean: commit, so the boundary moves on.
                        self.sync()?;
                        boundary_commits += 1;
                    } else if within_budget {
                        within_budget = false;
                    } else {
                        return Err(Error::NoSpace);
                    }
                }
                other => return other,
            }
        }
        self.try_append(ops, false)
    }

    /// Appends `ops` under the writer mutex. Returns the batch number, and whether the head
    /// moved to a new segment while cleaned segments wait for a commit.
    fn try_append(&self, ops: &[Op<'_>], within_budget: bool) -> Result<(u64, bool), Error> {
        let mut guard = self.lock(&self.writer)?;
        let writer = &mut *guard;
        let sizes = ops.iter().map(|op| record_bytes(op.key().len(), op.value().len()));
        let needed = writer.head.segments_needed(sizes);
        self.ensure_capacity(writer, needed, CLEANER_RESERVE_SEGMENTS, within_budget)?;
        let segment_before = writer.head.segment_index;
        let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
        for op in ops {
            let record_bytes = record_bytes(op.key().len(), op.value().len());
            let superseded = match op {
                Op::Put(key, value) => {
                    let offset = writer.head.append(&mut log, Kind::Put, key, value);
                    writer.puts_total += 1;
                    self.index.set(key, Location { offset, record_bytes }, &IndexedKeys(&self.medium))
                }
                Op::Delete(key) => {
                    // The shadow: the generation of the segment holding the put it deletes.
                    let removed = self.index.remove(key, &IndexedKeys(&self.medium));
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
        writer.batches_appended += 1;
        let advanced = writer.head.segment_index != segment_before && !writer.freeing.is_empty();
        Ok((writer.batches_appended, advanced))
    }

    /// Makes `needed` new segments (plus `reserve` left free) available to the head. Only when
    /// the free list is short: retired segments nobody pins become free, and `within_budget`
    /// refuses growth past the space budget with `NoSpace`, so that the caller cleans first.
    pub(super) fn ensure_capacity(
        &self,
        writer: &mut Writer,
        needed: u64,
        reserve: u64,
        within_budget: bool,
    ) -> Result<(), Error> {
        if writer.space.free_count() < needed + reserve {
            writer.space.release_retired(|segment| self.pins.is_pinned(segment));
            // A user write (the only caller with a reserve) commits rather than grows when the next
            // commit makes a retired segment reusable (see `Space::release_retired`).
            if reserve > 0 && writer.space.free_count() < needed + reserve && writer.space.retired_awaiting_commit() {
                return Err(Error::NoSpace);
            }
            let amplification = self.options.max_space_amplification;
            if within_budget
                && writer.space.free_count() < needed + reserve
                && policy::over_budget(&writer.space, self.medium.mapped_bytes(), amplification)
            {
                return Err(Error::NoSpace);
            }
        }
        let cleaner_running = self.options.background_cleaning;
        writer.head.ensure_capacity(&self.medium, &mut writer.space, needed, reserve, cleaner_running)?;
        assert!(writer.space.free_count() >= needed + reserve, "capacity ensured");
        Ok(())
    }
}
