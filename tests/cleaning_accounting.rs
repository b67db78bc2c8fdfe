//! Per-segment live/dead accounting is exact across recovery: after a clean close, and after a
//! crash of a store whose writes were all committed, reopening rebuilds the same numbers.

mod common;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options, WriteBatch};

fn workload(db: &Db, rng: &mut Rng, ops: u64) {
    for op in 0..ops {
        let key = format!("key{:03}", rng.below(300));
        match rng.below(10) {
            0..=5 => {
                let len = 100 + rng.below(30_000) as usize;
                db.put(key.as_bytes(), &rng.bytes(len)).unwrap();
            }
            6 | 7 => db.delete(key.as_bytes()).unwrap(),
            _ => {
                let mut batch = WriteBatch::new();
                let len = rng.below(5000) as usize;
                batch.put(key.as_bytes(), &rng.bytes(len));
                batch.delete(format!("key{:03}", rng.below(300)).as_bytes());
                db.write(batch).unwrap();
            }
        }
        if op % 400 == 399 {
            db.compact().unwrap();
        }
    }
}

#[test]
fn accounting_is_rebuilt_exactly_after_a_clean_close() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options.clone()).unwrap();
    workload(&db, &mut Rng::new(11), 3000);
    db.sync().unwrap();
    let (before, stats) = (db.segments(), db.stats());
    assert!(stats.cleaning_segments_freed_total > 0, "the workload must clean");
    assert_eq!(before.iter().map(|segment| segment.live_bytes).sum::<u64>(), stats.live_bytes);
    db.close().unwrap();
    let db = Db::open(&store.path, options.clone()).unwrap();
    assert_eq!(db.segments(), before);
    assert_eq!(db.stats().live_bytes, stats.live_bytes);
    // A crash with everything committed rebuilds the same numbers too.
    workload(&db, &mut Rng::new(12), 1500);
    db.sync().unwrap();
    let before = db.segments();
    db.abandon();
    let db = Db::open(&store.path, options).unwrap();
    assert_eq!(db.segments(), before);
}
