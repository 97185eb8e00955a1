//! t-SNE (van der Maaten 2014, Barnes-Hut): sparse input affinities on the 3·perplexity
//! nearest neighbours, PCA initialisation scaled to a standard deviation of 1e-4 (as
//! openTSNE), 250 iterations of early exaggeration (12, momentum 0.5) then 500 (momentum
//! 0.8), scikit-learn's gains and its automatic learning rate `max(N / 12 / 4, 50)`.
//! Repulsive forces use a quadtree with θ = 0.5. Forces are computed per point in
//! parallel and summed in point order, so a seed fixes the output.

use rayon::prelude::*;

use super::knn::knn;
use super::pca;
use crate::{Cancel, Cancelled, Matrix};

/// t-SNE settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TsneParams {
    pub perplexity: f64,
    pub early_iter: usize,
    pub iter: usize,
    pub exaggeration: f64,
    pub theta: f64,
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            early_iter: 250,
            iter: 500,
            exaggeration: 12.0,
            theta: 0.5,
            seed: 0,
        }
    }
}

/// Symmetric sparse affinities in CSR form.
struct Affinity {
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f64>,
}

fn affinities(
    data: &Matrix,
    perplexity: f64,
    seed: u64,
    cancel: &Cancel,
) -> Result<Affinity, Cancelled> {
    let n = data.rows;
    let perp = perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    let k = ((3.0 * perp) as usize).clamp(1, n - 1);
    let g = knn(data, k, seed, cancel)?;
    let target = perp.ln();
    let cond: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let d2: Vec<f64> = g
                .neighbours(i)
                .1
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .collect();
            let dmin = d2[0];
            let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
            let mut p = vec![0f64; k];
            for _ in 0..100 {
                let mut sum = 0.0;
                let mut hsum = 0.0;
                for t in 0..k {
                    p[t] = (-beta * (d2[t] - dmin)).exp();
                    sum += p[t];
                    hsum += p[t] * (d2[t] - dmin);
                }
                let h = sum.ln() + beta * hsum / sum;
                if (h - target).abs() < 1e-5 {
                    break;
                }
                if h > target {
                    lo = beta;
                    beta = if hi.is_infinite() {
                        beta * 2.0
                    } else {
                        (lo + hi) / 2.0
                    };
                } else {
                    hi = beta;
                    beta = (lo + hi) / 2.0;
                }
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|v| v / s).collect()
        })
        .collect();
    let mut trip: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * n * k);
    for (i, pi) in cond.iter().enumerate() {
        for (t, &j) in g.neighbours(i).0.iter().enumerate() {
            let v = pi[t] / (2.0 * n as f64);
            trip.push((i as u32, j, v));
            trip.push((j, i as u32, v));
        }
    }
    trip.sort_unstable_by_key(|a| (a.0, a.1));
    let mut start = vec![0usize; n + 1];
    let mut col = Vec::with_capacity(trip.len());
    let mut val: Vec<f64> = Vec::with_capacity(trip.len());
    let mut last: Option<(u32, u32)> = None;
    for (i, j, v) in trip {
        if last == Some((i, j)) {
            *val.last_mut().expect("merged entry exists") += v;
        } else {
            col.push(j);
            val.push(v);
            start[i as usize + 1] += 1;
            last = Some((i, j));
        }
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    Ok(Affinity { start, col, val })
}

/// Quadtree node over the 2D layout.
struct Node {
    cx: f64,
    cy: f64,
    count: f64,
    size: f64,
    /// Range of member points in the permutation (leaves only meaningful).
    lo: usize,
    hi: usize,
    children: [u32; 4],
    leaf: bool,
}

#[allow(clippy::too_many_arguments)]
fn build(
    nodes: &mut Vec<Node>,
    perm: &mut [u32],
    off: usize,
    y: &[[f64; 2]],
    x0: f64,
    y0: f64,
    size: f64,
    depth: u32,
) -> u32 {
    let (mut cx, mut cy) = (0.0, 0.0);
    for &i in perm.iter() {
        cx += y[i as usize][0];
        cy += y[i as usize][1];
    }
    let c = perm.len() as f64;
    let id = nodes.len();
    nodes.push(Node {
        cx: cx / c,
        cy: cy / c,
        count: c,
        size,
        lo: off,
        hi: off + perm.len(),
        children: [0; 4],
        leaf: true,
    });
    if perm.len() == 1 || depth >= 40 {
        return id as u32;
    }
    let h = size / 2.0;
    let (mx, my) = (x0 + h, y0 + h);
    let quad = |i: u32| -> usize {
        let p = y[i as usize];
        (p[0] >= mx) as usize + 2 * (p[1] >= my) as usize
    };
    perm.sort_by_key(|&i| quad(i));
    let mut s = 0;
    let mut children = [0u32; 4];
    for (q, ch) in children.iter_mut().enumerate() {
        let e = s + perm[s..].iter().take_while(|&&i| quad(i) == q).count();
        if e > s {
            let (qx, qy) = (
                if q & 1 == 1 { mx } else { x0 },
                if q & 2 == 2 { my } else { y0 },
            );
            *ch = build(nodes, &mut perm[s..e], off + s, y, qx, qy, h, depth + 1);
        }
        s = e;
    }
    nodes[id].children = children;
    nodes[id].leaf = false;
    id as u32
}

/// Repulsive force and the partial normalisation sum for point `i`.
fn repulse(nodes: &[Node], perm: &[u32], y: &[[f64; 2]], i: usize, theta2: f64) -> (f64, f64, f64) {
    let (yx, yy) = (y[i][0], y[i][1]);
    let (mut fx, mut fy, mut z) = (0.0, 0.0, 0.0);
    let mut stack = vec![0u32];
    while let Some(id) = stack.pop() {
        let nd = &nodes[id as usize];
        let dx = yx - nd.cx;
        let dy = yy - nd.cy;
        let d2 = dx * dx + dy * dy;
        if nd.leaf || nd.size * nd.size < theta2 * d2 {
            let mut cnt = nd.count;
            if nd.leaf && perm[nd.lo..nd.hi].contains(&(i as u32)) {
                cnt -= 1.0;
            }
            if cnt > 0.0 {
                let w = 1.0 / (1.0 + d2);
                z += cnt * w;
                fx += cnt * w * w * dx;
                fy += cnt * w * w * dy;
            }
        } else {
            for &c in nd.children.iter().rev() {
                if c != 0 {
                    stack.push(c);
                }
            }
        }
    }
    (fx, fy, z)
}

/// 2D t-SNE embedding.
pub fn tsne(data: &Matrix, p: &TsneParams, cancel: &Cancel) -> Result<Vec<[f32; 2]>, Cancelled> {
    let n = data.rows;
    if n <= 3 {
        return pca::pca_2d(data, p.seed, cancel);
    }
    let aff = affinities(data, p.perplexity, p.seed, cancel)?;
    let init = pca::pca_2d(data, p.seed, cancel)?;
    let sd = {
        let m = init.iter().map(|q| q[0] as f64).sum::<f64>() / n as f64;
        (init.iter().map(|q| (q[0] as f64 - m).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let scale = if sd > 0.0 { 1e-4 / sd } else { 1.0 };
    let mut y: Vec<[f64; 2]> = init
        .iter()
        .enumerate()
        .map(|(i, q)| {
            // Distinct start points even for duplicate inputs (a deterministic spiral).
            let j = 1e-8 * i as f64;
            [
                q[0] as f64 * scale + j * (i as f64).cos(),
                q[1] as f64 * scale + j * (i as f64).sin(),
            ]
        })
        .collect();
    let lr = (n as f64 / p.exaggeration / 4.0).max(50.0);
    let mut upd = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let theta2 = p.theta * p.theta;
    for it in 0..p.early_iter + p.iter {
        cancel.check()?;
        let (exag, mom) = if it < p.early_iter {
            (p.exaggeration, 0.5)
        } else {
            (1.0, 0.8)
        };
        let (x0, y0, x1, y1) = y.iter().fold(
            (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
            |(a, b, c, d), q| (a.min(q[0]), b.min(q[1]), c.max(q[0]), d.max(q[1])),
        );
        let size = (x1 - x0).max(y1 - y0).max(1e-12) * (1.0 + 1e-9);
        let mut nodes = Vec::with_capacity(2 * n);
        let mut perm: Vec<u32> = (0..n as u32).collect();
        build(&mut nodes, &mut perm, 0, &y, x0, y0, size, 0);
        let forces: Vec<(f64, f64, f64, f64, f64)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (rx, ry, z) = repulse(&nodes, &perm, &y, i, theta2);
                let (mut ax, mut ay) = (0.0, 0.0);
                for e in aff.start[i]..aff.start[i + 1] {
                    let j = aff.col[e] as usize;
                    let dx = y[i][0] - y[j][0];
                    let dy = y[i][1] - y[j][1];
                    let w = aff.val[e] / (1.0 + dx * dx + dy * dy);
                    ax += w * dx;
                    ay += w * dy;
                }
                (ax, ay, rx, ry, z)
            })
            .collect();
        let z: f64 = forces
            .iter()
            .map(|f| f.4)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        for i in 0..n {
            let f = forces[i];
            let g = [4.0 * (exag * f.0 - f.2 / z), 4.0 * (exag * f.1 - f.3 / z)];
            for t in 0..2 {
                if upd[i][t] * g[t] < 0.0 {
                    gains[i][t] += 0.2;
                } else {
                    gains[i][t] = (gains[i][t] * 0.8).max(0.01);
                }
                upd[i][t] = mom * upd[i][t] - lr * gains[i][t] * g[t];
                y[i][t] += upd[i][t];
            }
        }
    }
    Ok(y.iter().map(|q| [q[0] as f32, q[1] as f32]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::trust::trustworthiness;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn tsne_keeps_neighbourhoods() {
        let mut r = ChaCha8Rng::seed_from_u64(4);
        let ctr: Vec<Vec<f32>> = (0..5)
            .map(|_| (0..8).map(|_| r.gen_range(-5.0..5.0)).collect())
            .collect();
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|i| {
                ctr[i % 5]
                    .iter()
                    .map(|&c| c + r.gen_range(-1.0f32..1.0))
                    .collect()
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let p = TsneParams {
            early_iter: 100,
            iter: 150,
            ..Default::default()
        };
        let y = tsne(&x, &p, &Cancel::new()).unwrap();
        assert_eq!(y, tsne(&x, &p, &Cancel::new()).unwrap());
        assert!(y.iter().all(|q| q[0].is_finite() && q[1].is_finite()));
        let t = trustworthiness(&x, &y, 10, 400, 0);
        assert!(t > 0.9, "trustworthiness {t}");
    }
}
