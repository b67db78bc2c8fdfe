//! Loom model of slot retirement (`scripts/loom.sh`): whatever the interleaving of markers and
//! the writeback's retirement, every mark ends up in the node the slot holds. The broken
//! retirement below (unlink a node found clean, without looking again) must fail the same model.

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::Arc;

use super::{Slot, SlotNode};
use crate::sync::epoch::{self, Shared};

/// A one-word node: a bit per marker.
#[derive(Debug, Default)]
struct Word {
    dirty: AtomicU64,
}

impl SlotNode for Word {
    fn is_clean(&self) -> bool {
        self.dirty.load(SeqCst) == 0
    }

    fn absorb(&self, other: &Word) {
        self.dirty.fetch_or(other.dirty.load(SeqCst), SeqCst);
    }
}

fn model(test: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}

/// `markers` threads each mark their bit while the writeback retires the (clean) node; then every
/// bit must be in the installed node.
fn marks_survive_retirement(markers: u64, retire: fn(&Slot<Word>) -> bool) {
    model(move || {
        let slot = Arc::new(Slot::<Word>::default());
        // A node left clean by an earlier writeback: the one retirement may unlink.
        slot.mark(&epoch::pin(), || {}, |_| {});
        let threads: Vec<_> = (0..markers)
            .map(|marker| {
                let slot = Arc::clone(&slot);
                loom::thread::spawn(move || {
                    slot.mark(
                        &epoch::pin(),
                        || {},
                        |node| {
                            node.dirty.fetch_or(1 << marker, SeqCst);
                        },
                    )
                })
            })
            .collect();
        retire(&slot);
        for thread in threads {
            thread.join().expect("markers do not panic");
        }
        let guard = epoch::pin();
        let bits = slot.get(&guard).map_or(0, |node| node.dirty.load(SeqCst));
        assert_eq!(bits, (1 << markers) - 1, "a mark was lost to retirement");
    });
}

fn retire_if_clean(slot: &Slot<Word>) -> bool {
    slot.retire_if_clean(&epoch::pin())
}

#[test]
fn loom_one_marker_against_retirement() {
    marks_survive_retirement(1, retire_if_clean);
}

#[test]
fn loom_two_markers_against_retirement() {
    marks_survive_retirement(2, retire_if_clean);
}

/// Unlinks the node if it looked clean, with no second look after the unlink.
fn retire_without_second_look(slot: &Slot<Word>) -> bool {
    let guard = epoch::pin();
    let current = slot.node.load(SeqCst, &guard);
    // SAFETY: protected by `guard`; the model never frees a node.
    let Some(node) = (unsafe { current.as_ref() }) else { return true };
    if !node.is_clean() {
        return false;
    }
    slot.node.compare_exchange(current, Shared::null(), SeqCst, SeqCst, &guard).is_ok()
}

#[test]
#[should_panic(expected = "a mark was lost")]
fn loom_retirement_without_a_second_look_is_caught() {
    marks_survive_retirement(1, retire_without_second_look);
}
