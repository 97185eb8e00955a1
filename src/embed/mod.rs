//! Embeddings: image (EfficientNet-Lite0), DICOM metadata, description text (MiniLM or
//! character n-gram hashing), their weighted fusion, and an on-disk cache.
//!
//! # Entry point
//! [`embed_all`] is what the pipeline calls. Given the instance records (one row per image,
//! in order) and a function that returns each record's decoded 224x224 grey model input,
//! it returns [`Embeddings`]: four row-aligned matrices (`image`, `meta`, `text`,
//! `fused`), with row `i` describing `records[i]`.
//! - Image vectors come from the [`EmbeddingCache`] when the file's path, size, mtime,
//!   the model id and the preprocessing version all match; only the misses are run
//!   through the network, in batches of [`EmbedConfig::batch`], and then saved back.
//! - A record whose model input is `None` (its pixels failed to decode) keeps its row,
//!   with a zero image vector, and is listed in [`Embeddings::image_missing`]: rows never
//!   shift. The caller reports it as skipped.
//! - Metadata is fitted on the records themselves ([`MetaEncoder`]).
//! - Text is [`InstanceRecord::description_text`] plus any report text the caller passes
//!   in [`EmbedConfig::study_text`] for the record's study; each distinct string is
//!   embedded once.
//!
//! [`write_outputs`] then writes `embeddings_{image,meta,text,fused}.npy`, `index.csv`
//! and `features.json` for `radcluster embed DIR --out OUT_DIR`.

pub mod cache;
pub mod fusion;
pub mod image;
pub mod meta;
pub mod npy;
pub mod text;
pub mod textcache;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use cache::{CacheKey, EmbeddingCache};
pub use fusion::{fuse, pca};
pub use image::{ImageEncoder, IMAGE_MODEL_ID};
pub use meta::MetaEncoder;
pub use text::{TextEncoder, TextModel};

use crate::dicom::InstanceRecord;
use crate::pipeline::Weights;
use crate::{Cancel, Cancelled, Matrix, Progress};

/// Version of the image preprocessing feeding the cache; bump it whenever the decoded
/// model input changes, so that old cache entries are never reused.
pub const PREPROCESS_VERSION: u32 = 2;

/// Everything that can go wrong while embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing, differs from the shipped one, or has a wrong tensor.
    #[error("model file {}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("bad input: {0}")]
    Input(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// Check that `path` exists and has the expected sha256.
pub(crate) fn check_file(path: &Path, sha256: &str) -> Result<(), EmbedError> {
    let model_err = |reason: String| EmbedError::Model {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path).map_err(|e| {
        model_err(format!(
            "cannot open ({e}); expected the shipped file with sha256 {sha256}"
        ))
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| model_err(format!("cannot read ({e})")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got != sha256 {
        return Err(model_err(format!(
            "sha256 is {got}, expected {sha256} (wrong or damaged file)"
        )));
    }
    Ok(())
}

/// The folder holding the shipped models, the first that exists of: `$RADCLUSTER_MODELS`,
/// `<exe dir>/models`, `<exe dir>/../../models`, and the source tree's `models/`.
pub fn models_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("RADCLUSTER_MODELS") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("models"));
        candidates.push(dir.join("../../models"));
    }
    let source = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"));
    candidates.push(source.clone());
    candidates
        .into_iter()
        .find(|p| p.is_dir())
        .unwrap_or(source)
}

/// Settings of [`embed_all`].
#[derive(Clone, Debug)]
pub struct EmbedConfig {
    pub text_model: TextModel,
    pub weights: Weights,
    /// Reduce the fused vectors to this many dimensions with PCA.
    pub pca: Option<usize>,
    /// Images per network call.
    pub batch: usize,
    /// Where the models live (see [`models_dir`]).
    pub models_dir: PathBuf,
    /// Extra text per StudyInstanceUID (e.g. SR report text), appended to the
    /// descriptions of every image of that study.
    pub study_text: HashMap<String, String>,
    /// Return the per-source matrices next to the fused one (off: only `fused`, built
    /// in place, which needs about half the memory; see [`embed_all`]).
    pub keep_sources: bool,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            text_model: TextModel::MiniLm,
            weights: Weights::default(),
            pca: None,
            batch: 32,
            models_dir: models_dir(),
            study_text: HashMap::new(),
            keep_sources: true,
        }
    }
}

/// Row-aligned embeddings of every record: row `i` of each matrix is `records[i]`.
#[derive(Clone, Debug, Default)]
pub struct Embeddings {
    /// 1280-d pooled EfficientNet-Lite0 features (zero rows where the image is missing).
    /// `image`, `meta` and `text` have 0 rows when [`EmbedConfig::keep_sources`] is off.
    pub image: Matrix,
    /// Standardised numeric and one-hot categorical metadata.
    pub meta: Matrix,
    /// L2-normalised text vectors.
    pub text: Matrix,
    /// Weighted fusion (optionally PCA-reduced).
    pub fused: Matrix,
    /// Names of the `meta` columns.
    pub meta_features: Vec<String>,
    /// Rows whose image could not be decoded (their image vector is zero).
    pub image_missing: Vec<usize>,
    /// Statistics of the image pass.
    pub stats: EmbedStats,
}

/// What the image pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EmbedStats {
    pub images: usize,
    pub cache_hits: usize,
    /// Images run through the network in this call.
    pub model_calls: usize,
    pub model_seconds: f64,
    pub distinct_texts: usize,
}

/// Text of each record for the text encoder: its descriptions plus its study's extra text.
pub fn record_texts(
    records: &[InstanceRecord],
    study_text: &HashMap<String, String>,
) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let mut t = r.description_text();
            if let Some(extra) = study_text
                .get(&r.study_instance_uid)
                .filter(|s| !s.trim().is_empty())
            {
                if !t.is_empty() {
                    t.push_str(" | ");
                }
                t.push_str(extra.trim());
            }
            t
        })
        .collect()
}

/// Embed every record: image (cached), metadata, text, and their fusion. See the module
/// documentation for the contract. `model_input(i)` returns the 224x224 grey u8 input of
/// `records[i]`, or `None` when it failed to decode. The cache lives in `cache_dir` and is
/// saved after every batch; `progress` counts images; `cancel` is checked between batches.
///
/// The fused matrix is filled block by block as each source is ready. With
/// [`EmbedConfig::keep_sources`] off, the image vectors go straight into their block and
/// `image`, `meta` and `text` come back empty (0 rows): the fused vectors are the same,
/// bit for bit, and the peak memory is the fused matrix plus the text block instead of
/// all four matrices side by side.
pub fn embed_all(
    records: &[InstanceRecord],
    model_input: impl Fn(usize) -> Option<Vec<u8>> + Sync,
    cfg: &EmbedConfig,
    cache_dir: &Path,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Embeddings, EmbedError> {
    let n = records.len();
    let mut stats = EmbedStats {
        images: n,
        ..Default::default()
    };
    // Metadata first: its width fixes the layout of the fused vector.
    cancel.check()?;
    progress.stage("embed metadata", 1);
    let meta_enc = MetaEncoder::fit(records);
    let mut meta = meta_enc.transform(records);
    progress.inc(1);
    let w = cfg.weights;
    let blocks = fusion::layout(w, [image::FEATURE_DIM, meta.cols, text::TEXT_DIM]);
    let keep = cfg.keep_sources;
    let mut fused = Matrix::zeros(n, fusion::layout_width(&blocks));
    let mut image = Matrix::zeros(if keep { n } else { 0 }, image::FEATURE_DIM);
    let mut scratch = vec![0f32; image::FEATURE_DIM];
    let image_block = blocks[0].clone();
    // Where row `i`'s image vector goes: its own matrix, its block of the fused one, or
    // (image weight 0, in place) nowhere but the cache.
    fn slot<'a>(
        image: &'a mut Matrix,
        fused: &'a mut Matrix,
        scratch: &'a mut [f32],
        block: &Option<std::ops::Range<usize>>,
        i: usize,
    ) -> &'a mut [f32] {
        match block {
            _ if image.rows > 0 => image.row_mut(i),
            Some(b) => &mut fused.row_mut(i)[b.clone()],
            None => scratch,
        }
    }

    let mut cache = EmbeddingCache::open(cache_dir);
    progress.stage("embed images", n as u64);
    let mut todo = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let row = slot(&mut image, &mut fused, &mut scratch, &image_block, i);
        if cache.get_into(&CacheKey::for_record(r), row) {
            stats.cache_hits += 1;
            progress.inc(1);
        } else {
            todo.push(i);
        }
    }
    let mut image_missing = Vec::new();
    if !todo.is_empty() {
        let encoder = ImageEncoder::load(&cfg.models_dir)?;
        let t0 = std::time::Instant::now();
        let mut flush_warned = false;
        for chunk in todo.chunks(cfg.batch.max(1)) {
            cancel.check()?;
            // Decode the batch on every core; the network then uses them all as well.
            let inputs: Vec<(usize, Vec<u8>)> = chunk
                .par_iter()
                .filter_map(|&i| model_input(i).map(|px| (i, px)))
                .collect();
            for &i in chunk {
                if !inputs.iter().any(|(j, _)| *j == i) {
                    image_missing.push(i);
                }
            }
            let slices: Vec<&[u8]> = inputs.iter().map(|(_, p)| p.as_slice()).collect();
            if !slices.is_empty() {
                let feats = encoder.embed_gray(&slices)?;
                stats.model_calls += slices.len();
                for (r, (i, _)) in inputs.iter().enumerate() {
                    slot(&mut image, &mut fused, &mut scratch, &image_block, *i)
                        .copy_from_slice(feats.row(r));
                    cache.insert(CacheKey::for_record(&records[*i]), feats.row(r));
                }
            }
            // Every finished batch is on disk: a killed run resumes where it stopped.
            if let Err(e) = cache.flush() {
                if !flush_warned {
                    log::warn!(
                        "could not save the embedding cache in {}: {e}",
                        cache_dir.display()
                    );
                    flush_warned = true;
                }
            }
            progress.inc(chunk.len() as u64);
        }
        stats.model_seconds = t0.elapsed().as_secs_f64();
    }
    drop(cache);
    if keep {
        fusion::put_block(&mut fused, &blocks[0], &image, w.image);
    } else {
        fusion::normalise_block(&mut fused, &blocks[0], w.image);
    }
    fusion::put_block(&mut fused, &blocks[1], &meta, w.meta);
    if !keep {
        meta = Matrix::zeros(0, meta.cols);
    }

    cancel.check()?;
    let texts = record_texts(records, &cfg.study_text);
    progress.stage("embed text", n as u64);
    let mut text = embed_texts_cached(&texts, cfg, cache_dir)?;
    stats.distinct_texts = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<std::collections::HashSet<_>>()
        .len();
    drop(texts);
    progress.inc(n as u64);
    fusion::put_block(&mut fused, &blocks[2], &text, w.text);
    if !keep {
        text = Matrix::zeros(0, text.cols);
    }

    cancel.check()?;
    let fused = fusion::reduce(fused, cfg.pca);
    Ok(Embeddings {
        image,
        meta,
        text,
        fused,
        meta_features: meta_enc.feature_names().to_vec(),
        image_missing,
        stats,
    })
}

/// Text vectors for `texts`; MiniLM vectors of strings seen before come from the on-disk
/// [`textcache::TextCache`], so the model is loaded only when a new string appears.
fn embed_texts_cached(
    texts: &[String],
    cfg: &EmbedConfig,
    cache_dir: &Path,
) -> Result<Matrix, EmbedError> {
    if cfg.text_model != TextModel::MiniLm {
        return TextEncoder::load(cfg.text_model, &cfg.models_dir)?.embed(texts);
    }
    let mut cache = textcache::TextCache::open(cache_dir, text::MINILM_SHA256, text::TEXT_DIM);
    let mut missing: Vec<String> = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty() && cache.get(t).is_none())
        .map(str::to_owned)
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        let fresh = TextEncoder::load(cfg.text_model, &cfg.models_dir)?.embed(&missing)?;
        for (i, t) in missing.iter().enumerate() {
            cache.insert(t, fresh.row(i));
        }
        if let Err(e) = cache.save() {
            log::warn!("cannot save the text embedding cache: {e}");
        }
    }
    let mut out = Matrix::zeros(texts.len(), text::TEXT_DIM);
    for (i, t) in texts.iter().enumerate() {
        if let Some(v) = cache.get(t.trim()) {
            out.row_mut(i).copy_from_slice(v);
        }
    }
    Ok(out)
}

/// Write `embeddings_{image,meta,text,fused}.npy` (float32, C order), `index.csv` (row,
/// path, sop_instance_uid, modality, anatomy) and `features.json` (meta feature names,
/// dimensions, model ids, stats) into `out_dir`, each atomically.
pub fn write_outputs(
    out_dir: &Path,
    emb: &Embeddings,
    records: &[InstanceRecord],
) -> Result<(), EmbedError> {
    let io = |path: PathBuf| {
        move |source| EmbedError::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir.to_path_buf()))?;
    for (name, m) in [
        ("image", &emb.image),
        ("meta", &emb.meta),
        ("text", &emb.text),
        ("fused", &emb.fused),
    ] {
        let p = out_dir.join(format!("embeddings_{name}.npy"));
        npy::write_f32(&p, m).map_err(io(p.clone()))?;
    }
    let p = out_dir.join("index.csv");
    crate::atomic::write_atomic_with(&p, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(["row", "path", "sop_instance_uid", "modality", "anatomy"])?;
        for (i, r) in records.iter().enumerate() {
            c.write_record([
                i.to_string(),
                r.path.display().to_string(),
                r.sop_instance_uid.clone(),
                r.modality.clone(),
                r.anatomy.as_str().to_owned(),
            ])?;
        }
        c.flush()
    })
    .map_err(io(p.clone()))?;
    let features = serde_json::json!({
        "image": { "model": IMAGE_MODEL_ID, "preprocess_version": PREPROCESS_VERSION, "dim": emb.image.cols,
                   "missing_rows": emb.image_missing },
        "meta": { "dim": emb.meta.cols, "features": emb.meta_features },
        "text": { "dim": emb.text.cols },
        "fused": { "dim": emb.fused.cols },
        "rows": records.len(),
        "stats": emb.stats,
    });
    let p = out_dir.join("features.json");
    let bytes =
        serde_json::to_vec_pretty(&features).map_err(|e| EmbedError::Input(e.to_string()))?;
    crate::atomic::write_atomic(&p, &bytes).map_err(io(p.clone()))?;
    Ok(())
}
