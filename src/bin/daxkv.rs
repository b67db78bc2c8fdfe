//! The `daxkv` command-line tool: crash campaigns, file checks, statistics.
//!
//! ```text
//! daxkv crashtest --model adr|eadr|pagecache|pagecache-folio --seeds N --ops M [--seed S] [--break BUG]
//! daxkv check <file>
//! daxkv stats <file>
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use daxkv::check::check_file;
use daxkv::sim::{run_seed, CampaignConfig, CrashModel, SeedReport};
use daxkv::Error;

fn cli() -> Command {
    let crashtest = Command::new("crashtest")
        .about("Run a crash-consistency campaign on the simulated medium")
        .arg(Arg::new("model").long("model").default_value("adr").help("adr | eadr | pagecache | pagecache-folio"))
        .arg(Arg::new("seeds").long("seeds").default_value("10").value_parser(value_parser!(u64)))
        .arg(Arg::new("ops").long("ops").default_value("100").value_parser(value_parser!(usize)))
        .arg(Arg::new("seed").long("seed").default_value("1").value_parser(value_parser!(u64)).help("first seed"))
        .arg(
            Arg::new("store-crash-every")
                .long("store-crash-every")
                .value_parser(value_parser!(u64))
                .help("also crash before every Nth store"),
        )
        .arg(
            Arg::new("cleaning-percent")
                .long("cleaning-percent")
                .default_value("35")
                .value_parser(value_parser!(u64))
                .help("percent of seeds running the cleaning profile (large values, compaction steps)"),
        )
        .arg(
            Arg::new("flush")
                .long("flush")
                .help("the store's flush model, if not the crash model's own: msync | cacheline | fence | none"),
        )
        .arg(
            Arg::new("threads")
                .long("threads")
                .value_parser(value_parser!(usize))
                .help("worker threads (default: all cores)"),
        );
    #[cfg(feature = "planted-bugs")]
    let crashtest =
        crashtest.arg(Arg::new("break").long("break").help(
            "plant a bug: skip-data-flush | fence-before-flush | commit-before-data | free-before-copies-durable | drop-tombstone-early | index-checkpoint-ahead-of-log | reuse-before-head-durable | unpinned-versions",
        ));
    Command::new("daxkv")
        .about("daxkv: an embedded key-value store for byte-addressable storage")
        .subcommand_required(true)
        .subcommand(crashtest)
        .subcommand(
            Command::new("check")
                .about("Verify every record and the superblock (read-only)")
                .arg(Arg::new("file").required(true).value_parser(value_parser!(PathBuf))),
        )
        .subcommand(
            Command::new("stats")
                .about("Print what a store holds (read-only)")
                .arg(Arg::new("file").required(true).value_parser(value_parser!(PathBuf))),
        )
        .arg(Arg::new("verbose").long("verbose").short('v').action(ArgAction::SetTrue).global(true))
}

fn main() -> ExitCode {
    let matches = cli().get_matches();
    match matches.subcommand() {
        Some(("crashtest", args)) => crashtest(args),
        Some(("check", args)) => check(args.get_one::<PathBuf>("file").expect("required"), false),
        Some(("stats", args)) => check(args.get_one::<PathBuf>("file").expect("required"), true),
        _ => unreachable!("subcommand required"),
    }
}

fn crashtest(args: &ArgMatches) -> ExitCode {
    let model_name = args.get_one::<String>("model").expect("default");
    let Some(model) = CrashModel::parse(model_name) else {
        eprintln!("unknown model {model_name:?}: adr | eadr | pagecache | pagecache-folio");
        return ExitCode::from(2);
    };
    let seeds = *args.get_one::<u64>("seeds").expect("default");
    let first = *args.get_one::<u64>("seed").expect("default");
    let mut config = CampaignConfig::new(model, *args.get_one::<usize>("ops").expect("default"));
    config.store_crash_every = args.get_one::<u64>("store-crash-every").copied();
    config.cleaning_percent = (*args.get_one::<u64>("cleaning-percent").expect("default")).min(100);
    if let Some(name) = args.get_one::<String>("flush") {
        match daxkv::sim::parse_flush_model(name) {
            Some(flush) => config.flush = Some(flush),
            None => {
                eprintln!("unknown flush model {name:?}: msync | cacheline | fence | none");
                return ExitCode::from(2);
            }
        }
    }
    #[cfg(feature = "planted-bugs")]
    if let Some(name) = args.get_one::<String>("break") {
        match daxkv::sim::PlantedBug::parse(name) {
            Some(bug) => config.planted_bug = Some(bug),
            None => {
                eprintln!("unknown bug {name:?}");
                return ExitCode::from(2);
            }
        }
    }
    let threads = args
        .get_one::<usize>("threads")
        .copied()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let progress = indicatif::ProgressBar::new(seeds);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {msg} [{elapsed_precise}]")
            .expect("valid template"),
    );
    let started = Instant::now();
    let reports = run_parallel(&config, first, seeds, threads, &progress);
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    summarize(&config, &reports, elapsed)
}

/// Runs seeds `first..first + seeds` on `threads` workers; reports come back in seed order.
fn run_parallel(
    config: &CampaignConfig,
    first: u64,
    seeds: u64,
    threads: usize,
    progress: &indicatif::ProgressBar,
) -> Vec<(u64, SeedReport)> {
    let next = std::sync::atomic::AtomicU64::new(first);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= first + seeds {
                    break;
                }
                let report = run_seed(config, seed);
                progress.inc(1);
                if !report.violations.is_empty() {
                    progress.set_message(format!("violation at seed {seed}"));
                }
                results.lock().expect("no worker panics while holding this").push((seed, report));
            });
        }
    });
    let mut results = results.into_inner().expect("workers joined");
    results.sort_by_key(|(seed, _)| *seed);
    results
}

fn summarize(config: &CampaignConfig, reports: &[(u64, SeedReport)], elapsed: f64) -> ExitCode {
    let points: u64 = reports.iter().map(|(_, r)| r.crash_points).sum();
    let images: u64 = reports.iter().map(|(_, r)| r.images).sum();
    let violations: Vec<_> = reports.iter().flat_map(|(_, r)| r.violations.iter()).collect();
    println!("model: {}, seeds: {}, ops per seed: {}", config.model.name(), reports.len(), config.ops);
    for violation in &violations {
        println!(
            "VIOLATION seed {} crash point {} (before event {}): {}",
            violation.seed, violation.crash_point, violation.event, violation.reason
        );
        println!("  image: {}", violation.image);
        println!("  replay: {}", violation.replay);
    }
    let freed: u64 = reports.iter().map(|(_, r)| r.segments_freed).sum();
    let reused: u64 = reports.iter().map(|(_, r)| r.segments_reused).sum();
    let from_checkpoint: u64 = reports.iter().map(|(_, r)| r.checkpoint_recoveries).sum();
    println!(
        "crash points: {points}, images: {images}, images/s: {:.0}, segments cleaned: {freed}, reused: {reused}, recovered from a checkpoint: {from_checkpoint}, violations: {}",
        images as f64 / elapsed.max(1e-9),
        violations.len()
    );
    if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check(path: &Path, stats_only: bool) -> ExitCode {
    match check_file(path) {
        Ok(report) => {
            let stats = &report.stats;
            let recovery = &stats.recovery;
            println!("file: {} ({} bytes, {} segments used)", path.display(), report.file_bytes, stats.segments_used);
            println!("keys: {}, key+value bytes: {}", report.keys, report.payload_bytes);
            println!("log head: offset {}", stats.log_head_offset);
            println!(
                "recovery: {} records, {} commits, {} segments scanned; clean shutdown: {}; torn tail bytes discarded: {}",
                recovery.records_scanned, recovery.commits_applied, recovery.segments_scanned, recovery.clean_shutdown, recovery.tail_bytes_zeroed
            );
            let checkpoint = match (report.checkpoint_verified, recovery.checkpoints_rejected) {
                (true, _) => {
                    format!("index checkpoint: {} keys, verified against the whole log", recovery.checkpoint_keys)
                }
                (false, 0) => "index checkpoint: none".to_string(),
                (false, rejected) => format!(
                    "index checkpoint: {rejected} not usable ({}); the whole log was read",
                    recovery.checkpoint_rejection.unwrap_or("?")
                ),
            };
            println!("{checkpoint}");
            if !stats_only {
                println!("ok: superblock and every committed record verified");
            }
            ExitCode::SUCCESS
        }
        Err(Error::Corruption { offset, reason }) => {
            println!("DAMAGED at file offset {offset}: {reason}");
            ExitCode::FAILURE
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::from(2)
        }
    }
}
