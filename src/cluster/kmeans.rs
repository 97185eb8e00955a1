//! k-means: greedy k-means++ initialisation, exact Lloyd iterations with batched GEMM
//! distances on all cores, and mini-batch k-means above a size threshold.
//!
//! Why not linfa-clustering's `KMeans`: it computes point-to-centroid distances one pair
//! at a time; on 100,000 x 256 with k = 50 it was several times slower than scikit-learn
//! (see docs/bench/cluster.md), while a GEMM-based assignment step is faster than it.
//! The algorithm follows scikit-learn's `KMeans(algorithm="lloyd")`: greedy k-means++ with
//! `2 + ln k` local trials, tolerance relative to the mean feature variance, stop on
//! unchanged labels, empty clusters moved to the points farthest from their centres.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::linalg::{nearest2_sq, nearest_sq, row_sq_norms, sq_dists_block, sq_euclid, BLOCK};
use super::{check_data, ClusterError, Clustering};
use crate::{Cancel, Matrix};

/// Rows per partial sum in the centre update (fixed, so results do not depend on threads).
const SUM_CHUNK: usize = 4096;
/// Rows gathered at once for a re-assignment (16 GEMM row blocks).
const REASSIGN_CHUNK: usize = 16 * super::linalg::BLOCK;

/// Raw k-means parameters; checked against the data by [`KmeansParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct KmeansParams {
    pub k: usize,
    /// Independent k-means++ restarts; the run with the lowest inertia is kept.
    pub n_init: usize,
    pub max_iter: usize,
    /// Stop when the total squared centre shift is below `tol` x the mean feature variance.
    pub tol: f64,
    pub seed: u64,
    /// Above this many rows, mini-batch k-means is used.
    pub minibatch_threshold: usize,
    pub batch_size: usize,
    /// Mini-batch: at most this many passes over the data.
    pub max_epochs: usize,
    /// Start from these `k` centres instead of k-means++ (one run; `n_init` is not used):
    /// to continue from an earlier clustering, or to compare Lloyd's iterations with
    /// another implementation from the same start.
    pub init: Option<Matrix>,
}

impl KmeansParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            n_init: 1,
            max_iter: 300,
            tol: 1e-4,
            seed: 0,
            minibatch_threshold: 250_000,
            batch_size: 4096,
            max_epochs: 3,
            init: None,
        }
    }
    pub fn init(mut self, centres: Matrix) -> Self {
        self.init = Some(centres);
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = n;
        self
    }
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    pub fn minibatch_threshold(mut self, n: usize) -> Self {
        self.minibatch_threshold = n;
        self
    }
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Validates the parameters against `data`.
    pub fn check(&self, data: &Matrix) -> Result<ValidKmeansParams, ClusterError> {
        check_data(data, self.k)?;
        if self.n_init == 0 || self.max_iter == 0 || self.batch_size == 0 || self.max_epochs == 0 {
            return Err(ClusterError::Param(
                "n_init, max_iter, batch_size and max_epochs must be at least 1".into(),
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(ClusterError::Param(format!(
                "tolerance {} must be finite and >= 0",
                self.tol
            )));
        }
        if let Some(c) = &self.init {
            if c.rows != self.k || c.cols != data.cols || c.data.iter().any(|v| !v.is_finite()) {
                return Err(ClusterError::Param(format!(
                    "initial centres must be {} finite rows of {} values, got {} x {}",
                    self.k, data.cols, c.rows, c.cols
                )));
            }
        }
        Ok(ValidKmeansParams(self.clone()))
    }
}

/// Parameters that passed [`KmeansParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct ValidKmeansParams(KmeansParams);

impl std::ops::Deref for ValidKmeansParams {
    type Target = KmeansParams;
    fn deref(&self) -> &KmeansParams {
        &self.0
    }
}

/// Runs k-means on `data` (rows are points). Exact Lloyd up to
/// `minibatch_threshold` rows, mini-batch above.
pub fn kmeans(
    data: &Matrix,
    params: &KmeansParams,
    cancel: &Cancel,
) -> Result<Clustering, ClusterError> {
    let p = params.check(data)?;
    if data.rows > p.minibatch_threshold {
        return minibatch(data, &p, cancel);
    }
    let xn = row_sq_norms(data);
    let tol = p.tol * mean_variance(data);
    if let Some(c0) = &p.init {
        return lloyd(data, &xn, c0.clone(), p.max_iter, tol, cancel);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut best: Option<Clustering> = None;
    for _ in 0..p.n_init {
        let mut r = ChaCha8Rng::seed_from_u64(rng.gen());
        let centres = kmeans_plusplus(data, &xn, p.k, &mut r, cancel)?;
        let c = lloyd(data, &xn, centres, p.max_iter, tol, cancel)?;
        if best.as_ref().is_none_or(|b| c.objective < b.objective) {
            best = Some(c);
        }
    }
    Ok(best.expect("n_init >= 1"))
}

/// Mean over features of the per-feature variance (scikit-learn's tolerance scale).
fn mean_variance(x: &Matrix) -> f64 {
    let d = x.cols;
    let n = x.rows as f64;
    let (s, s2) = x
        .data
        .par_chunks(SUM_CHUNK * d)
        .map(|blk| {
            let mut s = vec![0f64; d];
            let mut s2 = vec![0f64; d];
            for r in blk.chunks_exact(d) {
                for j in 0..d {
                    let v = r[j] as f64;
                    s[j] += v;
                    s2[j] += v * v;
                }
            }
            (s, s2)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((vec![0f64; d], vec![0f64; d]), |(mut a, mut b), (s, s2)| {
            a.iter_mut().zip(&s).for_each(|(x, y)| *x += y);
            b.iter_mut().zip(&s2).for_each(|(x, y)| *x += y);
            (a, b)
        });
    let var: f64 = s
        .iter()
        .zip(&s2)
        .map(|(&a, &b)| (b / n - (a / n) * (a / n)).max(0.0))
        .sum();
    var / d as f64
}

/// The `k` starting centres [`kmeans`] draws for `seed` on its first (or only) run.
pub fn kmeans_plusplus_centres(
    data: &Matrix,
    k: usize,
    seed: u64,
    cancel: &Cancel,
) -> Result<Matrix, ClusterError> {
    check_data(data, k)?;
    let xn = row_sq_norms(data);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut r = ChaCha8Rng::seed_from_u64(rng.gen());
    kmeans_plusplus(data, &xn, k, &mut r, cancel)
}

/// Greedy k-means++ (as scikit-learn): each new centre is the best of `2 + ln k`
/// candidates drawn with probability proportional to the squared distance.
pub(crate) fn kmeans_plusplus(
    x: &Matrix,
    xn: &[f32],
    k: usize,
    rng: &mut ChaCha8Rng,
    cancel: &Cancel,
) -> Result<Matrix, ClusterError> {
    let n = x.rows;
    let d = x.cols;
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres = Matrix::zeros(k, d);
    let first = rng.gen_range(0..n);
    centres.row_mut(0).copy_from_slice(x.row(first));
    let mut closest = dists_to(x, xn, &x.select_rows(&[first]), &[xn[first]]).remove(0);
    let mut cum = vec![0f64; n];
    for c in 1..k {
        cancel.check()?;
        let mut acc = 0f64;
        for (cv, &v) in cum.iter_mut().zip(&closest) {
            acc += v as f64;
            *cv = acc;
        }
        let cand: Vec<usize> = (0..trials)
            .map(|_| {
                if acc > 0.0 {
                    let u = rng.gen::<f64>() * acc;
                    cum.partition_point(|&v| v <= u).min(n - 1)
                } else {
                    rng.gen_range(0..n)
                }
            })
            .collect();
        let cm = x.select_rows(&cand);
        let cmn: Vec<f32> = cand.iter().map(|&i| xn[i]).collect();
        let dc = dists_to(x, xn, &cm, &cmn);
        let pots: Vec<f64> = dc
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&closest)
                    .map(|(&a, &b)| a.min(b) as f64)
                    .sum()
            })
            .collect();
        let mut bt = 0;
        for t in 1..trials {
            if pots[t] < pots[bt] {
                bt = t;
            }
        }
        for (cl, &v) in closest.iter_mut().zip(&dc[bt]) {
            *cl = cl.min(v);
        }
        centres.row_mut(c).copy_from_slice(x.row(cand[bt]));
    }
    Ok(centres)
}

/// Squared distances from each row of `c` to every row of `x`: `c.rows` vectors of length n.
fn dists_to(x: &Matrix, xn: &[f32], c: &Matrix, cn: &[f32]) -> Vec<Vec<f32>> {
    let d = x.cols;
    let m = c.rows;
    let blocks: Vec<Vec<f32>> = (0..x.rows.div_ceil(BLOCK))
        .into_par_iter()
        .map(|bi| {
            let s = bi * BLOCK;
            let e = (s + BLOCK).min(x.rows);
            let mut buf = vec![0f32; (e - s) * m];
            sq_dists_block(&x.data[s * d..e * d], &xn[s..e], &c.data, cn, d, &mut buf);
            buf
        })
        .collect();
    let mut out = vec![Vec::with_capacity(x.rows); m];
    for buf in &blocks {
        for r in buf.chunks_exact(m) {
            for (t, &v) in r.iter().enumerate() {
                out[t].push(v);
            }
        }
    }
    out
}

/// Per-cluster sums (f64) and counts of the rows of `x` under `labels`, reduced in a fixed
/// chunk order.
fn cluster_sums(x: &Matrix, labels: &[u32], k: usize) -> (Vec<f64>, Vec<u64>) {
    let d = x.cols;
    let parts: Vec<(Vec<f64>, Vec<u64>)> = x
        .data
        .par_chunks(SUM_CHUNK * d)
        .zip(labels.par_chunks(SUM_CHUNK))
        .map(|(blk, lab)| {
            let mut s = vec![0f64; k * d];
            let mut cnt = vec![0u64; k];
            for (r, &l) in blk.chunks_exact(d).zip(lab) {
                let l = l as usize;
                cnt[l] += 1;
                for (a, &v) in s[l * d..(l + 1) * d].iter_mut().zip(r) {
                    *a += v as f64;
                }
            }
            (s, cnt)
        })
        .collect();
    let mut s = vec![0f64; k * d];
    let mut cnt = vec![0u64; k];
    for (ps, pc) in parts {
        s.iter_mut().zip(&ps).for_each(|(a, b)| *a += b);
        cnt.iter_mut().zip(&pc).for_each(|(a, b)| *a += b);
    }
    (s, cnt)
}

/// Exact Lloyd iterations from `centres`, with Hamerly's bounds (G. Hamerly, "Making
/// k-means even faster", SDM 2010) so that points whose assignment provably cannot change
/// skip the distance computation: an upper bound `u` on the distance to the assigned
/// centre and a lower bound `l` on the distance to every other centre, loosened by the
/// centre shifts after each update. Points whose bounds fail are re-assigned together
/// through the GEMM. The assignments are those of plain Lloyd.
fn lloyd(
    x: &Matrix,
    xn: &[f32],
    mut centres: Matrix,
    max_iter: usize,
    tol: f64,
    cancel: &Cancel,
) -> Result<Clustering, ClusterError> {
    let k = centres.rows;
    let d = x.cols;
    let n = x.rows;
    let mut labels = vec![0u32; n];
    let mut upper = vec![0f32; n];
    let mut lower = vec![0f32; n];
    let mut shifts = vec![0f32; k];
    let mut iterations = 0;
    for it in 0..max_iter {
        cancel.check()?;
        iterations += 1;
        let changed = if it == 0 {
            let cn = row_sq_norms(&centres);
            for (i, (a, bd, sd)) in nearest2_sq(x, xn, &centres, &cn).into_iter().enumerate() {
                labels[i] = a;
                upper[i] = bd.sqrt();
                lower[i] = sd.sqrt();
            }
            true
        } else {
            bounded_assign(
                x,
                xn,
                &centres,
                &shifts,
                &mut labels,
                &mut upper,
                &mut lower,
            )
        };
        let (sums, counts) = cluster_sums(x, &labels, k);
        let mut new = Matrix::zeros(k, d);
        let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
        for j in 0..k {
            if counts[j] > 0 {
                let inv = 1.0 / counts[j] as f64;
                for (c, &s) in new.row_mut(j).iter_mut().zip(&sums[j * d..(j + 1) * d]) {
                    *c = (s * inv) as f32;
                }
            } else {
                new.row_mut(j).copy_from_slice(centres.row(j));
            }
        }
        if !empty.is_empty() {
            // Move each empty cluster to one of the points farthest from its centre.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| upper[b].total_cmp(&upper[a]).then(a.cmp(&b)));
            for (&j, &i) in empty.iter().zip(&order) {
                new.row_mut(j).copy_from_slice(x.row(i));
            }
        }
        let mut shift = 0f64;
        for (j, sj) in shifts.iter_mut().enumerate() {
            let s2 = sq_euclid(new.row(j), centres.row(j));
            shift += s2;
            *sj = s2.sqrt() as f32;
        }
        if !empty.is_empty() {
            // Bounds are meaningless for a relocated centre: force a full re-assignment.
            shifts.iter_mut().for_each(|s| *s = f32::INFINITY);
        }
        centres = new;
        if (it > 0 && !changed) || shift <= tol {
            break;
        }
    }
    // Final assignment step, so the labels are those of the returned centres.
    bounded_assign(
        x,
        xn,
        &centres,
        &shifts,
        &mut labels,
        &mut upper,
        &mut lower,
    );
    Ok(finish_with(x, centres, labels, iterations))
}

/// One Hamerly assignment step after the centres moved by `shifts`; returns whether any
/// label changed.
fn bounded_assign(
    x: &Matrix,
    xn: &[f32],
    centres: &Matrix,
    shifts: &[f32],
    labels: &mut [u32],
    upper: &mut [f32],
    lower: &mut [f32],
) -> bool {
    let k = centres.rows;
    // Largest and second-largest shift, so each point's lower bound drops by the largest
    // shift among the *other* centres.
    let (mut m1, mut m2, mut j1) = (0f32, 0f32, usize::MAX);
    for (j, &s) in shifts.iter().enumerate() {
        if s > m1 {
            m2 = m1;
            m1 = s;
            j1 = j;
        } else if s > m2 {
            m2 = s;
        }
    }
    // Half the distance from each centre to its nearest other centre.
    let cn = row_sq_norms(centres);
    let mut cc = vec![0f32; k * k];
    sq_dists_block(
        &centres.data,
        &cn,
        &centres.data,
        &cn,
        centres.cols,
        &mut cc,
    );
    let half: Vec<f32> = (0..k)
        .map(|j| {
            (0..k)
                .filter(|&t| t != j)
                .map(|t| cc[j * k + t])
                .fold(f32::INFINITY, f32::min)
                .sqrt()
                * 0.5
        })
        .collect();
    // Bound test per point (parallel, per-point results): which points need a full scan.
    let need: Vec<bool> = labels
        .par_iter()
        .zip(upper.par_iter_mut())
        .zip(lower.par_iter_mut())
        .enumerate()
        .map(|(i, ((&a, u), l))| {
            let a = a as usize;
            *u += shifts[a];
            *l -= if a == j1 { m2 } else { m1 };
            let m = half[a].max(*l);
            if *u <= m {
                return false;
            }
            *u = sq_euclid(x.row(i), centres.row(a)).sqrt() as f32;
            *u > m
        })
        .collect();
    let idx: Vec<usize> = (0..x.rows).filter(|&i| need[i]).collect();
    if idx.is_empty() {
        return false;
    }
    // The points to re-scan are gathered a bounded chunk at a time: in the first
    // iterations nearly all of them fail their bounds, and one gather would copy the whole
    // data matrix (700 MB at 100k x 1,746). A chunk is a whole number of GEMM blocks, so
    // the distances are those of one gather, bit for bit.
    let mut changed = false;
    for part in idx.chunks(REASSIGN_CHUNK) {
        let sub = x.select_rows(part);
        let subn: Vec<f32> = part.iter().map(|&i| xn[i]).collect();
        for (&i, (a, bd, sd)) in part.iter().zip(nearest2_sq(&sub, &subn, centres, &cn)) {
            if a != labels[i] {
                changed = true;
                labels[i] = a;
            }
            upper[i] = bd.sqrt();
            lower[i] = sd.sqrt();
        }
    }
    changed
}

/// Final assignment to `centres`: labels, exact distances and inertia.
fn finish(x: &Matrix, xn: &[f32], centres: Matrix, iterations: usize) -> Clustering {
    let cn = row_sq_norms(&centres);
    let (labels, _) = nearest_sq(x, xn, &centres, &cn);
    finish_with(x, centres, labels, iterations)
}

/// Exact distances and inertia for given labels.
fn finish_with(x: &Matrix, centres: Matrix, labels: Vec<u32>, iterations: usize) -> Clustering {
    let d2: Vec<f64> = (0..x.rows)
        .into_par_iter()
        .map(|i| sq_euclid(x.row(i), centres.row(labels[i] as usize)))
        .collect();
    let objective = d2.iter().sum();
    Clustering {
        labels,
        centres,
        distances: d2.iter().map(|&v| v.sqrt() as f32).collect(),
        medoids: None,
        objective,
        iterations,
    }
}

/// Mini-batch k-means: k-means++ and Lloyd on a seeded sample, then batches drawn with
/// replacement update the centres with per-centre learning rates (1 / count), until the
/// smoothed batch inertia stops improving or `max_epochs` passes are done.
fn minibatch(x: &Matrix, p: &KmeansParams, cancel: &Cancel) -> Result<Clustering, ClusterError> {
    let n = x.rows;
    let d = x.cols;
    let k = p.k;
    let b = p.batch_size.min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let init_n = n.min((3 * b).max(10 * k));
    let mut idx = sample(&mut rng, n, init_n).into_vec();
    idx.sort_unstable();
    let sub = x.select_rows(&idx);
    let subn = row_sq_norms(&sub);
    let tol = p.tol * mean_variance(&sub);
    let mut centres = match &p.init {
        Some(c0) => c0.clone(),
        None => {
            let mut best: Option<Clustering> = None;
            for _ in 0..p.n_init {
                let mut r = ChaCha8Rng::seed_from_u64(rng.gen());
                let c0 = kmeans_plusplus(&sub, &subn, k, &mut r, cancel)?;
                let c = lloyd(&sub, &subn, c0, 20, tol, cancel)?;
                if best.as_ref().is_none_or(|bst| c.objective < bst.objective) {
                    best = Some(c);
                }
            }
            best.expect("n_init >= 1").centres
        }
    };
    let mut counts = vec![0f64; k];
    let max_steps = (p.max_epochs * n).div_ceil(b);
    let alpha = (2.0 * b as f64 / (n as f64 + 1.0)).min(1.0);
    let (mut ewa, mut best_ewa, mut stale) = (f64::NAN, f64::INFINITY, 0usize);
    let mut steps = 0;
    let mut bi = vec![0usize; b];
    for _ in 0..max_steps {
        cancel.check()?;
        steps += 1;
        for v in bi.iter_mut() {
            *v = rng.gen_range(0..n);
        }
        bi.sort_unstable();
        let batch = x.select_rows(&bi);
        let bn = row_sq_norms(&batch);
        let cn = row_sq_norms(&centres);
        let (lab, d2) = nearest_sq(&batch, &bn, &centres, &cn);
        let (sums, cnt) = cluster_sums(&batch, &lab, k);
        for j in 0..k {
            if cnt[j] == 0 {
                continue;
            }
            let m = cnt[j] as f64;
            counts[j] += m;
            let lr = 1.0 / counts[j];
            for (c, &s) in centres.row_mut(j).iter_mut().zip(&sums[j * d..(j + 1) * d]) {
                let cf = *c as f64;
                *c = (cf + (s - m * cf) * lr) as f32;
            }
        }
        let bin = d2.iter().map(|&v| v as f64).sum::<f64>() / b as f64;
        ewa = if ewa.is_nan() {
            bin
        } else {
            ewa * (1.0 - alpha) + bin * alpha
        };
        if ewa < best_ewa {
            best_ewa = ewa;
            stale = 0;
        } else {
            stale += 1;
            if stale >= 10 {
                break;
            }
        }
    }
    let xn = row_sq_norms(x);
    Ok(finish(x, &xn, centres, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr_free::blobs;

    /// Tiny Gaussian-free blob generator (uniform jitter) so tests need no extra crate.
    mod rand_distr_free {
        use super::*;
        pub fn blobs(n_per: usize, centres: &[[f32; 3]], seed: u64) -> (Matrix, Vec<u32>) {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            let mut rows = Vec::new();
            let mut lab = Vec::new();
            for (c, ctr) in centres.iter().enumerate() {
                for _ in 0..n_per {
                    rows.push(ctr.iter().map(|&v| v + r.gen_range(-0.5..0.5)).collect());
                    lab.push(c as u32);
                }
            }
            (Matrix::from_rows(&rows), lab)
        }
    }

    const CTRS: [[f32; 3]; 3] = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 5.0]];

    fn same_partition(a: &[u32], b: &[u32]) -> bool {
        let mut map = std::collections::HashMap::new();
        a.iter()
            .zip(b)
            .all(|(x, y)| *map.entry(*x).or_insert(*y) == *y)
    }

    #[test]
    fn given_centres_reproduce_the_seeded_run_and_are_checked() {
        let rows: Vec<Vec<f32>> = (0..120)
            .map(|i| {
                let c = (i % 3) as f32 * 10.0;
                vec![c + (i % 7) as f32 * 0.1, c - (i % 5) as f32 * 0.1]
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let seeded = kmeans(&x, &KmeansParams::new(3).seed(4), &Cancel::new()).unwrap();
        let c0 = kmeans_plusplus_centres(&x, 3, 4, &Cancel::new()).unwrap();
        let from = kmeans(&x, &KmeansParams::new(3).init(c0), &Cancel::new()).unwrap();
        assert_eq!(seeded.labels, from.labels);
        assert_eq!(seeded.objective, from.objective);
        let bad = KmeansParams::new(3).init(Matrix::zeros(2, 2));
        let err = kmeans(&x, &bad, &Cancel::new())
            .expect_err("wrong shape")
            .to_string();
        assert!(err.contains("initial centres"), "{err}");
    }

    #[test]
    fn recovers_separated_blobs_and_is_deterministic() {
        let (x, truth) = blobs(200, &CTRS, 1);
        let c = Cancel::new();
        let p = KmeansParams::new(3).seed(7).n_init(2);
        let a = kmeans(&x, &p, &c).unwrap();
        assert!(same_partition(&a.labels, &truth));
        let b = kmeans(&x, &p, &c).unwrap();
        assert_eq!(a, b, "same seed, same output");
        let direct: f64 = (0..x.rows)
            .map(|i| sq_euclid(x.row(i), a.centres.row(a.labels[i] as usize)))
            .sum();
        assert!((a.objective - direct).abs() < 1e-6 * direct);
        assert!(a.distances.iter().all(|v| v.is_finite()));
    }

    /// The bounded iterations give exactly the assignments of plain Lloyd from the same
    /// start, on overlapping clusters where many points move.
    #[test]
    fn bounded_lloyd_equals_plain_lloyd() {
        let mut r = ChaCha8Rng::seed_from_u64(11);
        let x = Matrix::from_vec(
            3000,
            6,
            (0..18000).map(|_| r.gen_range(-1.0f32..1.0)).collect(),
        );
        let xn = row_sq_norms(&x);
        let c = Cancel::new();
        let init = kmeans_plusplus(&x, &xn, 8, &mut ChaCha8Rng::seed_from_u64(1), &c).unwrap();
        let fast = lloyd(&x, &xn, init.clone(), 300, 0.0, &c).unwrap();
        let mut cen = init;
        let mut prev = Vec::new();
        let mut iters = 0;
        loop {
            iters += 1;
            let (lab, _) = nearest_sq(&x, &xn, &cen, &row_sq_norms(&cen));
            let (s, cnt) = cluster_sums(&x, &lab, 8);
            for j in 0..8 {
                for t in 0..6 {
                    cen.row_mut(j)[t] = (s[j * 6 + t] / cnt[j] as f64) as f32;
                }
            }
            if lab == prev {
                break;
            }
            prev = lab;
        }
        assert!(iters > 5, "the test must exercise several iterations");
        assert_eq!(fast.labels, prev);
        assert_eq!(fast.iterations, iters);
    }

    #[test]
    fn minibatch_matches_lloyd_on_blobs() {
        let (x, truth) = blobs(400, &CTRS, 2);
        let c = Cancel::new();
        let full = kmeans(&x, &KmeansParams::new(3), &c).unwrap();
        let mb = kmeans(
            &x,
            &KmeansParams::new(3).minibatch_threshold(100).batch_size(64),
            &c,
        )
        .unwrap();
        assert!(same_partition(&mb.labels, &truth));
        assert!(
            mb.objective <= full.objective * 1.01,
            "{} vs {}",
            mb.objective,
            full.objective
        );
    }

    #[test]
    fn duplicates_and_constant_dimensions_stay_finite() {
        let mut rows = vec![vec![1.0, 5.0, 0.0]; 20];
        rows.extend(vec![vec![2.0, 5.0, 0.0]; 3]);
        let x = Matrix::from_rows(&rows);
        let r = kmeans(&x, &KmeansParams::new(4), &Cancel::new()).unwrap();
        assert!(r.centres.data.iter().all(|v| v.is_finite()));
        assert!(r.distances.iter().all(|v| v.is_finite()));
        assert_eq!(r.objective, 0.0);
        assert_eq!(r.labels.len(), 23);
    }
}
