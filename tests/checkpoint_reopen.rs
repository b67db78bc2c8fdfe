//! A store reopened after a crash from an index checkpoint holds exactly what a full scan of
//! the log finds: the checkpoint, then puts, overwrites and deletes of checkpointed keys and
//! compaction (segments freed and reused) after it, then an abandoned handle.

mod common;

use std::collections::BTreeMap;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

fn options() -> Options {
    Options::default().durability(Durability::Deferred).background_cleaning(false).checkpoint_interval_bytes(0)
}

fn value(key: u64, version: u64) -> Vec<u8> {
    let mut value = format!("value-{key}-{version}-").into_bytes();
    value.resize(60 + (key % 90) as usize, b'v');
    value
}

/// Applies `count` random operations to `db` and `model`.
fn churn(db: &Db, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, random: &mut Rng, count: u64, version: u64) {
    for step in 0..count {
        let key = random.below(4_000);
        let name = format!("key{key:06}").into_bytes();
        if random.below(5) == 0 {
            db.delete(&name).unwrap();
            model.remove(&name);
        } else {
            let value = value(key, version * 1_000_000 + step);
            db.put(&name, &value).unwrap();
            model.insert(name, value);
        }
    }
}

fn assert_holds(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let found: Vec<(Vec<u8>, Vec<u8>)> = db
        .iter()
        .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(key, value)| (key.clone(), value.clone())).collect();
    assert_eq!(found.len(), expected.len());
    assert!(found == expected, "the store differs from the model");
    for (key, value) in model.iter().step_by(13) {
        assert_eq!(db.get(key).unwrap().as_deref(), Some(&value[..]));
    }
}

#[test]
fn reopen_after_a_crash_from_a_checkpoint_equals_the_model() {
    let store = temp_store();
    let mut random = Rng::new(31);
    let mut model = BTreeMap::new();
    let db = Db::open(&store.path, options()).unwrap();
    // 20,000 keys over several segments, then churn over the first 4,000.
    for key in 0..20_000u64 {
        let (name, value) = (format!("key{key:06}").into_bytes(), value(key, 0));
        db.put(&name, &value).unwrap();
        model.insert(name, value);
    }
    churn(&db, &mut model, &mut random, 30_000, 1);
    db.sync().unwrap();
    db.checkpoint().unwrap();
    assert_eq!(db.stats().checkpoints_total, 1);
    assert!(db.stats().checkpoint_bytes > 0);
    churn(&db, &mut model, &mut random, 2_000, 9);
    db.sync().unwrap();
    db.abandon();
    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert!(report.from_checkpoint && report.checkpoint_keys > 15_000, "{report:?}");
    assert_holds(&db, &model);
    db.checkpoint().unwrap();
    // After the checkpoint: the same keys overwritten and deleted, and segments cleaned.
    churn(&db, &mut model, &mut random, 20_000, 2);
    db.compact().unwrap();
    churn(&db, &mut model, &mut random, 5_000, 3);
    db.sync().unwrap();
    let segments_freed = db.stats().cleaning_segments_freed_total;
    assert!(segments_freed > 0, "compaction freed segments the checkpoint's table names");
    db.abandon();

    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    // Compaction moved every record the checkpoint named: the replay finds them all again.
    assert!(report.from_checkpoint, "{report:?}");
    assert_eq!(report.checkpoints_rejected, 0);
    assert_holds(&db, &model);
    let accounting = (db.stats().live_bytes, db.stats().tombstone_bytes, db.stats().dead_bytes);
    db.abandon();

    let full = Db::open(&store.path, options().use_checkpoints(false)).unwrap();
    assert!(!full.stats().recovery.from_checkpoint);
    assert_holds(&full, &model);
    let full_accounting = (full.stats().live_bytes, full.stats().tombstone_bytes, full.stats().dead_bytes);
    assert_eq!(accounting.0, full_accounting.0, "live bytes agree with a full scan");
    full.abandon();

    // Writable afterwards, and a second checkpoint supersedes the first.
    let db = Db::open(&store.path, options()).unwrap();
    churn(&db, &mut model, &mut random, 5_000, 4);
    db.sync().unwrap();
    db.checkpoint().unwrap();
    churn(&db, &mut model, &mut random, 1_000, 5);
    db.sync().unwrap();
    db.abandon();
    let db = Db::open(&store.path, options()).unwrap();
    assert!(db.stats().recovery.from_checkpoint);
    assert_holds(&db, &model);
    db.close().unwrap();
    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert!(report.from_checkpoint && report.clean_shutdown, "{report:?}");
    assert!(
        report.log_bytes_replayed <= 2 << 20,
        "a clean close leaves at most the head segment to replay: {report:?}"
    );
    assert_holds(&db, &model);
}
