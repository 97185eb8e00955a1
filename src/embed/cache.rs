//! On-disk cache of per-file image embeddings.
//!
//! An entry is reused only when the file's path, size and mtime, the model id and the
//! preprocessing version all match. The cache is one append-only binary file,
//! `image_embeddings.bin`, so a run that is killed keeps every batch it finished:
//!
//! ```text
//! header: magic "RCEMBED2" | format u32 | model id (u32 length + UTF-8) | preprocess u32
//!         | dim u32 | sha256 of the header so far (32 bytes)
//! record: path (u32 length + UTF-8) | size u64 | mtime i64 | dim x f32
//!         | sha256 of the record so far (32 bytes)
//! ```
//! (all little-endian). [`EmbeddingCache::insert`] buffers records and
//! [`EmbeddingCache::flush`] appends them; the pipeline flushes after every batch.
//!
//! Opening reads the file once and checks every record's checksum; only the offsets are
//! kept in memory (about 100 bytes an image rather than 5 KB), and [`EmbeddingCache::get`]
//! reads a vector back when it is needed.
//! - A header written for another format, model or preprocessing version, or one that
//!   fails its checksum, discards the whole file (with a warning): it is rebuilt, never
//!   trusted, never a crash.
//! - The first record that is truncated (a write cut short by a kill) or fails its
//!   checksum ends the valid part; it and everything after it are dropped, and the next
//!   flush appends from there. The records before it each passed their own checksum and
//!   are kept.
//! - A key stored twice (a file re-embedded) resolves to its last record. When stale
//!   records make up more than a third of the file, it is rewritten (atomically) with
//!   the live ones only.
//!
//! One cache file has one writer: concurrent processes, such as the shards of
//! `radcluster embed --shard`, each use their own cache folder, joined later by
//! `radcluster merge`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::image::{FEATURE_DIM, IMAGE_MODEL_ID};
use super::PREPROCESS_VERSION;
use crate::dicom::InstanceRecord;

/// Record offset by (path, size, mtime).
type Entries = HashMap<(PathBuf, u64, i64), u64>;

const MAGIC: &[u8; 8] = b"RCEMBED2";
const FORMAT: u32 = 2;
const SUM: usize = 32;
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
    /// Records in the valid part of the file and in `pending`, live or stale.
    records: usize,
    /// Length of the valid part of the file (0 when it has no valid header).
    valid_len: u64,
    /// Bytes to append at `valid_len` on the next flush (with the header, for a new file).
    pending: Vec<u8>,
    /// The file on disk has bytes past `valid_len` (or a bad header) to cut off.
    needs_truncate: bool,
    dirty: bool,
    handle: Option<File>,
}

fn header(model_id: &str, preprocess_version: u32, dim: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT.to_le_bytes());
    b.extend_from_slice(&(model_id.len() as u32).to_le_bytes());
    b.extend_from_slice(model_id.as_bytes());
    b.extend_from_slice(&preprocess_version.to_le_bytes());
    b.extend_from_slice(&(dim as u32).to_le_bytes());
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}

fn path_bytes(p: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
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
            records: 0,
            valid_len: 0,
            pending: header(model_id, preprocess_version, dim),
            needs_truncate: false,
            dirty: false,
            handle: None,
        };
        match File::open(&file) {
            Ok(f) => {
                if let Err(why) = cache.load(&f) {
                    log::warn!(
                        "embedding cache {} ignored and rebuilt: {why}",
                        file.display()
                    );
                    cache.entries.clear();
                    cache.records = 0;
                    cache.needs_truncate = true;
                } else {
                    cache.handle = Some(f);
                    cache.compact_if_stale();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                log::warn!(
                    "embedding cache {} unreadable, rebuilt: {e}",
                    file.display()
                );
                cache.needs_truncate = true;
            }
        }
        cache
    }

    /// Read and check the file: the header must match exactly; records are kept up to
    /// the first one that is truncated or fails its checksum.
    fn load(&mut self, f: &File) -> Result<(), String> {
        let total = f.metadata().map_err(|e| e.to_string())?.len();
        if total == 0 {
            return Ok(()); // an empty file: as if missing
        }
        let want = header(&self.model_id, self.preprocess_version, self.dim);
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut got = vec![0u8; want.len()];
        if r.read_exact(&mut got).is_err() || got != want {
            return Err(if got[..8] != MAGIC[..] {
                "not a radcluster embedding cache of this format".into()
            } else {
                format!(
                    "written for another model, preprocessing version or dimension (current: {} / {} / {}), or damaged",
                    self.model_id, self.preprocess_version, self.dim
                )
            });
        }
        let fixed = 16 + self.dim * 4 + SUM;
        let mut pos = want.len() as u64;
        let mut buf = Vec::with_capacity(4 + 256 + fixed);
        let mut bad = None;
        while pos < total {
            let mut len = [0u8; 4];
            if r.read_exact(&mut len).is_err() {
                bad = Some("truncated record");
                break;
            }
            let plen = u32::from_le_bytes(len) as usize;
            let rec_len = 4 + plen + fixed;
            if plen > 1 << 16 || pos + rec_len as u64 > total {
                bad = Some("truncated record");
                break;
            }
            buf.clear();
            buf.extend_from_slice(&len);
            buf.resize(rec_len, 0);
            if r.read_exact(&mut buf[4..]).is_err() {
                bad = Some("truncated record");
                break;
            }
            let (body, sum) = buf.split_at(rec_len - SUM);
            if Sha256::digest(body).as_slice() != sum {
                bad = Some("checksum mismatch");
                break;
            }
            let vector = &body[4 + plen + 16..];
            if vector
                .chunks_exact(4)
                .any(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
            {
                bad = Some("non-finite value");
                break;
            }
            let path = {
                use std::os::unix::ffi::OsStrExt;
                PathBuf::from(std::ffi::OsStr::from_bytes(&body[4..4 + plen]))
            };
            let num = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap_or([0; 8]));
            let (size, mtime) = (num(4 + plen), num(4 + plen + 8) as i64);
            self.entries.insert((path, size, mtime), pos);
            self.records += 1;
            pos += rec_len as u64;
        }
        self.valid_len = pos;
        self.pending.clear();
        if let Some(why) = bad {
            log::warn!(
                "embedding cache {}: {why} at byte {pos}; the {} records before it are kept, the rest is embedded again",
                self.file.display(),
                self.records
            );
            self.needs_truncate = true;
        }
        Ok(())
    }

    /// Rewrite the file with live records only when stale ones make up over a third.
    fn compact_if_stale(&mut self) {
        let stale = self.records - self.entries.len();
        if stale == 0 || stale * 3 <= self.records {
            return;
        }
        let Some(old) = self.handle.take() else {
            return;
        };
        let head = header(&self.model_id, self.preprocess_version, self.dim);
        let mut live: Vec<((PathBuf, u64, i64), u64)> =
            self.entries.iter().map(|(k, &o)| (k.clone(), o)).collect();
        live.sort_by_key(|(_, o)| *o);
        let fixed = 16 + self.dim * 4 + SUM;
        let mut fresh = HashMap::with_capacity(live.len());
        let written = crate::atomic::write_atomic_with(&self.file, |w| {
            w.write_all(&head)?;
            let mut pos = head.len() as u64;
            let mut buf = Vec::new();
            for (key, off) in &live {
                buf.resize(4 + path_bytes(&key.0).len() + fixed, 0);
                old.read_exact_at(&mut buf, *off)?;
                w.write_all(&buf)?;
                fresh.insert(key.clone(), pos);
                pos += buf.len() as u64;
            }
            Ok(())
        });
        match written.and_then(|_| File::open(&self.file)) {
            Ok(f) => {
                self.valid_len = f.metadata().map(|m| m.len()).unwrap_or(0);
                self.entries = fresh;
                self.records = self.entries.len();
                self.handle = Some(f);
            }
            Err(e) => {
                log::warn!("embedding cache {} not compacted: {e}", self.file.display());
                self.handle = Some(old);
            }
        }
    }

    fn compatible(&self, key: &CacheKey) -> bool {
        key.model_id == self.model_id && key.preprocess_version == self.preprocess_version
    }

    /// Copy the cached vector of `key` into `out` (of length `dim`); false on a miss.
    pub fn get_into(&self, key: &CacheKey, out: &mut [f32]) -> bool {
        if !self.compatible(key) || out.len() != self.dim {
            return false;
        }
        let Some(&off) = self.entries.get(&(key.path.clone(), key.size, key.mtime)) else {
            return false;
        };
        let at = off + 4 + path_bytes(&key.path).len() as u64 + 16;
        let mut raw = vec![0u8; self.dim * 4];
        if at >= self.valid_len {
            let s = (at - self.valid_len) as usize;
            match self.pending.get(s..s + raw.len()) {
                Some(b) => raw.copy_from_slice(b),
                None => return false,
            }
        } else {
            let Some(f) = &self.handle else {
                return false;
            };
            if f.read_exact_at(&mut raw, at).is_err() {
                return false;
            }
        }
        for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        true
    }

    pub fn get(&self, key: &CacheKey) -> Option<Vec<f32>> {
        let mut v = vec![0f32; self.dim];
        self.get_into(key, &mut v).then_some(v)
    }

    /// Store an embedding (written on the next [`Self::flush`]); a key for another model
    /// or a vector of the wrong length or with a non-finite value is ignored.
    pub fn insert(&mut self, key: CacheKey, v: &[f32]) {
        if !self.compatible(&key) || v.len() != self.dim || !v.iter().all(|x| x.is_finite()) {
            return;
        }
        let off = self.valid_len + self.pending.len() as u64;
        let start = self.pending.len();
        let p = path_bytes(&key.path);
        self.pending
            .extend_from_slice(&(p.len() as u32).to_le_bytes());
        self.pending.extend_from_slice(p);
        self.pending.extend_from_slice(&key.size.to_le_bytes());
        self.pending.extend_from_slice(&key.mtime.to_le_bytes());
        for x in v {
            self.pending.extend_from_slice(&x.to_le_bytes());
        }
        let sum = Sha256::digest(&self.pending[start..]);
        self.pending.extend_from_slice(&sum);
        self.entries.insert((key.path, key.size, key.mtime), off);
        self.records += 1;
        self.dirty = true;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every key held, sorted by path (then size and mtime).
    pub fn keys(&self) -> Vec<CacheKey> {
        let mut k: Vec<CacheKey> = self
            .entries
            .keys()
            .map(|(path, size, mtime)| CacheKey {
                path: path.clone(),
                size: *size,
                mtime: *mtime,
                model_id: self.model_id.clone(),
                preprocess_version: self.preprocess_version,
            })
            .collect();
        k.sort_by(|a, b| (&a.path, a.size, a.mtime).cmp(&(&b.path, b.size, b.mtime)));
        k
    }

    /// Append the inserted records to the file (creating it and its folder). A kill
    /// after this returns loses none of them; a kill during it loses only the records
    /// whose bytes were cut short.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.dirty && !self.needs_truncate {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.file)?;
        // Cut a damaged tail (or a foreign file) before appending.
        f.set_len(self.valid_len)?;
        f.write_all_at(&self.pending, self.valid_len)?;
        self.valid_len += self.pending.len() as u64;
        self.pending.clear();
        self.handle = Some(f);
        self.dirty = false;
        self.needs_truncate = false;
        Ok(())
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

    fn open3(dir: &Path) -> EmbeddingCache {
        EmbeddingCache::open_for(dir, IMAGE_MODEL_ID, PREPROCESS_VERSION, 3)
    }

    #[test]
    fn round_trip_and_key_fields_matter() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = open3(dir.path());
        c.insert(key("/a.dcm", 1), &[1.0, 2.0, 3.0]);
        c.insert(key("/b.dcm", 1), &[1.0, 2.0]); // wrong length: ignored
        c.insert(key("/c.dcm", 1), &[1.0, f32::NAN, 2.0]); // non-finite: ignored
        assert_eq!(
            c.get(&key("/a.dcm", 1)),
            Some(vec![1.0, 2.0, 3.0]),
            "before flush"
        );
        c.flush().unwrap();
        let c = open3(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&key("/a.dcm", 1)), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(c.get(&key("/a.dcm", 2)), None, "mtime changed");
        let mut other_model = key("/a.dcm", 1);
        other_model.model_id = "another-model".into();
        assert_eq!(c.get(&other_model), None);
        let mut other_prep = key("/a.dcm", 1);
        other_prep.preprocess_version += 1;
        assert_eq!(c.get(&other_prep), None);
        assert_eq!(c.keys(), vec![key("/a.dcm", 1)]);
    }

    #[test]
    fn corrupt_or_other_version_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let open2 = |prep: u32, model: &str| EmbeddingCache::open_for(dir.path(), model, prep, 2);
        let mut c = open2(PREPROCESS_VERSION, IMAGE_MODEL_ID);
        c.insert(key("/a.dcm", 1), &[0.5, 0.25]);
        c.flush().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let good = std::fs::read(&file).unwrap();

        // A flipped byte in the header, one in the record, a truncation, and garbage:
        // all give an empty cache, no panic.
        let flipped = |i: usize| {
            let mut b = good.clone();
            b[i] ^= 0x40;
            b
        };
        for bad in [
            flipped(20),
            flipped(good.len() - 40),
            good[..good.len() - 5].to_vec(),
            b"garbage".to_vec(),
        ] {
            std::fs::write(&file, &bad).unwrap();
            let mut c = open2(PREPROCESS_VERSION, IMAGE_MODEL_ID);
            assert!(c.is_empty());
            // Rebuilding replaces the bad bytes with valid ones.
            c.insert(key("/b.dcm", 1), &[1.0, 1.0]);
            c.flush().unwrap();
            let c = open2(PREPROCESS_VERSION, IMAGE_MODEL_ID);
            assert_eq!(c.len(), 1);
            assert_eq!(c.get(&key("/b.dcm", 1)), Some(vec![1.0, 1.0]));
        }

        // A cache written for another preprocessing version or model is not trusted.
        std::fs::write(&file, &good).unwrap();
        assert!(open2(PREPROCESS_VERSION + 1, IMAGE_MODEL_ID).is_empty());
        assert!(open2(PREPROCESS_VERSION, "another-model").is_empty());
        // Nor is the previous format.
        let mut old = b"RCEMBED1".to_vec();
        old.extend_from_slice(&good[8..]);
        std::fs::write(&file, &old).unwrap();
        assert!(open2(PREPROCESS_VERSION, IMAGE_MODEL_ID).is_empty());
    }

    #[test]
    fn a_write_cut_short_keeps_the_records_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = open3(dir.path());
        c.insert(key("/a.dcm", 1), &[1.0, 0.0, 0.0]);
        c.insert(key("/b.dcm", 1), &[0.0, 1.0, 0.0]);
        c.flush().unwrap();
        c.insert(key("/c.dcm", 1), &[0.0, 0.0, 1.0]);
        c.flush().unwrap();
        drop(c);
        // A kill in the middle of the last append leaves part of its record.
        let file = dir.path().join(CACHE_FILE);
        let len = std::fs::metadata(&file).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let mut c = open3(dir.path());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&key("/b.dcm", 1)), Some(vec![0.0, 1.0, 0.0]));
        assert_eq!(c.get(&key("/c.dcm", 1)), None);
        c.insert(key("/c.dcm", 1), &[0.0, 0.0, 1.0]);
        c.flush().unwrap();
        let c = open3(dir.path());
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&key("/c.dcm", 1)), Some(vec![0.0, 0.0, 1.0]));
        assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
    }

    #[test]
    fn the_last_record_of_a_key_wins_and_stale_records_are_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let mut c = open3(dir.path());
        c.insert(key("/a.dcm", 1), &[1.0, 1.0, 1.0]);
        c.insert(key("/b.dcm", 1), &[5.0, 5.0, 5.0]);
        c.flush().unwrap();
        let one_each = std::fs::metadata(&file).unwrap().len();
        for v in [2.0, 3.0] {
            let mut c = open3(dir.path());
            c.insert(key("/a.dcm", 1), &[v, v, v]);
            c.flush().unwrap();
        }
        // 4 records, 2 live: the next open rewrites the file with the live ones.
        let c = open3(dir.path());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&key("/a.dcm", 1)), Some(vec![3.0, 3.0, 3.0]));
        assert_eq!(c.get(&key("/b.dcm", 1)), Some(vec![5.0, 5.0, 5.0]));
        assert_eq!(std::fs::metadata(&file).unwrap().len(), one_each);
    }
}
