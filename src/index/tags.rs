//! The searchable form of a node's sorted keys: the prefix every key of the node shares, and for
//! each key the next 8 bytes as a big-endian `u64` (its *tag*, zero past the key's end).
//!
//! Comparing tags orders keys: for two keys sharing the prefix, `a < b` implies
//! `tag(a) <= tag(b)`, because padding with zeros (the smallest byte) keeps the order. A search
//! therefore binary-searches the tags, a dense array of 8-byte words, and looks at a full key
//! only among the entries whose tag equals the searched key's — rare unless keys agree on the
//! 8 bytes after the node's prefix. Dropping the shared prefix is what keeps keys like
//! `user000012345` apart: their first 8 bytes are all equal, their bytes after the node's prefix
//! are not.
//!
//! When a key that does not share the prefix joins the node, the prefix shrinks and every tag is
//! recomputed from the old prefix and the old tag alone ([`retag`]), with no look at a full key.

use std::cmp::Ordering as KeyOrder;

/// Most prefix bytes a node keeps (a shorter prefix is still a prefix every key shares, only
/// less telling; keys that agree on more than this many bytes tie on tags more often).
pub(super) const PREFIX_BYTES_MAX: usize = 16;

/// See the module docs. The prefix is inline; the tags are one allocation, which a search
/// prefetches whole (see [`Tags::prefetch`]).
#[derive(Debug)]
pub(super) struct Tags {
    /// Bytes of `prefix` in use.
    prefix_len: u8,
    /// The prefix every key of the node starts with (possibly shorter than they all share).
    prefix: [u8; PREFIX_BYTES_MAX],
    /// One tag per key, ascending with the keys: the key's 8 bytes after the prefix,
    /// big-endian, zero-padded.
    tags: Box<[u64]>,
}

/// The 8 bytes of `key` after its first `skip`, big-endian, zero past its end.
pub(super) fn tag_of(key: &[u8], skip: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let rest = key.get(skip..).unwrap_or(&[]);
    let taken = rest.len().min(8);
    bytes[..taken].copy_from_slice(&rest[..taken]);
    u64::from_be_bytes(bytes)
}

/// How many leading bytes `a` and `b` share.
pub(super) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The tag of a key under the prefix `prefix[..shared]`, from its tag under `prefix`: the bytes
/// `prefix[shared..]` then the old tag's leading bytes, first 8.
fn retag(tag: u64, prefix: &[u8], shared: usize) -> u64 {
    debug_assert!(shared <= prefix.len());
    let moved = &prefix[shared..];
    let mut bytes = [0u8; 8];
    let from_prefix = moved.len().min(8);
    bytes[..from_prefix].copy_from_slice(&moved[..from_prefix]);
    bytes[from_prefix..].copy_from_slice(&tag.to_be_bytes()[..8 - from_prefix]);
    u64::from_be_bytes(bytes)
}

impl Tags {
    /// Tags of `tags` (ascending) under `prefix` (at most [`PREFIX_BYTES_MAX`] bytes).
    fn of_parts(prefix: &[u8], tags: impl ExactSizeIterator<Item = u64>) -> Tags {
        assert!(prefix.len() <= PREFIX_BYTES_MAX);
        let mut inline = [0u8; PREFIX_BYTES_MAX];
        inline[..prefix.len()].copy_from_slice(prefix);
        let tags = Tags { prefix_len: prefix.len() as u8, prefix: inline, tags: tags.collect() };
        debug_assert!(tags.tags.windows(2).all(|pair| pair[0] <= pair[1]), "tags ascend");
        tags
    }

    /// The tags of `keys` (ascending), under the longest prefix they all share (up to
    /// [`PREFIX_BYTES_MAX`] bytes).
    pub(super) fn of_keys(keys: &[&[u8]]) -> Tags {
        let prefix_len = match (keys.first(), keys.last()) {
            // Sorted: every key between the first and the last shares what those two share.
            (Some(first), Some(last)) if keys.len() > 1 => common_prefix_len(first, last),
            (Some(only), _) => only.len(),
            _ => 0,
        }
        .min(PREFIX_BYTES_MAX);
        debug_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "keys ascend");
        let prefix = keys.first().map_or(&[][..], |first| &first[..prefix_len]);
        Tags::of_parts(prefix, keys.iter().map(|key| tag_of(key, prefix_len)))
    }

    /// The prefix and the tags, as a checkpoint stores them.
    pub(super) fn parts(&self) -> (&[u8], &[u64]) {
        (self.prefix(), &self.tags)
    }

    /// Tags read back from a checkpoint: `None` unless the prefix fits and the tags ascend
    /// (the checksum vouches for the rest).
    pub(super) fn from_image(prefix: &[u8], tags: &[u64]) -> Option<Tags> {
        let valid = prefix.len() <= PREFIX_BYTES_MAX && tags.windows(2).all(|pair| pair[0] <= pair[1]);
        valid.then(|| Tags::of_parts(prefix, tags.iter().copied()))
    }

    /// Heap bytes of the tags.
    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.tags)
    }

    /// Keys in the node.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.tags.len()
    }

    #[inline]
    fn prefix(&self) -> &[u8] {
        &self.prefix[..usize::from(self.prefix_len)]
    }

    /// Starts loading the tags into the cache, so that a search's misses overlap.
    #[inline]
    pub(super) fn prefetch(&self) {
        let bytes = std::mem::size_of_val(&*self.tags);
        let start = self.tags.as_ptr().cast::<u8>();
        for offset in (0..bytes).step_by(64) {
            crate::media::prefetch(start.wrapping_add(offset));
        }
    }

    /// These tags with `key` inserted at `at` (the caller found that position by search).
    pub(super) fn with_inserted(&self, at: usize, key: &[u8]) -> Tags {
        assert!(at <= self.len());
        let prefix = self.prefix();
        let shared = common_prefix_len(prefix, key);
        let new = tag_of(key, shared);
        let old = |at: usize| {
            let tag = self.tags[at];
            if shared == prefix.len() {
                tag
            } else {
                retag(tag, prefix, shared)
            }
        };
        let tags = (0..at).map(old).chain(std::iter::once(new)).chain((at..self.len()).map(old));
        Tags::of_parts(&prefix[..shared], ExactLen(tags, self.len() + 1))
    }

    /// These tags without the one at `at`. The prefix stays valid (perhaps no longer longest).
    pub(super) fn with_removed(&self, at: usize) -> Tags {
        assert!(at < self.len());
        let tags = self.tags[..at].iter().chain(&self.tags[at + 1..]).copied();
        Tags::of_parts(self.prefix(), ExactLen(tags, self.len() - 1))
    }

    /// The index of the first key ≥ `key`, and whether that key equals it. `full(i)` returns
    /// the i-th key in full; it is called only for keys whose tag equals `key`'s.
    #[inline]
    pub(super) fn lower_bound<'k>(&self, key: &[u8], full: impl Fn(usize) -> &'k [u8]) -> (usize, bool) {
        let prefix = self.prefix();
        if !key.starts_with(prefix) {
            // Every key here starts with `prefix`: `key` sorts before all of them or after all.
            return if key < prefix { (0, false) } else { (self.len(), false) };
        }
        let tag = tag_of(key, prefix.len());
        let first = self.tags.partition_point(|&other| other < tag);
        for at in first..self.tags.len() {
            if self.tags[at] != tag {
                return (at, false);
            }
            match full(at).cmp(key) {
                KeyOrder::Less => continue,
                KeyOrder::Equal => return (at, true),
                KeyOrder::Greater => return (at, false),
            }
        }
        (self.tags.len(), false)
    }
}

/// An iterator whose length is known to the caller (chains lose `ExactSizeIterator`).
struct ExactLen<I>(I, usize);

impl<I: Iterator<Item = u64>> Iterator for ExactLen<I> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator<Item = u64>> ExactSizeIterator for ExactLen<I> {}

#[cfg(test)]
mod tests {
    use super::{retag, tag_of, Tags};

    /// The reference: a linear search over the full keys.
    fn reference(keys: &[&[u8]], key: &[u8]) -> (usize, bool) {
        let at = keys.partition_point(|other| *other < key);
        (at, keys.get(at) == Some(&key))
    }

    #[test]
    fn retag_equals_tagging_the_full_key_again() {
        let keys: [&[u8]; 5] = [b"user0000123", b"user00001", b"user0", b"user000012345678901", b"user0000"];
        for key in keys {
            for old in 0..=5 {
                for shared in 0..=old {
                    let retagged = retag(tag_of(key, old), &key[..old], shared);
                    assert_eq!(retagged, tag_of(key, shared), "{key:?} {old} {shared}");
                }
            }
        }
    }

    #[test]
    fn lower_bound_agrees_with_a_linear_search_through_prefix_changes() {
        let sorted: Vec<&[u8]> = vec![b"user00001", b"user000010", b"user0000100000000", b"user00002", b"user0001"];
        let mut tags = Tags::of_keys(&sorted[1..3]);
        let mut keys: Vec<&[u8]> = sorted[1..3].to_vec();
        for key in [sorted[0], sorted[3], sorted[4], b"a", b"z"] {
            let (at, found) = tags.lower_bound(key, |index| keys[index]);
            assert!(!found);
            tags = tags.with_inserted(at, key);
            keys.insert(at, key);
            let probes: [&[u8]; 7] =
                [b"", b"user", b"user00001", b"user000010\0", b"user00002", b"zz", b"user0000100000000"];
            for probe in probes.iter().copied().chain(keys.iter().copied()) {
                assert_eq!(tags.lower_bound(probe, |index| keys[index]), reference(&keys, probe), "{probe:?}");
            }
        }
        let removed = tags.with_removed(2);
        keys.remove(2);
        for probe in keys.clone() {
            assert_eq!(removed.lower_bound(probe, |index| keys[index]), reference(&keys, probe));
        }
    }
}
