//! Choosing k: the k-means inertia curve (with its elbow) and the silhouette on a seeded
//! sample across a range of k. The window plots the curves; `suggested` is the k with the
//! best silhouette, or the elbow where no silhouette is defined.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::kmeans::{kmeans, KmeansParams};
use super::metrics::silhouette;
use super::{check_data, ClusterError, Distance};
use crate::{Cancel, Matrix};

/// Inclusive range of k values to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KRange {
    pub min: usize,
    pub max: usize,
    pub step: usize,
}

impl KRange {
    pub fn ks(&self) -> Vec<usize> {
        (self.min..=self.max).step_by(self.step.max(1)).collect()
    }
}

/// The curves across k and the suggestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KChoice {
    pub ks: Vec<usize>,
    /// k-means inertia on the fitted points, per k.
    pub inertia: Vec<f64>,
    /// Mean silhouette on the sample, per k (`None` for k = 1).
    pub silhouette: Vec<Option<f64>>,
    /// k at the elbow of the inertia curve (largest distance below the chord of the
    /// normalised curve).
    pub elbow: usize,
    pub suggested: usize,
    /// Rows the k-means runs were fitted on (a seeded sample of large inputs).
    pub fitted_rows: usize,
}

/// Runs k-means for each k in `range` on at most `fit_sample` rows and scores each with
/// the silhouette on at most `silhouette_sample` of them.
pub fn choose_k(
    data: &Matrix,
    range: KRange,
    fit_sample: usize,
    silhouette_sample: usize,
    seed: u64,
    cancel: &Cancel,
) -> Result<KChoice, ClusterError> {
    let ks = range.ks();
    let kmax = *ks
        .last()
        .ok_or_else(|| ClusterError::Param(format!("empty k range {range:?}")))?;
    check_data(data, range.min)?;
    let fitted = if data.rows > fit_sample.max(kmax) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x006b_6368_6f6f_7365);
        let mut idx = sample(&mut rng, data.rows, fit_sample.max(kmax)).into_vec();
        idx.sort_unstable();
        data.select_rows(&idx)
    } else {
        data.clone()
    };
    check_data(&fitted, kmax)?;
    let mut inertia = Vec::with_capacity(ks.len());
    let mut sil = Vec::with_capacity(ks.len());
    for &k in &ks {
        cancel.check()?;
        let c = kmeans(&fitted, &KmeansParams::new(k).seed(seed), cancel)?;
        inertia.push(c.objective);
        sil.push(silhouette(
            &fitted,
            &c.labels,
            Distance::Euclidean,
            silhouette_sample,
            seed,
        ));
    }
    let elbow = elbow(&ks, &inertia);
    let suggested = ks
        .iter()
        .zip(&sil)
        .filter_map(|(&k, s)| s.map(|s| (k, s)))
        .fold(None, |best: Option<(usize, f64)>, (k, s)| match best {
            Some((_, bs)) if bs >= s => best,
            _ => Some((k, s)),
        })
        .map_or(elbow, |(k, _)| k);
    Ok(KChoice {
        ks,
        inertia,
        silhouette: sil,
        elbow,
        suggested,
        fitted_rows: fitted.rows,
    })
}

/// Elbow ("kneedle"): the point of the normalised curve farthest below its chord.
fn elbow(ks: &[usize], y: &[f64]) -> usize {
    let n = ks.len();
    if n < 3 {
        return ks[0];
    }
    let (x0, x1) = (ks[0] as f64, ks[n - 1] as f64);
    let (ymax, ymin) = (
        y.iter().cloned().fold(f64::MIN, f64::max),
        y.iter().cloned().fold(f64::MAX, f64::min),
    );
    let span = (ymax - ymin).max(f64::MIN_POSITIVE);
    let (mut best, mut bd) = (ks[0], f64::MIN);
    for (i, &k) in ks.iter().enumerate() {
        let xn = (k as f64 - x0) / (x1 - x0);
        let yn = (y[i] - ymin) / span;
        let chord = 1.0 - xn; // from (0, 1) to (1, 0) for a decreasing curve
        let d = chord - yn;
        if d > bd {
            bd = d;
            best = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn suggests_the_true_number_of_blobs() {
        let mut r = ChaCha8Rng::seed_from_u64(5);
        let ctr = [[0.0f32, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]];
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|i| {
                ctr[i % 4]
                    .iter()
                    .map(|&c| c + r.gen_range(-1.0..1.0))
                    .collect()
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let ch = choose_k(
            &x,
            KRange {
                min: 1,
                max: 8,
                step: 1,
            },
            10_000,
            300,
            0,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(ch.ks, (1..=8).collect::<Vec<_>>());
        assert_eq!(ch.silhouette[0], None);
        assert_eq!(ch.suggested, 4);
        assert_eq!(ch.elbow, 4);
        assert!(ch.inertia.windows(2).all(|w| w[1] <= w[0] * 1.05));
        assert!(choose_k(
            &x,
            KRange {
                min: 1,
                max: 500,
                step: 1
            },
            10_000,
            300,
            0,
            &Cancel::new()
        )
        .is_err());
    }
}
