//! Multi-version reads on the log: snapshots, and the versions they keep.
//!
//! The log already holds every version of a key until the cleaner reclaims it; what a snapshot
//! needs is a way back to the version that was current when it was taken. That way is kept in
//! memory only, while snapshots are open, so nothing of it is on the media and a crash loses
//! nothing a recovered store needs (there are no snapshots after a restart).
//!
//! **Clock.** Every batch a writer appends gets the next number ([`Versions::begin_batch`]
//! under the writer mutex; the cleaner's copies are not batches: they move a version, they do
//! not change it). A snapshot is a batch number `S`: it reads, for each key, the value after
//! batch `S` and before every later one.
//!
//! **History.** While at least one snapshot is open, a writer that changes a key in batch `B`
//! first records in the [`History`] the version it replaces — `(key, B, location)`, the location
//! `None` when the key was absent — and only then stores the new location in the index. The
//! version's record stays readable: its segment is pinned ([`SegmentPin`]) until the version is
//! dropped, so the cleaner may clean and retire the segment but not reuse or punch it.
//!
//! **Reading at `S`.** Look in the history for the first version of the key superseded after
//! `S`: if there is one, it is the version at `S`, kept until the snapshot closes. Otherwise load
//! the key's location from the index and look again; a version found now wins, else the
//! location loaded is the one. Index before that second look: a reader that sees a new location
//! in the index (a release store after the history insert) finds its history entry; a reader
//! that sees an old one reads either it or an entry recorded since, both right. Range reads
//! merge a leaf of the index with the history over the interval it covered (`engine/read.rs`).
//!
//! **Taking a snapshot without a lock on the writers.** The writer stores the number of the
//! batch it is about to apply in `in_flight` (`SeqCst`), then reads `snapshots_open` (`SeqCst`)
//! to decide whether to record, applies, and stores the number in `applied`. A snapshot, under
//! the registry mutex, increments `snapshots_open` (`SeqCst`), reads `in_flight` as its `S`, and
//! waits until `applied >= S`. By the single order of `SeqCst` operations, either the writer of
//! batch `B` saw the increment (it records), or its store of `in_flight` came before the
//! snapshot's read, so `S >= B` and the snapshot waits for `B` to be applied: every batch after
//! `S` records, every batch up to `S` is whole in the index when the snapshot starts reading.
//!
//! **Garbage.** Versions are dropped in the order recorded, once superseded at or before the
//! oldest open snapshot (all of them when none is open), by the snapshot that ends or by a
//! writer that finds versions kept with no snapshot open; the registry mutex is taken before
//! the history lock.
//!
//! Conflict detection for transactions reads the same history: a key read at `S` changed since
//! iff it has a version superseded after `S` (see docs/design.md, "Transactions").

mod clock;
mod history;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use clock::BatchClock;
pub(crate) use history::History;

use crate::index::Location;
use crate::space::readers::SegmentPin;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    /// The versions open snapshots may read.
    history: RwLock<History>,
    /// Versions in `history`: readers skip the lock when it is zero. Changed under the write
    /// lock, before the index store that follows a record (release), read after an index load.
    history_len: AtomicU64,
    /// Open snapshots per batch number. Taken before `history`.
    registry: Mutex<Registry>,
    /// Batch numbers and the count of open snapshots (the writer's lock-free view of
    /// `registry`).
    clock: BatchClock,
}

/// Open snapshots per batch number, oldest first: a queue, because snapshots register in batch
/// order (under the registry mutex, and `in_flight` only grows), so taking one never allocates
/// once the queue has room.
///
/// Invariants: batch numbers ascend strictly; the front and back entries count at least one
/// snapshot; entries counting none (a snapshot in the middle closed) are at most half of them
/// (`empty_entries` counts them), so the queue holds at most twice the open snapshots.
#[derive(Debug, Default)]
struct Registry {
    open: VecDeque<(u64, u64)>,
    empty_entries: usize,
}

impl Registry {
    fn register(&mut self, at: u64) {
        match self.open.back_mut() {
            Some((newest, count)) if *newest == at => *count += 1,
            Some((newest, _)) => {
                assert!(*newest < at, "snapshots register in batch order");
                self.open.push_back((at, 1));
            }
            None => self.open.push_back((at, 1)),
        }
    }

    fn unregister(&mut self, at: u64) {
        let index = self.open.binary_search_by_key(&at, |&(batch, _)| batch).expect("a snapshot closed is registered");
        let count = &mut self.open[index].1;
        assert!(*count > 0, "a snapshot closes once");
        *count -= 1;
        if *count == 0 {
            self.empty_entries += 1;
        }
        while self.open.front().is_some_and(|&(_, count)| count == 0) {
            self.open.pop_front();
            self.empty_entries -= 1;
        }
        while self.open.back().is_some_and(|&(_, count)| count == 0) {
            self.open.pop_back();
            self.empty_entries -= 1;
        }
        if self.empty_entries > self.open.len() / 2 {
            self.open.retain(|&(_, count)| count > 0);
            self.empty_entries = 0;
        }
    }

    /// The batch of the oldest open snapshot.
    fn oldest(&self) -> Option<u64> {
        self.open.front().map(|&(at, _)| at)
    }

    /// Snapshots open.
    fn count(&self) -> u64 {
        self.open.iter().map(|&(_, count)| count).sum()
    }
}

/// What a snapshot summary reports (see `Stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotCounters {
    /// Snapshots (and transactions, and iterators) open.
    pub(crate) open: u64,
    /// Batch number of the oldest one open.
    pub(crate) oldest_batch: Option<u64>,
    /// Versions kept for them.
    pub(crate) versions_kept: u64,
    /// Record bytes those versions keep from reuse.
    pub(crate) bytes_pinned: u64,
    /// Versions that hold a segment pin (one each).
    pub(crate) versions_pinning: u64,
}

impl Versions {
    /// Registers a snapshot; returns its batch number (see the module docs).
    pub(crate) fn open_snapshot(&self) -> u64 {
        let mut registry = self.registry.lock().unwrap_or_else(|poison| poison.into_inner());
        let at = self.clock.open();
        registry.register(at);
        at
    }

    /// Ends a snapshot taken at batch `at`, and drops the versions no open snapshot reads.
    pub(crate) fn close_snapshot(&self, at: u64) {
        let mut registry = self.registry.lock().unwrap_or_else(|poison| poison.into_inner());
        registry.unregister(at);
        self.clock.close();
        let horizon = registry.oldest().unwrap_or(u64::MAX);
        self.collect(horizon);
    }

    /// Drops versions superseded at or before `horizon` (registry mutex held by the caller).
    fn collect(&self, horizon: u64) {
        if self.history_len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut history = self.write();
        history.collect(horizon);
        self.history_len.store(history.len(), Ordering::Release);
    }

    /// A writer (writer mutex held) is about to apply `batch`: returns whether it must record
    /// the versions it replaces.
    pub(crate) fn begin_batch(&self, batch: u64) -> bool {
        self.clock.begin_batch(batch)
    }

    /// `batch`'s changes are all in the index. Drops versions left from snapshots closed while
    /// this writer recorded, when no snapshot is open (and none is being taken).
    pub(crate) fn end_batch(&self, batch: u64) {
        self.clock.end_batch(batch);
        if self.clock.none_open() && self.history_len.load(Ordering::Acquire) > 0 {
            if let Ok(registry) = self.registry.try_lock() {
                let horizon = registry.oldest().unwrap_or(u64::MAX);
                self.collect(horizon);
            }
        }
    }

    /// Records that `batch` replaces `key`'s version at `location` (writer mutex held, before
    /// the index store). `pin` pins the record's segment (`None` only from a planted bug).
    pub(crate) fn record(
        &self,
        key: &[u8],
        batch: u64,
        location: Option<Location>,
        pin: impl FnOnce(Location) -> Option<SegmentPin>,
    ) {
        let mut history = self.write();
        if history.record(key, batch, location, pin) {
            self.history_len.store(history.len(), Ordering::Release);
        }
    }

    /// The version of `key` a snapshot at `at` reads when a later batch replaced it (see
    /// [`History::version_at`]). A miss says nothing about the index: a reader that then loads
    /// the key's location looks here again (see the module docs).
    pub(crate) fn version_at(&self, key: &[u8], at: u64) -> Option<Option<Location>> {
        if self.history_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.read().version_at(key, at)
    }

    /// The history, to read (None when it is empty: nothing changed since any snapshot).
    pub(crate) fn history(&self) -> Option<RwLockReadGuard<'_, History>> {
        if self.history_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(self.read())
    }

    /// The newest batch applied.
    pub(crate) fn applied(&self) -> u64 {
        self.clock.applied()
    }

    /// What `Stats` reports.
    pub(crate) fn counters(&self) -> SnapshotCounters {
        let registry = self.registry.lock().unwrap_or_else(|poison| poison.into_inner());
        let history = self.read();
        SnapshotCounters {
            open: registry.count(),
            oldest_batch: registry.oldest(),
            versions_kept: history.len(),
            bytes_pinned: history.pinned_bytes(),
            versions_pinning: history.pinned_versions(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, History> {
        self.history.write().unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn the_registry_keeps_the_oldest_first_and_stays_small() {
        let mut registry = Registry::default();
        for at in [1, 1, 2, 5, 5, 9] {
            registry.register(at);
        }
        assert_eq!((registry.oldest(), registry.count()), (Some(1), 6));
        registry.unregister(1);
        assert_eq!(registry.oldest(), Some(1));
        registry.unregister(5);
        registry.unregister(5);
        registry.unregister(1);
        assert_eq!((registry.oldest(), registry.count()), (Some(2), 2));
        // A long-lived oldest snapshot under churn: closed middle entries do not pile up.
        for at in 10..10_000 {
            registry.register(at);
            registry.register(at + 1);
            registry.unregister(at);
        }
        assert!(registry.open.len() <= 2 * registry.count() as usize + 2, "{}", registry.open.len());
        assert_eq!(registry.oldest(), Some(2));
    }
}
