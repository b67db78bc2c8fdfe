//! Finding and reading checkpoints at open (recovery's step 2b, docs/design.md "Recovery").
//!
//! Every segment whose first record is a valid CheckpointHead of this store is a part of some
//! checkpoint. Parts are grouped by checkpoint id; recovery tries the newest first. A checkpoint
//! is loaded only when every part its summary counts is there, every payload checksum holds and
//! every item decodes and fits; anything else rejects it with a reason, and recovery tries the
//! next older one or scans the whole log.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::format::{decode_part_head, ItemReader, PartHead, Summary, TableEntry, PART_HEAD_BYTES};
use crate::ids::{Generation, SegmentIndex};
use crate::index::Leaves;
use crate::log::access::{with_recovery_bytes, zero_recovery_range};
use crate::log::segment_start;
use crate::media::Medium;

/// The parts found of one checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) id: Generation,
    /// By part number.
    pub(crate) parts: BTreeMap<u64, PartHead>,
    /// Heads claiming a part number another segment claimed first: a checkpoint with any is
    /// never used (neither copy can be trusted), and its segments include theirs.
    pub(crate) duplicates: Vec<PartHead>,
}

impl Candidate {
    /// Every segment holding one of its parts.
    pub(crate) fn segments(&self) -> Vec<SegmentIndex> {
        self.parts.values().chain(&self.duplicates).map(|part| part.segment).collect()
    }
}

/// A checkpoint read back whole.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) summary: Summary,
    pub(crate) table: Vec<TableEntry>,
    /// Leaves in key order, each with a lower bound of its keys.
    pub(crate) leaves: Leaves,
    /// The segments its parts occupy.
    pub(crate) segments: Vec<SegmentIndex>,
}

/// The checkpoints whose parts lie in the first `segments` segments, newest first.
pub(crate) fn find_candidates<M: Medium>(medium: &M, segments: u64, store_id: u64) -> Vec<Candidate> {
    let mut by_id: BTreeMap<Generation, Candidate> = BTreeMap::new();
    for index in (0..segments).map(SegmentIndex) {
        let start = segment_start(index);
        let head = with_recovery_bytes(medium, start, start + PART_HEAD_BYTES, |bytes| {
            decode_part_head(bytes, store_id, index)
        });
        if let Some(head) = head {
            let candidate = by_id.entry(head.id).or_insert_with(|| Candidate {
                id: head.id,
                parts: BTreeMap::new(),
                duplicates: Vec::new(),
            });
            match candidate.parts.entry(head.part) {
                Entry::Occupied(_) => candidate.duplicates.push(head),
                Entry::Vacant(vacant) => {
                    vacant.insert(head);
                }
            }
        }
    }
    by_id.into_values().rev().collect()
}

/// Zeroes the head of `candidate`'s part 0, and of any other segment claiming part 0 (during
/// recovery; the caller makes them durable before any new write), so that it is never complete
/// again. Returns the ranges written.
pub(crate) fn discard<M: Medium>(medium: &M, candidate: &Candidate) -> Vec<(u64, u64)> {
    let claims = candidate.parts.get(&0).into_iter().chain(candidate.duplicates.iter().filter(|head| head.part == 0));
    claims
        .filter_map(|part0| {
            let start = segment_start(part0.segment);
            zero_recovery_range(medium, start, start + PART_HEAD_BYTES)
        })
        .collect()
}

/// Reads `candidate` whole, or says why it cannot be used.
pub(crate) fn load<M: Medium>(medium: &M, candidate: &Candidate) -> Result<Loaded, &'static str> {
    if !candidate.duplicates.is_empty() {
        return Err("two segments claim one of its parts");
    }
    let part0 = candidate.parts.get(&0).ok_or("its part 0 (the summary) is missing")?;
    let summary = with_payload(medium, part0, |payload| ItemReader::new(payload).summary())?
        .ok_or("its summary does not decode")?;
    if summary.id != candidate.id || summary.parts == 0 || summary.parts != candidate.parts.len() as u64 {
        return Err("its parts are not the ones its summary counts");
    }
    if (0..summary.parts).any(|part| !candidate.parts.contains_key(&part)) {
        return Err("a part is missing");
    }
    let mut table = Vec::new();
    let mut leaves = Vec::new();
    let mut key_count = 0u64;
    for (&number, part) in &candidate.parts {
        with_payload(medium, part, |payload| {
            let mut reader = ItemReader::new(payload);
            if number == 0 {
                reader.summary().ok_or("its summary does not decode")?;
            }
            // Bounded by the payload: every item consumes at least 8 bytes.
            while !reader.is_done() {
                if (table.len() as u64) < summary.table_len {
                    table.push(reader.table_entry().ok_or("a table entry is cut short")?);
                } else {
                    let leaf = reader.leaf().ok_or("a leaf is cut short")?;
                    key_count += leaf.1.slots.len() as u64;
                    leaves.push(leaf);
                }
            }
            Ok::<(), &'static str>(())
        })??;
    }
    if table.len() as u64 != summary.table_len || leaves.len() as u64 != summary.leaf_count {
        return Err("its table or leaves are not as many as its summary says");
    }
    if key_count != summary.key_count {
        return Err("its leaves hold another number of keys than its summary says");
    }
    Ok(Loaded { summary, table, leaves, segments: candidate.segments() })
}

/// Runs `with` on `part`'s payload once its checksum holds. The payload is read with `pread`
/// into a buffer, not through the mapping: the mapping is advised for random access (4 KiB per
/// fault), and a checkpoint is read from end to end, where the kernel's readahead helps.
fn with_payload<M: Medium, T>(medium: &M, part: &PartHead, with: impl FnOnce(&[u8]) -> T) -> Result<T, &'static str> {
    let start = segment_start(part.segment) + PART_HEAD_BYTES;
    let end = start.checked_add(part.payload_bytes).filter(|&end| end <= part.segment.end_offset());
    end.ok_or("a part's payload runs past its segment")?;
    let mut payload = vec![0u8; part.payload_bytes as usize];
    let mut read = 0;
    // Bounded: every pass reads at least one byte or returns.
    while read < payload.len() {
        match medium.read_at(start + read as u64, &mut payload[read..]) {
            Ok(0) | Err(_) => return Err("a part could not be read"),
            Ok(bytes) => read += bytes,
        }
    }
    if crc32fast::hash(&payload) == part.payload_crc {
        Ok(with(&payload))
    } else {
        Err("a part's checksum does not match")
    }
}
