//! A dense row-major `f32` matrix: the one type that crosses module boundaries for
//! embeddings, so that no ndarray version leaks into public APIs.

use serde::{Deserialize, Serialize};

/// Row-major `rows x cols` matrix of `f32`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Panics if `data.len() != rows * cols` (a programming error, never user input).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data length mismatch");
        Self { rows, cols, data }
    }

    pub fn from_rows(rows: &[Vec<f32>]) -> Self {
        let cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * cols);
        for r in rows {
            assert_eq!(r.len(), cols, "ragged rows");
            data.extend_from_slice(r);
        }
        Self {
            rows: rows.len(),
            cols,
            data,
        }
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.data[i * c..(i + 1) * c]
    }

    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        // `max(1)` keeps chunks_exact valid for a 0-column matrix.
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    /// A new matrix holding the given rows, in order.
    /// Keep only the rows `keep` (ascending, each below `rows`), in place: no second
    /// copy of the matrix is made. A matrix with no rows stays empty.
    pub fn retain_rows(&mut self, keep: &[usize]) {
        if self.rows == 0 {
            return;
        }
        let c = self.cols;
        for (to, &from) in keep.iter().enumerate() {
            debug_assert!(from >= to && from < self.rows, "keep must ascend");
            if from != to {
                self.data.copy_within(from * c..(from + 1) * c, to * c);
            }
        }
        self.rows = keep.len();
        self.data.truncate(keep.len() * c);
        self.data.shrink_to_fit();
    }

    pub fn select_rows(&self, idx: &[usize]) -> Self {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Self {
            rows: idx.len(),
            cols: self.cols,
            data,
        }
    }

    /// L2-normalise every row in place; zero rows stay zero (never NaN).
    pub fn l2_normalize_rows(&mut self) {
        let c = self.cols.max(1);
        for r in self.data.chunks_exact_mut(c) {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            if n > 0.0 && n.is_finite() {
                r.iter_mut().for_each(|v| *v /= n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_rows_keeps_the_listed_rows_in_order() {
        let mut m = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
        let expected = m.select_rows(&[0, 2]);
        m.retain_rows(&[0, 2]);
        assert_eq!(m, expected);
        let mut empty = Matrix::zeros(0, 4);
        empty.retain_rows(&[]);
        assert_eq!((empty.rows, empty.cols), (0, 4));
    }

    #[test]
    fn normalise_keeps_zero_rows_finite() {
        let mut m = Matrix::from_rows(&[vec![3.0, 4.0], vec![0.0, 0.0]]);
        m.l2_normalize_rows();
        assert_eq!(m.row(0), &[0.6, 0.8]);
        assert_eq!(m.row(1), &[0.0, 0.0]);
    }

    #[test]
    fn select_rows_keeps_order() {
        let m = Matrix::from_rows(&[vec![1.0], vec![2.0], vec![3.0]]);
        assert_eq!(m.select_rows(&[2, 0]).data, vec![3.0, 1.0]);
    }
}
