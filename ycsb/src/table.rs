//! `daxkv-ycsb index-table`: the table of issue 13 (Index v2), one engine and one phase per
//! process (scripts/bench-index.sh runs them and drops the page cache in between).
//!
//! ```text
//! daxkv-ycsb index-table load    -db <engine> -n <N> -dir <dir> [-seed S] [-batch 100000] [-end close|crash]
//! daxkv-ycsb index-table measure -db <engine> -n <N> -dir <dir> [-seed S] [-gets 1000000] [-cache cold|warm]
//! daxkv-ycsb index-table report  <results.jsonl> <table.md>
//! ```
//!
//! `load` writes N records (16 B keys, 100 B values, one thread) into an empty store with the
//! engine's batch or transaction API, a durable commit every `-batch` puts, and closes it.
//! `measure` reads RssAnon (the baseline of this process before any store is opened), opens the
//! store and times it until the first get answers, reads RssAnon, runs `-gets` random gets of
//! loaded keys, reads RssAnon, scans every record in key order (count == N, keys ascending), and
//! reports the space of the store directory after close. Each phase prints one JSON line on
//! stdout. Key i is a function of (seed, i) alone, so `measure` regenerates the keys it asks for
//! without storing them; the gets' indices come from a generator seeded from the same seed.

use crate::engine::{self, Durability};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

const USAGE: &str = "usage:
  daxkv-ycsb index-table load    -db <engine> -n <N> -dir <dir> [-seed S] [-batch 100000] [-end close|crash]
  daxkv-ycsb index-table measure -db <engine> -n <N> -dir <dir> [-seed S] [-gets 1000000] [-cache cold|warm]
  daxkv-ycsb index-table report  <results.jsonl> <table.md>
engines: daxkv, lmdb, redb, fjall (the peers need their cargo features)";

pub const KEY_BYTES: usize = 16;
pub const VALUE_BYTES: usize = 100;

type Result<T> = std::result::Result<T, String>;

// --- keys, values, indices: all from one seed --------------------------------------------------

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finalizer: a bijection of u64.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key i: 16 bytes. The first 8 are a bijection of i (for a given seed), so no two keys collide.
pub fn key(seed: u64, i: u64) -> [u8; KEY_BYTES] {
    let hi = mix(i.wrapping_mul(GOLDEN) ^ mix(seed));
    let lo = mix(hi ^ mix(seed ^ 0x6b65_7973));
    let mut k = [0u8; KEY_BYTES];
    k[..8].copy_from_slice(&hi.to_be_bytes());
    k[8..].copy_from_slice(&lo.to_be_bytes());
    k
}

/// Value i: 100 bytes, i (little endian) then pseudo-random bytes (incompressible, like the keys).
pub fn value(seed: u64, i: u64, out: &mut [u8; VALUE_BYTES]) {
    out[..8].copy_from_slice(&i.to_le_bytes());
    let mut s = mix(seed ^ mix(i ^ 0x76616c7565));
    for chunk in out[8..].chunks_mut(8) {
        s = s.wrapping_add(GOLDEN);
        let r = mix(s).to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
}

fn check_value(i: u64, v: &[u8]) -> Result<()> {
    if v.len() != VALUE_BYTES || v[..8] != i.to_le_bytes() {
        return Err(format!("record {i}: wrong value ({} bytes)", v.len()));
    }
    Ok(())
}

/// The gets' generator (splitmix64 stream), seeded from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix(seed ^ 0x6765_7473))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        ((mix(self.0) as u128 * n as u128) >> 64) as u64
    }
}

// --- what the process and the filesystem say ---------------------------------------------------

/// `RssAnon` of /proc/self/status, bytes.
fn rss_anon() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// (allocated = st_blocks * 512, apparent = st_size) of every file under `dir`.
fn space(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut alloc, mut apparent) = (0, 0);
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for ent in rd.flatten() {
            let Ok(m) = std::fs::symlink_metadata(ent.path()) else { continue };
            if m.is_dir() {
                todo.push(ent.path());
            } else {
                alloc += m.blocks() * 512;
                apparent += m.size();
            }
        }
    }
    (alloc, apparent)
}

// --- the command line ---------------------------------------------------------------------------

struct Cli {
    db: String,
    n: u64,
    dir: PathBuf,
    seed: u64,
    batch: u64,
    gets: u64,
    cache: String,
    /// How `load` ends: `close`, or `crash` (the handle is dropped without a clean close, as a
    /// kill -9 leaves it; the next open recovers).
    end: String,
}

fn parse(args: &[String]) -> Result<Cli> {
    let mut c = Cli {
        db: String::new(),
        n: 0,
        dir: PathBuf::new(),
        seed: 42,
        batch: 100_000,
        gets: 1_000_000,
        cache: "unknown".into(),
        end: "close".into(),
    };
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let v = args.get(i + 1).ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| v.replace('_', "").parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag {
            "-db" => c.db = v.clone(),
            "-n" => c.n = num(v)?,
            "-dir" => c.dir = PathBuf::from(v),
            "-seed" => c.seed = num(v)?,
            "-batch" => c.batch = num(v)?.max(1),
            "-gets" => c.gets = num(v)?,
            "-cache" => c.cache = v.clone(),
            "-end" if v == "close" || v == "crash" => c.end = v.clone(),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
        i += 2;
    }
    if c.db.is_empty() || c.n == 0 || c.dir.as_os_str().is_empty() {
        return Err(format!("-db, -n and -dir are required\n{USAGE}"));
    }
    Ok(c)
}

/// Entry point: `args` are the words after `index-table`.
pub fn main(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("load") => load(&parse(&args[1..])?),
        Some("measure") => measure(&parse(&args[1..])?),
        Some("report") if args.len() == 3 => report(Path::new(&args[1]), Path::new(&args[2])),
        _ => Err(USAGE.to_string()),
    }
}

// --- load --------------------------------------------------------------------------------------

/// A store being loaded, one durable commit per batch.
trait Loader {
    /// Puts records `first..end` (key and value from `seed`) in one batch or transaction and
    /// commits it durably.
    fn write_batch(&mut self, seed: u64, first: u64, end: u64) -> Result<()>;
    fn close(self: Box<Self>) -> Result<()>;
    /// Ends without a clean close, as a kill -9 would; returns the log bytes an open must
    /// replay, where the engine reports it (0 otherwise).
    fn crash(self: Box<Self>) -> Result<u64> {
        std::mem::forget(self);
        Ok(0)
    }
}

/// Hands records `first..end` to `f`.
fn records(seed: u64, first: u64, end: u64, f: &mut dyn FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
    let mut v = [0u8; VALUE_BYTES];
    for i in first..end {
        value(seed, i, &mut v);
        f(&key(seed, i), &v)?;
    }
    Ok(())
}

fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

/// The same file names as engine.rs, so `measure` opens what `load` wrote.
fn open_loader(name: &str, dir: &Path) -> Result<Box<dyn Loader>> {
    std::fs::create_dir_all(dir).map_err(|x| format!("create {}: {x}", dir.display()))?;
    match name {
        "daxkv" => Ok(Box::new(dax::Load::open(&dir.join("daxkv.db"))?)),
        #[cfg(feature = "lmdb")]
        "lmdb" => Ok(Box::new(lmdb::Load::open(&dir.join("lmdb"))?)),
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(redb_load::Load::open(&dir.join("data.redb"))?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(fjall_load::Load::open(&dir.join("fjall"))?)),
        o => Err(format!("index-table: engine {o} is not known or not compiled in (features lmdb, redb, fjall)")),
    }
}

fn load(c: &Cli) -> Result<()> {
    let la = loadavg();
    let t_open = Instant::now();
    let mut l = open_loader(&c.db, &c.dir)?;
    let open_s = t_open.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut first = 0;
    while first < c.n {
        let end = (first + c.batch).min(c.n);
        l.write_batch(c.seed, first, end)?;
        first = end;
    }
    let load_s = t.elapsed().as_secs_f64();
    let rss = rss_anon();
    let t_close = Instant::now();
    let tail_bytes = if c.end == "crash" {
        l.crash()?
    } else {
        l.close()?;
        0
    };
    let close_s = t_close.elapsed().as_secs_f64();
    let (alloc, apparent) = space(&c.dir);
    let out = json!({
        "phase": "load", "db": c.db, "n": c.n, "seed": c.seed, "batch": c.batch,
        "key_bytes": KEY_BYTES, "value_bytes": VALUE_BYTES,
        "open_empty_s": open_s, "load_s": load_s, "puts_per_s": c.n as f64 / load_s, "close_s": close_s,
        "end": c.end, "tail_bytes": tail_bytes,
        "rss_anon_end": rss, "disk_alloc_bytes": alloc, "disk_apparent_bytes": apparent, "loadavg": la,
    });
    eprintln!(
        "index-table load {} n={}: {:.0} puts/s ({load_s:.2} s), close {close_s:.2} s, disk {:.0} MiB",
        c.db,
        c.n,
        c.n as f64 / load_s,
        alloc as f64 / 1048576.0
    );
    println!("{out}");
    Ok(())
}

mod dax {
    use super::*;
    use daxkv::{Db, Options};

    /// `Options::default()` with `Durability::Deferred`: `Db::put` per record, `Db::sync` as the
    /// commit.
    pub struct Load {
        db: Db,
    }

    impl Load {
        pub fn open(path: &Path) -> Result<Load> {
            let db = Db::open(path, Options::default().durability(daxkv::Durability::Deferred)).map_err(e)?;
            Ok(Load { db })
        }
    }

    impl Loader for Load {
        fn write_batch(&mut self, seed: u64, first: u64, end: u64) -> Result<()> {
            records(seed, first, end, &mut |k, v| self.db.put(k, v).map_err(e))?;
            self.db.sync().map_err(e)
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.db.close().map_err(e)
        }
        fn crash(self: Box<Self>) -> Result<u64> {
            let tail = self.db.stats().log_bytes_since_checkpoint;
            self.db.abandon();
            Ok(tail)
        }
    }
}

#[cfg(feature = "lmdb")]
mod lmdb {
    use super::*;
    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, Env, EnvOpenOptions};

    /// One write transaction per batch, committed with LMDB's default (durable) flags.
    /// The map size is engine.rs's default (64 GiB).
    pub struct Load {
        env: Option<Env>,
        db: Database<'static, Bytes, Bytes>,
    }

    impl Load {
        pub fn open(path: &Path) -> Result<Load> {
            std::fs::create_dir_all(path).map_err(e)?;
            let mut opts = EnvOpenOptions::new();
            opts.map_size(64usize << 30).max_dbs(1).max_readers(256);
            // SAFETY: this process opens the directory once.
            let env = unsafe { opts.open(path) }.map_err(e)?;
            let wtxn = env.write_txn().map_err(e)?;
            let db = env
                .create_databases_and_commit(wtxn, |wdo, wtxn| -> heed::Result<_> {
                    let d = wdo.create_database::<Bytes, Bytes>(wtxn, None)?;
                    Ok(CommitOrAbort::<_, ()>::Commit(d))
                })
                .map_err(e)?
                .unwrap_commit();
            Ok(Load { env: Some(env), db })
        }
    }

    impl Loader for Load {
        fn write_batch(&mut self, seed: u64, first: u64, end: u64) -> Result<()> {
            let env = self.env.as_ref().unwrap();
            let mut txn = env.write_txn().map_err(e)?;
            records(seed, first, end, &mut |k, v| self.db.put(&mut txn, k, v).map_err(e))?;
            txn.commit().map_err(e)
        }
        fn close(mut self: Box<Self>) -> Result<()> {
            let env = self.env.take().unwrap();
            env.force_sync().map_err(e)?;
            env.prepare_for_closing().wait();
            Ok(())
        }
    }
}

#[cfg(feature = "redb")]
mod redb_load {
    use super::*;
    use redb::{Database, TableDefinition};

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("usertable");

    /// One write transaction per batch (the table opened once in it), `Durability::Immediate`.
    pub struct Load {
        db: Database,
    }

    impl Load {
        pub fn open(path: &Path) -> Result<Load> {
            Ok(Load { db: Database::create(path).map_err(e)? })
        }
    }

    impl Loader for Load {
        fn write_batch(&mut self, seed: u64, first: u64, end: u64) -> Result<()> {
            let mut w = self.db.begin_write().map_err(e)?;
            w.set_durability(redb::Durability::Immediate).map_err(e)?;
            {
                let mut t = w.open_table(T).map_err(e)?;
                records(seed, first, end, &mut |k, v| t.insert(k, v).map(|_| ()).map_err(e))?;
            }
            w.commit().map_err(e)
        }
        fn close(self: Box<Self>) -> Result<()> {
            drop(self);
            Ok(())
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_load {
    use super::*;
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    /// One `WriteBatch` per batch, committed with `PersistMode::SyncData` (journal fdatasync).
    pub struct Load {
        ks: Keyspace,
        db: Database,
    }

    impl Load {
        pub fn open(path: &Path) -> Result<Load> {
            let db = Database::builder(path).open().map_err(e)?;
            let ks = db.keyspace("usertable", KeyspaceCreateOptions::default).map_err(e)?;
            Ok(Load { ks, db })
        }
    }

    impl Loader for Load {
        fn write_batch(&mut self, seed: u64, first: u64, end: u64) -> Result<()> {
            let mut b = self.db.batch().durability(Some(PersistMode::SyncData));
            records(seed, first, end, &mut |k, v| {
                b.insert(&self.ks, k, v);
                Ok(())
            })?;
            b.commit().map_err(e)
        }
        fn close(self: Box<Self>) -> Result<()> {
            self.db.persist(PersistMode::SyncData).map_err(e)?;
            drop(self);
            Ok(())
        }
    }
}

// --- measure -----------------------------------------------------------------------------------

fn measure(c: &Cli) -> Result<()> {
    let la = loadavg();
    let (alloc0, _) = space(&c.dir);
    if alloc0 == 0 {
        return Err(format!("{}: no store there (run `index-table load` first)", c.dir.display()));
    }
    let props = crate::props::Props::new();
    let mut rng = Rng::new(c.seed);
    let mut out = Vec::with_capacity(VALUE_BYTES);
    let rss_base = rss_anon();

    // Open, timed until the first get answers.
    let t = Instant::now();
    let eng = engine::open(&c.db, &c.dir, Durability::None, &props)?;
    let i0 = rng.below(c.n);
    if !eng.get(&key(c.seed, i0), &mut out)? {
        return Err(format!("record {i0} missing after open"));
    }
    let open_s = t.elapsed().as_secs_f64();
    check_value(i0, &out)?;
    let rss_open = rss_anon();

    // Random gets of loaded keys.
    let t = Instant::now();
    for _ in 0..c.gets {
        let i = rng.below(c.n);
        if !eng.get(&key(c.seed, i), &mut out)? {
            return Err(format!("record {i} missing"));
        }
        check_value(i, &out)?;
    }
    let gets_s = t.elapsed().as_secs_f64();
    let rss_gets = rss_anon();

    // The full ordered scan.
    let mut count = 0u64;
    let mut prev = [0u8; KEY_BYTES];
    let mut bad: Option<String> = None;
    let mut fold = 0u64;
    let t = Instant::now();
    eng.scan(b"", usize::MAX, &mut |k, v| {
        if bad.is_none() {
            if k.len() != KEY_BYTES || v.len() != VALUE_BYTES {
                bad = Some(format!("item {count}: {} B key, {} B value", k.len(), v.len()));
            } else if count > 0 && k <= &prev[..] {
                bad = Some(format!("item {count}: keys not ascending"));
            }
            if k.len() == KEY_BYTES {
                prev.copy_from_slice(k);
            }
        }
        fold = fold.wrapping_add(v[0] as u64);
        count += 1;
    })?;
    let scan_s = t.elapsed().as_secs_f64();
    if let Some(b) = bad {
        return Err(format!("scan: {b}"));
    }
    if count != c.n {
        return Err(format!("scan returned {count} items, expected {}", c.n));
    }
    let rss_scan = rss_anon();
    let t = Instant::now();
    eng.close()?;
    let close_s = t.elapsed().as_secs_f64();
    let (alloc, apparent) = space(&c.dir);

    let per_key = (rss_gets as f64 - rss_base as f64) / c.n as f64;
    let row = json!({
        "phase": "measure", "db": c.db, "n": c.n, "seed": c.seed, "cache": c.cache,
        "open_s": open_s,
        "rss_anon_base": rss_base, "rss_anon_open": rss_open, "rss_anon_gets": rss_gets, "rss_anon_scan": rss_scan,
        "anon_bytes_per_key": per_key,
        "anon_bytes_per_key_open": (rss_open as f64 - rss_base as f64) / c.n as f64,
        "gets": c.gets, "gets_s": gets_s, "gets_per_s": c.gets as f64 / gets_s,
        "scan_items": count, "scan_s": scan_s, "scan_items_per_s": count as f64 / scan_s, "scan_fold": fold,
        "close_s": close_s, "disk_alloc_bytes": alloc, "disk_apparent_bytes": apparent, "loadavg": la,
    });
    eprintln!(
        "index-table measure {} n={}: open {open_s:.3} s ({}), {per_key:.1} B anon/key, {:.0} gets/s, \
         scan {:.0} items/s, disk {:.0} MiB",
        c.db,
        c.n,
        c.cache,
        c.gets as f64 / gets_s,
        count as f64 / scan_s,
        alloc as f64 / 1048576.0
    );
    println!("{row}");
    Ok(())
}

// --- report ------------------------------------------------------------------------------------

fn count_str(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn n_str(n: u64) -> String {
    if n % 1_000_000 == 0 {
        format!("{} M", n / 1_000_000)
    } else if n % 1000 == 0 {
        format!("{} k", n / 1000)
    } else {
        n.to_string()
    }
}

fn secs_str(s: f64) -> String {
    if s < 0.1 {
        format!("{s:.3}")
    } else if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

/// One markdown table per N (rows as in issue 13, one column per engine, in the order the
/// results came), from the JSON lines of `load` and `measure`.
fn report(input: &Path, output: &Path) -> Result<()> {
    let text = std::fs::read_to_string(input).map_err(|x| format!("{}: {x}", input.display()))?;
    let rows: Vec<Value> =
        text.lines().filter(|l| l.trim_start().starts_with('{')).filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut ns: Vec<u64> = Vec::new();
    let mut engines: Vec<String> = Vec::new();
    for r in &rows {
        let n = r["n"].as_u64().unwrap_or(0);
        if !ns.contains(&n) {
            ns.push(n);
        }
        let db = r["db"].as_str().unwrap_or("").to_string();
        if !engines.contains(&db) {
            engines.push(db);
        }
    }
    let all = |phase: &'static str, db: &str, n: u64| {
        let db = db.to_string();
        rows.iter().filter(move |r| r["phase"] == phase && r["db"] == db.as_str() && r["n"].as_u64() == Some(n))
    };
    let find = |phase: &'static str, db: &str, n: u64| all(phase, db, n).next();
    let title = |db: &str| match db {
        "lmdb" => "LMDB (heed)".to_string(),
        o => o.to_string(),
    };
    let mut md = String::new();
    for &n in &ns {
        let ns_ = n_str(n);
        let here: Vec<&String> =
            engines.iter().filter(|d| find("load", d, n).is_some() || find("measure", d, n).is_some()).collect();
        md += &format!(
            "N = {ns_}:\n\n| | {} |\n|---|{}\n",
            here.iter().map(|d| title(d)).collect::<Vec<_>>().join(" | "),
            "---|".repeat(here.len())
        );
        let line = |label: String, f: &dyn Fn(&str) -> Option<String>| -> String {
            let cells: Vec<String> = here.iter().map(|d| f(d).unwrap_or_else(|| "–".into())).collect();
            format!("| {label} | {} |\n", cells.join(" | "))
        };
        // Every round's value of a figure (REPEAT in the script), sorted.
        let vals = |phase: &'static str, d: &str, k: &str| -> Vec<f64> {
            let mut v: Vec<f64> = all(phase, d, n).filter_map(|r| r[k].as_f64()).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        // The median of the rounds.
        let med = |phase: &'static str, d: &str, k: &str| -> Option<f64> {
            let v = vals(phase, d, k);
            (!v.is_empty()).then(|| {
                if v.len() % 2 == 1 {
                    v[v.len() / 2]
                } else {
                    (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
                }
            })
        };
        // "median (min–max)" when there are several rounds.
        let spread = |phase: &'static str, d: &str, k: &str, f: fn(f64) -> String| -> Option<String> {
            let v = vals(phase, d, k);
            let m = f(med(phase, d, k)?);
            Some(if v.len() > 1 { format!("{m} ({}–{})", f(v[0]), f(v[v.len() - 1])) } else { m })
        };
        let m = |d: &str, k: &str| med("measure", d, k);
        let mut caches: Vec<&str> =
            here.iter().flat_map(|d| all("measure", d, n)).filter_map(|r| r["cache"].as_str()).collect();
        caches.sort();
        caches.dedup();
        let cache = if caches.is_empty() { "?".to_string() } else { caches.join("/") };
        let rounds = here.iter().map(|d| all("measure", d, n).count()).max().unwrap_or(0);
        md += &line(format!("load {ns_}, puts/s"), &|d| spread("load", d, "puts_per_s", count_str));
        md += &line(format!("open {ns_}, seconds ({cache} page cache)"), &|d| spread("measure", d, "open_s", secs_str));
        md += &line(format!("anonymous memory per key, {ns_}, after gets (after open)"), &|d| {
            Some(format!("{:.0} B ({:.0} B)", m(d, "anon_bytes_per_key")?, m(d, "anon_bytes_per_key_open")?))
        });
        md += &line(format!("random gets/s, {ns_}"), &|d| spread("measure", d, "gets_per_s", count_str));
        md += &line(format!("full ordered scan, items/s, {ns_}"), &|d| {
            spread("measure", d, "scan_items_per_s", count_str)
        });
        md += &line(format!("space on disk, {ns_}, MiB allocated (apparent)"), &|d| {
            let a = m(d, "disk_alloc_bytes")?;
            let p = m(d, "disk_apparent_bytes")?;
            Some(format!("{:.0} ({:.0})", a / 1048576.0, p / 1048576.0))
        });
        let mut las: Vec<f64> = rows
            .iter()
            .filter(|r| r["n"].as_u64() == Some(n))
            .filter_map(|r| r["loadavg"].as_str()?.split(' ').next()?.parse().ok())
            .collect();
        las.sort_by(f64::total_cmp);
        md += "\n";
        if rounds > 1 {
            md += &format!("Medians of {rounds} rounds (min–max over the rounds; every figure in results.jsonl). ");
        }
        if let (Some(lo), Some(hi)) = (las.first(), las.last()) {
            md += &format!("1-minute load average at the start of the phases: {lo:.2}–{hi:.2}.");
        }
        md += "\n\n";
    }
    std::fs::write(output, &md).map_err(|x| format!("{}: {x}", output.display()))?;
    print!("{md}");
    Ok(())
}
