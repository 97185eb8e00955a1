//! 12-bit JPEG (DCT, SOF1 "extended" and friends), which the pure-Rust decoder behind
//! dicom-pixeldata refuses ("SamplePrecision(12)"), and grey lossless JPEG (process 14,
//! SOF3), faster here than jpeg-decoder: the whole decode of `JPEG-LL` went from 5.9 to
//! 3.5 ms, of `jpeg_lossless_sel1` from 5.1 to 2.1 ms (measured).
//! libjpeg-turbo 3 decodes 8-, 12- and 16-bit streams from one library; we call it through
//! turbojpeg-sys (vendored, built by cmake without SIMD, so no nasm is needed).

use std::ffi::{c_int, CStr};

use turbojpeg_sys as tj;

/// Refuse streams declaring more pixels than this (corrupt headers).
const MAX_PIXELS: c_int = 1 << 28;

/// The first start-of-frame marker of a JPEG stream: (marker, sample precision).
pub(crate) fn sof(data: &[u8]) -> Option<(u8, u8)> {
    sof_at(data).map(|i| (data[i + 1], data[i + 4]))
}

/// True for a lossless (SOF3) stream of one component.
pub(crate) fn is_grey_lossless(data: &[u8]) -> bool {
    // SOF: marker (2), length (2), precision (1), height (2), width (2), components (1)
    matches!(sof_at(data), Some(i) if data[i + 1] == 0xC3 && data.get(i + 9) == Some(&1))
}

/// Where the first start-of-frame marker is, its precision byte in bounds.
fn sof_at(data: &[u8]) -> Option<usize> {
    let mut i = 2usize; // after SOI
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return None;
    }
    while i + 4 < data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let m = data[i + 1];
        if m == 0xFF {
            i += 1;
            continue;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if (0xC0..=0xCF).contains(&m) && !matches!(m, 0xC4 | 0xC8 | 0xCC) {
            return data.get(i + 4).map(|_| i);
        }
        if m == 0xDA {
            return None;
        }
        i += 2 + len;
    }
    None
}

/// True for a DCT-based stream with more than 8 bits per sample.
pub(crate) fn needs_12bit(data: &[u8]) -> bool {
    matches!(sof(data), Some((m, p)) if p > 8 && !matches!(m, 0xC3 | 0xC7 | 0xCB | 0xCF))
}

struct Handle(tj::tjhandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed exactly once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

impl Handle {
    fn error(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated static or per-handle buffer.
        unsafe {
            let p = tj::tj3GetErrorStr(self.0);
            if p.is_null() {
                "unknown libjpeg-turbo error".into()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }
}

/// A decoded frame: width, height, samples per pixel (1 or 3, RGB), and the samples as
/// little-endian words of `bits_allocated` (8 up to 8-bit precision, else 16),
/// interleaved.
pub(crate) struct Jpeg12 {
    pub width: u32,
    pub height: u32,
    pub spp: u16,
    pub bits_allocated: u16,
    pub le: Vec<u8>,
}

/// Decode a 12-bit DCT JPEG stream. Colour streams come back as RGB.
pub(crate) fn decode(data: &[u8]) -> Result<Jpeg12, String> {
    decode_as(data, false)
}

/// Decode a grey lossless JPEG stream of any precision (2 to 16 bits).
pub(crate) fn decode_lossless(data: &[u8]) -> Result<Jpeg12, String> {
    decode_as(data, true)
}

fn decode_as(data: &[u8], lossless: bool) -> Result<Jpeg12, String> {
    // SAFETY: all calls follow the TurboJPEG 3 API contract: a valid handle, an input
    // buffer with its true length, and an output buffer sized from the parsed header.
    unsafe {
        let raw = tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as c_int);
        if raw.is_null() {
            return Err("libjpeg-turbo initialisation failed".into());
        }
        let h = Handle(raw);
        tj::tj3Set(h.0, tj::TJPARAM_TJPARAM_MAXPIXELS as c_int, MAX_PIXELS);
        tj::tj3Set(h.0, tj::TJPARAM_TJPARAM_STOPONWARNING as c_int, 0);
        if tj::tj3DecompressHeader(h.0, data.as_ptr(), data.len() as _) != 0 {
            return Err(h.error());
        }
        let w = tj::tj3Get(h.0, tj::TJPARAM_TJPARAM_JPEGWIDTH as c_int);
        let ht = tj::tj3Get(h.0, tj::TJPARAM_TJPARAM_JPEGHEIGHT as c_int);
        let precision = tj::tj3Get(h.0, tj::TJPARAM_TJPARAM_PRECISION as c_int);
        let colorspace = tj::tj3Get(h.0, tj::TJPARAM_TJPARAM_COLORSPACE as c_int);
        if w <= 0 || ht <= 0 || (w as i64 * ht as i64) > MAX_PIXELS as i64 {
            return Err(format!("bad JPEG size {w}x{ht}"));
        }
        let grey = colorspace == tj::TJCS_TJCS_GRAY as c_int;
        if lossless && (!grey || !(2..=16).contains(&precision)) {
            return Err(format!(
                "expected a grey lossless JPEG, found {precision}-bit colour space {colorspace}"
            ));
        }
        if !lossless && precision != 12 {
            return Err(format!("expected a 12-bit JPEG, found {precision}-bit"));
        }
        let (spp, fmt) = if grey {
            (1u16, tj::TJPF_TJPF_GRAY)
        } else {
            (3u16, tj::TJPF_TJPF_RGB)
        };
        let n = w as usize * ht as usize * spp as usize;
        let (ptr, len) = (data.as_ptr(), data.len() as _);
        let fmt = fmt as c_int;
        let (bits_allocated, le) = match precision {
            ..=8 => {
                let mut buf: Vec<u8> = vec![0; n];
                if tj::tj3Decompress8(h.0, ptr, len, buf.as_mut_ptr(), 0, fmt) != 0 {
                    return Err(h.error());
                }
                (8, buf)
            }
            9..=12 => {
                let mut buf: Vec<i16> = vec![0; n];
                if tj::tj3Decompress12(h.0, ptr, len, buf.as_mut_ptr(), 0, fmt) != 0 {
                    return Err(h.error());
                }
                let words = buf.iter().map(|&v| (v.max(0) as u16) & 0x0FFF);
                (16, words.flat_map(u16::to_le_bytes).collect())
            }
            _ => {
                let mut buf: Vec<u16> = vec![0; n];
                if tj::tj3Decompress16(h.0, ptr, len, buf.as_mut_ptr(), 0, fmt) != 0 {
                    return Err(h.error());
                }
                (16, buf.iter().flat_map(|v| v.to_le_bytes()).collect())
            }
        };
        Ok(Jpeg12 {
            width: w as u32,
            height: ht as u32,
            spp,
            bits_allocated,
            le,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sof1_precision() {
        // SOI, APP0 (len 4), SOF1 with precision 12
        let s = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC1, 0x00, 0x0B, 12, 0, 0,
        ];
        assert_eq!(sof(&s), Some((0xC1, 12)));
        assert!(needs_12bit(&s));
        let mut lossless = s;
        lossless[9] = 0xC3;
        assert!(!needs_12bit(&lossless));
        assert!(decode(&s).is_err());
        // SOF3 of one component (the count follows precision, height and width)
        let grey = [
            0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 16, 0, 8, 0, 8, 1, 1, 0x11, 0,
        ];
        assert!(is_grey_lossless(&grey));
        let mut colour = grey;
        colour[11] = 3;
        assert!(!is_grey_lossless(&colour) && !is_grey_lossless(&s));
        assert!(decode_lossless(&grey).is_err());
    }
}
