//! Recovery: find the log's segments, validate every record, rebuild the index and the space
//! accounting, discard a torn tail.
//!
//! The algorithm and its crash argument are written once, step by step, in docs/design.md
//! ("Recovery"); this module follows those steps in order:
//! - step 2: [`segment_heads`] (every segment whose head validates, in generation order);
//! - step 3: `Validation::validate`, one [`Cursor`] walk per segment (`parse_segment`);
//! - step 4: `kept_segments`, and the `live_segments` check in [`recover`];
//! - step 5: `check_nothing_committed_after`, and the clean-close check in [`recover`];
//! - step 6: [`replay`] (the same accounting rules as the running store, [`crate::space`]);
//! - step 7: `zero_discarded` (the caller makes it durable before any new write).

mod from_checkpoint;
mod replay;

use std::collections::HashSet;

use crate::checkpoint;
use crate::error::Error;
use crate::ids::{CommitSequence, Generation, SegmentIndex};
use crate::index::KeyIndex;
use crate::layout::{RECORD_ALIGN, RECORD_HEADER_BYTES, SEGMENT_BYTES};
use crate::log::access::{nonzero_span, with_recovery_bytes, zero_recovery_range};
use crate::log::cursor::{Cursor, STEPS_PER_SEGMENT_MAX};
use crate::log::record::{self, Header, Kind, PAIR_RECORD_BYTES};
use crate::log::superblock::Superblock;
use crate::log::{segment_start, Head};
use crate::media::Medium;
use crate::space::Space;

/// What recovery found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Valid records read.
    pub records_scanned: u64,
    /// Commits applied to the index.
    pub commits_applied: u64,
    /// Segments whose records were read.
    pub segments_scanned: u64,
    /// Segments holding the log after recovery.
    pub segments_live: u64,
    /// Bytes of the discarded tail that held data and were zeroed (0 after a clean close).
    pub tail_bytes_zeroed: u64,
    /// The previous close was clean.
    pub clean_shutdown: bool,
    /// Bytes of the log replayed into the index (all of it without a checkpoint; with one, the
    /// segments from its capture on).
    pub log_bytes_replayed: u64,
    /// Keys loaded from an index checkpoint (0: none was used, the whole log was scanned).
    pub checkpoint_keys: u64,
    /// Whether the index came from a checkpoint plus the log after it (else: the whole log).
    pub from_checkpoint: bool,
    /// Checkpoints found but not used: damaged, foreign, incomplete, or naming commits the
    /// log does not hold (a crash came before the checkpoint's last commit was durable).
    pub checkpoints_rejected: u64,
    /// Why the newest rejected checkpoint was not used.
    pub checkpoint_rejection: Option<&'static str>,
}

/// Result of a recovery: where writing resumes.
pub(crate) struct Recovered {
    pub(crate) head: Head,
    pub(crate) last_commit_seq: CommitSequence,
    pub(crate) report: RecoveryReport,
    /// Ranges zeroed: the caller marks them dirty and makes them durable before writing.
    pub(crate) zeroed: Vec<(u64, u64)>,
    pub(crate) space: Space,
    /// The index the replayed log makes.
    pub(crate) index: KeyIndex,
    /// The segments of the checkpoint recovery used (empty: the whole log was read).
    pub(crate) checkpoint: Vec<SegmentIndex>,
}

/// A segment whose head validates.
#[derive(Clone, Copy, Debug)]
struct SegmentHead {
    index: SegmentIndex,
    generation: Generation,
    commit_seq: CommitSequence,
}

/// The last Commit record of the validated log.
#[derive(Clone, Copy, Debug)]
struct LastCommit {
    seq: CommitSequence,
    /// Position of its segment in generation order.
    position: usize,
    end: u64,
    live_segments: u64,
    counted: bool,
}

/// The first pass's state.
#[derive(Default)]
struct Validation {
    /// The commit the records being read belong to.
    open_seq: CommitSequence,
    /// Records of the open commit read so far (meaningful when `count_known`).
    count: u64,
    /// Whether the open commit's first record was read (not in a freed segment).
    count_known: bool,
    last: Option<LastCommit>,
    frees: Vec<FreeRecord>,
    /// Where each scanned segment's records end (after its Seal, or at the stop point).
    ends: Vec<u64>,
    report: RecoveryReport,
}

/// A Free record: segment `index` of `generation` given back in commit `seq`.
#[derive(Clone, Copy, Debug)]
struct FreeRecord {
    seq: CommitSequence,
    index: SegmentIndex,
    generation: Generation,
}

/// The record at `offset` verified by its checksum, with its pair (for pair records), reading
/// no further than `end` (its segment's end).
fn read_record<M: Medium>(medium: &M, offset: u64, end: u64) -> Option<(Header, (u64, u64))> {
    if offset + RECORD_HEADER_BYTES as u64 > end {
        return None;
    }
    with_recovery_bytes(medium, offset, end, |bytes| {
        record::parse(bytes).map(|record| {
            let pair = if record.header.key_len == 0 && record.value.len() == record::PAIR_BYTES {
                record.pair()
            } else {
                (0, 0)
            };
            (record.header, pair)
        })
    })
}

/// Every segment whose head validates, in generation order.
fn segment_heads<M: Medium>(medium: &M, segments: u64, store_id: u64) -> Result<Vec<SegmentHead>, Error> {
    let mut heads: Vec<SegmentHead> = (0..segments)
        .map(SegmentIndex)
        .filter_map(|index| {
            let (header, (head_index, head_store)) = read_record(medium, segment_start(index), index.end_offset())?;
            (header.kind == Kind::SegmentHead && head_index == index.0 && head_store == store_id)
                .then_some(SegmentHead { index, generation: header.generation, commit_seq: header.commit_seq })
        })
        .collect();
    heads.sort_by_key(|head| head.generation);
    if let Some(pair) = heads.windows(2).find(|pair| pair[0].generation == pair[1].generation) {
        return Err(Error::corruption(segment_start(pair[1].index), "two segments carry the same generation"));
    }
    Ok(heads)
}

/// Recovers the store in `medium`; new segments will carry generations of `open_epoch`. Tries
/// the newest usable checkpoint first when `use_checkpoints`, and scans the whole log when
/// none is. See the module docs.
pub(crate) fn recover<M: Medium>(
    medium: &M,
    superblock: &Superblock,
    open_epoch: u32,
    use_checkpoints: bool,
) -> Result<Recovered, Error> {
    let segments = medium.mapped_bytes() / SEGMENT_BYTES;
    let heads = segment_heads(medium, segments, superblock.store_id())?;
    if heads.is_empty() {
        return Err(Error::corruption(segment_start(SegmentIndex(0)), "no valid segment head"));
    }
    let candidates = checkpoint::find_candidates(medium, segments, superblock.store_id());
    let mut recovered = None;
    let (mut rejected, mut rejection) = (0, None);
    for candidate in candidates.iter().filter(|_| use_checkpoints) {
        let attempt = checkpoint::load(medium, candidate)
            .and_then(|loaded| from_checkpoint::recover(medium, superblock, open_epoch, &heads, loaded));
        match attempt {
            Ok(from_checkpoint) => {
                recovered = Some(from_checkpoint);
                break;
            }
            Err(reason) => {
                rejected += 1;
                rejection = rejection.or(Some(reason));
            }
        }
    }
    let mut recovered = match recovered {
        Some(recovered) => recovered,
        None => recover_whole_log(medium, superblock, open_epoch, &heads, segments)?,
    };
    recovered.report.checkpoints_rejected = rejected;
    recovered.report.checkpoint_rejection = rejection;
    // Every checkpoint not used is discarded with the torn tail: one naming a commit the crash
    // lost would otherwise become usable once this open writes a new commit of that number.
    for candidate in candidates.iter().filter(|candidate| candidate.segments() != recovered.checkpoint) {
        recovered.zeroed.extend(checkpoint::discard(medium, candidate));
    }
    Ok(recovered)
}

/// Recovery by reading the whole log (no checkpoint, or none usable).
fn recover_whole_log<M: Medium>(
    medium: &M,
    superblock: &Superblock,
    open_epoch: u32,
    heads: &[SegmentHead],
    segments: u64,
) -> Result<Recovered, Error> {
    let heads = heads.to_vec();
    let mut validation = Validation::default();
    validation.validate(medium, &heads, segments)?;
    let last = validation
        .last
        .ok_or_else(|| Error::corruption(segment_start(heads[0].index), "the log holds no complete commit"))?;
    let stop = *validation.ends.last().expect("one segment scanned");
    if !last.counted {
        return Err(Error::corruption(last.end, "the last commit began in a segment that is gone"));
    }
    let kept = kept_segments(&heads, &validation.frees, last);
    if kept.len() as u64 != last.live_segments {
        return Err(Error::corruption(
            segment_start(heads[last.position].index),
            format!("commit {} counts {} segments in use; {} are there", last.seq, last.live_segments, kept.len()),
        ));
    }
    let ranges = unreplayed_ranges(&heads, &kept, last, segments);
    check_nothing_committed_after(medium, &ranges, last.seq, stop)?;
    if superblock.clean && (last.seq != superblock.clean_commit_seq || last.end != superblock.clean_end_offset) {
        return Err(Error::corruption(
            last.end,
            format!(
                "after a clean close the log must end at offset {} with commit {}; it ends at {} with commit {}",
                superblock.clean_end_offset, superblock.clean_commit_seq, last.end, last.seq
            ),
        ));
    }
    assert!(kept.windows(2).all(|pair| pair[0] < pair[1]), "kept segments are in generation order");
    if kept.last() != Some(&last.position) {
        // The cleaner never frees the head's segment: only a damaged (yet valid) record can.
        return Err(Error::corruption(last.end, "a Free record names the segment of the last commit"));
    }
    let mut space = Space::new(segments, open_epoch);
    let replayed: Vec<(SegmentHead, u64)> = kept
        .iter()
        .map(|&position| {
            (heads[position], if position == last.position { last.end } else { validation.ends[position] })
        })
        .collect();
    let index = replay::replay(medium, &mut space, &replayed);
    validation.report.log_bytes_replayed = replayed_bytes(&replayed);
    // Paired with the check against Commit L's count above: the accounting agrees with it.
    assert_eq!(space.live_count(), last.live_segments, "replay makes exactly the counted segments live");
    let mut report = validation.report;
    report.clean_shutdown = superblock.clean;
    Ok(resume(medium, superblock, &heads, &kept, last, Rebuilt { report, space, index, checkpoint: Vec::new() }))
}

/// Bytes of the `replayed` segments' records.
fn replayed_bytes(replayed: &[(SegmentHead, u64)]) -> u64 {
    replayed.iter().map(|(head, end)| end - segment_start(head.index)).sum()
}

/// What a recovery rebuilt in memory, before the tail is discarded.
struct Rebuilt {
    report: RecoveryReport,
    space: Space,
    index: KeyIndex,
    /// The segments of the checkpoint it used (kept, not reused until a newer one is durable).
    checkpoint: Vec<SegmentIndex>,
}

/// Step 7 and the head: zeroes the discarded tail and the heads of `heads` not `kept`
/// (positions in `heads`), and resumes right after Commit `last`.
fn resume<M: Medium>(
    medium: &M,
    superblock: &Superblock,
    heads: &[SegmentHead],
    kept: &[usize],
    last: LastCommit,
    rebuilt: Rebuilt,
) -> Recovered {
    let Rebuilt { mut report, space, index, checkpoint } = rebuilt;
    report.segments_live = kept.len() as u64;
    let zeroed = zero_discarded(medium, heads, kept, last);
    report.tail_bytes_zeroed = zeroed.iter().map(|(start, end)| end - start).sum();
    let last_head = heads[last.position];
    let head = Head {
        segment_index: last_head.index,
        generation: last_head.generation,
        offset: last.end,
        open_commit_seq: last.seq.next(),
        records_in_open_commit: 0,
        live_segments: kept.len() as u64,
        store_id: superblock.store_id(),
    };
    Recovered { head, last_commit_seq: last.seq, report, zeroed, space, index, checkpoint }
}

impl Validation {
    /// The first pass over `heads` (see the module docs).
    fn validate<M: Medium>(&mut self, medium: &M, heads: &[SegmentHead], segments: u64) -> Result<(), Error> {
        // Every segment is read whole, in generation order: start reading them all ahead.
        for head in heads {
            medium.will_read(head.index.file_offset(), SEGMENT_BYTES);
        }
        let mut expected: Option<(SegmentIndex, Generation)> = None;
        for (position, head) in heads.iter().enumerate() {
            if position == 0 {
                // Only the store's very first segment starts with commit 0 (its own head).
                (self.open_seq, self.count, self.count_known) =
                    (head.commit_seq, 1, head.commit_seq == CommitSequence(0));
            } else {
                // The previous segment did not end in a Seal: this one belongs to the torn tail.
                let Some((next_index, next_generation)) = expected else { break };
                if head.generation < next_generation || head.commit_seq < self.open_seq {
                    return Err(Error::corruption(segment_start(head.index), "segment head out of log order"));
                }
                if (head.index, head.generation) == (next_index, next_generation) && head.commit_seq == self.open_seq {
                    self.count += 1;
                } else {
                    // The segments in between were freed: the open commit's count is unknown.
                    (self.open_seq, self.count, self.count_known) = (head.commit_seq, 1, false);
                }
            }
            self.report.segments_scanned += 1;
            self.report.records_scanned += 1;
            let (end, sealed) = self.parse_segment(medium, *head, position, segments);
            self.ends.push(end);
            expected = sealed;
            if sealed.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Parses one segment after its head. Returns where its records end and, if it ends in a
    /// valid Seal, the next segment (index, generation).
    fn parse_segment<M: Medium>(
        &mut self,
        medium: &M,
        head: SegmentHead,
        position: usize,
        segments: u64,
    ) -> (u64, Option<(SegmentIndex, Generation)>) {
        let mut cursor = Cursor::after_head(head.index, head.index.end_offset());
        for _ in 0..=STEPS_PER_SEGMENT_MAX {
            let Ok(step) = cursor.next(|offset, end| read_record(medium, offset, end)) else {
                return (cursor.offset(), None);
            };
            let (header, pair) = (step.header, step.pair);
            if header.commit_seq != self.open_seq || header.generation != head.generation {
                return (step.offset, None);
            }
            match header.kind {
                Kind::Put | Kind::Delete => self.count += 1,
                Kind::Free => {
                    let free =
                        FreeRecord { seq: self.open_seq, index: SegmentIndex(pair.0), generation: Generation(pair.1) };
                    self.frees.push(free);
                    self.count += 1;
                }
                Kind::Commit => {
                    if self.count_known && pair.0 != self.count {
                        return (step.offset, None);
                    }
                    let counted = self.count_known;
                    let end = step.end();
                    self.last = Some(LastCommit { seq: self.open_seq, position, end, live_segments: pair.1, counted });
                    self.report.commits_applied += 1;
                    (self.open_seq, self.count, self.count_known) = (self.open_seq.next(), 0, true);
                }
                Kind::Seal => {
                    let (next, next_generation) = (SegmentIndex(pair.0), Generation(pair.1));
                    if next_generation <= head.generation || next.0 >= segments {
                        return (step.offset, None);
                    }
                    self.count += 1;
                    self.report.records_scanned += 1;
                    return (step.end(), Some((next, next_generation)));
                }
                Kind::SegmentHead | Kind::CheckpointHead => return (step.offset, None),
            }
            self.report.records_scanned += 1;
        }
        unreachable!("a cursor ends within its segment");
    }
}

/// Positions (in `heads`) of the segments that hold the log: up to the last commit's segment,
/// minus those a committed Free record gave back.
fn kept_segments(heads: &[SegmentHead], frees: &[FreeRecord], last: LastCommit) -> Vec<usize> {
    let freed: HashSet<(SegmentIndex, Generation)> =
        frees.iter().filter(|free| free.seq <= last.seq).map(|free| (free.index, free.generation)).collect();
    (0..=last.position)
        .filter(|&position| !freed.contains(&(heads[position].index, heads[position].generation)))
        .collect()
}

/// Whether each segment index (of `segments`) is kept.
fn kept_by_index(heads: &[SegmentHead], kept: &[usize], segments: u64) -> Vec<bool> {
    let mut by_index = vec![false; segments as usize];
    for &position in kept {
        by_index[heads[position].index.as_usize()] = true;
    }
    by_index
}

/// Byte ranges recovery does not replay: the rest of the last segment after Commit `L`, and
/// every segment not kept.
fn unreplayed_ranges(heads: &[SegmentHead], kept: &[usize], last: LastCommit, segments: u64) -> Vec<(u64, u64)> {
    let last_index = heads[last.position].index;
    let kept_by_index = kept_by_index(heads, kept, segments);
    let mut ranges = vec![(last.end, last_index.end_offset())];
    ranges.extend(
        (0..segments)
            .map(SegmentIndex)
            .filter(|&index| !kept_by_index[index.as_usize()])
            .map(|index| (segment_start(index), index.end_offset())),
    );
    ranges
}

/// `Corruption` when a Commit record of sequence ≥ `last_seq + 2` validates in `ranges`.
fn check_nothing_committed_after<M: Medium>(
    medium: &M,
    ranges: &[(u64, u64)],
    last_seq: CommitSequence,
    stop: u64,
) -> Result<(), Error> {
    let proof = last_seq.next().next();
    for &(start, end) in ranges {
        let found = with_recovery_bytes(medium, start, end, |bytes| {
            // Only the span holding non-zero bytes can hold a record.
            let (first, last) = nonzero_span(bytes)?;
            let from = first & !(RECORD_ALIGN as usize - 1);
            let until = (last + 1).min(bytes.len().saturating_sub(PAIR_RECORD_BYTES as usize - 1));
            (from..until).step_by(RECORD_ALIGN as usize).find_map(|at| {
                if bytes[at + record::field::KIND] != Kind::Commit as u8 {
                    return None;
                }
                record::parse(&bytes[at..])
                    .filter(|record| record.header.commit_seq >= proof)
                    .map(|record| (at, record.header.commit_seq))
            })
        });
        if let Some((at, seq)) = found {
            return Err(Error::corruption(
                stop,
                format!(
                    "the log stops here after commit {last_seq}, but commit {seq} is intact at offset {}",
                    start + at as u64
                ),
            ));
        }
    }
    Ok(())
}

/// Zeroes the rest of the last segment after Commit `L` and the heads of segments left out.
/// Returns the ranges written.
fn zero_discarded<M: Medium>(medium: &M, heads: &[SegmentHead], kept: &[usize], last: LastCommit) -> Vec<(u64, u64)> {
    let last_index = heads[last.position].index;
    let mut zeroed: Vec<(u64, u64)> =
        zero_recovery_range(medium, last.end, last_index.end_offset()).into_iter().collect();
    let segments = heads.iter().map(|head| head.index.0 + 1).max().unwrap_or(0);
    let kept_by_index = kept_by_index(heads, kept, segments);
    for head in heads {
        if !kept_by_index[head.index.as_usize()] {
            let start = segment_start(head.index);
            zeroed.extend(zero_recovery_range(medium, start, start + PAIR_RECORD_BYTES));
        }
    }
    zeroed
}
