//! Group commit and the commit protocol (docs/design.md, "The commit protocol"), and close.

use std::sync::atomic::Ordering;

use super::hooks::{HookIo, ProtocolHooks};
use super::{CommitState, Engine, Writer};
use crate::error::Error;
use crate::ids::{CommitSequence, Generation};
use crate::log::record::PAIR_RECORD_BYTES;
use crate::log::superblock::{self, Superblock};
use crate::log::{access, segment_start, LogSpace};
use crate::media::{Granularity, Medium, Run};

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Returns once batch number `batch` is durable (group commit).
    ///
    /// A writer whose batch is not durable becomes the leader if no commit is running: it commits
    /// everything appended so far in one writeback. Otherwise it waits on `commit_done`, and
    /// every waiter is woken at once when the running commit ends: those it covered return,
    /// and one of the rest leads the next commit, which covers all batches appended meanwhile.
    /// (Queueing followers on the commit mutex itself wakes them one by one and turns every
    /// woken writer into the leader of a one-batch commit: measured 1.6 writes per commit at 16
    /// threads before this design.)
    ///
    /// The single writer's fast path skips that handshake: when the commit mutex is free, no
    /// commit is running, so the writer commits at once without the leader flag, and wakes
    /// nobody (followers wait only while a leader is active, and that leader wakes them).
    pub(super) fn commit_through(&self, batch: u64) -> Result<(), Error> {
        if self.durable_batches.load(Ordering::Acquire) >= batch {
            return Ok(());
        }
        if let Ok(mut commit) = self.commit.try_lock() {
            self.commit_locked(&mut commit, |_| ())?;
            assert!(self.durable_batches.load(Ordering::Acquire) >= batch, "the commit covers the batch");
            return Ok(());
        }
        let mut leader_active = self.lock(&self.leader_active)?;
        // Bounded: every pass either returns, leads a commit, or waits for one to end.
        loop {
            if self.durable_batches.load(Ordering::Acquire) >= batch {
                return Ok(());
            }
            self.check_writable()?;
            if !*leader_active {
                *leader_active = true;
                drop(leader_active);
                let result = self.lock(&self.commit).and_then(|mut commit| self.commit_locked(&mut commit, |_| ()));
                // Even after a panic poisoned it: followers must wake and see the poisoned handle.
                *self.lock_for_report(&self.leader_active) = false;
                self.commit_done.notify_all();
                if result.is_ok() {
                    assert!(
                        self.durable_batches.load(Ordering::Acquire) >= batch,
                        "the leader's commit covers its batch"
                    );
                }
                return result;
            }
            leader_active = self.commit_done.wait(leader_active).map_err(|_| {
                self.poisoned.store(true, Ordering::Release);
                Error::Poisoned
            })?;
        }
    }

    /// Commits everything appended so far (`Db::sync`).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        self.check_writable()?;
        let mut commit = self.lock(&self.commit)?;
        self.commit_locked(&mut commit, |_| ())
    }

    /// The commit protocol (docs/design.md): under the writer mutex, `before` may append, the
    /// Commit record closes the open commit and DIRTY becomes TOWRITE; then, without the writer
    /// mutex, the tagged runs are flushed and fenced once; then the segments this commit freed
    /// are zeroed and retired ([`Engine::after_commit`]).
    pub(super) fn commit_locked(
        &self,
        commit: &mut CommitState,
        before: impl FnOnce(&mut Writer),
    ) -> Result<(), Error> {
        self.check_writable()?;
        let (appended, head_generation) = {
            let mut guard = self.lock(&self.writer)?;
            let writer = &mut *guard;
            before(writer);
            if writer.head.records_in_open_commit > 0 {
                let needed = writer.head.segments_needed(std::iter::empty());
                // A Commit record may take the cleaner's reserve: it is 48 bytes, and it is what
                // makes cleaning's own copies durable.
                self.ensure_capacity(writer, needed, 0, false)?;
                let mut log = LogSpace { medium: &self.medium, dirty: &self.dirty, space: &mut writer.space };
                let sequence = writer.head.close_commit(&mut log);
                assert!(
                    sequence > commit.last_commit_seq || (sequence, commit.last_commit_end) == (CommitSequence(0), 0),
                    "commit sequences strictly increase"
                );
                commit.last_commit_seq = sequence;
                commit.last_commit_end = writer.head.offset;
                self.commits_total.fetch_add(1, Ordering::Relaxed);
            }
            self.dirty.tag();
            (writer.batches_appended, writer.head.generation)
        };
        self.writeback_commit(commit.last_commit_end)?;
        self.after_commit(commit.last_commit_seq, head_generation)?;
        self.durable_batches.fetch_max(appended, Ordering::AcqRel);
        Ok(())
    }

    /// Commits everything appended so far; `before` runs under the writer mutex first.
    pub(super) fn sync_with(&self, before: impl FnOnce(&mut Writer)) -> Result<(), Error> {
        let mut commit = self.lock(&self.commit)?;
        self.commit_locked(&mut commit, before)
    }

    /// After a commit's fence (commit mutex held, so before the next commit tags): heads zeroed
    /// after the previous commit are durable now; every segment whose Free record this commit
    /// made durable gets its head zeroed (durable with the next commit) and is retired; and the
    /// cleaning boundary moves to the head's generation at this commit.
    fn after_commit(&self, committed_seq: CommitSequence, head_generation: Generation) -> Result<(), Error> {
        let mut guard = self.lock(&self.writer)?;
        let writer = &mut *guard;
        writer.space.zeroing_durable();
        let mut still_freeing = Vec::new();
        for (index, free_seq) in std::mem::take(&mut writer.freeing) {
            if free_seq > committed_seq {
                still_freeing.push((index, free_seq));
                continue;
            }
            assert_ne!(index, writer.head.segment_index, "the head segment is never freed");
            let start = segment_start(index);
            access::zero_segment_head(&self.medium, start, PAIR_RECORD_BYTES);
            self.dirty.mark(start, PAIR_RECORD_BYTES);
            writer.space.retire(index);
        }
        writer.freeing = still_freeing;
        assert!(writer.clean_boundary <= head_generation, "the head's generation only grows");
        writer.clean_boundary = head_generation;
        Ok(())
    }

    /// The writeback of a commit whose Commit record ends at `commit_end`: through the hooks
    /// when they deviate, else every TOWRITE run and one fence.
    fn writeback_commit(&self, commit_end: u64) -> Result<(), Error> {
        if !H::DEVIATES {
            return self.writeback();
        }
        let runs = self.dirty.writeback(self.medium.granularity());
        if runs.is_empty() {
            return Ok(());
        }
        let unit = self.unit_bytes();
        let record_start = commit_end.saturating_sub(PAIR_RECORD_BYTES) / unit * unit;
        let commit_record = Run { offset: record_start, len: commit_end.div_ceil(unit) * unit - record_start };
        let result = self.hooks.commit_writeback(self, &runs, commit_record);
        self.poison_on_error(result)
    }

    /// Tags and flushes whatever is dirty (superblock and recovery writes). Commit mutex held
    /// by the caller or the engine not shared yet.
    pub(super) fn flush_tagged(&self) -> Result<(), Error> {
        self.dirty.tag();
        self.writeback()
    }

    /// Writes back every TOWRITE run, then one fence. A failure poisons the handle. The runs
    /// live in the dirty index's reused buffer: no allocation per commit.
    fn writeback(&self) -> Result<(), Error> {
        self.dirty.writeback_with(self.medium.granularity(), |runs| {
            if runs.is_empty() {
                return Ok(());
            }
            self.poison_on_error(self.medium.flush(runs).and_then(|()| self.medium.fence()))
        })
    }

    /// Commits (and takes a checkpoint when one is due, so that the next open reads it instead
    /// of the log), then records a clean shutdown in the superblock.
    pub(crate) fn close(&self) -> Result<(), Error> {
        self.check_writable()?;
        if self.checkpoint_due_at_close()? {
            // Only an optimisation of the next open: a full file (or disk) skips it.
            match self.checkpoint() {
                Ok(()) | Err(Error::NoSpace) => {}
                Err(error) => return Err(error),
            }
        }
        let mut commit = self.lock(&self.commit)?;
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
}

/// What the protocol hooks may do: the engine's own flush, fence, dirty marks and head zeroing.
impl<M: Medium, H: ProtocolHooks> HookIo for Engine<M, H> {
    fn unit_bytes(&self) -> u64 {
        match self.medium.granularity() {
            Granularity::Line => crate::layout::LINE_BYTES,
            Granularity::Page => crate::layout::PAGE_BYTES,
        }
    }

    fn flush(&self, runs: &[Run]) -> Result<(), Error> {
        self.medium.flush(runs)
    }

    fn fence(&self) -> Result<(), Error> {
        self.medium.fence()
    }

    fn defer(&self, run: Run) {
        self.dirty.mark(run.offset, run.len);
    }

    fn zero_segment_head(&self, start: u64) -> Run {
        // The locks that make `zero_segment_head` safe: no commit writes back, no writer appends.
        // A poisoned lock still zeroes: only a planted bug calls this, and it is about to fail.
        let _no_writeback = self.lock_for_report(&self.commit);
        let _writer = self.lock_for_report(&self.writer);
        access::zero_segment_head(&self.medium, start, PAIR_RECORD_BYTES);
        let unit = self.unit_bytes();
        Run { offset: start / unit * unit, len: unit }
    }
}
