//! Clustering of embeddings: k-means (exact Lloyd with batched GEMM distances, mini-batch
//! above a size threshold), k-medoids (FasterPAM), choice of k, and quality metrics.
//!
//! Every algorithm is seeded and deterministic: the same seed gives bit-identical output
//! whatever the number of threads, because parallel work is split into fixed blocks and
//! reduced in block order.

pub mod choose_k;
pub mod kmeans;
pub mod kmedoids;
pub(crate) mod linalg;
pub mod metrics;

use serde::{Deserialize, Serialize};

use crate::pipeline::Algo;
use crate::{Cancel, Cancelled, Matrix};

pub use choose_k::{choose_k, KChoice, KRange};
pub use kmeans::{kmeans, kmeans_plusplus_centres, KmeansParams};
pub use kmedoids::{kmedoids, KmedoidsParams};

/// The result of a clustering run. All vectors are aligned with the rows of the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// Cluster of each point, `0..k`.
    pub labels: Vec<u32>,
    /// One row per cluster: the k-means centre, or the medoid's own vector.
    pub centres: Matrix,
    /// Distance of each point to its centre (or medoid), in the clustering's metric.
    pub distances: Vec<f32>,
    /// Row index of each cluster's medoid (k-medoids only).
    pub medoids: Option<Vec<usize>>,
    /// Inertia (sum of squared distances) for k-means; total distance (loss) for k-medoids.
    pub objective: f64,
    /// Lloyd iterations, mini-batch steps, or FasterPAM passes.
    pub iterations: usize,
}

impl Clustering {
    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.centres.rows
    }

    /// Exemplar row of each cluster: its medoid, or else the member nearest its centre.
    /// `None` for a cluster that has no member.
    pub fn exemplars(&self) -> Vec<Option<usize>> {
        if let Some(m) = &self.medoids {
            return m.iter().map(|&i| Some(i)).collect();
        }
        let mut best: Vec<Option<(f32, usize)>> = vec![None; self.k()];
        for (i, (&l, &d)) in self.labels.iter().zip(&self.distances).enumerate() {
            let slot = &mut best[l as usize];
            if slot.is_none_or(|(bd, _)| d < bd) {
                *slot = Some((d, i));
            }
        }
        best.into_iter().map(|b| b.map(|(_, i)| i)).collect()
    }

    /// Number of members of each cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![0; self.k()];
        for &l in &self.labels {
            s[l as usize] += 1;
        }
        s
    }
}

/// Dissimilarity between embedding vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    #[default]
    Euclidean,
    Manhattan,
}

/// Why a clustering could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    #[error("nothing to cluster: the dataset is empty")]
    Empty,
    #[error("k = {k} is out of range: it must be between 1 and the number of points ({n})")]
    BadK { k: usize, n: usize },
    #[error("invalid clustering parameter: {0}")]
    Param(String),
    #[error("embedding row {row} holds a non-finite value (NaN or infinity)")]
    NonFinite { row: usize },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// Shared validation of the data and k; returns nothing but errors.
pub(crate) fn check_data(data: &Matrix, k: usize) -> Result<(), ClusterError> {
    if data.rows == 0 || data.cols == 0 {
        return Err(ClusterError::Empty);
    }
    if k < 1 || k > data.rows {
        return Err(ClusterError::BadK { k, n: data.rows });
    }
    if let Some(i) = data.data.iter().position(|v| !v.is_finite()) {
        return Err(ClusterError::NonFinite { row: i / data.cols });
    }
    Ok(())
}

/// Clusters `data` with the run's algorithm and defaults: k-means (Euclidean), or
/// FasterPAM with `distance`. This is the entry point the pipeline uses.
pub fn cluster(
    data: &Matrix,
    algo: Algo,
    k: usize,
    distance: Distance,
    seed: u64,
    cancel: &Cancel,
) -> Result<Clustering, ClusterError> {
    match algo {
        Algo::Kmeans => kmeans(data, &KmeansParams::new(k).seed(seed), cancel),
        Algo::Kmedoids => kmedoids(
            data,
            &KmedoidsParams::new(k).seed(seed).distance(distance),
            cancel,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_k_and_empty_data_are_errors() {
        let c = Cancel::new();
        let m = Matrix::from_rows(&[vec![0.0, 1.0], vec![1.0, 0.0]]);
        for algo in [Algo::Kmeans, Algo::Kmedoids] {
            assert_eq!(
                cluster(&m, algo, 0, Distance::Euclidean, 0, &c),
                Err(ClusterError::BadK { k: 0, n: 2 })
            );
            assert_eq!(
                cluster(&m, algo, 3, Distance::Euclidean, 0, &c),
                Err(ClusterError::BadK { k: 3, n: 2 })
            );
            assert_eq!(
                cluster(&Matrix::zeros(0, 4), algo, 1, Distance::Euclidean, 0, &c),
                Err(ClusterError::Empty)
            );
        }
        let bad = Matrix::from_rows(&[vec![0.0, 1.0], vec![f32::NAN, 0.0]]);
        assert_eq!(
            cluster(&bad, Algo::Kmeans, 1, Distance::Euclidean, 0, &c),
            Err(ClusterError::NonFinite { row: 1 })
        );
    }

    #[test]
    fn cancelled_run_stops() {
        let c = Cancel::new();
        c.cancel();
        let m = Matrix::from_rows(&[vec![0.0], vec![1.0], vec![5.0]]);
        assert_eq!(
            cluster(&m, Algo::Kmeans, 2, Distance::Euclidean, 0, &c),
            Err(ClusterError::Cancelled(Cancelled))
        );
    }
}
