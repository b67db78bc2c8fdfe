//! Bank transfers: threads move random amounts between accounts through transactions while
//! other threads sum every account through snapshots (by `get`, and by a scan); every sum is
//! the initial total, and so is the final one, after a reopen too.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

const ACCOUNTS: u64 = 20;
const BALANCE: i64 = 1000;

fn account(number: u64) -> Vec<u8> {
    format!("account/{number:02}").into_bytes()
}

fn balance(value: Option<daxkv::Bytes>) -> i64 {
    std::str::from_utf8(&value.expect("accounts are never deleted")).unwrap().parse().unwrap()
}

#[test]
fn snapshot_sums_never_change() {
    let store = temp_store();
    let db = Arc::new(Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap());
    for number in 0..ACCOUNTS {
        db.put(&account(number), BALANCE.to_string().as_bytes()).unwrap();
    }
    let total = BALANCE * ACCOUNTS as i64;
    let done = Arc::new(AtomicBool::new(false));
    let tellers: Vec<_> = (0..2u64)
        .map(|teller| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut rng = Rng::new(teller + 1);
                for _ in 0..400 {
                    let (from, to) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
                    let amount = rng.below(50) as i64;
                    db.update(|transaction| {
                        let from_balance = balance(transaction.get(&account(from))?);
                        transaction.put(&account(from), (from_balance - amount).to_string().as_bytes())?;
                        let to_balance = balance(transaction.get(&account(to))?);
                        transaction.put(&account(to), (to_balance + amount).to_string().as_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let auditor = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut audits = 0u64;
            while !done.load(Ordering::SeqCst) || audits < 50 {
                let snapshot = db.snapshot();
                let by_get: i64 = (0..ACCOUNTS).map(|number| balance(snapshot.get(&account(number)).unwrap())).sum();
                let by_scan: i64 = snapshot.prefix(b"account/").map(|item| balance(Some(item.unwrap().1))).sum();
                let by_reverse_scan: i64 =
                    db.prefix(b"account/").rev().map(|item| balance(Some(item.unwrap().1))).sum();
                assert_eq!((by_get, by_scan, by_reverse_scan), (total, total, total), "audit {audits}");
                audits += 1;
            }
            audits
        })
    };
    for teller in tellers {
        teller.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    assert!(auditor.join().unwrap() >= 50);
    let sum = |db: &Db| -> i64 { db.iter().map(|item| balance(Some(item.unwrap().1))).sum() };
    assert_eq!(sum(&db), total);
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(sum(&db), total);
    db.close().unwrap();
}
