//! Dense kernels shared by clustering and projection: batched squared distances through a
//! GEMM (`||x||^2 - 2 x.c + ||c||^2`), Manhattan distances, row norms.
//!
//! The GEMM is ndarray's (matrixmultiply, SIMD with runtime CPU detection), called on
//! blocks from rayon so both cores work. ndarray stays private to this module: callers
//! pass plain slices.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::Matrix;

/// Rows per block in blocked distance computations. A constant (not derived from the
/// thread count) so that every result is the same on any machine.
pub(crate) const BLOCK: usize = 256;

/// Squared L2 norm of every row, in f32 (accumulated in f64).
pub(crate) fn row_sq_norms(m: &Matrix) -> Vec<f32> {
    let c = m.cols.max(1);
    m.data[..m.rows * m.cols]
        .par_chunks(c)
        .map(|r| r.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() as f32)
        .collect()
}

/// `out[i*n + j] = a_i . b_j` for `a` (m x d) and `b` (n x d), both row-major.
/// Single-threaded: callers parallelise over blocks.
pub(crate) fn gemm_abt(a: &[f32], m: usize, b: &[f32], n: usize, d: usize, out: &mut [f32]) {
    debug_assert_eq!(a.len(), m * d);
    debug_assert_eq!(b.len(), n * d);
    debug_assert_eq!(out.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if d == 0 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    if n <= SMALL_N {
        // Few right-hand rows (the k-means++ candidates): matrixmultiply would spend most
        // of its time packing `a` (80 % of k-means++ in a profile); plain dot products
        // read each row of `a` once.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { small_abt_avx2(a, b, d, n, out) };
            return;
        }
        small_abt(a, b, d, n, out);
        return;
    }
    let av = ArrayView2::from_shape((m, d), a).expect("shape checked above");
    let bv = ArrayView2::from_shape((n, d), b).expect("shape checked above");
    let mut ov = ArrayViewMut2::from_shape((m, n), out).expect("shape checked above");
    general_mat_mul(1.0, &av, &bv.t(), 0.0, &mut ov);
}

/// Right-hand row counts up to which [`gemm_abt`] uses direct dot products.
const SMALL_N: usize = 16;

#[inline(always)]
fn small_abt(a: &[f32], b: &[f32], d: usize, n: usize, out: &mut [f32]) {
    for (o, ai) in out.chunks_exact_mut(n).zip(a.chunks_exact(d)) {
        for (v, bj) in o.iter_mut().zip(b.chunks_exact(d)) {
            *v = dot(ai, bj);
        }
    }
}

/// [`small_abt`] with AVX2 + FMA intrinsics: each 8-float chunk of a row of `a` is loaded
/// once and multiplied into the accumulators of up to four rows of `b`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn small_abt_avx2(a: &[f32], b: &[f32], d: usize, n: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)))
    }
    let d8 = d / 8 * 8;
    for (o, ai) in out.chunks_exact_mut(n).zip(a.chunks_exact(d)) {
        let pa = ai.as_ptr();
        let mut j = 0;
        while j < n {
            let w = (n - j).min(4);
            let pb = b.as_ptr().add(j * d);
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut t = 0;
            while t < d8 {
                let x = _mm256_loadu_ps(pa.add(t));
                for (q, av) in acc.iter_mut().enumerate().take(w) {
                    *av = _mm256_fmadd_ps(x, _mm256_loadu_ps(pb.add(q * d + t)), *av);
                }
                t += 8;
            }
            for (q, av) in acc.iter().enumerate().take(w) {
                let mut r = hsum(*av);
                for t in d8..d {
                    r += ai[t] * b[(j + q) * d + t];
                }
                o[j + q] = r;
            }
            j += w;
        }
    }
}

/// f32 dot product with eight independent accumulators (vectorised by the compiler).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for t in 0..8 {
            s[t] += x[t] * y[t];
        }
    }
    let mut r = (s[0] + s[1]) + (s[2] + s[3]) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        r += x * y;
    }
    r
}

/// `out = a^T b` for `a` (m x p) and `b` (m x q): a (p x q) result. Single-threaded.
pub(crate) fn gemm_atb(a: &[f32], m: usize, p: usize, b: &[f32], q: usize, out: &mut [f32]) {
    if m == 0 || p == 0 || q == 0 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let av = ArrayView2::from_shape((m, p), a).expect("shape");
    let bv = ArrayView2::from_shape((m, q), b).expect("shape");
    let mut ov = ArrayViewMut2::from_shape((p, q), out).expect("shape");
    general_mat_mul(1.0, &av.t(), &bv, 0.0, &mut ov);
}

/// Squared Euclidean distances from a block of rows `a` (m x d, norms `an`) to all rows of
/// `b` (n x d, norms `bn`), written to `out` (m x n), clamped at zero so rounding never
/// yields a negative (and later a NaN square root).
pub(crate) fn sq_dists_block(
    a: &[f32],
    an: &[f32],
    b: &[f32],
    bn: &[f32],
    d: usize,
    out: &mut [f32],
) {
    let m = an.len();
    let n = bn.len();
    gemm_abt(a, m, b, n, d, out);
    for (i, row) in out.chunks_exact_mut(n.max(1)).take(m).enumerate() {
        let ai = an[i];
        for (v, &bj) in row.iter_mut().zip(bn) {
            let s = ai + bj - 2.0 * *v;
            *v = if s > 0.0 { s } else { 0.0 };
        }
    }
}

/// Exact squared Euclidean distance (direct differences, f64 accumulation).
#[inline]
pub(crate) fn sq_euclid(a: &[f32], b: &[f32]) -> f64 {
    let mut s = [0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for t in 0..4 {
            let d = (x[t] - y[t]) as f64;
            s[t] += d * d;
        }
    }
    let mut r = s[0] + s[1] + s[2] + s[3];
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = (x - y) as f64;
        r += d * d;
    }
    r
}

/// Manhattan (L1) distance, f32 with four independent accumulators.
#[inline]
pub(crate) fn manhattan(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for t in 0..8 {
            s[t] += (x[t] - y[t]).abs();
        }
    }
    let mut r = (s[0] + s[1]) + (s[2] + s[3]) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        r += (x - y).abs();
    }
    r
}

/// Index and squared distance of the nearest row of `c` (norms `cn`) for every row of `x`,
/// computed in blocks of [`BLOCK`] rows in parallel. Ties go to the lower index.
pub(crate) fn nearest_sq(x: &Matrix, xn: &[f32], c: &Matrix, cn: &[f32]) -> (Vec<u32>, Vec<f32>) {
    let d = x.cols;
    let k = c.rows;
    let mut labels = vec![0u32; x.rows];
    let mut dists = vec![0f32; x.rows];
    labels
        .par_chunks_mut(BLOCK)
        .zip(dists.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(bi, (lab, dis))| {
            let start = bi * BLOCK;
            let m = lab.len();
            let mut buf = vec![0f32; m * k];
            sq_dists_block(
                &x.data[start * d..(start + m) * d],
                &xn[start..start + m],
                &c.data,
                cn,
                d,
                &mut buf,
            );
            for i in 0..m {
                let row = &buf[i * k..(i + 1) * k];
                let (mut best, mut bd) = (0usize, f32::INFINITY);
                for (j, &v) in row.iter().enumerate() {
                    if v < bd {
                        bd = v;
                        best = j;
                    }
                }
                lab[i] = best as u32;
                dis[i] = bd;
            }
        });
    (labels, dists)
}

/// Nearest index with its squared distance and the second-nearest squared distance
/// (infinity when `c` has one row), for every row of `x`, in parallel blocks.
pub(crate) fn nearest2_sq(x: &Matrix, xn: &[f32], c: &Matrix, cn: &[f32]) -> Vec<(u32, f32, f32)> {
    let d = x.cols;
    let k = c.rows;
    let mut out = vec![(0u32, 0f32, 0f32); x.rows];
    out.par_chunks_mut(BLOCK).enumerate().for_each(|(bi, o)| {
        let start = bi * BLOCK;
        let m = o.len();
        let mut buf = vec![0f32; m * k];
        sq_dists_block(
            &x.data[start * d..(start + m) * d],
            &xn[start..start + m],
            &c.data,
            cn,
            d,
            &mut buf,
        );
        for (i, oi) in o.iter_mut().enumerate() {
            let (mut best, mut bd, mut sd) = (0usize, f32::INFINITY, f32::INFINITY);
            for (j, &v) in buf[i * k..(i + 1) * k].iter().enumerate() {
                if v < bd {
                    sd = bd;
                    bd = v;
                    best = j;
                } else if v < sd {
                    sd = v;
                }
            }
            *oi = (best as u32, bd, sd);
        }
    });
    out
}

/// Full pairwise distance matrix (n x n, row-major) under `metric`, computed in parallel
/// blocks. Euclidean goes through the GEMM; the diagonal is exactly zero.
pub(crate) fn pairwise(x: &Matrix, metric: super::Distance) -> Vec<f32> {
    let n = x.rows;
    let d = x.cols;
    let mut out = vec![0f32; n * n];
    match metric {
        super::Distance::Euclidean => {
            let xn = row_sq_norms(x);
            out.par_chunks_mut(BLOCK * n.max(1))
                .enumerate()
                .for_each(|(bi, blk)| {
                    let start = bi * BLOCK;
                    let m = blk.len() / n.max(1);
                    sq_dists_block(
                        &x.data[start * d..(start + m) * d],
                        &xn[start..start + m],
                        &x.data,
                        &xn,
                        d,
                        blk,
                    );
                    for i in 0..m {
                        let row = &mut blk[i * n..(i + 1) * n];
                        row.iter_mut().for_each(|v| *v = v.sqrt());
                        row[start + i] = 0.0;
                    }
                });
        }
        super::Distance::Manhattan => {
            out.par_chunks_mut(n.max(1))
                .enumerate()
                .for_each(|(i, row)| {
                    let xi = x.row(i);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = if i == j { 0.0 } else { manhattan(xi, x.row(j)) };
                    }
                });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_distances_match_direct() {
        let x = Matrix::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![0.0, -1.0, 2.0],
            vec![1.0, 2.0, 3.0],
        ]);
        let d = pairwise(&x, super::super::Distance::Euclidean);
        for i in 0..3 {
            for j in 0..3 {
                let e = sq_euclid(x.row(i), x.row(j)).sqrt() as f32;
                assert!((d[i * 3 + j] - e).abs() < 1e-5, "{i} {j}");
            }
        }
        assert!(d[2] < 1e-3, "duplicate rows are (nearly) at distance 0");
        let m = pairwise(&x, super::super::Distance::Manhattan);
        assert_eq!(m[1], 5.0);
    }

    #[test]
    fn small_and_large_gemm_paths_agree_with_direct_dots() {
        // d = 21 has a remainder after the 8-float chunks; n = 5 and 6 take the
        // direct path (groups of four plus a tail), n = 20 matrixmultiply's.
        let d = 21;
        let a: Vec<f32> = (0..7 * d)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        for n in [1, 5, 6, 20] {
            let b: Vec<f32> = (0..n * d)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 13.0)
                .collect();
            let mut out = vec![0f32; 7 * n];
            gemm_abt(&a, 7, &b, n, d, &mut out);
            for i in 0..7 {
                for j in 0..n {
                    let want: f64 = (0..d)
                        .map(|t| a[i * d + t] as f64 * b[j * d + t] as f64)
                        .sum();
                    let got = out[i * n + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "n {n} ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
