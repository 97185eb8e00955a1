//! Charts: modality and anatomy breakdown of the chosen cluster, and dataset metrics.

use eframe::egui::{self, Color32, Ui};
use egui_plot::{Bar, BarChart, GridMark, Plot};

use crate::review::{Breakdown, ClusterSummary, DatasetMetrics};

/// Most categories drawn per chart; the rest are summed into "other".
const MAX_BARS: usize = 8;

/// Top categories plus "other", as (name, count).
pub fn bars_of(b: &Breakdown) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = b.counts.iter().take(MAX_BARS).cloned().collect();
    let rest: usize = b.counts.iter().skip(MAX_BARS).map(|(_, n)| n).sum();
    if rest > 0 {
        v.push(("other".into(), rest));
    }
    v
}

fn breakdown_chart(ui: &mut Ui, id: &str, title: &str, b: &Breakdown, color: Color32) {
    ui.label(egui::RichText::new(title).strong());
    let data = bars_of(b);
    let names: Vec<String> = data.iter().map(|(n, _)| n.clone()).collect();
    let bars: Vec<Bar> = data
        .iter()
        .enumerate()
        .map(|(k, (name, n))| {
            Bar::new(k as f64, *n as f64)
                .name(name)
                .width(0.7)
                .fill(color)
        })
        .collect();
    let height = 24.0 + 18.0 * data.len().max(1) as f32;
    let label_names = names.clone();
    Plot::new(id)
        .height(height)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_grid([true, false])
        .include_x(0.0)
        .y_grid_spacer(move |input| {
            let (lo, hi) = input.bounds;
            (lo.ceil().max(0.0) as i64..=hi.floor() as i64)
                .map(|v| GridMark {
                    value: v as f64,
                    step_size: 1.0,
                })
                .collect()
        })
        .y_axis_formatter(move |m: GridMark, _| {
            let k = m.value.round();
            if (m.value - k).abs() < 1e-6 && k >= 0.0 {
                label_names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new(title, bars).horizontal());
        });
}

/// Breakdown charts of one cluster.
pub fn cluster_charts(ui: &mut Ui, s: &ClusterSummary) {
    let c = Color32::from_rgb(s.color[0], s.color[1], s.color[2]);
    ui.heading(format!("Cluster: {}", s.display_name()));
    if s.excluded {
        ui.colored_label(Color32::LIGHT_RED, "excluded / unusable");
    }
    if s.excluded_images > 0 {
        ui.weak(format!("{} images excluded one by one", s.excluded_images));
    }
    breakdown_chart(ui, "chart-modality", "Modality", &s.modality, c);
    breakdown_chart(ui, "chart-anatomy", "Anatomy", &s.anatomy, c);
}

/// Homogeneity and NMI of the current review against modality and anatomy.
pub fn metrics_table(ui: &mut Ui, m: &DatasetMetrics) {
    ui.label(egui::RichText::new("Dataset").strong());
    ui.weak(format!(
        "{} images in {} clusters (excluded images left out)",
        m.images, m.clusters
    ));
    egui::Grid::new("metrics").striped(true).show(ui, |ui| {
        ui.label("");
        ui.label("homogeneity");
        ui.label("completeness");
        ui.label("NMI");
        ui.end_row();
        for (name, lm) in [("modality", &m.modality), ("anatomy", &m.anatomy)] {
            ui.label(name);
            ui.label(format!("{:.3}", lm.homogeneity));
            ui.label(format!("{:.3}", lm.completeness));
            ui.label(format!("{:.3}", lm.nmi));
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tails_fold_into_other() {
        let b = Breakdown {
            counts: (0..12).map(|i| (format!("m{i}"), 12 - i)).collect(),
        };
        let v = bars_of(&b);
        assert_eq!(v.len(), MAX_BARS + 1);
        assert_eq!(v.last().unwrap(), &("other".to_string(), 4 + 3 + 2 + 1));
        assert_eq!(v.iter().map(|(_, n)| n).sum::<usize>(), b.total());
    }
}
