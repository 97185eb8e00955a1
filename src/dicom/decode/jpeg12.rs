//! 12-bit JPEG (DCT, SOF1 "extended" and friends), which the pure-Rust decoder behind
//! dicom-pixeldata refuses ("SamplePrecision(12)"). libjpeg-turbo 3 decodes 8-, 12- and
//! 16-bit streams from one library; we call it through turbojpeg-sys (vendored, built by
//! cmake without SIMD, so no nasm is needed).

use std::ffi::{c_int, CStr};

use turbojpeg_sys as tj;

/// Refuse streams declaring more pixels than this (corrupt headers).
const MAX_PIXELS: c_int = 1 << 28;

/// The first start-of-frame marker of a JPEG stream: (marker, sample precision).
pub(crate) fn sof(data: &[u8]) -> Option<(u8, u8)> {
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
            return data.get(i + 4).map(|&p| (m, p));
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

/// A decoded 12-bit frame: width, height, samples per pixel (1 or 3, RGB), samples.
pub(crate) struct Jpeg12 {
    pub width: u32,
    pub height: u32,
    pub spp: u16,
    pub samples: Vec<u16>,
}

/// Decode a 12-bit DCT JPEG stream. Colour streams come back as RGB.
pub(crate) fn decode(data: &[u8]) -> Result<Jpeg12, String> {
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
        if precision != 12 {
            return Err(format!("expected a 12-bit JPEG, found {precision}-bit"));
        }
        let grey = colorspace == tj::TJCS_TJCS_GRAY as c_int;
        let (spp, fmt) = if grey {
            (1u16, tj::TJPF_TJPF_GRAY)
        } else {
            (3u16, tj::TJPF_TJPF_RGB)
        };
        let n = w as usize * ht as usize * spp as usize;
        let mut buf: Vec<i16> = vec![0; n];
        if tj::tj3Decompress12(
            h.0,
            data.as_ptr(),
            data.len() as _,
            buf.as_mut_ptr(),
            0,
            fmt as c_int,
        ) != 0
        {
            return Err(h.error());
        }
        Ok(Jpeg12 {
            width: w as u32,
            height: ht as u32,
            spp,
            samples: buf
                .into_iter()
                .map(|v| (v.max(0) as u16) & 0x0FFF)
                .collect(),
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
    }
}
