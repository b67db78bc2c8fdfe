//! A FIFO queue (insert key n, delete key n − 10,000, sync every 1,000 operations), the
//! workload every queue-like application runs: tombstones are reclaimed as the segments they
//! hide are cleaned, so allocated and apparent file size stay within 1.5 × the live data plus
//! a fixed overhead at every sample, and every key in the window reads back exact.

mod common;

use common::{allocated_bytes, temp_store, versioned_value};
use daxkv::{Db, Durability, Options};

const WINDOW: u64 = 10_000;
const OPERATIONS: u64 = 200_000;
const VALUE_BYTES: usize = 3000;
/// Bytes of one queue record: header, key, value, padded to 8.
const RECORD_BYTES: u64 = (32 + 8 + VALUE_BYTES as u64).div_ceil(8) * 8;
/// Segments beyond 1.5 × the live data: the head's, the free ones kept for reuse and the
/// cleaner's reserve, and the segments whose tombstones still hide a put one window back.
const OVERHEAD_SEGMENTS_MAX: u64 = 8;
const SEGMENT_BYTES: u64 = 2 << 20;

#[test]
fn a_fifo_queue_stays_within_its_space_bound() {
    let store = temp_store();
    let options = Options::default().durability(Durability::Deferred);
    let db = Db::open(&store.path, options).unwrap();
    let (mut worst, mut worst_raw) = ((0.0f64, 0.0f64), (0.0f64, 0.0f64));
    for number in 0..OPERATIONS {
        db.put(&number.to_be_bytes(), &versioned_value(number, 0, VALUE_BYTES)).unwrap();
        if number >= WINDOW {
            db.delete(&(number - WINDOW).to_be_bytes()).unwrap();
        }
        if number % 1000 == 999 {
            db.sync().unwrap();
        }
        if number % 10_000 == 9_999 && number >= WINDOW {
            // The queue holds exactly WINDOW records (32-byte header, 8-byte key, the value).
            let live = (WINDOW * RECORD_BYTES) as f64;
            assert_eq!(db.stats().live_bytes, WINDOW * RECORD_BYTES, "live accounting is exact");
            let allowance = (OVERHEAD_SEGMENTS_MAX * SEGMENT_BYTES) as f64;
            let apparent = std::fs::metadata(&store.path).unwrap().len() as f64;
            let allocated = allocated_bytes(&store.path) as f64;
            worst = (worst.0.max((apparent - allowance) / live), worst.1.max((allocated - allowance) / live));
            worst_raw = (worst_raw.0.max(apparent / live), worst_raw.1.max(allocated / live));
            assert!(apparent <= 1.5 * live + allowance, "after {number} operations: {apparent} B file, {live} B live");
            assert!(
                allocated <= 1.5 * live + allowance,
                "after {number} operations: {allocated} B allocated, {live} B live"
            );
        }
    }
    eprintln!(
        "worst (size − overhead) / live: apparent {:.3}, allocated {:.3}; worst size / live: apparent {:.3}, allocated {:.3}",
        worst.0, worst.1, worst_raw.0, worst_raw.1
    );
    for number in OPERATIONS - WINDOW..OPERATIONS {
        assert_eq!(
            db.get(&number.to_be_bytes()).unwrap().as_deref(),
            Some(&versioned_value(number, 0, VALUE_BYTES)[..])
        );
    }
    assert_eq!(db.get(&(OPERATIONS - WINDOW - 1).to_be_bytes()).unwrap(), None);
    assert_eq!(db.stats().keys, WINDOW);
}
