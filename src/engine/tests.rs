//! The engine's own invariants that the public API cannot reach.

use std::sync::Arc;

use super::hooks::NoHooks;
use super::Engine;
use crate::batch::Op;
use crate::error::Error;
use crate::media::{FlushModel, MemoryMedium};
use crate::options::{Durability, Options};

fn engine() -> Arc<Engine<MemoryMedium, NoHooks>> {
    let medium = MemoryMedium::new(FlushModel::Msync, 16 << 20, [3; 16], false);
    let options =
        Options::default().durability(Durability::Deferred).max_file_bytes(16 << 20).background_cleaning(false);
    Arc::new(Engine::open(medium, options, NoHooks).expect("fresh store"))
}

#[test]
fn a_panic_under_the_writer_lock_poisons_the_handle() {
    let engine = engine();
    engine.write(&[Op::Put(b"before", b"1")]).expect("healthy store");
    let panicking = Arc::clone(&engine);
    let outcome = std::thread::spawn(move || {
        let _writer = panicking.writer.lock().expect("not poisoned yet");
        panic!("a broken invariant while appending");
    })
    .join();
    assert!(outcome.is_err(), "the thread panicked");
    assert!(matches!(engine.write(&[Op::Put(b"after", b"2")]), Err(Error::Poisoned)));
    assert!(engine.is_poisoned());
    assert!(matches!(engine.sync(), Err(Error::Poisoned)));
    // Reads and reports still answer from what was appended before the panic.
    assert_eq!(engine.get(b"before").expect("readable").as_deref(), Some(&b"1"[..]));
    assert!(engine.stats().poisoned);
}

#[test]
fn a_panic_under_the_commit_lock_poisons_the_handle() {
    let engine = engine();
    let panicking = Arc::clone(&engine);
    let outcome = std::thread::spawn(move || {
        let _commit = panicking.commit.lock().expect("not poisoned yet");
        panic!("a broken invariant while committing");
    })
    .join();
    assert!(outcome.is_err(), "the thread panicked");
    assert!(matches!(engine.sync(), Err(Error::Poisoned)));
    assert!(matches!(engine.close(), Err(Error::Poisoned)));
}
