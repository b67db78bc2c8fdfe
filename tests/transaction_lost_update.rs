//! No lost update: threads increment one counter through transactions (each a read and a
//! write, retried on conflict), under `Deferred` and `Immediate`; the total is exact.

mod common;

use std::sync::Arc;

use common::temp_store;
use daxkv::{Db, Durability, Error, Options};

const THREADS: u64 = 4;
const INCREMENTS: u64 = 200;

fn count(value: Option<daxkv::Bytes>) -> u64 {
    value.map_or(0, |value| std::str::from_utf8(&value).unwrap().parse().unwrap())
}

fn run(durability: Durability) {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(durability)).unwrap());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut conflicts = 0u64;
                for _ in 0..INCREMENTS {
                    // By hand, not `Db::update`: count the conflicts.
                    loop {
                        let transaction = db.transaction();
                        let next = count(transaction.get(b"counter").unwrap()) + 1;
                        transaction.put(b"counter", next.to_string().as_bytes()).unwrap();
                        match transaction.commit() {
                            Ok(()) => break,
                            Err(Error::Conflict) => conflicts += 1,
                            Err(error) => panic!("{error}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u64 = workers.into_iter().map(|worker| worker.join().unwrap()).sum();
    assert_eq!(count(db.get(b"counter").unwrap()), THREADS * INCREMENTS, "{conflicts} conflicts retried");
    let stats = db.stats();
    assert_eq!((stats.snapshots_open, stats.snapshot_versions_kept), (0, 0));
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(count(db.get(b"counter").unwrap()), THREADS * INCREMENTS);
    db.close().unwrap();
}

#[test]
fn deferred() {
    run(Durability::Deferred);
}

#[test]
fn immediate() {
    run(Durability::Immediate);
}

#[test]
fn through_update() {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    db.update(|transaction| {
                        let next = count(transaction.get(b"counter")?) + 1;
                        transaction.put(b"counter", next.to_string().as_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(count(db.get(b"counter").unwrap()), THREADS * INCREMENTS);
}
