//! Phantom images for each class: matrix layout, painting in physical units, and
//! quantisation to stored pixel values.
//!
//! CT is painted in Hounsfield units and stored through a rescale intercept; MR in
//! arbitrary signal units with Rician-like noise; radiographs, mammograms, ultrasound and
//! angiography in a 0..1 brightness scaled to the stored bit depth; NM in counts with
//! photon noise.

use std::f32::consts::PI;

use super::canvas::{Canvas, Op, Xf};
use super::classes::Kind;
use super::rng::Rng;

/// Native pixel data of one instance, exactly as written to (and decoded from) the file.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredImage {
    pub rows: u16,
    pub columns: u16,
    pub frames: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    /// PixelRepresentation 1 (two's complement).
    pub signed: bool,
    /// `MONOCHROME1`, `MONOCHROME2` or `RGB`.
    pub photometric: &'static str,
    /// Rescale (intercept, slope) to write, CT only.
    pub rescale: Option<(f64, f64)>,
    /// Pixel Padding Value outside the reconstruction circle, CT only.
    pub padding: Option<i32>,
    /// A plausible VOI window (centre, width) in rescaled units.
    pub window: (f64, f64),
    /// Little-endian samples, frames concatenated, colour interleaved.
    pub data: Vec<u8>,
}

impl StoredImage {
    pub fn frame_len(&self) -> usize {
        self.rows as usize
            * self.columns as usize
            * self.samples_per_pixel as usize
            * (self.bits_allocated as usize / 8)
    }
}

/// Per-instance placement and appearance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    pub scale: f32,
    pub rot: f32,
    pub dx: f32,
    pub dy: f32,
    /// Intensity gain (non-CT).
    pub gain: f32,
    /// Noise multiplier.
    pub noise: f32,
    /// Position of the slice or view within its series, 0..1.
    pub z: f32,
    /// Mirror left-right (laterality, hand side, patient orientation).
    pub mirror: bool,
    /// Seed of structures that stay fixed across the frames of one instance.
    pub shape: u64,
}

impl Look {
    pub(crate) fn draw(kind: Kind, z: f32, rng: &mut Rng) -> Self {
        let rot = match kind {
            // Hands and knees are laid on the plate at any angle.
            Kind::XrHand => rng.range(-25.0, 25.0),
            Kind::XrChestPa | Kind::XrPelvis | Kind::MgBreast | Kind::NmWholeBody => {
                rng.range(-4.0, 4.0)
            }
            _ => rng.range(-12.0, 12.0),
        };
        Look {
            scale: rng.range(0.82, 1.08),
            rot,
            dx: rng.range(-0.08, 0.08),
            dy: rng.range(-0.08, 0.08),
            gain: rng.range(0.8, 1.15),
            noise: rng.range(0.5, 1.6),
            z,
            mirror: rng.chance(0.5),
            shape: rng.next_u64(),
        }
    }
}

/// How physical values become stored ones.
#[derive(Clone, Copy, Debug)]
struct Quant {
    gain: f32,
    offset: f32,
    lo: i32,
    hi: i32,
    mono1: bool,
}

impl Quant {
    #[inline]
    fn q(&self, v: f32) -> i32 {
        let s = ((v * self.gain + self.offset).round() as i32).clamp(self.lo, self.hi);
        if self.mono1 {
            self.hi - s
        } else {
            s
        }
    }
}

/// Matrix, depth and frame count for one instance.
#[derive(Clone, Copy, Debug)]
struct Layout {
    w: usize,
    h: usize,
    frames: usize,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    rgb: bool,
    mono1: bool,
}

fn layout(kind: Kind, rng: &mut Rng) -> Layout {
    let sq = |rng: &mut Rng, sizes: &[(usize, f32)]| {
        let s = rng.weighted(sizes);
        (s, s)
    };
    let mut l = Layout {
        w: 256,
        h: 256,
        frames: 1,
        bits_allocated: 16,
        bits_stored: 12,
        signed: false,
        rgb: false,
        mono1: false,
    };
    match kind {
        Kind::CtHead | Kind::CtChest | Kind::CtAbdomen | Kind::CtPelvis => {
            (l.w, l.h) = sq(rng, &[(256, 0.6), (320, 0.2), (384, 0.12), (512, 0.08)]);
            if rng.chance(0.4) {
                l.signed = true;
                l.bits_stored = 16;
            }
        }
        Kind::MrBrainT1 | Kind::MrBrainT2 | Kind::MrKnee => {
            (l.w, l.h) = sq(rng, &[(192, 0.2), (256, 0.5), (320, 0.2), (384, 0.1)]);
            l.bits_stored = if rng.chance(0.8) { 12 } else { 16 };
        }
        Kind::MrLspine => {
            l.w = *rng.pick(&[224, 256, 288]);
            l.h = l.w * 5 / 4;
            l.bits_stored = if rng.chance(0.8) { 12 } else { 16 };
        }
        Kind::XrChestPa | Kind::XrHand | Kind::XrKnee => {
            l.w = *rng.pick(&[256, 288, 320, 384]);
            l.h = l.w * 5 / 4;
            xr_depth(&mut l, rng);
        }
        Kind::XrPelvis => {
            l.h = *rng.pick(&[256, 288, 320]);
            l.w = l.h * 5 / 4;
            xr_depth(&mut l, rng);
        }
        Kind::UsAbdomen => {
            l.h = *rng.pick(&[240, 288, 360, 384]);
            l.w = l.h * 4 / 3;
            l.bits_allocated = 8;
            l.bits_stored = 8;
            l.rgb = rng.chance(0.3);
            l.frames = if rng.chance(0.3) {
                rng.int(2, 5) as usize
            } else {
                1
            };
        }
        Kind::MgBreast => {
            l.w = *rng.pick(&[256, 320, 384]);
            l.h = l.w * 5 / 4;
            if rng.chance(0.15) {
                l.bits_allocated = 8;
                l.bits_stored = 8;
            } else {
                l.bits_stored = *rng.pick(&[12, 14]);
            }
            l.mono1 = rng.chance(0.15);
        }
        Kind::NmWholeBody => {
            l.w = *rng.pick(&[64, 128]);
            l.h = l.w * 4;
            l.frames = if rng.chance(0.6) { 2 } else { 1 };
            if rng.chance(0.2) {
                l.bits_allocated = 8;
                l.bits_stored = 8;
            } else {
                l.bits_stored = 16;
            }
        }
        Kind::XaCoronary => {
            (l.w, l.h) = sq(rng, &[(256, 0.6), (384, 0.3), (512, 0.1)]);
            l.frames = if rng.chance(0.75) {
                rng.int(2, if l.w > 384 { 3 } else { 6 }) as usize
            } else {
                1
            };
            if rng.chance(0.8) {
                l.bits_allocated = 8;
                l.bits_stored = 8;
            } else {
                l.bits_stored = 10;
            }
        }
    }
    l
}

fn xr_depth(l: &mut Layout, rng: &mut Rng) {
    if rng.chance(0.12) {
        l.bits_allocated = 8;
        l.bits_stored = 8;
    } else {
        l.bits_stored = *rng.pick(&[10, 12, 12, 14]);
    }
    l.mono1 = rng.chance(0.3);
}

/// Render the stored pixels of one instance from its own RNG.
pub(crate) fn render(kind: Kind, look: &Look, rng: &mut Rng) -> StoredImage {
    let l = layout(kind, rng);
    let max = ((1u32 << l.bits_stored) - 1) as f32;
    let mut frames: Vec<[Canvas; 3]> = Vec::with_capacity(l.frames);
    for f in 0..l.frames {
        let t = if l.frames > 1 {
            f as f32 / (l.frames - 1) as f32
        } else {
            0.5
        };
        frames.push(paint(kind, &l, look, t, f, rng));
    }
    let is_ct = matches!(
        kind,
        Kind::CtHead | Kind::CtChest | Kind::CtAbdomen | Kind::CtPelvis
    );
    let (quant, rescale, padding) = if is_ct {
        if l.signed {
            (
                Quant {
                    gain: 1.0,
                    offset: 0.0,
                    lo: -2000,
                    hi: 3071,
                    mono1: false,
                },
                Some((0.0, 1.0)),
                Some(-2000),
            )
        } else {
            (
                Quant {
                    gain: 1.0,
                    offset: 1024.0,
                    lo: 0,
                    hi: 4095,
                    mono1: false,
                },
                Some((-1024.0, 1.0)),
                Some(0),
            )
        }
    } else {
        let scale = match kind {
            // MR and NM are painted in signal units already.
            Kind::MrBrainT1 | Kind::MrBrainT2 | Kind::MrKnee | Kind::MrLspine => {
                look.gain * max / 1600.0
            }
            Kind::NmWholeBody => (max / 255.0).min(1.0),
            _ => look.gain.min(1.0) * max,
        };
        (
            Quant {
                gain: scale,
                offset: 0.0,
                lo: 0,
                hi: max as i32,
                mono1: l.mono1,
            },
            None,
            None,
        )
    };
    let window = if is_ct {
        ct_window(kind, rng)
    } else {
        (0.0, 0.0)
    };
    let samples = if l.rgb { 3 } else { 1 };
    let bytes = (l.bits_allocated / 8) as usize;
    let mut data = Vec::with_capacity(l.w * l.h * samples * bytes * l.frames);
    let (mut vmin, mut vmax) = (i32::MAX, i32::MIN);
    for fr in &frames {
        for p in 0..l.w * l.h {
            for ch in fr.iter().take(samples) {
                let s = quant.q(ch.px[p]);
                vmin = vmin.min(s);
                vmax = vmax.max(s);
                if bytes == 1 {
                    data.push(s as u8);
                } else {
                    data.extend_from_slice(&(s as i16 as u16).to_le_bytes());
                }
            }
        }
    }
    let window = if is_ct {
        window
    } else {
        (0.5 * (vmin + vmax) as f64, (vmax - vmin).max(1) as f64)
    };
    StoredImage {
        rows: l.h as u16,
        columns: l.w as u16,
        frames: l.frames as u32,
        samples_per_pixel: samples as u16,
        bits_allocated: l.bits_allocated,
        bits_stored: l.bits_stored,
        signed: l.signed,
        photometric: if l.rgb {
            "RGB"
        } else if l.mono1 {
            "MONOCHROME1"
        } else {
            "MONOCHROME2"
        },
        rescale,
        padding,
        window,
        data,
    }
}

fn ct_window(kind: Kind, rng: &mut Rng) -> (f64, f64) {
    match kind {
        Kind::CtHead => *rng.pick(&[(40.0, 80.0), (35.0, 100.0), (600.0, 2800.0)]),
        Kind::CtChest => *rng.pick(&[(-600.0, 1500.0), (-500.0, 1400.0), (40.0, 400.0)]),
        _ => *rng.pick(&[(40.0, 400.0), (50.0, 350.0), (400.0, 1800.0)]),
    }
}

/// Paint one frame: grey in channel 0, and all three channels for RGB.
fn paint(kind: Kind, l: &Layout, look: &Look, t: f32, frame: usize, rng: &mut Rng) -> [Canvas; 3] {
    let (w, h) = (l.w, l.h);
    let mut xf = Xf::new(w, h, look.scale, look.rot, look.dx, look.dy);
    let m = if look.mirror { -1.0 } else { 1.0 };
    let mut c = Canvas::new(w, h, 0.0);
    let empty = || Canvas::new(0, 0, 0.0);
    match kind {
        Kind::CtHead => {
            ct_head(&mut c, &xf, look.z, rng);
            ct_finish(&mut c, rng, look.noise, 3.0, 8.0);
        }
        Kind::CtChest => {
            ct_chest(&mut c, &xf, look.z, rng);
            ct_finish(&mut c, rng, look.noise, 8.0, 20.0);
        }
        Kind::CtAbdomen => {
            ct_abdomen(&mut c, &xf, m, rng);
            ct_finish(&mut c, rng, look.noise, 6.0, 15.0);
        }
        Kind::CtPelvis => {
            ct_pelvis(&mut c, &xf, rng);
            ct_finish(&mut c, rng, look.noise, 8.0, 18.0);
        }
        Kind::MrBrainT1 | Kind::MrBrainT2 => {
            mr_brain(&mut c, &xf, look.z, kind == Kind::MrBrainT2, rng);
            mr_finish(&mut c, rng, look.noise * 18.0);
        }
        Kind::MrKnee => {
            mr_knee(&mut c, &xf, m, rng);
            mr_finish(&mut c, rng, look.noise * 20.0);
        }
        Kind::MrLspine => {
            mr_lspine(&mut c, &xf, rng);
            mr_finish(&mut c, rng, look.noise * 20.0);
        }
        Kind::XrChestPa => {
            xr_chest(&mut c, &xf, m, rng);
            xr_finish(&mut c, rng, look.noise);
        }
        Kind::XrHand => {
            xr_hand(&mut c, &xf, m, rng);
            xr_finish(&mut c, rng, look.noise);
        }
        Kind::XrKnee => {
            xr_knee(&mut c, &xf, m, rng);
            xr_finish(&mut c, rng, look.noise);
        }
        Kind::XrPelvis => {
            xr_pelvis(&mut c, &xf, rng);
            xr_finish(&mut c, rng, look.noise);
        }
        Kind::UsAbdomen => {
            // The probe drifts a little between cine frames.
            xf = Xf::new(
                w,
                h,
                look.scale,
                look.rot * 0.3,
                look.dx * 0.5 + 0.03 * frame as f32,
                look.dy * 0.3,
            );
            return us_abdomen(w, h, &xf, m, l.rgb, rng);
        }
        Kind::MgBreast => mg_breast(&mut c, &xf, m, rng),
        Kind::NmWholeBody => nm_whole_body(
            &mut c,
            &xf,
            if frame == 1 { -m } else { m },
            frame == 1,
            look.gain,
            rng,
        ),
        Kind::XaCoronary => {
            let beat = 0.02 * (2.0 * PI * t).sin();
            xf = Xf::new(w, h, look.scale, look.rot, look.dx + beat, look.dy);
            xa_coronary(&mut c, &xf, t, l.frames > 1, look.shape, rng);
        }
    }
    [c, empty(), empty()]
}

// ---------------------------------------------------------------- CT (HU)

fn ct_finish(c: &mut Canvas, rng: &mut Rng, noise: f32, lo: f32, hi: f32) {
    let sigma = noise * rng.range(lo, hi);
    c.noise(rng, sigma);
    // Outside the reconstruction circle: padding below any real value (clamped to lo).
    let (w, h) = (c.w as f32, c.h as f32);
    let r = 0.5 * w.min(h);
    let r2 = r * r;
    for j in 0..c.h {
        let dy = j as f32 + 0.5 - 0.5 * h;
        for i in 0..c.w {
            let dx = i as f32 + 0.5 - 0.5 * w;
            if dx * dx + dy * dy > r2 {
                c.px[j * c.w + i] = -5000.0;
            }
        }
    }
}

fn ct_head(c: &mut Canvas, xf: &Xf, z: f32, rng: &mut Rng) {
    c.map(|_| -1000.0);
    let k = 0.8 + 0.2 * (PI * z).sin();
    c.ellipse(xf, 0.0, 0.0, 0.80 * k, 0.95 * k, 0.0, Op::Set(25.0));
    c.ellipse(
        xf,
        0.0,
        0.0,
        0.76 * k,
        0.91 * k,
        0.0,
        Op::Set(rng.range(900.0, 1500.0)),
    );
    c.ellipse(
        xf,
        0.0,
        0.0,
        0.70 * k,
        0.85 * k,
        0.0,
        Op::Set(rng.range(34.0, 40.0)),
    );
    c.ellipse(xf, 0.0, 0.03, 0.55 * k, 0.70 * k, 0.0, Op::Add(-8.0));
    if (0.2..0.8).contains(&z) {
        let vr = rng.range(0.04, 0.08);
        for s in [-1.0, 1.0] {
            c.ellipse(xf, s * 0.1, -0.05, vr, 0.22 * k, s * 12.0, Op::Set(6.0));
        }
    } else {
        c.ellipse(xf, 0.0, 0.0, 0.025, 0.08, 0.0, Op::Set(6.0));
    }
    for _ in 0..rng.int(3, 8) {
        let a = rng.range(0.0, 2.0 * PI);
        c.ellipse(
            xf,
            0.62 * k * a.cos(),
            0.77 * k * a.sin(),
            0.02,
            0.06,
            a.to_degrees(),
            Op::Set(8.0),
        );
    }
}

fn ct_body(c: &mut Canvas, xf: &Xf, rx: f32, ry: f32, rng: &mut Rng) {
    c.map(|_| -1000.0);
    let fat = rng.range(0.03, 0.09);
    c.ellipse(
        xf,
        0.0,
        0.03,
        rx,
        ry,
        0.0,
        Op::Set(rng.range(-110.0, -80.0)),
    );
    c.ellipse(
        xf,
        0.0,
        0.03,
        rx - fat,
        ry - fat,
        0.0,
        Op::Set(rng.range(38.0, 52.0)),
    );
    // Table under the patient.
    c.rect(xf, 0.0, 0.03 + ry + 0.07, 0.95, 0.025, 0.0, Op::Set(-200.0));
}

fn vertebra(c: &mut Canvas, xf: &Xf, y: f32) {
    c.ellipse(xf, 0.0, y, 0.11, 0.1, 0.0, Op::Set(900.0));
    c.ellipse(xf, 0.0, y, 0.09, 0.08, 0.0, Op::Set(250.0));
    c.ring(xf, 0.0, y + 0.15, 0.07, 0.06, 0.025, 0.0, Op::Set(800.0));
    c.ellipse(xf, 0.0, y + 0.15, 0.045, 0.035, 0.0, Op::Set(15.0));
    c.rect(xf, 0.0, y + 0.26, 0.02, 0.06, 0.0, Op::Set(700.0));
}

fn ct_chest(c: &mut Canvas, xf: &Xf, z: f32, rng: &mut Rng) {
    ct_body(c, xf, 0.92, 0.62, rng);
    let ly = 0.40 + 0.08 * (PI * z).sin();
    let lx = rng.range(0.27, 0.33);
    for s in [-1.0, 1.0] {
        c.ellipse(
            xf,
            s * 0.40,
            -0.02,
            lx,
            ly,
            -s * 8.0,
            Op::Set(rng.range(-880.0, -820.0)),
        );
    }
    c.ellipse(xf, 0.08, 0.06, 0.22, 0.2, 10.0, Op::Set(42.0));
    c.ellipse(
        xf,
        0.03,
        -0.2,
        0.07,
        0.07,
        0.0,
        Op::Set(rng.range(40.0, 260.0)),
    );
    vertebra(c, xf, 0.36);
    for _ in 0..rng.int(8, 16) {
        let s = if rng.chance(0.5) { -1.0 } else { 1.0 };
        let (a, r) = (rng.range(0.0, 2.0 * PI), rng.f32().sqrt() * 0.8);
        c.ellipse(
            xf,
            s * 0.40 + r * lx * a.cos(),
            -0.02 + r * ly * a.sin(),
            0.012,
            0.012,
            0.0,
            Op::Set(-60.0),
        );
    }
    for k in 0..12 {
        let a = PI * (0.08 + 0.84 * (k as f32 / 11.0)) + if k % 2 == 0 { 0.0 } else { PI };
        let (x, y) = (0.84 * a.cos(), 0.03 + 0.54 * a.sin());
        if y < -0.45 && x.abs() < 0.3 {
            continue;
        }
        c.ellipse(xf, x, y, 0.035, 0.022, a.to_degrees(), Op::Set(700.0));
    }
}

fn ct_abdomen(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    ct_body(c, xf, 0.92, 0.68, rng);
    let contrast = if rng.chance(0.6) {
        rng.range(80.0, 140.0)
    } else {
        0.0
    };
    c.ellipse(
        xf,
        -0.38 * m,
        -0.05,
        0.40,
        0.36,
        -20.0 * m,
        Op::Set(55.0 + contrast * 0.4),
    );
    c.ellipse(
        xf,
        0.55 * m,
        0.05,
        0.16,
        0.2,
        0.0,
        Op::Set(48.0 + contrast * 0.3),
    );
    c.ellipse(
        xf,
        0.3 * m,
        -0.28,
        0.2,
        0.13,
        0.0,
        Op::Set(if rng.chance(0.5) { -900.0 } else { 15.0 }),
    );
    for s in [-1.0, 1.0] {
        c.ellipse(
            xf,
            s * 0.32,
            0.25,
            0.1,
            0.16,
            s * 20.0,
            Op::Set(35.0 + contrast),
        );
        c.ellipse(xf, s * 0.15, 0.35, 0.07, 0.09, 0.0, Op::Set(50.0));
    }
    c.ellipse(
        xf,
        0.06,
        0.2,
        0.055,
        0.055,
        0.0,
        Op::Set(40.0 + contrast * 1.4),
    );
    vertebra(c, xf, 0.38);
    for _ in 0..rng.int(3, 9) {
        let (x, y) = (rng.range(-0.5, 0.5), rng.range(-0.5, 0.05));
        c.ellipse(
            xf,
            x,
            y,
            rng.range(0.02, 0.06),
            rng.range(0.02, 0.05),
            0.0,
            Op::Set(-950.0),
        );
    }
}

fn ct_pelvis(c: &mut Canvas, xf: &Xf, rng: &mut Rng) {
    ct_body(c, xf, 0.95, 0.62, rng);
    for s in [-1.0, 1.0] {
        c.ellipse(xf, s * 0.45, 0.38, 0.28, 0.14, 0.0, Op::Set(55.0));
    }
    c.ellipse(
        xf,
        0.0,
        -0.18,
        0.22,
        0.16,
        0.0,
        Op::Set(rng.range(0.0, 15.0)),
    );
    c.ellipse(
        xf,
        0.0,
        0.2,
        0.06,
        0.05,
        0.0,
        Op::Set(if rng.chance(0.5) { -800.0 } else { 30.0 }),
    );
    for s in [-1.0, 1.0] {
        c.ring(xf, s * 0.5, 0.05, 0.2, 0.2, 0.035, 0.0, Op::Set(800.0));
        c.ellipse(xf, s * 0.5, 0.05, 0.15, 0.15, 0.0, Op::Set(700.0));
        c.ellipse(
            xf,
            s * 0.5,
            0.05,
            0.12,
            0.12,
            0.0,
            Op::Set(rng.range(200.0, 300.0)),
        );
    }
    c.ellipse(xf, 0.0, 0.4, 0.16, 0.09, 0.0, Op::Set(650.0));
    c.ellipse(xf, 0.0, 0.4, 0.13, 0.06, 0.0, Op::Set(250.0));
}

// ---------------------------------------------------------------- MR (signal units)

fn mr_finish(c: &mut Canvas, rng: &mut Rng, sigma: f32) {
    // Magnitude images: noise on the real channel, then |.| gives a Rician floor.
    c.noise(rng, sigma);
    c.map(f32::abs);
}

fn mr_brain(c: &mut Canvas, xf: &Xf, z: f32, t2: bool, rng: &mut Rng) {
    let (fat, csf, gm, wm) = if t2 {
        (550.0, 1300.0, 720.0, 500.0)
    } else {
        (850.0, 120.0, 450.0, 650.0)
    };
    let j = rng.range(0.92, 1.08);
    let k = 0.8 + 0.2 * (PI * z).sin();
    c.ellipse(xf, 0.0, 0.0, 0.80 * k, 0.95 * k, 0.0, Op::Set(fat * j));
    c.ellipse(xf, 0.0, 0.0, 0.77 * k, 0.92 * k, 0.0, Op::Set(40.0));
    c.ellipse(xf, 0.0, 0.0, 0.72 * k, 0.87 * k, 0.0, Op::Set(csf * j));
    c.ellipse(xf, 0.0, 0.0, 0.69 * k, 0.84 * k, 0.0, Op::Set(gm * j));
    c.ellipse(xf, 0.0, 0.03, 0.54 * k, 0.68 * k, 0.0, Op::Set(wm * j));
    if (0.2..0.8).contains(&z) {
        let vr = rng.range(0.04, 0.08);
        for s in [-1.0, 1.0] {
            c.ellipse(xf, s * 0.1, -0.05, vr, 0.22 * k, s * 12.0, Op::Set(csf * j));
            // Deep grey nuclei.
            c.ellipse(xf, s * 0.22, 0.12, 0.07, 0.1, 0.0, Op::Set(gm * j));
        }
    }
    for _ in 0..rng.int(4, 10) {
        let a = rng.range(0.0, 2.0 * PI);
        c.ellipse(
            xf,
            0.63 * k * a.cos(),
            0.78 * k * a.sin(),
            0.015,
            0.06,
            a.to_degrees(),
            Op::Set(csf * j),
        );
    }
}

fn mr_knee(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    let marrow = rng.range(650.0, 800.0);
    let (cortex, fluid) = (50.0, rng.range(500.0, 1000.0));
    c.ellipse(xf, 0.0, 0.0, 0.68, 1.15, 0.0, Op::Set(800.0));
    c.ellipse(xf, 0.0, 0.0, 0.6, 1.08, 0.0, Op::Set(330.0));
    let bone = |c: &mut Canvas, f: &dyn Fn(&mut Canvas, f32, Op)| {
        f(c, 0.0, Op::Set(cortex));
        f(c, -0.03, Op::Set(marrow));
    };
    bone(c, &|c, d, op| {
        c.capsule(xf, 0.05 * m, -1.2, 0.05 * m, -0.25, 0.16 + d, op)
    });
    bone(c, &|c, d, op| {
        c.ellipse(xf, 0.05 * m, -0.12, 0.3 + d, 0.24 + d, 0.0, op)
    });
    c.rect(xf, 0.05 * m, 0.14, 0.3, 0.015, 0.0, Op::Set(fluid));
    bone(c, &|c, d, op| {
        c.rect(xf, 0.05 * m, 0.3, 0.3 + d, 0.12 + d, 0.0, op)
    });
    bone(c, &|c, d, op| {
        c.capsule(xf, 0.05 * m, 0.4, 0.05 * m, 1.2, 0.14 + d, op)
    });
    bone(c, &|c, d, op| {
        c.ellipse(xf, -0.38 * m, -0.2, 0.08 + d, 0.17 + d, 0.0, op)
    });
    c.capsule(xf, 0.1 * m, -0.05, 0.0, 0.2, 0.025, Op::Set(30.0));
}

fn mr_lspine(c: &mut Canvas, xf: &Xf, rng: &mut Rng) {
    c.rect(xf, 0.0, 0.0, 0.85, 1.4, 0.0, Op::Set(300.0));
    c.rect(xf, 0.75, 0.0, 0.12, 1.4, 0.0, Op::Set(700.0));
    c.ellipse(xf, -0.75, 0.0, 0.3, 1.3, 0.0, Op::Set(420.0));
    let csf = rng.range(1100.0, 1400.0);
    c.capsule(xf, 0.16, -1.4, 0.12, 1.4, 0.075, Op::Set(csf));
    c.capsule(xf, 0.16, -1.4, 0.14, -0.2, 0.028, Op::Set(420.0));
    for k in 0..6 {
        let y = -1.0 + k as f32 * 0.38;
        let x = -0.15 - 0.08 * (1.0 - (y / 1.1).powi(2));
        let tilt = 8.0 * y;
        c.rect(xf, x, y, 0.22, 0.15, tilt, Op::Set(120.0));
        c.rect(xf, x, y, 0.2, 0.13, tilt, Op::Set(rng.range(400.0, 520.0)));
        c.rect(xf, 0.44, y, 0.12, 0.05, 0.0, Op::Set(350.0));
        if k < 5 {
            let disc = if rng.chance(0.2) { 300.0 } else { 820.0 };
            c.ellipse(xf, x, y + 0.19, 0.18, 0.035, tilt, Op::Set(disc));
        }
    }
}

// ---------------------------------------------------------------- radiographs (0..1)

fn xr_finish(c: &mut Canvas, rng: &mut Rng, noise: f32) {
    c.noise(rng, 0.012 * noise);
    // Collimation: the unexposed border is bright.
    if rng.chance(0.5) {
        let (w, h) = (c.w, c.h);
        let (x0, x1) = (
            (rng.range(0.0, 0.1) * w as f32) as usize,
            w - (rng.range(0.0, 0.1) * w as f32) as usize,
        );
        let (y0, y1) = (
            (rng.range(0.0, 0.08) * h as f32) as usize,
            h - (rng.range(0.0, 0.08) * h as f32) as usize,
        );
        for j in 0..h {
            for i in 0..w {
                if i < x0 || i >= x1 || j < y0 || j >= y1 {
                    c.px[j * w + i] = 0.93;
                }
            }
        }
    }
    // Side marker in a corner.
    let (mw, mh) = ((c.w / 24).max(2), (c.h / 20).max(2));
    let (mx, my) = (c.w / 12, c.h / 14);
    for j in my..my + mh {
        for i in mx..mx + mw {
            c.px[j * c.w + i] = 1.0;
        }
    }
    c.map(|v| v.clamp(0.0, 1.0));
}

fn xr_chest(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    c.map(|_| 0.08);
    c.ellipse(xf, 0.0, 0.2, 0.98, 1.3, 0.0, Op::Set(0.55));
    let lw = rng.range(0.3, 0.36);
    for s in [-1.0, 1.0] {
        c.ellipse(
            xf,
            s * 0.42,
            -0.05,
            lw,
            0.72,
            -s * 4.0,
            Op::Set(rng.range(0.18, 0.26)),
        );
    }
    c.ellipse(xf, 0.12 * m, 0.3, 0.32, 0.28, -15.0 * m, Op::Add(0.28));
    c.rect(xf, 0.0, 0.0, 0.08, 1.3, 0.0, Op::Add(0.18));
    for s in [-1.0, 1.0] {
        c.capsule(xf, s * 0.1, -0.72, s * 0.62, -0.84, 0.035, Op::Add(0.2));
        for k in 0..9 {
            let pts: Vec<(f32, f32)> = (0..8)
                .map(|i| {
                    let t = i as f32 / 7.0;
                    (
                        s * (0.08 + 0.64 * t),
                        -0.72 + k as f32 * 0.15 + 0.12 * (PI * t).sin() - 0.06 * t,
                    )
                })
                .collect();
            c.path(xf, &pts, 0.022, 0.018, Op::Add(0.1));
        }
    }
}

fn xr_hand(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    c.map(|_| 0.06);
    let soft = rng.range(0.3, 0.4);
    let bone = rng.range(0.35, 0.45);
    c.ellipse(xf, 0.0, 0.38, 0.42, 0.42, 0.0, Op::Set(soft));
    c.rect(xf, 0.0, 1.05, 0.3, 0.42, 0.0, Op::Set(soft));
    let spread = rng.range(4.0, 12.0);
    let lengths = [0.72, 0.85, 0.8, 0.62];
    for (f, len) in lengths.iter().enumerate() {
        let bx = (-0.3 + 0.2 * f as f32) * m;
        let a = (spread * (f as f32 - 1.5) * m).to_radians();
        let (dx, dy) = (a.sin(), -a.cos());
        c.capsule(
            xf,
            bx,
            0.05,
            bx + dx * len,
            0.05 + dy * len,
            0.085,
            Op::Set(soft),
        );
        c.capsule(xf, bx * 0.8, 0.6, bx, 0.07, 0.04, Op::Add(bone));
        let seg = [0.4, 0.33, 0.27];
        let mut t0 = 0.08;
        for s in seg {
            let t1 = t0 + s * len - 0.04;
            c.capsule(
                xf,
                bx + dx * t0,
                0.05 + dy * t0,
                bx + dx * t1,
                0.05 + dy * t1,
                0.032,
                Op::Add(bone),
            );
            t0 = t1 + 0.05;
        }
    }
    // Thumb.
    let (tx, ty, a) = (
        0.42 * m,
        0.45,
        (-55.0 * m + rng.range(-10.0, 10.0)).to_radians(),
    );
    let (dx, dy) = (-a.sin(), -a.cos());
    c.capsule(
        xf,
        tx,
        ty,
        tx - dx * 0.55,
        ty + dy * 0.55,
        0.09,
        Op::Set(soft),
    );
    c.capsule(xf, 0.15 * m, 0.72, tx, ty, 0.042, Op::Add(bone));
    c.capsule(
        xf,
        tx - dx * 0.04,
        ty + dy * 0.04,
        tx - dx * 0.26,
        ty + dy * 0.26,
        0.035,
        Op::Add(bone),
    );
    c.capsule(
        xf,
        tx - dx * 0.31,
        ty + dy * 0.31,
        tx - dx * 0.5,
        ty + dy * 0.5,
        0.03,
        Op::Add(bone),
    );
    for k in 0..8 {
        let (x, y) = (
            (-0.18 + 0.12 * (k % 4) as f32) * m,
            0.7 + 0.12 * (k / 4) as f32,
        );
        c.ellipse(xf, x, y, 0.06, 0.05, 0.0, Op::Add(bone * 0.8));
    }
    c.capsule(xf, -0.12 * m, 0.88, -0.12 * m, 1.6, 0.075, Op::Add(bone));
    c.capsule(xf, 0.14 * m, 0.88, 0.14 * m, 1.6, 0.05, Op::Add(bone));
}

fn xr_knee(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    c.map(|_| 0.06);
    let bone = rng.range(0.38, 0.48);
    c.capsule(xf, 0.0, -1.5, 0.0, 1.5, 0.52, Op::Set(rng.range(0.3, 0.4)));
    c.capsule(xf, 0.0, -1.5, 0.0, -0.3, 0.17, Op::Add(bone));
    c.capsule(xf, 0.0, -1.5, 0.0, -0.4, 0.09, Op::Add(-0.12));
    c.ellipse(xf, 0.0, -0.18, 0.36, 0.17, 0.0, Op::Add(bone));
    c.ellipse(xf, 0.0, -0.08, 0.06, 0.06, 0.0, Op::Add(-0.2));
    c.rect(xf, 0.0, 0.15, 0.36, 0.06, 0.0, Op::Add(bone));
    c.capsule(xf, 0.0, 0.15, 0.0, 1.5, 0.16, Op::Add(bone));
    c.capsule(xf, 0.0, 0.3, 0.0, 1.5, 0.08, Op::Add(-0.12));
    c.capsule(xf, 0.3 * m, 0.25, 0.3 * m, 1.5, 0.06, Op::Add(bone * 0.9));
    c.ellipse(xf, 0.0, -0.2, 0.14, 0.17, 0.0, Op::Add(0.15));
}

fn xr_pelvis(c: &mut Canvas, xf: &Xf, rng: &mut Rng) {
    c.map(|_| 0.06);
    let bone = rng.range(0.3, 0.4);
    c.ellipse(xf, 0.0, 0.0, 1.35, 1.1, 0.0, Op::Set(rng.range(0.33, 0.42)));
    for s in [-1.0, 1.0] {
        c.ellipse(
            xf,
            s * 0.55,
            -0.35,
            0.45,
            0.4,
            s * 20.0,
            Op::Add(bone * 0.8),
        );
        c.ellipse(xf, s * 0.3, 0.45, 0.12, 0.1, 0.0, Op::Add(-0.2));
        c.ellipse(xf, s * 0.62, 0.22, 0.15, 0.15, 0.0, Op::Add(bone));
        c.capsule(xf, s * 0.62, 0.22, s * 0.8, 0.45, 0.08, Op::Add(bone));
        c.capsule(xf, s * 0.82, 0.45, s * 0.88, 1.3, 0.12, Op::Add(bone));
    }
    c.ellipse(xf, 0.0, -0.3, 0.2, 0.3, 0.0, Op::Add(bone * 0.8));
    c.ring(xf, 0.0, 0.05, 0.6, 0.45, 0.07, 0.0, Op::Add(bone));
    c.rect(xf, 0.0, -0.85, 0.15, 0.1, 0.0, Op::Add(bone));
}

// ---------------------------------------------------------------- US (0..1)

fn us_abdomen(w: usize, h: usize, xf: &Xf, m: f32, rgb: bool, rng: &mut Rng) -> [Canvas; 3] {
    // Echogenicity map.
    let mut t = Canvas::new(w, h, 0.35);
    t.ellipse(xf, -0.3 * m, 0.2, 0.9, 0.6, 10.0, Op::Set(0.45));
    t.ellipse(xf, 0.25 * m, 0.3, 0.18, 0.1, 0.0, Op::Set(0.02));
    t.ellipse(xf, 0.4 * m, 0.7, 0.3, 0.16, -10.0, Op::Set(0.3));
    t.ellipse(xf, 0.4 * m, 0.7, 0.14, 0.06, -10.0, Op::Set(0.75));
    t.capsule(xf, -0.8 * m, 0.5, 0.6 * m, 0.6, 0.04, Op::Set(0.03));
    t.ring(xf, 0.0, 1.6, 1.3, 0.9, 0.03, 0.0, Op::Set(0.95));
    // Fully developed speckle: exponential intensity, lightly correlated.
    let mut s = Canvas::new(w, h, 0.0);
    for p in &mut s.px {
        *p = -(1.0 - rng.f32()).max(1e-6).ln();
    }
    s.blur();
    let (ax, ay) = xf.pt(0.0, -1.1);
    let half = rng.range(35.0, 45.0).to_radians();
    let (r0, r1) = (xf.len(0.15), xf.len(2.1));
    let gain = rng.range(0.8, 1.1);
    let mut c = Canvas::new(w, h, 0.0);
    for j in 0..h {
        for i in 0..w {
            let (dx, dy) = (i as f32 + 0.5 - ax, j as f32 + 0.5 - ay);
            let r = (dx * dx + dy * dy).sqrt();
            let a = dx.atan2(dy);
            if r >= r0 && r <= r1 && a.abs() <= half {
                let depth = (r - r0) / (r1 - r0);
                let tgc = 1.0 - 0.35 * depth;
                let k = j * w + i;
                c.px[k] = (t.px[k] * s.px[k] * tgc * gain).min(1.0);
            }
        }
    }
    // Depth scale dots along the right edge of the fan and a caption block.
    let step = (h / 12).max(4);
    for j in (step..h.saturating_sub(2)).step_by(step) {
        let i = w - w / 10;
        c.px[j * w + i] = 0.9;
        c.px[j * w + i + 1] = 0.9;
    }
    for j in h / 30..h / 30 + (h / 40).max(2) {
        for i in w / 30..w / 30 + w / 6 {
            c.px[j * w + i] = 0.8;
        }
    }
    if !rgb {
        return [c, Canvas::new(0, 0, 0.0), Canvas::new(0, 0, 0.0)];
    }
    let (mut r, mut g, mut b) = (c.clone(), c.clone(), c);
    // Colour Doppler in the vessel and a colour bar.
    let flow = rng.chance(0.5);
    let (hot, cold) = if flow {
        (&mut r, &mut b)
    } else {
        (&mut b, &mut r)
    };
    hot.capsule(xf, -0.5 * m, 0.52, 0.3 * m, 0.58, 0.035, Op::Set(0.8));
    cold.capsule(xf, -0.5 * m, 0.52, 0.3 * m, 0.58, 0.035, Op::Set(0.1));
    g.capsule(xf, -0.5 * m, 0.52, 0.3 * m, 0.58, 0.035, Op::Set(0.15));
    let (bx, bw) = (w - w / 20 - 3, 3.min(w / 40).max(2));
    for j in h / 6..h / 2 {
        let f = (j - h / 6) as f32 / (h / 3) as f32;
        for i in bx..bx + bw {
            r.px[j * w + i] = 1.0 - f;
            g.px[j * w + i] = 0.2;
            b.px[j * w + i] = f;
        }
    }
    [r, g, b]
}

// ---------------------------------------------------------------- MG (0..1)

fn mg_breast(c: &mut Canvas, xf: &Xf, m: f32, rng: &mut Rng) {
    let bg = 0.02;
    c.map(|_| bg);
    let (bx, rx, ry) = (m * 1.0, rng.range(0.85, 1.0), rng.range(0.95, 1.15));
    let mut mask = Canvas::new(c.w, c.h, 0.0);
    mask.ellipse(xf, bx, 0.1, rx, ry, 0.0, Op::Set(1.0));
    c.ellipse(xf, bx, 0.1, rx, ry, 0.0, Op::Set(rng.range(0.3, 0.45)));
    let density = rng.range(0.5, 1.5);
    for _ in 0..(60.0 * density) as usize {
        let (x, y) = (
            m * (1.0 - rng.range(0.05, 0.85) * rx),
            0.1 + rng.range(-0.85, 0.85) * ry,
        );
        let r = rng.range(0.03, 0.13);
        c.ellipse(
            xf,
            x,
            y,
            r,
            r * rng.range(0.4, 1.0),
            rng.range(0.0, 180.0),
            Op::Add(rng.range(0.03, 0.12)),
        );
    }
    if rng.chance(0.6) {
        // MLO view: the pectoral muscle in the upper chest-wall corner.
        c.rect(xf, m * 1.0, -1.1, 0.3, 0.9, m * 25.0, Op::Add(0.25));
    }
    c.ring(xf, bx, 0.1, rx, ry, 0.02, 0.0, Op::Add(0.08));
    for _ in 0..rng.int(0, 6) {
        let (x, y) = (
            m * (1.0 - rng.range(0.2, 0.7) * rx),
            0.1 + rng.range(-0.5, 0.5) * ry,
        );
        c.ellipse(xf, x, y, 0.008, 0.008, 0.0, Op::Set(0.95));
    }
    c.noise(rng, 0.01);
    for (p, k) in c.px.iter_mut().zip(&mask.px) {
        *p = if *k > 0.5 { p.clamp(0.0, 1.0) } else { bg };
    }
}

// ---------------------------------------------------------------- NM (counts)

fn nm_whole_body(c: &mut Canvas, xf: &Xf, m: f32, posterior: bool, gain: f32, rng: &mut Rng) {
    let soft = Op::Set(0.08);
    c.ellipse(xf, 0.0, -1.75, 0.22, 0.25, 0.0, soft);
    c.rect(xf, 0.0, -1.42, 0.1, 0.1, 0.0, soft);
    c.rect(xf, 0.0, -0.8, 0.42, 0.6, 0.0, soft);
    c.ellipse(xf, 0.0, 0.05, 0.42, 0.3, 0.0, soft);
    for s in [-1.0, 1.0] {
        c.capsule(xf, s * 0.18, 0.2, s * 0.15, 1.95, 0.12, soft);
        c.capsule(xf, s * 0.52, -1.3, s * 0.62, 0.1, 0.08, soft);
    }
    let spine = if posterior { 0.5 } else { 0.3 };
    c.ring(xf, 0.0, -1.75, 0.22, 0.25, 0.04, 0.0, Op::Add(0.25));
    c.capsule(xf, 0.0, -1.5, 0.0, 0.0, 0.05, Op::Add(spine));
    for k in 0..6 {
        let y = -1.25 + 0.15 * k as f32;
        c.capsule(xf, -0.38, y + 0.05, 0.38, y + 0.05, 0.02, Op::Add(0.1));
    }
    c.ring(xf, 0.0, 0.05, 0.38, 0.26, 0.06, 0.0, Op::Add(0.35));
    for s in [-1.0, 1.0] {
        c.capsule(xf, s * 0.2, 0.3, s * 0.16, 1.85, 0.05, Op::Add(0.3));
        c.capsule(xf, s * 0.52, -1.3, s * 0.6, -0.5, 0.04, Op::Add(0.25));
        c.ellipse(
            xf,
            s * 0.15,
            -0.35,
            0.06,
            0.1,
            0.0,
            Op::Add(if posterior { 0.4 } else { 0.2 }),
        );
    }
    c.ellipse(xf, 0.0, 0.15, 0.1, 0.08, 0.0, Op::Add(1.0));
    for _ in 0..rng.int(0, 4) {
        let (x, y) = (rng.range(-0.3, 0.3) * m, rng.range(-1.4, 0.2));
        c.ellipse(xf, x, y, 0.05, 0.05, 0.0, Op::Add(0.6));
    }
    c.blur();
    let peak = 200.0 * gain.min(1.1);
    c.map(|v| v * peak);
    c.shot_noise(rng, 1.0);
    c.map(f32::round);
}

// ---------------------------------------------------------------- XA (0..1)

fn xa_coronary(c: &mut Canvas, xf: &Xf, t: f32, cine: bool, shape: u64, rng: &mut Rng) {
    c.map(|_| 0.62);
    c.ellipse(xf, 0.3, 1.1, 1.2, 0.5, 0.0, Op::Add(-0.12));
    c.rect(xf, -0.25, 0.0, 0.18, 1.3, 0.0, Op::Add(-0.08));
    c.path(
        xf,
        &[(-1.2, 1.2), (-0.7, 0.2), (-0.4, -0.5), (-0.32, -0.62)],
        0.01,
        0.01,
        Op::Add(-0.2),
    );
    let opacity = if cine {
        0.15 + 0.85 * (PI * t).sin()
    } else {
        1.0
    };
    // The vessel tree is fixed for the instance: every frame restarts its generator.
    let mut tree = Rng::new(shape);
    let dark = 0.32 * opacity;
    let mut stack = vec![(
        (-0.32f32, -0.62f32),
        tree.range(40.0f32, 80.0).to_radians(),
        0.03f32,
        12usize,
    )];
    let mut drawn = 0;
    while let Some(((mut x, mut y), mut a, mut r, steps)) = stack.pop() {
        for k in 0..steps {
            a += tree.range(-0.35, 0.35);
            let (nx, ny) = (x + 0.12 * a.cos(), y + 0.12 * a.sin());
            c.capsule(xf, x, y, nx, ny, r, Op::Add(-dark));
            if drawn < 6 && k % 4 == 2 && r > 0.012 {
                stack.push((
                    (nx, ny),
                    a + tree.range(0.5, 1.0) * if tree.chance(0.5) { 1.0 } else { -1.0 },
                    r * 0.6,
                    steps / 2 + 1,
                ));
                drawn += 1;
            }
            (x, y) = (nx, ny);
            r = (r * 0.93).max(0.006);
        }
    }
    c.noise(rng, 0.015);
    // Round image-intensifier field.
    let (w, h) = (c.w as f32, c.h as f32);
    let r2 = (0.49 * w.min(h)).powi(2);
    for j in 0..c.h {
        for i in 0..c.w {
            let (dx, dy) = (i as f32 + 0.5 - 0.5 * w, j as f32 + 0.5 - 0.5 * h);
            let k = j * c.w + i;
            c.px[k] = if dx * dx + dy * dy > r2 {
                0.02
            } else {
                c.px[k].clamp(0.0, 1.0)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(kind: Kind, seed: u64) -> (Canvas, Layout) {
        let mut rng = Rng::new(seed);
        let look = Look {
            scale: 1.0,
            rot: 0.0,
            dx: 0.0,
            dy: 0.0,
            gain: 1.0,
            noise: 1.0,
            z: 0.5,
            mirror: false,
            shape: 9,
        };
        let l = layout(kind, &mut rng);
        let [c, _, _] = paint(kind, &l, &look, 0.5, 0, &mut rng);
        (c, l)
    }

    /// Mean over a disc of radius `r` (fraction of the shorter side) around `(fx, fy)`.
    fn disc(c: &Canvas, fx: f32, fy: f32, r: f32) -> f32 {
        let (cx, cy, rr) = (fx * c.w as f32, fy * c.h as f32, r * c.w.min(c.h) as f32);
        c.mean_where(|i, j| (i as f32 - cx).powi(2) + (j as f32 - cy).powi(2) < rr * rr)
    }

    #[test]
    fn ct_head_has_bright_skull_soft_brain_and_dark_ventricles() {
        let (c, _) = grey(Kind::CtHead, 1);
        // Skull ring between 0.70 and 0.76 of the half side, left of centre.
        let skull = disc(&c, 0.5 - 0.5 * 0.73, 0.5, 0.008);
        let brain = disc(&c, 0.5, 0.5 + 0.5 * 0.5, 0.03);
        let ventricle = disc(&c, 0.5 - 0.05, 0.5 - 0.025, 0.012);
        let air = disc(&c, 0.5 - 0.5 * 0.9, 0.5 - 0.5 * 0.9, 0.02);
        assert!(skull > 700.0, "skull {skull} HU");
        assert!((15.0..50.0).contains(&brain), "brain {brain} HU");
        assert!(
            ventricle < brain - 10.0,
            "ventricle {ventricle} vs brain {brain}"
        );
        assert!(air < -900.0, "air {air}");
    }

    #[test]
    fn ct_chest_has_dark_lungs_either_side_of_mediastinum() {
        let (c, _) = grey(Kind::CtChest, 2);
        let (left, right) = (
            disc(&c, 0.5 - 0.2, 0.49, 0.04),
            disc(&c, 0.5 + 0.2, 0.47, 0.03),
        );
        let mediastinum = disc(&c, 0.5, 0.5 - 0.05, 0.02);
        let spine = disc(&c, 0.5, 0.5 + 0.18, 0.015);
        assert!(left < -600.0 && right < -600.0, "lungs {left} {right}");
        assert!(mediastinum > 0.0, "mediastinum {mediastinum}");
        assert!(spine > 150.0, "spine {spine}");
    }

    #[test]
    fn mr_t1_and_t2_invert_csf_contrast() {
        let (t1, _) = grey(Kind::MrBrainT1, 3);
        let (t2, _) = grey(Kind::MrBrainT2, 3);
        let vent = |c: &Canvas| disc(c, 0.5 - 0.05, 0.5 - 0.025, 0.012);
        let white = |c: &Canvas| disc(c, 0.5, 0.5 - 0.25, 0.02);
        assert!(vent(&t1) < white(&t1), "T1: CSF darker than white matter");
        assert!(vent(&t2) > white(&t2), "T2: CSF brighter than white matter");
    }

    #[test]
    fn hand_shows_background_soft_tissue_and_bone_levels() {
        let (c, _) = grey(Kind::XrHand, 4);
        let n = c.px.len() as f32;
        let share =
            |lo: f32, hi: f32| c.px.iter().filter(|&&v| v >= lo && v < hi).count() as f32 / n;
        // Collimation (0.93) and the side marker (1.0) sit above the bone range.
        let (background, soft, bone) = (share(0.0, 0.15), share(0.25, 0.5), share(0.62, 0.92));
        assert!(background > 0.2, "exposed background {background}");
        assert!(soft > 0.05, "soft tissue {soft}");
        assert!(
            (0.01..0.25).contains(&bone),
            "phalanges and metacarpals {bone}"
        );
    }

    #[test]
    fn ultrasound_is_a_speckled_fan() {
        let (c, _) = grey(Kind::UsAbdomen, 5);
        let corner = disc(&c, 0.03, 0.95, 0.02);
        let inside = disc(&c, 0.5, 0.6, 0.05);
        assert!(corner < 0.01, "outside the sector is black: {corner}");
        assert!(inside > 0.1, "tissue inside the fan: {inside}");
        // Speckle: strong local variation inside the fan.
        let (cx, cy) = (c.w / 2, c.h * 6 / 10);
        let vals: Vec<f32> = (0..20).map(|k| c.px[cy * c.w + cx + k]).collect();
        let mean = vals.iter().sum::<f32>() / 20.0;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 20.0).sqrt();
        assert!(sd > 0.2 * mean, "speckle contrast {sd} / {mean}");
    }

    #[test]
    fn stored_values_respect_bit_depth() {
        for (k, spec) in super::super::classes::classes().iter().enumerate() {
            let mut rng = Rng::new(k as u64 + 100);
            let look = Look::draw(spec.kind, 0.5, &mut rng);
            let img = render(spec.kind, &look, &mut rng);
            assert_eq!(
                img.data.len(),
                img.frame_len() * img.frames as usize,
                "{}",
                spec.name
            );
            if img.bits_allocated == 16 && !img.signed {
                let max = img
                    .data
                    .chunks(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .max()
                    .unwrap();
                assert!(
                    u32::from(max) < 1 << img.bits_stored,
                    "{}: {max} over {} bits",
                    spec.name,
                    img.bits_stored
                );
            }
            let distinct = img
                .data
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len();
            assert!(distinct > 8, "{} is nearly constant", spec.name);
        }
    }
}
