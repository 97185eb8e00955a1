//! Clustering quality: agreement with string labels (modality, anatomy) as homogeneity,
//! completeness, V-measure, NMI and AMI (arithmetic normalisation, as scikit-learn's
//! defaults), silhouette on a seeded sample, and per-cluster summaries.
//!
//! The formulas follow scikit-learn 1.9 `sklearn.metrics.cluster._supervised` exactly
//! (natural logarithms, the same special cases), and the unit tests check them against
//! values computed there.

use std::collections::HashMap;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linalg::sq_euclid;
use super::{Clustering, Distance};
use crate::Matrix;

/// Agreement of a clustering with one set of reference labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelScores {
    /// Points with a non-empty reference label (the others are left out).
    pub n: usize,
    /// Distinct reference labels.
    pub classes: usize,
    pub homogeneity: f64,
    pub completeness: f64,
    pub v_measure: f64,
    pub nmi: f64,
    pub ami: f64,
}

/// Scores `pred` against string labels `truth`; empty labels are left out (as the
/// benchmark peer does).
pub fn label_scores<S: AsRef<str>>(truth: &[S], pred: &[u32]) -> LabelScores {
    assert_eq!(
        truth.len(),
        pred.len(),
        "labels and predictions must be aligned"
    );
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut t = Vec::with_capacity(truth.len());
    let mut p = Vec::with_capacity(truth.len());
    for (s, &c) in truth.iter().zip(pred) {
        let s = s.as_ref().trim();
        if s.is_empty() {
            continue;
        }
        let next = ids.len() as u32;
        t.push(*ids.entry(s).or_insert(next));
        p.push(c);
    }
    let (h, c, v) = homogeneity_completeness_v_measure(&t, &p);
    LabelScores {
        n: t.len(),
        classes: ids.len(),
        homogeneity: h,
        completeness: c,
        v_measure: v,
        nmi: nmi(&t, &p),
        ami: ami(&t, &p),
    }
}

/// Sparse contingency table: (class, cluster) -> count, with the marginals.
struct Contingency {
    cells: Vec<(usize, usize, u64)>,
    a: Vec<u64>,
    b: Vec<u64>,
    n: u64,
}

fn dense_ids(x: &[u32]) -> (Vec<usize>, usize) {
    let mut map: HashMap<u32, usize> = HashMap::new();
    let mut keys: Vec<u32> = x.to_vec();
    keys.sort_unstable();
    keys.dedup();
    for (i, k) in keys.iter().enumerate() {
        map.insert(*k, i);
    }
    (x.iter().map(|v| map[v]).collect(), keys.len())
}

fn contingency(t: &[u32], p: &[u32]) -> Contingency {
    let (ti, r) = dense_ids(t);
    let (pi, c) = dense_ids(p);
    let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
    let mut a = vec![0u64; r];
    let mut b = vec![0u64; c];
    for (&x, &y) in ti.iter().zip(&pi) {
        *cells.entry((x, y)).or_insert(0) += 1;
        a[x] += 1;
        b[y] += 1;
    }
    let mut cells: Vec<(usize, usize, u64)> =
        cells.into_iter().map(|((x, y), v)| (x, y, v)).collect();
    cells.sort_unstable();
    Contingency {
        cells,
        a,
        b,
        n: t.len() as u64,
    }
}

/// Entropy (nats) of a labelling: scikit-learn's `entropy`.
pub fn entropy(x: &[u32]) -> f64 {
    if x.is_empty() {
        return 1.0;
    }
    let (ids, m) = dense_ids(x);
    let mut cnt = vec![0u64; m];
    ids.iter().for_each(|&i| cnt[i] += 1);
    entropy_counts(&cnt)
}

fn entropy_counts(cnt: &[u64]) -> f64 {
    let nz: Vec<f64> = cnt.iter().filter(|&&c| c > 0).map(|&c| c as f64).collect();
    if nz.len() <= 1 {
        return 0.0;
    }
    let s: f64 = nz.iter().sum();
    -nz.iter().map(|&p| (p / s) * (p.ln() - s.ln())).sum::<f64>()
}

fn mutual_info(c: &Contingency) -> f64 {
    if c.a.len() == 1 || c.b.len() == 1 {
        return 0.0;
    }
    let n = c.n as f64;
    let (sa, sb) = (
        c.a.iter().sum::<u64>() as f64,
        c.b.iter().sum::<u64>() as f64,
    );
    let mut mi = 0.0;
    for &(i, j, v) in &c.cells {
        let nm = v as f64 / n;
        let outer = (c.a[i] as f64) * (c.b[j] as f64);
        let term = nm * ((v as f64).ln() - n.ln()) + nm * (-outer.ln() + sa.ln() + sb.ln());
        if term.abs() >= f64::EPSILON {
            mi += term;
        }
    }
    mi.max(0.0)
}

/// Mutual information (nats) between two labellings.
pub fn mutual_info_score(t: &[u32], p: &[u32]) -> f64 {
    mutual_info(&contingency(t, p))
}

/// Homogeneity, completeness and V-measure (beta = 1).
pub fn homogeneity_completeness_v_measure(t: &[u32], p: &[u32]) -> (f64, f64, f64) {
    if t.is_empty() {
        return (1.0, 1.0, 1.0);
    }
    let (hc, hk) = (entropy(t), entropy(p));
    let mi = mutual_info_score(t, p);
    let h = if hc != 0.0 { mi / hc } else { 1.0 };
    let c = if hk != 0.0 { mi / hk } else { 1.0 };
    let v = if h + c == 0.0 {
        0.0
    } else {
        2.0 * h * c / (h + c)
    };
    (h, c, v)
}

fn n_unique(x: &[u32]) -> usize {
    dense_ids(x).1
}

/// Normalised mutual information, arithmetic mean normalisation.
pub fn nmi(t: &[u32], p: &[u32]) -> f64 {
    let (r, c) = (n_unique(t), n_unique(p));
    if (r == 1 && c == 1) || (r == 0 && c == 0) {
        return 1.0;
    }
    let mi = mutual_info_score(t, p);
    if mi == 0.0 {
        return 0.0;
    }
    mi / ((entropy(t) + entropy(p)) / 2.0)
}

/// Adjusted mutual information, arithmetic mean normalisation, with the exact expected
/// mutual information under the hypergeometric model (Vinh et al. 2010).
pub fn ami(t: &[u32], p: &[u32]) -> f64 {
    let (r, c) = (n_unique(t), n_unique(p));
    if (r == 1 && c == 1) || (r == 0 && c == 0) {
        return 1.0;
    }
    let ct = contingency(t, p);
    let mi = mutual_info(&ct);
    let emi = expected_mutual_info(&ct.a, &ct.b, ct.n);
    let norm = (entropy(t) + entropy(p)) / 2.0;
    let mut den = norm - emi;
    if den < 0.0 {
        den = den.min(-f64::EPSILON);
    } else {
        den = den.max(f64::EPSILON);
    }
    (mi - emi) / den
}

/// ln Γ(x) for x >= 1: the Stirling series above 15, upward recursion below.
fn ln_gamma(x: f64) -> f64 {
    if x < 15.0 {
        let mut shift = 0.0;
        let mut y = x;
        while y < 15.0 {
            shift += y.ln();
            y += 1.0;
        }
        return ln_gamma(y) - shift;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            - inv2
                * (1.0 / 360.0
                    - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 * (1.0 / 1188.0)))));
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series
}

/// scikit-learn's `expected_mutual_information`.
fn expected_mutual_info(a: &[u64], b: &[u64], n: u64) -> f64 {
    if a.len() == 1 || b.len() == 1 {
        return 0.0;
    }
    let nf = n as f64;
    let maxab = a.iter().chain(b).copied().max().unwrap_or(0) as usize;
    // ln(nij) with nij = 0 replaced by 1, as scikit-learn.
    let gln_nnij: Vec<f64> = (0..=maxab)
        .map(|v| ln_gamma(v as f64 + 1.0) + ln_gamma(nf + 1.0))
        .collect();
    let parts: Vec<f64> = a
        .par_iter()
        .map(|&ai| {
            let af = ai as f64;
            let mut emi = 0.0;
            for &bj in b {
                let bf = bj as f64;
                let start = (ai as i64 - n as i64 + bj as i64).max(1) as u64;
                let end = ai.min(bj) + 1;
                let gab = ln_gamma(af + 1.0)
                    + ln_gamma(bf + 1.0)
                    + ln_gamma(nf - af + 1.0)
                    + ln_gamma(nf - bf + 1.0);
                for nij in start..end {
                    let x = nij as f64;
                    let term1 = x / nf;
                    let term2 = nf.ln() + x.ln() - af.ln() - bf.ln();
                    let gln = gab
                        - gln_nnij[nij as usize]
                        - ln_gamma(af - x + 1.0)
                        - ln_gamma(bf - x + 1.0)
                        - ln_gamma(nf - af - bf + x + 1.0);
                    emi += term1 * term2 * gln.exp();
                }
            }
            emi
        })
        .collect();
    parts.iter().sum()
}

/// Mean silhouette coefficient on a seeded sample of at most `sample_size` points (all
/// points when fewer). `None` when the sample holds fewer than 2 clusters or every point
/// is its own cluster (the coefficient is undefined).
pub fn silhouette(
    data: &Matrix,
    labels: &[u32],
    metric: Distance,
    sample_size: usize,
    seed: u64,
) -> Option<f64> {
    assert_eq!(data.rows, labels.len());
    let n = data.rows;
    let idx: Vec<usize> = if n > sample_size {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut v = sample(&mut rng, n, sample_size).into_vec();
        v.sort_unstable();
        v
    } else {
        (0..n).collect()
    };
    let lab: Vec<u32> = idx.iter().map(|&i| labels[i]).collect();
    let (ids, c) = dense_ids(&lab);
    let m = idx.len();
    if c < 2 || c >= m {
        return None;
    }
    let mut cnt = vec![0usize; c];
    ids.iter().for_each(|&i| cnt[i] += 1);
    let s: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let mut sums = vec![0f64; c];
            let xi = data.row(idx[i]);
            for j in 0..m {
                if j != i {
                    let xj = data.row(idx[j]);
                    sums[ids[j]] += match metric {
                        Distance::Euclidean => sq_euclid(xi, xj).sqrt(),
                        Distance::Manhattan => {
                            xi.iter().zip(xj).map(|(a, b)| (a - b).abs() as f64).sum()
                        }
                    };
                }
            }
            let own = ids[i];
            if cnt[own] <= 1 {
                return 0.0;
            }
            let a = sums[own] / (cnt[own] - 1) as f64;
            let b = (0..c)
                .filter(|&l| l != own)
                .map(|l| sums[l] / cnt[l] as f64)
                .fold(f64::INFINITY, f64::min);
            let den = a.max(b);
            if den > 0.0 {
                (b - a) / den
            } else {
                0.0
            }
        })
        .collect();
    Some(s.iter().sum::<f64>() / m as f64)
}

/// Summary of one cluster for the review window and the label files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub id: u32,
    pub size: usize,
    /// Most frequent non-empty modality among members (ties: alphabetical first).
    pub modality: Option<String>,
    /// Share of members with a non-empty modality that have the majority one.
    pub modality_purity: f64,
    pub anatomy: Option<String>,
    pub anatomy_purity: f64,
    /// Mean distance of members to the centre (or medoid).
    pub mean_distance: f64,
}

impl ClusterSummary {
    /// Readable default name: majority anatomy, modality and size, e.g. "CT HEAD (212)".
    pub fn default_name(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(m) = &self.modality {
            parts.push(m);
        }
        if let Some(a) = &self.anatomy {
            parts.push(a);
        }
        if parts.is_empty() {
            format!("cluster {} ({})", self.id, self.size)
        } else {
            format!("{} ({})", parts.join(" "), self.size)
        }
    }
}

fn majority<S: AsRef<str>>(members: &[usize], labels: &[S]) -> (Option<String>, f64) {
    let mut cnt: HashMap<&str, usize> = HashMap::new();
    let mut total = 0;
    for &i in members {
        let s = labels[i].as_ref().trim();
        if !s.is_empty() {
            *cnt.entry(s).or_insert(0) += 1;
            total += 1;
        }
    }
    let best = cnt
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
    match best {
        Some((s, c)) => (Some(s.to_owned()), c as f64 / total as f64),
        None => (None, 0.0),
    }
}

/// Per-cluster summaries, in cluster order.
pub fn cluster_summaries<S: AsRef<str>>(
    c: &Clustering,
    modality: &[S],
    anatomy: &[S],
) -> Vec<ClusterSummary> {
    let k = c.k();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &l) in c.labels.iter().enumerate() {
        members[l as usize].push(i);
    }
    members
        .iter()
        .enumerate()
        .map(|(id, m)| {
            let (modality, modality_purity) = majority(m, modality);
            let (anatomy, anatomy_purity) = majority(m, anatomy);
            let mean_distance = if m.is_empty() {
                0.0
            } else {
                m.iter().map(|&i| c.distances[i] as f64).sum::<f64>() / m.len() as f64
            };
            ClusterSummary {
                id: id as u32,
                size: m.len(),
                modality,
                modality_purity,
                anatomy,
                anatomy_purity,
                mean_distance,
            }
        })
        .collect()
}

/// Everything `metrics.json` holds for one clustering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub modality: LabelScores,
    pub anatomy: LabelScores,
    /// Silhouette on a sample of at most [`Metrics::SILHOUETTE_SAMPLE`] points.
    pub silhouette: Option<f64>,
    pub silhouette_sample: usize,
    pub objective: f64,
    pub clusters: Vec<ClusterSummary>,
}

impl Metrics {
    pub const SILHOUETTE_SAMPLE: usize = 2000;
}

/// Label agreement, silhouette (seeded sample) and per-cluster summaries.
pub fn evaluate<S: AsRef<str>>(
    data: &Matrix,
    c: &Clustering,
    metric: Distance,
    modality: &[S],
    anatomy: &[S],
    seed: u64,
) -> Metrics {
    Metrics {
        modality: label_scores(modality, &c.labels),
        anatomy: label_scores(anatomy, &c.labels),
        silhouette: silhouette(data, &c.labels, metric, Metrics::SILHOUETTE_SAMPLE, seed),
        silhouette_sample: data.rows.min(Metrics::SILHOUETTE_SAMPLE),
        objective: c.objective,
        clusters: cluster_summaries(c, modality, anatomy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    /// Expected values from scikit-learn 1.9.1 (bench venv):
    /// `t, p` as below with the empty label dropped, then
    /// `homogeneity_completeness_v_measure(t, p)`,
    /// `normalized_mutual_info_score(t, p, average_method="arithmetic")`,
    /// `adjusted_mutual_info_score(t, p, average_method="arithmetic")`.
    #[test]
    fn string_label_scores_match_sklearn() {
        let t = [
            "CT", "CT", "MR", "MR", "MR", "US", "US", "CT", "MR", "", "US", "CT",
        ];
        let p = [0, 0, 1, 1, 2, 2, 2, 0, 1, 1, 0, 3];
        let s = label_scores(&t, &p);
        assert_eq!((s.n, s.classes), (11, 3));
        close(s.homogeneity, 0.6531563412294508);
        close(s.completeness, 0.5499841930510628);
        close(s.v_measure, 0.5971466392030148);
        close(s.nmi, 0.5971466392030147);
        close(s.ami, 0.41312701950794073);
    }

    /// sklearn: `y = [(i*7)%5 for i in range(60)]; q = [(i*i)%6 for i in range(60)]`:
    /// h, c, v = 0, 0, 0; NMI 0.0; AMI -0.08477511148075967.
    /// `y = [(i*13)%11 for i in range(500)]; q = [(i*i+3*i)%17 for i in range(500)]`:
    /// `adjusted_mutual_info_score(y, q)` = -0.034803139430795646,
    /// `normalized_mutual_info_score(y, q)` = 0.003426203267636816.
    #[test]
    fn ami_expected_mutual_information_matches_sklearn() {
        let y: Vec<u32> = (0..60).map(|i| (i * 7) % 5).collect();
        let q: Vec<u32> = (0..60).map(|i| (i * i) % 6).collect();
        let (h, c, v) = homogeneity_completeness_v_measure(&y, &q);
        close(h + c + v, 0.0);
        close(nmi(&y, &q), 0.0);
        close(ami(&y, &q), -0.08477511148075967);
        let y: Vec<u32> = (0..500).map(|i| (i * 13) % 11).collect();
        let q: Vec<u32> = (0..500).map(|i| (i * i + 3 * i) % 17).collect();
        close(ami(&y, &q), -0.034803139430795646);
        close(nmi(&y, &q), 0.003426203267636816);
    }

    #[test]
    fn degenerate_labellings_follow_sklearn_special_cases() {
        close(nmi(&[1, 1, 1], &[4, 4, 4]), 1.0);
        close(ami(&[1, 1, 1], &[4, 4, 4]), 1.0);
        close(ami(&[0, 1, 2], &[0, 1, 2]), 1.0);
        let (h, c, v) = homogeneity_completeness_v_measure(&[0, 0, 1, 1], &[0, 0, 0, 0]);
        close(h, 0.0);
        close(c, 1.0);
        close(v, 0.0);
        assert!(label_scores(&["", ""], &[0, 1]).ami.is_finite());
    }

    /// sklearn: `X` as below (float64), `silhouette_score(X, l)` = 0.7503887500099102,
    /// `silhouette_score(X, l, metric="manhattan")` = 0.7664027719592236,
    /// `silhouette_score(X, l2)` = 0.44328434023786445 (l2 has a singleton cluster).
    #[test]
    fn silhouette_matches_sklearn() {
        let x = Matrix::from_rows(&[
            vec![0., 0.],
            vec![1., 0.],
            vec![0., 1.],
            vec![5., 5.],
            vec![6., 5.],
            vec![5., 7.],
            vec![2., 2.],
            vec![9., 0.],
            vec![9., 1.],
            vec![8., 0.],
        ]);
        let l = [0, 0, 0, 1, 1, 1, 0, 2, 2, 2];
        close(
            silhouette(&x, &l, Distance::Euclidean, 100, 0).unwrap(),
            0.7503887500099102,
        );
        close(
            silhouette(&x, &l, Distance::Manhattan, 100, 0).unwrap(),
            0.7664027719592236,
        );
        let l2 = [0, 0, 0, 1, 1, 1, 0, 2, 3, 3];
        close(
            silhouette(&x, &l2, Distance::Euclidean, 100, 0).unwrap(),
            0.44328434023786445,
        );
        assert_eq!(silhouette(&x, &[0; 10], Distance::Euclidean, 100, 0), None);
        let sampled = silhouette(&x, &l, Distance::Euclidean, 6, 1);
        assert_eq!(
            sampled,
            silhouette(&x, &l, Distance::Euclidean, 6, 1),
            "seeded sample"
        );
    }

    #[test]
    fn summaries_name_majorities() {
        let c = Clustering {
            labels: vec![0, 0, 0, 1],
            centres: Matrix::zeros(2, 1),
            distances: vec![1.0, 2.0, 3.0, 0.5],
            medoids: None,
            objective: 0.0,
            iterations: 1,
        };
        let s = cluster_summaries(&c, &["CT", "CT", "MR", ""], &["HEAD", "", "HEAD", "CHEST"]);
        assert_eq!(s[0].default_name(), "CT HEAD (3)");
        close(s[0].modality_purity, 2.0 / 3.0);
        close(s[0].anatomy_purity, 1.0);
        close(s[0].mean_distance, 2.0);
        assert_eq!(s[1].default_name(), "CHEST (1)");
    }
}
