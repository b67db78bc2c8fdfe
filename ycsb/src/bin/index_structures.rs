//! Memory per key and speed of candidate in-memory indexes (issue 13), one structure per process:
//! N 16-byte random keys (key i = hash(seed, i), as in `daxkv-ycsb index-table`) mapped to a u64,
//! inserted from one thread; then `gets` random gets of present keys (checked) and a full
//! iteration (in key order for the ordered structures).
//!
//! ```text
//! index_structures <structure> <N> [gets (1000000)] [seed (42)]
//! index_structures report <results.jsonl>
//! ```
//! Structures: `skiplist+papaya` (daxkv's index today: `SkipMap<Bytes, Arc<AtomicU64>>` plus
//! `papaya::HashMap<Bytes, Arc<AtomicU64>>`, one key `Bytes` shared by both, as `KeyIndex::set`),
//! `scc-tree` (`scc::TreeIndex<[u8; 16], u64>`), `scc-tree-vec` (`TreeIndex<Vec<u8>, u64>`),
//! `scc-hash` (`scc::HashIndex<[u8; 16], u64>`), `btree-vec` (`BTreeMap<Vec<u8>, u64>`),
//! `btree-array` (`BTreeMap<[u8; 16], u64>`). Memory per key = (RssAnon after the inserts -
//! RssAnon before) / N. Prints one JSON line on stdout.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The same keys as `daxkv-ycsb index-table` (src/table.rs).
fn key(seed: u64, i: u64) -> [u8; 16] {
    let hi = mix(i.wrapping_mul(GOLDEN) ^ mix(seed));
    let lo = mix(hi ^ mix(seed ^ 0x6b65_7973));
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&hi.to_be_bytes());
    k[8..].copy_from_slice(&lo.to_be_bytes());
    k
}

fn rss_anon() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// What each structure must do.
trait Index {
    fn insert(&mut self, k: [u8; 16], v: u64);
    fn get(&self, k: &[u8; 16]) -> Option<u64>;
    /// Visits every entry (in key order where the structure is ordered); returns (count, sum).
    fn scan(&self) -> (u64, u64);
    fn ordered(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct SkipPapaya {
    ordered: crossbeam_skiplist::SkipMap<Bytes, Arc<AtomicU64>>,
    points: papaya::HashMap<Bytes, Arc<AtomicU64>>,
}

impl Index for SkipPapaya {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        let points = self.points.pin();
        match points.get(&k[..]) {
            Some(slot) => slot.store(v, Ordering::Release),
            None => {
                let key = Bytes::copy_from_slice(&k);
                let slot = Arc::new(AtomicU64::new(v));
                self.ordered.insert(key.clone(), Arc::clone(&slot));
                points.insert(key, slot);
            }
        }
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.points.pin().get(&k[..]).map(|s| s.load(Ordering::Acquire))
    }
    fn scan(&self) -> (u64, u64) {
        let (mut n, mut sum) = (0u64, 0u64);
        for e in self.ordered.iter() {
            n += 1;
            sum = sum.wrapping_add(e.value().load(Ordering::Acquire));
        }
        (n, sum)
    }
}

#[derive(Default)]
struct SccTree(scc::TreeIndex<[u8; 16], u64>);

impl Index for SccTree {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        let _ = self.0.insert_sync(k, v);
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.0.peek_with(k, |_, v| *v)
    }
    fn scan(&self) -> (u64, u64) {
        let g = scc::Guard::new();
        self.0.iter(&g).fold((0, 0), |(n, s), (_, v)| (n + 1, s.wrapping_add(*v)))
    }
}

#[derive(Default)]
struct SccTreeVec(scc::TreeIndex<Vec<u8>, u64>);

impl Index for SccTreeVec {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        let _ = self.0.insert_sync(k.to_vec(), v);
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.0.peek_with(&k[..], |_, v| *v)
    }
    fn scan(&self) -> (u64, u64) {
        let g = scc::Guard::new();
        self.0.iter(&g).fold((0, 0), |(n, s), (_, v)| (n + 1, s.wrapping_add(*v)))
    }
}

#[derive(Default)]
struct SccHash(scc::HashIndex<[u8; 16], u64>);

impl Index for SccHash {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        let _ = self.0.insert_sync(k, v);
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.0.peek_with(k, |_, v| *v)
    }
    fn scan(&self) -> (u64, u64) {
        let g = scc::Guard::new();
        self.0.iter(&g).fold((0, 0), |(n, s), (_, v)| (n + 1, s.wrapping_add(*v)))
    }
    fn ordered(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct BTreeVec(BTreeMap<Vec<u8>, u64>);

impl Index for BTreeVec {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        self.0.insert(k.to_vec(), v);
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.0.get(&k[..]).copied()
    }
    fn scan(&self) -> (u64, u64) {
        self.0.values().fold((0, 0), |(n, s), v| (n + 1, s.wrapping_add(*v)))
    }
}

#[derive(Default)]
struct BTreeArray(BTreeMap<[u8; 16], u64>);

impl Index for BTreeArray {
    fn insert(&mut self, k: [u8; 16], v: u64) {
        self.0.insert(k, v);
    }
    fn get(&self, k: &[u8; 16]) -> Option<u64> {
        self.0.get(k).copied()
    }
    fn scan(&self) -> (u64, u64) {
        self.0.values().fold((0, 0), |(n, s), v| (n + 1, s.wrapping_add(*v)))
    }
}

const STRUCTURES: &[&str] = &["skiplist+papaya", "scc-tree", "scc-tree-vec", "scc-hash", "btree-vec", "btree-array"];

/// `index_structures report <jsonl>`: a markdown table of the JSON lines, one row per (structure, N).
fn report(path: &str) {
    let text = std::fs::read_to_string(path).expect("the JSON lines file");
    println!("| structure | N | memory per key | inserts/s | random gets/s | full iteration, items/s |");
    println!("|---|---|---|---|---|---|");
    let mut las: Vec<f64> = Vec::new();
    for l in text.lines().filter(|l| l.starts_with('{')) {
        let r: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
        las.extend(r["loadavg"].as_str().and_then(|s| s.split(' ').next()?.parse::<f64>().ok()));
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {} M | {:.0} B | {:.2} M | {:.2} M | {:.1} M{} |",
            r["structure"].as_str().unwrap_or("?"),
            f("n") / 1e6,
            f("bytes_per_key"),
            f("inserts_per_s") / 1e6,
            f("gets_per_s") / 1e6,
            f("scan_items_per_s") / 1e6,
            if r["scan_ordered"] == true { "" } else { " (unordered)" }
        );
    }
    las.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (las.first(), las.last()) {
        println!("\n1-minute load average at the start of each process: {lo:.2}–{hi:.2}.");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 2 && args[0] == "report" {
        return report(&args[1]);
    }
    if args.len() < 2 || !STRUCTURES.contains(&args[0].as_str()) {
        eprintln!("usage: index_structures <structure> <N> [gets] [seed]\nstructures: {}", STRUCTURES.join(", "));
        std::process::exit(2);
    }
    let name = args[0].as_str();
    let num = |i: usize, d: u64| args.get(i).map_or(d, |s| s.replace('_', "").parse().expect("a number"));
    let (n, gets, seed) = (num(1, 0), num(2, 1_000_000), num(3, 42));
    assert!(n > 0, "N must be > 0");

    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loadavg = loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let base = rss_anon();
    let mut idx: Box<dyn Index> = match name {
        "skiplist+papaya" => Box::<SkipPapaya>::default(),
        "scc-tree" => Box::<SccTree>::default(),
        "scc-tree-vec" => Box::<SccTreeVec>::default(),
        "scc-hash" => Box::<SccHash>::default(),
        "btree-vec" => Box::<BTreeVec>::default(),
        _ => Box::<BTreeArray>::default(),
    };
    let t = Instant::now();
    for i in 0..n {
        idx.insert(key(seed, i), i);
    }
    let insert_s = t.elapsed().as_secs_f64();
    let after = rss_anon();

    let mut r = mix(seed ^ 0x6765_7473);
    let t = Instant::now();
    for _ in 0..gets {
        r = r.wrapping_add(GOLDEN);
        let i = ((mix(r) as u128 * n as u128) >> 64) as u64;
        assert_eq!(idx.get(&key(seed, i)), Some(i), "key {i}");
    }
    let gets_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (count, sum) = idx.scan();
    let scan_s = t.elapsed().as_secs_f64();
    assert_eq!(count, n, "scan count");
    assert_eq!(sum, (0..n).fold(0u64, |s, i| s.wrapping_add(i)), "scan sum");

    let per_key = (after as f64 - base as f64) / n as f64;
    eprintln!(
        "{name} n={n}: {per_key:.1} B/key, {:.2} M inserts/s, {:.2} M gets/s, {} {:.2} M items/s",
        n as f64 / insert_s / 1e6,
        gets as f64 / gets_s / 1e6,
        if idx.ordered() { "ordered scan" } else { "unordered iteration" },
        n as f64 / scan_s / 1e6
    );
    println!(
        "{}",
        serde_json::json!({
            "structure": name, "n": n, "seed": seed, "rss_anon_base": base, "rss_anon_after_insert": after,
            "bytes_per_key": per_key, "insert_s": insert_s, "inserts_per_s": n as f64 / insert_s,
            "gets": gets, "gets_per_s": gets as f64 / gets_s, "scan_ordered": idx.ordered(),
            "scan_items_per_s": n as f64 / scan_s, "loadavg": loadavg,
        })
    );
}
