//! Trustworthiness of a 2D map (Venna & Kaski 2001), as scikit-learn's
//! `sklearn.manifold.trustworthiness` (Euclidean in both spaces), computed on a seeded
//! sample so that it stays cheap on large inputs:
//! `T(k) = 1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ N_k^map(i)} max(0, r(i, j) - k)`,
//! where `r(i, j)` is the rank of `j` among the neighbours of `i` in the input space.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::cluster::linalg::sq_euclid;
use crate::Matrix;

/// Trustworthiness with `k` neighbours on at most `sample_size` points (seeded).
/// Returns 1.0 when there are too few points for the formula (n <= 2k + 1... as sklearn
/// requires k < n / 2).
pub fn trustworthiness(
    high: &Matrix,
    low: &[[f32; 2]],
    k: usize,
    sample_size: usize,
    seed: u64,
) -> f64 {
    assert_eq!(high.rows, low.len(), "map and data must be aligned");
    let n_all = high.rows;
    let idx: Vec<usize> = if n_all > sample_size {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut v = sample(&mut rng, n_all, sample_size).into_vec();
        v.sort_unstable();
        v
    } else {
        (0..n_all).collect()
    };
    let n = idx.len();
    if k == 0 || 2 * k >= n {
        return 1.0;
    }
    let penalty: f64 = (0..n)
        .into_par_iter()
        .map(|a| {
            let xa = high.row(idx[a]);
            // ranks in the input space (1 = nearest), self excluded
            let mut order: Vec<(f64, usize)> = (0..n)
                .filter(|&b| b != a)
                .map(|b| (sq_euclid(xa, high.row(idx[b])), b))
                .collect();
            order.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            let mut rank = vec![0usize; n];
            for (r, &(_, b)) in order.iter().enumerate() {
                rank[b] = r + 1;
            }
            let ya = low[idx[a]];
            let mut emb: Vec<(f64, usize)> = (0..n)
                .filter(|&b| b != a)
                .map(|b| {
                    let yb = low[idx[b]];
                    let (dx, dy) = ((ya[0] - yb[0]) as f64, (ya[1] - yb[1]) as f64);
                    (dx * dx + dy * dy, b)
                })
                .collect();
            emb.select_nth_unstable_by(k - 1, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            emb[..k]
                .iter()
                .map(|&(_, b)| (rank[b] as f64 - k as f64).max(0.0))
                .sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    let (nf, kf) = (n as f64, k as f64);
    1.0 - penalty * (2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from scikit-learn 1.9.1:
    /// `X = [[((i*37+t*11)%101)/64 + ((i*i*13+t*t*7+i*t)%97)/8192 for t in range(5)] for i in range(60)]`
    /// (float32), `Y = [[X[i,0]+0.5*X[i,1], X[i,2]-0.25*X[i,3]+((i*7)%5)/16] for i in range(60)]`
    /// (float32), `trustworthiness(X, Y, n_neighbors=10)` = 0.9463295880149812 and
    /// `n_neighbors=5` = 0.9682051282051282. No distance ties, so ranks are unambiguous.
    #[test]
    fn matches_sklearn() {
        let x = Matrix::from_rows(
            &(0..60)
                .map(|i: i64| {
                    (0..5i64)
                        .map(|t| {
                            ((i * 37 + t * 11) % 101) as f64 / 64.0
                                + ((i * i * 13 + t * t * 7 + i * t) % 97) as f64 / 8192.0
                        })
                        .map(|v| v as f32)
                        .collect()
                })
                .collect::<Vec<Vec<f32>>>(),
        );
        let y: Vec<[f32; 2]> = (0..60)
            .map(|i| {
                let r = x.row(i);
                let a = r[0] as f64 + 0.5 * r[1] as f64;
                let b = r[2] as f64 - 0.25 * r[3] as f64 + ((i * 7) % 5) as f64 / 16.0;
                [a as f32, b as f32]
            })
            .collect();
        assert!((trustworthiness(&x, &y, 10, 1000, 0) - 0.9463295880149812).abs() < 1e-9);
        assert!((trustworthiness(&x, &y, 5, 1000, 0) - 0.9682051282051282).abs() < 1e-9);
        let same: Vec<[f32; 2]> = (0..60).map(|i| [x.row(i)[0], x.row(i)[1]]).collect();
        let two = Matrix::from_rows(
            &(0..60)
                .map(|i| vec![same[i][0], same[i][1]])
                .collect::<Vec<_>>(),
        );
        assert!((trustworthiness(&two, &same, 10, 1000, 0) - 1.0).abs() < 1e-12);
    }
}
