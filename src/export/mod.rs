//! Exports of a review: label files (CSV, JSON, RadiologyNET-style CSV), an
//! ImageFolder-style tree for training, and a report (PNG + SVG charts and a Markdown
//! summary). Every file is written atomically (temp file, fsync, rename). The headless
//! `radcluster run` and the window's export dialog call the same functions.
//!
//! ```no_run
//! # fn demo(analysis: &radcluster::pipeline::Analysis, out: &std::path::Path) -> Result<(), radcluster::export::ExportError> {
//! use radcluster::export::{export_all, ExportSelection};
//! use radcluster::review::ReviewState;
//! let state = ReviewState::from_analysis(analysis);
//! let summary = export_all(out, analysis, &state, &ExportSelection::default(), &Default::default(), &Default::default())?;
//! # Ok(()) }
//! ```

pub mod font;
pub mod imagefolder;
pub mod labels;
pub mod pseudonym;
pub mod report;

use std::io;
use std::path::{Path, PathBuf};

use crate::pipeline::Analysis;
use crate::review::ReviewState;
use crate::{Cancel, Progress};

pub use imagefolder::{
    write_image_folder, ExcludedPolicy, ImageFolderOptions, ImageFolderSummary, LinkMode,
};
pub use labels::{
    import_labels, label_rows, write_labels_csv, write_labels_json, write_radiologynet_csv,
    ImportReport, ImportedCluster, ImportedLabels, LabelRow,
};
pub use pseudonym::Pseudonymizer;
pub use report::{write_report, ReportFiles};

/// Default file names inside an export folder.
pub const LABELS_CSV: &str = "labels.csv";
pub const LABELS_JSON: &str = "labels.json";
pub const RADIOLOGYNET_CSV: &str = "radiologynet.csv";
pub const IMAGE_FOLDER_DIR: &str = "imagefolder";
pub const REPORT_DIR: &str = "report";

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("chart {name}: {reason}")]
    Chart { name: String, reason: String },
    #[error("the review has {review} images but the analysis has {analysis}")]
    Mismatch { review: usize, analysis: usize },
    #[error("export cancelled")]
    Cancelled,
}

impl From<crate::Cancelled> for ExportError {
    fn from(_: crate::Cancelled) -> Self {
        ExportError::Cancelled
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn check_aligned(analysis: &Analysis, state: &ReviewState) -> Result<(), ExportError> {
    if analysis.records.len() != state.len() {
        return Err(ExportError::Mismatch {
            review: state.len(),
            analysis: analysis.records.len(),
        });
    }
    Ok(())
}

/// Options shared by the label writers.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Replace UIDs and paths by stable salted hashes.
    pub pseudonymizer: Option<Pseudonymizer>,
}

/// What the export dialog (or `radcluster run`) writes into one folder.
#[derive(Clone, Debug)]
pub struct ExportSelection {
    pub labels_csv: bool,
    pub labels_json: bool,
    pub radiologynet_csv: bool,
    /// `Some` writes the ImageFolder tree into `imagefolder/`.
    pub image_folder: Option<ImageFolderOptions>,
    /// Charts and Markdown summary into `report/`.
    pub report: bool,
    pub options: ExportOptions,
}

impl Default for ExportSelection {
    /// Labels (all three formats) and the report; no ImageFolder tree.
    fn default() -> Self {
        Self {
            labels_csv: true,
            labels_json: true,
            radiologynet_csv: true,
            image_folder: None,
            report: true,
            options: ExportOptions::default(),
        }
    }
}

/// What [`export_all`] wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    pub files: Vec<PathBuf>,
    pub image_folder: Option<ImageFolderSummary>,
    pub report: Option<ReportFiles>,
}

/// Write the selected exports into `out_dir` (created if needed).
pub fn export_all(
    out_dir: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    sel: &ExportSelection,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ExportSummary, ExportError> {
    check_aligned(analysis, state)?;
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let mut sum = ExportSummary::default();
    let steps = [sel.labels_csv, sel.labels_json, sel.radiologynet_csv]
        .iter()
        .filter(|b| **b)
        .count() as u64;
    progress.stage("export labels", steps);
    let opts = &sel.options;
    if sel.labels_csv {
        let p = out_dir.join(LABELS_CSV);
        write_labels_csv(&p, analysis, state, opts)?;
        sum.files.push(p);
        progress.inc(1);
    }
    if sel.labels_json {
        let p = out_dir.join(LABELS_JSON);
        write_labels_json(&p, analysis, state, opts)?;
        sum.files.push(p);
        progress.inc(1);
    }
    if sel.radiologynet_csv {
        let p = out_dir.join(RADIOLOGYNET_CSV);
        write_radiologynet_csv(&p, analysis, state, opts)?;
        sum.files.push(p);
        progress.inc(1);
    }
    cancel.check()?;
    if sel.report {
        let files = write_report(&out_dir.join(REPORT_DIR), analysis, state)?;
        sum.files.push(files.markdown.clone());
        sum.files.extend(files.charts.iter().cloned());
        sum.report = Some(files);
    }
    if let Some(ifo) = &sel.image_folder {
        let mut ifo = ifo.clone();
        if ifo.pseudonymizer.is_none() {
            ifo.pseudonymizer = opts.pseudonymizer.clone();
        }
        sum.image_folder = Some(write_image_folder(
            &out_dir.join(IMAGE_FOLDER_DIR),
            analysis,
            state,
            &ifo,
            progress,
            cancel,
        )?);
    }
    Ok(sum)
}
