//! Random interleavings of snapshots, transactions, plain writes, syncs and reopens against a
//! reference model that keeps versions: every snapshot reads exactly the model's state at its
//! point; every transaction reads its snapshot with its own writes merged in; and each commit
//! succeeds or fails with `Conflict` exactly as the model predicts (a key read, or a key in a
//! range scanned, changed by a batch after the transaction began).

mod common;

use std::collections::BTreeMap;
use std::ops::Range;

use common::{temp_store, Rng};
use daxkv::{Db, Durability, Error, Options, Snapshot, Transaction, WriteBatch};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// The reference: the current state, and when each key last changed (in batches).
#[derive(Default)]
struct Model {
    current: State,
    /// Batches applied so far (the model's clock).
    batches: u64,
    /// Per key, the batch that last added, replaced or removed it.
    changed_at: BTreeMap<Vec<u8>, u64>,
}

impl Model {
    /// Applies one batch of `(key, Some(value) | None)`.
    fn apply(&mut self, ops: &[(Vec<u8>, Option<Vec<u8>>)]) {
        self.batches += 1;
        for (key, value) in ops {
            let changes = match value {
                Some(value) => {
                    self.current.insert(key.clone(), value.clone());
                    true
                }
                None => self.current.remove(key).is_some(),
            };
            if changes {
                self.changed_at.insert(key.clone(), self.batches);
            }
        }
    }
}

struct OpenTransaction<'a> {
    transaction: Transaction<'a>,
    /// The model's clock and state when it began.
    began: u64,
    base: State,
    own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    keys_read: Vec<Vec<u8>>,
    ranges_read: Vec<Range<Vec<u8>>>,
}

impl OpenTransaction<'_> {
    /// What the transaction reads for `range`: its base with its own writes merged in.
    fn view(&self, range: &Range<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut view: State = self.base.range(range.clone()).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, value) in self.own.range(range.clone()) {
            match value {
                Some(value) => view.insert(key.clone(), value.clone()),
                None => view.remove(key),
            };
        }
        view.into_iter().collect()
    }

    fn conflicts(&self, model: &Model) -> bool {
        let changed = |key: &Vec<u8>| model.changed_at.get(key).is_some_and(|&at| at > self.began);
        !self.own.is_empty()
            && (self.keys_read.iter().any(changed)
                || self
                    .ranges_read
                    .iter()
                    .any(|range| model.changed_at.range(range.clone()).any(|(_, &at)| at > self.began)))
    }
}

fn key_for(number: u64) -> Vec<u8> {
    format!("k{number:02}").into_bytes()
}

fn random_range(rng: &mut Rng) -> Range<Vec<u8>> {
    let (a, b) = (rng.below(70), rng.below(70));
    key_for(a.min(b))..key_for(a.max(b))
}

fn collect(items: impl Iterator<Item = Result<(daxkv::Bytes, daxkv::Bytes), Error>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
}

fn check_snapshot(snapshot: &Snapshot<'_>, state: &State, rng: &mut Rng, context: &str) {
    match rng.below(3) {
        0 => {
            let key = key_for(rng.below(64));
            assert_eq!(snapshot.get(&key).unwrap().map(|v| v.to_vec()), state.get(&key).cloned(), "{context}");
        }
        1 => {
            let range = random_range(rng);
            let want: Vec<_> = state.range(range.clone()).map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(collect(snapshot.range(range.clone())), want, "{context}: range");
            let mut reversed = want;
            reversed.reverse();
            assert_eq!(collect(snapshot.range(range).rev()), reversed, "{context}: reverse range");
        }
        _ => {
            let want: Vec<_> = state.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(collect(snapshot.iter()), want, "{context}: iteration");
        }
    }
}

fn random_value(rng: &mut Rng) -> Vec<u8> {
    let len = [0, 3, 40, 300, 5000][rng.below(5) as usize];
    rng.bytes(len)
}

/// One transaction step: a read, a write, a scan, a commit or a rollback.
fn transaction_step<'a>(open: &mut Vec<OpenTransaction<'a>>, model: &mut Model, rng: &mut Rng, context: &str) {
    let which = rng.below(open.len() as u64) as usize;
    let entry = &mut open[which];
    match rng.below(10) {
        0..=2 => {
            let key = key_for(rng.below(64));
            let want = match entry.own.get(&key) {
                Some(own) => own.clone(),
                None => {
                    entry.keys_read.push(key.clone());
                    entry.base.get(&key).cloned()
                }
            };
            assert_eq!(entry.transaction.get(&key).unwrap().map(|v| v.to_vec()), want, "{context}: get");
        }
        3..=5 => {
            let key = key_for(rng.below(64));
            let value = (rng.below(4) != 0).then(|| random_value(rng));
            match &value {
                Some(value) => entry.transaction.put(&key, value).unwrap(),
                None => entry.transaction.delete(&key).unwrap(),
            }
            entry.own.insert(key, value);
        }
        6 => {
            let range = random_range(rng);
            let want = entry.view(&range);
            let got = if rng.below(2) == 0 {
                collect(entry.transaction.range(range.clone()))
            } else {
                let mut got = collect(entry.transaction.range(range.clone()).rev());
                got.reverse();
                got
            };
            entry.ranges_read.push(range);
            assert_eq!(got, want, "{context}: transaction range");
        }
        7..=8 => {
            let entry = open.swap_remove(which);
            let conflicts = entry.conflicts(model);
            let ops: Vec<_> = entry.own.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            match entry.transaction.commit() {
                Ok(()) => {
                    assert!(!conflicts, "{context}: committed, but the model predicts a conflict");
                    if !ops.is_empty() {
                        model.apply(&ops);
                    }
                }
                Err(Error::Conflict) => assert!(conflicts, "{context}: a conflict the model does not predict"),
                Err(error) => panic!("{context}: {error}"),
            }
        }
        _ => {
            open.swap_remove(which);
        }
    }
}

/// A plain write: a put, a delete or a batch.
fn plain_write(db: &Db, model: &mut Model, rng: &mut Rng) {
    let mut ops = Vec::new();
    for _ in 0..[1, 1, 1, 4][rng.below(4) as usize] {
        let key = key_for(rng.below(64));
        ops.push((key, (rng.below(4) != 0).then(|| random_value(rng))));
    }
    if let [(key, value)] = &ops[..] {
        match value {
            Some(value) => db.put(key, value).unwrap(),
            None => db.delete(key).unwrap(),
        }
    } else {
        let mut batch = WriteBatch::new();
        for (key, value) in &ops {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            };
        }
        db.write(batch).unwrap();
    }
    model.apply(&ops);
}

/// Steps until a reopen is drawn (or `steps` run out): returns steps taken.
fn epoch(db: &Db, model: &mut Model, rng: &mut Rng, seed: u64, first_step: u64, steps: u64) -> u64 {
    let mut snapshots: Vec<(Snapshot<'_>, State)> = Vec::new();
    let mut transactions: Vec<OpenTransaction<'_>> = Vec::new();
    for step in first_step..steps {
        let context = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=29 => plain_write(db, model, rng),
            30..=36 if snapshots.len() < 4 => snapshots.push((db.snapshot(), model.current.clone())),
            37..=49 if !snapshots.is_empty() => {
                let (snapshot, state) = &snapshots[rng.below(snapshots.len() as u64) as usize];
                check_snapshot(snapshot, state, rng, &context);
            }
            50..=53 if !snapshots.is_empty() => {
                snapshots.swap_remove(rng.below(snapshots.len() as u64) as usize);
            }
            54..=59 if transactions.len() < 3 => transactions.push(OpenTransaction {
                transaction: db.transaction(),
                began: model.batches,
                base: model.current.clone(),
                own: BTreeMap::new(),
                keys_read: Vec::new(),
                ranges_read: Vec::new(),
            }),
            60..=94 if !transactions.is_empty() => transaction_step(&mut transactions, model, rng, &context),
            95..=97 => db.sync().unwrap(),
            98..=99 => return step + 1,
            _ => check_snapshot(&db.snapshot(), &model.current, rng, &context),
        }
    }
    drop((snapshots, transactions));
    assert_eq!(db.stats().snapshot_versions_kept, 0, "seed {seed}: versions kept with nothing open");
    steps
}

fn run(seed: u64, durability: Durability, steps: u64) {
    let store = temp_store();
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let options = Options::default().durability(durability);
    let mut db = Db::open(&store.path, options.clone()).unwrap();
    let mut step = 0;
    while step < steps {
        step = epoch(&db, &mut model, &mut rng, seed, step, steps);
        assert_eq!(db.stats().snapshots_open, 0);
        if rng.below(2) == 0 {
            db.close().unwrap();
        } else {
            drop(db);
        }
        db = Db::open(&store.path, options.clone()).unwrap();
        check_snapshot(&db.snapshot(), &model.current, &mut rng, "after reopen");
        let all = collect(db.iter());
        assert_eq!(all, model.current.clone().into_iter().collect::<Vec<_>>(), "seed {seed}: after reopen");
    }
    db.close().unwrap();
}

#[test]
fn deferred() {
    for seed in 21..=23 {
        run(seed, Durability::Deferred, 3000);
    }
}

#[test]
fn immediate() {
    run(31, Durability::Immediate, 1500);
}
