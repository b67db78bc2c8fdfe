//! A writer process killed with SIGKILL mid-stream: every write it acknowledged is found after
//! recovery (the page cache survives a process crash, so this checks the unclean-open path, torn
//! in-flight records and the superblock's clean flag, not power loss — that is the simulator's job).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use daxkv::{Db, Durability, Options};

const CHILD_ENV: &str = "DAXKV_PROCESS_CRASH_CHILD";

/// The child: writes forever, printing each acknowledged key.
fn child(path: &str, durability: Durability) -> ! {
    let db = Db::open(path, Options::default().durability(durability)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        db.put(format!("key{i:08}").as_bytes(), &vec![(i % 251) as u8; 100 + (i % 3000) as usize]).unwrap();
        if durability == Durability::Deferred && i % 16 == 15 {
            db.sync().unwrap();
            writeln!(out, "{i}").unwrap();
        } else if durability == Durability::Immediate {
            writeln!(out, "{i}").unwrap();
        }
        out.flush().unwrap();
    }
    unreachable!()
}

fn run(durability: Durability, name: &str) {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        if std::env::var("DAXKV_PROCESS_CRASH_TEST").as_deref() == Ok(name) {
            child(&path, durability);
        }
        return;
    }
    let store = common::temp_store();
    for round in 0..3u64 {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &store.path)
            .env("DAXKV_PROCESS_CRASH_TEST", name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut acknowledged = None;
        let target = 300 + round * 200;
        while let Some(Ok(line)) = lines.next() {
            if let Ok(number) = line.trim().parse::<u64>() {
                acknowledged = Some(number);
                if number >= target {
                    break;
                }
            }
        }
        process.kill().unwrap();
        process.wait().unwrap();
        let acknowledged = acknowledged.expect("the child acknowledged writes");
        let db = Db::open(&store.path, Options::default()).unwrap();
        assert!(!db.stats().recovery.clean_shutdown);
        for i in 0..=acknowledged {
            let value =
                db.get(format!("key{i:08}").as_bytes()).unwrap().unwrap_or_else(|| panic!("acknowledged key {i} lost"));
            assert_eq!(value.as_ref(), &vec![(i % 251) as u8; 100 + (i % 3000) as usize][..]);
        }
        // Keep the store unclean for the next round: copy the image, drop, restore.
        let image = std::fs::read(&store.path).unwrap();
        drop(db);
        std::fs::write(&store.path, image).unwrap();
    }
}

#[test]
fn killed_immediate_writer_loses_no_acknowledged_write() {
    run(Durability::Immediate, "killed_immediate_writer_loses_no_acknowledged_write");
}

#[test]
fn killed_deferred_writer_loses_no_synced_write() {
    run(Durability::Deferred, "killed_deferred_writer_loses_no_synced_write");
}
