//! Read-only verification of a store file (`daxkv check`, `daxkv stats`).
//!
//! The file is read into a [`MemoryMedium`] and recovered there, so recovery's own writes (tail
//! zeroing, the clean-shutdown flag) never touch the file; then every indexed record's checksum
//! is verified. When that recovery used an index checkpoint, the file is recovered a second
//! time by reading the whole log, and the two must hold the same keys, values and live bytes:
//! the checkpoint is verified against the log. Needs memory for the file, twice.

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
    /// Recovery used an index checkpoint, and a recovery from the whole log agreed with it.
    pub checkpoint_verified: bool,
}

/// Verifies the store at `path` without modifying it: `Err(Error::Corruption { offset, .. })`
/// on damage, other errors for foreign or unreadable files.
pub fn check_file(path: &Path) -> Result<CheckReport, Error> {
    let image = std::fs::read(path)?;
    let file_bytes = image.len() as u64;
    let db = open_copy(&image, true)?;
    let stats = db.stats();
    let (keys, payload_bytes, digest) = read_all(&db)?;
    db.abandon();
    let mut checkpoint_verified = false;
    if stats.recovery.from_checkpoint {
        let whole_log = open_copy(&image, false)?;
        let (whole_keys, _, whole_digest) = read_all(&whole_log)?;
        let whole_live = whole_log.stats().live_bytes;
        whole_log.abandon();
        if (whole_keys, whole_digest, whole_live) != (keys, digest, stats.live_bytes) {
            return Err(Error::corruption(
                0,
                format!(
                    "the index checkpoint disagrees with the log: {keys} keys and {} live bytes from it, {whole_keys} and {whole_live} from the whole log",
                    stats.live_bytes
                ),
            ));
        }
        checkpoint_verified = true;
    }
    Ok(CheckReport { file_bytes, keys, payload_bytes, stats, checkpoint_verified })
}

/// A store recovered from a copy of `image` in memory.
fn open_copy(image: &[u8], use_checkpoints: bool) -> Result<Db<MemoryMedium>, Error> {
    let capacity = ((image.len() as u64).div_ceil(SEGMENT_BYTES) + 2) * SEGMENT_BYTES;
    let medium = MemoryMedium::from_image(image, FlushModel::None, capacity, [0; 16], false)?;
    let options = Options::default()
        .flush(FlushModel::None)
        .verify_checksums_on_read(true)
        .background_cleaning(false)
        .checkpoint_interval_bytes(0)
        .use_checkpoints(use_checkpoints)
        .max_file_bytes(capacity.max(2 * SEGMENT_BYTES));
    Db::open_medium(medium, options)
}

/// Keys, bytes of keys and values, and a digest of every pair in order.
fn read_all(db: &Db<MemoryMedium>) -> Result<(u64, u64, u32), Error> {
    let (mut keys, mut payload_bytes, mut digest) = (0, 0, crc32fast::Hasher::new());
    for item in db.iter() {
        let (key, value) = item?;
        keys += 1;
        payload_bytes += (key.len() + value.len()) as u64;
        digest.update(&(key.len() as u64).to_le_bytes());
        digest.update(&key);
        digest.update(&value);
    }
    Ok((keys, payload_bytes, digest.finalize()))
}
