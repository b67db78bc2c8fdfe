//! The cleaner: moves the live records out of a segment, gives the segment back, reuses it.
//!
//! One step (serialized by the engine's `cleaner` mutex) cleans at most one segment, and runs
//! no commit of its own (a commit writes back every page the writers dirtied; see
//! docs/design.md for why that matters):
//!
//! 1. **Punch** free segments beyond a small reserve (`fallocate(PUNCH_HOLE | KEEP_SIZE)`),
//!    only those whose zeroed head is durable.
//! 2. **Select** a segment older than the *cleaning boundary* ([`Writer::clean_boundary`]: the
//!    head's generation at the last commit) by cost-benefit ([`crate::space::policy`]). All its
//!    records are committed; so are its Free records, whose segments' heads were zeroed when
//!    that commit ended, before this segment's own head can be (see docs/design.md).
//! 3. **Copy** its live records to the head as ordinary records of the open commit, in chunks
//!    of [`CHUNK_BYTES`]: a Put whose key the index still points at, a Delete whose key is still
//!    absent while an older live segment exists (it may hide a Put there). The index is
//!    repointed at the copy. Each chunk holds the commit mutex, then the writer mutex: writers
//!    interleave between chunks, and no chunk runs while a commit is writing back.
//! 4. **Grace period.** Wait until every read section that could have looked up an offset in
//!    the segment has ended.
//! 5. **Free record.** Append `Free(index, generation)`; the segment is *freeing*.
//!
//! The next commit, whoever runs it, makes the copies and the Free record durable together,
//! then zeroes the segment's head and retires it (`Engine::after_commit`, in `commit`); it
//! is reused (or punched) once no zero-copy value pins it. The crash argument for each step is
//! in docs/design.md ("Space reclamation").

use std::sync::atomic::Ordering::Relaxed;
use std::sync::MutexGuard;

use super::hooks::ProtocolHooks;
use super::write::CLEANER_RESERVE_SEGMENTS;
use super::{Engine, Writer};
use crate::error::Error;
use crate::ids::{Generation, SegmentIndex};
use crate::index::Location;
use crate::layout::{SEGMENT_BYTES, SEGMENT_USABLE_BYTES};
use crate::log::access::IndexedKeys;
use crate::log::cursor::{Cursor, Stop, STEPS_PER_SEGMENT_MAX};
use crate::log::record::{record_bytes, Kind, PAIR_RECORD_BYTES};
use crate::log::{access, segment_start, LogSpace};
use crate::media::Medium;
use crate::space::policy::{self, Victim};

/// Bytes of a segment examined per hold of the writer mutex.
pub(crate) const CHUNK_BYTES: u64 = 256 * 1024;
/// Free segments kept unpunched (more when the log is large: 1/16 of its segments).
const FREE_KEPT_MIN: u64 = 2;

/// A record of the segment being cleaned.
#[derive(Clone, Copy)]
struct Candidate {
    kind: Kind,
    offset: u64,
    record_bytes: u64,
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// One cleaning step (see the module docs) among segments older than `limit` (and than the
    /// cleaning boundary). `Ok(true)` when a segment was cleaned (it is freeing: the next commit
    /// frees it); `Ok(false)` when none is old enough and worth it.
    pub(crate) fn clean_step(&self, limit: Option<Generation>) -> Result<bool, Error> {
        let one_cleaner = self.lock(&self.cleaner)?;
        self.clean_step_held(&one_cleaner, limit)
    }

    /// [`Engine::clean_step`] for a caller that holds the cleaner mutex (`_one_cleaner`).
    pub(super) fn clean_step_held(
        &self,
        _one_cleaner: &MutexGuard<'_, ()>,
        limit: Option<Generation>,
    ) -> Result<bool, Error> {
        self.check_writable()?;
        self.punch_surplus()?;
        let victim = {
            let writer = self.lock(&self.writer)?;
            let boundary = limit.map_or(writer.clean_boundary, |limit| limit.min(writer.clean_boundary));
            let victim = policy::select(&writer.space, boundary).filter(|victim| {
                // Cleaned segments come back only with the next commit (or two: one for the
                // Free record, one for the zeroed head): while some wait, take no victim whose
                // copies would need more than the free segments (growing the file to clean it).
                let needed = victim.live_bytes.div_ceil(SEGMENT_USABLE_BYTES) + 1;
                let waiting = !writer.freeing.is_empty() || writer.space.retired_awaiting_commit();
                !waiting || writer.space.free_count() >= needed
            });
            victim.map(|victim| (victim, boundary))
        };
        let Some((victim, boundary)) = victim else { return Ok(false) };
        // Paired with `after_commit`, which moves the boundary only after a commit's fence.
        assert!(victim.generation < boundary, "the cleaner takes only segments whose records are all committed");
        let counters = &self.cleaning;
        counters.steps_total.fetch_add(1, Relaxed);
        counters.cleaning_now.store(true, Relaxed);
        let result = self.clean_segment(victim);
        counters.cleaning_now.store(false, Relaxed);
        let (bytes, records) = result?;
        counters.bytes_copied_total.fetch_add(bytes, Relaxed);
        counters.records_copied_total.fetch_add(records, Relaxed);
        counters.segments_freed_total.fetch_add(1, Relaxed);
        Ok(true)
    }

    /// Steps 3 to 5 for `victim`. Returns (bytes, records) copied.
    fn clean_segment(&self, victim: Victim) -> Result<(u64, u64), Error> {
        let (mut offset, mut copied) = (segment_start(victim.index) + PAIR_RECORD_BYTES, (0, 0));
        // Bounded: every chunk advances by at least one record, and the segment ends.
        for _ in 0..SEGMENT_BYTES / 32 {
            let (candidates, next) = self.candidates(victim.index, offset)?;
            let (bytes, records) = self.relocate(&candidates, &victim)?;
            copied = (copied.0 + bytes, copied.1 + records);
            match next {
                Some(next) => offset = next,
                None => break,
            }
        }
        self.gate.synchronize();
        {
            let _no_writeback = self.lock(&self.commit)?;
            let mut guard = self.lock(&self.writer)?;
            let writer = &mut *guard;
            let needed = writer.head.segments_needed(std::iter::once(PAIR_RECORD_BYTES));
            self.ensure_capacity(writer, needed, 0, false)?;
            let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
            writer.head.append_free(&mut log, victim.index, victim.generation);
            writer.space.freeing(victim.index);
            writer.freeing.push((victim.index, writer.head.open_commit_seq));
        }
        if H::DEVIATES {
            let result = self.hooks.segment_freeing(self, segment_start(victim.index));
            self.poison_on_error(result)?;
        }
        Ok(copied)
    }

    /// The records of segment `index` from `offset` on, up to [`CHUNK_BYTES`] of them, and where
    /// the next chunk starts (`None`: the segment's Seal was reached).
    fn candidates(&self, index: SegmentIndex, offset: u64) -> Result<(Vec<Candidate>, Option<u64>), Error> {
        let bound = (offset + CHUNK_BYTES).min(index.end_offset());
        let mut cursor = Cursor::at(index, offset, bound);
        let mut found = Vec::new();
        let mut damage = None;
        for _ in 0..=STEPS_PER_SEGMENT_MAX {
            let read = |offset, _| match access::published_header(&self.medium, offset) {
                Ok(header) => Some((header, (0, 0))),
                Err(error) => {
                    damage = Some(error);
                    None
                }
            };
            match cursor.next(read) {
                Ok(step) if matches!(step.header.kind, Kind::Put | Kind::Delete) => {
                    found.push(Candidate {
                        kind: step.header.kind,
                        offset: step.offset,
                        record_bytes: step.header.record_bytes(),
                    });
                }
                Ok(_) => {}
                Err(Stop::Sealed) => return Ok((found, None)),
                Err(Stop::Bound) => return Ok((found, Some(cursor.offset()))),
                Err(Stop::Invalid) => {
                    return Err(damage.unwrap_or_else(|| Error::corruption(cursor.offset(), "invalid record")))
                }
                Err(Stop::EndOfSegment | Stop::PastLimit) => {
                    return Err(Error::corruption(cursor.offset(), "a sealed segment without its Seal record"))
                }
            }
        }
        unreachable!("a cursor ends within its segment");
    }

    /// Copies the live `candidates` to the head under the writer mutex; returns (bytes, records).
    fn relocate(&self, candidates: &[Candidate], victim: &Victim) -> Result<(u64, u64), Error> {
        // No copying while a commit writes back: on a page-cache file the writeback
        // write-protects every page it cleans, which costs a TLB shootdown on each CPU running
        // this process; a cleaner blocked here is not one of them.
        let _no_writeback = self.lock(&self.commit)?;
        let mut guard = self.lock(&self.writer)?;
        let writer = &mut *guard;
        let mut keep_tombstones = victim.tombstones_needed;
        if H::DEVIATES {
            keep_tombstones = self.hooks.tombstones_kept(keep_tombstones);
        }
        let mut live = Vec::new();
        for candidate in candidates {
            let (_, key, _) = access::published_record(&self.medium, candidate.offset)?;
            let current = self.index.get(key, &IndexedKeys(&self.medium));
            let is_live = match candidate.kind {
                Kind::Put => current.is_some_and(|location| location.offset == candidate.offset),
                _ => current.is_none() && keep_tombstones,
            };
            if is_live {
                live.push(*candidate);
            }
        }
        let needed = writer.head.segments_needed(live.iter().map(|candidate| candidate.record_bytes));
        self.ensure_capacity(writer, needed, 0, false)?;
        let bytes = self.copy_records(writer, &live, victim.tombstone_shadow)?;
        Ok((bytes, live.len() as u64))
    }

    /// Appends copies of `records` (checked live, capacity ensured) and repoints the index. A
    /// tombstone's copy keeps the shadow of the segment it came from.
    fn copy_records(
        &self,
        writer: &mut Writer,
        records: &[Candidate],
        shadow: Option<Generation>,
    ) -> Result<u64, Error> {
        let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
        let mut bytes = 0;
        for record in records {
            let (_, key, value) = access::published_record(&self.medium, record.offset)?;
            let offset = match record.kind {
                Kind::Delete => writer.head.append_tombstone(&mut log, key, shadow),
                _ => writer.head.append(&mut log, record.kind, key, value),
            };
            debug_assert_eq!(record_bytes(key.len(), value.len()), record.record_bytes);
            if record.kind == Kind::Put {
                let moved = Location { offset, record_bytes: record.record_bytes };
                let old = self.index.set(key, moved, &IndexedKeys(&self.medium)).expect("a live put is indexed");
                assert_eq!(old.offset, record.offset, "the writer mutex is held: the key cannot have moved");
                log.space.died(old.offset, old.record_bytes);
            }
            bytes += record.record_bytes;
        }
        Ok(bytes)
    }

    /// Punches free segments beyond the ones kept for reuse, among those whose zeroed head is
    /// durable (a lost punch brings the old blocks back, and they must read as free).
    fn punch_surplus(&self) -> Result<(), Error> {
        let mut writer = self.lock(&self.writer)?;
        writer.space.release_retired(|segment| self.pins.is_pinned(segment));
        let minimum = FREE_KEPT_MIN.max(writer.space.live_count() / 16) + CLEANER_RESERVE_SEGMENTS;
        let keep = policy::free_segments_kept(&writer.space, self.options.max_space_amplification, minimum);
        for index in writer.space.punchable(keep) {
            if !access::punch_free_segment(&self.medium, index.file_offset(), SEGMENT_BYTES)? {
                break;
            }
            writer.space.punched(index);
        }
        Ok(())
    }

    /// Whether the space in use exceeds the target.
    fn needs_cleaning(&self) -> bool {
        policy::over_target(&self.lock_for_report(&self.writer).space, self.options.max_space_amplification)
    }

    /// A full pass: cleans every segment worth cleaning that exists now (not the copies this
    /// pass writes), then frees and punches. Returns segments cleaned.
    pub(crate) fn compact(&self) -> Result<u64, Error> {
        self.check_writable()?;
        let mut limit = Generation(0);
        self.sync_with(|writer| limit = writer.head.generation)?;
        let segments = self.lock(&self.writer)?.space.live_count();
        let mut cleaned = 0;
        // Bounded: a step per segment, and up to two commits between steps when free segments
        // run short (one for the Free records, one for the zeroed heads).
        for _ in 0..3 * segments + 1 {
            if self.clean_step(Some(limit))? {
                cleaned += 1;
            } else if !self.commit_frees_space()? {
                break;
            } else {
                self.sync()?;
            }
        }
        // One commit frees what was cleaned, the next makes the zeroed heads durable.
        self.sync()?;
        self.sync()?;
        let _one_cleaner = self.lock(&self.cleaner)?;
        self.punch_surplus()?;
        Ok(cleaned)
    }

    /// `Db::clean`: cleaning steps while the space in use exceeds the target, committing as
    /// needed. Returns segments cleaned.
    pub(crate) fn clean(&self) -> Result<u64, Error> {
        // Bounded: one step per segment of the log, plus the commits that move the boundary.
        let live = self.lock(&self.writer)?.space.live_count();
        self.clean_to_target(live as usize + 2, || true)
    }

    /// Cleans while the space in use exceeds the target: at most `steps_max` steps, committing
    /// (when `may_commit`) whenever nothing is old enough to clean or cleaned segments wait for
    /// a commit. Returns segments cleaned.
    pub(crate) fn clean_to_target(&self, steps_max: usize, may_commit: impl Fn() -> bool) -> Result<u64, Error> {
        let mut cleaned = 0;
        let mut committed_since_progress = false;
        for _ in 0..steps_max {
            if self.is_poisoned() || !self.needs_cleaning() {
                break;
            }
            if self.clean_step(None)? {
                cleaned += 1;
                committed_since_progress = false;
            } else if may_commit() && (!committed_since_progress || self.commit_frees_space()?) {
                // A commit moves the boundary, or gives back segments cleaned before it.
                self.sync()?;
                committed_since_progress = true;
            } else {
                break;
            }
        }
        if !self.lock(&self.writer)?.freeing.is_empty() && may_commit() {
            self.sync()?;
        }
        Ok(cleaned)
    }
}
