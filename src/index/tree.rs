//! A copy-on-write B+tree with one writer and lock-free readers, over keys it does not own.
//!
//! # The structure
//! Leaves hold, per key, its tag (see [`super::tags`]) and a slot: an `AtomicU64` the caller
//! fills (the index stores a packed record location). The key bytes stay where the caller keeps
//! them; [`KeySource`] turns a slot back into its key when a search must compare full keys. Inner
//! nodes own copies of their separator keys (one per child boundary, a few per thousand keys),
//! because a separator must outlive the record it was copied from.
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
//!   Readers pin for one search or one leaf's worth of iteration, never across calls.
//!
//! A reader's search therefore sees, in each node, a state that node held: a get returns a value
//! the key held during the get, and an iteration step returns the keys of one leaf as it was.
//! The writer's own searches read the live tree, which only it changes.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};

use super::tags::{tag_of, Tags, PREFIX_BYTES_MAX};

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
}

/// A node. Shared nodes change only in their slots and child pointers.
enum Node {
    Leaf(Leaf),
    Inner(Inner),
}

/// Keys and their slots, ascending. `keys.len() == slots.len()`.
struct Leaf {
    keys: Tags,
    slots: Box<[AtomicU64]>,
}

/// Children and the separators between them: `separators.len() + 1 == children.len()`, and
/// `keys` tags the separators.
struct Inner {
    keys: Tags,
    separators: Box<[Box<[u8]>]>,
    children: Box<[Atomic<Node>]>,
}

/// One leaf's entries as a checkpoint stores them (see [`Tree::export_after`]).
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

/// What a writer's change turns a node into, for its parent to install.
enum Replacement {
    One(Owned<Node>),
    Split(Owned<Node>, Box<[u8]>, Owned<Node>),
    Gone,
}

/// The inner nodes a search passed, each with the child it took.
struct Path<'g> {
    steps: [(Shared<'g, Node>, usize); HEIGHT_MAX],
    len: usize,
}

impl<'g> Path<'g> {
    fn new() -> Path<'g> {
        Path { steps: [(Shared::null(), 0); HEIGHT_MAX], len: 0 }
    }

    fn push(&mut self, node: Shared<'g, Node>, child: usize) {
        assert!(self.len < HEIGHT_MAX, "the tree is deeper than {HEIGHT_MAX}");
        self.steps[self.len] = (node, child);
        self.len += 1;
    }
}

/// See the module docs.
pub(crate) struct Tree {
    root: Atomic<Node>,
    /// Keys present. Written by the writer only.
    len: AtomicUsize,
    /// Set while the writer changes the tree: a second writer is a caller's bug.
    writing: std::sync::atomic::AtomicBool,
}

impl Default for Tree {
    fn default() -> Self {
        Tree { root: Atomic::new(Node::empty_leaf()), len: AtomicUsize::new(0), writing: Default::default() }
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Tree").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// Loads `pointer` under `guard`.
fn node<'g>(pointer: Shared<'g, Node>) -> &'g Node {
    // SAFETY: every node pointer is non-null (the root and every child slot are always set), and
    // was loaded under `guard`'s pin; a node is freed only by `defer_destroy` after it was
    // unlinked, so it outlives every pin that could have loaded it.
    unsafe { pointer.deref() }
}

impl Node {
    fn empty_leaf() -> Node {
        Node::Leaf(Leaf { keys: Tags::of_keys(&[]), slots: Box::new([]) })
    }
}

impl Leaf {
    /// A leaf of `slots` (ascending by key), its tags taken from the full keys.
    fn of_slots(slots: &[u64], source: &impl KeySource) -> Leaf {
        let keys: Vec<&[u8]> = slots.iter().map(|&slot| source.key(slot)).collect();
        Leaf { keys: Tags::of_keys(&keys), slots: slots.iter().map(|&slot| AtomicU64::new(slot)).collect() }
    }

    fn slot(&self, at: usize) -> u64 {
        self.slots[at].load(Ordering::Acquire)
    }

    fn slots(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().map(|slot| slot.load(Ordering::Acquire))
    }

    fn search(&self, key: &[u8], source: &impl KeySource) -> (usize, bool) {
        self.keys.lower_bound(key, |at| source.key(self.slot(at)))
    }

    /// This leaf with `slot` inserted at `at`, split in two if it overflows.
    fn inserted(&self, at: usize, key: &[u8], slot: u64, source: &impl KeySource) -> Replacement {
        if self.slots.len() < LEAF_KEYS_MAX {
            let mut slots: Vec<AtomicU64> = Vec::with_capacity(self.slots.len() + 1);
            slots.extend(self.slots().map(AtomicU64::new));
            slots.insert(at, AtomicU64::new(slot));
            let leaf = Leaf { keys: self.keys.with_inserted(at, key), slots: slots.into_boxed_slice() };
            return Replacement::One(Owned::new(Node::Leaf(leaf)));
        }
        let mut slots: Vec<u64> = self.slots().collect();
        slots.insert(at, slot);
        let (left, right) = slots.split_at(slots.len() / 2);
        let separator: Box<[u8]> = source.key(right[0]).into();
        let (left, right) = (Leaf::of_slots(left, source), Leaf::of_slots(right, source));
        Replacement::Split(Owned::new(Node::Leaf(left)), separator, Owned::new(Node::Leaf(right)))
    }

    /// This leaf without the key at `at`.
    fn removed(&self, at: usize) -> Leaf {
        let slots = self.slots().enumerate().filter(|&(index, _)| index != at).map(|(_, slot)| AtomicU64::new(slot));
        Leaf { keys: self.keys.with_removed(at), slots: slots.collect() }
    }
}

impl Inner {
    fn child_for(&self, key: &[u8]) -> usize {
        let (at, equal) = self.keys.lower_bound(key, |at| &self.separators[at]);
        at + usize::from(equal)
    }

    fn of_parts(separators: Vec<Box<[u8]>>, children: Vec<Atomic<Node>>) -> Inner {
        assert_eq!(separators.len() + 1, children.len());
        let keys: Vec<&[u8]> = separators.iter().map(|separator| &separator[..]).collect();
        Inner { keys: Tags::of_keys(&keys), separators: separators.into_boxed_slice(), children: children.into() }
    }

    /// The children, shared with the new node (copied pointers, not nodes).
    fn children_copied(&self, guard: &Guard) -> Vec<Atomic<Node>> {
        self.children.iter().map(|child| Atomic::from(child.load(Ordering::Acquire, guard))).collect()
    }

    /// This node with `child` replaced by `left`, `separator` and `right`; split if it overflows.
    fn with_split(
        &self,
        child: usize,
        left: Owned<Node>,
        separator: Box<[u8]>,
        right: Owned<Node>,
        guard: &Guard,
    ) -> Replacement {
        let mut children = self.children_copied(guard);
        children[child] = Atomic::from(left);
        children.insert(child + 1, Atomic::from(right));
        let mut separators = self.separators.to_vec();
        separators.insert(child, separator);
        if children.len() <= CHILDREN_MAX {
            return Replacement::One(Owned::new(Node::Inner(Inner::of_parts(separators, children))));
        }
        let right_children = children.split_off(children.len() / 2);
        let right_separators = separators.split_off(children.len());
        let promoted = separators.pop().expect("a full node has separators");
        let (left, right) = (Inner::of_parts(separators, children), Inner::of_parts(right_separators, right_children));
        Replacement::Split(Owned::new(Node::Inner(left)), promoted, Owned::new(Node::Inner(right)))
    }

    /// This node without `child` (its keys' range joins a neighbour's), or gone if it was the last.
    fn without(&self, child: usize, guard: &Guard) -> Replacement {
        if self.children.len() == 1 {
            return Replacement::Gone;
        }
        let mut children = self.children_copied(guard);
        children.remove(child);
        let mut separators = self.separators.to_vec();
        separators.remove(child.saturating_sub(1));
        Replacement::One(Owned::new(Node::Inner(Inner::of_parts(separators, children))))
    }

    /// This node with children `first` and `first + 1` replaced by `merged`.
    fn with_merged(&self, first: usize, merged: Owned<Node>, guard: &Guard) -> Owned<Node> {
        let mut children = self.children_copied(guard);
        children[first] = Atomic::from(merged);
        children.remove(first + 1);
        let mut separators = self.separators.to_vec();
        separators.remove(first);
        Owned::new(Node::Inner(Inner::of_parts(separators, children)))
    }
}

/// Keys per leaf, and children per inner node, in a tree built from sorted input: room for a
/// quarter more before a split.
const BULK_FILL: usize = LEAF_KEYS_MAX * 3 / 4;

impl Tree {
    /// A tree of `slots`, whose keys ascend strictly, built bottom-up in one pass (recovery).
    pub(crate) fn from_sorted(slots: &[u64], source: &impl KeySource) -> Tree {
        debug_assert!(slots.windows(2).all(|pair| source.key(pair[0]) < source.key(pair[1])), "keys ascend");
        if slots.is_empty() {
            return Tree::default();
        }
        let leaves: Vec<(Box<[u8]>, Owned<Node>)> = slots
            .chunks(BULK_FILL)
            .map(|chunk| (source.key(chunk[0]).into(), Owned::new(Node::Leaf(Leaf::of_slots(chunk, source)))))
            .collect();
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
            let keys = Tags::from_image(&image.prefix, &image.tags).ok_or("a leaf's tags do not ascend")?;
            let slots = image.slots.iter().map(|&slot| AtomicU64::new(slot)).collect();
            len += count;
            level.push((smallest, Owned::new(Node::Leaf(Leaf { keys, slots }))));
        }
        Ok(Tree::built_up(level, len))
    }

    /// The tree over `level` (nodes in key order, each with the smallest key under it), holding
    /// `len` keys: inner levels of [`BULK_FILL`] children are added until one node remains.
    fn built_up(mut level: Vec<(Box<[u8]>, Owned<Node>)>, len: usize) -> Tree {
        assert!(!level.is_empty());
        for _ in 0..HEIGHT_MAX {
            if level.len() == 1 {
                let (_, root) = level.pop().expect("one node");
                return Tree { root: Atomic::from(root), len: AtomicUsize::new(len), writing: Default::default() };
            }
            let mut parents = Vec::with_capacity(level.len() / BULK_FILL + 1);
            let mut nodes = level.into_iter().peekable();
            while nodes.peek().is_some() {
                let group: Vec<(Box<[u8]>, Owned<Node>)> = nodes.by_ref().take(BULK_FILL).collect();
                let mut group = group.into_iter();
                let (lowest, first) = group.next().expect("a group is not empty");
                let (mut separators, mut children) = (Vec::new(), vec![Atomic::from(first)]);
                for (key, node) in group {
                    separators.push(key);
                    children.push(Atomic::from(node));
                }
                parents.push((lowest, Owned::new(Node::Inner(Inner::of_parts(separators, children)))));
            }
            level = parents;
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// Copies into `out` the part after `from` of the first leaf holding keys after `from`
    /// (its prefix, tags and slots, as a checkpoint stores them); false when no key follows.
    /// The leaf is read under one pin, as it was at one moment; `out` is overwritten.
    pub(crate) fn export_after(&self, from: Bound<&[u8]>, source: &impl KeySource, out: &mut LeafImage) -> bool {
        let guard = epoch::pin();
        let mut path = Path::new();
        let (leaf, _) = self.descend(bound_key(from), Descent::Toward, &guard, &mut path);
        let start = match from {
            Bound::Included(key) => leaf.search(key, source).0,
            Bound::Excluded(key) => {
                let (at, equal) = leaf.search(key, source);
                at + usize::from(equal)
            }
            Bound::Unbounded => 0,
        };
        let (leaf, start) = if start < leaf.slots.len() {
            (leaf, start)
        } else {
            match self.neighbour_leaf(&mut path, Descent::First, &guard) {
                Some(next) => (next, 0),
                None => return false,
            }
        };
        let (prefix, tags) = leaf.keys.parts();
        out.prefix.clear();
        out.prefix.extend_from_slice(prefix);
        out.tags.clear();
        out.tags.extend_from_slice(&tags[start..]);
        out.slots.clear();
        out.slots.extend(leaf.slots().skip(start));
        !out.slots.is_empty()
    }

    /// Keys present.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The slot value of `key`.
    pub(crate) fn get(&self, key: &[u8], source: &impl KeySource) -> Option<u64> {
        let guard = epoch::pin();
        let (leaf, _) = self.descend(Some(key), Descent::Toward, &guard, &mut Path::new());
        let (at, found) = leaf.search(key, source);
        found.then(|| leaf.slot(at))
    }

    /// Sets `key`'s slot to `slot`; returns the value it replaced. Writer only.
    pub(crate) fn set(&self, key: &[u8], slot: u64, source: &impl KeySource) -> Option<u64> {
        let _writing = WriterMark::enter(&self.writing);
        let guard = epoch::pin();
        let mut path = Path::new();
        let (leaf, pointer) = self.descend(Some(key), Descent::Toward, &guard, &mut path);
        let (at, found) = leaf.search(key, source);
        if found {
            // One writer: load-then-store cannot race (a swap would be a full barrier).
            let old = leaf.slots[at].load(Ordering::Relaxed);
            leaf.slots[at].store(slot, Ordering::Release);
            return Some(old);
        }
        let replacement = leaf.inserted(at, key, slot, source);
        self.install(&path, pointer, replacement, &guard);
        self.len.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Removes `key`; returns its slot value. Writer only.
    pub(crate) fn remove(&self, key: &[u8], source: &impl KeySource) -> Option<u64> {
        let _writing = WriterMark::enter(&self.writing);
        let guard = epoch::pin();
        let mut path = Path::new();
        let (leaf, pointer) = self.descend(Some(key), Descent::Toward, &guard, &mut path);
        let (at, found) = leaf.search(key, source);
        if !found {
            return None;
        }
        let old = leaf.slot(at);
        let shrunk = leaf.removed(at);
        if path.len > 0 && shrunk.slots.is_empty() {
            self.install(&path, pointer, Replacement::Gone, &guard);
        } else if path.len > 0 && shrunk.slots.len() < LEAF_KEYS_MIN {
            self.merge_or_install(&mut path, pointer, shrunk, source, &guard);
        } else {
            self.install(&path, pointer, Replacement::One(Owned::new(Node::Leaf(shrunk))), &guard);
        }
        self.collapse_root(&guard);
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(old)
    }

    /// Installs a small leaf merged with a neighbour under the same parent when both fit one
    /// leaf, else as it is.
    fn merge_or_install<'g>(
        &self,
        path: &mut Path<'g>,
        pointer: Shared<'g, Node>,
        shrunk: Leaf,
        source: &impl KeySource,
        guard: &'g Guard,
    ) {
        let (parent_pointer, child) = path.steps[path.len - 1];
        let Node::Inner(parent) = node(parent_pointer) else { unreachable!("a path holds inner nodes") };
        let neighbour_index = if child + 1 < parent.children.len() { child + 1 } else { child.wrapping_sub(1) };
        let neighbour_pointer =
            parent.children.get(neighbour_index).map(|atomic| atomic.load(Ordering::Acquire, guard));
        let neighbour = neighbour_pointer.map(node);
        let Some((Node::Leaf(neighbour), neighbour_pointer)) = neighbour.zip(neighbour_pointer) else {
            return self.install(path, pointer, Replacement::One(Owned::new(Node::Leaf(shrunk))), guard);
        };
        if shrunk.slots.len() + neighbour.slots.len() > LEAF_KEYS_MAX {
            return self.install(path, pointer, Replacement::One(Owned::new(Node::Leaf(shrunk))), guard);
        }
        let (first, mut slots): (usize, Vec<u64>) = if neighbour_index > child {
            (child, shrunk.slots().chain(neighbour.slots()).collect())
        } else {
            (neighbour_index, neighbour.slots().chain(shrunk.slots()).collect())
        };
        slots.shrink_to_fit();
        let merged = Owned::new(Node::Leaf(Leaf::of_slots(&slots, source)));
        let new_parent = parent.with_merged(first, merged, guard);
        // SAFETY: the leaf and its neighbour are unlinked by the parent's replacement below (which
        // hands the parent itself to the collector), each once.
        unsafe {
            guard.defer_destroy(pointer);
            guard.defer_destroy(neighbour_pointer);
        }
        path.len -= 1;
        self.install(path, parent_pointer, Replacement::One(new_parent), guard);
    }

    /// Replaces the node `old` (reached through `path`) by `replacement`, copying ancestors as
    /// far as a split or a removal reaches, and hands what it unlinked to the collector.
    fn install<'g>(&self, path: &Path<'g>, old: Shared<'g, Node>, replacement: Replacement, guard: &'g Guard) {
        // SAFETY: `old` is unlinked by this installation (its parent's pointer, or the root, now
        // names its replacement), and the writer unlinks each node once.
        unsafe { guard.defer_destroy(old) };
        let mut replacement = replacement;
        for level in (0..path.len).rev() {
            let (parent_pointer, child) = path.steps[level];
            let Node::Inner(parent) = node(parent_pointer) else { unreachable!("a path holds inner nodes") };
            replacement = match replacement {
                Replacement::One(new) => {
                    parent.children[child].store(new, Ordering::Release);
                    return;
                }
                Replacement::Split(left, separator, right) => parent.with_split(child, left, separator, right, guard),
                Replacement::Gone => parent.without(child, guard),
            };
            // SAFETY: the parent is replaced at the next level up (or at the root), once.
            unsafe { guard.defer_destroy(parent_pointer) };
        }
        let root = match replacement {
            Replacement::One(new) => new,
            Replacement::Split(left, separator, right) => {
                let children = vec![Atomic::from(left), Atomic::from(right)];
                Owned::new(Node::Inner(Inner::of_parts(vec![separator], children)))
            }
            Replacement::Gone => Owned::new(Node::empty_leaf()),
        };
        self.root.store(root, Ordering::Release);
    }

    /// Replaces a root with one child by that child, as often as it applies.
    fn collapse_root(&self, guard: &Guard) {
        for _ in 0..HEIGHT_MAX {
            let root = self.root.load(Ordering::Acquire, guard);
            let Node::Inner(inner) = node(root) else { return };
            if inner.children.len() > 1 {
                return;
            }
            self.root.store(inner.children[0].load(Ordering::Acquire, guard), Ordering::Release);
            // SAFETY: the old root is unlinked by the store above; its child lives on as root.
            unsafe { guard.defer_destroy(root) };
        }
    }

    /// Walks from the root to a leaf: the one covering `key` ([`Descent::Toward`]), or the first
    /// or last leaf when `key` is `None`. Records the path.
    fn descend<'g>(
        &self,
        key: Option<&[u8]>,
        descent: Descent,
        guard: &'g Guard,
        path: &mut Path<'g>,
    ) -> (&'g Leaf, Shared<'g, Node>) {
        let mut pointer = self.root.load(Ordering::Acquire, guard);
        for _ in 0..HEIGHT_MAX {
            match node(pointer) {
                Node::Leaf(leaf) => {
                    leaf.keys.prefetch();
                    prefetch_slice(&leaf.slots);
                    return (leaf, pointer);
                }
                Node::Inner(inner) => {
                    inner.keys.prefetch();
                    prefetch_slice(&inner.children);
                    let child = match (key, descent) {
                        (Some(key), Descent::Toward) => inner.child_for(key),
                        (_, Descent::Last) => inner.children.len() - 1,
                        _ => 0,
                    };
                    path.push(pointer, child);
                    pointer = inner.children[child].load(Ordering::Acquire, guard);
                }
            }
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// The slots of the first leaf holding keys after `from`, ascending, appended to `out`
    /// (nothing when no key follows).
    pub(crate) fn collect_after(&self, from: Bound<&[u8]>, source: &impl KeySource, out: &mut Vec<u64>) {
        let guard = epoch::pin();
        let mut path = Path::new();
        let key = bound_key(from);
        let (leaf, _) = self.descend(key, Descent::Toward, &guard, &mut path);
        let start = match from {
            Bound::Included(key) => leaf.search(key, source).0,
            Bound::Excluded(key) => {
                let (at, equal) = leaf.search(key, source);
                at + usize::from(equal)
            }
            Bound::Unbounded => 0,
        };
        if start < leaf.slots.len() {
            out.extend(leaf.slots().skip(start));
            return;
        }
        if let Some(next) = self.neighbour_leaf(&mut path, Descent::First, &guard) {
            out.extend(next.slots());
        }
    }

    /// The slots of the last leaf holding keys before `to`, ascending, appended to `out`.
    pub(crate) fn collect_before(&self, to: Bound<&[u8]>, source: &impl KeySource, out: &mut Vec<u64>) {
        let guard = epoch::pin();
        let mut path = Path::new();
        let descent = if matches!(to, Bound::Unbounded) { Descent::Last } else { Descent::Toward };
        let (leaf, _) = self.descend(bound_key(to), descent, &guard, &mut path);
        let end = match to {
            Bound::Included(key) => {
                let (at, equal) = leaf.search(key, source);
                at + usize::from(equal)
            }
            Bound::Excluded(key) => leaf.search(key, source).0,
            Bound::Unbounded => leaf.slots.len(),
        };
        if end > 0 {
            out.extend(leaf.slots().take(end));
            return;
        }
        if let Some(previous) = self.neighbour_leaf(&mut path, Descent::Last, &guard) {
            out.extend(previous.slots());
        }
    }

    /// The leaf after ([`Descent::First`]) or before ([`Descent::Last`]) the one `path` led to.
    fn neighbour_leaf<'g>(&self, path: &mut Path<'g>, side: Descent, guard: &'g Guard) -> Option<&'g Leaf> {
        for _ in 0..HEIGHT_MAX {
            if path.len == 0 {
                return None;
            }
            let (pointer, child) = path.steps[path.len - 1];
            path.len -= 1;
            let Node::Inner(inner) = node(pointer) else { unreachable!("a path holds inner nodes") };
            let neighbour = match side {
                Descent::Last => child.checked_sub(1),
                _ => Some(child + 1).filter(|&next| next < inner.children.len()),
            };
            if let Some(neighbour) = neighbour {
                let mut pointer = inner.children[neighbour].load(Ordering::Acquire, guard);
                for _ in 0..HEIGHT_MAX {
                    match node(pointer) {
                        Node::Leaf(leaf) => return Some(leaf),
                        Node::Inner(inner) => {
                            let child = if matches!(side, Descent::Last) { inner.children.len() - 1 } else { 0 };
                            pointer = inner.children[child].load(Ordering::Acquire, guard);
                        }
                    }
                }
                unreachable!("the tree is deeper than {HEIGHT_MAX}");
            }
        }
        unreachable!("the tree is deeper than {HEIGHT_MAX}")
    }

    /// Heap bytes of the nodes reachable now: each node's own allocation, its tags, slots or
    /// child pointers, and its separator keys (allocator overhead not included). Walks the tree
    /// under one epoch pin; a writer may change it meanwhile, so the figure is of some moment
    /// during the walk, node by node.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let guard = epoch::pin();
        let mut bytes = 0usize;
        let mut stack = vec![(self.root.load(Ordering::Acquire, &guard), 0usize)];
        // Each node is visited once; a path never exceeds the height bound.
        while let Some((pointer, depth)) = stack.pop() {
            assert!(depth < HEIGHT_MAX, "the tree is deeper than {HEIGHT_MAX}");
            bytes += std::mem::size_of::<Node>();
            match node(pointer) {
                Node::Leaf(leaf) => bytes += leaf.keys.heap_bytes() + std::mem::size_of_val(&*leaf.slots),
                Node::Inner(inner) => {
                    bytes += inner.keys.heap_bytes() + std::mem::size_of_val(&*inner.children);
                    bytes +=
                        inner.separators.iter().map(|key| key.len() + std::mem::size_of::<Box<[u8]>>()).sum::<usize>();
                    stack.extend(inner.children.iter().map(|child| (child.load(Ordering::Acquire, &guard), depth + 1)));
                }
            }
        }
        bytes as u64
    }

    /// Checks the tree's invariants by walking all of it; returns the keys found (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self, source: &impl KeySource) -> usize {
        let guard = epoch::pin();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut stack = vec![(self.root.load(Ordering::Acquire, &guard), 0usize)];
        while let Some((pointer, depth)) = stack.pop() {
            assert!(depth < HEIGHT_MAX);
            match node(pointer) {
                Node::Leaf(leaf) => {
                    assert_eq!(leaf.keys.len(), leaf.slots.len());
                    keys.extend(leaf.slots().map(|slot| source.key(slot).to_vec()));
                }
                Node::Inner(inner) => {
                    assert_eq!(inner.separators.len() + 1, inner.children.len());
                    for child in inner.children.iter().rev() {
                        stack.push((child.load(Ordering::Acquire, &guard), depth + 1));
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

/// Starts loading every line of `items` (a node's slots or child pointers: the search that
/// follows reads one of them, at a place it does not know yet).
fn prefetch_slice<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    let start = items.as_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(64) {
        crate::media::prefetch(start.wrapping_add(offset));
    }
}

fn bound_key(bound: Bound<&[u8]>) -> Option<&[u8]> {
    match bound {
        Bound::Included(key) | Bound::Excluded(key) => Some(key),
        Bound::Unbounded => None,
    }
}

/// Asserts (in debug builds) that one writer at a time changes the tree.
struct WriterMark<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> WriterMark<'a> {
    fn enter(flag: &'a std::sync::atomic::AtomicBool) -> WriterMark<'a> {
        if cfg!(debug_assertions) {
            let was_writing = flag.swap(true, Ordering::Acquire);
            assert!(!was_writing, "two writers changed the index at once");
        }
        WriterMark(flag)
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
        // SAFETY: `&mut self`: no reader or writer can reach the tree any more, so no pin is
        // needed, and each node is reachable from the root exactly once (replaced nodes were
        // handed to the collector when they were unlinked).
        unsafe {
            let guard = epoch::unprotected();
            let mut stack = vec![self.root.load(Ordering::Relaxed, guard)];
            while let Some(pointer) = stack.pop() {
                let owned = pointer.into_owned();
                if let Node::Inner(inner) = &*owned {
                    stack.extend(inner.children.iter().map(|child| child.load(Ordering::Relaxed, guard)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
