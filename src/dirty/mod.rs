//! The dirty-range radix index: the store's own copy of the kernel's DAX radix tree of dirty
//! PTE (4 KiB) and PMD (2 MiB) entries with DIRTY and TOWRITE tags.
//!
//! ```text
//! DirtyIndex
//!   tables[i]            one per 1 GiB of file, created on first use, never freed
//!     present bitmap     512 bits: which slots hold a node (walks skip empty slots by the word)
//!     slots[j]           one per 2 MiB (PMD) region: epoch-managed pointer to a PmdNode
//!       PmdNode          PMD tags + 512 PTE entries (page bits) + a 64-bit line mask per page
//! ```
//!
//! The protocol is the kernel's:
//! - [`DirtyIndex::mark`] after every store into the mapping (the `pfn_mkwrite` step): the first
//!   write to a clean page creates its PTE entry tagged DIRTY; marking lines already DIRTY is two
//!   loads. A region whose 512 pages are all dirty becomes one PMD entry and its PTE entries are
//!   removed (hole→PMD conversion).
//! - [`DirtyIndex::tag`] turns every DIRTY entry into TOWRITE (`tag_pages_for_writeback`): stores
//!   marked after it stay DIRTY for the next commit.
//! - [`DirtyIndex::writeback`] walks TOWRITE entries in address order, clears them, and returns
//!   maximal coalesced runs — whole 2 MiB for a PMD entry, the page for msync, the written lines
//!   for cache-line flushing. A PMD entry shadows any PTE state beneath it, so no byte appears
//!   in two runs: the kernel's overlapping PMD/PTE double flush cannot happen. A node that a
//!   writeback finds with nothing to write and no tag is retired (memory follows dirty state, one
//!   commit behind: the node under the log head is not freed and allocated again every commit).
//!
//! A commit costs what was dirtied: `tag` records the regions it visited, in address order, and
//! `writeback` visits just those (no second walk of the tables); a node's summary words name its
//! non-empty page-bit words, so neither looks at 512 pages to learn that a node is clean; and the
//! runs go into a buffer reused from commit to commit ([`DirtyIndex::writeback_with`]).
//!
//! Markers may run on many threads at once, without a lock. `tag` and `writeback` must not run
//! concurrently with each other (the engine serialises commits); they may run concurrently with
//! markers.

mod node;
mod slot;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sync::epoch;

use crate::layout::{LINE_BYTES, PAGES_PER_PMD, PAGE_BYTES, PMD_BYTES};
use crate::media::{Granularity, Run};
use node::{Towrite, DIRTY, TOWRITE};
use slot::Slot;

const SLOTS_PER_TABLE: usize = 512;
const TABLE_BYTES: u64 = PMD_BYTES * SLOTS_PER_TABLE as u64;

/// Size of one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntrySize {
    /// A 4 KiB page entry.
    Pte,
    /// A 2 MiB huge-page entry.
    Pmd,
}

/// One entry of the index as seen by [`DirtyIndex::entries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Entry size.
    pub size: EntrySize,
    /// File offset of the entry's first byte.
    pub offset: u64,
    /// DIRTY tag.
    pub dirty: bool,
    /// TOWRITE tag.
    pub towrite: bool,
}

/// Counters of the index, all monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirtyCounters {
    /// PTE entries created DIRTY by a mark (first write to a clean page).
    pub pte_entries_dirtied_total: u64,
    /// PMD entries created by promotion.
    pub pmd_entries_dirtied_total: u64,
    /// PTE entries removed beneath a new PMD entry.
    pub pte_entries_dropped_total: u64,
    /// PTE entries moved to TOWRITE.
    pub pte_entries_tagged_total: u64,
    /// PMD entries moved to TOWRITE.
    pub pmd_entries_tagged_total: u64,
    /// Runs handed to the flusher.
    pub runs_flushed_total: u64,
    /// Bytes in those runs.
    pub flush_bytes_total: u64,
    /// Writebacks that found something to flush.
    pub writebacks_total: u64,
}

#[derive(Debug)]
struct Table {
    present: [AtomicU64; SLOTS_PER_TABLE / 64],
    slots: Box<[Slot]>,
}

impl Default for Table {
    fn default() -> Self {
        Table { present: Default::default(), slots: (0..SLOTS_PER_TABLE).map(|_| Slot::default()).collect() }
    }
}

/// The commit path's buffers, reused from commit to commit (no allocation once they have grown).
#[derive(Debug, Default)]
struct CommitBuffers {
    /// Regions (file offset / 2 MiB) holding a node at the last `tag`, in address order.
    tagged: Vec<u64>,
    /// The runs of the writeback in progress.
    runs: Vec<Run>,
}

/// See the module docs.
#[derive(Debug)]
pub struct DirtyIndex {
    tables: Box<[OnceLock<Box<Table>>]>,
    tables_used: AtomicUsize,
    /// Taken by `tag` and `writeback` only, which the engine serialises: never contended.
    buffers: Mutex<CommitBuffers>,
    pte_entries_dirtied_total: AtomicU64,
    pmd_entries_dirtied_total: AtomicU64,
    pte_entries_dropped_total: AtomicU64,
    pte_entries_tagged_total: AtomicU64,
    pmd_entries_tagged_total: AtomicU64,
    runs_flushed_total: AtomicU64,
    flush_bytes_total: AtomicU64,
    writebacks_total: AtomicU64,
}

impl DirtyIndex {
    /// An index able to track offsets below `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> DirtyIndex {
        let tables = capacity_bytes.div_ceil(TABLE_BYTES).max(1) as usize;
        DirtyIndex {
            tables: (0..tables).map(|_| OnceLock::new()).collect(),
            tables_used: AtomicUsize::new(0),
            buffers: Mutex::new(CommitBuffers::default()),
            pte_entries_dirtied_total: AtomicU64::new(0),
            pmd_entries_dirtied_total: AtomicU64::new(0),
            pte_entries_dropped_total: AtomicU64::new(0),
            pte_entries_tagged_total: AtomicU64::new(0),
            pmd_entries_tagged_total: AtomicU64::new(0),
            runs_flushed_total: AtomicU64::new(0),
            flush_bytes_total: AtomicU64::new(0),
            writebacks_total: AtomicU64::new(0),
        }
    }

    fn table(&self, index: usize) -> &Table {
        self.tables[index].get_or_init(|| {
            self.tables_used.fetch_max(index + 1, Ordering::SeqCst);
            Box::default()
        })
    }

    /// Marks the bytes `[offset, offset + len)` as written. Any thread, no lock.
    pub fn mark(&self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = offset.checked_add(len).expect("mark range overflows");
        assert!(end <= self.tables.len() as u64 * TABLE_BYTES, "mark beyond the index capacity");
        let guard = epoch::pin();
        let mut position = offset;
        while position < end {
            let region = position / PMD_BYTES;
            let region_start = region * PMD_BYTES;
            let region_end = end.min(region_start + PMD_BYTES);
            let table = self.table((region / SLOTS_PER_TABLE as u64) as usize);
            let index = (region % SLOTS_PER_TABLE as u64) as usize;
            let slot = &table.slots[index];
            let installed = || {
                table.present[index / 64].fetch_or(1 << (index % 64), Ordering::SeqCst);
            };
            slot.mark(&guard, installed, |node| {
                self.count_mark(node.mark(position - region_start, region_end - region_start));
            });
            position = region_end;
        }
    }

    fn count_mark(&self, outcome: node::MarkOutcome) {
        if outcome.pte_entries_created > 0 {
            self.pte_entries_dirtied_total.fetch_add(outcome.pte_entries_created, Ordering::Relaxed);
        }
        if outcome.pmd_entries_created > 0 {
            self.pmd_entries_dirtied_total.fetch_add(outcome.pmd_entries_created, Ordering::Relaxed);
            self.pte_entries_dropped_total.fetch_add(outcome.pte_entries_dropped, Ordering::Relaxed);
        }
    }

    /// Calls `each(table index, table, slot index)` for every slot that holds a node, in
    /// address order.
    fn for_each_present(&self, mut each: impl FnMut(usize, &Table, usize)) {
        let used = self.tables_used.load(Ordering::SeqCst);
        for (table_index, table) in self.tables[..used].iter().enumerate() {
            let Some(table) = table.get() else { continue };
            for (word_index, word) in table.present.iter().enumerate() {
                let mut bits = word.load(Ordering::SeqCst);
                while bits != 0 {
                    let index = word_index * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    each(table_index, table, index);
                }
            }
        }
    }

    fn lock_buffers(&self) -> std::sync::MutexGuard<'_, CommitBuffers> {
        // A panic while the buffers were held leaves nothing to repair: they are cleared on use.
        self.buffers.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// DIRTY → TOWRITE over the whole index. Returns the number of entries tagged.
    pub fn tag(&self) -> u64 {
        let guard = epoch::pin();
        let mut buffers = self.lock_buffers();
        let (mut pte, mut pmd) = (0, 0);
        self.for_each_present(|table_index, table, index| {
            if let Some(node) = table.slots[index].get(&guard) {
                let outcome = if node.has_dirty() { node.tag() } else { node::TagOutcome::default() };
                pte += outcome.pte_entries_tagged;
                pmd += outcome.pmd_entries_tagged;
                buffers.tagged.push((table_index * SLOTS_PER_TABLE + index) as u64);
            }
        });
        self.pte_entries_tagged_total.fetch_add(pte, Ordering::Relaxed);
        self.pmd_entries_tagged_total.fetch_add(pmd, Ordering::Relaxed);
        pte + pmd
    }

    /// Clears every TOWRITE entry and returns the coalesced runs to flush, in address order.
    /// Allocates the returned `Vec`; the commit path uses [`DirtyIndex::writeback_with`].
    pub fn writeback(&self, granularity: Granularity) -> Vec<Run> {
        self.writeback_with(granularity, <[Run]>::to_vec)
    }

    /// Clears every TOWRITE entry and hands the coalesced runs to flush, in address order, to
    /// `flush` (in a buffer reused by the next writeback). Visits only the regions the last
    /// [`DirtyIndex::tag`] found; retires those with nothing to write and no tag.
    pub fn writeback_with<R>(&self, granularity: Granularity, flush: impl FnOnce(&[Run]) -> R) -> R {
        let guard = epoch::pin();
        let mut buffers = self.lock_buffers();
        let CommitBuffers { tagged, runs } = &mut *buffers;
        runs.clear();
        if !tagged.windows(2).all(|pair| pair[0] < pair[1]) {
            // Two tags without a writeback between them (tests, tools): one visit per region.
            tagged.sort_unstable();
            tagged.dedup();
        }
        for &region in tagged.iter() {
            let (table_index, index) =
                ((region / SLOTS_PER_TABLE as u64) as usize, (region % SLOTS_PER_TABLE as u64) as usize);
            let table = self.table(table_index);
            let Some(node) = table.slots[index].get(&guard) else { continue };
            let region_start = region * PMD_BYTES;
            let found = node.take_towrite(|page, lines| {
                let page_start = region_start + page * PAGE_BYTES;
                match granularity {
                    Granularity::Page => push_run(runs, Run { offset: page_start, len: PAGE_BYTES }),
                    Granularity::Line => push_line_runs(runs, page_start, lines),
                }
            });
            match found {
                Towrite::Whole => push_run(runs, Run { offset: region_start, len: PMD_BYTES }),
                Towrite::Pages => {}
                Towrite::Nothing => {
                    if node.is_clean() {
                        table.present[index / 64].fetch_and(!(1 << (index % 64)), Ordering::SeqCst);
                        if !table.slots[index].retire_if_clean(&guard) {
                            table.present[index / 64].fetch_or(1 << (index % 64), Ordering::SeqCst);
                        }
                    }
                }
            }
        }
        tagged.clear();
        if !runs.is_empty() {
            self.writebacks_total.fetch_add(1, Ordering::Relaxed);
            self.runs_flushed_total.fetch_add(runs.len() as u64, Ordering::Relaxed);
            self.flush_bytes_total.fetch_add(runs.iter().map(|run| run.len).sum(), Ordering::Relaxed);
        }
        flush(runs)
    }

    /// Every entry with a tag, in address order (for tests, fuzzing and `daxkv stats`).
    pub fn entries(&self) -> Vec<Entry> {
        let guard = epoch::pin();
        let mut entries = Vec::new();
        self.for_each_present(|table_index, table, index| {
            let Some(node) = table.slots[index].get(&guard) else { return };
            let region_start = (table_index * SLOTS_PER_TABLE + index) as u64 * PMD_BYTES;
            let (pmd, pages) = node.snapshot();
            if pmd != 0 {
                let (dirty, towrite) = (pmd & DIRTY != 0, pmd & TOWRITE != 0);
                entries.push(Entry { size: EntrySize::Pmd, offset: region_start, dirty, towrite });
            }
            for (page, dirty, towrite) in pages {
                let offset = region_start + page * PAGE_BYTES;
                entries.push(Entry { size: EntrySize::Pte, offset, dirty, towrite });
            }
        });
        entries
    }

    /// Regions (2 MiB) that currently hold a node: the index's memory in use.
    pub fn nodes(&self) -> usize {
        let mut nodes = 0;
        self.for_each_present(|_, _, _| nodes += 1);
        nodes
    }

    /// Counter snapshot.
    pub fn counters(&self) -> DirtyCounters {
        DirtyCounters {
            pte_entries_dirtied_total: self.pte_entries_dirtied_total.load(Ordering::Relaxed),
            pmd_entries_dirtied_total: self.pmd_entries_dirtied_total.load(Ordering::Relaxed),
            pte_entries_dropped_total: self.pte_entries_dropped_total.load(Ordering::Relaxed),
            pte_entries_tagged_total: self.pte_entries_tagged_total.load(Ordering::Relaxed),
            pmd_entries_tagged_total: self.pmd_entries_tagged_total.load(Ordering::Relaxed),
            runs_flushed_total: self.runs_flushed_total.load(Ordering::Relaxed),
            flush_bytes_total: self.flush_bytes_total.load(Ordering::Relaxed),
            writebacks_total: self.writebacks_total.load(Ordering::Relaxed),
        }
    }
}

/// Appends `run`, merging it into the last run when they touch.
fn push_run(runs: &mut Vec<Run>, run: Run) {
    if let Some(last) = runs.last_mut() {
        debug_assert!(last.end() <= run.offset, "runs must come in address order, disjoint");
        if last.end() == run.offset {
            last.len += run.len;
            return;
        }
    }
    runs.push(run);
}

/// Appends one run per maximal group of set bits in `lines` (lines of the page at `page_start`).
fn push_line_runs(runs: &mut Vec<Run>, page_start: u64, lines: u64) {
    let mut rest = lines;
    while rest != 0 {
        let first = rest.trailing_zeros() as u64;
        let count = (rest >> first).trailing_ones() as u64;
        push_run(runs, Run { offset: page_start + first * LINE_BYTES, len: count * LINE_BYTES });
        rest &= if first + count >= 64 { 0 } else { !((1u64 << (first + count)) - 1) };
    }
}

#[cfg(test)]
mod tests;

const _: () = assert!(PAGES_PER_PMD == 512);
