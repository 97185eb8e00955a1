//! radcluster: turn an unlabelled DICOM archive into a curated, labelled dataset.
//!
//! The core (everything outside [`ui`]) is GUI-free: the window and the headless CLI call
//! the same [`pipeline`].

pub mod atomic;
pub mod cli;
pub mod cluster;
pub mod dicom;
pub mod embed;
pub mod export;
pub mod matrix;
pub mod pipeline;
pub mod progress;
pub mod projection;
pub mod review;
pub mod shard;
pub mod synth;
pub mod thumbs;
pub mod ui;

pub use matrix::Matrix;
pub use progress::{Cancel, Cancelled, Progress};
