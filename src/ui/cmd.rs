//! Commands: what panels ask for. The app applies them after the UI pass, so that no
//! panel ever changes domain data while the frame is being built.

use std::path::PathBuf;

use crate::review::{ClusterId, Edit};

use super::selection::SelectMode;

#[must_use]
#[derive(Clone, Debug)]
pub enum Command {
    OpenFolder(PathBuf),
    OpenSample,
    /// Back to the start screen.
    CloseFolder,
    /// Re-run the pipeline with the settings panel's parameters (cancels any job).
    Rerun,
    CancelJob,
    /// Answer to the "resume previous review?" question.
    Resume(bool),
    Select {
        indices: Vec<usize>,
        mode: SelectMode,
    },
    ClearSelection,
    Focus(Option<ClusterId>),
    /// Select all members of a cluster.
    SelectMembers(ClusterId),
    OpenViewer(usize),
    CloseViewer,
    ViewerStep(i32),
    /// A review edit, applied through the history (undoable).
    Edit(Edit),
    /// Move the selected images to a cluster.
    MoveSelectedTo(ClusterId),
    /// Move the selected images to the cluster at this position of the cluster list.
    MoveSelectedToListPosition(usize),
    NewClusterFromSelection,
    ExcludeSelected(bool),
    /// Merge the clusters into the first one.
    Merge(Vec<ClusterId>),
    /// Re-cluster the members of a cluster with k-means.
    Split(ClusterId, usize),
    Undo,
    Redo,
}
