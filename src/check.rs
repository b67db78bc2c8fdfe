//! Read-only verification of a store file (`daxkv check`, `daxkv stats`).
//!
//! The file is read into a [`MemoryMedium`] and recovered there, so recovery's own writes (tail
//! zeroing, the clean-shutdown flag) never touch the file; then every indexed record's checksum
//! is verified. Needs memory for the whole file.

use std::path::Path;

use crate::db::Db;
use crate::error::Error;
use crate::layout::SEGMENT_BYTES;
use crate::media::FlushModel;
use crate::media::MemoryMedium;
use crate::options::Options;
use crate::stats::Stats;

/// What [`check_file`] found on an intact (or torn-tail) store.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// File size.
    pub file_bytes: u64,
    /// Keys in the store.
    pub keys: u64,
    /// Bytes of values (and keys) verified.
    pub payload_bytes: u64,
    /// The store's statistics after recovery (recovery report included).
    pub stats: Stats,
}

/// Verifies the store at `path` without modifying it: `Err(Error::Corruption { offset, .. })`
/// on damage, other errors for foreign or unreadable files.
pub fn check_file(path: &Path) -> Result<CheckReport, Error> {
    let image = std::fs::read(path)?;
    let file_bytes = image.len() as u64;
    let capacity = (file_bytes.div_ceil(SEGMENT_BYTES) + 2) * SEGMENT_BYTES;
    let medium = MemoryMedium::from_image(&image, FlushModel::None, capacity, [0; 16], false)?;
    drop(image);
    let options = Options::default()
        .flush(FlushModel::None)
        .verify_checksums_on_read(true)
        .background_cleaning(false)
        .max_file_bytes(capacity.max(2 * SEGMENT_BYTES));
    let db = Db::open_medium(medium, options)?;
    let mut payload_bytes = 0;
    let mut keys = 0;
    for item in db.iter() {
        let (key, value) = item?;
        keys += 1;
        payload_bytes += (key.len() + value.len()) as u64;
    }
    let stats = db.stats();
    db.abandon();
    Ok(CheckReport { file_bytes, keys, payload_bytes, stats })
}
