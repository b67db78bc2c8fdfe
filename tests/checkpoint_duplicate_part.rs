//! Two segments claiming part 0 of one checkpoint (a state no crash makes: a part is written
//! once, into a segment taken for it) make the checkpoint untrusted: recovery reads the whole
//! log, reports why, loses nothing, and discards both claims, so the next open finds no
//! checkpoint to reject.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};

use common::{contents, temp_store, versioned_value};
use daxkv::{Db, Durability, Options};

const SEGMENT_BYTES: u64 = 2 << 20;
/// A CheckpointHead record: the 32-byte record header, then six words (store id, segment index,
/// part, payload bytes, payload crc, 0); see docs/format.md, "Checkpoints".
const PART_HEAD_BYTES: usize = 32 + 48;
const CHECKPOINT_HEAD_KIND: u8 = 7;

fn options() -> Options {
    Options::default().durability(Durability::Deferred).background_cleaning(false).checkpoint_interval_bytes(0)
}

/// The head of the checkpoint's part 0: the segment whose first record is a CheckpointHead
/// naming part 0.
fn part0_head(image: &[u8]) -> (u64, [u8; PART_HEAD_BYTES]) {
    let word = |head: &[u8], at: usize| u64::from_le_bytes(head[32 + at * 8..40 + at * 8].try_into().unwrap());
    (0..image.len() as u64 / SEGMENT_BYTES)
        .map(|index| (index * SEGMENT_BYTES).max(4096))
        .find_map(|start| {
            let head: [u8; PART_HEAD_BYTES] =
                image[start as usize..start as usize + PART_HEAD_BYTES].try_into().unwrap();
            (head[4] == CHECKPOINT_HEAD_KIND && word(&head, 2) == 0).then_some((start, head))
        })
        .expect("the store holds a checkpoint")
}

#[test]
fn a_part_claimed_twice_is_never_trusted_and_both_claims_are_discarded() {
    let store = temp_store();
    let db = Db::open(&store.path, options()).unwrap();
    for key in 0..20_000u64 {
        db.put(&key.to_be_bytes(), &versioned_value(key, 0, 40)).unwrap();
    }
    db.sync().unwrap();
    db.checkpoint().unwrap();
    for key in (0..20_000u64).step_by(3) {
        db.put(&key.to_be_bytes(), &versioned_value(key, 1, 40)).unwrap();
    }
    db.sync().unwrap();
    let expected = contents(&db);
    db.abandon();

    // A copy of part 0's head, naming a new segment past the end of the file as its own.
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&store.path).unwrap();
    let mut image = Vec::new();
    file.read_to_end(&mut image).unwrap();
    let (_, mut head) = part0_head(&image);
    let new_segment = image.len() as u64 / SEGMENT_BYTES;
    head[40..48].copy_from_slice(&new_segment.to_le_bytes());
    let crc = crc32fast::hash(&head[4..]);
    head[..4].copy_from_slice(&crc.to_le_bytes());
    file.set_len(image.len() as u64 + SEGMENT_BYTES).unwrap();
    file.seek(SeekFrom::Start(new_segment * SEGMENT_BYTES)).unwrap();
    file.write_all(&head).unwrap();
    file.sync_all().unwrap();
    drop(file);

    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert!(!report.from_checkpoint, "{report:?}");
    assert_eq!(report.checkpoints_rejected, 1);
    assert_eq!(report.checkpoint_rejection, Some("two segments claim one of its parts"));
    assert!(contents(&db) == expected, "the whole log gives exactly the store's contents");
    db.abandon();

    // Both claims were zeroed: nothing is found, let alone rejected, at the next open.
    let db = Db::open(&store.path, options()).unwrap();
    let report = db.stats().recovery;
    assert_eq!(report.checkpoints_rejected, 0, "{report:?}");
    assert!(!report.from_checkpoint);
    assert!(contents(&db) == expected);
}
