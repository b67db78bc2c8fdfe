//! Opens a store once, prints how long the open took and what recovery did, and exits without
//! closing (as a crash would leave it, so the same file can be opened again the same way); with
//! `close` after the path, closes it instead and prints how long the close took (it takes a
//! checkpoint when the log since the last one is long enough).
//!
//! `cargo run --release --example open_once -- <store file> [close]`

use std::time::Instant;

use daxkv::{Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: open_once <store file>")?;
    let started = Instant::now();
    let db = Db::open(&path, Options::default())?;
    let open_s = started.elapsed().as_secs_f64();
    println!("open {open_s:.3} s");
    println!("{:#?}", db.stats().recovery);
    if std::env::args().nth(2).as_deref() == Some("close") {
        let started = Instant::now();
        db.close()?;
        println!("close {:.3} s", started.elapsed().as_secs_f64());
        return Ok(());
    }
    std::process::exit(0);
}
