//! A torn last batch (truncated or garbled in the file) is dropped at recovery; everything
//! committed before it survives; the store is writable afterwards and a second recovery agrees.

mod common;

use common::{flip_byte, temp_store};
use daxkv::{Db, Durability, Options, WriteBatch};

/// Writes `count` committed keys, then returns the log head offset before and after one more
/// batch (the one to tear). The store is dropped without a clean close being recorded... it is
/// closed, so the test clears the clean flag by reopening once first.
fn prepare(path: &std::path::Path) -> (u64, u64) {
    let db = Db::open(path, Options::default()).unwrap();
    for i in 0..50u32 {
        db.put(format!("committed{i:03}").as_bytes(), &[i as u8; 200]).unwrap();
    }
    let before = db.stats().log_head_offset;
    let mut batch = WriteBatch::new();
    for i in 0..5u32 {
        batch.put(format!("torn{i}").as_bytes(), &[0xAB; 300]);
    }
    db.write(batch).unwrap();
    let after = db.stats().log_head_offset;
    // Leave without a clean close: simulate a crash right after the last commit's flush. We
    // emulate "unclean" by forgetting the handle after copying the file image.
    let image = std::fs::read(path).unwrap();
    drop(db);
    std::fs::write(path, &image).unwrap();
    (before, after)
}

fn assert_committed_intact(db: &Db) {
    for i in 0..50u32 {
        assert_eq!(db.get(format!("committed{i:03}").as_bytes()).unwrap().as_deref(), Some(&[i as u8; 200][..]));
    }
}

#[test]
fn a_garbled_last_batch_is_dropped_whole() {
    let store = temp_store();
    let (before, after) = prepare(&store.path);
    // Damage one byte in the middle of the last batch: that batch is the torn tail.
    flip_byte(&store.path, before + (after - before) / 2);
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_committed_intact(&db);
    for i in 0..5u32 {
        assert_eq!(db.get(format!("torn{i}").as_bytes()).unwrap(), None, "no part of a torn batch survives");
    }
    assert!(db.stats().recovery.tail_bytes_zeroed > 0);
    db.put(b"after", b"recovery").unwrap();
    drop(db);
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    assert_committed_intact(&db);
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"recovery"[..]));
    assert_eq!(db.get(b"torn0").unwrap(), None);
}

#[test]
fn a_zeroed_commit_record_drops_the_batch() {
    let store = temp_store();
    let (before, after) = prepare(&store.path);
    // Zero the last 48 bytes (the Commit record): as if its line never reached the media.
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(&store.path).unwrap();
    file.write_all_at(&[0u8; 48], after - 48).unwrap();
    drop(file);
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_committed_intact(&db);
    assert_eq!(db.get(b"torn4").unwrap(), None);
    assert!(before < after);
}

#[test]
fn recovery_twice_gives_the_same_state() {
    let store = temp_store();
    let (before, after) = prepare(&store.path);
    flip_byte(&store.path, after - 60);
    let first: Vec<_> = {
        let db = Db::open(&store.path, Options::default()).unwrap();
        let image = std::fs::read(&store.path).unwrap();
        let keys = db.iter().map(|item| item.unwrap()).collect::<Vec<_>>();
        drop(db);
        std::fs::write(&store.path, image).unwrap();
        keys
    };
    let db = Db::open(&store.path, Options::default()).unwrap();
    let second = db.iter().map(|item| item.unwrap()).collect::<Vec<_>>();
    assert_eq!(first, second);
    assert_eq!(first.len(), 50);
    assert!(before < after);
}
