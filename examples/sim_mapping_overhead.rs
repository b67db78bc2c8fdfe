//! Overhead of the simulated mapping per store, against a plain `Vec<u8>` write.
//!
//! `cargo run --release --features sim --example sim_mapping_overhead`
//!
//! Each variant stores `STORES` times into a 64 KiB region (8-byte aligned words, and 64-byte
//! writes), at offsets from a fixed sequence: a plain `Vec<u8>` `copy_from_slice`, a
//! `SimMapping` that records its trace (what a workload under `check_mapping` pays), and one
//! that records nothing. Best of `REPEATS`, in nanoseconds per store; the recording variant's
//! time includes dropping its trace.

use std::hint::black_box;
use std::time::Instant;

use daxkv::sim::SimMapping;

const STORES: u64 = 1 << 20;
const REGION_BYTES: u64 = 64 << 10;
const REPEATS: usize = 11;

/// Best time per store of each variant, the variants interleaved in every repetition (so a
/// burst of load on the shared machine hits them alike).
fn best_of(variants: &mut [&mut dyn FnMut() -> u64]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..REPEATS {
        for (variant, best) in variants.iter_mut().zip(&mut best) {
            let started = Instant::now();
            black_box(variant());
            *best = best.min(started.elapsed().as_secs_f64() * 1e9 / STORES as f64);
        }
    }
    best
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
        let mut plain = || {
            let mut region = vec![0u8; REGION_BYTES as usize];
            for index in 0..STORES {
                let at = offset(index, size) as usize;
                region[at..at + size as usize].copy_from_slice(black_box(&data));
            }
            region[black_box(0)] as u64
        };
        let mut recording = || {
            let mut mapping = SimMapping::new(REGION_BYTES as usize);
            for index in 0..STORES {
                mapping.write(offset(index, size), black_box(&data));
            }
            mapping.trace().len() as u64
        };
        let mut unrecorded = || {
            let mut mapping = SimMapping::unrecorded(REGION_BYTES as usize);
            for index in 0..STORES {
                mapping.write(offset(index, size), black_box(&data));
            }
            mapping.load_u64(0)
        };
        // The recording variant frees a million small buffers at its end, which slows whatever
        // runs next: it gets a phase of its own, after the two it is compared with.
        let times = best_of(&mut [&mut plain, &mut unrecorded]);
        let (plain, unrecorded) = (times[0], times[1]);
        let recording = best_of(&mut [&mut recording])[0];
        println!(
            "| {size} bytes | {plain:.2} | {recording:.1} | {:.0}x | {unrecorded:.2} | {:.1}x |",
            recording / plain,
            unrecorded / plain
        );
    }
}
