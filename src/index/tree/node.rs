//! A node of the tree as one heap allocation, and the only unsafe code of the index.
//!
//! # Layout
//! Every node starts with a 24-byte [`Header`] (its kind, its key count, the bytes of its
//! separators, and its prefix inline), followed by arrays whose lengths the header gives:
//!
//! ```text
//! leaf:  header | tags: [u64; n] | slots: [AtomicU64; n]
//! inner: header | tags: [u64; n] | children: [Link; n + 1] | separator ends: [u32; n] | separator bytes
//! ```
//!
//! `n` is the number of keys (leaf) or separators (inner). Separator `i` is the bytes between
//! the ends `i - 1` (0 for the first) and `i`. Everything is 8-byte aligned up to the separator
//! ends, and the allocation's size is a multiple of 8. A search therefore touches one allocation
//! per level, whose tags lie right after the header it reads first, and a copy-on-write copy of a
//! node allocates once.
//!
//! # Ownership and lifetimes
//! - [`NewNode`] owns a node nobody can see yet; dropping it frees the node (not its children).
//! - [`Node`] is a view of a node that a [`Link`] (the root, or a parent's child pointer) named
//!   while an epoch guard was pinned: it lives as long as that guard, because the tree frees a
//!   node only through [`Retired`] after unlinking it. The writer, which alone unlinks nodes,
//!   reads under an unpinned guard: what it reaches from the root is linked, hence allocated.
//! - [`NodePointer`] is a node's address without a lifetime: what a new inner node stores for a
//!   child it shares with the node it replaces.
//!
//! Only the arrays of slots and children are written after a node is built (atomically); the
//! header, tags and separators never change once the node is linked, and the `Release` store of
//! its link orders their writes before any reader's `Acquire` load of it.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crossbeam_epoch::Guard;

use super::super::tags::{Tags, PREFIX_BYTES_MAX};

/// The start of every node.
#[repr(C)]
struct Header {
    /// [`LEAF`] or [`INNER`].
    kind: u8,
    /// Bytes of `prefix` in use.
    prefix_len: u8,
    /// Keys (leaf) or separators (inner).
    count: u16,
    /// Inner nodes: bytes of all separators together; leaves: 0.
    separator_bytes: u32,
    /// The prefix every key of the node starts with.
    prefix: [u8; PREFIX_BYTES_MAX],
}

const LEAF: u8 = 0;
const INNER: u8 = 1;
const HEADER_BYTES: usize = std::mem::size_of::<Header>();
const ALIGN: usize = 8;
const _: () = assert!(HEADER_BYTES % ALIGN == 0 && std::mem::align_of::<Header>() <= ALIGN);
const _: () = assert!(std::mem::size_of::<Link>() == 8 && std::mem::size_of::<AtomicU64>() == 8);

/// Where a node's arrays lie, from its kind and counts.
#[derive(Clone, Copy, Debug)]
struct Shape {
    kind: u8,
    count: usize,
    separator_bytes: usize,
}

impl Shape {
    fn tags(self) -> usize {
        HEADER_BYTES
    }

    /// The slots of a leaf, or the children of an inner node.
    fn entries(self) -> usize {
        HEADER_BYTES + 8 * self.count
    }

    fn separator_ends(self) -> usize {
        self.entries() + 8 * (self.count + 1)
    }

    fn separator_start(self) -> usize {
        self.separator_ends() + 4 * self.count
    }

    /// Bytes up to the end of the slots or children: what a search may read.
    fn searched_bytes(self) -> usize {
        match self.kind {
            LEAF => self.entries() + 8 * self.count,
            _ => self.separator_ends(),
        }
    }

    fn bytes(self) -> usize {
        match self.kind {
            LEAF => self.searched_bytes(),
            _ => (self.separator_start() + self.separator_bytes).next_multiple_of(ALIGN),
        }
    }

    fn layout(self) -> Layout {
        Layout::from_size_align(self.bytes(), ALIGN).expect("a node's size fits a layout")
    }
}

/// A node's child pointer, or the tree's root: the one place a node is published.
#[repr(transparent)]
pub(super) struct Link(AtomicPtr<u8>);

/// A node's address, without a lifetime (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NodePointer(NonNull<u8>);

/// A node nobody else can see yet (see the module docs).
#[derive(Debug)]
pub(super) struct NewNode(NonNull<u8>);

/// A linked node, alive while the guard it was loaded under is pinned.
#[derive(Clone, Copy, Debug)]
pub(super) struct Node<'g> {
    base: NonNull<u8>,
    life: PhantomData<&'g Header>,
}

/// How [`NewNode::leaf_spliced`] changes the leaf it copies.
#[derive(Clone, Copy, Debug)]
pub(super) enum Splice {
    /// A key joins, with this tag and slot.
    Insert { tag: u64, slot: u64 },
    /// The key at the place given is left out.
    Remove,
}

/// A node's view by kind.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind<'g> {
    Leaf(Leaf<'g>),
    Inner(Inner<'g>),
}

/// A leaf: keys (as tags) and their slots, ascending.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leaf<'g>(Node<'g>);

/// An inner node: separators (as tags and bytes) and children, `separators + 1 == children`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inner<'g>(Node<'g>);

impl Link {
    pub(super) fn new(node: NodePointer) -> Link {
        Link(AtomicPtr::new(node.0.as_ptr()))
    }

    /// The node linked here now, alive for `guard`'s pin.
    pub(super) fn load<'g>(&self, guard: &'g Guard) -> Node<'g> {
        let _ = guard;
        let base = NonNull::new(self.0.load(Ordering::Acquire)).expect("a link is never null");
        Node { base, life: PhantomData }
    }

    /// Links `node` (built completely before: the store releases its contents to readers).
    pub(super) fn store(&self, node: NodePointer) {
        self.0.store(node.0.as_ptr(), Ordering::Release);
    }

    /// The address linked here now.
    pub(super) fn pointer(&self) -> NodePointer {
        NodePointer(NonNull::new(self.0.load(Ordering::Acquire)).expect("a link is never null"))
    }
}

impl NewNode {
    /// A leaf of `tags` under `prefix` and their `slots` (as many of each).
    pub(super) fn leaf(
        prefix: &[u8],
        tags: impl ExactSizeIterator<Item = u64>,
        slots: impl ExactSizeIterator<Item = u64>,
    ) -> NewNode {
        let count = tags.len();
        assert_eq!(slots.len(), count, "a leaf holds a slot per tag");
        let shape = Shape { kind: LEAF, count, separator_bytes: 0 };
        let node = NewNode::allocate(shape, prefix);
        // SAFETY: `allocate` made room for `count` tags and slots at these offsets (8-aligned);
        // `write_all` writes exactly `count` of each (it asserts the iterators' lengths).
        unsafe {
            write_all(node.0.as_ptr().add(shape.tags()).cast::<u64>(), count, tags);
            write_all(node.0.as_ptr().add(shape.entries()).cast::<AtomicU64>(), count, slots.map(AtomicU64::new));
        }
        node
    }

    /// A copy of a leaf's `tags` (already under `prefix`) and `slots`, with `tag` and `slot`
    /// inserted at `at`, or the entry at `at` removed: each array copied in two pieces. Writer
    /// only: the slots are read non-atomically, which is sound only because no other thread
    /// stores to them.
    pub(super) fn leaf_spliced(prefix: &[u8], tags: &[u64], slots: &[AtomicU64], at: usize, change: Splice) -> NewNode {
        assert_eq!(tags.len(), slots.len(), "a leaf holds a slot per tag");
        let (count, skipped) = match change {
            Splice::Insert { .. } => (tags.len() + 1, 0),
            Splice::Remove => (tags.len() - 1, 1),
        };
        assert!(at + skipped <= tags.len());
        let shape = Shape { kind: LEAF, count, separator_bytes: 0 };
        let node = NewNode::allocate(shape, prefix);
        let (tags_to, slots_to) =
            (node.0.as_ptr().wrapping_add(shape.tags()), node.0.as_ptr().wrapping_add(shape.entries()));
        let (tags_to, slots_to) = (tags_to.cast::<u64>(), slots_to.cast::<u64>());
        let slots_from = slots.as_ptr().cast::<u64>();
        let inserted = usize::from(matches!(change, Splice::Insert { .. }));
        let after = tags.len() - at - skipped;
        // SAFETY: the new node has room for `count` tags and slots at these offsets (8-aligned);
        // the pieces copied (`at` entries, then the `after` entries following the removed one or
        // following the inserted one) are `count` entries in all, from arrays of `tags.len()`.
        // `AtomicU64` has `u64`'s layout; reading the slots as plain words races with no write
        // because only the writer, the caller, stores to slots.
        unsafe {
            std::ptr::copy_nonoverlapping(tags.as_ptr(), tags_to, at);
            std::ptr::copy_nonoverlapping(tags.as_ptr().add(at + skipped), tags_to.add(at + inserted), after);
            std::ptr::copy_nonoverlapping(slots_from, slots_to, at);
            std::ptr::copy_nonoverlapping(slots_from.add(at + skipped), slots_to.add(at + inserted), after);
            if let Splice::Insert { tag, slot } = change {
                tags_to.add(at).write(tag);
                slots_to.add(at).write(slot);
            }
        }
        node
    }

    /// An inner node of `separators` (their tags under `prefix`) and `children`
    /// (`separators.len() + 1` of them).
    pub(super) fn inner(
        prefix: &[u8],
        tags: impl ExactSizeIterator<Item = u64>,
        separators: &[&[u8]],
        children: &[NodePointer],
    ) -> NewNode {
        let count = separators.len();
        assert_eq!(tags.len(), count, "an inner node holds a tag per separator");
        assert_eq!(children.len(), count + 1, "an inner node holds a child more than separators");
        let separator_bytes: usize = separators.iter().map(|separator| separator.len()).sum();
        assert!(u32::try_from(separator_bytes).is_ok(), "an inner node's separators exceed 4 GiB");
        let shape = Shape { kind: INNER, count, separator_bytes };
        let node = NewNode::allocate(shape, prefix);
        let mut end = 0usize;
        let ends = separators.iter().map(|separator| {
            end += separator.len();
            end as u32
        });
        let base = node.0.as_ptr();
        // SAFETY: `allocate` made room for these arrays at these offsets (the tags, children and
        // ends aligned, the bytes unaligned); each is written exactly once, with exactly the
        // counts the header gives (asserted above and in `write_all`).
        unsafe {
            write_all(base.add(shape.tags()).cast::<u64>(), count, tags);
            write_all(
                base.add(shape.entries()).cast::<Link>(),
                count + 1,
                children.iter().map(|&child| Link::new(child)),
            );
            write_all(base.add(shape.separator_ends()).cast::<u32>(), count, ends);
            let mut at = base.add(shape.separator_start());
            for separator in separators {
                std::ptr::copy_nonoverlapping(separator.as_ptr(), at, separator.len());
                at = at.add(separator.len());
            }
        }
        node
    }

    /// An allocation for `shape` with its header written.
    fn allocate(shape: Shape, prefix: &[u8]) -> NewNode {
        assert!(prefix.len() <= PREFIX_BYTES_MAX);
        let count = u16::try_from(shape.count).expect("a node holds fewer than 2^16 keys");
        let mut inline = [0u8; PREFIX_BYTES_MAX];
        inline[..prefix.len()].copy_from_slice(prefix);
        let header = Header {
            kind: shape.kind,
            prefix_len: prefix.len() as u8,
            count,
            separator_bytes: shape.separator_bytes as u32,
            prefix: inline,
        };
        let layout = shape.layout();
        // SAFETY: the layout is never zero-sized (it holds the header).
        let base = unsafe { alloc::alloc(layout) };
        let Some(base) = NonNull::new(base) else { alloc::handle_alloc_error(layout) };
        // SAFETY: `base` is a fresh allocation of at least a header, aligned for it.
        unsafe { base.as_ptr().cast::<Header>().write(header) };
        NewNode(base)
    }

    /// The node's address, for the link it is about to be stored in: ownership passes to the
    /// tree, which frees it through [`Retired`] or when it drops.
    pub(super) fn into_pointer(self) -> NodePointer {
        let pointer = NodePointer(self.0);
        std::mem::forget(self);
        pointer
    }

    /// The node, seen as the linked node it is about to be (the builder still owns it).
    pub(super) fn view(&self) -> Node<'_> {
        Node { base: self.0, life: PhantomData }
    }
}

impl Drop for NewNode {
    fn drop(&mut self) {
        // SAFETY: the node was never linked (else `into_pointer` consumed it): nobody else can
        // reach it; its children, if any, are not owned by it.
        unsafe { free(NodePointer(self.0)) };
    }
}

/// Writes `count` items of `items` to `target`, asserting it yields exactly that many.
///
/// # Safety
/// `target` must be valid and aligned for writing `count` values of `T`.
unsafe fn write_all<T>(target: *mut T, count: usize, mut items: impl Iterator<Item = T>) {
    for index in 0..count {
        let item = items.next().expect("an iterator as long as it says");
        // SAFETY: `index < count`, inside the caller's promise.
        unsafe { target.add(index).write(item) };
    }
    assert!(items.next().is_none(), "an iterator as long as it says");
}

/// Frees `node` (not its children).
///
/// # Safety
/// `node` must be a node built by [`NewNode`] that nobody can reach any more and that is freed
/// once.
pub(super) unsafe fn free(node: NodePointer) {
    // SAFETY: the caller promises the node is alive until here.
    let layout = unsafe { node.assume_alive() }.shape().layout();
    // SAFETY: allocated with this layout (the header, which gives it, never changes).
    unsafe { alloc::dealloc(node.0.as_ptr(), layout) };
}

/// Retired nodes handed to the collector at once.
const RETIRED_BATCH: usize = 64;

/// The nodes the writer unlinked and has not handed to the collector yet. The writer reads the
/// tree without pinning the epoch (it reaches only linked nodes, and only it unlinks them); it
/// hands what it unlinked to the collector in batches, with one pin and one deferred function
/// per [`RETIRED_BATCH`] nodes, each time after the last read of its operation.
#[derive(Debug, Default)]
pub(super) struct Retired(Mutex<Vec<NodePointer>>);

// SAFETY: a node's address carries no tie to a thread: who may read or free the node is the
// tree's discipline (see the module docs), whichever thread holds the address.
unsafe impl Send for NodePointer {}

impl Retired {
    /// Adds `node`, freed once no reader pinned before the next [`Retired::flush`] can hold it.
    ///
    /// # Safety
    /// `node` must have just been unlinked (no link names it any more), and be retired once.
    pub(super) unsafe fn add(&self, node: Node<'_>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(node.pointer());
    }

    /// Hands the nodes retired so far to the collector when a batch is full. The writer calls
    /// it at the end of an operation, after its last read of a node.
    pub(super) fn flush(&self) {
        let mut retired = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if retired.len() < RETIRED_BATCH {
            return;
        }
        let batch = std::mem::replace(&mut *retired, Vec::with_capacity(RETIRED_BATCH));
        drop(retired);
        let guard = crossbeam_epoch::pin();
        // SAFETY: every node of the batch was unlinked before this pin, by the writer, which
        // read none of them since; so only readers pinned before now can hold one, and the
        // collector runs the function after every such pin ended. Each node was retired once.
        unsafe { guard.defer_unchecked(move || batch.into_iter().for_each(|node| free(node))) };
        // Off this thread's local bag (which would hold 64 batches before it is sealed) and
        // into the global queue, so that retired nodes wait two epochs, not 4096 retirements.
        guard.flush();
    }
}

impl Drop for Retired {
    fn drop(&mut self) {
        let retired = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        for node in retired.drain(..) {
            // SAFETY: dropped with its tree, which no reader can reach any more (a reader holds
            // a reference to the tree while it reads); each node retired once.
            unsafe { free(node) };
        }
    }
}

impl NodePointer {
    /// The node, for as long as the caller chooses.
    ///
    /// # Safety
    /// The node must stay allocated for `'a`.
    pub(super) unsafe fn assume_alive<'a>(self) -> Node<'a> {
        Node { base: self.0, life: PhantomData }
    }
}

impl<'g> Node<'g> {
    fn header(self) -> &'g Header {
        // SAFETY: a node is alive for `'g` (the type's contract) and starts with its header,
        // which never changes.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    fn shape(self) -> Shape {
        let header = self.header();
        Shape { kind: header.kind, count: usize::from(header.count), separator_bytes: header.separator_bytes as usize }
    }

    /// Its address (for a new parent sharing it, or for [`Retired`]).
    pub(super) fn pointer(self) -> NodePointer {
        NodePointer(self.base)
    }

    pub(super) fn kind(self) -> Kind<'g> {
        match self.header().kind {
            LEAF => Kind::Leaf(Leaf(self)),
            INNER => Kind::Inner(Inner(self)),
            other => unreachable!("a node of kind {other}"),
        }
    }

    /// Bytes of its allocation.
    pub(super) fn heap_bytes(self) -> usize {
        self.shape().bytes()
    }

    /// Starts loading every line a search of this node may read (tags, and slots or children).
    pub(super) fn prefetch(self) {
        let start = self.base.as_ptr().cast_const();
        let bytes = self.shape().searched_bytes();
        for offset in (64..bytes).step_by(64) {
            crate::media::prefetch(start.wrapping_add(offset));
        }
        // The last line, which the steps miss when the node does not start on a line.
        crate::media::prefetch(start.wrapping_add(bytes - 1));
    }

    /// The prefix and the tags.
    fn tags(self) -> Tags<'g> {
        let header = self.header();
        let count = usize::from(header.count);
        // SAFETY: a node holds `count` tags at this offset, written before it was linked and
        // never changed since.
        let tags = unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(HEADER_BYTES).cast::<u64>(), count) };
        Tags::new(&header.prefix[..usize::from(header.prefix_len)], tags)
    }
}

impl<'g> Leaf<'g> {
    pub(super) fn node(self) -> Node<'g> {
        self.0
    }

    pub(super) fn tags(self) -> Tags<'g> {
        self.0.tags()
    }

    pub(super) fn slots(self) -> &'g [AtomicU64] {
        let shape = self.0.shape();
        // SAFETY: a leaf holds `count` initialized slots at this offset; they change only
        // atomically.
        unsafe {
            std::slice::from_raw_parts(self.0.base.as_ptr().add(shape.entries()).cast::<AtomicU64>(), shape.count)
        }
    }

    pub(super) fn len(self) -> usize {
        self.0.shape().count
    }
}

impl<'g> Inner<'g> {
    pub(super) fn node(self) -> Node<'g> {
        self.0
    }

    pub(super) fn tags(self) -> Tags<'g> {
        self.0.tags()
    }

    pub(super) fn children(self) -> &'g [Link] {
        let shape = self.0.shape();
        // SAFETY: an inner node holds `count + 1` initialized links at this offset; they change
        // only atomically.
        unsafe { std::slice::from_raw_parts(self.0.base.as_ptr().add(shape.entries()).cast::<Link>(), shape.count + 1) }
    }

    /// The children's addresses now (for a copy of this node that shares them).
    pub(super) fn child_pointers(self) -> impl ExactSizeIterator<Item = NodePointer> + 'g {
        self.children().iter().map(Link::pointer)
    }

    /// Separators: one fewer than children.
    pub(super) fn separator_count(self) -> usize {
        self.0.shape().count
    }

    /// Separator `at`.
    pub(super) fn separator(self, at: usize) -> &'g [u8] {
        let shape = self.0.shape();
        assert!(at < shape.count);
        let base = self.0.base.as_ptr();
        // SAFETY: an inner node holds `count` separator ends (ascending, the last equal to
        // `separator_bytes`) and the bytes they delimit, written before it was linked and never
        // changed since; `at < count`.
        unsafe {
            let ends = std::slice::from_raw_parts(base.add(shape.separator_ends()).cast::<u32>(), shape.count);
            let start = if at == 0 { 0 } else { ends[at - 1] as usize };
            let end = ends[at] as usize;
            debug_assert!(start <= end && end <= shape.separator_bytes);
            std::slice::from_raw_parts(base.add(shape.separator_start() + start), end - start)
        }
    }
}
