//! Read-guided exploration: draw the crash images that differ in what recovery reads.
//!
//! The sampled [`Strategy`] chooses images without looking at recovery: none, all, singles,
//! pairs, prefixes, random, at most 128 per crash point. Most of those images differ only in
//! units that recovery never reads (bytes past where its scan stopped, a ring slot beyond the
//! tail it trusted), so they cannot fail differently from an image already checked.
//!
//! Jaaru's observation is that only states differing in what recovery *reads* matter. We use
//! it without instrumenting loads, by recording the byte ranges recovery reads from the medium
//! (`MemoryMedium::track_reads`, or [`SimMapping`](super::SimMapping)'s own reads):
//!
//! 1. Recover the image where no in-flight unit persists, then the one where all do; the units
//!    their reads touched are the *relevant* units. Every other in-flight unit keeps the
//!    background fate (lost), which recovery cannot tell from any other fate.
//! 2. Branch on the relevant units only, in discovery order: each alone persisted, each alone
//!    lost (all others relevant persisted), then every subset while `2^k` fits the budget, else
//!    every pair (sampled when they do not fit) and program-order prefixes; then random images
//!    whose relevant units are lost, persisted, cut at a word or sector-torn.
//! 3. Every recovery reports its reads. A unit first read under some image (recovery followed
//!    a pointer the image made valid) becomes relevant, and the next round branches on it too.
//!    Rounds stop when a round discovers nothing new, or at the per-point cap.
//!
//! For eADR (one pseudo-unit: the global store order) the same idea picks the *cuts*: two cuts
//! differ for recovery only if a store between them overlaps what recovery read, so we cut
//! just after each store that overlaps a read range (and at random words inside it).
//!
//! The sampled strategy stays available ([`Exploration::Sampled`]); the two are compared in
//! docs/crash-testing.md.

use std::collections::{BTreeMap, BTreeSet};

use super::explore::{draw, random_fate, Strategy};
use super::persistence::{CrashModel, Fate, Persistence};
use super::rng::Rng;
use crate::media::Run;

/// How crash images are chosen at each crash point.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Exploration {
    /// Today's strategy: chosen without looking at recovery (see [`Strategy`]).
    Sampled(Strategy),
    /// Branch only on the units recovery reads (see the module docs).
    ReadGuided(GuidedStrategy),
}

impl Default for Exploration {
    fn default() -> Self {
        Exploration::ReadGuided(GuidedStrategy::default())
    }
}

impl Exploration {
    /// Whether recovery's reads must be tracked.
    pub fn needs_reads(&self) -> bool {
        matches!(self, Exploration::ReadGuided(_))
    }

    /// A short name for reports: `sampled` or `read-guided`.
    pub fn name(&self) -> &'static str {
        match self {
            Exploration::Sampled(_) => "sampled",
            Exploration::ReadGuided(_) => "read-guided",
        }
    }
}

/// Budgets of the read-guided exploration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GuidedStrategy {
    /// Cap per crash point.
    pub max_images: usize,
    /// Random images per round (each relevant unit: lost, persisted, a word prefix or torn
    /// sectors).
    pub random: usize,
    /// Rounds of discovery per crash point.
    pub rounds_max: usize,
}

impl Default for GuidedStrategy {
    fn default() -> Self {
        GuidedStrategy { max_images: 128, random: 8, rounds_max: 6 }
    }
}

impl GuidedStrategy {
    /// The defaults with another per-point cap.
    pub fn with_max_images(max_images: usize) -> GuidedStrategy {
        GuidedStrategy { max_images, ..GuidedStrategy::default() }
    }
}

/// What checking one image reported back to the explorer.
#[derive(Clone, Debug, Default)]
pub struct Visit {
    /// The byte ranges recovery (and the invariant) read.
    pub reads: Vec<Run>,
    /// Stop exploring this crash point (e.g. enough violations).
    pub stop: bool,
}

/// Explores one crash point: calls `check(index, fates)` for each image, in order, with
/// `index` counting from 0 at this point. Deterministic for a given `rng` and given visits.
pub fn explore(
    model: &Persistence,
    units: &[u64],
    exploration: &Exploration,
    rng: &mut Rng,
    mut check: impl FnMut(usize, &[Fate]) -> Visit,
) {
    match exploration {
        Exploration::Sampled(strategy) => {
            for (index, fates) in draw(model, units, strategy, rng).iter().enumerate() {
                if check(index, fates).stop {
                    return;
                }
            }
        }
        Exploration::ReadGuided(strategy) => {
            if units.is_empty() {
                check(0, &[]);
            } else if model.model() == CrashModel::Eadr {
                Cuts::new(model, strategy, rng, &mut check).run();
            } else {
                Branches::new(model, units, strategy, rng, &mut check).run();
            }
        }
    }
}

/// Sorted, disjoint `[start, end)` intervals covering `reads`.
fn merge(mut reads: Vec<Run>) -> Vec<(u64, u64)> {
    reads.sort_unstable_by_key(|run| run.offset);
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for run in reads.into_iter().filter(|run| run.len > 0) {
        match merged.last_mut() {
            Some(last) if run.offset <= last.1 => last.1 = last.1.max(run.end()),
            _ => merged.push((run.offset, run.end())),
        }
    }
    merged
}

/// Whether `[start, end)` overlaps one of the merged intervals.
fn overlaps(merged: &[(u64, u64)], start: u64, end: u64) -> bool {
    let after = merged.partition_point(|interval| interval.1 <= start);
    merged.get(after).is_some_and(|interval| interval.0 < end)
}

/// Line/page/folio units: branch on the relevant ones.
struct Branches<'a, F> {
    model: &'a Persistence,
    units: &'a [u64],
    strategy: &'a GuidedStrategy,
    rng: &'a mut Rng,
    check: &'a mut F,
    /// Unit number → index in `units`.
    index_of: BTreeMap<u64, usize>,
    /// Indices of relevant units, in discovery order.
    relevant: Vec<usize>,
    is_relevant: Vec<bool>,
    seen: BTreeSet<Vec<Fate>>,
    visited: usize,
    stopped: bool,
}

impl<'a, F: FnMut(usize, &[Fate]) -> Visit> Branches<'a, F> {
    fn new(
        model: &'a Persistence,
        units: &'a [u64],
        strategy: &'a GuidedStrategy,
        rng: &'a mut Rng,
        check: &'a mut F,
    ) -> Self {
        Branches {
            model,
            units,
            strategy,
            rng,
            check,
            index_of: units.iter().enumerate().map(|(index, &unit)| (unit, index)).collect(),
            relevant: Vec::new(),
            is_relevant: vec![false; units.len()],
            seen: BTreeSet::new(),
            visited: 0,
            stopped: false,
        }
    }

    fn full(&self) -> bool {
        self.stopped || self.visited >= self.strategy.max_images
    }

    /// Checks the image `fates` (unless already seen or over budget) and learns from its
    /// reads: every in-flight unit they touch becomes relevant.
    fn visit(&mut self, fates: Vec<Fate>) {
        if self.full() || !self.seen.insert(fates.clone()) {
            return;
        }
        let visit = (self.check)(self.visited, &fates);
        self.visited += 1;
        self.stopped |= visit.stop;
        let unit_bytes = self.model.model().unit_bytes();
        for (start, end) in merge(visit.reads) {
            for (_, &index) in self.index_of.range(start / unit_bytes..end.div_ceil(unit_bytes)) {
                if !self.is_relevant[index] {
                    self.is_relevant[index] = true;
                    self.relevant.push(index);
                }
            }
        }
    }

    /// An image: `fate(i)` for the relevant unit of rank `i`, lost elsewhere.
    fn image(&self, relevant: &[usize], fate: impl Fn(usize) -> Fate) -> Vec<Fate> {
        let mut fates = vec![Fate::Lost; self.units.len()];
        for (rank, &index) in relevant.iter().enumerate() {
            fates[index] = fate(rank);
        }
        fates
    }

    fn run(mut self) {
        self.visit(vec![Fate::Lost; self.units.len()]);
        self.visit(vec![Fate::Persisted; self.units.len()]);
        let mut explored = 0;
        for _ in 0..self.strategy.rounds_max {
            if self.full() || self.relevant.len() == explored {
                break;
            }
            explored = self.relevant.len();
            self.round(self.relevant.clone());
        }
    }

    fn round(&mut self, relevant: Vec<usize>) {
        let count = relevant.len();
        for rank in 0..count {
            self.visit(self.image(&relevant, |i| if i == rank { Fate::Persisted } else { Fate::Lost }));
            self.visit(self.image(&relevant, |i| if i == rank { Fate::Lost } else { Fate::Persisted }));
        }
        let room = self.strategy.max_images.saturating_sub(self.visited + self.strategy.random);
        if count < usize::BITS as usize && (1usize << count) <= room {
            // Every subset of the relevant units, exhaustively.
            for mask in 0..1usize << count {
                self.visit(self.image(&relevant, |i| if mask >> i & 1 == 1 { Fate::Persisted } else { Fate::Lost }));
            }
        } else {
            let pairs = count * count.saturating_sub(1) / 2;
            if pairs <= room {
                for first in 0..count {
                    for second in first + 1..count {
                        let pair = |i| if i == first || i == second { Fate::Persisted } else { Fate::Lost };
                        self.visit(self.image(&relevant, pair));
                    }
                }
            } else {
                for _ in 0..room {
                    let first = self.rng.below(count as u64) as usize;
                    let second = self.rng.below(count as u64) as usize;
                    let pair = |i| if i == first || i == second { Fate::Persisted } else { Fate::Lost };
                    self.visit(self.image(&relevant, pair));
                }
            }
            let step = count.div_ceil(room.max(3) / 3).max(1);
            for cut in (1..count).step_by(step) {
                self.visit(self.image(&relevant, |i| if i < cut { Fate::Persisted } else { Fate::Lost }));
            }
        }
        for _ in 0..self.strategy.random {
            let fates: Vec<Fate> =
                relevant.iter().map(|&index| random_fate(self.model, self.units[index], self.rng)).collect();
            self.visit(self.image(&relevant, |i| fates[i]));
        }
    }
}

/// eADR: choose cuts of the global store order that recovery can tell apart.
struct Cuts<'a, F> {
    strategy: &'a GuidedStrategy,
    rng: &'a mut Rng,
    check: &'a mut F,
    /// Each pending store's byte range.
    stores: Vec<Run>,
    /// Atoms up to and including each store.
    boundaries: Vec<u64>,
    /// Stores found to overlap a read, in discovery order.
    relevant: Vec<usize>,
    is_relevant: Vec<bool>,
    seen: BTreeSet<u64>,
    visited: usize,
    stopped: bool,
}

impl<'a, F: FnMut(usize, &[Fate]) -> Visit> Cuts<'a, F> {
    fn new(model: &'a Persistence, strategy: &'a GuidedStrategy, rng: &'a mut Rng, check: &'a mut F) -> Self {
        let stores = model.pending_ranges(0);
        let count = stores.len();
        Cuts {
            strategy,
            rng,
            check,
            stores,
            boundaries: model.store_boundaries(0),
            relevant: Vec::new(),
            is_relevant: vec![false; count],
            seen: BTreeSet::new(),
            visited: 0,
            stopped: false,
        }
    }

    fn full(&self) -> bool {
        self.stopped || self.visited >= self.strategy.max_images
    }

    /// Checks the image holding the first `atoms` word pieces of the store order.
    fn visit(&mut self, atoms: u64) {
        if self.full() || !self.seen.insert(atoms) {
            return;
        }
        let visit = (self.check)(self.visited, &[Fate::Prefix(atoms)]);
        self.visited += 1;
        self.stopped |= visit.stop;
        let merged = merge(visit.reads);
        for (index, store) in self.stores.iter().enumerate() {
            if !self.is_relevant[index] && overlaps(&merged, store.offset, store.end()) {
                self.is_relevant[index] = true;
                self.relevant.push(index);
            }
        }
    }

    fn run(mut self) {
        let total = self.boundaries.last().copied().unwrap_or(0);
        self.visit(0);
        self.visit(total);
        let mut explored = 0;
        for _ in 0..self.strategy.rounds_max {
            if self.full() || self.relevant.len() == explored {
                break;
            }
            explored = self.relevant.len();
            let mut cuts: Vec<usize> = self.relevant.clone();
            cuts.sort_unstable();
            // Cut just after each relevant store (program order), sampled evenly when too many.
            let room = self.strategy.max_images.saturating_sub(self.visited + self.strategy.random).max(1);
            for &store in cuts.iter().step_by(cuts.len().div_ceil(room).max(1)) {
                self.visit(self.boundaries[store]);
            }
            // And at random words inside relevant stores.
            for _ in 0..self.strategy.random {
                let store = cuts[self.rng.below(cuts.len() as u64) as usize];
                let before = if store == 0 { 0 } else { self.boundaries[store - 1] };
                let atoms = self.boundaries[store] - before;
                let cut = before + self.rng.below(atoms + 1);
                self.visit(cut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Event;

    #[test]
    fn unread_units_are_never_branched_on() {
        let mut model = Persistence::new(CrashModel::Adr, vec![0; 64 * 64]);
        for line in 0..40u64 {
            model.apply(&Event::Store { offset: line * 64, data: vec![1; 8] });
        }
        let units = model.in_flight();
        assert_eq!(units.len(), 40);
        let mut images = Vec::new();
        let exploration = Exploration::ReadGuided(GuidedStrategy::default());
        // "Recovery" reads lines 0 and 1 only.
        explore(&model, &units, &exploration, &mut Rng::new(1), |_, fates| {
            images.push(fates.to_vec());
            Visit { reads: vec![Run { offset: 0, len: 128 }], stop: false }
        });
        // Base, all, then the 4 subsets of {0, 1} (two of them already seen) plus random duplicates.
        assert!(images.len() <= 2 + 4 + 8, "{} images", images.len());
        assert!(images.iter().skip(1).all(|fates| fates[2..].iter().all(|fate| *fate == Fate::Lost)
            || fates.iter().all(|fate| *fate == Fate::Persisted)));
        let distinct: BTreeSet<(Fate, Fate)> = images.iter().map(|fates| (fates[0], fates[1])).collect();
        assert!(distinct.contains(&(Fate::Persisted, Fate::Lost)) && distinct.contains(&(Fate::Lost, Fate::Persisted)));
    }

    #[test]
    fn a_unit_read_only_under_some_image_becomes_relevant() {
        let mut model = Persistence::new(CrashModel::Adr, vec![0; 64 * 8]);
        for line in 0..8u64 {
            model.apply(&Event::Store { offset: line * 64, data: vec![1; 8] });
        }
        let units = model.in_flight();
        let mut saw_line_five_alone = false;
        let exploration = Exploration::ReadGuided(GuidedStrategy::default());
        // Recovery reads line 0; when line 0 persisted it follows a pointer to line 5.
        explore(&model, &units, &exploration, &mut Rng::new(1), |_, fates| {
            saw_line_five_alone |= fates[5] == Fate::Persisted && fates[0] == Fate::Lost;
            let mut reads = vec![Run { offset: 0, len: 8 }];
            if fates[0] == Fate::Persisted {
                reads.push(Run { offset: 5 * 64, len: 8 });
            }
            Visit { reads, stop: false }
        });
        assert!(saw_line_five_alone, "line 5 was discovered and branched on");
    }

    #[test]
    fn eadr_cuts_only_after_read_stores() {
        let mut model = Persistence::new(CrashModel::Eadr, vec![0; 64 * 64]);
        for line in 0..50u64 {
            model.apply(&Event::Store { offset: line * 64, data: vec![1; 8] });
        }
        let units = model.in_flight();
        let mut cuts = Vec::new();
        let exploration = Exploration::ReadGuided(GuidedStrategy { random: 0, ..GuidedStrategy::default() });
        explore(&model, &units, &exploration, &mut Rng::new(1), |_, fates| {
            cuts.push(fates[0]);
            Visit { reads: vec![Run { offset: 10 * 64, len: 8 }, Run { offset: 30 * 64, len: 8 }], stop: false }
        });
        assert_eq!(cuts, vec![Fate::Prefix(0), Fate::Prefix(50), Fate::Prefix(11), Fate::Prefix(31)]);
    }
}
