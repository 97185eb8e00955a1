//! On-disk cache of MiniLM sentence vectors, keyed by the exact string and the model file.
//!
//! Archives repeat a few hundred to a few thousand description strings; without this
//! cache a re-run on an unchanged folder would spend most of its time re-embedding them.
//! Format: magic, model sha256, dimension, then (length, UTF-8 bytes, vector) records.
//! Anything that does not parse is ignored and rebuilt, never trusted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RCTEXT01";
pub const TEXT_CACHE_FILE: &str = "text_embeddings.bin";

/// String -> vector, for one model.
pub struct TextCache {
    path: PathBuf,
    model: String,
    dim: usize,
    map: HashMap<String, Vec<f32>>,
    dirty: bool,
}

impl TextCache {
    /// Open the cache in `dir` for `model` (an id that changes with the weights).
    pub fn open(dir: &Path, model: &str, dim: usize) -> Self {
        let path = dir.join(TEXT_CACHE_FILE);
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| parse(&b, model, dim))
            .unwrap_or_default();
        Self {
            path,
            model: model.to_owned(),
            dim,
            map,
            dirty: false,
        }
    }

    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.map.get(text).map(Vec::as_slice)
    }

    pub fn insert(&mut self, text: &str, v: &[f32]) {
        if v.len() == self.dim {
            self.map.insert(text.to_owned(), v.to_vec());
            self.dirty = true;
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every string and its vector, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Write the cache atomically if anything was added.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut out = Vec::with_capacity(16 + self.map.len() * (self.dim * 4 + 64));
        out.extend_from_slice(MAGIC);
        let model = self.model.as_bytes();
        out.extend_from_slice(&(model.len() as u32).to_le_bytes());
        out.extend_from_slice(model);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        let mut keys: Vec<&String> = self.map.keys().collect();
        keys.sort(); // deterministic bytes for the same content
        for k in keys {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
            for x in &self.map[k] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d)?;
        }
        crate::atomic::write_atomic(&self.path, &out)?;
        self.dirty = false;
        Ok(())
    }
}

fn parse(b: &[u8], model: &str, dim: usize) -> Option<HashMap<String, Vec<f32>>> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(pos..pos.checked_add(n)?)?;
        pos += n;
        Some(s)
    };
    if take(8)? != MAGIC {
        return None;
    }
    let u32_of = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])) as usize;
    let mlen = u32_of(take(4)?);
    if take(mlen)? != model.as_bytes() || u32_of(take(4)?) != dim {
        return None;
    }
    let mut map = HashMap::new();
    while let Some(l) = take(4) {
        let len = u32_of(l);
        let key = std::str::from_utf8(take(len)?).ok()?.to_owned();
        let v: Vec<f32> = take(dim * 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        map.insert(key, v);
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_other_model_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        let mut c = TextCache::open(d.path(), "m1", 3);
        assert!(c.is_empty());
        c.insert("CT HEAD W/O", &[1.0, 0.0, 0.5]);
        c.insert("Thorax pa", &[0.0, 1.0, 0.0]);
        c.save().unwrap();
        let c = TextCache::open(d.path(), "m1", 3);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("CT HEAD W/O"), Some(&[1.0, 0.0, 0.5][..]));
        // Another model's vectors are never reused.
        assert!(TextCache::open(d.path(), "m2", 3).is_empty());
        // A truncated file is ignored, not trusted.
        let p = d.path().join(TEXT_CACHE_FILE);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        assert!(TextCache::open(d.path(), "m1", 3).is_empty());
    }
}
