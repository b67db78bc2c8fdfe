//! A snapshot of what the store did.

use crate::dirty::DirtyCounters;
use crate::media::LineFlushInstruction;
use crate::options::FlushModel;
use crate::recovery::RecoveryReport;

/// Returned by [`Db::stats`](crate::Db::stats). Counters named `*_total` are monotonic since open.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// The flush model in force.
    pub flush_model: FlushModel,
    /// Whether the file is mapped with `MAP_SYNC` (a DAX filesystem).
    pub map_sync: bool,
    /// The cache-line flush instruction used by the CacheLine model (`None` for other models).
    pub line_flush_instruction: Option<LineFlushInstruction>,
    /// Keys in the store.
    pub keys: u64,
    /// Bytes mapped (the file size).
    pub file_bytes: u64,
    /// File offset of the log head.
    pub log_head_offset: u64,
    /// Segments the log has used (the head's segment index + 1).
    pub segments_used: u64,
    /// Put records written.
    pub puts_total: u64,
    /// Delete records written.
    pub deletes_total: u64,
    /// Batches (single puts and deletes count as one each).
    pub batches_total: u64,
    /// Commits closed (fewer than batches under group commit or `Deferred`).
    pub commits_total: u64,
    /// Bytes of records written.
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
    /// What recovery found at open.
    pub recovery: RecoveryReport,
}
