//! A second opener gets `Error::Locked`, in this process and in another.

mod common;

use common::temp_store;
use daxkv::{Db, Error, Options};

#[test]
fn a_second_open_in_the_same_process_is_locked() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::Locked)));
    db.close().unwrap();
    Db::open(&store.path, Options::default()).expect("the lock is released by close");
}

#[test]
fn another_process_holding_the_lock_makes_open_locked() {
    let store = temp_store();
    std::fs::write(&store.path, b"").unwrap();
    // flock(1) from util-linux holds an exclusive lock while `sleep` runs.
    let child = std::process::Command::new("flock").arg("-x").arg(&store.path).arg("sleep").arg("5").spawn();
    let Ok(mut child) = child else {
        panic!("the flock utility (util-linux) is required for this test");
    };
    // Wait (bounded) until the child holds the lock.
    let mut locked = false;
    for _ in 0..100 {
        match Db::open(&store.path, Options::default()) {
            Err(Error::Locked) => {
                locked = true;
                break;
            }
            Ok(db) => {
                drop(db);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert!(locked, "the other process's lock was never seen");
}
