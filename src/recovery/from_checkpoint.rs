//! Recovery from an index checkpoint: steps 3 to 6 of docs/design.md "Recovery" over the log
//! after the checkpoint's capture, with the checkpoint standing in for everything before it.
//!
//! Every check that fails returns a reason instead of an error: the caller then tries an older
//! checkpoint, or reads the whole log, whose own checks report real damage.

use std::collections::{HashMap, HashSet};

use super::{
    check_nothing_committed_after, kept_segments, replay, replayed_bytes, resume, LastCommit, Rebuilt, Recovered,
    SegmentHead, Validation,
};
use crate::checkpoint::{Loaded, Summary, TableEntry};
use crate::ids::{Generation, SegmentIndex};
use crate::index::{KeyIndex, Leaves, Location};
use crate::layout::{RECORD_ALIGN, RECORD_HEADER_BYTES, SEGMENT_BYTES};
use crate::log::record::PAIR_RECORD_BYTES;
use crate::log::segment_start;
use crate::log::superblock::Superblock;
use crate::media::Medium;
use crate::space::Space;

/// Recovers from `loaded` (see the module docs). `heads`: every valid SegmentHead, in
/// generation order.
pub(super) fn recover<M: Medium>(
    medium: &M,
    superblock: &Superblock,
    open_epoch: u32,
    heads: &[SegmentHead],
    loaded: Loaded,
) -> Result<Recovered, &'static str> {
    let summary = loaded.summary;
    let segments = medium.mapped_bytes() / SEGMENT_BYTES;
    check_table(&loaded.table, &summary, segments)?;
    // Step 3: validate the log from the capture's head segment on.
    let first_after = heads.partition_point(|head| head.generation < summary.covered_generation);
    let after = &heads[first_after..];
    let first = after.first().ok_or("no segment of the log after the checkpoint is left")?;
    if first.generation == summary.covered_generation && first.commit_seq != summary.head_commit {
        return Err("the checkpoint's head segment begins another commit than it says");
    }
    let mut validation = Validation::default();
    validation.validate(medium, after, segments).map_err(|_| "the log after the checkpoint is out of order")?;
    let last = validation.last.ok_or("the log after the checkpoint holds no complete commit")?;
    // A commit that began before the replayed segments is counted only if it is one the
    // checkpoint proves durable (it was fenced before the checkpoint's first byte was written).
    if !last.counted && last.seq > summary.durable_through {
        return Err("the last commit began in a segment that is gone");
    }
    if last.seq < summary.names_through {
        return Err("the checkpoint names records of a commit that is not durable");
    }
    // Step 4: the table's segments still there, plus the replayed ones.
    let freed: HashSet<(SegmentIndex, Generation)> =
        validation.frees.iter().filter(|free| free.seq <= last.seq).map(|free| (free.index, free.generation)).collect();
    let positions: HashMap<(SegmentIndex, Generation), usize> = heads[..first_after]
        .iter()
        .enumerate()
        .map(|(position, head)| ((head.index, head.generation), position))
        .collect();
    let position_of = |entry: &TableEntry| positions.get(&(entry.index, entry.generation)).copied();
    let table_kept: Vec<(usize, TableEntry)> = loaded
        .table
        .iter()
        .filter(|entry| !freed.contains(&(entry.index, entry.generation)))
        .filter_map(|entry| position_of(entry).map(|position| (position, *entry)))
        .collect();
    let after_kept = kept_segments(after, &validation.frees, last);
    if (table_kept.len() + after_kept.len()) as u64 != last.live_segments {
        return Err("the segments the checkpoint and the log leave are not as many as the last commit counts");
    }
    if after_kept.last() != Some(&last.position) {
        return Err("a Free record names the segment of the last commit");
    }
    // Step 5: no intact commit past the end, in what the replay does not read after the capture.
    let stop = *validation.ends.last().expect("one segment scanned");
    let mut ranges = vec![(last.end, after[last.position].index.end_offset())];
    let kept_after: HashSet<usize> = after_kept.iter().copied().collect();
    ranges.extend(
        (0..after.len())
            .filter(|position| !kept_after.contains(position))
            .map(|position| (segment_start(after[position].index), after[position].index.end_offset())),
    );
    check_nothing_committed_after(medium, &ranges, last.seq, stop)
        .map_err(|_| "a commit past the log's end is intact")?;
    if superblock.clean && (last.seq != superblock.clean_commit_seq || last.end != superblock.clean_end_offset) {
        return Err("after a clean close the log ends elsewhere than the superblock says");
    }
    // Step 6: the space, the checkpoint's index with the entries kept, then the replay on top.
    let mut space = Space::new(segments, open_epoch);
    for &segment in &loaded.segments {
        space.set_checkpoint(segment);
    }
    let mut in_table = vec![false; segments as usize];
    for (_, entry) in &table_kept {
        space.set_live_from_table(
            entry.index,
            entry.generation,
            entry.written_bytes,
            entry.tombstone_bytes,
            entry.tombstone_shadow,
        );
        in_table[entry.index.as_usize()] = true;
    }
    let leaves = kept_entries(loaded.leaves, &in_table, &mut space)?;
    let index = KeyIndex::from_leaves(leaves)?;
    let checkpoint_keys = index.len() as u64;
    let replayed: Vec<(SegmentHead, u64)> = after_kept
        .iter()
        .map(|&position| {
            (after[position], if position == last.position { last.end } else { validation.ends[position] })
        })
        .collect();
    replay::replay_onto(medium, &mut space, &replayed, &index);
    // Paired with the count check above: the accounting agrees with Commit L.
    assert_eq!(space.live_count(), last.live_segments, "replay makes exactly the counted segments live");
    let mut report = validation.report;
    report.clean_shutdown = superblock.clean;
    report.from_checkpoint = true;
    report.log_bytes_replayed = replayed_bytes(&replayed);
    report.checkpoint_keys = checkpoint_keys;
    let mut kept: Vec<usize> = table_kept.iter().map(|(position, _)| *position).collect();
    kept.extend(after_kept.iter().map(|&position| first_after + position));
    kept.sort_unstable();
    let last = LastCommit { position: first_after + last.position, ..last };
    let rebuilt = Rebuilt { report, space, index, checkpoint: loaded.segments };
    Ok(resume(medium, superblock, heads, &kept, last, rebuilt))
}

/// Checks what the table says before anything trusts it: segments inside the file, each once,
/// older than the capture's head, with accounting that fits a segment.
fn check_table(table: &[TableEntry], summary: &Summary, segments: u64) -> Result<(), &'static str> {
    let mut seen = HashSet::new();
    for entry in table {
        let fits = entry.tombstone_bytes <= entry.written_bytes && entry.written_bytes <= SEGMENT_BYTES;
        let older = entry.generation < summary.covered_generation;
        let shadow_ok = entry.tombstone_shadow.is_none_or(|shadow| shadow <= entry.generation);
        if entry.index.0 >= segments || !seen.insert(entry.index) || !fits || !older || !shadow_ok {
            return Err("its segment table is inconsistent");
        }
    }
    if summary.durable_through > summary.names_through || summary.head_commit > summary.names_through {
        return Err("its commit bounds are inconsistent");
    }
    Ok(())
}

/// The checkpoint's leaves with only the entries recovery keeps: those whose record lies in a
/// table segment still there (written before the capture, so the key's value at the capture
/// and still its value unless the replay supersedes it). Every other entry is a fuzzy copy of
/// a later write, which the replay finds again if it survived, or of a record gone since. Each
/// kept record's bytes count as live. Leaves left empty are dropped; a leaf's bound
/// stays a valid separator for the entries left in it.
fn kept_entries(leaves: Leaves, in_table: &[bool], space: &mut Space) -> Result<Leaves, &'static str> {
    let mut kept = Vec::with_capacity(leaves.len());
    for (smallest, mut image) in leaves {
        let mut write = 0;
        for read in 0..image.slots.len() {
            let location = Location::unpack(image.slots[read]);
            let segment = SegmentIndex::of_offset(location.offset);
            if !in_table.get(segment.as_usize()).copied().unwrap_or(false) {
                continue;
            }
            let inside = location.offset % RECORD_ALIGN == 0
                && location.offset >= segment_start(segment) + PAIR_RECORD_BYTES
                && location.record_bytes >= RECORD_HEADER_BYTES as u64
                && location.offset + location.record_bytes <= segment.end_offset();
            if !inside || !space.revived(location.offset, location.record_bytes) {
                return Err("an entry points outside its segment's records");
            }
            image.slots[write] = image.slots[read];
            image.tags[write] = image.tags[read];
            write += 1;
        }
        image.slots.truncate(write);
        image.tags.truncate(write);
        if write > 0 {
            kept.push((smallest, image));
        }
    }
    Ok(kept)
}
