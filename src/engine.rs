//! The engine: the write path, group commit, open/format/recover and close, generic over the
//! [`Medium`]. [`Db`](crate::Db) is its public face.
//!
//! Locks (in acquisition order): `cleaner` (one cleaning step at a time), `commit` (one commit
//! at a time; also guards the superblock), then `writer` (the log head and the space table; held
//! while appending, and while closing a commit and tagging). Readers take none: they read inside
//! a [`ReaderGate`] section, which only the cleaner waits for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use bytes::Bytes;

use crate::batch::Op;
use crate::dirty::DirtyIndex;
use crate::error::Error;
use crate::index::{KeyIndex, Location};
use crate::layout::{PAGE_BYTES, SEGMENT_BYTES};
use crate::log::record::{record_bytes, Kind, PAIR_RECORD_BYTES};
use crate::log::superblock::{self, Superblock};
use crate::log::{access, segment_start, Head, LogSpace};
use crate::media::Medium;
use crate::options::{Durability, Options};
use crate::recovery::{self, RecoveryReport};
use crate::space::readers::{ReaderGate, SegmentPins};
use crate::space::{policy, Space};

/// Free segments user writes leave for the cleaner when the file cannot grow, so that cleaning
/// can always make progress on a full disk.
pub(crate) const CLEANER_RESERVE_SEGMENTS: u64 = 1;
/// Attempts (a cleaning step or a commit each) a writer makes itself when it finds no free
/// space, before `NoSpace`.
const OUT_OF_SPACE_ATTEMPTS_MAX: usize = 16;
/// Commits in a row a writer runs without finding a segment to clean, before it gives up on
/// the budget (one moves the cleaning boundary past everything written before it).
const BOUNDARY_COMMITS_MAX: usize = 1;

/// State guarded by the writer mutex.
pub(crate) struct Writer {
    pub(crate) head: Head,
    pub(crate) space: Space,
    /// Cleaned segments whose Free record is in the open commit (or one not yet durable), with
    /// that commit's sequence: each is zeroed and retired when that commit is durable.
    pub(crate) freeing: Vec<(u64, u64)>,
    /// The head's generation at the last durable commit: the cleaner selects only segments
    /// older than this, whose records are all committed.
    pub(crate) clean_boundary: u64,
    /// Batches appended since open (the group-commit clock; also `Stats::batches_total`).
    batches_appended: u64,
    puts_total: u64,
    deletes_total: u64,
    record_bytes_total: u64,
}

/// What the writer mutex counts, read together with the head for `Stats`.
pub(crate) struct WriteCounters {
    pub(crate) log_head_offset: u64,
    pub(crate) space: crate::space::SpaceCounters,
    pub(crate) batches_total: u64,
    pub(crate) puts_total: u64,
    pub(crate) deletes_total: u64,
    pub(crate) record_bytes_total: u64,
}

/// State guarded by the commit mutex.
pub(crate) struct CommitState {
    superblock: Superblock,
    last_commit_seq: u64,
    last_commit_end: u64,
}

/// See the module docs.
pub(crate) struct Engine<M: Medium> {
    pub(crate) medium: M,
    pub(crate) dirty: DirtyIndex,
    pub(crate) index: KeyIndex,
    pub(crate) options: Options,
    pub(crate) commits_total: AtomicU64,
    pub(crate) recovery: RecoveryReport,
    pub(crate) gate: ReaderGate,
    pub(crate) pins: std::sync::Arc<SegmentPins>,
    /// One cleaning step at a time.
    pub(crate) cleaner: Mutex<()>,
    pub(crate) cleaning: crate::cleaner::CleanerCounters,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) commit: Mutex<CommitState>,
    durable_batches: AtomicU64,
    poisoned: AtomicBool,
    /// Group commit: whether a leader is committing, and where followers wait for it.
    leader_active: Mutex<bool>,
    commit_done: Condvar,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is a broken invariant elsewhere; the state itself is plain
    // data that every path leaves consistent before it can panic, so keep going.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl<M: Medium> Engine<M> {
    /// Opens the store held by `medium`: formats an empty file, recovers an existing one.
    pub(crate) fn open(medium: M, options: Options) -> Result<Engine<M>, Error> {
        options.validate()?;
        let file_bytes = medium.file_bytes();
        let mut page = vec![0u8; PAGE_BYTES as usize];
        let read = if file_bytes == 0 { 0 } else { medium.read_at(0, &mut page)? };
        let found = superblock::decode(&page[..read])?;
        match found {
            None if file_bytes <= SEGMENT_BYTES => Self::format(medium, options),
            None => Err(Error::UnknownFormat),
            Some(superblock) => Self::recover(medium, options, superblock),
        }
    }

    fn assemble(
        medium: M,
        options: Options,
        head: Head,
        space: Space,
        state: CommitState,
        recovery: RecoveryReport,
        index: KeyIndex,
    ) -> Engine<M> {
        let dirty = DirtyIndex::new(options.max_file_bytes);
        Engine {
            medium,
            dirty,
            index,
            options,
            commits_total: AtomicU64::new(0),
            recovery,
            gate: ReaderGate::default(),
            pins: std::sync::Arc::default(),
            cleaner: Mutex::new(()),
            cleaning: crate::cleaner::CleanerCounters::default(),
            writer: Mutex::new(Writer {
                clean_boundary: head.generation,
                head,
                space,
                freeing: Vec::new(),
                batches_appended: 0,
                puts_total: 0,
                deletes_total: 0,
                record_bytes_total: 0,
            }),
            commit: Mutex::new(state),
            durable_batches: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            leader_active: Mutex::new(false),
            commit_done: Condvar::new(),
        }
    }

    /// A new store: segment 0 with its head, commit 0, then the superblock (last, so a crash
    /// before it leaves an all-zero superblock page, which open formats again).
    fn format(medium: M, options: Options) -> Result<Engine<M>, Error> {
        medium.grow(SEGMENT_BYTES)?;
        let superblock = Superblock::new(medium.new_store_uuid()?);
        let mut space = Space::new(1, superblock.open_epoch);
        let (segment_index, generation) = space.take_free();
        let head = Head {
            segment_index,
            generation,
            offset: segment_start(segment_index),
            open_commit_seq: 0,
            records_in_open_commit: 0,
            live_segments: 1,
            store_id: superblock.store_id(),
        };
        let state = CommitState { superblock, last_commit_seq: 0, last_commit_end: 0 };
        let engine =
            Self::assemble(medium, options, head, space, state, RecoveryReport::default(), KeyIndex::default());
        {
            let mut commit = lock(&engine.commit);
            engine.commit_locked(&mut commit, |writer| {
                let Writer { head, space, .. } = writer;
                head.write_segment_head(&mut LogSpace { medium: &engine.medium, dirty: &engine.dirty, space })
            })?;
            // Slot 0, durable, then slot 1: see `superblock::decode` for why the order matters.
            for _ in 0..2 {
                let offset = access::write_superblock(&engine.medium, &commit.superblock);
                engine.dirty.mark(offset, superblock::SLOT_BYTES as u64);
                engine.flush_tagged()?;
                commit.superblock.update_seq += 1;
            }
            commit.superblock.update_seq -= 1;
        }
        Ok(engine)
    }

    fn recover(medium: M, options: Options, mut superblock: Superblock) -> Result<Engine<M>, Error> {
        let file_bytes = medium.file_bytes();
        if file_bytes < SEGMENT_BYTES || file_bytes % SEGMENT_BYTES != 0 {
            return Err(Error::corruption(
                file_bytes,
                "file size is not a whole number of 2 MiB segments (truncated?)",
            ));
        }
        medium.map_existing(file_bytes)?;
        let index = KeyIndex::default();
        let open_epoch = superblock
            .open_epoch
            .checked_add(1)
            .ok_or_else(|| Error::corruption(superblock.slot_offset(), "open epoch exhausted"))?;
        let recovered = recovery::recover(&medium, &superblock, &index, open_epoch)?;
        superblock = Superblock { update_seq: superblock.update_seq + 1, clean: false, open_epoch, ..superblock };
        let state = CommitState {
            superblock,
            last_commit_seq: recovered.last_commit_seq,
            last_commit_end: recovered.head.offset,
        };
        let engine = Self::assemble(medium, options, recovered.head, recovered.space, state, recovered.report, index);
        for (start, end) in recovered.zeroed {
            engine.dirty.mark(start, end - start);
        }
        {
            // Before any write: this open's epoch (every generation it allocates carries it), and
            // from now on a crash is not a clean shutdown.
            let commit = lock(&engine.commit);
            let offset = access::write_superblock(&engine.medium, &commit.superblock);
            engine.dirty.mark(offset, superblock::SLOT_BYTES as u64);
        }
        engine.flush_tagged()?;
        Ok(engine)
    }

    pub(crate) fn check_writable(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    fn validate_op(&self, op: &Op<'_>) -> Result<(), Error> {
        let key = op.key();
        if key.len() > self.options.max_key_bytes {
            return Err(Error::KeyTooLarge { len: key.len(), max: self.options.max_key_bytes });
        }
        if let Op::Put(_, value) = op {
            if value.len() > self.options.max_value_bytes {
                return Err(Error::ValueTooLarge { len: value.len(), max: self.options.max_value_bytes });
            }
        }
        Ok(())
    }

    /// Appends `ops` as one atomic batch and, for `Immediate`, waits for its commit.
    pub(crate) fn write(&self, ops: &[Op<'_>]) -> Result<(), Error> {
        for op in ops {
            self.validate_op(op)?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.check_writable()?;
        let batch = self.append(ops)?;
        match self.options.durability {
            Durability::Immediate => self.commit_through(batch),
            Durability::Deferred => Ok(()),
        }
    }

    /// Appends `ops`, then commits if the head filled a segment while cleaned segments wait.
    fn append(&self, ops: &[Op<'_>]) -> Result<u64, Error> {
        let (batch, advanced) = self.append_making_space(ops)?;
        if advanced && self.options.durability == Durability::Deferred {
            // The head filled a segment while cleaned segments wait for their Free records to be
            // durable: commit now, from the writer's thread, so they are free before the writer
            // runs out and the cleaning boundary keeps up with the log (see `append_making_space`).
            self.sync()?;
        }
        Ok(batch)
    }

    /// Appends `ops`. A writer that finds no free segment, where growing the file would take it
    /// past the space budget (or the disk is full), makes space itself: it commits when cleaned
    /// segments wait for their Free records to be durable, or runs a cleaning step. That is the
    /// only time a writer waits for cleaning. It grows past the budget only when nothing is
    /// worth cleaning, and returns `NoSpace` only when the file cannot grow.
    fn append_making_space(&self, ops: &[Op<'_>]) -> Result<(u64, bool), Error> {
        let mut within_budget = self.options.background_cleaning;
        let mut boundary_commits = 0;
        for _ in 0..OUT_OF_SPACE_ATTEMPTS_MAX {
            match self.try_append(ops, within_budget) {
                Err(Error::NoSpace) => {
                    if !lock(&self.writer).freeing.is_empty() {
                        self.sync()?;
                    } else if self.clean_step(None)? {
                        boundary_commits = 0;
                    } else if boundary_commits < BOUNDARY_COMMITS_MAX {
                        // Nothing old enough to clean: commit, so the boundary moves on.
                        self.sync()?;
                        boundary_commits += 1;
                    } else if within_budget {
                        within_budget = false;
                    } else {
                        return Err(Error::NoSpace);
                    }
                }
                other => return other,
            }
        }
        self.try_append(ops, false)
    }

    /// Appends `ops` under the writer mutex. Returns the batch number, and whether the head
    /// moved to a new segment while cleaned segments wait for a commit.
    fn try_append(&self, ops: &[Op<'_>], within_budget: bool) -> Result<(u64, bool), Error> {
        let mut guard = lock(&self.writer);
        let writer = &mut *guard;
        let sizes = ops.iter().map(|op| record_bytes(op.key().len(), op.value().len()));
        let needed = writer.head.segments_needed(sizes);
        self.ensure_capacity(writer, needed, CLEANER_RESERVE_SEGMENTS, within_budget)?;
        let segment_before = writer.head.segment_index;
        let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
        for op in ops {
            let record_bytes = record_bytes(op.key().len(), op.value().len());
            let superseded = match op {
                Op::Put(key, value) => {
                    let offset = writer.head.append(&mut log, Kind::Put, key, value);
                    writer.puts_total += 1;
                    self.index.set(key, Location { offset, record_bytes })
                }
                Op::Delete(key) => {
                    writer.head.append(&mut log, Kind::Delete, key, &[]);
                    writer.deletes_total += 1;
                    self.index.remove(key)
                }
            };
            if let Some(old) = superseded {
                log.space.died(old.offset, old.record_bytes);
            }
            writer.record_bytes_total += record_bytes;
        }
        writer.batches_appended += 1;
        let advanced = writer.head.segment_index != segment_before && !writer.freeing.is_empty();
        Ok((writer.batches_appended, advanced))
    }

    /// Makes `needed` new segments (plus `reserve` left free) available to the head. Only when
    /// the free list is short: retired segments nobody pins become free, and `within_budget`
    /// refuses growth past the space budget with `NoSpace`, so that the caller cleans first.
    pub(crate) fn ensure_capacity(
        &self,
        writer: &mut Writer,
        needed: u64,
        reserve: u64,
        within_budget: bool,
    ) -> Result<(), Error> {
        if writer.space.free_count() < needed + reserve {
            writer.space.release_retired(|segment| self.pins.is_pinned(segment));
            let amplification = self.options.max_space_amplification;
            if within_budget
                && writer.space.free_count() < needed + reserve
                && policy::over_budget(&writer.space, self.medium.mapped_bytes(), amplification)
            {
                return Err(Error::NoSpace);
            }
        }
        let cleaner_running = self.options.background_cleaning;
        writer.head.ensure_capacity(&self.medium, &mut writer.space, needed, reserve, cleaner_running)
    }

    /// Returns once batch number `batch` is durable (group commit).
    ///
    /// A writer whose batch is not durable becomes the leader if no commit is running: it commits
    /// everything appended so far in one writeback. Otherwise it waits on `commit_done`, and
    /// every waiter is woken at once when the running commit ends: those it covered return,
    /// and one of the rest leads the next commit, which covers all batches appended meanwhile.
    /// (Queueing followers on the commit mutex itself wakes them one by one and turns every
    /// woken writer into the leader of a one-batch commit: measured 1.6 writes per commit at 16
    /// threads before this design.)
    fn commit_through(&self, batch: u64) -> Result<(), Error> {
        let mut leader_active = lock(&self.leader_active);
        // Bounded: every pass either returns, leads a commit, or waits for one to end.
        loop {
            if self.durable_batches.load(Ordering::Acquire) >= batch {
                return Ok(());
            }
            self.check_writable()?;
            if !*leader_active {
                *leader_active = true;
                drop(leader_active);
                let result = {
                    let mut commit = lock(&self.commit);
                    self.commit_locked(&mut commit, |_| ())
                };
                *lock(&self.leader_active) = false;
                self.commit_done.notify_all();
                return result;
            }
            leader_active = self.commit_done.wait(leader_active).unwrap_or_else(|poison| poison.into_inner());
        }
    }

    /// Commits everything appended so far (`Db::sync`).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        self.check_writable()?;
        let mut commit = lock(&self.commit);
        self.commit_locked(&mut commit, |_| ())
    }

    /// Commits everything appended so far; `before` runs under the writer mutex first.
    pub(crate) fn sync_with(&self, before: impl FnOnce(&mut Writer)) -> Result<(), Error> {
        let mut commit = lock(&self.commit);
        self.commit_locked(&mut commit, before)
    }

    /// The commit protocol (docs/design.md): under the writer mutex, `before` may append, the
    /// Commit record closes the open commit and DIRTY becomes TOWRITE; then, without the writer
    /// mutex, the tagged runs are flushed and fenced once; then the segments this commit freed
    /// are zeroed and retired ([`Engine::after_commit`]).
    pub(crate) fn commit_locked(
        &self,
        commit: &mut CommitState,
        before: impl FnOnce(&mut Writer),
    ) -> Result<(), Error> {
        self.check_writable()?;
        let (appended, head_generation) = {
            let mut guard = lock(&self.writer);
            let writer = &mut *guard;
            before(writer);
            if writer.head.records_in_open_commit > 0 {
                let needed = writer.head.segments_needed(std::iter::empty());
                // A Commit record may take the cleaner's reserve: it is 48 bytes, and it is what
                // makes cleaning's own copies durable.
                self.ensure_capacity(writer, needed, 0, false)?;
                let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
                commit.last_commit_seq = writer.head.close_commit(&mut log);
                commit.last_commit_end = writer.head.offset;
                self.commits_total.fetch_add(1, Ordering::Relaxed);
            }
            self.dirty.tag();
            (writer.batches_appended, writer.head.generation)
        };
        self.writeback_commit(commit.last_commit_end)?;
        self.after_commit(commit.last_commit_seq, head_generation);
        self.durable_batches.fetch_max(appended, Ordering::AcqRel);
        Ok(())
    }

    /// After a commit's fence (commit mutex held, so before the next commit tags): heads zeroed
    /// after the previous commit are durable now; every segment whose Free record this commit
    /// made durable gets its head zeroed (durable with the next commit) and is retired; and the
    /// cleaning boundary moves to the head's generation at this commit.
    fn after_commit(&self, committed_seq: u64, head_generation: u64) {
        let mut guard = lock(&self.writer);
        let writer = &mut *guard;
        writer.space.zeroing_durable();
        let mut still_freeing = Vec::new();
        for (index, free_seq) in std::mem::take(&mut writer.freeing) {
            if free_seq > committed_seq {
                still_freeing.push((index, free_seq));
                continue;
            }
            let start = segment_start(index);
            access::zero_segment_head(&self.medium, start, PAIR_RECORD_BYTES);
            self.dirty.mark(start, PAIR_RECORD_BYTES);
            writer.space.retire(index);
        }
        writer.freeing = still_freeing;
        assert!(writer.clean_boundary <= head_generation, "the head's generation only grows");
        writer.clean_boundary = head_generation;
    }

    /// The writeback of a commit whose Commit record ends at `commit_end`.
    fn writeback_commit(&self, commit_end: u64) -> Result<(), Error> {
        #[cfg(feature = "planted-bugs")]
        if let Some(bug) = self.options.planted_bug.filter(|bug| !bug.needs_cleaning()) {
            return crate::sim::bugs::writeback(self, bug, commit_end);
        }
        let _ = commit_end;
        self.writeback()
    }

    /// Tags and flushes whatever is dirty (superblock and recovery writes). Commit mutex held
    /// by the caller or the engine not shared yet.
    pub(crate) fn flush_tagged(&self) -> Result<(), Error> {
        self.dirty.tag();
        self.writeback()
    }

    /// Writes back every TOWRITE run, then one fence. A failure poisons the handle.
    fn writeback(&self) -> Result<(), Error> {
        let runs = self.dirty.writeback(self.medium.granularity());
        if runs.is_empty() {
            return Ok(());
        }
        self.poison_on_error(self.medium.flush(&runs).and_then(|()| self.medium.fence()))
    }

    pub(crate) fn poison_on_error(&self, result: Result<(), Error>) -> Result<(), Error> {
        if result.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    /// The current value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        let section = self.gate.enter();
        match self.index.get(key) {
            None => Ok(None),
            Some(location) => self.value_at(&section, location.offset).map(Some),
        }
    }

    /// The value of the published record at `offset`, looked up in the index inside `section`
    /// (which keeps the record's segment from reuse until it ends).
    pub(crate) fn value_at(
        &self,
        section: &crate::space::readers::ReadSection<'_>,
        offset: u64,
    ) -> Result<Bytes, Error> {
        let _ = section;
        let header = access::published_header(&self.medium, offset)?;
        if header.kind != Kind::Put {
            return Err(Error::corruption(offset, "index points at a record that is not a put"));
        }
        if self.options.verify_checksums_on_read {
            access::verify_published(&self.medium, offset, &header)?;
        }
        let segment = offset / SEGMENT_BYTES;
        Ok(access::published_value(&self.medium, offset, &header, || self.pins.pin(segment)))
    }

    /// Commits, then records a clean shutdown in the superblock.
    pub(crate) fn close(&self) -> Result<(), Error> {
        self.check_writable()?;
        let mut commit = lock(&self.commit);
        self.commit_locked(&mut commit, |_| ())?;
        commit.superblock = Superblock {
            update_seq: commit.superblock.update_seq + 1,
            clean: true,
            clean_commit_seq: commit.last_commit_seq,
            clean_end_offset: commit.last_commit_end,
            ..commit.superblock
        };
        let offset = access::write_superblock(&self.medium, &commit.superblock);
        self.dirty.mark(offset, superblock::SLOT_BYTES as u64);
        self.flush_tagged()
    }

    /// The log head and the write counters (for stats).
    pub(crate) fn write_counters(&self) -> WriteCounters {
        let writer = lock(&self.writer);
        WriteCounters {
            log_head_offset: writer.head.offset,
            space: writer.space.counters(),
            batches_total: writer.batches_appended,
            puts_total: writer.puts_total,
            deletes_total: writer.deletes_total,
            record_bytes_total: writer.record_bytes_total,
        }
    }

    /// Batches appended since open.
    pub(crate) fn batches_appended(&self) -> u64 {
        lock(&self.writer).batches_appended
    }

    /// Whether an earlier flush failed.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}
