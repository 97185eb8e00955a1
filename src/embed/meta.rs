//! DICOM metadata features, after the RadiologyNET recipe: numeric tags standardised
//! (missing values get the median plus a missing-indicator column), categorical tags
//! one-hot encoded, and almost-empty or constant columns dropped. The encoder is fitted on
//! the loaded dataset; [`MetaEncoder::feature_names`] lists what it kept.

use std::collections::BTreeMap;

use crate::dicom::InstanceRecord;
use crate::Matrix;

type NumFn = fn(&InstanceRecord) -> Option<f64>;
type CatFn = fn(&InstanceRecord) -> Vec<String>;

fn pos(v: f64) -> Option<f64> {
    (v.is_finite() && v > 0.0).then_some(v)
}

/// Numeric tags, by feature name.
const NUMERIC: &[(&str, NumFn)] = &[
    ("pixel_spacing_row", |r| {
        r.pixel_spacing.and_then(|p| pos(p.0))
    }),
    ("pixel_spacing_col", |r| {
        r.pixel_spacing.and_then(|p| pos(p.1))
    }),
    ("pixel_aspect", |r| {
        r.pixel_spacing
            .and_then(|(a, b)| if a > 0.0 && b > 0.0 { pos(a / b) } else { None })
    }),
    ("slice_thickness", |r| r.slice_thickness),
    ("kvp", |r| r.kvp),
    ("exposure_time", |r| r.exposure_time),
    ("xray_tube_current", |r| r.xray_tube_current),
    ("echo_time", |r| r.echo_time),
    ("repetition_time", |r| r.repetition_time),
    ("inversion_time", |r| r.inversion_time),
    ("flip_angle", |r| r.flip_angle),
    ("magnetic_field_strength", |r| r.magnetic_field_strength),
    ("rows", |r| pos(r.rows as f64)),
    ("cols", |r| pos(r.cols as f64)),
    ("frames", |r| pos(r.frames as f64)),
    ("image_aspect", |r| {
        let (a, b) = (r.rows.min(r.cols) as f64, r.rows.max(r.cols) as f64);
        if b > 0.0 {
            Some(a / b)
        } else {
            None
        }
    }),
    ("patient_age_years", |r| r.patient_age_years),
];

fn norm(s: &str) -> Option<String> {
    let t = s.trim().to_uppercase();
    (!t.is_empty()).then_some(t)
}

fn opt(s: &Option<String>) -> Vec<String> {
    s.as_deref().and_then(norm).into_iter().collect()
}

/// Categorical tags, by feature name; a record may have several values (ImageType).
const CATEGORICAL: &[(&str, CatFn)] = &[
    ("modality", |r| norm(&r.modality).into_iter().collect()),
    ("manufacturer", |r| opt(&r.manufacturer)),
    ("anatomy", |r| vec![r.anatomy.as_str().to_owned()]),
    ("photometric", |r| {
        norm(&r.photometric_interpretation).into_iter().collect()
    }),
    ("scanning_sequence", |r| opt(&r.scanning_sequence)),
    ("image_type", |r| {
        let mut v: Vec<String> = r.image_type.iter().filter_map(|s| norm(s)).collect();
        v.sort();
        v.dedup();
        v
    }),
    ("patient_position", |r| opt(&r.patient_position)),
    ("view_position", |r| opt(&r.view_position)),
    ("contrast", |r| {
        vec![if r.contrast_agent { "YES" } else { "NO" }.to_owned()]
    }),
];

#[derive(Clone, Debug, PartialEq)]
enum Column {
    /// Standardised value (median where missing).
    Value {
        field: usize,
        median: f64,
        mean: f64,
        std: f64,
    },
    /// 1 where the value is missing.
    Missing { field: usize },
    /// 1 where the categorical field has this value.
    OneHot { field: usize, value: String },
}

/// A fitted metadata encoder.
#[derive(Clone, Debug)]
pub struct MetaEncoder {
    columns: Vec<Column>,
    names: Vec<String>,
}

/// A column seen in fewer rows than this is dropped as almost empty.
fn min_present(n: usize) -> usize {
    ((n as f64 * 0.01).ceil() as usize).max(2)
}

impl MetaEncoder {
    /// Fit on the dataset: keep the numeric tags with enough values, their missing
    /// indicators where some are missing, and every categorical value that is neither
    /// almost empty nor present in every row.
    pub fn fit(records: &[InstanceRecord]) -> Self {
        let n = records.len();
        let need = min_present(n);
        let mut columns = Vec::new();
        let mut names = Vec::new();
        for (field, (name, get)) in NUMERIC.iter().enumerate() {
            let mut vals: Vec<f64> = records
                .iter()
                .filter_map(get)
                .filter(|v| v.is_finite())
                .collect();
            if vals.len() < need {
                continue;
            }
            vals.sort_by(f64::total_cmp);
            let median = if vals.len() % 2 == 1 {
                vals[vals.len() / 2]
            } else {
                (vals[vals.len() / 2 - 1] + vals[vals.len() / 2]) / 2.0
            };
            let missing = n - vals.len();
            // Statistics of the imputed column, as it will be transformed.
            let sum: f64 = vals.iter().sum::<f64>() + median * missing as f64;
            let mean = sum / n as f64;
            let var = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                + missing as f64 * (median - mean).powi(2))
                / n as f64;
            let std = var.sqrt();
            if std > 1e-12 * mean.abs().max(1.0) {
                columns.push(Column::Value {
                    field,
                    median,
                    mean,
                    std,
                });
                names.push(name.to_string());
            }
            if missing >= need && missing < n {
                columns.push(Column::Missing { field });
                names.push(format!("{name}_missing"));
            }
        }
        for (field, (name, get)) in CATEGORICAL.iter().enumerate() {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for r in records {
                for v in get(r) {
                    *counts.entry(v).or_default() += 1;
                }
            }
            for (value, c) in counts {
                if c >= need && c < n {
                    names.push(format!("{name}={value}"));
                    columns.push(Column::OneHot { field, value });
                }
            }
        }
        Self { columns, names }
    }

    /// One row per record, one column per [`feature_names`](Self::feature_names) entry.
    /// Unseen categorical values encode as all zeros.
    pub fn transform(&self, records: &[InstanceRecord]) -> Matrix {
        let mut m = Matrix::zeros(records.len(), self.columns.len());
        for (i, r) in records.iter().enumerate() {
            let row = m.row_mut(i);
            let mut cats: Vec<Option<Vec<String>>> = vec![None; CATEGORICAL.len()];
            for (j, col) in self.columns.iter().enumerate() {
                row[j] = match col {
                    Column::Value {
                        field,
                        median,
                        mean,
                        std,
                    } => {
                        let v = (NUMERIC[*field].1)(r)
                            .filter(|v| v.is_finite())
                            .unwrap_or(*median);
                        ((v - mean) / std) as f32
                    }
                    Column::Missing { field } => {
                        if (NUMERIC[*field].1)(r).filter(|v| v.is_finite()).is_none() {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Column::OneHot { field, value } => {
                        let vals = cats[*field].get_or_insert_with(|| (CATEGORICAL[*field].1)(r));
                        if vals.iter().any(|v| v == value) {
                            1.0
                        } else {
                            0.0
                        }
                    }
                };
            }
        }
        m
    }

    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    pub fn dim(&self) -> usize {
        self.columns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::Region;

    fn rec(modality: &str, kvp: Option<f64>, rows: u32, image_type: &[&str]) -> InstanceRecord {
        InstanceRecord {
            modality: modality.into(),
            kvp,
            rows,
            cols: 512,
            frames: 1,
            photometric_interpretation: "MONOCHROME2".into(),
            image_type: image_type.iter().map(|s| s.to_string()).collect(),
            anatomy: Region::Chest,
            ..Default::default()
        }
    }

    fn col(enc: &MetaEncoder, m: &Matrix, name: &str) -> Vec<f32> {
        let j = enc
            .feature_names()
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        (0..m.rows).map(|i| m.row(i)[j]).collect()
    }

    #[test]
    fn standardises_imputes_and_flags_missing() {
        let recs = vec![
            rec("CT", Some(100.0), 512, &["ORIGINAL", "PRIMARY"]),
            rec("CT", Some(120.0), 512, &["ORIGINAL", "PRIMARY"]),
            rec("CT", Some(140.0), 256, &["DERIVED", "SECONDARY"]),
            rec("MR", None, 256, &["ORIGINAL", "PRIMARY"]),
            rec("mr ", None, 256, &["derived"]),
        ];
        let enc = MetaEncoder::fit(&recs);
        let m = enc.transform(&recs);
        assert_eq!((m.rows, m.cols), (5, enc.dim()));
        let kvp = col(&enc, &m, "kvp");
        // Missing values get the median (120), so rows 1, 3 and 4 coincide.
        assert_eq!(kvp[1], kvp[3]);
        assert_eq!(kvp[1], kvp[4]);
        assert!(kvp[0] < kvp[1] && kvp[1] < kvp[2]);
        let mean: f32 = kvp.iter().sum::<f32>() / 5.0;
        assert!(
            mean.abs() < 1e-5,
            "standardised column must have zero mean: {mean}"
        );
        assert_eq!(col(&enc, &m, "kvp_missing"), vec![0.0, 0.0, 0.0, 1.0, 1.0]);
        // Categorical values are normalised (trim, upper case) before one-hot encoding.
        assert_eq!(col(&enc, &m, "modality=MR"), vec![0.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(
            col(&enc, &m, "image_type=DERIVED"),
            vec![0.0, 0.0, 1.0, 0.0, 1.0]
        );
        assert_eq!(
            col(&enc, &m, "image_type=ORIGINAL"),
            vec![1.0, 1.0, 0.0, 1.0, 0.0]
        );
        assert!(m.data.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn drops_constant_and_near_empty_columns() {
        let mut recs: Vec<InstanceRecord> = (0..10)
            .map(|i| rec("CT", Some(100.0 + i as f64), 512, &["ORIGINAL"]))
            .collect();
        recs[0].echo_time = Some(12.0); // present in a single row: almost empty
        recs[0].manufacturer = Some("ACME".into()); // single row
        let enc = MetaEncoder::fit(&recs);
        let names = enc.feature_names();
        assert!(names.iter().any(|n| n == "kvp"));
        for dropped in [
            "echo_time",
            "echo_time_missing",
            "rows",
            "cols",
            "frames",
            "modality=CT",
            "anatomy=CHEST",
        ] {
            assert!(
                !names.iter().any(|n| n == dropped),
                "{dropped} must be dropped: {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with("manufacturer=")),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("image_type=")),
            "constant: {names:?}"
        );
    }

    #[test]
    fn empty_and_unseen_inputs_stay_finite() {
        let enc = MetaEncoder::fit(&[]);
        assert_eq!(enc.dim(), 0);
        let recs = vec![
            rec("CT", Some(100.0), 512, &[]),
            rec("CT", Some(100.0), 512, &[]),
            rec("DX", None, 1, &[]),
        ];
        let enc = MetaEncoder::fit(&recs[..2]);
        let m = enc.transform(&recs);
        assert!(m.data.iter().all(|v| v.is_finite()));
    }
}
