//! The crash-testing toolkit finds a persistent ring buffer's missing fence and missing flush.
//!
//! `cargo run --release --features sim --example ring_buffer_buggy`
//!
//! The ring (examples/support/ring.rs) is checked with `daxkv::sim::check_mapping` under all
//! four crash models, with each planted bug. Each must be found exactly where it matters:
//! the missing fence under ADR only; the missing flush under ADR and 4 KiB pages, not under
//! eADR (persistent caches) or 2 MiB folios (the header's msync writes the slots' folio back).
//! Prints each finding with its replay line; exits non-zero if any outcome differs.

#[path = "support/ring.rs"]
mod ring;

use std::process::ExitCode;

use daxkv::sim::{all_models, check_mapping, CheckConfig, Rng};
use ring::{judge, run, schedule, Protocol, MAPPING_BYTES};

fn main() -> ExitCode {
    let cases =
        [(Protocol::MissingFence, ["adr"].as_slice()), (Protocol::MissingFlush, ["adr", "pagecache"].as_slice())];
    let mut unexpected = 0;
    for (protocol, found_under) in cases {
        for model in all_models() {
            let config = CheckConfig::new()
                .model(model)
                .seeds(1..9)
                .replay_command("cargo run --release --features sim --example ring_buffer_buggy");
            let report = check_mapping(
                &config,
                MAPPING_BYTES,
                |mapping, rng| run(mapping, protocol, &schedule(rng)),
                |mapping, crash| judge(mapping, crash, &schedule(&mut Rng::new(crash.seed))),
            );
            let expected = found_under.contains(&model.name());
            let found = !report.is_clean();
            let verdict = if found == expected { "as expected" } else { "UNEXPECTED" };
            println!(
                "{protocol:?} under {}: {} ({}) {verdict}",
                model.name(),
                if found { "found" } else { "not found" },
                report.summary()
            );
            if let Some(violation) = report.violations.first() {
                println!("  first found after {} images: {violation}", violation.images_checked);
            }
            unexpected += usize::from(found != expected);
        }
    }
    if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{unexpected} unexpected outcomes");
        ExitCode::FAILURE
    }
}
