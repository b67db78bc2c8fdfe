//! The key index's memory, as `Stats::index_bytes` counts it, stays within its bound per key
//! (docs/design.md, "The key index": 16 bytes of tag and location per key plus nodes and
//! separators), after random inserts, after deleting most keys, and after a reopen (which
//! builds the index bottom-up).

mod common;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

/// Generous for 16-byte keys: 16 bytes per entry, one node (~64 bytes with its boxes) per 16 to
/// 64 keys, one separator per leaf.
const INDEX_BYTES_PER_KEY_MAX: f64 = 32.0;

fn bytes_per_key(db: &Db) -> f64 {
    let stats = db.stats();
    assert!(stats.keys > 0);
    stats.index_bytes as f64 / stats.keys as f64
}

#[test]
fn the_index_holds_few_bytes_per_key_through_inserts_deletes_and_reopen() {
    let store = temp_store();
    let options = || Options::default().durability(Durability::Deferred);
    let db = Db::open(&store.path, options()).unwrap();
    let mut rng = Rng::new(5);
    let keys: Vec<Vec<u8>> = (0..60_000).map(|_| rng.bytes(16)).collect();
    for key in &keys {
        db.put(key, b"value").unwrap();
    }
    let after_inserts = bytes_per_key(&db);
    assert!(after_inserts > 16.0, "a key costs at least its tag and location: {after_inserts}");
    assert!(after_inserts < INDEX_BYTES_PER_KEY_MAX, "{after_inserts} bytes per key after inserts");
    // Delete 9 keys in 10: leaves merge, so what is left stays compact (without merging, a leaf
    // of ~5 keys would cost ~36 bytes per key).
    for key in keys.iter().filter(|_| rng.below(10) != 0) {
        db.delete(key).unwrap();
    }
    let after_deletes = bytes_per_key(&db);
    assert!(after_deletes < INDEX_BYTES_PER_KEY_MAX, "{after_deletes} bytes per key after deletes");
    db.close().unwrap();
    let db = Db::open(&store.path, options()).unwrap();
    let after_reopen = bytes_per_key(&db);
    assert!(after_reopen < INDEX_BYTES_PER_KEY_MAX, "{after_reopen} bytes per key after reopen");
    eprintln!("index bytes per key: {after_inserts:.1} after inserts, {after_deletes:.1} after deletes, {after_reopen:.1} after reopen");
}
