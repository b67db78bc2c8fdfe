//! YCSB's CoreWorkload: load and transaction phases, N client threads sharing one store, with a
//! correctness check built into every operation.
//!
//! Correctness model. Writes of one key never overlap in this harness (a per-key stripe lock is
//! held across the engine call; the lock is uncontended unless two clients pick the same key at
//! once). Each key has `state = (committed version, pending version)`: a writer publishes
//! `pending = v` before its engine call and `committed = v` after. A reader loads `committed`
//! before its engine call and `pending` after; the version it gets must lie in between — this is
//! linearizability of a single-key register, and it catches lost or stale writes. Every read also
//! checks the record's structure and that it belongs to the key asked for; a sample
//! (`verifyfraction`, default 1/16) also regenerates and compares every field's bytes. A scan must
//! start at the (existing) start key, return strictly ascending keys, and return exactly the
//! requested count unless the key space ends (checked by a second look past the last key).

use crate::engine::{Durability, Engine};
use crate::gen::{fnvhash64, AckCounter, IntGen, KeyChooser, Rng, ScrambledZipfian, Zipfian, ZIPFIAN_CONSTANT};
use crate::measure::{self, Measurements};
use crate::props::Props;
use crate::record;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
/// The CoreWorkload properties this harness honours (plus its own, see main.rs USAGE).
pub struct Config {
    pub recordcount: u64,
    pub operationcount: u64,
    pub fieldcount: usize,
    pub fieldlen: IntGen,
    pub readallfields: bool,
    pub writeallfields: bool,
    /// Read-modify-writes run through `Engine::transact` (`rmwtransactions=true`).
    pub rmwtransactions: bool,
    pub proportions: [f64; 5], // read, update, insert, scan, rmw
    pub requestdistribution: String,
    pub ordered: bool,
    pub insertstart: u64,
    pub insertcount: u64,
    pub scanlen: IntGen,
    pub zeropadding: usize,
    pub keyprefix: String,
    pub hotspot: (f64, f64),
    pub verify: bool,
    pub verifyfraction: f64,
    pub seed: u64,
    pub threads: usize,
    pub status: Option<Duration>,
    pub syncinterval: Duration,
    /// YCSB `maxexecutiontime` (seconds): a phase stops early when it is reached.
    pub maxexecutiontime: Option<Duration>,
}

impl Config {
    pub fn from_props(p: &Props, threads: usize, status: bool) -> Result<Config, String> {
        let recordcount: u64 = p.parse_or("recordcount", 1000)?;
        let operationcount: u64 = p.parse_or("operationcount", 1000)?;
        let fieldcount: usize = p.parse_or("fieldcount", 10)?;
        if fieldcount == 0 || fieldcount > 255 {
            return Err(format!("fieldcount={fieldcount}: must be 1..=255"));
        }
        let fieldlength: i64 = p.parse_or("fieldlength", 100)?;
        let minfieldlength: i64 = p.parse_or("minfieldlength", 1)?;
        let fieldlen = match p.str_or("fieldlengthdistribution", "constant").as_str() {
            "constant" => IntGen::Constant(fieldlength),
            "uniform" => IntGen::Uniform { lo: minfieldlength, hi: fieldlength },
            "zipfian" => IntGen::Zipfian(Zipfian::new(minfieldlength, fieldlength, ZIPFIAN_CONSTANT)),
            o => return Err(format!("fieldlengthdistribution={o}: supported: constant, uniform, zipfian")),
        };
        let maxscan: i64 = p.parse_or("maxscanlength", 1000)?;
        let minscan: i64 = p.parse_or("minscanlength", 1)?;
        let scanlen = match p.str_or("scanlengthdistribution", "uniform").as_str() {
            "uniform" => IntGen::Uniform { lo: minscan, hi: maxscan },
            "zipfian" => IntGen::Zipfian(Zipfian::new(minscan, maxscan, ZIPFIAN_CONSTANT)),
            o => return Err(format!("scanlengthdistribution={o}: supported: uniform, zipfian")),
        };
        let proportions = [
            p.parse_or("readproportion", 0.95)?,
            p.parse_or("updateproportion", 0.05)?,
            p.parse_or("insertproportion", 0.0)?,
            p.parse_or("scanproportion", 0.0)?,
            p.parse_or("readmodifywriteproportion", 0.0)?,
        ];
        if proportions.iter().any(|&x: &f64| x < 0.0) || proportions.iter().sum::<f64>() <= 0.0 {
            return Err("operation proportions must be >= 0 and not all zero".into());
        }
        let requestdistribution = p.str_or("requestdistribution", "uniform");
        if !["uniform", "zipfian", "latest", "hotspot"].contains(&requestdistribution.as_str()) {
            return Err(format!(
                "requestdistribution={requestdistribution}: supported: uniform, zipfian, latest, hotspot"
            ));
        }
        let ordered = match p.str_or("insertorder", "hashed").as_str() {
            "hashed" => false,
            "ordered" => true,
            o => return Err(format!("insertorder={o}: expected hashed or ordered")),
        };
        let insertstart: u64 = p.parse_or("insertstart", 0)?;
        let insertcount: u64 = p.parse_or("insertcount", recordcount.saturating_sub(insertstart))?;
        let status_s: f64 = p.parse_or("status.interval", 10.0)?;
        let verifyfraction: f64 = p.parse_or("verifyfraction", 1.0 / 16.0)?;
        Ok(Config {
            recordcount,
            operationcount,
            fieldcount,
            fieldlen,
            readallfields: p.bool_or("readallfields", true)?,
            writeallfields: p.bool_or("writeallfields", false)?,
            rmwtransactions: p.bool_or("rmwtransactions", false)?,
            proportions,
            requestdistribution,
            ordered,
            insertstart,
            insertcount,
            scanlen,
            zeropadding: p.parse_or("zeropadding", 1)?,
            keyprefix: p.str_or("keyprefix", "user"),
            hotspot: (p.parse_or("hotspotdatafraction", 0.2)?, p.parse_or("hotspotopnfraction", 0.8)?),
            verify: p.bool_or("verify", true)?,
            verifyfraction,
            seed: p.parse_or("seed", 0x5eed_u64)?,
            threads: threads.max(1),
            status: if status { Some(Duration::from_secs_f64(status_s.max(0.1))) } else { None },
            syncinterval: Duration::from_millis(p.parse_or("syncintervalms", 10u64)?),
            maxexecutiontime: match p.parse_or("maxexecutiontime", 0u64)? {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
        })
    }
}

const STRIPES: usize = 1 << 16;
const MAX_MESSAGES: usize = 20;

pub struct Shared {
    pub engine: Box<dyn Engine>,
    pub cfg: Config,
    /// Per key: committed version (high 32 bits) and pending version (low 32 bits); 0 = unknown.
    state: Vec<AtomicU64>,
    locks: Vec<Mutex<()>>,
    pub insert_seq: AckCounter,
    load_seq: AtomicU64,
    pub done: AtomicU64,
    pub messages: Mutex<Vec<String>>,
    pub checked: AtomicU64,
    pub content_checked: AtomicU64,
}

fn pack(c: u32, p: u32) -> u64 {
    ((c as u64) << 32) | p as u64
}

impl Shared {
    pub fn new(engine: Box<dyn Engine>, cfg: Config) -> Shared {
        let cap = (cfg.insertstart + cfg.insertcount + cfg.operationcount + 1) as usize;
        let start = cfg.insertstart + cfg.insertcount;
        Shared {
            engine,
            state: (0..cap).map(|_| AtomicU64::new(0)).collect(),
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            insert_seq: AckCounter::new(start),
            load_seq: AtomicU64::new(cfg.insertstart),
            done: AtomicU64::new(0),
            messages: Mutex::new(Vec::new()),
            checked: AtomicU64::new(0),
            content_checked: AtomicU64::new(0),
            cfg,
        }
    }

    pub fn build_key(&self, keynum: u64, out: &mut Vec<u8>) {
        // YCSB buildKeyName: keyprefix + zero padding + Long.toString(hashed or ordered keynum).
        let n = if self.cfg.ordered { keynum as i64 } else { fnvhash64(keynum as i64) };
        let mut tmp = [0u8; 24];
        let mut i = tmp.len();
        let neg = n < 0;
        let mut u = n.unsigned_abs();
        loop {
            i -= 1;
            tmp[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if neg {
            i -= 1;
            tmp[i] = b'-';
        }
        let digits = &tmp[i..];
        out.clear();
        out.extend_from_slice(self.cfg.keyprefix.as_bytes());
        for _ in digits.len()..self.cfg.zeropadding {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    }

    /// Replaces the engine (e.g. to reopen with another durability), keeping the version state.
    pub fn swap_engine(&mut self, e: Box<dyn Engine>) -> Box<dyn Engine> {
        std::mem::replace(&mut self.engine, e)
    }

    /// The ops counted so far and the messages noted.
    pub fn take_messages(&self) -> Vec<String> {
        std::mem::take(&mut *self.messages.lock().unwrap())
    }

    fn lock(&self, keynum: u64) -> std::sync::MutexGuard<'_, ()> {
        let i = (keynum.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize & (STRIPES - 1);
        self.locks[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, keynum: u64) -> Option<&AtomicU64> {
        self.state.get(keynum as usize)
    }

    fn note(&self, msg: String) {
        let mut m = self.messages.lock().unwrap();
        if m.len() < MAX_MESSAGES {
            m.push(msg);
        }
    }
}

/// Per-thread client state.
struct Client<'a> {
    sh: &'a Shared,
    rng: Rng,
    m: Measurements,
    key: Vec<u8>,
    val: Vec<u8>,
    buf: Vec<u8>,
    scan_buf: Vec<u8>,
    scan_idx: Vec<(usize, usize, usize)>,
    fieldlen: IntGen,
    scanlen: IntGen,
    chooser: KeyChooser,
    cum: [f64; 5],
    local_done: u64,
    in_rmw: bool,
}

const OP_READ: usize = 0;
const OP_UPDATE: usize = 1;
const OP_INSERT: usize = 2;
const OP_SCAN: usize = 3;
const OP_RMW: usize = 4;

impl<'a> Client<'a> {
    fn new(sh: &'a Shared, tid: usize, phase: u64, chooser: KeyChooser) -> Client<'a> {
        let total: f64 = sh.cfg.proportions.iter().sum();
        let mut cum = [0.0; 5];
        let mut acc = 0.0;
        for (c, p) in cum.iter_mut().zip(sh.cfg.proportions.iter()) {
            acc += p / total;
            *c = acc;
        }
        Client {
            sh,
            rng: Rng::new(sh.cfg.seed ^ (phase << 56) ^ ((tid as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407))),
            m: Measurements::new(),
            key: Vec::with_capacity(64),
            val: Vec::with_capacity(2048),
            buf: Vec::with_capacity(2048),
            scan_buf: Vec::new(),
            scan_idx: Vec::new(),
            fieldlen: sh.cfg.fieldlen.clone(),
            scanlen: sh.cfg.scanlen.clone(),
            chooser,
            cum,
            local_done: 0,
            in_rmw: false,
        }
    }

    /// Records one latency; top-level operations also go to the overall histogram.
    #[inline]
    fn rec(&mut self, op: usize, ns: u64) {
        self.m.record(op, ns);
        if !self.in_rmw || op == measure::RMW {
            self.m.record_all(ns);
        }
    }

    fn tick(&mut self) {
        self.local_done += 1;
        if self.local_done % 256 == 0 {
            self.sh.done.fetch_add(256, Ordering::Relaxed);
        }
    }

    fn flush_done(&mut self) {
        self.sh.done.fetch_add(self.local_done % 256, Ordering::Relaxed);
    }

    fn mismatch(&mut self, op: usize, msg: String) {
        self.m.mismatch[op] += 1;
        self.sh.note(msg);
    }

    fn error(&mut self, op: usize, msg: String) {
        self.m.error[op] += 1;
        self.sh.note(format!("engine error: {msg}"));
    }

    fn sampled(&mut self) -> bool {
        self.sh.cfg.verify && self.rng.next_f64() < self.sh.cfg.verifyfraction
    }

    fn next_keynum(&mut self) -> u64 {
        loop {
            let last = self.sh.insert_seq.last_value();
            let k = self.chooser.next(&mut self.rng, last);
            if k >= 0 && k <= last {
                return k as u64;
            }
        }
    }

    /// Writes the whole record of `keynum` (insert, or update with writeallfields).
    fn write_full(&mut self, op: usize, keynum: u64) -> bool {
        let sh = self.sh;
        sh.build_key(keynum, &mut self.key);
        let _g = sh.lock(keynum);
        let slot = sh.slot(keynum);
        let committed = slot.map(|s| (s.load(Ordering::Acquire) >> 32) as u32).unwrap_or(0);
        let v = committed.wrapping_add(1).max(1);
        record::encode_full(&mut self.val, keynum, v, sh.cfg.fieldcount, &mut self.fieldlen, &mut self.rng);
        if let Some(s) = slot {
            s.store(pack(committed, v), Ordering::Release);
        }
        let t = Instant::now();
        let r = sh.engine.put(&self.key, &self.val);
        self.rec(op, t.elapsed().as_nanos() as u64);
        match r {
            Ok(()) => {
                if let Some(s) = slot {
                    s.store(pack(v, v), Ordering::Release);
                }
                self.m.ok[op] += 1;
                true
            }
            Err(e) => {
                self.error(op, e);
                false
            }
        }
    }

    /// Checks a record read for `keynum`; `window` is (committed before, pending after) when known.
    fn check_record(&mut self, op: usize, keynum: u64, window: Option<(u32, u32)>, content: bool) -> Option<u32> {
        let sh = self.sh;
        let view = match record::parse(&self.buf) {
            Ok(v) => v,
            Err(e) => {
                let key = String::from_utf8_lossy(&self.key).to_string();
                self.mismatch(op, format!("{}: key {key}: malformed record: {e}", measure::OPS[op]));
                return None;
            }
        };
        let mut err = None;
        if view.keynum != keynum {
            err = Some(format!("record belongs to keynum {}, not {keynum}", view.keynum));
        }
        let v = view.version();
        if err.is_none() {
            if let Some((lo, hi)) = window {
                if lo != 0 && (v < lo || v > hi) {
                    err = Some(format!("stale or unknown version {v}: expected {lo}..={hi} (the value last written)"));
                }
            }
        }
        if err.is_none() && content {
            sh.content_checked.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = record::check_content(&view, sh.cfg.fieldcount, &mut self.fieldlen, &mut self.rng) {
                err = Some(e);
            }
        }
        sh.checked.fetch_add(1, Ordering::Relaxed);
        match err {
            Some(e) => {
                let key = String::from_utf8_lossy(&self.key).to_string();
                self.mismatch(op, format!("{}: key {key}: {e}", measure::OPS[op]));
                None
            }
            None => Some(v),
        }
    }

    fn do_insert_load(&mut self) -> bool {
        let k = self.sh.load_seq.fetch_add(1, Ordering::Relaxed);
        if k >= self.sh.cfg.insertstart + self.sh.cfg.insertcount {
            return false;
        }
        self.write_full(measure::INSERT, k);
        self.tick();
        true
    }

    fn do_insert(&mut self) {
        let k = self.sh.insert_seq.next_value();
        self.write_full(measure::INSERT, k);
        self.sh.insert_seq.acknowledge(k);
    }

    fn do_read(&mut self) {
        let sh = self.sh;
        let k = self.next_keynum();
        sh.build_key(k, &mut self.key);
        let slot = sh.slot(k);
        let before = slot.map(|s| (s.load(Ordering::Acquire) >> 32) as u32).unwrap_or(0);
        let t = Instant::now();
        let r = sh.engine.get(&self.key, &mut self.buf);
        self.rec(measure::READ, t.elapsed().as_nanos() as u64);
        let after = slot.map(|s| s.load(Ordering::Acquire) as u32).unwrap_or(u32::MAX);
        match r {
            Ok(true) => {
                self.m.ok[measure::READ] += 1;
                if sh.cfg.verify {
                    let content = self.sampled();
                    self.check_record(measure::READ, k, Some((before, after)), content);
                }
                if !sh.cfg.readallfields {
                    // YCSB reads one random field; the record holds all of them.
                    let _f = self.rng.below(sh.cfg.fieldcount as u64);
                }
            }
            Ok(false) => {
                self.m.not_found[measure::READ] += 1;
                let key = String::from_utf8_lossy(&self.key).to_string();
                self.mismatch(measure::READ, format!("READ: key {key} (keynum {k}) not found although written"));
            }
            Err(e) => self.error(measure::READ, e),
        }
    }

    /// Checks the record of `k` read into `buf` (its last committed version `committed`), and
    /// encodes into `val` the record with one field replaced by the next version, which it marks
    /// pending in the key's slot. `None` when the check failed (already reported).
    fn encode_field_update(&mut self, op_metric: usize, k: u64, committed: u32) -> Option<u32> {
        let sh = self.sh;
        let content = self.sampled();
        let old_v = self.check_record(op_metric, k, Some((committed, committed)), content)?;
        let v = committed.max(old_v).wrapping_add(1).max(1);
        let which = self.rng.below(sh.cfg.fieldcount as u64) as usize;
        {
            let view = record::parse(&self.buf).unwrap();
            record::encode_update(&mut self.val, &view, which, v, &mut self.fieldlen, &mut self.rng);
        }
        if let Some(s) = sh.slot(k) {
            s.store(pack(committed, v), Ordering::Release);
        }
        Some(v)
    }

    /// One field (writeallfields=false): read the record, replace the field, write it back, all
    /// under the key's lock; the UPDATE latency covers both engine calls.
    fn update_one_field(&mut self, op_metric: usize, k: u64, t0: Instant, split: bool) -> bool {
        let sh = self.sh;
        let slot = sh.slot(k);
        let committed = slot.map(|s| (s.load(Ordering::Acquire) >> 32) as u32).unwrap_or(0);
        let tr = Instant::now();
        let r = sh.engine.get(&self.key, &mut self.buf);
        if split {
            self.rec(measure::READ, tr.elapsed().as_nanos() as u64);
        }
        match r {
            Ok(true) => {
                if split {
                    self.m.ok[measure::READ] += 1;
                }
            }
            Ok(false) => {
                let key = String::from_utf8_lossy(&self.key).to_string();
                self.mismatch(op_metric, format!("UPDATE: key {key} (keynum {k}) not found although written"));
                return false;
            }
            Err(e) => {
                self.error(op_metric, e);
                return false;
            }
        }
        let Some(v) = self.encode_field_update(op_metric, k, committed) else { return false };
        let tw = Instant::now();
        let r = sh.engine.put(&self.key, &self.val);
        let now = Instant::now();
        if split {
            self.rec(measure::UPDATE, (now - tw).as_nanos() as u64);
        } else {
            self.rec(measure::UPDATE, (now - t0).as_nanos() as u64);
        }
        match r {
            Ok(()) => {
                if let Some(s) = slot {
                    s.store(pack(v, v), Ordering::Release);
                }
                self.m.ok[measure::UPDATE] += 1;
                true
            }
            Err(e) => {
                self.error(measure::UPDATE, e);
                false
            }
        }
    }

    /// [`Self::update_one_field`] for a read-modify-write, through `Engine::transact`: the read,
    /// the check and the new field inside one transaction (per-key lock held, as without).
    fn update_one_field_in_transaction(&mut self, k: u64) -> bool {
        let sh = self.sh;
        let slot = sh.slot(k);
        let committed = slot.map(|s| (s.load(Ordering::Acquire) >> 32) as u32).unwrap_or(0);
        let key = std::mem::take(&mut self.key);
        let (mut found, mut written) = (false, None);
        let tw = Instant::now();
        let r = sh.engine.transact(&key, &mut |old| {
            let old = old?;
            found = true;
            self.buf.clear();
            self.buf.extend_from_slice(old);
            written = Some(self.encode_field_update(measure::RMW, k, committed)?);
            Some(self.val.clone())
        });
        self.key = key;
        self.rec(measure::UPDATE, tw.elapsed().as_nanos() as u64);
        match (r, written) {
            (Ok(true), Some(v)) => {
                if let Some(s) = slot {
                    s.store(pack(v, v), Ordering::Release);
                }
                self.m.ok[measure::READ] += 1;
                self.m.ok[measure::UPDATE] += 1;
                true
            }
            (Ok(_), _) => {
                if !found {
                    self.mismatch(measure::RMW, format!("READ-MODIFY-WRITE: keynum {k} not found"));
                }
                false
            }
            (Err(error), _) => {
                self.error(measure::UPDATE, error);
                false
            }
        }
    }

    fn do_update(&mut self) {
        let k = self.next_keynum();
        if self.sh.cfg.writeallfields {
            self.write_full(measure::UPDATE, k);
        } else {
            self.sh.build_key(k, &mut self.key);
            let _g = self.sh.lock(k);
            let t0 = Instant::now();
            self.update_one_field(measure::UPDATE, k, t0, false);
        }
    }

    fn do_rmw(&mut self) {
        let k = self.next_keynum();
        let sh = self.sh;
        sh.build_key(k, &mut self.key);
        let _g = sh.lock(k);
        let t0 = Instant::now();
        self.in_rmw = true;
        let ok = if sh.cfg.writeallfields {
            // Read the record (checked), then write all fields.
            let slot = sh.slot(k);
            let committed = slot.map(|s| (s.load(Ordering::Acquire) >> 32) as u32).unwrap_or(0);
            let tr = Instant::now();
            let r = sh.engine.get(&self.key, &mut self.buf);
            self.rec(measure::READ, tr.elapsed().as_nanos() as u64);
            match r {
                Ok(true) => {
                    self.m.ok[measure::READ] += 1;
                    let content = self.sampled();
                    if self.check_record(measure::RMW, k, Some((committed, committed)), content).is_some() {
                        drop(_g);
                        // write_full takes the lock itself.
                        self.write_full(measure::UPDATE, k)
                    } else {
                        false
                    }
                }
                Ok(false) => {
                    self.mismatch(measure::RMW, format!("READ-MODIFY-WRITE: keynum {k} not found"));
                    false
                }
                Err(e) => {
                    self.error(measure::RMW, e);
                    false
                }
            }
        } else if sh.cfg.rmwtransactions {
            self.update_one_field_in_transaction(k)
        } else {
            self.update_one_field(measure::RMW, k, t0, true)
        };
        self.rec(measure::RMW, t0.elapsed().as_nanos() as u64);
        self.in_rmw = false;
        if ok {
            self.m.ok[measure::RMW] += 1;
        }
    }

    fn do_scan(&mut self) {
        let sh = self.sh;
        let k = self.next_keynum();
        let len = self.scanlen.next(&mut self.rng).max(1) as usize;
        sh.build_key(k, &mut self.key);
        let inserts_before = sh.insert_seq.issued();
        self.scan_buf.clear();
        self.scan_idx.clear();
        let (buf, idx) = (&mut self.scan_buf, &mut self.scan_idx);
        let t = Instant::now();
        let r = sh.engine.scan(&self.key, len, &mut |key, val| {
            let s = buf.len();
            buf.extend_from_slice(key);
            buf.extend_from_slice(val);
            idx.push((s, key.len(), val.len()));
        });
        self.rec(measure::SCAN, t.elapsed().as_nanos() as u64);
        if let Err(e) = r {
            self.error(measure::SCAN, e);
            return;
        }
        self.m.ok[measure::SCAN] += 1;
        if !sh.cfg.verify {
            return;
        }
        let key_s = String::from_utf8_lossy(&self.key).to_string();
        let n = self.scan_idx.len();
        let key_at = |b: &[u8], (s, kl, _): (usize, usize, usize)| b[s..s + kl].to_vec();
        if n == 0 || key_at(&self.scan_buf, self.scan_idx[0]) != self.key {
            let got = if n == 0 {
                "nothing".to_string()
            } else {
                String::from_utf8_lossy(&key_at(&self.scan_buf, self.scan_idx[0])).to_string()
            };
            self.mismatch(measure::SCAN, format!("SCAN from existing key {key_s}: first key is {got}"));
            return;
        }
        if n > len {
            self.mismatch(measure::SCAN, format!("SCAN from {key_s}: asked for {len} records, got {n}"));
            return;
        }
        for i in 1..n {
            let (a, b) = (self.scan_idx[i - 1], self.scan_idx[i]);
            if self.scan_buf[a.0..a.0 + a.1] >= self.scan_buf[b.0..b.0 + b.1] {
                self.mismatch(measure::SCAN, format!("SCAN from {key_s}: keys not strictly ascending at position {i}"));
                return;
            }
        }
        if n < len {
            // Fewer than asked: the key space must end at the last key returned.
            let last = key_at(&self.scan_buf, self.scan_idx[n - 1]);
            let mut more = 0;
            if let Err(e) = sh.engine.scan(&last, 2, &mut |_, _| more += 1) {
                self.error(measure::SCAN, e);
                return;
            }
            if more > 1 && sh.insert_seq.issued() == inserts_before {
                self.mismatch(
                    measure::SCAN,
                    format!("SCAN from {key_s}: asked for {len}, got {n}, but more keys follow"),
                );
                return;
            }
        }
        // Sampled: check every returned record's structure, key and content.
        if self.sampled() {
            for i in 0..n {
                let (s, kl, vl) = self.scan_idx[i];
                self.buf.clear();
                self.buf.extend_from_slice(&self.scan_buf[s + kl..s + kl + vl]);
                let rk = self.scan_buf[s..s + kl].to_vec();
                let keynum = match record::parse(&self.buf) {
                    Ok(v) => v.keynum,
                    Err(e) => {
                        self.mismatch(
                            measure::SCAN,
                            format!("SCAN: record for {} malformed: {e}", String::from_utf8_lossy(&rk)),
                        );
                        return;
                    }
                };
                sh.build_key(keynum, &mut self.key);
                if self.key != rk {
                    self.mismatch(
                        measure::SCAN,
                        format!("SCAN: value under {} belongs to another key", String::from_utf8_lossy(&rk)),
                    );
                    return;
                }
                if self.check_record(measure::SCAN, keynum, None, true).is_none() {
                    return;
                }
            }
        }
    }

    fn do_transaction(&mut self) {
        let u = self.rng.next_f64();
        let op = self.cum.iter().position(|&c| u < c).unwrap_or(4);
        match op {
            OP_READ => self.do_read(),
            OP_UPDATE => self.do_update(),
            OP_INSERT => self.do_insert(),
            OP_SCAN => self.do_scan(),
            OP_RMW => self.do_rmw(),
            _ => unreachable!(),
        }
        self.tick();
    }
}

pub fn make_chooser(cfg: &Config) -> Result<KeyChooser, String> {
    let lo = cfg.insertstart as i64;
    let n = cfg.insertcount.max(1) as i64;
    Ok(match cfg.requestdistribution.as_str() {
        "uniform" => KeyChooser::Uniform { lo, hi: lo + n - 1 },
        "zipfian" => {
            let expected_new =
                (cfg.operationcount as f64 * (cfg.proportions[2] / cfg.proportions.iter().sum::<f64>()) * 2.0) as i64;
            KeyChooser::Zipfian(ScrambledZipfian::new(lo, lo + n + expected_new))
        }
        "latest" => {
            let last = (cfg.insertstart + cfg.insertcount) as i64 - 1;
            KeyChooser::Latest(Zipfian::new(0, (last - 1).max(1), ZIPFIAN_CONSTANT))
        }
        "hotspot" => {
            let (data, opn) = cfg.hotspot;
            let hot = (n as f64 * data) as i64;
            KeyChooser::Hotspot { lo, hot, cold: n - hot, hot_opn: opn }
        }
        o => return Err(format!("requestdistribution={o} not supported")),
    })
}

pub struct Outcome {
    pub runtime_ms: f64,
    pub ops: u64,
    pub m: Measurements,
    pub sync_m: Option<Measurements>,
}

/// Runs one phase with `cfg.threads` client threads. `load`: inserts insertstart..+insertcount.
pub fn run_phase(sh: &Shared, load: bool, durability: Durability) -> Result<Outcome, String> {
    let threads = sh.cfg.threads;
    let chooser = make_chooser(&sh.cfg)?;
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let phase_ops = if load { sh.cfg.insertcount } else { sh.cfg.operationcount };
    let result = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for tid in 0..threads {
            let chooser = chooser.clone();
            let barrier = &barrier;
            let my_ops = phase_ops / threads as u64 + u64::from((tid as u64) < phase_ops % threads as u64);
            handles.push(s.spawn(move || {
                let mut c = Client::new(sh, tid, if load { 1 } else { 2 }, chooser);
                barrier.wait();
                let deadline = sh.cfg.maxexecutiontime.map(|d| Instant::now() + d);
                let over = |n: u64| n % 256 == 0 && deadline.is_some_and(|d| Instant::now() >= d);
                let mut n = 0u64;
                if load {
                    while !over(n) && c.do_insert_load() {
                        n += 1;
                    }
                } else {
                    while n < my_ops && !over(n) {
                        c.do_transaction();
                        n += 1;
                    }
                }
                c.flush_done();
                (c.m, n)
            }));
        }
        // Group durability: the harness's syncer makes all writes durable every syncinterval.
        let syncer = (durability == Durability::Group).then(|| {
            let stop = &stop;
            s.spawn(move || {
                let mut m = Measurements::new();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(sh.cfg.syncinterval);
                    let t = Instant::now();
                    match sh.engine.sync() {
                        Ok(()) => {
                            m.record(measure::COMMIT, t.elapsed().as_nanos() as u64);
                            m.ok[measure::COMMIT] += 1;
                        }
                        Err(e) => {
                            m.error[measure::COMMIT] += 1;
                            sh.note(format!("sync error: {e}"));
                        }
                    }
                }
                m
            })
        });
        let status = sh.cfg.status.map(|iv| {
            let stop = &stop;
            s.spawn(move || {
                let start = Instant::now();
                let mut last = (start, 0u64);
                let mut next = start + iv;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    let now = Instant::now();
                    if now >= next {
                        let d = sh.done.load(Ordering::Relaxed);
                        let rate = (d - last.1) as f64 / (now - last.0).as_secs_f64();
                        eprintln!("{} sec: {d} operations; {rate:.1} current ops/sec", (now - start).as_secs());
                        last = (now, d);
                        next += iv;
                    }
                }
            })
        });
        barrier.wait();
        let t0 = Instant::now();
        let mut m = Measurements::new();
        let mut ops = 0;
        for h in handles {
            let (tm, n) = h.join().map_err(|_| "client thread panicked".to_string())?;
            m.merge(&tm);
            ops += n;
        }
        let runtime = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let sync_m = syncer.map(|h| h.join().unwrap());
        if let Some(h) = status {
            let _ = h.join();
        }
        Ok::<_, String>(Outcome { runtime_ms: runtime.as_secs_f64() * 1000.0, ops, m, sync_m })
    })?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_ycsb_build_key_name() {
        let mut p = Props::new();
        p.set("insertorder", "ordered");
        p.set("zeropadding", "5");
        let cfg = Config::from_props(&p, 1, false).unwrap();
        let sh = Shared::new(Box::new(crate::engine::Nothing), cfg);
        let mut k = Vec::new();
        sh.build_key(42, &mut k);
        assert_eq!(k, b"user00042");
        let mut p = Props::new();
        p.set("keyprefix", "k");
        let sh = Shared::new(Box::new(crate::engine::Nothing), Config::from_props(&p, 1, false).unwrap());
        sh.build_key(7, &mut k);
        assert_eq!(String::from_utf8(k).unwrap(), format!("k{}", fnvhash64(7)));
    }
}
