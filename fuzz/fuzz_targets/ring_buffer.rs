//! A user's fuzz target on the simulated mapping: the ring buffer of examples/support/ring.rs
//! runs fuzz-chosen operations on a `SimMapping`; the crash model, the crash points (every Nth
//! store besides every flush and fence), the exploration and its seed come from the input too,
//! and every crash image drawn is recovered by the ring's own recovery and judged. A violation
//! panics with its replay line. Any panic is a bug in the ring's protocol (plant one by
//! changing `PROTOCOL` to `Protocol::MissingFence`: it is found within a few runs).
#![no_main]

#[path = "../../examples/support/ring.rs"]
mod ring;

use arbitrary::Arbitrary;
use daxkv::sim::{all_models, check_mapping, CheckConfig, Exploration, GuidedStrategy, Strategy};
use libfuzzer_sys::fuzz_target;
use ring::{judge, run, Protocol, RingOp, MAPPING_BYTES};

const PROTOCOL: Protocol = Protocol::Correct;

#[derive(Arbitrary, Debug)]
struct Input {
    model: u8,
    /// Bit set: append; clear: pop.
    ops: Vec<bool>,
    store_crash_every: u8,
    guided: bool,
    crash_seed: u64,
}

fuzz_target!(|input: Input| {
    let models = all_models();
    let model = models[input.model as usize % models.len()];
    let ops: Vec<RingOp> =
        input.ops.iter().take(64).map(|&append| if append { RingOp::Append } else { RingOp::Pop }).collect();
    let exploration = if input.guided {
        Exploration::ReadGuided(GuidedStrategy::with_max_images(16))
    } else {
        Exploration::Sampled(Strategy { max_images: 16, ..Strategy::default() })
    };
    let mut config = CheckConfig::new()
        .model(model)
        .seeds(input.crash_seed..input.crash_seed.saturating_add(1))
        .exploration(exploration)
        .replay_command("cargo fuzz run ring_buffer --sanitizer none <the crashing input>");
    if input.store_crash_every % 8 != 0 {
        config = config.store_crash_every(u64::from(input.store_crash_every % 8));
    }
    let report = check_mapping(
        &config,
        MAPPING_BYTES,
        |mapping, _rng| run(mapping, PROTOCOL, &ops),
        |mapping, crash| judge(mapping, crash, &ops),
    );
    report.assert_clean();
});
