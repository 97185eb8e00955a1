//! k-nearest-neighbour graphs (Euclidean, self excluded): exact and blocked through the
//! GEMM for up to [`EXACT_MAX`] points; above that a random-projection forest followed
//! by one round of neighbour-of-neighbour refinement (the NN-descent local join).
//! Seeded and deterministic: every parallel step writes per-point results.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::cluster::linalg::{row_sq_norms, sq_dists_block, BLOCK};
use crate::{Cancel, Cancelled, Matrix};

/// Largest input for the exact search.
pub const EXACT_MAX: usize = 8192;

/// `k` neighbours of every point, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Knn {
    pub k: usize,
    /// `n * k` neighbour indices.
    pub idx: Vec<u32>,
    /// `n * k` Euclidean distances, ascending per point.
    pub dist: Vec<f32>,
}

impl Knn {
    pub fn n(&self) -> usize {
        self.idx.len() / self.k.max(1)
    }
    pub fn neighbours(&self, i: usize) -> (&[u32], &[f32]) {
        (
            &self.idx[i * self.k..(i + 1) * self.k],
            &self.dist[i * self.k..(i + 1) * self.k],
        )
    }
}

/// Bounded sorted list of the k best (squared distance, index) pairs.
#[derive(Clone)]
struct Best {
    k: usize,
    items: Vec<(f32, u32)>,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }
    #[inline]
    fn worst(&self) -> f32 {
        if self.items.len() < self.k {
            f32::INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }
    #[inline]
    fn push(&mut self, d: f32, j: u32) {
        if d > self.worst()
            || (d == self.worst() && self.items.len() == self.k && j > self.items[self.k - 1].1)
        {
            return;
        }
        if self.items.iter().any(|&(_, x)| x == j) {
            return;
        }
        let pos = self.items.partition_point(|&(a, b)| (a, b) < (d, j));
        self.items.insert(pos, (d, j));
        self.items.truncate(self.k);
    }
}

/// k nearest neighbours of every row (`k` is clamped to `n - 1`).
pub fn knn(data: &Matrix, k: usize, seed: u64, cancel: &Cancel) -> Result<Knn, Cancelled> {
    if data.rows <= EXACT_MAX {
        knn_exact(data, k, cancel)
    } else {
        knn_approx(data, k, seed, cancel)
    }
}

fn finish(lists: Vec<Best>, k: usize) -> Knn {
    let n = lists.len();
    let mut idx = Vec::with_capacity(n * k);
    let mut dist = Vec::with_capacity(n * k);
    for (i, b) in lists.into_iter().enumerate() {
        for t in 0..k {
            // A list can only be short if n - 1 < k, which the callers prevent; pad with self.
            let (d, j) = b.items.get(t).copied().unwrap_or((0.0, i as u32));
            idx.push(j);
            dist.push(d.max(0.0).sqrt());
        }
    }
    Knn { k, idx, dist }
}

/// Exact search: blocks of query rows against all rows through the GEMM.
pub fn knn_exact(data: &Matrix, k: usize, cancel: &Cancel) -> Result<Knn, Cancelled> {
    let n = data.rows;
    let k = k.min(n.saturating_sub(1)).max(1);
    let d = data.cols;
    let xn = row_sq_norms(data);
    let blocks: Result<Vec<Vec<Best>>, Cancelled> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|bi| {
            cancel.check()?;
            let s = bi * BLOCK;
            let e = (s + BLOCK).min(n);
            let mut buf = vec![0f32; (e - s) * n];
            sq_dists_block(
                &data.data[s * d..e * d],
                &xn[s..e],
                &data.data,
                &xn,
                d,
                &mut buf,
            );
            Ok((s..e)
                .map(|i| {
                    let row = &buf[(i - s) * n..(i - s + 1) * n];
                    let mut b = Best::new(k);
                    let mut worst = f32::INFINITY;
                    for (j, &v) in row.iter().enumerate() {
                        if v <= worst && j != i {
                            b.push(v, j as u32);
                            worst = b.worst();
                        }
                    }
                    b
                })
                .collect())
        })
        .collect();
    Ok(finish(blocks?.into_iter().flatten().collect(), k))
}

/// Leaves (index lists) of one random-projection tree.
fn rp_tree(data: &Matrix, leaf: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut stack: Vec<Vec<u32>> = vec![(0..data.rows as u32).collect()];
    let d = data.cols;
    while let Some(node) = stack.pop() {
        if node.len() <= leaf {
            out.push(node);
            continue;
        }
        let a = node[rng.gen_range(0..node.len())] as usize;
        let mut b = node[rng.gen_range(0..node.len())] as usize;
        if a == b {
            b = node[(node.iter().position(|&x| x as usize == a).unwrap_or(0) + 1) % node.len()]
                as usize;
        }
        let (ra, rb) = (data.row(a), data.row(b));
        let normal: Vec<f32> = ra.iter().zip(rb).map(|(x, y)| x - y).collect();
        let offset: f32 = (0..d).map(|t| normal[t] * (ra[t] + rb[t]) * 0.5).sum();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for &i in &node {
            let r = data.row(i as usize);
            let s: f32 = r.iter().zip(&normal).map(|(x, w)| x * w).sum::<f32>() - offset;
            if s < 0.0 || (s == 0.0 && rng.gen::<bool>()) {
                left.push(i);
            } else {
                right.push(i);
            }
        }
        if left.is_empty() || right.is_empty() {
            // Degenerate split (duplicates): halve the node instead.
            let mut all = node;
            let h = all.len() / 2;
            right = all.split_off(h);
            left = all;
        }
        stack.push(right);
        stack.push(left);
    }
    out
}

/// Approximate search: a seeded random-projection forest, exact search within leaves,
/// then one neighbour-of-neighbour refinement round.
pub fn knn_approx(data: &Matrix, k: usize, seed: u64, cancel: &Cancel) -> Result<Knn, Cancelled> {
    const TREES: usize = 6;
    let n = data.rows;
    let k = k.min(n.saturating_sub(1)).max(1);
    let d = data.cols;
    let leaf = (4 * k).max(64);
    let xn = row_sq_norms(data);
    let mut lists = vec![Best::new(k); n];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds: Vec<u64> = (0..TREES).map(|_| rng.gen()).collect();
    for s in seeds {
        cancel.check()?;
        let leaves = rp_tree(data, leaf, &mut ChaCha8Rng::seed_from_u64(s));
        let cands: Vec<Vec<(u32, Best)>> = leaves
            .par_iter()
            .map(|lf| {
                let m = lf.len();
                let sub: Vec<usize> = lf.iter().map(|&i| i as usize).collect();
                let sm = data.select_rows(&sub);
                let sn: Vec<f32> = sub.iter().map(|&i| xn[i]).collect();
                let mut buf = vec![0f32; m * m];
                sq_dists_block(&sm.data, &sn, &sm.data, &sn, d, &mut buf);
                (0..m)
                    .map(|a| {
                        let mut b = Best::new(k);
                        for c in 0..m {
                            if c != a {
                                b.push(buf[a * m + c], lf[c]);
                            }
                        }
                        (lf[a], b)
                    })
                    .collect()
            })
            .collect();
        for (i, b) in cands.into_iter().flatten() {
            let l = &mut lists[i as usize];
            for (dd, j) in b.items {
                l.push(dd, j);
            }
        }
    }
    cancel.check()?;
    let refined: Vec<Best> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut b = lists[i].clone();
            let xi = data.row(i);
            for &(_, j) in &lists[i].items {
                for &(_, l) in &lists[j as usize].items {
                    if l as usize != i {
                        let dd = crate::cluster::linalg::sq_euclid(xi, data.row(l as usize)) as f32;
                        b.push(dd, l);
                    }
                }
            }
            b
        })
        .collect();
    Ok(finish(refined, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, d: usize, seed: u64) -> Matrix {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Matrix::from_vec(
            n,
            d,
            (0..n * d).map(|_| r.gen_range(-1.0f32..1.0)).collect(),
        )
    }

    #[test]
    fn exact_matches_brute_force() {
        let x = points(300, 5, 1);
        let g = knn_exact(&x, 7, &Cancel::new()).unwrap();
        for i in [0, 17, 299] {
            let mut all: Vec<(f64, usize)> = (0..300)
                .filter(|&j| j != i)
                .map(|j| (crate::cluster::linalg::sq_euclid(x.row(i), x.row(j)), j))
                .collect();
            all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let want: Vec<u32> = all[..7].iter().map(|&(_, j)| j as u32).collect();
            assert_eq!(g.neighbours(i).0, &want[..]);
            assert!((g.neighbours(i).1[0] as f64 - all[0].0.sqrt()).abs() < 1e-4);
        }
    }

    #[test]
    fn approximate_has_high_recall_and_is_deterministic() {
        let x = points(3000, 8, 2);
        let exact = knn_exact(&x, 10, &Cancel::new()).unwrap();
        let a = knn_approx(&x, 10, 5, &Cancel::new()).unwrap();
        assert_eq!(a, knn_approx(&x, 10, 5, &Cancel::new()).unwrap());
        let mut hit = 0;
        for i in 0..3000 {
            let e = exact.neighbours(i).0;
            hit += a.neighbours(i).0.iter().filter(|j| e.contains(j)).count();
        }
        let recall = hit as f64 / 30_000.0;
        assert!(recall > 0.9, "recall {recall}");
    }

    #[test]
    fn duplicates_and_tiny_inputs() {
        let x = Matrix::from_rows(&vec![vec![1.0, 2.0]; 5]);
        let g = knn(&x, 15, 0, &Cancel::new()).unwrap();
        assert_eq!(g.k, 4);
        assert!(g.dist.iter().all(|&d| d == 0.0));
        for i in 0..5 {
            assert!(!g.neighbours(i).0.contains(&(i as u32)));
        }
    }
}
