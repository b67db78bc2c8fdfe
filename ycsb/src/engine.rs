//! One adapter per engine, all behind the same small interface. Peers are behind cargo features.

use std::path::Path;

pub type Result<T> = std::result::Result<T, String>;

/// `-p durability=per-op|group|none` (see docs/benchmarks-ycsb.md for what each engine does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every write is durable before it returns.
    PerOp,
    /// Writes return before they are durable; the harness makes everything durable every
    /// `syncintervalms` (default 10 ms) with the engine's own durable flush.
    Group,
    /// Nothing is made durable until the store is closed.
    None,
}

impl Durability {
    pub fn parse(s: &str) -> Result<Durability> {
        match s {
            "per-op" | "perop" | "sync" => Ok(Durability::PerOp),
            "group" => Ok(Durability::Group),
            "none" => Ok(Durability::None),
            o => Err(format!("durability={o}: expected per-op, group or none")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Durability::PerOp => "per-op",
            Durability::Group => "group",
            Durability::None => "none",
        }
    }
}

pub trait Engine: Send + Sync {
    /// Copies the value of `key` into `out`; false when absent.
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool>;
    /// Inserts or overwrites; durable on return when opened with `Durability::PerOp`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Up to `count` records with key >= `start`, ascending, handed to `f`.
    fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()>;
    /// Makes every write so far durable.
    fn sync(&self) -> Result<()>;
    /// Clean shutdown (including what the engine does on close, e.g. a final sync).
    fn close(self: Box<Self>) -> Result<()>;
    /// Read-modify-write of `key`: `modify` gets the current value (`None`: absent) and returns
    /// the value to write (`None`: write nothing); returns whether it wrote. Engines with
    /// transactions run it in one (retried on conflict, so `modify` may run more than once);
    /// the default is a get then a put, not atomic. Used by `rmwtransactions=true`.
    fn transact(&self, key: &[u8], modify: &mut dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<bool> {
        let mut old = Vec::new();
        let found = self.get(key, &mut old)?;
        match modify(found.then_some(&old[..])) {
            Some(new) => self.put(key, &new).map(|()| true),
            None => Ok(false),
        }
    }
    /// Whether [`Engine::transact`] is a real transaction (not the default get then put).
    fn has_transactions(&self) -> bool {
        false
    }
    /// Engine-specific space figures (name, value), reported as `[SPACE]` lines before close.
    fn space(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    fn is_empty(&self) -> Result<bool> {
        let mut any = false;
        self.scan(b"", 1, &mut |_, _| any = true)?;
        Ok(!any)
    }
}

/// Runs of a transaction the peers' adapters retry on conflict before giving up.
#[allow(dead_code, reason = "used by the peers' adapters, which are features")]
const TRANSACTION_ATTEMPTS_MAX: usize = 1 << 16;

pub const ENGINES: &[&str] = &["daxkv", "lmdb", "rocksdb", "redb", "fjall", "sled"];

/// Opens (creating if needed) engine `name` under directory `dir`.
pub fn open(name: &str, dir: &Path, d: Durability, props: &crate::props::Props) -> Result<Box<dyn Engine>> {
    let inner = open_plain(name, dir, d, props)?;
    match props.get("inject") {
        None => Ok(inner),
        Some("lost-writes") => {
            let skip = props.parse_or("recordcount", 0u64)?;
            Ok(Box::new(LostWrites { inner, n: std::sync::atomic::AtomicU64::new(0), skip }))
        }
        Some(o) => Err(format!("inject={o}: only lost-writes is known")),
    }
}

fn open_plain(name: &str, dir: &Path, d: Durability, props: &crate::props::Props) -> Result<Box<dyn Engine>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let _ = props;
    match name {
        "daxkv" => Ok(Box::new(daxkv_engine::Dax::open(&dir.join("daxkv.db"), d, props)?)),
        #[cfg(feature = "lmdb")]
        "lmdb" => Ok(Box::new(lmdb_engine::Lmdb::open(&dir.join("lmdb"), d, props)?)),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(Box::new(rocks_engine::Rocks::open(&dir.join("rocksdb"), d, props)?)),
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(redb_engine::Redb::open(&dir.join("data.redb"), d)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(fjall_engine::Fjall::open(&dir.join("fjall"), d, props)?)),
        #[cfg(feature = "sled")]
        "sled" => Ok(Box::new(sled_engine::Sled::open(&dir.join("sled"), d)?)),
        o if ENGINES.contains(&o) => Err(format!(
            "engine {o} is not compiled in: rebuild with `--features {}`",
            if o == "lmdb" { "lmdb" } else { o }
        )),
        o => Err(format!("unknown engine {o:?}; known: {}", ENGINES.join(", "))),
    }
}

/// Fault injection for testing the harness itself (`-p inject=lost-writes`): every 97th put
/// after the first `skip` is acknowledged but not written. A correct harness must fail the run.
pub struct LostWrites {
    pub inner: Box<dyn Engine>,
    pub n: std::sync::atomic::AtomicU64,
    pub skip: u64,
}

impl Engine for LostWrites {
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        self.inner.get(key, out)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n >= self.skip && n % 97 == 0 {
            return Ok(());
        }
        self.inner.put(key, value)
    }
    fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
        self.inner.scan(start, count, f)
    }
    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    fn close(self: Box<Self>) -> Result<()> {
        self.inner.close()
    }
    fn space(&self) -> Vec<(&'static str, u64)> {
        self.inner.space()
    }
}

/// An engine that holds nothing (unit tests, and a placeholder while a store is reopened).
pub struct Nothing;

impl Engine for Nothing {
    fn get(&self, _: &[u8], _: &mut Vec<u8>) -> Result<bool> {
        Err("no engine open".into())
    }
    fn put(&self, _: &[u8], _: &[u8]) -> Result<()> {
        Err("no engine open".into())
    }
    fn scan(&self, _: &[u8], _: usize, _: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
        Err("no engine open".into())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// An engine's error as the harness's.
pub fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

mod daxkv_engine {
    use super::*;
    use daxkv::{Db, Options};

    /// per-op: `Durability::Immediate` (concurrent writers share one writeback: group commit);
    /// group/none: `Durability::Deferred` (+ `Db::sync` from the harness's syncer for group).
    /// `-p daxkv.cleaning=on|off` (default on): `Options::background_cleaning`;
    /// `-p daxkv.space_amplification=<f64>` (default: daxkv's): `Options::max_space_amplification`.
    pub struct Dax {
        db: Db,
    }

    impl Dax {
        pub fn open(path: &Path, d: Durability, props: &crate::props::Props) -> Result<Dax> {
            let dd = match d {
                Durability::PerOp => daxkv::Durability::Immediate,
                Durability::Group | Durability::None => daxkv::Durability::Deferred,
            };
            let cleaning = match props.get("daxkv.cleaning").map(str::trim) {
                None | Some("on") => true,
                Some("off") => false,
                Some(o) => return Err(format!("daxkv.cleaning={o}: expected on or off")),
            };
            let mut options = Options::default().durability(dd).background_cleaning(cleaning);
            if props.get("daxkv.space_amplification").is_some() {
                options = options.max_space_amplification(props.parse_or("daxkv.space_amplification", 0.0f64)?);
            }
            let db = Db::open(path, options).map_err(e)?;
            Ok(Dax { db })
        }
    }

    impl Engine for Dax {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            match self.db.get(key).map_err(e)? {
                Some(v) => {
                    let v: &[u8] = &v;
                    out.clear();
                    out.extend_from_slice(v);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            self.db.put(key, value).map_err(e)
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            for item in self.db.range(start..).take(count) {
                let (k, v) = item.map_err(e)?;
                f(&k, &v);
            }
            Ok(())
        }
        fn sync(&self) -> Result<()> {
            self.db.sync().map_err(e)
        }
        /// `Db::update`: get, put, commit, retried on `Conflict`.
        fn transact(&self, key: &[u8], modify: &mut dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<bool> {
            self.db
                .update(|transaction| {
                    let old = transaction.get(key)?;
                    match modify(old.as_deref()) {
                        Some(new) => transaction.put(key, &new).map(|()| true),
                        None => Ok(false),
                    }
                })
                .map_err(e)
        }
        fn has_transactions(&self) -> bool {
            true
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.db.close().map_err(e)
        }
        /// Counters since this handle was opened (a `run` that loaded first reopened the store).
        fn space(&self) -> Vec<(&'static str, u64)> {
            let stats = self.db.stats();
            vec![
                ("FileBytes", stats.file_bytes),
                ("LiveBytes", stats.live_bytes),
                ("DeadBytes", stats.dead_bytes),
                ("SegmentsUsed", stats.segments_used),
                ("SegmentsFree", stats.segments_free),
                ("SegmentsPunched", stats.segments_punched),
                ("RecordBytesTotal", stats.record_bytes_total),
                ("CleaningBytesCopiedTotal", stats.cleaning_bytes_copied_total),
                ("CleaningSegmentsFreedTotal", stats.cleaning_segments_freed_total),
                ("HolesPunchedTotal", stats.holes_punched_total),
                ("SpaceBudgetOverrunsTotal", stats.space_budget_overruns_total),
            ]
        }
    }
}

#[cfg(feature = "lmdb")]
mod lmdb_engine {
    use super::*;
    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};
    use std::ops::Bound;

    /// One write transaction per operation. per-op: default flags (commit = fdatasync of data and
    /// meta page); group/none: `MDB_NOSYNC` (+ `mdb_env_sync(force)` from the syncer for group).
    pub struct Lmdb {
        env: Option<Env>,
        db: Database<'static, Bytes, Bytes>,
    }

    impl Lmdb {
        pub fn open(path: &Path, d: Durability, props: &crate::props::Props) -> Result<Lmdb> {
            std::fs::create_dir_all(path).map_err(e)?;
            let map: usize = props.parse_or("lmdb.mapsize", 64usize << 30)?;
            let mut opts = EnvOpenOptions::new();
            opts.map_size(map).max_dbs(1).max_readers(256);
            if d != Durability::PerOp {
                // SAFETY: NOSYNC only relaxes durability (documented for these modes).
                unsafe { opts.flags(EnvFlags::NO_SYNC) };
            }
            // SAFETY: this process opens the directory once at a time (the harness closes first).
            let env = unsafe { opts.open(path) }.map_err(e)?;
            let wtxn = env.write_txn().map_err(e)?;
            let db = env
                .create_databases_and_commit(wtxn, |wdo, wtxn| -> heed::Result<_> {
                    let d = wdo.create_database::<Bytes, Bytes>(wtxn, None)?;
                    Ok(CommitOrAbort::<_, ()>::Commit(d))
                })
                .map_err(e)?
                .unwrap_commit();
            Ok(Lmdb { env: Some(env), db })
        }
        fn env(&self) -> &Env {
            self.env.as_ref().unwrap()
        }
    }

    impl Engine for Lmdb {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            let rtxn = self.env().read_txn().map_err(e)?;
            match self.db.get(&rtxn, key).map_err(e)? {
                Some(v) => {
                    out.clear();
                    out.extend_from_slice(v);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            let mut wtxn = self.env().write_txn().map_err(e)?;
            self.db.put(&mut wtxn, key, value).map_err(e)?;
            wtxn.commit().map_err(e)
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            let rtxn = self.env().read_txn().map_err(e)?;
            if start.is_empty() {
                // LMDB rejects a zero-length key (MDB_BAD_VALSIZE): start at the first key.
                for item in self.db.iter(&rtxn).map_err(e)?.take(count) {
                    let (k, v) = item.map_err(e)?;
                    f(k, v);
                }
                return Ok(());
            }
            let range = (Bound::Included(start), Bound::Unbounded);
            for item in self.db.range(&rtxn, &range).map_err(e)?.take(count) {
                let (k, v) = item.map_err(e)?;
                f(k, v);
            }
            Ok(())
        }
        fn sync(&self) -> Result<()> {
            self.env().force_sync().map_err(e)
        }
        fn close(mut self: Box<Self>) -> Result<()> {
            let env = self.env.take().unwrap();
            env.force_sync().map_err(e)?;
            env.prepare_for_closing().wait();
            Ok(())
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocks_engine {
    use super::*;
    use rocksdb::{
        DBCompressionType, ErrorKind, OptimisticTransactionDB, OptimisticTransactionOptions, Options, WriteOptions, DB,
    };

    /// Default options + LZ4 (like fjall's default). per-op: `WriteOptions::set_sync(true)` (WAL
    /// fsync per write; concurrent writers join RocksDB's write groups); group/none: sync=false
    /// (WAL written to the OS per write) + `flush_wal(true)` from the syncer for group. With
    /// `rmwtransactions=true` the store is opened as an `OptimisticTransactionDB` and
    /// read-modify-writes are its transactions (`get_for_update`, put, commit).
    pub struct Rocks {
        handle: Handle,
        wo: WriteOptions,
    }

    enum Handle {
        Plain(DB),
        Transactional(OptimisticTransactionDB),
    }

    /// Runs `$body` with `$db` bound to whichever database is open (the same calls on both).
    macro_rules! on_db {
        ($self:expr, $db:ident => $body:expr) => {
            match &$self.handle {
                Handle::Plain($db) => $body,
                Handle::Transactional($db) => $body,
            }
        };
    }

    impl Rocks {
        pub fn open(path: &Path, d: Durability, props: &crate::props::Props) -> Result<Rocks> {
            let mut o = Options::default();
            o.create_if_missing(true);
            o.set_compression_type(DBCompressionType::Lz4);
            o.increase_parallelism(2);
            let handle = if props.bool_or("rmwtransactions", false)? {
                Handle::Transactional(OptimisticTransactionDB::open(&o, path).map_err(e)?)
            } else {
                Handle::Plain(DB::open(&o, path).map_err(e)?)
            };
            let mut wo = WriteOptions::default();
            wo.set_sync(d == Durability::PerOp);
            Ok(Rocks { handle, wo })
        }
    }

    impl Engine for Rocks {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            on_db!(self, db => match db.get_pinned(key).map_err(e)? {
                Some(v) => {
                    out.clear();
                    out.extend_from_slice(&v);
                    Ok(true)
                }
                None => Ok(false),
            })
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            on_db!(self, db => db.put_opt(key, value, &self.wo).map_err(e))
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            on_db!(self, db => {
                let mut it = db.raw_iterator();
                it.seek(start);
                let mut n = 0;
                while n < count && it.valid() {
                    f(it.key().unwrap(), it.value().unwrap());
                    n += 1;
                    it.next();
                }
                it.status().map_err(e)
            })
        }
        fn sync(&self) -> Result<()> {
            on_db!(self, db => db.flush_wal(true).map_err(e))
        }
        /// An optimistic transaction: `get_for_update`, put, commit; `Busy`/`TryAgain` retried.
        fn transact(&self, key: &[u8], modify: &mut dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<bool> {
            let Handle::Transactional(db) = &self.handle else {
                return Err("rocksdb: opened without rmwtransactions".into());
            };
            for _ in 0..TRANSACTION_ATTEMPTS_MAX {
                let transaction = db.transaction_opt(&self.wo, &OptimisticTransactionOptions::default());
                let old = transaction.get_for_update(key, true).map_err(e)?;
                let Some(new) = modify(old.as_deref()) else { return Ok(false) };
                transaction.put(key, new).map_err(e)?;
                match transaction.commit() {
                    Ok(()) => return Ok(true),
                    Err(error) if matches!(error.kind(), ErrorKind::Busy | ErrorKind::TryAgain) => continue,
                    Err(error) => return Err(e(error)),
                }
            }
            Err("rocksdb: transaction conflicts did not end".into())
        }
        fn has_transactions(&self) -> bool {
            matches!(self.handle, Handle::Transactional(_))
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.sync()?;
            drop(self);
            Ok(())
        }
    }
}

#[cfg(feature = "redb")]
mod redb_engine {
    use super::*;
    use redb::{Database, ReadableDatabase, TableDefinition};

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("usertable");

    /// One write transaction per operation. per-op: `Durability::Immediate`; group/none:
    /// `Durability::None` (+ an empty `Immediate` commit from the syncer for group, which makes all
    /// earlier non-durable commits durable).
    pub struct Redb {
        db: Database,
        d: redb::Durability,
    }

    impl Redb {
        pub fn open(path: &Path, d: Durability) -> Result<Redb> {
            let db = Database::create(path).map_err(e)?;
            let w = db.begin_write().map_err(e)?;
            w.open_table(T).map_err(e)?;
            w.commit().map_err(e)?;
            let d = if d == Durability::PerOp { redb::Durability::Immediate } else { redb::Durability::None };
            Ok(Redb { db, d })
        }
    }

    impl Engine for Redb {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            let r = self.db.begin_read().map_err(e)?;
            let t = r.open_table(T).map_err(e)?;
            match t.get(key).map_err(e)? {
                Some(v) => {
                    out.clear();
                    out.extend_from_slice(v.value());
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            let mut w = self.db.begin_write().map_err(e)?;
            w.set_durability(self.d).map_err(e)?;
            {
                let mut t = w.open_table(T).map_err(e)?;
                t.insert(key, value).map_err(e)?;
            }
            w.commit().map_err(e)
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            let r = self.db.begin_read().map_err(e)?;
            let t = r.open_table(T).map_err(e)?;
            for item in t.range(start..).map_err(e)?.take(count) {
                let (k, v) = item.map_err(e)?;
                f(k.value(), v.value());
            }
            Ok(())
        }
        fn sync(&self) -> Result<()> {
            let mut w = self.db.begin_write().map_err(e)?;
            w.set_durability(redb::Durability::Immediate).map_err(e)?;
            w.commit().map_err(e)
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.sync()?;
            drop(self);
            Ok(())
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_engine {
    use super::*;
    use fjall::{
        Database, Keyspace, KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode, Readable,
    };

    /// Default config. Every insert is written to the journal in the OS (fjall's default,
    /// `PersistMode::Buffer`). per-op: then `persist(SyncData)` (fdatasync); group: the syncer
    /// calls `persist(SyncData)`; none: nothing more. With `rmwtransactions=true` the store is
    /// opened as an `OptimisticTxDatabase` (plain operations go to its inner database) and
    /// read-modify-writes are its write transactions.
    pub struct Fjall {
        db: Database,
        ks: Keyspace,
        per_op: bool,
        transactional: Option<(OptimisticTxDatabase, OptimisticTxKeyspace)>,
    }

    impl Fjall {
        pub fn open(path: &Path, d: Durability, props: &crate::props::Props) -> Result<Fjall> {
            let per_op = d == Durability::PerOp;
            if props.bool_or("rmwtransactions", false)? {
                let tx_db = OptimisticTxDatabase::builder(path).open().map_err(e)?;
                let tx_ks = tx_db.keyspace("usertable", KeyspaceCreateOptions::default).map_err(e)?;
                let (db, ks) = (tx_db.inner().clone(), tx_ks.inner().clone());
                return Ok(Fjall { db, ks, per_op, transactional: Some((tx_db, tx_ks)) });
            }
            let db = Database::builder(path).open().map_err(e)?;
            let ks = db.keyspace("usertable", KeyspaceCreateOptions::default).map_err(e)?;
            Ok(Fjall { db, ks, per_op, transactional: None })
        }
    }

    impl Engine for Fjall {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            match self.ks.get(key).map_err(e)? {
                Some(v) => {
                    out.clear();
                    out.extend_from_slice(&v);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            self.ks.insert(key, value).map_err(e)?;
            if self.per_op {
                self.db.persist(PersistMode::SyncData).map_err(e)?;
            }
            Ok(())
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            for g in self.ks.range(start..).take(count) {
                let (k, v) = g.into_inner().map_err(e)?;
                f(&k, &v);
            }
            Ok(())
        }
        fn sync(&self) -> Result<()> {
            self.db.persist(PersistMode::SyncData).map_err(e)
        }
        /// `write_tx`: get, insert, commit, retried on `Conflict`.
        fn transact(&self, key: &[u8], modify: &mut dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<bool> {
            let (db, ks) = self.transactional.as_ref().ok_or("fjall: opened without rmwtransactions")?;
            for _ in 0..TRANSACTION_ATTEMPTS_MAX {
                let mut transaction = db.write_tx().map_err(e)?;
                let old = transaction.get(ks, key).map_err(e)?;
                let Some(new) = modify(old.as_deref()) else { return Ok(false) };
                transaction.insert(ks, key, new);
                if transaction.commit().map_err(e)?.is_ok() {
                    if self.per_op {
                        self.db.persist(PersistMode::SyncData).map_err(e)?;
                    }
                    return Ok(true);
                }
            }
            Err("fjall: transaction conflicts did not end".into())
        }
        fn has_transactions(&self) -> bool {
            self.transactional.is_some()
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.sync()?;
            drop(self);
            Ok(())
        }
    }
}

#[cfg(feature = "sled")]
mod sled_engine {
    use super::*;

    /// Default config. per-op: `flush()` after every write; group: `flush()` from the syncer;
    /// none: nothing. sled 0.34's flush uses sync_file_range only (no fsync/fdatasync), so no
    /// setting is durable against power loss: its per-op numbers are not comparable.
    pub struct Sled {
        db: sled::Db,
        per_op: bool,
    }

    impl Sled {
        pub fn open(path: &Path, d: Durability) -> Result<Sled> {
            let db = sled::Config::new().path(path).open().map_err(e)?;
            Ok(Sled { db, per_op: d == Durability::PerOp })
        }
    }

    impl Engine for Sled {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
            match self.db.get(key).map_err(e)? {
                Some(v) => {
                    out.clear();
                    out.extend_from_slice(&v);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
            self.db.insert(key, value).map_err(e)?;
            if self.per_op {
                self.db.flush().map_err(e)?;
            }
            Ok(())
        }
        fn scan(&self, start: &[u8], count: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            for item in self.db.range(start..).take(count) {
                let (k, v) = item.map_err(e)?;
                f(&k, &v);
            }
            Ok(())
        }
        fn sync(&self) -> Result<()> {
            self.db.flush().map(|_| ()).map_err(e)
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.sync()?;
            drop(self);
            Ok(())
        }
    }
}
