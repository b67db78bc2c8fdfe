//! Taking an index checkpoint (docs/design.md, "Index checkpoints"; the bytes are in
//! [`crate::checkpoint`]). Four steps, run by one thread at a time while writers go on:
//!
//! 1. **Capture**, inside a commit, under the writer mutex: the head segment's generation and
//!    commit, the table of live segments older than it, a fresh checkpoint id, and one free
//!    segment for part 0. The commit it rides makes every record appended so far durable.
//! 2. **Export** ([`Engine::checkpoint_step`]): leaves one after another, each from the
//!    separator above the last one, with a lower bound of its keys taken from that separator and
//!    its prefix (no record read, but where a tag ties with the separator's; that read is in a
//!    read section, so the record stays put), no lock. Full parts are written
//!    into their segments, flushed and fenced at once; part 0 stays in memory.
//! 3. **Seal** ([`Engine::checkpoint_seal`]): under the writer mutex, `names_through` (the commit of the newest record the
//!    export could have seen); part 0 with the summary, written, flushed and fenced.
//! 4. **Publish** ([`Engine::checkpoint_publish`]): one more commit, so that `names_through` is durable; then the
//!    previous checkpoint's segments are free.
//!
//! A crash before step 4 ends leaves the previous checkpoint whole (its segments are not reused
//! before), and recovery refuses the new one while its `names_through` is not durable.

use super::hooks::ProtocolHooks;
use super::write::{CLEANER_RESERVE_SEGMENTS, OUT_OF_SPACE_ATTEMPTS_MAX};
use super::{Engine, Writer};
use crate::checkpoint::format::{encode_leaf, part_head, PART_HEAD_BYTES, SUMMARY_BYTES};
use crate::checkpoint::{Summary, TableEntry};
use crate::error::Error;
use crate::ids::{CommitSequence, SegmentIndex};
use crate::index::LeafImage;
use crate::layout::SEGMENT_BYTES;
use crate::log::access::{self, IndexedKeys};
use crate::log::segment_start;
use crate::media::{Granularity, Medium, Run};

impl CheckpointState {
    /// Log bytes after the durable checkpoint's capture, given the log bytes appended since open
    /// now ([`Engine::log_bytes_appended`], which only grows).
    fn log_bytes_since_capture(&self, appended: u64) -> u64 {
        let total = appended + self.tail_bytes_at_open;
        debug_assert!(total >= self.log_bytes_at_capture, "the capture is in the log already appended");
        total.saturating_sub(self.log_bytes_at_capture)
    }
}

/// Leaves a checkpoint exports at most: more than any tree holds (every leaf holds a key).
const LEAVES_MAX: u64 = 1 << 48;

/// The checkpoints of one open, under the engine's checkpoint mutex.
#[derive(Debug, Default)]
pub(crate) struct CheckpointState {
    /// Segments of the newest durable checkpoint (empty: none since the file was created, or
    /// none usable at open).
    pub(super) durable: Vec<SegmentIndex>,
    /// Log bytes appended since open ([`Engine::log_bytes_appended`]) at its capture.
    pub(super) log_bytes_at_capture: u64,
    /// Log bytes after the durable checkpoint's capture that were already there at open (the
    /// tail recovery replayed); 0 once a checkpoint was taken in this open.
    pub(super) tail_bytes_at_open: u64,
    /// A checkpoint is being taken (between begin and finish or abandon).
    pub(super) running: bool,
    /// Checkpoints made durable since open.
    pub(super) taken_total: u64,
}

/// One checkpoint being taken: what the capture found, and the parts written so far.
#[derive(Debug)]
pub(crate) struct CheckpointTask {
    summary: Summary,
    store_id: u64,
    /// The captured table, until its entries are written as the first items.
    table: Vec<TableEntry>,
    /// Part 0's payload: the summary's place, the table, then leaves. Written last.
    first: Vec<u8>,
    /// Part 0's segment, taken with the first item.
    first_segment: Option<SegmentIndex>,
    /// The payload of the part being filled (after part 0 filled), and its segment.
    current: Option<(SegmentIndex, Vec<u8>)>,
    /// Every segment taken, part 0's first.
    segments: Vec<SegmentIndex>,
    /// Where the export goes on: the leaf covering this key, from it on (empty: the start).
    next_from: Box<[u8]>,
    /// The export reached the last key.
    exported: bool,
    /// Its last part and part 0 are written (step 3 done).
    sealed: bool,
    log_bytes_at_capture: u64,
}

impl CheckpointTask {
    /// Whether the export reached the last key.
    #[cfg_attr(not(feature = "sim"), expect(dead_code, reason = "the simulator steps checkpoints"))]
    pub(crate) fn is_exported(&self) -> bool {
        self.exported
    }

    /// Whether step 3 is done.
    #[cfg_attr(not(feature = "sim"), expect(dead_code, reason = "the simulator steps checkpoints"))]
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed
    }
}

/// Payload bytes a part in `segment` can hold.
fn part_capacity(segment: SegmentIndex) -> usize {
    (segment.end_offset() - segment_start(segment) - PART_HEAD_BYTES) as usize
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Takes a whole checkpoint (`Db::checkpoint`, close, the background thread).
    pub(crate) fn checkpoint(&self) -> Result<(), Error> {
        let _one_at_a_time = self.lock(&self.checkpoint_run)?;
        let mut task = self.checkpoint_begin()?;
        let walked = self.checkpoint_step(&mut task, LEAVES_MAX);
        match walked.and_then(|done| {
            assert!(done, "a whole walk reaches the last key");
            self.checkpoint_seal(&mut task)
        }) {
            Ok(()) => self.checkpoint_publish(task),
            Err(error) => {
                self.checkpoint_abandon(task);
                Err(error)
            }
        }
    }

    /// Log bytes appended since open: writers' records and the cleaner's copies.
    pub(super) fn log_bytes_appended(&self, writer: &Writer) -> u64 {
        writer.record_bytes_total + self.cleaning.bytes_copied_total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Step 1 (see the module docs). Only one checkpoint is taken at a time: whole ones wait
    /// for each other (`checkpoint_run`); a task begun step by step (the simulator's) makes any
    /// other begin fail until it is finished or abandoned.
    pub(crate) fn checkpoint_begin(&self) -> Result<CheckpointTask, Error> {
        self.check_writable()?;
        {
            let mut state = self.lock(&self.checkpoints)?;
            if state.running {
                return Err(Error::InvalidOptions("another checkpoint is being taken".into()));
            }
            state.running = true;
        }
        let mut captured: Option<Result<CheckpointTask, Error>> = None;
        let synced = self.sync_with(|writer| captured = Some(self.capture(writer)));
        let mut task = match (synced, captured) {
            (Ok(()), Some(Ok(task))) => task,
            (Err(error), Some(Ok(task))) => {
                self.checkpoint_abandon(task);
                return Err(error);
            }
            (synced, captured) => {
                self.lock_for_report(&self.checkpoints).running = false;
                return Err(synced.err().or(captured.and_then(Result::err)).unwrap_or(Error::Poisoned));
            }
        };
        let mut item = Vec::new();
        for entry in std::mem::take(&mut task.table) {
            item.clear();
            item.extend(entry.encode());
            if let Err(error) = self.push_item(&mut task, &item) {
                self.checkpoint_abandon(task);
                return Err(error);
            }
        }
        Ok(task)
    }

    /// The capture, under the writer mutex, inside the commit that `checkpoint_begin` runs.
    fn capture(&self, writer: &mut Writer) -> Result<CheckpointTask, Error> {
        let head = &writer.head;
        let covered_generation = head.generation;
        let table: Vec<TableEntry> = writer
            .space
            .live_segments()
            .into_iter()
            .filter(|(_, segment)| segment.generation < covered_generation)
            .map(|(index, segment)| TableEntry {
                index,
                generation: segment.generation,
                written_bytes: segment.live_bytes + segment.tombstone_bytes + segment.dead_bytes,
                tombstone_bytes: segment.tombstone_bytes,
                tombstone_shadow: segment.tombstone_shadow,
            })
            .collect();
        // The commit this capture rides closes the open commit if it holds records; every
        // record appended so far is durable when `checkpoint_begin` returns.
        let durable_through = if head.records_in_open_commit > 0 {
            head.open_commit_seq
        } else {
            CommitSequence(head.open_commit_seq.0.checked_sub(1).expect("commit 0 is written at creation"))
        };
        let head_commit = self.head_segment_commit(head.segment_index)?;
        let id = writer.space.next_generation();
        let summary = Summary {
            id,
            covered_generation,
            head_commit,
            durable_through,
            names_through: durable_through,
            key_count: 0,
            leaf_count: 0,
            table_len: table.len() as u64,
            parts: 1,
        };
        Ok(CheckpointTask {
            summary,
            store_id: writer.head.store_id,
            table,
            first: vec![0u8; SUMMARY_BYTES],
            first_segment: None,
            current: None,
            segments: Vec::new(),
            next_from: Box::default(),
            exported: false,
            sealed: false,
            log_bytes_at_capture: self.log_bytes_appended(writer),
        })
    }

    /// The commit of the SegmentHead record of segment `index` (the head segment: published).
    fn head_segment_commit(&self, index: SegmentIndex) -> Result<CommitSequence, Error> {
        Ok(access::published_header(&self.medium, segment_start(index))?.commit_seq)
    }

    /// A free segment for a checkpoint part, never the cleaner's reserve. Like a writer, it
    /// makes space (commits, cleans) before it grows the file past the space budget, and grows
    /// it only when nothing can be reclaimed. Takes the cleaner and commit mutexes: called with
    /// no lock held.
    fn take_checkpoint_segment(&self) -> Result<SegmentIndex, Error> {
        let mut within_budget = self.options.background_cleaning;
        for _ in 0..=OUT_OF_SPACE_ATTEMPTS_MAX {
            {
                let mut writer = self.lock(&self.writer)?;
                // As "needed", not as a reserve: a reserve makes the caller commit before it
                // grows, which `make_space` below does instead.
                match self.ensure_capacity(&mut writer, 1 + CLEANER_RESERVE_SEGMENTS, 0, within_budget) {
                    Ok(()) => return Ok(writer.space.take_for_checkpoint()),
                    Err(Error::NoSpace) if within_budget => {}
                    Err(error) => return Err(error),
                }
            }
            if !self.make_space()? {
                within_budget = false;
            }
        }
        let mut writer = self.lock(&self.writer)?;
        self.ensure_capacity(&mut writer, 1 + CLEANER_RESERVE_SEGMENTS, 0, false)?;
        Ok(writer.space.take_for_checkpoint())
    }

    /// Step 2: exports up to `leaves_max` leaves. Returns whether the export reached the end.
    pub(crate) fn checkpoint_step(&self, task: &mut CheckpointTask, leaves_max: u64) -> Result<bool, Error> {
        assert!(!task.exported, "a finished export is not stepped again");
        self.check_writable()?;
        let keys = IndexedKeys(&self.medium);
        let mut image = LeafImage::default();
        let mut item = Vec::new();
        for _ in 0..leaves_max.min(LEAVES_MAX) {
            let next = {
                // A tie of tags with `next_from` reads a record.
                let _section = self.gate.enter();
                self.index.export_from(&task.next_from, &keys, &mut image)
            };
            if !image.slots.is_empty() {
                encode_leaf(image.bound_from(&task.next_from), &image, &mut item);
                self.push_item(task, &item)?;
                task.summary.key_count += image.slots.len() as u64;
                task.summary.leaf_count += 1;
            }
            match next {
                Some(next) => task.next_from = next,
                None => {
                    task.exported = true;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Appends one item to the part being filled, writing that part out when the item does
    /// not fit (part 0 is kept for the end).
    fn push_item(&self, task: &mut CheckpointTask, item: &[u8]) -> Result<(), Error> {
        let first_segment = self.first_segment(task)?;
        let fits = |segment: SegmentIndex, payload: &Vec<u8>| payload.len() + item.len() <= part_capacity(segment);
        let full = match &task.current {
            None => !fits(first_segment, &task.first),
            Some((segment, payload)) => !fits(*segment, payload),
        };
        if full {
            if let Some((segment, payload)) = task.current.take() {
                let part = task.segments.len() as u64 - 1;
                self.write_part(task, segment, part, &payload)?;
            }
            let segment = self.take_checkpoint_segment()?;
            task.segments.push(segment);
            task.current = Some((segment, Vec::with_capacity(part_capacity(segment))));
            assert!(item.len() <= part_capacity(segment), "a leaf item fits one part");
        }
        match &mut task.current {
            None => task.first.extend_from_slice(item),
            Some((_, payload)) => payload.extend_from_slice(item),
        }
        Ok(())
    }

    /// Part 0's segment, taken the first time it is needed.
    fn first_segment(&self, task: &mut CheckpointTask) -> Result<SegmentIndex, Error> {
        if let Some(segment) = task.first_segment {
            return Ok(segment);
        }
        let segment = self.take_checkpoint_segment()?;
        assert!(task.segments.is_empty(), "part 0's segment is the first taken");
        task.segments.push(segment);
        task.first_segment = Some(segment);
        Ok(segment)
    }

    /// Writes part `part` (head and payload) into `segment`, flushes and fences it.
    fn write_part(&self, task: &CheckpointTask, segment: SegmentIndex, part: u64, payload: &[u8]) -> Result<(), Error> {
        let head = part_head(task.summary.id, task.store_id, segment, part, payload);
        let start = segment_start(segment);
        access::write_checkpoint_part(&self.medium, start, &head, payload);
        let unit = match self.medium.granularity() {
            Granularity::Line => crate::layout::LINE_BYTES,
            Granularity::Page => crate::layout::PAGE_BYTES,
        };
        let end = (start + PART_HEAD_BYTES + payload.len() as u64).div_ceil(unit) * unit;
        let run = Run { offset: start / unit * unit, len: end.min(segment.end_offset()) - start / unit * unit };
        let result = self.medium.flush(&[run]).and_then(|()| self.medium.fence());
        self.poison_on_error(result)
    }

    /// Step 3 (see the module docs): the last part, then part 0 with the summary, each flushed
    /// and fenced. Runs no commit: the checkpoint is durable afterwards, usable once
    /// `names_through` is.
    pub(crate) fn checkpoint_seal(&self, task: &mut CheckpointTask) -> Result<(), Error> {
        assert!(task.exported && !task.sealed, "a finished export is sealed once");
        let first_segment = self.first_segment(task)?;
        if let Some((segment, payload)) = task.current.take() {
            let part = task.segments.len() as u64 - 1;
            self.write_part(task, segment, part, &payload)?;
        }
        let names_through = {
            let writer = self.lock(&self.writer)?;
            let head = &writer.head;
            if head.records_in_open_commit > 0 {
                head.open_commit_seq
            } else {
                CommitSequence(head.open_commit_seq.0 - 1)
            }
        };
        assert!(names_through >= task.summary.durable_through, "commits only move forward");
        task.summary.names_through = if H::DEVIATES {
            CommitSequence(self.hooks.checkpoint_names_through(names_through.0, task.summary.durable_through.0))
        } else {
            names_through
        };
        task.summary.parts = task.segments.len() as u64;
        let mut first = std::mem::take(&mut task.first);
        first[..SUMMARY_BYTES].copy_from_slice(&task.summary.encode());
        self.write_part(task, first_segment, 0, &first)?;
        task.sealed = true;
        Ok(())
    }

    /// Step 4 (see the module docs): a commit makes `names_through` durable; then the previous
    /// checkpoint's segments are free.
    pub(crate) fn checkpoint_publish(&self, task: CheckpointTask) -> Result<(), Error> {
        assert!(task.sealed, "a checkpoint is sealed before it is published");
        if let Err(error) = self.sync() {
            self.checkpoint_abandon(task);
            return Err(error);
        }
        let mut state = self.lock(&self.checkpoints)?;
        let superseded = std::mem::replace(&mut state.durable, task.segments);
        self.lock(&self.writer)?.space.release_checkpoint(&superseded);
        state.log_bytes_at_capture = task.log_bytes_at_capture;
        state.tail_bytes_at_open = 0;
        state.taken_total += 1;
        state.running = false;
        Ok(())
    }

    /// Gives back the segments of a checkpoint that will not be finished.
    pub(crate) fn checkpoint_abandon(&self, task: CheckpointTask) {
        let mut writer = self.lock_for_report(&self.writer);
        writer.space.release_checkpoint(&task.segments);
        drop(writer);
        self.lock_for_report(&self.checkpoints).running = false;
    }

    /// Takes a checkpoint when the log written since the last one's capture reaches the
    /// interval (see `Options::checkpoint_interval_bytes`). Returns whether it took one.
    pub(crate) fn checkpoint_if_due(&self) -> Result<bool, Error> {
        let interval = self.options.checkpoint_interval_bytes;
        if interval == 0 || !self.checkpoint_due(interval)? {
            return Ok(false);
        }
        self.checkpoint().map(|()| true)
    }

    /// Whether the log since the last capture reached `interval`, or the size of the durable
    /// checkpoint when that is larger.
    fn checkpoint_due(&self, interval: u64) -> Result<bool, Error> {
        let state = self.lock(&self.checkpoints)?;
        let checkpoint_bytes = state.durable.len() as u64 * SEGMENT_BYTES;
        let since = state.log_bytes_since_capture(self.log_bytes_appended(&*self.lock(&self.writer)?));
        Ok(!state.running && since >= interval.max(checkpoint_bytes))
    }

    /// Whether close should take a checkpoint: none is durable and the store holds keys, or the
    /// log since the last one's capture is at least an eighth of it (replaying less than that
    /// costs less than rewriting it).
    pub(super) fn checkpoint_due_at_close(&self) -> Result<bool, Error> {
        let state = self.lock(&self.checkpoints)?;
        let since = state.log_bytes_since_capture(self.log_bytes_appended(&*self.lock(&self.writer)?));
        let checkpoint_bytes = state.durable.len() as u64 * SEGMENT_BYTES;
        Ok(if state.durable.is_empty() { self.index.len() > 0 || since > 0 } else { since >= checkpoint_bytes / 8 })
    }

    /// For stats: checkpoints taken since open, bytes the durable one occupies, log bytes since
    /// its capture.
    pub(super) fn checkpoint_figures(&self) -> (u64, u64, u64) {
        let state = self.lock_for_report(&self.checkpoints);
        let since = state.log_bytes_since_capture(self.log_bytes_appended(&self.lock_for_report(&self.writer)));
        (state.taken_total, state.durable.len() as u64 * SEGMENT_BYTES, since)
    }
}
