//! The curated review: which image belongs to which cluster, cluster names, colours and
//! exclusions, edits with exact inverses, undo history, and the session file.
//!
//! This module is GUI-free. The window drives it like this:
//!
//! ```no_run
//! use radcluster::review::{Autosaver, Edit, History, ReviewState, SessionStore, ClusterId};
//! # fn demo(analysis: &radcluster::pipeline::Analysis, folder: &std::path::Path) -> anyhow::Result<()> {
//! let store = SessionStore::for_folder(folder);
//! let (mut state, mut history) = match store.load(analysis) {
//!     Ok(Some(resumed)) => (resumed.state, resumed.history),
//!     // Corrupt, other version or other image set: the old file was moved aside; tell the user.
//!     Err(_e) => (ReviewState::from_analysis(analysis), History::new()),
//!     Ok(None) => (ReviewState::from_analysis(analysis), History::new()),
//! };
//! let mut saver = Autosaver::new(store);
//! history.apply(&mut state, Edit::Rename { cluster: ClusterId(0), name: "CT HEAD axial".into() })?;
//! saver.mark_dirty();
//! // ... every frame:
//! if let Some(_again_in) = saver.poll(&state, &history) { /* ctx.request_repaint_after(_again_in) */ }
//! # Ok(()) }
//! ```

pub mod edit;
pub mod history;
pub mod metrics;
pub mod palette;
pub mod session;
pub mod state;

pub use edit::{Edit, EditError};
pub use history::{History, LogAction, LogEntry, Step, MAX_UNDO};
pub use metrics::{DatasetMetrics, LabelMetrics};
pub use session::{
    find_session, load_session, Autosaver, Resumed, SaveStatus, SessionError, SessionInfo,
    SessionStore, MIN_SAVE_INTERVAL, SESSION_DIR, SESSION_FILE, SESSION_FORMAT_VERSION,
};
pub use state::{
    region_name, AttachError, Breakdown, Cluster, ClusterId, ClusterSummary, ImageSetId,
    ReviewState,
};
