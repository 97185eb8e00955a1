//! The background pipeline job as the window sees it: a progress handle, a cancel flag
//! and the event channel of [`crate::pipeline::spawn`].

use std::path::PathBuf;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};

use crate::pipeline::{self, Event, RunParams};
use crate::progress::ProgressSnapshot;
use crate::{Cancel, Progress};

/// One run of the pipeline on a folder. Dropping it cancels the run.
pub struct Job {
    pub dir: PathBuf,
    pub params: RunParams,
    pub progress: Progress,
    cancel: Cancel,
    rx: Receiver<Event>,
    pub started: Instant,
    finished: bool,
}

impl Job {
    /// Start the pipeline on its own named thread; never blocks.
    pub fn start(dir: PathBuf, params: RunParams) -> Self {
        let progress = Progress::new();
        let cancel = Cancel::new();
        let rx = pipeline::spawn(
            dir.clone(),
            params.clone(),
            progress.clone(),
            cancel.clone(),
        );
        Self {
            dir,
            params,
            progress,
            cancel,
            rx,
            started: Instant::now(),
            finished: false,
        }
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelling(&self) -> bool {
        self.cancel.is_cancelled() && !self.finished
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        self.progress.snapshot()
    }

    /// Events that arrived since the last call. After `Finished`, `Failed` or `Cancelled`
    /// (or if the driver thread vanished) [`Job::is_done`] turns true.
    pub fn poll(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(ev) => {
                    if matches!(ev, Event::Finished(_) | Event::Failed(_) | Event::Cancelled) {
                        self.finished = true;
                    }
                    out.push(ev);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !self.finished {
                        self.finished = true;
                        out.push(Event::Failed("the analysis stopped unexpectedly".into()));
                    }
                    break;
                }
            }
        }
        out
    }

    pub fn is_done(&self) -> bool {
        self.finished
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// "12 s", "3 min 5 s".
pub fn format_eta(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_words() {
        assert_eq!(format_eta(4.4), "4 s");
        assert_eq!(format_eta(185.0), "3 min 5 s");
        assert_eq!(format_eta(7300.0), "2 h 1 min");
    }
}
