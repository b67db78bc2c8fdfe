//! The crash-consistency simulator (feature `sim`): a deterministic, seedable, in-process model
//! of the DAX durability model — ADR, eADR and page cache — with an oracle and campaigns.
//! See docs/crash-testing.md.
//!
//! The toolkit, for your own code:
//! - [`check`]: one call crash-tests a workload on daxkv. The workload drives a [`Db`](crate::Db)
//!   through a [`Session`] (commits bracketed and snapshotted); every crash image under every
//!   model and seed of a [`CheckConfig`] is recovered and judged by your invariant, or by
//!   [`exact_state`] (the oracle's check). The [`CheckReport`] lists violations with a replay
//!   line; [`CheckReport::assert_clean`] panics with it, for tests.
//! - [`SimMapping`] + [`check_mapping`]: a simulated mapped region (`write`/`store_u64`,
//!   reads, `flush`, `fence`) for your own persistent data structure; your recovery function
//!   runs on every crash image under ADR, eADR, page cache and 2 MiB folios.
//! - [`Exploration`]: how images are chosen at a crash point: [`Strategy`] (sampled, without
//!   looking at recovery) or [`GuidedStrategy`] (read-guided: branch only on the units recovery
//!   read; the default).
//!
//! The parts underneath, usable on their own:
//! - [`MemoryMedium`](crate::media::MemoryMedium) with recording on: open a
//!   [`Db`](crate::Db) on it with [`Db::open_medium`](crate::Db::open_medium), run your
//!   workload, add [`Event::Begin`](crate::media::Event) / `Ack` markers around your commits,
//!   take the trace;
//! - [`Persistence`]: replay the trace; at any point ask for in-flight units and build crash
//!   images from [`Fate`]s ([`draw`] or [`explore()`] picks them);
//! - [`run_seed`] / [`run_workload`]: daxkv's own campaigns against the [`Oracle`].
//!
//! No wall clock and no unordered iteration: one seed decides everything.

#[cfg(feature = "planted-bugs")]
pub(crate) mod bugs;
mod campaign;
mod explore;
mod guided;
mod mapping;
mod oracle;
mod persistence;
mod rng;
mod toolkit;
mod workload;

#[cfg(feature = "planted-bugs")]
pub use bugs::{PlantedBug, PlantedBugs};
pub use campaign::{
    flush_model_name, parse_flush_model, run_seed, run_workload, CampaignConfig, SeedReport, Violation,
};
pub use explore::{draw, Strategy};
pub use guided::{explore, Exploration, GuidedStrategy, Visit};
pub use mapping::{check_mapping, Crash, SimMapping};
pub use oracle::{Op, Oracle, State};
pub use persistence::{CrashModel, Fate, Persistence};
pub use rng::Rng;
pub use toolkit::{all_models, CheckConfig, CheckReport, ImageId, ImageViolation, REPLAY_VARIABLE};
pub use workload::{check, check_with_hooks, exact_state, read_state, Expected, Session};
