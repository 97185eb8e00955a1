//! One frame out of a DICOM object, as stored values (grey) or 8-bit RGB (colour).
//!
//! Native (uncompressed, deflated, big endian, encapsulated uncompressed) and RLE data are
//! unpacked here directly, which covers BitsAllocated 1/8/16/32 and YBR_FULL_422. JPEG
//! streams above 8 bits per sample go to libjpeg-turbo; every other encapsulated syntax
//! (JPEG 8-bit and lossless, JPEG-LS, JPEG 2000) goes to dicom-pixeldata, behind
//! `catch_unwind`.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;

use super::open::Opened;
use super::{j2k, jpeg12, rle, round_to_u8_f32, DecodeError};
use crate::dicom::layout::PixelData;

/// Frames with more pixels than this are refused (a corrupt Rows/Columns pair).
const MAX_PIXELS: usize = 1 << 28;

/// Grey stored values, or colour already converted to 8-bit RGB.
pub(crate) enum Samples {
    /// Stored values `idx - offset`, for BitsAllocated <= 16 (LUT friendly).
    Int { idx: Vec<u16>, offset: i32 },
    /// Stored values for BitsAllocated 32 (or float pixel data).
    Float(Vec<f32>),
    /// Interleaved 8-bit RGB.
    Rgb(Vec<u8>),
}

/// One decoded frame with what is needed to display it.
pub(crate) struct RawFrame {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub frame_index: u32,
    pub samples: Samples,
    pub slope: f64,
    pub intercept: f64,
    /// First (centre, width) of the VOI window, if any.
    pub window: Option<(f64, f64)>,
    pub monochrome1: bool,
}

/// Imaging attributes read from the data set.
#[derive(Clone, Debug)]
struct Props {
    rows: u32,
    cols: u32,
    frames: u32,
    spp: u16,
    bits_allocated: u16,
    bits_stored: u16,
    high_bit: u16,
    signed: bool,
    planar: u16,
    pi: String,
}

fn int(obj: &DefaultDicomObject, tag: Tag) -> Option<i64> {
    obj.get(tag)?.value().to_int::<i64>().ok()
}

/// An optional integer attribute: absent or empty is `None`, present but malformed is an
/// error (a bad Number of Frames would otherwise silently pick the wrong frame).
fn opt_int(obj: &DefaultDicomObject, tag: Tag, name: &str) -> Result<Option<i64>, DecodeError> {
    let Some(e) = obj.get(tag) else {
        return Ok(None);
    };
    if e.value()
        .to_str()
        .map(|s| s.trim().is_empty())
        .unwrap_or(false)
    {
        return Ok(None);
    }
    e.value()
        .to_int::<i64>()
        .map(Some)
        .map_err(|_| DecodeError::Corrupt(format!("malformed {name}")))
}

fn first_float(v: &dicom_object::mem::InMemElement) -> Option<f64> {
    v.value()
        .to_multi_float64()
        .ok()?
        .into_iter()
        .find(|x| x.is_finite())
}

/// The first value of `leaf` at the top level, else inside the frame's per-frame
/// functional group, else inside the shared functional groups.
fn functional_float(obj: &DefaultDicomObject, group: Tag, leaf: Tag, frame: u32) -> Option<f64> {
    if let Some(v) = obj.get(leaf).and_then(first_float) {
        return Some(v);
    }
    let nested = |seq: Tag, index: usize| -> Option<f64> {
        let item = obj.get(seq)?.value().items()?.get(index)?;
        let inner = item.get(group)?.value().items()?.first()?;
        inner.get(leaf).and_then(first_float)
    };
    nested(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frame as usize)
        .or_else(|| nested(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0))
}

fn props(obj: &DefaultDicomObject) -> Result<Props, DecodeError> {
    let need = |tag: Tag, name: &str| {
        int(obj, tag).ok_or_else(|| DecodeError::Corrupt(format!("missing or bad {name}")))
    };
    let rows = need(tags::ROWS, "Rows")?;
    let cols = need(tags::COLUMNS, "Columns")?;
    let bits_allocated = need(tags::BITS_ALLOCATED, "Bits Allocated")?;
    let spp = opt_int(obj, tags::SAMPLES_PER_PIXEL, "Samples per Pixel")?.unwrap_or(1);
    let bits_stored = opt_int(obj, tags::BITS_STORED, "Bits Stored")?.unwrap_or(bits_allocated);
    let high_bit = opt_int(obj, tags::HIGH_BIT, "High Bit")?.unwrap_or(bits_stored - 1);
    let frames = opt_int(obj, tags::NUMBER_OF_FRAMES, "Number of Frames")?
        .unwrap_or(1)
        .max(1);
    if rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535 {
        return Err(DecodeError::Corrupt(format!(
            "bad image size {cols}x{rows}"
        )));
    }
    if (rows * cols) as usize > MAX_PIXELS {
        return Err(DecodeError::Unsupported(format!(
            "frame of {cols}x{rows} pixels is too large"
        )));
    }
    if !matches!(bits_allocated, 1 | 8 | 16 | 32) {
        return Err(DecodeError::Unsupported(format!(
            "Bits Allocated {bits_allocated}"
        )));
    }
    if !(1..=bits_allocated).contains(&bits_stored) || high_bit >= bits_allocated {
        return Err(DecodeError::Corrupt(format!(
            "Bits Stored {bits_stored} / High Bit {high_bit} do not fit Bits Allocated {bits_allocated}"
        )));
    }
    if !matches!(spp, 1 | 3) {
        return Err(DecodeError::Unsupported(format!("Samples per Pixel {spp}")));
    }
    if frames > 1 << 20 {
        return Err(DecodeError::Corrupt(format!("Number of Frames {frames}")));
    }
    let pi = obj
        .get(tags::PHOTOMETRIC_INTERPRETATION)
        .and_then(|e| e.value().to_str().ok().map(|s| s.trim().to_uppercase()))
        .unwrap_or_else(|| {
            if spp == 3 {
                "RGB".into()
            } else {
                "MONOCHROME2".into()
            }
        });
    Ok(Props {
        rows: rows as u32,
        cols: cols as u32,
        frames: frames as u32,
        spp: spp as u16,
        bits_allocated: bits_allocated as u16,
        bits_stored: bits_stored as u16,
        high_bit: high_bit as u16,
        signed: int(obj, tags::PIXEL_REPRESENTATION) == Some(1),
        planar: int(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) as u16,
        pi,
    })
}

fn is_ybr_422(pi: &str) -> bool {
    matches!(pi, "YBR_FULL_422" | "YBR_PARTIAL_422")
}

/// Bytes of one native frame (for BitsAllocated 1: bits, rounded up).
fn native_frame_bits(p: &Props) -> usize {
    let px = p.rows as usize * p.cols as usize;
    if p.spp == 3 && is_ybr_422(&p.pi) && p.bits_allocated == 8 {
        px * 2 * 8
    } else {
        px * p.spp as usize * p.bits_allocated as usize
    }
}

/// The Pixel Data value, wherever it was read.
enum Pixels<'a> {
    /// Native samples, in little-endian sample order.
    Native(Cow<'a, [u8]>),
    Fragments {
        offsets: &'a [u32],
        fragments: Vec<&'a [u8]>,
    },
}

/// Decode frame `frame` (default: the middle one) of an opened object. With
/// `target_long`, JPEG 2000 frames may be decoded at a reduced resolution whose long side
/// is still at least that many pixels (the returned size is then the reduced one).
pub(crate) fn decode(
    opened: &Opened<'_>,
    frame: Option<u32>,
    target_long: Option<u32>,
) -> Result<RawFrame, DecodeError> {
    let obj = &opened.obj;
    let mut p = props(obj)?;
    let index = frame.unwrap_or(p.frames / 2);
    if index >= p.frames {
        return Err(DecodeError::Unsupported(format!(
            "frame {index} requested, the file has {}",
            p.frames
        )));
    }
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let big_endian = ts == super::open::EXPLICIT_VR_BIG_ENDIAN;
    let pixels = match &opened.pixel {
        // Read in place: only little-endian data sets are.
        Some(PixelData::Native(bytes)) => Pixels::Native(Cow::Borrowed(bytes)),
        Some(PixelData::Encapsulated { offsets, fragments }) => Pixels::Fragments {
            offsets: &offsets[..],
            fragments: fragments.clone(),
        },
        None => {
            let pixel = obj
                .get(tags::PIXEL_DATA)
                .ok_or_else(|| DecodeError::Unsupported("no Pixel Data".into()))?;
            match pixel.value() {
                Value::Primitive(prim) => {
                    Pixels::Native(native_bytes(prim, big_endian, p.bits_allocated))
                }
                Value::PixelSequence(seq) => Pixels::Fragments {
                    offsets: seq.offset_table(),
                    fragments: seq.fragments().iter().map(|f| &f[..]).collect(),
                },
                Value::Sequence(_) => {
                    return Err(DecodeError::Corrupt("Pixel Data is a sequence".into()));
                }
            }
        }
    };

    let samples = match pixels {
        Pixels::Native(bytes) => {
            let bits = native_frame_bits(&p);
            if p.bits_allocated == 1 {
                let need = (index as usize + 1) * bits;
                if bytes.len() * 8 < need {
                    return Err(short(bytes.len(), need.div_ceil(8), index));
                }
                let start = index as usize * bits;
                let idx: Vec<u16> = (start..start + bits)
                    .map(|b| ((bytes[b / 8] >> (b % 8)) & 1) as u16)
                    .collect();
                grey_or_palette(obj, &p, Samples::Int { idx, offset: 0 })?
            } else {
                let size = bits / 8;
                let start = index as usize * size;
                let data = bytes
                    .get(start..start + size)
                    .ok_or_else(|| short(bytes.len(), start + size, index))?;
                from_le(obj, &p, data)?
            }
        }
        Pixels::Fragments { offsets, fragments } => encapsulated(
            obj,
            &mut p,
            &ts,
            (offsets, &fragments),
            index,
            target_long,
            opened.pixel.is_some(),
        )?,
    };

    let slope = functional_float(
        obj,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        tags::RESCALE_SLOPE,
        index,
    )
    .filter(|s| *s != 0.0)
    .unwrap_or(1.0);
    let intercept = functional_float(
        obj,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        tags::RESCALE_INTERCEPT,
        index,
    )
    .unwrap_or(0.0);
    let centre = functional_float(obj, tags::FRAME_VOILUT_SEQUENCE, tags::WINDOW_CENTER, index);
    let width = functional_float(obj, tags::FRAME_VOILUT_SEQUENCE, tags::WINDOW_WIDTH, index);
    Ok(RawFrame {
        width: p.cols,
        height: p.rows,
        frames: p.frames,
        frame_index: index,
        samples,
        slope,
        intercept,
        window: centre.zip(width).filter(|(_, w)| *w >= 1.0),
        monochrome1: p.pi == "MONOCHROME1",
    })
}

/// Samples of frame `index` out of encapsulated `(offsets, fragments)`. `in_place`: the
/// fragments were read from the file's bytes, so `obj` holds no Pixel Data for
/// dicom-pixeldata. May change `p` (the size of a reduced JPEG 2000 decode, planar
/// configuration).
fn encapsulated(
    obj: &DefaultDicomObject,
    p: &mut Props,
    ts: &str,
    (offsets, fragments): (&[u32], &[&[u8]]),
    index: u32,
    target_long: Option<u32>,
    in_place: bool,
) -> Result<Samples, DecodeError> {
    let px = p.rows as usize * p.cols as usize;
    if ts == uids::RLE_LOSSLESS {
        let data = frame_fragments(fragments, offsets, p.frames, index)?;
        let bps = (p.bits_allocated / 8).max(1) as usize;
        let out =
            rle::decode_frame(&data, px, p.spp as usize, bps).map_err(DecodeError::Corrupt)?;
        p.planar = 0;
        return from_le(obj, p, &out);
    }
    if ts == uids::ENCAPSULATED_UNCOMPRESSED_EXPLICIT_VR_LITTLE_ENDIAN {
        let data = frame_fragments(fragments, offsets, p.frames, index)?;
        let size = native_frame_bits(p) / 8;
        let d = data
            .get(..size)
            .ok_or_else(|| short(data.len(), size, index))?;
        return from_le(obj, p, d);
    }
    let data = frame_fragments(fragments, offsets, p.frames, index).ok();
    // A JPEG 2000 size other than the header's is refused before either decoder sees it.
    if let Some(d) = data.as_deref().filter(|_| is_j2k(ts)) {
        if let Some((w, h)) = j2k::codestream_size(d).filter(|&s| s != (p.cols, p.rows)) {
            return Err(DecodeError::Corrupt(format!(
                "JPEG 2000 codestream is {w}x{h}, header says {}x{}",
                p.cols, p.rows
            )));
        }
    }
    // For the small outputs, JPEG 2000 is decoded by the jpeg2k module, at a reduced
    // resolution where the codestream allows; the viewer (no `target_long`) takes
    // dicom-pixeldata's full-resolution path. A jpeg2k failure falls back to
    // dicom-pixeldata too; if that fails as well, OpenJPEG's own message is reported.
    let mut j2k_error = None;
    if let (Some(d), Some(t)) = (&data, target_long) {
        if is_j2k(ts) && p.bits_allocated <= 16 {
            let reduce = j2k::reduction_for(p.rows.max(p.cols), t);
            match guarded(|| j2k::decode(d, reduce))? {
                Ok(j) => {
                    p.cols = j.width;
                    p.rows = j.height;
                    return from_j2k(obj, p, j);
                }
                Err(e) => j2k_error = Some(e),
            }
        }
    }
    let j2k_error = |e: DecodeError| match &j2k_error {
        Some(m) => DecodeError::Corrupt(format!("JPEG 2000: {m}")),
        None => e,
    };
    if let Some(d) = data.as_deref() {
        if matches!(ts, uids::JPEG_LOSSLESS | uids::JPEG_LOSSLESS_SV1) {
            if let Some(s) = grey_lossless(obj, p, d) {
                return s;
            }
        }
    }
    match data {
        Some(d) if is_jpeg_dct(ts) && jpeg12::needs_12bit(&d) => {
            let j = guarded(|| jpeg12::decode(&d))?
                .map_err(|e| DecodeError::Corrupt(format!("12-bit JPEG: {e}")))?;
            if j.width != p.cols || j.height != p.rows {
                return Err(DecodeError::Corrupt(format!(
                    "JPEG is {}x{}, header says {}x{}",
                    j.width, j.height, p.cols, p.rows
                )));
            }
            let mut q = p.clone();
            q.spp = j.spp;
            q.bits_allocated = 16;
            q.bits_stored = q.bits_stored.min(12);
            q.high_bit = q.bits_stored - 1;
            q.signed = false;
            q.planar = 0;
            if j.spp == 3 {
                q.pi = "RGB".into();
            }
            from_le(obj, &q, &j.le)
        }
        // dicom-pixeldata decodes from an object: give it a copy that holds this one
        // frame (a multi-frame file's other frames are neither copied nor decoded).
        Some(d) => via_pixeldata(
            &with_fragments(obj, vec![], vec![d.into_owned()], true),
            p,
            0,
        )
        .map_err(j2k_error),
        // The frame could not be found among the fragments: let dicom-pixeldata look.
        None if in_place => {
            let all = fragments.iter().map(|f| f.to_vec()).collect();
            via_pixeldata(&with_fragments(obj, offsets.to_vec(), all, false), p, index)
        }
        None => via_pixeldata(obj, p, index),
    }
}

/// A grey lossless JPEG frame through libjpeg-turbo, its samples as dicom-pixeldata would
/// give them (right-aligned in words of Bits Allocated, Bits Stored at most that). `None`
/// where libjpeg-turbo declines, or reads the stream differently from the header: the
/// caller then takes jpeg-decoder, as for every other JPEG.
fn grey_lossless(
    obj: &DefaultDicomObject,
    p: &Props,
    data: &[u8],
) -> Option<Result<Samples, DecodeError>> {
    if !jpeg12::is_grey_lossless(data) {
        return None;
    }
    let j = guarded(|| jpeg12::decode_lossless(data)).ok()?.ok()?;
    if (j.width, j.height, j.bits_allocated) != (p.cols, p.rows, p.bits_allocated) {
        return None;
    }
    let mut q = p.clone();
    q.spp = 1;
    q.planar = 0;
    q.bits_stored = p.bits_stored.min(q.bits_allocated);
    q.high_bit = q.bits_stored - 1;
    Some(from_le(obj, &q, &j.le))
}

/// A copy of `obj` with these encapsulated fragments as its Pixel Data (and, with
/// `one_frame`, Number of Frames 1).
fn with_fragments(
    obj: &DefaultDicomObject,
    offsets: Vec<u32>,
    fragments: Vec<Vec<u8>>,
    one_frame: bool,
) -> DefaultDicomObject {
    let mut copy = obj.clone();
    if one_frame {
        copy.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("1"),
        ));
    }
    copy.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::from(PixelFragmentSequence::new(offsets, fragments)),
    ));
    copy
}

fn is_j2k(ts: &str) -> bool {
    matches!(ts, uids::JPEG2000_LOSSLESS | uids::JPEG2000)
}

/// Samples of a reduced-resolution JPEG 2000 frame.
fn from_j2k(obj: &DefaultDicomObject, p: &Props, j: j2k::J2kFrame) -> Result<Samples, DecodeError> {
    if j.spp == 3 {
        // The decoder applies the inverse component transform (YBR_ICT/RCT): RGB.
        let max = ((1u64 << p.bits_stored.min(16)) - 1) as f32;
        let rgb = if p.bits_stored == 8 {
            // v * 255 / 255 is v exactly: the same bytes as the scaling below.
            j.samples.iter().map(|&v| v.clamp(0, 255) as u8).collect()
        } else {
            j.samples
                .iter()
                .map(|&v| round_to_u8_f32(v.max(0) as f32 * 255.0 / max))
                .collect()
        };
        return Ok(Samples::Rgb(rgb));
    }
    let s = if p.signed {
        Samples::Int {
            idx: j
                .samples
                .iter()
                .map(|&v| (v.clamp(-32768, 32767) + 32768) as u16)
                .collect(),
            offset: 32768,
        }
    } else {
        Samples::Int {
            idx: j
                .samples
                .iter()
                .map(|&v| v.clamp(0, 65535) as u16)
                .collect(),
            offset: 0,
        }
    };
    grey_or_palette(obj, p, s)
}

fn short(have: usize, need: usize, index: u32) -> DecodeError {
    DecodeError::Corrupt(format!(
        "pixel data has {have} bytes, frame {index} needs {need}"
    ))
}

fn is_jpeg_dct(ts: &str) -> bool {
    matches!(
        ts,
        uids::JPEG_BASELINE8_BIT
            | uids::JPEG_EXTENDED12_BIT
            | "1.2.840.10008.1.2.4.53"
            | "1.2.840.10008.1.2.4.55"
    )
}

/// Run a third-party decoder, turning a panic into an error.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, DecodeError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| DecodeError::Corrupt("the image decoder failed on this data".into()))
}

/// Native pixel bytes in little-endian sample order. Big endian OW words were already
/// swapped by the parser; 32-bit samples then still have their two words swapped.
fn native_bytes(prim: &PrimitiveValue, big_endian: bool, bits_allocated: u16) -> Cow<'_, [u8]> {
    let bytes = prim.to_bytes();
    if !big_endian {
        return bytes;
    }
    match (prim, bits_allocated) {
        (PrimitiveValue::U16(_), 32) => {
            let mut v = bytes.into_owned();
            for c in v.chunks_exact_mut(4) {
                c.swap(0, 2);
                c.swap(1, 3);
            }
            Cow::Owned(v)
        }
        (PrimitiveValue::U8(_), 16) => {
            let mut v = bytes.into_owned();
            v.chunks_exact_mut(2).for_each(|c| c.swap(0, 1));
            Cow::Owned(v)
        }
        (PrimitiveValue::U8(_), 32) => {
            let mut v = bytes.into_owned();
            v.chunks_exact_mut(4).for_each(|c| c.reverse());
            Cow::Owned(v)
        }
        _ => bytes,
    }
}

/// The bytes of frame `index` out of encapsulated fragments.
fn frame_fragments<'a>(
    fragments: &[&'a [u8]],
    offsets: &[u32],
    frames: u32,
    index: u32,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    if fragments.is_empty() {
        return Err(DecodeError::Corrupt(
            "encapsulated Pixel Data has no fragments".into(),
        ));
    }
    if frames == 1 {
        return Ok(if fragments.len() == 1 {
            Cow::Borrowed(fragments[0])
        } else {
            Cow::Owned(fragments.concat())
        });
    }
    if fragments.len() == frames as usize {
        return Ok(Cow::Borrowed(fragments[index as usize]));
    }
    if offsets.len() == frames as usize {
        let lo = offsets[index as usize] as usize;
        let hi = offsets
            .get(index as usize + 1)
            .map(|&o| o as usize)
            .unwrap_or(usize::MAX);
        let mut pos = 0usize;
        let mut out = Vec::new();
        for f in fragments {
            if pos >= lo && pos < hi {
                out.extend_from_slice(f);
            }
            pos += 8 + f.len();
        }
        if !out.is_empty() {
            return Ok(Cow::Owned(out));
        }
    }
    Err(DecodeError::Corrupt(format!(
        "cannot find frame {index} among {} fragments",
        fragments.len()
    )))
}

/// Decoded by dicom-pixeldata (JPEG 8-bit/lossless, JPEG-LS, JPEG 2000).
fn via_pixeldata(obj: &DefaultDicomObject, p: &Props, index: u32) -> Result<Samples, DecodeError> {
    let decoded = guarded(|| obj.decode_pixel_data_frame(index))?
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let mut q = p.clone();
    q.spp = decoded.samples_per_pixel();
    q.bits_allocated = decoded.bits_allocated();
    q.planar = 0;
    q.pi = decoded
        .photometric_interpretation()
        .as_str()
        .trim()
        .to_uppercase();
    if !matches!(q.bits_allocated, 8 | 16 | 32) {
        return Err(DecodeError::Unsupported(format!(
            "decoder returned {}-bit samples",
            q.bits_allocated
        )));
    }
    // Decoders return right-aligned samples.
    q.bits_stored = p.bits_stored.min(q.bits_allocated);
    q.high_bit = q.bits_stored - 1;
    let size = p.rows as usize * p.cols as usize * q.spp as usize * (q.bits_allocated as usize / 8);
    let data = decoded.data();
    let d = data
        .get(..size)
        .ok_or_else(|| short(data.len(), size, index))?;
    from_le(obj, &q, d)
}

/// Unpack little-endian interleaved (or planar) samples into [`Samples`].
fn from_le(obj: &DefaultDicomObject, p: &Props, data: &[u8]) -> Result<Samples, DecodeError> {
    let px = p.rows as usize * p.cols as usize;
    if p.spp == 3 {
        return colour(p, data, px).map(Samples::Rgb);
    }
    let bps = p.bits_allocated as usize / 8;
    if data.len() < px * bps {
        return Err(short(data.len(), px * bps, 0));
    }
    let stored = p.bits_stored as u32;
    let shift = (p.high_bit as u32 + 1).saturating_sub(stored);
    let samples = match bps {
        1 | 2 => {
            let mask: u32 = if stored >= 32 {
                u32::MAX
            } else {
                (1 << stored) - 1
            };
            if p.signed {
                // Sign-extend the stored bits without a branch (the loop vectorises).
                let up = 32 - stored;
                let idx = unpack(data, px, bps, |v| {
                    let s = (((v >> shift) & mask) << up) as i32 >> up;
                    (s + 32768) as u16
                });
                Samples::Int { idx, offset: 32768 }
            } else {
                let idx = unpack(data, px, bps, |v| ((v >> shift) & mask) as u16);
                Samples::Int { idx, offset: 0 }
            }
        }
        4 => {
            let vals = data[..px * 4].chunks_exact(4).map(|c| {
                let u = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) >> shift;
                let (u, bits) = if stored < 32 {
                    (u & ((1 << stored) - 1), stored)
                } else {
                    (u, 32)
                };
                if p.signed {
                    if bits < 32 && u & (1 << (bits - 1)) != 0 {
                        (u as i64 - (1i64 << bits)) as f32
                    } else {
                        u as i32 as f32
                    }
                } else {
                    u as f32
                }
            });
            Samples::Float(vals.collect())
        }
        _ => {
            return Err(DecodeError::Unsupported(format!(
                "Bits Allocated {}",
                p.bits_allocated
            )))
        }
    };
    grey_or_palette(obj, p, samples)
}

/// `px` samples of `bps` (1 or 2) little-endian bytes each, through `f`.
fn unpack(data: &[u8], px: usize, bps: usize, f: impl Fn(u32) -> u16) -> Vec<u16> {
    if bps == 1 {
        return data[..px].iter().map(|&b| f(b as u32)).collect();
    }
    // One copy of the bytes, then one pass over whole u16 words: both vectorise (a
    // per-sample `from_le_bytes` over byte pairs did not).
    let mut out = vec![0u16; px];
    bytemuck::cast_slice_mut::<u16, u8>(&mut out).copy_from_slice(&data[..px * 2]);
    for v in &mut out {
        *v = f(u16::from_le(*v) as u32);
    }
    out
}

/// PALETTE COLOR turns stored indices into RGB through the palette LUTs.
fn grey_or_palette(
    obj: &DefaultDicomObject,
    p: &Props,
    s: Samples,
) -> Result<Samples, DecodeError> {
    if p.pi != "PALETTE COLOR" {
        return Ok(s);
    }
    let Samples::Int { idx, offset } = s else {
        return Err(DecodeError::Unsupported("32-bit palette indices".into()));
    };
    let luts = [
        (
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
        (
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
        (
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
    ]
    .map(|(d, t)| palette_lut(obj, d, t));
    let [r, g, b] = luts;
    let (r, g, b) = (r?, g?, b?);
    // One table of RGB triples over the stored indices in use, then one lookup per pixel.
    let (lo, hi) = idx
        .iter()
        .fold((u16::MAX, 0u16), |(a, b), &v| (a.min(v), b.max(v)));
    let (lo, hi) = (lo.min(hi) as usize, hi as usize);
    let mut table = vec![[0u8; 3]; 65536];
    for (i, rgb) in table.iter_mut().enumerate().take(hi + 1).skip(lo) {
        let v = i as i32 - offset;
        for (c, lut) in [&r, &g, &b].into_iter().enumerate() {
            let k = (v - lut.first).clamp(0, lut.values.len() as i32 - 1) as usize;
            rgb[c] = lut.values[k];
        }
    }
    let mut out = vec![0u8; idx.len() * 3];
    for (o, &i) in out.chunks_exact_mut(3).zip(&idx) {
        o.copy_from_slice(&table[i as usize]);
    }
    Ok(Samples::Rgb(out))
}

struct PaletteLut {
    first: i32,
    values: Vec<u8>,
}

fn palette_lut(obj: &DefaultDicomObject, desc: Tag, data: Tag) -> Result<PaletteLut, DecodeError> {
    let bad = |what: &str| DecodeError::Unsupported(format!("PALETTE COLOR: {what}"));
    let d: Vec<i64> = obj
        .get(desc)
        .and_then(|e| e.value().to_multi_int::<i64>().ok())
        .ok_or_else(|| bad("missing LUT descriptor"))?;
    if d.len() < 3 {
        return Err(bad("short LUT descriptor"));
    }
    let entries = if d[0] <= 0 { 65536 } else { d[0] as usize };
    // The first mapped value is US or SS depending on the pixel representation.
    let first = if d[1] > 32767
        && obj
            .get(tags::PIXEL_REPRESENTATION)
            .and_then(|e| e.value().to_int::<i64>().ok())
            == Some(1)
    {
        (d[1] - 65536) as i32
    } else {
        d[1] as i32
    };
    let bits = d[2];
    let raw = match obj.get(data) {
        Some(e) => e.value().to_bytes().map(|b| b.into_owned()).ok(),
        None => None,
    };
    let raw = match raw {
        Some(r) => r,
        None => {
            let seg_tag = Tag(data.group(), data.element() + 0x20); // (0028,122x)
            let seg = obj
                .get(seg_tag)
                .and_then(|e| e.value().to_bytes().ok().map(|b| b.into_owned()))
                .ok_or_else(|| bad("missing LUT data"))?;
            let words: Vec<u16> = seg
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            expand_segmented(&words, entries)
                .map_err(|e| bad(&e))?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        }
    };
    let values: Vec<u8> = if raw.len() >= entries * 2 {
        raw.chunks_exact(2)
            .take(entries)
            .map(|c| {
                let v = u16::from_le_bytes([c[0], c[1]]);
                if bits <= 8 {
                    v.min(255) as u8
                } else {
                    (v >> 8) as u8
                }
            })
            .collect()
    } else if raw.len() >= entries {
        raw[..entries].to_vec()
    } else {
        return Err(bad("LUT data shorter than its descriptor"));
    };
    Ok(PaletteLut { first, values })
}

/// Expand a segmented palette LUT (PS3.3 C.7.9.2): discrete, linear and indirect
/// segments, into `entries` values.
pub(crate) fn expand_segmented(words: &[u16], entries: usize) -> Result<Vec<u16>, String> {
    let mut out: Vec<u16> = Vec::with_capacity(entries);
    // Word ranges of the top-level segments, for indirect references.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut steps = 0usize;
    expand_range(
        words,
        (0, words.len()),
        &mut out,
        &mut segments,
        true,
        &mut steps,
    )?;
    let last = out.last().copied().unwrap_or(0);
    out.resize(entries, last);
    Ok(out)
}

fn expand_range(
    words: &[u16],
    range: (usize, usize),
    out: &mut Vec<u16>,
    segments: &mut Vec<(usize, usize)>,
    top: bool,
    steps: &mut usize,
) -> Result<(), String> {
    let word = |i: usize| words.get(i).copied().ok_or("truncated segment");
    let mut i = range.0;
    while i < range.1 {
        *steps += 1;
        if *steps > 1 << 16 || out.len() > 1 << 17 {
            return Err("segmented LUT too long".into());
        }
        let start = i;
        let n = word(i + 1)? as usize;
        match word(i)? {
            0 => {
                let vals = words
                    .get(i + 2..i + 2 + n)
                    .ok_or("truncated discrete segment")?;
                out.extend_from_slice(vals);
                i += 2 + n;
            }
            1 => {
                let y1 = word(i + 2)? as f64;
                let y0 = *out.last().ok_or("linear segment with no previous value")? as f64;
                out.extend((1..=n).map(|k| (y0 + (y1 - y0) * k as f64 / n as f64).round() as u16));
                i += 3;
            }
            2 if top => {
                let offset = word(i + 2)? as usize | ((word(i + 3)? as usize) << 16);
                let first = segments
                    .iter()
                    .position(|s| s.0 == offset)
                    .ok_or("bad indirect segment offset")?;
                let picked: Vec<(usize, usize)> =
                    segments.iter().skip(first).take(n).copied().collect();
                for r in picked {
                    expand_range(words, r, out, segments, false, steps)?;
                }
                i += 4;
            }
            op => return Err(format!("unsupported segment opcode {op}")),
        }
        if top {
            segments.push((start, i));
        }
    }
    Ok(())
}

/// Three-sample frames to interleaved 8-bit RGB.
fn colour(p: &Props, data: &[u8], px: usize) -> Result<Vec<u8>, DecodeError> {
    if is_ybr_422(&p.pi) && p.bits_allocated == 8 {
        // Native 4:2:2: Y1 Y2 Cb Cr for every pair of pixels in a row.
        if data.len() < px * 2 || p.cols % 2 != 0 {
            return Err(short(data.len(), px * 2, 0));
        }
        let partial = p.pi == "YBR_PARTIAL_422";
        let mut out = Vec::with_capacity(px * 3);
        for q in data[..px * 2].chunks_exact(4) {
            for y in [q[0], q[1]] {
                out.extend_from_slice(&ybr_to_rgb(y as f32, q[2] as f32, q[3] as f32, partial));
            }
        }
        return Ok(out);
    }
    let bps = p.bits_allocated as usize / 8;
    if bps == 0 || data.len() < px * 3 * bps {
        return Err(short(data.len(), px * 3 * bps, 0));
    }
    let max = if p.bits_stored >= 32 {
        u32::MAX as f32
    } else {
        ((1u64 << p.bits_stored) - 1) as f32
    };
    let read = |i: usize| -> u32 {
        let c = &data[i * bps..(i + 1) * bps];
        match bps {
            1 => c[0] as u32,
            2 => u16::from_le_bytes([c[0], c[1]]) as u32,
            _ => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
        }
    };
    let sample = |pix: usize, s: usize| -> u32 {
        if p.planar == 1 {
            read(s * px + pix)
        } else {
            read(pix * 3 + s)
        }
    };
    let kind = match p.pi.as_str() {
        "YBR_FULL" | "YBR_FULL_422" => Some(false),
        "YBR_PARTIAL_420" | "YBR_PARTIAL_422" => Some(true),
        _ => None, // RGB, and YBR_RCT/ICT which the JPEG 2000 decoder already turned to RGB
    };
    let mut out = Vec::with_capacity(px * 3);
    if bps == 1 && p.planar == 0 && kind.is_none() {
        out.extend_from_slice(&data[..px * 3]);
        return Ok(out);
    }
    let scale = 255.0 / max;
    for pix in 0..px {
        let [a, b, c] = [0, 1, 2].map(|s| (sample(pix, s) as f32 * scale).min(255.0));
        match kind {
            Some(partial) => out.extend_from_slice(&ybr_to_rgb(a, b, c, partial)),
            None => out.extend_from_slice(&[a, b, c].map(round_to_u8_f32)),
        }
    }
    Ok(out)
}

/// YCbCr (PS3.3 C.7.6.3.1.2) to RGB. `partial`: Y in 16..235, chroma in 16..240.
pub(crate) fn ybr_to_rgb(y: f32, cb: f32, cr: f32, partial: bool) -> [u8; 3] {
    let (y, cb, cr) = if partial {
        (
            (y - 16.0) * 255.0 / 219.0,
            (cb - 128.0) * 255.0 / 224.0,
            (cr - 128.0) * 255.0 / 224.0,
        )
    } else {
        (y, cb - 128.0, cr - 128.0)
    };
    let r = y + 1.402 * cr;
    let g = y - 0.344_136 * cb - 0.714_136 * cr;
    let b = y + 1.772 * cb;
    [r, g, b].map(round_to_u8_f32)
}
