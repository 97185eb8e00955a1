//! Walk a folder, recognise DICOM by content (not by extension), and read headers only.
//!
//! Part 10 files are read up to Pixel Data (`read_until(PIXEL_DATA)`); files without the
//! preamble and file-meta group are recognised by their first element and read with an
//! inferred transfer syntax. Every file ends up in exactly one of `images`, `non_image`
//! or `skipped`; one bad file never stops the walk.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use dicom_core::dictionary::UidDictionary;
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids, StandardSopClassDictionary};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::anatomy;
use super::layout::{self, Enc, Start, Walk};
use super::record::{InstanceRecord, NonImage, Skipped};
use crate::progress::{Cancel, Cancelled, Progress};

/// The result of scanning a folder. This is also the shape of `REPORT.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScanReport {
    pub root: PathBuf,
    pub files_seen: usize,
    pub images: Vec<InstanceRecord>,
    pub non_image: Vec<NonImage>,
    pub skipped: Vec<Skipped>,
    pub seconds: f64,
}

/// Errors that stop a scan as a whole (a bad file never does).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}: no such folder")]
    Missing(PathBuf),
    #[error("{0}: not a folder")]
    NotADirectory(PathBuf),
    #[error("{path}: cannot read folder: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// Folders radcluster writes itself, never scanned.
pub const STATE_DIR: &str = ".radcluster";

/// List every regular file under `root`, following symlinks but never looping.
/// Unreadable entries are returned as skipped.
pub fn walk(root: &Path, cancel: &Cancel) -> Result<(Vec<PathBuf>, Vec<Skipped>), ScanError> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ScanError::Missing(root.to_owned()),
        _ => ScanError::Unreadable {
            path: root.to_owned(),
            reason: e.to_string(),
        },
    })?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory(root.to_owned()));
    }
    std::fs::read_dir(root).map_err(|e| ScanError::Unreadable {
        path: root.to_owned(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    // walkdir detects symlink loops when following links and reports them as errors.
    let it = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != STATE_DIR);
    let mut seen_real = HashSet::new();
    for entry in it {
        cancel.check()?;
        match entry {
            Ok(e) if e.file_type().is_file() => {
                // The same file reached through two links is listed once.
                let real = std::fs::canonicalize(e.path()).unwrap_or_else(|_| e.path().to_owned());
                if seen_real.insert(real) {
                    files.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(err) => {
                let path = err
                    .path()
                    .map(Path::to_owned)
                    .unwrap_or_else(|| root.to_owned());
                let reason = if err.loop_ancestor().is_some() {
                    "symbolic link loop, not followed".to_owned()
                } else {
                    format!(
                        "cannot read: {}",
                        err.io_error().map_or(err.to_string(), |e| e.to_string())
                    )
                };
                skipped.push(Skipped { path, reason });
            }
        }
    }
    Ok((files, skipped))
}

/// Scan `root`: walk, sniff and read every header in parallel on all cores.
pub fn scan_headers(
    root: &Path,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ScanReport, ScanError> {
    scan_headers_where(root, &|_| true, progress, cancel)
}

/// [`scan_headers`] of only the files for which `keep(path)` holds; the others are not
/// opened and count nowhere (not even in `files_seen`).
pub fn scan_headers_where(
    root: &Path,
    keep: &(dyn Fn(&Path) -> bool + Sync),
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ScanReport, ScanError> {
    let start = Instant::now();
    progress.stage("Finding files", 0);
    let (mut files, mut skipped) = walk(root, cancel)?;
    files.retain(|p| keep(p));
    skipped.retain(|s| keep(&s.path));
    progress.stage("Reading headers", files.len() as u64);
    let results: Vec<Result<Outcome, Cancelled>> = files
        .par_iter()
        .map(|p| {
            cancel.check()?;
            let out = read_one(p);
            progress.inc(1);
            Ok(out)
        })
        .collect();
    let mut report = ScanReport {
        root: root.to_owned(),
        files_seen: files.len(),
        ..Default::default()
    };
    for r in results {
        match r? {
            Outcome::Image(rec) => report.images.push(*rec),
            Outcome::NonImage(n) => report.non_image.push(n),
            Outcome::Skipped(s) => skipped.push(s),
        }
    }
    report.skipped = skipped;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// What one file turned out to be.
#[derive(Debug)]
pub enum Outcome {
    Image(Box<InstanceRecord>),
    NonImage(NonImage),
    Skipped(Skipped),
}

/// Read one file's header and classify it. Never panics: a decoder panic on hostile
/// input is caught and reported as a skipped file.
pub fn read_one(path: &Path) -> Outcome {
    let skipped = |reason: String| {
        Outcome::Skipped(Skipped {
            path: path.to_owned(),
            reason,
        })
    };
    match catch_unwind(AssertUnwindSafe(|| read_one_inner(path))) {
        Ok(Ok(o)) => o,
        Ok(Err(reason)) => skipped(reason),
        Err(_) => skipped("the DICOM parser failed on this file (malformed data)".to_owned()),
    }
}

/// Explicit VR Big Endian (retired in the standard, still found in archives).
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// How a file starts.
enum Sniff {
    Part10,
    /// No preamble: a raw data set in the given transfer syntax.
    Raw(&'static str),
    NotDicom,
}

fn sniff(head: &[u8]) -> Sniff {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Sniff::Part10;
    }
    if head.len() < 8 {
        return Sniff::NotDicom;
    }
    let group_le = u16::from_le_bytes([head[0], head[1]]);
    let group_be = u16::from_be_bytes([head[0], head[1]]);
    let vr_like = head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase();
    // A raw data set starts with a low group: command, file meta, identifying or patient.
    let plausible = |g: u16| matches!(g, 0x0000 | 0x0002 | 0x0008 | 0x0010);
    if plausible(group_le) && group_le != 0 {
        return Sniff::Raw(if vr_like {
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        } else {
            uids::IMPLICIT_VR_LITTLE_ENDIAN
        });
    }
    if plausible(group_be) && group_be != 0 && vr_like {
        return Sniff::Raw(EXPLICIT_VR_BIG_ENDIAN);
    }
    Sniff::NotDicom
}

/// The head of a file, its size and mtime, and whether the head is a Part 10 file whose
/// element headers were already walked, without fault, up to Pixel Data.
fn read_head(path: &Path) -> std::io::Result<(Vec<u8>, u64, i64, bool)> {
    let mut f = File::open(path)?;
    let md = f.metadata()?;
    // One read serves both the sniffing and the length check: first a short one, which
    // holds the whole header of most files; the rest of the checked length only when the
    // element headers run past it before Pixel Data.
    let mut head = Vec::new();
    (&mut f).take(FIRST_READ_BYTES).read_to_end(&mut head)?;
    let header_inside = head.len() >= 132
        && &head[128..132] == b"DICM"
        && matches!(
            layout::walk(&head, md.len(), 132, Start::Part10 { flip: false }),
            Ok(Walk::PixelData { .. })
        );
    if head.len() as u64 == FIRST_READ_BYTES && !header_inside {
        f.take(LENGTH_CHECK_BYTES - FIRST_READ_BYTES)
            .read_to_end(&mut head)?;
    }
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    Ok((head, md.len(), mtime, header_inside))
}

fn read_one_inner(path: &Path) -> Result<Outcome, String> {
    let (head, size, mtime, walked) = read_head(path).map_err(|e| format!("cannot read: {e}"))?;
    let sniffed = sniff(&head);
    // Whether `head` holds everything before Pixel Data (then it is parsed from memory).
    let mut whole_header = walked || head.len() as u64 == size;
    match sniffed {
        Sniff::Part10 if walked => {}
        Sniff::Part10 => {
            // A data set in implicit VR under a meta group that says explicit is read so
            // directly (`read_mislabelled_implicit`): read as explicit, a value's bytes
            // become a length of up to 4 GB that dicom-rs allocates and zeroes before it
            // fails (1 s and 1.2 GB on a 4 KB file).
            match check_lengths(&head, size, 132, None) {
                Ok(walk) => whole_header |= matches!(walk, Walk::PixelData { .. }),
                Err(e) => {
                    check_lengths(&head, size, 132, Some(IMPLICIT_AFTER_META))
                        .map_err(|_| format!("corrupt DICOM: {e}"))?;
                    return read_mislabelled_implicit(path, size, mtime)
                        .ok_or_else(|| format!("corrupt DICOM: {e}"));
                }
            }
        }
        Sniff::Raw(ts) => {
            check_lengths(&head, size, 0, Some(ts)).map_err(|e| format!("corrupt DICOM: {e}"))?;
        }
        Sniff::NotDicom => {}
    }
    let (obj, ts): (InMemDicomObject, String) = match sniffed {
        Sniff::NotDicom => {
            return Err("not a DICOM file (no DICM preamble and no recognisable data set)".into())
        }
        Sniff::Part10 => {
            let options = OpenFileOptions::new().read_until(tags::PIXEL_DATA);
            let parsed = if whole_header {
                options
                    .read_preamble(ReadPreamble::Never)
                    .from_reader(&head[128..])
            } else {
                options.open_file(path)
            };
            let f = match parsed {
                Ok(f) => f,
                Err(e) => {
                    // Some writers declare explicit VR in the file meta but encode the data
                    // set in implicit VR (pydicom reads these with a warning): retry so.
                    return read_mislabelled_implicit(path, size, mtime)
                        .ok_or_else(|| format!("invalid DICOM: {}", first_line(&e.to_string())));
                }
            };
            let ts = f
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .trim()
                .to_owned();
            let sop_class = f
                .meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0')
                .trim()
                .to_owned();
            let obj = f.into_inner();
            if sop_class == uids::MEDIA_STORAGE_DIRECTORY_STORAGE
                || obj.get(tags::DIRECTORY_RECORD_SEQUENCE).is_some()
            {
                return Ok(Outcome::NonImage(NonImage {
                    path: path.to_owned(),
                    sop_class: "Media Storage Directory (DICOMDIR)".into(),
                    sop_class_uid: uids::MEDIA_STORAGE_DIRECTORY_STORAGE.into(),
                    study_instance_uid: String::new(),
                    text: None,
                }));
            }
            (obj, ts)
        }
        Sniff::Raw(ts_uid) => {
            let ts = TransferSyntaxRegistry
                .get(ts_uid)
                .ok_or("unsupported transfer syntax")?;
            let f = BufReader::new(File::open(path).map_err(|e| format!("cannot read: {e}"))?);
            let obj = InMemDicomObject::read_dataset_with_ts(f, ts).map_err(|e| {
                format!(
                    "invalid DICOM data set without file meta: {}",
                    first_line(&e.to_string())
                )
            })?;
            // A raw read counts as DICOM only with an identifying element (as pydicom's
            // forced read does).
            if obj.get(tags::SOP_CLASS_UID).is_none() && obj.get(tags::MODALITY).is_none() {
                return Err("not a DICOM file (data set has no SOP class or modality)".into());
            }
            (obj, ts_uid.to_owned())
        }
    };
    if TransferSyntaxRegistry.get(&ts).is_none() {
        return Err(format!("unsupported transfer syntax {ts}"));
    }
    Ok(classify(path, &obj, ts, size, mtime))
}

/// `ts` value for [`check_lengths`]: a Part 10 file whose data set is in the other VR
/// explicitness than its meta group declares.
const IMPLICIT_AFTER_META: &str = "implicit-after-meta";

/// How much of a file [`check_lengths`] looks at: element headers beyond it are not checked.
const LENGTH_CHECK_BYTES: u64 = 256 * 1024;

/// The first read of a file's head; most headers end well inside it.
const FIRST_READ_BYTES: u64 = 16 * 1024;

/// Walk the element headers in `buf` (the first bytes of a file of `size` bytes) from
/// `start` ([`layout::walk`]) and fail on the first header that cannot be right: an invalid
/// VR or a defined length longer than the rest of the file. `ts`: `None` for a Part 10 file
/// (its meta group names the encoding), else the encoding of a raw data set. Deflated data
/// sets are not checked. Stops at Pixel Data.
fn check_lengths(buf: &[u8], size: u64, start: usize, ts: Option<&str>) -> Result<Walk, String> {
    let from = match ts {
        None => Start::Part10 { flip: false },
        Some(IMPLICIT_AFTER_META) => Start::Part10 { flip: true },
        Some(uids::IMPLICIT_VR_LITTLE_ENDIAN) => Start::Raw(Enc::ImplicitLe),
        Some(uids::EXPLICIT_VR_LITTLE_ENDIAN) => Start::Raw(Enc::ExplicitLe),
        Some(EXPLICIT_VR_BIG_ENDIAN) => Start::Raw(Enc::ExplicitBe),
        Some(_) => return Ok(Walk::Deflated),
    };
    match layout::walk(buf, size, start, from)? {
        Walk::UndefinedUn { group, elem } => Err(format!(
            "element ({group:04X},{elem:04X}) is UN with undefined length (not supported)"
        )),
        walk => Ok(walk),
    }
}

/// Re-read a Part 10 file whose data set is implicit VR little endian although its file
/// meta says otherwise. Returns `None` unless that reading yields an identifiable data set.
fn read_mislabelled_implicit(path: &Path, size: u64, mtime: i64) -> Option<Outcome> {
    let meta = OpenFileOptions::new()
        .read_until(Tag(0x0008, 0x0000))
        .open_file(path)
        .ok()?;
    let ts = meta
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .trim()
        .to_owned();
    let bytes = std::fs::read(path).ok()?;
    // Preamble (128) + "DICM" (4) + the group length element (12) + the group it counts.
    let group_len = u32::from_le_bytes(bytes.get(140..144)?.try_into().ok()?) as usize;
    let start = 144usize.checked_add(group_len)?;
    let implicit = TransferSyntaxRegistry.get(uids::IMPLICIT_VR_LITTLE_ENDIAN)?;
    let obj = InMemDicomObject::read_dataset_with_ts(bytes.get(start..)?, implicit).ok()?;
    get_str(&obj, tags::SOP_CLASS_UID)?;
    Some(classify(path, &obj, ts, size, mtime))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(200).collect()
}

// Attributes are looked up with `get`: `element_opt` builds an error for an absent tag,
// and that error captures a backtrace whenever RUST_BACKTRACE is set (a third of the scan's
// time, measured with perf).

/// Trimmed string value of a tag, if present and non-empty.
pub fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_owned())
}

fn get_multi(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    obj.get(tag)
        .and_then(|e| {
            e.to_multi_str().ok().map(|v| {
                v.iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// First numeric value of a tag (DS, IS, US, FD...), if present and finite.
pub fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let e = obj.get(tag)?;
    let v = e.to_multi_float64().ok()?.into_iter().next()?;
    v.is_finite().then_some(v)
}

fn get_f64s(obj: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    obj.get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .unwrap_or_default()
}

/// Human name of a SOP class UID.
pub fn sop_class_name(uid: &str) -> String {
    StandardSopClassDictionary
        .by_uid(uid)
        .map(|e| e.name.to_owned())
        .unwrap_or_else(|| {
            if uid.is_empty() {
                "unknown SOP class".into()
            } else {
                format!("SOP class {uid}")
            }
        })
}

/// Salted, truncated SHA-256 of the patient ID: groups images by patient without
/// keeping anything that identifies one.
pub fn patient_key(patient_id: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"radcluster-patient-v1:");
    h.update(patient_id.unwrap_or("").as_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parse an Age String like "045Y", "006M", "010W", "003D" into years.
pub fn parse_age(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "Y" | "y" => n,
        "M" | "m" => n / 12.0,
        "W" | "w" => n / 52.0,
        "D" | "d" => n / 365.0,
        _ => return None,
    })
}

/// Collect the text of an SR document's content tree.
fn sr_text(obj: &InMemDicomObject, depth: usize, out: &mut Vec<String>) {
    if depth > 16 {
        return;
    }
    if let Some(t) = get_str(obj, tags::TEXT_VALUE) {
        out.push(t);
    }
    if let Some(items) = obj.get(tags::CONTENT_SEQUENCE).and_then(|e| e.items()) {
        for item in items {
            sr_text(item, depth + 1, out);
        }
    }
}

fn classify(
    path: &Path,
    obj: &InMemDicomObject,
    ts: String,
    file_size: u64,
    mtime: i64,
) -> Outcome {
    let sop_class_uid = get_str(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    let rows = get_f64(obj, tags::ROWS).unwrap_or(0.0) as u32;
    let cols = get_f64(obj, tags::COLUMNS).unwrap_or(0.0) as u32;
    let has_bits = obj.get(tags::BITS_ALLOCATED).is_some();
    let study_instance_uid = get_str(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default();
    if rows == 0 || cols == 0 || !has_bits {
        let mut text = Vec::new();
        sr_text(obj, 0, &mut text);
        return Outcome::NonImage(NonImage {
            path: path.to_owned(),
            sop_class: sop_class_name(&sop_class_uid),
            sop_class_uid,
            study_instance_uid,
            text: (!text.is_empty()).then(|| text.join(" ")),
        });
    }
    let body_part_raw = get_str(obj, tags::BODY_PART_EXAMINED);
    let study_description = get_str(obj, tags::STUDY_DESCRIPTION);
    let series_description = get_str(obj, tags::SERIES_DESCRIPTION);
    let protocol_name = get_str(obj, tags::PROTOCOL_NAME);
    let requested_procedure_description = get_str(obj, tags::REQUESTED_PROCEDURE_DESCRIPTION);
    let descriptions: Vec<&str> = [
        &series_description,
        &study_description,
        &protocol_name,
        &requested_procedure_description,
    ]
    .iter()
    .filter_map(|s| s.as_deref())
    .collect();
    let (anatomy, anatomy_source) = anatomy::normalise(body_part_raw.as_deref(), &descriptions);
    let spacing = {
        let v = get_f64s(obj, tags::PIXEL_SPACING);
        let v = if v.len() >= 2 {
            v
        } else {
            get_f64s(obj, tags::IMAGER_PIXEL_SPACING)
        };
        (v.len() >= 2).then(|| (v[0], v[1]))
    };
    let window = match (
        get_f64(obj, tags::WINDOW_CENTER),
        get_f64(obj, tags::WINDOW_WIDTH),
    ) {
        (Some(c), Some(w)) if w > 0.0 => Some((c, w)),
        _ => None,
    };
    let contrast_agent = get_str(obj, tags::CONTRAST_BOLUS_AGENT).is_some();
    let rec = InstanceRecord {
        path: path.to_owned(),
        sop_instance_uid: get_str(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        series_instance_uid: get_str(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        study_instance_uid,
        sop_class_uid,
        modality: get_str(obj, tags::MODALITY)
            .unwrap_or_else(|| "OT".into())
            .to_uppercase(),
        body_part_raw,
        anatomy,
        anatomy_source,
        study_description,
        series_description,
        protocol_name,
        requested_procedure_description,
        rows,
        cols,
        frames: get_f64(obj, tags::NUMBER_OF_FRAMES).map_or(1, |f| f.max(1.0) as u32),
        photometric_interpretation: get_str(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_default(),
        transfer_syntax: ts,
        bits_allocated: get_f64(obj, tags::BITS_ALLOCATED).unwrap_or(0.0) as u16,
        pixel_spacing: spacing,
        manufacturer: get_str(obj, tags::MANUFACTURER),
        patient_key: patient_key(get_str(obj, tags::PATIENT_ID).as_deref()),
        window,
        slice_thickness: get_f64(obj, tags::SLICE_THICKNESS),
        kvp: get_f64(obj, tags::KVP),
        exposure_time: get_f64(obj, tags::EXPOSURE_TIME),
        xray_tube_current: get_f64(obj, tags::X_RAY_TUBE_CURRENT),
        echo_time: get_f64(obj, tags::ECHO_TIME),
        repetition_time: get_f64(obj, tags::REPETITION_TIME),
        inversion_time: get_f64(obj, tags::INVERSION_TIME),
        flip_angle: get_f64(obj, tags::FLIP_ANGLE),
        magnetic_field_strength: get_f64(obj, tags::MAGNETIC_FIELD_STRENGTH),
        patient_age_years: get_str(obj, tags::PATIENT_AGE).and_then(|a| parse_age(&a)),
        scanning_sequence: get_str(obj, tags::SCANNING_SEQUENCE),
        image_type: get_multi(obj, tags::IMAGE_TYPE),
        patient_position: get_str(obj, tags::PATIENT_POSITION),
        view_position: get_str(obj, tags::VIEW_POSITION),
        contrast_agent,
        quality: Default::default(),
        file_size,
        mtime,
    };
    Outcome::Image(Box::new(rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_part10_raw_and_other() {
        let mut p10 = vec![0u8; 132];
        p10[128..132].copy_from_slice(b"DICM");
        assert!(matches!(sniff(&p10), Sniff::Part10));
        // (0008,0005) CS: explicit VR little endian without meta.
        let raw = [0x08, 0x00, 0x05, 0x00, b'C', b'S', 0x0a, 0x00];
        assert!(matches!(
            sniff(&raw),
            Sniff::Raw(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        ));
        let implicit = [0x08, 0x00, 0x05, 0x00, 0x0a, 0x00, 0x00, 0x00];
        assert!(matches!(
            sniff(&implicit),
            Sniff::Raw(uids::IMPLICIT_VR_LITTLE_ENDIAN)
        ));
        assert!(matches!(sniff(b"%PDF-1.4 hello world"), Sniff::NotDicom));
        assert!(matches!(sniff(b"ab"), Sniff::NotDicom));
    }

    fn check_file_lengths(
        path: &Path,
        size: u64,
        start: usize,
        ts: Option<&str>,
    ) -> Result<(), String> {
        let (head, _, _, _) = read_head(path).map_err(|e| e.to_string())?;
        check_lengths(&head, size, start, ts)
            .map(|_| ())
            .map_err(|e| format!("corrupt DICOM: {e}"))
    }

    fn shared(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/dicom")
            .join(rel)
    }

    #[test]
    fn length_check_rejects_impossible_lengths_and_passes_good_files() {
        // This file makes the parser allocate gigabytes when read without the check.
        let un = shared("pydicom/UN_sequence.dcm");
        let err =
            check_file_lengths(&un, std::fs::metadata(&un).unwrap().len(), 132, None).unwrap_err();
        assert!(err.contains("corrupt DICOM"), "{err}");
        for f in [
            "pydicom/CT_small.dcm",
            "pydicom/MR_small_implicit.dcm",
            "pydicom/rtplan.dcm",
            "pydicom-data/US1_J2KR.dcm",
        ] {
            let p = shared(f);
            check_file_lengths(&p, std::fs::metadata(&p).unwrap().len(), 132, None)
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        let raw = shared("pydicom/ExplVR_LitEndNoMeta.dcm");
        let size = std::fs::metadata(&raw).unwrap().len();
        check_file_lengths(&raw, size, 0, Some("1.2.840.10008.1.2.1")).unwrap();
        // A length past the end of the file.
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend_from_slice(&[0x08, 0x00, 0x20, 0x00, b'D', b'A', 0xff, 0x7f]);
        assert!(check_lengths(&bytes, bytes.len() as u64, 132, None)
            .unwrap_err()
            .contains("declares"));
    }

    #[test]
    fn ages_and_patient_keys() {
        assert_eq!(parse_age("045Y"), Some(45.0));
        assert_eq!(parse_age("006M"), Some(0.5));
        assert_eq!(parse_age("bad"), None);
        assert_eq!(parse_age(""), None);
        let k = patient_key(Some("12345"));
        assert_eq!(k.len(), 16);
        assert_eq!(k, patient_key(Some("12345")));
        assert_ne!(k, patient_key(Some("12346")));
        assert!(!k.contains("12345"));
    }

    #[test]
    fn missing_and_file_roots_are_errors() {
        let c = Cancel::new();
        assert!(matches!(
            walk(Path::new("/definitely/not/here"), &c),
            Err(ScanError::Missing(_))
        ));
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(
            walk(f.path(), &c),
            Err(ScanError::NotADirectory(_))
        ));
    }
}
