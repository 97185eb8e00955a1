//! The application: persisted settings, the background job, the review session and the
//! panels. `show` lays out one frame; commands the panels emitted are applied afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{self, Color32, RichText, Ui};

use crate::dicom::{InstanceRecord, NonImage, Skipped};
use crate::pipeline::{self, Algo, Analysis, Event, ProjectionKind, RunParams};
use crate::review::{
    Autosaver, ClusterId, ClusterSummary, DatasetMetrics, Edit, History, Resumed, ReviewState,
    SessionStore,
};

use super::charts;
use super::clusters::{self, ClusterAction, ClusterList};
use super::cmd::Command;
use super::colors;
use super::export_dialog::ExportDialog;
use super::grid::{self, GridAction, GridInput, GridPanel, GridSort};
use super::jobs::{format_eta, Job};
use super::map::{MapAction, MapInput, MapPanel};
use super::recent::Recent;
use super::selection::{SelectMode, Selection};
use super::start::{folder_of_drop, StartAction, StartScreen};
use super::thumbs::{ThumbCache, ThumbSource};
use super::viewer::{FrameLoader, Viewer, ViewerAction};

/// What the map colours points by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColourBy {
    #[default]
    Cluster,
    Modality,
    Anatomy,
}

/// What the grid shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GridSource {
    #[default]
    Cluster,
    Selection,
}

/// A message for the user, shown in the status bar (and on the start screen).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// Images known before the clusters exist (from the scan).
pub struct Scanned {
    pub records: Arc<Vec<InstanceRecord>>,
    pub non_image: Vec<NonImage>,
    pub skipped: Vec<Skipped>,
}

/// A loaded review: the analysis, the curated state and everything derived from it.
pub struct Review {
    pub analysis: Arc<Analysis>,
    pub state: ReviewState,
    pub history: History,
    pub saver: Option<Autosaver>,
    pub selection: Selection,
    pub focused: Option<ClusterId>,
    pub summaries: Vec<ClusterSummary>,
    pub metrics: DatasetMetrics,
    derived_rev: Option<u64>,
    pub colour_by: ColourBy,
    point_colors: Vec<Color32>,
    legend: Vec<(String, Color32)>,
    colors_key: Option<(u64, ColourBy)>,
    map_generation: u64,
    map_key: Option<(u64, u64)>,
    pub grid_sort: GridSort,
    pub grid_source: GridSource,
    grid_items: Vec<usize>,
    grid_key: Option<(u64, Option<ClusterId>, GridSort, GridSource, u64)>,
    pub thumbs: ThumbCache,
    loader: FrameLoader,
    /// A previous session waiting for the user's answer.
    pub pending_resume: Option<Resumed>,
}

impl Review {
    fn new(analysis: Arc<Analysis>, thumbs: ThumbCache) -> Self {
        let loader = frame_loader(Arc::new(analysis.records.clone()));
        let state = ReviewState::from_analysis(&analysis);
        let n = analysis.records.len();
        let mut r = Self {
            analysis,
            state,
            history: History::new(),
            saver: None,
            selection: Selection::new(n),
            focused: None,
            summaries: Vec::new(),
            metrics: DatasetMetrics::default(),
            derived_rev: None,
            colour_by: ColourBy::Cluster,
            point_colors: Vec::new(),
            legend: Vec::new(),
            colors_key: None,
            map_generation: 0,
            map_key: None,
            grid_sort: GridSort::Typical,
            grid_source: GridSource::Cluster,
            grid_items: Vec::new(),
            grid_key: None,
            thumbs,
            loader,
            pending_resume: None,
        };
        r.refresh();
        r
    }

    /// Recompute summaries, colours, legend and grid order when the review changed.
    pub fn refresh(&mut self) {
        let rev = self.state.revision();
        if self.derived_rev != Some(rev) {
            self.summaries = self.state.summaries();
            self.metrics = self.state.dataset_metrics();
            self.derived_rev = Some(rev);
            if self.focused.is_none_or(|f| self.state.cluster(f).is_none()) {
                self.focused = self.summaries.iter().max_by_key(|s| s.size).map(|s| s.id);
            }
        }
        if self.colors_key != Some((rev, self.colour_by)) {
            self.recolour();
            self.colors_key = Some((rev, self.colour_by));
        }
        let mk = (rev, self.selection.generation());
        if self.map_key != Some(mk) {
            self.map_generation += 1;
            self.map_key = Some(mk);
        }
        let sel_gen = if self.grid_source == GridSource::Selection {
            self.selection.generation()
        } else {
            0
        };
        let gk = (rev, self.focused, self.grid_sort, self.grid_source, sel_gen);
        if self.grid_key != Some(gk) {
            let members = match self.grid_source {
                GridSource::Cluster => self
                    .focused
                    .map(|f| self.state.members(f))
                    .unwrap_or_default(),
                GridSource::Selection => self.selection.indices(),
            };
            let st = &self.state;
            let dist: Vec<f32> = (0..st.len())
                .map(|i| st.distance_to_centre(i).unwrap_or(f32::INFINITY))
                .collect();
            let recs = &self.analysis.records;
            let path = |i: usize| {
                recs.get(i)
                    .map(|r| r.path.display().to_string())
                    .unwrap_or_default()
            };
            self.grid_items = grid::sorted_members(&members, &dist, self.grid_sort, &path);
            self.grid_key = Some(gk);
        }
    }

    fn recolour(&mut self) {
        let n = self.state.len();
        self.legend.clear();
        match self.colour_by {
            ColourBy::Cluster => {
                let col = |id: ClusterId| {
                    self.state
                        .cluster(id)
                        .map(|c| Color32::from_rgb(c.color[0], c.color[1], c.color[2]))
                };
                self.point_colors = (0..n)
                    .map(|i| {
                        if self.state.is_excluded(i) {
                            colors::EXCLUDED
                        } else {
                            self.state
                                .cluster_of(i)
                                .and_then(col)
                                .unwrap_or(Color32::GRAY)
                        }
                    })
                    .collect();
                let mut by_size: Vec<&ClusterSummary> = self.summaries.iter().collect();
                by_size.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
                self.legend = by_size
                    .iter()
                    .map(|s| {
                        (
                            s.display_name(),
                            Color32::from_rgb(s.color[0], s.color[1], s.color[2]),
                        )
                    })
                    .collect();
                if self.state.excluded_count() > 0 {
                    self.legend.push(("excluded".into(), colors::EXCLUDED));
                }
            }
            ColourBy::Modality | ColourBy::Anatomy => {
                let key = |i: usize| -> String {
                    if self.colour_by == ColourBy::Modality {
                        self.state.modality_of(i).to_string()
                    } else {
                        self.state.anatomy_of(i).as_str().to_string()
                    }
                };
                let mut counts: std::collections::HashMap<String, usize> = Default::default();
                for i in 0..n {
                    *counts.entry(key(i)).or_insert(0) += 1;
                }
                let mut cats: Vec<(String, usize)> = counts.into_iter().collect();
                cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let index: std::collections::HashMap<&str, usize> = cats
                    .iter()
                    .enumerate()
                    .map(|(k, (c, _))| (c.as_str(), k))
                    .collect();
                self.point_colors = (0..n)
                    .map(|i| colors::palette(index[key(i).as_str()]))
                    .collect();
                self.legend = cats
                    .iter()
                    .enumerate()
                    .map(|(k, (c, m))| (format!("{c} ({m})"), colors::palette(k)))
                    .collect();
            }
        }
    }

    /// Images in the grid, in display order.
    pub fn grid_items(&self) -> &[usize] {
        &self.grid_items
    }

    /// Clusters in the list's display order (for number keys).
    fn list_order(&self, list: &ClusterList) -> Vec<ClusterId> {
        clusters::visible(&self.summaries, &list.filter, list.sort)
            .iter()
            .map(|s| s.id)
            .collect()
    }
}

/// The window's persisted preferences.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub params: RunParams,
    pub recent: Recent,
}

/// The radcluster window, constructible without a window (for tests and benches).
pub struct RadclusterApp {
    ctx: Option<egui::Context>,
    pub settings: Settings,
    pub folder: Option<PathBuf>,
    pub job: Option<Job>,
    pub scanned: Option<Scanned>,
    pub review: Option<Review>,
    pub notice: Option<Notice>,
    pub start: StartScreen,
    pub map: MapPanel,
    pub grid: GridPanel,
    pub clusters: ClusterList,
    pub viewer: Option<Viewer>,
    pub export: ExportDialog,
    pub show_settings: bool,
    pub show_skipped: bool,
    /// Working copy of the run parameters in the settings panel.
    pub edit_params: RunParams,
    scan_thumbs: Option<ThumbCache>,
    scan_grid: Vec<usize>,
    commands: Vec<Command>,
    /// Save the recent list to the user config dir (off in tests that do not want it).
    pub persist_recent: bool,
}

fn thumb_source(
    records: Arc<Vec<InstanceRecord>>,
    store: Option<pipeline::Thumbnails>,
) -> ThumbSource {
    let store = store.map(Arc::new);
    Arc::new(move |i| {
        if let Some(t) = store.as_ref().and_then(|s| s.get(i)) {
            return Some(t);
        }
        let r = records.get(i)?;
        crate::dicom::decode::decode_file(&r.path)
            .ok()
            .map(|d| d.thumbnail)
    })
}

fn frame_loader(records: Arc<Vec<InstanceRecord>>) -> FrameLoader {
    Arc::new(move |i, frame| {
        let r = records.get(i).ok_or_else(|| "no such image".to_string())?;
        crate::dicom::decode::decode_full(&r.path, Some(frame)).map_err(|e| {
            format!(
                "{}: {e}",
                r.path.file_name().unwrap_or_default().to_string_lossy()
            )
        })
    })
}

fn file_name(r: &InstanceRecord) -> String {
    r.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| r.path.display().to_string())
}

impl RadclusterApp {
    /// A new app; with `folder`, the analysis starts at once.
    pub fn new(folder: Option<PathBuf>) -> Self {
        let mut app = Self {
            ctx: None,
            settings: Settings {
                params: RunParams::default(),
                recent: Recent::load(),
            },
            folder: None,
            job: None,
            scanned: None,
            review: None,
            notice: None,
            start: StartScreen::default(),
            map: MapPanel::default(),
            grid: GridPanel::default(),
            clusters: ClusterList::default(),
            viewer: None,
            export: ExportDialog::default(),
            show_settings: false,
            show_skipped: false,
            edit_params: RunParams::default(),
            scan_thumbs: None,
            scan_grid: Vec::new(),
            commands: Vec::new(),
            persist_recent: true,
        };
        if let Some(f) = folder {
            app.commands.push(Command::OpenFolder(f));
        }
        app
    }

    /// Give the app its context so that background threads can wake it up.
    pub fn set_context(&mut self, ctx: egui::Context) {
        self.ctx = Some(ctx);
    }

    /// Queue a command as if a panel had emitted it (automation and tests).
    pub fn push_command(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// True once clusters are shown.
    pub fn has_clusters(&self) -> bool {
        self.review.is_some()
    }

    pub fn is_busy(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.is_done())
    }

    fn open_folder(&mut self, dir: PathBuf) {
        if !dir.is_dir() {
            self.notice = Some(Notice {
                text: format!("{}: not a folder", dir.display()),
                error: true,
            });
            return;
        }
        if self.persist_recent {
            self.settings.recent.push(&dir);
            self.settings.recent.save();
        }
        self.close_folder();
        self.folder = Some(dir.clone());
        self.start_job(dir);
    }

    /// Save the review and stop the job (on exit).
    pub fn close_for_exit(&mut self) {
        self.close_folder();
    }

    fn close_folder(&mut self) {
        if let Some(r) = &mut self.review {
            if let Some(s) = &mut r.saver {
                if let Err(e) = s.flush(&r.state, &r.history) {
                    log::warn!("could not save the review: {e}");
                }
            }
        }
        self.job = None;
        self.review = None;
        self.scanned = None;
        self.scan_thumbs = None;
        self.viewer = None;
        self.folder = None;
        self.notice = None;
    }

    fn start_job(&mut self, dir: PathBuf) {
        let params = self.settings.params.clone();
        self.edit_params = params.clone();
        if let Some(old) = self.job.take() {
            old.cancel(); // the old driver stops at its next item; we never wait for it
        }
        self.job = Some(Job::start(dir, params));
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Scanned {
                records,
                non_image,
                skipped,
            } => {
                let records = Arc::new(records);
                if records.is_empty() {
                    self.notice = Some(Notice {
                        text: no_images_text(self.folder.as_deref(), &non_image, &skipped),
                        error: true,
                    });
                }
                self.scan_thumbs = Some(ThumbCache::new(
                    thumb_source(records.clone(), None),
                    2,
                    1500,
                ));
                self.scan_grid = (0..records.len()).collect();
                self.scanned = Some(Scanned {
                    records,
                    non_image,
                    skipped,
                });
            }
            Event::Finished(analysis) => {
                let analysis: Arc<Analysis> = Arc::from(analysis);
                if analysis.records.is_empty() {
                    self.notice = Some(Notice {
                        text: no_images_text(
                            self.folder.as_deref(),
                            &analysis.non_image,
                            &analysis.skipped,
                        ),
                        error: true,
                    });
                    self.scanned = Some(Scanned {
                        records: Arc::new(Vec::new()),
                        non_image: analysis.non_image.clone(),
                        skipped: analysis.skipped.clone(),
                    });
                    self.review = None;
                    return;
                }
                self.install_analysis(analysis);
            }
            Event::Failed(e) => {
                self.notice = Some(Notice {
                    text: format!("The analysis failed: {e}"),
                    error: true,
                });
            }
            Event::Cancelled => {
                self.notice = Some(Notice {
                    text: "Analysis cancelled.".into(),
                    error: false,
                });
            }
        }
    }

    fn install_analysis(&mut self, analysis: Arc<Analysis>) {
        let records = Arc::new(analysis.records.clone());
        let thumbs = ThumbCache::new(
            thumb_source(records, pipeline::thumbnails(&analysis)),
            2,
            3000,
        );
        let mut review = Review::new(analysis.clone(), thumbs);
        if let Some(dir) = &self.folder {
            let store = SessionStore::for_folder(dir);
            match store.load(&analysis) {
                Ok(Some(resumed)) => review.pending_resume = Some(resumed),
                Ok(None) => {}
                Err(e) => {
                    self.notice = Some(Notice {
                        text: format!("The previous review could not be resumed: {e}"),
                        error: true,
                    });
                }
            }
            review.saver = Some(Autosaver::new(store));
        }
        self.map.reset_view();
        self.viewer = None;
        self.scan_thumbs = None;
        self.review = Some(review);
        if self.notice.as_ref().is_some_and(|n| !n.error) {
            self.notice = None;
        }
    }

    /// Apply one command.
    fn apply(&mut self, c: Command) {
        match c {
            Command::OpenFolder(d) => self.open_folder(d),
            Command::OpenSample => self.open_folder(pipeline::sample_dir()),
            Command::CloseFolder => self.close_folder(),
            Command::Rerun => {
                self.settings.params = self.edit_params.clone();
                if let Some(d) = self.folder.clone() {
                    self.start_job(d);
                }
            }
            Command::CancelJob => {
                if let Some(j) = &self.job {
                    j.cancel();
                }
            }
            _ => self.apply_review(c),
        }
    }

    fn apply_review(&mut self, c: Command) {
        let order = self
            .review
            .as_ref()
            .map(|r| r.list_order(&self.clusters))
            .unwrap_or_default();
        let Some(r) = &mut self.review else { return };
        let mut edit: Option<Edit> = None;
        match c {
            Command::Resume(yes) => {
                if let Some(res) = r.pending_resume.take() {
                    if yes {
                        r.state = res.state;
                        r.history = res.history;
                        r.derived_rev = None;
                        r.colors_key = None;
                        r.grid_key = None;
                        r.map_key = None;
                        r.selection = Selection::new(r.state.len());
                    }
                }
            }
            Command::Select { indices, mode } => r.selection.apply(&indices, mode),
            Command::ClearSelection => r.selection.clear(),
            Command::Focus(f) => {
                r.focused = f;
                r.grid_source = GridSource::Cluster;
            }
            Command::SelectMembers(id) => {
                let m = r.state.members(id);
                r.selection.apply(&m, SelectMode::Replace);
            }
            Command::OpenViewer(i) => {
                if !r.selection.contains(i) {
                    r.selection.apply(&[i], SelectMode::Replace);
                }
                match &mut self.viewer {
                    Some(v) => v.show_image(i),
                    None => self.viewer = Some(Viewer::new(i)),
                }
            }
            Command::CloseViewer => self.viewer = None,
            Command::ViewerStep(d) => {
                if let Some(v) = &mut self.viewer {
                    let items = &r.grid_items;
                    let pos = items.iter().position(|&x| x == v.image);
                    let next = match pos {
                        Some(p) => (p as i64 + d as i64).clamp(0, items.len() as i64 - 1) as usize,
                        None => 0,
                    };
                    if let Some(&img) = items.get(next) {
                        v.show_image(img);
                        r.selection.apply(&[img], SelectMode::Replace);
                    }
                }
            }
            Command::Edit(e) => edit = Some(e),
            Command::MoveSelectedTo(to) if !r.selection.is_empty() => {
                edit = Some(Edit::move_to(r.selection.indices(), to));
            }
            Command::MoveSelectedToListPosition(k) => {
                if let (Some(&to), false) = (order.get(k), r.selection.is_empty()) {
                    edit = Some(Edit::move_to(r.selection.indices(), to));
                }
            }
            Command::NewClusterFromSelection if !r.selection.is_empty() => {
                let e = r.state.new_cluster_edit(r.selection.indices(), None);
                if let Edit::NewCluster { cluster, .. } = &e {
                    r.focused = Some(cluster.id);
                }
                edit = Some(e);
            }
            Command::ExcludeSelected(on) if !r.selection.is_empty() => {
                edit = Some(Edit::Exclude {
                    images: r.selection.indices(),
                    excluded: on,
                });
            }
            Command::Merge(ids) => {
                if let Some((&into, rest)) = ids.split_first() {
                    if !rest.is_empty() {
                        edit = Some(Edit::Merge {
                            clusters: rest.to_vec(),
                            into,
                        });
                        r.focused = Some(into);
                    }
                }
            }
            Command::Split(id, k) => match split_edit(r, id, k) {
                Ok(e) => edit = Some(e),
                Err(e) => {
                    self.notice = Some(Notice {
                        text: e,
                        error: true,
                    })
                }
            },
            Command::Undo => match r.history.undo(&mut r.state) {
                Ok(Some(l)) => {
                    self.notice = Some(Notice {
                        text: format!("Undid: {l}"),
                        error: false,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    self.notice = Some(Notice {
                        text: format!("Cannot undo: {e}"),
                        error: true,
                    })
                }
            },
            Command::Redo => match r.history.redo(&mut r.state) {
                Ok(Some(l)) => {
                    self.notice = Some(Notice {
                        text: format!("Redid: {l}"),
                        error: false,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    self.notice = Some(Notice {
                        text: format!("Cannot redo: {e}"),
                        error: true,
                    })
                }
            },
            _ => {}
        }
        if let Some(e) = edit {
            if !e.is_noop() {
                let label = e.label();
                match r.history.apply(&mut r.state, e) {
                    Ok(()) => {
                        self.notice = Some(Notice {
                            text: label,
                            error: false,
                        })
                    }
                    Err(err) => {
                        self.notice = Some(Notice {
                            text: format!("{label}: {err}"),
                            error: true,
                        })
                    }
                }
            }
        }
        // While "resume the previous review?" is unanswered, the fresh state must not be
        // saved over the previous session.
        if let Some(s) = r.saver.as_mut().filter(|_| r.pending_resume.is_none()) {
            if let Some(again) = s.poll(&r.state, &r.history) {
                if let Some(ctx) = &self.ctx {
                    ctx.request_repaint_after(again);
                }
            }
        }
        r.refresh();
    }

    /// Lay out one frame and apply what the panels asked for.
    pub fn show(&mut self, ui: &mut Ui) {
        if self.ctx.is_none() {
            self.ctx = Some(ui.ctx().clone());
        }
        self.pump(ui.ctx());
        self.global_keys(ui.ctx());
        self.handle_drops(ui.ctx());

        let mut cmds = std::mem::take(&mut self.commands);
        if self.review.is_some() {
            self.review_ui(ui, &mut cmds);
        } else if self.folder.is_some() {
            self.working_ui(ui, &mut cmds);
        } else {
            self.start_ui(ui, &mut cmds);
        }
        for c in cmds {
            self.apply(c);
        }
        if let Some(r) = &mut self.review {
            r.refresh();
        }
    }

    /// Background results: job events, thumbnails, autosave.
    fn pump(&mut self, ctx: &egui::Context) {
        if let Some(job) = &mut self.job {
            let events = job.poll();
            let busy = !job.is_done();
            for ev in events {
                self.on_event(ev);
            }
            if busy {
                ctx.request_repaint_after(Duration::from_millis(100));
            }
        }
        let budget = Duration::from_millis(8);
        if let Some(t) = &mut self.scan_thumbs {
            t.pump(ctx, budget);
            if t.pending() > 0 {
                ctx.request_repaint_after(Duration::from_millis(30));
            }
        }
        if let Some(r) = &mut self.review {
            r.thumbs.pump(ctx, budget);
            if r.thumbs.pending() > 0 {
                ctx.request_repaint_after(Duration::from_millis(30));
            }
            if let Some(s) = r.saver.as_mut().filter(|_| r.pending_resume.is_none()) {
                if let Some(again) = s.poll(&r.state, &r.history) {
                    ctx.request_repaint_after(again);
                }
            }
        }
    }

    fn global_keys(&mut self, ctx: &egui::Context) {
        if self.review.is_none() || ctx.egui_wants_keyboard_input() {
            return;
        }
        let (undo, redo, digit) = ctx.input_mut(|i| {
            let redo = i.consume_key(
                egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
                egui::Key::Z,
            ) || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y);
            let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
            let keys = [
                egui::Key::Num1,
                egui::Key::Num2,
                egui::Key::Num3,
                egui::Key::Num4,
                egui::Key::Num5,
                egui::Key::Num6,
                egui::Key::Num7,
                egui::Key::Num8,
                egui::Key::Num9,
            ];
            let digit = if self.viewer.is_none() {
                keys.iter()
                    .position(|k| i.consume_key(egui::Modifiers::NONE, *k))
            } else {
                None
            };
            (undo, redo, digit)
        });
        if redo {
            self.commands.push(Command::Redo);
        } else if undo {
            self.commands.push(Command::Undo);
        }
        if let Some(k) = digit {
            self.commands.push(Command::MoveSelectedToListPosition(k));
        }
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(dir) = dropped.iter().find_map(|p| folder_of_drop(p)) {
            self.commands.push(Command::OpenFolder(dir));
        }
        let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("radcluster-drop-overlay"),
            ));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, Color32::from_black_alpha(180));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a folder to open it",
                egui::FontId::proportional(24.0),
                Color32::WHITE,
            );
        }
    }

    fn start_ui(&mut self, ui: &mut Ui, cmds: &mut Vec<Command>) {
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(n) = &self.notice {
                let c = if n.error {
                    ui.visuals().warn_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.colored_label(c, &n.text);
            }
            let mut acts = Vec::new();
            self.start.ui(ui, &self.settings.recent, &mut acts);
            for a in acts {
                cmds.push(match a {
                    StartAction::Open(p) => Command::OpenFolder(p),
                    StartAction::OpenSample => Command::OpenSample,
                });
            }
        });
    }

    fn working_ui(&mut self, ui: &mut Ui, cmds: &mut Vec<Command>) {
        egui::Panel::top("work-top").show(ui, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Close folder").clicked() {
                    cmds.push(Command::CloseFolder);
                }
                if let Some(f) = &self.folder {
                    ui.label(RichText::new(f.display().to_string()).strong());
                }
            });
            progress_ui(self.job.as_ref(), ui, cmds);
            if !self.is_busy() && self.review.is_none() && self.folder.is_some() {
                ui.horizontal(|ui| {
                    if ui.button("Re-run").clicked() {
                        cmds.push(Command::Rerun);
                    }
                    ui.weak("the analysis is not running");
                });
            }
        });
        self.status_bar(ui);
        self.settings_window(ui, cmds);
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(n) = &self.notice {
                let c = if n.error {
                    ui.visuals().warn_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.label(RichText::new(&n.text).color(c).size(16.0));
            }
            let (Some(sc), Some(thumbs)) = (&self.scanned, &mut self.scan_thumbs) else {
                ui.weak("Reading DICOM headers…");
                return;
            };
            if sc.records.is_empty() {
                return;
            }
            ui.label(format!(
                "{} images found; clusters and the map appear when the analysis is done.",
                sc.records.len()
            ));
            let recs = sc.records.clone();
            let name = |i: usize| recs.get(i).map(file_name).unwrap_or_default();
            let color = |_i: usize| Color32::DARK_GRAY;
            let sel = Selection::new(recs.len());
            let input = GridInput {
                items: &self.scan_grid,
                selection: &sel,
                name: &name,
                color: &color,
                exemplar: None,
            };
            let mut acts = Vec::new();
            self.grid.ui(ui, &input, thumbs, &mut acts);
        });
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                let (skipped, non_image, images) = match (&self.review, &self.scanned) {
                    (Some(r), _) => (
                        r.analysis.skipped.len(),
                        r.analysis.non_image.len(),
                        r.analysis.records.len(),
                    ),
                    (None, Some(s)) => (s.skipped.len(), s.non_image.len(), s.records.len()),
                    _ => (0, 0, 0),
                };
                ui.label(format!("{images} images"));
                if ui
                    .button(format!("Skipped files ({})", skipped + non_image))
                    .clicked()
                {
                    self.show_skipped = !self.show_skipped;
                }
                if let Some(r) = &self.review {
                    ui.separator();
                    ui.label(format!(
                        "{} clusters · {} selected",
                        r.summaries.len(),
                        r.selection.len()
                    ));
                    if let Some(s) = &r.saver {
                        let st = s.status();
                        ui.separator();
                        match (&st.last_error, st.saves) {
                            (Some(e), _) => {
                                ui.colored_label(
                                    ui.visuals().warn_fg_color,
                                    format!("not saved: {e}"),
                                );
                            }
                            (None, 0) => {
                                ui.weak("no edits yet");
                            }
                            (None, n) => {
                                ui.weak(format!("saved ({n})"))
                                    .on_hover_text(s.store().path().display().to_string());
                            }
                        }
                    }
                }
                if let Some(n) = &self.notice {
                    ui.separator();
                    let c = if n.error {
                        ui.visuals().warn_fg_color
                    } else {
                        ui.visuals().weak_text_color()
                    };
                    ui.colored_label(c, &n.text);
                }
            });
        });
        if self.show_skipped {
            let mut open = true;
            egui::Window::new("Skipped files")
                .open(&mut open)
                .default_size([640.0, 360.0])
                .show(ui.ctx(), |ui| {
                    let (skipped, non_image): (&[Skipped], &[NonImage]) =
                        match (&self.review, &self.scanned) {
                            (Some(r), _) => (&r.analysis.skipped, &r.analysis.non_image),
                            (None, Some(s)) => (&s.skipped, &s.non_image),
                            _ => (&[], &[]),
                        };
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        if skipped.is_empty() && non_image.is_empty() {
                            ui.label("No file was skipped.");
                        }
                        if !skipped.is_empty() {
                            ui.label(
                                RichText::new(format!("Not usable ({})", skipped.len())).strong(),
                            );
                            egui::Grid::new("skipped").striped(true).show(ui, |ui| {
                                for s in skipped {
                                    ui.label(s.path.display().to_string());
                                    ui.label(&s.reason);
                                    ui.end_row();
                                }
                            });
                        }
                        if !non_image.is_empty() {
                            ui.label(
                                RichText::new(format!(
                                    "DICOM without images ({})",
                                    non_image.len()
                                ))
                                .strong(),
                            );
                            egui::Grid::new("nonimage").striped(true).show(ui, |ui| {
                                for s in non_image {
                                    ui.label(s.path.display().to_string());
                                    ui.label(&s.sop_class);
                                    ui.end_row();
                                }
                            });
                        }
                    });
                });
            self.show_skipped = open;
        }
    }

    fn settings_window(&mut self, ui: &mut Ui, cmds: &mut Vec<Command>) {
        if !self.show_settings {
            return;
        }
        let mut open = true;
        egui::Window::new("Analysis settings").open(&mut open).resizable(false).show(ui.ctx(), |ui| {
            let p = &mut self.edit_params;
            egui::Grid::new("params").num_columns(2).show(ui, |ui| {
                let l = ui.label("Clusters (k)");
                ui.add(egui::DragValue::new(&mut p.k).range(2..=500)).labelled_by(l.id);
                ui.end_row();
                ui.label("Algorithm");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut p.algo, Algo::Kmeans, "k-means");
                    ui.radio_value(&mut p.algo, Algo::Kmedoids, "k-medoids");
                });
                ui.end_row();
                ui.label("Projection");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut p.projection, ProjectionKind::Umap, "UMAP");
                    ui.radio_value(&mut p.projection, ProjectionKind::Pca, "PCA");
                    ui.radio_value(&mut p.projection, ProjectionKind::Tsne, "t-SNE");
                });
                ui.end_row();
                let l = ui.label("Image weight");
                ui.add(egui::Slider::new(&mut p.weights.image, 0.0..=3.0)).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Metadata weight");
                ui.add(egui::Slider::new(&mut p.weights.meta, 0.0..=3.0)).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Text weight");
                ui.add(egui::Slider::new(&mut p.weights.text, 0.0..=3.0)).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Seed");
                ui.add(egui::DragValue::new(&mut p.seed)).labelled_by(l.id);
                ui.end_row();
            });
            ui.horizontal(|ui| {
                if ui.button("Re-run analysis").clicked() {
                    cmds.push(Command::Rerun);
                }
                ui.weak("cancels the running analysis; the current review stays until the new one is ready");
            });
        });
        self.show_settings = open;
    }

    fn review_ui(&mut self, ui: &mut Ui, cmds: &mut Vec<Command>) {
        let folder = self.folder.clone();
        egui::Panel::top("review-top").show(ui, |ui| {
            let Some(r) = &mut self.review else { return };
            ui.horizontal(|ui| {
                if ui.button("Close folder").clicked() {
                    cmds.push(Command::CloseFolder);
                }
                if let Some(f) = &folder {
                    ui.label(RichText::new(f.display().to_string()).strong());
                }
                ui.separator();
                let undo = r
                    .history
                    .undo_label()
                    .map(|l| format!("Undo {l}"))
                    .unwrap_or_else(|| "Nothing to undo".into());
                if ui
                    .add_enabled(r.history.can_undo(), egui::Button::new("Undo"))
                    .on_hover_text(undo)
                    .clicked()
                {
                    cmds.push(Command::Undo);
                }
                let redo = r
                    .history
                    .redo_label()
                    .map(|l| format!("Redo {l}"))
                    .unwrap_or_else(|| "Nothing to redo".into());
                if ui
                    .add_enabled(r.history.can_redo(), egui::Button::new("Redo"))
                    .on_hover_text(redo)
                    .clicked()
                {
                    cmds.push(Command::Redo);
                }
                ui.separator();
                ui.label("Colour by");
                ui.selectable_value(&mut r.colour_by, ColourBy::Cluster, "Cluster");
                ui.selectable_value(&mut r.colour_by, ColourBy::Modality, "Modality");
                ui.selectable_value(&mut r.colour_by, ColourBy::Anatomy, "Anatomy");
                ui.separator();
                if ui.button("Settings…").clicked() {
                    self.show_settings = !self.show_settings;
                }
                if ui.button("Export…").clicked() {
                    self.export.open = true;
                }
            });
            progress_ui(self.job.as_ref(), ui, cmds);
            if let Some(res) = &r.pending_resume {
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(format!(
                            "A previous review of this folder was found ({} undo points).",
                            res.history.undo_len()
                        ))
                        .strong(),
                    );
                    if ui.button("Resume review").clicked() {
                        cmds.push(Command::Resume(true));
                    }
                    if ui.button("Start fresh").clicked() {
                        cmds.push(Command::Resume(false));
                    }
                });
            }
        });
        self.status_bar(ui);
        self.settings_window(ui, cmds);
        if let (Some(r), Some(folder)) = (&self.review, &folder) {
            self.export.window(ui.ctx(), folder, r);
        }

        let Some(r) = &mut self.review else { return };
        r.refresh();

        egui::Panel::left("clusters")
            .default_size(360.0)
            .show(ui, |ui| {
                ui.heading("Clusters");
                let mut acts = Vec::new();
                self.clusters.ui(ui, &r.summaries, r.focused, &mut acts);
                for a in acts {
                    cmds.push(match a {
                        ClusterAction::Focus(id) => Command::Focus(Some(id)),
                        ClusterAction::Rename(id, name) => {
                            Command::Edit(Edit::Rename { cluster: id, name })
                        }
                        ClusterAction::Recolor(id, color) => {
                            Command::Edit(Edit::Recolor { cluster: id, color })
                        }
                        ClusterAction::Merge(ids) => Command::Merge(ids),
                        ClusterAction::Split(id, k) => Command::Split(id, k),
                        ClusterAction::SetExcluded(id, on) => Command::Edit(Edit::ExcludeCluster {
                            cluster: id,
                            excluded: on,
                        }),
                        ClusterAction::SelectMembers(id) => Command::SelectMembers(id),
                    });
                }
            });

        egui::Panel::right("details")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("details-scroll")
                    .show(ui, |ui| {
                        selection_actions(ui, r, cmds);
                        ui.separator();
                        if let Some(s) = r
                            .focused
                            .and_then(|f| r.summaries.iter().find(|s| s.id == f))
                        {
                            charts::cluster_charts(ui, s);
                        }
                        ui.separator();
                        charts::metrics_table(ui, &r.metrics);
                    });
            });

        egui::CentralPanel::default().show(ui, |ui| {
            let h = ui.available_height();
            let an = r.analysis.clone();
            let recs = &an.records;
            egui::Panel::bottom("grid")
                .resizable(true)
                .default_size(h * 0.42)
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.selectable_value(
                            &mut r.grid_source,
                            GridSource::Cluster,
                            "Grid: cluster",
                        );
                        ui.selectable_value(
                            &mut r.grid_source,
                            GridSource::Selection,
                            "Grid: selection",
                        );
                        ui.separator();
                        ui.selectable_value(&mut r.grid_sort, GridSort::Typical, "Typical first");
                        ui.selectable_value(&mut r.grid_sort, GridSort::Outliers, "Outliers first");
                        ui.selectable_value(&mut r.grid_sort, GridSort::Path, "By path");
                        ui.weak(format!("{} images", r.grid_items.len()));
                    });
                    r.refresh();
                    let st = &r.state;
                    let name = |i: usize| recs.get(i).map(file_name).unwrap_or_default();
                    let color = |i: usize| {
                        if st.is_excluded(i) {
                            return colors::EXCLUDED;
                        }
                        st.cluster_of(i)
                            .and_then(|c| st.cluster(c))
                            .map(|c| Color32::from_rgb(c.color[0], c.color[1], c.color[2]))
                            .unwrap_or(Color32::GRAY)
                    };
                    let exemplar = r
                        .focused
                        .and_then(|f| r.analysis.exemplars.get(f.0 as usize).copied());
                    let input = GridInput {
                        items: &r.grid_items,
                        selection: &r.selection,
                        name: &name,
                        color: &color,
                        exemplar: if r.grid_source == GridSource::Cluster {
                            exemplar
                        } else {
                            None
                        },
                    };
                    let mut acts = Vec::new();
                    self.grid.ui(ui, &input, &mut r.thumbs, &mut acts);
                    for a in acts {
                        cmds.push(match a {
                            GridAction::Select { indices, mode } => {
                                Command::Select { indices, mode }
                            }
                            GridAction::Open(i) => Command::OpenViewer(i),
                        });
                    }
                });
            let input = MapInput {
                xy: &r.analysis.xy,
                colors: &r.point_colors,
                selected: r.selection.flags(),
                any_selected: !r.selection.is_empty(),
                generation: r.map_generation,
                legend: &r.legend,
            };
            let mut acts = Vec::new();
            let resp = self.map.ui(ui, &input, &mut acts);
            if let Some(h) = self.map.hovered {
                let thumb = r.thumbs.get(h);
                let rec = r.analysis.records.get(h);
                let cluster = r
                    .state
                    .cluster_of(h)
                    .and_then(|c| r.state.display_name(c))
                    .unwrap_or_default();
                resp.on_hover_ui_at_pointer(|ui| {
                    if let Some(t) = thumb {
                        ui.add(egui::Image::from_texture(t).max_size(egui::vec2(160.0, 160.0)));
                    }
                    if let Some(rec) = rec {
                        ui.label(RichText::new(file_name(rec)).strong());
                        ui.label(format!("{} · {}", rec.modality, rec.anatomy));
                        if let Some(s) = &rec.series_description {
                            ui.label(s);
                        }
                        ui.label(format!(
                            "{} x {}, {} frame(s)",
                            rec.cols,
                            rec.rows,
                            rec.frames.max(1)
                        ));
                    }
                    ui.weak(cluster);
                });
            }
            for a in acts {
                match a {
                    MapAction::Select { indices, mode } => {
                        let many = indices.len() > 1;
                        cmds.push(Command::Select { indices, mode });
                        if many {
                            r.grid_source = GridSource::Selection;
                        }
                    }
                    MapAction::ClearSelection => cmds.push(Command::ClearSelection),
                    MapAction::Open(i) => cmds.push(Command::OpenViewer(i)),
                }
            }
        });

        if self.viewer.is_some() {
            let an = r.analysis.clone();
            let recs = &an.records;
            let loader = r.loader.clone();
            let mut open = true;
            let mut acts = Vec::new();
            egui::Window::new("Image viewer")
                .open(&mut open)
                .default_size([480.0, 520.0])
                .default_pos(ui.ctx().content_rect().right_bottom() - egui::vec2(500.0, 590.0))
                .resizable(true)
                .show(ui.ctx(), |ui| {
                    if let Some(v) = &mut self.viewer {
                        let rec = recs.get(v.image);
                        v.ui(ui, rec, &loader, &mut acts);
                    }
                });
            if !open {
                cmds.push(Command::CloseViewer);
            }
            for a in acts {
                cmds.push(match a {
                    ViewerAction::Close => Command::CloseViewer,
                    ViewerAction::Step(d) => Command::ViewerStep(d),
                });
            }
        }
    }
}

fn progress_ui(job: Option<&Job>, ui: &mut Ui, cmds: &mut Vec<Command>) {
    let Some(job) = job else { return };
    if job.is_done() {
        return;
    }
    let s = job.snapshot();
    ui.horizontal(|ui| {
        let stage = if s.stage.is_empty() {
            "Starting".to_string()
        } else {
            s.stage.clone()
        };
        let count = if s.total > 0 {
            format!("{}/{}", s.done, s.total)
        } else {
            format!("{}", s.done)
        };
        let eta = s
            .eta_s()
            .map(|e| format!(" · about {} left", format_eta(e)))
            .unwrap_or_default();
        let text = if job.is_cancelling() {
            "Cancelling…".to_string()
        } else {
            format!("{stage} {count}{eta}")
        };
        ui.add(
            egui::ProgressBar::new(s.fraction())
                .desired_width(260.0)
                .text(text.clone()),
        )
        .widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, "Analysis progress")
        });
        if ui
            .add_enabled(!job.is_cancelling(), egui::Button::new("Cancel"))
            .clicked()
        {
            cmds.push(Command::CancelJob);
        }
    });
}

fn selection_actions(ui: &mut Ui, r: &Review, cmds: &mut Vec<Command>) {
    let n = r.selection.len();
    ui.label(RichText::new(format!("{n} images selected")).strong());
    ui.add_enabled_ui(n > 0, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.menu_button("Move selected to…", |ui| {
                for (k, s) in clusters_by_size(&r.summaries).iter().enumerate() {
                    let key = if k < 9 {
                        format!("  [{}]", k + 1)
                    } else {
                        String::new()
                    };
                    if ui
                        .button(format!("Move to {}", s.display_name()))
                        .on_hover_text(key)
                        .clicked()
                    {
                        cmds.push(Command::MoveSelectedTo(s.id));
                        ui.close();
                    }
                }
            });
            if ui.button("New cluster from selection").clicked() {
                cmds.push(Command::NewClusterFromSelection);
            }
            if ui.button("Exclude selected").clicked() {
                cmds.push(Command::ExcludeSelected(true));
            }
            if ui.button("Include selected").clicked() {
                cmds.push(Command::ExcludeSelected(false));
            }
            if ui.button("Clear selection").clicked() {
                cmds.push(Command::ClearSelection);
            }
        });
    });
    ui.weak("Number keys 1-9 move the selection to the cluster at that place in the list.");
}

fn clusters_by_size(s: &[ClusterSummary]) -> Vec<&ClusterSummary> {
    let mut v: Vec<&ClusterSummary> = s.iter().collect();
    v.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    v
}

/// Split a cluster by k-means on its members' map positions.
fn split_edit(r: &Review, id: ClusterId, k: usize) -> Result<Edit, String> {
    let members = r.state.members(id);
    if members.len() < k.max(2) {
        return Err(format!(
            "A cluster of {} images cannot be split into {k}.",
            members.len()
        ));
    }
    let data: Vec<f32> = members
        .iter()
        .flat_map(|&i| r.analysis.xy.get(i).copied().unwrap_or([0.0, 0.0]))
        .collect();
    let m = crate::Matrix::from_vec(members.len(), 2, data);
    let params = crate::cluster::KmeansParams::new(k).seed(0).n_init(4);
    let c = crate::cluster::kmeans(&m, &params, &crate::Cancel::new())
        .map_err(|e| format!("Split failed: {e}"))?;
    Ok(Edit::Split {
        cluster: id,
        members,
        parts: c.labels,
    })
}

fn no_images_text(folder: Option<&Path>, non_image: &[NonImage], skipped: &[Skipped]) -> String {
    let f = folder.map(|f| f.display().to_string()).unwrap_or_default();
    let mut s = format!("{f}: no displayable DICOM images were found.");
    if !non_image.is_empty() {
        s.push_str(&format!(
            " {} DICOM files hold no image (reports, plans…).",
            non_image.len()
        ));
    }
    if !skipped.is_empty() {
        s.push_str(&format!(
            " {} files could not be used: see \"Skipped files\".",
            skipped.len()
        ));
    }
    s
}

impl eframe::App for RadclusterApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.close_for_exit();
    }
}
