//! Read skew and non-repeatable reads cannot happen inside a snapshot or a transaction: a
//! writer that moves money between two keys between the reader's two reads is not seen, and
//! a key read twice reads the same. Also under concurrency, with a writer moving amounts.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::temp_store;
use daxkv::{Db, Durability, Options, WriteBatch};

fn amount(value: Option<daxkv::Bytes>) -> i64 {
    std::str::from_utf8(&value.expect("present")).unwrap().parse().unwrap()
}

#[test]
fn reads_inside_a_snapshot_repeat_and_agree() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"x", b"50").unwrap();
    db.put(b"y", b"50").unwrap();
    let snapshot = db.snapshot();
    let transaction = db.transaction();
    let x = amount(snapshot.get(b"x").unwrap());
    let x_in_transaction = amount(transaction.get(b"x").unwrap());
    let mut batch = WriteBatch::new();
    batch.put(b"x", b"10");
    batch.put(b"y", b"90");
    db.write(batch).unwrap();
    assert_eq!(x + amount(snapshot.get(b"y").unwrap()), 100, "read skew through a snapshot");
    assert_eq!(x_in_transaction + amount(transaction.get(b"y").unwrap()), 100, "read skew in a transaction");
    assert_eq!(amount(snapshot.get(b"x").unwrap()), x, "non-repeatable read");
    assert_eq!(amount(transaction.get(b"x").unwrap()), x_in_transaction, "non-repeatable read");
    drop((snapshot, transaction));
    db.close().unwrap();
}

#[test]
fn concurrent_readers_never_see_half_a_transfer() {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap());
    db.put(b"x", b"500").unwrap();
    db.put(b"y", b"500").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            for step in 0..3000i64 {
                let x = 500 + (step % 37) * 10 - 180;
                let mut batch = WriteBatch::new();
                batch.put(b"x", x.to_string().as_bytes());
                batch.put(b"y", (1000 - x).to_string().as_bytes());
                db.write(batch).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut checks = 0u64;
    while !done.load(Ordering::SeqCst) || checks < 100 {
        let snapshot = db.snapshot();
        let x = amount(snapshot.get(b"x").unwrap());
        std::thread::yield_now();
        let y = amount(snapshot.get(b"y").unwrap());
        assert_eq!(x + y, 1000, "check {checks}: read skew");
        checks += 1;
    }
    writer.join().unwrap();
    assert_eq!(db.stats().snapshot_versions_kept, 0);
}
