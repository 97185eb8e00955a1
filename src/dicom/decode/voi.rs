//! Modality LUT (rescale), VOI (linear window or robust percentiles), MONOCHROME1
//! inversion, to 8-bit grey. Integer frames go through a lookup table over the stored
//! values; 32-bit frames are mapped per pixel.

use super::frame::{RawFrame, Samples};

/// Percentiles used when the file has no window.
pub const LOW_PERCENTILE: f64 = 0.005;
pub const HIGH_PERCENTILE: f64 = 0.995;

/// PS3.3 C.11.2.1.2.1 linear VOI function, output in 0..=1.
pub fn voi_linear(x: f64, centre: f64, width: f64) -> f64 {
    let lower = centre - 0.5 - (width - 1.0) / 2.0;
    let upper = centre - 0.5 + (width - 1.0) / 2.0;
    if x <= lower {
        0.0
    } else if x > upper {
        1.0
    } else if width <= 1.0 {
        // width 1 is a threshold at centre - 0.5 (both bounds coincide)
        1.0
    } else {
        ((x - (centre - 0.5)) / (width - 1.0) + 0.5).clamp(0.0, 1.0)
    }
}

/// Modality units to display units 0..=255 for a window given as (centre, width), with
/// `width >= 1`. Used both for the file's window and for the percentile window.
#[derive(Clone, Copy, Debug)]
pub enum Voi {
    /// PS3.3 linear window.
    Linear { centre: f64, width: f64 },
    /// Plain min-max stretch between two modality values.
    Range { lo: f64, hi: f64 },
}

impl Voi {
    pub fn apply(&self, m: f64) -> f64 {
        match *self {
            Voi::Linear { centre, width } => voi_linear(m, centre, width),
            Voi::Range { lo, hi } => {
                if hi > lo {
                    ((m - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
        }
    }

    /// As a (centre, width) pair for a viewer.
    pub fn as_window(&self) -> (f64, f64) {
        match *self {
            Voi::Linear { centre, width } => (centre, width),
            Voi::Range { lo, hi } => ((lo + hi) / 2.0 + 0.5, (hi - lo).max(0.0) + 1.0),
        }
    }
}

/// To an 8-bit display value, MONOCHROME1 inverted.
#[inline]
fn to_u8(y: f64, invert: bool) -> u8 {
    let v = super::round_to_u8(y * 255.0);
    if invert {
        255 - v
    } else {
        v
    }
}

/// Histogram of stored-value indices, and the occupied index range.
fn histogram(idx: &[u16]) -> (Vec<u32>, usize, usize) {
    // Two tables, for even and odd pixels: runs of one value (a black background) would
    // otherwise make every increment wait for the previous one to the same counter.
    // The tables span 0..=max only (a 12-bit frame touches 4096 counters, not 65536).
    if idx.is_empty() {
        return (vec![0], 0, 0);
    }
    // A fold, not `max()`: `max()` keeps the last of equal elements, which stops the
    // compiler from vectorising it.
    let max = idx.iter().fold(0u16, |a, &b| a.max(b));
    let mut h = vec![0u32; max as usize + 1];
    let mut odd = vec![0u32; max as usize + 1];
    let mut pairs = idx.chunks_exact(2);
    for p in &mut pairs {
        h[p[0] as usize] += 1;
        odd[p[1] as usize] += 1;
    }
    for &i in pairs.remainder() {
        h[i as usize] += 1;
    }
    for (a, b) in h.iter_mut().zip(&odd) {
        *a += b;
    }
    let lo = h.iter().position(|&c| c > 0).unwrap_or(0);
    let hi = h.iter().rposition(|&c| c > 0).unwrap_or(0);
    (h, lo, hi)
}

/// Index at fraction `q` of the cumulative histogram.
fn hist_quantile(h: &[u32], total: u64, q: f64) -> usize {
    let target = (q * total as f64).floor() as u64;
    let mut acc = 0u64;
    for (i, &c) in h.iter().enumerate() {
        acc += c as u64;
        if acc > target {
            return i;
        }
    }
    h.len() - 1
}

/// The VOI for a grey frame: the file's window if usable, else the robust percentiles of
/// the modality values (falling back to min-max when those coincide).
pub(crate) fn choose_voi(f: &RawFrame) -> Voi {
    if let Some((centre, width)) = f.window {
        return Voi::Linear { centre, width };
    }
    match &f.samples {
        Samples::Int { idx, offset } => {
            let (h, lo, hi) = histogram(idx);
            int_voi(f, *offset, &h, idx.len() as u64, lo, hi)
        }
        Samples::Float(v) => {
            // Percentiles of a strided sample: exact enough and O(n) on a small copy.
            let step = (v.len() / 65536).max(1);
            let mut s: Vec<f32> = v
                .iter()
                .step_by(step)
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            if s.is_empty() {
                return Voi::Range { lo: 0.0, hi: 0.0 };
            }
            let k_lo = ((s.len() - 1) as f64 * LOW_PERCENTILE) as usize;
            let k_hi = ((s.len() - 1) as f64 * HIGH_PERCENTILE).ceil() as usize;
            let a = *s.select_nth_unstable_by(k_lo, f32::total_cmp).1 as f64;
            let b = *s.select_nth_unstable_by(k_hi, f32::total_cmp).1 as f64;
            let min = s.iter().copied().fold(f32::INFINITY, f32::min) as f64;
            let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            range_voi(f, a, b, min, max)
        }
        Samples::Rgb(_) => Voi::Range { lo: 0.0, hi: 255.0 },
    }
}

/// [`choose_voi`] of an integer frame (stored values `idx - offset`) whose stored-value
/// histogram `h` over `n` pixels, occupying `lo..=hi`, is known.
fn int_voi(f: &RawFrame, offset: i32, h: &[u32], n: u64, lo: usize, hi: usize) -> Voi {
    if let Some((centre, width)) = f.window {
        return Voi::Linear { centre, width };
    }
    let offset = offset as f64;
    let p_lo = hist_quantile(h, n, LOW_PERCENTILE) as f64 - offset;
    let p_hi = hist_quantile(h, n, HIGH_PERCENTILE) as f64 - offset;
    range_voi(f, p_lo, p_hi, lo as f64 - offset, hi as f64 - offset)
}

/// The percentile window from stored values `a`, `b` (percentiles) and `min`, `max`.
fn range_voi(f: &RawFrame, a: f64, b: f64, min: f64, max: f64) -> Voi {
    let modality = |v: f64| v * f.slope + f.intercept;
    let (mut lo, mut hi) = (modality(a), modality(b));
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    if hi <= lo {
        let (x, y) = (modality(min), modality(max));
        lo = x.min(y);
        hi = x.max(y);
    }
    Voi::Range { lo, hi }
}

/// A frame ready for the two outputs: 8-bit grey box-reduced by a factor `k`, the
/// histogram of the full-resolution 8-bit grey frame (for the quality flags), and the
/// full-resolution RGB of a colour frame.
pub(crate) struct Display {
    /// Size of `grey`.
    pub width: usize,
    pub height: usize,
    pub grey: Vec<u8>,
    /// Grey levels of the full-resolution frame.
    pub levels: [u64; 256],
    pub rgb: Option<Vec<u8>>,
}

/// The frame as 8-bit grey (for colour: luma), reduced by `k`x`k` box averaging, and, for
/// colour frames, full-resolution RGB.
///
/// Integer frames make one pass for the stored-value histogram (it gives the percentiles,
/// the occupied range and, through the lookup table, the grey levels of the full frame),
/// then one pass that maps through the table and box-averages at once: the full-resolution
/// grey frame is never built. Bit for bit what mapping and then reducing gives.
pub(crate) fn to_display_reduced(f: &RawFrame, k: usize) -> Display {
    let (w, h) = (f.width as usize, f.height as usize);
    let invert = f.monochrome1;
    let mut levels = [0u64; 256];
    let full = |grey: Vec<u8>, rgb: Option<Vec<u8>>, levels: [u64; 256]| {
        let (width, height, grey) = super::resize::box_reduce(&grey, w, h, 1, k);
        Display {
            width,
            height,
            grey,
            levels,
            rgb,
        }
    };
    match &f.samples {
        Samples::Int { idx, offset } => {
            let (hist, lo, hi) = histogram(idx);
            let voi = int_voi(f, *offset, &hist, idx.len() as u64, lo, hi);
            // Only the entries of stored values that occur are computed (a sparse 16-bit
            // frame can span all 65536).
            let mut lut = vec![0u8; 65536];
            if !idx.is_empty() {
                for (i, v) in lut.iter_mut().enumerate().take(hi + 1).skip(lo) {
                    if hist[i] == 0 {
                        continue;
                    }
                    let m = (i as f64 - *offset as f64) * f.slope + f.intercept;
                    *v = to_u8(voi.apply(m), invert);
                    levels[*v as usize] += hist[i] as u64;
                }
            }
            let (width, height, grey) = super::resize::box_reduce_lut(idx, &lut, w, h, k);
            Display {
                width,
                height,
                grey,
                levels,
                rgb: None,
            }
        }
        Samples::Float(v) => {
            let voi = choose_voi(f);
            let grey: Vec<u8> = v
                .iter()
                .map(|&x| {
                    let m = x as f64 * f.slope + f.intercept;
                    if m.is_finite() {
                        to_u8(voi.apply(m), invert)
                    } else {
                        0
                    }
                })
                .collect();
            grey.iter().for_each(|&g| levels[g as usize] += 1);
            full(grey, None, levels)
        }
        Samples::Rgb(rgb) => {
            let grey = luma(rgb);
            grey.iter().for_each(|&g| levels[g as usize] += 1);
            full(grey, Some(rgb.clone()), levels)
        }
    }
}

/// The frame as 8-bit grey (for colour: luma) and, for colour frames, RGB.
#[cfg(test)]
pub(crate) fn to_display(f: &RawFrame) -> (Vec<u8>, Option<Vec<u8>>) {
    let d = to_display_reduced(f, 1);
    (d.grey, d.rgb)
}

/// ITU-R BT.601 luma 0.299/0.587/0.114 of interleaved RGB.
pub fn luma(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let y = (299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32 + 500) / 1000;
            y as u8
        })
        .collect()
}
