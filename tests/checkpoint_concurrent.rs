//! Four writers and two readers run while checkpoints are taken, by a thread calling
//! `Db::checkpoint` in a loop and by the background thread: readers only ever see values a
//! writer wrote, each key's versions never go back, and after a crash (the handle abandoned)
//! the store reopened from the newest checkpoint holds exactly every writer's last write (each
//! writer syncs its last one before the crash).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

const WRITERS: u64 = 4;
const KEYS_PER_WRITER: u64 = 1_500;
const UPDATES_PER_WRITER: u64 = 6_000;

/// A value naming its key and version (readers decode it).
fn value(key: u64, version: u64) -> Vec<u8> {
    let mut value = Vec::with_capacity(48);
    value.extend_from_slice(&key.to_le_bytes());
    value.extend_from_slice(&version.to_le_bytes());
    value.resize(16 + (key % 32) as usize, (key ^ version) as u8);
    value
}

fn decode(key: u64, bytes: &[u8]) -> u64 {
    assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), key, "a value of another key");
    let version = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
    assert_eq!(bytes, value(key, version), "a torn or foreign value");
    version
}

fn writer(db: &Db, writer: u64) -> Vec<u64> {
    let first = writer * KEYS_PER_WRITER;
    let mut versions = vec![0u64; KEYS_PER_WRITER as usize];
    for key in first..first + KEYS_PER_WRITER {
        db.put(&key.to_be_bytes(), &value(key, 0)).unwrap();
    }
    let mut random = Rng::new(99 + writer);
    for _ in 0..UPDATES_PER_WRITER {
        let slot = random.below(KEYS_PER_WRITER) as usize;
        versions[slot] += 1;
        let key = first + slot as u64;
        db.put(&key.to_be_bytes(), &value(key, versions[slot])).unwrap();
        if versions[slot] % 64 == 0 {
            db.sync().unwrap();
        }
    }
    db.sync().unwrap();
    versions
}

fn reader(db: &Db, done: &AtomicBool, seed: u64) -> u64 {
    let mut seen = vec![0u64; (WRITERS * KEYS_PER_WRITER) as usize];
    let (mut random, mut reads) = (Rng::new(seed), 0);
    while !done.load(Ordering::Acquire) {
        let key = random.below(WRITERS * KEYS_PER_WRITER);
        if let Some(bytes) = db.get(&key.to_be_bytes()).unwrap() {
            let version = decode(key, &bytes);
            assert!(version >= seen[key as usize], "key {key} went back from {} to {version}", seen[key as usize]);
            seen[key as usize] = version;
            reads += 1;
        }
    }
    reads
}

#[test]
fn checkpoints_taken_under_four_writers_and_two_readers_reopen_exactly() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).checkpoint_interval_bytes(1 << 20);
    let db = Arc::new(Db::open(&store.path, options.clone()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|seed| {
            let (db, done) = (Arc::clone(&db), Arc::clone(&done));
            std::thread::spawn(move || reader(&db, &done, seed))
        })
        .collect();
    let checkpointer = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut taken = 0;
            while !done.load(Ordering::Acquire) {
                db.checkpoint().unwrap();
                taken += 1;
            }
            taken
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|number| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || writer(&db, number))
        })
        .collect();
    let versions: Vec<Vec<u64>> = writers.into_iter().map(|thread| thread.join().unwrap()).collect();
    done.store(true, Ordering::Release);
    let reads: u64 = readers.into_iter().map(|thread| thread.join().unwrap()).sum();
    let taken = checkpointer.join().unwrap();
    assert!(reads > 0 && taken > 1, "{reads} reads, {taken} checkpoints");
    let stats = db.stats();
    assert!(stats.checkpoints_total >= taken);
    let db = Arc::into_inner(db).expect("every thread joined");
    db.abandon();

    let db = Db::open(&store.path, options).unwrap();
    assert!(db.stats().recovery.from_checkpoint, "{:?}", db.stats().recovery);
    for (number, versions) in versions.iter().enumerate() {
        for (slot, &version) in versions.iter().enumerate() {
            let key = number as u64 * KEYS_PER_WRITER + slot as u64;
            let bytes = db.get(&key.to_be_bytes()).unwrap().expect("every acknowledged key");
            assert_eq!(decode(key, &bytes), version, "key {key}");
        }
    }
    assert_eq!(db.stats().keys, WRITERS * KEYS_PER_WRITER);
}
