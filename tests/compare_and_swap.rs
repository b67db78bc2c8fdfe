//! `Db::compare_and_swap`: each case of expected/new (present, absent, delete), what a failed
//! swap leaves (nothing written), persistence across a reopen, and oversized input.

mod common;

use common::temp_store;
use daxkv::{Db, Durability, Error, Options};

#[test]
fn swaps_only_from_the_expected_value_and_writes_nothing_otherwise() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    // Absent → present, only when absent is expected.
    assert!(!db.compare_and_swap(b"k", Some(b"x"), Some(b"v1")).unwrap(), "k is absent, not x");
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(db.compare_and_swap(b"k", None, Some(b"v1")).unwrap());
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    // Present → present, only from the value it holds.
    assert!(!db.compare_and_swap(b"k", None, Some(b"v2")).unwrap(), "k is present");
    assert!(!db.compare_and_swap(b"k", Some(b"v0"), Some(b"v2")).unwrap());
    assert!(!db.compare_and_swap(b"k", Some(b"v"), Some(b"v2")).unwrap(), "a prefix is not equal");
    assert!(db.compare_and_swap(b"k", Some(b"v1"), Some(b"v2")).unwrap());
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v2"[..]));
    // An empty value is a value, not absence.
    assert!(db.compare_and_swap(b"k", Some(b"v2"), Some(b"")).unwrap());
    assert!(!db.compare_and_swap(b"k", None, Some(b"v3")).unwrap(), "an empty value is present");
    // Present → absent (delete), only from the value it holds.
    assert!(!db.compare_and_swap(b"k", Some(b"v2"), None).unwrap());
    assert!(db.compare_and_swap(b"k", Some(b""), None).unwrap());
    assert_eq!(db.get(b"k").unwrap(), None);
    // Absent → absent: true, and no record.
    let puts = db.stats().puts_total + db.stats().deletes_total;
    assert!(db.compare_and_swap(b"k", None, None).unwrap());
    assert!(!db.compare_and_swap(b"other", Some(b"x"), None).unwrap());
    assert_eq!(db.stats().puts_total + db.stats().deletes_total, puts, "failed or empty swaps wrote a record");
    // Successful swaps: 3 puts and 1 delete; the failed ones appended nothing.
    assert_eq!((db.stats().puts_total, db.stats().deletes_total), (3, 1));
    db.close().unwrap();
}

#[test]
fn a_swap_is_durable_and_survives_a_reopen() {
    let store = temp_store();
    {
        let db = Db::open(&store.path, Options::default()).unwrap();
        assert!(db.compare_and_swap(b"a", None, Some(b"1")).unwrap());
        assert!(db.compare_and_swap(b"b", None, Some(b"1")).unwrap());
        assert!(db.compare_and_swap(b"a", Some(b"1"), Some(b"2")).unwrap());
        assert!(db.compare_and_swap(b"b", Some(b"1"), None).unwrap());
        // Immediate: each swap was durable when it returned; a crash loses none.
        db.abandon();
    }
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.get(b"b").unwrap(), None);
    assert!(db.compare_and_swap(b"a", Some(b"2"), Some(b"3")).unwrap());
    db.close().unwrap();
}

#[test]
fn oversized_input_is_a_typed_error_and_writes_nothing() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().max_key_bytes(8).max_value_bytes(8)).unwrap();
    db.put(b"k", b"v").unwrap();
    let long = [7u8; 9];
    assert!(matches!(db.compare_and_swap(&long, None, Some(b"v")), Err(Error::KeyTooLarge { len: 9, max: 8 })));
    assert!(matches!(db.compare_and_swap(b"k", Some(b"v"), Some(&long)), Err(Error::ValueTooLarge { len: 9, max: 8 })));
    // An expected value longer than any value can be is only unequal.
    assert!(!db.compare_and_swap(b"k", Some(&long), Some(b"w")).unwrap());
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    db.close().unwrap();
}
