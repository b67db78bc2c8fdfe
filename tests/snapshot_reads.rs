//! `Db::snapshot`: a snapshot reads exactly the store as it was when taken — through `get`,
//! `iter`, `range`, `prefix`, from both ends — whatever is overwritten, deleted or inserted
//! after it; several snapshots at different points each read their own; `Db::iter` is a point
//! in time; and closing the last snapshot lets go of every version kept for it.

mod common;

use std::collections::BTreeMap;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn contents<'a>(
    items: impl Iterator<Item = Result<(daxkv::Bytes, daxkv::Bytes), daxkv::Error>> + 'a,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).unwrap()).collect()
}

fn key(number: u64) -> Vec<u8> {
    format!("key{number:05}").into_bytes()
}

#[test]
fn a_snapshot_reads_the_store_as_it_was() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    for number in 0..100 {
        db.put(&key(number), b"before").unwrap();
    }
    let snapshot = db.snapshot();
    db.put(&key(1), b"after").unwrap();
    db.delete(&key(2)).unwrap();
    db.put(&key(1000), b"inserted").unwrap();
    db.put(b"key00002x", b"inserted").unwrap();
    assert_eq!(snapshot.get(&key(1)).unwrap().as_deref(), Some(&b"before"[..]));
    assert_eq!(snapshot.get(&key(2)).unwrap().as_deref(), Some(&b"before"[..]));
    assert_eq!(snapshot.get(&key(1000)).unwrap(), None);
    assert_eq!(db.get(&key(1)).unwrap().as_deref(), Some(&b"after"[..]));
    assert_eq!(db.get(&key(2)).unwrap(), None);
    let expected: Vec<_> = (0..100).map(|number| (key(number), b"before".to_vec())).collect();
    assert_eq!(contents(snapshot.iter()), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(contents(snapshot.iter().rev()), reversed);
    assert_eq!(contents(snapshot.range(key(1)..key(4))), expected[1..4].to_vec());
    assert_eq!(contents(snapshot.prefix(b"key0000")), expected[..10].to_vec());
    assert_eq!(db.stats().snapshots_open, 1);
    assert!(db.stats().snapshot_versions_kept >= 4);
    drop(snapshot);
    let stats = db.stats();
    assert_eq!((stats.snapshots_open, stats.snapshot_versions_kept, stats.snapshot_bytes_pinned), (0, 0, 0));
    db.close().unwrap();
}

#[test]
fn snapshots_taken_at_different_points_each_read_their_own() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    let mut rng = Rng::new(7);
    let mut model = Model::new();
    let mut snapshots = Vec::new();
    for round in 0..30u64 {
        for _ in 0..40 {
            let number = rng.below(200);
            if rng.below(4) == 0 {
                db.delete(&key(number)).unwrap();
                model.remove(&key(number));
            } else {
                let value = format!("r{round}-{}", rng.below(1000)).into_bytes();
                db.put(&key(number), &value).unwrap();
                model.insert(key(number), value);
            }
        }
        snapshots.push((db.snapshot(), model.clone()));
        if round % 7 == 3 {
            // Close one in the middle: the others keep their versions.
            snapshots.remove(snapshots.len() / 2);
        }
    }
    for (snapshot, expected) in &snapshots {
        let expected: Vec<_> = expected.iter().map(|(key, value)| (key.clone(), value.clone())).collect();
        assert_eq!(contents(snapshot.iter()), expected);
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(contents(snapshot.iter().rev()), reversed);
        for number in 0..200 {
            let want = expected.iter().find(|(key, _)| *key == self::key(number)).map(|(_, value)| value.clone());
            assert_eq!(snapshot.get(&key(number)).unwrap().map(|value| value.to_vec()), want);
        }
        let bounded: Vec<_> = expected
            .iter()
            .filter(|(key, _)| key.as_slice() >= &b"key00050"[..] && key.as_slice() < &b"key00150"[..])
            .cloned()
            .collect();
        assert_eq!(contents(snapshot.range(&b"key00050"[..]..&b"key00150"[..])), bounded);
    }
    drop(snapshots);
    assert_eq!(db.stats().snapshot_versions_kept, 0);
    db.close().unwrap();
}

#[test]
fn an_iterator_reads_one_point_in_time() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    for number in 0..3000 {
        db.put(&key(number), b"old").unwrap();
    }
    let mut iterator = db.iter();
    let mut seen = Vec::new();
    for (step, number) in (0..3000u64).enumerate() {
        // Write ahead of the iterator, behind it, and new keys in between.
        db.put(&key((number + 500) % 3000), b"new").unwrap();
        db.put(format!("key{number:05}a").as_bytes(), b"new").unwrap();
        if step % 3 == 0 {
            db.delete(&key((number + 1000) % 3000)).unwrap();
        }
        let (found, value) = iterator.next().unwrap().unwrap();
        seen.push(found.to_vec());
        assert_eq!(value.as_ref(), b"old", "{}", String::from_utf8_lossy(&found));
    }
    assert!(iterator.next().is_none());
    assert_eq!(seen, (0..3000).map(key).collect::<Vec<_>>());
    drop(iterator);
    assert_eq!(db.stats().snapshot_versions_kept, 0);
    db.close().unwrap();
}
