//! What the crash-testing toolkit shares between [`check`](super::check) (a workload on daxkv)
//! and [`check_mapping`](super::check_mapping) (anyone's code on a [`SimMapping`](super::SimMapping)):
//! the configuration, the report, and the sweep.
//!
//! The sweep, per crash model and seed: the caller has recorded a trace (stores, flushes, fences,
//! growth, and `Begin`/`Ack` markers around what it acknowledges). The sweep replays it through
//! the [`Persistence`] model; **crash points** are every flush, every fence (ADR), every Nth
//! store when asked, and the end, skipping points where nothing changed since the last one. At
//! each point the [`Exploration`] chooses crash images, and the caller's checker recovers each
//! one and judges it, reporting the byte ranges recovery read (read-guided exploration learns
//! from them).
//!
//! Each crash point draws from its own generator, seeded from (seed, crash point), so the image
//! `model/seed/point/image` can be replayed alone: the sweep runs the same workload, skips every
//! other crash point, and explores that point up to that image.

use std::fmt;
use std::ops::Range;

use super::campaign::summarize;
use super::guided::{explore, Exploration, Visit};
use super::persistence::{CrashModel, Fate, Persistence};
use super::rng::Rng;
use crate::media::{Event, Run};
use crate::options::Options;

/// The environment variable that restricts a check to one image: `model/seed/point/image`.
pub const REPLAY_VARIABLE: &str = "DAXKV_SIM_REPLAY";

/// The four crash models, in the order checks run them.
pub fn all_models() -> Vec<CrashModel> {
    ["adr", "eadr", "pagecache", "pagecache-folio"].iter().filter_map(|name| CrashModel::parse(name)).collect()
}

/// One crash image, by where it was drawn: replays exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageId {
    /// The crash model.
    pub model: CrashModel,
    /// The seed of the workload.
    pub seed: u64,
    /// The crash point, counted in trace order from 0.
    pub crash_point: u64,
    /// The image at that point, counted in exploration order from 0.
    pub image: u64,
}

impl fmt::Display for ImageId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}/{}/{}", self.model.name(), self.seed, self.crash_point, self.image)
    }
}

impl ImageId {
    /// Parses `model/seed/point/image` (what [`ImageId`]'s `Display` writes).
    pub fn parse(text: &str) -> Option<ImageId> {
        let mut parts = text.trim().split('/');
        let model = CrashModel::parse(parts.next()?)?;
        let mut number = || parts.next()?.parse::<u64>().ok();
        let (seed, crash_point, image) = (number()?, number()?, number()?);
        Some(ImageId { model, seed, crash_point, image })
    }
}

/// What a check runs. Start from [`CheckConfig::new`] and adjust with the builder methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckConfig {
    /// Crash models to check under (default: all four).
    pub models: Vec<CrashModel>,
    /// Seeds: each runs the workload with its own generator (default `1..5`).
    pub seeds: Range<u64>,
    /// How images are chosen at each crash point (default: read-guided).
    pub exploration: Exploration,
    /// Also crash before every Nth store (default: only at flushes, fences and the end).
    pub store_crash_every: Option<u64>,
    /// Violations recorded per model and seed before moving on (default 1).
    pub violations_per_seed_max: usize,
    /// Check one image only (default: from `DAXKV_SIM_REPLAY`, if set).
    pub replay: Option<ImageId>,
    /// The command that reruns this check, for replay lines (default: `<the same test>`).
    pub replay_command: String,
    /// daxkv workloads: options of the store the workload drives. The flush model is the crash
    /// model's, the capacity `capacity_bytes`, and background cleaning is off (determinism).
    pub options: Options,
    /// daxkv workloads: options recovery opens each image with (same overrides).
    pub recovery_options: Options,
    /// daxkv workloads: capacity of the simulated file (default 64 MiB).
    pub capacity_bytes: u64,
    /// daxkv workloads: one image in this many (at each crash point: images 0, N, 2N, ...) is
    /// also recovered a second time, from the durable state the first recovery left, and must
    /// give the same state and pass the invariant again (recovery is idempotent). 0: never.
    /// Default 8.
    pub idempotence_every: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig::new()
    }
}

impl CheckConfig {
    /// The defaults (see the fields); `replay` is read from `DAXKV_SIM_REPLAY`.
    pub fn new() -> CheckConfig {
        CheckConfig {
            models: all_models(),
            seeds: 1..5,
            exploration: Exploration::default(),
            store_crash_every: None,
            violations_per_seed_max: 1,
            replay: std::env::var(REPLAY_VARIABLE).ok().and_then(|text| ImageId::parse(&text)),
            replay_command: "<the same test>".into(),
            options: Options::default(),
            recovery_options: Options::default(),
            capacity_bytes: 64 << 20,
            idempotence_every: 8,
        }
    }

    /// Only this crash model.
    pub fn model(mut self, model: CrashModel) -> Self {
        self.models = vec![model];
        self
    }

    /// These crash models.
    pub fn models(mut self, models: impl IntoIterator<Item = CrashModel>) -> Self {
        self.models = models.into_iter().collect();
        self
    }

    /// These seeds.
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// This exploration.
    pub fn exploration(mut self, exploration: Exploration) -> Self {
        self.exploration = exploration;
        self
    }

    /// Also crash before every `every`th store.
    pub fn store_crash_every(mut self, every: u64) -> Self {
        self.store_crash_every = Some(every.max(1));
        self
    }

    /// Violations per model and seed before moving on.
    pub fn violations_per_seed_max(mut self, count: usize) -> Self {
        self.violations_per_seed_max = count.max(1);
        self
    }

    /// Check only `image` (what a violation's replay line names).
    pub fn replaying(mut self, image: ImageId) -> Self {
        self.replay = Some(image);
        self
    }

    /// The command replay lines tell the user to rerun, e.g.
    /// `cargo test --features sim --test my_test`.
    pub fn replay_command(mut self, command: impl Into<String>) -> Self {
        self.replay_command = command.into();
        self
    }

    /// daxkv workloads: the workload's store options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// daxkv workloads: the options recovery opens each image with.
    pub fn recovery_options(mut self, options: Options) -> Self {
        self.recovery_options = options;
        self
    }

    /// daxkv workloads: check idempotence on one image in `every` (0: never).
    pub fn idempotence_every(mut self, every: u64) -> Self {
        self.idempotence_every = every;
        self
    }

    /// The model/seed pairs to run, in order (only the replayed one when replaying, if its
    /// model is one of `models`).
    pub(crate) fn runs(&self) -> Vec<(CrashModel, u64)> {
        if let Some(image) = self.replay {
            return if self.models.contains(&image.model) { vec![(image.model, image.seed)] } else { Vec::new() };
        }
        self.models.iter().flat_map(|&model| self.seeds.clone().map(move |seed| (model, seed))).collect()
    }

    fn replay_line(&self, image: ImageId) -> String {
        format!("{REPLAY_VARIABLE}={image} {}", self.replay_command)
    }
}

/// One image that failed, with what it takes to replay it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImageViolation {
    /// Where the image was drawn.
    pub image: ImageId,
    /// Index of the trace event the crash happened before (`usize::MAX`: the workload failed).
    pub event: usize,
    /// The image's fates, summarised.
    pub fates: String,
    /// What was wrong.
    pub reason: String,
    /// Images checked by this check up to and including this one.
    pub images_checked: u64,
    /// A command that reproduces exactly this image.
    pub replay: String,
}

impl fmt::Display for ImageViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "VIOLATION {} (before trace event {}): {}\n  image: {}\n  replay: {}",
            self.image, self.event, self.reason, self.fates, self.replay
        )
    }
}

/// What a check found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// Model/seed runs.
    pub runs: u64,
    /// Crash points explored.
    pub crash_points: u64,
    /// Images recovered and judged.
    pub images: u64,
    /// Failed images.
    pub violations: Vec<ImageViolation>,
}

impl CheckReport {
    /// Whether nothing failed.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Panics with the first violation (and its replay line) if there is one; for tests.
    #[track_caller]
    pub fn assert_clean(&self) -> &CheckReport {
        if let Some(violation) = self.violations.first() {
            panic!("{violation}\n({} violations in {} images)", self.violations.len(), self.images);
        }
        self
    }

    /// One line: runs, crash points, images, violations.
    pub fn summary(&self) -> String {
        format!(
            "{} runs, {} crash points, {} images, {} violations",
            self.runs,
            self.crash_points,
            self.images,
            self.violations.len()
        )
    }

    pub(crate) fn workload_failed(&mut self, config: &CheckConfig, model: CrashModel, seed: u64, reason: String) {
        let image = ImageId { model, seed, crash_point: 0, image: 0 };
        self.violations.push(ImageViolation {
            image,
            event: usize::MAX,
            fates: "none: the workload itself failed".into(),
            reason,
            images_checked: self.images,
            replay: config.replay_line(image),
        });
    }
}

/// The commit markers as of a crash point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    /// The last acknowledged label.
    pub acknowledged: Option<u64>,
    /// A label begun and not acknowledged.
    pub in_flight: Option<u64>,
}

impl Marks {
    fn follow(&mut self, event: &Event) {
        match event {
            Event::Begin { commit } => self.in_flight = Some(*commit),
            Event::Ack { commit } => {
                self.acknowledged = Some(*commit);
                self.in_flight = None;
            }
            _ => {}
        }
    }
}

/// The image of a crash: the persistence model, its in-flight units and their fates.
pub(crate) struct CrashImage<'a> {
    /// The image's number at its crash point.
    pub index: u64,
    pub model: &'a Persistence,
    pub units: &'a [u64],
    pub fates: &'a [Fate],
    pub marks: Marks,
}

impl CrashImage<'_> {
    /// Bytes of the image.
    pub fn len(&self) -> usize {
        self.model.len()
    }

    /// Writes the image into `buffer` (exactly `len` bytes).
    pub fn fill(&self, buffer: &mut [u8]) {
        self.model.image_into(self.units, self.fates, buffer)
    }

    /// The image's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.model.image(self.units, self.fates)
    }
}

/// Replays `trace` under `model`, from the durable image `initial`, and calls `check` on every image drawn (see the module docs).
/// `check` returns the verdict and the ranges read.
pub(crate) fn sweep(
    config: &CheckConfig,
    model: CrashModel,
    seed: u64,
    initial: Vec<u8>,
    trace: &[Event],
    report: &mut CheckReport,
    mut check: impl FnMut(&CrashImage<'_>) -> (Result<(), String>, Vec<Run>),
) {
    report.runs += 1;
    let replay = config.replay.filter(|image| image.model == model && image.seed == seed);
    let mut sweep = Sweep {
        config,
        model: Persistence::new(model, initial),
        seed,
        replay,
        marks: Marks::default(),
        point: 0,
        found: 0,
        report,
    };
    let (mut changed, mut stores) = (false, 0u64);
    for (index, event) in trace.iter().enumerate() {
        if sweep.found >= config.violations_per_seed_max {
            return;
        }
        let store_point = matches!(event, Event::Store { .. })
            && config.store_crash_every.is_some_and(|every| stores % every == every - 1);
        if (matches!(event, Event::Flush { .. } | Event::Fence) || store_point) && changed {
            sweep.crash_point(index, &mut check);
            changed = false;
        }
        match event {
            Event::Store { .. } => {
                stores += 1;
                changed = true;
            }
            Event::Flush { .. } | Event::Grow { .. } => changed = true,
            Event::Fence => changed |= model == CrashModel::Adr,
            Event::Begin { .. } | Event::Ack { .. } => {}
        }
        sweep.model.apply(event);
        sweep.marks.follow(event);
    }
    if changed && sweep.found < config.violations_per_seed_max {
        sweep.crash_point(trace.len(), &mut check);
    }
}

struct Sweep<'a> {
    config: &'a CheckConfig,
    model: Persistence,
    seed: u64,
    replay: Option<ImageId>,
    marks: Marks,
    point: u64,
    found: usize,
    report: &'a mut CheckReport,
}

impl Sweep<'_> {
    fn crash_point(&mut self, event: usize, check: &mut impl FnMut(&CrashImage<'_>) -> (Result<(), String>, Vec<Run>)) {
        let point = self.point;
        self.point += 1;
        let target = match self.replay {
            Some(image) if image.crash_point != point => {
                self.model.settle();
                return;
            }
            Some(image) => Some(image.image),
            None => None,
        };
        self.report.crash_points += 1;
        let units = self.model.in_flight();
        let mut rng = Rng::new(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ point);
        let guided = self.config.exploration.needs_reads();
        let (model, marks, config) = (&self.model, self.marks, self.config);
        let (report, found, seed) = (&mut *self.report, &mut self.found, self.seed);
        explore(model, &units, &config.exploration, &mut rng, |index, fates| {
            let index = index as u64;
            if target.is_some_and(|target| index > target) {
                return Visit { reads: Vec::new(), stop: true };
            }
            if target.is_some_and(|target| index < target) && !guided {
                return Visit::default(); // sampled images do not depend on earlier verdicts
            }
            report.images += 1;
            let image = CrashImage { index, model, units: &units, fates, marks };
            let (verdict, reads) = check(&image);
            let counts = target.is_none_or(|target| index == target);
            if let (Err(reason), true) = (verdict, counts) {
                let id = ImageId { model: model.model(), seed, crash_point: point, image: index };
                report.violations.push(ImageViolation {
                    image: id,
                    event,
                    fates: summarize(fates),
                    reason,
                    images_checked: report.images,
                    replay: config.replay_line(id),
                });
                *found += 1;
            }
            Visit { reads, stop: *found >= config.violations_per_seed_max }
        });
        self.model.settle();
    }
}

/// Runs `body`, turning a panic into an error message (a user's recovery may panic on a bad
/// image; that is a finding, not a crash of the checker).
pub(crate) fn catching<T>(body: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".into());
            Err(format!("recovery panicked: {message}"))
        }
    }
}
