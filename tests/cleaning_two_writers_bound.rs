//! Two writers that never sync (`Durability::Deferred`) update their own halves of the keys
//! while the background cleaner runs: whatever the thread timing, the file (its size and its
//! allocated blocks) stays within `max_space_amplification` × the live data plus the fixed
//! overhead of docs/design.md ("Writers and space") at every sample, and every value is exact,
//! before and after a reopen.
//!
//! The old write path gave up on the budget after one fruitless cleaning step and one commit,
//! and a step finds nothing when the other writer's (or the background thread's) cleaned
//! segment is waiting for its commit; the space a commit frees is often taken by the other
//! writer first. On that code this test fails within a second, in 8 runs of 8: the file reached
//! 2.08 × the live data against a bound of 1.95 × (issue 12's YCSB runs: 1.8 ×). It passes with
//! the make-space fix alone; `Stats::space_budget_overruns_total`, printed here, came later.

mod common;

use std::sync::{Arc, Barrier};

use common::{allocated_bytes, temp_store, versioned_value, Rng};
use daxkv::{Db, Durability, Options};

const WRITERS: u64 = 2;
const KEYS_PER_WRITER: u64 = 2000;
const VALUE_BYTES: usize = 4000;
/// Updates, as a multiple of the live data.
const UPDATE_MULTIPLE: u64 = 12;
/// One record: 32-byte header, 8-byte key, the value, padded to 8.
const RECORD_BYTES: u64 = (32 + 8 + VALUE_BYTES as u64).div_ceil(8) * 8;
const LIVE_BYTES: u64 = WRITERS * KEYS_PER_WRITER * RECORD_BYTES;
const SEGMENT_BYTES: u64 = 2 << 20;
/// The default `max_space_amplification`.
const AMPLIFICATION: f64 = 1.3;
/// The fixed overhead docs/design.md states: the budget's 4 segments, and one more a cleaning
/// step's copies may add when a Commit record took the cleaner's reserve.
const OVERHEAD_SEGMENTS: u64 = 5;
/// Segments the index checkpoints hold (outside the amplification, docs/design.md): the durable
/// one and the one being taken, one segment each for these 4,000 keys.
const CHECKPOINT_SEGMENTS: u64 = 2;
/// Puts between two samples, per writer.
const SAMPLE_EVERY: u64 = 100;

fn value(key: u64, version: u64) -> Vec<u8> {
    versioned_value(key, version, VALUE_BYTES)
}

fn bound() -> f64 {
    AMPLIFICATION * LIVE_BYTES as f64 + ((OVERHEAD_SEGMENTS + CHECKPOINT_SEGMENTS) * SEGMENT_BYTES) as f64
}

/// Writer `writer`'s run: its keys loaded, then random updates of them. Returns each key's last
/// version and the largest (file size, allocated) it sampled.
fn run_writer(db: &Db, path: &std::path::Path, writer: u64, loaded: &Barrier) -> (Vec<u64>, (u64, u64)) {
    let first = writer * KEYS_PER_WRITER;
    let mut versions = vec![0u64; KEYS_PER_WRITER as usize];
    for key in first..first + KEYS_PER_WRITER {
        db.put(&key.to_be_bytes(), &value(key, 0)).unwrap();
    }
    loaded.wait();
    let mut rng = Rng::new(17 + writer);
    let mut worst = (0u64, 0u64);
    for update in 0..KEYS_PER_WRITER * UPDATE_MULTIPLE {
        let slot = rng.below(KEYS_PER_WRITER);
        versions[slot as usize] += 1;
        let key = first + slot;
        db.put(&key.to_be_bytes(), &value(key, versions[slot as usize])).unwrap();
        if update % SAMPLE_EVERY == SAMPLE_EVERY - 1 {
            let sample = (db.stats().file_bytes, allocated_bytes(path));
            assert_eq!(db.stats().live_bytes, LIVE_BYTES, "full-record updates keep the live data");
            assert!(sample.0 as f64 <= bound(), "writer {writer}, update {update}: file of {} B", sample.0);
            assert!(sample.1 as f64 <= bound(), "writer {writer}, update {update}: {} B allocated", sample.1);
            worst = (worst.0.max(sample.0), worst.1.max(sample.1));
        }
    }
    (versions, worst)
}

fn check_all(db: &Db, versions: &[Vec<u64>]) {
    for (writer, versions) in versions.iter().enumerate() {
        for (slot, &version) in versions.iter().enumerate() {
            let key = writer as u64 * KEYS_PER_WRITER + slot as u64;
            assert_eq!(db.get(&key.to_be_bytes()).unwrap().as_deref(), Some(&value(key, version)[..]), "key {key}");
        }
    }
}

#[test]
fn two_unsynced_writers_keep_the_file_within_the_budget_at_every_sample() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred);
    let db = Arc::new(Db::open(&store.path, options.clone()).unwrap());
    let loaded = Arc::new(Barrier::new(WRITERS as usize));
    let threads: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (db, loaded, path) = (Arc::clone(&db), Arc::clone(&loaded), store.path.clone());
            std::thread::spawn(move || run_writer(&db, &path, writer, &loaded))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    let worst = results.iter().fold((0, 0), |worst, (_, sample)| (worst.0.max(sample.0), worst.1.max(sample.1)));
    let stats = db.stats();
    eprintln!(
        "live {LIVE_BYTES} B; worst file {:.3} x live, allocated {:.3} x live (bound {:.3} x); commits {}, \
         segments cleaned {}, growths past the budget {}, write amplification {:.2}",
        worst.0 as f64 / LIVE_BYTES as f64,
        worst.1 as f64 / LIVE_BYTES as f64,
        bound() / LIVE_BYTES as f64,
        stats.commits_total,
        stats.cleaning_segments_freed_total,
        stats.space_budget_overruns_total,
        (stats.record_bytes_total + stats.cleaning_bytes_copied_total) as f64 / stats.record_bytes_total as f64
    );
    assert!(stats.cleaning_segments_freed_total > 0 && stats.segments_reused_total > 0, "cleaning ran");
    let versions: Vec<Vec<u64>> = results.into_iter().map(|(versions, _)| versions).collect();
    check_all(&db, &versions);
    Arc::into_inner(db).expect("the writers are done").close().unwrap();
    let db = Db::open(&store.path, options).unwrap();
    check_all(&db, &versions);
}
