//! The in-memory index: key → location (file offset and size) of the record holding its current
//! value. A location packs into one `u64`: offset / 8 in bits 0..43 (files up to 64 TiB), record
//! bytes / 8 above (records up to 2 MiB), so space accounting needs no header read.
//!
//! The structure is a copy-on-write B+tree ([`tree`]) that stores, per key, one 8-byte tag and
//! the packed location, and no key: the key is read back from its record in the mapping when a
//! search must compare it ([`RecordKeys`]). About 17 bytes per key in leaves plus a few in
//! nodes and separators, against ~250 for the skiplist-and-hash-map index it replaced (two heap
//! copies of each key, a shared slot, a skiplist node and a hash entry), and one structure for
//! point and ordered access.
//!
//! Readers never block and never take a lock: they pin crossbeam-epoch for one search, or for
//! one leaf of an iteration. Only the thread holding the engine's writer mutex changes the index,
//! so "look up, then update in place or insert" needs no CAS loop. Updating the location of a
//! key present (every overwrite, every record the cleaner moves) is one atomic store; inserting
//! or removing a key copies one leaf.
//!
//! Reading a key back from the mapping is sound for the same reason reading a value is: a reader
//! loads a location inside a [`ReaderGate`](crate::space::readers) section, which keeps the
//! record's segment from reuse until it ends; the writer reads only records the index points at
//! now, which are published and never rewritten while their segment is live.

mod tags;
mod tree;

use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

use tree::{KeySource, Tree};
pub(crate) use tree::{LeafImage, Leaves};

/// Where a record lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) offset: u64,
    pub(crate) record_bytes: u64,
}

const OFFSET_BITS: u32 = 43;

impl Location {
    pub(crate) fn pack(self) -> u64 {
        debug_assert!(self.offset % 8 == 0 && self.record_bytes % 8 == 0);
        debug_assert!(self.offset >> 3 < 1 << OFFSET_BITS && self.record_bytes >> 3 < 1 << (64 - OFFSET_BITS));
        (self.offset >> 3) | ((self.record_bytes >> 3) << OFFSET_BITS)
    }

    pub(crate) fn unpack(packed: u64) -> Location {
        Location { offset: (packed & ((1 << OFFSET_BITS) - 1)) << 3, record_bytes: (packed >> OFFSET_BITS) << 3 }
    }
}

/// Reads the key of the record at an offset the index holds.
pub(crate) trait RecordKeys {
    /// The key of the record at `offset`: a record the index points at (or is about to).
    fn key_at(&self, offset: u64) -> &[u8];

    /// Whether a key read is likely a disk read (recovery, over records nothing has read yet):
    /// the tree then skips the reads that only make its tags more telling. Default: no.
    fn reads_are_cold(&self) -> bool {
        false
    }
}

/// A [`RecordKeys`] seen as the tree's [`KeySource`] over packed locations.
struct ByLocation<'a, R>(&'a R);

impl<R: RecordKeys> KeySource for ByLocation<'_, R> {
    fn key(&self, slot: u64) -> &[u8] {
        self.0.key_at(Location::unpack(slot).offset)
    }

    fn reads_are_cold(&self) -> bool {
        self.0.reads_are_cold()
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    tree: Tree,
}

/// Owned bounds of a key range.
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

impl KeyRange {
    /// Whether the range holds no key at all (see [`holds_no_key`]).
    pub(crate) fn is_empty(&self) -> bool {
        holds_no_key(as_slice_bound(&self.start), as_slice_bound(&self.end))
    }
}

/// Whether no key lies between `start` and `end`: start after end, or equal and not both
/// inclusive. Also exactly the bounds `BTreeMap::range` would reject (it panics on a start after
/// the end, and on equal bounds both excluded), so callers check this first.
pub(crate) fn holds_no_key(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(first), Bound::Included(last)) => first > last,
        (Bound::Included(first) | Bound::Excluded(first), Bound::Included(last) | Bound::Excluded(last)) => {
            first >= last
        }
        _ => false,
    }
}

/// `bound` as a bound of slices.
pub(crate) fn as_slice_bound(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl KeyIndex {
    /// The index of `locations` (packed), whose keys ascend strictly, built in one pass.
    pub(crate) fn from_sorted(locations: &[u64], keys: &impl RecordKeys) -> KeyIndex {
        KeyIndex { tree: Tree::from_sorted(locations, &ByLocation(keys)) }
    }

    /// The index of checkpointed `leaves` (see [`Tree::from_leaves`]); an error names what is
    /// inconsistent.
    pub(crate) fn from_leaves(leaves: Leaves) -> Result<KeyIndex, &'static str> {
        Tree::from_leaves(leaves).map(|tree| KeyIndex { tree })
    }

    /// Copies into `out` the keys at or above `from` of one leaf (its slots are packed
    /// locations), and returns where the next leaf's keys begin (see [`Tree::export_from`]).
    pub(crate) fn export_from(&self, from: &[u8], keys: &impl RecordKeys, out: &mut LeafImage) -> Option<Box<[u8]>> {
        self.tree.export_from(from, &ByLocation(keys), out)
    }

    /// Location of the record holding `key`'s value.
    pub(crate) fn get(&self, key: &[u8], keys: &impl RecordKeys) -> Option<Location> {
        self.tree.get(key, &ByLocation(keys)).map(Location::unpack)
    }

    /// Points `key` at `location`; returns where it pointed before. Writer only; the record at
    /// `location` holds `key` already.
    pub(crate) fn set(&self, key: &[u8], location: Location, keys: &impl RecordKeys) -> Option<Location> {
        self.tree.set(key, location.pack(), &ByLocation(keys)).map(Location::unpack)
    }

    /// Gives `key`'s location (`None`: absent) to `change` and makes what it returns the key's
    /// location (`None`: removed), in one descent. Writer only; a location returned holds `key`.
    pub(crate) fn update(
        &self,
        key: &[u8],
        keys: &impl RecordKeys,
        change: impl FnOnce(Option<Location>) -> Option<Location>,
    ) {
        self.tree.update(key, &ByLocation(keys), |current| change(current.map(Location::unpack)).map(Location::pack));
    }

    /// Removes `key`; returns where it pointed. Writer only.
    pub(crate) fn remove(&self, key: &[u8], keys: &impl RecordKeys) -> Option<Location> {
        self.tree.remove(key, &ByLocation(keys)).map(Location::unpack)
    }

    /// Keys present.
    pub(crate) fn len(&self) -> usize {
        self.tree.len()
    }

    /// Heap bytes the index holds (see [`Tree::heap_bytes`]).
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.tree.heap_bytes()
    }

    /// Appends to `out` the packed locations ([`Location::unpack`]) of one leaf's keys after
    /// `from`, ascending; nothing when no key follows. The caller stops at its own upper bound.
    pub(crate) fn collect_after(&self, from: Bound<&[u8]>, keys: &impl RecordKeys, out: &mut Vec<u64>) {
        self.tree.collect_after(from, &ByLocation(keys), out);
    }

    /// Appends to `out` the packed locations of one leaf's keys before `to`, ascending.
    pub(crate) fn collect_before(&self, to: Bound<&[u8]>, keys: &impl RecordKeys, out: &mut Vec<u64>) {
        self.tree.collect_before(to, &ByLocation(keys), out);
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
    use super::{prefix_successor, Location};

    #[test]
    fn locations_pack_losslessly_at_the_limits() {
        for location in [
            Location { offset: 0, record_bytes: 32 },
            Location { offset: (1 << 46) - 8, record_bytes: 2 << 20 },
            Location { offset: 4096 + 48, record_bytes: 1064 },
        ] {
            assert_eq!(Location::unpack(location.pack()), location);
        }
    }

    #[test]
    fn prefix_successor_skips_saturated_bytes() {
        assert_eq!(prefix_successor(b"ab").as_deref(), Some(&b"ac"[..]));
        assert_eq!(prefix_successor(b"a\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
