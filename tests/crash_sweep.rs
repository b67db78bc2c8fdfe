//! The bounded crash sweep: every crash model, seeded workloads, every crash point, images drawn
//! by the default strategy; zero violations allowed. Half the seeds run the cleaning profile, so
//! crash points fall inside the cleaner's copy, free and reuse steps (asserted: segments must be
//! cleaned and reused). `DAXKV_CRASH_SEEDS=N` raises the budget
//! (seeds per model) for soak runs; `DAXKV_CRASH_OPS` the operations per seed.

use daxkv::sim::{run_seed, CampaignConfig, CrashModel};

fn budget(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn sweep(model: CrashModel, first_seed: u64) {
    let seeds = budget("DAXKV_CRASH_SEEDS", 4);
    let ops = budget("DAXKV_CRASH_OPS", 60) as usize;
    let mut config = CampaignConfig::new(model, ops);
    config.store_crash_every = Some(7);
    config.cleaning_percent = 50;
    let (mut points, mut images, mut freed, mut reused) = (0, 0, 0, 0);
    for seed in first_seed..first_seed + seeds {
        let report = run_seed(&config, seed);
        points += report.crash_points;
        images += report.images;
        freed += report.segments_freed;
        reused += report.segments_reused;
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
        "{}: {seeds} seeds x {ops} ops: {points} crash points, {images} images, {freed} segments cleaned, {reused} reused, 0 violations",
        model.name()
    );
    assert!(points > 0 && images >= points, "the sweep must explore crash points");
    assert!(freed > 0 && reused > 0, "the sweep must crash inside cleaning and reuse");
}

#[test]
fn adr_sweep_finds_no_violation() {
    sweep(CrashModel::Adr, 1);
}

#[test]
fn eadr_sweep_finds_no_violation() {
    sweep(CrashModel::Eadr, 101);
}

#[test]
fn pagecache_sweep_finds_no_violation() {
    sweep(CrashModel::parse("pagecache").unwrap(), 201);
}

#[test]
fn pagecache_folio_sweep_finds_no_violation() {
    sweep(CrashModel::parse("pagecache-folio").unwrap(), 301);
}
