//! Opening arbitrary or mutated store images: an error or a working store, never a panic,
//! UB or SIGBUS. Mode 0: the input is the whole file. Mode 1: patches applied to a valid store
//! that holds an index checkpoint and a log after it. Mode 2: patches applied only to that
//! checkpoint's segments: the store must open with exactly its contents (the damaged
//! checkpoint is rejected by its checksums and the whole log read, never a wrong value).
#![no_main]

use std::sync::OnceLock;

use daxkv::media::MemoryMedium;
use daxkv::{Db, Durability, FlushModel, Options};
use libfuzzer_sys::fuzz_target;

const CAPACITY: u64 = 8 << 20;

fn options() -> Options {
    Options::default().flush(FlushModel::Msync).durability(Durability::Deferred).max_file_bytes(CAPACITY)
}

/// A valid store: its image (a few hundred records over two segments, an index checkpoint
/// after the first 200 puts, and records after it), its contents, and the byte ranges of the
/// segments the checkpoint occupies.
struct Base {
    image: Vec<u8>,
    contents: Vec<(Vec<u8>, Vec<u8>)>,
    checkpoint: Vec<(usize, usize)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let medium = MemoryMedium::new(FlushModel::Msync, CAPACITY, [7; 16], false);
        let db = Db::open_medium(medium, options()).expect("fresh store");
        for i in 0..300u32 {
            db.put(format!("key{i:04}").as_bytes(), &vec![i as u8; (i as usize * 37) % 9000]).unwrap();
            if i % 17 == 0 {
                db.delete(format!("key{:04}", i / 2).as_bytes()).unwrap();
                db.sync().unwrap();
            }
            if i == 200 {
                db.checkpoint().unwrap();
            }
        }
        db.sync().unwrap();
        let image = db.medium().visible_image();
        let contents = db.iter().map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
        db.abandon();
        // A checkpoint part starts with a record of kind 7 at its segment's first record offset.
        let segment = 2usize << 20;
        let checkpoint = (0..image.len() / segment)
            .map(|index| ((index * segment).max(4096), (index + 1) * segment))
            .filter(|&(start, _)| image[start + 4] == 7)
            .collect::<Vec<_>>();
        assert!(!checkpoint.is_empty(), "the base store holds a checkpoint");
        Base { image, contents, checkpoint }
    })
}

/// Applies the patches in `rest` (offset: 4 bytes, wrapped into `range`; a length byte; the
/// bytes) to `image` inside `range`.
fn patch(image: &mut [u8], range: (usize, usize), rest: &[u8]) {
    let span = range.1 - range.0;
    let mut at = 0;
    while at + 5 <= rest.len() {
        let offset = range.0 + u32::from_le_bytes(rest[at..at + 4].try_into().unwrap()) as usize % span;
        let len = (rest[at + 4] as usize).min(rest.len() - at - 5).min(range.1 - offset);
        image[offset..offset + len].copy_from_slice(&rest[at + 5..at + 5 + len]);
        at += 5 + len;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let base = base();
    let mut image = base.image.clone();
    match mode % 3 {
        0 => image = rest.to_vec(),
        1 => patch(&mut image, (0, base.image.len()), rest),
        _ => {
            let Some((&which, rest)) = rest.split_first() else { return };
            patch(&mut image, base.checkpoint[which as usize % base.checkpoint.len()], rest);
            let medium = MemoryMedium::from_image(&image, FlushModel::Msync, CAPACITY, [0; 16], false).unwrap();
            let db = Db::open_medium(medium, options()).expect("a damaged checkpoint never stops an open");
            let contents: Vec<(Vec<u8>, Vec<u8>)> =
                db.iter().map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
            assert!(contents == base.contents, "a damaged checkpoint changed what the store holds");
            db.abandon();
            return;
        }
    }
    let Ok(medium) = MemoryMedium::from_image(&image, FlushModel::Msync, CAPACITY, [0; 16], false) else { return };
    if let Ok(db) = Db::open_medium(medium, options()) {
        let mut count = 0u64;
        for (key, value) in db.iter().flatten() {
            count += 1;
            assert_eq!(db.get(&key).ok().flatten().as_deref(), Some(value.as_ref()));
        }
        assert!(count <= db.stats().keys);
        let _ = db.put(b"after", b"open");
        let _ = db.sync();
        db.abandon();
    }
});
