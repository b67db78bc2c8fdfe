//! One slot of the radix tree's bottom level: an epoch-managed pointer to a [`PmdNode`].
//!
//! Nodes are created on first mark and retired after a writeback leaves them clean, so memory
//! follows dirty state. Markers run without locks; a marker that loses a race with retirement
//! notices (the slot no longer holds its node) and marks again. Retirement is the writeback
//! thread's alone (writebacks are serialised by the engine's commit lock). Reclamation goes
//! through crossbeam-epoch: a retired node is destroyed only once no pinned marker can see it.

use std::sync::atomic::Ordering;

use super::node::PmdNode;
use crate::sync::epoch::{Atomic, Guard, Owned, Shared};
use crate::sync::seq_cst_point;

/// Attempts of one mark against concurrent retirements. Writebacks (the only retirers) are
/// serialised and retire a node at most once each, so a mark settles at the first or second try.
const MARK_ATTEMPTS_MAX: usize = 1 << 20;

/// What a slot needs of the node it holds (a [`PmdNode`]; the model-checking tests use a
/// one-word node).
pub(super) trait SlotNode: Default + std::fmt::Debug {
    /// Whether the node holds no tag of any kind.
    fn is_clean(&self) -> bool;
    /// Folds the DIRTY state of an unlinked node into this one.
    fn absorb(&self, other: &Self);
}

impl SlotNode for PmdNode {
    fn is_clean(&self) -> bool {
        PmdNode::is_clean(self)
    }

    fn absorb(&self, other: &PmdNode) {
        PmdNode::absorb(self, other);
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Slot<N: SlotNode = PmdNode> {
    node: Atomic<N>,
}

impl<N: SlotNode> Slot<N> {
    /// Runs `mark` on the installed node (installing a fresh one when the slot is empty) until
    /// the node it marked is still installed afterwards: a marker that lost a race with
    /// retirement marks again on the node that replaced its own. `installed` runs each time this
    /// call installs a node. Any thread, no lock.
    pub(super) fn mark(&self, guard: &Guard, mut installed: impl FnMut(), mut mark: impl FnMut(&N)) {
        for _ in 0..MARK_ATTEMPTS_MAX {
            let (node, created) = self.get_or_create(guard);
            if created {
                installed();
            }
            mark(node);
            // Mark, then look at the slot: paired with `retire_if_clean`'s unlink, then look.
            seq_cst_point();
            if self.holds(node, guard) {
                return;
            }
        }
        panic!("dirty index: {MARK_ATTEMPTS_MAX} retirements raced one mark");
    }

    /// The installed node, if any.
    pub(super) fn get<'g>(&self, guard: &'g Guard) -> Option<&'g N> {
        let shared = self.node.load(Ordering::SeqCst, guard);
        // SAFETY: nodes are only freed through `defer_destroy` after being unlinked, and `guard`
        // pins the epoch, so a node loaded under it stays allocated for the guard's lifetime.
        unsafe { shared.as_ref() }
    }

    /// The installed node, installing a fresh one when the slot is empty. `true` when created.
    fn get_or_create<'g>(&self, guard: &'g Guard) -> (&'g N, bool) {
        if let Some(node) = self.get(guard) {
            return (node, false);
        }
        let fresh = Owned::new(N::default());
        match self.node.compare_exchange(Shared::null(), fresh, Ordering::SeqCst, Ordering::SeqCst, guard) {
            // SAFETY: just installed, non-null, protected by `guard` as above.
            Ok(installed) => (unsafe { installed.deref() }, true),
            // SAFETY: `current` is the non-null node another thread installed; protected by `guard`.
            Err(race) => (unsafe { race.current.deref() }, false),
        }
    }

    /// Whether `node` is still the installed node (a marker's check after marking).
    fn holds(&self, node: &N, guard: &Guard) -> bool {
        std::ptr::eq(self.node.load(Ordering::SeqCst, guard).as_raw(), node)
    }

    /// Unlinks a clean node and schedules it for destruction. Returns `false` (and leaves the
    /// slot holding dirty state) when a marker dirtied the node meanwhile. Writeback thread only.
    pub(super) fn retire_if_clean(&self, guard: &Guard) -> bool {
        let current = self.node.load(Ordering::SeqCst, guard);
        // SAFETY: protected by `guard`; see `get`.
        let Some(node) = (unsafe { current.as_ref() }) else { return true };
        if !node.is_clean() {
            return false;
        }
        if self.node.compare_exchange(current, Shared::null(), Ordering::SeqCst, Ordering::SeqCst, guard).is_err() {
            return false;
        }
        // Unlink, then look at the node: paired with `mark`'s mark, then look.
        seq_cst_point();
        if node.is_clean() {
            // SAFETY: unlinked just above; markers that still hold it are pinned, and epoch
            // reclamation waits for them. The writeback thread is the only unlinker.
            unsafe { guard.defer_destroy(current) };
            return true;
        }
        // A marker dirtied the node between the check and the unlink: put it back, or fold its
        // state into the node a re-marking thread installed meanwhile.
        match self.node.compare_exchange(Shared::null(), current, Ordering::SeqCst, Ordering::SeqCst, guard) {
            Ok(_) => false,
            Err(race) => {
                // SAFETY: the racing node is installed and protected by `guard`.
                let installed = unsafe { race.current.deref() };
                installed.absorb(node);
                // SAFETY: `current` is unlinked for good now; see above.
                unsafe { guard.defer_destroy(current) };
                false
            }
        }
    }
}

#[cfg(all(test, daxkv_loom))]
mod loom_tests;
