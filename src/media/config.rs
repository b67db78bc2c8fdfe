//! The medium's own vocabulary: how it flushes ([`FlushModel`], [`MsyncShape`]) and how a
//! file is opened ([`FileConfig`]). Nothing here knows about the store above.

/// How a commit makes its tagged ranges durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushModel {
    /// `msync(MS_SYNC)` of the tagged pages: the page-cache (non-DAX) path.
    Msync,
    /// CLWB (else CLFLUSHOPT, else CLFLUSH) per written cache line, then one SFENCE: the DAX path,
    /// durable only when the mapping was made with `MAP_SYNC`.
    CacheLine,
    /// No flush instruction, one SFENCE per commit: the eADR path, where the CPU caches are in
    /// the persistence domain (`persistence_domain` = `cpu_cache`) and a store is durable once
    /// it leaves the store buffer, so only ordering remains. Durable only on such a platform
    /// with a `MAP_SYNC` mapping; the default there.
    Fence,
    /// No flushing at all: nothing is durable before the OS writes pages back by itself.
    /// For benchmarks of everything but durability.
    None,
}

/// Where a store becomes durable, as the kernel reports it for the NVDIMM region behind the
/// file (`/sys/bus/nd/devices/region*/persistence_domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistenceDomain {
    /// `cpu_cache` (eADR): the CPU caches are flushed on power failure; a store is durable once
    /// it is globally visible.
    CpuCache,
    /// `memory_controller` (ADR): lines must be written back (CLWB) to reach the persistence
    /// domain.
    MemoryController,
    /// No region behind the file (page cache, tmpfs, a device the kernel does not report on),
    /// or a region that declares no domain: nothing is assumed.
    Unknown,
}

/// How the `Msync` flusher issues its system calls for one commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MsyncShape {
    /// One `msync` over the hull of all tagged runs (clean pages between runs cost nothing).
    #[default]
    Hull,
    /// `sync_file_range(WRITE)` per tagged run, then one `fdatasync`.
    RangesThenFdatasync,
}

/// How [`FileMedium::open`](super::FileMedium::open) maps and flushes its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileConfig {
    /// Address space reserved at open: the file never grows past it.
    pub max_file_bytes: u64,
    /// Try `MAP_SHARED_VALIDATE | MAP_SYNC` before plain `MAP_SHARED`.
    pub try_map_sync: bool,
    /// A forced flush model; `None`: with `MAP_SYNC`, `Fence` on an eADR region (caches in the
    /// persistence domain) and `CacheLine` elsewhere; `Msync` without `MAP_SYNC`.
    pub flush: Option<FlushModel>,
    /// System-call shape of the `Msync` flusher.
    pub msync_shape: MsyncShape,
    /// Prepare new page-cache space for 4 KiB write-back (written zeros read back as 4 KiB
    /// folios, `MADV_RANDOM`); see the module docs of `media::file`.
    pub prepare_page_cache: bool,
}

impl FileConfig {
    /// A config reserving `max_file_bytes` of address space, with the store's defaults otherwise.
    pub fn new(max_file_bytes: u64) -> FileConfig {
        FileConfig {
            max_file_bytes,
            try_map_sync: true,
            flush: None,
            msync_shape: MsyncShape::Hull,
            prepare_page_cache: true,
        }
    }

    /// Forces a flush model.
    pub fn flush(mut self, model: FlushModel) -> FileConfig {
        self.flush = Some(model);
        self
    }

    /// Chooses the msync shape.
    pub fn msync_shape(mut self, shape: MsyncShape) -> FileConfig {
        self.msync_shape = shape;
        self
    }

    /// Turns the `MAP_SYNC` attempt on or off.
    pub fn try_map_sync(mut self, enabled: bool) -> FileConfig {
        self.try_map_sync = enabled;
        self
    }

    /// Turns page-cache preparation on or off.
    pub fn prepare_page_cache(mut self, enabled: bool) -> FileConfig {
        self.prepare_page_cache = enabled;
        self
    }
}
