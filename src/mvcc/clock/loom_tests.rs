//! Loom model of the batch clock (`scripts/loom.sh`): a snapshot opened while a writer applies
//! batches gets a number `S` such that batch `S` is whole in the index when `open` returns and
//! every later batch records its versions, in every interleaving loom explores. The broken
//! writer below (it looks at the snapshot count before publishing its batch number) must fail
//! the same model: the proof that the model finds the race the order exists for.

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::{AtomicBool, AtomicU64};
use loom::sync::Arc;

use super::BatchClock;

/// Batches the writer applies.
const BATCHES: u64 = 2;

fn model(test: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}

/// The writer applies `BATCHES` batches (each: begin, record if asked, change the "index",
/// end) while one snapshot opens; then the snapshot's number is checked against both.
fn snapshot_against_writer(begin: fn(&BatchClock, u64) -> bool) {
    model(move || {
        let clock = Arc::new(BatchClock::default());
        let index = Arc::new(AtomicU64::new(0));
        let recorded: Arc<[AtomicBool; BATCHES as usize + 1]> =
            Arc::new(std::array::from_fn(|_| AtomicBool::new(false)));
        let snapshot = {
            let (clock, index) = (Arc::clone(&clock), Arc::clone(&index));
            loom::thread::spawn(move || {
                let at = clock.open();
                let seen = index.load(SeqCst);
                assert!(seen >= at, "snapshot {at} began before batch {at} was whole (index at {seen})");
                at
            })
        };
        for batch in 1..=BATCHES {
            if begin(&clock, batch) {
                recorded[batch as usize].store(true, SeqCst);
            }
            index.store(batch, SeqCst);
            clock.end_batch(batch);
        }
        let at = snapshot.join().expect("the snapshot's checks hold");
        for batch in at + 1..=BATCHES {
            assert!(recorded[batch as usize].load(SeqCst), "batch {batch} after snapshot {at} recorded nothing");
        }
    });
}

#[test]
fn loom_clock_gives_every_snapshot_a_whole_batch_and_every_later_batch_records() {
    snapshot_against_writer(BatchClock::begin_batch);
}

/// Looks at the snapshot count before publishing the batch number: a snapshot can count itself
/// in and read the old number between the two, and the batch then records nothing it reads.
fn begin_looking_first(clock: &BatchClock, batch: u64) -> bool {
    let recording = clock.snapshots_open.load(SeqCst) > 0;
    crate::sync::seq_cst_point();
    clock.in_flight.store(batch, SeqCst);
    recording
}

#[test]
#[should_panic(expected = "recorded nothing")]
fn loom_clock_catches_a_writer_that_looks_before_it_publishes() {
    snapshot_against_writer(begin_looking_first);
}
