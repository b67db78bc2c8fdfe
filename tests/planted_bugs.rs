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

/// Holds a snapshot while every key is overwritten four times over with cleaning between;
/// returns how many keys the snapshot read back wrong (or failed to read).
fn snapshot_reads_wrong_after_cleaning(bug: Option<PlantedBug>) -> u64 {
    use daxkv::media::MemoryMedium;
    use daxkv::sim::PlantedBugs;
    use daxkv::{Db, Durability, FlushModel, Options};
    const KEYS: u64 = 1500;
    let value = |key: u64, version: u64| vec![(key * 7 + version) as u8; 3000 + (key % 5) as usize];
    let medium = MemoryMedium::new(FlushModel::Msync, 64 << 20, [7; 16], false);
    let options = Options::default().durability(Durability::Deferred).background_cleaning(false);
    let db = Db::open_with_hooks(medium, options, PlantedBugs::new(bug)).unwrap();
    for key in 0..KEYS {
        db.put(&key.to_be_bytes(), &value(key, 0)).unwrap();
    }
    let snapshot = db.snapshot();
    for version in 1..=4 {
        for key in 0..KEYS {
            db.put(&key.to_be_bytes(), &value(key, version)).unwrap();
            if key % 250 == 249 {
                db.clean().unwrap();
            }
        }
    }
    // With the pins, the snapshot's segments wait; without them, they are reused.
    assert!(bug.is_none() || db.stats().segments_reused_total > 0, "the scenario must reuse cleaned segments");
    let wrong = (0..KEYS)
        .filter(|&key| snapshot.get(&key.to_be_bytes()).ok().flatten().as_deref() != Some(&value(key, 0)[..]))
        .count();
    wrong as u64
}

#[test]
fn unpinned_versions_are_found_by_a_snapshot_held_across_cleaning() {
    // Not a crash bug: the version history's segment pins. Without them the cleaner reuses
    // segments a held snapshot still reads (tests/snapshot_cleaning.rs is the scenario).
    assert_eq!(snapshot_reads_wrong_after_cleaning(None), 0, "the protocol keeps every version");
    let wrong = snapshot_reads_wrong_after_cleaning(Some(PlantedBug::UnpinnedVersions));
    eprintln!("unpinned-versions: the held snapshot read {wrong} of 1500 keys wrong");
    assert!(wrong > 0, "unpinned versions went unnoticed");
}
