//! What a reader may see before a write is durable (docs/design.md, "Visibility"): a write is
//! visible to every reader as soon as `put` has appended it — before its commit is durable for
//! `Deferred`, and before the commit's flush completes for `Immediate` writers of other threads.

mod common;

use common::temp_store;
use daxkv::{Db, Durability, Options};

#[test]
fn deferred_writes_are_visible_before_sync_and_durable_after() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    let opened = db.stats().commits_total;
    db.put(b"k", b"v1").unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]), "visible before sync");
    assert_eq!(db.stats().commits_total, opened, "not committed yet");
    assert_eq!(db.iter().count(), 1);
    db.sync().unwrap();
    assert_eq!(db.stats().commits_total, opened + 1);
}

#[test]
fn an_unsynced_deferred_write_is_not_in_the_durable_image() {
    // The file image as it would be after power loss before sync: only the commits made before
    // survive recovery. The image here is the page cache copied before sync, with its last
    // (uncommitted) records present but no Commit record: recovery must drop them.
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"durable", b"yes").unwrap();
    db.sync().unwrap();
    db.put(b"pending", b"not yet").unwrap();
    let image = std::fs::read(&store.path).unwrap();
    drop(db);
    std::fs::write(&store.path, image).unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(db.get(b"durable").unwrap().as_deref(), Some(&b"yes"[..]));
    assert_eq!(db.get(b"pending").unwrap(), None);
}

#[test]
fn large_values_are_zero_copy_and_outlive_the_handle() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    let big = vec![0xC3u8; 100_000];
    db.put(b"big", &big).unwrap();
    let value = db.get(b"big").unwrap().unwrap();
    db.close().unwrap();
    assert_eq!(value.as_ref(), big.as_slice(), "a zero-copy value keeps its mapping alive");
    Db::open(&store.path, Options::default()).expect("the file lock went with the handle, not the value");
}
