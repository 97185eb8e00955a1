//! The one pipeline behind both the window and the headless CLI:
//! scan -> decode -> embed (cached) -> cluster -> project.

use serde::{Deserialize, Serialize};

use crate::dicom::{InstanceRecord, NonImage, Skipped};

/// Clustering algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    #[default]
    Kmeans,
    Kmedoids,
}

/// 2D projection method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionKind {
    #[default]
    Umap,
    Pca,
    Tsne,
}

/// Weight of each embedding source in the fusion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub image: f32,
    pub meta: f32,
    pub text: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self { image: 1.0, meta: 1.0, text: 1.0 }
    }
}

/// Everything that decides a run's result; stored with every output so that a run can be
/// reproduced exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    pub k: usize,
    pub algo: Algo,
    pub weights: Weights,
    pub projection: ProjectionKind,
    pub seed: u64,
}

impl Default for RunParams {
    fn default() -> Self {
        Self { k: 10, algo: Algo::Kmeans, weights: Weights::default(), projection: ProjectionKind::Umap, seed: 0 }
    }
}

/// The result of a whole run: one row per image in `records`, all vectors aligned.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Analysis {
    pub records: Vec<InstanceRecord>,
    pub non_image: Vec<NonImage>,
    pub skipped: Vec<Skipped>,
    /// Cluster of each image, `0..k`.
    pub labels: Vec<u32>,
    /// Distance of each image to its cluster centre (or medoid).
    pub distances: Vec<f32>,
    /// 2D map position of each image.
    pub xy: Vec<[f32; 2]>,
    /// Index (into `records`) of the exemplar of each cluster: its medoid, or the member
    /// nearest the k-means centre.
    pub exemplars: Vec<usize>,
    pub params: Option<RunParams>,
}

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dicom::decode;
use crate::dicom::scan::{self, ScanReport};
use crate::progress::{Cancel, Cancelled, Progress};

/// Text encoder choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TextChoice {
    /// all-MiniLM-L6-v2 (English).
    #[default]
    Minilm,
    /// Model-free character n-gram hashing (any language).
    Ngram,
}

/// Settings that change how, but not what, is computed.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub text: TextChoice,
    /// Where caches go; default `<dir>/.radcluster` (or the user cache dir if read-only).
    pub cache_dir: Option<PathBuf>,
}

/// Errors that stop a whole run. Single bad files never do: they are listed as skipped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    #[error("{0}: no displayable DICOM images found")]
    NoImages(PathBuf),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Other(String),
}

impl From<Cancelled> for PipelineError {
    fn from(_: Cancelled) -> Self {
        PipelineError::Cancelled
    }
}

/// The licensed sample archive shipped in `assets/sample`.
pub fn sample_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("assets/sample")))
        .filter(|p| p.is_dir());
    beside_exe.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample"))
}

/// Scan `dir` and, with `decode_pixels`, decode every image once to check it and set its
/// quality flags. Images that fail to decode move to `skipped` with the reason.
pub fn scan(dir: &Path, decode_pixels: bool, progress: &Progress, cancel: &Cancel) -> Result<ScanReport, PipelineError> {
    let start = std::time::Instant::now();
    let mut report = scan::scan_headers(dir, progress, cancel)?;
    if decode_pixels {
        progress.stage("Decoding", report.images.len() as u64);
        let results: Vec<Result<Result<crate::dicom::QualityFlags, String>, Cancelled>> = report
            .images
            .par_iter()
            .map(|r| {
                cancel.check()?;
                let out = decode::decode_file(&r.path).map(|d| d.quality).map_err(|e| e.to_string());
                progress.inc(1);
                Ok(out)
            })
            .collect();
        let mut kept = Vec::with_capacity(report.images.len());
        for (mut rec, res) in std::mem::take(&mut report.images).into_iter().zip(results) {
            match res? {
                Ok(q) => {
                    rec.quality = q;
                    kept.push(rec);
                }
                Err(reason) => report.skipped.push(crate::dicom::Skipped { path: rec.path, reason }),
            }
        }
        report.images = kept;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Output of [`embed_folder`].
#[derive(Debug, Default)]
pub struct EmbedOutput {
    pub records: Vec<InstanceRecord>,
    pub skipped: Vec<Skipped>,
    pub cache_hits: usize,
}

/// Output of [`analyse`]: the analysis plus what the exports need.
#[derive(Debug, Default)]
pub struct RunResult {
    pub analysis: Analysis,
}

pub fn embed_folder(
    _dir: &Path,
    _w: Weights,
    _opts: &Options,
    _progress: &Progress,
    _cancel: &Cancel,
) -> Result<EmbedOutput, PipelineError> {
    Err(PipelineError::Other("embedding is not wired yet".into()))
}

pub fn write_embed_outputs(_out: &Path, _e: &EmbedOutput) -> Result<(), PipelineError> {
    Err(PipelineError::Other("embedding is not wired yet".into()))
}

pub fn analyse(
    _dir: &Path,
    _params: &RunParams,
    _opts: &Options,
    _progress: &Progress,
    _cancel: &Cancel,
) -> Result<RunResult, PipelineError> {
    Err(PipelineError::Other("analysis is not wired yet".into()))
}

pub fn write_run_outputs(_out: &Path, _r: &RunResult) -> Result<(), PipelineError> {
    Err(PipelineError::Other("analysis is not wired yet".into()))
}

pub fn synth(
    _out: &Path,
    _n: usize,
    _seed: u64,
    _force: bool,
    _progress: &Progress,
    _cancel: &Cancel,
) -> anyhow::Result<()> {
    anyhow::bail!("synth is not wired yet")
}
