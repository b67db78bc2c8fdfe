//! # daxkv
//!
//! An embedded persistent key-value store for byte-addressable storage. One data file is mapped
//! (with `MAP_SYNC` on a DAX filesystem, plain `MAP_SHARED` otherwise); records are copied
//! straight into the mapping; a dirty-range radix index with the kernel's PTE/PMD entries and
//! DIRTY/TOWRITE tags records what was written; a commit flushes exactly the tagged ranges —
//! `msync` on page-cache files, CLWB/CLFLUSHOPT plus one SFENCE on DAX — and fences once.
//!
//! ```no_run
//! use daxkv::{Db, Options};
//! let db = Db::open("/tmp/example.db", Options::default())?;
//! db.put(b"hello", b"world")?;               // durable when it returns (Immediate)
//! assert_eq!(db.get(b"hello")?.as_deref(), Some(&b"world"[..]));
//! db.close()?;
//! # Ok::<(), daxkv::Error>(())
//! ```
//!
//! Layers, top to bottom (each uses only those below it; docs/design.md, "Layers"): [`Db`]
//! (API) → `engine` (write, commit, clean, open, read, report; the [`ProtocolHooks`] seam) →
//! `recovery`, `space` → `log` (records, superblock, the head) → `index`, [`dirty`] →
//! [`media`] (mapping and flushing). The crash simulator ([`sim`], feature `sim`) sits beside
//! the stack and uses it from outside: the engine knows nothing of it.

#![deny(unsafe_op_in_unsafe_fn)]

mod batch;
pub mod check;
mod checkpoint;
mod db;
pub mod dirty;
mod engine;
mod error;
mod ids;
mod index;
mod layout;
mod log;
pub mod media;
mod mvcc;
mod options;
mod recovery;
#[cfg(feature = "sim")]
pub mod sim;
mod space;
mod stats;
mod sync;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use db::{Db, Iter, Snapshot, Transaction, TransactionIter, UPDATE_ATTEMPTS_MAX};
pub use engine::hooks::{HookIo, NoHooks, ProtocolHooks};
pub use error::Error;
pub use media::{FlushModel, MsyncShape, PersistenceDomain};
pub use options::{Durability, Options};
pub use recovery::RecoveryReport;
pub use space::SegmentUsage;
pub use stats::Stats;
