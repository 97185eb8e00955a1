//! The image viewer: one full-resolution frame, window/level by right-drag, OHIF
//! presets on keys 1-5, arrows for the next image, PgUp/PgDn for frames.
//!
//! Frames are decoded off the UI thread; windowing runs on the already decoded values.

use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};
use eframe::egui::{
    self, Color32, ColorImage, Key, Rect, Sense, TextureHandle, TextureOptions, Ui,
};

use crate::dicom::decode::{render_window, FullFrame};
use crate::dicom::InstanceRecord;

/// Decodes frame `frame` of image `index`; runs on a worker thread.
pub type FrameLoader = Arc<dyn Fn(usize, u32) -> Result<FullFrame, String> + Send + Sync>;

/// OHIF window presets (centre, width) on keys 1-5.
pub const PRESETS: [(&str, f64, f64); 5] = [
    ("Soft tissue", 40.0, 400.0),
    ("Lung", -600.0, 1500.0),
    ("Liver", 90.0, 150.0),
    ("Bone", 480.0, 2500.0),
    ("Brain", 40.0, 80.0),
];

/// What the viewer asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum ViewerAction {
    Close,
    /// Show the next (+1) or previous (-1) image of the grid order.
    Step(i32),
}

type Loaded = (usize, u32, Result<FullFrame, String>);

/// Viewer state for the open image.
pub struct Viewer {
    pub image: usize,
    pub frame: u32,
    /// (centre, width) in modality units.
    pub window: Option<(f64, f64)>,
    pub data: Option<Arc<FullFrame>>,
    pub error: Option<String>,
    tex: Option<TextureHandle>,
    tex_key: Option<(usize, u32, i64, i64)>,
    /// The (image, frame) that `data` holds.
    loaded: Option<(usize, u32)>,
    loading: Option<Receiver<Loaded>>,
}

impl Viewer {
    pub fn new(image: usize) -> Self {
        Self {
            image,
            frame: 0,
            window: None,
            data: None,
            error: None,
            tex: None,
            tex_key: None,
            loaded: None,
            loading: None,
        }
    }

    /// Start decoding `self.image` / `self.frame` unless it is shown or on its way.
    fn ensure_loading(&mut self, loader: &FrameLoader) {
        if self.loading.is_some()
            || self.loaded == Some((self.image, self.frame))
            || self.error.is_some()
        {
            return;
        }
        let (tx, rx) = bounded(1);
        let (image, frame) = (self.image, self.frame);
        let loader = loader.clone();
        let spawned = std::thread::Builder::new()
            .name("radcluster-viewer".into())
            .spawn(move || {
                let _ = tx.send((image, frame, loader(image, frame)));
            });
        match spawned {
            Ok(_) => self.loading = Some(rx),
            Err(e) => self.error = Some(format!("cannot start the decoder thread: {e}")),
        }
    }

    /// Show another image (keeps the window/level).
    pub fn show_image(&mut self, image: usize) {
        if image != self.image {
            self.image = image;
            self.frame = 0;
            self.error = None;
        }
    }

    pub fn ui(
        &mut self,
        ui: &mut Ui,
        rec: Option<&InstanceRecord>,
        loader: &FrameLoader,
        out: &mut Vec<ViewerAction>,
    ) {
        // Results from the decoder thread.
        if let Some(rx) = &self.loading {
            match rx.try_recv() {
                Ok((image, frame, res)) => {
                    self.loading = None;
                    if (image, frame) == (self.image, self.frame) {
                        match res {
                            Ok(f) => {
                                if self.window.is_none() && f.grey.is_some() {
                                    self.window = Some(f.default_window);
                                }
                                self.data = Some(Arc::new(f));
                                self.loaded = Some((image, frame));
                            }
                            Err(e) => self.error = Some(e),
                        }
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_millis(30));
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.loading = None;
                    self.error = Some("the decoder stopped".into());
                }
            }
        }
        self.ensure_loading(loader);

        // Keys (the viewer has the keyboard while it is open).
        let frames = self.data.as_ref().map(|d| d.frames).unwrap_or(1).max(1);
        ui.input(|i| {
            for (k, key) in [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5]
                .iter()
                .enumerate()
            {
                if i.key_pressed(*key) {
                    self.window = Some((PRESETS[k].1, PRESETS[k].2));
                }
            }
            if i.key_pressed(Key::ArrowRight) || i.key_pressed(Key::ArrowDown) {
                out.push(ViewerAction::Step(1));
            }
            if i.key_pressed(Key::ArrowLeft) || i.key_pressed(Key::ArrowUp) {
                out.push(ViewerAction::Step(-1));
            }
            if i.key_pressed(Key::PageDown) && self.frame + 1 < frames {
                self.frame += 1;
            }
            if i.key_pressed(Key::PageUp) && self.frame > 0 {
                self.frame -= 1;
            }
            if i.key_pressed(Key::Escape) {
                out.push(ViewerAction::Close);
            }
        });

        ui.horizontal(|ui| {
            if ui.button("Close viewer").clicked() {
                out.push(ViewerAction::Close);
            }
            if ui.button("Previous image").clicked() {
                out.push(ViewerAction::Step(-1));
            }
            if ui.button("Next image").clicked() {
                out.push(ViewerAction::Step(1));
            }
            for (k, (name, c, w)) in PRESETS.iter().enumerate() {
                if ui
                    .button(format!("{} {name}", k + 1))
                    .on_hover_text(format!("W {w} / L {c}"))
                    .clicked()
                {
                    self.window = Some((*c, *w));
                }
            }
        });

        let (rect, resp) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Image viewer"));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);

        if resp.dragged_by(egui::PointerButton::Secondary) {
            let d = resp.drag_delta();
            let (c, w) = self.window.unwrap_or((40.0, 400.0));
            let step = (w / 200.0).max(0.5);
            self.window = Some((
                c + d.y as f64 * step,
                (w + d.x as f64 * step * 2.0).max(1.0),
            ));
        }
        if resp.double_clicked() {
            out.push(ViewerAction::Close);
        }

        if let Some(data) = &self.data {
            let (li, lf) = self.loaded.unwrap_or((self.image, self.frame));
            let key = (
                li,
                lf,
                self.window.map(|w| (w.0 * 100.0) as i64).unwrap_or(0),
                self.window.map(|w| (w.1 * 100.0) as i64).unwrap_or(0),
            );
            if self.tex_key != Some(key) || self.tex.is_none() {
                let (c, w) = self.window.unwrap_or(data.default_window);
                let rgba = render_window(data, c, w);
                let img = ColorImage::from_rgba_unmultiplied(
                    [data.width as usize, data.height as usize],
                    &rgba,
                );
                match &mut self.tex {
                    Some(t) => t.set(img, TextureOptions::LINEAR),
                    None => {
                        self.tex =
                            Some(ui.ctx().load_texture("viewer", img, TextureOptions::LINEAR))
                    }
                }
                self.tex_key = Some(key);
            }
            if let Some(t) = &self.tex {
                let s = t.size_vec2();
                let f = (rect.width() / s.x).min(rect.height() / s.y);
                let r = Rect::from_center_size(rect.center(), s * f);
                painter.image(
                    t.id(),
                    r,
                    Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    Color32::WHITE,
                );
            }
        } else if let Some(e) = &self.error {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                e,
                egui::FontId::proportional(15.0),
                Color32::LIGHT_RED,
            );
        } else {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Decoding…",
                egui::FontId::proportional(15.0),
                Color32::GRAY,
            );
        }

        // Corner overlay: never any patient identity.
        let font = egui::FontId::monospace(13.0);
        let lines = overlay_lines(rec, self.frame, frames, self.window);
        for (k, line) in lines.iter().enumerate() {
            painter.text(
                rect.min + egui::vec2(8.0, 8.0 + 16.0 * k as f32),
                egui::Align2::LEFT_TOP,
                line,
                font.clone(),
                Color32::from_rgb(230, 230, 140),
            );
        }
        painter.text(
            rect.right_bottom() + egui::vec2(-8.0, -8.0),
            egui::Align2::RIGHT_BOTTOM,
            "right-drag: window/level · 1-5: presets · Left/Right: image · PgUp/PgDn: frame · Esc: close",
            egui::FontId::proportional(12.0),
            Color32::GRAY,
        );
    }
}

/// Overlay text: modality, body part, series description, frame, window.
pub fn overlay_lines(
    rec: Option<&InstanceRecord>,
    frame: u32,
    frames: u32,
    window: Option<(f64, f64)>,
) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(r) = rec {
        v.push(format!(
            "{}  {}",
            r.modality,
            r.body_part_raw.as_deref().unwrap_or(r.anatomy.as_str())
        ));
        if let Some(s) = r
            .series_description
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            v.push(s.trim().to_string());
        }
        v.push(format!("{} x {}", r.cols, r.rows));
    }
    v.push(format!("frame {}/{}", frame + 1, frames.max(1)));
    if let Some((c, w)) = window {
        v.push(format!("W {w:.0} L {c:.0}"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_has_no_identity() {
        let rec = InstanceRecord {
            modality: "CT".into(),
            body_part_raw: Some("HEAD".into()),
            series_description: Some("AX 5mm".into()),
            patient_key: "abc123".into(),
            rows: 512,
            cols: 512,
            ..Default::default()
        };
        let lines = overlay_lines(Some(&rec), 0, 3, Some((40.0, 80.0)));
        assert_eq!(lines[0], "CT  HEAD");
        assert!(lines.iter().any(|l| l == "frame 1/3"));
        assert!(lines.iter().all(|l| !l.contains("abc123")));
    }
}
