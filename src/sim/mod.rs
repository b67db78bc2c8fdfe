//! The crash-consistency simulator (feature `sim`): a deterministic, seedable, in-process model
//! of the DAX durability model — ADR, eADR and page cache — with an oracle and campaigns.
//! See docs/crash-testing.md.
//!
//! The pieces, usable on their own for your own workloads:
//! - [`MemoryMedium`](crate::media::MemoryMedium) with recording on: open a
//!   [`Db`](crate::Db) on it with [`Db::open_medium`](crate::Db::open_medium), run your
//!   workload, add [`Event::Begin`](crate::media::Event) / `Ack` markers around your commits,
//!   take the trace;
//! - [`Persistence`]: replay the trace; at any point ask for in-flight units and build crash
//!   images from [`Fate`]s ([`draw`] picks them with a [`Strategy`]);
//! - recover each image with `MemoryMedium::from_image` + `Db::open_medium` and check your own
//!   invariants (or use [`Oracle`]).
//!
//! No wall clock and no unordered iteration: one seed decides everything.

#[cfg(feature = "planted-bugs")]
pub(crate) mod bugs;
mod campaign;
mod explore;
mod oracle;
mod persistence;
mod rng;

#[cfg(feature = "planted-bugs")]
pub use bugs::{PlantedBug, PlantedBugs};
pub use campaign::{
    flush_model_name, parse_flush_model, run_seed, run_workload, CampaignConfig, SeedReport, Violation,
};
pub use explore::{draw, Strategy};
pub use oracle::{Op, Oracle, State};
pub use persistence::{CrashModel, Fate, Persistence};
pub use rng::Rng;
