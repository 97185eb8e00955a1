//! Label files: `labels.csv`, `labels.json` (the same rows plus per-cluster summaries, run
//! parameters and versions) and the RadiologyNET-style CSV; and their import back into a
//! review.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic_with;
use crate::pipeline::{Analysis, RunParams};
use crate::review::{palette, region_name, Cluster, ClusterId, DatasetMetrics, ReviewState};

use super::{check_aligned, io_err, ExportError, ExportOptions, Pseudonymizer};

/// Format tag and version of `labels.json`.
pub const LABELS_FORMAT: &str = "radcluster-labels";
pub const LABELS_VERSION: u32 = 1;

/// One image's label, as written to `labels.csv` and to `rows` in `labels.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    pub path: String,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    pub study_instance_uid: String,
    pub cluster_id: u32,
    pub cluster_name: String,
    pub modality: String,
    pub anatomy: String,
    /// The run's distance to the cluster centre; empty once the image was moved to
    /// another cluster by hand.
    pub distance_to_centre: Option<f32>,
    pub x: Option<f32>,
    pub y: Option<f32>,
    /// Excluded on its own or through its cluster.
    pub excluded: bool,
}

/// The rows of every image, in `Analysis::records` order.
pub fn label_rows(analysis: &Analysis, state: &ReviewState, opts: &ExportOptions) -> Vec<LabelRow> {
    let p = opts.pseudonymizer.as_ref();
    let uid = |u: &str| p.map_or_else(|| u.to_string(), |p| p.uid(u));
    analysis
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = state.cluster_of(i).unwrap_or(ClusterId(0));
            let xy = analysis.xy.get(i);
            LabelRow {
                path: p.map_or_else(
                    || r.path.to_string_lossy().into_owned(),
                    |p| p.path(&r.path),
                ),
                sop_instance_uid: uid(&r.sop_instance_uid),
                series_instance_uid: uid(&r.series_instance_uid),
                study_instance_uid: uid(&r.study_instance_uid),
                cluster_id: c.0,
                cluster_name: state.cluster(c).map(|c| c.name.clone()).unwrap_or_default(),
                modality: state.modality_of(i).to_string(),
                anatomy: region_name(state.anatomy_of(i)).to_string(),
                distance_to_centre: state.distance_to_centre(i).filter(|d| d.is_finite()),
                x: xy.map(|v| v[0]).filter(|v| v.is_finite()),
                y: xy.map(|v| v[1]).filter(|v| v.is_finite()),
                excluded: state.is_excluded(i),
            }
        })
        .collect()
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> std::io::Error + '_ {
    move |e| std::io::Error::other(format!("{}: {e}", path.display()))
}

/// Write `labels.csv`: one row per image, header
/// `path,sop_instance_uid,series_instance_uid,study_instance_uid,cluster_id,cluster_name,modality,anatomy,distance_to_centre,x,y,excluded`.
pub fn write_labels_csv(
    path: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ExportOptions,
) -> Result<(), ExportError> {
    check_aligned(analysis, state)?;
    let rows = label_rows(analysis, state, opts);
    write_atomic_with(path, |w| {
        let mut cw = csv::Writer::from_writer(w);
        for r in &rows {
            cw.serialize(r).map_err(csv_err(path))?;
        }
        cw.flush()
    })
    .map_err(io_err(path))
}

/// Write the RadiologyNET-style CSV: `id,ExamID,Modality,BodyPartExamined,Cluster`, with
/// the SOP Instance UID as id, the Study Instance UID as ExamID, the normalised anatomy as
/// BodyPartExamined and the cluster id. Excluded images are left out, as RadiologyNET left
/// out its blacklisted clusters.
pub fn write_radiologynet_csv(
    path: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ExportOptions,
) -> Result<(), ExportError> {
    check_aligned(analysis, state)?;
    let rows = label_rows(analysis, state, opts);
    write_atomic_with(path, |w| {
        let mut cw = csv::Writer::from_writer(w);
        cw.write_record(["id", "ExamID", "Modality", "BodyPartExamined", "Cluster"])
            .map_err(csv_err(path))?;
        for r in rows.iter().filter(|r| !r.excluded) {
            let cluster = r.cluster_id.to_string();
            cw.write_record([
                &r.sop_instance_uid,
                &r.study_instance_uid,
                &r.modality,
                &r.anatomy,
                &cluster,
            ])
            .map_err(csv_err(path))?;
        }
        cw.flush()
    })
    .map_err(io_err(path))
}

/// One cluster in `labels.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterEntry {
    pub id: u32,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    pub excluded: bool,
    pub size: usize,
    pub excluded_images: usize,
    pub majority_modality: Option<String>,
    pub modality_purity: f64,
    pub majority_anatomy: Option<String>,
    pub anatomy_purity: f64,
    pub modality_counts: BTreeMap<String, usize>,
    pub anatomy_counts: BTreeMap<String, usize>,
    pub mean_distance_to_centre: Option<f64>,
    /// SOP Instance UID of the cluster's exemplar (medoid), while it is still a member.
    pub exemplar_sop_instance_uid: Option<String>,
}

#[derive(Serialize)]
struct LabelsJsonOut<'a> {
    format: &'static str,
    version: u32,
    radcluster_version: &'static str,
    created_unix_ms: u64,
    pseudonymised: bool,
    params: Option<&'a RunParams>,
    images: usize,
    excluded_images: usize,
    skipped_files: usize,
    non_image_objects: usize,
    metrics: DatasetMetrics,
    clusters: Vec<ClusterEntry>,
    rows: Vec<LabelRow>,
}

fn hex_color(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn parse_hex_color(s: &str) -> Option<[u8; 3]> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let b = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([b(0)?, b(2)?, b(4)?])
}

/// The per-cluster entries of `labels.json`.
pub fn cluster_entries(
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ExportOptions,
) -> Vec<ClusterEntry> {
    let p = opts.pseudonymizer.as_ref();
    state
        .summaries()
        .into_iter()
        .map(|s| {
            let exemplar = analysis
                .exemplars
                .get(s.id.0 as usize)
                .filter(|&&e| state.cluster_of(e) == Some(s.id))
                .and_then(|&e| analysis.records.get(e))
                .map(|r| {
                    p.map_or_else(
                        || r.sop_instance_uid.clone(),
                        |p| p.uid(&r.sop_instance_uid),
                    )
                });
            ClusterEntry {
                id: s.id.0,
                name: s.name.clone(),
                color: hex_color(s.color),
                excluded: s.excluded,
                size: s.size,
                excluded_images: s.excluded_images,
                majority_modality: s.modality.majority().map(str::to_string),
                modality_purity: s.modality.purity(),
                majority_anatomy: s.anatomy.majority().map(str::to_string),
                anatomy_purity: s.anatomy.purity(),
                modality_counts: s.modality.counts.iter().cloned().collect(),
                anatomy_counts: s.anatomy.counts.iter().cloned().collect(),
                mean_distance_to_centre: s.mean_distance,
                exemplar_sop_instance_uid: exemplar,
            }
        })
        .collect()
}

/// Write `labels.json`: the rows of `labels.csv`, per-cluster summaries, dataset metrics,
/// the run parameters and the radcluster version.
pub fn write_labels_json(
    path: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ExportOptions,
) -> Result<(), ExportError> {
    check_aligned(analysis, state)?;
    let out = LabelsJsonOut {
        format: LABELS_FORMAT,
        version: LABELS_VERSION,
        radcluster_version: env!("CARGO_PKG_VERSION"),
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        pseudonymised: opts.pseudonymizer.is_some(),
        params: state.params(),
        images: state.len(),
        excluded_images: state.excluded_count(),
        skipped_files: analysis.skipped.len(),
        non_image_objects: analysis.non_image.len(),
        metrics: state.dataset_metrics(),
        clusters: cluster_entries(analysis, state, opts),
        rows: label_rows(analysis, state, opts),
    };
    write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &out).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(io_err(path))
}

/// A cluster as read back from a label file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedCluster {
    pub id: ClusterId,
    pub name: String,
    /// Known from `labels.json`; a CSV import uses the palette.
    pub color: Option<[u8; 3]>,
    pub excluded: bool,
}

/// A parsed label file, not yet matched to an analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedLabels {
    pub source: PathBuf,
    pub rows: Vec<LabelRow>,
    pub clusters: Vec<ImportedCluster>,
    pub pseudonymised: bool,
}

/// How well an imported file matched the analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows matched to an image.
    pub matched: usize,
    /// Rows naming no image of this analysis.
    pub unmatched_rows: usize,
    /// Images the file did not label; they go to a cluster named "Unlabelled".
    pub unlabelled_images: usize,
    pub unlabelled_cluster: Option<ClusterId>,
}

#[derive(Deserialize)]
struct LabelsJsonIn {
    format: String,
    version: u32,
    #[serde(default)]
    pseudonymised: bool,
    #[serde(default)]
    clusters: Vec<ClusterEntry>,
    rows: Vec<LabelRow>,
}

/// Read an exported `labels.json` or `labels.csv` (chosen by content: a JSON file starts
/// with `{`).
pub fn import_labels(path: &Path) -> Result<ImportedLabels, ExportError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let bad = |reason: String| ExportError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'{') {
        let j: LabelsJsonIn = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a labels.json file: {e}")))?;
        if j.format != LABELS_FORMAT {
            return Err(bad(format!(
                "format is \"{}\", expected \"{LABELS_FORMAT}\"",
                j.format
            )));
        }
        if j.version != LABELS_VERSION {
            return Err(bad(format!(
                "labels version {} is not supported (expected {LABELS_VERSION})",
                j.version
            )));
        }
        let mut clusters: Vec<ImportedCluster> = j
            .clusters
            .iter()
            .map(|c| ImportedCluster {
                id: ClusterId(c.id),
                name: c.name.clone(),
                color: parse_hex_color(&c.color),
                excluded: c.excluded,
            })
            .collect();
        add_clusters_from_rows(&mut clusters, &j.rows);
        return Ok(ImportedLabels {
            source: path.to_path_buf(),
            rows: j.rows,
            clusters,
            pseudonymised: j.pseudonymised,
        });
    }
    let mut rd = csv::Reader::from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    for (line, r) in rd.deserialize::<LabelRow>().enumerate() {
        rows.push(r.map_err(|e| bad(format!("row {}: {e}", line + 1)))?);
    }
    let mut clusters = Vec::new();
    add_clusters_from_rows(&mut clusters, &rows);
    // Without per-cluster records, a cluster all of whose images are excluded is taken as
    // excluded as a whole; its images' own flags are then unknown and left clear.
    let mut all_excluded: HashMap<u32, bool> = HashMap::new();
    for r in &rows {
        let e = all_excluded.entry(r.cluster_id).or_insert(true);
        *e &= r.excluded;
    }
    for c in &mut clusters {
        c.excluded = all_excluded.get(&c.id.0).copied().unwrap_or(false);
    }
    Ok(ImportedLabels {
        source: path.to_path_buf(),
        rows,
        clusters,
        pseudonymised: false,
    })
}

fn add_clusters_from_rows(clusters: &mut Vec<ImportedCluster>, rows: &[LabelRow]) {
    for r in rows {
        if !clusters.iter().any(|c| c.id.0 == r.cluster_id) {
            clusters.push(ImportedCluster {
                id: ClusterId(r.cluster_id),
                name: r.cluster_name.clone(),
                color: None,
                excluded: false,
            });
        }
    }
}

impl ImportedLabels {
    /// Restore a review of `analysis` from these labels: rows are matched to images by
    /// path, then by SOP Instance UID (hashed with `pseudonymizer` when the file was
    /// pseudonymised). Images the file does not label go to a new "Unlabelled" cluster.
    pub fn to_review(
        &self,
        analysis: &Analysis,
        pseudonymizer: Option<&Pseudonymizer>,
    ) -> Result<(ReviewState, ImportReport), ExportError> {
        if self.pseudonymised && pseudonymizer.is_none() {
            return Err(ExportError::Format {
                path: self.source.clone(),
                reason: "the labels are pseudonymised; importing them needs the salt they were made with".into(),
            });
        }
        let p = pseudonymizer.filter(|_| self.pseudonymised);
        let path_key = |r: &crate::dicom::InstanceRecord| {
            p.map_or_else(
                || r.path.to_string_lossy().into_owned(),
                |p| p.path(&r.path),
            )
        };
        let uid_key = |u: &str| p.map_or_else(|| u.to_string(), |p| p.uid(u));
        let by_path: HashMap<String, usize> = analysis
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (path_key(r), i))
            .collect();
        let mut by_uid: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in analysis.records.iter().enumerate() {
            by_uid
                .entry(uid_key(&r.sop_instance_uid))
                .or_default()
                .push(i);
        }
        let n = analysis.records.len();
        let mut assignment: Vec<Option<ClusterId>> = vec![None; n];
        let mut image_excluded = vec![false; n];
        let excluded_cluster: HashMap<u32, bool> =
            self.clusters.iter().map(|c| (c.id.0, c.excluded)).collect();
        let mut report = ImportReport::default();
        for r in &self.rows {
            let hit = by_path
                .get(&r.path)
                .copied()
                .filter(|&i| assignment[i].is_none())
                .or_else(|| {
                    by_uid
                        .get(&r.sop_instance_uid)
                        .and_then(|v| v.iter().copied().find(|&i| assignment[i].is_none()))
                });
            match hit {
                Some(i) => {
                    assignment[i] = Some(ClusterId(r.cluster_id));
                    // Under an excluded cluster the row's flag says nothing about the image.
                    image_excluded[i] = r.excluded
                        && !excluded_cluster
                            .get(&r.cluster_id)
                            .copied()
                            .unwrap_or(false);
                    report.matched += 1;
                }
                None => report.unmatched_rows += 1,
            }
        }
        let mut clusters: Vec<Cluster> = self
            .clusters
            .iter()
            .map(|c| Cluster {
                id: c.id,
                name: c.name.clone(),
                color: c.color.unwrap_or_else(|| palette::color(c.id.0)),
                excluded: c.excluded,
            })
            .collect();
        report.unlabelled_images = assignment.iter().filter(|a| a.is_none()).count();
        let unlabelled = ClusterId(clusters.iter().map(|c| c.id.0 + 1).max().unwrap_or(0));
        if report.unlabelled_images > 0 {
            clusters.push(Cluster {
                id: unlabelled,
                name: "Unlabelled".into(),
                color: palette::color(unlabelled.0),
                excluded: false,
            });
            report.unlabelled_cluster = Some(unlabelled);
        }
        let assignment = assignment
            .into_iter()
            .map(|a| a.unwrap_or(unlabelled))
            .collect();
        let state = ReviewState::from_parts(analysis, assignment, clusters, image_excluded)
            .map_err(|e| ExportError::Format {
                path: self.source.clone(),
                reason: e.to_string(),
            })?;
        Ok((state, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::state::tests::sample;
    use crate::review::Edit;

    fn edited() -> (Analysis, ReviewState) {
        let a = sample();
        let mut s = ReviewState::from_analysis(&a);
        s.apply(Edit::Rename {
            cluster: ClusterId(1),
            name: "Brain, \"MR\"".into(),
        })
        .unwrap();
        s.apply(Edit::Move {
            images: vec![0],
            to: ClusterId(2),
        })
        .unwrap();
        s.apply(Edit::Exclude {
            images: vec![4],
            excluded: true,
        })
        .unwrap();
        s.apply(Edit::ExcludeCluster {
            cluster: ClusterId(3),
            excluded: true,
        })
        .unwrap();
        s.apply(Edit::Recolor {
            cluster: ClusterId(2),
            color: [1, 2, 250],
        })
        .unwrap();
        (a, s)
    }

    #[test]
    fn csv_rows_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (a, s) = edited();
        let p = dir.path().join("labels.csv");
        write_labels_csv(&p, &a, &s, &ExportOptions::default()).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "path,sop_instance_uid,series_instance_uid,study_instance_uid,cluster_id,cluster_name,modality,anatomy,distance_to_centre,x,y,excluded");
        assert_eq!(
            lines[1],
            "/data/img0.dcm,1.2.3.0,1.2.4.0,1.2.5,2,CR CHEST,CT,HEAD,,0.0,-0.0,false"
        );
        assert_eq!(lines[4], "/data/img3.dcm,1.2.3.3,1.2.4.1,1.2.5,1,\"Brain, \"\"MR\"\"\",MR,HEAD,1.5,3.0,-3.0,false");
        assert!(lines[5].ends_with(",true"));
        assert_eq!(lines.len(), 11);

        let imp = import_labels(&p).unwrap();
        let (back, rep) = imp.to_review(&a, None).unwrap();
        assert_eq!(
            rep,
            ImportReport {
                matched: 10,
                ..Default::default()
            }
        );
        assert_eq!(back.assignment(), s.assignment());
        assert_eq!(back.cluster(ClusterId(1)).unwrap().name, "Brain, \"MR\"");
        assert!(
            back.cluster(ClusterId(3)).unwrap().excluded,
            "all-excluded cluster restored as excluded"
        );
        assert!(back.is_image_excluded(4) && !back.is_image_excluded(8));
    }

    #[test]
    fn json_round_trip_is_exact_and_pseudonymised_needs_the_salt() {
        let dir = tempfile::tempdir().unwrap();
        let (a, s) = edited();
        let p = dir.path().join("labels.json");
        write_labels_json(&p, &a, &s, &ExportOptions::default()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["format"], LABELS_FORMAT);
        assert_eq!(v["params"]["k"], 10);
        assert_eq!(v["clusters"][2]["color"], "#0102fa");
        assert_eq!(v["clusters"][2]["size"], 4);
        assert_eq!(v["rows"].as_array().unwrap().len(), 10);
        let (back, _) = import_labels(&p).unwrap().to_review(&a, None).unwrap();
        assert_eq!(back, s);

        let salt = Pseudonymizer::new(b"k");
        let opts = ExportOptions {
            pseudonymizer: Some(salt.clone()),
        };
        let pp = dir.path().join("pseudo.json");
        write_labels_json(&pp, &a, &s, &opts).unwrap();
        let text = fs::read_to_string(&pp).unwrap();
        assert!(
            !text.contains("1.2.3.") && !text.contains("/data/"),
            "identifiers leaked"
        );
        let imp = import_labels(&pp).unwrap();
        assert!(imp.to_review(&a, None).is_err());
        let (back, rep) = imp.to_review(&a, Some(&salt)).unwrap();
        assert_eq!(rep.matched, 10);
        assert_eq!(back, s);
    }

    #[test]
    fn radiologynet_csv_and_partial_import() {
        let dir = tempfile::tempdir().unwrap();
        let (a, s) = edited();
        let p = dir.path().join("rn.csv");
        write_radiologynet_csv(&p, &a, &s, &ExportOptions::default()).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,ExamID,Modality,BodyPartExamined,Cluster");
        assert_eq!(lines[1], "1.2.3.0,1.2.5,CT,HEAD,2");
        // Image 4 and cluster 3 (images 8, 9) are excluded.
        assert_eq!(lines.len(), 1 + 7);

        // A label file for a subset: the rest becomes "Unlabelled".
        let c = dir.path().join("part.csv");
        let full = dir.path().join("full.csv");
        write_labels_csv(&full, &a, &s, &ExportOptions::default()).unwrap();
        let t = fs::read_to_string(&full).unwrap();
        let mut part: Vec<&str> = t.lines().take(4).collect();
        part.push("/elsewhere/x.dcm,9.9,9.9,9.9,1,Brain,MR,HEAD,,,,false");
        fs::write(&c, part.join("\n")).unwrap();
        let (back, rep) = import_labels(&c).unwrap().to_review(&a, None).unwrap();
        assert_eq!(
            (rep.matched, rep.unmatched_rows, rep.unlabelled_images),
            (3, 1, 7)
        );
        let u = rep.unlabelled_cluster.unwrap();
        assert_eq!(back.size(u), 7);
        assert_eq!(back.cluster(u).unwrap().name, "Unlabelled");

        fs::write(&c, "not,a\nlabel,file").unwrap();
        let e = import_labels(&c).unwrap_err();
        assert!(e.to_string().contains("part.csv"), "{e}");
    }
}
