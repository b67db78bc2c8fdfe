//! Recovery: scan the log, validate every record, rebuild the index, discard a torn tail.
//!
//! The scan follows the segment chain from the segment head of lowest generation: records of
//! the open commit are buffered until its Commit record validates with the right count; a Seal
//! leads to the next segment, whose head must carry the promised index, generation and commit.
//! The first thing that does not validate is the *stop point*: everything after the last applied
//! Commit is discarded.
//!
//! A stop point is a torn tail (the one commit in flight at the crash) unless the bytes after it
//! prove otherwise. Commits are strictly sequential — commit N+2's Commit record is written only
//! after commit N+1 was fenced — so a valid Commit record with sequence ≥ last applied + 2
//! anywhere past the stop point proves committed data was lost: `Error::Corruption` at the stop
//! point. After a clean close the superblock records the last commit and where the log ended;
//! recovery must reach exactly there, so any damage to committed data is detected.
//!
//! Finally the discarded tail is zeroed (and the caller makes that durable before any new
//! write), so bytes of a torn commit can never be mistaken for records of a later one.

use crate::error::Error;
use crate::index::KeyIndex;
use crate::layout::{RECORD_ALIGN, RECORD_HEADER_BYTES, SEGMENT_BYTES};
use crate::log::access::{nonzero_span, with_recovery_bytes, zero_recovery_range};
use crate::log::record::{self, Header, Kind, PAIR_RECORD_BYTES};
use crate::log::superblock::Superblock;
use crate::log::{segment_limit, segment_start, Head};
use crate::media::Medium;

/// What recovery found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Valid records read.
    pub records_scanned: u64,
    /// Commits applied to the index.
    pub commits_applied: u64,
    /// Segments the chain passed through.
    pub segments_scanned: u64,
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
    /// Ranges zeroed in the discarded tail: the caller marks them dirty and commits them.
    pub(crate) zeroed: Vec<(u64, u64)>,
}

/// Position in the log.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    segment: u64,
    generation: u64,
    offset: u64,
}

/// A record of the open commit, applied when its Commit record validates.
struct PendingOp {
    kind: Kind,
    offset: u64,
    key_len: u32,
}

/// The scan's state.
struct Scan {
    cursor: Cursor,
    open_seq: u64,
    count: u64,
    pending: Vec<PendingOp>,
    committed: Option<(Cursor, u64)>,
    report: RecoveryReport,
}

/// One parsed record: its header and, for pair records, the pair.
fn read_record<M: Medium>(medium: &M, offset: u64, segment: u64) -> Option<(Header, (u64, u64))> {
    let end = (segment + 1) * SEGMENT_BYTES;
    if offset + RECORD_HEADER_BYTES as u64 > end {
        return None;
    }
    with_recovery_bytes(medium, offset, end, |bytes| {
        record::parse(bytes).map(|record| {
            let pair = if matches!(record.header.kind, Kind::Commit | Kind::Seal | Kind::SegmentHead) {
                record.pair()
            } else {
                (0, 0)
            };
            (record.header, pair)
        })
    })
}

/// The valid segment head of segment `index`, if any: (generation, commit_seq).
fn segment_head<M: Medium>(medium: &M, index: u64, store_id: u64) -> Option<(u64, u64)> {
    let (header, (head_index, head_store)) = read_record(medium, segment_start(index), index)?;
    (header.kind == Kind::SegmentHead && head_index == index && head_store == store_id)
        .then_some((header.generation, header.commit_seq))
}

/// Recovers the store in `medium` into `index`. See the module docs.
pub(crate) fn recover<M: Medium>(medium: &M, superblock: &Superblock, index: &KeyIndex) -> Result<Recovered, Error> {
    let segments = medium.mapped_bytes() / SEGMENT_BYTES;
    let store_id = superblock.store_id();
    let start = (0..segments)
        .filter_map(|segment| {
            segment_head(medium, segment, store_id).map(|(generation, seq)| (generation, segment, seq))
        })
        .min()
        .ok_or_else(|| Error::corruption(segment_start(0), "no valid segment head"))?;
    let (generation, segment, open_seq) = start;
    let cursor = Cursor { segment, generation, offset: segment_start(segment) + PAIR_RECORD_BYTES };
    let mut scan =
        Scan { cursor, open_seq, count: 1, pending: Vec::new(), committed: None, report: RecoveryReport::default() };
    scan.report.segments_scanned = 1;
    scan.report.records_scanned = 1;
    // Each step consumes at least 8 bytes, so the scan is bounded by the mapped bytes.
    for _ in 0..medium.mapped_bytes() / RECORD_ALIGN {
        if !scan.step(medium, index, store_id, segments) {
            break;
        }
    }
    let (committed, last_seq) =
        scan.committed.ok_or_else(|| Error::corruption(segment_start(segment), "the log holds no complete commit"))?;
    check_nothing_committed_after(medium, committed, last_seq, scan.cursor.offset, segments)?;
    if superblock.clean && (last_seq != superblock.clean_commit_seq || committed.offset != superblock.clean_end_offset)
    {
        return Err(Error::corruption(
            committed.offset,
            format!(
                "after a clean close the log must end at offset {} with commit {}; it ends at {} with commit {}",
                superblock.clean_end_offset, superblock.clean_commit_seq, committed.offset, last_seq
            ),
        ));
    }
    scan.report.clean_shutdown = superblock.clean;
    let zeroed = zero_tail(medium, committed, segments);
    scan.report.tail_bytes_zeroed = zeroed.iter().map(|(start, end)| end - start).sum();
    let head = Head {
        segment_index: committed.segment,
        generation: committed.generation,
        offset: committed.offset,
        open_commit_seq: last_seq + 1,
        records_in_open_commit: 0,
        open_commit_first: committed.offset,
        store_id,
    };
    Ok(Recovered { head, last_commit_seq: last_seq, report: scan.report, zeroed })
}

impl Scan {
    /// Consumes one record. `false` at the stop point.
    fn step<M: Medium>(&mut self, medium: &M, index: &KeyIndex, store_id: u64, segments: u64) -> bool {
        let cursor = self.cursor;
        let Some((header, pair)) = read_record(medium, cursor.offset, cursor.segment) else { return false };
        if header.commit_seq != self.open_seq || header.generation != cursor.generation {
            return false;
        }
        let size = header.record_bytes();
        match header.kind {
            Kind::Put | Kind::Delete => {
                if cursor.offset + size > segment_limit(cursor.segment) {
                    return false;
                }
                self.pending.push(PendingOp { kind: header.kind, offset: cursor.offset, key_len: header.key_len });
                self.count += 1;
                self.cursor.offset += size;
            }
            Kind::Commit => {
                if pair.0 != self.count {
                    return false;
                }
                self.apply(medium, index);
                self.cursor.offset += size;
                self.committed = Some((self.cursor, self.open_seq));
                self.report.commits_applied += 1;
                self.open_seq += 1;
                self.count = 0;
            }
            Kind::Seal => {
                let (next, next_generation) = pair;
                let head = (next < segments).then(|| segment_head(medium, next, store_id)).flatten();
                if next_generation != cursor.generation + 1 || head != Some((next_generation, self.open_seq)) {
                    return false;
                }
                self.count += 2;
                self.cursor = Cursor {
                    segment: next,
                    generation: next_generation,
                    offset: segment_start(next) + PAIR_RECORD_BYTES,
                };
                self.report.segments_scanned += 1;
                self.report.records_scanned += 1;
            }
            Kind::SegmentHead => return false,
        }
        self.report.records_scanned += 1;
        true
    }

    /// Applies the buffered records of the commit that just validated.
    fn apply<M: Medium>(&mut self, medium: &M, index: &KeyIndex) {
        for op in self.pending.drain(..) {
            let key_at = op.offset + RECORD_HEADER_BYTES as u64;
            with_recovery_bytes(medium, key_at, key_at + u64::from(op.key_len), |key| match op.kind {
                Kind::Put => index.set(key, op.offset),
                Kind::Delete => index.remove(key),
                _ => unreachable!("only puts and deletes are buffered"),
            });
        }
    }
}

/// Ranges past the committed end: the rest of its segment, then every later segment.
fn tail_ranges(committed: Cursor, segments: u64) -> impl Iterator<Item = (u64, u64)> {
    let first = (committed.offset, (committed.segment + 1) * SEGMENT_BYTES);
    let later =
        (committed.segment + 1..segments).map(|segment| (segment * SEGMENT_BYTES, (segment + 1) * SEGMENT_BYTES));
    std::iter::once(first).chain(later)
}

/// `Corruption` when a Commit record of sequence ≥ `last_seq + 2` validates past the committed end.
fn check_nothing_committed_after<M: Medium>(
    medium: &M,
    committed: Cursor,
    last_seq: u64,
    stop: u64,
    segments: u64,
) -> Result<(), Error> {
    for (start, end) in tail_ranges(committed, segments) {
        let found = with_recovery_bytes(medium, start, end, |bytes| {
            // Only the span holding non-zero bytes can hold a record.
            let (first, last) = nonzero_span(bytes)?;
            let from = first & !(RECORD_ALIGN as usize - 1);
            let until = (last + 1).min(bytes.len().saturating_sub(PAIR_RECORD_BYTES as usize - 1));
            (from..until).step_by(RECORD_ALIGN as usize).find_map(|at| {
                if bytes[at + 4] != Kind::Commit as u8 {
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

/// Zeroes every range past the committed end that holds a non-zero byte. Returns those ranges.
fn zero_tail<M: Medium>(medium: &M, committed: Cursor, segments: u64) -> Vec<(u64, u64)> {
    tail_ranges(committed, segments).filter_map(|(start, end)| zero_recovery_range(medium, start, end)).collect()
}
