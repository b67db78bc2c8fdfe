//! A fixed-capacity heap buffer with stable addresses: the crash simulator's visible memory.
//!
//! Allocated once at full capacity (so pointers never move), accessed through a raw pointer
//! under the same contract as the mapping (`Medium::bytes` / `Medium::write`). Buffers are
//! recycled through a small pool: a crash campaign opens thousands of stores, and reusing
//! already-touched memory avoids paying first-touch page faults for every one of them.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Buffers kept for reuse, at most this many.
const POOL_MAX: usize = 4;
/// Pooled buffers with the length of their prefix that may be non-zero.
static POOL: Mutex<Vec<(Box<[u8]>, usize)>> = Mutex::new(Vec::new());

/// See the module docs.
#[derive(Debug)]
pub(crate) struct HeapRegion {
    base: NonNull<u8>,
    capacity: usize,
    /// One past the highest byte ever written (what must be zeroed before reuse).
    written: AtomicUsize,
}

// SAFETY: the buffer is plain heap memory owned by this value; concurrent access is governed by
// the medium's contract (disjoint ranges), exactly as for a mapping.
unsafe impl Send for HeapRegion {}
// SAFETY: as for `Send`.
unsafe impl Sync for HeapRegion {}

impl HeapRegion {
    /// A zeroed buffer of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> HeapRegion {
        HeapRegion::with_prefix(capacity, 0, |_| ())
    }

    /// A buffer of `capacity` bytes whose first `len` bytes `fill` writes (the rest zero).
    pub(crate) fn with_prefix(capacity: usize, len: usize, fill: impl FnOnce(&mut [u8])) -> HeapRegion {
        assert!(len <= capacity);
        let recycled = {
            let mut pool = POOL.lock().unwrap_or_else(|poison| poison.into_inner());
            pool.iter().position(|(buffer, _)| buffer.len() == capacity).map(|at| pool.swap_remove(at))
        };
        let mut buffer = match recycled {
            Some((mut buffer, written)) => {
                if written > len {
                    buffer[len..written].fill(0);
                }
                buffer
            }
            None => vec![0u8; capacity].into_boxed_slice(),
        };
        fill(&mut buffer[..len]);
        let raw = Box::into_raw(buffer);
        let base = NonNull::new(raw.cast::<u8>()).expect("Box pointers are non-null");
        HeapRegion { base, capacity, written: AtomicUsize::new(len) }
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes `[offset, offset + len)`.
    ///
    /// # Safety
    /// No thread may write these bytes while the slice is alive.
    pub(crate) unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.capacity));
        // SAFETY: in bounds (checked); the caller excludes concurrent writers.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset), len) }
    }

    /// Copies `data` to `offset`.
    ///
    /// # Safety
    /// No other thread may read or write these bytes during the call.
    pub(crate) unsafe fn write(&self, offset: usize, data: &[u8]) {
        assert!(offset.checked_add(data.len()).is_some_and(|end| end <= self.capacity));
        self.written.fetch_max(offset + data.len(), Ordering::Relaxed);
        // SAFETY: in bounds (checked); the caller guarantees exclusive access to the range and
        // `data` cannot alias it (no reference into the range may exist during the call).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(offset), data.len()) };
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: `base`/`capacity` came from `Box::into_raw` of a boxed slice of this length,
        // and this is the only owner; no slice into it outlives `self` (they borrow it).
        let buffer = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.base.as_ptr(), self.capacity)) };
        let mut pool = POOL.lock().unwrap_or_else(|poison| poison.into_inner());
        if pool.len() < POOL_MAX {
            pool.push((buffer, self.written.load(Ordering::Relaxed)));
        }
    }
}
