//! Step 6 of recovery: replay the kept segments into the index and the space accounting.
//!
//! Inserting every record into the index in log order would cost one index update per record,
//! most of them cache misses at millions of keys. Replay instead sorts: one pass over the kept
//! segments in log order makes them live, accounts every record as written, and lists each
//! Put and Delete as a *version* (its key's first 16 bytes, its location, its log position);
//! a sort by key, then log position, groups each key's versions in the order they were written;
//! one pass over the groups applies the same rules as the running store ([`crate::space`]): a
//! Put supersedes the key's previous live Put, which dies; a Delete kills it too and takes its
//! segment's generation as its shadow. The last version of each key, if it is a Put, is the
//! index entry; the index is built from those in one bottom-up pass.
//!
//! The accounting is the sum of the same `written` and `died` steps as a replay in log order,
//! only in another order: per-segment totals and shadows (a maximum) do not depend on it.

use std::cmp::Ordering as KeyOrder;

use super::SegmentHead;
use crate::ids::Generation;
use crate::index::{KeyIndex, Location, RecordKeys};
use crate::layout::RECORD_HEADER_BYTES;
use crate::log::access::{with_recovery_bytes, IndexedKeys};
use crate::log::cursor::{Cursor, Stop, STEPS_PER_SEGMENT_MAX};
use crate::log::record::{Header, Kind};
use crate::log::segment_start;
use crate::media::Medium;
use crate::space::{RecordClass, Space};

/// One Put or Delete of the replayed log.
#[derive(Clone, Copy, Debug)]
struct Version {
    /// The key's first 16 bytes as two big-endian words, zero-padded: sorting by them sorts by
    /// key, up to keys that agree on them.
    tags: [u64; 2],
    /// Its record.
    location: Location,
    /// Its place in log order, times two, plus one for a Delete.
    order_and_kind: u64,
}

impl Version {
    fn is_delete(&self) -> bool {
        self.order_and_kind & 1 == 1
    }
}

/// Replays `segments` (each kept segment's head and where its records end, in log order) into
/// `space`; returns the index they make.
pub(super) fn replay<M: Medium>(medium: &M, space: &mut Space, segments: &[(SegmentHead, u64)]) -> KeyIndex {
    let keys = IndexedKeys(medium);
    let mut live = Vec::new();
    for_each_key(medium, space, segments, |space, group| {
        if let Some(location) = apply_group(space, group, None, None) {
            live.push(location.pack());
        }
    });
    KeyIndex::from_sorted(&live, &keys)
}

/// Replays `segments` (the log after a checkpoint's capture) into `space` on top of `base`,
/// the checkpoint's index with only the entries recovery keeps (each counted live in `space`).
/// A key's first replayed version supersedes its entry in `base`; a Delete whose key `base`
/// does not hold gets its own segment's generation as its shadow, the most it can hide, since
/// the put it deleted may be one the fuzzy checkpoint did not see.
pub(super) fn replay_onto<M: Medium>(medium: &M, space: &mut Space, segments: &[(SegmentHead, u64)], base: &KeyIndex) {
    let keys = ColdKeys(IndexedKeys(medium));
    for_each_key(medium, space, segments, |space, group| {
        let key = keys.key_at(group[0].location.offset);
        let unknown_shadow = Some(space.generation_at(group[0].location.offset));
        base.update(key, &keys, |current| apply_group(space, group, current, unknown_shadow));
    });
}

/// The keys of records as recovery reads them: the checkpoint's entries point at records
/// nothing has read since the open began, so a read of one is a disk read (the mapping reads
/// 4 KiB per fault). The replay's inserts split leaves without reading their keys
/// ([`RecordKeys::reads_are_cold`]); a key is read only to confirm a match.
struct ColdKeys<'m, M>(IndexedKeys<'m, M>);

impl<M: Medium> RecordKeys for ColdKeys<'_, M> {
    fn key_at(&self, offset: u64) -> &[u8] {
        self.0.key_at(offset)
    }

    fn reads_are_cold(&self) -> bool {
        true
    }
}

/// Lists the versions of `segments` (making them live and accounting what they hold), sorts
/// them by key and log position, and calls `apply` once per key with its versions in log order.
fn for_each_key<M: Medium>(
    medium: &M,
    space: &mut Space,
    segments: &[(SegmentHead, u64)],
    mut apply: impl FnMut(&mut Space, &[Version]),
) {
    let mut versions = Vec::new();
    for &(head, end) in segments {
        list_segment(medium, space, head, end, &mut versions);
    }
    let keys = IndexedKeys(medium);
    versions.sort_unstable_by(|a, b| compare(&keys, a, b).then(a.order_and_kind.cmp(&b.order_and_kind)));
    let mut group_start = 0;
    // One group per key; each version visited once.
    while group_start < versions.len() {
        let first = &versions[group_start];
        let group_len =
            1 + versions[group_start + 1..].iter().take_while(|other| compare(&keys, first, other).is_eq()).count();
        apply(space, &versions[group_start..group_start + group_len]);
        group_start += group_len;
    }
}

/// Orders two versions by key.
fn compare<M: Medium>(keys: &IndexedKeys<'_, M>, a: &Version, b: &Version) -> KeyOrder {
    a.tags.cmp(&b.tags).then_with(|| keys.key_at(a.location.offset).cmp(keys.key_at(b.location.offset)))
}

/// Applies one key's versions (in log order) to the accounting, starting from `current` (its
/// live put before them); returns its live Put after them, if any. A Delete of a key with no
/// known put takes `unknown_shadow` as its shadow when it is the group's first version.
fn apply_group(
    space: &mut Space,
    group: &[Version],
    mut current: Option<Location>,
    unknown_shadow: Option<Generation>,
) -> Option<Location> {
    for (position, version) in group.iter().enumerate() {
        if version.is_delete() {
            // The shadow: the generation of the segment holding the put it deletes.
            let shadow = match current {
                Some(old) => Some(space.generation_at(old.offset)),
                None if position == 0 => unknown_shadow,
                None => None,
            };
            if let Some(old) = current.take() {
                space.died(old.offset, old.record_bytes);
            }
            let class = RecordClass::Tombstone { shadow };
            space.written(version.location.offset, version.location.record_bytes, class);
        } else if let Some(old) = current.replace(version.location) {
            space.died(old.offset, old.record_bytes);
        }
    }
    current
}

/// Makes one kept segment live, accounts its records as written (Puts live, bookkeeping dead;
/// Deletes wait for their shadow) and lists its Puts and Deletes.
fn list_segment<M: Medium>(medium: &M, space: &mut Space, head: SegmentHead, end: u64, versions: &mut Vec<Version>) {
    space.set_live(head.index, head.generation);
    let mut cursor = Cursor::at(head.index, segment_start(head.index), end);
    let read_header = |offset: u64, _| {
        with_recovery_bytes(medium, offset, offset + RECORD_HEADER_BYTES as u64, Header::decode_unchecked)
            .map(|header| (header, (0, 0)))
    };
    for _ in 0..=STEPS_PER_SEGMENT_MAX {
        let step = match cursor.next(read_header) {
            Ok(step) => step,
            Err(Stop::Bound | Stop::Sealed) => return,
            Err(stop) => unreachable!("the first pass validated every record up to {end}: {stop:?}"),
        };
        let (header, size) = (step.header, step.header.record_bytes());
        assert_eq!(header.generation, head.generation, "validated by the first pass");
        let location = Location { offset: step.offset, record_bytes: size };
        let order = versions.len() as u64 * 2;
        let key_at = step.offset + RECORD_HEADER_BYTES as u64;
        let tags = || with_recovery_bytes(medium, key_at, key_at + u64::from(header.key_len), tags_of);
        match header.kind {
            Kind::Put => {
                space.written(step.offset, size, RecordClass::Live);
                versions.push(Version { tags: tags(), location, order_and_kind: order });
            }
            Kind::Delete => versions.push(Version { tags: tags(), location, order_and_kind: order + 1 }),
            _ => space.written(step.offset, size, RecordClass::Dead),
        }
    }
    unreachable!("a cursor ends within its segment");
}

/// The first 16 bytes of `key` as two big-endian words, zero-padded.
fn tags_of(key: &[u8]) -> [u64; 2] {
    let mut bytes = [0u8; 16];
    let taken = key.len().min(16);
    bytes[..taken].copy_from_slice(&key[..taken]);
    let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    [word(0), word(8)]
}
