//! Readers versus reuse: zero-copy values held across many cleaning cycles keep exactly their
//! bytes (their segments are not reused or punched while held), and concurrent readers never see
//! a wrong or torn value while the cleaner moves and reuses segments under them.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::temp_store;
use daxkv::{Bytes, Db, Durability, Options};

/// Above the 16 KiB zero-copy threshold: reads hand out views of the mapping.
const LARGE_BYTES: usize = 40 * 1024;

/// A value that names its key and version in every 8-byte word, so any wrong byte is caught.
fn value(key: u64, version: u64, len: usize) -> Vec<u8> {
    let word = (key << 40) ^ version.wrapping_mul(0x9E37_79B9);
    (0..len / 8).flat_map(|i| (word ^ i as u64).to_le_bytes()).collect()
}

/// Decodes (key, version) from a value and checks every word against them.
fn check(key: u64, bytes: &[u8]) -> u64 {
    assert!(bytes.len() % 8 == 0 && !bytes.is_empty(), "key {key}: length {}", bytes.len());
    let first = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(first >> 40, key, "a value of another key");
    let version = (first & ((1 << 40) - 1)) / 0x9E37_79B9;
    assert_eq!(bytes, &value(key, version, bytes.len())[..], "key {key}: torn or wrong bytes");
    version
}

#[test]
fn zero_copy_values_survive_many_cleaning_cycles() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options).unwrap();
    for key in 0..48u64 {
        db.put(&key.to_be_bytes(), &value(key, 0, LARGE_BYTES)).unwrap();
    }
    db.sync().unwrap();
    let held: Vec<Bytes> = (0..48u64).map(|key| db.get(&key.to_be_bytes()).unwrap().unwrap()).collect();
    assert_eq!(db.stats().values_pinned, 48);
    let (mut freed, mut retired_seen) = (0, 0);
    for cycle in 1..=40u64 {
        for key in 0..48u64 {
            db.put(&key.to_be_bytes(), &value(key, cycle, LARGE_BYTES)).unwrap();
        }
        freed += db.compact().unwrap();
        retired_seen = retired_seen.max(db.stats().segments_retired);
        for (key, bytes) in held.iter().enumerate() {
            assert_eq!(check(key as u64, bytes), 0, "a held value changed in cycle {cycle}");
        }
    }
    let stats = db.stats();
    assert!(freed > 10 && stats.segments_reused_total > 0, "cleaning must free and reuse segments");
    assert!(retired_seen > 0, "the segments of held values must wait for them");
    drop(held);
    db.compact().unwrap();
    assert_eq!(db.stats().segments_retired, 0, "released once the values are dropped");
    for key in 0..48u64 {
        assert_eq!(check(key, &db.get(&key.to_be_bytes()).unwrap().unwrap()), 40);
    }
}

fn reader(db: &Db, stop: &AtomicBool, keys: u64) -> u64 {
    let (mut reads, mut held) = (0u64, Vec::new());
    // Bounded by the writer: it sets `stop` after a fixed number of updates.
    while !stop.load(Ordering::Relaxed) {
        for key in (0..keys).step_by(3) {
            if let Some(bytes) = db.get(&key.to_be_bytes()).unwrap() {
                check(key, &bytes);
                if reads % 7 == 0 && held.len() < 32 {
                    held.push((key, bytes));
                }
                reads += 1;
            }
        }
        for item in db.iter().take(64) {
            let (key, bytes) = item.unwrap();
            check(u64::from_be_bytes(key[..].try_into().unwrap()), &bytes);
        }
        for (key, bytes) in held.drain(..) {
            check(key, &bytes);
        }
    }
    reads
}

#[test]
fn concurrent_readers_see_whole_values_while_the_cleaner_reuses_segments() {
    const KEYS: u64 = 200;
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).max_space_amplification(1.1);
    let db = Arc::new(Db::open(&store.path, options).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || reader(&db, &stop, KEYS))
        })
        .collect();
    for round in 0..30u64 {
        for key in 0..KEYS {
            // Small and large values, so both copied and zero-copy reads race the cleaner.
            let len = if key % 4 == 0 { LARGE_BYTES } else { 1024 + (key as usize % 7) * 8 };
            db.put(&key.to_be_bytes(), &value(key, round, len)).unwrap();
        }
        db.sync().unwrap();
        db.clean().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|reader| reader.join().expect("no reader saw a bad value")).sum();
    let stats = db.stats();
    eprintln!(
        "{reads} checked reads; {} segments freed, {} reused",
        stats.cleaning_segments_freed_total, stats.segments_reused_total
    );
    assert!(reads > 0);
    assert!(stats.cleaning_segments_freed_total > 0 && stats.segments_reused_total > 0);
}
