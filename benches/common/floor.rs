//! The physical floors a durable commit is measured against, as safe utilities for benchmarks
//! (shared by `benches/engine.rs` and `examples/flush_costs.rs`, which include this file):
//!
//! - [`MsyncFloor`]: a file prepared exactly like the store's own segments (written zeros,
//!   4 KiB folios, `MADV_RANDOM`), one small store into the mapping, `msync` of that one page;
//! - [`FdatasyncFloor`]: `pwrite` of 4 KiB, then `fdatasync`;
//! - [`CacheLineFloor`]: a small store into a mapping, CLWB (else CLFLUSHOPT) of its lines, one
//!   SFENCE: the DAX floor of one durable record (on /dev/shm, its model).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use daxkv::media::{FileConfig, FileMedium, FlushModel, Medium, MsyncShape, Run};
use daxkv::Error;

/// The page msync works in.
const PAGE_BYTES: u64 = 4096;
/// One segment of the store (the floor prepares exactly one).
const SEGMENT_BYTES: u64 = 2 * 1024 * 1024;

/// One 2 MiB prepared mapping; see the module docs.
#[derive(Debug)]
pub struct MsyncFloor {
    medium: FileMedium,
}

impl MsyncFloor {
    /// Creates (truncating) the file at `path` and prepares one segment the way the store does.
    pub fn create(path: &Path) -> Result<MsyncFloor, Error> {
        MsyncFloor::create_with(path, MsyncShape::Hull, true)
    }

    /// As [`MsyncFloor::create`], with a chosen msync shape and page-cache preparation on or off
    /// (off: the file's page cache keeps the large folios the zero-fill left, as a naive mmap
    /// store would have).
    pub fn create_with(path: &Path, shape: MsyncShape, prepare: bool) -> Result<MsyncFloor, Error> {
        let _ = std::fs::remove_file(path);
        let config = FileConfig::new(2 * SEGMENT_BYTES)
            .flush(FlushModel::Msync)
            .msync_shape(shape)
            .try_map_sync(false)
            .prepare_page_cache(prepare);
        let medium = FileMedium::open(path, &config)?;
        medium.grow(SEGMENT_BYTES)?;
        Ok(MsyncFloor { medium })
    }

    /// Stores `data` at `offset` (inside the first 2 MiB) without flushing.
    pub fn store(&mut self, offset: u64, data: &[u8]) {
        assert!(offset + data.len() as u64 <= SEGMENT_BYTES);
        // SAFETY: `&mut self` is the only handle to this medium and the floor never hands out
        // slices of the mapping, so no one else reads or writes these bytes.
        unsafe { self.medium.write(offset, data) };
    }

    /// Flushes the given pages (page indexes, ascending, distinct) with the floor's msync shape.
    pub fn flush_pages(&mut self, pages: &[u64]) -> Result<(), Error> {
        let runs: Vec<Run> = pages.iter().map(|&page| Run { offset: page * PAGE_BYTES, len: PAGE_BYTES }).collect();
        self.medium.flush(&runs)
    }

    /// Stores `data` at `offset` (inside one page of the first 2 MiB) and msyncs that page.
    pub fn store_and_msync(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        let page = offset / PAGE_BYTES;
        assert!(offset + data.len() as u64 <= (page + 1) * PAGE_BYTES);
        self.store(offset, data);
        self.flush_pages(&[page])
    }
}

/// `pwrite` + `fdatasync`; see the module docs.
#[derive(Debug)]
pub struct FdatasyncFloor {
    file: File,
}

impl FdatasyncFloor {
    /// Creates the file at `path` with 2 MiB of written zeros, made durable.
    pub fn create(path: &Path) -> Result<FdatasyncFloor, Error> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        file.write_all_at(&vec![0u8; SEGMENT_BYTES as usize], 0)?;
        file.sync_all()?;
        Ok(FdatasyncFloor { file })
    }

    /// Writes `data` at `offset` and waits for `fdatasync`.
    pub fn write_and_sync(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.file.write_all_at(data, offset)?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// One 2 MiB mapping flushed by cache line; see the module docs.
#[derive(Debug)]
pub struct CacheLineFloor {
    medium: FileMedium,
}

impl CacheLineFloor {
    /// Creates (truncating) the file at `path`, mapped without `MAP_SYNC`, flushed by line.
    pub fn create(path: &Path) -> Result<CacheLineFloor, Error> {
        let _ = std::fs::remove_file(path);
        let config = FileConfig::new(2 * SEGMENT_BYTES).flush(FlushModel::CacheLine).try_map_sync(false);
        let medium = FileMedium::open(path, &config)?;
        medium.grow(SEGMENT_BYTES)?;
        Ok(CacheLineFloor { medium })
    }

    /// Copies `data` to `offset`, writes its lines back and fences once.
    pub fn store_and_flush(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        assert!(offset + data.len() as u64 <= SEGMENT_BYTES);
        // SAFETY: `&mut self` is the only handle to this medium and the floor never hands out
        // slices of the mapping, so no one else reads or writes these bytes.
        unsafe { self.medium.write(offset, data) };
        self.medium.flush(&[Run { offset, len: data.len() as u64 }])?;
        self.medium.fence()
    }
}
