//! The superblock: two 64-byte slots at file offsets 0 and 2048, the newer valid one wins.
//!
//! ```text
//! 0   magic "DAXKVSB\0"     8  format_version u16   10 flags u16 (bit 0: clean shutdown)
//! 12  segment_shift u8      13 page_shift u8        14 reserved u16
//! 16  update_seq u64        24 uuid [16]
//! 40  clean_commit_seq u64  48 clean_end_offset u64 56 open_epoch u32 60 crc32 of bytes 0..60
//! ```
//! `open_epoch` grows by one, durably, at every open before the first log write; it is the high
//! half of every segment generation allocated by that open, so no generation ever repeats.
//! Updates alternate slots (`update_seq` odd → slot 1), so a torn superblock write leaves the
//! previous version intact in the other slot. A slot is exactly one cache line, inside one
//! 512-byte sector, with the magic in its first word: a torn write can lose the tail of a slot,
//! never keep the tail without the magic.

use crate::error::Error;
use crate::ids::CommitSequence;
use crate::layout::{PAGE_BYTES, SEGMENT_BYTES};

pub(crate) const MAGIC: [u8; 8] = *b"DAXKVSB\0";
pub(crate) const FORMAT_VERSION: u16 = 2;
pub(crate) const SLOT_BYTES: usize = 64;
pub(crate) const SLOT_OFFSETS: [u64; 2] = [0, 2048];
const FLAG_CLEAN: u16 = 1;
const CRC_AT: usize = 60;

/// The decoded superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    pub(crate) update_seq: u64,
    pub(crate) uuid: [u8; 16],
    pub(crate) clean: bool,
    pub(crate) clean_commit_seq: CommitSequence,
    pub(crate) clean_end_offset: u64,
    pub(crate) open_epoch: u32,
}

impl Superblock {
    pub(crate) fn new(uuid: [u8; 16]) -> Superblock {
        Superblock {
            update_seq: 0,
            uuid,
            clean: false,
            clean_commit_seq: CommitSequence(0),
            clean_end_offset: 0,
            open_epoch: 1,
        }
    }

    /// The store id carried by every segment head: the first 8 bytes of the uuid.
    pub(crate) fn store_id(&self) -> u64 {
        u64::from_le_bytes(self.uuid[..8].try_into().expect("8 bytes"))
    }

    /// Where this version is written.
    pub(crate) fn slot_offset(&self) -> u64 {
        SLOT_OFFSETS[(self.update_seq % 2) as usize]
    }

    pub(crate) fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut bytes = [0u8; SLOT_BYTES];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[10..12].copy_from_slice(&(if self.clean { FLAG_CLEAN } else { 0 }).to_le_bytes());
        bytes[12] = SEGMENT_BYTES.trailing_zeros() as u8;
        bytes[13] = PAGE_BYTES.trailing_zeros() as u8;
        bytes[16..24].copy_from_slice(&self.update_seq.to_le_bytes());
        bytes[24..40].copy_from_slice(&self.uuid);
        bytes[40..48].copy_from_slice(&self.clean_commit_seq.0.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.clean_end_offset.to_le_bytes());
        bytes[56..60].copy_from_slice(&self.open_epoch.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..CRC_AT]);
        bytes[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }
}

/// What one slot holds.
enum SlotState {
    Valid(Superblock),
    /// Magic present, contents invalid (damaged, torn, or an unsupported version).
    Damaged(Error),
    /// No magic: never written, or not a daxkv file.
    Foreign,
}

fn decode_slot(bytes: &[u8], offset: u64) -> SlotState {
    if bytes.len() < SLOT_BYTES || bytes[0..8] != MAGIC {
        return SlotState::Foreign;
    }
    let short = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"));
    let long = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let stored_crc = u32::from_le_bytes(bytes[CRC_AT..SLOT_BYTES].try_into().expect("4 bytes"));
    if stored_crc != crc32fast::hash(&bytes[..CRC_AT]) {
        return SlotState::Damaged(Error::corruption(offset, "superblock checksum mismatch"));
    }
    if short(8) != FORMAT_VERSION {
        return SlotState::Damaged(Error::UnsupportedVersion { found: u32::from(short(8)) });
    }
    let geometry_ok =
        u32::from(bytes[12]) == SEGMENT_BYTES.trailing_zeros() && u32::from(bytes[13]) == PAGE_BYTES.trailing_zeros();
    if !geometry_ok || short(10) & !FLAG_CLEAN != 0 {
        return SlotState::Damaged(Error::corruption(offset, "superblock geometry or flags invalid"));
    }
    SlotState::Valid(Superblock {
        update_seq: long(16),
        uuid: bytes[24..40].try_into().expect("16 bytes"),
        clean: short(10) & FLAG_CLEAN != 0,
        clean_commit_seq: CommitSequence(long(40)),
        clean_end_offset: long(48),
        open_epoch: u32::from_le_bytes(bytes[56..60].try_into().expect("4 bytes")),
    })
}

/// Decodes the superblock page. `Ok(None)`: a store whose creation never finished (all zeros,
/// or a torn first slot beside an unwritten second one).
pub(crate) fn decode(page: &[u8]) -> Result<Option<Superblock>, Error> {
    let slots = SLOT_OFFSETS.map(|offset| {
        let start = offset as usize;
        decode_slot(page.get(start..start + SLOT_BYTES).unwrap_or(&[]), offset)
    });
    let [first, second] = slots;
    match (first, second) {
        (SlotState::Valid(a), SlotState::Valid(b)) => {
            if a.uuid != b.uuid {
                return Err(Error::corruption(0, "superblock slots name different stores"));
            }
            Ok(Some(if a.update_seq >= b.update_seq { a } else { b }))
        }
        (SlotState::Valid(one), _) | (_, SlotState::Valid(one)) => Ok(Some(one)),
        // Creation writes slot 0, makes it durable, then writes slot 1: a damaged slot 0 beside a
        // never-written slot 1 is a creation torn by a crash (nothing was ever acknowledged).
        (SlotState::Damaged(_), SlotState::Foreign) => Ok(None),
        // Slot 1 is written only after slot 0 is durable: no crash leaves slot 0 unwritten
        // beside a damaged slot 1. Damage, not an unfinished creation.
        (SlotState::Foreign, SlotState::Damaged(error)) | (SlotState::Damaged(error), SlotState::Damaged(_)) => {
            Err(error)
        }
        (SlotState::Foreign, SlotState::Foreign) => {
            if page.iter().all(|&byte| byte == 0) {
                Ok(None)
            } else {
                Err(Error::UnknownFormat)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(superblocks: &[Superblock]) -> Vec<u8> {
        let mut page = vec![0u8; PAGE_BYTES as usize];
        for superblock in superblocks {
            let at = superblock.slot_offset() as usize;
            page[at..at + SLOT_BYTES].copy_from_slice(&superblock.encode());
        }
        page
    }

    #[test]
    fn newer_slot_wins_and_a_torn_newer_slot_falls_back() {
        let old = Superblock::new([7; 16]);
        let new = Superblock { update_seq: 1, clean: true, clean_commit_seq: CommitSequence(9), ..old };
        assert_eq!(decode(&page_with(&[old, new])).unwrap(), Some(new));
        let mut torn = page_with(&[old, new]);
        torn[2048 + 44] ^= 0xff;
        assert_eq!(decode(&torn).unwrap(), Some(old));
    }

    #[test]
    fn zero_page_is_unformatted_and_foreign_bytes_are_unknown() {
        assert_eq!(decode(&[0u8; 4096]).unwrap(), None);
        assert!(matches!(decode(b"hello, not a database"), Err(Error::UnknownFormat)));
    }

    #[test]
    fn a_torn_first_slot_beside_an_unwritten_one_is_an_unfinished_creation() {
        let mut page = page_with(&[Superblock::new([3; 16])]);
        page[50] ^= 1;
        assert_eq!(decode(&page).unwrap(), None);
    }

    #[test]
    fn an_unwritten_first_slot_beside_a_damaged_second_is_corruption() {
        let first = Superblock::new([5; 16]);
        let second = Superblock { update_seq: 1, ..first };
        let mut page = page_with(&[second]);
        page[2048 + 30] ^= 1;
        assert!(matches!(decode(&page), Err(Error::Corruption { .. })), "no crash leaves this state");
    }

    #[test]
    fn both_slots_damaged_is_corruption() {
        let first = Superblock::new([1; 16]);
        let second = Superblock { update_seq: 1, ..first };
        let mut page = page_with(&[first, second]);
        page[20] ^= 1;
        page[2048 + 20] ^= 1;
        assert!(matches!(decode(&page), Err(Error::Corruption { .. })));
    }
}
