//! An in-memory medium: the crash simulator's recording medium, and the read-only way to check
//! a file (`daxkv check` loads the file into one, so recovery's writes never touch the file).
//!
//! With recording on, every store (with its bytes), flush (with its runs), fence and growth is
//! appended to a trace, in program order, plus markers the driver adds ([`Event::Begin`] /
//! [`Event::Ack`]). The simulator replays the trace against a persistence model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::config::FlushModel;
use super::heap::HeapRegion;
use super::{FlushCounters, Granularity, Medium, MediumCounters, MediumReport, Run};
use crate::error::Error;

/// One recorded medium operation or driver marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes stored at an offset (visible at once, durable per the model).
    Store {
        /// File offset.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A flush of runs: CLWB per line for CacheLine, msync for Msync.
    Flush {
        /// The runs, ascending.
        runs: Vec<Run>,
    },
    /// A store fence.
    Fence,
    /// The file grew (zero-filled and synced: durable at once).
    Grow {
        /// New length.
        len: u64,
    },
    /// The driver started commit number `commit` (its writes may follow).
    Begin {
        /// Driver's commit number.
        commit: u64,
    },
    /// The driver's commit number `commit` was acknowledged durable.
    Ack {
        /// Driver's commit number.
        commit: u64,
    },
}

/// See the module docs.
#[derive(Debug)]
pub struct MemoryMedium {
    memory: HeapRegion,
    file_bytes: u64,
    mapped_bytes: AtomicU64,
    model: FlushModel,
    uuid: [u8; 16],
    trace: Option<Mutex<Vec<Event>>>,
    /// Byte ranges read, when read tracking is on (the simulator's read-guided exploration).
    reads: Option<Mutex<Vec<Run>>>,
    counters: FlushCounters,
}

impl MemoryMedium {
    /// An empty file of at most `capacity` bytes (a multiple of 2 MiB).
    pub fn new(model: FlushModel, capacity: u64, uuid: [u8; 16], record: bool) -> MemoryMedium {
        MemoryMedium::new_in(HeapRegion::new(capacity as usize), model, uuid, record)
    }

    fn new_in(memory: HeapRegion, model: FlushModel, uuid: [u8; 16], record: bool) -> MemoryMedium {
        MemoryMedium {
            memory,
            file_bytes: 0,
            mapped_bytes: AtomicU64::new(0),
            model,
            uuid,
            trace: record.then(|| Mutex::new(Vec::new())),
            reads: None,
            counters: FlushCounters::default(),
        }
    }

    /// A file holding `image` (e.g. a crash image, or a file read for checking).
    pub fn from_image(
        image: &[u8],
        model: FlushModel,
        capacity: u64,
        uuid: [u8; 16],
        record: bool,
    ) -> Result<MemoryMedium, Error> {
        MemoryMedium::build(image.len() as u64, model, capacity, uuid, record, |buffer| buffer.copy_from_slice(image))
    }

    /// A file of `len` bytes that `fill` writes in place (no intermediate copy of the image).
    pub fn build(
        len: u64,
        model: FlushModel,
        capacity: u64,
        uuid: [u8; 16],
        record: bool,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<MemoryMedium, Error> {
        if len > capacity {
            return Err(Error::InvalidOptions(format!("an image of {len} bytes exceeds the capacity {capacity}")));
        }
        let mut medium =
            MemoryMedium::new_in(HeapRegion::with_prefix(capacity as usize, len as usize, fill), model, uuid, record);
        medium.file_bytes = len;
        Ok(medium)
    }

    /// Appends a driver marker to the trace (no-op when not recording).
    pub fn mark(&self, event: Event) {
        debug_assert!(matches!(event, Event::Begin { .. } | Event::Ack { .. }));
        self.record(event);
    }

    /// Takes the trace recorded so far.
    pub fn take_trace(&self) -> Vec<Event> {
        self.trace
            .as_ref()
            .map(|trace| std::mem::take(&mut *trace.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default()
    }

    /// Turns read tracking on: every range read (`read_at`, mapped reads, values) is kept until
    /// [`MemoryMedium::take_reads`]. The simulator's read-guided exploration uses it to learn
    /// which bytes recovery looked at.
    pub fn track_reads(mut self) -> MemoryMedium {
        self.reads = Some(Mutex::new(Vec::new()));
        self
    }

    /// Takes the ranges read since the last call (empty when read tracking is off).
    pub fn take_reads(&self) -> Vec<Run> {
        self.reads
            .as_ref()
            .map(|reads| std::mem::take(&mut *reads.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default()
    }

    fn note_read(&self, offset: u64, len: u64) {
        if let Some(reads) = &self.reads {
            if len > 0 {
                reads.lock().unwrap_or_else(|poison| poison.into_inner()).push(Run { offset, len });
            }
        }
    }

    /// The file's current (visible) bytes.
    pub fn visible_image(&self) -> Vec<u8> {
        // SAFETY: read while no writer runs: callers snapshot a quiescent store.
        unsafe { self.memory.slice(0, self.mapped_bytes() as usize) }.to_vec()
    }

    fn record(&self, event: Event) {
        if let Some(trace) = &self.trace {
            trace.lock().unwrap_or_else(|poison| poison.into_inner()).push(event);
        }
    }
}

impl MediumReport for MemoryMedium {
    fn flush_model(&self) -> FlushModel {
        self.model
    }

    fn map_sync(&self) -> bool {
        false
    }

    fn counters(&self) -> MediumCounters {
        self.counters.snapshot()
    }
}

impl Medium for MemoryMedium {
    fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let end = (offset + buf.len() as u64).min(self.file_bytes);
        if offset >= end {
            return Ok(0);
        }
        let len = (end - offset) as usize;
        self.note_read(offset, len as u64);
        // SAFETY: before mapping, nothing writes the memory (open runs single-threaded).
        buf[..len].copy_from_slice(unsafe { self.memory.slice(offset as usize, len) });
        Ok(len)
    }

    fn map_existing(&self, len: u64) -> Result<(), Error> {
        assert!(len <= self.file_bytes);
        self.mapped_bytes.store(len, Ordering::Release);
        Ok(())
    }

    fn mapped_bytes(&self) -> u64 {
        self.mapped_bytes.load(Ordering::Acquire)
    }

    fn grow(&self, new_len: u64) -> Result<(), Error> {
        if new_len > self.memory.capacity() as u64 {
            return Err(Error::NoSpace);
        }
        self.counters.grows_total.fetch_add(1, Ordering::Relaxed);
        self.record(Event::Grow { len: new_len });
        self.mapped_bytes.fetch_max(new_len, Ordering::AcqRel);
        Ok(())
    }

    unsafe fn bytes(&self, offset: u64, len: usize) -> &[u8] {
        assert!(offset + len as u64 <= self.mapped_bytes(), "read past the mapping");
        self.note_read(offset, len as u64);
        // SAFETY: forwarded contract: no concurrent writer of the range.
        unsafe { self.memory.slice(offset as usize, len) }
    }

    unsafe fn write(&self, offset: u64, data: &[u8]) {
        assert!(offset + data.len() as u64 <= self.mapped_bytes(), "write past the mapping");
        // SAFETY: forwarded contract: exclusive access to the range.
        unsafe { self.memory.write(offset as usize, data) };
        if self.trace.is_some() && !data.is_empty() {
            self.record(Event::Store { offset, data: data.to_vec() });
        }
    }

    unsafe fn value<K: Send + 'static>(&self, offset: u64, len: usize, _pin: impl FnOnce() -> K) -> Bytes {
        // SAFETY: forwarded contract: a published record, not written during the copy.
        Bytes::copy_from_slice(unsafe { self.bytes(offset, len) })
    }

    /// Modelled as storing zeros: like a real punch before the next sync, it may or may not
    /// survive a crash (the engine punches only segments whose zeroed head is already durable).
    unsafe fn punch(&self, offset: u64, len: u64) -> Result<bool, Error> {
        let zeros = vec![0u8; len as usize];
        // SAFETY: forwarded contract: no concurrent reader or writer of the range.
        unsafe { self.write(offset, &zeros) };
        self.counters.holes_punched_total.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn refill(&self, _offset: u64, _len: u64) -> Result<(), Error> {
        self.counters.refills_total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn granularity(&self) -> Granularity {
        if self.model == FlushModel::CacheLine {
            Granularity::Line
        } else {
            Granularity::Page
        }
    }

    fn flush(&self, runs: &[Run]) -> Result<(), Error> {
        if runs.is_empty() || matches!(self.model, FlushModel::None | FlushModel::Fence) {
            // Fence: no flush instruction, so nothing for the crash model to see.
            return Ok(());
        }
        match self.model {
            FlushModel::CacheLine => {
                let lines: u64 = runs.iter().map(|run| run.len.div_ceil(64)).sum();
                self.counters.line_flushes_total.fetch_add(lines, Ordering::Relaxed);
            }
            _ => {
                self.counters.flush_syscalls_total.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.record(Event::Flush { runs: runs.to_vec() });
        Ok(())
    }

    fn fence(&self) -> Result<(), Error> {
        if matches!(self.model, FlushModel::CacheLine | FlushModel::Fence) {
            self.counters.fences_total.fetch_add(1, Ordering::Relaxed);
            self.record(Event::Fence);
        }
        Ok(())
    }

    fn new_store_uuid(&self) -> Result<[u8; 16], Error> {
        Ok(self.uuid)
    }
}
