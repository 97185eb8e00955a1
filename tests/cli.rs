//! The headless commands, run as a user would: the real binary on real DICOM folders.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_radcluster"));
    c.env("RUST_LOG", "error");
    c
}

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample")
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            Path::new(e["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn scan_sample_lists_images_non_images_and_skipped() {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("r.json");
    let st = bin()
        .args(["scan"])
        .arg(sample())
        .arg("--report")
        .arg(&report)
        .status()
        .unwrap();
    assert!(st.success());
    let r = read_json(&report);
    assert_eq!(r["files_seen"].as_u64().unwrap(), 30);
    let images = names(&r["images"]);
    assert!(images.iter().any(|n| n == "CT_small.dcm"));
    assert_eq!(
        images.iter().filter(|n| n.starts_with("brain_")).count(),
        20
    );
    let non_image = &r["non_image"];
    assert!(names(non_image).contains(&"test-SR.dcm".to_string()));
    let sr = non_image
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("test-SR.dcm"))
        .unwrap();
    assert!(sr["sop_class"].as_str().unwrap().contains("SR"), "{sr}");
    let skipped = r["skipped"].as_array().unwrap();
    let trunc = skipped
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("MR_truncated.dcm"))
        .unwrap();
    assert!(!trunc["reason"].as_str().unwrap().is_empty());
    // Every image record carries the fields of the report shape.
    for img in r["images"].as_array().unwrap() {
        for key in [
            "path",
            "sop_instance_uid",
            "modality",
            "anatomy",
            "anatomy_source",
            "rows",
            "cols",
            "frames",
            "transfer_syntax",
        ] {
            assert!(img.get(key).is_some(), "missing {key} in {img}");
        }
    }
    // No patient identity in the report.
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(!text.contains("PatientName") && !text.contains("patient_name"));
}

#[test]
fn scan_shared_archive_never_panics_and_accounts_for_every_file() {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("r.json");
    let o = bin()
        .args(["scan"])
        .arg(shared("dicom"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    let r = read_json(&report);
    let seen = r["files_seen"].as_u64().unwrap() as usize;
    let accounted = r["images"].as_array().unwrap().len()
        + r["non_image"].as_array().unwrap().len()
        + r["skipped"].as_array().unwrap().len();
    assert_eq!(seen, accounted);
    let skipped = names(&r["skipped"]);
    for broken in ["MR_truncated.dcm", "SOURCES.md"] {
        assert!(
            skipped.iter().any(|n| n == broken),
            "{broken} should be skipped: {skipped:?}"
        );
    }
    for entry in r["skipped"].as_array().unwrap() {
        assert!(!entry["reason"].as_str().unwrap().is_empty());
    }
    let images = names(&r["images"]);
    for f in [
        "CT_small.dcm",
        "MR_small_RLE.dcm",
        "JPEG-LL.dcm",
        "emri_small_RLE.dcm",
        "SC_rgb_jpeg.dcm",
    ] {
        assert!(
            images.iter().any(|n| n == f),
            "{f} should be an image: not in {} images",
            images.len()
        );
    }
    let non_image = names(&r["non_image"]);
    // ExplVR_*NoMeta have neither preamble nor file meta: recognised by content.
    for f in [
        "rtplan.dcm",
        "test-SR.dcm",
        "ExplVR_LitEndNoMeta.dcm",
        "ExplVR_BigEndNoMeta.dcm",
        "waveform_ecg.dcm",
    ] {
        assert!(
            non_image.iter().any(|n| n == f),
            "{f} should be a non-image object"
        );
    }
}

#[test]
fn empty_missing_and_file_arguments_fail_clearly() {
    let empty = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["scan"])
        .arg(empty.path())
        .arg("--report")
        .arg(empty.path().join("r.json"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty"));

    let o = bin()
        .args(["scan", "/no/such/folder", "--report", "/tmp/never.json"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/folder"));

    let o = bin()
        .args(["run", "/tmp", "--k", "0", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--k"));

    let o = bin()
        .args(["run", "/tmp", "--weights", "pixels=1", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown source"));
}

#[test]
fn symlink_loops_and_nested_extensionless_files() {
    let d = tempfile::tempdir().unwrap();
    let nested = d.path().join("patient/study/series");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(shared("dicom/pydicom/CT_small.dcm"), nested.join("IM0001")).unwrap();
    std::fs::write(d.path().join("notes.txt"), "not dicom").unwrap();
    std::os::unix::fs::symlink(d.path(), nested.join("loop")).unwrap();
    let report = d.path().join("r.json");
    let st = bin()
        .args(["scan"])
        .arg(d.path())
        .arg("--report")
        .arg(&report)
        .status()
        .unwrap();
    assert!(st.success());
    let r = read_json(&report);
    assert_eq!(names(&r["images"]), vec!["IM0001".to_string()]);
    let skipped = r["skipped"].as_array().unwrap();
    assert!(skipped
        .iter()
        .any(|e| e["reason"].as_str().unwrap().contains("not a DICOM")));
    assert!(
        skipped
            .iter()
            .any(|e| e["reason"].as_str().unwrap().contains("loop")),
        "{skipped:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn run_writes_every_output_and_same_seed_gives_same_labels() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    copy_dir(&sample(), &data);
    let run = |out: &Path| {
        let o = bin()
            .args(["run"])
            .arg(&data)
            .args(["--k", "4", "--seed", "7", "--projection", "pca", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    run(&a);
    // The second run finds every embedding in the cache: same seed, same output.
    run(&b);
    for f in [
        "labels.csv",
        "labels.json",
        "metrics.json",
        "radiologynet.csv",
        "skipped.json",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(a.join("labels.csv")).unwrap(),
        std::fs::read(b.join("labels.csv")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("radiologynet.csv")).unwrap(),
        std::fs::read(b.join("radiologynet.csv")).unwrap()
    );

    let mut rdr = csv::Reader::from_path(a.join("labels.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    for col in [
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
    ] {
        assert!(header.iter().any(|h| h == col), "labels.csv lacks {col}");
    }
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    // The sample holds 30 files: images, one SR and one truncated file.
    let m = read_json(&a.join("metrics.json"));
    assert_eq!(rows.len() as u64, m["images"].as_u64().unwrap());
    assert!(rows.len() >= 25, "{} rows", rows.len());
    let clusters: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.get(4).unwrap()).collect();
    assert_eq!(clusters.len(), 4);
    let nmi = m["metrics"]["modality"]["nmi"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&nmi));
    assert_eq!(m["params"]["seed"].as_u64(), Some(7));
    assert!(
        m["cache_hits"].as_u64().unwrap() == 0
            || m["cache_hits"].as_u64().unwrap() == rows.len() as u64
    );
    let m2 = read_json(&b.join("metrics.json"));
    assert_eq!(
        m2["cache_hits"].as_u64().unwrap(),
        rows.len() as u64,
        "second run must embed nothing"
    );

    let radnet = std::fs::read_to_string(a.join("radiologynet.csv")).unwrap();
    assert!(radnet
        .lines()
        .next()
        .unwrap()
        .starts_with("id,ExamID,Modality,BodyPartExamined,Cluster"));
}

#[test]
fn run_scores_a_synthetic_archive_against_its_ground_truth() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("synth");
    let st = bin()
        .args(["synth"])
        .arg(&data)
        .args(["--n", "48", "--seed", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    let out = work.path().join("out");
    let o = bin()
        .args(["run"])
        .arg(&data)
        .args([
            "--k",
            "16",
            "--text",
            "ngram",
            "--projection",
            "pca",
            "--truth",
        ])
        .arg(data.join("ground_truth.csv"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = read_json(&out.join("metrics.json"));
    assert_eq!(m["truth"]["matched"].as_u64(), Some(48));
    let nmi = m["truth"]["class"]["nmi"].as_f64().unwrap();
    assert!(nmi > 0.5, "NMI against the phantom classes is only {nmi}");
}

/// Run `cmd`, failing the test with its stderr unless it succeeds.
fn succeeds(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn sharded_embed_merges_into_a_cache_that_run_finds_complete() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    copy_dir(&sample(), &data);
    let shard_out = |i: usize| work.path().join(format!("shard-{i}"));
    let mut rows_per_shard = Vec::new();
    let mut paths = std::collections::BTreeSet::new();
    for i in 0..3 {
        succeeds(
            bin()
                .arg("embed")
                .arg(&data)
                .args(["--shard", &format!("{i}/3"), "--out"])
                .arg(shard_out(i)),
        );
        let m = read_json(&shard_out(i).join("shard.json"));
        assert_eq!(m["shard"]["index"].as_u64(), Some(i as u64));
        assert_eq!(m["shard"]["count"].as_u64(), Some(3));
        let images = m["images"].as_u64().unwrap() as usize;
        assert_eq!(m["embedded"].as_u64().unwrap() as usize, images);
        if images > 0 {
            let mut rdr = csv::Reader::from_path(shard_out(i).join("index.csv")).unwrap();
            for r in rdr.records() {
                // Each file is in exactly one shard.
                assert!(
                    paths.insert(r.unwrap()[1].to_owned()),
                    "a file in two shards"
                );
            }
        }
        rows_per_shard.push(images);
    }
    let total: usize = rows_per_shard.iter().sum();
    assert!(total >= 25, "{rows_per_shard:?}");
    assert!(
        rows_per_shard.iter().filter(|&&n| n > 0).count() >= 2,
        "{rows_per_shard:?}"
    );

    // Rerunning a shard embeds nothing: it resumes from its own cache.
    let o = bin()
        .arg("embed")
        .arg(&data)
        .args(["--shard", "1/3", "--out"])
        .arg(shard_out(1))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        read_json(&shard_out(1).join("shard.json"))["embedded"].as_u64(),
        Some(0)
    );

    // An incomplete set is refused, naming what is missing, and writes nothing.
    let merged = work.path().join("merged");
    let o = bin()
        .arg("merge")
        .arg(shard_out(0))
        .arg(shard_out(2))
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 of 3 shards are missing: 1"), "{err}");
    assert!(!merged.exists());
    // So is a folder that is not a shard's output.
    let o = bin()
        .arg("merge")
        .arg(&data)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard.json"));

    succeeds(
        bin()
            .arg("merge")
            .args((0..3).map(shard_out))
            .arg("--out")
            .arg(&merged),
    );
    let report = read_json(&merged.join("merge.json"));
    assert_eq!(report["images"].as_u64().unwrap() as usize, total);
    assert_eq!(report["thumbnails"].as_u64().unwrap() as usize, total);

    // The run on the merged cache embeds nothing.
    let out = work.path().join("run");
    succeeds(
        bin()
            .arg("run")
            .arg(&data)
            .args(["--k", "3", "--projection", "pca", "--cache"])
            .arg(&merged)
            .arg("--out")
            .arg(&out),
    );
    let m = read_json(&out.join("metrics.json"));
    assert_eq!(m["images"].as_u64().unwrap() as usize, total);
    assert_eq!(m["cache_hits"].as_u64().unwrap() as usize, total);
    assert!(
        !data.join(".radcluster").exists(),
        "the default cache was not used"
    );
}
