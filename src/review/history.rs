//! Undo and redo: two stacks of inverse edits, plus a journal of what was done.
//!
//! A drag (or any gesture made of many small edits) becomes one undo point: call
//! [`History::begin_group`] when it starts, apply edits as it goes (the state updates
//! live), and [`History::commit_group`] when it ends.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::edit::{Edit, EditError};
use super::state::ReviewState;

/// How many undo points are kept (the oldest are dropped beyond it).
pub const MAX_UNDO: usize = 10_000;
/// How many journal entries are kept.
pub const MAX_LOG: usize = 100_000;

/// One undo (or redo) point: what the user did, and the edit that takes it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub label: String,
    pub inverse: Edit,
}

/// A shared, immutable step: cloning a history (for a background save) copies pointers.
#[derive(Clone, Debug, PartialEq)]
struct Shared(Arc<Step>);

impl Serialize for Shared {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Step::deserialize(d).map(|s| Shared(Arc::new(s)))
    }
}

/// Journal entry kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogAction {
    Do,
    Undo,
    Redo,
}

/// One line of the edit log kept in the session file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub unix_ms: u64,
    pub action: LogAction,
    pub label: String,
}

#[derive(Clone, Debug)]
struct Group {
    label: String,
    depth: usize,
    inverses: Vec<Edit>,
}

/// Undo/redo stacks and the edit log. Persisted in the session file (an open group is not).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct History {
    undo: Vec<Shared>,
    redo: Vec<Shared>,
    #[serde(default)]
    log: Vec<LogEntry>,
    #[serde(default)]
    seq: u64,
    #[serde(skip)]
    group: Option<Group>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

/// Equality of the persisted part (stacks and log).
impl PartialEq for History {
    fn eq(&self, o: &Self) -> bool {
        self.undo == o.undo && self.redo == o.redo && self.log == o.log && self.seq == o.seq
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl History {
    pub fn new() -> Self {
        Self {
            undo: Vec::new(),
            redo: Vec::new(),
            log: Vec::new(),
            seq: 0,
            group: None,
        }
    }

    /// Apply `edit` to `state` and record an undo point labelled [`Edit::label`] (or fold
    /// it into the open group). Clears the redo stack. A refused edit records nothing.
    pub fn apply(&mut self, state: &mut ReviewState, edit: Edit) -> Result<(), EditError> {
        let label = edit.label();
        self.apply_labeled(state, edit, label)
    }

    /// [`History::apply`] with a label of the caller's choosing ("Drag 12 images").
    pub fn apply_labeled(
        &mut self,
        state: &mut ReviewState,
        edit: Edit,
        label: String,
    ) -> Result<(), EditError> {
        let inverse = state.apply(edit)?;
        match &mut self.group {
            Some(g) => g.inverses.push(inverse),
            None => self.push_done(label, inverse),
        }
        Ok(())
    }

    fn push_done(&mut self, label: String, inverse: Edit) {
        if inverse.is_noop() {
            return;
        }
        self.journal(LogAction::Do, &label);
        self.undo.push(Shared(Arc::new(Step { label, inverse })));
        if self.undo.len() > MAX_UNDO {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    fn journal(&mut self, action: LogAction, label: &str) {
        self.seq += 1;
        self.log.push(LogEntry {
            seq: self.seq,
            unix_ms: now_ms(),
            action,
            label: label.to_string(),
        });
        if self.log.len() > MAX_LOG {
            let drop = self.log.len() - MAX_LOG;
            self.log.drain(..drop);
        }
    }

    /// Start coalescing edits into one undo point (e.g. on drag start). Groups nest: only
    /// the outermost [`History::commit_group`] records the point.
    pub fn begin_group(&mut self, label: impl Into<String>) {
        match &mut self.group {
            Some(g) => g.depth += 1,
            None => {
                self.group = Some(Group {
                    label: label.into(),
                    depth: 0,
                    inverses: Vec::new(),
                })
            }
        }
    }

    /// End the group (e.g. on drag release): everything applied since `begin_group` becomes
    /// a single undo point. Without an open group this does nothing.
    pub fn commit_group(&mut self) {
        let Some(g) = &mut self.group else { return };
        if g.depth > 0 {
            g.depth -= 1;
            return;
        }
        let g = self.group.take().expect("checked");
        let mut inverses = g.inverses;
        inverses.reverse();
        self.push_done(g.label, Edit::Batch { edits: inverses });
    }

    /// Abandon the open group (e.g. a drag cancelled with Escape): reverts its edits and
    /// records nothing.
    pub fn cancel_group(&mut self, state: &mut ReviewState) -> Result<(), EditError> {
        if let Some(g) = self.group.take() {
            for inv in g.inverses.into_iter().rev() {
                state.apply(inv)?;
            }
        }
        Ok(())
    }

    pub fn in_group(&self) -> bool {
        self.group.is_some()
    }

    /// Undo the last point; returns its label, or `None` when there is nothing to undo.
    /// An open group is committed first.
    pub fn undo(&mut self, state: &mut ReviewState) -> Result<Option<String>, EditError> {
        while self.group.is_some() {
            self.commit_group();
        }
        let Some(step) = self.undo.pop() else {
            return Ok(None);
        };
        match state.apply(step.0.inverse.clone()) {
            Ok(forward) => {
                let label = step.0.label.clone();
                self.journal(LogAction::Undo, &label);
                self.redo.push(Shared(Arc::new(Step {
                    label: label.clone(),
                    inverse: forward,
                })));
                Ok(Some(label))
            }
            Err(e) => {
                self.undo.push(step);
                Err(e)
            }
        }
    }

    /// Redo the last undone point; returns its label, or `None` when there is none.
    pub fn redo(&mut self, state: &mut ReviewState) -> Result<Option<String>, EditError> {
        while self.group.is_some() {
            self.commit_group();
        }
        let Some(step) = self.redo.pop() else {
            return Ok(None);
        };
        match state.apply(step.0.inverse.clone()) {
            Ok(inverse) => {
                let label = step.0.label.clone();
                self.journal(LogAction::Redo, &label);
                self.undo.push(Shared(Arc::new(Step {
                    label: label.clone(),
                    inverse,
                })));
                Ok(Some(label))
            }
            Err(e) => {
                self.redo.push(step);
                Err(e)
            }
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty() || self.group.as_ref().is_some_and(|g| !g.inverses.is_empty())
    }
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
    /// Label of the point [`History::undo`] would take back ("Move 3 images").
    pub fn undo_label(&self) -> Option<&str> {
        self.undo.last().map(|s| s.0.label.as_str())
    }
    pub fn redo_label(&self) -> Option<&str> {
        self.redo.last().map(|s| s.0.label.as_str())
    }
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }
    /// The journal: every do, undo and redo with its time, oldest first.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::state::tests::sample;
    use crate::review::state::ClusterId;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn undo_redo_and_groups() {
        let mut s = ReviewState::from_analysis(&sample());
        let original = s.clone();
        let mut h = History::new();
        h.apply(
            &mut s,
            Edit::Rename {
                cluster: ClusterId(0),
                name: "A".into(),
            },
        )
        .unwrap();
        let renamed = s.clone();
        // A drag of three single-image moves is one undo point.
        h.begin_group("Drag 3 images");
        for i in [3, 4, 5] {
            h.apply(
                &mut s,
                Edit::Move {
                    images: vec![i],
                    to: ClusterId(0),
                },
            )
            .unwrap();
        }
        assert_eq!(h.undo_len(), 1, "no undo point mid-drag");
        h.commit_group();
        assert_eq!(h.undo_len(), 2);
        assert_eq!(h.undo_label(), Some("Drag 3 images"));
        let dragged = s.clone();

        assert_eq!(h.undo(&mut s).unwrap().as_deref(), Some("Drag 3 images"));
        assert_eq!(s, renamed);
        assert_eq!(
            h.undo(&mut s).unwrap().as_deref(),
            Some("Rename cluster to \"A\"")
        );
        assert_eq!(s, original);
        assert_eq!(h.undo(&mut s).unwrap(), None);
        h.redo(&mut s).unwrap();
        h.redo(&mut s).unwrap();
        assert_eq!(s, dragged);
        assert!(!h.can_redo());

        // A new edit clears the redo stack; a no-op records nothing.
        h.undo(&mut s).unwrap();
        h.apply(
            &mut s,
            Edit::Move {
                images: vec![],
                to: ClusterId(1),
            },
        )
        .unwrap();
        assert!(h.can_redo());
        h.apply(
            &mut s,
            Edit::Recolor {
                cluster: ClusterId(1),
                color: [0, 0, 0],
            },
        )
        .unwrap();
        assert!(!h.can_redo());
        let actions: Vec<LogAction> = h.log().iter().map(|e| e.action).collect();
        use LogAction::*;
        assert_eq!(actions, [Do, Do, Undo, Undo, Redo, Redo, Undo, Do]);

        // Cancelled group reverts.
        let before = s.clone();
        h.begin_group("drag");
        h.apply(
            &mut s,
            Edit::Move {
                images: vec![0, 1],
                to: ClusterId(2),
            },
        )
        .unwrap();
        h.cancel_group(&mut s).unwrap();
        assert_eq!(s, before);
        assert!(!h.in_group());
    }

    #[test]
    fn deep_random_history_undoes_to_original_and_redoes_to_end() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut s = ReviewState::from_analysis(&sample());
        let original = s.clone();
        let mut h = History::new();
        let mut applied = 0;
        while applied < 2000 {
            let e = crate::review::edit::tests::random_edit(&s, &mut rng);
            if rng.gen_bool(0.1) {
                h.begin_group("g");
                let _ = h.apply(&mut s, e);
                h.commit_group();
            } else if h.apply(&mut s, e).is_err() {
                continue;
            }
            applied += 1;
        }
        let end = s.clone();
        let points = h.undo_len();
        assert!(points >= 1000, "only {points} undo points");
        while h.undo(&mut s).unwrap().is_some() {}
        assert_eq!(s, original);
        while h.redo(&mut s).unwrap().is_some() {}
        assert_eq!(s, end);

        let json = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }
}
