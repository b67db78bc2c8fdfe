//! A full disk (or the configured maximum size) is `Error::NoSpace` at growth time; the store
//! stays readable, committed data stays intact, and it reopens.

mod common;

use common::temp_store;
use daxkv::{Db, Error, Options};

fn fill_until_no_space(db: &Db) -> u32 {
    let value = vec![0x42u8; 64 * 1024];
    for i in 0..10_000u32 {
        match db.put(format!("key{i:05}").as_bytes(), &value) {
            Ok(()) => {}
            Err(Error::NoSpace) => return i,
            Err(other) => panic!("expected NoSpace, got {other:?}"),
        }
    }
    panic!("never ran out of space");
}

fn verify(db: &Db, written: u32) {
    for i in 0..written {
        assert_eq!(db.get(format!("key{i:05}").as_bytes()).unwrap().map(|v| v.len()), Some(64 * 1024));
    }
    assert_eq!(db.get(format!("key{written:05}").as_bytes()).unwrap(), None, "the refused put left nothing");
}

#[test]
fn the_maximum_file_size_is_no_space_and_nothing_is_lost() {
    let store = temp_store();
    let options = Options::default().max_file_bytes(8 << 20);
    let db = Db::open(&store.path, options.clone()).unwrap();
    let written = fill_until_no_space(&db);
    assert!(written > 50);
    verify(&db, written);
    db.close().unwrap();
    let db = Db::open(&store.path, options).unwrap();
    verify(&db, written);
}

#[test]
fn a_full_filesystem_is_no_space_and_nothing_is_lost() {
    // A 12 MiB tmpfs: the real ENOSPC path (fallocate/pwrite during growth). Needs root to mount.
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "daxkv-nospace"])
        .arg(dir.path())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root); covered by the max_file_bytes test");
        return;
    }
    let path = dir.path().join("store.db");
    let outcome = std::panic::catch_unwind(|| {
        let db = Db::open(&path, Options::default()).unwrap();
        let written = fill_until_no_space(&db);
        verify(&db, written);
        db.close().unwrap();
        let db = Db::open(&path, Options::default()).unwrap();
        verify(&db, written);
    });
    let _ = std::process::Command::new("umount").arg(dir.path()).status();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
