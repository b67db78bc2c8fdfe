//! Operations, a crash plan and crash choices from the input; every image checked by the
//! oracle. Any violation is a bug in the commit protocol or recovery.
#![no_main]

use arbitrary::Arbitrary;
use daxkv::sim::{run_workload, CampaignConfig, CrashModel, Op, Rng};
use daxkv::Durability;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum FuzzOp {
    Put { key: u8, len: u16, fill: u8 },
    Delete { key: u8 },
    Batch(Vec<(bool, u8, u16)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    model: u8,
    deferred: bool,
    groups: Vec<Vec<FuzzOp>>,
    crash_seed: u64,
    store_crash_every: u8,
    random_images: u8,
}

fn key(key: u8) -> Vec<u8> {
    format!("k{}", key % 16).into_bytes()
}

fn value(len: u16, fill: u8) -> Vec<u8> {
    // Mostly small, sometimes large enough to span pages and, rarely, a big share of a segment.
    let len = if len > 60_000 { 40_000 + len as usize } else { len as usize % 5_000 };
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

fn ops(op: &FuzzOp) -> Vec<Op> {
    match op {
        FuzzOp::Put { key: k, len, fill } => vec![Op::Put(key(*k), value(*len, *fill))],
        FuzzOp::Delete { key: k } => vec![Op::Delete(key(*k))],
        FuzzOp::Batch(items) => items.iter().take(6).map(|&(put, k, len)| if put { Op::Put(key(k), value(len, k)) } else { Op::Delete(key(k)) }).collect(),
    }
}

fuzz_target!(|input: Input| {
    let model = match input.model % 4 {
        0 => CrashModel::Adr,
        1 => CrashModel::Eadr,
        2 => CrashModel::parse("pagecache").unwrap(),
        _ => CrashModel::parse("pagecache-folio").unwrap(),
    };
    let durability = if input.deferred { Durability::Deferred } else { Durability::Immediate };
    let groups: Vec<Vec<Vec<Op>>> = if input.deferred {
        input.groups.iter().take(10).map(|group| group.iter().take(4).map(ops).collect()).collect()
    } else {
        input.groups.iter().flatten().take(16).map(|op| vec![ops(op)]).collect()
    };
    let mut config = CampaignConfig::new(model, 0);
    config.strategy.random = (input.random_images % 6) as usize;
    config.strategy.max_images = 16;
    config.store_crash_every = (input.store_crash_every % 16 != 0).then_some(u64::from(input.store_crash_every % 16));
    config.continue_every = 4;
    let report = run_workload(&config, 0, durability, &groups, Rng::new(input.crash_seed));
    if let Some(violation) = report.violations.first() {
        panic!("{} violation at crash point {}: {} ({})", model.name(), violation.crash_point, violation.reason, violation.image);
    }
});
