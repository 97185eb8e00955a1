//! A float canvas and the few filled shapes the phantoms are drawn from.
//!
//! Shapes are given in object units (1.0 = half the shorter image side, origin at the
//! image centre, y down) and placed through a per-instance similarity transform, so one
//! description yields many sizes, rotations and positions. Each shape is rasterised over
//! its own bounding box only.

use super::rng::Rng;

/// How a shape combines with what is already painted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Set(f32),
    Add(f32),
}

impl Op {
    #[inline]
    fn apply(self, p: &mut f32) {
        match self {
            Op::Set(v) => *p = v,
            Op::Add(v) => *p += v,
        }
    }
}

/// Object units to pixels: scale, rotation, translation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Xf {
    cx: f32,
    cy: f32,
    s: f32,
    cos: f32,
    sin: f32,
    angle: f32,
}

impl Xf {
    /// Centred on a `w` x `h` image, with extra `scale`, `rot_deg` and shift in object units.
    pub(crate) fn new(w: usize, h: usize, scale: f32, rot_deg: f32, dx: f32, dy: f32) -> Self {
        let s = 0.5 * w.min(h) as f32 * scale;
        let a = rot_deg.to_radians();
        Xf {
            cx: 0.5 * w as f32 + dx * s,
            cy: 0.5 * h as f32 + dy * s,
            s,
            cos: a.cos(),
            sin: a.sin(),
            angle: a,
        }
    }
    #[inline]
    pub(crate) fn pt(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.cx + self.s * (self.cos * x - self.sin * y),
            self.cy + self.s * (self.sin * x + self.cos * y),
        )
    }
    pub(crate) fn len(&self, l: f32) -> f32 {
        l * self.s
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Canvas {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Canvas {
    pub(crate) fn new(w: usize, h: usize, fill: f32) -> Self {
        Canvas {
            w,
            h,
            px: vec![fill; w * h],
        }
    }

    /// Pixel rows and columns covering `[x0, x1] x [y0, y1]`, clipped.
    fn bbox(&self, x0: f32, x1: f32, y0: f32, y1: f32) -> (usize, usize, usize, usize) {
        let cl = |v: f32, n: usize| v.max(0.0).min(n as f32) as usize;
        (
            cl(x0.floor(), self.w),
            cl(x1.ceil() + 1.0, self.w),
            cl(y0.floor(), self.h),
            cl(y1.ceil() + 1.0, self.h),
        )
    }

    /// Filled ellipse centred at `(x, y)` with semi-axes `rx`, `ry`, turned by `deg`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ellipse(&mut self, xf: &Xf, x: f32, y: f32, rx: f32, ry: f32, deg: f32, op: Op) {
        let (cx, cy) = xf.pt(x, y);
        let (a, b) = (xf.len(rx).max(0.5), xf.len(ry).max(0.5));
        let t = deg.to_radians() + xf.angle;
        let (c, s) = (t.cos(), t.sin());
        let ex = (a * a * c * c + b * b * s * s).sqrt();
        let ey = (a * a * s * s + b * b * c * c).sqrt();
        let (i0, i1, j0, j1) = self.bbox(cx - ex, cx + ex, cy - ey, cy + ey);
        let (ia, ib) = (1.0 / a, 1.0 / b);
        for j in j0..j1 {
            let dy = j as f32 + 0.5 - cy;
            let row = &mut self.px[j * self.w..(j + 1) * self.w];
            for (i, p) in row.iter_mut().enumerate().take(i1).skip(i0) {
                let dx = i as f32 + 0.5 - cx;
                let u = (dx * c + dy * s) * ia;
                let v = (-dx * s + dy * c) * ib;
                if u * u + v * v <= 1.0 {
                    op.apply(p);
                }
            }
        }
    }

    /// Ellipse shell of thickness `t` (object units), drawn as outer minus inner.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ring(
        &mut self,
        xf: &Xf,
        x: f32,
        y: f32,
        rx: f32,
        ry: f32,
        t: f32,
        deg: f32,
        op: Op,
    ) {
        let (cx, cy) = xf.pt(x, y);
        let (a, b) = (xf.len(rx).max(0.5), xf.len(ry).max(0.5));
        let (a2, b2) = (xf.len(rx - t).max(0.5), xf.len(ry - t).max(0.5));
        let th = deg.to_radians() + xf.angle;
        let (c, s) = (th.cos(), th.sin());
        let e = a.max(b);
        let (i0, i1, j0, j1) = self.bbox(cx - e, cx + e, cy - e, cy + e);
        for j in j0..j1 {
            let dy = j as f32 + 0.5 - cy;
            let row = &mut self.px[j * self.w..(j + 1) * self.w];
            for (i, p) in row.iter_mut().enumerate().take(i1).skip(i0) {
                let dx = i as f32 + 0.5 - cx;
                let u = dx * c + dy * s;
                let v = -dx * s + dy * c;
                let outer = (u / a).powi(2) + (v / b).powi(2) <= 1.0;
                let inner = (u / a2).powi(2) + (v / b2).powi(2) <= 1.0;
                if outer && !inner {
                    op.apply(p);
                }
            }
        }
    }

    /// Filled rectangle with half sides `hw`, `hh`, turned by `deg`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rect(&mut self, xf: &Xf, x: f32, y: f32, hw: f32, hh: f32, deg: f32, op: Op) {
        let (cx, cy) = xf.pt(x, y);
        let (a, b) = (xf.len(hw), xf.len(hh));
        let t = deg.to_radians() + xf.angle;
        let (c, s) = (t.cos(), t.sin());
        let ex = a * c.abs() + b * s.abs();
        let ey = a * s.abs() + b * c.abs();
        let (i0, i1, j0, j1) = self.bbox(cx - ex, cx + ex, cy - ey, cy + ey);
        for j in j0..j1 {
            let dy = j as f32 + 0.5 - cy;
            let row = &mut self.px[j * self.w..(j + 1) * self.w];
            for (i, p) in row.iter_mut().enumerate().take(i1).skip(i0) {
                let dx = i as f32 + 0.5 - cx;
                if (dx * c + dy * s).abs() <= a && (-dx * s + dy * c).abs() <= b {
                    op.apply(p);
                }
            }
        }
    }

    /// Segment from `(x0, y0)` to `(x1, y1)` thickened to radius `r`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn capsule(&mut self, xf: &Xf, x0: f32, y0: f32, x1: f32, y1: f32, r: f32, op: Op) {
        let (ax, ay) = xf.pt(x0, y0);
        let (bx, by) = xf.pt(x1, y1);
        let rr = xf.len(r).max(0.5);
        let (i0, i1, j0, j1) = self.bbox(
            ax.min(bx) - rr,
            ax.max(bx) + rr,
            ay.min(by) - rr,
            ay.max(by) + rr,
        );
        let (ux, uy) = (bx - ax, by - ay);
        let l2 = (ux * ux + uy * uy).max(1e-6);
        let r2 = rr * rr;
        for j in j0..j1 {
            let py = j as f32 + 0.5 - ay;
            let row = &mut self.px[j * self.w..(j + 1) * self.w];
            for (i, p) in row.iter_mut().enumerate().take(i1).skip(i0) {
                let px = i as f32 + 0.5 - ax;
                let t = ((px * ux + py * uy) / l2).clamp(0.0, 1.0);
                let (qx, qy) = (px - t * ux, py - t * uy);
                if qx * qx + qy * qy <= r2 {
                    op.apply(p);
                }
            }
        }
    }

    /// A polyline of capsules with radius tapering linearly from `r0` to `r1`.
    pub(crate) fn path(&mut self, xf: &Xf, pts: &[(f32, f32)], r0: f32, r1: f32, op: Op) {
        let n = pts.len().saturating_sub(1).max(1) as f32;
        for (k, w) in pts.windows(2).enumerate() {
            let r = r0 + (r1 - r0) * (k as f32 / n);
            self.capsule(xf, w[0].0, w[0].1, w[1].0, w[1].1, r, op);
        }
    }

    /// Additive Gaussian noise.
    pub(crate) fn noise(&mut self, rng: &mut Rng, sigma: f32) {
        if sigma > 0.0 {
            for p in &mut self.px {
                *p += sigma * rng.gauss();
            }
        }
    }

    /// Noise whose standard deviation grows with the square root of the signal, as in
    /// photon counting (`gain` scales it).
    pub(crate) fn shot_noise(&mut self, rng: &mut Rng, gain: f32) {
        for p in &mut self.px {
            let v = p.max(0.0);
            *p = (v + gain * v.sqrt() * rng.gauss()).max(0.0);
        }
    }

    /// One 3x3 box-blur pass (edges clamp).
    pub(crate) fn blur(&mut self) {
        let (w, h) = (self.w, self.h);
        let src = self.px.clone();
        for j in 0..h {
            for i in 0..w {
                let mut s = 0.0;
                for dj in [-1i64, 0, 1] {
                    let jj = (j as i64 + dj).clamp(0, h as i64 - 1) as usize;
                    for di in [-1i64, 0, 1] {
                        let ii = (i as i64 + di).clamp(0, w as i64 - 1) as usize;
                        s += src[jj * w + ii];
                    }
                }
                self.px[j * w + i] = s / 9.0;
            }
        }
    }

    pub(crate) fn map(&mut self, f: impl Fn(f32) -> f32) {
        for p in &mut self.px {
            *p = f(*p);
        }
    }

    /// Mean over the pixels where `keep(x, y)` holds, `x`, `y` in pixels.
    #[cfg(test)]
    pub(crate) fn mean_where(&self, keep: impl Fn(usize, usize) -> bool) -> f32 {
        let (mut s, mut n) = (0.0f64, 0usize);
        for j in 0..self.h {
            for i in 0..self.w {
                if keep(i, j) {
                    s += f64::from(self.px[j * self.w + i]);
                    n += 1;
                }
            }
        }
        (s / n.max(1) as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipse_area_matches_formula() {
        let mut c = Canvas::new(200, 200, 0.0);
        let xf = Xf::new(200, 200, 1.0, 30.0, 0.0, 0.0);
        c.ellipse(&xf, 0.0, 0.0, 0.5, 0.25, 10.0, Op::Set(1.0));
        let area: f32 = c.px.iter().sum();
        let want = std::f32::consts::PI * 50.0 * 25.0;
        assert!((area - want).abs() / want < 0.02, "area {area} vs {want}");
    }

    #[test]
    fn capsule_and_rect_cover_expected_pixels() {
        let mut c = Canvas::new(100, 100, 0.0);
        let xf = Xf::new(100, 100, 1.0, 0.0, 0.0, 0.0);
        c.rect(&xf, 0.0, 0.0, 0.2, 0.1, 0.0, Op::Add(1.0));
        // 20 x 10 pixels.
        assert_eq!(c.px.iter().filter(|&&p| p > 0.5).count(), 200);
        c.capsule(&xf, -0.5, 0.5, 0.5, 0.5, 0.05, Op::Set(5.0));
        assert_eq!(c.px[75 * 100 + 50], 5.0);
        assert_eq!(c.px[50 * 100 + 50], 1.0);
        assert_eq!(c.px[10 * 100 + 10], 0.0);
    }

    #[test]
    fn transform_rotates_about_centre() {
        let xf = Xf::new(100, 100, 1.0, 90.0, 0.0, 0.0);
        let (x, y) = xf.pt(1.0, 0.0);
        assert!(
            (x - 50.0).abs() < 1e-3 && (y - 100.0).abs() < 1e-3,
            "{x} {y}"
        );
    }
}
