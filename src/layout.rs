//! Sizes every layer agrees on. See docs/format.md.

/// The page: the unit of the PTE entry in the dirty index and of msync.
pub(crate) const PAGE_BYTES: u64 = 4096;
/// The cache line: the unit of CLWB and of line masks.
pub(crate) const LINE_BYTES: u64 = 64;
/// The huge page: the unit of the PMD entry, and the segment size.
pub(crate) const PMD_BYTES: u64 = 2 * 1024 * 1024;
/// Pages under one PMD entry.
pub(crate) const PAGES_PER_PMD: u64 = PMD_BYTES / PAGE_BYTES;
/// Growth and log unit.
pub(crate) const SEGMENT_BYTES: u64 = PMD_BYTES;
/// Size of the superblock area at the start of the file (segment 0's first page).
pub(crate) const SUPERBLOCK_AREA_BYTES: u64 = PAGE_BYTES;
/// Fixed record header.
pub(crate) const RECORD_HEADER_BYTES: usize = 32;
/// Records start on 8-byte boundaries.
pub(crate) const RECORD_ALIGN: u64 = 8;
/// Space every segment keeps for its head record, its seal record and the superblock (segment 0).
pub(crate) const SEGMENT_RESERVED_BYTES: u64 = SUPERBLOCK_AREA_BYTES + 2 * 48;
/// Bytes of a segment that records other than its head and seal can use.
pub(crate) const SEGMENT_USABLE_BYTES: u64 = SEGMENT_BYTES - SEGMENT_RESERVED_BYTES;

/// Rounds `value` up to a multiple of `align` (a power of two).
pub(crate) const fn align_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}
