//! Progress reporting and cooperative cancellation shared by the CLI and the window.
//!
//! A [`Progress`] is a handful of atomics: workers bump counters, and readers (the
//! terminal bar, the window's status bar) poll them at their own pace, so reporting never
//! slows the work down.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Returned by long operations when the user cancelled them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// A cheap, cloneable cancel flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// `Err(Cancelled)` once cancelled: use with `?` inside loops.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct Inner {
    stage: Mutex<(String, Instant)>,
    done: AtomicU64,
    total: AtomicU64,
}

/// Stage name plus done/total counters, shared between a worker and its observers.
#[derive(Clone, Debug)]
pub struct Progress(Arc<Inner>);

impl Default for Progress {
    fn default() -> Self {
        Self(Arc::new(Inner {
            stage: Mutex::new((String::new(), Instant::now())),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }))
    }
}

/// A point-in-time copy of a [`Progress`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressSnapshot {
    pub stage: String,
    pub done: u64,
    pub total: u64,
    /// Seconds since the stage began.
    pub elapsed_s: f64,
}

impl ProgressSnapshot {
    /// Estimated seconds left in this stage, once enough work is done to guess.
    pub fn eta_s(&self) -> Option<f64> {
        if self.done == 0 || self.total <= self.done {
            return None;
        }
        Some(self.elapsed_s / self.done as f64 * (self.total - self.done) as f64)
    }
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0) as f32
        }
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }
    /// Begin a new stage with `total` items.
    pub fn stage(&self, name: &str, total: u64) {
        *self.0.stage.lock().unwrap_or_else(|e| e.into_inner()) = (name.to_owned(), Instant::now());
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total, Ordering::Relaxed);
    }
    pub fn set_total(&self, total: u64) {
        self.0.total.store(total, Ordering::Relaxed);
    }
    pub fn inc(&self, n: u64) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> ProgressSnapshot {
        let (stage, start) = self
            .0
            .stage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ProgressSnapshot {
            stage,
            done: self.0.done.load(Ordering::Relaxed),
            total: self.0.total.load(Ordering::Relaxed),
            elapsed_s: start.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_eta() {
        let p = Progress::new();
        p.stage("decode", 10);
        p.inc(5);
        let s = p.snapshot();
        assert_eq!((s.stage.as_str(), s.done, s.total), ("decode", 5, 10));
        assert!((s.fraction() - 0.5).abs() < 1e-6);
        assert!(s.eta_s().is_some());
    }

    #[test]
    fn cancel_is_shared() {
        let c = Cancel::new();
        let c2 = c.clone();
        assert!(c.check().is_ok());
        c2.cancel();
        assert_eq!(c.check(), Err(Cancelled));
    }
}
