//! Which crash images to draw at a crash point.

use std::collections::BTreeSet;

use super::persistence::{Fate, Persistence};
use super::rng::Rng;

/// Image-drawing strategy; every enabled kind contributes, duplicates are dropped, and at most
/// `max_images` are drawn per crash point.
#[derive(Clone, Debug)]
pub struct Strategy {
    /// No in-flight unit persists.
    pub none: bool,
    /// Every in-flight unit persists.
    pub all: bool,
    /// Every subset of at most this many units persists (alone), up to 2: exhaustive while the
    /// units (singletons) or pairs fit in `max_images`, sampled beyond (singletons: evenly
    /// spaced over all units from a seeded offset).
    pub subsets_up_to: usize,
    /// The first k units in program order persist, for every k (eADR: every store boundary).
    pub prefixes: bool,
    /// This many random images (each unit: lost, persisted, a word prefix or torn sectors).
    pub random: usize,
    /// Cap per crash point.
    pub max_images: usize,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy { none: true, all: true, subsets_up_to: 2, prefixes: true, random: 8, max_images: 128 }
    }
}

/// The fate vectors to check for the in-flight `units` of `model`.
pub fn draw(model: &Persistence, units: &[u64], strategy: &Strategy, rng: &mut Rng) -> Vec<Vec<Fate>> {
    let count = units.len();
    let mut drawn: BTreeSet<Vec<Fate>> = BTreeSet::new();
    let mut ordered = Vec::new();
    let mut push = |fates: Vec<Fate>, ordered: &mut Vec<Vec<Fate>>| {
        if ordered.len() < strategy.max_images && drawn.insert(fates.clone()) {
            ordered.push(fates);
        }
    };
    if count == 0 {
        return vec![Vec::new()];
    }
    if strategy.none {
        push(vec![Fate::Lost; count], &mut ordered);
    }
    if strategy.all {
        push(vec![Fate::Persisted; count], &mut ordered);
    }
    if strategy.prefixes {
        if count == 1 {
            // One unit (always the case for eADR): cut at every store boundary, sampled evenly.
            let boundaries = model.store_boundaries(units[0]);
            let step = boundaries.len().div_ceil(strategy.max_images / 3).max(1);
            for &atoms in boundaries.iter().step_by(step) {
                push(vec![Fate::Prefix(atoms)], &mut ordered);
            }
        } else {
            let step = count.div_ceil(strategy.max_images / 3).max(1);
            for k in (1..count).step_by(step) {
                push((0..count).map(|i| if i < k { Fate::Persisted } else { Fate::Lost }).collect(), &mut ordered);
            }
        }
    }
    if strategy.subsets_up_to >= 1 && count > 1 {
        let single = |i: usize| (0..count).map(|j| if j == i { Fate::Persisted } else { Fate::Lost }).collect();
        if count <= strategy.max_images {
            for i in 0..count {
                push(single(i), &mut ordered);
            }
        } else {
            // More units than images: singletons evenly spaced over all of them from a seeded
            // offset, not the first ones only (a writeback of a whole segment would otherwise
            // never persist one of its later pages alone, e.g. new records without their head).
            let room = strategy.max_images.saturating_sub(ordered.len() + strategy.random).max(1);
            let step = count.div_ceil(room);
            for i in (rng.below(step as u64) as usize..count).step_by(step) {
                push(single(i), &mut ordered);
            }
        }
    }
    if strategy.subsets_up_to >= 2 && count > 2 {
        let pairs = count * (count - 1) / 2;
        let room = strategy.max_images.saturating_sub(ordered.len() + strategy.random);
        if pairs <= room {
            // Every pair, exhaustively.
            for i in 0..count {
                for j in i + 1..count {
                    push(
                        (0..count).map(|k| if k == i || k == j { Fate::Persisted } else { Fate::Lost }).collect(),
                        &mut ordered,
                    );
                }
            }
        } else {
            // Too many units: sample pairs (seeded).
            for _ in 0..room * 2 {
                let (i, j) = (rng.below(count as u64) as usize, rng.below(count as u64) as usize);
                if i != j {
                    push(
                        (0..count).map(|k| if k == i || k == j { Fate::Persisted } else { Fate::Lost }).collect(),
                        &mut ordered,
                    );
                }
            }
        }
    }
    for _ in 0..strategy.random {
        let fates = units.iter().map(|&unit| random_fate(model, unit, rng)).collect();
        push(fates, &mut ordered);
    }
    ordered
}

/// A random fate for `unit`: lost, persisted, a word prefix, or (where the model tears sectors) some sectors.
pub(super) fn random_fate(model: &Persistence, unit: u64, rng: &mut Rng) -> Fate {
    match rng.below(4) {
        0 => Fate::Lost,
        1 => Fate::Persisted,
        2 => Fate::Prefix(rng.below(model.atoms(unit) + 1)),
        _ => match model.sectors() {
            0 => Fate::Prefix(rng.below(model.atoms(unit) + 1)),
            sectors => Fate::Sectors(rng.next_u64() & (u64::MAX >> (64 - sectors))),
        },
    }
}
