//! The "use it for your own workload" section of docs/crash-testing.md, as tests: one
//! `daxkv::sim::check` call per workload, under all four crash models, with a user's own
//! invariant or the oracle's exact-state check.

use daxkv::media::MemoryMedium;
use daxkv::sim::{check, exact_state, CheckConfig, Expected, Exploration, Session, Strategy};
use daxkv::{Db, Durability, Error, Options, WriteBatch};

const REPLAY: &str = "cargo test --features sim --test sim_user_api";

fn balance(db: &Db<MemoryMedium>, key: &[u8]) -> Result<Option<u32>, String> {
    let value = db.get(key).map_err(|error| error.to_string())?;
    value
        .map(|bytes| String::from_utf8_lossy(&bytes).parse::<u32>().map_err(|error| format!("bad balance: {error}")))
        .transpose()
}

/// The user's invariant: the money is conserved (both accounts exist, and sum to 200), or the
/// accounts were never both created.
fn money_is_conserved(db: &Db<MemoryMedium>, _expected: &Expected<'_>) -> Result<(), String> {
    match (balance(db, b"balance:alice")?, balance(db, b"balance:bob")?) {
        (Some(alice), Some(bob)) if alice + bob == 200 => Ok(()),
        (Some(alice), Some(bob)) => Err(format!("money not conserved: {alice} + {bob}")),
        (None, None) | (Some(100), None) => Ok(()),
        (alice, bob) => Err(format!("half-created accounts: alice {alice:?}, bob {bob:?}")),
    }
}

fn open_accounts(session: &mut Session<'_>) -> Result<(), Error> {
    session.put(b"balance:alice", b"100")?;
    session.put(b"balance:bob", b"100")
}

/// Transfers written as one batch each: all or nothing.
fn batched_transfers(session: &mut Session<'_>) -> Result<(), Error> {
    open_accounts(session)?;
    for amount in 1..=5u32 {
        let mut transfer = WriteBatch::new();
        transfer.put(b"balance:alice", (100 - amount * 10).to_string().as_bytes());
        transfer.put(b"balance:bob", (100 + amount * 10).to_string().as_bytes());
        session.write(transfer)?;
    }
    Ok(())
}

/// The user's bug: a transfer as two separate commits.
fn split_transfer(session: &mut Session<'_>) -> Result<(), Error> {
    open_accounts(session)?;
    session.put(b"balance:alice", b"90")?;
    session.put(b"balance:bob", b"110")
}

#[test]
fn a_users_invariant_holds_at_every_crash_image() {
    let config = CheckConfig::new().seeds(1..2).replay_command(REPLAY);
    let report = check(&config, batched_transfers, money_is_conserved);
    report.assert_clean();
    assert_eq!(report.runs, 4, "all four crash models");
    assert!(report.images > 40 && report.crash_points > 20, "{}", report.summary());
}

#[test]
fn the_oracle_checks_exact_state_by_default() {
    // Deferred: the writes of one `commit` become durable together at its sync. (Under
    // Immediate each write is its own commit, and check would report the states in between.)
    let config = CheckConfig::new()
        .seeds(1..3)
        .store_crash_every(5)
        .options(Options::default().durability(Durability::Deferred))
        .replay_command(REPLAY);
    let report = check(
        &config,
        |session| {
            for round in 0..6u64 {
                let key = format!("key{}", session.rng().below(4));
                let value = vec![round as u8; session.rng().below(3000) as usize];
                session.put(key.as_bytes(), &value)?;
                if round % 3 == 2 {
                    let key = format!("key{}", session.rng().below(4));
                    session.commit(|db| {
                        db.delete(key.as_bytes())?;
                        db.put(b"batched", b"both or neither")
                    })?;
                }
            }
            session.db().compact().map(|_| ())
        },
        exact_state,
    );
    report.assert_clean();
    assert!(report.images > 100, "{}", report.summary());
}

#[test]
fn a_users_bug_is_found_with_a_replay_line_that_reproduces_it() {
    let config = CheckConfig::new().seeds(1..2).replay_command(REPLAY);
    let report = check(&config, split_transfer, money_is_conserved);
    let violation = report.violations.first().expect("a crash between the two commits breaks the invariant");
    assert!(violation.reason.contains("money not conserved"), "{}", violation.reason);
    assert!(violation.replay.starts_with(&format!("DAXKV_SIM_REPLAY={} ", violation.image)), "{}", violation.replay);
    // Every model loses the money: the crash between the commits needs no reordering.
    assert_eq!(report.violations.len(), 4, "{}", report.summary());

    // The replay checks exactly that image, and finds exactly that violation.
    let replayed = check(&config.clone().replaying(violation.image), split_transfer, money_is_conserved);
    assert_eq!(replayed.violations.len(), 1);
    assert_eq!(replayed.violations[0].image, violation.image);
    assert_eq!(replayed.violations[0].reason, violation.reason);
    assert_eq!(replayed.crash_points, 1);
}

#[test]
#[should_panic(expected = "DAXKV_SIM_REPLAY=")]
fn assert_clean_panics_with_the_replay_line() {
    let config = CheckConfig::new().seeds(1..2).replay_command(REPLAY);
    check(&config, split_transfer, money_is_conserved).assert_clean();
}

#[test]
fn the_sampled_strategy_is_still_available() {
    let config =
        CheckConfig::new().seeds(1..2).exploration(Exploration::Sampled(Strategy::default())).replay_command(REPLAY);
    check(&config, batched_transfers, money_is_conserved).assert_clean();
    assert!(!check(&config, split_transfer, money_is_conserved).is_clean());
}
