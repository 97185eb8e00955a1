//! The review report: three charts, each as PNG and SVG (cluster sizes; modality and
//! anatomy breakdown per cluster), and a Markdown summary that embeds them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::atomic::write_atomic;
use crate::pipeline::Analysis;
use crate::review::{palette, ClusterSummary, ReviewState};

use super::{check_aligned, font, io_err, ExportError};

/// Chart base names inside the report folder (each as `.png` and `.svg`).
pub const CHARTS: [&str; 3] = ["cluster_sizes", "modality_by_cluster", "anatomy_by_cluster"];
pub const REPORT_MD: &str = "report.md";

/// The files of a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFiles {
    pub markdown: PathBuf,
    /// PNG and SVG of every chart.
    pub charts: Vec<PathBuf>,
}

/// Categories shown separately in a breakdown chart; the rest are summed as "other".
const MAX_CATEGORIES: usize = 12;
const MAX_LABEL: usize = 40;

struct Bar {
    label: String,
    /// (value, colour) segments, drawn left to right.
    segments: Vec<(f64, RGBColor)>,
}

struct Chart {
    title: String,
    x_desc: String,
    x_max: f64,
    bars: Vec<Bar>,
    legend: Vec<(String, RGBColor)>,
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn short(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_string()
    } else {
        s.chars().take(MAX_LABEL - 1).collect::<String>() + "…"
    }
}

fn sizes_chart(sums: &[ClusterSummary]) -> Chart {
    let max = sums.iter().map(|s| s.size).max().unwrap_or(0).max(1) as f64;
    Chart {
        title: "Cluster sizes".into(),
        x_desc: "images".into(),
        x_max: max * 1.05,
        bars: sums
            .iter()
            .map(|s| Bar {
                label: short(&s.display_name()),
                segments: vec![(s.size as f64, rgb(s.color))],
            })
            .collect(),
        legend: Vec::new(),
    }
}

fn breakdown_chart(
    sums: &[ClusterSummary],
    title: &str,
    get: impl Fn(&ClusterSummary) -> &crate::review::Breakdown,
) -> Chart {
    let mut total: HashMap<String, usize> = HashMap::new();
    for s in sums {
        for (k, n) in &get(s).counts {
            *total.entry(k.clone()).or_insert(0) += n;
        }
    }
    let mut cats: Vec<(String, usize)> = total.into_iter().collect();
    cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<String> = cats
        .iter()
        .take(MAX_CATEGORIES)
        .map(|c| c.0.clone())
        .collect();
    let has_other = cats.len() > MAX_CATEGORIES;
    let colour = |i: usize| rgb(palette::color(i as u32));
    let other_colour = RGBColor(200, 200, 200);
    let bars = sums
        .iter()
        .map(|s| {
            let b = get(s);
            let n = b.total().max(1) as f64;
            let mut segments: Vec<(f64, RGBColor)> = shown
                .iter()
                .enumerate()
                .filter_map(|(i, cat)| {
                    b.counts
                        .iter()
                        .find(|(k, _)| k == cat)
                        .map(|(_, c)| (*c as f64 / n, colour(i)))
                })
                .collect();
            let other: usize = b
                .counts
                .iter()
                .filter(|(k, _)| !shown.contains(k))
                .map(|(_, c)| c)
                .sum();
            if other > 0 {
                segments.push((other as f64 / n, other_colour));
            }
            Bar {
                label: short(&s.display_name()),
                segments,
            }
        })
        .collect();
    let mut legend: Vec<(String, RGBColor)> = shown
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), colour(i)))
        .collect();
    if has_other {
        legend.push(("other".into(), other_colour));
    }
    Chart {
        title: title.into(),
        x_desc: "share of the cluster's images".into(),
        x_max: 1.0,
        bars,
        legend,
    }
}

fn chart_size(chart: &Chart) -> (u32, u32) {
    let rows = chart.bars.len().max(1) as u32;
    let legend_rows = chart.legend.len() as u32;
    (1000, (110 + 24 * rows).max(130 + 20 * legend_rows).max(240))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = if chart.legend.is_empty() {
        (root, None)
    } else {
        let (a, b) = root.split_horizontally(w.saturating_sub(190));
        (a, Some(b))
    };
    let n = chart.bars.len().max(1);
    let longest = chart
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4) as u32;
    let mut cc = ChartBuilder::on(&plot)
        .caption(&chart.title, (font::FAMILY, 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size((longest * 8 + 16).clamp(60, 340))
        .build_cartesian_2d(0f64..chart.x_max, (0..n).into_segmented())
        .map_err(e)?;
    // Bars top to bottom in list order: row i sits at segment n - 1 - i.
    let labels: Vec<&str> = chart.bars.iter().map(|b| b.label.as_str()).collect();
    let fmt_y = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(j) if *j < n => {
            labels.get(n - 1 - j).copied().unwrap_or("").to_string()
        }
        _ => String::new(),
    };
    let percent = chart.x_max <= 1.0;
    let fmt_x = |v: &f64| {
        if percent {
            format!("{:.0} %", v * 100.0)
        } else {
            format!("{v:.0}")
        }
    };
    cc.configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&fmt_y)
        .x_desc(chart.x_desc.as_str())
        .x_label_formatter(&fmt_x)
        .label_style((font::FAMILY, 14))
        .axis_desc_style((font::FAMILY, 15))
        .draw()
        .map_err(e)?;
    for (i, bar) in chart.bars.iter().enumerate() {
        let y = n - 1 - i;
        let mut x0 = 0.0;
        for &(v, colour) in &bar.segments {
            let mut r = Rectangle::new(
                [
                    (x0, SegmentValue::Exact(y)),
                    (x0 + v, SegmentValue::Exact(y + 1)),
                ],
                colour.filled(),
            );
            r.set_margin(3, 3, 0, 0);
            cc.draw_series(std::iter::once(r)).map_err(e)?;
            x0 += v;
        }
    }
    if let Some(area) = legend {
        for (i, (name, colour)) in chart.legend.iter().enumerate() {
            let y = 56 + 20 * i as i32;
            area.draw(&Rectangle::new([(8, y), (22, y + 14)], colour.filled()))
                .map_err(e)?;
            area.draw(&Text::new(
                short(name),
                (30, y),
                (font::FAMILY, 14).into_font(),
            ))
            .map_err(e)?;
        }
    }
    plot_present(&plot).map_err(e)
}

fn plot_present<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.present()
}

fn render_svg(chart: &Chart) -> Result<String, String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, chart_size(chart)).into_drawing_area();
        draw(root, chart)?;
    }
    Ok(s)
}

fn render_png(chart: &Chart) -> Result<Vec<u8>, String> {
    let (w, h) = chart_size(chart);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(root, chart)?;
    }
    let mut png = Vec::new();
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(png)
}

/// Write the report into `dir` (created if needed): `report.md` plus the PNG and SVG of
/// each chart in [`CHARTS`].
pub fn write_report(
    dir: &Path,
    analysis: &Analysis,
    state: &ReviewState,
) -> Result<ReportFiles, ExportError> {
    check_aligned(analysis, state)?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    if !font::ensure_registered() {
        return Err(ExportError::Chart {
            name: "font".into(),
            reason: "the bundled font could not be loaded".into(),
        });
    }
    let mut sums = state.summaries();
    sums.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    let charts = [
        sizes_chart(&sums),
        breakdown_chart(&sums, "Modality by cluster", |s| &s.modality),
        breakdown_chart(&sums, "Anatomy by cluster", |s| &s.anatomy),
    ];
    let mut files = ReportFiles {
        markdown: dir.join(REPORT_MD),
        charts: Vec::new(),
    };
    for (name, chart) in CHARTS.iter().zip(&charts) {
        let err = |reason: String| ExportError::Chart {
            name: name.to_string(),
            reason,
        };
        let png = render_png(chart).map_err(err)?;
        let svg = render_svg(chart).map_err(err)?;
        for (ext, bytes) in [("png", png), ("svg", svg.into_bytes())] {
            let p = dir.join(format!("{name}.{ext}"));
            write_atomic(&p, &bytes).map_err(io_err(&p))?;
            files.charts.push(p);
        }
    }
    let md = markdown(analysis, state, &sums);
    write_atomic(&files.markdown, md.as_bytes()).map_err(io_err(&files.markdown))?;
    Ok(files)
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// Escape a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(analysis: &Analysis, state: &ReviewState, sums: &[ClusterSummary]) -> String {
    let m = state.dataset_metrics();
    let mut s = String::new();
    let _ = writeln!(s, "# radcluster review report\n");
    let _ = writeln!(
        s,
        "{} images in {} clusters; {} excluded. {} files skipped, {} non-image objects.\n",
        state.len(),
        state.num_clusters(),
        state.excluded_count(),
        analysis.skipped.len(),
        analysis.non_image.len()
    );
    if let Some(p) = state.params() {
        let _ = writeln!(
            s,
            "Run: k = {}, algorithm {:?}, weights image {} / metadata {} / text {}, projection {:?}, seed {}.\n",
            p.k, p.algo, p.weights.image, p.weights.meta, p.weights.text, p.projection, p.seed
        );
    }
    let _ = writeln!(s, "## Agreement with the tags\n");
    let _ = writeln!(s, "Over the {} images that are not excluded.\n", m.images);
    let _ = writeln!(
        s,
        "| reference | homogeneity | completeness | V-measure | NMI |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for (name, l) in [("modality", m.modality), ("anatomy", m.anatomy)] {
        let _ = writeln!(
            s,
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            l.homogeneity, l.completeness, l.v_measure, l.nmi
        );
    }
    let _ = writeln!(s, "\n## Clusters\n");
    let _ = writeln!(
        s,
        "| id | name | size | modality (purity) | anatomy (purity) | excluded |"
    );
    let _ = writeln!(s, "|---:|---|---:|---|---|---|");
    for c in sums {
        let excl = if c.excluded {
            "whole cluster".to_string()
        } else if c.excluded_images > 0 {
            format!("{} images", c.excluded_images)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ({}) | {} ({}) | {} |",
            c.id,
            cell(&c.name),
            c.size,
            c.modality.majority().unwrap_or("-"),
            pct(c.modality.purity()),
            c.anatomy.majority().unwrap_or("-"),
            pct(c.anatomy.purity()),
            excl
        );
    }
    let _ = writeln!(s, "\n## Charts\n");
    for (name, title) in
        CHARTS
            .iter()
            .zip(["Cluster sizes", "Modality by cluster", "Anatomy by cluster"])
    {
        let _ = writeln!(s, "![{title}]({name}.png) ([SVG]({name}.svg))\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::state::tests::sample;

    #[test]
    fn report_files_have_content() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample();
        let s = ReviewState::from_analysis(&a);
        let files = write_report(dir.path(), &a, &s).unwrap();
        assert_eq!(files.charts.len(), 6);
        let svg = std::fs::read_to_string(dir.path().join("modality_by_cluster.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("CT HEAD (3)") && svg.contains("UNKNOWN"),
            "{svg}"
        );
        let png = image::open(dir.path().join("cluster_sizes.png"))
            .unwrap()
            .to_rgb8();
        // Cluster 0's palette colour appears as a bar.
        assert!(png.pixels().any(|p| p.0 == [31, 119, 180]));
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        assert!(
            md.contains("| 2 | CR CHEST | 3 | CR (100 %) | CHEST (67 %) |  |"),
            "{md}"
        );
        assert!(md.contains("![Cluster sizes](cluster_sizes.png)"));
    }
}
