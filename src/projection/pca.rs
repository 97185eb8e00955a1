//! Principal component analysis, written here rather than taken from linfa-reduction:
//! linfa's `Pca` was seen to panic inside `sort_eig` (a NaN in a comparison) on
//! embeddings with constant dimensions, and it goes through a full SVD where two
//! components are needed. This one forms the covariance matrix with the GEMM in fixed
//! row blocks (deterministic), then finds the top eigenvectors by seeded subspace
//! iteration with a Rayleigh-Ritz step (Jacobi on the small projected matrix). Signs are
//! fixed so that each component's largest-magnitude loading is positive.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::cluster::linalg::gemm_atb;
use crate::{Cancel, Cancelled, Matrix};

/// Fitted principal axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// `c` components, each of length `d`, orthonormal.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variances: Vec<f64>,
}

const PARTS: usize = 8;
const ROWS: usize = 1024;

fn covariance(x: &Matrix, mean: &[f64], cancel: &Cancel) -> Result<Vec<f64>, Cancelled> {
    let (n, d) = (x.rows, x.cols);
    let per = n.div_ceil(PARTS).max(1);
    let parts: Result<Vec<Vec<f64>>, Cancelled> = (0..PARTS)
        .into_par_iter()
        .map(|p| {
            let mut acc = vec![0f64; d * d];
            let mut blk = vec![0f32; ROWS * d];
            let mut out = vec![0f32; d * d];
            let (s, e) = ((p * per).min(n), ((p + 1) * per).min(n));
            let mut r = s;
            while r < e {
                cancel.check()?;
                let m = ROWS.min(e - r);
                for i in 0..m {
                    for (t, v) in x.row(r + i).iter().enumerate() {
                        blk[i * d + t] = (*v as f64 - mean[t]) as f32;
                    }
                }
                gemm_atb(&blk[..m * d], m, d, &blk[..m * d], d, &mut out);
                acc.iter_mut().zip(&out).for_each(|(a, &b)| *a += b as f64);
                r += m;
            }
            Ok(acc)
        })
        .collect();
    let mut c = vec![0f64; d * d];
    for p in parts? {
        c.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    let den = (n.max(2) - 1) as f64;
    c.iter_mut().for_each(|v| *v /= den);
    Ok(c)
}

/// Cyclic Jacobi eigen-decomposition of a small symmetric matrix (row-major `m x m`).
/// Returns eigenvalues and eigenvectors as columns of `v` (row-major).
fn jacobi(mut a: Vec<f64>, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * m + j].powi(2))
            .sum();
        let diag: f64 = (0..m).map(|i| a[i * m + i].powi(2)).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (akp, akq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let (apk, aqk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for k in 0..m {
                    let (vkp, vkq) = (v[k * m + p], v[k * m + q]);
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..m).map(|i| a[i * m + i]).collect(), v)
}

/// Modified Gram-Schmidt on the columns of `q` (`d x b`, column vectors stored as rows of
/// `cols`). A column that vanishes is replaced by a unit vector (deterministic).
fn orthonormalise(cols: &mut [Vec<f64>]) {
    let d = cols.first().map_or(0, Vec::len);
    for j in 0..cols.len() {
        for attempt in 0..=d {
            let n0 = cols[j].iter().map(|v| v * v).sum::<f64>().sqrt();
            // Two projection passes keep the basis orthogonal even for nearly dependent
            // columns (rank-deficient covariance, e.g. constant dimensions).
            for _ in 0..2 {
                for i in 0..j {
                    let dot: f64 = cols[j].iter().zip(&cols[i]).map(|(a, b)| a * b).sum();
                    let (head, tail) = cols.split_at_mut(j);
                    tail[0]
                        .iter_mut()
                        .zip(&head[i])
                        .for_each(|(a, b)| *a -= dot * b);
                }
            }
            let nrm = cols[j].iter().map(|v| v * v).sum::<f64>().sqrt();
            if nrm > 1e-150 && nrm > 1e-9 * n0 {
                cols[j].iter_mut().for_each(|v| *v /= nrm);
                break;
            }
            cols[j] = vec![0.0; d];
            cols[j][(j + attempt) % d] = 1.0;
        }
    }
}

/// Fits the top `c` principal axes of `x` (seeded, deterministic).
pub fn fit(x: &Matrix, c: usize, seed: u64, cancel: &Cancel) -> Result<Pca, Cancelled> {
    let (n, d) = (x.rows, x.cols);
    let mut mean = vec![0f64; d];
    for r in x.iter_rows() {
        mean.iter_mut().zip(r).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let cov = covariance(x, &mean, cancel)?;
    let c = c.min(d).max(1);
    let b = (c + 6).min(d);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut q: Vec<Vec<f64>> = (0..b)
        .map(|_| (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    orthonormalise(&mut q);
    let mut prev = vec![f64::INFINITY; c];
    let mut vals = vec![0f64; b];
    for _ in 0..500 {
        cancel.check()?;
        let mut z: Vec<Vec<f64>> = q
            .par_iter()
            .map(|col| {
                (0..d)
                    .map(|i| {
                        cov[i * d..(i + 1) * d]
                            .iter()
                            .zip(col)
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect()
            })
            .collect();
        orthonormalise(&mut z);
        // Rayleigh-Ritz: small projected matrix, rotate the basis to its eigenvectors.
        let cz: Vec<Vec<f64>> = z
            .iter()
            .map(|col| {
                (0..d)
                    .map(|i| {
                        cov[i * d..(i + 1) * d]
                            .iter()
                            .zip(col)
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let mut h = vec![0f64; b * b];
        for i in 0..b {
            for j in 0..b {
                h[i * b + j] = z[i].iter().zip(&cz[j]).map(|(a, b)| a * b).sum();
            }
        }
        for i in 0..b {
            for j in i + 1..b {
                let s = 0.5 * (h[i * b + j] + h[j * b + i]);
                h[i * b + j] = s;
                h[j * b + i] = s;
            }
        }
        let (ev, vecs) = jacobi(h, b);
        let mut order: Vec<usize> = (0..b).collect();
        order.sort_by(|&i, &j| ev[j].total_cmp(&ev[i]).then(i.cmp(&j)));
        q = order
            .iter()
            .map(|&o| {
                let mut col = vec![0f64; d];
                for (t, zt) in z.iter().enumerate() {
                    let w = vecs[t * b + o];
                    col.iter_mut().zip(zt).for_each(|(a, v)| *a += w * v);
                }
                col
            })
            .collect();
        vals = order.iter().map(|&o| ev[o]).collect();
        let scale = vals[0].abs().max(f64::MIN_POSITIVE);
        let done = (0..c).all(|i| (vals[i] - prev[i]).abs() <= 1e-12 * scale);
        prev.copy_from_slice(&vals[..c]);
        if done {
            break;
        }
    }
    orthonormalise(&mut q);
    let mut components: Vec<Vec<f64>> = q.into_iter().take(c).collect();
    for comp in &mut components {
        let big = comp
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if big < 0.0 {
            comp.iter_mut().for_each(|v| *v = -*v);
        }
    }
    Ok(Pca {
        mean,
        components,
        variances: vals[..c].iter().map(|v| v.max(0.0)).collect(),
    })
}

impl Pca {
    /// Coordinates of every row of `x` on the components.
    pub fn transform(&self, x: &Matrix) -> Vec<Vec<f64>> {
        (0..x.rows)
            .into_par_iter()
            .map(|i| {
                let r = x.row(i);
                self.components
                    .iter()
                    .map(|comp| {
                        comp.iter()
                            .zip(r)
                            .zip(&self.mean)
                            .map(|((w, &v), m)| w * (v as f64 - m))
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }
}

/// 2D PCA map.
pub fn pca_2d(x: &Matrix, seed: u64, cancel: &Cancel) -> Result<Vec<[f32; 2]>, Cancelled> {
    let p = fit(x, 2, seed, cancel)?;
    Ok(p.transform(x)
        .into_iter()
        .map(|v| [v[0] as f32, v.get(1).copied().unwrap_or(0.0) as f32])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Principal axes of a known anisotropic cloud: the first two components must be the
    /// x and y axes (variances 16 and 4 by construction), the constant dimension ignored.
    #[test]
    fn recovers_known_axes_and_handles_constant_dims() {
        let mut r = ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<Vec<f32>> = (0..2000)
            .map(|_| {
                vec![
                    4.0 * r.gen_range(-1.7f32..1.7),
                    2.0 * r.gen_range(-1.7f32..1.7),
                    7.0,
                    0.1 * r.gen_range(-1.0f32..1.0),
                ]
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let p = fit(&x, 2, 0, &Cancel::new()).unwrap();
        assert!(p.components[0][0] > 0.999, "{:?}", p.components[0]);
        assert!(p.components[1][1].abs() > 0.999, "{:?}", p.components[1]);
        assert!(p.variances[0] > p.variances[1]);
        let xy = pca_2d(&x, 0, &Cancel::new()).unwrap();
        assert_eq!(xy, pca_2d(&x, 0, &Cancel::new()).unwrap());
        let flat = Matrix::from_rows(&vec![vec![1.0, 2.0, 3.0]; 10]);
        let z = pca_2d(&flat, 0, &Cancel::new()).unwrap();
        assert!(z.iter().all(|p| p[0] == 0.0 && p[1] == 0.0));
    }
}
