//! Opening arbitrary or mutated store images: an error or a working store, never a panic,
//! UB or SIGBUS. Mode 0: the input is the whole file. Mode 1: patches applied to a valid store.
#![no_main]

use std::sync::OnceLock;

use daxkv::media::MemoryMedium;
use daxkv::{Db, Durability, FlushModel, Options};
use libfuzzer_sys::fuzz_target;

const CAPACITY: u64 = 8 << 20;

fn options() -> Options {
    Options::default().flush(FlushModel::Msync).durability(Durability::Deferred).max_file_bytes(CAPACITY)
}

/// A valid store image with a few hundred records over two segments.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let medium = MemoryMedium::new(FlushModel::Msync, CAPACITY, [7; 16], false);
        let db = Db::open_medium(medium, options()).expect("fresh store");
        for i in 0..300u32 {
            db.put(format!("key{i:04}").as_bytes(), &vec![i as u8; (i as usize * 37) % 9000]).unwrap();
            if i % 17 == 0 {
                db.delete(format!("key{:04}", i / 2).as_bytes()).unwrap();
                db.sync().unwrap();
            }
        }
        db.sync().unwrap();
        let image = db.medium().visible_image();
        db.abandon();
        image
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let image = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut image = base().to_vec();
        // Patches: offset (4 bytes, wrapped into the image), length byte, bytes.
        let mut at = 0;
        while at + 5 <= rest.len() {
            let offset = u32::from_le_bytes(rest[at..at + 4].try_into().unwrap()) as usize % image.len();
            let len = (rest[at + 4] as usize).min(rest.len() - at - 5).min(image.len() - offset);
            image[offset..offset + len].copy_from_slice(&rest[at + 5..at + 5 + len]);
            at += 5 + len;
        }
        image
    };
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
