//! Write skew is forbidden: two transactions that each read both of two keys and write one of
//! them cannot both commit (snapshot isolation alone would let them, breaking "at least one
//! doctor on call"). Shown one pair at a time, then under concurrency with the invariant checked.

mod common;

use std::sync::Arc;

use common::temp_store;
use daxkv::{Db, Durability, Error, Options};

fn on_call(value: Option<daxkv::Bytes>) -> bool {
    value.as_deref() == Some(&b"on"[..])
}

#[test]
fn the_second_of_two_skewed_transactions_conflicts() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"alice", b"on").unwrap();
    db.put(b"bob", b"on").unwrap();
    let first = db.transaction();
    let second = db.transaction();
    for transaction in [&first, &second] {
        assert!(on_call(transaction.get(b"alice").unwrap()) && on_call(transaction.get(b"bob").unwrap()));
    }
    first.put(b"alice", b"off").unwrap();
    second.put(b"bob", b"off").unwrap();
    first.commit().unwrap();
    assert!(matches!(second.commit(), Err(Error::Conflict)));
    assert!(on_call(db.get(b"bob").unwrap()), "somebody stays on call");
    db.close().unwrap();
}

#[test]
fn concurrent_skewed_transactions_never_leave_nobody_on_call() {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap());
    for round in 0..200u32 {
        db.put(b"alice", b"on").unwrap();
        db.put(b"bob", b"on").unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let workers: Vec<_> = [&b"alice"[..], &b"bob"[..]]
            .into_iter()
            .map(|me| {
                let (db, barrier) = (Arc::clone(&db), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let transaction = db.transaction();
                    let both = on_call(transaction.get(b"alice").unwrap()) && on_call(transaction.get(b"bob").unwrap());
                    barrier.wait();
                    if both {
                        transaction.put(me, b"off").unwrap();
                    }
                    transaction.commit()
                })
            })
            .collect();
        let outcomes: Vec<_> = workers.into_iter().map(|worker| worker.join().unwrap()).collect();
        assert!(outcomes.iter().any(Result::is_ok), "round {round}: one commits");
        assert!(outcomes.iter().all(|outcome| matches!(outcome, Ok(()) | Err(Error::Conflict))));
        let alice = on_call(db.get(b"alice").unwrap());
        let bob = on_call(db.get(b"bob").unwrap());
        assert!(alice || bob, "round {round}: write skew left nobody on call");
    }
    assert_eq!(db.stats().snapshots_open, 0);
}
