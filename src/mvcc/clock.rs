//! The batch clock: how a snapshot gets a batch number without locking writers (the protocol is
//! in the module docs of [`crate::mvcc`]). Its atomics come from the cfg seam
//! ([`crate::sync`]), so loom checks the protocol (`loom_tests.rs`, `scripts/loom.sh`).

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::sync::{seq_cst_point, spin_wait, AtomicU64};

/// Waits for a batch's changes to reach the index: a writer applies one batch in microseconds.
const APPLY_WAIT_SPINS_MAX: u32 = u32::MAX;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct BatchClock {
    /// Open snapshots (incremented before a snapshot reads `in_flight`).
    snapshots_open: AtomicU64,
    /// The batch a writer is applying, or applied last. Only grows.
    in_flight: AtomicU64,
    /// The last batch whose changes are all in the index. Only grows; at most `in_flight`.
    applied: AtomicU64,
}

impl BatchClock {
    /// A writer (writers serialized) is about to apply `batch`: returns whether it must record
    /// the versions it replaces (some snapshot may read them).
    pub(crate) fn begin_batch(&self, batch: u64) -> bool {
        assert!(batch > self.applied.load(Relaxed), "batches apply in order");
        self.in_flight.store(batch, SeqCst);
        // Store, then look: paired with `open`'s increment, then look.
        seq_cst_point();
        self.snapshots_open.load(SeqCst) > 0
    }

    /// `batch`'s changes are all in the index.
    pub(crate) fn end_batch(&self, batch: u64) {
        assert_eq!(self.in_flight.load(Relaxed), batch, "the batch begun ends");
        self.applied.store(batch, Release);
    }

    /// Counts a snapshot in and returns its batch number `S`, once batch `S` is whole in the
    /// index: every batch after `S` records its versions. Callers are serialized (the registry
    /// mutex): the numbers they get never decrease.
    pub(crate) fn open(&self) -> u64 {
        self.snapshots_open.fetch_add(1, SeqCst);
        // Count, then look: paired with `begin_batch`'s store, then look.
        seq_cst_point();
        let at = self.in_flight.load(SeqCst);
        // Bounded by the writer's apply loop, which waits for nothing a snapshot holds.
        for spins in 0..APPLY_WAIT_SPINS_MAX {
            if self.applied.load(Acquire) >= at {
                break;
            }
            spin_wait(spins);
        }
        at
    }

    /// Counts a snapshot out.
    pub(crate) fn close(&self) {
        let open_before = self.snapshots_open.fetch_sub(1, SeqCst);
        assert!(open_before > 0, "snapshots_open counts open snapshots");
    }

    /// Whether no snapshot is open (or being opened).
    pub(crate) fn none_open(&self) -> bool {
        self.snapshots_open.load(SeqCst) == 0
    }

    /// The newest batch applied.
    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Acquire)
    }
}

#[cfg(all(test, daxkv_loom))]
mod loom_tests;
