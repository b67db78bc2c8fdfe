//! The reference model: what the store must hold after recovery.
//!
//! `durable` is the state as of the last acknowledged commit; `pending` the commit in flight.
//! After recovery from any crash image the store must equal exactly `durable` or exactly
//! `durable + pending`: never a mix, never a stale or phantom value.

use std::collections::BTreeMap;

use crate::media::Event;

/// A key → value state.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// One logical write of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a key.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Delete(Vec<u8>),
}

/// Applies `ops` to `state`.
pub fn apply(state: &mut State, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(key, value) => {
                state.insert(key.clone(), value.clone());
            }
            Op::Delete(key) => {
                state.remove(key);
            }
        }
    }
}

/// See the module docs. Fed the driver's commits, then the trace's Begin/Ack markers in order.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    commits: Vec<Vec<Op>>,
    durable: State,
    pending: Option<u64>,
}

impl Oracle {
    /// An oracle for these commits (indexed by the driver's commit number).
    pub fn new(commits: Vec<Vec<Op>>) -> Oracle {
        Oracle { commits, durable: State::new(), pending: None }
    }

    /// Follows a Begin/Ack marker (other events are ignored).
    pub fn follow(&mut self, event: &Event) {
        match event {
            Event::Begin { commit } => self.pending = Some(*commit),
            Event::Ack { commit } => {
                assert_eq!(self.pending, Some(*commit), "acknowledged a commit that was not begun");
                apply(&mut self.durable, &self.commits[*commit as usize]);
                self.pending = None;
            }
            _ => {}
        }
    }

    /// The state as of the last acknowledged commit.
    pub fn durable(&self) -> &State {
        &self.durable
    }

    /// `Ok` when `recovered` is exactly `durable` or exactly `durable + pending`.
    pub fn check(&self, recovered: &State) -> Result<(), String> {
        if *recovered == self.durable {
            return Ok(());
        }
        if let Some(commit) = self.pending {
            let mut with_pending = self.durable.clone();
            apply(&mut with_pending, &self.commits[commit as usize]);
            if *recovered == with_pending {
                return Ok(());
            }
            return Err(format!(
                "neither the durable state nor durable + commit {commit}: {}",
                describe(recovered, &self.durable)
            ));
        }
        Err(format!("not the durable state (no commit in flight): {}", describe(recovered, &self.durable)))
    }
}

/// The first difference between two states, for violation reports.
pub fn describe(got: &State, want: &State) -> String {
    for (key, value) in want {
        match got.get(key) {
            None => {
                return format!(
                    "key {:?} missing ({} keys recovered, {} durable)",
                    String::from_utf8_lossy(key),
                    got.len(),
                    want.len()
                )
            }
            Some(found) if found != value => {
                return format!(
                    "key {:?} has a {}-byte value, durable is {} bytes",
                    String::from_utf8_lossy(key),
                    found.len(),
                    value.len()
                );
            }
            _ => {}
        }
    }
    match got.keys().find(|key| !want.contains_key(*key)) {
        Some(key) => format!("phantom key {:?}", String::from_utf8_lossy(key)),
        None => "states differ".into(),
    }
}
