//! The medium: where the store's bytes live and how they are made durable.
//!
//! The engine is generic over [`Medium`]: store bytes at an offset, read them back, grow, flush a
//! set of runs, fence. [`FileMedium`] is the real one (a mapped file); the crash simulator
//! (`sim`, behind the feature of that name) plugs in a recording medium. Generic, not dynamic:
//! the real medium pays nothing for the seam.
//!
//! All `unsafe` code of the crate lives under this module (mapping, flushing) plus the
//! epoch-managed node table of the dirty index.

mod config;
mod cpu;
mod domain;
mod file;
mod heap;
mod memory;
mod region;

pub use config::{FileConfig, FlushModel, MsyncShape, PersistenceDomain};
pub(crate) use cpu::prefetch;
pub use cpu::LineFlushInstruction;
pub use file::FileMedium;
pub use memory::{Event, MemoryMedium};
pub(crate) use region::Region;

use bytes::Bytes;

use crate::error::Error;

/// The finest unit a medium's flush works in; the dirty index emits runs aligned to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// 64-byte cache lines (CLWB-style flushing).
    Line,
    /// 4 KiB pages (msync-style flushing).
    Page,
}

/// A byte range to flush: `[offset, offset + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Run {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The live counters a medium keeps; [`MediumCounters`] is their snapshot.
#[derive(Debug, Default)]
pub(crate) struct FlushCounters {
    pub(crate) flush_syscalls_total: std::sync::atomic::AtomicU64,
    pub(crate) line_flushes_total: std::sync::atomic::AtomicU64,
    pub(crate) fences_total: std::sync::atomic::AtomicU64,
    pub(crate) grows_total: std::sync::atomic::AtomicU64,
    pub(crate) holes_punched_total: std::sync::atomic::AtomicU64,
    pub(crate) refills_total: std::sync::atomic::AtomicU64,
}

impl FlushCounters {
    pub(crate) fn snapshot(&self) -> MediumCounters {
        use std::sync::atomic::Ordering::Relaxed;
        MediumCounters {
            flush_syscalls_total: self.flush_syscalls_total.load(Relaxed),
            line_flushes_total: self.line_flushes_total.load(Relaxed),
            fences_total: self.fences_total.load(Relaxed),
            grows_total: self.grows_total.load(Relaxed),
            holes_punched_total: self.holes_punched_total.load(Relaxed),
            refills_total: self.refills_total.load(Relaxed),
        }
    }
}

/// Counters a medium keeps about its flushing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediumCounters {
    /// System calls issued to flush (msync, sync_file_range, fdatasync).
    pub flush_syscalls_total: u64,
    /// Cache-line flush instructions issued.
    pub line_flushes_total: u64,
    /// Store fences issued.
    pub fences_total: u64,
    /// Times the file grew.
    pub grows_total: u64,
    /// Ranges handed back to the filesystem (`fallocate(PUNCH_HOLE | KEEP_SIZE)`).
    pub holes_punched_total: u64,
    /// Punched ranges given their blocks back before reuse.
    pub refills_total: u64,
}

/// What a medium says about itself: read by `Stats` and tools, never on the write path.
pub trait MediumReport {
    /// The flush model in force.
    fn flush_model(&self) -> FlushModel;

    /// Whether the mapping was made with `MAP_SYNC`.
    fn map_sync(&self) -> bool;

    /// The persistence domain of the device behind the file, as far as it could be found.
    fn persistence_domain(&self) -> PersistenceDomain {
        PersistenceDomain::Unknown
    }

    /// Flush counters.
    fn counters(&self) -> MediumCounters;
}

/// The seam between the engine and its storage: bytes in, bytes out, durability. See the
/// module docs.
pub trait Medium: MediumReport + Send + Sync + 'static {
    /// Size of the file (or image) before anything was mapped: what open-time checks look at.
    fn file_bytes(&self) -> u64;

    /// Reads from the file without the mapping (for checking foreign or truncated files safely).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error>;

    /// Maps the first `len` bytes of the existing file (a multiple of 2 MiB, at most `file_bytes`).
    fn map_existing(&self, len: u64) -> Result<(), Error>;

    /// Bytes mapped: reads and writes must stay below this.
    fn mapped_bytes(&self) -> u64;

    /// Grows the file to `new_len`, zero-filled by really writing the new space and making it
    /// durable, then maps it. A full disk is [`Error::NoSpace`] here, never a fault later.
    fn grow(&self, new_len: u64) -> Result<(), Error>;

    /// The mapped bytes `[offset, offset + len)`.
    ///
    /// # Safety
    /// No thread may write any of these bytes while the returned slice is alive.
    unsafe fn bytes(&self, offset: u64, len: usize) -> &[u8];

    /// Stores `data` at `offset` (the store may reach the media at any later time, or not).
    ///
    /// # Safety
    /// No other thread may read or write `[offset, offset + data.len())` during the call.
    unsafe fn write(&self, offset: u64, data: &[u8]);

    /// A value's bytes as [`Bytes`]; zero-copy where the medium can keep the bytes alive, in
    /// which case the value owns what `pin` returns (it keeps the bytes from being reused).
    ///
    /// # Safety
    /// The range must hold a published record that no thread writes while it is pinned.
    unsafe fn value<K: Send + 'static>(&self, offset: u64, len: usize, pin: impl FnOnce() -> K) -> Bytes;

    /// Hands the blocks of `[offset, offset + len)` back to the filesystem; the range reads as
    /// zeros afterwards. `Ok(false)` when the filesystem cannot punch holes.
    ///
    /// # Safety
    /// No thread may read or write the range during the call.
    unsafe fn punch(&self, offset: u64, len: u64) -> Result<bool, Error>;

    /// A hint that `[offset, offset + len)` will be read soon, whole (recovery's scan): a file
    /// starts reading it ahead, since its mapping is advised for random access. No effect on
    /// what is read; the default does nothing.
    fn will_read(&self, offset: u64, len: u64) {
        let _ = (offset, len);
    }

    /// Gives a punched range its blocks back (zero-filled and durable, as [`Medium::grow`] does
    /// for new space), so that writing it through the mapping cannot fault for lack of space.
    /// A full disk is [`Error::NoSpace`].
    fn refill(&self, offset: u64, len: u64) -> Result<(), Error>;

    /// The unit the flush works in.
    fn granularity(&self) -> Granularity;

    /// Starts (or, for msync, completes) the write-back of `runs`, in address order, disjoint.
    fn flush(&self, runs: &[Run]) -> Result<(), Error>;

    /// Orders every earlier flush before everything after: after it returns, flushed runs are durable.
    fn fence(&self) -> Result<(), Error>;

    /// A fresh uuid for a store being created (random; the simulator's is seeded).
    fn new_store_uuid(&self) -> Result<[u8; 16], Error> {
        let mut uuid = [0u8; 16];
        std::fs::File::open("/dev/urandom").and_then(|mut file| std::io::Read::read_exact(&mut file, &mut uuid))?;
        Ok(uuid)
    }
}

/// The line-flush instruction the CacheLine model uses on this CPU.
pub fn line_flush_instruction() -> LineFlushInstruction {
    cpu::detect()
}
