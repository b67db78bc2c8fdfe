//! The state of one 2 MiB region: a PMD entry tag plus 512 PTE entries with line masks.
//!
//! | field | meaning |
//! |---|---|
//! | `pmd` | DIRTY / TOWRITE tags of the PMD entry (the region held as one 2 MiB entry) |
//! | `dirty_pages` | 512 bits: PTE entries tagged DIRTY |
//! | `dirty_lines[p]` | 64 bits: lines of page `p` written since they were last tagged |
//! | `towrite_pages`, `towrite_lines` | the same for TOWRITE (owned by the commit in progress) |
//! | `dirty_words`, `towrite_words` | summary words: bit `w` set when word `w` of the page bits may be non-zero |
//!
//! The summary words make a commit cost what was dirtied: `tag`, `take_towrite` and `is_clean`
//! look at the page-bit words the summary names, never at all 512 pages. A marker that sets a
//! page bit then makes sure its word's summary bit is set (a load, a `fetch_or` only when it is
//! not); tagging swaps the summary, then the words it names. So once a mark has returned, its
//! page bit is in a word whose summary bit is set, or a tag has taken it already. A marker still
//! between the two steps may leave a node that looks clean; it then finds the node retired when
//! it looks at the slot, and marks again (slot.rs).
//!
//! Markers (any thread, no lock) set line bits, then the page bit. Tagging (commit thread) swaps
//! the page bits, then the line bits, from DIRTY to TOWRITE; a store that lands after its line
//! was swapped leaves its bits DIRTY for the next commit. Line masks are the truth: a page bit
//! whose lines are all gone was already taken by an earlier tag and flushes nothing.
//!
//! PMD promotion: the mark that sets the 512th page bit takes the node's promotion lock, sets
//! the PMD DIRTY tag and clears the PTE entries beneath (page bits and line masks). Tagging takes
//! the same lock, so no tag can fall between setting the PMD tag and clearing the PTEs (which
//! would drop a page dirtied after the tag). Marks into a PMD-dirty region are a single load.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::layout::{LINE_BYTES, PAGES_PER_PMD, PAGE_BYTES};

pub(super) const DIRTY: u8 = 1;
pub(super) const TOWRITE: u8 = 2;
const WORDS: usize = (PAGES_PER_PMD / 64) as usize;
const PAGES: usize = PAGES_PER_PMD as usize;

/// What one mark changed (for counters).
#[derive(Default, Clone, Copy)]
pub(super) struct MarkOutcome {
    pub(super) pte_entries_created: u64,
    pub(super) pmd_entries_created: u64,
    pub(super) pte_entries_dropped: u64,
}

/// What one tag moved (for counters).
#[derive(Default, Clone, Copy)]
pub(super) struct TagOutcome {
    pub(super) pte_entries_tagged: u64,
    pub(super) pmd_entries_tagged: u64,
}

/// What [`PmdNode::take_towrite`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Towrite {
    /// No TOWRITE entry.
    Nothing,
    /// TOWRITE page entries (handed to the caller one by one).
    Pages,
    /// The whole region as one PMD entry.
    Whole,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct PmdNode {
    pmd: AtomicU8,
    promotion: Mutex<()>,
    dirty_words: AtomicU64,
    towrite_words: AtomicU64,
    dirty_pages: [AtomicU64; WORDS],
    towrite_pages: [AtomicU64; WORDS],
    dirty_lines: Box<[AtomicU64]>,
    towrite_lines: Box<[AtomicU64]>,
}

impl Default for PmdNode {
    fn default() -> Self {
        PmdNode {
            pmd: AtomicU8::new(0),
            promotion: Mutex::new(()),
            dirty_words: AtomicU64::new(0),
            towrite_words: AtomicU64::new(0),
            dirty_pages: Default::default(),
            towrite_pages: Default::default(),
            dirty_lines: (0..PAGES).map(|_| AtomicU64::new(0)).collect(),
            towrite_lines: (0..PAGES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Swaps the summary `words` to zero, then every set page bit of the words it named and, for
/// each such page, its line mask; calls `each(page, lines)` in page order.
fn take_pages(words: &AtomicU64, pages: &[AtomicU64; WORDS], lines: &[AtomicU64], mut each: impl FnMut(usize, u64)) {
    let mut named = words.swap(0, Ordering::SeqCst);
    debug_assert!(named >> WORDS == 0, "the summary names only existing words");
    while named != 0 {
        let word = named.trailing_zeros() as usize;
        named &= named - 1;
        let mut rest = pages[word].swap(0, Ordering::SeqCst);
        while rest != 0 {
            let page = word * 64 + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            each(page, lines[page].swap(0, Ordering::SeqCst));
        }
    }
}

/// Line bits of `page` covered by the byte range `[start, end)` (offsets inside the region).
fn line_mask(page: u64, start: u64, end: u64) -> u64 {
    let page_start = page * PAGE_BYTES;
    let first = (start.max(page_start) - page_start) / LINE_BYTES;
    let last = (end.min(page_start + PAGE_BYTES) - 1 - page_start) / LINE_BYTES;
    let count = last - first + 1;
    if count == 64 {
        u64::MAX
    } else {
        ((1u64 << count) - 1) << first
    }
}

impl PmdNode {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.promotion.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Marks `[start, end)` (offsets inside this 2 MiB region) DIRTY.
    pub(super) fn mark(&self, start: u64, end: u64) -> MarkOutcome {
        debug_assert!(start < end && end <= PAGES_PER_PMD * PAGE_BYTES);
        let mut outcome = MarkOutcome::default();
        if self.pmd.load(Ordering::SeqCst) & DIRTY != 0 {
            return outcome;
        }
        for page in start / PAGE_BYTES..=(end - 1) / PAGE_BYTES {
            let mask = line_mask(page, start, end);
            let (word, bit) = ((page / 64) as usize, 1u64 << (page % 64));
            let lines = &self.dirty_lines[page as usize];
            if lines.load(Ordering::SeqCst) & mask == mask && self.dirty_pages[word].load(Ordering::SeqCst) & bit != 0 {
                continue;
            }
            lines.fetch_or(mask, Ordering::SeqCst);
            let before = self.dirty_pages[word].fetch_or(bit, Ordering::SeqCst);
            // The page bit, then its word's summary bit (module docs): checked even when the
            // word was non-zero before, since its first marker may not have set the summary yet.
            let summary = 1u64 << word;
            if self.dirty_words.load(Ordering::SeqCst) & summary == 0 {
                self.dirty_words.fetch_or(summary, Ordering::SeqCst);
            }
            if before & bit == 0 {
                outcome.pte_entries_created += 1;
                if before | bit == u64::MAX {
                    self.promote_if_full(&mut outcome);
                }
            }
        }
        outcome
    }

    fn promote_if_full(&self, outcome: &mut MarkOutcome) {
        let _guard = self.lock();
        let full = self.dirty_pages.iter().all(|word| word.load(Ordering::SeqCst) == u64::MAX);
        if !full || self.pmd.load(Ordering::SeqCst) & DIRTY != 0 {
            return;
        }
        self.pmd.fetch_or(DIRTY, Ordering::SeqCst);
        for word in &self.dirty_pages {
            outcome.pte_entries_dropped += u64::from(word.swap(0, Ordering::SeqCst).count_ones());
        }
        for lines in self.dirty_lines.iter() {
            lines.store(0, Ordering::SeqCst);
        }
        outcome.pmd_entries_created += 1;
    }

    /// Turns DIRTY into TOWRITE (the `tag_pages_for_writeback` step). PTE state under a PMD
    /// entry that is being tagged is dropped: the PMD flush covers it.
    pub(super) fn tag(&self) -> TagOutcome {
        let _guard = self.lock();
        let mut outcome = TagOutcome::default();
        let pmd_dirty = self.pmd.fetch_and(!DIRTY, Ordering::SeqCst) & DIRTY != 0;
        if pmd_dirty {
            self.pmd.fetch_or(TOWRITE, Ordering::SeqCst);
            outcome.pmd_entries_tagged += 1;
        }
        let mut towrite_words = 0u64;
        take_pages(&self.dirty_words, &self.dirty_pages, &self.dirty_lines, |page, lines| {
            if lines != 0 && !pmd_dirty {
                self.towrite_lines[page].fetch_or(lines, Ordering::SeqCst);
                self.towrite_pages[page / 64].fetch_or(1 << (page % 64), Ordering::SeqCst);
                towrite_words |= 1 << (page / 64);
                outcome.pte_entries_tagged += 1;
            }
        });
        if towrite_words != 0 {
            self.towrite_words.fetch_or(towrite_words, Ordering::SeqCst);
        }
        outcome
    }

    /// Takes and clears the TOWRITE state (the `dax_writeback_one` step). A whole-PMD entry
    /// (whose PTE state is dropped) is [`Towrite::Whole`]; otherwise `each_page(page, lines)`
    /// runs for every page with TOWRITE lines.
    pub(super) fn take_towrite(&self, mut each_page: impl FnMut(u64, u64)) -> Towrite {
        let whole = self.pmd.fetch_and(!TOWRITE, Ordering::SeqCst) & TOWRITE != 0;
        let mut pages = false;
        take_pages(&self.towrite_words, &self.towrite_pages, &self.towrite_lines, |page, lines| {
            if !whole && lines != 0 {
                pages = true;
                each_page(page as u64, lines);
            }
        });
        match (whole, pages) {
            (true, _) => Towrite::Whole,
            (false, true) => Towrite::Pages,
            (false, false) => Towrite::Nothing,
        }
    }

    /// Whether a DIRTY tag may be set (two loads; a mark racing with this call stays DIRTY for
    /// the next tag, as any mark after a tag does).
    pub(super) fn has_dirty(&self) -> bool {
        self.pmd.load(Ordering::SeqCst) & DIRTY != 0 || self.dirty_words.load(Ordering::SeqCst) != 0
    }

    /// No tag of any kind is set: the PMD tags and the two summary words, three loads. A line
    /// mask is never left set without its page bit once its mark has returned, nor a page bit
    /// without its summary bit (module docs), so neither needs a look.
    pub(super) fn is_clean(&self) -> bool {
        self.pmd.load(Ordering::SeqCst) == 0
            && self.dirty_words.load(Ordering::SeqCst) == 0
            && self.towrite_words.load(Ordering::SeqCst) == 0
    }

    /// Folds the DIRTY state of an unlinked node into this one (retirement race).
    pub(super) fn absorb(&self, other: &PmdNode) {
        self.pmd.fetch_or(other.pmd.load(Ordering::SeqCst) & DIRTY, Ordering::SeqCst);
        for (line, other_line) in self.dirty_lines.iter().zip(other.dirty_lines.iter()) {
            line.fetch_or(other_line.load(Ordering::SeqCst), Ordering::SeqCst);
        }
        let mut summary = 0u64;
        for (index, (word, other_word)) in self.dirty_pages.iter().zip(other.dirty_pages.iter()).enumerate() {
            let bits = other_word.load(Ordering::SeqCst);
            if bits != 0 {
                word.fetch_or(bits, Ordering::SeqCst);
                summary |= 1 << index;
            }
        }
        // The page bits, then the summary (module docs).
        self.dirty_words.fetch_or(summary | other.dirty_words.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The PMD tags, and per page the (dirty, towrite) tags, for introspection.
    pub(super) fn snapshot(&self) -> (u8, Vec<(u64, bool, bool)>) {
        let pmd = self.pmd.load(Ordering::SeqCst);
        let mut pages = Vec::new();
        for page in 0..PAGES {
            let (word, bit) = (page / 64, 1u64 << (page % 64));
            let dirty = self.dirty_pages[word].load(Ordering::SeqCst) & bit != 0;
            let towrite = self.towrite_pages[word].load(Ordering::SeqCst) & bit != 0;
            if dirty || towrite {
                pages.push((page as u64, dirty, towrite));
            }
        }
        (pmd, pages)
    }
}
