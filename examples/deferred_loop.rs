//! A tight loop of Deferred puts then gets over a key space, for profiling:
//! `cargo run --release --example deferred_loop [-- <keys> <puts> <sequential:0|1>]`.

use std::time::Instant;

use daxkv::{Db, Durability, Options};

fn key(i: u64, sequential: bool) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(b"user0000");
    let n = if sequential { i } else { i.wrapping_mul(0x9E37_79B9_7F4A_7C15) };
    key[8..].copy_from_slice(&n.to_be_bytes());
    key
}

fn main() -> Result<(), daxkv::Error> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let keys = args.first().copied().unwrap_or(1_000_000);
    let puts = args.get(1).copied().unwrap_or(3_000_000);
    let sequential = args.get(2).copied().unwrap_or(0) == 1;
    // Fourth argument 0: background cleaning off (the file grows without bound, as before the
    // cleaner existed); 1 (default): on.
    let cleaning = args.get(3).copied().unwrap_or(1) == 1;
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        dir.path().join("loop.db"),
        Options::default().durability(Durability::Deferred).background_cleaning(cleaning),
    )?;
    let value = [0x5Au8; 100];
    let start = Instant::now();
    for i in 0..puts {
        db.put(&key(i % keys, sequential), &value)?;
    }
    let put_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut found = 0u64;
    for i in 0..puts {
        found += u64::from(db.get(&key(i.wrapping_mul(7919) % keys, sequential))?.is_some());
    }
    let get_seconds = start.elapsed().as_secs_f64();
    println!(
        "{} keys ({}), {puts} puts: {:.0} puts/s; {puts} gets: {:.0} gets/s ({found} found)",
        keys,
        if sequential { "sequential" } else { "random" },
        puts as f64 / put_seconds,
        puts as f64 / get_seconds
    );
    Ok(())
}
