//! The public handle.

use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Op, WriteBatch};
use crate::engine::Engine;
use crate::error::Error;
use crate::index::{prefix_successor, IndexRange, KeyRange};
use crate::media::{FileMedium, Medium};
use crate::options::{FlushModel, Options};
use crate::space::SegmentUsage;
use crate::stats::Stats;

mod background;

/// An open store. `Send + Sync`: share it with `Arc`.
///
/// `M` is the medium; applications use the default, a mapped file ([`Db::open`]). The crash
/// simulator opens the same engine on its recording medium.
pub struct Db<M: Medium = FileMedium> {
    engine: Arc<Engine<M>>,
    cleaner: Option<background::Cleaner>,
    closed: bool,
}

impl Db<FileMedium> {
    /// Opens the store in the file at `path`, creating it when missing (the parent directory
    /// must exist). A second opener, in this process or another, gets [`Error::Locked`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db, Error> {
        options.validate()?;
        let medium = FileMedium::open(path.as_ref(), &options)?;
        Db::open_medium(medium, options)
    }
}

impl<M: Medium> Db<M> {
    /// Opens the store held by `medium` (the crash simulator's entry point).
    pub fn open_medium(medium: M, options: Options) -> Result<Db<M>, Error> {
        let engine = Arc::new(Engine::open(medium, options)?);
        let cleaner = engine.options.background_cleaning.then(|| background::Cleaner::start(Arc::clone(&engine)));
        Ok(Db { engine, cleaner, closed: false })
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

    /// Applies `batch` atomically.
    pub fn write(&self, batch: WriteBatch) -> Result<(), Error> {
        self.engine.write(&batch.ops())
    }

    /// All keys, ascending (reverse with `.rev()`).
    pub fn iter(&self) -> Iter<'_, M> {
        self.iter_range(KeyRange { start: Bound::Unbounded, end: Bound::Unbounded })
    }

    /// Keys in `range`, ascending.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_, M> {
        let own = |bound: Bound<&K>| match bound {
            Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key.as_ref())),
            Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.iter_range(KeyRange { start: own(range.start_bound()), end: own(range.end_bound()) })
    }

    /// Keys starting with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> Iter<'_, M> {
        let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.iter_range(KeyRange { start: Bound::Included(Bytes::copy_from_slice(prefix)), end })
    }

    fn iter_range(&self, range: KeyRange) -> Iter<'_, M> {
        let empty = match (&range.start, &range.end) {
            (Bound::Included(start) | Bound::Excluded(start), Bound::Included(end) | Bound::Excluded(end)) => {
                start > end
                    || (start == end && !matches!((&range.start, &range.end), (Bound::Included(_), Bound::Included(_))))
            }
            _ => false,
        };
        // The skiplist panics on inverted bounds; an inverted or empty range yields nothing.
        let inner = if empty { None } else { Some(self.engine.index.range(range)) };
        Iter { engine: &self.engine, inner }
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
        // Bounded: one step per segment of the log, plus the commits that move the boundary.
        let live = crate::engine::lock(&self.engine.writer).space.live_count();
        self.engine.clean_to_target(live as usize + 2, || true)
    }

    /// Live and dead bytes of every segment holding the log, in log order.
    pub fn segments(&self) -> Vec<SegmentUsage> {
        crate::engine::lock(&self.engine.writer).space.usage()
    }

    /// The flush model in force.
    pub fn flush_model(&self) -> FlushModel {
        self.engine.medium.flush_model()
    }

    /// What the store did so far.
    pub fn stats(&self) -> Stats {
        let engine = &self.engine;
        let medium = engine.medium.counters();
        let dirty = engine.dirty.counters();
        let writes = engine.write_counters();
        Stats {
            flush_model: engine.medium.flush_model(),
            map_sync: engine.medium.map_sync(),
            line_flush_instruction: self.line_flush_instruction(),
            keys: engine.index.len() as u64,
            file_bytes: engine.medium.mapped_bytes(),
            log_head_offset: writes.log_head_offset,
            segments_used: writes.space.segments_live,
            live_bytes: writes.space.live_bytes,
            dead_bytes: writes.space.dead_bytes,
            segments_free: writes.space.segments_free,
            segments_punched: writes.space.segments_punched,
            segments_retired: writes.space.segments_retired,
            segments_cleaning: u64::from(engine.cleaning.cleaning_now.load(Ordering::Relaxed))
                + writes.space.segments_freeing,
            cleaning_steps_total: engine.cleaning.steps_total.load(Ordering::Relaxed),
            cleaning_segments_freed_total: engine.cleaning.segments_freed_total.load(Ordering::Relaxed),
            segments_reused_total: writes.space.segments_reused_total,
            cleaning_bytes_copied_total: engine.cleaning.bytes_copied_total.load(Ordering::Relaxed),
            cleaning_records_copied_total: engine.cleaning.records_copied_total.load(Ordering::Relaxed),
            holes_punched_total: medium.holes_punched_total,
            values_pinned: engine.pins.total(),
            puts_total: writes.puts_total,
            deletes_total: writes.deletes_total,
            batches_total: writes.batches_total,
            commits_total: engine.commits_total.load(Ordering::Relaxed),
            record_bytes_total: writes.record_bytes_total,
            dirty,
            dirty_regions: engine.dirty.nodes() as u64,
            flush_bytes_total: dirty.flush_bytes_total,
            flush_syscalls_total: medium.flush_syscalls_total,
            line_flushes_total: medium.line_flushes_total,
            fences_total: medium.fences_total,
            grows_total: medium.grows_total,
            poisoned: engine.is_poisoned(),
            recovery: engine.recovery,
        }
    }

    fn line_flush_instruction(&self) -> Option<crate::media::LineFlushInstruction> {
        (self.engine.medium.flush_model() == FlushModel::CacheLine).then(crate::media::line_flush_instruction)
    }

    /// The dirty-range index (for tests and tools that inspect tagging).
    pub fn dirty_index(&self) -> &crate::dirty::DirtyIndex {
        &self.engine.dirty
    }

    /// The medium (the simulator inspects and crashes it).
    pub fn medium(&self) -> &M {
        &self.engine.medium
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

impl<M: Medium> Drop for Db<M> {
    fn drop(&mut self) {
        self.stop_cleaner();
        if !self.closed && !self.engine.is_poisoned() {
            let _ = self.engine.close();
        }
    }
}

impl<M: Medium> std::fmt::Debug for Db<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("flush_model", &self.flush_model()).field("keys", &self.engine.index.len()).finish()
    }
}

/// Iterator over `(key, value)` pairs in key order. Not a snapshot: each key is read when the
/// iterator reaches it, so a concurrent write may or may not be seen; every pair returned is a
/// whole value the key held at some moment during the iteration (never torn).
pub struct Iter<'a, M: Medium = FileMedium> {
    engine: &'a Engine<M>,
    inner: Option<IndexRange<'a>>,
}

impl<M: Medium> Iter<'_, M> {
    fn read(
        &self,
        entry: crossbeam_skiplist::map::Entry<'_, Bytes, crate::index::Slot>,
    ) -> Result<(Bytes, Bytes), Error> {
        let section = self.engine.gate.enter();
        let location = crate::index::Location::unpack(entry.value().load(Ordering::Acquire));
        Ok((entry.key().clone(), self.engine.value_at(&section, location.offset)?))
    }
}

impl<M: Medium> Iterator for Iter<'_, M> {
    type Item = Result<(Bytes, Bytes), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.inner.as_mut()?.next()?;
        Some(self.read(entry))
    }
}

impl<M: Medium> DoubleEndedIterator for Iter<'_, M> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let entry = self.inner.as_mut()?.next_back()?;
        Some(self.read(entry))
    }
}
