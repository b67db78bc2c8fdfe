//! Cache-line write-back instructions: the user-space `wb_cache_pmem` + `wmb_pmem`.
//!
//! CLWB writes a line back and may keep it cached; CLFLUSHOPT writes back and evicts; CLFLUSH
//! does the same but is ordered with every other CLFLUSH (slow). The first two are weakly
//! ordered: many are issued back to back and ONE SFENCE at the end orders them all before
//! anything that follows. Detection is at run time through CPUID leaf 7.

use crate::layout::LINE_BYTES;

/// Which line-flush instruction this CPU offers (the best of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFlushInstruction {
    /// CLWB: write back, keep the line.
    Clwb,
    /// CLFLUSHOPT: write back and invalidate, weakly ordered.
    Clflushopt,
    /// CLFLUSH: write back and invalidate, serialised.
    Clflush,
}

/// The best line-flush instruction of this CPU.
#[cfg(target_arch = "x86_64")]
pub fn detect() -> LineFlushInstruction {
    // CPUID leaf 7 sub-leaf 0 reports structured extended features (a CPU without leaf 7
    // returns zeros, which selects CLFLUSH).
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    if leaf7.ebx & (1 << 24) != 0 {
        LineFlushInstruction::Clwb
    } else if leaf7.ebx & (1 << 23) != 0 {
        LineFlushInstruction::Clflushopt
    } else {
        LineFlushInstruction::Clflush
    }
}

/// On other architectures there is no line flusher; the CacheLine model is refused at open.
#[cfg(not(target_arch = "x86_64"))]
pub fn detect() -> LineFlushInstruction {
    LineFlushInstruction::Clflush
}

/// Writes back every cache line overlapping `[start, start + len)`. Returns the lines flushed.
///
/// # Safety
/// The whole range must be mapped memory of this process for the duration of the call.
#[cfg(target_arch = "x86_64")]
pub unsafe fn flush_lines(instruction: LineFlushInstruction, start: *const u8, len: usize) -> u64 {
    let first = start as usize & !(LINE_BYTES as usize - 1);
    let end = start as usize + len;
    let mut line = first;
    let mut lines = 0;
    while line < end {
        let pointer = line as *const u8;
        // SAFETY: `pointer` lies within the mapped range (caller's contract) rounded down to its
        // cache line, which is mapped with it; these instructions only write back the line.
        unsafe {
            match instruction {
                LineFlushInstruction::Clwb => {
                    core::arch::asm!("clwb [{0}]", in(reg) pointer, options(nostack, preserves_flags))
                }
                LineFlushInstruction::Clflushopt => {
                    core::arch::asm!("clflushopt [{0}]", in(reg) pointer, options(nostack, preserves_flags))
                }
                LineFlushInstruction::Clflush => core::arch::x86_64::_mm_clflush(pointer),
            }
        }
        line += LINE_BYTES as usize;
        lines += 1;
    }
    lines
}

/// Not available off x86_64 (never called: open refuses the CacheLine model there).
///
/// # Safety
/// Never unsafe in itself; it panics.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn flush_lines(_: LineFlushInstruction, _: *const u8, _: usize) -> u64 {
    unreachable!("CacheLine flushing is refused at open on this architecture")
}

/// One store fence: every line flushed before it is written back before any later store.
pub fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SFENCE has no memory operands and is available on every x86_64 CPU (SSE).
    unsafe {
        core::arch::x86_64::_mm_sfence()
    };
    #[cfg(not(target_arch = "x86_64"))]
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

/// Asks the CPU to bring the line holding `address` into its caches, without waiting for it.
/// A hint: never faults, whatever `address` is (an unmapped or never-touched page is skipped).
/// Searches and scans issue several before reading, so that their misses overlap.
#[inline(always)]
pub(crate) fn prefetch(address: *const u8) {
    // SAFETY: PREFETCHT0 is a hint: it reads nothing architecturally, never faults and never
    // changes memory, whatever the address; SSE is part of the x86_64 baseline.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(address.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
