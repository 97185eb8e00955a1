//! The review window (eframe + egui): the only module that imports egui.
//!
//! [`RadclusterApp`] owns the persisted settings, the background job, the review session
//! and one struct per panel. Panels never change domain data: they push a [`cmd::Command`]
//! that the app applies after the UI pass.

pub mod app;
pub mod automation;
pub mod charts;
pub mod clusters;
pub mod cmd;
pub mod colors;
pub mod export_dialog;
pub mod grid;
pub mod jobs;
pub mod map;
pub mod recent;
pub mod selection;
pub mod start;
pub mod thumbs;
pub mod viewer;

use std::path::PathBuf;

pub use app::RadclusterApp;
/// Re-exported so that tests and benches drive the same egui version.
pub use eframe::egui;

/// Open the review window (glow renderer). `folder` opens directly; `None` shows the start
/// screen.
///
/// With `RADCLUSTER_AUTOMATION=<script>` set, the app runs headless and follows the
/// script instead (see [`automation`]).
pub fn run_app(folder: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(script) = std::env::var_os("RADCLUSTER_AUTOMATION") {
        return automation::run_script(folder, std::path::Path::new(&script));
    }
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("radcluster")
            .with_inner_size([1500.0, 950.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "radcluster",
        options,
        Box::new(move |cc| {
            let mut app = RadclusterApp::new(folder);
            app.set_context(cc.egui_ctx.clone());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
