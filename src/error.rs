//! The one error type of the crate.
//!
//! Hand-written and `#[non_exhaustive]`: callers match on the kinds they handle and keep a
//! catch-all arm. Corrupt bytes become [`Error::Corruption`] with the file offset where the
//! damage was found; a broken internal invariant is an assertion, never an `Err`.

use std::fmt;
use std::io;

/// Everything that can go wrong in daxkv.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    Io(io::Error),
    /// Committed data or the superblock failed validation.
    Corruption {
        /// Byte offset in the data file where the damage was detected.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
    /// Another handle (in this or another process) holds the store's exclusive lock.
    Locked,
    /// The file could not grow: the filesystem is full, or the configured maximum size is reached.
    NoSpace,
    /// A key longer than [`Options::max_key_bytes`](crate::Options::max_key_bytes).
    KeyTooLarge {
        /// Length of the rejected key.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A value longer than [`Options::max_value_bytes`](crate::Options::max_value_bytes).
    ValueTooLarge {
        /// Length of the rejected value.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An option (or combination of options) that cannot work.
    InvalidOptions(String),
    /// The file is not a daxkv store (no daxkv magic at the start).
    UnknownFormat,
    /// The file is a daxkv store of a format version this build cannot read.
    UnsupportedVersion {
        /// The version found in the superblock.
        found: u32,
    },
    /// An earlier flush failed; the handle refuses further writes (the kernel may have dropped
    /// the dirty pages, so nothing written since the last good commit can be trusted to be durable).
    /// Reopen the store to recover from the last good commit.
    Poisoned,
    /// A transaction's commit would break serializability: a key it read, or a range it
    /// scanned, changed since it began. Nothing was written; run the transaction again. The
    /// only error worth retrying as is.
    Conflict,
    /// A transaction buffered more than
    /// [`Options::max_transaction_bytes`](crate::Options::max_transaction_bytes) of records.
    TransactionTooLarge {
        /// Record bytes the transaction would write.
        bytes: u64,
        /// The configured maximum.
        max: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "I/O error: {error}"),
            Error::Corruption { offset, reason } => {
                write!(f, "corruption at file offset {offset}: {reason}")
            }
            Error::Locked => f.write_str("the store is locked by another handle"),
            Error::NoSpace => f.write_str("no space left to grow the store"),
            Error::KeyTooLarge { len, max } => write!(f, "key of {len} bytes exceeds the maximum of {max}"),
            Error::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the maximum of {max}")
            }
            Error::InvalidOptions(why) => write!(f, "invalid options: {why}"),
            Error::UnknownFormat => f.write_str("not a daxkv store (bad magic)"),
            Error::UnsupportedVersion { found } => {
                write!(f, "unsupported daxkv format version {found}")
            }
            Error::Poisoned => f.write_str("an earlier flush failed; reopen the store"),
            Error::Conflict => f.write_str("transaction conflict: what it read changed since it began; retry it"),
            Error::TransactionTooLarge { bytes, max } => {
                write!(f, "transaction of {bytes} record bytes exceeds the maximum of {max}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        match error.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EFBIG) | Some(libc::EDQUOT) => Error::NoSpace,
            _ => Error::Io(error),
        }
    }
}

impl Error {
    pub(crate) fn corruption(offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption { offset, reason: reason.into() }
    }
}
