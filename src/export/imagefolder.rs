//! An ImageFolder-style tree (`root/<cluster name>/<image>.dcm`), ready for
//! `torchvision.datasets.DatasetFolder` with a DICOM loader. Files are symlinks to the
//! originals, or copies where links cannot be made.
//!
//! The tree is built in a temp folder beside `root` and renamed into place, so an
//! interrupted export leaves the previous tree (or none), never half of one.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::pipeline::Analysis;
use crate::review::{ClusterId, ReviewState};
use crate::{Cancel, Progress};

use super::{check_aligned, io_err, ExportError, Pseudonymizer};

/// Folder name for excluded images under [`ExcludedPolicy::Folder`].
pub const EXCLUDED_DIR: &str = "_excluded";

/// What happens to excluded images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExcludedPolicy {
    /// Left out of the tree.
    #[default]
    Omit,
    /// Put in `_excluded/` (move it away before training: ImageFolder would see a class).
    Folder,
}

/// How files get into the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkMode {
    /// Symlink, copying when the link fails (e.g. a file system without links).
    #[default]
    Auto,
    Symlink,
    Copy,
}

#[derive(Clone, Debug, Default)]
pub struct ImageFolderOptions {
    pub excluded: ExcludedPolicy,
    pub link: LinkMode,
    /// Name files by pseudonym instead of SOP Instance UID. The DICOM content itself is
    /// not changed, and a symlink still points at the original path: use
    /// [`LinkMode::Copy`] when the tree leaves the site.
    pub pseudonymizer: Option<Pseudonymizer>,
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFolderSummary {
    pub root: PathBuf,
    /// (folder name, cluster, files) per cluster folder, in cluster order.
    pub folders: Vec<(String, ClusterId, usize)>,
    pub linked: usize,
    pub copied: usize,
    /// Excluded images left out (Omit) or put in `_excluded/` (Folder).
    pub excluded: usize,
}

/// A safe, portable folder name: letters, digits, `-`, `_` and `+` kept, runs of other
/// characters (dots and slashes included) become one `_`; never empty; at most 100 bytes.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in name.trim().chars() {
        if ch.is_alphanumeric() || matches!(ch, '-' | '_' | '+') {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(ch);
        } else {
            gap = true;
        }
    }
    while out.len() > 100 {
        out.pop();
    }
    if out.is_empty() {
        "cluster".into()
    } else {
        out
    }
}

fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let mut name = base.clone();
    let mut k = 2;
    // Case-insensitive, for file systems that fold case.
    while taken.contains(&name.to_lowercase()) {
        name = format!("{base}_{k}");
        k += 1;
    }
    taken.insert(name.to_lowercase());
    name
}

fn absolute(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

#[cfg(unix)]
fn symlink(src: &Path, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(src, dst)
}
#[cfg(windows)]
fn symlink(src: &Path, dst: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(src, dst)
}
#[cfg(not(any(unix, windows)))]
fn symlink(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no symlinks here",
    ))
}

/// Write the tree at `root` (replacing an existing one), one folder per cluster named
/// after its sanitised, de-duplicated name.
pub fn write_image_folder(
    root: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ImageFolderOptions,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ImageFolderSummary, ExportError> {
    check_aligned(analysis, state)?;
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imagefolder".into());
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    let result = build(&tmp, analysis, state, opts, progress, cancel);
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Swap into place: old tree aside, new tree in, old tree removed.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = root.exists();
    if had_old {
        fs::rename(root, &old).map_err(io_err(root))?;
    }
    if let Err(e) = fs::rename(&tmp, root) {
        if had_old {
            let _ = fs::rename(&old, root);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(ExportError::Io {
            path: root.to_path_buf(),
            source: e,
        });
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    summary.root = root.to_path_buf();
    Ok(summary)
}

fn build(
    dir: &Path,
    analysis: &Analysis,
    state: &ReviewState,
    opts: &ImageFolderOptions,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ImageFolderSummary, ExportError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut summary = ImageFolderSummary::default();
    let mut taken: HashSet<String> = HashSet::new();
    taken.insert(EXCLUDED_DIR.to_lowercase());
    let members = state.all_members();
    let mut symlinks_work = opts.link != LinkMode::Copy;
    progress.stage("export image folder", state.len() as u64);

    let mut place = |folder: &Path,
                     image: usize,
                     used: &mut HashSet<String>,
                     summary: &mut ImageFolderSummary| {
        let r = &analysis.records[image];
        let stem = match &opts.pseudonymizer {
            Some(p) => p.path(&r.path).trim_end_matches(".dcm").to_string(),
            None if !r.sop_instance_uid.is_empty() => sanitize_name(&r.sop_instance_uid),
            None => format!("image{image}"),
        };
        let file = unique(stem, used) + ".dcm";
        let dst = folder.join(&file);
        let src = absolute(&r.path);
        if symlinks_work {
            match symlink(&src, &dst) {
                Ok(()) => {
                    summary.linked += 1;
                    return Ok(());
                }
                Err(e) if opts.link == LinkMode::Symlink => {
                    return Err(ExportError::Io {
                        path: dst,
                        source: e,
                    })
                }
                Err(_) => symlinks_work = false,
            }
        }
        fs::copy(&src, &dst).map_err(|e| ExportError::Io {
            path: r.path.clone(),
            source: io::Error::new(e.kind(), format!("copy to {}: {e}", dst.display())),
        })?;
        summary.copied += 1;
        Ok::<(), ExportError>(())
    };

    let mut excluded_dir: Option<(PathBuf, HashSet<String>)> = None;
    for (id, imgs) in &members {
        let Some(cluster) = state.cluster(*id) else {
            continue;
        };
        let keep: Vec<usize> = imgs
            .iter()
            .copied()
            .filter(|&i| !state.is_excluded(i))
            .collect();
        let dropped: Vec<usize> = imgs
            .iter()
            .copied()
            .filter(|&i| state.is_excluded(i))
            .collect();
        summary.excluded += dropped.len();
        if !keep.is_empty() {
            let folder_name = unique(sanitize_name(&cluster.name), &mut taken);
            let folder = dir.join(&folder_name);
            fs::create_dir(&folder).map_err(io_err(&folder))?;
            let mut used = HashSet::new();
            for &i in &keep {
                cancel.check()?;
                place(&folder, i, &mut used, &mut summary)?;
                progress.inc(1);
            }
            summary.folders.push((folder_name, *id, keep.len()));
        }
        if opts.excluded == ExcludedPolicy::Folder && !dropped.is_empty() {
            let (folder, used) =
                excluded_dir.get_or_insert_with(|| (dir.join(EXCLUDED_DIR), HashSet::new()));
            if !folder.exists() {
                fs::create_dir(&*folder).map_err(io_err(folder))?;
            }
            let folder = folder.clone();
            for &i in &dropped {
                cancel.check()?;
                place(&folder, i, used, &mut summary)?;
                progress.inc(1);
            }
        } else {
            progress.inc(dropped.len() as u64);
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        assert_eq!(sanitize_name("CT HEAD (212)"), "CT_HEAD_212");
        assert_eq!(sanitize_name("../../etc/passwd"), "etc_passwd");
        assert_eq!(sanitize_name("  "), "cluster");
        assert_eq!(sanitize_name(".hidden"), "hidden");
        assert_eq!(sanitize_name("Thorax/Lunge äö"), "Thorax_Lunge_äö");
        let mut t = HashSet::new();
        assert_eq!(unique("a".into(), &mut t), "a");
        assert_eq!(unique("A".into(), &mut t), "A_2");
    }
}
