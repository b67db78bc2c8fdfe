//! The index's figures in one process, for comparing two builds of daxkv side by side (the
//! cross-engine table is `scripts/bench-index.sh`): load N random 16-byte keys with 100-byte
//! values (`Deferred`, a commit every 100 k puts, one thread), anonymous memory per key, 1 M
//! random gets, a full ordered scan (forward), 100 k short scans (YCSB-E's shape: from a random
//! loaded key, 1 to 100 items, uniform), close, and a reopen (warm page cache) timed until the
//! first get answers. `DAXKV_GETS`, `DAXKV_SCANS` and `DAXKV_SHORT_SCANS` change the counts.
//!
//! `cargo run --release --example index_figures -- [N] [dir]` (N defaults to 1,000,000; the
//! store goes in a temporary directory under `dir`, default the system's).

use std::time::Instant;

use daxkv::{Db, Durability, Options};

/// Key `i` of the run: 16 bytes of a splitmix64 hash of `i` (the same keys in every run).
fn key(i: u64) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&mix(i).to_be_bytes());
    key[8..].copy_from_slice(&mix(i ^ 0x5555_5555).to_be_bytes());
    key
}

/// `RssAnon` of this process, in bytes.
fn rss_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|line| line.starts_with("RssAnon:")).unwrap_or("RssAnon: 0 kB");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()).unwrap_or(0) * 1024
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: u64 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
    let base = std::env::args().nth(2).map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base)?;
    let path = dir.path().join("figures.db");
    let options = || Options::default().durability(Durability::Deferred);
    let value = [0x5Au8; 100];
    let rss_before = rss_anon_bytes();

    let db = Db::open(&path, options())?;
    let start = Instant::now();
    for i in 0..records {
        db.put(&key(i), &value)?;
        if (i + 1) % 100_000 == 0 {
            db.sync()?;
        }
    }
    db.sync()?;
    let load_seconds = start.elapsed().as_secs_f64();
    let rss_per_key = (rss_anon_bytes().saturating_sub(rss_before)) as f64 / records as f64;

    // DAXKV_GETS=n changes the number of gets (for profiling them).
    let gets: u64 = std::env::var("DAXKV_GETS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let start = Instant::now();
    let mut found = 0u64;
    for i in 0..gets {
        found += u64::from(db.get(&key((i.wrapping_mul(0x2545_F491_4F6C_DD1D)) % records))?.is_some());
    }
    let get_seconds = start.elapsed().as_secs_f64();
    assert_eq!(found, gets, "every loaded key is found");

    // DAXKV_SCANS=n repeats the scan (for profiling it); the figure is the fastest.
    let scans: u32 = std::env::var("DAXKV_SCANS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut scan_seconds = f64::MAX;
    for _ in 0..scans.max(1) {
        let start = Instant::now();
        let mut scanned = 0u64;
        for item in db.iter() {
            let (_key, value) = item?;
            scanned += u64::from(value.len() == 100);
        }
        scan_seconds = scan_seconds.min(start.elapsed().as_secs_f64());
        assert_eq!(scanned, records, "the scan returns every key");
    }
    // DAXKV_SHORT_SCANS=n changes the number of short scans.
    let short_scans: u64 = std::env::var("DAXKV_SHORT_SCANS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let start = Instant::now();
    let mut short_items = 0u64;
    for i in 0..short_scans {
        let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x1234_5678;
        let length = (mixed >> 40) % 100 + 1;
        for item in db.range(key(mixed % records)..).take(length as usize) {
            let (_key, value) = item?;
            short_items += u64::from(value.len() == 100);
        }
    }
    let short_seconds = start.elapsed().as_secs_f64();
    drop(db);

    let start = Instant::now();
    let db = Db::open(&path, options())?;
    let first = db.get(&key(0))?;
    let open_seconds = start.elapsed().as_secs_f64();
    assert!(first.is_some());
    println!(
        "{records} records: load {:.0} puts/s | RssAnon {:.1} B/key | gets {:.0}/s | scan {:.0} items/s | short scans {:.0}/s ({:.0} items/s) | reopen (warm) {:.3} s",
        records as f64 / load_seconds,
        rss_per_key,
        gets as f64 / get_seconds,
        records as f64 / scan_seconds,
        short_scans as f64 / short_seconds,
        short_items as f64 / short_seconds,
        open_seconds
    );
    Ok(())
}
