//! The simulated mapping for anyone's code: the ring buffer of examples/support/ring.rs with
//! each planted bug is caught exactly under the crash models where the bug matters, by both
//! explorations, and the fixed ring passes under all four. (What the two ring_buffer examples
//! print, proven in CI.)

#[path = "../examples/support/ring.rs"]
mod ring;

use daxkv::sim::{
    all_models, check_mapping, CheckConfig, CheckReport, CrashModel, Exploration, GuidedStrategy, Rng, SimMapping,
    Strategy,
};
use ring::{judge, run, schedule, Protocol, Ring, MAPPING_BYTES};

fn check_ring(protocol: Protocol, config: &CheckConfig) -> CheckReport {
    check_mapping(
        config,
        MAPPING_BYTES,
        |mapping, rng| run(mapping, protocol, &schedule(rng)),
        |mapping, crash| judge(mapping, crash, &schedule(&mut Rng::new(crash.seed))),
    )
}

fn explorations() -> [Exploration; 2] {
    [Exploration::ReadGuided(GuidedStrategy::default()), Exploration::Sampled(Strategy::default())]
}

/// Which of the four models find `protocol`'s bug.
fn found_under(protocol: Protocol, exploration: &Exploration) -> Vec<&'static str> {
    all_models()
        .into_iter()
        .filter(|&model| {
            let config = CheckConfig::new().model(model).seeds(1..5).exploration(exploration.clone());
            !check_ring(protocol, &config).is_clean()
        })
        .map(|model| model.name())
        .collect()
}

#[test]
fn a_missing_fence_is_found_under_adr_only() {
    for exploration in explorations() {
        assert_eq!(found_under(Protocol::MissingFence, &exploration), ["adr"], "{}", exploration.name());
    }
}

#[test]
fn a_missing_flush_is_found_under_adr_and_pages() {
    for exploration in explorations() {
        assert_eq!(found_under(Protocol::MissingFlush, &exploration), ["adr", "pagecache"], "{}", exploration.name());
    }
}

#[test]
fn the_fixed_ring_passes_under_every_model() {
    for exploration in explorations() {
        let config = CheckConfig::new().seeds(1..5).store_crash_every(1).exploration(exploration);
        let report = check_ring(Protocol::Correct, &config);
        report.assert_clean();
        assert!(report.crash_points > 1000 && report.images > report.crash_points, "{}", report.summary());
    }
}

#[test]
fn a_violation_replays_alone() {
    let config = CheckConfig::new().model(CrashModel::Adr).seeds(3..4).violations_per_seed_max(5);
    let report = check_ring(Protocol::MissingFence, &config);
    assert!(report.violations.len() >= 2, "{}", report.summary());
    for violation in &report.violations {
        let replayed = check_ring(Protocol::MissingFence, &config.clone().replaying(violation.image));
        assert_eq!(replayed.violations.len(), 1, "{}", violation.image);
        assert_eq!(replayed.violations[0].reason, violation.reason);
    }
}

#[test]
fn the_mapping_records_what_the_models_need() {
    let mut mapping = SimMapping::new(8192);
    mapping.write(4096, b"payload");
    mapping.store_u64(0, 7);
    mapping.persist(0, 8);
    assert_eq!(mapping.load_u64(0), 7);
    assert_eq!(mapping.trace().len(), 4, "two stores, a flush and a fence");
    // A recovered ring reads only its header while empty: read-guided exploration relies on it.
    let recovered = SimMapping::from_image(vec![0; MAPPING_BYTES]);
    assert!(Ring::recover(&recovered).unwrap().entries.is_empty());
    let reads = recovered.take_reads();
    assert!(reads.iter().all(|run| run.end() <= 64), "{reads:?}");
}
