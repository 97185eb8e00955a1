//! The export dialog: label files (CSV, JSON, RadiologyNET CSV), the ImageFolder tree,
//! the report, optional pseudonymisation. The writing runs on a background thread with
//! the same [`crate::export::export_all`] as the headless run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};
use eframe::egui::{self, RichText};

use crate::export::{self, ExportSelection, ImageFolderOptions, LinkMode, Pseudonymizer};
use crate::pipeline::Analysis;
use crate::review::ReviewState;
use crate::{Cancel, Progress};

use super::app::Review;

/// Files written, or the reason the export failed.
type ExportResult = Result<Vec<PathBuf>, String>;

/// Export dialog scratch state.
pub struct ExportDialog {
    pub open: bool,
    pub out_dir: String,
    pub labels_csv: bool,
    pub labels_json: bool,
    pub radiologynet_csv: bool,
    pub image_folder: bool,
    pub copy_files: bool,
    pub report: bool,
    pub pseudonymise: bool,
    /// Result of the last export: (ok, message).
    pub message: Option<(bool, String)>,
    running: Option<(Receiver<ExportResult>, Progress)>,
}

impl Default for ExportDialog {
    fn default() -> Self {
        Self {
            open: false,
            out_dir: String::new(),
            labels_csv: true,
            labels_json: true,
            radiologynet_csv: true,
            image_folder: false,
            copy_files: false,
            report: true,
            pseudonymise: false,
            message: None,
            running: None,
        }
    }
}

/// The default export folder of a data folder.
pub fn default_out_dir(folder: &Path) -> PathBuf {
    folder.join(crate::dicom::scan::STATE_DIR).join("export")
}

/// Run an export synchronously (the dialog calls this on its worker thread).
pub fn run_export(
    out: &Path,
    folder: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    d: &ExportDialogChoices,
    progress: &Progress,
) -> Result<Vec<PathBuf>, String> {
    let pseudonymizer = if d.pseudonymise {
        let salt = folder
            .join(crate::dicom::scan::STATE_DIR)
            .join("pseudonym-salt");
        Some(Pseudonymizer::load_or_create(&salt).map_err(|e| format!("{}: {e}", salt.display()))?)
    } else {
        None
    };
    let sel = ExportSelection {
        labels_csv: d.labels_csv,
        labels_json: d.labels_json,
        radiologynet_csv: d.radiologynet_csv,
        image_folder: d.image_folder.then(|| ImageFolderOptions {
            link: if d.copy_files {
                LinkMode::Copy
            } else {
                LinkMode::Auto
            },
            ..Default::default()
        }),
        report: d.report,
        options: export::ExportOptions { pseudonymizer },
    };
    let sum = export::export_all(out, analysis, state, &sel, progress, &Cancel::new())
        .map_err(|e| e.to_string())?;
    let mut files = sum.files;
    if let Some(f) = sum.image_folder {
        files.push(f.root);
    }
    Ok(files)
}

/// The dialog's choices, detached from the UI state for the worker thread.
#[derive(Clone, Debug)]
pub struct ExportDialogChoices {
    pub labels_csv: bool,
    pub labels_json: bool,
    pub radiologynet_csv: bool,
    pub image_folder: bool,
    pub copy_files: bool,
    pub report: bool,
    pub pseudonymise: bool,
}

impl ExportDialog {
    fn choices(&self) -> ExportDialogChoices {
        ExportDialogChoices {
            labels_csv: self.labels_csv,
            labels_json: self.labels_json,
            radiologynet_csv: self.radiologynet_csv,
            image_folder: self.image_folder,
            copy_files: self.copy_files,
            report: self.report,
            pseudonymise: self.pseudonymise,
        }
    }

    /// True while an export is being written.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    fn start(&mut self, folder: &Path, review: &Review) {
        let out = PathBuf::from(self.out_dir.trim());
        let (tx, rx) = bounded(1);
        let progress = Progress::new();
        let (p, folder) = (progress.clone(), folder.to_path_buf());
        let analysis: Arc<Analysis> = review.analysis.clone();
        let state = review.state.clone();
        let choices = self.choices();
        let spawned = std::thread::Builder::new()
            .name("radcluster-export".into())
            .spawn(move || {
                let _ = tx.send(run_export(&out, &folder, &analysis, &state, &choices, &p));
            });
        match spawned {
            Ok(_) => {
                self.running = Some((rx, progress));
                self.message = None;
            }
            Err(e) => self.message = Some((false, format!("cannot start the export: {e}"))),
        }
    }

    pub fn window(&mut self, ctx: &egui::Context, folder: &Path, review: &Review) {
        if let Some((rx, _)) = &self.running {
            match rx.try_recv() {
                Ok(Ok(files)) => {
                    self.message = Some((
                        true,
                        format!("Wrote {} files into {}", files.len(), self.out_dir.trim()),
                    ));
                    self.running = None;
                }
                Ok(Err(e)) => {
                    self.message = Some((false, format!("Export failed: {e}")));
                    self.running = None;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    ctx.request_repaint_after(std::time::Duration::from_millis(50));
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.message = Some((false, "the export stopped unexpectedly".into()));
                    self.running = None;
                }
            }
        }
        if !self.open {
            return;
        }
        if self.out_dir.is_empty() {
            self.out_dir = default_out_dir(folder).display().to_string();
        }
        let mut open = true;
        egui::Window::new("Export")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("Export folder");
                    ui.add(egui::TextEdit::singleline(&mut self.out_dir).desired_width(360.0))
                        .labelled_by(l.id);
                });
                ui.label(RichText::new("Labels").strong());
                ui.checkbox(&mut self.labels_csv, "Labels CSV");
                ui.checkbox(&mut self.labels_json, "Labels JSON");
                ui.checkbox(&mut self.radiologynet_csv, "RadiologyNET CSV");
                ui.label(RichText::new("Training data").strong());
                ui.checkbox(
                    &mut self.image_folder,
                    "ImageFolder tree (one folder per cluster)",
                );
                ui.add_enabled(
                    self.image_folder,
                    egui::Checkbox::new(&mut self.copy_files, "Copy files instead of symlinks"),
                );
                ui.label(RichText::new("Report").strong());
                ui.checkbox(
                    &mut self.report,
                    "Report (PNG and SVG charts, Markdown summary)",
                );
                ui.checkbox(
                    &mut self.pseudonymise,
                    "Pseudonymise UIDs and paths (stable salted hashes)",
                );
                ui.separator();
                ui.horizontal(|ui| {
                    let ready = !self.is_running() && !self.out_dir.trim().is_empty();
                    if ui
                        .add_enabled(ready, egui::Button::new("Export now"))
                        .clicked()
                    {
                        self.start(folder, review);
                    }
                    if let Some((_, p)) = &self.running {
                        let s = p.snapshot();
                        ui.add(
                            egui::ProgressBar::new(s.fraction())
                                .desired_width(160.0)
                                .text(s.stage),
                        );
                    }
                });
                if let Some((ok, m)) = &self.message {
                    let c = if *ok {
                        ui.visuals().text_color()
                    } else {
                        ui.visuals().warn_fg_color
                    };
                    ui.colored_label(c, m);
                }
            });
        self.open = open;
    }
}
