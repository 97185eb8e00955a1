//! CPU-side frame time of the review window's heavy panels, headless: one egui pass
//! (layout + painting) plus tessellation, through `egui::Context` directly.
//!
//! - map with 100k and 1M points: a still frame (cached mesh), a zooming frame (cached
//!   mesh moved), and a frame that rebuilds the mesh (after an edit, a selection, or when
//!   a zoom settles);
//! - thumbnail grid over 100k images, scrolling by a screenful every frame while
//!   thumbnails stream in.
//!
//! Run: `cargo bench --profile dev --bench frame_time` (figures in docs/bench/ui.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use radcluster::ui::colors;
use radcluster::ui::egui::{self, Color32};
use radcluster::ui::grid::{GridInput, GridPanel};
use radcluster::ui::map::{MapInput, MapPanel};
use radcluster::ui::selection::{SelectMode, Selection};
use radcluster::ui::thumbs::{ThumbCache, ThumbSource};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const W: f32 = 1100.0;
const H: f32 = 700.0;

fn raw_input(t: f64) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(W, H),
        )),
        time: Some(t),
        ..Default::default()
    }
}

/// `n` points in 20 Gaussian blobs, like a clustered embedding's projection.
fn blobs(n: usize) -> (Vec<[f32; 2]>, Vec<Color32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<[f32; 2]> = (0..20)
        .map(|_| [rng.gen_range(-10.0..10.0), rng.gen_range(-10.0..10.0)])
        .collect();
    let mut xy = Vec::with_capacity(n);
    let mut col = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 20;
        // sum of uniforms: cheap and near-Gaussian
        let g = |r: &mut ChaCha8Rng| (0..4).map(|_| r.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.6;
        xy.push([centres[c][0] + g(&mut rng), centres[c][1] + g(&mut rng)]);
        col.push(colors::palette(c));
    }
    (xy, col)
}

struct Stats {
    median: f64,
    p95: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    Stats {
        median: q(0.5),
        p95: q(0.95),
        max: *v.last().unwrap(),
    }
}

fn frame(ctx: &egui::Context, t: f64, mut f: impl FnMut(&mut egui::Ui)) -> f64 {
    let start = Instant::now();
    let mut out = ctx.run_ui(raw_input(t), |ui| {
        egui::CentralPanel::default().show(ui, |ui| f(ui));
    });
    out.textures_delta.clear(); // headless: no renderer takes the texture uploads
    let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
    std::hint::black_box(prims);
    start.elapsed().as_secs_f64() * 1e3
}

fn bench_map(n: usize, frames: usize) {
    let (xy, colors) = blobs(n);
    let mut sel = Selection::new(n);
    let ctx = egui::Context::default();
    let mut map = MapPanel::default();
    let mut out = Vec::new();
    let mut t = 0.0;
    // `bump` forces a mesh rebuild (what an edit or a selection change does); `zoom`
    // zooms a little every frame (the cached mesh is moved until the view settles).
    let mut run =
        |map: &mut MapPanel, sel: &Selection, zoom: bool, generation: u64, t: &mut f64| {
            *t += 1.0 / 60.0;
            if zoom {
                map.zoom_by(1.01);
            }
            let input = MapInput {
                xy: &xy,
                colors: &colors,
                selected: sel.flags(),
                any_selected: !sel.is_empty(),
                generation,
                legend: &[],
            };
            frame(&ctx, *t, |ui| {
                map.ui(ui, &input, &mut out);
            })
        };
    for _ in 0..3 {
        run(&mut map, &sel, false, 0, &mut t);
    }
    let still = stats(
        (0..frames)
            .map(|_| run(&mut map, &sel, false, 0, &mut t))
            .collect(),
    );
    let zoom = stats(
        (0..frames)
            .map(|_| run(&mut map, &sel, true, 0, &mut t))
            .collect(),
    );
    let r0 = map.rebuilds;
    let rebuild = stats(
        (0..frames)
            .map(|f| run(&mut map, &sel, false, 1 + f as u64, &mut t))
            .collect(),
    );
    assert_eq!(
        map.rebuilds - r0,
        frames as u64,
        "every frame of this scenario rebuilds the mesh"
    );
    // a selection of 10 % greys the rest: two binning passes
    let picked: Vec<usize> = (0..n).step_by(10).collect();
    sel.apply(&picked, SelectMode::Replace);
    let with_sel = stats(
        (0..frames)
            .map(|f| run(&mut map, &sel, false, 1_000_000 + f as u64, &mut t))
            .collect(),
    );
    println!(
        "map {n:>9} points | still: median {:6.2} ms p95 {:6.2} | zooming: median {:6.2} ms p95 {:6.2} | rebuild: median {:6.2} ms p95 {:6.2} | rebuild, 10% selected: median {:6.2} ms | mesh {} vertices",
        still.median, still.p95, zoom.median, zoom.p95, rebuild.median, rebuild.p95, with_sel.median, map.mesh_vertices()
    );
}

fn bench_grid(n: usize, frames: usize) {
    let thumb = image::RgbImage::from_fn(96, 96, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 2) as u8, 128])
    });
    let src: ThumbSource = Arc::new(move |_| Some(thumb.clone()));
    let mut cache = ThumbCache::new(src, 2, 3000);
    let items: Vec<usize> = (0..n).collect();
    let sel = Selection::new(n);
    let name = |i: usize| format!("image_{i:06}.dcm");
    let color = |i: usize| colors::palette(i % 20);
    let ctx = egui::Context::default();
    let mut grid = GridPanel::default();
    let mut out = Vec::new();
    let mut t = 0.0;
    let cols = ((W - 16.0 + 6.0) / (grid.thumb_size + 6.0)) as usize;
    let mut times = Vec::new();
    let mut laid_out = 0;
    for f in 0..(frames + 3) {
        t += 1.0 / 60.0;
        // jump a screenful (6 rows) every frame: new rows, new thumbnails
        grid.scroll_to(f * cols * 6, cols);
        let input = GridInput {
            items: &items,
            selection: &sel,
            name: &name,
            color: &color,
            exemplar: None,
        };
        let ms = frame(&ctx, t, |ui| {
            cache.pump(ui.ctx(), Duration::from_millis(8));
            grid.ui(ui, &input, &mut cache, &mut out);
        });
        laid_out = grid.last_rows.len();
        if f >= 3 {
            times.push(ms);
        }
    }
    let s = stats(times);
    println!(
        "grid {n:>9} images scrolling: median {:6.2} ms p95 {:6.2} max {:6.2}  | {laid_out} rows of {cols} laid out per frame, {} textures resident",
        s.median, s.p95, s.max, cache.uploaded()
    );
}

fn main() {
    println!("frame time, CPU side (egui pass + tessellation), {W}x{H} points, headless");
    bench_map(100_000, 60);
    bench_map(1_000_000, 30);
    bench_grid(100_000, 120);
}
