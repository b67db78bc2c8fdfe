//! The fixed persistent ring buffer passes the crash-testing toolkit under every model.
//!
//! `cargo run --release --features sim --example ring_buffer_fixed`
//!
//! Same ring as `ring_buffer_buggy` (examples/support/ring.rs), with the correct append: the
//! slot is flushed *and fenced* before `tail` is stored. Every crash image under ADR, eADR,
//! 4 KiB pages and 2 MiB folios must recover to the acknowledged ring (or the one in flight)
//! with every live entry intact. Exits non-zero on any violation.

#[path = "support/ring.rs"]
mod ring;

use std::process::ExitCode;

use daxkv::sim::{check_mapping, CheckConfig, Rng};
use ring::{judge, run, schedule, Protocol, MAPPING_BYTES};

fn main() -> ExitCode {
    let config = CheckConfig::new()
        .seeds(1..9)
        .store_crash_every(1)
        .replay_command("cargo run --release --features sim --example ring_buffer_fixed");
    let report = check_mapping(
        &config,
        MAPPING_BYTES,
        |mapping, rng| run(mapping, Protocol::Correct, &schedule(rng)),
        |mapping, crash| judge(mapping, crash, &schedule(&mut Rng::new(crash.seed))),
    );
    println!("Correct under all four models: {}", report.summary());
    match report.violations.first() {
        None => ExitCode::SUCCESS,
        Some(violation) => {
            println!("{violation}");
            ExitCode::FAILURE
        }
    }
}
