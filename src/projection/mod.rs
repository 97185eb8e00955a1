//! 2D maps of the embeddings: PCA, UMAP and t-SNE, all seeded and deterministic, plus
//! trustworthiness to tell users how faithful a map is.

pub mod knn;
pub mod pca;
pub mod trust;
pub mod tsne;
pub mod umap;

use crate::pipeline::ProjectionKind;
use crate::{Cancel, Cancelled, Matrix};

pub use trust::trustworthiness;
pub use tsne::{tsne, TsneParams};
pub use umap::{umap, UmapParams};

/// Why a projection could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    #[error("nothing to project: the dataset is empty")]
    Empty,
    #[error("embedding row {row} holds a non-finite value (NaN or infinity)")]
    NonFinite { row: usize },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// Sample size and neighbourhood for the reported trustworthiness.
pub const TRUST_SAMPLE: usize = 2000;
pub const TRUST_K: usize = 10;

/// 2D position of every row of `data` under the chosen method.
pub fn project(
    data: &Matrix,
    kind: ProjectionKind,
    seed: u64,
    cancel: &Cancel,
) -> Result<Vec<[f32; 2]>, ProjectionError> {
    if data.rows == 0 {
        return Err(ProjectionError::Empty);
    }
    if let Some(i) = data.data.iter().position(|v| !v.is_finite()) {
        return Err(ProjectionError::NonFinite {
            row: i / data.cols.max(1),
        });
    }
    if data.cols == 0 {
        return Ok(vec![[0.0, 0.0]; data.rows]);
    }
    let xy = match kind {
        ProjectionKind::Pca => pca::pca_2d(data, seed, cancel)?,
        ProjectionKind::Umap => umap(
            data,
            &UmapParams {
                seed,
                ..Default::default()
            },
            cancel,
        )?,
        ProjectionKind::Tsne => tsne(
            data,
            &TsneParams {
                seed,
                ..Default::default()
            },
            cancel,
        )?,
    };
    Ok(xy)
}

/// Trustworthiness (k = 10) of `xy` on a seeded sample of at most 2,000 points.
pub fn map_trustworthiness(data: &Matrix, xy: &[[f32; 2]], seed: u64) -> f64 {
    trustworthiness(data, xy, TRUST_K, TRUST_SAMPLE, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_deterministic_and_finite() {
        let rows: Vec<Vec<f32>> = (0..120)
            .map(|i| {
                vec![
                    (i % 7) as f32,
                    (i / 7) as f32 * 0.5,
                    3.0,
                    ((i * 13) % 5) as f32,
                ]
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        for kind in [
            ProjectionKind::Pca,
            ProjectionKind::Umap,
            ProjectionKind::Tsne,
        ] {
            let a = project(&x, kind, 3, &Cancel::new()).unwrap();
            assert_eq!(a.len(), 120);
            assert!(
                a.iter().all(|p| p[0].is_finite() && p[1].is_finite()),
                "{kind:?}"
            );
            assert_eq!(a, project(&x, kind, 3, &Cancel::new()).unwrap(), "{kind:?}");
        }
        assert_eq!(
            project(&Matrix::zeros(0, 3), ProjectionKind::Pca, 0, &Cancel::new()),
            Err(ProjectionError::Empty)
        );
        let one = project(
            &Matrix::from_rows(&[vec![1.0, 2.0]]),
            ProjectionKind::Umap,
            0,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        let c = Cancel::new();
        c.cancel();
        assert_eq!(
            project(&x, ProjectionKind::Umap, 0, &c),
            Err(ProjectionError::Cancelled(Cancelled))
        );
    }
}
