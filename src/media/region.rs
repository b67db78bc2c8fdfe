//! A reserved, 2 MiB-aligned virtual address range into which file (or anonymous) memory is
//! mapped piece by piece with `MAP_FIXED`.
//!
//! Reserving once and mapping growth into the reservation keeps every mapped address stable for
//! the life of the region: a record's address never moves while the file grows, so readers can
//! hold plain pointers (and zero-copy `Bytes`) across growth. The reservation is `PROT_NONE`
//! anonymous memory with `MAP_NORESERVE`: it costs address space only.
//!
//! Soundness of `MAP_FIXED`: a fixed mapping silently replaces whatever was mapped at that range.
//! [`Region::map_file`] only ever maps the range directly after the bytes already mapped
//! (`claimed` grows monotonically, claimed with a compare-exchange), so it never replaces memory
//! anyone can hold a reference to; the pages it replaces are `PROT_NONE`
//! reservation pages that were never handed out.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::layout::{PAGE_BYTES, PMD_BYTES};

/// `mmap` flag values of Linux (identical on every architecture that has them).
const MAP_SHARED_VALIDATE: libc::c_int = 0x03;
const MAP_SYNC: libc::c_int = 0x80000;

/// A reserved virtual range; see the module docs.
#[derive(Debug)]
pub(crate) struct Region {
    base: NonNull<u8>,
    reserved_bytes: u64,
    claimed_bytes: AtomicU64,
}

// SAFETY: the region is a plain address range; all mutation of the memory behind it goes through
// raw pointers whose exclusivity the callers of `ptr` argue. The struct itself holds no
// thread-affine state.
unsafe impl Send for Region {}
// SAFETY: as for `Send`; the only interior mutability is the atomic `claimed_bytes`.
unsafe impl Sync for Region {}

impl Region {
    /// Reserves `reserved_bytes` (a multiple of 2 MiB) of address space, aligned to 2 MiB.
    pub(crate) fn reserve(reserved_bytes: u64) -> io::Result<Region> {
        assert!(reserved_bytes > 0 && reserved_bytes % PMD_BYTES == 0);
        let total =
            usize::try_from(reserved_bytes + PMD_BYTES).map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: an anonymous PROT_NONE mapping at an address of the kernel's choosing touches
        // no existing memory.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = raw as usize;
        let aligned = (start + PMD_BYTES as usize - 1) & !(PMD_BYTES as usize - 1);
        let head = aligned - start;
        let tail = total - head - reserved_bytes as usize;
        if head > 0 {
            // SAFETY: [start, aligned) is part of the reservation just made and nobody uses it.
            unsafe { libc::munmap(raw, head) };
        }
        if tail > 0 {
            // SAFETY: the tail beyond the aligned range is part of the reservation just made.
            unsafe { libc::munmap((aligned + reserved_bytes as usize) as *mut libc::c_void, tail) };
        }
        let base = NonNull::new(aligned as *mut u8).expect("mmap returned a null address");
        Ok(Region { base, reserved_bytes, claimed_bytes: AtomicU64::new(0) })
    }

    /// Bytes of address space reserved.
    pub(crate) fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes
    }

    /// Maps `len` bytes of `fd` from file offset `offset` at the same offset of the region.
    /// `offset` must equal the bytes mapped so far. With `sync`, asks for
    /// `MAP_SHARED_VALIDATE | MAP_SYNC` and fails (EOPNOTSUPP/EINVAL) where that is unsupported.
    pub(crate) fn map_file(&self, offset: u64, len: u64, fd: RawFd, sync: bool) -> io::Result<()> {
        let flags = libc::MAP_FIXED | if sync { MAP_SHARED_VALIDATE | MAP_SYNC } else { libc::MAP_SHARED };
        self.map_next(offset, len, flags, fd)
    }

    fn map_next(&self, offset: u64, len: u64, flags: libc::c_int, fd: RawFd) -> io::Result<()> {
        assert!(offset % PAGE_BYTES == 0 && len % PAGE_BYTES == 0 && len > 0);
        if offset.checked_add(len).is_none_or(|end| end > self.reserved_bytes) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.claimed_bytes
            .compare_exchange(offset, offset + len, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| io::Error::other("region: mappings must be appended in order"))?;
        // SAFETY: [offset, offset+len) lies inside the reservation and was just claimed by this
        // call alone (compare-exchange above), so it holds only never-used PROT_NONE pages;
        // MAP_FIXED replaces exactly those.
        let raw = unsafe {
            libc::mmap(
                self.base.as_ptr().add(offset as usize).cast(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if raw == libc::MAP_FAILED {
            let error = io::Error::last_os_error();
            // Give the claim back so a retry (e.g. without MAP_SYNC) can map the same range.
            self.claimed_bytes.store(offset, Ordering::Release);
            return Err(error);
        }
        assert_eq!(raw as usize, self.base.as_ptr() as usize + offset as usize);
        Ok(())
    }

    /// `madvise` over a mapped range; errors are returned, callers decide whether they matter.
    pub(crate) fn advise(&self, offset: u64, len: u64, advice: libc::c_int) -> io::Result<()> {
        assert!(offset + len <= self.claimed_bytes.load(Ordering::Acquire));
        // SAFETY: the range is mapped (checked above); madvise with these advices does not change
        // the contents of a shared file mapping.
        let result = unsafe { libc::madvise(self.ptr(offset).cast(), len as usize, advice) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `msync(MS_SYNC)` over a mapped, page-aligned range.
    pub(crate) fn msync(&self, offset: u64, len: u64) -> io::Result<()> {
        assert!(offset % PAGE_BYTES == 0 && offset + len <= self.claimed_bytes.load(Ordering::Acquire));
        // SAFETY: the range is mapped and page-aligned; msync only writes back, it does not
        // change memory.
        let result = unsafe { libc::msync(self.ptr(offset).cast(), len as usize, libc::MS_SYNC) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The address of `offset` inside the region.
    pub(crate) fn ptr(&self, offset: u64) -> *mut u8 {
        assert!(offset <= self.reserved_bytes);
        // SAFETY: offset is within the reservation (checked), so the result stays in the same
        // allocated range.
        unsafe { self.base.as_ptr().add(offset as usize) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the region owns the whole reservation; dropping it means no slice into it is
        // alive any more (every borrower holds an `Arc<Region>` or borrows the owner).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.reserved_bytes as usize) };
    }
}
