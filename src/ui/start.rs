//! The start screen: open a folder (dialog, typed path, drag and drop), recent folders,
//! the bundled sample.

use std::path::{Path, PathBuf};

use crossbeam_channel::{bounded, Receiver};
use eframe::egui::{self, RichText, Ui};

use super::recent::Recent;

/// What the start screen asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum StartAction {
    Open(PathBuf),
    OpenSample,
}

/// Start screen scratch state.
#[derive(Default)]
pub struct StartScreen {
    pub path_text: String,
    pub error: Option<String>,
    picking: Option<Receiver<Option<PathBuf>>>,
}

/// A dropped path as a folder to open: a folder itself, or the folder of a dropped file.
pub fn folder_of_drop(p: &Path) -> Option<PathBuf> {
    if p.is_dir() {
        Some(p.to_path_buf())
    } else {
        p.parent().filter(|d| d.is_dir()).map(Path::to_path_buf)
    }
}

/// Check a typed path; `Err` says in words what is wrong with it.
pub fn check_folder(text: &str) -> Result<PathBuf, String> {
    let t = text.trim().trim_matches('"').trim_matches('\'');
    if t.is_empty() {
        return Err("Type or paste the path of a folder of DICOM files.".into());
    }
    let expanded = match t.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(t)),
        None => PathBuf::from(t),
    };
    if !expanded.exists() {
        return Err(format!("{}: no such folder", expanded.display()));
    }
    if !expanded.is_dir() {
        return Err(format!("{}: not a folder", expanded.display()));
    }
    Ok(expanded)
}

impl StartScreen {
    /// Open the system folder dialog on its own thread (the xdg portal answers over D-Bus;
    /// without a portal or zenity it returns at once with nothing).
    fn pick_folder(&mut self) {
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("radcluster-folder-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Open a DICOM folder")
                    .pick_folder();
                let _ = tx.send(picked);
            });
        match spawned {
            Ok(_) => self.picking = Some(rx),
            Err(e) => self.error = Some(format!("cannot open the folder dialog: {e}")),
        }
    }

    pub fn ui(&mut self, ui: &mut Ui, recent: &Recent, out: &mut Vec<StartAction>) {
        if let Some(rx) = &self.picking {
            match rx.try_recv() {
                Ok(Some(p)) => {
                    self.picking = None;
                    out.push(StartAction::Open(p));
                }
                Ok(None) => {
                    self.picking = None;
                    self.error = Some(
                        "No folder was chosen. If no dialog appeared, this desktop has no file \
                         dialog service (xdg-desktop-portal or zenity): type or paste the path \
                         below, or drop the folder onto this window."
                            .into(),
                    );
                }
                Err(_) => ui
                    .ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100)),
            }
        }
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            ui.label(RichText::new("radcluster").size(34.0).strong());
            ui.label(
                "Cluster, review and label a DICOM archive — locally, nothing leaves this machine.",
            );
            ui.add_space(24.0);
            ui.horizontal(|ui| {
                ui.add_space((ui.available_width() - 420.0).max(0.0) / 2.0);
                if ui
                    .add(egui::Button::new(RichText::new("Open folder…").size(16.0)))
                    .clicked()
                {
                    self.pick_folder();
                }
                if ui
                    .add(egui::Button::new(RichText::new("Open sample").size(16.0)))
                    .on_hover_text(
                        "The licensed sample images bundled with radcluster (assets/sample)",
                    )
                    .clicked()
                {
                    out.push(StartAction::OpenSample);
                }
            });
            ui.add_space(16.0);
            ui.horizontal(|ui| {
                ui.add_space((ui.available_width() - 560.0).max(0.0) / 2.0);
                let l = ui.label("Folder path");
                let r = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.path_text)
                            .desired_width(380.0)
                            .hint_text("/data/archive"),
                    )
                    .labelled_by(l.id);
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.button("Open").clicked() || enter {
                    match check_folder(&self.path_text) {
                        Ok(p) => {
                            self.error = None;
                            out.push(StartAction::Open(p));
                        }
                        Err(e) => self.error = Some(e),
                    }
                }
            });
            ui.weak("…or drop a folder anywhere on this window.");
            if let Some(e) = &self.error {
                ui.add_space(8.0);
                ui.colored_label(ui.visuals().warn_fg_color, e);
            }
            if !recent.folders.is_empty() {
                ui.add_space(24.0);
                ui.label(RichText::new("Recent folders").strong());
                for f in &recent.folders {
                    let text = f.display().to_string();
                    let exists = f.is_dir();
                    if ui
                        .add_enabled(exists, egui::Button::new(&text).frame(false))
                        .clicked()
                    {
                        out.push(StartAction::Open(f.clone()));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.dcm");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            check_folder(&format!("  \"{}\" ", dir.path().display())).unwrap(),
            dir.path()
        );
        assert!(check_folder("").is_err());
        assert!(check_folder(&file.display().to_string())
            .unwrap_err()
            .contains("not a folder"));
        assert!(check_folder("/definitely/not/here")
            .unwrap_err()
            .contains("no such folder"));
        assert_eq!(folder_of_drop(&file).unwrap(), dir.path());
        assert_eq!(folder_of_drop(dir.path()).unwrap(), dir.path());
    }
}
