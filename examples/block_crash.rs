//! In-guest program of the block-level crash tier (issue 16): a deterministic daxkv workload,
//! a replayer for dm-log-writes logs that checks the store at every flush/FUA point and at
//! sampled subsets of the writes between them, I/O-error and ENOSPC scenarios, and the
//! power-cut rounds of the DAX path. Run by `scripts/dax-vm.sh` (block and daxcut boots) and
//! `scripts/block-crash.sh`; see docs/dax.md ("The block-level tier").
//!
//! ```text
//! block_crash mark <dm-name> <text>                 dm-log-writes mark (DM_TARGET_MSG ioctl)
//! block_crash workload <dir> --seed S --ops N [--mark DM] [--coverage]
//!                                                   run ops 0..N on <dir>/store.db; after each
//!                                                   acknowledged op c, mark `ack:<c+1>`
//! block_crash replay --log DEV --dev DEV --cow DEV --fs FS --seed S --ops N
//!                    [--points P] [--subsets K] [--img-seed X] [--plant-loss M] [--keep-going]
//!                                                   replay the log, check P flush points (0 =
//!                                                   every one) and K subset images before each
//! block_crash ioerr <dir> --seed S --ops N --fault-at K --fault-cmd CMD --mode eio|drop
//!                                                   acknowledged ops before the fault, then the
//!                                                   fault; prints `ACKED <c>` and `RESULT ...`
//! block_crash verify <dir> --seed S --ops N --acked C [--exact]
//!                                                   the store must hold exactly S(m), m >= C
//!                                                   (m == C or C+1 with --exact)
//! block_crash enospc <dir> --filler PATH            growth until NoSpace, reopen, free, reopen
//! block_crash daxround <dir> --seed S --ops N --acked C
//!                                                   verify (if the store exists), then go on
//!                                                   from there printing `ACK <c>` (DAX rounds)
//! ```
//!
//! Every check prints `PASS <name>` or `FAIL <name>: why`; the exit status is non-zero on any
//! failure. Nothing here depends on the wall clock: the workload and the images come from seeds.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use daxkv::{Db, Durability, Error, FlushModel, Options, WriteBatch};

// ------------------------------------------------------------------ deterministic workload

/// splitmix64: small, seedable, good enough for workloads and sampling.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        key: u32,
        len: u32,
    },
    Delete {
        key: u32,
    },
    /// An atomic batch; `None` deletes. Keys are distinct.
    Batch(Vec<(u32, Option<u32>)>),
    /// `Db::compact`: no change to the contents, only to where they live.
    Compact,
}

/// The workload of `n` ops for `seed`, in three phases: growth (large values over 128 keys),
/// shrinking (most keys deleted, then compact: segments freed and punched), and a mixed phase
/// over 48 keys with batches and compactions (freed segments reused).
fn gen_ops(seed: u64, n: usize) -> Vec<Op> {
    let mut r = Rng::new(seed);
    let a_end = n * 45 / 100;
    let b_end = n * 60 / 100;
    let mut ops = Vec::with_capacity(n);
    let small = |r: &mut Rng| r.range(16, 4096) as u32;
    let big = |r: &mut Rng| r.range(100_000, 400_000) as u32;
    for i in 0..n {
        let op = if i < a_end {
            let key = r.below(128) as u32;
            match r.below(20) {
                0 => Op::Delete { key },
                1 => {
                    let mut keys: Vec<u32> = (0..r.range(2, 5)).map(|_| r.below(128) as u32).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    Op::Batch(keys.into_iter().map(|k| (k, Some(small(&mut r)))).collect())
                }
                x if x < 12 => Op::Put { key, len: big(&mut r) },
                _ => Op::Put { key, len: small(&mut r) },
            }
        } else if i < b_end {
            if i == b_end - 1 || i == (a_end + b_end) / 2 {
                Op::Compact
            } else {
                // delete keys 16..128 four at a time, a few overwrites of the survivors
                let first = 16 + ((i - a_end) * 4 % 112) as u32;
                if r.below(8) == 0 {
                    Op::Put { key: r.below(16) as u32, len: small(&mut r) }
                } else {
                    Op::Batch((first..first + 4).map(|k| (k, None)).collect())
                }
            }
        } else {
            let key = r.below(48) as u32;
            if (i - b_end) % 40 == 39 {
                Op::Compact
            } else {
                match r.below(10) {
                    0 => Op::Delete { key },
                    1 | 2 => {
                        let mut keys: Vec<u32> = (0..r.range(2, 6)).map(|_| r.below(48) as u32).collect();
                        keys.sort_unstable();
                        keys.dedup();
                        Op::Batch(
                            keys.into_iter()
                                .map(|k| (k, if r.below(4) == 0 { None } else { Some(small(&mut r)) }))
                                .collect(),
                        )
                    }
                    3 | 4 => Op::Put { key, len: r.range(20_000, 120_000) as u32 },
                    _ => Op::Put { key, len: small(&mut r) },
                }
            }
        };
        ops.push(op);
    }
    ops
}

fn key_bytes(key: u32) -> Vec<u8> {
    format!("key{key:04}").into_bytes()
}

fn key_id(key: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(key).ok()?;
    let n = s.strip_prefix("key")?;
    if n.len() != 4 {
        return None;
    }
    n.parse().ok()
}

/// The value op `op` writes to `key`: a readable header, then seeded bytes.
fn value_bytes(seed: u64, op: u32, key: u32, len: u32) -> Vec<u8> {
    let mut v = format!("op{op}:key{key}:").into_bytes();
    let mut r = Rng::new(seed ^ ((op as u64) << 32) ^ key as u64 ^ 0x5eed);
    while v.len() < len as usize {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(len as usize);
    v
}

/// What the store holds after some prefix of the ops: key -> (op index, value length).
type State = BTreeMap<u32, (u32, u32)>;

fn apply(state: &mut State, i: usize, op: &Op) {
    let i = i as u32;
    match op {
        Op::Put { key, len } => {
            state.insert(*key, (i, *len));
        }
        Op::Delete { key } => {
            state.remove(key);
        }
        Op::Batch(items) => {
            for (key, len) in items {
                match len {
                    Some(len) => state.insert(*key, (i, *len)),
                    None => state.remove(key),
                };
            }
        }
        Op::Compact => {}
    }
}

/// states[c] = the contents after the first c ops.
fn all_states(ops: &[Op]) -> Vec<State> {
    let mut states = vec![State::new()];
    let mut s = State::new();
    for (i, op) in ops.iter().enumerate() {
        apply(&mut s, i, op);
        states.push(s.clone());
    }
    states
}

fn run_op(db: &Db, seed: u64, i: usize, op: &Op) -> Result<(), Error> {
    match op {
        Op::Put { key, len } => db.put(&key_bytes(*key), &value_bytes(seed, i as u32, *key, *len)),
        Op::Delete { key } => db.delete(&key_bytes(*key)),
        Op::Batch(items) => {
            let mut b = WriteBatch::new();
            for (key, len) in items {
                match len {
                    Some(len) => b.put(&key_bytes(*key), &value_bytes(seed, i as u32, *key, *len)),
                    None => b.delete(&key_bytes(*key)),
                };
            }
            db.write(b)
        }
        Op::Compact => db.compact().map(|_| ()),
    }
}

fn workload_options() -> Options {
    Options::default().durability(Durability::Immediate).max_space_amplification(1.1)
}

fn store_path(dir: &Path) -> PathBuf {
    dir.join("store.db")
}

// ------------------------------------------------------------------ checks and output

#[derive(Default)]
struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, why: impl FnOnce() -> String) -> bool {
        if ok {
            println!("PASS {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}: {}", why());
        }
        ok
    }
}

/// What one recovered store holds, read through the public API.
fn read_store(path: &Path) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    daxkv::check::check_file(path).map_err(|e| format!("daxkv check: {e}"))?;
    let db = Db::open(path, Options::default().background_cleaning(false)).map_err(|e| format!("open: {e}"))?;
    let mut out = BTreeMap::new();
    for item in db.iter() {
        let (k, v) = item.map_err(|e| format!("iter: {e}"))?;
        out.insert(k.to_vec(), v.to_vec());
    }
    db.abandon();
    Ok(out)
}

/// The keys whose recovered value differs from `state` (missing, extra, stale or torn).
fn mismatches(seed: u64, got: &BTreeMap<Vec<u8>, Vec<u8>>, state: &State) -> Vec<u32> {
    let mut bad = Vec::new();
    for (k, v) in got {
        match key_id(k) {
            Some(id) => match state.get(&id) {
                Some(&(op, len)) if v[..] == value_bytes(seed, op, id, len)[..] => {}
                _ => bad.push(id),
            },
            None => bad.push(u32::MAX),
        }
    }
    for id in state.keys() {
        if !got.contains_key(&key_bytes(*id)) {
            bad.push(*id);
        }
    }
    bad.sort_unstable();
    bad.dedup();
    bad
}

/// Judges a recovered store against "exactly S(c) or S(c+1)". Returns (lost acknowledged
/// keys, torn in-flight op) — both zero when the image is good.
fn judge(seed: u64, got: &BTreeMap<Vec<u8>, Vec<u8>>, states: &[State], c: usize) -> (usize, bool, String) {
    let a = mismatches(seed, got, &states[c]);
    if a.is_empty() {
        return (0, false, String::new());
    }
    let Some(next) = states.get(c + 1) else {
        return (a.len(), false, format!("keys {a:?} differ from the {c} acknowledged ops"));
    };
    let b = mismatches(seed, got, next);
    if b.is_empty() {
        return (0, false, String::new());
    }
    // a key wrong under both candidate states is a lost (or stale, or phantom) acknowledged write
    let lost: Vec<u32> = a.iter().filter(|k| b.contains(k)).copied().collect();
    let torn = lost.is_empty();
    (lost.len(), torn, format!("vs S({c}): keys {a:?}; vs S({}): keys {b:?}", c + 1))
}

// ------------------------------------------------------------------ dm ioctls and tools

/// `dmsetup message <name> 0 mark <text>` as a DM_TARGET_MSG ioctl (no process per ack).
fn dm_mark(name: &str, text: &str) -> Result<(), String> {
    const HDR: usize = 312; // sizeof(struct dm_ioctl)
    const DM_TARGET_MSG: libc::c_ulong = 0xC138_FD0E; // _IOWR(0xfd, 14, struct dm_ioctl)
    let msg = format!("mark {text}");
    let mut len = HDR + 8 + msg.len() + 1;
    len = len.div_ceil(8) * 8;
    let mut buf = vec![0u8; len];
    buf[0..4].copy_from_slice(&4u32.to_ne_bytes()); // version 4.0.0
    buf[12..16].copy_from_slice(&(len as u32).to_ne_bytes()); // data_size
    buf[16..20].copy_from_slice(&(HDR as u32).to_ne_bytes()); // data_start
    if name.len() >= 128 {
        return Err("dm name too long".into());
    }
    buf[48..48 + name.len()].copy_from_slice(name.as_bytes());
    buf[HDR + 8..HDR + 8 + msg.len()].copy_from_slice(msg.as_bytes()); // sector 0, message
    let ctl = OpenOptions::new().read(true).write(true).open("/dev/mapper/control").map_err(|e| e.to_string())?;
    use std::os::fd::AsRawFd;
    // SAFETY: buf is a valid, writable dm_ioctl buffer of data_size bytes for the whole call.
    let rc = unsafe { libc::ioctl(ctl.as_raw_fd(), DM_TARGET_MSG, buf.as_mut_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        let e = std::io::Error::last_os_error();
        // fall back on the tool (e.g. a kernel that refuses the 4.0.0 header), and say so once
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            println!("dm_mark: DM_TARGET_MSG ioctl failed ({e}); falling back on `dmsetup message`");
        }
        let out = Command::new("dmsetup").args(["message", name, "0", "mark", text]).output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err(format!("DM_TARGET_MSG on {name}: {e}, and dmsetup message failed")),
        }
    }
}

fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd} {}: {} {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// `/dev/dm-N` of the device-mapper device `name` (no udev in the guest).
fn dm_node(name: &str) -> Result<String, String> {
    for e in std::fs::read_dir("/sys/block").map_err(|e| e.to_string())?.flatten() {
        let f = e.path().join("dm/name");
        if let Ok(n) = std::fs::read_to_string(&f) {
            if n.trim() == name {
                return Ok(format!("/dev/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    Err(format!("no dm device named {name}"))
}

fn dev_sectors(dev: &str) -> Result<u64, String> {
    let base = Path::new(dev).file_name().unwrap().to_string_lossy().to_string();
    let s = std::fs::read_to_string(format!("/sys/block/{base}/size")).map_err(|e| format!("{dev}: {e}"))?;
    s.trim().parse().map_err(|e| format!("{dev} size: {e}"))
}

// ------------------------------------------------------------------ the dm-log-writes log

const LOG_FLUSH: u64 = 1 << 0;
const LOG_FUA: u64 = 1 << 1;
const LOG_DISCARD: u64 = 1 << 2;
const LOG_MARK: u64 = 1 << 3;
const LOG_MAGIC: u64 = 0x006a_7366_7773_6872;

#[derive(Debug)]
struct Entry {
    /// Byte offset of the entry's data in the log device.
    data_at: u64,
    /// Target sector and length, in units of the log's sector size.
    sector: u64,
    nr: u64,
    flags: u64,
    mark: Option<String>,
}

/// Parses the log (format of the kernel's log-writes target: a super sector, then per entry
/// one header sector and the data sectors). Our own reading of the documented layout.
fn parse_log(log: &File) -> Result<(u64, Vec<Entry>), String> {
    let mut sup = [0u8; 28];
    log.read_exact_at(&mut sup, 0).map_err(|e| format!("log super: {e}"))?;
    let le64 = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    if le64(&sup[0..]) != LOG_MAGIC {
        return Err(format!("log super: bad magic {:#x}", le64(&sup[0..])));
    }
    if le64(&sup[8..]) != 1 {
        return Err(format!("log super: version {}", le64(&sup[8..])));
    }
    let nr_entries = le64(&sup[16..]);
    let ss = u32::from_le_bytes(sup[24..28].try_into().unwrap()) as u64;
    if !(512..=65536).contains(&ss) || !ss.is_power_of_two() {
        return Err(format!("log super: sector size {ss}"));
    }
    let mut entries = Vec::with_capacity(nr_entries as usize);
    let mut pos = ss;
    let mut hdr = vec![0u8; ss as usize];
    for i in 0..nr_entries {
        log.read_exact_at(&mut hdr, pos).map_err(|e| format!("log entry {i} at {pos}: {e}"))?;
        let (sector, nr, flags, data_len) = (le64(&hdr[0..]), le64(&hdr[8..]), le64(&hdr[16..]), le64(&hdr[24..]));
        pos += ss;
        let mark = if flags & LOG_MARK != 0 {
            let n = (data_len as usize).min(ss as usize - 32);
            Some(String::from_utf8_lossy(&hdr[32..32 + n]).into_owned())
        } else {
            None
        };
        entries.push(Entry { data_at: pos, sector, nr, flags, mark });
        if flags & (LOG_DISCARD | LOG_MARK) == 0 {
            pos += nr * ss;
        }
    }
    Ok((ss, entries))
}

// ------------------------------------------------------------------ the replayer

struct Replay {
    log: File,
    ss: u64,
    seed: u64,
    fs: String,
    cow: String,
    dev: String,
    sectors: u64,
    states: Vec<State>,
    mnt: PathBuf,
    images: usize,
    lost: usize,
    bad_images: usize,
    keep_going: bool,
    /// Seconds spent per step (informational: where a crash image's time goes).
    secs: [f64; 4],
    /// Images built (planted ones included), the divisor of `secs`.
    built: usize,
}

/// A write applied to an image, or reverted: (byte offset on the device, bytes).
type Write = (u64, Vec<u8>);

impl Replay {
    fn data(&self, e: &Entry) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; (e.nr * self.ss) as usize];
        if e.flags & LOG_DISCARD == 0 {
            self.log.read_exact_at(&mut buf, e.data_at).map_err(|err| format!("log data: {err}"))?;
        } // a discard reads back as zeroes here
        Ok(buf)
    }

    /// Builds a snapshot of the replay device, applies `extra` on top, mounts it, and judges the
    /// store against `c` acknowledged ops. Returns the acknowledged keys lost and whether the
    /// op in flight was torn (`(0, false)`: a good image); `Err` when the image does not mount
    /// or the store does not open or check.
    fn image(&mut self, what: &str, c: usize, extra: &[Write], expect_loss: bool) -> Result<(usize, bool), String> {
        let name = "bcsnap";
        let table = format!("0 {} snapshot {} {} N 8", self.sectors, self.dev, self.cow);
        let mut t = std::time::Instant::now();
        let mut lap = |secs: &mut [f64; 4], i: usize| {
            secs[i] += t.elapsed().as_secs_f64();
            t = std::time::Instant::now();
        };
        sh("dmsetup", &["create", name, "--table", &table])?;
        let mut secs = self.secs;
        let result = (|| -> Result<(usize, bool), String> {
            let node = dm_node(name)?;
            if !extra.is_empty() {
                let f = OpenOptions::new().write(true).open(&node).map_err(|e| format!("{node}: {e}"))?;
                for (at, bytes) in extra {
                    f.write_all_at(bytes, *at).map_err(|e| format!("{node}: {e}"))?;
                }
                f.sync_all().map_err(|e| format!("{node}: fsync {e}"))?;
            }
            lap(&mut secs, 0);
            sh("mount", &["-t", &self.fs, &node, self.mnt.to_str().unwrap()]).map_err(|e| format!("mount: {e}"))?;
            lap(&mut secs, 1);
            let store = self.mnt.join("daxkv").join("store.db");
            let verdict = if !store.exists() && c == 0 {
                Ok((0, false, String::new()))
            } else {
                read_store(&store).map(|got| judge(self.seed, &got, &self.states, c))
            };
            if verdict.as_ref().map_or(true, |v| v.0 > 0 || v.1) && !expect_loss {
                describe_store(&store);
            }
            lap(&mut secs, 2);
            let um = sh("umount", &[self.mnt.to_str().unwrap()]);
            let (lost, torn, why) = verdict?;
            um?;
            if (lost > 0 || torn) && !expect_loss {
                println!("VIOLATION {what} ({c} acknowledged ops): {lost} acknowledged keys lost, torn={torn}: {why}");
            }
            Ok((lost, torn))
        })();
        let mut rm = sh("dmsetup", &["remove", name]);
        for _ in 0..20 {
            if rm.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            rm = sh("dmsetup", &["remove", name]);
        }
        lap(&mut secs, 3);
        self.secs = secs;
        self.built += 1;
        rm?;
        result
    }

    /// Counts one image judged against `c` acknowledged ops. An image whose store does not open
    /// (or does not mount) loses every acknowledged key: none of them can be read.
    fn count(&mut self, what: &str, c: usize, r: Result<(usize, bool), String>) -> Result<(), String> {
        self.images += 1;
        match r {
            Ok((0, false)) => Ok(()),
            Ok((n, _)) => {
                self.lost += n;
                self.bad_images += 1;
                if self.keep_going {
                    Ok(())
                } else {
                    Err(format!("{what}: acknowledged writes lost"))
                }
            }
            Err(e) => {
                self.bad_images += 1;
                let keys = self.states[c].len();
                self.lost += keys;
                println!("VIOLATION {what}: {e} (all {keys} acknowledged keys unreadable)");
                if self.keep_going {
                    Ok(())
                } else {
                    Err(format!("{what}: {e}"))
                }
            }
        }
    }
}

/// On a violation: the store file's size and the first bytes of each 2 MiB segment (where its
/// SegmentHead record lives), to tell a stale head from a torn one.
fn describe_store(path: &Path) {
    let Ok(f) = File::open(path) else {
        println!("  store: cannot open {}", path.display());
        return;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    println!("  store: {} bytes", len);
    for seg in 0..len.div_ceil(2 << 20) {
        let mut b = [0u8; 48];
        if f.read_exact_at(&mut b, seg * (2 << 20)).is_ok() {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            println!("  segment {seg} at {}: {hex}", seg * (2 << 20));
        }
    }
}

struct ReplayArgs {
    log: String,
    dev: String,
    cow: String,
    fs: String,
    seed: u64,
    ops: usize,
    points: usize,
    subsets: usize,
    img_seed: u64,
    plant_loss: usize,
    keep_going: bool,
    only_subsets: bool,
}

fn replay(c: &mut Checks, a: &ReplayArgs) -> Result<(), String> {
    let log = File::open(&a.log).map_err(|e| format!("{}: {e}", a.log))?;
    let (ss, entries) = parse_log(&log)?;
    let ops = gen_ops(a.seed, a.ops);
    let mut r = Replay {
        log,
        ss,
        seed: a.seed,
        fs: a.fs.clone(),
        cow: a.cow.clone(),
        dev: a.dev.clone(),
        sectors: dev_sectors(&a.dev)?,
        states: all_states(&ops),
        mnt: PathBuf::from("/mnt/img"),
        images: 0,
        lost: 0,
        bad_images: 0,
        keep_going: a.keep_going,
        secs: [0.0; 4],
        built: 0,
    };
    std::fs::create_dir_all(&r.mnt).map_err(|e| e.to_string())?;
    // flush/FUA points from the `workload` mark on (before it: mkfs, mount, store creation)
    let start =
        entries.iter().position(|e| e.mark.as_deref() == Some("workload")).ok_or("no `workload` mark in the log")?;
    let points: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| *i > start && e.flags & (LOG_FLUSH | LOG_FUA) != 0)
        .map(|(i, _)| i)
        .collect();
    let n_marks = entries.iter().filter(|e| e.mark.is_some()).count();
    let writes = entries.iter().filter(|e| e.flags & (LOG_MARK) == 0 && e.nr > 0).count();
    let bytes: u64 = entries.iter().filter(|e| e.flags & (LOG_MARK | LOG_DISCARD) == 0).map(|e| e.nr * ss).sum();
    println!(
        "log: {} entries, sector size {ss}, {writes} writes ({:.1} MiB), {} flush/FUA points in the workload, {n_marks} marks",
        entries.len(),
        bytes as f64 / 1048576.0,
        points.len()
    );
    // which flush points get a prefix image (and subset images before them)
    let mut rng = Rng::new(a.img_seed);
    let chosen: std::collections::BTreeSet<usize> = if a.points == 0 || a.points >= points.len() {
        points.iter().copied().collect()
    } else {
        // every workload-era flush point is equally likely; seeded, so a run is reproducible
        let mut pool = points.clone();
        for i in 0..a.points {
            let j = i + rng.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool[..a.points].iter().copied().collect()
    };
    let dev = OpenOptions::new().read(true).write(true).open(&a.dev).map_err(|e| format!("{}: {e}", a.dev))?;
    let mut acked = 0usize; // acknowledged ops: marks `ack:<c>` seen so far
    let mut pending: Vec<usize> = Vec::new(); // writes since the last flush/FUA point
    let mut since_ack: Vec<Write> = Vec::new(); // old contents under the writes since the last ack
    let (mut planted, mut planted_caught) = (0usize, 0usize);
    let mut subset_images = 0usize;
    for (i, e) in entries.iter().enumerate() {
        if let Some(m) = &e.mark {
            if let Some(n) = m.strip_prefix("ack:") {
                let n: usize = n.parse().map_err(|_| format!("bad mark {m}"))?;
                if n != acked + 1 || n > a.ops {
                    return Err(format!("mark {m} after ack:{acked}: the log and the workload disagree"));
                }
                acked = n;
                // planted loss: an image that lacks every write logged since the previous ack
                // (as if the device had dropped writes it had flushed before this ack, data and
                // metadata alike). The checker must flag it. Only ops that change the contents.
                let effectful = r.states[n] != r.states[n - 1];
                // spread over the workload: the first effectful ack at or after k/(M+1) of it
                let due = (planted + 1) * a.ops / (a.plant_loss + 1);
                if a.plant_loss > 0 && planted < a.plant_loss && effectful && n >= due && !since_ack.is_empty() {
                    dev.sync_all().map_err(|e| e.to_string())?;
                    // reverting in reverse order restores the oldest contents
                    let undo: Vec<Write> = since_ack.iter().rev().cloned().collect();
                    planted += 1;
                    match r.image(&format!("planted loss before ack:{n}"), acked, &undo, true) {
                        Ok((0, false)) => println!("planted loss before ack:{n}: NOT detected"),
                        Ok((lost, torn)) => {
                            planted_caught += 1;
                            println!("planted loss before ack:{n}: detected ({lost} keys lost, torn={torn})");
                        }
                        Err(e) => {
                            planted_caught += 1;
                            println!("planted loss before ack:{n}: detected (the image fails: {e})");
                        }
                    }
                }
                since_ack.clear();
            }
            continue;
        }
        let durable_point = e.flags & (LOG_FLUSH | LOG_FUA) != 0;
        if !durable_point {
            pending.push(i);
            continue;
        }
        let check = chosen.contains(&i);
        if check && a.subsets > 0 && !pending.is_empty() {
            // subset images: the device at the last point plus some of the writes since; any
            // write the device had not been told to persist may or may not be there, and a
            // multi-block write may be torn at 4 KiB blocks
            dev.sync_all().map_err(|e| e.to_string())?;
            for s in 0..a.subsets {
                let mut extra = Vec::new();
                let mut detail = Vec::new(); // what the image holds of each write, for a report
                for &w in &pending {
                    let we = &entries[w];
                    let keep = rng.below(2) == 0;
                    if !keep {
                        detail.push(format!("#{w} {}+{}B dropped", we.sector * ss, we.nr * ss));
                        continue;
                    }
                    let data = r.data(we)?;
                    let at = we.sector * ss;
                    if data.len() > 4096 && rng.below(4) == 0 {
                        let mut kept = 0;
                        for (k, blk) in data.chunks(4096).enumerate() {
                            if rng.below(2) == 0 {
                                extra.push((at + (k * 4096) as u64, blk.to_vec()));
                                kept += 1;
                            }
                        }
                        detail.push(format!(
                            "#{w} {at}+{}B torn: {kept} of {} 4K blocks",
                            data.len(),
                            data.len().div_ceil(4096)
                        ));
                    } else {
                        detail.push(format!("#{w} {at}+{}B kept", data.len()));
                        extra.push((at, data));
                    }
                }
                let what = format!(
                    "subset {s} before entry {i} ({} pieces of {} writes: {})",
                    extra.len(),
                    pending.len(),
                    detail.join(", ")
                );
                let res = r.image(&what, acked, &extra, false);
                r.count(&what, acked, res)?;
                subset_images += 1;
            }
        }
        // apply the interval's writes and the point itself, remembering what they covered
        for &w in pending.iter().chain(std::iter::once(&i)) {
            let we = &entries[w];
            if we.nr == 0 {
                continue;
            }
            let data = r.data(we)?;
            let at = we.sector * ss;
            if a.plant_loss > 0 {
                let mut old = vec![0u8; data.len()];
                dev.read_exact_at(&mut old, at).map_err(|e| e.to_string())?;
                since_ack.push((at, old));
            }
            dev.write_all_at(&data, at).map_err(|e| format!("{}: {e}", a.dev))?;
        }
        pending.clear();
        if check && !a.only_subsets {
            dev.sync_all().map_err(|e| e.to_string())?;
            let what = format!("flush point at entry {i}");
            let res = r.image(&what, acked, &[], false);
            r.count(&what, acked, res)?;
        }
    }
    // the end of the log (after umount): every op acknowledged
    for &w in &pending {
        let we = &entries[w];
        let data = r.data(we)?;
        dev.write_all_at(&data, we.sector * ss).map_err(|e| e.to_string())?;
    }
    dev.sync_all().map_err(|e| e.to_string())?;
    let res = r.image("end of log", acked, &[], false);
    r.count("end of log", acked, res)?;
    println!(
        "replay {}: {} crash images ({} flush points of {} checked, {subset_images} subset images, end), {} acknowledged writes lost, {} bad images, {acked} ops acknowledged",
        a.fs, r.images, chosen.len().min(points.len()), points.len(), r.lost, r.bad_images
    );
    c.check(&format!("{}/replay: every op acknowledged by the end of the log", a.fs), acked == a.ops, || {
        format!("{acked} of {} acks in the log", a.ops)
    });
    c.check(&format!("{}/replay: no acknowledged write lost, nothing torn or stale", a.fs), r.bad_images == 0, || {
        format!("{} bad images, {} keys lost", r.bad_images, r.lost)
    });
    if a.plant_loss > 0 {
        println!("planted losses: {planted_caught} of {planted} detected");
        c.check(
            &format!("{}/replay: the checker flags a planted loss of flushed writes", a.fs),
            planted_caught > 0,
            || format!("{planted_caught} of {planted} planted images flagged"),
        );
    }
    println!(
        "replay time per image: {:.2}s (snapshot {:.2}s, mount {:.2}s, check+open+compare {:.2}s, umount+remove {:.2}s)",
        r.secs.iter().sum::<f64>() / r.built.max(1) as f64,
        r.secs[0] / r.built.max(1) as f64,
        r.secs[1] / r.built.max(1) as f64,
        r.secs[2] / r.built.max(1) as f64,
        r.secs[3] / r.built.max(1) as f64
    );
    println!("BLOCKLEVEL images={} lost={}", r.images, r.lost);
    Ok(())
}

// ------------------------------------------------------------------ workload / ioerr / verify

fn workload(c: &mut Checks, dir: &Path, seed: u64, n: usize, mark: Option<&str>, coverage: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ops = gen_ops(seed, n);
    let db = Db::open(store_path(dir), workload_options()).map_err(|e| format!("open: {e}"))?;
    let s = db.stats();
    println!("store opened: flush_model={:?} map_sync={}", s.flush_model, s.map_sync);
    if mark.is_some() {
        c.check("workload: the page-cache (Msync) path", s.flush_model == FlushModel::Msync, || {
            format!("{:?}", s.flush_model)
        });
    }
    if let Some(m) = mark {
        dm_mark(m, "workload")?;
    }
    for (i, op) in ops.iter().enumerate() {
        run_op(&db, seed, i, op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
        if let Some(m) = mark {
            dm_mark(m, &format!("ack:{}", i + 1))?;
        }
    }
    let s = db.stats();
    println!(
        "workload: {n} ops acknowledged; file_bytes={} grows={} segments_used={} free={} punched={} cleaning_steps={} segments_freed={} reused={} holes_punched={} keys={}",
        s.file_bytes,
        s.grows_total,
        s.segments_used,
        s.segments_free,
        s.segments_punched,
        s.cleaning_steps_total,
        s.cleaning_segments_freed_total,
        s.segments_reused_total,
        s.holes_punched_total,
        s.keys
    );
    if coverage {
        c.check("workload: the file grew", s.grows_total >= 2, || format!("grows_total={}", s.grows_total));
        c.check("workload: cleaning freed segments", s.cleaning_segments_freed_total >= 1, || {
            format!("cleaning_segments_freed_total={}", s.cleaning_segments_freed_total)
        });
        c.check("workload: holes punched", s.holes_punched_total >= 1, || {
            format!("holes_punched_total={}", s.holes_punched_total)
        });
        c.check("workload: freed segments reused", s.segments_reused_total >= 1, || {
            format!("segments_reused_total={}", s.segments_reused_total)
        });
    }
    db.close().map_err(|e| format!("close: {e}"))?;
    Ok(())
}

/// Recovered contents must be exactly S(m) for some m in `lo..=hi`. Returns m.
fn find_state(seed: u64, got: &BTreeMap<Vec<u8>, Vec<u8>>, states: &[State], lo: usize, hi: usize) -> Option<usize> {
    (lo..=hi.min(states.len() - 1)).find(|&m| mismatches(seed, got, &states[m]).is_empty())
}

fn verify(c: &mut Checks, dir: &Path, seed: u64, n: usize, acked: usize, exact: bool, name: &str) -> Option<usize> {
    let ops = gen_ops(seed, n);
    let states = all_states(&ops);
    let got = match read_store(&store_path(dir)) {
        Ok(g) => g,
        Err(e) => {
            c.check(&format!("{name}: store reopens cleanly"), false, || e);
            return None;
        }
    };
    let hi = if exact { acked + 1 } else { n };
    let m = find_state(seed, &got, &states, acked, hi);
    c.check(
        &format!("{name}: every acknowledged write present and exact ({acked} acknowledged ops)"),
        m.is_some(),
        || {
            let (lost, _, why) = judge(seed, &got, &states, acked);
            format!("{lost} acknowledged keys lost; {why}")
        },
    );
    if let Some(m) = m {
        println!("VERIFIED {m} ops ({} keys)", got.len());
    }
    m
}

/// Acknowledged ops, then a fault, then more ops: nothing may be acknowledged after a failed
/// flush, and the first failure must be an I/O error or `Poisoned`.
fn ioerr(
    c: &mut Checks,
    dir: &Path,
    seed: u64,
    n: usize,
    fault_at: usize,
    fault_cmd: &str,
    mode: &str,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ops = gen_ops(seed, n);
    let db = Db::open(store_path(dir), workload_options()).map_err(|e| format!("open: {e}"))?;
    let mut acked = 0;
    for (i, op) in ops.iter().enumerate().take(fault_at) {
        run_op(&db, seed, i, op).map_err(|e| format!("op {i} before the fault: {e}"))?;
        acked = i + 1;
    }
    println!("ACKED {acked}");
    std::io::stdout().flush().ok();
    sh("sh", &["-c", fault_cmd]).map_err(|e| format!("fault command: {e}"))?;
    println!("fault injected ({mode}) after {acked} acknowledged ops");
    let (mut ok_after, mut first_err, mut errs) = (0usize, None::<String>, 0usize);
    let mut poisoned_seen = false;
    for (i, op) in ops.iter().enumerate().skip(fault_at).take(20) {
        match run_op(&db, seed, i, op) {
            Ok(()) => {
                ok_after += 1;
                // with drop_writes the device lies: these look durable and may be lost
            }
            Err(e) => {
                errs += 1;
                poisoned_seen |= matches!(e, Error::Poisoned);
                if first_err.is_none() {
                    println!("first error at op {i} ({op:?}): {e:?}");
                    first_err = Some(format!("{e:?}"));
                }
            }
        }
    }
    let st = db.stats();
    println!("after the fault: {ok_after} ops acknowledged, {errs} failed, poisoned={}", st.poisoned);
    if mode == "eio" {
        c.check(&format!("ioerr/{mode}: no op acknowledged after the device failed writes"), ok_after == 0, || {
            format!("{ok_after} ops returned Ok after error_writes")
        });
        let first_ok = first_err.as_deref().is_some_and(|e| e.starts_with("Io(") || e.starts_with("Poisoned"));
        c.check(&format!("ioerr/{mode}: the failed flush returns Io or Poisoned"), first_ok, || {
            format!("first error {first_err:?}")
        });
        c.check(&format!("ioerr/{mode}: the handle is poisoned"), st.poisoned && (errs <= 1 || poisoned_seen), || {
            format!("stats.poisoned={} poisoned_errors_seen={poisoned_seen}", st.poisoned)
        });
    } else {
        println!("drop_writes: the device acknowledged writes it dropped (a lying device)");
    }
    println!("ACKED_BEFORE_FAULT {}", fault_at);
    db.abandon();
    Ok(())
}

/// Growth until the filesystem is full: `NoSpace`, nothing acknowledged lost, clean reopen;
/// then space freed and the store grows again.
fn enospc(c: &mut Checks, dir: &Path, filler: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let path = store_path(dir);
    let seed = 99;
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let db = Db::open(&path, workload_options()).map_err(|e| format!("open: {e}"))?;
    let mut err = None;
    for i in 0..10_000u32 {
        let k = format!("fill{i:06}").into_bytes();
        let v = value_bytes(seed, i, i, 60_000);
        match db.put(&k, &v) {
            Ok(()) => {
                model.insert(k, v);
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let grows = db.stats().grows_total;
    println!("enospc: {} puts acknowledged, then {:?} (grows_total={grows})", model.len(), err);
    c.check("enospc: growth past the free space fails with NoSpace", matches!(err, Some(Error::NoSpace)), || {
        format!("{err:?}")
    });
    c.check("enospc: the file grew before the filesystem filled", grows >= 2, || format!("grows_total={grows}"));
    // the same handle still reads everything acknowledged
    let mut bad = model.iter().filter(|(k, v)| db.get(k).ok().flatten().as_deref() != Some(&v[..])).count();
    c.check("enospc: the handle still returns every acknowledged value", bad == 0, || format!("{bad} wrong"));
    drop(db);
    let check = |c: &mut Checks, what: &str, model: &BTreeMap<Vec<u8>, Vec<u8>>| -> bool {
        match read_store(&path) {
            Ok(got) => {
                c.check(&format!("enospc: {what}: store reopens with every acknowledged write"), &got == model, || {
                    format!("{} keys recovered, {} acknowledged", got.len(), model.len())
                })
            }
            Err(e) => c.check(&format!("enospc: {what}: store reopens cleanly"), false, || e),
        }
    };
    check(c, "full filesystem", &model);
    std::fs::remove_file(filler).map_err(|e| format!("{}: {e}", filler.display()))?;
    let db = Db::open(&path, workload_options()).map_err(|e| format!("reopen after freeing space: {e}"))?;
    let mut more = 0;
    for i in 0..64u32 {
        let k = format!("more{i:06}").into_bytes();
        let v = value_bytes(seed, 50_000 + i, i, 60_000);
        if db.put(&k, &v).is_ok() {
            model.insert(k, v);
            more += 1;
        }
    }
    c.check("enospc: after space is freed the store grows again", more == 64, || format!("{more} of 64 puts"));
    bad = model.iter().filter(|(k, v)| db.get(k).ok().flatten().as_deref() != Some(&v[..])).count();
    c.check("enospc: every acknowledged value readable after regrowth", bad == 0, || format!("{bad} wrong"));
    db.close().map_err(|e| format!("close: {e}"))?;
    check(c, "after regrowth", &model);
    Ok(())
}

/// One DAX power-cut round: verify what the last round acknowledged (if a store exists), then
/// continue the op sequence from the recovered state, printing `ACK <c>` after each op.
fn daxround(c: &mut Checks, dir: &Path, seed: u64, n: usize, acked: usize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let path = store_path(dir);
    let mut from = 0;
    if path.exists() {
        match verify(c, dir, seed, n, acked, false, "daxcut/verify") {
            Some(m) => from = m,
            None => return Err("verification after the power cut failed".into()),
        }
    }
    let ops = gen_ops(seed, n);
    let db = Db::open(&path, workload_options()).map_err(|e| format!("open: {e}"))?;
    let s = db.stats();
    println!("daxcut: store opened at op {from}: flush_model={:?} map_sync={}", s.flush_model, s.map_sync);
    c.check("daxcut: CacheLine on the fsdax mount", s.flush_model == FlushModel::CacheLine, || {
        format!("{:?}", s.flush_model)
    });
    let mut out = std::io::stdout().lock();
    for (i, op) in ops.iter().enumerate().skip(from) {
        run_op(&db, seed, i, op).map_err(|e| format!("op {i}: {e}"))?;
        let _ = writeln!(out, "ACK {}", i + 1);
        let _ = out.flush();
    }
    drop(out);
    println!("daxcut: all {n} ops done without a power cut");
    db.close().map_err(|e| format!("close: {e}"))
}

// ------------------------------------------------------------------ command line

struct Args(Vec<String>);

impl Args {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).map(|s| s.as_str())
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.opt(name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}"))).unwrap_or(default)
    }
    fn req(&self, name: &str) -> String {
        self.opt(name).unwrap_or_else(|| panic!("missing {name}")).to_string()
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() < 2 {
        eprintln!("usage: see the header of examples/block_crash.rs");
        return ExitCode::from(2);
    }
    let a = Args(argv[2..].to_vec());
    let pos = |i: usize| argv.get(i).cloned().unwrap_or_else(|| panic!("missing argument {i}"));
    let mut c = Checks::default();
    let seed = a.num("--seed", 1);
    let ops = a.num("--ops", 300) as usize;
    let r = match argv[1].as_str() {
        "mark" => dm_mark(&pos(2), &pos(3)),
        "workload" => workload(&mut c, Path::new(&pos(2)), seed, ops, a.opt("--mark"), a.flag("--coverage")),
        "replay" => replay(
            &mut c,
            &ReplayArgs {
                log: a.req("--log"),
                dev: a.req("--dev"),
                cow: a.req("--cow"),
                fs: a.req("--fs"),
                seed,
                ops,
                points: a.num("--points", 0) as usize,
                subsets: a.num("--subsets", 1) as usize,
                img_seed: a.num("--img-seed", 1),
                plant_loss: a.num("--plant-loss", 0) as usize,
                keep_going: a.flag("--keep-going"),
                only_subsets: a.flag("--only-subsets"),
            },
        ),
        "ioerr" => ioerr(
            &mut c,
            Path::new(&pos(2)),
            seed,
            ops,
            a.num("--fault-at", 10) as usize,
            &a.req("--fault-cmd"),
            &a.req("--mode"),
        ),
        "verify" => {
            let name = a.opt("--name").unwrap_or("verify").to_string();
            verify(&mut c, Path::new(&pos(2)), seed, ops, a.num("--acked", 0) as usize, a.flag("--exact"), &name);
            Ok(())
        }
        "enospc" => enospc(&mut c, Path::new(&pos(2)), Path::new(&a.req("--filler"))),
        "daxround" => daxround(&mut c, Path::new(&pos(2)), seed, ops, a.num("--acked", 0) as usize),
        other => Err(format!("unknown command {other}")),
    };
    if let Err(e) = r {
        println!("FAIL {}: {e}", argv[1]);
        return ExitCode::FAILURE;
    }
    if c.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
