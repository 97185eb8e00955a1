//! Synthetic archives: determinism, read-back, pixel fidelity against the phantom, and
//! bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_pixeldata::PixelDecoder;
use radcluster::synth::{self, Syntax, SynthConfig, SynthError};
use radcluster::{Cancel, Progress};

fn generate(dir: &Path, n: usize, seed: u64) -> synth::SynthSummary {
    synth::generate(
        dir,
        &SynthConfig::new(n, seed),
        &Progress::new(),
        &Cancel::new(),
    )
    .expect("generate")
}

/// Every file under `root` with its bytes, by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().to_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn str_tag(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn same_seed_gives_identical_archives_and_another_seed_differs() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let sa = generate(a.path(), 64, 2024);
    let sb = generate(b.path(), 64, 2024);
    generate(c.path(), 64, 2025);
    let strip = |s: synth::SynthSummary| synth::SynthSummary {
        ground_truth: PathBuf::new(),
        ..s
    };
    assert_eq!(strip(sa), strip(sb));
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert_eq!(ta.len(), 65, "64 images and the ground truth");
    assert!(ta == tb, "same seed: byte-identical trees");
    assert_ne!(ta, tc, "another seed: another archive");
    // Fresh UIDs per seed: no SOP Instance UID is shared.
    let uids = |t: &BTreeMap<PathBuf, Vec<u8>>, root: &Path| -> BTreeSet<String> {
        t.keys()
            .filter(|p| !p.ends_with(synth::GROUND_TRUTH))
            .map(|p| {
                str_tag(
                    &dicom_object::open_file(root.join(p)).unwrap(),
                    tags::SOP_INSTANCE_UID,
                )
            })
            .collect()
    };
    let (ua, uc) = (uids(&ta, a.path()), uids(&tc, c.path()));
    assert_eq!(ua.len(), 64);
    assert!(ua.is_disjoint(&uc));
}

#[test]
fn every_file_reads_back_and_decodes_to_its_phantom() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::new(64, 99);
    let summary = synth::generate(dir.path(), &cfg, &Progress::new(), &Cancel::new()).unwrap();
    assert_eq!(summary.files, 64);

    // Ground truth: one row per file, in plan order.
    let mut rd = csv::Reader::from_path(dir.path().join(synth::GROUND_TRUTH)).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..4], ["path", "modality", "region", "class"]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let plans = synth::plan(&cfg);
    assert_eq!(rows.len(), plans.len());

    let specs = synth::classes();
    let mut syntaxes = BTreeSet::new();
    let mut modalities = BTreeSet::new();
    for (p, row) in plans.iter().zip(&rows) {
        let spec = &specs[p.class];
        assert_eq!(&row[0], p.rel_path);
        assert_eq!(
            (&row[1], &row[2], &row[3]),
            (p.modality, spec.region.as_str(), spec.name)
        );
        let path = dir.path().join(&p.rel_path);
        let obj =
            dicom_object::open_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (want, syntax) = synth::render_pixels(&cfg, p);
        assert_eq!(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            syntax.uid()
        );
        assert_eq!(str_tag(&obj, tags::MODALITY), p.modality);
        assert!(str_tag(&obj, tags::SOP_INSTANCE_UID).starts_with("2.25."));
        assert_eq!(
            str_tag(&obj, tags::PHOTOMETRIC_INTERPRETATION),
            if syntax == Syntax::JpegBaseline && want.samples_per_pixel == 3 {
                "YBR_FULL_422"
            } else {
                want.photometric
            }
        );
        assert!(str_tag(&obj, tags::PATIENT_NAME).starts_with("PHANTOM^"));
        syntaxes.insert(syntax);
        modalities.insert(p.modality);

        let px = obj
            .decode_pixel_data()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            (px.rows(), px.columns(), px.number_of_frames()),
            (u32::from(want.rows), u32::from(want.columns), want.frames),
            "{}",
            p.rel_path
        );
        let got = px.data();
        assert_eq!(got.len(), want.data.len(), "{}", p.rel_path);
        if syntax.is_lossless() {
            assert!(
                got == want.data.as_slice(),
                "{} ({}): decoded samples differ from the phantom",
                p.rel_path,
                syntax.name()
            );
        } else {
            let mad = got
                .iter()
                .zip(&want.data)
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() as f64)
                .sum::<f64>()
                / got.len() as f64;
            assert!(mad < 6.0, "{}: JPEG mean abs error {mad:.2}", p.rel_path);
        }
    }
    assert!(
        syntaxes.len() >= 4,
        "a mix of transfer syntaxes: {syntaxes:?}"
    );
    assert!(modalities.len() >= 4, "a mix of modalities: {modalities:?}");
}

#[test]
fn every_class_decodes_through_radcluster() {
    // One file per class, decoded by the pipeline's own decoder.
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::new(160, 5);
    generate(dir.path(), 160, 5);
    let mut seen = BTreeSet::new();
    for p in synth::plan(&cfg) {
        if !seen.insert(p.class) {
            continue;
        }
        let path = dir.path().join(&p.rel_path);
        let d = radcluster::dicom::decode::decode_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (lo, hi) = d
            .model_input
            .iter()
            .fold((255u8, 0u8), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(
            hi > lo + 40,
            "{}: decoded frame has contrast ({lo}..{hi})",
            p.rel_path
        );
    }
    assert_eq!(
        seen.len(),
        synth::classes().len(),
        "160 files cover all classes"
    );
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::new(0, 1);
    let e = synth::generate(dir.path(), &cfg, &Progress::new(), &Cancel::new()).unwrap_err();
    assert!(matches!(e, SynthError::ZeroCount), "{e}");

    fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    let e = synth::generate(
        dir.path(),
        &SynthConfig::new(3, 1),
        &Progress::new(),
        &Cancel::new(),
    )
    .unwrap_err();
    assert!(matches!(e, SynthError::NotEmpty(_)), "{e}");
    assert!(
        e.to_string().contains("--force")
            && e.to_string().contains(&dir.path().display().to_string())
    );
    let forced = SynthConfig {
        force: true,
        ..SynthConfig::new(3, 1)
    };
    assert_eq!(
        synth::generate(dir.path(), &forced, &Progress::new(), &Cancel::new())
            .unwrap()
            .files,
        3
    );
    assert!(
        dir.path().join("notes.txt").exists(),
        "--force leaves other files alone"
    );

    // A folder that cannot be created: its parent is a regular file.
    let blocked = dir.path().join("notes.txt").join("archive");
    let e = synth::generate(
        &blocked,
        &SynthConfig::new(3, 1),
        &Progress::new(),
        &Cancel::new(),
    )
    .unwrap_err();
    assert!(matches!(e, SynthError::Unwritable { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"));
    let e = synth::generate(
        &dir.path().join("notes.txt"),
        &SynthConfig::new(3, 1),
        &Progress::new(),
        &Cancel::new(),
    )
    .unwrap_err();
    assert!(matches!(e, SynthError::NotADirectory(_)), "{e}");

    // Cancelled before the first file: an error, not a partial success.
    let cancel = Cancel::new();
    cancel.cancel();
    let e = synth::generate(
        &dir.path().join("c"),
        &SynthConfig::new(5, 1),
        &Progress::new(),
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(e, SynthError::Cancelled(_)), "{e}");
}
