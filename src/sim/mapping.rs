//! A simulated persistent mapping for anyone's code: [`SimMapping`] and [`check_mapping`].
//!
//! Write your persistent data structure against [`SimMapping`] as you would against a mapped
//! region: [`write`](SimMapping::write) bytes or [`store_u64`](SimMapping::store_u64) an
//! aligned word at an offset, read them back, [`flush`](SimMapping::flush) a range (CLWB per
//! line under ADR; `msync` of the pages under the page cache), [`fence`](SimMapping::fence).
//! It records every store, flush and fence, in program order, as the same [`Event`]s daxkv's
//! own medium records. Mark what your code acknowledges with [`begin`](SimMapping::begin) /
//! [`acknowledge`](SimMapping::acknowledge).
//!
//! [`check_mapping`] runs your workload once per seed, then replays its trace through the
//! persistence model of each crash model (ADR, eADR, page cache, 2 MiB folios: the same model
//! that checks daxkv, see [`Persistence`](super::Persistence)), and at every crash point hands
//! each crash image, as a fresh `SimMapping`, to *your* recovery function, with the labels
//! acknowledged and in flight at that point ([`Crash`]). Your recovery judges the image by
//! returning `Err(reason)`; a panic counts as a violation too. The mapping records what
//! recovery reads, which is what read-guided exploration branches on.
//!
//! Loads and stores are by byte range; only an aligned 8-byte store is power-fail atomic
//! (a longer `write` may persist any word-aligned prefix per line, in any order across lines).

use std::cell::RefCell;

use super::rng::Rng;
use super::toolkit::{catching, sweep, CheckConfig, CheckReport, CrashImage};
use crate::media::{Event, Run};

/// See the module docs.
#[derive(Debug)]
pub struct SimMapping {
    bytes: Vec<u8>,
    trace: Option<Vec<Event>>,
    reads: Option<RefCell<Vec<Run>>>,
}

impl SimMapping {
    /// A zeroed mapping of `len_bytes` bytes that records its trace.
    pub fn new(len_bytes: usize) -> SimMapping {
        SimMapping { bytes: vec![0; len_bytes], trace: Some(Vec::new()), reads: None }
    }

    /// A mapping holding `image` (a crash image), tracking reads and recording nothing.
    pub fn from_image(image: Vec<u8>) -> SimMapping {
        SimMapping { bytes: image, trace: None, reads: Some(RefCell::new(Vec::new())) }
    }

    /// A mapping that neither records nor tracks reads: what the overhead benchmark compares.
    pub fn unrecorded(len_bytes: usize) -> SimMapping {
        SimMapping { bytes: vec![0; len_bytes], trace: None, reads: None }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[inline]
    fn range(&self, offset: u64, len: usize) -> std::ops::Range<usize> {
        let start = usize::try_from(offset).expect("offset fits usize");
        let end = start.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.unwrap_or_else(|| panic!("access [{start}, +{len}) past the mapping of {}", self.bytes.len()));
        start..end
    }

    /// Stores `data` at `offset` (a `memcpy` into the mapping). Visible at once; durable only
    /// as the crash model allows.
    #[inline]
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        let range = self.range(offset, data.len());
        self.bytes[range].copy_from_slice(data);
        if let Some(trace) = &mut self.trace {
            if !data.is_empty() {
                trace.push(Event::Store { offset, data: data.to_vec() });
            }
        }
    }

    /// One aligned 8-byte store (little-endian): never torn. Panics when `offset` is unaligned.
    #[inline]
    pub fn store_u64(&mut self, offset: u64, value: u64) {
        assert_eq!(offset % 8, 0, "store_u64 at an unaligned offset {offset}");
        self.write(offset, &value.to_le_bytes());
    }

    /// Reads `buffer.len()` bytes at `offset`.
    #[inline]
    pub fn read(&self, offset: u64, buffer: &mut [u8]) {
        let range = self.range(offset, buffer.len());
        self.note_read(offset, buffer.len() as u64);
        buffer.copy_from_slice(&self.bytes[range]);
    }

    /// The aligned 8-byte word at `offset` (little-endian).
    #[inline]
    pub fn load_u64(&self, offset: u64) -> u64 {
        let mut word = [0u8; 8];
        self.read(offset, &mut word);
        u64::from_le_bytes(word)
    }

    /// `len` bytes at `offset`, borrowed (counted as read).
    pub fn slice(&self, offset: u64, len: usize) -> &[u8] {
        let range = self.range(offset, len);
        self.note_read(offset, len as u64);
        &self.bytes[range]
    }

    /// Flushes `[offset, offset + len)`: write-back of each 64-byte line under ADR (ordered
    /// only by the next [`fence`](SimMapping::fence)); `msync` of the pages under the page
    /// cache (durable when it returns); nothing to do under eADR.
    pub fn flush(&mut self, offset: u64, len: u64) {
        self.range(offset, len as usize);
        if let Some(trace) = &mut self.trace {
            if len > 0 {
                trace.push(Event::Flush { runs: vec![Run { offset, len }] });
            }
        }
    }

    /// A store fence: every line flushed before it is durable after it (ADR).
    pub fn fence(&mut self) {
        if let Some(trace) = &mut self.trace {
            trace.push(Event::Fence);
        }
    }

    /// `flush` then `fence`: the range is durable under every model when this returns.
    pub fn persist(&mut self, offset: u64, len: u64) {
        self.flush(offset, len);
        self.fence();
    }

    /// Marks the start of the operation labelled `label` (e.g. an append's sequence number).
    pub fn begin(&mut self, label: u64) {
        if let Some(trace) = &mut self.trace {
            trace.push(Event::Begin { commit: label });
        }
    }

    /// Marks `label` as acknowledged: from here on, recovery must keep it.
    pub fn acknowledge(&mut self, label: u64) {
        if let Some(trace) = &mut self.trace {
            trace.push(Event::Ack { commit: label });
        }
    }

    /// The trace recorded so far (empty when not recording).
    pub fn trace(&self) -> &[Event] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// The byte ranges read so far (tracked on mappings made from crash images).
    pub fn take_reads(&self) -> Vec<Run> {
        self.reads.as_ref().map(|reads| std::mem::take(&mut *reads.borrow_mut())).unwrap_or_default()
    }

    #[inline]
    fn note_read(&self, offset: u64, len: u64) {
        if let Some(reads) = &self.reads {
            if len > 0 {
                reads.borrow_mut().push(Run { offset, len });
            }
        }
    }
}

/// What recovery is told about the crash it recovers from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Crash {
    /// The crash model.
    pub model: super::CrashModel,
    /// The seed of the workload.
    pub seed: u64,
    /// The last label acknowledged before the crash (recovery must keep it).
    pub acknowledged: Option<u64>,
    /// A label begun and not yet acknowledged (recovery may keep it or not).
    pub in_flight: Option<u64>,
}

/// Crash-tests code written against [`SimMapping`]: `workload` runs on a fresh zeroed mapping
/// of `len_bytes` bytes (once per model and seed, with a generator seeded from the seed), and
/// `recover` runs on every crash image drawn. See the module docs.
///
/// ```
/// use daxkv::sim::{check_mapping, CheckConfig};
/// // A flag published after its data, with the fence between them: correct everywhere.
/// let report = check_mapping(
///     &CheckConfig::new().seeds(1..2),
///     4096,
///     |mapping, _rng| {
///         mapping.begin(1);
///         mapping.store_u64(64, 42);
///         mapping.persist(64, 8);
///         mapping.store_u64(0, 1);
///         mapping.persist(0, 8);
///         mapping.acknowledge(1);
///     },
///     |mapping, crash| {
///         let (flag, data) = (mapping.load_u64(0), mapping.load_u64(64));
///         if flag == 1 && data != 42 { return Err(format!("flag without data: {data}")); }
///         if crash.acknowledged == Some(1) && flag != 1 { return Err("acknowledged flag lost".into()); }
///         Ok(())
///     },
/// );
/// report.assert_clean();
/// ```
pub fn check_mapping<W, R>(config: &CheckConfig, len_bytes: usize, workload: W, recover: R) -> CheckReport
where
    W: Fn(&mut SimMapping, &mut Rng),
    R: Fn(&mut SimMapping, &Crash) -> Result<(), String>,
{
    let mut report = CheckReport::default();
    for (model, seed) in config.runs() {
        let mut mapping = SimMapping::new(len_bytes);
        let recorded = catching(|| {
            workload(&mut mapping, &mut Rng::new(seed));
            Ok(())
        });
        if let Err(reason) = recorded {
            report.workload_failed(config, model, seed, format!("the workload itself failed: {reason}"));
            continue;
        }
        let trace = mapping.trace.take().unwrap_or_default();
        sweep(config, model, seed, vec![0; len_bytes], &trace, &mut report, |image: &CrashImage<'_>| {
            let mut bytes = vec![0u8; image.len()];
            image.fill(&mut bytes);
            let mut recovered = SimMapping::from_image(bytes);
            let crash = Crash { model, seed, acknowledged: image.marks.acknowledged, in_flight: image.marks.in_flight };
            let verdict = catching(|| recover(&mut recovered, &crash));
            (verdict, recovered.take_reads())
        });
    }
    report
}
