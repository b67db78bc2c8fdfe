//! One slot of the radix tree's bottom level: an epoch-managed pointer to a [`PmdNode`].
//!
//! Nodes are created on first mark and retired after a writeback leaves them clean, so memory
//! follows dirty state. Markers run without locks; a marker that loses a race with retirement
//! notices (the slot no longer holds its node) and marks again. Retirement is the writeback
//! thread's alone (writebacks are serialised by the engine's commit lock). Reclamation goes
//! through crossbeam-epoch: a retired node is destroyed only once no pinned marker can see it.

use crossbeam_epoch::{Atomic, Guard, Owned, Shared};
use std::sync::atomic::Ordering;

use super::node::PmdNode;

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Slot {
    node: Atomic<PmdNode>,
}

impl Slot {
    /// The installed node, if any.
    pub(super) fn get<'g>(&self, guard: &'g Guard) -> Option<&'g PmdNode> {
        let shared = self.node.load(Ordering::SeqCst, guard);
        // SAFETY: nodes are only freed through `defer_destroy` after being unlinked, and `guard`
        // pins the epoch, so a node loaded under it stays allocated for the guard's lifetime.
        unsafe { shared.as_ref() }
    }

    /// The installed node, installing a fresh one when the slot is empty. `true` when created.
    pub(super) fn get_or_create<'g>(&self, guard: &'g Guard) -> (&'g PmdNode, bool) {
        if let Some(node) = self.get(guard) {
            return (node, false);
        }
        let fresh = Owned::new(PmdNode::default());
        match self.node.compare_exchange(Shared::null(), fresh, Ordering::SeqCst, Ordering::SeqCst, guard) {
            // SAFETY: just installed, non-null, protected by `guard` as above.
            Ok(installed) => (unsafe { installed.deref() }, true),
            // SAFETY: `current` is the non-null node another thread installed; protected by `guard`.
            Err(race) => (unsafe { race.current.deref() }, false),
        }
    }

    /// Whether `node` is still the installed node (a marker's check after marking).
    pub(super) fn holds(&self, node: &PmdNode, guard: &Guard) -> bool {
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
