//! The reference model: what the store must hold after recovery.
//!
//! `durable` is the state as of the last acknowledged commit; `pending` the commit in flight.
//! After recovery from any crash image the store must equal exactly `durable`, or `durable`
//! plus a whole prefix of the pending commit's writes: never a mix, never a stale or phantom
//! value. A commit of several writes (under `Deferred`, made durable by one sync) may be cut
//! only between writes: each write (a put, a delete, a batch) is atomic, and the store may make
//! earlier writes durable before the sync (a writer that must reclaim space commits; see
//! README, "Space"). A commit of one write is all or nothing.

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
    /// Per commit (the driver's number), its writes in order, each a list of ops.
    commits: Vec<Vec<Vec<Op>>>,
    durable: State,
    pending: Option<u64>,
}

impl Oracle {
    /// An oracle for these commits (indexed by the driver's commit number), each one write.
    pub fn new(commits: Vec<Vec<Op>>) -> Oracle {
        Oracle::with_writes(commits.into_iter().map(|ops| vec![ops]).collect())
    }

    /// An oracle for commits of several writes each: a crash may leave any whole prefix of
    /// the writes of the commit in flight (see the module docs).
    pub fn with_writes(commits: Vec<Vec<Vec<Op>>>) -> Oracle {
        Oracle { commits, durable: State::new(), pending: None }
    }

    /// Follows a Begin/Ack marker (other events are ignored).
    pub fn follow(&mut self, event: &Event) {
        match event {
            Event::Begin { commit } => self.pending = Some(*commit),
            Event::Ack { commit } => {
                assert_eq!(self.pending, Some(*commit), "acknowledged a commit that was not begun");
                for write in &self.commits[*commit as usize] {
                    apply(&mut self.durable, write);
                }
                self.pending = None;
            }
            _ => {}
        }
    }

    /// The state as of the last acknowledged commit.
    pub fn durable(&self) -> &State {
        &self.durable
    }

    /// `Ok` when `recovered` is exactly `durable`, or `durable` plus a whole prefix of the
    /// writes of the commit in flight.
    pub fn check(&self, recovered: &State) -> Result<(), String> {
        if *recovered == self.durable {
            return Ok(());
        }
        if let Some(commit) = self.pending {
            let mut with_pending = self.durable.clone();
            for write in &self.commits[commit as usize] {
                apply(&mut with_pending, write);
                if *recovered == with_pending {
                    return Ok(());
                }
            }
            return Err(format!(
                "neither the durable state nor durable + a prefix of commit {commit}'s writes: {}",
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
