//! Opening a store: format an empty file, recover an existing one (see `crate::recovery` and
//! docs/design.md, "Recovery").

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Condvar, Mutex};

use super::checkpoint::CheckpointState;
use super::hooks::ProtocolHooks;
use super::{CleanerCounters, CommitState, Engine, Writer};
use crate::dirty::DirtyIndex;
use crate::error::Error;
use crate::ids::{CommitSequence, SegmentIndex};
use crate::index::KeyIndex;
use crate::layout::{PAGE_BYTES, SEGMENT_BYTES};
use crate::log::superblock::{self, Superblock};
use crate::log::{access, segment_start, Head, LogSpace};
use crate::media::Medium;
use crate::options::Options;
use crate::recovery::{self, RecoveryReport};
use crate::space::readers::ReaderGate;
use crate::space::Space;

/// Everything open hands to [`Engine::assemble`] besides the medium, options and hooks.
struct Opened {
    head: Head,
    space: Space,
    state: CommitState,
    recovery: RecoveryReport,
    index: KeyIndex,
    /// The segments of the checkpoint recovery used.
    checkpoint: Vec<SegmentIndex>,
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Opens the store held by `medium`: formats an empty file, recovers an existing one.
    pub(crate) fn open(medium: M, options: Options, hooks: H) -> Result<Engine<M, H>, Error> {
        options.validate()?;
        let file_bytes = medium.file_bytes();
        let mut page = vec![0u8; PAGE_BYTES as usize];
        let read = if file_bytes == 0 { 0 } else { medium.read_at(0, &mut page)? };
        let found = superblock::decode(&page[..read])?;
        match found {
            // Creation gives an empty file its first whole segment in one step (fallocate or
            // set_len, then zeros): an unfinished creation is empty or at least a page long. A
            // shorter file is not ours, zeros or not, and is never modified.
            None if file_bytes != 0 && file_bytes < PAGE_BYTES => Err(Error::UnknownFormat),
            None if file_bytes <= SEGMENT_BYTES => Self::format(medium, options, hooks),
            None => Err(Error::UnknownFormat),
            Some(superblock) => Self::recover(medium, options, hooks, superblock),
        }
    }

    fn assemble(medium: M, options: Options, hooks: H, opened: Opened) -> Engine<M, H> {
        let Opened { head, mut space, state, recovery, index, checkpoint } = opened;
        if H::DEVIATES && hooks.reuse_before_head_durable() {
            space.lift_reuse_rule();
        }
        let dirty = DirtyIndex::new(options.max_file_bytes);
        Engine {
            medium,
            hooks,
            dirty,
            index,
            options,
            recovery,
            gate: ReaderGate::default(),
            versions: crate::mvcc::Versions::default(),
            pins: std::sync::Arc::default(),
            cleaner: Mutex::new(()),
            checkpoint_run: Mutex::new(()),
            checkpoints: Mutex::new(CheckpointState {
                durable: checkpoint,
                tail_bytes_at_open: recovery.log_bytes_replayed,
                ..CheckpointState::default()
            }),
            cleaning: CleanerCounters::default(),
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
            commits_total: AtomicU64::new(0),
            durable_batches: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            leader_active: Mutex::new(false),
            commit_done: Condvar::new(),
        }
    }

    /// A new store: segment 0 with its head, commit 0, then the superblock (last, so a crash
    /// before it leaves an all-zero superblock page, which open formats again).
    fn format(medium: M, options: Options, hooks: H) -> Result<Engine<M, H>, Error> {
        medium.grow(SEGMENT_BYTES)?;
        let superblock = Superblock::new(medium.new_store_uuid()?);
        let mut space = Space::new(1, superblock.open_epoch);
        let (segment_index, generation) = space.take_free();
        assert_eq!(segment_index, SegmentIndex(0), "a new store starts in segment 0");
        let head = Head {
            segment_index,
            generation,
            offset: segment_start(segment_index),
            open_commit_seq: CommitSequence(0),
            records_in_open_commit: 0,
            live_segments: 1,
            store_id: superblock.store_id(),
        };
        let state = CommitState { superblock, last_commit_seq: CommitSequence(0), last_commit_end: 0 };
        let opened = Opened {
            head,
            space,
            state,
            recovery: RecoveryReport::default(),
            index: KeyIndex::default(),
            checkpoint: Vec::new(),
        };
        let engine = Self::assemble(medium, options, hooks, opened);
        {
            let mut commit = engine.lock(&engine.commit)?;
            engine.commit_locked(&mut commit, |writer| {
                let Writer { head, space, .. } = writer;
                head.write_segment_head(&mut LogSpace { medium: &engine.medium, dirty: &engine.dirty, space })
            })?;
            assert_eq!(
                commit.last_commit_seq,
                CommitSequence(0),
                "the store's first commit holds its first segment head"
            );
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

    fn recover(medium: M, options: Options, hooks: H, mut superblock: Superblock) -> Result<Engine<M, H>, Error> {
        let file_bytes = medium.file_bytes();
        if file_bytes < SEGMENT_BYTES || file_bytes % SEGMENT_BYTES != 0 {
            return Err(Error::corruption(
                file_bytes,
                "file size is not a whole number of 2 MiB segments (truncated?)",
            ));
        }
        medium.map_existing(file_bytes)?;
        let open_epoch = superblock
            .open_epoch
            .checked_add(1)
            .ok_or_else(|| Error::corruption(superblock.slot_offset(), "open epoch exhausted"))?;
        let recovered = recovery::recover(&medium, &superblock, open_epoch, options.use_checkpoints)?;
        assert!(recovered.head.offset <= medium.mapped_bytes(), "recovery resumes inside the file");
        superblock = Superblock { update_seq: superblock.update_seq + 1, clean: false, open_epoch, ..superblock };
        let state = CommitState {
            superblock,
            last_commit_seq: recovered.last_commit_seq,
            last_commit_end: recovered.head.offset,
        };
        let zeroed = recovered.zeroed;
        let opened = Opened {
            head: recovered.head,
            space: recovered.space,
            state,
            recovery: recovered.report,
            index: recovered.index,
            checkpoint: recovered.checkpoint,
        };
        let engine = Self::assemble(medium, options, hooks, opened);
        for (start, end) in zeroed {
            assert!(start < end, "recovery reports only ranges it wrote");
            engine.dirty.mark(start, end - start);
        }
        {
            // Before any write: this open's epoch (every generation it allocates carries it), and
            // from now on a crash is not a clean shutdown.
            let commit = engine.lock(&engine.commit)?;
            let offset = access::write_superblock(&engine.medium, &commit.superblock);
            engine.dirty.mark(offset, superblock::SLOT_BYTES as u64);
        }
        engine.flush_tagged()?;
        Ok(engine)
    }
}
