//! Sampled vs read-guided exploration, in one run: images per second, and planted bugs found
//! per 1,000 images (daxkv's own planted bugs, and the ring buffer's missing fence and flush).
//!
//! `cargo run --release --features planted-bugs --example exploration_gain`
//!
//! For every (bug, model) pair where the bug matters, each strategy searches `SEARCHES` times,
//! from seeds 1, 11, 21, ...: it checks seed after seed (at most `SEEDS_MAX`) until the first
//! violation; "images to find" counts every image checked until then. Bugs per 1,000 images = bugs found / images spent finding them × 1,000.
//! Images per second are measured on the same workloads without a bug (nothing stops early),
//! the two strategies alternating seed by seed.
//! Exits non-zero if a strategy misses a bug.

#[path = "support/ring.rs"]
mod ring;

use std::process::ExitCode;
use std::time::Instant;

use daxkv::sim::{
    check_mapping, check_with_hooks, exact_state, CheckConfig, CheckReport, CrashModel, Exploration, GuidedStrategy,
    PlantedBug, PlantedBugs, Rng, Session, Strategy,
};
use daxkv::{Durability, Error, Options, ProtocolHooks};
use ring::{judge, run, schedule, Protocol, MAPPING_BYTES};

const SEEDS_MAX: u64 = 10;
/// Searches per bug and strategy, starting at seeds 1, 1 + SEEDS_MAX, 1 + 2 SEEDS_MAX, ...
const SEARCHES: u64 = 5;
const GROUPS: u64 = 16;

/// A campaign-like workload: groups of 1-4 writes committed together (Deferred + sync), over
/// 24 keys with mixed value sizes; or, when `cleaning`, large values over 4 keys with a
/// compaction after every third commit.
fn workload<H: ProtocolHooks>(session: &mut Session<'_, H>, cleaning: bool) -> Result<(), Error> {
    for group in 0..GROUPS {
        let writes = 1 + session.rng().below(4);
        let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..writes)
            .map(|_| {
                let rng = session.rng();
                let key = if cleaning { format!("big{}", rng.below(4)) } else { format!("key{:02}", rng.below(24)) };
                let len = match (cleaning, rng.below(10)) {
                    (true, _) => 60_000 + rng.below(190_000),
                    (false, 0..=6) => rng.below(200),
                    (false, 7..=8) => 200 + rng.below(4800),
                    (false, _) => 5_000 + rng.below(15_000),
                } as usize;
                let fill = rng.next_u64() as u8;
                let value = (!rng.chance(15)).then(|| (0..len).map(|i| fill ^ (i as u8)).collect());
                (key.into_bytes(), value)
            })
            .collect();
        session.commit(|db| {
            for (key, value) in &ops {
                match value {
                    Some(value) => db.put(key, value)?,
                    None => db.delete(key)?,
                }
            }
            Ok(())
        })?;
        if cleaning && group % 3 == 2 {
            session.db().compact()?;
        }
    }
    Ok(())
}

/// A target: something that can be checked at one seed.
#[derive(Clone, Copy)]
enum Target {
    Daxkv(Option<PlantedBug>, CrashModel),
    Ring(Protocol, CrashModel),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Daxkv(Some(bug), model) => format!("daxkv {} / {}", bug.name(), model.name()),
            Target::Daxkv(None, model) => format!("daxkv (no bug) / {}", model.name()),
            Target::Ring(protocol, model) => format!("ring {protocol:?} / {}", model.name()),
        }
    }

    fn check(&self, exploration: &Exploration, seed: u64) -> CheckReport {
        match *self {
            Target::Daxkv(bug, model) => {
                let cleaning = bug.is_some_and(|bug| bug.needs_cleaning()) || (bug.is_none() && seed % 2 == 0);
                let config = CheckConfig::new()
                    .model(model)
                    .seeds(seed..seed + 1)
                    .exploration(exploration.clone())
                    .options(Options::default().durability(Durability::Deferred));
                let hooks = || PlantedBugs::new(bug);
                check_with_hooks(&config, hooks, |session| workload(session, cleaning), exact_state)
            }
            Target::Ring(protocol, model) => {
                let config = CheckConfig::new().model(model).seeds(seed..seed + 1).exploration(exploration.clone());
                check_mapping(
                    &config,
                    MAPPING_BYTES,
                    |mapping, rng| run(mapping, protocol, &schedule(rng)),
                    |mapping, crash| judge(mapping, crash, &schedule(&mut Rng::new(crash.seed))),
                )
            }
        }
    }
}

/// Images until the first violation from seed `start` on (None: not found within `SEEDS_MAX`
/// seeds), and images spent.
fn images_to_find(target: Target, exploration: &Exploration, start: u64) -> (Option<u64>, u64) {
    let mut spent = 0;
    for seed in start..start + SEEDS_MAX {
        let report = target.check(exploration, seed);
        if let Some(violation) = report.violations.first() {
            return (Some(spent + violation.images_checked), spent + violation.images_checked);
        }
        spent += report.images;
    }
    (None, spent)
}

/// Images per second of each exploration over `seeds` seeds of each target, the strategies
/// alternating seed by seed (so a change in the machine's load hits both alike).
fn throughput(targets: &[Target], explorations: &[Exploration], seeds: u64) -> Vec<(u64, f64)> {
    let mut totals = vec![(0u64, 0f64); explorations.len()];
    for target in targets {
        for seed in 1..=seeds {
            for (total, exploration) in totals.iter_mut().zip(explorations) {
                let started = Instant::now();
                total.0 += target.check(exploration, seed).images;
                total.1 += started.elapsed().as_secs_f64();
            }
        }
    }
    totals.into_iter().map(|(images, seconds)| (images, images as f64 / seconds.max(1e-9))).collect()
}

fn main() -> ExitCode {
    let adr = CrashModel::Adr;
    let pagecache = CrashModel::parse("pagecache").expect("known");
    let bugs = [
        Target::Daxkv(Some(PlantedBug::SkipDataFlush), adr),
        Target::Daxkv(Some(PlantedBug::SkipDataFlush), pagecache),
        Target::Daxkv(Some(PlantedBug::FenceBeforeFlush), adr),
        Target::Daxkv(Some(PlantedBug::CommitBeforeData), adr),
        Target::Daxkv(Some(PlantedBug::CommitBeforeData), pagecache),
        Target::Daxkv(Some(PlantedBug::FreeBeforeCopiesDurable), adr),
        Target::Daxkv(Some(PlantedBug::FreeBeforeCopiesDurable), pagecache),
        Target::Ring(Protocol::MissingFence, adr),
        Target::Ring(Protocol::MissingFlush, adr),
        Target::Ring(Protocol::MissingFlush, pagecache),
    ];
    let explorations = [Exploration::Sampled(Strategy::default()), Exploration::ReadGuided(GuidedStrategy::default())];
    let mut missed = 0;
    println!(
        "| target | {} images to find (mean of {SEARCHES} searches) | {} images to find |",
        explorations[0].name(),
        explorations[1].name()
    );
    println!("|---|---|---|");
    // Per strategy: (daxkv found, daxkv spent, ring found, ring spent).
    let mut totals = [(0u64, 0u64, 0u64, 0u64); 2];
    for target in bugs {
        let mut cells = Vec::new();
        for (index, exploration) in explorations.iter().enumerate() {
            let (mut finds, mut spent) = (0u64, 0u64);
            for search in 0..SEARCHES {
                let (found, images) = images_to_find(target, exploration, 1 + search * SEEDS_MAX);
                finds += u64::from(found.is_some());
                spent += images;
            }
            let total = &mut totals[index];
            if matches!(target, Target::Daxkv(..)) {
                total.0 += finds;
                total.1 += spent;
            } else {
                total.2 += finds;
                total.3 += spent;
            }
            missed += usize::from(finds < SEARCHES);
            cells.push(if finds == SEARCHES {
                format!("{:.1}", spent as f64 / SEARCHES as f64)
            } else {
                format!("found in {finds} of {SEARCHES} searches ({spent} images)")
            });
        }
        println!("| {} | {} | {} |", target.name(), cells[0], cells[1]);
    }
    println!();
    println!("| strategy | daxkv bugs found (images spent) | daxkv bugs per 1,000 images | daxkv images/s | ring bugs found (images spent) | ring bugs per 1,000 images | ring images/s |");
    println!("|---|---|---|---|---|---|---|");
    let daxkv_rates = throughput(&[Target::Daxkv(None, adr), Target::Daxkv(None, pagecache)], &explorations, 4);
    let ring_rates = throughput(&[Target::Ring(Protocol::Correct, adr)], &explorations, 20);
    for (index, exploration) in explorations.iter().enumerate() {
        let (daxkv_found, daxkv_spent, ring_found, ring_spent) = totals[index];
        let per_thousand = |found: u64, spent: u64| found as f64 * 1000.0 / spent.max(1) as f64;
        let (daxkv_rate, ring_rate) = (daxkv_rates[index].1, ring_rates[index].1);
        println!(
            "| {} | {daxkv_found} of {} ({daxkv_spent}) | {:.1} | {daxkv_rate:.0} | {ring_found} of {} ({ring_spent}) | {:.0} | {ring_rate:.0} |",
            exploration.name(),
            7 * SEARCHES,
            per_thousand(daxkv_found, daxkv_spent),
            3 * SEARCHES,
            per_thousand(ring_found, ring_spent),
        );
    }
    if missed == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{missed} (strategy, bug) pairs missed");
        ExitCode::FAILURE
    }
}
