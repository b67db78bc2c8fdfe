//! Phantoms count: a transaction that scanned a range conflicts when another writer adds a key
//! to it (or removes or changes one) before its commit; a key outside every range it read
//! does not conflict.

mod common;

use common::temp_store;
use daxkv::{Db, Durability, Error, Options};

fn count_orders(transaction: &daxkv::Transaction<'_>) -> usize {
    transaction.prefix(b"order/").try_fold(0, |count, item| item.map(|_| count + 1)).unwrap()
}

#[test]
fn a_key_added_to_a_scanned_range_is_a_conflict() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"order/1", b"x").unwrap();
    db.put(b"order/2", b"x").unwrap();
    let transaction = db.transaction();
    let orders = count_orders(&transaction);
    assert_eq!(orders, 2);
    transaction.put(b"summary", orders.to_string().as_bytes()).unwrap();
    db.put(b"order/3", b"x").unwrap();
    assert!(matches!(transaction.commit(), Err(Error::Conflict)), "the phantom order/3 went unnoticed");
    assert_eq!(db.get(b"summary").unwrap(), None);
    // Retried, it counts the new order.
    let transaction = db.transaction();
    let orders = count_orders(&transaction);
    transaction.put(b"summary", orders.to_string().as_bytes()).unwrap();
    transaction.commit().unwrap();
    assert_eq!(db.get(b"summary").unwrap().as_deref(), Some(&b"3"[..]));
    db.close().unwrap();
}

#[test]
fn removals_and_changes_in_a_range_conflict_and_keys_outside_do_not() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    for key in [&b"b1"[..], b"b2", b"b3"] {
        db.put(key, b"x").unwrap();
    }
    for (change, conflicts) in [
        (&(|db: &Db| db.delete(b"b2")) as &dyn Fn(&Db) -> Result<(), Error>, true),
        (&|db: &Db| db.put(b"b3", b"changed"), true),
        (&|db: &Db| db.put(b"b", b"below the range"), false),
        (&|db: &Db| db.put(b"b4", b"above the range"), false),
        (&|db: &Db| db.put(b"b1\0", b"inside"), true),
    ] {
        let transaction = db.transaction();
        let seen = transaction.range(&b"b1"[..]..=&b"b3"[..]).count();
        assert!(seen >= 2);
        transaction.put(b"result", b"x").unwrap();
        change(&db).unwrap();
        let outcome = transaction.commit();
        assert_eq!(matches!(outcome, Err(Error::Conflict)), conflicts, "{outcome:?}");
    }
    // A reverse scan reads its range as well.
    let transaction = db.transaction();
    assert!(transaction.range(&b"b1"[..]..&b"b4"[..]).next_back().is_some());
    transaction.put(b"result", b"y").unwrap();
    db.put(b"b3\0", b"inside").unwrap();
    assert!(matches!(transaction.commit(), Err(Error::Conflict)));
    db.close().unwrap();
}
