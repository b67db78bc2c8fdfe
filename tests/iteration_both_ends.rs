//! Iterators that take from both ends at once, over ranges spanning many index leaves, agree
//! with a `BTreeMap`'s, item for item, while the store is changed between iterations.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Options};

fn key(n: u64) -> Vec<u8> {
    format!("key{:06}", n).into_bytes()
}

fn bound(rng: &mut Rng, keys: u64) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng.below(keys + 10))),
        _ => Bound::Excluded(key(rng.below(keys + 10))),
    }
}

#[test]
fn interleaved_front_and_back_iteration_matches_a_btree_map() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng::new(41);
    let keys = 3_000;
    for round in 0..40 {
        for _ in 0..400 {
            let n = rng.below(keys);
            if rng.below(4) == 0 {
                db.delete(&key(n)).unwrap();
                model.remove(&key(n));
            } else {
                let value = format!("v{n}.{round}").into_bytes();
                db.put(&key(n), &value).unwrap();
                model.insert(key(n), value);
            }
        }
        let (low, high) = (bound(&mut rng, keys), bound(&mut rng, keys));
        let inverted = match (&low, &high) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a > b || (a == b && !matches!((&low, &high), (Bound::Included(_), Bound::Included(_))))
            }
            _ => false,
        };
        let mut got = db.range::<Vec<u8>, _>((low.clone(), high.clone()));
        if inverted {
            assert!(got.next().is_none(), "round {round}: an inverted range is empty");
            continue;
        }
        let mut want = model.range((low, high));
        for step in 0..10_000 {
            let front = rng.below(3) != 0;
            let (got, want) = if front { (got.next(), want.next()) } else { (got.next_back(), want.next_back()) };
            let got = got.map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).unwrap());
            assert_eq!(got, want.map(|(key, value)| (key.clone(), value.clone())), "round {round} step {step}");
            if got.is_none() {
                break;
            }
        }
    }
}
