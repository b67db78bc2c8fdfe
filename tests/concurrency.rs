//! Four writer threads and readers at once: readers never see a torn or foreign value; every
//! acknowledged write is there afterwards and after a reopen. Immediate writers share commits.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::temp_store;
use daxkv::{Db, Durability, Options};

/// A self-checking value: the key, a version and a filler whose length depends on both.
fn value_for(key: &[u8], version: u32) -> Vec<u8> {
    let mut value = format!("{}:{version}:", String::from_utf8_lossy(key)).into_bytes();
    value.resize(value.len() + (version as usize * 37) % 500, b'a' + (version % 26) as u8);
    value
}

fn check_value(key: &[u8], value: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(value);
    let mut parts = text.splitn(3, ':');
    assert_eq!(parts.next().unwrap().as_bytes(), key, "value belongs to another key");
    let version: u32 = parts.next().unwrap().parse().unwrap();
    assert_eq!(value, value_for(key, version).as_slice(), "torn value");
    version
}

fn run(durability: Durability) {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(durability)).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u32)
        .map(|thread| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for version in 1..=400u32 {
                    let key = format!("t{thread}-k{}", version % 50);
                    db.put(key.as_bytes(), &value_for(key.as_bytes(), version)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut checked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for item in db.iter() {
                        let (key, value) = item.unwrap();
                        check_value(&key, &value);
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    db.sync().unwrap();
    let stats = db.stats();
    assert_eq!(stats.batches_total, 1600);
    if durability == Durability::Immediate {
        assert!(stats.commits_total <= 1600);
    }
    let db = Arc::into_inner(db).unwrap();
    db.close().unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    for thread in 0..4u32 {
        for slot in 0..50u32 {
            let key = format!("t{thread}-k{slot}");
            let last = (1..=400u32).filter(|v| v % 50 == slot).max().unwrap();
            let value = db.get(key.as_bytes()).unwrap().expect("acknowledged write");
            assert_eq!(check_value(key.as_bytes(), &value), last);
        }
    }
}

#[test]
fn four_immediate_writers_and_two_readers() {
    run(Durability::Immediate);
}

#[test]
fn four_deferred_writers_and_two_readers() {
    run(Durability::Deferred);
}
