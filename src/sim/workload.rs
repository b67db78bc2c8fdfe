//! One call to crash-test a workload on daxkv: [`check`].
//!
//! Per crash model and seed: open a [`Db`] on a recording [`MemoryMedium`], hand the workload
//! a [`Session`] (the store and a generator seeded from the seed), and record the trace. Every
//! [`Session::commit`] is bracketed by `Begin`/`Ack` markers, and the store's whole state is
//! snapshotted after it: the expectation needs no model of the workload's operations. Then the
//! [sweep](super::toolkit) recovers every crash image with `Db::open_medium` and asks the
//! invariant about the recovered store, with the [`Expected`] states of that crash point. The
//! default invariant, [`exact_state`], is the oracle's: exactly the last acknowledged state, or
//! exactly the state of the commit in flight. One image in
//! [`idempotence_every`](CheckConfig::idempotence_every) is recovered a second time from the
//! durable state the first recovery left (its own writes replayed through the model), and must
//! give the same state.

use super::campaign::uuid;
use super::oracle::{describe, State};
use super::persistence::Persistence;
use super::rng::Rng;
use super::toolkit::{catching, sweep, CheckConfig, CheckReport, CrashImage};
use crate::db::Db;
use crate::engine::hooks::{NoHooks, ProtocolHooks};
use crate::error::Error;
use crate::media::{Event, MemoryMedium};
use crate::options::Options;

/// What a workload drives: the store, a seeded generator, and commit markers.
pub struct Session<'a, H: ProtocolHooks = NoHooks> {
    db: &'a Db<MemoryMedium, H>,
    rng: Rng,
    seed: u64,
    states: Vec<State>,
}

impl<H: ProtocolHooks> Session<'_, H> {
    /// The store. Read and compact through it freely; change it only inside [`Session::commit`]
    /// (a change outside a commit would be neither acknowledged nor expected).
    pub fn db(&self) -> &Db<MemoryMedium, H> {
        self.db
    }

    /// The generator for this seed: the workload's only source of randomness.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The seed this run uses.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Commits acknowledged so far.
    pub fn commits(&self) -> u64 {
        self.states.len() as u64
    }

    /// One acknowledged commit: runs `writes` on the store, then `sync`s; from then on its
    /// effect must survive every crash. While it runs, a crash may leave the state before or
    /// after it, nothing else, so `writes` must be atomic for daxkv: one `put`, `delete`,
    /// batch or transaction. Several writes under [`Durability::Deferred`](crate::Durability)
    /// are made durable by the sync, but not as one: a writer that must reclaim space may
    /// commit the earlier ones first (README, "Space"), so with cleaning in the workload a
    /// crash may leave a prefix of them, which [`exact_state`] reports. Two writes under
    /// `Immediate` are two commits, and a crash between them is reported.
    pub fn commit<T>(&mut self, writes: impl FnOnce(&Db<MemoryMedium, H>) -> Result<T, Error>) -> Result<T, Error> {
        let number = self.states.len() as u64;
        self.db.medium().mark(Event::Begin { commit: number });
        let value = writes(self.db)?;
        self.db.sync()?;
        self.db.medium().mark(Event::Ack { commit: number });
        self.states.push(read_state(self.db).map_err(|reason| Error::Io(std::io::Error::other(reason)))?);
        Ok(value)
    }

    /// `put` as one commit.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.commit(|db| db.put(key, value))
    }

    /// `delete` as one commit.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Error> {
        self.commit(|db| db.delete(key))
    }

    /// A batch as one commit.
    pub fn write(&mut self, batch: crate::WriteBatch) -> Result<(), Error> {
        self.commit(|db| db.write(batch))
    }
}

/// What the store may hold after recovery from a crash image.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Expected<'a> {
    /// The state as of the last acknowledged commit (empty before the first).
    pub durable: &'a State,
    /// The state after the commit in flight at the crash, if one was.
    pub in_flight: Option<&'a State>,
    /// Commits acknowledged before the crash.
    pub acknowledged: u64,
}

/// The oracle's invariant: the recovered store holds exactly `durable`, or exactly `in_flight`.
pub fn exact_state(db: &Db<MemoryMedium>, expected: &Expected<'_>) -> Result<(), String> {
    let recovered = read_state(db)?;
    if recovered == *expected.durable || expected.in_flight.is_some_and(|state| recovered == *state) {
        return Ok(());
    }
    let what = if expected.in_flight.is_some() {
        "neither the durable state nor the state of the commit in flight"
    } else {
        "not the durable state (no commit in flight)"
    };
    Err(format!(
        "{what} (after {} acknowledged commits): {}",
        expected.acknowledged,
        describe(&recovered, expected.durable)
    ))
}

/// Every key and value of `db`.
pub fn read_state<H: ProtocolHooks>(db: &Db<MemoryMedium, H>) -> Result<State, String> {
    db.iter()
        .map(|item| {
            item.map(|(key, value)| (key.to_vec(), value.to_vec()))
                .map_err(|error| format!("iteration failed: {error}"))
        })
        .collect()
}

/// Crash-tests `workload` on daxkv under every model and seed of `config`: every crash image
/// drawn is recovered and judged by `invariant` (use [`exact_state`] for the oracle's check).
/// See the module docs; [`CheckReport::assert_clean`] panics with the replay line, for tests.
///
/// ```
/// use daxkv::sim::{check, exact_state, CheckConfig};
/// let config = CheckConfig::new().seeds(1..2).replay_command("cargo test --doc");
/// let report = check(&config, |session| {
///     session.put(b"greeting", b"hello")?;
///     session.put(b"greeting", b"world")
/// }, exact_state);
/// report.assert_clean();
/// assert!(report.images > 0);
/// ```
pub fn check<W, I>(config: &CheckConfig, workload: W, invariant: I) -> CheckReport
where
    W: Fn(&mut Session<'_>) -> Result<(), Error>,
    I: Fn(&Db<MemoryMedium>, &Expected<'_>) -> Result<(), String>,
{
    check_with_hooks(config, || NoHooks, workload, invariant)
}

/// [`check`], with the workload's store opened with `hooks()` at the protocol seam
/// ([`ProtocolHooks`]): e.g. `daxkv::sim::PlantedBugs` (feature `planted-bugs`), to
/// see the check fail, or a protocol variant of your own. Recovery opens each image without
/// hooks: the protocol under test is the workload's.
pub fn check_with_hooks<H, W, I>(config: &CheckConfig, hooks: impl Fn() -> H, workload: W, invariant: I) -> CheckReport
where
    H: ProtocolHooks,
    W: Fn(&mut Session<'_, H>) -> Result<(), Error>,
    I: Fn(&Db<MemoryMedium>, &Expected<'_>) -> Result<(), String>,
{
    let mut report = CheckReport::default();
    for (model, seed) in config.runs() {
        let fixed = |options: &Options| {
            options.clone().flush(model.flush_model()).max_file_bytes(config.capacity_bytes).background_cleaning(false)
        };
        let (workload_options, recovery_options) = (fixed(&config.options), fixed(&config.recovery_options));
        let medium = MemoryMedium::new(model.flush_model(), config.capacity_bytes, uuid(seed), true);
        let recorded = Db::open_with_hooks(medium, workload_options, hooks()).and_then(|db| {
            let mut session = Session { db: &db, rng: Rng::new(seed), seed, states: Vec::new() };
            let result = workload(&mut session);
            let states = std::mem::take(&mut session.states);
            let trace = db.medium().take_trace();
            db.abandon();
            result.map(|()| (trace, states))
        });
        let (trace, states) = match recorded {
            Ok(recorded) => recorded,
            Err(error) => {
                report.workload_failed(config, model, seed, format!("the workload itself failed: {error}"));
                continue;
            }
        };
        let empty = State::new();
        let track = config.exploration.needs_reads();
        sweep(config, model, seed, Vec::new(), &trace, &mut report, |image: &CrashImage<'_>| {
            let expected = Expected {
                durable: image.marks.acknowledged.map_or(&empty, |commit| &states[commit as usize]),
                in_flight: image.marks.in_flight.map(|commit| &states[commit as usize]),
                acknowledged: image.marks.acknowledged.map_or(0, |commit| commit + 1),
            };
            let mut reads = Vec::new();
            let twice = config.idempotence_every > 0 && image.index % config.idempotence_every == 0;
            let verdict = catching(|| {
                let medium = MemoryMedium::build(
                    image.len() as u64,
                    model.flush_model(),
                    config.capacity_bytes,
                    [0; 16],
                    twice,
                    |buffer| image.fill(buffer),
                )
                .map_err(|error| error.to_string())?;
                let medium = if track { medium.track_reads() } else { medium };
                let db = Db::open_medium(medium, recovery_options.clone())
                    .map_err(|error| format!("recovery failed: {error}"))?;
                let verdict = invariant(&db, &expected);
                reads = db.medium().take_reads();
                if verdict.is_err() || !twice {
                    db.abandon();
                    return verdict;
                }
                // Idempotence: recover again from the durable state the first recovery left.
                let first = read_state(&db)?;
                let mut left = Persistence::new(model, image.bytes());
                for event in db.medium().take_trace() {
                    left.apply(&event);
                }
                db.abandon();
                let medium = MemoryMedium::from_image(
                    &left.durable(),
                    model.flush_model(),
                    config.capacity_bytes,
                    [0; 16],
                    false,
                )
                .map_err(|error| error.to_string())?;
                let db = Db::open_medium(medium, recovery_options.clone())
                    .map_err(|error| format!("second recovery failed: {error}"))?;
                let again = read_state(&db)?;
                let verdict = if again != first {
                    Err(format!("recovery is not idempotent: {}", describe(&again, &first)))
                } else {
                    invariant(&db, &expected).map_err(|reason| format!("after a second recovery: {reason}"))
                };
                db.abandon();
                verdict
            });
            (verdict, reads)
        });
    }
    report
}
