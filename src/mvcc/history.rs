//! The versions superseded while snapshots are open: per key, each older version with the
//! batch that replaced it. See the module docs of [`crate::mvcc`] for the protocol.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;

use crate::index::{as_slice_bound, holds_no_key, KeyRange, Location};
use crate::space::readers::SegmentPin;

/// A version of a key that a newer batch replaced.
#[derive(Debug)]
struct Version {
    /// The batch that replaced it: snapshots taken before that batch read this version.
    superseded_at: u64,
    /// Its record (`None`: the key was absent).
    location: Option<Location>,
    /// Keeps the record's segment from reuse while the version is kept. Held, never read.
    _pin: Option<SegmentPin>,
}

/// One key's versions, oldest first. The oldest is held inline: most keys kept have one
/// version, and a lookup then follows no second pointer.
#[derive(Debug, Default)]
struct KeyVersions {
    /// The oldest version (`None` only while empty, transiently).
    oldest: Option<Version>,
    /// The newer ones, ascending by `superseded_at`.
    newer: VecDeque<Version>,
}

impl KeyVersions {
    fn is_empty(&self) -> bool {
        self.oldest.is_none()
    }

    fn push_back(&mut self, version: Version) {
        match self.oldest {
            None => self.oldest = Some(version),
            Some(_) => self.newer.push_back(version),
        }
    }

    fn pop_front(&mut self) -> Option<Version> {
        let oldest = self.oldest.take();
        self.oldest = self.newer.pop_front();
        oldest
    }

    fn newest(&self) -> Option<&Version> {
        self.newer.back().or(self.oldest.as_ref())
    }

    /// The first version superseded after batch `at`.
    fn first_after(&self, at: u64) -> Option<&Version> {
        let oldest = self.oldest.as_ref()?;
        if oldest.superseded_at > at {
            return Some(oldest);
        }
        let index = self.newer.partition_point(|version| version.superseded_at <= at);
        self.newer.get(index)
    }
}

/// See the module docs. Guarded by the `RwLock` in [`crate::mvcc::Versions`].
///
/// Invariants: every key's versions ascend by `superseded_at`, one per batch at most; `ordered`
/// holds exactly the keys of `keys`; `order` holds one `(superseded_at, key)` per version,
/// ascending by `superseded_at`, so the front of `order` names the front (oldest) version of
/// its key; `pinned_bytes` is the sum of the record bytes of the versions with a location,
/// `pinned_versions` their number.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Per key, its superseded versions, oldest first (a hash map: a snapshot's get is one
    /// lookup, not a descent comparing keys behind pointers).
    keys: HashMap<Bytes, KeyVersions>,
    /// The same keys, in order, for range reads and range validation.
    ordered: BTreeSet<Bytes>,
    /// Every version in the order recorded (which is batch order): the collection queue.
    order: VecDeque<(u64, Bytes)>,
    /// Record bytes the versions with a location keep.
    pinned_bytes: u64,
    /// Versions with a location (each holds one segment pin).
    pinned_versions: u64,
}

impl History {
    /// Records that batch `batch` replaces `key`'s version `location` (`None`: absent), whose
    /// segment `pin` keeps. A second change of the key in the same batch records nothing: the
    /// version before the batch is the one recorded first. Returns whether it recorded.
    pub(crate) fn record(
        &mut self,
        key: &[u8],
        batch: u64,
        location: Option<Location>,
        pin: impl FnOnce(Location) -> Option<SegmentPin>,
    ) -> bool {
        assert!(batch > 0, "batches are numbered from 1");
        if let Some(versions) = self.keys.get(key) {
            let newest = versions.newest().expect("a key is kept only with versions").superseded_at;
            assert!(newest <= batch, "versions are recorded in batch order");
            if newest == batch {
                return false;
            }
        }
        if let Some(back) = self.order.back() {
            assert!(back.0 <= batch, "the collection queue ascends");
        }
        let key = Bytes::copy_from_slice(key);
        let version = Version { superseded_at: batch, location, _pin: location.and_then(pin) };
        self.pinned_bytes += location.map_or(0, |location| location.record_bytes);
        self.pinned_versions += u64::from(location.is_some());
        let versions = self.keys.entry(key.clone()).or_default();
        if versions.is_empty() {
            self.ordered.insert(key.clone());
        }
        versions.push_back(version);
        self.order.push_back((batch, key));
        true
    }

    /// Drops every version superseded at or before `horizon` (no open snapshot reads them);
    /// returns how many.
    pub(crate) fn collect(&mut self, horizon: u64) -> u64 {
        let mut dropped = 0;
        while let Some((superseded_at, _)) = self.order.front() {
            if *superseded_at > horizon {
                break;
            }
            let (superseded_at, key) = self.order.pop_front().expect("front exists");
            let versions = self.keys.get_mut(&key).expect("a queued version's key is kept");
            let version = versions.pop_front().expect("a queued version is kept");
            // Paired with `record`: the queue's front is its key's oldest version.
            assert_eq!(version.superseded_at, superseded_at, "the queue names each key's oldest version first");
            self.pinned_bytes -= version.location.map_or(0, |location| location.record_bytes);
            self.pinned_versions -= u64::from(version.location.is_some());
            if versions.is_empty() {
                self.keys.remove(&key);
                self.ordered.remove(&key);
            }
            dropped += 1;
        }
        dropped
    }

    /// The version of `key` a snapshot at batch `at` reads, when a later batch replaced it:
    /// `Some(None)` absent, `Some(Some(location))` that record, `None` the current one.
    pub(crate) fn version_at(&self, key: &[u8], at: u64) -> Option<Option<Location>> {
        self.keys.get(key)?.first_after(at).map(|version| version.location)
    }

    /// Whether a batch after `at` changed `key`.
    pub(crate) fn changed_since(&self, key: &[u8], at: u64) -> bool {
        self.keys.get(key).and_then(KeyVersions::newest).is_some_and(|newest| newest.superseded_at > at)
    }

    /// Whether a batch after `at` changed a key in `range` (added, removed or replaced it).
    pub(crate) fn range_changed_since(&self, range: &KeyRange, at: u64) -> bool {
        if range.is_empty() {
            return false;
        }
        let bounds = (as_slice_bound(&range.start), as_slice_bound(&range.end));
        self.ordered.range::<[u8], _>(bounds).any(|key| self.changed_since(key, at))
    }

    /// Appends to `out` the keys in `(start, end)` that a batch after `at` changed, ascending,
    /// each with the version a snapshot at `at` reads.
    pub(crate) fn versions_in(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        at: u64,
        out: &mut Vec<(Bytes, Option<Location>)>,
    ) {
        if holds_no_key(start, end) {
            return;
        }
        for key in self.ordered.range::<[u8], _>((start, end)) {
            if let Some(location) = self.version_at(key, at) {
                out.push((key.clone(), location));
            }
        }
    }

    /// Versions kept.
    pub(crate) fn len(&self) -> u64 {
        self.order.len() as u64
    }

    /// Kept versions that hold a segment pin.
    pub(crate) fn pinned_versions(&self) -> u64 {
        self.pinned_versions
    }

    /// Record bytes the kept versions hold from reuse.
    pub(crate) fn pinned_bytes(&self) -> u64 {
        self.pinned_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(offset: u64) -> Option<Location> {
        Some(Location { offset, record_bytes: 64 })
    }

    fn history() -> History {
        History::default()
    }

    #[test]
    fn a_snapshot_reads_the_first_version_replaced_after_it() {
        let pins = std::sync::Arc::new(crate::space::readers::SegmentPins::default());
        let pin = |location: Location| Some(pins.pin(crate::ids::SegmentIndex::of_offset(location.offset)));
        let mut history = history();
        assert!(history.record(b"k", 3, None, pin));
        assert!(history.record(b"k", 5, location(4096), pin));
        assert!(!history.record(b"k", 5, location(8192), pin), "one version per batch");
        assert_eq!(history.version_at(b"k", 2), Some(None));
        assert_eq!(history.version_at(b"k", 3), Some(location(4096)));
        assert_eq!(history.version_at(b"k", 4), Some(location(4096)));
        assert_eq!(history.version_at(b"k", 5), None);
        assert!(history.changed_since(b"k", 4) && !history.changed_since(b"k", 5));
        assert_eq!(history.pinned_bytes(), 64);
        assert_eq!(pins.total(), 1);
        assert_eq!(history.collect(3), 1);
        assert_eq!(history.version_at(b"k", 3), Some(location(4096)));
        assert_eq!(history.collect(u64::MAX), 1);
        assert_eq!((history.len(), history.pinned_bytes(), pins.total()), (0, 0, 0));
    }
}
