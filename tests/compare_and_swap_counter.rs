//! Lost update, through compare-and-swap: threads increment one counter with a read, then a
//! swap from what they read, retried when another thread got there first. The total is exact
//! (a swap that compared outside the writer mutex loses increments here), and every failed
//! swap wrote nothing.

mod common;

use std::sync::Arc;

use common::temp_store;
use daxkv::{Db, Durability, Options};

const THREADS: u64 = 4;
const INCREMENTS_PER_THREAD: u64 = 250;
/// Retries of one increment: each failure means another thread's increment landed, so at
/// most every other increment of the run.
const ATTEMPTS_MAX: u64 = THREADS * INCREMENTS_PER_THREAD;

fn increment(db: &Db) -> u64 {
    for attempt in 0..ATTEMPTS_MAX {
        let current = db.get(b"counter").unwrap();
        let value = current.as_deref().map_or(0, |bytes| u64::from_le_bytes(bytes.try_into().unwrap()));
        if db.compare_and_swap(b"counter", current.as_deref(), Some(&(value + 1).to_le_bytes())).unwrap() {
            return attempt;
        }
    }
    panic!("an increment failed {ATTEMPTS_MAX} times");
}

fn run(durability: Durability) {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(durability)).unwrap());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || (0..INCREMENTS_PER_THREAD).map(|_| increment(&db)).sum::<u64>())
        })
        .collect();
    let retries: u64 = threads.into_iter().map(|thread| thread.join().unwrap()).sum();
    let total = THREADS * INCREMENTS_PER_THREAD;
    let read = |db: &Db| u64::from_le_bytes(db.get(b"counter").unwrap().unwrap().as_ref().try_into().unwrap());
    assert_eq!(read(&db), total, "lost updates ({retries} retries)");
    assert_eq!(db.stats().puts_total, total, "a failed swap wrote a record");
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(read(&db), total, "after a reopen");
    db.close().unwrap();
}

#[test]
fn deferred_increments_are_exact() {
    run(Durability::Deferred);
}

#[test]
fn immediate_increments_are_exact() {
    run(Durability::Immediate);
}
