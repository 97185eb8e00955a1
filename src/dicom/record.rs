//! The typed instance record: everything radcluster keeps about one image, read from its
//! header. No patient name, ID or birth date is ever stored here; patients are grouped by
//! a salted hash only ([`InstanceRecord::patient_key`]).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::anatomy::{AnatomySource, Region};

/// Flags for what RadiologyNET dropped. radcluster flags, never drops.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityFlags {
    /// Short side / long side below 0.1.
    pub extreme_aspect: bool,
    /// Almost every pixel is black after windowing.
    pub near_black: bool,
    /// Very few distinct grey levels.
    pub low_diversity: bool,
}

impl QualityFlags {
    pub fn any(&self) -> bool {
        self.extreme_aspect || self.near_black || self.low_diversity
    }
}

/// One displayable DICOM image (one file; multi-frame files are one record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub path: PathBuf,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    pub study_instance_uid: String,
    pub sop_class_uid: String,
    pub modality: String,
    /// BodyPartExamined as written in the file.
    pub body_part_raw: Option<String>,
    pub anatomy: Region,
    pub anatomy_source: AnatomySource,
    pub study_description: Option<String>,
    pub series_description: Option<String>,
    pub protocol_name: Option<String>,
    pub requested_procedure_description: Option<String>,
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub photometric_interpretation: String,
    /// Transfer syntax UID.
    pub transfer_syntax: String,
    pub bits_allocated: u16,
    /// (row spacing, column spacing) in mm.
    pub pixel_spacing: Option<(f64, f64)>,
    pub manufacturer: Option<String>,
    /// Salted SHA-256 of PatientID, truncated: for grouping only, never reversible.
    pub patient_key: String,
    /// First WindowCenter/WindowWidth, if present.
    pub window: Option<(f64, f64)>,
    // Numeric tags for the metadata encoder.
    pub slice_thickness: Option<f64>,
    pub kvp: Option<f64>,
    pub exposure_time: Option<f64>,
    pub xray_tube_current: Option<f64>,
    pub echo_time: Option<f64>,
    pub repetition_time: Option<f64>,
    pub inversion_time: Option<f64>,
    pub flip_angle: Option<f64>,
    pub magnetic_field_strength: Option<f64>,
    pub patient_age_years: Option<f64>,
    // Categorical tags for the metadata encoder.
    pub scanning_sequence: Option<String>,
    pub image_type: Vec<String>,
    pub patient_position: Option<String>,
    pub view_position: Option<String>,
    pub contrast_agent: bool,
    /// Set after decoding.
    pub quality: QualityFlags,
    /// File size and modification time (seconds since the epoch), for cache keys.
    pub file_size: u64,
    pub mtime: i64,
}

impl InstanceRecord {
    /// The description fields joined into one text for the text encoders, in a fixed order.
    pub fn description_text(&self) -> String {
        [
            &self.study_description,
            &self.series_description,
            &self.protocol_name,
            &self.requested_procedure_description,
        ]
        .iter()
        .filter_map(|s| s.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
    }
}

/// A DICOM object with no displayable frame (SR, RT plan, ECG, KOS, DICOMDIR...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonImage {
    pub path: PathBuf,
    /// Human name of the SOP class (or "Media Storage Directory" for DICOMDIR).
    pub sop_class: String,
    pub sop_class_uid: String,
    pub study_instance_uid: String,
    /// The text of an SR document, for attaching to its study's text embedding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A file that was not used, with the reason in plain words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}
