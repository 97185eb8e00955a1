//! Pixels to a representative frame: Modality LUT, VOI, MONOCHROME1 inversion, colour,
//! then the 224-pixel model input and the thumbnail.
//!
//! - [`decode_file`]: the middle frame of a file, as the model input, a thumbnail and
//!   quality flags (the ingest path).
//! - [`decode_full`] and [`render_window`]: one full-resolution frame in modality units, and
//!   its display under any window (the image viewer).
//!
//! Bad input of any kind gives a [`DecodeError`], never a panic.

mod frame;
mod j2k;
mod jpeg12;
mod open;
pub mod resize;
mod rle;
pub mod voi;

use std::path::Path;

pub use voi::{voi_linear, Voi};

use super::QualityFlags;
use frame::{RawFrame, Samples};

/// Side of the square greyscale model input.
pub const MODEL_SIZE: u32 = 224;
/// Longest side of a thumbnail.
pub const THUMB_SIZE: u32 = 128;

/// Short side / long side below which a frame is flagged `extreme_aspect`.
pub const MIN_SIDE_RATIO: f64 = 0.1;
/// A frame is `near_black` when at least this fraction of pixels is at most
/// [`NEAR_BLACK_LEVEL`] after windowing.
pub const NEAR_BLACK_FRACTION: f64 = 0.98;
pub const NEAR_BLACK_LEVEL: u8 = 10;
/// A frame has `low_diversity` when it uses fewer distinct 8-bit grey levels than this.
pub const MIN_GREY_LEVELS: usize = 8;

/// The two outputs of decoding one image.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// `MODEL_SIZE * MODEL_SIZE` grey bytes: aspect-preserving resize, zero padded, centred.
    pub model_input: Vec<u8>,
    /// Colour-preserving thumbnail, longest side `THUMB_SIZE`.
    pub thumbnail: image::RgbImage,
    /// Flags computed on the windowed frame.
    pub quality: super::QualityFlags,
}

/// Why a file could not be decoded, in words fit for the skipped list.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("not decodable: {0}")]
    Unsupported(String),
    #[error("pixel data is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// One full-resolution frame for the viewer.
#[derive(Clone, Debug)]
pub struct FullFrame {
    pub width: u32,
    pub height: u32,
    /// Frames in the file.
    pub frames: u32,
    /// Which frame this is (0-based).
    pub frame_index: u32,
    /// Grey frames: `width * height` values in modality units (after rescale).
    pub grey: Option<Vec<f32>>,
    /// Colour frames: `width * height * 3` interleaved RGB bytes.
    pub rgb: Option<Vec<u8>>,
    /// (centre, width) in modality units: the file's first window, else one spanning
    /// the 0.5-99.5 % percentiles.
    pub default_window: (f64, f64),
    /// Display inverted (MONOCHROME1).
    pub monochrome1: bool,
}

/// `x.round().clamp(0.0, 255.0) as u8` (NaN to 0), without the libm call that `round`
/// is on the x86-64 baseline (no SSE4.1 `roundsd`): after the clamp, truncation is the
/// floor and `x - t` is exact. It was a tenth of the time of a wide-range 16-bit frame,
/// in the lookup table over its stored values.
#[inline]
pub(crate) fn round_to_u8(x: f64) -> u8 {
    let c = x.clamp(0.0, 255.0);
    let t = c as i32;
    (t + (c - t as f64 >= 0.5) as i32) as u8
}

/// [`round_to_u8`] of an `f32`.
#[inline]
pub(crate) fn round_to_u8_f32(x: f32) -> u8 {
    let c = x.clamp(0.0, 255.0);
    let t = c as i32;
    (t + (c - t as f32 >= 0.5) as i32) as u8
}

/// Decode frame `frame` of `path` (read fully), with any third-party panic as an error.
fn raw_frame(
    path: &Path,
    frame: Option<u32>,
    target_long: Option<u32>,
) -> Result<RawFrame, DecodeError> {
    open::with_bytes(path, |bytes| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let opened = open::open_bytes(bytes)?;
            frame::decode(&opened, frame, target_long)
        }))
        .unwrap_or_else(|_| Err(DecodeError::Corrupt("decoding failed unexpectedly".into())))
    })
}

/// A rough cost of [`decode_file`] on `rec`, in nanoseconds of one core, from its header
/// alone (fitted to the per-file times of `../shared/dicom`). Only the order matters: work
/// is started costliest first, so that no large file is left to run alone at the end.
pub fn decode_cost(rec: &super::InstanceRecord) -> u64 {
    let spp = match rec.photometric_interpretation.as_str() {
        "RGB" | "PALETTE COLOR" => 3,
        pi if pi.starts_with("YBR") => 3,
        _ => 1,
    };
    let samples = rec.rows as u64 * rec.cols as u64 * spp;
    use dicom_dictionary_std::uids;
    let ts = rec.transfer_syntax.as_str();
    match ts {
        // JPEG 2000 and HTJ2K: decoded at reduced resolution, a large fixed part.
        uids::JPEG2000_LOSSLESS
        | uids::JPEG2000
        | uids::JPEG2000MC_LOSSLESS
        | uids::JPEG2000MC
        | uids::HTJ2K_LOSSLESS
        | uids::HTJ2K_LOSSLESS_RPCL
        | uids::HTJ2K => 8_000_000 + samples * 5 / 2,
        uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS => samples * 18,
        uids::JPEG_LOSSLESS | uids::JPEG_LOSSLESS_SV1 => samples * 11,
        _ if ts.starts_with("1.2.840.10008.1.2.4.") => samples * 5, // other JPEG
        _ => samples * 2,                                           // native, deflate, RLE
    }
}

/// Decode the representative (middle) frame of `path`.
pub fn decode_file(path: &Path) -> Result<Decoded, DecodeError> {
    let f = raw_frame(path, None, Some(MODEL_SIZE))?;
    Ok(finish(&f))
}

/// Model input, thumbnail and flags from a decoded frame.
fn finish(f: &RawFrame) -> Decoded {
    let (w, h) = (f.width as usize, f.height as usize);
    // Large frames are box-averaged to at least twice the model size while they are
    // windowed; the model input is triangle-filtered from that.
    let k = resize::box_factor(w, h, MODEL_SIZE as usize);
    let d = voi::to_display_reduced(f, k);
    let quality = quality_from_levels(&d.levels, w, h);
    let (fw, fh, fitted) = resize::fit(&d.grey, d.width, d.height, MODEL_SIZE as usize);
    let (tw, th) = resize::fit_size(w, h, THUMB_SIZE as usize);
    let thumb = match &d.rgb {
        Some(rgb) => {
            // Colour keeps its own box reduction, to at least twice the thumbnail size.
            let kt = resize::box_factor(w, h, THUMB_SIZE as usize);
            let (bw, bh, rgb) = resize::box_reduce(rgb, w, h, 3, kt);
            resize::resample(&rgb, bw, bh, 3, tw, th)
        }
        None => {
            // Grey thumbnails come from the model-size image when that is a reduction
            // (a quarter of the work or less), else from the frame itself.
            let grey = if d.width.max(d.height) > MODEL_SIZE as usize {
                resize::resample(&fitted, fw, fh, 1, tw, th)
            } else {
                resize::resample(&d.grey, d.width, d.height, 1, tw, th)
            };
            grey.into_iter().flat_map(|v| [v, v, v]).collect()
        }
    };
    let model_input = resize::pad(&fitted, fw, fh, MODEL_SIZE as usize);
    let thumbnail = image::RgbImage::from_raw(tw as u32, th as u32, thumb)
        .unwrap_or_else(|| image::RgbImage::new(tw as u32, th as u32));
    Decoded {
        model_input,
        thumbnail,
        quality,
    }
}

/// Flags for what RadiologyNET dropped, from the histogram of the windowed 8-bit frame.
fn quality_from_levels(levels: &[u64; 256], w: usize, h: usize) -> QualityFlags {
    let n: u64 = levels.iter().sum::<u64>().max(1);
    let dark: u64 = levels[..=NEAR_BLACK_LEVEL as usize].iter().sum();
    let used = levels.iter().filter(|&&c| c > 0).count();
    let (short, long) = (w.min(h), w.max(h).max(1));
    QualityFlags {
        extreme_aspect: (short as f64 / long as f64) < MIN_SIDE_RATIO,
        near_black: dark as f64 >= NEAR_BLACK_FRACTION * n as f64,
        low_diversity: used < MIN_GREY_LEVELS,
    }
}

/// Decode one full frame of `path` for viewing: `frame` (0-based), default the middle one.
pub fn decode_full(path: &Path, frame: Option<u32>) -> Result<FullFrame, DecodeError> {
    let f = raw_frame(path, frame, None)?;
    Ok(full_from_raw(&f))
}

fn full_from_raw(f: &RawFrame) -> FullFrame {
    let m = |v: f64| (v * f.slope + f.intercept) as f32;
    let (grey, rgb) = match &f.samples {
        Samples::Int { idx, offset } => {
            let (lo, hi) = idx
                .iter()
                .fold((u16::MAX, 0u16), |(a, b), &v| (a.min(v), b.max(v)));
            let mut lut = vec![0f32; 65536];
            let hi = (hi as usize).max(lo as usize);
            for (i, v) in lut.iter_mut().enumerate().take(hi + 1).skip(lo as usize) {
                *v = m(i as f64 - *offset as f64);
            }
            (Some(idx.iter().map(|&i| lut[i as usize]).collect()), None)
        }
        Samples::Float(v) => (Some(v.iter().map(|&x| m(x as f64)).collect()), None),
        Samples::Rgb(rgb) => (None, Some(rgb.clone())),
    };
    FullFrame {
        width: f.width,
        height: f.height,
        frames: f.frames,
        frame_index: f.frame_index,
        grey,
        rgb,
        default_window: voi::choose_voi(f).as_window(),
        monochrome1: f.monochrome1,
    }
}

/// RGBA bytes (`width * height * 4`) of `frame` under the linear window (centre, width) in
/// modality units; MONOCHROME1 is inverted. Colour frames ignore the window.
pub fn render_window(frame: &FullFrame, centre: f64, width: f64) -> Vec<u8> {
    let n = frame.width as usize * frame.height as usize;
    let mut out = Vec::with_capacity(n * 4);
    if let Some(grey) = &frame.grey {
        let width = width.max(1.0);
        for &v in grey.iter().take(n) {
            let mut g = round_to_u8(voi_linear(v as f64, centre, width) * 255.0);
            if frame.monochrome1 {
                g = 255 - g;
            }
            out.extend_from_slice(&[g, g, g, 255]);
        }
    } else if let Some(rgb) = &frame.rgb {
        for p in rgb.chunks_exact(3).take(n) {
            out.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
    }
    out.resize(n * 4, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(samples: Samples, w: u32, h: u32) -> RawFrame {
        RawFrame {
            width: w,
            height: h,
            frames: 1,
            frame_index: 0,
            samples,
            slope: 1.0,
            intercept: 0.0,
            window: None,
            monochrome1: false,
        }
    }

    #[test]
    fn linear_voi_matches_the_standard_formula() {
        // c = 40, w = 400 (a CT soft-tissue window): c - 0.5 -/+ (w - 1) / 2 = -160 and 239
        assert_eq!(voi_linear(-160.5, 40.0, 400.0), 0.0);
        assert_eq!(voi_linear(-1000.0, 40.0, 400.0), 0.0);
        assert_eq!(voi_linear(240.0, 40.0, 400.0), 1.0);
        // x = 39.5 is the centre - 0.5: ((0) / 399 + 0.5) = 0.5
        assert!((voi_linear(39.5, 40.0, 400.0) - 0.5).abs() < 1e-12);
        // x = 100: (100 - 39.5) / 399 + 0.5 = 0.651629...
        assert!((voi_linear(100.0, 40.0, 400.0) - (60.5 / 399.0 + 0.5)).abs() < 1e-12);
        // width 1 is a threshold at centre - 0.5
        assert_eq!(voi_linear(9.5, 10.0, 1.0), 0.0);
        assert_eq!(voi_linear(9.6, 10.0, 1.0), 1.0);
    }

    #[test]
    fn rescale_then_window_through_the_lut() {
        // stored 0, 1000, 1040, 1240, 2000; slope 1, intercept -1024 (CT)
        // -> HU -1024, -24, 16, 216, 976; window c=40 w=400
        let idx = vec![0u16, 1000, 1040, 1240, 2000];
        let mut f = frame(Samples::Int { idx, offset: 0 }, 5, 1);
        f.intercept = -1024.0;
        f.window = Some((40.0, 400.0));
        let (grey, rgb) = voi::to_display(&f);
        assert!(rgb.is_none());
        // -24: (-24 - 39.5)/399 + .5 = 0.340852 -> 86.9 -> 87; 16: 0.441103 -> 112.48 -> 112
        // 216: 0.942356 -> 240.3 -> 240
        assert_eq!(grey, vec![0, 87, 112, 240, 255]);
        // slope 2, intercept 0 on signed stored values (offset 32768)
        let idx = [-10i32, 0, 10].map(|v| (v + 32768) as u16).to_vec();
        let mut f = frame(Samples::Int { idx, offset: 32768 }, 3, 1);
        f.slope = 2.0;
        f.window = Some((0.5, 41.0)); // bounds -20 and 20: -20 -> 0, 0 -> 127.5, 20 -> 255
        let (grey, _) = voi::to_display(&f);
        assert_eq!(grey, vec![0, 128, 255]);
        let full = full_from_raw(&f);
        assert_eq!(full.grey, Some(vec![-20.0, 0.0, 20.0]));
        assert_eq!(full.default_window, (0.5, 41.0));
    }

    #[test]
    fn monochrome1_is_inverted() {
        let idx = vec![0u16, 50, 100];
        let mut f = frame(Samples::Int { idx, offset: 0 }, 3, 1);
        f.window = Some((50.5, 101.0)); // bounds 0 and 100; 50 -> (50 - 50) / 100 + .5
        let (plain, _) = voi::to_display(&f);
        assert_eq!(plain, vec![0, 128, 255]);
        f.monochrome1 = true;
        let (inverted, _) = voi::to_display(&f);
        assert_eq!(inverted, vec![255, 127, 0]);
        let full = full_from_raw(&f);
        assert!(full.monochrome1);
        let rgba = render_window(&full, 50.5, 101.0);
        assert_eq!(
            rgba,
            vec![255, 255, 255, 255, 127, 127, 127, 255, 0, 0, 0, 255]
        );
    }

    #[test]
    fn percentiles_ignore_outliers() {
        // 1000 pixels 100..=199 (ten each) and one hot pixel of 60000
        let mut idx: Vec<u16> = (0..1000).map(|i| 100 + (i % 100) as u16).collect();
        idx.push(60000);
        let f = frame(Samples::Int { idx, offset: 0 }, 1001, 1);
        let Voi::Range { lo, hi } = voi::choose_voi(&f) else {
            panic!("expected a percentile range");
        };
        // rank floor(0.005 * 1001) = 5 -> value 100; rank floor(0.995 * 1001) = 995 -> 199
        assert_eq!((lo, hi), (100.0, 199.0));
        let (grey, _) = voi::to_display(&f);
        assert_eq!(grey[0], 0);
        assert_eq!(grey[99], 255);
        assert_eq!(grey[1000], 255);
    }

    #[test]
    fn model_input_is_padded_and_flags_are_set() {
        // 30x2 frame: extreme aspect (0.067), two grey levels
        let idx: Vec<u16> = (0..60).map(|i| if i % 2 == 0 { 0 } else { 1000 }).collect();
        let f = frame(Samples::Int { idx, offset: 0 }, 30, 2);
        let d = finish(&f);
        assert_eq!(d.model_input.len(), (MODEL_SIZE * MODEL_SIZE) as usize);
        // 30x2 -> 224x15 (round(14.93)), rows 104..119 hold the image, the rest is padding
        assert!(d.model_input[..104 * 224].iter().all(|&v| v == 0));
        assert!(d.model_input[119 * 224..].iter().all(|&v| v == 0));
        assert!(d.model_input[104 * 224..119 * 224].iter().any(|&v| v > 0));
        assert_eq!(d.thumbnail.dimensions(), (128, 9));
        assert!(d.quality.extreme_aspect);
        assert!(d.quality.low_diversity);
        assert!(!d.quality.near_black);
        let black = frame(Samples::Rgb(vec![0; 64 * 64 * 3]), 64, 64);
        let q = finish(&black).quality;
        assert!(q.near_black && q.low_diversity && !q.extreme_aspect);
    }

    #[test]
    fn segmented_palette_expands() {
        // discrete [0, 10], linear to 50 over 4, indirect: repeat segment 0 once
        let words = [0, 2, 0, 10, 1, 4, 50, 2, 1, 0, 0];
        let lut = frame::expand_segmented(&words, 9).unwrap();
        assert_eq!(lut, vec![0, 10, 20, 30, 40, 50, 0, 10, 10]);
        assert!(frame::expand_segmented(&[7, 1, 0], 4).is_err());
    }

    #[test]
    fn ybr_full_to_rgb() {
        assert_eq!(
            frame::ybr_to_rgb(128.0, 128.0, 128.0, false),
            [128, 128, 128]
        );
        // pure red in YCbCr full range: Y 76.245, Cb 84.972, Cr 255.5
        assert_eq!(frame::ybr_to_rgb(76.245, 84.972, 255.5, false), [255, 0, 0]);
        assert_eq!(frame::ybr_to_rgb(16.0, 128.0, 128.0, true), [0, 0, 0]);
    }

    #[test]
    fn byte_rounding_equals_round_then_clamp() {
        let mut xs: Vec<f64> = vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            -0.5,
            -0.49,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            254.5,
            254.49999999999997,
            255.4,
            255.5,
            1e12,
        ];
        xs.extend((0..100_000).map(|i| i as f64 * 0.002_7 - 5.0));
        xs.extend((0..=512).map(|i| i as f64 * 0.5));
        for x in xs {
            assert_eq!(round_to_u8(x), x.round().clamp(0.0, 255.0) as u8, "{x}");
            let y = x as f32;
            assert_eq!(round_to_u8_f32(y), y.round().clamp(0.0, 255.0) as u8, "{y}");
        }
    }

    #[test]
    fn decode_cost_orders_by_codec_and_size() {
        let rec = |ts: &str, rows: u32, pi: &str| crate::dicom::InstanceRecord {
            transfer_syntax: ts.into(),
            rows,
            cols: rows,
            photometric_interpretation: pi.into(),
            ..Default::default()
        };
        let native = decode_cost(&rec("1.2.840.10008.1.2.1", 512, "MONOCHROME2"));
        assert_eq!(native, 512 * 512 * 2);
        assert_eq!(
            decode_cost(&rec("1.2.840.10008.1.2.1", 512, "RGB")),
            3 * native
        );
        // the same frame compressed costs more, JPEG 2000 most of all for small frames
        let jls = decode_cost(&rec("1.2.840.10008.1.2.4.80", 512, "MONOCHROME2"));
        let j2k = decode_cost(&rec("1.2.840.10008.1.2.4.90", 512, "MONOCHROME2"));
        assert!(native < jls && jls < j2k);
        assert!(decode_cost(&rec("1.2.840.10008.1.2.1", 4096, "MONOCHROME2")) > jls);
    }
}
