//! On-disk thumbnail store: one append-only pack of JPEG thumbnails plus an index.
//!
//! Thumbnails are paged from disk on demand, so the window holds only the visible ones
//! (a million 128-pixel colour thumbnails would need ~49 GB in memory). The pack is keyed
//! like the embedding cache (path, size, mtime), so an unchanged file is never decoded
//! twice. A corrupt or foreign index is discarded and the store rebuilt, never trusted.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::dicom::InstanceRecord;

const FORMAT: u32 = 1;
const PACK: &str = "thumbs.pack";
const INDEX: &str = "thumbs.index.json";

/// Cache key of one file: path, size and modification time.
pub fn file_key(r: &InstanceRecord) -> String {
    format!("{}|{}|{}", r.path.display(), r.file_size, r.mtime)
}

#[derive(Deserialize, Default)]
struct IndexFile {
    format: u32,
    pack_len: u64,
    entries: HashMap<String, (u64, u32)>,
}

/// [`IndexFile`] as written: borrows the entries rather than copying them.
#[derive(Serialize)]
struct IndexRef<'a> {
    format: u32,
    pack_len: u64,
    entries: &'a HashMap<String, (u64, u32)>,
}

/// Writer and reader of one store folder. Safe to share between threads.
pub struct ThumbStore {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    pack: File,
    len: u64,
    entries: HashMap<String, (u64, u32)>,
    dirty: bool,
    last_flush: std::time::Instant,
}

/// How often [`ThumbStore::put`] persists the index on its own, so that a killed run keeps
/// the thumbnails it already wrote (the pack is append-only; only the index is rewritten).
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl ThumbStore {
    /// Open (or create) the store in `dir`. A damaged store is emptied and rebuilt.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let pack_path = dir.join(PACK);
        let mut pack = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&pack_path)?;
        let actual = pack.metadata()?.len();
        let index: IndexFile = std::fs::read(dir.join(INDEX))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|i: &IndexFile| i.format == FORMAT && i.pack_len <= actual)
            .unwrap_or_default();
        if index.entries.is_empty() && actual > 0 {
            log::warn!(
                "thumbnail store in {} had no valid index; rebuilding it",
                dir.display()
            );
        }
        // Anything past the indexed length is a write that never got indexed: drop it.
        pack.set_len(index.pack_len)?;
        pack.seek(SeekFrom::End(0))?;
        Ok(Self {
            dir: dir.to_owned(),
            inner: Mutex::new(Inner {
                pack,
                len: index.pack_len,
                entries: index.entries,
                dirty: false,
                last_flush: std::time::Instant::now(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// Store a thumbnail (JPEG-encoded) under `key`.
    pub fn put(&self, key: &str, img: &image::RgbImage) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(8 * 1024);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(img)
            .map_err(io::Error::other)?;
        self.put_raw(key, &bytes)
    }

    /// Number of thumbnails held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key held, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.lock().entries.keys().cloned().collect();
        k.sort();
        k
    }

    /// The stored (JPEG) bytes of `key`, as [`Self::put_raw`] takes them.
    pub fn get_raw(&self, key: &str) -> Option<Vec<u8>> {
        let (pack, (off, len)) = {
            let g = self.lock();
            (g.pack.try_clone().ok()?, *g.entries.get(key)?)
        };
        let mut buf = vec![0u8; len as usize];
        pack.read_exact_at(&mut buf, off).ok()?;
        Some(buf)
    }

    /// Store already-encoded thumbnail bytes (from [`Self::get_raw`] of another store).
    pub fn put_raw(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let mut g = self.lock();
        let off = g.len;
        g.pack.write_all(bytes)?;
        g.len += bytes.len() as u64;
        g.entries.insert(key.to_owned(), (off, bytes.len() as u32));
        g.dirty = true;
        let due = g.last_flush.elapsed() >= FLUSH_EVERY;
        drop(g);
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Read the thumbnail stored under `key`.
    pub fn get(&self, key: &str) -> Option<image::RgbImage> {
        let buf = self.get_raw(key)?;
        image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
            .ok()
            .map(|i| i.to_rgb8())
    }

    /// Persist the index (atomically) after syncing the pack.
    pub fn flush(&self) -> io::Result<()> {
        let mut g = self.lock();
        if !g.dirty {
            return Ok(());
        }
        // Even when this write fails, the next attempt waits another FLUSH_EVERY.
        g.last_flush = std::time::Instant::now();
        g.pack.sync_data()?;
        let idx = IndexRef {
            format: FORMAT,
            pack_len: g.len,
            entries: &g.entries,
        };
        let bytes = serde_json::to_vec(&idx)?;
        crate::atomic::write_atomic(&self.dir.join(INDEX), &bytes)?;
        g.dirty = false;
        Ok(())
    }
}

/// Read-only view of a store aligned to a record list: `get(i)` is record `i`'s thumbnail.
pub struct Thumbnails {
    store: ThumbStore,
    keys: Vec<String>,
}

impl Thumbnails {
    pub fn new(store: ThumbStore, records: &[InstanceRecord]) -> Self {
        Self {
            store,
            keys: records.iter().map(file_key).collect(),
        }
    }
    pub fn open(dir: &Path, records: &[InstanceRecord]) -> io::Result<Self> {
        Ok(Self::new(ThumbStore::open(dir)?, records))
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<image::RgbImage> {
        self.store.get(self.keys.get(index)?)
    }
}

impl std::fmt::Debug for Thumbnails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnails")
            .field("dir", &self.store.dir)
            .field("len", &self.keys.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(v: u8) -> image::RgbImage {
        image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([v, (x * 8) as u8, (y * 8) as u8]))
    }

    #[test]
    fn round_trip_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = ThumbStore::open(d.path()).unwrap();
        s.put("a", &img(10)).unwrap();
        s.put("b", &img(200)).unwrap();
        s.flush().unwrap();
        drop(s);
        let s = ThumbStore::open(d.path()).unwrap();
        let a = s.get("a").unwrap();
        assert_eq!(a.dimensions(), (32, 24));
        // JPEG is lossy: the mean of the red channel stays close.
        let mean =
            |i: &image::RgbImage| i.pixels().map(|p| p[0] as f64).sum::<f64>() / (32.0 * 24.0);
        assert!((mean(&a) - 10.0).abs() < 6.0);
        assert!((mean(&s.get("b").unwrap()) - 200.0).abs() < 6.0);
        assert!(s.get("c").is_none());
    }

    #[test]
    fn corrupt_index_is_rebuilt_not_trusted() {
        let d = tempfile::tempdir().unwrap();
        let s = ThumbStore::open(d.path()).unwrap();
        s.put("a", &img(1)).unwrap();
        s.flush().unwrap();
        drop(s);
        std::fs::write(d.path().join(INDEX), b"{not json").unwrap();
        let s = ThumbStore::open(d.path()).unwrap();
        assert!(!s.contains("a"));
        s.put("a", &img(50)).unwrap();
        assert!(s.get("a").is_some());
    }

    #[test]
    fn unindexed_tail_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let s = ThumbStore::open(d.path()).unwrap();
        s.put("a", &img(1)).unwrap();
        s.flush().unwrap();
        s.put("b", &img(2)).unwrap(); // never flushed: as if the process died here
        drop(s);
        let s = ThumbStore::open(d.path()).unwrap();
        assert!(s.contains("a") && !s.contains("b"));
        assert!(s.get("a").is_some());
    }
}
