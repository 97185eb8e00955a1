//! The session file: the persisted review state plus the undo history and edit log, kept
//! in `.radcluster/session.json` beside the data (or in the user data directory when the
//! data folder is read-only), written atomically, and autosaved off the UI thread.
//!
//! A session that cannot be used (corrupt, written by another format version, or for
//! another set of images) is moved aside to `session.json.<why>-<unix seconds>` and
//! reported as a [`SessionError`]; it is never silently overwritten.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, TrySendError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::pipeline::Analysis;

use super::history::History;
use super::state::{AttachError, ImageSetId, ReviewState};

/// Folder created beside the data.
pub const SESSION_DIR: &str = ".radcluster";
/// File name of the session.
pub const SESSION_FILE: &str = "session.json";
/// Bumped whenever the file layout changes incompatibly.
pub const SESSION_FORMAT_VERSION: u32 = 1;
const FORMAT_TAG: &str = "radcluster-session";

/// Autosave never writes more often than this.
pub const MIN_SAVE_INTERVAL: Duration = Duration::from_millis(250);

/// Why a session could not be used or saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "session file {path} is damaged ({reason}); it was kept as {}",
        shown(moved_to)
    )]
    Corrupt {
        path: PathBuf,
        moved_to: Option<PathBuf>,
        reason: String,
    },
    #[error("session file {path} has format version {found}, this radcluster reads version {SESSION_FORMAT_VERSION}; it was kept as {}", shown(moved_to))]
    Version {
        path: PathBuf,
        found: u32,
        moved_to: Option<PathBuf>,
    },
    #[error(
        "session file {path} belongs to another set of images ({reason}); it was kept as {}",
        shown(moved_to)
    )]
    OtherImageSet {
        path: PathBuf,
        moved_to: Option<PathBuf>,
        reason: String,
    },
}

fn shown(p: &Option<PathBuf>) -> String {
    p.as_ref().map_or_else(
        || "is (could not be moved)".into(),
        |p| p.display().to_string(),
    )
}

impl SessionError {
    /// Where the unusable file was moved, if it was.
    pub fn moved_to(&self) -> Option<&Path> {
        match self {
            SessionError::Io { .. } => None,
            SessionError::Corrupt { moved_to, .. }
            | SessionError::Version { moved_to, .. }
            | SessionError::OtherImageSet { moved_to, .. } => moved_to.as_deref(),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u32,
    radcluster_version: &'static str,
    saved_unix_ms: u64,
    folder: &'a Path,
    image_set: &'a ImageSetId,
    state: &'a ReviewState,
    history: &'a History,
}

#[derive(Deserialize)]
struct FileIn {
    #[serde(default)]
    radcluster_version: String,
    #[serde(default)]
    saved_unix_ms: u64,
    state: ReviewState,
    history: History,
}

/// What [`find_session`] tells the start screen about a previous session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub path: PathBuf,
    pub saved_unix_ms: u64,
    pub radcluster_version: String,
    pub images: usize,
    pub clusters: usize,
    pub undo_points: usize,
    /// Set when the file cannot be resumed (damaged or another format version); loading
    /// it will move it aside and report the error.
    pub problem: Option<String>,
}

/// A session loaded and attached to its analysis.
#[derive(Debug)]
pub struct Resumed {
    pub state: ReviewState,
    pub history: History,
    pub path: PathBuf,
    pub saved_unix_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `<folder>/.radcluster/session.json`.
pub fn primary_path(folder: &Path) -> PathBuf {
    folder.join(SESSION_DIR).join(SESSION_FILE)
}

/// `<data dir>/radcluster/sessions/<hash of the folder path>/session.json`, for read-only
/// data folders.
pub fn fallback_path(folder: &Path) -> Option<PathBuf> {
    Some(fallback_in(&dirs::data_dir()?, folder))
}

fn fallback_in(data_dir: &Path, folder: &Path) -> PathBuf {
    let canon = fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let digest = Sha256::digest(canon.to_string_lossy().as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    data_dir
        .join("radcluster")
        .join("sessions")
        .join(hash)
        .join(SESSION_FILE)
}

fn dir_is_writable(dir: &Path) -> bool {
    if fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    let ok = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// Where the session of `folder` is saved and loaded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStore {
    folder: PathBuf,
    path: PathBuf,
    fallback: Option<PathBuf>,
}

impl SessionStore {
    /// The store for a data folder: `.radcluster/` inside it when it can be written (the
    /// folder is created), the user data directory otherwise.
    pub fn for_folder(folder: &Path) -> Self {
        Self::with_data_dir(folder, dirs::data_dir().as_deref())
    }

    /// [`SessionStore::for_folder`] with an explicit user data directory for the
    /// read-only case.
    pub fn with_data_dir(folder: &Path, data_dir: Option<&Path>) -> Self {
        let primary = primary_path(folder);
        let fallback = data_dir.map(|d| fallback_in(d, folder));
        let parent = primary.parent().expect("has a parent").to_path_buf();
        let path = if dir_is_writable(&parent) {
            primary
        } else {
            match &fallback {
                Some(f) if f.parent().is_some_and(dir_is_writable) => f.clone(),
                _ => primary,
            }
        };
        Self {
            folder: folder.to_path_buf(),
            path,
            fallback,
        }
    }

    /// A store writing to an explicit file (tests, or a user-chosen location).
    pub fn at(folder: &Path, path: PathBuf) -> Self {
        Self {
            folder: folder.to_path_buf(),
            path,
            fallback: None,
        }
    }

    /// The file saves go to.
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn folder(&self) -> &Path {
        &self.folder
    }
    /// True when the data folder was not writable and the user data directory is used.
    pub fn is_fallback(&self) -> bool {
        self.path != primary_path(&self.folder)
    }

    /// Write the session atomically (temp file, fsync, rename).
    pub fn save(&self, state: &ReviewState, history: &History) -> Result<(), SessionError> {
        let io_err = |source| SessionError::Io {
            path: self.path.clone(),
            source,
        };
        let out = FileOut {
            format: FORMAT_TAG,
            version: SESSION_FORMAT_VERSION,
            radcluster_version: env!("CARGO_PKG_VERSION"),
            saved_unix_ms: now_ms(),
            folder: &self.folder,
            image_set: state.image_set(),
            state,
            history,
        };
        let bytes = serde_json::to_vec(&out).map_err(|e| io_err(io::Error::other(e)))?;
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        write_atomic(&self.path, &bytes).map_err(io_err)
    }

    /// Load the previous session of this folder, if there is one, and attach it to
    /// `analysis`. Looks at the store's own file first, then at the other location (a
    /// folder that was read-only before, or is now). Unusable files are moved aside.
    pub fn load(&self, analysis: &Analysis) -> Result<Option<Resumed>, SessionError> {
        let Some(path) = self.candidates().into_iter().find(|p| p.is_file()) else {
            return Ok(None);
        };
        load_file(&path, analysis).map(Some)
    }

    /// Is there a previous session? See [`find_session`].
    pub fn find(&self) -> Option<SessionInfo> {
        find_in(self.candidates())
    }

    /// The store's own file first, then the other location (a folder that was read-only
    /// before, or is writable now).
    fn candidates(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path.clone()];
        for p in [Some(primary_path(&self.folder)), self.fallback.clone()]
            .into_iter()
            .flatten()
        {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    }
}

/// Both places a session of `folder` can live, preferred first.
pub fn session_candidates(folder: &Path) -> Vec<PathBuf> {
    let mut v = vec![primary_path(folder)];
    v.extend(fallback_path(folder));
    v
}

/// Move an unusable session aside; returns the new path, or `None` if it could not be moved.
fn set_aside(path: &Path, why: &str) -> Option<PathBuf> {
    let secs = now_ms() / 1000;
    let name = path.file_name()?.to_string_lossy().into_owned();
    let mut target = path.with_file_name(format!("{name}.{why}-{secs}"));
    let mut k = 2;
    while target.exists() {
        target = path.with_file_name(format!("{name}.{why}-{secs}-{k}"));
        k += 1;
    }
    fs::rename(path, &target).ok().map(|_| target)
}

fn read_header(bytes: &[u8]) -> Result<Header, String> {
    let h: Header = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if h.format != FORMAT_TAG {
        return Err(format!(
            "not a radcluster session (format \"{}\")",
            h.format
        ));
    }
    Ok(h)
}

/// Load one session file and attach it to `analysis`.
pub fn load_file(path: &Path, analysis: &Analysis) -> Result<Resumed, SessionError> {
    let bytes = fs::read(path).map_err(|source| SessionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |reason: String| SessionError::Corrupt {
        path: path.to_path_buf(),
        moved_to: set_aside(path, "corrupt"),
        reason,
    };
    let header = read_header(&bytes).map_err(corrupt)?;
    if header.version != SESSION_FORMAT_VERSION {
        return Err(SessionError::Version {
            path: path.to_path_buf(),
            found: header.version,
            moved_to: set_aside(path, "corrupt"),
        });
    }
    let file: FileIn = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut state = file.state;
    match state.attach(analysis) {
        Ok(()) => {}
        Err(e @ (AttachError::OtherImageSet | AttachError::Count { .. })) => {
            return Err(SessionError::OtherImageSet {
                path: path.to_path_buf(),
                moved_to: set_aside(path, "other"),
                reason: e.to_string(),
            })
        }
        Err(e) => return Err(corrupt(e.to_string())),
    }
    Ok(Resumed {
        state,
        history: file.history,
        path: path.to_path_buf(),
        saved_unix_ms: file.saved_unix_ms,
    })
}

/// Load the previous session of `folder` for `analysis` (see [`SessionStore::load`]).
pub fn load_session(folder: &Path, analysis: &Analysis) -> Result<Option<Resumed>, SessionError> {
    SessionStore::for_folder(folder).load(analysis)
}

/// Is there a previous session for `folder`? For the "resume previous session?" prompt.
/// Reads the file but changes nothing, even when it is damaged.
pub fn find_session(folder: &Path) -> Option<SessionInfo> {
    find_in(session_candidates(folder))
}

fn find_in(candidates: Vec<PathBuf>) -> Option<SessionInfo> {
    let path = candidates.into_iter().find(|p| p.is_file())?;
    let mut info = SessionInfo {
        path: path.clone(),
        saved_unix_ms: 0,
        radcluster_version: String::new(),
        images: 0,
        clusters: 0,
        undo_points: 0,
        problem: None,
    };
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            info.problem = Some(e.to_string());
            return Some(info);
        }
    };
    match read_header(&bytes) {
        Err(e) => info.problem = Some(format!("damaged: {e}")),
        Ok(h) if h.version != SESSION_FORMAT_VERSION => {
            info.problem = Some(format!(
                "format version {} (this radcluster reads {SESSION_FORMAT_VERSION})",
                h.version
            ))
        }
        Ok(_) => match serde_json::from_slice::<FileIn>(&bytes) {
            Ok(f) => {
                info.saved_unix_ms = f.saved_unix_ms;
                info.radcluster_version = f.radcluster_version;
                info.images = f.state.len();
                info.clusters = f.state.num_clusters();
                info.undo_points = f.history.undo_len();
            }
            Err(e) => info.problem = Some(format!("damaged: {e}")),
        },
    }
    Some(info)
}

/// What the status bar shows about saving.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveStatus {
    /// Successful saves so far.
    pub saves: u64,
    pub last_saved_unix_ms: Option<u64>,
    /// The last save's error, cleared by the next successful save.
    pub last_error: Option<String>,
    /// [`ReviewState::revision`] of the state last written.
    pub saved_revision: Option<u64>,
}

struct Snapshot {
    revision: u64,
    state: ReviewState,
    history: History,
    done: Option<Sender<Result<(), SessionError>>>,
}

/// Saves the session in the background: at most every [`MIN_SAVE_INTERVAL`], and within
/// that interval of the first unsaved change as long as [`Autosaver::poll`] is called
/// (every frame, and when the returned delay has passed).
///
/// `poll` only clones the state (the history's steps are shared, so that is cheap);
/// serialising and writing happen on a named worker thread.
pub struct Autosaver {
    store: SessionStore,
    tx: Option<Sender<Snapshot>>,
    status: Arc<Mutex<SaveStatus>>,
    worker: Option<JoinHandle<()>>,
    dirty_since: Option<Instant>,
    seen_revision: Option<u64>,
    last_sent: Option<Instant>,
}

impl Autosaver {
    pub fn new(store: SessionStore) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<Snapshot>(1);
        let status = Arc::new(Mutex::new(SaveStatus::default()));
        let (st, worker_store) = (status.clone(), store.clone());
        let worker = std::thread::Builder::new()
            .name("radcluster-autosave".into())
            .spawn(move || {
                for snap in rx {
                    let r = worker_store.save(&snap.state, &snap.history);
                    if let Ok(mut s) = st.lock() {
                        match &r {
                            Ok(()) => {
                                s.saves += 1;
                                s.last_saved_unix_ms = Some(now_ms());
                                s.last_error = None;
                                s.saved_revision = Some(snap.revision);
                            }
                            Err(e) => s.last_error = Some(e.to_string()),
                        }
                    }
                    if let Some(done) = snap.done {
                        let _ = done.send(r);
                    }
                }
            })
            .ok();
        if worker.is_none() {
            if let Ok(mut s) = status.lock() {
                s.last_error = Some("could not start the autosave thread".into());
            }
        }
        Self {
            store,
            tx: worker.as_ref().map(|_| tx),
            status,
            worker,
            dirty_since: None,
            seen_revision: None,
            last_sent: None,
        }
    }

    pub fn store(&self) -> &SessionStore {
        &self.store
    }

    /// Note an unsaved change. Optional: `poll` also notices changes through
    /// [`ReviewState::revision`].
    pub fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    /// True while a change has not been handed to the writer yet.
    pub fn is_dirty(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// Call after each edit and once per frame. Hands a snapshot to the writer when one is
    /// due, and returns how long to wait before polling again while a save is pending
    /// (`ctx.request_repaint_after(..)`), or `None` when everything is handed over.
    pub fn poll(&mut self, state: &ReviewState, history: &History) -> Option<Duration> {
        let now = Instant::now();
        if self.seen_revision != Some(state.revision()) {
            self.seen_revision = Some(state.revision());
            self.dirty_since.get_or_insert(now);
        }
        self.dirty_since?;
        if let Some(last) = self.last_sent {
            let wait = MIN_SAVE_INTERVAL.saturating_sub(now.duration_since(last));
            if !wait.is_zero() {
                return Some(wait);
            }
        }
        let tx = self.tx.as_ref()?;
        if tx.is_full() {
            return Some(Duration::from_millis(20));
        }
        let snap = Snapshot {
            revision: state.revision(),
            state: state.clone(),
            history: history.clone(),
            done: None,
        };
        match tx.try_send(snap) {
            Ok(()) => {
                self.dirty_since = None;
                self.last_sent = Some(now);
                None
            }
            Err(TrySendError::Full(_)) => Some(Duration::from_millis(20)),
            Err(TrySendError::Disconnected(_)) => None,
        }
    }

    /// Save now and wait for the write (on exit, or before an export). Serialised with the
    /// background writes.
    pub fn flush(&mut self, state: &ReviewState, history: &History) -> Result<(), SessionError> {
        let Some(tx) = &self.tx else {
            return self.store.save(state, history);
        };
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let snap = Snapshot {
            revision: state.revision(),
            state: state.clone(),
            history: history.clone(),
            done: Some(done_tx),
        };
        let lost = || SessionError::Io {
            path: self.store.path.clone(),
            source: io::Error::other("the autosave thread stopped"),
        };
        tx.send(snap).map_err(|_| lost())?;
        let r = done_rx.recv().map_err(|_| lost())?;
        self.seen_revision = Some(state.revision());
        self.dirty_since = None;
        self.last_sent = Some(Instant::now());
        r
    }

    /// True once `state` as it is now has been written to disk (for the status bar, and
    /// for tests that must know an edit is durable).
    pub fn is_saved(&self, state: &ReviewState) -> bool {
        !self.is_dirty()
            && self.seen_revision == Some(state.revision())
            && self.status().saved_revision == Some(state.revision())
    }

    pub fn status(&self) -> SaveStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Autosaver {
    /// Finishes the write in flight; call [`Autosaver::flush`] first to save the latest state.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::edit::Edit;
    use crate::review::state::tests::sample;
    use crate::review::state::ClusterId;

    fn edited() -> (Analysis, ReviewState, History) {
        let a = sample();
        let mut s = ReviewState::from_analysis(&a);
        let mut h = History::new();
        h.apply(
            &mut s,
            Edit::Rename {
                cluster: ClusterId(1),
                name: "Brain".into(),
            },
        )
        .unwrap();
        h.apply(
            &mut s,
            Edit::Move {
                images: vec![0, 5],
                to: ClusterId(1),
            },
        )
        .unwrap();
        h.apply(
            &mut s,
            Edit::Exclude {
                images: vec![9],
                excluded: true,
            },
        )
        .unwrap();
        (a, s, h)
    }

    #[test]
    fn save_then_load_restores_state_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let (a, s, h) = edited();
        let store = SessionStore::for_folder(dir.path());
        assert_eq!(store.path(), primary_path(dir.path()));
        assert!(!store.is_fallback());
        assert!(store.load(&a).unwrap().is_none());
        store.save(&s, &h).unwrap();
        let info = find_session(dir.path()).unwrap();
        assert_eq!(
            (info.images, info.clusters, info.undo_points, info.problem),
            (10, 4, 3, None)
        );
        let r = store.load(&a).unwrap().unwrap();
        assert_eq!(r.state, s);
        assert_eq!(r.history, h);
        assert_eq!(r.state.size(ClusterId(1)), 4);
        let mut r2 = r;
        r2.history.undo(&mut r2.state).unwrap();
        assert!(!r2.state.is_image_excluded(9));
    }

    #[test]
    fn corrupt_and_other_version_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (a, s, h) = edited();
        let store = SessionStore::for_folder(dir.path());
        store.save(&s, &h).unwrap();
        let good = fs::read(store.path()).unwrap();
        // Truncated file.
        fs::write(store.path(), &good[..good.len() / 2]).unwrap();
        assert!(find_session(dir.path()).unwrap().problem.is_some());
        let e = store.load(&a).unwrap_err();
        let moved = e.moved_to().unwrap().to_path_buf();
        assert!(matches!(e, SessionError::Corrupt { .. }), "{e}");
        assert!(moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("session.json.corrupt-"));
        assert_eq!(fs::read(&moved).unwrap(), &good[..good.len() / 2]);
        assert!(!store.path().exists());
        // Another format version.
        let text =
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"version\":1", "\"version\":99", 1);
        fs::write(store.path(), text).unwrap();
        let e = store.load(&a).unwrap_err();
        assert!(matches!(e, SessionError::Version { found: 99, .. }), "{e}");
        assert!(e.moved_to().unwrap().exists());
        // Another image set.
        fs::write(store.path(), &good).unwrap();
        let mut other = a.clone();
        other.records[3].sop_instance_uid = "2.25.1".into();
        let e = store.load(&other).unwrap_err();
        assert!(matches!(e, SessionError::OtherImageSet { .. }), "{e}");
        let kept: Vec<_> = fs::read_dir(dir.path().join(SESSION_DIR))
            .unwrap()
            .collect();
        assert_eq!(kept.len(), 3, "three files set aside, none overwritten");
    }

    #[test]
    fn read_only_folder_falls_back_to_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        // A "folder" below a plain file: nothing can be created in it.
        let blocker = tmp.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let folder = blocker.join("data");
        let data_dir = tmp.path().join("user-data");
        let store = SessionStore::with_data_dir(&folder, Some(&data_dir));
        assert!(store.is_fallback());
        assert!(store
            .path()
            .starts_with(data_dir.join("radcluster").join("sessions")));
        let (a, s, h) = edited();
        store.save(&s, &h).unwrap();
        assert_eq!(store.find().unwrap().path, store.path());
        let r = store.load(&a).unwrap().unwrap();
        assert_eq!(r.state, s);
        // The same folder maps to the same fallback file.
        assert_eq!(SessionStore::with_data_dir(&folder, Some(&data_dir)), store);
    }

    #[test]
    fn autosaver_writes_in_background_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, mut s, mut h) = edited();
        let mut saver = Autosaver::new(SessionStore::for_folder(dir.path()));
        assert_eq!(
            saver.poll(&s, &h),
            None,
            "first poll hands the state over at once"
        );
        h.apply(
            &mut s,
            Edit::Recolor {
                cluster: ClusterId(0),
                color: [9, 9, 9],
            },
        )
        .unwrap();
        // Within the minimum interval the save waits, and says for how long.
        let wait = saver.poll(&s, &h);
        assert!(wait.is_some_and(|w| w <= MIN_SAVE_INTERVAL), "{wait:?}");
        assert!(saver.is_dirty());
        assert!(!saver.is_saved(&s));
        saver.flush(&s, &h).unwrap();
        assert!(!saver.is_dirty());
        assert!(saver.is_saved(&s));
        assert!(saver.status().saves >= 1);
        let r = load_session(dir.path(), &a).unwrap().unwrap();
        assert_eq!(r.state.cluster(ClusterId(0)).unwrap().color, [9, 9, 9]);
    }
}
