//! RLE Lossless encoder (DICOM PS3.5 Annex G).
//!
//! dicom-rs 0.10 decodes RLE but cannot encode it, so the encoder is written here from
//! the standard:
//! - G.2: each frame is one fragment: a 64-byte header (segment count, then up to 15
//!   segment offsets from the start of the header), then the segments;
//! - G.2: one segment per byte plane, most significant byte first, samples in order
//!   (for 16-bit RGB: R MSB, R LSB, G MSB, ...);
//! - G.3.1: each segment is PackBits, with every row encoded separately, and padded to an
//!   even length.

/// Encode one frame of native little-endian, colour-by-pixel samples.
///
/// `bytes_per_sample` is 1 or 2; `frame.len()` must equal `rows * cols * samples * bytes`.
pub(crate) fn encode_frame(
    frame: &[u8],
    rows: usize,
    cols: usize,
    samples: usize,
    bytes_per_sample: usize,
) -> Vec<u8> {
    let segments = samples * bytes_per_sample;
    assert!((1..=15).contains(&segments), "RLE allows 1 to 15 segments");
    assert_eq!(frame.len(), rows * cols * segments, "frame size");
    let stride = segments;
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(&(segments as u32).to_le_bytes());
    let mut plane = vec![0u8; cols];
    for s in 0..samples {
        for b in (0..bytes_per_sample).rev() {
            let seg = s * bytes_per_sample + (bytes_per_sample - 1 - b);
            let offset = out.len() as u32;
            out[4 + 4 * seg..8 + 4 * seg].copy_from_slice(&offset.to_le_bytes());
            // Byte `b` (little-endian position) of sample `s` of every pixel.
            let pick = s * bytes_per_sample + b;
            for r in 0..rows {
                let row = &frame[r * cols * stride..(r + 1) * cols * stride];
                for (x, p) in plane.iter_mut().enumerate() {
                    *p = row[x * stride + pick];
                }
                packbits(&plane, &mut out);
            }
            if out.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
    out
}

/// PackBits (G.3.1): runs of 2..=128 equal bytes as `(1 - n) as i8, byte`, other bytes as
/// `n - 1, n literal bytes` with n <= 128.
pub(crate) fn packbits(src: &[u8], out: &mut Vec<u8>) {
    let n = src.len();
    let mut i = 0;
    while i < n {
        // Length of the run starting at i.
        let mut run = 1;
        while i + run < n && run < 128 && src[i + run] == src[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(src[i]);
            i += run;
            continue;
        }
        // Literal: extend until a run of two or more starts, or 128 bytes.
        let start = i;
        i += 1;
        while i < n && i - start < 128 && !(i + 1 < n && src[i] == src[i + 1]) {
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&src[start..i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference PackBits decoder, straight from G.3.2.
    fn unpack(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < src.len() {
            let h = src[i] as i8;
            i += 1;
            if h >= 0 {
                let n = h as usize + 1;
                out.extend_from_slice(&src[i..(i + n).min(src.len())]);
                i += n;
            } else if h != -128 {
                out.extend(std::iter::repeat_n(src[i], (1 - h as isize) as usize));
                i += 1;
            }
        }
        out
    }

    #[test]
    fn packbits_round_trips_runs_literals_and_long_rows() {
        let mut rng = crate::synth::rng::Rng::new(11);
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![7],
            vec![1, 2],
            vec![5; 300],
            (0..=255).collect(),
        ];
        for _ in 0..50 {
            let len = rng.below(700);
            cases.push(
                (0..len)
                    .map(|_| {
                        if rng.chance(0.6) {
                            3
                        } else {
                            rng.below(4) as u8
                        }
                    })
                    .collect(),
            );
        }
        for c in cases {
            let mut out = Vec::new();
            packbits(&c, &mut out);
            assert_eq!(unpack(&out), c);
        }
    }

    #[test]
    fn packbits_matches_the_standard_example() {
        // The worked example of Apple's PackBits note, as used in TIFF and DICOM.
        let raw = [
            0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        let mut out = Vec::new();
        packbits(&raw, &mut out);
        assert_eq!(
            out,
            [
                0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
                0xAA
            ]
        );
    }

    #[test]
    fn frame_header_and_segment_order() {
        // 2 x 2 pixels, 16-bit grey: MSB plane first.
        let px: [u16; 4] = [0x0102, 0x0102, 0x0304, 0x0506];
        let frame: Vec<u8> = px.iter().flat_map(|v| v.to_le_bytes()).collect();
        let enc = encode_frame(&frame, 2, 2, 1, 2);
        assert_eq!(u32::from_le_bytes(enc[0..4].try_into().unwrap()), 2);
        let o1 = u32::from_le_bytes(enc[4..8].try_into().unwrap()) as usize;
        let o2 = u32::from_le_bytes(enc[8..12].try_into().unwrap()) as usize;
        assert_eq!(o1, 64);
        assert_eq!(o2 % 2, 0, "segments are padded to even length");
        assert_eq!(&unpack(&enc[o1..o2])[..4], &[0x01, 0x01, 0x03, 0x05]);
        assert_eq!(&unpack(&enc[o2..])[..4], &[0x02, 0x02, 0x04, 0x06]);
        assert_eq!(enc.len() % 2, 0);
    }
}
