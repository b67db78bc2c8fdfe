//! [`Snapshot`]: a point-in-time read view (the protocol is in `crate::mvcc`).

use std::ops::RangeBounds;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::{key_range, prefix_range, Iter};
use crate::engine::hooks::{NoHooks, ProtocolHooks};
use crate::engine::Engine;
use crate::error::Error;
use crate::index::KeyRange;
use crate::media::{FileMedium, Medium};

/// Keeps one snapshot registered with the engine; ends it when dropped, unless a transaction's
/// commit ended it first (`released`).
pub(crate) struct Registration<'a, M: Medium, H: ProtocolHooks> {
    engine: &'a Engine<M, H>,
    /// The batch the snapshot reads after.
    at: u64,
    /// Set (once) by the commit that ended the snapshot under the writer mutex.
    released: AtomicBool,
}

impl<'a, M: Medium, H: ProtocolHooks> Registration<'a, M, H> {
    pub(crate) fn open(engine: &'a Engine<M, H>) -> Self {
        Registration { engine, at: engine.open_snapshot(), released: AtomicBool::new(false) }
    }

    pub(crate) fn engine(&self) -> &'a Engine<M, H> {
        self.engine
    }

    pub(crate) fn at(&self) -> u64 {
        self.at
    }

    pub(crate) fn released(&self) -> &AtomicBool {
        &self.released
    }
}

impl<M: Medium, H: ProtocolHooks> Drop for Registration<'_, M, H> {
    fn drop(&mut self) {
        if !self.released.load(Ordering::Acquire) {
            self.engine.close_snapshot(self.at);
        }
    }
}

/// A point-in-time read view of a [`Db`](crate::Db) ([`Db::snapshot`](crate::Db::snapshot)).
/// Reads see the store as it was when the snapshot was taken; writes made since are not seen.
/// `Send + Sync`: threads may read through one snapshot at once. Values returned stay valid
/// after it is dropped. The snapshot borrows its `Db`, so it cannot outlive it.
///
/// While it is open, every version it may read is kept: the space of records overwritten or
/// deleted since it was taken is reclaimed only after it closes ([`Stats`](crate::Stats)
/// reports it). A snapshot never blocks a writer.
pub struct Snapshot<'a, M: Medium = FileMedium, H: ProtocolHooks = NoHooks> {
    registration: Registration<'a, M, H>,
}

impl<'a, M: Medium, H: ProtocolHooks> Snapshot<'a, M, H> {
    pub(super) fn open(engine: &'a Engine<M, H>) -> Self {
        Snapshot { registration: Registration::open(engine) }
    }

    /// The value `key` had when the snapshot was taken.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        self.registration.engine().get_at(key, self.registration.at())
    }

    /// All keys, ascending (reverse with `.rev()`), as of the snapshot.
    pub fn iter(&self) -> Iter<'_, M, H> {
        self.iter_range(KeyRange { start: std::ops::Bound::Unbounded, end: std::ops::Bound::Unbounded })
    }

    /// Keys in `range`, ascending, as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_, M, H> {
        self.iter_range(key_range(range))
    }

    /// Keys starting with `prefix`, ascending, as of the snapshot.
    pub fn prefix(&self, prefix: &[u8]) -> Iter<'_, M, H> {
        self.iter_range(prefix_range(prefix))
    }

    pub(super) fn iter_range(&self, range: KeyRange) -> Iter<'_, M, H> {
        let engine = self.registration.engine();
        Iter { engine, entries: engine.range(range, Some(self.registration.at())), _registration: None }
    }

    pub(super) fn registration(&self) -> &Registration<'a, M, H> {
        &self.registration
    }
}

impl<M: Medium, H: ProtocolHooks> std::fmt::Debug for Snapshot<'_, M, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("batch", &self.registration.at()).finish()
    }
}
