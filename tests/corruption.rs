//! Damage to committed data or the superblock is `Error::Corruption`, never a wrong value.

mod common;

use common::{flip_byte, temp_store};
use daxkv::{Db, Error, Options};

fn populated(path: &std::path::Path) -> Vec<(u64, u64)> {
    let db = Db::open(path, Options::default()).unwrap();
    let mut extents = Vec::new();
    for i in 0..40u32 {
        let before = db.stats().log_head_offset;
        db.put(format!("key{i:02}").as_bytes(), format!("value number {i}").as_bytes()).unwrap();
        extents.push((before, db.stats().log_head_offset));
    }
    db.close().unwrap();
    extents
}

#[test]
fn both_superblock_slots_damaged_is_corruption() {
    let store = temp_store();
    populated(&store.path);
    flip_byte(&store.path, 40);
    flip_byte(&store.path, 2048 + 40);
    assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::Corruption { .. })));
}

#[test]
fn a_damaged_committed_record_in_the_middle_is_corruption_with_its_offset() {
    let store = temp_store();
    let extents = populated(&store.path);
    let (start, _) = extents[10];
    flip_byte(&store.path, start + 40);
    match Db::open(&store.path, Options::default()) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, start, "offset of the damaged record"),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn after_a_clean_close_damage_to_any_committed_byte_is_detected() {
    // Every byte of every record of the last commits: a clean close records where the log
    // ends, so even the final commit cannot be mistaken for a torn tail.
    let store = temp_store();
    let extents = populated(&store.path);
    let pristine = std::fs::read(&store.path).unwrap();
    let (first, _) = extents[37];
    let mut unnoticed = 0;
    let (_, end) = extents[39];
    for offset in first..end {
        std::fs::write(&store.path, &pristine).unwrap();
        flip_byte(&store.path, offset);
        match Db::open(&store.path, Options::default()) {
            Err(Error::Corruption { .. }) => {}
            Ok(db) => {
                // Padding bytes are outside every checksum; all values must still be exact.
                for i in 0..40u32 {
                    assert_eq!(
                        db.get(format!("key{i:02}").as_bytes()).unwrap().as_deref(),
                        Some(format!("value number {i}").as_bytes()),
                        "damage at {offset} returned a wrong value"
                    );
                }
                assert!(is_padding(&extents, offset), "damage at {offset} went unnoticed");
                unnoticed += 1;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(unnoticed <= 3 * 7, "only padding bytes may go unnoticed");
}

/// Whether `offset` is a padding byte after a put record's payload (not checksummed). Each
/// extent holds one put record (32-byte header, key, value, zero padding to 8) and a 48-byte
/// Commit record, which has no padding.
fn is_padding(extents: &[(u64, u64)], offset: u64) -> bool {
    extents.iter().enumerate().any(|(i, &(start, _))| {
        let payload_end = start + 32 + 5 + format!("value number {i}").len() as u64;
        let padded_end = payload_end.div_ceil(8) * 8;
        (payload_end..padded_end).contains(&offset)
    })
}
