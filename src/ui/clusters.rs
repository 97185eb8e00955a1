//! The cluster list: colour, name, size, majority modality and anatomy with purity;
//! sortable, filterable, with the per-cluster edits (rename, recolour, merge, split,
//! exclude).

use eframe::egui::{self, Color32, RichText, Ui};

use crate::review::{ClusterId, ClusterSummary};

/// List order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClusterSort {
    #[default]
    Size,
    Name,
    Purity,
    Id,
}

/// What the list asks for; applied by the app after the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterAction {
    /// Show this cluster in the grid and charts.
    Focus(ClusterId),
    Rename(ClusterId, String),
    Recolor(ClusterId, [u8; 3]),
    /// Merge the marked clusters into the first one.
    Merge(Vec<ClusterId>),
    Split(ClusterId, usize),
    SetExcluded(ClusterId, bool),
    /// Select every image of the cluster (map and grid).
    SelectMembers(ClusterId),
}

/// List scratch state.
pub struct ClusterList {
    pub sort: ClusterSort,
    pub filter: String,
    /// Clusters marked with ctrl-click, for merging, in the order they were marked.
    pub marked: Vec<ClusterId>,
    /// The rename field: (cluster, text) while editing.
    pub renaming: Option<(ClusterId, String)>,
    pub split_k: usize,
}

impl Default for ClusterList {
    fn default() -> Self {
        Self {
            sort: ClusterSort::Size,
            filter: String::new(),
            marked: Vec::new(),
            renaming: None,
            split_k: 2,
        }
    }
}

fn purity_text(b: &crate::review::Breakdown) -> String {
    match b.majority() {
        Some(m) => format!("{m} {:.0}%", 100.0 * b.purity()),
        None => "-".into(),
    }
}

/// Filter and sort summaries for display.
pub fn visible<'a>(
    summaries: &'a [ClusterSummary],
    filter: &str,
    sort: ClusterSort,
) -> Vec<&'a ClusterSummary> {
    let f = filter.trim().to_lowercase();
    let mut v: Vec<&ClusterSummary> = summaries
        .iter()
        .filter(|s| {
            f.is_empty()
                || s.name.to_lowercase().contains(&f)
                || s.modality
                    .majority()
                    .is_some_and(|m| m.to_lowercase().contains(&f))
                || s.anatomy
                    .majority()
                    .is_some_and(|m| m.to_lowercase().contains(&f))
        })
        .collect();
    match sort {
        ClusterSort::Size => v.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id))),
        ClusterSort::Name => v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        ClusterSort::Purity => v.sort_by(|a, b| {
            let p = |s: &ClusterSummary| s.modality.purity().min(s.anatomy.purity());
            p(b).total_cmp(&p(a)).then(a.id.cmp(&b.id))
        }),
        ClusterSort::Id => v.sort_by_key(|s| s.id),
    }
    v
}

impl ClusterList {
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        summaries: &[ClusterSummary],
        focused: Option<ClusterId>,
        out: &mut Vec<ClusterAction>,
    ) {
        ui.horizontal(|ui| {
            let l = ui.label("Filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .desired_width(110.0)
                    .hint_text("name, CT, HEAD…"),
            )
            .labelled_by(l.id);
            egui::ComboBox::from_id_salt("cluster-sort")
                .selected_text(format!("Sort: {:?}", self.sort))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.sort, ClusterSort::Size, "Size");
                    ui.selectable_value(&mut self.sort, ClusterSort::Name, "Name");
                    ui.selectable_value(&mut self.sort, ClusterSort::Purity, "Purity");
                    ui.selectable_value(&mut self.sort, ClusterSort::Id, "Id");
                });
        });
        self.marked
            .retain(|id| summaries.iter().any(|s| s.id == *id));
        ui.horizontal_wrapped(|ui| {
            let can_merge = self.marked.len() >= 2;
            if ui
                .add_enabled(can_merge, egui::Button::new("Merge clusters"))
                .on_hover_text("Ctrl-click clusters to mark them; they merge into the first marked")
                .clicked()
            {
                out.push(ClusterAction::Merge(self.marked.to_vec()));
                self.marked.clear();
            }
            if let Some(id) = focused {
                if ui.button("Rename").clicked() {
                    let name = summaries
                        .iter()
                        .find(|s| s.id == id)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    self.renaming = Some((id, name));
                }
                let excluded = summaries
                    .iter()
                    .find(|s| s.id == id)
                    .is_some_and(|s| s.excluded);
                let label = if excluded {
                    "Include cluster"
                } else {
                    "Exclude cluster"
                };
                if ui.button(label).clicked() {
                    out.push(ClusterAction::SetExcluded(id, !excluded));
                }
                if ui.button("Select members").clicked() {
                    out.push(ClusterAction::SelectMembers(id));
                }
                let l = ui.label("k");
                ui.add(egui::DragValue::new(&mut self.split_k).range(2..=20))
                    .labelled_by(l.id);
                if ui.button("Split cluster").clicked() {
                    out.push(ClusterAction::Split(id, self.split_k));
                }
            }
        });
        if let Some((id, text)) = &mut self.renaming {
            let id = *id;
            let mut done = None;
            ui.horizontal(|ui| {
                let l = ui.label("Cluster name");
                let r = ui
                    .add(egui::TextEdit::singleline(text).desired_width(160.0))
                    .labelled_by(l.id);
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.button("Apply rename").clicked() || enter {
                    done = Some(true);
                }
                if ui.button("Cancel rename").clicked() {
                    done = Some(false);
                }
            });
            match done {
                Some(true) => {
                    let name = text.trim().to_string();
                    if !name.is_empty() {
                        out.push(ClusterAction::Rename(id, name));
                    }
                    self.renaming = None;
                }
                Some(false) => self.renaming = None,
                None => {}
            }
        }
        ui.separator();
        let rows = visible(summaries, &self.filter, self.sort);
        if rows.is_empty() {
            ui.weak("No cluster matches the filter.");
        }
        let row_h = 22.0;
        egui::ScrollArea::vertical()
            .id_salt("cluster-list")
            .auto_shrink([false, false])
            .show_rows(ui, row_h, rows.len(), |ui, range| {
                for s in &rows[range] {
                    self.row(ui, s, focused, out);
                }
            });
    }

    fn row(
        &mut self,
        ui: &mut Ui,
        s: &ClusterSummary,
        focused: Option<ClusterId>,
        out: &mut Vec<ClusterAction>,
    ) {
        ui.horizontal(|ui| {
            let mut c = Color32::from_rgb(s.color[0], s.color[1], s.color[2]);
            let before = c;
            ui.color_edit_button_srgba(&mut c)
                .on_hover_text("Recolour")
                .widget_info(|| {
                    egui::WidgetInfo::labeled(
                        egui::Role::ColorWell,
                        true,
                        format!("Colour of {}", s.name),
                    )
                });
            if c != before {
                out.push(ClusterAction::Recolor(s.id, [c.r(), c.g(), c.b()]));
            }
            let is_focus = focused == Some(s.id);
            let marked = self.marked.contains(&s.id);
            let mut text = RichText::new(s.display_name());
            if s.excluded {
                text = text.strikethrough().weak();
            }
            if marked {
                text = text.underline();
            }
            let r = ui.selectable_label(is_focus || marked, text);
            if r.clicked() {
                if ui.input(|i| i.modifiers.command) {
                    match self.marked.iter().position(|m| *m == s.id) {
                        Some(p) => {
                            self.marked.remove(p);
                        }
                        None => self.marked.push(s.id),
                    }
                } else {
                    self.marked.clear();
                    self.marked.push(s.id);
                    out.push(ClusterAction::Focus(s.id));
                }
            }
            if r.double_clicked() {
                self.renaming = Some((s.id, s.name.clone()));
            }
            ui.weak(format!(
                "{} · {}",
                purity_text(&s.modality),
                purity_text(&s.anatomy)
            ));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Breakdown;

    fn summary(id: u32, name: &str, size: usize, modality: &str) -> ClusterSummary {
        ClusterSummary {
            id: ClusterId(id),
            name: name.into(),
            color: [1, 2, 3],
            excluded: false,
            size,
            excluded_images: 0,
            modality: Breakdown {
                counts: vec![(modality.into(), size)],
            },
            anatomy: Breakdown::default(),
            mean_distance: None,
        }
    }

    #[test]
    fn filter_and_sort() {
        let s = vec![
            summary(0, "CT HEAD", 5, "CT"),
            summary(1, "MR KNEE", 9, "MR"),
            summary(2, "CT CHEST", 7, "CT"),
        ];
        let ids = |v: Vec<&ClusterSummary>| v.iter().map(|s| s.id.0).collect::<Vec<_>>();
        assert_eq!(ids(visible(&s, "", ClusterSort::Size)), vec![1, 2, 0]);
        assert_eq!(ids(visible(&s, "ct", ClusterSort::Name)), vec![2, 0]);
        assert_eq!(ids(visible(&s, "mr", ClusterSort::Id)), vec![1]);
        assert!(visible(&s, "xray", ClusterSort::Id).is_empty());
    }
}
