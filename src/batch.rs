//! Atomic groups of writes.

/// One operation of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Op {
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

/// Writes applied atomically by [`Db::write`](crate::Db::write): after a crash, all of them
/// or none. Later operations on the same key win.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut WriteBatch {
        self.ops.push(Op::Put(key.to_vec(), value.to_vec()));
        self
    }

    /// Removes `key` (no error when missing).
    pub fn delete(&mut self, key: &[u8]) -> &mut WriteBatch {
        self.ops.push(Op::Delete(key.to_vec()));
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
}
