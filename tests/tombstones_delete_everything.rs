//! Delete every key and compact: the space comes back. A tombstone is dropped once the segments
//! holding what it hides are gone, so after deleting everything the file keeps only a few
//! segments (stated below), and a reopen finds nothing and the same accounting.

mod common;

use common::{allocated_bytes, temp_store};
use daxkv::{Db, Durability, Options};

/// The figure: 320,000 three-byte keys, value = key.
const KEYS: u32 = 320_000;
/// What a store holding nothing keeps: the head's segment, the free segments kept for reuse
/// (three: `FREE_KEPT_MIN` 2 + the cleaner's reserve 1) and one more the budget keeps around
/// the head (`BUDGET_SEGMENTS`, 4, covers the head, the reserve, a freeing and a zeroing one).
const OVERHEAD_SEGMENTS_MAX: u64 = 5;
const SEGMENT_BYTES: u64 = 2 << 20;

fn key(number: u32) -> [u8; 3] {
    let bytes = number.to_be_bytes();
    [bytes[1], bytes[2], bytes[3]]
}

#[test]
fn deleting_everything_gives_the_space_back() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options.clone()).unwrap();
    for number in 0..KEYS {
        db.put(&key(number), &key(number)).unwrap();
    }
    db.sync().unwrap();
    db.compact().unwrap();
    let after_inserts = allocated_bytes(&store.path);
    for number in 0..KEYS {
        db.put(&key(number), &key(number.wrapping_mul(7))).unwrap();
    }
    db.sync().unwrap();
    db.compact().unwrap();
    for number in 0..KEYS {
        db.delete(&key(number)).unwrap();
    }
    db.sync().unwrap();
    db.compact().unwrap();
    let stats = db.stats();
    assert_eq!((stats.keys, stats.live_bytes), (0, 0));
    let after_deletes = allocated_bytes(&store.path);
    let bound = after_inserts / 15 + OVERHEAD_SEGMENTS_MAX * SEGMENT_BYTES;
    eprintln!(
        "allocated: {after_inserts} B after the inserts, {after_deletes} B after deleting everything (bound {bound} B); \
         tombstone bytes left {}, segments in use {}",
        stats.tombstone_bytes, stats.segments_used
    );
    assert!(after_deletes <= bound, "{after_deletes} B allocated after deleting everything, bound {bound} B");
    assert!(stats.tombstone_bytes < SEGMENT_BYTES, "tombstones that hide nothing were copied forward");
    let segments = db.segments();
    db.close().unwrap();

    let db = Db::open(&store.path, options).unwrap();
    assert_eq!(db.iter().count(), 0, "a deleted key came back after reopening");
    for number in (0..KEYS).step_by(997) {
        assert_eq!(db.get(&key(number)).unwrap(), None);
    }
    assert_eq!(db.segments(), segments, "recovery rebuilds the same accounting");
    let reopened = db.stats();
    assert_eq!((reopened.live_bytes, reopened.tombstone_bytes), (stats.live_bytes, stats.tombstone_bytes));
}

#[test]
fn insert_and_delete_rounds_do_not_grow_the_log() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options).unwrap();
    let mut allocated = Vec::new();
    for round in 0..8u32 {
        let first = round * 100_000;
        for number in first..first + 100_000 {
            db.put(&number.to_be_bytes(), &key(number)).unwrap();
        }
        for number in first..first + 100_000 {
            db.delete(&number.to_be_bytes()).unwrap();
        }
        db.sync().unwrap();
        db.compact().unwrap();
        let stats = db.stats();
        assert_eq!((stats.keys, stats.live_bytes), (0, 0));
        allocated.push(allocated_bytes(&store.path));
    }
    eprintln!("allocated after each round: {allocated:?}");
    let (first, last) = (allocated[0], *allocated.last().unwrap());
    assert!(last <= first.max(OVERHEAD_SEGMENTS_MAX * SEGMENT_BYTES), "rounds grew the file: {allocated:?}");
}
