//! Open-time configuration.

use crate::error::Error;
use crate::layout::{RECORD_HEADER_BYTES, SEGMENT_BYTES, SEGMENT_USABLE_BYTES};
use crate::media::{FileConfig, FlushModel, MsyncShape};

/// When a write is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `put`/`delete`/`write` return after their commit is durable. Concurrent writers share one
    /// writeback (group commit).
    #[default]
    Immediate,
    /// Writes are visible at once and durable at the next [`Db::sync`](crate::Db::sync) (or close).
    Deferred,
}

/// Options for [`Db::open`](crate::Db::open). Builder style: `Options::default().durability(..)`.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) flush: Option<FlushModel>,
    pub(crate) msync_shape: MsyncShape,
    pub(crate) max_key_bytes: usize,
    pub(crate) max_value_bytes: usize,
    pub(crate) max_file_bytes: u64,
    pub(crate) try_map_sync: bool,
    pub(crate) verify_checksums_on_read: bool,
    pub(crate) prepare_page_cache: bool,
    pub(crate) max_space_amplification: f64,
    pub(crate) background_cleaning: bool,
    pub(crate) checkpoint_interval_bytes: u64,
    pub(crate) use_checkpoints: bool,
    pub(crate) max_transaction_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Immediate,
            flush: None,
            msync_shape: MsyncShape::Hull,
            max_key_bytes: 64 * 1024,
            max_value_bytes: 1024 * 1024,
            max_file_bytes: 256 << 30,
            try_map_sync: true,
            verify_checksums_on_read: false,
            prepare_page_cache: true,
            max_space_amplification: 1.3,
            background_cleaning: true,
            checkpoint_interval_bytes: 64 << 20,
            use_checkpoints: true,
            max_transaction_bytes: 64 << 20,
        }
    }
}

impl Options {
    /// Default durability of `put`, `delete` and `write`.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Force a flush model. Default: with a `MAP_SYNC` mapping, `Fence` when the file's NVDIMM
    /// region reports the CPU caches in its persistence domain (eADR) and `CacheLine` otherwise;
    /// `Msync` without `MAP_SYNC`. Forcing `CacheLine` on an eADR region flushes anyway;
    /// forcing `Fence` anywhere else is not durable.
    pub fn flush(mut self, model: FlushModel) -> Self {
        self.flush = Some(model);
        self
    }

    /// System-call shape of the `Msync` flusher.
    pub fn msync_shape(mut self, shape: MsyncShape) -> Self {
        self.msync_shape = shape;
        self
    }

    /// Longest key accepted (default 64 KiB).
    pub fn max_key_bytes(mut self, bytes: usize) -> Self {
        self.max_key_bytes = bytes;
        self
    }

    /// Most record bytes one transaction may write (default 64 MiB): a larger one gets
    /// [`Error::TransactionTooLarge`] from the `put` or `delete` that passes the limit. A
    /// transaction's writes are buffered in memory until it commits, and commit as one batch.
    pub fn max_transaction_bytes(mut self, bytes: u64) -> Self {
        self.max_transaction_bytes = bytes;
        self
    }

    /// Longest value accepted (default 1 MiB).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Largest the data file may grow (default 256 GiB); growth past it is [`Error::NoSpace`].
    /// Also the size of the virtual address range reserved at open.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Try `MAP_SHARED_VALIDATE | MAP_SYNC` first (default true).
    pub fn try_map_sync(mut self, enabled: bool) -> Self {
        self.try_map_sync = enabled;
        self
    }

    /// Verify the record checksum on every read (default false: records are verified at
    /// recovery and written by this process).
    pub fn verify_checksums_on_read(mut self, enabled: bool) -> Self {
        self.verify_checksums_on_read = enabled;
        self
    }

    /// Prepare page-cache files for 4 KiB write-back (default true): after zero-filling new
    /// space, evict it and read it back as 4 KiB folios, and advise the mapping `MADV_RANDOM`
    /// before any fault. Off, msync of one dirty page may write back a whole large folio (up to
    /// 2 MiB) on kernels with large folios. Exists to measure that difference.
    pub fn prepare_page_cache(mut self, enabled: bool) -> Self {
        self.prepare_page_cache = enabled;
        self
    }

    /// The space the log may occupy, as a multiple of the live data (default 1.3): above it the
    /// cleaner moves live records out of the emptiest, oldest segments and frees them. Lower
    /// means a smaller file and more copying (write amplification). At least 1.1. With background
    /// cleaning on, writers hold the whole file within this × the live data plus 4 segments
    /// (8 MiB) and the segments index checkpoints occupy: past that they clean or commit before
    /// they grow it, as long as anything can be reclaimed (docs/design.md, "The space bound"). Free segments beyond that budget are
    /// punched out of the file.
    pub fn max_space_amplification(mut self, ratio: f64) -> Self {
        self.max_space_amplification = ratio;
        self
    }

    /// Run the cleaner on a background thread (default true). Off, space is reclaimed only by
    /// [`Db::compact`](crate::Db::compact), and by writers that find the file full.
    pub fn background_cleaning(mut self, enabled: bool) -> Self {
        self.background_cleaning = enabled;
        self
    }

    /// Log bytes between index checkpoints taken in the background (default 64 MiB; 0: only
    /// [`Db::checkpoint`](crate::Db::checkpoint) and close take them). Open after a crash
    /// replays the log written since the last checkpoint's start: at most this, or the size of
    /// the last checkpoint when that is larger (so that rewriting the checkpoint costs at most
    /// as much as the log it saves replaying), plus what was written while one was taken.
    /// Background checkpoints run on the cleaner's thread (with `background_cleaning`).
    pub fn checkpoint_interval_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_interval_bytes = bytes;
        self
    }

    /// Open from the newest usable index checkpoint (default true). Off, open reads the whole
    /// log, as `daxkv check` does to verify the checkpoint against it.
    pub fn use_checkpoints(mut self, enabled: bool) -> Self {
        self.use_checkpoints = enabled;
        self
    }

    /// What the medium needs of these options.
    pub(crate) fn file_config(&self) -> FileConfig {
        let config = FileConfig::new(self.max_file_bytes)
            .msync_shape(self.msync_shape)
            .try_map_sync(self.try_map_sync)
            .prepare_page_cache(self.prepare_page_cache);
        match self.flush {
            Some(model) => config.flush(model),
            None => config,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let payload_max = SEGMENT_USABLE_BYTES - RECORD_HEADER_BYTES as u64;
        if self.max_key_bytes == 0 {
            return Err(Error::InvalidOptions("max_key_bytes must be at least 1".into()));
        }
        if (self.max_key_bytes as u64).saturating_add(self.max_value_bytes as u64) > payload_max {
            return Err(Error::InvalidOptions(format!(
                "max_key_bytes + max_value_bytes must be at most {payload_max} (one record fits in a 2 MiB segment)"
            )));
        }
        if self.max_file_bytes < 2 * SEGMENT_BYTES || self.max_file_bytes % SEGMENT_BYTES != 0 {
            return Err(Error::InvalidOptions(format!(
                "max_file_bytes must be a multiple of {SEGMENT_BYTES} and at least two segments"
            )));
        }
        if self.max_transaction_bytes == 0 {
            return Err(Error::InvalidOptions("max_transaction_bytes must be at least 1".into()));
        }
        if self.max_file_bytes > 1 << 46 {
            return Err(Error::InvalidOptions("max_file_bytes must be at most 64 TiB".into()));
        }
        if !(self.max_space_amplification >= 1.1 && self.max_space_amplification.is_finite()) {
            return Err(Error::InvalidOptions("max_space_amplification must be a finite number >= 1.1".into()));
        }
        if self.flush == Some(FlushModel::CacheLine) && !cfg!(target_arch = "x86_64") {
            return Err(Error::InvalidOptions("the CacheLine flusher needs x86_64".into()));
        }
        Ok(())
    }
}
