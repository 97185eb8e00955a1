//! JPEG 2000 frames decoded at a reduced resolution when only a small image is needed:
//! the wavelet's coarser levels already hold the image at 1/2, 1/4, 1/8... of its size, so
//! the finer levels are never entropy-decoded. Used for the 224 px model input only; the
//! viewer decodes full resolution through dicom-pixeldata.

use jpeg2k::{DecodeParameters, Image};

/// A decoded frame: width, height, samples per pixel, interleaved samples.
pub(crate) struct J2kFrame {
    pub width: u32,
    pub height: u32,
    pub spp: u16,
    pub samples: Vec<i32>,
}

/// The image size a raw codestream declares in its SIZ marker (right after SOC), or
/// `None` for anything else (a JP2 file, say). A corrupt size can ask the decoder for
/// gigabytes: 1.8 G pixels, 16 s of page zeroing, from one damaged byte in a test file.
pub(crate) fn codestream_size(data: &[u8]) -> Option<(u32, u32)> {
    if data.len() < 4 + 2 + 2 + 16 || data[..4] != [0xFF, 0x4F, 0xFF, 0x51] {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    // SOC, SIZ marker, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz
    let (x, y, x0, y0) = (be(8), be(12), be(16), be(20));
    Some((x.checked_sub(x0)?, y.checked_sub(y0)?))
}

/// How many halvings keep the long side at or above `target`.
pub(crate) fn reduction_for(long_side: u32, target: u32) -> u32 {
    let mut r = 0;
    while r < 5 && long_side.div_ceil(1 << (r + 1)) >= target {
        r += 1;
    }
    r
}

/// Decode with `reduce` halvings (falling back to full resolution if the codestream has
/// fewer resolution levels).
pub(crate) fn decode(data: &[u8], reduce: u32) -> Result<J2kFrame, String> {
    let image =
        match Image::from_bytes_with(data, DecodeParameters::new().reduce(reduce).strict(true)) {
            Ok(i) => i,
            Err(_) if reduce > 0 => {
                Image::from_bytes_with(data, DecodeParameters::new().strict(true))
                    .map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
    let comps = image.components();
    let Some(first) = comps.first() else {
        return Err("JPEG 2000 image has no components".into());
    };
    let (w, h) = (first.width(), first.height());
    let spp = if comps.len() >= 3 { 3 } else { 1 };
    let n = w as usize * h as usize;
    if n == 0
        || comps[..spp]
            .iter()
            .any(|c| c.width() != w || c.height() != h)
    {
        return Err("JPEG 2000 components differ in size (subsampled chroma)".into());
    }
    let mut samples = vec![0i32; n * spp];
    for (ci, c) in comps[..spp].iter().enumerate() {
        for (i, &v) in c.data().iter().enumerate().take(n) {
            samples[i * spp + ci] = v;
        }
    }
    Ok(J2kFrame {
        width: w,
        height: h,
        spp: spp as u16,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_the_long_side_above_target() {
        assert_eq!(reduction_for(1955, 224), 3); // 1955 -> 245
        assert_eq!(reduction_for(512, 224), 1); // 512 -> 256
        assert_eq!(reduction_for(447, 224), 1); // 447 -> 224
        assert_eq!(reduction_for(446, 224), 0);
        assert_eq!(reduction_for(64, 224), 0);
        assert!(decode(b"not a codestream", 2).is_err());
    }

    #[test]
    fn codestream_size_reads_siz() {
        // SOC, SIZ, Lsiz 41, Rsiz 0, Xsiz 640, Ysiz 480, XOsiz 0, YOsiz 0
        let mut cs = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [640u32, 480, 0, 0] {
            cs.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(codestream_size(&cs), Some((640, 480)));
        cs[16..20].copy_from_slice(&10u32.to_be_bytes()); // XOsiz 10
        assert_eq!(codestream_size(&cs), Some((630, 480)));
        cs[16..20].copy_from_slice(&700u32.to_be_bytes()); // offset past the edge
        assert_eq!(codestream_size(&cs), None);
        assert_eq!(codestream_size(b"\x00\x00\x00\x0cjP  "), None);
    }
}
