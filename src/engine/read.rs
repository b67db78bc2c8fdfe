//! Reads: a point lookup and the values that iterators return. Readers take no lock: each
//! lookup and the read of its record happen inside one [`ReaderGate`](crate::space::readers)
//! section, which keeps the record's segment from reuse until the section ends.

use std::collections::VecDeque;
use std::ops::{Bound, Range};

use bytes::Bytes;

use super::hooks::ProtocolHooks;
use super::Engine;
use crate::error::Error;
use crate::ids::SegmentIndex;
use crate::index::{as_slice_bound, KeyRange, Location};
use crate::log::access::{self, IndexedKeys};
use crate::log::record::{Header, Kind};
use crate::media::Medium;
use crate::space::readers::ReadSection;

/// The entries of a key range, read a leaf of the index at a time from either end.
///
/// One refill copies the keys and short values of up to a leaf's entries into one buffer and
/// hands out slices of it: no allocation per item (a kept item keeps its batch's buffer alive, a
/// few KiB). The records are prefetched before they are read. A range's first refill from an end
/// reads at most [`FIRST_REFILL_ENTRIES`], each later one twice the one before (up to a whole
/// leaf): a short scan reads little more than it returns, a long one soon reads a leaf at a time.
///
/// Invariants: every key not yet returned lies in `(lower, upper)` or in one of the buffers;
/// `front` holds keys below every key in `(lower, upper)`, ascending, and `back` keys above them,
/// ascending. A side whose refill finds nothing more between the bounds takes the other side's
/// buffer from its near end. An item that cannot be read ends the range after it is returned.
pub(crate) struct EntryRange {
    /// Everything at or below this bound was returned or is buffered in `front`.
    lower: Bound<Bytes>,
    /// Everything at or above this bound was returned or is buffered in `back`.
    upper: Bound<Bytes>,
    /// Read ahead from the front, ascending.
    front: VecDeque<Result<(Bytes, Bytes), Error>>,
    /// Read ahead from the back, ascending.
    back: VecDeque<Result<(Bytes, Bytes), Error>>,
    /// No key is left between the bounds (or an error ended the range).
    exhausted: bool,
    /// Packed locations of the leaf being read (reused between refills).
    scratch: Vec<u64>,
    /// Where each entry of the refill lies in its batch (reused between refills).
    spans: Vec<(Range<usize>, Value)>,
    /// Most entries the next refill from the front reads.
    front_budget: usize,
    /// Most entries the next refill from the back reads.
    back_budget: usize,
    /// The snapshot the range reads (a batch number; see [`crate::mvcc`]), or `None` for the
    /// current entries.
    at: Option<u64>,
}

/// Most entries a range's first refill from either end reads: short scans (YCSB-E's take 1–100
/// items) then copy little they do not return.
const FIRST_REFILL_ENTRIES: usize = 16;
/// Most entries a refill reads: more than a leaf holds, so the budget stops growing at a leaf.
const REFILL_ENTRIES_MAX: usize = 1024;

/// Values shorter than this are copied into their refill's batch buffer; longer ones are read
/// as [`Engine::get`] reads them (zero-copy where the medium allows).
const BATCHED_VALUE_BYTES_MAX: usize = 4096;

/// Where an entry's value is: in the refill's batch, or its own buffer.
enum Value {
    Batched(Range<usize>),
    Own(Bytes),
}

/// What [`Engine::merge_versions`] merges a refill with.
struct Merge<'section, 'gate> {
    /// The refill's read section (a version's long value pins its segment inside it).
    section: &'section ReadSection<'gate>,
    /// The snapshot's batch.
    at: u64,
    /// Where in the batch the last key of the index the refill covered lies (`None`: the refill
    /// covered everything up to the far bound).
    covered: Option<Range<usize>>,
}

/// Appends `bytes` to `batch`; returns where they went.
fn append(batch: &mut Vec<u8>, bytes: &[u8]) -> Range<usize> {
    let start = batch.len();
    batch.extend_from_slice(bytes);
    start..batch.len()
}

/// Which end of an [`EntryRange`] to take the next entry from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Front,
    Back,
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// The current value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        let section = self.gate.enter();
        let Some(location) = self.index.get(key, &IndexedKeys(&self.medium)) else { return Ok(None) };
        self.value_at(&section, location.offset).map(Some)
    }

    /// The entries of `range` as of the snapshot at batch `at` (`None`: current), read lazily
    /// by [`Engine::next_entry`].
    pub(crate) fn range(&self, range: KeyRange, at: Option<u64>) -> EntryRange {
        EntryRange {
            at,
            exhausted: range.is_empty(),
            lower: range.start,
            upper: range.end,
            front: VecDeque::new(),
            back: VecDeque::new(),
            scratch: Vec::new(),
            spans: Vec::new(),
            front_budget: FIRST_REFILL_ENTRIES,
            back_budget: FIRST_REFILL_ENTRIES,
        }
    }

    /// The next `(key, value)` of `entries` from `end`.
    pub(crate) fn next_entry(&self, entries: &mut EntryRange, end: End) -> Option<Result<(Bytes, Bytes), Error>> {
        if let Some(item) = entries.take(end, end) {
            return Some(item);
        }
        // Bounded: each refill moves the bound past at least one key of the index, or exhausts
        // the range. (A refill returns nothing yet leaves the range open only when a snapshot
        // reads every key it covered as absent.)
        for _ in 0..usize::MAX {
            if entries.exhausted {
                break;
            }
            self.refill(entries, end);
            if let Some(item) = entries.take(end, end) {
                return Some(item);
            }
        }
        entries.take(end.opposite(), end)
    }

    /// Reads the next entries between the bounds (at most a leaf's, at most the end's budget)
    /// into the buffer of `end`, or marks the range exhausted.
    fn refill(&self, entries: &mut EntryRange, end: End) {
        let section = self.gate.enter();
        let batch_bytes = self.collect_locations(entries, end);
        let mut batch = Vec::with_capacity(batch_bytes.min(64 * BATCHED_VALUE_BYTES_MAX as u64) as usize);
        let mut spans = std::mem::take(&mut entries.spans);
        spans.clear();
        spans.reserve(entries.scratch.len());
        if entries.scratch.is_empty() {
            // No key of the index is left between the bounds (a snapshot may still read some).
            entries.exhausted = true;
        }
        let mut failure = self.read_batch(&section, entries, end, &mut batch, &mut spans);
        // The last key of the index this refill covers: the bound moves past it.
        let covered = if entries.exhausted { None } else { spans.last().map(|(key, _)| key.clone()) };
        if let (None, Some(at)) = (&failure, entries.at) {
            let versions = Merge { section: &section, at, covered: covered.clone() };
            failure = self.merge_versions(versions, entries, end, &mut batch, &mut spans).err();
        }
        drop(section);
        let batch = Bytes::from(batch);
        hand_out(entries, end, batch.clone(), &mut spans);
        entries.spans = spans;
        if let Some(last) = covered {
            let bound = Bound::Excluded(batch.slice(last));
            match end {
                End::Front => entries.lower = bound,
                End::Back => entries.upper = bound,
            }
        }
        if let Some(error) = failure {
            entries.exhausted = true;
            push(entries, end, Err(error));
        }
    }

    /// Makes the entries of one refill (`spans`, in the order of `end`) those of the snapshot
    /// at `merge.at`: over the interval the refill covered, every key a later batch changed gets
    /// the version the snapshot reads (an absent one drops out, one removed since comes back).
    fn merge_versions(
        &self,
        merge: Merge<'_, '_>,
        entries: &EntryRange,
        end: End,
        batch: &mut Vec<u8>,
        spans: &mut Vec<(Range<usize>, Value)>,
    ) -> Result<(), Error> {
        let Merge { section, at, covered } = merge;
        let Some(history) = self.versions.history() else { return Ok(()) };
        let covered_end = match covered {
            Some(last) => Bound::Included(&batch[last]),
            None => match end {
                End::Front => as_slice_bound(&entries.upper),
                End::Back => as_slice_bound(&entries.lower),
            },
        };
        let (start, finish) = match end {
            End::Front => (as_slice_bound(&entries.lower), covered_end),
            End::Back => (covered_end, as_slice_bound(&entries.upper)),
        };
        let mut changed = Vec::new();
        history.versions_in(start, finish, at, &mut changed);
        drop(history);
        if changed.is_empty() {
            return Ok(());
        }
        if end == End::Back {
            changed.reverse();
        }
        let current = std::mem::take(spans);
        spans.reserve(current.len() + changed.len());
        let mut current = current.into_iter().peekable();
        let mut changed = changed.into_iter().peekable();
        // Bounded: each turn consumes an item of one list or both.
        for _ in 0..usize::MAX {
            let order = match (current.peek(), changed.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((key, _)), Some((version_key, _))) => {
                    let order = batch[key.clone()].cmp(version_key.as_ref());
                    if end == End::Back {
                        order.reverse()
                    } else {
                        order
                    }
                }
            };
            if order == std::cmp::Ordering::Less {
                spans.push(current.next().expect("peeked"));
                continue;
            }
            if order == std::cmp::Ordering::Equal {
                current.next();
            }
            let (key, version) = changed.next().expect("peeked");
            if let Some(location) = version {
                let key_span = append(batch, &key);
                let value = self.version_value(section, location, batch)?;
                spans.push((key_span, value));
            }
        }
        Ok(())
    }

    /// The value of the version at `location`, batched into `batch` when short.
    fn version_value(
        &self,
        section: &ReadSection<'_>,
        location: Location,
        batch: &mut Vec<u8>,
    ) -> Result<Value, Error> {
        let header = self.put_header_at(location.offset)?;
        Ok(if (header.value_len as usize) < BATCHED_VALUE_BYTES_MAX {
            Value::Batched(append(batch, access::published_bytes_of_value(&self.medium, location.offset, &header)))
        } else {
            Value::Own(self.value_of(section, location.offset, &header))
        })
    }

    /// Fills `entries.scratch` with the packed locations of the entries the refill from `end`
    /// reads, in the order it returns them (at most the end's budget, which then doubles), and
    /// starts loading their records; returns the records' bytes. Inside a read section.
    fn collect_locations(&self, entries: &mut EntryRange, end: End) -> u64 {
        let keys = IndexedKeys(&self.medium);
        entries.scratch.clear();
        let budget = match end {
            End::Front => &mut entries.front_budget,
            End::Back => &mut entries.back_budget,
        };
        let taken = *budget;
        *budget = (taken * 2).min(REFILL_ENTRIES_MAX);
        match end {
            End::Front => self.index.collect_after(as_slice_bound(&entries.lower), &keys, &mut entries.scratch),
            End::Back => {
                self.index.collect_before(as_slice_bound(&entries.upper), &keys, &mut entries.scratch);
                entries.scratch.reverse();
            }
        }
        entries.scratch.truncate(taken);
        let mut batch_bytes = 0;
        for &packed in &entries.scratch {
            let location = Location::unpack(packed);
            access::prefetch_record(&self.medium, location);
            batch_bytes += location.record_bytes;
        }
        batch_bytes
    }

    /// Copies into `batch` the keys and short values of the records `entries.scratch` locates,
    /// each until one lies beyond the far bound (which exhausts the range), noting in `spans`
    /// where each entry lies; returns the error that stopped it, if any.
    fn read_batch(
        &self,
        section: &ReadSection<'_>,
        entries: &mut EntryRange,
        end: End,
        batch: &mut Vec<u8>,
        spans: &mut Vec<(Range<usize>, Value)>,
    ) -> Option<Error> {
        for &packed in &entries.scratch {
            let offset = Location::unpack(packed).offset;
            let header = match self.put_header_at(offset) {
                Ok(header) => header,
                Err(error) => return Some(error),
            };
            let key = access::published_key(&self.medium, offset, &header);
            let within = match end {
                End::Front => below(key, &entries.upper),
                End::Back => above(key, &entries.lower),
            };
            if !within {
                entries.exhausted = true;
                return None;
            }
            let key_span = append(batch, key);
            let value = if (header.value_len as usize) < BATCHED_VALUE_BYTES_MAX {
                Value::Batched(append(batch, access::published_bytes_of_value(&self.medium, offset, &header)))
            } else {
                Value::Own(self.value_of(section, offset, &header))
            };
            spans.push((key_span, value));
        }
        None
    }

    /// The value of the published record at `offset`, looked up in the index inside `section`
    /// (which keeps the record's segment from reuse until it ends).
    pub(super) fn value_at(&self, section: &ReadSection<'_>, offset: u64) -> Result<Bytes, Error> {
        let header = self.put_header_at(offset)?;
        Ok(self.value_of(section, offset, &header))
    }

    /// The header of the Put record at `offset`, checked (and its checksum verified when the
    /// options ask for it).
    fn put_header_at(&self, offset: u64) -> Result<Header, Error> {
        let header = access::published_header(&self.medium, offset)?;
        if header.kind != Kind::Put {
            return Err(Error::corruption(offset, "index points at a record that is not a put"));
        }
        if offset + header.record_bytes() > SegmentIndex::of_offset(offset).end_offset() {
            return Err(Error::corruption(offset, "index points at a record that overruns its segment"));
        }
        if self.options.verify_checksums_on_read {
            access::verify_published(&self.medium, offset, &header)?;
        }
        Ok(header)
    }

    fn value_of(&self, section: &ReadSection<'_>, offset: u64, header: &Header) -> Bytes {
        let _ = section;
        let segment = SegmentIndex::of_offset(offset);
        access::published_value(&self.medium, offset, header, || self.pins.pin(segment))
    }
}

impl EntryRange {
    /// The next item of the `side` buffer, from `end`.
    fn take(&mut self, side: End, end: End) -> Option<Result<(Bytes, Bytes), Error>> {
        let buffer = match side {
            End::Front => &mut self.front,
            End::Back => &mut self.back,
        };
        match end {
            End::Front => buffer.pop_front(),
            End::Back => buffer.pop_back(),
        }
    }
}

impl End {
    fn opposite(self) -> End {
        match self {
            End::Front => End::Back,
            End::Back => End::Front,
        }
    }
}

/// Adds `item` to the buffer of `end`, keeping both buffers ascending.
fn push(entries: &mut EntryRange, end: End, item: Result<(Bytes, Bytes), Error>) {
    match end {
        End::Front => entries.front.push_back(item),
        End::Back => entries.back.push_front(item),
    }
}

/// Pushes the entries `spans` locates in `batch` to the buffer of `end` (the caller moves that
/// end's bound past the last key the refill covered).
fn hand_out(entries: &mut EntryRange, end: End, batch: Bytes, spans: &mut Vec<(Range<usize>, Value)>) {
    match end {
        End::Front => entries.front.reserve(spans.len()),
        End::Back => entries.back.reserve(spans.len()),
    }
    for (key, value) in spans.drain(..) {
        let value = match value {
            Value::Batched(span) => batch.slice(span),
            Value::Own(value) => value,
        };
        push(entries, end, Ok((batch.slice(key), value)));
    }
}

/// Whether `key` lies below `bound` (an upper bound).
fn below(key: &[u8], bound: &Bound<Bytes>) -> bool {
    match bound {
        Bound::Included(end) => key <= end.as_ref(),
        Bound::Excluded(end) => key < end.as_ref(),
        Bound::Unbounded => true,
    }
}

/// Whether `key` lies above `bound` (a lower bound).
fn above(key: &[u8], bound: &Bound<Bytes>) -> bool {
    match bound {
        Bound::Included(start) => key >= start.as_ref(),
        Bound::Excluded(start) => key > start.as_ref(),
        Bound::Unbounded => true,
    }
}
