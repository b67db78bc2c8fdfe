//! Crash campaigns: run a seeded workload on the recording medium, then replay its trace and
//! check every crash image drawn at every crash point against the oracle.
//!
//! Per seed: (1) generate and run the workload, recording the trace and the driver's commits;
//! (2) replay the trace through the persistence model; before every flush and fence (and every
//! Nth store, if asked) draw crash images with the strategy; (3) for each image: recover a store
//! from it, compare with the oracle, and for a sample of images recover again from the durable
//! state recovery left (recovery must be idempotent) and continue writing, then check again.

use super::explore::{draw, Strategy};
use super::oracle::{apply, describe, Op, Oracle, State};
use super::persistence::{CrashModel, Fate, Persistence};
use super::rng::Rng;
use crate::db::Db;
use crate::error::Error;
use crate::media::{Event, FlushModel, MemoryMedium};
use crate::options::{Durability, Options};

/// The workload store's protocol seam: planted bugs when they are compiled in.
#[cfg(feature = "planted-bugs")]
type WorkloadHooks = super::PlantedBugs;
/// The workload store's protocol seam: the protocol itself.
#[cfg(not(feature = "planted-bugs"))]
type WorkloadHooks = crate::engine::hooks::NoHooks;

/// Capacity of simulated files.
const CAPACITY_BYTES: u64 = 64 << 20;
/// Violations recorded per seed before the seed stops (one is enough to replay).
const VIOLATIONS_PER_SEED_MAX: usize = 3;

/// What a campaign runs.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    /// The crash model.
    pub model: CrashModel,
    /// Operations per seed.
    pub ops: usize,
    /// Image-drawing strategy.
    pub strategy: Strategy,
    /// Also crash before every Nth store (None: only at flushes and fences).
    pub store_crash_every: Option<u64>,
    /// One image in this many also gets the idempotence + continuation check.
    pub continue_every: u64,
    /// Percent of seeds that run the cleaning profile: large values over few keys, so segments
    /// fill and die quickly, and `Db::compact` after every third commit (crash points inside the
    /// cleaner's copy, free and reuse steps).
    pub cleaning_percent: u64,
    /// The store's flush model, when not the crash model's own ([`CrashModel::flush_model`]):
    /// e.g. the fence-only model under ADR, which must be caught.
    pub flush: Option<FlushModel>,
    /// A deliberate protocol bug to plant.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<super::PlantedBug>,
}

impl CampaignConfig {
    /// Defaults for `model` and `ops`.
    pub fn new(model: CrashModel, ops: usize) -> CampaignConfig {
        CampaignConfig {
            model,
            ops,
            strategy: Strategy::default(),
            store_crash_every: None,
            continue_every: 8,
            cleaning_percent: 35,
            flush: None,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// The flush model the workload and recovery run with.
    pub fn flush_model(&self) -> FlushModel {
        self.flush.unwrap_or(self.model.flush_model())
    }

    /// The profile of a seed, from one draw of 0..100: the cleaning profile for
    /// `cleaning_percent` of the draws, the tombstone profile for the next `TOMBSTONE_PERCENT`.
    /// A planted cleaner bug shows only when the workload cleans (a tombstone bug only when a
    /// tombstone's segment is cleaned while what it hides is still there).
    fn profile(&self, draw: u64) -> Profile {
        #[cfg(feature = "planted-bugs")]
        match self.planted_bug {
            Some(super::PlantedBug::DropTombstoneEarly) => return Profile::Tombstones,
            // A key's durable value must lie in a segment older than the head: large values.
            Some(super::PlantedBug::IndexCheckpointAheadOfLog) => return Profile::Cleaning,
            Some(bug) if bug.needs_cleaning() => return Profile::Cleaning,
            _ => {}
        }
        let cleaning = self.cleaning_percent.min(100);
        if draw < cleaning {
            Profile::Cleaning
        } else if draw < cleaning + TOMBSTONE_PERCENT {
            Profile::Tombstones
        } else {
            Profile::Mixed
        }
    }

    /// A seed's durability from one coin. Always `Deferred` for the checkpoint bug, which shows
    /// only when a checkpoint is sealed while a commit holds records (between its writes).
    fn durability(&self, immediate: bool) -> Durability {
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(super::PlantedBug::IndexCheckpointAheadOfLog) {
            return Durability::Deferred;
        }
        if immediate {
            Durability::Immediate
        } else {
            Durability::Deferred
        }
    }

    /// Whether seeds of this config that run a cleaning profile compact after `group`.
    fn compacts_after(&self, profile: Profile, group: usize) -> bool {
        profile != Profile::Mixed && group % 3 == 2
    }

    /// Whether a seed whose cleaning profile drew `coin` cleans the way the background cleaner
    /// does, with reuse soon after (see [`CleaningStep`]). Always for the reuse bug, which shows
    /// only then; never for the other planted bugs, which keep the compacting workload their
    /// measured seeds come from (and the checkpoint bug needs checkpoints, which these seeds do
    /// not take).
    /// Whether every cleaning point of a [`CleaningStep::CleanThenFill`] seed gets its fill
    /// commit, or the first only. Every one for the reuse bug, which each fill gives one more
    /// chance to show (found at seed 1, against seed 6 with one fill); the first only otherwise:
    /// each fill puts some 540 pages in flight, and their crash points would dominate the
    /// sweep's images (its run time doubled).
    fn fills_every_cleaning_point(&self) -> bool {
        #[cfg(feature = "planted-bugs")]
        if let Some(bug) = self.planted_bug {
            return bug == super::PlantedBug::ReuseBeforeHeadDurable;
        }
        false
    }

    fn cleans_with_reuse(&self, coin: bool) -> bool {
        #[cfg(feature = "planted-bugs")]
        if let Some(bug) = self.planted_bug {
            return matches!(bug, super::PlantedBug::ReuseBeforeHeadDurable | super::PlantedBug::UnpinnedVersions);
        }
        coin
    }

    fn bug_name(&self) -> Option<&'static str> {
        #[cfg(feature = "planted-bugs")]
        if let Some(bug) = self.planted_bug {
            return Some(bug.name());
        }
        None
    }

    fn workload_options(&self, durability: Durability) -> Options {
        Options::default()
            .durability(durability)
            .flush(self.flush_model())
            .max_file_bytes(CAPACITY_BYTES)
            .background_cleaning(false)
    }

    /// The protocol seam of the workload's store: the planted bug, if any.
    fn workload_hooks(&self) -> WorkloadHooks {
        #[cfg(feature = "planted-bugs")]
        return super::PlantedBugs::new(self.planted_bug);
        #[cfg(not(feature = "planted-bugs"))]
        crate::engine::hooks::NoHooks
    }

    fn recovery_options(&self) -> Options {
        Options::default().flush(self.flush_model()).max_file_bytes(CAPACITY_BYTES).background_cleaning(false)
    }
}

/// One failed check, with what it takes to replay it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The seed.
    pub seed: u64,
    /// Crash point number (in trace order).
    pub crash_point: u64,
    /// Index of the trace event the crash happened before.
    pub event: usize,
    /// The image's fates, summarised.
    pub image: String,
    /// What was wrong.
    pub reason: String,
    /// The command that replays this seed.
    pub replay: String,
}

/// Totals of one seed.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// Crash points explored.
    pub crash_points: u64,
    /// Images recovered and checked.
    pub images: u64,
    /// Failed checks.
    pub violations: Vec<Violation>,
    /// Segments the workload's cleaner freed.
    pub segments_freed: u64,
    /// Segments the workload's log reused after the cleaner freed them.
    pub segments_reused: u64,
    /// Images whose recovery used an index checkpoint (the rest read the whole log).
    pub checkpoint_recoveries: u64,
    /// Writes of the workload committed through a [`Transaction`](crate::Transaction).
    pub transactions: u64,
    /// Snapshots the workload held across at least one commit (each read back whole before it
    /// closed: a wrong version fails the workload).
    pub snapshots_held: u64,
}

/// What a seed's workload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// Small and medium values over 24 keys.
    Mixed,
    /// Large values over 4 keys, with compaction steps (see `CampaignConfig::cleaning_percent`).
    Cleaning,
    /// The cleaning profile after a prologue that fills one segment with cold values (never worth
    /// cleaning) beside the put of a key the workload later deletes: that tombstone's segment is
    /// cleaned while the put it hides is still on the media.
    Tombstones,
}

/// How a seed of a cleaning profile cleans at its compaction points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CleaningStep {
    /// `Db::compact`: it ends with two commits, so the segments it freed are reusable (their
    /// zeroed heads durable) before any write follows.
    Compact,
    /// `Db::clean`, as the background cleaner runs it: it ends with the commit that makes the
    /// Free records durable, and the cleaned segments are retired with their zeroed heads still
    /// in flight. Then a commit of its own writes [`REUSE_FILL_PUTS`] large values (more than a
    /// segment, in one batch), so the head moves to a new segment while those zeroed heads are
    /// not durable: the writer meets the reuse rule (`Space::release_retired`) at once. These
    /// seeds take no checkpoints: recovery reads the whole log, the walk that meets a stale head
    /// (recovery from a checkpoint validates only the segments from its capture on, and a
    /// cleaned segment's stale head is older than that).
    CleanThenFill,
}

/// Percent of cleaning-profile seeds that clean with [`CleaningStep::CleanThenFill`] (drawn
/// from the seed, on a stream of its own so the other draws of the seed are unchanged).
const CLEAN_THEN_FILL_PERCENT: u64 = 50;
/// Salt of that stream.
const CLEAN_THEN_FILL_SALT: u64 = 0x5EC0_F111;
/// Puts of the fill commit: 9 values of 240 to 250 KB, more than one 2 MiB segment.
const REUSE_FILL_PUTS: u64 = 9;

/// The fill commit after a `Db::clean` (deterministic from `rng`).
fn reuse_fill(rng: &mut Rng) -> Vec<Vec<Op>> {
    let batch = (0..REUSE_FILL_PUTS)
        .map(|number| {
            let len = 240_000 + rng.below(10_000) as usize;
            let fill = rng.next_u64();
            let value = (0..len).map(|i| (fill >> (i % 8 * 8)) as u8 ^ (i / 256) as u8).collect();
            Op::Put(format!("big{}", number % 4).into_bytes(), value)
        })
        .collect();
    vec![batch]
}

/// Percent of seeds, after the cleaning profile's, that run the tombstone profile.
const TOMBSTONE_PERCENT: u64 = 15;
/// The tombstone profile's cold values: together above the cleaner's utilization cap, so their
/// segment is never cleaned.
const COLD_VALUES: u64 = 8;
const COLD_VALUE_BYTES: usize = 249_000;
/// The key whose put shares the cold segment.
const HIDDEN_KEY: &[u8] = b"hidden";

/// The tombstone profile's prologue: the hidden key, then the cold values (deterministic bytes).
fn cold_prologue(durability: Durability) -> Vec<Vec<Vec<Op>>> {
    let mut ops = vec![vec![Op::Put(HIDDEN_KEY.to_vec(), b"hidden value".to_vec())]];
    ops.extend((0..COLD_VALUES).map(|number| {
        let value = (0..COLD_VALUE_BYTES).map(|i| (i as u64 ^ number) as u8).collect();
        vec![Op::Put(format!("cold{number}").into_bytes(), value)]
    }));
    match durability {
        Durability::Deferred => vec![ops],
        Durability::Immediate => ops.into_iter().map(|op| vec![op]).collect(),
    }
}

/// Runs one seed. Deterministic: the same config and seed give the same report.
pub fn run_seed(config: &CampaignConfig, seed: u64) -> SeedReport {
    let mut rng = Rng::new(seed);
    let durability = config.durability(rng.chance(50));
    let profile = config.profile(rng.below(100));
    let mut groups = if profile == Profile::Tombstones { cold_prologue(durability) } else { Vec::new() };
    let mut done = 0;
    while done < config.ops {
        let writes = if durability == Durability::Deferred { 1 + rng.below(6) } else { 1 };
        let group: Vec<Vec<Op>> = (0..writes).map(|_| random_ops_of(profile, &mut rng)).collect();
        done += group.len();
        groups.push(group);
    }
    let mut fill_rng = Rng::new(seed ^ CLEAN_THEN_FILL_SALT);
    let step = if profile != Profile::Mixed && config.cleans_with_reuse(fill_rng.below(100) < CLEAN_THEN_FILL_PERCENT) {
        CleaningStep::CleanThenFill
    } else {
        CleaningStep::Compact
    };
    // A fill commit follows the first cleaning point, or every one (`fills_every_cleaning_point`),
    // as a group of its own: one batch, so that a commit the writer runs itself before appending
    // it leaves the group atomic. Later cleaning points without one reuse what the cleaner
    // frees as any write does.
    if step == CleaningStep::CleanThenFill {
        let mut filled = Vec::with_capacity(groups.len() * 4 / 3 + 1);
        let mut fills = 0;
        for (number, group) in groups.into_iter().enumerate() {
            filled.push(group);
            if config.compacts_after(profile, number) && (fills == 0 || config.fills_every_cleaning_point()) {
                filled.push(reuse_fill(&mut fill_rng));
                fills += 1;
            }
        }
        groups = filled;
    }
    run_profile(config, seed, durability, (profile, step), &groups, rng)
}

/// Runs an explicit workload: each group is one commit (its writes, then `sync` when
/// `Deferred`; with `Immediate` groups should hold one write each, which is acknowledged by its
/// own return). `rng` draws the crash images. `seed` only labels violations.
pub fn run_workload(
    config: &CampaignConfig,
    seed: u64,
    durability: Durability,
    groups: &[Vec<Vec<Op>>],
    rng: Rng,
) -> SeedReport {
    run_profile(config, seed, durability, (Profile::Mixed, CleaningStep::Compact), groups, rng)
}

fn run_profile(
    config: &CampaignConfig,
    seed: u64,
    durability: Durability,
    profile: (Profile, CleaningStep),
    groups: &[Vec<Vec<Op>>],
    rng: Rng,
) -> SeedReport {
    let Recorded { trace, commits, stats, transactions, snapshots_held } =
        match record_workload(config, seed, durability, profile, groups) {
            Ok(recorded) => recorded,
            Err(error) => {
                let violation =
                    violation(config, seed, 0, 0, "workload".into(), format!("the workload itself failed: {error}"));
                return SeedReport { violations: vec![violation], ..SeedReport::default() };
            }
        };
    let mut replay = Replay {
        config,
        seed,
        rng,
        model: Persistence::new(config.model, Vec::new()),
        oracle: Oracle::with_writes(commits),
        report: SeedReport {
            segments_freed: stats.cleaning_segments_freed_total,
            segments_reused: stats.segments_reused_total,
            transactions,
            snapshots_held,
            ..SeedReport::default()
        },
        changed: false,
        stores: 0,
    };
    for (index, event) in trace.iter().enumerate() {
        if replay.report.violations.len() >= VIOLATIONS_PER_SEED_MAX {
            break;
        }
        let store_point = matches!(event, Event::Store { .. })
            && config.store_crash_every.is_some_and(|every| replay.stores % every == every - 1);
        if matches!(event, Event::Flush { .. } | Event::Fence) || store_point {
            replay.crash_point(index);
        }
        if matches!(event, Event::Store { .. }) {
            replay.stores += 1;
        }
        replay.changed |= !matches!(event, Event::Begin { .. } | Event::Ack { .. });
        replay.model.apply(event);
        replay.oracle.follow(event);
    }
    replay.crash_point(trace.len());
    replay.report
}

struct Replay<'a> {
    config: &'a CampaignConfig,
    seed: u64,
    rng: Rng,
    model: Persistence,
    oracle: Oracle,
    report: SeedReport,
    changed: bool,
    stores: u64,
}

impl Replay<'_> {
    /// Draws and checks the images of a crash just before event `index`.
    fn crash_point(&mut self, index: usize) {
        if !self.changed {
            return; // nothing happened since the last crash point: same images
        }
        self.changed = false;
        let point = self.report.crash_points;
        self.report.crash_points += 1;
        let units = self.model.in_flight();
        for fates in draw(&self.model, &units, &self.config.strategy, &mut self.rng) {
            self.report.images += 1;
            let deep = self.rng.below(self.config.continue_every.max(1)) == 0;
            let model = &self.model;
            let image = ImageSource::Crash(model, &units, &fates);
            let checked = check_image(self.config, &self.oracle, image, deep, &mut self.rng);
            self.report.checkpoint_recoveries += u64::from(checked == Ok(true));
            if let Err(reason) = checked {
                let summary = summarize(&fates);
                self.report.violations.push(violation(self.config, self.seed, point, index, summary, reason));
                if self.report.violations.len() >= VIOLATIONS_PER_SEED_MAX {
                    return;
                }
            }
        }
        // No settling here: under eADR only a fence makes stores durable (persistence.rs).
    }
}

fn violation(
    config: &CampaignConfig,
    seed: u64,
    crash_point: u64,
    event: usize,
    image: String,
    reason: String,
) -> Violation {
    let bug = config.bug_name().map(|name| format!(" --break {name}")).unwrap_or_default();
    let features = if bug.is_empty() { "cli" } else { "cli,planted-bugs" };
    let flush = config.flush.map(|model| format!(" --flush {}", flush_model_name(model))).unwrap_or_default();
    let replay = format!(
        "cargo run --release --features {features} --bin daxkv -- crashtest --model {} --seeds 1 --seed {seed} --ops {}{flush}{bug}",
        config.model.name(),
        config.ops
    );
    Violation { seed, crash_point, event, image, reason, replay }
}

/// The name [`parse_flush_model`] accepts.
pub fn flush_model_name(model: FlushModel) -> &'static str {
    match model {
        FlushModel::Msync => "msync",
        FlushModel::CacheLine => "cacheline",
        FlushModel::Fence => "fence",
        FlushModel::None => "none",
    }
}

/// Parses `msync`, `cacheline`, `fence`, `none`.
pub fn parse_flush_model(name: &str) -> Option<FlushModel> {
    [FlushModel::Msync, FlushModel::CacheLine, FlushModel::Fence, FlushModel::None]
        .into_iter()
        .find(|model| flush_model_name(*model) == name)
}

/// The fates of an image, summarised.
pub(super) fn summarize(fates: &[Fate]) -> String {
    let count = |wanted: fn(&Fate) -> bool| fates.iter().filter(|fate| wanted(fate)).count();
    format!(
        "{} units: {} lost, {} persisted, {} word prefixes, {} torn sectors",
        fates.len(),
        count(|f| *f == Fate::Lost),
        count(|f| *f == Fate::Persisted),
        count(|f| matches!(f, Fate::Prefix(_))),
        count(|f| matches!(f, Fate::Sectors(_)))
    )
}

/// Keys the workload draws from (few, so values are overwritten often).
fn key(rng: &mut Rng) -> Vec<u8> {
    format!("key{:02}", rng.below(24)).into_bytes()
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(100) {
        0..=69 => rng.below(200),
        70..=89 => 200 + rng.below(4800),
        90..=97 => 5000 + rng.below(15000),
        _ => 60_000 + rng.below(8000),
    } as usize;
    let fill = rng.next_u64();
    (0..len).map(|i| (fill >> (i % 8 * 8)) as u8 ^ i as u8).collect()
}

/// Values of 60 to 250 KB over 4 keys: about ten puts fill a segment, and most of it dies soon.
fn large_value(rng: &mut Rng) -> Vec<u8> {
    let len = 60_000 + rng.below(190_000) as usize;
    let fill = rng.next_u64();
    (0..len).map(|i| (fill >> (i % 8 * 8)) as u8 ^ (i / 256) as u8).collect()
}

fn random_ops_of(profile: Profile, rng: &mut Rng) -> Vec<Op> {
    if profile == Profile::Mixed {
        return random_ops(rng);
    }
    let key = |rng: &mut Rng| format!("big{}", rng.below(4)).into_bytes();
    match rng.below(10) {
        0..=7 => vec![Op::Put(key(rng), large_value(rng))],
        8 if profile == Profile::Tombstones && rng.chance(50) => vec![Op::Delete(HIDDEN_KEY.to_vec())],
        8 => vec![Op::Delete(key(rng))],
        _ => vec![Op::Put(key(rng), large_value(rng)), Op::Put(key(rng), value(rng))],
    }
}

fn random_ops(rng: &mut Rng) -> Vec<Op> {
    match rng.below(10) {
        0..=5 => vec![Op::Put(key(rng), value(rng))],
        6..=7 => vec![Op::Delete(key(rng))],
        _ => (0..2 + rng.below(4))
            .map(|_| if rng.chance(25) { Op::Delete(key(rng)) } else { Op::Put(key(rng), value(rng)) })
            .collect(),
    }
}

/// Runs `ops` as one atomic write: a put, a delete, a batch, or (for an even number of ops) a
/// transaction that reads each key before it writes it. Returns whether it was a transaction.
fn execute<H: crate::engine::hooks::ProtocolHooks>(db: &Db<MemoryMedium, H>, ops: &[Op]) -> Result<bool, Error> {
    match ops {
        [] => Ok(false),
        [Op::Put(key, value)] => db.put(key, value).map(|()| false),
        [Op::Delete(key)] => db.delete(key).map(|()| false),
        _ if ops.len() % 2 == 0 => {
            // One writer: nothing can conflict, so a Conflict fails the workload.
            let transaction = db.transaction();
            for op in ops {
                match op {
                    Op::Put(key, value) => {
                        transaction.get(key)?;
                        transaction.put(key, value)?;
                    }
                    Op::Delete(key) => {
                        transaction.get(key)?;
                        transaction.delete(key)?;
                    }
                }
            }
            transaction.commit().map(|()| true)
        }
        _ => {
            let mut batch = crate::WriteBatch::new();
            for op in ops {
                match op {
                    Op::Put(key, value) => batch.put(key, value),
                    Op::Delete(key) => batch.delete(key),
                };
            }
            db.write(batch).map(|()| false)
        }
    }
}

/// A snapshot the workload holds across commits, with the state it must read.
struct HeldSnapshot<'a, H: crate::engine::hooks::ProtocolHooks> {
    snapshot: crate::Snapshot<'a, MemoryMedium, H>,
    state: State,
}

/// A snapshot is taken after every group numbered 0 modulo this, and closed (after it is read
/// back whole) a group before the next one is taken: it stays open across compactions.
const SNAPSHOT_EVERY_GROUPS: usize = 5;

/// Reads `held` whole; an error when it does not read exactly its state.
fn check_held<H: crate::engine::hooks::ProtocolHooks>(held: HeldSnapshot<'_, H>) -> Result<(), Error> {
    let read: Result<State, Error> =
        held.snapshot.iter().map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec()))).collect();
    if read? != held.state {
        return Err(Error::Io(std::io::Error::other("a snapshot held across commits read a wrong version")));
    }
    Ok(())
}

/// What running a workload left: its trace, the oracle's commits, the store's final stats.
struct Recorded {
    trace: Vec<Event>,
    /// Per commit, its writes.
    commits: Vec<Vec<Vec<Op>>>,
    stats: crate::Stats,
    /// Writes committed through a transaction.
    transactions: u64,
    /// Snapshots held across commits and read back.
    snapshots_held: u64,
}

/// A checkpoint begins before every group numbered 1 modulo this.
const CHECKPOINT_EVERY_GROUPS: usize = 4;

/// One step of the checkpoint in progress, between two writes of a commit: export one leaf,
/// or once the export is done, seal it (its parts durable while the commit is still open).
fn advance_checkpoint<H: crate::engine::hooks::ProtocolHooks>(
    db: &Db<MemoryMedium, H>,
    task: &mut crate::engine::CheckpointTask,
) -> Result<(), Error> {
    if !task.is_exported() {
        db.checkpoint_step(task, 1)?;
    } else if !task.is_sealed() {
        db.checkpoint_seal(task)?;
    }
    Ok(())
}

/// Runs the workload on a recording medium; returns the trace and the oracle's commits.
fn record_workload(
    config: &CampaignConfig,
    seed: u64,
    durability: Durability,
    (profile, step): (Profile, CleaningStep),
    groups: &[Vec<Vec<Op>>],
) -> Result<Recorded, Error> {
    let medium = MemoryMedium::new(config.flush_model(), CAPACITY_BYTES, uuid(seed), true);
    let db = Db::open_with_hooks(medium, config.workload_options(durability), config.workload_hooks())?;
    let mut commits: Vec<Vec<Vec<Op>>> = Vec::new();
    let mut checkpoint = None;
    // With fill commits, the cleaning points are counted over the groups drawn, not the fills.
    let mut drawn = 0;
    let mut fill_next = false;
    // A fill follows the first cleaning point, or every one (see `run_seed`).
    let mut filled = false;
    let (mut transactions, mut snapshots_held, mut held) = (0, 0, None);
    let mut state = State::new();
    for (number, group) in groups.iter().enumerate() {
        let is_fill = std::mem::take(&mut fill_next);
        if number % SNAPSHOT_EVERY_GROUPS == SNAPSHOT_EVERY_GROUPS - 1 {
            if let Some(snapshot) = held.take() {
                check_held(snapshot)?;
                snapshots_held += 1;
            }
        }
        // A checkpoint begins between commits (its capture commits nothing then), is exported
        // and sealed between the writes of the next one, and published after it.
        if number % CHECKPOINT_EVERY_GROUPS == 1 && step == CleaningStep::Compact {
            checkpoint = Some(db.checkpoint_begin()?);
        }
        let number = number as u64;
        db.medium().mark(Event::Begin { commit: number });
        for (position, ops) in group.iter().enumerate() {
            transactions += u64::from(execute(&db, ops)?);
            super::oracle::apply(&mut state, ops);
            // From the second write on: the export then sees two writes of the open commit.
            if let Some(task) = checkpoint.as_mut().filter(|_| position > 0) {
                advance_checkpoint(&db, task)?;
            }
        }
        if durability == Durability::Deferred {
            db.sync()?;
        }
        db.medium().mark(Event::Ack { commit: number });
        commits.push(group.clone());
        if number % SNAPSHOT_EVERY_GROUPS as u64 == 0 {
            held = Some(HeldSnapshot { snapshot: db.snapshot(), state: state.clone() });
        }
        if let Some(mut task) = checkpoint.take() {
            while !task.is_exported() {
                db.checkpoint_step(&mut task, u64::MAX)?;
            }
            if !task.is_sealed() {
                db.checkpoint_seal(&mut task)?;
            }
            db.checkpoint_publish(task)?;
        }
        if is_fill {
            continue;
        }
        // Between commits nothing is in flight: a compaction must leave exactly the durable state.
        if config.compacts_after(profile, drawn) {
            match step {
                CleaningStep::Compact => {
                    db.compact()?;
                }
                CleaningStep::CleanThenFill => {
                    db.clean()?;
                    fill_next = !filled || config.fills_every_cleaning_point();
                    filled = true;
                }
            }
        }
        drawn += 1;
    }
    if let Some(snapshot) = held.take() {
        check_held(snapshot)?;
        snapshots_held += 1;
    }
    drop(held);
    let trace = db.medium().take_trace();
    let stats = db.stats();
    db.abandon();
    Ok(Recorded { trace, commits, stats, transactions, snapshots_held })
}

/// The seeded uuid of a workload store.
pub(super) fn uuid(seed: u64) -> [u8; 16] {
    let mut rng = Rng::new(seed ^ 0xDA7A);
    let mut uuid = [0u8; 16];
    uuid[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid
}

/// Every key and value of `db`.
fn read_state(db: &Db<MemoryMedium>) -> Result<State, String> {
    db.iter()
        .map(|item| {
            item.map(|(key, value)| (key.to_vec(), value.to_vec()))
                .map_err(|error| format!("iteration failed: {error}"))
        })
        .collect()
}

/// Where a checked image comes from: built in place from the persistence model, or given.
enum ImageSource<'a> {
    Crash(&'a Persistence, &'a [u64], &'a [Fate]),
    Bytes(&'a [u8]),
}

fn open(config: &CampaignConfig, image: &ImageSource<'_>, record: bool) -> Result<Db<MemoryMedium>, String> {
    let flush = config.flush_model();
    let medium = match image {
        ImageSource::Crash(model, units, fates) => {
            MemoryMedium::build(model.len() as u64, flush, CAPACITY_BYTES, [0; 16], record, |buffer| {
                model.image_into(units, fates, buffer)
            })
        }
        ImageSource::Bytes(bytes) => MemoryMedium::from_image(bytes, flush, CAPACITY_BYTES, [0; 16], record),
    };
    Db::open_medium(medium.map_err(|error| error.to_string())?, config.recovery_options())
        .map_err(|error| format!("recovery failed: {error}"))
}

/// The durable image left after `db` ran from `image` (its trace replayed, nothing in flight).
fn durable_after(config: &CampaignConfig, image: Vec<u8>, db: Db<MemoryMedium>) -> Vec<u8> {
    let mut model = Persistence::new(config.model, image);
    for event in db.medium().take_trace() {
        model.apply(&event);
    }
    db.abandon();
    model.durable()
}

/// Recovers `image` and checks it against the oracle; `deep` adds idempotence + continuation.
/// Returns whether the recovery used an index checkpoint.
fn check_image(
    config: &CampaignConfig,
    oracle: &Oracle,
    source: ImageSource<'_>,
    deep: bool,
    rng: &mut Rng,
) -> Result<bool, String> {
    let db = open(config, &source, deep)?;
    let from_checkpoint = db.stats().recovery.from_checkpoint;
    let recovered = read_state(&db)?;
    oracle.check(&recovered)?;
    if !deep {
        db.abandon();
        return Ok(from_checkpoint);
    }
    let start = match source {
        ImageSource::Crash(model, units, fates) => model.image(units, fates),
        ImageSource::Bytes(bytes) => bytes.to_vec(),
    };
    let image = durable_after(config, start, db);
    let db = open(config, &ImageSource::Bytes(&image), true)?;
    let again = read_state(&db)?;
    if again != recovered {
        return Err(format!("recovery is not idempotent: {}", describe(&again, &recovered)));
    }
    let mut expected = recovered;
    for _ in 0..3 {
        let ops = random_ops(rng);
        execute(&db, &ops).map_err(|error| format!("write after recovery failed: {error}"))?;
        apply(&mut expected, &ops);
    }
    let image = durable_after(config, image, db);
    let db = open(config, &ImageSource::Bytes(&image), false)?;
    let after = read_state(&db)?;
    db.abandon();
    if after != expected {
        return Err(format!("writes acknowledged after recovery were lost: {}", describe(&after, &expected)));
    }
    Ok(from_checkpoint)
}
