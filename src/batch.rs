//! Atomic groups of writes.

/// One operation, borrowed: what the engine writes (no copy before the one into the mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
}

impl Op<'_> {
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            Op::Put(key, _) | Op::Delete(key) => key,
        }
    }

    pub(crate) fn value(&self) -> &[u8] {
        match self {
            Op::Put(_, value) => value,
            Op::Delete(_) => &[],
        }
    }
}

/// One owned operation of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnedOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Writes applied atomically by [`Db::write`](crate::Db::write): after a crash, all of them
/// or none. Later operations on the same key win.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<OwnedOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut WriteBatch {
        self.ops.push(OwnedOp::Put(key.to_vec(), value.to_vec()));
        self
    }

    /// Removes `key` (no error when missing).
    pub fn delete(&mut self, key: &[u8]) -> &mut WriteBatch {
        self.ops.push(OwnedOp::Delete(key.to_vec()));
        self
    }

    /// Operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, borrowed.
    pub(crate) fn ops(&self) -> Vec<Op<'_>> {
        self.ops
            .iter()
            .map(|op| match op {
                OwnedOp::Put(key, value) => Op::Put(key, value),
                OwnedOp::Delete(key) => Op::Delete(key),
            })
            .collect()
    }
}
