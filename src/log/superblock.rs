//! The superblock: two 128-byte slots at file offsets 0 and 2048, the newer valid one wins.
//!
//! ```text
//! 0   magic "DAXKVSB\0"      8   format_version u32    12  reserved u32
//! 16  update_seq u64         24  segment_bytes u32     28  page_bytes u32
//! 32  uuid [16]              48  flags u32 (bit 0: clean shutdown)   52 reserved u32
//! 56  clean_commit_seq u64   64  clean_end_offset u64  72..124 reserved (zero)
//! 124 crc32 of bytes 0..124
//! ```
//! Updates alternate slots (`update_seq` odd → slot 1), so a torn superblock write leaves the
//! previous version intact in the other slot.

use crate::error::Error;
use crate::layout::{PAGE_BYTES, SEGMENT_BYTES};

pub(crate) const MAGIC: [u8; 8] = *b"DAXKVSB\0";
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const SLOT_BYTES: usize = 128;
pub(crate) const SLOT_OFFSETS: [u64; 2] = [0, 2048];
const FLAG_CLEAN: u32 = 1;

/// The decoded superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    pub(crate) update_seq: u64,
    pub(crate) uuid: [u8; 16],
    pub(crate) clean: bool,
    pub(crate) clean_commit_seq: u64,
    pub(crate) clean_end_offset: u64,
}

impl Superblock {
    pub(crate) fn new(uuid: [u8; 16]) -> Superblock {
        Superblock { update_seq: 0, uuid, clean: false, clean_commit_seq: 0, clean_end_offset: 0 }
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
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.update_seq.to_le_bytes());
        bytes[24..28].copy_from_slice(&(SEGMENT_BYTES as u32).to_le_bytes());
        bytes[28..32].copy_from_slice(&(PAGE_BYTES as u32).to_le_bytes());
        bytes[32..48].copy_from_slice(&self.uuid);
        bytes[48..52].copy_from_slice(&(if self.clean { FLAG_CLEAN } else { 0 }).to_le_bytes());
        bytes[56..64].copy_from_slice(&self.clean_commit_seq.to_le_bytes());
        bytes[64..72].copy_from_slice(&self.clean_end_offset.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..124]);
        bytes[124..128].copy_from_slice(&crc.to_le_bytes());
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
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let long = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if word(124) != crc32fast::hash(&bytes[..124]) {
        return SlotState::Damaged(Error::corruption(offset, "superblock checksum mismatch"));
    }
    if word(8) != FORMAT_VERSION {
        return SlotState::Damaged(Error::UnsupportedVersion { found: word(8) });
    }
    if word(24) != SEGMENT_BYTES as u32 || word(28) != PAGE_BYTES as u32 || word(48) & !FLAG_CLEAN != 0 {
        return SlotState::Damaged(Error::corruption(offset, "superblock geometry or flags invalid"));
    }
    SlotState::Valid(Superblock {
        update_seq: long(16),
        uuid: bytes[32..48].try_into().expect("16 bytes"),
        clean: word(48) & FLAG_CLEAN != 0,
        clean_commit_seq: long(56),
        clean_end_offset: long(64),
    })
}

/// Decodes the superblock page. `Ok(None)`: all zeros (a store whose creation never finished).
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
        (SlotState::Damaged(error), _) | (_, SlotState::Damaged(error)) => Err(error),
        (SlotState::Foreign, SlotState::Foreign) => {
            if page.iter().all(|&byte| byte == 0) { Ok(None) } else { Err(Error::UnknownFormat) }
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
        let new = Superblock { update_seq: 1, clean: true, clean_commit_seq: 9, ..old };
        assert_eq!(decode(&page_with(&[old, new])).unwrap(), Some(new));
        let mut torn = page_with(&[old, new]);
        torn[2048 + 60] ^= 0xff;
        assert_eq!(decode(&torn).unwrap(), Some(old));
    }

    #[test]
    fn zero_page_is_unformatted_and_foreign_bytes_are_unknown() {
        assert_eq!(decode(&[0u8; 4096]).unwrap(), None);
        assert!(matches!(decode(b"hello, not a database"), Err(Error::UnknownFormat)));
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
