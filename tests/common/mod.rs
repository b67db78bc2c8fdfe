//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A temporary directory with a store path inside.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    TempStore { dir, path }
}

/// A tiny deterministic generator (xorshift64*), so every failure replays from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Flips one byte of the file at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open for damage");
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset).expect("read byte");
    byte[0] ^= 0x5A;
    file.write_all_at(&byte, offset).expect("write byte");
}

/// A value of `len` bytes that differs for every (key, version): a read that returns another
/// key's or another version's value is caught.
pub fn versioned_value(key: u64, version: u64, len: usize) -> Vec<u8> {
    let seed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ version;
    (0..len).map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8).collect()
}

/// Bytes the filesystem allocated to the file (`st_blocks` × 512): what punching gives back.
pub fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("store file").blocks() * 512
}

/// Every key and value of `db`, read by a full iteration.
pub fn contents(db: &daxkv::Db) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).expect("iterate")).collect()
}
