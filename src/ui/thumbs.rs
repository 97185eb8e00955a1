//! Thumbnail textures: decoded off the UI thread by a small named pool, uploaded once,
//! kept in an LRU of texture handles.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use eframe::egui::{self, ColorImage, TextureHandle, TextureOptions};

/// Produces the thumbnail of image `i` (from the on-disk store or by decoding).
pub type ThumbSource = Arc<dyn Fn(usize) -> Option<image::RgbImage> + Send + Sync>;

/// Decoded thumbnails waiting for upload, and the textures already uploaded.
pub struct ThumbCache {
    req_tx: Option<Sender<usize>>,
    res_rx: Receiver<(usize, Option<ColorImage>)>,
    textures: HashMap<usize, (TextureHandle, u64)>,
    pending: HashSet<usize>,
    failed: HashSet<usize>,
    tick: u64,
    capacity: usize,
}

impl ThumbCache {
    /// Start `workers` named threads serving thumbnails from `source`; keep at most
    /// `capacity` textures.
    pub fn new(source: ThumbSource, workers: usize, capacity: usize) -> Self {
        let (req_tx, req_rx) = bounded::<usize>(256);
        let (res_tx, res_rx) = bounded::<(usize, Option<ColorImage>)>(256);
        for w in 0..workers.max(1) {
            let req_rx = req_rx.clone();
            let res_tx = res_tx.clone();
            let source = source.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("radcluster-thumbs-{w}"))
                .spawn(move || {
                    for i in req_rx {
                        let img = source(i).map(|t| {
                            ColorImage::from_rgb(
                                [t.width() as usize, t.height() as usize],
                                t.as_raw(),
                            )
                        });
                        if res_tx.send((i, img)).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                log::warn!("cannot start a thumbnail thread: {e}");
            }
        }
        Self {
            req_tx: Some(req_tx),
            res_rx,
            textures: HashMap::new(),
            pending: HashSet::new(),
            failed: HashSet::new(),
            tick: 0,
            capacity: capacity.max(16),
        }
    }

    /// The texture of image `i` if uploaded; otherwise queue it and return `None`.
    pub fn get(&mut self, i: usize) -> Option<egui::load::SizedTexture> {
        self.tick += 1;
        if let Some((t, used)) = self.textures.get_mut(&i) {
            *used = self.tick;
            return Some(egui::load::SizedTexture::from_handle(t));
        }
        if !self.pending.contains(&i) && !self.failed.contains(&i) {
            if let Some(tx) = &self.req_tx {
                match tx.try_send(i) {
                    Ok(()) => {
                        self.pending.insert(i);
                    }
                    Err(TrySendError::Full(_)) => {} // asked again next frame
                    Err(TrySendError::Disconnected(_)) => self.req_tx = None,
                }
            }
        }
        None
    }

    /// True when image `i` could not be decoded.
    pub fn failed(&self, i: usize) -> bool {
        self.failed.contains(&i)
    }

    /// Thumbnails still being decoded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn uploaded(&self) -> usize {
        self.textures.len()
    }

    /// Upload finished thumbnails for at most `budget`; returns how many were uploaded.
    pub fn pump(&mut self, ctx: &egui::Context, budget: Duration) -> usize {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < budget {
            let Ok((i, img)) = self.res_rx.try_recv() else {
                break;
            };
            self.pending.remove(&i);
            match img {
                Some(img) => {
                    let t = ctx.load_texture(format!("thumb-{i}"), img, TextureOptions::LINEAR);
                    self.textures.insert(i, (t, self.tick));
                    n += 1;
                }
                None => {
                    self.failed.insert(i);
                }
            }
        }
        if self.textures.len() > self.capacity {
            self.evict();
        }
        n
    }

    /// Drop the least recently used quarter beyond capacity (dropping a handle frees it).
    fn evict(&mut self) {
        let mut by_age: Vec<(u64, usize)> =
            self.textures.iter().map(|(i, (_, u))| (*u, *i)).collect();
        by_age.sort_unstable();
        let excess = self.textures.len() - self.capacity * 3 / 4;
        for (_, i) in by_age.into_iter().take(excess) {
            self.textures.remove(&i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_uploads_and_evicts() {
        let src: ThumbSource = Arc::new(|i| {
            (i % 7 != 3).then(|| image::RgbImage::from_pixel(4, 3, image::Rgb([i as u8, 0, 0])))
        });
        let mut c = ThumbCache::new(src, 2, 16);
        let ctx = egui::Context::default();
        for i in 0..40 {
            assert!(c.get(i).is_none());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.pending() > 0 && Instant::now() < deadline {
            c.pump(&ctx, Duration::from_millis(5));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(c.failed(3) && c.failed(10));
        assert!(
            c.uploaded() <= 16,
            "LRU keeps the cache bounded: {}",
            c.uploaded()
        );
        // the most recent image is still there
        assert!(c.get(39).is_some());
        assert_eq!(c.get(39).unwrap().size, egui::vec2(4.0, 3.0));
    }
}
