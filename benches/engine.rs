//! Criterion benchmarks of the engine, each beside its baseline in the same run.
//!
//! `cargo bench --bench engine` (all) or `cargo bench --bench engine -- durable` (one group).
//! Groups:
//! - `durable`: one durable put (Immediate, 16 B key, 100 B value) vs the floor (128 B store
//!   into a prepared mapping + msync of that one page), on the filesystem of the current dir.
//! - `deferred`: Deferred puts and random gets, one thread (report ops/s from the throughput).
//! - `mvcc`: taking a snapshot; a get through a snapshot beside a plain get (with nothing
//!   changed since the snapshot, and with every key changed once); a one-key
//!   transaction (get + put + commit) beside a plain put (Deferred, 100,000 keys).
//! - `dirty_index`: ns per mark of a clean page and of an already-dirty page; tag + writeback of
//!   1,000 scattered dirty pages (no flusher: the index's own cost).

#![expect(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use daxkv::dirty::DirtyIndex;
#[path = "common/floor.rs"]
#[allow(dead_code, reason = "the bench uses one of the two floors")]
mod floor;
use daxkv::media::Granularity;
use daxkv::{Db, Durability, FlushModel, Options};
use floor::MsyncFloor;

fn key(i: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(b"user0000");
    key[8..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    key
}

fn durable(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(".").expect("temp dir on the benchmark's filesystem");
    let mut group = c.benchmark_group("durable");
    group.sample_size(50).measurement_time(Duration::from_secs(8));
    let mut floor = MsyncFloor::create(&dir.path().join("floor")).unwrap();
    let mut i = 0u64;
    group.bench_function("floor_store128_msync_page", |b| {
        b.iter(|| {
            i += 1;
            floor.store_and_msync((i % 512) * 4096 + 64, &[0x5A; 128]).unwrap();
        })
    });
    let db = Db::open(dir.path().join("durable.db"), Options::default()).unwrap();
    let mut i = 0u64;
    group.bench_function("put_immediate_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            db.put(&key(i % 100_000), &[0x5A; 100]).unwrap();
        })
    });
    let mut i = 0u64;
    // A read-modify-write of one key: get + put + commit, durable when commit returns.
    group.bench_function("transaction_immediate_get_put_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            let transaction = db.transaction();
            black_box(transaction.get(&key(i % 100_000)).unwrap());
            transaction.put(&key(i % 100_000), &[0x5A; 100]).unwrap();
            transaction.commit().unwrap();
        })
    });
    group.finish();
}

/// Snapshots and transactions beside the plain operations they wrap (100,000 keys, Deferred).
fn mvcc(c: &mut Criterion) {
    const KEYS: u64 = 100_000;
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut group = c.benchmark_group("mvcc");
    group.throughput(Throughput::Elements(1)).measurement_time(Duration::from_secs(5));
    let db = Db::open(dir.path().join("mvcc.db"), Options::default().durability(Durability::Deferred)).unwrap();
    for k in 0..KEYS {
        db.put(&key(k), &[0x5A; 100]).unwrap();
    }
    db.sync().unwrap();
    group.bench_function("snapshot_take_and_drop", |b| b.iter(|| black_box(db.snapshot())));
    let mut i = 0u64;
    group.bench_function("get_16b_100b_random", |b| {
        b.iter(|| {
            i += 1;
            black_box(db.get(&key(i.wrapping_mul(7919) % KEYS)).unwrap());
        })
    });
    let snapshot = db.snapshot();
    let mut i = 0u64;
    group.bench_function("snapshot_get_16b_100b_random", |b| {
        b.iter(|| {
            i += 1;
            black_box(snapshot.get(&key(i.wrapping_mul(7919) % KEYS)).unwrap());
        })
    });
    // Every key overwritten once since the snapshot: each of its gets now finds the version it
    // reads in the history (100,000 versions kept).
    for k in 0..KEYS {
        db.put(&key(k), &[0xA5; 100]).unwrap();
    }
    let mut i = 0u64;
    group.bench_function("snapshot_get_16b_100b_random_all_changed", |b| {
        b.iter(|| {
            i += 1;
            black_box(snapshot.get(&key(i.wrapping_mul(7919) % KEYS)).unwrap());
        })
    });
    drop(snapshot);
    let mut i = 0u64;
    group.bench_function("put_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            db.put(&key(i % KEYS), &[0x5A; 100]).unwrap();
        })
    });
    let mut i = 0u64;
    group.bench_function("transaction_get_put_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            let transaction = db.transaction();
            black_box(transaction.get(&key(i % KEYS)).unwrap());
            transaction.put(&key(i % KEYS), &[0x5A; 100]).unwrap();
            transaction.commit().unwrap();
        })
    });
    group.finish();
}

fn deferred(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut group = c.benchmark_group("deferred");
    group.throughput(Throughput::Elements(1)).measurement_time(Duration::from_secs(5));
    let db = Db::open(dir.path().join("deferred.db"), Options::default().durability(Durability::Deferred)).unwrap();
    let mut i = 0u64;
    group.bench_function("put_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            db.put(&key(i % 1_000_000), &[0x5A; 100]).unwrap();
        })
    });
    for k in 0..1_000_000 {
        db.put(&key(k), &[0x5A; 100]).unwrap();
    }
    let mut i = 0u64;
    // A swap from the value every key holds to itself: always succeeds, so it measures the
    // comparison (a get under the writer mutex) plus the put. Beside put_16b_100b.
    group.bench_function("compare_and_swap_16b_100b", |b| {
        b.iter(|| {
            i += 1;
            let value = [0x5A; 100];
            assert!(db.compare_and_swap(&key(i % 1_000_000), Some(&value), Some(&value)).unwrap());
        })
    });
    db.sync().unwrap();
    let mut i = 0u64;
    group.bench_function("get_16b_100b_random", |b| {
        b.iter(|| {
            i += 1;
            black_box(db.get(&key(i.wrapping_mul(7919) % 1_000_000)).unwrap());
        })
    });
    let none = Db::open(
        dir.path().join("none.db"),
        Options::default().durability(Durability::Deferred).flush(FlushModel::None),
    )
    .unwrap();
    let mut i = 0u64;
    group.bench_function("put_16b_100b_flush_none", |b| {
        b.iter(|| {
            i += 1;
            none.put(&key(i % 1_000_000), &[0x5A; 100]).unwrap();
        })
    });
    group.finish();
}

fn dirty_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("dirty_index");
    group.bench_function("mark_clean_page", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                let index = DirtyIndex::new(1 << 30);
                let batch = (iterations - done).min(200_000);
                let start = Instant::now();
                for page in 0..batch {
                    index.mark(black_box((page * 2 + 1) * 4096 % (1 << 30)), 128);
                }
                total += start.elapsed();
                done += batch;
            }
            total
        })
    });
    let index = DirtyIndex::new(1 << 30);
    index.mark(8192, 128);
    group.bench_function("mark_dirty_page", |b| b.iter(|| index.mark(black_box(8192), 128)));
    group.bench_function("tag_writeback_1000_pages", |b| {
        b.iter_batched(
            || {
                let index = DirtyIndex::new(1 << 30);
                for page in 0..1000u64 {
                    index.mark(page * 3 * 4096 + 8, 64);
                }
                index
            },
            |index| {
                index.tag();
                black_box(index.writeback(Granularity::Page));
                index
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, durable, deferred, mvcc, dirty_index);
criterion_main!(benches);
