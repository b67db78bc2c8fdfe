//! Index checkpoints: the key index and the segment table written into free segments, so that
//! open reads them and replays only the log after them instead of the whole log.
//!
//! # What a checkpoint holds
//! A checkpoint is a *fuzzy* copy of the index, taken while writers go on (docs/design.md,
//! "Index checkpoints", has the whole crash argument):
//! - **the capture** (under the writer mutex, inside a commit): the head segment's generation
//!   `G` (replay starts at that segment's first record), and the *table* of every live segment
//!   older than it: index, generation, bytes written, tombstone bytes and shadow. Those segments
//!   are sealed: nothing is appended to them again, so the table stays true.
//! - **the leaves**, exported one after another without a lock ([`KeyIndex::export_from`]):
//!   each leaf as the tree holds it (prefix, tags, packed locations) with a lower bound of its keys, the
//!   separator recovery rebuilds the inner nodes from. A leaf exported after a writer changed
//!   it holds the newer locations; that is why the copy is fuzzy.
//! - **`names_through`**: the commit of the newest record the export could have seen. A
//!   checkpoint is used only when that commit is durable (recovery's last commit is at or past
//!   it); otherwise it could name records a crash lost (the planted bug
//!   `index-checkpoint-ahead-of-log`).
//!
//! Recovery loads the leaves, keeps an entry only when its record lies in a table segment that
//! still carries the table's generation (so it was written before the capture and is the key's
//! value then), replays the log from `G` on top, and recounts live bytes from the result.
//!
//! # Layout (docs/format.md, "Checkpoints")
//! A checkpoint is a stream of *items* split into *parts*, one part per segment. Every part
//! begins with a CheckpointHead record (its checkpoint id, part number, payload bytes and
//! payload checksum); items follow and never straddle parts. Part 0 starts with the summary and
//! is written last, once `names_through` and the part count are known.
//!
//! [`KeyIndex::export_from`]: crate::index::KeyIndex::export_from

pub(crate) mod format;
pub(crate) mod load;

pub(crate) use format::{Summary, TableEntry};
pub(crate) use load::{discard, find_candidates, load, Loaded};
