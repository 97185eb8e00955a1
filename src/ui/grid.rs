//! The virtualised thumbnail grid: only the visible rows are laid out, and thumbnails
//! come from the texture LRU in [`super::thumbs`].

use eframe::egui::{self, pos2, vec2, Color32, Rect, Sense, Stroke, Ui};

use super::selection::{SelectMode, Selection};
use super::thumbs::ThumbCache;

/// Grid order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GridSort {
    /// Distance to the cluster centre, exemplar (medoid) first.
    #[default]
    Typical,
    /// Farthest from the centre first.
    Outliers,
    /// Scan order.
    Path,
}

/// What the grid shows. `items` are image indices in display order.
pub struct GridInput<'a> {
    pub items: &'a [usize],
    pub selection: &'a Selection,
    /// Accessible name and caption of an image (its file name).
    pub name: &'a dyn Fn(usize) -> String,
    /// Outline colour of an image (its cluster colour).
    pub color: &'a dyn Fn(usize) -> Color32,
    /// The exemplar of the shown cluster, marked with a star.
    pub exemplar: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum GridAction {
    Select {
        indices: Vec<usize>,
        mode: SelectMode,
    },
    Open(usize),
}

/// Grid scratch state: cell size, keyboard cursor, pending scroll.
pub struct GridPanel {
    pub thumb_size: f32,
    /// Position (in `items`) of the keyboard cursor.
    pub cursor: Option<usize>,
    /// Set when the grid was clicked last, so that it takes the arrow keys.
    pub focused: bool,
    scroll_to_row: Option<usize>,
    /// Rows laid out in the last frame (for tests and the bench).
    pub last_rows: std::ops::Range<usize>,
}

impl Default for GridPanel {
    fn default() -> Self {
        Self {
            thumb_size: 96.0,
            cursor: None,
            focused: false,
            scroll_to_row: None,
            last_rows: 0..0,
        }
    }
}

impl GridPanel {
    /// Scroll so that the row holding item position `pos` is in view.
    pub fn scroll_to(&mut self, pos: usize, cols: usize) {
        self.scroll_to_row = Some(pos / cols.max(1));
    }

    /// Arrow keys, Home/End and Enter, when the grid has the focus.
    fn keyboard(&mut self, ui: &Ui, input: &GridInput<'_>, cols: usize, out: &mut Vec<GridAction>) {
        if !self.focused || input.items.is_empty() || ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let n = input.items.len();
        let (left, right, up, down, home, end, enter, shift) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
                i.key_pressed(egui::Key::Home),
                i.key_pressed(egui::Key::End),
                i.key_pressed(egui::Key::Enter),
                i.modifiers.shift,
            )
        });
        let cur = self.cursor.unwrap_or(0).min(n - 1) as isize;
        let step: isize = if left {
            -1
        } else if right {
            1
        } else if up {
            -(cols as isize)
        } else if down {
            cols as isize
        } else {
            0
        };
        let next = if home {
            Some(0)
        } else if end {
            Some(n - 1)
        } else if step != 0 {
            Some((cur + step).clamp(0, n as isize - 1) as usize)
        } else {
            None
        };
        if let Some(next) = next {
            let from = cur as usize;
            self.cursor = Some(next);
            self.scroll_to_row = Some(next / cols.max(1));
            if shift {
                let (a, b) = (from.min(next), from.max(next));
                out.push(GridAction::Select {
                    indices: input.items[a..=b].to_vec(),
                    mode: SelectMode::Add,
                });
            } else {
                out.push(GridAction::Select {
                    indices: vec![input.items[next]],
                    mode: SelectMode::Replace,
                });
            }
        }
        if enter {
            out.push(GridAction::Open(input.items[cur as usize]));
        }
    }

    pub fn ui(
        &mut self,
        ui: &mut Ui,
        input: &GridInput<'_>,
        thumbs: &mut ThumbCache,
        out: &mut Vec<GridAction>,
    ) {
        let spacing = 6.0;
        let caption_h = 14.0;
        let cell = vec2(self.thumb_size, self.thumb_size + caption_h);
        let width = ui.available_width().max(cell.x);
        let cols = ((width + spacing) / (cell.x + spacing)).floor().max(1.0) as usize;
        let rows = input.items.len().div_ceil(cols);
        self.keyboard(ui, input, cols, out);

        if ui.input(|i| i.pointer.any_pressed()) && !ui.ui_contains_pointer() {
            self.focused = false;
        }

        let mut area = egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .id_salt("thumb-grid");
        if let Some(r) = self.scroll_to_row.take() {
            let row_h = cell.y + ui.spacing().item_spacing.y;
            let visible = ui.available_height();
            // keep the cursor row inside the view
            let top = r as f32 * row_h;
            area = area.vertical_scroll_offset((top - visible / 2.0).max(0.0));
        }
        let modifiers = ui.input(|i| i.modifiers);
        area.show_rows(ui, cell.y, rows, |ui, range| {
            self.last_rows = range.clone();
            for row in range {
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing.x = spacing;
                    for col in 0..cols {
                        let pos = row * cols + col;
                        let Some(&img) = input.items.get(pos) else {
                            break;
                        };
                        let selected = input.selection.contains(img);
                        let (rect, resp) = ui.allocate_exact_size(cell, Sense::click());
                        let name = (input.name)(img);
                        resp.widget_info(|| {
                            egui::WidgetInfo::selected(egui::Role::ListItem, true, selected, &name)
                        });
                        if ui.is_rect_visible(rect) {
                            paint_cell(
                                ui,
                                rect,
                                img,
                                &name,
                                selected,
                                self.cursor == Some(pos),
                                input,
                                thumbs,
                            );
                        }
                        if resp.double_clicked() {
                            out.push(GridAction::Open(img));
                        } else if resp.clicked() {
                            self.focused = true;
                            let anchor_pos = input
                                .selection
                                .anchor
                                .and_then(|a| input.items.iter().position(|&x| x == a));
                            if modifiers.shift {
                                if let Some(a) = anchor_pos {
                                    let (lo, hi) = (a.min(pos), a.max(pos));
                                    out.push(GridAction::Select {
                                        indices: input.items[lo..=hi].to_vec(),
                                        mode: SelectMode::Add,
                                    });
                                } else {
                                    out.push(GridAction::Select {
                                        indices: vec![img],
                                        mode: SelectMode::Add,
                                    });
                                }
                            } else if modifiers.command {
                                out.push(GridAction::Select {
                                    indices: vec![img],
                                    mode: SelectMode::Toggle,
                                });
                            } else {
                                out.push(GridAction::Select {
                                    indices: vec![img],
                                    mode: SelectMode::Replace,
                                });
                            }
                            self.cursor = Some(pos);
                        }
                    }
                });
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn paint_cell(
    ui: &Ui,
    rect: Rect,
    img: usize,
    name: &str,
    selected: bool,
    cursor: bool,
    input: &GridInput<'_>,
    thumbs: &mut ThumbCache,
) {
    let painter = ui.painter();
    let side = rect.width();
    let thumb_rect = Rect::from_min_size(rect.min, vec2(side, side));
    painter.rect_filled(thumb_rect, 3.0, Color32::from_gray(16));
    match thumbs.get(img) {
        Some(tex) => {
            // fit preserving aspect
            let s = tex.size;
            let f = (side / s.x).min(side / s.y);
            let r = Rect::from_center_size(thumb_rect.center(), s * f);
            painter.image(
                tex.id,
                r,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        None => {
            let text = if thumbs.failed(img) {
                "no preview"
            } else {
                "…"
            };
            painter.text(
                thumb_rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(11.0),
                Color32::GRAY,
            );
        }
    }
    let outline = if selected {
        Stroke::new(3.0, ui.visuals().selection.stroke.color)
    } else {
        Stroke::new(1.5, (input.color)(img))
    };
    painter.rect_stroke(thumb_rect, 3.0, outline, egui::StrokeKind::Inside);
    if cursor {
        painter.rect_stroke(
            thumb_rect.expand(2.0),
            4.0,
            Stroke::new(1.0, Color32::WHITE),
            egui::StrokeKind::Outside,
        );
    }
    if input.exemplar == Some(img) {
        // exemplar (medoid) badge
        painter.circle_filled(thumb_rect.min + vec2(9.0, 9.0), 5.0, Color32::GOLD);
        painter.circle_stroke(
            thumb_rect.min + vec2(9.0, 9.0),
            5.0,
            Stroke::new(1.0, Color32::BLACK),
        );
    }
    let caption = egui::RichText::new(name).size(10.0);
    let galley = egui::WidgetText::from(caption).into_galley(
        ui,
        Some(egui::TextWrapMode::Truncate),
        side,
        egui::TextStyle::Small,
    );
    painter.galley(
        pos2(rect.min.x, thumb_rect.max.y + 1.0),
        galley,
        ui.visuals().text_color(),
    );
}

/// Order the members of a cluster for the grid.
pub fn sorted_members(
    members: &[usize],
    distances: &[f32],
    sort: GridSort,
    paths: &dyn Fn(usize) -> String,
) -> Vec<usize> {
    let mut v = members.to_vec();
    let d = |i: usize| distances.get(i).copied().unwrap_or(f32::INFINITY);
    match sort {
        GridSort::Typical => v.sort_by(|&a, &b| d(a).total_cmp(&d(b)).then(a.cmp(&b))),
        GridSort::Outliers => v.sort_by(|&a, &b| d(b).total_cmp(&d(a)).then(a.cmp(&b))),
        GridSort::Path => v.sort_by_key(|&i| paths(i)),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_orders() {
        let d = [0.5, 0.1, 0.9, 0.3];
        let m = [0, 1, 2, 3];
        let p = |i: usize| format!("{}", 9 - i);
        assert_eq!(
            sorted_members(&m, &d, GridSort::Typical, &p),
            vec![1, 3, 0, 2]
        );
        assert_eq!(
            sorted_members(&m, &d, GridSort::Outliers, &p),
            vec![2, 0, 3, 1]
        );
        assert_eq!(sorted_members(&m, &d, GridSort::Path, &p), vec![3, 2, 1, 0]);
    }
}
