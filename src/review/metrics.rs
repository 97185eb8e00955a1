//! Clustering quality against a reference labelling: homogeneity, completeness,
//! V-measure and NMI (arithmetic normalisation), from the contingency table, as defined by
//! Rosenberg & Hirschberg (2007) and implemented by scikit-learn
//! (`homogeneity_completeness_v_measure`, `normalized_mutual_info_score`).
//!
//! With arithmetic normalisation NMI equals the V-measure with beta = 1. The numbers come
//! from [`crate::cluster::metrics`], so the window and `metrics.json` agree exactly.

use serde::{Deserialize, Serialize};

use crate::cluster::metrics as cm;

/// Scores of a clustering against one reference labelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    pub homogeneity: f64,
    pub completeness: f64,
    pub v_measure: f64,
    pub nmi: f64,
}

/// Dataset-level scores of the current review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetMetrics {
    /// Images counted (not excluded).
    pub images: usize,
    /// Clusters with at least one counted image.
    pub clusters: usize,
    pub modality: LabelMetrics,
    pub anatomy: LabelMetrics,
}

/// Scores of `pred` against `truth` (same length). Empty input or a single class on both
/// sides scores 1, as in scikit-learn.
pub fn label_metrics(truth: &[u32], pred: &[u32]) -> LabelMetrics {
    assert_eq!(truth.len(), pred.len(), "label vectors differ in length");
    let (homogeneity, completeness, v_measure) =
        cm::homogeneity_completeness_v_measure(truth, pred);
    LabelMetrics {
        homogeneity,
        completeness,
        v_measure,
        nmi: cm::nmi(truth, pred),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn() {
        // scikit-learn: homogeneity_completeness_v_measure([0,0,1,1,2,2], [0,0,1,1,1,2])
        // = (0.7103099178571525, 0.7715561736794712, 0.739667376800759), and
        // normalized_mutual_info_score gives 0.7396673768007592. Also checked in closed form.
        let t = [0, 0, 1, 1, 2, 2];
        let p = [0, 0, 1, 1, 1, 2];
        let m = label_metrics(&t, &p);
        let ln = f64::ln;
        let n = 6.0;
        let mi = (2.0 / n) * ln(2.0 * n / 4.0)
            + (2.0 / n) * ln(2.0 * n / (2.0 * 3.0))
            + (1.0 / n) * ln(n / (2.0 * 3.0))
            + (1.0 / n) * ln(n / 2.0);
        let h_t = ln(3.0);
        let h_p = -(2.0 / n * ln(2.0 / n) + 3.0 / n * ln(3.0 / n) + 1.0 / n * ln(1.0 / n));
        assert!((m.homogeneity - mi / h_t).abs() < 1e-12);
        assert!((m.completeness - mi / h_p).abs() < 1e-12);
        assert!((m.nmi - m.v_measure).abs() < 1e-12);
        assert!(
            (m.homogeneity - 0.710_309_917_857_152_5).abs() < 1e-9,
            "{m:?}"
        );
        assert!(
            (m.completeness - 0.771_556_173_679_471_2).abs() < 1e-9,
            "{m:?}"
        );
        assert!((m.nmi - 0.739_667_376_800_759_2).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn perfect_and_degenerate() {
        let m = label_metrics(&[1, 1, 2, 2], &[7, 7, 3, 3]);
        assert!((m.nmi - 1.0).abs() < 1e-12 && (m.homogeneity - 1.0).abs() < 1e-12);
        let one = label_metrics(&[0, 0, 0], &[0, 1, 2]);
        assert_eq!(one.homogeneity, 1.0);
        assert_eq!(one.completeness, 0.0);
        assert_eq!(label_metrics(&[], &[]).nmi, 1.0);
    }
}
