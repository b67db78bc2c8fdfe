//! The raw durable-commit floors of this machine, measured in the same run as the engines:
//! - `msync`: one 8-byte store into a random 4 KiB page of a prepared, mapped file, then
//!   `msync(MS_SYNC)` of that page. The file is prepared as machine-limits.md says is needed for
//!   true 4 KiB write-back: blocks really written (no holes/unwritten extents), fsync'd, page
//!   cache evicted (`POSIX_FADV_DONTNEED`), `MADV_RANDOM` on the mapping before any fault, and
//!   every page read-faulted in (4 KiB folios) before the timed loop.
//! - `pwrite`: `pwrite` of 4 KiB at a random page of a prepared file, then `fdatasync`.
//!
//! Reported under `[COMMIT]`, plus the bytes the process actually wrote per commit
//! (`/proc/self/io` write_bytes).

use crate::gen::Rng;
use crate::measure::{self, Measurements};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Instant;

pub struct FloorResult {
    pub runtime_ms: f64,
    pub ops: u64,
    pub m: Measurements,
    pub write_bytes_per_op: f64,
}

fn proc_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("write_bytes:")).and_then(|l| l[12..].trim().parse().ok()))
        .unwrap_or(0)
}

fn prepare(path: &Path, size: u64) -> Result<std::fs::File, String> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let chunk = vec![0xA5u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    f.sync_all().map_err(|e| e.to_string())?;
    // SAFETY: plain syscall on an open descriptor.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, size as libc::off_t, libc::POSIX_FADV_DONTNEED) };
    Ok(f)
}

pub fn run(kind: &str, dir: &Path, ops: u64, file_size: u64, seed: u64) -> Result<FloorResult, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let pages = file_size / 4096;
    let mut rng = Rng::new(seed);
    let mut m = Measurements::new();
    let path = dir.join(format!("floor-{kind}.dat"));
    let f = prepare(&path, file_size)?;
    let fd = f.as_raw_fd();
    let (t0, wb0);
    match kind {
        "msync" => {
            // SAFETY: mapping a file we own, of the size we just wrote; unmapped below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    file_size as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(format!("mmap: {}", std::io::Error::last_os_error()));
            }
            let base = p as *mut u8;
            // SAFETY: the range is the mapping just made.
            unsafe { libc::madvise(p, file_size as usize, libc::MADV_RANDOM) };
            let mut sum = 0u64;
            for i in 0..pages {
                // SAFETY: in bounds of the mapping.
                sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(base.add((i * 4096) as usize)) } as u64);
            }
            std::hint::black_box(sum);
            wb0 = proc_write_bytes();
            t0 = Instant::now();
            for i in 0..ops {
                let page = rng.below(pages);
                let t = Instant::now();
                // SAFETY: in bounds; 8-byte aligned.
                unsafe {
                    std::ptr::write_volatile(base.add((page * 4096) as usize) as *mut u64, i);
                    if libc::msync(base.add((page * 4096) as usize) as *mut libc::c_void, 4096, libc::MS_SYNC) != 0 {
                        return Err(format!("msync: {}", std::io::Error::last_os_error()));
                    }
                }
                m.record(measure::COMMIT, t.elapsed().as_nanos() as u64);
                m.ok[measure::COMMIT] += 1;
            }
            // SAFETY: unmapping our own mapping.
            unsafe { libc::munmap(p, file_size as usize) };
        }
        "pwrite" => {
            let mut buf = vec![0x5Au8; 4096];
            wb0 = proc_write_bytes();
            t0 = Instant::now();
            for i in 0..ops {
                let page = rng.below(pages);
                buf[..8].copy_from_slice(&i.to_le_bytes());
                let t = Instant::now();
                f.write_all_at(&buf, page * 4096).map_err(|e| e.to_string())?;
                f.sync_data().map_err(|e| e.to_string())?;
                m.record(measure::COMMIT, t.elapsed().as_nanos() as u64);
                m.ok[measure::COMMIT] += 1;
            }
        }
        o => return Err(format!("floor kind {o:?}: expected msync or pwrite")),
    }
    let runtime_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let wb = proc_write_bytes().saturating_sub(wb0);
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(FloorResult { runtime_ms, ops, m, write_bytes_per_op: wb as f64 / ops.max(1) as f64 })
}
