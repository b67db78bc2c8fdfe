//! The tree against a `BTreeMap`, over keys kept in an arena (a slot is an arena index, as a
//! location is a record offset in the store).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{tag_of, KeySource, LeafImage, Tree, LEAF_KEYS_MAX};

/// Keys by slot: slot `i` is the i-th key ever stored (a key stored again gets a new slot).
#[derive(Default)]
struct Arena {
    keys: Mutex<Vec<&'static [u8]>>,
    /// What [`KeySource::reads_are_cold`] answers (recovery's replay sets it).
    cold: AtomicBool,
}

impl Arena {
    fn add(&self, key: &[u8]) -> u64 {
        let mut keys = self.keys.lock().unwrap();
        keys.push(Box::leak(key.to_vec().into_boxed_slice()));
        keys.len() as u64 - 1
    }
}

impl KeySource for Arena {
    fn key(&self, slot: u64) -> &[u8] {
        self.keys.lock().unwrap()[slot as usize]
    }

    fn reads_are_cold(&self) -> bool {
        self.cold.load(Ordering::Relaxed)
    }
}

/// A small deterministic generator (splitmix64): every random choice from one seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Keys that share prefixes (some longer than a node keeps), differ in length and contain zero
/// bytes: the tags' hard cases.
fn key_of(random: &mut Random, space: u64) -> Vec<u8> {
    let n = random.below(space);
    match n % 5 {
        4 => format!("a-prefix-longer-than-sixteen-bytes/{n}").into_bytes(),
        0 => format!("user{n:010}").into_bytes(),
        1 => n.to_be_bytes().to_vec(),
        2 => {
            let mut key = b"user0000".to_vec();
            key.extend(std::iter::repeat_n(0u8, (n % 5) as usize));
            key.extend_from_slice(&(n / 4).to_le_bytes()[..(n % 3) as usize]);
            key
        }
        _ => vec![b'k'; (n % 40) as usize + 1],
    }
}

fn collect_all(tree: &Tree, arena: &Arena, backward: bool) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut bound: Bound<Vec<u8>> = Bound::Unbounded;
    for _ in 0..1_000_000 {
        let mut slots = Vec::new();
        let as_ref = match &bound {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Excluded(key) => Bound::Excluded(&key[..]),
            Bound::Included(key) => Bound::Included(&key[..]),
        };
        if backward {
            tree.collect_before(as_ref, arena, &mut slots);
            slots.reverse();
        } else {
            tree.collect_after(as_ref, arena, &mut slots);
        }
        if slots.is_empty() {
            if backward {
                keys.reverse();
            }
            return keys;
        }
        keys.extend(slots.iter().map(|&slot| arena.key(slot).to_vec()));
        bound = Bound::Excluded(keys.last().unwrap().clone());
    }
    unreachable!("more leaves than keys")
}

#[test]
fn random_operations_agree_with_a_btree_map() {
    for seed in 0..6 {
        let mut random = Random(seed);
        let arena = Arena::default();
        let tree = Tree::default();
        let mut model: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let space = [50, 400, 5_000][seed as usize % 3];
        for step in 0..12_000 {
            // Odd seeds change the tree as recovery does first (splits keep prefixes), then warm.
            arena.cold.store(seed % 2 == 1 && step < 6_000, Ordering::Relaxed);
            let key = key_of(&mut random, space);
            // Phases: mostly inserts, then mostly removals (merges), then mixed.
            let remove_percent = [20, 80, 50][(step / 4_000) as usize];
            if random.below(100) < remove_percent {
                assert_eq!(tree.remove(&key, &arena), model.remove(&key), "seed {seed} step {step}");
            } else {
                let slot = arena.add(&key);
                assert_eq!(tree.set(&key, slot, &arena), model.insert(key.clone(), slot), "seed {seed} step {step}");
            }
            if step % 997 == 0 {
                assert_eq!(tree.check_invariants(&arena), model.len());
            }
            let probe = key_of(&mut random, space);
            assert_eq!(tree.get(&probe, &arena), model.get(&probe).copied());
        }
        let expected: Vec<Vec<u8>> = model.keys().cloned().collect();
        assert_eq!(collect_all(&tree, &arena, false), expected, "seed {seed}");
        assert_eq!(collect_all(&tree, &arena, true), expected, "seed {seed}");
        assert_eq!(tree.check_invariants(&arena), model.len());
    }
}

#[test]
fn a_tree_emptied_and_refilled_stays_sound() {
    let arena = Arena::default();
    let tree = Tree::default();
    let keys: Vec<Vec<u8>> = (0..(LEAF_KEYS_MAX as u32 * 70)).map(|n| n.to_be_bytes().to_vec()).collect();
    for round in 0..3 {
        for key in &keys {
            assert_eq!(tree.set(key, arena.add(key), &arena), None, "round {round}");
        }
        assert_eq!(tree.check_invariants(&arena), keys.len());
        for key in keys.iter().rev() {
            assert!(tree.remove(key, &arena).is_some());
        }
        assert_eq!(tree.check_invariants(&arena), 0);
        assert!(collect_all(&tree, &arena, false).is_empty());
    }
}

#[test]
fn collect_starts_at_the_bound_inside_a_leaf() {
    let arena = Arena::default();
    let tree = Tree::default();
    for n in (0u32..1_000).step_by(2) {
        let key = n.to_be_bytes();
        tree.set(&key, arena.add(&key), &arena);
    }
    let mut slots = Vec::new();
    tree.collect_after(Bound::Included(&501u32.to_be_bytes()), &arena, &mut slots);
    assert_eq!(arena.key(slots[0]), 502u32.to_be_bytes());
    slots.clear();
    tree.collect_after(Bound::Excluded(&502u32.to_be_bytes()), &arena, &mut slots);
    assert_eq!(arena.key(slots[0]), 504u32.to_be_bytes());
    slots.clear();
    tree.collect_before(Bound::Included(&502u32.to_be_bytes()), &arena, &mut slots);
    assert_eq!(arena.key(*slots.last().unwrap()), 502u32.to_be_bytes());
    slots.clear();
    tree.collect_before(Bound::Excluded(&0u32.to_be_bytes()), &arena, &mut slots);
    assert!(slots.is_empty());
}

/// One writer changes values, inserts and removes; readers check every get returns a value the
/// key held and every scan ascends. Values encode the key, so a reader can check them.
#[test]
fn readers_see_only_states_the_keys_held_while_one_writer_runs() {
    let arena = Arc::new(Arena::default());
    let tree = Arc::new(Tree::default());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|reader| {
            let (arena, tree, done) = (Arc::clone(&arena), Arc::clone(&tree), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut random = Random(100 + reader);
                let mut checks = 0u64;
                while !done.load(Ordering::Acquire) || checks < 1_000 {
                    let key = (random.below(3_000) as u32).to_be_bytes();
                    if let Some(slot) = tree.get(&key, &*arena) {
                        assert_eq!(arena.key(slot), key, "a get returned another key's slot");
                    }
                    let mut slots = Vec::new();
                    tree.collect_after(Bound::Included(&key), &*arena, &mut slots);
                    let keys: Vec<&[u8]> = slots.iter().map(|&slot| arena.key(slot)).collect();
                    assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "a leaf ascends");
                    assert!(keys.first().is_none_or(|first| *first >= &key[..]));
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let mut random = Random(7);
    for _ in 0..60_000 {
        let key = (random.below(3_000) as u32).to_be_bytes();
        if random.below(3) == 0 {
            tree.remove(&key, &*arena);
        } else {
            tree.set(&key, arena.add(&key), &*arena);
        }
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().expect("a reader panicked") >= 1_000);
    }
    tree.check_invariants(&*arena);
}

#[test]
fn a_tree_built_from_sorted_slots_is_the_tree_of_its_inserts() {
    for count in [0usize, 1, 47, 48, 49, 48 * 48, 48 * 48 + 1, 20_000] {
        let arena = Arena::default();
        let keys: Vec<Vec<u8>> = (0..count as u64).map(|n| format!("key{n:08}").into_bytes()).collect();
        let slots: Vec<u64> = keys.iter().map(|key| arena.add(key)).collect();
        let tree = Tree::from_sorted(&slots, &arena);
        assert_eq!(tree.check_invariants(&arena), count);
        assert_eq!(collect_all(&tree, &arena, false), keys);
        for (key, &slot) in keys.iter().zip(&slots).step_by(7) {
            assert_eq!(tree.get(key, &arena), Some(slot));
        }
        // It goes on as a tree: inserts and removals after the bulk build.
        let mut model: BTreeMap<Vec<u8>, u64> = keys.iter().cloned().zip(slots.iter().copied()).collect();
        let mut random = Random(count as u64);
        for _ in 0..2_000 {
            let key = format!("key{:08}", random.below(count as u64 + 100)).into_bytes();
            if random.below(2) == 0 {
                assert_eq!(tree.remove(&key, &arena), model.remove(&key));
            } else {
                let slot = arena.add(&key);
                assert_eq!(tree.set(&key, slot, &arena), model.insert(key, slot));
            }
        }
        assert_eq!(tree.check_invariants(&arena), model.len());
        assert_eq!(collect_all(&tree, &arena, false), model.keys().cloned().collect::<Vec<_>>());
    }
}

/// Every leaf of `tree`, exported one after another as a checkpoint does, with its bound.
fn export_all(tree: &Tree, arena: &Arena) -> Vec<(Box<[u8]>, LeafImage)> {
    let mut leaves = Vec::new();
    let mut from: Box<[u8]> = Box::default();
    for _ in 0..1_000_000 {
        let mut image = LeafImage::default();
        let next = tree.export_from(&from, arena, &mut image);
        if !image.slots.is_empty() {
            let bound = image.bound_from(&from);
            assert!(image.slots.iter().all(|&slot| bound <= arena.key(slot)), "the bound is at most every key");
            leaves.push((bound.into(), image));
        }
        match next {
            Some(next) => from = next,
            None => return leaves,
        }
    }
    unreachable!("more leaves than keys")
}

#[test]
fn a_tree_rebuilt_from_its_exported_leaves_holds_the_same_keys() {
    let mut random = Random(13);
    for operations in [0usize, 1, 300, 5_000] {
        let arena = Arena::default();
        let tree = Tree::default();
        let mut model: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for _ in 0..operations {
            let key = key_of(&mut random, 4_000);
            if random.below(4) == 0 {
                assert_eq!(tree.remove(&key, &arena), model.remove(&key));
            } else {
                let slot = arena.add(&key);
                assert_eq!(tree.set(&key, slot, &arena), model.insert(key, slot));
            }
        }
        let leaves = export_all(&tree, &arena);
        assert!(leaves.iter().all(|(_, image)| image.slots.len() <= LEAF_KEYS_MAX));
        let rebuilt = Tree::from_leaves(leaves.clone()).expect("a tree's own leaves are valid");
        assert_eq!(rebuilt.check_invariants(&arena), model.len());
        assert_eq!(collect_all(&rebuilt, &arena, false), model.keys().cloned().collect::<Vec<_>>());
        for (key, &slot) in &model {
            assert_eq!(rebuilt.get(key, &arena), Some(slot));
        }
        // Broken images are refused, not built.
        if let Some((smallest, image)) = leaves.first() {
            // A first tag below the bound's tag: the bound is above the first key.
            let mut wrong_tag = image.clone();
            let bound_tag = tag_of(smallest, image.prefix.len());
            if bound_tag > 0 {
                wrong_tag.tags[0] = bound_tag - 1;
                assert!(Tree::from_leaves(vec![(smallest.clone(), wrong_tag)]).is_err());
            }
            let mut unsorted = image.clone();
            unsorted.tags.reverse();
            if unsorted.tags.len() > 1 && unsorted.tags[0] != image.tags[0] {
                assert!(Tree::from_leaves(vec![(smallest.clone(), unsorted)]).is_err());
            }
            let mut empty = image.clone();
            empty.tags.clear();
            empty.slots.clear();
            assert!(Tree::from_leaves(vec![(smallest.clone(), empty)]).is_err());
        }
        if leaves.len() > 1 {
            let swapped = vec![leaves[1].clone(), leaves[0].clone()];
            assert!(Tree::from_leaves(swapped).is_err());
        }
    }
}
