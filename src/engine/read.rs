//! Reads: a point lookup and the values that iterators return. Readers take no lock: each
//! lookup and the read of its record happen inside one [`ReaderGate`](crate::space::readers)
//! section, which keeps the record's segment from reuse until the section ends.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::hooks::ProtocolHooks;
use super::Engine;
use crate::error::Error;
use crate::ids::SegmentIndex;
use crate::index::{IndexRange, KeyRange, Location};
use crate::log::access;
use crate::log::record::Kind;
use crate::media::Medium;
use crate::space::readers::ReadSection;

/// The index entries of a key range, in order from both ends (empty for an inverted range).
pub(crate) struct EntryRange<'a> {
    inner: Option<IndexRange<'a>>,
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
        match self.index.get(key) {
            None => Ok(None),
            Some(location) => self.value_at(&section, location.offset).map(Some),
        }
    }

    /// The entries of `range`, read lazily by [`Engine::next_entry`].
    pub(crate) fn range(&self, range: KeyRange) -> EntryRange<'_> {
        // The skiplist panics on inverted bounds; an inverted or empty range yields nothing.
        let inner = (!is_empty(&range)).then(|| self.index.range(range));
        EntryRange { inner }
    }

    /// The next `(key, value)` of `entries` from `end`.
    pub(crate) fn next_entry(&self, entries: &mut EntryRange<'_>, end: End) -> Option<Result<(Bytes, Bytes), Error>> {
        let inner = entries.inner.as_mut()?;
        let entry = match end {
            End::Front => inner.next()?,
            End::Back => inner.next_back()?,
        };
        let section = self.gate.enter();
        let location = Location::unpack(entry.value().load(Ordering::Acquire));
        Some(self.value_at(&section, location.offset).map(|value| (entry.key().clone(), value)))
    }

    /// The value of the published record at `offset`, looked up in the index inside `section`
    /// (which keeps the record's segment from reuse until it ends).
    fn value_at(&self, section: &ReadSection<'_>, offset: u64) -> Result<Bytes, Error> {
        let _ = section;
        let header = access::published_header(&self.medium, offset)?;
        if header.kind != Kind::Put {
            return Err(Error::corruption(offset, "index points at a record that is not a put"));
        }
        if self.options.verify_checksums_on_read {
            access::verify_published(&self.medium, offset, &header)?;
        }
        let segment = SegmentIndex::of_offset(offset);
        Ok(access::published_value(&self.medium, offset, &header, || self.pins.pin(segment)))
    }
}

/// Whether `range` holds no key at all (start after end, or equal and not both inclusive).
fn is_empty(range: &KeyRange) -> bool {
    match (&range.start, &range.end) {
        (Bound::Included(start) | Bound::Excluded(start), Bound::Included(end) | Bound::Excluded(end)) => {
            start > end
                || (start == end && !matches!((&range.start, &range.end), (Bound::Included(_), Bound::Included(_))))
        }
        _ => false,
    }
}
