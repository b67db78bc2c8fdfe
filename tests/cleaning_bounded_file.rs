//! Under an update load of more than 10x the live data, cleaning at the default target keeps the
//! file within 1.5x the live data, and every read returns the last value written.

mod common;

use common::{temp_store, versioned_value, Rng};
use daxkv::{Db, Durability, Options};

const KEYS: u64 = 8000;
const VALUE_BYTES: usize = 4000;
const UPDATE_MULTIPLE: u64 = 11;

fn value(key: u64, version: u64) -> Vec<u8> {
    versioned_value(key, version, VALUE_BYTES)
}

fn file_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("store file").len()
}

#[test]
fn ten_times_the_live_data_in_updates_keeps_the_file_within_one_and_a_half_times_it() {
    let store = temp_store();
    // The background thread is off so the test is deterministic; `clean` runs the same steps.
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open(&store.path, options.clone()).unwrap();
    let mut versions = vec![0u64; KEYS as usize];
    for key in 0..KEYS {
        db.put(&key.to_be_bytes(), &value(key, 0)).unwrap();
    }
    let mut rng = Rng::new(7);
    let (mut worst, mut updated_bytes) = (0.0f64, 0u64);
    for update in 0..KEYS * UPDATE_MULTIPLE {
        let key = rng.below(KEYS);
        versions[key as usize] += 1;
        db.put(&key.to_be_bytes(), &value(key, versions[key as usize])).unwrap();
        updated_bytes += VALUE_BYTES as u64;
        if update % 250 == 249 {
            db.sync().unwrap();
            db.clean().unwrap();
            let stats = db.stats();
            worst = worst.max(file_bytes(&store.path) as f64 / stats.live_bytes as f64);
        }
    }
    let stats = db.stats();
    let live = stats.live_bytes;
    assert!(updated_bytes >= 10 * live, "the load must update at least 10x the live data");
    assert!(stats.cleaning_segments_freed_total > 0 && stats.segments_reused_total > 0);
    eprintln!(
        "live {live} B, file {} B, worst file/live {worst:.3}, write amplification {:.2}",
        file_bytes(&store.path),
        (stats.record_bytes_total + stats.cleaning_bytes_copied_total) as f64 / stats.record_bytes_total as f64
    );
    assert!(worst <= 1.5, "the file reached {worst:.3}x the live data");
    for key in 0..KEYS {
        let expected = value(key, versions[key as usize]);
        assert_eq!(db.get(&key.to_be_bytes()).unwrap().as_deref(), Some(&expected[..]), "key {key}");
    }
    db.close().unwrap();
    let db = Db::open(&store.path, options).unwrap();
    for key in (0..KEYS).step_by(97) {
        let expected = value(key, versions[key as usize]);
        assert_eq!(db.get(&key.to_be_bytes()).unwrap().as_deref(), Some(&expected[..]), "key {key} after reopen");
    }
}
