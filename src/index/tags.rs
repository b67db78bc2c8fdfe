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

/// See the module docs: a node's prefix and tags, borrowed from the node (which keeps the
/// prefix in its header and the tags right after it, see `tree::node`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Tags<'a> {
    /// The prefix every key of the node starts with (possibly shorter than they all share).
    prefix: &'a [u8],
    /// One tag per key, ascending with the keys: the key's 8 bytes after the prefix,
    /// big-endian, zero-padded.
    tags: &'a [u64],
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

/// The prefix of keys `first` to `last` (ascending, with everything between them): the longest
/// they share, up to [`PREFIX_BYTES_MAX`] bytes. One key alone keeps as much of itself.
pub(super) fn prefix_len_of(first: &[u8], last: &[u8]) -> usize {
    common_prefix_len(first, last).min(PREFIX_BYTES_MAX)
}

/// The shortest key between two neighbouring keys of a node, from their tags `lower < upper`
/// under `prefix` alone: `prefix`, then `upper`'s bytes through the first one that exceeds
/// `lower`'s. `None` when the tags are equal (only the full keys can order them then).
///
/// Why it separates: let byte `d` be the first where the tags differ. `upper`'s byte `d` is not
/// zero, so it and every byte before it are real bytes of the upper key (padding is a run of
/// zeros to the tag's end), and the result is a prefix of the upper key: at most it. The lower
/// key agrees with it on bytes before `d` (or ends there) and is smaller at `d`: below it.
pub(super) fn separator_between(prefix: &[u8], lower: u64, upper: u64) -> Option<Box<[u8]>> {
    if lower >= upper {
        debug_assert_eq!(lower, upper, "tags of neighbouring keys ascend");
        return None;
    }
    let through = (lower ^ upper).leading_zeros() as usize / 8 + 1;
    let separator: Box<[u8]> = prefix.iter().copied().chain(upper.to_be_bytes()[..through].iter().copied()).collect();
    debug_assert!(separator.len() <= prefix.len() + 8);
    Some(separator)
}

/// Whether keys with the first tag `first` and the last tag `last` under a prefix of
/// `prefix_len` bytes may share a longer prefix. `false` is certain: the first and last key
/// then differ in the byte after the prefix (both tags hold it, or the first key ends there),
/// or the prefix is as long as a prefix can be.
pub(super) fn may_share_longer_prefix(prefix_len: usize, first: u64, last: u64) -> bool {
    prefix_len < PREFIX_BYTES_MAX && (first ^ last).leading_zeros() >= 8
}

/// Whether `tags` may be a node's: ascending.
pub(super) fn ascend(tags: &[u64]) -> bool {
    tags.windows(2).all(|pair| pair[0] <= pair[1])
}

impl<'a> Tags<'a> {
    /// The tags `tags` (ascending) under `prefix` (at most [`PREFIX_BYTES_MAX`] bytes).
    pub(super) fn new(prefix: &'a [u8], tags: &'a [u64]) -> Tags<'a> {
        assert!(prefix.len() <= PREFIX_BYTES_MAX);
        debug_assert!(ascend(tags), "tags ascend");
        Tags { prefix, tags }
    }

    /// Keys in the node.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.tags.len()
    }

    /// The prefix, as a checkpoint stores it.
    #[inline]
    pub(super) fn prefix(&self) -> &'a [u8] {
        self.prefix
    }

    /// The tags, as a checkpoint stores them.
    #[inline]
    pub(super) fn tags(&self) -> &'a [u64] {
        self.tags
    }

    /// Where `key` would join this node: the node's new prefix (a prefix of this one), `key`'s
    /// tag under it, and whether the other tags stay as they are (the prefix did not shrink).
    #[inline]
    pub(super) fn placing(&self, key: &[u8]) -> (&'a [u8], u64, bool) {
        let shared = common_prefix_len(self.prefix, key);
        (&self.prefix[..shared], tag_of(key, shared), shared == self.prefix.len())
    }

    /// These tags under the shorter prefix `prefix[..shared]`, recomputed without a full key.
    pub(super) fn retagged(&self, shared: usize) -> impl ExactSizeIterator<Item = u64> + 'a {
        let prefix = self.prefix;
        assert!(shared <= prefix.len());
        self.tags.iter().map(move |&tag| retag(tag, prefix, shared))
    }

    /// These tags with `key` inserted at `at` (the caller found that position by search): the
    /// new prefix and the new tags, ascending.
    #[cfg(test)]
    fn with_inserted(&self, at: usize, key: &[u8]) -> (&'a [u8], Vec<u64>) {
        assert!(at <= self.len());
        let (prefix, tag, kept) = self.placing(key);
        let mut tags: Vec<u64> = if kept { self.tags.to_vec() } else { self.retagged(prefix.len()).collect() };
        tags.insert(at, tag);
        (prefix, tags)
    }

    /// The index of the first key ≥ `key`, and whether that key equals it. `full(i)` returns
    /// the i-th key in full; it is called only for keys whose tag equals `key`'s.
    #[inline]
    pub(super) fn lower_bound<'k>(&self, key: &[u8], full: impl Fn(usize) -> &'k [u8]) -> (usize, bool) {
        let prefix = self.prefix;
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

#[cfg(test)]
mod tests {
    use super::{may_share_longer_prefix, prefix_len_of, retag, separator_between, tag_of, Tags};

    /// The reference: a linear search over the full keys.
    fn reference(keys: &[&[u8]], key: &[u8]) -> (usize, bool) {
        let at = keys.partition_point(|other| *other < key);
        (at, keys.get(at) == Some(&key))
    }

    /// Every pair of neighbours among keys that share a prefix, with zero bytes, ends and
    /// equal tags among them: the separator from the tags lies strictly above the lower key and
    /// at most the upper one, and "no longer prefix" is never wrong.
    #[test]
    fn separators_and_prefix_checks_from_tags_agree_with_the_keys() {
        let keys: [&[u8]; 12] = [
            b"ab",
            b"ab\0",
            b"ab\0\0\x01",
            b"ab\x01",
            b"ab\x01\0\0\0\0\0\0\0\x05",
            b"ab\x01\0\0\0\0\0\0\0\x06",
            b"ab\x01\x02",
            b"ab\x7f",
            b"ab\x80",
            b"ab\x80\xff\xff",
            b"ab\x81",
            b"ab\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "the test's keys ascend");
        for prefix_len in 0..=2 {
            let prefix = &keys[0][..prefix_len];
            for (first, lower) in keys.iter().enumerate() {
                for upper in &keys[first + 1..] {
                    let (lower_tag, upper_tag) = (tag_of(lower, prefix_len), tag_of(upper, prefix_len));
                    match separator_between(prefix, lower_tag, upper_tag) {
                        Some(separator) => {
                            assert!(*lower < &separator[..] && &separator[..] <= *upper, "{lower:?} {upper:?}");
                        }
                        None => assert_eq!(lower_tag, upper_tag),
                    }
                    let longest = prefix_len_of(lower, upper);
                    if !may_share_longer_prefix(prefix_len, lower_tag, upper_tag) {
                        assert_eq!(longest, prefix_len, "{lower:?} {upper:?} under {prefix_len}");
                    }
                }
            }
        }
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
        let mut keys: Vec<&[u8]> = sorted[1..3].to_vec();
        let prefix_len = prefix_len_of(keys[0], keys[1]);
        let mut prefix = keys[0][..prefix_len].to_vec();
        let mut tags: Vec<u64> = keys.iter().map(|key| tag_of(key, prefix_len)).collect();
        for key in [sorted[0], sorted[3], sorted[4], b"a", b"z"] {
            let (at, found) = Tags::new(&prefix, &tags).lower_bound(key, |index| keys[index]);
            assert!(!found);
            let (new_prefix, new_tags) = Tags::new(&prefix, &tags).with_inserted(at, key);
            (prefix, tags) = (new_prefix.to_vec(), new_tags);
            keys.insert(at, key);
            let probes: [&[u8]; 7] =
                [b"", b"user", b"user00001", b"user000010\0", b"user00002", b"zz", b"user0000100000000"];
            for probe in probes.iter().copied().chain(keys.iter().copied()) {
                let found = Tags::new(&prefix, &tags).lower_bound(probe, |index| keys[index]);
                assert_eq!(found, reference(&keys, probe), "{probe:?}");
            }
        }
        // A removal keeps the prefix (still shared, perhaps no longer the longest) and the others' tags.
        tags.remove(2);
        keys.remove(2);
        for probe in keys.clone() {
            assert_eq!(Tags::new(&prefix, &tags).lower_bound(probe, |index| keys[index]), reference(&keys, probe));
        }
    }
}
