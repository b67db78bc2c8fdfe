//! Creates a store in a temporary directory, writes to it, reopens it and prints what it found
//! and how it committed. `cargo run --release --example quickstart [-- <dir>]`.

use daxkv::{Db, Durability, Options, WriteBatch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    let path = dir.join("quickstart.db");
    let _ = std::fs::remove_file(&path);
    println!("store: {}", path.display());

    let db = Db::open(&path, Options::default())?;
    let stats = db.stats();
    println!(
        "mapping: MAP_SYNC {}, persistence domain {:?}, flush model {:?}",
        if stats.map_sync { "accepted" } else { "refused (not DAX)" },
        stats.persistence_domain,
        stats.flush_model
    );

    // Immediate durability: every put returns after its commit is durable.
    for i in 0..100u32 {
        db.put(format!("user{i:04}").as_bytes(), format!("value of user {i}").as_bytes())?;
    }
    db.delete(b"user0013")?;
    let mut batch = WriteBatch::new();
    batch.put(b"account/alice", b"100").put(b"account/bob", b"50");
    db.write(batch)?;
    let stats = db.stats();
    println!(
        "wrote: {} puts, {} deletes in {} commits; flushed {} bytes in {} runs with {} flush calls",
        stats.puts_total,
        stats.deletes_total,
        stats.commits_total,
        stats.flush_bytes_total,
        stats.dirty.runs_flushed_total,
        stats.flush_syscalls_total + stats.line_flushes_total
    );
    println!(
        "dirty index: {} PTE entries dirtied, {} PMD entries, {} bytes per commit on average",
        stats.dirty.pte_entries_dirtied_total,
        stats.dirty.pmd_entries_dirtied_total,
        stats.flush_bytes_total / stats.commits_total.max(1)
    );
    db.close()?;

    // Deferred: visible at once, durable at sync().
    let db = Db::open(&path, Options::default().durability(Durability::Deferred))?;
    let report = db.stats().recovery;
    println!(
        "reopened: {} keys, {} commits replayed, clean shutdown: {}",
        db.stats().keys,
        report.commits_applied,
        report.clean_shutdown
    );
    assert_eq!(db.get(b"user0042")?.as_deref(), Some(&b"value of user 42"[..]));
    assert_eq!(db.get(b"user0013")?, None);
    for i in 0..10_000u32 {
        db.put(format!("bulk{i:06}").as_bytes(), &[b'x'; 100])?;
    }
    db.sync()?;
    let accounts: Vec<_> = db.prefix(b"account/").collect::<Result<_, _>>()?;
    for (key, value) in &accounts {
        println!("  {} = {}", String::from_utf8_lossy(key), String::from_utf8_lossy(value));
    }
    let stats = db.stats();
    println!(
        "deferred: 10000 puts, 1 sync: {} bytes flushed in {} runs ({} PMD entries), file {} MiB",
        stats.flush_bytes_total,
        stats.dirty.runs_flushed_total,
        stats.dirty.pmd_entries_tagged_total,
        stats.file_bytes >> 20
    );
    db.close()?;
    let db = Db::open(&path, Options::default())?;
    println!("reopened again: {} keys", db.stats().keys);
    assert_eq!(db.stats().keys, 99 + 2 + 10_000);
    db.close()?;
    println!("ok");
    Ok(())
}
