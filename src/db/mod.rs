//! The public handle.

use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Op, WriteBatch};
use crate::engine::hooks::{NoHooks, ProtocolHooks};
use crate::engine::{End, Engine, EntryRange};
use crate::error::Error;
use crate::index::{prefix_successor, KeyRange};
use crate::media::{FileMedium, FlushModel, Medium};
use crate::options::Options;
use crate::space::SegmentUsage;
use crate::stats::Stats;

mod background;
mod snapshot;
mod transaction;

use snapshot::Registration;
pub use snapshot::Snapshot;
pub use transaction::{Transaction, TransactionIter};

/// An open store. `Send + Sync`: share it with `Arc`.
///
/// `M` is the medium; applications use the default, a mapped file ([`Db::open`]). The crash
/// simulator opens the same engine on its recording medium. `H` is the protocol seam
/// ([`ProtocolHooks`]); applications never name it (the default, [`NoHooks`], costs nothing).
pub struct Db<M: Medium = FileMedium, H: ProtocolHooks = NoHooks> {
    engine: Arc<Engine<M, H>>,
    cleaner: Option<background::Cleaner>,
    closed: bool,
}

impl Db<FileMedium> {
    /// Opens the store in the file at `path`, creating it when missing (the parent directory
    /// must exist). A second opener, in this process or another, gets [`Error::Locked`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db, Error> {
        options.validate()?;
        let medium = FileMedium::open(path.as_ref(), &options.file_config())?;
        Db::open_medium(medium, options)
    }
}

impl<M: Medium> Db<M> {
    /// Opens the store held by `medium` (the crash simulator's entry point).
    pub fn open_medium(medium: M, options: Options) -> Result<Db<M>, Error> {
        Db::open_with_hooks(medium, options, NoHooks)
    }
}

impl<M: Medium, H: ProtocolHooks> Db<M, H> {
    /// Opens the store held by `medium`, with `hooks` at the protocol seam (the crash
    /// simulator's planted bugs; see [`ProtocolHooks`]).
    pub fn open_with_hooks(medium: M, options: Options, hooks: H) -> Result<Db<M, H>, Error> {
        let engine = Arc::new(Engine::open(medium, options, hooks)?);
        let cleaner = engine.background_cleaning().then(|| background::Cleaner::start(Arc::clone(&engine)));
        Ok(Db { engine, cleaner, closed: false })
    }

    /// Writes an index checkpoint now (docs/design.md, "Index checkpoints"): the next open reads
    /// it and replays only the log written after it began. Taken in the background every
    /// [`Options::checkpoint_interval_bytes`] of log, and at close; this call is for a point
    /// the application chooses (after a bulk load, before a planned restart). Returns once it
    /// is durable; writers and readers go on meanwhile.
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.engine.checkpoint()
    }

    /// The simulator's checkpoint, step by step (see `engine::checkpoint`): capture.
    #[cfg(feature = "sim")]
    pub(crate) fn checkpoint_begin(&self) -> Result<crate::engine::CheckpointTask, Error> {
        self.engine.checkpoint_begin()
    }

    /// Exports up to `leaves` leaves; true when the export is done.
    #[cfg(feature = "sim")]
    pub(crate) fn checkpoint_step(&self, task: &mut crate::engine::CheckpointTask, leaves: u64) -> Result<bool, Error> {
        self.engine.checkpoint_step(task, leaves)
    }

    /// Writes the last part and part 0 (no commit).
    #[cfg(feature = "sim")]
    pub(crate) fn checkpoint_seal(&self, task: &mut crate::engine::CheckpointTask) -> Result<(), Error> {
        self.engine.checkpoint_seal(task)
    }

    /// Commits, then frees the previous checkpoint.
    #[cfg(feature = "sim")]
    pub(crate) fn checkpoint_publish(&self, task: crate::engine::CheckpointTask) -> Result<(), Error> {
        self.engine.checkpoint_publish(task)
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        self.engine.get(key)
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.engine.write(&[Op::Put(key, value)])
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &[u8]) -> Result<(), Error> {
        self.engine.write(&[Op::Delete(key)])
    }

    /// Sets `key` to `new` if it holds `expected` now, atomically against every other write;
    /// returns whether it did. `expected: None` means "absent"; `new: None` deletes. The
    /// comparison and the write happen under the writer mutex, against the newest value written
    /// (committed or not, as [`Db::get`] reads it); a swap is durable as a `put` is (the store's
    /// [`Durability`](crate::Durability)). `Ok(false)` writes nothing. Swapping absent for
    /// absent writes nothing either, and returns whether the key is absent.
    pub fn compare_and_swap(&self, key: &[u8], expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, Error> {
        self.engine.compare_and_swap(key, expected, new)
    }

    /// Applies `batch` atomically.
    pub fn write(&self, batch: WriteBatch) -> Result<(), Error> {
        self.engine.write(&batch.ops())
    }

    /// All keys, ascending (reverse with `.rev()`), as of now: the iterator reads one snapshot
    /// taken here (writes after this call are not seen).
    pub fn iter(&self) -> Iter<'_, M, H> {
        self.iter_range(KeyRange { start: Bound::Unbounded, end: Bound::Unbounded })
    }

    /// Keys in `range`, ascending, as of now (one snapshot, as [`Db::iter`]).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_, M, H> {
        self.iter_range(key_range(range))
    }

    /// Keys starting with `prefix`, ascending, as of now (one snapshot, as [`Db::iter`]).
    pub fn prefix(&self, prefix: &[u8]) -> Iter<'_, M, H> {
        self.iter_range(prefix_range(prefix))
    }

    fn iter_range(&self, range: KeyRange) -> Iter<'_, M, H> {
        let registration = Registration::open(&self.engine);
        let entries = self.engine.range(range, Some(registration.at()));
        Iter { engine: &self.engine, entries, _registration: Some(registration) }
    }

    /// A point-in-time read view: every read through it sees the store as it is now, whatever
    /// is written later. Taking one is O(1) and blocks no writer; while it is open, the versions
    /// it may read are kept (their space is reclaimed only after it closes: see
    /// [`Stats::snapshot_bytes_pinned`]). Close it by dropping it.
    pub fn snapshot(&self) -> Snapshot<'_, M, H> {
        Snapshot::open(&self.engine)
    }

    /// Begins an optimistic, serializable transaction on a snapshot taken now: reads see the
    /// snapshot and the transaction's own writes; [`Transaction::commit`] writes them as one
    /// batch, or fails with [`Error::Conflict`] when something it read changed meanwhile.
    /// Dropping it without committing rolls it back (nothing was written).
    pub fn transaction(&self) -> Transaction<'_, M, H> {
        Transaction::begin(&self.engine)
    }

    /// Runs `work` in a transaction and commits it, running it again on [`Error::Conflict`]
    /// (from the commit, or from `work`), up to [`UPDATE_ATTEMPTS_MAX`] times (then the last
    /// conflict is returned). Every other error ends it. `work` must be safe to run more than
    /// once: only its last run's writes are committed.
    pub fn update<T>(&self, mut work: impl FnMut(&Transaction<'_, M, H>) -> Result<T, Error>) -> Result<T, Error> {
        for attempt in 0..UPDATE_ATTEMPTS_MAX {
            let transaction = self.transaction();
            let outcome = work(&transaction).and_then(|value| transaction.commit().map(|()| value));
            match outcome {
                Err(Error::Conflict) => crate::sync::spin_wait(attempt),
                outcome => return outcome,
            }
        }
        Err(Error::Conflict)
    }

    /// Commits: flushes every tagged range and fences once. Makes `Deferred` writes durable.
    pub fn sync(&self) -> Result<(), Error> {
        self.engine.sync()
    }

    /// Reclaims space now: cleans every segment worth cleaning (live records copied to the log
    /// head, committed, the segment freed), then hands surplus free space back to the filesystem.
    /// Returns the number of segments freed. Makes `Deferred` writes durable, like [`Db::sync`].
    pub fn compact(&self) -> Result<u64, Error> {
        self.engine.compact()
    }

    /// Runs cleaning steps while the space in use exceeds
    /// [`Options::max_space_amplification`] — what the background cleaner does when it wakes.
    /// For applications that turn the background thread off and drive cleaning themselves.
    /// It commits (everything written before it becomes durable), since a cleaned segment is
    /// freed by the commit that makes its Free record durable. Returns the segments cleaned.
    pub fn clean(&self) -> Result<u64, Error> {
        self.engine.clean()
    }

    /// Live and dead bytes of every segment holding the log, in log order.
    pub fn segments(&self) -> Vec<SegmentUsage> {
        self.engine.segments()
    }

    /// The flush model in force.
    pub fn flush_model(&self) -> FlushModel {
        self.engine.flush_model()
    }

    /// What the store did so far.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// The dirty-range index (for tests and tools that inspect tagging).
    pub fn dirty_index(&self) -> &crate::dirty::DirtyIndex {
        self.engine.dirty_index()
    }

    /// The medium (the simulator inspects and crashes it).
    pub fn medium(&self) -> &M {
        self.engine.medium()
    }

    /// Drops the handle as a crash would: no commit, no clean-shutdown record.
    pub fn abandon(mut self) {
        self.stop_cleaner();
        self.closed = true;
    }

    /// Commits and records a clean shutdown; after it, recovery checks that the log ends
    /// exactly where it ended here. Dropping a `Db` does the same, ignoring errors.
    pub fn close(mut self) -> Result<(), Error> {
        self.stop_cleaner();
        self.closed = true;
        self.engine.close()
    }

    fn stop_cleaner(&mut self) {
        if let Some(cleaner) = self.cleaner.take() {
            cleaner.stop();
        }
    }
}

impl<M: Medium, H: ProtocolHooks> Drop for Db<M, H> {
    fn drop(&mut self) {
        self.stop_cleaner();
        if !self.closed && !self.engine.is_poisoned() {
            let _ = self.engine.close();
        }
    }
}

impl<M: Medium, H: ProtocolHooks> std::fmt::Debug for Db<M, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("flush_model", &self.flush_model()).field("keys", &self.engine.key_count()).finish()
    }
}

/// Iterator over `(key, value)` pairs in key order, as of one snapshot: the one it was created
/// with ([`Db::iter`] takes its own, [`Snapshot::iter`] reads the snapshot's). Every pair is
/// the value the key held at that point; values are zero-copy where the medium allows, and stay
/// valid after the iterator (and the snapshot) are gone.
pub struct Iter<'a, M: Medium = FileMedium, H: ProtocolHooks = NoHooks> {
    engine: &'a Engine<M, H>,
    entries: EntryRange,
    /// The snapshot this iterator took for itself (`None`: it reads a [`Snapshot`]'s).
    _registration: Option<Registration<'a, M, H>>,
}

impl<M: Medium, H: ProtocolHooks> Iterator for Iter<'_, M, H> {
    type Item = Result<(Bytes, Bytes), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.engine.next_entry(&mut self.entries, End::Front)
    }
}

impl<M: Medium, H: ProtocolHooks> DoubleEndedIterator for Iter<'_, M, H> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.engine.next_entry(&mut self.entries, End::Back)
    }
}

/// Most runs of [`Db::update`]'s work before it gives up with [`Error::Conflict`].
pub const UPDATE_ATTEMPTS_MAX: u32 = 1 << 16;

/// Owned bounds of `range`.
fn key_range<K: AsRef<[u8]>, R: RangeBounds<K>>(range: R) -> KeyRange {
    let own = |bound: Bound<&K>| match bound {
        Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key.as_ref())),
        Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    };
    KeyRange { start: own(range.start_bound()), end: own(range.end_bound()) }
}

/// The keys starting with `prefix`.
fn prefix_range(prefix: &[u8]) -> KeyRange {
    let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    KeyRange { start: Bound::Included(Bytes::copy_from_slice(prefix)), end }
}
