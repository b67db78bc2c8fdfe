//! The engine: the write path, group commit, cleaning, open/format/recover and close, generic
//! over the [`Medium`] and the [`ProtocolHooks`]. [`Db`](crate::Db) is its public face and
//! speaks to it only through methods; every field below is private to this folder.
//!
//! One file per room:
//! - `open`: format a new store, recover an existing one;
//! - `write`: validate, append under the writer mutex, make space;
//! - `commit`: group commit, the commit protocol, close;
//! - `checkpoint`: index checkpoints (capture, export, finish);
//! - `clean`: one cleaning step, compaction, punching;
//! - `read`: point reads and the values iterators return;
//! - `report`: `Stats` and per-segment usage;
//! - `hooks`: the protocol seam.
//!
//! Locks (in acquisition order): `checkpoint_run` (one whole checkpoint at a time), `cleaner`
//! (one cleaning step at a time), `commit` (one commit
//! at a time; also guards the superblock), then `writer` (the log head and the space table; held
//! while appending, and while closing a commit and tagging). Readers take none: they read inside
//! a [`ReaderGate`] section, which only the cleaner waits for. A panic while a lock is held
//! breaks an invariant of what it guards: the next thread to take that lock poisons the handle
//! ([`Error::Poisoned`]) instead of continuing on state nobody can vouch for.

mod checkpoint;
mod clean;
mod commit;
pub mod hooks;
mod open;
mod read;
mod report;
mod snapshot;
mod write;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::dirty::DirtyIndex;
use crate::error::Error;
use crate::ids::{CommitSequence, Generation, SegmentIndex};
use crate::index::KeyIndex;
use crate::log::superblock::Superblock;
use crate::log::Head;
use crate::media::Medium;
use crate::mvcc::Versions;
use crate::options::Options;
use crate::recovery::RecoveryReport;
use crate::space::readers::{ReaderGate, SegmentPins};
use crate::space::Space;
use hooks::ProtocolHooks;

#[cfg(feature = "sim")]
pub(crate) use checkpoint::CheckpointTask;
pub(crate) use read::{End, EntryRange};
pub(crate) use snapshot::ReadSet;

/// State guarded by the writer mutex.
struct Writer {
    /// The log head: the only place records are appended.
    head: Head,
    /// The segment table: live/dead accounting, free list, punched and retired segments.
    space: Space,
    /// Cleaned segments whose Free record is in the open commit (or one not yet durable), each
    /// with that commit's sequence: each is zeroed and retired when that commit is durable.
    /// Written by `clean::clean_segment`, read by `commit::after_commit`.
    freeing: Vec<(SegmentIndex, CommitSequence)>,
    /// The head's generation at the last durable commit: the cleaner selects only segments
    /// older than this, whose records are all committed. Never decreases.
    clean_boundary: Generation,
    /// Batches appended since open (the group-commit clock; also `Stats::batches_total`).
    batches_appended: u64,
    /// Put records appended by writers since open (not the cleaner's copies).
    puts_total: u64,
    /// Delete records appended by writers since open.
    deletes_total: u64,
    /// Bytes of the records writers appended since open.
    record_bytes_total: u64,
}

/// State guarded by the commit mutex.
struct CommitState {
    /// The superblock as last written (slot, sequence, clean flag, open epoch).
    superblock: Superblock,
    /// Sequence of the last Commit record written (durable once `commit_locked` returns).
    /// Strictly increases with every commit that appended records.
    last_commit_seq: CommitSequence,
    /// Offset just past the last Commit record (where recovery will stop after a crash).
    last_commit_end: u64,
}

/// The cleaner's counters since open (read by stats without waiting for a step).
#[derive(Debug, Default)]
struct CleanerCounters {
    steps_total: AtomicU64,
    segments_freed_total: AtomicU64,
    bytes_copied_total: AtomicU64,
    records_copied_total: AtomicU64,
    /// Times the file grew past the space budget with a background cleaner running.
    budget_overruns_total: AtomicU64,
    /// Whether a step is copying right now.
    cleaning_now: AtomicBool,
}

/// See the module docs.
pub(crate) struct Engine<M: Medium, H: ProtocolHooks> {
    /// Where the bytes live and how they become durable.
    medium: M,
    /// The seam for planted protocol deviations (none in a normal build).
    hooks: H,
    /// What was written since the last commit, at PTE/PMD granularity.
    dirty: DirtyIndex,
    /// Key → location of its current record.
    index: KeyIndex,
    /// The batch clock, open snapshots and the versions they read (see [`crate::mvcc`]).
    versions: Versions,
    /// The options the store was opened with (validated).
    options: Options,
    /// What recovery found at open.
    recovery: RecoveryReport,
    /// Read sections: the cleaner waits for them before a segment may be reused.
    gate: ReaderGate,
    /// Zero-copy values handed out, per segment: a pinned segment is not reused.
    pins: std::sync::Arc<SegmentPins>,
    /// One cleaning step at a time.
    cleaner: Mutex<()>,
    /// One whole checkpoint at a time.
    checkpoint_run: Mutex<()>,
    /// The durable checkpoint and the one being taken. Taken alone or before `writer`.
    checkpoints: Mutex<checkpoint::CheckpointState>,
    cleaning: CleanerCounters,
    writer: Mutex<Writer>,
    commit: Mutex<CommitState>,
    /// Commits that appended a Commit record since open.
    commits_total: AtomicU64,
    /// Every batch numbered at most this is durable (group commit). Only grows.
    durable_batches: AtomicU64,
    /// Set by a failed flush or a poisoned lock: every later write fails with `Poisoned`.
    poisoned: AtomicBool,
    /// Group commit: whether a leader is committing, and where followers wait for it.
    leader_active: Mutex<bool>,
    commit_done: Condvar,
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Takes `mutex`; a lock poisoned by a panic poisons the handle (see the module docs).
    fn lock<'a, T>(&self, mutex: &'a Mutex<T>) -> Result<MutexGuard<'a, T>, Error> {
        mutex.lock().map_err(|_| {
            self.poisoned.store(true, Ordering::Release);
            Error::Poisoned
        })
    }

    /// Takes `mutex` to read what it guards for a report, even after a panic poisoned it (the
    /// handle is poisoned already, and a report changes nothing).
    fn lock_for_report<'a, T>(&self, mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        mutex.lock().unwrap_or_else(|poison| {
            self.poisoned.store(true, Ordering::Release);
            poison.into_inner()
        })
    }

    /// `Poisoned` once a flush failed or a lock was poisoned.
    pub(crate) fn check_writable(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Poisons the handle when `result` is an error (a failed flush leaves the media in an
    /// unknown state: nothing may be reported durable after it).
    fn poison_on_error(&self, result: Result<(), Error>) -> Result<(), Error> {
        if result.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    /// Whether an earlier flush failed or a lock was poisoned.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Whether the store runs a background cleaner.
    pub(crate) fn background_cleaning(&self) -> bool {
        self.options.background_cleaning
    }

    /// The medium (the simulator inspects and crashes it).
    pub(crate) fn medium(&self) -> &M {
        &self.medium
    }

    /// The dirty-range index (for tests and tools that inspect tagging).
    pub(crate) fn dirty_index(&self) -> &DirtyIndex {
        &self.dirty
    }

    /// Keys in the store.
    pub(crate) fn key_count(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests;
