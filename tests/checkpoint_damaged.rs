//! A damaged index checkpoint is rejected by its checksum and recovery reads the whole log
//! instead: the store holds exactly what it held, the report says why, the damaged checkpoint
//! is discarded, and the next close writes a good one. `check_file` verifies a good checkpoint
//! against the whole log.

mod common;

use common::{contents, flip_byte, temp_store, versioned_value};
use daxkv::check::check_file;
use daxkv::{Db, Durability, Options};

const SEGMENT_BYTES: u64 = 2 << 20;

fn options() -> Options {
    Options::default().durability(Durability::Deferred).background_cleaning(false).checkpoint_interval_bytes(0)
}

/// First record offsets of the segments whose first record is a CheckpointHead (kind 7).
fn checkpoint_parts(path: &std::path::Path) -> Vec<u64> {
    let image = std::fs::read(path).unwrap();
    (0..image.len() as u64 / SEGMENT_BYTES)
        .map(|index| (index * SEGMENT_BYTES).max(4096))
        .filter(|&start| image[start as usize + 4] == 7)
        .collect()
}

#[test]
fn a_damaged_checkpoint_falls_back_to_the_whole_log_and_loses_nothing() {
    let store = temp_store();
    let db = Db::open(&store.path, options()).unwrap();
    for key in 0..30_000u64 {
        db.put(&key.to_be_bytes(), &versioned_value(key, 0, 40)).unwrap();
    }
    for key in (0..30_000u64).step_by(7) {
        db.delete(&key.to_be_bytes()).unwrap();
    }
    db.sync().unwrap();
    db.checkpoint().unwrap();
    for key in (0..30_000u64).step_by(5) {
        db.put(&key.to_be_bytes(), &versioned_value(key, 1, 40)).unwrap();
    }
    db.sync().unwrap();
    let expected = contents(&db);
    db.abandon();

    let checked = check_file(&store.path).unwrap();
    assert!(checked.checkpoint_verified && checked.stats.recovery.from_checkpoint);
    assert_eq!(checked.keys, expected.len() as u64);

    let parts = checkpoint_parts(&store.path);
    assert!(!parts.is_empty(), "the store holds a checkpoint");
    // A byte in part 0's payload (inside its table or first leaves).
    flip_byte(&store.path, parts[0] + 80 + 200);
    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert!(!report.from_checkpoint, "{report:?}");
    assert_eq!(report.checkpoints_rejected, 1);
    assert_eq!(report.checkpoint_rejection, Some("a part's checksum does not match"));
    assert!(contents(&db) == expected, "the whole log gives exactly the store's contents");
    db.abandon();

    // Discarded at that recovery: not found again; the next close writes a good one.
    let db = Db::open(&store.path, options()).unwrap();
    assert_eq!(db.stats().recovery.checkpoints_rejected, 0);
    assert!(!db.stats().recovery.from_checkpoint);
    db.close().unwrap();
    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert!(report.from_checkpoint && report.clean_shutdown, "{report:?}");
    assert!(report.checkpoint_keys > 0 && report.log_bytes_replayed <= SEGMENT_BYTES, "{report:?}");
    assert!(contents(&db) == expected);
}
