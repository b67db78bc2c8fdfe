//! Three records scattered over different pages: the counters show that exactly their pages
//! (Msync) or exactly their lines (CacheLine) were flushed — nothing else.

mod common;

use common::temp_store;
use daxkv::{Db, Durability, FlushModel, Options};

/// Offsets written by one deferred put of `value_len` bytes, as (start, end).
fn put(db: &Db, key: &[u8], value_len: usize) -> (u64, u64) {
    let start = db.stats().log_head_offset;
    db.put(key, &vec![0x5A; value_len]).unwrap();
    (start, db.stats().log_head_offset)
}

fn scattered(model: FlushModel, unit: u64) {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred).flush(model)).unwrap();
    db.sync().unwrap();
    // Three small records, each on its own page (9000-byte fillers between them), each in a
    // commit of its own: every commit must flush exactly the units its bytes touch.
    for i in 0..3u8 {
        put(&db, &[b'f', i], 9000);
        db.sync().unwrap();
        let stats = db.stats();
        let (start, end) = put(&db, &[b'k', i], 40);
        db.sync().unwrap();
        let after = db.stats();
        let commit_end = end + 48; // the commit's 48-byte Commit record follows the put
        let expected = commit_end.div_ceil(unit) * unit - start / unit * unit;
        assert_eq!(after.flush_bytes_total - stats.flush_bytes_total, expected, "{model:?}: exactly the touched units");
        assert_eq!(after.dirty.runs_flushed_total - stats.dirty.runs_flushed_total, 1);
        match model {
            FlushModel::Msync => assert_eq!(after.flush_syscalls_total - stats.flush_syscalls_total, 1),
            FlushModel::CacheLine => {
                assert_eq!(after.line_flushes_total - stats.line_flushes_total, expected / 64);
                assert_eq!(after.fences_total - stats.fences_total, 1, "one fence per commit");
            }
            FlushModel::Fence | FlushModel::None => unreachable!(),
        }
    }
}

#[test]
fn msync_flushes_exactly_the_dirty_pages() {
    scattered(FlushModel::Msync, 4096);
}

#[test]
fn cacheline_flushes_exactly_the_dirty_lines() {
    scattered(FlushModel::CacheLine, 64);
}

#[test]
fn three_scattered_pages_in_one_commit_are_three_runs_under_one_msync() {
    // Scatter through the dirty index directly: marks far apart, one commit.
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().durability(Durability::Deferred)).unwrap();
    db.sync().unwrap();
    let index = db.dirty_index();
    for page in [10u64, 100, 300] {
        index.mark(page * 4096 + 100, 8);
    }
    index.tag();
    let runs = index.writeback(daxkv::media::Granularity::Page);
    assert_eq!(runs.iter().map(|run| run.offset / 4096).collect::<Vec<_>>(), vec![10, 100, 300]);
    assert!(runs.iter().all(|run| run.len == 4096));
}

#[test]
fn nothing_dirty_means_no_flush_call_at_all() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    let stats = db.stats();
    for _ in 0..10 {
        db.sync().unwrap();
    }
    assert_eq!(db.stats().flush_syscalls_total, stats.flush_syscalls_total);
}

#[test]
fn the_fence_model_flushes_no_line_and_fences_once_per_commit() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().flush(FlushModel::Fence)).unwrap();
    assert_eq!(db.flush_model(), FlushModel::Fence);
    let before = db.stats();
    for i in 0..10u8 {
        db.put(&[b'k', i], b"value").unwrap();
    }
    let after = db.stats();
    assert_eq!(after.commits_total - before.commits_total, 10);
    assert_eq!(after.line_flushes_total, 0, "no flush instruction");
    assert_eq!(after.flush_syscalls_total, before.flush_syscalls_total, "no msync");
    assert_eq!(after.fences_total - before.fences_total, 10, "one fence per commit");
    assert_eq!(after.persistence_domain, daxkv::PersistenceDomain::Unknown, "a temp file has no NVDIMM region");
}
