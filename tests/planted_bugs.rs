//! The checker's power: each deliberate protocol bug is found within a bounded number of seeds
//! under the crash model where it matters. (Feature `planted-bugs`.)

use daxkv::sim::{run_seed, CampaignConfig, CrashModel, PlantedBug};

/// Seeds tried before giving up.
const SEEDS_MAX: u64 = 20;

/// Runs seeds until the bug shows; returns (seeds needed, images checked until then).
fn find(bug: PlantedBug, model: CrashModel) -> (u64, u64) {
    let mut config = CampaignConfig::new(model, 40);
    config.planted_bug = Some(bug);
    let mut images = 0;
    for seed in 1..=SEEDS_MAX {
        let report = run_seed(&config, seed);
        images += report.images;
        if let Some(violation) = report.violations.first() {
            eprintln!(
                "{} under {}: found at seed {seed} after {images} images ({} crash points in that seed): {}\n  replay: {}",
                bug.name(),
                model.name(),
                report.crash_points,
                violation.reason,
                violation.replay
            );
            return (seed, images);
        }
    }
    panic!("{} was not found under {} within {SEEDS_MAX} seeds ({images} images)", bug.name(), model.name());
}

#[test]
fn skip_data_flush_is_found_under_adr() {
    find(PlantedBug::SkipDataFlush, CrashModel::Adr);
}

#[test]
fn skip_data_flush_is_found_under_pagecache() {
    find(PlantedBug::SkipDataFlush, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn fence_before_flush_is_found_under_adr() {
    find(PlantedBug::FenceBeforeFlush, CrashModel::Adr);
}

#[test]
fn commit_before_data_is_found_under_adr() {
    find(PlantedBug::CommitBeforeData, CrashModel::Adr);
}

#[test]
fn commit_before_data_is_found_under_pagecache() {
    find(PlantedBug::CommitBeforeData, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn free_before_copies_durable_is_found_under_adr() {
    find(PlantedBug::FreeBeforeCopiesDurable, CrashModel::Adr);
}

#[test]
fn free_before_copies_durable_is_found_under_pagecache() {
    find(PlantedBug::FreeBeforeCopiesDurable, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn drop_tombstone_early_is_found_under_adr() {
    find(PlantedBug::DropTombstoneEarly, CrashModel::Adr);
}

#[test]
fn drop_tombstone_early_is_found_under_eadr() {
    find(PlantedBug::DropTombstoneEarly, CrashModel::parse("eadr").unwrap());
}

#[test]
fn drop_tombstone_early_is_found_under_pagecache() {
    find(PlantedBug::DropTombstoneEarly, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn drop_tombstone_early_is_found_under_pagecache_folios() {
    find(PlantedBug::DropTombstoneEarly, CrashModel::parse("pagecache-folio").unwrap());
}

#[test]
fn the_same_bug_is_harmless_where_it_should_be() {
    // Fence-before-flush cannot lose data under the page-cache model: msync is synchronous.
    let mut config = CampaignConfig::new(CrashModel::parse("pagecache").unwrap(), 40);
    config.planted_bug = Some(PlantedBug::FenceBeforeFlush);
    for seed in 1..=3 {
        assert!(run_seed(&config, seed).violations.is_empty());
    }
}

#[test]
fn index_checkpoint_ahead_of_log_is_found_under_adr() {
    find(PlantedBug::IndexCheckpointAheadOfLog, CrashModel::Adr);
}

#[test]
fn index_checkpoint_ahead_of_log_is_found_under_pagecache() {
    find(PlantedBug::IndexCheckpointAheadOfLog, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn index_checkpoint_ahead_of_log_is_found_under_eadr_and_folios() {
    find(PlantedBug::IndexCheckpointAheadOfLog, CrashModel::parse("eadr").unwrap());
    find(PlantedBug::IndexCheckpointAheadOfLog, CrashModel::parse("pagecache-folio").unwrap());
}

#[test]
fn reuse_before_head_durable_is_found_under_pagecache() {
    find(PlantedBug::ReuseBeforeHeadDurable, CrashModel::parse("pagecache").unwrap());
}

#[test]
fn reuse_before_head_durable_is_found_under_adr() {
    find(PlantedBug::ReuseBeforeHeadDurable, CrashModel::Adr);
}

#[test]
fn reuse_before_head_durable_is_harmless_where_stores_persist_in_order() {
    // The reused segment's new head is stored before its records: under eADR (a prefix of the
    // store order) and with 2 MiB folios (the segment is one unit, persisting a prefix of its
    // stores) no image keeps a new record without the new head.
    let mut config = CampaignConfig::new(CrashModel::parse("eadr").unwrap(), 40);
    config.planted_bug = Some(PlantedBug::ReuseBeforeHeadDurable);
    assert!(run_seed(&config, 1).violations.is_empty());
    config.model = CrashModel::parse("pagecache-folio").unwrap();
    assert!(run_seed(&config, 1).violations.is_empty());
}
