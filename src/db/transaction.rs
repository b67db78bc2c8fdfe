//! [`Transaction`]: optimistic, serializable, on a snapshot (docs/design.md, "Transactions").
//!
//! A transaction reads its snapshot, buffers its writes in memory, and records what it read
//! (keys, and whole ranges it iterated). Its commit, under the writer mutex, checks that no
//! batch after the snapshot changed any of it, and appends the writes as one batch: the
//! transaction then behaves as if it ran alone at that point of the batch order.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

use super::snapshot::Snapshot;
use super::{key_range, prefix_range, Iter};
use crate::batch::Op;
use crate::engine::hooks::{NoHooks, ProtocolHooks};
use crate::engine::{Engine, ReadSet};
use crate::error::Error;
use crate::index::{as_slice_bound, KeyRange};
use crate::log::record::record_bytes;
use crate::media::{FileMedium, Medium};

/// An optimistic, serializable transaction ([`Db::transaction`](crate::Db::transaction)).
///
/// Reads see the snapshot taken at its start and its own writes. [`Transaction::commit`] writes
/// its writes as one atomic batch (with the store's durability, in the group commit like any
/// write), or fails with [`Error::Conflict`] — nothing written — when a key it read, or a key in
/// a range it iterated, changed after its snapshot: keys added to a scanned range count
/// (phantoms). Dropping it without committing rolls it back. `Send`, not `Sync`: one thread
/// drives a transaction at a time.
pub struct Transaction<'a, M: Medium = FileMedium, H: ProtocolHooks = NoHooks> {
    snapshot: Snapshot<'a, M, H>,
    state: RefCell<State>,
}

/// What a transaction read and wrote so far.
#[derive(Default)]
struct State {
    /// Keys and ranges read from the snapshot (not those answered by its own writes).
    reads: ReadSet,
    /// Its writes, by key: `None` deletes. The last write of a key wins.
    writes: BTreeMap<Bytes, Option<Bytes>>,
    /// Record bytes the writes would append (checked against the configured maximum).
    write_bytes: u64,
}

impl<'a, M: Medium, H: ProtocolHooks> Transaction<'a, M, H> {
    pub(super) fn begin(engine: &'a Engine<M, H>) -> Self {
        Transaction { snapshot: Snapshot::open(engine), state: RefCell::new(State::default()) }
    }

    fn engine(&self) -> &'a Engine<M, H> {
        self.snapshot.registration().engine()
    }

    /// The value of `key`: the transaction's own write of it, or the snapshot's.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        if let Some(own) = self.state.borrow().writes.get(key) {
            return Ok(own.clone());
        }
        let value = self.snapshot.get(key)?;
        self.state.borrow_mut().reads.keys.push(Bytes::copy_from_slice(key));
        Ok(value)
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.buffer(Op::Put(key, value))
    }

    /// Removes `key` when the transaction commits (a missing key is not an error).
    pub fn delete(&self, key: &[u8]) -> Result<(), Error> {
        self.buffer(Op::Delete(key))
    }

    fn buffer(&self, op: Op<'_>) -> Result<(), Error> {
        self.engine().validate_op(&op)?;
        let mut state = self.state.borrow_mut();
        let key = op.key();
        let bytes = record_bytes(key.len(), op.value().len());
        let replaced = match state.writes.get(key) {
            Some(old) => record_bytes(key.len(), old.as_ref().map_or(0, Bytes::len)),
            None => 0,
        };
        let total = state.write_bytes - replaced + bytes;
        self.engine().check_transaction_bytes(total)?;
        let value = match op {
            Op::Put(_, value) => Some(Bytes::copy_from_slice(value)),
            Op::Delete(_) => None,
        };
        state.writes.insert(Bytes::copy_from_slice(key), value);
        state.write_bytes = total;
        Ok(())
    }

    /// All keys, ascending: the snapshot's with the transaction's writes made so far merged
    /// in. The whole range joins what the transaction read (a key added to it by another
    /// writer before the commit is a conflict).
    pub fn iter(&self) -> TransactionIter<'_, M, H> {
        self.iter_range(KeyRange { start: Bound::Unbounded, end: Bound::Unbounded })
    }

    /// Keys in `range`, ascending (as [`Transaction::iter`]).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> TransactionIter<'_, M, H> {
        self.iter_range(key_range(range))
    }

    /// Keys starting with `prefix`, ascending (as [`Transaction::iter`]).
    pub fn prefix(&self, prefix: &[u8]) -> TransactionIter<'_, M, H> {
        self.iter_range(prefix_range(prefix))
    }

    fn iter_range(&self, range: KeyRange) -> TransactionIter<'_, M, H> {
        let mut state = self.state.borrow_mut();
        let own: VecDeque<(Bytes, Option<Bytes>)> = if !range.is_empty() {
            let bounds = (as_slice_bound(&range.start), as_slice_bound(&range.end));
            state.writes.range::<[u8], _>(bounds).map(|(key, value)| (key.clone(), value.clone())).collect()
        } else {
            VecDeque::new()
        };
        state.reads.ranges.push(range.clone());
        drop(state);
        TransactionIter { base: self.snapshot.iter_range(range), own, front: None, back: None }
    }

    /// Commits: appends the writes as one batch, unless a key or range it read changed since
    /// its snapshot ([`Error::Conflict`]: nothing is written; run it again). With
    /// [`Durability::Immediate`](crate::Durability) it returns once the batch is durable. A
    /// transaction that wrote nothing commits without writing (it read one snapshot).
    pub fn commit(self) -> Result<(), Error> {
        let state = self.state.into_inner();
        let ops: Vec<Op<'_>> = state
            .writes
            .iter()
            .map(|(key, value)| match value {
                Some(value) => Op::Put(key, value),
                None => Op::Delete(key),
            })
            .collect();
        let registration = self.snapshot.registration();
        let engine = registration.engine();
        match engine.commit_transaction(registration.at(), &state.reads, &ops, registration.released())? {
            true => Ok(()),
            false => Err(Error::Conflict),
        }
    }
}

impl<M: Medium, H: ProtocolHooks> std::fmt::Debug for Transaction<'_, M, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Transaction")
            .field("snapshot", &self.snapshot)
            .field("writes", &state.writes.len())
            .field("keys_read", &state.reads.keys.len())
            .field("ranges_read", &state.reads.ranges.len())
            .finish()
    }
}

type Item = Result<(Bytes, Bytes), Error>;

/// A transaction's iterator: its snapshot's entries with its own writes (as they were when the
/// iterator was made) merged in, ascending; double-ended.
pub struct TransactionIter<'a, M: Medium = FileMedium, H: ProtocolHooks = NoHooks> {
    /// The snapshot's entries.
    base: Iter<'a, M, H>,
    /// The transaction's writes in the range, ascending (`None`: deleted).
    own: VecDeque<(Bytes, Option<Bytes>)>,
    /// An entry taken from the front of `base`, not yet returned.
    front: Option<Item>,
    /// An entry taken from the back of `base`, not yet returned.
    back: Option<Item>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Front,
    Back,
}

impl<M: Medium, H: ProtocolHooks> TransactionIter<'_, M, H> {
    /// The next entry of `base` from `side`, kept in that side's slot (the other side's slot
    /// once `base` has no more: the two ends then share what is left).
    fn peek(&mut self, side: Side) -> Option<&Item> {
        let (slot, other) = match side {
            Side::Front => (&mut self.front, &mut self.back),
            Side::Back => (&mut self.back, &mut self.front),
        };
        if slot.is_none() {
            *slot = match side {
                Side::Front => self.base.next(),
                Side::Back => self.base.next_back(),
            }
            .or_else(|| other.take());
        }
        slot.as_ref()
    }

    fn next_from(&mut self, side: Side) -> Option<Item> {
        // Bounded: each turn removes an entry of `own` or of `base`.
        loop {
            let own_key = match side {
                Side::Front => self.own.front(),
                Side::Back => self.own.back(),
            }
            .map(|(key, _)| key.clone());
            let base_first = match (self.peek(side), &own_key) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(Ok(_)), None) => true,
                (None, Some(_)) => false,
                (Some(Ok((key, _))), Some(own)) => match side {
                    Side::Front => key < own,
                    Side::Back => key > own,
                },
            };
            let slot = match side {
                Side::Front => &mut self.front,
                Side::Back => &mut self.back,
            };
            if base_first {
                return slot.take();
            }
            let shadowed = matches!(slot.as_ref(), Some(Ok((key, _))) if Some(key) == own_key.as_ref());
            if shadowed {
                *slot = None;
            }
            let (key, value) = match side {
                Side::Front => self.own.pop_front(),
                Side::Back => self.own.pop_back(),
            }
            .expect("own_key came from it");
            if let Some(value) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

impl<M: Medium, H: ProtocolHooks> Iterator for TransactionIter<'_, M, H> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        self.next_from(Side::Front)
    }
}

impl<M: Medium, H: ProtocolHooks> DoubleEndedIterator for TransactionIter<'_, M, H> {
    fn next_back(&mut self) -> Option<Item> {
        self.next_from(Side::Back)
    }
}
