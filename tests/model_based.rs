//! Random operations (puts, deletes, batches, compare-and-swaps, gets, syncs) against a
//! BTreeMap model, with reopens (clean and after drop) in between.

mod common;

use std::collections::BTreeMap;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options, WriteBatch};

fn check(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>, rng: &mut Rng) {
    for (key, value) in model {
        assert_eq!(db.get(key).unwrap().as_deref(), Some(value.as_slice()));
    }
    let all: Vec<(Vec<u8>, Vec<u8>)> =
        db.iter().map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(all, expected, "full iteration");
    let reverse: Vec<Vec<u8>> = db.iter().rev().map(|item| item.unwrap().0.to_vec()).collect();
    assert_eq!(reverse, model.keys().rev().cloned().collect::<Vec<_>>(), "reverse iteration");
    for _ in 0..20 {
        let (a, b) = (key_for(rng.below(300)), key_for(rng.below(300)));
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let got: Vec<Vec<u8>> = db.range(low.clone()..high.clone()).map(|item| item.unwrap().0.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.range(low..high).map(|(k, _)| k.clone()).collect();
        assert_eq!(got, want, "range scan");
    }
    let prefix = format!("k{}", rng.below(3)).into_bytes();
    let got: Vec<Vec<u8>> = db.prefix(&prefix).map(|item| item.unwrap().0.to_vec()).collect();
    let want: Vec<Vec<u8>> = model.keys().filter(|key| key.starts_with(&prefix)).cloned().collect();
    assert_eq!(got, want, "prefix scan");
}

fn key_for(number: u64) -> Vec<u8> {
    format!("k{number:03}").into_bytes()
}

fn run(seed: u64, durability: Durability) {
    let store = temp_store();
    let mut rng = Rng::new(seed);
    let mut model = BTreeMap::new();
    let options = Options::default().durability(durability);
    let mut db = Db::open(&store.path, options.clone()).unwrap();
    for step in 0..3_000 {
        match rng.below(100) {
            0..=54 => {
                let key = key_for(rng.below(300));
                let len = [0, 1, 7, 100, 5_000, 70_000][rng.below(6) as usize];
                let value = rng.bytes(len);
                db.put(&key, &value).unwrap();
                model.insert(key, value);
            }
            55..=69 => {
                let key = key_for(rng.below(300));
                db.delete(&key).unwrap();
                model.remove(&key);
            }
            70..=84 => {
                let mut batch = WriteBatch::new();
                for _ in 0..1 + rng.below(8) {
                    let key = key_for(rng.below(300));
                    if rng.below(4) == 0 {
                        batch.delete(&key);
                        model.remove(&key);
                    } else {
                        let len = rng.below(300) as usize;
                        let value = rng.bytes(len);
                        batch.put(&key, &value);
                        model.insert(key, value);
                    }
                }
                db.write(batch).unwrap();
            }
            85..=89 => {
                // A swap from the value held (it succeeds), or from another one, or from absent.
                let key = key_for(rng.below(300));
                let held = model.get(&key).cloned();
                let expected = match rng.below(3) {
                    0 => held.clone(),
                    1 => {
                        let len = rng.below(3) as usize;
                        Some(rng.bytes(len))
                    }
                    _ => None,
                };
                let len = rng.below(200) as usize;
                let new = (rng.below(4) != 0).then(|| rng.bytes(len));
                let swapped = db.compare_and_swap(&key, expected.as_deref(), new.as_deref()).unwrap();
                assert_eq!(swapped, expected == held, "seed {seed} step {step}");
                if swapped {
                    match new {
                        Some(value) => model.insert(key, value),
                        None => model.remove(&key),
                    };
                }
            }
            90..=94 => {
                let key = key_for(rng.below(300));
                assert_eq!(
                    db.get(&key).unwrap().map(|v| v.to_vec()),
                    model.get(&key).cloned(),
                    "seed {seed} step {step}"
                );
            }
            95..=97 => db.sync().unwrap(),
            _ => {
                if rng.below(2) == 0 {
                    db.close().unwrap()
                } else {
                    drop(db)
                }
                db = Db::open(&store.path, options.clone()).unwrap();
                check(&db, &model, &mut rng);
            }
        }
    }
    check(&db, &model, &mut rng);
    db.close().unwrap();
    let db = Db::open(&store.path, options).unwrap();
    check(&db, &model, &mut rng);
    assert!(db.stats().recovery.clean_shutdown);
}

#[test]
fn random_operations_match_a_btreemap_immediate() {
    for seed in 1..=2 {
        run(seed, Durability::Immediate);
    }
}

#[test]
fn random_operations_match_a_btreemap_deferred() {
    for seed in 11..=13 {
        run(seed, Durability::Deferred);
    }
}
