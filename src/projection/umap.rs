//! UMAP (McInnes, Healy & Melville 2018), following umap-learn 0.5's defaults:
//! `n_neighbors = 15`, `min_dist = 0.1`, `spread = 1` (so a = 1.5769, b = 0.8951),
//! 500 epochs up to 10,000 points and 200 above, 5 negative samples per positive one,
//! learning rate 1 decaying linearly, gradients clipped at 4.
//!
//! 1. kNN graph ([`super::knn`]: exact below 20,000 points, RP forest + refinement above).
//! 2. Fuzzy simplicial set: per point `rho` (nearest non-zero distance) and `sigma` by
//!    binary search so that `Σ exp(-(d - rho)/sigma) = log2(k)`; memberships
//!    symmetrised by the fuzzy union `a + b - ab`.
//! 3. Initialisation: PCA scaled to [0, 10] with a little seeded noise (umap-learn's
//!    `init="pca"`), which keeps the layout deterministic without an eigensolver on the
//!    graph Laplacian.
//! 4. SGD with negative sampling, parallel over fixed blocks of points so that a seed
//!    fixes the output on any number of threads (see [`optimise`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::knn::knn;
use super::pca;
use crate::{Cancel, Cancelled, Matrix};

/// UMAP settings.
#[derive(Clone, Debug, PartialEq)]
pub struct UmapParams {
    pub n_neighbors: usize,
    /// `None`: 500 epochs up to 10,000 points, 200 above (umap-learn).
    pub n_epochs: Option<usize>,
    pub negative_sample_rate: usize,
    /// Curve parameters for min_dist = 0.1, spread = 1 (umap-learn's `find_ab_params`).
    pub a: f32,
    pub b: f32,
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            n_neighbors: 15,
            n_epochs: None,
            negative_sample_rate: 5,
            a: 1.576_943_5,
            b: 0.895_060_9,
            seed: 0,
        }
    }
}

/// Small, fast generator for negative sampling (xorshift64*), seeded from ChaCha.
struct XorShift(u64);

impl XorShift {
    #[inline(always)]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    #[inline(always)]
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// Weighted, symmetric fuzzy graph as a list of directed edges (both directions present).
pub(crate) struct Graph {
    pub head: Vec<u32>,
    pub tail: Vec<u32>,
    pub weight: Vec<f32>,
}

/// umap-learn's `smooth_knn_dist` on distances that exclude the point itself; `k` is
/// n_neighbors including self (so the target is `log2(k)`).
fn smooth_knn(dist: &[f32], nk: usize, k_total: usize) -> (Vec<f32>, Vec<f32>) {
    let n = dist.len() / nk;
    let target = (k_total as f64).log2();
    let mean_all = dist.iter().map(|&v| v as f64).sum::<f64>() / dist.len().max(1) as f64;
    let mut rho = vec![0f32; n];
    let mut sigma = vec![0f32; n];
    for i in 0..n {
        let d = &dist[i * nk..(i + 1) * nk];
        rho[i] = d.iter().copied().find(|&v| v > 0.0).unwrap_or(0.0);
        let (mut lo, mut hi, mut mid) = (0f64, f64::INFINITY, 1f64);
        for _ in 0..64 {
            let psum: f64 = d
                .iter()
                .map(|&v| {
                    let t = (v - rho[i]) as f64;
                    if t > 0.0 {
                        (-(t / mid)).exp()
                    } else {
                        1.0
                    }
                })
                .sum();
            if (psum - target).abs() < 1e-5 {
                break;
            }
            if psum > target {
                hi = mid;
                mid = (lo + hi) / 2.0;
            } else {
                lo = mid;
                mid = if hi.is_infinite() {
                    mid * 2.0
                } else {
                    (lo + hi) / 2.0
                };
            }
        }
        // umap-learn's mean includes the zero self-distance: sum / (nk + 1).
        let mean_i = d.iter().map(|&v| v as f64).sum::<f64>() / (nk + 1) as f64;
        let floor = 1e-3 * if rho[i] > 0.0 { mean_i } else { mean_all };
        sigma[i] = mid.max(floor) as f32;
    }
    (rho, sigma)
}

pub(crate) fn fuzzy_graph(g: &super::knn::Knn, k_total: usize) -> Graph {
    let n = g.n();
    let nk = g.k;
    let (rho, sigma) = smooth_knn(&g.dist, nk, k_total);
    let w = |i: usize, t: usize| -> f32 {
        let d = g.dist[i * nk + t];
        if d - rho[i] <= 0.0 || sigma[i] == 0.0 {
            1.0
        } else {
            (-((d - rho[i]) / sigma[i])).exp()
        }
    };
    let find = |i: usize, j: u32| g.idx[i * nk..(i + 1) * nk].iter().position(|&x| x == j);
    let mut edges: Vec<(u32, u32, f32)> = Vec::with_capacity(2 * n * nk);
    for i in 0..n {
        for t in 0..nk {
            let j = g.idx[i * nk + t];
            if j as usize == i {
                continue;
            }
            let a = w(i, t);
            let back = find(j as usize, i as u32);
            let b = back.map_or(0.0, |s| w(j as usize, s));
            let v = a + b - a * b;
            edges.push((i as u32, j, v));
            if back.is_none() {
                edges.push((j, i as u32, v));
            }
        }
    }
    edges.sort_unstable_by_key(|x| (x.0, x.1));
    edges.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
    Graph {
        head: edges.iter().map(|e| e.0).collect(),
        tail: edges.iter().map(|e| e.1).collect(),
        weight: edges.iter().map(|e| e.2).collect(),
    }
}

/// PCA initialisation scaled to [0, 10] per axis, plus seeded noise of 1e-4.
fn init_layout(data: &Matrix, seed: u64, cancel: &Cancel) -> Result<Vec<[f32; 2]>, Cancelled> {
    let mut y = pca::pca_2d(data, seed, cancel)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x756d_6170);
    for ax in 0..2 {
        let (lo, hi) = y
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), p| {
                (l.min(p[ax]), h.max(p[ax]))
            });
        let span = hi - lo;
        for p in y.iter_mut() {
            let s = if span > 0.0 {
                10.0 * (p[ax] - lo) / span
            } else {
                5.0
            };
            p[ax] = s + rng.gen_range(-1e-4f32..1e-4);
        }
    }
    Ok(y)
}

/// `x^p` for `x > 0` through a fast `exp2(p * log2(x))`: relative error below 1e-5, which
/// is far below the noise of the stochastic gradient and about five times cheaper than
/// `powf` in the SGD inner loop.
#[inline(always)]
pub(crate) fn fast_pow(x: f32, p: f32) -> f32 {
    let x = x.max(1e-30);
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    // ln(m) for m in [1, 2) by the atanh series in t = (m - 1) / (m + 1) <= 1/3.
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let ln_m = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0))));
    let y = p * (e as f32 + ln_m * std::f32::consts::LOG2_E);
    let y = y.clamp(-126.0, 127.0);
    let i = y.floor();
    let f = (y - i) * std::f32::consts::LN_2;
    // e^f for f in [0, ln 2): Taylor to degree 7.
    let ef = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    ef * f32::from_bits(((i as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// 2D UMAP embedding of the rows of `data`.
pub fn umap(data: &Matrix, p: &UmapParams, cancel: &Cancel) -> Result<Vec<[f32; 2]>, Cancelled> {
    let n = data.rows;
    if n <= 2 {
        return pca::pca_2d(data, p.seed, cancel);
    }
    let k_total = p.n_neighbors.clamp(2, n);
    let t0 = std::time::Instant::now();
    let g = knn(data, k_total - 1, p.seed, cancel)?;
    cancel.check()?;
    let t_knn = t0.elapsed().as_secs_f64();
    let graph = fuzzy_graph(&g, k_total);
    drop(g);
    let n_epochs = p.n_epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
    let mut y = init_layout(data, p.seed, cancel)?;
    let t_init = t0.elapsed().as_secs_f64();
    optimise(&mut y, &graph, n_epochs, p, cancel)?;
    log::debug!(
        "umap: n {n}, {} edges; kNN {t_knn:.2} s, graph + init {:.2} s, SGD {:.2} s",
        graph.head.len(),
        t_init - t_knn,
        t0.elapsed().as_secs_f64() - t_init
    );
    Ok(y)
}

/// Fixed number of blocks the points are split into for the parallel SGD. It does not
/// depend on the thread count, so one seed gives one layout on any machine.
const SGD_BLOCKS: usize = 8;

/// umap-learn's `optimize_layout_euclidean`, made parallel and deterministic.
///
/// umap-learn's seeded run is single-threaded (its parallel mode is Hogwild, so the
/// output changes from run to run). Here the points are split into [`SGD_BLOCKS`]
/// contiguous blocks by head index, with about equal edge counts. In each epoch every
/// block updates only its own points, reading its own points live and the other blocks'
/// points from a snapshot taken at the start of the epoch. No two threads touch the same
/// value, so the result depends only on the seed.
///
/// The graph holds both directions of every edge, so each point receives the attraction
/// of every edge through the edge it heads; the tail is not moved (umap-learn moves both
/// ends of both directions, so the attraction is doubled here to keep the same balance
/// against the repulsive negative samples).
pub(crate) fn optimise(
    y: &mut [[f32; 2]],
    g: &Graph,
    n_epochs: usize,
    p: &UmapParams,
    cancel: &Cancel,
) -> Result<(), Cancelled> {
    use rayon::prelude::*;
    let n = y.len();
    let wmax = g.weight.iter().copied().fold(0f32, f32::max);
    if wmax <= 0.0 || n_epochs == 0 {
        return Ok(());
    }
    // Drop edges too weak to be sampled once, then epochs_per_sample = wmax / w. The
    // edges are sorted by head, so each block's edges are one contiguous range.
    let keep: Vec<usize> = (0..g.weight.len())
        .filter(|&e| g.weight[e] >= wmax / n_epochs as f32)
        .collect();
    let head: Vec<u32> = keep.iter().map(|&e| g.head[e]).collect();
    let tail: Vec<u32> = keep.iter().map(|&e| g.tail[e]).collect();
    let eps: Vec<f32> = keep.iter().map(|&e| wmax / g.weight[e]).collect();
    debug_assert!(head.windows(2).all(|w| w[0] <= w[1]));
    let nsr = p.negative_sample_rate as f32;
    // Block b owns points [pt[b], pt[b + 1]) and edges [ed[b], ed[b + 1]).
    let total = head.len();
    let mut pt = [0usize; SGD_BLOCKS + 1];
    let mut ed = [0usize; SGD_BLOCKS + 1];
    for b in 1..SGD_BLOCKS {
        let e = total * b / SGD_BLOCKS;
        let cut = if e < total { head[e] as usize } else { n };
        pt[b] = cut.max(pt[b - 1]);
        ed[b] = head.partition_point(|&h| (h as usize) < pt[b]);
    }
    pt[SGD_BLOCKS] = n;
    ed[SGD_BLOCKS] = total;
    let mut seeder = ChaCha8Rng::seed_from_u64(p.seed ^ 0x0053_4744);
    struct Block<'a> {
        first: usize,
        y: &'a mut [[f32; 2]],
        edges: std::ops::Range<usize>,
        next: Vec<f32>,
        next_neg: Vec<f32>,
        rng: XorShift,
    }
    let mut snapshot = y.to_vec();
    let mut blocks: Vec<Block> = Vec::with_capacity(SGD_BLOCKS);
    let mut rest = y;
    for b in 0..SGD_BLOCKS {
        let (mine, tail_part) = std::mem::take(&mut rest).split_at_mut(pt[b + 1] - pt[b]);
        rest = tail_part;
        let r = ed[b]..ed[b + 1];
        blocks.push(Block {
            first: pt[b],
            y: mine,
            next: eps[r.clone()].to_vec(),
            next_neg: eps[r.clone()].iter().map(|&e| e / nsr).collect(),
            edges: r,
            rng: XorShift(seeder.gen::<u64>() | 1),
        });
    }
    let (a, b) = (p.a, p.b);
    for epoch in 0..n_epochs {
        cancel.check()?;
        let alpha = 1.0 - epoch as f32 / n_epochs as f32;
        let ep = epoch as f32;
        let snap = &snapshot;
        blocks.par_iter_mut().for_each(|blk| {
            let (first, own) = (blk.first, blk.y.len());
            let lo = blk.edges.start;
            for e in blk.edges.clone() {
                let le = e - lo;
                if blk.next[le] > ep {
                    continue;
                }
                let j = head[e] as usize - first;
                let mut c = blk.y[j];
                // Offset from point `i` (own points live, the others from the snapshot)
                // to `c`, and its squared length.
                let delta = |y: &[[f32; 2]], c: [f32; 2], i: usize| {
                    let o = if i.wrapping_sub(first) < own {
                        y[i - first]
                    } else {
                        snap[i]
                    };
                    let (dx, dy) = (c[0] - o[0], c[1] - o[1]);
                    (dx, dy, dx * dx + dy * dy)
                };
                let (dx, dy, d2) = delta(blk.y, c, tail[e] as usize);
                if d2 > 0.0 {
                    let pw = fast_pow(d2, b - 1.0);
                    let gc = -2.0 * a * b * pw / (a * pw * d2 + 1.0);
                    c[0] += 2.0 * clip(gc * dx) * alpha;
                    c[1] += 2.0 * clip(gc * dy) * alpha;
                }
                blk.next[le] += eps[e];
                let epn = eps[e] / nsr;
                let n_neg = ((ep - blk.next_neg[le]) / epn) as i64;
                // The negative samples of one edge are all taken at the same position and
                // summed: independent chains the CPU overlaps, where umap-learn's one
                // after the other is bound by the latency of each update.
                let (mut sx, mut sy) = (0f32, 0f32);
                for _ in 0..n_neg.max(0) {
                    let kk = blk.rng.below(n);
                    if kk == j + first {
                        continue;
                    }
                    let (dx, dy, d2) = delta(blk.y, c, kk);
                    if d2 > 0.0 {
                        let gc = 2.0 * b / ((0.001 + d2) * (a * fast_pow(d2, b) + 1.0));
                        sx += clip(gc * dx);
                        sy += clip(gc * dy);
                    }
                }
                c[0] += sx * alpha;
                c[1] += sy * alpha;
                blk.y[j] = c;
                blk.next_neg[le] += n_neg as f32 * epn;
            }
        });
        for blk in &blocks {
            snapshot[blk.first..blk.first + blk.y.len()].copy_from_slice(blk.y);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn blobs(n: usize, d: usize, k: usize, seed: u64) -> (Matrix, Vec<u32>) {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let ctr: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..d).map(|_| r.gen_range(-10.0..10.0)).collect())
            .collect();
        let mut data = Vec::with_capacity(n * d);
        let mut lab = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % k;
            data.extend(ctr[c].iter().map(|&v| v + r.gen_range(-1.0f32..1.0)));
            lab.push(c as u32);
        }
        (Matrix::from_vec(n, d, data), lab)
    }

    #[test]
    fn separates_blobs_deterministically() {
        let (x, lab) = blobs(600, 10, 4, 1);
        let p = UmapParams {
            n_epochs: Some(100),
            ..Default::default()
        };
        let y = umap(&x, &p, &Cancel::new()).unwrap();
        assert_eq!(y, umap(&x, &p, &Cancel::new()).unwrap());
        assert!(y.iter().all(|q| q[0].is_finite() && q[1].is_finite()));
        // 2D nearest neighbour of each point lies in the same blob
        let mut same = 0;
        for i in 0..600 {
            let j = (0..600)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (y[a][0] - y[i][0]).powi(2) + (y[a][1] - y[i][1]).powi(2);
                    let db = (y[b][0] - y[i][0]).powi(2) + (y[b][1] - y[i][1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            same += (lab[i] == lab[j]) as usize;
        }
        assert!(same > 590, "{same}/600");
    }

    #[test]
    fn same_layout_on_one_thread_and_on_three() {
        let (x, _) = blobs(400, 8, 3, 5);
        let p = UmapParams {
            n_epochs: Some(60),
            seed: 9,
            ..Default::default()
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| umap(&x, &p, &Cancel::new()).unwrap())
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn fast_pow_is_accurate() {
        for &x in &[1e-12f32, 1e-6, 0.01, 0.3, 1.0, 1.7, 42.0, 1e4, 3e7] {
            for &p in &[0.895_060_9f32, -0.104_939_1, 2.0, -1.0] {
                let want = (x as f64).powf(p as f64);
                let got = fast_pow(x, p) as f64;
                assert!(
                    ((got - want) / want).abs() < 2e-5,
                    "{x}^{p}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn duplicate_points_stay_finite() {
        let mut rows = vec![vec![1.0f32, 1.0, 1.0]; 30];
        rows.extend((0..30).map(|i| vec![i as f32, 0.0, 1.0]));
        let y = umap(
            &Matrix::from_rows(&rows),
            &UmapParams {
                n_epochs: Some(50),
                ..Default::default()
            },
            &Cancel::new(),
        )
        .unwrap();
        assert!(y.iter().all(|q| q[0].is_finite() && q[1].is_finite()));
    }
}
