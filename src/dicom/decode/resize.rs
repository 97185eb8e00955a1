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

    // Each window's weights, one after another in `flat`, as (first index, length).
    let mut flat: Vec<f32> = Vec::with_capacity(dst * (2 * support.ceil() as usize + 2));
    let mut windows: Vec<(usize, usize)> = Vec::with_capacity(dst);
    for i in 0..dst {
        let center = (i as f64 + 0.5) * scale;
        let lo = ((center - support).floor().max(0.0)) as usize;
        let hi = ((center + support).ceil() as usize).min(src);
        let at = flat.len();
        flat.extend((lo..hi).map(|j| {
            let x = (j as f64 + 0.5 - center) / filter_scale;
            (1.0 - x.abs()).max(0.0) as f32
        }));
        let w = &mut flat[at..];
        let sum: f32 = w.iter().sum();
        if sum > 0.0 {
            w.iter_mut().for_each(|v| *v /= sum);
            windows.push((lo, hi - lo));
        } else {
            // degenerate: nearest neighbour
            flat.truncate(at);
            flat.push(1.0);
            windows.push(((center.floor() as usize).min(src - 1), 1));
        }
    }
    let n = windows
        .iter()
        .map(|&(_, len)| len)
        .max()
        .unwrap_or(1)
        .min(src);
    let mut start = Vec::with_capacity(dst);
    let mut weights = vec![0f32; dst * n];
    let mut at = 0;
    for (i, (lo, len)) in windows.into_iter().enumerate() {
        // Move the window left where it would run past the end; the taps keep their
        // source indices, behind leading zero weights.
        let s = lo.min(src - n);
        weights[i * n + (lo - s)..i * n + (lo - s) + len].copy_from_slice(&flat[at..at + len]);
        at += len;
        start.push(s);
    }
    Taps { n, start, weights }
}

/// Output rows resampled together: the lanes of the horizontal pass.
const BAND: usize = 8;
// The SSE2 kernels hold a band as two vectors of four.
const _: () = assert!(BAND == 8);

/// Resize an interleaved `ch`-channel 8-bit image from `w`x`h` to `nw`x`nh`.
///
/// Vertical pass first, into f32: it runs over whole rows (contiguous, vectorised, and
/// blind to the channel count), and leaves the horizontal pass only `nh` rows instead of
/// `h`. Rows are filtered [`BAND`] at a time; the band is stored column-major, so that
/// the horizontal pass computes the same output column of all its rows in one vector.
/// Each output is the same sum, in the same order, as a plain per-pixel loop gives (a
/// test checks it against one, bit for bit); at 256x256 -> 224x224 grey it takes half
/// the time of that loop, whose per-pixel dot products and float-to-byte conversions
/// did not vectorise. With AVX2 (detected at run time) the two passes take eight lanes
/// per instruction instead of four.
pub fn resample(src: &[u8], w: usize, h: usize, ch: usize, nw: usize, nh: usize) -> Vec<u8> {
    resample_with(src, w, h, ch, nw, nh, true)
}

/// [`resample`] with the AVX2 kernels (where `avx2` and the CPU has them) or without.
fn resample_with(
    src: &[u8],
    w: usize,
    h: usize,
    ch: usize,
    nw: usize,
    nh: usize,
    avx2: bool,
) -> Vec<u8> {
    let k = kernels::Kernels::select(avx2);
    assert_eq!(
        src.len(),
        w * h * ch,
        "resample: buffer does not match size"
    );
    if w == 0 || h == 0 || nw == 0 || nh == 0 || ch == 0 {
        return vec![0; nw * nh * ch];
    }
    if w == nw && h == nh {
        return src.to_vec();
    }
    let (stride, ostride) = (w * ch, nw * ch);
    let ty = taps(h, nh);
    let tx = taps(w, nw);
    let nt = ty.n;
    let mut rows = vec![0f32; BAND * stride];
    let mut band = vec![[0f32; BAND]; stride];
    let mut out = vec![[0u8; BAND]; ostride];
    let mut dst = vec![0u8; ostride * nh];
    for y0 in (0..nh).step_by(BAND) {
        let nl = (nh - y0).min(BAND);
        // Rows past `nl` keep the last band's values: finite, and never written out.
        for (l, acc) in rows.chunks_exact_mut(stride).take(nl).enumerate() {
            let y = y0 + l;
            let s = ty.start[y];
            let wts = &ty.weights[y * nt..(y + 1) * nt];
            // SAFETY: `select` returned kernels this CPU runs.
            unsafe { (k.vertical_row)(&src[s * stride..], stride, wts, acc) };
        }
        kernels::transpose_band(&rows, stride, &mut band);
        // SAFETY: as above.
        unsafe { (k.horizontal_band)(&band, &tx, ch, &mut out) };
        for l in 0..nl {
            let row = &mut dst[(y0 + l) * ostride..(y0 + l + 1) * ostride];
            for (d, o) in row.iter_mut().zip(&out) {
                *d = o[l];
            }
        }
    }
    dst
}

/// The band kernels: SSE2 on x86-64 (part of its baseline, so no detection), AVX2 where
/// the CPU has it, plain loops elsewhere; all give the same bytes.
mod kernels {
    use super::{Taps, BAND};

    type VerticalRow = unsafe fn(&[u8], usize, &[f32], &mut [f32]);
    type HorizontalBand = unsafe fn(&[[f32; BAND]], &Taps, usize, &mut [[u8; BAND]]);

    /// The two kernels of a resample, chosen once for it.
    pub(super) struct Kernels {
        /// `acc[c] = sum over k of wts[k] * src[k * stride + c]`, in order of `k`,
        /// skipping zero weights: `(src, stride, wts, acc)`.
        pub vertical_row: VerticalRow,
        /// `out[x * ch + c][l]`: output column `x`, channel `c`, of band row `l`, rounded
        /// half up and clamped to a byte: `(band, taps, ch, out)`.
        pub horizontal_band: HorizontalBand,
    }

    impl Kernels {
        /// The AVX2 kernels if `avx2` and the CPU has AVX2 (detected once, then cached by
        /// std), else SSE2 on x86-64 and plain loops elsewhere. Calling either kernel is
        /// then sound on this CPU.
        pub(super) fn select(avx2: bool) -> Self {
            #[cfg(target_arch = "x86_64")]
            {
                if avx2 && std::is_x86_feature_detected!("avx2") {
                    return Kernels {
                        vertical_row: avx2::vertical_row,
                        horizontal_band: avx2::horizontal_band,
                    };
                }
                Kernels {
                    vertical_row: sse2::vertical_row,
                    horizontal_band: sse2::horizontal_band,
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = avx2;
                Kernels {
                    vertical_row: |src, stride, wts, acc| vertical_tail(src, stride, wts, acc, 0),
                    horizontal_band,
                }
            }
        }
    }

    fn vertical_tail(src: &[u8], stride: usize, wts: &[f32], acc: &mut [f32], from: usize) {
        acc[from..stride].fill(0.0);
        for (k, &wt) in wts.iter().enumerate() {
            if wt == 0.0 {
                continue; // padding taps: adding 0 * v changes no sum
            }
            let row = &src[k * stride + from..(k + 1) * stride];
            for (a, &v) in acc[from..stride].iter_mut().zip(row) {
                *a += wt * v as f32;
            }
        }
    }

    /// `band[c][l] = rows[l * stride + c]`.
    pub(super) fn transpose_band(rows: &[f32], stride: usize, band: &mut [[f32; BAND]]) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            sse2::transpose_band(rows, stride, band)
        }
        #[cfg(not(target_arch = "x86_64"))]
        transpose_tail(rows, stride, band, 0)
    }

    fn transpose_tail(rows: &[f32], stride: usize, band: &mut [[f32; BAND]], from: usize) {
        for (c, b) in band.iter_mut().enumerate().skip(from) {
            for (l, v) in b.iter_mut().enumerate() {
                *v = rows[l * stride + c];
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn horizontal_band(band: &[[f32; BAND]], tx: &Taps, ch: usize, out: &mut [[u8; BAND]]) {
        let n = tx.n;
        for (x, o) in out.chunks_exact_mut(ch).enumerate() {
            let wt = &tx.weights[x * n..(x + 1) * n];
            let s = tx.start[x];
            for (c, o) in o.iter_mut().enumerate() {
                let mut acc = [0f32; BAND];
                for (k, &a) in wt.iter().enumerate() {
                    let p = &band[(s + k) * ch + c];
                    for l in 0..BAND {
                        acc[l] += a * p[l];
                    }
                }
                *o = acc.map(crate::dicom::decode::round_to_u8_f32);
            }
        }
    }

    /// The SSE2 kernels' arithmetic, eight lanes wide: the same products and sums per lane.
    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use super::{Taps, BAND};
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx2")]
        pub(super) fn vertical_row(src: &[u8], stride: usize, wts: &[f32], acc: &mut [f32]) {
            assert!(src.len() >= wts.len() * stride && acc.len() >= stride);
            let blocks = stride / 16 * 16;
            for c in (0..blocks).step_by(16) {
                let mut a0 = _mm256_setzero_ps();
                let mut a1 = _mm256_setzero_ps();
                for (k, &w) in wts.iter().enumerate() {
                    if w == 0.0 {
                        continue;
                    }
                    // SAFETY: row k holds `stride` bytes from `c + 15 < stride` on
                    // (asserted above).
                    let (lo, hi) = unsafe {
                        let p = src.as_ptr().add(k * stride + c);
                        (
                            _mm_loadl_epi64(p as *const __m128i),
                            _mm_loadl_epi64(p.add(8) as *const __m128i),
                        )
                    };
                    let wv = _mm256_set1_ps(w);
                    let f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
                    let f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(wv, f0));
                    a1 = _mm256_add_ps(a1, _mm256_mul_ps(wv, f1));
                }
                // SAFETY: acc[c..c + 16] exist (asserted above).
                unsafe {
                    _mm256_storeu_ps(acc.as_mut_ptr().add(c), a0);
                    _mm256_storeu_ps(acc.as_mut_ptr().add(c + 8), a1);
                }
            }
            super::vertical_tail(src, stride, wts, acc, blocks);
        }

        #[target_feature(enable = "avx2")]
        pub(super) fn horizontal_band(
            band: &[[f32; BAND]],
            tx: &Taps,
            ch: usize,
            out: &mut [[u8; BAND]],
        ) {
            let n = tx.n;
            let minus_half = _mm256_set1_ps(-0.5);
            for (x, o) in out.chunks_exact_mut(ch).enumerate() {
                let wt = &tx.weights[x * n..(x + 1) * n];
                let s = tx.start[x];
                for (c, o) in o.iter_mut().enumerate() {
                    let mut a = _mm256_setzero_ps();
                    for (k, &w) in wt.iter().enumerate() {
                        let p = &band[(s + k) * ch + c];
                        // SAFETY: `p` is BAND = 8 floats.
                        let v = unsafe { _mm256_loadu_ps(p.as_ptr()) };
                        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(w), v));
                    }
                    // Round half up as in the SSE2 kernel.
                    let r = _mm256_cvtps_epi32(a);
                    let d = _mm256_sub_ps(_mm256_cvtepi32_ps(r), a);
                    let half = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_EQ_OQ>(d, minus_half));
                    let r = _mm256_sub_epi32(r, half);
                    let words = _mm_packs_epi32(
                        _mm256_castsi256_si128(r),
                        _mm256_extracti128_si256::<1>(r),
                    );
                    let b = _mm_packus_epi16(words, _mm_setzero_si128());
                    *o = (_mm_cvtsi128_si64(b) as u64).to_le_bytes();
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod sse2 {
        use super::{Taps, BAND};
        use std::arch::x86_64::*;

        /// 16 columns at a time, the sums held in registers across the taps.
        #[target_feature(enable = "sse2")]
        pub(super) fn vertical_row(src: &[u8], stride: usize, wts: &[f32], acc: &mut [f32]) {
            assert!(src.len() >= wts.len() * stride && acc.len() >= stride);
            let blocks = stride / 16 * 16;
            let z = _mm_setzero_si128();
            for c in (0..blocks).step_by(16) {
                let mut a = [_mm_setzero_ps(); 4];
                for (k, &w) in wts.iter().enumerate() {
                    if w == 0.0 {
                        continue;
                    }
                    // SAFETY: row k holds `stride` bytes from `c + 15 < stride` on
                    // (asserted above).
                    let v = unsafe {
                        _mm_loadu_si128(src.as_ptr().add(k * stride + c) as *const __m128i)
                    };
                    let (lo, hi) = (_mm_unpacklo_epi8(v, z), _mm_unpackhi_epi8(v, z));
                    let wv = _mm_set1_ps(w);
                    let f = [
                        _mm_unpacklo_epi16(lo, z),
                        _mm_unpackhi_epi16(lo, z),
                        _mm_unpacklo_epi16(hi, z),
                        _mm_unpackhi_epi16(hi, z),
                    ];
                    for (a, f) in a.iter_mut().zip(f) {
                        *a = _mm_add_ps(*a, _mm_mul_ps(wv, _mm_cvtepi32_ps(f)));
                    }
                }
                for (i, a) in a.into_iter().enumerate() {
                    // SAFETY: acc[c..c + 16] exist (asserted above).
                    unsafe { _mm_storeu_ps(acc.as_mut_ptr().add(c + 4 * i), a) };
                }
            }
            super::vertical_tail(src, stride, wts, acc, blocks);
        }

        #[target_feature(enable = "sse2")]
        pub(super) fn transpose_band(rows: &[f32], stride: usize, band: &mut [[f32; BAND]]) {
            assert!(rows.len() >= BAND * stride && band.len() >= stride);
            let blocks = stride / 4 * 4;
            for c in (0..blocks).step_by(4) {
                for half in 0..2 {
                    let l0 = half * 4;
                    // SAFETY: rows l0..l0 + 4 hold `stride` floats each from `c + 3 < stride`
                    // on (asserted above), and band[c..c + 4] exist.
                    unsafe {
                        let p = rows.as_ptr().add(l0 * stride + c);
                        let r0 = _mm_loadu_ps(p);
                        let r1 = _mm_loadu_ps(p.add(stride));
                        let r2 = _mm_loadu_ps(p.add(2 * stride));
                        let r3 = _mm_loadu_ps(p.add(3 * stride));
                        let t0 = _mm_unpacklo_ps(r0, r1);
                        let t1 = _mm_unpacklo_ps(r2, r3);
                        let t2 = _mm_unpackhi_ps(r0, r1);
                        let t3 = _mm_unpackhi_ps(r2, r3);
                        let q = band.as_mut_ptr().add(c) as *mut f32;
                        _mm_storeu_ps(q.add(l0), _mm_movelh_ps(t0, t1));
                        _mm_storeu_ps(q.add(BAND + l0), _mm_movehl_ps(t1, t0));
                        _mm_storeu_ps(q.add(2 * BAND + l0), _mm_movelh_ps(t2, t3));
                        _mm_storeu_ps(q.add(3 * BAND + l0), _mm_movehl_ps(t3, t2));
                    }
                }
            }
            super::transpose_tail(rows, stride, band, blocks);
        }

        #[target_feature(enable = "sse2")]
        pub(super) fn horizontal_band(
            band: &[[f32; BAND]],
            tx: &Taps,
            ch: usize,
            out: &mut [[u8; BAND]],
        ) {
            let n = tx.n;
            let minus_half = _mm_set1_ps(-0.5);
            // Round half up, for sums in [0, 256]: to nearest even, then one up where that
            // went down from an exact half (`r - a` is exact: Sterbenz for a >= 0.5, and
            // -a below). Saturating packs clamp to a byte.
            let round = |a: __m128| {
                let r = _mm_cvtps_epi32(a);
                let d = _mm_sub_ps(_mm_cvtepi32_ps(r), a);
                _mm_sub_epi32(r, _mm_castps_si128(_mm_cmpeq_ps(d, minus_half)))
            };
            for (x, o) in out.chunks_exact_mut(ch).enumerate() {
                let wt = &tx.weights[x * n..(x + 1) * n];
                let s = tx.start[x];
                for (c, o) in o.iter_mut().enumerate() {
                    let mut a0 = _mm_setzero_ps();
                    let mut a1 = _mm_setzero_ps();
                    for (k, &w) in wt.iter().enumerate() {
                        let p = &band[(s + k) * ch + c];
                        let wv = _mm_set1_ps(w);
                        // SAFETY: `p` is BAND = 8 floats.
                        let (lo, hi) =
                            unsafe { (_mm_loadu_ps(p.as_ptr()), _mm_loadu_ps(p.as_ptr().add(4))) };
                        a0 = _mm_add_ps(a0, _mm_mul_ps(wv, lo));
                        a1 = _mm_add_ps(a1, _mm_mul_ps(wv, hi));
                    }
                    let b = _mm_packus_epi16(
                        _mm_packs_epi32(round(a0), round(a1)),
                        _mm_setzero_si128(),
                    );
                    *o = (_mm_cvtsi128_si64(b) as u64).to_le_bytes();
                }
            }
        }
    }
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

    /// Numbers below `m`, from a seeded xorshift generator.
    fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |m| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        }
    }

    #[test]
    fn row_sum_box_reduction_equals_block_by_block() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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

    /// The resampler as a plain loop: per output row, then per output pixel and channel.
    fn resample_per_pixel(
        src: &[u8],
        w: usize,
        h: usize,
        ch: usize,
        nw: usize,
        nh: usize,
    ) -> Vec<u8> {
        let (ty, tx) = (taps(h, nh), taps(w, nw));
        let stride = w * ch;
        let to_u8 = |a: f32| ((a.max(0.0) as f64 + 0.5) as u32).min(255) as u8;
        let mut dst = vec![0u8; nw * nh * ch];
        for y in 0..nh {
            let mut mid = vec![0f32; stride];
            for k in 0..ty.n {
                let wt = ty.weights[y * ty.n + k];
                if wt != 0.0 {
                    for (a, &v) in mid.iter_mut().zip(&src[(ty.start[y] + k) * stride..]) {
                        *a += wt * v as f32;
                    }
                }
            }
            for x in 0..nw {
                for c in 0..ch {
                    let mut acc = 0f32;
                    for k in 0..tx.n {
                        acc += tx.weights[x * tx.n + k] * mid[(tx.start[x] + k) * ch + c];
                    }
                    dst[(y * nw + x) * ch + c] = to_u8(acc);
                }
            }
        }
        dst
    }

    #[test]
    fn banded_resample_equals_the_per_pixel_loop() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for i in 0..150 {
            let (w, h) = (1 + next(300), 1 + next(300));
            let (nw, nh) = (1 + next(240), 1 + next(240));
            let ch = [1, 3, 2, 4][i % 4];
            // Noise, and (every third case) a flat image whose sums land on exact halves.
            let src: Vec<u8> = (0..w * h * ch)
                .map(|_| {
                    if i % 3 == 0 {
                        127 + next(2) as u8
                    } else {
                        next(256) as u8
                    }
                })
                .collect();
            let want = resample_per_pixel(&src, w, h, ch, nw, nh);
            for avx2 in [false, true] {
                assert_eq!(
                    resample_with(&src, w, h, ch, nw, nh, avx2),
                    want,
                    "{w}x{h}x{ch} -> {nw}x{nh}, avx2 {avx2}"
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
