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
        Self {
            image: 1.0,
            meta: 1.0,
            text: 1.0,
        }
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
        Self {
            k: 10,
            algo: Algo::Kmeans,
            weights: Weights::default(),
            projection: ProjectionKind::Umap,
            seed: 0,
        }
    }
}

/// `Analysis::exemplars` entry of an empty cluster: an index no record has.
pub const NO_EXEMPLAR: usize = usize::MAX;

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
    /// nearest the k-means centre; [`NO_EXEMPLAR`] for a cluster left empty.
    pub exemplars: Vec<usize>,
    pub params: Option<RunParams>,
    /// Folder of the caches (embeddings, thumbnails) this analysis used.
    #[serde(default)]
    pub cache_dir: Option<std::path::PathBuf>,
}

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use std::collections::HashMap;

use crate::dicom::decode;
use crate::dicom::scan::{self, ScanReport};
use crate::progress::{Cancel, Cancelled, Progress};
use crate::thumbs::{file_key, ThumbStore};
use crate::{cluster, embed, projection};

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
    /// Embed only this shard of the folder (see [`crate::shard`]).
    pub shard: Option<crate::shard::Shard>,
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
pub fn scan(
    dir: &Path,
    decode_pixels: bool,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ScanReport, PipelineError> {
    let start = std::time::Instant::now();
    let mut report = scan::scan_headers(dir, progress, cancel)?;
    if decode_pixels {
        progress.stage("Decoding", report.images.len() as u64);
        let results: Vec<Result<Result<crate::dicom::QualityFlags, String>, Cancelled>> =
            par_map_costliest_first(&report.images, decode::decode_cost, |r| {
                cancel.check()?;
                let out = decode::decode_file(&r.path)
                    .map(|d| d.quality)
                    .map_err(|e| e.to_string());
                progress.inc(1);
                Ok(out)
            });
        let mut kept = Vec::with_capacity(report.images.len());
        for (mut rec, res) in std::mem::take(&mut report.images).into_iter().zip(results) {
            match res? {
                Ok(q) => {
                    rec.quality = q;
                    kept.push(rec);
                }
                Err(reason) => report.skipped.push(crate::dicom::Skipped {
                    path: rec.path,
                    reason,
                }),
            }
        }
        report.images = kept;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// `f` over `items` on the current rayon pool, results in the order of `items`. Threads
/// take the items one at a time, the costliest (by `cost`) first: in rayon's usual split
/// of the list into halves, one large file near the end can keep a single core busy
/// after the rest is done (on `../shared/dicom`, a 19 ms file against 150 ms in all).
pub fn par_map_costliest_first<T: Sync, R: Send>(
    items: &[T],
    cost: impl Fn(&T) -> u64,
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let mut done: Vec<(usize, R)> = order
        .into_iter()
        .par_bridge()
        .map(|i| (i, f(&items[i])))
        .collect();
    done.sort_unstable_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Output of [`embed_folder`]: one row per embedded image, all aligned with `records`.
#[derive(Debug)]
pub struct EmbedOutput {
    pub records: Vec<InstanceRecord>,
    pub non_image: Vec<NonImage>,
    pub skipped: Vec<Skipped>,
    pub embeddings: embed::Embeddings,
    pub cache_hits: usize,
    pub cache_dir: PathBuf,
    /// Files found (of the shard, when one is set).
    pub files_seen: usize,
    /// Wall-clock seconds per stage, in order.
    pub timings: Vec<(String, f64)>,
}

/// Output of [`analyse`]: the analysis plus what the exports need.
#[derive(Debug)]
pub struct RunResult {
    pub analysis: Analysis,
    pub metrics: cluster::metrics::Metrics,
    /// Trustworthiness (k = 10) of the 2D map on a sample.
    pub trustworthiness: f64,
    pub meta_features: Vec<String>,
    pub timings: Vec<(String, f64)>,
    pub cache_hits: usize,
    /// Scores against a ground truth, when one was given.
    pub truth: Option<TruthScores>,
}

/// Clustering scores against a ground-truth file.
#[derive(Clone, Debug, Serialize)]
pub struct TruthScores {
    pub file: PathBuf,
    /// Images of the analysis found in the truth file.
    pub matched: usize,
    pub class: cluster::metrics::LabelScores,
    pub region: cluster::metrics::LabelScores,
}

/// Score the clusters of `analysis` against a CSV with columns `path`, `region`, `class`
/// (paths relative to `dir`, or absolute).
pub fn score_against_truth(
    dir: &Path,
    analysis: &Analysis,
    truth: &Path,
) -> Result<TruthScores, PipelineError> {
    let bad = |reason: String| PipelineError::Other(format!("{}: {reason}", truth.display()));
    let mut rdr = csv::Reader::from_path(truth).map_err(|e| bad(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("no '{name}' column")))
    };
    let (pc, rc, cc) = (col("path")?, col("region")?, col("class")?);
    let mut by_path: HashMap<PathBuf, (String, String)> = HashMap::new();
    for row in rdr.records() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let p = Path::new(row.get(pc).unwrap_or(""));
        let p = if p.is_absolute() {
            p.to_owned()
        } else {
            dir.join(p)
        };
        by_path.insert(
            p,
            (
                row.get(rc).unwrap_or("").to_owned(),
                row.get(cc).unwrap_or("").to_owned(),
            ),
        );
    }
    let (mut class, mut region, mut pred) = (Vec::new(), Vec::new(), Vec::new());
    for (rec, &label) in analysis.records.iter().zip(&analysis.labels) {
        if let Some((r, c)) = by_path.get(&rec.path) {
            region.push(r.as_str());
            class.push(c.as_str());
            pred.push(label);
        }
    }
    if pred.is_empty() {
        return Err(bad("no image of the folder is listed in it".into()));
    }
    Ok(TruthScores {
        file: truth.to_owned(),
        matched: pred.len(),
        class: cluster::metrics::label_scores(&class, &pred),
        region: cluster::metrics::label_scores(&region, &pred),
    })
}

fn timed<T>(timings: &mut Vec<(String, f64)>, name: &str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let out = f();
    timings.push((name.to_owned(), t.elapsed().as_secs_f64()));
    out
}

fn other(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Other(e.to_string())
}

/// Scan and embed `dir`: decode only what the cache lacks, store thumbnails, fuse.
pub fn embed_folder(
    dir: &Path,
    weights: Weights,
    opts: &Options,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<EmbedOutput, PipelineError> {
    embed_folder_with(dir, weights, opts, true, progress, cancel, &|_| {})
}

/// [`embed_folder`]; with `keep_sources` off only the fused matrix is returned (see
/// [`embed::EmbedConfig::keep_sources`]).
fn embed_folder_with(
    dir: &Path,
    weights: Weights,
    opts: &Options,
    keep_sources: bool,
    progress: &Progress,
    cancel: &Cancel,
    on_scan: &dyn Fn(&ScanReport),
) -> Result<EmbedOutput, PipelineError> {
    let mut timings = Vec::new();
    let in_shard = |p: &Path| opts.shard.is_none_or(|s| s.contains(dir, p));
    let report = timed(&mut timings, "scan", || {
        scan::scan_headers_where(dir, &in_shard, progress, cancel)
    })?;
    let files_seen = report.files_seen;
    on_scan(&report);
    if report.images.is_empty() {
        return Err(PipelineError::NoImages(dir.to_owned()));
    }
    let cache_dir = opts.cache_dir.clone().unwrap_or_else(|| cache_dir_for(dir));
    let thumbs = ThumbStore::open(&cache_dir.join("thumbs"))
        .map_err(|e| other(format!("{}: {e}", cache_dir.display())))?;
    let ScanReport {
        images: mut records,
        non_image,
        mut skipped,
        ..
    } = report;

    // SR report text is attached to the images of its study.
    let mut study_text: HashMap<String, String> = HashMap::new();
    for n in &non_image {
        if let (Some(t), false) = (&n.text, n.study_instance_uid.is_empty()) {
            let e = study_text.entry(n.study_instance_uid.clone()).or_default();
            e.push(' ');
            e.push_str(t);
        }
    }
    let cfg = embed::EmbedConfig {
        text_model: match opts.text {
            TextChoice::Minilm => embed::TextModel::MiniLm,
            TextChoice::Ngram => embed::TextModel::NGram,
        },
        weights,
        study_text,
        keep_sources,
        ..Default::default()
    };
    // Decoding happens only for cache misses, inside the embedding pass; each decode also
    // stores the thumbnail, so a file is read once. Failures are remembered for the report.
    let failures: std::sync::Mutex<HashMap<usize, String>> = Default::default();
    let quality: std::sync::Mutex<HashMap<usize, crate::dicom::QualityFlags>> = Default::default();
    let decode_one = |i: usize| -> Option<Vec<u8>> {
        match decode::decode_file(&records[i].path) {
            Ok(d) => {
                if let Err(e) = thumbs.put(&file_key(&records[i]), &d.thumbnail) {
                    log::warn!("cannot store a thumbnail: {e}");
                }
                quality
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i, d.quality);
                Some(d.model_input)
            }
            Err(e) => {
                failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i, e.to_string());
                None
            }
        }
    };
    let mut emb = timed(&mut timings, "decode + embed", || {
        embed::embed_all(&records, decode_one, &cfg, &cache_dir, progress, cancel)
    })
    .map_err(|e| match e {
        embed::EmbedError::Cancelled(_) => PipelineError::Cancelled,
        e => other(e),
    })?;
    // Cache hits whose thumbnail is gone (e.g. the store was deleted) are decoded once more.
    let missing: std::collections::HashSet<usize> = emb.image_missing.iter().copied().collect();
    let missing_thumbs: Vec<usize> = (0..records.len())
        .filter(|&i| !missing.contains(&i) && !thumbs.contains(&file_key(&records[i])))
        .collect();
    if !missing_thumbs.is_empty() {
        progress.stage("thumbnails", missing_thumbs.len() as u64);
        missing_thumbs.par_iter().for_each(|&i| {
            if !cancel.is_cancelled() {
                let _ = decode_one(i);
                progress.inc(1);
            }
        });
        cancel.check()?;
    }
    if let Err(e) = thumbs.flush() {
        log::warn!("cannot save the thumbnail index: {e}");
    }
    for (i, q) in quality.into_inner().unwrap_or_else(|e| e.into_inner()) {
        records[i].quality = q;
    }
    // Images that failed to decode leave every matrix together, so rows stay aligned.
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if !emb.image_missing.is_empty() {
        let keep: Vec<usize> = (0..records.len())
            .filter(|i| !missing.contains(i))
            .collect();
        for &i in &emb.image_missing {
            let reason = failures
                .get(&i)
                .cloned()
                .unwrap_or_else(|| "pixel data could not be decoded".into());
            skipped.push(Skipped {
                path: records[i].path.clone(),
                reason,
            });
        }
        for m in [&mut emb.image, &mut emb.meta, &mut emb.text, &mut emb.fused] {
            m.retain_rows(&keep);
        }
        let mut row = 0;
        records.retain(|_| {
            let kept = !missing.contains(&row);
            row += 1;
            kept
        });
        emb.image_missing.clear();
    }
    if records.is_empty() {
        return Err(PipelineError::NoImages(dir.to_owned()));
    }
    let cache_hits = emb.stats.cache_hits;
    Ok(EmbedOutput {
        records,
        non_image,
        skipped,
        embeddings: emb,
        cache_hits,
        cache_dir,
        files_seen,
        timings,
    })
}

/// Write `embeddings_{image,meta,text,fused}.npy`, `index.csv`, `features.json` and the
/// skipped list.
pub fn write_embed_outputs(out: &Path, e: &EmbedOutput) -> Result<(), PipelineError> {
    embed::write_outputs(out, &e.embeddings, &e.records).map_err(other)?;
    let skipped = serde_json::to_vec_pretty(&e.skipped).map_err(other)?;
    crate::atomic::write_atomic(&out.join("skipped.json"), &skipped).map_err(other)
}

pub fn analyse(
    dir: &Path,
    params: &RunParams,
    opts: &Options,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<RunResult, PipelineError> {
    analyse_with(dir, params, opts, progress, cancel, &|_| {})
}

/// Anatomy labels for the metrics: UNKNOWN counts as no label, as an empty label does in
/// scikit-learn-style evaluation of the peers.
fn anatomy_labels(records: &[InstanceRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            if r.anatomy == crate::dicom::Region::Unknown {
                String::new()
            } else {
                r.anatomy.as_str().to_owned()
            }
        })
        .collect()
}

/// [`analyse`], calling `on_scan` as soon as the headers are read.
pub fn analyse_with(
    dir: &Path,
    params: &RunParams,
    opts: &Options,
    progress: &Progress,
    cancel: &Cancel,
    on_scan: &dyn Fn(&ScanReport),
) -> Result<RunResult, PipelineError> {
    let EmbedOutput {
        records,
        non_image,
        skipped,
        embeddings,
        cache_hits,
        cache_dir,
        mut timings,
        ..
    } = embed_folder_with(dir, params.weights, opts, false, progress, cancel, on_scan)?;
    // Only the fused vectors are clustered: the per-source matrices (7 KB an image at
    // full width) are never held side by side with them.
    let embed::Embeddings {
        fused,
        meta_features,
        ..
    } = embeddings;
    let data = &fused;
    if params.k < 1 || params.k > data.rows {
        return Err(PipelineError::Other(format!(
            "k = {} is out of range: the folder has {} usable images, so k must be between 1 and {}",
            params.k, data.rows, data.rows
        )));
    }
    progress.stage("clustering", 0);
    let distance = match params.algo {
        Algo::Kmeans => cluster::Distance::Euclidean,
        // RadiologyNET clustered with Manhattan distance for k-medoids.
        Algo::Kmedoids => cluster::Distance::Manhattan,
    };
    let clustering = timed(&mut timings, "cluster", || {
        cluster::cluster(data, params.algo, params.k, distance, params.seed, cancel)
    })
    .map_err(|e| match e {
        cluster::ClusterError::Cancelled(_) => PipelineError::Cancelled,
        e => other(e),
    })?;
    progress.stage("projecting", 0);
    let xy = timed(&mut timings, "project", || {
        projection::project(data, params.projection, params.seed, cancel)
    })
    .map_err(|e| match e {
        projection::ProjectionError::Cancelled(_) => PipelineError::Cancelled,
        e => other(e),
    })?;
    progress.stage("metrics", 0);
    let modality: Vec<&str> = records.iter().map(|r| r.modality.as_str()).collect();
    let anatomy_owned = anatomy_labels(&records);
    let anatomy: Vec<&str> = anatomy_owned.iter().map(String::as_str).collect();
    let (metrics, trustworthiness) = timed(&mut timings, "metrics", || {
        (
            cluster::metrics::evaluate(
                data,
                &clustering,
                distance,
                &modality,
                &anatomy,
                params.seed,
            ),
            projection::map_trustworthiness(data, &xy, params.seed),
        )
    });
    let exemplars = clustering
        .exemplars()
        .into_iter()
        .map(|e| e.unwrap_or(NO_EXEMPLAR))
        .collect();
    let analysis = Analysis {
        records,
        non_image,
        skipped,
        labels: clustering.labels,
        distances: clustering.distances,
        xy,
        exemplars,
        params: Some(params.clone()),
        cache_dir: Some(cache_dir),
    };
    Ok(RunResult {
        analysis,
        metrics,
        trustworthiness,
        meta_features,
        timings,
        cache_hits,
        truth: None,
    })
}

/// Everything `metrics.json` holds.
#[derive(Serialize)]
struct MetricsFile<'a> {
    images: usize,
    params: &'a Option<RunParams>,
    metrics: &'a cluster::metrics::Metrics,
    trustworthiness: f64,
    meta_features: &'a [String],
    stage_seconds: &'a [(String, f64)],
    cache_hits: usize,
    skipped: usize,
    non_image: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    truth: &'a Option<TruthScores>,
}

/// Write `labels.csv`, `labels.json`, `radiologynet.csv`, `metrics.json` and
/// `skipped.json` into `out`, each atomically.
pub fn write_run_outputs(out: &Path, r: &RunResult) -> Result<(), PipelineError> {
    std::fs::create_dir_all(out)
        .map_err(|e| other(format!("{}: cannot create folder: {e}", out.display())))?;
    let m = MetricsFile {
        images: r.analysis.records.len(),
        params: &r.analysis.params,
        metrics: &r.metrics,
        trustworthiness: r.trustworthiness,
        meta_features: &r.meta_features,
        stage_seconds: &r.timings,
        cache_hits: r.cache_hits,
        skipped: r.analysis.skipped.len(),
        non_image: r.analysis.non_image.len(),
        truth: &r.truth,
    };
    let write = |name: &str, bytes: Vec<u8>| {
        crate::atomic::write_atomic(&out.join(name), &bytes)
            .map_err(|e| other(format!("{}: {e}", out.join(name).display())))
    };
    write(
        "metrics.json",
        serde_json::to_vec_pretty(&m).map_err(other)?,
    )?;
    write(
        "skipped.json",
        serde_json::to_vec_pretty(&r.analysis.skipped).map_err(other)?,
    )?;
    let state = crate::review::ReviewState::from_analysis(&r.analysis);
    let sel = crate::export::ExportSelection {
        report: false,
        ..Default::default()
    };
    crate::export::export_all(
        out,
        &r.analysis,
        &state,
        &sel,
        &Progress::new(),
        &Cancel::new(),
    )
    .map_err(other)?;
    Ok(())
}

/// Write a synthetic phantom archive (see [`crate::synth`]).
pub fn synth(
    out: &Path,
    n: usize,
    seed: u64,
    force: bool,
    progress: &Progress,
    cancel: &Cancel,
) -> anyhow::Result<()> {
    let cfg = crate::synth::SynthConfig {
        force,
        ..crate::synth::SynthConfig::new(n, seed)
    };
    let t = std::time::Instant::now();
    let s = crate::synth::generate(out, &cfg, progress, cancel)?;
    eprintln!(
        "{} files ({} patients, {} studies, {} series, {:.1} MB) in {:.1} s; ground truth: {}",
        s.files,
        s.patients,
        s.studies,
        s.series,
        s.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        s.ground_truth.display()
    );
    Ok(())
}

pub use crate::thumbs::Thumbnails;

/// What the background job reports to the window, in order.
#[derive(Debug)]
pub enum Event {
    /// Headers are read: metadata can be shown before anything is embedded.
    Scanned {
        records: Vec<InstanceRecord>,
        non_image: Vec<NonImage>,
        skipped: Vec<Skipped>,
    },
    Finished(Box<Analysis>),
    Failed(String),
    Cancelled,
}

/// Where caches for `dir` live: `<dir>/.radcluster/cache` when the folder is writable,
/// else a per-folder directory in the user cache dir.
pub fn cache_dir_for(dir: &Path) -> PathBuf {
    let local = dir.join(scan::STATE_DIR).join("cache");
    if std::fs::create_dir_all(&local).is_ok() && tempfile_probe(&local) {
        return local;
    }
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let key = scan::patient_key(Some(&canon.to_string_lossy())); // just a stable short hash
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("radcluster")
        .join(key)
}

fn tempfile_probe(dir: &Path) -> bool {
    let p = dir.join(format!(".probe-{}", std::process::id()));
    let ok = std::fs::write(&p, b"").is_ok();
    let _ = std::fs::remove_file(&p);
    ok
}

/// Thumbnails of an analysis, paged from its on-disk store.
pub fn thumbnails(analysis: &Analysis) -> Option<Thumbnails> {
    let dir = analysis.cache_dir.as_ref()?.join("thumbs");
    Thumbnails::open(&dir, &analysis.records).ok()
}

/// Run the whole pipeline on a named background thread. Dropping the receiver or
/// cancelling stops it at the next item.
pub fn spawn(
    dir: PathBuf,
    params: RunParams,
    progress: Progress,
    cancel: Cancel,
) -> crossbeam_channel::Receiver<Event> {
    spawn_with(dir, params, Options::default(), progress, cancel)
}

pub fn spawn_with(
    dir: PathBuf,
    params: RunParams,
    opts: Options,
    progress: Progress,
    cancel: Cancel,
) -> crossbeam_channel::Receiver<Event> {
    let (tx, rx) = crossbeam_channel::bounded(4);
    let body = move || {
        let on_scan = |r: &ScanReport| {
            let _ = tx.send(Event::Scanned {
                records: r.images.clone(),
                non_image: r.non_image.clone(),
                skipped: r.skipped.clone(),
            });
        };
        let ev = match analyse_with(&dir, &params, &opts, &progress, &cancel, &on_scan) {
            Ok(r) => Event::Finished(Box::new(r.analysis)),
            Err(PipelineError::Cancelled) => Event::Cancelled,
            Err(e) => Event::Failed(e.to_string()),
        };
        let _ = tx.send(ev);
    };
    if let Err(e) = std::thread::Builder::new()
        .name("radcluster-pipeline".into())
        .spawn(body)
    {
        log::error!("cannot start the pipeline thread: {e}");
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::par_map_costliest_first;

    #[test]
    fn costliest_first_keeps_the_input_order_of_results() {
        let items: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
        let started = std::sync::Mutex::new(Vec::new());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let out = pool.install(|| {
            par_map_costliest_first(
                &items,
                |&c| c,
                |&c| {
                    started.lock().unwrap().push(c);
                    c * 2
                },
            )
        });
        assert_eq!(out, items.iter().map(|c| c * 2).collect::<Vec<_>>());
        // one thread takes them strictly costliest first
        let started = started.into_inner().unwrap();
        assert!(started.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(started.len(), items.len());
    }
}
