//! The projection map: every image as a point, drawn as one batched mesh.
//!
//! Points are binned into one-pixel screen cells while the mesh is built; each occupied
//! cell draws one point (the last one, which is what overdraw would show anyway), with
//! selected points drawn after all others. A million points therefore cost at most one
//! quad per pixel of the map, and the mesh is rebuilt only when the data, the selection,
//! the colours or the view change. The same cell grid answers hover queries.

use std::sync::Arc;

use eframe::egui::{
    self, pos2, vec2, Color32, Mesh, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2,
};
use eframe::emath;

use super::colors;
use super::selection::SelectMode;

/// What the map shows; the caller owns the vectors and bumps `generation` whenever
/// positions, colours or the selection change.
pub struct MapInput<'a> {
    pub xy: &'a [[f32; 2]],
    /// Base colour of each point.
    pub colors: &'a [Color32],
    /// Selected flag per point (may be empty when nothing is selected).
    pub selected: &'a [bool],
    pub any_selected: bool,
    pub generation: u64,
    /// Legend entries: label and colour.
    pub legend: &'a [(String, Color32)],
}

/// Something the user asked for on the map, applied by the app after the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum MapAction {
    Select {
        indices: Vec<usize>,
        mode: SelectMode,
    },
    ClearSelection,
    Open(usize),
}

/// What a primary drag does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Pan,
    Box,
    Lasso,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct MeshKey {
    rect: Rect,
    zoom: f32,
    pan: Vec2,
    generation: u64,
    n: usize,
}

/// Map panel with its own scratch state: view, cached mesh, hover, lasso.
pub struct MapPanel {
    pub tool: Tool,
    zoom: f32,
    pan: Vec2,
    /// Data bounds of the current positions (recomputed when `generation` changes).
    bounds: Option<(u64, usize, Rect)>,
    mesh: Arc<Mesh>,
    key: Option<MeshKey>,
    /// Owner point of each screen cell (`u32::MAX` = empty), row-major, `cells_w` wide.
    cells: Vec<u32>,
    cells_w: usize,
    cells_h: usize,
    cells_origin: Pos2,
    drag_start: Option<Pos2>,
    lasso: Vec<Pos2>,
    pub hovered: Option<usize>,
    /// Number of times the mesh was rebuilt (for tests and the frame-time bench).
    pub rebuilds: u64,
    /// The transform the cached mesh was built with.
    built_xf: Option<Xf>,
    /// The cached mesh moved to the current view while zooming or panning.
    scratch: Arc<Mesh>,
    /// The view (zoom, pan) the user is moving to, and when it last changed.
    pending_view: Option<(f32, Vec2)>,
    view_changed_at: f64,
}

/// Seconds of a still view after which a zoomed or panned map is rebuilt exactly.
const REBUILD_AFTER_S: f64 = 0.15;

impl Default for MapPanel {
    fn default() -> Self {
        Self {
            tool: Tool::Box,
            zoom: 1.0,
            pan: Vec2::ZERO,
            bounds: None,
            mesh: Arc::new(Mesh::default()),
            key: None,
            cells: Vec::new(),
            cells_w: 0,
            cells_h: 0,
            cells_origin: Pos2::ZERO,
            drag_start: None,
            lasso: Vec::new(),
            hovered: None,
            rebuilds: 0,
            built_xf: None,
            scratch: Arc::new(Mesh::default()),
            pending_view: None,
            view_changed_at: 0.0,
        }
    }
}

/// Point radius in points for a map of `n` points.
fn radius_for(n: usize) -> f32 {
    match n {
        0..=2_000 => 4.0,
        2_001..=20_000 => 3.0,
        20_001..=200_000 => 2.0,
        _ => 1.5,
    }
}

const EMPTY: u32 = u32::MAX;

/// Data -> screen transform.
#[derive(Clone, Copy)]
struct Xf {
    scale: f32,
    offset: Vec2,
}

impl Xf {
    #[inline(always)]
    fn apply(&self, p: [f32; 2]) -> Pos2 {
        // y grows upwards in the data, downwards on screen
        pos2(
            p[0] * self.scale + self.offset.x,
            -p[1] * self.scale + self.offset.y,
        )
    }
    fn inverse(&self, s: Pos2) -> [f32; 2] {
        [
            (s.x - self.offset.x) / self.scale,
            -(s.y - self.offset.y) / self.scale,
        ]
    }
}

impl MapPanel {
    /// Zoom by `factor` around the centre (keyboard zoom, benches).
    pub fn zoom_by(&mut self, factor: f32) {
        self.zoom = (self.zoom * factor).clamp(0.2, 2000.0);
        self.pan *= factor;
    }

    /// Points in the cached mesh's vertex buffer.
    pub fn mesh_vertices(&self) -> usize {
        self.mesh.vertices.len()
    }

    /// Reset zoom and pan so that all points fit.
    pub fn reset_view(&mut self) {
        self.zoom = 1.0;
        self.pan = Vec2::ZERO;
    }

    fn data_bounds(&mut self, input: &MapInput<'_>) -> Rect {
        if let Some((g, n, r)) = self.bounds {
            if g == input.generation && n == input.xy.len() {
                return r;
            }
        }
        let mut r = Rect::NOTHING;
        for p in input.xy {
            if p[0].is_finite() && p[1].is_finite() {
                r.extend_with(pos2(p[0], p[1]));
            }
        }
        if !r.is_positive() {
            r = Rect::from_center_size(r.center(), vec2(1.0, 1.0));
            if !r.min.x.is_finite() {
                r = Rect::from_min_max(pos2(-1.0, -1.0), pos2(1.0, 1.0));
            }
        }
        // Only the positions decide the bounds; keep them across selection changes.
        if self
            .bounds
            .map(|(_, n, b)| n != input.xy.len() || b != r)
            .unwrap_or(true)
        {
            self.bounds = Some((input.generation, input.xy.len(), r));
        } else if let Some(b) = &mut self.bounds {
            b.0 = input.generation;
        }
        r
    }

    fn xf(&self, rect: Rect, bounds: Rect) -> Xf {
        let bw = bounds.width().max(1e-6);
        let bh = bounds.height().max(1e-6);
        let fit = 0.92 * (rect.width() / bw).min(rect.height() / bh);
        let scale = fit * self.zoom;
        let c = bounds.center();
        let offset = rect.center().to_vec2() + self.pan - vec2(c.x * scale, -c.y * scale);
        Xf { scale, offset }
    }

    fn rebuild(&mut self, rect: Rect, xf: Xf, input: &MapInput<'_>) {
        self.rebuilds += 1;
        let w = rect.width().max(1.0).ceil() as usize;
        let h = rect.height().max(1.0).ceil() as usize;
        self.cells_w = w;
        self.cells_h = h;
        self.cells_origin = rect.min;
        self.cells.clear();
        self.cells.resize(w * h, EMPTY);
        let n = input.xy.len();
        let sel = |i: usize| input.any_selected && input.selected.get(i).copied().unwrap_or(false);
        // Unselected first, then selected: selected points win their cells.
        let (sx, ox, oy) = (xf.scale, xf.offset.x - rect.min.x, xf.offset.y - rect.min.y);
        let (wf, hf) = (w as f32, h as f32);
        let flags = input.selected;
        let passes: &[bool] = if input.any_selected {
            &[false, true]
        } else {
            &[false]
        };
        for &want_selected in passes {
            let cells = &mut self.cells[..];
            for (i, p) in input.xy.iter().enumerate() {
                if input.any_selected && flags.get(i).copied().unwrap_or(false) != want_selected {
                    continue;
                }
                let cx = p[0] * sx + ox;
                let cy = -p[1] * sx + oy;
                if cx >= 0.0 && cy >= 0.0 && cx < wf && cy < hf {
                    cells[cy as usize * w + cx as usize] = i as u32;
                }
            }
        }

        let r = radius_for(n);
        let mut mesh = Mesh::default();
        let occupied = self.cells.iter().filter(|&&c| c != EMPTY).count();
        let round = r > 2.0;
        let per_point = if round { 9 } else { 4 };
        mesh.reserve_vertices(occupied * per_point);
        mesh.reserve_triangles(occupied * if round { 8 } else { 2 });
        // Two passes over the cells so that selected points are drawn on top.
        let passes = if input.any_selected { 2 } else { 1 };
        for pass in 0..passes {
            for &c in &self.cells {
                if c == EMPTY {
                    continue;
                }
                let i = c as usize;
                let is_sel = sel(i);
                if input.any_selected && (pass == 1) != is_sel {
                    continue;
                }
                let base = input.colors.get(i).copied().unwrap_or(Color32::LIGHT_GRAY);
                let color = if input.any_selected && !is_sel {
                    colors::greyed(base)
                } else {
                    base
                };
                let p = xf.apply(input.xy[i]);
                if round {
                    add_disc(&mut mesh, p, r, color);
                } else {
                    add_square(&mut mesh, p, r, color);
                }
            }
        }
        self.mesh = Arc::new(mesh);
    }

    /// Point under `pos`, searching the cell grid within `radius` points.
    fn pick(&self, pos: Pos2, radius: f32, xy: &[[f32; 2]], xf: Xf) -> Option<usize> {
        if self.cells_w == 0 {
            return None;
        }
        let cx = (pos.x - self.cells_origin.x) as isize;
        let cy = (pos.y - self.cells_origin.y) as isize;
        let rr = radius.ceil() as isize;
        let mut best: Option<(f32, usize)> = None;
        for y in (cy - rr).max(0)..=(cy + rr).min(self.cells_h as isize - 1) {
            for x in (cx - rr).max(0)..=(cx + rr).min(self.cells_w as isize - 1) {
                let c = self.cells[y as usize * self.cells_w + x as usize];
                if c == EMPTY || c as usize >= xy.len() {
                    continue;
                }
                let d = xf.apply(xy[c as usize]).distance(pos);
                if d <= radius && best.map(|b| d < b.0).unwrap_or(true) {
                    best = Some((d, c as usize));
                }
            }
        }
        best.map(|b| b.1)
    }

    /// Draw the map filling `ui`'s available space. Actions go to `out`.
    pub fn ui(&mut self, ui: &mut Ui, input: &MapInput<'_>, out: &mut Vec<MapAction>) -> Response {
        ui.horizontal(|ui| {
            ui.label("Tool:");
            ui.selectable_value(&mut self.tool, Tool::Box, "Box select");
            ui.selectable_value(&mut self.tool, Tool::Lasso, "Lasso select");
            ui.selectable_value(&mut self.tool, Tool::Pan, "Pan");
            if ui.button("Fit view").clicked() {
                self.reset_view();
            }
            ui.weak("scroll: zoom · right/middle drag: pan · shift: add");
        });
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Projection map"));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        if input.xy.is_empty() {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "No points yet",
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
            return response;
        }

        // Zoom around the pointer.
        if response.hovered() {
            let (scroll, zoom_delta, hover) = ui.input(|i| {
                (
                    i.smooth_scroll_delta.y,
                    i.zoom_delta(),
                    i.pointer.hover_pos(),
                )
            });
            let factor = zoom_delta * (scroll / 200.0).exp();
            if (factor - 1.0).abs() > 1e-4 {
                if let Some(hp) = hover {
                    let new_zoom = (self.zoom * factor).clamp(0.2, 2000.0);
                    let f = new_zoom / self.zoom;
                    // keep the data under the pointer fixed
                    let anchor = hp - rect.center() - self.pan;
                    self.pan -= anchor * (f - 1.0);
                    self.zoom = new_zoom;
                }
            }
        }
        // Pan: secondary/middle drag always, primary with the pan tool.
        let pan_drag = response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle)
            || (self.tool == Tool::Pan && response.dragged_by(egui::PointerButton::Primary));
        if pan_drag {
            self.pan += response.drag_delta();
        }

        let bounds = self.data_bounds(input);
        let xf = self.xf(rect, bounds);
        let key = MeshKey {
            rect,
            zoom: self.zoom,
            pan: self.pan,
            generation: input.generation,
            n: input.xy.len(),
        };
        // Data, size or selection changes rebuild at once. Zoom and pan first move the
        // cached mesh (one transform of its vertices) and rebuild once the view has been
        // still for REBUILD_AFTER_S, so that a million points zoom smoothly.
        let now = ui.input(|i| i.time);
        let same_data = self
            .key
            .is_some_and(|k| k.rect == rect && k.generation == key.generation && k.n == key.n);
        let view_moved = self
            .key
            .is_some_and(|k| k.zoom != key.zoom || k.pan != key.pan);
        if view_moved && self.pending_view != Some((key.zoom, key.pan)) {
            self.pending_view = Some((key.zoom, key.pan));
            self.view_changed_at = now;
        }
        let settled = now - self.view_changed_at >= REBUILD_AFTER_S;
        let mut stale = false;
        if self.key != Some(key) {
            match (same_data && view_moved && !settled, self.built_xf) {
                (true, Some(old)) => {
                    stale = true;
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_secs_f64(REBUILD_AFTER_S));
                    let k = xf.scale / old.scale;
                    let t = emath::TSTransform::new(xf.offset - old.offset * k, k);
                    let scratch = Arc::make_mut(&mut self.scratch);
                    scratch.indices.clone_from(&self.mesh.indices);
                    scratch.vertices.clone_from(&self.mesh.vertices);
                    scratch.transform(t);
                }
                _ => {
                    self.rebuild(rect, xf, input);
                    self.built_xf = Some(xf);
                    self.key = Some(key);
                    self.pending_view = None;
                }
            }
        }
        painter.add(Shape::Mesh(if stale {
            self.scratch.clone()
        } else {
            self.mesh.clone()
        }));

        // Hover.
        let radius = radius_for(input.xy.len()) + 3.0;
        self.hovered = if stale {
            None
        } else {
            response
                .hover_pos()
                .and_then(|p| self.pick(p, radius, input.xy, xf))
        };
        if let Some(h) = self.hovered {
            let p = xf.apply(input.xy[h]);
            painter.circle_stroke(
                p,
                radius,
                Stroke::new(2.0, ui.visuals().strong_text_color()),
            );
        }

        // Clicks.
        let modifiers = ui.input(|i| i.modifiers);
        let mode = if modifiers.command {
            SelectMode::Toggle
        } else if modifiers.shift {
            SelectMode::Add
        } else {
            SelectMode::Replace
        };
        if response.double_clicked() {
            if let Some(h) = self.hovered {
                out.push(MapAction::Open(h));
            }
        } else if response.clicked() {
            match self.hovered {
                Some(h) => out.push(MapAction::Select {
                    indices: vec![h],
                    mode,
                }),
                None if mode == SelectMode::Replace => out.push(MapAction::ClearSelection),
                None => {}
            }
        }

        // Box and lasso.
        let select_drag = !pan_drag
            && self.tool != Tool::Pan
            && response.dragged_by(egui::PointerButton::Primary);
        if response.drag_started_by(egui::PointerButton::Primary) && self.tool != Tool::Pan {
            self.drag_start = response.interact_pointer_pos();
            self.lasso.clear();
        }
        if select_drag {
            if let Some(p) = response.interact_pointer_pos() {
                if self.tool == Tool::Lasso
                    && self
                        .lasso
                        .last()
                        .map(|l| l.distance(p) > 2.0)
                        .unwrap_or(true)
                {
                    self.lasso.push(p);
                }
                if let (Tool::Box, Some(s)) = (self.tool, self.drag_start) {
                    let r = Rect::from_two_pos(s, p);
                    painter.rect_stroke(
                        r,
                        0.0,
                        Stroke::new(1.5, ui.visuals().selection.stroke.color),
                        egui::StrokeKind::Inside,
                    );
                }
            }
            if self.tool == Tool::Lasso && self.lasso.len() > 1 {
                let mut pts = self.lasso.clone();
                pts.push(self.lasso[0]);
                painter.add(Shape::line(
                    pts,
                    Stroke::new(1.5, ui.visuals().selection.stroke.color),
                ));
            }
        }
        if response.drag_stopped_by(egui::PointerButton::Primary) && self.tool != Tool::Pan {
            let end = response
                .interact_pointer_pos()
                .or(ui.input(|i| i.pointer.latest_pos()));
            let picked = match (self.tool, self.drag_start, end) {
                (Tool::Box, Some(s), Some(e)) => {
                    Some(select_in_box(input.xy, xf, Rect::from_two_pos(s, e)))
                }
                (Tool::Lasso, _, _) if self.lasso.len() >= 3 => {
                    Some(select_in_polygon(input.xy, xf, &self.lasso))
                }
                _ => None,
            };
            if let Some(indices) = picked {
                let mode = if mode == SelectMode::Toggle {
                    SelectMode::Add
                } else {
                    mode
                };
                out.push(MapAction::Select { indices, mode });
            }
            self.drag_start = None;
            self.lasso.clear();
        }

        draw_legend(ui, &painter, rect, input.legend);
        let _ = xf.inverse(rect.center());
        response
    }
}

fn add_square(mesh: &mut Mesh, p: Pos2, r: f32, color: Color32) {
    mesh.add_colored_rect(Rect::from_center_size(p, Vec2::splat(2.0 * r)), color);
}

/// An octagon as a triangle fan: round enough at these sizes.
fn add_disc(mesh: &mut Mesh, p: Pos2, r: f32, color: Color32) {
    const DIRS: [(f32, f32); 8] = [
        (1.0, 0.0),
        (0.707, 0.707),
        (0.0, 1.0),
        (-0.707, 0.707),
        (-1.0, 0.0),
        (-0.707, -0.707),
        (0.0, -1.0),
        (0.707, -0.707),
    ];
    let c = mesh.vertices.len() as u32;
    mesh.colored_vertex(p, color);
    for (dx, dy) in DIRS {
        mesh.colored_vertex(pos2(p.x + dx * r, p.y + dy * r), color);
    }
    for k in 0..8u32 {
        mesh.add_triangle(c, c + 1 + k, c + 1 + (k + 1) % 8);
    }
}

fn select_in_box(xy: &[[f32; 2]], xf: Xf, r: Rect) -> Vec<usize> {
    let a = xf.inverse(r.min);
    let b = xf.inverse(r.max);
    let (x0, x1) = (a[0].min(b[0]), a[0].max(b[0]));
    let (y0, y1) = (a[1].min(b[1]), a[1].max(b[1]));
    xy.iter()
        .enumerate()
        .filter(|(_, p)| p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1)
        .map(|(i, _)| i)
        .collect()
}

/// Even-odd rule point-in-polygon, in screen space.
pub fn point_in_polygon(p: Pos2, poly: &[Pos2]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn select_in_polygon(xy: &[[f32; 2]], xf: Xf, poly: &[Pos2]) -> Vec<usize> {
    let mut bb = Rect::NOTHING;
    for p in poly {
        bb.extend_with(*p);
    }
    xy.iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let s = xf.apply(*p);
            (bb.contains(s) && point_in_polygon(s, poly)).then_some(i)
        })
        .collect()
}

fn draw_legend(ui: &Ui, painter: &egui::Painter, rect: Rect, legend: &[(String, Color32)]) {
    if legend.is_empty() {
        return;
    }
    let font = egui::FontId::proportional(12.0);
    let row = 16.0;
    let shown = legend
        .len()
        .min(((rect.height() - 20.0) / row).max(1.0) as usize);
    let width = 170.0;
    let top_left = pos2(rect.max.x - width - 8.0, rect.min.y + 8.0);
    let bg = Rect::from_min_size(top_left, vec2(width, shown as f32 * row + 8.0));
    painter.rect_filled(bg, 4.0, ui.visuals().window_fill().gamma_multiply(0.85));
    for (k, (label, color)) in legend.iter().take(shown).enumerate() {
        let y = top_left.y + 4.0 + k as f32 * row;
        painter.rect_filled(
            Rect::from_min_size(pos2(top_left.x + 6.0, y + 3.0), vec2(10.0, 10.0)),
            2.0,
            *color,
        );
        let mut text = label.clone();
        if k + 1 == shown && shown < legend.len() {
            text = format!("… and {} more", legend.len() - shown + 1);
        }
        painter.text(
            pos2(top_left.x + 22.0, y + 8.0),
            egui::Align2::LEFT_CENTER,
            text,
            font.clone(),
            ui.visuals().text_color(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_contains() {
        let sq = [
            pos2(0.0, 0.0),
            pos2(10.0, 0.0),
            pos2(10.0, 10.0),
            pos2(0.0, 10.0),
        ];
        assert!(point_in_polygon(pos2(5.0, 5.0), &sq));
        assert!(!point_in_polygon(pos2(15.0, 5.0), &sq));
        // a concave "C": the notch is outside
        let c = [
            pos2(0.0, 0.0),
            pos2(10.0, 0.0),
            pos2(10.0, 3.0),
            pos2(3.0, 3.0),
            pos2(3.0, 7.0),
            pos2(10.0, 7.0),
            pos2(10.0, 10.0),
            pos2(0.0, 10.0),
        ];
        assert!(point_in_polygon(pos2(1.0, 5.0), &c));
        assert!(!point_in_polygon(pos2(6.0, 5.0), &c));
    }

    #[test]
    fn transform_round_trips() {
        let xf = Xf {
            scale: 3.0,
            offset: vec2(100.0, 50.0),
        };
        let p = [1.5, -2.0];
        let s = xf.apply(p);
        let q = xf.inverse(s);
        assert!((q[0] - p[0]).abs() < 1e-5 && (q[1] - p[1]).abs() < 1e-5);
    }

    #[test]
    fn mesh_is_bounded_by_cells() {
        // 100k points in a small map: the mesh holds at most one point per cell.
        let n = 100_000;
        let xy: Vec<[f32; 2]> = (0..n)
            .map(|i| [(i % 1000) as f32 * 0.001, (i / 1000) as f32 * 0.01])
            .collect();
        let colors = vec![Color32::RED; n];
        let input = MapInput {
            xy: &xy,
            colors: &colors,
            selected: &[],
            any_selected: false,
            generation: 1,
            legend: &[],
        };
        let mut m = MapPanel::default();
        let rect = Rect::from_min_size(Pos2::ZERO, vec2(100.0, 100.0));
        let b = m.data_bounds(&input);
        let xf = m.xf(rect, b);
        m.rebuild(rect, xf, &input);
        assert!(m.mesh.vertices.len() <= 100 * 100 * 4);
        assert!(!m.mesh.vertices.is_empty());
        assert!(m.mesh.is_valid());
        // the picked point is really under the pointer
        let centre = xf.apply(xy[50_500]);
        let got = m.pick(centre, 3.0, &xy, xf).unwrap();
        assert!(xf.apply(xy[got]).distance(centre) <= 3.0);
    }
}
