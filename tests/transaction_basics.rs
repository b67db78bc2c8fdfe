//! `Db::transaction`: reads see the snapshot and the transaction's own writes (through `get`
//! and merged into iterators, from both ends); commit writes everything as one batch, durable
//! across a reopen; drop rolls back; a read key changed meanwhile is a `Conflict` with nothing
//! written, a blind write is not; limits are typed errors; `Db::update` retries conflicts.

mod common;

use common::temp_store;
use daxkv::{Db, Durability, Error, Options};

fn contents(items: impl Iterator<Item = Result<(daxkv::Bytes, daxkv::Bytes), Error>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).unwrap()).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.iter().map(|(key, value)| (key.as_bytes().to_vec(), value.as_bytes().to_vec())).collect()
}

#[test]
fn own_writes_are_seen_and_commit_together() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"c", b"3").unwrap();
    db.put(b"e", b"5").unwrap();
    let transaction = db.transaction();
    assert_eq!(transaction.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    transaction.put(b"b", b"2").unwrap();
    transaction.delete(b"c").unwrap();
    transaction.put(b"e", b"55").unwrap();
    transaction.put(b"f", b"6").unwrap();
    assert_eq!(transaction.get(b"c").unwrap(), None);
    assert_eq!(transaction.get(b"e").unwrap().as_deref(), Some(&b"55"[..]));
    let expected = pairs(&[("a", "1"), ("b", "2"), ("e", "55"), ("f", "6")]);
    assert_eq!(contents(transaction.iter()), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(contents(transaction.iter().rev()), reversed);
    assert_eq!(contents(transaction.range(&b"b"[..]..=&b"e"[..])), pairs(&[("b", "2"), ("e", "55")]));
    let mut both_ends = transaction.iter();
    let first = both_ends.next().unwrap().unwrap();
    let last = both_ends.next_back().unwrap().unwrap();
    assert_eq!((&first.0[..], &last.0[..]), (&b"a"[..], &b"f"[..]));
    assert_eq!(contents(both_ends), pairs(&[("b", "2"), ("e", "55")]));
    // Nothing is visible outside before the commit.
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
    let batches = db.stats().batches_total;
    transaction.commit().unwrap();
    assert_eq!(db.stats().batches_total, batches + 1, "a transaction commits as one batch");
    assert_eq!(contents(db.iter()), expected);
    db.close().unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(contents(db.iter()), expected);
    assert_eq!(db.stats().snapshots_open, 0);
    db.close().unwrap();
}

#[test]
fn dropping_rolls_back_and_read_only_commits_write_nothing() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"k", b"v").unwrap();
    {
        let transaction = db.transaction();
        transaction.put(b"k", b"changed").unwrap();
        transaction.put(b"new", b"x").unwrap();
    }
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get(b"new").unwrap(), None);
    let batches = db.stats().batches_total;
    let reader = db.transaction();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    db.put(b"k", b"moved on").unwrap();
    reader.commit().expect("a read-only transaction read one snapshot: it commits");
    assert_eq!(db.stats().batches_total, batches + 1, "only the put wrote");
    assert_eq!(db.stats().snapshots_open, 0);
    db.close().unwrap();
}

#[test]
fn a_read_key_changed_meanwhile_is_a_conflict_and_a_blind_write_is_not() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"k", b"0").unwrap();
    let reader = db.transaction();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"0"[..]));
    let blind = db.transaction();
    blind.put(b"k", b"blind").unwrap();
    db.put(b"k", b"1").unwrap();
    reader.put(b"k", b"from reader").unwrap();
    reader.put(b"other", b"x").unwrap();
    assert!(matches!(reader.commit(), Err(Error::Conflict)));
    assert_eq!(db.get(b"other").unwrap(), None, "a conflicting commit writes nothing");
    blind.commit().expect("a transaction that read nothing cannot conflict");
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"blind"[..]));
    // An absent key read is in the read set too: it appearing is a change.
    let absent = db.transaction();
    assert_eq!(absent.get(b"missing").unwrap(), None);
    absent.put(b"flag", b"1").unwrap();
    db.put(b"missing", b"now here").unwrap();
    assert!(matches!(absent.commit(), Err(Error::Conflict)));
    // A key read that another writer deletes and puts back (same value) still changed.
    let aba = db.transaction();
    aba.get(b"k").unwrap();
    aba.put(b"x", b"1").unwrap();
    db.delete(b"k").unwrap();
    db.put(b"k", b"blind").unwrap();
    assert!(matches!(aba.commit(), Err(Error::Conflict)));
    assert_eq!(db.stats().snapshots_open, 0);
    assert_eq!(db.stats().snapshot_versions_kept, 0);
    db.close().unwrap();
}

#[test]
fn limits_are_typed_errors() {
    let store = temp_store();
    let options = Options::default().max_key_bytes(16).max_value_bytes(64).max_transaction_bytes(4096);
    let db = Db::open(&store.path, options).unwrap();
    let transaction = db.transaction();
    assert!(matches!(transaction.put(&[7; 17], b"v"), Err(Error::KeyTooLarge { len: 17, max: 16 })));
    assert!(matches!(transaction.put(b"k", &[7; 65]), Err(Error::ValueTooLarge { len: 65, max: 64 })));
    let mut refused = None;
    for number in 0..1000u32 {
        if let Err(error) = transaction.put(format!("key{number}").as_bytes(), &[1; 64]) {
            refused = Some((number, error));
            break;
        }
    }
    let (number, error) = refused.expect("the limit is reached");
    assert!(matches!(error, Error::TransactionTooLarge { max: 4096, .. }), "{error}");
    assert!(number > 10, "{number} writes fit in 4 KiB");
    // Overwriting a buffered key does not count it twice.
    transaction.put(b"key0", &[2; 64]).unwrap();
    transaction.commit().unwrap();
    assert_eq!(db.get(b"key0").unwrap().as_deref(), Some(&[2; 64][..]));
    assert!(db.get(format!("key{number}").as_bytes()).unwrap().is_none(), "the refused put is not buffered");
    assert!(matches!(
        Db::open(&store.path, Options::default().max_transaction_bytes(0)),
        Err(Error::InvalidOptions(_))
    ));
    db.close().unwrap();
}

#[test]
fn update_retries_conflicts_until_the_work_commits() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.put(b"n", b"0").unwrap();
    let mut runs = 0;
    let result = db.update(|transaction| {
        runs += 1;
        let value = transaction.get(b"n")?.unwrap();
        if runs == 1 {
            // Another writer gets in between this transaction's read and its commit.
            db.put(b"n", b"10").unwrap();
        }
        let next = std::str::from_utf8(&value).unwrap().parse::<u64>().unwrap() + 1;
        transaction.put(b"n", next.to_string().as_bytes())?;
        Ok(next)
    });
    assert_eq!(result.unwrap(), 11);
    assert_eq!(runs, 2);
    assert_eq!(db.get(b"n").unwrap().as_deref(), Some(&b"11"[..]));
    let failed: Result<(), Error> = db.update(|_| Err(Error::NoSpace));
    assert!(matches!(failed, Err(Error::NoSpace)), "errors other than Conflict end it");
    db.close().unwrap();
}
