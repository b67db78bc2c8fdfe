//! Cleaning with snapshots open: a snapshot held across many cleaning cycles (each key
//! overwritten several times, the cleaner freeing segments all along, then a full compaction)
//! reads exactly its versions, by `get` and by scan; what it keeps is reported as pinned; once
//! it closes, the retired segments are reused and the file stops growing.

mod common;

use common::{temp_store, versioned_value, Rng};
use daxkv::{Db, Durability, Options};

const KEYS: u64 = 1500;
const VALUE_BYTES: usize = 3000;
const ROUNDS: u64 = 6;

fn value(key: u64, version: u64) -> Vec<u8> {
    versioned_value(key, version, VALUE_BYTES)
}

fn file_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("store file").len()
}

fn check_snapshot(snapshot: &daxkv::Snapshot<'_>, versions: &[u64], round: u64) {
    for key in 0..KEYS {
        let expected = value(key, versions[key as usize]);
        assert_eq!(
            snapshot.get(&key.to_be_bytes()).unwrap().as_deref(),
            Some(&expected[..]),
            "key {key}, round {round}"
        );
    }
    let mut scanned = 0;
    for (item, key) in snapshot.iter().zip(0u64..) {
        let (found, found_value) = item.unwrap();
        assert_eq!(&found[..], &key.to_be_bytes()[..]);
        assert_eq!(found_value.as_ref(), &value(key, versions[key as usize])[..], "scan, key {key}, round {round}");
        scanned += 1;
    }
    assert_eq!(scanned, KEYS);
}

/// `KEYS` random overwrites, each key's version counted in `versions`, with a commit and a
/// cleaning pass every 250.
fn overwrite_round(db: &Db, rng: &mut Rng, versions: &mut [u64]) {
    for update in 0..KEYS {
        let key = rng.below(KEYS);
        versions[key as usize] += 1;
        db.put(&key.to_be_bytes(), &value(key, versions[key as usize])).unwrap();
        if update % 250 == 249 {
            db.sync().unwrap();
            db.clean().unwrap();
        }
    }
}

#[test]
fn a_snapshot_held_across_cleaning_reads_its_versions_and_lets_go_when_closed() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options).unwrap();
    let mut versions = vec![0u64; KEYS as usize];
    for key in 0..KEYS {
        db.put(&key.to_be_bytes(), &value(key, 0)).unwrap();
    }
    let oldest = db.snapshot();
    let oldest_versions = versions.clone();
    let mut later = None;
    let mut rng = Rng::new(11);
    let freed_before = db.stats().cleaning_segments_freed_total;
    for round in 1..=ROUNDS {
        overwrite_round(&db, &mut rng, &mut versions);
        check_snapshot(&oldest, &oldest_versions, round);
        if round == 2 {
            later = Some((db.snapshot(), versions.clone()));
        }
        if let Some((snapshot, its_versions)) = &later {
            check_snapshot(snapshot, its_versions, round);
        }
    }
    // A full compaction (every segment cleaned, surplus free space punched) with both open.
    db.compact().unwrap();
    check_snapshot(&oldest, &oldest_versions, ROUNDS + 1);
    if let Some((snapshot, its_versions)) = &later {
        check_snapshot(snapshot, its_versions, ROUNDS + 1);
    }
    let stats = db.stats();
    assert!(stats.cleaning_segments_freed_total > freed_before + 2, "the cleaner ran: {stats:?}");
    assert_eq!(stats.snapshots_open, 2);
    assert_eq!(stats.snapshot_oldest_age_batches, ROUNDS * KEYS);
    assert!(stats.snapshot_bytes_pinned >= KEYS * VALUE_BYTES as u64 / 2, "{stats:?}");
    drop(oldest);
    drop(later);
    let stats = db.stats();
    assert_eq!((stats.snapshots_open, stats.snapshot_versions_kept, stats.snapshot_bytes_pinned), (0, 0, 0));
    db.compact().unwrap();
    assert_eq!(db.stats().segments_retired, 0, "closed snapshots leave no segment retired");
    // From here on, the usual bound: updates reuse the segments the snapshots held.
    let file_at_close = file_bytes(&store.path);
    for round in 0..3 {
        overwrite_round(&db, &mut rng, &mut versions);
        assert!(file_bytes(&store.path) <= file_at_close, "round {round}: the file grew after the snapshots closed");
    }
    for key in 0..KEYS {
        let expected = value(key, versions[key as usize]);
        assert_eq!(db.get(&key.to_be_bytes()).unwrap().as_deref(), Some(&expected[..]));
    }
    db.close().unwrap();
}
