//! Synthetic DICOM archives with ground truth.
//!
//! [`generate`] writes `n` valid Part 10 files of sixteen modality x region classes
//! ([`classes`]) into a nested `PatientID/Study/Series` layout, plus `ground_truth.csv`.
//! Every file is drawn from its own generator seeded by the archive seed and the file's
//! index, so the archive is byte-identical for a seed however many threads write it.
//!
//! The layout is planned first, sequentially and cheaply ([`plan`]); files are then
//! rendered and written in parallel. [`render_pixels`] gives back the exact stored
//! samples of any planned file, which is how tests check decoders against the phantom.

mod canvas;
pub mod classes;
pub mod phantom;
mod rle;
mod rng;
mod tags;
pub mod write;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::{Cancel, Cancelled, Progress};
pub use classes::{classes, ClassSet, ClassSpec, Kind};
pub use phantom::StoredImage;
use rng::{derive, uid, Rng};
pub use write::Syntax;

/// File name of the ground truth written next to the patient folders.
pub const GROUND_TRUTH: &str = "ground_truth.csv";

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Number of image files (at least 1).
    pub n: usize,
    pub seed: u64,
    /// Write into a non-empty folder. Files of the same name are replaced; other files
    /// are left alone.
    pub force: bool,
    pub classes: ClassSet,
}

impl SynthConfig {
    pub fn new(n: usize, seed: u64) -> Self {
        SynthConfig {
            n,
            seed,
            force: false,
            classes: ClassSet::Default,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SynthSummary {
    pub files: usize,
    pub patients: usize,
    pub studies: usize,
    pub series: usize,
    pub bytes: u64,
    /// Files per class name.
    pub per_class: BTreeMap<&'static str, usize>,
    /// Files per transfer syntax.
    pub per_syntax: BTreeMap<Syntax, usize>,
    pub multi_frame: usize,
    pub monochrome1: usize,
    pub ground_truth: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("--n must be at least 1 (got 0)")]
    ZeroCount,
    #[error("output folder {} is not empty; pass --force to write into it anyway", .0.display())]
    NotEmpty(PathBuf),
    #[error("output path {} exists and is not a folder", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot write to output folder {}: {source}", path.display())]
    Unwritable { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot encode {}: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// One planned file.
#[derive(Clone, Debug, PartialEq)]
pub struct InstancePlan {
    pub index: usize,
    /// Index into the class set's specs.
    pub class: usize,
    /// Path relative to the output folder, `/`-separated.
    pub rel_path: String,
    pub modality: &'static str,
    patient: u32,
    study: u32,
    series: u32,
    series_number: u32,
    instance_number: u32,
    z: f32,
}

const S_PLAN: u64 = 1;
const S_PATIENT: u64 = 2;
const S_STUDY: u64 = 3;
const S_SERIES: u64 = 4;
const S_FILE: u64 = 5;
const S_UID_STUDY: u64 = 11;
const S_UID_SERIES: u64 = 12;
const S_UID_SOP: u64 = 13;
const S_UID_FOR: u64 = 14;

fn patient_id(seed: u64, patient: u32) -> String {
    format!("SYN{:04X}{patient:06}", derive(seed, S_PATIENT, 0) & 0xffff)
}

/// Instances per series for a class, before truncation at `n`.
fn series_len(kind: Kind, rng: &mut Rng) -> usize {
    match kind {
        Kind::CtHead
        | Kind::CtChest
        | Kind::CtAbdomen
        | Kind::CtPelvis
        | Kind::MrBrainT1
        | Kind::MrBrainT2
        | Kind::MrKnee
        | Kind::MrLspine => rng.int(2, 10) as usize,
        Kind::XrChestPa | Kind::XrHand | Kind::XrKnee | Kind::XrPelvis | Kind::NmWholeBody => {
            rng.int(1, 2) as usize
        }
        Kind::UsAbdomen => rng.int(1, 6) as usize,
        Kind::MgBreast => rng.int(2, 4) as usize,
        Kind::XaCoronary => rng.int(1, 4) as usize,
    }
}

/// Plan the archive layout: patients, studies, series, files. Cheap and sequential.
///
/// Series classes are drawn to keep class sizes balanced (of two random classes, the
/// one with fewer files so far), since series lengths differ by modality.
pub fn plan(cfg: &SynthConfig) -> Vec<InstancePlan> {
    let specs = cfg.classes.specs();
    let mut rng = Rng::new(derive(cfg.seed, S_PLAN, 0));
    let mut counts = vec![0usize; specs.len()];
    let mut out = Vec::with_capacity(cfg.n);
    let (mut patient, mut study, mut series) = (0u32, 0u32, 0u32);
    let ext = |rng: &mut Rng| {
        *rng.pick(&[
            ".dcm", ".dcm", ".dcm", ".dcm", ".dcm", ".dcm", ".DCM", "", "",
        ])
    };
    while out.len() < cfg.n {
        patient += 1;
        let pid = patient_id(cfg.seed, patient);
        let style = ext(&mut rng);
        for st in 0..rng.weighted(&[(1usize, 0.6), (2, 0.3), (3, 0.1)]) {
            study += 1;
            let mut series_number = 0;
            let mut class = {
                let (a, b) = (rng.below(specs.len()), rng.below(specs.len()));
                if counts[b] < counts[a] {
                    b
                } else {
                    a
                }
            };
            for _ in 0..rng.weighted(&[(1usize, 0.55), (2, 0.3), (3, 0.15)]) {
                if out.len() >= cfg.n {
                    break;
                }
                series += 1;
                series_number += *rng.pick(&[1, 1, 1, 100, 2]);
                // Later series of a study: often the same class, else the least filled.
                if rng.chance(0.4) {
                    class = (0..specs.len())
                        .min_by_key(|&c| (counts[c], c))
                        .unwrap_or(0);
                }
                let spec = &specs[class];
                let modality = *rng.pick(spec.modalities);
                let len = series_len(spec.kind, &mut rng).min(cfg.n - out.len());
                for k in 0..len {
                    let index = out.len();
                    let z = if len > 1 {
                        k as f32 / (len - 1) as f32
                    } else {
                        0.5
                    };
                    out.push(InstancePlan {
                        index,
                        class,
                        rel_path: format!(
                            "{pid}/ST{:02}_{}/SE{series_number:03}/IM{:05}{style}",
                            st + 1,
                            modality,
                            k + 1
                        ),
                        modality,
                        patient,
                        study,
                        series,
                        series_number,
                        instance_number: k as u32 + 1,
                        z,
                    });
                }
                counts[class] += len;
            }
        }
    }
    out
}

/// The stored samples and the chosen transfer syntax of one planned file, exactly as
/// [`generate`] writes them.
pub fn render_pixels(cfg: &SynthConfig, p: &InstancePlan) -> (StoredImage, Syntax) {
    render_pixels_as(cfg, p, None)
}

fn render_pixels_as(
    cfg: &SynthConfig,
    p: &InstancePlan,
    force: Option<Syntax>,
) -> (StoredImage, Syntax) {
    let spec = &cfg.classes.specs()[p.class];
    let mut rng = Rng::new(derive(cfg.seed, S_FILE, p.index as u64));
    let look = phantom::Look::draw(spec.kind, p.z, &mut rng);
    let img = phantom::render(spec.kind, &look, &mut rng);
    let syntax = loop {
        let s = rng.weighted(&[
            (Syntax::ExplicitLe, 0.32),
            (Syntax::ImplicitLe, 0.2),
            (Syntax::Rle, 0.16),
            (Syntax::JpegLsLossless, 0.1),
            (
                Syntax::JpegBaseline,
                if img.bits_allocated == 8 { 0.5 } else { 0.0 },
            ),
            (Syntax::DeflatedLe, 0.03),
        ]);
        if s.fits(&img) {
            break s;
        }
    };
    (img, force.unwrap_or(syntax))
}

/// Render and encode one planned file to Part 10 bytes.
pub fn render_file(
    cfg: &SynthConfig,
    p: &InstancePlan,
) -> Result<(Vec<u8>, StoredImage, Syntax), String> {
    render_file_as(cfg, p, None)
}

type Rendered = (Vec<u8>, StoredImage, Syntax);

fn render_file_as(
    cfg: &SynthConfig,
    p: &InstancePlan,
    force: Option<Syntax>,
) -> Result<Rendered, String> {
    let spec = &cfg.classes.specs()[p.class];
    let (img, syntax) = render_pixels_as(cfg, p, force);
    let seed = cfg.seed;
    let mut cx = tags::Context {
        spec,
        modality: p.modality,
        patient_id: patient_id(seed, p.patient),
        patient_no: p.patient,
        study_uid: uid(seed, S_UID_STUDY, u64::from(p.study)),
        series_uid: uid(seed, S_UID_SERIES, u64::from(p.series)),
        sop_uid: uid(seed, S_UID_SOP, p.index as u64),
        frame_of_reference_uid: uid(seed, S_UID_FOR, u64::from(p.series)),
        study_no: p.study,
        series_number: p.series_number,
        instance_number: p.instance_number,
        z: p.z,
        patient: Rng::new(derive(seed, S_PATIENT, u64::from(p.patient))),
        study: Rng::new(derive(seed, S_STUDY, u64::from(p.study))),
        series: Rng::new(derive(seed, S_SERIES, u64::from(p.series))),
        file: Rng::new(derive(seed, S_FILE ^ 0xff, p.index as u64)),
    };
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    tags::fill(&mut obj, &mut cx, &img);
    let file = write::to_file(obj, &img, syntax).map_err(|e| e.0)?;
    let mut bytes = Vec::with_capacity(img.data.len() + 4096);
    file.write_all(&mut bytes).map_err(|e| e.to_string())?;
    Ok((bytes, img, syntax))
}

fn check_out_dir(out_dir: &Path, force: bool) -> Result<(), SynthError> {
    match fs::metadata(out_dir) {
        Ok(m) if !m.is_dir() => return Err(SynthError::NotADirectory(out_dir.to_owned())),
        Ok(_) => {
            let mut entries = fs::read_dir(out_dir).map_err(|source| SynthError::Unwritable {
                path: out_dir.to_owned(),
                source,
            })?;
            if entries.next().is_some() && !force {
                return Err(SynthError::NotEmpty(out_dir.to_owned()));
            }
        }
        Err(_) => fs::create_dir_all(out_dir).map_err(|source| SynthError::Unwritable {
            path: out_dir.to_owned(),
            source,
        })?,
    }
    // Probe: a folder can exist and still refuse new files.
    let probe = out_dir.join(".radcluster-synth-probe");
    fs::write(&probe, b"")
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|source| SynthError::Unwritable {
            path: out_dir.to_owned(),
            source,
        })
}

/// Write a synthetic archive of `cfg.n` files into `out_dir`, plus `ground_truth.csv`.
pub fn generate(
    out_dir: &Path,
    cfg: &SynthConfig,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<SynthSummary, SynthError> {
    if cfg.n == 0 {
        return Err(SynthError::ZeroCount);
    }
    check_out_dir(out_dir, cfg.force)?;
    let plans = plan(cfg);
    progress.stage("synth", plans.len() as u64);

    // Create series folders first, in order, so the parallel part only writes files.
    let mut dirs: Vec<&str> = plans
        .iter()
        .filter_map(|p| p.rel_path.rsplit_once('/').map(|(d, _)| d))
        .collect();
    dirs.dedup();
    for d in dirs {
        let path = out_dir.join(d);
        fs::create_dir_all(&path).map_err(|source| SynthError::Io { path, source })?;
    }

    struct Row {
        bytes: u64,
        syntax: Syntax,
        frames: u32,
        photometric: &'static str,
        rows: u16,
        columns: u16,
        bits_stored: u16,
    }
    let rows: Vec<Row> = plans
        .par_iter()
        .map(|p| {
            cancel.check()?;
            let path = out_dir.join(&p.rel_path);
            let (bytes, img, syntax) =
                render_file(cfg, p).map_err(|reason| SynthError::Encode {
                    path: path.clone(),
                    reason,
                })?;
            fs::File::create(&path)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|source| SynthError::Io { path, source })?;
            progress.inc(1);
            Ok(Row {
                bytes: bytes.len() as u64,
                syntax,
                frames: img.frames,
                photometric: img.photometric,
                rows: img.rows,
                columns: img.columns,
                bits_stored: img.bits_stored,
            })
        })
        .collect::<Result<_, SynthError>>()?;

    let specs = cfg.classes.specs();
    let mut csv = csv::Writer::from_writer(Vec::new());
    let gt_path = out_dir.join(GROUND_TRUTH);
    let csv_err = |e: csv::Error| SynthError::Io {
        path: gt_path.clone(),
        source: io::Error::other(e),
    };
    csv.write_record([
        "path",
        "modality",
        "region",
        "class",
        "transfer_syntax",
        "frames",
        "photometric",
        "rows",
        "columns",
        "bits_stored",
    ])
    .map_err(csv_err)?;
    let mut summary = SynthSummary {
        files: plans.len(),
        ground_truth: gt_path.clone(),
        ..Default::default()
    };
    for (p, r) in plans.iter().zip(&rows) {
        let spec = &specs[p.class];
        csv.write_record([
            p.rel_path.as_str(),
            p.modality,
            spec.region.as_str(),
            spec.name,
            r.syntax.name(),
            &r.frames.to_string(),
            r.photometric,
            &r.rows.to_string(),
            &r.columns.to_string(),
            &r.bits_stored.to_string(),
        ])
        .map_err(csv_err)?;
        summary.bytes += r.bytes;
        *summary.per_class.entry(spec.name).or_default() += 1;
        *summary.per_syntax.entry(r.syntax).or_default() += 1;
        summary.multi_frame += usize::from(r.frames > 1);
        summary.monochrome1 += usize::from(r.photometric == "MONOCHROME1");
    }
    let body = csv.into_inner().map_err(|e| SynthError::Io {
        path: gt_path.clone(),
        source: io::Error::other(e.to_string()),
    })?;
    crate::atomic::write_atomic(&gt_path, &body).map_err(|source| SynthError::Io {
        path: gt_path.clone(),
        source,
    })?;
    if let Some(last) = plans.last() {
        summary.patients = last.patient as usize;
        summary.studies = last.study as usize;
        summary.series = last.series as usize;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_deterministic_balanced_and_nested() {
        let cfg = SynthConfig::new(2000, 42);
        let a = plan(&cfg);
        assert_eq!(a, plan(&cfg));
        assert_eq!(a.len(), 2000);
        let mut per = vec![0usize; classes().len()];
        for p in &a {
            per[p.class] += 1;
            assert_eq!(p.rel_path.split('/').count(), 4, "{}", p.rel_path);
        }
        let (lo, hi) = (per.iter().min().unwrap(), per.iter().max().unwrap());
        assert!(*lo * 3 > *hi * 2, "classes roughly balanced: {per:?}");
        // Paths are unique.
        let mut paths: Vec<_> = a.iter().map(|p| &p.rel_path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), a.len());
        // A shorter archive is a prefix of a longer one with the same seed.
        let short = plan(&SynthConfig::new(100, 42));
        assert_eq!(&a[..90], &short[..90]);
        assert_ne!(
            plan(&SynthConfig::new(100, 43))[0].rel_path,
            short[0].rel_path
        );
    }

    #[test]
    fn every_class_round_trips_through_every_syntax_it_fits() {
        use dicom_pixeldata::PixelDecoder;
        let cfg = SynthConfig::new(300, 8);
        let mut seen = std::collections::BTreeSet::new();
        let dir = std::env::temp_dir().join(format!("radcluster-synth-rt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for p in plan(&cfg) {
            if !seen.insert(p.class) {
                continue;
            }
            for s in Syntax::ALL {
                let (img, _) = render_pixels(&cfg, &p);
                if !s.fits(&img) {
                    continue;
                }
                let (bytes, img, got) = render_file_as(&cfg, &p, Some(s)).unwrap();
                assert_eq!(got, s);
                let path = dir.join(format!("{}-{}.dcm", p.class, s.name()));
                fs::write(&path, &bytes).unwrap();
                let obj = dicom_object::open_file(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let px = obj
                    .decode_pixel_data()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let data = px.data();
                assert_eq!(data.len(), img.data.len(), "{}", path.display());
                if s.is_lossless() {
                    assert!(
                        data == img.data.as_slice(),
                        "{}: samples differ",
                        path.display()
                    );
                } else {
                    let mad: f64 = data
                        .iter()
                        .zip(&img.data)
                        .map(|(a, b)| f64::from((i16::from(*a) - i16::from(*b)).abs()))
                        .sum::<f64>()
                        / data.len() as f64;
                    assert!(mad < 6.0, "{}: JPEG error {mad}", path.display());
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(seen.len(), classes().len());
    }

    #[test]
    fn zero_files_is_an_error() {
        let dir = std::env::temp_dir().join("radcluster-synth-zero");
        let err = generate(
            &dir,
            &SynthConfig::new(0, 1),
            &Progress::new(),
            &Cancel::new(),
        )
        .unwrap_err();
        assert!(matches!(err, SynthError::ZeroCount));
        assert!(err.to_string().contains("--n"));
    }
}
