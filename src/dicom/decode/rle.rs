//! DICOM RLE Lossless (PS3.5 Annex G) for one frame, any BitsAllocated that is a multiple
//! of 8 (8, 16 and 32 included), into little-endian, sample-interleaved bytes.

/// Decode one RLE frame of `pixels` pixels with `spp` samples of `bytes_per_sample` bytes.
pub(crate) fn decode_frame(
    data: &[u8],
    pixels: usize,
    spp: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, String> {
    if data.len() < 64 {
        return Err(format!("RLE header is {} bytes, needs 64", data.len()));
    }
    let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let n_segments = word(0) as usize;
    let expected = spp * bytes_per_sample;
    if n_segments != expected || n_segments > 15 {
        return Err(format!(
            "RLE frame has {n_segments} segments, expected {expected}"
        ));
    }
    let offsets: Vec<usize> = (0..n_segments).map(|i| word(4 + 4 * i) as usize).collect();
    let stride = expected;
    let mut out = vec![0u8; pixels * stride];
    let mut plane = vec![0u8; pixels];
    for (seg, &start) in offsets.iter().enumerate() {
        let end = offsets.get(seg + 1).copied().unwrap_or(data.len());
        if start < 64 || start > end || end > data.len() {
            return Err(format!("RLE segment {seg} has bad offsets {start}..{end}"));
        }
        unpack_bits(&data[start..end], &mut plane)
            .map_err(|e| format!("RLE segment {seg}: {e}"))?;
        // Segments run sample by sample, most significant byte first.
        let sample = seg / bytes_per_sample;
        let byte_in_sample = bytes_per_sample - 1 - seg % bytes_per_sample;
        let offset = sample * bytes_per_sample + byte_in_sample;
        for (px, &b) in plane.iter().enumerate() {
            out[px * stride + offset] = b;
        }
    }
    Ok(out)
}

/// PackBits into `out`, which must be filled exactly (extra input, as padding, is ignored).
fn unpack_bits(src: &[u8], out: &mut [u8]) -> Result<(), String> {
    let (mut i, mut o) = (0usize, 0usize);
    while o < out.len() {
        let Some(&h) = src.get(i) else {
            return Err(format!("ends after {o} of {} bytes", out.len()));
        };
        i += 1;
        let h = h as i8;
        if h >= 0 {
            let n = h as usize + 1;
            let lit = src
                .get(i..i + n)
                .ok_or_else(|| "literal run past the end".to_string())?;
            let n = n.min(out.len() - o);
            out[o..o + n].copy_from_slice(&lit[..n]);
            i += h as usize + 1;
            o += n;
        } else if h != -128 {
            let n = (1 - h as isize) as usize;
            let &b = src
                .get(i)
                .ok_or_else(|| "replicate run past the end".to_string())?;
            i += 1;
            let n = n.min(out.len() - o);
            out[o..o + n].fill(b);
            o += n;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_replicate() {
        // literal 3 bytes, then 4 copies of 9
        let src = [2u8, 1, 2, 3, (-3i8) as u8, 9];
        let mut out = [0u8; 7];
        unpack_bits(&src, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 9, 9, 9, 9]);
        let mut short = [0u8; 8];
        assert!(unpack_bits(&src, &mut short).is_err());
    }

    #[test]
    fn sixteen_bit_segments_are_msb_first() {
        // 2 pixels of one 16-bit sample: values 0x0102 and 0x0304
        let mut data = vec![0u8; 64];
        data[0] = 2;
        data[4] = 64;
        data[8] = 67;
        data.extend_from_slice(&[1, 0x01, 0x03]); // high bytes
        data.extend_from_slice(&[1, 0x02, 0x04]); // low bytes
        let out = decode_frame(&data, 2, 1, 2).unwrap();
        assert_eq!(out, vec![0x02, 0x01, 0x04, 0x03]);
    }
}
