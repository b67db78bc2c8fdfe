//! File size over time under a YCSB-A-like update load (50% reads, 50% updates), with the
//! segment cleaner on or off.
//!
//! ```text
//! cargo run --release --example space_curve -- [directory|-] [records] [value_bytes] \
//!     [update_multiple] [on|off] [zipfian|uniform]
//! ```
//!
//! Defaults: a temporary directory (`-`), 100000 records, 1000-byte values, updates until their
//! bytes are 12 times the live data, cleaning on, zipfian keys (YCSB's scrambled zipfian,
//! constant 0.99). The store is `<directory>/space_curve.db` and must not exist yet.
//! `Durability::Deferred` with a `Db::sync` every 1000 operations. Every read is verified
//! exactly: a value encodes its key id and a version counter, and a wrong value ends the run
//! with an error (exit status 1).
//!
//! Output: a header, one CSV row after the load and 25 more evenly spaced in update bytes, then
//! a summary line. The maxima in the summary are over every sync (every 1000 operations).
//! `final_write_amp` is the store's `(record_bytes_total + cleaning_bytes_copied_total) /
//! record_bytes_total`, load included; `run_write_amp` counts the update phase's bytes only.
//! Two comment lines follow: the segment counters, and what a `Db::compact` pass then gives back.

use std::error::Error;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use daxkv::{Db, Durability, Options};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Operations between two `Db::sync` calls (and between two samples for the maxima).
const OPERATIONS_PER_SYNC: u64 = 1000;
/// CSV rows after the one printed at the end of the load.
const CURVE_POINTS: u64 = 25;
/// The CSV header. The first row (after the load) gives the load's puts per second as its rate.
const HEADER: &str = concat!(
    "updates_bytes_over_live,file_bytes,allocated_bytes,live_bytes,dead_bytes,",
    "space_amp_file,space_amp_allocated,cleaning_write_amp,ops_per_sec_since_last_point"
);
/// Bytes of a value that hold its key id and version; the rest is filler derived from both.
const VALUE_HEADER_BYTES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Distribution {
    Zipfian,
    Uniform,
}

struct Config {
    directory: Option<PathBuf>,
    records: u64,
    value_bytes: usize,
    update_multiple: f64,
    cleaning: bool,
    distribution: Distribution,
}

fn argument<T: std::str::FromStr>(arguments: &[String], index: usize, name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match arguments.get(index) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|error| format!("argument {name}={text:?}: {error}").into()),
    }
}

fn parse_config() -> Result<Config> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let directory = match arguments.first().map(String::as_str) {
        None | Some("-") => None,
        Some(path) => Some(PathBuf::from(path)),
    };
    let cleaning = match arguments.get(4).map(String::as_str) {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(format!("cleaning must be on or off, not {other:?}").into()),
    };
    let distribution = match arguments.get(5).map(String::as_str) {
        None | Some("zipfian") => Distribution::Zipfian,
        Some("uniform") => Distribution::Uniform,
        Some(other) => return Err(format!("distribution must be zipfian or uniform, not {other:?}").into()),
    };
    let config = Config {
        directory,
        records: argument(&arguments, 1, "records", 100_000)?,
        value_bytes: argument(&arguments, 2, "value_bytes", 1000)?,
        update_multiple: argument(&arguments, 3, "update_multiple", 12.0)?,
        cleaning,
        distribution,
    };
    if config.records == 0 || config.value_bytes < VALUE_HEADER_BYTES || config.update_multiple <= 0.0 {
        return Err(format!("need records > 0, value_bytes >= {VALUE_HEADER_BYTES}, update_multiple > 0").into());
    }
    Ok(config)
}

/// SplitMix64: a small, fast, seedable generator (no dependency).
struct Random(u64);

impl Random {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// YCSB's `Utils.fnvhash64`: FNV-1 over the eight bytes of `value`, low byte first, made
/// non-negative as a Java long.
fn fnv_hash64(mut value: u64) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for _ in 0..8 {
        hash ^= value & 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        value >>= 8;
    }
    (hash as i64).wrapping_abs() as u64
}

/// YCSB's `ScrambledZipfianGenerator`: a zipfian generator (Gray et al.) over 10^10 items with
/// constant 0.99 and YCSB's precomputed zeta, each value hashed with FNV-64 and folded onto the
/// key space, so hot keys are spread over it instead of being the first ids.
struct ScrambledZipfian {
    items: u64,
    zeta_n: f64,
    theta: f64,
    alpha: f64,
    eta: f64,
    key_space: u64,
}

impl ScrambledZipfian {
    const ITEM_COUNT: u64 = 10_000_000_000;
    const ZETAN: f64 = 26.46902820178302;
    const CONSTANT: f64 = 0.99;

    fn new(key_space: u64) -> ScrambledZipfian {
        let theta = Self::CONSTANT;
        let zeta_two = 1.0 + 0.5f64.powf(theta);
        let items = Self::ITEM_COUNT;
        let eta = (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta_two / Self::ZETAN);
        ScrambledZipfian { items, zeta_n: Self::ZETAN, theta, alpha: 1.0 / (1.0 - theta), eta, key_space }
    }

    fn next(&self, random: &mut Random) -> u64 {
        let uniform = random.next_f64();
        let scaled = uniform * self.zeta_n;
        let rank = if scaled < 1.0 {
            0
        } else if scaled < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            (self.items as f64 * (self.eta * uniform - self.eta + 1.0).powf(self.alpha)) as u64
        };
        fnv_hash64(rank) % self.key_space
    }
}

enum KeyChooser {
    Zipfian(ScrambledZipfian),
    Uniform(u64),
}

impl KeyChooser {
    fn next(&self, random: &mut Random) -> u64 {
        match self {
            KeyChooser::Zipfian(zipfian) => zipfian.next(random),
            KeyChooser::Uniform(key_space) => random.next_u64() % key_space,
        }
    }
}

fn key(id: u64) -> [u8; 16] {
    let mut key = *b"user\0\0\0\0\0\0\0\0\0\0\0\0";
    key[4..12].copy_from_slice(&id.to_be_bytes());
    key
}

/// The value of key `id` at `version`: id and version (little-endian u64s), then filler bytes
/// that depend on both, so any stale or foreign value differs from it.
fn fill_value(id: u64, version: u64, value: &mut [u8]) {
    value[..8].copy_from_slice(&id.to_le_bytes());
    value[8..VALUE_HEADER_BYTES].copy_from_slice(&version.to_le_bytes());
    let mut filler = Random(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ version);
    for chunk in value[VALUE_HEADER_BYTES..].chunks_mut(8) {
        let word = filler.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The sizes and counters of one moment.
struct Sample {
    file_bytes: u64,
    allocated_bytes: u64,
    live_bytes: u64,
    dead_bytes: u64,
    record_bytes: u64,
    cleaning_bytes_copied: u64,
}

impl Sample {
    fn take(db: &Db, path: &Path) -> Result<Sample> {
        let metadata =
            std::fs::metadata(path).map_err(|error| format!("cannot stat the store {}: {error}", path.display()))?;
        let stats = db.stats();
        Ok(Sample {
            file_bytes: metadata.len(),
            allocated_bytes: metadata.blocks() * 512,
            live_bytes: stats.live_bytes,
            dead_bytes: stats.dead_bytes,
            record_bytes: stats.record_bytes_total,
            cleaning_bytes_copied: stats.cleaning_bytes_copied_total,
        })
    }

    fn file_amplification(&self) -> f64 {
        self.file_bytes as f64 / self.live_bytes.max(1) as f64
    }

    fn allocated_amplification(&self) -> f64 {
        self.allocated_bytes as f64 / self.live_bytes.max(1) as f64
    }

    fn write_amplification(&self) -> f64 {
        (self.record_bytes + self.cleaning_bytes_copied) as f64 / self.record_bytes.max(1) as f64
    }
}

/// The running state of the load: versions of every key (for exact verification), the key
/// chooser, and what the curve has seen so far.
struct Workload {
    db: Db,
    path: PathBuf,
    versions: Vec<u64>,
    chooser: KeyChooser,
    random: Random,
    value: Vec<u8>,
    expected: Vec<u8>,
    operations: u64,
    updates: u64,
    reads: u64,
    max_file_amplification: f64,
    max_allocated_amplification: f64,
}

impl Workload {
    fn open(config: &Config, directory: &Path) -> Result<Workload> {
        let path = directory.join("space_curve.db");
        if path.exists() {
            return Err(format!("{} exists already: remove it or pick another directory", path.display()).into());
        }
        let options = Options::default().durability(Durability::Deferred).background_cleaning(config.cleaning);
        let db = Db::open(&path, options).map_err(|error| format!("cannot open {}: {error}", path.display()))?;
        let chooser = match config.distribution {
            Distribution::Zipfian => KeyChooser::Zipfian(ScrambledZipfian::new(config.records)),
            Distribution::Uniform => KeyChooser::Uniform(config.records),
        };
        Ok(Workload {
            db,
            path,
            versions: vec![0; config.records as usize],
            chooser,
            random: Random(0x5EED_5EED),
            value: vec![0; config.value_bytes],
            expected: vec![0; config.value_bytes],
            operations: 0,
            updates: 0,
            reads: 0,
            max_file_amplification: 0.0,
            max_allocated_amplification: 0.0,
        })
    }

    fn load(&mut self) -> Result<()> {
        for id in 0..self.versions.len() as u64 {
            fill_value(id, 0, &mut self.value);
            self.db.put(&key(id), &self.value)?;
            if (id + 1) % OPERATIONS_PER_SYNC == 0 {
                self.db.sync()?;
            }
        }
        self.db.sync()?;
        Ok(())
    }

    fn update(&mut self, id: u64) -> Result<()> {
        let version = &mut self.versions[id as usize];
        *version += 1;
        fill_value(id, *version, &mut self.value);
        self.db.put(&key(id), &self.value)?;
        self.updates += 1;
        Ok(())
    }

    fn read(&mut self, id: u64) -> Result<()> {
        let version = self.versions[id as usize];
        let found = self.db.get(&key(id))?.ok_or_else(|| format!("key id {id} (version {version}) is missing"))?;
        fill_value(id, version, &mut self.expected);
        if found[..] != self.expected[..] {
            let stored_id = found.get(..8).map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])));
            let stored_version = found.get(8..16).map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])));
            return Err(format!(
                "wrong value for key id {id}: expected version {version} ({} bytes), found {} bytes \
                 holding id {stored_id:?} version {stored_version:?}",
                self.expected.len(),
                found.len()
            )
            .into());
        }
        self.reads += 1;
        Ok(())
    }

    /// One operation: a verified read or an update, half and half; a sync and a sample for the
    /// maxima every `OPERATIONS_PER_SYNC` operations.
    fn step(&mut self) -> Result<()> {
        let id = self.chooser.next(&mut self.random);
        if self.random.next_u64() & 1 == 0 {
            self.read(id)?;
        } else {
            self.update(id)?;
        }
        self.operations += 1;
        if self.operations % OPERATIONS_PER_SYNC == 0 {
            self.db.sync()?;
            self.observe()?;
        }
        Ok(())
    }

    fn observe(&mut self) -> Result<Sample> {
        let sample = Sample::take(&self.db, &self.path)?;
        self.max_file_amplification = self.max_file_amplification.max(sample.file_amplification());
        self.max_allocated_amplification = self.max_allocated_amplification.max(sample.allocated_amplification());
        Ok(sample)
    }
}

fn print_row(sample: &Sample, loaded: &Sample, operations_per_second: f64) {
    let update_bytes = sample.record_bytes - loaded.record_bytes;
    println!(
        "{:.2},{},{},{},{},{:.3},{:.3},{:.3},{:.0}",
        update_bytes as f64 / loaded.live_bytes.max(1) as f64,
        sample.file_bytes,
        sample.allocated_bytes,
        sample.live_bytes,
        sample.dead_bytes,
        sample.file_amplification(),
        sample.allocated_amplification(),
        sample.write_amplification(),
        operations_per_second
    );
}

/// Runs updates and reads until the update bytes reach `update_multiple` times the live data,
/// printing a row at every 1/`CURVE_POINTS` of the way. Returns the run's operations per second.
fn run_curve(workload: &mut Workload, config: &Config, loaded: &Sample) -> Result<f64> {
    let record_bytes = loaded.record_bytes as f64 / config.records as f64;
    let updates_total = (config.update_multiple * loaded.live_bytes as f64 / record_bytes).ceil() as u64;
    let start = Instant::now();
    let (mut last_time, mut last_operations) = (start, 0u64);
    for point in 1..=CURVE_POINTS {
        let updates_at_point = updates_total * point / CURVE_POINTS;
        while workload.updates < updates_at_point {
            workload.step()?;
        }
        let sample = workload.observe()?;
        let now = Instant::now();
        let rate = (workload.operations - last_operations) as f64 / (now - last_time).as_secs_f64();
        print_row(&sample, loaded, rate);
        (last_time, last_operations) = (now, workload.operations);
    }
    Ok(workload.operations as f64 / start.elapsed().as_secs_f64())
}

/// A full cleaning pass after the run, to show what `Db::compact` gives back.
fn compact_and_report(workload: &mut Workload) -> Result<()> {
    let start = Instant::now();
    let freed = workload.db.compact()?;
    let seconds = start.elapsed().as_secs_f64();
    let sample = Sample::take(&workload.db, &workload.path)?;
    println!(
        "# after Db::compact(): {freed} segments freed in {seconds:.2} s; file_bytes {} ({:.3} x live), \
         allocated_bytes {} ({:.3} x live), write amplification {:.3}",
        sample.file_bytes,
        sample.file_amplification(),
        sample.allocated_bytes,
        sample.allocated_amplification(),
        sample.write_amplification()
    );
    Ok(())
}

/// Write amplification of the update phase alone: (update bytes + cleaning copies) / update bytes
/// (the load copies nothing, so the copies are all the update phase's).
fn run_write_amplification(last: &Sample, loaded: &Sample) -> f64 {
    let update_bytes = last.record_bytes - loaded.record_bytes;
    (update_bytes + last.cleaning_bytes_copied) as f64 / update_bytes.max(1) as f64
}

fn print_final_stats(db: &Db) {
    let stats = db.stats();
    println!(
        "# segments: used {} free {} punched {} retired {}; cleaning steps {}, segments freed {}, \
         records copied {}, holes punched {}, segments reused {}",
        stats.segments_used,
        stats.segments_free,
        stats.segments_punched,
        stats.segments_retired,
        stats.cleaning_steps_total,
        stats.cleaning_segments_freed_total,
        stats.cleaning_records_copied_total,
        stats.holes_punched_total,
        stats.segments_reused_total
    );
}

fn main() -> Result<()> {
    let config = parse_config()?;
    let temporary =
        tempfile::TempDir::new().map_err(|error| format!("cannot create a temporary directory: {error}"))?;
    let directory = config.directory.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&directory).map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
    let mut workload = Workload::open(&config, &directory)?;
    println!(
        "# space_curve: {} records x {} B values, updates = {} x live, cleaning {}, {:?}, store {}",
        config.records,
        config.value_bytes,
        config.update_multiple,
        if config.cleaning { "on" } else { "off" },
        config.distribution,
        workload.path.display()
    );
    let start = Instant::now();
    workload.load()?;
    let load_rate = config.records as f64 / start.elapsed().as_secs_f64();
    let loaded = workload.observe()?;
    println!("{HEADER}");
    print_row(&loaded, &loaded, load_rate);
    let run_rate = run_curve(&mut workload, &config, &loaded)?;
    let last = workload.observe()?;
    println!(
        "summary: max_file_over_live={:.3} max_allocated_over_live={:.3} final_write_amp={:.3} ops_per_sec={:.0} \
         run_write_amp={:.3} (reads {} verified, updates {})",
        workload.max_file_amplification,
        workload.max_allocated_amplification,
        last.write_amplification(),
        run_rate,
        run_write_amplification(&last, &loaded),
        workload.reads,
        workload.updates
    );
    print_final_stats(&workload.db);
    compact_and_report(&mut workload)?;
    workload.db.close()?;
    Ok(())
}
