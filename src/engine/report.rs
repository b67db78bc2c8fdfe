//! What the engine reports: [`Stats`] and per-segment usage. Reports never fail: they read
//! through a poisoned lock (and mark the handle poisoned).

use std::sync::atomic::Ordering::Relaxed;

use super::hooks::ProtocolHooks;
use super::Engine;
use crate::media::{FlushModel, Medium};
use crate::space::SegmentUsage;
use crate::stats::Stats;

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// What the store did so far.
    pub(crate) fn stats(&self) -> Stats {
        let medium = self.medium.counters();
        let dirty = self.dirty.counters();
        let (log_head_offset, space, batches_total, puts_total, deletes_total, record_bytes_total) = {
            let writer = self.lock_for_report(&self.writer);
            let counters = writer.space.counters();
            let totals = (writer.batches_appended, writer.puts_total, writer.deletes_total, writer.record_bytes_total);
            (writer.head.offset, counters, totals.0, totals.1, totals.2, totals.3)
        };
        let cleaning = &self.cleaning;
        let (snapshots, applied) = self.snapshot_counters();
        let (checkpoints_total, checkpoint_bytes, log_bytes_since_checkpoint) = self.checkpoint_figures();
        let line_flush_instruction =
            (self.medium.flush_model() == FlushModel::CacheLine).then(crate::media::line_flush_instruction);
        Stats {
            flush_model: self.medium.flush_model(),
            map_sync: self.medium.map_sync(),
            persistence_domain: self.medium.persistence_domain(),
            line_flush_instruction,
            keys: self.index.len() as u64,
            index_bytes: self.index.heap_bytes(),
            file_bytes: self.medium.mapped_bytes(),
            log_head_offset,
            segments_used: space.segments_live,
            live_bytes: space.live_bytes,
            tombstone_bytes: space.tombstone_bytes,
            dead_bytes: space.dead_bytes,
            segments_free: space.segments_free,
            segments_punched: space.segments_punched,
            segments_retired: space.segments_retired,
            segments_cleaning: u64::from(cleaning.cleaning_now.load(Relaxed)) + space.segments_freeing,
            cleaning_steps_total: cleaning.steps_total.load(Relaxed),
            cleaning_segments_freed_total: cleaning.segments_freed_total.load(Relaxed),
            segments_reused_total: space.segments_reused_total,
            cleaning_bytes_copied_total: cleaning.bytes_copied_total.load(Relaxed),
            cleaning_records_copied_total: cleaning.records_copied_total.load(Relaxed),
            holes_punched_total: medium.holes_punched_total,
            space_budget_overruns_total: cleaning.budget_overruns_total.load(Relaxed),
            values_pinned: self.pins.total().saturating_sub(snapshots.versions_pinning),
            snapshots_open: snapshots.open,
            snapshot_oldest_age_batches: snapshots.oldest_batch.map_or(0, |oldest| applied.saturating_sub(oldest)),
            snapshot_versions_kept: snapshots.versions_kept,
            snapshot_bytes_pinned: snapshots.bytes_pinned,
            puts_total,
            deletes_total,
            batches_total,
            commits_total: self.commits_total.load(Relaxed),
            record_bytes_total,
            dirty,
            dirty_regions: self.dirty.nodes() as u64,
            flush_bytes_total: dirty.flush_bytes_total,
            flush_syscalls_total: medium.flush_syscalls_total,
            line_flushes_total: medium.line_flushes_total,
            fences_total: medium.fences_total,
            grows_total: medium.grows_total,
            poisoned: self.is_poisoned(),
            checkpoints_total,
            checkpoint_bytes,
            log_bytes_since_checkpoint,
            recovery: self.recovery,
        }
    }

    /// Live and dead bytes of every segment holding the log, in log order.
    pub(crate) fn segments(&self) -> Vec<SegmentUsage> {
        self.lock_for_report(&self.writer).space.usage()
    }

    /// The flush model in force.
    pub(crate) fn flush_model(&self) -> FlushModel {
        self.medium.flush_model()
    }

    /// Batches appended since open (the background cleaner's idleness clock).
    pub(crate) fn batches_appended(&self) -> u64 {
        self.lock_for_report(&self.writer).batches_appended
    }
}
