//! Overhead of the simulated mapping per store, against a plain `Vec<u8>` write.
//!
//! `cargo run --release --features sim --example sim_mapping_overhead`
//!
//! Each variant stores `STORES` times into a 64 KiB region (8-byte aligned words, and 64-byte
//! writes), at offsets from a fixed sequence: a plain `Vec<u8>` `copy_from_slice`, a
//! `SimMapping` that records its trace (what a workload under `check_mapping` pays), and one
//! that records nothing. Best of `REPEATS`, in nanoseconds per store.

use std::hint::black_box;
use std::time::Instant;

use daxkv::sim::SimMapping;

const STORES: u64 = 1 << 20;
const REGION_BYTES: u64 = 64 << 10;
const REPEATS: usize = 5;

fn best_of(mut run: impl FnMut() -> u64) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            black_box(run());
            started.elapsed().as_secs_f64() * 1e9 / STORES as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn offset(index: u64, size: u64) -> u64 {
    index.wrapping_mul(0x9E37_79B9) % (REGION_BYTES / size) * size
}

fn main() {
    println!(
        "| store | Vec<u8> ns/store | SimMapping recording ns/store | ratio | SimMapping unrecorded ns/store | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for size in [8u64, 64] {
        let data = vec![0xA5u8; size as usize];
        let plain = best_of(|| {
            let mut region = vec![0u8; REGION_BYTES as usize];
            for index in 0..STORES {
                let at = offset(index, size) as usize;
                region[at..at + size as usize].copy_from_slice(black_box(&data));
            }
            region[black_box(0)] as u64
        });
        let recording = best_of(|| {
            let mut mapping = SimMapping::new(REGION_BYTES as usize);
            for index in 0..STORES {
                mapping.write(offset(index, size), black_box(&data));
            }
            mapping.trace().len() as u64
        });
        let unrecorded = best_of(|| {
            let mut mapping = SimMapping::unrecorded(REGION_BYTES as usize);
            for index in 0..STORES {
                mapping.write(offset(index, size), black_box(&data));
            }
            mapping.load_u64(0)
        });
        println!(
            "| {size} bytes | {plain:.2} | {recording:.1} | {:.0}x | {unrecorded:.2} | {:.1}x |",
            recording / plain,
            unrecorded / plain
        );
    }
}
