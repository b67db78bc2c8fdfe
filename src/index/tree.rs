//! A copy-on-write B+tree with one writer and lock-free readers, over keys it does not own.
//!
//! # The structure
//! Leaves hold, per key, its tag (see [`super::tags`]) and a slot: an `AtomicU64` the caller
//! fills (the index stores a packed record location). The key bytes stay where the caller keeps
//! them; [`KeySource`] turns a slot back into its key when a search must compare full keys. Inner
//! nodes own copies of their separator keys (one per child boundary, a few per thousand keys),
//! because a separator must outlive the record it was copied from.
//!
//! Each node is one allocation ([`node`]): a header holding the prefix, then the tags, then the
//! slots (leaf) or the child pointers and the separators (inner). A search reads one allocation
//! per level; an insert's copy of a leaf is one allocation, its tags and slots copied in two
//! pieces each. A split keeps the tags unless a half's keys share a longer prefix, and takes as
//! separator the shortest key between the halves that their tags give: it reads no key unless
//! the tags cannot decide (equal neighbours, or a half whose first and last tag agree on their
//! first byte). A merge retags under the prefix both leaves share, with no key read.
//!
//! `separators[i]` is a lower bound of `children[i + 1]`: every key under `children[i]` is below
//! it, every key under `children[i + 1]` at or above it. Leaves are never empty except a root
//! leaf; inner nodes have at least one child.
//!
//! # Concurrency: one writer, readers that never wait
//! Only one thread changes the tree at a time (the index's writer; debug builds assert it).
//! - Changing the value of a key already present is one `Release` store into its slot: readers
//!   see the old or the new value.
//! - Inserting or removing a key copies the leaf (a node is never changed once shared, except its
//!   slots and its children's pointers), and publishes the copy with one `Release` store of the
//!   pointer in its parent; a split or a merge copies the parent too, and so on up to the root.
//!   A reader that loaded the old pointer goes on reading a complete old node.
//! - A replaced node is freed through crossbeam-epoch once no pinned reader can hold it.
//!   Readers pin for one search or one leaf's worth of iteration, never across calls. The
//!   writer does not pin: it reaches only linked nodes, which only it unlinks, and it hands what
//!   it unlinked to the collector in batches of 64, at the end of an operation (one pin and one
//!   deferred function per batch).
//!
//! A reader's search therefore sees, in each node, a state that node held: a get returns a value
//! the key held during the get, and an iteration step returns the keys of one leaf as it was.
//! The writer's own searches read the live tree, which only it changes.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Guard};

use super::tags::{self, tag_of, PREFIX_BYTES_MAX};
use node::{Inner, Kind, Leaf, Link, NewNode, Node, NodePointer, Retired, Splice};

mod node;

/// Most keys in a leaf: a copy costs at most 1 KiB, a split derefs at most this many keys.
pub(super) const LEAF_KEYS_MAX: usize = 64;
/// Below this, a leaf merges with a neighbour when both fit one leaf.
const LEAF_KEYS_MIN: usize = LEAF_KEYS_MAX / 4;
/// Most children of an inner node.
const CHILDREN_MAX: usize = 64;
/// Deeper than any tree can grow: 2^64 keys need fewer than 32 levels of half-full nodes.
const HEIGHT_MAX: usize = 32;

/// Turns a slot's value back into the key it belongs to.
pub(crate) trait KeySource {
    /// The key whose slot holds `slot`. Must be the key the slot was stored for.
    fn key(&self, slot: u64) -> &[u8];

    /// Whether a key read is likely a disk read. A split then keeps a half's prefix rather
    /// than read all its keys to retag them under a longer one: the prefix stays one its keys
    /// share, only less telling, until a later split (with warm reads) lengthens it. Default: no.
    fn reads_are_cold(&self) -> bool {
        false
    }
}

/// One leaf's entries as a checkpoint stores them (see [`Tree::export_from`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeafImage {
    /// The prefix every key of the leaf starts with (at most 16 bytes).
    pub(crate) prefix: Vec<u8>,
    /// Per key, its 8 bytes after the prefix (big-endian, zero-padded), ascending.
    pub(crate) tags: Vec<u64>,
    /// Per key, its slot.
    pub(crate) slots: Vec<u64>,
}

/// Leaves as a checkpoint stores them, in key order, each with a lower bound of its keys.
pub(crate) type Leaves = Vec<(Box<[u8]>, LeafImage)>;

impl LeafImage {
    /// The lower bound a checkpoint stores with this image, exported from `from`
    /// ([`Tree::export_from`]): the larger of `from` and the prefix. It is at most every key of
    /// the image (each is at least both), above every key exported before `from`, and starts with
    /// the prefix (a key between the prefix and a key that starts with it starts with it too).
    pub(crate) fn bound_from<'a>(&'a self, from: &'a [u8]) -> &'a [u8] {
        let bound = if from > &self.prefix[..] { from } else { &self.prefix[..] };
        debug_assert!(bound.starts_with(&self.prefix), "the bound starts with the prefix");
        bound
    }
}

/// What a writer's change turns a node into, for its parent to install.
enum Replacement {
    One(NewNode),
    Split(NewNode, Box<[u8]>, NewNode),
    Gone,
}

/// The inner nodes a search passed, each with the child it took.
struct Path<'g> {
    steps: [Option<(Inner<'g>, usize)>; HEIGHT_MAX],
    len: usize,
}

impl<'g> Path<'g> {
    fn new() -> Path<'g> {
        Path { steps: [None; HEIGHT_MAX], len: 0 }
    }

    fn push(&mut self, node: Inner<'g>, child: usize) {
        assert!(self.len < HEIGHT_MAX, "the tree is deeper than {HEIGHT_MAX}");
        self.steps[self.len] = Some((node, child));
        self.len += 1;
    }

    /// Step `level` (below `len`).
    fn step(&self, level: usize) -> (Inner<'g>, usize) {
        assert!(level < self.len);
        self.steps[level].expect("a step below the path's length is set")
    }
}

/// See the module docs.
pub(crate) struct Tree {
    root: Link,
    /// Keys present. Written by the writer only.
    len: AtomicUsize,
    /// Set while the writer changes the tree: a second writer is a caller's bug.
    writing: AtomicBool,
    /// What the writer unlinked, not yet handed to the collector.
    retired: Retired,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::of_root(empty_leaf(), 0)
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Tree").field("len", &self.len()).finish_non_exhaustive()
    }
}

fn empty_leaf() -> NewNode {
    NewNode::leaf(&[], std::iter::empty(), std::iter::empty())
}

/// A leaf of `slots` (ascending by key), its tags taken from the full keys.
fn leaf_of_slots(slots: &[u64], source: &impl KeySource) -> NewNode {
    let prefix: &[u8] = match (slots.first(), slots.last()) {
        (Some(&first), Some(&last)) => {
            let first = source.key(first);
            &first[..tags::prefix_len_of(first, source.key(last))]
        }
        _ => &[],
    };
    let tags = slots.iter().map(|&slot| tag_of(source.key(slot), prefix.len()));
    NewNode::leaf(prefix, tags, slots.iter().copied())
}

/// A leaf of `slots` and their `tags` under `prefix` (a half of a leaf split): the tags as they
/// are when the keys share no longer prefix, else retagged from the keys under the longer one.
/// The tags of the first and last key mostly decide it without a key read
/// ([`tags::may_share_longer_prefix`]); else the first and last key are read, unless reads are
/// cold ([`KeySource::reads_are_cold`]): then the half keeps the prefix.
fn leaf_of_half(prefix: &[u8], tags: &[u64], slots: &[u64], source: &impl KeySource) -> NewNode {
    assert!(!slots.is_empty() && tags.len() == slots.len());
    if source.reads_are_cold() || !tags::may_share_longer_prefix(prefix.len(), tags[0], tags[tags.len() - 1]) {
        return NewNode::leaf(prefix, tags.iter().copied(), slots.iter().copied());
    }
    let longest = tags::prefix_len_of(source.key(slots[0]), source.key(slots[slots.len() - 1]));
    debug_assert!(longest >= prefix.len(), "keys of a leaf share its prefix");
    if longest > prefix.len() {
        return leaf_of_slots(slots, source);
    }
    NewNode::leaf(prefix, tags.iter().copied(), slots.iter().copied())
}

/// The leaf of `lower`'s then `upper`'s entries without the entry `removed` (counted across both),
/// under the prefix both leaves share: tags retagged, no key read.
fn merged_leaf(lower: Leaf<'_>, upper: Leaf<'_>, removed: usize) -> NewNode {
    assert!(removed < lower.len() + upper.len());
    let (lower_tags, upper_tags) = (lower.tags(), upper.tags());
    let shared = tags::common_prefix_len(lower_tags.prefix(), upper_tags.prefix());
    let mut tags: Vec<u64> = lower_tags.retagged(shared).chain(upper_tags.retagged(shared)).collect();
    let mut slots: Vec<u64> = lower.slot_values().chain(upper.slot_values()).collect();
    tags.remove(removed);
    slots.remove(removed);
    NewNode::leaf(&lower_tags.prefix()[..shared], tags.into_iter(), slots.into_iter())
}

/// An inner node of `separators` and `children` (one more), its tags taken from the separators.
fn inner_of_parts(separators: &[&[u8]], children: &[NodePointer]) -> NewNode {
    let prefix: &[u8] = match (separators.first(), separators.last()) {
        (Some(first), Some(last)) => &first[..tags::prefix_len_of(first, last)],
        _ => &[],
    };
    let tags = separators.iter().map(|separator| tag_of(separator, prefix.len()));
    NewNode::inner(prefix, tags, separators, children)
}

impl<'g> Leaf<'g> {
    fn slot(self, at: usize) -> u64 {
        self.slots()[at].load(Ordering::Acquire)
    }

    fn slot_values(self) -> impl ExactSizeIterator<Item = u64> + 'g {
        self.slots().iter().map(|slot| slot.load(Ordering::Acquire))
    }

    fn search(self, key: &[u8], source: &impl KeySource) -> (usize, bool) {
        self.tags().lower_bound(key, |at| source.key(self.slot(at)))
    }

    /// The index of the first key after `from` (`len` when none is).
    fn start_after(self, from: Bound<&[u8]>, source: &impl KeySource) -> usize {
        match from {
            Bound::Included(key) => self.search(key, source).0,
            Bound::Excluded(key) => {
                let (at, equal) = self.search(key, source);
                at + usize::from(equal)
            }
            Bound::Unbounded => 0,
        }
    }

    /// The index past the last key before `to`.
    fn end_before(self, to: Bound<&[u8]>, source: &impl KeySource) -> usize {
        match to {
            Bound::Included(key) => {
                let (at, equal) = self.search(key, source);
                at + usize::from(equal)
            }
            Bound::Excluded(key) => self.search(key, source).0,
            Bound::Unbounded => self.len(),
        }
    }

    /// This leaf with `slot` inserted at `at`, split in two if it overflows. One allocation
    /// unless it splits: the tags and slots are copied straight into the copy (retagged first
    /// in the rare case the prefix shrinks).
    fn inserted(self, at: usize, key: &[u8], slot: u64, source: &impl KeySource) -> Replacement {
        if self.len() < LEAF_KEYS_MAX {
            let tags = self.tags();
            let (prefix, tag, kept) = tags.placing(key);
            let change = Splice::Insert { tag, slot };
            if kept {
                return Replacement::One(NewNode::leaf_spliced(prefix, tags.tags(), self.slots(), at, change));
            }
            let retagged: Vec<u64> = tags.retagged(prefix.len()).collect();
            return Replacement::One(NewNode::leaf_spliced(prefix, &retagged, self.slots(), at, change));
        }
        self.split(at, key, slot, source)
    }

    /// This full leaf with `slot` inserted at `at`, as two halves. A half keeps the tags it has
    /// unless its keys share a longer prefix than this leaf. The separator is the shortest key
    /// between the halves that their tags give ([`tags::separator_between`]), so that a split
    /// mostly reads no key: a record read here is a cold read when the tree is large (recovery's
    /// replay onto a checkpoint splits about one leaf in two of those it inserts into).
    fn split(self, at: usize, key: &[u8], slot: u64, source: &impl KeySource) -> Replacement {
        let tags = self.tags();
        let (prefix, tag, kept) = tags.placing(key);
        let mut all_tags: Vec<u64> = if kept { tags.tags().to_vec() } else { tags.retagged(prefix.len()).collect() };
        all_tags.insert(at, tag);
        let mut slots: Vec<u64> = self.slot_values().collect();
        slots.insert(at, slot);
        let half = slots.len() / 2;
        let separator = tags::separator_between(prefix, all_tags[half - 1], all_tags[half])
            .unwrap_or_else(|| source.key(slots[half]).into());
        let left = leaf_of_half(prefix, &all_tags[..half], &slots[..half], source);
        let right = leaf_of_half(prefix, &all_tags[half..], &slots[half..], source);
        Replacement::Split(left, separator, right)
    }

    /// This leaf without the key at `at` (under the same prefix: still shared, perhaps no longer
    /// the longest).
    fn removed(self, at: usize) -> NewNode {
        let tags = self.tags();
        NewNode::leaf_spliced(tags.prefix(), tags.tags(), self.slots(), at, Splice::Remove)
    }
}

impl<'g> Inner<'g> {
    fn child_for(self, key: &[u8]) -> usize {
        let (at, equal) = self.tags().lower_bound(key, |at| self.separator(at));
        at + usize::from(equal)
    }

    fn separators(self) -> Vec<&'g [u8]> {
        (0..self.separator_count()).map(|at| self.separator(at)).collect()
    }

    /// This node with `child` replaced by `left`, `separator` and `right`; split if it overflows.
    fn with_split(self, child: usize, left: NewNode, separator: &[u8], right: NewNode) -> Replacement {
        let mut children: Vec<NodePointer> = self.child_pointers().collect();
        children[child] = left.into_pointer();
        children.insert(child + 1, right.into_pointer());
        let mut separators = self.separators();
        separators.insert(child, separator);
        if children.len() <= CHILDREN_MAX {
            return Replacement::One(inner_of_parts(&separators, &children));
        }
        let half = children.len() / 2;
        let (left_children, right_children) = children.split_at(half);
        let promoted: Box<[u8]> = separators[half - 1].into();
        let (left_separators, right_separators) = (&separators[..half - 1], &separators[half..]);
        let (left, right) =
            (inner_of_parts(left_separators, left_children), inner_of_parts(right_separators, right_children));
        Replacement::Split(left, promoted, right)
    }

    /// This node without `child` (its keys' range joins a neighbour's), or gone if it was the last.
    fn without(self, child: usize) -> Replacement {
        if self.children().len() == 1 {
            return Replacement::Gone;
        }
        let mut children: Vec<NodePointer> = self.child_pointers().collect();
        children.remove(child);
        let mut separators = self.separators();
        separators.remove(child.saturating_sub(1));
        Replacement::One(inner_of_parts(&separators, &children))
    }

    /// This node with children `first` and `first + 1` replaced by `merged`.
    fn with_merged(self, first: usize, merged: NewNode) -> NewNode {
        let mut children: Vec<NodePointer> = self.child_pointers().collect();
        children[first] = merged.into_pointer();
        children.remove(first + 1);
        let mut separators = self.separators();
        separators.remove(first);
        inner_of_parts(&separators, &children)
    }
}

/// Keys per leaf, and children per inner node, in a tree built from sorted input: room for a
/// quarter more before a split.
const BULK_FILL: usize = LEAF_KEYS_MAX * 3 / 4;

impl Tree {
    fn of_root(root: NewNode, len: usize) -> Tree {
        Tree {
            root: Link::new(root.into_pointer()),
            len: AtomicUsize::new(len),
            writing: AtomicBool::new(false),
            retired: Retired::default(),
        }
    }

    /// A tree of `slots`, whose keys ascend strictly, built bottom-up in one pass (recovery).
    pub(crate) fn from_sorted(slots: &[u64], source: &impl KeySource) -> Tree {
        debug_assert!(slots.windows(2).all(|pair| source.key(pair[0]) < source.key(pair[1])), "keys ascend");
        if slots.is_empty() {
            return Tree::default();
        }
        let leaves: Vec<(Box<[u8]>, NewNode)> =
            slots.chunks(BULK_FILL).map(|chunk| (source.key(chunk[0]).into(), leaf_of_slots(chunk, source))).collect();
        Tree::built_up(leaves, slots.len())
    }

    /// A tree of `leaves` read back from a checkpoint, in key order, each with a lower bound of
    /// its keys (its smallest key when exported; recovery may drop entries after that, and the
    /// bound stays a valid separator). Checks what it can without reading a record: every leaf
    /// holds 1 to [`LEAF_KEYS_MAX`] keys under a prefix that fits, its tags ascend, its bound
    /// starts with its prefix and its tag is at most the first, and the bounds ascend strictly.
    pub(crate) fn from_leaves(leaves: Leaves) -> Result<Tree, &'static str> {
        if leaves.is_empty() {
            return Ok(Tree::default());
        }
        if leaves.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err("the leaves' smallest keys do not ascend");
        }
        let mut len = 0;
        let mut level = Vec::with_capacity(leaves.len());
        for (smallest, image) in leaves {
            let count = image.slots.len();
            if count == 0 || count > LEAF_KEYS_MAX || image.tags.len() != count {
                return Err("a leaf holds no key, too many, or tags and slots that differ in number");
            }
            if image.prefix.len() > PREFIX_BYTES_MAX
                || !smallest.starts_with(&image.prefix)
                || tag_of(&smallest, image.prefix.len()) > image.tags[0]
            {
                return Err("a leaf's smallest key does not match its prefix and first tag");
            }
            if !tags::ascend(&image.tags) {
                return Err("a leaf's tags do not ascend");
            }
            len += count;
            let leaf = NewNode::leaf(&image.prefix, image.tags.iter().copied(), image.slots.iter().copied());
            level.push((smallest, leaf));
        }
        Ok(Tree::built_up(level, len))
    }

    /// The tree over `level` (nodes in key order, each with the smallest key under it), holding
    /// `len` keys: inner levels of [`BULK_FILL`] children are added until one node remains.
    fn built_up(mut level: Vec<(Box<[u8]>, NewNode)>, len: usize) -> Tree {
        assert!(!level.is_empty());
        for _ in 0..HEIGHT_MAX {
            if level.len() == 1 {
                let (_, root) = level.pop().expect("one node");
                return Tree::of_root(root, len);
            }
            let mut parents = Vec::with_capacity(level.len() / BULK_FILL + 1);
            let mut nodes = level.into_iter().peekable();
            while nodes.peek().is_some() {
                let group: Vec<(Box<[u8]>, NewNode)> = nodes.by_ref().take(BULK_FILL).collect();
                let separators: Vec<&[u8]> = group[1..].iter().map(|(key, _)| &key[..]).collect();
                let children: Vec<NodePointer> = group.iter().map(|(_, node)| node.view().pointer()).collect();
                let parent = inner_of_parts(&separators, &children);
                let mut group = group.into_iter();
                let (lowest, first) = group.next().expect("a group is not empty");
                // The parent owns its children from here.
                let _ = first.into_pointer();
                group.for_each(|(_, node)| {
                    let _ = node.into_pointer();
                });
                parents.push((lowest, parent));
            }
            level = parents;
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// Copies into `out` the keys at or above `from` of the leaf covering `from` (its prefix,
    /// tags and slots, as a checkpoint stores them; possibly none), and returns where the keys
    /// after that leaf begin: the separator above it, `None` when it is the last leaf. Exporting
    /// from the empty key and then from each returned separator visits every leaf once, in key
    /// order, and reads no key unless a tag ties with `from`'s: a checkpoint of a large store
    /// would otherwise read two cold records per leaf. The leaf and its path are read under one
    /// pin, as they were at one moment; `out` is overwritten.
    pub(crate) fn export_from(&self, from: &[u8], source: &impl KeySource, out: &mut LeafImage) -> Option<Box<[u8]>> {
        let guard = epoch::pin();
        let mut path = Path::new();
        let leaf = self.descend(Some(from), Descent::Toward, &guard, &mut path);
        // Where `from` is the separator below the leaf (an export in step with the tree), every
        // key of the leaf is at or above it: no search, which could read a key whose tag ties.
        let lower = (0..path.len)
            .rev()
            .map(|level| path.step(level))
            .find_map(|(inner, child)| (child > 0).then(|| inner.separator(child - 1)));
        let all_after = match lower {
            Some(lower) => lower >= from,
            None => from.is_empty(),
        };
        let start = if all_after { 0 } else { leaf.start_after(Bound::Included(from), source) };
        let tags = leaf.tags();
        out.prefix.clear();
        out.prefix.extend_from_slice(tags.prefix());
        out.tags.clear();
        out.tags.extend_from_slice(&tags.tags()[start..]);
        out.slots.clear();
        out.slots.extend(leaf.slot_values().skip(start));
        let upper = (0..path.len).rev().map(|level| path.step(level)).find_map(|(inner, child)| {
            (child < inner.separator_count()).then(|| Box::<[u8]>::from(inner.separator(child)))
        });
        // Paired with `child_for`: `from` lies below the separator above the leaf it covers.
        debug_assert!(upper.as_deref().is_none_or(|upper| from < upper), "an export moves forward");
        upper
    }

    /// The first leaf holding keys after `from`, with the index of the first such key in it.
    fn first_leaf_after<'g>(
        &self,
        from: Bound<&[u8]>,
        source: &impl KeySource,
        guard: &'g Guard,
    ) -> Option<(Leaf<'g>, usize)> {
        let mut path = Path::new();
        let leaf = self.descend(bound_key(from), Descent::Toward, guard, &mut path);
        let start = leaf.start_after(from, source);
        if start < leaf.len() {
            return Some((leaf, start));
        }
        self.neighbour_leaf(&mut path, Descent::First, guard).map(|next| (next, 0))
    }

    /// Keys present.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The slot value of `key`.
    pub(crate) fn get(&self, key: &[u8], source: &impl KeySource) -> Option<u64> {
        let guard = epoch::pin();
        let leaf = self.descend(Some(key), Descent::Toward, &guard, &mut Path::new());
        let (at, found) = leaf.search(key, source);
        found.then(|| leaf.slot(at))
    }

    /// Sets `key`'s slot to `slot`; returns the value it replaced. Writer only.
    pub(crate) fn set(&self, key: &[u8], slot: u64, source: &impl KeySource) -> Option<u64> {
        let mut old = None;
        self.update(key, source, |current| {
            old = current;
            Some(slot)
        });
        old
    }

    /// Removes `key`; returns its slot value. Writer only.
    pub(crate) fn remove(&self, key: &[u8], source: &impl KeySource) -> Option<u64> {
        let mut old = None;
        self.update(key, source, |current| {
            old = current;
            None
        });
        old
    }

    /// Gives `key`'s slot value (`None`: absent) to `change`, and makes what it returns the
    /// key's slot value (`None`: removed), with one descent. Writer only.
    pub(crate) fn update(&self, key: &[u8], source: &impl KeySource, change: impl FnOnce(Option<u64>) -> Option<u64>) {
        let writing = WriterMark::enter(&self.writing);
        let guard = writing.guard();
        let mut path = Path::new();
        let leaf = self.descend(Some(key), Descent::Toward, guard, &mut path);
        let (at, found) = leaf.search(key, source);
        // One writer: load-then-store cannot race (a swap would be a full barrier).
        let current = found.then(|| leaf.slots()[at].load(Ordering::Relaxed));
        match (current, change(current)) {
            (Some(_), Some(slot)) => {
                leaf.slots()[at].store(slot, Ordering::Release);
                return;
            }
            (None, None) => return,
            (None, Some(slot)) => {
                let replacement = leaf.inserted(at, key, slot, source);
                self.install(&path, leaf.node(), replacement);
                self.len.fetch_add(1, Ordering::Relaxed);
            }
            (Some(_), None) => {
                self.remove_at(&mut path, leaf, at, guard);
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.retired.flush();
    }

    /// Removes the key at `at` of `leaf` (reached through `path`), merging or dropping the leaf
    /// when it gets small or empty.
    fn remove_at<'g>(&self, path: &mut Path<'g>, leaf: Leaf<'g>, at: usize, guard: &'g Guard) {
        let remaining = leaf.len() - 1;
        if path.len > 0 && remaining == 0 {
            self.install(path, leaf.node(), Replacement::Gone);
        } else if path.len > 0 && remaining < LEAF_KEYS_MIN {
            self.merge_or_install(path, leaf, at, guard);
        } else {
            self.install(path, leaf.node(), Replacement::One(leaf.removed(at)));
        }
        self.collapse_root(guard);
    }

    /// Installs `leaf` without its key at `at`, merged with a neighbour under the same parent
    /// when both fit one leaf, else on its own.
    fn merge_or_install<'g>(&self, path: &mut Path<'g>, leaf: Leaf<'g>, at: usize, guard: &'g Guard) {
        let (parent, child) = path.step(path.len - 1);
        let neighbour_index = if child + 1 < parent.children().len() { child + 1 } else { child.wrapping_sub(1) };
        let neighbour = parent.children().get(neighbour_index).map(|link| link.load(guard).kind());
        let Some(Kind::Leaf(neighbour)) = neighbour else {
            return self.install(path, leaf.node(), Replacement::One(leaf.removed(at)));
        };
        if leaf.len() - 1 + neighbour.len() > LEAF_KEYS_MAX {
            return self.install(path, leaf.node(), Replacement::One(leaf.removed(at)));
        }
        let (first, merged) = if neighbour_index > child {
            (child, merged_leaf(leaf, neighbour, at))
        } else {
            (neighbour_index, merged_leaf(neighbour, leaf, neighbour.len() + at))
        };
        let new_parent = parent.with_merged(first, merged);
        // SAFETY: the leaf and its neighbour are unlinked by the parent's replacement below (which
        // retires the parent itself), each once.
        unsafe {
            self.retired.add(leaf.node());
            self.retired.add(neighbour.node());
        }
        path.len -= 1;
        self.install(path, parent.node(), Replacement::One(new_parent));
    }

    /// Replaces the node `old` (reached through `path`) by `replacement`, copying ancestors as
    /// far as a split or a removal reaches, and retires what it unlinked.
    fn install<'g>(&self, path: &Path<'g>, old: Node<'g>, replacement: Replacement) {
        // SAFETY: `old` is unlinked by this installation (its parent's link, or the root, now
        // names its replacement), and the writer unlinks each node once.
        unsafe { self.retired.add(old) };
        let mut replacement = replacement;
        for level in (0..path.len).rev() {
            let (parent, child) = path.step(level);
            replacement = match replacement {
                Replacement::One(new) => {
                    parent.children()[child].store(new.into_pointer());
                    return;
                }
                Replacement::Split(left, separator, right) => parent.with_split(child, left, &separator, right),
                Replacement::Gone => parent.without(child),
            };
            // SAFETY: the parent is replaced at the next level up (or at the root), once.
            unsafe { self.retired.add(parent.node()) };
        }
        let root = match replacement {
            Replacement::One(new) => new,
            Replacement::Split(left, separator, right) => {
                inner_of_parts(&[&separator], &[left.into_pointer(), right.into_pointer()])
            }
            Replacement::Gone => empty_leaf(),
        };
        self.root.store(root.into_pointer());
    }

    /// Replaces a root with one child by that child, as often as it applies.
    fn collapse_root(&self, guard: &Guard) {
        for _ in 0..HEIGHT_MAX {
            let root = self.root.load(guard);
            let Kind::Inner(inner) = root.kind() else { return };
            if inner.children().len() > 1 {
                return;
            }
            self.root.store(inner.children()[0].load(guard).pointer());
            // SAFETY: the old root is unlinked by the store above; its child lives on as root.
            unsafe { self.retired.add(root) };
        }
    }

    /// Walks from the root to a leaf: the one covering `key` ([`Descent::Toward`]), or the first
    /// or last leaf when `key` is `None`. Records the path.
    fn descend<'g>(&self, key: Option<&[u8]>, descent: Descent, guard: &'g Guard, path: &mut Path<'g>) -> Leaf<'g> {
        let mut node = self.root.load(guard);
        for _ in 0..HEIGHT_MAX {
            node.prefetch();
            match node.kind() {
                Kind::Leaf(leaf) => return leaf,
                Kind::Inner(inner) => {
                    let child = match (key, descent) {
                        (Some(key), Descent::Toward) => inner.child_for(key),
                        (_, Descent::Last) => inner.children().len() - 1,
                        _ => 0,
                    };
                    path.push(inner, child);
                    node = inner.children()[child].load(guard);
                }
            }
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// The slots of the first leaf holding keys after `from`, ascending, appended to `out`
    /// (nothing when no key follows).
    pub(crate) fn collect_after(&self, from: Bound<&[u8]>, source: &impl KeySource, out: &mut Vec<u64>) {
        let guard = epoch::pin();
        if let Some((leaf, start)) = self.first_leaf_after(from, source, &guard) {
            out.extend(leaf.slot_values().skip(start));
        }
    }

    /// The slots of the last leaf holding keys before `to`, ascending, appended to `out`.
    pub(crate) fn collect_before(&self, to: Bound<&[u8]>, source: &impl KeySource, out: &mut Vec<u64>) {
        let guard = epoch::pin();
        let mut path = Path::new();
        let descent = if matches!(to, Bound::Unbounded) { Descent::Last } else { Descent::Toward };
        let leaf = self.descend(bound_key(to), descent, &guard, &mut path);
        let end = leaf.end_before(to, source);
        if end > 0 {
            out.extend(leaf.slot_values().take(end));
            return;
        }
        if let Some(previous) = self.neighbour_leaf(&mut path, Descent::Last, &guard) {
            out.extend(previous.slot_values());
        }
    }

    /// The leaf after ([`Descent::First`]) or before ([`Descent::Last`]) the one `path` led to.
    fn neighbour_leaf<'g>(&self, path: &mut Path<'g>, side: Descent, guard: &'g Guard) -> Option<Leaf<'g>> {
        for _ in 0..HEIGHT_MAX {
            if path.len == 0 {
                return None;
            }
            let (inner, child) = path.step(path.len - 1);
            path.len -= 1;
            let neighbour = match side {
                Descent::Last => child.checked_sub(1),
                _ => Some(child + 1).filter(|&next| next < inner.children().len()),
            };
            if let Some(neighbour) = neighbour {
                return Some(Tree::outermost_leaf(inner.children()[neighbour].load(guard), side, guard));
            }
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// The first ([`Descent::First`]) or last leaf under `node`.
    fn outermost_leaf<'g>(node: Node<'g>, side: Descent, guard: &'g Guard) -> Leaf<'g> {
        let mut node = node;
        for _ in 0..HEIGHT_MAX {
            match node.kind() {
                Kind::Leaf(leaf) => {
                    node.prefetch();
                    return leaf;
                }
                Kind::Inner(inner) => {
                    let child = if matches!(side, Descent::Last) { inner.children().len() - 1 } else { 0 };
                    node = inner.children()[child].load(guard);
                }
            }
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// Heap bytes of the nodes reachable now: each node's one allocation (header, tags, slots or
    /// children and separators; allocator overhead not included). Walks the tree under one
    /// epoch pin; a writer may change it meanwhile, so the figure is of some moment during the
    /// walk, node by node.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let guard = epoch::pin();
        let mut bytes = 0usize;
        let mut stack = vec![(self.root.load(&guard), 0usize)];
        // Each node is visited once; a path never exceeds the height bound.
        while let Some((node, depth)) = stack.pop() {
            assert!(depth < HEIGHT_MAX, "the tree is deeper than {HEIGHT_MAX}");
            bytes += node.heap_bytes();
            if let Kind::Inner(inner) = node.kind() {
                stack.extend(inner.children().iter().map(|child| (child.load(&guard), depth + 1)));
            }
        }
        bytes as u64
    }

    /// Checks the tree's invariants by walking all of it; returns the keys found (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self, source: &impl KeySource) -> usize {
        let guard = epoch::pin();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        // Each node with the bounds its ancestors' separators set: lower included, upper excluded.
        let mut stack = vec![(self.root.load(&guard), 0usize, None::<Vec<u8>>, None::<Vec<u8>>)];
        while let Some((node, depth, lower, upper)) = stack.pop() {
            assert!(depth < HEIGHT_MAX);
            match node.kind() {
                Kind::Leaf(leaf) => {
                    assert_eq!(leaf.tags().len(), leaf.slots().len());
                    for (at, slot) in leaf.slot_values().enumerate() {
                        let key = source.key(slot);
                        assert!(key.starts_with(leaf.tags().prefix()), "a key starts with its leaf's prefix");
                        assert_eq!(tag_of(key, leaf.tags().prefix().len()), leaf.tags().tags()[at], "a key's tag");
                        assert!(
                            lower.as_deref().is_none_or(|lower| lower <= key),
                            "a separator bounds the keys after it"
                        );
                        assert!(
                            upper.as_deref().is_none_or(|upper| key < upper),
                            "a separator bounds the keys before it"
                        );
                        keys.push(key.to_vec());
                    }
                }
                Kind::Inner(inner) => {
                    assert_eq!(inner.separator_count() + 1, inner.children().len());
                    let separators = inner.separators();
                    for (at, separator) in separators.iter().enumerate() {
                        assert!(separator.starts_with(inner.tags().prefix()));
                        assert_eq!(tag_of(separator, inner.tags().prefix().len()), inner.tags().tags()[at]);
                    }
                    for (at, child) in inner.children().iter().enumerate().rev() {
                        let child_lower = if at == 0 { lower.clone() } else { Some(separators[at - 1].to_vec()) };
                        let child_upper =
                            separators.get(at).map_or(upper.clone(), |separator| Some(separator.to_vec()));
                        stack.push((child.load(&guard), depth + 1, child_lower, child_upper));
                    }
                }
            }
        }
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "keys ascend across leaves");
        assert_eq!(keys.len(), self.len());
        keys.len()
    }
}

/// Which way a walk from the root goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Descent {
    /// Toward the leaf covering a key.
    Toward,
    /// Always the first child.
    First,
    /// Always the last child.
    Last,
}

fn bound_key(bound: Bound<&[u8]>) -> Option<&[u8]> {
    match bound {
        Bound::Included(key) | Bound::Excluded(key) => Some(key),
        Bound::Unbounded => None,
    }
}

/// Asserts (in debug builds) that one writer at a time changes the tree.
struct WriterMark<'a>(&'a AtomicBool);

impl<'a> WriterMark<'a> {
    fn enter(flag: &'a AtomicBool) -> WriterMark<'a> {
        if cfg!(debug_assertions) {
            let was_writing = flag.swap(true, Ordering::Acquire);
            assert!(!was_writing, "two writers changed the index at once");
        }
        WriterMark(flag)
    }

    /// The writer's guard, not pinned: the writer reaches only nodes linked now, which only it
    /// unlinks, and it hands what it unlinked to the collector only at the end of an operation
    /// ([`Retired::flush`]), so no node it reads is freed while it reads. Never used to defer.
    fn guard(&self) -> &'static Guard {
        // SAFETY: see above: nothing the writer loads under this guard can be freed before the
        // operation ends, and it defers nothing through it (a deferred function would run at
        // once).
        unsafe { epoch::unprotected() }
    }
}

impl Drop for WriterMark<'_> {
    fn drop(&mut self) {
        if cfg!(debug_assertions) {
            self.0.store(false, Ordering::Release);
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // `&mut self`: no reader or writer can reach the tree any more, and each node is
        // reachable from the root exactly once (replaced nodes were retired when unlinked).
        let mut stack = vec![self.root.pointer()];
        while let Some(pointer) = stack.pop() {
            // SAFETY: a node reachable from the root is alive until freed here, once.
            let node = unsafe { pointer.assume_alive() };
            if let Kind::Inner(inner) = node.kind() {
                stack.extend(inner.child_pointers());
            }
            // SAFETY: see above; its children were taken first.
            unsafe { node::free(pointer) };
        }
    }
}

#[cfg(test)]
mod tests;
