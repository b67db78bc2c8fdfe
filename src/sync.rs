//! The cfg seam for model checking, as crossbeam's `crossbeam_loom`.
//!
//! Built normally, this module re-exports std's atomics and crossbeam-epoch: it costs nothing.
//! Built with `RUSTFLAGS="--cfg daxkv_loom"` (see `scripts/loom.sh`), it re-exports loom's
//! atomics and a loom model of the few crossbeam-epoch types the dirty index uses, so that loom
//! explores every interleaving of the lock-free code written against it: the dirty index's
//! slot retirement ([`crate::dirty`], `slot.rs`), the reader gate ([`crate::space::readers`])
//! and the snapshot batch clock (`crate::mvcc`, `clock.rs`). The model of crossbeam-epoch
//! never frees a retired node (it leaks it until the model ends): what loom checks here is our
//! protocol on top of the epoch scheme, not the scheme itself, which crossbeam model-checks in
//! its own tree.

#[cfg(not(daxkv_loom))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(daxkv_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;

/// Marks where the code relies on the single total order of `SeqCst` operations: a thread's
/// `SeqCst` write followed by its `SeqCst` read of another location (the store-buffering
/// pattern, which `SeqCst` forbids from going wrong in both threads at once). Normally nothing:
/// the `SeqCst` operations around it already give that order. Under loom, a `SeqCst` fence,
/// because loom models `SeqCst` accesses only as `AcqRel` (tokio-rs/loom#180) but models
/// `SeqCst` fences fully.
#[inline(always)]
pub(crate) fn seq_cst_point() {
    #[cfg(daxkv_loom)]
    loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

/// Lets other threads run inside a wait loop (loom needs to see every spin).
pub(crate) fn spin_wait(spins: u32) {
    #[cfg(daxkv_loom)]
    {
        let _ = spins;
        loom::thread::yield_now();
    }
    #[cfg(not(daxkv_loom))]
    if spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// crossbeam-epoch, or its loom model.
pub(crate) mod epoch {
    #[cfg(not(daxkv_loom))]
    pub(crate) use crossbeam_epoch::{pin, Atomic, Guard, Owned, Shared};

    #[cfg(daxkv_loom)]
    pub(crate) use model::{pin, Atomic, Guard, Owned, Shared};

    /// The parts of crossbeam-epoch's API the dirty index uses, on a loom `AtomicPtr`.
    #[cfg(daxkv_loom)]
    mod model {
        use std::marker::PhantomData;

        use loom::sync::atomic::{AtomicPtr, Ordering};

        /// A pinned epoch: here, a token (retired nodes are never freed during a model).
        #[derive(Debug)]
        pub(crate) struct Guard(());

        /// Pins the current thread.
        pub(crate) fn pin() -> Guard {
            Guard(())
        }

        impl Guard {
            /// Would free `pointer` once no pinned thread can see it; the model leaks it.
            ///
            /// # Safety
            /// As crossbeam-epoch's: `pointer` is unlinked and destroyed at most once.
            pub(crate) unsafe fn defer_destroy<T>(&self, pointer: Shared<'_, T>) {
                let _ = pointer;
            }
        }

        /// An owned, not yet shared, node.
        pub(crate) struct Owned<T>(Box<T>);

        impl<T> Owned<T> {
            pub(crate) fn new(value: T) -> Owned<T> {
                Owned(Box::new(value))
            }
        }

        /// A pointer loaded under a guard.
        pub(crate) struct Shared<'g, T> {
            raw: *mut T,
            _guard: PhantomData<&'g Guard>,
        }

        impl<T> Clone for Shared<'_, T> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<T> Copy for Shared<'_, T> {}

        impl<'g, T> Shared<'g, T> {
            pub(crate) fn null() -> Shared<'g, T> {
                Shared { raw: std::ptr::null_mut(), _guard: PhantomData }
            }

            pub(crate) fn as_raw(&self) -> *const T {
                self.raw
            }

            /// # Safety
            /// As crossbeam-epoch's: the pointer is null or points at a live node.
            pub(crate) unsafe fn as_ref(&self) -> Option<&'g T> {
                // SAFETY: the caller's contract; the model never frees a node.
                unsafe { self.raw.as_ref() }
            }

            /// # Safety
            /// As crossbeam-epoch's: the pointer is non-null and points at a live node.
            pub(crate) unsafe fn deref(&self) -> &'g T {
                // SAFETY: the caller's contract; the model never frees a node.
                unsafe { &*self.raw }
            }
        }

        /// What a failed compare-exchange found.
        pub(crate) struct CompareExchangeError<'g, T> {
            pub(crate) current: Shared<'g, T>,
        }

        /// A value a compare-exchange can install: an owned node or a shared pointer.
        pub(crate) trait Pointer<T> {
            fn into_raw(self) -> *mut T;
        }

        impl<T> Pointer<T> for Owned<T> {
            fn into_raw(self) -> *mut T {
                Box::into_raw(self.0)
            }
        }

        impl<T> Pointer<T> for Shared<'_, T> {
            fn into_raw(self) -> *mut T {
                self.raw
            }
        }

        /// An atomic pointer to a node.
        #[derive(Debug)]
        pub(crate) struct Atomic<T>(AtomicPtr<T>);

        impl<T> Default for Atomic<T> {
            fn default() -> Self {
                Atomic(AtomicPtr::new(std::ptr::null_mut()))
            }
        }

        impl<T> Atomic<T> {
            pub(crate) fn load<'g>(&self, order: Ordering, _guard: &'g Guard) -> Shared<'g, T> {
                Shared { raw: self.0.load(order), _guard: PhantomData }
            }

            pub(crate) fn compare_exchange<'g, P: Pointer<T>>(
                &self,
                current: Shared<'_, T>,
                new: P,
                success: Ordering,
                failure: Ordering,
                _guard: &'g Guard,
            ) -> Result<Shared<'g, T>, CompareExchangeError<'g, T>> {
                let new = new.into_raw();
                match self.0.compare_exchange(current.raw, new, success, failure) {
                    Ok(_) => Ok(Shared { raw: new, _guard: PhantomData }),
                    // A lost Owned node leaks, as every node does in the model.
                    Err(found) => Err(CompareExchangeError { current: Shared { raw: found, _guard: PhantomData } }),
                }
            }
        }
    }
}
