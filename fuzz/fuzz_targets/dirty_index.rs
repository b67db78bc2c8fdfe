//! The dirty-range index against a simple model: every tagged line is flushed, runs come in
//! address order and never overlap (no byte flushed twice), and nothing clean is flushed.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use daxkv::dirty::DirtyIndex;
use daxkv::media::Granularity;
use libfuzzer_sys::fuzz_target;

const SPAN: u64 = 8 << 20;
const PMD: u64 = 2 << 20;

#[derive(Arbitrary, Debug)]
enum Step {
    Mark { offset: u32, len: u16 },
    MarkRegion { region: u8 },
    Tag,
    Writeback { lines: bool },
}

fuzz_target!(|steps: Vec<Step>| {
    let index = DirtyIndex::new(SPAN);
    let mut dirty_lines = BTreeSet::new();
    let mut towrite_lines = BTreeSet::new();
    for step in steps.iter().take(500) {
        match *step {
            Step::Mark { offset, len } => {
                let offset = u64::from(offset) % SPAN;
                let len = (u64::from(len) + 1).min(SPAN - offset);
                index.mark(offset, len);
                dirty_lines.extend(offset / 64..(offset + len).div_ceil(64));
            }
            Step::MarkRegion { region } => {
                let start = u64::from(region % 4) * PMD;
                index.mark(start, PMD);
                dirty_lines.extend(start / 64..(start + PMD) / 64);
            }
            Step::Tag => {
                index.tag();
                towrite_lines.append(&mut dirty_lines);
            }
            Step::Writeback { lines } => {
                let granularity = if lines { Granularity::Line } else { Granularity::Page };
                let runs = index.writeback(granularity);
                let mut end = 0;
                let mut flushed = BTreeSet::new();
                for run in &runs {
                    assert!(run.offset >= end && run.len > 0, "runs out of order or overlapping: {runs:?}");
                    end = run.end();
                    flushed.extend(run.offset / 64..run.end() / 64);
                }
                assert!(towrite_lines.is_subset(&flushed), "a tagged line was not flushed");
                // Nothing outside the pages (or, promoted, the regions) of tagged lines.
                for line in &flushed {
                    let page = line * 64 / 4096;
                    let region = line * 64 / PMD;
                    let near = towrite_lines.range(page * 64..(page + 1) * 64).next().is_some()
                        || towrite_lines.range(region * PMD / 64..(region + 1) * PMD / 64).next().is_some();
                    assert!(near, "line {line} flushed but never tagged");
                }
                towrite_lines.clear();
            }
        }
    }
});
