//! The log's only doors into the mapping: append a record, read a published record, read the
//! file during recovery, zero a tail. Each states why the medium's `unsafe` contract holds.
//!
//! The invariant all of them rest on (docs/design.md, "Concurrency"):
//! - bytes at or after the write head are *unpublished*: no index entry points there and
//!   no reader reads them; only the thread holding the writer mutex writes them;
//! - bytes before the head in a live segment are *published* and never written again while the
//!   segment is live (the log is append-only), except its SegmentHead record, which no reader
//!   reads and which the cleaner zeroes when it frees the segment;
//! - a freed segment is written again (reused) or punched only after every read section that
//!   could have found an offset in it has ended and no zero-copy value pins it
//!   (see `space::readers`);
//! - recovery runs before the engine is shared with any other thread.

use bytes::Bytes;

use super::record::{self, Header, Kind};
use crate::error::Error;
use crate::ids::{CommitSequence, Generation, SegmentIndex};
use crate::index::{Location, RecordKeys};
use crate::layout::{LINE_BYTES, RECORD_HEADER_BYTES};
use crate::media::Medium;

/// Writes one record at `offset` (at or past the write head). Writer mutex held by the caller.
pub(crate) fn append_record<M: Medium>(
    medium: &M,
    offset: u64,
    kind: Kind,
    key: &[u8],
    value: &[u8],
    commit_seq: CommitSequence,
    generation: Generation,
) {
    let header = Header { kind, key_len: key.len() as u32, value_len: value.len() as u32, commit_seq, generation };
    let encoded = header.encode(key, value);
    let key_at = offset + RECORD_HEADER_BYTES as u64;
    // SAFETY: [offset, offset + record bytes) is at or past the write head, so it is unpublished:
    // no reader can hold a slice of it, and the caller holds the writer mutex, so no other
    // thread writes it (see the module docs).
    unsafe {
        medium.write(offset, &encoded);
        medium.write(key_at, key);
        medium.write(key_at + key.len() as u64, value);
    }
}

/// The header of the published record at `offset`.
pub(crate) fn published_header<M: Medium>(medium: &M, offset: u64) -> Result<Header, Error> {
    // SAFETY: `offset` came from the index, so it names a published record: never written while
    // the store is open.
    let bytes = unsafe { medium.bytes(offset, RECORD_HEADER_BYTES) };
    Header::decode_unchecked(bytes).ok_or_else(|| Error::corruption(offset, "index points at an invalid record header"))
}

/// Reads keys back from the records the index points at ([`RecordKeys`]).
pub(crate) struct IndexedKeys<'m, M>(pub(crate) &'m M);

impl<M: Medium> RecordKeys for IndexedKeys<'_, M> {
    fn key_at(&self, offset: u64) -> &[u8] {
        let end = SegmentIndex::of_offset(offset).end_offset();
        let key_at = offset + RECORD_HEADER_BYTES as u64;
        assert!(key_at <= end, "a record header lies inside its segment");
        // SAFETY: `offset` came from the index (or is the record the writer just appended for
        // it): a published record, never written while its segment is live, and a reader loads
        // it inside a read section that keeps the segment from reuse. During recovery, nothing
        // else runs.
        let header = unsafe { self.0.bytes(offset, RECORD_HEADER_BYTES) };
        let key_len = u32::from_le_bytes(header[record::field::KEY_LEN].try_into().expect("4 bytes"));
        // A damaged length cannot read past the segment; the key then compares unequal, and a
        // get checks the header it reads before it returns anything.
        let key_len = u64::from(key_len).min(end - key_at);
        // SAFETY: as above; the key follows the header inside the same record and segment.
        unsafe { self.0.bytes(key_at, key_len as usize) }
    }
}

/// The value of the published record at `offset` (header already decoded). `pin` keeps the
/// record's segment from reuse if the value is handed out zero-copy.
pub(crate) fn published_value<M: Medium, K: Send + 'static>(
    medium: &M,
    offset: u64,
    header: &Header,
    pin: impl FnOnce() -> K,
) -> Bytes {
    let value_at = offset + RECORD_HEADER_BYTES as u64 + u64::from(header.key_len);
    // SAFETY: as in `published_header`; the value lies inside the same published record, and a
    // zero-copy value carries the pin that keeps its segment from reuse.
    unsafe { medium.value(value_at, header.value_len as usize, pin) }
}

/// Starts loading the published record at `location` into the cache, whole up to 4 KiB (a scan
/// issues one per record of a refill before it reads them, so that their misses overlap; it
/// copies every value under 4 KiB, so the lines past the first few are read too: prefetching
/// only 4 lines left YCSB-E's 1 KiB records to miss line by line in the copy).
pub(crate) fn prefetch_record<M: Medium>(medium: &M, location: Location) {
    const LINES_MAX: u64 = 64;
    let len = location.record_bytes.min(LINES_MAX * LINE_BYTES) as usize;
    // SAFETY: as in `published_header`: the location came from the index, so the record's
    // bytes are published and never written while the slice lives (it is only prefetched).
    let bytes = unsafe { medium.bytes(location.offset, len) };
    for line in bytes.chunks(LINE_BYTES as usize) {
        crate::media::prefetch(line.as_ptr());
    }
}

/// The key of the published record at `offset` (header already decoded).
pub(crate) fn published_key<'m, M: Medium>(medium: &'m M, offset: u64, header: &Header) -> &'m [u8] {
    // SAFETY: as in `published_header`; the key follows the header inside the same record.
    unsafe { medium.bytes(offset + RECORD_HEADER_BYTES as u64, header.key_len as usize) }
}

/// The value bytes of the published record at `offset` (header already decoded), borrowed
/// for a copy made inside the caller's read section.
pub(crate) fn published_bytes_of_value<'m, M: Medium>(medium: &'m M, offset: u64, header: &Header) -> &'m [u8] {
    let value_at = offset + RECORD_HEADER_BYTES as u64 + u64::from(header.key_len);
    // SAFETY: as in `published_header`; the value lies inside the same published record.
    unsafe { medium.bytes(value_at, header.value_len as usize) }
}

/// Header, key and value of the published record at `offset` in a segment being cleaned.
pub(crate) fn published_record<M: Medium>(medium: &M, offset: u64) -> Result<(Header, &[u8], &[u8]), Error> {
    let header = published_header(medium, offset)?;
    let key_at = offset + RECORD_HEADER_BYTES as u64;
    // SAFETY: as in `published_header`: the segment is live (the cleaner frees it only after
    // this copy), so its records are never written meanwhile.
    let key = unsafe { medium.bytes(key_at, header.key_len as usize) };
    // SAFETY: as above; the value follows the key inside the same record.
    let value = unsafe { medium.bytes(key_at + u64::from(header.key_len), header.value_len as usize) };
    Ok((header, key, value))
}

/// Zeroes the SegmentHead record of a segment the cleaner gave back (its Free record durable).
/// Writer mutex held by the caller.
pub(crate) fn zero_segment_head<M: Medium>(medium: &M, start: u64, len: u64) {
    let zeros = [0u8; 64];
    assert!(len <= zeros.len() as u64);
    // SAFETY: no index entry points at a SegmentHead record, so no reader reads these bytes; the
    // caller holds the writer mutex, the only other writer of the segment.
    unsafe { medium.write(start, &zeros[..len as usize]) };
}

/// Writes a checkpoint part (`head`, then `payload`) at `start`, the first record offset of a
/// segment the checkpoint took from the free list.
pub(crate) fn write_checkpoint_part<M: Medium>(medium: &M, start: u64, head: &[u8], payload: &[u8]) {
    // SAFETY: the segment is in the checkpoint state: taken from the free list (so no read
    // section can hold an offset into it, see `punch_free_segment`), no index entry points into
    // it and the log never appends there; only the one thread taking the checkpoint writes it.
    unsafe {
        medium.write(start, head);
        medium.write(start + head.len() as u64, payload);
    }
}

/// Hands a free segment's blocks back to the filesystem. `Ok(false)` when it cannot punch.
pub(crate) fn punch_free_segment<M: Medium>(medium: &M, start: u64, len: u64) -> Result<bool, Error> {
    // SAFETY: the segment is free: it was retired after a grace period with no read section that
    // could hold an offset into it and no zero-copy value pinning it, and it is not reused while
    // the caller holds the writer mutex.
    unsafe { medium.punch(start, len) }
}

/// Verifies the checksum of the published record at `offset`.
pub(crate) fn verify_published<M: Medium>(medium: &M, offset: u64, header: &Header) -> Result<(), Error> {
    // SAFETY: as in `published_header`; the record's extent was written before publication.
    let bytes = unsafe { medium.bytes(offset, header.record_bytes() as usize) };
    record::parse(bytes).map(|_| ()).ok_or_else(|| Error::corruption(offset, "record checksum mismatch on read"))
}

/// Runs `with` on the bytes `[offset, end)` during recovery or `check` (single-threaded, nothing
/// published yet, no writer).
pub(crate) fn with_recovery_bytes<M: Medium, T>(medium: &M, offset: u64, end: u64, with: impl FnOnce(&[u8]) -> T) -> T {
    // SAFETY: recovery runs before the engine is shared; no thread writes the mapping meanwhile.
    let bytes = unsafe { medium.bytes(offset, (end - offset) as usize) };
    with(bytes)
}

/// Zeroes the non-zero bytes of `[offset, end)` during recovery (the discarded tail). Returns
/// the span written (8-byte aligned, from the first to the last non-zero byte), if any.
pub(crate) fn zero_recovery_range<M: Medium>(medium: &M, offset: u64, end: u64) -> Option<(u64, u64)> {
    let span = with_recovery_bytes(medium, offset, end, |bytes| {
        let (first, last) = nonzero_span(bytes)?;
        Some((offset + (first as u64 & !7), (offset + last as u64 + 8) & !7))
    })?;
    let (start, stop) = (span.0, span.1.min(end));
    let zeros = vec![0u8; (stop - start) as usize];
    // SAFETY: recovery is single-threaded and the range lies past every published record.
    unsafe { medium.write(start, &zeros) };
    Some((start, stop))
}

/// Writes a superblock slot. The superblock page is read only at open, before the engine is
/// shared, and written only under the commit mutex.
pub(crate) fn write_superblock<M: Medium>(medium: &M, superblock: &super::superblock::Superblock) -> u64 {
    let offset = superblock.slot_offset();
    // SAFETY: no reader ever holds a slice of the superblock page after open (see above), and
    // the caller holds the commit mutex, the only writer of this page.
    unsafe { medium.write(offset, &superblock.encode()) };
    offset
}

/// First and last non-zero byte of `bytes`, scanning 16 bytes at a time.
pub(crate) fn nonzero_span(bytes: &[u8]) -> Option<(usize, usize)> {
    const CHUNK: usize = 16;
    let word = |chunk: &[u8]| u128::from_ne_bytes(chunk.try_into().expect("16 bytes"));
    let whole = bytes.len() / CHUNK * CHUNK;
    let first_chunk = bytes[..whole].chunks_exact(CHUNK).position(|chunk| word(chunk) != 0);
    let first = match first_chunk {
        Some(chunk) => chunk * CHUNK + bytes[chunk * CHUNK..].iter().position(|&byte| byte != 0)?,
        None => whole + bytes[whole..].iter().position(|&byte| byte != 0)?,
    };
    let last_in_tail = bytes[whole..].iter().rposition(|&byte| byte != 0).map(|at| whole + at);
    let last = match last_in_tail {
        Some(at) => at,
        None => {
            let chunk = bytes[..whole].chunks_exact(CHUNK).rposition(|chunk| word(chunk) != 0)?;
            chunk * CHUNK + bytes[chunk * CHUNK..chunk * CHUNK + CHUNK].iter().rposition(|&byte| byte != 0)?
        }
    };
    Some((first, last))
}

#[cfg(test)]
mod tests {
    use super::nonzero_span;

    #[test]
    fn nonzero_span_finds_the_extremes() {
        let mut bytes = vec![0u8; 100];
        assert_eq!(nonzero_span(&bytes), None);
        bytes[3] = 1;
        bytes[97] = 2;
        assert_eq!(nonzero_span(&bytes), Some((3, 97)));
        bytes[97] = 0;
        bytes[40] = 5;
        assert_eq!(nonzero_span(&bytes), Some((3, 40)));
        assert_eq!(nonzero_span(&bytes[41..]), None);
    }
}
