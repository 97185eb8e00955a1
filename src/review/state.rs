//! The review state: the persisted part (assignment, clusters, exclusions, run parameters)
//! plus small runtime caches (per-image modality and anatomy, cluster sizes) that are
//! rebuilt from the [`Analysis`] when a session is loaded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dicom::Region;
use crate::pipeline::{Analysis, RunParams};

use super::metrics::{self, DatasetMetrics};
use super::palette;

/// A cluster's identity. Stable across edits: renaming or recolouring never changes it, and
/// undo restores removed clusters under their old id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub u32);

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One cluster's persisted attributes. Its members are the images assigned to `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    /// The stored name, without the size (see [`Cluster::display_name`]).
    pub name: String,
    /// sRGB colour.
    pub color: [u8; 3],
    /// The whole cluster is marked "excluded / unusable".
    #[serde(default)]
    pub excluded: bool,
}

impl Cluster {
    /// The name as shown to the user: `"CT HEAD (212)"`. The size is never stored in the
    /// name, so it cannot double up after a rename or a move.
    pub fn display_name(&self, size: usize) -> String {
        format!("{} ({size})", self.name)
    }
}

/// A fingerprint of the ordered image set a review belongs to: the number of images and a
/// SHA-256 over each image's SOP Instance UID and file name (not the full path, so that a
/// moved or remounted folder still matches).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSetId {
    pub count: usize,
    pub sha256: String,
}

impl ImageSetId {
    pub fn of(analysis: &Analysis) -> Self {
        let mut h = Sha256::new();
        for r in &analysis.records {
            h.update(r.sop_instance_uid.as_bytes());
            h.update([0u8]);
            let name = r
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            h.update(name.as_bytes());
            h.update([1u8]);
        }
        let sha256 = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            count: analysis.records.len(),
            sha256,
        }
    }
}

/// Counts of one categorical attribute among a cluster's members, largest first (ties by
/// name), for the list's majority column and the breakdown charts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub counts: Vec<(String, usize)>,
}

impl Breakdown {
    fn from_counts(counts: HashMap<String, usize>) -> Self {
        let mut counts: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self { counts }
    }
    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, n)| n).sum()
    }
    /// The most frequent value.
    pub fn majority(&self) -> Option<&str> {
        self.counts.first().map(|(s, _)| s.as_str())
    }
    /// Share of the most frequent value, in `0..=1` (0 for an empty cluster).
    pub fn purity(&self) -> f64 {
        let total = self.total();
        match self.counts.first() {
            Some((_, n)) if total > 0 => *n as f64 / total as f64,
            _ => 0.0,
        }
    }
}

/// Everything the cluster list and the charts show about one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub id: ClusterId,
    pub name: String,
    pub color: [u8; 3],
    /// Cluster-level exclusion.
    pub excluded: bool,
    pub size: usize,
    /// Members excluded one by one (not counting cluster-level exclusion).
    pub excluded_images: usize,
    pub modality: Breakdown,
    pub anatomy: Breakdown,
    /// Mean of the run's distance-to-centre over members still in their original cluster;
    /// `None` when there is none (e.g. a cluster made by hand).
    pub mean_distance: Option<f64>,
}

impl ClusterSummary {
    pub fn display_name(&self) -> String {
        format!("{} ({})", self.name, self.size)
    }
}

/// Per-image attributes the queries need, taken from the analysis.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Facets {
    /// Index into `modality_names`.
    pub modality: Vec<u16>,
    pub modality_names: Vec<String>,
    pub anatomy: Vec<Region>,
    /// The run's cluster label and distance to its centre, per image.
    pub run_label: Vec<u32>,
    pub distance: Vec<f32>,
}

impl Facets {
    fn of(analysis: &Analysis) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, u16> = HashMap::new();
        let modality = analysis
            .records
            .iter()
            .map(|r| {
                let m = normalise_modality(&r.modality);
                *index.entry(m.clone()).or_insert_with(|| {
                    names.push(m);
                    (names.len() - 1) as u16
                })
            })
            .collect();
        Self {
            modality,
            modality_names: names,
            anatomy: analysis.records.iter().map(|r| r.anatomy).collect(),
            run_label: analysis.labels.clone(),
            distance: analysis.distances.clone(),
        }
    }
    fn modality_of(&self, i: usize) -> &str {
        self.modality
            .get(i)
            .map_or("UNKNOWN", |&m| self.modality_names[m as usize].as_str())
    }
}

/// The upper-case name of a region as RadiologyNET writes it ("HEAD", "CSPINE",
/// "UNKNOWN"): the name used in cluster names, breakdowns and exports.
pub fn region_name(r: Region) -> &'static str {
    r.as_str()
}

fn normalise_modality(m: &str) -> String {
    let m = m.trim().to_uppercase();
    if m.is_empty() {
        "UNKNOWN".into()
    } else {
        m
    }
}

/// The review of one analysis. Image indices are indices into `Analysis::records`.
///
/// Change it only through [`ReviewState::apply`] (or [`super::History::apply`], which
/// records undo points); every change bumps [`ReviewState::revision`], so callers can cache
/// derived data (members, summaries) by revision.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReviewState {
    pub(crate) image_set: ImageSetId,
    /// Cluster of each image.
    pub(crate) assignment: Vec<ClusterId>,
    /// Images excluded one by one, stored as the sorted list of their indices.
    #[serde(with = "sparse_flags")]
    pub(crate) excluded: Vec<bool>,
    #[serde(with = "cluster_list")]
    pub(crate) clusters: BTreeMap<ClusterId, Cluster>,
    pub(crate) params: Option<RunParams>,
    #[serde(skip)]
    pub(crate) facets: Arc<Facets>,
    #[serde(skip)]
    pub(crate) sizes: BTreeMap<ClusterId, usize>,
    #[serde(skip)]
    pub(crate) revision: u64,
}

/// Equality of the persisted part: assignment, exclusions, clusters, parameters and image
/// set. The revision counter and caches are ignored.
impl PartialEq for ReviewState {
    fn eq(&self, o: &Self) -> bool {
        self.image_set == o.image_set
            && self.assignment == o.assignment
            && self.excluded == o.excluded
            && self.clusters == o.clusters
            && self.params == o.params
    }
}

/// Why a loaded state does not fit the analysis it is attached to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("the review has {found} images but the analysis has {expected}")]
    Count { expected: usize, found: usize },
    #[error("image {image} is assigned to cluster {cluster}, which does not exist")]
    DanglingCluster { image: usize, cluster: ClusterId },
    #[error("the review belongs to another set of images")]
    OtherImageSet,
}

impl ReviewState {
    /// The review as the run left it: one cluster per run label, default names
    /// ("CT HEAD", shown as "CT HEAD (212)"), palette colours, nothing excluded.
    ///
    /// Images without a label (a shorter `labels` vector, e.g. before clustering finished)
    /// go to cluster 0.
    pub fn from_analysis(analysis: &Analysis) -> Self {
        let n = analysis.records.len();
        let assignment: Vec<ClusterId> = (0..n)
            .map(|i| ClusterId(analysis.labels.get(i).copied().unwrap_or(0)))
            .collect();
        let mut state = Self {
            image_set: ImageSetId::of(analysis),
            assignment,
            excluded: vec![false; n],
            clusters: BTreeMap::new(),
            params: analysis.params.clone(),
            facets: Arc::new(Facets::of(analysis)),
            sizes: BTreeMap::new(),
            revision: 0,
        };
        state.rebuild_sizes();
        let all = state.all_members();
        let mut taken: Vec<String> = Vec::new();
        for (&id, members) in &all {
            let name = state.unique_name(state.default_name_for(members), &taken);
            taken.push(name.clone());
            state.clusters.insert(
                id,
                Cluster {
                    id,
                    name,
                    color: palette::color(id.0),
                    excluded: false,
                },
            );
        }
        state
    }

    /// A state from explicit parts (label import): `assignment` and `excluded` per image,
    /// aligned with `analysis.records`; every assigned cluster must be in `clusters`.
    pub fn from_parts(
        analysis: &Analysis,
        assignment: Vec<ClusterId>,
        clusters: Vec<Cluster>,
        excluded: Vec<bool>,
    ) -> Result<Self, AttachError> {
        let mut state = Self {
            image_set: ImageSetId::of(analysis),
            assignment,
            excluded,
            clusters: clusters.into_iter().map(|c| (c.id, c)).collect(),
            params: analysis.params.clone(),
            facets: Arc::default(),
            sizes: BTreeMap::new(),
            revision: 0,
        };
        state.attach(analysis)?;
        Ok(state)
    }

    /// Re-attach a deserialised state to its analysis: checks that it fits and rebuilds
    /// the caches. Called by the session loader.
    pub fn attach(&mut self, analysis: &Analysis) -> Result<(), AttachError> {
        let n = analysis.records.len();
        if self.assignment.len() != n {
            return Err(AttachError::Count {
                expected: n,
                found: self.assignment.len(),
            });
        }
        if self.image_set != ImageSetId::of(analysis) {
            return Err(AttachError::OtherImageSet);
        }
        if let Some((image, &cluster)) = self
            .assignment
            .iter()
            .enumerate()
            .find(|(_, c)| !self.clusters.contains_key(c))
        {
            return Err(AttachError::DanglingCluster { image, cluster });
        }
        self.excluded.resize(n, false);
        self.facets = Arc::new(Facets::of(analysis));
        self.rebuild_sizes();
        self.revision += 1;
        Ok(())
    }

    pub(crate) fn rebuild_sizes(&mut self) {
        self.sizes.clear();
        for &c in &self.assignment {
            *self.sizes.entry(c).or_insert(0) += 1;
        }
    }

    /// Counter bumped by every applied edit.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    pub(crate) fn bump(&mut self) {
        self.revision += 1;
    }

    pub fn image_set(&self) -> &ImageSetId {
        &self.image_set
    }
    pub fn params(&self) -> Option<&RunParams> {
        self.params.as_ref()
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.assignment.len()
    }
    pub fn is_empty(&self) -> bool {
        self.assignment.is_empty()
    }

    /// Cluster of each image, aligned with `Analysis::records`.
    pub fn assignment(&self) -> &[ClusterId] {
        &self.assignment
    }
    pub fn cluster_of(&self, image: usize) -> Option<ClusterId> {
        self.assignment.get(image).copied()
    }

    /// All clusters, by id.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> + '_ {
        self.clusters.values()
    }
    pub fn cluster(&self, id: ClusterId) -> Option<&Cluster> {
        self.clusters.get(&id)
    }
    pub fn cluster_ids(&self) -> Vec<ClusterId> {
        self.clusters.keys().copied().collect()
    }
    pub fn num_clusters(&self) -> usize {
        self.clusters.len()
    }
    /// The id a new cluster gets: one above the highest in use.
    pub fn next_cluster_id(&self) -> ClusterId {
        ClusterId(self.clusters.keys().next_back().map_or(0, |c| c.0 + 1))
    }

    /// Number of images in `id` (0 for an unknown or empty cluster). O(log k).
    pub fn size(&self, id: ClusterId) -> usize {
        self.sizes.get(&id).copied().unwrap_or(0)
    }
    /// Size of every cluster.
    pub fn sizes(&self) -> BTreeMap<ClusterId, usize> {
        self.clusters.keys().map(|&c| (c, self.size(c))).collect()
    }
    /// `"CT HEAD (212)"`, or `None` for an unknown id.
    pub fn display_name(&self, id: ClusterId) -> Option<String> {
        self.clusters
            .get(&id)
            .map(|c| c.display_name(self.size(id)))
    }

    /// Images of a cluster, ascending. O(N): cache by [`Self::revision`] in a frame loop.
    pub fn members(&self, id: ClusterId) -> Vec<usize> {
        self.assignment
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == id)
            .map(|(i, _)| i)
            .collect()
    }
    /// Members of every cluster in one pass.
    pub fn all_members(&self) -> BTreeMap<ClusterId, Vec<usize>> {
        let mut m: BTreeMap<ClusterId, Vec<usize>> =
            self.clusters.keys().map(|&c| (c, Vec::new())).collect();
        for (i, c) in self.assignment.iter().enumerate() {
            m.entry(*c).or_default().push(i);
        }
        m
    }

    /// The image's own "excluded / unusable" flag.
    pub fn is_image_excluded(&self, image: usize) -> bool {
        self.excluded.get(image).copied().unwrap_or(false)
    }
    /// Excluded on its own or through its cluster: what exports leave out.
    pub fn is_excluded(&self, image: usize) -> bool {
        self.is_image_excluded(image)
            || self
                .assignment
                .get(image)
                .and_then(|c| self.clusters.get(c))
                .is_some_and(|c| c.excluded)
    }
    /// Number of images excluded (on their own or through their cluster).
    pub fn excluded_count(&self) -> usize {
        (0..self.len()).filter(|&i| self.is_excluded(i)).count()
    }

    /// The modality shown for an image (upper case, "UNKNOWN" when missing).
    pub fn modality_of(&self, image: usize) -> &str {
        self.facets.modality_of(image)
    }
    pub fn anatomy_of(&self, image: usize) -> Region {
        self.facets.anatomy.get(image).copied().unwrap_or_default()
    }
    /// The run's distance to the centre, while the image is still in the cluster the run
    /// gave it; `None` after it was moved (that distance would be to another centre).
    pub fn distance_to_centre(&self, image: usize) -> Option<f32> {
        let f = &self.facets;
        let run = *f.run_label.get(image)?;
        (self.assignment.get(image)? == &ClusterId(run))
            .then(|| f.distance.get(image).copied())
            .flatten()
    }

    /// Summary of one cluster. O(N).
    pub fn summary(&self, id: ClusterId) -> Option<ClusterSummary> {
        self.clusters.get(&id)?;
        let members = self.members(id);
        Some(self.summary_of(id, &members))
    }

    /// Summaries of all clusters, by id. O(N + k).
    pub fn summaries(&self) -> Vec<ClusterSummary> {
        self.all_members()
            .iter()
            .filter(|(c, _)| self.clusters.contains_key(c))
            .map(|(&c, m)| self.summary_of(c, m))
            .collect()
    }

    /// Modality and anatomy counts of a group of images. Counts by index (no string per
    /// image) and names the non-zero counts at the end.
    pub fn breakdowns(&self, images: &[usize]) -> (Breakdown, Breakdown) {
        let f = &self.facets;
        let mut modality = vec![0usize; f.modality_names.len() + 1];
        let mut anatomy = vec![0usize; Region::ALL.len()];
        for &i in images {
            let m = f
                .modality
                .get(i)
                .map_or(f.modality_names.len(), |&m| m as usize);
            modality[m] += 1;
            anatomy[self.anatomy_of(i) as usize] += 1;
        }
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (m, &n) in modality.iter().enumerate().filter(|(_, &n)| n > 0) {
            let name = f.modality_names.get(m).map_or("UNKNOWN", String::as_str);
            *by_name.entry(name.to_string()).or_insert(0) += n;
        }
        let anatomy: HashMap<String, usize> = Region::ALL
            .iter()
            .filter(|&&r| anatomy[r as usize] > 0)
            .map(|&r| (region_name(r).to_string(), anatomy[r as usize]))
            .collect();
        (
            Breakdown::from_counts(by_name),
            Breakdown::from_counts(anatomy),
        )
    }

    fn summary_of(&self, id: ClusterId, members: &[usize]) -> ClusterSummary {
        let c = &self.clusters[&id];
        let (modality, anatomy) = self.breakdowns(members);
        let (mut dsum, mut dn) = (0f64, 0usize);
        for &i in members {
            if let Some(d) = self.distance_to_centre(i).filter(|d| d.is_finite()) {
                dsum += d as f64;
                dn += 1;
            }
        }
        ClusterSummary {
            id,
            name: c.name.clone(),
            color: c.color,
            excluded: c.excluded,
            size: members.len(),
            excluded_images: members
                .iter()
                .filter(|&&i| self.is_image_excluded(i))
                .count(),
            modality,
            anatomy,
            mean_distance: (dn > 0).then(|| dsum / dn as f64),
        }
    }

    /// Homogeneity, completeness, V-measure and NMI of the current assignment against
    /// modality and against anatomy, over the images that are not excluded.
    pub fn dataset_metrics(&self) -> DatasetMetrics {
        let f = &self.facets;
        let out: Vec<ClusterId> = self
            .clusters
            .values()
            .filter(|c| c.excluded)
            .map(|c| c.id)
            .collect();
        let n = self.len();
        let (mut clusters, mut modality, mut anatomy) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (i, c) in self.assignment.iter().enumerate() {
            if self.excluded[i] || (!out.is_empty() && out.contains(c)) {
                continue;
            }
            clusters.push(c.0);
            modality.push(f.modality.get(i).map_or(u32::MAX, |&m| m as u32));
            anatomy.push(f.anatomy.get(i).copied().unwrap_or_default() as u32);
        }
        DatasetMetrics {
            images: clusters.len(),
            clusters: metrics::distinct(&clusters),
            modality: metrics::label_metrics(&modality, &clusters),
            anatomy: metrics::label_metrics(&anatomy, &clusters),
        }
    }

    /// Default name of a group of images: majority modality and anatomy, e.g. "CT HEAD";
    /// just "CT" when the anatomy is unknown. Not made unique.
    pub fn default_name_for(&self, images: &[usize]) -> String {
        let (modality, anatomy) = self.breakdowns(images);
        let m = modality.majority().unwrap_or("EMPTY").to_string();
        match anatomy.majority() {
            Some(a) if a != region_name(Region::Unknown) => format!("{m} {a}"),
            _ => m,
        }
    }

    /// `base`, or `base 2`, `base 3`... whichever is not among the existing cluster names
    /// nor in `also_taken`.
    pub fn unique_name(&self, base: String, also_taken: &[String]) -> String {
        let taken = |s: &str| {
            self.clusters.values().any(|c| c.name == s) || also_taken.iter().any(|t| t == s)
        };
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|k| format!("{base} {k}"))
            .find(|s| !taken(s))
            .expect("unbounded")
    }

    /// A ready-made [`super::Edit::NewCluster`] for `images`: next free id, default
    /// (unique) name unless `name` is given, palette colour.
    pub fn new_cluster_edit(&self, images: Vec<usize>, name: Option<String>) -> super::Edit {
        let id = self.next_cluster_id();
        let name = name.unwrap_or_else(|| self.unique_name(self.default_name_for(&images), &[]));
        super::Edit::NewCluster {
            cluster: Cluster {
                id,
                name,
                color: palette::color(id.0),
                excluded: false,
            },
            images,
        }
    }
}

mod sparse_flags {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Sparse {
        len: usize,
        set: Vec<usize>,
    }

    pub fn serialize<S: Serializer>(v: &[bool], s: S) -> Result<S::Ok, S::Error> {
        Sparse {
            len: v.len(),
            set: v
                .iter()
                .enumerate()
                .filter(|(_, &b)| b)
                .map(|(i, _)| i)
                .collect(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<bool>, D::Error> {
        let sp = Sparse::deserialize(d)?;
        let mut v = vec![false; sp.len];
        for i in sp.set {
            match v.get_mut(i) {
                Some(b) => *b = true,
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "excluded image {i} out of range"
                    )))
                }
            }
        }
        Ok(v)
    }
}

mod cluster_list {
    use super::{Cluster, ClusterId};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<ClusterId, Cluster>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<ClusterId, Cluster>, D::Error> {
        let v = Vec::<Cluster>::deserialize(d)?;
        let n = v.len();
        let m: BTreeMap<ClusterId, Cluster> = v.into_iter().map(|c| (c.id, c)).collect();
        if m.len() != n {
            return Err(serde::de::Error::custom("duplicate cluster id"));
        }
        Ok(m)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dicom::InstanceRecord;
    use std::path::PathBuf;

    /// A small analysis: `spec` is (modality, anatomy, run label) per image.
    pub(crate) fn analysis(spec: &[(&str, Region, u32)]) -> Analysis {
        let records = spec
            .iter()
            .enumerate()
            .map(|(i, (m, a, _))| InstanceRecord {
                path: PathBuf::from(format!("/data/img{i}.dcm")),
                sop_instance_uid: format!("1.2.3.{i}"),
                series_instance_uid: format!("1.2.4.{}", i / 2),
                study_instance_uid: "1.2.5".into(),
                modality: m.to_string(),
                anatomy: *a,
                ..Default::default()
            })
            .collect();
        Analysis {
            records,
            labels: spec.iter().map(|s| s.2).collect(),
            distances: (0..spec.len()).map(|i| i as f32 * 0.5).collect(),
            xy: (0..spec.len()).map(|i| [i as f32, -(i as f32)]).collect(),
            exemplars: vec![],
            params: Some(RunParams::default()),
            ..Default::default()
        }
    }

    pub(crate) fn sample() -> Analysis {
        use Region::*;
        analysis(&[
            ("CT", Head, 0),
            ("CT", Head, 0),
            ("CT", Chest, 0),
            ("MR", Head, 1),
            ("MR", Head, 1),
            ("CR", Chest, 2),
            ("CR", Chest, 2),
            ("CR", Unknown, 2),
            ("ct", Head, 3),
            ("", Unknown, 3),
        ])
    }

    #[test]
    fn default_names_are_majority_and_unique_and_size_is_separate() {
        let s = ReviewState::from_analysis(&sample());
        let names: Vec<&str> = s.clusters().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["CT HEAD", "MR HEAD", "CR CHEST", "CT HEAD 2"]);
        assert_eq!(s.display_name(ClusterId(0)).unwrap(), "CT HEAD (3)");
        assert_eq!(s.display_name(ClusterId(3)).unwrap(), "CT HEAD 2 (2)");
        assert_eq!(s.size(ClusterId(2)), 3);
        assert_eq!(s.members(ClusterId(2)), vec![5, 6, 7]);
        assert_eq!(s.next_cluster_id(), ClusterId(4));
    }

    #[test]
    fn summaries_count_breakdowns_and_purity() {
        let s = ReviewState::from_analysis(&sample());
        let sum = s.summary(ClusterId(0)).unwrap();
        assert_eq!(sum.modality.counts, vec![("CT".to_string(), 3)]);
        assert_eq!(
            sum.anatomy.counts,
            vec![("HEAD".to_string(), 2), ("CHEST".to_string(), 1)]
        );
        assert!((sum.anatomy.purity() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(sum.mean_distance, Some(0.5));
        let last = &s.summaries()[3];
        assert_eq!(
            last.modality.counts,
            vec![("CT".to_string(), 1), ("UNKNOWN".to_string(), 1)]
        );
        assert_eq!(s.summaries().len(), 4);
    }

    #[test]
    fn metrics_follow_the_assignment() {
        let s = ReviewState::from_analysis(&sample());
        let m = s.dataset_metrics();
        assert_eq!(m.images, 10);
        // Clusters 0, 1, 2 are pure in modality; cluster 3 mixes CT with UNKNOWN.
        assert!(
            m.modality.homogeneity > 0.8 && m.modality.homogeneity < 1.0,
            "{m:?}"
        );
        assert!(m.anatomy.homogeneity < m.modality.homogeneity);
    }

    #[test]
    fn serde_round_trip_then_attach() {
        let a = sample();
        let mut s = ReviewState::from_analysis(&a);
        s.excluded[4] = true;
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"set\":[4]"), "{json}");
        let mut back: ReviewState = serde_json::from_str(&json).unwrap();
        back.attach(&a).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.size(ClusterId(1)), 2);
        assert_eq!(back.modality_of(3), "MR");

        let mut other = a.clone();
        other.records[0].sop_instance_uid = "9.9".into();
        let mut back2: ReviewState = serde_json::from_str(&json).unwrap();
        assert_eq!(back2.attach(&other), Err(AttachError::OtherImageSet));
    }
}
