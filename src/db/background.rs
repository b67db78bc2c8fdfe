//! The background cleaner thread: wakes every [`POLL`], and while the space in use exceeds the
//! target runs cleaning steps (one segment each, bounded work) until it does not; then takes an
//! index checkpoint when one is due (`Options::checkpoint_interval_bytes`). Readers never
//! wait for it; writers interleave with it between chunks of a step.
//!
//! It commits only when no batch was appended since its last wake-up. While writers are busy,
//! their own commits (or, with nothing synced, the commit a writer runs when it finds no free
//! segment) free what it cleaned: a commit writes back every page the writers dirtied, and on
//! a page-cache file each page it cleans costs a TLB shootdown on every other CPU running this
//! process, which is dearer from a second running thread than from the writer itself.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::hooks::ProtocolHooks;
use crate::engine::Engine;
use crate::media::Medium;

/// How often the thread looks at the space.
const POLL: Duration = Duration::from_millis(5);
/// Steps per wake-up before it checks for a stop request again.
const STEPS_PER_WAKE_MAX: usize = 16;

/// A running cleaner thread; [`Cleaner::stop`] ends it.
pub(crate) struct Cleaner {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Cleaner {
    pub(crate) fn start<M: Medium, H: ProtocolHooks>(engine: Arc<Engine<M, H>>) -> Cleaner {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("daxkv-cleaner".into())
            .spawn(move || run(&engine, &thread_shared))
            .expect("spawn the cleaner thread");
        Cleaner { shared, thread }
    }

    /// Asks the thread to stop and waits for it (at most one cleaning step).
    pub(crate) fn stop(self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        // A panic in the cleaner is a broken invariant; it already printed, and the lock it held
        // poisons the handle for every later write.
        let _ = self.thread.join();
    }
}

/// The stop flag's lock. It guards one `bool` that no panic can leave half-written.
fn lock(mutex: &Mutex<bool>) -> MutexGuard<'_, bool> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn run<M: Medium, H: ProtocolHooks>(engine: &Engine<M, H>, shared: &Shared) {
    let mut stop = lock(&shared.stop);
    let mut batches_seen = engine.batches_appended();
    // Bounded by the stop request: the loop ends when `stop` is set.
    while !*stop {
        stop = shared.wake.wait_timeout(stop, POLL).map(|(guard, _)| guard).unwrap_or_else(|p| p.into_inner().0);
        if *stop {
            break;
        }
        drop(stop);
        let batches = engine.batches_appended();
        let writers_idle = batches == batches_seen;
        batches_seen = batches;
        // Errors (a full disk, a failed flush) reach the writers through their own calls.
        let _ = engine.clean_to_target(STEPS_PER_WAKE_MAX, || writers_idle);
        let _ = engine.checkpoint_if_due();
        stop = lock(&shared.stop);
    }
}
