//! A process committing transactions (transfers between accounts, each with a marker key, and
//! a contended counter on a second thread) killed with SIGKILL: after recovery every
//! acknowledged transaction is there, and every transaction is all or nothing — the balances
//! are exactly those of replaying the transfers whose markers survived, and they sum to the
//! initial total.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use daxkv::{Db, Durability, Options};

const CHILD_ENV: &str = "DAXKV_PROCESS_CRASH_TRANSACTIONS_CHILD";
const ACCOUNTS: u64 = 10;
const BALANCE: i64 = 10_000;

fn account(number: u64) -> Vec<u8> {
    format!("account/{number}").into_bytes()
}

fn marker(transfer: u64) -> Vec<u8> {
    format!("transfer/{transfer:08}").into_bytes()
}

/// Transfer `number`: (from, to, amount).
fn transfer(number: u64) -> (u64, u64, i64) {
    (number * 7 % ACCOUNTS, (number * 3 + 1) % ACCOUNTS, (number % 50) as i64)
}

fn number(value: Option<daxkv::Bytes>) -> i64 {
    value.map_or(0, |value| std::str::from_utf8(&value).unwrap().parse().unwrap())
}

/// The child: transfers on this thread, a counter on another; prints each acknowledgement.
fn child(path: &str) -> ! {
    let db = Arc::new(Db::open(path, Options::default().durability(Durability::Immediate)).unwrap());
    if db.get(&account(0)).unwrap().is_none() {
        let setup = db.transaction();
        for number in 0..ACCOUNTS {
            setup.put(&account(number), BALANCE.to_string().as_bytes()).unwrap();
        }
        setup.commit().unwrap();
    }
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let first = (0u64..).find(|&number| db.get(&marker(number)).unwrap().is_none()).unwrap();
    {
        let (db, out) = (Arc::clone(&db), Arc::clone(&out));
        std::thread::spawn(move || loop {
            let value = db
                .update(|transaction| {
                    let next = number(transaction.get(b"counter")?) + 1;
                    transaction.put(b"counter", next.to_string().as_bytes())?;
                    Ok(next)
                })
                .unwrap();
            let mut out = out.lock().unwrap();
            writeln!(out, "c {value}").unwrap();
            out.flush().unwrap();
        });
    }
    for transfer_number in first.. {
        let (from, to, amount) = transfer(transfer_number);
        db.update(|transaction| {
            let from_balance = number(transaction.get(&account(from))?);
            transaction.put(&account(from), (from_balance - amount).to_string().as_bytes())?;
            let to_balance = number(transaction.get(&account(to))?);
            transaction.put(&account(to), (to_balance + amount).to_string().as_bytes())?;
            transaction.put(&marker(transfer_number), b"done")
        })
        .unwrap();
        let mut out = out.lock().unwrap();
        writeln!(out, "t {transfer_number}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn killed_transactional_writer_loses_nothing_acknowledged_and_tears_nothing() {
    const NAME: &str = "killed_transactional_writer_loses_nothing_acknowledged_and_tears_nothing";
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
    }
    let store = common::temp_store();
    for round in 0..3u64 {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &store.path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let (mut transfers_acknowledged, mut counter_acknowledged) = (None, 0);
        let target = 150 + round * 100;
        while let Some(Ok(line)) = lines.next() {
            match line.trim().split_once(' ') {
                Some(("t", value)) => transfers_acknowledged = Some(value.parse::<u64>().unwrap()),
                Some(("c", value)) => counter_acknowledged = counter_acknowledged.max(value.parse::<i64>().unwrap()),
                _ => continue,
            }
            if transfers_acknowledged.is_some_and(|number| number >= target) {
                break;
            }
        }
        process.kill().unwrap();
        process.wait().unwrap();
        let acknowledged = transfers_acknowledged.expect("the child acknowledged transfers");
        let db = Db::open(&store.path, Options::default()).unwrap();
        assert!(!db.stats().recovery.clean_shutdown);
        let survived = (0u64..).find(|&number| db.get(&marker(number)).unwrap().is_none()).unwrap();
        assert!(
            survived > acknowledged,
            "round {round}: acknowledged transfer {acknowledged} lost ({survived} survived)"
        );
        assert_eq!(db.prefix(b"transfer/").count() as u64, survived, "the markers are a prefix");
        let mut balances = vec![BALANCE; ACCOUNTS as usize];
        for number in 0..survived {
            let (from, to, amount) = transfer(number);
            balances[from as usize] -= amount;
            balances[to as usize] += amount;
        }
        for (number, expected) in balances.iter().enumerate() {
            let found = self::number(db.get(&account(number as u64)).unwrap());
            assert_eq!(found, *expected, "round {round}: account {number} torn");
        }
        assert_eq!(balances.iter().sum::<i64>(), BALANCE * ACCOUNTS as i64);
        assert!(number(db.get(b"counter").unwrap()) >= counter_acknowledged, "round {round}: counter went back");
        // Keep the store unclean for the next round: copy the image, drop, restore.
        let image = std::fs::read(&store.path).unwrap();
        drop(db);
        std::fs::write(&store.path, image).unwrap();
    }
}
