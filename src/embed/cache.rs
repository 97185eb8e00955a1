//! On-disk cache of per-file image embeddings.
//!
//! An entry is reused only when the file's path, size and mtime, the model id and the
//! preprocessing version all match. The cache is one binary file, `image_embeddings.bin`:
//!
//! ```text
//! magic "RCEMBED1" | format u32 | model id (u32 length + UTF-8) | preprocess u32 | dim u32
//! | count u64 | count x (path (u32 length + UTF-8), size u64, mtime i64, dim x f32)
//! | sha256 of everything before it (32 bytes)
//! ```
//! (all little-endian). A file that is truncated, fails its checksum, or was written for
//! another format, model or preprocessing version is discarded with a warning and rebuilt;
//! it is never trusted and never a crash. [`EmbeddingCache::save`] writes atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::image::{FEATURE_DIM, IMAGE_MODEL_ID};
use super::PREPROCESS_VERSION;
use crate::dicom::InstanceRecord;

/// Entries by (path, size, mtime).
type Entries = HashMap<(PathBuf, u64, i64), Vec<f32>>;

const MAGIC: &[u8; 8] = b"RCEMBED1";
const FORMAT: u32 = 1;
/// File name of the cache inside its folder.
pub const CACHE_FILE: &str = "image_embeddings.bin";

/// What identifies one cached embedding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub path: PathBuf,
    pub size: u64,
    pub mtime: i64,
    pub model_id: String,
    pub preprocess_version: u32,
}

impl CacheKey {
    /// Key of a record's file for the current image model and preprocessing.
    pub fn for_record(r: &InstanceRecord) -> Self {
        Self {
            path: r.path.clone(),
            size: r.file_size,
            mtime: r.mtime,
            model_id: IMAGE_MODEL_ID.to_owned(),
            preprocess_version: PREPROCESS_VERSION,
        }
    }
}

/// Image embeddings by file, for one model id and preprocessing version.
#[derive(Debug)]
pub struct EmbeddingCache {
    file: PathBuf,
    model_id: String,
    preprocess_version: u32,
    dim: usize,
    entries: Entries,
    dirty: bool,
}

impl EmbeddingCache {
    /// Open the cache in `dir` for the current image model. A missing, corrupt or
    /// other-version file gives an empty cache (with a warning unless simply missing).
    pub fn open(dir: &Path) -> Self {
        Self::open_for(dir, IMAGE_MODEL_ID, PREPROCESS_VERSION, FEATURE_DIM)
    }

    /// Open for an explicit model id, preprocessing version and dimension.
    pub fn open_for(dir: &Path, model_id: &str, preprocess_version: u32, dim: usize) -> Self {
        let file = dir.join(CACHE_FILE);
        let mut cache = Self {
            file: file.clone(),
            model_id: model_id.to_owned(),
            preprocess_version,
            dim,
            entries: HashMap::new(),
            dirty: false,
        };
        match std::fs::read(&file) {
            Ok(bytes) => match cache.parse(&bytes) {
                Ok(entries) => cache.entries = entries,
                Err(why) => {
                    log::warn!(
                        "embedding cache {} ignored and rebuilt: {why}",
                        file.display()
                    );
                    cache.dirty = true;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                log::warn!(
                    "embedding cache {} unreadable, rebuilt: {e}",
                    file.display()
                );
                cache.dirty = true;
            }
        }
        cache
    }

    fn parse(&self, bytes: &[u8]) -> Result<Entries, String> {
        if bytes.len() < MAGIC.len() + 32 || &bytes[..8] != MAGIC {
            return Err("not a radcluster embedding cache".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err("checksum mismatch (corrupt or truncated)".into());
        }
        let mut r = Reader { b: body, pos: 8 };
        let format = r.u32()?;
        if format != FORMAT {
            return Err(format!("format {format}, expected {FORMAT}"));
        }
        let model = r.string()?;
        let prep = r.u32()?;
        let dim = r.u32()? as usize;
        if model != self.model_id || prep != self.preprocess_version || dim != self.dim {
            return Err(format!(
                "written for model {model} / preprocessing {prep} / dim {dim}, current is {} / {} / {}",
                self.model_id, self.preprocess_version, self.dim
            ));
        }
        let count = r.u64()? as usize;
        let mut entries = HashMap::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let path = PathBuf::from(r.string()?);
            let size = r.u64()?;
            let mtime = r.u64()? as i64;
            let raw = r.take(dim * 4)?;
            let v: Vec<f32> = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if v.iter().any(|x| !x.is_finite()) {
                return Err("non-finite value".into());
            }
            entries.insert((path, size, mtime), v);
        }
        if r.pos != body.len() {
            return Err("trailing bytes".into());
        }
        Ok(entries)
    }

    fn compatible(&self, key: &CacheKey) -> bool {
        key.model_id == self.model_id && key.preprocess_version == self.preprocess_version
    }

    pub fn get(&self, key: &CacheKey) -> Option<Vec<f32>> {
        if !self.compatible(key) {
            return None;
        }
        self.entries
            .get(&(key.path.clone(), key.size, key.mtime))
            .cloned()
    }

    /// Store an embedding; a key for another model or a vector of the wrong length is ignored.
    pub fn insert(&mut self, key: CacheKey, v: Vec<f32>) {
        if self.compatible(&key) && v.len() == self.dim && v.iter().all(|x| x.is_finite()) {
            self.entries.insert((key.path, key.size, key.mtime), v);
            self.dirty = true;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Write the cache atomically if it changed (creating its folder).
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut b = Vec::with_capacity(64 + self.entries.len() * (self.dim * 4 + 80));
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&FORMAT.to_le_bytes());
        put_str(&mut b, &self.model_id);
        b.extend_from_slice(&self.preprocess_version.to_le_bytes());
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        b.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        let mut keys: Vec<_> = self.entries.keys().collect();
        keys.sort();
        for k in keys {
            put_str(&mut b, &k.0.to_string_lossy());
            b.extend_from_slice(&k.1.to_le_bytes());
            b.extend_from_slice(&k.2.to_le_bytes());
            for v in &self.entries[k] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        crate::atomic::write_atomic(&self.file, &b)?;
        self.dirty = false;
        Ok(())
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or("truncated")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "truncated")?,
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "truncated")?,
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "invalid UTF-8 path".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, mtime: i64) -> CacheKey {
        CacheKey {
            path: p.into(),
            size: 10,
            mtime,
            model_id: IMAGE_MODEL_ID.into(),
            preprocess_version: PREPROCESS_VERSION,
        }
    }

    #[test]
    fn round_trip_and_key_fields_matter() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION, 3);
        c.insert(key("/a.dcm", 1), vec![1.0, 2.0, 3.0]);
        c.insert(key("/b.dcm", 1), vec![1.0, 2.0]); // wrong length: ignored
        c.save().unwrap();
        let c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION, 3);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&key("/a.dcm", 1)), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(c.get(&key("/a.dcm", 2)), None, "mtime changed");
        let mut other_model = key("/a.dcm", 1);
        other_model.model_id = "another-model".into();
        assert_eq!(c.get(&other_model), None);
        let mut other_prep = key("/a.dcm", 1);
        other_prep.preprocess_version += 1;
        assert_eq!(c.get(&other_prep), None);
    }

    #[test]
    fn corrupt_or_other_version_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION, 2);
        c.insert(key("/a.dcm", 1), vec![0.5, 0.25]);
        c.save().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let good = std::fs::read(&file).unwrap();

        // One flipped byte, a truncation, and garbage: all give an empty cache, no panic.
        for bad in [
            {
                let mut b = good.clone();
                let i = b.len() / 2;
                b[i] ^= 0x40;
                b
            },
            good[..good.len() - 5].to_vec(),
            b"garbage".to_vec(),
        ] {
            std::fs::write(&file, &bad).unwrap();
            let mut c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION, 2);
            assert!(c.is_empty());
            // Rebuilding replaces the bad file with a valid one.
            c.insert(key("/b.dcm", 1), vec![1.0, 1.0]);
            c.save().unwrap();
            let c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION, 2);
            assert_eq!(c.get(&key("/b.dcm", 1)), Some(vec![1.0, 1.0]));
        }

        // A cache written for another preprocessing version is not trusted.
        std::fs::write(&file, &good).unwrap();
        let c = EmbeddingCache::open_for(dir.path(), IMAGE_MODEL_ID, PREPROCESS_VERSION + 1, 2);
        assert!(c.is_empty());
        let c = EmbeddingCache::open_for(dir.path(), "another-model", PREPROCESS_VERSION, 2);
        assert!(c.is_empty());
    }
}
