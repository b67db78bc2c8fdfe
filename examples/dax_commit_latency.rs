//! What one durable put costs on the DAX (`CacheLine`) path, beside the hardware floor measured
//! in the same process, interleaved: copy a 128-byte record into a mapping, CLWB its lines,
//! SFENCE. Also two threads, a batch of 16, and commits per second of the fence-only (eADR)
//! model against `CacheLine`, all in one run.
//!
//! `cargo run --release --example dax_commit_latency [-- <dir> <puts per repetition> <repetitions> [on|off]]`
//! (default: /dev/shm, 20000, 5, background cleaning on, as `Options::default()`). On /dev/shm
//! the CacheLine path is a model of fsdax + `MAP_SYNC` (forced with `Options::flush`), never
//! durable. With cleaning off the log only grows, and file growth (fallocate + populate of 2 MiB
//! segments) lands inside the measured puts.

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "../benches/common/floor.rs"]
#[allow(dead_code, reason = "this example uses the cache-line floor only")]
mod floor;
use daxkv::{Db, FlushModel, Options, WriteBatch};
use floor::CacheLineFloor;

/// Keys the puts overwrite in a loop.
const KEYS: u64 = 10_000;
/// Value bytes (16 B keys + 100 B values + the record header: 128 B and more per record).
const VALUE_BYTES: usize = 100;

fn key(i: u64) -> [u8; 16] {
    let mut key = *b"user000000000000";
    key[8..].copy_from_slice(&(i % KEYS).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes()[..8]);
    key
}

/// Per-operation latencies of `count` calls of `one`, in ns.
fn latencies(count: u64, mut one: impl FnMut(u64)) -> Vec<f64> {
    (0..count)
        .map(|i| {
            let start = Instant::now();
            one(i);
            start.elapsed().as_nanos() as f64
        })
        .collect()
}

fn percentile(sorted: &[f64], percent: usize) -> f64 {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// p50 and p99 of `values`.
fn p50_p99(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (percentile(&values, 50), percentile(&values, 99))
}

/// The median of per-repetition figures, with their minimum and maximum.
fn summary(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0], values[values.len() - 1])
}

fn format_summary(values: Vec<f64>, decimals: usize) -> String {
    let (median, low, high) = summary(values);
    format!("{median:.decimals$} ({low:.decimals$}–{high:.decimals$})")
}

fn open(dir: &Path, name: &str, model: FlushModel) -> Result<Db, daxkv::Error> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let cleaning = std::env::args().nth(4).is_none_or(|switch| switch != "off");
    let db = Db::open(&path, Options::default().flush(model).background_cleaning(cleaning))?;
    for i in 0..KEYS {
        db.put(&key(i), &[0x5A; VALUE_BYTES])?;
    }
    Ok(db)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/dev/shm"));
    let dir = tempfile::tempdir_in(dir)?;
    let puts: u64 = std::env::args().nth(2).map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let repetitions: usize = std::env::args().nth(3).map(|n| n.parse()).transpose()?.unwrap_or(5);
    assert!(puts >= 100 && repetitions >= 1, "at least 100 puts and one repetition");

    let mut floor = CacheLineFloor::create(&dir.path().join("floor"))?;
    let record = [0x5Au8; 128];
    let floor_one = |floor: &mut CacheLineFloor, i: u64| {
        floor.store_and_flush((i * 128) % (2 << 20), &record).expect("floor flush");
    };
    let cacheline = open(dir.path(), "cacheline.db", FlushModel::CacheLine)?;
    let value = [0x5Au8; VALUE_BYTES];

    // One thread: floor and put, interleaved repetitions.
    let (mut floor_p50, mut floor_p99, mut put_p50, mut put_p99, mut ratio_p50) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut offset = 0u64;
    for _ in 0..repetitions {
        let (f50, f99) = p50_p99(latencies(puts, |i| floor_one(&mut floor, offset + i)));
        offset += puts;
        let (p50, p99) = p50_p99(latencies(puts, |i| cacheline.put(&key(i * 7), &value).expect("put")));
        floor_p50.push(f50);
        floor_p99.push(f99);
        put_p50.push(p50);
        put_p99.push(p99);
        ratio_p50.push(p50 / f50);
    }
    let stats = cacheline.stats();
    let lines_per_commit = stats.line_flushes_total as f64 / stats.commits_total as f64;
    let fences_per_commit = stats.fences_total as f64 / stats.commits_total as f64;

    // Two threads: every put durable, group commit between them.
    let (mut two_p50, mut two_p99, mut two_puts_per_second, mut two_puts_per_commit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repetitions {
        let before = cacheline.stats();
        let start = Instant::now();
        let all: Vec<f64> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2u64)
                .map(|thread| {
                    let db = &cacheline;
                    scope.spawn(move || latencies(puts / 2, |i| db.put(&key(i * 2 + thread), &value).expect("put")))
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().expect("worker")).collect()
        });
        let seconds = start.elapsed().as_secs_f64();
        let after = cacheline.stats();
        let (p50, p99) = p50_p99(all);
        two_p50.push(p50);
        two_p99.push(p99);
        two_puts_per_second.push(puts as f64 / seconds / 1e3);
        two_puts_per_commit
            .push((after.puts_total - before.puts_total) as f64 / (after.commits_total - before.commits_total) as f64);
    }

    // A batch of 16 puts per commit, one thread.
    let (mut batch_p50, mut batch_p99, mut batch_floor_p50) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repetitions {
        let (f50, _) = p50_p99(latencies(puts / 16, |i| floor_one(&mut floor, offset + i)));
        offset += puts / 16;
        let (p50, p99) = p50_p99(latencies(puts / 16, |i| {
            let mut batch = WriteBatch::new();
            for k in 0..16 {
                batch.put(&key(i * 16 + k), &value);
            }
            cacheline.write(batch).expect("batch");
        }));
        batch_floor_p50.push(f50);
        batch_p50.push(p50);
        batch_p99.push(p99);
    }
    drop(cacheline);

    // FENCE-MODEL-BEGIN
    // Commits per second: fence-only (eADR) against CacheLine, interleaved repetitions.
    let fence = open(dir.path(), "fence.db", FlushModel::Fence)?;
    let cacheline = open(dir.path(), "cacheline-2.db", FlushModel::CacheLine)?;
    let (mut fence_rate, mut cacheline_rate, mut fence_ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repetitions {
        let rate = |db: &Db| {
            let start = Instant::now();
            for i in 0..puts {
                db.put(&key(i * 3), &value).expect("put");
            }
            puts as f64 / start.elapsed().as_secs_f64() / 1e3
        };
        let (c, f) = (rate(&cacheline), rate(&fence));
        cacheline_rate.push(c);
        fence_rate.push(f);
        fence_ratio.push(f / c);
    }
    let fence_stats = fence.stats();
    assert_eq!(fence_stats.line_flushes_total, 0, "the fence-only model flushes no line");
    // FENCE-MODEL-END

    println!(
        "{repetitions} repetitions x {puts} puts; 16 B keys, {VALUE_BYTES} B values, {KEYS} keys; CacheLine: {lines_per_commit:.2} lines and {fences_per_commit:.2} fences per commit"
    );
    println!("figures: median of the repetitions (min–max)\n");
    println!("| what | p50 ns | p99 ns | p50 ratio to the floor |\n|---|---|---|---|");
    println!(
        "| floor: copy 128 B + CLWB its lines + SFENCE | {} | {} | 1 |",
        format_summary(floor_p50.clone(), 0),
        format_summary(floor_p99, 0)
    );
    println!(
        "| durable put, CacheLine, 1 thread | {} | {} | {} |",
        format_summary(put_p50, 0),
        format_summary(put_p99, 0),
        format_summary(ratio_p50, 1)
    );
    let (floor_median, _, _) = summary(floor_p50);
    println!(
        "| durable put, CacheLine, 2 threads (each put) | {} | {} | {:.1} |",
        format_summary(two_p50.clone(), 0),
        format_summary(two_p99, 0),
        summary(two_p50).0 / floor_median
    );
    let (batch_floor, _, _) = summary(batch_floor_p50);
    println!(
        "| batch of 16 puts, CacheLine, 1 thread (each batch) | {} | {} | {:.1} |",
        format_summary(batch_p50.clone(), 0),
        format_summary(batch_p99, 0),
        summary(batch_p50).0 / batch_floor
    );
    println!(
        "\n2 threads: {} k puts/s, {} puts per commit",
        format_summary(two_puts_per_second, 0),
        format_summary(two_puts_per_commit, 2)
    );
    // FENCE-MODEL-BEGIN
    println!(
        "commits/s, 1 thread: Fence (eADR) {} k, CacheLine {} k, ratio {}",
        format_summary(fence_rate, 0),
        format_summary(cacheline_rate, 0),
        format_summary(fence_ratio, 2)
    );
    // FENCE-MODEL-END
    Ok(())
}
