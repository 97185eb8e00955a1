//! Recently opened folders, kept in the user configuration directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many folders the list keeps.
pub const MAX_RECENT: usize = 10;

/// The list of recent folders, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    pub folders: Vec<PathBuf>,
}

/// Where radcluster keeps its user configuration. `RADCLUSTER_CONFIG_DIR` overrides the
/// platform directory (used by tests so that they never touch the real one).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RADCLUSTER_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    dirs::config_dir().map(|d| d.join("radcluster"))
}

impl Recent {
    fn file() -> Option<PathBuf> {
        config_dir().map(|d| d.join("recent.json"))
    }

    /// Load the list; a missing or unreadable file gives an empty list.
    pub fn load() -> Self {
        Self::file()
            .map(|f| Self::load_from(&f))
            .unwrap_or_default()
    }

    pub fn load_from(file: &Path) -> Self {
        std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Put `folder` first, dropping duplicates and the oldest beyond [`MAX_RECENT`].
    pub fn push(&mut self, folder: &Path) {
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        self.folders.retain(|f| f != &folder);
        self.folders.insert(0, folder);
        self.folders.truncate(MAX_RECENT);
    }

    /// Save atomically; errors are logged, since a lost recent list is harmless.
    pub fn save(&self) {
        let Some(file) = Self::file() else { return };
        if let Err(e) = self.save_to(&file) {
            log::warn!("cannot save recent folders to {}: {e}", file.display());
        }
    }

    pub fn save_to(&self, file: &Path) -> std::io::Result<()> {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic::write_atomic(file, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_dedups_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recent::default();
        for i in 0..(MAX_RECENT + 3) {
            let d = dir.path().join(format!("d{i}"));
            std::fs::create_dir(&d).unwrap();
            r.push(&d);
        }
        let again = dir.path().join("d5");
        r.push(&again);
        assert_eq!(r.folders.len(), MAX_RECENT);
        assert_eq!(r.folders[0], again.canonicalize().unwrap());
        assert_eq!(r.folders.iter().filter(|f| f.ends_with("d5")).count(), 1);

        let file = dir.path().join("cfg/recent.json");
        r.save_to(&file).unwrap();
        assert_eq!(Recent::load_from(&file), r);
    }
}
