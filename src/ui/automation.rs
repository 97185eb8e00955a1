//! Headless automation of the real app, for diagnostics and the crash test.
//!
//! `RADCLUSTER_AUTOMATION=script.txt radcluster DIR` runs the window's app without a
//! window: frames are driven through `egui::Context` directly, and the script's steps go
//! through the same commands the panels emit. One step per line:
//!
//! - `wait-clusters`: wait until the analysis is shown (10 min at most);
//! - `resume` / `fresh`: answer the "resume the previous review?" question, if asked;
//! - `print-names`: print `cluster<TAB>id<TAB>size<TAB>name` for every cluster;
//! - `rename-largest NAME`: rename the largest cluster (ties: lowest id);
//! - `wait-saved`: wait until every edit is written, then print `SAVED`;
//! - `churn`: rename the smallest cluster every frame, forever (to be killed mid-write);
//! - `echo TEXT`: print TEXT;
//! - `quit`: save and exit.
//!
//! Output lines are flushed at once so that a parent process can react to them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;

use super::app::RadclusterApp;
use super::cmd::Command;
use crate::review::Edit;

fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

/// Run `script` against the app opened on `folder`.
pub fn run_script(folder: Option<PathBuf>, script: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(script).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot read the automation script: {e}",
            script.display()
        )
    })?;
    let ctx = egui::Context::default();
    let mut app = RadclusterApp::new(folder);
    app.persist_recent = false;
    app.set_context(ctx.clone());
    let start = Instant::now();
    let frame = |app: &mut RadclusterApp| {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1400.0, 900.0),
            )),
            time: Some(start.elapsed().as_secs_f64()),
            ..Default::default()
        };
        let mut out = ctx.run_ui(input, |ui| app.show(ui));
        out.textures_delta.clear(); // no renderer: textures are never drawn
        std::thread::sleep(Duration::from_millis(10));
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (cmd, arg) = line
            .split_once(' ')
            .map_or((line, ""), |(c, a)| (c, a.trim()));
        match cmd {
            "wait-clusters" => {
                let deadline = Instant::now() + Duration::from_secs(600);
                while !app.has_clusters() {
                    if Instant::now() > deadline || (!app.is_busy() && app.job.is_some()) {
                        let why = app
                            .notice
                            .as_ref()
                            .map(|n| n.text.clone())
                            .unwrap_or_default();
                        anyhow::bail!("no clusters: {why}");
                    }
                    frame(&mut app);
                }
                frame(&mut app);
            }
            "resume" | "fresh" => {
                let asked = app
                    .review
                    .as_ref()
                    .is_some_and(|r| r.pending_resume.is_some());
                say(if asked {
                    "RESUME-OFFERED"
                } else {
                    "NO-SESSION"
                });
                if asked {
                    app.push_command(Command::Resume(cmd == "resume"));
                    frame(&mut app);
                }
            }
            "print-names" => {
                if let Some(r) = &app.review {
                    for s in &r.summaries {
                        say(&format!("cluster\t{}\t{}\t{}", s.id, s.size, s.name));
                    }
                }
            }
            "rename-largest" => {
                let id = largest(&app).ok_or_else(|| anyhow::anyhow!("no cluster to rename"))?;
                app.push_command(Command::Edit(Edit::Rename {
                    cluster: id,
                    name: arg.to_string(),
                }));
                frame(&mut app);
                say("EDITED");
            }
            "wait-saved" => {
                // Hand the current state to the autosave writer and wait until it is on
                // disk (the same path the app takes on exit), so that "SAVED" is only
                // printed once the edit really is in the session file.
                frame(&mut app);
                let r = app
                    .review
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("no review"))?;
                let saver = r
                    .saver
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("no autosave"))?;
                saver
                    .flush(&r.state, &r.history)
                    .map_err(|e| anyhow::anyhow!("autosave failed: {e}"))?;
                say("SAVED");
            }
            "churn" => {
                let mut k = 0u64;
                loop {
                    let id = app.review.as_ref().and_then(|r| {
                        r.summaries
                            .iter()
                            .min_by_key(|s| (s.size, s.id))
                            .map(|s| s.id)
                    });
                    if let Some(id) = id {
                        if Some(id) != largest(&app) {
                            app.push_command(Command::Edit(Edit::Rename {
                                cluster: id,
                                name: format!("churn {k}"),
                            }));
                        }
                    }
                    k += 1;
                    frame(&mut app);
                }
            }
            "echo" => say(arg),
            "quit" => break,
            other => anyhow::bail!("{}: unknown automation step {other:?}", script.display()),
        }
    }
    app.close_for_exit();
    Ok(())
}

fn largest(app: &RadclusterApp) -> Option<crate::review::ClusterId> {
    app.review
        .as_ref()?
        .summaries
        .iter()
        .max_by_key(|s| (s.size, std::cmp::Reverse(s.id)))
        .map(|s| s.id)
}
