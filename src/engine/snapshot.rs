//! Snapshots and transaction commits on the engine (the protocol is in [`crate::mvcc`]).

use std::sync::atomic::AtomicBool;

use bytes::Bytes;

use super::hooks::ProtocolHooks;
use super::write::Condition;
use super::Engine;
use crate::batch::Op;
use crate::error::Error;
use crate::index::KeyRange;
use crate::log::access::IndexedKeys;
use crate::media::Medium;
use crate::mvcc::SnapshotCounters;

/// What a transaction read through its snapshot: the keys it looked up, the ranges it scanned.
/// Its commit fails when a batch after the snapshot changed any of them.
#[derive(Debug, Default)]
pub(crate) struct ReadSet {
    /// Keys looked up (absent ones too: a key that appears is a change).
    pub(crate) keys: Vec<Bytes>,
    /// Ranges iterated (the whole range asked for, however far the iterator went).
    pub(crate) ranges: Vec<KeyRange>,
}

impl<M: Medium, H: ProtocolHooks> Engine<M, H> {
    /// Takes a snapshot: every read through it sees the store as after batch `at`, returned.
    /// [`Engine::close_snapshot`] ends it.
    pub(crate) fn open_snapshot(&self) -> u64 {
        self.versions.open_snapshot()
    }

    /// Ends the snapshot taken at `at`.
    pub(crate) fn close_snapshot(&self, at: u64) {
        self.versions.close_snapshot(at);
    }

    /// The value of `key` as of batch `at` (a snapshot open at `at`).
    pub(crate) fn get_at(&self, key: &[u8], at: u64) -> Result<Option<Bytes>, Error> {
        let section = self.gate.enter();
        // A version superseded after `at` is the one to read, and it stays until the snapshot
        // closes: found first, the index is not needed. Otherwise index first, history second
        // (see `crate::mvcc`): a batch may have changed the key between the two looks.
        let location = match self.versions.version_at(key, at) {
            Some(version) => version,
            None => {
                let current = self.index.get(key, &IndexedKeys(&self.medium));
                self.versions.version_at(key, at).unwrap_or(current)
            }
        };
        let Some(location) = location else { return Ok(None) };
        self.value_at(&section, location.offset).map(Some)
    }

    /// Whether no batch after `at` changed a key or range of `reads` (writer mutex held, with
    /// the snapshot at `at` open: every version since is in the history).
    pub(super) fn reads_unchanged(&self, at: u64, reads: &ReadSet) -> bool {
        let Some(history) = self.versions.history() else { return true };
        let keys_unchanged = reads.keys.iter().all(|key| !history.changed_since(key, at));
        keys_unchanged && reads.ranges.iter().all(|range| !history.range_changed_since(range, at))
    }

    /// Commits a transaction: appends `ops` as one batch when nothing in `reads` changed since
    /// its snapshot at `at` (`Ok(false)`, nothing written, otherwise). `released` is set when
    /// the snapshot was ended by the commit; otherwise the caller ends it.
    pub(crate) fn commit_transaction(
        &self,
        at: u64,
        reads: &ReadSet,
        ops: &[Op<'_>],
        released: &AtomicBool,
    ) -> Result<bool, Error> {
        if ops.is_empty() {
            // A read-only transaction read one consistent snapshot: it is serializable there.
            return Ok(true);
        }
        self.write_if(ops, Some(Condition::Unchanged { at, reads, released }))
    }

    /// Checks a transaction's size against the configured limit.
    pub(crate) fn check_transaction_bytes(&self, bytes: u64) -> Result<(), Error> {
        let max = self.options.max_transaction_bytes;
        if bytes > max {
            return Err(Error::TransactionTooLarge { bytes, max });
        }
        Ok(())
    }

    /// Open snapshots, the versions they keep, and the newest batch (for `Stats`).
    pub(crate) fn snapshot_counters(&self) -> (SnapshotCounters, u64) {
        (self.versions.counters(), self.versions.applied())
    }
}
