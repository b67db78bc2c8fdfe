//! The in-memory ordered index: key → file offset of the record holding its current value.
//!
//! A lock-free skiplist (crossbeam-skiplist, built on crossbeam-epoch): readers never block and
//! never take a lock; removed nodes are reclaimed by epoch. Only the thread holding the engine's
//! writer mutex changes the index, so "look up, then update in place or insert" needs no CAS
//! loop. An update of an existing key is one atomic store into its entry (no allocation).

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    map: SkipMap<Bytes, AtomicU64>,
}

/// Owned bounds usable as a `RangeBounds<[u8]>` by the skiplist.
#[derive(Clone, Debug)]
pub(crate) struct KeyRange {
    pub(crate) start: Bound<Bytes>,
    pub(crate) end: Bound<Bytes>,
}

impl RangeBounds<[u8]> for KeyRange {
    fn start_bound(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.start)
    }
    fn end_bound(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.end)
    }
}

fn as_slice_bound(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The skiplist's range iterator over our bounds.
pub(crate) type IndexRange<'a> = crossbeam_skiplist::map::Range<'a, [u8], KeyRange, Bytes, AtomicU64>;

impl KeyIndex {
    /// Offset of the record holding `key`'s value.
    pub(crate) fn get(&self, key: &[u8]) -> Option<u64> {
        self.map.get(key).map(|entry| entry.value().load(Ordering::Acquire))
    }

    /// Points `key` at `location`. Writer only.
    pub(crate) fn set(&self, key: &[u8], location: u64) {
        match self.map.get(key) {
            Some(entry) => entry.value().store(location, Ordering::Release),
            None => {
                self.map.insert(Bytes::copy_from_slice(key), AtomicU64::new(location));
            }
        }
    }

    /// Removes `key`. Writer only.
    pub(crate) fn remove(&self, key: &[u8]) {
        self.map.remove(key);
    }

    /// Keys present.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Entries in `range`, ascending (and descending from the back).
    pub(crate) fn range(&self, range: KeyRange) -> IndexRange<'_> {
        self.map.range(range)
    }
}

/// The smallest key greater than every key starting with `prefix` (None: no such bound).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_skips_saturated_bytes() {
        assert_eq!(prefix_successor(b"ab").as_deref(), Some(&b"ac"[..]));
        assert_eq!(prefix_successor(b"a\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
