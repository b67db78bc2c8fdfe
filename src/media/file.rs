//! The real medium: one data file mapped into a reserved [`Region`].
//!
//! Open: `O_RDWR|O_CREAT`, an exclusive non-blocking `flock` (a second opener gets
//! [`Error::Locked`]), then every mapping is tried as `MAP_SHARED_VALIDATE | MAP_SYNC` first and
//! falls back to `MAP_SHARED` on EOPNOTSUPP/EINVAL. The outcome picks the default flush model,
//! with the persistence domain of the file's device (`domain`): `Fence` when `MAP_SYNC`
//! succeeded on an eADR region (`cpu_cache`), `CacheLine` with `MAP_SYNC` elsewhere, `Msync`
//! without.
//!
//! Growth (`grow`) gives new space written, zero-filled blocks and a 4 KiB-folio page cache,
//! without touching the rest of the file:
//! 1. `fallocate` reserves the blocks (ENOSPC surfaces here, never as a SIGBUS later);
//! 2. the range is mapped and advised `MADV_RANDOM` before any fault, so faults install 4 KiB
//!    folios (no fault-around, no readahead into large folios);
//! 3. `MADV_POPULATE_WRITE` faults every page in writable: pages of unwritten extents read as
//!    zeros without I/O and become dirty 4 KiB folios (old kernels: pages touched one by one);
//! 4. `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` writes exactly these pages: the
//!    extents become written (a later msync never pays the journal commit of an unwritten-extent
//!    conversion), the pages clean and write-protected again, so the first store to each is the
//!    kernel's `page_mkwrite`, and msync writes back exactly the dirty 4 KiB pages instead of
//!    whole large folios (machine-limits.md).
//!
//! Nothing here waits for a device flush or for the rest of the file's dirty pages. The new size
//! and extents reach the journal at the next msync (ext4's fsync path commits the inode when its
//! size changed), before any commit that uses them is acknowledged; under `MAP_SYNC` the fault
//! itself makes the block metadata durable. A crash before that leaves the old size, and the
//! lost space held nothing committed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::config::{FileConfig, FlushModel, MsyncShape, PersistenceDomain};
use super::cpu::{self, LineFlushInstruction};
use super::{FlushCounters, Granularity, Medium, MediumCounters, MediumReport, Region, Run};
use crate::error::Error;
use crate::layout::{PAGE_BYTES, SEGMENT_BYTES};

const MADV_POPULATE_WRITE: libc::c_int = 23;
/// Values at least this long are returned zero-copy (a `Bytes` that keeps the mapping alive).
const ZERO_COPY_MIN_BYTES: usize = 16 * 1024;

/// A mapped data file. See the module docs.
#[derive(Debug)]
pub struct FileMedium {
    file: File,
    region: Arc<Region>,
    file_bytes_at_open: u64,
    mapped_bytes: AtomicU64,
    map_sync: bool,
    persistence_domain: PersistenceDomain,
    model: FlushModel,
    line_flush: LineFlushInstruction,
    msync_shape: MsyncShape,
    prepare_page_cache: bool,
    grow_lock: Mutex<()>,
    counters: FlushCounters,
}

impl FileMedium {
    /// Opens (creating if missing) and locks the file at `path`; maps nothing yet.
    pub fn open(path: &Path, config: &FileConfig) -> Result<FileMedium, Error> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if !file.metadata()?.is_file() {
            return Err(Error::Io(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        lock_exclusive(&file)?;
        let file_bytes_at_open = file.metadata()?.len();
        let region = Arc::new(Region::reserve(config.max_file_bytes)?);
        let map_sync = config.try_map_sync && probe_map_sync(&file)?;
        let persistence_domain = super::domain::of_device(file.metadata()?.dev());
        let model = config.flush.unwrap_or(default_flush_model(map_sync, persistence_domain));
        Ok(FileMedium {
            file,
            region,
            file_bytes_at_open,
            mapped_bytes: AtomicU64::new(0),
            map_sync,
            persistence_domain,
            model,
            line_flush: cpu::detect(),
            msync_shape: config.msync_shape,
            prepare_page_cache: config.prepare_page_cache && !map_sync,
            grow_lock: Mutex::new(()),
            counters: FlushCounters::default(),
        })
    }

    /// The line-flush instruction the CacheLine model uses on this CPU.
    pub fn line_flush_instruction(&self) -> LineFlushInstruction {
        self.line_flush
    }

    /// Maps the existing bytes `[offset, offset + len)` (at open).
    fn map_range(&self, offset: u64, len: u64) -> Result<(), Error> {
        self.region.map_file(offset, len, self.file.as_raw_fd(), self.map_sync)?;
        if self.prepare_page_cache {
            // Before any fault: no fault-around/readahead, so faults install 4 KiB folios.
            self.region.advise(offset, len, libc::MADV_RANDOM)?;
        }
        self.mapped_bytes.store(offset + len, Ordering::Release);
        Ok(())
    }

    /// Maps new space `[from, to)` and fills it with written zeros; see the module docs.
    fn map_new_space(&self, from: u64, to: u64) -> Result<(), Error> {
        allocate(&self.file, from, to - from)?;
        if self.map_sync || !self.prepare_page_cache {
            // DAX has no page cache to prepare: write the zeros through the file (the blocks
            // become written extents) and map. (Populating a MAP_SYNC mapping of unwritten
            // extents soft-locked the 6.1 guest kernel on xfs in the DAX guest tier.)
            return self.map_new_space_naively(from, to);
        }
        self.region.map_file(from, to - from, self.file.as_raw_fd(), self.map_sync)?;
        if self.prepare_page_cache {
            self.region.advise(from, to - from, libc::MADV_RANDOM)?;
        }
        self.populate_and_write_back(from, to)?;
        self.mapped_bytes.store(to, Ordering::Release);
        Ok(())
    }

    /// Faults the mapped, unpublished range `[from, to)` in writable as 4 KiB folios (its
    /// unwritten extents read as zeros) and writes it back, so its extents become written.
    fn populate_and_write_back(&self, from: u64, to: u64) -> Result<(), Error> {
        if self.region.advise(from, to - from, MADV_POPULATE_WRITE).is_err() {
            for page in (from..to).step_by(PAGE_BYTES as usize) {
                // SAFETY: the range is mapped and unpublished (new space beyond `mapped_bytes`,
                // or a free segment being refilled under the writer mutex): nobody else reads
                // or writes it, and its bytes mean nothing yet (zeros, or a free segment's
                // stale records, which never validate).
                unsafe { std::ptr::write_volatile(self.region.ptr(page), 0) };
            }
        }
        write_back_range(&self.file, from, to - from)
    }

    /// Zeros written with `pwrite`, `fdatasync`, then a plain mapping: the DAX path (no page
    /// cache), and what a store that does not manage the page cache does
    /// (`prepare_page_cache(false)`, for measurement: the page cache keeps the zeros in large
    /// folios).
    fn map_new_space_naively(&self, from: u64, to: u64) -> Result<(), Error> {
        write_zeros(&self.file, from, to)?;
        self.file.sync_data()?;
        self.region.map_file(from, to - from, self.file.as_raw_fd(), self.map_sync)?;
        self.mapped_bytes.store(to, Ordering::Release);
        Ok(())
    }

    fn msync_runs(&self, runs: &[Run]) -> Result<(), Error> {
        match self.msync_shape {
            MsyncShape::Hull => {
                let start = runs[0].offset;
                let end = runs[runs.len() - 1].end();
                self.counters.flush_syscalls_total.fetch_add(1, Ordering::Relaxed);
                self.region.msync(start, end - start)?;
            }
            MsyncShape::RangesThenFdatasync => {
                for run in runs {
                    self.counters.flush_syscalls_total.fetch_add(1, Ordering::Relaxed);
                    // SAFETY: plain system call on our own descriptor; no memory is passed.
                    let result = unsafe {
                        libc::sync_file_range(
                            self.file.as_raw_fd(),
                            run.offset as libc::off64_t,
                            run.len as libc::off64_t,
                            libc::SYNC_FILE_RANGE_WRITE,
                        )
                    };
                    if result != 0 {
                        return Err(io::Error::last_os_error().into());
                    }
                }
                self.counters.flush_syscalls_total.fetch_add(1, Ordering::Relaxed);
                self.file.sync_data()?;
            }
        }
        Ok(())
    }
}

impl MediumReport for FileMedium {
    fn flush_model(&self) -> FlushModel {
        self.model
    }

    fn map_sync(&self) -> bool {
        self.map_sync
    }

    fn persistence_domain(&self) -> PersistenceDomain {
        self.persistence_domain
    }

    fn counters(&self) -> MediumCounters {
        self.counters.snapshot()
    }
}

impl Medium for FileMedium {
    fn file_bytes(&self) -> u64 {
        self.file_bytes_at_open
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        Ok(self.file.read_at(buf, offset)?)
    }

    fn map_existing(&self, len: u64) -> Result<(), Error> {
        assert!(len % SEGMENT_BYTES == 0 && len <= self.file_bytes_at_open && len > 0);
        if len > self.region.reserved_bytes() {
            return Err(Error::InvalidOptions(format!(
                "the file is {len} bytes, larger than max_file_bytes ({})",
                self.region.reserved_bytes()
            )));
        }
        let _guard = self.grow_lock.lock().unwrap_or_else(|poison| poison.into_inner());
        self.map_range(0, len)
    }

    fn mapped_bytes(&self) -> u64 {
        self.mapped_bytes.load(Ordering::Acquire)
    }

    fn grow(&self, new_len: u64) -> Result<(), Error> {
        let _guard = self.grow_lock.lock().unwrap_or_else(|poison| poison.into_inner());
        let old_len = self.mapped_bytes();
        assert!(new_len > old_len && new_len % SEGMENT_BYTES == 0);
        if new_len > self.region.reserved_bytes() {
            return Err(Error::NoSpace);
        }
        self.map_new_space(old_len, new_len)?;
        self.counters.grows_total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    unsafe fn bytes(&self, offset: u64, len: usize) -> &[u8] {
        assert!(offset + len as u64 <= self.mapped_bytes(), "read past the mapping");
        // SAFETY: the range is mapped (checked) for as long as `self` (the region lives as long
        // as the medium); the caller guarantees no concurrent writer.
        unsafe { std::slice::from_raw_parts(self.region.ptr(offset), len) }
    }

    unsafe fn write(&self, offset: u64, data: &[u8]) {
        assert!(offset + data.len() as u64 <= self.mapped_bytes(), "write past the mapping");
        // SAFETY: the destination is mapped read-write (checked) and, by the caller's contract,
        // nobody else touches it during the copy; source and destination cannot overlap because
        // `data` is not borrowed from the destination range (which no one may reference now).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.region.ptr(offset), data.len()) };
    }

    unsafe fn value<K: Send + 'static>(&self, offset: u64, len: usize, pin: impl FnOnce() -> K) -> Bytes {
        if len < ZERO_COPY_MIN_BYTES {
            // SAFETY: forwarded contract: a published record, not written during the copy.
            return Bytes::copy_from_slice(unsafe { self.bytes(offset, len) });
        }
        assert!(offset + len as u64 <= self.mapped_bytes(), "read past the mapping");
        Bytes::from_owner(MappedValue { region: Arc::clone(&self.region), offset, len, _pin: pin() })
    }

    unsafe fn punch(&self, offset: u64, len: u64) -> Result<bool, Error> {
        assert!(offset + len <= self.mapped_bytes(), "punch past the mapping");
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: plain system call on our own descriptor; by the caller's contract nobody reads
        // or writes the range, so no access can observe the pages going away.
        let result = unsafe { libc::fallocate(self.file.as_raw_fd(), mode, offset as libc::off_t, len as libc::off_t) };
        if result != 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::EOPNOTSUPP) => Ok(false),
                _ => Err(error.into()),
            };
        }
        self.counters.holes_punched_total.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn will_read(&self, offset: u64, len: u64) {
        // SAFETY: posix_fadvise only reads the arguments; a failure (an old kernel, a filesystem
        // without readahead) changes nothing but speed, so it is ignored.
        let _ = unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            )
        };
    }

    fn refill(&self, offset: u64, len: u64) -> Result<(), Error> {
        assert!(offset + len <= self.mapped_bytes(), "refill past the mapping");
        if !has_hole(&self.file, offset, len)? {
            return Ok(());
        }
        allocate(&self.file, offset, len)?;
        self.counters.refills_total.fetch_add(1, Ordering::Relaxed);
        if self.map_sync || !self.prepare_page_cache {
            write_zeros(&self.file, offset, offset + len)?;
            return Ok(self.file.sync_data()?);
        }
        self.populate_and_write_back(offset, offset + len)
    }

    fn granularity(&self) -> Granularity {
        match self.model {
            FlushModel::CacheLine => Granularity::Line,
            // Fence flushes nothing: pages are the fewest runs to clear the tags with.
            FlushModel::Msync | FlushModel::Fence | FlushModel::None => Granularity::Page,
        }
    }

    fn flush(&self, runs: &[Run]) -> Result<(), Error> {
        if runs.is_empty() {
            return Ok(());
        }
        match self.model {
            FlushModel::None | FlushModel::Fence => Ok(()),
            FlushModel::Msync => self.msync_runs(runs),
            FlushModel::CacheLine => {
                let mut lines = 0;
                for run in runs {
                    assert!(run.end() <= self.mapped_bytes());
                    // SAFETY: the run is inside the mapping (checked) which stays mapped while
                    // `self` lives; line flushes do not modify memory.
                    lines +=
                        unsafe { cpu::flush_lines(self.line_flush, self.region.ptr(run.offset), run.len as usize) };
                }
                self.counters.line_flushes_total.fetch_add(lines, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    fn fence(&self) -> Result<(), Error> {
        if matches!(self.model, FlushModel::CacheLine | FlushModel::Fence) {
            cpu::store_fence();
            self.counters.fences_total.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Drop for FileMedium {
    fn drop(&mut self) {
        // A mapping keeps the open file description alive, and with it the flock, for as long as
        // any zero-copy value holds the region. Closing the store must release the lock now.
        // SAFETY: plain system call on our own descriptor.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The owner behind a zero-copy value: keeps the whole mapping alive, and through `_pin` the
/// segment from reuse or punching.
struct MappedValue<K> {
    region: Arc<Region>,
    offset: u64,
    len: usize,
    _pin: K,
}

impl<K> AsRef<[u8]> for MappedValue<K> {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the range was mapped when this owner was made (asserted in `value`) and the
        // region stays mapped while this `Arc` lives; the record is published, and its segment
        // is neither rewritten nor punched while `_pin` lives (see space::readers).
        unsafe { std::slice::from_raw_parts(self.region.ptr(self.offset), self.len) }
    }
}

/// Writes zeros over `[from, to)` through the file.
fn write_zeros(file: &File, from: u64, to: u64) -> Result<(), Error> {
    let zeros = vec![0u8; 1 << 20];
    for offset in (from..to).step_by(zeros.len()) {
        let chunk = (to - offset).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..chunk], offset)?;
    }
    Ok(())
}

/// Whether `[offset, offset + len)` holds a hole (`SEEK_HOLE` finds one before its end).
fn has_hole(file: &File, offset: u64, len: u64) -> Result<bool, Error> {
    // SAFETY: plain system call on our own descriptor; it moves the file offset, which this
    // medium never uses (all I/O is positioned).
    let hole = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, libc::SEEK_HOLE) };
    if hole < 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok((hole as u64) < offset + len)
}

fn lock_exclusive(file: &File) -> Result<(), Error> {
    // SAFETY: plain system call on an open descriptor we own.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Err(Error::Locked)
    } else {
        Err(error.into())
    }
}

/// The flush model a file gets unless one is forced: only ordering on an eADR region, line
/// flushes on another DAX mapping, msync on the page cache.
fn default_flush_model(map_sync: bool, domain: PersistenceDomain) -> FlushModel {
    match (map_sync, domain) {
        (true, PersistenceDomain::CpuCache) => FlushModel::Fence,
        (true, PersistenceDomain::MemoryController | PersistenceDomain::Unknown) => FlushModel::CacheLine,
        (false, _) => FlushModel::Msync,
    }
}

/// Whether this file accepts a `MAP_SYNC` mapping, tried on its first page in a throw-away
/// region. DAX support is a property of the filesystem. An empty (new) file is given its first
/// segment for the probe; a non-empty file shorter than a page is not a store (foreign or
/// truncated): it is never modified, and is reported as not DAX.
fn probe_map_sync(file: &File) -> Result<bool, Error> {
    let len = file.metadata()?.len();
    if len == 0 {
        allocate(file, 0, SEGMENT_BYTES)?;
    } else if len < PAGE_BYTES {
        return Ok(false);
    }
    let probe = Region::reserve(SEGMENT_BYTES)?;
    match probe.map_file(0, PAGE_BYTES, file.as_raw_fd(), true) {
        Ok(()) => Ok(true),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn allocate(file: &File, offset: u64, len: u64) -> Result<(), Error> {
    let before = file.metadata()?.len();
    // SAFETY: plain system call on our own descriptor.
    let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset as libc::off_t, len as libc::off_t) };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    // ext4 allocates in chunks and moves i_size past each one: an ENOSPC half way leaves the
    // file longer than before and no longer a whole number of segments, which the next open
    // reports as Corruption (found by the block-level tier's ENOSPC scenario). Cut it back.
    if file.metadata().is_ok_and(|m| m.len() > before) {
        let _ = file.set_len(before);
    }
    if error.raw_os_error() == Some(libc::EOPNOTSUPP) {
        // No fallocate here: extend the size; the zero pwrite that follows allocates the blocks.
        let end = offset + len;
        if file.metadata()?.len() < end {
            file.set_len(end)?;
        }
        return Ok(());
    }
    Err(error.into())
}

/// Writes back `[offset, offset + len)` of the page cache and waits for it (no metadata, no
/// device flush).
fn write_back_range(file: &File, offset: u64, len: u64) -> Result<(), Error> {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: plain system call on our own descriptor; no memory is passed.
    let result =
        unsafe { libc::sync_file_range(file.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, flags) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_flush_model_follows_map_sync_and_the_persistence_domain() {
        assert_eq!(default_flush_model(true, PersistenceDomain::CpuCache), FlushModel::Fence);
        assert_eq!(default_flush_model(true, PersistenceDomain::MemoryController), FlushModel::CacheLine);
        assert_eq!(default_flush_model(true, PersistenceDomain::Unknown), FlushModel::CacheLine, "unknown is not eADR");
        assert_eq!(default_flush_model(false, PersistenceDomain::CpuCache), FlushModel::Msync, "no MAP_SYNC: msync");
    }
}
