//! The background cleaner thread: wakes every [`POLL`], and while the space in use exceeds the
//! target runs cleaning steps (one segment each, bounded work) until it does not. Readers never
//! wait for it; writers interleave with it between chunks of a step.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::{lock, Engine};
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
    pub(crate) fn start<M: Medium>(engine: Arc<Engine<M>>) -> Cleaner {
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
        // A panic in the cleaner is a broken invariant; it already printed. The store's state
        // is guarded by the engine's own mutexes, which recover from poisoning.
        let _ = self.thread.join();
    }
}

fn run<M: Medium>(engine: &Engine<M>, shared: &Shared) {
    let mut stop = lock(&shared.stop);
    // Bounded by the stop request: the loop ends when `stop` is set.
    while !*stop {
        stop = shared.wake.wait_timeout(stop, POLL).map(|(guard, _)| guard).unwrap_or_else(|p| p.into_inner().0);
        if *stop {
            break;
        }
        drop(stop);
        for _ in 0..STEPS_PER_WAKE_MAX {
            if engine.is_poisoned() || !engine.needs_cleaning() {
                break;
            }
            // Errors (a full disk, a failed flush) reach the writers through their own calls.
            if !matches!(engine.clean_step(None), Ok(true)) {
                break;
            }
        }
        stop = lock(&shared.stop);
    }
}
