//! Clustering quality against a reference labelling: homogeneity, completeness,
//! V-measure and NMI (arithmetic normalisation), from the contingency table, as defined by
//! Rosenberg & Hirschberg (2007) and implemented by scikit-learn
//! (`homogeneity_completeness_v_measure`, `normalized_mutual_info_score`).
//!
//! With arithmetic normalisation NMI equals the V-measure with beta = 1. The values agree
//! with [`crate::cluster::metrics`] (used for `metrics.json`) to rounding.

use serde::{Deserialize, Serialize};

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
///
/// One pass builds a dense contingency table (labels are mapped to dense indices through a
/// sort of the distinct values, not a hash per sample), so a review of a million images
/// rescores in milliseconds after each edit. The values equal
/// [`crate::cluster::metrics`] (checked in the tests), which follows scikit-learn.
pub fn label_metrics(truth: &[u32], pred: &[u32]) -> LabelMetrics {
    assert_eq!(truth.len(), pred.len(), "label vectors differ in length");
    if truth.is_empty() {
        return LabelMetrics {
            homogeneity: 1.0,
            completeness: 1.0,
            v_measure: 1.0,
            nmi: 1.0,
        };
    }
    let (ti, r) = dense(truth);
    let (pi, c) = dense(pred);
    let mut table = vec![0u64; r * c];
    let mut a = vec![0u64; r];
    let mut b = vec![0u64; c];
    for (&x, &y) in ti.iter().zip(&pi) {
        table[x as usize * c + y as usize] += 1;
        a[x as usize] += 1;
        b[y as usize] += 1;
    }
    let n = truth.len() as f64;
    let (h_t, h_p) = (entropy(&a), entropy(&b));
    let mi = if r == 1 || c == 1 {
        0.0
    } else {
        let ln_n = n.ln();
        let mut mi = 0.0;
        for x in 0..r {
            for y in 0..c {
                let v = table[x * c + y];
                if v > 0 {
                    let v = v as f64;
                    mi += (v / n) * (v.ln() + ln_n - (a[x] as f64).ln() - (b[y] as f64).ln());
                }
            }
        }
        mi.max(0.0)
    };
    let homogeneity = if h_t == 0.0 { 1.0 } else { mi / h_t };
    let completeness = if h_p == 0.0 { 1.0 } else { mi / h_p };
    let v_measure = if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    };
    let nmi = if r == 1 && c == 1 {
        1.0
    } else if mi == 0.0 {
        0.0
    } else {
        mi / ((h_t + h_p) / 2.0)
    };
    LabelMetrics {
        homogeneity,
        completeness,
        v_measure,
        nmi,
    }
}

/// Number of distinct values.
pub fn distinct(x: &[u32]) -> usize {
    if x.is_empty() {
        0
    } else {
        dense(x).1
    }
}

/// Dense indices `0..m` of the values, in value order, and `m`.
fn dense(x: &[u32]) -> (Vec<u32>, usize) {
    let max = x.iter().copied().max().unwrap_or(0) as usize;
    if max < 1 << 20 {
        // Small label ranges (the usual case): a presence table, no sort.
        let mut map = vec![u32::MAX; max + 1];
        x.iter().for_each(|&v| map[v as usize] = 0);
        let mut m = 0u32;
        for slot in map.iter_mut().filter(|s| **s == 0) {
            *slot = m;
            m += 1;
        }
        (x.iter().map(|&v| map[v as usize]).collect(), m as usize)
    } else {
        let mut keys: Vec<u32> = x.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let ids = x
            .iter()
            .map(|v| keys.binary_search(v).expect("present") as u32)
            .collect();
        (ids, keys.len())
    }
}

/// Entropy (nats) of a count vector, as scikit-learn computes it.
fn entropy(counts: &[u64]) -> f64 {
    let nz: Vec<f64> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64)
        .collect();
    if nz.len() <= 1 {
        return 0.0;
    }
    let s: f64 = nz.iter().sum();
    -nz.iter().map(|&p| (p / s) * (p.ln() - s.ln())).sum::<f64>()
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
    fn agrees_with_the_cluster_module() {
        use crate::cluster::metrics as cm;
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for case in 0..30 {
            let n = rng.gen_range(1..400);
            let (r, c) = (rng.gen_range(1..8), rng.gen_range(1..12));
            let t: Vec<u32> = (0..n).map(|_| rng.gen_range(0..r) * 7).collect();
            let p: Vec<u32> = (0..n).map(|_| rng.gen_range(0..c) + 1000).collect();
            let m = label_metrics(&t, &p);
            let (h, cc, v) = cm::homogeneity_completeness_v_measure(&t, &p);
            let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
            assert!(
                close(m.homogeneity, h) && close(m.completeness, cc) && close(m.v_measure, v),
                "case {case}: {m:?} vs {h} {cc} {v}"
            );
            assert!(
                close(m.nmi, cm::nmi(&t, &p)),
                "case {case}: nmi {} vs {}",
                m.nmi,
                cm::nmi(&t, &p)
            );
        }
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
