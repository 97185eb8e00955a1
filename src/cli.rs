//! The headless commands. Each one calls the same [`crate::pipeline`] as the window, shows
//! progress on the terminal, stops cleanly on Ctrl-C, and writes its files atomically.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::pipeline::{self, Algo, ProjectionKind, RunParams, Weights};
use crate::progress::{Cancel, Progress};
use crate::shard::Shard;

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    /// Folder to scan (any layout; files are recognised by content).
    pub dir: PathBuf,
    /// Where to write the JSON report.
    #[arg(long, default_value = "scan-report.json")]
    pub report: PathBuf,
    /// Read headers only; do not decode pixels.
    #[arg(long)]
    pub headers_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EmbedArgs {
    pub dir: PathBuf,
    /// Output folder for embeddings_{image,meta,text,fused}.npy, index.csv, features.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Source weights, e.g. image=1,meta=1,text=1.
    #[arg(long, value_parser = parse_weights, default_value = "image=1,meta=1,text=1")]
    pub weights: Weights,
    /// Text encoder: MiniLM (English) or the model-free character n-gram encoder.
    #[arg(long, value_enum, default_value_t = pipeline::TextChoice::Minilm)]
    pub text: pipeline::TextChoice,
    /// Embed only shard i of n (files split by a hash of their path under DIR), for
    /// running on many machines; join the shards with `radcluster merge`. The shard's
    /// caches go to OUT_DIR/cache unless --cache says otherwise.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<Shard>,
    /// Cache folder (embeddings, thumbnails); default DIR/.radcluster.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// The --out folders of every `radcluster embed --shard i/n` run.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Cache folder to write; pass it to `radcluster run DIR --cache` afterwards.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    pub dir: PathBuf,
    /// Number of clusters.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    #[arg(long, value_enum, default_value_t = Algo::Kmeans)]
    pub algo: Algo,
    /// Source weights, e.g. image=1,meta=1,text=1 (0 switches a source off).
    #[arg(long, value_parser = parse_weights, default_value = "image=1,meta=1,text=1")]
    pub weights: Weights,
    #[arg(long, value_enum, default_value_t = ProjectionKind::Umap)]
    pub projection: ProjectionKind,
    #[arg(long, value_enum, default_value_t = pipeline::TextChoice::Minilm)]
    pub text: pipeline::TextChoice,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for labels.csv, labels.json, metrics.json, radiologynet.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// A ground-truth CSV (columns path, region, class; paths relative to DIR), such as
    /// the one `radcluster synth` writes: the clusters are scored against it in
    /// metrics.json.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Cache folder (embeddings, thumbnails), e.g. the output of `radcluster merge`;
    /// default DIR/.radcluster.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SynthArgs {
    /// Folder to write the archive into.
    pub out: PathBuf,
    /// Number of files.
    #[arg(long)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Class set (only "default" exists).
    #[arg(long, default_value = "default")]
    pub classes: String,
    /// Write into a non-empty folder.
    #[arg(long)]
    pub force: bool,
}

/// Parse `image=1,meta=0.5,text=1`. Unknown names and bad numbers are errors.
pub fn parse_weights(s: &str) -> Result<Weights, String> {
    let mut w = Weights::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}': expected NAME=NUMBER"))?;
        let v: f32 = value
            .trim()
            .parse()
            .map_err(|_| format!("'{value}' is not a number"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("weight '{name}' must be a non-negative number"));
        }
        match name.trim() {
            "image" => w.image = v,
            "meta" => w.meta = v,
            "text" => w.text = v,
            other => {
                return Err(format!(
                    "unknown source '{other}' (expected image, meta or text)"
                ))
            }
        }
    }
    if w.image + w.meta + w.text == 0.0 {
        return Err("at least one weight must be above zero".into());
    }
    Ok(w)
}

/// A Ctrl-C handler that cancels `cancel`. Installing twice is harmless.
fn cancel_on_ctrl_c(cancel: &Cancel) {
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        eprintln!("\nradcluster: stopping (Ctrl-C)...");
        c.cancel();
    });
}

/// Draw `progress` on the terminal until the returned guard is dropped.
struct Bar {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    fn new(progress: &Progress) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let (d, p) = (done.clone(), progress.clone());
        let thread = std::thread::Builder::new()
            .name("progress-bar".into())
            .spawn(move || {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:>18} [{bar:40}] {pos}/{len} ({eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                while !d.load(Ordering::Relaxed) {
                    let s = p.snapshot();
                    bar.set_message(s.stage.clone());
                    bar.set_length(s.total);
                    bar.set_position(s.done.min(s.total));
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
            .ok();
        Self { done, thread }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    crate::atomic::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn scan(a: ScanArgs) -> Result<()> {
    let (progress, cancel) = (Progress::new(), Cancel::new());
    cancel_on_ctrl_c(&cancel);
    let report = {
        let _bar = Bar::new(&progress);
        pipeline::scan(&a.dir, !a.headers_only, &progress, &cancel)?
    };
    if report.files_seen == 0 {
        bail!("{}: the folder is empty", a.dir.display());
    }
    write_json(&a.report, &report)?;
    eprintln!(
        "{} files: {} images, {} non-image objects, {} skipped in {:.1} s -> {}",
        report.files_seen,
        report.images.len(),
        report.non_image.len(),
        report.skipped.len(),
        report.seconds,
        a.report.display()
    );
    Ok(())
}

pub fn embed(a: EmbedArgs) -> Result<()> {
    let (progress, cancel) = (Progress::new(), Cancel::new());
    cancel_on_ctrl_c(&cancel);
    let _bar = Bar::new(&progress);
    let start = std::time::Instant::now();
    let cache_dir = match (&a.cache, a.shard) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) => Some(a.out.join(crate::shard::CACHE_SUBDIR)),
        (None, None) => None,
    };
    let opts = pipeline::Options {
        text: a.text,
        cache_dir,
        shard: a.shard,
    };
    let out = match pipeline::embed_folder(&a.dir, a.weights, &opts, &progress, &cancel) {
        // A shard may hold no image at all (a small archive split many ways): that is an
        // empty result, not a failure, so the merge still finds its manifest.
        Err(pipeline::PipelineError::NoImages(_)) if a.shard.is_some() => None,
        other => Some(other?),
    };
    drop(_bar);
    if let Some(out) = &out {
        pipeline::write_embed_outputs(&a.out, out)?;
    }
    if let Some(shard) = a.shard {
        let seconds = start.elapsed().as_secs_f64();
        crate::shard::Manifest::new(shard, &a.dir, a.text, out.as_ref(), seconds).write(&a.out)?;
    }
    match &out {
        Some(out) => eprintln!(
            "{} images embedded ({} from cache), {} skipped -> {}",
            out.records.len(),
            out.cache_hits,
            out.skipped.len(),
            a.out.display()
        ),
        None => eprintln!("shard holds no image -> {}", a.out.display()),
    }
    Ok(())
}

pub fn merge(a: MergeArgs) -> Result<()> {
    let r = crate::shard::merge(&a.shards, &a.out)?;
    eprintln!(
        "{} shards merged: {} image embeddings, {} texts, {} thumbnails, {} skipped files -> {}",
        r.shards,
        r.images,
        r.texts,
        r.thumbnails,
        r.skipped,
        a.out.display()
    );
    eprintln!(
        "next: radcluster run {} --cache {} --out RESULTS",
        r.archive.display(),
        a.out.display()
    );
    Ok(())
}

pub fn run(a: RunArgs) -> Result<()> {
    if a.k < 1 {
        bail!("--k must be at least 1");
    }
    let (progress, cancel) = (Progress::new(), Cancel::new());
    cancel_on_ctrl_c(&cancel);
    let params = RunParams {
        k: a.k,
        algo: a.algo,
        weights: a.weights,
        projection: a.projection,
        seed: a.seed,
    };
    let opts = pipeline::Options {
        text: a.text,
        cache_dir: a.cache.clone(),
        ..Default::default()
    };
    let mut result = {
        let _bar = Bar::new(&progress);
        pipeline::analyse(&a.dir, &params, &opts, &progress, &cancel)?
    };
    if let Some(t) = &a.truth {
        result.truth = Some(pipeline::score_against_truth(&a.dir, &result.analysis, t)?);
    }
    pipeline::write_run_outputs(&a.out, &result)?;
    eprintln!(
        "{} images in {} clusters ({} skipped) -> {}",
        result.analysis.records.len(),
        a.k,
        result.analysis.skipped.len(),
        a.out.display()
    );
    Ok(())
}

pub fn synth(a: SynthArgs) -> Result<()> {
    if a.classes != "default" {
        bail!("unknown class set '{}' (only 'default' exists)", a.classes);
    }
    let (progress, cancel) = (Progress::new(), Cancel::new());
    cancel_on_ctrl_c(&cancel);
    let _bar = Bar::new(&progress);
    pipeline::synth(&a.out, a.n, a.seed, a.force, &progress, &cancel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_and_reject() {
        let w = parse_weights("image=2,meta=0.5,text=0").unwrap();
        assert_eq!((w.image, w.meta, w.text), (2.0, 0.5, 0.0));
        assert_eq!(parse_weights("text=3").unwrap().image, 1.0);
        assert!(parse_weights("pixels=1")
            .unwrap_err()
            .contains("unknown source"));
        assert!(parse_weights("image=x").is_err());
        assert!(parse_weights("image=-1").is_err());
        assert!(parse_weights("image=0,meta=0,text=0").is_err());
    }
}
