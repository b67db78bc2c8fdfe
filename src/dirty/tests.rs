//! Unit tests of the dirty-range radix index: the tag protocol, PMD promotion, coalescing,
//! line precision, no double flush, concurrent marking.

use super::*;
use std::collections::BTreeSet;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

fn index() -> DirtyIndex {
    DirtyIndex::new(64 * PMD_BYTES)
}

fn bytes_of(runs: &[Run]) -> u64 {
    runs.iter().map(|run| run.len).sum()
}

#[test]
fn first_mark_creates_a_dirty_pte_and_a_second_is_a_no_op() {
    let index = index();
    index.mark(100, 10);
    index.mark(100, 10);
    index.mark(4090, 10); // spans pages 0 and 1
    assert_eq!(index.counters().pte_entries_dirtied_total, 2);
    let entries = index.entries();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|entry| entry.size == EntrySize::Pte && entry.dirty && !entry.towrite));
}

#[test]
fn tag_moves_dirty_to_towrite_and_writeback_clears_it() {
    let index = index();
    index.mark(0, 1);
    assert_eq!(index.tag(), 1);
    assert_eq!(index.entries(), vec![Entry { size: EntrySize::Pte, offset: 0, dirty: false, towrite: true }]);
    let runs = index.writeback(Granularity::Page);
    assert_eq!(runs, vec![Run { offset: 0, len: PAGE_BYTES }]);
    assert!(index.entries().is_empty());
    assert_eq!(index.nodes(), 1, "a node just written back stays for the next commit");
    assert!(index.writeback(Granularity::Page).is_empty(), "nothing tagged, nothing to flush");
    index.tag();
    assert!(index.writeback(Granularity::Page).is_empty(), "nothing dirty, nothing to flush");
    assert_eq!(index.nodes(), 0, "a node a writeback finds clean with nothing to write is freed");
}

#[test]
fn a_node_dirtied_every_commit_is_kept_and_its_summary_words_find_every_page() {
    let index = index();
    for commit in 0..3u64 {
        // One page in each of the eight page-bit words, and the last page of the region.
        let pages: Vec<u64> = (0..8).map(|word| word * 64 + commit).chain([PAGES_PER_PMD - 1]).collect();
        for &page in &pages {
            index.mark(page * PAGE_BYTES + 64, 8);
        }
        assert_eq!(index.tag(), pages.len() as u64);
        let runs = index.writeback(Granularity::Line);
        let expected: Vec<Run> = pages.iter().map(|page| Run { offset: page * PAGE_BYTES + 64, len: 64 }).collect();
        assert_eq!(runs, expected, "commit {commit}");
        assert_eq!(index.nodes(), 1, "the node under the writes is not freed and made again");
    }
}

#[test]
fn a_page_redirtied_during_writeback_stays_dirty_for_the_next_commit() {
    let index = index();
    index.mark(0, 64);
    index.tag();
    index.mark(64, 64); // a store that lands after tagging, while the commit runs
    let first = index.writeback(Granularity::Line);
    assert_eq!(first, vec![Run { offset: 0, len: 64 }], "only the tagged line is in this writeback");
    assert_eq!(index.entries(), vec![Entry { size: EntrySize::Pte, offset: 0, dirty: true, towrite: false }]);
    index.tag();
    assert_eq!(index.writeback(Granularity::Line), vec![Run { offset: 64, len: 64 }]);
}

#[test]
fn neighbours_coalesce_into_maximal_runs_in_address_order() {
    let index = index();
    for page in [7u64, 3, 4, 5, 9, 10] {
        index.mark(page * PAGE_BYTES + 8, 16);
    }
    index.mark(PMD_BYTES - PAGE_BYTES, PAGE_BYTES); // last page of region 0 ...
    index.mark(PMD_BYTES, 8); // ... touches the first page of region 1
    index.tag();
    let runs = index.writeback(Granularity::Page);
    let expected = vec![
        Run { offset: 3 * PAGE_BYTES, len: 3 * PAGE_BYTES },
        Run { offset: 7 * PAGE_BYTES, len: PAGE_BYTES },
        Run { offset: 9 * PAGE_BYTES, len: 2 * PAGE_BYTES },
        Run { offset: PMD_BYTES - PAGE_BYTES, len: 2 * PAGE_BYTES },
    ];
    assert_eq!(runs, expected);
}

#[test]
fn line_granularity_flushes_only_written_lines() {
    let index = index();
    index.mark(0, 1); // line 0
    index.mark(200, 100); // lines 3 and 4
    index.mark(PAGE_BYTES - 1, 1); // line 63
    index.tag();
    let runs = index.writeback(Granularity::Line);
    assert_eq!(runs, vec![Run { offset: 0, len: 64 }, Run { offset: 192, len: 128 }, Run { offset: 4032, len: 64 }]);
    assert_eq!(bytes_of(&runs), 4 * LINE_BYTES);
}

#[test]
fn a_wholly_dirty_region_becomes_one_pmd_entry_and_its_ptes_are_removed() {
    let index = index();
    for page in 0..PAGES_PER_PMD {
        index.mark(2 * PMD_BYTES + page * PAGE_BYTES, 8);
    }
    let counters = index.counters();
    assert_eq!(counters.pmd_entries_dirtied_total, 1);
    assert_eq!(counters.pte_entries_dropped_total, PAGES_PER_PMD);
    assert_eq!(
        index.entries(),
        vec![Entry { size: EntrySize::Pmd, offset: 2 * PMD_BYTES, dirty: true, towrite: false }]
    );
    // Marks into a PMD-dirty region add nothing.
    index.mark(2 * PMD_BYTES + 5 * PAGE_BYTES, 4);
    assert_eq!(index.entries().len(), 1);
    index.tag();
    let runs = index.writeback(Granularity::Line);
    assert_eq!(runs, vec![Run { offset: 2 * PMD_BYTES, len: PMD_BYTES }]);
    index.tag();
    assert!(index.writeback(Granularity::Line).is_empty());
    assert_eq!(index.nodes(), 0);
}

#[test]
fn no_byte_is_flushed_twice_when_ptes_are_redirtied_under_a_pmd() {
    let index = index();
    index.mark(0, PMD_BYTES); // a whole region: PMD entry
    index.mark(4 * MIB, 8); // another region, one page
    index.tag();
    let runs = index.writeback(Granularity::Page);
    let mut seen = BTreeSet::new();
    for run in &runs {
        for page in run.offset / PAGE_BYTES..run.end() / PAGE_BYTES {
            assert!(seen.insert(page), "page {page} flushed twice");
        }
    }
    assert_eq!(bytes_of(&runs), PMD_BYTES + PAGE_BYTES);
}

#[test]
fn concurrent_markers_lose_nothing_across_many_writebacks() {
    // Four threads mark disjoint lines while this thread tags and writes back in a loop; every
    // marked line must appear in some writeback after its mark.
    let index = Arc::new(index());
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                for step in 0..20_000u64 {
                    let line = (step * 4 + thread) % (8 * PAGES_PER_PMD * 64);
                    index.mark(line * LINE_BYTES, 1);
                }
            })
        })
        .collect();
    let mut flushed = BTreeSet::new();
    for _ in 0..1_000 {
        index.tag();
        for run in index.writeback(Granularity::Line) {
            flushed.extend(run.offset / LINE_BYTES..run.end() / LINE_BYTES);
        }
    }
    for thread in threads {
        thread.join().expect("marker thread");
    }
    for _ in 0..2 {
        index.tag();
        for run in index.writeback(Granularity::Line) {
            flushed.extend(run.offset / LINE_BYTES..run.end() / LINE_BYTES);
        }
    }
    for thread in 0..4u64 {
        for step in 0..20_000u64 {
            let line = (step * 4 + thread) % (8 * PAGES_PER_PMD * 64);
            assert!(flushed.contains(&line), "line {line} was marked but never flushed");
        }
    }
    assert_eq!(index.nodes(), 0);
}

#[test]
fn the_index_matches_a_simple_model_under_random_operations() {
    // Model: the set of dirty lines and the set of towrite lines; a PMD flush covers more.
    let index = index();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut dirty = BTreeSet::new();
    let mut towrite = BTreeSet::new();
    for _ in 0..5_000 {
        match next() % 10 {
            0 => {
                index.tag();
                towrite.append(&mut dirty);
            }
            1 => {
                let flushed: BTreeSet<u64> = index
                    .writeback(Granularity::Line)
                    .iter()
                    .flat_map(|run| run.offset / LINE_BYTES..run.end() / LINE_BYTES)
                    .collect();
                assert!(towrite.is_subset(&flushed), "a towrite line was not flushed");
                towrite.clear();
            }
            _ => {
                let offset = next() % (4 * PMD_BYTES);
                let len = 1 + next() % 300;
                index.mark(offset, len);
                dirty.extend(offset / LINE_BYTES..=(offset + len - 1) / LINE_BYTES);
            }
        }
    }
}
