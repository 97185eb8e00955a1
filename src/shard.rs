//! Embedding an archive on many machines: `radcluster embed DIR --shard i/n` embeds one
//! deterministic part of it, and `radcluster merge` joins the parts' caches into one, which
//! `radcluster run DIR --cache MERGED` then finds complete. See docs/SCALING.md.
//!
//! A file belongs to shard `h(path) mod n`, where `h` is the first 8 bytes, little-endian,
//! of SHA-256 over the file's path relative to DIR. The split needs no coordinator, does
//! not depend on walk order or machine, balances shards whatever the folder layout, and
//! stays put when files are added. The filter runs before any header is read, so each
//! shard reads only its own files.
//!
//! A shard's output folder holds, besides the usual `embed` outputs, its caches in
//! `cache/` (image embeddings, MiniLM text vectors, thumbnails) and `shard.json`, the
//! manifest [`merge`] checks. Rerunning a shard reuses its cache, so a preempted job
//! just starts again.
//!
//! The merged cache holds only what is expensive: image embeddings and thumbnails (and
//! the MiniLM vectors of the strings the shards saw). The run that uses it fits the
//! metadata encoder on the whole archive and attaches SR report text across shards, so
//! its result is the same as an unsharded run's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dicom::Skipped;
use crate::embed::{self, textcache::TextCache, EmbeddingCache};
use crate::pipeline::{EmbedOutput, TextChoice};
use crate::thumbs::ThumbStore;

/// File name of a shard's manifest inside its output folder.
pub const MANIFEST: &str = "shard.json";
/// Folder of a shard's caches inside its output folder.
pub const CACHE_SUBDIR: &str = "cache";
const MANIFEST_FORMAT: u32 = 1;

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    /// Parse `i/n`, with `0 <= i < n`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}': expected i/n, e.g. 0/8"))?;
        let num = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("'{v}' in '{s}' is not a whole number"))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 {
            return Err(format!("'{s}': the number of shards must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "'{s}': the shard index must be below {count} (shards are numbered 0 to {})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard a path relative to the archive belongs to, of `count`.
pub fn shard_of(relative: &Path, count: u32) -> u32 {
    use std::os::unix::ffi::OsStrExt;
    let digest = Sha256::digest(relative.as_os_str().as_bytes());
    let h = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (h % u64::from(count.max(1))) as u32
}

impl Shard {
    /// Whether `path`, found under `root`, belongs to this shard.
    pub fn contains(&self, root: &Path, path: &Path) -> bool {
        let rel = path.strip_prefix(root).unwrap_or(path);
        shard_of(rel, self.count) == self.index
    }
}

/// What a shard did, written to `shard.json` next to its outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub shard: Shard,
    /// The archive folder exactly as it was given: cache keys are paths under it, so
    /// every shard and the final `run` must name it the same way.
    pub archive: PathBuf,
    pub image_model: String,
    pub preprocess_version: u32,
    pub text_model: TextChoice,
    /// Files of this shard (walked and kept by the hash filter).
    pub files: usize,
    pub images: usize,
    /// Images run through the network in this invocation (the rest came from the cache).
    pub embedded: usize,
    pub skipped: usize,
    pub seconds: f64,
}

impl Manifest {
    /// The manifest of shard `shard` of `archive`, embedded with `text_model`: `out` is
    /// what the embedding returned, `None` for a shard that holds no image.
    pub fn new(
        shard: Shard,
        archive: &Path,
        text_model: TextChoice,
        out: Option<&EmbedOutput>,
        seconds: f64,
    ) -> Self {
        Self {
            format: MANIFEST_FORMAT,
            shard,
            archive: archive.to_owned(),
            image_model: embed::IMAGE_MODEL_ID.to_owned(),
            preprocess_version: embed::PREPROCESS_VERSION,
            text_model,
            files: out.map_or(0, |o| o.files_seen),
            images: out.map_or(0, |o| o.records.len()),
            embedded: out.map_or(0, |o| o.embeddings.stats.model_calls),
            skipped: out.map_or(0, |o| o.skipped.len()),
            seconds,
        }
    }

    /// Write it into the shard's output folder (created if needed), atomically.
    pub fn write(&self, out_dir: &Path) -> Result<(), MergeError> {
        std::fs::create_dir_all(out_dir).map_err(|source| MergeError::Io {
            path: out_dir.to_owned(),
            source,
        })?;
        write_json(&out_dir.join(MANIFEST), self)
    }
}

/// Why shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no shard folders given")]
    NoShards,
    #[error("{}: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("incomplete: {0}")]
    Incomplete(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What [`merge`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct MergeReport {
    pub format: u32,
    pub shards: u32,
    pub archive: PathBuf,
    pub image_model: String,
    pub preprocess_version: u32,
    pub text_model: TextChoice,
    /// Image embeddings in the merged cache.
    pub images: usize,
    pub texts: usize,
    pub thumbnails: usize,
    pub skipped: usize,
}

fn read_manifest(dir: &Path) -> Result<Manifest, MergeError> {
    let path = dir.join(MANIFEST);
    let bad = |reason: String| MergeError::Manifest {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        bad(format!(
            "cannot read ({e}); is this the --out folder of `radcluster embed --shard`?"
        ))
    })?;
    let m: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a shard manifest: {e}")))?;
    if m.format != MANIFEST_FORMAT {
        return Err(bad(format!(
            "manifest format {}, this radcluster reads {MANIFEST_FORMAT}",
            m.format
        )));
    }
    Ok(m)
}

/// Check that `manifests` are one complete, consistent set of shards.
fn check_set(manifests: &[(PathBuf, Manifest)]) -> Result<(), MergeError> {
    let (first_dir, first) = manifests.first().ok_or(MergeError::NoShards)?;
    for (dir, m) in &manifests[1..] {
        let differs = |what: &str, a: String, b: String| {
            MergeError::Mismatch(format!(
                "{} and {} differ in {what} ({a} vs {b}); all shards must come from one archive, \
                 one radcluster version and the same options",
                first_dir.display(),
                dir.display()
            ))
        };
        if m.shard.count != first.shard.count {
            return Err(differs(
                "the number of shards",
                first.shard.count.to_string(),
                m.shard.count.to_string(),
            ));
        }
        if m.archive != first.archive {
            return Err(differs(
                "the archive path",
                first.archive.display().to_string(),
                m.archive.display().to_string(),
            ));
        }
        if (&m.image_model, m.preprocess_version) != (&first.image_model, first.preprocess_version)
        {
            return Err(differs(
                "the image model",
                format!("{} v{}", first.image_model, first.preprocess_version),
                format!("{} v{}", m.image_model, m.preprocess_version),
            ));
        }
        if m.text_model != first.text_model {
            return Err(differs(
                "the text model",
                format!("{:?}", first.text_model).to_lowercase(),
                format!("{:?}", m.text_model).to_lowercase(),
            ));
        }
    }
    let current = (embed::IMAGE_MODEL_ID, embed::PREPROCESS_VERSION);
    if (first.image_model.as_str(), first.preprocess_version) != current {
        return Err(MergeError::Mismatch(format!(
            "the shards were embedded with {} v{}, this radcluster uses {} v{}: their \
             embeddings would not be reused; embed them again",
            first.image_model, first.preprocess_version, current.0, current.1
        )));
    }
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (dir, m) in manifests {
        if let Some(other) = seen.insert(m.shard.index, dir) {
            return Err(MergeError::Mismatch(format!(
                "shard {} appears twice: {} and {}",
                m.shard,
                other.display(),
                dir.display()
            )));
        }
    }
    let missing: Vec<String> = (0..first.shard.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 20 {
            format!(" and {} more", missing.len() - 20)
        } else {
            String::new()
        };
        return Err(MergeError::Incomplete(format!(
            "{} of {} shards are missing: {shown}{more}",
            missing.len(),
            first.shard.count
        )));
    }
    Ok(())
}

/// Join the caches of the shard output folders `shards` into the cache folder `out`
/// (created if needed; what it already holds is kept). Refuses an incomplete or
/// inconsistent set before writing anything.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<MergeReport, MergeError> {
    let manifests = shards
        .iter()
        .map(|d| read_manifest(d).map(|m| (d.clone(), m)))
        .collect::<Result<Vec<_>, _>>()?;
    check_set(&manifests)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MergeError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let caches: Vec<PathBuf> = shards.iter().map(|d| d.join(CACHE_SUBDIR)).collect();

    // Image embeddings, in path order over all shards, so the merged file does not
    // depend on the order the shards are listed or finished in.
    let mut merged = EmbeddingCache::open(out);
    let sources: Vec<EmbeddingCache> = caches.iter().map(|c| EmbeddingCache::open(c)).collect();
    let mut keys: Vec<(embed::CacheKey, usize)> = sources
        .iter()
        .enumerate()
        .flat_map(|(s, c)| c.keys().into_iter().map(move |k| (k, s)))
        .collect();
    keys.sort_by(|a, b| {
        (&a.0.path, a.0.size, a.0.mtime, a.1).cmp(&(&b.0.path, b.0.size, b.0.mtime, b.1))
    });
    let mut v = vec![0f32; embed::image::FEATURE_DIM];
    for (n, (key, s)) in keys.iter().enumerate() {
        if sources[*s].get_into(key, &mut v) {
            merged.insert(key.clone(), &v);
        }
        if n % 4096 == 4095 {
            merged
                .flush()
                .map_err(io(&out.join(embed::cache::CACHE_FILE)))?;
        }
    }
    merged
        .flush()
        .map_err(io(&out.join(embed::cache::CACHE_FILE)))?;
    let images = merged.len();
    drop((merged, sources));

    // MiniLM vectors of the description strings.
    let (model, dim) = (embed::text::MINILM_SHA256, embed::text::TEXT_DIM);
    let mut texts = TextCache::open(out, model, dim);
    for c in &caches {
        let src = TextCache::open(c, model, dim);
        for (t, v) in src.entries() {
            texts.insert(t, v);
        }
    }
    texts
        .save()
        .map_err(io(&out.join(embed::textcache::TEXT_CACHE_FILE)))?;

    // Thumbnails, copied as stored (no re-encoding).
    let thumb_dir = out.join("thumbs");
    let thumbs = ThumbStore::open(&thumb_dir).map_err(io(&thumb_dir))?;
    for c in &caches {
        let dir = c.join("thumbs");
        if !dir.is_dir() {
            continue;
        }
        let src = ThumbStore::open(&dir).map_err(io(&dir))?;
        for key in src.keys() {
            if let Some(bytes) = src.get_raw(&key) {
                thumbs.put_raw(&key, &bytes).map_err(io(&thumb_dir))?;
            }
        }
    }
    thumbs.flush().map_err(io(&thumb_dir))?;

    // The skipped-file reports, joined.
    let mut skipped: BTreeSet<(PathBuf, String)> = BTreeSet::new();
    for d in shards {
        let p = d.join("skipped.json");
        if let Ok(bytes) = std::fs::read(&p) {
            let list: Vec<Skipped> =
                serde_json::from_slice(&bytes).map_err(|e| MergeError::Manifest {
                    path: p.clone(),
                    reason: format!("not a skipped-file list: {e}"),
                })?;
            skipped.extend(list.into_iter().map(|s| (s.path, s.reason)));
        }
    }
    let skipped: Vec<Skipped> = skipped
        .into_iter()
        .map(|(path, reason)| Skipped { path, reason })
        .collect();
    write_json(&out.join("skipped.json"), &skipped)?;

    let first = &manifests[0].1;
    let report = MergeReport {
        format: MANIFEST_FORMAT,
        shards: first.shard.count,
        archive: first.archive.clone(),
        image_model: first.image_model.clone(),
        preprocess_version: first.preprocess_version,
        text_model: first.text_model,
        images,
        texts: texts.len(),
        thumbnails: thumbs.len(),
        skipped: skipped.len(),
    };
    write_json(&out.join("merge.json"), &report)?;
    Ok(report)
}

/// Write `value` as pretty JSON to `path`, atomically.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), MergeError> {
    let io = |source| MergeError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    crate::atomic::write_atomic(path, &bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_argument_parses_and_rejects() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in ["8/8", "1/0", "a/2", "3", "-1/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} accepted");
        }
        assert!("8/8".parse::<Shard>().unwrap_err().contains("0 to 7"));
    }

    #[test]
    fn split_is_a_balanced_deterministic_partition() {
        let root = Path::new("/archive");
        let paths: Vec<PathBuf> = (0..8000)
            .map(|i| root.join(format!("P{}/S{}/IM{i}", i / 100, i / 10)))
            .collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for p in &paths {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.contains(root, p)).collect();
            assert_eq!(
                owners.len(),
                1,
                "{} in {} shards",
                p.display(),
                owners.len()
            );
            sizes[owners[0].index as usize] += 1;
        }
        for s in sizes {
            assert!((1800..=2200).contains(&s), "unbalanced: {sizes:?}");
        }
        // The relative path decides, not where the archive is mounted.
        let elsewhere = Path::new("/mnt/other");
        for p in paths.iter().take(100) {
            let rel = p.strip_prefix(root).unwrap();
            assert_eq!(
                shards[1].contains(root, p),
                shards[1].contains(elsewhere, &elsewhere.join(rel))
            );
        }
    }

    fn manifest(index: u32, count: u32) -> Manifest {
        Manifest::new(
            Shard { index, count },
            Path::new("/archive"),
            TextChoice::Minilm,
            None,
            0.0,
        )
    }

    #[test]
    fn incomplete_duplicate_or_mixed_sets_are_refused() {
        let set = |ms: Vec<Manifest>| -> Vec<(PathBuf, Manifest)> {
            ms.into_iter()
                .enumerate()
                .map(|(i, m)| (PathBuf::from(format!("/out/s{i}")), m))
                .collect()
        };
        assert!(check_set(&set(vec![manifest(1, 3), manifest(0, 3), manifest(2, 3)])).is_ok());
        let e = check_set(&set(vec![manifest(0, 3), manifest(2, 3)])).unwrap_err();
        assert!(
            e.to_string().contains("1 of 3 shards are missing: 1"),
            "{e}"
        );
        let e = check_set(&set(vec![manifest(0, 2), manifest(0, 2)])).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        let e = check_set(&set(vec![manifest(0, 2), manifest(1, 3)])).unwrap_err();
        assert!(e.to_string().contains("number of shards"), "{e}");
        let mut other = manifest(1, 2);
        other.text_model = TextChoice::Ngram;
        let e = check_set(&set(vec![manifest(0, 2), other])).unwrap_err();
        assert!(e.to_string().contains("text model"), "{e}");
        let mut old = manifest(1, 2);
        old.preprocess_version += 1;
        let e = check_set(&set(vec![manifest(0, 2), old])).unwrap_err();
        assert!(e.to_string().contains("image model"), "{e}");
        let mut moved = manifest(1, 2);
        moved.archive = "/elsewhere".into();
        let e = check_set(&set(vec![manifest(0, 2), moved])).unwrap_err();
        assert!(e.to_string().contains("archive path"), "{e}");
    }
}
