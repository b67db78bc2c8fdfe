//! File size over time under a FIFO-queue load (issue 12): insert key n, delete key
//! n − window, `Db::sync` every 1000 operations, background cleaning on.
//!
//! ```text
//! cargo run --release --example fifo_curve -- [directory|-] [operations] [value_bytes] [window]
//! ```
//!
//! Defaults: a temporary directory (`-`), 2,000,000 operations (an insert or a delete each: the
//! queue's first `window` inserts, then an insert and a delete per step), 3000-byte values, a
//! window of 10,000 keys. The store is `<directory>/fifo_curve.db` and must not exist yet.
//! `Durability::Deferred`. Every key of the window at the end is read back and checked.
//!
//! Output: a CSV row every 1/20 of the run (operations, st_size, allocated, live, tombstone and
//! dead bytes, both sizes over live, and over 1.5 × live + 8 segments), then a summary line
//! with the maxima over every sync (every 1000 operations).

use std::error::Error;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use daxkv::{Db, Durability, Options};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const OPERATIONS_PER_SYNC: u64 = 1000;
const CURVE_POINTS: u64 = 20;
const SEGMENT_BYTES: u64 = 2 << 20;
/// The fixed overhead tests/tombstones_fifo_queue.rs allows beside 1.5 × live: the budget's 4
/// segments, and the segments whose tombstones still hide a put one window back.
const OVERHEAD_SEGMENTS: u64 = 8;

fn argument<T: std::str::FromStr>(arguments: &[String], index: usize, name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match arguments.get(index) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|error| format!("argument {name}={text:?}: {error}").into()),
    }
}

/// The value of queue entry `number`: the number, then filler derived from it.
fn value(number: u64, len: usize) -> Vec<u8> {
    let seed = number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8).collect()
}

/// (st_size, allocated) of the store file.
fn sizes(path: &Path) -> Result<(u64, u64)> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.len(), metadata.blocks() * 512))
}

struct Worst {
    file: f64,
    allocated: f64,
    over_bound: f64,
}

/// Samples the store: prints a row when `print`, and folds the ratios into `worst`.
fn sample(db: &Db, path: &Path, operations: u64, print: bool, worst: &mut Worst) -> Result<()> {
    let stats = db.stats();
    let (file, allocated) = sizes(path)?;
    let live = stats.live_bytes.max(1) as f64;
    let bound = 1.5 * live + (OVERHEAD_SEGMENTS * SEGMENT_BYTES) as f64;
    worst.file = worst.file.max(file as f64 / live);
    worst.allocated = worst.allocated.max(allocated as f64 / live);
    worst.over_bound = worst.over_bound.max(file.max(allocated) as f64 / bound);
    if print {
        println!(
            "{operations},{file},{allocated},{},{},{},{:.3},{:.3},{:.3}",
            stats.live_bytes,
            stats.tombstone_bytes,
            stats.dead_bytes,
            file as f64 / live,
            allocated as f64 / live,
            file.max(allocated) as f64 / bound
        );
    }
    Ok(())
}

fn run(directory: &Path, operations: u64, value_bytes: usize, window: u64) -> Result<()> {
    let path = directory.join("fifo_curve.db");
    if path.exists() {
        return Err(format!("{} exists", path.display()).into());
    }
    let db = Db::open(&path, Options::default().durability(Durability::Deferred))?;
    println!("operations,file_bytes,allocated_bytes,live_bytes,tombstone_bytes,dead_bytes,file_over_live,allocated_over_live,size_over_bound");
    let mut worst = Worst { file: 0.0, allocated: 0.0, over_bound: 0.0 };
    let (mut done, mut next) = (0u64, 0u64);
    let started = Instant::now();
    // Bounded: each pass does one or two operations, up to `operations`.
    while done < operations {
        db.put(&next.to_be_bytes(), &value(next, value_bytes))?;
        done += 1;
        if next >= window && done < operations {
            db.delete(&(next - window).to_be_bytes())?;
            done += 1;
        }
        next += 1;
        if next % OPERATIONS_PER_SYNC == 0 {
            db.sync()?;
            let print = next % (operations / 2 / CURVE_POINTS).max(1) == 0;
            if next >= window {
                sample(&db, &path, done, print, &mut worst)?;
            }
        }
    }
    db.sync()?;
    sample(&db, &path, done, true, &mut worst)?;
    let seconds = started.elapsed().as_secs_f64();
    for number in next.saturating_sub(window)..next {
        if db.get(&number.to_be_bytes())?.as_deref() != Some(&value(number, value_bytes)[..]) {
            return Err(format!("key {number} lost or wrong").into());
        }
    }
    let stats = db.stats();
    println!(
        "summary: max_file_over_live={:.3} max_allocated_over_live={:.3} max_size_over_bound={:.3} \
         ops_per_sec={:.0} write_amp={:.3} segments_cleaned={}",
        worst.file,
        worst.allocated,
        worst.over_bound,
        done as f64 / seconds,
        (stats.record_bytes_total + stats.cleaning_bytes_copied_total) as f64 / stats.record_bytes_total as f64,
        stats.cleaning_segments_freed_total
    );
    db.close()?;
    Ok(())
}

fn main() -> Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let operations = argument(&arguments, 1, "operations", 2_000_000u64)?;
    let value_bytes = argument(&arguments, 2, "value_bytes", 3000usize)?;
    let window = argument(&arguments, 3, "window", 10_000u64)?;
    if operations == 0 || window == 0 {
        return Err("need operations > 0 and window > 0".into());
    }
    match arguments.first().map(String::as_str) {
        None | Some("-") => {
            let directory = tempfile::tempdir()?;
            run(directory.path(), operations, value_bytes, window)
        }
        Some(path) => run(&PathBuf::from(path), operations, value_bytes, window),
    }
}
