//! k-medoids with FasterPAM, written from E. Schubert and P. J. Rousseeuw, "Fast and
//! eager k-medoids clustering: O(k) runtime improvement of the PAM, CLARA, and CLARANS
//! algorithms", Information Systems 101 (2021).
//!
//! The three ideas of the paper, as implemented in [`fasterpam`]:
//! - *Removal loss*: `ΔL⁻(m_i) = Σ_{o: n(o)=i} (d_s(o) − d_n(o))`, the cost of removing
//!   medoid `i` when its points fall back to their second-nearest medoid.
//! - *Shared accumulator*: for a candidate `x_c`, one pass over the points computes the
//!   change `ΔTD` common to every medoid plus a per-medoid correction, so all `k` swaps
//!   `(m_i, x_c)` are evaluated in `O(n)` instead of `O(nk)`.
//! - *Eager swapping*: the best swap for `x_c` is applied as soon as it improves the loss,
//!   and the scan continues with the next candidate; it stops when a full cycle over the
//!   non-medoids since the last swap finds nothing.
//!
//! The initial medoids are a seeded uniform sample (as the paper's "random" start). For
//! more than `max_sample` points the algorithm runs on a seeded sample and every point is
//! then assigned to its nearest medoid.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::linalg::{manhattan, nearest_sq, pairwise, row_sq_norms, sq_euclid};
use super::{check_data, ClusterError, Clustering, Distance};
use crate::{Cancel, Matrix};

/// Raw k-medoids parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct KmedoidsParams {
    pub k: usize,
    pub distance: Distance,
    pub seed: u64,
    /// Maximum passes over the candidates.
    pub max_iter: usize,
    /// Above this many points FasterPAM runs on a seeded sample of this size (the
    /// distance matrix holds `max_sample^2` f32: 1.6 GB at 20,000).
    pub max_sample: usize,
}

impl KmedoidsParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            distance: Distance::Euclidean,
            seed: 0,
            max_iter: 100,
            max_sample: 20_000,
        }
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn distance(mut self, d: Distance) -> Self {
        self.distance = d;
        self
    }
    pub fn max_sample(mut self, n: usize) -> Self {
        self.max_sample = n;
        self
    }
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }

    pub fn check(&self, data: &Matrix) -> Result<ValidKmedoidsParams, ClusterError> {
        check_data(data, self.k)?;
        if self.max_iter == 0 {
            return Err(ClusterError::Param("max_iter must be at least 1".into()));
        }
        if self.max_sample < self.k.max(2) {
            return Err(ClusterError::Param(format!(
                "max_sample ({}) must be at least k ({}) and 2",
                self.max_sample, self.k
            )));
        }
        Ok(ValidKmedoidsParams(self.clone()))
    }
}

/// Parameters that passed [`KmedoidsParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct ValidKmedoidsParams(KmedoidsParams);

impl std::ops::Deref for ValidKmedoidsParams {
    type Target = KmedoidsParams;
    fn deref(&self) -> &KmedoidsParams {
        &self.0
    }
}

/// Result of FasterPAM on a distance matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct PamResult {
    pub medoids: Vec<usize>,
    pub labels: Vec<u32>,
    pub loss: f64,
    pub passes: usize,
    pub swaps: usize,
}

/// k-medoids (FasterPAM) on the rows of `data`.
pub fn kmedoids(
    data: &Matrix,
    params: &KmedoidsParams,
    cancel: &Cancel,
) -> Result<Clustering, ClusterError> {
    let p = params.check(data)?;
    let n = data.rows;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let (sub_idx, sub) = if n > p.max_sample {
        let mut idx = sample(&mut rng, n, p.max_sample).into_vec();
        idx.sort_unstable();
        let m = data.select_rows(&idx);
        (Some(idx), m)
    } else {
        (None, data.clone())
    };
    cancel.check()?;
    let dm = pairwise(&sub, p.distance);
    cancel.check()?;
    let init: Vec<usize> = sample(&mut rng, sub.rows, p.k).into_vec();
    let r = fasterpam(&dm, sub.rows, init, p.max_iter, cancel)?;
    drop(dm);
    let medoids: Vec<usize> = match &sub_idx {
        Some(idx) => r.medoids.iter().map(|&m| idx[m]).collect(),
        None => r.medoids.clone(),
    };
    let centres = data.select_rows(&medoids);
    let labels = assign(data, &centres, p.distance);
    let dist: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| point_dist(data.row(i), centres.row(labels[i] as usize), p.distance))
        .collect();
    Ok(Clustering {
        labels,
        centres,
        distances: dist.iter().map(|&v| v as f32).collect(),
        medoids: Some(medoids),
        objective: dist.iter().sum(),
        iterations: r.passes,
    })
}

fn point_dist(a: &[f32], b: &[f32], metric: Distance) -> f64 {
    match metric {
        Distance::Euclidean => sq_euclid(a, b).sqrt(),
        Distance::Manhattan => a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum(),
    }
}

/// Nearest row of `centres` for every row of `data` (ties to the lower index).
fn assign(data: &Matrix, centres: &Matrix, metric: Distance) -> Vec<u32> {
    match metric {
        Distance::Euclidean => {
            let xn = row_sq_norms(data);
            let cn = row_sq_norms(centres);
            nearest_sq(data, &xn, centres, &cn).0
        }
        Distance::Manhattan => (0..data.rows)
            .into_par_iter()
            .map(|i| {
                let (mut best, mut bd) = (0u32, f32::INFINITY);
                for j in 0..centres.rows {
                    let v = manhattan(data.row(i), centres.row(j));
                    if v < bd {
                        bd = v;
                        best = j as u32;
                    }
                }
                best
            })
            .collect(),
    }
}

/// Nearest (`near`, at `dn`) and second-nearest (`sec`, at `ds`) medoid slot of a point.
#[derive(Clone, Copy, Default)]
struct Nd {
    dn: f32,
    ds: f32,
    near: u32,
    sec: u32,
}

fn rescan(dm: &[f32], n: usize, o: usize, medoids: &[usize]) -> Nd {
    let row = &dm[o * n..(o + 1) * n];
    let (mut a, mut da, mut b, mut db) = (0u32, f32::INFINITY, 0u32, f32::INFINITY);
    for (i, &m) in medoids.iter().enumerate() {
        let v = row[m];
        if v < da {
            (b, db) = (a, da);
            (a, da) = (i as u32, v);
        } else if v < db {
            (b, db) = (i as u32, v);
        }
    }
    Nd {
        dn: da,
        ds: db,
        near: a,
        sec: b,
    }
}

/// FasterPAM on a symmetric `n x n` row-major distance matrix `dm`, from the initial
/// medoids `init` (distinct indices).
pub fn fasterpam(
    dm: &[f32],
    n: usize,
    init: Vec<usize>,
    max_iter: usize,
    cancel: &Cancel,
) -> Result<PamResult, ClusterError> {
    let k = init.len();
    assert!(
        k >= 1 && k <= n && dm.len() == n * n,
        "fasterpam: invalid arguments"
    );
    let mut medoids = init;
    let mut is_medoid = vec![false; n];
    for &m in &medoids {
        is_medoid[m] = true;
    }
    let mut a: Vec<Nd> = (0..n).map(|o| rescan(dm, n, o, &medoids)).collect();
    let mut loss: f64 = a.iter().map(|p| p.dn as f64).sum();
    let mut removal = vec![0f64; k];
    let update_removal = |a: &[Nd], removal: &mut [f64]| {
        removal.iter_mut().for_each(|v| *v = 0.0);
        if k > 1 {
            for p in a {
                removal[p.near as usize] += (p.ds - p.dn) as f64;
            }
        }
    };
    update_removal(&a, &mut removal);
    let mut delta = vec![0f64; k];
    let mut last: Option<usize> = None;
    let (mut passes, mut swaps) = (0, 0);
    'outer: while passes < max_iter {
        passes += 1;
        let mut swapped = false;
        for xc in 0..n {
            if last == Some(xc) {
                break 'outer;
            }
            if is_medoid[xc] {
                continue;
            }
            if xc % 256 == 0 {
                cancel.check()?;
            }
            let row = &dm[xc * n..(xc + 1) * n];
            // Shared accumulator plus per-medoid corrections (starting from removal loss).
            let mut shared = 0f64;
            let (best, best_delta) = if k == 1 {
                let total: f64 = row.iter().map(|&v| v as f64).sum();
                (0usize, total - loss)
            } else {
                delta.copy_from_slice(&removal);
                for (&doj, p) in row.iter().zip(&a) {
                    if doj < p.dn {
                        shared += (doj - p.dn) as f64;
                        delta[p.near as usize] += (p.dn - p.ds) as f64;
                    } else if doj < p.ds {
                        delta[p.near as usize] += (doj - p.ds) as f64;
                    }
                }
                let mut bi = 0;
                for i in 1..k {
                    if delta[i] < delta[bi] {
                        bi = i;
                    }
                }
                (bi, delta[bi] + shared)
            };
            if best_delta < -1e-9 * loss.abs().max(f64::MIN_POSITIVE) {
                // Eager swap: medoid slot `best` becomes xc.
                is_medoid[medoids[best]] = false;
                is_medoid[xc] = true;
                medoids[best] = xc;
                let b = best as u32;
                for (o, p) in a.iter_mut().enumerate() {
                    if p.near == b || p.sec == b {
                        *p = rescan(dm, n, o, &medoids);
                    } else {
                        let doj = row[o];
                        if doj < p.dn {
                            (p.sec, p.ds) = (p.near, p.dn);
                            (p.near, p.dn) = (b, doj);
                        } else if doj < p.ds {
                            (p.sec, p.ds) = (b, doj);
                        }
                    }
                }
                update_removal(&a, &mut removal);
                loss = a.iter().map(|p| p.dn as f64).sum();
                last = Some(xc);
                swapped = true;
                swaps += 1;
            }
        }
        if !swapped {
            break;
        }
    }
    Ok(PamResult {
        medoids,
        labels: a.iter().map(|p| p.near).collect(),
        loss,
        passes,
        swaps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random_points(n: usize, d: usize, seed: u64) -> Matrix {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let data = (0..n * d)
            .map(|i| r.gen_range(-1.0f32..1.0) + ((i / d) % 4) as f32 * 3.0)
            .collect();
        Matrix::from_vec(n, d, data)
    }

    fn loss_of(dm: &[f32], n: usize, med: &[usize]) -> f64 {
        (0..n)
            .map(|o| {
                med.iter()
                    .map(|&m| dm[o * n + m])
                    .fold(f32::INFINITY, f32::min) as f64
            })
            .sum()
    }

    /// Exhaustive optimum for tiny inputs: FasterPAM must reach a swap-local optimum, and
    /// on these inputs the global one.
    #[test]
    fn reaches_optimum_on_small_inputs() {
        for (seed, metric) in [
            (1, Distance::Euclidean),
            (2, Distance::Manhattan),
            (3, Distance::Euclidean),
        ] {
            let x = random_points(12, 3, seed);
            let dm = pairwise(&x, metric);
            let n = 12;
            let mut best = f64::INFINITY;
            for a in 0..n {
                for b in a + 1..n {
                    for c in b + 1..n {
                        best = best.min(loss_of(&dm, n, &[a, b, c]));
                    }
                }
            }
            let r = fasterpam(&dm, n, vec![0, 1, 2], 100, &Cancel::new()).unwrap();
            assert!((r.loss - loss_of(&dm, n, &r.medoids)).abs() < 1e-4);
            // no single swap improves the result
            for i in 0..3 {
                for x in 0..n {
                    if r.medoids.contains(&x) {
                        continue;
                    }
                    let mut m = r.medoids.clone();
                    m[i] = x;
                    assert!(loss_of(&dm, n, &m) >= r.loss - 1e-4);
                }
            }
            assert!(
                r.loss <= best * 1.05,
                "{metric:?}: {} vs optimum {best}",
                r.loss
            );
        }
    }

    #[test]
    fn sampled_run_assigns_everyone_and_is_deterministic() {
        let x = random_points(300, 4, 9);
        let p = KmedoidsParams::new(4)
            .seed(3)
            .max_sample(100)
            .distance(Distance::Manhattan);
        let a = kmedoids(&x, &p, &Cancel::new()).unwrap();
        let b = kmedoids(&x, &p, &Cancel::new()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.labels.len(), 300);
        let med = a.medoids.as_ref().unwrap();
        for (j, &m) in med.iter().enumerate() {
            assert_eq!(a.labels[m], j as u32, "a medoid belongs to its own cluster");
            assert_eq!(a.distances[m], 0.0);
        }
        // the four well-separated groups (row % 4) each get a medoid
        let mut groups: Vec<usize> = med.iter().map(|&m| m % 4).collect();
        groups.sort_unstable();
        assert_eq!(groups, vec![0, 1, 2, 3]);
    }

    #[test]
    fn duplicates_give_zero_loss_without_nan() {
        let x = Matrix::from_rows(&vec![vec![1.0, 1.0]; 10]);
        let r = kmedoids(&x, &KmedoidsParams::new(3), &Cancel::new()).unwrap();
        assert_eq!(r.objective, 0.0);
        assert!(r.distances.iter().all(|v| *v == 0.0));
        let one = kmedoids(
            &random_points(20, 2, 4),
            &KmedoidsParams::new(1),
            &Cancel::new(),
        )
        .unwrap();
        assert!(one.objective.is_finite());
    }
}
