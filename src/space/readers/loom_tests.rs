//! Loom model of the reader gate (`scripts/loom.sh`): a reader that found an offset in the index
//! finishes reading it before the cleaner reuses that segment, in every interleaving loom
//! explores. The broken gate below (no re-check of the phase after counting) must fail the same
//! model: the proof that the model can find the race the re-check exists for.

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use loom::sync::Arc;

use super::{ReadSection, ReaderGate};

/// Cleaning steps the cleaner runs: two are needed for a stale parity to matter.
const STEPS: usize = 2;

fn model(test: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}

/// The cleaner moves a record out of segment `step` and reuses the segment, `STEPS` times, while
/// one reader looks the record up and reads it.
fn reader_against_cleaner(enter: fn(&ReaderGate) -> ReadSection<'_>) {
    model(move || {
        let gate = Arc::new(ReaderGate::default());
        let location = Arc::new(AtomicU64::new(0));
        let reused: Arc<[AtomicBool; STEPS + 1]> = Arc::new(std::array::from_fn(|_| AtomicBool::new(false)));
        let reader = {
            let (gate, location, reused) = (Arc::clone(&gate), Arc::clone(&location), Arc::clone(&reused));
            loom::thread::spawn(move || {
                let section = enter(&gate);
                let segment = location.load(SeqCst) as usize;
                assert!(!reused[segment].load(SeqCst), "a reader read segment {segment} after its reuse");
                drop(section);
            })
        };
        for step in 0..STEPS {
            location.store(step as u64 + 1, SeqCst);
            gate.synchronize();
            reused[step].store(true, SeqCst);
        }
        reader.join().expect("the reader's checks hold");
    });
}

#[test]
fn loom_gate_keeps_a_segment_until_its_readers_leave() {
    reader_against_cleaner(ReaderGate::enter);
}

/// Counts a reader under the parity it read, without checking that the phase did not flip
/// meanwhile: a section counted under a parity already drained, which the next step's
/// `synchronize` does not wait for (a real race under sequential consistency, not an artefact
/// of loom's memory model).
fn enter_without_recheck(gate: &ReaderGate) -> ReadSection<'_> {
    let shard = super::thread_shard();
    let parity = (gate.phase.load(SeqCst) & 1) as usize;
    gate.shards[shard].readers[parity].fetch_add(1, SeqCst);
    // As in `enter`: only the re-check is missing.
    crate::sync::seq_cst_point();
    ReadSection { gate, shard, parity }
}

#[test]
#[should_panic(expected = "after its reuse")]
fn loom_gate_without_the_recheck_is_caught() {
    reader_against_cleaner(enter_without_recheck);
}
