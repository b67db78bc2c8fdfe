//! A snapshot of what the store did.

use crate::dirty::DirtyCounters;
use crate::media::LineFlushInstruction;
use crate::media::{FlushModel, PersistenceDomain};
use crate::recovery::RecoveryReport;

/// Returned by [`Db::stats`](crate::Db::stats). Counters named `*_total` are monotonic since open.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// The flush model in force.
    pub flush_model: FlushModel,
    /// Whether the file is mapped with `MAP_SYNC` (a DAX filesystem).
    pub map_sync: bool,
    /// The persistence domain of the NVDIMM region behind the file, from sysfs: `CpuCache`
    /// (eADR) makes `Fence` the default flush model under `MAP_SYNC`. `Unknown` off NVDIMMs.
    pub persistence_domain: PersistenceDomain,
    /// The cache-line flush instruction used by the CacheLine model (`None` for other models).
    pub line_flush_instruction: Option<LineFlushInstruction>,
    /// Keys in the store.
    pub keys: u64,
    /// Heap bytes of the key index (its nodes, tags, locations and separator keys; allocator
    /// overhead not included). Counted by walking the index, about one node per 45 keys.
    pub index_bytes: u64,
    /// Bytes mapped (the file size).
    pub file_bytes: u64,
    /// File offset of the log head.
    pub log_head_offset: u64,
    /// Segments holding the log.
    pub segments_used: u64,
    /// Bytes of the live records: the puts the index points at.
    pub live_bytes: u64,
    /// Bytes of Delete records in the log (dropped by the cleaner once nothing they hide is left).
    pub tombstone_bytes: u64,
    /// Bytes of dead records in segments holding the log (what cleaning reclaims).
    pub dead_bytes: u64,
    /// Free segments, ready for reuse (punched ones included).
    pub segments_free: u64,
    /// Free segments whose blocks were handed back to the filesystem.
    pub segments_punched: u64,
    /// Cleaned segments waiting for zero-copy values that still hold their bytes.
    pub segments_retired: u64,
    /// Segments being cleaned: the one being copied now, and cleaned ones whose Free record
    /// waits for its commit.
    pub segments_cleaning: u64,
    /// Cleaning steps that found a segment to clean.
    pub cleaning_steps_total: u64,
    /// Segments the cleaner freed.
    pub cleaning_segments_freed_total: u64,
    /// Times the log moved into a segment the cleaner had freed.
    pub segments_reused_total: u64,
    /// Bytes of live records the cleaner copied (its write amplification is
    /// `(record_bytes_total + cleaning_bytes_copied_total) / record_bytes_total`).
    pub cleaning_bytes_copied_total: u64,
    /// Live records the cleaner copied.
    pub cleaning_records_copied_total: u64,
    /// Segments handed back to the filesystem with `fallocate(PUNCH_HOLE | KEEP_SIZE)`.
    pub holes_punched_total: u64,
    /// Times the file grew past the space budget (`max_space_amplification` × live + 4
    /// segments) while a background cleaner ran: when nothing could be reclaimed, or for the
    /// exceptions docs/design.md ("The space bound") lists.
    pub space_budget_overruns_total: u64,
    /// Zero-copy values alive (each pins its segment against reuse).
    pub values_pinned: u64,
    /// Snapshots open: [`Snapshot`](crate::Snapshot)s, [`Transaction`](crate::Transaction)s and
    /// iterators (each iterator reads one snapshot).
    pub snapshots_open: u64,
    /// Batches written since the oldest open snapshot was taken (0 when none is open).
    pub snapshot_oldest_age_batches: u64,
    /// Superseded versions kept because an open snapshot may read them.
    pub snapshot_versions_kept: u64,
    /// Record bytes those versions keep from reuse: their segments are cleaned but not reused
    /// until the snapshots that read them close.
    pub snapshot_bytes_pinned: u64,
    /// Put records written.
    pub puts_total: u64,
    /// Delete records written.
    pub deletes_total: u64,
    /// Batches (single puts and deletes count as one each).
    pub batches_total: u64,
    /// Commits closed (fewer than batches under group commit or `Deferred`).
    pub commits_total: u64,
    /// Bytes of records written by the application's writes (cleaning's copies not included).
    pub record_bytes_total: u64,
    /// Dirty-index counters: entries tagged, runs flushed, bytes flushed.
    pub dirty: DirtyCounters,
    /// 2 MiB regions the dirty index holds state for right now.
    pub dirty_regions: u64,
    /// Bytes handed to the flusher (the sum of run lengths).
    pub flush_bytes_total: u64,
    /// Flush system calls (msync, sync_file_range, fdatasync).
    pub flush_syscalls_total: u64,
    /// Cache-line flush instructions issued.
    pub line_flushes_total: u64,
    /// Store fences issued.
    pub fences_total: u64,
    /// Times the file grew.
    pub grows_total: u64,
    /// Whether a flush failed (the handle refuses writes).
    pub poisoned: bool,
    /// Index checkpoints made durable since open.
    pub checkpoints_total: u64,
    /// Bytes the durable checkpoint occupies (whole segments; 0: none).
    pub checkpoint_bytes: u64,
    /// Log bytes appended since the durable checkpoint's capture: about what an open after a
    /// crash now would replay.
    pub log_bytes_since_checkpoint: u64,
    /// What recovery found at open.
    pub recovery: RecoveryReport,
}
