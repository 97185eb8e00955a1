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
    // Horizontal pass into f32 (each source row converted once), then the vertical pass
    // with rounding.
    let tx = taps(w, nw);
    let nt = tx.n;
    let mut mid = vec![0f32; h * nw * ch];
    let mut rowf = vec![0f32; w * ch];
    for y in 0..h {
        for (f, &v) in rowf.iter_mut().zip(&src[y * w * ch..(y + 1) * w * ch]) {
            *f = v as f32;
        }
        let out = &mut mid[y * nw * ch..(y + 1) * nw * ch];
        for x in 0..nw {
            let wt = &tx.weights[x * nt..(x + 1) * nt];
            let s = tx.start[x];
            if ch == 1 {
                let px = &rowf[s..s + nt];
                let mut acc = 0f32;
                for (&a, &b) in wt.iter().zip(px) {
                    acc += a * b;
                }
                out[x] = acc;
            } else if ch == 3 {
                let px = &rowf[s * 3..(s + nt) * 3];
                let mut acc = [0f32; 3];
                for (&a, p) in wt.iter().zip(px.chunks_exact(3)) {
                    acc[0] += a * p[0];
                    acc[1] += a * p[1];
                    acc[2] += a * p[2];
                }
                out[x * 3..x * 3 + 3].copy_from_slice(&acc);
            } else {
                let px = &rowf[s * ch..(s + nt) * ch];
                for c in 0..ch {
                    let mut acc = 0f32;
                    for (k, &a) in wt.iter().enumerate() {
                        acc += a * px[k * ch + c];
                    }
                    out[x * ch + c] = acc;
                }
            }
        }
    }
    let ty = taps(h, nh);
    let nt = ty.n;
    let mut dst = vec![0u8; nw * nh * ch];
    let stride = nw * ch;
    let mut acc = vec![0f32; stride];
    for y in 0..nh {
        acc.iter_mut().for_each(|v| *v = 0.0);
        let s = ty.start[y];
        for (k, &wt) in ty.weights[y * nt..(y + 1) * nt].iter().enumerate() {
            let row = &mid[(s + k) * stride..(s + k + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wt * v;
            }
        }
        for (d, &a) in dst[y * stride..(y + 1) * stride].iter_mut().zip(&acc) {
            // `a.round().clamp(0, 255)`, without the libm call: for a >= 0, adding 0.5
            // in f64 is exact and truncation is the floor (NaN and negatives give 0).
            *d = ((a.max(0.0) as f64 + 0.5) as u32).min(255) as u8;
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
    let (nw, nh) = (w.div_ceil(k), h.div_ceil(k));
    let mut sums = vec![0u32; nw * ch];
    let mut out = vec![0u8; nw * nh * ch];
    for by in 0..nh {
        sums.iter_mut().for_each(|v| *v = 0);
        let rows = (by * k..((by + 1) * k).min(h)).len();
        for y in by * k..by * k + rows {
            let row = &src[y * w * ch..(y + 1) * w * ch];
            for (x, px) in row.chunks_exact(ch).enumerate() {
                let o = (x / k) * ch;
                for c in 0..ch {
                    sums[o + c] += px[c] as u32;
                }
            }
        }
        for bx in 0..nw {
            let cols = (bx * k..((bx + 1) * k).min(w)).len();
            let n = (rows * cols) as u32;
            for c in 0..ch {
                out[(by * nw + bx) * ch + c] = ((sums[bx * ch + c] + n / 2) / n) as u8;
            }
        }
    }
    (nw, nh, out)
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
    let (nw, nh) = fit_size(w, h, size);
    let small = resample(src, w, h, 1, nw, nh);
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
    fn upscaling_is_bilinear() {
        // 2x1 -> 4x1: centres at 0.25, 0.75, 1.25, 1.75 of the source
        let out = resample(&[0, 200], 2, 1, 1, 4, 1);
        assert_eq!(out, vec![0, 50, 150, 200]);
    }
}
