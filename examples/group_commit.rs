//! Durable (Immediate) puts from N threads: throughput and how many writes share one commit.
//! `cargo run --release --example group_commit [-- <dir> <puts per thread>]`.

use std::sync::Arc;
use std::time::Instant;

use daxkv::{Db, Options};

fn main() -> Result<(), daxkv::Error> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    let per_thread: u64 = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(500);
    println!("| threads | durable puts/s | writes per commit | flush syscalls |\n|---|---|---|---|");
    for threads in [1u64, 2, 4, 16] {
        let path = dir.join(format!("group-{threads}.db"));
        let _ = std::fs::remove_file(&path);
        let db = Arc::new(Db::open(&path, Options::default())?);
        let before = db.stats();
        let start = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        db.put(format!("t{thread:02}-{i:08}").as_bytes(), &[0x5A; 100]).expect("put");
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        let seconds = start.elapsed().as_secs_f64();
        let after = db.stats();
        let commits = after.commits_total - before.commits_total;
        println!(
            "| {threads} | {:.0} | {:.2} | {} |",
            (threads * per_thread) as f64 / seconds,
            (after.batches_total - before.batches_total) as f64 / commits as f64,
            after.flush_syscalls_total - before.flush_syscalls_total
        );
    }
    Ok(())
}
