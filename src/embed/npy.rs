//! A minimal `.npy` writer (format version 1.0, little-endian float32, C order), so that
//! Python reads the outputs with `numpy.load`.

use std::io::{self, Write};
use std::path::Path;

use crate::Matrix;

/// The `.npy` header for a `rows x cols` float32 C-order array, padded so that the data
/// starts on a 64-byte boundary.
pub fn header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let len = dict.len() + pad + 1;
    let mut h = Vec::with_capacity(10 + len);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&(len as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.extend(std::iter::repeat_n(b' ', pad));
    h.push(b'\n');
    h
}

/// Write `m` to `w` as `.npy`.
pub fn write_to(w: &mut impl Write, m: &Matrix) -> io::Result<()> {
    w.write_all(&header(m.rows, m.cols))?;
    let mut buf = Vec::with_capacity(m.data.len().min(1 << 16) * 4);
    for chunk in m.data.chunks(1 << 16) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Write `m` to `path` as `.npy`, atomically.
pub fn write_f32(path: &Path, m: &Matrix) -> io::Result<()> {
    crate::atomic::write_atomic_with(path, |w| write_to(w, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a version 1.0 float32 `.npy` back: (shape, data).
    fn parse(bytes: &[u8]) -> ((usize, usize), Vec<f32>) {
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0, "data must be 64-byte aligned");
        let dict = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(dict.ends_with('\n'));
        assert!(
            dict.contains("'descr': '<f4'") && dict.contains("'fortran_order': False"),
            "{dict}"
        );
        let shape = dict
            .split("'shape': (")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap();
        let dims: Vec<usize> = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let data = bytes[10 + len..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        ((dims[0], dims[1]), data)
    }

    #[test]
    fn header_is_valid_and_data_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let m = Matrix::from_rows(&[vec![1.0, -2.5, 3.25], vec![0.0, f32::MAX, 1e-7]]);
        write_f32(&p, &m).unwrap();
        let (shape, data) = parse(&std::fs::read(&p).unwrap());
        assert_eq!(shape, (2, 3));
        assert_eq!(data, m.data);
        let (shape, data) = parse(&{
            let mut v = Vec::new();
            write_to(&mut v, &Matrix::zeros(0, 1280)).unwrap();
            v
        });
        assert_eq!((shape, data.len()), ((0, 1280), 0));
    }
}
