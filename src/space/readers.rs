//! Readers versus segment reuse: a grace-period gate and pin counts.
//!
//! This is the store's answer to the kernel's `i_mmap_sem` problem (a fault racing a punch-hole,
//! a load racing a reallocation). A reader looks up an offset in the index, then reads the
//! record there. The cleaner moves a segment's live records away (repointing the index), then
//! wants to reuse or punch the segment. Two things can still point into it:
//!
//! 1. a reader between its index lookup and its copy. Every read runs inside a
//!    [`ReaderGate::enter`] section; after repointing the index, the cleaner calls
//!    [`ReaderGate::synchronize`], which returns once every section that began before it has
//!    ended. A section that begins later finds only the new offsets.
//! 2. a zero-copy [`Bytes`](bytes::Bytes) handed to the caller, which may live for ever. It
//!    carries a [`SegmentPin`], taken inside the read section; a retired segment is reused or
//!    punched only when its pin count is zero. After the grace period no new pin can appear.
//!
//! The gate is sleepable-RCU-like: readers increment a counter in one of 16 cache-line-padded
//! shards (chosen per thread) for the current phase parity; `synchronize` flips the phase and
//! waits for the old parity's counters to drain. A reader that read the parity just before a
//! flip re-checks it after incrementing and retries, so a drained parity stays drained. Readers
//! never block; only the cleaner waits. `SeqCst` throughout: the index repoint happens before the
//! flip, and a reader that saw the new phase sees the repoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use crate::ids::SegmentIndex;
use crate::sync::{seq_cst_point, spin_wait, AtomicU64};

/// Reader counters, each on its own cache lines (two under the model checker, which explores
/// every shard's loads in `synchronize`).
const SHARDS: usize = if cfg!(daxkv_loom) { 2 } else { 16 };
/// Retries of `enter` are caused only by concurrent flips; far more than can happen.
const ENTER_ATTEMPTS_MAX: usize = 1 << 20;

#[repr(align(128))]
#[derive(Debug, Default)]
struct Shard {
    readers: [AtomicU64; 2],
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ReaderGate {
    phase: AtomicU64,
    shards: [Shard; SHARDS],
}

/// An open read section; ends when dropped.
#[must_use]
pub(crate) struct ReadSection<'a> {
    gate: &'a ReaderGate,
    shard: usize,
    parity: usize,
}

fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl ReaderGate {
    /// Opens a read section: offsets looked up in the index inside it stay readable until it ends.
    pub(crate) fn enter(&self) -> ReadSection<'_> {
        let shard = thread_shard();
        for _ in 0..ENTER_ATTEMPTS_MAX {
            let parity = (self.phase.load(SeqCst) & 1) as usize;
            self.shards[shard].readers[parity].fetch_add(1, SeqCst);
            // Count, then look: paired with `synchronize`'s flip, then look.
            seq_cst_point();
            if (self.phase.load(SeqCst) & 1) as usize == parity {
                return ReadSection { gate: self, shard, parity };
            }
            self.shards[shard].readers[parity].fetch_sub(1, SeqCst);
        }
        panic!("reader gate: {ENTER_ATTEMPTS_MAX} phase flips during one enter");
    }

    /// Waits until every read section that began before this call has ended. Callers are
    /// serialized (the cleaner mutex) and never hold a read section themselves.
    pub(crate) fn synchronize(&self) {
        let old = (self.phase.fetch_add(1, SeqCst) & 1) as usize;
        // Flip, then look: paired with `enter`'s count, then look.
        seq_cst_point();
        let mut spins: u32 = 0;
        // Unbounded by design: it waits for readers, and every read section is a bounded copy.
        while self.shards.iter().map(|shard| shard.readers[old].load(SeqCst)).sum::<u64>() != 0 {
            spins = spins.saturating_add(1);
            spin_wait(spins);
        }
    }
}

impl Drop for ReadSection<'_> {
    fn drop(&mut self) {
        self.gate.shards[self.shard].readers[self.parity].fetch_sub(1, SeqCst);
    }
}

/// Zero-copy values alive per segment. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SegmentPins {
    counts: Mutex<HashMap<SegmentIndex, u64>>,
}

/// Keeps one segment from reuse while alive (owned by a zero-copy value).
#[derive(Debug)]
pub(crate) struct SegmentPin {
    pins: Arc<SegmentPins>,
    segment: SegmentIndex,
}

impl SegmentPins {
    /// Pins `segment`. Call inside a read section.
    pub(crate) fn pin(self: &Arc<Self>, segment: SegmentIndex) -> SegmentPin {
        *self.lock().entry(segment).or_insert(0) += 1;
        SegmentPin { pins: Arc::clone(self), segment }
    }

    /// Whether a zero-copy value still holds bytes of `segment`.
    pub(crate) fn is_pinned(&self, segment: SegmentIndex) -> bool {
        self.lock().get(&segment).is_some_and(|&count| count > 0)
    }

    /// Values alive that hold mapped bytes.
    pub(crate) fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentIndex, u64>> {
        self.counts.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for SegmentPin {
    fn drop(&mut self) {
        let mut counts = self.pins.lock();
        let count = counts.get_mut(&self.segment).expect("a pin is counted");
        *count -= 1;
        if *count == 0 {
            counts.remove(&self.segment);
        }
    }
}

#[cfg(all(test, daxkv_loom))]
mod loom_tests;

#[cfg(all(test, not(daxkv_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn synchronize_waits_for_sections_begun_before_it() {
        let gate = Arc::new(ReaderGate::default());
        let section_open = Arc::new(AtomicBool::new(true));
        let section = gate.enter();
        let waiter = {
            let (gate, open) = (Arc::clone(&gate), Arc::clone(&section_open));
            std::thread::spawn(move || {
                gate.synchronize();
                open.load(SeqCst)
            })
        };
        // Whatever the scheduling, the waiter cannot return while the section is open.
        std::thread::sleep(std::time::Duration::from_millis(20));
        section_open.store(false, SeqCst);
        drop(section);
        assert!(!waiter.join().expect("no panic"), "synchronize returned while a section was open");
        // A section begun after a flip does not hold up the next synchronize for the old parity.
        let later = gate.enter();
        drop(later);
        gate.synchronize();
    }

    #[test]
    fn pins_count_per_segment() {
        let pins = Arc::new(SegmentPins::default());
        let (three, four) = (SegmentIndex(3), SegmentIndex(4));
        let first = pins.pin(three);
        let second = pins.pin(three);
        assert!(pins.is_pinned(three) && !pins.is_pinned(four));
        drop(first);
        assert!(pins.is_pinned(three));
        drop(second);
        assert!(!pins.is_pinned(three));
        assert_eq!(pins.total(), 0);
    }
}
