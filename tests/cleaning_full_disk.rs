//! A store at its maximum size whose data is mostly dead keeps accepting writes: a writer that
//! finds no free segment runs cleaning steps itself (the only time writers wait for the cleaner),
//! and surplus free space is handed back to the filesystem with hole punching.

mod common;

use std::os::unix::fs::MetadataExt;

use common::temp_store;
use daxkv::{Db, Error, Options};

fn value(key: u32, round: u32) -> Vec<u8> {
    vec![(key ^ round.wrapping_mul(31)) as u8; 64 * 1024]
}

#[test]
fn overwrites_far_beyond_the_maximum_size_succeed() {
    let store = temp_store();
    let options = Options::default().max_file_bytes(16 << 20).background_cleaning(false);
    let db = Db::open(&store.path, options.clone()).unwrap();
    for round in 0..40u32 {
        for key in 0..40u32 {
            db.put(&key.to_be_bytes(), &value(key, round)).unwrap();
        }
    }
    let stats = db.stats();
    assert!(stats.record_bytes_total > 6 * (16 << 20), "writes must exceed the file size many times");
    assert!(stats.cleaning_segments_freed_total > 0);
    for key in 0..40u32 {
        assert_eq!(db.get(&key.to_be_bytes()).unwrap().unwrap(), value(key, 39));
    }
    // Live data beyond the maximum is still refused.
    let mut refused = false;
    for key in 40..400u32 {
        match db.put(&key.to_be_bytes(), &value(key, 0)) {
            Ok(()) => {}
            Err(Error::NoSpace) => {
                refused = true;
                break;
            }
            Err(other) => panic!("expected NoSpace, got {other:?}"),
        }
    }
    assert!(refused, "16 MiB cannot hold 400 values of 64 KiB");
    db.close().unwrap();
    let db = Db::open(&store.path, options).unwrap();
    assert_eq!(db.get(&7u32.to_be_bytes()).unwrap().unwrap(), value(7, 39));
}

#[test]
fn free_space_beyond_the_reserve_is_punched_out_of_the_file() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().background_cleaning(false)).unwrap();
    let big = vec![0x5Au8; 512 * 1024];
    for key in 0..128u32 {
        db.put(&key.to_be_bytes(), &big).unwrap();
    }
    for key in 0..128u32 {
        db.delete(&key.to_be_bytes()).unwrap();
    }
    db.put(b"survivor", b"still here").unwrap();
    db.compact().unwrap();
    let stats = db.stats();
    let metadata = std::fs::metadata(&store.path).unwrap();
    eprintln!(
        "file {} B, allocated {} B, punched {} segments, {} holes",
        metadata.len(),
        metadata.blocks() * 512,
        stats.segments_punched,
        stats.holes_punched_total
    );
    assert!(stats.holes_punched_total > 0 && stats.segments_punched > 0);
    assert!(metadata.blocks() * 512 < metadata.len() / 2, "punched space must leave the file's allocation");
    db.close().unwrap();
    // Reopen and write through the punched segments again: they are refilled before reuse.
    let db = Db::open(&store.path, Options::default().background_cleaning(false)).unwrap();
    assert_eq!(db.get(b"survivor").unwrap().as_deref(), Some(&b"still here"[..]));
    for key in 0..128u32 {
        db.put(&key.to_be_bytes(), &big).unwrap();
    }
    assert_eq!(db.get(&127u32.to_be_bytes()).unwrap().unwrap(), big);
}
