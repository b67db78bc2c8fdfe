//! Measures what one durable commit costs on this machine, side by side in one run: latency
//! (median, p99) and bytes the kernel accounted as written (`/proc/self/io` write_bytes, which
//! counts a whole folio when a page of it is dirtied) per commit.
//!
//! `cargo run --release --example flush_costs [-- <dir> <commits>]` (default: a temp dir on the
//! current filesystem, 2000 commits).

use std::path::Path;
use std::time::Instant;

#[path = "../benches/common/floor.rs"]
#[allow(dead_code, reason = "this example uses the msync and fdatasync floors")]
mod floor;
use daxkv::{Db, MsyncShape, Options};
use floor::{FdatasyncFloor, MsyncFloor};

fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|line| line.strip_prefix("write_bytes: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

struct Row {
    name: String,
    median_us: f64,
    p99_us: f64,
    bytes_per_commit: f64,
}

fn measure(name: &str, commits: usize, mut one: impl FnMut(usize)) -> Row {
    for i in 0..commits / 10 {
        one(i); // warm-up
    }
    let bytes_before = write_bytes();
    let mut latencies: Vec<f64> = (0..commits)
        .map(|i| {
            let start = Instant::now();
            one(i);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let bytes = write_bytes() - bytes_before;
    latencies.sort_by(|a, b| a.total_cmp(b));
    Row {
        name: name.to_string(),
        median_us: latencies[commits / 2],
        p99_us: latencies[commits * 99 / 100],
        bytes_per_commit: bytes as f64 / commits as f64,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir_in(".")?;
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    let commits: usize = std::env::args().nth(2).map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let mut rows = Vec::new();
    let record = [0x5Au8; 128];

    let mut floor = MsyncFloor::create(&dir.join("floor"))?;
    rows.push(measure("floor: 128 B store + msync of its 4 KiB page (prepared)", commits, |i| {
        floor.store_and_msync((i as u64 % 512) * 4096 + 64, &record).unwrap()
    }));
    let mut appending = MsyncFloor::create(&dir.join("appending"))?;
    rows.push(measure("floor, appending: 200 B records in sequence (~20 per page), msync of the page", commits, |i| {
        let offset = (i as u64 * 200) % (2 << 20);
        let offset = if offset % 4096 > 3896 { offset - offset % 4096 } else { offset };
        appending.store_and_msync(offset, &[0x5A; 200]).unwrap()
    }));
    let mut naive = MsyncFloor::create_with(&dir.join("naive"), MsyncShape::Hull, false)?;
    rows.push(measure("same, page cache NOT prepared (large folios)", commits, |i| {
        naive.store_and_msync((i as u64 % 512) * 4096 + 64, &record).unwrap()
    }));
    let mut fdatasync = FdatasyncFloor::create(&dir.join("fdatasync"))?;
    rows.push(measure("floor: pwrite 4 KiB + fdatasync", commits, |i| {
        fdatasync.write_and_sync((i as u64 % 512) * 4096, &[0x5A; 4096]).unwrap()
    }));
    let db = Db::open(dir.join("store.db"), Options::default())?;
    rows.push(measure("daxkv put, Immediate, 16 B key + 100 B value", commits, |i| {
        db.put(format!("key{:013}", i % 100_000).as_bytes(), &[0x5A; 100]).unwrap()
    }));
    let stats = db.stats();
    println!(
        "daxkv: {} commits, {} flush syscalls, {:.0} bytes handed to msync per commit",
        stats.commits_total,
        stats.flush_syscalls_total,
        stats.flush_bytes_total as f64 / stats.commits_total as f64
    );
    drop(db);
    for (shape, name) in [
        (MsyncShape::Hull, "16 scattered pages, ONE msync over the hull"),
        (MsyncShape::RangesThenFdatasync, "16 scattered pages, sync_file_range x16 + fdatasync"),
    ] {
        let mut probe = MsyncFloor::create_with(&dir.join(format!("scatter-{shape:?}")), shape, true)?;
        rows.push(measure(name, commits / 4, |i| {
            let pages: Vec<u64> = (0..16).map(|k| k * 29 + (i as u64 % 3)).collect();
            for &page in &pages {
                probe.store(page * 4096 + 8, &record);
            }
            probe.flush_pages(&pages).unwrap();
        }));
    }
    let mut probe = MsyncFloor::create_with(&dir.join("scatter-each"), MsyncShape::Hull, true)?;
    rows.push(measure("16 scattered pages, 16 separate msyncs", commits / 4, |i| {
        for k in 0..16u64 {
            let page = k * 29 + (i as u64 % 3);
            probe.store(page * 4096 + 8, &record);
            probe.flush_pages(&[page]).unwrap();
        }
    }));
    // The put against its floor again, interleaved in short repetitions, so that a noisy
    // neighbour on the shared device weighs on both alike: the median of the per-repetition
    // ratios of medians.
    let db = Db::open(dir.join("store.db"), Options::default())?;
    let mut ratios = Vec::new();
    for repetition in 0..7 {
        let floor_row =
            measure("floor", commits / 5, |i| floor.store_and_msync((i as u64 % 512) * 4096 + 64, &record).unwrap());
        let put_row = measure("put", commits / 5, |i| {
            db.put(format!("key{:013}", (repetition * commits + i) % 100_000).as_bytes(), &[0x5A; 100]).unwrap()
        });
        ratios.push(put_row.median_us / floor_row.median_us);
    }
    drop(db);
    ratios.sort_by(f64::total_cmp);
    println!(
        "interleaved, 7 x {} commits each: daxkv put / floor, ratio of medians {:.3} (min {:.3}, max {:.3})",
        commits / 5,
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    let floor_median = rows[0].median_us;
    println!("\n| what | median µs | p99 µs | ratio to floor | bytes written per commit |\n|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.2} | {:.0} |",
            row.name,
            row.median_us,
            row.p99_us,
            row.median_us / floor_median,
            row.bytes_per_commit
        );
    }
    let _ = Path::new(".");
    Ok(())
}
