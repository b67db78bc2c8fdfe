//! `daxkv-ycsb counter`: the contended-counter benchmark of optimistic transactions.
//!
//! `-threads N` threads increment one counter key for `seconds`, each increment a transaction
//! (read the counter, write it plus one, commit) retried on conflict. Reported: commits per
//! second and conflicts per second. Checked: the counter ends at exactly the number of commits
//! (a lost update fails the run). Engines: daxkv (`Db::transaction`), fjall
//! (`OptimisticTxDatabase`), RocksDB (`OptimisticTransactionDB`, `get_for_update`), redb (one
//! writer at a time: no conflicts, writers queue).
//!
//! ```text
//! daxkv-ycsb counter -db <engine> [-threads N] [-p seconds=S] [-p durability=none|per-op] [-p dir=D]
//! ```
//! `durability=none` (default): no flush per commit (daxkv `Deferred`, fjall's buffered
//! journal, RocksDB `sync=false`, redb `Durability::None`); `per-op`: each commit durable.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{e, Durability, Result};
use crate::props::Props;

const KEY: &[u8] = b"counter";

fn parse(value: Option<&[u8]>) -> Result<u64> {
    match value {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes).map_err(e)?.parse().map_err(e),
    }
}

/// One engine's transactional increment.
trait Counter: Send + Sync {
    /// One attempt: `Ok(true)` committed, `Ok(false)` a conflict (nothing written).
    fn attempt(&self) -> Result<bool>;
    /// The counter's value.
    fn value(&self) -> Result<u64>;
}

fn open(name: &str, dir: &Path, durability: Durability) -> Result<Box<dyn Counter>> {
    match name {
        "daxkv" => Ok(Box::new(dax::Dax::open(&dir.join("daxkv.db"), durability)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(fjall_counter::Fjall::open(&dir.join("fjall"), durability)?)),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(Box::new(rocks::Rocks::open(&dir.join("rocksdb"), durability)?)),
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(redb_counter::Redb::open(&dir.join("redb"), durability)?)),
        other => {
            Err(format!("counter: engine {other} is not built in (daxkv; fjall, rocksdb, redb with their features)"))
        }
    }
}

/// Runs the benchmark; prints one `[COUNTER]` line.
pub fn main(db: &str, props: &Props) -> Result<()> {
    let threads: usize = props.parse_or("threadcount", 1usize)?;
    let seconds: f64 = props.parse_or("seconds", 3.0f64)?;
    let durability = Durability::parse(props.get("durability").unwrap_or("none"))?;
    let temp = tempfile::tempdir().map_err(e)?;
    let dir = props.get("dir").map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(e)?;
    let counter: Arc<dyn Counter> = Arc::from(open(db, &dir, durability)?);
    let start_value = counter.value()?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (counter, stop) = (Arc::clone(&counter), Arc::clone(&stop));
            std::thread::spawn(move || -> Result<(u64, u64)> {
                let (mut commits, mut conflicts) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if counter.attempt()? {
                        commits += 1;
                    } else {
                        conflicts += 1;
                    }
                }
                Ok((commits, conflicts))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let (mut commits, mut conflicts) = (0, 0);
    for worker in workers {
        let (c, k) = worker.join().map_err(|_| "a counter thread panicked".to_string())??;
        commits += c;
        conflicts += k;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let end_value = counter.value()?;
    if end_value - start_value != commits {
        return Err(format!(
            "counter: {commits} commits but the counter moved by {} (lost update)",
            end_value - start_value
        ));
    }
    println!(
        "[COUNTER], {db}, threads={threads}, durability={}, commits={commits}, conflicts={conflicts}, seconds={elapsed:.2}, commits/s={:.0}, conflicts/s={:.0}",
        durability.name(),
        commits as f64 / elapsed,
        conflicts as f64 / elapsed
    );
    Ok(())
}

mod dax {
    use super::*;
    use daxkv::{Db, Error, Options};

    /// `Db::transaction`: get, put, commit; `Error::Conflict` is a conflict.
    pub struct Dax {
        db: Db,
    }

    impl Dax {
        pub fn open(path: &Path, durability: Durability) -> Result<Dax> {
            let durability = match durability {
                Durability::PerOp => daxkv::Durability::Immediate,
                _ => daxkv::Durability::Deferred,
            };
            Ok(Dax { db: Db::open(path, Options::default().durability(durability)).map_err(e)? })
        }
    }

    impl Counter for Dax {
        fn attempt(&self) -> Result<bool> {
            let transaction = self.db.transaction();
            let next = parse(transaction.get(KEY).map_err(e)?.as_deref())? + 1;
            transaction.put(KEY, next.to_string().as_bytes()).map_err(e)?;
            match transaction.commit() {
                Ok(()) => Ok(true),
                Err(Error::Conflict) => Ok(false),
                Err(error) => Err(e(error)),
            }
        }
        fn value(&self) -> Result<u64> {
            parse(self.db.get(KEY).map_err(e)?.as_deref())
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_counter {
    use super::*;
    use fjall::{KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode, Readable};

    /// `OptimisticTxDatabase::write_tx`: get, insert, commit (`Ok(Err(Conflict))` is a conflict);
    /// per-op adds `persist(SyncData)` after each commit.
    pub struct Fjall {
        db: OptimisticTxDatabase,
        keyspace: OptimisticTxKeyspace,
        per_op: bool,
    }

    impl Fjall {
        pub fn open(path: &Path, durability: Durability) -> Result<Fjall> {
            let db = OptimisticTxDatabase::builder(path).open().map_err(e)?;
            let keyspace = db.keyspace("counter", KeyspaceCreateOptions::default).map_err(e)?;
            Ok(Fjall { db, keyspace, per_op: durability == Durability::PerOp })
        }
    }

    impl Counter for Fjall {
        fn attempt(&self) -> Result<bool> {
            let mut transaction = self.db.write_tx().map_err(e)?;
            let next = parse(transaction.get(&self.keyspace, KEY).map_err(e)?.as_deref())? + 1;
            transaction.insert(&self.keyspace, KEY, next.to_string().into_bytes());
            match transaction.commit().map_err(e)? {
                Ok(()) => {
                    if self.per_op {
                        self.db.persist(PersistMode::SyncData).map_err(e)?;
                    }
                    Ok(true)
                }
                Err(_conflict) => Ok(false),
            }
        }
        fn value(&self) -> Result<u64> {
            parse(self.keyspace.get(KEY).map_err(e)?.as_deref())
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocks {
    use super::*;
    use rocksdb::{ErrorKind, OptimisticTransactionDB, OptimisticTransactionOptions, Options, WriteOptions};

    /// `OptimisticTransactionDB`: `get_for_update` (tracks the key), put, commit (`Busy` or
    /// `TryAgain` is a conflict). per-op: `WriteOptions::set_sync(true)`.
    pub struct Rocks {
        db: OptimisticTransactionDB,
        write_options: WriteOptions,
    }

    impl Rocks {
        pub fn open(path: &Path, durability: Durability) -> Result<Rocks> {
            let mut options = Options::default();
            options.create_if_missing(true);
            options.increase_parallelism(2);
            let db = OptimisticTransactionDB::open(&options, path).map_err(e)?;
            let mut write_options = WriteOptions::default();
            write_options.set_sync(durability == Durability::PerOp);
            Ok(Rocks { db, write_options })
        }
    }

    impl Counter for Rocks {
        fn attempt(&self) -> Result<bool> {
            let transaction = self.db.transaction_opt(&self.write_options, &OptimisticTransactionOptions::default());
            let next = parse(transaction.get_for_update(KEY, true).map_err(e)?.as_deref())? + 1;
            transaction.put(KEY, next.to_string().as_bytes()).map_err(e)?;
            match transaction.commit() {
                Ok(()) => Ok(true),
                Err(error) if matches!(error.kind(), ErrorKind::Busy | ErrorKind::TryAgain) => Ok(false),
                Err(error) => Err(e(error)),
            }
        }
        fn value(&self) -> Result<u64> {
            parse(self.db.get(KEY).map_err(e)?.as_deref())
        }
    }
}

#[cfg(feature = "redb")]
mod redb_counter {
    use super::*;
    use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("counter");

    /// redb has one writer at a time: `begin_write` waits for the previous one, so nothing
    /// conflicts. none: `Durability::None`; per-op: `Immediate`.
    pub struct Redb {
        db: Database,
        durability: redb::Durability,
    }

    impl Redb {
        pub fn open(path: &Path, durability: Durability) -> Result<Redb> {
            let db = Database::create(path).map_err(e)?;
            let write = db.begin_write().map_err(e)?;
            write.open_table(TABLE).map_err(e)?;
            write.commit().map_err(e)?;
            let durability =
                if durability == Durability::PerOp { redb::Durability::Immediate } else { redb::Durability::None };
            Ok(Redb { db, durability })
        }
    }

    impl Counter for Redb {
        fn attempt(&self) -> Result<bool> {
            let mut write = self.db.begin_write().map_err(e)?;
            write.set_durability(self.durability).map_err(e)?;
            {
                let mut table = write.open_table(TABLE).map_err(e)?;
                let current = parse(table.get(KEY).map_err(e)?.map(|value| value.value().to_vec()).as_deref())?;
                table.insert(KEY, (current + 1).to_string().as_bytes()).map_err(e)?;
            }
            write.commit().map_err(e)?;
            Ok(true)
        }
        fn value(&self) -> Result<u64> {
            let read = self.db.begin_read().map_err(e)?;
            let table = read.open_table(TABLE).map_err(e)?;
            let value = table.get(KEY).map_err(e)?.map(|value| value.value().to_vec());
            parse(value.as_deref())
        }
    }
}
