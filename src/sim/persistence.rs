//! The persistence model: replays a recorded trace and answers "what may be on the media if
//! power fails right now?" for the three crash models of docs/crash-testing.md.
//!
//! - **ADR** (fsdax + MAP_SYNC): units are 64-byte lines. Every store since a line was last
//!   durable is *pending* on it. A flush captures the line's pending stores; the next fence makes
//!   the captured ones durable. At a crash each line with pending stores may persist any prefix
//!   of them, cut at an aligned 8-byte word (words never tear).
//! - **eADR**: caches are persistent, the store buffer is not. Stores leave it, and so persist,
//!   in program order; a fence drains it. The image is a prefix of the global store order since
//!   the last fence (cut at a word), and at a fence every earlier store is durable. This is the
//!   check that matches the fence-only flush model: a commit acknowledged without a fence after
//!   its last store can be lost.
//! - **Page cache**: units are pages (4 KiB) or folios (up to 2 MiB). Any dirty unit may be
//!   written back at any time (any prefix of its stores, or with torn 512-byte sectors when that
//!   option is on); msync over a range makes every dirty unit it touches durable. File growth
//!   counts only once synced: the size grows at the next msync, and a crash image before it is
//!   the shorter file. (Under ADR and eADR, growth is durable at once: MAP_SYNC faults make
//!   block metadata durable.)

use std::collections::BTreeMap;

use crate::media::Event;
use crate::media::FlushModel;

const WORD: u64 = 8;
const SECTOR: u64 = 512;

/// A crash model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashModel {
    /// fsdax with MAP_SYNC: cache lines, flush + fence.
    Adr,
    /// Persistent caches: prefix of the global store order.
    Eadr,
    /// Page cache with msync.
    PageCache {
        /// Write-back unit: 4096 (pages) up to 2 MiB (ext4's large folios here).
        folio_bytes: u64,
        /// A unit may be written back with some 512-byte sectors new and others old.
        torn_sectors: bool,
    },
}

impl CrashModel {
    /// The flush model the store runs with under this crash model by default: the one the store
    /// itself picks on such a platform (`Fence` under eADR).
    pub fn flush_model(&self) -> FlushModel {
        match self {
            CrashModel::Adr => FlushModel::CacheLine,
            CrashModel::Eadr => FlushModel::Fence,
            CrashModel::PageCache { .. } => FlushModel::Msync,
        }
    }

    /// Parses `adr`, `eadr`, `pagecache` (4 KiB pages, torn sectors), `pagecache-folio` (2 MiB folios).
    pub fn parse(name: &str) -> Option<CrashModel> {
        Some(match name {
            "adr" => CrashModel::Adr,
            "eadr" => CrashModel::Eadr,
            "pagecache" => CrashModel::PageCache { folio_bytes: 4096, torn_sectors: true },
            "pagecache-folio" => CrashModel::PageCache { folio_bytes: 2 << 20, torn_sectors: false },
            _ => return None,
        })
    }

    /// The name `parse` accepts.
    pub fn name(&self) -> &'static str {
        match self {
            CrashModel::Adr => "adr",
            CrashModel::Eadr => "eadr",
            CrashModel::PageCache { folio_bytes: 4096, .. } => "pagecache",
            CrashModel::PageCache { .. } => "pagecache-folio",
        }
    }

    /// Bytes of one unit of this model (a line, a page or a folio; eADR: a line, unused).
    pub fn unit_bytes(&self) -> u64 {
        match self {
            CrashModel::Adr | CrashModel::Eadr => 64,
            CrashModel::PageCache { folio_bytes, .. } => *folio_bytes,
        }
    }
}

/// Stored bytes confined to one unit.
#[derive(Clone, Debug)]
struct Piece {
    seq: u64,
    offset: u64,
    data: Vec<u8>,
}

impl Piece {
    /// Aligned-word pieces of this piece, in address (= memcpy) order.
    fn atoms(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut at = 0usize;
        std::iter::from_fn(move || {
            if at >= self.data.len() {
                return None;
            }
            let offset = self.offset + at as u64;
            let len = ((WORD - offset % WORD) as usize).min(self.data.len() - at);
            let atom = (offset, &self.data[at..at + len]);
            at += len;
            Some(atom)
        })
    }

    fn atom_count(&self) -> u64 {
        self.atoms().count() as u64
    }
}

#[derive(Clone, Debug, Default)]
struct UnitState {
    pending: Vec<Piece>,
    /// Pending pieces captured by a flush and made durable by the next fence (ADR).
    flushed: usize,
}

/// What happens to one in-flight unit in a crash image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// None of its pending stores persist.
    Lost,
    /// All of them persist.
    Persisted,
    /// The first `n` aligned-word pieces of its pending stores persist.
    Prefix(u64),
    /// All pending stores persist in the 512-byte sectors whose bit is set, none elsewhere.
    Sectors(u64),
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct Persistence {
    model: CrashModel,
    persisted: Vec<u8>,
    units: BTreeMap<u64, UnitState>,
    eadr: Vec<Piece>,
    seq: u64,
    /// Page cache: a file size not yet synced.
    unsynced_len: Option<u64>,
}

impl Persistence {
    /// Starts from a durable `image` (empty for a new file).
    pub fn new(model: CrashModel, image: Vec<u8>) -> Persistence {
        Persistence { model, persisted: image, units: BTreeMap::new(), eadr: Vec::new(), seq: 0, unsynced_len: None }
    }

    fn sync_len(&mut self) {
        if let Some(len) = self.unsynced_len.take() {
            if self.persisted.len() < len as usize {
                self.persisted.resize(len as usize, 0);
            }
        }
    }

    /// Replays one event.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Store { offset, data } => self.store(*offset, data),
            Event::Grow { len } => {
                self.unsynced_len = Some(self.unsynced_len.unwrap_or(0).max(*len));
                if !matches!(self.model, CrashModel::PageCache { .. }) {
                    self.sync_len();
                }
            }
            Event::Flush { runs } => match self.model {
                CrashModel::Adr => {
                    for run in runs {
                        for line in run.offset / 64..run.end().div_ceil(64) {
                            if let Some(unit) = self.units.get_mut(&line) {
                                unit.flushed = unit.pending.len();
                            }
                        }
                    }
                }
                CrashModel::PageCache { folio_bytes, .. } => {
                    self.sync_len();
                    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
                        let units: Vec<u64> = self
                            .units
                            .range(first.offset / folio_bytes..last.end().div_ceil(folio_bytes))
                            .map(|(k, _)| *k)
                            .collect();
                        for unit in units {
                            self.make_durable(unit, usize::MAX);
                        }
                    }
                }
                CrashModel::Eadr => {}
            },
            Event::Fence => {
                if self.model == CrashModel::Eadr {
                    self.settle();
                }
                if self.model == CrashModel::Adr {
                    let flushed: Vec<(u64, usize)> =
                        self.units.iter().filter(|(_, u)| u.flushed > 0).map(|(k, u)| (*k, u.flushed)).collect();
                    for (unit, count) in flushed {
                        self.make_durable(unit, count);
                    }
                }
            }
            Event::Begin { .. } | Event::Ack { .. } => {}
        }
    }

    fn store(&mut self, offset: u64, data: &[u8]) {
        let unit_bytes = self.model.unit_bytes();
        let mut at = 0usize;
        while at < data.len() {
            let position = offset + at as u64;
            let len = ((unit_bytes - position % unit_bytes) as usize).min(data.len() - at);
            self.seq += 1;
            let piece = Piece { seq: self.seq, offset: position, data: data[at..at + len].to_vec() };
            if self.model == CrashModel::Eadr {
                self.eadr.push(piece);
            } else {
                self.units.entry(position / unit_bytes).or_default().pending.push(piece);
            }
            at += len;
        }
    }

    /// Applies the first `count` pending pieces of `unit` to the durable image.
    fn make_durable(&mut self, unit: u64, count: usize) {
        let Some(state) = self.units.get_mut(&unit) else { return };
        let count = count.min(state.pending.len());
        for piece in state.pending.drain(..count) {
            write(&mut self.persisted, piece.offset, &piece.data);
        }
        state.flushed = 0;
        if state.pending.is_empty() {
            self.units.remove(&unit);
        }
    }

    /// Units whose fate a crash image decides, in program order of their first pending store.
    /// For eADR there is one pseudo-unit: the global store sequence since the last crash point.
    pub fn in_flight(&self) -> Vec<u64> {
        if self.model == CrashModel::Eadr {
            return if self.eadr.is_empty() { Vec::new() } else { vec![0] };
        }
        let mut units: Vec<(u64, u64)> = self
            .units
            .iter()
            .filter(|(_, state)| !self.pending_is_noop(state))
            .map(|(unit, state)| (state.pending[0].seq, *unit))
            .collect();
        units.sort_unstable();
        units.into_iter().map(|(_, unit)| unit).collect()
    }

    /// Whether applying every pending store of a unit changes nothing (a duplicate image).
    fn pending_is_noop(&self, state: &UnitState) -> bool {
        state.pending.iter().all(|piece| {
            let range = piece.offset as usize..piece.offset as usize + piece.data.len();
            range.end > self.persisted.len() || self.persisted[range] == piece.data[..]
        })
    }

    /// Word pieces pending on `unit` (for `Fate::Prefix`).
    pub fn atoms(&self, unit: u64) -> u64 {
        self.pieces(unit).iter().map(|piece| piece.atom_count()).sum()
    }

    /// Atom counts at each store boundary of the eADR sequence (for prefix strategies).
    pub fn store_boundaries(&self, unit: u64) -> Vec<u64> {
        let mut total = 0;
        self.pieces(unit)
            .iter()
            .map(|piece| {
                total += piece.atom_count();
                total
            })
            .collect()
    }

    /// The byte ranges of the stores pending on `unit`, in program order (for eADR: of the
    /// whole store sequence). Read-guided exploration matches them against what recovery read.
    pub fn pending_ranges(&self, unit: u64) -> Vec<crate::media::Run> {
        self.pieces(unit)
            .iter()
            .map(|piece| crate::media::Run { offset: piece.offset, len: piece.data.len() as u64 })
            .collect()
    }

    /// The crash model.
    pub fn model(&self) -> CrashModel {
        self.model
    }

    /// Sectors of a unit (for `Fate::Sectors`); 0 when the model does not tear sectors.
    pub fn sectors(&self) -> u64 {
        match self.model {
            CrashModel::PageCache { folio_bytes, torn_sectors: true } if folio_bytes / SECTOR <= 64 => {
                folio_bytes / SECTOR
            }
            _ => 0,
        }
    }

    fn pieces(&self, unit: u64) -> &[Piece] {
        if self.model == CrashModel::Eadr {
            &self.eadr
        } else {
            self.units.get(&unit).map_or(&[], |state| &state.pending)
        }
    }

    /// The crash image where in-flight unit `units[i]` meets `fates[i]`.
    pub fn image(&self, units: &[u64], fates: &[Fate]) -> Vec<u8> {
        let mut image = vec![0u8; self.persisted.len()];
        self.image_into(units, fates, &mut image);
        image
    }

    /// Bytes of the durable image (the length of every crash image).
    pub fn len(&self) -> usize {
        self.persisted.len()
    }

    /// Whether nothing was ever persisted (an empty file).
    pub fn is_empty(&self) -> bool {
        self.persisted.is_empty()
    }

    /// Writes the crash image of `image` into `image` (exactly [`Persistence::len`] bytes).
    pub fn image_into(&self, units: &[u64], fates: &[Fate], image: &mut [u8]) {
        assert_eq!(units.len(), fates.len());
        image.copy_from_slice(&self.persisted);
        for (&unit, &fate) in units.iter().zip(fates) {
            let pieces = self.pieces(unit);
            match fate {
                Fate::Lost => {}
                Fate::Persisted => pieces.iter().for_each(|piece| write(image, piece.offset, &piece.data)),
                Fate::Prefix(atoms) => {
                    for (offset, bytes) in pieces.iter().flat_map(Piece::atoms).take(atoms as usize) {
                        write(image, offset, bytes);
                    }
                }
                Fate::Sectors(mask) => {
                    let mut full = image.to_vec();
                    pieces.iter().for_each(|piece| write(&mut full, piece.offset, &piece.data));
                    let base = unit * self.model.unit_bytes();
                    for sector in (0..self.sectors()).filter(|sector| mask & (1 << sector) != 0) {
                        let start = (base + sector * SECTOR) as usize;
                        let end = (start + SECTOR as usize).min(image.len());
                        image[start..end].copy_from_slice(&full[start..end]);
                    }
                }
            }
        }
    }

    /// What is certainly durable now (the image if power failed with nothing in flight
    /// persisting; for eADR everything stored is durable).
    pub fn durable(&self) -> Vec<u8> {
        let mut image = self.persisted.clone();
        for piece in &self.eadr {
            write(&mut image, piece.offset, &piece.data);
        }
        image
    }

    /// eADR: everything stored so far is durable from now on (what a fence does; a caller may
    /// also settle at its own crash points, which checks less).
    pub fn settle(&mut self) {
        for piece in std::mem::take(&mut self.eadr) {
            write(&mut self.persisted, piece.offset, &piece.data);
        }
    }
}

/// Writes `bytes` at `offset`, clipped to the image (a store beyond an unsynced file size is lost
/// with the size).
fn write(image: &mut [u8], offset: u64, bytes: &[u8]) {
    let start = (offset as usize).min(image.len());
    let end = (offset as usize + bytes.len()).min(image.len());
    image[start..end].copy_from_slice(&bytes[..end - start]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Run;

    #[test]
    fn adr_fence_makes_only_flushed_stores_durable() {
        let mut model = Persistence::new(CrashModel::Adr, vec![0; 256]);
        model.apply(&Event::Store { offset: 0, data: vec![1; 8] });
        model.apply(&Event::Flush { runs: vec![Run { offset: 0, len: 64 }] });
        model.apply(&Event::Store { offset: 8, data: vec![2; 8] }); // after the flush
        model.apply(&Event::Fence);
        let durable = model.durable();
        assert_eq!(&durable[..16], &[1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(model.in_flight(), vec![0], "the later store is still pending");
        let image = model.image(&[0], &[Fate::Persisted]);
        assert_eq!(&image[8..16], &[2; 8]);
    }

    #[test]
    fn adr_prefix_cuts_at_words() {
        let mut model = Persistence::new(CrashModel::Adr, vec![0; 64]);
        model.apply(&Event::Store { offset: 4, data: vec![9; 12] }); // atoms: [4,8) [8,16)
        assert_eq!(model.atoms(0), 2);
        let image = model.image(&[0], &[Fate::Prefix(1)]);
        assert_eq!(&image[..16], &[0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn pagecache_msync_covers_the_hull_and_sectors_tear() {
        let mut model =
            Persistence::new(CrashModel::PageCache { folio_bytes: 4096, torn_sectors: true }, vec![0; 3 * 4096]);
        model.apply(&Event::Store { offset: 0, data: vec![1; 4096] });
        model.apply(&Event::Store { offset: 8192, data: vec![3; 10] });
        assert_eq!(model.in_flight(), vec![0, 2]);
        let torn = model.image(&[0, 2], &[Fate::Sectors(0b10), Fate::Lost]);
        assert_eq!((torn[0], torn[512], torn[1024]), (0, 1, 0));
        model.apply(&Event::Flush { runs: vec![Run { offset: 0, len: 4096 }, Run { offset: 8192, len: 4096 }] });
        assert!(model.in_flight().is_empty());
        assert_eq!(model.durable()[8192], 3);
    }

    #[test]
    fn pagecache_growth_counts_only_once_synced() {
        let mut model =
            Persistence::new(CrashModel::PageCache { folio_bytes: 4096, torn_sectors: false }, vec![0; 4096]);
        model.apply(&Event::Grow { len: 3 * 4096 });
        model.apply(&Event::Store { offset: 8192, data: vec![7; 8] });
        let units = model.in_flight();
        assert!(units.is_empty(), "a store beyond the unsynced size cannot persist");
        assert_eq!(model.image(&units, &[]).len(), 4096, "the size is not synced yet");
        model.apply(&Event::Flush { runs: vec![Run { offset: 8192, len: 4096 }] });
        assert_eq!(model.durable().len(), 3 * 4096);
        assert_eq!(model.durable()[8192], 7);
    }

    #[test]
    fn eadr_images_are_prefixes_of_the_store_order() {
        let mut model = Persistence::new(CrashModel::Eadr, vec![0; 128]);
        model.apply(&Event::Store { offset: 64, data: vec![1; 8] });
        model.apply(&Event::Store { offset: 0, data: vec![2; 8] });
        assert_eq!(model.store_boundaries(0), vec![1, 2]);
        let image = model.image(&[0], &[Fate::Prefix(1)]);
        assert_eq!((image[64], image[0]), (1, 0), "the first store only");
        model.settle();
        assert!(model.in_flight().is_empty());
    }

    #[test]
    fn eadr_stores_are_in_flight_until_a_fence_and_durable_after_it() {
        let mut model = Persistence::new(CrashModel::Eadr, vec![0; 128]);
        model.apply(&Event::Store { offset: 0, data: vec![1; 8] });
        model.apply(&Event::Flush { runs: vec![Run { offset: 0, len: 64 }] });
        assert_eq!(model.in_flight(), vec![0], "a flush changes nothing under eADR");
        assert_eq!(model.image(&[0], &[Fate::Lost])[0], 0, "not fenced: may be lost");
        model.apply(&Event::Fence);
        assert!(model.in_flight().is_empty());
        model.apply(&Event::Store { offset: 64, data: vec![2; 8] });
        let image = model.image(&model.in_flight(), &[Fate::Lost]);
        assert_eq!((image[0], image[64]), (1, 0), "durable at the fence; the later store in flight");
    }
}
