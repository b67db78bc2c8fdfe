//! Foreign, empty, truncated files, directories, oversized keys and values, bad options:
//! typed errors, never a panic, and nothing already stored is lost.

mod common;

use common::temp_store;
use daxkv::{Db, Error, Options};

#[test]
fn a_foreign_file_is_unknown_format_and_is_left_untouched() {
    let store = temp_store();
    let text = b"this is somebody's notes file, not a database\n".repeat(100);
    std::fs::write(&store.path, &text).unwrap();
    assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::UnknownFormat)));
    assert_eq!(std::fs::read(&store.path).unwrap(), text, "a foreign file must not be modified");
}

#[test]
fn tiny_foreign_files_are_unknown_format_and_are_left_untouched() {
    for text in [&b"x"[..], b"hello world\n", &[0xFFu8; 4095], &[0u8; 1], &[0u8; 4095]] {
        let store = temp_store();
        std::fs::write(&store.path, text).unwrap();
        assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::UnknownFormat)));
        assert_eq!(std::fs::read(&store.path).unwrap(), text, "a foreign file must not be modified");
    }
}

#[test]
fn an_empty_file_becomes_a_new_store() {
    let store = temp_store();
    std::fs::write(&store.path, b"").unwrap();
    let db = Db::open(&store.path, Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    assert_eq!(Db::open(&store.path, Options::default()).unwrap().get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_truncated_store_is_corruption() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&store.path).unwrap();
    file.set_len(1 << 20).unwrap();
    assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::Corruption { .. })));
    file.set_len(4000).unwrap();
    assert!(matches!(Db::open(&store.path, Options::default()), Err(Error::Corruption { .. })));
}

#[test]
fn a_directory_is_an_io_error() {
    let store = temp_store();
    assert!(matches!(Db::open(store.dir.path(), Options::default()), Err(Error::Io(_))));
}

#[test]
fn a_missing_parent_directory_is_an_io_error() {
    let store = temp_store();
    assert!(matches!(Db::open(store.dir.path().join("missing/store.db"), Options::default()), Err(Error::Io(_))));
}

#[test]
fn oversized_keys_and_values_are_refused_and_nothing_is_lost() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default().max_key_bytes(16).max_value_bytes(1000)).unwrap();
    db.put(b"kept", b"value").unwrap();
    assert!(matches!(db.put(&[1; 17], b"v"), Err(Error::KeyTooLarge { len: 17, max: 16 })));
    assert!(matches!(db.put(b"k", &[0; 1001]), Err(Error::ValueTooLarge { len: 1001, max: 1000 })));
    let mut batch = daxkv::WriteBatch::new();
    batch.put(b"good", b"1").put(b"bad", &[0; 1001]);
    assert!(matches!(db.write(batch), Err(Error::ValueTooLarge { .. })));
    assert_eq!(db.get(b"good").unwrap(), None, "a refused batch writes nothing");
    db.put(&[1; 16], &[2; 1000]).unwrap();
    assert_eq!(db.get(b"kept").unwrap().as_deref(), Some(&b"value"[..]));
    db.put(b"empty", b"").unwrap();
    assert_eq!(db.get(b"empty").unwrap().as_deref(), Some(&b""[..]), "empty values are values");
}

#[test]
fn the_default_limits_are_64_kib_keys_and_1_mib_values() {
    let store = temp_store();
    let db = Db::open(&store.path, Options::default()).unwrap();
    db.put(&vec![7; 64 * 1024], &vec![9; 1 << 20]).unwrap();
    assert_eq!(db.get(&vec![7; 64 * 1024]).unwrap().map(|v| v.len()), Some(1 << 20));
    assert!(matches!(db.put(&vec![7; 64 * 1024 + 1], b""), Err(Error::KeyTooLarge { .. })));
    assert!(matches!(db.put(b"k", &vec![7; (1 << 20) + 1]), Err(Error::ValueTooLarge { .. })));
}

#[test]
fn impossible_options_are_invalid_options() {
    let store = temp_store();
    for options in [
        Options::default().max_value_bytes(4 << 20),
        Options::default().max_key_bytes(0),
        Options::default().max_file_bytes(3 << 20),
    ] {
        assert!(matches!(Db::open(&store.path, options), Err(Error::InvalidOptions(_))));
    }
}
