//! Separable triangle-filter (bilinear with antialiasing, as PIL's BILINEAR) resampling of
//! 8-bit images, and the aspect-preserving fit onto a zero-padded square.

/// Per output index, a window of `n` source indices starting at `start[i]` and its
/// normalised weights `weights[i * n..(i + 1) * n]`. Every window has the same length
/// (shorter ones are padded with zero weights, which leave each sum bit for bit as it
/// was), so the inner loops run over flat slices of one fixed length.
struct Taps {
    n: usize,
    start: Vec<usize>,
    weights: Vec<f32>,
}

fn taps(src: usize, dst: usize) -> Taps {
    let scale = src as f64 / dst as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // triangle support is 1 in filter units
    let mut windows: Vec<(usize, Vec<f32>)> = Vec::with_capacity(dst);
    for i in 0..dst {
        let center = (i as f64 + 0.5) * scale;
        let lo = ((center - support).floor().max(0.0)) as usize;
        let hi = ((center + support).ceil() as usize).min(src);
        let mut w: Vec<f32> = (lo..hi)
            .map(|j| {
                let x = (j as f64 + 0.5 - center) / filter_scale;
                (1.0 - x.abs()).max(0.0) as f32
            })
            .collect();
        let sum: f32 = w.iter().sum();
        if sum > 0.0 {
            w.iter_mut().for_each(|v| *v /= sum);
            windows.push((lo, w));
        } else {
            // degenerate: nearest neighbour
            let j = (center.floor() as usize).min(src - 1);
            windows.push((j, vec![1.0]));
        }
    }
    let n = windows
        .iter()
        .map(|(_, w)| w.len())
        .max()
        .unwrap_or(1)
        .min(src);
    let mut start = Vec::with_capacity(dst);
    let mut weights = vec![0f32; dst * n];
    for (i, (lo, w)) in windows.into_iter().enumerate() {
        // Move the window left where it would run past the end; the taps keep their
        // source indices, behind leading zero weights.
        let s = lo.min(src - n);
        weights[i * n + (lo - s)..i * n + (lo - s) + w.len()].copy_from_slice(&w);
        start.push(s);
    }
    Taps { n, start, weights }
}

/// Resize an interleaved `ch`-channel 8-bit image from `w`x`h` to `nw`x`nh`.
pub fn resample(src: &[u8], w: usize, h: usize, ch: usize, nw: usize, nh: usize) -> Vec<u8> {
    assert_eq!(
        src.len(),
        w * h * ch,
        "resample: buffer does not match size"
    );
    if w == 0 || h == 0 || nw == 0 || nh == 0 {
        return vec![0; nw * nh * ch];
    }
    if w == nw && h == nh {
        return src.to_vec();
    }
    // Vertical pass first, into f32: it runs over whole rows (contiguous, vectorised, and
    // blind to the channel count), and leaves the horizontal pass only `nh` rows instead
    // of `h` (when shrinking, the costly direction). Then the horizontal pass, rounding.
    let stride = w * ch;
    let ty = taps(h, nh);
    let nt = ty.n;
    let mut mid = vec![0f32; nh * stride];
    for (y, acc) in mid.chunks_exact_mut(stride).enumerate() {
        let s = ty.start[y];
        for (k, &wt) in ty.weights[y * nt..(y + 1) * nt].iter().enumerate() {
            if wt == 0.0 {
                continue; // padding taps: adding 0 * v changes no sum
            }
            let row = &src[(s + k) * stride..(s + k + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wt * v as f32;
            }
        }
    }
    let tx = taps(w, nw);
    let nt = tx.n;
    let mut dst = vec![0u8; nw * nh * ch];
    // `a.round().clamp(0, 255)`, without the libm call: for a >= 0, adding 0.5 in f64 is
    // exact and truncation is the floor (NaN and negatives give 0).
    let to_u8 = |a: f32| ((a.max(0.0) as f64 + 0.5) as u32).min(255) as u8;
    for (row, out) in mid.chunks_exact(stride).zip(dst.chunks_exact_mut(nw * ch)) {
        for x in 0..nw {
            let wt = &tx.weights[x * nt..(x + 1) * nt];
            let s = tx.start[x];
            if ch == 1 {
                let px = &row[s..s + nt];
                let mut acc = 0f32;
                for (&a, &b) in wt.iter().zip(px) {
                    acc += a * b;
                }
                out[x] = to_u8(acc);
            } else if ch == 3 {
                let px = &row[s * 3..(s + nt) * 3];
                let mut acc = [0f32; 3];
                for (&a, p) in wt.iter().zip(px.chunks_exact(3)) {
                    acc[0] += a * p[0];
                    acc[1] += a * p[1];
                    acc[2] += a * p[2];
                }
                out[x * 3..x * 3 + 3].copy_from_slice(&acc.map(to_u8));
            } else {
                let px = &row[s * ch..(s + nt) * ch];
                for c in 0..ch {
                    let mut acc = 0f32;
                    for (k, &a) in wt.iter().enumerate() {
                        acc += a * px[k * ch + c];
                    }
                    out[x * ch + c] = to_u8(acc);
                }
            }
        }
    }
    dst
}

/// Average `k`x`k` blocks (edge blocks partial) of an interleaved `ch`-channel image:
/// a cheap first reduction before the triangle filter. Returns the new size and pixels.
pub fn box_reduce(src: &[u8], w: usize, h: usize, ch: usize, k: usize) -> (usize, usize, Vec<u8>) {
    if k <= 1 {
        return (w, h, src.to_vec());
    }
    match ch {
        1 => box_reduce_with::<_, 1>(src, w, h, k, |v| v as u32),
        3 => box_reduce_with::<_, 3>(src, w, h, k, |v| v as u32),
        _ => box_reduce_any(src, w, h, ch, k),
    }
}

/// [`box_reduce`] for any channel count, one pixel at a time.
fn box_reduce_any(src: &[u8], w: usize, h: usize, ch: usize, k: usize) -> (usize, usize, Vec<u8>) {
    let (nw, nh) = (w.div_ceil(k), h.div_ceil(k));
    let mut out = vec![0u8; nw * nh * ch];
    for by in 0..nh {
        let rows = by * k..((by + 1) * k).min(h);
        for bx in 0..nw {
            let cols = bx * k..((bx + 1) * k).min(w);
            let n = (rows.len() * cols.len()) as u32;
            for c in 0..ch {
                let sum: u32 = rows
                    .clone()
                    .flat_map(|y| cols.clone().map(move |x| src[(y * w + x) * ch + c] as u32))
                    .sum();
                out[(by * nw + bx) * ch + c] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    (nw, nh, out)
}

/// [`box_reduce`] of the grey image `lut[idx]` (stored values through an 8-bit lookup
/// table), without building it: one pass over the stored values.
pub fn box_reduce_lut(
    idx: &[u16],
    lut: &[u8],
    w: usize,
    h: usize,
    k: usize,
) -> (usize, usize, Vec<u8>) {
    // As an array, every u16 index is in bounds: no check per lookup.
    let lut: &[u8; 65536] = lut[..65536]
        .try_into()
        .expect("box_reduce_lut: the table must cover every u16");
    if k <= 1 {
        return (w, h, idx.iter().map(|&i| lut[i as usize]).collect());
    }
    box_reduce_with::<_, 1>(idx, w, h, k, |i| lut[i as usize] as u32)
}

/// `k`x`k` box averages of `value(src[i])` over an interleaved `CH`-channel image:
/// column sums over each band of `k` rows (a plain loop over whole rows, blind to the
/// channels), then `k` pixels at a time. For colour (640x480 RGB, k = 2) 2.8x faster than
/// summing block by block, measured.
fn box_reduce_with<T: Copy, const CH: usize>(
    src: &[T],
    w: usize,
    h: usize,
    k: usize,
    value: impl Fn(T) -> u32,
) -> (usize, usize, Vec<u8>) {
    let (nw, nh) = (w.div_ceil(k), h.div_ceil(k));
    let stride = w * CH;
    let mut cols = vec![0u32; stride];
    let mut out = vec![0u8; nw * nh * CH];
    for (by, dst) in out.chunks_exact_mut(nw * CH).enumerate() {
        cols.iter_mut().for_each(|v| *v = 0);
        let rows = by * k..((by + 1) * k).min(h);
        let n_rows = rows.len() as u32;
        for y in rows {
            for (c, &v) in cols.iter_mut().zip(&src[y * stride..(y + 1) * stride]) {
                *c += value(v);
            }
        }
        // Every block of the band but perhaps the last has n_rows * k pixels.
        let full = Recip::new(n_rows * k as u32);
        for (d, block) in dst.chunks_exact_mut(CH).zip(cols.chunks(k * CH)) {
            let px = (block.len() / CH) as u32;
            let div = if px == k as u32 {
                full
            } else {
                Recip::new(n_rows * px)
            };
            let mut sum = [0u32; CH];
            for px in block.chunks_exact(CH) {
                for (s, &v) in sum.iter_mut().zip(px) {
                    *s += v;
                }
            }
            for (d, s) in d.iter_mut().zip(sum) {
                *d = div.div(s + div.n / 2) as u8;
            }
        }
    }
    (nw, nh, out)
}

/// Division by `n` of values below `256 * n` (a rounded average of bytes) as a multiply
/// and a shift: the divisions were a fifth of a colour box reduction's time. With
/// `m = floor(2^40 / n) + 1`, `x * m / 2^40` exceeds `x / n` by less than `x / 2^40`,
/// which for `x < 256 n` and `n < 2^16` is below `1 / n`, the least distance from `x / n`
/// up to the next integer: the floor is exact. Larger `n` divides.
#[derive(Clone, Copy)]
struct Recip {
    n: u32,
    m: u64,
}

impl Recip {
    fn new(n: u32) -> Self {
        let m = if n < 1 << 16 {
            (1u64 << 40) / n as u64 + 1
        } else {
            0
        };
        Recip { n, m }
    }

    #[inline]
    fn div(self, x: u32) -> u32 {
        if self.m != 0 {
            ((x as u64 * self.m) >> 40) as u32
        } else {
            x / self.n
        }
    }
}

/// The box factor that keeps the long side at least `2 * target` (none below that).
pub fn box_factor(w: usize, h: usize, target: usize) -> usize {
    (w.max(h) / (2 * target.max(1))).max(1)
}

/// Size after scaling so that the long side is `long`: (width, height), each at least 1.
pub fn fit_size(w: usize, h: usize, long: usize) -> (usize, usize) {
    let scale = long as f64 / w.max(h).max(1) as f64;
    let nw = ((w as f64 * scale).round() as usize).clamp(1, long);
    let nh = ((h as f64 * scale).round() as usize).clamp(1, long);
    (nw, nh)
}

/// Aspect-preserving resize of a grey image so the long side is `size`, centred on a
/// zero `size`x`size` canvas (RadiologyNET's preprocessing).
pub fn fit_padded(src: &[u8], w: usize, h: usize, size: usize) -> Vec<u8> {
    let (nw, nh, small) = fit(src, w, h, size);
    pad(&small, nw, nh, size)
}

/// Aspect-preserving resize of a grey image so the long side is `size`: (width, height,
/// pixels).
pub fn fit(src: &[u8], w: usize, h: usize, size: usize) -> (usize, usize, Vec<u8>) {
    let (nw, nh) = fit_size(w, h, size);
    (nw, nh, resample(src, w, h, 1, nw, nh))
}

/// A `nw`x`nh` grey image centred on a zero `size`x`size` canvas.
pub fn pad(small: &[u8], nw: usize, nh: usize, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size * size];
    let (y0, x0) = ((size - nh) / 2, (size - nw) / 2);
    for y in 0..nh {
        out[(y0 + y) * size + x0..(y0 + y) * size + x0 + nw]
            .copy_from_slice(&small[y * nw..(y + 1) * nw]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_uses_the_wide_triangle() {
        // 4x1 -> 2x1: the triangle spans 2 source pixels each side of the output centre.
        let out = resample(&[0, 100, 200, 40], 4, 1, 1, 2, 1);
        // output 0, centre 1.0: j=0,1,2 at distance .25,.25,.75 -> weights .75,.75,.25
        // (0*.75 + 100*.75 + 200*.25) / 1.75 = 71.43
        assert_eq!(out[0], 71);
        // output 1, centre 3.0: j=1,2,3 -> weights .25,.75,.75: (25 + 150 + 30) / 1.75 = 117.1
        assert_eq!(out[1], 117);
    }

    #[test]
    fn padding_centres_a_wide_image() {
        // 448x224 constant 200 -> 224x112 in the middle rows 56..168 of a 224 canvas
        let src = vec![200u8; 448 * 224];
        let out = fit_padded(&src, 448, 224, 224);
        assert_eq!(fit_size(448, 224, 224), (224, 112));
        assert_eq!(out.len(), 224 * 224);
        assert_eq!(out[55 * 224 + 100], 0);
        assert_eq!(out[56 * 224], 200);
        assert_eq!(out[167 * 224 + 223], 200);
        assert_eq!(out[168 * 224 + 100], 0);
        let total: usize = out.iter().map(|&v| (v == 200) as usize).sum();
        assert_eq!(total, 224 * 112);
    }

    #[test]
    fn padding_centres_a_tall_odd_image() {
        // 3 wide, 7 tall -> long side 7 (no scaling when size = 7): columns 2..5
        let src: Vec<u8> = (0..21).map(|i| i as u8 + 1).collect();
        let out = fit_padded(&src, 3, 7, 7);
        assert_eq!(&out[0..7], &[0, 0, 1, 2, 3, 0, 0]);
        assert_eq!(&out[42..49], &[0, 0, 19, 20, 21, 0, 0]);
    }

    #[test]
    fn box_reduction_averages_blocks() {
        // 5x2 grey, k = 2: blocks [0,2]x[0,2], [2,4]x[0,2], and the partial last column
        let src = [0, 10, 20, 30, 40, 10, 20, 30, 40, 50];
        let (w, h, out) = box_reduce(&src, 5, 2, 1, 2);
        assert_eq!((w, h), (3, 1));
        assert_eq!(out, vec![10, 30, 45]);
        assert_eq!(box_factor(1955, 1841, 224), 4);
        assert_eq!(box_factor(400, 300, 224), 1);
    }

    #[test]
    fn fused_lut_reduction_equals_mapping_then_reducing() {
        // 7x5 stored values through a table, k = 2 and 3 (partial edge blocks)
        let idx: Vec<u16> = (0..35).map(|i| (i * 977 % 4096) as u16).collect();
        let lut: Vec<u8> = (0..65536).map(|i| (i * 7 % 251) as u8).collect();
        let grey: Vec<u8> = idx.iter().map(|&i| lut[i as usize]).collect();
        for k in [1, 2, 3] {
            assert_eq!(
                box_reduce_lut(&idx, &lut, 7, 5, k),
                box_reduce(&grey, 7, 5, 1, k)
            );
        }
        // the colour path agrees with the grey one channel by channel
        let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g / 2, 255 - g]).collect();
        let (w, h, out) = box_reduce(&rgb, 7, 5, 3, 3);
        let (_, _, g) = box_reduce(&grey, 7, 5, 1, 3);
        assert_eq!((w, h), (3, 2));
        assert_eq!(out.iter().step_by(3).copied().collect::<Vec<_>>(), g);
    }

    #[test]
    fn two_dimensional_resample_is_separable() {
        // 4x4 -> 2x2 of a constant is that constant; of a ramp, the 1-D result in each row
        let out = resample(&[90u8; 16], 4, 4, 1, 2, 2);
        assert_eq!(out, vec![90; 4]);
        let ramp: Vec<u8> = (0..4).flat_map(|_| [0, 100, 200, 40]).collect();
        assert_eq!(resample(&ramp, 4, 4, 1, 2, 2), vec![71, 117, 71, 117]);
        // three channels resample as three grey images
        let rgb: Vec<u8> = ramp.iter().flat_map(|&v| [v, 255 - v, v / 2]).collect();
        let out = resample(&rgb, 4, 4, 3, 2, 2);
        let chan = |c: usize| {
            let plane: Vec<u8> = rgb.iter().skip(c).step_by(3).copied().collect();
            resample(&plane, 4, 4, 1, 2, 2)
        };
        for c in 0..3 {
            let got: Vec<u8> = out.iter().skip(c).step_by(3).copied().collect();
            assert_eq!(got, chan(c));
        }
    }

    #[test]
    fn upscaling_is_bilinear() {
        // 2x1 -> 4x1: centres at 0.25, 0.75, 1.25, 1.75 of the source
        let out = resample(&[0, 200], 2, 1, 1, 4, 1);
        assert_eq!(out, vec![0, 50, 150, 200]);
    }

    #[test]
    fn row_sum_box_reduction_equals_block_by_block() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        };
        for _ in 0..200 {
            let (w, h, k) = (1 + next(300), 1 + next(300), 2 + next(6));
            for ch in [1, 3] {
                let src: Vec<u8> = (0..w * h * ch).map(|_| next(256) as u8).collect();
                assert_eq!(
                    box_reduce(&src, w, h, ch, k),
                    box_reduce_any(&src, w, h, ch, k),
                    "{w}x{h}x{ch} k={k}"
                );
            }
        }
    }

    #[test]
    fn reciprocal_division_is_exact() {
        for n in (1..70_000u32)
            .step_by(7)
            .chain([1, 2, 3, 4, 9, 65_535, 65_536, 100_000])
        {
            let r = Recip::new(n);
            for x in [
                0,
                1,
                n / 2,
                n - 1,
                n,
                n + 1,
                128 * n,
                255 * n + n / 2,
                256 * n - 1,
            ] {
                assert_eq!(r.div(x), x / n, "{x} / {n}");
            }
        }
    }
}
