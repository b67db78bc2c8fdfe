//! In-guest check program for `scripts/dax-vm.sh` (issue 6): runs daxkv on a real fsdax
//! mount inside a QEMU guest with an emulated NVDIMM. See docs/dax.md.
//!
//! ```text
//! dax_guest write   <dir> <n> [--no-close]  create <dir>/guest.db, assert MAP_SYNC + CacheLine,
//!                                          put n keys with Immediate durability, close
//!                                          (--no-close: exit without closing, like a crash)
//! dax_guest verify  <dir> <n>              reopen <dir>/guest.db, every key present and exact
//! dax_guest bench   <dir> [n]              durable 1-key puts (16 B key, 100 B value), CacheLine
//!                                          vs Msync on fresh files, median latency + ratio
//! dax_guest control <dir>                  on a non-DAX dir (tmpfs): MAP_SYNC must be refused
//!                                          and the Msync model chosen
//! ```
//!
//! Prints `PASS <name>` / `FAIL <name>: why` lines and exits non-zero on any failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use daxkv::{Db, Durability, FlushModel, Options};

/// Counts the checks and prints one line per check.
#[derive(Default)]
struct Checks {
    failed: usize,
    passed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, why: impl FnOnce() -> String) -> bool {
        if ok {
            self.passed += 1;
            println!("PASS {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}: {}", why());
        }
        ok
    }
    fn fail(&mut self, name: &str, why: impl std::fmt::Display) {
        self.failed += 1;
        println!("FAIL {name}: {why}");
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    format!("value{i}").into_bytes()
}

fn fresh(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

fn store_path(dir: &str) -> PathBuf {
    Path::new(dir).join("guest.db")
}

/// `write <dir> <n> [--no-close]`
fn write(c: &mut Checks, dir: &str, n: u64, close: bool) {
    let path = store_path(dir);
    fresh(&path);
    let opts = Options::default().durability(Durability::Immediate);
    let db = match Db::open(&path, opts) {
        Ok(db) => db,
        Err(e) => return c.fail("write/open", format!("{}: {e:?}", path.display())),
    };
    let s = db.stats();
    println!(
        "guest.db opened: map_sync={} flush_model={:?} line_flush_instruction={:?} (default options)",
        s.map_sync, s.flush_model, s.line_flush_instruction
    );
    c.check("write/map_sync: MAP_SYNC accepted on the fsdax mount", s.map_sync, || {
        "db.stats().map_sync == false".into()
    });
    c.check("write/flush_model: CacheLine chosen by default", s.flush_model == FlushModel::CacheLine, || {
        format!("db.stats().flush_model == {:?}", s.flush_model)
    });

    let t = Instant::now();
    let mut acked = 0u64;
    for i in 0..n {
        match db.put(&key(i), &value(i)) {
            Ok(()) => acked += 1,
            Err(e) => {
                c.fail("write/put", format!("key{i:08}: {e:?}"));
                break;
            }
        }
    }
    let took = t.elapsed();
    let s = db.stats();
    c.check("write/puts acknowledged", acked == n, || format!("{acked} of {n}"));
    c.check("write/commits counted", s.commits_total >= acked, || {
        format!("stats.commits_total={} < {acked} Immediate puts", s.commits_total)
    });
    if s.flush_model == FlushModel::CacheLine {
        c.check(
            "write/CacheLine path used (line flushes + fences, no flush syscalls)",
            s.line_flushes_total > 0 && s.fences_total > 0 && s.flush_syscalls_total == 0,
            || {
                format!(
                    "line_flushes_total={} fences_total={} flush_syscalls_total={}",
                    s.line_flushes_total, s.fences_total, s.flush_syscalls_total
                )
            },
        );
    }
    c.check("write/flush bytes counted", acked == 0 || s.flush_bytes_total > 0, || {
        "stats.flush_bytes_total == 0".into()
    });
    println!(
        "write summary: {acked} keys acknowledged in {:.3}s ({:.1} us/put), commits={}, \
         flush_bytes_total={} ({:.0} B/commit), line_flushes={} fences={} flush_syscalls={}, \
         file_bytes={}, flush_model={:?}, map_sync={}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / acked.max(1) as f64,
        s.commits_total,
        s.flush_bytes_total,
        s.flush_bytes_total as f64 / s.commits_total.max(1) as f64,
        s.line_flushes_total,
        s.fences_total,
        s.flush_syscalls_total,
        s.file_bytes,
        s.flush_model,
        s.map_sync
    );
    if close {
        if let Err(e) = db.close() {
            c.fail("write/close", format!("{e:?}"));
        } else {
            println!("guest.db closed");
        }
    } else {
        println!("--no-close: leaving without close (the process exits, as in a crash)");
        std::mem::forget(db);
    }
}

/// `verify <dir> <n>`
fn verify(c: &mut Checks, dir: &str, n: u64) {
    let path = store_path(dir);
    let t = Instant::now();
    let db = match Db::open(&path, Options::default()) {
        Ok(db) => db,
        Err(e) => return c.fail("verify/open", format!("{}: {e:?}", path.display())),
    };
    let opened = t.elapsed();
    let s = db.stats();
    println!(
        "guest.db reopened in {:.3}s: map_sync={} flush_model={:?} keys={} recovery={:?}",
        opened.as_secs_f64(),
        s.map_sync,
        s.flush_model,
        s.keys,
        s.recovery
    );
    c.check("verify/key count after reboot", s.keys == n, || {
        format!("stats.keys={} but {n} keys were acknowledged", s.keys)
    });
    c.check("verify/map_sync after reboot", s.map_sync, || "map_sync == false".into());
    c.check("verify/flush_model after reboot", s.flush_model == FlushModel::CacheLine, || {
        format!("{:?}", s.flush_model)
    });
    let (mut ok, mut missing, mut wrong, mut errors) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..n {
        match db.get(&key(i)) {
            Ok(Some(v)) if v[..] == value(i)[..] => ok += 1,
            Ok(Some(v)) => {
                if wrong < 5 {
                    println!("  key{i:08}: wrong value {:?}", String::from_utf8_lossy(&v));
                }
                wrong += 1
            }
            Ok(None) => {
                if missing < 5 {
                    println!("  key{i:08}: missing");
                }
                missing += 1
            }
            Err(e) => {
                if errors < 5 {
                    println!("  key{i:08}: get error {e:?}");
                }
                errors += 1
            }
        }
    }
    println!("verify summary: {n} acknowledged keys: {ok} exact, {missing} missing, {wrong} wrong, {errors} errors");
    c.check("verify/every acknowledged write present and exact", ok == n, || {
        format!("{missing} missing, {wrong} wrong, {errors} errors of {n}")
    });
    // The store must still take writes after recovery.
    let probe = db.put(b"after-reboot", b"ok").and_then(|()| db.get(b"after-reboot"));
    c.check("verify/store writable after reboot", matches!(&probe, Ok(Some(v)) if v[..] == b"ok"[..]), || {
        format!("{probe:?}")
    });
    if let Err(e) = db.close() {
        c.fail("verify/close", format!("{e:?}"));
    }
}

/// One run of the benchmark: `n` durable single-key puts, returns sorted latencies.
fn bench_one(c: &mut Checks, path: &Path, model: FlushModel, n: u64) -> Option<Vec<Duration>> {
    fresh(path);
    let name = format!("bench/{model:?}");
    let opts = Options::default().durability(Durability::Immediate).flush(model);
    let db = match Db::open(path, opts) {
        Ok(db) => db,
        Err(e) => {
            c.fail(&name, format!("open {}: {e:?}", path.display()));
            return None;
        }
    };
    let s0 = db.stats();
    if !c.check(&format!("{name} flush model in effect"), s0.flush_model == model, || {
        format!("asked for {model:?}, stats say {:?}", s0.flush_model)
    }) {
        return None;
    }
    let val: Vec<u8> = (0..100u8).map(|b| b.wrapping_mul(31).wrapping_add(7)).collect();
    let k = |i: u64| format!("bk{i:014}").into_bytes(); // 16 bytes
    for i in 0..100 {
        // warm-up: first faults, first growth
        if let Err(e) = db.put(&k(1_000_000 + i), &val) {
            c.fail(&name, format!("warm-up put: {e:?}"));
            return None;
        }
    }
    let before = db.stats();
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        let key = k(i);
        let t = Instant::now();
        let r = db.put(&key, &val);
        lat.push(t.elapsed());
        if let Err(e) = r {
            c.fail(&name, format!("put {i}: {e:?}"));
            return None;
        }
    }
    let after = db.stats();
    lat.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let commits = after.commits_total - before.commits_total;
    let per = |a: u64, b: u64| (a - b) as f64 / commits.max(1) as f64;
    println!(
        "BENCH {:<9} n={n} median={:.1}us p90={:.1}us p99={:.1}us max={:.1}us commits={commits} \
         per commit: flush_bytes={:.0} line_flushes={:.1} fences={:.1} flush_syscalls={:.1}; map_sync={}",
        format!("{model:?}"),
        us(lat[lat.len() / 2]),
        us(lat[lat.len() * 9 / 10]),
        us(lat[lat.len() * 99 / 100]),
        us(lat[lat.len() - 1]),
        per(after.flush_bytes_total, before.flush_bytes_total),
        per(after.line_flushes_total, before.line_flushes_total),
        per(after.fences_total, before.fences_total),
        per(after.flush_syscalls_total, before.flush_syscalls_total),
        after.map_sync,
    );
    if let Err(e) = db.close() {
        c.fail(&name, format!("close: {e:?}"));
        return None;
    }
    Some(lat)
}

/// `bench <dir> [n]`
fn bench(c: &mut Checks, dir: &str, n: u64) {
    let dir = Path::new(dir);
    let cl = bench_one(c, &dir.join("bench-cacheline.db"), FlushModel::CacheLine, n);
    let ms = bench_one(c, &dir.join("bench-msync.db"), FlushModel::Msync, n);
    if let (Some(cl), Some(ms)) = (cl, ms) {
        let (a, b) = (cl[cl.len() / 2], ms[ms.len() / 2]);
        println!(
            "BENCH ratio msync/cacheline (median durable put) = {:.2}x  ({:.1}us / {:.1}us)",
            b.as_secs_f64() / a.as_secs_f64().max(1e-9),
            b.as_secs_f64() * 1e6,
            a.as_secs_f64() * 1e6
        );
        c.check("bench/both flush models ran", true, String::new);
    }
}

/// `control <dir>`: a non-DAX directory must not get MAP_SYNC.
fn control(c: &mut Checks, dir: &str) {
    let path = Path::new(dir).join("control.db");
    fresh(&path);
    let db = match Db::open(&path, Options::default()) {
        Ok(db) => db,
        Err(e) => return c.fail("control/open", format!("{}: {e:?}", path.display())),
    };
    let s = db.stats();
    println!("control store on a non-DAX fs: map_sync={} flush_model={:?}", s.map_sync, s.flush_model);
    c.check("control/MAP_SYNC refused off DAX", !s.map_sync, || "map_sync == true".into());
    c.check("control/Msync chosen off DAX", s.flush_model == FlushModel::Msync, || format!("{:?}", s.flush_model));
    let r = db.put(b"k", b"v").and_then(|()| db.get(b"k"));
    c.check("control/put+get", matches!(&r, Ok(Some(v)) if v[..] == b"v"[..]), || format!("{r:?}"));
    if let Err(e) = db.close() {
        c.fail("control/close", format!("{e:?}"));
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: dax_guest write <dir> <n> [--no-close] | verify <dir> <n> | bench <dir> [n] | control <dir>");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: Option<u64>| -> Option<u64> {
        match args.get(i) {
            Some(s) => s.parse().ok(),
            None => default,
        }
    };
    let mut c = Checks::default();
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("write"), Some(dir)) => match num(2, None) {
            Some(n) => write(&mut c, dir, n, !args.iter().any(|a| a == "--no-close")),
            None => return usage(),
        },
        (Some("verify"), Some(dir)) => match num(2, None) {
            Some(n) => verify(&mut c, dir, n),
            None => return usage(),
        },
        (Some("bench"), Some(dir)) => match num(2, Some(2000)) {
            Some(n) if n > 0 => bench(&mut c, dir, n),
            _ => return usage(),
        },
        (Some("control"), Some(dir)) => control(&mut c, dir),
        _ => return usage(),
    }
    println!("dax_guest {}: {} passed, {} failed", args[0], c.passed, c.failed);
    if c.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
