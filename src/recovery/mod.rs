//! Recovery: find the log's segments, validate every record, rebuild the index and the space
//! accounting, discard a torn tail.
//!
//! The cleaner frees segments anywhere in the log, so recovery does not follow a chain from one
//! first segment. It finds every segment whose head validates (this store, its own index),
//! orders them by generation (allocation order) and scans them in two passes:
//!
//! 1. **Validate.** Each segment is parsed from its head: every record must carry the segment's
//!    generation and the open commit's sequence; a Commit record must count the records of its
//!    commit (when the commit's first records are in segments that were freed, the count is
//!    unknown and not checked); a Seal ends the segment and names the next one. The first
//!    segment that does not end in a valid Seal holds the stop point; segments after it were
//!    started by the commit in flight at the crash. `L` is the last Commit record before the
//!    stop point, and it must have been counted in full. Free records (sequence ≤ `L`) name
//!    segments whose live records were copied elsewhere: those are left out even if their head
//!    is still valid (the crash came before the head's zeroing was durable). Then the number of
//!    segments left must equal the count in Commit `L`: a segment lost without a Free record is
//!    `Error::Corruption`.
//! 2. **Apply.** The segments kept are replayed in generation order into the index and the
//!    per-segment accounting (the same rules as the running store, see [`crate::space`]).
//!
//! A stop point is a torn tail (the one commit in flight) unless the bytes after it prove
//! otherwise. Commits are strictly sequential — Commit `N + 2` is written only after commit
//! `N + 1` was fenced — so a valid Commit record of sequence ≥ `L + 2` in any byte not replayed
//! proves committed data was lost: `Error::Corruption` at the stop point. After a clean close the
//! superblock records the last commit and where the log ended; recovery must reach exactly there.
//!
//! Finally the rest of the last segment after Commit `L` is zeroed, and so are the heads of the
//! segments left out (the caller makes that durable before any new write). Bytes of a torn
//! commit can then never be mistaken for records of a later one: the last segment is zeroed,
//! and every segment started later gets a generation of a new open epoch.

use std::collections::HashSet;

use crate::error::Error;
use crate::index::{KeyIndex, Location};
use crate::layout::{RECORD_ALIGN, RECORD_HEADER_BYTES, SEGMENT_BYTES};
use crate::log::access::{nonzero_span, with_recovery_bytes, zero_recovery_range};
use crate::log::cursor::{Cursor, Stop, STEPS_PER_SEGMENT_MAX};
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
}

/// Result of a recovery: where writing resumes.
pub(crate) struct Recovered {
    pub(crate) head: Head,
    pub(crate) last_commit_seq: u64,
    pub(crate) report: RecoveryReport,
    /// Ranges zeroed: the caller marks them dirty and makes them durable before writing.
    pub(crate) zeroed: Vec<(u64, u64)>,
    pub(crate) space: Space,
}

/// A segment whose head validates.
#[derive(Clone, Copy, Debug)]
struct SegmentHead {
    index: u64,
    generation: u64,
    commit_seq: u64,
}

/// The last Commit record of the validated log.
#[derive(Clone, Copy, Debug)]
struct LastCommit {
    seq: u64,
    /// Position of its segment in generation order.
    position: usize,
    end: u64,
    live_segments: u64,
    counted: bool,
}

/// The first pass's state.
#[derive(Default)]
struct Validation {
    open_seq: u64,
    count: u64,
    count_known: bool,
    last: Option<LastCommit>,
    /// Free records: (commit seq, segment index, generation).
    frees: Vec<(u64, u64, u64)>,
    /// Where each scanned segment's records end (after its Seal, or at the stop point).
    ends: Vec<u64>,
    report: RecoveryReport,
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
    let mut heads: Vec<SegmentHead> =
        (0..segments)
            .filter_map(|index| {
                let end = (index + 1) * SEGMENT_BYTES;
                let (header, (head_index, head_store)) = read_record(medium, segment_start(index), end)?;
                (header.kind == Kind::SegmentHead && head_index == index && head_store == store_id)
                    .then_some(SegmentHead { index, generation: header.generation, commit_seq: header.commit_seq })
            })
            .collect();
    heads.sort_by_key(|head| head.generation);
    if let Some(pair) = heads.windows(2).find(|pair| pair[0].generation == pair[1].generation) {
        return Err(Error::corruption(segment_start(pair[1].index), "two segments carry the same generation"));
    }
    Ok(heads)
}

/// Recovers the store in `medium` into `index`; new segments will carry generations of
/// `open_epoch`. See the module docs.
pub(crate) fn recover<M: Medium>(
    medium: &M,
    superblock: &Superblock,
    index: &KeyIndex,
    open_epoch: u32,
) -> Result<Recovered, Error> {
    let segments = medium.mapped_bytes() / SEGMENT_BYTES;
    let heads = segment_heads(medium, segments, superblock.store_id())?;
    if heads.is_empty() {
        return Err(Error::corruption(segment_start(0), "no valid segment head"));
    }
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
    let mut space = Space::new(segments, open_epoch);
    for &position in &kept {
        let end = if position == last.position { last.end } else { validation.ends[position] };
        apply_segment(medium, index, &mut space, heads[position], end);
    }
    let mut report = validation.report;
    report.clean_shutdown = superblock.clean;
    report.segments_live = kept.len() as u64;
    let zeroed = zero_discarded(medium, &heads, &kept, last);
    report.tail_bytes_zeroed = zeroed.iter().map(|(start, end)| end - start).sum();
    let last_head = heads[last.position];
    let head = Head {
        segment_index: last_head.index,
        generation: last_head.generation,
        offset: last.end,
        open_commit_seq: last.seq + 1,
        records_in_open_commit: 0,
        live_segments: kept.len() as u64,
        store_id: superblock.store_id(),
    };
    Ok(Recovered { head, last_commit_seq: last.seq, report, zeroed, space })
}

impl Validation {
    /// The first pass over `heads` (see the module docs).
    fn validate<M: Medium>(&mut self, medium: &M, heads: &[SegmentHead], segments: u64) -> Result<(), Error> {
        let mut expected: Option<(u64, u64)> = None;
        for (position, head) in heads.iter().enumerate() {
            if position == 0 {
                // Only the store's very first segment starts with commit 0 (its own head).
                (self.open_seq, self.count, self.count_known) = (head.commit_seq, 1, head.commit_seq == 0);
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
    ) -> (u64, Option<(u64, u64)>) {
        let mut cursor = Cursor::after_head(head.index, (head.index + 1) * SEGMENT_BYTES);
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
                    self.frees.push((self.open_seq, pair.0, pair.1));
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
                    (self.open_seq, self.count, self.count_known) = (self.open_seq + 1, 0, true);
                }
                Kind::Seal => {
                    let (next, next_generation) = pair;
                    if next_generation <= head.generation || next >= segments {
                        return (step.offset, None);
                    }
                    self.count += 1;
                    self.report.records_scanned += 1;
                    return (step.end(), Some(pair));
                }
                Kind::SegmentHead => return (step.offset, None),
            }
            self.report.records_scanned += 1;
        }
        unreachable!("a cursor ends within its segment");
    }
}

/// Positions (in `heads`) of the segments that hold the log: up to the last commit's segment,
/// minus those a committed Free record gave back.
fn kept_segments(heads: &[SegmentHead], frees: &[(u64, u64, u64)], last: LastCommit) -> Vec<usize> {
    let freed: HashSet<(u64, u64)> =
        frees.iter().filter(|free| free.0 <= last.seq).map(|&(_, index, generation)| (index, generation)).collect();
    (0..=last.position)
        .filter(|&position| !freed.contains(&(heads[position].index, heads[position].generation)))
        .collect()
}

/// Whether each segment index (of `segments`) is kept.
fn kept_by_index(heads: &[SegmentHead], kept: &[usize], segments: u64) -> Vec<bool> {
    let mut by_index = vec![false; segments as usize];
    for &position in kept {
        by_index[heads[position].index as usize] = true;
    }
    by_index
}

/// Byte ranges recovery does not replay: the rest of the last segment after Commit `L`, and
/// every segment not kept.
fn unreplayed_ranges(heads: &[SegmentHead], kept: &[usize], last: LastCommit, segments: u64) -> Vec<(u64, u64)> {
    let last_index = heads[last.position].index;
    let kept_by_index = kept_by_index(heads, kept, segments);
    let mut ranges = vec![(last.end, (last_index + 1) * SEGMENT_BYTES)];
    ranges.extend(
        (0..segments)
            .filter(|&index| !kept_by_index[index as usize])
            .map(|index| (segment_start(index), (index + 1) * SEGMENT_BYTES)),
    );
    ranges
}

/// Replays one kept segment's records `[head, end)` (validated by the first pass) into the index
/// and the accounting.
fn apply_segment<M: Medium>(medium: &M, index: &KeyIndex, space: &mut Space, head: SegmentHead, end: u64) {
    space.set_live(head.index, head.generation);
    let mut cursor = Cursor::at(head.index, segment_start(head.index), end);
    let read_header = |offset: u64, _| {
        with_recovery_bytes(medium, offset, offset + RECORD_HEADER_BYTES as u64, Header::decode_unchecked)
            .map(|header| (header, (0, 0)))
    };
    for _ in 0..=STEPS_PER_SEGMENT_MAX {
        let step = match cursor.next(read_header) {
            Ok(step) => step,
            Err(Stop::Bound | Stop::Sealed) => return,
            Err(stop) => unreachable!("the first pass validated every record up to {end}: {stop:?}"),
        };
        let (header, size) = (step.header, step.header.record_bytes());
        let key_at = step.offset + RECORD_HEADER_BYTES as u64;
        let superseded =
            with_recovery_bytes(medium, key_at, key_at + u64::from(header.key_len), |key| match header.kind {
                Kind::Put => index.set(key, Location { offset: step.offset, record_bytes: size }),
                Kind::Delete => index.remove(key),
                _ => None,
            });
        if let Some(old) = superseded {
            space.died(old.offset, old.record_bytes);
        }
        space.written(step.offset, size, matches!(header.kind, Kind::Put | Kind::Delete));
    }
    unreachable!("a cursor ends within its segment");
}

/// `Corruption` when a Commit record of sequence ≥ `last_seq + 2` validates in `ranges`.
fn check_nothing_committed_after<M: Medium>(
    medium: &M,
    ranges: &[(u64, u64)],
    last_seq: u64,
    stop: u64,
) -> Result<(), Error> {
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
                    .filter(|record| record.header.commit_seq >= last_seq + 2)
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
        zero_recovery_range(medium, last.end, (last_index + 1) * SEGMENT_BYTES).into_iter().collect();
    let segments = heads.iter().map(|head| head.index + 1).max().unwrap_or(0);
    let kept_by_index = kept_by_index(heads, kept, segments);
    for head in heads {
        if !kept_by_index[head.index as usize] {
            let start = segment_start(head.index);
            zeroed.extend(zero_recovery_range(medium, start, start + PAIR_RECORD_BYTES));
        }
    }
    zeroed
}
