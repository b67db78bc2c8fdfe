//! The bounded crash sweep: every crash model, seeded workloads, every crash point, images drawn
//! by the default strategy; zero violations allowed. Half the seeds run the cleaning profile, so
//! crash points fall inside the cleaner's copy, free and reuse steps (asserted: segments must be
//! cleaned and reused). `DAXKV_CRASH_SEEDS=N` raises the budget
//! (seeds per model) for soak runs; `DAXKV_CRASH_OPS` the operations per seed.

use daxkv::sim::{run_seed, CampaignConfig, CrashModel};
use daxkv::FlushModel;

fn budget(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn sweep(model: CrashModel, first_seed: u64) {
    sweep_with(model, None, first_seed);
}

fn sweep_with(model: CrashModel, flush: Option<FlushModel>, first_seed: u64) {
    let seeds = budget("DAXKV_CRASH_SEEDS", 4);
    let ops = budget("DAXKV_CRASH_OPS", 60) as usize;
    let mut config = CampaignConfig::new(model, ops);
    config.flush = flush;
    config.store_crash_every = Some(7);
    config.cleaning_percent = 50;
    let (mut points, mut images, mut freed, mut reused) = (0, 0, 0, 0);
    let (mut transactions, mut snapshots) = (0, 0);
    for seed in first_seed..first_seed + seeds {
        let report = run_seed(&config, seed);
        points += report.crash_points;
        images += report.images;
        freed += report.segments_freed;
        reused += report.segments_reused;
        transactions += report.transactions;
        snapshots += report.snapshots_held;
        if let Some(violation) = report.violations.first() {
            panic!(
                "{} violation at seed {seed}, crash point {}: {}\n  image: {}\n  replay: {}",
                model.name(),
                violation.crash_point,
                violation.reason,
                violation.image,
                violation.replay
            );
        }
    }
    eprintln!(
        "{}: {seeds} seeds x {ops} ops: {points} crash points, {images} images, {freed} segments cleaned, {reused} reused, {transactions} transactions, {snapshots} snapshots held, 0 violations",
        model.name()
    );
    assert!(transactions > 0 && snapshots > 0, "the sweep must commit transactions and hold snapshots");
    assert!(points > 0 && images >= points, "the sweep must explore crash points");
    assert!(freed > 0 && reused > 0, "the sweep must crash inside cleaning and reuse");
}

#[test]
fn adr_sweep_finds_no_violation() {
    sweep(CrashModel::Adr, 1);
}

#[test]
fn eadr_sweep_finds_no_violation() {
    assert_eq!(CrashModel::Eadr.flush_model(), FlushModel::Fence, "eADR runs the fence-only model");
    sweep(CrashModel::Eadr, 101);
}

#[test]
fn eadr_sweep_with_cache_line_flushes_finds_no_violation() {
    sweep_with(CrashModel::Eadr, Some(FlushModel::CacheLine), 151);
}

/// Runs seeds until one shows a violation; returns its reason.
fn first_violation(model: CrashModel, flush: FlushModel) -> String {
    let mut config = CampaignConfig::new(model, 30);
    config.flush = Some(flush);
    config.cleaning_percent = 0;
    for seed in 1..=5 {
        if let Some(violation) = run_seed(&config, seed).violations.into_iter().next() {
            assert!(violation.replay.contains("--flush"), "the replay names the flush model: {}", violation.replay);
            return violation.reason;
        }
    }
    panic!("{} with {flush:?}: no violation in 5 seeds", model.name());
}

#[test]
fn the_fence_only_model_under_adr_is_caught() {
    // Without flushes, a fence makes nothing durable on an ADR platform: acknowledged commits
    // are lost. The check tells the two platforms apart.
    let reason = first_violation(CrashModel::Adr, FlushModel::Fence);
    eprintln!("fence-only under ADR: {reason}");
}

#[test]
fn no_fence_under_eadr_is_caught() {
    // eADR makes stores durable only at a fence: a store that acknowledges commits without one
    // (the None model) loses them.
    let reason = first_violation(CrashModel::Eadr, FlushModel::None);
    eprintln!("no fence under eADR: {reason}");
}

#[test]
fn pagecache_sweep_finds_no_violation() {
    sweep(CrashModel::parse("pagecache").unwrap(), 201);
}

#[test]
fn pagecache_folio_sweep_finds_no_violation() {
    sweep(CrashModel::parse("pagecache-folio").unwrap(), 301);
}
