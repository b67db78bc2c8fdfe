//! A persistent ring buffer of small entries written against `daxkv::sim::SimMapping`: the
//! "your own persistent data structure" of docs/crash-testing.md, shared by the two examples
//! (`ring_buffer_buggy`, `ring_buffer_fixed`), tests/sim_mapping.rs and the `ring_buffer` fuzz
//! target.
//!
//! Layout: a header line at offset 0 (`tail` = entries ever appended, `head` = entries ever
//! popped, one aligned word each), and `SLOTS` slots of 128 bytes from offset 4096 (another
//! page): `[length: u64][payload]`. Entry `n` lives in slot `n % SLOTS`; `[head, tail)` are
//! live.
//!
//! The correct append: write the slot, flush it, **fence**, then store `tail` and persist it.
//! Both planted bugs publish `tail` before the slot is durable:
//! - `MissingFence`: the slot is flushed but not fenced before `tail` is stored, so under ADR
//!   the header line can reach the media first (harmless where a flush is synchronous or caches
//!   are persistent);
//! - `MissingFlush`: the slot is never flushed, only `tail` is, so the slot may still be in
//!   flight after the append is acknowledged (harmless under eADR, and under 2 MiB folios,
//!   where msync of the header writes back the slots' folio too).

#![allow(dead_code)] // each user of this module uses part of it

use daxkv::sim::{Crash, Rng, SimMapping};

/// Slots in the ring.
pub const SLOTS: u64 = 16;
/// Bytes of one slot.
pub const SLOT_BYTES: u64 = 128;
/// Offset of the first slot (its own page, apart from the header).
pub const SLOTS_OFFSET: u64 = 4096;
/// Bytes of the mapping the ring needs.
pub const MAPPING_BYTES: usize = 8192;
/// Longest payload.
pub const PAYLOAD_BYTES_MAX: usize = (SLOT_BYTES - 8) as usize;

const TAIL_OFFSET: u64 = 0;
const HEAD_OFFSET: u64 = 8;

/// How the ring makes an append durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Slot persisted (flush + fence), then `tail` persisted.
    Correct,
    /// Slot flushed, no fence, then `tail` persisted.
    MissingFence,
    /// Slot never flushed, `tail` persisted.
    MissingFlush,
}

/// A ring on a mapping.
pub struct Ring<'a> {
    mapping: &'a mut SimMapping,
    protocol: Protocol,
}

/// What recovery found: live entries `head..tail`, with their payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub head: u64,
    pub tail: u64,
    pub entries: Vec<Vec<u8>>,
}

impl<'a> Ring<'a> {
    /// The ring on a zeroed (new) or recovered mapping.
    pub fn new(mapping: &'a mut SimMapping, protocol: Protocol) -> Ring<'a> {
        Ring { mapping, protocol }
    }

    fn slot(sequence: u64) -> u64 {
        SLOTS_OFFSET + sequence % SLOTS * SLOT_BYTES
    }

    /// Appends `payload` (at most `PAYLOAD_BYTES_MAX` bytes); `None` when the ring is full.
    pub fn append(&mut self, payload: &[u8]) -> Option<u64> {
        assert!(payload.len() <= PAYLOAD_BYTES_MAX);
        let (head, tail) = (self.mapping.load_u64(HEAD_OFFSET), self.mapping.load_u64(TAIL_OFFSET));
        if tail - head == SLOTS {
            return None;
        }
        let slot = Ring::slot(tail);
        self.mapping.store_u64(slot, payload.len() as u64);
        self.mapping.write(slot + 8, payload);
        let written = 8 + payload.len() as u64;
        match self.protocol {
            Protocol::Correct => self.mapping.persist(slot, written),
            Protocol::MissingFence => self.mapping.flush(slot, written),
            Protocol::MissingFlush => {}
        }
        self.mapping.store_u64(TAIL_OFFSET, tail + 1);
        self.mapping.persist(TAIL_OFFSET, 8);
        Some(tail)
    }

    /// Entries ever appended.
    pub fn tail(&self) -> u64 {
        self.mapping.load_u64(TAIL_OFFSET)
    }

    /// Pops the oldest entry; `false` when the ring is empty.
    pub fn pop(&mut self) -> bool {
        let (head, tail) = (self.mapping.load_u64(HEAD_OFFSET), self.mapping.load_u64(TAIL_OFFSET));
        if head == tail {
            return false;
        }
        self.mapping.store_u64(HEAD_OFFSET, head + 1);
        self.mapping.persist(HEAD_OFFSET, 8);
        true
    }

    /// Recovery: reads the header, validates it, reads the live entries.
    pub fn recover(mapping: &SimMapping) -> Result<Recovered, String> {
        let (head, tail) = (mapping.load_u64(HEAD_OFFSET), mapping.load_u64(TAIL_OFFSET));
        if head > tail || tail - head > SLOTS {
            return Err(format!("corrupt header: head {head}, tail {tail}"));
        }
        let mut entries = Vec::new();
        for sequence in head..tail {
            let slot = Ring::slot(sequence);
            let len = mapping.load_u64(slot);
            if len > PAYLOAD_BYTES_MAX as u64 {
                return Err(format!("entry {sequence}: corrupt length {len}"));
            }
            entries.push(mapping.slice(slot + 8, len as usize).to_vec());
        }
        Ok(Recovered { head, tail, entries })
    }
}

/// One operation of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingOp {
    /// Append the next entry (skipped when full).
    Append,
    /// Pop the oldest (skipped when empty).
    Pop,
}

/// The payload of entry `sequence`: recovery's judge recomputes it.
pub fn payload(sequence: u64) -> Vec<u8> {
    let len = 9 + (sequence * 37 % 100) as usize;
    (0..len).map(|i| (sequence as u8).wrapping_mul(31) ^ (i as u8) ^ 0x5A).collect()
}

/// A seeded workload: 40 operations, about two appends per pop, wrapping the ring.
pub fn schedule(rng: &mut Rng) -> Vec<RingOp> {
    (0..40).map(|_| if rng.chance(35) { RingOp::Pop } else { RingOp::Append }).collect()
}

/// Runs `ops` on a fresh ring; operation `i` is labelled `i` and acknowledged when it returns.
pub fn run(mapping: &mut SimMapping, protocol: Protocol, ops: &[RingOp]) {
    for (label, op) in ops.iter().enumerate() {
        mapping.begin(label as u64);
        let mut ring = Ring::new(mapping, protocol);
        match op {
            RingOp::Append => {
                let next = ring.tail();
                ring.append(&payload(next));
            }
            RingOp::Pop => {
                ring.pop();
            }
        }
        mapping.acknowledge(label as u64);
    }
}

/// `(head, tail)` after the first `count` operations of `ops`.
pub fn expected(ops: &[RingOp], count: usize) -> (u64, u64) {
    let (mut head, mut tail) = (0, 0);
    for op in &ops[..count.min(ops.len())] {
        match op {
            RingOp::Append if tail - head < SLOTS => tail += 1,
            RingOp::Pop if head < tail => head += 1,
            _ => {}
        }
    }
    (head, tail)
}

/// The judge: recovery succeeds, every live entry is intact, and the ring is exactly as of
/// the last acknowledged operation or the one in flight.
pub fn judge(mapping: &SimMapping, crash: &Crash, ops: &[RingOp]) -> Result<(), String> {
    let recovered = Ring::recover(mapping)?;
    for (sequence, entry) in (recovered.head..recovered.tail).zip(&recovered.entries) {
        if *entry != payload(sequence) {
            return Err(format!("entry {sequence} is damaged ({} bytes, first {:?})", entry.len(), entry.first()));
        }
    }
    let done = crash.acknowledged.map_or(0, |label| label as usize + 1);
    let allowed = [Some(expected(ops, done)), crash.in_flight.map(|label| expected(ops, label as usize + 1))];
    if !allowed.contains(&Some((recovered.head, recovered.tail))) {
        return Err(format!(
            "recovered head {} tail {}, expected {:?} ({done} operations acknowledged)",
            recovered.head,
            recovered.tail,
            expected(ops, done)
        ));
    }
    Ok(())
}
