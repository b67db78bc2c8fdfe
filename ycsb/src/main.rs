//! daxkv-ycsb: a YCSB-compatible harness for daxkv and its peers.
//!
//! ```text
//! daxkv-ycsb load|run -db <engine> -P <workload file> [-P ..] [-p name=value]... [-threads N] [-s]
//! daxkv-ycsb floor -p kind=msync|pwrite [-p operationcount=N] [-p dir=..] [-p exportfile=..]
//! daxkv-ycsb counter -db <engine> [-threads N] [-p seconds=S] [-p durability=none|per-op]
//! daxkv-ycsb report <results dir> <table.md> <chart.svg>
//! daxkv-ycsb index-table load|measure|report ... (issue 13's table; see table.rs)
//! ```

mod counter;
mod engine;
mod floor;
mod gen;
mod measure;
mod props;
mod record;
mod report;
mod table;
mod workload;

use engine::Durability;
use measure::Report;
use props::Props;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage:
  daxkv-ycsb load|run -db <engine> -P <workload file> [-p name=value]... [-threads N] [-s]
  daxkv-ycsb floor -p kind=msync|pwrite [-p operationcount=N] [-p dir=DIR] [-p exportfile=F]
  daxkv-ycsb counter -db <engine> [-threads N] [-p seconds=S] [-p durability=none|per-op] [-p dir=DIR]
      (contended counter through optimistic transactions: daxkv, fjall, rocksdb, redb)
  daxkv-ycsb report <results dir> <table.md> <chart.svg>
  daxkv-ycsb index-table load|measure|report ... (issue 13's table; `index-table` alone for help)
engines: daxkv (always), lmdb, rocksdb, redb, fjall, sled (cargo features)
harness properties: dir (store directory; a temp dir by default), durability=per-op|group|none
  (default none), loaddurability (for the load `run` does on an empty store; default none),
  syncintervalms (group; default 10), verify (default true), verifyfraction (default 0.0625),
  rmwtransactions (read-modify-writes in one transaction: daxkv, fjall, rocksdb; default false),
  seed, exportfile, lmdb.mapsize, daxkv.cleaning=on|off (default on),
  daxkv.space_amplification (daxkv's max_space_amplification; default daxkv's)";

struct Args {
    cmd: String,
    db: Option<String>,
    props: Props,
    status: bool,
    rest: Vec<String>,
    /// Base names of the -P files, in order.
    files: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv[0] == "-h" || argv[0] == "--help" {
        return Err(USAGE.to_string());
    }
    let cmd = argv[0].clone();
    let mut files = Props::new();
    let mut overrides = Vec::new();
    let mut db = None;
    let mut status = false;
    let mut threads = None;
    let mut rest = Vec::new();
    let mut names = Vec::new();
    let mut i = 1;
    let need = |i: usize, flag: &str| -> Result<String, String> {
        argv.get(i + 1).cloned().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
    };
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-db" | "--db" => {
                db = Some(need(i, a)?);
                i += 1;
            }
            "-P" => {
                let f = need(i, a)?;
                files.load_file(&f)?;
                names.push(std::path::Path::new(&f).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or(f));
                i += 1;
            }
            "-p" => {
                let kv = need(i, a)?;
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("-p {kv}: expected name=value"))?;
                overrides.push((k.trim().to_string(), v.to_string()));
                i += 1;
            }
            "-threads" | "--threads" => {
                threads = Some(need(i, a)?);
                i += 1;
            }
            "-target" => {
                overrides.push(("target".into(), need(i, a)?));
                i += 1;
            }
            "-s" => status = true,
            "-load" | "-t" => {}
            _ if a.starts_with('-') => return Err(format!("unknown flag {a}\n{USAGE}")),
            _ if db.is_none() && (cmd == "load" || cmd == "run") => db = Some(a.to_string()),
            _ => rest.push(a.to_string()),
        }
        i += 1;
    }
    let mut props = files;
    for (k, v) in overrides {
        props.set(&k, &v);
    }
    if let Some(t) = threads {
        props.set("threadcount", &t);
    }
    if let Some(d) = &db {
        props.set("db", d);
    }
    Ok(Args { cmd, db, props, status, rest, files: names })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("index-table") {
        return match table::main(&argv[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ERROR: {e}");
                ExitCode::from(1)
            }
        };
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let r = match args.cmd.as_str() {
        "load" | "run" => cmd_workload(&args),
        "floor" => cmd_floor(&args),
        "counter" => match &args.db {
            Some(db) => counter::main(db, &args.props).map(|()| ExitCode::SUCCESS),
            None => Err(format!("counter: -db <engine> is required\n{USAGE}")),
        },
        "report" => {
            if args.rest.len() != 3 {
                Err(USAGE.to_string())
            } else {
                report::write(&args.rest[0], &args.rest[1], &args.rest[2])
            }
        }
        o => Err(format!("unknown command {o}\n{USAGE}")),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(1)
        }
    }
}

fn store_dir(props: &Props) -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
    match props.get("dir") {
        Some(d) => Ok((PathBuf::from(d), None)),
        None => {
            let t = tempfile::Builder::new().prefix("daxkv-ycsb-").tempdir().map_err(|e| e.to_string())?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

fn export(props: &Props, rep: &Report) -> Result<(), String> {
    if let Some(f) = props.get("exportfile") {
        std::fs::write(f, rep.json()).map_err(|e| format!("exportfile {f}: {e}"))?;
    }
    Ok(())
}

fn cmd_workload(args: &Args) -> Result<ExitCode, String> {
    let p = &args.props;
    p.report_unknown();
    let db = args.db.clone().ok_or_else(|| format!("-db <engine> is required\n{USAGE}"))?;
    let threads: usize = p.parse_or("threadcount", 1)?;
    let cfg = workload::Config::from_props(p, threads, args.status)?;
    let durability = Durability::parse(&p.str_or("durability", "none"))?;
    let load_durability = Durability::parse(&p.str_or("loaddurability", "none"))?;
    let (dir, _tmp) = store_dir(p)?;
    let is_load = args.cmd == "load";
    eprintln!(
        "daxkv-ycsb {}: db={db} dir={} threads={threads} durability={} recordcount={} operationcount={}",
        args.cmd,
        dir.display(),
        durability.name(),
        cfg.recordcount,
        cfg.operationcount
    );

    let mut rep = Report::new();
    for (k, v) in [("command", args.cmd.as_str()), ("db", db.as_str()), ("durability", durability.name())] {
        rep.push("CONFIG", k, json!(v));
    }
    rep.push("CONFIG", "workload", json!(args.files.join(",")));
    rep.push("CONFIG", "threads", json!(cfg.threads));
    rep.push("CONFIG", "recordcount", json!(cfg.recordcount));
    rep.push("CONFIG", "operationcount", json!(cfg.operationcount));
    rep.push("CONFIG", "fieldcount", json!(cfg.fieldcount));
    rep.push("CONFIG", "requestdistribution", json!(cfg.requestdistribution));
    let props_json: serde_json::Map<String, serde_json::Value> = p.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    rep.push("CONFIG", "properties", serde_json::Value::Object(props_json));

    let engine = engine::open(&db, &dir, durability, p)?;
    if cfg.rmwtransactions && !engine.has_transactions() {
        return Err(format!("rmwtransactions=true: the harness has no transactional adapter for {db} yet"));
    }
    let mut sh = workload::Shared::new(engine, cfg.clone());
    let mut failed = false;

    if is_load {
        let out = workload::run_phase(&sh, true, durability)?;
        rep.add_measurements("", out.runtime_ms, out.ops, &out.m);
        add_sync(&mut rep, &out);
        failed |= finish_checks(&sh, &out, &mut rep, "VERIFY");
    } else {
        if sh.engine.is_empty()? {
            // `run` on an empty store loads first, with loaddurability, then one sync, and
            // reopens the store with the run's durability.
            let old = sh.swap_engine(Box::new(engine::Nothing));
            old.close()?;
            let _ = sh.swap_engine(engine::open(&db, &dir, load_durability, p)?);
            let t = Instant::now();
            let out = workload::run_phase(&sh, true, load_durability)?;
            sh.engine.sync()?;
            let load_ms = t.elapsed().as_secs_f64() * 1000.0;
            let mut lrep = Report::new();
            lrep.add_measurements("LOAD-", load_ms, out.ops, &out.m);
            failed |= finish_checks(&sh, &out, &mut lrep, "LOAD-VERIFY");
            rep.lines.extend(lrep.lines);
            let old = sh.swap_engine(Box::new(engine::Nothing));
            old.close()?;
            let _ = sh.swap_engine(engine::open(&db, &dir, durability, p)?);
        }
        let out = workload::run_phase(&sh, false, durability)?;
        rep.add_measurements("", out.runtime_ms, out.ops, &out.m);
        add_sync(&mut rep, &out);
        failed |= finish_checks(&sh, &out, &mut rep, "VERIFY");
    }
    for (name, value) in sh.engine.space() {
        rep.push("SPACE", name, json!(value));
    }
    let t = Instant::now();
    let eng = sh.swap_engine(Box::new(engine::Nothing));
    eng.close()?;
    rep.push("CLEANUP", "CloseTime(ms)", json!(t.elapsed().as_millis() as u64));
    print!("{}", rep.text());
    export(p, &rep)?;
    if failed {
        eprintln!("FAILED: correctness check failed (see messages above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn add_sync(rep: &mut Report, out: &workload::Outcome) {
    if let Some(m) = &out.sync_m {
        rep.add_one("GROUP-SYNC", m, measure::COMMIT);
    }
}

/// Adds the [VERIFY] lines and prints mismatch messages; true when the phase failed.
fn finish_checks(sh: &workload::Shared, out: &workload::Outcome, rep: &mut Report, metric: &str) -> bool {
    let mism: u64 = out.m.mismatch.iter().sum();
    let errs: u64 = out.m.error.iter().sum::<u64>() + out.sync_m.as_ref().map(|m| m.error.iter().sum()).unwrap_or(0);
    rep.push(metric, "RecordsChecked", json!(sh.checked.swap(0, std::sync::atomic::Ordering::Relaxed)));
    rep.push(metric, "ContentChecked", json!(sh.content_checked.swap(0, std::sync::atomic::Ordering::Relaxed)));
    rep.push(metric, "Mismatches", json!(mism));
    rep.push(metric, "Errors", json!(errs));
    for m in sh.take_messages() {
        eprintln!("MISMATCH/ERROR: {m}");
    }
    mism > 0 || errs > 0
}

fn cmd_floor(args: &Args) -> Result<ExitCode, String> {
    let p = &args.props;
    p.report_unknown();
    let kind = p.str_or("kind", "msync");
    let ops: u64 = p.parse_or("operationcount", 2000)?;
    let size: u64 = p.parse_or("floor.filesize", 64u64 << 20)?;
    let seed: u64 = p.parse_or("seed", 0x5eed)?;
    let (dir, _tmp) = store_dir(p)?;
    let r = floor::run(&kind, &dir, ops, size, seed)?;
    let mut rep = Report::new();
    rep.push("CONFIG", "command", json!("floor"));
    rep.push("CONFIG", "db", json!(format!("floor-{kind}")));
    rep.push("CONFIG", "durability", json!("per-op"));
    rep.push("CONFIG", "threads", json!(1));
    rep.add_measurements("", r.runtime_ms, r.ops, &r.m);
    rep.push("COMMIT", "WriteBytesPerOp", json!(r.write_bytes_per_op));
    print!("{}", rep.text());
    export(p, &rep)?;
    Ok(ExitCode::SUCCESS)
}
