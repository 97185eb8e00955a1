//! Fusion of the three sources: L2-normalise each source row, multiply by its weight,
//! concatenate, and optionally reduce with PCA. Each source's vectors stay available next
//! to the fused ones, so single-source and fused clustering can be compared.

use std::ops::Range;

use candle_core::{Device, Tensor};

use crate::pipeline::Weights;
use crate::Matrix;

/// Column range of each source (image, meta, text) in the fused vector, given each
/// source's width: `None` for a source with weight 0 (or non-finite) or no columns.
pub fn layout(w: Weights, cols: [usize; 3]) -> [Option<Range<usize>>; 3] {
    let mut off = 0;
    let mut out: [Option<Range<usize>>; 3] = [None, None, None];
    for (slot, (c, wt)) in out
        .iter_mut()
        .zip(cols.into_iter().zip([w.image, w.meta, w.text]))
    {
        if c > 0 && wt != 0.0 && wt.is_finite() {
            *slot = Some(off..off + c);
            off += c;
        }
    }
    out
}

/// Width of the fused vector for this layout.
pub fn layout_width(l: &[Option<Range<usize>>; 3]) -> usize {
    l.iter().flatten().map(|r| r.end).max().unwrap_or(0)
}

/// Scale `row` in place to `w * row / |row|`: the fusion of one source's row. A zero or
/// non-finite norm leaves the values unscaled, and a non-finite value becomes 0, so a
/// fused vector is always finite.
pub fn normalise_weighted(row: &mut [f32], w: f32) {
    let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
    let scale = n > 0.0 && n.is_finite();
    for v in row.iter_mut() {
        let x = if scale { *v / n } else { *v };
        *v = if x.is_finite() { x * w } else { 0.0 };
    }
}

/// Write `src` (row-aligned with `out`) into the columns `block` of `out`, each row
/// L2-normalised and weighted as [`normalise_weighted`] does; a source left out of the
/// layout (`None`) writes nothing.
pub fn put_block(out: &mut Matrix, block: &Option<Range<usize>>, src: &Matrix, w: f32) {
    let Some(b) = block else { return };
    assert_eq!(src.rows, out.rows, "embedding sources must be row-aligned");
    for i in 0..out.rows {
        let dst = &mut out.row_mut(i)[b.clone()];
        dst.copy_from_slice(src.row(i));
        normalise_weighted(dst, w);
    }
}

/// Normalise and weight, in place, the columns `block` of every row of `out`: for a
/// source whose raw vectors were written straight into its block.
pub fn normalise_block(out: &mut Matrix, block: &Option<Range<usize>>, w: f32) {
    let Some(b) = block else { return };
    for i in 0..out.rows {
        normalise_weighted(&mut out.row_mut(i)[b.clone()], w);
    }
}

/// `x` reduced with PCA to `pca_dim` dimensions, or unchanged for `None` or 0.
pub fn reduce(x: Matrix, pca_dim: Option<usize>) -> Matrix {
    match pca_dim {
        Some(d) if d > 0 => pca(&x, d),
        _ => x,
    }
}

/// Weighted concatenation of the L2-normalised sources, optionally reduced to `pca`
/// dimensions. A source with weight 0 or no columns is left out. Rows must agree.
pub fn fuse(
    image: &Matrix,
    meta: &Matrix,
    text: &Matrix,
    w: Weights,
    pca_dim: Option<usize>,
) -> Matrix {
    let rows = image.rows.max(meta.rows).max(text.rows);
    let blocks = layout(w, [image.cols, meta.cols, text.cols]);
    let mut out = Matrix::zeros(rows, layout_width(&blocks));
    put_block(&mut out, &blocks[0], image, w.image);
    put_block(&mut out, &blocks[1], meta, w.meta);
    put_block(&mut out, &blocks[2], text, w.text);
    reduce(out, pca_dim)
}

fn mm(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
    let run = || -> candle_core::Result<Vec<f32>> {
        let a = Tensor::from_slice(a, (m, k), &Device::Cpu)?;
        let b = Tensor::from_slice(b, (k, n), &Device::Cpu)?;
        a.matmul(&b)?.flatten_all()?.to_vec1()
    };
    run().unwrap_or_else(|_| {
        // Plain fallback; candle only fails here on a shape bug.
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for p in 0..k {
                let av = a[i * k + p];
                for j in 0..n {
                    c[i * n + j] += av * b[p * n + j];
                }
            }
        }
        c
    })
}

fn transpose(a: &[f32], m: usize, n: usize) -> Vec<f32> {
    let mut t = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            t[j * m + i] = a[i * n + j];
        }
    }
    t
}

/// Orthonormalise the columns of `q` (`c x d`) in place (modified Gram-Schmidt, twice);
/// a column that becomes numerically zero is set to zero, never NaN.
fn orthonormalise(q: &mut [f32], c: usize, d: usize) {
    for j in 0..d {
        for _ in 0..2 {
            for p in 0..j {
                let dot: f64 = (0..c)
                    .map(|i| q[i * d + j] as f64 * q[i * d + p] as f64)
                    .sum();
                for i in 0..c {
                    q[i * d + j] -= (dot as f32) * q[i * d + p];
                }
            }
        }
        let n: f64 = (0..c)
            .map(|i| (q[i * d + j] as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        for i in 0..c {
            q[i * d + j] = if n > 1e-10 {
                (q[i * d + j] as f64 / n) as f32
            } else {
                0.0
            };
        }
    }
}

/// Eigen-decomposition of a small symmetric matrix (cyclic Jacobi): (values, vectors as
/// columns of a row-major `d x d` matrix).
fn jacobi_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        let scale: f64 = (0..d)
            .map(|i| a[i * d + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let akp = a[k * d + p];
                    let akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let apk = a[p * d + k];
                    let aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let vkp = v[k * d + p];
                    let vkq = v[k * d + q];
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// Deterministic PCA of the rows of `x` to `d` dimensions: centre, then subspace (block
/// power) iteration on the covariance with Rayleigh-Ritz, components ordered by variance
/// and signed so that each one's largest loading is positive. Constant columns and
/// duplicate rows are fine (zero-variance directions project to 0, never NaN). If `d` is
/// at least the number of columns, the centred data is returned unchanged.
pub fn pca(x: &Matrix, d: usize) -> Matrix {
    let (n, c) = (x.rows, x.cols);
    if n == 0 || c == 0 {
        return Matrix::zeros(n, d.min(c));
    }
    let mut mean = vec![0f64; c];
    for r in x.iter_rows() {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut xc = x.data.clone();
    for r in xc.chunks_exact_mut(c) {
        for (v, m) in r.iter_mut().zip(&mean) {
            *v = if v.is_finite() {
                (*v as f64 - m) as f32
            } else {
                0.0
            };
        }
    }
    if d >= c {
        return Matrix::from_vec(n, c, xc);
    }
    let xt = transpose(&xc, n, c);
    let mut cov = mm(&xt, c, n, &xc, c);
    let inv = 1.0 / (n.max(2) - 1) as f32;
    cov.iter_mut().for_each(|v| *v *= inv);

    // Oversampled block, deterministic start.
    let b = (d + 8).min(c);
    let mut q: Vec<f32> = (0..c * b)
        .map(|i| {
            let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((h >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    orthonormalise(&mut q, c, b);
    for _ in 0..40 {
        q = mm(&cov, c, c, &q, b);
        orthonormalise(&mut q, c, b);
    }
    // Rayleigh-Ritz: eigenvectors of Q^T C Q rotate the block onto the components.
    let cq = mm(&cov, c, c, &q, b);
    let small = mm(&transpose(&q, c, b), b, c, &cq, b);
    let small64: Vec<f64> = small.iter().map(|&v| v as f64).collect();
    let (vals, vecs) = jacobi_eigen(&small64, b);
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| vals[j].total_cmp(&vals[i]));
    let mut comps = vec![0f32; c * d];
    for (k, &e) in order.iter().take(d).enumerate() {
        let mut col: Vec<f64> = (0..c)
            .map(|i| (0..b).map(|j| q[i * b + j] as f64 * vecs[j * b + e]).sum())
            .collect();
        let big = col
            .iter()
            .copied()
            .fold(0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if big < 0.0 {
            col.iter_mut().for_each(|v| *v = -*v);
        }
        for i in 0..c {
            comps[i * d + k] = col[i] as f32;
        }
    }
    let mut out = mm(&xc, n, c, &comps, d);
    out.iter_mut().for_each(|v| {
        if !v.is_finite() {
            *v = 0.0
        }
    });
    Matrix::from_vec(n, d, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_normalises_weights_and_concatenates() {
        let image = Matrix::from_rows(&[vec![3.0, 4.0], vec![0.0, 0.0]]);
        let meta = Matrix::from_rows(&[vec![2.0], vec![-5.0]]);
        let text = Matrix::from_rows(&[vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 2.0]]);
        let f = fuse(
            &image,
            &meta,
            &text,
            Weights {
                image: 1.0,
                meta: 0.5,
                text: 2.0,
            },
            None,
        );
        assert_eq!((f.rows, f.cols), (2, 6));
        assert_eq!(f.row(0), &[0.6, 0.8, 0.5, 2.0, 0.0, 0.0]);
        assert_eq!(f.row(1), &[0.0, 0.0, -0.5, 0.0, 0.0, 2.0]);
        let no_meta = fuse(
            &image,
            &meta,
            &text,
            Weights {
                image: 1.0,
                meta: 0.0,
                text: 1.0,
            },
            None,
        );
        assert_eq!(no_meta.cols, 5);
    }

    #[test]
    fn pca_recovers_the_dominant_direction_and_orders_by_variance() {
        // Points on a line along (1, 1, 0, 0) plus a small spread along (0, 0, 1, 0), and a
        // constant column.
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                let t = i as f32 - 25.0;
                vec![t, t, 0.1 * ((i % 5) as f32 - 2.0), 7.0]
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let p = pca(&x, 2);
        assert_eq!((p.rows, p.cols), (50, 2));
        // First component: the centred projection on (1,1)/sqrt2, with a positive sign.
        for (i, r) in p.iter_rows().enumerate() {
            let t = i as f32 - 24.5;
            assert!((r[0] - t * 2f32.sqrt()).abs() < 0.05, "row {i}: {r:?}");
        }
        let (c0, c1): (Vec<f32>, Vec<f32>) = p.iter_rows().map(|r| (r[0], r[1])).unzip();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(dot(&c0, &c0) > 100.0 * dot(&c1, &c1), "ordered by variance");
        assert!(
            dot(&c1, &c1) > 0.1,
            "second component carries the small spread"
        );
        assert!(
            dot(&c0, &c1).abs() < 1e-2 * (dot(&c0, &c0) * dot(&c1, &c1)).sqrt(),
            "uncorrelated"
        );
        assert_eq!(pca(&x, 2), p, "deterministic");
    }

    #[test]
    fn pca_of_constant_or_duplicate_rows_is_finite() {
        let x = Matrix::from_rows(&vec![vec![1.0, 2.0, 3.0, 4.0]; 6]);
        let p = pca(&x, 2);
        assert_eq!((p.rows, p.cols), (6, 2));
        assert!(p.data.iter().all(|v| *v == 0.0));
        let one = pca(&Matrix::from_rows(&[vec![1.0, 2.0, 3.0]]), 2);
        assert!(one.data.iter().all(|v| v.is_finite()));
    }
}
