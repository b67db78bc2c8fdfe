//! The protocol seam: the points of the commit and cleaning protocol where a test build may
//! change what reaches the media, and nothing else: a commit's writeback, the moment a cleaned
//! segment is queued for freeing, whether a cleaned segment's tombstones are kept, the commit a
//! checkpoint says it names records through, whether a retired segment may be reused
//! before its zeroed head is durable, and whether versions kept for snapshots pin their segment.
//!
//! The engine is generic over [`ProtocolHooks`]. Its default, [`NoHooks`], declares
//! `DEVIATES = false`, so every call site (`if H::DEVIATES { … }`) is removed at compile time:
//! the store as shipped pays nothing for the seam, and knows nothing of what plugs into it. The
//! crash simulator's planted bugs (`daxkv::sim::PlantedBugs`, feature `planted-bugs`) are one
//! implementation: each proves the crash checker can fail.

use crate::error::Error;
use crate::media::Run;

/// What a hook may do to the media at a protocol step. The engine implements it; a hook only
/// calls it.
pub trait HookIo {
    /// The unit the medium flushes in, in bytes: 64 (cache lines) or 4096 (pages).
    fn unit_bytes(&self) -> u64;

    /// Starts (or, for msync, completes) the write-back of `runs` (address order, disjoint).
    fn flush(&self, runs: &[Run]) -> Result<(), Error>;

    /// Orders every earlier flush before everything after it.
    fn fence(&self) -> Result<(), Error>;

    /// Marks `run` dirty again: the next commit writes it back instead of this one.
    fn defer(&self, run: Run);

    /// Zeroes the SegmentHead record of the segment whose records start at `segment_start` (in
    /// the mapping: durable only once flushed and fenced). Returns the unit-aligned run that
    /// holds it.
    fn zero_segment_head(&self, segment_start: u64) -> Run;
}

/// The protocol steps a test build may replace. See the module docs.
pub trait ProtocolHooks: Send + Sync + 'static {
    /// Whether this implementation may deviate from the protocol. `false`: the engine never
    /// calls the hooks (the calls are compiled out).
    const DEVIATES: bool = true;

    /// Writes back one commit. `runs`: every run tagged TOWRITE for it; `commit_record`: the
    /// unit-aligned range holding the last Commit record. The protocol: flush every run, then
    /// fence once.
    fn commit_writeback(&self, io: &dyn HookIo, runs: &[Run], commit_record: Run) -> Result<(), Error> {
        let _ = commit_record;
        io.flush(runs)?;
        io.fence()
    }

    /// The cleaner queued the segment whose records start at `segment_start` for freeing: its
    /// Free record is in the open commit and nothing of it is durable yet. The protocol: nothing
    /// (the next commit makes copies and Free record durable, then zeroes the head).
    fn segment_freeing(&self, io: &dyn HookIo, segment_start: u64) -> Result<(), Error> {
        let _ = (io, segment_start);
        Ok(())
    }

    /// The cleaner decided whether the tombstones of the segment it cleans still hide an older
    /// record (`needed`: they are copied; otherwise dropped). The protocol: keep that decision.
    fn tombstones_kept(&self, needed: bool) -> bool {
        needed
    }

    /// A checkpoint is being finished: `names_through` is the commit (sequence number) of the newest record its
    /// export could have seen, `durable_through` the last commit durable before it began. The
    /// protocol: the checkpoint says `names_through` (recovery uses it only once that commit is
    /// durable).
    fn checkpoint_names_through(&self, names_through: u64, durable_through: u64) -> u64 {
        let _ = durable_through;
        names_through
    }

    /// Whether a retired (cleaned, head zeroed) segment may be reused before its zeroed head is
    /// durable, i.e. in the commit that writes the zeroing back. Asked once, when the store is
    /// assembled at open. The protocol: no (see `Space::release_retired`).
    fn reuse_before_head_durable(&self) -> bool {
        false
    }

    /// Whether a version kept for open snapshots pins its record's segment against reuse (see
    /// `crate::mvcc`). Not an on-media step: a snapshot reading a reused segment reads another
    /// record's bytes, which the simulator's held snapshots catch. The protocol: yes.
    fn versions_pinned(&self) -> bool {
        true
    }
}

/// The protocol as designed: no deviation, no cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl ProtocolHooks for NoHooks {
    const DEVIATES: bool = false;
}
